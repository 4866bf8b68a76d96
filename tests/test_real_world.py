"""The real-world set (tests/data/real_world) and the default detector's calibration.

The set is made by ``tools/make_real_world_set.py`` (run by hand: it needs
synthesisers and git snapshots); the calibration is fitted and written by
``tools/calibrate_default.py``. These tests use the committed files only.
"""

import csv
import dataclasses
import json
import os
import re

import numpy as np
import pytest
import soundfile as sf
from conftest import TRAIN, run_python

from dpda.calibration import fit_calibration
from dpda.inference import DeepfakeDetector
from dpda.metrics import compute_eer, effective_prior
from dpda.scores import read_score_file

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DATA = os.path.join(ROOT, "tests", "data", "real_world")
SCORES = os.path.join(DATA, "scores_aasist_l.csv")
CARD = os.path.join(ROOT, "dpda", "pretrained", "aasist_l", "README.md")
CODECS = {"none", "mp3_16k", "mp3_32k", "opus_20k"}
MAX_SAMPLES = 64600
# The bar on held-out data: at most 1 in 5 real clips labelled
# spoof, at most 3 in 10 synthetic clips labelled bona fide.
MAX_REAL_SPOOF = 0.2
MAX_SYNTH_BONAFIDE = 0.3


def read_rows():
    """The manifest's rows."""
    with open(os.path.join(DATA, "manifest.csv"), newline="") as handle:
        return list(csv.DictReader(handle))


def read_stored_scores():
    """The committed scores of the default detector, ``{file: score}``."""
    with open(SCORES, newline="") as handle:
        return {row["file"]: float(row["score"]) for row in csv.DictReader(handle)}


@pytest.fixture(scope="module")
def detector(tmp_path_factory):
    """The default detector with its shipped calibration."""
    return DeepfakeDetector.from_hparams(savedir=tmp_path_factory.mktemp("aasist_l"))


def test_manifest_matches_files():
    rows = read_rows()
    names = [row["file"] for row in rows]
    assert len(names) == len(set(names))
    on_disk = {n for n in os.listdir(DATA) if n.endswith(".flac")}
    assert on_disk == set(names)
    for row in rows:
        info = sf.info(os.path.join(DATA, row["file"]))
        assert (info.samplerate, info.channels) == (16000, 1), row["file"]
        assert info.subtype == "PCM_16" and 0 < info.frames <= MAX_SAMPLES
        assert row["label"] in ("bonafide", "spoof")
        assert row["split"] in ("calibration", "heldout")
        assert row["codec"] in CODECS
        assert row["origin"], row["file"]
    for label in ("bonafide", "spoof"):
        for split in ("calibration", "heldout"):
            assert any(r["label"] == label and r["split"] == split for r in rows)


def test_no_source_or_family_on_both_sides():
    sides = {}
    for row in read_rows():
        sides.setdefault((row["label"], row["group"]), set()).add(row["split"])
    assert all(len(split) == 1 for split in sides.values()), sides
    # A codec copy sits in the split of the clip it was made from.
    rows = {row["file"]: row for row in read_rows()}
    for row in rows.values():
        if row["codec"] != "none":
            parent = row["origin"].rsplit(" copy of ", 1)[1]
            assert rows[parent]["split"] == row["split"]
            assert rows[parent]["group"] == row["group"]


def test_sources_record_a_licence_for_every_real_source():
    with open(os.path.join(DATA, "SOURCES.md")) as handle:
        lines = handle.read().splitlines()
    licences = {}
    for line in lines:
        cells = [c.strip().strip("`") for c in line.strip().strip("|").split("|")]
        if len(cells) > 2 and line.startswith("| `"):
            licences[cells[0]] = line
    real = {r["group"] for r in read_rows() if r["label"] == "bonafide"}
    for source in real:
        assert source in licences, f"{source} not in SOURCES.md's table"
        assert re.search(r"CC BY|public domain", licences[source], re.I), source
    originals = [
        r for r in read_rows() if r["label"] == "bonafide" and r["codec"] == "none"
    ]
    for repo in {r["origin"].split("@")[0] for r in originals}:
        assert any(repo in line for line in lines), repo


def test_stored_scores_cover_the_set():
    scores = read_stored_scores()
    assert set(scores) == {row["file"] for row in read_rows()}
    assert all(np.isfinite(list(scores.values())))


