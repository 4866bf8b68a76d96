"""Throughput of scoring In-the-Wild: batched scoring versus a per-utterance loop.

Side by side, with the mini model of ``hparams/mini_dpda_rawboost.yaml``
(RawCNN, random weights: throughput does not depend on them) on the CPU,
over the In-the-Wild set of a generated mini corpus (or ``--corpus``):

(a) ``batched``: :func:`dpda.scores.score_dataset` as the training recipe
    scores its test sets: batches of ``--batch``, ``--workers`` DataLoader
    workers reading the audio, each file reduced to its first
    ``eval_max_samples`` samples (tiled when shorter), i.e. the manifest
    loaded by :func:`dpda.data.pipelines.load_manifest`;
(b) ``whole files``: the same on whole files (``eval_max_samples=None``),
    batches made of files of similar length
    (``lengths=audio_lengths(...)``, header reads included in the time);
(c) ``per utterance``: the loop most published countermeasure code uses:
    read each file with soundfile, crop or tile it to ``eval_max_samples``,
    ``model(x[None])`` one file at a time, no workers.

(a) and (c) score the same input, so their scores must agree to float
rounding: the largest absolute difference is printed (and the run fails
above ``--tolerance``), since a fast wrong result is worth nothing. (b) scores
other input (whole files); its scores are compared with a per-utterance
whole-file loop on the first ``--check-whole`` files, which shows what
padding inside a batch changes.

Each variant makes one untimed pass first (warm-up: page cache, kernel
selection for each input shape; its scores are the ones checked), then the
variants are timed in turn, ``--repeats`` rounds, so that drifts of the
machine hit all of them alike; the median time is reported as utterances per
second, with its ratio to (c); the best times and their ratio come beside
them, as a shared or busy machine slows some rounds far more than others
(a one-file-at-a-time loop on all cores suffers most).

Usage::

    python benchmarks/eval_throughput.py [--itw-size 400 400] [--repeats 3]
        [--threads N] [--batch 32] [--workers 2] [--corpus FOLDER]

Authors
 * dpda contributors 2026
"""

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time

import soundfile
import torch
from hyperpyyaml import load_hyperpyyaml
from machine import cpu_model  # benchmarks/machine.py, beside this script

from dpda.data.inthewild import prepare_in_the_wild
from dpda.data.minicorpus import ITW_FOLDER, generate_mini_corpus
from dpda.data.pipelines import crop_or_tile, load_manifest
from dpda.evaluation import audio_lengths
from dpda.labels import BONAFIDE_INDEX
from dpda.scores import score_dataset

HPARAMS = os.path.join(
    os.path.dirname(os.path.abspath(__file__)),
    os.pardir,
    "hparams",
    "mini_dpda_rawboost.yaml",
)
VARIANTS = ("batched", "whole files", "per utterance")


def load_model(hparams_file, output_folder):
    """The model of an hparams file, and its ``eval_max_samples``."""
    with open(hparams_file, encoding="utf-8") as f:
        hparams = load_hyperpyyaml(f, {"output_folder": output_folder})
    return hparams["model"], hparams["eval_max_samples"]


def itw_manifest(corpus, work_dir, sizes, seed):
    """Return ``(manifest path, audio folder)`` of In-the-Wild.

    ``corpus`` is a mini corpus root, or any folder holding ``meta.csv``
    (the real ``release_in_the_wild`` too); ``None`` generates a mini corpus
    with only ``sizes`` In-the-Wild clips worth timing.
    """
    if corpus is None:
        corpus = os.path.join(work_dir, "mini_corpus")
        tiny = (1, 1)  # the LA splits are not used here
        generate_mini_corpus(
            corpus,
            seed=seed,
            sizes={"train": tiny, "dev": tiny, "eval": tiny, "itw": sizes},
        )
    folder = corpus
    if not os.path.isfile(os.path.join(folder, "meta.csv")):
        folder = os.path.join(corpus, ITW_FOLDER)
    manifest = prepare_in_the_wild(folder, os.path.join(work_dir, "manifests"))
    return manifest, folder


@torch.no_grad()
def score_per_utterance(model, entries, data_root, num_samples):
    """The reference-style loop: one file read and one forward at a time.

    Arguments
    ---------
    model : torch.nn.Module
        ``model(wavs) -> logits [B, 2]``.
    entries : dict
        Manifest ``{id: {"wav": path with {data_root}}}``.
    data_root : str
        Substituted for ``{data_root}``.
    num_samples : int or None
        Crop or tile length; ``None`` scores whole files.

    Returns
    -------
    ids : list of str
    scores : list of float
    """
    model.eval()
    ids, scores = [], []
    for utt_id, entry in entries.items():
        # The whole file is read, then cut, as the reference loaders do.
        data, _ = soundfile.read(
            entry["wav"].replace("{data_root}", data_root), dtype="float32"
        )
        x = crop_or_tile(torch.from_numpy(data), num_samples)
        scores.append(model(x[None])[0, BONAFIDE_INDEX].item())
        ids.append(utt_id)
    return ids, scores


