"""A synthetic mini anti-spoofing corpus in the on-disk formats of the real ones.

:func:`generate_mini_corpus` writes, deterministically from a seed, a small
corpus laid out exactly like ASVspoof 2019 LA (FLAC files and CM protocols)
and In-the-Wild (WAV files and ``meta.csv``), so that the real preparation
code reads it unchanged and the recipes run end to end on a CPU in minutes.

* Bona fide audio comes from a source-filter speech synthesiser: a Rosenberg
  glottal pulse with jitter and shimmer driven by a pitch contour with
  declination and accents, syllables made of fricative / plosive / nasal
  onsets and voiced nuclei, a cascade of formant resonators moving between
  vowel targets, aspiration noise and a mild microphone / room colouration.
* Spoofed audio is resynthesised from the same kind of speech parameters by
  "attacks", each leaving its own family of artefacts (Griffin-Lim phase,
  over-regular source, channel vocoder, harmonic-plus-noise model,
  concatenation joins, upsampling gap, LPC buzz, mel smoothing, spectral
  warping, PSOLA grains ...), plus a weak roll-off near Nyquist that all of
  them share, as vocoders trained on band-limited features do. Train and dev
  share attacks A01-A06; eval uses unseen attacks A07-A13 and In-the-Wild
  unseen attack chains of its own.
* Eval and In-the-Wild add channel effects to both classes (telephone band,
  mu-law, additive noise, reverberation), so that a detector trained on the
  clean training set generalises imperfectly and data augmentation matters.

Loudness, duration, leading silence, noise floor and file format have the
same distributions for both classes, so none of them is a shortcut.

Authors
 * dpda contributors 2026
"""

import argparse
import io
import json
import math
import os
import shutil
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from functools import lru_cache, partial
from typing import Callable, Dict, Tuple

import numpy as np
import soundfile as sf
import torchaudio.functional as AF

from dpda.data.manifest import open_atomic

GENERATOR_VERSION = 1
STAMP_NAME = "MINI_CORPUS.json"
PARTIAL_NAME = "MINI_CORPUS.partial"
LA_FOLDER = "LA"
ITW_FOLDER = "release_in_the_wild"
PROTOCOL_FOLDER = "ASVspoof2019_LA_cm_protocols"
SPLITS = ("train", "dev", "eval")
DEFAULT_SIZES = {
    "train": (240, 480),
    "dev": (120, 240),
    "eval": (160, 320),
    "itw": (160, 160),
}
DURATION_RANGE = (1.0, 3.5)  # seconds, uniform, same for both classes
PEAK_RANGE = (0.3, 0.95)  # peak level, uniform, same for both classes
FLOOR_DB_RANGE = (-65.0, -50.0)  # recording noise floor re peak

# split -> (audio folder, protocol file, utterance prefix, numeric stream id)
_LA_LAYOUT = {
    "train": ("ASVspoof2019_LA_train", "ASVspoof2019.LA.cm.train.trn.txt", "LA_T_", 1),
    "dev": ("ASVspoof2019_LA_dev", "ASVspoof2019.LA.cm.dev.trl.txt", "LA_D_", 2),
    "eval": ("ASVspoof2019_LA_eval", "ASVspoof2019.LA.cm.eval.trl.txt", "LA_E_", 3),
}
_ITW_STREAM = 4
# Disjoint speaker numbers per split, those of the real corpus.
_SPEAKER_NUMBERS = {
    "train": tuple(range(79, 99)),
    "dev": tuple(range(69, 79)) + tuple(range(99, 109)),
    "eval": tuple(n for n in range(1, 69) if n != 62),
}
_UTTS_PER_SPEAKER = {"train": 36, "dev": 36, "eval": 36, "itw": 24}

_FIRST_NAMES = (
    "Adela", "Bram", "Corin", "Delphine", "Emrys", "Fenna", "Gideon", "Halla",
    "Ivo", "Jolanda", "Kasimir", "Liesel", "Marek", "Noor", "Osric", "Petra",
    "Quill", "Rosalind", "Soren", "Tamsin", "Ulric", "Vesna", "Wendel", "Yara",
)  # fmt: skip
_LAST_NAMES = (
    "Ashgrove", "Brannigan", "Castellane", "Dunmore", "Elsworth", "Falkner",
    "Garroway", "Holloway", "Ingleby", "Jarrow", "Kettering", "Lindqvist",
    "Marchbank", "Northcott", "Ormsby", "Pendleton", "Quenby", "Rothwell",
    "Stavely", "Thornbury", "Underhill", "Vantongeren", "Whitcombe", "Yardley",
)  # fmt: skip

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
# Signal helpers
# --------------------------------------------------------------------------
def _frame_config(sample_rate, scale=1):
    """Return ``(n_fft, hop)``: ~32 ms frames (times ``scale``), 75 % overlap."""
    n_fft = scale * 2 ** int(round(math.log2(0.032 * sample_rate)))
    return n_fft, n_fft // 4


