"""Synthetic speakers, utterance plans and the bona fide speech renderer.

A :class:`Speaker` holds the voice parameters of one synthetic speaker;
:func:`plan_utterance` draws the frame-level parameters of one utterance
(:class:`SpeechPlan`: syllables, pitch contour, formant tracks, microphone
colouration); :func:`render_speech` renders a plan with a source-filter
synthesiser (a Rosenberg glottal pulse with jitter and shimmer, a cascade of
formant resonators, aspiration and fricative noise). Attacks re-render the
same plans (see :mod:`dpda.data.minicorpus.attacks`).

Authors
 * dpda contributors 2026
"""

from dataclasses import dataclass
from functools import lru_cache, partial
from typing import Tuple

import numpy as np

from dpda.data.minicorpus.dsp import (
    _bin_freqs,
    _complex_noise,
    _frame_config,
    _istft,
    _per_sample,
    _smooth,
    _stft,
)

# F1-F3 (Hz) of ten vowels of an adult male voice (Peterson & Barney, 1952).
_VOWELS = np.array(
    [
        [270, 2290, 3010],
        [390, 1990, 2550],
        [530, 1840, 2480],
        [660, 1720, 2410],
        [730, 1090, 2440],
        [570, 840, 2410],
        [440, 1020, 2240],
        [300, 870, 2240],
        [640, 1190, 2390],
        [490, 1350, 1690],
    ],
    dtype=float,
)
_NASAL = np.array([260.0, 1150.0, 2300.0])
_UPPER_FORMANTS = np.array([3400.0, 4400.0])  # F4, F5 for a unit tract scale
_BANDWIDTHS = np.array([60.0, 90.0, 130.0, 180.0, 250.0])
_FORMANT_PEAK_DB = np.array([24.0, 22.0, 18.0, 14.0, 10.0])


# --------------------------------------------------------------------------
# Parameters
# --------------------------------------------------------------------------
@dataclass(frozen=True)
class Speaker:
    """Voice parameters of one synthetic speaker.

    Arguments
    ---------
    speaker_id : str
        The name written in the protocol or ``meta.csv``.
    f0_mean : float
        Mean fundamental frequency (Hz), 80-250.
    f0_range : float
        Size of pitch accents (octaves).
    tract_scale : float
        Multiplier of all formant frequencies (shorter tract: larger).
    formant_offsets : tuple of float
        Individual multipliers of F1-F5.
    bandwidth_scale : float
        Multiplier of the formant bandwidths.
    breathiness : float
        Aspiration noise level relative to the voiced source.
    open_quotient : float
        Open fraction of the glottal cycle.
    jitter : float
        Relative cycle-to-cycle period perturbation (std).
    shimmer : float
        Relative cycle-to-cycle amplitude perturbation (std).
    rate : float
        Speaking rate (syllables per second).
    """

    speaker_id: str
    f0_mean: float
    f0_range: float
    tract_scale: float
    formant_offsets: Tuple[float, ...]
    bandwidth_scale: float
    breathiness: float
    open_quotient: float
    jitter: float
    shimmer: float
    rate: float


@dataclass(frozen=True)
class SpeechPlan:
    """Frame-level parameters of one utterance, the input of the renderers.

    Frames are centred every ``hop`` samples (``n_samples // hop + 1`` frames).

    Arguments
    ---------
    sample_rate : int
        Sampling rate (Hz).
    n_samples : int
        Length of the rendered waveform.
    hop : int
        Frame shift (samples).
    f0 : numpy.ndarray
        Pitch contour (Hz), defined in every frame.
    voicing : numpy.ndarray
        Voicing degree in [0, 1].
    amplitude : numpy.ndarray
        Amplitude envelope of the voiced source.
    frication : numpy.ndarray
        Gain of the fricative / burst noise.
    fric_center : numpy.ndarray
        Centre frequency (Hz) of the fricative noise.
    fric_width : numpy.ndarray
        Width (octaves) of the fricative noise band.
    formants : numpy.ndarray
        Formant frequencies (Hz), shape ``(frames, 5)``.
    bandwidths : numpy.ndarray
        Formant bandwidths (Hz), shape ``(frames, 5)``.
    open_quotient, jitter, shimmer, breathiness : float
        Source parameters (see :class:`Speaker`).
    coloration : numpy.ndarray
        Linear gain per STFT bin of the microphone and room.
    noise_seed : int
        Seeds the excitation noises, so that re-renders are reproducible.
    """

    sample_rate: int
    n_samples: int
    hop: int
    f0: np.ndarray
    voicing: np.ndarray
    amplitude: np.ndarray
    frication: np.ndarray
    fric_center: np.ndarray
    fric_width: np.ndarray
    formants: np.ndarray
    bandwidths: np.ndarray
    open_quotient: float
    jitter: float
    shimmer: float
    breathiness: float
    coloration: np.ndarray
    noise_seed: int


