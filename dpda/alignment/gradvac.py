"""Gradient Vaccine (Wang et al. 2021) with EMA target cosines.

Authors
 * dpda contributors 2026
"""

import math

import torch

from dpda.alignment.base import Aligner, RandomOrders


class GradVacAligner(Aligner):
    """GradVac: raise each pair's cosine to a target that follows its history.

    As in LibMTL: for each path ``i``, ``g_i'`` starts at ``g_i`` and, for
    each ``j != i`` in a random order, receives ``w g_j`` when
    ``rho = cos(g_i', g_j)`` is below the target ``rho_T`` of the ordered
    pair ``(i, j)``, with ``w`` such that the new cosine is ``rho_T``; the
    target then moves, ``rho_T = (1 - beta) rho_T + beta rho``. The update is
    the mean of the ``g_i'``. With two paths this is the DPDA authors' rule
    (one cosine; both pairs' targets stay equal), bitwise (tested).

    Arguments
    ---------
    beta : float
        EMA rate of the target cosines (paper: 0.5).
    ema_update : str
        ``"positive"``: update a target only when its cosine is ``> 0`` (the
        DPDA authors' code); ``"always"``: every step (LibMTL).
    rho_init : float
        Initial target cosine.
    blocks : str
        ``"whole"``: the whole model is one block (the DPDA authors' code);
        ``"parameter"``: every parameter tensor is a block with its own
        cosines and targets (GradVac's layer-wise variant).
    seed : int, optional
        Seed of the order generator (K > 2 paths), as for PCGrad.

    Example
    -------
    >>> gv = GradVacAligner(beta=0.5)
    >>> gram = torch.tensor([[1.0, -0.5], [-0.5, 1.0]]).double()
    >>> [round(w, 6) for w in gv.weights(gram).tolist()], gv.rho_target
    ([0.75, 0.75], [[0.0, 0.0], [0.0, 0.0]])
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
        self.orders = RandomOrders(seed)
        # The K x K targets (one matrix per block in "parameter" mode), made
        # from rho_init when the number of paths is first known.
        self.rho_target = self.rho_init if blocks == "whole" else []

    def begin_blocks(self, n_blocks):
        """One target entry per parameter block (checked on resumption)."""
        if not self.rho_target:
            self.rho_target = [self.rho_init] * n_blocks
        if len(self.rho_target) != n_blocks:
            raise ValueError(
                f"GradVac has targets for {len(self.rho_target)} parameters, "
                f"got {n_blocks} gradients"
            )

    def _targets(self, target, k_paths):
        """A K x K target matrix (from a scalar target on first use)."""
        if isinstance(target, list) and len(target) == k_paths:
            return target
        if isinstance(target, list):
            raise ValueError(
                f"GradVac has targets for {len(target)} paths, got {k_paths} paths"
            )
        return [[float(target)] * k_paths for _ in range(k_paths)]

    def weights(self, gram, block=0):
        """Return the GradVac weights and move the targets (of ``block``)."""
        k_paths = gram.shape[0]
        if self.blocks == "whole":
            targets = self.rho_target = self._targets(self.rho_target, k_paths)
        else:
            targets = self._targets(self.rho_target[block], k_paths)
            self.rho_target[block] = targets
        rows = torch.eye(k_paths, dtype=torch.float64)
        for i in range(k_paths):
            for j in self.orders.others(i, k_paths):
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
                        # n_i / n_j * (...) in this order: the two-path
                        # closed form of the DPDA code, to the bit.
                        rows[i, j] += (
                            n_i / n_j * ((rho_t * sin_rho - rho * sin_t) / sin_t)
                        )
                if self.ema_update == "always" or rho > 0:
                    targets[i][j] = (1.0 - self.beta) * rho_t + self.beta * rho
        return rows.mean(dim=0)

    def state_dict(self):
        """Return the target cosines and the order generator's state."""
        return {"rho_target": self.rho_target, **self.orders.state_dict()}

    def load_state_dict(self, state):
        """Restore the target cosines (a two-path scalar as well) and the generator."""
        self.rho_target = _floats(state["rho_target"])
        self.orders.load_state_dict(state)


def _floats(value):
    """Nested lists of numbers as nested lists of floats (a number as a float)."""
    if isinstance(value, list):
        return [_floats(v) for v in value]
    return float(value)
