"""EER, min t-DCF and summaries against independent direct computations."""

import math

import numpy as np
import pytest

from dpda.metrics import (
    ASVSPOOF_COST_MODEL,
    asv_error_rates,
    compute_det_curve,
    compute_eer,
    compute_eer_tie_robust,
    compute_min_dcf,
    compute_min_tdcf,
    compute_tdcf_curve,
    count_cross_class_ties,
    describe_ties,
    eer_report,
    format_table,
    scores_to_trials,
    summarize,
    tdcf_coefficients,
)
from dpda.scores import read_score_file


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
    eer, _ = compute_eer_tie_robust(bona, spoof)
    assert eer == pytest.approx(brute_force_eer(bona, spoof), abs=1e-12)


def test_eer_perfect_inverted_and_constant():
    assert compute_eer([2.0, 3.0], [0.0, 1.0])[0] == 0.0
    # Inverted scores: every decision is wrong.
    assert compute_eer([0.0, 1.0], [2.0, 3.0])[0] == 1.0
    # One shared score: the package cuts inside the tie and, bona fide being
    # listed first, reports 100%; the tie-robust EER is 50%, and it does not
    # depend on the order.
    assert compute_eer([1.0] * 4, [1.0] * 6)[0] == 1.0
    assert package_eer(np.ones(4), np.ones(6))[0] == 1.0
    assert compute_eer_tie_robust([1.0] * 4, [1.0] * 6)[0] == pytest.approx(0.5)
    report = eer_report([1.0] * 4, [1.0] * 6)
    assert report["cross_class_ties"] == 10
    assert report["EER_tie_robust"] == pytest.approx(0.5)


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


def package_det_curve(target_scores, nontarget_scores):
    """``compute_det_curve`` of the ASVspoof 2019/2021 evaluation package
    (``eval_metrics.py``), transcribed line by line, ties included."""
    n_scores = target_scores.size + nontarget_scores.size
    all_scores = np.concatenate((target_scores, nontarget_scores))
    labels = np.concatenate(
        (np.ones(target_scores.size), np.zeros(nontarget_scores.size))
    )
    indices = np.argsort(all_scores, kind="mergesort")
    labels = labels[indices]
    tar_trial_sums = np.cumsum(labels)
    nontarget_trial_sums = nontarget_scores.size - (
        np.arange(1, n_scores + 1) - tar_trial_sums
    )
    frr = np.concatenate((np.atleast_1d(0), tar_trial_sums / target_scores.size))
    far = np.concatenate(
        (np.atleast_1d(1), nontarget_trial_sums / nontarget_scores.size)
    )
    thresholds = np.concatenate(
        (np.atleast_1d(all_scores[indices[0]] - 0.001), all_scores[indices])
    )
    return frr, far, thresholds


def package_eer(target_scores, nontarget_scores):
    """``compute_eer`` of the evaluation package, transcribed."""
    frr, far, thresholds = package_det_curve(target_scores, nontarget_scores)
    abs_diffs = np.abs(frr - far)
    min_index = np.argmin(abs_diffs)
    eer = np.mean((frr[min_index], far[min_index]))
    return eer, thresholds[min_index]


@pytest.mark.parametrize("seed", range(10))
def test_eer_equals_official_algorithm_without_ties(seed):
    rng = np.random.default_rng(100 + seed)
    bona = rng.normal(1.0, 1.0, 300)
    spoof = rng.normal(0.0, 1.5, 700)
    assert compute_eer(bona, spoof) == package_eer(bona, spoof)
    report = eer_report(bona, spoof)
    assert report["cross_class_ties"] == 0
    assert report["EER_tie_robust"] == report["EER"]
    assert describe_ties(report) is None