def sample_speaker(speaker_id, rng):
    """Draw the voice parameters of a speaker.

    Arguments
    ---------
    speaker_id : str
        The speaker's name or id.
    rng : numpy.random.Generator
        Random stream of this speaker.

    Returns
    -------
    Speaker
        The drawn parameters.

    Example
    -------
    >>> spk = sample_speaker("LA_0079", np.random.default_rng(0))
    >>> 80 <= spk.f0_mean <= 250
    True
    """
    low_voice = rng.random() < 0.5
    # Lower voices tend to come with longer vocal tracts (lower formants).
    if low_voice:
        f0_mean, tract = rng.uniform(80, 150), rng.uniform(0.94, 1.06)
    else:
        f0_mean, tract = rng.uniform(160, 250), rng.uniform(1.08, 1.2)
    return Speaker(
        speaker_id=speaker_id,
        f0_mean=float(f0_mean),
        f0_range=float(rng.uniform(0.12, 0.4)),
        tract_scale=float(tract),
        formant_offsets=tuple(float(v) for v in rng.uniform(0.95, 1.05, 5)),
        bandwidth_scale=float(rng.uniform(0.8, 1.3)),
        breathiness=float(rng.uniform(0.02, 0.25) * (1.0 if low_voice else 1.5)),
        open_quotient=float(rng.uniform(0.5, 0.75)),
        jitter=float(rng.uniform(0.004, 0.015)),
        shimmer=float(rng.uniform(0.02, 0.08)),
        rate=float(rng.uniform(3.0, 6.0)),
    )


# --------------------------------------------------------------------------
# Utterance plan
# --------------------------------------------------------------------------
def _frame_slice(t0, t1, n_frames, frame_rate):
    """Frames from ``t0`` to ``t1`` (seconds), clipped to the utterance."""
    return slice(
        min(n_frames, int(round(t0 * frame_rate))),
        min(n_frames, int(round(t1 * frame_rate))),
    )


def _syllable_tracks(speaker, rng, n_frames, frame_rate, duration):
    """Lay out syllables: onsets, voiced nuclei, codas and pauses.

    Returns per-frame voicing, amplitude, frication, fricative centre and
    width, vowel targets (F1-F3, NaN where unset) and accent times (s).
    """
    voicing = np.zeros(n_frames)
    amplitude = np.zeros(n_frames)
    frication = np.zeros(n_frames)
    fric_center = np.full(n_frames, 4000.0)
    fric_width = np.full(n_frames, 0.7)
    targets = np.full((n_frames, 3), np.nan)
    accents = []
    frames = partial(_frame_slice, n_frames=n_frames, frame_rate=frame_rate)
    t = rng.uniform(0.05, 0.25)  # leading silence
    end = duration - rng.uniform(0.05, 0.25)  # trailing silence
    while t < end - 0.08:
        syllable = rng.uniform(0.75, 1.3) / speaker.rate
        stress = rng.uniform(0.55, 1.0)
        vowel = _VOWELS[rng.integers(len(_VOWELS))]
        onset = rng.choice(4, p=[0.3, 0.3, 0.25, 0.15])
        start = t
        if onset == 1:  # fricative: band noise, high centre frequency
            d = rng.uniform(0.05, 0.12)
            seg = frames(t, t + d)
            frication[seg] = rng.uniform(0.3, 0.7) * stress
            fric_center[seg] = rng.uniform(2500, 7000)
            fric_width[seg] = rng.uniform(0.4, 0.9)
            t += d
        elif onset == 2:  # plosive: closure silence then a broadband burst
            t += rng.uniform(0.02, 0.05)
            d = rng.uniform(0.008, 0.02)
            seg = frames(t, t + d)
            frication[seg] = rng.uniform(0.5, 0.9) * stress
            fric_center[seg] = rng.uniform(1500, 4500)
            fric_width[seg] = 1.5
            t += d
        elif onset == 3:  # nasal: weak voicing with low formants
            d = rng.uniform(0.04, 0.08)
            seg = frames(t, t + d)
            voicing[seg] = 1.0
            amplitude[seg] = 0.35 * stress
            targets[seg] = _NASAL
            t += d
        nucleus = max(0.06, syllable - (t - start))
        nucleus = min(nucleus, end - t)
        seg = frames(t, t + nucleus)
        length = seg.stop - seg.start
        if length > 0:
            shape = np.sin(np.pi * (np.arange(length) + 0.5) / length) ** 0.7
            voicing[seg] = 1.0
            amplitude[seg] = stress * (0.3 + 0.7 * shape)
            targets[seg] = vowel
            if stress > 0.8 and rng.random() < 0.6:
                accents.append(t + nucleus / 2)
        t += nucleus
        if rng.random() < 0.15 and t < end - 0.04:  # fricative coda
            d = min(rng.uniform(0.04, 0.09), end - t)
            seg = frames(t, t + d)
            frication[seg] = rng.uniform(0.2, 0.5) * stress
            fric_center[seg] = rng.uniform(3000, 7000)
            fric_width[seg] = rng.uniform(0.4, 0.9)
            t += d
        if rng.random() < 0.12:  # phrase pause
            t += rng.uniform(0.08, 0.25)
        else:
            t += rng.uniform(0.0, 0.03)
    return voicing, amplitude, frication, fric_center, fric_width, targets, accents


