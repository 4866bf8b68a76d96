"""Export of trained detectors as folders ready for a model hub.

:func:`export_detector` writes a folder that can be uploaded to a hub as is:
``hyperparams.yaml`` (the model definition taken from the training hparams
file, plus the inference keys and a ``Pretrainer``), ``model.ckpt`` (the state
dict) and a ``README.md`` model card. The folder loads with
:meth:`dpda.inference.DeepfakeDetector.from_hparams`.

The model definition is read with :func:`extract_model_hparams`: the training
hparams are parsed without building anything (ruamel.yaml round trip, tags
kept) and only the keys the model references are kept. Keys holding tags that
run code at load time (``!apply:``, ``!include:``, ...) are refused.

Authors
 * dpda contributors 2026
"""

import copy
import io
import json
import logging
import math
import os
import pydoc
import re

import ruamel.yaml
import torch
from hyperpyyaml import load_hyperpyyaml, resolve_references
from hyperpyyaml.core import recursive_update

from dpda.calibration import Calibration
from dpda.decision import DecisionRule
from dpda.inference import LONG_AUDIO_MODES, _as_mapping
from dpda.metrics import ASVSPOOF5_COST_MODEL, bayes_threshold

logger = logging.getLogger(__name__)

# Training-run locations (results/<experiment>/<seed>/...): an exported model
# keeps what it stored there (e.g. the SSL download cache) under ``savedir``.
RUN_FOLDER_KEYS = ("output_folder", "save_folder")
# Tags that run code or need a value at load time: never exported.
FORBIDDEN_TAGS = ("!apply:", "!applyref:", "!include:", "!PLACEHOLDER")
CARD_KEYS = (
    "title",
    "description",
    "training_data",
    "eers",
    "threshold_source",
    "license",
    "source",
    "provenance",
    "training_recipe",
)

_REFERENCE = re.compile(r"<([^<>]*)>")


def _tag(node):
    """The YAML tag of a round-trip node (e.g. ``"!ref"``), ``""`` if none."""
    tag = getattr(node, "tag", None)
    return (getattr(tag, "value", None) or "") if tag is not None else ""


def _walk(node):
    """Yield ``node`` and every node below it."""
    yield node
    if isinstance(node, dict):
        for value in node.values():
            yield from _walk(value)
    elif isinstance(node, list):
        for value in node:
            yield from _walk(value)


def _referenced_keys(node):
    """Top-level keys named by the ``!ref`` / ``!copy`` placeholders in ``node``."""
    keys = []
    for sub in _walk(node):
        if _tag(sub) in ("!ref", "!copy"):
            for ref in _REFERENCE.findall(str(sub.value)):
                # <a[b]> and <a.attr> both need the whole of key a.
                keys.append(re.split(r"[\[.]", ref.strip(), maxsplit=1)[0])
    return keys


def _load_tree(yaml_text, overrides=None):
    """Parse HyperPyYAML text, tags kept and nothing built, then override."""
    tree = ruamel.yaml.YAML().load(yaml_text)
    overrides = _as_mapping(overrides)
    if overrides:
        recursive_update(tree, overrides, must_match=True)
    return tree


def _closure(tree, roots, provided=(), run_folder_keys=(), evaluate=True):
    """Copy the top-level keys that ``roots`` need, following references.

    A key holding ``!apply:`` of a ``dpda`` function (e.g. the hub id or
    the back end chosen by name) is replaced by what it gives: a plain value,
    or the ``!new:`` definition the function declares
    (``function.exported_definition``); any other code-running tag is
    refused. ``evaluate=False`` keeps the tags (to evaluate them).
    """
    run_folders = re.compile(
        "<(" + "|".join(re.escape(k) for k in run_folder_keys) + ")>"
    )
    kept, todo = {}, list(roots)
    while todo:
        key = todo.pop(0)
        if key in kept or key in provided:
            continue
        if key not in tree:
            raise ValueError(f"The hparams reference <{key}>, which is not defined")
        node = copy.deepcopy(tree[key])
        if evaluate and _tag(node).startswith("!apply:dpda."):
            kept[key] = _exported_apply(tree, key)
            todo.extend(_referenced_keys(kept[key]))
            continue
        for sub in _walk(node):
            tag = _tag(sub)
            if tag.startswith(FORBIDDEN_TAGS) and evaluate:
                raise ValueError(
                    f"The model needs '{key}', which holds a {tag} tag: "
                    "override it with a plain value to export"
                )
            if run_folder_keys and tag in ("!ref", "!copy"):
                sub.value = run_folders.sub("<savedir>", sub.value)
        kept[key] = node
        todo.extend(_referenced_keys(node))
    return kept


