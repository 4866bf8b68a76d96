#!/usr/bin/env python3
"""The full-size figures of a GPU in one run: steps, RawBoost, scoring, 300 steps.

Everything is built from the paper configurations themselves
(``hparams/dpda_rawboost.yaml`` and its ``_tcm`` / ``_mamba`` variants,
loaded with HyperPyYAML as ``train.py`` loads them) over a local XLS-R 300M
source folder with random weights (``save_random_ssl``: no hub), with
``rawboost_position: after_crop`` (batches are handed to ``fit_batch``
directly, without the data loader that would carry the workers' views).
Four parts, in this order, each figure printed and written to
``<out>/gpu_figures.json`` as soon as it exists:

``steps``
    For each back end (AASIST, Conformer-TCM, XLSR-Mamba) and precision
    (fp32, bf16): the median time of one training step and the peak GPU
    memory of ``plain`` (one path, :class:`dpda.brain.AntiSpoofBrain`, on the
    2B utterances of the dual-path step: the same forward samples), DPDA
    ``split`` and DPDA ``joint`` (PCGrad, RawBoost algo 4 on the device), on
    the paper's batch (B = 5 utterances of 66,800 samples); the aligner's
    share of the step; the joint/split and split/plain ratios.
``eval``
    Scoring throughput of each full detector (``model.eval()``, inference
    mode) on batches of 32 clips of 4 s, fp32 and bf16 autocast, with the
    largest bf16 - fp32 score difference (random weights: a check of the
    arithmetic, not of accuracy).
``rawboost``
    RawBoost (algos 4 and 5) on a batch of 32 clips of 4 s: the numpy/scipy
    reference one utterance at a time (``benchmarks/rawboost.py``) against
    :class:`dpda.augment.RawBoost` batched on the GPU and on the CPU, and the
    output-to-input RMS ratio of both (the same distribution expected).
``train``
    300 DPDA steps of the paper configuration (XLS-R 300M + AASIST, joint,
    PCGrad, class weights [0.1, 0.9], Adam with weight decay 1e-4) on the
    synthetic mini corpus's audio (``--mini``, cropped or tiled to 66,800
    samples as the recipe does), in bf16 and in fp16 (SpeechBrain's
    GradScaler), from the same weights and batches: the loss over the steps,
    skipped steps, the final loss scale, the conflict rate, and the dev EER
    before and after. Random weights need a larger step than the paper's
    fine-tuning rate of 1e-6: ``--train-lr`` (default 1e-4).

A part that fails is recorded with its error and the run goes on; ``--budget``
seconds bound the whole run (variants that would start after it are recorded
as skipped), of which ``--train-share`` is kept for ``train``.
``<out>/gpu_figures.md`` holds the tables.

Usage::

    python benchmarks/gpu_figures.py --out OUT --mini MINI_CORPUS_ROOT
    python benchmarks/gpu_figures.py --tiny --device cpu --out /tmp/g  # a CPU check

``benchmarks/gpu_prepare.sh`` makes the wheels and the mini corpus the
device machine lacks; ``docs/models.md`` gives the one device command.

Authors
 * dpda contributors 2026
"""

import argparse
import functools
import gc
import json
import os
import statistics
import sys
import tempfile
import time
import traceback

import numpy as np
import torch

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HPARAMS = {
    "aasist": "dpda_rawboost.yaml",
    "tcm": "dpda_rawboost_tcm.yaml",
    "mamba": "dpda_rawboost_mamba.yaml",
}
PARTS = ("steps", "eval", "rawboost", "train")
SAMPLE_RATE = 16000
EVAL_SAMPLES = 4 * SAMPLE_RATE


