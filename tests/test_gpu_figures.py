"""The GPU figures script, ``benchmarks/gpu_figures.py`` (issue 28), run on the
CPU with a tiny XLS-R: every part runs through the paper configurations, and
its figures hold together (ratios, aligner shares, RawBoost against the numpy
reference, the training runs starting from the same weights and batches)."""

import doctest
import json
import math
import os
import sys

import pytest

from dpda.data.minicorpus import generate_mini_corpus

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "benchmarks"))

import gpu_figures  # noqa: E402  (benchmarks/gpu_figures.py)

TRAIN_STEPS = 5


def test_docstring_examples():
    assert doctest.testmod(gpu_figures).failed == 0


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """One CPU run of every part (about 20 s): ``(figures, output folder)``."""
    root = tmp_path_factory.mktemp("gpu_figures")
    mini = str(root / "mini")
    sizes = {"train": (3, 9), "dev": (3, 3), "eval": (1, 1), "itw": (1, 1)}
    generate_mini_corpus(mini, seed=7, sizes=sizes)
    out = str(root / "out")
    figures = gpu_figures.main(
        [
            "--tiny", "--device", "cpu", "--out", out, "--mini", mini,
            "--backends", "aasist", "--precisions", "fp32",
            "--steps", "1", "--warmup", "1", "--samples", "8000",
            "--eval-batch", "4", "--eval-repeats", "1",
            "--train-steps", str(TRAIN_STEPS), "--train-precisions", "fp32", "bf16",
        ]
    )  # fmt: skip
    return figures, out


@pytest.mark.slow
def test_every_part_gives_figures_and_no_errors(run):
    figures, out = run
    for part in gpu_figures.PARTS:
        assert figures[part], part
        for row in figures[part]:
            assert "error" not in row and "skipped" not in row, row
    # The files on disk are the figures returned, and the tables name them.
    with open(os.path.join(out, "gpu_figures.json"), encoding="utf-8") as f:
        assert json.load(f) == json.loads(json.dumps(figures))
    with open(os.path.join(out, "gpu_figures.md"), encoding="utf-8") as f:
        tables = f.read()
    assert "| aasist | fp32 | joint |" in tables and "| fp32 | 5 |" in tables


@pytest.mark.slow
def test_step_figures_hold_together(run):
    rows = {row["mode"]: row for row in run[0]["steps"]}
    assert set(rows) == {"plain", "split", "joint", "ratios"}
    ratios = rows["ratios"]
    assert ratios["joint_over_split"] == pytest.approx(
        rows["joint"]["ms_per_step"] / rows["split"]["ms_per_step"]
    )
    assert ratios["split_over_plain"] == pytest.approx(
        rows["split"]["ms_per_step"] / rows["plain"]["ms_per_step"]
    )
    # The aligner runs inside the step: a part of it, and only under DPDA.
    assert "align_share" not in rows["plain"]
    for mode in ("split", "joint"):
        assert 0 < rows[mode]["align_share"] < 1
        assert rows[mode]["forward_samples"] == rows["plain"]["forward_samples"] == 10


@pytest.mark.slow
def test_bf16_scores_stay_near_fp32(run):
    rows = {row["precision"]: row for row in run[0]["eval"]}
    assert rows["fp32"]["clips_per_s"] > 0 and "max_diff" not in rows["fp32"]
    assert 0 < rows["bf16"]["max_diff"] < 0.25


@pytest.mark.slow
def test_rawboost_matches_the_numpy_reference_in_level(run):
    """The batched torch RawBoost and the reference change the level alike."""
    rows = run[0]["rawboost"]
    for algo in (4, 5):
        numpy_row, torch_row = (r for r in rows if r["algo"] == algo)
        assert numpy_row["runner"].startswith("numpy")
        assert numpy_row["speed_up"] is None and torch_row["speed_up"] > 0
        assert abs(math.log(torch_row["rms_ratio"] / numpy_row["rms_ratio"])) < 0.3


@pytest.mark.slow
def test_training_runs_start_alike_and_stay_finite(run):
    rows = {row["precision"]: row for row in run[0]["train"]}
    for row in rows.values():
        assert row["steps"] == len(row["losses"]) == TRAIN_STEPS
        assert row["all_finite"] and row["skipped_steps"] == 0
        assert 0 <= row["conflict_rate"] <= 1
        assert 0 <= row["eer_before"] <= 100 and 0 <= row["eer_after"] <= 100
    # Both runs start from the same weights: the same dev scores before
    # training (scored in fp32 both times).
    assert rows["bf16"]["eer_before"] == rows["fp32"]["eer_before"]
    assert rows["fp32"]["final_scale"] is None  # no GradScaler outside fp16
