"""RawBoost data augmentation, batched in torch (``dpda.augment.RawBoost``).

RawBoost (Tak et al., "RawBoost: A Raw Data Boosting and Augmentation Method
applied to Automatic Speaker Verification Anti-Spoofing", ICASSP 2022) corrupts
raw waveforms with three kinds of noise:

* linear and non-linear (LnL) convolutive noise: a sum of random notch
  (band-stop) filters applied to the powers ``x, x^2, ..., x^N_f``;
* impulsive signal-dependent (ISD) additive noise: a random fraction of the
  samples gets a random multiplicative perturbation;
* stationary signal-independent (SSI) additive noise: white noise coloured by
  a random notch filter, added at a random SNR.

The reference implementation works on one utterance at a time with
numpy/scipy in the data loader. This module reproduces its behaviour on a
whole padded batch at once, on the batch's device: every random draw is made
per utterance, the filters are designed in torch with ``scipy.signal.firwin``
semantics and applied with FFT convolution. Each noise type is split into a
``draw_*`` function (all the randomness, returned as a small dataclass) and a
deterministic function named after the paper's term that applies the drawn
parameters, so that the application can be checked against a reference
computation.

Authors
 * DPDA project contributors
"""

import dataclasses
import functools
import math
from typing import Dict

import torch

__all__ = [
    "NotchParams",
    "ISDParams",
    "SSIParams",
    "RawBoost",
    "draw_notch_params",
    "draw_lnl_params",
    "draw_isd_params",
    "draw_ssi_params",
    "firwin_bandstop",
    "notch_filter_coeffs",
    "fir_filter",
    "lnl_convolutive_noise",
    "isd_additive_noise",
    "ssi_additive_noise",
]

# Edges of the band-stop filters are kept this far (Hz) inside (0, fs/2).
_EDGE_EPS = 1e-3
# Number of points of the frequency response used for the gain normalisation
# (scipy.signal.freqz's default worN).
_FREQZ_POINTS = 512


# ---------------------------------------------------------------------------
# Random parameters
# ---------------------------------------------------------------------------
@dataclasses.dataclass
class NotchParams:
    """Random parameters of a set of cascaded notch filters.

    The leading dimensions (``...``) index the filters, e.g. ``[batch]`` or
    ``[batch, N_f]``; the last dimension of the band tensors indexes the
    ``nBands`` cascaded band-stop filters.

    Arguments
    ---------
    fc : torch.Tensor
        Centre frequencies in Hz, shape ``[..., nBands]``.
    bw : torch.Tensor
        Bandwidths in Hz, shape ``[..., nBands]``.
    n_coeffs : torch.Tensor
        Odd numbers of taps (int64), shape ``[..., nBands]``.
    gain_db : torch.Tensor
        Gain G in dB of the cascade, shape ``[...]``.
    """

    fc: torch.Tensor
    bw: torch.Tensor
    n_coeffs: torch.Tensor
    gain_db: torch.Tensor


@dataclasses.dataclass
class ISDParams:
    """Random parameters of the impulsive signal-dependent noise.

    Arguments
    ---------
    positions : torch.Tensor
        Candidate sample indices, shape ``[batch, K]`` (int64).
    hit : torch.Tensor
        Which candidates are corrupted, shape ``[batch, K]`` (bool); the
        positions of the hits of a row are distinct.
    factors : torch.Tensor
        Multiplicative factors ``U(-1, 1) * U(-1, 1)``, shape ``[batch, K]``.
    """

    positions: torch.Tensor
    hit: torch.Tensor
    factors: torch.Tensor


@dataclasses.dataclass
class SSIParams:
    """Random parameters of the stationary signal-independent noise.

    Arguments
    ---------
    notch : NotchParams
        Colouring filter, leading dimension ``[batch]``.
    noise : torch.Tensor
        White Gaussian noise, shape ``[batch, time]``.
    snr_db : torch.Tensor
        Signal-to-noise ratio in dB, shape ``[batch]``.
    """

    notch: NotchParams
    noise: torch.Tensor
    snr_db: torch.Tensor


def _param_dtype(device):
    """Float dtype for the small random parameters (MPS has no float64)."""
    return torch.float32 if torch.device(device).type == "mps" else torch.float64


def _uniform(low, high, shape, generator=None, device=None, dtype=None):
    """Draws ``U(low, high)`` values (``low > high`` is allowed, as in numpy)."""
    dtype = dtype or _param_dtype(device or "cpu")
    u = torch.rand(shape, generator=generator, device=device, dtype=dtype)
    return low + (high - low) * u


