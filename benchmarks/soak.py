"""Reliability soak: bad audio, SIGKILLs and resumption on the mini DPDA recipe.

What it measures, on the synthetic mini corpus (``dpda.data.minicorpus``):

1. Bad audio. Every N-th file of train, dev, eval and In-the-Wild is
   corrupted, cycling through six kinds: ``truncated`` (bytes cut),
   ``random_bytes``, ``empty`` (no samples), ``nan`` (NaN samples),
   ``stereo`` and ``wrong_rate`` (22.05 kHz). All but ``stereo`` (downmixed)
   are bad with the recipe's defaults (no resampling), so in
   ``--on_bad_audio=skip`` mode they must appear in ``skipped_items.tsv``, the
   rest of the data must train and score, and no optimizer step may be
   skipped for non-finite gradients. The list of corrupted files is written
   to ``<work_dir>/corpus/corruptions.tsv`` (``benchmarks/corrupt_audio.py``).
2. Kill and resume. Run A trains the mini DPDA recipe (PCGrad, a few epochs,
   intra-epoch checkpoints every K steps) uninterrupted. Run B runs the same
   command but is killed with SIGKILL (its whole process group) a seeded
   random delay after each new intra-epoch checkpoint appears, then resumed
   with the same command, until it completes.
3. Atomic writes. After each kill, every ``CKPT+*`` folder that holds a
   ``CKPT.yaml`` must hold all its files, each loadable; torn folders (no
   ``CKPT.yaml``) and ``*.tmp`` / ``*.partial`` leftovers are counted, never
   taken for complete files; score files and JSON outputs present must be
   whole (one line per trial).
4. Equality. Run B must end bitwise equal to run A: the newest checkpoint's
   model parameters (loaded with ``weights_only=True``), the score files and
   the EERs.

The exit status is non-zero when run B differs from run A, when the skipped
items differ from the expected bad files, when an optimizer step was skipped,
or when a kill left a file that passes for complete but is not.

Usage (about 10 minutes on 2 CPU cores; ``--full`` uses the default mini
corpus, six times larger)::

    python benchmarks/soak.py [--full] [--corrupt_every 10] [--kills 3]

Authors
 * dpda contributors 2026
"""

import argparse
import glob
import json
import os
import platform
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

import numpy as np
import torch
import yaml
from corrupt_audio import (  # benchmarks/corrupt_audio.py, beside this script
    BAD_KINDS,
    KINDS,
    SPLITS,
    corrupt_corpus,
    expected_skips,
    utterance_id,
)

from dpda.data.minicorpus import generate_mini_corpus
from dpda.data.pipelines import read_skip_log

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RECIPE = os.path.join(ROOT, "recipes", "ASVspoof")
HPARAMS = "hparams/mini_dpda_rawboost.yaml"
MARKER = "SOAK_WORK_DIR"  # marks a work folder this script may clear

# Small enough for ~10 minutes on 2 cores; 128 training files fill 8 batches
# of 16, so drop_last never hides a file from the skip count.
SMALL_SIZES = {"train": (40, 88), "dev": (20, 40), "eval": (20, 40), "itw": (20, 20)}
# Evaluation set names of the recipe -> corpus split.
SCORED_SETS = {"dev": "dev", "asvspoof2019_la_eval": "eval", "in_the_wild": "itw"}


