"""The SSL front ends a recipe can choose by name: hub id, architecture, input.

An hparams file names its front end with one key, ``ssl: xlsr_300m``, and
swaps it with an override (``python train.py hparams/dpda_rawboost.yaml
--ssl=wavlm_large``); the hub id, the feature size and the input handling
follow from the family (:data:`SSL_FAMILIES`). Every family loads through
SpeechBrain's Hugging Face integration
(:class:`dpda.models.ssl.HFWav2Vec2`, a
``speechbrain.integrations.huggingface.wav2vec2.Wav2Vec2``: its
``AutoModel`` builds a ``Wav2Vec2Model``, ``WavLMModel`` or ``HubertModel``
from the source's ``config.json``, as SpeechBrain's own ``WavLM`` and
``HuBERT`` wrappers do), which checks at start-up that the source's
``config.json`` is of the family's model type and feature size.

Input handling. SpeechBrain's wrapper normalises each waveform (zero mean,
unit variance) when the source's ``preprocessor_config.json`` says
``do_normalize``; the recipes decide instead, per family
(:attr:`SSLFamily.normalize_wav`), so a run does not depend on that file:

- XLS-R (300M, 1B, 2B): the **raw** waveform. XLS-R was pretrained on
  normalised audio, but the anti-spoofing models built on it (SSL-AASIST,
  DPDA, SLS, Nes2Net, whose checkpoints this project imports) call
  fairseq's model on the raw waveform, so the paper configuration does too.
  ``--ssl_normalize_wav=True`` gives the pretraining's input.
- MMS (300M, 1B): normalised, as in its pretraining (the XLS-R recipe).
- WavLM Large: normalised, as in its pretraining (the authors: "we didn't
  apply normalization to the input waveform of WavLM Base model, but did
  apply normalization to the input waveform of WavLM Large model",
  microsoft/unilm issue 708; torchaudio's WAVLM_LARGE bundle adds the same
  layer norm).
- WavLM Base+: raw, as in its pretraining.
- HuBERT Large: normalised, as in its pretraining (fairseq's
  ``normalize: true`` for the large models; torchaudio's HUBERT_LARGE
  bundle adds the same layer norm).

Architectures are ``transformers`` config fields: ``random_ssl_model``
builds a family's full-size model with random weights (on the ``meta``
device to count parameters without memory), and ``save_random_ssl`` writes
a local source folder, full-size or tiny (the same model type and layout
flags, a few channels), for offline tests and benchmarks.

Authors
 * dpda contributors 2026
"""

from dataclasses import dataclass, field

import torch

#: ``transformers`` model classes and configs per model type.
_MODEL_CLASSES = {
    "wav2vec2": ("Wav2Vec2Config", "Wav2Vec2Model"),
    "wavlm": ("WavLMConfig", "WavLMModel"),
    "hubert": ("HubertConfig", "HubertModel"),
}

#: The feature encoder of every family: 7 convolutions, 20 ms frames.
_CONV = dict(
    conv_dim=(512,) * 7,
    conv_kernel=(10, 3, 3, 3, 3, 2, 2),
    conv_stride=(5, 2, 2, 2, 2, 2, 2),
    num_conv_pos_embeddings=128,
    num_conv_pos_embedding_groups=16,
)

#: The sizes of a tiny model of any family (32-d, 2 layers, 16-channel
#: convolutions), for offline tests.
TINY_SIZES = dict(
    hidden_size=32,
    num_hidden_layers=2,
    num_attention_heads=2,
    intermediate_size=64,
    conv_dim=(16,) * 7,
    num_conv_pos_embeddings=16,
    num_conv_pos_embedding_groups=2,
)

#: Large models: layer norm in every convolution, pre-norm transformer.
_LARGE_LAYOUT = dict(feat_extract_norm="layer", do_stable_layer_norm=True)


def _size(hidden, layers, intermediate, heads=16):
    """Transformer size fields of a ``transformers`` audio config."""
    return dict(
        hidden_size=hidden,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        intermediate_size=intermediate,
    )


