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
call. Each method is one :meth:`Aligner.weights`, from the K x K Gram matrix
to the K weights, in a file of its own (``mean``, ``pcgrad``, ``gradvac``,
``cagrad``, ``mgda``, ``torchjd``); two paths are the case K = 2, and the
DPDA paper's two-path closed forms are the tests' oracles. What they share
(the Gram matrix, the weighted sum, :meth:`Aligner.combine`) is in ``base``;
the statistics logged per step are in ``stats``.

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

This package imports neither SpeechBrain nor the rest of ``dpda`` (but
``dpda.files`` for the statistics' CSV).

Authors
 * dpda contributors 2026
"""

from dpda.alignment.base import Aligner, RandomOrders, combine_weighted, path_gram
from dpda.alignment.cagrad import CAGradAligner, cagrad_weights
from dpda.alignment.gradvac import GradVacAligner
from dpda.alignment.mean import MeanAligner, SumAligner
from dpda.alignment.mgda import MGDAAligner, min_norm_weights
from dpda.alignment.pcgrad import PCGradAligner
from dpda.alignment.torchjd import (
    AlignedMTLAligner,
    DualProjAligner,
    IMTLGAligner,
    UPGradAligner,
)

__all__ = [
    "ALIGNERS",
    "Aligner",
    "AlignedMTLAligner",
    "CAGradAligner",
    "DualProjAligner",
    "GradVacAligner",
    "IMTLGAligner",
    "MGDAAligner",
    "MeanAligner",
    "PCGradAligner",
    "RandomOrders",
    "SumAligner",
    "UPGradAligner",
    "cagrad_weights",
    "combine_weighted",
    "get_aligner",
    "min_norm_weights",
    "path_gram",
]

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
