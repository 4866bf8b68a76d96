#!/usr/bin/env python3
"""Run the authors' SLS and Nes2Net-X back ends on seeded weights and inputs: the test fixture.

Run once, by hand, to (re)make ``ssl_backends_reference.json``; the tests
(``tests/test_backends.py``) compare :class:`dpda.models.sls.SLS` and
:class:`dpda.models.nes2net.Nes2NetX` with it.

The reference code is the authors' own, not dpda's:

* ``model.py`` of https://github.com/QiShanZhang/SLSforASVspoof-2021-DF
  (``Model`` and ``getAttenF``: SLS, Zhang et al., ACM MM 2024);
* ``model_scripts/wav2vec2_Nes2Net_X.py`` of
  https://github.com/Liu-Tianchi/Nes2Net_ASVspoof_ITW
  (``wav2vec2_Nes2Net_no_Res_w_allT`` holding ``Nested_Res2Net_TDNN``:
  Nes2Net-X, Liu et al., IEEE T-IFS 2025), built with the defaults of its
  ``main.py`` (``--Nes_ratio 8 8 --dilation 2 --pool_func mean
  --SE_ratio 1``), and with ``--pool_func ASTP``.

Both files are read from the given git directories (a clone or a bare
mirror) with ``git show <commit>:<file>``, whose commit is recorded. They
import fairseq to build the XLS-R front end; only the back ends are run
here, so a stub ``fairseq`` module stands in for the import and a stub
``SSLModel`` hands the authors' ``forward`` the seeded SSL outputs: their
own ``forward`` runs, from the SSL output on (for SLS, ``layer_results``:
24 tuples ``(x, z)`` with ``x`` of shape ``(T, B, 1024)``; for Nes2Net-X,
``x`` of shape ``(B, T, 1024)``, which their forward permutes to
``(B, 1024, T)``).

Every parameter and buffer (batch-norm running statistics included) is
filled from numpy's PCG64 generator, seeded, in state-dict order
(:func:`regenerate_state_dict`), and the inputs are drawn the same way
(:func:`sls_layer_results`, :func:`nes2net_features`), so that the fixture
holds only key names, shapes, seeds and outputs, and the tests regenerate
the same tensors without the authors' code. The outputs are computed in
float64 (to compare the maths, not float32 rounding), in eval mode and in
training mode (batch statistics; neither model has dropout)::

    git clone https://github.com/QiShanZhang/SLSforASVspoof-2021-DF sls
    git clone https://github.com/Liu-Tianchi/Nes2Net_ASVspoof_ITW nes2net
    python tests/reference/ssl_backends_reference.py --sls sls --nes2net nes2net

Authors
 * dpda contributors 2026
"""

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import types

import numpy as np

WEIGHT_SEED = 20260411
INPUT_SEED = 20260412
BATCH = 3
NUM_FRAMES = 201  # 64,600 samples
DIM = 1024
NUM_LAYERS = 24
SLS_FILE = "model.py"
NES2NET_FILE = "model_scripts/wav2vec2_Nes2Net_X.py"
# The defaults of the authors' main.py (and the README's commands).
NES2NET_ARGS = dict(
    n_output_logits=2, Nes_ratio=[8, 8], dilation=2, pool_func="mean", SE_ratio=[1]
)
FIXTURE = os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "ssl_backends_reference.json"
)


def fill_values(key, shape, rng):
    """Values for one state-dict entry, by the kind its name says.

    Weights of two or more dimensions: uniform with unit-variance gain
    (``sqrt(3 / fan_in)``); one-dimensional weights (norm scales): uniform
    in [0.5, 1.5]; biases and running means: small normals; running
    variances: uniform in [0.5, 2]; batch counters: integers; anything else
    (Nes2Net-X's ``weighted_sum``): uniform in [0, 1].

    Arguments
    ---------
    key : str
        State-dict key.
    shape : tuple of int
        Its shape.
    rng : numpy.random.Generator
        The generator, advanced by the draw.

    Returns
    -------
    numpy.ndarray
        float64 values (int64 for ``num_batches_tracked``).

    Example
    -------
    >>> rng = np.random.Generator(np.random.PCG64(0))
    >>> bool(fill_values("bn.running_var", (3,), rng).min() >= 0.5)
    True
    >>> fill_values("bn.num_batches_tracked", (), rng).dtype
    dtype('int64')
    """
    shape = tuple(shape)
    if key.endswith("num_batches_tracked"):
        return rng.integers(0, 1000, size=shape, dtype=np.int64)
    if key.endswith("running_var"):
        return rng.uniform(0.5, 2.0, size=shape)
    if key.endswith("running_mean"):
        return rng.normal(0.0, 0.5, size=shape)
    if key.endswith("bias"):
        return rng.normal(0.0, 0.1, size=shape)
    if key.endswith("weight") and len(shape) == 1:
        return rng.uniform(0.5, 1.5, size=shape)
    if key.endswith("weight"):
        fan_in = int(np.prod(shape[1:]))
        return rng.uniform(-1.0, 1.0, size=shape) * np.sqrt(3.0 / fan_in)
    return rng.uniform(0.0, 1.0, size=shape)


