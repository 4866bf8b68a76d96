"""Gradient aligners for two or more paths, behind one interface.

Data-augmented training with several paths (clean, RawBoost, codec, ...)
produces one gradient per path and step, ``g_1 ... g_K``. Every aligner here
returns a combination ``sum_k w_k g_k`` whose scalar weights depend only on
the K x K Gram matrix ``G_ij = g_i . g_j`` (and on the aligner's state). The
Gram matrix is computed parameter by parameter (no flattened copy of the
model gradient) and the combination is written in place into the first
path's gradient tensors, so the memory cost is the other paths' gradient
buffers only.

``get_aligner(name, **kw).combine(grads_1, grads_2, *more_grads)`` is the one
call. With two paths it is the dual-path formulas of the DPDA paper, in closed
form (:meth:`Aligner.coefficients`); with more, :meth:`Aligner.weights` maps
the K x K Gram matrix to the K weights.

Methods (names as in the papers):

* ``none``: mean of the gradients (plain training on the K x B batch);
* ``sum``: sum of the gradients;
* ``pcgrad``: PCGrad (Yu et al. 2020), each gradient projected in turn on the
  normal plane of every other gradient it conflicts with, in a random order
  drawn from a checkpointed generator, then averaged;
* ``gradvac``: Gradient Vaccine (Wang et al. 2021), an EMA target cosine per
  ordered pair of paths;
* ``cagrad``: Conflict-Averse Gradient descent (Liu et al. 2021), the
  K-simplex problem solved exactly (closed form on each face);
* ``mgda``: the K-task min-norm point of MGDA (Sener & Koltun 2018), exact
  (closed form on each face);
* ``upgrad``: UPGrad (Quinton & Rey 2024), ``dualproj`` (DualProj, same
  authors), ``imtlg`` (IMTL-G, Liu et al. 2021) and ``alignedmtl``
  (Aligned-MTL, Senushkin et al. 2023): the weightings of the torchjd
  library, applied to the Gram matrix.

This module imports neither SpeechBrain nor the rest of ``dpda``.

Authors
 * dpda contributors 2026
"""

import itertools
import math

import torch


def path_gram(grad_lists, per_parameter=False):
    """Compute the K x K Gram matrix of K gradient lists, in float64.

    Each parameter's K gradients are copied, one parameter at a time, into a
    float64 workspace, where their pairwise dot products give that
    parameter's K x K entries. The product of two float32 (or bfloat16, float16) numbers is
    exact in float64, so the only rounding is the float64 summation: each
    entry is within ``n * 2**-53 * sum_i |a_i b_i|`` of the exact dot
    product of the gradients as stored, whatever the CPU's or GPU's
    summation order. Accumulating in the gradients' own dtype instead gives
    entries that differ by ``~n * 2**-24`` relative between BLAS kernels
    (AVX-512 against AVX2), which a singular face of the simplex (CAGrad,
    MGDA on collinear paths) amplifies into weights that differ in the
    sixth digit. The transient memory is K float64 copies of the largest
    parameter; ``benchmarks/gram.py`` measures the time against float32 dot
    products.

    Arguments
    ---------
    grad_lists : sequence of list of torch.Tensor or None
        One gradient list per path, one entry per parameter (``None`` = zero).
    per_parameter : bool
        Return one Gram matrix per parameter instead of the whole model's.

    Returns
    -------
    torch.Tensor
        ``[K, K]`` float64 on the CPU (``[n_parameters, K, K]`` if
        ``per_parameter``).

    Example
    -------
    >>> g1 = [torch.tensor([1.0, 0.0]), torch.tensor([2.0])]
    >>> g2 = [torch.tensor([1.0, 1.0]), None]
    >>> g3 = [torch.tensor([0.0, -1.0]), torch.tensor([1.0])]
    >>> path_gram([g1, g2, g3]).tolist()
    [[5.0, 1.0, 2.0], [1.0, 2.0, -1.0], [2.0, -1.0, 2.0]]
    """
    k_paths = len(grad_lists)
    n = len(grad_lists[0]) if k_paths else 0
    for k, grads in enumerate(grad_lists):
        if len(grads) != n:
            raise ValueError(
                f"Gradient lists differ in length: path 0 has {n}, path {k} "
                f"has {len(grads)}"
            )
    device = next(
        (g.device for grads in grad_lists for g in grads if g is not None),
        torch.device("cpu"),
    )
    sizes = [
        max(
            (grads[m].numel() for grads in grad_lists if grads[m] is not None),
            default=0,
        )
        for m in range(n)
    ]
    # One float64 workspace for the whole call, reused parameter after
    # parameter: a fresh buffer per parameter costs more in page faults than
    # the dot products themselves.
    work = torch.empty(
        k_paths, max(sizes, default=0), dtype=torch.float64, device=device
    )
    rows, dots = [], []
    for m, size in enumerate(sizes):
        present = [k for k in range(k_paths) if grad_lists[k][m] is not None]
        for k in present:
            work[k, :size].copy_(grad_lists[k][m].reshape(-1))
        for a, i in enumerate(present):
            for j in present[a:]:
                rows.append((m, i, j))
                dots.append(torch.dot(work[i, :size], work[j, :size]))
    blocks = torch.zeros(n, k_paths, k_paths, dtype=torch.float64)
    if dots:
        values = torch.stack(dots).cpu()  # one host synchronisation
        index = torch.tensor(rows)
        blocks[index[:, 0], index[:, 1], index[:, 2]] = values
        blocks[index[:, 0], index[:, 2], index[:, 1]] = values
    return blocks if per_parameter else blocks.sum(dim=0)


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
    gram = path_gram([grads_1, grads_2], per_parameter=True)
    entries = torch.stack([gram[:, 0, 0], gram[:, 0, 1], gram[:, 1, 1]], dim=1)
    if per_parameter:
        return [tuple(row) for row in entries.tolist()]
    g11, g12, g22 = entries.sum(dim=0).tolist()
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
    return combine_weighted([grads_1, grads_2], [a, b])