def draw_notch_params(
    shape,
    nBands=5,
    minF=20,
    maxF=8000,
    minBW=100,
    maxBW=1000,
    minCoeff=10,
    maxCoeff=100,
    minG=0,
    maxG=0,
    generator=None,
    device=None,
):
    """Draws the parameters of notch-filter sets, one set per entry of ``shape``.

    Per band: ``fc ~ U(minF, maxF)``, ``bw ~ U(minBW, maxBW)``, taps
    ``int(U(minCoeff, maxCoeff))`` made odd; per set ``G ~ U(minG, maxG)`` dB.

    Arguments
    ---------
    shape : tuple
        Leading shape, e.g. ``(batch,)``.
    nBands : int
        Number of cascaded band-stop filters.
    minF, maxF : float
        Range of the centre frequencies (Hz).
    minBW, maxBW : float
        Range of the bandwidths (Hz).
    minCoeff, maxCoeff : int
        Range of the number of taps.
    minG, maxG : float
        Range of the gain (dB).
    generator : torch.Generator, optional
        Source of randomness (torch's default generator if None).
    device : str or torch.device, optional
        Where to draw.

    Returns
    -------
    NotchParams

    Example
    -------
    >>> p = draw_notch_params((3,), nBands=2)
    >>> p.n_coeffs.shape, bool((p.n_coeffs % 2 == 1).all())
    (torch.Size([3, 2]), True)
    """
    shape = tuple(shape)
    band_shape = shape + (nBands,)
    kw = dict(generator=generator, device=device)
    fc = _uniform(minF, maxF, band_shape, **kw)
    bw = _uniform(minBW, maxBW, band_shape, **kw)
    n_coeffs = _uniform(minCoeff, maxCoeff, band_shape, **kw).floor().long()
    n_coeffs = n_coeffs + (n_coeffs % 2 == 0).long()
    gain_db = _uniform(minG, maxG, shape, **kw)
    return NotchParams(fc=fc, bw=bw, n_coeffs=n_coeffs, gain_db=gain_db)


def draw_lnl_params(
    batch_size,
    N_f=5,
    minG=0,
    maxG=0,
    minBiasLinNonLin=5,
    maxBiasLinNonLin=20,
    generator=None,
    device=None,
    **notch_kwargs,
):
    """Draws the N_f notch-filter sets of the LnL convolutive noise.

    The filter of the linear term uses the gain range ``[minG, maxG]``; the
    filters of the non-linear terms (powers 2..N_f) use
    ``[minG - minBiasLinNonLin, maxG - maxBiasLinNonLin]``.

    Arguments
    ---------
    batch_size : int
        Number of utterances.
    N_f : int
        Number of terms (highest power of the signal).
    minG, maxG : float
        Gain range (dB) of the linear term.
    minBiasLinNonLin, maxBiasLinNonLin : float
        Gain offsets (dB) of the non-linear terms.
    generator : torch.Generator, optional
        Source of randomness.
    device : str or torch.device, optional
        Where to draw.
    **notch_kwargs : dict
        ``nBands, minF, maxF, minBW, maxBW, minCoeff, maxCoeff`` of
        `draw_notch_params`.

    Returns
    -------
    NotchParams
        With leading shape ``[batch, N_f]``.

    Example
    -------
    >>> p = draw_lnl_params(2, N_f=3)
    >>> p.gain_db.shape, bool((p.gain_db[:, 1:] <= -5).all())
    (torch.Size([2, 3]), True)
    """
    kw = dict(generator=generator, device=device, **notch_kwargs)
    linear = draw_notch_params((batch_size, 1), minG=minG, maxG=maxG, **kw)
    if N_f <= 1:
        return linear
    nonlinear = draw_notch_params(
        (batch_size, N_f - 1),
        minG=minG - minBiasLinNonLin,
        maxG=maxG - maxBiasLinNonLin,
        **kw,
    )
    return NotchParams(
        *(
            torch.cat([getattr(linear, f.name), getattr(nonlinear, f.name)], 1)
            for f in dataclasses.fields(NotchParams)
        )
    )


def _first_distinct(candidates, count, num_values):
    """Marks, per row, the first ``count`` distinct values of ``candidates``.

    ``candidates`` holds integers in ``[0, num_values)``; a value's first
    occurrence is found by a scatter of the smallest index per value.
    """
    batch_size, num_candidates = candidates.shape
    index = torch.arange(num_candidates, dtype=torch.int32, device=candidates.device)
    index = index.expand(batch_size, -1)
    first = index.new_empty((batch_size, num_values))  # only drawn values are read
    first.scatter_reduce_(1, candidates, index, reduce="amin", include_self=False)
    is_first = first.gather(1, candidates) == index
    return is_first & (is_first.cumsum(1) <= count.unsqueeze(1))


