"""The command line of the training and evaluation recipes.

``python train.py HPARAMS_FILE [--KEY=VALUE ...] [SpeechBrain options]`` (and
``evaluate.py``) is read by SpeechBrain's :func:`speechbrain.parse_arguments`;
:func:`parse_recipe_arguments` adds what a newcomer needs, before any work is
done (no manifest written, no model built or downloaded):

* ``--help`` after an hparams file lists that file's keys with their values
  and comments (the hparams file is the documentation:
  :func:`format_hparams_help`) and names SpeechBrain's generic options that do
  not apply;
* a mistake is one line on stderr that says what is wrong and what to do,
  with exit status 2 (:func:`dpda.cli.usage_error`) and no traceback: an
  hparams file that does not exist, a key it does not have (with the closest
  one), a ``!PLACEHOLDER`` left unset, a value that names no method
  (:func:`method_choices`: aligner, RawBoost algorithm, DPDA mode, back end,
  SSL front end...), a generic option that does not apply;
* the hparams' plain values, references and overrides resolved and nothing
  built (:func:`preview_hparams`), so that a recipe reads its corpus before
  its model is built (and :func:`user_errors` turns a wrong path there into
  one line).

The ``<corpus>_prepare.py`` scripts have their own command line,
:func:`dpda.prepare_cli.prepare_cli`.

Authors
 * dpda contributors 2026
"""

import contextlib
import dataclasses
import difflib
import os
import re
import textwrap
from typing import NamedTuple

import ruamel.yaml
import speechbrain as sb
from hyperpyyaml.core import resolve_references
from speechbrain.utils.run_opts import HELP_TEXTS

from dpda.alignment import ALIGNERS
from dpda.augment.rawboost import ALGORITHMS as RAWBOOST_ALGORITHMS
from dpda.brain import DDP_ALIGN_MODES, DEV_LOSS_MODES, DPDA_MODES, RAWBOOST_POSITIONS
from dpda.cli import usage_error
from dpda.data.pipelines import CROP_MODES, ON_ERROR_MODES
from dpda.models.backends import BACKENDS
from dpda.models.ssl_families import SSL_FAMILIES

EXIT_STATUS = (
    "Exit status: 0 when the run finished; 2 on a usage error (a missing file "
    "or folder, an unknown key, an invalid value, an option that does not "
    "apply), reported on one line before any work; 1 on any other error."
)

#: SpeechBrain's generic options that dpda's Brains replace, and why.
NOT_APPLICABLE_TO_TRAINING = {
    "skip_nonfinite_grads": "a step with non-finite gradients is always skipped "
    "whole and counted; the hparams key max_nonfinite_steps bounds such steps "
    "in a row",
    "nonfinite_patience": "non-finite steps are counted per optimizer step: "
    "set the hparams key max_nonfinite_steps",
    "auto_mix_prec": "deprecated by SpeechBrain: pass --precision=fp16",
    "bfloat16_mix_prec": "deprecated by SpeechBrain: pass --precision=bf16",
}


class HparamsEntry(NamedTuple):
    """A top-level key of an hparams file, as written."""

    key: str
    value: str  # the text after ``key:``, a tag for an object; "" for a block
    comment: str  # the comment on its line and the indented lines under it
    notes: tuple  # the comment lines right above it
    block: bool  # whether indented lines (a mapping, a list) follow


@contextlib.contextmanager
def user_errors(script, *kinds):
    """Turn the exceptions ``kinds`` raised in the block into a usage error.

    For the steps where an exception is the user's mistake (a corpus folder
    that does not hold the corpus, a detector folder without its files):
    one line, exit status 2, no traceback.

    Arguments
    ---------
    script : str
        The command, e.g. ``train.py``.
    *kinds : type
        Exception classes, e.g. ``FileNotFoundError``.

    Example
    -------
    >>> with user_errors("evaluate.py", FileNotFoundError):
    ...     raise FileNotFoundError("In-the-Wild meta.csv not found: /c/meta.csv")
    Traceback (most recent call last):
    ...
    SystemExit: 2
    """
    try:
        yield
    except kinds as error:
        usage_error(script, str(error))


