"""recipes/InTheWild/evaluate.py end to end on a tiny generated corpus.

A mini model is trained (one epoch), its exported detector is evaluated on
mini In-the-Wild and on an ASVspoof 2021 LA tree built from the mini eval
files; the scores must equal the ones the training recipe wrote for the same
files, which also checks the export -> from_hparams round trip.
"""

import json
import os
import random
import shutil
import subprocess
import sys

import numpy as np
import pytest
from conftest import evaluate

from dpda.metrics import compute_eer
from dpda.scores import read_score_file

pytestmark = pytest.mark.slow  # end-to-end runs in subprocesses


def test_in_the_wild_scores_equal_the_training_time_evaluation(trained, tmp_path):
    corpus, run_dir = trained
    out = str(tmp_path / "itw")
    stdout = evaluate(
        out, os.path.join(run_dir, "detector"), f"{corpus}/release_in_the_wild"
    )
    ours = read_score_file(os.path.join(out, "scores", "in_the_wild.txt"))
    training = read_score_file(os.path.join(run_dir, "scores", "in_the_wild.txt"))
    assert ours.keys() == training.keys() and len(ours) == 10
    for utt, score in training.items():
        assert ours[utt] == pytest.approx(score, abs=1e-5)
    result = json.load(open(os.path.join(out, "eval_results.json")))["in_the_wild"]
    trained_eer = json.load(open(os.path.join(run_dir, "eval_results.json")))
    assert result["EER"] == pytest.approx(trained_eer["in_the_wild"]["EER"], abs=1e-6)
    assert f"EER in_the_wild: {result['EER']:.2f}%" in stdout
    breakdown = open(result["breakdown_file"]).read()
    assert "EER (%) and minDCF per speaker" in breakdown
    for png in ("in_the_wild_det.png", "in_the_wild_scores.png"):
        assert open(os.path.join(out, png), "rb").read(4) == b"\x89PNG"

    # Whole files, length-bucketed: every trial scored, scores differ from
    # the 8000-sample crops for files longer than the crop.
    whole = str(tmp_path / "whole")
    evaluate(
        whole,
        os.path.join(run_dir, "detector"),
        f"{corpus}/release_in_the_wild",
        "--eval_max_samples=0",
    )
    full = read_score_file(os.path.join(whole, "scores", "in_the_wild.txt"))
    assert full.keys() == ours.keys()
    assert any(abs(full[u] - ours[u]) > 1e-4 for u in ours)


def make_2021_la_tree(corpus, root):
    """ASVspoof 2021 LA layout from the mini 2019 LA eval files."""
    rng = random.Random(0)
    flac = os.path.join(root, "ASVspoof2021_LA_eval", "flac")
    keys = os.path.join(root, "keys", "LA", "CM")
    os.makedirs(flac)
    os.makedirs(keys)
    protocol = os.path.join(
        corpus, "LA", "ASVspoof2019_LA_cm_protocols", "ASVspoof2019.LA.cm.eval.trl.txt"
    )
    lines = []
    for line in open(protocol):
        speaker, utt, _, attack, label = line.split()
        src = os.path.join(corpus, "LA", "ASVspoof2019_LA_eval", "flac", f"{utt}.flac")
        shutil.copy(src, os.path.join(flac, f"{utt}.flac"))
        codec = rng.choice(["none", "alaw", "g722"])
        attack = "bonafide" if attack == "-" else attack
        lines.append(f"{speaker} {utt} {codec} ita_tx {attack} {label} notrim eval")
    lines.append("LA_0001 LA_E_9999999 none ita_tx A07 spoof notrim progress")
    open(os.path.join(keys, "trial_metadata.txt"), "w").write("\n".join(lines) + "\n")
    return len(lines) - 1


def test_asvspoof2021_la_scores_breakdown_and_min_tdcf(trained, tmp_path):
    corpus, run_dir = trained
    data = str(tmp_path / "ASVspoof2021")
    n = make_2021_la_tree(corpus, data)
    asv = tmp_path / "asv_scores.txt"
    asv.write_text(
        "".join(f"LA_0001 - target {3 + 0.1 * i}\n" for i in range(20))
        + "".join(f"LA_0001 - nontarget {-3 + 0.1 * i}\n" for i in range(20))
        + "".join(f"LA_0001 A07 spoof {0.2 * i}\n" for i in range(20))
    )
    out = str(tmp_path / "la")
    stdout = evaluate(
        out,
        os.path.join(run_dir, "detector"),
        data,
        "--eval_set=asvspoof2021_la",
        f"--asv_score_file={asv}",
    )
    ours = read_score_file(os.path.join(out, "scores", "asvspoof2021_la.txt"))
    training = read_score_file(
        os.path.join(run_dir, "scores", "asvspoof2019_la_eval.txt")
    )
    assert len(ours) == n  # the progress-subset trial is left out
    for utt, score in ours.items():
        assert score == pytest.approx(training[utt], abs=1e-5)
    result = json.load(open(os.path.join(out, "eval_results.json")))["asvspoof2021_la"]
    labels = {
        line.split()[1]: line.split()[5]
        for line in open(os.path.join(data, "keys", "LA", "CM", "trial_metadata.txt"))
    }
    bona = [s for u, s in ours.items() if labels[u] == "bonafide"]
    spoof = [s for u, s in ours.items() if labels[u] == "spoof"]
    assert result["EER"] == pytest.approx(100 * compute_eer(bona, spoof)[0])
    assert 0 <= result["min_tDCF"] <= 1.0 + 1e-9
    assert "min t-DCF" in stdout
    breakdown = open(result["breakdown_file"]).read()
    for section in ("per attack", "per codec", "per transmission"):
        assert f"EER (%) and minDCF {section}" in breakdown
    assert "| alaw |" in breakdown or "| g722 |" in breakdown


