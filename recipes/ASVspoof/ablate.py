#!/usr/bin/env python3
"""Run an ablation study and collect its results into one table and plots.

A study file lists hparams files, overrides and seeds (see
:mod:`dpda.ablation`); each run trains with ``train.py`` in its own process,
finished runs are not redone, interrupted ones resume from their checkpoint.
The results go to ``<output_folder>/summary.md`` / ``summary.csv`` (mean ±
std over seeds, relative EER change against the baseline run), ``runs.csv``
(every run and seed) and ``eer.png``, ``dev_loss.png``, ``conflicts.png``,
``det_<set>.png`` (every run, on the seed they share)::

    cd recipes/ASVspoof
    python ablate.py hparams/ablations/mini_study.yaml
    python ablate.py hparams/ablations/mini_study.yaml --collect_only
    python ablate.py hparams/ablations/paper_study.yaml --devices cuda:0 cuda:1

Each run is compared seed by seed with the study's ``baseline`` and with its
own ``reference`` (``paired.md``: per-seed EER differences, wins k/n, mean ±
sd of the paired difference; the conflict rate per epoch). ``--from_csv``
prints that report again from a collected study folder's ``runs.csv`` and
``epochs.csv`` (e.g. the published ones in ``docs/``)::

    python ablate.py hparams/ablations/mini_study.yaml --from_csv ../../docs/mini_study

Authors
 * dpda contributors 2026
"""

import argparse
import csv
import logging
import os
import sys
import time

from dpda.ablation import collect, det_scores, execute, load_study, paired_report
from dpda.plots import plot_det_curve, plot_study

RECIPE = os.path.dirname(os.path.abspath(__file__))


def main(argv=None):
    """Parse the command line, run the study, write its table and plots."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("study", help="the study YAML file")
    parser.add_argument(
        "--seeds", type=int, nargs="+", help="replace every run's seeds"
    )
    parser.add_argument("--only", nargs="+", help="run names to keep")
    parser.add_argument("--devices", nargs="+", help="one run per device at a time")
    parser.add_argument("--collect_only", action="store_true", help="only collect")
    parser.add_argument(
        "--from_csv",
        metavar="FOLDER",
        help="only print the paired report of a collected study folder",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")

    study, runs = load_study(args.study, seeds=args.seeds, only=args.only, root=RECIPE)
    if args.from_csv:
        tables = {}
        for name in ("runs", "epochs"):
            path = os.path.join(args.from_csv, f"{name}.csv")
            with open(path, encoding="utf-8", newline="") as f:
                tables[name] = list(csv.DictReader(f))
        print(paired_report(study, tables["runs"], tables["epochs"]), end="")
        return 0
    start = time.time()
    if not args.collect_only:
        summary = execute(runs, cwd=RECIPE, devices=args.devices)
        logging.info(
            "%d runs trained, %d already finished, %d failed in %.1f min",
            summary["ran"],
            summary["skipped"],
            len(summary["failed"]),
            (time.time() - start) / 60,
        )
        for name, seed, log in summary["failed"]:
            logging.error("FAILED %s seed %d: see %s", name, seed, log)
    per_run, _ = collect(study, runs)
    eval_sets = sorted(
        {
            k[4:]
            for rows in per_run.values()
            for r in rows
            for k in r
            if k.startswith("EER_")
        }
    )
    plot_study(per_run, study["output_folder"], eval_sets)
    # DET curves of every run, on the seed they all share (if any).
    shared = set.intersection(*({r.seed for r in runs if r.name == n} for n in per_run))
    if shared:
        seed = max(shared)
        for name in eval_sets:
            curves = det_scores(runs, name, seed)
            if curves:
                plot_det_curve(
                    curves,
                    os.path.join(study["output_folder"], f"det_{name}.png"),
                    title=f"{name}, seed {seed}",
                )
    for table in ("summary.md", "paired.md"):
        with open(os.path.join(study["output_folder"], table), encoding="utf-8") as f:
            print(f.read())
    print(
        f"Study folder: {study['output_folder']} ({(time.time() - start) / 60:.1f} min)"
    )
    return 1 if not args.collect_only and summary["failed"] else 0


if __name__ == "__main__":
    sys.exit(main())
