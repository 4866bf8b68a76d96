"""Channel effects of eval and In-the-Wild, applied to both classes.

Telephone band, mu-law companding, additive coloured noise and
reverberation (:data:`CHANNEL_EFFECTS`); :data:`CHANNEL_PROFILES` sets how
often and how strongly :func:`apply_channel_effects` uses them per split, so
that a detector trained on the clean training set generalises imperfectly.

Real lossy codecs come on top: :func:`assign_codecs` gives a fixed share of
each class of a split (``codec_share`` of its profile: half of eval and of
In-the-Wild) a codec condition, MP3 at 16, 24 or 32 kbit/s or Opus at 8, 12
or 16 kbit/s (``codecs`` of the profile), and :func:`apply_codec` encodes
and decodes the utterance with it for real, through FFmpeg's libmp3lame and
libopus (:mod:`dpda.augment.codec`: in memory, delay removed, length kept).
Train and dev have no profile, hence no channel and no codec: the codecs are
an unseen condition, measured at evaluation. The codec draw has its own
random stream, so the files without a codec are those the generator wrote
before codecs existed, bit for bit.

Authors
 * dpda contributors 2026
"""

import math

import numpy as np

from dpda.augment.codec import align, decode, encode
from dpda.data.minicorpus.dsp import _fft_convolve, _fft_filter


def _sinc_low_pass(cutoff, t, sample_rate):
    """Ideal low-pass impulse response at ``cutoff`` Hz, sampled at ``t``."""
    return 2 * cutoff / sample_rate * np.sinc(2 * cutoff / sample_rate * t)


def _bandpass_fir(low_hz, high_hz, sample_rate, n_taps):
    """Blackman-windowed sinc band-pass (-6 dB at the edges, ~-74 dB stop)."""
    t = np.arange(n_taps) - (n_taps - 1) / 2
    return (
        _sinc_low_pass(high_hz, t, sample_rate) - _sinc_low_pass(low_hz, t, sample_rate)
    ) * np.blackman(n_taps)


def _channel_telephone(x, rng, sample_rate, low_hz=300.0, high_hz=3400.0):
    """Telephone band: linear-phase 300-3400 Hz band-pass, delay removed."""
    n_taps = 2 * int(0.016 * sample_rate) + 1
    y = _fft_convolve(x, _bandpass_fir(low_hz, high_hz, sample_rate, n_taps))
    delay = (n_taps - 1) // 2
    return y[delay : delay + len(x)]


def _channel_mulaw(x, rng, sample_rate, channels=(256,)):
    """Mu-law companding with a symmetric mid-rise quantiser (G.711-like)."""
    levels = int(rng.choice(channels))
    mu = levels - 1
    peak = np.max(np.abs(x)) + 1e-12
    y = np.sign(x) * np.log1p(mu * np.abs(x) / peak) / np.log1p(mu)
    half = levels // 2
    q = (np.floor(np.clip(y, -1.0, 1.0 - 1e-9) * half) + 0.5) / half
    return np.sign(q) * np.expm1(np.abs(q) * np.log1p(mu)) / mu * peak


def _channel_noise(x, rng, sample_rate, snr_db=(10.0, 30.0)):
    """Additive coloured noise (white to brown) at a random SNR."""
    slope = rng.uniform(-2.0, 0.0)  # power ~ f ** slope
    noise = _fft_filter(
        rng.standard_normal(len(x)),
        lambda freqs: (np.maximum(freqs, 20.0) / 1000) ** (slope / 2),
        sample_rate,
    )
    snr = rng.uniform(*snr_db)
    scale = np.sqrt(np.mean(x**2) / (np.mean(noise**2) + 1e-12) / 10 ** (snr / 10))
    return x + scale * noise


def _channel_reverb(x, rng, sample_rate, rt60=(0.2, 0.6)):
    """Reverberation by a synthetic exponentially decaying impulse response."""
    t60 = rng.uniform(*rt60)
    length = int(min(1.2 * t60, 1.0) * sample_rate)
    t = np.arange(length) / sample_rate
    rir = rng.standard_normal(length) * np.exp(-6.9 * t / t60)
    rir[: int(0.002 * sample_rate)] = 0.0  # first reflections after ~2 ms
    drr_db = rng.uniform(-3.0, 8.0)  # direct-to-reverberant ratio
    rir *= np.sqrt(10 ** (-drr_db / 10) / np.sum(rir**2))
    rir[0] = 1.0
    return _fft_convolve(x, rir)[: len(x)]


CHANNEL_EFFECTS = {
    "telephone": _channel_telephone,
    "mulaw": _channel_mulaw,
    "noise": _channel_noise,
    "reverb": _channel_reverb,
}
# Codec conditions ``(codec of dpda.augment.CODECS, kbit/s)``, in the order
# in which they are dealt out (codecs alternate, bitrates rise), so that even
# a tiny split gets both codecs.
CODEC_CONDITIONS = (
    ("mp3", 16),
    ("opus", 8),
    ("mp3", 24),
    ("opus", 12),
    ("mp3", 32),
    ("opus", 16),
)
UNCODED = "none"  # the codec (and channel) of an untouched utterance
CHANNEL_PROFILES = {
    "eval": {
        "p_apply": 0.5,
        "max_effects": 1,
        "kwargs": {
            "noise": {"snr_db": (10.0, 30.0)},
            "reverb": {"rt60": (0.2, 0.6)},
            "mulaw": {"channels": (256,)},
        },
        "codec_share": 0.5,
        "codecs": CODEC_CONDITIONS,
    },
    "itw": {
        "p_apply": 0.75,
        "max_effects": 2,
        "kwargs": {
            "noise": {"snr_db": (5.0, 20.0)},
            "reverb": {"rt60": (0.3, 0.9)},
            "mulaw": {"channels": (64, 256)},
        },
        "codec_share": 0.5,
        "codecs": CODEC_CONDITIONS,
    },
}