def combine_weighted(grad_lists, weights):
    """Return ``sum_k w_k g_k``, written in place into the first list's tensors.

    Arguments
    ---------
    grad_lists : sequence of list of torch.Tensor or None
        One gradient list per path; the first one's tensors are overwritten
        with the result, the others are left unchanged.
    weights : sequence of float
        One weight per path.

    Returns
    -------
    list of torch.Tensor or None
        The combined gradients (``None`` where every path is ``None``).

    Example
    -------
    >>> g = [[torch.ones(2), None], [torch.ones(2), None], [None, torch.ones(1)]]
    >>> [t.tolist() for t in combine_weighted(g, [0.5, 2.0, 3.0])]
    [[2.5, 2.5], [3.0]]
    """
    first, others = grad_lists[0], grad_lists[1:]
    weights = [float(w) for w in weights]
    present = [g for g in first if g is not None]
    if present:
        torch._foreach_mul_(present, weights[0])
    for grads, w in zip(others, weights[1:]):
        pairs = [
            (g1, g) for g1, g in zip(first, grads) if g1 is not None and g is not None
        ]
        if pairs:
            torch._foreach_add_([p[0] for p in pairs], [p[1] for p in pairs], alpha=w)
    out = []
    for m, g1 in enumerate(first):
        if g1 is None:
            for grads, w in zip(others, weights[1:]):
                g = grads[m]
                if g is not None:
                    g1 = g * w if g1 is None else g1.add_(g, alpha=w)
        out.append(g1)
    return out


def _random_order(others, generator):
    """``others`` in a random order drawn from ``generator``."""
    return [
        others[p] for p in torch.randperm(len(others), generator=generator).tolist()
    ]