# ---------------------------------------------------------------------------
# The report
# ---------------------------------------------------------------------------
class Report:
    """Figures as they come: printed, and written atomically after each one.

    Arguments
    ---------
    out : str
        Output folder (``gpu_figures.json`` and ``gpu_figures.md``).
    header : dict
        Machine and run description.
    """

    def __init__(self, out, header):
        os.makedirs(out, exist_ok=True)
        self.out = out
        self.figures = {"header": header, **{part: [] for part in PARTS}}
        print(json.dumps(header), flush=True)
        self.write()

    def add(self, part, row):
        """Add one row of ``part``, print it and rewrite the files."""
        self.figures[part].append(row)
        print(f"[{part}] {json.dumps(row)}", flush=True)
        self.write()

    def write(self):
        """Rewrite ``gpu_figures.json`` and ``gpu_figures.md`` (atomically)."""
        for name, text in (
            ("gpu_figures.json", json.dumps(self.figures, indent=1)),
            ("gpu_figures.md", markdown(self.figures)),
        ):
            path = os.path.join(self.out, name)
            with open(path + ".tmp", "w", encoding="utf-8") as f:
                f.write(text)
            os.replace(path + ".tmp", path)


#: The columns of each part's table, ``(heading, key, format)``; the first
#: ``LABELS[part]`` name the variant.
COLUMNS = {
    "steps": [
        ("back end", "backend", ""),
        ("precision", "precision", ""),
        ("mode", "mode", ""),
        ("ms/step", "ms_per_step", ".1f"),
        ("peak GiB", "peak_gib", ".2f"),
        ("aligner share", "align_share", ".1%"),
        ("joint/split", "joint_over_split", ".2f"),
        ("split/plain", "split_over_plain", ".2f"),
    ],
    "eval": [
        ("back end", "backend", ""),
        ("precision", "precision", ""),
        ("clips/s", "clips_per_s", ".1f"),
        ("ms/batch", "ms_per_batch", ".1f"),
        ("peak GiB", "peak_gib", ".2f"),
        ("max abs score diff vs fp32", "max_diff", ".3g"),
    ],
    "rawboost": [
        ("RawBoost algo", "algo", ""),
        ("runner", "runner", ""),
        ("ms/batch", "ms_per_batch", ".1f"),
        ("utt/s", "utt_per_s", ".1f"),
        ("speed-up", "speed_up", ".1f"),
        ("output/input RMS (mean)", "rms_ratio", ".3f"),
    ],
    "train": [
        ("precision", "precision", ""),
        ("steps", "steps", ""),
        ("ms/step", "ms_per_step", ".1f"),
        ("loss window", "window", ""),
        ("loss, first window", "loss_first", ".4f"),
        ("loss, last window", "loss_last", ".4f"),
        ("max loss", "loss_max", ".4f"),
        ("skipped", "skipped_steps", ""),
        ("final scale", "final_scale", ".0f"),
        ("conflicts", "conflict_rate", ".1%"),
        ("dev EER before", "eer_before", ".2f"),
        ("dev EER after", "eer_after", ".2f"),
    ],
}
LABELS = {"steps": 3, "eval": 2, "rawboost": 2, "train": 1}


def _cell(row, key, fmt):
    value = row.get(key)
    return "-" if value is None else format(value, fmt)


def markdown(figures):
    """The tables of the figures so far, one per part.

    Arguments
    ---------
    figures : dict
        ``Report.figures``.

    Returns
    -------
    str

    Example
    -------
    >>> row = {"backend": "aasist", "precision": "bf16", "mode": "joint",
    ...        "ms_per_step": 812.0, "peak_gib": 9.5, "align_share": 0.01}
    >>> failed = {"precision": "fp16", "error": "RuntimeError: ..."}
    >>> text = markdown({"header": {"device": "X"}, "steps": [row], "eval": [],
    ...                  "rawboost": [], "train": [failed]})
    >>> print(text.splitlines()[4])
    | aasist | bf16 | joint | 812.0 | 9.50 | 1.0% | - | - |
    >>> print(text.splitlines()[-1])
    | fp16 | RuntimeError: ... |  |  |  |  |  |  |  |  |  |  |
    """
    head = figures["header"]
    lines = [f"GPU figures: {head.get('device')} ({head.get('software', '')})"]
    for part, columns in COLUMNS.items():
        lines += [
            "",
            "| " + " | ".join(heading for heading, _, _ in columns) + " |",
            "|" + "---|" * LABELS[part] + "---:|" * (len(columns) - LABELS[part]),
        ]
        for row in figures[part]:
            cells = [_cell(row, key, fmt) for _, key, fmt in columns]
            problem = row.get("error") or row.get("skipped")
            if problem:
                blanks = len(columns) - LABELS[part] - 1
                cells = cells[: LABELS[part]] + [problem] + [""] * blanks
            lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


