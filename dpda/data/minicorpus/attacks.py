"""Spoofing attacks: plan transforms, vocoder steps and :func:`apply_attack`.

Each attack of :data:`ATTACKS` re-renders an utterance plan, optionally
transformed first, then runs waveform steps that leave one family of
artefacts (Griffin-Lim phase, over-regular source, channel vocoder,
harmonic-plus-noise model, concatenation joins, upsampling gap, LPC buzz,
mel smoothing, spectral warping, PSOLA grains ...), and ends with the shared
roll-off near Nyquist. :data:`SPLIT_ATTACKS` says which attacks each split
uses: train and dev share A01-A06, eval has the unseen A07-A13 and
In-the-Wild unseen chains of its own.

Authors
 * dpda contributors 2026
"""

from dataclasses import dataclass, replace
from functools import lru_cache, partial
from typing import Callable, Dict, Tuple

import numpy as np
import torchaudio.functional as AF

from dpda.data.minicorpus.dsp import (
    _bin_freqs,
    _fft_filter,
    _frame_config,
    _istft,
    _match_frame_energy,
    _per_sample,
    _random_phase,
    _smooth,
    _stft,
    _unit_frames,
)
from dpda.data.minicorpus.speech import render_speech


# --------------------------------------------------------------------------
# Plan transforms used by attacks
# --------------------------------------------------------------------------
def _regular_source_plan(plan):
    """Over-regular source: no jitter / shimmer / breath, semitone pitch."""
    semitones = np.round(12 * np.log2(plan.f0 / 55.0))
    return replace(
        plan,
        f0=55.0 * 2 ** (semitones / 12),
        jitter=0.0,
        shimmer=0.0,
        breathiness=0.2 * plan.breathiness,
        open_quotient=0.6,
    )


def _oversmoothed_plan(plan):
    """Statistical-parametric look: flattened formants and pitch, wide peaks."""
    mean = plan.formants.mean(axis=0, keepdims=True)
    formants = _smooth(mean + 0.5 * (plan.formants - mean), 15)
    log_f0 = np.log(plan.f0)
    f0 = np.exp(log_f0.mean() + 0.5 * (_smooth(log_f0, 31) - log_f0.mean()))
    return replace(
        plan,
        f0=f0,
        formants=formants,
        bandwidths=2.0 * plan.bandwidths,
        jitter=0.0,
        shimmer=0.0,
        breathiness=0.3 * plan.breathiness,
    )


def _perturbed_plan(plan, rng):
    """The same text from another "recording": shifted pitch and formants."""
    return replace(
        plan,
        f0=plan.f0 * rng.uniform(0.94, 1.06),
        formants=plan.formants * rng.uniform(0.97, 1.03),
        amplitude=plan.amplitude * rng.uniform(0.7, 1.3),
    )


# --------------------------------------------------------------------------
# Attack steps: (waveform, plan, rng) -> waveform
# --------------------------------------------------------------------------
def _vocoder_sources(plan, rng, voiced_threshold=0.5):
    """Unit-power regular pulse train (no jitter) and white noise.

    Returns ``(pulses, noise, voiced)``; ``voiced`` is a binary per-sample
    decision, as a vocoder's V/UV flag.
    """
    n, sr = plan.n_samples, plan.sample_rate
    f0 = _per_sample(plan.f0, plan.hop, n)
    phase = np.cumsum(f0) / sr
    cycle = np.floor(phase)
    idx = np.nonzero(np.diff(cycle, prepend=cycle[0]))[0]
    # Split each pulse over two samples for sub-sample epochs.
    late = np.clip((phase[idx] - cycle[idx]) * sr / f0[idx], 0.0, 1.0)
    pulses = np.zeros(n)
    pulses[idx] += 1.0 - late
    pulses[np.maximum(idx - 1, 0)] += late
    pulses *= np.sqrt(sr / f0)
    voiced = _per_sample(plan.voicing, plan.hop, n) > voiced_threshold
    return pulses, rng.standard_normal(n), voiced.astype(float)


def _griffin_lim_step(x, plan, rng, n_iter=2, frame_scale=2):
    """Keep the STFT magnitude, rebuild the phase by a few Griffin-Lim steps."""
    n_fft, hop = _frame_config(plan.sample_rate, frame_scale)
    n = len(x)
    mag = np.abs(_stft(x, n_fft, hop))
    spec = mag * _random_phase(rng, mag.shape)
    for _ in range(n_iter):
        rebuilt = _stft(_istft(spec, n_fft, hop, n), n_fft, hop)
        spec = rebuilt * (mag / np.maximum(np.abs(rebuilt), 1e-12))
    return _istft(spec, n_fft, hop, n)


