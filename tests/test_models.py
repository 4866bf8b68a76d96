"""SSL back ends (AASIST, Conformer-TCM), weighted-layer front end, and the
mapping of the authors' checkpoints.

The layers are checked against direct numpy loops written here from the
papers' equations; the parameter counts against sums written from the
reference models' layer shapes; the checkpoint mapping against a synthetic
"authors'" state dict named by hand with fairseq's names.
"""

import math
import os

import numpy as np
import pytest
import torch
from conftest import PRETRAINING, authors_state_dict, save_tiny_xlsr

from dpda.models.aasist import (
    AASIST,
    GraphAttentionLayer,
    GraphPool,
    HtrgGraphAttentionLayer,
    Residual_block,
)
from dpda.models.checkpoint_mapping import (
    fairseq_to_hf_key,
    load_authors_checkpoint,
    map_authors_state_dict,
)
from dpda.models.conformer_tcm import (
    ConformerConvModule,
    ConformerTCM,
    TCMAttention,
    sinusoidal_embedding,
)
from dpda.models.ssl import (
    SSLClassifier,
    WeightedSSL,
    count_parameters,
)

TINY_AASIST = dict(
    input_size=32,
    proj_size=12,
    filts=((1, 4), (4, 8), (8, 8)),
    gat_dims=(8, 6),
    attention_size=8,
)
TINY_TCM = dict(
    input_size=32, emb_size=8, heads=2, kernel_size=5, n_encoders=2, max_positions=64
)


# ---------------------------------------------------------------- helpers
def np_(t):
    return t.detach().double().numpy()


def selu(x):
    alpha, scale = 1.6732632423543772, 1.0507009873554805
    return scale * np.where(x > 0, x, alpha * (np.exp(np.minimum(x, 0)) - 1))


def softmax(x):
    e = np.exp(x - x.max())
    return e / e.sum()


def linear(layer, x):
    return x @ np_(layer.weight).T + np_(layer.bias)


def bn_eval(bn, x):
    return (x - np_(bn.running_mean)) / np.sqrt(np_(bn.running_var) + bn.eps) * np_(
        bn.weight
    ) + np_(bn.bias)


def randomise_bn(module, seed=0):
    """Non-trivial running statistics so that eval-mode batch norm matters."""
    g = torch.Generator().manual_seed(seed)
    for m in module.modules():
        if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
            m.running_mean.copy_(torch.randn(m.running_mean.shape, generator=g))
            m.running_var.copy_(torch.rand(m.running_var.shape, generator=g) + 0.5)
            m.weight.data.copy_(torch.randn(m.weight.shape, generator=g))
            m.bias.data.copy_(torch.randn(m.bias.shape, generator=g))


@pytest.fixture(scope="module")
def tiny_wav2vec2(tmp_path_factory):
    return save_tiny_xlsr(str(tmp_path_factory.mktemp("tiny_w2v")))


@pytest.fixture(scope="module")
def hub_like_wav2vec2(tmp_path_factory):
    """With the regularisation of the hub's facebook/wav2vec2-xls-r-300m
    config.json: dropouts 0.1, layerdrop 0.1, time masking 0.075."""
    return save_tiny_xlsr(
        str(tmp_path_factory.mktemp("hub_like_w2v")),
        num_hidden_layers=3,
        activation_dropout=0.0,
        attention_dropout=0.1,
        hidden_dropout=0.1,
        feat_proj_dropout=0.1,
        layerdrop=0.1,
        mask_time_prob=0.075,
        mask_time_length=2,
        apply_spec_augment=True,
    )


PAPER_CONFIGS = [
    "dpda_rawboost.yaml",
    "dpda_rawboost_tcm.yaml",
    "dpda_rawboost_mamba.yaml",
    "baseline_rawboost.yaml",
]


def load_paper_hparams(name, ssl_folder, tmp_path, **overrides):
    from hyperpyyaml import load_hyperpyyaml

    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    base = {
        "data_folder": "unused",
        "output_folder": str(tmp_path / "build"),
        "ssl_hub": ssl_folder,
        "ssl_dim": 32,
    }
    with open(os.path.join(root, "hparams", name)) as f:
        return load_hyperpyyaml(f, {**base, **overrides})


