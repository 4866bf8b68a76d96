"""XLSR-Mamba back end (dual-column bidirectional Mamba) on SSL features.

The back end of Xiao and Das, "XLSR-Mamba: A Dual-Column Bidirectional
State Space Model for Spoofing Attack Detection" (arXiv 2411.10027), as the
DPDA authors run it (``--model mamba``: ``Model`` of ``nets/mamba.py`` with
``MixerModel`` of ``nets/mamba_blocks.py``, written for mamba_ssm 1.x):

1. a linear projection of the SSL frames (``LL``, 1024 -> 144), batch norm
   over the whole (time x channel) map (``first_bn``, one channel) and SELU;
2. dropout, then two columns of Mamba blocks (:class:`MambaBlock`: RMSNorm
   pre-norm, residual stream in float32, :class:`Mamba` mixer with d_state
   16, d_conv 4, expand 2): a forward column on the sequence and a backward
   column on the time-flipped sequence, 6 blocks each;
3. a final RMSNorm (``norm_f``, shared by both columns), attention pooling
   per column, concatenation, ``Linear(288, 144)``, dropout and
   ``Linear(144, 2)``.

Their final norm of each column takes the column's *input* (the dropped-out
frames, not flipped for the backward column) plus the column's residual
stream, so the last block's mixer output is never used. This is what their
weights were trained with and is reproduced exactly
(:class:`DualColumnMamba`).

The selective scan is written out in PyTorch (:func:`selective_scan`), so
nothing needs the CUDA builds of mamba_ssm. When ``mamba_ssm`` is installed
and the tensors are on a GPU, its fused ``selective_scan_fn`` is used
instead: it computes the same function and must give the same scores (up to
float32 rounding); ``use_fast_path=False`` turns it off.

Module and parameter names are the authors' (``LL``, ``first_bn``,
``conformer.forward_layers.N.mixer.in_proj.weight``, ``conformer.norm_f``
...), so that their state dicts load with a prefix change only (see
:mod:`dpda.models.checkpoint_mapping`).

Authors
 * dpda contributors 2026
"""

import functools
import math

import torch
import torch.nn.functional as F
from torch import nn

from dpda.models.conformer_tcm import ProjectedEncoderBackend


def _work_dtype(dtype):
    """float32, or float64 for float64 inputs (the reference scans in float32)."""
    return torch.promote_types(dtype, torch.float32)


def selective_scan(u, delta, A, B, C, D=None, z=None, delta_bias=None):
    """The selective scan of Mamba (S6), one time step after the other.

    With ``delta <- softplus(delta + delta_bias)``, for each time step ``t``
    and channel ``d`` (state ``h`` of ``N`` values, zero at the start)::

        h_t = exp(delta_t A_d) * h_{t-1} + delta_t B_t u_t
        y_t = C_t . h_t + D_d u_t,   times silu(z_t) when z is given

    The layout and the arithmetic are those of mamba_ssm's
    ``selective_scan_fn`` (with ``delta_softplus=True``): computed in float32
    (float64 for float64 inputs), returned in ``u``'s dtype.

    Arguments
    ---------
    u : torch.Tensor
        Input ``[batch, channels, time]``.
    delta : torch.Tensor
        Step sizes before the bias and softplus, ``[batch, channels, time]``.
    A : torch.Tensor
        State matrix (diagonal, negative), ``[channels, N]``.
    B : torch.Tensor
        Input projections ``[batch, N, time]``.
    C : torch.Tensor
        Output projections ``[batch, N, time]``.
    D : torch.Tensor, optional
        Skip connection ``[channels]``.
    z : torch.Tensor, optional
        Gate ``[batch, channels, time]``.
    delta_bias : torch.Tensor, optional
        Bias of the step sizes ``[channels]``.

    Returns
    -------
    torch.Tensor
        ``[batch, channels, time]``.

    Example
    -------
    >>> u = torch.tensor([[[1.0, 0.0, 0.0]]])
    >>> ones = torch.ones(1, 1, 3)
    >>> delta = torch.full((1, 1, 3), math.log(math.e - 1))  # softplus: 1
    >>> A = torch.tensor([[-math.log(2.0)]])  # exp(delta A) = 1/2
    >>> selective_scan(u, delta, A, ones, ones)  # an impulse decays by half
    tensor([[[1.0000, 0.5000, 0.2500]]])
    """
    dtype = u.dtype
    work = _work_dtype(dtype)
    u, delta, B, C = (t.to(work) for t in (u, delta, B, C))
    if delta_bias is not None:
        delta = delta + delta_bias.to(work)[:, None]
    delta = F.softplus(delta)
    # Time first and contiguous, so that each step reads one block of memory;
    # unbind, not indexing, so that the backward pass stacks the steps'
    # gradients once instead of adding a full-size zero tensor per step.
    delta_t = delta.permute(2, 0, 1).contiguous()  # [time, batch, channels]
    decay = torch.exp(delta_t[..., None] * A.to(work))
    drive = (delta_t * u.permute(2, 0, 1))[..., None] * B.permute(2, 0, 1)[:, :, None]
    state = torch.zeros_like(drive[0])
    decay, drive = decay.unbind(0), drive.unbind(0)
    outputs = []
    for decay_t, drive_t, C_t in zip(decay, drive, C.unbind(-1)):
        state = decay_t * state + drive_t
        outputs.append(torch.einsum("bdn,bn->bd", state, C_t))
    y = torch.stack(outputs, dim=-1)
    if D is not None:
        y = y + u * D.to(work)[:, None]
    if z is not None:
        y = y * F.silu(z.to(work))
    return y.to(dtype)


