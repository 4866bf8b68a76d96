"""Fake-or-Real "for-norm": preparation from the folder layout, and evaluation.

A tiny ``for-norm`` tree is written in tmp_path with soundfile (0.5 s of noise
at 16 kHz per clip, a 0-byte clip, a ``.DS_Store``); the end-to-end test
scores it with the mini detector of the session fixture ``trained``
(``tests/conftest.py``), shared with ``tests/test_evaluate.py``.
"""

import json
import logging
import os
import subprocess
import sys

import numpy as np
import pytest
import soundfile as sf
from conftest import EVALUATE, evaluate

from dpda.data.fakeorreal import prepare_for_norm
from dpda.data.listing import ProtocolError
from dpda.data.pipelines import read_skip_log
from dpda.metrics import compute_eer
from dpda.scores import read_score_file

SR = 16000
# The authors' file names (database/protocols/for_norm_test.txt in dpda_ga).
SUFFIX = ".wav_16k.wav_norm.wav_mono.wav_silence.wav"
FAKE = [f"file{i}{SUFFIX}" for i in (1, 2, 10)]
REAL = [f"file{i}{SUFFIX}" for i in (1, 7)] + ["my clip.wav"]
EMPTY = f"file3{SUFFIX}"  # a 0-byte fake clip


def write_clip(path, seed):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    rng = np.random.default_rng(seed)
    sf.write(path, rng.uniform(-0.5, 0.5, SR // 2).astype(np.float32), SR)


def make_for_norm(root, empty=True):
    """for-norm/{training,testing}/{fake,real}; returns the for-norm folder."""
    folder = os.path.join(root, "for-norm")
    for seed, (cls, name) in enumerate(
        [("fake", n) for n in FAKE] + [("real", n) for n in REAL]
    ):
        write_clip(os.path.join(folder, "testing", cls, name), seed)
    write_clip(os.path.join(folder, "training", "fake", "file9.wav"), 20)
    write_clip(os.path.join(folder, "training", "real", "file9.wav"), 21)
    if empty:
        open(os.path.join(folder, "testing", "fake", EMPTY), "wb").close()
    open(os.path.join(folder, "testing", "fake", ".DS_Store"), "wb").close()
    open(os.path.join(folder, "testing", "real", "notes.txt"), "w").close()
    os.makedirs(os.path.join(folder, "testing", "real", "extra"))
    return folder


def load(path):
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def test_manifest_lists_the_testing_split(tmp_path, caplog):
    data = make_for_norm(str(tmp_path))
    with caplog.at_level(logging.WARNING, logger="dpda.data.fakeorreal"):
        path = prepare_for_norm(data, str(tmp_path / "manifests"))
    assert path == str(tmp_path / "manifests" / "for_norm_testing.json")
    entries = load(path)
    fakes = sorted(FAKE + [EMPTY])
    ids = [f"fake/{n}" for n in fakes] + [
        f"real/{n.replace(' ', '_')}" for n in sorted(REAL)
    ]
    assert list(entries) == ids  # fake/ then real/, names in code-point order
    assert entries["fake/" + FAKE[0]] == {
        "wav": "{data_root}/testing/fake/" + FAKE[0],
        "label": "spoof",
        "speaker": "unknown",
        "attack": "unknown",
    }
    assert entries["real/my_clip.wav"] == {
        "wav": "{data_root}/testing/real/my clip.wav",
        "label": "bonafide",
        "speaker": "unknown",
        "attack": "-",
    }
    labels = [e["label"] for e in entries.values()]
    assert labels.count("spoof") == 4 and labels.count("bonafide") == 3
    for entry in entries.values():
        assert os.path.isfile(entry["wav"].format(data_root=data))
    assert not any(" " in utt for utt in entries)
    ignored = caplog.text
    assert ".DS_Store" in ignored and "notes.txt" in ignored and "extra" in ignored

    other = load(prepare_for_norm(data, str(tmp_path / "manifests"), "training"))
    assert other == {
        "fake/file9.wav": {
            "wav": "{data_root}/training/fake/file9.wav",
            "label": "spoof",
            "speaker": "unknown",
            "attack": "unknown",
        },
        "real/file9.wav": {
            "wav": "{data_root}/training/real/file9.wav",
            "label": "bonafide",
            "speaker": "unknown",
            "attack": "-",
        },
    }
    with pytest.raises(ValueError, match="split must be one of"):
        prepare_for_norm(data, str(tmp_path / "manifests"), "test")


def test_other_audio_extensions_are_listed(tmp_path):
    data = str(tmp_path / "for-norm")
    for cls, name in [
        ("fake", "a.flac"),
        ("fake", "b.OGG"),
        ("fake", "c.mp3"),
        ("real", "d.WAV"),
        ("real", "e.m4a"),
    ]:
        os.makedirs(os.path.join(data, "testing", cls), exist_ok=True)
        open(os.path.join(data, "testing", cls, name), "wb").close()
    entries = load(prepare_for_norm(data, str(tmp_path / "m")))
    assert list(entries) == ["fake/a.flac", "fake/b.OGG", "fake/c.mp3", "real/d.WAV"]


def test_rerun_is_a_no_op(tmp_path, caplog):
    data = make_for_norm(str(tmp_path))
    out = str(tmp_path / "manifests")
    path = prepare_for_norm(data, out)
    before = (os.stat(path).st_mtime_ns, open(path).read())
    os.remove(os.path.join(data, "testing", "fake", FAKE[0]))
    with caplog.at_level(logging.INFO, logger="dpda.data.fakeorreal"):
        assert prepare_for_norm(data, out) == path
    assert "already prepared" in caplog.text
    assert (os.stat(path).st_mtime_ns, open(path).read()) == before
    # skip_prep: the manifest is the user's, nothing is read or written.
    assert prepare_for_norm(str(tmp_path / "nowhere"), out, skip_prep=True) == path
    # Another manifest name: listed again, without the removed clip.
    again = load(prepare_for_norm(data, out, name="again"))
    assert len(again) == len(FAKE) + 1 + len(REAL) - 1


def test_missing_split_or_class_folder(tmp_path):
    data = str(tmp_path / "for-norm")
    with pytest.raises(FileNotFoundError, match="for-norm folder not found"):
        prepare_for_norm(data, str(tmp_path / "m"))
    os.makedirs(os.path.join(data, "training", "fake"))
    testing = os.path.join(data, "testing")
    with pytest.raises(FileNotFoundError, match="split folder not found") as info:
        prepare_for_norm(data, str(tmp_path / "m"))
    assert testing in str(info.value)
    write_clip(os.path.join(testing, "fake", "a.wav"), 0)
    with pytest.raises(FileNotFoundError, match="class folder not found") as info:
        prepare_for_norm(data, str(tmp_path / "m"))
    assert os.path.join(testing, "real") in str(info.value)
    assert not os.path.exists(tmp_path / "m" / "for_norm_testing.json")


def test_class_folder_without_audio(tmp_path):
    data = make_for_norm(str(tmp_path))
    real = os.path.join(data, "testing", "real")
    for name in REAL:
        os.remove(os.path.join(real, name))  # left: notes.txt, extra/
    with pytest.raises(ProtocolError, match="no audio file") as info:
        prepare_for_norm(data, str(tmp_path / "m"))
    assert real in str(info.value)


def test_colliding_ids_and_unusable_names(tmp_path):
    data = make_for_norm(str(tmp_path))
    real = os.path.join(data, "testing", "real")
    write_clip(os.path.join(real, "my_clip.wav"), 0)  # also id real/my_clip.wav
    with pytest.raises(ProtocolError, match="duplicate trial id") as info:
        prepare_for_norm(data, str(tmp_path / "m"))
    message = str(info.value)
    assert os.path.join(real, "my clip.wav") in message
    assert os.path.join(real, "my_clip.wav") in message

    os.remove(os.path.join(real, "my_clip.wav"))
    write_clip(os.path.join(real, "{x}.wav"), 0)
    with pytest.raises(ProtocolError, match="braces") as info:
        prepare_for_norm(data, str(tmp_path / "m"))
    assert os.path.join(real, "{x}.wav") in str(info.value)


def test_command_line(tmp_path):
    data = make_for_norm(str(tmp_path), empty=False)
    out = str(tmp_path / "m")
    result = subprocess.run(
        [sys.executable, "for_norm_prepare.py", data, out, "--split", "training"],
        cwd=EVALUATE,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert list(load(os.path.join(out, "for_norm_training.json"))) == [
        "fake/file9.wav",
        "real/file9.wav",
    ]


@pytest.mark.slow
def test_evaluate_for_norm_raises_or_skips_the_empty_clip(trained, tmp_path):
    _, run_dir = trained
    detector = os.path.join(run_dir, "detector")
    data = make_for_norm(str(tmp_path))

    # on_bad_audio: raise (default) stops on the 0-byte clip, naming it.
    failed = subprocess.run(
        [
            sys.executable,
            "evaluate.py",
            "hparams/evaluate.yaml",
            f"--detector={detector}",
            f"--data_folder={data}",
            f"--output_folder={tmp_path / 'raise'}",
            "--eval_set=for_norm",
            "--num_workers=0",
            "--progress=False",
        ],
        cwd=EVALUATE,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert failed.returncode != 0
    last_lines = (failed.stdout + failed.stderr)[-3000:]  # SpeechBrain logs to stdout
    assert "AudioError" in last_lines and f"fake/{EMPTY}" in last_lines

    out = str(tmp_path / "skip")
    stdout = evaluate(out, detector, data, "--eval_set=for_norm", "--on_bad_audio=skip")
    skipped = read_skip_log(os.path.join(out, "skipped_items.tsv"))
    assert list(skipped) == [f"fake/{EMPTY}"]
    assert EMPTY in skipped[f"fake/{EMPTY}"]

    scores = read_score_file(os.path.join(out, "scores", "for_norm.txt"))
    manifest = load(os.path.join(out, "manifests", "for_norm.json"))
    assert list(scores) == [u for u in manifest if u != f"fake/{EMPTY}"]
    assert "real/my_clip.wav" in scores and "fake/" + FAKE[0] in scores
    bona = [s for u, s in scores.items() if u.startswith("real/")]
    spoof = [s for u, s in scores.items() if u.startswith("fake/")]
    assert len(bona) == 3 and len(spoof) == 3

    result = load(os.path.join(out, "eval_results.json"))["for_norm"]
    assert result["EER"] == pytest.approx(100 * compute_eer(bona, spoof)[0], abs=1e-4)
    assert (result["trials"], result["unscored"], result["skipped_items"]) == (6, 1, 1)
    assert result["breakdown"] == {}
    assert f"EER for_norm: {result['EER']:.2f}%" in stdout
