"""Reading the In-the-Wild ``meta.csv`` (Mueller et al. 2022).

Columns ``file,speaker,label`` with labels exactly ``bona-fide`` / ``spoof``;
audio files ``<file>`` sit beside ``meta.csv``. Labels are mapped to the
ASVspoof spelling (``bonafide`` / ``spoof``) so that every manifest of the
project uses one vocabulary.

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
from dpda.labels import NO_ATTACK

logger = logging.getLogger(__name__)

ITW_LABELS = {"bona-fide": "bonafide", "spoof": "spoof"}
ITW_HEADER = ["file", "speaker", "label"]


def parse_itw_meta(meta_path):
    """Parse In-the-Wild ``meta.csv`` into manifest entries.

    Arguments
    ---------
    meta_path : str
        Path to ``meta.csv``.

    Returns
    -------
    dict
        ``{utt_id: {"wav", "label", "speaker", "attack"}}``, the id being the
        file name without extension, ``wav`` relative to ``{data_root}`` (the
        folder of ``meta.csv``) and ``attack`` ``"-"`` or ``"unknown"``.

    Raises
    ------
    ProtocolError
        On a wrong header, a malformed row, an unknown label or a duplicate
        file, naming the file and the line number.

    Example
    -------
    >>> import tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "meta.csv")
    >>> _ = open(path, "w").write("file,speaker,label\\n0.wav,Alec Guinness,spoof\\n")
    >>> parse_itw_meta(path)["0"]
    {'wav': '{data_root}/0.wav', 'label': 'spoof', 'speaker': 'Alec Guinness', 'attack': 'unknown'}
    """
    entries = {}
    seen = FirstSeen("file")
    with open(meta_path, encoding="utf-8", newline="") as f:
        reader = csv.reader(f)
        header = next(reader, None)
        if header is None or [h.strip() for h in header] != ITW_HEADER:
            raise ProtocolError(
                f"{meta_path}:1: expected header {','.join(ITW_HEADER)!r}, got {header!r}"
            )
        for row in reader:
            lineno = reader.line_num
            if not row or all(not c.strip() for c in row):
                continue
            where = f"{meta_path}:{lineno}"
            if len(row) != 3:
                raise ProtocolError(
                    f"{where}: expected 3 columns file,speaker,label, got {row!r}"
                )
            file_name, speaker, label = (c.strip() for c in row)
            if label not in ITW_LABELS:
                raise ProtocolError(
                    f"{where}: unknown label {label!r} (expected one of {list(ITW_LABELS)})"
                )
            utt_id = os.path.splitext(file_name)[0]
            seen.add(utt_id, where, f"line {lineno}")
            label = ITW_LABELS[label]
            entries[utt_id] = {
                "wav": f"{{data_root}}/{file_name}",
                "label": label,
                "speaker": speaker,
                "attack": NO_ATTACK if label == "bonafide" else "unknown",
            }
    if not entries:
        raise ProtocolError(f"{meta_path}: no rows found")
    return entries


def prepare_in_the_wild(data_folder, save_folder, name="in_the_wild", skip_prep=False):
    """Write the JSON manifest of In-the-Wild.

    Arguments
    ---------
    data_folder : str
        The ``release_in_the_wild`` folder holding ``meta.csv`` and the wavs.
    save_folder : str
        Where the manifest goes, beside its options stamp.
    name : str
        Base name of the manifest.
    skip_prep : bool
        Do nothing (the manifest is managed by the user).

    Returns
    -------
    str
        The manifest path.
    """
    output = os.path.join(save_folder, f"{name}.json")
    if skip_prep:
        return output
    stamp = f"{name}.options.json"
    options = {"data_folder": os.path.abspath(data_folder)}
    if already_prepared(save_folder, [output], options, stamp):
        logger.info("In-the-Wild manifest already prepared: %s", output)
        return output
    meta = os.path.join(data_folder, "meta.csv")
    if not os.path.isfile(meta):
        raise FileNotFoundError(
            f"In-the-Wild meta.csv not found: {meta} (is data_folder the "
            "release_in_the_wild folder?)"
        )
    entries = parse_itw_meta(meta)
    check_audio_exists(entries, data_folder, meta)
    write_manifest(entries, output, "In-the-Wild")
    mark_prepared(save_folder, options, stamp)
    return output