@functools.lru_cache(maxsize=1)
def _cuda_selective_scan():
    """mamba_ssm's fused scan, or ``None`` when it is not installed."""
    try:
        from mamba_ssm.ops.selective_scan_interface import selective_scan_fn
    except ImportError:
        return None
    return selective_scan_fn


class Mamba(nn.Module):
    """Mamba mixer (selective state space model) of mamba_ssm 1.x.

    Input projection to ``2 * expand * d_model`` channels, split into ``u``
    and a gate ``z``; causal depthwise convolution of ``u`` (kernel
    ``d_conv``) and SiLU; input-dependent step sizes (rank ``dt_rank``), ``B``
    and ``C`` from ``x_proj``; the selective scan with the learnt ``A``
    (``-exp(A_log)``) and ``D``, gated by ``silu(z)``; output projection.
    Parameter names and initialisation are mamba_ssm's (``dt_proj.bias`` so
    that ``softplus`` of it lies in ``[dt_min, dt_max]``, S4D-real ``A``).

    Arguments
    ---------
    d_model : int
        Model dimension.
    d_state : int
        State size ``N`` per channel.
    d_conv : int
        Kernel of the causal depthwise convolution.
    expand : int
        Channel expansion (``d_inner = expand * d_model``).
    dt_rank : int or "auto"
        Rank of the step-size projection (``ceil(d_model / 16)``).
    dt_min : float
        Smallest initial step size.
    dt_max : float
        Largest initial step size.
    dt_init_floor : float
        Floor of the initial step sizes.
    use_fast_path : bool
        Use mamba_ssm's fused CUDA scan when it is installed and the input
        is on a GPU (same function, float32 rounding aside).

    Example
    -------
    >>> mixer = Mamba(8, d_state=4)
    >>> mixer(torch.randn(2, 5, 8)).shape
    torch.Size([2, 5, 8])
    """

    def __init__(
        self,
        d_model,
        d_state=16,
        d_conv=4,
        expand=2,
        dt_rank="auto",
        dt_min=0.001,
        dt_max=0.1,
        dt_init_floor=1e-4,
        use_fast_path=True,
    ):
        super().__init__()
        self.d_inner = int(expand * d_model)
        self.d_state = d_state
        self.dt_rank = math.ceil(d_model / 16) if dt_rank == "auto" else dt_rank
        self.use_fast_path = use_fast_path
        self.in_proj = nn.Linear(d_model, 2 * self.d_inner, bias=False)
        self.conv1d = nn.Conv1d(
            self.d_inner,
            self.d_inner,
            d_conv,
            groups=self.d_inner,
            padding=d_conv - 1,
        )
        self.x_proj = nn.Linear(self.d_inner, self.dt_rank + 2 * d_state, bias=False)
        self.dt_proj = nn.Linear(self.dt_rank, self.d_inner)
        self.out_proj = nn.Linear(self.d_inner, d_model, bias=False)
        std = self.dt_rank**-0.5
        nn.init.uniform_(self.dt_proj.weight, -std, std)
        # Inverse softplus of log-uniform step sizes in [dt_min, dt_max].
        dt = torch.exp(
            torch.rand(self.d_inner) * (math.log(dt_max) - math.log(dt_min))
            + math.log(dt_min)
        ).clamp(min=dt_init_floor)
        with torch.no_grad():
            self.dt_proj.bias.copy_(dt + torch.log(-torch.expm1(-dt)))
        # S4D-real: A_n = -n, kept as log in float32.
        A = torch.arange(1, d_state + 1, dtype=torch.float32).repeat(self.d_inner, 1)
        self.A_log = nn.Parameter(torch.log(A))
        self.D = nn.Parameter(torch.ones(self.d_inner))

    def forward(self, x):
        """Return the mixer output ``[B, T, d_model]`` for ``x`` ``[B, T, d_model]``."""
        T = x.shape[1]
        u, z = self.in_proj(x).transpose(1, 2).chunk(2, dim=1)
        u = F.silu(self.conv1d(u)[..., :T])  # causal: drop the right padding
        dt, B, C = self.x_proj(u.transpose(1, 2)).split(
            [self.dt_rank, self.d_state, self.d_state], dim=-1
        )
        # The bias is added inside the scan, before the softplus.
        delta = (dt @ self.dt_proj.weight.t()).transpose(1, 2)
        # A, D and the step bias in float32 at least (mamba_ssm's .float()).
        work = _work_dtype(x.dtype)
        args = (
            u,
            delta,
            -torch.exp(self.A_log.to(work)),
            B.transpose(1, 2).contiguous(),
            C.transpose(1, 2).contiguous(),
            self.D.to(work),
        )
        scan = selective_scan
        fast = self.use_fast_path and x.is_cuda and x.dtype != torch.float64
        if fast and _cuda_selective_scan() is not None:  # no float64 kernel
            scan = functools.partial(_cuda_selective_scan(), delta_softplus=True)
            args = tuple(a.contiguous() for a in args)
        y = scan(*args, z=z.contiguous(), delta_bias=self.dt_proj.bias.to(work))
        return self.out_proj(y.transpose(1, 2))


