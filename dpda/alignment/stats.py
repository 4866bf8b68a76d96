"""The statistics of an alignment step, and their CSV (``alignment_stats.csv``).

One format for any number of paths: per optimizer step the mean cosine over
the pairs of paths and whether any pair conflicts, then each pair's cosine and
conflict, and each path's gradient norm and weight. With the two paths
``clean, aug`` that is ``cosine, conflict, cosine_clean_aug,
conflict_clean_aug, norm_clean, coef_clean, norm_aug, coef_aug``.

Authors
 * dpda contributors 2026
"""

import csv
import math
import os

from dpda.files import open_atomic


def path_pairs(names):
    """Every pair of path names, in order.

    Arguments
    ---------
    names : list of str
        Path names.

    Returns
    -------
    list of (str, str)

    Example
    -------
    >>> path_pairs(["clean", "rawboost", "codec"])
    [('clean', 'rawboost'), ('clean', 'codec'), ('rawboost', 'codec')]
    """
    return [
        (names[i], names[j])
        for i in range(len(names))
        for j in range(i + 1, len(names))
    ]


def stat_fields(names):
    """The columns of ``alignment_stats.csv`` for the paths ``names``.

    Arguments
    ---------
    names : list of str
        Path names, ``clean`` first.

    Returns
    -------
    tuple of str

    Example
    -------
    >>> stat_fields(["clean", "aug"])
    ('epoch', 'step', 'cosine', 'conflict', 'cosine_clean_aug', 'conflict_clean_aug', 'norm_clean', 'coef_clean', 'norm_aug', 'coef_aug')
    >>> stat_fields(["clean", "rb", "codec"])[4:8]
    ('cosine_clean_rb', 'conflict_clean_rb', 'cosine_clean_codec', 'conflict_clean_codec')
    """
    fields = ["epoch", "step", "cosine", "conflict"]
    for a, b in path_pairs(names):
        fields += [f"cosine_{a}_{b}", f"conflict_{a}_{b}"]
    for name in names:
        fields += [f"norm_{name}", f"coef_{name}"]
    return tuple(fields)


def step_stats(names, gram, weights, scale=1.0):
    """One step's statistics from the paths' Gram matrix and the aligner's weights.

    Arguments
    ---------
    names : list of str
        Path names.
    gram : list of list of float
        The K x K Gram matrix of the gradients (``Aligner.last_stats``).
    weights : list of float
        The aligner's weights.
    scale : float
        Loss scale the gradients carry (a GradScaler's): norms are divided by
        it; cosines and weights do not depend on it.

    Returns
    -------
    dict
        The fields of :func:`stat_fields` but ``epoch`` and ``step``.

    Example
    -------
    >>> s = step_stats(["clean", "a", "b"], [[1, -1, 0], [-1, 4, 0], [0, 0, 1]], [1, 1, 1])
    >>> s["cosine_clean_a"], s["conflict_clean_a"], s["conflict_a_b"], s["conflict"], s["norm_a"]
    (-0.5, 1, 0, 1, 2.0)
    """
    norms = [math.sqrt(max(0.0, gram[i][i])) for i in range(len(names))]
    stats, cosines, conflicts = {}, [], []
    for i in range(len(names)):
        for j in range(i + 1, len(names)):
            denom = norms[i] * norms[j]
            cosine = gram[i][j] / denom if denom > 0 else 0.0
            conflict = int(gram[i][j] < 0)
            stats[f"cosine_{names[i]}_{names[j]}"] = cosine
            stats[f"conflict_{names[i]}_{names[j]}"] = conflict
            cosines.append(cosine)
            conflicts.append(conflict)
    for name, norm, weight in zip(names, norms, weights):
        stats[f"norm_{name}"] = norm / scale
        stats[f"coef_{name}"] = weight
    stats["cosine"] = sum(cosines) / len(cosines)
    stats["conflict"] = int(any(conflicts))
    return stats


def epoch_summary(names, rows):
    """The epoch's conflict rate and mean cosine (per pair too, with > 2 paths).

    Arguments
    ---------
    names : list of str
        Path names.
    rows : list of dict
        The epoch's :func:`step_stats` rows.

    Returns
    -------
    dict
        ``conflict_rate``, ``cosine`` and, with more than one pair,
        ``conflict_rate_<a>_<b>``; empty without rows.

    Example
    -------
    >>> epoch_summary(["clean", "aug"], [{"conflict": 1, "cosine": -0.5}, {"conflict": 0, "cosine": 0.25}])
    {'conflict_rate': 0.5, 'cosine': -0.125}
    """
    if not rows:
        return {}
    stats = {
        "conflict_rate": sum(r["conflict"] for r in rows) / len(rows),
        "cosine": sum(r["cosine"] for r in rows) / len(rows),
    }
    pairs = path_pairs(names)
    if len(pairs) > 1:
        for a, b in pairs:
            key = f"conflict_{a}_{b}"
            stats[f"conflict_rate_{a}_{b}"] = sum(r[key] for r in rows) / len(rows)
    return stats


def write_epoch_rows(path, epoch, rows, fields):
    """Write one epoch's alignment rows to the CSV, atomically and idempotently.

    Rows of this epoch or later already in the file (an epoch redone after a
    resumption) are replaced, so the file never holds an epoch twice.

    Arguments
    ---------
    path : str
        ``alignment_stats.csv``.
    epoch : int
        The epoch the rows belong to.
    rows : list of dict
        Per-step statistics.
    fields : tuple of str
        The columns (:func:`stat_fields`).

    Example
    -------
    >>> import tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "stats.csv")
    >>> fields = ("epoch", "step", "cosine", "conflict")
    >>> write_epoch_rows(path, 1, [{"epoch": 1, "step": 1, "cosine": 0.5}], fields)
    >>> write_epoch_rows(path, 1, [{"epoch": 1, "step": 1, "cosine": 0.25}], fields)
    >>> open(path).read().splitlines()[1]
    '1,1,0.25,'
    """
    kept = []
    if os.path.exists(path):
        with open(path, encoding="utf-8", newline="") as f:
            kept = [r for r in csv.DictReader(f) if int(r["epoch"]) < epoch]
    with open_atomic(path, newline="") as f:
        writer = csv.DictWriter(f, fieldnames=fields, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(kept)
        writer.writerows(rows)
