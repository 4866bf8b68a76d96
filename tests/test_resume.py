"""A training run killed with SIGKILL mid-epoch resumes to the same result.

The interrupted run is killed right after its first intra-epoch checkpoint
(SpeechBrain's ``--ckpt_interval_steps``), resumed with the same command, and
compared with an uninterrupted run of the same seed: final parameters,
optimizer state, GradVac state, alignment statistics and score files must be
bitwise identical on CPU.
"""

import glob
import os
import signal
import subprocess
import sys
import time

import pytest
import torch

from dpda.data.minicorpus import generate_mini_corpus

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RECIPE = os.path.join(ROOT, "recipes", "ASVspoof")
SIZES = {"train": (8, 16), "dev": (4, 8), "eval": (4, 8), "itw": (4, 4)}


def command_for(corpus, out, hparams="mini_dpda_rawboost.yaml", aligner="gradvac"):
    return [
        sys.executable,
        "train.py",
        f"hparams/{hparams}",
        f"--mini_corpus_folder={corpus}",
        f"--output_folder={out}",
        f"--aligner={aligner}",
        "--number_of_epochs=2",
        "--batch_size=4",
        "--num_workers=0",
        "--max_samples=16000",
        "--eval_max_samples=8000",
        "--ckpt_interval_steps=2",
        "--ckpt_interval_minutes=0",
    ]


def intra_epoch_checkpoints(out):
    found = []
    for meta in glob.glob(os.path.join(out, "save", "CKPT+*", "CKPT.yaml")):
        try:
            text = open(meta, encoding="utf-8").read()
        except OSError:
            continue
        if "brain_intra_epoch_ckpt" in text:
            found.append(os.path.dirname(meta))
    return found


def newest_checkpoint(out):
    ckpts = glob.glob(os.path.join(out, "save", "CKPT+*"))
    return max(ckpts, key=lambda c: os.path.getmtime(os.path.join(c, "CKPT.yaml")))


def final_state(out):
    ckpt = newest_checkpoint(out)
    files = {}
    for name in ("model", "optimizer", "aligner", "counter"):
        path = glob.glob(os.path.join(ckpt, f"{name}.*"))[0]
        if name in ("model", "optimizer"):
            files[name] = torch.load(path, weights_only=True)
        else:
            files[name] = open(path, encoding="utf-8").read()
    return files


def assert_bitwise_equal(a, b, where=""):
    if isinstance(a, torch.Tensor):
        assert torch.equal(a, b), where
    elif isinstance(a, dict):
        assert a.keys() == b.keys(), where
        for key in a:
            assert_bitwise_equal(a[key], b[key], f"{where}.{key}")
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b)):
            assert_bitwise_equal(x, y, f"{where}[{i}]")
    else:
        assert a == b, where


