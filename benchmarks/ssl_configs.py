#!/usr/bin/env python3
"""Parameters and training memory of the SSL configurations, full size.

``--params`` (seconds): the parameters of every front end of
:mod:`dpda.models.ssl_families` (the ``transformers`` model, random weights on
the ``meta`` device, so no memory and no download), of every back end of
:mod:`dpda.models.backends` sized as in its paper on each feature size, and
of the study's configurations (``hparams/ablations/paper_frontends.yaml``),
as markdown tables::

    python benchmarks/ssl_configs.py --params

``--memory`` (minutes on a CPU): the peak training memory of the study's
configurations, built from ``hparams/dpda_rawboost.yaml`` exactly as the
recipe builds them (``--ssl=<family> --backend=<name>``) from a full-size
source folder with random weights. Each measurement is a fresh process that
builds the model, runs two training steps (forward, backward, Adam step) on
``B`` crops of ``--samples`` samples, and reports the peak resident memory of
the second (``VmHWM`` reset after the first, which creates Adam's moments;
glibc's ``malloc`` is told to map every block above 128 KiB
on its own, ``MALLOC_MMAP_THRESHOLD_``, so that freed tensors leave the
resident set at once and the peak is that of the live tensors); per
utterance is the growth from ``B = 1`` to ``B = 5`` (the paper's batch)
divided by 4 (activations and their gradients), fixed is what ``B = 1``
needs besides one utterance (weights, gradients, Adam's two moments, the
libraries). Linux only (``/proc``). A DPDA step in joint mode holds 2B utterances at once, in split
mode B. CPU figures: a GPU run's allocator, kernels and precision differ::

    python benchmarks/ssl_configs.py --memory --threads 2

Authors
 * dpda contributors 2026
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile

import torch

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PAPER = os.path.join(ROOT, "hparams", "dpda_rawboost.yaml")
sys.path.insert(0, ROOT)

from dpda.models.backends import BACKENDS, build_backend  # noqa: E402
from dpda.models.ssl import count_parameters  # noqa: E402
from dpda.models.ssl_families import (  # noqa: E402
    SSL_FAMILIES,
    count_family_parameters,
    hidden_size,
    save_random_ssl,
)

#: The study's grid (hparams/ablations/paper_frontends.yaml).
STUDY_FRONT_ENDS = ("xlsr_300m", "wavlm_large", "mms_300m")
STUDY_BACK_ENDS = ("aasist", "sls", "nes2net_x")
PAPER_SAMPLES = 66800  # the DPDA recipe's crops
SLS_AUTHORS_SAMPLES = 64600  # SLS's and Nes2Net's crops
BIG_BATCH = 5  # the paper's batch


def backend_options():
    """The back ends' sizes in the paper hparams file (read, not built)."""
    import ruamel.yaml

    with open(PAPER, encoding="utf-8") as fin:
        return ruamel.yaml.YAML().load(fin)["backend_options"]


def backend_parameters(name, input_size, samples, options):
    """Parameters of one back end on ``input_size``-d features."""
    with torch.device("meta"):
        return count_parameters(build_backend(name, input_size, samples, options))


def print_params():
    """The three parameter tables, markdown."""
    options = backend_options()
    print("| front end | hub id | model | layers | dim | parameters |")
    print("|---|---|---|---:|---:|---:|")
    for name, family in SSL_FAMILIES.items():
        n = count_family_parameters(name)
        print(
            f"| {name} | {family.hub_id} | {family.model_type} | "
            f"{family.num_layers} | {family.hidden_size} | {n / 1e6:,.1f} M |"
        )
    dims = sorted({f.hidden_size for f in SSL_FAMILIES.values()})
    print()
    print("| back end | " + " | ".join(f"{d}-d" for d in dims) + " |")
    print("|---|" + "---:|" * len(dims))
    rows = [(b, PAPER_SAMPLES) for b in BACKENDS]
    rows.insert(2, ("sls", SLS_AUTHORS_SAMPLES))
    for name, samples in rows:
        label = name if name != "sls" else f"sls ({samples:,} samples)"
        cells = [f"{backend_parameters(name, d, samples, options):,}" for d in dims]
        print(f"| {label} | " + " | ".join(cells) + " |")
    print()
    print("| configuration | front end | back end | total |")
    print("|---|---:|---:|---:|")
    for family in STUDY_FRONT_ENDS:
        front = count_family_parameters(family)
        for backend in STUDY_BACK_ENDS:
            back = backend_parameters(
                backend, hidden_size(family), PAPER_SAMPLES, options
            )
            print(
                f"| {family} + {backend} | {front / 1e6:,.1f} M | "
                f"{back / 1e6:,.3f} M | {(front + back) / 1e6:,.1f} M |"
            )