class Clock:
    """The run's time budget, in seconds from now."""

    def __init__(self, budget):
        self.end = time.monotonic() + budget

    def left(self):
        """Seconds left."""
        return self.end - time.monotonic()


def guarded(report, part, row, fn, *fn_args):
    """Run ``fn(*fn_args) -> dict`` and record its figures, or its error,
    under ``part``; return the row."""
    try:
        row = {**row, **fn(*fn_args)}
    except Exception as error:  # a figure that failed is a figure too
        traceback.print_exc()
        row = {**row, "error": f"{type(error).__name__}: {error}"[:300]}
    report.add(part, row)
    return row


# ---------------------------------------------------------------------------
# Building the paper configurations
# ---------------------------------------------------------------------------
def synchronize(device):
    """Wait for the device's queued work (a no-op on the CPU)."""
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize(device)


def release(device):
    """Free what the last variant left (a no-op on the CPU)."""
    gc.collect()
    if torch.device(device).type == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(device)


def peak_gib(device):
    """Peak GPU memory since the last reset, in GiB (NaN on the CPU)."""
    if torch.device(device).type != "cuda":
        return float("nan")
    return torch.cuda.max_memory_allocated(device) / 2**30


def load_paper(backend, args, **overrides):
    """The paper configuration of ``backend`` over the random XLS-R folder."""
    from hyperpyyaml import load_hyperpyyaml

    base = {
        "data_folder": "unused",
        "output_folder": os.path.join(args.work, f"run_{backend}"),
        "ssl_hub": args.ssl_source,
        "rawboost_position": "after_crop",
    }
    if args.tiny:
        base["ssl_dim"] = 32
    with open(os.path.join(ROOT, "hparams", HPARAMS[backend]), encoding="utf-8") as f:
        return load_hyperpyyaml(f, {**base, **overrides})


class Counter:
    """The epoch counter the Brains log with, outside ``fit``."""

    current = 1


def make_brain(hparams, mode, precision, args):
    """A Brain on ``hparams["model"]``: one path (``plain``) or DPDA."""
    from dpda.brain import AntiSpoofBrain, DPDABrain

    hparams = dict(hparams, epoch_counter=Counter())
    if mode != "plain":
        hparams["dpda_mode"] = mode
    brain_class = AntiSpoofBrain if mode == "plain" else DPDABrain
    brain = brain_class(
        modules=hparams["modules"],
        opt_class=hparams["opt_class"],
        hparams=hparams,
        run_opts={"device": args.device, "precision": precision},
    )
    brain.init_optimizers()
    brain.modules.train()
    return brain


def padded_batch(wavs, labels):
    """A SpeechBrain batch of waveforms ``[N, T]`` and labels."""
    from speechbrain.dataio.batch import PaddedBatch

    return PaddedBatch(
        [
            {"id": f"u{i}", "sig": wav, "label_id": int(label)}
            for i, (wav, label) in enumerate(zip(wavs, labels))
        ]
    )


def noise_clips(count, samples, seed):
    """``count`` clips of quiet noise (timing only)."""
    gen = torch.Generator().manual_seed(seed)
    return 0.1 * torch.randn(count, samples, generator=gen)


