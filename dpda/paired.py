"""Paired per-seed comparisons of the runs of a study.

Two systems trained with the same seeds share their initial weights, data
order and augmentation draws up to the point where the systems differ, so
their difference is read seed by seed: for each seed the system's EER minus
its reference's EER (negative: the system is better), then how many seeds it
wins (``k/n``) and the mean and sample standard deviation of the paired
differences. A mean over seeds alone hides a system that wins on average
through one seed and loses on the others; the paired figures show it.

The conflict rate of the gradient aligners rises during training, so a run's
average over all its steps depends on when training stops; the rate per
epoch is given beside it.

The functions read the rows of a study's ``runs.csv`` and ``epochs.csv``
(:func:`dpda.ablation.collect` writes them), so a published study folder can
be read again without its run folders.

Authors
 * dpda contributors 2026
"""

import math
import statistics

__all__ = [
    "conflicts_by_epoch",
    "paired_differences",
    "paired_markdown",
    "study_pairs",
]


def _number(value):
    """A float from a CSV cell or a number; NaN for an empty cell."""
    if value is None or value == "":
        return math.nan
    return float(value)


def paired_differences(rows, system, reference, metric):
    """The per-seed differences ``system - reference`` of one metric.

    Arguments
    ---------
    rows : list of dict
        One row per run and seed, with ``run``, ``seed`` and the metric
        (the rows of ``runs.csv``; values may be strings).
    system, reference : str
        Run names.
    metric : str
        Column to compare, e.g. ``EER_in_the_wild`` (lower is better).

    Returns
    -------
    dict
        ``seeds`` (shared seeds with a value on both sides, sorted),
        ``differences`` (one per seed), ``wins`` (seeds where the system's
        value is lower), ``losses`` (higher), ``n``, ``mean`` and ``sd``
        (sample standard deviation; NaN for fewer than two seeds).

    Example
    -------
    >>> rows = [{"run": "b", "seed": 1, "EER": 10}, {"run": "b", "seed": 2, "EER": 12},
    ...         {"run": "a", "seed": 1, "EER": 8}, {"run": "a", "seed": 2, "EER": 13}]
    >>> d = paired_differences(rows, "a", "b", "EER")
    >>> d["differences"], d["wins"], d["n"], d["mean"], round(d["sd"], 3)
    ([-2.0, 1.0], 1, 2, -0.5, 2.121)
    """
    values = {}
    for row in rows:
        if row["run"] in (system, reference):
            value = _number(row.get(metric))
            if not math.isnan(value):
                values[(row["run"], int(row["seed"]))] = value
    seeds = sorted(
        s for (run, s) in values if run == system and (reference, s) in values
    )
    diffs = [values[(system, s)] - values[(reference, s)] for s in seeds]
    return {
        "seeds": seeds,
        "differences": diffs,
        "wins": sum(d < 0 for d in diffs),
        "losses": sum(d > 0 for d in diffs),
        "n": len(diffs),
        "mean": statistics.fmean(diffs) if diffs else math.nan,
        "sd": statistics.stdev(diffs) if len(diffs) > 1 else math.nan,
    }


def run_references(spec):
    """The references of a study's run entry, as a list of names.

    Example
    -------
    >>> run_references({"name": "p", "reference": "n"}), run_references({"name": "b"})
    (['n'], [])
    """
    references = spec.get("reference") or []
    return [references] if isinstance(references, str) else list(references)


def study_pairs(study, names):
    """The (system, reference) pairs of a study.

    Every run is compared with the study's ``baseline``; a run entry with a
    ``reference`` (e.g. the aligners against the unaligned two-path run; a
    name or a list of names) is compared with it too.

    Arguments
    ---------
    study : dict
        The parsed study file (``baseline``, ``runs``; without ``runs``,
        every name is compared with the baseline).
    names : list of str
        Names of the runs that have results.

    Returns
    -------
    list of tuple
        ``(system, reference)`` in the study's order.

    Example
    -------
    >>> study = {"baseline": "b", "runs": [{"name": "b"}, {"name": "n"},
    ...          {"name": "p", "reference": "n"}]}
    >>> study_pairs(study, ["b", "n", "p"])
    [('n', 'b'), ('p', 'b'), ('p', 'n')]
    >>> study["runs"][2]["reference"] = ["n", "b"]
    >>> study_pairs(study, ["b", "n", "p"])
    [('n', 'b'), ('p', 'b'), ('p', 'n')]
    """
    pairs = []
    baseline = study.get("baseline")
    for spec in study.get("runs") or [{"name": name} for name in names]:
        name = spec["name"]
        if name not in names:
            continue
        for reference in (baseline, *run_references(spec)):
            if reference and reference != name and reference in names:
                if (name, reference) not in pairs:
                    pairs.append((name, reference))
    return pairs


