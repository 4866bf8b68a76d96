"""What the codec path, run by the data loader's workers, does to the step time.

Three-path DPDA (clean + RawBoost + codec, ``hparams/mini_dpda_multi.yaml``:
RawCNN, batch 16, 2 s crops) trains on a generated mini corpus, with:

(a) ``codec``: the codec view computed in the loader's workers, as configured
    (MP3, Opus or AAC at a random bitrate, ``--workers`` workers, the
    hparams' default 2);
(b) ``free view``: the same three paths and workers, the codec replaced by a
    view that costs nothing (a copy of the clean waveform), so the training
    compute is the same and only the codec's cost differs;
(c) ``codec, no workers``: (a) with the codec run in the training process.

Each variant trains the same steps from the same initial weights; the
median time per optimizer step (after the first, which starts the workers)
and the epoch's wall time are printed, with (a)/(b) and (c)/(b).

Usage::

    python benchmarks/codec_step.py [--train 48 96] [--workers 2] [--threads 2]
"""

import argparse
import os
import statistics
import sys
import tempfile
import time

import torch
from hyperpyyaml import load_hyperpyyaml
from machine import cpu_model  # benchmarks/machine.py

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "recipes", "ASVspoof"))


class FreeView:
    """A loader-side view that costs nothing: the clean waveform, copied."""

    loader_side = True

    def __call__(self, wav):
        """The view of one utterance."""
        return wav.clone()


def train_epoch(hparams_file, corpus, out, variant, workers):
    """Train one epoch of ``variant``; return the per-step times and the wall time."""
    import speechbrain as sb
    import train as recipe  # recipes/ASVspoof/train.py

    overrides = {
        "mini_corpus_folder": corpus,
        "output_folder": out,
        "num_workers": 0 if variant == "codec, no workers" else workers,
    }
    with open(hparams_file, encoding="utf-8") as f:
        hparams = load_hyperpyyaml(f, overrides)
    if variant == "free view":
        hparams["augment_paths"]["codec"] = FreeView()
    recipe.prepare_data(hparams)
    train_set, _, _ = recipe.dataio_prep(hparams)
    brain = hparams["brain_class"](
        modules=hparams["modules"],
        opt_class=hparams["opt_class"],
        hparams=hparams,
        run_opts={"device": "cpu"},
    )
    brain.init_optimizers()
    brain.on_stage_start(sb.Stage.TRAIN, 1)
    loader = brain.make_dataloader(
        train_set, sb.Stage.TRAIN, **hparams["train_dataloader_opts"]
    )
    times = []
    start = last = time.perf_counter()
    for batch in loader:
        brain.step += 1
        brain.fit_batch(batch)
        now = time.perf_counter()
        times.append(now - last)
        last = now
    return times[1:], time.perf_counter() - start


def main():
    """Train the three variants in turn and print their step times."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--train", type=int, nargs=2, default=(48, 96), metavar=("BONA", "SPOOF")
    )
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    from dpda.data.minicorpus import generate_mini_corpus

    hparams_file = os.path.join(ROOT, "hparams", "mini_dpda_multi.yaml")
    with tempfile.TemporaryDirectory() as tmp:
        corpus = os.path.join(tmp, "mini")
        sizes = {"train": tuple(args.train), "dev": (4, 8), "eval": (4, 8)}
        generate_mini_corpus(corpus, seed=5, sizes={**sizes, "itw": (4, 4)})
        variants = ("codec", "free view", "codec, no workers")
        results = {}
        for variant in variants:
            torch.manual_seed(0)
            out = os.path.join(tmp, variant.replace(" ", "_").replace(",", ""))
            results[variant] = train_epoch(
                hparams_file, corpus, out, variant, args.workers
            )
    n_train = sum(args.train)
    print(
        f"machine: {cpu_model()}, torch {torch.__version__}, {args.threads} torch "
        f"threads in the training process, {args.workers} loader workers; "
        f"mini_dpda_multi.yaml (3 paths, batch 16, 2 s crops), {n_train} "
        "training utterances, one epoch per variant"
    )
    free = statistics.median(results["free view"][0])
    for variant in variants:
        times, wall = results[variant]
        median = statistics.median(times)
        print(
            f"{variant:<18} {1000 * median:8.1f} ms/step (median of {len(times)}), "
            f"epoch {wall:6.1f} s, x{median / free:.3f} the free view's step"
        )


if __name__ == "__main__":
    main()
