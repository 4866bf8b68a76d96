"""Ablation studies: run a grid of hparams files, overrides and seeds, collect
the results into one table.

A study is a small YAML file (plain YAML, no HyperPyYAML tags)::

    name: mini_study
    output_folder: results/mini_study    # relative to the recipe folder
    baseline: baseline                   # row for the relative EER change
    seeds: [2, 3, 1986]                  # default seeds of every run
    overrides: {}                        # applied to every run
    breakdown: []                        # conditions paired too, e.g. [attack, codec]
    runs:
      - name: baseline
        hparams: ../mini_baseline_rawboost.yaml   # relative to this file
      - name: dpda_pcgrad
        hparams: ../mini_dpda_rawboost.yaml
        overrides: {aligner: pcgrad}
      - name: dpda_gradvac
        hparams: ../mini_dpda_rawboost.yaml
        overrides: {aligner: gradvac}
        seeds: [1986]

Each (run, seed) trains with ``train.py <hparams> --seed=S
--output_folder=<study>/<run>/<S> --key=value...`` in its own process. A run
whose ``eval_results.json`` and ``run_info.json`` exist is finished and not
redone; an interrupted one resumes from its last checkpoint. The collection
reads every run's ``train_log.txt``, ``eval_results.json``,
``alignment_stats.csv`` and ``run_info.json``.

Authors
 * dpda contributors 2026
"""

import csv
import json
import logging
import math
import os
import queue
import re
import statistics
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field

import yaml

from dpda.files import open_atomic, write_json_atomic
from dpda.labels import split_by_label
from dpda.paired import (
    conflicts_by_epoch,
    paired_markdown,
    run_references,
    study_pairs,
)

logger = logging.getLogger(__name__)

RUN_INFO = "run_info.json"


@dataclass
class Run:
    """One training run of a study."""

    name: str
    hparams: str
    seed: int
    overrides: dict = field(default_factory=dict)
    output_folder: str = ""

    def command(self, train_script="train.py"):
        """The ``train.py`` command line of this run."""
        args = [sys.executable, train_script, self.hparams, f"--seed={self.seed}"]
        args.append(f"--output_folder={self.output_folder}")
        for key, value in self.overrides.items():
            args.append(f"--{key}={_cli_value(value)}")
        return args

    @property
    def finished(self):
        """Whether the run completed (evaluation and run info written)."""
        return all(
            os.path.exists(os.path.join(self.output_folder, f))
            for f in ("eval_results.json", RUN_INFO)
        )


def _cli_value(value):
    if isinstance(value, bool):
        return str(value)
    if value is None:
        return "null"
    if isinstance(value, (list, dict)):
        return json.dumps(value)
    return str(value)


def load_study(path, seeds=None, only=None, root=None):
    """Read a study file into its runs.

    Arguments
    ---------
    path : str
        The study YAML file.
    root : str, optional
        Folder the study's ``output_folder`` is relative to (the recipe
        folder); default: as written.
    seeds : list of int, optional
        Replace every run's seeds (e.g. a quick check with one seed).
    only : list of str, optional
        Keep only these run names.

    Returns
    -------
    study : dict
        The parsed file (``name``, ``output_folder``, ``baseline``...).
    runs : list of Run
        One per (run, seed), in file order.

    Example
    -------
    >>> import tempfile
    >>> folder = tempfile.mkdtemp()
    >>> for name in ("a.yaml", "b.yaml"):
    ...     _ = open(os.path.join(folder, name), "w").write("seed: 1\\n")
    >>> path = os.path.join(folder, "study.yaml")
    >>> _ = open(path, "w").write('''
    ... name: s
    ... output_folder: out
    ... seeds: [1, 2]
    ... runs:
    ...   - {name: a, hparams: a.yaml}
    ...   - {name: b, hparams: b.yaml, seeds: [3], overrides: {lr: 0.1}}
    ... ''')
    >>> _, runs = load_study(path)
    >>> [(r.name, r.seed, r.overrides) for r in runs]
    [('a', 1, {}), ('a', 2, {}), ('b', 3, {'lr': 0.1})]
    """
    with open(path, encoding="utf-8") as f:
        study = yaml.safe_load(f)
    for key in ("name", "output_folder", "runs"):
        if key not in study:
            raise ValueError(f"{path}: the study needs a '{key}' entry")
    base_dir = os.path.dirname(os.path.abspath(path))
    if root is not None:
        study["output_folder"] = os.path.join(root, study["output_folder"])
    names = [r.get("name") for r in study["runs"]]
    if len(set(names)) != len(names) or None in names:
        raise ValueError(f"{path}: every run needs a unique name, got {names}")
    if study.get("baseline") and study["baseline"] not in names:
        raise ValueError(f"{path}: baseline {study['baseline']!r} is not a run name")
    for spec in study["runs"]:
        for reference in run_references(spec):
            if reference not in names:
                raise ValueError(
                    f"{path}: run {spec['name']}: reference {reference!r} "
                    "is not a run name"
                )
    runs = []
    for spec in study["runs"]:
        if only and spec["name"] not in only:
            continue
        hparams = os.path.normpath(os.path.join(base_dir, spec["hparams"]))
        if not os.path.exists(hparams):
            raise FileNotFoundError(f"{path}: run {spec['name']}: no file {hparams}")
        overrides = {**(study.get("overrides") or {}), **(spec.get("overrides") or {})}
        for seed in seeds or spec.get("seeds") or study.get("seeds") or [1986]:
            runs.append(
                Run(
                    name=spec["name"],
                    hparams=hparams,
                    seed=int(seed),
                    overrides=overrides,
                    output_folder=os.path.join(
                        study["output_folder"], spec["name"], str(seed)
                    ),
                )
            )
    return study, runs