def regenerate_state_dict(entries, seed):
    """The seeded state dict of the given keys and shapes.

    Arguments
    ---------
    entries : list
        ``[key, shape]`` pairs, in state-dict order.
    seed : int
        Seed of numpy's PCG64 generator.

    Returns
    -------
    dict
        ``key -> numpy.ndarray``, in the given order.

    Example
    -------
    >>> sd = regenerate_state_dict([["fc.weight", [2, 4]], ["fc.bias", [2]]], 0)
    >>> {k: v.shape for k, v in sd.items()}
    {'fc.weight': (2, 4), 'fc.bias': (2,)}
    """
    rng = np.random.Generator(np.random.PCG64(seed))
    return {key: fill_values(key, shape, rng) for key, shape in entries}


def sls_layer_results(seed=INPUT_SEED, batch=BATCH):
    """The SLS inputs as the authors receive them: one ``(T, B, D)`` array per layer.

    Arguments
    ---------
    seed : int
        Seed of numpy's PCG64 generator.
    batch : int
        Batch size.

    Returns
    -------
    numpy.ndarray
        ``[NUM_LAYERS, NUM_FRAMES, batch, DIM]`` standard normals (float64).
    """
    rng = np.random.Generator(np.random.PCG64(seed))
    return rng.standard_normal((NUM_LAYERS, NUM_FRAMES, batch, DIM))


def nes2net_features(seed=INPUT_SEED + 1, batch=BATCH):
    """The Nes2Net-X inputs as its back end receives them: ``[B, D, T]``.

    Arguments
    ---------
    seed : int
        Seed of numpy's PCG64 generator.
    batch : int
        Batch size.

    Returns
    -------
    numpy.ndarray
        ``[batch, DIM, NUM_FRAMES]`` standard normals (float64).

    Example
    -------
    >>> nes2net_features(batch=2).shape
    (2, 1024, 201)
    """
    rng = np.random.Generator(np.random.PCG64(seed))
    return rng.standard_normal((batch, DIM, NUM_FRAMES))


def _git(git_dir, *args):
    """Output of a git command in ``git_dir``."""
    return subprocess.run(
        ["git", "-C", git_dir, *args], check=True, capture_output=True, text=True
    ).stdout


def _import_authors_file(git_dir, commit, path, name, folder):
    """Write ``commit:path`` of ``git_dir`` to ``folder`` and import it, fairseq stubbed."""
    import importlib.util

    target = os.path.join(folder, name + ".py")
    with open(target, "w") as fout:
        fout.write(_git(git_dir, "show", f"{commit}:{path}"))
    # Only the back ends run: the fairseq import must merely succeed.
    sys.modules.setdefault("fairseq", types.ModuleType("fairseq"))
    spec = importlib.util.spec_from_file_location(name, target)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _stub_ssl_model(outputs):
    """A stand-in for the authors' ``SSLModel`` whose ``extract_feat`` returns ``outputs``."""
    import torch

    class StubSSLModel(torch.nn.Module):
        """No parameters; hands the authors' forward the seeded SSL outputs."""

        def __init__(self, device=None):
            super().__init__()

        def extract_feat(self, input_data):
            """Return the stored outputs, whatever the waveform."""
            return outputs["value"]

    return StubSSLModel


def _load(model, state):
    """Load numpy arrays into ``model`` (float64), checking every key."""
    import torch

    tensors = {k: torch.from_numpy(np.array(v)) for k, v in state.items()}
    model.load_state_dict(tensors, strict=True)


def _run(model, make_input, outputs, value):
    """Outputs of ``model`` in eval then training mode, rounded."""
    import torch

    result = {}
    outputs["value"] = value
    for mode in ("eval", "train"):
        model.train(mode == "train")
        with torch.no_grad():
            out = model(make_input())
        result[mode] = [[float(f"{v:.8g}") for v in row] for row in out.tolist()]
    return result


def _entries(model):
    """``[key, shape]`` of every state-dict entry, in order."""
    return [[k, list(v.shape)] for k, v in model.state_dict().items()]


