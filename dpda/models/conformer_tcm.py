"""Conformer-TCM back end on SSL features.

The back end of Truong et al., "Temporal-Channel Modeling in Multi-head
Self-Attention for Synthetic Speech Detection" (Interspeech 2024), also used
by the DPDA paper:

1. a linear projection of the SSL frames (``LL``, 1024 -> 144), batch norm
   over the whole (time x channel) map (``first_bn``, one channel) and SELU;
2. fixed sinusoidal positional embeddings, then a learnt class token
   prepended to the frames;
3. Conformer blocks (half-step feed-forward, multi-head self-attention,
   convolution module with a depthwise convolution, half-step feed-forward,
   final layer norm) whose self-attention is the temporal-channel modelling
   (TCM) variant: one *head token* per head summarises the channels that
   head sees (mean over time of the head's channel slice, projected to the
   model dimension); the head tokens join the sequence for the attention,
   then their mean, and the mean of the frame outputs, are added to the
   class token;
4. a linear layer (``fc5``) from the class token to two logits.

Module and parameter names follow the public code of the paper and of the
DPDA paper (``LL``, ``first_bn``, ``conformer.encoder_blocks.N.ff1.fn.fn.net``
...), so that the released state dicts load with a prefix change only (see
:mod:`dpda.models.checkpoint_mapping`). Dropout is zero everywhere in the
released configuration and is exposed here as ``dropout``.

Authors
 * dpda contributors 2026
"""

import functools

import torch
import torch.nn.functional as F
from torch import nn


