"""Tests of dpda.augment (batched RawBoost) against an independent numpy/scipy
computation of the reference behaviour (REFERENCE.md section 2)."""

import numpy as np
import pytest
import torch
from scipy import signal

from dpda.augment import (
    ISDParams,
    RawBoost,
    draw_isd_params,
    draw_lnl_params,
    draw_notch_params,
    fir_filter,
    firwin_bandstop,
    isd_additive_noise,
    notch_filter_coeffs,
)

FS = 16000
ALGOS = range(9)


# ---------------------------------------------------------------------------
# Independent per-utterance reference (numpy / scipy, float64)
# ---------------------------------------------------------------------------
def ref_notch_coeffs(fc, bw, n_coeffs, gain_db, fs=FS):
    """Cascade of scipy firwin band-stops normalised by max |freqz|."""
    b = np.ones(1)
    for f, w, c in zip(fc, bw, n_coeffs):
        f1, f2 = f - w / 2, f + w / 2
        if f1 <= 0:
            f1 = 1 / 1000
        if f2 >= fs / 2:
            f2 = fs / 2 - 1 / 1000
        b = np.convolve(signal.firwin(int(c), [f1, f2], window="hamming", fs=fs), b)
    _, h = signal.freqz(b, 1, fs=fs)
    return 10 ** (gain_db / 20) * b / np.abs(h).max()


def ref_filter(x, b):
    """Reference filtering: pad len(b)+1 zeros, lfilter, trim half the pad."""
    pad = b.shape[0] + 1
    y = signal.lfilter(b, 1, np.pad(x, (0, pad)))
    return y[int(pad / 2) : int(y.shape[0] - pad / 2)]


def ref_norm(y):
    peak = np.abs(y).max()
    return y / peak if peak > 1 else y


def _notch_row(p, *idx):
    """(fc, bw, n_coeffs, gain) of one filter set as numpy values."""
    return (
        p.fc[idx].double().numpy(),
        p.bw[idx].double().numpy(),
        p.n_coeffs[idx].numpy(),
        float(p.gain_db[idx]),
    )


def ref_lnl(x, p, row):
    y = np.zeros_like(x)
    for i in range(p.gain_db.shape[1]):
        y = y + ref_filter(x ** (i + 1), ref_notch_coeffs(*_notch_row(p, row, i)))
    return ref_norm(y - y.mean())


def ref_isd(x, p, row, g_sd):
    hit = p.hit[row].numpy()
    pos = p.positions[row].numpy()[hit]
    f_r = p.factors[row].double().numpy()[hit]
    y = x.copy()
    y[pos] = x[pos] + g_sd * x[pos] * f_r
    return ref_norm(y)


def ref_ssi(x, p, row):
    noise = p.noise[row, : x.shape[0]].double().numpy()
    noise = ref_filter(noise, ref_notch_coeffs(*_notch_row(p.notch, row)))
    noise = noise / np.abs(noise).max()
    snr = float(p.snr_db[row])
    noise = noise / np.linalg.norm(noise) * np.linalg.norm(x) / 10.0 ** (0.05 * snr)
    return x + noise


def ref_rawboost(algo, x, params, row, g_sd=2):
    steps = {
        "lnl": lambda s: ref_lnl(s, params["lnl"], row),
        "isd": lambda s: ref_isd(s, params["isd"], row, g_sd),
        "ssi": lambda s: ref_ssi(s, params["ssi"], row),
    }
    if algo == 8:
        return ref_norm(steps["lnl"](x) + steps["isd"](x))
    series = {0: [], 1: ["lnl"], 2: ["isd"], 3: ["ssi"], 4: ["lnl", "isd", "ssi"]}
    series.update({5: ["lnl", "isd"], 6: ["lnl", "ssi"], 7: ["isd", "ssi"]})
    for name in series[algo]:
        x = steps[name](x)
    return x