# --------------------------------------------------------------------------
# Reading a run's output folder
# --------------------------------------------------------------------------
def skipped_optimizer_steps(train_log):
    """Optimizer steps skipped for non-finite gradients, summed over epochs.

    An epoch logged twice (a kill between the log line and the end-of-epoch
    checkpoint makes the resumed run redo it) counts once, its last line.

    Arguments
    ---------
    train_log : str
        The recipe's ``train_log.txt``; missing means no epoch finished.

    Returns
    -------
    int
        Sum of ``skipped_steps`` over the epochs.

    Example
    -------
    >>> import tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "train_log.txt")
    >>> with open(path, "w") as f:
    ...     _ = f.write("epoch: 1, lr: 1.00e-03 - train loss: 0.5, skipped_steps: 2\\n"
    ...                 "epoch: 1, lr: 1.00e-03 - train loss: 0.5, skipped_steps: 1\\n"
    ...                 "epoch: 2, lr: 1.00e-03 - train loss: 0.4, skipped_steps: 3\\n")
    >>> skipped_optimizer_steps(path)
    4
    """
    per_epoch = {}
    if not os.path.isfile(train_log):
        return 0
    with open(train_log, encoding="utf-8") as f:
        for line in f:
            epoch = re.match(r"epoch: (\d+),", line)
            skipped = re.search(r"skipped_steps: ([0-9.e+-]+)", line)
            if epoch and skipped:
                per_epoch[int(epoch.group(1))] = int(float(skipped.group(1)))
    return sum(per_epoch.values())


def complete_checkpoints(save_dir):
    """Checkpoint folders marked complete (with a ``CKPT.yaml``), oldest first.

    Arguments
    ---------
    save_dir : str
        The recipe's ``save`` folder.

    Returns
    -------
    list of tuple
        ``(folder, meta)`` sorted by the meta's ``unixtime``.
    """
    found = []
    for meta_path in glob.glob(os.path.join(save_dir, "CKPT+*", "CKPT.yaml")):
        try:
            with open(meta_path, encoding="utf-8") as f:
                meta = yaml.safe_load(f)
        except FileNotFoundError:
            continue  # deleted by the run meanwhile (meta file first)
        found.append((os.path.dirname(meta_path), meta))
    return sorted(found, key=lambda item: item[1]["unixtime"])


def _loads(path):
    """Whether a checkpoint file is whole: a torch file, JSON or ``None``."""
    try:
        torch.load(path, weights_only=True, map_location="cpu")
        return True
    except Exception:
        pass
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except (OSError, UnicodeDecodeError):
        return False
    try:
        json.loads(text)
        return True
    except ValueError:
        return text.strip() == "None"  # a data-loader position before iterating


def check_checkpoints(save_dir, expected_files):
    """Check that every folder marked complete holds all its files, loadable.

    Arguments
    ---------
    save_dir : str
        The recipe's ``save`` folder.
    expected_files : set of str
        File names a complete checkpoint holds (``CKPT.yaml`` excluded).

    Returns
    -------
    problems : list of str
        One line per complete-looking checkpoint that is not.
    torn : int
        ``CKPT+*`` folders without ``CKPT.yaml`` (ignored by recovery).
    """
    problems, torn = [], 0
    for folder in glob.glob(os.path.join(save_dir, "CKPT+*")):
        if not os.path.isfile(os.path.join(folder, "CKPT.yaml")):
            torn += 1
            continue
        name = os.path.basename(folder)
        present = set(os.listdir(folder)) - {"CKPT.yaml"}
        missing = sorted(set(expected_files) - present)
        if missing:
            problems.append(f"{name}: marked complete but lacks {missing}")
        broken = [
            f
            for f in sorted(present & set(expected_files))
            if not _loads(os.path.join(folder, f))
        ]
        if broken:
            problems.append(f"{name}: marked complete but cannot load {broken}")
    return problems, torn


def check_score_file(path, n_trials):
    """Check that a score file has one ``UTT_ID SCORE`` line per trial.

    Arguments
    ---------
    path : str
        Score file.
    n_trials : int
        Expected number of lines.

    Returns
    -------
    list of str
        Problems found (empty when the file is whole).

    Example
    -------
    >>> import tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "s.txt")
    >>> with open(path, "w") as f:
    ...     _ = f.write("a 0.5\\nb -1.25\\n")
    >>> check_score_file(path, 2), len(check_score_file(path, 3))
    ([], 1)
    """
    with open(path, encoding="utf-8") as f:
        lines = f.read().split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    else:
        return [f"{path}: last line not terminated"]
    problems = []
    if len(lines) != n_trials:
        problems.append(f"{path}: {len(lines)} lines, expected {n_trials}")
    ids = set()
    for line in lines:
        fields = line.split(" ")
        try:
            float(fields[1])
            ok = len(fields) == 2
        except (IndexError, ValueError):
            ok = False
        if not ok or fields[0] in ids:
            problems.append(f"{path}: bad or repeated line {line!r}")
            break
        ids.add(fields[0])
    return problems


