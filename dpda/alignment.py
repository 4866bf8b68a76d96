"""Two-path gradient aligners behind one interface.

Dual-path training produces two gradients per step, ``g1`` from the clean path
and ``g2`` from the augmented path. Every aligner here returns a combination
``a * g1 + b * g2`` whose scalar coefficients depend only on the 2x2 Gram
matrix ``G = [[g1.g1, g1.g2], [g1.g2, g2.g2]]``. The Gram matrix is computed
parameter by parameter (no flattened copy of the model gradient) and the
combination is written in place into the clean path's gradient tensors, so the
memory cost is the second path's gradient buffer only.

Methods (names as in the papers):

* ``none``: mean of the two gradients (plain training on the 2B batch);
* ``sum``: sum of the two gradients;
* ``pcgrad``: PCGrad (Yu et al. 2020), each gradient projected on the normal
  plane of the other when they conflict, then averaged;
* ``gradvac``: Gradient Vaccine (Wang et al. 2021), whole-model block, EMA
  target cosine;
* ``cagrad``: Conflict-Averse Gradient descent (Liu et al. 2021), the two-path
  problem solved exactly in closed form;
* ``mgda``: the two-task min-norm point of MGDA (Sener & Koltun 2018).

This module imports neither SpeechBrain nor the rest of ``dpda``.

Authors
 * dpda contributors 2026
"""

import math

import torch


def gram_matrix(grads_1, grads_2, per_parameter=False):
    """Compute the 2x2 Gram matrix of two gradient lists, in float64.

    Arguments
    ---------
    grads_1 : list of torch.Tensor or None
        First gradient, one entry per parameter (``None`` = zero).
    grads_2 : list of torch.Tensor or None
        Second gradient, aligned with ``grads_1``.
    per_parameter : bool
        Return one Gram matrix per parameter instead of the whole model's.

    Returns
    -------
    (g11, g12, g22) : tuple of float
        Squared norms and dot product (a list of them if ``per_parameter``).

    Example
    -------
    >>> g1 = [torch.tensor([1.0, 0.0]), torch.tensor([2.0])]
    >>> g2 = [torch.tensor([1.0, 1.0]), None]
    >>> gram_matrix(g1, g2)
    (5.0, 1.0, 2.0)
    >>> gram_matrix(g1, g2, per_parameter=True)
    [(1.0, 1.0, 2.0), (4.0, 0.0, 0.0)]
    """
    if len(grads_1) != len(grads_2):
        raise ValueError(
            f"Gradient lists differ in length: {len(grads_1)} vs {len(grads_2)}"
        )
    flat_1 = [None if g is None else g.reshape(-1) for g in grads_1]
    flat_2 = [None if g is None else g.reshape(-1) for g in grads_2]
    # (row, a, b) for every per-parameter dot product, the row being
    # 3 * parameter + Gram entry: no flattened copy of the whole gradient, one
    # host synchronisation.
    n = len(flat_1)
    terms = [(3 * k, a, a) for k, a in enumerate(flat_1) if a is not None]
    terms += [
        (3 * k + 1, a, b)
        for k, (a, b) in enumerate(zip(flat_1, flat_2))
        if a is not None and b is not None
    ]
    terms += [(3 * k + 2, b, b) for k, b in enumerate(flat_2) if b is not None]
    if not terms:
        blocks = torch.zeros(n, 3, dtype=torch.float64)
    else:
        dots = torch.stack([torch.dot(a, b).double() for _, a, b in terms])
        rows = torch.tensor([r for r, _, _ in terms], device=dots.device)
        blocks = torch.zeros(3 * n, dtype=torch.float64, device=dots.device)
        blocks = blocks.index_add_(0, rows, dots).view(n, 3)
    if per_parameter:
        return [tuple(row) for row in blocks.tolist()]
    g11, g12, g22 = blocks.sum(dim=0).tolist()
    return g11, g12, g22


def combine_gradients(grads_1, grads_2, a, b):
    """Return ``a * g1 + b * g2``, written in place into ``grads_1``'s tensors.

    Arguments
    ---------
    grads_1 : list of torch.Tensor or None
        First gradient list; its tensors are overwritten with the result.
    grads_2 : list of torch.Tensor or None
        Second gradient list (left unchanged).
    a : float
        Coefficient of the first gradient.
    b : float
        Coefficient of the second gradient.

    Returns
    -------
    list of torch.Tensor or None
        The combined gradients (``None`` where both inputs are ``None``).

    Example
    -------
    >>> out = combine_gradients([torch.ones(2), None], [torch.ones(2), torch.ones(1)], 0.5, 2.0)
    >>> [t.tolist() for t in out]
    [[2.5, 2.5], [2.0]]
    """
    both_1 = [
        g1 for g1, g2 in zip(grads_1, grads_2) if g1 is not None and g2 is not None
    ]
    both_2 = [
        g2 for g1, g2 in zip(grads_1, grads_2) if g1 is not None and g2 is not None
    ]
    if both_1:
        torch._foreach_mul_(both_1, a)
        torch._foreach_add_(both_1, both_2, alpha=b)
    out = []
    for g1, g2 in zip(grads_1, grads_2):
        if g1 is None and g2 is not None:
            out.append(g2 * b)
        elif g1 is not None and g2 is None:
            out.append(g1.mul_(a))
        else:
            out.append(g1)
    return out


