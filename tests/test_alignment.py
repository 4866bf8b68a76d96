"""Each aligner against an independent computation on flattened vectors."""

import math

import numpy as np
import pytest
import torch

from dpda.alignment import ALIGNERS, get_aligner, gram_matrix

SHAPES = [(3, 4), (5,), (2, 2, 2), (1,)]


def random_grads(rng, shapes=SHAPES, scale=1.0):
    return [
        torch.tensor(rng.normal(size=s) * scale, dtype=torch.float64) for s in shapes
    ]


def flat(grads, shapes=SHAPES):
    return np.concatenate(
        [
            np.zeros(int(np.prod(s))) if g is None else g.numpy().ravel()
            for g, s in zip(grads, shapes)
        ]
    )


def clone(grads):
    return [None if g is None else g.clone() for g in grads]


def ref_pcgrad(g1, g2):
    d = g1 @ g2
    if d < 0:
        p1 = g1 - d / (g2 @ g2) * g2
        p2 = g2 - d / (g1 @ g1) * g1
        return (p1 + p2) / 2
    return (g1 + g2) / 2


def ref_gradvac(g1, g2, rho_t):
    n1, n2 = np.linalg.norm(g1), np.linalg.norm(g2)
    rho = g1 @ g2 / (n1 * n2)
    p1, p2 = g1.copy(), g2.copy()
    if rho < rho_t:
        w12 = (
            n1
            * (rho_t * np.sqrt(1 - rho**2) - rho * np.sqrt(1 - rho_t**2))
            / (n2 * np.sqrt(1 - rho_t**2))
        )
        w21 = (
            n2
            * (rho_t * np.sqrt(1 - rho**2) - rho * np.sqrt(1 - rho_t**2))
            / (n1 * np.sqrt(1 - rho_t**2))
        )
        p1 = g1 + w12 * g2
        p2 = g2 + w21 * g1
    return (p1 + p2) / 2, rho


def ref_cagrad(g1, g2, c, rescale=1):
    """CAGrad by a dense grid search on the simplex weight."""
    G = np.array([[g1 @ g1, g1 @ g2], [g1 @ g2, g2 @ g2]])
    b = np.array([0.5, 0.5])
    cp = c * np.sqrt(G.mean())
    ts = np.linspace(0, 1, 200001)
    W = np.stack([ts, 1 - ts], 1)
    obj = W @ G @ b + cp * np.sqrt(np.einsum("ij,jk,ik->i", W, G, W).clip(min=0))
    t = ts[np.argmin(obj)]
    gw = t * g1 + (1 - t) * g2
    g = (g1 + g2) / 2 + cp / np.linalg.norm(gw) * gw
    return g / {0: 1, 1: 1 + c**2, 2: 1 + c}[rescale]


def ref_mgda(g1, g2):
    ts = np.linspace(0, 1, 200001)
    norms = [np.linalg.norm(t * g1 + (1 - t) * g2) for t in (0.0, 1.0)]
    vals = np.linalg.norm(np.outer(ts, g1) + np.outer(1 - ts, g2), axis=1)
    t = ts[np.argmin(vals)]
    assert vals.min() <= min(norms) + 1e-12
    return t * g1 + (1 - t) * g2


def cases():
    rng = np.random.default_rng(0)
    out = []
    for _ in range(6):
        out.append(("random", random_grads(rng), random_grads(rng)))
    g = random_grads(rng)
    out.append(("opposite", clone(g), [-x for x in g]))
    out.append(("opposite_scaled", clone(g), [-3 * x for x in g]))
    a = [torch.zeros(s, dtype=torch.float64) for s in SHAPES]
    b = [torch.zeros(s, dtype=torch.float64) for s in SHAPES]
    a[0][0, 0] = 1.0
    b[1][2] = 2.0
    out.append(("orthogonal", a, b))
    out.append(("identical", clone(g), clone(g)))
    # Nearly opposite, with a conflict.
    h = [x + 0.1 * torch.tensor(rng.normal(size=x.shape)) for x in g]
    out.append(("near_opposite", clone(g), [-x for x in h]))
    return out