def draw_isd_params(abs_lens, P=10, generator=None, device=None):
    """Draws the corrupted samples of the ISD additive noise.

    Per utterance ``beta ~ U(0, P)`` percent, ``int(len * beta / 100)``
    distinct samples chosen uniformly among the first ``len`` samples, and a
    factor ``U(-1, 1) * U(-1, 1)`` per chosen sample.

    The samples are the first distinct values of a sequence of uniform draws
    with replacement (a uniform random subset); drawing a few more candidates
    than needed is much cheaper than a random permutation of the whole
    utterance.

    Arguments
    ---------
    abs_lens : torch.Tensor
        Number of valid samples per utterance, shape ``[batch]`` (int64).
    P : float
        Maximum percentage of corrupted samples.
    generator : torch.Generator, optional
        Source of randomness.
    device : str or torch.device, optional
        Where to draw.

    Returns
    -------
    ISDParams

    Example
    -------
    >>> p = draw_isd_params(torch.tensor([1000, 500]), P=10)
    >>> bool((p.hit.sum(1) <= torch.tensor([100, 50])).all())
    True
    """
    if not 0 <= P <= 100:
        raise ValueError(f"P is a percentage of samples, got {P}")
    abs_lens = abs_lens.to(device)
    batch_size = abs_lens.shape[0]
    kw = dict(generator=generator, device=device)
    beta = _uniform(0.0, P, (batch_size,), **kw)
    lens = abs_lens.to(beta.dtype)
    count = (lens * (beta / 100)).floor().long()
    # Enough draws for the expected number of distinct values,
    # len * (1 - exp(-draws / len)), to exceed count by about 6 sigma.
    c = count.to(beta.dtype)
    target = (c + 6 * c.sqrt() + 8) / lens.clamp_min(1)
    draws = -lens * torch.log1p(-target.clamp(max=0.99))
    num_draws = max(int(draws.max().ceil()), 1)
    while True:
        u = torch.rand((batch_size, num_draws), dtype=beta.dtype, **kw)
        positions = (u * lens.unsqueeze(1)).long()
        hit = _first_distinct(positions, count, max(int(abs_lens.max()), 1))
        if bool((hit.sum(1) == count).all()):
            break
        num_draws *= 2  # very unlikely: not enough distinct values
    u1 = torch.rand((batch_size, num_draws), dtype=beta.dtype, **kw)
    u2 = torch.rand((batch_size, num_draws), dtype=beta.dtype, **kw)
    factors = (2 * u1 - 1) * (2 * u2 - 1)
    return ISDParams(positions=positions, hit=hit, factors=factors)


def draw_ssi_params(
    batch_size,
    num_samples,
    SNRmin=10,
    SNRmax=40,
    generator=None,
    device=None,
    dtype=torch.float32,
    **notch_kwargs,
):
    """Draws the noise, colouring filter and SNR of the SSI additive noise.

    Arguments
    ---------
    batch_size : int
        Number of utterances.
    num_samples : int
        Padded length of the batch.
    SNRmin, SNRmax : float
        SNR range in dB.
    generator : torch.Generator, optional
        Source of randomness.
    device : str or torch.device, optional
        Where to draw.
    dtype : torch.dtype
        Dtype of the white noise.
    **notch_kwargs : dict
        ``nBands, minF, maxF, minBW, maxBW, minCoeff, maxCoeff, minG, maxG``
        of `draw_notch_params`.

    Returns
    -------
    SSIParams

    Example
    -------
    >>> p = draw_ssi_params(2, 100)
    >>> p.noise.shape, p.notch.gain_db.shape
    (torch.Size([2, 100]), torch.Size([2]))
    """
    kw = dict(generator=generator, device=device)
    notch = draw_notch_params((batch_size,), **kw, **notch_kwargs)
    noise = torch.randn((batch_size, num_samples), dtype=dtype, **kw)
    snr_db = _uniform(SNRmin, SNRmax, (batch_size,), **kw)
    return SSIParams(notch=notch, noise=noise, snr_db=snr_db)


# ---------------------------------------------------------------------------
# Filter design and filtering
# ---------------------------------------------------------------------------
def firwin_bandstop(n_coeffs, f_low, f_high, sample_rate, max_coeffs=None):
    """Designs Hamming-window band-stop FIR filters like ``scipy.signal.firwin``.

    Equals ``firwin(n, [f_low, f_high], window="hamming", fs=sample_rate)``
    (``pass_zero=True``, ``scale=True``: unit gain at DC) for every entry,
    batched. Filters are left-aligned and zero-padded to ``max_coeffs`` taps.

    Arguments
    ---------
    n_coeffs : torch.Tensor
        Odd numbers of taps (int64), any shape ``[...]``.
    f_low, f_high : torch.Tensor
        Band edges in Hz, shape ``[...]``, ``0 < f_low < f_high < fs/2``.
    sample_rate : float
        Sampling frequency in Hz.
    max_coeffs : int, optional
        Length of the output (default: largest ``n_coeffs``).

    Returns
    -------
    torch.Tensor
        Taps, shape ``[..., max_coeffs]``, dtype of ``f_low``.

    Example
    -------
    >>> h = firwin_bandstop(torch.tensor([5]), torch.tensor([1000.0]),
    ...                     torch.tensor([2000.0]), 16000)
    >>> h.shape, round(float(h.sum()), 6)
    (torch.Size([1, 5]), 1.0)
    """
    if max_coeffs is None:
        max_coeffs = int(n_coeffs.max())
    nyquist = sample_rate / 2
    n = torch.arange(max_coeffs, dtype=f_low.dtype, device=f_low.device)
    num = n_coeffs.unsqueeze(-1).to(f_low.dtype)
    m = n - (num - 1) / 2
    lo = (f_low / nyquist).unsqueeze(-1)
    hi = (f_high / nyquist).unsqueeze(-1)
    # Ideal response passing [0, lo] and [hi, 1] (in units of the Nyquist
    # rate): sinc(m) - hi sinc(hi m) + lo sinc(lo m), m integer (odd taps).
    pi_m = math.pi * m
    centre = m == 0
    h = (torch.sin(lo * pi_m) - torch.sin(hi * pi_m)) / torch.where(centre, 1, pi_m)
    h = torch.where(centre, 1 - hi + lo, h)
    window = 0.54 - 0.46 * torch.cos(2 * math.pi * n / (num - 1).clamp_min(1))
    h = h * window * (n < num)
    return h / h.sum(-1, keepdim=True)


