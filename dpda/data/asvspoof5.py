"""ASVspoof 5 (track 1): reading the protocols, writing manifests.

Layout of the final release (Zenodo record 14498691), every archive unpacked
in one folder, the ``{data_root}`` of the manifests::

    <data_folder>/flac_T/T_*.flac          from flac_T_aa.tar ... flac_T_ae.tar
    <data_folder>/flac_D/D_*.flac          from flac_D_aa.tar ... flac_D_ac.tar
    <data_folder>/flac_E_eval/E_*.flac     from flac_E_aa.tar ... flac_E_aj.tar
    <protocols_folder>/ASVspoof5.train.tsv          from ASVspoof5_protocols.tar.gz
    <protocols_folder>/ASVspoof5.dev.track_1.tsv
    <protocols_folder>/ASVspoof5.eval.track_1.tsv

Protocol line (:data:`TRACK1_COLUMNS`), space-separated despite the ``.tsv``
name, no header::

    SPEAKER_ID FLAC_FILE_NAME SPEAKER_GENDER CODEC CODEC_Q CODEC_SEED ATTACK_TAG ATTACK_LABEL KEY TMP
    D_0062 D_0000000001 F - - - AC1 A11 spoof -
    D_0461 D_0000000190 M - - - - bonafide bonafide -
    E_1607 E_0009538969 M C05 2 E_0009486171 AC1 A26 spoof -

``KEY`` is the class (``bonafide``/``spoof``); ``ATTACK_LABEL`` the attack
(``A01``-``A32``, ``bonafide`` for bona fide rows); ``ATTACK_TAG`` the attack
condition (``AC1``-``AC3``, ``-`` for bona fide rows); ``CODEC`` is ``-``
(uncoded) or ``C01``-``C11``, ``CODEC_Q`` its quality level (``1``-``8``;
``-`` in train/dev and ``0`` in eval for uncoded rows) and ``CODEC_SEED`` the
uncoded utterance a coded one was made from (``-`` for uncoded rows).
``TMP`` is an unused placeholder (``-``) and is not kept.

The challenge-phase release (``release.zip`` of phase 2) had six columns,
:data:`PHASE2_COLUMNS`, in ``ASVspoof5.{train,dev}.metadata.txt`` (e.g.
``T_4850 T_0000000000 F - A05 spoof``; ``.metainfor.txt`` in the AASIST
baseline) and no labelled eval protocol; such a file is read when the final
one is absent (train and dev only), and its manifests lack ``codec_q``,
``codec_seed`` and ``attack_tag``.

What was verified, and where
----------------------------
* asvspoof-challenge/asvspoof5, ``main`` at fe23d30 (the mirrored snapshot):
  ``Baseline-AASIST/main.py`` (``get_loader``) reads audio from
  ``<database_path>/flac_T/<ID>.flac`` and ``flac_D/`` and the protocols
  ``ASVspoof5.{train,dev}.metainfor.txt``; ``produce_evaluation_file`` splits
  each dev line into six fields ``spk_id, utt_id, _, _, src, key``.
  ``Baseline-AASIST/data_utils.py`` (``genSpoof_list``) splits lines on single
  spaces into six fields, the id second and the label last.
  ``Baseline-RawNet2/Main_RawNet2_baseline.py`` names the same files
  ``ASVspoof5.{train,dev}.metadata.txt`` and ``data_utils_RawNet2.py`` reads
  ``flac_T/``, ``flac_D/`` and ``flac_E/`` (its eval list holds ids only).
  ``evaluation-package/{README.md,util.py}`` read their own tab-separated
  score/key files with a header (``filename cm-label``; full keys with
  ``attack_anon`` and ``codec`` columns), not the protocols. The repository
  (all branches) does not describe the final ``.tsv`` protocols.
* The database's own ``README.txt`` (the organisers' Hugging Face copy,
  ``jungjee/asvspoof5``; seen through the search tool, section 1 only): the
  archive names above, that ``flac_T_*.tar``/``flac_D_*.tar`` unpack to
  ``./flac_T``/``./flac_D`` and ``flac_E_*.tar`` to ``./flac_E_eval``, and the
  protocol file names ``ASVspoof5.train.tsv``, ``ASVspoof5.dev.track_1.tsv``,
  ``ASVspoof5.eval.track_1.tsv`` in ``ASVspoof5_protocols.tar.gz``.
* Real protocol lines: the first lines of ``ASVspoof5.dev.track_1.tsv`` and
  ``ASVspoof5.eval.track_1.tsv`` (the two spoof examples above, ten
  space-separated fields) as shown by a Hugging Face dataset-viewer preview of
  ``ASVspoof5_protocols.tar``; ``ASVspoof5.codec.config.csv`` starts
  ``ID,CODEC,CODEC_Q,Bitrate(kbps)`` / ``C1,opus_wb,1,6``.
* Not seen in an official source, taken from public code quoting the
  release: the ten column names (quoted from the README's protocol section,
  which the search excerpt did not reach), the bona fide line above, and the
  value ranges of ``CODEC``/``CODEC_Q`` (counted on the real files by a
  third party: uncoded ``CODEC_Q`` is ``-`` in train/dev, ``0`` in eval).
* The six-column phase-2 format: the "Data format" section of the ASVspoof 5
  adaptation of the SASV2 baseline (``asvspoof5`` branch of
  sasv-challenge/SASV2_Baseline, linked from asvspoof5's ``README.md``):
  ``speaker utterance gender codec attack spoofing``, agreeing with the six
  fields the baselines split.

The recipe's ``asvspoof5_prepare.py`` runs :func:`prepare_asvspoof5` from the
command line.

Authors
 * dpda contributors 2026
"""

