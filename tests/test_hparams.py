"""Every key of every hparams file is used, by another key or by the code."""

import glob
import os
import re

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HPARAMS = sorted(glob.glob(os.path.join(ROOT, "hparams", "*.yaml")))
# Keys SpeechBrain's Brain reads from the hparams itself (run options).
SPEECHBRAIN_RUN_OPTS = {"max_grad_norm", "ckpt_interval_minutes"}


def code_text():
    files = glob.glob(os.path.join(ROOT, "recipes", "**", "*.py"), recursive=True)
    files += [os.path.join(ROOT, "dpda", "brain.py")]
    return "\n".join(open(f, encoding="utf-8").read() for f in files)


@pytest.mark.parametrize("path", HPARAMS, ids=os.path.basename)
def test_every_hparams_key_is_used(path):
    text = open(path, encoding="utf-8").read()
    keys = re.findall(r"^([A-Za-z_][A-Za-z0-9_]*):", text, flags=re.M)
    code = code_text()
    unused = []
    for key in keys:
        if key.startswith("__") or key in SPEECHBRAIN_RUN_OPTS:
            continue
        by_yaml = f"<{key}>" in text
        by_code = re.search(
            rf"""hparams\[["']{key}["']\]|hparams\.get\(["']{key}["']|hparams\.{key}\b|hparams, ["']{key}["']""",
            code,
        )
        if not (by_yaml or by_code):
            unused.append(key)
    assert not unused, f"{os.path.basename(path)}: keys never used: {unused}"


def test_all_four_recipe_files_exist():
    names = {os.path.basename(p) for p in HPARAMS}
    assert {
        "mini_baseline_rawboost.yaml",
        "mini_dpda_rawboost.yaml",
        "baseline_rawboost.yaml",
        "dpda_rawboost.yaml",
    } <= names