def sinusoidal_embedding(n_positions, dim):
    """Sinusoidal positional embeddings ``[1, n_positions, dim]``.

    Channel ``i`` of position ``p`` is ``sin`` (even ``i``) or ``cos`` (odd
    ``i``) of ``p / 10000 ** (2 (i // 2) / dim)``.

    Arguments
    ---------
    n_positions : int
        Number of positions.
    dim : int
        Embedding dimension.

    Returns
    -------
    torch.Tensor
        The embeddings (float32).

    Example
    -------
    >>> pe = sinusoidal_embedding(3, 4)
    >>> pe.shape
    torch.Size([1, 3, 4])
    >>> pe[0, 0].tolist()
    [0.0, 1.0, 0.0, 1.0]
    """
    pos = torch.arange(n_positions, dtype=torch.float64)[:, None]
    i = torch.arange(dim)
    angle = pos / 10000 ** (2 * (i // 2) / dim).to(torch.float64)
    pe = torch.where(i % 2 == 0, torch.sin(angle), torch.cos(angle))
    return pe.float().unsqueeze(0)


class Scale(nn.Module):
    """Multiply the output of ``fn`` by a constant (half-step residuals)."""

    def __init__(self, scale, fn):
        super().__init__()
        self.scale = scale
        self.fn = fn

    def forward(self, x):
        """Return ``scale * fn(x)``."""
        return self.fn(x) * self.scale


class PreNorm(nn.Module):
    """Layer norm before ``fn`` (pre-norm residual branches)."""

    def __init__(self, dim, fn):
        super().__init__()
        self.norm = nn.LayerNorm(dim)
        self.fn = fn

    def forward(self, x):
        """Return ``fn(LayerNorm(x))``."""
        return self.fn(self.norm(x))


class Transpose(nn.Module):
    """Swap the time and channel axes (``[B, T, C] <-> [B, C, T]``)."""

    def forward(self, x):
        """Return ``x`` with its last two axes swapped."""
        return x.transpose(1, 2)


class FeedForward(nn.Module):
    """Conformer feed-forward module: linear, Swish, linear.

    Arguments
    ---------
    dim : int
        Model dimension.
    mult : int
        Expansion of the hidden layer.
    dropout : float
        Dropout after each linear layer's activation and at the output.

    Example
    -------
    >>> FeedForward(8)(torch.randn(2, 5, 8)).shape
    torch.Size([2, 5, 8])
    """

    def __init__(self, dim, mult=4, dropout=0.0):
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(dim, dim * mult),
            nn.SiLU(),
            nn.Dropout(dropout),
            nn.Linear(dim * mult, dim),
            nn.Dropout(dropout),
        )

    def forward(self, x):
        """Return the module output for ``x`` ``[B, T, dim]``."""
        return self.net(x)


class DepthWiseConv1d(nn.Module):
    """Depthwise 1-D convolution with explicit (possibly uneven) padding.

    Arguments
    ---------
    channels : int
        Input and output channels (one filter per channel).
    kernel_size : int
        Kernel size.
    padding : tuple of int
        Zeros added on the left and on the right of the time axis.

    Example
    -------
    >>> conv = DepthWiseConv1d(4, 16, (8, 7))
    >>> conv(torch.randn(2, 4, 10)).shape
    torch.Size([2, 4, 10])
    """

    def __init__(self, channels, kernel_size, padding):
        super().__init__()
        self.padding = tuple(padding)
        self.conv = nn.Conv1d(channels, channels, kernel_size, groups=channels)

    def forward(self, x):
        """Return the convolution of ``x`` ``[B, C, T]``."""
        return self.conv(F.pad(x, self.padding))


class ConformerConvModule(nn.Module):
    """Conformer convolution module.

    Layer norm, pointwise convolution to ``2 * expansion * dim`` channels,
    GLU, depthwise convolution ("same" length), batch norm, Swish, pointwise
    convolution back to ``dim``. The ``net`` indices match the public code.

    Arguments
    ---------
    dim : int
        Model dimension.
    expansion_factor : int
        Channel expansion after the GLU.
    kernel_size : int
        Kernel of the depthwise convolution.
    dropout : float
        Dropout at the output.

    Example
    -------
    >>> ConformerConvModule(8, kernel_size=5)(torch.randn(2, 7, 8)).shape
    torch.Size([2, 7, 8])
    """

    def __init__(self, dim, expansion_factor=2, kernel_size=31, dropout=0.0):
        super().__init__()
        inner = dim * expansion_factor
        # Output length equals input length for odd and even kernels.
        padding = (kernel_size // 2, kernel_size // 2 - (kernel_size + 1) % 2)
        self.net = nn.Sequential(
            nn.LayerNorm(dim),
            Transpose(),
            nn.Conv1d(dim, inner * 2, 1),
            nn.GLU(dim=1),
            DepthWiseConv1d(inner, kernel_size, padding),
            nn.BatchNorm1d(inner),
            nn.SiLU(),
            nn.Conv1d(inner, dim, 1),
            Transpose(),
            nn.Dropout(dropout),
        )

    def forward(self, x):
        """Return the module output for ``x`` ``[B, T, dim]``."""
        return self.net(x)


class TCMAttention(nn.Module):
    """Multi-head self-attention with head tokens (temporal-channel modelling).

    For each head ``h``, the mean over the sequence of the head's channel
    slice (``dim / heads`` channels) is projected to the model dimension by
    ``ht_proj``, normalised per head slice (``ht_norm``), passed through
    GELU, and offset by a learnt per-head embedding (``pos_embed``). These
    ``heads`` tokens are appended to the sequence, standard multi-head
    attention (no bias on ``qkv``) runs over all ``T + heads`` tokens, and
    the outputs of the head tokens are folded back into the first (class)
    token together with the mean of the other outputs:
    ``cls += mean(head tokens) + mean(frames)``. The frames are returned
    unchanged otherwise.

    Arguments
    ---------
    dim : int
        Model dimension, divisible by ``heads``.
    heads : int
        Number of attention heads (and of head tokens).
    dropout : float
        Dropout on the attention map and on the output.

    Example
    -------
    >>> attn = TCMAttention(8, heads=2)
    >>> attn(torch.randn(3, 5, 8)).shape
    torch.Size([3, 5, 8])
    """

    def __init__(self, dim, heads=4, dropout=0.0):
        super().__init__()
        if dim % heads:
            raise ValueError(f"dim {dim} is not divisible by heads {heads}")
        self.num_heads = heads
        self.dim_head = dim // heads
        self.scale = self.dim_head**-0.5
        self.qkv = nn.Linear(dim, dim * 3, bias=False)
        self.attn_drop = nn.Dropout(dropout)
        self.proj = nn.Linear(dim, dim)
        self.proj_drop = nn.Dropout(dropout)
        self.act = nn.GELU()
        self.ht_proj = nn.Linear(self.dim_head, dim)
        self.ht_norm = nn.LayerNorm(self.dim_head)
        self.pos_embed = nn.Parameter(torch.zeros(1, heads, dim))

    def forward(self, x):
        """Return the attention output ``[B, N, dim]``; ``x[:, 0]`` is the class token."""
        B, N, C = x.shape
        H, d = self.num_heads, self.dim_head

        # Head tokens: channel summaries of each head.
        summary = x.reshape(B, N, H, d).mean(dim=1)  # [B, H, d]
        ht = self.ht_proj(summary).reshape(B, H, H, d)
        ht = self.act(self.ht_norm(ht)).reshape(B, H, C) + self.pos_embed
        x = torch.cat([x, ht], dim=1)

        q, k, v = self.qkv(x).reshape(B, N + H, 3, H, d).permute(2, 0, 3, 1, 4)
        attn = self.attn_drop(((q @ k.transpose(-2, -1)) * self.scale).softmax(-1))
        x = self.proj((attn @ v).transpose(1, 2).reshape(B, N + H, C))

        cls, frames, ht = x[:, :1], x[:, 1:N], x[:, N:]
        cls = cls + ht.mean(dim=1, keepdim=True) + frames.mean(dim=1, keepdim=True)
        return self.proj_drop(torch.cat([cls, frames], dim=1))


class ConformerBlock(nn.Module):
    """Conformer block with TCM self-attention.

    ``x + ff1/2``, ``x + attn``, ``x + conv``, ``x + ff2/2``, layer norm.

    Arguments
    ---------
    dim : int
        Model dimension.
    heads : int
        Attention heads.
    ff_mult : int
        Feed-forward expansion.
    conv_expansion_factor : int
        Convolution module expansion.
    conv_kernel_size : int
        Depthwise convolution kernel.
    dropout : float
        Dropout of every sub-module.

    Example
    -------
    >>> block = ConformerBlock(8, heads=2, conv_kernel_size=5)
    >>> block(torch.randn(2, 6, 8)).shape
    torch.Size([2, 6, 8])
    """

    def __init__(
        self,
        dim,
        heads=4,
        ff_mult=4,
        conv_expansion_factor=2,
        conv_kernel_size=31,
        dropout=0.0,
    ):
        super().__init__()
        self.ff1 = Scale(0.5, PreNorm(dim, FeedForward(dim, ff_mult, dropout)))
        self.attn = PreNorm(dim, TCMAttention(dim, heads, dropout))
        self.conv = ConformerConvModule(
            dim, conv_expansion_factor, conv_kernel_size, dropout
        )
        self.ff2 = Scale(0.5, PreNorm(dim, FeedForward(dim, ff_mult, dropout)))
        self.post_norm = nn.LayerNorm(dim)

    def forward(self, x):
        """Return the block output for ``x`` ``[B, N, dim]``."""
        x = x + self.ff1(x)
        x = x + self.attn(x)
        x = x + self.conv(x)
        x = x + self.ff2(x)
        return self.post_norm(x)


class TCMConformer(nn.Module):
    """Positional embedding, class token, Conformer-TCM blocks, classifier.

    Arguments
    ---------
    emb_size : int
        Model dimension.
    heads : int
        Attention heads.
    ff_mult : int
        Feed-forward expansion.
    exp_fac : int
        Convolution module expansion.
    kernel_size : int
        Depthwise convolution kernel.
    n_encoders : int
        Number of blocks.
    n_classes : int
        Number of logits.
    max_positions : int
        Length of the stored sinusoid table (longer inputs extend it on the
        fly with the same formula).
    dropout : float
        Dropout of every sub-module.

    Example
    -------
    >>> net = TCMConformer(emb_size=8, heads=2, kernel_size=5, n_encoders=1)
    >>> net(torch.randn(2, 6, 8)).shape
    torch.Size([2, 2])
    """

    def __init__(
        self,
        emb_size=144,
        heads=4,
        ff_mult=4,
        exp_fac=2,
        kernel_size=31,
        n_encoders=4,
        n_classes=2,
        max_positions=10000,
        dropout=0.0,
    ):
        super().__init__()
        # A buffer, not a parameter: fixed, yet saved under the released key.
        self.register_buffer(
            "positional_emb", sinusoidal_embedding(max_positions, emb_size)
        )
        self.encoder_blocks = nn.ModuleList(
            ConformerBlock(emb_size, heads, ff_mult, exp_fac, kernel_size, dropout)
            for _ in range(n_encoders)
        )
        self.class_token = nn.Parameter(torch.rand(1, emb_size))
        self.fc5 = nn.Linear(emb_size, n_classes)

    def forward(self, x):
        """Return logits ``[B, n_classes]`` for frames ``[B, T, emb_size]``."""
        T = x.shape[1]
        pe = self.positional_emb
        if T > pe.shape[1]:
            pe = sinusoidal_embedding(T, x.shape[-1]).to(x.device, x.dtype)
        x = x + pe[:, :T]
        cls = self.class_token.expand(x.shape[0], 1, -1)
        x = torch.cat([cls, x], dim=1)
        for block in self.encoder_blocks:
            x = block(x)
        return self.fc5(x[:, 0])


class ProjectedEncoderBackend(nn.Module):
    """The frame projection and the encoder that the TCM and XLSR-Mamba back
    ends share: ``LL`` (SSL features to ``emb_size``), a one-channel batch
    norm and SELU, then the encoder, kept as ``conformer`` (its name in both
    authors' code, hence in their checkpoints).

    Arguments
    ---------
    input_size : int
        Dimension of the SSL features.
    emb_size : int
        Model dimension after the ``LL`` projection.
    make_encoder : callable
        Builds the encoder, ``[B, T, emb_size] -> logits``; called after the
        projection is built, so parameters are initialised in the authors'
        order.

    Example
    -------
    >>> backend = ProjectedEncoderBackend(16, 8, lambda: nn.Linear(8, 2))
    >>> backend(torch.randn(2, 5, 16)).shape
    torch.Size([2, 5, 2])
    """

    def __init__(self, input_size, emb_size, make_encoder):
        super().__init__()
        self.LL = nn.Linear(input_size, emb_size)
        self.first_bn = nn.BatchNorm2d(1)
        self.selu = nn.SELU()
        self.conformer = make_encoder()

    def forward(self, feats, lengths=None):
        """Return the encoder's output (logits ``[B, n_classes]`` for the
        back ends) for SSL features ``[B, T, D]``.

        ``lengths`` is accepted for the back-end interface and ignored: the
        inputs are cropped or tiled to one length, as in the papers.
        """
        x = self.LL(feats).unsqueeze(1)
        x = self.selu(self.first_bn(x)).squeeze(1)
        return self.conformer(x)


class ConformerTCM(ProjectedEncoderBackend):
    """Conformer-TCM back end: SSL frames ``[B, T, D]`` to logits ``[B, 2]``.

    With the defaults (144 dimensions, 4 heads, kernel 31, 4 blocks) this is
    the back end of the released TCM and DPDA-TCM models: 2,382,628
    trainable parameters (LL 147,600; first_bn 2; class token 144; fc5 290;
    558,648 per block: two feed-forward modules 166,896 each, attention
    89,352, convolution module 135,216, post norm 288). The released code
    holds the 10000 x 144 sinusoid table as a frozen parameter (so it counts
    3,822,628 parameters in all); here it is a buffer under the same key.

    Arguments
    ---------
    input_size : int
        Dimension of the SSL features (1024 for XLS-R 300M).
    emb_size : int
        Model dimension after the ``LL`` projection.
    heads : int
        Attention heads.
    kernel_size : int
        Depthwise convolution kernel.
    n_encoders : int
        Number of Conformer blocks.
    ff_mult : int
        Feed-forward expansion.
    exp_fac : int
        Convolution module expansion.
    n_classes : int
        Number of logits.
    max_positions : int
        Length of the stored sinusoid table.
    dropout : float
        Dropout of every Conformer sub-module (0 in the released models).

    Example
    -------
    >>> backend = ConformerTCM(input_size=16, emb_size=8, heads=2,
    ...                        kernel_size=5, n_encoders=1, max_positions=64)
    >>> backend(torch.randn(2, 20, 16)).shape
    torch.Size([2, 2])
    """

    def __init__(
        self,
        input_size=1024,
        emb_size=144,
        heads=4,
        kernel_size=31,
        n_encoders=4,
        ff_mult=4,
        exp_fac=2,
        n_classes=2,
        max_positions=10000,
        dropout=0.0,
    ):
        super().__init__(
            input_size,
            emb_size,
            functools.partial(
                TCMConformer,
                emb_size=emb_size,
                heads=heads,
                ff_mult=ff_mult,
                exp_fac=exp_fac,
                kernel_size=kernel_size,
                n_encoders=n_encoders,
                n_classes=n_classes,
                max_positions=max_positions,
                dropout=dropout,
            ),
        )
