"""Atomic writes keep the permissions an ordinary ``open()`` would give.

Score files, manifests, ``eval_results.json``, ``alignment_stats.csv`` and
``dpda-detect --output`` all go through ``open_atomic``; a temporary file from
``mkstemp`` is created 0600, so without care colleagues and web servers could
not read any result.
"""

import json
import os
import stat

import pytest

from dpda.files import open_atomic, write_json_atomic
from dpda.scores import read_score_file, write_scores


def mode_of(path):
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.fixture
def umask():
    """Set a umask for the test and restore the process's one after it."""
    saved = os.umask(0o022)
    os.umask(saved)

    def set_mask(mask):
        os.umask(mask)

    yield set_mask
    os.umask(saved)


@pytest.mark.parametrize("mask", [0o022, 0o002, 0o077, 0o027])
def test_new_files_get_the_umask_like_open(tmp_path, umask, mask):
    umask(mask)
    plain = tmp_path / "plain.txt"
    with open(plain, "w") as f:
        f.write("x")
    atomic = tmp_path / "atomic.txt"
    with open_atomic(str(atomic)) as f:
        f.write("x")
    assert mode_of(atomic) == mode_of(plain) == 0o666 & ~mask
    json_file = tmp_path / "eval_results.json"
    write_json_atomic({"eer": 1.0}, str(json_file))
    assert mode_of(json_file) == 0o666 & ~mask
    assert json.loads(json_file.read_text()) == {"eer": 1.0}
    scores = tmp_path / "scores" / "eval.txt"  # a folder made on the way
    write_scores(str(scores), ["LA_E_1"], [0.5])
    assert mode_of(scores) == 0o666 & ~mask
    assert read_score_file(str(scores)) == {"LA_E_1": 0.5}


def test_an_existing_file_keeps_its_mode_when_replaced(tmp_path, umask):
    umask(0o022)
    path = tmp_path / "shared.txt"
    path.write_text("old")
    os.chmod(path, 0o664)  # group-writable, as a colleague set it
    with open_atomic(str(path)) as f:
        f.write("new")
    assert path.read_text() == "new"
    assert mode_of(path) == 0o664


def test_a_failed_write_leaves_neither_file_nor_temporary(tmp_path):
    path = tmp_path / "out.txt"
    with pytest.raises(RuntimeError, match="interrupted"):
        with open_atomic(str(path)) as f:
            f.write("half")
            raise RuntimeError("interrupted")
    assert list(tmp_path.iterdir()) == []
