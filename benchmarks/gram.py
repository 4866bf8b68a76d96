"""Cost of the float64 Gram matrix of the aligners, against float32 dot products.

``dpda.alignment.path_gram`` copies each parameter's K gradients into a
float64 block and takes ``X X^T`` (every product exact, the sum in float64),
so that the aligners' weights do not depend on the CPU's float32 summation
order. The previous version took each pair's dot product in float32
(``torch.dot`` per parameter and pair, summed in float64). This script times
both, interleaved, on gradients with the parameter shapes of a full-size
XLS-R 300M (random values; the shapes come from the model built on the
``meta`` device, no download), and prints the ratio and each one's deviation
from a float64 reference.

Usage::

    python benchmarks/gram.py [--paths 2] [--repeats 5] [--threads 2]
        [--family xlsr_300m]
"""

import argparse
import statistics
import time

import torch
from machine import cpu_model  # benchmarks/machine.py, beside this script

from dpda.alignment import path_gram
from dpda.models.ssl_families import random_ssl_model


def float32_dots(grad_lists):
    """The previous Gram: each pair's dot product in the gradients' dtype."""
    k_paths = len(grad_lists)
    gram = torch.zeros(k_paths, k_paths, dtype=torch.float64)
    for i in range(k_paths):
        for j in range(i, k_paths):
            total = torch.stack(
                [
                    torch.dot(a.reshape(-1), b.reshape(-1)).double()
                    for a, b in zip(grad_lists[i], grad_lists[j])
                ]
            ).sum()
            gram[i, j] = gram[j, i] = total
    return gram


def exact_gram(grad_lists):
    """float64 reference: every gradient converted, then dot products."""
    flat = [torch.cat([g.reshape(-1).double() for g in grads]) for grads in grad_lists]
    return torch.stack([torch.stack([a @ b for b in flat]) for a in flat])


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--paths", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--family", default="xlsr_300m")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    shapes = [
        p.shape for p in random_ssl_model(args.family, device="meta").parameters()
    ]
    gen = torch.Generator().manual_seed(0)
    grads = [[torch.randn(s, generator=gen) for s in shapes] for _ in range(args.paths)]
    n = sum(s.numel() for s in shapes)
    times = {"float64 (path_gram)": [], "float32 dots (previous)": []}
    results = {}
    for _ in range(args.repeats):
        for name, fn in zip(times, (path_gram, float32_dots)):
            start = time.perf_counter()
            results[name] = fn(grads)
            times[name].append(time.perf_counter() - start)
    reference = exact_gram(grads)
    print(
        f"{cpu_model()}, {args.threads} torch threads, torch {torch.__version__}: "
        f"{args.family} shapes ({len(shapes)} parameters, {n / 1e6:.1f} M), "
        f"K = {args.paths}, median of {args.repeats} interleaved calls"
    )
    print("| Gram | median s | max relative deviation from float64 |")
    print("|---|---:|---:|")
    for name, runs in times.items():
        dev = (results[name] - reference).abs().max() / reference.abs().max()
        print(f"| {name} | {statistics.median(runs):.3f} | {float(dev):.1e} |")
    new, old = (statistics.median(r) for r in times.values())
    print(f"ratio float64 / float32 dots: x{new / old:.2f}")


if __name__ == "__main__":
    main()