@pytest.mark.parametrize("seed", range(20))
def test_eer_equals_official_package_with_ties(seed):
    rng = np.random.default_rng(400 + seed)
    n_bona, n_spoof = rng.integers(5, 400, size=2)
    # Quantised scores (as from reduced-precision inference): many ties
    # within and across classes.
    step = [0.5, 0.1, 0.02][seed % 3]
    bona = np.round(rng.normal(1.0, 1.0, n_bona) / step) * step
    spoof = np.round(rng.normal(-0.5, 1.0, n_spoof) / step) * step
    eer, threshold = compute_eer(bona, spoof)
    expected, expected_t = package_eer(bona, spoof)
    assert eer == expected  # exactly the package's number
    assert threshold == expected_t
    frr, far, thr = compute_det_curve(bona, spoof)
    ref = package_det_curve(bona, spoof)
    for ours, theirs in zip((frr, far, thr), ref):
        np.testing.assert_array_equal(ours, theirs)
    # The tie count, against a direct double loop.
    direct = sum(any(b == x for x in spoof) for b in bona) + sum(
        any(x == b for b in bona) for x in spoof
    )
    assert count_cross_class_ties(bona, spoof) == direct
    report = eer_report(bona, spoof)
    assert report["EER"] == expected
    assert report["cross_class_ties"] == direct
    assert report["EER_tie_robust"] == pytest.approx(
        brute_force_eer(bona, spoof), abs=1e-12
    )
    if direct:
        assert f"{direct} trials tie across classes" in describe_ties(report, "x")


def eer_listing_first(bona, spoof, first):
    """The package's construction with ``first`` ("bona"/"spoof") sorted first
    among equal scores."""
    scores = np.concatenate((bona, spoof))
    labels = np.concatenate((np.ones(bona.size), np.zeros(spoof.size)))
    order = np.lexsort((labels if first == "spoof" else 1 - labels, scores))
    tar = np.cumsum(labels[order])
    non = spoof.size - (np.arange(1, scores.size + 1) - tar)
    frr = np.concatenate(([0], tar / bona.size))
    far = np.concatenate(([1], non / spoof.size))
    i = np.argmin(np.abs(frr - far))
    return (frr[i] + far[i]) / 2


def test_package_eer_under_ties_depends_on_the_listing_order():
    """Why the tie-robust value is reported beside the package's one."""
    bona, spoof = np.ones(4), np.ones(6)  # a constant-score system
    assert eer_listing_first(bona, spoof, "bona") == compute_eer(bona, spoof)[0] == 1.0
    assert eer_listing_first(bona, spoof, "spoof") == 0.0
    assert compute_eer_tie_robust(bona, spoof)[0] == 0.5
    rng = np.random.default_rng(7)
    bona = np.round(rng.normal(0.5, 1.0, 300))
    spoof = np.round(rng.normal(-0.5, 1.0, 500))
    package = compute_eer(bona, spoof)[0]
    assert package == eer_listing_first(bona, spoof, "bona")
    assert package != eer_listing_first(bona, spoof, "spoof")
    # The tie-robust EER cuts only between groups: the listing order inside
    # a group cannot change it, and it lies between the two listings.
    robust = compute_eer_tie_robust(bona, spoof)[0]
    low, high = sorted(eer_listing_first(bona, spoof, f) for f in ("bona", "spoof"))
    assert low - 1e-12 <= robust <= high + 1e-12


def test_cuts_are_checked():
    with pytest.raises(ValueError, match="cuts"):
        compute_det_curve([1.0], [0.0], cuts="some")


# ---------------------------------------------------------------------------
# t-DCF
# ---------------------------------------------------------------------------

# The 2021 evaluation plan's constants, written out again on purpose.
PTAR, PNON, PSPOOF = 0.95 * 0.99, 0.95 * 0.01, 0.05
CMISS, CFA, CFA_SPOOF = 1.0, 10.0, 10.0


def direct_c012(pfa_asv, pmiss_asv, pfa_spoof_asv):
    c0 = PTAR * CMISS * pmiss_asv + PNON * CFA * pfa_asv
    return c0, PTAR * CMISS - c0, PSPOOF * CFA_SPOOF * pfa_spoof_asv