def _load_closure(tree, key, strip_tag=False):
    """Build ``key`` and what it references (nothing else) with HyperPyYAML;
    ``strip_tag`` loads its arguments instead of calling its function."""
    sub = ruamel.yaml.comments.CommentedMap(_closure(tree, [key], evaluate=False))
    if strip_tag:
        node = sub[key]
        sub[key] = (
            ruamel.yaml.comments.CommentedMap(node)
            if isinstance(node, dict)
            else ruamel.yaml.comments.CommentedSeq(node)
        )
    return load_hyperpyyaml(_dump(sub))[key]


def _exported_apply(tree, key):
    """The exported form of a key holding ``!apply:<dpda function>``."""
    name = _tag(tree[key])[len("!apply:") :]
    function = pydoc.locate(name)
    definition = getattr(function, "exported_definition", None)
    if definition is not None:
        arguments = _load_closure(tree, key, strip_tag=True)
        if isinstance(arguments, dict):
            path, kwargs = definition(**arguments)
        else:
            path, kwargs = definition(*arguments)
        node = ruamel.yaml.comments.CommentedMap(kwargs)
        node.yaml_set_ctag(ruamel.yaml.comments.Tag(suffix=f"!new:{path}"))
        return node
    value = _load_closure(tree, key)
    if value is not None and not isinstance(value, (str, int, float, bool)):
        raise ValueError(
            f"The model needs '{key}', which holds a !apply:{name} tag giving a "
            f"{type(value).__name__}: override it with a plain value to export"
        )
    return value


def _resolve_value(tree, key):
    """The plain value of a top-level key, references resolved."""
    sub = ruamel.yaml.comments.CommentedMap(_closure(tree, [key]))
    text = io.StringIO()
    ruamel.yaml.YAML().dump(sub, text)
    value = ruamel.yaml.YAML().load(resolve_references(text.getvalue()))[key]
    if _tag(value) or isinstance(value, (dict, list)):
        raise ValueError(f"'{key}' must be a plain value, got {value!r}")
    return value


def extract_model_hparams(
    yaml_text,
    model_key="model",
    overrides=None,
    run_folder_keys=RUN_FOLDER_KEYS,
    provided=("savedir",),
):
    """Keep only the top-level hparams a model definition needs.

    The HyperPyYAML text is parsed with ruamel.yaml round trip (tags kept,
    nothing instantiated), ``overrides`` are applied as HyperPyYAML does, and
    the keys reachable from ``model_key`` through ``!ref`` / ``!copy``
    placeholders (``<a>``, ``<a[b]>``, ``<a>/<b>``, ...) are kept, in their
    order in the file. References to the training-run folders
    (``run_folder_keys``) become ``<savedir>``, so that paths such as an SSL
    download cache follow the inference ``savedir`` instead of pulling the
    experiment name and seed in.

    Arguments
    ---------
    yaml_text : str
        The training hparams, as text.
    model_key : str
        The key of the model definition.
    overrides : dict or str, optional
        Overrides, as for ``load_hyperpyyaml`` (must match existing keys).
    run_folder_keys : tuple of str
        Keys of training-run folders to re-root under ``<savedir>``.
    provided : tuple of str
        Keys the caller defines itself; references to them are kept as is.

    Returns
    -------
    ruamel.yaml.comments.CommentedMap
        The kept keys with their (tagged) values.

    Raises
    ------
    ValueError
        If a kept key holds ``!apply:``, ``!applyref:``, ``!include:`` or
        ``!PLACEHOLDER``, or a reference has no key.

    Example
    -------
    >>> text = '''
    ... seed: 3
    ... __set_seed: !apply:torch.manual_seed [!ref <seed>]
    ... output_folder: !ref results/<seed>
    ... width: 8
    ... cache: !ref <output_folder>/cache
    ... model: !new:torch.nn.Linear
    ...     in_features: !ref <width>
    ...     out_features: !ref <width> * 2
    ... '''
    >>> kept = extract_model_hparams(text, overrides={"width": 4})
    >>> list(kept), kept["width"]
    (['width', 'model'], 4)
    >>> extract_model_hparams(text, model_key="cache")["cache"].value
    '<savedir>/cache'
    """
    tree = _load_tree(yaml_text, overrides)
    kept = _closure(tree, [model_key], provided, run_folder_keys)
    subset = ruamel.yaml.comments.CommentedMap()
    for key in tree:
        if key in kept:
            subset[key] = kept[key]
    return subset