@lru_cache(maxsize=16)
def _window(n_fft):
    """Periodic Hann window (read-only, cached)."""
    win = np.hanning(n_fft + 1)[:-1]
    win.setflags(write=False)
    return win


def _stft(x, n_fft, hop):
    """Centred STFT with a Hann window; ``len(x) // hop + 1`` frames."""
    pad = n_fft // 2
    padded = np.pad(x, (pad, pad))
    n_frames = len(x) // hop + 1
    frames = np.lib.stride_tricks.sliding_window_view(padded, n_fft)[::hop]
    return np.fft.rfft(frames[:n_frames] * _window(n_fft), axis=1)


@lru_cache(maxsize=64)
def _window_sum(n_fft, hop, n_frames):
    """Overlap-added squared window, the normaliser of :func:`_istft`."""
    win2 = _window(n_fft) ** 2
    total = np.zeros((n_frames - 1) * hop + n_fft)
    for r in range(n_fft // hop):
        total[r * hop : r * hop + n_frames * hop] += np.tile(
            win2[r * hop : (r + 1) * hop], n_frames
        )
    total = np.maximum(total, 1e-3)
    total.setflags(write=False)
    return total


def _istft(spec, n_fft, hop, length):
    """Weighted overlap-add inverse of :func:`_stft`, cropped to ``length``."""
    frames = np.fft.irfft(spec, n=n_fft, axis=1) * _window(n_fft)
    n_frames = frames.shape[0]
    out = np.zeros((n_frames - 1) * hop + n_fft)
    # hop divides n_fft: overlap-add as n_fft // hop shifted strided sums.
    for r in range(n_fft // hop):
        out[r * hop : r * hop + n_frames * hop] += frames[
            :, r * hop : (r + 1) * hop
        ].reshape(-1)
    out /= _window_sum(n_fft, hop, n_frames)
    pad = n_fft // 2
    y = out[pad : pad + length]
    if len(y) < length:
        y = np.pad(y, (0, length - len(y)))
    return y


def _complex_noise(rng, shape, n_fft):
    """STFT-domain white noise whose inverse has unit variance."""
    scale = math.sqrt(np.sum(_window(n_fft) ** 2) / 2)
    out = np.empty(shape, dtype=complex)
    out.real = rng.standard_normal(shape, dtype=np.float32)
    out.imag = rng.standard_normal(shape, dtype=np.float32)
    return out * scale


def _random_phase(rng, shape):
    """Unit complex numbers with uniform random phase."""
    # float32 trigonometry is vectorised and an order of magnitude faster.
    phase = (2 * np.pi) * rng.random(shape, dtype=np.float32)
    out = np.empty(shape, dtype=complex)
    out.real = np.cos(phase)
    out.imag = np.sin(phase)
    return out


def _smooth(x, width):
    """Hann-weighted moving average along the first axis (edges held)."""
    if width <= 1:
        return x
    kernel = np.hanning(width + 2)[1:-1]
    kernel /= kernel.sum()
    left = width // 2
    pad = [(left, width - 1 - left)] + [(0, 0)] * (x.ndim - 1)
    padded = np.pad(x, pad, mode="edge")
    if x.ndim == 1:
        return np.convolve(padded, kernel, mode="valid")
    return np.stack(
        [np.convolve(padded[:, j], kernel, mode="valid") for j in range(x.shape[1])],
        axis=1,
    )


def _fast_len(n):
    """Smallest ``2**a * 3**b * 5**c >= n``: FFTs of prime sizes are slow."""
    best = 1 << (n - 1).bit_length()
    p5 = 1
    while p5 < best:
        p35 = p5
        while p35 < best:
            p2 = 1 << (-(-n // p35) - 1).bit_length()
            best = min(best, p2 * p35)
            p35 *= 3
        p5 *= 5
    return best


def _fft_filter(x, gain_of_freq, sample_rate):
    """Zero-phase filtering by a real gain per frequency (function of Hz)."""
    n_fft = _fast_len(len(x) + 256)  # the padding absorbs the wrap-around
    freqs = np.fft.rfftfreq(n_fft, 1 / sample_rate)
    y = np.fft.irfft(np.fft.rfft(x, n_fft) * gain_of_freq(freqs), n_fft)
    return y[: len(x)]


def _fft_convolve(x, h):
    """Linear convolution by FFT (full length ``len(x) + len(h) - 1``)."""
    n = len(x) + len(h) - 1
    n_fft = _fast_len(n)
    y = np.fft.irfft(np.fft.rfft(x, n_fft) * np.fft.rfft(h, n_fft), n_fft)
    return y[:n]


def _per_sample(values, hop, n_samples):
    """Linearly interpolate frame values (frames centred at ``k * hop``)."""
    position = np.arange(n_samples) / hop
    index = position.astype(np.int64)
    weight = position - index
    padded = np.append(values, values[-1])
    return (
        padded[index] * (1 - weight)
        + padded[np.minimum(index + 1, len(values))] * weight
    )


def _bin_freqs(n_fft, sample_rate):
    return np.arange(n_fft // 2 + 1) * (sample_rate / n_fft)


def _match_frame_energy(spec, reference):
    """Scale each frame of ``spec`` to the energy of ``reference``."""
    target = np.sum(np.abs(reference) ** 2, axis=1)
    actual = np.sum(np.abs(spec) ** 2, axis=1) + 1e-12
    return spec * np.sqrt(target / actual)[:, None]


def _unit_frames(spec):
    """Normalise each frame to unit mean power (keeps the spectral shape)."""
    power = np.mean(np.abs(spec) ** 2, axis=1, keepdims=True)
    return spec / np.sqrt(power + 1e-12)


# --------------------------------------------------------------------------
# Utterance plan
# --------------------------------------------------------------------------
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

    def frames(t0, t1):
        return slice(
            min(n_frames, int(round(t0 * frame_rate))),
            min(n_frames, int(round(t1 * frame_rate))),
        )

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

    def pair(r):
        rr = 1 + r * r
        return (rr - 2 * r * cos_minus) * (rr - 2 * r * cos_plus)

    ratio = pair(np.exp(-np.pi * bw * peak / sample_rate))
    ratio /= pair(np.exp(-np.pi * bw / sample_rate))
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


def _band_limit(x, cutoff_hz, sample_rate, transition_hz=200.0):
    """Zero-phase low-pass by FFT with a raised-cosine transition band."""

    def gain(freqs):
        edge = np.clip((freqs - cutoff_hz + transition_hz) / transition_hz, 0, 1)
        return 0.5 + 0.5 * np.cos(np.pi * edge)

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

    def gain(freqs):
        ramp = np.clip((freqs - edge) / (sample_rate / 2 - edge), 0.0, 1.0)
        return 10 ** (-depth * (0.5 - 0.5 * np.cos(np.pi * ramp)) / 20)

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


# --------------------------------------------------------------------------
# Channel effects (eval and In-the-Wild, both classes)
# --------------------------------------------------------------------------
def _bandpass_fir(low_hz, high_hz, sample_rate, n_taps):
    """Blackman-windowed sinc band-pass (-6 dB at the edges, ~-74 dB stop)."""
    t = np.arange(n_taps) - (n_taps - 1) / 2

    def low_pass(cutoff):
        return 2 * cutoff / sample_rate * np.sinc(2 * cutoff / sample_rate * t)

    return (low_pass(high_hz) - low_pass(low_hz)) * np.blackman(n_taps)


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


# --------------------------------------------------------------------------
# Utterance post-processing shared by both classes
# --------------------------------------------------------------------------
def _add_noise_floor(x, rng):
    """Recording noise floor at a random level below the peak."""
    level = np.max(np.abs(x)) * 10 ** (rng.uniform(*FLOOR_DB_RANGE) / 20)
    return x + level * rng.standard_normal(len(x), dtype=np.float32)


def _to_pcm16(x, rng):
    """Remove DC, normalise the peak to a random level, quantise to int16."""
    x = x - np.mean(x)
    x = x * (rng.uniform(*PEAK_RANGE) / (np.max(np.abs(x)) + 1e-12))
    return np.round(x * 32767).astype(np.int16)


def _synthesise(job, seed, sample_rate):
    """Render one utterance of the corpus to int16 samples.

    ``job`` is ``(stream, index, speaker, label, attack_id, channel_profile)``;
    the random streams depend on ``(seed, stream, index)`` only.
    """
    stream, index, speaker, label, attack_id, profile = job
    plan_rng, attack_rng, post_rng = (
        np.random.default_rng([seed, stream, index, k]) for k in range(3)
    )
    duration = plan_rng.uniform(*DURATION_RANGE)
    plan = plan_utterance(
        speaker, plan_rng, int(round(duration * sample_rate)), sample_rate
    )
    if label == "spoof":
        x = apply_attack(attack_id, plan, attack_rng)
    else:
        x = render_speech(plan)
    x = _add_noise_floor(x, post_rng)
    effects = ()
    if profile is not None:
        x, effects = apply_channel_effects(x, post_rng, sample_rate, profile)
    return _to_pcm16(x, post_rng), effects


# --------------------------------------------------------------------------
# Corpus layout
# --------------------------------------------------------------------------
def _resolve_sizes(sizes):
    """Defaults updated by ``sizes``, validated, as ``{name: [bona, spoof]}``."""
    resolved = {name: list(pair) for name, pair in DEFAULT_SIZES.items()}
    for name, pair in (sizes or {}).items():
        if name not in resolved:
            raise ValueError(f"Unknown size key {name!r}; use {sorted(DEFAULT_SIZES)}")
        bona, spoof = (int(v) for v in pair)
        if bona < 1 or spoof < 1:
            raise ValueError(f"sizes[{name!r}] needs >= 1 bona fide and spoof")
        resolved[name] = [bona, spoof]
    return resolved


def _unique_utterance_numbers(rng, count):
    """Distinct random 7-digit numbers (1000000-9999999)."""
    numbers, seen = [], set()
    while len(numbers) < count:
        for value in rng.integers(1_000_000, 10_000_000, size=count).tolist():
            if value not in seen and len(numbers) < count:
                seen.add(value)
                numbers.append(value)
    return numbers


def _n_speakers(n_utterances, per_speaker, available):
    return int(min(available, max(2, math.ceil(n_utterances / per_speaker))))


def _itw_names(rng, count):
    """Made-up "First Last" names, distinct."""
    pairs = [(f, s) for f in _FIRST_NAMES for s in _LAST_NAMES]
    chosen = rng.choice(len(pairs), size=min(count, len(pairs)), replace=False)
    return [f"{pairs[i][0]} {pairs[i][1]}" for i in chosen]


def _split_rows(rng, n_bona, n_spoof, speakers, attacks):
    """Shuffled ``(speaker, label, attack)`` rows; speakers and attacks balanced.

    Both classes cycle over the same speakers, so the speaker says nothing
    about the label.
    """
    rows = [(speakers[i % len(speakers)], "bonafide", None) for i in range(n_bona)]
    rows += [
        (speakers[(i + n_bona) % len(speakers)], "spoof", attacks[i % len(attacks)])
        for i in range(n_spoof)
    ]
    return [rows[i] for i in rng.permutation(len(rows))]


def _write_audio(job, seed, sample_rate):
    """Synthesise one file and write it; returns the channel effects."""
    spec, path, file_format = job
    pcm, effects = _synthesise(spec, seed, sample_rate)
    # Encode in memory: writing to a path makes libsndfile fsync every file,
    # which costs more than the synthesis. Same bytes either way.
    buffer = io.BytesIO()
    sf.write(buffer, pcm, sample_rate, format=file_format, subtype="PCM_16")
    with open(path, "wb") as f:
        f.write(buffer.getvalue())
    return effects


def _run_jobs(jobs, seed, sample_rate, num_workers):
    """Write all files, in threads: NumPy and libsndfile release the GIL.

    Each file depends on its own random streams only, so the output does not
    depend on the number of workers or the scheduling.
    """
    work = partial(_write_audio, seed=seed, sample_rate=sample_rate)
    if num_workers <= 1:
        return [work(job) for job in jobs]
    with ThreadPoolExecutor(num_workers) as pool:
        return list(pool.map(work, jobs))


def _write_la(root, seed, sizes, sample_rate, counts, num_workers):
    """Write the three LA splits and their CM protocols."""
    layout_rng = np.random.default_rng([seed, 0])
    total = sum(sum(sizes[split]) for split in SPLITS)
    numbers = iter(_unique_utterance_numbers(layout_rng, total))
    protocol_dir = os.path.join(root, LA_FOLDER, PROTOCOL_FOLDER)
    os.makedirs(protocol_dir, exist_ok=True)
    for split in SPLITS:
        folder, protocol_name, prefix, stream = _LA_LAYOUT[split]
        n_bona, n_spoof = sizes[split]
        available = _SPEAKER_NUMBERS[split]
        k = _n_speakers(n_bona + n_spoof, _UTTS_PER_SPEAKER[split], len(available))
        ids = sorted(layout_rng.choice(available, k, replace=False).tolist())
        speakers = [
            sample_speaker(f"LA_{i:04d}", np.random.default_rng([seed, 10, i]))
            for i in ids
        ]
        rows = _split_rows(layout_rng, n_bona, n_spoof, speakers, SPLIT_ATTACKS[split])
        profile = "eval" if split == "eval" else None
        audio_dir = os.path.join(root, LA_FOLDER, folder, "flac")
        os.makedirs(audio_dir, exist_ok=True)
        utt_ids = [f"{prefix}{next(numbers)}" for _ in rows]
        jobs = [
            (
                (stream, index, speaker, label, attack_id, profile),
                os.path.join(audio_dir, f"{utt_id}.flac"),
                "FLAC",
            )
            for index, ((speaker, label, attack_id), utt_id) in enumerate(
                zip(rows, utt_ids)
            )
        ]
        split_counts = _empty_counts(len(speakers))
        results = _run_jobs(jobs, seed, sample_rate, num_workers)
        for (_, label, attack_id), effects in zip(rows, results):
            _count(split_counts, label, attack_id, effects)
        entries = [
            (speaker.speaker_id, utt_id, attack_id or "-", label)
            for (speaker, label, attack_id), utt_id in zip(rows, utt_ids)
        ]
        if split != "eval":
            # Real train / dev order: bona fide by speaker, then spoofs by
            # attack and speaker, ids ascending; the eval protocol is shuffled.
            entries.sort(key=lambda e: (e[3] != "bonafide", e[2], e[0], e[1]))
        lines = [
            f"{spk} {utt} - {attack} {label}\n" for spk, utt, attack, label in entries
        ]
        with open(os.path.join(protocol_dir, protocol_name), "w") as f:
            f.writelines(lines)
        counts[split] = split_counts


def _write_itw(root, seed, sizes, sample_rate, counts, num_workers):
    """Write the In-the-Wild release: ``0.wav ...`` and ``meta.csv``."""
    layout_rng = np.random.default_rng([seed, _ITW_STREAM, 0])
    n_bona, n_spoof = sizes["itw"]
    k = _n_speakers(n_bona + n_spoof, _UTTS_PER_SPEAKER["itw"], 10**6)
    names = _itw_names(layout_rng, k)
    speakers = [
        sample_speaker(name, np.random.default_rng([seed, 20, i]))
        for i, name in enumerate(names)
    ]
    rows = _split_rows(layout_rng, n_bona, n_spoof, speakers, SPLIT_ATTACKS["itw"])
    folder = os.path.join(root, ITW_FOLDER)
    os.makedirs(folder, exist_ok=True)
    jobs = [
        (
            (_ITW_STREAM, index, speaker, label, attack_id, "itw"),
            os.path.join(folder, f"{index}.wav"),
            "WAV",
        )
        for index, (speaker, label, attack_id) in enumerate(rows)
    ]
    lines = ["file,speaker,label\n"]
    itw_counts = _empty_counts(len(speakers))
    results = _run_jobs(jobs, seed, sample_rate, num_workers)
    for index, ((job, _, _), effects) in enumerate(zip(jobs, results)):
        _, _, speaker, label, attack_id, _ = job
        itw_label = "bona-fide" if label == "bonafide" else "spoof"
        lines.append(f"{index}.wav,{speaker.speaker_id},{itw_label}\n")
        _count(itw_counts, label, attack_id, effects)
    with open(os.path.join(folder, "meta.csv"), "w") as f:
        f.writelines(lines)
    counts["itw"] = itw_counts


def _empty_counts(n_speakers):
    return {
        "bonafide": 0,
        "spoof": 0,
        "speakers": n_speakers,
        "attacks": {},
        "channel_effects": {},
    }


def _count(counts, label, attack_id, effects):
    counts[label] += 1
    if attack_id is not None:
        counts["attacks"][attack_id] = counts["attacks"].get(attack_id, 0) + 1
    for name in effects or ("none",):
        counts["channel_effects"][name] = counts["channel_effects"].get(name, 0) + 1


def _options(seed, sizes, sample_rate):
    return {
        "generator": "dpda.data.minicorpus",
        "version": GENERATOR_VERSION,
        "seed": int(seed),
        "sample_rate": int(sample_rate),
        "sizes": sizes,
    }


def _generated_paths(root):
    """Everything :func:`generate_mini_corpus` writes, stamps excluded."""
    la = os.path.join(root, LA_FOLDER)
    return [os.path.join(la, layout[0]) for layout in _LA_LAYOUT.values()] + [
        os.path.join(la, PROTOCOL_FOLDER),
        os.path.join(root, ITW_FOLDER),
    ]


def _clear(root):
    for path in _generated_paths(root):
        if os.path.isdir(path):
            shutil.rmtree(path)
    for name in (STAMP_NAME, PARTIAL_NAME):
        if os.path.exists(os.path.join(root, name)):
            os.remove(os.path.join(root, name))


def _write_json(path, content):
    with open_atomic(path) as f:
        json.dump(content, f, indent=2, sort_keys=True)
        f.write("\n")


def generate_mini_corpus(
    root, seed=1234, sizes=None, sample_rate=16000, overwrite=False, num_workers=None
):
    """Write the synthetic mini corpus under ``root`` (idempotent).

    Layout::

        root/LA/ASVspoof2019_LA_{train,dev,eval}/flac/LA_{T,D,E}_NNNNNNN.flac
        root/LA/ASVspoof2019_LA_cm_protocols/ASVspoof2019.LA.cm.{train.trn,dev.trl,eval.trl}.txt
        root/release_in_the_wild/{0..N-1}.wav, meta.csv
        root/MINI_CORPUS.json   (written last)

    Arguments
    ---------
    root : str
        Output folder (created if needed).
    seed : int
        Everything, to the byte, is a function of the seed and the options.
    sizes : dict, optional
        ``{"train" | "dev" | "eval" | "itw": (n_bonafide, n_spoof)}``;
        missing keys keep :data:`DEFAULT_SIZES`.
    sample_rate : int
        Sampling rate of the files (Hz), at least 16000.
    overwrite : bool
        Regenerate when ``root`` holds a corpus made with other options (its
        generated folders are deleted first).
    num_workers : int, optional
        Threads that synthesise files (default: up to 4, one per CPU); the
        output does not depend on it.

    Returns
    -------
    dict
        The content of ``MINI_CORPUS.json``: options and counts per split,
        label, attack and channel effect.

    Raises
    ------
    FileExistsError
        When ``root`` holds a mini corpus with other options and
        ``overwrite`` is False, or corpus folders this generator did not
        write (never deleted, whatever ``overwrite`` says).

    Example
    -------
    >>> import tempfile
    >>> root = tempfile.mkdtemp()
    >>> tiny = {"train": (2, 3), "dev": (1, 2), "eval": (1, 2), "itw": (1, 1)}
    >>> summary = generate_mini_corpus(root, seed=0, sizes=tiny)
    >>> summary["counts"]["train"]["spoof"]
    3
    >>> sorted(os.listdir(os.path.join(root, "LA")))[0]
    'ASVspoof2019_LA_cm_protocols'
    >>> generate_mini_corpus(root, seed=0, sizes=tiny) == summary  # no-op
    True
    >>> shutil.rmtree(root)
    """
    if sample_rate < 16000:
        raise ValueError(f"sample_rate must be >= 16000, got {sample_rate}")
    options = _options(seed, _resolve_sizes(sizes), sample_rate)
    stamp_path = os.path.join(root, STAMP_NAME)
    partial_path = os.path.join(root, PARTIAL_NAME)
    if os.path.isfile(stamp_path):
        with open(stamp_path) as f:
            stamp = json.load(f)
        if {key: stamp.get(key) for key in options} == options:
            return stamp
        if not overwrite:
            theirs = {key: stamp.get(key) for key in ("version", "seed", "sizes")}
            raise FileExistsError(
                f"{root} holds a mini corpus made with other options ({theirs}); "
                "pass overwrite=True (--overwrite) to regenerate it"
            )
    elif not os.path.isfile(partial_path):
        # Never delete folders that no run of ours wrote, even with overwrite:
        # ``root`` might hold a real corpus.
        foreign = [
            p for p in _generated_paths(root) if os.path.isdir(p) and os.listdir(p)
        ]
        if foreign:
            raise FileExistsError(
                f"{foreign[0]} exists and was not written by this generator; "
                "choose another folder for the mini corpus"
            )
    _clear(root)
    os.makedirs(root, exist_ok=True)
    _write_json(partial_path, options)
    counts = {}
    if num_workers is None:
        num_workers = min(4, os.cpu_count() or 1)
    args = (options["seed"], options["sizes"], sample_rate, counts, num_workers)
    _write_la(root, *args)
    _write_itw(root, *args)
    summary = dict(options, counts=counts)
    _write_json(stamp_path, summary)
    os.remove(partial_path)
    with open(stamp_path) as f:  # return what a later call will return
        return json.load(f)


def describe_training_data(data_folder):
    """Name the corpus a recipe's ``data_folder`` really holds (model cards).

    A folder of the synthetic mini corpus (its ``MINI_CORPUS.json`` stamp
    in the folder or the one above, as ``<root>/LA``) is named as such, with
    its seed and training-set size; anything else is taken for ASVspoof
    2019 LA.

    Arguments
    ---------
    data_folder : str
        The ``LA`` folder the recipe trained on.

    Returns
    -------
    str
        One line for the model card's "Training data" row.

    Example
    -------
    >>> import tempfile
    >>> root = tempfile.mkdtemp()
    >>> tiny = {"train": (2, 3), "dev": (1, 2), "eval": (1, 2), "itw": (1, 1)}
    >>> _ = generate_mini_corpus(root, seed=0, sizes=tiny)
    >>> describe_training_data(os.path.join(root, "LA"))[:46]
    'the synthetic dpda mini corpus (not ASVspoof):'
    >>> describe_training_data(tempfile.mkdtemp())
    'ASVspoof 2019 LA train (selection on dev loss)'
    >>> shutil.rmtree(root)
    """
    folder = os.path.abspath(data_folder)
    for candidate in (folder, os.path.dirname(folder)):
        stamp_path = os.path.join(candidate, STAMP_NAME)
        if os.path.isfile(stamp_path):
            with open(stamp_path, encoding="utf-8") as f:
                stamp = json.load(f)
            train = stamp.get("counts", {}).get("train", {})
            n_train = sum(v for k, v in train.items() if k in ("bonafide", "spoof"))
            return (
                "the synthetic dpda mini corpus (not ASVspoof): generated "
                f"speech in the ASVspoof 2019 LA layout, seed {stamp.get('seed')}, "
                f"train split of {n_train} utterances (selection on dev loss)"
            )
    return "ASVspoof 2019 LA train (selection on dev loss)"


def main(argv=None):
    """Command line: ``python -m dpda.data.minicorpus ROOT [--seed N]``.

    Arguments
    ---------
    argv : list of str, optional
        The arguments (default: ``sys.argv[1:]``).

    Returns
    -------
    int
        The exit status.

    Example
    -------
    >>> import tempfile
    >>> root = tempfile.mkdtemp()
    >>> main([root, "--seed", "3", "--tiny"])  # doctest: +ELLIPSIS
    {...
    0
    >>> shutil.rmtree(root)
    """
    parser = argparse.ArgumentParser(
        prog="python -m dpda.data.minicorpus",
        description="Generate the synthetic mini anti-spoofing corpus.",
    )
    parser.add_argument("root", help="output folder")
    parser.add_argument("--seed", type=int, default=1234)
    parser.add_argument(
        "--overwrite",
        action="store_true",
        help="regenerate a corpus made with other options",
    )
    parser.add_argument(
        "--tiny",
        action="store_true",
        help="a few files per split, for smoke tests",
    )
    args = parser.parse_args(argv)
    sizes = {name: (2, 4) for name in DEFAULT_SIZES} if args.tiny else None
    summary = generate_mini_corpus(
        args.root, seed=args.seed, sizes=sizes, overwrite=args.overwrite
    )
    print(json.dumps(summary["counts"], indent=1, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
