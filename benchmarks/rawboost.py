"""Throughput of the batched torch RawBoost versus a per-utterance numpy one.

The baseline below follows the reference RawBoost (Tak et al., ICASSP 2022,
as used in SSL_Anti-spoofing): one utterance at a time, notch filters designed
with ``scipy.signal.firwin`` and applied with ``scipy.signal.lfilter``, as a
data loader would run it. The torch version is ``dpda.augment.RawBoost`` on a
whole batch. Both are timed side by side in one run (warm-up, then the median
of a few repeats) on 4 s clips at 16 kHz.

With ``--positions``, the cost of the two values of the hparams key
``rawboost_position`` instead, per utterance: ``before_crop`` runs RawBoost on
one whole file at a time in a data-loader worker (one thread; files of
``--lengths`` seconds), ``after_crop`` on the cropped batch of 66,800-sample
clips on the training device (the CPU's threads here, and CUDA when present).

Usage::

    python benchmarks/rawboost.py [--batch 32] [--repeats 5] [--algos 4 5]
    python benchmarks/rawboost.py --positions [--lengths 2 4.2 8] [--batch 10]
"""

import os

# The numpy baseline is single-threaded, as in a data-loader worker. Its only
# BLAS call (a vector norm) would otherwise wake OpenBLAS threads, whose
# busy-waiting steals a core from torch right after (same process).
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import argparse  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402
from machine import cpu_model  # noqa: E402  (benchmarks/machine.py)
from scipy import signal  # noqa: E402

from dpda.augment import RawBoost  # noqa: E402

FS = 16000
NUM_SAMPLES = 4 * FS  # 4 s clips
CROP = 66800  # the DPDA authors' crop (rawboost_position comparison)


# ---------------------------------------------------------------------------
# Per-utterance numpy/scipy baseline (reference behaviour, default parameters)
# ---------------------------------------------------------------------------
def _notch_coeffs(rng, min_g=0.0, max_g=0.0, n_bands=5, fs=FS):
    """Random cascade of firwin band-stops, normalised by max |freqz|."""
    b = np.ones(1)
    for _ in range(n_bands):
        fc = rng.uniform(20, 8000)
        bw = rng.uniform(100, 1000)
        taps = int(rng.uniform(10, 100))
        taps += taps % 2 == 0
        f1 = fc - bw / 2 if fc - bw / 2 > 0 else 1e-3
        f2 = fc + bw / 2 if fc + bw / 2 < fs / 2 else fs / 2 - 1e-3
        band = signal.firwin(taps, [f1, f2], window="hamming", fs=fs)
        b = np.convolve(band, b)
    gain_db = min_g + (max_g - min_g) * rng.random()  # min_g > max_g allowed
    _, h = signal.freqz(b, 1, fs=fs)
    return 10 ** (gain_db / 20) * b / np.abs(h).max()