def execute(runs, cwd, devices=None, train_script="train.py"):
    """Run every unfinished run, one at a time per device.

    Arguments
    ---------
    runs : list of Run
        The runs; finished ones are skipped.
    cwd : str
        The recipe folder (where ``train_script`` is).
    devices : list of str, optional
        E.g. ``["cuda:0", "cuda:1"]``: one run per device at a time. Default:
        sequential runs on the recipe's default device.
    train_script : str
        The training script.

    Returns
    -------
    dict
        ``{"ran": n, "skipped": n, "failed": [(run name, seed, log path)]}``.
    """
    todo = queue.Queue()
    summary = {"ran": 0, "skipped": 0, "failed": []}
    for run in runs:
        if run.finished:
            logger.info("%s seed %d: finished, not redone", run.name, run.seed)
            summary["skipped"] += 1
        else:
            todo.put(run)
    lock = threading.Lock()

    def worker(device):
        """Run queued runs one after the other on ``device``."""
        while True:
            try:
                run = todo.get_nowait()
            except queue.Empty:
                return
            ok, log_path = _execute_one(run, cwd, device, train_script)
            with lock:
                summary["ran"] += 1
                if not ok:
                    summary["failed"].append((run.name, run.seed, log_path))

    threads = [threading.Thread(target=worker, args=(d,)) for d in devices or [None]]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return summary


def _execute_one(run, cwd, device, train_script):
    folder = os.path.join(cwd, run.output_folder)
    os.makedirs(folder, exist_ok=True)
    command = run.command(train_script)
    if device:
        command.append(f"--device={device}")
    log_path = os.path.join(folder, "stdout.log")
    logger.info("%s seed %d: %s", run.name, run.seed, " ".join(command[1:]))
    start = time.time()
    with open(log_path, "a", encoding="utf-8") as log:
        code = subprocess.call(command, cwd=cwd, stdout=log, stderr=subprocess.STDOUT)
    wall = time.time() - start
    if code != 0:
        logger.error(
            "%s seed %d failed (exit %d), see %s", run.name, run.seed, code, log_path
        )
        return False, log_path
    info = {"wall_s": wall, "command": command[1:], "device": device}
    previous = os.path.join(folder, RUN_INFO)
    if os.path.exists(previous):  # resumed: count the earlier attempts too
        with open(previous, encoding="utf-8") as f:
            info["wall_s"] += json.load(f).get("wall_s", 0.0)
    write_json_atomic(info, previous)
    return True, log_path


# --------------------------------------------------------------- collection
_EPOCH_LINE = re.compile(r"^epoch: (\d+)")


