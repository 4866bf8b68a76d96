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

import torch
import torch.nn.functional as F
from speechbrain.integrations.huggingface.wav2vec2 import Wav2Vec2
from torch import nn

from dpda.models.pooling import masked_mean_std


class HFWav2Vec2(Wav2Vec2):
    """SpeechBrain's wav2vec 2.0 wrapper with the input handling and the
    regularisation set by the hparams instead of the hub's files.

    SpeechBrain's ``Wav2Vec2`` normalises each waveform when the hub's
    ``preprocessor_config.json`` says ``do_normalize`` and builds the model
    with the dropouts, LayerDrop and masking of the hub's ``config.json``.
    A recipe that must match another run (the paper's authors feed the raw
    waveform to fairseq's XLS-R with every dropout at 0.0) pins them here:
    ``config`` values are set on the Hugging Face config *before* the model
    is built (dropout modules take their rate at construction), and
    ``normalize_wav`` replaces what the preprocessor says.

    Arguments
    ---------
    source : str
        Hub id or local folder (``config.json``, ``preprocessor_config.json``,
        weights).
    save_path : str
        Cache folder.
    normalize_wav : bool, optional
        Normalise each waveform to zero mean and unit variance before the
        model; ``None`` keeps the preprocessor's ``do_normalize``.
    config : dict, optional
        Hugging Face ``Wav2Vec2Config`` fields to set (e.g.
        ``hidden_dropout``, ``attention_dropout``, ``activation_dropout``,
        ``feat_proj_dropout``, ``layerdrop``, ``mask_time_prob``); an
        unknown field is an error.
    **kwargs
        SpeechBrain ``Wav2Vec2`` options (``output_norm``, ``freeze``,
        ``apply_spec_augment``, ``output_all_hiddens``...).

    Example
    -------
    >>> import tempfile
    >>> from transformers import (
    ...     Wav2Vec2Config, Wav2Vec2FeatureExtractor, Wav2Vec2Model)
    >>> folder = tempfile.mkdtemp()
    >>> Wav2Vec2Model(Wav2Vec2Config(
    ...     hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
    ...     intermediate_size=16, conv_dim=(8, 8), conv_kernel=(10, 3),
    ...     conv_stride=(5, 2), num_conv_pos_embeddings=4,
    ...     num_conv_pos_embedding_groups=2, hidden_dropout=0.1,
    ... )).save_pretrained(folder)
    >>> _ = Wav2Vec2FeatureExtractor(do_normalize=True).save_pretrained(folder)
    >>> ssl = HFWav2Vec2(folder, tempfile.mkdtemp(), normalize_wav=False,
    ...                  config={"hidden_dropout": 0.0})
    >>> ssl.normalize_wav, ssl.model.config.hidden_dropout
    (False, 0.0)
    >>> ssl(torch.randn(2, 800)).shape
    torch.Size([2, 79, 16])
    """

    def __init__(self, source, save_path, normalize_wav=None, config=None, **kwargs):
        # Read by override_config, which the parent calls before building.
        object.__setattr__(self, "_pinned_config", dict(config or {}))
        super().__init__(source, save_path, **kwargs)
        if normalize_wav is not None:
            self.normalize_wav = bool(normalize_wav)

    def override_config(self, config):
        """Set the pinned fields on the Hugging Face config."""
        for key, value in self._pinned_config.items():
            if not hasattr(config, key):
                raise ValueError(
                    f"{type(config).__name__} has no field {key!r} (pinned in "
                    "the hparams' SSL config)"
                )
            setattr(config, key, value)
        return config


#: The architecture of ``facebook/wav2vec2-xls-r-300m`` as ``transformers``
#: ``Wav2Vec2Config`` fields (1024-d, 24 layers, layer norm in every
#: feature-encoder convolution, stable layer norm).
XLSR_300M_ARCHITECTURE = dict(
    hidden_size=1024,
    num_hidden_layers=24,
    num_attention_heads=16,
    intermediate_size=4096,
    conv_dim=(512,) * 7,
    conv_kernel=(10, 3, 3, 3, 3, 2, 2),
    conv_stride=(5, 2, 2, 2, 2, 2, 2),
    conv_bias=True,
    feat_extract_norm="layer",
    do_stable_layer_norm=True,
    num_conv_pos_embeddings=128,
    num_conv_pos_embedding_groups=16,
)

