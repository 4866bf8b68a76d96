"""ASVspoof 5 metrics (minDCF, actDCF, Cllr) against the official package.

The reference numbers were computed once with the challenge's own
``evaluation-package/calculate_modules.py`` by
``tests/reference/asvspoof5_reference_metrics.py`` (which names the commit).
"""

import importlib.util
import json
import os

import numpy as np
import pytest

from dpda.metrics import (
    bayes_threshold,
    compute_act_dcf,
    compute_cllr,
    compute_eer,
    compute_min_cllr,
    compute_min_dcf,
    effective_prior,
    pav_llrs,
)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_path = os.path.join(ROOT, "tests", "reference", "asvspoof5_reference_metrics.py")
_spec = importlib.util.spec_from_file_location("asvspoof5_reference_metrics", _path)
REFERENCE = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(REFERENCE)
FIXTURE = json.load(open(REFERENCE.FIXTURE))
SETS = {
    **REFERENCE.random_score_sets(),
    "asvspoof5_dev_real": REFERENCE.read_real_scores(),
}


@pytest.mark.parametrize("name", sorted(FIXTURE["metrics"]))
def test_metrics_equal_the_official_package(name):
    bona, spoof = SETS[name]
    expected = FIXTURE["metrics"][name]
    min_dcf, min_threshold = compute_min_dcf(bona, spoof)
    act_dcf, act_threshold = compute_act_dcf(bona, spoof)
    assert min_dcf == pytest.approx(expected["minDCF"], rel=1e-6, abs=1e-12)
    assert min_threshold == expected["minDCF_threshold"]
    assert act_dcf == pytest.approx(expected["actDCF"], rel=1e-6, abs=1e-12)
    assert act_threshold == pytest.approx(expected["actDCF_threshold"], rel=1e-12)
    assert compute_cllr(bona, spoof) == pytest.approx(expected["Cllr"], rel=1e-6)
    assert compute_eer(bona, spoof)[0] == pytest.approx(expected["EER"], rel=1e-6)


def test_the_real_set_is_the_real_system():
    bona, spoof = SETS["asvspoof5_dev_real"]
    assert (bona.size, spoof.size) == (7252, 22296)


def test_cost_model_helpers():
    # ASVspoof 5: beta = 1 * 0.95 / (10 * 0.05) = 1.9.
    assert bayes_threshold() == pytest.approx(-np.log(1.9))
    assert effective_prior() == pytest.approx(0.95 / 1.45)
    # The Bayes threshold is -logit(effective prior).
    p = effective_prior(0.2, 2.0, 3.0)
    assert bayes_threshold(0.2, 2.0, 3.0) == pytest.approx(-np.log(p / (1 - p)))
    with pytest.raises(ValueError):
        compute_min_dcf([1.0], [0.0], p_spoof=1.0)


def test_min_dcf_is_invariant_to_monotonic_maps_and_act_dcf_is_not():
    bona, spoof = SETS["normal_1k_5k"]
    base = compute_min_dcf(bona, spoof)[0]
    assert compute_min_dcf(np.exp(bona), np.exp(spoof))[0] == pytest.approx(base)
    assert compute_min_dcf(3 * bona - 7, 3 * spoof - 7)[0] == pytest.approx(base)
    assert (
        compute_act_dcf(3 * bona - 7, 3 * spoof - 7)[0]
        != compute_act_dcf(bona, spoof)[0]
    )
    # actDCF can never beat minDCF (same costs, one threshold among all).
    for name, (b, s) in SETS.items():
        assert compute_act_dcf(b, s)[0] >= compute_min_dcf(b, s)[0] - 1e-12, name


def test_pav_is_the_best_monotonic_calibration():
    rng = np.random.default_rng(0)
    bona, spoof = rng.normal(1, 1, 400), rng.normal(-1, 1.5, 600)
    llr_b, llr_s = pav_llrs(bona, spoof)
    # Monotonic: a higher score never gets a lower LLR.
    scores = np.concatenate([bona, spoof])
    llrs = np.concatenate([llr_b, llr_s])
    order = np.argsort(scores)
    assert (llrs[order][1:] >= llrs[order][:-1]).all()
    min_cllr = compute_min_cllr(bona, spoof)
    assert min_cllr == pytest.approx(compute_cllr(llr_b, llr_s))
    # No affine map of the scores does better (a coarse grid of them).
    for a in (0.5, 1.0, 2.0, 3.0):
        for b in (-1.0, 0.0, 1.0):
            assert compute_cllr(a * bona + b, a * spoof + b) >= min_cllr
    # Invariant to monotonic maps of the scores; 0 when the classes separate.
    assert compute_min_cllr(np.exp(bona), np.exp(spoof)) == pytest.approx(min_cllr)
    assert compute_min_cllr([2.0, 3.0], [0.0, 1.0]) == 0.0


def test_cllr_does_not_overflow():
    assert compute_cllr([1000.0], [-1000.0]) == 0.0
    assert np.isfinite(compute_cllr([-1000.0], [1000.0]))
