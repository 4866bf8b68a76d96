"""``dpda-detect``: the console script on mixed formats, bad files and long recordings."""

import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
import soundfile as sf
import torch
from conftest import write_m4a

from dpda.cli import expand_inputs, main
from dpda.export import export_detector
from dpda.inference import DeepfakeDetector
from dpda.models.raw_cnn import RawCNN
from dpda.scores import score_batch

SCRIPT = os.path.join(os.path.dirname(sys.executable), "dpda-detect")


def tone(seconds, rate, channels=1, seed=0):
    """Speech-band noise plus a tone, ``[T, C]`` float32."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * rate)) / rate
    x = 0.2 * np.sin(
        2 * np.pi * 220 * (1 + 0.1 * seed) * t
    ) + 0.05 * rng.standard_normal(t.size)
    return np.stack([x * (1 - 0.3 * c) for c in range(channels)], axis=1).astype(
        np.float32
    )


@pytest.fixture(scope="module")
def mixed(tmp_path_factory):
    """A folder of mixed formats, rates and channel counts, with bad files."""
    root = tmp_path_factory.mktemp("mixed")
    sub = root / "more"
    sub.mkdir()
    sf.write(root / "mono16k.wav", tone(3, 16000), 16000)
    sf.write(root / "stereo44k.wav", tone(2.5, 44100, channels=2, seed=1), 44100)
    sf.write(root / "music22k.flac", tone(5, 22050, seed=2), 22050)
    sf.write(root / "speech.mp3", tone(3, 16000, seed=3), 16000)
    sf.write(
        sub / "voice.ogg", tone(2, 48000, seed=4), 48000, format="OGG", subtype="OPUS"
    )
    write_m4a(str(sub / "phone.m4a"), tone(3, 44100, channels=2, seed=5), 44100)
    (root / "corrupt.wav").write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunk" * 10)
    (root / "empty.flac").write_bytes(b"")
    sf.write(root / "tick.wav", tone(0.01, 16000), 16000)  # 160 samples: too short
    (root / "notes.md").write_text("not audio, not listed")
    return root


def run_cli(*args):
    result = subprocess.run(
        [SCRIPT, *map(str, args), "--no-progress"],
        capture_output=True,
        text=True,
        timeout=600,
    )
    return result


@pytest.mark.slow
def test_a_mixed_folder_is_scored_and_bad_files_reported(mixed, tmp_path):
    out = tmp_path / "report.json"
    result = run_cli(mixed, "--format", "json", "--output", out)
    assert result.returncode == 1, result.stderr[-2000:]  # some files not scored
    report = json.load(open(out))
    rows = {os.path.relpath(r["path"], mixed): r for r in report["files"]}
    assert set(rows) == {
        "mono16k.wav",
        "stereo44k.wav",
        "music22k.flac",
        "speech.mp3",
        "more/voice.ogg",
        "more/phone.m4a",
        "corrupt.wav",
        "empty.flac",
        "tick.wav",
    }
    assert "unreadable or corrupt" in rows["corrupt.wav"]["error"]
    assert rows["empty.flac"]["error"]
    assert "too short" in rows["tick.wav"]["error"]
    good = [k for k, r in rows.items() if r["error"] is None]
    assert len(good) == 6
    assert rows["stereo44k.wav"]["duration"] == pytest.approx(2.5, abs=1e-3)
    assert rows["more/phone.m4a"]["duration"] == pytest.approx(3.0, abs=0.1)
    # The same scores as the Python API (default detector: AASIST-L), and
    # the labels of its calibrated rule, uncertain band included.
    detector = DeepfakeDetector.from_hparams()
    expected = detector.score_files([str(mixed / k) for k in good])
    np.testing.assert_allclose(
        [rows[k]["score"] for k in good], expected, atol=1e-5, rtol=0
    )
    rule = detector.decision_rule()
    assert report["decision_rule"]["labels"] == ["bonafide", "spoof", "uncertain"]
    assert report["decision_rule"]["uncertain_llr_band"] == list(rule.llr_band)
    for key in good:
        decision = rule.decide(rows[key]["score"])
        assert rows[key]["label"] == decision["label"]
        assert rows[key]["llr"] == pytest.approx(decision["llr"], abs=1e-9)
    counts = [r["label"] for r in rows.values() if r["error"] is None]
    assert "9 files:" in report["summary"] and "3 not scored" in report["summary"]
    for label, words in (
        ("bonafide", "bona fide"),
        ("spoof", "spoof"),
        ("uncertain", "uncertain"),
    ):
        assert f" {counts.count(label)} {words}," in report["summary"], label
    assert not [p for p in os.listdir(tmp_path) if p != "report.json"]  # atomic


@pytest.mark.slow
def test_table_csv_lists_and_globs(mixed, tmp_path):
    listing = tmp_path / "files.txt"
    listing.write_text(
        f"# two files\n{mixed / 'mono16k.wav'}\n{mixed / 'speech.mp3'}\n"
    )
    result = run_cli(listing, str(mixed / "more" / "*.ogg"), "--format", "csv")
    assert result.returncode == 0, result.stderr[-2000:]
    lines = result.stdout.strip().splitlines()
    assert lines[0] == (
        "path,duration_s,score,llr,p_bona_fide,label_or_error,decision_rule"
    )
    assert [line.split(",")[0].rsplit("/", 1)[-1] for line in lines[1:]] == [
        "mono16k.wav",
        "speech.mp3",
        "voice.ogg",
    ]
    assert "3 files:" in result.stderr
    table = run_cli(mixed / "mono16k.wav")
    assert table.returncode == 0
    assert table.stdout.splitlines()[0].split() == [
        "path",
        "duration",
        "(s)",
        "score",
        "LLR",
        "P(bona",
        "fide)",
        "label",
    ]


@pytest.mark.slow
def test_usage_errors_exit_with_2(tmp_path):
    empty = tmp_path / "nothing"
    empty.mkdir()
    assert run_cli(empty).returncode == 2
    assert run_cli(tmp_path, "--windows", "-1").returncode == 2
    assert run_cli(tmp_path, "--format", "xml").returncode == 2
    missing = run_cli(tmp_path / "missing.wav")
    assert missing.returncode == 1 and "file not found" in missing.stdout


def export_small_detector(root, calibration=None):
    """A small RawCNN detector (1 s windows, seed 0) exported to ``root``."""
    (root / "train.yaml").write_text(
        "sample_rate: 16000\neval_max_samples: 16000\n"
        "model: !new:dpda.models.raw_cnn.RawCNN\n"
        "    channels: [8, 8]\n    kernel_size: 33\n"
    )
    torch.manual_seed(0)
    return export_detector(
        str(root / "detector"),
        str(root / "train.yaml"),
        RawCNN(channels=[8, 8], kernel_size=33),
        threshold=0.0,
        calibration=calibration,
    )


@pytest.fixture(scope="module")
def small_detector(tmp_path_factory):
    """A small exported detector (1 s windows), fast enough for long audio."""
    return export_small_detector(
        tmp_path_factory.mktemp("small"),
        calibration={"scale": 2.0, "offset": -0.5, "prior": 0.655},
    )


@pytest.mark.slow
def test_a_ten_minute_recording_gets_a_timeline(small_detector, tmp_path):
    rate = 16000
    path = tmp_path / "interview.wav"
    sf.write(path, tone(600, rate, seed=7), rate)
    plots = tmp_path / "plots"
    out = tmp_path / "report.json"
    result = run_cli(
        path,
        "--detector",
        small_detector,
        "--windows",
        4,
        "--plots",
        plots,
        "--format",
        "json",
        "--output",
        out,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    (row,) = json.load(open(out))["files"]
    windows = row["windows"]
    # 4 s windows, 2 s hop, over 600 s: starts 0, 2, ..., 596.
    assert len(windows) == 299
    assert windows[0]["start"] == 0 and windows[-1]["end"] == pytest.approx(600)
    assert row["duration"] == pytest.approx(600)
    scores = [w["score"] for w in windows]
    assert row["score"] == pytest.approx(np.mean(scores), rel=1e-6)
    # Calibrated detector: LLR = 2 * score - 0.5, probability at prior 0.95.
    assert row["llr"] == pytest.approx(2 * row["score"] - 0.5, rel=1e-6)
    assert 0 < row["p_bonafide"] < 1
    # Each window is the model's score of those samples (two spot checks).
    detector = DeepfakeDetector.from_hparams(small_detector)
    signal = detector.load_audio(str(path))
    for index in (0, 150):
        start = int(windows[index]["start"] * rate)
        window = signal[start : start + 4 * rate][None]
        with torch.no_grad():
            direct = score_batch(detector.mods.model.eval(), window, torch.ones(1))
        direct = direct.item()
        assert windows[index]["score"] == pytest.approx(direct, abs=1e-5)
    assert os.listdir(plots) == ["interview.png"]
    assert os.path.getsize(plots / "interview.png") > 10000


def test_expand_inputs_recurses_and_keeps_order(mixed):
    paths = expand_inputs([str(mixed)])
    names = [os.path.relpath(p, mixed) for p in paths]
    assert names == sorted(names)  # one sorted walk: stable across runs
    assert expand_inputs([str(mixed), str(mixed / "mono16k.wav")]) == paths
    assert "notes.md" not in names and "more/phone.m4a" in names


def test_main_in_process_returns_the_status(mixed, capsys):
    assert main([str(mixed / "mono16k.wav"), "--no-progress"]) == 0
    assert "1 files: " in capsys.readouterr().out


@pytest.fixture(scope="module")
def uncalibrated_detector(tmp_path_factory):
    """The small detector's model exported without calibration, as an
    imported checkpoint is."""
    return export_small_detector(tmp_path_factory.mktemp("uncalibrated"))


def clips(folder, n, seconds=1.5):
    """``n`` tone clips in ``folder``; their paths."""
    for seed in range(n):
        sf.write(folder / f"clip{seed}.wav", tone(seconds, 16000, seed=seed), 16000)
    return sorted(str(p) for p in folder.glob("clip*.wav"))


def test_no_verdict_without_calibration_unless_a_threshold_is_given(
    uncalibrated_detector, tmp_path, capsys
):
    paths = clips(tmp_path, 4)
    args = [str(tmp_path), "--detector", uncalibrated_detector, "--no-progress"]
    out = tmp_path / "r.json"
    assert main([*args, "--format", "json", "--output", str(out)]) == 0
    report = json.load(open(out))
    scores = [r["score"] for r in report["files"]]
    assert [r["label"] for r in report["files"]] == ["uncalibrated"] * 4
    assert report["decision_rule"]["name"] == "uncalibrated"
    assert report["summary"].startswith("4 files: 4 uncalibrated, 0 not scored")
    assert "no verdict without --threshold" in report["summary"]
    # The scores are the detector's, labelled or not.
    own = DeepfakeDetector.from_hparams(uncalibrated_detector).score_files(paths)
    np.testing.assert_allclose(scores, own, atol=1e-5, rtol=0)
    # --threshold T: a two-way label on the raw score, between two scores.
    cut = float(np.median(scores))
    args += ["--threshold", str(cut)]
    assert main([*args, "--format", "json", "--output", str(out)]) == 0
    report = json.load(open(out))
    labels = [r["label"] for r in report["files"]]
    assert labels == ["bonafide" if v > cut else "spoof" for v in scores]
    assert set(labels) == {"bonafide", "spoof"}
    assert f"score > {cut:.4f}" in report["decision_rule"]["text"]
    capsys.readouterr()
    # A plot draws the threshold: refused before scoring without one.
    plots = [str(tmp_path), "--detector", uncalibrated_detector, "--plots"]
    with pytest.raises(SystemExit) as exit_info:
        main([*plots, str(tmp_path / "plots"), "--no-progress"])
    assert exit_info.value.code == 2
    assert "--threshold" in capsys.readouterr().err
    assert not (tmp_path / "plots").exists()
    with pytest.raises(SystemExit) as exit_info:
        main([*args[:-2], "--threshold", "nan"])
    assert exit_info.value.code == 2


def test_uncertain_files_are_labelled_and_counted(small_detector, tmp_path, capsys):
    # The small detector with an uncertain band of half-width h, in LLR.
    folder = tmp_path / "banded"
    shutil.copytree(small_detector, folder)
    paths = clips(tmp_path, 6)
    detector = DeepfakeDetector.from_hparams(small_detector)
    llrs = [detector.classify_score(v)["llr"] for v in detector.score_files(paths)]
    threshold = detector.decision_rule().llr_threshold
    # Half-width between the two middle distances: some files inside the
    # band, some outside.
    distances = sorted(abs(v - threshold) for v in llrs)
    half_width = (distances[2] + distances[3]) / 2
    with open(folder / "hyperparams.yaml", "a") as fout:
        fout.write(f"uncertain_band: {half_width!r}\n")
    args = [str(tmp_path), "--detector", str(folder), "--no-progress"]
    assert main([*args, "--format", "csv", "--output", str(tmp_path / "r.csv")]) == 0
    summary = capsys.readouterr().err
    with open(tmp_path / "r.csv", newline="") as fin:
        import csv

        rows = list(csv.DictReader(fin))
    labels = [r["label_or_error"] for r in rows]
    for row, llr in zip(rows, llrs):
        inside = abs(llr - threshold) < half_width
        assert (row["label_or_error"] == "uncertain") == inside, llr
    assert labels.count("uncertain") == 3
    counts = (labels.count(k) for k in ("bonafide", "spoof", "uncertain"))
    assert (
        "6 files: {} bona fide, {} spoof, {} uncertain, 0 not scored".format(*counts)
        in summary
    )


def test_every_report_states_the_decision_rule(small_detector, tmp_path, capsys):
    rate = 16000
    for seed in range(4):
        sf.write(tmp_path / f"clip{seed}.wav", tone(1.5, rate, seed=seed), rate)
    args = [str(tmp_path), "--detector", small_detector, "--no-progress"]
    rule = DeepfakeDetector.from_hparams(small_detector).decision_rule()
    assert rule.name == "bayes" and "P(bona fide) >= 0.9091" in rule.text
    assert main([*args, "--format", "json", "--output", str(tmp_path / "r.json")]) == 0
    report = json.load(open(tmp_path / "r.json"))
    assert report["decision_rule"]["text"] == rule.text
    threshold = report["decision_rule"]["p_threshold"]
    for row in report["files"]:
        assert (row["p_bonafide"] >= threshold) == (row["label"] == "bonafide")
    assert main([*args, "--format", "csv", "--output", str(tmp_path / "r.csv")]) == 0
    assert rule.text in capsys.readouterr().err  # beside the summary
    with open(tmp_path / "r.csv", newline="") as fin:
        import csv

        rows = list(csv.DictReader(fin))
    assert {r["decision_rule"] for r in rows} == {rule.text}
    assert main([*args, "--format", "table"]) == 0
    assert f"Decision rule: {rule.text}" in capsys.readouterr().out


def test_no_speech_is_reported_with_its_reason_not_a_verdict(
    small_detector, tmp_path, capsys
):
    rate = 16000
    rng = np.random.default_rng(1)
    talk = tone(6, rate, seed=2)
    files = {
        "silent.wav": np.zeros((4 * rate, 1)),
        "quiet.wav": 1e-4 * rng.standard_normal((4 * rate, 1)),  # -80 dBFS RMS
        "talk.wav": np.concatenate([talk, np.zeros((6 * rate, 1)), talk]),
    }
    for name, samples in files.items():
        sf.write(tmp_path / name, samples, rate, subtype="PCM_16")
    paths = [str(tmp_path / name) for name in files]
    args = [*paths, "--detector", small_detector, "--no-progress", "--windows", "1"]
    out = tmp_path / "report.json"
    # No speech is neither an error nor a spoof: the exit status stays 0.
    assert main([*args, "--format", "json", "--output", str(out), "--plots",
                 str(tmp_path / "plots")]) == 0  # fmt: skip
    report = json.load(open(out))
    silent, quiet, talk = report["files"]
    assert (silent["label"], silent["reason"]) == ("no speech", "digital silence")
    assert (quiet["label"], quiet["reason"]) == ("no speech", "level below -60 dBFS")
    assert silent["score"] is None and silent["p_bonafide"] is None
    assert talk["label"] in ("bonafide", "spoof") and talk["reason"] is None
    # The silent middle: its windows are set aside, the mean is of the others.
    windows = talk["windows"]
    silent_middle = [w["start"] >= 6 and w["end"] <= 12 for w in windows]
    assert [w["no_speech"] is not None for w in windows] == silent_middle
    kept = [w["score"] for w in windows if w["score"] is not None]
    assert len(kept) == len(windows) - 11
    assert talk["score"] == pytest.approx(np.mean(kept), rel=1e-6)
    assert "2 no speech" in report["summary"] and "0 not scored" in report["summary"]
    assert sorted(os.listdir(tmp_path / "plots")) == [
        "quiet.png",
        "silent.png",
        "talk.png",
    ]
    assert main([*args, "--format", "csv", "--output", str(tmp_path / "r.csv")]) == 0
    with open(tmp_path / "r.csv", newline="") as fin:
        import csv

        rows = list(csv.DictReader(fin))
    assert [r["label_or_error"] for r in rows[:2]] == ["no speech", "no speech"]
    assert rows[0]["no_speech_reason"] == "digital silence"
    assert rows[0]["window_scores"] == ";".join(["-"] * 7)
    capsys.readouterr()
    assert main([*args, "--format", "table"]) == 0
    table = capsys.readouterr().out
    assert "no speech (digital silence)" in table
    assert "no speech (level below -60 dBFS)" in table


def test_the_progress_bar_shows_the_time_left(small_detector, tmp_path, capsys):
    path = tmp_path / "talk.wav"
    sf.write(path, tone(8, 16000), 16000)
    args = [str(path), "--detector", small_detector, "--windows", "1"]
    assert main([*args, "--progress"]) == 0
    err = capsys.readouterr().err
    # tqdm's [elapsed<remaining], over the 8.0 s of audio.
    assert "audio scored: 100%" in err and "8.0/8.0 s [" in err and "<" in err
    assert main([*args, "--no-progress"]) == 0
    assert "audio scored" not in capsys.readouterr().err
