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

And this project's rule that a default lives in one place: a recipe file
writes every key its script or Brain reads with a fallback, and restates no
default of the back ends' and the SSL wrapper's constructors.
"""

import ast
import csv
import glob
import importlib
import inspect
import os
import re

import pytest
import ruamel.yaml
from conftest import save_tiny_xlsr
from hyperpyyaml import load_hyperpyyaml
from speechbrain.utils.run_opts import RunOptions

from dpda.alignment import ALIGNERS
from dpda.models.backends import backend_definition
from dpda.models.ssl import AUTHORS_SSL_CONFIG

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


def keys_read_with_a_fallback(code):
    """Keys that ``code`` reads with a default other than ``None``
    (``getattr(self.hparams, "key", default)``, ``hparams.get("key", default)``):
    a default hidden in code unless the hparams file writes the key."""
    reads = r'(?:getattr\((?:self\.)?hparams, |hparams\.get\()"(\w+)", (?!None\))'
    return sorted(set(re.findall(reads, code)))


def brain_code(text):
    """The source of the Brain class the hparams file names, of its bases in
    the same module, and of that module's functions (the script calls them)."""
    match = re.search(r"^brain_class: !name:([\w.]+)\.(\w+)", text, flags=re.M)
    if not match:
        return ""
    source = open(brain_module(text), encoding="utf-8").read()
    nodes = {n.name: n for n in ast.parse(source).body if hasattr(n, "name")}
    parts, name = [], match.group(2)
    while name in nodes:
        parts.append(ast.get_source_segment(source, nodes[name]))
        bases = [b.id for b in nodes[name].bases if isinstance(b, ast.Name)]
        name = bases[0] if bases else None
    functions = [n for n in nodes.values() if isinstance(n, ast.FunctionDef)]
    return "\n".join(parts + [ast.get_source_segment(source, f) for f in functions])


def test_the_fallback_rule_finds_hidden_defaults():
    code = 'a = getattr(self.hparams, "mode", "split")\nb = hparams.get("x")\n'
    code += 'c = hparams.get("crop", "first")\nd = getattr(hparams, "s", None)\n'
    assert keys_read_with_a_fallback(code) == ["crop", "mode"]
    dpda = brain_code("brain_class: !name:dpda.brain.DPDABrain\n")
    baseline = brain_code("brain_class: !name:dpda.brain.AntiSpoofBrain\n")
    assert "dpda_mode" in keys_read_with_a_fallback(dpda)
    assert "dpda_mode" not in keys_read_with_a_fallback(baseline)


@pytest.mark.parametrize(
    "row", RECIPES, ids=[os.path.basename(r["Hparam_file"]) for r in RECIPES]
)
def test_every_recipe_writes_the_keys_its_code_reads_with_a_fallback(row):
    text = open(os.path.join(ROOT, row["Hparam_file"]), encoding="utf-8").read()
    code = open(os.path.join(ROOT, row["Script_file"]), encoding="utf-8").read()
    written = set(re.findall(r"^(\w+):", text, flags=re.M))
    hidden = [
        key
        for key in keys_read_with_a_fallback(code + brain_code(text))
        if key not in written
    ]
    assert not hidden, f"{row['Hparam_file']}: write these keys out: {hidden}"


def restated_defaults(cls, kwargs):
    """The arguments in ``kwargs`` equal to the default of ``cls``'s
    constructor (a list and a tuple of the same items are equal)."""
    defaults = inspect.signature(cls).parameters
    same = []
    for key, value in kwargs.items():
        default = defaults[key].default if key in defaults else inspect.Parameter.empty
        if isinstance(value, (list, tuple)) and isinstance(default, (list, tuple)):
            value, default = list(value), list(default)
        if value == default:
            same.append(key)
    return same


def test_the_default_rule_finds_a_restated_default():
    from dpda.models.aasist import AASIST

    options = {"proj_size": 128, "gat_dims": [64, 32], "dropout": 0.1}
    assert restated_defaults(AASIST, options) == ["proj_size", "gat_dims"]


@pytest.mark.parametrize("path", HPARAMS, ids=os.path.basename)
def test_no_hparams_file_restates_a_constructor_default(path):
    with open(path, encoding="utf-8") as f:
        hparams = ruamel.yaml.YAML().load(f)
    restated = []
    for name, options in (hparams.get("backend_options") or {}).items():
        module, cls = backend_definition(name, 1024)[0].rsplit(".", 1)
        cls = getattr(importlib.import_module(module), cls)
        restated += [f"{name}.{k}" for k in restated_defaults(cls, options or {})]
    for key, value in (hparams.get("ssl_config") or {}).items():
        if AUTHORS_SSL_CONFIG.get(key, not value) == value:
            restated.append(f"ssl_config.{key}")
    assert not restated, f"{os.path.basename(path)} restates: {restated}"


DPDA_HPARAMS = [
    p for p in HPARAMS if "dpda.brain.DPDABrain" in open(p, encoding="utf-8").read()
]


@pytest.mark.parametrize("path", DPDA_HPARAMS, ids=os.path.basename)
def test_the_aligner_comment_lists_every_aligner(path):
    text = open(path, encoding="utf-8").read()
    match = re.search(r"^aligner: \S+ +#(.*\n(?: +#.*\n)*)", text, flags=re.M)
    assert match, f"{os.path.basename(path)}: no aligner comment"
    listed = set(re.findall(r"\w+", match.group(1)))
    assert not set(ALIGNERS) - listed, set(ALIGNERS) - listed


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
