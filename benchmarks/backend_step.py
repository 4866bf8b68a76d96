#!/usr/bin/env python3
"""Training-step time of each SSL back end on XLS-R-sized features, side by side.

Every back end of :data:`dpda.models.backends.BACKENDS`, built at its paper's
size (its constructor's defaults) on 1024-d features, runs forward, backward
and an Adam step on the frames XLS-R gives for the paper's crop (5 utterances
of 66,800 samples: 208 frames each), with random features in place of the
front end (its cost is the same for every back end and dominates the full
model's step). Repetitions are interleaved (one step of each back end per
round) so that a shared machine's load falls on all alike; the script prints
the median step time of each, its ratio to AASIST's and its parameter count::

    python benchmarks/backend_step.py --threads 2

What it shows: what each back end adds to a step, on this CPU. What it does
not: the full model's step time (XLS-R 300M costs far more than any back end)
or the time on a GPU, where Mamba's scan runs as one kernel (``mamba_ssm``)
and the ratios differ.

Authors
 * dpda contributors 2026
"""

import argparse
import statistics
import time

import torch
from machine import cpu_model  # beside this script

from dpda.models.backends import BACKENDS, build_backend
from dpda.models.ssl import count_parameters

# XLS-R's frames for 66,800 samples: the conv feature encoder's output length.
FRAMES = 208
SAMPLES = 66800


def step_fn(name, batch, seed=0):
    """One training step (forward, backward, Adam) of a back end, as a closure."""
    torch.manual_seed(seed)
    model = build_backend(name, 1024, SAMPLES)
    model.train()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-6)
    layers = 25 if BACKENDS[name][2] == "all" else None
    shape = (layers, batch, FRAMES, 1024) if layers else (batch, FRAMES, 1024)
    feats = torch.randn(*shape)
    labels = torch.randint(0, 2, (batch,))
    lengths = torch.ones(batch)

    def step():
        optimizer.zero_grad()
        logits = model(feats, lengths)
        torch.nn.functional.cross_entropy(logits, labels).backward()
        optimizer.step()

    return model, step


def main(argv=None):
    """Time every back end's step; print the table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batch", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--backends", nargs="+", default=list(BACKENDS))
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    steps, params, times = {}, {}, {}
    for name in args.backends:
        model, steps[name] = step_fn(name, args.batch)
        params[name] = count_parameters(model)
        steps[name]()  # warm-up
        times[name] = []
    for _ in range(args.rounds):
        for name in args.backends:
            start = time.perf_counter()
            steps[name]()
            times[name].append(time.perf_counter() - start)
    print(
        f"{cpu_model()}, torch {torch.__version__}, {args.threads} threads; "
        f"batch {args.batch} x {FRAMES} frames x 1024, median of {args.rounds}"
    )
    reference = statistics.median(times.get("aasist") or times[args.backends[0]])
    print("| back end | parameters | step (s) | x AASIST |")
    print("|---|---:|---:|---:|")
    for name in args.backends:
        median = statistics.median(times[name])
        print(
            f"| {name} | {params[name]:,} | {median:.2f} | {median / reference:.2f} |"
        )


if __name__ == "__main__":
    main()