def _dump(tree):
    """YAML text of a round-trip tree, indented as the hparams files."""
    yaml = ruamel.yaml.YAML()
    yaml.indent(mapping=4, sequence=4, offset=2)
    text = io.StringIO()
    yaml.dump(tree, text)
    return text.getvalue()


def _warn_local_paths(subset):
    """Warn about absolute local paths, which tie the export to this machine."""
    for node in _walk(subset):
        if isinstance(node, str) and os.path.isabs(node) and os.path.exists(node):
            logger.warning(
                "The exported hyperparams.yaml names the local path %s: the folder "
                "only loads where that path exists (override it, e.g. with a hub id)",
                node,
            )


def _threshold_row(threshold, card, rule):
    """The model card's words on the stored score ``threshold``: recorded,
    never a label by itself (no verdict without calibration)."""
    text = f"{threshold:.6g}"
    if card.get("threshold_source"):
        text += f" ({card['threshold_source']})"
    if rule.calibration is None:
        return text + (
            ": recorded, not a decision rule: uncalibrated, the detector "
            "labels no recording (`uncalibrated`) unless a threshold is "
            "passed (`classify_file(..., threshold=...)`, `dpda-detect "
            "--threshold`), e.g. this one"
        )
    side = ">=" if rule.calibration.scale > 0 else "<="  # a falling map flips it
    return text + (
        ": not used for labels, which follow the decision rule above "
        f"(on raw scores: bona fide when score {side} {rule.threshold:.6g})"
    )


def _model_card(name, card, hparams_file, model_class, n_params, inference, rule):
    """The README.md of an exported detector; ``rule`` is its
    :class:`dpda.decision.DecisionRule`, stated as the detector states it."""
    unknown = set(card) - set(CARD_KEYS)
    if unknown:
        raise ValueError(f"Unknown model card keys {sorted(unknown)}; use {CARD_KEYS}")
    title = card.get("title", name)
    description = card.get(
        "description",
        "A speech deepfake detector (spoofing countermeasure) trained with the "
        "dpda recipes (dual-path data-augmented training with gradient alignment).",
    )
    rows = _card_rows(card, hparams_file, model_class, n_params, inference, rule)
    lines = [*_card_front(card), "", f"# {title}", "", description, "", "| | |"]
    lines += ["|---|---|", *(f"| {k} | {v} |" for k, v in rows)]
    if card.get("eers"):
        lines += ["", "## Results", "", "| Evaluation set | EER (%) |", "|---|---|"]
        lines += [f"| {k} | {float(v):.2f} |" for k, v in card["eers"].items()]
    source = card.get("source", "<hub id, or the path of this folder>")
    return "\n".join(lines + _card_usage(name, source))


def _card_front(card):
    """The model card's YAML front matter, which hubs read."""
    front = ["---", "library_name: speechbrain"]
    if card.get("license"):
        front.append(f"license: {card['license']}")
    front += [
        "tags:",
        "- speechbrain",
        "- anti-spoofing",
        "- speech-deepfake-detection",
        "- audio-classification",
        "---",
    ]
    return front


