"""``dpda-detect``: the console script on mixed formats, bad files and long recordings."""

import json
import os
import subprocess
import sys

import av
import numpy as np
import pytest
import soundfile as sf
import torch

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


def write_m4a(path, samples, rate):
    """AAC in an MP4 container, with PyAV (soundfile cannot write it)."""
    layout = "stereo" if samples.shape[1] == 2 else "mono"
    with av.open(path, "w") as container:
        stream = container.add_stream("aac", rate=rate)
        stream.layout = layout
        frame = av.AudioFrame.from_ndarray(
            np.ascontiguousarray(samples.T), format="fltp", layout=layout
        )
        frame.sample_rate = rate
        for packet in stream.encode(frame):
            container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)


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
    # The same scores as the Python API (default detector: AASIST-L).
    detector = DeepfakeDetector.from_hparams()
    expected = detector.score_files([str(mixed / k) for k in good])
    np.testing.assert_allclose(
        [rows[k]["score"] for k in good], expected, atol=1e-5, rtol=0
    )
    for key in good:
        label = "bonafide" if rows[key]["score"] > 0 else "spoof"
        assert rows[key]["label"] == label and rows[key]["llr"] is None
    assert "9 files:" in report["summary"] and "3 not scored" in report["summary"]
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
    assert lines[0] == "path,duration_s,score,label_or_error,decision_rule"
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


@pytest.fixture(scope="module")
def small_detector(tmp_path_factory):
    """A small exported detector (1 s windows), fast enough for long audio."""
    root = tmp_path_factory.mktemp("small")
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