def test_shipped_calibration_is_the_fit_on_the_calibration_part(detector):
    rows = read_rows()
    scores = read_stored_scores()
    part = [r for r in rows if r["split"] == "calibration"]
    bona = [scores[r["file"]] for r in part if r["label"] == "bonafide"]
    spoof = [scores[r["file"]] for r in part if r["label"] == "spoof"]
    prior = effective_prior(**detector.cost_model)
    fit = fit_calibration(bona, spoof, prior=prior)
    shipped = detector.calibration
    assert shipped is not None and shipped.prior == pytest.approx(prior, abs=1e-15)
    assert shipped.fitted_on.startswith("tests/data/real_world calibration part")
    # LBFGS stops once the loss changes by < 1e-14: near the optimum the loss
    # is quadratic, so the parameters are settled to about sqrt(1e-14) = 1e-7
    # relative; yaml keeps floats exactly (repr).
    assert fit.scale == pytest.approx(shipped.scale, rel=1e-6)
    assert fit.offset == pytest.approx(shipped.offset, rel=1e-6, abs=1e-6)


def error_rates(rows, labels):
    """Shares of real clips labelled spoof and synthetic labelled bona fide
    (``uncertain`` is neither)."""
    real = [labels[r["file"]] == "spoof" for r in rows if r["label"] == "bonafide"]
    fake = [labels[r["file"]] == "bonafide" for r in rows if r["label"] == "spoof"]
    return float(np.mean(real)), float(np.mean(fake))


def heldout_error_rates(detector, scores):
    """:func:`error_rates` of the held-out part, labelled by the detector."""
    held = [r for r in read_rows() if r["split"] == "heldout"]
    labels = {
        r["file"]: detector.classify_score(scores[r["file"]])["label"] for r in held
    }
    return error_rates(held, labels)


def test_heldout_decisions_with_stored_scores(detector):
    real_spoof, synth_bona = heldout_error_rates(detector, read_stored_scores())
    assert real_spoof <= MAX_REAL_SPOOF
    assert synth_bona <= MAX_SYNTH_BONAFIDE


def card_label_table():
    """The model card's table of labels with the shipped band:
    ``{clips: {label: count}}``."""
    with open(CARD) as handle:
        lines = handle.read().splitlines()
    start = lines.index("| clips | n | bona fide | spoof | uncertain |")
    table = {}
    for line in lines[start + 2 :]:
        if not line.startswith("|"):
            break
        clips, n, bona, spoof, uncertain = (
            c.strip() for c in line.strip("|").split("|")
        )
        table[clips] = {
            "n": int(n),
            "bonafide": int(bona),
            "spoof": int(spoof),
            "uncertain": int(uncertain),
        }
    return table


def test_the_card_states_the_shipped_band_and_its_labels(detector):
    rule = detector.decision_rule()
    band = detector.uncertain_band
    assert band is not None and band > 0 and rule.labels[-1] == "uncertain"
    with open(CARD) as handle:
        text = handle.read()
    assert f"| Uncertain band (`uncertain_band`) | {band!r}:" in text
    assert rule.text in text  # the decision rule row
    # The card's counts are what the detector's rule gives on the set.
    scores = read_stored_scores()
    table = card_label_table()
    for split, shown in (("calibration", "calibration"), ("heldout", "held-out")):
        for label, words in (("bonafide", "real"), ("spoof", "synthetic")):
            part = [
                r for r in read_rows() if (r["split"], r["label"]) == (split, label)
            ]
            given = [detector.classify_score(scores[r["file"]])["label"] for r in part]
            counts = {k: given.count(k) for k in rule.labels}
            assert table[f"{shown} {words}"] == {"n": len(part), **counts}