def apply_channel_effects(x, rng, sample_rate=16000, profile="eval"):
    """Apply a random subset of channel effects (or none).

    Arguments
    ---------
    x : numpy.ndarray
        The waveform.
    rng : numpy.random.Generator
        Random stream of this utterance's channel.
    sample_rate : int
        Sampling rate (Hz).
    profile : str
        ``"eval"`` (half the files, one effect, SNR 10-30 dB) or ``"itw"``
        (most files, up to two stronger effects).

    Returns
    -------
    tuple
        ``(waveform, names of the applied effects)``.

    Example
    -------
    >>> x = np.random.default_rng(0).standard_normal(8000)
    >>> y, effects = apply_channel_effects(x, np.random.default_rng(1))
    >>> y.shape, all(name in CHANNEL_EFFECTS for name in effects)
    ((8000,), True)
    """
    config = CHANNEL_PROFILES[profile]
    if rng.random() >= config["p_apply"]:
        return x, ()
    n_effects = int(rng.integers(1, config["max_effects"] + 1))
    names = tuple(
        str(name)
        for name in rng.choice(sorted(CHANNEL_EFFECTS), n_effects, replace=False)
    )
    for name in names:
        kwargs = config["kwargs"].get(name, {})
        x = CHANNEL_EFFECTS[name](x, rng, sample_rate, **kwargs)
    return x, names


def assign_codecs(labels, rng, profile=None):
    """Codec conditions of a split's utterances, the same share in each class.

    In each class, the first ``round(codec_share * n)`` utterances of a
    random permutation get a codec, dealt out in the profile's ``codecs``
    order; the others get none. Both classes therefore have the same share
    of coded files and the same mix of codecs and bitrates (up to one file of
    rounding), so that the codec says nothing of the label.

    Arguments
    ---------
    labels : sequence of str
        The label of each utterance of the split (``"bonafide"``, ``"spoof"``).
    rng : numpy.random.Generator
        The split's codec stream (used only when the profile has codecs).
    profile : str, optional
        A key of :data:`CHANNEL_PROFILES`; ``None`` (train, dev) gives no codec.

    Returns
    -------
    list
        Per utterance, ``None`` or ``(codec name, kbit/s)``.

    Example
    -------
    >>> labels = ["bonafide"] * 4 + ["spoof"] * 8
    >>> codecs = assign_codecs(labels, np.random.default_rng(0), "eval")
    >>> sum(c is not None for c in codecs[:4]), sum(c is not None for c in codecs[4:])
    (2, 4)
    >>> sorted(c for c in codecs[:4] if c)
    [('mp3', 16), ('opus', 8)]
    >>> assign_codecs(labels, np.random.default_rng(0)) == [None] * 12
    True
    """
    codecs = [None] * len(labels)
    config = CHANNEL_PROFILES[profile] if profile is not None else {}
    share, conditions = config.get("codec_share", 0.0), config.get("codecs", ())
    if not share or not conditions:
        return codecs
    for label in sorted(set(labels)):
        members = [i for i, other in enumerate(labels) if other == label]
        n_coded = int(math.floor(share * len(members) + 0.5))
        order = rng.permutation(len(members))[:n_coded]
        for rank, k in enumerate(order.tolist()):
            codecs[members[k]] = tuple(conditions[rank % len(conditions)])
    return codecs


def apply_codec(x, codec, kbps, sample_rate=16000, level=0.5):
    """Encode and decode ``x`` with a real lossy codec, at ``x``'s scale.

    The waveform is scaled to a peak of ``level`` (the encoders take samples
    in [-1, 1]), encoded and decoded in memory by
    :func:`dpda.augment.codec.encode` and :func:`~dpda.augment.codec.decode`,
    realigned by :func:`~dpda.augment.codec.align` (the codec's delay
    removed, the length kept) and scaled back.

    Arguments
    ---------
    x : numpy.ndarray
        The waveform.
    codec : str
        A codec of :data:`dpda.augment.CODECS` (``"mp3"``, ``"opus"`` ...).
    kbps : float
        Bitrate in kbit/s.
    sample_rate : int
        Sampling rate (Hz); the codecs run at 16 kHz (resampled if needed).
    level : float
        Peak level the codec sees.

    Returns
    -------
    numpy.ndarray
        The decoded waveform, float64, of ``len(x)`` samples.

    Example
    -------
    >>> x = np.random.default_rng(0).standard_normal(16000)
    >>> y = apply_codec(x, "mp3", 16)
    >>> y.shape, bool(np.array_equal(y, apply_codec(x, "mp3", 16)))
    ((16000,), True)
    >>> spectrum = lambda z: np.abs(np.fft.rfft(z)) ** 2
    >>> high = slice(6500, None)  # 1 Hz bins: above 6.5 kHz, cut by the MP3
    >>> bool(spectrum(y)[high].sum() < 1e-4 * spectrum(x)[high].sum())
    True
    """
    peak = float(np.max(np.abs(x)))
    if peak == 0.0:
        return np.zeros(len(x))
    scaled = (np.asarray(x) * (level / peak)).astype(np.float32)
    decoded = decode(encode(scaled, sample_rate, codec, kbps), sample_rate)
    aligned = align(scaled, decoded, max_delay=4096)
    return aligned.astype(np.float64) * (peak / level)
