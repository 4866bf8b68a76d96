"""XLSR-Mamba back end (dpda.models.mamba) against independent computations.

Oracles, none of them our code:

* mambapy (pure-PyTorch Mamba, MIT): its ``MambaBlock`` has the parameter
  names of mamba_ssm's ``Mamba`` and its own scans (sequential and a
  parallel Blelloch scan);
* a selective scan written here after mamba_ssm's ``selective_scan_ref``
  (layout ``[batch, channels, time]``, einsum discretisation);
* :class:`AuthorsModel`, written here from the authors' ``nets/mamba.py``
  (``Model`` without ``ssl_model``) and ``nets/mamba_blocks.py``
  (``MixerModel``, mamba_ssm 1.x ``Block`` with ``fused_add_norm`` and
  ``residual_in_fp32``), with mambapy mixers and norms: it also gives the
  authors' state-dict key names.

The authors' own modules cannot run here: mamba_ssm 1.x imports its CUDA
extension (``import selective_scan_cuda``) when the package is imported,
its fused add-norm is a Triton kernel that needs a GPU, and their
``MixerModel`` refuses ``fused_add_norm`` without it.

Tolerances: mambapy forms ``A = -exp(A_log.float())`` and ``D.float()`` in
float32 even for a float64 model, so a float64 comparison carries
float32's relative rounding (2**-24 = 6e-8) on every ``A`` and ``D``,
amplified by ``|delta A|`` (below 10 here) and a few layers: the outputs
and gradients agree to ~1e-7 relative (seen: 1.2e-8 for a mixer, 8e-8 for
the ``A_log`` gradients of the whole back end), so 2e-6 leaves a factor 25. A wrong convolution alignment, softplus or gate
gives errors of order 1e-1. The scan against the reference scan runs fully
in float64: 1e-12.
"""

import math

import pytest
import torch
import torch.nn.functional as F
from conftest import PRETRAINING, authors_state_dict, save_tiny_xlsr
from mambapy.mamba import MambaBlock as MambapyMamba
from mambapy.mamba import MambaConfig
from mambapy.mamba import RMSNorm as MambapyRMSNorm
from torch import nn

from dpda.models.backends import build_backend, front_end_layer
from dpda.models.checkpoint_mapping import load_authors_checkpoint
from dpda.models.mamba import DualColumnMamba, Mamba, XLSRMamba, selective_scan
from dpda.models.ssl import SSLClassifier, count_parameters

TOLERANCE = 2e-6
TINY = dict(input_size=32, emb_size=16, num_mamba_encoders=6, d_state=4)


def relative_error(ours, reference, floor=1e-6):
    """Largest deviation over the largest reference value. The floor serves
    gradients that are zero in exact arithmetic (the attention pools' biases:
    a softmax ignores a shift; both sides give ~1e-15 of rounding); every
    other value compared here is above 1e-2."""
    ours, reference = ours.detach(), reference.detach()
    scale = max(float(reference.abs().max()), floor)
    return float((ours - reference).abs().max()) / scale


def randomise(module, seed, scale=0.3):
    """Move every parameter off its initialisation, so each one matters;
    ``A_log`` and ``D`` stay exact in float32 (mambapy rounds them)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in module.named_parameters():
            p.add_(scale * torch.randn(p.shape, generator=g, dtype=p.dtype))
            if name.endswith(("A_log", "D")):
                p.copy_(p.float().to(p.dtype))


# ----------------------------------------------------------- oracles
def reference_selective_scan(u, delta, A, B, C, D, z, delta_bias):
    """mamba_ssm's selective_scan_ref (real A, variable B and C), rewritten."""
    delta = F.softplus(delta + delta_bias[..., None])
    deltaA = torch.exp(torch.einsum("bdl,dn->bdln", delta, A))
    deltaB_u = torch.einsum("bdl,bnl,bdl->bdln", delta, B, u)
    x = A.new_zeros((u.shape[0], A.shape[0], A.shape[1]))
    ys = []
    for i in range(u.shape[2]):
        x = deltaA[:, :, i] * x + deltaB_u[:, :, i]
        ys.append(torch.einsum("bdn,bn->bd", x, C[:, :, i]))
    out = torch.stack(ys, dim=2) + u * D[:, None]
    return out * F.silu(z)


def mambapy_mixer(d_model, d_state, pscan=False):
    config = MambaConfig(d_model=d_model, n_layers=1, d_state=d_state, pscan=pscan)
    return MambapyMamba(config)