def check_output_folder(out, expected_files, expected_trials):
    """The atomic-write checks of one output folder, after a kill.

    Arguments
    ---------
    out : str
        The run's output folder.
    expected_files : set of str
        File names of a complete checkpoint.
    expected_trials : dict
        ``{scored set name: trials}``.

    Returns
    -------
    problems : list of str
        Files that pass for complete but are not.
    torn : int
        Torn checkpoint folders (correctly ignored).
    leftovers : int
        ``*.tmp`` / ``*.partial`` files (correctly ignored).
    """
    problems, torn = check_checkpoints(os.path.join(out, "save"), expected_files)
    for name, n_trials in expected_trials.items():
        path = os.path.join(out, "scores", f"{name}.txt")
        if os.path.isfile(path):
            problems += check_score_file(path, n_trials)
    json_files = glob.glob(os.path.join(out, "manifests", "*.json"))
    json_files += glob.glob(os.path.join(out, "eval_results.json"))
    for path in json_files:
        try:
            with open(path, encoding="utf-8") as f:
                json.load(f)
        except ValueError:
            problems.append(f"{path}: not valid JSON")
    leftovers = 0
    for pattern in ("*.tmp", "*.partial"):
        leftovers += len(glob.glob(os.path.join(out, "**", pattern), recursive=True))
    return problems, torn, leftovers


def tensors_equal(a, b):
    """Bitwise equality of nested state dicts (tensors, lists, scalars).

    Example
    -------
    >>> x = torch.tensor([1.0, 2.0])
    >>> tensors_equal({"w": x}, {"w": x.clone()})
    True
    >>> tensors_equal({"w": x}, {"w": torch.nextafter(x, x + 1)})
    False
    """
    if isinstance(a, torch.Tensor):
        return (
            isinstance(b, torch.Tensor)
            and a.dtype == b.dtype
            and a.shape == b.shape
            and bool(torch.equal(a, b))
        )
    if isinstance(a, dict):
        return (
            isinstance(b, dict)
            and a.keys() == b.keys()
            and all(tensors_equal(a[k], b[k]) for k in a)
        )
    if isinstance(a, (list, tuple)):
        return (
            isinstance(b, (list, tuple))
            and len(a) == len(b)
            and all(tensors_equal(x, y) for x, y in zip(a, b))
        )
    return a == b


def newest_state(out, name):
    """The ``<name>.ckpt`` state of the newest complete checkpoint."""
    folder, _ = complete_checkpoints(os.path.join(out, "save"))[-1]
    return torch.load(os.path.join(folder, f"{name}.ckpt"), weights_only=True)


def _read(path):
    """The bytes of a file, or ``None`` when it does not exist."""
    if not os.path.isfile(path):
        return None
    with open(path, "rb") as f:
        return f.read()


def compare_runs(out_a, out_b):
    """Compare the final results of two runs of the same command.

    Returns
    -------
    dict
        ``model`` / ``optimizer`` (bitwise equal states of the newest
        checkpoint), ``scores`` (identical score files), ``eers`` (identical
        EERs), ``n_tensors``, ``score_files`` and ``eer_values`` (run A's).
    """
    model_a = newest_state(out_a, "model")
    score_files = sorted(os.listdir(os.path.join(out_a, "scores")))
    results = []
    for out in (out_a, out_b):
        with open(os.path.join(out, "eval_results.json"), encoding="utf-8") as f:
            results.append(json.load(f))
    eers = [
        {k: v["EER"] for k, v in r.items() if isinstance(v, dict) and "EER" in v}
        for r in results
    ]
    return {
        "model": tensors_equal(model_a, newest_state(out_b, "model")),
        "optimizer": tensors_equal(
            newest_state(out_a, "optimizer"), newest_state(out_b, "optimizer")
        ),
        "scores": sorted(os.listdir(os.path.join(out_b, "scores"))) == score_files
        and all(
            _read(os.path.join(out_a, "scores", n))
            == _read(os.path.join(out_b, "scores", n))
            for n in score_files
        ),
        "eers": eers[0] == eers[1] and bool(eers[0]),
        "n_tensors": len(model_a),
        "score_files": score_files,
        "eer_values": eers[0],
        "align_stats": _read(os.path.join(out_a, "alignment_stats.csv"))
        == _read(os.path.join(out_b, "alignment_stats.csv")),
    }