def _channel_vocoder_step(x, plan, rng, n_bands=18, noise_from_hz=3000.0):
    """Band-energy vocoder: mel bands, pulses below a cut-off, noise above."""
    sr = plan.sample_rate
    n_fft, hop = _frame_config(sr)
    freqs = _bin_freqs(n_fft, sr)
    spec = _stft(x, n_fft, hop)
    pulses, noise, voiced = _vocoder_sources(plan, rng)
    low = _stft(pulses * voiced + noise * (1 - voiced), n_fft, hop)
    excitation = np.where(freqs < noise_from_hz, low, _stft(noise, n_fft, hop))
    mel = 2595 * np.log10(1 + freqs / 700)
    edges = np.linspace(0, mel[-1] + 1e-6, n_bands + 1)
    band = np.clip(np.searchsorted(edges, mel, side="right") - 1, 0, n_bands - 1)
    starts = np.searchsorted(band, np.arange(n_bands))  # bins sorted by band
    target = np.add.reduceat(np.abs(spec) ** 2, starts, axis=1)
    actual = np.add.reduceat(np.abs(excitation) ** 2, starts, axis=1) + 1e-12
    gains = np.sqrt(target / actual)[:, band]  # staircase envelope
    return _istft(excitation * gains, n_fft, hop, len(x))


def _cepstral_envelope(spec, n_cepstra):
    """Spectral envelope by low-quefrency liftering of the log magnitude."""
    cepstrum = np.fft.irfft(np.log(np.abs(spec) + 1e-7), axis=1)
    n_fft = cepstrum.shape[1]
    cepstrum[:, n_cepstra : n_fft - n_cepstra + 1] = 0.0
    return np.exp(np.fft.rfft(cepstrum, axis=1).real)


def _harmonic_plus_noise_step(x, plan, rng, max_voiced_hz=4000.0, n_cepstra=30):
    """HNM vocoder: smooth envelope, regular harmonics up to a cut-off."""
    sr = plan.sample_rate
    n_fft, hop = _frame_config(sr)
    freqs = _bin_freqs(n_fft, sr)
    spec = _stft(x, n_fft, hop)
    pulses, noise, voiced = _vocoder_sources(plan, rng)
    harmonic = _unit_frames(_stft(pulses * voiced + noise * (1 - voiced), n_fft, hop))
    noisy = 0.5 * _unit_frames(_stft(noise, n_fft, hop))
    excitation = np.where(freqs < max_voiced_hz, harmonic, noisy)
    out = excitation * _cepstral_envelope(spec, n_cepstra)
    return _istft(_match_frame_energy(out, spec), n_fft, hop, len(x))


def _unit_concatenation_step(x, plan, rng, unit_ms=(40.0, 140.0), max_shift_ms=6.0):
    """Unit selection: alternate units of two renderings, no cross-fade.

    The joins break phase, amplitude and pitch continuity.
    """
    sr, n = plan.sample_rate, len(x)
    sources = (x, render_speech(_perturbed_plan(plan, rng), variant=1))
    max_shift = int(max_shift_ms * sr / 1000)
    out = np.zeros(n)
    pos, which = 0, int(rng.integers(2))
    while pos < n:
        length = int(rng.uniform(*unit_ms) * sr / 1000)
        start = int(np.clip(pos + rng.integers(-max_shift, max_shift + 1), 0, n - 1))
        unit = sources[which][start : start + min(length, n - pos)]
        out[pos : pos + len(unit)] = unit
        pos += max(len(unit), 1)
        if rng.random() < 0.7:
            which = 1 - which
    return out


def _raised_cosine_low_pass(freqs, cutoff_hz, transition_hz):
    """Gain per frequency: 1, a raised-cosine fall ending at ``cutoff_hz``, 0."""
    edge = np.clip((freqs - cutoff_hz + transition_hz) / transition_hz, 0, 1)
    return 0.5 + 0.5 * np.cos(np.pi * edge)