CASES = cases()


@pytest.mark.parametrize("name,g1,g2", CASES, ids=[c[0] for c in CASES])
def test_mean_sum_pcgrad_mgda_match_reference(name, g1, g2):
    f1, f2 = flat(g1), flat(g2)
    expected = {
        "none": (f1 + f2) / 2,
        "sum": f1 + f2,
        "pcgrad": ref_pcgrad(f1, f2),
        "mgda": ref_mgda(f1, f2),
    }
    for method, ref in expected.items():
        aligner = get_aligner(method)
        out = flat(aligner.combine(clone(g1), clone(g2)))
        tol = 1e-5 if method == "mgda" else 1e-10
        np.testing.assert_allclose(
            out, ref, atol=tol * max(1, np.abs(ref).max()), err_msg=method
        )
        stats = aligner.last_stats
        assert stats["conflict"] == bool(f1 @ f2 < 0)
        assert stats["dot"] == pytest.approx(f1 @ f2)


@pytest.mark.parametrize("name,g1,g2", CASES, ids=[c[0] for c in CASES])
@pytest.mark.parametrize("c", [0.2, 0.5, 0.9])
def test_cagrad_matches_grid_search(name, g1, g2, c):
    f1, f2 = flat(g1), flat(g2)
    out = flat(get_aligner("cagrad", c=c).combine(clone(g1), clone(g2)))
    ref = ref_cagrad(f1, f2, c)
    scale = max(np.abs(f1).max(), np.abs(f2).max())
    np.testing.assert_allclose(out, ref, atol=2e-4 * scale)


def test_gradvac_sequence_matches_reference_both_ema_variants():
    rng = np.random.default_rng(1)
    for variant in ("positive", "always"):
        aligner = get_aligner("gradvac", beta=0.5, ema_update=variant)
        rho_t = 0.0
        for _ in range(12):
            g1, g2 = random_grads(rng), random_grads(rng)
            if rng.random() < 0.5:
                g2 = [-0.5 * a + 0.5 * b for a, b in zip(g1, g2)]
            f1, f2 = flat(g1), flat(g2)
            ref, rho = ref_gradvac(f1, f2, rho_t)
            out = flat(aligner.combine(g1, g2))
            np.testing.assert_allclose(out, ref, atol=1e-10)
            if variant == "always" or rho > 0:
                rho_t = 0.5 * rho_t + 0.5 * rho
            assert aligner.rho_target == pytest.approx(rho_t)
        state = aligner.state_dict()
        fresh = get_aligner("gradvac", ema_update=variant)
        fresh.load_state_dict(state)
        assert fresh.rho_target == aligner.rho_target


def test_gradvac_raises_cosine_to_target():
    rng = np.random.default_rng(2)
    g1 = random_grads(rng)
    g2 = [-a + 0.3 * b for a, b in zip(g1, random_grads(rng))]
    aligner = get_aligner("gradvac", rho_init=0.3)
    f1, f2 = flat(g1), flat(g2)
    # The adjusted g1' = g1 + w12 g2 has cosine rho_T with g2.
    n1, n2 = np.linalg.norm(f1), np.linalg.norm(f2)
    rho = f1 @ f2 / (n1 * n2)
    w = (
        n1
        * (0.3 * np.sqrt(1 - rho**2) - rho * np.sqrt(1 - 0.3**2))
        / (n2 * np.sqrt(1 - 0.09))
    )
    p1 = f1 + w * f2
    assert p1 @ f2 / (np.linalg.norm(p1) * n2) == pytest.approx(0.3)
    aligner.combine(g1, g2)
    assert aligner.last_stats["cosine"] == pytest.approx(rho)