def _fill_targets(targets):
    """Hold vowel targets through consonants and pauses (forward, then back)."""
    valid = ~np.isnan(targets[:, 0])
    if not valid.any():
        return np.tile(_VOWELS[-1], (len(targets), 1))
    index = np.where(valid, np.arange(len(targets)), 0)
    index = np.maximum.accumulate(index)
    index[: np.argmax(valid)] = np.argmax(valid)
    return targets[index]


def _pitch_contour(speaker, rng, n_frames, frame_rate, duration, accents):
    """F0 per frame: declination, Gaussian accents and a slow random wander."""
    t = np.arange(n_frames) / frame_rate
    declination = rng.uniform(0.1, 0.35)
    octaves = declination * (0.5 - t / duration)
    for centre in accents:
        width = rng.uniform(0.06, 0.12)
        height = rng.uniform(0.4, 1.0) * speaker.f0_range
        octaves += height * np.exp(-0.5 * ((t - centre) / width) ** 2)
    if rng.random() < 0.2:  # question-like final rise
        octaves += rng.uniform(0.1, 0.3) * np.clip((t - duration + 0.4) / 0.4, 0, 1)
    wander = _smooth(rng.standard_normal(n_frames), 25)
    octaves += 0.2 * wander
    return np.clip(speaker.f0_mean * 2.0**octaves, 55.0, 450.0)


def _formant_tracks(speaker, rng, targets):
    """F1-F5 and bandwidths per frame from held, coarticulated vowel targets."""
    n_frames = len(targets)
    upper = np.tile(_UPPER_FORMANTS, (n_frames, 1))
    formants = np.concatenate([targets, upper], axis=1)
    formants *= speaker.tract_scale * np.asarray(speaker.formant_offsets)
    drift = 1.0 + 0.03 * _smooth(rng.standard_normal((n_frames, 5)), 15)
    # ~60 ms smoothing stands in for coarticulation between targets.
    formants = _smooth(formants * drift, 9)
    bandwidths = np.tile(_BANDWIDTHS * speaker.bandwidth_scale, (n_frames, 1))
    bandwidths *= 1.0 + 0.1 * _smooth(rng.standard_normal((n_frames, 5)), 15)
    return formants, bandwidths


def _coloration(rng, n_fft, sample_rate):
    """Smooth random microphone / room response: tilt, ripple, low cut."""
    freqs = np.maximum(_bin_freqs(n_fft, sample_rate), 1.0)
    octave = np.log2(freqs / 1000.0)
    gain_db = rng.uniform(-2.0, 2.0) * octave
    for _ in range(2):
        gain_db += rng.uniform(0.5, 1.5) * np.cos(
            2 * np.pi * rng.uniform(0.3, 1.0) * octave + rng.uniform(0, 2 * np.pi)
        )
    ratio = (freqs / rng.uniform(40.0, 120.0)) ** 2
    return 10.0 ** (gain_db / 20.0) * ratio / (1.0 + ratio)