class AuthorsBlock(nn.Module):
    """mamba_ssm 1.x ``Block`` (fused add-norm, prenorm=True, fp32 residual)."""

    def __init__(self, dim, d_state):
        super().__init__()
        self.mixer = mambapy_mixer(dim, d_state)
        self.norm = MambapyRMSNorm(dim, eps=1e-5)

    def forward(self, hidden_states, residual=None):
        if residual is not None:
            hidden_states = hidden_states + residual
        residual = hidden_states
        return self.mixer(self.norm(residual)), residual


class AuthorsMixerModel(nn.Module):
    """Their ``MixerModel`` (if_bidirectional=True, fused_add_norm=True)."""

    def __init__(self, d_model, n_layer, d_state):
        super().__init__()
        blocks = [AuthorsBlock(d_model, d_state) for _ in range(2 * n_layer)]
        self.forward_layers = nn.ModuleList(blocks[:n_layer])
        self.backward_layers = nn.ModuleList(blocks[n_layer:])
        self.norm_f = MambapyRMSNorm(d_model, eps=1e-5)
        self.f_attention_pool = nn.Linear(d_model, 1)
        self.b_attention_pool = nn.Linear(d_model, 1)
        self.LL = nn.Linear(d_model * 2, d_model)
        self.dropout = nn.Dropout(p=0.1)
        self.classifier = nn.Linear(d_model, 2)

    def forward(self, x):
        hidden_states = self.dropout(x)
        f_hidden_states = hidden_states
        b_hidden_states = hidden_states.flip([1])
        f_residual, b_residual = None, None
        for layer in self.forward_layers:
            f_hidden_states, f_residual = layer(f_hidden_states, f_residual)
        for layer in self.backward_layers:
            b_hidden_states, b_residual = layer(b_hidden_states, b_residual)
        # rms_norm_fn(hidden_states, ..., residual=f_residual, prenorm=False)
        f_hidden_states = self.norm_f(hidden_states + f_residual)
        b_hidden_states = self.norm_f(hidden_states + b_residual)
        f_hidden_states = torch.matmul(
            F.softmax(self.f_attention_pool(f_hidden_states), dim=1).transpose(-1, -2),
            f_hidden_states,
        ).squeeze(-2)
        b_hidden_states = torch.matmul(
            F.softmax(self.b_attention_pool(b_hidden_states), dim=1).transpose(-1, -2),
            b_hidden_states,
        ).squeeze(-2)
        hidden_states = torch.cat((f_hidden_states, b_hidden_states), dim=1)
        hidden_states = self.LL(hidden_states)
        hidden_states = self.dropout(hidden_states)
        return self.classifier(hidden_states)


