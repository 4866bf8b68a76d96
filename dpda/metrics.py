"""Detection metrics with the ASVspoof official semantics.

Bona fide is the positive class and a higher score means "more bona fide".
This module imports neither SpeechBrain nor the rest of ``dpda`` (only the
label vocabulary, :mod:`dpda.labels`), so it can be used on any score file:
EER and DET (:func:`compute_eer`), the ASVspoof 2019/2021 LA min t-DCF
(:func:`compute_min_tdcf`, with the ASV error rates from
:func:`asv_error_rates`), per-condition tables (:func:`summarize`,
:func:`format_table`); score files are read by
:func:`dpda.scores.read_score_file`.

Authors
 * dpda contributors 2026
"""

import logging
import re

import numpy as np

from dpda.labels import BONAFIDE_PLACEHOLDERS, LABELS, NO_ATTACK

logger = logging.getLogger(__name__)

DET_CUTS = ("every", "distinct")


def compute_det_curve(bona_scores, spoof_scores, cuts="every"):
    """Compute the DET curve (miss and false-alarm rates over all thresholds).

    Follows the ASVspoof 2019/2021 evaluation package: all scores are sorted
    (stable mergesort, bona fide trials listed first), the false rejection
    rate (bona fide rejected) and false acceptance rate (spoof accepted) are
    computed at every cut of the sorted list, and the point ``FRR = 0,
    FAR = 1`` is prepended. O(N log N).

    Ties: with ``cuts="every"`` (the package's construction, the default) a
    cut may fall *inside* a group of equal scores, an operating point that no
    threshold realises; where bona fide and spoof scores tie, the curve then
    depends on the order of the inputs. ``cuts="distinct"`` only cuts between
    distinct scores: every point is realised by a threshold and the curve
    does not depend on the input order. Both are identical on scores without
    cross-class ties.

    Arguments
    ---------
    bona_scores : array_like
        Scores of the bona fide trials (1-D).
    spoof_scores : array_like
        Scores of the spoofed trials (1-D).
    cuts : str
        ``"every"`` (the package) or ``"distinct"`` (threshold-realisable).

    Returns
    -------
    frr : numpy.ndarray
        False rejection rate of bona fide trials for each threshold.
    far : numpy.ndarray
        False acceptance rate of spoof trials for each threshold.
    thresholds : numpy.ndarray
        The thresholds: at index ``k`` a trial is accepted as bona fide when
        its score is strictly greater than ``thresholds[k]`` (for a cut
        inside a group of ties, the tied score itself).

    Example
    -------
    >>> frr, far, thr = compute_det_curve([1.0, 2.0], [0.0])
    >>> frr.tolist(), far.tolist()
    ([0.0, 0.0, 0.5, 1.0], [1.0, 0.0, 0.0, 0.0])
    >>> compute_det_curve([1.0], [1.0])[0].tolist()  # cut inside the tie
    [0.0, 1.0, 1.0]
    >>> compute_det_curve([1.0], [1.0], cuts="distinct")[0].tolist()
    [0.0, 1.0]
    """
    if cuts not in DET_CUTS:
        raise ValueError(f"cuts must be one of {DET_CUTS}, got {cuts!r}")
    bona, spoof = check_scores(bona_scores, spoof_scores)
    n_scores = bona.size + spoof.size
    all_scores = np.concatenate((bona, spoof))
    labels = np.concatenate((np.ones(bona.size), np.zeros(spoof.size)))

    indices = np.argsort(all_scores, kind="mergesort")
    sorted_scores = all_scores[indices]
    labels = labels[indices]

    tar_trial_sums = np.cumsum(labels)
    nontarget_trial_sums = spoof.size - (np.arange(1, n_scores + 1) - tar_trial_sums)
    if cuts == "every":
        keep = np.arange(n_scores)
    else:  # the cut after the last member of each group of equal scores
        keep = np.flatnonzero(np.append(sorted_scores[1:] != sorted_scores[:-1], True))

    frr = np.concatenate(([0.0], tar_trial_sums[keep] / bona.size))
    far = np.concatenate(([1.0], nontarget_trial_sums[keep] / spoof.size))
    thresholds = np.concatenate(([sorted_scores[0] - 0.001], sorted_scores[keep]))
    return frr, far, thresholds


def check_scores(bona_scores, spoof_scores, what="EER"):
    """Both classes' scores as finite float64 arrays, or a clear error.

    Arguments
    ---------
    bona_scores, spoof_scores : array_like
        The scores.
    what : str
        What needs them, for the error message.

    Returns
    -------
    tuple of numpy.ndarray
        The bona fide and spoof scores, 1-D.

    Example
    -------
    >>> check_scores([1.0], [], what="a calibration")
    Traceback (most recent call last):
    ...
    ValueError: a calibration needs both classes: got 1 bona fide and 0 spoof scores
    """
    bona = np.asarray(bona_scores, dtype=np.float64).ravel()
    spoof = np.asarray(spoof_scores, dtype=np.float64).ravel()
    if bona.size == 0 or spoof.size == 0:
        raise ValueError(
            f"{what} needs both classes: got {bona.size} bona fide and "
            f"{spoof.size} spoof scores"
        )
    if not (np.isfinite(bona).all() and np.isfinite(spoof).all()):
        raise ValueError(f"Scores contain NaN or inf; cannot compute the {what}")
    return bona, spoof


