"""Throughput of the raw-waveform AASIST detectors on the CPU, against the reference code.

Side by side, in one run, on one batch of ``--batch`` clips of 64,600
samples (the first files of ``tests/data/real_speech``, cropped or tiled):

(a) ``reference``: ``Model`` of clovaai/aasist's ``models/AASIST.py``
    (commit a04c9863f63d44471dde8a6abcb3b082b07cd1d1, MIT), imported from the
    checkout given with ``--reference`` (never copied into this project), with
    the released weights, eval mode, ``torch.no_grad``;
(b) ``dpda plain``: :class:`dpda.models.raw_aasist.RawAASIST` with the same
    weights through its training-path layers (``fast_inference=False``),
    eval mode, ``torch.no_grad``;
(c) ``dpda default``: the same model as every detector runs it (eval mode,
    gradients off: :meth:`RawAASIST.encode_fast`), no flag;
(d) ``dpda bf16`` (opt-in, ``--precision bf16``): (c) under
    ``torch.autocast("cpu", bfloat16)``, only where the CPU has native
    bfloat16 (:func:`dpda.precision.native_bf16`); else skipped;
(e) ``dpda int8`` (opt-in, ``--precision int8``): (c) with its Linear layers
    dynamic int8 (:func:`dpda.precision.quantize_linear_int8`).

Each variant makes one untimed pass (warm-up), then the variants are timed
in turn, ``--repeats`` rounds, so that a busy machine slows them alike; the
median wall time gives clips per second, with its ratio to (a); the
process's CPU time (all threads, user and system) per clip comes beside it,
less sensitive to other processes on a shared machine. The scores
(bona fide logits) of every variant are compared with (b)'s on all the
real-speech files (16), in batches of ``--batch``: the largest absolute
deviation is printed, and the run fails when (c) deviates by more than
``--tolerance``.

Usage::

    git -C <aasist git dir> archive a04c9863f63d44471dde8a6abcb3b082b07cd1d1 \\
        | tar -x -C /tmp/aasist
    python benchmarks/detector_speed.py --reference /tmp/aasist
        [--config AASIST-L] [--threads 2] [--batch 8] [--repeats 5]

Authors
 * dpda contributors 2026
"""

import argparse
import glob
import importlib.util
import json
import os
import statistics
import sys
import time

import soundfile
import torch
from machine import cpu_model  # benchmarks/machine.py, beside this script

from dpda.data.pipelines import crop_or_tile
from dpda.models.raw_aasist import AASIST_CONFIG, AASIST_L_CONFIG, RawAASIST
from dpda.precision import native_bf16, quantize_linear_int8

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PRETRAINED = os.path.join(os.path.dirname(ROOT), "shared", "data", "pretrained")
REAL_SPEECH = os.path.join(ROOT, "tests", "data", "real_speech")
CONFIGS = {"AASIST": AASIST_CONFIG, "AASIST-L": AASIST_L_CONFIG}
NUM_SAMPLES = 64600