def _card_rows(card, hparams_file, model_class, n_params, inference, rule):
    """The ``(name, value)`` rows of the model card's table."""
    threshold = _threshold_row(inference["threshold"], card, rule)
    calibration = inference.get("calibration")
    hparams_name = f"`{os.path.basename(hparams_file)}`"
    if card.get("training_recipe"):
        # Imported weights: the hparams file only defines the model they
        # were loaded into; say so, and name how they were really trained.
        recipe = [
            ("Training recipe", card["training_recipe"]),
            (
                "Model/export hparams",
                f"{hparams_name} (the model definition the weights were "
                "loaded into and exported with, not their training recipe)",
            ),
        ]
    else:
        recipe = [("Training hparams", hparams_name)]
    return [
        ("Training data", card.get("training_data", "not stated")),
        *([("Provenance", card["provenance"])] if card.get("provenance") else []),
        *recipe,
        (
            "Model",
            f"`{model_class}`"
            + (f", {n_params / 1e6:.2f} M parameters" if n_params else ""),
        ),
        (
            "Sample rate",
            f"{inference['sample_rate']} Hz (files are resampled, mixed to mono)",
        ),
        (
            "Input",
            f"{inference['window_samples']} samples per window (`long_audio: {inference['long_audio']}`)",
        ),
        ("Score", "bona fide logit: higher = more bona fide"),
        ("Decision rule", rule.text),
        ("Score threshold (`threshold`)", threshold),
        (
            "Calibration",
            (
                f"LLR = {calibration['scale']:.6g} x score "
                f"{calibration['offset']:+.6g} (fitted on "
                f"{calibration['fitted_on']}, effective prior of "
                f"bona fide {calibration['prior']:.3f}); "
                "`classify_file` returns the LLR, the posterior and the label "
                "of the decision rule above"
            )
            if calibration
            else "none: scores are uncalibrated logits, so no probability "
            "and no label is given (`uncalibrated`) unless a threshold on "
            "raw scores is passed",
        ),
    ]


def _card_usage(name, source):
    """The model card's usage and safety sections, as lines."""
    return [
        "",
        "## Usage",
        "",
        "Needs the `dpda` package (which provides the model classes) and SpeechBrain.",
        "",
        "```python",
        "from dpda.inference import DeepfakeDetector",
        "",
        "detector = DeepfakeDetector.from_hparams(",
        f'    source="{source}",',
        f'    savedir="pretrained_models/{name}",',
        '    revision="<full commit hash you reviewed>",  # for a hub source',
        ")",
        'print(detector.classify_file("speech.wav"))  # score, label, rule_text',
        'scores = detector.score_files(["a.wav", "b.wav"])  # bona fide logits',
        "```",
        "",
        "By default a file is scored on its first window, short files tiled by "
        "repetition, exactly as in the training-time evaluation. For long "
        'recordings, `overrides={"long_audio": "windows"}` averages the score '
        "over windows (hop `window_hop`) covering the whole file.",
        "",
        "## Safety",
        "",
        "`hyperparams.yaml` is executed as Python when loaded: HyperPyYAML tags "
        "such as `!new:` build arbitrary objects. `DeepfakeDetector.from_hparams` "
        "therefore refuses a hub source unless `revision` pins a full commit "
        "hash (read the file at that commit first) or `trust_remote_code=True` "
        "is passed. `model.ckpt` is a plain state dict, loaded with "
        "`torch.load(weights_only=True)`: it cannot run code.",
        "",
    ]


