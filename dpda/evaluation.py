"""Reporting scored evaluation sets the ASVspoof way.

Both the training recipe (after training) and ``recipes/InTheWild/evaluate.py``
(a trained experiment or a pretrained model on In-the-Wild, FoR or ASVspoof
2021) report through one call, :func:`report_evaluation`, from the score
files they wrote (:mod:`dpda.scores`) and the manifests: EER with its
threshold (and the tie-robust EER under cross-class ties), min t-DCF when the
ASV error rates are known, the ASVspoof 5 metrics (minDCF; actDCF and Cllr on
calibrated scores, and on raw scores labelled as such; min Cllr), an EER and
minDCF breakdown per condition, a DET plot and score histograms; in training,
the calibration fitted on dev (:func:`calibrate_on`).

Authors
 * dpda contributors 2026
"""

import json
import logging
import os

import soundfile

from dpda.calibration import fit_calibration
from dpda.files import open_atomic, write_json_atomic
from dpda.labels import split_by_label
from dpda.metrics import (
    ASVSPOOF5_COST_MODEL,
    asv_error_rates,
    compute_act_dcf,
    compute_cllr,
    compute_min_cllr,
    compute_min_dcf,
    compute_min_tdcf,
    eer_report,
    format_table,
    scores_to_trials,
    summarize,
    warn_ties,
)
from dpda.plots import plot_det_curve, plot_reliability, plot_score_histograms
from dpda.scores import read_score_file

logger = logging.getLogger(__name__)


# The metrics a report adds to a set's results (eval_results.json).
METRIC_KEYS = (
    "min_tDCF",
    "minDCF",
    "minCllr",
    "actDCF",
    "Cllr",
    "actDCF_raw",
    "Cllr_raw",
    "calibrated",
)

# The conditions each evaluation set is broken down by.
BREAKDOWNS = {
    # channel and codec: the mini corpus's conditions (read_conditions)
    "asvspoof2019_la_eval": ["attack", "channel", "codec", "codec_kbps"],
    "asvspoof2021_la": ["attack", "codec", "transmission"],
    "asvspoof2021_df": ["attack", "compression", "source", "vocoder"],
    "asvspoof5_eval": ["attack", "codec", "codec_q"],  # training recipe
    "asvspoof5": ["attack", "codec", "codec_q"],  # evaluate.py
    "in_the_wild": ["speaker", "channel", "codec", "codec_kbps"],
    "for_norm": [],  # FoR labels only the class: no speaker, no system
    # the real-world set's held-out part: synthetic family, real source, codec
    "real_world_eval": ["attack", "source", "codec"],
}

# What a report keeps of the set the calibration is fitted on (dev): its
# headline metrics. It is not an evaluation set: no plots, no breakdown.
CALIBRATION_SET_KEYS = (
    "EER",
    "threshold",
    "trials",
    "bonafide",
    "spoof",
    "cross_class_ties",
    "EER_tie_robust",
    *METRIC_KEYS,
)

# The metrics of each set in the training log's final summary.
SUMMARY_KEYS = ("EER", "minDCF", "actDCF", "Cllr", "Cllr_raw")


def audio_lengths(entries, data_root, num_samples=None):
    """Number of samples each manifest entry will have once read.

    Reads only the file headers.

    Arguments
    ---------
    entries : dict
        Manifest ``{id: {"wav": path with {data_root}, ...}}``.
    data_root : str
        Substituted for ``{data_root}``.
    num_samples : int or None
        Crop length (every item has it when given: short clips are tiled).

    Returns
    -------
    list of int
        In ``entries`` order.
    """
    if num_samples:
        return [num_samples] * len(entries)
    lengths = []
    for entry in entries.values():
        path = entry["wav"].replace("{data_root}", data_root)
        try:
            lengths.append(soundfile.info(path).frames)
        except Exception:  # unreadable: the pipeline reports it when read
            lengths.append(0)
    return lengths