def plan_utterance(speaker, rng, n_samples, sample_rate=16000):
    """Draw the frame-level speech parameters of one utterance.

    Arguments
    ---------
    speaker : Speaker
        Whose voice.
    rng : numpy.random.Generator
        Random stream of this utterance.
    n_samples : int
        Length of the utterance.
    sample_rate : int
        Sampling rate (Hz).

    Returns
    -------
    SpeechPlan
        The parameters, ready for :func:`render_speech` or :func:`apply_attack`.

    Example
    -------
    >>> rng = np.random.default_rng(0)
    >>> plan = plan_utterance(sample_speaker("LA_0001", rng), rng, 16000)
    >>> plan.formants.shape
    (126, 5)
    """
    n_fft, hop = _frame_config(sample_rate)
    n_frames = n_samples // hop + 1
    frame_rate = sample_rate / hop
    duration = n_samples / sample_rate
    voicing, amplitude, frication, fric_center, fric_width, targets, accents = (
        _syllable_tracks(speaker, rng, n_frames, frame_rate, duration)
    )
    f0 = _pitch_contour(speaker, rng, n_frames, frame_rate, duration, accents)
    formants, bandwidths = _formant_tracks(speaker, rng, _fill_targets(targets))
    return SpeechPlan(
        sample_rate=sample_rate,
        n_samples=n_samples,
        hop=hop,
        f0=f0,
        voicing=np.clip(_smooth(voicing, 3), 0.0, 1.0),
        amplitude=_smooth(amplitude, 5),
        frication=_smooth(frication, 3),
        fric_center=fric_center,
        fric_width=fric_width,
        formants=formants,
        bandwidths=bandwidths,
        open_quotient=speaker.open_quotient,
        jitter=speaker.jitter,
        shimmer=speaker.shimmer,
        breathiness=speaker.breathiness,
        coloration=_coloration(rng, n_fft, sample_rate),
        noise_seed=int(rng.integers(2**62)),
    )


# --------------------------------------------------------------------------
# Bona fide renderer (source-filter synthesis)
# --------------------------------------------------------------------------
@lru_cache(maxsize=256)
def _rosenberg_pulse(open_quotient, n_points=4096):
    """One period of the Rosenberg glottal flow, tabulated on ``[0, 1]``.

    A 0.6 / 0.4 split of the open phase into opening and closing, then a
    closed phase. Tabulated (one guard point appended) because evaluating it
    per sample is costly.
    """
    grid = np.linspace(0.0, 1.0, n_points)
    rise, fall = 0.6 * open_quotient, 0.4 * open_quotient
    pulse = np.where(
        grid < rise,
        0.5 - 0.5 * np.cos(np.pi * grid / rise),
        np.cos(0.5 * np.pi * np.clip((grid - rise) / fall, 0.0, 1.0)),
    )
    pulse = np.append(pulse, pulse[-1])
    pulse.setflags(write=False)
    return pulse


def _glottal_source(rng, f0, sample_rate, open_quotient, jitter, shimmer):
    """Rosenberg glottal flow and its derivative, with jitter and shimmer.

    Returns ``(derivative, flow)`` per sample; the derivative (the flow
    filtered by lip radiation) is the excitation of the vocal tract.
    """
    phase = np.cumsum(f0) / sample_rate
    n_cycles = int(phase[-1] * 1.5) + 4
    period_factor = np.clip(1.0 + jitter * rng.standard_normal(n_cycles), 0.8, 1.25)
    amp_factor = np.clip(1.0 + shimmer * rng.standard_normal(n_cycles), 0.5, 1.5)
    phase = np.cumsum(f0 * period_factor[phase.astype(np.int64)]) / sample_rate
    cycle = phase.astype(np.int64)
    frac = phase - cycle
    pulse = _rosenberg_pulse(round(open_quotient, 3))
    position = frac * (len(pulse) - 2)
    index = position.astype(np.int64)
    weight = position - index
    flow = pulse[index] * (1 - weight) + pulse[index + 1] * weight
    flow *= amp_factor[cycle]
    # Per unit phase, so that the level barely depends on F0.
    derivative = np.diff(flow, prepend=flow[0]) * (sample_rate / f0)
    return derivative, flow


def _pole_pair(r, cos_minus, cos_plus):
    """``|1 - 2 r cos(theta) z^-1 + r^2 z^-2|^2`` at ``z = exp(j w)``.

    The squared magnitude of a pole (or zero) pair of radius ``r`` at angle
    ``theta``, from ``cos(w - theta)`` and ``cos(w + theta)``.
    """
    rr = 1 + r * r
    return (rr - 2 * r * cos_minus) * (rr - 2 * r * cos_plus)