# ---------------------------------------------------------------------------
# Part 1: training steps
# ---------------------------------------------------------------------------
def time_steps(hparams, mode, precision, args):
    """Median step time, peak memory and the aligner's share of one variant."""
    batch_size, samples = args.batch or hparams["batch_size"], args.samples
    count = 2 * batch_size if mode == "plain" else batch_size
    batch = padded_batch(noise_clips(count, samples, 1), [i % 2 for i in range(count)])
    hparams["model"].zero_grad(set_to_none=True)  # a failed variant's, if any
    release(args.device)
    brain = make_brain(hparams, mode, precision, args)
    aligner_times = []
    if mode != "plain":
        combine = brain.aligner.combine

        def timed_combine(*paths):
            synchronize(args.device)
            start = time.perf_counter()
            combined = combine(*paths)
            synchronize(args.device)
            aligner_times.append(time.perf_counter() - start)
            return combined

        brain.aligner.combine = timed_combine
    times = []
    for step in range(args.warmup + args.steps):
        if step == args.warmup:
            aligner_times.clear()
        synchronize(args.device)
        start = time.perf_counter()
        brain.step += 1
        brain.fit_batch(batch)
        synchronize(args.device)
        if step >= args.warmup:
            times.append(time.perf_counter() - start)
    median = statistics.median(times)
    row = {
        "ms_per_step": 1e3 * median,
        "ms_min": 1e3 * min(times),
        "peak_gib": peak_gib(args.device),
        "forward_samples": 2 * batch_size,
        "skipped_steps": brain.skipped_steps,
    }
    if aligner_times:
        row["align_share"] = statistics.median(aligner_times) / median
    del brain
    release(args.device)
    return row


def steps_part(report, hparams, backend, args, clock):
    """Plain, split and joint steps of one back end in each precision."""
    from dpda.models.ssl import count_parameters

    parameters = count_parameters(hparams["model"])
    print(f"{backend}: {parameters:,} parameters", flush=True)
    for precision in args.precisions:
        medians = {}
        for mode in ("plain", "split", "joint"):
            row = {"backend": backend, "precision": precision, "mode": mode}
            if clock.left() < args.reserve:
                report.add("steps", {**row, "skipped": "out of time"})
                continue
            row = guarded(
                report, "steps", row, time_steps, hparams, mode, precision, args
            )
            medians[mode] = row.get("ms_per_step")
        if None not in (
            medians.get("plain"),
            medians.get("split"),
            medians.get("joint"),
        ):
            report.add(
                "steps",
                {
                    "backend": backend,
                    "precision": precision,
                    "mode": "ratios",
                    "joint_over_split": medians["joint"] / medians["split"],
                    "split_over_plain": medians["split"] / medians["plain"],
                    "parameters": parameters,
                },
            )


# ---------------------------------------------------------------------------
# Part 2: scoring throughput
# ---------------------------------------------------------------------------
def time_scoring(model, precision, args, reference, kept):
    """Clips per second of ``model`` on batches of 4 s clips; the scores of
    the last batch go to ``kept["scores"]``, and their largest difference
    from ``reference`` (scores, or ``None``) to the figures."""
    from dpda.precision import autocast_dtype
    from dpda.scores import bonafide_scores

    device = args.device
    wavs = noise_clips(args.eval_batch, EVAL_SAMPLES, 2).to(device)
    lens = torch.ones(args.eval_batch, device=device)
    dtype = autocast_dtype(precision)
    model.to(device).eval()
    model.zero_grad(set_to_none=True)  # the steps' gradients, if any
    release(device)

    def score():
        with (
            torch.inference_mode(),
            torch.autocast(
                torch.device(device).type, dtype=dtype, enabled=dtype is not None
            ),
        ):
            return bonafide_scores(model(wavs, lens))

    for _ in range(2):
        scores = score()
    times = []
    for _ in range(args.eval_repeats):
        synchronize(device)
        start = time.perf_counter()
        score()
        synchronize(device)
        times.append(time.perf_counter() - start)
    median = statistics.median(times)
    row = {
        "clips_per_s": args.eval_batch / median,
        "ms_per_batch": 1e3 * median,
        "peak_gib": peak_gib(device),
        "batch": args.eval_batch,
        "samples": EVAL_SAMPLES,
    }
    kept["scores"] = scores.cpu()
    if reference is not None:
        row["max_diff"] = float((scores.cpu() - reference).abs().max())
    model.train()
    return row


def eval_part(report, hparams, backend, args, clock):
    """Scoring throughput of one back end's detector, fp32 then bf16."""
    reference = None
    for precision in ("fp32", "bf16"):
        row = {"backend": backend, "precision": precision}
        if clock.left() < args.reserve:
            report.add("eval", {**row, "skipped": "out of time"})
            continue
        kept = {}
        model = hparams["model"]
        guarded(
            report, "eval", row, time_scoring, model, precision, args, reference, kept
        )
        if precision == "fp32":
            reference = kept.get("scores")
    release(args.device)