def read_asv_scores(path):
    """Read an ASVspoof ASV score file into target, non-target and spoof scores.

    Lines end with ``KEY SCORE``, ``KEY`` being ``target``, ``nontarget`` or
    ``spoof`` (e.g. the 2019 LA ``ASVspoof2019.LA.asv.eval.gi.trl.scores.txt``:
    ``LA_0039 - target 2.513``).

    Arguments
    ---------
    path : str
        ASV score file.

    Returns
    -------
    tar, non, spoof : list of float

    Example
    -------
    >>> import tempfile
    >>> path = tempfile.mktemp()
    >>> _ = open(path, "w").write("LA_1 - target 2.0\\nLA_1 A07 spoof 0.5\\nLA_2 - nontarget -1\\n")
    >>> read_asv_scores(path)
    ([2.0], [-1.0], [0.5])
    """
    groups = {"target": [], "nontarget": [], "spoof": []}
    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, start=1):
            fields = line.split()
            if not fields:
                continue
            if len(fields) < 2 or fields[-2] not in groups:
                raise ValueError(
                    f"{path}:{number}: expected '... target|nontarget|spoof SCORE', "
                    f"got {line.strip()!r}"
                )
            try:
                groups[fields[-2]].append(float(fields[-1]))
            except ValueError:
                raise ValueError(f"{path}:{number}: bad score {fields[-1]!r}") from None
    return groups["target"], groups["nontarget"], groups["spoof"]


def report_scores(
    name,
    scores,
    entries,
    out_dir,
    group_by=None,
    asv_score_file=None,
    plots=True,
    calibration=None,
):
    """EER, min t-DCF, per-condition breakdown and plots of one scored set.

    Arguments
    ---------
    name : str
        Set name; outputs are ``<out_dir>/<name>_breakdown.md``,
        ``<name>_det.png`` and ``<name>_scores.png``.
    scores : dict
        ``{trial_id: score}``.
    entries : dict
        The set's manifest ``{trial_id: {"label", <conditions>...}}``.
        Trials without a score (audio skipped as unreadable) are counted in
        ``unscored`` and left out.
    out_dir : str
        Output folder.
    group_by : list of str, optional
        Conditions to break the EER down by; defaults to ``BREAKDOWNS[name]``
        (the condition keys present in the manifest).
    asv_score_file : str, optional
        ASV scores; with them the min t-DCF is computed as the ASVspoof
        2019/2021 LA evaluation does.
    plots : bool
        Draw the DET curve and the score histograms.
    calibration : dpda.calibration.Calibration, optional
        The detector's calibration, for actDCF and Cllr on LLRs.

    Returns
    -------
    dict
        ``EER`` (%), ``threshold``, trial counts, ``min_tDCF`` (or None),
        the ASVspoof 5 metrics of :func:`detection_metrics`, paths of the
        breakdown and plots, and ``breakdown`` rows.
    """
    os.makedirs(out_dir, exist_ok=True)
    scored = {k: v for k, v in entries.items() if k in scores}
    trials = scores_to_trials(scores, scored)
    bona, spoof = split_by_label(scores, scored)
    report = eer_report(bona, spoof)
    eer, threshold = report["EER"], report["threshold"]
    ties = warn_ties(report, name)
    result = {
        "EER": 100 * eer,
        "threshold": threshold,
        "cross_class_ties": report["cross_class_ties"],
        "EER_tie_robust": 100 * report["EER_tie_robust"],
        "trials": len(trials),
        "bonafide": len(bona),
        "spoof": len(spoof),
        "unscored": len(entries) - len(scored),
        "min_tDCF": None,
    }
    if asv_score_file:
        rates = asv_error_rates(*read_asv_scores(asv_score_file))[:3]
        result["min_tDCF"] = compute_min_tdcf(bona, spoof, *rates)[0]
    result.update(detection_metrics(bona, spoof, calibration))

    if group_by is None:
        group_by = BREAKDOWNS.get(name, [])
    group_by = [g for g in group_by if trials and g in trials[0]]
    lines = [f"# {format_metrics(name, result)} ({len(trials)} trials)", ""]
    if ties:
        lines += [ties + ".", ""]
    breakdown = {}
    for key in group_by:
        rows = summarize(trials, key)
        breakdown[key] = rows
        lines += [
            f"## EER (%) and minDCF per {key}",
            "",
            format_table(rows, floatfmt={"minDCF": ".4f"}),
            "",
        ]
    result["breakdown"] = breakdown
    result["breakdown_file"] = os.path.join(out_dir, f"{name}_breakdown.md")
    with open_atomic(result["breakdown_file"]) as f:
        f.write("\n".join(lines))
    if plots:
        result["det_plot"] = plot_det_curve(
            {name: (bona, spoof)}, os.path.join(out_dir, f"{name}_det.png"), title=name
        )
        result["score_plot"] = plot_score_histograms(
            bona,
            spoof,
            os.path.join(out_dir, f"{name}_scores.png"),
            threshold=threshold,
            title=f"{name}: scores per class (EER threshold)",
        )
        if calibration is not None:
            result["reliability_plot"] = plot_reliability(
                {name: (calibration.llr(bona), calibration.llr(spoof))},
                os.path.join(out_dir, f"{name}_reliability.png"),
                title=f"{name}: calibrated LLRs ({calibration.fitted_on})",
            )
    return result