def paired_markdown(rows, pairs, metrics):
    """The paired comparisons as a Markdown table.

    Arguments
    ---------
    rows : list of dict
        Rows of ``runs.csv``.
    pairs : list of tuple
        ``(system, reference)`` pairs (:func:`study_pairs`).
    metrics : list of str
        Columns to compare (lower is better), e.g. ``EER_<set>``.

    Returns
    -------
    str
        One row per pair and metric: seeds, per-seed differences, wins k/n
        and mean ± sd of the paired difference (EER points); pairs without
        a shared seed are left out.

    Example
    -------
    >>> rows = [{"run": "b", "seed": 1, "EER_x": 10}, {"run": "a", "seed": 1, "EER_x": 8}]
    >>> print(paired_markdown(rows, [("a", "b")], ["EER_x"]))
    | system | reference | metric | seeds | system - reference, per seed | wins | mean ± sd |
    |---|---|---|---|---|---|---|
    | a | b | EER_x | 1 | -2.00 | 1/1 | -2.00 |
    """
    header = [
        "system",
        "reference",
        "metric",
        "seeds",
        "system - reference, per seed",
        "wins",
        "mean ± sd",
    ]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for system, reference in pairs:
        for metric in metrics:
            d = paired_differences(rows, system, reference, metric)
            if not d["n"]:
                continue
            spread = "" if math.isnan(d["sd"]) else f" ± {d['sd']:.2f}"
            ties = d["n"] - d["wins"] - d["losses"]
            cells = [
                system,
                reference,
                metric,
                ", ".join(str(s) for s in d["seeds"]),
                ", ".join(f"{x:+.2f}" if x else "0.00" for x in d["differences"]),
                f"{d['wins']}/{d['n']}" + (f" ({ties} tied)" if ties else ""),
                f"{d['mean']:+.2f}{spread}" if d["mean"] else f"0.00{spread}",
            ]
            lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def conflicts_by_epoch(epoch_rows, key="train_conflict_rate"):
    """The conflict rate of every run per epoch, as a Markdown table.

    Arguments
    ---------
    epoch_rows : list of dict
        Rows of ``epochs.csv``: ``run``, ``seed``, ``epoch`` and the rate.
    key : str
        Column of the conflict rate (a fraction of the epoch's steps).

    Returns
    -------
    str
        One row per run with a conflict rate: its seeds, then the rate in %
        per epoch (mean over the seeds that ran that epoch), or ``""``.

    Example
    -------
    >>> rows = [{"run": "p", "seed": s, "epoch": e, "train_conflict_rate": r}
    ...         for s, e, r in [(1, 1, 0.1), (2, 1, 0.3), (1, 2, 0.4)]]
    >>> print(conflicts_by_epoch(rows))
    | run | seeds | epoch 1 | epoch 2 |
    |---|---|---|---|
    | p | 2 | 20.0 | 40.0 |
    """
    rates = {}
    seeds = {}
    for row in epoch_rows:
        value = _number(row.get(key))
        if math.isnan(value):
            continue
        rates.setdefault(row["run"], {}).setdefault(int(row["epoch"]), []).append(value)
        seeds.setdefault(row["run"], set()).add(int(row["seed"]))
    if not rates:
        return ""
    epochs = sorted({e for per_epoch in rates.values() for e in per_epoch})
    header = ["run", "seeds"] + [f"epoch {e}" for e in epochs]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for run, per_epoch in rates.items():
        cells = [run, str(len(seeds[run]))]
        for epoch in epochs:
            values = per_epoch.get(epoch)
            cells.append(f"{100 * statistics.fmean(values):.1f}" if values else "-")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)
