"""Load released checkpoints into our models: the authors' SSL classifiers, raw AASIST.

The released SSL-AASIST, TCM and DPDA checkpoints are ``state_dict()`` files
of a model holding a fairseq XLS-R under ``ssl_model.model.`` (fairseq
wav2vec 2.0 module names, fairseq commit a54021305) followed by the back end
(``LL.*``, ``first_bn.*``, ``encoder.*`` ... or ``conformer.*``). Our model is
``SSLClassifier(ssl=<SpeechBrain Wav2Vec2>, backend=<AASIST or
ConformerTCM>)``, whose keys are ``<prefix>model.<HF Wav2Vec2Model key>`` for
the front end (``ssl.model.`` for a bare SpeechBrain Wav2Vec2,
``ssl.ssl.model.`` inside :class:`dpda.models.ssl.WeightedSSL`) and
``backend.<key>`` for the back end, whose names mirror the authors'.
Their XLSR-Mamba models (``--model mamba``) hold ``LL.*``, ``first_bn.*``
and the mamba_ssm names under ``conformer.`` (``forward_layers.N.mixer.A_log``,
``backward_layers.N.norm.weight``, ``norm_f.weight``, ``f_attention_pool.*``
...), which :class:`dpda.models.mamba.XLSRMamba` has: no rule is needed.

The fairseq -> HuggingFace names are listed in :data:`FAIRSEQ_TO_HF_WAV2VEC2`;
pretraining-only fairseq modules (quantizer, projections of the contrastive
task) are dropped, and reported as such.

To reproduce the authors' scores, the HuggingFace folder given to the
front end needs the XLS-R 300M config (stable layer norm, layer norm in every
feature-encoder convolution), and the front end must see the raw waveform as
fairseq does: SpeechBrain's Wav2Vec2 normalises it when the folder's
feature extractor says ``do_normalize`` (the hub's XLS-R does), so the paper
hparams pin ``normalize_wav: False`` (:class:`dpda.models.ssl.HFWav2Vec2`),
and :func:`normalising_front_ends` finds a front end that would not.

The back-end keys keep their names under ``backend.``. The SLS checkpoint
(QiShanZhang/SLSforASVspoof-2021-DF) holds ``fc0.*``, ``first_bn.*``,
``fc1.*``, ``fc3.*`` next to ``ssl_model.model.*``: they become
``backend.fc0.weight`` ... for :class:`dpda.models.sls.SLS`, whose front
end gives all the hidden states (its layer outputs are fairseq's
``layer_results``). The Nes2Net-X checkpoints (Liu-Tianchi/Nes2Net_ASVspoof_ITW)
nest the back end under ``Nested_Res2Net_TDNN.``: a back end with an
``AUTHORS_PREFIX`` class attribute (:class:`dpda.models.nes2net.Nes2NetX`)
has that prefix taken off first, so ``Nested_Res2Net_TDNN.bn.weight``
becomes ``backend.bn.weight``.

Released raw-waveform AASIST models (clovaai/aasist, the ASVspoof 5
baseline) need no mapping: :class:`dpda.models.raw_aasist.RawAASIST` has
their key names, and :func:`map_authors_state_dict` checks every key and
shape all the same.

Authors
 * dpda contributors 2026
"""

import os
import pickle
import re
from dataclasses import dataclass, field

import torch

