"""Writing SpeechBrain JSON manifests safely, and skipping finished work.

Manifests map an utterance id to its fields; audio paths are stored relative
to the corpus root as ``{data_root}/...`` so that a manifest can be moved with
its corpus and loaded with
``DynamicItemDataset.from_json(path, replacements={"data_root": ...})``.

Authors
 * dpda contributors 2026
"""

import json
import logging
import os

from dpda.files import write_json_atomic

logger = logging.getLogger(__name__)

PREP_OPTIONS_FILE = "prepare_options.json"  # default stamp name


def already_prepared(save_folder, output_files, options, stamp=PREP_OPTIONS_FILE):
    """Tell whether a preparation with the same options already finished.

    Arguments
    ---------
    save_folder : str
        Folder of the manifests and of the options stamp.
    output_files : list of str
        Files the preparation writes.
    options : dict
        The preparation options (JSON-serialisable).
    stamp : str
        Name of the stamp file in ``save_folder`` (one per preparation).

    Returns
    -------
    bool
        True when every output exists and the stamp holds the same options.

    Example
    -------
    >>> import tempfile
    >>> folder = tempfile.mkdtemp()
    >>> already_prepared(folder, [], {"x": 1})
    False
    >>> mark_prepared(folder, {"x": 1})
    >>> already_prepared(folder, [], {"x": 1}), already_prepared(folder, [], {"x": 2})
    (True, False)
    """
    stamp = os.path.join(save_folder, stamp)
    if not os.path.isfile(stamp):
        return False
    if not all(os.path.isfile(f) for f in output_files):
        return False
    with open(stamp, encoding="utf-8") as f:
        try:
            previous = json.load(f)
        except json.JSONDecodeError:
            return False
    return previous == json.loads(json.dumps(options))


def mark_prepared(save_folder, options, stamp=PREP_OPTIONS_FILE):
    """Record the options of a finished preparation (written last).

    Arguments
    ---------
    save_folder : str
        Folder of the manifests.
    options : dict
        The preparation options.
    stamp : str
        Name of the stamp file in ``save_folder``.
    """
    write_json_atomic(options, os.path.join(save_folder, stamp))


def check_audio_exists(entries, data_root, listing, max_listed=5):
    """Raise a clear error if audio files listed in a protocol are missing.

    Arguments
    ---------
    entries : dict
        Manifest entries, each with a ``wav`` path using ``{data_root}``.
    data_root : str
        The corpus root substituted for ``{data_root}``.
    listing : str
        The protocol or metadata file the entries came from (for the message).
    max_listed : int
        How many missing files the message names.

    Example
    -------
    >>> check_audio_exists({"u1": {"wav": "{data_root}/nope.flac"}}, "/tmp", "p.txt")
    Traceback (most recent call last):
    ...
    FileNotFoundError: 1 audio file(s) listed in p.txt are missing, e.g. /tmp/nope.flac
    """
    missing = []
    for entry in entries.values():
        path = entry["wav"].format(data_root=data_root)
        if not os.path.isfile(path):
            missing.append(path)
    if missing:
        raise FileNotFoundError(
            f"{len(missing)} audio file(s) listed in {listing} are missing, e.g. "
            + ", ".join(missing[:max_listed])
        )


def write_manifest(entries, path, what):
    """Write a manifest atomically and log its class counts.

    Arguments
    ---------
    entries : dict
        ``{utt_id: {"wav", "label", ...}}``.
    path : str
        The JSON manifest.
    what : str
        The set's name, for the log line.

    Example
    -------
    >>> import tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "m.json")
    >>> write_manifest({"a": {"wav": "a.wav", "label": "spoof"}}, path, "mini")
    >>> sorted(json.load(open(path)))
    ['a']
    """
    write_json_atomic(entries, path)
    n_bona = sum(e["label"] == "bonafide" for e in entries.values())
    logger.info(
        "%s: %d trials (%d bona fide, %d spoof) -> %s",
        what,
        len(entries),
        n_bona,
        len(entries) - n_bona,
        path,
    )
