"""PNG figures; matplotlib is imported here only.

Authors
 * dpda contributors 2026
"""

import csv
import os
import statistics
from statistics import NormalDist

import numpy as np

from dpda.metrics import compute_det_curve, compute_eer

DET_TICKS = (0.001, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.4)


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_alignment_stats(csv_path, png_path, window=25):
    """Plot the conflict rate and the cosine between the paths' gradients.

    With more than two paths, the running mean of the cosine of every pair
    of paths (with its conflict rate), and the share of steps where any pair
    conflicts.

    Arguments
    ---------
    csv_path : str
        ``alignment_stats.csv`` written by ``DPDABrain`` (one row per
        optimizer step with ``epoch``, ``cosine`` and ``conflict``).
    png_path : str
        Destination of the figure.
    window : int
        Width (in steps) of the running mean drawn over the per-step values.

    Returns
    -------
    dict
        ``{"steps": n, "conflict_rate": overall rate}``.

    Example
    -------
    >>> import tempfile
    >>> folder = tempfile.mkdtemp()
    >>> path = os.path.join(folder, "stats.csv")
    >>> with open(path, "w") as f:
    ...     _ = f.write("epoch,step,cosine,conflict\\n1,1,0.5,0\\n1,2,-0.1,1\\n2,3,0.2,0\\n")
    >>> plot_alignment_stats(path, os.path.join(folder, "conflicts.png"))
    {'steps': 3, 'conflict_rate': 0.3333333333333333}
    """
    with open(csv_path, encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    if not rows:
        raise ValueError(f"{csv_path}: no alignment statistics to plot")
    steps = list(range(1, len(rows) + 1))
    cosine = [float(r["cosine"]) for r in rows]
    conflict = [int(r["conflict"]) for r in rows]
    steps_in, conflicts_in = {}, {}
    for r, c in zip(rows, conflict):
        epoch = int(r["epoch"])
        steps_in[epoch] = steps_in.get(epoch, 0) + 1
        conflicts_in[epoch] = conflicts_in.get(epoch, 0) + c
    epochs = sorted(steps_in)
    per_epoch = [conflicts_in[e] / steps_in[e] for e in epochs]

    # More than two paths: one cosine and one conflict column per pair.
    pairs = [k[len("cosine_") :] for k in rows[0] if k.startswith("cosine_")]
    pairs = pairs if len(pairs) > 1 else []

    plt = _pyplot()
    fig, (ax_cos, ax_rate) = plt.subplots(1, 2, figsize=(11, 3.8))
    if pairs:
        for pair in pairs:
            values = [float(r[f"cosine_{pair}"]) for r in rows]
            rate = sum(int(r[f"conflict_{pair}"]) for r in rows) / len(rows)
            ax_cos.plot(
                steps,
                _running_mean(values, window),
                lw=1.5,
                label=f"{pair.replace('_', ' / ', 1)} ({100 * rate:.1f}% conflicts)",
            )
        ax_cos.set_ylabel(f"cosine per pair of paths, mean of {window}")
    else:
        ax_cos.plot(steps, cosine, lw=0.6, alpha=0.5, label="per step")
        ax_cos.plot(
            steps, _running_mean(cosine, window), lw=1.5, label=f"mean of {window}"
        )
        ax_cos.set_ylabel("cos(g_clean, g_aug)")
    ax_cos.axhline(0.0, color="k", lw=0.8, ls="--")
    ax_cos.set_xlabel("optimizer step")
    ax_cos.legend(loc="lower right", fontsize=8)
    ax_rate.bar(epochs, [100 * r for r in per_epoch])
    ax_rate.set_xlabel("epoch")
    ax_rate.set_ylabel(
        "steps with a conflicting pair (%)" if pairs else "conflicting steps (%)"
    )
    ax_rate.set_title(f"overall {100 * sum(conflict) / len(conflict):.1f}%")
    fig.tight_layout()
    os.makedirs(os.path.dirname(os.path.abspath(png_path)), exist_ok=True)
    fig.savefig(png_path, dpi=120, bbox_inches="tight")
    plt.close(fig)
    return {"steps": len(rows), "conflict_rate": sum(conflict) / len(conflict)}


def _running_mean(values, window):
    out, total = [], 0.0
    for i, v in enumerate(values):
        total += v
        if i >= window:
            total -= values[i - window]
        out.append(total / min(i + 1, window))
    return out


def _probit(p):
    # Rates of exactly 0 or 1 have no normal deviate: clip them just outside
    # the plotted range instead of producing inf.
    p = np.clip(np.asarray(p, dtype=np.float64), 1e-6, 1 - 1e-6)
    return np.vectorize(NormalDist().inv_cdf, otypes=[float])(p)


def _save(fig, plt, png_path):
    os.makedirs(os.path.dirname(os.path.abspath(png_path)), exist_ok=True)
    fig.savefig(png_path, dpi=120, bbox_inches="tight")
    plt.close(fig)
    return png_path


def plot_det_curve(curves, png_path, title=None):
    """Plot DET curves on normal-deviate axes, with each EER point marked.

    Arguments
    ---------
    curves : dict
        ``{label: (bona_scores, spoof_scores)}``, one curve per system or
        condition (higher score = more bona fide).
    png_path : str
        Destination of the figure.
    title : str, optional
        Figure title.

    Returns
    -------
    str
        ``png_path``.

    Example
    -------
    >>> import tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "det.png")
    >>> plot_det_curve({"cm": ([1.0, 2.0, 0.4], [0.0, 0.5, -1.0])}, path) == path
    True
    """
    if not curves:
        raise ValueError("plot_det_curve needs at least one curve")
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(5.5, 5.5))
    worst_eer = 0.0
    for label, (bona, spoof) in curves.items():
        frr, far, _ = compute_det_curve(bona, spoof)
        eer, _ = compute_eer(bona, spoof)
        (line,) = ax.plot(
            _probit(far), _probit(frr), lw=1.5, label=f"{label} (EER {100 * eer:.2f}%)"
        )
        ax.plot(*_probit([eer, eer]), "o", color=line.get_color(), ms=5)
        worst_eer = max(worst_eer, eer)
    # The usual 0.05-50% window, widened for weak systems so their EER shows.
    upper = 0.5 if worst_eer < 0.3 else 0.9
    shown = [t for t in DET_TICKS + (0.6, 0.8) if t <= upper]
    ticks = _probit(shown)
    tick_labels = [f"{100 * t:g}" for t in shown]
    lims = _probit([0.0005, upper])
    ax.plot(lims, lims, color="0.6", lw=0.8, ls="--")
    ax.set_xticks(ticks, tick_labels)
    ax.set_yticks(ticks, tick_labels)
    ax.set_xlim(*lims)
    ax.set_ylim(*lims)
    ax.set_xlabel("spoof accepted: false acceptance rate (%)")
    ax.set_ylabel("bona fide rejected: false rejection rate (%)")
    ax.grid(True, lw=0.4, alpha=0.6)
    ax.legend(loc="lower left", fontsize=7)
    if title:
        ax.set_title(title)
    fig.tight_layout()
    return _save(fig, plt, png_path)