@pytest.mark.parametrize("name", PAPER_CONFIGS)
def test_paper_configs_run_xlsr_as_the_authors(hub_like_wav2vec2, tmp_path, name):
    """The paper configurations pin the authors' XLS-R input and
    regularisation (fairseq xlsr2_300m.pt: raw waveform, mask=False, every
    dropout and LayerDrop 0.0) over the SSL folder's own files."""
    hparams = load_paper_hparams(name, hub_like_wav2vec2, tmp_path)
    wav2vec2 = hparams["ssl_model"]
    config = wav2vec2.model.config
    assert wav2vec2.normalize_wav is False
    assert config.apply_spec_augment is False
    for key in (
        "hidden_dropout",
        "attention_dropout",
        "activation_dropout",
        "feat_proj_dropout",
        "layerdrop",
        "mask_time_prob",
        "mask_feature_prob",
    ):
        assert getattr(config, key) == 0.0, key
    # The modules were built with the pinned rates.
    rates = [m.p for m in wav2vec2.model.modules() if isinstance(m, torch.nn.Dropout)]
    rates += [
        m.dropout
        for m in wav2vec2.model.modules()
        if isinstance(getattr(m, "dropout", None), float)
    ]
    assert rates and all(r == 0.0 for r in rates)
    # The authors' training setup (main.py and data_utils.py of dpda_ga).
    assert hparams["lr"] == 1e-6 and hparams["weight_decay"] == 1e-4
    assert hparams["batch_size"] == 5 and hparams["class_weights"] == [0.1, 0.9]
    assert hparams["max_samples"] == hparams["eval_max_samples"] == 66800
    assert hparams["early_stop_patience"] == 7 and hparams["number_of_epochs"] == 100
    assert hparams["avg_checkpoints"] == 5 and hparams["rawboost_algo"] == 4
    assert hparams["max_grad_norm"] == math.inf  # no clipping
    assert hparams["freeze_ssl"] is False and hparams["ssl_layer"] == "last"
    if "dpda" in name:
        assert hparams["dpda_mode"] == "joint"  # one 2B forward, as the authors
    # In train mode the front end is deterministic and sees the raw waveform:
    # it equals the Hugging Face model called directly on the samples.
    # Speech-like level (the normalisation would rescale it about 20-fold).
    wavs = 0.05 * torch.randn(2, 4000, generator=torch.Generator().manual_seed(3))
    wav2vec2.train()
    first, second = wav2vec2(wavs), wav2vec2(wavs)
    assert torch.equal(first, second)
    with torch.no_grad():
        direct = wav2vec2.model(wavs).last_hidden_state
    torch.testing.assert_close(first.detach(), direct, atol=1e-6, rtol=0)
    # ... and not the normalised waveform the folder's preprocessor asks for.
    normalised = torch.nn.functional.layer_norm(wavs, wavs.shape[1:])
    with torch.no_grad():
        other = wav2vec2.model(normalised).last_hidden_state
    assert (other - direct).abs().max() > 1e-3


def test_unknown_pinned_ssl_field_is_an_error(hub_like_wav2vec2, tmp_path):
    from dpda.models.ssl import HFWav2Vec2

    with pytest.raises(ValueError, match="no field 'hiden_dropout'"):
        HFWav2Vec2(hub_like_wav2vec2, str(tmp_path), config={"hiden_dropout": 0.0})


def load_wav2vec2(folder, tmp_path, all_hiddens):
    from speechbrain.integrations.huggingface.wav2vec2 import Wav2Vec2

    ssl = Wav2Vec2(
        source=folder,
        save_path=str(tmp_path / "save"),
        output_norm=False,
        freeze=False,
        output_all_hiddens=all_hiddens,
    )
    return ssl.eval()


# ------------------------------------------------------ weighted SSL front end
def test_weighted_ssl_mixes_all_layers_with_learnable_softmax_weights(
    tiny_wav2vec2, tmp_path
):
    ssl = load_wav2vec2(tiny_wav2vec2, tmp_path, all_hiddens=True)
    front = WeightedSSL(ssl).eval()  # 2 layers + CNN projection = 3 states
    assert front.weights.shape == (3,)
    np.testing.assert_allclose(np_(front.layer_weights()), [1 / 3] * 3, rtol=1e-6)

    wavs, lengths = torch.randn(2, 1600), torch.tensor([1.0, 0.75])
    with torch.no_grad():
        front.weights.copy_(torch.tensor([0.3, -1.0, 0.5]))
        hiddens = np_(ssl(wavs, lengths))
    p = softmax(np.array([0.3, -1.0, 0.5]))
    assert abs(np_(front.layer_weights()).sum() - 1) < 1e-6

    out = front(wavs, lengths)
    assert out.shape == hiddens.shape[1:] and out.shape[:1] == (2,)
    np.testing.assert_allclose(np_(out), np.tensordot(p, hiddens, 1), atol=1e-5)

    # d(sum(out * r))/dw_l = p_l (s_l - sum_k p_k s_k), s_l = sum(h_l * r).
    # In float64: each s_l sums ~5,000 products and the layers are alike
    # (s_l - s_k can be ~1% of s_l), so float32's summation error, whose order is
    # the CPU's BLAS kernel's, would be amplified ~100-fold. In float64 the
    # autograd and numpy sums are each within n * 2**-53 * sum|h_l r| of the
    # exact s_l in any order, so the gradients within 4 * max(p) times that.
    front.double()
    wavs = wavs.double()
    with torch.no_grad():
        hiddens = np_(ssl(wavs, lengths))
    out = front(wavs, lengths)
    r = torch.randn(out.shape, dtype=torch.float64)
    (out * r).sum().backward()
    terms = (hiddens * np_(r)[None]).reshape(3, -1)
    s = terms.sum(1)
    p = softmax(np_(front.weights))  # at the stored (float32) values
    expected = p * (s - (p * s).sum())
    bound = 4 * p.max() * terms.shape[1] * 2.0**-53 * np.abs(terms).sum(1).max()
    np.testing.assert_allclose(np_(front.weights.grad), expected, rtol=0, atol=bound)
    assert np.abs(expected).min() > 100 * bound