# --------------------------------------------------------------------------
# Running the recipe
# --------------------------------------------------------------------------
def recipe_command(corpus, out, args):
    """The training command of both runs (run from ``recipes/ASVspoof``)."""
    return [
        sys.executable,
        "train.py",
        HPARAMS,
        f"--mini_corpus_folder={corpus}",
        f"--output_folder={out}",
        f"--aligner={args.aligner}",
        "--on_bad_audio=skip",
        f"--number_of_epochs={args.epochs}",
        f"--num_workers={args.num_workers}",
        f"--ckpt_interval_steps={args.ckpt_steps}",
        "--ckpt_interval_minutes=0",
    ]


def launch(command, log_path, threads):
    """Start the recipe in its own process group, output to ``log_path``."""
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "PYTHONUNBUFFERED": "1"}
    with open(log_path, "ab") as log:
        return subprocess.Popen(
            command,
            cwd=RECIPE,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # so that a kill takes the loader workers too
        )


def kill(proc):
    """SIGKILL the process group of a run started by :func:`launch`.

    Returns
    -------
    bool
        Whether the run was still running (not yet reaped, so its group id
        cannot have been reused).
    """
    running = proc.poll() is None
    if running:
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    return running


def intra_epoch_checkpoints(save_dir):
    """Names of the complete intra-epoch checkpoints in ``save_dir``."""
    return {
        os.path.basename(folder)
        for folder, meta in complete_checkpoints(save_dir)
        if meta.get("brain_intra_epoch_ckpt")
    }


def resume_point(save_dir):
    """Where a resumed run starts: the newest complete checkpoint, in words."""
    checkpoints = complete_checkpoints(save_dir)
    if not checkpoints:
        return "the start (no checkpoint yet)"
    folder, meta = checkpoints[-1]
    with open(os.path.join(folder, "counter.ckpt"), encoding="utf-8") as f:
        epoch = int(f.read())
    if not meta.get("brain_intra_epoch_ckpt"):
        return f"the end of epoch {epoch}"
    with open(os.path.join(folder, "brain.ckpt"), encoding="utf-8") as f:
        return f"epoch {epoch}, step {json.load(f)['step']}"


def run_uninterrupted(command, out, threads):
    """Run A: one run to the end. Returns its wall time (s)."""
    start = time.perf_counter()
    proc = launch(command, out + ".log", threads)
    try:
        if proc.wait() != 0:
            sys.exit(f"run A failed (exit {proc.returncode}); see {out}.log")
    finally:
        if proc.poll() is None:
            kill(proc)
    return time.perf_counter() - start


def wait_for_new_checkpoint(proc, save_dir, seen):
    """Wait until an intra-epoch checkpoint not in ``seen`` appears.

    Returns
    -------
    set
        The new checkpoints' names; empty if the run ended first.
    """
    while proc.poll() is None:
        new = intra_epoch_checkpoints(save_dir) - seen
        if new:
            return new
        time.sleep(0.02)
    return set()