class Aligner:
    """Base class of the aligners.

    A subclass implements :meth:`weights`, mapping the K x K Gram matrix to
    the K weights of the update ``sum_k w_k g_k``, and may give the two-path
    case in closed form in :meth:`coefficients`. The statistics of the last
    call are kept in ``last_stats``: the Gram matrix (``gram``) and the
    weights (``weights``) always, and with two paths also ``cosine``,
    ``dot``, ``norm_clean``, ``norm_aug``, ``conflict``, ``coef_clean`` and
    ``coef_aug``.

    Example
    -------
    >>> aligner = MeanAligner()
    >>> out = aligner.combine([torch.tensor([1.0, 0.0])], [torch.tensor([-1.0, 2.0])])
    >>> out[0].tolist(), aligner.last_stats["conflict"]
    ([0.0, 1.0], True)
    >>> out = aligner.combine([torch.ones(2)], [torch.ones(2)], [torch.zeros(2)])
    >>> [round(v, 4) for v in out[0].tolist()], aligner.last_stats["weights"]
    ([0.6667, 0.6667], [0.3333333333333333, 0.3333333333333333, 0.3333333333333333])
    """

    name = "base"

    def __init__(self):
        self.last_stats = {}

    def coefficients(self, g11, g12, g22):
        """Return ``(a, b)`` for two paths from the Gram matrix entries.

        By default the two-path weights of :meth:`weights`.
        """
        gram = torch.tensor([[g11, g12], [g12, g22]], dtype=torch.float64)
        a, b = self.weights(gram).tolist()
        return a, b

    def weights(self, gram):
        """Return the K weights (float64 tensor) for the K x K Gram matrix (override)."""
        raise NotImplementedError

    def combine(self, grads_1, grads_2, *more_grads):
        """Combine the paths' gradients into one update direction.

        Arguments
        ---------
        grads_1 : list of torch.Tensor or None
            First (clean) path's gradient per parameter; overwritten with
            the result.
        grads_2 : list of torch.Tensor or None
            Second path's gradient per parameter.
        *more_grads : list of torch.Tensor or None
            Further paths' gradients.

        Returns
        -------
        list of torch.Tensor or None
            The combined gradient per parameter.
        """
        if not more_grads:
            gram = path_gram([grads_1, grads_2])
            g11, g12, g22 = (float(gram[0, 0]), float(gram[0, 1]), float(gram[1, 1]))
            a, b = self.coefficients(g11, g12, g22)
            self.record_stats(g11, g12, g22, a, b)
            return combine_gradients(grads_1, grads_2, a, b)
        paths = [grads_1, grads_2, *more_grads]
        gram = path_gram(paths)
        weights = self.weights(gram)
        self.record_path_stats(gram, weights)
        return combine_weighted(paths, weights.tolist())

    def record_stats(self, g11, g12, g22, a, b):
        """Keep the statistics of a two-path call in ``last_stats``."""
        denom = math.sqrt(g11 * g22)
        self.last_stats = {
            "cosine": g12 / denom if denom > 0 else 0.0,
            "dot": g12,
            "norm_clean": math.sqrt(g11),
            "norm_aug": math.sqrt(g22),
            "conflict": g12 < 0,
            "coef_clean": a,
            "coef_aug": b,
            "gram": [[g11, g12], [g12, g22]],
            "weights": [a, b],
        }

    def record_path_stats(self, gram, weights):
        """Keep the Gram matrix and weights of a K-path call in ``last_stats``."""
        self.last_stats = {"gram": gram.tolist(), "weights": weights.tolist()}

    def state_dict(self):
        """Aligner state to checkpoint (empty for stateless methods)."""
        return {}

    def load_state_dict(self, state):
        """Restore the state returned by :meth:`state_dict`."""


class _RandomOrderMixin:
    """A checkpointed generator for the random orders of PCGrad and GradVac."""

    def _init_generator(self, seed):
        # Default: the seed of the global generator, read without drawing
        # from it (a draw would shift every later random number).
        self.seed = torch.initial_seed() if seed is None else int(seed)
        self.generator = torch.Generator().manual_seed(self.seed)

    def _generator_state(self):
        return {"generator": self.generator.get_state().tolist()}

    def _load_generator_state(self, state):
        if "generator" in state:  # checkpoints from before K paths have none
            self.generator.set_state(
                torch.tensor(state["generator"], dtype=torch.uint8)
            )


class MeanAligner(Aligner):
    """No alignment: the mean of the gradients.

    Example
    -------
    >>> MeanAligner().coefficients(1.0, -1.0, 1.0)
    (0.5, 0.5)
    >>> MeanAligner().weights(torch.eye(4)).tolist()
    [0.25, 0.25, 0.25, 0.25]
    """

    name = "none"

    def coefficients(self, g11, g12, g22):
        """Return ``(0.5, 0.5)``."""
        return 0.5, 0.5

    def weights(self, gram):
        """Return ``1 / K`` for every path."""
        k_paths = gram.shape[0]
        return torch.full((k_paths,), 1.0 / k_paths, dtype=torch.float64)


