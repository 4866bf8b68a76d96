"""Helpers of the reliability soak script, ``benchmarks/soak.py`` (issue 7),
and of its corpus corruption, ``benchmarks/corrupt_audio.py``.

The soak itself trains the recipe many times; these tests check its parts on
tiny files made in tmp_path: the corruption plan and each corruption kind
(against the checked reader), the log parsing, the checks that must catch a
torn checkpoint or score file, bitwise comparison and the process-group kill.

Authors
 * dpda contributors 2026
"""

import doctest
import json
import os
import subprocess
import sys
import time

import numpy as np
import pytest
import soundfile as sf
import torch

from dpda.data.audio import AudioError, read_checked_audio

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# soak.py imports corrupt_audio.py from beside it, as when run as a script.
sys.path.insert(0, os.path.join(ROOT, "benchmarks"))
import corrupt_audio  # noqa: E402
import soak  # noqa: E402

SR = 16000


@pytest.mark.parametrize("module", [soak, corrupt_audio])
def test_docstring_examples(module):
    assert doctest.testmod(module).failed == 0


def test_plan_takes_every_nth_file_and_cycles_kinds():
    files = {
        split: [f"{split}{i}" for i in range(n)]
        for split, n in zip(corrupt_audio.SPLITS, (23, 7, 15, 4))
    }
    plan = corrupt_audio.plan_corruptions(files, 5)
    # Brute force: positions 4, 9, ... of each split, in split order.
    chosen = [
        (split, name)
        for split in corrupt_audio.SPLITS
        for i, name in enumerate(files[split])
        if (i + 1) % 5 == 0
    ]
    assert [(s, p) for s, p, _ in plan] == chosen
    assert len(plan) == 23 // 5 + 7 // 5 + 15 // 5 + 4 // 5
    assert [k for _, _, k in plan] == [
        corrupt_audio.KINDS[i % len(corrupt_audio.KINDS)] for i in range(len(plan))
    ]
    assert corrupt_audio.plan_corruptions(files, 100) == []


def _speech_like(seconds=1.5, seed=0):
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * SR)) / SR
    x = 0.3 * np.sin(2 * np.pi * 150 * t) + 0.05 * rng.standard_normal(t.size)
    return np.round(x * 32767).astype(np.int16)


