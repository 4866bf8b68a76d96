"""Cost of one DPDA training step against plain and reference-style steps.

Side by side, on the same model and batch (B utterances, so 2B forward
samples for every dual-path variant, 3B with ``--paths 3``):

(a) ``plain``: one step on the concatenated 2B batch (mean loss);
(b) ``split``: ``DPDABrain.fit_batch``, split mode, PCGrad;
(c) ``joint``: ``DPDABrain.fit_batch``, joint mode, PCGrad;
(d) ``reference``: the paper code's style: one 2B forward, two
    ``backward(retain_graph=True)``, both gradients flattened into vectors,
    PCGrad on the vectors, the result written back;
(e) ``two_paths``: the two paths' forward/backward accumulated with no
    alignment (what (b) costs without the aligner).

With ``--paths 3`` (clean + two augmentations, ``augment_paths``): (a) a
plain step on the 3B batch, (b) and (c) three-path DPDA with PCGrad from the
3 x 3 Gram matrix, (e) the three paths accumulated with no alignment; (d),
the paper code's style, exists for two paths only.

Step times are measured in one process with the variants interleaved step by
step (each on its own copy of the model), so that drifts of the machine hit
all of them alike; the median is reported. Peak resident memory is read from
a separate process per variant. The model is a small
wav2vec2-style transformer with random weights (no download), large enough
that gradient buffers matter.

Usage::

    python benchmarks/dpda_step.py [--steps 20] [--batch 4] [--seconds 1.0]
        [--paths 2|3] [--threads N]
"""

import argparse
import json
import platform
import resource
import statistics
import subprocess
import sys
import time

import torch

from dpda.alignment import Aligner, combine_weighted

VARIANTS = ("plain", "split", "joint", "reference", "two_paths")
VARIANTS_3 = ("plain", "split", "joint", "three_paths")


class Noise(torch.nn.Module):
    """A cheap deterministic augmentation, so that timing measures the step."""

    def forward(self, wavs, lengths=None):
        return wavs + 0.01 * torch.sin(torch.arange(wavs.shape[1], dtype=wavs.dtype))


class Noise2(torch.nn.Module):
    """A second cheap deterministic augmentation (the third path)."""

    def forward(self, wavs, lengths=None):
        return 0.9 * wavs


class Accumulate(Aligner):
    """Adds the paths' gradients with no Gram matrix: the cost floor of (b)."""

    name = "accumulate"

    def combine(self, grads_1, grads_2, *more_grads):
        paths = [grads_1, grads_2, *more_grads]
        k = len(paths)
        gram = [[1.0 if i == j else 0.0 for j in range(k)] for i in range(k)]
        self.last_stats = {"gram": gram, "weights": [1.0] * k}
        return combine_weighted(paths, [1.0] * k)


# wav2vec 2.0 regularisation off, as in the paper configurations.
NO_DROPOUT = dict(
    hidden_dropout=0.0,
    attention_dropout=0.0,
    activation_dropout=0.0,
    feat_proj_dropout=0.0,
    layerdrop=0.0,
    mask_time_prob=0.0,
)


