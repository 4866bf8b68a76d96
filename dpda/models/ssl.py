"""An SSL front end (e.g. XLS-R) followed by a back-end classifier.

The front end is any module mapping ``(wavs, lengths)`` to frame features
``[B, T, D]``, typically SpeechBrain's
``speechbrain.integrations.huggingface.wav2vec2.Wav2Vec2`` built in the hparams
file, alone (last layer) or wrapped in :class:`WeightedSSL` (a learnt mix of
all its layers). The back end maps the features to logits:
:class:`PooledBackend`, :class:`dpda.models.aasist.AASIST` or
:class:`dpda.models.conformer_tcm.ConformerTCM`.

Authors
 * dpda contributors 2026
"""

import os

import torch
import torch.nn.functional as F
from speechbrain.integrations.huggingface.wav2vec2 import Wav2Vec2
from torch import nn

from dpda.models.pooling import masked_mean_std
from dpda.models.ssl_families import get_family

#: The authors' SSL regularisation as Hugging Face config fields. They load
#: fairseq's xlsr2_300m.pt and call ``model(wav, mask=False,
#: features_only=True)`` in train mode: no time or channel masking, and the
#: checkpoint's own cfg.model, where every dropout and LayerDrop is 0.0 (a
#: dump of that cfg: torchaudio's test asset
#: ``wav2vec2/fairseq/xlsr_300m.json``). The hub's
#: ``facebook/wav2vec2-xls-r-300m`` says otherwise (dropouts 0.1, layerdrop
#: 0.1, mask_time_prob 0.075). WavLM and HuBERT configs have the same
#: fields, so a front-end swap changes only the model.
AUTHORS_SSL_CONFIG = {
    "hidden_dropout": 0.0,  # fairseq cfg.model.dropout
    "attention_dropout": 0.0,  # cfg.model.attention_dropout
    "activation_dropout": 0.0,  # cfg.model.activation_dropout
    "feat_proj_dropout": 0.0,  # cfg.model.dropout_input (after the projection)
    "layerdrop": 0.0,  # cfg.model.encoder_layerdrop
    "mask_time_prob": 0.0,  # mask=False (cfg.model.mask_prob is unused then)
    "mask_feature_prob": 0.0,  # mask=False (cfg.model.mask_channel_prob 0.0)
}