#: Ordered (pattern, replacement) rules from fairseq ``Wav2Vec2Model`` keys to
#: HuggingFace ``Wav2Vec2Model`` keys; the first matching rule wins.
FAIRSEQ_TO_HF_WAV2VEC2 = [
    # Feature encoder: Sequential(conv, dropout, norm, GELU). In layer_norm
    # mode (XLS-R) the norm is Sequential(TransposeLast, LayerNorm,
    # TransposeLast), hence ".2.1"; in default mode only layer 0 has a
    # GroupNorm, directly at ".2".
    (
        r"^feature_extractor\.conv_layers\.(\d+)\.0\.",
        r"feature_extractor.conv_layers.\1.conv.",
    ),
    (
        r"^feature_extractor\.conv_layers\.(\d+)\.2\.1\.",
        r"feature_extractor.conv_layers.\1.layer_norm.",
    ),
    (
        r"^feature_extractor\.conv_layers\.0\.2\.(weight|bias)$",
        r"feature_extractor.conv_layers.0.layer_norm.\1",
    ),
    # Layer norm of the CNN features and projection to the model dimension.
    (r"^layer_norm\.", "feature_projection.layer_norm."),
    (r"^post_extract_proj\.", "feature_projection.projection."),
    (r"^mask_emb$", "masked_spec_embed"),
    # Convolutional positional embedding: Sequential(weight-normed conv,
    # SamePad, GELU); weight_g / weight_v are renamed to the target's
    # weight-norm flavour afterwards.
    (r"^encoder\.pos_conv\.0\.", "encoder.pos_conv_embed.conv."),
    (r"^encoder\.layer_norm\.", "encoder.layer_norm."),
    (
        r"^encoder\.layers\.(\d+)\.self_attn\.(k|q|v|out)_proj\.",
        r"encoder.layers.\1.attention.\2_proj.",
    ),
    (
        r"^encoder\.layers\.(\d+)\.self_attn_layer_norm\.",
        r"encoder.layers.\1.layer_norm.",
    ),
    (
        r"^encoder\.layers\.(\d+)\.fc1\.",
        r"encoder.layers.\1.feed_forward.intermediate_dense.",
    ),
    (
        r"^encoder\.layers\.(\d+)\.fc2\.",
        r"encoder.layers.\1.feed_forward.output_dense.",
    ),
    (
        r"^encoder\.layers\.(\d+)\.final_layer_norm\.",
        r"encoder.layers.\1.final_layer_norm.",
    ),
]

#: fairseq keys used only by the contrastive pretraining task.
FAIRSEQ_PRETRAINING_ONLY = [
    r"^quantizer\.",
    r"^input_quantizer\.",
    r"^project_q\.",
    r"^project_inp\.",
    r"^final_proj\.",
    r"^target_glu\.",
]

# Target keys that a fine-tuning model may lack (HF creates the mask
# embedding only when SpecAugment-style masking is configured).
_OPTIONAL_TARGETS = ["masked_spec_embed"]

# Weight-norm parameter names: old torch.nn.utils.weight_norm and the
# parametrizations flavour of recent transformers.
_WEIGHT_NORM = {
    "weight_g": "parametrizations.weight.original0",
    "weight_v": "parametrizations.weight.original1",
}

_HF_ANCHOR = "feature_extractor.conv_layers.0.conv.weight"


@dataclass
class MappingReport:
    """What :func:`map_authors_state_dict` did with each key.

    Attributes
    ----------
    mapped : dict
        Source key -> target key.
    dropped : list of str
        Source keys left out on purpose (pretraining-only modules, or a
        mask embedding the target model does not have).
    unmapped : list of str
        Source keys with no rule or whose mapped name is not in the target.
    missing : list of str
        Target keys that no source key fills.
    shape_mismatches : list of tuple
        ``(target key, source shape, target shape)``.
    """

    mapped: dict = field(default_factory=dict)
    dropped: list = field(default_factory=list)
    unmapped: list = field(default_factory=list)
    missing: list = field(default_factory=list)
    shape_mismatches: list = field(default_factory=list)

    @property
    def ok(self):
        """True when every key maps one-to-one with matching shapes."""
        return not (self.unmapped or self.missing or self.shape_mismatches)

    def describe(self, limit=20):
        """Human-readable summary, listing at most ``limit`` keys per kind."""
        lines = [
            f"{len(self.mapped)} mapped, {len(self.dropped)} dropped, "
            f"{len(self.unmapped)} unexpected, {len(self.missing)} missing, "
            f"{len(self.shape_mismatches)} shape mismatches"
        ]
        kinds = (
            ("unexpected (no target)", self.unmapped),
            ("missing (no source)", self.missing),
            ("shape mismatch (key, source, target)", self.shape_mismatches),
        )
        for title, items in kinds:
            if items:
                lines.append(f"{title}:")
                lines += [f"  {item}" for item in items[:limit]]
                if len(items) > limit:
                    lines.append(f"  ... and {len(items) - limit} more")
        return "\n".join(lines)


