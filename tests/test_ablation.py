"""The ablation runner: aggregation on hand-made logs, and a real tiny study
(two configs x two seeds) resumed after one finished run."""

import csv
import json
import math
import os
import subprocess
import sys

import pytest

from dpda.ablation import Run, aggregate, collect, load_study, parse_train_log
from dpda.data.minicorpus import generate_mini_corpus
from dpda.plots import plot_study

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RECIPE = os.path.join(ROOT, "recipes", "ASVspoof")


def fake_run(folder, dev_losses, eers, conflicts, wall):
    os.makedirs(folder)
    with open(os.path.join(folder, "train_log.txt"), "w") as f:
        for epoch, loss in enumerate(dev_losses, start=1):
            f.write(
                f"epoch: {epoch}, lr: 1.00e-03 - train loss: 5.00e-01, train "
                f"conflict_rate: {0.1 * epoch:.2e}, train cosine: 2.00e-01, train "
                f"skipped_steps: 0 - valid loss: {loss:.2e}, valid EER: 10.00\n"
            )
        f.write(
            "Evaluation set: dev, Epoch loaded: 2 - test loss: 0.3, test EER: 9.0\n"
        )
    results = {"dev": {"EER": 1.0}, "skipped_items": 0}
    results.update({name: {"EER": eer} for name, eer in eers.items()})
    json.dump(results, open(os.path.join(folder, "eval_results.json"), "w"))
    json.dump({"wall_s": wall}, open(os.path.join(folder, "run_info.json"), "w"))
    if conflicts is not None:
        with open(os.path.join(folder, "alignment_stats.csv"), "w") as f:
            f.write("epoch,step,cosine,conflict\n")
            for i, c in enumerate(conflicts):
                f.write(f"1,{i + 1},{-0.1 if c else 0.3},{c}\n")


def test_collect_and_aggregate_hand_made_logs(tmp_path):
    out = str(tmp_path / "study")
    study = {"name": "s", "output_folder": out, "baseline": "base"}
    runs = []
    specs = {
        ("base", 1): ([0.5, 0.4, 0.45], {"ev": 20.0, "itw": 30.0}, None, 60.0),
        ("base", 2): ([0.6, 0.5, 0.3], {"ev": 24.0, "itw": 34.0}, None, 120.0),
        ("dpda", 1): ([0.4, 0.2, 0.3], {"ev": 15.0, "itw": 27.0}, [1, 0, 0, 0], 90.0),
        ("dpda", 2): ([0.3, 0.35, 0.4], {"ev": 17.0, "itw": 27.0}, [1, 1, 0, 0], 90.0),
    }
    for (name, seed), (losses, eers, conflicts, wall) in specs.items():
        folder = os.path.join(out, name, str(seed))
        fake_run(folder, losses, eers, conflicts, wall)
        runs.append(Run(name, "x.yaml", seed, {}, folder))
    runs.append(
        Run("dpda", "x.yaml", 3, {}, os.path.join(out, "dpda", "3"))
    )  # unfinished
    per_run, table = collect(study, runs)
    base, dpda = table
    assert base["seeds"] == 2 and dpda["seeds"] == 2
    assert base["EER_ev_mean"] == 22.0
    assert base["EER_ev_std"] == pytest.approx(math.sqrt(8.0))  # sample std
    assert dpda["EER_ev_mean"] == 16.0
    assert dpda["rel_EER_ev"] == pytest.approx(100 * (16 - 22) / 22)
    assert dpda["rel_EER_itw"] == pytest.approx(100 * (27 - 32) / 32)
    assert base["best_epoch_mean"] == 2.5  # epochs 2 and 3
    assert dpda["best_epoch_mean"] == 1.5  # epochs 2 and 1
    assert dpda["best_dev_loss_mean"] == pytest.approx(0.25)
    assert dpda["conflict_rate_mean"] == pytest.approx(0.375)  # 1/4 and 2/4
    assert math.isnan(base["conflict_rate_mean"])
    assert base["wall_s_mean"] == 90.0
    md = open(os.path.join(out, "summary.md")).read()
    assert "| dpda | 2 | 16.00 ± 1.41 | -27.3% |" in md
    assert "| base | 2 | 22.00 ± 2.83 | - |" in md
    rows = list(csv.DictReader(open(os.path.join(out, "runs.csv"))))
    assert [(r["run"], r["seed"]) for r in rows] == [(n, str(s)) for n, s in specs]
    epochs = list(csv.DictReader(open(os.path.join(out, "epochs.csv"))))
    assert len(epochs) == 12
    assert [float(e["valid_loss"]) for e in epochs[3:6]] == [0.6, 0.5, 0.3]
    assert epochs[6]["run"] == "dpda" and float(epochs[6]["train_conflict_rate"]) == 0.1
    for png in plot_study(per_run, out, ["ev", "itw"]):
        assert os.path.getsize(png) > 5000


def test_parse_train_log_keeps_the_last_line_of_a_repeated_epoch(tmp_path):
    path = tmp_path / "log.txt"
    path.write_text(
        "epoch: 1, lr: 1.00e-03 - train loss: 1.0 - valid loss: 0.9, valid EER: 30\n"
        "epoch: 1, lr: 1.00e-03 - train loss: 0.8 - valid loss: 0.7, valid EER: 25\n"
        "epoch: 2, lr: 1.00e-03 - train loss: 0.6 - valid loss: 0.5, valid EER: 20\n"
    )
    rows = parse_train_log(str(path))
    assert [(r["epoch"], r["valid_loss"]) for r in rows] == [(1, 0.7), (2, 0.5)]