def plot_score_histograms(
    bona_scores, spoof_scores, png_path, threshold=None, title=None, density=True
):
    """Overlay the score histograms of both classes, with a threshold line.

    Arguments
    ---------
    bona_scores : array_like
        Scores of the bona fide trials.
    spoof_scores : array_like
        Scores of the spoofed trials.
    png_path : str
        Destination of the figure.
    threshold : float, optional
        A decision threshold to draw (e.g. the EER threshold).
    title : str, optional
        Figure title.
    density : bool
        Normalise each histogram to unit area, so that a class outnumbered
        nine to one (ASVspoof bona fide) stays visible.

    Returns
    -------
    str
        ``png_path``.

    Example
    -------
    >>> import tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "hist.png")
    >>> plot_score_histograms([1.0, 2.0], [0.0, -1.0], path, threshold=0.5) == path
    True
    """
    classes = {
        "bona fide": np.asarray(bona_scores, dtype=np.float64).ravel(),
        "spoof": np.asarray(spoof_scores, dtype=np.float64).ravel(),
    }
    # Non-finite scores cannot be binned: they are counted in the legend. Finite
    # ones beyond +-1e300 are drawn at that edge (wider axes overflow).
    finite = {
        name: np.clip(s[np.isfinite(s)], -1e300, 1e300) for name, s in classes.items()
    }
    pooled = np.concatenate(list(finite.values()))
    if pooled.size == 0:
        raise ValueError("plot_score_histograms needs at least one finite score")
    low, high = float(pooled.min()), float(pooled.max())
    if low == high:  # all scores tied: one unit-wide bin around them
        bins = np.array([low - 0.5, high + 0.5])
    else:
        bins = np.linspace(low, high, 61)
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6.5, 3.8))
    for name, scores in finite.items():
        dropped = classes[name].size - scores.size
        label = f"{name} ({scores.size})"
        if dropped:
            label += f", {dropped} non-finite not shown"
        # An empty class keeps its legend entry; its density would be 0/0.
        ax.hist(
            scores,
            bins=bins,
            alpha=0.55,
            label=label,
            density=density and scores.size > 0,
        )
    if threshold is not None and np.isfinite(threshold):
        ax.axvline(
            threshold, color="k", lw=1.0, ls="--", label=f"threshold {threshold:.3g}"
        )
    ax.set_xlabel("score (higher = more bona fide)")
    ax.set_ylabel("density" if density else "trials")
    ax.legend(fontsize=8)
    if title:
        ax.set_title(title)
    fig.tight_layout()
    return _save(fig, plt, png_path)