def parse_train_log(path):
    """Per-epoch statistics from a SpeechBrain ``train_log.txt``.

    Arguments
    ---------
    path : str
        The log written by ``FileTrainLogger``.

    Returns
    -------
    list of dict
        One per epoch line: ``epoch``, ``lr`` and ``train_*`` / ``valid_*``
        statistics as floats. A resumed run that logged an epoch twice keeps
        the last line.

    Example
    -------
    >>> import tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "log.txt")
    >>> _ = open(path, "w").write(
    ...     "epoch: 1, lr: 1.00e-03 - train loss: 5.00e-01, train conflict_rate: 0.25"
    ...     " - valid loss: 4.00e-01, valid EER: 20.00\\n"
    ...     "Evaluation set: dev, Epoch loaded: 1 - test loss: 0.4, test EER: 20.0\\n")
    >>> parse_train_log(path)
    [{'epoch': 1, 'lr': 0.001, 'train_loss': 0.5, 'train_conflict_rate': 0.25, 'valid_loss': 0.4, 'valid_EER': 20.0}]
    """
    epochs = {}
    with open(path, encoding="utf-8") as f:
        for line in f:
            match = _EPOCH_LINE.match(line)
            if not match:
                continue
            row = {}
            for part in line.strip().split(" - "):
                for item in part.split(", "):
                    key, _, value = item.partition(": ")
                    key = key.strip().replace(" ", "_")
                    try:
                        row[key] = float(value)
                    except ValueError:
                        row[key] = value
            row["epoch"] = int(match.group(1))
            epochs[row["epoch"]] = row
    return [epochs[e] for e in sorted(epochs)]


def collect_run(run_folder):
    """The figures of one finished run.

    Arguments
    ---------
    run_folder : str
        ``<study>/<run>/<seed>``.

    Returns
    -------
    dict
        ``epochs`` (per-epoch rows), ``best_epoch`` and ``best_dev_loss``
        (lowest dev loss), ``EER_<set>`` for each evaluation set,
        ``conflict_rate`` and ``cosine`` over all steps (DPDA runs; with
        more than two paths also ``pair_conflict_rate_<a>_<b>``; NaN
        otherwise), ``wall_s``.
    """
    epochs = parse_train_log(os.path.join(run_folder, "train_log.txt"))
    with open(os.path.join(run_folder, "eval_results.json"), encoding="utf-8") as f:
        results = json.load(f)
    with open(os.path.join(run_folder, RUN_INFO), encoding="utf-8") as f:
        info = json.load(f)
    row = {"epochs": epochs, "wall_s": float(info.get("wall_s", math.nan))}
    valid = [(e["valid_loss"], e["epoch"]) for e in epochs if "valid_loss" in e]
    best_loss, best_epoch = min(valid) if valid else (math.nan, math.nan)
    row.update(best_epoch=best_epoch, best_dev_loss=best_loss, epochs_run=len(epochs))
    for name, result in results.items():
        if isinstance(result, dict) and "EER" in result and name != "dev":
            row[f"EER_{name}"] = float(result["EER"])
            # Trials tied across classes (0: the EER does not depend on ties).
            row[f"ties_{name}"] = float(result.get("cross_class_ties", math.nan))
            row.update(_condition_eers(name, result.get("breakdown") or {}))
    stats = os.path.join(run_folder, "alignment_stats.csv")
    row["conflict_rate"] = row["cosine"] = math.nan
    if os.path.exists(stats):
        with open(stats, encoding="utf-8") as f:
            steps = list(csv.DictReader(f))
        if steps:
            row["conflict_rate"] = sum(int(s["conflict"]) for s in steps) / len(steps)
            # More than two paths: the conflict rate of every pair too.
            pair_keys = [k for k in steps[0] if k.startswith("conflict_")]
            for key in pair_keys if len(pair_keys) > 1 else []:
                pair = key[len("conflict_") :]
                row[f"pair_conflict_rate_{pair}"] = sum(
                    int(s[key]) for s in steps
                ) / len(steps)
            row["cosine"] = sum(float(s["cosine"]) for s in steps) / len(steps)
    return row