class SumAligner(Aligner):
    """No alignment: the sum of the gradients.

    Example
    -------
    >>> SumAligner().coefficients(1.0, -1.0, 1.0)
    (1.0, 1.0)
    >>> SumAligner().weights(torch.eye(3)).tolist()
    [1.0, 1.0, 1.0]
    """

    name = "sum"

    def coefficients(self, g11, g12, g22):
        """Return ``(1.0, 1.0)``."""
        return 1.0, 1.0

    def weights(self, gram):
        """Return 1 for every path."""
        return torch.ones(gram.shape[0], dtype=torch.float64)


class PCGradAligner(_RandomOrderMixin, Aligner):
    """PCGrad, averaged as in the DPDA paper.

    Two paths: when ``g1 . g2 < 0`` each gradient is projected on the normal
    plane of the *original* other one, ``g1' = g1 - (g1.g2 / |g2|^2) g2`` and
    ``g2' = g2 - (g1.g2 / |g1|^2) g1``; the update is ``(g1' + g2') / 2``.

    K paths (Algorithm 1 of Yu et al.): for each ``i``, ``g_i'`` starts at
    ``g_i`` and, for each ``j != i`` in a random order, loses its component
    along the original ``g_j`` when ``g_i' . g_j < 0``; the update is the mean
    of the ``g_i'``. The orders are drawn from a generator seeded with
    ``seed`` (default: the seed of torch's global generator) and saved in the
    checkpoints; the last ones are in ``last_orders``. With two paths there is
    one order and nothing is drawn.

    Arguments
    ---------
    seed : int, optional
        Seed of the order generator.

    Example
    -------
    >>> PCGradAligner().coefficients(1.0, -0.5, 4.0)
    (0.75, 0.5625)
    >>> PCGradAligner().coefficients(1.0, 0.5, 4.0)
    (0.5, 0.5)
    >>> gram = torch.tensor([[1.0, -0.5, 0.0], [-0.5, 4.0, 0.0], [0.0, 0.0, 1.0]])
    >>> PCGradAligner(seed=0).weights(gram.double()).tolist()
    [0.5, 0.375, 0.3333333333333333]
    """

    name = "pcgrad"

    def __init__(self, seed=None):
        super().__init__()
        self._init_generator(seed)
        self.last_orders = []

    def coefficients(self, g11, g12, g22):
        """Return the two-path PCGrad coefficients."""
        if g12 >= 0:
            return 0.5, 0.5
        # A conflict implies both norms are non-zero.
        return 0.5 * (1.0 - g12 / g11), 0.5 * (1.0 - g12 / g22)

    def weights(self, gram):
        """Return the K-path PCGrad weights (draws one order per path)."""
        k_paths = gram.shape[0]
        rows = torch.eye(k_paths, dtype=torch.float64)
        self.last_orders = []
        for i in range(k_paths):
            order = _random_order([j for j in range(k_paths) if j != i], self.generator)
            self.last_orders.append(order)
            for j in order:
                dot = float(rows[i] @ gram[:, j])
                if dot < 0.0 and gram[j, j] > 0.0:
                    rows[i, j] -= dot / float(gram[j, j])
        return rows.mean(dim=0)

    def state_dict(self):
        """Return the order generator's state."""
        return self._generator_state()

    def load_state_dict(self, state):
        """Restore the order generator's state."""
        self._load_generator_state(state)