def brute_force_min_tdcf(bona, spoof, rates):
    """Every candidate threshold: -inf, each distinct score, +inf.

    Same semantics as compute_det_curve: a trial is accepted as bona fide
    when its score is strictly greater than the threshold, so the CM misses
    bona fide trials with score <= t and accepts spoofs with score > t.
    """
    c0, c1, c2 = direct_c012(*rates)
    best = (math.inf, None)
    candidates = [-math.inf, *np.unique(np.concatenate((bona, spoof))), math.inf]
    for t in candidates:
        pmiss_cm = np.sum(bona <= t) / bona.size
        pfa_cm = np.sum(spoof > t) / spoof.size
        value = (c0 + c1 * pmiss_cm + c2 * pfa_cm) / (c0 + min(c1, c2))
        if value < best[0]:
            best = (value, t)
    return best


def test_cost_model_is_the_official_one():
    assert ASVSPOOF_COST_MODEL["Ptar"] == pytest.approx(PTAR, abs=1e-15)
    assert ASVSPOOF_COST_MODEL["Pnon"] == pytest.approx(PNON, abs=1e-15)
    assert ASVSPOOF_COST_MODEL["Pspoof"] == PSPOOF
    assert (
        ASVSPOOF_COST_MODEL["Cmiss"],
        ASVSPOOF_COST_MODEL["Cfa"],
        ASVSPOOF_COST_MODEL["Cfa_spoof"],
    ) == (1, 10, 10)


def test_tdcf_coefficients_by_hand():
    # C0 = 0.9405 * 0.05 + 0.0095 * 10 * 0.02 = 0.048925
    c0, c1, c2 = tdcf_coefficients(0.02, 0.05, 0.4)
    assert c0 == pytest.approx(0.048925, abs=1e-12)
    assert c1 == pytest.approx(0.9405 - 0.048925, abs=1e-12)
    assert c2 == pytest.approx(0.2, abs=1e-12)


def test_tdcf_coefficients_custom_cost_model():
    cost = {
        "Pspoof": 0.1,
        "Ptar": 0.8,
        "Pnon": 0.1,
        "Cmiss": 2,
        "Cfa": 5,
        "Cfa_spoof": 3,
    }
    # C0 = 0.8 * 2 * 0.1 + 0.1 * 5 * 0.2 = 0.26; C1 = 1.6 - 0.26; C2 = 0.1 * 3 * 0.5
    c0, c1, c2 = tdcf_coefficients(0.2, 0.1, 0.5, cost)
    assert (c0, c1, c2) == (
        pytest.approx(0.26, abs=1e-12),
        pytest.approx(1.34, abs=1e-12),
        pytest.approx(0.15, abs=1e-12),
    )
    # A perfect CM under that model: C0 / (C0 + C2).
    value = compute_min_tdcf([1.0, 2.0], [0.0], 0.2, 0.1, 0.5, cost)[0]
    assert value == pytest.approx(0.26 / 0.41, abs=1e-12)


@pytest.mark.parametrize("seed", range(15))
def test_min_tdcf_matches_brute_force_with_ties(seed):
    rng = np.random.default_rng(200 + seed)
    n_bona, n_spoof = rng.integers(4, 50, size=2)
    bona = np.round(rng.normal(1.0, 1.0, n_bona), 1)
    spoof = np.round(rng.normal(-0.3, 1.2, n_spoof), 1)
    rates = (rng.uniform(0, 0.2), rng.uniform(0, 0.2), rng.uniform(0.05, 1.0))
    expected, expected_t = brute_force_min_tdcf(bona, spoof, rates)
    value, threshold = compute_min_tdcf(bona, spoof, *rates, cuts="distinct")
    assert value == pytest.approx(expected, abs=1e-12)
    # The threshold returned realises the minimum by direct counting.
    c0, c1, c2 = direct_c012(*rates)
    at_t = (c0 + c1 * np.mean(bona <= threshold) + c2 * np.mean(spoof > threshold)) / (
        c0 + min(c1, c2)
    )
    assert at_t == pytest.approx(expected, abs=1e-12)
    # Never worse than the better trivial CM (accept all / reject all).
    assert value <= 1.0 + 1e-12


