"""Score calibration: the affine map to LLRs and its use by the detector."""

import math

import numpy as np
import pytest
from scipy.optimize import minimize
from scipy.special import log_expit

from dpda.calibration import (
    Calibration,
    decide,
    fit_calibration,
    posterior_bonafide,
)
from dpda.metrics import bayes_threshold, compute_cllr, effective_prior


def scipy_fit(bona, spoof, prior):
    """The prior-weighted logistic regression, solved independently by scipy."""
    offset = math.log(prior / (1 - prior))

    def objective(params):
        a, b = params
        return (
            -prior * log_expit(a * bona + b + offset).mean()
            - (1 - prior) * log_expit(-(a * spoof + b + offset)).mean()
        )

    result = minimize(
        objective,
        [1.0, 0.0],
        method="Nelder-Mead",
        options={"xatol": 1e-10, "fatol": 1e-14, "maxiter": 20000},
    )
    return result.x


@pytest.mark.parametrize("prior", [0.5, effective_prior(), 0.1])
def test_fit_equals_an_independent_solver(prior):
    rng = np.random.default_rng(1)
    bona, spoof = rng.normal(3, 2.5, 700), rng.normal(-2, 1.5, 1900)
    cal = fit_calibration(bona, spoof, prior=prior)
    a, b = scipy_fit(bona, spoof, prior)
    assert cal.scale == pytest.approx(a, rel=1e-5)
    assert cal.offset == pytest.approx(b, abs=1e-5)
    assert cal.prior == prior


def test_class_proportions_do_not_matter():
    rng = np.random.default_rng(2)
    bona, spoof = rng.normal(1, 1, 300), rng.normal(-1, 1, 500)
    once = fit_calibration(bona, spoof)
    thrice = fit_calibration(bona, np.tile(spoof, 3))
    assert thrice.scale == pytest.approx(once.scale, rel=1e-6)
    assert thrice.offset == pytest.approx(once.offset, abs=1e-6)


def test_at_prior_one_half_it_minimises_cllr_over_affine_maps():
    rng = np.random.default_rng(3)
    bona, spoof = 5 * rng.normal(1, 1, 500) + 3, 5 * rng.normal(-1, 1, 500) + 3
    cal = fit_calibration(bona, spoof, prior=0.5)
    best = compute_cllr(cal.llr(bona), cal.llr(spoof))
    assert best < compute_cllr(bona, spoof)  # the raw scores read as LLRs
    for da in (-0.05, 0.05):
        for db in (-0.1, 0.1):
            other = Calibration(cal.scale + da, cal.offset + db, 0.5)
            assert compute_cllr(other.llr(bona), other.llr(spoof)) > best


def test_posterior_and_decision_agree_with_the_cost_model():
    p_spoof, c_miss, c_fa = 0.05, 1.0, 10.0
    threshold = bayes_threshold(p_spoof, c_miss, c_fa)
    prior = effective_prior(p_spoof, c_miss, c_fa)
    for llr in np.linspace(-5, 5, 41):
        # The Bayes decision: bona fide iff the posterior at the effective
        # prior is at least 1/2.
        assert (decide(llr) == "bonafide") == (llr >= threshold)
        assert (posterior_bonafide(llr, prior) >= 0.5 - 1e-12) == (llr >= threshold)


def test_bad_input():
    with pytest.raises(ValueError, match="both classes"):
        fit_calibration([], [1.0])
    with pytest.raises(ValueError, match="NaN or inf"):
        fit_calibration([1.0, float("nan")], [0.0])
    with pytest.raises(ValueError, match="probability"):
        fit_calibration([1.0], [0.0], prior=1.0)