def compute_eer(bona_scores, spoof_scores, cuts="every"):
    """Compute the equal error rate and its threshold (ASVspoof package).

    The default gives the ASVspoof 2019/2021 evaluation package's number
    exactly, ties included: the index of the DET curve (every cut of the
    sorted scores) where FRR and FAR are closest, and their mean there.
    Under cross-class ties that number depends on the input order (bona fide
    first here, as in the package); :func:`compute_eer_tie_robust` and
    :func:`eer_report` give the order-independent value and the tie count.

    Arguments
    ---------
    bona_scores : array_like
        Scores of the bona fide trials (higher = more bona fide).
    spoof_scores : array_like
        Scores of the spoofed trials.
    cuts : str
        ``"every"`` (the package, default) or ``"distinct"``, see
        :func:`compute_det_curve`.

    Returns
    -------
    eer : float
        The equal error rate as a fraction in [0, 1].
    threshold : float
        The score threshold at which it is reached.

    Example
    -------
    >>> compute_eer([0.9, 0.8, 0.3], [0.1, 0.2, 0.85])
    (0.3333333333333333, 0.3)
    >>> compute_eer([1.0, 2.0], [-1.0, 0.0])[0]
    0.0
    >>> compute_eer([0.5, 0.5], [0.5, 0.5])[0]  # the package's value
    1.0
    """
    frr, far, thresholds = compute_det_curve(bona_scores, spoof_scores, cuts)
    abs_diffs = np.abs(frr - far)
    min_index = int(np.argmin(abs_diffs))
    eer = float(np.mean((frr[min_index], far[min_index])))
    return eer, float(thresholds[min_index])


def compute_eer_tie_robust(bona_scores, spoof_scores):
    """EER cutting only between distinct scores (independent of input order).

    Every operating point of the DET curve is then realised by a threshold,
    so a group of tied bona fide and spoof trials is accepted or rejected as
    a whole. Equal to :func:`compute_eer` when no bona fide score equals a
    spoof score.

    Arguments
    ---------
    bona_scores : array_like
        Scores of the bona fide trials (higher = more bona fide).
    spoof_scores : array_like
        Scores of the spoofed trials.

    Returns
    -------
    eer : float
        The equal error rate as a fraction in [0, 1].
    threshold : float
        A trial is accepted as bona fide when its score exceeds it.

    Example
    -------
    >>> compute_eer_tie_robust([0.5, 0.5], [0.5, 0.5])[0]
    0.5
    """
    return compute_eer(bona_scores, spoof_scores, cuts="distinct")


def count_cross_class_ties(bona_scores, spoof_scores):
    """Number of trials whose score equals a score of the other class.

    Arguments
    ---------
    bona_scores : array_like
        Scores of the bona fide trials.
    spoof_scores : array_like
        Scores of the spoofed trials.

    Returns
    -------
    int
        Bona fide trials tied with a spoof trial plus spoof trials tied with
        a bona fide trial (0: the EER does not depend on tie handling).

    Example
    -------
    >>> count_cross_class_ties([1.0, 2.0, 2.0], [2.0, 3.0])
    3
    """
    bona = np.asarray(bona_scores, dtype=np.float64).ravel()
    spoof = np.asarray(spoof_scores, dtype=np.float64).ravel()
    shared = np.intersect1d(bona, spoof)
    return int(np.isin(bona, shared).sum() + np.isin(spoof, shared).sum())


def eer_report(bona_scores, spoof_scores):
    """The package's EER, its threshold and, under ties, the tie-robust EER.

    Arguments
    ---------
    bona_scores : array_like
        Scores of the bona fide trials.
    spoof_scores : array_like
        Scores of the spoofed trials.

    Returns
    -------
    dict
        ``EER`` (fraction, :func:`compute_eer`), ``threshold``,
        ``cross_class_ties`` (:func:`count_cross_class_ties`) and
        ``EER_tie_robust`` (:func:`compute_eer_tie_robust`; equal to ``EER``
        when there are no cross-class ties).

    Example
    -------
    >>> r = eer_report([0.5, 0.5, 0.9], [0.5, 0.1])
    >>> r["cross_class_ties"], round(r["EER"], 4), round(r["EER_tie_robust"], 4)
    (3, 0.5833, 0.25)
    """
    eer, threshold = compute_eer(bona_scores, spoof_scores)
    ties = count_cross_class_ties(bona_scores, spoof_scores)
    robust = compute_eer_tie_robust(bona_scores, spoof_scores)[0] if ties else eer
    return {
        "EER": eer,
        "threshold": threshold,
        "cross_class_ties": ties,
        "EER_tie_robust": robust,
    }