def test_tdcf_curve_ends_are_the_trivial_cms():
    rng = np.random.default_rng(7)
    rates = (0.03, 0.1, 0.3)
    c0, c1, c2 = direct_c012(*rates)
    curve, thresholds = compute_tdcf_curve(
        rng.normal(size=30), rng.normal(size=40), *rates
    )
    # First point accepts everything, last point rejects everything.
    assert curve[0] == pytest.approx((c0 + c2) / (c0 + min(c1, c2)), abs=1e-12)
    assert curve[-1] == pytest.approx((c0 + c1) / (c0 + min(c1, c2)), abs=1e-12)
    assert thresholds.shape == curve.shape


def test_perfect_cm_costs_only_the_asv_system():
    # With Pmiss_cm = Pfa_cm = 0 reachable the minimum is C0 / (C0 + min(C1, C2)).
    bona, spoof = [2.0, 3.0, 3.0], [-1.0, 0.0, 1.0]
    c0, c1, c2 = direct_c012(0.02, 0.05, 0.4)  # C2 < C1
    value, threshold = compute_min_tdcf(bona, spoof, 0.02, 0.05, 0.4)
    assert value == pytest.approx(c0 / (c0 + c2), abs=1e-12)
    assert value == pytest.approx(0.048925 / 0.248925, abs=1e-12)
    assert 1.0 <= threshold < 2.0
    # C1 < C2: Pmiss_asv = 0.9, Pfa_asv = 0 gives C0 = 0.9 Ptar, C1 = 0.1 Ptar,
    # so the normalised cost of a perfect CM is exactly 0.9.
    assert compute_min_tdcf(bona, spoof, 0.0, 0.9, 1.0)[0] == pytest.approx(0.9)


def test_inverted_cm_is_no_better_than_trivial():
    assert compute_min_tdcf([0.0, 1.0], [2.0, 3.0], 0.01, 0.02, 0.5)[0] == (
        pytest.approx(1.0, abs=1e-12)
    )


@pytest.mark.parametrize(
    "rates,message",
    [
        ((1.5, 0.1, 0.3), "Pfa_asv must be a probability"),
        ((0.1, -0.1, 0.3), "Pmiss_asv must be a probability"),
        ((0.1, 0.1, float("nan")), "Pfa_spoof_asv must be a probability"),
        ((0.1, 0.1, 0.0), "degenerate"),  # C2 = 0
        ((1.0, 1.0, 0.3), "degenerate"),  # C1 < 0
    ],
)
def test_tdcf_validation(rates, message):
    with pytest.raises(ValueError, match=message):
        tdcf_coefficients(*rates)
    with pytest.raises(ValueError, match=message):
        compute_min_tdcf([1.0, 2.0], [0.0], *rates)


def test_tdcf_rejects_bad_cost_model():
    bad = dict(ASVSPOOF_COST_MODEL, Pspoof=0.5)
    with pytest.raises(ValueError, match="sum to 1"):
        tdcf_coefficients(0.1, 0.1, 0.3, bad)
    with pytest.raises(ValueError, match="lacks"):
        tdcf_coefficients(0.1, 0.1, 0.3, {"Ptar": 1.0})


def test_asv_error_rates_toy():
    tar = [2.0, 3.0, 4.0, 5.0]
    non = [0.0, 1.0, 2.5, 6.0]
    spoof = [1.5, 3.5, 4.5, 7.0]
    # Sorted: 0n 1n 2t 2.5n 3t 4t 5t 6n; FRR = FAR = 0.25 after 2.5, so the
    # EER threshold is 2.5. The official package then accepts score >= 2.5:
    # non-targets {2.5, 6}, targets all but {2}, spoofs {3.5, 4.5, 7}.
    assert asv_error_rates(tar, non, spoof) == (0.5, 0.25, 0.75, 2.5)


def test_asv_error_rates_needs_spoofs():
    with pytest.raises(ValueError, match="spoofed trials"):
        asv_error_rates([1.0], [0.0], [])


# ---------------------------------------------------------------------------
# Summaries, tables, score files
# ---------------------------------------------------------------------------


