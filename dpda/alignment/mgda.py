"""MGDA (Sener & Koltun 2018): the min-norm point of the simplex, exact.

Authors
 * dpda contributors 2026
"""

import itertools
import math

import torch

from dpda.alignment.base import Aligner


def faces(k_paths):
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
    for face in faces(k_paths):
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


class MGDAAligner(Aligner):
    """The MGDA min-norm point of the simplex, exact (:func:`min_norm_weights`).

    With two paths: ``t = clip((g22 - g12) / |g1 - g2|^2, 0, 1)`` and the
    weights ``(t, 1 - t)`` (to float64 rounding, tested).

    Example
    -------
    >>> MGDAAligner().weights(torch.tensor([[1.0, 0.0], [0.0, 1.0]]).double()).tolist()
    [0.5, 0.5]
    >>> MGDAAligner().weights(torch.tensor([[1.0, 1.0], [1.0, 4.0]]).double()).tolist()
    [1.0, 0.0]
    """

    name = "mgda"

    def weights(self, gram, block=0):
        """Return the min-norm weights."""
        return min_norm_weights(gram)