def _condition_eers(name, breakdown):
    """The EER of every condition of a set's breakdown, by column name.

    ``codecEER_<set>_<codec>`` per codec (the mini corpus's codec channels,
    :func:`codec_markdown_table`) and ``condEER_<set>/<key>=<value>`` per
    value of every other condition (attack, real source, ...), which a
    study's ``breakdown`` list adds to the paired report.

    Example
    -------
    >>> rows = {"source": [{"source": "vctk", "EER": 5.0}, {"source": "pooled", "EER": 4.0}]}
    >>> _condition_eers("rw", rows)
    {'condEER_rw/source=vctk': 5.0}
    """
    out = {}
    for key, conditions in breakdown.items():
        for cond in conditions:
            if cond[key] == "pooled":
                continue
            column = f"condEER_{name}/{key}={cond[key]}"
            if key == "codec":
                column = f"codecEER_{name}_{cond[key]}"
            out[column] = float(cond["EER"])
    return out


def _mean_std(values):
    """Mean and sample standard deviation (NaN for fewer than two values)."""
    values = [v for v in values if not math.isnan(v)]
    if not values:
        return math.nan, math.nan
    std = statistics.stdev(values) if len(values) > 1 else math.nan
    return statistics.fmean(values), std


def aggregate(per_run, baseline=None):
    """Mean and standard deviation over seeds of every metric, per run name.

    Arguments
    ---------
    per_run : dict
        ``{run name: [collect_run() dict per seed]}``; a ``seed`` entry in
        the dicts pairs runs with the baseline's runs of the same seed.
    baseline : str, optional
        Run name against which ``rel_EER_<set>`` (relative EER change, in %)
        is computed: the run's mean EER over the seeds it shares with the
        baseline against the baseline's mean over the same seeds (a
        single-seed run is compared with the baseline's run of that seed,
        not with its mean over other seeds). ``rel_seeds`` counts them.

    Returns
    -------
    list of dict
        One row per run name: ``run``, ``seeds`` and ``<metric>_mean`` /
        ``<metric>_std`` (sample standard deviation, NaN for one seed).

    Example
    -------
    >>> rows = aggregate({"b": [{"seed": 1, "EER_x": 10.0}, {"seed": 2, "EER_x": 14.0}],
    ...                   "a": [{"seed": 2, "EER_x": 7.0}]}, baseline="b")
    >>> rows[0]["EER_x_mean"], round(rows[0]["EER_x_std"], 3), rows[1]["rel_EER_x"]
    (12.0, 2.828, -50.0)
    """
    metrics = sorted(
        {
            k
            for rows in per_run.values()
            for r in rows
            for k, v in r.items()
            if isinstance(v, (int, float)) and k != "seed"
        }
    )
    table = []
    for name, rows in per_run.items():
        out = {"run": name, "seeds": len(rows)}
        for metric in metrics:
            mean, std = _mean_std([float(r.get(metric, math.nan)) for r in rows])
            out[f"{metric}_mean"], out[f"{metric}_std"] = mean, std
        table.append(out)
    if baseline:
        base_by_seed = {r.get("seed"): r for r in per_run[baseline]}
        for row, rows in zip(table, per_run.values()):
            shared = [r for r in rows if r.get("seed") in base_by_seed]
            row["rel_seeds"] = len(shared)
            for metric in metrics:
                if not metric.startswith("EER_"):
                    continue
                ours = _mean_std([float(r.get(metric, math.nan)) for r in shared])[0]
                ref = _mean_std(
                    [
                        float(base_by_seed[r.get("seed")].get(metric, math.nan))
                        for r in shared
                    ]
                )[0]
                row[f"rel_{metric}"] = 100 * (ours - ref) / ref if shared else math.nan
    return table


