"""Listing the Fake-or-Real corpus, normalised version "for-norm" (FoR).

The release has no metadata file: the class of a clip is its folder::

    for-norm/{training,validation,testing}/{fake,real}/<file>

``fake`` clips are labelled ``spoof`` and ``real`` clips ``bonafide`` (the
ASVspoof spelling, as in every manifest of the project). FoR gives neither
speaker nor synthesis-system labels, so ``speaker`` is ``"unknown"`` and
``attack`` is ``"-"`` (bona fide) or ``"unknown"`` (spoof), as for
In-the-Wild.

Trial ids are ``<class folder>/<file name>``, extension included, e.g.
``fake/file1000.wav_16k.wav_norm.wav_mono.wav_silence.wav``: the first column
of the authors' FoR score files (ductuantruong/dpda_ga: ``main.py`` scores
the lines of ``database/protocols/for_norm_test.txt``), so score files of both
projects join on the id (the line order differs). The class folder keeps ids
unique: the release reuses file names across ``fake/`` and ``real/``. Score
files are whitespace separated, so each whitespace character of a file name
becomes ``_`` in its id (the ``wav`` path keeps the real name); two names that
collide this way are an error naming both files.

Authors
 * dpda contributors 2026
"""

import logging
import os
import re

from dpda.data.listing import FirstSeen, ProtocolError
from dpda.data.manifest import already_prepared, mark_prepared, write_manifest
from dpda.labels import NO_ATTACK

logger = logging.getLogger(__name__)

FOR_SPLITS = ("training", "validation", "testing")
FOR_CLASSES = {"fake": "spoof", "real": "bonafide"}  # folder -> label
AUDIO_EXTENSIONS = (".wav", ".flac", ".mp3", ".ogg")
_WHITESPACE = re.compile(r"\s")


def for_trial_id(class_folder, file_name):
    """Trial id of a FoR clip: ``<class folder>/<file name>``, spaces as ``_``.

    Arguments
    ---------
    class_folder : str
        ``"fake"`` or ``"real"``.
    file_name : str
        The audio file name, extension included.

    Returns
    -------
    str
        An id without whitespace, usable in ``UTT_ID SCORE`` files.

    Example
    -------
    >>> for_trial_id("fake", "file1.wav_16k.wav_norm.wav_mono.wav_silence.wav")
    'fake/file1.wav_16k.wav_norm.wav_mono.wav_silence.wav'
    >>> for_trial_id("real", "my clip\\t2.wav")
    'real/my_clip_2.wav'
    """
    return f"{class_folder}/{_WHITESPACE.sub('_', file_name)}"


def check_file_name(path):
    """Refuse a file name the manifest and score files cannot carry.

    Braces would be read as ``{data_root}``-style placeholders when the
    manifest is loaded, and a name that is not valid UTF-8 cannot be written
    to the UTF-8 manifest and score files.

    Arguments
    ---------
    path : str
        The audio file.

    Raises
    ------
    ProtocolError
        Naming the file, to be renamed.

    Example
    -------
    >>> check_file_name("for-norm/testing/fake/file1.wav")
    >>> check_file_name("for-norm/testing/fake/{x}.wav")
    Traceback (most recent call last):
    ...
    dpda.data.listing.ProtocolError: 'for-norm/testing/fake/{x}.wav': braces in a file name are not supported; rename it
    """
    name = os.path.basename(path)
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        raise ProtocolError(
            f"{path!r}: file name is not valid UTF-8; rename it"
        ) from None
    if "{" in name or "}" in name:
        raise ProtocolError(
            f"{path!r}: braces in a file name are not supported; rename it"
        )


