"""Channel effects of eval and In-the-Wild, applied to both classes.

Telephone band, mu-law companding, additive coloured noise and
reverberation (:data:`CHANNEL_EFFECTS`); :data:`CHANNEL_PROFILES` sets how
often and how strongly :func:`apply_channel_effects` uses them per split, so
that a detector trained on the clean training set generalises imperfectly.

Authors
 * dpda contributors 2026
"""

import numpy as np

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
CHANNEL_PROFILES = {
    "eval": {
        "p_apply": 0.5,
        "max_effects": 1,
        "kwargs": {
            "noise": {"snr_db": (10.0, 30.0)},
            "reverb": {"rt60": (0.2, 0.6)},
            "mulaw": {"channels": (256,)},
        },
    },
    "itw": {
        "p_apply": 0.75,
        "max_effects": 2,
        "kwargs": {
            "noise": {"snr_db": (5.0, 20.0)},
            "reverb": {"rt60": (0.3, 0.9)},
            "mulaw": {"channels": (64, 256)},
        },
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
