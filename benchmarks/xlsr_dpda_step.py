#!/usr/bin/env python3
"""DPDA steps of the paper's full-size model: XLS-R 300M + AASIST, on a GPU.

Builds the XLS-R 300M architecture (``facebook/wav2vec2-xls-r-300m``: 1024-d,
24 layers, layer-norm feature encoder) with random weights, since no model hub
is needed or reachable, puts the AASIST back end on it, and times
``DPDABrain.fit_batch`` (PCGrad, RawBoost algo 4 on the device) in the
``split`` and ``joint`` modes at the paper's batch (5 utterances of 66,800
samples, so 10 forward samples per step), in each precision asked. Prints the
median step time and the peak GPU memory of each variant::

    python benchmarks/xlsr_dpda_step.py                      # cuda, bf16 and fp16
    python benchmarks/xlsr_dpda_step.py --tiny --device=cpu  # a CPU check of the script

Authors
 * dpda contributors 2026
"""

import argparse
import statistics
import time

import torch
from dpda_step import NO_DROPOUT, Frontend  # noqa: E402  (beside this script)
from speechbrain.dataio.batch import PaddedBatch

from dpda.augment import RawBoost
from dpda.brain import DPDABrain
from dpda.models.aasist import AASIST
from dpda.models.conformer_tcm import ConformerTCM
from dpda.models.mamba import XLSRMamba
from dpda.models.ssl import SSLClassifier, count_parameters
from dpda.models.ssl_families import TINY_SIZES, random_ssl_model


class Counter:
    """Stands in for the epoch counter the Brain logs with."""

    current = 1


def build_brain(args, mode):
    """DPDABrain with XLS-R + AASIST, PCGrad, RawBoost algo 4."""
    # The paper configurations' front end: raw waveform, no dropout or
    # LayerDrop (hparams/dpda_rawboost.yaml), random weights.
    wav2vec2 = random_ssl_model(
        "xlsr_300m",
        seed=0,
        **(TINY_SIZES if args.tiny else {}),
        **NO_DROPOUT,
    )
    hidden = wav2vec2.config.hidden_size
    backend = {"tcm": ConformerTCM, "mamba": XLSRMamba, "aasist": AASIST}[args.backend](
        input_size=hidden
    )
    model = SSLClassifier(Frontend(wav2vec2), backend)
    hparams = {
        "class_weights": [0.1, 0.9],
        "augment": RawBoost(algo=4),
        "aligner": "pcgrad",
        "aligner_kwargs": {},
        "dpda_mode": mode,
        "epoch_counter": Counter(),
        "output_folder": "/tmp",
    }
    brain = DPDABrain(
        modules={"model": model},
        opt_class=lambda params: torch.optim.Adam(params, lr=1e-6, weight_decay=1e-4),
        hparams=hparams,
        run_opts={"device": args.device, "precision": args.precision_now},
    )
    brain.init_optimizers()
    brain.modules.train()
    return brain


def make_batch(args):
    """Five utterances of 66,800 samples, random speech-like noise."""
    gen = torch.Generator().manual_seed(1)
    wavs = 0.1 * torch.randn(args.batch, args.samples, generator=gen)
    return PaddedBatch(
        [{"id": f"u{i}", "sig": wavs[i], "label_id": i % 2} for i in range(args.batch)]
    )


def time_variant(args, mode):
    """Median step time (s) and peak memory (GiB) of one variant."""
    brain = build_brain(args, mode)
    batch = make_batch(args)
    cuda = args.device.startswith("cuda")
    if cuda:
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    times = []
    for step in range(args.warmup + args.steps):
        start = time.perf_counter()
        brain.step += 1
        brain.fit_batch(batch)
        if cuda:
            torch.cuda.synchronize()
        if step >= args.warmup:
            times.append(time.perf_counter() - start)
    peak = torch.cuda.max_memory_allocated() / 2**30 if cuda else float("nan")
    params = count_parameters(brain.modules.model)
    del brain
    if cuda:
        torch.cuda.empty_cache()
    return statistics.median(times), peak, params


def main():
    """Time split and joint DPDA steps in each precision."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--device", default="cuda:0")
    parser.add_argument("--precisions", nargs="+", default=["bf16", "fp16"])
    parser.add_argument("--modes", nargs="+", default=["split", "joint"])
    parser.add_argument("--batch", type=int, default=5)
    parser.add_argument("--samples", type=int, default=66800)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument(
        "--backend", choices=["aasist", "tcm", "mamba"], default="aasist"
    )
    parser.add_argument("--tiny", action="store_true", help="tiny wav2vec2 (CPU check)")
    args = parser.parse_args()
    if args.device.startswith("cuda"):
        print(
            f"device: {torch.cuda.get_device_name(args.device)}, torch {torch.__version__}"
        )
    else:
        print(f"device: {args.device}, torch {torch.__version__}")
    print(
        f"XLS-R {'tiny' if args.tiny else '300M'} + {args.backend.upper()}, "
        "DPDA PCGrad, RawBoost 4, "
        f"batch {args.batch} x {args.samples} samples, median of {args.steps} steps"
    )
    for precision in args.precisions:
        args.precision_now = precision
        for mode in args.modes:
            step, peak, params = time_variant(args, mode)
            print(
                f"{precision:5s} {mode:6s} {step * 1000:9.1f} ms/step  "
                f"peak {peak:6.2f} GiB  ({params / 1e6:.2f} M parameters)"
            )


if __name__ == "__main__":
    main()