def describe_ties(report, name="scores"):
    """One warning line about cross-class ties, or ``None`` without ties.

    Arguments
    ---------
    report : dict
        An :func:`eer_report` result.
    name : str
        What was scored (for the message).

    Returns
    -------
    str or None

    Example
    -------
    >>> describe_ties(eer_report([0.5, 0.9], [0.5, 0.1]), "dev")
    'dev: 2 trials tie across classes; EER 50.00% (ASVspoof package, input order dependent), tie-robust EER 25.00%'
    """
    if not report["cross_class_ties"]:
        return None
    return (
        f"{name}: {report['cross_class_ties']} trials tie across classes; "
        f"EER {100 * report['EER']:.2f}% (ASVspoof package, input order "
        f"dependent), tie-robust EER {100 * report['EER_tie_robust']:.2f}%"
    )


def warn_ties(report, name="scores"):
    """Log :func:`describe_ties`'s line as a warning when trials tie.

    Arguments
    ---------
    report : dict
        An :func:`eer_report` result.
    name : str
        What was scored.

    Returns
    -------
    str or None
        The line, or ``None`` without cross-class ties.

    Example
    -------
    >>> warn_ties(eer_report([0.9], [0.1]), "dev") is None
    True
    """
    line = describe_ties(report, name)
    if line:
        logger.warning(line)
    return line


# ASVspoof 2019/2021 LA t-DCF cost model (2021 evaluation plan).
ASVSPOOF_COST_MODEL = {
    "Pspoof": 0.05,  # prior of a spoofing attack
    "Ptar": (1 - 0.05) * 0.99,  # prior of a target speaker
    "Pnon": (1 - 0.05) * 0.01,  # prior of a zero-effort non-target speaker
    "Cmiss": 1,  # tandem system rejects a target speaker
    "Cfa": 10,  # tandem system accepts a non-target speaker
    "Cfa_spoof": 10,  # tandem system accepts a spoof
}

POOLED = "pooled"


def _check_probability(name, value):
    try:
        value = float(value)
    except (TypeError, ValueError):
        raise ValueError(
            f"{name} must be a probability in [0, 1], got {value!r}"
        ) from None
    if not 0.0 <= value <= 1.0:  # also rejects NaN
        raise ValueError(f"{name} must be a probability in [0, 1], got {value!r}")
    return value


def _check_cost_model(cost_model):
    if cost_model is None:
        return ASVSPOOF_COST_MODEL
    missing = set(ASVSPOOF_COST_MODEL) - set(cost_model)
    if missing:
        raise ValueError(f"cost_model lacks {sorted(missing)}")
    priors = [float(cost_model[k]) for k in ("Ptar", "Pnon", "Pspoof")]
    if min(priors) < 0 or abs(sum(priors) - 1) > 1e-10:
        raise ValueError(
            f"cost_model priors Ptar, Pnon, Pspoof must be >= 0 and sum to 1, got {priors}"
        )
    costs = [float(cost_model[k]) for k in ("Cmiss", "Cfa", "Cfa_spoof")]
    if min(costs) < 0:
        raise ValueError(
            f"cost_model costs Cmiss, Cfa, Cfa_spoof must be >= 0: {costs}"
        )
    return cost_model


def tdcf_coefficients(Pfa_asv, Pmiss_asv, Pfa_spoof_asv, cost_model=None):
    """Coefficients of the ASVspoof 2021 t-DCF for a fixed ASV system ("C012").

    ``tDCF(t) = C0 + C1 Pmiss_cm(t) + C2 Pfa_cm(t)`` with
    ``C0 = Ptar Cmiss Pmiss_asv + Pnon Cfa Pfa_asv``, ``C1 = Ptar Cmiss - C0``
    and ``C2 = Pspoof Cfa_spoof Pfa_spoof_asv``.

    Arguments
    ---------
    Pfa_asv : float
        False acceptance rate of non-target speakers by the ASV system.
    Pmiss_asv : float
        Miss rate of target speakers by the ASV system.
    Pfa_spoof_asv : float
        Acceptance rate of spoofs by the ASV system.
    cost_model : dict, optional
        Keys of :data:`ASVSPOOF_COST_MODEL` (the default).

    Returns
    -------
    C0, C1, C2 : float
        The coefficients.

    Raises
    ------
    ValueError
        On a rate outside [0, 1], an invalid cost model, or when ``C1`` or
        ``C2`` is not positive: the normalised t-DCF is then degenerate (the
        ASV system alone decides everything, so no CM can help or hurt).

    Example
    -------
    >>> c0, c1, c2 = tdcf_coefficients(0.01, 0.01, 0.5)
    >>> round(c0, 6), round(c1, 6), round(c2, 6)
    (0.010355, 0.930145, 0.25)
    """
    Pfa_asv = _check_probability("Pfa_asv", Pfa_asv)
    Pmiss_asv = _check_probability("Pmiss_asv", Pmiss_asv)
    Pfa_spoof_asv = _check_probability("Pfa_spoof_asv", Pfa_spoof_asv)
    cm = _check_cost_model(cost_model)
    c0 = cm["Ptar"] * cm["Cmiss"] * Pmiss_asv + cm["Pnon"] * cm["Cfa"] * Pfa_asv
    c1 = cm["Ptar"] * cm["Cmiss"] - c0
    c2 = cm["Pspoof"] * cm["Cfa_spoof"] * Pfa_spoof_asv
    if c1 <= 0 or c2 <= 0:
        raise ValueError(
            f"degenerate t-DCF cost model: C1 = {c1:g} and C2 = {c2:g} must be "
            "positive (check the ASV error rates: C2 = 0 means the ASV system "
            "rejects every spoof)"
        )
    return float(c0), float(c1), float(c2)


