"""SLS and Nes2Net-X back ends against the authors' code, and their checkpoints.

The reference outputs (``tests/reference/ssl_backends_reference.json``) were
made with the authors' own modules by
``tests/reference/ssl_backends_reference.py``, from seeded weights and
inputs that are regenerated here from the fixture's key names, shapes and
seeds; the weights go through :func:`map_authors_state_dict` under the
authors' key names, next to fairseq-named front-end keys.
"""

import importlib.util
import json
import os
import re

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from conftest import HF_TO_FAIRSEQ

from dpda.models.checkpoint_mapping import fairseq_to_hf_key, map_authors_state_dict
from dpda.models.nes2net import ASTP, Bottle2neck, Nes2NetX
from dpda.models.sls import SLS, _samples_for_frames, ssl_num_frames
from dpda.models.ssl import SSLClassifier, WeightedSSL, count_parameters
from dpda.models.ssl_families import TINY_SIZES, random_ssl_model, save_random_ssl

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# Largest deviation from the authors' outputs, relative to the largest
# output. float64 runs against float64 outputs rounded to 8 significant
# digits (at most 5e-8; seen: 4e-8); float32 runs add float32 rounding
# through the 22,847-input fc1 (SLS) and seven stacked blocks (Nes2Net-X):
# ~1e-6 of the largest output whatever the CPU's kernels (the float64
# fixture is the same on every CPU; seen: 8e-7 with two kernel sets), so
# 1e-5 leaves a factor 10.
TOLERANCE = {torch.float64: 2e-7, torch.float32: 1e-5}