def reliability_bins(llr_bona, llr_spoof, n_bins=10):
    """Predicted against observed posterior of bona fide, classes weighed equally.

    The LLRs are read at prior 1/2: predicted ``sigmoid(llr)``. In each of
    ``n_bins`` equal-width bins of the prediction, the observed posterior is
    ``r_b / (r_b + r_s)`` with ``r_b``, ``r_s`` the fractions of all bona fide
    and of all spoofed trials that fall in the bin: the frequency at equal
    class priors, whatever the set's class proportions. Calibrated LLRs lie
    on the diagonal.

    Arguments
    ---------
    llr_bona, llr_spoof : array_like
        LLRs of the bona fide and of the spoofed trials.
    n_bins : int
        Number of bins of the predicted posterior.

    Returns
    -------
    list of tuple
        ``(mean predicted, observed, trials)`` of each non-empty bin.

    Example
    -------
    >>> rows = reliability_bins([2.0, 2.0, -2.0], [-2.0, -2.0, 2.0], n_bins=2)
    >>> [(round(p, 2), round(o, 2), n) for p, o, n in rows]
    [(0.12, 0.33, 3), (0.88, 0.67, 3)]
    """
    bona = 1 / (1 + np.exp(-np.asarray(llr_bona, dtype=np.float64)))
    spoof = 1 / (1 + np.exp(-np.asarray(llr_spoof, dtype=np.float64)))
    edges = np.linspace(0, 1, n_bins + 1)
    rows = []
    for i in range(n_bins):
        low, high = edges[i], edges[i + 1]
        last = i == n_bins - 1

        def inside(p, low=low, high=high, last=last):
            """Members of the bin (the last one closed on the right)."""
            return (p >= low) & ((p <= high) if last else (p < high))

        in_b, in_s = bona[inside(bona)], spoof[inside(spoof)]
        if in_b.size + in_s.size == 0:
            continue
        r_b, r_s = in_b.size / bona.size, in_s.size / spoof.size
        predicted = (in_b.sum() / bona.size + in_s.sum() / spoof.size) / (r_b + r_s)
        rows.append(
            (float(predicted), float(r_b / (r_b + r_s)), int(in_b.size + in_s.size))
        )
    return rows