@pytest.mark.slow
def test_heldout_bar_holds_when_classifying_the_files(detector):
    """The issue's bar, with the shipped band, on labels of classify_files
    (what dpda-detect reports) and classify_file, from the audio itself."""
    held = [r for r in read_rows() if r["split"] == "heldout"]
    paths = [os.path.join(DATA, r["file"]) for r in held]
    results = detector.classify_files(paths, batch_size=8)
    assert all(res["error"] is None for res in results)
    labels = {r["file"]: res["label"] for r, res in zip(held, results)}
    rule = detector.decision_rule()
    assert set(labels.values()) <= set(rule.labels)
    real_spoof, synth_bona = error_rates(held, labels)
    assert real_spoof <= MAX_REAL_SPOOF
    assert synth_bona <= MAX_SYNTH_BONAFIDE
    assert "uncertain" in labels.values()  # the band withholds some verdicts
    # Without the band the same scores give a verdict on every clip.
    plain = dataclasses.replace(rule, uncertain_band=None)
    assert {plain.decide(res["score"])["label"] for res in results} <= {
        "bonafide",
        "spoof",
    }
    # One file at a time: the same labels (two spot checks).
    for index in (0, len(held) - 1):
        assert (
            detector.classify_file(paths[index])["label"] == labels[held[index]["file"]]
        )
    # The stored scores give the same labels, bar a clip whose LLR lies
    # within the scores' cross-CPU tolerance (1e-4, see below) of an edge.
    stored = read_stored_scores()
    scale = detector.calibration.scale
    edges = [*rule.llr_band, rule.llr_threshold]
    for row, res in zip(held, results):
        llr = detector.calibration.llr(stored[row["file"]])
        if min(abs(llr - e) for e in edges) > 1e-4 * abs(scale):
            assert res["label"] == rule.decide(stored[row["file"]])["label"]


@pytest.mark.slow
def test_detector_scores_match_stored_and_decide_heldout(detector):
    rows = read_rows()
    stored = read_stored_scores()
    paths = [os.path.join(DATA, r["file"]) for r in rows]
    fresh = dict(zip([r["file"] for r in rows], detector.score_files(paths)))
    # float32 logits carry rounding of ~1e-6 of the largest (|score| < 9
    # here) whatever the kernels: two CPUs differ by at most 2e-5 < 1e-4.
    for name, score in fresh.items():
        assert score == pytest.approx(stored[name], abs=1e-4), name
    real_spoof, synth_bona = heldout_error_rates(detector, fresh)
    assert real_spoof <= MAX_REAL_SPOOF
    assert synth_bona <= MAX_SYNTH_BONAFIDE


@pytest.mark.slow
def test_train_py_fine_tunes_on_the_set_and_breaks_the_eer_down(tmp_path):
    """``corpus: real_world``: one short DPDA epoch from the released
    weights, then the held-out EER per family, real source and codec, each
    checked against the EER of the score file's trials of that condition."""
    out = tmp_path / "run"
    run_python(
        TRAIN,
        "train.py",
        os.path.join("hparams", "real_world_dpda_aasist_l.yaml"),
        f"--output_folder={out}",
        "--number_of_epochs=1",
        "--max_samples=4000",
        "--eval_max_samples=8000",
        "--num_workers=0",
    )
    results = json.load(open(out / "eval_results.json"))
    assert set(results["real_world_eval"]["breakdown"]) == {"attack", "source", "codec"}
    scores = read_score_file(str(out / "scores" / "real_world_eval.txt"))
    rows = {os.path.splitext(r["file"])[0]: r for r in read_rows()}
    assert set(scores) == {k for k, r in rows.items() if r["split"] == "heldout"}

    def eer(key, value, factor):
        """EER of the held-out trials a condition value selects: a family
        against every real clip, a source against every synthetic clip, a
        codec within its own clips."""
        column = "group" if factor else key
        chosen = {
            k
            for k in scores
            if rows[k][column] == value or factor and rows[k]["label"] != factor
        }
        bona = [scores[k] for k in chosen if rows[k]["label"] == "bonafide"]
        spoof = [scores[k] for k in chosen if rows[k]["label"] == "spoof"]
        return 100 * compute_eer(np.array(bona), np.array(spoof))[0]

    breakdown = results["real_world_eval"]["breakdown"]
    for key, factor in (("attack", "spoof"), ("source", "bonafide"), ("codec", None)):
        values = [r for r in breakdown[key] if r[key] != "pooled"]
        assert len(values) == (4 if key == "codec" else 3)
        for row in values:
            expected = eer(key, row[key], factor)
            assert row["EER"] == pytest.approx(expected, abs=1e-9), (key, row)
    assert (out / "detector" / "hyperparams.yaml").exists()