def test_weighted_ssl_last_and_single_layers(tiny_wav2vec2, tmp_path):
    stacked = load_wav2vec2(tiny_wav2vec2, tmp_path, all_hiddens=True)
    plain = load_wav2vec2(tiny_wav2vec2, tmp_path, all_hiddens=False)
    wavs = torch.randn(2, 1200)
    with torch.no_grad():
        reference = plain(wavs)
        all_hiddens = stacked(wavs)
        # "last" is the plain output (after the final layer norm), however
        # the wrapped Wav2Vec2 was built, and adds no parameter.
        for ssl in (stacked, plain):
            last = WeightedSSL(ssl, layer="last")
            torch.testing.assert_close(last(wavs), reference)
            assert count_parameters(last) == count_parameters(plain)
            torch.testing.assert_close(WeightedSSL(ssl, layer=1)(wavs), all_hiddens[1])
            mixed = WeightedSSL(ssl)(wavs)
            torch.testing.assert_close(mixed, all_hiddens.mean(0))
        # The wrapped module's own setting is left as it was.
        assert stacked.output_all_hiddens and not plain.output_all_hiddens
        torch.testing.assert_close(plain(wavs), reference)

        normed = WeightedSSL(plain, layer=1, layer_norm=True)(wavs)
        h = np_(all_hiddens[1])
        h = (h - h.mean(-1, keepdims=True)) / np.sqrt(h.var(-1, keepdims=True) + 1e-5)
        np.testing.assert_allclose(np_(normed), h, atol=1e-4)

    class OneLayer(torch.nn.Module):
        def forward(self, wavs, lengths=None):
            return wavs.reshape(wavs.shape[0], -1, 4)

    assert WeightedSSL(OneLayer(), layer="last")(wavs).shape == (2, 300, 4)
    with pytest.raises(ValueError, match="output_all_hiddens"):
        WeightedSSL(OneLayer(), num_layers=3)(wavs)
    with pytest.raises(ValueError):
        WeightedSSL(plain, layer="first")


# ---------------------------------------------------------------- AASIST
def test_graph_attention_layer_matches_direct_loops():
    torch.manual_seed(1)
    layer = GraphAttentionLayer(5, 4, temperature=2.0)
    randomise_bn(layer)
    layer.eval()
    x = torch.randn(2, 6, 5)
    out = np_(layer(x))

    X = np_(x)
    w = np_(layer.att_weight)[:, 0]
    for b in range(2):
        for i in range(6):
            scores = np.array(
                [
                    np.tanh(linear(layer.att_proj, X[b, i] * X[b, j])) @ w
                    for j in range(6)
                ]
            )
            att = softmax(scores / 2.0)
            agg = (att[:, None] * X[b]).sum(0)
            y = linear(layer.proj_with_att, agg) + linear(
                layer.proj_without_att, X[b, i]
            )
            np.testing.assert_allclose(out[b, i], selu(bn_eval(layer.bn, y)), atol=1e-5)

    # Equivariant to a permutation of the nodes.
    perm = torch.randperm(6)
    torch.testing.assert_close(layer(x[:, perm]), layer(x)[:, perm])