def make_trials(seed, n=400):
    rng = np.random.default_rng(seed)
    codecs = ["none", "alaw", "g722"]
    attacks = ["A07", "A10", "A8"]
    trials = []
    for i in range(n):
        bona = rng.random() < 0.3
        codec = codecs[rng.integers(3)]
        shift = {"none": 0.0, "alaw": 0.7, "g722": 1.5}[codec]
        trials.append(
            {
                "id": f"T{i}",
                "score": float(
                    np.round(rng.normal(1.5 - (0 if bona else shift), 1), 1)
                ),
                "label": "bonafide" if bona else "spoof",
                "attack": "bonafide" if bona else attacks[rng.integers(3)],
                "codec": codec,
            }
        )
    # A codec seen only on spoofs.
    trials.append(
        {"id": "X", "score": 0.0, "label": "spoof", "attack": "A07", "codec": "opus"}
    )
    return trials


def subset_eer(trials, keep):
    bona = np.array(
        [t["score"] for t in trials if t["label"] == "bonafide" and keep(t)]
    )
    spoof = np.array([t["score"] for t in trials if t["label"] == "spoof" and keep(t)])
    return 100 * compute_eer(bona, spoof)[0], bona.size, spoof.size


def subset_min_dcf(trials, keep):
    bona = [t["score"] for t in trials if t["label"] == "bonafide" and keep(t)]
    spoof = [t["score"] for t in trials if t["label"] == "spoof" and keep(t)]
    return compute_min_dcf(bona, spoof)[0]


def test_summarize_per_attack_uses_all_bona_fide():
    trials = make_trials(0)
    rows = summarize(trials, "attack")
    # Natural order (A8 before A10), bona fide has no row, pooled last.
    assert [r["attack"] for r in rows] == ["A07", "A8", "A10", "pooled"]
    for r in rows[:-1]:
        eer, nb, ns = subset_eer(
            trials,
            lambda t, a=r["attack"]: t["label"] == "bonafide" or t["attack"] == a,
        )
        assert (r["EER"], r["bonafide"], r["spoof"]) == (pytest.approx(eer), nb, ns)
        assert r["trials"] == nb + ns
        assert r["minDCF"] == pytest.approx(
            subset_min_dcf(
                trials,
                lambda t, a=r["attack"]: t["label"] == "bonafide" or t["attack"] == a,
            )
        )
    eer, nb, ns = subset_eer(trials, lambda t: True)
    assert rows[-1] == {
        "attack": "pooled",
        "trials": len(trials),
        "bonafide": nb,
        "spoof": ns,
        "EER": pytest.approx(eer),
        "minDCF": pytest.approx(subset_min_dcf(trials, lambda t: True)),
    }


def test_summarize_per_codec_filters_both_classes():
    trials = make_trials(1)
    rows = summarize(trials, "codec")
    assert [r["codec"] for r in rows] == ["alaw", "g722", "none", "opus", "pooled"]
    for r in rows[:3]:
        eer, nb, ns = subset_eer(trials, lambda t, c=r["codec"]: t["codec"] == c)
        assert (r["EER"], r["bonafide"], r["spoof"]) == (pytest.approx(eer), nb, ns)
    # The codecs really differ, so a mix-up of the filters would show.
    assert len({round(r["EER"], 6) for r in rows[:3]}) == 3
    # Only spoofs under opus: no EER, but no crash either.
    opus = rows[3]
    assert (opus["bonafide"], opus["spoof"], opus["trials"]) == (0, 1, 1)
    assert math.isnan(opus["EER"])


def test_summarize_factor_type_can_be_forced():
    trials = make_trials(2)
    forced = summarize(trials, "codec", factor_type="spoof")
    for r in forced[:-1]:
        eer, _, _ = subset_eer(
            trials, lambda t, c=r["codec"]: t["label"] == "bonafide" or t["codec"] == c
        )
        assert r["EER"] == pytest.approx(eer)
    assert summarize(trials, "attack", factor_type="both")[0]["attack"] == "A07"
    with pytest.raises(ValueError, match="factor_type"):
        summarize(trials, "attack", factor_type="neither")


