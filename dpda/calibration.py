"""Score calibration: raw detector scores to log-likelihood ratios.

A detector's raw score (the bona fide logit) ranks trials but does not say
how much more likely bona fide is than spoof: its scale depends on the
model, the training and the data. :func:`fit_calibration` fits the standard
affine map of the field, ``LLR = scale * score + offset``, by prior-weighted
logistic regression on a development set (Brümmer and du Preez, "Application-
independent evaluation of speaker detection", CSL 2006; the FoCal / BOSARIS
recipe): it minimises the cross entropy

    P * mean_bona log(1 + exp(-(LLR + logit P)))
    + (1 - P) * mean_spoof log(1 + exp(LLR + logit P))

at the *effective prior* ``P`` of bona fide, by default that of the
ASVspoof 5 cost model (P(spoof) 0.05, Cmiss 1, Cfa 10), ``P = 0.655``
(:func:`dpda.metrics.effective_prior`). The class proportions of the
development set do not enter (each class's mean is taken apart).

With LLRs, decisions follow from a stated cost model alone (the Bayes
threshold, :func:`dpda.metrics.bayes_threshold`), and the posterior
probability of bona fide from a stated prior (:func:`posterior_bonafide`).
What this promises: on data like the development set. A map fitted on
ASVspoof 2019 LA dev is not calibrated on In-the-Wild; check Cllr and
actDCF on the data at hand.

The fit uses ``torch.optim.LBFGS`` (float64, strong Wolfe line search) on
standardised scores: a convex two-parameter problem.

Authors
 * dpda contributors 2026
"""

import dataclasses
import logging
import math

import numpy as np
import torch

from dpda.metrics import (
    ASVSPOOF5_COST_MODEL,
    bayes_threshold,
    check_scores,
    effective_prior,
)

logger = logging.getLogger(__name__)


def logit(p):
    """``log(p / (1 - p))`` of a probability in (0, 1).

    Example
    -------
    >>> logit(0.5)
    0.0
    """
    if not 0 < p < 1:
        raise ValueError(f"a probability in (0, 1) is needed, got {p}")
    return math.log(p / (1 - p))


@dataclasses.dataclass
class Calibration:
    """An affine map from raw scores to log-likelihood ratios.

    Attributes
    ----------
    scale : float
        Multiplies the raw score (positive for a sensible detector).
    offset : float
        Added after scaling.
    prior : float
        The effective prior of bona fide the map was fitted at.
    fitted_on : str
        What it was fitted on (e.g. ``"dev: 120 bona fide, 240 spoof"``).

    Example
    -------
    >>> cal = Calibration(scale=2.0, offset=-1.0, prior=0.5, fitted_on="toy")
    >>> cal.llr([0.0, 1.0]).tolist()
    [-1.0, 1.0]
    >>> Calibration.from_dict(cal.to_dict()) == cal
    True
    """

    scale: float
    offset: float
    prior: float
    fitted_on: str = ""

    def llr(self, scores):
        """The LLRs (bona fide vs spoof) of raw scores, as a numpy array."""
        return self.scale * np.asarray(scores, dtype=np.float64) + self.offset

    def to_dict(self):
        """Plain values, for ``hyperparams.yaml`` and JSON."""
        return {
            "scale": float(self.scale),
            "offset": float(self.offset),
            "prior": float(self.prior),
            "fitted_on": str(self.fitted_on),
        }

    @classmethod
    def from_dict(cls, values):
        """Rebuild from :meth:`to_dict`'s values; ``None`` gives ``None``."""
        if values is None:
            return None
        values = dict(values)
        return cls(
            scale=float(values["scale"]),
            offset=float(values["offset"]),
            prior=float(values["prior"]),
            fitted_on=str(values.get("fitted_on", "")),
        )