def method_choices():
    """The valid values of the hparams keys that name a method.

    Read from the registries, so a method added there is valid here.

    Returns
    -------
    dict
        ``{key: (what it names, valid values)}``.

    Example
    -------
    >>> method_choices()["dpda_mode"]
    ('DPDA mode', ('split', 'joint'))
    >>> method_choices()["backend"][1]
    ('aasist', 'sls', 'nes2net_x', 'tcm', 'mamba')
    """
    return {
        "aligner": ("aligner", tuple(ALIGNERS)),
        "rawboost_algo": ("RawBoost algorithm", RAWBOOST_ALGORITHMS),
        "dpda_mode": ("DPDA mode", DPDA_MODES),
        "ddp_align": ("DDP alignment", DDP_ALIGN_MODES),
        "backend": ("back end", tuple(BACKENDS)),
        "ssl": ("SSL front end", tuple(SSL_FAMILIES)),
        "on_bad_audio": ("bad-audio mode", ON_ERROR_MODES),
        "train_crop": ("training crop", CROP_MODES),
        "rawboost_position": ("RawBoost position", RAWBOOST_POSITIONS),
        "dev_loss": ("dev loss", DEV_LOSS_MODES),
    }


def check_values(values, choices):
    """Check that each key that names a method names a known one.

    Arguments
    ---------
    values : dict
        Plain hparams values (:func:`preview_hparams`).
    choices : dict
        ``{key: (what it names, valid values)}`` (:func:`method_choices`).

    Raises
    ------
    ValueError
        One line: the key, the value, the valid values, the closest one.

    Example
    -------
    >>> check_values({"aligner": "gradvac"}, method_choices())
    >>> check_values({"backend": "tcn"}, method_choices())
    Traceback (most recent call last):
    ...
    ValueError: --backend=tcn: unknown back end; choose one of: aasist, sls, nes2net_x, tcm, mamba; did you mean tcm?
    """
    for key, (noun, valid) in choices.items():
        if key not in values:
            continue
        value = values[key]
        if key == "aligner":  # as get_aligner reads it: null is none, any case
            value = "none" if value is None else str(value).lower()
        if value in valid and not isinstance(value, bool):
            continue
        names = [str(v) for v in valid]
        message = (
            f"--{key}={values[key]}: unknown {noun}; choose one of: {', '.join(names)}"
        )
        close = difflib.get_close_matches(str(value), names, n=1)
        if close:
            message += f"; did you mean {close[0]}?"
        raise ValueError(message)