def compute_tdcf_curve(
    bona_scores,
    spoof_scores,
    Pfa_asv,
    Pmiss_asv,
    Pfa_spoof_asv,
    cost_model=None,
    cuts="every",
):
    """Normalised t-DCF of a countermeasure at every DET threshold.

    The CM miss and false-alarm rates are those of :func:`compute_det_curve`
    (a trial is accepted as bona fide when its score is strictly greater than
    the threshold); the curve is normalised by ``C0 + min(C1, C2)``, the
    cost of the better of the two trivial CMs. O(N log N).

    Arguments
    ---------
    bona_scores : array_like
        CM scores of the bona fide trials (higher = more bona fide).
    spoof_scores : array_like
        CM scores of the spoofed trials.
    Pfa_asv : float
        False acceptance rate of non-target speakers by the ASV system.
    Pmiss_asv : float
        Miss rate of target speakers by the ASV system.
    Pfa_spoof_asv : float
        Acceptance rate of spoofs by the ASV system.
    cost_model : dict, optional
        Defaults to :data:`ASVSPOOF_COST_MODEL`.
    cuts : str
        ``"every"`` (the evaluation package) or ``"distinct"``, see
        :func:`compute_det_curve`.

    Returns
    -------
    tdcf_norm : numpy.ndarray
        Normalised t-DCF at each threshold.
    thresholds : numpy.ndarray
        The thresholds of :func:`compute_det_curve`.

    Example
    -------
    >>> tdcf, thr = compute_tdcf_curve([2.0, 3.0], [0.0, 1.0], 0.01, 0.01, 0.5)
    >>> tdcf.round(4).tolist(), thr.tolist()
    ([1.0, 0.5199, 0.0398, 1.8261, 3.6124], [-0.001, 0.0, 1.0, 2.0, 3.0])
    """
    c0, c1, c2 = tdcf_coefficients(Pfa_asv, Pmiss_asv, Pfa_spoof_asv, cost_model)
    pmiss_cm, pfa_cm, thresholds = compute_det_curve(bona_scores, spoof_scores, cuts)
    tdcf = c0 + c1 * pmiss_cm + c2 * pfa_cm
    return tdcf / (c0 + min(c1, c2)), thresholds


def compute_min_tdcf(
    bona_scores,
    spoof_scores,
    Pfa_asv,
    Pmiss_asv,
    Pfa_spoof_asv,
    cost_model=None,
    cuts="every",
):
    """Minimum normalised t-DCF (ASVspoof 2019/2021 LA) and its threshold.

    Arguments
    ---------
    bona_scores : array_like
        CM scores of the bona fide trials (higher = more bona fide).
    spoof_scores : array_like
        CM scores of the spoofed trials.
    Pfa_asv : float
        False acceptance rate of non-target speakers by the ASV system.
    Pmiss_asv : float
        Miss rate of target speakers by the ASV system.
    Pfa_spoof_asv : float
        Acceptance rate of spoofs by the ASV system.
    cost_model : dict, optional
        Defaults to :data:`ASVSPOOF_COST_MODEL`.
    cuts : str
        ``"every"`` (the evaluation package, default) or ``"distinct"``
        (threshold-realisable operating points only), see
        :func:`compute_det_curve`.

    Returns
    -------
    min_tdcf : float
        The minimum of the normalised t-DCF curve; 1 is the cost of the
        better trivial CM (accept all or reject all), below 1 the CM helps.
    threshold : float
        A threshold reaching it (accept as bona fide when score > threshold).

    Example
    -------
    >>> # A perfect CM leaves only the ASV system's own cost C0.
    >>> m, thr = compute_min_tdcf([2.0, 3.0], [0.0, 1.0], 0.01, 0.01, 0.5)
    >>> round(m, 6), thr
    (0.039773, 1.0)
    """
    tdcf_norm, thresholds = compute_tdcf_curve(
        bona_scores, spoof_scores, Pfa_asv, Pmiss_asv, Pfa_spoof_asv, cost_model, cuts
    )
    best = int(np.argmin(tdcf_norm))
    return float(tdcf_norm[best]), float(thresholds[best])