@dataclass(frozen=True)
class SSLFamily:
    """One SSL front end a recipe can name.

    Arguments
    ---------
    name : str
        The name used in hparams (``ssl: <name>``).
    hub_id : str
        The Hugging Face hub id of the pretrained model.
    model_type : str
        The ``model_type`` its ``config.json`` must have.
    architecture : dict
        ``transformers`` config fields of the full-size model.
    normalize_wav : bool
        Whether the recipes normalise the waveform before this model.
    pretraining_normalize : bool
        Whether its pretraining normalised the waveform.
    description : str
        Model, training data, size.

    Example
    -------
    >>> family = get_family("wavlm_large")
    >>> family.model_type, family.hidden_size, family.num_layers
    ('wavlm', 1024, 24)
    """

    name: str
    hub_id: str
    model_type: str
    architecture: dict = field(repr=False)
    normalize_wav: bool
    pretraining_normalize: bool
    description: str

    @property
    def hidden_size(self):
        """Feature size of the transformer's output."""
        return self.architecture["hidden_size"]

    @property
    def num_layers(self):
        """Number of transformer layers."""
        return self.architecture["num_hidden_layers"]

    def tiny_architecture(self):
        """The same model type and layout, a few channels: for tests.

        Returns
        -------
        dict
            ``transformers`` config fields (32-d, 2 layers, 16-channel
            convolutions).

        Example
        -------
        >>> get_family("wavlm_large").tiny_architecture()["conv_bias"]
        False
        """
        tiny = {**self.architecture, **TINY_SIZES}
        if self.model_type == "wavlm":
            tiny.update(num_buckets=16, max_bucket_distance=32)
        return tiny


def _family(name, hub_id, model_type, architecture, normalize, pretraining, text):
    """Build one registry entry (keyword-free, to keep the table short)."""
    return SSLFamily(
        name=name,
        hub_id=hub_id,
        model_type=model_type,
        architecture={**_CONV, **architecture},
        normalize_wav=normalize,
        pretraining_normalize=pretraining,
        description=text,
    )


_XLSR_300M = {**_LARGE_LAYOUT, **_size(1024, 24, 4096), "conv_bias": True}
_XLSR_1B = {**_LARGE_LAYOUT, **_size(1280, 48, 5120), "conv_bias": True}
_XLSR_2B = {**_LARGE_LAYOUT, **_size(1920, 48, 7680), "conv_bias": True}

#: The front ends a recipe can name with ``ssl: <name>``.
SSL_FAMILIES = {
    family.name: family
    for family in (
        _family(
            "xlsr_300m",
            "facebook/wav2vec2-xls-r-300m",
            "wav2vec2",
            _XLSR_300M,
            False,
            True,
            "wav2vec 2.0 XLS-R 300M, 436k h in 128 languages (the paper's)",
        ),
        _family(
            "xlsr_1b",
            "facebook/wav2vec2-xls-r-1b",
            "wav2vec2",
            _XLSR_1B,
            False,
            True,
            "wav2vec 2.0 XLS-R 1B, 436k h in 128 languages",
        ),
        _family(
            "xlsr_2b",
            "facebook/wav2vec2-xls-r-2b",
            "wav2vec2",
            _XLSR_2B,
            False,
            True,
            "wav2vec 2.0 XLS-R 2B, 436k h in 128 languages",
        ),
        _family(
            "mms_300m",
            "facebook/mms-300m",
            "wav2vec2",
            _XLSR_300M,
            True,
            True,
            "wav2vec 2.0 MMS 300M, 491k h in 1,400 languages",
        ),
        _family(
            "mms_1b",
            "facebook/mms-1b",
            "wav2vec2",
            _XLSR_1B,
            True,
            True,
            "wav2vec 2.0 MMS 1B, 491k h in 1,400 languages",
        ),
        _family(
            "wavlm_large",
            "microsoft/wavlm-large",
            "wavlm",
            {
                **_LARGE_LAYOUT,
                **_size(1024, 24, 4096),
                "conv_bias": False,
                "num_buckets": 320,
                "max_bucket_distance": 800,
            },
            True,
            True,
            "WavLM Large, 94k h of English (Libri-Light, GigaSpeech, VoxPopuli)",
        ),
        _family(
            "wavlm_base_plus",
            "microsoft/wavlm-base-plus",
            "wavlm",
            {
                "feat_extract_norm": "group",
                "do_stable_layer_norm": False,
                **_size(768, 12, 3072, heads=12),
                "conv_bias": False,
                "num_buckets": 320,
                "max_bucket_distance": 800,
            },
            False,
            False,
            "WavLM Base+, 94k h of English",
        ),
        _family(
            "hubert_large",
            "facebook/hubert-large-ll60k",
            "hubert",
            {**_LARGE_LAYOUT, **_size(1024, 24, 4096), "conv_bias": False},
            True,
            True,
            "HuBERT Large, 60k h of English (Libri-Light)",
        ),
    )
}