def report_evaluation(
    sets,
    out_dir,
    calibration=None,
    fit_calibration_on=None,
    conditions=None,
    asv_score_files=None,
    train_logger=None,
):
    """The report of a detector's score files, for ``train.py`` and ``evaluate.py``.

    Every set is reported by :func:`report_scores` from its score file and
    its manifest, in order; the evaluation sets' headline lines are printed
    (EER, score file, breakdown file, :func:`format_metrics`).

    Arguments
    ---------
    sets : dict
        ``{name: {"score_file": path, "manifest": path, ...}}``, in report
        order; every field given (e.g. the evaluation ``loss``) is kept in
        the set's result.
    out_dir : str
        Folder of the breakdowns and plots.
    calibration : dpda.calibration.Calibration, optional
        The detector's map to LLRs (``evaluate.py``).
    fit_calibration_on : str, optional
        The set (``dev``) to fit the calibration on (``train.py``): its result
        keeps :data:`CALIBRATION_SET_KEYS`, the fitted ``calibration`` and a
        ``reliability_plot`` of every set's LLRs.
    conditions : dict, optional
        ``{name: {trial_id: {condition: value}}}`` added to the manifests'
        entries (the mini corpus's channel and codec).
    asv_score_files : dict, optional
        ``{name: ASV score file}``: the sets whose min t-DCF is computed.
    train_logger : speechbrain.utils.train_logger.TrainLogger, optional
        Logs a ``Final summary`` of :data:`SUMMARY_KEYS` per set.

    Returns
    -------
    dict
        ``{name: result}``, the content of ``eval_results.json``.

    Example
    -------
    >>> import json, tempfile
    >>> folder = tempfile.mkdtemp()
    >>> score_file, manifest = f"{folder}/dev.txt", f"{folder}/dev.json"
    >>> _ = open(score_file, "w").write("a 2.0\\nb 1.0\\nc -1.0\\nd 0.5\\n")
    >>> labels = {"a": "bonafide", "b": "bonafide", "c": "spoof", "d": "spoof"}
    >>> json.dump({k: {"label": v} for k, v in labels.items()}, open(manifest, "w"))
    >>> sets = {"dev": {"score_file": score_file, "manifest": manifest, "loss": 0.3}}
    >>> results = report_evaluation(sets, folder, fit_calibration_on="dev")
    >>> dev = results["dev"]
    >>> dev["EER"], dev["trials"], dev["loss"], sorted(dev["calibration"])
    (0.0, 4, 0.3, ['fitted_on', 'offset', 'prior', 'scale'])
    """
    if calibration is not None and fit_calibration_on is not None:
        raise ValueError("give a calibration or a set to fit one on, not both")
    scored = {
        name: _read_scored_set(fields, (conditions or {}).get(name, {}))
        for name, fields in sets.items()
    }
    if fit_calibration_on is not None:
        calibration = calibrate_on(*scored[fit_calibration_on], fit_calibration_on)
    results = {}
    for name, (scores, entries) in scored.items():
        fitted = name == fit_calibration_on
        report = report_scores(
            name,
            scores,
            entries,
            out_dir,
            asv_score_file=(asv_score_files or {}).get(name),
            plots=not fitted,
            calibration=calibration,
        )
        if fitted:
            report = {k: report[k] for k in CALIBRATION_SET_KEYS}
            report["calibration"] = calibration.to_dict()
        results[name] = {**report, **sets[name]}
    if fit_calibration_on is not None:
        # Is the dev calibration calibrated elsewhere? One figure for all sets.
        labelled = {name: split_by_label(*pair) for name, pair in scored.items()}
        results[fit_calibration_on]["reliability_plot"] = plot_reliability(
            {
                n: (calibration.llr(b), calibration.llr(s))
                for n, (b, s) in labelled.items()
            },
            os.path.join(out_dir, "reliability.png"),
            title=f"LLRs calibrated on {fit_calibration_on}",
        )
    for name, result in results.items():
        _print_summary(name, result, name == fit_calibration_on, train_logger)
    return results


def _read_scored_set(fields, conditions):
    """The scores and the manifest entries (with ``conditions``) of a set."""
    scores = read_score_file(fields["score_file"])
    with open(fields["manifest"], encoding="utf-8") as f:
        entries = json.load(f)
    for utt_id, condition in conditions.items():
        if utt_id in entries:
            entries[utt_id].update(condition)
    return scores, entries