def notch_filter_coeffs(params, sample_rate=16000):
    """Cascaded, gain-normalised notch filters (RawBoost's notch filter set).

    The ``nBands`` band-stop filters with edges ``fc -/+ bw/2`` (clipped to
    ``(0, fs/2)``) are convolved together; the cascade is then scaled by
    ``10^(G/20) / max|H|``, ``H`` being its response at the 512 frequencies
    of ``scipy.signal.freqz`` (``pi k / 512``, ``k < 512``).

    Arguments
    ---------
    params : NotchParams
        Filter parameters, leading shape ``[...]``.
    sample_rate : float
        Sampling frequency in Hz.

    Returns
    -------
    coeffs : torch.Tensor
        Taps, shape ``[..., L]``, zero beyond each filter's own length.
    n_coeffs : torch.Tensor
        Length of each cascade, ``sum(taps) - nBands + 1``, shape ``[...]``.

    Example
    -------
    >>> p = draw_notch_params((2,), nBands=3)
    >>> b, n = notch_filter_coeffs(p)
    >>> bool((n == p.n_coeffs.sum(-1) - 2).all()), b.shape[-1] == int(n.max())
    (True, True)
    """
    nyquist = sample_rate / 2
    f_low = params.fc - params.bw / 2
    f_low = torch.where(f_low <= 0, torch.full_like(f_low, _EDGE_EPS), f_low)
    f_high = params.fc + params.bw / 2
    f_high = torch.where(
        f_high >= nyquist, torch.full_like(f_high, nyquist - _EDGE_EPS), f_high
    )
    bands = firwin_bandstop(params.n_coeffs, f_low, f_high, sample_rate)
    n_bands = params.n_coeffs.shape[-1]
    n_coeffs = params.n_coeffs.sum(-1) - (n_bands - 1)
    length = int(n_coeffs.max())
    # Cascade: product of the band spectra, with an FFT at least as long as
    # the cascade (no aliasing).
    n_fft = 1 << max(length - 1, 1).bit_length()
    spectrum = torch.fft.rfft(bands, n=n_fft)
    response = spectrum[..., 0, :]
    for k in range(1, n_bands):
        response = response * spectrum[..., k, :]
    coeffs = torch.fft.irfft(response, n=n_fft)[..., :length]
    # max |H| over freqz's 512 frequencies pi k / 512: every step-th bin of an
    # FFT whose size is a multiple of 1024 (and not shorter than the cascade).
    n_grid = 2 * _FREQZ_POINTS * math.ceil(length / (2 * _FREQZ_POINTS))
    step = n_grid // (2 * _FREQZ_POINTS)
    grid = torch.fft.rfft(coeffs, n=n_grid)[..., : n_grid // 2 : step]
    peak = grid.abs().amax(-1)
    scale = 10 ** (params.gain_db / 20) / peak
    inside = torch.arange(length, device=coeffs.device) < n_coeffs.unsqueeze(-1)
    return coeffs * scale.unsqueeze(-1) * inside, n_coeffs


@functools.lru_cache(maxsize=256)
def _next_fast_len(n):
    """Smallest integer >= n whose only prime factors are 2, 3 and 5."""
    while True:
        m = n
        for p in (2, 3, 5):
            while m % p == 0:
                m //= p
        if m == 1:
            return n
        n += 1


def _shift_to_common_delay(coeffs, n_coeffs):
    """Places each filter in a common tap buffer so that all share one delay.

    RawBoost's ``filterFIR`` zero-pads the signal with ``N = L + 1`` samples,
    runs ``lfilter`` and keeps ``y[int(N/2) : len(y) - N/2]``, i.e. the full
    convolution ``b * x`` from index ``floor((L + 1) / 2)`` on. Delaying a
    filter of length L by ``D - floor((L + 1) / 2)`` taps gives every filter
    the same delay ``D`` (for odd and even L alike).

    Arguments
    ---------
    coeffs : torch.Tensor
        Taps ``[..., L]``, left-aligned.
    n_coeffs : torch.Tensor
        Length of each filter ``[...]``.

    Returns
    -------
    shifted : torch.Tensor
        Taps ``[..., W]``.
    delay : int
        Index of the full convolution where the output starts.
    """
    own_delay = torch.div(n_coeffs + 1, 2, rounding_mode="floor")
    delay = int(own_delay.max())
    offset = (delay - own_delay).unsqueeze(-1)
    width = int((offset.squeeze(-1) + n_coeffs).max())
    idx = torch.arange(width, device=coeffs.device) - offset
    inside = (idx >= 0) & (idx < n_coeffs.unsqueeze(-1))
    shifted = coeffs.gather(-1, idx.clamp(0, coeffs.shape[-1] - 1)) * inside
    return shifted, delay


# On CPU, fir_filter works on groups of rows of about this many FFT samples
# per thread (1 MiB of float32), which keeps its buffers in cache.
_CPU_GROUP_SAMPLES = 2**18


def fir_filter(x, coeffs, n_coeffs, block_size=4096):
    """Filters ``x, x^2, ..., x^K`` with K FIR filters and sums the results.

    With ``K = 1`` this is plain FIR filtering. The output is aligned like
    RawBoost's ``filterFIR`` (zero-pad by ``L + 1``, ``lfilter``, trim half
    the pad at each end): the full convolution from index
    ``floor((L + 1) / 2)`` on, with the input's length. The filtering is a
    batched FFT convolution (overlap-add with blocks of ``block_size`` for long
    inputs); the K products are summed in the frequency domain, so that a row
    costs K forward FFTs and a single inverse one. On CPU the rows are
    processed in groups small enough for the buffers to stay in cache, which
    is several times faster than one large batched FFT.

    Arguments
    ---------
    x : torch.Tensor
        Signals, shape ``[batch, time]``.
    coeffs : torch.Tensor
        Taps, shape ``[batch, K, L]`` (left-aligned, zero-padded).
    n_coeffs : torch.Tensor
        Length of each filter, shape ``[batch, K]``.
    block_size : int
        FFT size of the overlap-add blocks (at least 4 filter lengths).

    Returns
    -------
    torch.Tensor
        ``sum_k filter_k(x^(k+1))``, shape ``[batch, time]``.

    Example
    -------
    >>> x = torch.arange(1.0, 6.0).view(1, 5)
    >>> y = fir_filter(x, torch.tensor([[[0.0, 1.0, 0.0]]]), torch.tensor([[3]]))
    >>> y.abs().round(decimals=4)
    tensor([[2., 3., 4., 5., 0.]])
    """
    batch_size, num_samples = x.shape
    shifted, delay = _shift_to_common_delay(coeffs.to(x.dtype), n_coeffs)
    width = shifted.shape[-1]
    n_fft = _next_fast_len(num_samples + width - 1)
    if n_fft > max(block_size, 4 * width):
        n_fft = max(block_size, 1 << (4 * width - 1).bit_length())
    n_blocks = -(-num_samples // (n_fft - width + 1))
    group = batch_size
    if x.device.type == "cpu":
        budget = _CPU_GROUP_SAMPLES * torch.get_num_threads()
        group = max(1, budget // (n_blocks * n_fft))
    y = x.new_empty(batch_size, num_samples)
    for start in range(0, batch_size, group):
        rows = slice(start, start + group)
        y[rows] = _overlap_add_filter(x[rows], shifted[rows], delay, n_fft)
    return y


def _overlap_add_filter(x, shifted, delay, n_fft):
    """`fir_filter` on a group of rows, with filters already shifted."""
    batch_size, num_samples = x.shape
    hop = n_fft - shifted.shape[-1] + 1
    n_blocks = -(-num_samples // hop)
    # The zero-padded signal, raised to the next power in place, its blocks
    # with zero tails, the summed spectrum and one block spectrum.
    power = x.new_zeros(batch_size, (n_blocks + 1) * hop)
    power[:, :num_samples] = x
    blocks = x.new_zeros(batch_size, n_blocks, n_fft)
    spectrum = block_spectrum = None
    for k in range(shifted.shape[1]):
        if k > 0:
            power[:, :num_samples].mul_(x)
        blocks[..., :hop] = power[:, : n_blocks * hop].view(batch_size, n_blocks, hop)
        taps_spectrum = torch.fft.rfft(shifted[:, k], n=n_fft).unsqueeze(1)
        if spectrum is None:
            spectrum = torch.fft.rfft(blocks).mul_(taps_spectrum)
        else:
            block_spectrum = torch.fft.rfft(blocks, out=block_spectrum)
            spectrum.addcmul_(block_spectrum, taps_spectrum)
    y = torch.fft.irfft(spectrum, n=n_fft, out=blocks)
    if n_blocks > 1:  # overlap-add (the tails are shorter than a hop)
        out = power.view(batch_size, n_blocks + 1, hop)
        out[:, :-1] = y[..., :hop]
        out[:, -1] = 0
        out[:, 1:, : n_fft - hop] += y[..., hop:]
        y = out
    return y.reshape(batch_size, -1)[:, delay : delay + num_samples]


# ---------------------------------------------------------------------------
# The three noise types
# ---------------------------------------------------------------------------
def _valid_mask(abs_lens, num_samples):
    """Boolean mask ``[batch, time]`` of the non-padding samples."""
    return torch.arange(num_samples, device=abs_lens.device) < abs_lens.unsqueeze(-1)


def _padding_mask(abs_lens, num_samples):
    """`_valid_mask`, or None when no row is padded (nothing to mask)."""
    if abs_lens is None or bool((abs_lens >= num_samples).all()):
        return None
    return _valid_mask(abs_lens, num_samples)


def _normalise_peak(y, inplace=False):
    """Divides each row by its peak amplitude if the peak exceeds 1."""
    peak = torch.maximum(y.amax(-1, keepdim=True), -y.amin(-1, keepdim=True))
    peak = torch.where(peak > 1, peak, torch.ones_like(peak))
    return y.div_(peak) if inplace else y / peak


def lnl_convolutive_noise(x, params, abs_lens=None, sample_rate=16000):
    """Linear and non-linear convolutive noise (RawBoost algorithm 1).

    ``y = sum_i notch_i(x^(i+1))`` over the N_f filter sets, minus its mean,
    divided by its peak amplitude if that exceeds 1.

    Arguments
    ---------
    x : torch.Tensor
        Waveforms, shape ``[batch, time]``, zero beyond ``abs_lens``.
    params : NotchParams
        Filter sets, leading shape ``[batch, N_f]``
        (see `draw_lnl_params`).
    abs_lens : torch.Tensor, optional
        Number of valid samples per utterance (default: all).
    sample_rate : float
        Sampling frequency in Hz.

    Returns
    -------
    torch.Tensor
        Shape ``[batch, time]``, zero beyond ``abs_lens``.

    Example
    -------
    >>> x = torch.rand(2, 800) - 0.5
    >>> lnl_convolutive_noise(x, draw_lnl_params(2)).shape
    torch.Size([2, 800])
    """
    mask = _padding_mask(abs_lens, x.shape[-1])
    coeffs, n_coeffs = notch_filter_coeffs(params, sample_rate)
    y = fir_filter(x, coeffs, n_coeffs)
    if mask is None:
        y.sub_(y.mean(-1, keepdim=True))
    else:
        y.mul_(mask)
        mean = y.sum(-1, keepdim=True) / abs_lens.clamp_min(1).unsqueeze(-1)
        y.sub_(mean).mul_(mask)
    return _normalise_peak(y, inplace=True)


def isd_additive_noise(x, params, g_sd=2):
    """Impulsive signal-dependent additive noise (RawBoost algorithm 2).

    ``x[p] += g_sd * x[p] * f`` at the drawn positions ``p`` with factors
    ``f``, then division by the peak amplitude if that exceeds 1.

    Arguments
    ---------
    x : torch.Tensor
        Waveforms, shape ``[batch, time]``.
    params : ISDParams
        Drawn positions and factors (see `draw_isd_params`).
    g_sd : float
        Noise gain.

    Returns
    -------
    torch.Tensor
        Shape ``[batch, time]``.

    Example
    -------
    >>> x = torch.full((1, 4), 0.5)
    >>> p = ISDParams(torch.tensor([[2]]), torch.tensor([[True]]), torch.tensor([[0.5]]))
    >>> isd_additive_noise(x, p, g_sd=2)
    tensor([[0.5000, 0.5000, 1.0000, 0.5000]])
    """
    factors = (params.factors * params.hit).to(x.dtype)
    noise = g_sd * x.gather(1, params.positions) * factors
    y = x.scatter_add(1, params.positions, noise)
    return _normalise_peak(y, inplace=True)


def ssi_additive_noise(x, params, abs_lens=None, sample_rate=16000):
    """Stationary signal-independent additive noise (RawBoost algorithm 3).

    White noise coloured by a notch filter set is scaled to the drawn SNR
    relative to ``||x||_2`` and added.

    Arguments
    ---------
    x : torch.Tensor
        Waveforms, shape ``[batch, time]``, zero beyond ``abs_lens``.
    params : SSIParams
        Drawn noise, filter and SNR (see `draw_ssi_params`).
    abs_lens : torch.Tensor, optional
        Number of valid samples per utterance (default: all).
    sample_rate : float
        Sampling frequency in Hz.

    Returns
    -------
    torch.Tensor
        Shape ``[batch, time]``, zero beyond ``abs_lens``.

    Example
    -------
    >>> x = torch.rand(2, 800) - 0.5
    >>> ssi_additive_noise(x, draw_ssi_params(2, 800)).shape
    torch.Size([2, 800])
    """
    mask = _padding_mask(abs_lens, x.shape[-1])
    notch = NotchParams(
        *(
            getattr(params.notch, f.name)[:, None]
            for f in dataclasses.fields(NotchParams)
        )
    )
    coeffs, n_coeffs = notch_filter_coeffs(notch, sample_rate)
    noise = params.noise.to(x.dtype)
    if mask is not None:
        noise = noise * mask
    noise = fir_filter(noise, coeffs, n_coeffs)
    if mask is not None:
        noise.mul_(mask)
    # The reference's peak normalisation of the noise cancels out here.
    noise_norm = noise.norm(dim=-1)
    snr_gain = 10 ** (params.snr_db.to(x.dtype) / 20)
    scale = x.norm(dim=-1) / (noise_norm * snr_gain)
    scale = torch.where(noise_norm > 0, scale, torch.zeros_like(scale))
    return noise.mul_(scale.unsqueeze(-1)).add_(x)


# ---------------------------------------------------------------------------
# The module
# ---------------------------------------------------------------------------
# Noise types applied in series by each algorithm (8 is handled separately).
_SERIES = {
    0: (),
    1: ("lnl",),
    2: ("isd",),
    3: ("ssi",),
    4: ("lnl", "isd", "ssi"),
    5: ("lnl", "isd"),
    6: ("lnl", "ssi"),
    7: ("isd", "ssi"),
    8: ("lnl", "isd"),
}
#: The RawBoost algorithms (the ``algo`` argument, hparams ``rawboost_algo``).
ALGORITHMS = tuple(_SERIES)


def _params_to(params, device):
    """Moves a params dataclass (possibly nested) to ``device``."""
    if isinstance(params, torch.Tensor):
        return params.to(device)
    return type(params)(
        *(
            _params_to(getattr(params, f.name), device)
            for f in dataclasses.fields(params)
        )
    )


class RawBoost(torch.nn.Module):
    """RawBoost data augmentation on a padded batch of waveforms.

    Each utterance gets its own random draws. Algorithms: 0 none,
    1 LnL convolutive noise, 2 ISD impulsive noise, 3 SSI stationary noise,
    4 = 1, 2, 3 in series, 5 = 1, 2 in series, 6 = 1, 3 in series,
    7 = 2, 3 in series, 8 = (1 on x) + (2 on x), peak-normalised if the peak
    exceeds 1. Parameter names and defaults follow the reference
    implementation (SSL_Anti-spoofing). Padding (beyond ``lengths``) is
    ignored by all statistics and stays zero. Computations run in float32
    (float64 for float64 inputs) on the batch's device.

    It can be declared in HyperPyYAML and used alone or as one of the
    augmentations of ``speechbrain.augment.augmenter.Augmenter``::

        rawboost: !new:dpda.augment.RawBoost
            algo: 4
            sample_rate: !ref <sample_rate>

    ``draw_params`` and ``apply_params`` split a call into its random draws
    and the deterministic computation.

    Arguments
    ---------
    algo : int
        RawBoost algorithm, 0 to 8.
    sample_rate : int
        Sampling frequency in Hz (``fs`` of the reference).
    N_f : int
        Number of terms (powers) of the LnL noise.
    nBands : int
        Number of cascaded band-stop filters per notch filter set.
    minF, maxF : float
        Range of the notch centre frequencies (Hz).
    minBW, maxBW : float
        Range of the notch bandwidths (Hz).
    minCoeff, maxCoeff : int
        Range of the number of taps of each band-stop filter.
    minG, maxG : float
        Range of the filter gains (dB).
    minBiasLinNonLin, maxBiasLinNonLin : float
        Gain offsets (dB) of the non-linear LnL terms.
    P : float
        Maximum percentage of samples hit by the ISD noise.
    g_sd : float
        Gain of the ISD noise.
    SNRmin, SNRmax : float
        SNR range (dB) of the SSI noise.
    generator : torch.Generator, optional
        Source of randomness (default: torch's generator of the batch's
        device, seeded by ``torch.manual_seed``).

    Example
    -------
    >>> _ = torch.manual_seed(0)
    >>> rawboost = RawBoost(algo=4)
    >>> x = torch.rand(2, 4000) - 0.5
    >>> y = rawboost(x, torch.tensor([1.0, 0.5]))
    >>> y.shape, bool((y[1, 2000:] == 0).all())
    (torch.Size([2, 4000]), True)
    """

    def __init__(
        self,
        algo=4,
        sample_rate=16000,
        N_f=5,
        nBands=5,
        minF=20,
        maxF=8000,
        minBW=100,
        maxBW=1000,
        minCoeff=10,
        maxCoeff=100,
        minG=0,
        maxG=0,
        minBiasLinNonLin=5,
        maxBiasLinNonLin=20,
        P=10,
        g_sd=2,
        SNRmin=10,
        SNRmax=40,
        generator: torch.Generator | None = None,
    ):
        super().__init__()
        if algo not in _SERIES:
            raise ValueError(f"RawBoost algo must be one of 0..8, got {algo}")
        if not 0 <= P <= 100:
            raise ValueError(f"P is a percentage of samples, got {P}")
        self.algo = algo
        self.sample_rate = sample_rate
        self.N_f = N_f
        self.notch_kwargs = dict(
            nBands=nBands,
            minF=minF,
            maxF=maxF,
            minBW=minBW,
            maxBW=maxBW,
            minCoeff=minCoeff,
            maxCoeff=maxCoeff,
        )
        self.minG, self.maxG = minG, maxG
        self.minBiasLinNonLin = minBiasLinNonLin
        self.maxBiasLinNonLin = maxBiasLinNonLin
        self.P, self.g_sd = P, g_sd
        self.SNRmin, self.SNRmax = SNRmin, SNRmax
        self.generator = generator

    def absolute_lengths(self, waveforms, lengths=None):
        """Number of valid samples per row: ``round(lengths * time)``.

        Arguments
        ---------
        waveforms : torch.Tensor
            Batch, shape ``[batch, time]``.
        lengths : torch.Tensor, optional
            Relative lengths in (0, 1] (default: all ones).

        Returns
        -------
        torch.Tensor
            int64, shape ``[batch]``, on the batch's device.
        """
        batch_size, num_samples = waveforms.shape
        if lengths is None:
            return torch.full((batch_size,), num_samples, device=waveforms.device)
        lengths = torch.as_tensor(lengths, device=waveforms.device).reshape(-1)
        abs_lens = torch.round(lengths.double() * num_samples).long()
        return abs_lens.clamp(0, num_samples).expand(batch_size)

    def draw_params(self, waveforms, lengths=None) -> Dict[str, object]:
        """Draws all the random parameters needed by ``self.algo``.

        Arguments
        ---------
        waveforms : torch.Tensor
            Batch, shape ``[batch, time]`` (only shape, dtype, device used).
        lengths : torch.Tensor, optional
            Relative lengths in (0, 1].

        Returns
        -------
        dict
            ``{"lnl": NotchParams, "isd": ISDParams, "ssi": SSIParams}``
            restricted to the noise types of the algorithm, on the batch's
            device.
        """
        batch_size, num_samples = waveforms.shape
        gen = self.generator
        device = gen.device if gen is not None else waveforms.device
        abs_lens = self.absolute_lengths(waveforms, lengths)
        params = {}
        for name in _SERIES[self.algo]:
            if name == "lnl":
                params[name] = draw_lnl_params(
                    batch_size,
                    N_f=self.N_f,
                    minG=self.minG,
                    maxG=self.maxG,
                    minBiasLinNonLin=self.minBiasLinNonLin,
                    maxBiasLinNonLin=self.maxBiasLinNonLin,
                    generator=gen,
                    device=device,
                    **self.notch_kwargs,
                )
            elif name == "isd":
                params[name] = draw_isd_params(
                    abs_lens, P=self.P, generator=gen, device=device
                )
            else:
                params[name] = draw_ssi_params(
                    batch_size,
                    num_samples,
                    SNRmin=self.SNRmin,
                    SNRmax=self.SNRmax,
                    generator=gen,
                    device=device,
                    dtype=self._compute_dtype(waveforms),
                    minG=self.minG,
                    maxG=self.maxG,
                    **self.notch_kwargs,
                )
        return {k: _params_to(v, waveforms.device) for k, v in params.items()}

    @staticmethod
    def _compute_dtype(waveforms):
        return torch.float64 if waveforms.dtype == torch.float64 else torch.float32

    def apply_params(self, waveforms, params, lengths=None):
        """Applies ``self.algo`` with given parameters (deterministic).

        Arguments
        ---------
        waveforms : torch.Tensor
            Batch, shape ``[batch, time]``.
        params : dict
            Output of `draw_params`.
        lengths : torch.Tensor, optional
            Relative lengths in (0, 1].

        Returns
        -------
        torch.Tensor
            Augmented batch, same shape, dtype and device as ``waveforms``.
        """
        abs_lens = self.absolute_lengths(waveforms, lengths)
        mask = _padding_mask(abs_lens, waveforms.shape[-1])
        x = waveforms.to(self._compute_dtype(waveforms))
        if mask is not None:
            x = x * mask
        steps = {
            "lnl": lambda s: lnl_convolutive_noise(
                s, params["lnl"], abs_lens, self.sample_rate
            ),
            "isd": lambda s: isd_additive_noise(s, params["isd"], self.g_sd),
            "ssi": lambda s: ssi_additive_noise(
                s, params["ssi"], abs_lens, self.sample_rate
            ),
        }
        if self.algo == 8:
            y = _normalise_peak(steps["lnl"](x) + steps["isd"](x))
        else:
            y = x
            for name in _SERIES[self.algo]:
                y = steps[name](y)
        return y.to(waveforms.dtype)

    def forward(self, waveforms, lengths=None):
        """Augments a batch ``[batch, time]`` (or one waveform ``[time]``).

        Arguments
        ---------
        waveforms : torch.Tensor
            Shape ``[batch, time]`` or ``[time]``.
        lengths : torch.Tensor, optional
            Relative lengths in (0, 1], shape ``[batch]``.

        Returns
        -------
        torch.Tensor
            Augmented waveforms, same shape, dtype and device.
        """
        if waveforms.dim() == 1:
            return self.forward(waveforms.unsqueeze(0), lengths).squeeze(0)
        if waveforms.dim() != 2:
            raise ValueError(
                f"RawBoost expects [batch, time] or [time], got {tuple(waveforms.shape)}"
            )
        if self.algo == 0 or waveforms.numel() == 0:
            return waveforms.clone()
        params = self.draw_params(waveforms, lengths)
        return self.apply_params(waveforms, params, lengths)