@pytest.mark.slow
@pytest.mark.parametrize(
    "hparams,aligner",
    [
        ("mini_dpda_rawboost.yaml", "gradvac"),
        # Three paths (clean, RawBoost, codec): PCGrad's order generator and
        # the codec draws resume too.
        ("mini_dpda_multi.yaml", "pcgrad"),
    ],
)
def test_sigkill_mid_epoch_then_resume_equals_uninterrupted_run(
    tmp_path, hparams, aligner
):
    corpus = str(tmp_path / "mini")
    generate_mini_corpus(corpus, seed=11, sizes=SIZES)
    clean, killed = str(tmp_path / "clean"), str(tmp_path / "killed")
    env = {**os.environ, "OMP_NUM_THREADS": "1"}

    def command(corpus, out):
        return command_for(corpus, out, hparams, aligner)

    done = subprocess.run(
        command(corpus, clean), cwd=RECIPE, env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr[-3000:]

    proc = subprocess.Popen(
        command(corpus, killed),
        cwd=RECIPE,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.time() + 300
    while not intra_epoch_checkpoints(killed):
        assert proc.poll() is None, "the run ended before its first checkpoint"
        assert time.time() < deadline
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL
    assert not os.path.exists(os.path.join(killed, "eval_results.json"))
    # The newest checkpoint is the mid-epoch one: resuming starts mid-epoch.
    assert newest_checkpoint(killed) in intra_epoch_checkpoints(killed)

    resumed = subprocess.run(
        command(corpus, killed), cwd=RECIPE, env=env, capture_output=True, text=True
    )
    assert resumed.returncode == 0, resumed.stderr[-3000:]

    assert_bitwise_equal(final_state(clean), final_state(killed), "checkpoint")
    for name in (
        "alignment_stats.csv",
        "scores/asvspoof2019_la_eval.txt",
        "scores/in_the_wild.txt",
    ):
        a = open(os.path.join(clean, name), encoding="utf-8").read()
        b = open(os.path.join(killed, name), encoding="utf-8").read()
        assert a == b, name
    rows = open(os.path.join(killed, "alignment_stats.csv")).read().splitlines()
    assert len(rows) == 1 + 2 * 6  # header + 2 epochs of 6 steps, none lost


def test_checkpoint_interrupted_while_saving_is_never_loaded(tmp_path):
    from dpda.checkpoints import AtomicCheckpointer

    class Dies(torch.nn.Module):
        """Its saver fails, as a kill in the middle of the save would."""

        fail = False

        def __init__(self):
            super().__init__()
            self.w = torch.nn.Parameter(torch.zeros(2))

        def state_dict(self, *args, **kwargs):
            if self.fail:
                raise KeyboardInterrupt
            return super().state_dict(*args, **kwargs)

    good, dies = torch.nn.Linear(2, 2), Dies()
    ckpt = AtomicCheckpointer(str(tmp_path), {"a": good, "b": dies})
    first = ckpt.save_checkpoint(meta={"n": 1})
    dies.fail = True
    try:
        ckpt.save_checkpoint(meta={"n": 2})
    except KeyboardInterrupt:
        pass
    folders = sorted(p.name for p in tmp_path.iterdir())
    assert len(folders) == 2  # the torn folder exists on disk...
    # ...but is not a checkpoint: recovery takes the complete one.
    assert ckpt.recover_if_possible().meta["n"] == 1
    dies.fail = False
    ckpt.save_and_keep_only(meta={"n": 3}, num_to_keep=1)
    assert [p.name for p in tmp_path.iterdir()] != folders
    assert len(list(tmp_path.iterdir())) == 1  # torn and old ones removed
    assert not first.path.exists()


class _Payload:
    """Unpickling this runs code: it creates a marker file."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_training_checkpoint_with_a_malicious_pickle_is_refused(tmp_path):
    import pickle

    from dpda.checkpoints import AtomicCheckpointer

    model = torch.nn.Linear(2, 2)
    ckpt = AtomicCheckpointer(str(tmp_path / "save"), {"model": model})
    saved = ckpt.save_checkpoint()
    marker = tmp_path / "pwned"
    torch.save({"weight": _Payload(str(marker))}, saved.paramfiles["model"])
    with pytest.raises(pickle.UnpicklingError):
        ckpt.recover_if_possible()
    assert not marker.exists()
    # The control: the same file does run code when unpickled naively.
    torch.load(saved.paramfiles["model"], weights_only=False)
    assert marker.exists()


@pytest.mark.filterwarnings("ignore:Trying to load checkpoint")
def test_checkpoints_from_before_the_rng_state_still_resume(tmp_path):
    """A checkpoint in SpeechBrain's own brain format, without rng.ckpt."""
    from dpda.brain import AntiSpoofBrain
    from dpda.checkpoints import AtomicCheckpointer

    model = torch.nn.Linear(2, 2)
    ckpt = AtomicCheckpointer(str(tmp_path), {"model": model})
    saved = ckpt.save_checkpoint(end_of_epoch=False)
    (saved.path / "brain.ckpt").write_text(
        "avg_train_loss: 0.5\noptimizer_step: 7\nstep: 7\n"
    )
    brain = AntiSpoofBrain(
        modules={"model": model},
        hparams={"class_weights": [0.1, 0.9]},
        run_opts={"device": "cpu"},
        checkpointer=ckpt,
    )
    ckpt.recover_if_possible()
    assert (brain.step, brain.optimizer_step, brain.avg_train_loss) == (7, 7, 0.5)
    assert brain.rng_state.pending is None


def test_intra_epoch_checkpoints_fall_between_optimizer_steps(tmp_path):
    """With gradient accumulation, no checkpoint inside an accumulation cycle."""
    from dpda.brain import DPDABrain
    from dpda.checkpoints import AtomicCheckpointer

    model = torch.nn.Linear(2, 2)
    brain = DPDABrain(
        modules={"model": model},
        hparams={"class_weights": [0.1, 0.9], "aligner": "pcgrad"},
        run_opts={
            "device": "cpu",
            "grad_accumulation_factor": 2,
            "ckpt_interval_steps": 1,
        },
        checkpointer=AtomicCheckpointer(str(tmp_path), {"model": model}),
    )
    decisions = []
    for step in range(1, 7):
        brain.step = step
        decisions.append(brain._should_save_intra_epoch_ckpt(0.0, 1))
    assert decisions == [False, True, False, True, False, True]
