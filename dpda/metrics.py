"""Detection metrics with the ASVspoof official semantics.

Bona fide is the positive class and a higher score means "more bona fide".
This module imports neither SpeechBrain nor the rest of ``dpda``, so it can be
used on any score file.

Authors
 * dpda contributors 2026
"""

import numpy as np


def compute_det_curve(bona_scores, spoof_scores):
    """Compute the DET curve (miss and false-alarm rates over all thresholds).

    Follows the ASVspoof evaluation package: all scores are sorted (stable
    mergesort), the false rejection rate (bona fide rejected) and false
    acceptance rate (spoof accepted) are computed at every cut of the sorted
    list, and the point ``FRR = 0, FAR = 1`` is prepended. O(N log N).

    Ties: the official code may cut *inside* a group of equal scores, an
    operating point that no threshold realises (bona fide trials sort first,
    so it is optimistic). Here cuts are only made between distinct scores;
    on scores without ties the result is identical to the official one.

    Arguments
    ---------
    bona_scores : array_like
        Scores of the bona fide trials (1-D).
    spoof_scores : array_like
        Scores of the spoofed trials (1-D).

    Returns
    -------
    frr : numpy.ndarray
        False rejection rate of bona fide trials for each threshold.
    far : numpy.ndarray
        False acceptance rate of spoof trials for each threshold.
    thresholds : numpy.ndarray
        The thresholds: at index ``k`` a trial is accepted as bona fide when
        its score is strictly greater than ``thresholds[k]``.

    Example
    -------
    >>> frr, far, thr = compute_det_curve([1.0, 2.0], [0.0])
    >>> frr.tolist(), far.tolist()
    ([0.0, 0.0, 0.5, 1.0], [1.0, 0.0, 0.0, 0.0])
    """
    bona = np.asarray(bona_scores, dtype=np.float64).ravel()
    spoof = np.asarray(spoof_scores, dtype=np.float64).ravel()
    if bona.size == 0 or spoof.size == 0:
        raise ValueError(
            f"EER needs both classes: got {bona.size} bona fide and "
            f"{spoof.size} spoof scores"
        )
    if not (np.isfinite(bona).all() and np.isfinite(spoof).all()):
        raise ValueError("Scores contain NaN or inf; cannot compute the EER")
    n_scores = bona.size + spoof.size
    all_scores = np.concatenate((bona, spoof))
    labels = np.concatenate((np.ones(bona.size), np.zeros(spoof.size)))

    indices = np.argsort(all_scores, kind="mergesort")
    sorted_scores = all_scores[indices]
    labels = labels[indices]

    tar_trial_sums = np.cumsum(labels)
    nontarget_trial_sums = spoof.size - (np.arange(1, n_scores + 1) - tar_trial_sums)
    # Keep the cut after the last member of each group of equal scores.
    group_ends = np.flatnonzero(
        np.append(sorted_scores[1:] != sorted_scores[:-1], True)
    )

    frr = np.concatenate(([0.0], tar_trial_sums[group_ends] / bona.size))
    far = np.concatenate(([1.0], nontarget_trial_sums[group_ends] / spoof.size))
    thresholds = np.concatenate(([sorted_scores[0] - 0.001], sorted_scores[group_ends]))
    return frr, far, thresholds


def compute_eer(bona_scores, spoof_scores):
    """Compute the equal error rate and its threshold (ASVspoof semantics).

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
        The score threshold at which it is reached.

    Example
    -------
    >>> compute_eer([0.9, 0.8, 0.3], [0.1, 0.2, 0.85])
    (0.3333333333333333, 0.3)
    >>> compute_eer([1.0, 2.0], [-1.0, 0.0])[0]
    0.0
    """
    frr, far, thresholds = compute_det_curve(bona_scores, spoof_scores)
    abs_diffs = np.abs(frr - far)
    min_index = int(np.argmin(abs_diffs))
    eer = float(np.mean((frr[min_index], far[min_index])))
    return eer, float(thresholds[min_index])