import logging
import os
import re

from dpda.data.listing import FirstSeen, ProtocolError, check_label, numbered_fields
from dpda.data.manifest import (
    already_prepared,
    check_audio_exists,
    mark_prepared,
    write_manifest,
)
from dpda.labels import BONAFIDE_PLACEHOLDERS

logger = logging.getLogger(__name__)

# Final release (track 1), ten fields.
TRACK1_COLUMNS = (
    "SPEAKER_ID",
    "FLAC_FILE_NAME",
    "SPEAKER_GENDER",
    "CODEC",
    "CODEC_Q",
    "CODEC_SEED",
    "ATTACK_TAG",
    "ATTACK_LABEL",
    "KEY",
    "TMP",
)
# Challenge phase 2 (``ASVspoof5.{train,dev}.metadata.txt``), six fields.
PHASE2_COLUMNS = (
    "SPEAKER_ID",
    "FLAC_FILE_NAME",
    "SPEAKER_GENDER",
    "CODEC",
    "ATTACK_LABEL",
    "KEY",
)
# Protocol column -> manifest key (KEY becomes ``label``; TMP is dropped).
MANIFEST_KEYS = {
    "SPEAKER_ID": "speaker",
    "ATTACK_LABEL": "attack",
    "SPEAKER_GENDER": "gender",
    "CODEC": "codec",
    "CODEC_Q": "codec_q",
    "CODEC_SEED": "codec_seed",
    "ATTACK_TAG": "attack_tag",
}
# split: (audio folder, protocol names in order of preference).
# The phase-2 files are ``metadata.txt`` in the release and the RawNet2
# baseline, ``metainfor.txt`` in the AASIST baseline's code.
SPLITS = {
    "train": (
        "flac_T",
        (
            "ASVspoof5.train.tsv",
            "ASVspoof5.train.metadata.txt",
            "ASVspoof5.train.metainfor.txt",
        ),
    ),
    "dev": (
        "flac_D",
        (
            "ASVspoof5.dev.track_1.tsv",
            "ASVspoof5.dev.metadata.txt",
            "ASVspoof5.dev.metainfor.txt",
        ),
    ),
    "eval": ("flac_E_eval", ("ASVspoof5.eval.track_1.tsv",)),
}
UNCODED = "-"
UNCODED_QUALITIES = ("-", "0")  # train/dev, eval
CODEC_PATTERN = re.compile(r"C\d+")
STAMP = "asvspoof5.options.json"


def protocol_columns(protocol_path):
    """The columns of an ASVspoof 5 protocol, from its file name.

    Arguments
    ---------
    protocol_path : str
        A ``.tsv`` protocol of the final release, or a challenge-phase
        ``.txt`` (``ASVspoof5.<split>.metadata.txt``).

    Returns
    -------
    tuple of str
        :data:`TRACK1_COLUMNS` or :data:`PHASE2_COLUMNS`.

    Example
    -------
    >>> len(protocol_columns("ASVspoof5.dev.track_1.tsv"))
    10
    >>> protocol_columns("ASVspoof5.dev.metadata.txt")[-2:]
    ('ATTACK_LABEL', 'KEY')
    """
    return TRACK1_COLUMNS if protocol_path.endswith(".tsv") else PHASE2_COLUMNS