class AuthorsModel(nn.Module):
    """Their ``Model`` of nets/mamba.py, from the SSL features on."""

    def __init__(self, input_size, emb_size, num_mamba_encoders, d_state):
        super().__init__()
        self.LL = nn.Linear(input_size, emb_size)
        self.first_bn = nn.BatchNorm2d(num_features=1)
        self.selu = nn.SELU(inplace=True)
        self.conformer = AuthorsMixerModel(emb_size, num_mamba_encoders // 2, d_state)

    def forward(self, x_ssl_feat):
        x = self.LL(x_ssl_feat)
        x = x.unsqueeze(dim=1)
        x = self.first_bn(x)
        x = self.selu(x)
        x = x.squeeze(dim=1)
        return self.conformer(x)


def mamba_reference_count(input_size=1024, dim=144, n_blocks=12, n=16, k=4, e=2):
    """Trainable parameters of the authors' --model mamba back end."""

    def lin(i, o, bias=True):
        return i * o + (o if bias else 0)

    inner, rank = e * dim, math.ceil(dim / 16)
    mixer = lin(dim, 2 * inner, bias=False) + inner * k + inner  # in_proj, conv1d
    mixer += lin(inner, rank + 2 * n, bias=False) + lin(rank, inner)  # x/dt_proj
    mixer += inner * n + inner + lin(inner, dim, bias=False)  # A_log, D, out_proj
    head = dim + 2 * lin(dim, 1) + lin(2 * dim, dim) + lin(dim, 2)
    return lin(input_size, dim) + 2 + n_blocks * (mixer + dim) + head


# ------------------------------------------------------- the mixer
def test_selective_scan_matches_the_reference_scan():
    g = torch.Generator().manual_seed(0)
    b, d, n, L = 2, 6, 4, 23

    def rand(*shape):
        return torch.randn(*shape, generator=g, dtype=torch.float64)

    A = -torch.exp(rand(d, n))
    args = (rand(b, d, L), rand(b, d, L), A, rand(b, n, L), rand(b, n, L), rand(d))
    z, bias = rand(b, d, L), rand(d)
    ours = selective_scan(*args, z=z, delta_bias=bias)
    reference = reference_selective_scan(*args, z, bias)
    assert ours.dtype == torch.float64
    assert relative_error(ours, reference) < 1e-12
    # float32 inputs are scanned in float32 and come back in float32.
    ours32 = selective_scan(*(a.float() for a in args), z=z.float(), delta_bias=bias)
    assert ours32.dtype == torch.float32
    assert relative_error(ours32.double(), reference) < 1e-5


@pytest.mark.parametrize("pscan", [False, True])
def test_mixer_matches_mambapy_forward_and_gradients(pscan):
    torch.manual_seed(1)
    ours = Mamba(12, d_state=4).double()
    randomise(ours, seed=2)
    reference = mambapy_mixer(12, 4, pscan=pscan).double()
    reference.load_state_dict(ours.state_dict(), strict=True)
    x = torch.randn(3, 37, 12, dtype=torch.float64, requires_grad=True)
    x_ref = x.detach().clone().requires_grad_(True)
    target = torch.randn(3, 37, 12, dtype=torch.float64)

    out, out_ref = ours(x), reference(x_ref)
    assert relative_error(out, out_ref) < TOLERANCE
    (out * target).sum().backward()
    (out_ref * target).sum().backward()
    assert relative_error(x.grad, x_ref.grad) < TOLERANCE
    reference_params = dict(reference.named_parameters())
    for name, p in ours.named_parameters():
        error = relative_error(p.grad, reference_params[name].grad)
        assert error < TOLERANCE, (name, error)


def test_mixer_is_causal():
    torch.manual_seed(3)
    mixer = Mamba(8, d_state=4).double()
    randomise(mixer, seed=4)
    x = torch.randn(2, 15, 8, dtype=torch.float64)
    later = x.clone()
    later[:, 9:] += 1.0
    out, out_later = mixer(x), mixer(later)
    assert torch.equal(out[:, :9], out_later[:, :9])
    assert (out[:, 9:] - out_later[:, 9:]).abs().min() > 0


# ----------------------------------------------- the dual-column model
def paired_models(seed=5, **sizes):
    """Our back end and the authors', on the same (randomised) weights."""
    sizes = {**TINY, **sizes}
    torch.manual_seed(seed)
    ours = XLSRMamba(**sizes).double()
    randomise(ours, seed=seed + 1)
    with torch.no_grad():
        ours.first_bn.running_mean.fill_(0.3)
        ours.first_bn.running_var.fill_(2.0)
    theirs = AuthorsModel(**sizes).double()
    theirs.load_state_dict(ours.state_dict(), strict=True)
    return ours, theirs


@pytest.mark.parametrize("mode", ["eval", "train"])
def test_back_end_matches_the_authors_model_and_gradients(mode):
    ours, theirs = paired_models()
    ours.train(mode == "train")
    theirs.train(mode == "train")
    feats = torch.randn(4, 21, 32, dtype=torch.float64, requires_grad=True)
    feats_ref = feats.detach().clone().requires_grad_(True)

    torch.manual_seed(7)  # the same dropout draws, in the same order
    logits = ours(feats)
    torch.manual_seed(7)
    logits_ref = theirs(feats_ref)
    assert logits.shape == (4, 2)
    assert relative_error(logits, logits_ref) < TOLERANCE

    weights = torch.tensor([[1.0, -2.0]], dtype=torch.float64)
    (logits * weights).sum().backward()
    (logits_ref * weights).sum().backward()
    assert relative_error(feats.grad, feats_ref.grad) < TOLERANCE
    theirs_params = dict(theirs.named_parameters())
    unused = []
    for name, p in ours.named_parameters():
        reference = theirs_params[name].grad
        if reference is None:  # outside the graph in their model too
            assert p.grad is None, name
            unused.append(name)
            continue
        error = relative_error(p.grad, reference)
        assert error < TOLERANCE, (name, error)
    # Only the last block's mixer of each column is unused (its norm too).
    assert {name.split(".")[2] for name in unused} == {"2"}
    assert {name.split(".")[1] for name in unused} == {
        "forward_layers",
        "backward_layers",
    }


def test_final_norm_takes_the_column_input_plus_its_residual():
    """With one block per column the mixers are unused: the forward column
    normalises 2x, the backward column x + flip(x), as in the authors' code."""
    torch.manual_seed(8)
    net = DualColumnMamba(d_model=6, n_layer=1, d_state=4).double().eval()
    randomise(net, seed=9)
    x = torch.randn(3, 7, 6, dtype=torch.float64)

    def pool(frames, score):
        weights = torch.softmax(score(frames), dim=1)
        return (weights * frames).sum(dim=1)

    f = pool(net.norm_f(2 * x), net.f_attention_pool)
    b = pool(net.norm_f(x + x.flip(1)), net.b_attention_pool)
    expected = net.classifier(net.LL(torch.cat([f, b], dim=1)))
    assert relative_error(net(x), expected) < 1e-12
    # The textbook final add-norm (last mixer output + residual) differs.
    hidden, residual = net.forward_layers[0](x)
    textbook = pool(net.norm_f(hidden + residual), net.f_attention_pool)
    assert (textbook - f).abs().max() > 1e-3


# -------------------------------------------------- registry and size
def test_default_back_end_from_the_registry_has_the_authors_size():
    assert front_end_layer("mamba") == "last"
    backend = build_backend("mamba", 1024)
    assert isinstance(backend, XLSRMamba)
    # 1,936,950 = LL 147,600 + first_bn 2 + 12 x (mixer 145,440 + norm 144)
    #   + norm_f 144 + pools 2 x 145 + LL 41,616 + classifier 290.
    assert count_parameters(backend) == mamba_reference_count() == 1_936_950
    shapes = {k: tuple(v.shape) for k, v in backend.state_dict().items()}
    mixer = "conformer.backward_layers.5.mixer."
    assert shapes[mixer + "in_proj.weight"] == (576, 144)
    assert shapes[mixer + "conv1d.weight"] == (288, 1, 4)
    assert shapes[mixer + "x_proj.weight"] == (41, 288)
    assert shapes[mixer + "dt_proj.weight"] == (288, 9)
    assert shapes[mixer + "A_log"] == (288, 16)
    assert shapes[mixer + "out_proj.weight"] == (144, 288)
    assert shapes["conformer.LL.weight"] == (144, 288)
    assert shapes["conformer.classifier.weight"] == (2, 144)
    assert not any("bias" in k for k in shapes if "in_proj" in k or "out_proj" in k)

    backend.eval()
    with torch.no_grad():
        logits = backend(torch.randn(2, 30, 1024), torch.ones(2))
    assert logits.shape == (2, 2) and torch.isfinite(logits).all()

    tiny = build_backend("mamba", 32, options={"mamba": {"emb_size": 8, "d_state": 4}})
    assert tiny(torch.randn(3, 9, 32)).shape == (3, 2)
    with pytest.raises(ValueError, match="must be even"):
        XLSRMamba(num_mamba_encoders=5)


# ---------------------------------------------------------- checkpoint
def test_authors_checkpoint_keys_load_through_the_mapping(tmp_path):
    from speechbrain.integrations.huggingface.wav2vec2 import Wav2Vec2

    folder = save_tiny_xlsr(str(tmp_path / "tiny_xlsr"))
    front = Wav2Vec2(
        source=folder, save_path=str(tmp_path / "sb"), output_norm=False, freeze=False
    )
    model = SSLClassifier(front, XLSRMamba(**TINY))
    fairseq, _ = authors_state_dict(model, "ssl.model.")
    state = {k: v for k, v in fairseq.items() if k.startswith("ssl_model.")}
    _, theirs = paired_models(seed=11)
    theirs = theirs.float()
    for key, value in theirs.state_dict().items():
        state[key] = value
    for key in (
        "conformer.forward_layers.0.mixer.A_log",
        "conformer.backward_layers.2.norm.weight",
        "conformer.norm_f.weight",
        "conformer.b_attention_pool.bias",
        "first_bn.num_batches_tracked",
    ):
        assert key in state, key

    # What import_checkpoint.py does: read the file, map every key, strictly.
    path = str(tmp_path / "authors_mamba.pth")
    torch.save(state, path)
    report = load_authors_checkpoint(path, model, strict=True)
    assert report.ok and sorted(report.dropped) == sorted(PRETRAINING)
    for key, value in theirs.state_dict().items():
        assert report.mapped[key] == "backend." + key
        assert torch.equal(model.state_dict()["backend." + key], value), key

    model.eval()
    theirs.eval()
    feats = torch.randn(2, 13, 32)
    with torch.no_grad():  # float32 now: ~1e-6 of rounding, a factor 10 under
        assert relative_error(model.backend(feats), theirs(feats)) < 1e-5
        assert model(torch.randn(2, 3200)).shape == (2, 2)