class Aligner:
    """Base class of the two-path aligners.

    A subclass implements :meth:`coefficients`, mapping the Gram matrix to the
    scalars ``(a, b)`` of the update ``a * g_clean + b * g_aug``. The statistics
    of the last call are kept in ``last_stats``.

    Example
    -------
    >>> aligner = MeanAligner()
    >>> out = aligner.combine([torch.tensor([1.0, 0.0])], [torch.tensor([-1.0, 2.0])])
    >>> out[0].tolist(), aligner.last_stats["conflict"]
    ([0.0, 1.0], True)
    """

    name = "base"

    def __init__(self):
        self.last_stats = {}

    def coefficients(self, g11, g12, g22):
        """Return ``(a, b)`` for the Gram matrix entries (override)."""
        raise NotImplementedError

    def combine(self, grads_clean, grads_aug):
        """Combine the two paths' gradients into one update direction.

        Arguments
        ---------
        grads_clean : list of torch.Tensor or None
            Clean-path gradient per parameter; overwritten with the result.
        grads_aug : list of torch.Tensor or None
            Augmented-path gradient per parameter.

        Returns
        -------
        list of torch.Tensor or None
            The combined gradient per parameter.
        """
        g11, g12, g22 = gram_matrix(grads_clean, grads_aug)
        a, b = self.coefficients(g11, g12, g22)
        self.record_stats(g11, g12, g22, a, b)
        return combine_gradients(grads_clean, grads_aug, a, b)

    def record_stats(self, g11, g12, g22, a, b):
        """Keep the statistics of the last call in ``last_stats``."""
        denom = math.sqrt(g11 * g22)
        self.last_stats = {
            "cosine": g12 / denom if denom > 0 else 0.0,
            "dot": g12,
            "norm_clean": math.sqrt(g11),
            "norm_aug": math.sqrt(g22),
            "conflict": g12 < 0,
            "coef_clean": a,
            "coef_aug": b,
        }

    def state_dict(self):
        """Aligner state to checkpoint (empty for stateless methods)."""
        return {}

    def load_state_dict(self, state):
        """Restore the state returned by :meth:`state_dict`."""


class MeanAligner(Aligner):
    """No alignment: the mean of the two gradients.

    Example
    -------
    >>> MeanAligner().coefficients(1.0, -1.0, 1.0)
    (0.5, 0.5)
    """

    name = "none"

    def coefficients(self, g11, g12, g22):
        """Return ``(0.5, 0.5)``."""
        return 0.5, 0.5


class SumAligner(Aligner):
    """No alignment: the sum of the two gradients.

    Example
    -------
    >>> SumAligner().coefficients(1.0, -1.0, 1.0)
    (1.0, 1.0)
    """

    name = "sum"

    def coefficients(self, g11, g12, g22):
        """Return ``(1.0, 1.0)``."""
        return 1.0, 1.0


class PCGradAligner(Aligner):
    """PCGrad for two paths, averaged as in the DPDA paper.

    When ``g1 . g2 < 0`` each gradient is projected on the normal plane of the
    *original* other one, ``g1' = g1 - (g1.g2 / |g2|^2) g2`` and
    ``g2' = g2 - (g1.g2 / |g1|^2) g1``; the update is ``(g1' + g2') / 2``.

    Example
    -------
    >>> PCGradAligner().coefficients(1.0, -0.5, 4.0)
    (0.75, 0.5625)
    >>> PCGradAligner().coefficients(1.0, 0.5, 4.0)
    (0.5, 0.5)
    """

    name = "pcgrad"

    def coefficients(self, g11, g12, g22):
        """Return the PCGrad coefficients."""
        if g12 >= 0:
            return 0.5, 0.5
        # A conflict implies both norms are non-zero.
        return 0.5 * (1.0 - g12 / g11), 0.5 * (1.0 - g12 / g22)


