"""Corrupted copies of corpus audio files, for the reliability soak.

Every N-th file of each split of the synthetic mini corpus
(``dpda.data.minicorpus``) is overwritten in place with one of six kinds of
bad audio, cycling through :data:`KINDS`:

* ``truncated``: the file's bytes cut to :data:`TRUNCATE_KEEP` of its size;
* ``random_bytes``: as many random bytes as the file had;
* ``empty``: a valid header without samples;
* ``nan``: NaN samples (float WAV content under the same name);
* ``stereo``: two channels (downmixed by the pipeline, so not bad);
* ``wrong_rate``: resampled to :data:`WRONG_RATE` Hz.

All but ``stereo`` (:data:`BAD_KINDS`) are bad with the recipe's defaults (no
resampling). :func:`corrupt_corpus` lists what it did in
``<corpus>/corruptions.tsv``; ``benchmarks/soak.py`` uses it before training.

Authors
 * dpda contributors 2026
"""

import glob
import io
import os

import numpy as np
import soundfile as sf

SPLITS = ("train", "dev", "eval", "itw")
KINDS = ("truncated", "random_bytes", "empty", "nan", "stereo", "wrong_rate")
# Kinds the default pipeline (mono downmix, no resampling) must skip.
BAD_KINDS = frozenset(KINDS) - {"stereo"}
WRONG_RATE = 22050
TRUNCATE_KEEP = 0.4  # of the bytes: the cut lands within the first 2 s read


def corpus_files(root):
    """The audio files of the mini corpus, sorted, per split.

    Arguments
    ---------
    root : str
        Folder given to ``generate_mini_corpus``.

    Returns
    -------
    dict
        ``{"train" | "dev" | "eval" | "itw": [path, ...]}``.
    """
    pattern = os.path.join(root, "LA", "ASVspoof2019_LA_{}", "flac", "*.flac")
    files = {s: sorted(glob.glob(pattern.format(s))) for s in ("train", "dev", "eval")}
    files["itw"] = sorted(glob.glob(os.path.join(root, "release_in_the_wild", "*.wav")))
    return files


def plan_corruptions(files, every):
    """Choose every ``every``-th file of each split and a corruption kind.

    Kinds cycle through :data:`KINDS` across the splits, in split order, so
    each split gets several kinds.

    Arguments
    ---------
    files : dict
        ``{split: [path, ...]}`` as returned by :func:`corpus_files`.
    every : int
        Corrupt files ``every - 1``, ``2 * every - 1``, ... of each split.

    Returns
    -------
    list of tuple
        ``(split, path, kind)`` rows.

    Example
    -------
    >>> plan = plan_corruptions({"train": list("abcdefg"), "itw": list("xyz")}, 3)
    >>> plan
    [('train', 'c', 'truncated'), ('train', 'f', 'random_bytes'), ('itw', 'z', 'empty')]
    """
    plan = []
    for split in SPLITS:
        for path in files.get(split, [])[every - 1 :: every]:
            plan.append((split, path, KINDS[len(plan) % len(KINDS)]))
    return plan


def utterance_id(path):
    """The manifest id of a corpus file: its name without extension.

    Example
    -------
    >>> utterance_id("/c/LA/ASVspoof2019_LA_dev/flac/LA_D_1234567.flac")
    'LA_D_1234567'
    """
    return os.path.splitext(os.path.basename(path))[0]


def _encode(samples, rate, file_format, subtype="PCM_16"):
    """The bytes of an audio file holding ``samples``, written in memory."""
    buffer = io.BytesIO()
    sf.write(buffer, samples, rate, format=file_format, subtype=subtype)
    return buffer.getvalue()


def corrupt_file(path, kind, rng):
    """Overwrite one audio file with a corrupted version of itself.

    Arguments
    ---------
    path : str
        A FLAC or WAV file, 16 kHz mono PCM.
    kind : str
        One of :data:`KINDS`.
    rng : numpy.random.Generator
        Draws the random bytes.

    Returns
    -------
    str
        What was done, for the corruption list.
    """
    with open(path, "rb") as f:
        original = f.read()
    file_format = sf.info(path).format
    samples, rate = sf.read(path, dtype="float32")
    if kind == "truncated":
        data = original[: int(len(original) * TRUNCATE_KEEP)]
        what = f"cut to {len(data)} of {len(original)} bytes"
    elif kind == "random_bytes":
        # No 0xFF byte: no MPEG frame sync, so no decoder can lock on by luck.
        data = rng.integers(0, 255, len(original), dtype=np.uint8).tobytes()
        what = f"{len(data)} random bytes"
    elif kind == "empty":
        # A FLAC without samples is a stub libsndfile cannot open; a WAV
        # opens with 0 frames. Both are bad.
        data = _encode(np.zeros(0, dtype=np.float32), rate, file_format)
        what = f"0 samples ({file_format})"
    elif kind == "nan":
        # FLAC has no float samples: write float WAV content under the same
        # name (libsndfile detects the format from the content).
        start = len(samples) // 4
        samples[start : start + 100] = np.nan
        data = _encode(samples, rate, "WAV", "FLOAT")
        what = f"100 NaN samples from {start} (float WAV content)"
    elif kind == "stereo":
        stereo = np.stack([samples, 0.5 * samples], axis=1)
        data = _encode(stereo, rate, file_format)
        what = "2 channels (downmixed by the pipeline)"
    elif kind == "wrong_rate":
        n_out = round(len(samples) * WRONG_RATE / rate)
        grid = np.arange(n_out) * (rate / WRONG_RATE)
        resampled = np.interp(grid, np.arange(len(samples)), samples)
        data = _encode(resampled.astype(np.float32), WRONG_RATE, file_format)
        what = f"resampled to {WRONG_RATE} Hz"
    else:
        raise ValueError(f"Unknown corruption kind {kind!r}; use {KINDS}")
    with open(path, "wb") as f:
        f.write(data)
    return what


def corrupt_corpus(root, every, seed):
    """Corrupt every ``every``-th file of each split; list them in a TSV.

    Arguments
    ---------
    root : str
        The mini corpus.
    every : int
        Corruption period within each split.
    seed : int
        Seeds the random bytes.

    Returns
    -------
    plan : list of tuple
        ``(split, path, kind)`` rows, as :func:`plan_corruptions`.
    sizes : dict
        Number of files per split.
    """
    files = corpus_files(root)
    plan = plan_corruptions(files, every)
    rng = np.random.default_rng(seed)
    lines = ["split\tfile\tkind\texpected\twhat\n"]
    for split, path, kind in plan:
        what = corrupt_file(path, kind, rng)
        expected = "skipped" if kind in BAD_KINDS else "kept"
        rel = os.path.relpath(path, root)
        lines.append(f"{split}\t{rel}\t{kind}\t{expected}\t{what}\n")
    with open(os.path.join(root, "corruptions.tsv"), "w", encoding="utf-8") as f:
        f.writelines(lines)
    return plan, {split: len(paths) for split, paths in files.items()}


def expected_skips(plan):
    """Ids of the corrupted files the pipeline must skip.

    Example
    -------
    >>> expected_skips([("dev", "d/A.flac", "nan"), ("dev", "d/B.flac", "stereo")])
    {'A'}
    """
    return {utterance_id(path) for _, path, kind in plan if kind in BAD_KINDS}
