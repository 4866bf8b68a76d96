"""EER against an independent brute-force threshold sweep."""

import numpy as np
import pytest

from dpda.metrics import compute_det_curve, compute_eer


def brute_force_eer(bona, spoof):
    """Sweep every candidate threshold; accept a trial when score > threshold.

    Returns the EER as the mean of FRR and FAR at the threshold minimising
    |FRR - FAR| (the ASVspoof convention), computed without sorting tricks.
    """
    thresholds = np.concatenate(
        ([min(bona.min(), spoof.min()) - 1.0], np.sort(np.concatenate((bona, spoof))))
    )
    best = None
    for t in thresholds:
        frr = np.mean(bona <= t)
        far = np.mean(spoof > t)
        gap = abs(frr - far)
        if best is None or gap < best[0] - 1e-15:
            best = (gap, (frr + far) / 2)
    return best[1]


@pytest.mark.parametrize("seed", range(20))
def test_eer_matches_brute_force_with_ties(seed):
    rng = np.random.default_rng(seed)
    n_bona, n_spoof = rng.integers(5, 60, size=2)
    # Rounded scores create many ties, within and across classes.
    bona = np.round(rng.normal(1.0, 1.0, n_bona), 1)
    spoof = np.round(rng.normal(-0.5, 1.0, n_spoof), 1)
    eer, _ = compute_eer(bona, spoof)
    assert eer == pytest.approx(brute_force_eer(bona, spoof), abs=1e-12)


def test_eer_perfect_inverted_and_constant():
    assert compute_eer([2.0, 3.0], [0.0, 1.0])[0] == 0.0
    # Inverted scores: every decision is wrong.
    assert compute_eer([0.0, 1.0], [2.0, 3.0])[0] == 1.0
    # One shared score: the classes cannot be told apart.
    assert compute_eer([1.0] * 4, [1.0] * 6)[0] == pytest.approx(0.5)


def test_eer_threshold_separates_at_eer():
    rng = np.random.default_rng(0)
    bona = rng.normal(2.0, 1.0, 2000)
    spoof = rng.normal(0.0, 1.0, 3000)
    eer, thr = compute_eer(bona, spoof)
    frr = np.mean(bona <= thr)
    far = np.mean(spoof > thr)
    assert abs(frr - far) < 2e-3
    assert eer == pytest.approx((frr + far) / 2, abs=1e-12)
    # Two unit Gaussians 2 apart: EER = Phi(-1) ~ 0.1587.
    assert eer == pytest.approx(0.1587, abs=0.015)


def test_det_curve_is_monotone():
    rng = np.random.default_rng(3)
    frr, far, _ = compute_det_curve(rng.normal(size=50), rng.normal(size=70))
    assert np.all(np.diff(frr) >= 0) and np.all(np.diff(far) <= 0)
    assert (frr[0], far[0], frr[-1], far[-1]) == (0.0, 1.0, 1.0, 0.0)


def test_eer_rejects_bad_input():
    with pytest.raises(ValueError, match="both classes"):
        compute_eer([], [0.1])
    with pytest.raises(ValueError, match="NaN"):
        compute_eer([float("nan")], [0.1])


def official_eer(bona, spoof):
    """The ASVspoof package's algorithm, restated (valid without ties)."""
    scores = np.concatenate((bona, spoof))
    labels = np.concatenate((np.ones(bona.size), np.zeros(spoof.size)))
    order = np.argsort(scores, kind="mergesort")
    tar = np.cumsum(labels[order])
    non = spoof.size - (np.arange(1, scores.size + 1) - tar)
    frr = np.concatenate(([0], tar / bona.size))
    far = np.concatenate(([1], non / spoof.size))
    i = np.argmin(np.abs(frr - far))
    return (frr[i] + far[i]) / 2


@pytest.mark.parametrize("seed", range(10))
def test_eer_equals_official_algorithm_without_ties(seed):
    rng = np.random.default_rng(100 + seed)
    bona = rng.normal(1.0, 1.0, 300)
    spoof = rng.normal(0.0, 1.5, 700)
    assert compute_eer(bona, spoof)[0] == pytest.approx(
        official_eer(bona, spoof), abs=1e-15
    )