def _filter(x, b):
    """FIR filtering with the reference's zero-pad / lfilter / trim."""
    pad = len(b) + 1
    y = signal.lfilter(b, 1, np.pad(x, (0, pad)))
    return y[pad // 2 : len(y) - (pad - pad // 2)]


def _peak_norm(y):
    peak = np.abs(y).max()
    return y / peak if peak > 1 else y


def np_lnl(x, rng, n_f=5):
    y = np.zeros_like(x)
    for i in range(n_f):
        gains = (0.0, 0.0) if i == 0 else (-5.0, -20.0)
        y = y + _filter(x ** (i + 1), _notch_coeffs(rng, *gains))
    return _peak_norm(y - y.mean())


def np_isd(x, rng, p=10, g_sd=2):
    beta = rng.uniform(0, p)
    n = int(len(x) * beta / 100)
    pos = rng.permutation(len(x))[:n]
    factors = (2 * rng.random(n) - 1) * (2 * rng.random(n) - 1)
    y = x.copy()
    y[pos] = x[pos] + g_sd * x[pos] * factors
    return _peak_norm(y)


def np_ssi(x, rng, snr_min=10, snr_max=40):
    noise = _filter(rng.standard_normal(len(x)), _notch_coeffs(rng))
    noise = noise / np.abs(noise).max()
    snr = rng.uniform(snr_min, snr_max)
    noise = noise / np.linalg.norm(noise) * np.linalg.norm(x) / 10 ** (snr / 20)
    return x + noise


NP_SERIES = {4: (np_lnl, np_isd, np_ssi), 5: (np_lnl, np_isd)}


def numpy_rawboost(x, algo, rng):
    for step in NP_SERIES[algo]:
        x = step(x, rng)
    return x


# ---------------------------------------------------------------------------
# Timing
# ---------------------------------------------------------------------------
def _timed(fn, sync=None):
    if sync:
        sync()
    start = time.perf_counter()
    fn()
    if sync:
        sync()
    return time.perf_counter() - start


def _one_thread(fn):
    """Runs ``fn`` with torch limited to one thread (per-core comparison)."""

    def run():
        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            return fn()
        finally:
            torch.set_num_threads(threads)

    return run


def positions(args, threads):
    """Per-utterance cost of ``rawboost_position`` before_crop vs after_crop."""
    rawboost = RawBoost(algo=4)
    torch.manual_seed(0)
    runners = {}
    for seconds in args.lengths:
        wav = 0.1 * torch.randn(int(seconds * FS))
        runners[f"before_crop: one {seconds:g} s file, worker (1 thread)"] = (
            _one_thread(lambda w=wav: rawboost(w)),
            None,
            1,
        )
    batch = 0.1 * torch.randn(args.batch, CROP)
    runners[f"after_crop: batch {args.batch} x {CROP}, cpu {threads} threads"] = (
        lambda: rawboost(batch),
        None,
        args.batch,
    )
    if torch.cuda.is_available():
        x = batch.cuda()
        runners[f"after_crop: batch {args.batch} x {CROP}, cuda"] = (
            lambda: rawboost(x),
            torch.cuda.synchronize,
            args.batch,
        )
    times = {name: [] for name in runners}
    for fn, sync, _ in runners.values():  # warm-up
        _timed(fn, sync)
    for _ in range(args.repeats):
        for name, (fn, sync, _) in runners.items():
            times[name].append(_timed(fn, sync))
    for name, ts in times.items():
        n = runners[name][2]
        median, best = 1e3 * statistics.median(ts) / n, 1e3 * min(ts) / n
        print(
            f"algo 4, {name:48s} {median:7.2f} ms/utterance (min {best:6.2f})",
            flush=True,
        )


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--algos", type=int, nargs="+", default=[4, 5])
    parser.add_argument("--positions", action="store_true")
    parser.add_argument("--lengths", type=float, nargs="+", default=[2, 4.2, 8])
    args = parser.parse_args()

    threads = torch.get_num_threads()
    print(
        f"machine: {cpu_model()}, {os.cpu_count()} cores, "
        f"torch {torch.__version__} ({threads} threads by default), "
        f"numpy {np.__version__}"
    )
    if args.positions:
        positions(args, threads)
        return
    print(
        f"clips: batch {args.batch} x {NUM_SAMPLES} samples (4 s at {FS} Hz); "
        f"median (min) of {args.repeats} interleaved repeats after warm-up"
    )
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    batch = 0.3 * torch.randn(args.batch, NUM_SAMPLES).clamp(-3, 3) / 3
    batch_np = batch.double().numpy()

    for algo in args.algos:
        rawboost = RawBoost(algo=algo)
        runners = {
            "numpy/scipy per utterance": (
                lambda a=algo: [numpy_rawboost(u, a, rng) for u in batch_np],
                None,
            ),
            f"torch batched, cpu, {threads} threads": (
                lambda r=rawboost: r(batch),
                None,
            ),
            "torch batched, cpu, 1 thread": (
                _one_thread(lambda r=rawboost: r(batch)),
                None,
            ),
        }
        if torch.cuda.is_available():
            x = batch.cuda()
            runners["torch batched, cuda"] = (
                lambda r=rawboost, x=x: r(x),
                torch.cuda.synchronize,
            )
        times = {name: [] for name in runners}
        for fn, sync in runners.values():  # warm-up
            _timed(fn, sync)
            _timed(fn, sync)
        for _ in range(args.repeats):  # interleaved: same machine load for all
            for name, (fn, sync) in runners.items():
                times[name].append(_timed(fn, sync))
        baseline = times["numpy/scipy per utterance"]
        for name, ts in times.items():
            median, best = statistics.median(ts), min(ts)
            line = (
                f"algo {algo}: {name:30s} {1e3 * median:7.1f} ms/batch "
                f"(min {1e3 * best:6.1f}), {args.batch / median:6.1f} utt/s"
            )
            if ts is not baseline:
                line += (
                    f", speed-up x{statistics.median(baseline) / median:.1f} "
                    f"(min/min x{min(baseline) / best:.1f})"
                )
            print(line, flush=True)


if __name__ == "__main__":
    main()
