"""PCGrad (Yu et al. 2020), averaged as in the DPDA paper.

Authors
 * dpda contributors 2026
"""

import torch

from dpda.alignment.base import Aligner, RandomOrders


class PCGradAligner(Aligner):
    """PCGrad: each gradient loses its component along every other it conflicts with.

    Algorithm 1 of Yu et al.: for each path ``i``, ``g_i'`` starts at ``g_i``
    and, for each ``j != i`` in a random order, loses its component along the
    *original* ``g_j`` when ``g_i' . g_j < 0``; the update is the mean of the
    ``g_i'``. With two paths this is the DPDA paper's rule: when
    ``g1 . g2 < 0``, ``g1' = g1 - (g1.g2 / |g2|^2) g2``,
    ``g2' = g2 - (g1.g2 / |g1|^2) g1`` and the update ``(g1' + g2') / 2``,
    i.e. the weights ``(1 - g12 / g11) / 2`` and ``(1 - g12 / g22) / 2``
    (bitwise, tested). The orders are drawn from a generator seeded with
    ``seed`` (default: the seed of torch's global generator) and saved in the
    checkpoints; the last ones are in ``last_orders``. With two paths there
    is one order and nothing is drawn.

    Arguments
    ---------
    seed : int, optional
        Seed of the order generator.

    Example
    -------
    >>> gram = torch.tensor([[1.0, -0.5], [-0.5, 4.0]]).double()
    >>> PCGradAligner().weights(gram).tolist()
    [0.75, 0.5625]
    >>> gram = torch.tensor([[1.0, -0.5, 0.0], [-0.5, 4.0, 0.0], [0.0, 0.0, 1.0]])
    >>> PCGradAligner(seed=0).weights(gram.double()).tolist()
    [0.5, 0.375, 0.3333333333333333]
    """

    name = "pcgrad"

    def __init__(self, seed=None):
        super().__init__()
        self.orders = RandomOrders(seed)
        self.last_orders = []

    def weights(self, gram, block=0):
        """Return the PCGrad weights (draws one order per path when K > 2)."""
        k_paths = gram.shape[0]
        rows = torch.eye(k_paths, dtype=torch.float64)
        self.last_orders = []
        for i in range(k_paths):
            order = self.orders.others(i, k_paths)
            self.last_orders.append(order)
            for j in order:
                dot = float(rows[i] @ gram[:, j])
                if dot < 0.0 and gram[j, j] > 0.0:
                    rows[i, j] -= dot / float(gram[j, j])
        return rows.mean(dim=0)

    def state_dict(self):
        """Return the order generator's state."""
        return self.orders.state_dict()

    def load_state_dict(self, state):
        """Restore the order generator's state."""
        self.orders.load_state_dict(state)