def list_for_folder(split_folder):
    """List the audio files of one FoR split into manifest entries.

    Hidden files (``.DS_Store``...), sub-folders and files without an audio
    extension (``.wav``, ``.flac``, ``.mp3``, ``.ogg``, any case) are left
    out and logged. Files are only listed: empty or unreadable audio is
    reported when it is read (``on_bad_audio``).

    Arguments
    ---------
    split_folder : str
        A split folder, e.g. ``for-norm/testing``, holding ``fake/`` and
        ``real/``.

    Returns
    -------
    dict
        ``{utt_id: {"wav", "label", "speaker", "attack"}}``, ``fake/`` first,
        then ``real/``, each in sorted file-name order; ``wav`` is relative to
        ``{data_root}``, the parent of ``split_folder`` (the ``for-norm``
        folder).

    Raises
    ------
    FileNotFoundError
        When ``split_folder`` or one of its class folders is missing.
    ProtocolError
        When a class folder holds no audio file, two files map to one id,
        or a file name cannot be carried (see :func:`check_file_name`),
        naming the paths.

    Example
    -------
    >>> import tempfile
    >>> root = tempfile.mkdtemp()
    >>> for cls in ("fake", "real"):
    ...     os.makedirs(os.path.join(root, "testing", cls))
    ...     _ = open(os.path.join(root, "testing", cls, "file1.wav"), "wb")
    >>> entries = list_for_folder(os.path.join(root, "testing"))
    >>> list(entries)
    ['fake/file1.wav', 'real/file1.wav']
    >>> entries["real/file1.wav"]
    {'wav': '{data_root}/testing/real/file1.wav', 'label': 'bonafide', 'speaker': 'unknown', 'attack': '-'}
    """
    if not os.path.isdir(split_folder):
        raise FileNotFoundError(f"FoR split folder not found: {split_folder}")
    split = os.path.basename(os.path.normpath(split_folder))
    entries = {}
    seen = FirstSeen("trial id")
    for class_folder, label in FOR_CLASSES.items():
        folder = os.path.join(split_folder, class_folder)
        if not os.path.isdir(folder):
            raise FileNotFoundError(
                f"FoR class folder not found: {folder} (expected "
                f"{' and '.join(FOR_CLASSES)} under {split_folder})"
            )
        ignored, listed = [], 0
        for file_name in sorted(os.listdir(folder)):
            path = os.path.join(folder, file_name)
            if (
                file_name.startswith(".")
                or not file_name.lower().endswith(AUDIO_EXTENSIONS)
                or not os.path.isfile(path)
            ):
                ignored.append(file_name)
                continue
            check_file_name(path)
            utt_id = for_trial_id(class_folder, file_name)
            # Whitespace in file names becomes "_": two names may collide.
            seen.add(utt_id, path, path)
            entries[utt_id] = {
                "wav": f"{{data_root}}/{split}/{class_folder}/{file_name}",
                "label": label,
                "speaker": "unknown",
                "attack": NO_ATTACK if label == "bonafide" else "unknown",
            }
            listed += 1
        if ignored:
            logger.warning(
                "FoR: ignored %d non-audio entr%s in %s: %s%s",
                len(ignored),
                "y" if len(ignored) == 1 else "ies",
                folder,
                ", ".join(ignored[:5]),
                ", ..." if len(ignored) > 5 else "",
            )
        if not listed:
            raise ProtocolError(
                f"{folder}: no audio file ({'/'.join(AUDIO_EXTENSIONS)}) found"
            )
    return entries


def prepare_for_norm(
    data_folder, save_folder, split="testing", name=None, skip_prep=False
):
    """Write the JSON manifest of one split of FoR "for-norm".

    The authors of DPDA evaluate on ``testing`` (4,634 clips: 2,370 fake,
    2,264 real). Preparation is skipped when the manifest exists and was
    written with the same options (a changed corpus folder is not noticed:
    delete the manifest to list it again).

    Arguments
    ---------
    data_folder : str
        The ``for-norm`` folder (holding ``training/``, ``validation/``,
        ``testing/``); it is the ``{data_root}`` of the manifest.
    save_folder : str
        Where the manifest goes, beside its options stamp.
    split : str
        ``"training"``, ``"validation"`` or ``"testing"``.
    name : str, optional
        Base name of the manifest; defaults to ``for_norm_<split>``.
    skip_prep : bool
        Do nothing (the manifest is managed by the user).

    Returns
    -------
    str
        The manifest path.

    Example
    -------
    >>> import json, tempfile
    >>> root, out = tempfile.mkdtemp(), tempfile.mkdtemp()
    >>> for cls in ("fake", "real"):
    ...     os.makedirs(os.path.join(root, "testing", cls))
    ...     _ = open(os.path.join(root, "testing", cls, "a b.wav"), "wb")
    >>> path = prepare_for_norm(root, out)
    >>> os.path.basename(path), sorted(json.load(open(path)))
    ('for_norm_testing.json', ['fake/a_b.wav', 'real/a_b.wav'])
    """
    if split not in FOR_SPLITS:
        raise ValueError(f"split must be one of {FOR_SPLITS}, got {split!r}")
    name = name or f"for_norm_{split}"
    output = os.path.join(save_folder, f"{name}.json")
    if skip_prep:
        return output
    stamp = f"{name}.options.json"
    options = {"data_folder": os.path.abspath(data_folder), "split": split}
    if already_prepared(save_folder, [output], options, stamp):
        logger.info("FoR manifest already prepared: %s", output)
        return output
    if not os.path.isdir(data_folder):
        raise FileNotFoundError(f"FoR for-norm folder not found: {data_folder}")
    entries = list_for_folder(os.path.join(data_folder, split))
    write_manifest(entries, output, f"FoR for-norm {split}")
    mark_prepared(save_folder, options, stamp)
    return output
