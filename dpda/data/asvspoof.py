"""ASVspoof 2019 LA: reading the countermeasure protocols, writing manifests.

Protocol line: ``SPEAKER UTT_ID - ATTACK LABEL``, e.g.
``LA_0079 LA_T_1004644 - A01 spoof``; bona fide rows have ``-`` as ATTACK.
The recipe's ``asvspoof_prepare.py`` runs :func:`prepare_asvspoof2019_la`
from the command line.

Expected layout (the official release)::

    <data_folder>/ASVspoof2019_LA_train/flac/LA_T_*.flac
    <data_folder>/ASVspoof2019_LA_dev/flac/LA_D_*.flac
    <data_folder>/ASVspoof2019_LA_eval/flac/LA_E_*.flac
    <data_folder>/ASVspoof2019_LA_cm_protocols/ASVspoof2019.LA.cm.{train.trn,dev.trl,eval.trl}.txt

Authors
 * dpda contributors 2026
"""

import logging
import os

from dpda.data.listing import FirstSeen, ProtocolError, check_label, numbered_fields
from dpda.data.manifest import (
    already_prepared,
    check_audio_exists,
    mark_prepared,
    write_manifest,
)

logger = logging.getLogger(__name__)

LA_SPLITS = {
    "train": ("ASVspoof2019_LA_train", "ASVspoof2019.LA.cm.train.trn.txt"),
    "dev": ("ASVspoof2019_LA_dev", "ASVspoof2019.LA.cm.dev.trl.txt"),
    "eval": ("ASVspoof2019_LA_eval", "ASVspoof2019.LA.cm.eval.trl.txt"),
}
PROTOCOL_FOLDER = "ASVspoof2019_LA_cm_protocols"
PROTOCOL_COLUMNS = ("SPEAKER", "UTT_ID", "-", "ATTACK", "LABEL")
STAMP = "asvspoof2019_la.options.json"


def parse_la_protocol(protocol_path, audio_folder):
    """Parse one ASVspoof 2019 LA cm protocol into manifest entries.

    Arguments
    ---------
    protocol_path : str
        Path to e.g. ``ASVspoof2019.LA.cm.train.trn.txt``.
    audio_folder : str
        The split's folder relative to the corpus root, e.g.
        ``ASVspoof2019_LA_train``; audio is ``<audio_folder>/flac/<ID>.flac``.

    Returns
    -------
    dict
        ``{utt_id: {"wav", "label", "speaker", "attack"}}`` in file order, with
        ``wav`` relative to ``{data_root}``.

    Raises
    ------
    ProtocolError
        On a malformed line, an unknown label or a duplicate id, naming the
        file and the line number.

    Example
    -------
    >>> import os, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "p.txt")
    >>> _ = open(path, "w").write("LA_0079 LA_T_1 - - bonafide\\nLA_0079 LA_T_2 - A01 spoof\\n")
    >>> entries = parse_la_protocol(path, "ASVspoof2019_LA_train")
    >>> entries["LA_T_2"]
    {'wav': '{data_root}/ASVspoof2019_LA_train/flac/LA_T_2.flac', 'label': 'spoof', 'speaker': 'LA_0079', 'attack': 'A01'}
    """
    entries = {}
    seen = FirstSeen("utterance id")
    for lineno, where, row in numbered_fields(protocol_path, PROTOCOL_COLUMNS):
        utt_id, label, attack = row["UTT_ID"], row["LABEL"], row["ATTACK"]
        check_label(where, label, attack)
        seen.add(utt_id, where, f"line {lineno}")
        entries[utt_id] = {
            "wav": f"{{data_root}}/{audio_folder}/flac/{utt_id}.flac",
            "label": label,
            "speaker": row["SPEAKER"],
            "attack": attack,
        }
    if not entries:
        raise ProtocolError(f"{protocol_path}: no trials found")
    return entries


def prepare_asvspoof2019_la(
    data_folder, save_folder, splits=("train", "dev", "eval"), skip_prep=False
):
    """Write the JSON manifests of ASVspoof 2019 LA.

    Arguments
    ---------
    data_folder : str
        The ``LA`` folder of the corpus.
    save_folder : str
        Where the manifests go.
    splits : sequence of str
        Any of ``train``, ``dev``, ``eval``.
    skip_prep : bool
        Do nothing (the manifests are managed by the user).

    Returns
    -------
    dict
        ``{split: manifest_path}``.

    Raises
    ------
    dpda.data.listing.ProtocolError
        On a malformed protocol line (file and line named).
    FileNotFoundError
        When a protocol or listed audio file is missing.
    """
    outputs = {split: os.path.join(save_folder, f"{split}.json") for split in splits}
    if skip_prep:
        return outputs
    unknown = set(splits) - set(LA_SPLITS)
    if unknown:
        raise ValueError(f"Unknown split(s) {sorted(unknown)}; use {list(LA_SPLITS)}")
    options = {"data_folder": os.path.abspath(data_folder), "splits": list(splits)}
    if already_prepared(save_folder, list(outputs.values()), options, STAMP):
        logger.info("ASVspoof 2019 LA manifests already prepared in %s", save_folder)
        return outputs
    for split in splits:
        audio_folder, protocol_name = LA_SPLITS[split]
        protocol = os.path.join(data_folder, PROTOCOL_FOLDER, protocol_name)
        if not os.path.isfile(protocol):
            raise FileNotFoundError(
                f"ASVspoof 2019 LA protocol not found: {protocol} "
                "(is data_folder the corpus's LA folder?)"
            )
        entries = parse_la_protocol(protocol, audio_folder)
        check_audio_exists(entries, data_folder, protocol)
        write_manifest(entries, outputs[split], f"ASVspoof 2019 LA {split}")
    mark_prepared(save_folder, options, STAMP)
    return outputs