def test_summarize_per_real_source_uses_all_spoofs():
    # A condition of bona fide trials only (the real source of a recording,
    # "-" on every spoof): each source's recordings against every spoof.
    rng = np.random.default_rng(3)
    trials = [
        {
            "score": float(rng.normal(1.0 + i % 3, 1.0)),
            "label": "bonafide",
            "source": ["lj", "vctk", "jfk"][i % 3],
        }
        for i in range(30)
    ] + [
        {"score": float(rng.normal(0.0, 1.0)), "label": "spoof", "source": "-"}
        for _ in range(20)
    ]
    rows = summarize(trials, "source")
    assert [r["source"] for r in rows] == ["jfk", "lj", "vctk", "pooled"]
    for r in rows[:-1]:
        keep = lambda t, s=r["source"]: t["label"] == "spoof" or t["source"] == s  # noqa: E731
        eer, nb, ns = subset_eer(trials, keep)
        assert (r["EER"], r["bonafide"], r["spoof"]) == (pytest.approx(eer), nb, ns)
        assert (nb, ns) == (10, 20)
    assert len({round(r["EER"], 6) for r in rows[:3]}) == 3
    # Forced, and "both" gives the spoofs a row of their own.
    assert summarize(trials, "source", factor_type="bonafide") == rows
    both = summarize(trials, "source", factor_type="both")
    assert [r["source"] for r in both] == ["-", "jfk", "lj", "vctk", "pooled"]


def test_summarize_single_class_and_bad_input():
    only_spoof = [{"score": 1.0, "label": "spoof", "attack": "A07"}]
    rows = summarize(only_spoof, "attack")
    assert [r["attack"] for r in rows] == ["A07", "pooled"]
    assert all(math.isnan(r["EER"]) for r in rows)
    with pytest.raises(ValueError, match="trial 0 .T1.: label"):
        summarize(
            [{"id": "T1", "score": 1.0, "label": "fake", "attack": "-"}], "attack"
        )
    with pytest.raises(ValueError, match="no 'codec' key"):
        summarize(only_spoof, "codec")


def test_format_table():
    rows = [
        {"attack": "A07", "trials": 3, "EER": 12.3456},
        {"attack": "a|b", "trials": 4, "EER": float("nan")},
    ]
    assert format_table(rows) == (
        "| attack | trials | EER |\n"
        "| --- | ---: | ---: |\n"
        "| A07 | 3 | 12.35 |\n"
        "| a\\|b | 4 | n/a |"
    )
    assert format_table(rows, columns=["EER"], floatfmt=".1f").splitlines()[2] == (
        "| 12.3 |"
    )


def test_read_score_file(tmp_path):
    path = tmp_path / "scores.txt"
    path.write_text("\nLA_E_1 1.5  \r\n\nLA_E_2 -2e-3\n")
    assert read_score_file(str(path)) == {"LA_E_1": 1.5, "LA_E_2": -0.002}


@pytest.mark.parametrize(
    "content,message",
    [
        ("a 1.0\nb\n", ":2: expected 2 fields"),
        ("a 1.0\nb 1.0 2.0\n", ":2: expected 2 fields"),
        ("a 1.0\n\nb one\n", ":3: score 'one' is not a number"),
        ("a nan\n", ":1: score 'nan' is not finite"),
        ("a 1\nb 2\na 3\n", ":3: duplicate id 'a' \\(first on line 1\\)"),
        ("\n\n", "no scores found"),
    ],
)
def test_read_score_file_errors_name_file_and_line(tmp_path, content, message):
    path = tmp_path / "scores.txt"
    path.write_text(content)
    with pytest.raises(
        ValueError, match=f"{path}{message}" if message[0] == ":" else message
    ):
        read_score_file(str(path))


def test_scores_to_trials_joins_and_reports_missing():
    entries = {
        "a": {"wav": "{data_root}/a.flac", "label": "spoof", "attack": "A07"},
        "b": {"wav": "{data_root}/b.flac", "label": "bonafide", "attack": "-"},
    }
    trials = scores_to_trials({"b": 2.0, "a": -1.0, "extra": 0.0}, entries)
    assert trials == [
        {"id": "a", "score": -1.0, "label": "spoof", "attack": "A07"},
        {"id": "b", "score": 2.0, "label": "bonafide", "attack": "-"},
    ]
    with pytest.raises(ValueError, match="1 of 2 trials have no score, e.g. b"):
        scores_to_trials({"a": 1.0}, entries)