def plot_reliability(sets, png_path, n_bins=10, title=None):
    """Reliability diagram of calibrated LLRs on several sets.

    Arguments
    ---------
    sets : dict
        ``{name: (llr_bona, llr_spoof)}``.
    png_path : str
        Destination of the figure.
    n_bins : int
        Bins of the predicted posterior (see :func:`reliability_bins`).
    title : str, optional
        Figure title.

    Returns
    -------
    str
        ``png_path``.

    Example
    -------
    >>> import tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "rel.png")
    >>> plot_reliability({"dev": ([1.0, 2.0], [-1.0, 0.5])}, path) == path
    True
    """
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(4.8, 4.6))
    ax.plot([0, 1], [0, 1], color="0.6", lw=1, ls="--", label="calibrated")
    for name, (bona, spoof) in sets.items():
        rows = reliability_bins(bona, spoof, n_bins)
        ax.plot(
            [r[0] for r in rows],
            [r[1] for r in rows],
            marker="o",
            ms=4,
            label=f"{name} ({len(bona) + len(spoof)} trials)",
        )
    ax.set_xlabel("predicted P(bona fide), prior 1/2")
    ax.set_ylabel("observed, classes weighed equally")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.legend(fontsize=8, loc="upper left")
    if title:
        ax.set_title(title)
    return _save(fig, plt, png_path)


def _union(windows):
    """The stretches ``[start, end]`` that sorted, overlapping windows cover."""
    spans = []
    for start, end, _ in windows:
        if spans and start <= spans[-1][1]:
            spans[-1][1] = max(spans[-1][1], end)
        else:
            spans.append([start, end])
    return spans


def plot_timeline(timeline, png_path, title=None):
    """The score over time of one recording, with the decision threshold.

    Arguments
    ---------
    timeline : dict
        The output of :meth:`dpda.inference.DeepfakeDetector.score_timeline`:
        ``starts``, ``ends``, ``scores``, ``threshold``, ``duration`` and
        ``decision``, and optionally ``no_speech``. Windows scored below the
        threshold are shaded as spoof-like stretches, windows without speech
        (score ``None``) in grey.
    png_path : str
        Destination of the figure.
    title : str, optional
        Title (e.g. the file name); the overall verdict is appended.

    Returns
    -------
    str
        ``png_path``.

    Example
    -------
    >>> import tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "timeline.png")
    >>> timeline = {"starts": [0.0, 2.0, 4.0], "ends": [4.0, 6.0, 8.0],
    ...     "scores": [1.0, -2.0, 0.5], "threshold": 0.0, "duration": 8.0,
    ...     "decision": {"label": "bonafide", "score": -0.17}}
    >>> plot_timeline(timeline, path, title="speech.wav") == path
    True
    >>> timeline.update(scores=[1.0, None, None], no_speech=[None, "digital silence",
    ...     "digital silence"])
    >>> plot_timeline(timeline, path) == path
    True
    """
    starts = np.asarray(timeline["starts"], dtype=np.float64)
    ends = np.asarray(timeline["ends"], dtype=np.float64)
    # None (a window without speech, not scored): a gap in the line.
    scores = np.array(
        [np.nan if v is None else v for v in timeline["scores"]], dtype=np.float64
    )
    # None: an uncalibrated rule without a threshold, nothing to draw.
    threshold = timeline["threshold"]
    threshold = np.nan if threshold is None else float(threshold)
    centres = (starts + ends) / 2
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(8, 3.2))
    windows = sorted(zip(starts, ends, scores))
    shades = [
        ("spoof-like windows", "tab:red", [w for w in windows if w[2] <= threshold]),
        ("no speech", "0.5", [w for w in windows if np.isnan(w[2])]),
    ]
    for name, colour, chosen in shades:
        for number, (start, end) in enumerate(_union(chosen)):
            label = name if number == 0 else None
            ax.axvspan(start, end, color=colour, alpha=0.15, lw=0, label=label)
    ax.plot(centres, scores, marker="o", ms=3, color="tab:blue", label="window score")
    if not np.isnan(threshold):
        label = f"threshold {threshold:.3g}"
        ax.axhline(threshold, color="k", ls="--", lw=1, label=label)
    ax.set_xlim(0, max(float(timeline["duration"]), float(ends.max())))
    ax.set_xlabel("time (s)")
    ax.set_ylabel("score (higher = more bona fide)")
    decision = timeline["decision"]
    if decision.get("score") is None:  # no speech: no verdict, its reason
        verdict = f"{decision['label']} ({decision.get('reason')})"
    else:
        verdict = f"{decision['label']} (mean score {decision['score']:.3g})"
    if None not in (decision.get("p_bonafide"), decision.get("p_threshold")):
        # The probability beside its threshold, so that the label follows.
        verdict += (
            f", P(bona fide) {decision['p_bonafide']:.4f}"
            f" (bona fide from {decision['p_threshold']:.4f})"
        )
    ax.set_title(f"{title}: {verdict}" if title else verdict, fontsize=10)
    ax.legend(fontsize=8, loc="lower right")
    return _save(fig, plt, png_path)