#: A tiny model of the same family (32-d, 2 layers, 7 convolutions of 16
#: channels) for offline tests and CPU checks of the SSL configurations.
TINY_XLSR = dict(
    hidden_size=32,
    num_hidden_layers=2,
    num_attention_heads=2,
    intermediate_size=64,
    conv_dim=(16,) * 7,
    num_conv_pos_embeddings=16,
    num_conv_pos_embedding_groups=2,
)


def random_wav2vec2(seed=0, **config):
    """A ``transformers`` wav2vec 2.0 model of the XLS-R 300M architecture
    (or another, through ``config``) with random weights: no download.

    Arguments
    ---------
    seed : int
        Seed of the random initialisation.
    **config
        ``Wav2Vec2Config`` fields replacing :data:`XLSR_300M_ARCHITECTURE`'s
        or the ``transformers`` defaults (e.g. a small ``hidden_size`` for
        tests, or the dropouts).

    Returns
    -------
    transformers.Wav2Vec2Model

    Example
    -------
    >>> model = random_wav2vec2(hidden_size=16, num_hidden_layers=1,
    ...     num_attention_heads=2, intermediate_size=16, conv_dim=(8,) * 7,
    ...     num_conv_pos_embeddings=4, num_conv_pos_embedding_groups=2)
    >>> model.eval()(torch.randn(1, 1600)).last_hidden_state.shape
    torch.Size([1, 4, 16])
    """
    from transformers import Wav2Vec2Config, Wav2Vec2Model

    torch.manual_seed(seed)
    return Wav2Vec2Model(Wav2Vec2Config(**{**XLSR_300M_ARCHITECTURE, **config}))


def save_random_wav2vec2(folder, do_normalize=True, seed=0, **config):
    """Write a local wav2vec 2.0 folder (config, random weights,
    preprocessor) that :class:`HFWav2Vec2` loads offline as an SSL source.

    Arguments
    ---------
    folder : str
        Output folder.
    do_normalize : bool
        The preprocessor's ``do_normalize`` (the hub's XLS-R says ``true``).
    seed : int
        Seed of the random initialisation.
    **config
        See :func:`random_wav2vec2`.

    Returns
    -------
    str
        ``folder``.
    """
    from transformers import Wav2Vec2FeatureExtractor

    random_wav2vec2(seed, **config).save_pretrained(folder)
    Wav2Vec2FeatureExtractor(
        feature_size=1,
        sampling_rate=16000,
        do_normalize=do_normalize,
        return_attention_mask=True,
    ).save_pretrained(folder)
    return folder


class SSLClassifier(nn.Module):
    """Compose an SSL front end and a back end into one classifier.

    Arguments
    ---------
    ssl : torch.nn.Module
        Front end: ``ssl(wavs, lengths) -> [B, T, D]``.
    backend : torch.nn.Module
        Back end: ``backend(feats, lengths) -> [B, n_classes]``.

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


class WeightedSSL(nn.Module):
    """Learnt softmax-weighted sum of the hidden layers of an SSL model.

    Returns frame features ``[B, T, D]`` from the stacked hidden states
    ``[L + 1, B, T, D]`` of the wrapped front end (the input of the first
    transformer layer, then the output of every layer):
    ``layer="weighted"`` gives ``sum_l softmax(w)_l h_l`` with learnable
    ``w`` initialised to equal weights; an integer picks one hidden state;
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
        ``"weighted"``, ``"last"`` or the index of one hidden state.
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
        if not (layer in ("weighted", "last") or isinstance(layer, int)):
            raise ValueError(f"layer must be 'weighted', 'last' or an int: {layer}")
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