class RMSNorm(nn.Module):
    """Root-mean-square layer norm: ``x / sqrt(mean(x^2) + eps) * weight``.

    Computed in float32 at least (as mamba_ssm's fused kernel), returned in
    the input's dtype.

    Arguments
    ---------
    dim : int
        Size of the last axis.
    eps : float
        Added to the mean square.

    Example
    -------
    >>> RMSNorm(2)(torch.tensor([[3.0, 4.0]])).detach()
    tensor([[0.8485, 1.1314]])
    """

    def __init__(self, dim, eps=1e-5):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x):
        """Return the normalised ``x``."""
        work = x.to(_work_dtype(x.dtype))
        rstd = torch.rsqrt(work.square().mean(dim=-1, keepdim=True) + self.eps)
        return (work * rstd * self.weight).to(x.dtype)


def add_residual(hidden, residual):
    """The residual stream after adding ``hidden``, kept in float32 at least.

    Arguments
    ---------
    hidden : torch.Tensor
        The previous mixer output (or the column input).
    residual : torch.Tensor or None
        The residual stream so far (``None`` before the first block).

    Returns
    -------
    torch.Tensor
        ``hidden + residual`` (``hidden`` alone without a residual), in
        float32 or float64, as mamba_ssm's ``residual_in_fp32``.

    Example
    -------
    >>> add_residual(torch.ones(2, dtype=torch.float16), None).dtype
    torch.float32
    """
    work = _work_dtype(hidden.dtype)
    if residual is None:
        return hidden.to(work)
    return hidden.to(work) + residual.to(work)