class GradVacAligner(Aligner):
    """Gradient Vaccine for two paths with an EMA target cosine.

    When ``rho = cos(g1, g2)`` is below the target ``rho_T``, each gradient
    receives ``w`` times the other one so that their cosine reaches the
    target; the update is the mean of the adjusted gradients. The target is
    updated as ``rho_T = (1 - beta) rho_T + beta rho``.

    Arguments
    ---------
    beta : float
        EMA rate of the target cosine (paper: 0.5).
    ema_update : str
        ``"positive"``: update the target only when ``rho > 0`` (the DPDA
        authors' code); ``"always"``: every step (LibMTL).
    rho_init : float
        Initial target cosine.
    blocks : str
        ``"whole"``: the whole model is one block (the DPDA authors' code);
        ``"parameter"``: every parameter tensor is a block with its own
        cosine and target (GradVac's layer-wise variant).

    Example
    -------
    >>> gv = GradVacAligner(beta=0.5)
    >>> a, b = gv.coefficients(1.0, -0.5, 1.0)
    >>> round(a, 6), round(b, 6), gv.rho_target
    (0.75, 0.75, 0.0)
    """

    name = "gradvac"

    def __init__(self, beta=0.5, ema_update="positive", rho_init=0.0, blocks="whole"):
        super().__init__()
        if ema_update not in ("positive", "always"):
            raise ValueError(
                f"ema_update must be 'positive' or 'always', got {ema_update!r}"
            )
        if not 0.0 <= beta <= 1.0:
            raise ValueError(f"beta must be in [0, 1], got {beta}")
        if blocks not in ("whole", "parameter"):
            raise ValueError(f"blocks must be 'whole' or 'parameter', got {blocks!r}")
        self.beta = beta
        self.ema_update = ema_update
        self.rho_init = float(rho_init)
        self.blocks = blocks
        # One target for the whole model, or one per parameter tensor.
        self.rho_target = self.rho_init if blocks == "whole" else []

    def _block(self, g11, g12, g22, rho_t):
        """Coefficients of one block and its new target cosine."""
        if g11 == 0.0 or g22 == 0.0:
            return 0.5, 0.5, rho_t
        n1, n2 = math.sqrt(g11), math.sqrt(g22)
        rho = max(-1.0, min(1.0, g12 / (n1 * n2)))
        a = b = 1.0
        if rho < rho_t:
            sin_t = math.sqrt(max(0.0, 1.0 - rho_t * rho_t))
            sin_rho = math.sqrt(max(0.0, 1.0 - rho * rho))
            if sin_t > 0.0:
                scale = (rho_t * sin_rho - rho * sin_t) / sin_t
                b += n1 / n2 * scale  # g1 += w12 g2
                a += n2 / n1 * scale  # g2 += w21 g1
        if self.ema_update == "always" or rho > 0:
            rho_t = (1.0 - self.beta) * rho_t + self.beta * rho
        return 0.5 * a, 0.5 * b, rho_t

    def coefficients(self, g11, g12, g22):
        """Return the whole-model coefficients and update the target cosine."""
        a, b, self.rho_target = self._block(g11, g12, g22, self.rho_target)
        return a, b

    def combine(self, grads_clean, grads_aug):
        """Combine the gradients, block by block in ``parameter`` mode."""
        if self.blocks == "whole":
            return super().combine(grads_clean, grads_aug)
        if not self.rho_target:
            self.rho_target = [self.rho_init] * len(grads_clean)
        if len(self.rho_target) != len(grads_clean):
            raise ValueError(
                f"GradVac has targets for {len(self.rho_target)} parameters, "
                f"got {len(grads_clean)} gradients"
            )
        blocks = gram_matrix(grads_clean, grads_aug, per_parameter=True)
        out = []
        for k, (g1, g2) in enumerate(zip(grads_clean, grads_aug)):
            a, b, self.rho_target[k] = self._block(*blocks[k], self.rho_target[k])
            out.extend(combine_gradients([g1], [g2], a, b))
        # Whole-model statistics; the coefficients differ per block.
        g11, g12, g22 = (sum(block[i] for block in blocks) for i in range(3))
        self.record_stats(g11, g12, g22, float("nan"), float("nan"))
        return out

    def state_dict(self):
        """Return the target cosine(s)."""
        return {"rho_target": self.rho_target}

    def load_state_dict(self, state):
        """Restore the target cosine(s)."""
        target = state["rho_target"]
        self.rho_target = (
            [float(t) for t in target] if isinstance(target, list) else float(target)
        )