def _speech_like(batch, num_samples, amplitude=0.5, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(batch, num_samples, generator=g, dtype=torch.float64)
    x = torch.cumsum(x, -1)
    x = x - x.mean(-1, keepdim=True)
    return amplitude * x / x.abs().amax(-1, keepdim=True)


def _draws_differ(a, b):
    return not torch.equal(a, b)


# ---------------------------------------------------------------------------
# Filter design
# ---------------------------------------------------------------------------
def test_firwin_bandstop_matches_scipy():
    g = torch.Generator().manual_seed(1)
    n = torch.randint(3, 120, (40,), generator=g) | 1  # odd
    f_low = 1 + 5000 * torch.rand(40, generator=g, dtype=torch.float64)
    f_high = f_low + (7999 - f_low) * torch.rand(40, generator=g, dtype=torch.float64)
    taps = firwin_bandstop(n, f_low, f_high, FS)
    assert taps.shape == (40, int(n.max()))
    for i in range(40):
        edges = [float(f_low[i]), float(f_high[i])]
        ref = signal.firwin(int(n[i]), edges, window="hamming", fs=FS)
        c = int(n[i])
        np.testing.assert_allclose(taps[i, :c].numpy(), ref, rtol=0, atol=1e-6)
        assert (taps[i, c:] == 0).all()
        assert np.abs(taps[i, :c].numpy() - ref).max() < 1e-12


@pytest.mark.parametrize("seed", range(4))
def test_notch_filter_coeffs_match_convolve_and_freqz(seed):
    g = torch.Generator().manual_seed(seed)
    # Also edges outside (0, fs/2) (clipped), gains != 0, few/many bands and
    # cascades longer than freqz's 1024-point FFT (seed 3).
    n_bands = [1, 2, 5, 7][seed]
    max_coeff = [100, 100, 100, 250][seed]
    p = draw_notch_params(
        (6,),
        nBands=n_bands,
        minF=0,
        maxF=8000,
        minCoeff=10,
        maxCoeff=max_coeff,
        minG=-10,
        maxG=5,
        generator=g,
    )
    coeffs, n_coeffs = notch_filter_coeffs(p, FS)
    for i in range(6):
        ref = ref_notch_coeffs(*_notch_row(p, i), fs=FS)
        assert int(n_coeffs[i]) == ref.shape[0]
        np.testing.assert_allclose(coeffs[i, : ref.shape[0]].numpy(), ref, atol=1e-12)
        assert (coeffs[i, ref.shape[0] :] == 0).all()
        # the response is normalised: max over freqz's grid = 10^(G/20)
        _, h = signal.freqz(coeffs[i, : ref.shape[0]].numpy(), 1, fs=FS)
        np.testing.assert_allclose(np.abs(h).max(), 10 ** (float(p.gain_db[i]) / 20))


def test_notch_params_ranges():
    p = draw_notch_params((500,), minCoeff=10, maxCoeff=100, minG=-3, maxG=-1)
    assert bool((p.n_coeffs % 2 == 1).all())
    assert p.n_coeffs.min() >= 11 and p.n_coeffs.max() <= 99
    assert p.fc.min() >= 20 and p.fc.max() <= 8000
    assert p.bw.min() >= 100 and p.bw.max() <= 1000
    assert p.gain_db.min() >= -3 and p.gain_db.max() <= -1
    lnl = draw_lnl_params(300, N_f=5)
    assert lnl.gain_db.shape == (300, 5)
    assert bool((lnl.gain_db[:, 0] == 0).all())
    assert lnl.gain_db[:, 1:].max() <= -5 and lnl.gain_db[:, 1:].min() >= -20


@pytest.mark.parametrize("num_samples", [1, 10, 499, 500, 3001, 20000])
def test_fir_filter_alignment_matches_lfilter(num_samples):
    """Odd and even filter lengths, one and several filters, short signals."""
    g = torch.Generator().manual_seed(num_samples)
    n_coeffs = torch.tensor([[7, 8, 1], [120, 33, 64]])
    coeffs = torch.randn(2, 3, 120, generator=g, dtype=torch.float64)
    coeffs = coeffs * (torch.arange(120) < n_coeffs.unsqueeze(-1))
    x = torch.randn(2, num_samples, generator=g, dtype=torch.float64)
    # small block size: exercises the overlap-add path
    for block_size in (8192, 256):
        single = fir_filter(x, coeffs[:, 1:2], n_coeffs[:, 1:2], block_size)
        summed = fir_filter(x, coeffs, n_coeffs, block_size)
        assert single.shape == summed.shape == x.shape
        for r in range(2):
            xr = x[r].numpy()
            taps = [coeffs[r, k, : n_coeffs[r, k]].numpy() for k in range(3)]
            np.testing.assert_allclose(
                single[r].numpy(), ref_filter(xr, taps[1]), atol=1e-10
            )
            ref = sum(ref_filter(xr ** (k + 1), taps[k]) for k in range(3))
            np.testing.assert_allclose(summed[r].numpy(), ref, atol=1e-9)


# ---------------------------------------------------------------------------
# Each algorithm versus the reference, with the draws fixed
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("algo", range(1, 9))
@pytest.mark.parametrize("num_samples", [10, 2999])
def test_algorithms_match_reference(algo, num_samples):
    torch.manual_seed(algo)
    rawboost = RawBoost(algo=algo)
    x = _speech_like(3, num_samples, amplitude=0.9, seed=algo)
    lengths = torch.tensor([1.0, 0.7, 0.34])
    params = rawboost.draw_params(x, lengths)
    y = rawboost.apply_params(x, params, lengths)
    # apply_params is deterministic
    assert torch.equal(y, rawboost.apply_params(x, params, lengths))
    abs_lens = torch.round(lengths * num_samples).long()
    for r in range(3):
        n = int(abs_lens[r])
        ref = ref_rawboost(algo, x[r, :n].numpy(), params, r)
        np.testing.assert_allclose(y[r, :n].numpy(), ref, rtol=0, atol=1e-9)
        assert (y[r, n:] == 0).all()


def test_float32_close_to_float64():
    torch.manual_seed(0)
    rawboost = RawBoost(algo=4)
    x = _speech_like(2, 8000)
    params = rawboost.draw_params(x)
    y64 = rawboost.apply_params(x, params)
    y32 = rawboost.apply_params(x.float(), params)
    assert y32.dtype == torch.float32
    # Float32 FFT filtering, in any kernel's order: max error <= 2-norm error
    # <~ log2(N) * 2**-24 * sum_k |x^k|_2 * max|H| = 12 * 6e-8 * 2 * 22
    # = 3.2e-5 (4,096-point blocks, |x| <= 0.5, |H| <= 1); SSI adds less.
    np.testing.assert_allclose(y32.double().numpy(), y64.numpy(), atol=1e-4)


# ---------------------------------------------------------------------------
# Statistics over many draws
# ---------------------------------------------------------------------------
def test_isd_hit_fraction_is_uniform_up_to_P():
    torch.manual_seed(0)
    abs_lens = torch.full((4000,), 4000)
    p = draw_isd_params(abs_lens, P=10)
    frac = 100 * p.hit.sum(1).double() / 4000
    assert frac.max() <= 10
    assert abs(frac.mean().item() - 5) < 0.2
    assert abs(frac.std().item() - 10 / 12**0.5) < 0.2  # U(0, 10) std
    # hits are distinct positions inside the utterance
    for r in range(20):
        pos = p.positions[r][p.hit[r]]
        assert pos.unique().numel() == pos.numel()
        assert pos.min() >= 0 and pos.max() < 4000
    # positions are uniform over the utterance
    pos = p.positions[p.hit]
    hist = torch.bincount(pos * 10 // 4000, minlength=10).double()
    assert (hist / hist.mean() - 1).abs().max() < 0.03
    # the factors are U(-1, 1) * U(-1, 1): mean 0, E|f| = 1/4
    f = p.factors[p.hit]
    assert abs(f.mean().item()) < 0.01 and abs(f.abs().mean().item() - 0.25) < 0.01


def test_isd_respects_lengths_and_large_P():
    torch.manual_seed(0)
    abs_lens = torch.tensor([100, 37, 1, 0, 1000])
    for P in (10, 60, 100):
        p = draw_isd_params(abs_lens, P=P)
        for r, n in enumerate(abs_lens.tolist()):
            pos = p.positions[r][p.hit[r]]
            assert pos.numel() <= n * P / 100
            assert pos.unique().numel() == pos.numel()
            if pos.numel():
                assert pos.max() < n


def test_isd_module_fraction_of_changed_samples():
    torch.manual_seed(1)
    x = 0.01 * (torch.rand(2000, 2000) + 0.5)  # no sample is 0, peak stays < 1
    y = RawBoost(algo=2)(x)
    changed = 100 * (y != x).double().mean(1)
    assert changed.max() <= 10
    assert abs(changed.mean().item() - 5) < 0.3


def test_ssi_realised_snr_in_range():
    torch.manual_seed(2)
    x = _speech_like(300, 4000).float()
    y = RawBoost(algo=3)(x)
    snr = 20 * torch.log10(x.norm(dim=1) / (y - x).norm(dim=1))
    assert snr.min() >= 10 - 1e-3 and snr.max() <= 40 + 1e-3
    assert snr.min() < 13 and snr.max() > 37  # spread over the range
    assert abs(snr.mean().item() - 25) < 2


def test_lnl_output_zero_mean_and_bounded():
    torch.manual_seed(3)
    x = _speech_like(50, 4000, amplitude=1.0)
    y = RawBoost(algo=1)(x)
    assert y.abs().max() <= 1 + 1e-12
    assert y.mean(1).abs().max() < 1e-3  # mean removed before peak division


# ---------------------------------------------------------------------------
# Module behaviour
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("algo", ALGOS)
def test_lengths_and_padding(algo):
    torch.manual_seed(algo)
    x = torch.rand(4, 3000) - 0.5
    lengths = torch.tensor([1.0, 0.5, 0.25, 0.01])
    y = RawBoost(algo=algo)(x * (torch.arange(3000) < 3000 * lengths[:, None]), lengths)
    assert y.shape == x.shape
    abs_lens = torch.round(lengths * 3000).long()
    for r in range(4):
        assert (y[r, abs_lens[r] :] == 0).all()
    assert torch.isfinite(y).all()


def test_padding_values_are_ignored():
    """Garbage in the padding changes nothing (and is zeroed)."""
    torch.manual_seed(0)
    x = torch.rand(2, 2000) - 0.5
    lengths = torch.tensor([1.0, 0.6])
    dirty = x.clone()
    dirty[1, 1200:] = 5.0
    clean = x.clone()
    clean[1, 1200:] = 0.0
    rawboost = RawBoost(algo=4)
    params = rawboost.draw_params(x, lengths)
    torch.testing.assert_close(
        rawboost.apply_params(dirty, params, lengths),
        rawboost.apply_params(clean, params, lengths),
    )


@pytest.mark.parametrize("algo", ALGOS)
@pytest.mark.parametrize("num_samples", [1, 10, 300])
def test_no_nan_on_silent_and_short_inputs(algo, num_samples):
    torch.manual_seed(0)
    x = torch.rand(3, num_samples) - 0.5
    x[0] = 0  # silent row
    y = RawBoost(algo=algo)(x, torch.tensor([1.0, 1.0, 0.5]))
    assert y.shape == x.shape and torch.isfinite(y).all()
    assert (y[0] == 0).all()


def test_reproducible_under_manual_seed_and_generator():
    x = torch.rand(3, 4000) - 0.5
    rawboost = RawBoost(algo=4)
    torch.manual_seed(123)
    a = rawboost(x)
    torch.manual_seed(123)
    b = rawboost(x)
    assert torch.equal(a, b)
    assert not torch.equal(a, rawboost(x))
    g1 = RawBoost(algo=4, generator=torch.Generator().manual_seed(5))
    g2 = RawBoost(algo=4, generator=torch.Generator().manual_seed(5))
    assert torch.equal(g1(x), g2(x))


def test_rows_get_different_draws():
    torch.manual_seed(0)
    x = (torch.rand(1, 4000) - 0.5).repeat(4, 1)
    rawboost = RawBoost(algo=4)
    params = rawboost.draw_params(x)
    for name in ("fc", "bw", "n_coeffs", "gain_db"):
        v = getattr(params["lnl"], name)
        if name != "gain_db":  # gain of the linear term is U(0, 0)
            assert _draws_differ(v[0], v[1])
    assert _draws_differ(params["ssi"].snr_db[0], params["ssi"].snr_db[1])
    hits = params["isd"].hit.sum(1)
    assert len(set(hits.tolist())) > 1
    y = rawboost.apply_params(x, params)
    for r in range(1, 4):
        assert not torch.allclose(y[0], y[r])


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.bfloat16])
def test_dtype_and_device_preserved(dtype):
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    for device in devices:
        x = (torch.rand(2, 1000) - 0.5).to(device=device, dtype=dtype)
        y = RawBoost(algo=4)(x, torch.tensor([1.0, 0.5], device=device))
        assert y.dtype == dtype and y.device == x.device and y.shape == x.shape