def export_detector(
    out_dir,
    hparams_file,
    model,
    threshold,
    overrides=None,
    *,
    model_key="model",
    calibration=None,
    cost_model=None,
    window_samples=None,
    window_key="eval_max_samples",
    long_audio="first",
    window_hop=None,
    card=None,
    run_folder_keys=RUN_FOLDER_KEYS,
):
    """Write a trained detector as a folder ready for a model hub.

    The folder holds ``hyperparams.yaml``, ``model.ckpt`` and ``README.md``
    and loads with ``DeepfakeDetector.from_hparams(source=out_dir)``. The
    model definition is not written twice: it is the part of the training
    hparams file (after ``overrides``) that ``model_key`` references, see
    :func:`extract_model_hparams`; data paths, seeds, optimisers and the
    like are left out. ``model.ckpt`` is read from the folder the
    ``hyperparams.yaml`` comes from, whatever the working directory.

    Arguments
    ---------
    out_dir : str
        Folder to write (created if needed; files in it are replaced).
    hparams_file : str
        The training hparams file.
    model : torch.nn.Module or dict
        The trained model (e.g. ``hparams["model"]`` after recovering the
        best checkpoint), or its state dict.
    threshold : float
        Threshold on the bona fide logit, e.g. the EER threshold on the
        development set (``dpda.metrics.compute_eer``), recorded in the
        folder; no label comes from it (see
        :class:`dpda.decision.DecisionRule`: labels need ``calibration``,
        or a threshold passed at inference).
    overrides : dict or str, optional
        The overrides used for training (e.g. ``ssl_hub``, ``ssl_dim``).
    model_key : str
        Key of the model definition in the hparams.
    calibration : dpda.calibration.Calibration or dict, optional
        The map from scores to LLRs (fitted on dev); without it the detector
        says it is not calibrated.
    cost_model : dict, optional
        ``p_spoof``, ``c_miss``, ``c_fa`` of the detector's Bayes decisions;
        default ASVspoof 5's (0.05, 1, 10).
    window_samples : int, optional
        Samples per scored window; default: the value of ``window_key``.
    window_key : str
        Hparams key of the training-time evaluation crop length.
    long_audio : str
        Default long-file mode, ``"first"`` (parity with the training-time
        evaluation) or ``"windows"``; see
        :class:`dpda.inference.DeepfakeDetector`.
    window_hop : int, optional
        Hop between windows in ``windows`` mode; default ``window_samples``.
    card : dict, optional
        Model card entries: ``title``, ``description``, ``training_data``,
        ``eers`` (``{evaluation set: EER in %}``), ``threshold_source``,
        ``license``, ``source`` (the hub id to show in the usage snippet),
        ``provenance`` (where the weights come from) and
        ``training_recipe`` (how weights trained elsewhere were trained:
        the card then calls ``hparams_file`` the model/export hparams, not
        the training hparams).
    run_folder_keys : tuple of str
        Training-run folder keys re-rooted under the inference ``savedir``.

    Returns
    -------
    str
        ``out_dir``.

    Example
    -------
    >>> import tempfile, pathlib
    >>> tmp = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (tmp / "train.yaml").write_text(
    ...     "seed: 1\\nsample_rate: 16000\\neval_max_samples: 4000\\n"
    ...     "model: !new:dpda.models.raw_cnn.RawCNN\\n"
    ...     "    channels: [8, 8]\\n    kernel_size: 33\\n"
    ... )
    >>> from dpda.models.raw_cnn import RawCNN
    >>> folder = export_detector(
    ...     str(tmp / "detector"), str(tmp / "train.yaml"),
    ...     RawCNN(channels=[8, 8], kernel_size=33), threshold=0.5,
    ... )
    >>> sorted(os.listdir(folder))
    ['README.md', 'hyperparams.yaml', 'model.ckpt']
    >>> from dpda.inference import DeepfakeDetector
    >>> detector = DeepfakeDetector.from_hparams(folder, savedir=str(tmp / "sd"))
    >>> detector.hparams.window_samples, detector.hparams.threshold
    (4000, 0.5)
    """
    if long_audio not in LONG_AUDIO_MODES:
        raise ValueError(f"long_audio must be one of {LONG_AUDIO_MODES}")
    threshold = float(threshold)
    if not math.isfinite(threshold):
        raise ValueError(f"threshold must be finite, got {threshold}")
    with open(hparams_file, encoding="utf-8") as fin:
        text = fin.read()
    tree = _load_tree(text, overrides)
    subset = extract_model_hparams(
        text, model_key, overrides, run_folder_keys, provided=("savedir", "sample_rate")
    )
    if window_samples is None:
        window_samples = _window_samples(tree, window_key, hparams_file)
    inference = _inference_keys(
        tree, threshold, window_samples, long_audio, window_hop, calibration
    )
    calibration = Calibration.from_dict(inference["calibration"])
    cost_model = {**ASVSPOOF5_COST_MODEL, **(cost_model or {})}
    bayes_threshold(**cost_model)  # checks the costs
    if min(inference["window_samples"], inference["window_hop"]) < 1:
        raise ValueError("window_samples and window_hop must be >= 1")
    _warn_local_paths(subset)

    name = os.path.basename(os.path.normpath(os.path.abspath(out_dir)))
    hparams_text = _hparams_text(
        name, hparams_file, inference, cost_model, subset, model_key
    )
    ruamel.yaml.YAML().load(hparams_text)  # fail here rather than at load time

    is_module = isinstance(model, torch.nn.Module)
    state_dict = model.state_dict() if is_module else model
    state_dict = {k: v.detach().cpu() for k, v in state_dict.items()}
    n_params = sum(p.numel() for p in model.parameters()) if is_module else None
    model_class = _tag(subset[model_key]).split(":", 1)[-1] or model_key

    os.makedirs(out_dir, exist_ok=True)
    with open(os.path.join(out_dir, "hyperparams.yaml"), "w", encoding="utf-8") as f:
        f.write(hparams_text)
    torch.save(state_dict, os.path.join(out_dir, "model.ckpt"))
    rule = DecisionRule(None, calibration, cost_model)
    readme = _model_card(
        name, card or {}, hparams_file, model_class, n_params, inference, rule
    )
    with open(os.path.join(out_dir, "README.md"), "w", encoding="utf-8") as f:
        f.write(readme)
    logger.info("Exported the detector to %s", out_dir)
    return out_dir