class MambaBlock(nn.Module):
    """mamba_ssm's ``Block``: add the residual, RMSNorm, Mamba mixer.

    Returns the mixer output and the residual stream (the fused add-norm
    form of a pre-norm residual block: the next block adds them).

    Arguments
    ---------
    dim : int
        Model dimension.
    norm_eps : float
        Epsilon of the RMSNorm.
    **mixer_options
        Passed to :class:`Mamba`.

    Example
    -------
    >>> block = MambaBlock(8, d_state=4)
    >>> hidden, residual = block(torch.randn(2, 5, 8))
    >>> hidden.shape, residual.dtype
    (torch.Size([2, 5, 8]), torch.float32)
    """

    def __init__(self, dim, norm_eps=1e-5, **mixer_options):
        super().__init__()
        self.mixer = Mamba(dim, **mixer_options)
        self.norm = RMSNorm(dim, eps=norm_eps)

    def forward(self, hidden, residual=None):
        """Return ``(mixer output, residual stream)``."""
        residual = add_residual(hidden, residual)
        return self.mixer(self.norm(residual).to(hidden.dtype)), residual


def attention_pool(x, score):
    """Softmax-over-time weighted mean of the frames.

    Arguments
    ---------
    x : torch.Tensor
        Frames ``[B, T, D]``.
    score : torch.nn.Module
        Maps a frame to one score (``Linear(D, 1)``).

    Returns
    -------
    torch.Tensor
        ``[B, D]``.

    Example
    -------
    >>> x = torch.tensor([[[1.0], [3.0]]])
    >>> attention_pool(x, lambda frames: torch.zeros_like(frames))
    tensor([[2.]])
    """
    weights = torch.softmax(score(x), dim=1)  # [B, T, 1]
    return (weights.transpose(1, 2) @ x).squeeze(1)


class DualColumnMamba(nn.Module):
    """The authors' ``MixerModel``: forward and backward Mamba columns, pooling, head.

    Dropout on the input; the forward column runs on the sequence and the
    backward column on the time-flipped sequence. The final RMSNorm
    ``norm_f`` of each column takes, as in their code (their fused add-norm
    is called with the column *input* and the column's residual stream),
    ``input + residual`` where ``residual`` is the stream that entered the
    last block. So the last block's mixer output is discarded (it is not
    computed here: its parameters get no gradient, as in their training),
    and the backward column adds the *un-flipped* input to its flipped
    residual. Their weights were trained with this wiring, so it is kept.
    Attention pooling per column, concatenation, ``LL``, dropout and the
    ``classifier`` follow.

    Arguments
    ---------
    d_model : int
        Model dimension.
    n_layer : int
        Blocks per column.
    d_state : int
        State size of the mixers.
    d_conv : int
        Convolution kernel of the mixers.
    expand : int
        Channel expansion of the mixers.
    norm_eps : float
        Epsilon of every RMSNorm.
    dropout : float
        Dropout on the input and after ``LL``.
    n_classes : int
        Number of logits.
    use_fast_path : bool
        See :class:`Mamba`.

    Example
    -------
    >>> net = DualColumnMamba(d_model=8, n_layer=2, d_state=4)
    >>> net(torch.randn(3, 5, 8)).shape
    torch.Size([3, 2])
    """

    def __init__(
        self,
        d_model=144,
        n_layer=6,
        d_state=16,
        d_conv=4,
        expand=2,
        norm_eps=1e-5,
        dropout=0.1,
        n_classes=2,
        use_fast_path=True,
    ):
        super().__init__()
        if n_layer < 1:
            raise ValueError(f"n_layer must be at least 1, got {n_layer}")
        options = dict(
            norm_eps=norm_eps,
            d_state=d_state,
            d_conv=d_conv,
            expand=expand,
            use_fast_path=use_fast_path,
        )
        self.forward_layers = nn.ModuleList(
            MambaBlock(d_model, **options) for _ in range(n_layer)
        )
        self.backward_layers = nn.ModuleList(
            MambaBlock(d_model, **options) for _ in range(n_layer)
        )
        self.norm_f = RMSNorm(d_model, eps=norm_eps)
        # mamba_ssm's GPT-2 style init: output projections scaled by 1/sqrt(depth).
        with torch.no_grad():
            for block in (*self.forward_layers, *self.backward_layers):
                block.mixer.out_proj.weight /= math.sqrt(n_layer)
        self.f_attention_pool = nn.Linear(d_model, 1)
        self.b_attention_pool = nn.Linear(d_model, 1)
        self.LL = nn.Linear(2 * d_model, d_model)
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(d_model, n_classes)

    @staticmethod
    def _residual_stream(layers, x):
        """The residual stream entering the column's last block (its final add)."""
        hidden, residual = x, None
        for block in layers[:-1]:
            hidden, residual = block(hidden, residual)
        return add_residual(hidden, residual)

    def forward(self, x):
        """Return logits ``[B, n_classes]`` for frames ``[B, T, d_model]``."""
        x = self.dropout(x)
        f_residual = self._residual_stream(self.forward_layers, x)
        b_residual = self._residual_stream(self.backward_layers, x.flip(1))
        # Their final add-norm: the column input (never flipped) + residual.
        f = self.norm_f(add_residual(x, f_residual)).to(x.dtype)
        b = self.norm_f(add_residual(x, b_residual)).to(x.dtype)
        pooled = torch.cat(
            [
                attention_pool(f, self.f_attention_pool),
                attention_pool(b, self.b_attention_pool),
            ],
            dim=1,
        )
        return self.classifier(self.dropout(self.LL(pooled)))


