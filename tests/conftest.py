"""Helpers and fixtures shared by the test modules.

Test modules import the helpers with ``from conftest import ...`` (pytest puts
``tests/`` on ``sys.path``) and never import each other. The fixtures here are
found by pytest without an import.

- ``flat``: a list of tensors as one float64 numpy vector.
- The DPDA step on a tiny RawCNN (``test_brain``, ``test_multipath``):
  ``WEIGHTS``, ``FixedNoise``, ``make_model``, ``make_batch``, ``make_brain``,
  ``path_grads``, ``param_delta``, ``run_steps``.
- Tiny SSL sources and the authors' checkpoint names: ``save_tiny_xlsr``,
  ``make_tiny_wav2vec2``, ``HF_TO_FAIRSEQ``, ``PRETRAINING``,
  ``authors_state_dict``.
- Audio: ``write_wav``, ``write_m4a``.
- The recipes end to end: ``run_python``, ``evaluate`` (the InTheWild
  ``evaluate.py``) and the session fixture ``trained`` (one mini training
  run, shared by ``test_evaluate`` and ``test_prepare_for``).
"""

import os
import re
import shutil
import subprocess
import sys

import numpy as np
import pytest
import soundfile as sf
import torch
from speechbrain.dataio.batch import PaddedBatch

from dpda.brain import weighted_cross_entropy
from dpda.data.minicorpus import generate_mini_corpus
from dpda.models.raw_cnn import RawCNN

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TRAIN = os.path.join(ROOT, "recipes", "ASVspoof")
EVALUATE = os.path.join(ROOT, "recipes", "InTheWild")


# ------------------------------------------------------------------ vectors
def flat(tensors):
    """One float64 numpy vector of a list of tensors (or arrays, or lists)."""
    return np.concatenate(
        [np.asarray(t, dtype=np.float64).reshape(-1) for t in tensors]
    )


# ---------------------------------------------------- the DPDA step, tiny
WEIGHTS = torch.tensor([0.1, 0.9])


class FixedNoise(torch.nn.Module):
    """A deterministic stand-in augmentation, so paths can be recomputed."""

    def __init__(self, length, seed=0):
        super().__init__()
        gen = torch.Generator().manual_seed(seed)
        self.register_buffer("noise", 0.3 * torch.randn(length, generator=gen))

    def forward(self, wavs, lengths=None):
        return torch.tanh(2.0 * wavs) + self.noise[: wavs.shape[1]]


class Counter:
    current = 1


def make_model(seed=0):
    torch.manual_seed(seed)
    return RawCNN(channels=[4, 6, 8], kernel_size=33, stride=4, pool=2, dropout=0.0)


def make_batch(seed, n=6, length=800):
    gen = torch.Generator().manual_seed(seed)
    wavs = torch.randn(n, length, generator=gen)
    return PaddedBatch(
        [{"id": f"u{seed}_{i}", "sig": wavs[i], "label_id": i % 2} for i in range(n)]
    )


def make_brain(
    cls, model, tmp_path, aligner="none", mode="split", gaf=1, augment=True, **extra
):
    hparams = {
        "class_weights": [0.1, 0.9],
        "augment": FixedNoise(800) if augment else None,
        "aligner": aligner,
        "aligner_kwargs": {},
        "dpda_mode": mode,
        "epoch_counter": Counter(),
        "output_folder": str(tmp_path),
        **extra,  # e.g. augment_paths
    }
    brain = cls(
        modules={"model": model},
        opt_class=lambda params: torch.optim.SGD(params, lr=1.0),
        hparams=hparams,
        run_opts={
            "device": "cpu",
            "grad_accumulation_factor": gaf,
            "max_grad_norm": 1e9,
        },
    )
    brain.init_optimizers()
    return brain