def _band_limit(x, cutoff_hz, sample_rate, transition_hz=200.0):
    """Zero-phase low-pass by FFT with a raised-cosine transition band."""
    gain = partial(
        _raised_cosine_low_pass, cutoff_hz=cutoff_hz, transition_hz=transition_hz
    )
    return _fft_filter(x, gain, sample_rate)


def _low_rate_step(x, plan, rng, low_rates=(8000,)):
    """Synthesis at a lower rate then upsampling: nothing above its Nyquist.

    Resampling down and up amounts to an anti-aliasing low-pass just below
    the low rate's Nyquist frequency.
    """
    low = int(rng.choice(low_rates))
    return _band_limit(x, 0.48 * low, plan.sample_rate)


def _levinson(autocorr, order):
    """Levinson-Durbin on each row: LPC polynomials and residual energies."""
    n_frames = autocorr.shape[0]
    a = np.zeros((n_frames, order + 1))
    a[:, 0] = 1.0
    err = autocorr[:, 0].copy()
    for i in range(1, order + 1):
        acc = autocorr[:, i] + np.sum(a[:, 1:i] * autocorr[:, i - 1 : 0 : -1], axis=1)
        k = -acc / err
        previous = a.copy()
        a[:, 1:i] = previous[:, 1:i] + k[:, None] * previous[:, i - 1 : 0 : -1]
        a[:, i] = k
        err *= 1.0 - k**2
    return a, np.maximum(err, 1e-12)


def _lpc_vocoder_step(x, plan, rng, order=16):
    """LPC vocoder: all-pole envelope, impulses or noise by a binary V/UV."""
    sr = plan.sample_rate
    n_fft, hop = _frame_config(sr)
    spec = _stft(x, n_fft, hop)
    autocorr = np.fft.irfft(np.abs(spec) ** 2, axis=1)[:, : order + 1]
    autocorr[:, 0] = autocorr[:, 0] * (1 + 1e-4) + 1e-10  # white-noise correction
    autocorr *= np.exp(-0.5 * (0.01 * np.arange(order + 1)) ** 2)  # lag window
    a, err = _levinson(autocorr, order)
    envelope = np.sqrt(err)[:, None] / np.abs(np.fft.rfft(a, n_fft, axis=1))
    pulses, noise, voiced = _vocoder_sources(plan, rng)
    excitation = _unit_frames(_stft(pulses * voiced + noise * (1 - voiced), n_fft, hop))
    out = _match_frame_energy(excitation * envelope, spec)
    return _istft(out, n_fft, hop, len(x))