class XLSRMamba(ProjectedEncoderBackend):
    """XLSR-Mamba back end: SSL frames ``[B, T, D]`` to logits ``[B, 2]``.

    With the defaults (144 dimensions, 6 blocks per column, d_state 16,
    d_conv 4, expand 2) this is the authors' ``--model mamba`` back end:
    1,936,950 trainable parameters (LL 147,600; first_bn 2; 145,584 per
    block, 12 blocks: mixer 145,440 (in_proj 82,944, conv1d 1,440, x_proj
    11,808, dt_proj 2,880, A_log 4,608, D 288, out_proj 41,472) and norm
    144; norm_f 144; two attention pools 145 each; LL 41,616; classifier
    290). The last block of each column (291,168 parameters together) gets
    no gradient (see :class:`DualColumnMamba`); under DDP this needs
    ``find_unused_parameters``.

    Arguments
    ---------
    input_size : int
        Dimension of the SSL features (1024 for XLS-R 300M).
    emb_size : int
        Model dimension after the ``LL`` projection.
    num_mamba_encoders : int
        Blocks of both columns together (the authors' option; half per
        column).
    d_state : int
        State size of the mixers.
    d_conv : int
        Convolution kernel of the mixers.
    expand : int
        Channel expansion of the mixers.
    dropout : float
        Dropout of the mixer model (input and head).
    n_classes : int
        Number of logits.
    use_fast_path : bool
        See :class:`Mamba`.

    Example
    -------
    >>> backend = XLSRMamba(input_size=16, emb_size=8, num_mamba_encoders=4,
    ...                     d_state=4)
    >>> backend(torch.randn(2, 7, 16)).shape
    torch.Size([2, 2])
    """

    def __init__(
        self,
        input_size=1024,
        emb_size=144,
        num_mamba_encoders=12,
        d_state=16,
        d_conv=4,
        expand=2,
        dropout=0.1,
        n_classes=2,
        use_fast_path=True,
    ):
        if num_mamba_encoders % 2:
            raise ValueError(
                f"num_mamba_encoders counts both columns and must be even, "
                f"got {num_mamba_encoders}"
            )
        # The encoder is ``conformer``, as in the authors' checkpoints.
        super().__init__(
            input_size,
            emb_size,
            functools.partial(
                DualColumnMamba,
                d_model=emb_size,
                n_layer=num_mamba_encoders // 2,
                d_state=d_state,
                d_conv=d_conv,
                expand=expand,
                dropout=dropout,
                n_classes=n_classes,
                use_fast_path=use_fast_path,
            ),
        )