def markdown_table(table, eval_sets, baseline=None):
    """The study table in Markdown: EERs (mean ± std), relative change,
    best epoch, conflict rate (with more than two paths, also per pair) and
    wall time per run.

    Arguments
    ---------
    table : list of dict
        From :func:`aggregate`.
    eval_sets : list of str
        Evaluation set names (``EER_<set>`` metrics).
    baseline : str, optional
        The reference row of the relative change (computed over the seeds
        each run shares with it, see :func:`aggregate`).

    Returns
    -------
    str
    """

    def pm(row, metric, fmt="{:.2f}"):
        """``mean ± std`` of a metric (``-`` when absent)."""
        mean, std = row[f"{metric}_mean"], row[f"{metric}_std"]
        if math.isnan(mean):
            return "-"
        return fmt.format(mean) + ("" if math.isnan(std) else " ± " + fmt.format(std))

    header = ["run", "seeds"]
    for name in eval_sets:
        header.append(f"EER {name} (%)")
        if baseline:
            header.append(f"vs {baseline}, same seeds")
    header += ["best epoch", "best dev loss", "conflict rate (%)"]
    prefix = "pair_conflict_rate_"
    pairs = sorted(
        {
            k[len(prefix) : -len("_mean")]
            for row in table
            for k in row
            if k.startswith(prefix) and k.endswith("_mean")
        }
    )
    if pairs:
        header.append("conflicts per pair (%)")
    header.append("wall (min)")
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in table:
        cells = [row["run"], str(row["seeds"])]
        for name in eval_sets:
            cells.append(pm(row, f"EER_{name}"))
            if baseline:
                rel = row.get(f"rel_EER_{name}", math.nan)
                cells.append("-" if row["run"] == baseline else f"{rel:+.1f}%")
        cells.append(pm(row, "best_epoch", "{:.1f}"))
        cells.append(pm(row, "best_dev_loss", "{:.3f}"))
        conflict = {
            k.replace("conflict_rate", "c"): 100 * v
            for k, v in row.items()
            if k.startswith("conflict_rate")
        }
        cells.append(pm(conflict, "c", "{:.1f}"))
        if pairs:
            cells.append(
                ", ".join(
                    f"{pair}: {100 * row[f'{prefix}{pair}_mean']:.1f}"
                    for pair in pairs
                    if not math.isnan(row.get(f"{prefix}{pair}_mean", math.nan))
                )
                or "-"
            )
        cells.append(f"{row['wall_s_mean'] / 60:.1f}")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def collect(study, runs):
    """Gather every finished run, write the tables, return them.

    Writes ``runs.csv`` (one row per run and seed), ``epochs.csv`` (one row
    per run, seed and epoch: train and dev loss, dev EER, conflict rate and
    cosine), ``summary.csv`` and ``summary.md`` (mean ± std per run) and
    ``paired.md`` (:func:`paired_report`) in the study's output folder.

    Arguments
    ---------
    study : dict
        From :func:`load_study`.
    runs : list of Run
        The study's runs (output folders relative to ``cwd`` already joined).

    Returns
    -------
    per_run : dict
        ``{run name: [collected rows]}`` of finished runs.
    table : list of dict
        From :func:`aggregate`.
    """
    per_run = {}
    flat = []
    for run in runs:
        if not run.finished:
            logger.warning("%s seed %d has not finished; left out", run.name, run.seed)
            continue
        row = {"seed": run.seed, **collect_run(run.output_folder)}
        per_run.setdefault(run.name, []).append(row)
        flat.append({"run": run.name, **row})
    if not per_run:
        raise RuntimeError("No finished run to collect")
    baseline = study.get("baseline") if study.get("baseline") in per_run else None
    table = aggregate(per_run, baseline)
    out = study["output_folder"]
    os.makedirs(out, exist_ok=True)
    _write_csv(
        os.path.join(out, "runs.csv"),
        [{k: v for k, v in r.items() if k != "epochs"} for r in flat],
    )
    epoch_rows = [e for r in flat for e in _epoch_rows(r)]
    _write_csv(os.path.join(out, "epochs.csv"), epoch_rows)
    _write_csv(os.path.join(out, "summary.csv"), table)
    eval_sets = sorted({k[4:] for r in flat for k in r if k.startswith("EER_")})
    with open(os.path.join(out, "summary.md"), "w", encoding="utf-8") as f:
        f.write(markdown_table(table, eval_sets, baseline) + "\n")
    codec_table = codec_markdown_table(table)
    if codec_table:
        with open(os.path.join(out, "summary_codec.md"), "w", encoding="utf-8") as f:
            f.write(codec_table + "\n")
    with open_atomic(os.path.join(out, "paired.md")) as f:
        f.write(paired_report(study, flat, epoch_rows))
    return per_run, table


def _epoch_rows(row):
    """The ``epochs.csv`` rows of one collected run."""
    return [{"run": row["run"], "seed": row["seed"], **e} for e in row["epochs"]]