@lru_cache(maxsize=8)
def _mel_bank(n_fft, n_mels, sample_rate):
    """Triangular mel filter bank, ``(n_fft // 2 + 1, n_mels)`` (cached)."""
    bank = AF.melscale_fbanks(n_fft // 2 + 1, 0.0, sample_rate / 2, n_mels, sample_rate)
    bank = bank.numpy().astype(np.float64)
    bank.setflags(write=False)
    return bank


def _mel_griffin_lim_step(x, plan, rng, n_mels=40, n_iter=3, frame_scale=2):
    """Mel-spectrogram vocoder: mel-smoothed magnitude, Griffin-Lim phase."""
    sr = plan.sample_rate
    n_fft, hop = _frame_config(sr, frame_scale)
    power = np.abs(_stft(x, n_fft, hop)) ** 2
    bank = _mel_bank(n_fft, n_mels, sr)
    # einsum, not BLAS: multi-threaded BLAS stalls on small products when
    # the cores are busy (the generator runs in worker threads).
    mel = np.einsum("tf,fm->tm", power, bank / np.maximum(bank.sum(axis=0), 1e-8))
    # Spread each band's mean power back over the bins it covers.
    smooth = np.einsum("tm,fm->tf", mel, bank) / np.maximum(bank.sum(axis=1), 1e-8)
    mag = np.sqrt(smooth)
    spec = mag * _random_phase(rng, mag.shape)
    for _ in range(n_iter):
        rebuilt = _stft(_istft(spec, n_fft, hop, len(x)), n_fft, hop)
        spec = rebuilt * (mag / np.maximum(np.abs(rebuilt), 1e-12))
    return _istft(spec, n_fft, hop, len(x))


def _spectral_warp_step(x, plan, rng, alpha_range=(1.06, 1.14)):
    """Voice-conversion-like frequency warp of the magnitude; phase kept."""
    n_fft, hop = _frame_config(plan.sample_rate)
    alpha = rng.uniform(*alpha_range) ** rng.choice([-1.0, 1.0])
    spec = _stft(x, n_fft, hop)
    n_bins = spec.shape[1]
    position = np.clip(np.arange(n_bins) / alpha, 0, n_bins - 1)
    lower = np.minimum(position.astype(int), n_bins - 2)
    weight = position - lower
    mag = np.abs(spec)
    warped = mag[:, lower] * (1 - weight) + mag[:, lower + 1] * weight
    out = spec * (warped / np.maximum(mag, 1e-12))
    return _istft(out, n_fft, hop, len(x))


def _epochs(f0, sample_rate):
    """Sample indices where the phase of ``f0`` (per sample) wraps."""
    cycle = np.floor(np.cumsum(f0) / sample_rate)
    return np.nonzero(np.diff(cycle, prepend=cycle[0]))[0]


@lru_cache(maxsize=512)
def _grain_window(half):
    """Hann window of ``2 * half + 1`` points (read-only, cached)."""
    window = np.hanning(2 * half + 1)
    window.setflags(write=False)
    return window


def _psola_step(x, plan, rng, shift_range=(1.12, 1.3)):
    """TD-PSOLA pitch shift: two-period grains moved to new pitch marks.

    Pitch marks come from the plan's smooth F0, not the jittered excitation,
    so they drift off the true epochs as a real pitch tracker's would.
    """
    sr, n = plan.sample_rate, len(x)
    beta = rng.uniform(*shift_range) ** rng.choice([-1.0, 1.0])
    voiced = _per_sample(plan.voicing, plan.hop, n) > 0.5
    f0 = _per_sample(plan.f0, plan.hop, n)
    analysis_f0 = np.where(voiced, f0, 100.0)
    synthesis_f0 = np.where(voiced, f0 * beta, 100.0)
    analysis = _epochs(analysis_f0, sr)
    synthesis = _epochs(synthesis_f0, sr)
    if len(analysis) == 0:
        return x
    margin = int(sr / 40) + 1
    padded = np.pad(x, (margin, margin))
    out = np.zeros_like(padded)
    after = np.clip(np.searchsorted(analysis, synthesis), 1, len(analysis) - 1)
    before = after - 1
    closer_before = synthesis - analysis[before] < analysis[after] - synthesis
    nearest = np.where(closer_before, before, after) if len(analysis) > 1 else before
    for ts, i in zip(synthesis, nearest):
        ta = analysis[i]
        half = min(int(sr / analysis_f0[ta]), margin - 1)
        grain = padded[ta + margin - half : ta + margin + half + 1]
        gain = analysis_f0[ta] / synthesis_f0[ts]  # keep the overlap-add level
        out[ts + margin - half : ts + margin + half + 1] += (
            gain * grain * _grain_window(half)
        )
    return out[margin : margin + n]


def _band_edge_gain(freqs, edge, depth, sample_rate):
    """Gain per frequency: 1 below ``edge``, a raised-cosine fall of ``depth`` dB.

    The fall ends at Nyquist.
    """
    ramp = np.clip((freqs - edge) / (sample_rate / 2 - edge), 0.0, 1.0)
    return 10 ** (-depth * (0.5 - 0.5 * np.cos(np.pi * ramp)) / 20)


def _vocoder_band_edge(
    x, rng, sample_rate, edge_hz=(6000.0, 7600.0), depth_db=(3.0, 15.0)
):
    """Shared output stage of all attacks: a soft roll-off near Nyquist.

    Acoustic models and vocoders are trained on band-limited features (mel
    banks stop short of Nyquist), so the top of their output band is weak.
    The edge and depth vary, and channel effects can mask it: a cue that
    generalises to unseen attacks, but not robustly.
    """
    edge = rng.uniform(*edge_hz) * sample_rate / 16000
    depth = rng.uniform(*depth_db)
    gain = partial(_band_edge_gain, edge=edge, depth=depth, sample_rate=sample_rate)
    return _fft_filter(x, gain, sample_rate)


# --------------------------------------------------------------------------
# Attack registry
# --------------------------------------------------------------------------
@dataclass(frozen=True)
class Attack:
    """A spoofing attack: a plan transform, a rendering, then waveform steps.

    :func:`apply_attack` ends every attack with the shared output stage
    :func:`_vocoder_band_edge`.

    Arguments
    ---------
    family : str
        Short name of the artefact family.
    plan_transform : callable or None
        ``plan -> plan`` applied before rendering.
    steps : tuple of callable
        ``(waveform, plan, rng) -> waveform``, applied in order.
    """

    family: str
    plan_transform: Callable | None = None
    steps: Tuple[Callable, ...] = ()


ATTACKS: Dict[str, Attack] = {
    # Train and dev (known attacks).
    "A01": Attack("griffin_lim_vocoder", None, (_griffin_lim_step,)),
    "A02": Attack("regular_source", _regular_source_plan),
    "A03": Attack("channel_vocoder", None, (_channel_vocoder_step,)),
    "A04": Attack("harmonic_plus_noise", None, (_harmonic_plus_noise_step,)),
    "A05": Attack("unit_concatenation", None, (_unit_concatenation_step,)),
    "A06": Attack("low_rate_upsampling", None, (_low_rate_step,)),
    # Eval (unseen families, combinations and strengths).
    "A07": Attack("lpc_vocoder", None, (_lpc_vocoder_step,)),
    "A08": Attack("mel_griffin_lim", None, (_mel_griffin_lim_step,)),
    "A09": Attack("spectral_warp", None, (_spectral_warp_step,)),
    "A10": Attack(
        "concatenation_regular_source",
        _regular_source_plan,
        (_unit_concatenation_step,),
    ),
    "A11": Attack(
        "oversmoothed_parametric",
        _oversmoothed_plan,
        (partial(_harmonic_plus_noise_step, max_voiced_hz=3000.0, n_cepstra=20),),
    ),
    "A12": Attack("psola_pitch_shift", None, (_psola_step,)),
    "A13": Attack(
        "griffin_lim_low_rate",
        None,
        (
            partial(_griffin_lim_step, n_iter=1, frame_scale=1),
            partial(_low_rate_step, low_rates=(10000, 12000)),
        ),
    ),
    # In-the-Wild only (no attack column in meta.csv): unseen chains.
    "itw_lpc12_warp": Attack(
        "lpc_vocoder_warp",
        None,
        (partial(_lpc_vocoder_step, order=12), _spectral_warp_step),
    ),
    "itw_mel32": Attack(
        "mel_griffin_lim_32",
        None,
        (partial(_mel_griffin_lim_step, n_mels=32, n_iter=6),),
    ),
    "itw_psola_warp": Attack(
        "psola_spectral_warp", None, (_psola_step, _spectral_warp_step)
    ),
    "itw_oversmoothed_lpc": Attack(
        "oversmoothed_lpc", _oversmoothed_plan, (_lpc_vocoder_step,)
    ),
    "itw_concat_mel": Attack(
        "concatenation_mel_griffin_lim",
        None,
        (_unit_concatenation_step, partial(_mel_griffin_lim_step, n_iter=2)),
    ),
}
SPLIT_ATTACKS = {
    "train": ("A01", "A02", "A03", "A04", "A05", "A06"),
    "dev": ("A01", "A02", "A03", "A04", "A05", "A06"),
    "eval": ("A07", "A08", "A09", "A10", "A11", "A12", "A13"),
    "itw": (
        "itw_lpc12_warp",
        "itw_mel32",
        "itw_psola_warp",
        "itw_oversmoothed_lpc",
        "itw_concat_mel",
    ),
}


def apply_attack(attack_id, plan, rng):
    """Synthesise a spoofed rendering of ``plan`` with one attack.

    Arguments
    ---------
    attack_id : str
        A key of :data:`ATTACKS` (``"A01"`` ... ``"A13"``, ``"itw_*"``).
    plan : SpeechPlan
        The speech parameters of the utterance.
    rng : numpy.random.Generator
        Random stream of the attack.

    Returns
    -------
    numpy.ndarray
        The spoofed waveform, ``plan.n_samples`` samples.

    Example
    -------
    >>> from dpda.data.minicorpus.speech import plan_utterance, sample_speaker
    >>> rng = np.random.default_rng(0)
    >>> plan = plan_utterance(sample_speaker("LA_0001", rng), rng, 16000)
    >>> apply_attack("A06", plan, rng).shape
    (16000,)
    """
    attack = ATTACKS[attack_id]
    if attack.plan_transform is not None:
        plan = attack.plan_transform(plan)
    x = render_speech(plan)
    for step in attack.steps:
        x = step(x, plan, rng)
    return _vocoder_band_edge(x, rng, plan.sample_rate)
