"""Nes2Net-X back end: a nested Res2Net TDNN on SSL features.

The back end of Liu et al., "Nes2Net: A Lightweight Nested Architecture for
Foundation Model Driven Speech Anti-spoofing" (IEEE T-IFS, 2025), public code
https://github.com/Liu-Tianchi/Nes2Net_ASVspoof_ITW
(``model_scripts/wav2vec2_Nes2Net_X.py``, class ``Nested_Res2Net_TDNN``):

* outer nest: the ``D`` SSL channels are split into ``s1`` groups of
  ``C = D / s1``; group 0 goes through a bottleneck block, and each
  following group ``i < s1 - 1`` is added to the previous block's output
  before its own block (ReLU and batch norm after each block); the last
  group is passed on untouched, as in Res2Net;
* inner nest (:class:`Bottle2neck`, the "X" variant): a 1 x 1 convolution,
  then the ``C`` channels split into ``s2`` groups of ``w = C / s2``; the
  last group seeds a *stack* to which each other group is appended along a
  new axis; each step convolves every slice of the stack over time with the
  same dilated kernel-3 convolution, keeps the result as the new stack, and
  outputs a learnt weighted sum over the stack (``weighted_sum``, initial
  weights ``1 / (i + 2)``); the outputs and the seed group are concatenated,
  projected by a 1 x 1 convolution, recalibrated by squeeze-excitation and
  added to the block's input;
* batch norm and ReLU over the concatenated ``D`` channels, mean (or
  attentive statistics, :class:`ASTP`) pooling over time, a linear layer to
  the logits.

With the authors' defaults (``--Nes_ratio 8 8 --dilation 2 --pool_func
mean --SE_ratio 1``) the back end has 512,039 parameters, as their code
counts them (their README's table says 511k), 777,383 with ASTP
pooling. Module names are the authors', so their checkpoint's
``Nested_Res2Net_TDNN.<name>`` keys load as ``backend.<name>``
(:attr:`Nes2NetX.AUTHORS_PREFIX`, used by
:func:`dpda.models.checkpoint_mapping.map_authors_state_dict`). Where the
authors hard-code 1024 channels (the final batch norm and linear layer),
``input_size`` is used: the same for XLS-R.

Authors
 * dpda contributors 2026
"""

import math

import torch
from torch import nn