def _count(module):
    """Trainable parameters, counted as the authors' scripts do."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad)


def _compact_json(obj):
    """JSON text, one line per number list and per ``[key, shape]`` entry."""
    text = json.dumps(obj, indent=1)
    text = re.sub(
        r"\[\s*([-+\d.,eE\s]*?)\s*\]",
        lambda m: "[" + ", ".join(v.strip() for v in m.group(1).split(",")) + "]",
        text,
    )
    text = re.sub(r'\[\s*("[^"]*"),\s*(\[[^\]]*\])\s*\]', r"[\1, \2]", text)
    return text + "\n"


def main(argv=None):
    """Run the authors' back ends on the seeded inputs; write the fixture."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--sls", required=True, help="git dir of SLSforASVspoof-2021-DF"
    )
    parser.add_argument(
        "--nes2net", required=True, help="git dir of Nes2Net_ASVspoof_ITW"
    )
    parser.add_argument("--out", default=FIXTURE)
    args = parser.parse_args(argv)

    import torch

    torch.set_num_threads(2)
    sls_commit = _git(args.sls, "rev-parse", "HEAD").strip()
    nes_commit = _git(args.nes2net, "rev-parse", "HEAD").strip()
    fixture = {
        "reference": {
            "sls": f"https://github.com/QiShanZhang/SLSforASVspoof-2021-DF {sls_commit} {SLS_FILE}",
            "nes2net": f"https://github.com/Liu-Tianchi/Nes2Net_ASVspoof_ITW {nes_commit} {NES2NET_FILE}",
            "torch": torch.__version__,
            "dtype": "float64",
            "values": "tests/reference/ssl_backends_reference.py: fill_values",
        },
        "weight_seed": WEIGHT_SEED,
        "input_seed": {"sls": INPUT_SEED, "nes2net": INPUT_SEED + 1},
        "models": {},
    }
    outputs = {}
    with tempfile.TemporaryDirectory() as tmp:
        sls_module = _import_authors_file(
            args.sls, sls_commit, SLS_FILE, "authors_sls_model", tmp
        )
        nes_module = _import_authors_file(
            args.nes2net, nes_commit, NES2NET_FILE, "authors_nes2net_x", tmp
        )
    sls_module.SSLModel = _stub_ssl_model(outputs)
    nes_module.SSLModel = _stub_ssl_model(outputs)

    # SLS: the authors' Model (head only: the stub SSL has no parameters).
    model = sls_module.Model(None, "cpu").double()
    entries = _entries(model)
    _load(model, regenerate_state_dict(entries, WEIGHT_SEED))
    layers = torch.from_numpy(sls_layer_results())
    layer_results = [(layer, None) for layer in layers]  # fairseq's (x, z)
    fixture["models"]["sls"] = {
        "state_dict": entries,
        "parameters": _count(model),
        "input": f"layer_results: {NUM_LAYERS} x (x (T={NUM_FRAMES}, B={BATCH}, "
        f"D={DIM}), z=None)",
        "log_probs": _run(
            model, lambda: torch.zeros(BATCH, 1), outputs, (None, layer_results)
        ),
    }

    # Nes2Net-X, mean and ASTP pooling: the whole model, keys prefixed
    # with Nested_Res2Net_TDNN.
    feats = torch.from_numpy(nes2net_features())  # [B, D, T]
    for name, pool in (("nes2net_x", "mean"), ("nes2net_x_astp", "ASTP")):
        config = argparse.Namespace(**{**NES2NET_ARGS, "pool_func": pool})
        model = nes_module.wav2vec2_Nes2Net_no_Res_w_allT(config, "cpu").double()
        entries = _entries(model)
        _load(model, regenerate_state_dict(entries, WEIGHT_SEED))
        fixture["models"][name] = {
            "args": vars(config),
            "state_dict": entries,
            "parameters": _count(model.Nested_Res2Net_TDNN),
            "input": f"SSL features (B={BATCH}, T={NUM_FRAMES}, D={DIM}): the "
            "[B, D, T] draw, permuted",
            # The stub returns [B, T, D], as fairseq's x; their forward permutes.
            "logits": _run(
                model,
                lambda: torch.zeros(BATCH, 1),
                outputs,
                feats.permute(0, 2, 1).contiguous(),
            ),
        }
    for name, entry in fixture["models"].items():
        out = entry.get("log_probs") or entry["logits"]
        print(name, entry["parameters"], out["eval"][0], out["train"][0])
    with open(args.out, "w") as fout:
        fout.write(_compact_json(fixture))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
