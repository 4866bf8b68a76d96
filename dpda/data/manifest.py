"""Writing SpeechBrain JSON manifests safely, and skipping finished work.

Also the one command line of the ``<corpus>_prepare.py`` scripts
(:func:`prepare_cli`).

Manifests map an utterance id to its fields; audio paths are stored relative
to the corpus root as ``{data_root}/...`` so that a manifest can be moved with
its corpus and loaded with
``DynamicItemDataset.from_json(path, replacements={"data_root": ...})``.

Authors
 * dpda contributors 2026
"""

import argparse
import contextlib
import json
import logging
import os
import tempfile

logger = logging.getLogger(__name__)

PREP_OPTIONS_FILE = "prepare_options.json"  # default stamp name


def _current_umask():
    """The process's umask (read without changing it where Linux allows)."""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except OSError:
        pass
    mask = os.umask(0o022)  # elsewhere: set and restore at once
    os.umask(mask)
    return mask


def _open_mode(path):
    """The permission bits ``open(path, "w")`` would leave on ``path``."""
    try:
        return os.stat(path).st_mode & 0o7777  # an existing file keeps its mode
    except FileNotFoundError:
        return 0o666 & ~_current_umask()


@contextlib.contextmanager
def open_atomic(path, newline=None):
    """Open ``path`` for writing text through a temporary file and a rename.

    The file appears whole when the block ends, or not at all: an interrupted
    write never leaves a truncated file that looks complete. Its permissions
    are those an ordinary ``open(path, "w")`` gives: a new file's follow the
    umask, an existing file keeps its own.

    Arguments
    ---------
    path : str
        Destination file; its folder is created.
    newline : str, optional
        As in :func:`open` (``""`` for the csv module).

    Yields
    ------
    file
        A text file open for writing (UTF-8).

    Example
    -------
    >>> path = os.path.join(tempfile.mkdtemp(), "x.txt")
    >>> with open_atomic(path) as f:
    ...     _ = f.write("done")
    >>> open(path).read()
    'done'
    """
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    mode = _open_mode(path)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".tmp_")
    try:
        # mkstemp creates the file 0600; give it what open() would have.
        os.chmod(tmp, mode)
        with os.fdopen(fd, "w", encoding="utf-8", newline=newline) as f:
            yield f
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def write_json_atomic(data, path, **dump_kwargs):
    """Write ``data`` as JSON to ``path`` through a temporary file and a rename.

    Arguments
    ---------
    data : object
        JSON-serialisable data.
    path : str
        Destination file.
    **dump_kwargs
        Passed to :func:`json.dump` (``indent`` defaults to 2).

    Example
    -------
    >>> folder = tempfile.mkdtemp()
    >>> write_json_atomic({"a": 1}, os.path.join(folder, "x.json"))
    >>> open(os.path.join(folder, "x.json")).read()
    '{\\n  "a": 1\\n}'
    """
    dump_kwargs.setdefault("indent", 2)
    with open_atomic(path) as f:
        json.dump(data, f, **dump_kwargs)


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


def prepare_cli(prepare, description, data_help, argv=None, **options):
    """The command line of every ``<corpus>_prepare.py`` script.

    ``python <corpus>_prepare.py DATA_FOLDER SAVE_FOLDER [--option VALUE ...]``
    calls ``prepare(data_folder, save_folder, **options)`` and prints what
    it returns (the manifest paths).

    Arguments
    ---------
    prepare : callable
        The library function, ``prepare(data_folder, save_folder, ...)``.
    description : str
        The script's description (its docstring's first line).
    data_help : str
        What ``DATA_FOLDER`` is.
    argv : list of str, optional
        Arguments (default: ``sys.argv[1:]``).
    **options
        ``name=dict(...)``: keyword arguments of
        ``argparse.ArgumentParser.add_argument`` for ``--name``.

    Returns
    -------
    object
        What ``prepare`` returned.

    Example
    -------
    >>> def prepare(data_folder, save_folder, split="test"):
    ...     return f"{data_folder} {split} -> {save_folder}"
    >>> prepare_cli(prepare, "Prepare X", "the corpus",
    ...             ["/c", "out", "--split", "dev"], split=dict(default="test"))
    /c dev -> out
    '/c dev -> out'
    """
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("data_folder", help=data_help)
    parser.add_argument("save_folder", help="where the manifests are written")
    for name, spec in options.items():
        parser.add_argument(f"--{name}", **spec)
    args = vars(parser.parse_args(argv))
    logging.basicConfig(level=logging.INFO)
    result = prepare(args.pop("data_folder"), args.pop("save_folder"), **args)
    print(result)
    return result