def fairseq_to_hf_key(key):
    """HuggingFace Wav2Vec2Model name of a fairseq wav2vec 2.0 key.

    Arguments
    ---------
    key : str
        fairseq key, without the ``ssl_model.model.`` prefix.

    Returns
    -------
    str or None
        The HuggingFace key (``weight_g``/``weight_v`` kept as such), or
        ``None`` when no rule applies.

    Example
    -------
    >>> fairseq_to_hf_key("encoder.layers.3.self_attn.q_proj.weight")
    'encoder.layers.3.attention.q_proj.weight'
    >>> fairseq_to_hf_key("feature_extractor.conv_layers.6.2.1.bias")
    'feature_extractor.conv_layers.6.layer_norm.bias'
    >>> fairseq_to_hf_key("encoder.pos_conv.0.weight_g")
    'encoder.pos_conv_embed.conv.weight_g'
    >>> fairseq_to_hf_key("quantizer.vars") is None
    True
    """
    for pattern, replacement in FAIRSEQ_TO_HF_WAV2VEC2:
        new, n = re.subn(pattern, replacement, key)
        if n:
            return new
    return None


def _weight_norm_flavour(key, target_keys):
    """Rename weight-norm parameters to the flavour the target model uses."""
    for old, new in _WEIGHT_NORM.items():
        for a, b in ((old, new), (new, old)):
            if key.endswith("." + a):
                other = key[: -len(a)] + b
                if key not in target_keys and other in target_keys:
                    return other
    return key


def _find_hf_prefix(target_keys):
    """Prefix of the HuggingFace wav2vec 2.0 in our keys; ``None`` without one."""
    for key in target_keys:
        if key.endswith(_HF_ANCHOR):
            return key[: -len(_HF_ANCHOR)]
    return None


