"""SpeechBrain's recipe consistency checks, applied to this project.

The rules of SpeechBrain's own checks (its repository's
``tests/consistency/`` and ``tests/utils/``), written again here:

- every recipe hparams file is listed in ``tests/recipes/<recipe>.csv`` with
  its script, data preparation and README, and those files exist;
- every top-level key of an hparams file is used: referenced by a later
  key (``!ref <key>``) or read by the script as ``hparams["key"]``,
  ``hparams.key``, ``modules.key``, ``getattr(self.hparams, "key"`` or
  ``hparams.get("key"``; SpeechBrain's run options are exempt. The one
  deliberate difference: the script's Brain class lives in ``dpda/brain.py``
  (named by the file's ``brain_class``), so that module is read with the
  script, as SpeechBrain reads a recipe whose Brain is in ``train.py``;
- every function and class of the recipes and of ``dpda`` has a docstring,
  nested helpers included (names starting with ``_`` are exempt);
- every hparams file loads, with the data and output folders overridden
  (the SSL source is a tiny local wav2vec 2.0 folder: no download).
"""

import ast
import csv
import glob
import os
import re

import pytest
from conftest import save_tiny_xlsr
from hyperpyyaml import load_hyperpyyaml
from speechbrain.utils.run_opts import RunOptions

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HPARAMS = sorted(glob.glob(os.path.join(ROOT, "hparams", "*.yaml")))
STUDIES = sorted(glob.glob(os.path.join(ROOT, "hparams", "ablations", "*.yaml")))
RUN_OPTIONS = set(RunOptions().as_dict())


def listed_recipes():
    """Rows of ``tests/recipes/*.csv``."""
    rows = []
    for path in sorted(glob.glob(os.path.join(ROOT, "tests", "recipes", "*.csv"))):
        with open(path, encoding="utf-8", newline="") as f:
            rows += list(csv.DictReader(f))
    return rows


RECIPES = listed_recipes()


def yaml_keys(text):
    """Top-level keys of an hparams file that must be used somewhere, after
    removing those a later line references (SpeechBrain's reading)."""
    keys = []
    for line in text.splitlines():
        if not line.strip() or line.startswith("#") or "Pretrainer" in line:
            continue
        if ":" in line:
            name = line[: line.find(":")]
            if name[0] not in " \t" and "!!" not in line and "!apply" not in line:
                keys.append(name)
        if "!ref" in line:
            for ref in re.findall(r"<([^<>]*)>", line):
                ref = ref.split("[")[0]
                if ref in keys:
                    keys.remove(ref)
    return keys


def used_in(code, key):
    """Whether ``code`` reads ``key`` the ways SpeechBrain's check accepts."""
    patterns = (
        f'["{key}"]',
        f"hparams.{key}",
        f"modules.{key}",
        f'attr(self.hparams, "{key}',
        f'hparams.get("{key}',
    )
    return any(p in code for p in patterns)


def brain_module(text):
    """The source file of the Brain class that the hparams file names."""
    match = re.search(r"^brain_class: !name:([\w.]+)\.\w+", text, flags=re.M)
    if not match:
        return None
    return os.path.join(ROOT, *match.group(1).split(".")) + ".py"


def test_every_recipe_hparams_file_is_listed_with_existing_files():
    listed = [os.path.realpath(os.path.join(ROOT, r["Hparam_file"])) for r in RECIPES]
    assert sorted(listed) == sorted(os.path.realpath(p) for p in HPARAMS)
    for row in RECIPES:
        for column in ("Script_file", "Hparam_file", "Data_prep_file", "Readme_file"):
            assert os.path.isfile(os.path.join(ROOT, row[column])), row[column]


@pytest.mark.parametrize(
    "row", RECIPES, ids=[os.path.basename(r["Hparam_file"]) for r in RECIPES]
)
def test_every_hparams_key_is_used_by_the_script_or_its_brain(row):
    text = open(os.path.join(ROOT, row["Hparam_file"]), encoding="utf-8").read()
    code = open(os.path.join(ROOT, row["Script_file"]), encoding="utf-8").read()
    brain = brain_module(text)
    if brain:
        code += open(brain, encoding="utf-8").read()
    unused = [
        key
        for key in yaml_keys(text)
        if key not in RUN_OPTIONS and not used_in(code, key)
    ]
    assert not unused, f"{row['Hparam_file']}: keys never used: {unused}"


def test_the_key_rules_catch_an_unused_key():
    text = "a: 1\nb: !ref <a>\nc: 2\n__set: !apply:print [1]\nmax_grad_norm: 5\n"
    assert yaml_keys(text) == ["b", "c", "max_grad_norm"]
    assert used_in('x = hparams["b"]', "b") and not used_in("x = b", "b")


def python_files():
    """Every Python file of the library and the recipes."""
    files = glob.glob(os.path.join(ROOT, "dpda", "**", "*.py"), recursive=True)
    files += glob.glob(os.path.join(ROOT, "recipes", "*", "*.py"))
    return sorted(files)


@pytest.mark.parametrize(
    "path", python_files(), ids=lambda p: os.path.relpath(p, ROOT).replace("/", ".")
)
def test_every_function_and_class_has_a_docstring(path):
    tree = ast.parse(open(path, encoding="utf-8").read())
    missing = [
        f"{node.name} (line {node.lineno})"
        for node in ast.walk(tree)
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
        and not node.name.startswith("_")
        and ast.get_docstring(node) is None
    ]
    assert not missing, f"{os.path.relpath(path, ROOT)}: no docstring: {missing}"


@pytest.fixture(scope="module")
def ssl_folder(tmp_path_factory):
    return save_tiny_xlsr(str(tmp_path_factory.mktemp("ssl")))


@pytest.mark.parametrize("path", HPARAMS, ids=os.path.basename)
def test_every_hparams_file_loads(path, ssl_folder, tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    text = open(path, encoding="utf-8").read()
    overrides = {"output_folder": str(tmp_path / "out")}
    for key, value in (
        ("data_folder", str(tmp_path / "data")),
        ("detector", "unused"),
        ("ssl_hub", ssl_folder),
        ("ssl_dim", 32),
    ):
        if re.search(rf"^{key}:", text, flags=re.M):
            overrides[key] = value
    hparams = load_hyperpyyaml(text, overrides)
    assert hparams["output_folder"] == str(tmp_path / "out")


@pytest.mark.parametrize("path", STUDIES, ids=os.path.basename)
def test_every_study_file_loads(path):
    from dpda.ablation import load_study

    study, runs = load_study(path)
    assert study["baseline"] in {run.name for run in runs}