class GradVacAligner(_RandomOrderMixin, Aligner):
    """Gradient Vaccine with EMA target cosines.

    Two paths: when ``rho = cos(g1, g2)`` is below the target ``rho_T``, each
    gradient receives ``w`` times the other one so that their cosine reaches
    the target; the update is the mean of the adjusted gradients. The target
    is updated as ``rho_T = (1 - beta) rho_T + beta rho``.

    K paths (Wang et al., as in LibMTL): for each ``i``, ``g_i'`` starts at
    ``g_i`` and, for each ``j != i`` in a random order, receives ``w g_j``
    when ``cos(g_i', g_j)`` is below the target of the ordered pair
    ``(i, j)``, which then moves towards that cosine; the update is the mean
    of the ``g_i'``. With two paths this is the two-path rule (one order,
    the same cosine for both pairs, one target).

    Arguments
    ---------
    beta : float
        EMA rate of the target cosine (paper: 0.5).
    ema_update : str
        ``"positive"``: update a target only when its cosine is ``> 0`` (the
        DPDA authors' code); ``"always"``: every step (LibMTL).
    rho_init : float
        Initial target cosine.
    blocks : str
        ``"whole"``: the whole model is one block (the DPDA authors' code);
        ``"parameter"``: every parameter tensor is a block with its own
        cosine(s) and target(s) (GradVac's layer-wise variant).
    seed : int, optional
        Seed of the order generator (K > 2 paths), as for PCGrad.

    Example
    -------
    >>> gv = GradVacAligner(beta=0.5)
    >>> a, b = gv.coefficients(1.0, -0.5, 1.0)
    >>> round(a, 6), round(b, 6), gv.rho_target
    (0.75, 0.75, 0.0)
    """

    name = "gradvac"

    def __init__(
        self, beta=0.5, ema_update="positive", rho_init=0.0, blocks="whole", seed=None
    ):
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
        self._init_generator(seed)
        # Two paths: one target (per block); K paths: a K x K matrix of
        # targets per ordered pair (per block).
        self.rho_target = self.rho_init if blocks == "whole" else []

    def _moves(self, rho, rho_t):
        """Whether the target moves given the cosine of this step."""
        return self.ema_update == "always" or rho > 0

    def _block(self, g11, g12, g22, rho_t):
        """Two-path coefficients of one block and its new target cosine."""
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
        if self._moves(rho, rho_t):
            rho_t = (1.0 - self.beta) * rho_t + self.beta * rho
        return 0.5 * a, 0.5 * b, rho_t

    def _block_k(self, gram, targets):
        """K-path weights of one block; ``targets`` (K x K lists) updated in place."""
        k_paths = gram.shape[0]
        rows = torch.eye(k_paths, dtype=torch.float64)
        for i in range(k_paths):
            for j in _random_order(
                [j for j in range(k_paths) if j != i], self.generator
            ):
                n_i = math.sqrt(max(0.0, float(rows[i] @ gram @ rows[i])))
                n_j = math.sqrt(max(0.0, float(gram[j, j])))
                if n_i == 0.0 or n_j == 0.0:
                    continue
                rho = max(-1.0, min(1.0, float(rows[i] @ gram[:, j]) / (n_i * n_j)))
                rho_t = targets[i][j]
                if rho < rho_t:
                    sin_t = math.sqrt(max(0.0, 1.0 - rho_t * rho_t))
                    sin_rho = math.sqrt(max(0.0, 1.0 - rho * rho))
                    if sin_t > 0.0:
                        rows[i, j] += (
                            n_i * (rho_t * sin_rho - rho * sin_t) / (n_j * sin_t)
                        )
                if self._moves(rho, rho_t):
                    targets[i][j] = (1.0 - self.beta) * rho_t + self.beta * rho
        return rows.mean(dim=0)

    def _target_matrix(self, target, k_paths):
        """A K x K target matrix (from the initial scalar target on first use)."""
        if isinstance(target, list) and len(target) == k_paths:
            return target
        if isinstance(target, list):
            raise ValueError(
                f"GradVac has targets for {len(target)} paths, got {k_paths} paths"
            )
        return [[float(target)] * k_paths for _ in range(k_paths)]

    def coefficients(self, g11, g12, g22):
        """Return the whole-model two-path coefficients and update the target."""
        a, b, self.rho_target = self._block(g11, g12, g22, self.rho_target)
        return a, b

    def weights(self, gram):
        """Return the whole-model K-path weights and update the targets."""
        self.rho_target = self._target_matrix(self.rho_target, gram.shape[0])
        return self._block_k(gram, self.rho_target)

    def combine(self, grads_1, grads_2, *more_grads):
        """Combine the gradients, block by block in ``parameter`` mode."""
        if self.blocks == "whole":
            return super().combine(grads_1, grads_2, *more_grads)
        paths = [grads_1, grads_2, *more_grads]
        if not self.rho_target:
            self.rho_target = [self.rho_init] * len(grads_1)
        if len(self.rho_target) != len(grads_1):
            raise ValueError(
                f"GradVac has targets for {len(self.rho_target)} parameters, "
                f"got {len(grads_1)} gradients"
            )
        grams = path_gram(paths, per_parameter=True)
        out = []
        for m in range(len(grads_1)):
            if len(paths) == 2:
                a, b, self.rho_target[m] = self._block(
                    float(grams[m, 0, 0]),
                    float(grams[m, 0, 1]),
                    float(grams[m, 1, 1]),
                    self.rho_target[m],
                )
                weights = [a, b]
            else:
                self.rho_target[m] = self._target_matrix(self.rho_target[m], len(paths))
                weights = self._block_k(grams[m], self.rho_target[m]).tolist()
            out.extend(combine_weighted([[g[m]] for g in paths], weights))
        # Whole-model statistics; the weights differ per block.
        gram = grams.sum(dim=0)
        nan = torch.full((len(paths),), float("nan"), dtype=torch.float64)
        if len(paths) == 2:
            g11, g12, g22 = float(gram[0, 0]), float(gram[0, 1]), float(gram[1, 1])
            self.record_stats(g11, g12, g22, float("nan"), float("nan"))
        else:
            self.record_path_stats(gram, nan)
        return out

    def state_dict(self):
        """Return the target cosine(s) and the order generator's state."""
        return {"rho_target": self.rho_target, **self._generator_state()}

    def load_state_dict(self, state):
        """Restore the target cosine(s) and the order generator's state."""
        self.rho_target = _floats(state["rho_target"])
        self._load_generator_state(state)


