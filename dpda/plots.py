"""PNG figures; matplotlib is imported here only.

Authors
 * dpda contributors 2026
"""

import csv
import os


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_alignment_stats(csv_path, png_path, window=25):
    """Plot the conflict rate and the cosine between the two paths' gradients.

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

    plt = _pyplot()
    fig, (ax_cos, ax_rate) = plt.subplots(1, 2, figsize=(11, 3.8))
    ax_cos.plot(steps, cosine, lw=0.6, alpha=0.5, label="per step")
    ax_cos.plot(steps, _running_mean(cosine, window), lw=1.5, label=f"mean of {window}")
    ax_cos.axhline(0.0, color="k", lw=0.8, ls="--")
    ax_cos.set_xlabel("optimizer step")
    ax_cos.set_ylabel("cos(g_clean, g_aug)")
    ax_cos.legend(loc="lower right")
    ax_rate.bar(epochs, [100 * r for r in per_epoch])
    ax_rate.set_xlabel("epoch")
    ax_rate.set_ylabel("conflicting steps (%)")
    ax_rate.set_title(f"overall {100 * sum(conflict) / len(conflict):.1f}%")
    fig.tight_layout()
    os.makedirs(os.path.dirname(os.path.abspath(png_path)), exist_ok=True)
    fig.savefig(png_path, dpi=120)
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