def check_codec(where, row):
    """Check the codec fields of a protocol row.

    ``CODEC`` is ``-`` (uncoded) or ``C<n>``. An uncoded row has ``CODEC_Q``
    ``-`` or ``0`` and ``CODEC_SEED`` ``-``; a coded row a positive integer
    ``CODEC_Q``. Rows without ``CODEC_Q`` (the phase-2 format) only have
    their ``CODEC`` checked.

    Arguments
    ---------
    where : str
        ``"<path>:<lineno>"``.
    row : dict
        The row, keyed by protocol column names.

    Raises
    ------
    ProtocolError
        Naming the place and the field.

    Example
    -------
    >>> check_codec("p.tsv:1", {"CODEC": "C05", "CODEC_Q": "2", "CODEC_SEED": "E_1"})
    >>> check_codec("p.tsv:2", {"CODEC": "-", "CODEC_Q": "3", "CODEC_SEED": "-"})
    Traceback (most recent call last):
    ...
    dpda.data.listing.ProtocolError: p.tsv:2: CODEC_Q '3' on an uncoded row (CODEC '-'); expected '-' or '0'
    """
    codec = row["CODEC"]
    if codec != UNCODED and not CODEC_PATTERN.fullmatch(codec):
        raise ProtocolError(
            f"{where}: unknown CODEC {codec!r} (expected '-' or C01, C02, ...)"
        )
    if "CODEC_Q" not in row:
        return
    quality, seed = row["CODEC_Q"], row["CODEC_SEED"]
    if codec == UNCODED:
        if quality not in UNCODED_QUALITIES:
            expected = " or ".join(repr(q) for q in UNCODED_QUALITIES)
            raise ProtocolError(
                f"{where}: CODEC_Q {quality!r} on an uncoded row (CODEC '-'); "
                f"expected {expected}"
            )
        if seed != "-":
            raise ProtocolError(
                f"{where}: CODEC_SEED {seed!r} on an uncoded row (CODEC '-'); "
                "expected '-'"
            )
    elif not (quality.isdigit() and int(quality) > 0):
        raise ProtocolError(
            f"{where}: CODEC_Q {quality!r} of codec {codec!r} is not a positive integer"
        )


def parse_asvspoof5_protocol(protocol_path, audio_folder):
    """Parse one ASVspoof 5 track-1 protocol into manifest entries.

    Arguments
    ---------
    protocol_path : str
        E.g. ``ASVspoof5.dev.track_1.tsv`` (ten columns) or a phase-2
        ``ASVspoof5.dev.metadata.txt`` (six columns, see
        :func:`protocol_columns`).
    audio_folder : str
        The split's audio folder relative to the corpus root, e.g.
        ``flac_D``; audio is ``<audio_folder>/<FLAC_FILE_NAME>.flac``.

    Returns
    -------
    dict
        ``{utt_id: {"wav", "label", "speaker", "attack", "gender", "codec",
        "codec_q", "codec_seed", "attack_tag"}}`` in file order (the last
        three only from ten-column files), every value a verbatim field,
        ``wav`` relative to ``{data_root}``.

    Raises
    ------
    ProtocolError
        On a wrong number of columns, an unknown label, an attack that
        contradicts the label, bad codec fields (:func:`check_codec`) or a
        duplicate id, naming the file and the line number.

    Example
    -------
    >>> import tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "ASVspoof5.eval.track_1.tsv")
    >>> _ = open(path, "w").write(
    ...     "E_1607 E_0009538969 M C05 2 E_0009486171 AC1 A26 spoof -\\n"
    ...     "E_0002 E_0000000002 F - 0 - - bonafide bonafide -\\n")
    >>> entries = parse_asvspoof5_protocol(path, "flac_E_eval")
    >>> entries["E_0009538969"]  # doctest: +NORMALIZE_WHITESPACE
    {'wav': '{data_root}/flac_E_eval/E_0009538969.flac', 'label': 'spoof',
     'speaker': 'E_1607', 'attack': 'A26', 'gender': 'M', 'codec': 'C05',
     'codec_q': '2', 'codec_seed': 'E_0009486171', 'attack_tag': 'AC1'}
    """
    columns = protocol_columns(protocol_path)
    entries = {}
    seen = FirstSeen("utterance id")
    for lineno, where, row in numbered_fields(protocol_path, columns):
        utt_id, label = row["FLAC_FILE_NAME"], row["KEY"]
        check_label(where, label, row["ATTACK_LABEL"], BONAFIDE_PLACEHOLDERS)
        check_codec(where, row)
        seen.add(utt_id, where, f"line {lineno}")
        entry = {"wav": f"{{data_root}}/{audio_folder}/{utt_id}.flac", "label": label}
        entry.update(
            (key, row[col]) for col, key in MANIFEST_KEYS.items() if col in row
        )
        entries[utt_id] = entry
    if not entries:
        raise ProtocolError(f"{protocol_path}: no trials found")
    return entries


