"""The code base is ruff-clean: lint rules and formatting from pyproject.toml."""

import os
import shutil
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


PATHS = ["dpda", "recipes", "tests", "benchmarks"]


def run_ruff(*args):
    ruff = shutil.which("ruff") or os.path.join(os.path.dirname(sys.executable), "ruff")
    return subprocess.run(
        [ruff, *args, *PATHS], cwd=ROOT, capture_output=True, text=True
    )


def test_ruff_check_passes():
    result = run_ruff("check")
    assert result.returncode == 0, result.stdout + result.stderr


def test_ruff_format_is_applied():
    result = run_ruff("format", "--check")
    assert result.returncode == 0, result.stdout + result.stderr
