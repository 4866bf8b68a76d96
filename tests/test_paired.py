"""Paired per-seed comparisons of studies (dpda.paired, ablate.py --from_csv)."""

import csv
import math
import os
import statistics

import numpy as np
import pytest
from conftest import ROOT, TRAIN, run_python

from dpda.ablation import load_study, paired_report
from dpda.paired import paired_differences, study_pairs

STUDIES = [
    ("mini_study.yaml", "mini_study"),
    ("mini_multi_study.yaml", "mini_multi_study"),
    ("real_world_study.yaml", "real_world_study"),
]


def read_csv(path):
    with open(path, encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


@pytest.mark.parametrize("study_file, folder", STUDIES)
def test_paired_figures_of_the_published_studies(study_file, folder):
    """Against an independent computation: numpy on the per-seed values."""
    rows = read_csv(os.path.join(ROOT, "docs", folder, "runs.csv"))
    study, _ = load_study(os.path.join(TRAIN, "hparams", "ablations", study_file))
    pairs = study_pairs(study, [r["run"] for r in rows])
    assert pairs, "every study compares its runs with a reference"
    metrics = [k for k in rows[0] if k.startswith("EER_")]
    for system, reference in pairs:
        for metric in metrics:
            d = paired_differences(rows, system, reference, metric)
            ours = {
                int(r["seed"]): float(r[metric]) for r in rows if r["run"] == system
            }
            ref = {
                int(r["seed"]): float(r[metric]) for r in rows if r["run"] == reference
            }
            seeds = sorted(set(ours) & set(ref))
            diff = np.array([ours[s] - ref[s] for s in seeds])
            assert d["seeds"] == seeds and d["n"] == len(seeds)
            # The mean paired difference is the difference of the means over
            # the shared seeds (float64 sums of < 10 terms: 1e-12 is loose).
            assert d["mean"] == pytest.approx(diff.mean(), abs=1e-12)
            if len(seeds) > 1:
                assert d["sd"] == pytest.approx(diff.std(ddof=1), abs=1e-12)
            else:
                assert math.isnan(d["sd"])
            assert d["wins"] == int((diff < 0).sum())
            assert d["losses"] == int((diff > 0).sum())


def test_a_system_that_wins_on_average_through_one_seed_is_shown():
    """Mean better, but worse on two seeds of three: wins 1/3."""
    rows = [
        {"run": r, "seed": s, "EER": v}
        for r, s, v in [
            ("ref", 1, 20.0),
            ("ref", 2, 20.0),
            ("ref", 3, 20.0),
            ("sys", 1, 5.0),
            ("sys", 2, 21.0),
            ("sys", 3, 22.0),
        ]
    ]
    d = paired_differences(rows, "sys", "ref", "EER")
    assert d["mean"] < 0
    assert (d["wins"], d["losses"], d["n"]) == (1, 2, 3)
    assert d["sd"] == pytest.approx(statistics.stdev([-15.0, 1.0, 2.0]))


def test_reference_must_name_a_run(tmp_path):
    hparams = tmp_path / "a.yaml"
    hparams.write_text("seed: 1\n")
    study = tmp_path / "study.yaml"
    study.write_text(
        "name: s\noutput_folder: out\nruns:\n"
        "  - {name: a, hparams: a.yaml, reference: nope}\n"
    )
    with pytest.raises(ValueError, match="reference 'nope' is not a run name"):
        load_study(str(study))


@pytest.mark.slow
@pytest.mark.parametrize("study_file, folder", STUDIES)
def test_published_paired_tables_are_what_ablate_prints(study_file, folder):
    """docs/<study>/paired.md is the output of ablate.py --from_csv."""
    docs = os.path.join(ROOT, "docs", folder)
    stdout = run_python(
        TRAIN,
        "ablate.py",
        os.path.join("hparams", "ablations", study_file),
        "--from_csv",
        docs,
    )
    with open(os.path.join(docs, "paired.md"), encoding="utf-8") as f:
        assert stdout == f.read()
    # The same report as the library function on the same tables.
    study, _ = load_study(os.path.join(TRAIN, "hparams", "ablations", study_file))
    expected = paired_report(
        study,
        read_csv(os.path.join(docs, "runs.csv")),
        read_csv(os.path.join(docs, "epochs.csv")),
    )
    assert stdout == expected


def test_references_may_be_a_list_and_breakdown_conditions_are_paired(tmp_path):
    """A run compared with two references; the study's ``breakdown`` keys
    add the EER of every condition value to the paired report, the others
    stay out."""
    (tmp_path / "a.yaml").write_text("seed: 1\n")
    study_file = tmp_path / "study.yaml"
    study_file.write_text(
        "name: s\noutput_folder: out\nbaseline: b\nbreakdown: [source]\nruns:\n"
        "  - {name: b, hparams: a.yaml}\n  - {name: n, hparams: a.yaml}\n"
        "  - {name: p, hparams: a.yaml, reference: [n, b]}\n"
    )
    study, _ = load_study(str(study_file))
    assert study_pairs(study, ["b", "n", "p"]) == [("n", "b"), ("p", "b"), ("p", "n")]
    values = {"b": (20.0, 10.0, 30.0), "n": (18.0, 12.0, 25.0), "p": (17.0, 9.0, 35.0)}
    rows = [
        {
            "run": run,
            "seed": seed,
            "EER_rw": eer + seed,
            "condEER_rw/source=vctk": vctk + seed,
            "condEER_rw/attack=hts": hts,
        }
        for run, (eer, vctk, hts) in values.items()
        for seed in (1, 2)
    ]
    report = paired_report(study, rows, [])
    assert (
        "| p | n | condEER_rw/source=vctk | 1, 2 | -3.00, -3.00 | 2/2 | -3.00 ± 0.00 |"
        in report
    )
    assert "| p | b | EER_rw | 1, 2 | -3.00, -3.00 | 2/2 | -3.00 ± 0.00 |" in report
    assert "attack=hts" not in report
    study_file.write_text(
        study_file.read_text().replace("reference: [n, b]", "reference: [n, x]")
    )
    with pytest.raises(ValueError, match="reference 'x' is not a run name"):
        load_study(str(study_file))
