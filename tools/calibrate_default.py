#!/usr/bin/env python3
"""Calibrate the default detector on ``tests/data/real_world/`` and report.

Scores every clip of the real-world set (``tools/make_real_world_set.py``)
with the default detector (``DeepfakeDetector.from_hparams()``: the AASIST-L
shipped in ``dpda/pretrained/aasist_l``, its ``score_files``), fits the affine
score-to-LLR map of :func:`dpda.calibration.fit_calibration` on the
*calibration* part at the effective prior of :data:`COST_MODEL`, and prints,
on the *held-out* part (real sources and synthetic families the fit never
saw), per synthetic family, per real source and per codec: P(real >
synthetic), the miss rate (bona fide labelled spoof) and false-alarm rate
(spoof labelled bona fide) at the Bayes decision, actDCF and Cllr
(:mod:`dpda.metrics`). It also prints, for a few half-widths of an
"uncertain" band around the decision threshold (in LLR units), how the
held-out clips would be labelled, the same figures for the uncalibrated
rule (raw score > 0) for comparison, and the labels the detector gives with
the band it ships (``uncertain_band`` of its ``hyperparams.yaml``, applied
by its :class:`dpda.decision.DecisionRule`), on both parts: the figures of
the model card.

The cost model: P(spoof) 0.5, Cmiss 1, Cfa 1, i.e. the Bayes threshold LLR 0
(bona fide when P(bona fide) >= 0.5 at even prior odds). A user who runs the
detector on one recording has no base rate of fakes to give it; an even
prior with equal costs lets the LLR alone decide and shows the posterior at
even odds. ASVspoof 5's model (P(spoof) 0.05, Cfa 10) describes a
verification system facing rare but costly attacks, not a person checking a
clip. Users with a base rate or costs pass their own (``prior``/``cost_model``
of ``classify_file``).

With ``--write`` the scores are saved to ``scores_aasist_l.csv`` beside the
manifest and the fitted ``calibration`` and ``cost_model`` lines of
``dpda/pretrained/aasist_l/hyperparams.yaml`` are replaced (the rest of the
file is kept as it is). ``--scores`` reuses a saved score file instead of
scoring again.

Usage (from the repository root)::

    python tools/calibrate_default.py --write
    python tools/calibrate_default.py --scores tests/data/real_world/scores_aasist_l.csv

Authors
 * dpda contributors 2026
"""

import argparse
import csv
import json
import os
import platform
import re
import tempfile

import numpy as np
import ruamel.yaml
import torch

from dpda.calibration import fit_calibration
from dpda.decision import DecisionRule
from dpda.inference import DEFAULT_DETECTOR, DeepfakeDetector
from dpda.metrics import (
    bayes_threshold,
    compute_act_dcf,
    compute_cllr,
    effective_prior,
    format_table,
)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DATA_DIR = os.path.join(ROOT, "tests", "data", "real_world")
SCORES = "scores_aasist_l.csv"
HPARAMS = os.path.join(DEFAULT_DETECTOR, "hyperparams.yaml")
#: The decision's prior and costs (see the module docstring).
COST_MODEL = {"p_spoof": 0.5, "c_miss": 1.0, "c_fa": 1.0}
#: Half-widths of a candidate "uncertain" band around the threshold, in LLR.
BAND_HALF_WIDTHS = (0.0, 0.5, 1.0, 1.5, 2.0, 3.0)
COLUMNS = ("part", "n_bona", "n_spoof", "P(real>synth)", "miss", "fa", "actDCF", "Cllr")


def read_manifest(data_dir=DATA_DIR):
    """The rows of ``manifest.csv`` (dicts), in file order.

    Arguments
    ---------
    data_dir : str
        The real-world set's folder.

    Returns
    -------
    list of dict
        One row per clip: ``file``, ``label``, ``group``, ``system``,
        ``codec``, ``split``, ``origin``, ``text``.

    Example
    -------
    >>> rows = read_manifest()
    >>> sorted({row["split"] for row in rows})
    ['calibration', 'heldout']
    """
    with open(os.path.join(data_dir, "manifest.csv"), newline="") as handle:
        return list(csv.DictReader(handle))