@pytest.mark.parametrize("method", sorted(ALIGNERS))
def test_zero_gradient_and_missing_parameters_never_nan(method):
    rng = np.random.default_rng(3)
    g1 = random_grads(rng)
    zeros = [torch.zeros_like(x) for x in g1]
    for a, b in ((g1, zeros), (zeros, g1), (zeros, [torch.zeros_like(x) for x in g1])):
        out = get_aligner(method).combine(clone(a), clone(b))
        assert all(torch.isfinite(o).all() for o in out)
    # Parameters present in one path only: treated as zero in the other.
    p1 = clone(g1)
    p2 = clone(random_grads(rng))
    p1[1] = None
    p2[3] = None
    aligner = get_aligner(method)
    if method == "gradvac":
        expected, _ = ref_gradvac(flat(p1), flat(p2), 0.0)
    elif method == "cagrad":
        expected = ref_cagrad(flat(p1), flat(p2), 0.5)
    else:
        a, b = get_aligner(method).coefficients(*gram_matrix(p1, p2))
        expected = a * flat(p1) + b * flat(p2)
    out = aligner.combine(p1, p2)
    assert all(o is not None for o in out)
    np.testing.assert_allclose(
        flat(out), expected, atol=2e-4 * max(1.0, np.abs(expected).max())
    )


@pytest.mark.parametrize("method", sorted(ALIGNERS))
def test_scale_invariance_under_common_loss_scale(method):
    """A GradScaler multiplies both paths by S: the update scales by S exactly."""
    rng = np.random.default_rng(4)
    g1 = random_grads(rng)
    g2 = [-0.7 * a + 0.5 * b for a, b in zip(g1, random_grads(rng))]
    scale = 2.0**16
    plain = flat(get_aligner(method).combine(clone(g1), clone(g2)))
    scaled = flat(
        get_aligner(method).combine([x * scale for x in g1], [x * scale for x in g2])
    )
    np.testing.assert_allclose(scaled / scale, plain, rtol=1e-9, atol=1e-12)


def test_combine_is_in_place_and_float32():
    g1 = [torch.randn(10, 10), torch.randn(3)]
    g2 = [torch.randn(10, 10), torch.randn(3)]
    ptrs = [g.data_ptr() for g in g1]
    out = get_aligner("pcgrad").combine(g1, g2)
    assert [o.data_ptr() for o in out] == ptrs
    assert all(o.dtype == torch.float32 for o in out)


def test_get_aligner_rejects_unknown():
    with pytest.raises(ValueError, match="Unknown aligner"):
        get_aligner("adam")
    assert math.isclose(get_aligner(None).coefficients(1, 0, 1)[0], 0.5)


def test_gradvac_per_parameter_blocks_match_reference_per_block():
    rng = np.random.default_rng(7)
    for variant in ("positive", "always"):
        aligner = get_aligner(
            "gradvac", beta=0.5, ema_update=variant, blocks="parameter"
        )
        targets = [0.0] * len(SHAPES)
        for _ in range(8):
            g1, g2 = random_grads(rng), random_grads(rng)
            g2 = [-0.6 * a + 0.4 * b for a, b in zip(g1, g2)]
            expected = []
            for k, (a, b) in enumerate(zip(g1, g2)):
                ref, rho = ref_gradvac(a.numpy().ravel(), b.numpy().ravel(), targets[k])
                expected.append(ref)
                if variant == "always" or rho > 0:
                    targets[k] = 0.5 * targets[k] + 0.5 * rho
            out = aligner.combine(clone(g1), clone(g2))
            np.testing.assert_allclose(flat(out), np.concatenate(expected), atol=1e-10)
            np.testing.assert_allclose(aligner.rho_target, targets, atol=1e-12)
            assert aligner.last_stats["dot"] == pytest.approx(flat(g1) @ flat(g2))
    restored = get_aligner("gradvac", blocks="parameter")
    restored.load_state_dict(aligner.state_dict())
    assert restored.rho_target == aligner.rho_target
