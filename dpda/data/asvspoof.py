"""Reading the ASVspoof 2019 LA countermeasure protocols.

Protocol line: ``SPEAKER UTT_ID - ATTACK LABEL``, e.g.
``LA_0079 LA_T_1004644 - A01 spoof``; bona fide rows have ``-`` as ATTACK.

Authors
 * dpda contributors 2026
"""

LA_SPLITS = {
    "train": ("ASVspoof2019_LA_train", "ASVspoof2019.LA.cm.train.trn.txt"),
    "dev": ("ASVspoof2019_LA_dev", "ASVspoof2019.LA.cm.dev.trl.txt"),
    "eval": ("ASVspoof2019_LA_eval", "ASVspoof2019.LA.cm.eval.trl.txt"),
}
PROTOCOL_FOLDER = "ASVspoof2019_LA_cm_protocols"
LABELS = ("bonafide", "spoof")


class ProtocolError(ValueError):
    """A malformed line in a protocol or metadata file."""


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
    first_seen = {}
    with open(protocol_path, encoding="utf-8") as f:
        for lineno, line in enumerate(f, start=1):
            fields = line.split()
            if not fields:
                continue
            where = f"{protocol_path}:{lineno}"
            if len(fields) != 5:
                raise ProtocolError(
                    f"{where}: expected 5 fields 'SPEAKER UTT_ID - ATTACK LABEL', "
                    f"got {len(fields)}: {line.strip()!r}"
                )
            speaker, utt_id, _, attack, label = fields
            if label not in LABELS:
                raise ProtocolError(
                    f"{where}: unknown label {label!r} (expected one of {LABELS})"
                )
            if (label == "bonafide") != (attack == "-"):
                raise ProtocolError(
                    f"{where}: attack {attack!r} does not match label {label!r} "
                    "(bona fide rows have '-' as attack)"
                )
            if utt_id in entries:
                raise ProtocolError(
                    f"{where}: duplicate utterance id {utt_id!r} "
                    f"(first on line {first_seen[utt_id]})"
                )
            first_seen[utt_id] = lineno
            entries[utt_id] = {
                "wav": f"{{data_root}}/{audio_folder}/flac/{utt_id}.flac",
                "label": label,
                "speaker": speaker,
                "attack": attack,
            }
    if not entries:
        raise ProtocolError(f"{protocol_path}: no trials found")
    return entries