def score_clips(rows, data_dir=DATA_DIR, batch_size=8):
    """Score every clip with the default detector: ``{file: bona fide logit}``."""
    with tempfile.TemporaryDirectory() as savedir:
        detector = DeepfakeDetector.from_hparams(savedir=savedir)
        paths = [os.path.join(data_dir, row["file"]) for row in rows]
        scores = detector.score_files(paths, batch_size=batch_size)
    return dict(zip([row["file"] for row in rows], scores))


def write_scores(path, scores):
    """Write ``file,score`` lines (scores with full float precision)."""
    with open(path, "w") as handle:
        handle.write("file,score\n")
        for name, score in scores.items():
            handle.write(f"{name},{score!r}\n")


def read_scores(path):
    """Read :func:`write_scores`'s file: ``{file: score}``."""
    with open(path, newline="") as handle:
        return {row["file"]: float(row["score"]) for row in csv.DictReader(handle)}


def split_scores(rows, scores, split):
    """The bona fide and spoof scores of one split, as two float64 arrays."""
    part = [row for row in rows if row["split"] == split]
    bona = [scores[row["file"]] for row in part if row["label"] == "bonafide"]
    spoof = [scores[row["file"]] for row in part if row["label"] == "spoof"]
    return np.array(bona, dtype=np.float64), np.array(spoof, dtype=np.float64)


def describe_part(rows, split):
    """What a split holds, in words (the calibration's ``fitted_on``)."""
    counts = {}
    for row in rows:
        if row["split"] == split:
            key = (row["label"], row["group"])
            counts[key] = counts.get(key, 0) + 1
    parts = []
    for label in ("bonafide", "spoof"):
        groups = {g: n for (lab, g), n in sorted(counts.items()) if lab == label}
        listed = ", ".join(f"{g} {n}" for g, n in groups.items())
        parts.append(f"{sum(groups.values())} {label} ({listed})")
    return f"tests/data/real_world {split} part (with codec copies): " + "; ".join(
        parts
    )


def fit_default(rows, scores, cost_model=COST_MODEL):
    """Fit the calibration on the calibration part, at the cost model's prior.

    Arguments
    ---------
    rows : list of dict
        The manifest (:func:`read_manifest`).
    scores : dict
        ``{file: raw score}``.
    cost_model : dict
        ``p_spoof``, ``c_miss``, ``c_fa``; the fit's prior is its effective
        prior of bona fide (:func:`dpda.metrics.effective_prior`).

    Returns
    -------
    dpda.calibration.Calibration
        The fitted map, its ``fitted_on`` from :func:`describe_part`.

    Example
    -------
    >>> rows = read_manifest()
    >>> scores = read_scores(os.path.join(DATA_DIR, SCORES))
    >>> fit_default(rows, scores).scale > 0
    True
    """
    bona, spoof = split_scores(rows, scores, "calibration")
    return fit_calibration(
        bona,
        spoof,
        prior=effective_prior(**cost_model),
        fitted_on=describe_part(rows, "calibration"),
    )


def prob_greater(bona, spoof):
    """P(bona fide score > spoof score) over all pairs, ties counted half."""
    bona, spoof = np.asarray(bona)[:, None], np.asarray(spoof)[None, :]
    return float(np.mean((bona > spoof) + 0.5 * (bona == spoof)))


def part_figures(name, bona, spoof, threshold, cost_model=None):
    """One report row: counts, P(real > synth), miss, fa, actDCF, Cllr.

    Bona fide when ``value >= threshold``. With ``cost_model`` the values
    are LLRs and ``threshold`` its Bayes threshold (actDCF, Cllr given);
    without, they are raw scores (actDCF and Cllr are NaN).
    """
    bona, spoof = (
        np.asarray(bona, dtype=np.float64),
        np.asarray(spoof, dtype=np.float64),
    )
    nan = float("nan")
    return {
        "part": name,
        "n_bona": int(bona.size),
        "n_spoof": int(spoof.size),
        "P(real>synth)": prob_greater(bona, spoof),
        "miss": float(np.mean(bona < threshold)),
        "fa": float(np.mean(spoof >= threshold)),
        "actDCF": compute_act_dcf(bona, spoof, **cost_model)[0] if cost_model else nan,
        "Cllr": compute_cllr(bona, spoof) if cost_model else nan,
    }