def asv_error_rates(tar_scores, non_scores, spoof_scores):
    """Error rates of an ASV system at its EER threshold, for the t-DCF.

    As in the ASVspoof 2021 evaluation package: the threshold is the EER
    threshold of target against non-target trials, and a trial is accepted
    by the ASV system when its score is ``>=`` that threshold. (The EER point
    itself accepts scores ``>`` it, so trials scoring exactly the threshold
    count as accepted here; kept so that the figures match the official
    ones.)

    Arguments
    ---------
    tar_scores : array_like
        ASV scores of bona fide target-speaker trials.
    non_scores : array_like
        ASV scores of bona fide non-target (zero-effort impostor) trials.
    spoof_scores : array_like
        ASV scores of spoofed trials of the target speakers.

    Returns
    -------
    Pfa_asv : float
        Fraction of non-target trials accepted.
    Pmiss_asv : float
        Fraction of target trials rejected.
    Pfa_spoof_asv : float
        Fraction of spoofed trials accepted.
    threshold : float
        The ASV threshold.

    Example
    -------
    >>> asv_error_rates([3.0, 4.0, 5.0], [0.0, 1.0, 3.5], [2.0, 4.5])
    (0.3333333333333333, 0.0, 0.5, 3.0)
    """
    tar = np.asarray(tar_scores, dtype=np.float64).ravel()
    non = np.asarray(non_scores, dtype=np.float64).ravel()
    spoof = np.asarray(spoof_scores, dtype=np.float64).ravel()
    if spoof.size == 0:
        raise ValueError("asv_error_rates needs ASV scores of spoofed trials")
    if not np.isfinite(spoof).all():
        raise ValueError("Spoof ASV scores contain NaN or inf")
    _, threshold = compute_eer(tar, non)
    pfa = float(np.mean(non >= threshold))
    pmiss = float(np.mean(tar < threshold))
    pfa_spoof = float(np.mean(spoof >= threshold))
    return pfa, pmiss, pfa_spoof, threshold


# ASVspoof 5 (track 1) cost model: the challenge's evaluation plan.
ASVSPOOF5_COST_MODEL = {"p_spoof": 0.05, "c_miss": 1.0, "c_fa": 10.0}


def _check_dcf_costs(p_spoof, c_miss, c_fa):
    _check_probability("p_spoof", p_spoof)
    if not 0 < p_spoof < 1 or c_miss <= 0 or c_fa <= 0:
        raise ValueError(
            f"need 0 < p_spoof < 1 and positive costs, got p_spoof={p_spoof}, "
            f"c_miss={c_miss}, c_fa={c_fa}"
        )


def bayes_threshold(p_spoof=0.05, c_miss=1.0, c_fa=10.0):
    """The Bayes decision threshold on log-likelihood ratios of a cost model.

    With ``LLR = log p(x | bona fide) / p(x | spoof)``, deciding "bona fide"
    when ``LLR >= -log(beta)``, ``beta = c_miss (1 - p_spoof) / (c_fa p_spoof)``,
    minimises the expected cost (ASVspoof 5 evaluation plan, eq. 3).

    Arguments
    ---------
    p_spoof : float
        Prior probability of a spoofing attack.
    c_miss : float
        Cost of rejecting a bona fide trial.
    c_fa : float
        Cost of accepting a spoofed trial.

    Returns
    -------
    float
        The threshold.

    Example
    -------
    >>> round(bayes_threshold(), 4)  # ASVspoof 5: log(10 * 0.05 / 0.95)
    -0.6419
    """
    _check_dcf_costs(p_spoof, c_miss, c_fa)
    return float(-np.log(c_miss * (1 - p_spoof) / (c_fa * p_spoof)))


def effective_prior(p_spoof=0.05, c_miss=1.0, c_fa=10.0):
    """The effective prior of bona fide of a cost model (costs folded in).

    ``c_miss (1 - p_spoof) / (c_miss (1 - p_spoof) + c_fa p_spoof)``: a cost
    model and its effective prior with unit costs have the same Bayes
    threshold, ``-logit(effective prior)``.

    Arguments
    ---------
    p_spoof, c_miss, c_fa : float
        The cost model (see :func:`bayes_threshold`).

    Returns
    -------
    float
        The effective prior probability of bona fide.

    Example
    -------
    >>> round(effective_prior(), 4)  # ASVspoof 5
    0.6552
    """
    _check_dcf_costs(p_spoof, c_miss, c_fa)
    bona = c_miss * (1 - p_spoof)
    return float(bona / (bona + c_fa * p_spoof))


def compute_min_dcf(bona_scores, spoof_scores, p_spoof=0.05, c_miss=1.0, c_fa=10.0):
    """Normalised minimum detection cost (ASVspoof 5's primary metric).

    The normalised cost ``(c_miss (1 - p_spoof) FRR + c_fa p_spoof FAR) /
    min(c_miss (1 - p_spoof), c_fa p_spoof)`` at its minimum over the DET
    curve of :func:`compute_det_curve` (the ASVspoof 5 package's curve and
    first-minimum rule), vectorised.

    Arguments
    ---------
    bona_scores, spoof_scores : array_like
        Scores (higher = more bona fide).
    p_spoof, c_miss, c_fa : float
        The cost model; defaults: ASVspoof 5.

    Returns
    -------
    min_dcf : float
        The minimum normalised cost (0 = perfect, 1 = no better than always
        deciding one class).
    threshold : float
        Its threshold (accept as bona fide above it).

    Example
    -------
    >>> compute_min_dcf([2.0, 3.0], [0.0, 1.0])
    (0.0, 1.0)
    >>> round(compute_min_dcf([0.0, 3.0], [1.0, 2.0])[0], 4)
    0.95
    """
    _check_dcf_costs(p_spoof, c_miss, c_fa)
    frr, far, thresholds = compute_det_curve(bona_scores, spoof_scores)
    costs = c_miss * (1 - p_spoof) * frr + c_fa * p_spoof * far
    best = int(np.argmin(costs))
    norm = min(c_miss * (1 - p_spoof), c_fa * p_spoof)
    return float(costs[best] / norm), float(thresholds[best])