def run_with_kills(command, out, args, rng, expected_files, expected_trials):
    """Run B: SIGKILL after new intra-epoch checkpoints, resume, repeat.

    Each kill comes a random delay, uniform in ``[0, args.max_delay]`` s,
    after a new intra-epoch checkpoint appears; the output folder is checked
    after each kill, then the same command is started again, until a run
    completes.

    Returns
    -------
    dict
        ``wall_s``, ``starts``, ``kills`` (one description per kill),
        ``problems``, ``torn`` and ``leftovers`` (summed over the kills).
    """
    save_dir = os.path.join(out, "save")
    seen = set()
    summary = {"starts": 0, "kills": [], "problems": [], "torn": 0, "leftovers": 0}
    start = time.perf_counter()
    while True:
        proc = launch(command, out + ".log", args.threads)
        summary["starts"] += 1
        try:
            killed = False
            if len(summary["kills"]) < args.kills:
                new = wait_for_new_checkpoint(proc, save_dir, seen)
                seen |= new
                if new:
                    delay = float(rng.uniform(0, args.max_delay))
                    time.sleep(delay)
                    killed = kill(proc)
            if killed:
                problems, torn, leftovers = check_output_folder(
                    out, expected_files, expected_trials
                )
                summary["problems"] += problems
                summary["torn"] += torn
                summary["leftovers"] += leftovers
                summary["kills"].append(
                    f"{delay:.2f} s after a new intra-epoch checkpoint; "
                    f"resumed from {resume_point(save_dir)}"
                )
                seen |= intra_epoch_checkpoints(save_dir)
                continue
            proc.wait()
            if proc.returncode != 0:
                sys.exit(f"run B failed (exit {proc.returncode}); see {out}.log")
            break
        finally:
            if proc.poll() is None:
                kill(proc)
    summary["wall_s"] = time.perf_counter() - start
    return summary


# --------------------------------------------------------------------------
# Main
# --------------------------------------------------------------------------
def prepare_work_dir(path):
    """Create the work folder, or clear one that an earlier soak made."""
    if path is None:
        path = tempfile.mkdtemp(prefix="dpda_soak_")
    elif os.path.isdir(path) and os.listdir(path):
        if not os.path.isfile(os.path.join(path, MARKER)):
            sys.exit(f"{path} is not empty and was not made by this script")
        shutil.rmtree(path)
    os.makedirs(path, exist_ok=True)
    open(os.path.join(path, MARKER), "w").close()
    return path


def _yes(ok):
    """A verdict in the report: ``yes``, or a ``NO`` that stands out."""
    return "yes" if ok else "NO"


def print_report(args, corpus, plan, runs, skipped, steps, run_b, same):
    """Print the soak report (quotable as is). Returns True if it passed."""
    expected = expected_skips(plan)
    skips_ok = all(ids == expected for ids in skipped)
    steps_ok = steps == [0, 0]
    passed = (
        skips_ok
        and steps_ok
        and not run_b["problems"]
        and same["model"]
        and same["scores"]
        and same["eers"]
    )
    threads = f"{args.threads} thread{'s' * (args.threads > 1)}"
    print(
        f"Reliability soak (benchmarks/soak.py): {os.cpu_count()}-core CPU "
        f"({platform.machine()}), torch {torch.__version__}, {threads}, "
        f"{args.num_workers} data-loader workers"
    )
    sizes = ", ".join(f"{s} {corpus['files'][s]}" for s in SPLITS)
    print(
        f"mini corpus ({'full' if args.full else 'small'}): {sizes} files; "
        f"1 file in {args.corrupt_every} corrupted: {len(plan)} files "
        f"({corpus['seconds']:.0f} s to generate and corrupt)"
    )
    print(
        f"recipe: {HPARAMS} --aligner={args.aligner} --on_bad_audio=skip "
        f"--number_of_epochs={args.epochs} --ckpt_interval_steps={args.ckpt_steps}"
    )
    print(f"  {'kind':13s} {'files':>5s}  {'expected':8s} {'skipped A':>9s} {'B':>3s}")
    for kind in KINDS:
        ids = {utterance_id(p) for _, p, k in plan if k == kind}
        print(
            f"  {kind:13s} {len(ids):5d}  "
            f"{'skipped' if kind in BAD_KINDS else 'kept':8s} "
            f"{len(ids & skipped[0]):9d} {len(ids & skipped[1]):3d}"
        )
    print(
        f"items skipped (distinct ids in skipped_items.tsv): run A {len(skipped[0])}, "
        f"run B {len(skipped[1])}, expected {len(expected)}; "
        f"exactly the bad files: {_yes(skips_ok)}"
    )
    print(
        f"optimizer steps skipped (non-finite): run A {steps[0]}, "
        f"run B {steps[1]}, expected 0: {_yes(steps_ok)}"
    )
    print(f"run A: uninterrupted, {runs[0]:.0f} s")
    print(
        f"run B: {len(run_b['kills'])} SIGKILLs (of {args.kills} asked), "
        f"{run_b['starts'] - 1} resumes, {run_b['wall_s']:.0f} s"
    )
    for i, what in enumerate(run_b["kills"], 1):
        print(f"  kill {i}: {what}")
    print(
        f"after the kills: {len(run_b['problems'])} files passing for complete "
        f"but not; left aside as incomplete: {run_b['torn']} torn checkpoint "
        f"folders, {run_b['leftovers']} *.tmp/*.partial files"
    )
    for problem in run_b["problems"]:
        print(f"  {problem}")
    eers = ", ".join(f"{k} {v:.2f}%" for k, v in same["eer_values"].items())
    print(
        f"run B vs run A: model parameters bitwise equal: {_yes(same['model'])} "
        f"({same['n_tensors']} tensors of the newest checkpoint); optimizer "
        f"state: {_yes(same['optimizer'])}; score files identical: "
        f"{_yes(same['scores'])} ({len(same['score_files'])} files); "
        f"EERs identical: {_yes(same['eers'])} ({eers})"
    )
    print(
        f"alignment_stats.csv identical: {_yes(same['align_stats'])} "
        "(not part of the verdict)"
    )
    print(f"RESULT: {'PASS' if passed else 'FAIL'}")
    return passed


