"""CAGrad (Liu et al. 2021): conflict-averse gradient descent, solved exactly.

Authors
 * dpda contributors 2026
"""

import math

import torch

from dpda.alignment.base import Aligner
from dpda.alignment.mgda import faces, min_norm_weights


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
    for face in faces(k_paths):
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
    """CAGrad, solved exactly on the simplex (:func:`cagrad_weights`).

    With ``w`` on the simplex, the CAGrad objective
    ``w^T G b + c' sqrt(w^T G w)``, ``b = 1/K``, ``c' = c sqrt(b^T G b)``, is
    convex; its minimiser gives ``g_w``. The update is
    ``(g_mean + c' / |g_w| g_w) / (1 + c^2)`` (``rescale=1``), ``/(1 + c)``
    (``rescale=2``) or unscaled (``rescale=0``). With two paths the DPDA
    code's closed form in ``t`` gives the same weights (to float64 rounding,
    tested).

    Arguments
    ---------
    c : float
        Conflict-aversion radius (paper: 0.5).
    rescale : int
        0, 1 or 2, as in the CAGrad code.

    Example
    -------
    >>> gram = torch.tensor([[1.0, -0.5], [-0.5, 4.0]]).double()
    >>> [round(w, 6) for w in CAGradAligner(c=0.0).weights(gram).tolist()]
    [0.5, 0.5]
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

    def weights(self, gram, block=0):
        """Return the CAGrad weights."""
        w, c_prime = cagrad_weights(gram, self.c)
        gram = gram.double()
        gw_norm = math.sqrt(max(0.0, float(w @ gram @ w)))
        # g_w = 0 (the gradients' hull holds the origin): no direction to add,
        # and |g_w| from the Gram matrix is rounding noise.
        floor = 1e-9 * math.sqrt(max(0.0, float(gram.diagonal().max())))
        lam = c_prime / gw_norm if gw_norm > floor else 0.0
        k_paths = gram.shape[0]
        scale = {0: 1.0, 1: 1.0 + self.c**2, 2: 1.0 + self.c}[self.rescale]
        return (1.0 / k_paths + lam * w) / scale