# ---------------------------------------------------------------------------
# Part 3: RawBoost
# ---------------------------------------------------------------------------
def rawboost_part(report, args, clock):
    """The numpy reference per utterance against the batched torch RawBoost."""
    from rawboost import numpy_rawboost  # benchmarks/rawboost.py, beside this

    from dpda.augment import RawBoost

    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    batch = 0.3 * torch.randn(args.eval_batch, EVAL_SAMPLES).clamp(-3, 3) / 3
    batch_np = batch.double().numpy()
    rms_in = batch.pow(2).mean(dim=1).sqrt()
    for algo in (4, 5):
        if clock.left() < args.reserve:
            report.add("rawboost", {"algo": algo, "skipped": "out of time"})
            continue
        rawboost = RawBoost(algo=algo)
        runners = {
            "numpy/scipy per utterance": (
                lambda a=algo: torch.from_numpy(
                    np.stack([numpy_rawboost(u, a, rng) for u in batch_np])
                ),
                "cpu",
                1,
            ),
            f"torch batched, cpu ({torch.get_num_threads()} threads)": (
                functools.partial(rawboost, batch),
                "cpu",
                args.eval_repeats,
            ),
        }
        if torch.device(args.device).type == "cuda":
            runners[f"torch batched, {args.device}"] = (
                functools.partial(rawboost, batch.to(args.device)),
                args.device,
                args.eval_repeats,
            )
        baseline = None
        for name, (fn, device, repeats) in runners.items():
            row = guarded(
                report,
                "rawboost",
                {"algo": algo, "runner": name},
                time_rawboost,
                fn,
                device,
                repeats,
                rms_in,
                baseline,
            )
            if baseline is None and "ms_per_batch" in row:
                baseline = row["ms_per_batch"] / 1e3


def time_rawboost(fn, device, repeats, rms_in, baseline):
    """Median time of ``fn()`` (a batch of clips), its speed-up over
    ``baseline`` seconds and the output-to-input RMS ratio."""
    out = fn()  # warm-up
    times = []
    for _ in range(repeats):
        synchronize(device)
        start = time.perf_counter()
        out = fn()
        synchronize(device)
        times.append(time.perf_counter() - start)
    rms_out = out.float().cpu().pow(2).mean(dim=1).sqrt()
    median = statistics.median(times)
    return {
        "ms_per_batch": 1e3 * median,
        "utt_per_s": len(rms_in) / median,
        "rms_ratio": float((rms_out / rms_in).mean()),
        "speed_up": None if baseline is None else baseline / median,
    }


# ---------------------------------------------------------------------------
# Part 4: 300 DPDA steps of the paper configuration
# ---------------------------------------------------------------------------
def mini_clips(root, split, num_samples):
    """The clips and labels of a mini corpus split, cropped or tiled."""
    from dpda.data.asvspoof import LA_SPLITS, PROTOCOL_FOLDER, parse_la_protocol
    from dpda.data.audio import read_checked_audio
    from dpda.data.pipelines import crop_or_tile
    from dpda.labels import LABEL_TO_INDEX

    la = os.path.join(root, "LA")
    folder, protocol = LA_SPLITS[split]
    entries = parse_la_protocol(os.path.join(la, PROTOCOL_FOLDER, protocol), folder)
    wavs, labels = [], []
    for entry in entries.values():
        path = entry["wav"].replace("{data_root}", la)
        wavs.append(
            crop_or_tile(read_checked_audio(path, num_samples=num_samples), num_samples)
        )
        labels.append(LABEL_TO_INDEX[entry["label"]])
    return torch.stack(wavs), torch.tensor(labels)


def dev_eer(model, wavs, labels, args):
    """EER (%) of ``model`` on the dev clips, fp32, in batches of 8."""
    from dpda.metrics import compute_eer
    from dpda.scores import bonafide_scores

    model.eval()
    scores = []
    with torch.inference_mode():
        for start in range(0, len(wavs), 8):
            chunk = wavs[start : start + 8].to(args.device)
            lens = torch.ones(len(chunk), device=args.device)
            scores.append(bonafide_scores(model(chunk, lens)).cpu())
    model.train()
    scores = torch.cat(scores).numpy()
    labels = labels.numpy()
    return 100 * float(compute_eer(scores[labels == 1], scores[labels == 0])[0])