def _floats(value):
    """Nested lists of numbers as nested lists of floats (a number as a float)."""
    if isinstance(value, list):
        return [_floats(v) for v in value]
    return float(value)


def _faces(k_paths):
    """Every non-empty subset of ``range(k_paths)``, smallest first."""
    for size in range(1, k_paths + 1):
        yield from itertools.combinations(range(k_paths), size)


def min_norm_weights(gram):
    """The exact min-norm point of the simplex: ``argmin_w w^T G w``.

    Each face of the simplex whose gradients are affinely independent has its
    restricted minimum in closed form (the bordered system
    ``[[G_S, 1], [1^T, 0]] [w; mu] = [0; 1]``); the min-norm point lies on
    such a face (Caratheodory), so the best feasible face is exact.

    Arguments
    ---------
    gram : torch.Tensor
        ``[K, K]`` Gram matrix (float64).

    Returns
    -------
    torch.Tensor
        ``[K]`` weights on the simplex.

    Example
    -------
    >>> gram = torch.tensor([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
    >>> [round(w, 6) for w in min_norm_weights(gram.double()).tolist()]
    [0.333333, 0.333333, 0.333333]
    """
    gram = gram.double()
    k_paths = gram.shape[0]
    # The weights do not depend on the gradients' scale (e.g. a GradScaler's
    # 2**16); the rank test below does: work at unit scale.
    scale = float(gram.diagonal().max()) if k_paths else 0.0
    if scale > 0.0:
        gram = gram / scale
    best, best_value = None, math.inf
    for face in _faces(k_paths):
        idx = list(face)
        if len(idx) == 1:
            w_face = torch.ones(1, dtype=torch.float64)
        else:
            n = len(idx)
            system = torch.zeros(n + 1, n + 1, dtype=torch.float64)
            system[:n, :n] = gram[idx][:, idx]
            system[:n, n] = 1.0
            system[n, :n] = 1.0
            rhs = torch.zeros(n + 1, dtype=torch.float64)
            rhs[n] = 1.0
            # Affinely independent gradients make the system well posed.
            if torch.linalg.matrix_rank(system, rtol=1e-12).item() < n + 1:
                continue
            w_face = torch.linalg.solve(system, rhs)[:n]
            if float(w_face.min()) < -1e-12:
                continue
            w_face = w_face.clamp_min(0.0)
            w_face = w_face / w_face.sum()
        w = torch.zeros(k_paths, dtype=torch.float64)
        w[idx] = w_face
        value = float(w @ gram @ w)
        if value < best_value - 1e-15:
            best, best_value = w, value
    return best