def compute_act_dcf(bona_scores, spoof_scores, p_spoof=0.05, c_miss=1.0, c_fa=10.0):
    """Normalised actual detection cost: scores read as log-likelihood ratios.

    The decision is taken at the Bayes threshold of the cost model
    (:func:`bayes_threshold`): bona fide when ``score >= threshold``, as the
    ASVspoof 5 package. Only calibrated scores do well here; on raw scores
    it measures how far they are from being log-likelihood ratios.

    Arguments
    ---------
    bona_scores, spoof_scores : array_like
        Log-likelihood ratios (bona fide vs spoof).
    p_spoof, c_miss, c_fa : float
        The cost model; defaults: ASVspoof 5.

    Returns
    -------
    act_dcf : float
        The normalised cost at the Bayes threshold.
    threshold : float
        That threshold.

    Example
    -------
    >>> dcf, threshold = compute_act_dcf([2.0, 3.0], [-1.0, 0.0])
    >>> dcf, round(threshold, 4)  # one spoof of two accepted
    (0.5, -0.6419)
    """
    bona, spoof = check_scores(bona_scores, spoof_scores)
    threshold = bayes_threshold(p_spoof, c_miss, c_fa)
    miss = np.count_nonzero(bona < threshold) / bona.size
    fa = np.count_nonzero(spoof >= threshold) / spoof.size
    cost = c_miss * (1 - p_spoof) * miss + c_fa * p_spoof * fa
    return float(cost / min(c_fa * p_spoof, c_miss * (1 - p_spoof))), threshold


def compute_cllr(bona_scores, spoof_scores):
    """Log-likelihood-ratio cost, in bits (ASVspoof 5 secondary metric).

    ``(mean log2(1 + e^-llr_bona) + mean log2(1 + e^llr_spoof)) / 2``,
    computed without overflow. 0 is perfect, 1 is a system that always says
    LLR 0; above 1 the scores are worse than no answer as LLRs.

    Arguments
    ---------
    bona_scores, spoof_scores : array_like
        Log-likelihood ratios (bona fide vs spoof); infinite values are
        allowed (an infinite LLR of the right sign costs nothing).

    Returns
    -------
    float
        Cllr in bits.

    Example
    -------
    >>> compute_cllr([0.0], [0.0])
    1.0
    >>> round(compute_cllr([10.0, 8.0], [-9.0]), 5)
    0.00023
    """
    bona = np.asarray(bona_scores, dtype=np.float64).ravel()
    spoof = np.asarray(spoof_scores, dtype=np.float64).ravel()
    if bona.size == 0 or spoof.size == 0:
        raise ValueError("Cllr needs both classes")
    if np.isnan(bona).any() or np.isnan(spoof).any():
        raise ValueError("LLRs contain NaN; cannot compute Cllr")
    cost_bona = np.logaddexp(0.0, -bona).mean()
    cost_spoof = np.logaddexp(0.0, spoof).mean()
    return float(0.5 * (cost_bona + cost_spoof) / np.log(2))


def pav_llrs(bona_scores, spoof_scores):
    """The optimal monotonic map of scores to LLRs (pool adjacent violators).

    Isotonic regression of the class (1 = bona fide) on the score, equal
    scores pooled, gives the posterior that is best among all monotonic
    maps; removing the empirical prior log-odds turns it into LLRs. It is
    the calibration no affine map can beat on these data (and an optimistic
    one: it is fitted on the trials it scores).

    Arguments
    ---------
    bona_scores, spoof_scores : array_like
        Scores (higher = more bona fide).

    Returns
    -------
    bona_llrs, spoof_llrs : numpy.ndarray
        The LLRs of the bona fide and of the spoofed trials (infinite where
        a pooled block holds one class only).

    Example
    -------
    >>> bona, spoof = pav_llrs([1.0, 3.0], [0.0, 2.0])
    >>> bona.tolist(), spoof.tolist()
    ([0.0, inf], [-inf, 0.0])
    """
    bona, spoof = check_scores(bona_scores, spoof_scores)
    scores = np.concatenate((bona, spoof))
    labels = np.concatenate((np.ones(bona.size), np.zeros(spoof.size)))
    order = np.argsort(scores, kind="mergesort")
    sorted_scores, sorted_labels = scores[order], labels[order]
    # Start from one block per distinct score, then pool adjacent violators.
    starts = np.flatnonzero(np.r_[True, sorted_scores[1:] != sorted_scores[:-1]])
    sums = list(np.add.reduceat(sorted_labels, starts))
    counts = list(np.diff(np.r_[starts, scores.size]).astype(float))
    out_sums, out_counts = [], []
    for total, count in zip(sums, counts):
        out_sums.append(total)
        out_counts.append(count)
        while (
            len(out_sums) > 1
            and out_sums[-2] / out_counts[-2] >= out_sums[-1] / out_counts[-1]
        ):
            total, count = out_sums.pop(), out_counts.pop()
            out_sums[-1] += total
            out_counts[-1] += count
    posterior = np.repeat(
        np.asarray(out_sums) / np.asarray(out_counts), np.asarray(out_counts, int)
    )
    with np.errstate(divide="ignore"):
        log_odds = np.log(posterior) - np.log1p(-posterior)
    llrs = np.empty(scores.size)
    llrs[order] = log_odds - np.log(bona.size / spoof.size)
    return llrs[: bona.size], llrs[bona.size :]