class HFWav2Vec2(Wav2Vec2):
    """SpeechBrain's wav2vec 2.0 wrapper with the input handling and the
    regularisation set by the hparams instead of the hub's files, for any
    SSL family of :mod:`dpda.models.ssl_families`.

    SpeechBrain's ``Wav2Vec2`` (also the base of its ``WavLM`` and
    ``HuBERT`` wrappers: its ``AutoModel`` builds whichever model the
    source's ``config.json`` describes) normalises each waveform when the
    hub's ``preprocessor_config.json`` says ``do_normalize`` and builds the
    model with the dropouts, LayerDrop and masking of the hub's
    ``config.json``. A recipe that must match another run (the paper's
    authors feed the raw waveform to fairseq's XLS-R with every dropout at
    0.0) pins them here: ``config`` values are set on the Hugging Face
    config *before* the model is built (dropout modules take their rate at
    construction), and ``normalize_wav`` replaces what the preprocessor
    says. By default the config is the authors' (:data:`AUTHORS_SSL_CONFIG`:
    every dropout, LayerDrop and masking at 0.0), for every family alike;
    ``config`` sets fields over it.

    With ``family``, the source is checked at start-up, before any weights
    are read: a local folder must hold ``config.json``,
    ``preprocessor_config.json`` and the weights, its ``model_type`` must be
    the family's and its ``hidden_size`` the ``hidden_size`` the back end
    was built for; a hub id that cannot be fetched fails naming the family
    and the files expected. ``normalize_wav=None`` then means the family's
    input handling (:attr:`dpda.models.ssl_families.SSLFamily.normalize_wav`).

    Arguments
    ---------
    source : str
        Hub id or local folder (``config.json``, ``preprocessor_config.json``,
        weights).
    save_path : str
        Cache folder.
    normalize_wav : bool, optional
        Normalise each waveform to zero mean and unit variance before the
        model; ``None`` keeps the family's input handling, or without a
        family the preprocessor's ``do_normalize``.
    config : dict, optional
        Hugging Face config fields to set over :data:`AUTHORS_SSL_CONFIG`
        (e.g. ``{"hidden_dropout": 0.1}`` for the hub's rate); an unknown
        field is an error.
    family : str, optional
        The SSL family the source must be (e.g. ``"wavlm_large"``).
    hidden_size : int, optional
        The feature size the source must produce (the hparams' ``ssl_dim``).
    **kwargs
        SpeechBrain ``Wav2Vec2`` options (``output_norm``, ``freeze``,
        ``apply_spec_augment``, ``output_all_hiddens``...).

    Example
    -------
    >>> import tempfile
    >>> from dpda.models.ssl_families import save_random_ssl
    >>> folder = save_random_ssl(tempfile.mkdtemp(), "xlsr_300m", tiny=True,
    ...                          hidden_dropout=0.1, layerdrop=0.1)
    >>> ssl = HFWav2Vec2(folder, tempfile.mkdtemp(), config={"layerdrop": 0.05},
    ...                  family="xlsr_300m", hidden_size=32)
    >>> config = ssl.model.config
    >>> ssl.normalize_wav, config.hidden_dropout, config.layerdrop
    (False, 0.0, 0.05)
    >>> ssl(torch.randn(2, 800)).shape
    torch.Size([2, 2, 32])
    >>> HFWav2Vec2(folder, tempfile.mkdtemp(), family="wavlm_large")
    Traceback (most recent call last):
    ...
    ValueError: SSL front end 'wavlm_large' (microsoft/wavlm-large) must be a 'wavlm' model, but the config.json of ... says model_type 'wav2vec2'
    """

    def __init__(
        self,
        source,
        save_path,
        normalize_wav=None,
        config=None,
        family=None,
        hidden_size=None,
        **kwargs,
    ):
        # Read by override_config, which the parent calls before building.
        pinned = {**AUTHORS_SSL_CONFIG, **(config or {})}
        object.__setattr__(self, "_pinned_config", pinned)
        object.__setattr__(self, "_family", None)
        object.__setattr__(self, "_source", str(source))
        object.__setattr__(self, "_hidden_size", hidden_size)
        if family is not None:
            object.__setattr__(self, "_family", get_family(family))
            _check_local_source(self._family, source)
        try:
            super().__init__(source, save_path, **kwargs)
        except OSError as error:
            if self._family is None:
                raise
            raise OSError(
                f"could not load the SSL front end {self._family.name!r} from "
                f"{source!r} ({error}); give ssl_hub a hub id that can be "
                f"fetched (expected: {self._family.hub_id}) or a local folder "
                f"with {', '.join(SOURCE_FILES)} and the weights (*.safetensors "
                "or *.bin)"
            ) from error
        if normalize_wav is None and self._family is not None:
            normalize_wav = self._family.normalize_wav
        if normalize_wav is not None:
            self.normalize_wav = bool(normalize_wav)

    def override_config(self, config):
        """Check the source against the family, set the pinned fields."""
        family = self._family
        if family is not None:
            where = f"the config.json of {self._source}"
            if config.model_type != family.model_type:
                raise ValueError(
                    f"SSL front end {family.name!r} ({family.hub_id}) must be a "
                    f"{family.model_type!r} model, but {where} says model_type "
                    f"{config.model_type!r}"
                )
            expected = self._hidden_size
            if expected is not None and config.hidden_size != expected:
                raise ValueError(
                    f"SSL front end {family.name!r}: the back end expects "
                    f"{expected}-d features (ssl_dim), but {where} says "
                    f"hidden_size {config.hidden_size}"
                )
        for key, value in self._pinned_config.items():
            if not hasattr(config, key):
                raise ValueError(
                    f"{type(config).__name__} has no field {key!r} (pinned in "
                    "the hparams' SSL config)"
                )
            setattr(config, key, value)
        return config


