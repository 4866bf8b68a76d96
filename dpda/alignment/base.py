"""What every aligner shares: the Gram matrix, the weighted sum, the interface.

An aligner maps the K x K Gram matrix ``G_ij = g_i . g_j`` of the paths'
gradients to K weights; :meth:`Aligner.combine` computes the Gram matrix
(:func:`path_gram`), asks the method for its weights and writes
``sum_k w_k g_k`` in place into the first path's tensors
(:func:`combine_weighted`). Two paths are the case K = 2.

Authors
 * dpda contributors 2026
"""

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


class Aligner:
    """Base class of the aligners: one :meth:`weights` per method.

    A method implements :meth:`weights`, mapping the K x K Gram matrix to the
    K weights of the update ``sum_k w_k g_k``. :meth:`combine` does the rest
    for every method: the Gram matrix of the whole model (``blocks =
    "whole"``) or of each parameter tensor (``blocks = "parameter"``, each
    block with its own weights and, for stateful methods, its own state), and
    the weighted sum. ``last_stats`` keeps the last call's Gram matrix
    (``gram``, the whole model's) and weights (``weights``; NaN per path when
    they differ per block); :mod:`dpda.alignment.stats` turns them into the
    logged statistics.

    Example
    -------
    >>> from dpda.alignment import MeanAligner
    >>> aligner = MeanAligner()
    >>> out = aligner.combine([torch.tensor([1.0, 0.0])], [torch.tensor([-1.0, 2.0])])
    >>> out[0].tolist(), aligner.last_stats["gram"]
    ([0.0, 1.0], [[1.0, -1.0], [-1.0, 5.0]])
    >>> out = aligner.combine([torch.ones(2)], [torch.ones(2)], [torch.zeros(2)])
    >>> [round(v, 4) for v in out[0].tolist()], aligner.last_stats["weights"]
    ([0.6667, 0.6667], [0.3333333333333333, 0.3333333333333333, 0.3333333333333333])
    """

    name = "base"
    blocks = "whole"

    def __init__(self):
        self.last_stats = {}

    def weights(self, gram, block=0):
        """Return the K weights (float64 tensor) for the K x K Gram matrix.

        Arguments
        ---------
        gram : torch.Tensor
            ``[K, K]`` float64 Gram matrix of the paths' gradients.
        block : int
            The parameter block (``blocks = "parameter"``), for methods with
            a state per block.

        Returns
        -------
        torch.Tensor
            ``[K]`` float64 weights.
        """
        raise NotImplementedError

    def begin_blocks(self, n_blocks):
        """Called before the per-block weights of one step (stateful methods)."""

    def combine(self, *grad_lists):
        """Combine two or more paths' gradients into one update direction.

        Arguments
        ---------
        *grad_lists : list of torch.Tensor or None
            One gradient list per path (the clean path first), one entry per
            parameter (``None`` = zero); the first list is overwritten with
            the result.

        Returns
        -------
        list of torch.Tensor or None
            The combined gradient per parameter.
        """
        if len(grad_lists) < 2:
            raise ValueError(f"combine needs two paths or more, got {len(grad_lists)}")
        if self.blocks == "whole":
            gram = path_gram(grad_lists)
            weights = self.weights(gram)
            self.last_stats = {"gram": gram.tolist(), "weights": weights.tolist()}
            return combine_weighted(grad_lists, weights.tolist())
        grams = path_gram(grad_lists, per_parameter=True)
        self.begin_blocks(len(grams))
        out = []
        for m, gram in enumerate(grams):
            weights = self.weights(gram, block=m).tolist()
            out.extend(combine_weighted([[g[m]] for g in grad_lists], weights))
        self.last_stats = {
            "gram": grams.sum(dim=0).tolist(),
            "weights": [float("nan")] * len(grad_lists),
        }
        return out

    def state_dict(self):
        """Aligner state to checkpoint (empty for stateless methods)."""
        return {}

    def load_state_dict(self, state):
        """Restore the state returned by :meth:`state_dict`."""


class RandomOrders:
    """A checkpointed generator for the random orders of PCGrad and GradVac.

    Arguments
    ---------
    seed : int, optional
        Seed of the generator; default: the seed of torch's global generator,
        read without drawing from it (a draw would shift every later random
        number).

    Example
    -------
    >>> orders = RandomOrders(seed=0)
    >>> orders.others(0, 2), len(orders.others(1, 4))
    ([1], 3)
    """

    def __init__(self, seed=None):
        self.seed = torch.initial_seed() if seed is None else int(seed)
        self.generator = torch.Generator().manual_seed(self.seed)

    def others(self, i, k_paths):
        """The paths other than ``i`` in a random order (no draw for one)."""
        others = [j for j in range(k_paths) if j != i]
        if len(others) < 2:
            return others
        perm = torch.randperm(len(others), generator=self.generator).tolist()
        return [others[p] for p in perm]

    def state_dict(self):
        """The generator's state."""
        return {"generator": self.generator.get_state().tolist()}

    def load_state_dict(self, state):
        """Restore the generator's state (checkpoints from before K paths have none)."""
        if "generator" in state:
            self.generator.set_state(
                torch.tensor(state["generator"], dtype=torch.uint8)
            )