class CAGradAligner(Aligner):
    """CAGrad for two paths, solved exactly on the 1-simplex.

    With ``w = (t, 1 - t)`` the CAGrad objective
    ``w^T G b + c' sqrt(w^T G w)``, ``b = (1/2, 1/2)``,
    ``c' = c sqrt(mean(G))``, is convex in ``t``; its stationary point has a
    closed form and is clipped to ``[0, 1]``. The update is
    ``(g_mean + c' / |g_w| g_w) / (1 + c^2)`` (``rescale=1``), ``/(1 + c)``
    (``rescale=2``) or unscaled (``rescale=0``).

    Arguments
    ---------
    c : float
        Conflict-aversion radius (paper: 0.5).
    rescale : int
        0, 1 or 2, as in the CAGrad code.

    Example
    -------
    >>> a, b = CAGradAligner(c=0.0).coefficients(1.0, -0.5, 4.0)
    >>> round(a, 6), round(b, 6)
    (0.5, 0.5)
    """

    name = "cagrad"

    def __init__(self, c=0.5, rescale=1):
        super().__init__()
        if c < 0:
            raise ValueError(f"c must be >= 0, got {c}")
        if rescale not in (0, 1, 2):
            raise ValueError(f"rescale must be 0, 1 or 2, got {rescale}")
        self.c = c
        self.rescale = rescale
        self.last_t = 0.5

    def solve_t(self, g11, g12, g22):
        """Return the optimal weight ``t`` of the first gradient in ``g_w``."""
        c_prime = self.c * math.sqrt(max(0.0, (g11 + 2 * g12 + g22) / 4.0))
        # q(t) = |t g1 + (1-t) g2|^2 = A (t - t0)^2 + m ; linear part slope l1.
        curv = g11 - 2.0 * g12 + g22
        slope = 0.5 * (g11 - g22)
        if curv <= 1e-12 * max(g11, g22, 1e-300):
            return 0.5 if slope == 0 else (0.0 if slope > 0 else 1.0)
        t0 = (g22 - g12) / curv
        m = max(0.0, g22 - (g22 - g12) ** 2 / curv)
        candidates = [0.0, 1.0]
        if c_prime > 0:
            r = -slope / c_prime
            if r * r < curv:
                s = math.copysign(abs(r) * math.sqrt(m / (curv * (curv - r * r))), r)
                candidates.append(min(1.0, max(0.0, t0 + s)))

        def objective(t):
            """The CAGrad objective at ``w = (t, 1 - t)``."""
            q = curv * (t - t0) ** 2 + m
            lin = 0.5 * (t * (g11 + g12) + (1.0 - t) * (g12 + g22))
            return lin + c_prime * math.sqrt(max(0.0, q))

        return min(candidates, key=objective)

    def coefficients(self, g11, g12, g22):
        """Return the CAGrad coefficients."""
        t = self.solve_t(g11, g12, g22)
        self.last_t = t
        c_prime = self.c * math.sqrt(max(0.0, (g11 + 2 * g12 + g22) / 4.0))
        gw_sq = t * t * g11 + 2 * t * (1 - t) * g12 + (1 - t) ** 2 * g22
        gw_norm = math.sqrt(max(0.0, gw_sq))
        lam = c_prime / gw_norm if gw_norm > 0 else 0.0
        a = 0.5 + lam * t
        b = 0.5 + lam * (1.0 - t)
        scale = {0: 1.0, 1: 1.0 + self.c**2, 2: 1.0 + self.c}[self.rescale]
        return a / scale, b / scale


class MGDAAligner(Aligner):
    """The two-task MGDA min-norm point, in closed form.

    Example
    -------
    >>> MGDAAligner().coefficients(1.0, 0.0, 1.0)
    (0.5, 0.5)
    >>> MGDAAligner().coefficients(1.0, 1.0, 4.0)
    (1.0, 0.0)
    """

    name = "mgda"

    def coefficients(self, g11, g12, g22):
        """Return ``(t, 1 - t)`` minimising ``|t g1 + (1 - t) g2|``."""
        curv = g11 - 2.0 * g12 + g22
        if curv <= 0.0:
            return 0.5, 0.5
        t = min(1.0, max(0.0, (g22 - g12) / curv))
        return t, 1.0 - t


ALIGNERS = {
    cls.name: cls
    for cls in (
        MeanAligner,
        SumAligner,
        PCGradAligner,
        GradVacAligner,
        CAGradAligner,
        MGDAAligner,
    )
}


def get_aligner(name, **kwargs):
    """Build an aligner from its registry name.

    Arguments
    ---------
    name : str
        One of ``none``, ``sum``, ``pcgrad``, ``gradvac``, ``cagrad``, ``mgda``.
    **kwargs
        Passed to the aligner's constructor (e.g. ``beta`` for GradVac).

    Returns
    -------
    Aligner

    Example
    -------
    >>> get_aligner("pcgrad").name
    'pcgrad'
    >>> get_aligner("gradvac", beta=0.1).beta
    0.1
    """
    key = "none" if name is None else str(name).lower()
    if key not in ALIGNERS:
        raise ValueError(f"Unknown aligner {name!r}; choose one of {sorted(ALIGNERS)}")
    return ALIGNERS[key](**kwargs)