def compute_min_cllr(bona_scores, spoof_scores):
    """Cllr after the optimal monotonic map (:func:`pav_llrs`), in bits.

    The discrimination part of Cllr: ``Cllr - min Cllr`` is the loss due to
    calibration.

    Arguments
    ---------
    bona_scores, spoof_scores : array_like
        Scores (higher = more bona fide).

    Returns
    -------
    float
        min Cllr in bits.

    Example
    -------
    >>> compute_min_cllr([1.0, 2.0], [-1.0, 0.0])  # separable: 0
    0.0
    >>> compute_min_cllr([0.0, 2.0], [1.0, 3.0])  # alternating: no information
    1.0
    """
    # A pooled block holds both classes, or one only (LLR +-inf, cost 0).
    return compute_cllr(*pav_llrs(bona_scores, spoof_scores))


def _natural_key(value):
    # Digit runs compare as numbers (A7 < A10); split() keeps str/int positions
    # aligned, so tuples never compare an int with a str.
    parts = re.split(r"(\d+)", str(value))
    return tuple(int(p) if i % 2 else p for i, p in enumerate(parts))


def summarize(trials, group_by, factor_type="auto"):
    """EER and minDCF per condition, in the way of the ASVspoof result tables.

    Arguments
    ---------
    trials : list of dict
        Each with ``score`` (float, higher = more bona fide), ``label``
        (``bonafide`` or ``spoof``) and the condition key ``group_by``.
    group_by : str
        The condition, e.g. ``attack``, ``codec``, ``transmission``,
        ``compression``, ``vocoder``.
    factor_type : str
        ``"spoof"``: the condition only describes spoofs (attack, vocoder):
        each value's EER uses ALL bona fide trials against that value's
        spoofs, and bona fide trials get no row of their own.
        ``"bonafide"``: the condition only describes bona fide trials (the
        real source of a recording): each value's bona fide trials against
        ALL spoofs, and spoofs get no row of their own.
        ``"both"``: the condition applies to both classes (codec,
        transmission, compression): each value uses the bona fide and spoofed
        trials of that value.
        ``"auto"`` (default): ``"spoof"`` when every bona fide trial carries a
        placeholder value (``-`` or ``bonafide``), ``"bonafide"`` when every
        spoof does (``-``), else ``"both"``.

    Returns
    -------
    list of dict
        One row per value (natural order), then a ``pooled`` row over all
        trials: ``{group_by: value, "trials": n, "bonafide": nb, "spoof": ns,
        "EER": percent, "minDCF": ASVspoof 5 minDCF}``; both are NaN when a
        class is absent.

    Example
    -------
    >>> trials = [
    ...     {"score": 2.0, "label": "bonafide", "attack": "-"},
    ...     {"score": 0.5, "label": "bonafide", "attack": "-"},
    ...     {"score": 1.0, "label": "spoof", "attack": "A07"},
    ...     {"score": -1.0, "label": "spoof", "attack": "A08"},
    ... ]
    >>> for row in summarize(trials, "attack"):
    ...     print(row)
    {'attack': 'A07', 'trials': 3, 'bonafide': 2, 'spoof': 1, 'EER': 75.0, 'minDCF': 0.95}
    {'attack': 'A08', 'trials': 3, 'bonafide': 2, 'spoof': 1, 'EER': 0.0, 'minDCF': 0.0}
    {'attack': 'pooled', 'trials': 4, 'bonafide': 2, 'spoof': 2, 'EER': 50.0, 'minDCF': 0.5}
    """
    if factor_type not in ("auto", "spoof", "bonafide", "both"):
        raise ValueError(
            "factor_type must be 'auto', 'spoof', 'bonafide' or 'both', "
            f"got {factor_type!r}"
        )
    scores = np.empty(len(trials), dtype=np.float64)
    is_bona = np.empty(len(trials), dtype=bool)
    values = []
    for i, trial in enumerate(trials):
        where = f"trial {i} ({trial.get('id', 'no id')})"
        if trial.get("label") not in LABELS:
            raise ValueError(
                f"{where}: label must be 'bonafide' or 'spoof', got {trial.get('label')!r}"
            )
        if group_by not in trial:
            raise ValueError(f"{where}: no {group_by!r} key")
        scores[i] = float(trial["score"])
        is_bona[i] = trial["label"] == "bonafide"
        values.append(str(trial[group_by]))
    if not np.isfinite(scores).all():
        raise ValueError("Scores contain NaN or inf; cannot compute the EER")
    values = np.asarray(values, dtype=object)
    if factor_type == "auto":
        factor_type = "both"
        if set(values[is_bona]) <= set(BONAFIDE_PLACEHOLDERS):
            factor_type = "spoof"
        elif set(values[~is_bona]) <= {NO_ATTACK}:
            factor_type = "bonafide"

    def row(value, bona, spoof):
        """The table row of one condition."""
        both = bona.size and spoof.size
        eer = 100 * compute_eer(bona, spoof)[0] if both else np.nan
        min_dcf = compute_min_dcf(bona, spoof)[0] if both else np.nan
        return {
            group_by: value,
            "trials": int(bona.size + spoof.size),
            "bonafide": int(bona.size),
            "spoof": int(spoof.size),
            "EER": float(eer),
            "minDCF": float(min_dcf),
        }

    all_bona, all_spoof = scores[is_bona], scores[~is_bona]
    rows = []
    if factor_type == "spoof":
        for value in sorted(set(values[~is_bona]), key=_natural_key):
            rows.append(row(value, all_bona, scores[~is_bona & (values == value)]))
    elif factor_type == "bonafide":
        for value in sorted(set(values[is_bona]), key=_natural_key):
            rows.append(row(value, scores[is_bona & (values == value)], all_spoof))
    else:
        for value in sorted(set(values), key=_natural_key):
            selected = values == value
            rows.append(
                row(value, scores[is_bona & selected], scores[~is_bona & selected])
            )
    rows.append(row(POOLED, all_bona, all_spoof))
    return rows


