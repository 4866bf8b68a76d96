"""Windowed-sinc band-pass filterbanks for raw-waveform front ends.

An ideal band-pass filter for ``[low, high]`` Hz is the difference of two
ideal low-pass impulse responses, truncated to ``kernel_size`` taps and
Hamming-windowed. :func:`sinc_bandpass_filters` builds a bank of them from
band edges; :func:`mel_band_edges` gives the mel-spaced edges of AASIST's
front end, and :class:`SincFilterbank` is that front end: fixed (not learnt)
filters applied by a 1-D convolution, as in RawNet2 / AASIST.

Authors
 * dpda contributors 2026
"""

import torch
import torch.nn.functional as F
from torch import nn


def sinc_bandpass_filters(edges, kernel_size, sample_rate=16000):
    """Hamming-windowed sinc band-pass filters, one per pair of band edges.

    Filter ``i`` passes ``[edges[i], edges[i + 1]]`` Hz: it is
    ``2 f_hi / sr * sinc(2 f_hi n / sr) - 2 f_lo / sr * sinc(2 f_lo n / sr)``
    for ``n`` in ``-(K-1)/2 .. (K-1)/2`` (``K = kernel_size``; odd keeps the
    taps on whole samples), times a symmetric Hamming window. Computed in
    float64.

    Arguments
    ---------
    edges : sequence of float or torch.Tensor
        Increasing band edges in Hz (``n_filters + 1`` values).
    kernel_size : int
        Filter length in samples.
    sample_rate : int
        Sampling rate in Hz.

    Returns
    -------
    torch.Tensor
        Filters ``[n_filters, kernel_size]``, float64.

    Example
    -------
    >>> h = sinc_bandpass_filters([0.0, 4000.0, 8000.0], 65)
    >>> h.shape, h.dtype
    (torch.Size([2, 65]), torch.float64)
    >>> response = torch.fft.rfft(h, n=1024).abs()  # low band, high band
    >>> (response[0, :128].mean() > response[0, 128:].mean()).item()
    True
    >>> (response[1, 384:].mean() > response[1, :256].mean()).item()
    True
    """
    edges = torch.as_tensor(edges, dtype=torch.float64)
    n = torch.arange(kernel_size, dtype=torch.float64) - (kernel_size - 1) / 2
    low, high = edges[:-1, None], edges[1:, None]

    def lowpass(cutoff):
        """Ideal low-pass impulse responses at ``cutoff`` Hz."""
        return 2 * cutoff / sample_rate * torch.sinc(2 * cutoff * n / sample_rate)

    window = torch.hamming_window(kernel_size, periodic=False, dtype=torch.float64)
    return (lowpass(high) - lowpass(low)) * window


def hz_to_mel(hz):
    """Mel value of a frequency in Hz (O'Shaughnessy's 2595 log10 formula)."""
    return 2595 * torch.log10(1 + torch.as_tensor(hz, dtype=torch.float64) / 700)


def mel_to_hz(mel):
    """Frequency in Hz of a mel value (inverse of :func:`hz_to_mel`)."""
    return 700 * (10 ** (torch.as_tensor(mel, dtype=torch.float64) / 2595) - 1)


def mel_band_edges(n_filters, sample_rate=16000):
    """Band edges from 0 Hz to Nyquist, equally spaced on the mel scale.

    Arguments
    ---------
    n_filters : int
        Number of bands.
    sample_rate : int
        Sampling rate in Hz.

    Returns
    -------
    torch.Tensor
        ``n_filters + 1`` edges in Hz, float64.

    Example
    -------
    >>> edges = mel_band_edges(4)
    >>> [round(e) for e in edges.tolist()]
    [0, 614, 1768, 3934, 8000]
    """
    top = hz_to_mel(sample_rate // 2)
    return mel_to_hz(torch.linspace(0, 1, n_filters + 1, dtype=torch.float64) * top)


class SincFilterbank(nn.Module):
    """Fixed mel-spaced sinc filterbank on raw waveforms (AASIST's front end).

    The filters are not learnt and not saved in the state dict (a
    non-persistent buffer), as in the released AASIST models. During
    training, ``max_masked_bands > 0`` zeroes a random run of up to that
    many adjacent bands, one draw per batch (AASIST's ``freq_aug``).

    Arguments
    ---------
    n_filters : int
        Number of bands (output channels).
    kernel_size : int
        Filter length; an even value is made odd by adding one, as AASIST.
    sample_rate : int
        Sampling rate in Hz.
    max_masked_bands : int
        Upper bound (exclusive) of the number of bands masked per training
        batch; 0 disables masking.

    Example
    -------
    >>> bank = SincFilterbank(70, 128)
    >>> bank.filters.shape
    torch.Size([70, 1, 129])
    >>> bank(torch.randn(2, 1000)).shape
    torch.Size([2, 70, 872])
    """

    def __init__(self, n_filters, kernel_size, sample_rate=16000, max_masked_bands=0):
        super().__init__()
        kernel_size += 1 - kernel_size % 2
        self.max_masked_bands = int(max_masked_bands)
        filters = sinc_bandpass_filters(
            mel_band_edges(n_filters, sample_rate), kernel_size, sample_rate
        )
        self.register_buffer("filters", filters.float()[:, None], persistent=False)

    def forward(self, wavs):
        """Return band-passed signals ``[B, n_filters, T - K + 1]`` of ``[B, T]``."""
        filters = self.filters
        if self.training and self.max_masked_bands > 0:
            n_bands = filters.shape[0]
            width = int(torch.randint(self.max_masked_bands, ()).item())
            width = min(width, n_bands)
            start = int(torch.randint(n_bands - width + 1, ()).item())
            filters = filters.clone()
            filters[start : start + width] = 0
        return F.conv1d(wavs.unsqueeze(1), filters)
