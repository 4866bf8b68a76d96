"""Signal helpers of the mini corpus: framing, STFT, FFT filtering, smoothing.

Pure NumPy, shared by the speech renderer, the attacks and the channel
effects. The STFT is centred with a periodic Hann window and 75 % overlap,
so that :func:`_istft` inverts :func:`_stft` exactly.

Authors
 * dpda contributors 2026
"""

import math
from functools import lru_cache

import numpy as np


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
    """Centre frequencies (Hz) of the ``n_fft // 2 + 1`` bins of :func:`_stft`."""
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