def find_protocol(protocols_folder, split):
    """The protocol of a split: the final release's, else the phase-2 one.

    Arguments
    ---------
    protocols_folder : str
        Folder of the unpacked ``ASVspoof5_protocols.tar.gz``.
    split : str
        ``train``, ``dev`` or ``eval``.

    Returns
    -------
    str
        The path of the first of the split's protocol names present.

    Raises
    ------
    FileNotFoundError
        Naming every file looked for.

    Example
    -------
    >>> import tempfile
    >>> folder = tempfile.mkdtemp()
    >>> open(os.path.join(folder, "ASVspoof5.dev.metadata.txt"), "w").close()
    >>> os.path.basename(find_protocol(folder, "dev"))
    'ASVspoof5.dev.metadata.txt'
    """
    candidates = [os.path.join(protocols_folder, name) for name in SPLITS[split][1]]
    for path in candidates:
        if os.path.isfile(path):
            return path
    raise FileNotFoundError(
        f"ASVspoof 5 {split} protocol not found: {' or '.join(candidates)} "
        "(unpack ASVspoof5_protocols.tar.gz there or set protocols_folder)"
    )


def prepare_asvspoof5(
    data_folder,
    save_folder,
    splits=("train", "dev", "eval"),
    protocols_folder=None,
    skip_prep=False,
    check_audio=True,
):
    """Write the JSON manifests of ASVspoof 5 track 1, one per split.

    Every split is read and checked before any manifest is written, so an
    error leaves the manifests of an earlier preparation as they were.

    Arguments
    ---------
    data_folder : str
        Folder holding ``flac_T``, ``flac_D`` and ``flac_E_eval``; it is the
        ``{data_root}`` of the manifests.
    save_folder : str
        Where the manifests go, beside their options stamp.
    splits : sequence of str
        Any of ``train``, ``dev``, ``eval``.
    protocols_folder : str, optional
        Folder holding the protocols (``ASVspoof5.train.tsv``...); defaults
        to ``data_folder``.
    skip_prep : bool
        Do nothing (the manifests are managed by the user).
    check_audio : bool
        Fail when a listed audio file is missing.

    Returns
    -------
    dict
        ``{split: "<save_folder>/asvspoof5_<split>.json"}``.

    Raises
    ------
    FileNotFoundError
        When a protocol, an audio folder or listed audio files are missing
        (their count and the first ones named).
    dpda.data.listing.ProtocolError
        On a malformed protocol line (file and line named).

    Example
    -------
    >>> import json, tempfile
    >>> import numpy as np, soundfile as sf
    >>> root = tempfile.mkdtemp()
    >>> os.makedirs(os.path.join(root, "flac_D"))
    >>> with open(os.path.join(root, "ASVspoof5.dev.track_1.tsv"), "w") as f:
    ...     _ = f.write("D_0062 D_0000000001 F - - - AC1 A11 spoof -\\n"
    ...                 "D_0461 D_0000000190 M - - - - bonafide bonafide -\\n")
    >>> for utt in ("D_0000000001", "D_0000000190"):
    ...     sf.write(os.path.join(root, "flac_D", utt + ".flac"),
    ...              np.zeros(1600, dtype=np.float32), 16000)
    >>> out = prepare_asvspoof5(root, os.path.join(root, "m"), splits=["dev"])
    >>> os.path.basename(out["dev"])
    'asvspoof5_dev.json'
    >>> json.load(open(out["dev"]))["D_0000000190"]["label"]
    'bonafide'
    """
    outputs = {
        split: os.path.join(save_folder, f"asvspoof5_{split}.json") for split in splits
    }
    if skip_prep:
        return outputs
    unknown = set(splits) - set(SPLITS)
    if unknown:
        raise ValueError(f"Unknown split(s) {sorted(unknown)}; use {list(SPLITS)}")
    if protocols_folder is None:
        protocols_folder = data_folder
    options = {
        "data_folder": os.path.abspath(data_folder),
        "protocols_folder": os.path.abspath(protocols_folder),
        "splits": list(splits),
        "check_audio": bool(check_audio),
    }
    if already_prepared(save_folder, list(outputs.values()), options, STAMP):
        logger.info("ASVspoof 5 manifests already prepared in %s", save_folder)
        return outputs
    prepared = {}
    for split in splits:
        audio_folder = SPLITS[split][0]
        protocol = find_protocol(protocols_folder, split)
        entries = parse_asvspoof5_protocol(protocol, audio_folder)
        if check_audio:
            folder = os.path.join(data_folder, audio_folder)
            if not os.path.isdir(folder):
                raise FileNotFoundError(
                    f"ASVspoof 5 {split} audio folder not found: {folder} "
                    f"(unpack the {audio_folder[:6]}_*.tar archives in data_folder)"
                )
            check_audio_exists(entries, data_folder, protocol)
        prepared[split] = entries
    # The old stamp no longer describes the manifests about to be replaced.
    stamp = os.path.join(save_folder, STAMP)
    if os.path.exists(stamp):
        os.remove(stamp)
    for split, entries in prepared.items():
        write_manifest(entries, outputs[split], f"ASVspoof 5 {split}")
    mark_prepared(save_folder, options, STAMP)
    return outputs
