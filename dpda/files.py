"""Files written whole or not at all, with the permissions ``open()`` gives.

Score files, manifests, ``eval_results.json``, ``alignment_stats.csv``,
breakdowns and ``dpda-detect --output`` are written through a temporary file
and a rename, so that an interrupted run never leaves a truncated file that
looks complete.

Authors
 * dpda contributors 2026
"""

import contextlib
import json
import os
import tempfile


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