def plot_study(per_run, out_dir, eval_sets):
    """Figures of an ablation study (see :mod:`dpda.ablation`).

    Writes ``eer.png`` (EER per run and evaluation set: one dot per seed and
    the mean with its standard deviation), ``dev_loss.png`` (dev loss per
    epoch, mean over seeds, per run) and ``conflicts.png`` (gradient conflict
    rate and mean cosine per epoch, DPDA runs).

    Arguments
    ---------
    per_run : dict
        ``{run name: [dpda.ablation.collect_run() dict per seed]}``.
    out_dir : str
        Destination folder.
    eval_sets : list of str
        Evaluation set names.

    Returns
    -------
    list of str
        The PNG paths written.
    """
    plt = _pyplot()
    names = list(per_run)
    paths = []

    fig, axes = plt.subplots(
        1,
        len(eval_sets),
        figsize=(1.2 + 1.1 * len(names) * len(eval_sets), 4),
        squeeze=False,
    )
    for ax, name in zip(axes[0], eval_sets):
        for i, run in enumerate(names):
            values = [r[f"EER_{name}"] for r in per_run[run] if f"EER_{name}" in r]
            if not values:
                continue
            mean = statistics.fmean(values)
            std = statistics.stdev(values) if len(values) > 1 else 0.0
            ax.bar(i, mean, color="C0" if i else "C7", alpha=0.5)
            ax.errorbar(i, mean, yerr=std, color="k", capsize=4)
            ax.scatter([i] * len(values), values, color="k", s=12, zorder=3)
        ax.set_xticks(range(len(names)))
        ax.set_xticklabels(names, rotation=35, ha="right")
        ax.set_ylabel("EER (%)")
        ax.set_title(name)
    paths.append(_save(fig, plt, os.path.join(out_dir, "eer.png")))

    fig, ax = plt.subplots(figsize=(7, 4))
    for i, run in enumerate(names):
        epochs, means = _per_epoch_mean(per_run[run], "valid_loss")
        ax.plot(epochs, means, marker="o", ms=3, label=run, color=f"C{i % 10}")
    ax.set_xlabel("epoch")
    ax.set_ylabel("dev loss (mean over seeds)")
    ax.legend(fontsize=8)
    paths.append(_save(fig, plt, os.path.join(out_dir, "dev_loss.png")))

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 4))
    for i, run in enumerate(names):
        epochs, rates = _per_epoch_mean(per_run[run], "train_conflict_rate")
        if not epochs:
            continue
        ax1.plot(
            epochs,
            [100 * r for r in rates],
            marker="o",
            ms=3,
            label=run,
            color=f"C{i % 10}",
        )
        epochs, cosines = _per_epoch_mean(per_run[run], "train_cosine")
        ax2.plot(epochs, cosines, marker="o", ms=3, label=run, color=f"C{i % 10}")
    ax1.set_xlabel("epoch")
    ax1.set_ylabel("steps with conflicting gradients (%)")
    ax2.set_xlabel("epoch")
    ax2.set_ylabel("cos(g_clean, g_aug), epoch mean")
    ax1.legend(fontsize=8)
    paths.append(_save(fig, plt, os.path.join(out_dir, "conflicts.png")))
    return paths


def _per_epoch_mean(rows, key):
    """Mean of a per-epoch statistic over the seeds that reached each epoch
    (early stopping ends seeds at different epochs)."""
    series = [{e["epoch"]: e[key] for e in r["epochs"] if key in e} for r in rows]
    epochs = sorted(set().union(*series)) if series else []
    means = []
    for epoch in epochs:
        values = [s[epoch] for s in series if epoch in s]
        means.append(sum(values) / len(values))
    return epochs, means