def _formant_response(freqs, formants, bandwidths, sample_rate, stride=4):
    """Magnitude of a cascade of formant resonators, per frame and bin.

    Each formant is a pole pair with a wider zero pair at the same
    frequency: a peak of ``_FORMANT_PEAK_DB`` on a flat baseline, so that the
    spectral tilt is left to the glottal source, as in natural speech. The
    formants move smoothly, so the response is evaluated every ``stride``
    frames and interpolated in between (the costliest step of rendering).
    """
    n_frames = len(formants)
    coarse = np.unique(np.append(np.arange(0, n_frames, stride), n_frames - 1))
    w = ((2 * np.pi / sample_rate) * freqs).astype(np.float32)
    theta = ((2 * np.pi / sample_rate) * formants[coarse]).astype(np.float32)
    theta = theta[..., None]
    bw = bandwidths[coarse].astype(np.float32)[..., None]
    peak = (10 ** (_FORMANT_PEAK_DB / 20)).astype(np.float32)[:, None]
    cos_minus, cos_plus = np.cos(w - theta), np.cos(w + theta)
    ratio = _pole_pair(np.exp(-np.pi * bw * peak / sample_rate), cos_minus, cos_plus)
    ratio /= _pole_pair(np.exp(-np.pi * bw / sample_rate), cos_minus, cos_plus)
    response = np.sqrt(np.prod(ratio, axis=1))
    if len(coarse) == n_frames:
        return response
    # Linear interpolation between the coarse frames.
    position = np.arange(n_frames)
    upper = np.clip(np.searchsorted(coarse, position), 1, len(coarse) - 1)
    left, right = coarse[upper - 1], coarse[upper]
    weight = ((position - left) / (right - left)).astype(np.float32)[:, None]
    return response[upper - 1] * (1 - weight) + response[upper] * weight


def _fricative_shape(freqs, centre, width):
    """Per-frame fricative noise spectrum: a log-frequency band above 1 kHz."""
    octaves = np.log2(np.maximum(freqs, 1.0) / centre[:, None])
    high_pass = 1.0 / (1.0 + (1000.0 / np.maximum(freqs, 1.0)) ** 4)
    return np.exp(-0.5 * (octaves / width[:, None]) ** 2) * high_pass


def render_speech(plan, variant=0):
    """Render a plan with the source-filter synthesiser (bona fide speech).

    Arguments
    ---------
    plan : SpeechPlan
        The speech parameters.
    variant : int
        Selects another draw of the excitation noises (jitter, shimmer,
        aspiration, frication); ``0`` is the bona fide rendering.

    Returns
    -------
    numpy.ndarray
        The waveform, ``plan.n_samples`` samples.

    Example
    -------
    >>> rng = np.random.default_rng(0)
    >>> plan = plan_utterance(sample_speaker("LA_0001", rng), rng, 16000)
    >>> render_speech(plan).shape
    (16000,)
    """
    rng = np.random.default_rng([plan.noise_seed, variant])
    sr, n, hop = plan.sample_rate, plan.n_samples, plan.hop
    n_fft = 4 * hop
    freqs = _bin_freqs(n_fft, sr)
    derivative, flow = _glottal_source(
        rng,
        _per_sample(plan.f0, hop, n),
        sr,
        plan.open_quotient,
        plan.jitter,
        plan.shimmer,
    )
    # Aspiration noise is louder while the glottis is open.
    aspiration = rng.standard_normal(n, dtype=np.float32) * (0.25 + flow)
    aspiration *= plan.breathiness
    gain = _per_sample(plan.voicing * plan.amplitude, hop, n)
    spec = _stft((derivative + aspiration) * gain, n_fft, hop)
    spec *= _formant_response(freqs, plan.formants, plan.bandwidths, sr)
    active = np.nonzero(plan.frication > 1e-3)[0]
    if len(active):
        noise = _complex_noise(rng, (len(active), len(freqs)), n_fft)
        shape = _fricative_shape(
            freqs, plan.fric_center[active], plan.fric_width[active]
        )
        spec[active] += 10.0 * plan.frication[active, None] * shape * noise
    spec *= plan.coloration
    return _istft(spec, n_fft, hop, n)