def map_authors_state_dict(
    state_dict, model, ssl_prefix="ssl_model.model.", backend_prefix="backend."
):
    """Rename the authors' state dict to the keys of our model.

    Arguments
    ---------
    state_dict : dict
        The authors' state dict (a leading ``module.`` from DataParallel is
        stripped).
    model : torch.nn.Module
        Our model, e.g. ``SSLClassifier(Wav2Vec2(...), AASIST())``; its
        wav2vec 2.0 prefix is found from its keys.
    ssl_prefix : str
        Prefix of the fairseq model in the authors' keys.
    backend_prefix : str
        Prefix of the back end in our model; the authors' other keys are
        prepended with it, after removing the back end's ``AUTHORS_PREFIX``
        (a class attribute of ``model.backend``, e.g.
        ``"Nested_Res2Net_TDNN."`` for Nes2Net-X) when they start with it.
        A model without a wav2vec 2.0 front end (e.g.
        :class:`dpda.models.raw_aasist.RawAASIST`) takes the keys as they
        are: its names are the released ones.

    Returns
    -------
    new_state_dict : dict
        Tensors under our key names (only keys that exist in the model).
    report : MappingReport
        Mapped, dropped, unexpected and missing keys, shape mismatches.

    Example
    -------
    >>> from torch import nn
    >>> conv = nn.ModuleDict({"conv": nn.Conv1d(1, 2, 3)})
    >>> fe = nn.ModuleDict({"conv_layers": nn.ModuleList([conv])})
    >>> model = nn.ModuleDict({
    ...     "ssl": nn.ModuleDict({"model": nn.ModuleDict({"feature_extractor": fe})}),
    ...     "backend": nn.ModuleDict({"LL": nn.Linear(2, 2)}),
    ... })
    >>> authors = {
    ...     "ssl_model.model.feature_extractor.conv_layers.0.0.weight": torch.ones(2, 1, 3),
    ...     "ssl_model.model.feature_extractor.conv_layers.0.0.bias": torch.ones(2),
    ...     "ssl_model.model.quantizer.vars": torch.ones(1, 4, 2),
    ...     "LL.weight": torch.ones(2, 2),
    ... }
    >>> new, report = map_authors_state_dict(authors, model)
    >>> sorted(new)
    ['backend.LL.weight', 'ssl.model.feature_extractor.conv_layers.0.conv.bias', 'ssl.model.feature_extractor.conv_layers.0.conv.weight']
    >>> report.dropped, report.missing, report.ok
    (['ssl_model.model.quantizer.vars'], ['backend.LL.bias'], False)
    """
    target = model.state_dict()
    target_keys = set(target)
    hf_prefix = _find_hf_prefix(target_keys)
    if hf_prefix is None:  # a whole released model: its own key names
        ssl_prefix, backend_prefix = None, ""
    # Where the authors nest their back end one level down (Nes2Net-X).
    authors_prefix = getattr(getattr(model, "backend", None), "AUTHORS_PREFIX", "")
    if state_dict and all(k.startswith("module.") for k in state_dict):
        state_dict = {k[len("module.") :]: v for k, v in state_dict.items()}

    report = MappingReport()
    new_state_dict = {}
    for key, value in state_dict.items():
        if ssl_prefix and key.startswith(ssl_prefix):
            fairseq_key = key[len(ssl_prefix) :]
            if any(re.search(p, fairseq_key) for p in FAIRSEQ_PRETRAINING_ONLY):
                report.dropped.append(key)
                continue
            hf_key = fairseq_to_hf_key(fairseq_key)
            if hf_key is None:
                report.unmapped.append(key)
                continue
            new_key = _weight_norm_flavour(hf_prefix + hf_key, target_keys)
            if new_key not in target_keys and hf_key in _OPTIONAL_TARGETS:
                report.dropped.append(key)
                continue
        elif authors_prefix and key.startswith(authors_prefix):
            new_key = backend_prefix + key[len(authors_prefix) :]
        else:
            new_key = backend_prefix + key
        if new_key not in target_keys:
            report.unmapped.append(key)
            continue
        if tuple(value.shape) != tuple(target[new_key].shape):
            report.shape_mismatches.append(
                (new_key, tuple(value.shape), tuple(target[new_key].shape))
            )
            continue
        report.mapped[key] = new_key
        new_state_dict[new_key] = value
    filled = set(report.mapped.values()) | {k for k, _, _ in report.shape_mismatches}
    report.missing = sorted(target_keys - filled)
    return new_state_dict, report