def child(args):
    """One measurement: build, two training steps, print the second's peak.

    The first step creates Adam's moments; the peak resident memory
    (``VmHWM``) is then reset through ``/proc/self/clear_refs``, so the
    figure is that of a steady training step: weights, gradients, Adam's
    moments and the activations of ``B`` utterances.
    """
    from hyperpyyaml import load_hyperpyyaml

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    tmp = tempfile.mkdtemp()
    overrides = {
        "ssl": args.family,
        "ssl_hub": args.source,
        "backend": args.backend,
        "data_folder": tmp,
        "output_folder": tmp,
        "max_samples": args.samples,
        "eval_max_samples": args.samples,
    }
    with open(PAPER, encoding="utf-8") as fin:
        hparams = load_hyperpyyaml(fin, overrides)
    model = hparams["model"].train()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-6)
    wavs = 0.1 * torch.randn(args.batch, args.samples)
    labels = torch.arange(args.batch) % 2
    for step in range(2):
        if step == 1:
            with open("/proc/self/clear_refs", "w") as f:
                f.write("5")  # resets VmHWM, the peak resident set
        optimizer.zero_grad(set_to_none=False)
        loss = torch.nn.functional.cross_entropy(model(wavs), labels)
        loss.backward()
        optimizer.step()
    print(json.dumps({"peak_mib": peak_rss_kib() / 1024, "loss": float(loss)}))


def peak_rss_kib():
    """``VmHWM`` of this process (KiB): its peak resident set since the
    last reset."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    raise RuntimeError("no VmHWM in /proc/self/status")


def measure(family, backend, batch, source, args):
    """Run :func:`child` in a fresh process; its peak RSS in MiB."""
    command = [
        sys.executable,
        os.path.abspath(__file__),
        "--child",
        f"--family={family}",
        f"--backend={backend}",
        f"--batch={batch}",
        f"--source={source}",
        f"--samples={args.samples}",
        f"--threads={args.threads}",
    ]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    env["MALLOC_MMAP_THRESHOLD_"] = str(128 * 1024)
    out = subprocess.run(command, capture_output=True, text=True, env=env)
    if out.returncode:
        raise RuntimeError(out.stderr[-3000:])
    return json.loads(out.stdout.strip().splitlines()[-1])["peak_mib"]


def print_memory(args):
    """Peak training memory of the study's grid, markdown."""
    from machine import cpu_model

    print(
        f"Peak resident memory of a training step (fp32, Adam, after the first), "
        f"{args.samples:,}-sample crops, {args.threads} torch threads, "
        f"{cpu_model()}, torch {torch.__version__}"
    )
    print()
    print(
        f"| configuration | B = 1 (MiB) | B = {BIG_BATCH} (MiB) "
        "| per utterance (MiB) | fixed (MiB) |"
    )
    print("|---|---:|---:|---:|---:|")
    with tempfile.TemporaryDirectory() as root:
        for family in STUDY_FRONT_ENDS:
            source = save_random_ssl(os.path.join(root, family), family)
            for backend in STUDY_BACK_ENDS:
                one = measure(family, backend, 1, source, args)
                big = measure(family, backend, BIG_BATCH, source, args)
                per = (big - one) / (BIG_BATCH - 1)
                print(
                    f"| {family} + {backend} | {one:,.0f} | {big:,.0f} | "
                    f"{per:,.0f} | {one - per:,.0f} |",
                    flush=True,
                )


def main():
    """Parse the options; print the tables asked for."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--params", action="store_true", help="parameter tables")
    parser.add_argument("--memory", action="store_true", help="peak memory table")
    parser.add_argument("--samples", type=int, default=PAPER_SAMPLES)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--family", help=argparse.SUPPRESS)
    parser.add_argument("--backend", help=argparse.SUPPRESS)
    parser.add_argument("--batch", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--source", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child(args)
    if not (args.params or args.memory):
        parser.error("ask for --params, --memory or both")
    if args.params:
        print_params()
    if args.memory:
        if args.params:
            print()
        print_memory(args)


if __name__ == "__main__":
    main()