def make_asvspoof5_tree(corpus, root):
    """ASVspoof 5 eval layout (flac_E_eval, ten-column track 1 protocol) from
    the mini 2019 LA eval files, with codecs on both classes."""
    rng = random.Random(1)
    flac = os.path.join(root, "flac_E_eval")
    os.makedirs(flac)
    protocol = os.path.join(
        corpus, "LA", "ASVspoof2019_LA_cm_protocols", "ASVspoof2019.LA.cm.eval.trl.txt"
    )
    lines, labels = [], {}
    for i, line in enumerate(open(protocol)):
        speaker, utt, _, attack, label = line.split()
        new_id = f"E_{i:010d}"
        src = os.path.join(corpus, "LA", "ASVspoof2019_LA_eval", "flac", f"{utt}.flac")
        shutil.copy(src, os.path.join(flac, f"{new_id}.flac"))
        codec = rng.choice(["- 0 -", f"C03 2 E_{9000 + i:010d}", "C08 5 E_0000009999"])
        attack = (
            "- bonafide bonafide"
            if label == "bonafide"
            else f"AC1 A{17 + i % 3:02d} spoof"
        )
        lines.append(f"E_{speaker[-4:]} {new_id} F {codec} {attack} -")
        labels[new_id] = (utt, label)
    open(os.path.join(root, "ASVspoof5.eval.track_1.tsv"), "w").write(
        "\n".join(lines) + "\n"
    )
    return labels


def test_asvspoof5_eval_scores_breakdowns_and_calibrated_metrics(trained, tmp_path):
    corpus, run_dir = trained
    data = str(tmp_path / "ASVspoof5")
    labels = make_asvspoof5_tree(corpus, data)
    out = str(tmp_path / "a5")
    stdout = evaluate(
        out, os.path.join(run_dir, "detector"), data, "--eval_set=asvspoof5"
    )
    ours = read_score_file(os.path.join(out, "scores", "asvspoof5.txt"))
    training = read_score_file(
        os.path.join(run_dir, "scores", "asvspoof2019_la_eval.txt")
    )
    assert len(ours) == len(labels)
    for new_id, score in ours.items():
        assert score == pytest.approx(training[labels[new_id][0]], abs=1e-5)
    result = json.load(open(os.path.join(out, "eval_results.json")))["asvspoof5"]
    bona = [s for u, s in ours.items() if labels[u][1] == "bonafide"]
    spoof = [s for u, s in ours.items() if labels[u][1] == "spoof"]
    from dpda.calibration import Calibration
    from dpda.metrics import compute_act_dcf, compute_cllr, compute_min_dcf

    cal = Calibration.from_dict(
        json.load(open(os.path.join(run_dir, "eval_results.json")))["dev"][
            "calibration"
        ]
    )
    assert result["calibrated"] is True
    # (the score file rounds the scores: 1e-4)
    assert result["minDCF"] == pytest.approx(compute_min_dcf(bona, spoof)[0], rel=1e-4)
    assert result["actDCF"] == pytest.approx(
        compute_act_dcf(cal.llr(bona), cal.llr(spoof))[0], rel=1e-4
    )
    assert result["Cllr"] == pytest.approx(
        compute_cllr(cal.llr(bona), cal.llr(spoof)), rel=1e-4
    )
    assert result["Cllr_raw"] == pytest.approx(compute_cllr(bona, spoof), rel=1e-4)
    assert "asvspoof5: EER" in stdout and "actDCF" in stdout
    breakdown = open(result["breakdown_file"]).read()
    for section in ("per attack", "per codec", "per codec_q"):
        assert f"EER (%) and minDCF {section}" in breakdown
    assert "| C03 |" in breakdown and "| A17 |" in breakdown


def test_dpda_detect_scores_equal_the_recipe_score_files(trained, tmp_path):
    """The command line, the Python API and the training run agree."""
    import csv

    from dpda.inference import DeepfakeDetector

    corpus, run_dir = trained
    flac = os.path.join(corpus, "LA", "ASVspoof2019_LA_eval", "flac")
    detector_dir = os.path.join(run_dir, "detector")
    script = os.path.join(os.path.dirname(sys.executable), "dpda-detect")
    out = tmp_path / "scores.csv"
    result = subprocess.run(
        [
            script,
            flac,
            "--detector",
            detector_dir,
            "--format",
            "csv",
            "--output",
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    rows = list(csv.DictReader(open(out)))
    ours = {
        os.path.basename(r["path"])[: -len(".flac")]: float(r["score"]) for r in rows
    }
    training = read_score_file(
        os.path.join(run_dir, "scores", "asvspoof2019_la_eval.txt")
    )
    assert set(ours) == set(training)
    for utt, score in ours.items():
        assert score == pytest.approx(training[utt], abs=1e-5)
    api = DeepfakeDetector.from_hparams(detector_dir).score_files(
        [os.path.join(flac, f"{u}.flac") for u in ours]
    )
    np.testing.assert_allclose(list(ours.values()), api, atol=1e-6, rtol=0)
    # The detector of a training run is calibrated: LLR and probability columns.
    assert {"llr", "p_bona_fide"} <= set(rows[0])