@pytest.mark.parametrize("ext,fmt", [(".flac", "FLAC"), (".wav", "WAV")])
@pytest.mark.parametrize("kind", corrupt_audio.KINDS)
def test_each_kind_is_bad_except_stereo(tmp_path, kind, ext, fmt):
    path = str(tmp_path / f"LA_T_1000001{ext}")
    pcm = _speech_like()
    sf.write(path, pcm, SR, format=fmt, subtype="PCM_16")
    size = os.path.getsize(path)
    corrupt_audio.corrupt_file(path, kind, np.random.default_rng(0))

    if kind in corrupt_audio.BAD_KINDS:
        with pytest.raises(AudioError):
            read_checked_audio(path, num_samples=32000)
    else:  # stereo: the pipeline's downmix is the mean of the two channels
        both = sf.read(path, dtype="float32")[0]
        assert both.shape == (pcm.size, 2)
        read = read_checked_audio(path, num_samples=32000).numpy()
        np.testing.assert_allclose(read, both.mean(axis=1), atol=1e-7)
        np.testing.assert_allclose(read, 0.75 * pcm / 32768, atol=1.0 / 32768)

    data = open(path, "rb").read()
    if kind == "truncated":
        assert len(data) == int(size * corrupt_audio.TRUNCATE_KEEP)
    elif kind == "random_bytes":
        assert len(data) == size and b"\xff" not in data
    elif kind == "nan":
        samples = sf.read(path)[0]
        assert np.isnan(samples).sum() == 100
        assert np.isnan(samples[: 32000 // 2]).any()  # within the part read
    elif kind == "wrong_rate":
        info = sf.info(path)
        assert info.samplerate == corrupt_audio.WRONG_RATE
        assert info.frames == round(pcm.size * corrupt_audio.WRONG_RATE / SR)


def test_expected_skips_are_the_bad_kinds_only():
    plan = [
        ("train", f"/c/{kind}_{i}.flac", kind)
        for i, kind in enumerate(corrupt_audio.KINDS * 2)
    ]
    ids = corrupt_audio.expected_skips(plan)
    assert ids == {
        f"{k}_{i}" for i, k in enumerate(corrupt_audio.KINDS * 2) if k != "stereo"
    }
    assert len(ids) == 2 * (len(corrupt_audio.KINDS) - 1)


def test_skipped_steps_count_the_last_line_of_each_epoch(tmp_path):
    rng = np.random.default_rng(3)
    last, lines = {}, []
    for epoch in [1, 2, 2, 3, 4, 4, 4, 5]:  # repeats: epochs redone after kills
        value = int(rng.integers(0, 5))
        last[epoch] = value
        lines.append(
            f"epoch: {epoch}, lr: 1.00e-03 - train loss: 5.0e-01, "
            f"train skipped_steps: {value} - valid loss: 7.0e-01, valid EER: 20.00\n"
        )
    lines.append("Evaluation set: dev, Epoch loaded: 3 - test loss: 7.3e-01\n")
    path = tmp_path / "train_log.txt"
    path.write_text("".join(lines))
    assert soak.skipped_optimizer_steps(str(path)) == sum(last.values())
    assert soak.skipped_optimizer_steps(str(tmp_path / "missing.txt")) == 0


def _checkpoint(save, name, unixtime, meta=True, intra=False):
    folder = save / f"CKPT+{name}"
    folder.mkdir(parents=True)
    torch.save({"w": torch.arange(3.0)}, folder / "model.ckpt")
    (folder / "brain.ckpt").write_text(json.dumps({"step": 4}))
    (folder / "counter.ckpt").write_text("2")
    (folder / "dataloader-TRAIN.ckpt").write_text("None")
    if meta:
        text = f"unixtime: {unixtime}\n"
        if intra:
            text += "brain_intra_epoch_ckpt: true\n"
        (folder / "CKPT.yaml").write_text(text)
    return folder


FILES = {"model.ckpt", "brain.ckpt", "counter.ckpt", "dataloader-TRAIN.ckpt"}


def test_checkpoint_check_flags_only_complete_looking_folders(tmp_path):
    save = tmp_path / "save"
    _checkpoint(save, "good", 1.0)
    _checkpoint(save, "intra", 3.0, intra=True)
    _checkpoint(save, "torn", 4.0, meta=False)  # killed while saving: ignored
    (save / "CKPT+torn" / "CKPT.yaml.partial").write_text("unixtime: 4.0\n")
    missing = _checkpoint(save, "missing", 2.0)
    os.remove(missing / "model.ckpt")
    cut = _checkpoint(save, "cut", 2.5)
    data = (cut / "model.ckpt").read_bytes()
    (cut / "model.ckpt").write_bytes(data[: len(data) // 2])

    problems, torn = soak.check_checkpoints(str(save), FILES)
    assert torn == 1
    assert len(problems) == 2
    assert any("CKPT+missing" in p and "model.ckpt" in p for p in problems)
    assert any("CKPT+cut" in p and "cannot load" in p for p in problems)

    names = [os.path.basename(f) for f, _ in soak.complete_checkpoints(str(save))]
    assert names == ["CKPT+good", "CKPT+missing", "CKPT+cut", "CKPT+intra"]
    assert soak.intra_epoch_checkpoints(str(save)) == {"CKPT+intra"}
    assert soak.resume_point(str(save)) == "epoch 2, step 4"


def test_score_file_check(tmp_path):
    path = tmp_path / "s.txt"
    path.write_text("a 0.5\nb -1.25\nc 3.0\n")
    assert soak.check_score_file(str(path), 3) == []
    assert len(soak.check_score_file(str(path), 4)) == 1
    path.write_text("a 0.5\nb -1.25\nc 3")  # cut mid-line
    assert soak.check_score_file(str(path), 3)
    path.write_text("a 0.5\na -1.25\nc 3.0\n")  # repeated trial
    assert soak.check_score_file(str(path), 3)
    path.write_text("a 0.5\nb\nc 3.0\n")
    assert soak.check_score_file(str(path), 3)


def test_output_folder_check_counts_leftovers_and_bad_json(tmp_path):
    out = tmp_path / "run"
    _checkpoint(out / "save", "good", 1.0)
    (out / "scores").mkdir()
    (out / "scores" / "dev.txt").write_text("a 1.0\nb 2.0\n")
    (out / "scores" / "dev.txt.tmp").write_text("a 1.0\n")
    (out / "manifests").mkdir()
    (out / "manifests" / "dev.json").write_text('{"a": {')
    problems, torn, leftovers = soak.check_output_folder(
        str(out), FILES, {"dev": 2, "in_the_wild": 5}
    )
    assert torn == 0 and leftovers == 1
    assert problems == [f"{out / 'manifests' / 'dev.json'}: not valid JSON"]


def test_tensors_equal_is_bitwise():
    gen = torch.Generator().manual_seed(0)
    state = {
        "state": {0: {"exp_avg": torch.randn(4, generator=gen), "step": 3.0}},
        "param_groups": [{"lr": 1e-3, "params": [0]}],
    }
    copy = json.loads(json.dumps(state, default=lambda t: t.tolist()))
    copy["state"] = {0: {"exp_avg": state["state"][0]["exp_avg"].clone(), "step": 3.0}}
    assert soak.tensors_equal(state, copy)
    x = copy["state"][0]["exp_avg"]
    copy["state"][0]["exp_avg"] = torch.where(
        torch.arange(4) == 2, torch.nextafter(x, x + 1), x
    )
    assert not soak.tensors_equal(state, copy)  # one ulp in one element
    assert not soak.tensors_equal({"w": torch.ones(2)}, {"w": torch.ones(2).double()})
    assert not soak.tensors_equal({"w": torch.ones(2)}, {"v": torch.ones(2)})


def test_kill_takes_the_whole_process_group(tmp_path):
    pid_file = tmp_path / "child.pid"
    script = (
        "import subprocess, sys, time\n"
        "child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'])\n"
        f"open({str(pid_file)!r}, 'w').write(str(child.pid))\n"
        "time.sleep(60)\n"
    )
    proc = soak.launch([sys.executable, "-c", script], str(tmp_path / "log"), 1)
    deadline = time.time() + 20
    while not (pid_file.exists() and pid_file.read_text()):
        assert time.time() < deadline and proc.poll() is None
        time.sleep(0.02)
    child = int(pid_file.read_text())
    assert soak.kill(proc) is True
    assert proc.returncode == -9
    for _ in range(200):  # the child (a stand-in for a loader worker) died too
        state = subprocess.run(
            ["ps", "-o", "stat=", "-p", str(child)], capture_output=True, text=True
        ).stdout.strip()
        if not state or state.startswith("Z"):
            break
        time.sleep(0.02)
    assert not state or state.startswith("Z")
    assert soak.kill(proc) is False  # already reaped: no signal sent


def test_work_dir_is_never_cleared_unless_the_soak_made_it(tmp_path):
    foreign = tmp_path / "data"
    foreign.mkdir()
    (foreign / "keep.txt").write_text("precious")
    with pytest.raises(SystemExit):
        soak.prepare_work_dir(str(foreign))
    assert (foreign / "keep.txt").read_text() == "precious"

    work = soak.prepare_work_dir(str(tmp_path / "soak"))
    (tmp_path / "soak" / "old_run").mkdir()
    assert soak.prepare_work_dir(work) == work
    assert sorted(os.listdir(work)) == [soak.MARKER]
