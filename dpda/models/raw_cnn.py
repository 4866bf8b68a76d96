"""A small raw-waveform CNN, sized for CPU training on the mini corpus.

A learnable strided filterbank, residual 1-D convolution blocks with max
pooling, then mean and standard-deviation pooling over time and a linear
classifier. It plays the role of the SSL model in the mini recipes: the same
Brain classes train it, only the ``model`` entry of the hparams changes.

Authors
 * dpda contributors 2026
"""

import torch
from torch import nn

from dpda.models.pooling import masked_mean_std
from dpda.models.sinc import sinc_bandpass_filters


def linear_bandpass_filters(n_filters, kernel_size, sample_rate=16000):
    """Hamming-windowed sinc band-pass filters with linearly spaced bands.

    Filter ``i`` passes ``[i, i + 1] * sample_rate / (2 n_filters)``; the
    bands tile 0 to Nyquist evenly, since spoofing artefacts sit in the high
    bands as much as in the low ones. Each filter has unit L2 norm.

    Arguments
    ---------
    n_filters : int
        Number of bands.
    kernel_size : int
        Filter length in samples.
    sample_rate : int
        Sampling rate in Hz.

    Returns
    -------
    torch.Tensor
        Filters ``[n_filters, kernel_size]``.

    Example
    -------
    >>> h = linear_bandpass_filters(4, 129)
    >>> response = torch.fft.rfft(h, n=1024).abs()
    >>> peaks = (response.argmax(dim=1) * 8000 / 512).tolist()
    >>> [2000 * i <= f < 2000 * (i + 1) for i, f in enumerate(peaks)]
    [True, True, True, True]
    """
    edges = torch.linspace(0, sample_rate / 2, n_filters + 1, dtype=torch.float64)
    h = sinc_bandpass_filters(edges, kernel_size, sample_rate)
    return (h / h.norm(dim=1, keepdim=True)).float()


class ResBlock1d(nn.Module):
    """Two 3-tap convolutions with batch norm and a residual connection.

    Arguments
    ---------
    in_channels : int
        Input channels.
    out_channels : int
        Output channels.
    pool : int
        Max-pooling factor applied after the block.

    Example
    -------
    >>> block = ResBlock1d(8, 16, pool=3)
    >>> block(torch.randn(2, 8, 30)).shape
    torch.Size([2, 16, 10])
    """

    def __init__(self, in_channels, out_channels, pool=3):
        super().__init__()
        self.conv1 = nn.Conv1d(in_channels, out_channels, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm1d(out_channels)
        self.conv2 = nn.Conv1d(out_channels, out_channels, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm1d(out_channels)
        self.act = nn.LeakyReLU(0.3)
        self.skip = (
            nn.Conv1d(in_channels, out_channels, 1, bias=False)
            if in_channels != out_channels
            else nn.Identity()
        )
        self.pool = nn.MaxPool1d(pool) if pool > 1 else nn.Identity()

    def forward(self, x):
        """Apply the block to ``x`` of shape ``[B, C, T]``."""
        y = self.act(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        return self.pool(self.act(y + self.skip(x)))


class RawCNN(nn.Module):
    """Raw-waveform anti-spoofing classifier for CPU experiments.

    Arguments
    ---------
    channels : list of int
        Channels of the front-end filterbank followed by one entry per
        residual block.
    kernel_size : int
        Length of the front-end filters in samples.
    stride : int
        Hop of the front-end filterbank in samples.
    pool : int
        Max-pooling factor after each residual block.
    n_classes : int
        Number of output logits (2: spoof, bona fide).
    dropout : float
        Dropout before the classifier.
    sample_rate : int
        Sampling rate, for the initial filterbank.
    init_filterbank : bool
        Initialise the front end as linearly spaced band-pass filters
        (learnt afterwards); random initialisation otherwise. The band-pass
        start trains markedly faster on the mini corpus.

    Example
    -------
    >>> model = RawCNN(channels=[8, 8, 16], kernel_size=65, stride=8)
    >>> logits = model(torch.randn(3, 4000), torch.tensor([1.0, 0.5, 0.8]))
    >>> logits.shape
    torch.Size([3, 2])
    """

    def __init__(
        self,
        channels=(32, 32, 48, 64, 64),
        kernel_size=129,
        stride=8,
        pool=3,
        n_classes=2,
        dropout=0.2,
        sample_rate=16000,
        init_filterbank=True,
    ):
        super().__init__()
        channels = list(channels)
        self.stride = stride
        self.pool = pool
        self.frontend = nn.Conv1d(
            1, channels[0], kernel_size, stride=stride, padding=kernel_size // 2
        )
        if init_filterbank:
            with torch.no_grad():
                self.frontend.weight.copy_(
                    linear_bandpass_filters(channels[0], kernel_size, sample_rate)[
                        :, None
                    ]
                )
                self.frontend.bias.zero_()
        self.frontend_norm = nn.BatchNorm1d(channels[0])
        self.blocks = nn.Sequential(
            *[
                ResBlock1d(c_in, c_out, pool)
                for c_in, c_out in zip(channels[:-1], channels[1:])
            ]
        )
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(2 * channels[-1], n_classes)

    def forward(self, wavs, lengths=None):
        """Return logits ``[B, n_classes]`` for waveforms ``[B, T]``.

        Arguments
        ---------
        wavs : torch.Tensor
            Batch of waveforms ``[B, T]``.
        lengths : torch.Tensor, optional
            Relative lengths in (0, 1]; padded frames are excluded from
            the statistics pooling.

        Returns
        -------
        torch.Tensor
            The logits.
        """
        x = self.frontend(wavs.unsqueeze(1))
        # Log-compressed magnitude of the learnt filterbank: a spectrogram-like
        # representation that is robust to the input level.
        x = torch.log1p(x.abs())
        x = self.frontend_norm(x)
        x = self.blocks(x)
        stats = masked_mean_std(x.transpose(1, 2), lengths)
        return self.classifier(self.dropout(stats))
