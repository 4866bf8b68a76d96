"""The real-world set of ``tests/data/real_world/`` as a training corpus.

The set (``tools/make_real_world_set.py``; sources and licences in its
``SOURCES.md``) holds real recordings and speech from old synthesisers, each
clip with its real source or synthetic family, its codec and its split.
Whole sources and families sit on one side of the split: the
``calibration`` part (LJ Speech, FSDD, Speech Commands; espeak-ng, festival
diphone voices, Griffin-Lim) and the ``heldout`` part (LibriSpeech, VCTK,
JFK; flite, HTS, WORLD). As a corpus of ``train.py`` (``corpus:
real_world``) the calibration part is the training set and also the dev set
(it is too small to split again: the dev loss then tracks the training
clips, and the calibration fitted on dev is fitted on the training clips),
and the held-out part is the evaluation set ``real_world_eval``, broken down
by synthetic family (``attack``), real source (``source``) and codec.

Authors
 * dpda contributors 2026
"""

import csv
import logging
import os

from dpda.data.listing import FirstSeen, ProtocolError
from dpda.data.manifest import (
    already_prepared,
    check_audio_exists,
    mark_prepared,
    write_manifest,
)
from dpda.labels import LABELS, NO_ATTACK

logger = logging.getLogger(__name__)

REAL_WORLD_HEADER = [
    "file",
    "label",
    "group",
    "system",
    "codec",
    "split",
    "origin",
    "text",
]
#: The ``split`` column's values and the manifests they become.
REAL_WORLD_SPLITS = {"calibration": "train", "heldout": "eval"}
#: The set's folder in the repository.
REAL_WORLD_FOLDER = os.path.join("tests", "data", "real_world")


def parse_real_world_manifest(path):
    """Parse the real-world set's ``manifest.csv`` into manifest entries.

    Arguments
    ---------
    path : str
        Path to ``manifest.csv`` (columns of :data:`REAL_WORLD_HEADER`).

    Returns
    -------
    dict
        ``{split: {utt_id: entry}}`` for the splits ``calibration`` and
        ``heldout``; each entry ``{"wav", "label", "attack", "source",
        "system", "codec"}``: ``attack`` is the synthetic family (``-`` for
        bona fide), ``source`` the real source (``-`` for spoof), the id the
        file name without extension.

    Raises
    ------
    ProtocolError
        On a wrong header, an unknown label or split, an empty group or a
        duplicate file, naming the file and the line.

    Example
    -------
    >>> import tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "manifest.csv")
    >>> _ = open(path, "w").write(",".join(REAL_WORLD_HEADER) + "\\n"
    ...     "a.flac,spoof,hts,slt,none,heldout,festival,\\n"
    ...     "b.flac,bonafide,ljspeech,recording,none,calibration,LJ001-0001,\\n")
    >>> parse_real_world_manifest(path)["heldout"]["a"]["attack"]
    'hts'
    """
    splits = {name: {} for name in REAL_WORLD_SPLITS}
    seen = FirstSeen("file")
    with open(path, encoding="utf-8", newline="") as handle:
        reader = csv.reader(handle)
        header = next(reader, None)
        if header is None or [h.strip() for h in header] != REAL_WORLD_HEADER:
            raise ProtocolError(
                f"{path}:1: expected header {','.join(REAL_WORLD_HEADER)!r}, "
                f"got {header!r}"
            )
        for row in reader:
            if not row or all(not cell.strip() for cell in row):
                continue
            where = f"{path}:{reader.line_num}"
            if len(row) != len(REAL_WORLD_HEADER):
                raise ProtocolError(
                    f"{where}: expected {len(REAL_WORLD_HEADER)} columns, got {len(row)}"
                )
            fields = dict(zip(REAL_WORLD_HEADER, (cell.strip() for cell in row)))
            _check_row(where, fields)
            utt_id = os.path.splitext(fields["file"])[0]
            seen.add(utt_id, where, f"line {reader.line_num}")
            bona = fields["label"] == "bonafide"
            splits[fields["split"]][utt_id] = {
                "wav": f"{{data_root}}/{fields['file']}",
                "label": fields["label"],
                "attack": NO_ATTACK if bona else fields["group"],
                "source": fields["group"] if bona else NO_ATTACK,
                "system": fields["system"],
                "codec": fields["codec"],
            }
    for split, entries in splits.items():
        if not entries:
            raise ProtocolError(f"{path}: no clip in the {split!r} split")
    return splits


def _check_row(where, fields):
    """Raise :class:`ProtocolError` on a row's unknown label, split or group."""
    if fields["label"] not in LABELS:
        raise ProtocolError(
            f"{where}: unknown label {fields['label']!r} (expected one of {list(LABELS)})"
        )
    if fields["split"] not in REAL_WORLD_SPLITS:
        raise ProtocolError(
            f"{where}: unknown split {fields['split']!r} "
            f"(expected one of {list(REAL_WORLD_SPLITS)})"
        )
    if not fields["group"] or fields["group"] == NO_ATTACK:
        raise ProtocolError(f"{where}: no group (real source or synthetic family)")


def prepare_real_world(data_folder, save_folder, skip_prep=False):
    """Write the training, dev and evaluation manifests of the real-world set.

    Arguments
    ---------
    data_folder : str
        The set's folder (``manifest.csv`` and the FLAC files).
    save_folder : str
        Where the manifests go, beside their options stamp.
    skip_prep : bool
        Do nothing (the manifests are managed by the user).

    Returns
    -------
    dict
        Manifest paths: ``train`` and ``dev`` (both the calibration part) and
        ``eval`` (the held-out part).

    Example
    -------
    >>> import json, tempfile
    >>> root = os.path.join(os.path.dirname(__file__), "..", "..", REAL_WORLD_FOLDER)
    >>> paths = prepare_real_world(root, tempfile.mkdtemp())
    >>> sorted(paths), len(json.load(open(paths["eval"])))
    (['dev', 'eval', 'train'], 71)
    """
    outputs = {
        "train": os.path.join(save_folder, "real_world_train.json"),
        "dev": os.path.join(save_folder, "real_world_train.json"),
        "eval": os.path.join(save_folder, "real_world_eval.json"),
    }
    if skip_prep:
        return outputs
    stamp = "real_world.options.json"
    options = {"data_folder": os.path.abspath(data_folder)}
    files = sorted(set(outputs.values()))
    if already_prepared(save_folder, files, options, stamp):
        logger.info("Real-world manifests already prepared in %s", save_folder)
        return outputs
    listing = os.path.join(data_folder, "manifest.csv")
    if not os.path.isfile(listing):
        raise FileNotFoundError(
            f"Real-world manifest.csv not found: {listing} (is data_folder "
            f"the {REAL_WORLD_FOLDER} folder?)"
        )
    splits = parse_real_world_manifest(listing)
    for split, entries in splits.items():
        check_audio_exists(entries, data_folder, listing)
        name = REAL_WORLD_SPLITS[split]
        write_manifest(entries, outputs[name], f"real world, {split} part")
    mark_prepared(save_folder, options, stamp)
    return outputs