#: Files a local SSL source folder needs besides the weights.
SOURCE_FILES = ("config.json", "preprocessor_config.json")
WEIGHT_SUFFIXES = (".safetensors", ".bin", ".ckpt")


def _check_local_source(family, source):
    """Raise if a local source folder lacks what the family needs.

    Arguments
    ---------
    family : dpda.models.ssl_families.SSLFamily
        The expected family.
    source : str
        Hub id or folder; only an existing folder, or a path that looks
        like one (absolute or starting with ``.``), is checked.
    """
    source = str(source)
    looks_local = os.path.isabs(source) or source.startswith(".")
    if not os.path.isdir(source):
        if looks_local:
            raise FileNotFoundError(
                f"SSL front end {family.name!r}: the folder {source} does not "
                f"exist (expected a copy of {family.hub_id}: "
                f"{', '.join(SOURCE_FILES)} and the weights)"
            )
        return
    present = set(os.listdir(source))
    missing = [name for name in SOURCE_FILES if name not in present]
    if not any(name.endswith(WEIGHT_SUFFIXES) for name in present):
        missing.append("the weights (*.safetensors or *.bin)")
    if missing:
        raise FileNotFoundError(
            f"SSL front end {family.name!r} ({family.hub_id}): the folder "
            f"{source} lacks {', '.join(missing)}"
        )


class SSLClassifier(nn.Module):
    """Compose an SSL front end and a back end into one classifier.

    Arguments
    ---------
    ssl : torch.nn.Module
        Front end: ``ssl(wavs, lengths) -> [B, T, D]``.
    backend : torch.nn.Module
        Back end: ``backend(feats, lengths) -> [B, n_classes]``. One whose
        ``needs_all_layers`` is true (SLS) takes the stacked hidden states
        ``[L + 1, B, T, D]``: its front end must be a :class:`WeightedSSL`
        with ``layer="all"``, and the others must not be.

    Example
    -------
    >>> import torch
    >>> class Frames(nn.Module):
    ...     def forward(self, wavs, lengths=None):
    ...         return wavs.reshape(wavs.shape[0], -1, 4)
    >>> model = SSLClassifier(Frames(), PooledBackend(input_size=4, proj_size=8))
    >>> model(torch.randn(2, 40), torch.ones(2)).shape
    torch.Size([2, 2])
    """

    def __init__(self, ssl, backend):
        super().__init__()
        layer = getattr(ssl, "layer", None)
        if getattr(backend, "needs_all_layers", False) and layer != "all":
            raise ValueError(
                f"{type(backend).__name__} weighs every hidden layer itself: "
                "its front end must give them all (WeightedSSL layer='all', "
                f"the hparams' ssl_layer: all), not layer={layer!r}"
            )
        if layer == "all" and not getattr(backend, "needs_all_layers", False):
            raise ValueError(
                f"{type(backend).__name__} takes frame features [B, T, D]: "
                "the front end's layer='all' (stacked hidden states) is only "
                "for back ends that weigh the layers (SLS)"
            )
        self.ssl = ssl
        self.backend = backend

    def forward(self, wavs, lengths=None):
        """Return logits for waveforms ``[B, T]``."""
        feats = self.ssl(wavs, lengths)
        return self.backend(feats, lengths)