def path_grads(model, wavs, labels, augment=None, weights=WEIGHTS):
    """Gradient of one path's loss, computed directly."""
    model.zero_grad(set_to_none=True)
    x = wavs if augment is None else augment(wavs)
    weighted_cross_entropy(model(x), labels, weights).backward()
    return [p.grad.detach().clone().reshape(-1) for p in model.parameters()]


def param_delta(model, before):
    return flat([p.detach() for p in model.parameters()]) - before


def run_steps(brain, batches):
    for batch in batches:
        brain.step += 1
        brain.fit_batch(batch)


# ------------------------------------------------------------- SSL sources
def save_tiny_xlsr(folder, **config):
    """Write a tiny XLS-R-like wav2vec 2.0 folder (stable layer norm, layer
    norm in every feature-encoder convolution, convolution biases, three
    convolutions) whose preprocessor says ``do_normalize: true``, as the
    hub's XLS-R."""
    from dpda.models.ssl_families import TINY_SIZES, save_random_ssl

    shape = dict(
        TINY_SIZES, conv_dim=(16, 16, 16), conv_kernel=(10, 3, 3), conv_stride=(5, 2, 2)
    )
    return save_random_ssl(
        folder,
        "xlsr_300m",
        do_normalize=True,
        **{**shape, "num_conv_pos_embeddings": 8, **config},
    )


def make_tiny_wav2vec2(folder):
    """A tiny XLS-R-shaped SSL source folder (random weights, offline)."""
    from dpda.models.ssl_families import TINY_SIZES, save_random_ssl

    save_random_ssl(folder, "xlsr_300m", do_normalize=True, **TINY_SIZES)


# Our HF name -> the fairseq name, written in the reverse direction of the
# module under test.
HF_TO_FAIRSEQ = [
    (r"^feature_extractor\.conv_layers\.(\d+)\.conv\.", r"feature_extractor.conv_layers.\1.0."),
    (r"^feature_extractor\.conv_layers\.(\d+)\.layer_norm\.", r"feature_extractor.conv_layers.\1.2.1."),
    (r"^feature_projection\.layer_norm\.", "layer_norm."),
    (r"^feature_projection\.projection\.", "post_extract_proj."),
    (r"^masked_spec_embed$", "mask_emb"),
    (r"^encoder\.pos_conv_embed\.conv\.parametrizations\.weight\.original0$", "encoder.pos_conv.0.weight_g"),
    (r"^encoder\.pos_conv_embed\.conv\.parametrizations\.weight\.original1$", "encoder.pos_conv.0.weight_v"),
    (r"^encoder\.pos_conv_embed\.conv\.", "encoder.pos_conv.0."),
    (r"^encoder\.layers\.(\d+)\.attention\.", r"encoder.layers.\1.self_attn."),
    (r"^encoder\.layers\.(\d+)\.layer_norm\.", r"encoder.layers.\1.self_attn_layer_norm."),
    (r"^encoder\.layers\.(\d+)\.feed_forward\.intermediate_dense\.", r"encoder.layers.\1.fc1."),
    (r"^encoder\.layers\.(\d+)\.feed_forward\.output_dense\.", r"encoder.layers.\1.fc2."),
    (r"^(encoder\.layers\.\d+\.final_layer_norm\.|encoder\.layer_norm\.)", r"\1"),
]  # fmt: skip

PRETRAINING = {
    "ssl_model.model.quantizer.vars": (1, 8, 4),
    "ssl_model.model.quantizer.weight_proj.weight": (8, 16),
    "ssl_model.model.project_q.weight": (4, 4),
    "ssl_model.model.final_proj.bias": (4,),
}


def authors_state_dict(model, ssl_prefix):
    """Random tensors under the authors' names for every key of ``model``.

    Returns the state dict and the expected target key of each source key.
    """
    g = torch.Generator().manual_seed(0)
    state, target_of = {}, {}
    for key, value in model.state_dict().items():
        if key.startswith(ssl_prefix):
            hf = key[len(ssl_prefix) :]
            for pattern, repl in HF_TO_FAIRSEQ:
                new, n = re.subn(pattern, repl, hf)
                if n:
                    break
            assert n, hf
            source = "ssl_model.model." + new
        else:
            source = key[len("backend.") :]
        if value.is_floating_point():
            state[source] = torch.randn(value.shape, generator=g)
        else:
            state[source] = torch.randint(0, 100, value.shape, generator=g)
        target_of[source] = key
    for key, shape in PRETRAINING.items():
        state[key] = torch.randn(shape, generator=g)
    return state, target_of