def read_authors_checkpoint(path):
    """Read a released checkpoint (a plain state dict) without running code.

    Arguments
    ---------
    path : str
        The ``.pth`` file.

    Returns
    -------
    dict
        The state dict, read with ``torch.load(weights_only=True)`` onto the
        CPU (released files often hold CUDA tensors).

    Raises
    ------
    FileNotFoundError
        When ``path`` is not a file.
    ValueError
        When it is not a PyTorch file, is truncated, holds pickled objects
        other than tensors (refused: unpickling them could run code), or
        does not hold a state dict of tensors.

    Example
    -------
    >>> read_authors_checkpoint("no/such/file.pth")
    Traceback (most recent call last):
    ...
    FileNotFoundError: checkpoint not found: no/such/file.pth
    """
    if not os.path.isfile(path):
        raise FileNotFoundError(f"checkpoint not found: {path}")
    try:
        state_dict = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as error:
        if "unsupported global" in str(error).lower():
            raise ValueError(
                f"{path} holds pickled objects other than tensors; refused, "
                "since unpickling them could run code (a checkpoint must be "
                "a plain state dict)"
            ) from None
        detail = str(error).split("WeightsUnpickler error:")[-1].strip().splitlines()[0]
        raise ValueError(
            f"{path} is not a PyTorch checkpoint (or is truncated): {detail}"
        ) from None
    except RuntimeError as error:
        if "zip archive" in str(error) or "central directory" in str(error):
            raise ValueError(
                f"{path} is truncated or corrupt (not a complete PyTorch zip "
                f"archive: {str(error).splitlines()[0]})"
            ) from None
        raise
    except (EOFError, KeyError, UnicodeDecodeError) as error:
        raise ValueError(
            f"{path} is not a PyTorch checkpoint (or is truncated): "
            f"{type(error).__name__} {error}"
        ) from None
    if not isinstance(state_dict, dict) or not all(
        isinstance(v, torch.Tensor) for v in state_dict.values()
    ):
        raise ValueError(f"{path} is not a state dict of tensors")
    return state_dict


def normalising_front_ends(model):
    """Names of the submodules that normalise the waveform before the model.

    Arguments
    ---------
    model : torch.nn.Module
        Our classifier.

    Returns
    -------
    list of str
        Submodules (SpeechBrain wav2vec 2.0 wrappers) whose
        ``normalize_wav`` is true: they would not see the authors' raw input.

    Example
    -------
    >>> module = torch.nn.Module()
    >>> module.normalize_wav = True
    >>> normalising_front_ends(torch.nn.Sequential(module))
    ['0']
    """
    return [
        name
        for name, module in model.named_modules()
        if getattr(module, "normalize_wav", False)
    ]


def load_authors_checkpoint(path, model, strict=True, **kwargs):
    """Load a released checkpoint of the authors into our model.

    Arguments
    ---------
    path : str or dict
        The ``.pth`` file (a plain state dict, read with
        :func:`read_authors_checkpoint`), or the state dict itself.
    model : torch.nn.Module
        Our model (see :func:`map_authors_state_dict`).
    strict : bool
        Raise unless every key maps one-to-one with matching shapes. When
        ``False``, the matching tensors are loaded and the rest reported.
    **kwargs
        Passed to :func:`map_authors_state_dict` (prefixes).

    Returns
    -------
    MappingReport
        What was loaded, dropped, left out.

    Raises
    ------
    RuntimeError
        With ``strict``, listing unexpected and missing keys and shape
        mismatches.
    """
    if isinstance(path, dict):
        state_dict, path = path, "(state dict)"
    else:
        state_dict = read_authors_checkpoint(path)
    new_state_dict, report = map_authors_state_dict(state_dict, model, **kwargs)
    if strict and not report.ok:
        raise RuntimeError(
            f"checkpoint {path} does not match the model:\n{report.describe()}"
        )
    model.load_state_dict(new_state_dict, strict=strict)
    return report


def load_published_checkpoint(obj, path):
    """Pretrainer hook: load a published checkpoint into ``obj``, keys mapped, strictly.

    The ``custom_hooks`` entry of the ``init_from`` Pretrainer in the
    training hparams: a released raw AASIST loads under its own names, an
    authors' SSL checkpoint through the fairseq mapping
    (:func:`load_authors_checkpoint`). Read with ``weights_only=True``.

    Arguments
    ---------
    obj : torch.nn.Module
        The model to initialise.
    path : str or pathlib.Path
        The checkpoint file.

    Example
    -------
    >>> import tempfile, pathlib
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "w.pth"
    >>> source, target = torch.nn.Linear(3, 2), torch.nn.Linear(3, 2)
    >>> torch.save(source.state_dict(), path)
    >>> load_published_checkpoint(target, path)
    >>> bool(torch.equal(source.weight, target.weight))
    True
    """
    load_authors_checkpoint(str(path), obj)