def get_family(name):
    """The registry entry of a front end, or an error listing the names.

    Arguments
    ---------
    name : str
        A key of :data:`SSL_FAMILIES`.

    Returns
    -------
    SSLFamily

    Example
    -------
    >>> get_family("xlsr_300m").hub_id
    'facebook/wav2vec2-xls-r-300m'
    >>> get_family("xlsr")
    Traceback (most recent call last):
    ...
    ValueError: unknown SSL front end 'xlsr'; choose one of: xlsr_300m, xlsr_1b, xlsr_2b, mms_300m, mms_1b, wavlm_large, wavlm_base_plus, hubert_large
    """
    try:
        return SSL_FAMILIES[name]
    except KeyError:
        raise ValueError(
            f"unknown SSL front end {name!r}; choose one of: " + ", ".join(SSL_FAMILIES)
        ) from None


def hub_id(name):
    """Hub id of a family (the hparams' default ``ssl_hub``).

    Arguments
    ---------
    name : str
        Family name.

    Returns
    -------
    str

    Example
    -------
    >>> hub_id("mms_300m")
    'facebook/mms-300m'
    """
    return get_family(name).hub_id


def hidden_size(name):
    """Feature size of a family (the hparams' default ``ssl_dim``).

    Arguments
    ---------
    name : str
        Family name.

    Returns
    -------
    int

    Example
    -------
    >>> hidden_size("xlsr_2b")
    1920
    """
    return get_family(name).hidden_size


def model_config(name, tiny=False, **fields):
    """The ``transformers`` config of a family's model.

    Arguments
    ---------
    name : str
        Family name.
    tiny : bool
        A tiny model of the same type and layout instead of the full size.
    **fields
        Config fields to set on top (e.g. dropouts).

    Returns
    -------
    transformers.PretrainedConfig

    Example
    -------
    >>> model_config("hubert_large", tiny=True).model_type
    'hubert'
    """
    import transformers

    family = get_family(name)
    config_class = getattr(transformers, _MODEL_CLASSES[family.model_type][0])
    architecture = family.tiny_architecture() if tiny else family.architecture
    return config_class(**{**architecture, **fields})


def random_ssl_model(name, tiny=False, seed=0, device=None, **fields):
    """A family's ``transformers`` model with random weights: no download.

    Arguments
    ---------
    name : str
        Family name.
    tiny : bool
        A tiny model of the same type and layout.
    seed : int
        Seed of the initialisation.
    device : str or torch.device, optional
        ``"meta"`` builds it without memory (to count parameters).
    **fields
        Config fields to set on top.

    Returns
    -------
    transformers.PreTrainedModel

    Example
    -------
    >>> model = random_ssl_model("wavlm_large", tiny=True)
    >>> type(model).__name__, model.eval()(torch.randn(1, 1600)).last_hidden_state.shape
    ('WavLMModel', torch.Size([1, 4, 32]))
    """
    import transformers

    family = get_family(name)
    model_class = getattr(transformers, _MODEL_CLASSES[family.model_type][1])
    config = model_config(name, tiny=tiny, **fields)
    torch.manual_seed(seed)
    with torch.device(device or "cpu"):
        return model_class(config)


def save_random_ssl(folder, name, tiny=False, seed=0, do_normalize=None, **fields):
    """Write a local source folder of a family (config, random weights,
    preprocessor) that :class:`dpda.models.ssl.HFWav2Vec2` loads offline.

    Arguments
    ---------
    folder : str
        Output folder.
    name : str
        Family name.
    tiny : bool
        A tiny model of the same type and layout.
    seed : int
        Seed of the initialisation.
    do_normalize : bool, optional
        The preprocessor's ``do_normalize``; default the family's
        pretraining input.
    **fields
        Config fields to set on top.

    Returns
    -------
    str
        ``folder``.

    Example
    -------
    >>> import os, tempfile
    >>> folder = save_random_ssl(tempfile.mkdtemp(), "hubert_large", tiny=True)
    >>> sorted(f for f in os.listdir(folder) if f.endswith(".json"))
    ['config.json', 'preprocessor_config.json']
    """
    from transformers import Wav2Vec2FeatureExtractor

    family = get_family(name)
    random_ssl_model(name, tiny=tiny, seed=seed, **fields).save_pretrained(folder)
    if do_normalize is None:
        do_normalize = family.pretraining_normalize
    Wav2Vec2FeatureExtractor(
        feature_size=1,
        sampling_rate=16000,
        do_normalize=do_normalize,
        return_attention_mask=True,
    ).save_pretrained(folder)
    return folder


def count_family_parameters(name):
    """Parameters of a family's full-size model (random, on ``meta``).

    Arguments
    ---------
    name : str
        Family name.

    Returns
    -------
    int
        Scalar parameters of the ``transformers`` model, its
        ``masked_spec_embed`` (a learnt mask vector, unused with masking
        off) included.

    Example
    -------
    >>> count_family_parameters("xlsr_300m")
    315438720
    """
    model = random_ssl_model(name, device="meta")
    return sum(p.numel() for p in model.parameters())