def test_heterogeneous_graph_attention_matches_direct_loops():
    torch.manual_seed(2)
    layer = HtrgGraphAttentionLayer(4, 3, temperature=1.5)
    randomise_bn(layer)
    layer.eval()
    x1, x2 = torch.randn(2, 3, 4), torch.randn(2, 2, 4)
    master_in = torch.randn(1, 1, 4)
    for master_arg in (None, master_in):
        o1, o2, om = (np_(t) for t in layer(x1, x2, master=master_arg))
        for b in range(2):
            X = np.concatenate(
                [
                    linear(layer.proj_type1, np_(x1[b])),
                    linear(layer.proj_type2, np_(x2[b])),
                ]
            )
            m = X.mean(0) if master_arg is None else np_(master_in)[0, 0]
            # Master node.
            wM = np_(layer.att_weightM)[:, 0]
            s = np.array(
                [np.tanh(linear(layer.att_projM, X[j] * m)) @ wM for j in range(5)]
            )
            att = softmax(s / 1.5)
            m_new = linear(layer.proj_with_attM, (att[:, None] * X).sum(0)) + linear(
                layer.proj_without_attM, m
            )
            np.testing.assert_allclose(om[b, 0], m_new, atol=1e-5)
            # Nodes: type 1 = first 3, type 2 = last 2; cross pairs use w12.
            ws = {
                (1, 1): np_(layer.att_weight11)[:, 0],
                (2, 2): np_(layer.att_weight22)[:, 0],
                (1, 2): np_(layer.att_weight12)[:, 0],
                (2, 1): np_(layer.att_weight12)[:, 0],
            }
            kind = [1, 1, 1, 2, 2]
            for i in range(5):
                s = np.array(
                    [
                        np.tanh(linear(layer.att_proj, X[i] * X[j]))
                        @ ws[kind[i], kind[j]]
                        for j in range(5)
                    ]
                )
                att = softmax(s / 1.5)
                y = linear(layer.proj_with_att, (att[:, None] * X).sum(0)) + linear(
                    layer.proj_without_att, X[i]
                )
                got = o1[b, i] if i < 3 else o2[b, i - 3]
                np.testing.assert_allclose(got, selu(bn_eval(layer.bn, y)), atol=1e-5)


def test_graph_pool_keeps_best_scored_nodes_scaled_by_score():
    torch.manual_seed(3)
    pool = GraphPool(0.5, 3, 0.3).eval()
    h = torch.randn(2, 7, 3)
    out = np_(pool(h))
    assert out.shape == (2, 3, 3)  # int(7 * 0.5)
    for b in range(2):
        H = np_(h[b])
        scores = 1 / (1 + np.exp(-linear(pool.proj, H)[:, 0]))
        best = np.argsort(-scores)[:3]
        np.testing.assert_allclose(out[b], H[best] * scores[best, None], atol=1e-6)
    assert GraphPool(0.1, 3, 0.0)(h).shape == (2, 1, 3)  # at least one node


def test_residual_block_released_variant_ignores_bn1():
    torch.manual_seed(4)
    block = Residual_block((2, 3)).eval()
    assert not block.bn1.weight.requires_grad
    x = torch.randn(2, 2, 5, 6)
    before = block(x)
    randomise_bn(block.bn1, seed=9)
    torch.testing.assert_close(block(x), before)

    pre = Residual_block((2, 3), preactivate=True)
    pre.load_state_dict(block.state_dict())
    pre.eval()
    assert pre.bn1.weight.requires_grad
    with torch.no_grad():
        expected = pre.conv2(
            pre.selu(pre.bn2(pre.conv1(pre.selu(pre.bn1(x)))))
        ) + pre.conv_downsample(x)
    torch.testing.assert_close(pre(x), expected)
    assert not torch.allclose(pre(x), before)