def train_run(precision, data, args, seconds):
    """``--train-steps`` DPDA steps from the seed's weights, in ``precision``,
    fewer if ``seconds`` run out first (the row says how many)."""
    (train_wavs, train_labels), (dev_wavs, dev_labels) = data
    hparams = load_paper("aasist", args, lr=args.train_lr, seed=args.seed)
    model = hparams["model"]
    brain = make_brain(hparams, "joint", precision, args)
    eer_before = dev_eer(model, dev_wavs, dev_labels, args)
    batch_size = args.batch or hparams["batch_size"]
    order_gen = torch.Generator().manual_seed(args.seed)
    order, losses, times = [], [], []
    deadline = time.monotonic() + seconds
    for _ in range(args.train_steps):
        if time.monotonic() > deadline:
            break
        if len(order) < batch_size:  # a new epoch, drop_last as the recipe
            order = torch.randperm(len(train_wavs), generator=order_gen).tolist()
        picked, order = order[:batch_size], order[batch_size:]
        batch = padded_batch(train_wavs[picked], train_labels[picked])
        synchronize(args.device)
        start = time.perf_counter()
        brain.step += 1
        losses.append(float(brain.fit_batch(batch)))
        synchronize(args.device)
        times.append(time.perf_counter() - start)
    eer_after = dev_eer(model, dev_wavs, dev_labels, args)
    window = max(1, min(50, len(losses) // 3))  # steps at each end
    stats = brain.epoch_align_stats
    scale = float(brain.scaler.get_scale()) if brain.scaler.is_enabled() else None
    row = {
        "steps": len(losses),
        "ms_per_step": 1e3 * statistics.median(times),
        "window": window,
        "loss_first": float(np.mean(losses[:window])),
        "loss_last": float(np.mean(losses[-window:])),
        "loss_max": float(np.max(losses)),
        "all_finite": bool(np.all(np.isfinite(losses))),
        "skipped_steps": brain.skipped_steps,
        "final_scale": scale,
        "conflict_rate": float(np.mean([s["conflict"] for s in stats]))
        if stats
        else float("nan"),
        "eer_before": eer_before,
        "eer_after": eer_after,
        "lr": args.train_lr,
        "losses": [round(v, 5) for v in losses],
        "peak_gib": peak_gib(args.device),
    }
    del brain, model, hparams
    release(args.device)
    return row


def train_part(report, args, clock):
    """The 300-step runs, one per precision, from the same weights and batches."""
    if not args.mini:
        args.mini = os.path.join(args.work, "mini")
        from dpda.data.minicorpus import generate_mini_corpus

        generate_mini_corpus(args.mini, seed=7, sizes=MINI_SIZES)
    samples = args.samples
    data = (
        mini_clips(args.mini, "train", samples),
        mini_clips(args.mini, "dev", samples),
    )
    for index, precision in enumerate(args.train_precisions):
        row = {"precision": precision}
        if clock.left() < args.reserve:
            report.add("train", {**row, "skipped": "out of time"})
            continue
        # An equal share of what is left to each run still to come.
        seconds = (clock.left() - args.reserve / 2) / (
            len(args.train_precisions) - index
        )
        guarded(report, "train", row, train_run, precision, data, args, seconds)


#: The mini corpus of the ``train`` part (``benchmarks/gpu_prepare.sh``):
#: about the 1:9 bona fide to spoof ratio of ASVspoof 2019 LA train.
MINI_SIZES = {"train": (12, 108), "dev": (20, 20), "eval": (1, 1), "itw": (1, 1)}


# ---------------------------------------------------------------------------
def software():
    """Versions of the packages the figures depend on."""
    import speechbrain
    import transformers

    return (
        f"torch {torch.__version__}, CUDA {torch.version.cuda}, "
        f"speechbrain {speechbrain.__version__}, transformers {transformers.__version__}"
    )


def main(argv=None):
    """Run the parts asked for and write the figures."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", required=True, help="folder of the figures")
    parser.add_argument("--device", default="cuda:0")
    parser.add_argument("--parts", nargs="+", choices=PARTS, default=list(PARTS))
    parser.add_argument(
        "--backends", nargs="+", choices=list(HPARAMS), default=list(HPARAMS)
    )
    parser.add_argument("--precisions", nargs="+", default=["fp32", "bf16"])
    parser.add_argument(
        "--batch", type=int, help="utterances per step (default: the hparams')"
    )
    parser.add_argument(
        "--samples", type=int, default=66800, help="samples per utterance"
    )
    parser.add_argument("--steps", type=int, default=6, help="timed steps per variant")
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--eval-batch", type=int, default=32)
    parser.add_argument("--eval-repeats", type=int, default=5)
    parser.add_argument("--train-steps", type=int, default=300)
    parser.add_argument("--train-precisions", nargs="+", default=["bf16", "fp16"])
    parser.add_argument("--train-lr", type=float, default=1e-4)
    parser.add_argument("--seed", type=int, default=1234)
    parser.add_argument("--mini", help="a mini corpus root (generated when absent)")
    parser.add_argument(
        "--budget", type=float, default=480.0, help="seconds for the run"
    )
    parser.add_argument(
        "--reserve",
        type=float,
        default=20.0,
        help="seconds below which no variant starts",
    )
    parser.add_argument(
        "--train-share",
        type=float,
        default=0.35,
        help="part of the budget kept for the train part",
    )
    parser.add_argument("--work", help="scratch folder (default: a temporary one)")
    parser.add_argument("--tiny", action="store_true", help="tiny XLS-R (a CPU check)")
    args = parser.parse_args(argv)
    clock = Clock(args.budget)
    # The parts before ``train`` leave it its share of the budget.
    train_share = args.train_share if "train" in args.parts else 0.0
    early_clock = Clock(args.budget * (1 - train_share))
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    cuda = torch.device(args.device).type == "cuda"
    if cuda and not torch.cuda.is_available():
        parser.error(f"--device {args.device}: no CUDA device here (use --device cpu)")
    with tempfile.TemporaryDirectory() as scratch:
        args.work = args.work or scratch
        header = {
            "device": torch.cuda.get_device_name(args.device) if cuda else "cpu",
            "software": software(),
            "tf32_matmul": torch.backends.cuda.matmul.allow_tf32,
            "cudnn_tf32": torch.backends.cudnn.allow_tf32,
            "model": "XLS-R tiny" if args.tiny else "XLS-R 300M (random weights)",
            "args": {k: v for k, v in vars(args).items() if k != "work"},
        }
        report = Report(args.out, header)
        if {"steps", "eval", "train"} & set(args.parts):
            from dpda.models.ssl_families import TINY_SIZES, save_random_ssl

            start = time.perf_counter()
            args.ssl_source = save_random_ssl(
                os.path.join(args.work, "xlsr_300m"),
                "xlsr_300m",
                seed=0,
                **(TINY_SIZES if args.tiny else {}),
            )
            print(f"random XLS-R source written in {time.perf_counter() - start:.1f} s")
        if {"steps", "eval"} & set(args.parts):
            for backend in args.backends:
                if early_clock.left() < args.reserve:
                    break
                try:
                    hparams = load_paper(backend, args)
                except Exception as error:
                    traceback.print_exc()
                    report.add(
                        "steps",
                        {
                            "backend": backend,
                            "precision": "-",
                            "mode": "build",
                            "error": f"{type(error).__name__}: {error}"[:300],
                        },
                    )
                    continue
                if "steps" in args.parts:
                    steps_part(report, hparams, backend, args, early_clock)
                if "eval" in args.parts:
                    eval_part(report, hparams, backend, args, early_clock)
                del hparams
                release(args.device)
        if "rawboost" in args.parts:
            rawboost_part(report, args, early_clock)
        if "train" in args.parts:
            train_part(report, args, clock)
    print(markdown(report.figures), flush=True)
    return report.figures


if __name__ == "__main__":
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    main()