def heldout_report(rows, values, threshold, cost_model=None):
    """Per family, real source and codec figures on the held-out part.

    A family is set against all held-out real clips, a real source against
    all held-out synthetic clips, a codec's real clips against its synthetic
    clips; the last row pools the part.

    Arguments
    ---------
    rows : list of dict
        The manifest.
    values : dict
        ``{file: LLR}``, or raw scores with ``cost_model`` ``None``.
    threshold : float
        Bona fide when ``value >= threshold``.
    cost_model : dict, optional
        For actDCF (see :func:`part_figures`).

    Returns
    -------
    list of dict
        Rows with the keys of :data:`COLUMNS`.
    """
    held = [row for row in rows if row["split"] == "heldout"]
    real = [row for row in held if row["label"] == "bonafide"]
    fake = [row for row in held if row["label"] == "spoof"]

    def figures(name, bona_rows, spoof_rows):
        """The row of one comparison."""
        bona = [values[row["file"]] for row in bona_rows]
        spoof = [values[row["file"]] for row in spoof_rows]
        return part_figures(name, bona, spoof, threshold, cost_model)

    out = []
    for family in sorted({row["group"] for row in fake}):
        out.append(
            figures(f"family {family}", real, [r for r in fake if r["group"] == family])
        )
    for source in sorted({row["group"] for row in real}):
        out.append(
            figures(f"real {source}", [r for r in real if r["group"] == source], fake)
        )
    for codec in sorted({row["codec"] for row in held}):
        bona = [r for r in real if r["codec"] == codec]
        out.append(
            figures(f"codec {codec}", bona, [r for r in fake if r["codec"] == codec])
        )
    out.append(figures("held-out, pooled", real, fake))
    return out


def band_report(rows, llrs, threshold, half_widths=BAND_HALF_WIDTHS):
    """Held-out labels with an "uncertain" band ``|LLR - threshold| < h``.

    Returns
    -------
    list of dict
        Per half-width ``h``: counts of real clips labelled spoof / uncertain
        / bona fide and of synthetic clips labelled bona fide / uncertain /
        spoof.
    """
    held = [row for row in rows if row["split"] == "heldout"]
    out = []
    for h in half_widths:
        row = {"half-width": float(h)}
        for label, words in (("bonafide", "real"), ("spoof", "synth")):
            llr = np.array([llrs[r["file"]] for r in held if r["label"] == label])
            low = int(np.sum(llr < threshold - h))
            high = int(np.sum(llr >= threshold + h))
            wrong, right = (low, high) if label == "bonafide" else (high, low)
            other = "spoof" if label == "bonafide" else "bona fide"
            row[f"{words}: {other}"] = wrong
            row[f"{words}: uncertain"] = int(llr.size) - low - high
            row[f"{words}: correct"] = right
        out.append(row)
    return out


def shipped_band(path=HPARAMS):
    """The ``uncertain_band`` of the detector's yaml (``None``: no band).

    Read by a round-trip parse, which builds none of the objects the file's
    tags name.

    Example
    -------
    >>> shipped_band() is None or shipped_band() >= 0
    True
    """
    with open(path) as handle:
        return ruamel.yaml.YAML().load(handle).get("uncertain_band")


def label_counts(rows, scores, rule, split):
    """How ``rule`` labels the real and the synthetic clips of a split.

    Arguments
    ---------
    rows : list of dict
        The manifest.
    scores : dict
        ``{file: raw score}``.
    rule : dpda.decision.DecisionRule
        The detector's rule (its :meth:`~dpda.decision.DecisionRule.decide`
        gives each label, as ``classify_file`` does).
    split : str
        ``calibration`` or ``heldout``.

    Returns
    -------
    list of dict
        One row per class: ``clips``, ``n``, then the count of each label of
        ``rule.labels``.

    Example
    -------
    >>> rows = read_manifest()
    >>> scores = read_scores(os.path.join(DATA_DIR, SCORES))
    >>> rule = DecisionRule(None, fit_default(rows, scores), COST_MODEL, 1.0)
    >>> [r["n"] for r in label_counts(rows, scores, rule, "heldout")]
    [30, 41]
    """
    out = []
    for label, words in (("bonafide", "real"), ("spoof", "synthetic")):
        part = [r for r in rows if r["split"] == split and r["label"] == label]
        given = [rule.decide(scores[r["file"]])["label"] for r in part]
        row = {"clips": f"{split} {words}", "n": len(given)}
        row.update({name: given.count(name) for name in rule.labels})
        out.append(row)
    return out