class SEModule(nn.Module):
    """Squeeze-excitation over the channels of ``[B, C, T]`` features.

    Arguments
    ---------
    channels : int
        Number of channels ``C``.
    se_ratio : int
        Reduction of the bottleneck (``C // se_ratio`` channels).

    Example
    -------
    >>> SEModule(8, se_ratio=2)(torch.randn(2, 8, 5)).shape
    torch.Size([2, 8, 5])
    """

    def __init__(self, channels, se_ratio=8):
        super().__init__()
        # Sequential indices are part of the authors' key names (se.1, se.3).
        self.se = nn.Sequential(
            nn.AdaptiveAvgPool1d(1),
            nn.Conv1d(channels, channels // se_ratio, kernel_size=1, padding=0),
            nn.ReLU(),
            nn.Conv1d(channels // se_ratio, channels, kernel_size=1, padding=0),
            nn.Sigmoid(),
        )

    def forward(self, x):
        """Scale each channel of ``x`` ``[B, C, T]`` by its gate."""
        return x * self.se(x)


class Bottle2neck(nn.Module):
    """The inner nest of Nes2Net-X: a Res2Net block with a stacked,
    weighted-sum hierarchy, squeeze-excitation and a residual connection.

    Arguments
    ---------
    inplanes : int
        Input channels.
    planes : int
        Output channels (equal to ``inplanes`` for the residual).
    kernel_size : int
        Kernel of the convolutions over time.
    dilation : int
        Their dilation.
    scale : int
        Number of channel groups ``s2``.
    se_ratio : int
        Squeeze-excitation reduction.

    Example
    -------
    >>> block = Bottle2neck(16, 16, kernel_size=3, dilation=2, scale=4, se_ratio=1)
    >>> block(torch.randn(2, 16, 10)).shape
    torch.Size([2, 16, 10])
    >>> [tuple(w.shape) for w in block.weighted_sum]
    [(1, 1, 1, 2), (1, 1, 1, 3), (1, 1, 1, 4)]
    """

    def __init__(
        self, inplanes, planes, kernel_size=3, dilation=2, scale=8, se_ratio=8
    ):
        super().__init__()
        width = int(math.floor(planes / scale))
        self.width = width
        self.nums = scale - 1
        self.conv1 = nn.Conv1d(inplanes, width * scale, kernel_size=1)
        self.bn1 = nn.BatchNorm1d(width * scale)
        pad = math.floor(kernel_size / 2) * dilation
        # (k, 1) kernels: one time convolution shared by every stack slice.
        self.convs = nn.ModuleList(
            nn.Conv2d(
                width,
                width,
                kernel_size=(kernel_size, 1),
                dilation=(dilation, 1),
                padding=(pad, 0),
            )
            for _ in range(self.nums)
        )
        self.bns = nn.ModuleList(nn.BatchNorm2d(width) for _ in range(self.nums))
        # Step i sums a stack of i + 2 slices, initially with equal weights.
        self.weighted_sum = nn.ParameterList(
            nn.Parameter(torch.full((1, 1, 1, i + 2), 1.0 / (i + 2)))
            for i in range(self.nums)
        )
        self.conv3 = nn.Conv1d(width * scale, planes, kernel_size=1)
        self.bn3 = nn.BatchNorm1d(planes)
        self.relu = nn.ReLU()
        self.se = SEModule(planes, se_ratio)

    def forward(self, x):
        """Return the block's output ``[B, planes, T]`` for ``x`` ``[B, inplanes, T]``."""
        # ReLU before batch norm, as the authors'.
        out = self.bn1(self.relu(self.conv1(x))).unsqueeze(-1)  # [B, C, T, 1]
        spx = torch.split(out, self.width, 1)
        stack = spx[self.nums]  # the last group seeds the stack
        outs = []
        for i in range(self.nums):
            stack = torch.cat((stack, spx[i]), -1)
            stack = self.bns[i](self.relu(self.convs[i](stack)))
            outs.append(torch.sum(stack * self.weighted_sum[i], dim=-1))
        outs.append(spx[self.nums].squeeze(-1))
        out = self.bn3(self.relu(self.conv3(torch.cat(outs, 1))))
        return self.se(out) + x


class ASTP(nn.Module):
    """Attentive statistics pooling (ECAPA-TDNN): channel- and
    frame-dependent attention, then the weighted mean and standard deviation.

    The authors' class without its ``global_context_att`` option (unused by
    Nes2Net-X).

    Arguments
    ---------
    in_dim : int
        Channels ``D``.
    bottleneck_dim : int
        Hidden size of the attention.

    Example
    -------
    >>> ASTP(6, bottleneck_dim=4)(torch.randn(2, 6, 7)).shape
    torch.Size([2, 12])
    """

    def __init__(self, in_dim, bottleneck_dim=128):
        super().__init__()
        self.linear1 = nn.Conv1d(in_dim, bottleneck_dim, kernel_size=1)
        self.linear2 = nn.Conv1d(bottleneck_dim, in_dim, kernel_size=1)

    def forward(self, x):
        """Mean and standard deviation ``[B, 2 D]`` of ``x`` ``[B, D, T]``."""
        alpha = torch.softmax(self.linear2(torch.tanh(self.linear1(x))), dim=2)
        mean = torch.sum(alpha * x, dim=2)
        var = torch.sum(alpha * x**2, dim=2) - mean**2
        return torch.cat([mean, torch.sqrt(var.clamp(min=1e-10))], dim=1)


class Nes2NetX(nn.Module):
    """Nes2Net-X back end (the authors' ``Nested_Res2Net_TDNN``).

    Arguments
    ---------
    input_size : int
        Dimension ``D`` of the SSL features.
    nes_ratio : tuple of int
        ``(s1, s2)``: channel groups of the outer and inner nests.
    dilation : int
        Dilation of the inner convolutions over time.
    pool : str
        ``"mean"`` or ``"ASTP"`` (attentive statistics) pooling over time.
    se_ratio : int or sequence of int
        Squeeze-excitation reduction (the authors' ``--SE_ratio``, whose
        one-element list is accepted too).
    n_classes : int
        Number of logits.

    Example
    -------
    >>> model = Nes2NetX(input_size=32, nes_ratio=(4, 4)).eval()
    >>> model(torch.randn(2, 10, 32)).shape
    torch.Size([2, 2])
    """

    #: Prefix of the back end's keys in the authors' checkpoints.
    AUTHORS_PREFIX = "Nested_Res2Net_TDNN."

    def __init__(
        self,
        input_size=1024,
        nes_ratio=(8, 8),
        dilation=2,
        pool="mean",
        se_ratio=1,
        n_classes=2,
    ):
        super().__init__()
        outer, inner = nes_ratio
        if input_size % outer:
            raise ValueError(
                f"input_size {input_size} is not divisible by nes_ratio[0] = {outer}"
            )
        if pool not in ("mean", "ASTP"):
            raise ValueError(f"pool must be 'mean' or 'ASTP', got {pool!r}")
        if not isinstance(se_ratio, int):
            (se_ratio,) = se_ratio
        self.Nes_ratio = outer
        self.C = input_size // outer
        self.pool_func = pool
        self.Build_in_Res2Nets = nn.ModuleList(
            Bottle2neck(
                self.C,
                self.C,
                kernel_size=3,
                dilation=dilation,
                scale=inner,
                se_ratio=se_ratio,
            )
            for _ in range(outer - 1)
        )
        self.bns = nn.ModuleList(nn.BatchNorm1d(self.C) for _ in range(outer - 1))
        self.bn = nn.BatchNorm1d(input_size)
        self.relu = nn.ReLU()
        if pool == "ASTP":
            self.pooling = ASTP(in_dim=input_size, bottleneck_dim=128)
            self.fc = nn.Linear(2 * input_size, n_classes)
        else:
            self.fc = nn.Linear(input_size, n_classes)

    def forward(self, feats, lengths=None):
        """Logits ``[B, n_classes]`` for SSL features ``[B, T, D]``.

        Arguments
        ---------
        feats : torch.Tensor
            SSL features ``[B, T, D]`` (the last layer).
        lengths : torch.Tensor, optional
            Unused: every frame is pooled, as in the authors' code.

        Returns
        -------
        torch.Tensor
            Logits ``[B, n_classes]``.
        """
        if feats.dim() != 3:
            raise ValueError(
                f"Nes2NetX needs SSL features [B, T, D], got {tuple(feats.shape)}"
            )
        spx = torch.split(feats.transpose(1, 2), self.C, 1)
        outs = []
        sp = None
        for i, block in enumerate(self.Build_in_Res2Nets):
            sp = spx[i] if sp is None else sp + spx[i]
            sp = self.bns[i](self.relu(block(sp)))
            outs.append(sp)
        outs.append(spx[-1])  # the last group skips the outer nest
        out = self.relu(self.bn(torch.cat(outs, 1)))
        out = self.pooling(out) if self.pool_func == "ASTP" else out.mean(dim=-1)
        return self.fc(out)
