"""The one report of score files (dpda.evaluation.report_evaluation) and the
one label vocabulary (dpda.labels), on score files and manifests made here."""

import json
import os

import numpy as np
import pytest

from dpda.calibration import Calibration
from dpda.data.asvspoof2021 import parse_trial_metadata
from dpda.data.pipelines import label_pipeline
from dpda.evaluation import (
    CALIBRATION_SET_KEYS,
    calibrate_on,
    format_metrics,
    report_evaluation,
)
from dpda.labels import BONAFIDE_PLACEHOLDERS, LABEL_TO_INDEX, LABELS, split_by_label
from dpda.metrics import compute_eer, summarize
from dpda.scores import read_score_file, write_scores


def scored_set(folder, name, n, shift, seed):
    """A score file and a manifest: bona fide scores shifted up by ``shift``."""
    rng = np.random.default_rng(seed)
    entries, ids, scores = {}, [], []
    for i in range(n):
        label = LABELS[i % 2]
        entries[f"{name}_{i}"] = {
            "wav": f"{{data_root}}/{name}_{i}.flac",
            "label": label,
            "attack": BONAFIDE_PLACEHOLDERS[0] if label == "bonafide" else "A01",
        }
        ids.append(f"{name}_{i}")
        scores.append(rng.normal() + (shift if label == "bonafide" else 0.0))
    manifest = os.path.join(folder, f"{name}.json")
    json.dump(entries, open(manifest, "w"))
    score_file = os.path.join(folder, "scores", f"{name}.txt")
    write_scores(score_file, ids, scores)
    return {"score_file": score_file, "manifest": manifest}


def test_report_of_a_training_run(tmp_path, capsys):
    folder = str(tmp_path)
    sets = {
        "dev": {**scored_set(folder, "dev", 40, 1.5, 0), "loss": 0.25},
        "in_the_wild": scored_set(folder, "in_the_wild", 30, 0.8, 1),
    }
    codecs = {
        f"in_the_wild_{i}": {"codec": ("mp3", "none")[i % 3 == 0]} for i in range(30)
    }
    out = str(tmp_path / "evaluation")
    results = report_evaluation(
        sets, out, fit_calibration_on="dev", conditions={"in_the_wild": codecs}
    )
    # Every figure from the score file (6 decimals) and the manifest.
    for name in sets:
        scores = read_score_file(sets[name]["score_file"])
        entries = json.load(open(sets[name]["manifest"]))
        eer, threshold = compute_eer(*split_by_label(scores, entries))
        assert results[name]["EER"] == 100 * eer
        assert results[name]["threshold"] == threshold
        assert results[name]["trials"] == len(entries)
        assert results[name]["score_file"] == sets[name]["score_file"]
        assert results[name]["manifest"] == sets[name]["manifest"]
    # dev: headline metrics, the fields given, the calibration fitted on it.
    dev = results["dev"]
    assert set(dev) == {
        *CALIBRATION_SET_KEYS,
        "loss",
        "score_file",
        "manifest",
        "calibration",
        "reliability_plot",
    }
    assert dev["loss"] == 0.25
    dev_scores = read_score_file(sets["dev"]["score_file"])
    expected = calibrate_on(dev_scores, json.load(open(sets["dev"]["manifest"])))
    assert Calibration.from_dict(dev["calibration"]) == expected
    assert open(dev["reliability_plot"], "rb").read(4) == b"\x89PNG"
    # The evaluation set: breakdown by the conditions given, plots, lines.
    itw = results["in_the_wild"]
    assert itw["calibrated"] and itw["unscored"] == 0
    trials = [
        {"label": e["label"], "codec": codecs[k]["codec"], "score": s}
        for (k, e), s in zip(
            json.load(open(sets["in_the_wild"]["manifest"])).items(),
            read_score_file(sets["in_the_wild"]["score_file"]).values(),
        )
    ]
    assert itw["breakdown"]["codec"] == summarize(trials, "codec")
    for key in ("det_plot", "score_plot", "reliability_plot"):
        assert open(itw[key], "rb").read(4) == b"\x89PNG"
    printed = capsys.readouterr().out.splitlines()
    assert printed == [
        f"EER in_the_wild: {itw['EER']:.2f}% (30 trials) -> {itw['score_file']}",
        f"Breakdown: {itw['breakdown_file']}",
        format_metrics("in_the_wild", itw),
    ]


def test_report_with_a_given_calibration_and_asv_scores(tmp_path):
    folder = str(tmp_path)
    sets = {"asvspoof2021_la": {**scored_set(folder, "la", 20, 2.0, 2), "x": 1}}
    asv = tmp_path / "asv.txt"
    asv.write_text("LA_1 - target 3.0\nLA_1 - nontarget -2.0\nLA_1 A07 spoof 0.5\n")
    cal = Calibration(scale=2.0, offset=-0.5, prior=0.05)
    results = report_evaluation(
        sets, folder, calibration=cal, asv_score_files={"asvspoof2021_la": str(asv)}
    )
    result = results["asvspoof2021_la"]
    assert result["x"] == 1 and result["min_tDCF"] is not None
    assert 0 <= result["min_tDCF"] <= 1
    assert result["calibrated"] and "calibration" not in result
    with pytest.raises(ValueError, match="not both"):
        report_evaluation(sets, folder, calibration=cal, fit_calibration_on="x")


def test_one_label_vocabulary(tmp_path):
    assert set(LABEL_TO_INDEX) == set(LABELS)
    assert [label_pipeline(label) for label in LABELS] == [
        LABEL_TO_INDEX[label] for label in LABELS
    ]
    # The 2021 keys mark bona fide attacks with either placeholder.
    keys = tmp_path / "trial_metadata.txt"
    keys.write_text(
        "LA_1 LA_E_1 none ita_tx bonafide bonafide notrim eval\n"
        "LA_1 LA_E_2 none ita_tx - bonafide notrim eval\n"
        "LA_2 LA_E_3 alaw ita_tx A07 spoof notrim eval\n"
    )
    rows = parse_trial_metadata(str(keys), "LA")
    assert [r["attack"] in BONAFIDE_PLACEHOLDERS for r in rows] == [True, True, False]