def test_algo_zero_is_identity_and_invalid_algo_raises():
    x = torch.rand(2, 100)
    y = RawBoost(algo=0)(x)
    assert torch.equal(x, y) and y is not x
    with pytest.raises(ValueError):
        RawBoost(algo=9)
    with pytest.raises(ValueError):
        RawBoost(P=150)
    assert RawBoost(algo=4)(torch.zeros(0, 100)).shape == (0, 100)
    with pytest.raises(ValueError):
        RawBoost()(torch.rand(2, 3, 100))


@pytest.mark.parametrize("algo", ALGOS)
def test_single_waveform_and_batch_of_one(algo):
    torch.manual_seed(0)
    x = torch.rand(1600) - 0.5
    rawboost = RawBoost(algo=algo)
    torch.manual_seed(7)
    y = rawboost(x)
    torch.manual_seed(7)
    y1 = rawboost(x.unsqueeze(0))
    assert y.shape == x.shape and y1.shape == (1, 1600)
    assert torch.equal(y, y1[0])
    assert algo == 0 or not torch.equal(y, x)


def test_works_inside_speechbrain_augmenter():
    from speechbrain.augment.augmenter import Augmenter

    torch.manual_seed(0)
    augmenter = Augmenter(
        parallel_augment=False,
        concat_original=True,
        min_augmentations=1,
        max_augmentations=1,
        augmentations=[RawBoost(algo=4)],
    )
    x = torch.rand(4, 3200) - 0.5
    lengths = torch.tensor([1.0, 0.8, 0.6, 0.5])
    x = x * (torch.arange(3200) < 3200 * lengths[:, None])
    y, y_lengths = augmenter(x, lengths)
    assert y.shape == (8, 3200)
    torch.testing.assert_close(y_lengths, torch.cat([lengths, lengths]))
    assert torch.equal(y[:4], x)
    assert not torch.allclose(y[4:], x)
    assert (y[7, 1600:] == 0).all() and torch.isfinite(y).all()


def test_hyperpyyaml_instantiation():
    from hyperpyyaml import load_hyperpyyaml

    hparams = load_hyperpyyaml(
        """
rawboost: !new:dpda.augment.RawBoost
    algo: 5
    sample_rate: 16000
    P: 20
    SNRmin: 5
"""
    )
    rawboost = hparams["rawboost"]
    assert isinstance(rawboost, RawBoost) and rawboost.algo == 5 and rawboost.P == 20
    assert rawboost(torch.rand(2, 800) - 0.5).shape == (2, 800)


def test_isd_params_helper_roundtrip():
    x = torch.tensor([[0.5, -0.5, 0.25]])
    p = ISDParams(
        positions=torch.tensor([[1, 1, 2]]),
        hit=torch.tensor([[True, False, True]]),
        factors=torch.tensor([[1.0, 9.0, -0.5]]),
    )
    y = isd_additive_noise(x, p, g_sd=2)
    torch.testing.assert_close(y, torch.tensor([[0.5, -1.5, 0.0]]) / 1.5)