def max_abs_difference(first, second):
    """Largest absolute score difference of two ``(ids, scores)`` results."""
    a, b = dict(zip(*first)), dict(zip(*second))
    if a.keys() != b.keys():
        raise RuntimeError(f"scored different items: {len(a)} vs {len(b)} ids")
    return max(abs(a[k] - b[k]) for k in a)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", help="mini corpus root or folder with meta.csv")
    parser.add_argument(
        "--itw-size",
        type=int,
        nargs=2,
        default=(400, 400),
        metavar=("BONA", "SPOOF"),
        help="In-the-Wild clips of the generated corpus",
    )
    parser.add_argument("--seed", type=int, default=1234)
    parser.add_argument("--hparams", default=HPARAMS)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    parser.add_argument("--check-whole", type=int, default=64)
    parser.add_argument("--tolerance", type=float, default=1e-5)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    with tempfile.TemporaryDirectory() as work_dir:
        start = time.perf_counter()
        manifest, data_root = itw_manifest(
            args.corpus, work_dir, tuple(args.itw_size), args.seed
        )
        prepared_s = time.perf_counter() - start
        with open(manifest, encoding="utf-8") as f:
            entries = json.load(f)
        model, num_samples = load_model(args.hparams, work_dir)
        n_params = sum(p.numel() for p in model.parameters())

        def batched():
            dataset = load_manifest(manifest, data_root, num_samples)
            return score_dataset(
                model, dataset, args.batch, args.workers, progress=False
            )

        def whole_files():
            dataset = load_manifest(manifest, data_root, None)
            lengths = audio_lengths(entries, data_root)
            return score_dataset(
                model,
                dataset,
                args.batch,
                args.workers,
                lengths=lengths,
                progress=False,
            )

        def per_utterance():
            return score_per_utterance(model, entries, data_root, num_samples)

        runs = dict(zip(VARIANTS, (batched, whole_files, per_utterance)))
        results = {name: run() for name, run in runs.items()}  # warm-up
        times = {name: [] for name in runs}
        for _ in range(args.repeats):
            for name, run in runs.items():
                start = time.perf_counter()
                run()
                times[name].append(time.perf_counter() - start)

        diff_crop = max_abs_difference(results["batched"], results["per utterance"])
        first = list(entries)[: args.check_whole]
        whole = score_per_utterance(
            model, {k: entries[k] for k in first}, data_root, None
        )
        batched_whole = dict(zip(*results["whole files"]))
        diff_whole = max(abs(batched_whole[k] - s) for k, s in zip(*whole))
        seconds = sum(
            soundfile.info(e["wav"].replace("{data_root}", data_root)).duration
            for e in entries.values()
        )
        reference = results["per utterance"][1]

    n = len(entries)
    print(
        f"machine: {cpu_model()}, {os.cpu_count()} cores, "
        f"load average {os.getloadavg()[0]:.2f}, torch {torch.__version__}, "
        f"{torch.get_num_threads()} threads, python {platform.python_version()}"
    )
    print(
        f"data: {n} In-the-Wild clips, {seconds / n:.2f} s on average "
        f"({'generated in' if args.corpus is None else 'prepared in'} "
        f"{prepared_s:.0f} s); model: RawCNN, {n_params / 1e3:.0f} k parameters; "
        f"crop {num_samples} samples; median of {args.repeats} interleaved rounds"
    )
    baseline = times["per utterance"]
    labels = {
        "batched": f"(a) score_dataset, batch {args.batch}, "
        f"{args.workers} workers, first {num_samples}",
        "whole files": f"(b) score_dataset, batch {args.batch}, "
        f"{args.workers} workers, whole files",
        "per utterance": f"(c) per-utterance loop, first {num_samples}",
    }
    for name in VARIANTS:
        median, best = statistics.median(times[name]), min(times[name])
        print(
            f"{labels[name]:56s} {n / median:7.1f} utt/s (best {n / best:7.1f})  "
            f"x{statistics.median(baseline) / median:.2f} vs (c) "
            f"(best/best x{min(baseline) / best:.2f})"
        )
    print(
        f"max |score (a) - score (c)|: {diff_crop:.2e} over {n} clips "
        f"(scores from {min(reference):.3f} to {max(reference):.3f})"
    )
    print(
        f"max |score (b) - per-utterance whole file|: {diff_whole:.2e} "
        f"over the first {len(first)} clips"
    )
    if diff_crop > args.tolerance:
        sys.exit(f"(a) and (c) disagree by {diff_crop:.2e} > {args.tolerance}")


if __name__ == "__main__":
    main()