def aasist_reference_count(input_size=1024, proj=128, gat=(64, 32)):
    """Parameters of the released SSL-AASIST back end, from its layer shapes."""

    def lin(i, o):
        return i * o + o

    def conv(i, o, kh, kw):
        return i * o * kh * kw + o

    blocks = [(1, 32, True), (32, 32, False), (32, 64, False)] + [(64, 64, False)] * 3
    encoder = dead = 0
    for i, o, first in blocks:
        encoder += conv(i, o, 2, 3) + 2 * o + conv(o, o, 2, 3)
        encoder += 0 if first else 2 * i
        dead += 0 if first else 2 * i
        encoder += conv(i, o, 1, 3) if i != o else 0
    gat_layer = 3 * lin(64, gat[0]) + gat[0] + 2 * gat[0]

    def htrg(i, o):
        return 2 * lin(i, i) + 6 * lin(i, o) + 4 * o + 2 * o

    total = (
        lin(input_size, proj)  # LL
        + 2  # first_bn
        + 2 * 64  # first_bn1
        + encoder
        + conv(64, 128, 1, 1) + 2 * 128 + conv(128, 64, 1, 1)  # attention
        + (proj // 3) * 64  # pos_S
        + 2 * gat[0]  # master1, master2
        + 2 * gat_layer
        + 2 * htrg(gat[0], gat[1]) + 2 * htrg(gat[1], gat[1])
        + 2 * lin(gat[0], 1) + 4 * lin(gat[1], 1)  # graph pools
        + lin(5 * gat[1], 2)  # out_layer
    )  # fmt: skip
    return total, dead


def test_aasist_default_size_matches_released_model():
    backend = AASIST()
    total, dead = aasist_reference_count()
    assert (total, dead) == (447242, 512)
    assert count_parameters(backend, trainable_only=False) == total
    assert count_parameters(backend) == total - dead
    shapes = {k: tuple(v.shape) for k, v in backend.state_dict().items()}
    # A few released key names and shapes.
    assert shapes["LL.weight"] == (128, 1024)
    assert shapes["pos_S"] == (1, 42, 64)
    assert shapes["encoder.0.0.conv_downsample.weight"] == (32, 1, 1, 3)
    assert shapes["encoder.5.0.bn1.running_var"] == (64,)
    assert "encoder.0.0.bn1.weight" not in shapes
    assert shapes["attention.3.weight"] == (64, 128, 1, 1)
    assert shapes["HtrgGAT_layer_ST12.att_weightM"] == (32, 1)
    assert shapes["pool_hT2.proj.weight"] == (1, 32)
    assert shapes["out_layer.weight"] == (2, 160)

    backend.eval()
    with torch.no_grad():
        logits = backend(torch.randn(2, 50, 1024))
    assert logits.shape == (2, 2) and torch.isfinite(logits).all()


def test_tiny_aasist_trains_every_trainable_parameter():
    torch.manual_seed(5)
    backend = AASIST(**TINY_AASIST)
    feats = torch.randn(3, 40, 32)
    logits = backend(feats, torch.ones(3))
    assert logits.shape == (3, 2)
    logits.sum().backward()
    for name, p in backend.named_parameters():
        if p.requires_grad:
            assert p.grad is not None and p.grad.abs().sum() > 0, name
        else:
            assert name.endswith(("bn1.weight", "bn1.bias")), name
    # Eval mode is deterministic.
    backend.eval()
    torch.testing.assert_close(backend(feats), backend(feats))


# ---------------------------------------------------------- Conformer-TCM
def test_sinusoidal_embedding_matches_formula():
    pe = np_(sinusoidal_embedding(7, 6))[0]
    for p in range(7):
        for i in range(6):
            angle = p / 10000 ** (2 * (i // 2) / 6)
            ref = math.sin(angle) if i % 2 == 0 else math.cos(angle)
            assert abs(pe[p, i] - ref) < 1e-6


def test_tcm_attention_matches_direct_loops():
    torch.manual_seed(6)
    H, C, N = 2, 6, 5
    d = C // H
    attn = TCMAttention(C, heads=H).eval()
    with torch.no_grad():
        attn.pos_embed.normal_()
        attn.ht_norm.weight.normal_()
        attn.ht_norm.bias.normal_()
    x = torch.randn(2, N, C)
    out = np_(attn(x))

    erf = np.vectorize(math.erf)
    wqkv = np_(attn.qkv.weight)
    for b in range(2):
        X = np_(x[b])
        tokens = []
        for h in range(H):
            z = linear(attn.ht_proj, X[:, h * d : (h + 1) * d].mean(0))
            z = z.reshape(H, d)
            z = (z - z.mean(1, keepdims=True)) / np.sqrt(z.var(1, keepdims=True) + 1e-5)
            z = z * np_(attn.ht_norm.weight) + np_(attn.ht_norm.bias)
            z = 0.5 * z * (1 + erf(z / math.sqrt(2)))  # exact GELU
            tokens.append(z.reshape(C) + np_(attn.pos_embed)[0, h])
        Y = np.concatenate([X, np.stack(tokens)])
        q, k, v = (Y @ wqkv[i * C : (i + 1) * C].T for i in range(3))
        heads = []
        for h in range(H):
            sl = slice(h * d, (h + 1) * d)
            a = q[:, sl] @ k[:, sl].T / math.sqrt(d)
            a = np.exp(a - a.max(1, keepdims=True))
            heads.append((a / a.sum(1, keepdims=True)) @ v[:, sl])
        P = linear(attn.proj, np.concatenate(heads, axis=1))
        expected = P[:N].copy()
        expected[0] += P[N:].mean(0) + P[1:N].mean(0)
        np.testing.assert_allclose(out[b], expected, atol=1e-5)


@pytest.mark.parametrize("kernel_size", [5, 4])
def test_conv_module_keeps_length_and_is_local(kernel_size):
    torch.manual_seed(7)
    conv = ConformerConvModule(4, kernel_size=kernel_size).eval()
    x = torch.randn(1, 12, 4)
    y = conv(x)
    assert y.shape == x.shape
    # Changing frame 6 moves outputs 6 - right .. 6 + left only, with the
    # "same" padding left = k // 2, right = k - 1 - left.
    x2 = x.clone()
    x2[0, 6] += torch.randn(4)  # not a constant: the layer norm would cancel it
    changed = ((conv(x2) - y).abs().sum(-1)[0] > 1e-7).nonzero()[:, 0].tolist()
    left = kernel_size // 2
    right = kernel_size - 1 - left
    assert changed == list(range(6 - right, 6 + left + 1))


def tcm_reference_count(input_size=1024, dim=144, heads=4, k=31, n_blocks=4):
    """Trainable parameters of the released Conformer-TCM back end."""

    def lin(i, o, bias=True):
        return i * o + (o if bias else 0)

    ln = 2 * dim
    ff = ln + lin(dim, 4 * dim) + lin(4 * dim, dim)
    d = dim // heads
    attention = ln + lin(dim, 3 * dim, bias=False) + lin(dim, dim)
    attention += lin(d, dim) + 2 * d + heads * dim  # ht_proj, ht_norm, pos_embed
    inner = 2 * dim
    conv = ln + lin(dim, 2 * inner) + inner * k + inner + 2 * inner + lin(inner, dim)
    block = 2 * ff + attention + conv + ln
    return lin(input_size, dim) + 2 + dim + lin(dim, 2) + n_blocks * block


def test_conformer_tcm_default_size_matches_released_model():
    backend = ConformerTCM()
    assert tcm_reference_count() == 2382628
    assert count_parameters(backend) == 2382628
    # The sinusoid table is saved under the released key but not trained.
    assert count_parameters(backend, trainable_only=False) == 2382628
    shapes = {k: tuple(v.shape) for k, v in backend.state_dict().items()}
    assert shapes["conformer.positional_emb"] == (1, 10000, 144)
    assert shapes["conformer.encoder_blocks.3.attn.fn.qkv.weight"] == (432, 144)
    assert "conformer.encoder_blocks.0.attn.fn.qkv.bias" not in shapes
    assert shapes["conformer.encoder_blocks.0.attn.fn.ht_proj.weight"] == (144, 36)
    assert shapes["conformer.encoder_blocks.0.ff1.fn.fn.net.0.weight"] == (576, 144)
    assert shapes["conformer.encoder_blocks.0.conv.net.4.conv.weight"] == (288, 1, 31)
    assert shapes["conformer.class_token"] == (1, 144)
    assert shapes["conformer.fc5.weight"] == (2, 144)

    backend.eval()
    with torch.no_grad():
        logits = backend(torch.randn(2, 50, 1024))
    assert logits.shape == (2, 2) and torch.isfinite(logits).all()


def test_tiny_conformer_tcm_trains_and_extends_positions():
    torch.manual_seed(8)
    backend = ConformerTCM(**TINY_TCM)
    feats = torch.randn(3, 20, 32)
    logits = backend(feats, torch.ones(3))
    assert logits.shape == (3, 2)
    logits.sum().backward()
    for name, p in backend.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name

    # Inputs longer than the stored table extend it with the same formula.
    short = ConformerTCM(**{**TINY_TCM, "max_positions": 8}).eval()
    state = {k: v for k, v in backend.state_dict().items() if "positional" not in k}
    short.load_state_dict(state, strict=False)
    backend.eval()
    torch.testing.assert_close(short(feats), backend(feats))


# ------------------------------------------------------ checkpoint mapping
def build_classifier(folder, tmp_path, backend_kind):
    if backend_kind == "aasist":
        plain = load_wav2vec2(folder, tmp_path, all_hiddens=False)
        return SSLClassifier(plain, AASIST(**TINY_AASIST)), "ssl.model."
    stacked = load_wav2vec2(folder, tmp_path, all_hiddens=True)
    front = WeightedSSL(stacked, layer="last")
    return SSLClassifier(front, ConformerTCM(**TINY_TCM)), "ssl.ssl.model."


@pytest.mark.parametrize("backend_kind", ["aasist", "tcm"])
def test_authors_checkpoint_loads_every_tensor_in_place(
    tiny_wav2vec2, tmp_path, backend_kind
):
    model, prefix = build_classifier(tiny_wav2vec2, tmp_path, backend_kind)
    state, target_of = authors_state_dict(model, prefix)
    # The real fairseq names (commit a54021305) of an XLS-R-like model.
    fairseq_names = [
        "feature_extractor.conv_layers.0.0.weight",
        "feature_extractor.conv_layers.0.0.bias",
        "feature_extractor.conv_layers.0.2.1.weight",
        "feature_extractor.conv_layers.2.2.1.bias",
        "layer_norm.weight",
        "post_extract_proj.weight",
        "mask_emb",
        "encoder.pos_conv.0.weight_g",
        "encoder.pos_conv.0.weight_v",
        "encoder.pos_conv.0.bias",
        "encoder.layer_norm.bias",
        "encoder.layers.1.self_attn.k_proj.weight",
        "encoder.layers.1.self_attn.out_proj.bias",
        "encoder.layers.0.self_attn_layer_norm.weight",
        "encoder.layers.0.fc1.weight",
        "encoder.layers.1.fc2.bias",
        "encoder.layers.1.final_layer_norm.weight",
    ]
    for name in fairseq_names:
        assert "ssl_model.model." + name in state, name
    if backend_kind == "aasist":
        backend_names = ["LL.weight", "first_bn.num_batches_tracked", "pos_S"]
        backend_names += ["encoder.0.0.conv1.weight", "HtrgGAT_layer_ST11.att_weightM"]
    else:
        backend_names = ["LL.weight", "conformer.class_token", "conformer.fc5.bias"]
        backend_names += ["conformer.encoder_blocks.1.attn.fn.pos_embed"]
    for name in backend_names:
        assert name in state, name

    path = str(tmp_path / "authors.pth")
    torch.save(state, path)
    report = load_authors_checkpoint(path, model)
    assert report.ok
    assert sorted(report.dropped) == sorted(PRETRAINING)
    assert report.mapped == target_of
    loaded = model.state_dict()
    for source, target in target_of.items():
        assert torch.equal(loaded[target], state[source]), (source, target)
    assert len(target_of) == len(loaded)

    model.eval()
    with torch.no_grad():
        assert model(torch.randn(2, 3200)).shape == (2, 2)


def test_authors_checkpoint_errors_list_missing_unexpected_and_mismatched(
    tiny_wav2vec2, tmp_path
):
    model, prefix = build_classifier(tiny_wav2vec2, tmp_path, "aasist")
    state, _ = authors_state_dict(model, prefix)
    path = str(tmp_path / "bad.pth")

    bad = dict(state)
    del bad["ssl_model.model.encoder.layers.1.fc1.weight"]
    del bad["out_layer.bias"]
    torch.save(bad, path)
    with pytest.raises(RuntimeError, match="missing") as err:
        load_authors_checkpoint(path, model)
    assert "ssl.model.encoder.layers.1.feed_forward.intermediate_dense.weight" in str(
        err.value
    )
    assert "backend.out_layer.bias" in str(err.value)

    bad = dict(state)
    bad["ssl_model.model.encoder.layers.7.fc1.weight"] = torch.zeros(2)
    bad["ssl_model.model.encoder.mystery.weight"] = torch.zeros(2)
    bad["HtrgGAT_layer_ST33.bn.weight"] = torch.zeros(2)
    torch.save(bad, path)
    with pytest.raises(RuntimeError, match="unexpected") as err:
        load_authors_checkpoint(path, model)
    for key in (
        "ssl_model.model.encoder.layers.7.fc1.weight",
        "ssl_model.model.encoder.mystery.weight",
        "HtrgGAT_layer_ST33.bn.weight",
    ):
        assert key in str(err.value)

    bad = dict(state)
    bad["LL.weight"] = torch.zeros(3, 3)
    torch.save(bad, path)
    with pytest.raises(RuntimeError, match="backend.LL.weight"):
        load_authors_checkpoint(path, model)

    # Not strict: what matches is loaded, the rest reported.
    before = model.state_dict()["backend.LL.weight"].clone()
    report = load_authors_checkpoint(path, model, strict=False)
    assert report.shape_mismatches == [("backend.LL.weight", (3, 3), (12, 32))]
    assert torch.equal(model.state_dict()["backend.LL.weight"], before)
    assert torch.equal(model.state_dict()["backend.pos_S"], state["pos_S"])


def test_mapping_handles_dataparallel_prefix_and_group_norm_names(
    tiny_wav2vec2, tmp_path
):
    model, prefix = build_classifier(tiny_wav2vec2, tmp_path, "aasist")
    state, target_of = authors_state_dict(model, prefix)
    wrapped = {"module." + k: v for k, v in state.items()}
    new, report = map_authors_state_dict(wrapped, model)
    assert report.ok and set(new) == set(target_of.values())

    # Default-mode (group norm) feature encoders, and old-style weight norm.
    assert (
        fairseq_to_hf_key("feature_extractor.conv_layers.0.2.weight")
        == "feature_extractor.conv_layers.0.layer_norm.weight"
    )
    assert fairseq_to_hf_key("feature_extractor.conv_layers.3.2.weight") is None
    assert fairseq_to_hf_key("encoder.pos_conv.0.weight_v") == (
        "encoder.pos_conv_embed.conv.weight_v"
    )


def test_weighted_ssl_in_training_mode_with_layerdrop(tiny_wav2vec2, tmp_path):
    """LayerDrop would drop hidden states from the stack: it is switched off."""
    wav2vec2 = load_wav2vec2(tiny_wav2vec2, tmp_path, all_hiddens=False)
    wav2vec2.model.config.layerdrop = 0.9
    front = WeightedSSL(wav2vec2, layer="weighted").train()
    torch.manual_seed(0)
    for _ in range(5):  # with layerdrop 0.9 some layer would be skipped
        out = front(torch.randn(2, 4000), torch.ones(2))
        assert out.shape[0] == 2 and torch.isfinite(out).all()
    assert wav2vec2.model.config.layerdrop == 0.0


@pytest.mark.slow
def test_import_checkpoint_script_exports_a_detector_with_the_authors_weights(
    hub_like_wav2vec2, tmp_path
):
    """recipes/ASVspoof/import_checkpoint.py on a synthetic authors' checkpoint
    for hparams/dpda_rawboost.yaml, with an SSL folder whose preprocessor says
    do_normalize: true (as the hub's XLS-R): the exported detector scores as
    the authors' model does, i.e. the mapped weights on the raw waveform."""
    import subprocess
    import sys

    from dpda.data.pipelines import crop_or_tile
    from dpda.inference import DeepfakeDetector

    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    recipe = os.path.join(root, "recipes", "ASVspoof")
    model = load_paper_hparams("dpda_rawboost.yaml", hub_like_wav2vec2, tmp_path)[
        "model"
    ]
    state, target_of = authors_state_dict(model, "ssl.ssl.model.")
    own = model.state_dict()
    for key in state:  # the back end at its own initialisation: finite scores
        if key in target_of and not key.startswith("ssl_model."):
            state[key] = own[target_of[key]].clone()
    # fairseq's mask embedding: unused without masking (no HF counterpart
    # when masking is off), dropped and reported.
    state["ssl_model.model.mask_emb"] = torch.randn(32)
    checkpoint = str(tmp_path / "authors.pth")
    torch.save(state, checkpoint)
    out = str(tmp_path / "detector")
    command = [
        sys.executable,
        "import_checkpoint.py",
        checkpoint,
        out,
        "hparams/dpda_rawboost.yaml",
        f"--ssl_hub={hub_like_wav2vec2}",
        "--ssl_dim=32",
        "--eval_max_samples=6000",
        "--threshold=0.5",
        "--ssl_normalize_wav=True",  # overruled: the authors' input is raw
    ]
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    result = subprocess.run(
        command, cwd=recipe, capture_output=True, text=True, env=env
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "dropped" in result.stdout.lower()  # pretraining-only keys reported
    assert "ssl_normalize_wav=True ignored" in result.stdout
    detector = DeepfakeDetector.from_hparams(source=out, savedir=str(tmp_path / "sd"))
    assert detector.hparams.threshold == 0.5

    # The authors' model, computed directly: the mapped weights in the
    # Hugging Face model on the raw samples, the last layer, the back end.
    reference, _ = map_authors_state_dict(state, model)
    model.load_state_dict(reference)
    model.eval()
    wavs = 0.05 * torch.randn(2, 8000, generator=torch.Generator().manual_seed(1))
    window = detector.hparams.window_samples  # 6000: the first 6000 samples
    tiled = torch.stack([crop_or_tile(w, window) for w in wavs])
    hf_model, backend = model.ssl.ssl.model, model.backend
    with torch.no_grad():
        expected = backend(hf_model(tiled).last_hidden_state, torch.ones(2))[:, 1]
        normalised = torch.nn.functional.layer_norm(tiled, tiled.shape[1:])
        wrong = backend(hf_model(normalised).last_hidden_state, torch.ones(2))[:, 1]
    ours = detector.mods.model.state_dict()
    for key, value in model.state_dict().items():
        assert torch.equal(ours[key].cpu(), value), key
    scores = detector.score_batch(wavs)
    torch.testing.assert_close(scores, expected, atol=1e-5, rtol=0)
    assert (scores - wrong).abs().max() > 10 * 1e-5  # normalising would show
    # ... and clearly so in the front end's features (the randomly
    # initialised back end damps the difference in the scores).
    with torch.no_grad():
        feats = detector.mods.model.ssl(tiled, torch.ones(2))
        raw_feats = hf_model(tiled).last_hidden_state
        normalised_feats = hf_model(normalised).last_hidden_state
    torch.testing.assert_close(feats, raw_feats, atol=1e-5, rtol=0)
    assert (feats - normalised_feats).abs().max() > 1e-2

    # A wrong checkpoint path fails at once, before any model is built (an
    # unreachable hub id would otherwise be fetched first).
    missing = [*command]
    missing[2] = str(tmp_path / "no_such.pth")
    missing[5] = "--ssl_hub=facebook/wav2vec2-xls-r-300m"
    result = subprocess.run(
        missing, cwd=recipe, capture_output=True, text=True, env=env
    )
    assert result.returncode == 2
    assert f"checkpoint not found: {missing[2]}" in result.stderr
