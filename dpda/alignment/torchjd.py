"""The Gramian weightings of torchjd (Quinton & Rey): UPGrad, DualProj,
IMTL-G and Aligned-MTL.

Authors
 * dpda contributors 2026
"""

from dpda.alignment.base import Aligner


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

    def weights(self, gram, block=0):
        """Return the torchjd weighting of the Gram matrix."""
        return self.weighting_fn(gram.double()).detach().cpu().double()


class UPGradAligner(TorchJDAligner):
    """UPGrad (Quinton & Rey 2024): each gradient projected onto the dual cone
    of all of them, averaged; no path's loss increases to first order.

    Example
    -------
    >>> import torch
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
    >>> import torch
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
    >>> import torch
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
    >>> import torch
    >>> w = AlignedMTLAligner().weights(torch.tensor([[1.0, 0.0], [0.0, 4.0]]).double())
    >>> [round(v, 4) for v in w.tolist()]
    [0.5, 0.25]
    """

    name = "alignedmtl"
    weighting = "AlignedMTLWeighting"
