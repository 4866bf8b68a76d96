"""Reading the ASVspoof 2021 LA and DF evaluation keys (``trial_metadata.txt``).

Layout of the official release, keys unpacked under ``keys/``::

    <data_folder>/ASVspoof2021_LA_eval/flac/LA_E_*.flac
    <data_folder>/ASVspoof2021_DF_eval/flac/DF_E_*.flac
    <keys_folder>/LA/CM/trial_metadata.txt
    <keys_folder>/DF/CM/trial_metadata.txt

The DF audio comes in four archives (``ASVspoof2021_DF_eval_part00`` to
``part03``) whose ``flac`` folders must be merged into one.

Key lines, one trial each (columns: :data:`LA_COLUMNS`, :data:`DF_COLUMNS`)::

    LA_0009 LA_E_9332881 alaw ita_tx A07 spoof notrim eval
    LA_0023 DF_E_2000011 nocodec asvspoof A14 spoof notrim progress traditional_vocoder - - - -

The DF columns after ``subset`` (vocoder, task, team, gender pair,
language) are ``-`` where they do not apply (e.g. ASVspoof 2019 sources). Bona
fide trials carry ``bonafide`` as attack in the 2021 keys; ``-`` (the 2019
spelling) is accepted too and both are kept verbatim. Official figures use
the ``eval`` subset (the others are ``progress`` and ``hidden``).

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
from dpda.labels import BONAFIDE_PLACEHOLDERS

logger = logging.getLogger(__name__)

# Column names follow the evaluation plan; ``gender_pair`` is spelled with an
# underscore so that it can name a SpeechBrain data item.
LA_COLUMNS = (
    "speaker",
    "trial",
    "codec",
    "transmission",
    "attack",
    "label",
    "trim",
    "subset",
)
DF_COLUMNS = (
    "speaker",
    "trial",
    "compression",
    "source",
    "attack",
    "label",
    "trim",
    "subset",
    "vocoder",
    "task",
    "team",
    "gender_pair",
    "language",
)
TRACK_COLUMNS = {"LA": LA_COLUMNS, "DF": DF_COLUMNS}
ALL_SUBSETS = (None, "all")


def _check_track(track):
    if track not in TRACK_COLUMNS:
        raise ValueError(f"Unknown track {track!r}; use one of {list(TRACK_COLUMNS)}")


def parse_trial_metadata(path, track):
    """Parse an ASVspoof 2021 ``trial_metadata.txt`` (CM keys).

    Arguments
    ---------
    path : str
        The key file.
    track : str
        ``LA`` or ``DF`` (the column layout).

    Returns
    -------
    list of dict
        One dict per trial, in file order, keyed by the track's column names.

    Raises
    ------
    ProtocolError
        On a wrong number of columns, an unknown label, an attack that
        contradicts the label, or a duplicate trial id, naming the file and
        the line number.

    Example
    -------
    >>> import tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "trial_metadata.txt")
    >>> _ = open(path, "w").write("LA_0009 LA_E_9332881 alaw ita_tx A07 spoof notrim eval\\n")
    >>> parse_trial_metadata(path, "LA")[0]["transmission"]
    'ita_tx'
    """
    _check_track(track)
    columns = TRACK_COLUMNS[track]
    rows = []
    seen = FirstSeen("trial id")
    described = f"columns for {track} ({' '.join(columns)})"
    for lineno, where, row in numbered_fields(path, columns, described):
        check_label(where, row["label"], row["attack"], BONAFIDE_PLACEHOLDERS)
        seen.add(row["trial"], where, f"line {lineno}")
        rows.append(row)
    if not rows:
        raise ProtocolError(f"{path}: no trials found")
    return rows


def manifest_entries(rows, track):
    """Turn parsed key rows into manifest entries relative to ``{data_root}``.

    Arguments
    ---------
    rows : list of dict
        From :func:`parse_trial_metadata`.
    track : str
        ``LA`` or ``DF``.

    Returns
    -------
    dict
        ``{trial: {"wav", "label", "attack", <every other column>}}``.

    Example
    -------
    >>> row = dict(zip(LA_COLUMNS, "LA_0009 LA_E_1 alaw ita_tx A07 spoof notrim eval".split()))
    >>> manifest_entries([row], "LA")["LA_E_1"]["wav"]
    '{data_root}/ASVspoof2021_LA_eval/flac/LA_E_1.flac'
    """
    _check_track(track)
    entries = {}
    for row in rows:
        trial = row["trial"]
        entry = {
            "wav": f"{{data_root}}/ASVspoof2021_{track}_eval/flac/{trial}.flac",
            "label": row["label"],
            "attack": row["attack"],
        }
        entry.update((k, v) for k, v in row.items() if k not in ("trial", *entry))
        entries[trial] = entry
    return entries


def prepare_asvspoof2021(
    data_folder,
    save_folder,
    track,
    keys_folder=None,
    subset="eval",
    skip_prep=False,
    check_audio=True,
):
    """Write the JSON manifest of the ASVspoof 2021 LA or DF evaluation data.

    Arguments
    ---------
    data_folder : str
        Folder holding ``ASVspoof2021_<track>_eval/flac``; it is the
        ``{data_root}`` of the manifest.
    save_folder : str
        Where the manifest goes, beside its options stamp.
    track : str
        ``LA`` or ``DF``.
    keys_folder : str, optional
        Folder holding ``<track>/CM/trial_metadata.txt``; defaults to
        ``<data_folder>/keys``.
    subset : str or None
        Keep the trials of this subset (``eval`` for the official figures,
        ``progress``, ``hidden``); ``None`` or ``"all"`` keeps every trial.
    skip_prep : bool
        Do nothing (the manifest is managed by the user).
    check_audio : bool
        Fail when an audio file of a kept trial is missing.

    Returns
    -------
    str
        The manifest path, ``<save_folder>/asvspoof2021_<track>_<subset>.json``
        (track in lower case, ``all`` for every subset).

    Raises
    ------
    FileNotFoundError
        When the keys or some audio files are missing (count and first ones
        named).
    ValueError
        When no trial belongs to ``subset`` (the subsets present are named).
    dpda.data.listing.ProtocolError
        On a malformed key line (file and line named).
    """
    _check_track(track)
    subset_name = "all" if subset in ALL_SUBSETS else subset
    name = f"asvspoof2021_{track.lower()}_{subset_name}"
    output = os.path.join(save_folder, f"{name}.json")
    if skip_prep:
        return output
    if keys_folder is None:
        keys_folder = os.path.join(data_folder, "keys")
    stamp = f"{name}.options.json"
    options = {
        "data_folder": os.path.abspath(data_folder),
        "keys_folder": os.path.abspath(keys_folder),
        "track": track,
        "subset": subset_name,
        "check_audio": bool(check_audio),
    }
    if already_prepared(save_folder, [output], options, stamp):
        logger.info("ASVspoof 2021 %s manifest already prepared: %s", track, output)
        return output
    keys = os.path.join(keys_folder, track, "CM", "trial_metadata.txt")
    if not os.path.isfile(keys):
        raise FileNotFoundError(
            f"ASVspoof 2021 {track} keys not found: {keys} (unpack "
            f"{track}-keys-full.tar.gz there or set keys_folder)"
        )
    rows = parse_trial_metadata(keys, track)
    if subset_name != "all":
        kept = [row for row in rows if row["subset"] == subset_name]
        if not kept:
            present = sorted({row["subset"] for row in rows})
            raise ValueError(
                f"No trial of subset {subset_name!r} in {keys}; subsets present: "
                f"{present} (or 'all')"
            )
        rows = kept
    entries = manifest_entries(rows, track)
    if check_audio:
        flac = os.path.join(data_folder, f"ASVspoof2021_{track}_eval", "flac")
        if not os.path.isdir(flac):
            raise FileNotFoundError(
                f"ASVspoof 2021 {track} audio folder not found: {flac} (for DF, "
                "merge the flac folders of ASVspoof2021_DF_eval_part00..03 there)"
            )
        check_audio_exists(entries, data_folder, keys)
    write_manifest(entries, output, f"ASVspoof 2021 {track} {subset_name}")
    mark_prepared(save_folder, options, stamp)
    return output