def reference_model(checkout, config_name, state):
    """clovaai's ``Model`` imported from ``checkout``, with ``state`` loaded."""
    path = os.path.join(checkout, "models", "AASIST.py")
    spec = importlib.util.spec_from_file_location("reference_aasist", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    with open(os.path.join(checkout, "config", f"{config_name}.conf")) as f:
        config = json.load(f)["model_config"]
    model = module.Model(config)
    model.load_state_dict(state)
    return model.eval()


def real_speech(folder, num_samples=NUM_SAMPLES):
    """The real-speech files, cropped or tiled: ``(names, [N, num_samples])``."""
    paths = sorted(glob.glob(os.path.join(folder, "*.flac")))
    if not paths:
        raise SystemExit(f"no .flac files in {folder}")
    wavs = [
        crop_or_tile(
            torch.from_numpy(soundfile.read(p, dtype="float32")[0]), num_samples
        )
        for p in paths
    ]
    return [os.path.basename(p) for p in paths], torch.stack(wavs)


def variants(reference, ours, bf16):
    """Name -> function from a batch to bona fide scores ``[B]``."""

    def plain(x):
        ours.fast_inference = False
        try:
            return ours(x)[:, 1]
        finally:
            ours.fast_inference = True

    def bfloat16(x):
        with torch.autocast("cpu", dtype=torch.bfloat16):
            return ours(x)[:, 1].float()

    int8 = quantize_linear_int8(ours)
    out = {
        "reference": lambda x: reference(x)[1][:, 1],
        "dpda plain": plain,
        "dpda default": lambda x: ours(x)[:, 1],
    }
    if bf16:
        out["dpda bf16 (opt-in)"] = bfloat16
    out["dpda int8 (opt-in)"] = lambda x: int8(x)[:, 1]
    return out


def time_interleaved(functions, batch, repeats):
    """Wall and process CPU times ``{name: [(wall s, cpu s), ...]}``, the
    variants in turn each round."""
    for fn in functions.values():  # warm-up
        fn(batch)
    times = {name: [] for name in functions}
    for _ in range(repeats):
        for name, fn in functions.items():
            wall, cpu = time.perf_counter(), time.process_time()
            fn(batch)
            times[name].append((time.perf_counter() - wall, time.process_time() - cpu))
    return times


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--reference", required=True, help="clovaai/aasist checkout")
    parser.add_argument("--config", default="AASIST-L", choices=list(CONFIGS))
    parser.add_argument("--weights", help="default: the released checkpoint")
    parser.add_argument("--real-speech", default=REAL_SPEECH)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--tolerance", type=float, default=1e-4)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    weights = args.weights or os.path.join(
        PRETRAINED, f"aasist_clovaai_{args.config}.pth"
    )
    state = torch.load(weights, map_location="cpu", weights_only=True)
    reference = reference_model(args.reference, args.config, state)
    ours = RawAASIST(**CONFIGS[args.config])
    ours.load_state_dict(state)
    ours.eval()
    bf16 = native_bf16()
    names, wavs = real_speech(args.real_speech)
    batch = wavs[: args.batch]
    if len(batch) < args.batch:  # more clips than files: repeat them
        batch = wavs.repeat(-(-args.batch // len(wavs)), 1)[: args.batch]
    functions = variants(reference, ours, bf16)

    print(
        f"{cpu_model()}, {args.threads} torch threads, torch {torch.__version__}, "
        f"{args.config}, batch {args.batch} x {NUM_SAMPLES} samples, "
        f"{args.repeats} interleaved rounds, load average before "
        f"{os.getloadavg()[0]:.2f}"
    )
    if not bf16:
        print("bf16 autocast: skipped, this CPU has no native bfloat16 (oneDNN)")
    with torch.no_grad():
        scores = {
            name: torch.cat(
                [fn(wavs[i : i + args.batch]) for i in range(0, len(wavs), args.batch)]
            )
            for name, fn in functions.items()
        }
        times = time_interleaved(functions, batch, args.repeats)

    base = statistics.median(w for w, _ in times["reference"])
    base_cpu = statistics.median(c for _, c in times["reference"])
    print(
        f"| variant | clips/s (median wall) | x reference | clips/s (best) | "
        f"CPU s per clip | x reference (CPU) | "
        f"max |score - dpda plain| on {len(names)} real-speech files |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|")
    for name, runs in times.items():
        median = statistics.median(w for w, _ in runs)
        cpu = statistics.median(c for _, c in runs)
        deviation = (scores[name] - scores["dpda plain"]).abs().max().item()
        print(
            f"| {name} | {args.batch / median:.2f} | x{base / median:.2f} | "
            f"{args.batch / min(w for w, _ in runs):.2f} | {cpu / args.batch:.3f} | "
            f"x{base_cpu / cpu:.2f} | {deviation:.1e} |"
        )
    print(f"load average after {os.getloadavg()[0]:.2f}")
    deviation = (scores["dpda default"] - scores["dpda plain"]).abs().max().item()
    if deviation > args.tolerance:
        print(f"FAIL: the default path deviates by {deviation:.1e} > {args.tolerance}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