def _reference_module():
    path = os.path.join(ROOT, "tests", "reference", "ssl_backends_reference.py")
    spec = importlib.util.spec_from_file_location("ssl_backends_reference", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


REFERENCE = _reference_module()
FIXTURE = json.load(open(REFERENCE.FIXTURE))


def fairseq_name(hf_key):
    """The fairseq wav2vec 2.0 name of a HuggingFace key."""
    for pattern, replacement in HF_TO_FAIRSEQ:
        hf_key = re.sub(pattern, replacement, hf_key)
    return hf_key.replace("pos_conv_embed.conv.", "pos_conv.0.")


def wav2vec2_front_end(folder, tmp_path):
    """SpeechBrain's wav2vec 2.0 on a local folder, fine-tuned, last layer."""
    from speechbrain.integrations.huggingface.wav2vec2 import Wav2Vec2

    return Wav2Vec2(
        source=folder,
        save_path=str(tmp_path),
        output_norm=False,
        freeze=False,
    )


@pytest.fixture(scope="module")
def tiny_folder(tmp_path_factory):
    """A tiny XLS-R-shaped wav2vec 2.0 (the seven XLS-R convolutions)."""
    folder = str(tmp_path_factory.mktemp("tiny_xlsr"))
    return save_random_ssl(folder, "xlsr_300m", do_normalize=True, **TINY_SIZES)


def authors_checkpoint(model, name):
    """An authors'-style state dict for ``model``: fairseq-named tensors for
    its front end and the fixture's back end (authors' key names, seeded
    values). Returns it with the expected target of each back-end key."""
    anchor = "feature_extractor.conv_layers.0.conv.weight"
    (ssl_prefix,) = [
        k[: -len(anchor)] for k in model.state_dict() if k.endswith(anchor)
    ]
    g = torch.Generator().manual_seed(0)
    state = {}
    for key, value in model.state_dict().items():
        if key.startswith(ssl_prefix):
            source = "ssl_model.model." + fairseq_name(key[len(ssl_prefix) :])
            assert fairseq_to_hf_key(source[len("ssl_model.model.") :]), source
            state[source] = torch.randn(value.shape, generator=g)
    entries = FIXTURE["models"][name]["state_dict"]
    backend = REFERENCE.regenerate_state_dict(entries, FIXTURE["weight_seed"])
    prefix = getattr(model.backend, "AUTHORS_PREFIX", "")
    target_of = {}
    for key, value in backend.items():
        state[key] = torch.from_numpy(np.asarray(value))
        target_of[key] = "backend." + key.removeprefix(prefix)
    return state, target_of


def load_authors(model, name):
    """Map and load the authors' checkpoint; check every key went in place."""
    state, target_of = authors_checkpoint(model, name)
    for key in (
        "ssl_model.model.feature_extractor.conv_layers.6.2.1.weight",
        "ssl_model.model.encoder.pos_conv.0.weight_g",
        "ssl_model.model.encoder.layers.1.self_attn.k_proj.weight",
        "ssl_model.model.encoder.layers.0.final_layer_norm.bias",
    ):
        assert key in state, key
    new, report = map_authors_state_dict(state, model)
    assert report.ok, report.describe()
    for key, target in target_of.items():
        assert report.mapped[key] == target
    model.load_state_dict(new, strict=True)
    loaded = model.state_dict()
    assert len(report.mapped) == len(loaded)
    for source, target in report.mapped.items():
        expected = state[source].to(loaded[target].dtype)
        assert torch.equal(loaded[target], expected), (source, target)
    return new


def assert_matches(out, expected, dtype):
    expected = torch.tensor(expected, dtype=torch.float64)
    scale = expected.abs().max()
    error = (out.double() - expected).abs().max() / scale
    assert error < TOLERANCE[dtype], (dtype, float(error))
    return float(error)


def run_both_modes(model, new, make_input, expected):
    """Outputs of ``model.backend`` in eval then train mode, in both dtypes."""
    for dtype in (torch.float64, torch.float32):
        model.backend.to(dtype)
        model.load_state_dict(new)  # full precision of the regenerated weights
        for mode in ("eval", "train"):
            model.backend.train(mode == "train")
            with torch.no_grad():
                out = model.backend(make_input(dtype))
            assert_matches(out, expected[mode], dtype)
    model.backend.float().eval()


# ------------------------------------------------------------------ SLS
@pytest.fixture(scope="module")
def sls_classifier(tiny_folder, tmp_path_factory):
    """The authors' size of SLS (fc1: 23M parameters), built once."""
    front = wav2vec2_front_end(tiny_folder, tmp_path_factory.mktemp("sb"))
    return SSLClassifier(WeightedSSL(front, layer="all"), SLS(1024, num_frames=201))


def test_sls_parameter_count_is_the_authors(sls_classifier):
    count = count_parameters(sls_classifier.backend)
    assert count == 23_399_429 == FIXTURE["models"]["sls"]["parameters"]
    assert sls_classifier.backend.fc1.in_features == 22_847 == 67 * 341


def test_sls_matches_the_authors_outputs(sls_classifier):
    new = load_authors(sls_classifier, "sls")
    layer_results = torch.from_numpy(REFERENCE.sls_layer_results())  # [L, T, B, D]
    layers = layer_results.permute(0, 2, 1, 3)  # [L, B, T, D]
    first = torch.randn(
        1, *layers.shape[1:], generator=torch.Generator().manual_seed(1)
    )
    hiddens = torch.cat([first.double(), layers])  # index 0: the ignored input

    run_both_modes(
        sls_classifier,
        new,
        lambda dtype: hiddens.to(dtype),
        FIXTURE["models"]["sls"]["log_probs"],
    )

    # The transformer's input (index 0) is not one of the authors' layers.
    sls = sls_classifier.backend.eval()
    other = hiddens.float()
    with torch.no_grad():
        reference = sls(other)
        other[0] = 1e3
        assert torch.equal(sls(other), reference)


def test_sls_rejects_other_lengths_and_layouts():
    sls = SLS(input_size=6, num_frames=9)
    with pytest.raises(ValueError, match=r"fixed input of 9 frames .*got 10 frames"):
        sls(torch.randn(3, 2, 10, 6))
    with pytest.raises(ValueError, match=r"\[L \+ 1, B, T, D\]"):
        sls(torch.randn(2, 9, 6))
    with pytest.raises(ValueError, match="6-dimensional"):
        sls(torch.randn(3, 2, 9, 5))
    with pytest.raises(ValueError, match="at least one transformer layer"):
        sls(torch.randn(1, 2, 9, 6))
    with pytest.raises(ValueError, match="64,400 to 64,719 samples"):
        SLS(input_size=6, num_frames=201)(torch.randn(2, 1, 200, 6))


def test_ssl_num_frames_matches_a_wav2vec2_forward():
    assert ssl_num_frames(64_600) == 201
    model = random_ssl_model("xlsr_300m", **TINY_SIZES).eval()
    with torch.no_grad():
        for n in (400, 401, 719, 720, 1_039, 3_200, 16_000, 64_400, 64_719, 64_720):
            frames = model(torch.randn(1, n)).last_hidden_state.shape[1]
            assert ssl_num_frames(n) == frames == (n - 400) // 320 + 1, n
    # Another convolution stack: the formula is not wired to wav2vec 2.0's.
    assert ssl_num_frames(100, conv_kernel=(4, 2), conv_stride=(3, 2)) == 16
    for frames in (1, 2, 49, 201):
        low, high = _samples_for_frames(frames)
        assert ssl_num_frames(low) == ssl_num_frames(high) == frames
        assert ssl_num_frames(low - 1) == frames - 1
        assert ssl_num_frames(high + 1) == frames + 1


# ------------------------------------------------------------ Nes2Net-X
@pytest.fixture(scope="module")
def nes2net_front(tiny_folder, tmp_path_factory):
    return wav2vec2_front_end(tiny_folder, tmp_path_factory.mktemp("sb"))


@pytest.mark.slow
@pytest.mark.parametrize(
    "name, pool", [("nes2net_x", "mean"), ("nes2net_x_astp", "ASTP")]
)
def test_nes2net_x_matches_the_authors_outputs(nes2net_front, name, pool):
    args = FIXTURE["models"][name]["args"]
    backend = Nes2NetX(
        input_size=1024,
        nes_ratio=args["Nes_ratio"],
        dilation=args["dilation"],
        pool=args["pool_func"],
        se_ratio=args["SE_ratio"],
        n_classes=args["n_output_logits"],
    )
    assert pool == args["pool_func"]
    assert count_parameters(backend) == FIXTURE["models"][name]["parameters"]
    model = SSLClassifier(nes2net_front, backend)
    new = load_authors(model, name)
    assert "backend.Build_in_Res2Nets.6.se.se.3.weight" in new
    feats = torch.from_numpy(REFERENCE.nes2net_features()).transpose(1, 2)  # [B, T, D]
    run_both_modes(
        model, new, lambda dtype: feats.to(dtype), FIXTURE["models"][name]["logits"]
    )


def test_nes2net_x_parameter_counts():
    assert count_parameters(Nes2NetX()) == 512_039
    assert count_parameters(Nes2NetX(pool="ASTP")) == 777_383
    assert count_parameters(Nes2NetX(se_ratio=[1])) == 512_039


def test_nes2net_x_shapes_and_gradients_reach_every_parameter():
    torch.manual_seed(0)
    model = Nes2NetX(input_size=32, nes_ratio=(4, 4), se_ratio=1).train()
    assert len(model.Build_in_Res2Nets) == 3 and model.C == 8
    logits = model(torch.randn(3, 11, 32))
    assert logits.shape == (3, 2)
    F.cross_entropy(logits, torch.tensor([0, 1, 1])).backward()
    for name, p in model.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name

    block = Bottle2neck(8, 8, kernel_size=3, dilation=2, scale=4, se_ratio=1)
    for i, w in enumerate(block.weighted_sum):
        assert torch.equal(w, torch.full((1, 1, 1, i + 2), 1.0 / (i + 2)))
    astp = Nes2NetX(input_size=32, nes_ratio=(4, 4), pool="ASTP", n_classes=3)
    assert isinstance(astp.pooling, ASTP) and astp.fc.in_features == 64
    assert astp.eval()(torch.randn(2, 7, 32)).shape == (2, 3)

    with pytest.raises(ValueError, match="not divisible"):
        Nes2NetX(input_size=30, nes_ratio=(4, 4))
    with pytest.raises(ValueError, match="pool"):
        Nes2NetX(pool="max")
    with pytest.raises(ValueError, match=r"\[B, T, D\]"):
        Nes2NetX(input_size=32, nes_ratio=(4, 4))(torch.randn(2, 32, 7, 1))


# --------------------------------------------------------- training step
@pytest.mark.parametrize("kind", ["sls", "nes2net_x"])
def test_one_training_step_through_a_wav2vec2_front_end(tiny_folder, tmp_path, kind):
    torch.manual_seed(0)
    n_samples = 3_200
    front = wav2vec2_front_end(tiny_folder, tmp_path)
    if kind == "sls":
        front = WeightedSSL(front, layer="all")
        backend = SLS(input_size=32, num_frames=ssl_num_frames(n_samples))
    else:
        backend = Nes2NetX(input_size=32, nes_ratio=(4, 4))
    model = SSLClassifier(front, backend).train()
    before = {k: v.detach().clone() for k, v in model.named_parameters()}
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)

    wavs, targets = torch.randn(2, n_samples), torch.tensor([0, 1])
    out = model(wavs, torch.ones(2))
    assert out.shape == (2, 2)
    loss = F.cross_entropy(out, targets)
    if kind == "sls":  # log-probabilities: the same loss as on logits
        torch.testing.assert_close(loss, F.nll_loss(out, targets))
    loss.backward()
    optimizer.step()
    assert torch.isfinite(loss)
    after = dict(model.named_parameters())
    for key in ("backend.fc.weight", "backend.fc3.weight", "backend.fc0.weight"):
        if key in before:
            assert not torch.equal(before[key], after[key]), key
    changed = [
        k
        for k in before
        if k.startswith("ssl.") and not torch.equal(before[k], after[k])
    ]
    assert changed  # the front end is fine-tuned too