def _window_samples(tree, window_key, hparams_file):
    """The training-time evaluation crop length, ``window_key``'s value."""
    if window_key not in tree:
        raise ValueError(f"No '{window_key}' in {hparams_file}: pass window_samples")
    window_samples = _resolve_value(tree, window_key)
    if window_samples is None:
        raise ValueError(
            f"'{window_key}' is null (whole files were scored): pass window_samples"
        )
    return window_samples


def _inference_keys(
    tree, threshold, window_samples, long_audio, window_hop, calibration
):
    """The inference keys of an exported ``hyperparams.yaml``, as plain
    values (``calibration``: a dict with its keys checked, or ``None``)."""
    window_hop = window_samples if window_hop is None else window_hop
    if isinstance(calibration, Calibration):
        calibration = calibration.to_dict()
    calibration = Calibration.from_dict(calibration)  # checks the keys
    return {
        "calibration": calibration.to_dict() if calibration else None,
        "sample_rate": int(_resolve_value(tree, "sample_rate")),
        "threshold": threshold,
        "window_samples": int(window_samples),
        "long_audio": long_audio,
        "window_hop": int(window_hop),
    }


def _hparams_text(name, hparams_file, inference, cost_model, subset, model_key):
    """The exported ``hyperparams.yaml``: the inference keys, then the model
    definition ``subset`` and the ``Pretrainer`` that loads ``model.ckpt``."""
    calibration = inference["calibration"]
    lines = [
        "# " + "#" * 76,
        f"# Speech deepfake detector exported by dpda from {os.path.basename(hparams_file)}.",
        "# Load it with dpda.inference.DeepfakeDetector.from_hparams(source=...).",
        "# Scores are the bona fide logit (higher = more bona fide).",
        "# " + "#" * 76,
        "",
        "# Inference",
        f"sample_rate: {inference['sample_rate']}",
        f"threshold: {inference['threshold']!r}   # on raw scores, recorded: labels come from the calibration (none without it unless a threshold is passed)",
        f"window_samples: {inference['window_samples']}   # training-time evaluation crop",
        f"long_audio: {inference['long_audio']}   # first: first window, short files tiled (as in training-time evaluation); windows: mean over windows",
        f"window_hop: {inference['window_hop']}   # hop of the windows mode",
        "# LLR = scale * score + offset, fitted on dev (dpda.calibration); null: not calibrated",
        "calibration: " + (json.dumps(calibration) if calibration else "null"),
        "# Bayes decisions on calibrated scores: P(spoof), cost of a miss, of a false alarm",
        f"cost_model: {json.dumps(cost_model)}",
    ]
    if "savedir" in _referenced_keys(subset):
        lines.append(
            f"savedir: pretrained_models/{name}   # set by from_hparams(savedir=...)"
        )
    lines += [
        "",
        f"# Model: the keys of {os.path.basename(hparams_file)} that <{model_key}> needs",
        _dump(subset).rstrip("\n"),
        "",
        "modules:",
        f"    model: !ref <{model_key}>",
        "",
        "# model.ckpt is fetched from the source folder or hub repository, and read",
        "# with torch.load(weights_only=True) and a strict load_state_dict.",
        "pretrainer: !new:speechbrain.utils.parameter_transfer.Pretrainer",
        "    loadables:",
        f"        model: !ref <{model_key}>",
        "    custom_hooks:",
        "        model: !name:dpda.inference.load_weights_only",
        "",
    ]
    return "\n".join(lines)
