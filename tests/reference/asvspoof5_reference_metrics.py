#!/usr/bin/env python3
"""Compute the ASVspoof 5 metrics with the official package: the test fixture.

Run once, by hand, to (re)make ``asvspoof5_reference_metrics.json``; the tests
(``tests/test_metrics_asvspoof5.py``) compare :mod:`dpda.metrics` with it.

The reference code is the challenge's own evaluation package:
``evaluation-package/calculate_modules.py`` of
https://github.com/asvspoof-challenge/asvspoof5 at commit
fe23d3053a0889b305d98c9e4cadf418c213d972 (``compute_eer``,
``compute_mindcf``, ``compute_actDCF``, ``calculate_CLLR``), called as its
``calculate_metrics.calculate_minDCF_EER_CLLR_actDCF`` does (P(spoof) 0.05,
Cmiss 1, Cfa 10).

Score sets:

* random sets from :func:`random_score_sets` (numpy's PCG64, seeded): normal
  scores of several sizes and class balances, scores rounded so that classes
  tie, and large-magnitude scores that stress Cllr;
* real scores of a real system: the CM scores of
  ``Tool-score-fusion/dev_scores_label.csv`` in the same repository (ASVspoof
  5 dev, 29,548 trials; labels 1.0 and 2.0 are bona fide target and
  non-target trials, 0.0 the spoofed ones, although that folder's README says
  3.0), kept verbatim as ``tests/data/asvspoof5_dev_cm_scores.txt.gz``
  (``SCORE LABEL`` lines, label ``bonafide`` or ``spoof``)::

    git clone https://github.com/asvspoof-challenge/asvspoof5
    git -C asvspoof5 checkout fe23d30
    python tests/reference/asvspoof5_reference_metrics.py --asvspoof5 asvspoof5

Authors
 * dpda contributors 2026
"""

import argparse
import csv
import gzip
import importlib.util
import json
import os
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
FIXTURE = os.path.join(HERE, "asvspoof5_reference_metrics.json")
REAL_SCORES = os.path.join(
    os.path.dirname(HERE), "data", "asvspoof5_dev_cm_scores.txt.gz"
)
SEED = 20261202
COST = {"p_spoof": 0.05, "c_miss": 1.0, "c_fa": 10.0}


def random_score_sets(seed=SEED):
    """Named ``(bona, spoof)`` score sets, reproducible from ``seed``.

    Arguments
    ---------
    seed : int
        Seed of numpy's PCG64 generator.

    Returns
    -------
    dict
        ``name -> (bona array, spoof array)``.

    Example
    -------
    >>> sets = random_score_sets()
    >>> sorted(sets)[:2], len(sets["normal_1k_5k"][1])
    (['extreme', 'normal_1k_5k'], 5000)
    """
    rng = np.random.Generator(np.random.PCG64(seed))
    sets = {
        "normal_1k_5k": (rng.normal(2, 1.5, 1000), rng.normal(-1, 2, 5000)),
        "normal_50k_20k": (rng.normal(1, 1, 50000), rng.normal(-1, 1.2, 20000)),
        "small_7_3": (rng.normal(0.5, 1, 7), rng.normal(0, 1, 3)),
        "overlapping": (rng.normal(0, 1, 3000), rng.normal(0.2, 1, 3000)),
        "ties": (
            np.round(rng.normal(1, 1, 2000), 1),
            np.round(rng.normal(-1, 1, 4000), 1),
        ),
        "extreme": (rng.normal(30, 40, 500), rng.normal(-30, 40, 800)),
    }
    return sets


def read_real_scores(path=REAL_SCORES):
    """The committed real score set: ``(bona, spoof)`` arrays.

    Arguments
    ---------
    path : str
        The ``SCORE LABEL`` file (gzip).

    Returns
    -------
    tuple of numpy.ndarray
        Bona fide and spoof scores.
    """
    bona, spoof = [], []
    with gzip.open(path, "rt") as fin:
        for line in fin:
            score, label = line.split()
            (bona if label == "bonafide" else spoof).append(float(score))
    return np.array(bona), np.array(spoof)


def write_real_scores(csv_path, path=REAL_SCORES):
    """Convert the repository's ``dev_scores_label.csv`` to the fixture file."""
    labels = {"1.0": "bonafide", "2.0": "bonafide", "0.0": "spoof"}
    with open(csv_path, newline="") as fin, gzip.open(path, "wt") as fout:
        for row in csv.DictReader(fin):
            fout.write(f"{row['cm_score']} {labels[row['sasv_label']]}\n")


def official_metrics(modules, bona, spoof):
    """The four metrics as ``calculate_minDCF_EER_CLLR_actDCF`` computes them."""
    eer, frr, far, thresholds, _ = modules.compute_eer(bona, spoof)
    min_dcf, min_dcf_threshold = modules.compute_mindcf(
        frr, far, thresholds, COST["p_spoof"], COST["c_miss"], COST["c_fa"]
    )
    act_dcf, act_threshold = modules.compute_actDCF(
        bona, spoof, COST["p_spoof"], COST["c_miss"], COST["c_fa"]
    )
    cllr = modules.calculate_CLLR(bona, spoof)
    return {
        "EER": float(eer),
        "minDCF": float(min_dcf),
        "minDCF_threshold": float(min_dcf_threshold),
        "actDCF": float(act_dcf),
        "actDCF_threshold": float(act_threshold),
        "Cllr": float(cllr),
    }


def main(argv=None):
    """Compute the official metrics on every set; write the fixture."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--asvspoof5", required=True, help="asvspoof5 at fe23d30")
    parser.add_argument("--out", default=FIXTURE)
    args = parser.parse_args(argv)

    path = os.path.join(args.asvspoof5, "evaluation-package", "calculate_modules.py")
    spec = importlib.util.spec_from_file_location("calculate_modules", path)
    modules = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(modules)
    write_real_scores(
        os.path.join(args.asvspoof5, "Tool-score-fusion", "dev_scores_label.csv")
    )
    sets = {**random_score_sets(), "asvspoof5_dev_real": read_real_scores()}
    fixture = {
        "reference": "https://github.com/asvspoof-challenge/asvspoof5 "
        "fe23d3053a0889b305d98c9e4cadf418c213d972 evaluation-package/calculate_modules.py",
        "cost_model": COST,
        "seed": SEED,
        "metrics": {},
    }
    for name, (bona, spoof) in sets.items():
        with np.errstate(over="ignore"):
            fixture["metrics"][name] = official_metrics(modules, bona, spoof)
        print(name, len(bona), len(spoof), fixture["metrics"][name])
    with open(args.out, "w") as fout:
        json.dump(fixture, fout, indent=1)
        fout.write("\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