class PooledBackend(nn.Module):
    """Projection, statistics pooling and a linear classifier.

    The simple back end of the SSL recipes until the AASIST and Conformer-TCM
    back ends land: a linear projection of the SSL features (1024 -> 128 as
    in SSL-AASIST), SELU, mean and standard deviation over time, and a linear
    layer to the two logits.

    Arguments
    ---------
    input_size : int
        Dimension of the SSL features.
    proj_size : int
        Dimension after projection.
    n_classes : int
        Number of logits.
    dropout : float
        Dropout on the pooled statistics.

    Example
    -------
    >>> import torch
    >>> PooledBackend(16, 8)(torch.randn(3, 10, 16)).shape
    torch.Size([3, 2])
    """

    def __init__(self, input_size=1024, proj_size=128, n_classes=2, dropout=0.2):
        super().__init__()
        self.proj = nn.Linear(input_size, proj_size)
        self.act = nn.SELU()
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(2 * proj_size, n_classes)

    def forward(self, feats, lengths=None):
        """Return logits for features ``[B, T, D]``."""
        x = self.act(self.proj(feats))
        return self.classifier(self.dropout(masked_mean_std(x, lengths)))


#: What :class:`WeightedSSL` can give: a learnt mix, the last layer, the stack.
LAYER_MODES = ("weighted", "last", "all")