class Frontend(torch.nn.Module):
    """The last hidden layer of a transformers wav2vec 2.0 model."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, wavs, lengths=None):
        """Frame features ``[B, T, D]``."""
        return self.model(wavs).last_hidden_state


def build_model(seed=0):
    """A 5.58 M-parameter XLS-R-like model (random weights, no dropout)."""
    from dpda.models.ssl import PooledBackend, SSLClassifier
    from dpda.models.ssl_families import random_ssl_model

    wav2vec2 = random_ssl_model(
        "xlsr_300m",
        seed=seed,
        hidden_size=256,
        num_hidden_layers=6,
        num_attention_heads=4,
        intermediate_size=1024,
        conv_dim=(128,) * 7,
        conv_bias=False,
        num_conv_pos_embeddings=32,
        num_conv_pos_embedding_groups=4,
        **NO_DROPOUT,
    )
    return SSLClassifier(Frontend(wav2vec2), PooledBackend(256, 64, dropout=0.0))


def make_batch(batch, seconds):
    from speechbrain.dataio.batch import PaddedBatch

    gen = torch.Generator().manual_seed(1)
    wavs = torch.randn(batch, int(16000 * seconds), generator=gen) * 0.1
    return PaddedBatch(
        [{"id": str(i), "sig": wavs[i], "label_id": i % 2} for i in range(batch)]
    )


def make_brain(model, mode, aligner="pcgrad", paths=2):
    from dpda.brain import DPDABrain

    class Counter:
        current = 1

    brain = DPDABrain(
        modules={"model": model},
        opt_class=lambda params: torch.optim.SGD(params, lr=1e-4),
        hparams={
            "class_weights": [0.1, 0.9],
            "augment_paths": {"noise": Noise(), "noise2": Noise2()}
            if paths == 3
            else {"aug": Noise()},
            "aligner": aligner,
            "dpda_mode": mode,
            "epoch_counter": Counter(),
            "output_folder": "/tmp",
        },
        run_opts={"device": "cpu", "max_grad_norm": 1e9},
    )
    brain.init_optimizers()
    return brain


def step_function(variant, model, batch, paths=2):
    """Return a callable running one optimizer step of ``variant``."""
    from dpda.brain import weighted_cross_entropy

    weights = torch.tensor([0.1, 0.9])
    wavs, lens = batch.sig
    labels = batch.label_id
    aug = Noise()
    views = [Noise(), Noise2()][: paths - 1]
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.SGD(params, lr=1e-4)

    if variant in ("split", "joint"):
        brain = make_brain(model, variant, paths=paths)

        def run():
            brain.step += 1
            brain.fit_batch(batch)

        return run
    if variant in ("two_paths", "three_paths"):
        brain = make_brain(model, "split", paths=paths)
        brain.aligner = Accumulate()

        def run():
            brain.step += 1
            brain.fit_batch(batch)

        return run
    if variant == "plain":

        def run():
            logits = model(torch.cat([wavs, *(view(wavs) for view in views)]))
            loss = weighted_cross_entropy(logits, labels.repeat(paths), weights)
            loss.backward()
            opt.step()
            opt.zero_grad(set_to_none=True)

        return run

    def run():  # reference style
        logits = model(torch.cat([wavs, aug(wavs)]))
        clean, augmented = logits.chunk(2)
        loss_1 = weighted_cross_entropy(clean, labels, weights)
        loss_2 = weighted_cross_entropy(augmented, labels, weights)
        loss_1.backward(retain_graph=True)
        g1 = torch.cat([p.grad.reshape(-1).clone() for p in params])
        opt.zero_grad(set_to_none=True)
        loss_2.backward()
        g2 = torch.cat([p.grad.reshape(-1).clone() for p in params])
        dot = torch.dot(g1, g2)
        p1, p2 = g1.clone(), g2.clone()
        if dot < 0:
            p1 -= dot / g2.pow(2).sum() * g2
            p2 -= dot / g1.pow(2).sum() * g1
        update = (p1 + p2) / 2
        offset = 0
        for p in params:
            n = p.numel()
            p.grad = update[offset : offset + n].view_as(p).clone()
            offset += n
        opt.step()
        opt.zero_grad(set_to_none=True)

    return run


def peak_memory(variant, steps, batch_size, seconds, paths=2):
    """Peak resident memory of a process running only ``variant``."""
    model = build_model()
    run = step_function(variant, model, make_batch(batch_size, seconds), paths)
    for _ in range(steps):
        run()
    return {
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "params": sum(p.numel() for p in model.parameters()),
    }


def interleaved_times(steps, batch_size, seconds, paths=2):
    """Median step time of every variant, the variants run in turn."""
    batch = make_batch(batch_size, seconds)
    variants = VARIANTS_3 if paths == 3 else VARIANTS
    runs = {v: step_function(v, build_model(), batch, paths) for v in variants}
    for _ in range(2):  # warm-up
        for run in runs.values():
            run()
    times = {v: [] for v in variants}
    for _ in range(steps):
        for variant, run in runs.items():
            start = time.perf_counter()
            run()
            times[variant].append(time.perf_counter() - start)
    return {v: (statistics.median(t), min(t)) for v, t in times.items()}


def measure(args, variants, paths):
    """Peak memory (one process per variant) and interleaved step times."""
    results = {}
    for variant in variants:
        out = subprocess.run(
            [sys.executable, __file__, f"--variant={variant}", f"--paths={paths}",
             f"--batch={args.batch}", f"--seconds={args.seconds}"]
            + ([f"--threads={args.threads}"] if args.threads else []),
            capture_output=True, text=True, check=True,
        )  # fmt: skip
        results[variant] = json.loads(out.stdout.strip().splitlines()[-1])
    for variant, (median, fastest) in interleaved_times(
        args.steps, args.batch, args.seconds, paths
    ).items():
        results[variant].update(median_s=median, min_s=fastest)
    return results


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=1.0)
    parser.add_argument("--paths", type=int, choices=(2, 3), default=2)
    parser.add_argument(
        "--threads", type=int, default=None, help="torch threads (default: torch's)"
    )
    parser.add_argument(
        "--variant", choices=VARIANTS + VARIANTS_3, help=argparse.SUPPRESS
    )
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.variant:
        print(
            json.dumps(
                peak_memory(args.variant, 3, args.batch, args.seconds, args.paths)
            )
        )
        return
    if args.paths == 3:
        return main_three_paths(args)

    results = measure(args, VARIANTS, paths=2)

    grad_mib = results["plain"]["params"] * 4 / 2**20
    print(
        f"machine: {platform.processor() or platform.machine()}, "
        f"torch {torch.__version__}, {torch.get_num_threads()} threads; "
        f"model {results['plain']['params'] / 1e6:.2f} M parameters "
        f"(one gradient = {grad_mib:.1f} MiB); batch {args.batch} x {args.seconds} s "
        f"(2 x {args.batch} forward samples); median of {args.steps} interleaved steps"
    )
    for variant in VARIANTS:
        r = results[variant]
        print(
            f"({'abcde'[VARIANTS.index(variant)]}) {variant:10s} "
            f"{1000 * r['median_s']:8.1f} ms/step (min {1000 * r['min_s']:7.1f})  "
            f"peak RSS {r['peak_rss_mib']:7.1f} MiB"
        )
    b = results["split"]
    for other in ("plain", "reference", "two_paths", "joint"):
        o = results[other]
        print(
            f"split / {other:9s}: time x{b['median_s'] / o['median_s']:.3f}, "
            f"peak RSS {b['peak_rss_mib'] - o['peak_rss_mib']:+.1f} MiB"
        )


def main_three_paths(args):
    """The K = 3 comparison: split and joint three-path DPDA against a plain
    step on the 3B batch and against the three paths without alignment."""
    results = measure(args, VARIANTS_3, paths=3)
    grad_mib = results["plain"]["params"] * 4 / 2**20
    print(
        f"machine: {platform.processor() or platform.machine()}, "
        f"torch {torch.__version__}, {torch.get_num_threads()} threads; "
        f"model {results['plain']['params'] / 1e6:.2f} M parameters "
        f"(one gradient = {grad_mib:.1f} MiB); batch {args.batch} x {args.seconds} s, "
        f"3 paths (3 x {args.batch} forward samples); median of {args.steps} "
        "interleaved steps"
    )
    for variant in VARIANTS_3:
        r = results[variant]
        print(
            f"{variant:12s} {1000 * r['median_s']:8.1f} ms/step "
            f"(min {1000 * r['min_s']:7.1f})  peak RSS {r['peak_rss_mib']:7.1f} MiB"
        )
    plain = results["plain"]
    for variant in ("split", "joint", "three_paths"):
        r = results[variant]
        extra = r["peak_rss_mib"] - plain["peak_rss_mib"]
        print(
            f"{variant} / plain 3B: time x{r['median_s'] / plain['median_s']:.3f}, "
            f"peak RSS {extra:+.1f} MiB ({extra / grad_mib:+.2f} gradient buffers)"
        )
    share = 1 - results["three_paths"]["median_s"] / results["split"]["median_s"]
    print(
        f"alignment's own share of the split step (Gram, weights, combination): {100 * share:.1f}%"
    )


if __name__ == "__main__":
    main()