# -------------------------------------------------------------------- audio
def write_wav(path, n, sample_rate=16000, channels=1, seed=0):
    rng = np.random.default_rng(seed)
    t = np.arange(n) / sample_rate
    x = 0.3 * np.sin(2 * np.pi * rng.uniform(100, 900) * t)[:, None]
    x = x + 0.05 * rng.standard_normal((n, channels))
    sf.write(path, x.squeeze(), sample_rate, subtype="PCM_16")
    return str(path)


def write_m4a(path, samples, rate):
    """AAC in an MP4 container (``samples`` ``[T, C]``), with PyAV: soundfile
    cannot write it, and reads it through PyAV."""
    import av

    layout = "stereo" if samples.shape[1] == 2 else "mono"
    with av.open(str(path), "w") as container:
        stream = container.add_stream("aac", rate=rate)
        stream.layout = layout
        frame = av.AudioFrame.from_ndarray(
            np.ascontiguousarray(samples.T, dtype=np.float32),
            format="fltp",
            layout=layout,
        )
        frame.sample_rate = rate
        for packet in stream.encode(frame):
            container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    return str(path)


# -------------------------------------------------------- recipes end to end
def run_python(cwd, *args):
    """``python *args`` in ``cwd``; asserts success and returns its stdout."""
    result = subprocess.run(
        [sys.executable, *args], cwd=cwd, capture_output=True, text=True, timeout=600
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-5000:]
    return result.stdout


@pytest.fixture(scope="session")
def trained(tmp_path_factory):
    """A mini DPDA model trained for one epoch by recipes/ASVspoof/train.py,
    once per session: ``(corpus folder, run folder)``."""
    root = tmp_path_factory.mktemp("evaluate")
    corpus = str(root / "mini")
    sizes = {"train": (8, 16), "dev": (4, 8), "eval": (6, 10), "itw": (5, 5)}
    generate_mini_corpus(corpus, seed=5, sizes=sizes)
    out = str(root / "run")
    run_python(
        TRAIN,
        "train.py",
        "hparams/mini_dpda_rawboost.yaml",
        f"--mini_corpus_folder={corpus}",
        f"--output_folder={out}",
        "--number_of_epochs=1",
        "--batch_size=4",
        "--num_workers=0",
        "--max_samples=8000",
        "--eval_max_samples=8000",
    )
    return corpus, out


def evaluate(out_dir, detector, data_folder, *extra):
    """recipes/InTheWild/evaluate.py on ``data_folder``; returns its stdout."""
    return run_python(
        EVALUATE,
        "evaluate.py",
        "hparams/evaluate.yaml",
        f"--detector={detector}",
        f"--data_folder={data_folder}",
        f"--output_folder={out_dir}",
        "--num_workers=0",
        "--batch_size=3",
        "--progress=False",
        *extra,
    )


def populate_hub_cache(cache, repo_id, files, commit):
    """Lay files out as huggingface_hub's cache does (blobs, snapshots, refs).

    ``files`` maps each file's name in the repository to its local source.
    """
    from dpda.published import sha256_of

    repo = cache / f"models--{repo_id.replace('/', '--')}"
    for filename, source in files.items():
        blob = repo / "blobs" / sha256_of(source)
        blob.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(source, blob)
        snapshot = repo / "snapshots" / commit / filename
        snapshot.parent.mkdir(parents=True, exist_ok=True)
        os.symlink(os.path.relpath(blob, snapshot.parent), snapshot)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(commit)