class WeightedSSL(nn.Module):
    """Learnt softmax-weighted sum of the hidden layers of an SSL model.

    Returns frame features ``[B, T, D]`` from the stacked hidden states
    ``[L + 1, B, T, D]`` of the wrapped front end (the input of the first
    transformer layer, then the output of every layer):
    ``layer="weighted"`` gives ``sum_l softmax(w)_l h_l`` with learnable
    ``w`` initialised to equal weights; an integer picks one hidden state;
    ``layer="all"`` gives the whole stack ``[L + 1, B, T, D]``, for a back
    end that weighs the layers itself (:class:`dpda.models.sls.SLS`);
    ``layer="last"`` gives the front end's usual output (the last layer,
    after the final layer norm of stable-layer-norm models such as XLS-R),
    as used by SSL-AASIST, TCM and DPDA. Only the weighted mode has
    parameters of its own, so ``layer="last"`` keeps the state dict of the
    plain front end (the authors' checkpoints load into it).

    A wrapped SpeechBrain ``Wav2Vec2`` is asked for what each mode needs:
    its ``output_all_hiddens`` flag is set for the duration of each call and
    then restored, so it can be built either way. Another front end must
    return ``[L + 1, B, T, D]`` (``[B, T, D]`` is accepted with
    ``layer="last"``).

    With transformers >= 5 the last stacked state is the last layer's output
    before the final layer norm (transformers 4 put the normalised output
    there); ``layer="last"`` does not depend on this.

    Use from hparams::

        ssl: !new:speechbrain.integrations.huggingface.wav2vec2.Wav2Vec2
            source: !ref <ssl_hub>
            save_path: !ref <ssl_folder>
            output_norm: False
            freeze: False
        front_end: !new:dpda.models.ssl.WeightedSSL
            ssl: !ref <ssl>
            layer: weighted   # or last, or a layer index
        model: !new:dpda.models.ssl.SSLClassifier
            ssl: !ref <front_end>
            backend: !ref <backend>

    The parameters of the wrapped model then sit under ``ssl.ssl.model.``
    in the classifier's state dict, the mixing logits under
    ``ssl.weights``.

    Arguments
    ---------
    ssl : torch.nn.Module
        Front end called as ``ssl(wavs, lengths)``.
    num_layers : int, optional
        Number of stacked hidden states ``L + 1`` (weighted mode); read from
        ``ssl.model.config.num_hidden_layers`` when omitted.
    layer : str or int
        ``"weighted"``, ``"last"``, ``"all"`` or the index of one hidden
        state.
    layer_norm : bool
        Normalise each hidden state over its features (no affine) before
        mixing or picking, so that layers of different scales weigh alike.

    Example
    -------
    >>> class Stacked(nn.Module):
    ...     def forward(self, wavs, lengths=None):
    ...         frames = wavs.reshape(wavs.shape[0], -1, 4)
    ...         return torch.stack([frames, 2 * frames, 3 * frames])
    >>> front = WeightedSSL(Stacked(), num_layers=3)
    >>> wavs = torch.ones(2, 8)
    >>> front.layer_weights().tolist()
    [0.3333333432674408, 0.3333333432674408, 0.3333333432674408]
    >>> front(wavs).shape, front(wavs)[0, 0, 0].item()
    (torch.Size([2, 2, 4]), 2.0)
    >>> WeightedSSL(Stacked(), layer="last")(wavs)[0, 0, 0].item()
    3.0
    """

    def __init__(self, ssl, num_layers=None, layer="weighted", layer_norm=False):
        super().__init__()
        if not (layer in LAYER_MODES or isinstance(layer, int)):
            raise ValueError(
                f"layer must be one of {', '.join(LAYER_MODES)} or an int: {layer}"
            )
        self.ssl = ssl
        self.layer = layer
        self.layer_norm = layer_norm
        if layer != "last":
            config = getattr(getattr(ssl, "model", None), "config", None)
            if getattr(config, "layerdrop", 0.0):
                # A layer skipped by LayerDrop has no hidden state: the
                # stack would be shorter than the weights (or shift the
                # chosen index). Disabled for the layer-wise modes.
                config.layerdrop = 0.0
        if layer == "weighted":
            if num_layers is None:
                num_layers = ssl.model.config.num_hidden_layers + 1
            # Zeros give equal weights after the softmax.
            self.weights = nn.Parameter(torch.zeros(num_layers))

    def layer_weights(self):
        """Return the mixing weights (softmax of the learnt logits).

        Returns
        -------
        torch.Tensor
            Weights ``[L + 1]`` summing to one.

        Example
        -------
        >>> class Stacked(nn.Module):
        ...     def forward(self, wavs, lengths=None):
        ...         return torch.stack([wavs.unsqueeze(-1)] * 2)
        >>> WeightedSSL(Stacked(), num_layers=2).layer_weights().sum().item()
        1.0
        """
        return F.softmax(self.weights, dim=0)

    def _run_ssl(self, wavs, lengths):
        """Call the front end, asking a SpeechBrain Wav2Vec2 for all layers
        unless the mode is "last"."""
        if not hasattr(self.ssl, "output_all_hiddens"):
            return self.ssl(wavs, lengths)
        saved = self.ssl.output_all_hiddens
        self.ssl.output_all_hiddens = self.layer != "last"
        try:
            return self.ssl(wavs, lengths)
        finally:
            self.ssl.output_all_hiddens = saved

    def forward(self, wavs, lengths=None):
        """Return frame features ``[B, T, D]`` for waveforms ``[B, T_wav]``."""
        hiddens = self._run_ssl(wavs, lengths)
        if self.layer == "last":
            return hiddens[-1] if hiddens.dim() == 4 else hiddens
        if hiddens.dim() != 4:
            raise ValueError(
                f"layer={self.layer!r} needs stacked hidden states "
                "[L + 1, B, T, D] (output_all_hiddens=True), got "
                f"{tuple(hiddens.shape)}"
            )
        if self.layer_norm:
            hiddens = F.layer_norm(hiddens, hiddens.shape[-1:])
        if self.layer == "all":
            return hiddens
        if isinstance(self.layer, int):
            return hiddens[self.layer]
        if hiddens.shape[0] != self.weights.shape[0]:
            raise ValueError(
                f"{hiddens.shape[0]} hidden states for {self.weights.shape[0]} weights"
            )
        weights = self.layer_weights().to(hiddens.dtype)
        return torch.einsum("l,lbtd->btd", weights, hiddens)


def count_parameters(module, trainable_only=True):
    """Number of parameters of a module.

    Arguments
    ---------
    module : torch.nn.Module
        The module.
    trainable_only : bool
        Count only parameters with ``requires_grad`` (buffers never count).

    Returns
    -------
    int
        The number of scalar parameters.

    Example
    -------
    >>> layer = nn.Linear(3, 2)
    >>> count_parameters(layer)
    8
    >>> _ = layer.bias.requires_grad_(False)
    >>> count_parameters(layer), count_parameters(layer, trainable_only=False)
    (6, 8)
    """
    return sum(
        p.numel() for p in module.parameters() if p.requires_grad or not trainable_only
    )