def main():
    """Run the soak from the command line; returns the exit status."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--full", action="store_true", help="default mini corpus")
    parser.add_argument("--corrupt_every", type=int, default=10)
    parser.add_argument("--kills", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--ckpt_steps", type=int, default=2, help="K")
    parser.add_argument("--max_delay", type=float, default=6.0, help="seconds")
    parser.add_argument("--aligner", default="pcgrad")
    parser.add_argument("--num_workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=1, help="OMP_NUM_THREADS")
    parser.add_argument("--seed", type=int, default=0, help="corruption, kills")
    parser.add_argument("--corpus_seed", type=int, default=1234)
    parser.add_argument("--work_dir", help="default: a new temporary folder")
    args = parser.parse_args()

    work = prepare_work_dir(args.work_dir)
    root = os.path.join(work, "corpus")
    start = time.perf_counter()
    generate_mini_corpus(
        root, seed=args.corpus_seed, sizes=None if args.full else SMALL_SIZES
    )
    plan, n_files = corrupt_corpus(root, args.corrupt_every, args.seed)
    corpus = {"files": n_files, "seconds": time.perf_counter() - start}
    # Bad files are not scored: each score file has one line per good trial.
    expected_trials = {
        name: n_files[split]
        - sum(1 for s, _, kind in plan if s == split and kind in BAD_KINDS)
        for name, split in SCORED_SETS.items()
    }

    out_a, out_b = os.path.join(work, "run_a"), os.path.join(work, "run_b")
    wall_a = run_uninterrupted(recipe_command(root, out_a, args), out_a, args.threads)
    newest_a, _ = complete_checkpoints(os.path.join(out_a, "save"))[-1]
    ckpt_files = set(os.listdir(newest_a)) - {"CKPT.yaml"}
    run_b = run_with_kills(
        recipe_command(root, out_b, args),
        out_b,
        args,
        np.random.default_rng(args.seed),
        ckpt_files,
        expected_trials,
    )

    outs = (out_a, out_b)
    passed = print_report(
        args,
        corpus,
        plan,
        (wall_a, run_b["wall_s"]),
        [set(read_skip_log(os.path.join(o, "skipped_items.tsv"))) for o in outs],
        [skipped_optimizer_steps(os.path.join(o, "train_log.txt")) for o in outs],
        run_b,
        compare_runs(out_a, out_b),
    )
    print(f"(outputs and logs in {work})")
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