def test_aggregate_single_seed_has_nan_std():
    (row,) = aggregate({"a": [{"EER_x": 3.0}]})
    assert row["EER_x_mean"] == 3.0 and math.isnan(row["EER_x_std"])


def test_relative_change_pairs_each_run_with_the_baseline_of_its_seeds():
    base = [{"seed": s, "EER_x": e} for s, e in ((1, 10.0), (2, 20.0), (3, 30.0))]
    table = aggregate(
        {
            "base": base,
            "one": [{"seed": 3, "EER_x": 15.0}],  # against seed 3 alone: -50%
            "two": [{"seed": 1, "EER_x": 5.0}, {"seed": 2, "EER_x": 10.0}],
            "other": [{"seed": 9, "EER_x": 1.0}],  # no shared seed
        },
        baseline="base",
    )
    rows = {r["run"]: r for r in table}
    assert rows["one"]["rel_EER_x"] == pytest.approx(-50.0)  # not -25% (vs 20)
    assert rows["two"]["rel_EER_x"] == pytest.approx(-50.0)  # 7.5 vs 15
    assert rows["base"]["rel_EER_x"] == 0.0 and rows["one"]["rel_seeds"] == 1
    assert math.isnan(rows["other"]["rel_EER_x"]) and rows["other"]["rel_seeds"] == 0


def test_study_file_errors(tmp_path):
    (tmp_path / "a.yaml").write_text("seed: 1\n")
    bad = tmp_path / "s.yaml"
    bad.write_text(
        "name: s\noutput_folder: o\nruns:\n  - {name: a, hparams: missing.yaml}\n"
    )
    with pytest.raises(FileNotFoundError, match="missing.yaml"):
        load_study(str(bad))
    bad.write_text(
        "name: s\noutput_folder: o\nbaseline: z\nruns:\n  - {name: a, hparams: a.yaml}\n"
    )
    with pytest.raises(ValueError, match="baseline 'z'"):
        load_study(str(bad))


@pytest.mark.slow
def test_tiny_study_runs_resumes_and_collects(tmp_path):
    corpus = str(tmp_path / "mini")
    generate_mini_corpus(
        corpus,
        seed=3,
        sizes={"train": (8, 16), "dev": (4, 8), "eval": (4, 8), "itw": (4, 4)},
    )
    out = str(tmp_path / "study")
    hparams = os.path.join(ROOT, "hparams")
    study = tmp_path / "study.yaml"
    study.write_text(
        f"""
name: tiny
output_folder: {out}
baseline: base
seeds: [1, 2]
overrides:
  mini_corpus_folder: {corpus}
  number_of_epochs: 1
  batch_size: 4
  num_workers: 0
  max_samples: 8000
  eval_max_samples: 8000
runs:
  - name: base
    hparams: {hparams}/mini_baseline_rawboost.yaml
  - name: dpda
    hparams: {hparams}/mini_dpda_rawboost.yaml
    overrides: {{aligner: none}}
"""
    )

    def ablate(*extra):
        result = subprocess.run(
            [sys.executable, "ablate.py", str(study), *extra],
            cwd=RECIPE,
            capture_output=True,
            text=True,
            timeout=900,
        )
        assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-4000:]
        return result.stdout + result.stderr

    ablate("--only", "base", "--seeds", "1")
    first = os.path.join(out, "base", "1", "run_info.json")
    before = open(first).read(), os.path.getmtime(first)
    log = ablate()
    assert "3 runs trained, 1 already finished, 0 failed" in log
    assert (open(first).read(), os.path.getmtime(first)) == before  # not redone
    md = open(os.path.join(out, "summary.md")).read()
    assert "| base | 2 |" in md and "| dpda | 2 |" in md
    rows = list(csv.DictReader(open(os.path.join(out, "runs.csv"))))
    assert sorted((r["run"], r["seed"]) for r in rows) == [
        ("base", "1"),
        ("base", "2"),
        ("dpda", "1"),
        ("dpda", "2"),
    ]
    for r in rows:
        assert 0 <= float(r["EER_in_the_wild"]) <= 100
        assert (r["run"] == "dpda") == (r["conflict_rate"] != "nan")
    # Seeds differ, so the runs differ.
    scores = {
        (r["run"], r["seed"]): open(
            os.path.join(out, r["run"], r["seed"], "scores", "in_the_wild.txt")
        ).read()
        for r in rows
    }
    assert scores[("base", "1")] != scores[("base", "2")]
    for png in ("eer.png", "dev_loss.png", "conflicts.png", "det_in_the_wild.png"):
        assert os.path.getsize(os.path.join(out, png)) > 5000


def test_collect_keeps_the_eer_of_every_condition(tmp_path):
    """Per codec (``codecEER_``) and per other condition (``condEER_``), the
    pooled rows left out."""
    folder = str(tmp_path / "s" / "a" / "1")
    fake_run(folder, [0.5], {"rw": 12.0}, None, 10.0)
    path = os.path.join(folder, "eval_results.json")
    results = json.load(open(path))
    results["rw"]["breakdown"] = {
        "source": [{"source": "vctk", "EER": 5.0}, {"source": "pooled", "EER": 12.0}],
        "codec": [{"codec": "mp3_16k", "EER": 20.0}, {"codec": "pooled", "EER": 12.0}],
    }
    json.dump(results, open(path, "w"))
    study = {"name": "s", "output_folder": str(tmp_path / "s")}
    per_run, _ = collect(study, [Run("a", "x.yaml", 1, {}, folder)])
    row = per_run["a"][0]
    conditions = {k: v for k, v in row.items() if "EER_rw" in k and k != "EER_rw"}
    assert conditions == {"condEER_rw/source=vctk": 5.0, "codecEER_rw_mp3_16k": 20.0}