def update_hparams(calibration, cost_model, path=HPARAMS):
    """Replace the ``calibration:`` and ``cost_model:`` lines of the yaml.

    Each becomes a one-line JSON mapping; the comment line above
    ``calibration:`` is rewritten to say what the map was fitted on. The
    rest of the file is left as it is.
    """
    with open(path) as handle:
        text = handle.read()
    comment = (
        "# LLR = scale * score + offset, fitted by tools/calibrate_default.py on "
        "the calibration part of tests/data/real_world (see README.md)"
    )
    text, n_cal = re.subn(
        r"^# LLR = .*\ncalibration: .*$",
        comment + "\ncalibration: " + json.dumps(calibration.to_dict()),
        text,
        flags=re.M,
    )
    text, n_cost = re.subn(
        r"^cost_model: .*$", "cost_model: " + json.dumps(cost_model), text, flags=re.M
    )
    if (n_cal, n_cost) != (1, 1):
        raise SystemExit(f"{path}: calibration or cost_model line not found")
    with open(path, "w") as handle:
        handle.write(text)


def print_report(rows, scores, calibration, cost_model):
    """Print the calibration, the held-out tables and the band table."""
    llrs = {name: float(calibration.llr(score)) for name, score in scores.items()}
    threshold = bayes_threshold(**cost_model) + 0.0  # no "-0"
    print(f"Calibration: {json.dumps(calibration.to_dict())}")
    print(f"Cost model: {json.dumps(cost_model)}; Bayes threshold LLR {threshold:g}")
    raw_threshold = (threshold - calibration.offset) / calibration.scale
    print(f"Decision in raw-score units: bona fide when score >= {raw_threshold:.4f}")
    fmt = {c: ".3f" for c in COLUMNS}
    print("\nCalibration part, pooled (the data of the fit):")
    bona, spoof = split_scores(rows, llrs, "calibration")
    calib = part_figures("calibration", bona, spoof, threshold, cost_model)
    print(format_table([calib], COLUMNS, fmt))
    print("\nHeld-out part, calibrated (decision: Bayes threshold of the cost model):")
    print(format_table(heldout_report(rows, llrs, threshold, cost_model), COLUMNS, fmt))
    print("\nHeld-out part, uncalibrated rule (raw score > 0; no actDCF / Cllr):")
    # score > 0 is score >= the smallest positive float
    raw = heldout_report(rows, scores, np.nextafter(0.0, 1.0))
    print(format_table(raw, COLUMNS, fmt))
    print("\nHeld-out labels with an 'uncertain' band |LLR - threshold| < half-width:")
    print(format_table(band_report(rows, llrs, threshold), floatfmt=".1f"))
    band = shipped_band()
    rule = DecisionRule(None, calibration, cost_model, band)
    print(
        f"\nLabels of the shipped rule (uncertain_band: {band} in "
        f"{os.path.relpath(HPARAMS, ROOT)}; {rule.text}):"
    )
    counts = [
        row
        for split in ("calibration", "heldout")
        for row in label_counts(rows, scores, rule, split)
    ]
    print(format_table(counts))


def cpu_name():
    """The CPU's model name (figures differ slightly between CPU types)."""
    try:
        with open("/proc/cpuinfo") as handle:
            for line in handle:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "an unknown CPU"


def main(argv=None):
    """Score (or read scores), fit, optionally write, and report."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", default=DATA_DIR)
    parser.add_argument("--scores", help="reuse this score file instead of scoring")
    parser.add_argument("--write", action="store_true", help="write scores, yaml")
    parser.add_argument("--batch-size", type=int, default=8)
    args = parser.parse_args(argv)
    rows = read_manifest(args.data)
    if args.scores:
        scores = read_scores(args.scores)
    else:
        print(
            f"Scoring {len(rows)} clips on {cpu_name()}, {torch.get_num_threads()} threads"
        )
        scores = score_clips(rows, args.data, args.batch_size)
    calibration = fit_default(rows, scores, COST_MODEL)
    if args.write:
        write_scores(os.path.join(args.data, SCORES), scores)
        update_hparams(calibration, COST_MODEL)
    print_report(rows, scores, calibration, COST_MODEL)


if __name__ == "__main__":
    main()