def cagrad_weights(gram, c):
    """The CAGrad direction's weights, the K-simplex problem solved exactly.

    CAGrad's dual is ``min_w F(w) = w^T G b + c' sqrt(w^T G w)`` on the
    simplex, ``b = 1/K``, ``c' = c sqrt(b^T G b)``. On a face ``S`` whose
    Gram matrix ``G_S`` is invertible the stationary point has a closed form:
    ``G_S w = (r / c') (lam 1 - u_S)``, ``u = G b``, ``r = |g_w|``, where
    ``lam`` solves a quadratic. The convex problem's minimum is the best
    feasible face point; the min-norm point (where ``g_w`` may vanish on
    linearly dependent gradients) is a candidate too.

    Arguments
    ---------
    gram : torch.Tensor
        ``[K, K]`` Gram matrix (float64).
    c : float
        Conflict-aversion radius.

    Returns
    -------
    (w, c_prime) : (torch.Tensor, float)
        The optimal ``w`` on the simplex and ``c'``.

    Example
    -------
    >>> gram = torch.tensor([[1.0, -0.5], [-0.5, 4.0]]).double()
    >>> w, c_prime = cagrad_weights(gram, 0.5)
    >>> [round(v, 6) for v in w.tolist()], round(c_prime, 6)
    ([1.0, 0.0], 0.5)
    """
    gram = gram.double()
    k_paths = gram.shape[0]
    # Solved at unit scale (w does not depend on it); c' in the input's units.
    scale = float(gram.diagonal().max()) if k_paths else 0.0
    if scale > 0.0:
        gram = gram / scale
    b = torch.full((k_paths,), 1.0 / k_paths, dtype=torch.float64)
    u = gram @ b
    c_prime = c * math.sqrt(max(0.0, float(b @ u)))

    def objective(w):
        """``F(w)``."""
        return float(w @ u) + c_prime * math.sqrt(max(0.0, float(w @ gram @ w)))

    candidates = [min_norm_weights(gram)]
    for face in _faces(k_paths):
        idx = list(face)
        w = torch.zeros(k_paths, dtype=torch.float64)
        if len(idx) == 1:
            w[idx] = 1.0
            candidates.append(w)
            continue
        if c_prime <= 0.0:
            continue  # a linear objective: its minimum is at a vertex
        g_face = gram[idx][:, idx]
        eig = torch.linalg.eigvalsh(g_face)
        if float(eig.min()) <= 1e-12 * max(float(eig.max()), 1e-300):
            continue
        solved = torch.linalg.solve(
            g_face, torch.stack([torch.ones(len(idx)).double(), u[idx]], 1)
        )
        inv_one, inv_u = solved[:, 0], solved[:, 1]
        a_ = float(inv_one.sum())
        b_ = float(inv_u.sum())
        c_ = float(u[idx] @ inv_u)
        disc = b_ * b_ - a_ * (c_ - c_prime * c_prime)
        if disc <= 0.0:
            continue
        root = math.sqrt(disc)
        lam = (b_ + root) / a_
        w_face = (lam * inv_one - inv_u) / root
        if float(w_face.min()) < -1e-12:
            continue
        w_face = w_face.clamp_min(0.0)
        w[idx] = w_face / w_face.sum()
        candidates.append(w)
    return min(candidates, key=objective), c_prime * math.sqrt(max(scale, 0.0))


class CAGradAligner(Aligner):
    """CAGrad, solved exactly on the simplex.

    With ``w`` on the simplex, the CAGrad objective
    ``w^T G b + c' sqrt(w^T G w)``, ``b = 1/K``, ``c' = c sqrt(b^T G b)``, is
    convex. Two paths: its stationary point has a closed form in ``t``,
    clipped to ``[0, 1]``; K paths: :func:`cagrad_weights`. The update is
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

    def _scale(self):
        return {0: 1.0, 1: 1.0 + self.c**2, 2: 1.0 + self.c}[self.rescale]

    def solve_t(self, g11, g12, g22):
        """Return the optimal weight ``t`` of the first gradient in ``g_w`` (two paths)."""
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
        """Return the two-path CAGrad coefficients."""
        t = self.solve_t(g11, g12, g22)
        self.last_t = t
        c_prime = self.c * math.sqrt(max(0.0, (g11 + 2 * g12 + g22) / 4.0))
        gw_sq = t * t * g11 + 2 * t * (1 - t) * g12 + (1 - t) ** 2 * g22
        gw_norm = math.sqrt(max(0.0, gw_sq))
        lam = c_prime / gw_norm if gw_norm > 0 else 0.0
        a = 0.5 + lam * t
        b = 0.5 + lam * (1.0 - t)
        scale = self._scale()
        return a / scale, b / scale

    def weights(self, gram):
        """Return the K-path CAGrad weights."""
        w, c_prime = cagrad_weights(gram, self.c)
        gram = gram.double()
        gw_norm = math.sqrt(max(0.0, float(w @ gram @ w)))
        # g_w = 0 (the gradients' hull holds the origin): no direction to add,
        # and |g_w| from the Gram matrix is rounding noise.
        floor = 1e-9 * math.sqrt(max(0.0, float(gram.diagonal().max())))
        lam = c_prime / gw_norm if gw_norm > floor else 0.0
        k_paths = gram.shape[0]
        return (1.0 / k_paths + lam * w) / self._scale()


class MGDAAligner(Aligner):
    """The MGDA min-norm point of the simplex, exact.

    Two paths: in closed form; K paths: :func:`min_norm_weights`.

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

    def weights(self, gram):
        """Return the K-path min-norm weights."""
        return min_norm_weights(gram)


