"""Scoring evaluation sets and reporting them the ASVspoof way.

Both the training recipe (after training) and ``recipes/InTheWild/evaluate.py``
(a trained experiment or a pretrained model on In-the-Wild, FoR or ASVspoof
2021) go through these functions: batched scoring with length buckets, the official
``UTT_ID SCORE`` file, EER with its threshold, min t-DCF when the ASV error
rates are known, an EER breakdown per condition, a DET plot and score
histograms.

Authors
 * dpda contributors 2026
"""

import logging
import os

import soundfile
import torch
from speechbrain.dataio.batch import PaddedBatch
from tqdm import tqdm

from dpda.data.manifest import open_atomic, write_json_atomic
from dpda.metrics import (
    asv_error_rates,
    compute_min_tdcf,
    describe_ties,
    eer_report,
    format_table,
    scores_to_trials,
    summarize,
)
from dpda.plots import plot_det_curve, plot_score_histograms

logger = logging.getLogger(__name__)

BONAFIDE_INDEX = 1

# The conditions each evaluation set is broken down by.
BREAKDOWNS = {
    "asvspoof2019_la_eval": ["attack"],
    "asvspoof2021_la": ["attack", "codec", "transmission"],
    "asvspoof2021_df": ["attack", "compression", "source", "vocoder"],
    "in_the_wild": ["speaker"],
    "for_norm": [],  # FoR labels only the class: no speaker, no system
}


def length_sorted_batches(lengths, batch_size):
    """Group item indices into batches of similar length (longest first).

    Padding is what makes batched scoring of whole files slow and, with some
    models, slightly different from scoring each file alone; sorting by
    length keeps it to a minimum.

    Arguments
    ---------
    lengths : list of int
        Length of each item.
    batch_size : int
        Items per batch.

    Returns
    -------
    list of list of int
        Index batches, for a DataLoader's ``batch_sampler``.

    Example
    -------
    >>> length_sorted_batches([5, 50, 7, 49, 6], 2)
    [[1, 3], [2, 4], [0]]
    """
    order = sorted(range(len(lengths)), key=lambda i: (-lengths[i], i))
    return [order[i : i + batch_size] for i in range(0, len(order), batch_size)]


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


@torch.no_grad()
def score_dataset(
    model,
    dataset,
    batch_size=32,
    num_workers=0,
    device="cpu",
    lengths=None,
    collate_fn=None,
    progress=True,
    precision=None,
):
    """Score every item of a dataset with a countermeasure.

    Arguments
    ---------
    model : torch.nn.Module
        ``model(wavs, relative_lengths) -> logits [B, 2]``; the score is the
        bona fide logit (higher = more bona fide).
    dataset : torch.utils.data.Dataset
        Items with ``id`` and ``sig`` (e.g. from
        :func:`dpda.data.pipelines.load_manifest`).
    batch_size : int
        Items per forward pass.
    num_workers : int
        DataLoader workers that read the audio.
    device : str
        Where the model runs.
    lengths : list of int, optional
        Item lengths: batches are then built from items of similar length.
    collate_fn : callable, optional
        Defaults to ``PaddedBatch``; a skipping collate may return ``None``
        for a batch whose audio was all unreadable.
    progress : bool
        Show a progress bar.
    precision : torch.dtype, optional
        Autocast dtype (e.g. ``torch.bfloat16``); ``None`` for full precision.

    Returns
    -------
    ids : list of str
    scores : list of float

    Example
    -------
    >>> class Energy(torch.nn.Module):
    ...     def forward(self, wavs, lengths=None):
    ...         e = wavs.pow(2).mean(dim=1)
    ...         return torch.stack([-e, e], dim=1)
    >>> data = [{"id": f"u{i}", "sig": torch.full((4,), float(i))} for i in range(3)]
    >>> score_dataset(Energy(), data, batch_size=2, progress=False)
    (['u0', 'u1', 'u2'], [0.0, 1.0, 4.0])
    """
    collate_fn = collate_fn or PaddedBatch
    if lengths is not None:
        loader = torch.utils.data.DataLoader(
            dataset,
            batch_sampler=length_sorted_batches(lengths, batch_size),
            num_workers=num_workers,
            collate_fn=collate_fn,
        )
    else:
        loader = torch.utils.data.DataLoader(
            dataset,
            batch_size=batch_size,
            num_workers=num_workers,
            collate_fn=collate_fn,
        )
    model.eval()
    device_type = torch.device(device).type
    ids, scores = [], []
    for batch in tqdm(loader, disable=not progress, desc="scoring"):
        if batch is None:
            continue
        wavs, lens = batch.sig
        with torch.autocast(
            device_type, dtype=precision, enabled=precision is not None
        ):
            logits = model(wavs.to(device), lens.to(device))
        scores.extend(logits[:, BONAFIDE_INDEX].float().cpu().tolist())
        ids.extend(batch.id)
    return ids, scores


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
    name, scores, entries, out_dir, group_by=None, asv_score_file=None, plots=True
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

    Returns
    -------
    dict
        ``EER`` (%), ``threshold``, trial counts, ``min_tDCF`` (or None),
        paths of the breakdown and plots, and ``breakdown`` rows.
    """
    os.makedirs(out_dir, exist_ok=True)
    scored = {k: v for k, v in entries.items() if k in scores}
    trials = scores_to_trials(scores, scored)
    bona = [t["score"] for t in trials if t["label"] == "bonafide"]
    spoof = [t["score"] for t in trials if t["label"] != "bonafide"]
    report = eer_report(bona, spoof)
    eer, threshold = report["EER"], report["threshold"]
    ties = describe_ties(report, name)
    if ties:
        logger.warning(ties)
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

    if group_by is None:
        group_by = BREAKDOWNS.get(name, [])
    group_by = [g for g in group_by if trials and g in trials[0]]
    lines = [f"# {name}: EER {result['EER']:.2f}% ({len(trials)} trials)", ""]
    if ties:
        lines += [ties + ".", ""]
    breakdown = {}
    for key in group_by:
        rows = summarize(trials, key)
        breakdown[key] = rows
        lines += [f"## EER (%) per {key}", "", format_table(rows), ""]
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
    return result


def write_results(path, results):
    """Write the results dictionary as JSON, atomically."""
    write_json_atomic(results, path, default=float)
