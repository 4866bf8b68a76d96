#!/usr/bin/env python3
"""Splice real and espeak-ng speech into one recording: the README's timeline.

Joins stretches of the real recordings and of the espeak-ng utterances of
``tests/data/real_speech/`` (sources and licences in its ``SOURCES.md``)
into one 16 kHz file, so that a timeline (``dpda-detect --windows``) has
stretches of both kinds::

    python tools/spliced_example.py docs/detect/spliced.flac
    dpda-detect docs/detect/spliced.flac --windows 4 --plots docs/detect

Authors
 * dpda contributors 2026
"""

import argparse
import os
import sys

import numpy as np
import soundfile as sf

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SPEECH = os.path.join(ROOT, "tests", "data", "real_speech")
# About 8 s of real speech, 8 s of espeak-ng, 8 s of real speech (file,
# seconds kept), so that some 4 s windows fall wholly inside each stretch.
SEGMENTS = (
    ("real_libri3436.flac", 4.0),
    ("real_libri5703.flac", 4.0),
    ("espeak_1.flac", 4.0),
    ("espeak_3.flac", 4.0),
    ("real_libri251.flac", 4.0),
    ("real_libri3536.flac", 4.0),
)


def splice(out_path, segments=SEGMENTS, gap_seconds=0.1):
    """Write the segments one after the other, with short silent gaps.

    Arguments
    ---------
    out_path : str
        The FLAC file to write.
    segments : sequence of (str, float)
        File names in ``tests/data/real_speech`` and seconds kept of each.
    gap_seconds : float
        Silence between segments.

    Returns
    -------
    list of tuple
        ``(file, start, end)`` in seconds in the output.
    """
    rate, pieces, spans, t = 16000, [], [], 0.0
    for name, seconds in segments:
        samples, file_rate = sf.read(os.path.join(SPEECH, name), dtype="float32")
        if file_rate != rate:
            raise ValueError(f"{name}: {file_rate} Hz, expected {rate}")
        samples = samples[: int(seconds * rate)]
        spans.append((name, t, t + len(samples) / rate))
        pieces += [samples, np.zeros(int(gap_seconds * rate), dtype=np.float32)]
        t += len(samples) / rate + gap_seconds
    sf.write(out_path, np.concatenate(pieces), rate)
    return spans


def main(argv=None):
    """Write the spliced example and print where each segment sits."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("out_path")
    args = parser.parse_args(argv)
    for name, start, end in splice(args.out_path):
        print(f"{start:6.2f}-{end:6.2f} s  {name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