def paired_report(study, rows, epoch_rows):
    """The paired per-seed comparisons and the conflict rate per epoch.

    Arguments
    ---------
    study : dict
        The parsed study file: every run is compared with its ``baseline``
        and with its own ``reference`` (:func:`dpda.paired.study_pairs`);
        with ``breakdown`` (condition keys, e.g. ``[attack, source,
        codec]``), on every value of those conditions too.
    rows : list of dict
        One row per run and seed (``runs.csv``).
    epoch_rows : list of dict
        One row per run, seed and epoch (``epochs.csv``).

    Returns
    -------
    str
        Markdown: the paired EER differences of every evaluation set, then
        the conflict rate per epoch of the DPDA runs.
    """
    names = list(dict.fromkeys(r["run"] for r in rows))
    metrics = sorted({k for r in rows for k in r if k.startswith("EER_")})
    # The study's conditions (its ``breakdown`` keys), set by set.
    keys = study.get("breakdown") or []
    metrics += sorted(
        {
            k
            for r in rows
            for k in r
            if (k.startswith("condEER_") and k.split("/")[-1].split("=")[0] in keys)
            or (k.startswith("codecEER_") and "codec" in keys)
        }
    )
    text = "## Paired per-seed EER differences (points; negative: system better)\n\n"
    text += paired_markdown(rows, study_pairs(study, names), metrics) + "\n"
    conflicts = conflicts_by_epoch(epoch_rows)
    if conflicts:
        text += "\n## Conflict rate per epoch (%, mean over seeds)\n\n"
        text += conflicts + "\n"
    return text


def codec_markdown_table(table):
    """EER per codec condition and evaluation set (mean ± std over seeds).

    Arguments
    ---------
    table : list of dict
        From :func:`aggregate`, with ``codecEER_<set>_<codec>`` metrics
        (runs on a corpus whose files carry a codec condition).

    Returns
    -------
    str
        The Markdown table, or ``""`` when no run has codec conditions.

    Example
    -------
    >>> row = {"run": "a", "seeds": 1, "codecEER_itw_mp3_mean": 20.0,
    ...        "codecEER_itw_mp3_std": math.nan}
    >>> print(codec_markdown_table([row]))
    | run | seeds | itw: mp3 |
    |---|---|---|
    | a | 1 | 20.00 |
    """
    keys = sorted(
        {
            k[len("codecEER_") : -len("_mean")]
            for row in table
            for k in row
            if k.startswith("codecEER_") and k.endswith("_mean")
        }
    )
    if not keys:
        return ""
    header = ["run", "seeds"] + ["{}: {}".format(*key.rsplit("_", 1)) for key in keys]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in table:
        cells = [row["run"], str(row["seeds"])]
        for key in keys:
            mean = row.get(f"codecEER_{key}_mean", math.nan)
            std = row.get(f"codecEER_{key}_std", math.nan)
            cell = "-" if math.isnan(mean) else f"{mean:.2f}"
            if not math.isnan(std):
                cell += f" ± {std:.2f}"
            cells.append(cell)
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def det_scores(runs, eval_set, seed):
    """Bona fide and spoof scores of one seed of every run, for DET plots.

    Arguments
    ---------
    runs : list of Run
        Finished runs.
    eval_set : str
        Evaluation set name.
    seed : int
        The seed to plot (scores of different seeds are not pooled: their
        scales differ).

    Returns
    -------
    dict
        ``{run name: (bona fide scores, spoof scores)}``.
    """
    from dpda.scores import read_score_file

    curves = {}
    for run in runs:
        if run.seed != seed or not run.finished:
            continue
        results = os.path.join(run.output_folder, "eval_results.json")
        with open(results, encoding="utf-8") as f:
            result = json.load(f).get(eval_set) or {}
        # The paths the run's report recorded (its manifest: the one its
        # prepare function returned).
        manifest, scores_path = result.get("manifest"), result.get("score_file")
        if not all(p and os.path.exists(p) for p in (manifest, scores_path)):
            continue
        with open(manifest, encoding="utf-8") as f:
            entries = json.load(f)
        curves[run.name] = split_by_label(read_score_file(scores_path), entries)
    return curves


def _write_csv(path, rows):
    fields = []
    for row in rows:
        fields += [k for k in row if k not in fields]
    with open_atomic(path, newline="") as f:
        writer = csv.DictWriter(f, fieldnames=fields)
        writer.writeheader()
        writer.writerows(rows)