def format_table(rows, columns=None, floatfmt=".2f"):
    """Render rows (dicts) as a Markdown table.

    Arguments
    ---------
    rows : list of dict
        E.g. the output of :func:`summarize`.
    columns : list of str, optional
        Columns in order; by default every key, in order of first appearance.
    floatfmt : str or dict
        Format spec of floats, or ``{column: spec}`` (other columns ``.2f``);
        NaN prints as ``n/a``.

    Returns
    -------
    str
        The table, one line per row, without a trailing newline.

    Example
    -------
    >>> print(format_table([{"attack": "A07", "EER": 1.234}, {"attack": "pooled", "EER": float("nan")}]))
    | attack | EER |
    | --- | ---: |
    | A07 | 1.23 |
    | pooled | n/a |
    """
    if columns is None:
        columns = list(dict.fromkeys(key for r in rows for key in r))

    def cell(value, column):
        """A value as Markdown table text."""
        if isinstance(value, (bool, np.bool_)) or value is None:
            return str(value)
        if isinstance(value, (int, np.integer)):
            return str(int(value))
        if isinstance(value, (float, np.floating)):
            spec = (
                floatfmt.get(column, ".2f") if isinstance(floatfmt, dict) else floatfmt
            )
            return "n/a" if np.isnan(value) else format(float(value), spec)
        return str(value).replace("|", "\\|")

    def numeric(column):
        """Whether a column holds numbers only (right-aligned)."""
        present = [r[column] for r in rows if column in r]
        return bool(present) and all(
            isinstance(v, (int, float, np.integer, np.floating))
            and not isinstance(v, (bool, np.bool_))
            for v in present
        )

    lines = [
        "| " + " | ".join(str(c) for c in columns) + " |",
        "| " + " | ".join("---:" if numeric(c) else "---" for c in columns) + " |",
    ]
    for r in rows:
        lines.append("| " + " | ".join(cell(r.get(c, ""), c) for c in columns) + " |")
    return "\n".join(lines)


def scores_to_trials(scores, entries):
    """Join scores with manifest entries into the trials of :func:`summarize`.

    Arguments
    ---------
    scores : dict
        ``{utt_id: score}``, e.g. from :func:`read_score_file`; scores of ids
        absent from ``entries`` are ignored (a full score file evaluated on
        one subset).
    entries : dict
        ``{utt_id: {"label": ..., <conditions>...}}``, e.g. a manifest.

    Returns
    -------
    list of dict
        ``{"id", "score", <every entry field but wav>}`` in ``entries`` order.

    Raises
    ------
    ValueError
        When some entries have no score (the count and the first ids named).

    Example
    -------
    >>> scores_to_trials({"a": 1.0, "z": 0.0}, {"a": {"wav": "x.flac", "label": "spoof"}})
    [{'id': 'a', 'score': 1.0, 'label': 'spoof'}]
    """
    missing = [utt_id for utt_id in entries if utt_id not in scores]
    if missing:
        raise ValueError(
            f"{len(missing)} of {len(entries)} trials have no score, e.g. "
            + ", ".join(missing[:5])
        )
    trials = []
    for utt_id, entry in entries.items():
        trial = {"id": utt_id, "score": float(scores[utt_id])}
        trial.update((k, v) for k, v in entry.items() if k != "wav")
        trials.append(trial)
    return trials