def fit_calibration(bona_scores, spoof_scores, prior=None, fitted_on=""):
    """Fit ``LLR = scale * score + offset`` by prior-weighted logistic regression.

    Arguments
    ---------
    bona_scores, spoof_scores : array_like
        Raw scores of the development set's bona fide and spoofed trials.
    prior : float, optional
        Effective prior of bona fide; default: the ASVspoof 5 cost model's
        (:func:`dpda.metrics.effective_prior`, 0.655).
    fitted_on : str
        Description kept with the map.

    Returns
    -------
    Calibration
        The fitted map.

    Example
    -------
    >>> rng = np.random.default_rng(0)
    >>> bona, spoof = rng.normal(4, 2, 2000), rng.normal(-4, 2, 2000)
    >>> cal = fit_calibration(bona, spoof, prior=0.5)
    >>> abs(cal.scale - 2) < 0.2, abs(cal.offset) < 0.2  # exact LLR: 2 * score
    (True, True)
    """
    bona, spoof = check_scores(bona_scores, spoof_scores, what="calibration")
    if prior is None:
        prior = effective_prior(**ASVSPOOF5_COST_MODEL)
    prior_logodds = logit(prior)

    # Standardise for conditioning; map back at the end.
    pooled = np.concatenate([bona, spoof])
    center, spread = pooled.mean(), pooled.std()
    spread = spread if spread > 0 else 1.0
    zb = torch.as_tensor((bona - center) / spread)
    zs = torch.as_tensor((spoof - center) / spread)
    params = torch.tensor([1.0, 0.0], dtype=torch.float64, requires_grad=True)
    optimizer = torch.optim.LBFGS(
        [params],
        lr=1.0,
        max_iter=200,
        tolerance_grad=1e-12,
        tolerance_change=1e-14,
        line_search_fn="strong_wolfe",
    )

    def objective():
        """The prior-weighted cross entropy (nats)."""
        optimizer.zero_grad()
        a, b = params[0], params[1]
        loss = (
            prior * torch.nn.functional.softplus(-(a * zb + b + prior_logodds)).mean()
            + (1 - prior)
            * torch.nn.functional.softplus(a * zs + b + prior_logodds).mean()
        )
        loss.backward()
        return loss

    optimizer.step(objective)
    a, b = (float(v) for v in params.detach())
    scale = float(a / spread)
    offset = float(b - a * center / spread)
    if not (math.isfinite(scale) and math.isfinite(offset)):
        raise ValueError(
            "the calibration did not converge (are the classes separable?)"
        )
    if scale <= 0:
        logger.warning(
            "The calibration fitted on %s has a non-positive scale (%.3g): the "
            "detector ranks those trials no better than chance",
            fitted_on or "these scores",
            scale,
        )
    return Calibration(scale=scale, offset=offset, prior=prior, fitted_on=fitted_on)


def posterior_bonafide(llr, prior):
    """Posterior probability of bona fide given an LLR and a prior.

    Arguments
    ---------
    llr : float or array_like
        Log-likelihood ratio(s), bona fide vs spoof.
    prior : float
        Prior probability of bona fide.

    Returns
    -------
    float or numpy.ndarray
        ``sigmoid(llr + logit(prior))``.

    Example
    -------
    >>> round(posterior_bonafide(0.0, 0.95), 4)
    0.95
    >>> round(posterior_bonafide(math.log(19), 0.5), 4)
    0.95
    """
    value = 1 / (1 + np.exp(-(np.asarray(llr, dtype=np.float64) + logit(prior))))
    return float(value) if np.ndim(value) == 0 else value


def decide(llr, p_spoof=0.05, c_miss=1.0, c_fa=10.0):
    """The Bayes decision of a cost model on an LLR: ``"bonafide"`` or ``"spoof"``.

    Bona fide when ``llr >= bayes_threshold(...)`` (as ASVspoof 5's actDCF).

    Example
    -------
    >>> decide(0.0), decide(-1.0)  # ASVspoof 5 threshold: -0.642
    ('bonafide', 'spoof')
    """
    return "bonafide" if llr >= bayes_threshold(p_spoof, c_miss, c_fa) else "spoof"