def _plain(node):
    """A round-trip YAML node as plain Python; an object's tag as a string."""
    tag = getattr(getattr(node, "tag", None), "value", None)
    if tag and tag.startswith("!"):
        return tag
    if isinstance(node, dict):
        return {str(k): _plain(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_plain(v) for v in node]
    if node is None or isinstance(node, bool):
        return node
    for kind in (int, float, str):
        if isinstance(node, kind):
            return kind(node)
    return node


def preview_hparams(hparams_file, overrides=None):
    """The plain values of an hparams file, overrides applied, nothing built.

    HyperPyYAML builds every object (a model, an SSL front end it downloads)
    when it loads a file; this reads it as HyperPyYAML resolves it first
    (``!ref`` substituted, overrides applied), so a recipe can check its
    arguments and its corpus before any of that.

    Arguments
    ---------
    hparams_file : str
        The hparams file.
    overrides : str or dict, optional
        As from :func:`speechbrain.parse_arguments` (YAML text).

    Returns
    -------
    dict
        ``{key: value}``; a value that is an object (``!new:``, ``!name:``,
        ``!apply:``) is its tag, e.g. ``"!new:dpda.augment.RawBoost"``.

    Raises
    ------
    ValueError
        One line: an override of a key the file does not have (with the
        closest keys), a ``!PLACEHOLDER`` left unset, unreadable overrides.

    Example
    -------
    >>> import os, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "h.yaml")
    >>> _ = open(path, "w").write("aligner: pcgrad\\nout: !ref runs/<aligner>\\n")
    >>> preview_hparams(path, "aligner: gradvac")
    {'aligner': 'gradvac', 'out': 'runs/gradvac'}
    >>> preview_hparams(path, "algner: gradvac")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: unknown key --algner; did you mean --aligner? (...)
    """
    yaml = ruamel.yaml.YAML()
    with open(hparams_file, encoding="utf-8") as fin:
        keys = list(yaml.load(fin) or {})
    try:
        changes = yaml.load(overrides) if isinstance(overrides, str) else overrides
    except ruamel.yaml.YAMLError as error:
        raise ValueError(f"cannot read the overrides as YAML: {error}") from None
    for key in changes or {}:
        if key not in keys:
            raise ValueError(_unknown_key(key, keys, hparams_file))
    try:
        with open(hparams_file, encoding="utf-8") as fin:
            resolved = resolve_references(fin, overrides or None, True)
    except ValueError as error:
        match = re.search(r"'(.+)' is a !PLACEHOLDER", str(error))
        if match is None:
            raise
        raise ValueError(_required(match.group(1), hparams_file)) from None
    except KeyError as error:  # a nested override that does not match
        raise ValueError(str(error.args[0])) from None
    return _plain(yaml.load(resolved))


def _unknown_key(key, keys, hparams_file):
    """The message of an override of a key the file does not have."""
    candidates = [k for k in keys if not k.startswith("__")] + sorted(HELP_TEXTS)
    close = difflib.get_close_matches(str(key), candidates, n=1)
    message = f"unknown key --{key}"
    if close:
        message += "; did you mean " + " or ".join(f"--{c}" for c in close) + "?"
    return message + (
        f" ({hparams_file} has no such key; --help after it lists its keys)"
    )


def _required(key, hparams_file):
    """The message of a ``!PLACEHOLDER`` left unset, with its comment."""
    with open(hparams_file, encoding="utf-8") as fin:
        entries = {e.key: e for e in read_hparams_entries(fin.read())[1]}
    comment = entries[key].comment if key in entries else ""
    what = f" ({comment})" if comment else ""
    return f"--{key} is required{what}: add --{key}=... to the command"


def _split_comment(text):
    """``value  # comment`` as ``(value, comment)``; a quoted ``#`` stays."""
    quote = None
    for i, char in enumerate(text):
        if quote:
            quote = None if char == quote else quote
        elif char in "\"'" and (i == 0 or text[i - 1] in " [{,:"):
            quote = char
        elif char == "#" and (i == 0 or text[i - 1] in " \t"):
            return text[:i].strip(), text[i + 1 :].strip()
    return text.strip(), ""


def _comment_text(line):
    """The text of a comment line, its ``#`` and one space removed."""
    return re.sub(r"^\s*#+ ?", "", line).rstrip()


def read_hparams_entries(text):
    """The header and the top-level keys of an hparams file, as written.

    Arguments
    ---------
    text : str
        The file's text.

    Returns
    -------
    header : list of str
        The comment lines that open the file (banners of ``#`` dropped).
    entries : list of HparamsEntry
        Each top-level key with its value, comment and the notes above it.

    Example
    -------
    >>> header, entries = read_hparams_entries(
    ...     "# A toy.\\n\\n# Training\\nlr: 0.1   # step size\\n"
    ...     "opts:\\n    shuffle: True\\n"
    ... )
    >>> header, entries[0].key, entries[0].value, entries[0].comment
    (['A toy.'], 'lr', '0.1', 'step size')
    >>> entries[0].notes, entries[1].value, entries[1].block
    (('Training',), '', True)
    """
    header, entries, notes = [], [], []
    lines = text.splitlines()
    while lines and lines[0].lstrip().startswith("#"):
        line = _comment_text(lines.pop(0))
        if line.strip("# "):
            header.append(line)
    continuing = False  # indented comment lines continue the key's comment
    for line in lines:
        stripped = line.strip()
        if not stripped:
            notes, continuing = [], False
        elif not line[0].isspace():
            match = re.match(r"([A-Za-z_][\w.-]*)\s*:(?:\s+(.*))?$", line)
            if stripped.startswith("#"):
                notes.append(_comment_text(line))
            elif match:
                value, comment = _split_comment(match.group(2) or "")
                entries.append([match.group(1), value, comment, tuple(notes), False])
                notes, continuing = [], bool(comment)
        elif stripped.startswith("#") and continuing:
            entries[-1][2] += " " + _comment_text(line).strip()
        elif entries:
            entries[-1][4], continuing = True, False
    return header, [HparamsEntry(*entry) for entry in entries]


def format_hparams_help(hparams_file, choices=None):
    """The keys of an hparams file with their values and comments.

    Arguments
    ---------
    hparams_file : str
        The hparams file.
    choices : dict, optional
        ``{key: (what it names, valid values)}`` (default
        :func:`method_choices`): the valid values of the keys it has.

    Returns
    -------
    str

    Example
    -------
    >>> import os, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "h.yaml")
    >>> _ = open(path, "w").write("# Toy.\\naligner: pcgrad  # how\\n")
    >>> print(format_hparams_help(path).replace(path, "h.yaml"))
    h.yaml: Toy.
    <BLANKLINE>
    Keys, their values and comments (override any with --KEY=VALUE):
      aligner  pcgrad  # how
    <BLANKLINE>
    Valid values:
      aligner: none, sum, pcgrad, gradvac, cagrad, mgda, upgrad, dualproj, imtlg, alignedmtl
    """
    with open(hparams_file, encoding="utf-8") as fin:
        header, entries = read_hparams_entries(fin.read())
    entries = [e for e in entries if not e.key.startswith("__")]
    lines = [f"{hparams_file}: {header[0]}" if header else f"{hparams_file}:"]
    lines += [f"  {line}" for line in header[1:]]
    lines += ["", "Keys, their values and comments (override any with --KEY=VALUE):"]
    width = max((len(e.key) for e in entries), default=0)
    for entry in entries:
        lines += [f"  # {note}".rstrip() for note in entry.notes]
        value = (entry.value + " ...").strip() if entry.block else entry.value
        comment = f"  # {entry.comment}" if entry.comment else ""
        lines.append(f"  {entry.key.ljust(width)}  {value}{comment}".rstrip())
    keys = {e.key for e in entries}
    valid = [
        f"  {key}: {', '.join(map(str, values))}"
        for key, (_, values) in (choices or method_choices()).items()
        if key in keys
    ]
    return "\n".join(lines + (["", "Valid values:", *valid] if valid else []))


def _generic_options_help(script, only_flags):
    """What ``--help`` says of SpeechBrain's generic options."""
    if only_flags is not None:
        names = " and ".join(f"--{name}" for name in only_flags)
        return (
            f"Of SpeechBrain's generic options only {names} applies to {script}; "
            "the others are refused."
        )
    usable = sorted(set(HELP_TEXTS) - set(NOT_APPLICABLE_TO_TRAINING))
    text = (
        "SpeechBrain's generic options apply (e.g. --device=cuda:0, "
        "--precision=fp16, --debug, --ckpt_interval_steps=N; "
        "--optimizer_step_limit=N stops after N optimizer steps): "
        + ", ".join(f"--{name}" for name in usable)
        + ". These do not apply and are refused: "
    )
    return text + "; ".join(
        f"--{name} ({why})" for name, why in NOT_APPLICABLE_TO_TRAINING.items()
    )


def recipe_help(
    script, description="", hparams_file=None, choices=None, only_flags=None
):
    """The ``--help`` text of a recipe (and of its hparams file, if given).

    Arguments
    ---------
    script : str
        The command, e.g. ``train.py``.
    description : str
        The recipe's docstring; its first paragraph is shown.
    hparams_file : str, optional
        The hparams file named before ``--help``.
    choices : dict, optional
        The recipe's own ``{key: valid values}`` (e.g. ``corpus``).
    only_flags : tuple of str, optional
        The only SpeechBrain options that apply (default: all but
        :data:`NOT_APPLICABLE_TO_TRAINING`).

    Returns
    -------
    str

    Example
    -------
    >>> text = recipe_help("evaluate.py", "Evaluate a detector.", only_flags=("device",))
    >>> print(text.splitlines()[0])
    usage: python evaluate.py HPARAMS_FILE [--KEY=VALUE ...] [options]
    >>> "only --device applies" in text and "Exit status: 0" in text
    True
    """
    wrap = textwrap.TextWrapper(width=79)
    lines = [f"usage: python {script} HPARAMS_FILE [--KEY=VALUE ...] [options]", ""]
    first = description.strip().split("\n\n")[0]
    if first:
        lines += [wrap.fill(" ".join(first.split())), ""]
    if hparams_file and os.path.isfile(hparams_file):
        lines += [format_hparams_help(hparams_file, _all_choices(choices)), ""]
    else:
        if hparams_file:
            lines.append(f"hparams file not found: {hparams_file}")
        lines += [
            wrap.fill(
                "Put --help after an hparams file to list its keys with their "
                f"values and comments: python {script} hparams/<file>.yaml --help"
            ),
            "",
        ]
    lines += [wrap.fill(_generic_options_help(script, only_flags)), ""]
    return "\n".join(lines + [wrap.fill(EXIT_STATUS)])


def _all_choices(choices):
    """The method registries and a recipe's own ``{key: valid values}``."""
    own = {k: (k.replace("_", " "), tuple(v)) for k, v in (choices or {}).items()}
    return {**method_choices(), **own}


def check_run_options(run_opts, script, only_flags=None):
    """Refuse SpeechBrain options that do not apply; make their types right.

    Arguments
    ---------
    run_opts : speechbrain.utils.run_opts.RunOptions
        From :func:`speechbrain.parse_arguments`.
    script : str
        The command, e.g. ``train.py``.
    only_flags : tuple of str, optional
        The only options that apply (default: all but
        :data:`NOT_APPLICABLE_TO_TRAINING`).

    Returns
    -------
    RunOptions
        With ``optimizer_step_limit`` an ``int`` (SpeechBrain's parser leaves
        it a string, which its Brain then compares with an int).

    Raises
    ------
    ValueError
        One line naming the option and what to do.

    Example
    -------
    >>> from speechbrain.utils.run_opts import RunOptions
    >>> given = RunOptions(optimizer_step_limit="3", overridden_args={"optimizer_step_limit"})
    >>> check_run_options(given, "train.py").optimizer_step_limit
    3
    >>> check_run_options(RunOptions(overridden_args={"debug"}), "evaluate.py", ("device",))
    Traceback (most recent call last):
    ...
    ValueError: --debug does not apply to evaluate.py: of SpeechBrain's options only --device does
    """
    for name in sorted(run_opts.overridden_args):
        if only_flags is not None and name not in only_flags:
            allowed = " and ".join(f"--{flag}" for flag in only_flags)
            raise ValueError(
                f"--{name} does not apply to {script}: of SpeechBrain's options "
                f"only {allowed} does"
            )
        if only_flags is None and name in NOT_APPLICABLE_TO_TRAINING:
            raise ValueError(
                f"--{name} does not apply to {script}: "
                + NOT_APPLICABLE_TO_TRAINING[name]
            )
    limit = run_opts.optimizer_step_limit
    if limit is not None:
        if not re.fullmatch(r"\s*\d+\s*", str(limit)) or int(limit) < 1:
            raise ValueError(
                "--optimizer_step_limit must be a whole number of optimizer "
                f"steps (at least 1), got {limit!r}"
            )
        run_opts = dataclasses.replace(run_opts, optimizer_step_limit=int(limit))
    return run_opts


def parse_recipe_arguments(argv, script, description="", choices=None, only_flags=None):
    """Read a recipe's command line, checking it before any work.

    ``--help`` (or ``-h``) prints :func:`recipe_help` and exits with 0; a
    mistake prints one line and exits with status 2
    (:func:`dpda.cli.usage_error`).

    Arguments
    ---------
    argv : list of str
        The arguments (``sys.argv[1:]``).
    script : str
        The command, e.g. ``train.py``.
    description : str
        The recipe's docstring (its first paragraph is shown by ``--help``).
    choices : dict, optional
        The recipe's own ``{key: valid values}``, e.g. ``{"corpus": (...)}``,
        checked besides :func:`method_choices`.
    only_flags : tuple of str, optional
        The only SpeechBrain options that apply (evaluate.py: ``("device",)``);
        default all but :data:`NOT_APPLICABLE_TO_TRAINING`.

    Returns
    -------
    hparams_file : str
    run_opts : speechbrain.utils.run_opts.RunOptions
    overrides : str
        For ``load_hyperpyyaml``, as :func:`speechbrain.parse_arguments`
        returns them.
    values : dict
        The hparams' plain values (:func:`preview_hparams`).

    Example
    -------
    >>> import os, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "h.yaml")
    >>> _ = open(path, "w").write("aligner: pcgrad\\n")
    >>> _, _, overrides, values = parse_recipe_arguments(
    ...     [path, "--aligner=mgda"], "train.py")
    >>> overrides, values
    ('aligner: mgda', {'aligner': 'mgda'})
    """
    if "-h" in argv or "--help" in argv:
        named = [a for a in argv if not a.startswith("-")]
        text = recipe_help(
            script, description, named[0] if named else None, choices, only_flags
        )
        print(text)
        raise SystemExit(0)
    hparams_file, run_opts, overrides = sb.parse_arguments(argv)
    if not os.path.isfile(hparams_file):
        usage_error(
            script,
            f"hparams file not found: {hparams_file} (the recipe's are in "
            f"hparams/; python {script} hparams/<file>.yaml --help lists its keys)",
        )
    try:
        run_opts = check_run_options(run_opts, script, only_flags)
        values = preview_hparams(hparams_file, overrides)
        check_values(values, _all_choices(choices))
    except ValueError as error:
        usage_error(script, str(error))
    return hparams_file, run_opts, overrides, values
