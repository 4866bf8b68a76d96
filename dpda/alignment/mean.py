"""No alignment: the mean (``none``) or the sum (``sum``) of the gradients.

Authors
 * dpda contributors 2026
"""

import torch

from dpda.alignment.base import Aligner


class MeanAligner(Aligner):
    """No alignment: the mean of the gradients (plain training on the K x B batch).

    Example
    -------
    >>> MeanAligner().weights(torch.eye(2).double()).tolist()
    [0.5, 0.5]
    >>> MeanAligner().weights(torch.eye(4).double()).tolist()
    [0.25, 0.25, 0.25, 0.25]
    """

    name = "none"

    def weights(self, gram, block=0):
        """Return ``1 / K`` for every path."""
        k_paths = gram.shape[0]
        return torch.full((k_paths,), 1.0 / k_paths, dtype=torch.float64)


class SumAligner(Aligner):
    """No alignment: the sum of the gradients.

    Example
    -------
    >>> SumAligner().weights(torch.eye(3).double()).tolist()
    [1.0, 1.0, 1.0]
    """

    name = "sum"

    def weights(self, gram, block=0):
        """Return 1 for every path."""
        return torch.ones(gram.shape[0], dtype=torch.float64)
