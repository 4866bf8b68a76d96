"""The raw-waveform AASIST model (Jung et al., ICASSP 2022).

Jung et al., "AASIST: Audio anti-spoofing using integrated spectro-temporal
graph attention networks", ICASSP 2022; the model of the ``clovaai/aasist``
repository and of the official ASVspoof 5 baseline:

1. a fixed mel-spaced sinc filterbank on the waveform (70 bands, 129 taps),
   magnitude, 3x3 max pooling, batch norm and SELU: a (band x time) map;
2. six residual 2-D blocks, each followed by max pooling of the time axis
   by 3 (``encoder``);
3. spectral nodes (max of absolute values over time, one per band left by
   the pooling) and temporal nodes (max over bands, one per frame);
4. the graph part shared with the SSL-AASIST back end
   (:class:`dpda.models.aasist.AASISTGraph`): graph attention and pooling
   per node type, two heterogeneous stacking branches with master nodes,
   readout and two logits (index 1 = bona fide).

Module and parameter names are those of the released ``Model``, so that
their state dicts load with no key mapping: AASIST (297,866 parameters),
AASIST-L (85,306) and the ASVspoof 5 baseline (the AASIST configuration).

Authors
 * dpda contributors 2026
"""

import torch.nn.functional as F
from torch import nn

from dpda.models.aasist import AASISTGraph, residual_encoder
from dpda.models.sinc import SincFilterbank

# The released configurations (config/AASIST.conf and config/AASIST-L.conf
# of clovaai/aasist; the ASVspoof 5 baseline uses AASIST's).
AASIST_CONFIG = {
    "first_conv": 128,
    "filts": [70, [1, 32], [32, 32], [32, 64], [64, 64]],
    "gat_dims": [64, 32],
    "pool_ratios": [0.5, 0.7, 0.5, 0.5],
    "temperatures": [2.0, 2.0, 100.0, 100.0],
}
AASIST_L_CONFIG = {
    "first_conv": 128,
    "filts": [70, [1, 32], [32, 32], [32, 24], [24, 24]],
    "gat_dims": [24, 32],
    "pool_ratios": [0.4, 0.5, 0.7, 0.5],
    "temperatures": [2.0, 2.0, 100.0, 100.0],
}


class RawAASIST(AASISTGraph):
    """Raw-waveform AASIST: waveforms ``[B, T]`` to logits ``[B, 2]``.

    The arguments follow the ``model_config`` of the released configuration
    files (``filts``: the number of sinc bands, then the channels of the
    residual blocks, the last entry used for the last three blocks). The
    paper's input is 64,600 samples (about 4 s at 16 kHz); any length that
    leaves at least one frame after the pooling works.

    The residual blocks reproduce the released code, in which ``bn1`` of the
    non-first blocks has no effect (see
    :class:`dpda.models.aasist.Residual_block`); their weights still load.

    Arguments
    ---------
    first_conv : int
        Length of the sinc filters (made odd: 128 gives 129 taps).
    filts : sequence
        ``[n_bands, block1, block2, block3, block4]``, each block an
        ``(in, out)`` channel pair; ``block4`` is used for blocks 4 to 6.
    gat_dims : sequence of int
        Output dimensions of the GAT layers and of the HS-GAL layers.
    pool_ratios : sequence of float
        Fractions of nodes kept by the spectral, temporal and HS-GAL pools.
    temperatures : sequence of float
        Softmax temperatures of the spectral GAT, temporal GAT and HS-GAL.
    sample_rate : int
        Sampling rate of the input (for the filterbank).
    freq_mask_bands : int
        During training, mask a random run of fewer than this many sinc bands
        per batch (AASIST's ``freq_aug``, off in the released configurations).
    n_classes : int
        Number of logits.
    dropout : float
        Dropout on the readout vector.
    dropout_way : float
        Dropout on each branch's nodes before the maximum.
    preactivate : bool
        Use ``bn1`` as a pre-activation (the paper's block; ``False``, the
        released code, is needed by the released weights).

    Example
    -------
    >>> import torch
    >>> model = RawAASIST(**AASIST_L_CONFIG)
    >>> sum(p.numel() for p in model.parameters())
    85306
    >>> model.eval()(torch.randn(2, 64600), torch.ones(2)).shape
    torch.Size([2, 2])
    """

    def __init__(
        self,
        first_conv=128,
        filts=AASIST_CONFIG["filts"],
        gat_dims=(64, 32),
        pool_ratios=(0.5, 0.7, 0.5, 0.5),
        temperatures=(2.0, 2.0, 100.0, 100.0),
        sample_rate=16000,
        freq_mask_bands=0,
        n_classes=2,
        dropout=0.5,
        dropout_way=0.2,
        preactivate=False,
    ):
        n_bands, blocks = int(filts[0]), [tuple(f) for f in filts[1:]]
        if len(blocks) != 4:
            raise ValueError(
                f"filts must hold the number of bands and 4 channel pairs, got {filts}"
            )
        channels = blocks[-1][1]
        # One spectral node per band left by the 3x3 max pooling.
        super().__init__(
            channels,
            n_bands // 3,
            gat_dims=gat_dims,
            pool_ratios=pool_ratios,
            temperatures=temperatures,
            n_classes=n_classes,
            dropout=dropout,
            dropout_way=dropout_way,
        )
        self.conv_time = SincFilterbank(
            n_bands, first_conv, sample_rate, max_masked_bands=freq_mask_bands
        )
        self.first_bn = nn.BatchNorm2d(1)
        self.selu = nn.SELU()
        self.encoder = residual_encoder(
            blocks + [blocks[-1]] * 2, preactivate=preactivate, time_pool=3
        )

    def forward(self, wavs, lengths=None):
        """Return logits ``[B, n_classes]`` for waveforms ``[B, T]``.

        ``lengths`` is accepted for the model interface and ignored: the
        inputs are cropped or tiled to one length, as in the paper.
        """
        x = self.conv_time(wavs).unsqueeze(1)  # [B, 1, bands, time]
        x = self.selu(self.first_bn(F.max_pool2d(x.abs(), (3, 3))))
        e = self.encoder(x)  # [B, C, bands / 3, time / 3^7]
        e_S = e.abs().amax(dim=3).transpose(1, 2)
        e_T = e.abs().amax(dim=2).transpose(1, 2)
        return self.classify(e_S, e_T)