def _print_summary(name, result, fitted, train_logger):
    """The final summary of a set in the train log; its lines on the terminal."""
    if train_logger is not None:
        train_logger.log_stats(
            stats_meta={"Final summary": name},
            test_stats={k: result[k] for k in SUMMARY_KEYS},
        )
    if fitted:
        return
    tdcf = result["min_tDCF"]
    tdcf = f", min t-DCF {tdcf:.4f}" if tdcf is not None else ""
    print(
        f"EER {name}: {result['EER']:.2f}%{tdcf} ({result['trials']} trials) "
        f"-> {result['score_file']}\nBreakdown: {result['breakdown_file']}"
    )
    print(format_metrics(name, result))


def detection_metrics(bona, spoof, calibration=None, cost_model=None):
    """The ASVspoof 5 metrics of one score set, raw and calibrated.

    Arguments
    ---------
    bona, spoof : array_like
        Raw scores of the bona fide and spoofed trials.
    calibration : dpda.calibration.Calibration, optional
        The detector's map to LLRs (fitted on dev).
    cost_model : dict, optional
        ``p_spoof``, ``c_miss``, ``c_fa``; default ASVspoof 5's.

    Returns
    -------
    dict
        ``minDCF`` (calibration-free), ``minCllr`` (bits, after the best
        monotonic map), ``actDCF_raw`` and ``Cllr_raw`` (the raw scores read
        as LLRs, which they are not), ``actDCF`` and ``Cllr`` (calibrated
        LLRs; ``None`` without a calibration) and ``calibrated``.

    Example
    -------
    >>> from dpda.calibration import Calibration
    >>> cal = Calibration(scale=1.0, offset=0.0, prior=0.5)
    >>> m = detection_metrics([3.0, 2.0], [-2.0, -1.0], cal)
    >>> m["minDCF"], m["actDCF"], m["actDCF"] == m["actDCF_raw"]
    (0.0, 0.0, True)
    """
    cost = dict(cost_model or ASVSPOOF5_COST_MODEL)
    result = {
        "minDCF": compute_min_dcf(bona, spoof, **cost)[0],
        "minCllr": compute_min_cllr(bona, spoof),
        "actDCF_raw": compute_act_dcf(bona, spoof, **cost)[0],
        "Cllr_raw": compute_cllr(bona, spoof),
        "actDCF": None,
        "Cllr": None,
        "calibrated": calibration is not None,
    }
    if calibration is not None:
        llr_bona, llr_spoof = calibration.llr(bona), calibration.llr(spoof)
        result["actDCF"] = compute_act_dcf(llr_bona, llr_spoof, **cost)[0]
        result["Cllr"] = compute_cllr(llr_bona, llr_spoof)
    return result


def calibrate_on(scores, entries, name="dev", prior=None):
    """Fit the score calibration on a scored set (normally dev).

    Arguments
    ---------
    scores : dict
        ``{trial_id: raw score}``.
    entries : dict
        The set's manifest (``label`` per trial).
    name : str
        The set's name, kept in the calibration's ``fitted_on``.
    prior : float, optional
        Effective prior of bona fide (default: ASVspoof 5's).

    Returns
    -------
    dpda.calibration.Calibration
        The fitted map.
    """
    bona, spoof = split_by_label(scores, entries)
    return fit_calibration(
        bona,
        spoof,
        prior=prior,
        fitted_on=f"{name}: {len(bona)} bona fide, {len(spoof)} spoof trials",
    )


def format_metrics(name, result):
    """One line of a set's headline metrics, for logs and terminals.

    Example
    -------
    >>> print(format_metrics("x", {"EER": 1.5, "minDCF": 0.04, "actDCF": 0.05,
    ...     "Cllr": 0.2, "actDCF_raw": 0.9, "Cllr_raw": 1.4, "min_tDCF": None}))
    x: EER 1.50%, minDCF 0.0400, actDCF 0.0500, Cllr 0.200 bits (raw scores as LLRs: actDCF 0.9000, Cllr 1.400)
    """
    text = f"{name}: EER {result['EER']:.2f}%"
    if result.get("min_tDCF") is not None:
        text += f", min t-DCF {result['min_tDCF']:.4f}"
    text += f", minDCF {result['minDCF']:.4f}"
    if result.get("Cllr") is not None:
        text += f", actDCF {result['actDCF']:.4f}, Cllr {result['Cllr']:.3f} bits"
    else:
        text += " (not calibrated)"
    text += (
        f" (raw scores as LLRs: actDCF {result['actDCF_raw']:.4f},"
        f" Cllr {result['Cllr_raw']:.3f})"
    )
    return text


def write_results(path, results):
    """Write the results dictionary as JSON, atomically."""
    write_json_atomic(results, path, default=float)