class TorchJDAligner(Aligner):
    """An aligner whose weights are a torchjd Gramian weighting's.

    torchjd (Quinton & Rey) implements the newer methods from the Gram
    matrix; they are used as they are, in float64, for two paths and for K.

    Arguments
    ---------
    **kwargs
        Passed to the torchjd weighting (e.g. ``pref_vector``).
    """

    weighting = None  # the torchjd class name (set by subclasses)

    def __init__(self, **kwargs):
        super().__init__()
        import torchjd.aggregation

        self.weighting_fn = getattr(torchjd.aggregation, self.weighting)(**kwargs)

    def weights(self, gram):
        """Return the torchjd weighting of the Gram matrix."""
        return self.weighting_fn(gram.double()).detach().cpu().double()


class UPGradAligner(TorchJDAligner):
    """UPGrad (Quinton & Rey 2024): each gradient projected onto the dual cone
    of all of them, averaged; no path's loss increases to first order.

    Example
    -------
    >>> w = UPGradAligner().weights(torch.tensor([[1.0, -0.5], [-0.5, 1.0]]).double())
    >>> [round(v, 4) for v in w.tolist()]
    [0.75, 0.75]
    """

    name = "upgrad"
    weighting = "UPGradWeighting"


class DualProjAligner(TorchJDAligner):
    """DualProj (Quinton & Rey 2024): the mean gradient projected onto the dual
    cone of the gradients.

    Example
    -------
    >>> w = DualProjAligner().weights(torch.tensor([[1.0, -0.5], [-0.5, 1.0]]).double())
    >>> [round(v, 4) for v in w.tolist()]
    [0.5, 0.5]
    """

    name = "dualproj"
    weighting = "DualProjWeighting"


class IMTLGAligner(TorchJDAligner):
    """IMTL-G (Liu et al. 2021): the update has equal projections on every
    path's unit gradient.

    Example
    -------
    >>> w = IMTLGAligner().weights(torch.tensor([[1.0, 0.0], [0.0, 4.0]]).double())
    >>> [round(v, 4) for v in w.tolist()]
    [0.6667, 0.3333]
    """

    name = "imtlg"
    weighting = "IMTLGWeighting"


class AlignedMTLAligner(TorchJDAligner):
    """Aligned-MTL (Senushkin et al. 2023): the gradients' principal
    components rescaled to the smallest, the condition number made 1.

    Example
    -------
    >>> w = AlignedMTLAligner().weights(torch.tensor([[1.0, 0.0], [0.0, 4.0]]).double())
    >>> [round(v, 4) for v in w.tolist()]
    [0.5, 0.25]
    """

    name = "alignedmtl"
    weighting = "AlignedMTLWeighting"


ALIGNERS = {
    cls.name: cls
    for cls in (
        MeanAligner,
        SumAligner,
        PCGradAligner,
        GradVacAligner,
        CAGradAligner,
        MGDAAligner,
        UPGradAligner,
        DualProjAligner,
        IMTLGAligner,
        AlignedMTLAligner,
    )
}


def get_aligner(name, **kwargs):
    """Build an aligner from its registry name.

    Arguments
    ---------
    name : str
        One of ``none``, ``sum``, ``pcgrad``, ``gradvac``, ``cagrad``,
        ``mgda``, ``upgrad``, ``dualproj``, ``imtlg``, ``alignedmtl``.
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
