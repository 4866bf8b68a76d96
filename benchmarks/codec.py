"""Cost of the lossy-codec augmentation per utterance, codec by codec.

``dpda.augment.Codec`` runs in data-loader workers (CPU, one utterance at a
time): this prints, for each codec at the top of its default bitrate range,
the median time of one round trip (encode, decode, align) of a 4 s, 16 kHz
utterance, beside the time of reading that utterance from a FLAC file (what
a worker does anyway), and the real-time factor. One thread, as in a worker.

Usage::

    python benchmarks/codec.py [--repeats 7] [--seconds 4]
"""

import argparse
import io
import statistics
import time

import numpy as np
import soundfile as sf
import torch
from machine import cpu_model  # benchmarks/machine.py

from dpda.augment import CODECS, available_codecs
from dpda.augment.codec import align, decode, encode


def median_ms(fn, repeats):
    """Median wall time of ``fn()`` in ms, after one warm-up call."""
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(1000 * (time.perf_counter() - start))
    return statistics.median(times)


def main():
    """Time every codec's round trip and a FLAC read, side by side."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--seconds", type=float, default=4.0)
    args = parser.parse_args()
    torch.set_num_threads(1)
    rate = 16000
    rng = np.random.default_rng(0)
    x = (0.1 * rng.standard_normal(int(args.seconds * rate))).astype(np.float32)
    flac = io.BytesIO()
    sf.write(flac, x, rate, format="FLAC")
    flac_bytes = flac.getvalue()

    def read_flac():
        """Decode the utterance from FLAC bytes."""
        return sf.read(io.BytesIO(flac_bytes), dtype="float32")

    read_ms = median_ms(read_flac, args.repeats)
    print(
        f"machine: {cpu_model()}, 1 torch thread, {args.seconds:g} s utterance at 16 kHz"
    )
    print(
        f"{'codec':<12} {'kbit/s':>7} {'ms/utt':>8} {'x FLAC read':>12} {'x real time':>12}"
    )
    print(
        f"{'flac read':<12} {'':>7} {read_ms:8.2f} {1.0:12.1f} {read_ms / 1000 / args.seconds:12.4f}"
    )
    for name in available_codecs():
        kbps = CODECS[name][3][1]

        def round_trip(name=name, kbps=kbps):
            """Encode, decode and align one utterance."""
            return align(x, decode(encode(x, rate, name, kbps), rate), 4096)

        ms = median_ms(round_trip, args.repeats)
        print(
            f"{name:<12} {kbps:>7g} {ms:8.2f} {ms / read_ms:12.1f} "
            f"{ms / 1000 / args.seconds:12.4f}"
        )


if __name__ == "__main__":
    main()
