#!/usr/bin/env python3
"""Opt-in precisions of an SSL detector on the CPU: fp32, bf16 and int8 side by side.

The paper's detector, XLS-R 300M + AASIST, scored the way ``dpda-detect``
scores (:class:`dpda.inference.DeepfakeDetector`, ``use_precision``), on a
batch of ``--batch`` clips of 64,600 samples from ``tests/data/real_speech``:

(a) ``fp32``: the default;
(b) ``bf16`` (opt-in): the forward pass under bfloat16 autocast, only where
    the CPU has native bfloat16 (:func:`dpda.precision.native_bf16`);
(c) ``int8`` (opt-in): every Linear layer dynamic int8
    (:func:`dpda.precision.quantize_linear_int8`): the transformer's
    projections and feed-forward layers, the AASIST back end's few.

No model hub is reachable here, so the XLS-R 300M architecture
(``facebook/wav2vec2-xls-r-300m``: 1024-d, 24 layers) and the back end have
random weights (seed 0): the timings are those of the real model, and the
score deviations (largest absolute change of the bona fide logit over the 16
real-speech files, with the spread of the fp32 logits beside it) are those
of random weights, not of a trained detector's. Rounds are interleaved, as in
``detector_speed.py``; ``--tiny`` checks the script on a tiny model::

    python benchmarks/ssl_precision.py [--threads 2] [--batch 4] [--repeats 3]

Authors
 * dpda contributors 2026
"""

import argparse
import os
import statistics
import sys

import torch
from detector_speed import NUM_SAMPLES, REAL_SPEECH, real_speech, time_interleaved
from dpda_step import NO_DROPOUT, Frontend  # beside this script
from machine import cpu_model

from dpda.inference import DeepfakeDetector
from dpda.models.aasist import AASIST
from dpda.models.ssl import SSLClassifier, count_parameters
from dpda.models.ssl_families import TINY_SIZES, random_ssl_model
from dpda.precision import native_bf16


def build_model(tiny):
    """XLS-R 300M (random weights) + AASIST, fp32."""
    wav2vec2 = random_ssl_model(
        "xlsr_300m", seed=0, **(TINY_SIZES if tiny else {}), **NO_DROPOUT
    )
    torch.manual_seed(0)
    return SSLClassifier(
        Frontend(wav2vec2), AASIST(input_size=wav2vec2.config.hidden_size)
    )


def detectors(model, precisions):
    """One detector per precision around the same float32 model (int8: its
    quantised copy, made once)."""
    hparams = {"sample_rate": 16000, "threshold": 0.0, "window_samples": NUM_SAMPLES}
    return {
        p: DeepfakeDetector(modules={"model": model}, hparams=hparams).use_precision(p)
        for p in precisions
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--real-speech", default=REAL_SPEECH)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--tiny", action="store_true", help="a tiny model (a check)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    model = build_model(args.tiny)
    precisions = ["fp32", *(["bf16"] if native_bf16() else []), "int8"]
    functions = {p: d.score_batch for p, d in detectors(model, precisions).items()}
    names, wavs = real_speech(args.real_speech)
    batch = wavs.repeat(-(-args.batch // len(wavs)), 1)[: args.batch]
    print(
        f"{cpu_model()}, {args.threads} torch threads, torch {torch.__version__}, "
        f"XLS-R 300M + AASIST ({count_parameters(model, trainable_only=False) / 1e6:.1f} M "
        f"parameters, random weights), batch {args.batch} x {NUM_SAMPLES} "
        f"samples, {args.repeats} interleaved rounds, load average before "
        f"{os.getloadavg()[0]:.2f}"
    )
    if "bf16" not in precisions:
        print("bf16: skipped, this CPU has no native bfloat16 (oneDNN)")

    scores = {p: torch.cat([fn(w[None]) for w in wavs]) for p, fn in functions.items()}
    times = time_interleaved(functions, batch, args.repeats)

    base = statistics.median(w for w, _ in times["fp32"])
    base_cpu = statistics.median(c for _, c in times["fp32"])
    spread = scores["fp32"].std().item()
    print(
        "| precision | clips/s (median wall) | x fp32 | CPU s per clip | x fp32 (CPU) "
        f"| max \\|score - fp32\\| on {len(names)} real-speech files "
        "| sd of the fp32 scores |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|")
    for name, runs in times.items():
        median = statistics.median(w for w, _ in runs)
        cpu = statistics.median(c for _, c in runs)
        deviation = (scores[name] - scores["fp32"]).abs().max().item()
        print(
            f"| {name} | {args.batch / median:.2f} | x{base / median:.2f} | "
            f"{cpu / args.batch:.3f} | x{base_cpu / cpu:.2f} | {deviation:.1e} "
            f"| {spread:.1e} |"
        )
    print(f"load average after {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
