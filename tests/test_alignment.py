"""Every aligner against an independent computation, for two paths and for K.

Each path's gradient list (mixed shapes, some parameters ``None`` in some
paths, float32 or float64) is flattened into one float64 row of ``J``
(``[K, n]``, ``None`` = zeros) and the expected update is computed on ``J``
directly: by the papers' algorithms (PCGrad, GradVac), by generic solvers
(scipy's SLSQP for CAGrad, quadprog for the MGDA min-norm point) or by
torchjd's own aggregators applied to ``J`` (UPGrad, DualProj, IMTL-G,
Aligned-MTL). Nothing here calls the package's ``path_gram``,
``min_norm_weights``, ``cagrad_weights`` or ``combine_weighted`` to build an
expected value. Two paths are also checked against the DPDA paper's closed
forms (written here, as oracles: bitwise for PCGrad and GradVac) and against
grid searches on flattened vectors.
"""

import io
import math

import numpy as np
import pytest
import quadprog
import torch
import torchjd.aggregation as tja
from scipy.optimize import minimize

from dpda.alignment import ALIGNERS, get_aligner, path_gram

SHAPES = [(3, 4), (5,), (2, 3, 2), (1,), (7,), (2,)]
SIZES = [math.prod(s) for s in SHAPES]
N = sum(SIZES)
# (path, parameter) pairs left None: parameter 5 in every path, 4 in the first
# path (the combined tensor is then a new one), 3 in the second, 1 in the third.
NONE_ALL = 5
NONE_AT = {(0, 4), (1, 3), (2, 1)}

# Tolerances, from error bounds (u: the unit roundoff of the gradients' dtype,
# 2**-24 for float32, 2**-53 for float64; gamma(n) = n u / (1 - n u), Higham's
# bound for n roundings).
# * Gram matrix: ``path_gram`` forms each product of two stored values exactly
#   in float64 (24 + 24 bits < 53) and sums in float64, so every entry is within
#   gamma_64(N) sum_i |a_i b_i| of the exact Gram of the stored gradients, for
#   float32 and float64 paths alike and whatever the BLAS kernel's summation
#   order (N = 33 here: < 4e-15 relative). GRAM_TOL leaves a factor 10^4.
# * Weights: the aligners map that Gram matrix to weights in float64 by
#   well-conditioned formulas (each test's cases keep away from cosines of +-1
#   unless they say otherwise), so the weights are float64-accurate for either
#   dtype: WEIGHT_TOL, relative to max(1, |w|).
# * Update: ``combine_weighted`` casts each weight to the gradients' dtype,
#   multiplies and adds the K terms in that dtype: each term k carries at most
#   K + 1 roundings, so element i is within gamma(K + 1) sum_k |w_k J_ki| of the
#   exact combination with the aligner's weights; the float64 reference adds as
#   much again (2 gamma(K + 1)), and a reference whose weights differ by dw adds
#   dw sum_k |J_ki| (``assert_update``).
GRAM_TOL = 1e-11
WEIGHT_TOL = 1e-10
UNIT_ROUNDOFF = {torch.float32: 2.0**-24, torch.float64: 2.0**-53}


def gamma(n, dtype):
    """Higham's gamma_n = n u / (1 - n u) for the dtype's unit roundoff u."""
    u = UNIT_ROUNDOFF[dtype]
    return n * u / (1 - n * u)


DTYPES = [torch.float32, torch.float64]
DTYPE_IDS = ["f32", "f64"]

TORCHJD = {
    "upgrad": tja.UPGrad,
    "dualproj": tja.DualProj,
    "imtlg": tja.IMTLG,
    "alignedmtl": tja.AlignedMTL,
}


# ---------------------------------------------------------------- helpers


def to_paths(J, dtype=torch.float32, nones=True):
    """Split the rows of ``J`` into per-parameter gradient lists (with Nones)."""
    paths = []
    for k, row in enumerate(np.asarray(J)):
        grads, start = [], 0
        for m, (shape, size) in enumerate(zip(SHAPES, SIZES)):
            chunk = row[start : start + size]
            start += size
            if nones and (m == NONE_ALL or (k, m) in NONE_AT):
                grads.append(None)
            else:
                grads.append(torch.tensor(chunk.reshape(shape), dtype=dtype))
        paths.append(grads)
    return paths


def flat_with_zeros(grads):
    """One float64 vector of a gradient list (``None`` = zeros)."""
    return np.concatenate(
        [
            np.zeros(size) if g is None else g.detach().double().numpy().ravel()
            for g, size in zip(grads, SIZES)
        ]
    )


def stack(paths):
    """``J``: the flattened paths, float64 ``[K, n]``."""
    return np.stack([flat_with_zeros(g) for g in paths])


def clone(paths):
    return [[None if g is None else g.clone() for g in grads] for grads in paths]


def make_paths(rng, k_paths, dtype=torch.float32, conflict=True, nones=True):
    """Random paths (conflicting with the first one if ``conflict``) and their J."""
    J = rng.normal(size=(k_paths, N))
    if conflict:
        for k in range(1, k_paths):
            J[k] -= (0.4 + 1.2 * rng.random()) * J[0]
    paths = to_paths(J, dtype, nones)
    return paths, stack(paths)


def run(aligner, paths):
    """Combine copies of ``paths``; return the flat update."""
    return flat_with_zeros(aligner.combine(*clone(paths)))


def update_bound(J, weights, dtype, weight_tol=WEIGHT_TOL):
    """Element-wise bound on |update - exact sum_k w_k J_k| (see the tolerances)."""
    weights = np.asarray(weights, dtype=np.float64)
    k_paths = len(J)
    terms = np.abs(weights)[:, None] * np.abs(J)
    dw = weight_tol * max(1.0, float(np.abs(weights).max()))
    return 2 * gamma(k_paths + 1, dtype) * terms.sum(0) + dw * np.abs(J).sum(0)


def assert_update(out, ref, J, weights, dtype, msg="", weight_tol=WEIGHT_TOL):
    """Compare flat updates element-wise to ``update_bound`` (the reference's weights)."""
    bound = update_bound(J, weights, dtype, weight_tol)
    err = np.abs(np.asarray(out) - np.asarray(ref))
    worst = int(np.argmax(err - bound))
    assert np.all(err <= bound), (
        f"{msg}: |out - ref| = {err[worst]:.3g} > bound {bound[worst]:.3g} "
        f"at element {worst}"
    )


def assert_weights(aligner, ref_weights, dtype, msg="", tol=WEIGHT_TOL):
    np.testing.assert_allclose(
        aligner.last_stats["weights"],
        ref_weights,
        rtol=tol,
        atol=tol * max(1.0, float(np.abs(ref_weights).max())),
        err_msg=msg,
    )


def assert_gram(aligner, J, dtype):
    G = J @ J.T
    # gamma_64(N) sum_i |a_i b_i| <= gamma_64(N) |a| |b|: GRAM_TOL |G| covers it.
    np.testing.assert_allclose(
        aligner.last_stats["gram"], G, rtol=0, atol=GRAM_TOL * np.abs(G).max()
    )


def draw_order(k_paths, i, generator):
    """The other paths than ``i``, in the order of one ``randperm`` draw."""
    others = [j for j in range(k_paths) if j != i]
    return [others[p] for p in torch.randperm(k_paths - 1, generator=generator)]


# ------------------------------------------------------------- references


def ref_pcgrad(J, orders):
    """PCGrad, Algorithm 1 of Yu et al. (projections on the original g_j), averaged."""
    k_paths = len(J)
    P, C = J.copy(), np.eye(k_paths)
    for i in range(k_paths):
        for j in orders[i]:
            dot = P[i] @ J[j]
            if dot < 0:
                P[i] -= dot / (J[j] @ J[j]) * J[j]
                C[i, j] -= dot / (J[j] @ J[j])
    return P.mean(0), C.mean(0)


def ref_gradvac(J, targets, generator, beta, ema):
    """GradVac (LibMTL order of operations), averaged; ``targets`` updated in place.

    A pair with a zero gradient (a whole block ``None``) has no cosine and is
    skipped, its target left as it is.
    """
    k_paths = len(J)
    P, C = J.copy(), np.eye(k_paths)
    for i in range(k_paths):
        for j in draw_order(k_paths, i, generator):
            n_i, n_j = np.linalg.norm(P[i]), np.linalg.norm(J[j])
            if n_i == 0 or n_j == 0:
                continue
            rho = P[i] @ J[j] / (n_i * n_j)
            t = targets[i][j]
            if rho < t:
                w = (
                    n_i
                    * (t * np.sqrt(1 - rho**2) - rho * np.sqrt(1 - t**2))
                    / (n_j * np.sqrt(1 - t**2))
                )
                P[i] += w * J[j]
                C[i, j] += w
            if ema == "always" or rho > 0:
                targets[i][j] = (1 - beta) * t + beta * rho
    return P.mean(0), C.mean(0)


def cagrad_objective(J, c):
    """CAGrad's dual ``F(w) = g_w . g0 + c |g0| |g_w|`` (``= w.(G b) + c' sqrt(w^T G w)``).

    Evaluated on the vectors, not on ``G``: near ``g_w = 0`` the quadratic
    form's rounding would let ``F`` dip below its true minimum.
    """
    g0 = J.mean(0)
    c_prime = c * np.linalg.norm(g0)
    return (lambda w: (w @ J) @ g0 + c_prime * np.linalg.norm(w @ J)), c_prime


def ref_cagrad(J, c, seed=0):
    """CAGrad's dual on the simplex by SLSQP (several starts): ``(w, F(w), c')``."""
    k_paths = len(J)
    Js = J / np.sqrt(np.trace(J @ J.T) / k_paths)  # the same w, F scaled
    fun, c_prime = cagrad_objective(Js, c)
    g0 = Js.mean(0)

    def jac(w):
        gw = w @ Js
        return Js @ g0 + c_prime * (Js @ gw) / max(np.linalg.norm(gw), 1e-300)

    rng = np.random.default_rng(seed)
    starts = [np.full(k_paths, 1.0 / k_paths)]
    starts += list(0.9 * np.eye(k_paths) + 0.1 / k_paths)
    starts += list(rng.dirichlet(np.ones(k_paths), 3))
    best = None
    for x0 in starts:
        res = minimize(
            fun,
            x0,
            jac=jac,
            method="SLSQP",
            bounds=[(0.0, 1.0)] * k_paths,
            constraints=[
                {
                    "type": "eq",
                    "fun": lambda w: w.sum() - 1.0,
                    "jac": lambda w: np.ones_like(w),
                }
            ],
            options={"ftol": 1e-16, "maxiter": 1000},
        )
        if best is None or res.fun < best.fun:
            best = res
    w = np.clip(best.x, 0.0, None)
    w /= w.sum()
    objective, c_prime = cagrad_objective(J, c)
    return w, objective(w), c_prime


RIDGE = 1e-12  # quadprog needs a positive definite matrix


def ref_min_norm(J, ridge=RIDGE):
    """The min-norm point of the convex hull of the rows of J, by quadprog."""
    G = J @ J.T
    k_paths = len(G)
    Gs = G / (np.trace(G) / k_paths) + ridge * np.eye(k_paths)
    C = np.hstack([np.ones((k_paths, 1)), np.eye(k_paths)])
    b = np.concatenate([[1.0], np.zeros(k_paths)])
    w = quadprog.solve_qp(Gs, np.zeros(k_paths), C, b, meq=1)[0]
    return np.clip(w, 0.0, None) / np.clip(w, 0.0, None).sum()


# ------------------------------------------------------------ none / sum


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
@pytest.mark.parametrize("k_paths", [3, 4])
def test_mean_and_sum_match_flat_reference(k_paths, dtype):
    rng = np.random.default_rng(10 + k_paths)
    paths, J = make_paths(rng, k_paths, dtype)
    for name, ref, w in (
        ("none", J.mean(0), np.full(k_paths, 1.0 / k_paths)),
        ("sum", J.sum(0), np.ones(k_paths)),
    ):
        aligner = get_aligner(name)
        out = run(aligner, paths)
        assert_update(out, ref, J, w, dtype, name)
        assert_weights(aligner, w, dtype, name)
        assert_gram(aligner, J, dtype)
    assert sum(get_aligner("none").weights(torch.eye(k_paths).double())) == (
        pytest.approx(1.0, abs=1e-15)
    )


# ----------------------------------------------------------------- pcgrad


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
@pytest.mark.parametrize("k_paths", [3, 4])
def test_pcgrad_matches_algorithm_1_with_the_recorded_orders(k_paths, dtype):
    rng = np.random.default_rng(20 + k_paths)
    aligner = get_aligner("pcgrad", seed=5)
    mine = torch.Generator().manual_seed(5)
    seen = set()
    for step in range(5):
        paths, J = make_paths(rng, k_paths, dtype)
        out = run(aligner, paths)
        orders = aligner.last_orders
        assert len(orders) == k_paths
        for i, order in enumerate(orders):
            assert sorted(order) == [j for j in range(k_paths) if j != i]
        # The documented draws: one randperm per path from a generator seeded alike.
        assert orders == [draw_order(k_paths, i, mine) for i in range(k_paths)]
        seen.add(str(orders))
        ref, w = ref_pcgrad(J, orders)
        assert_update(out, ref, J, w, dtype, f"step {step}")
        assert_weights(aligner, w, dtype, f"step {step}")
        assert_gram(aligner, J, dtype)
    assert len(seen) > 1, "the orders never change"


def test_pcgrad_same_seed_same_orders_other_seed_other_orders():
    rng = np.random.default_rng(23)
    steps = [make_paths(rng, 4)[0] for _ in range(4)]
    a, b, c = (get_aligner("pcgrad", seed=s) for s in (11, 11, 12))
    orders = {id(x): [] for x in (a, b, c)}
    for paths in steps:
        outs = [run(x, paths) for x in (a, b, c)]
        for x in (a, b, c):
            orders[id(x)].append(x.last_orders)
        np.testing.assert_array_equal(outs[0], outs[1])
    assert orders[id(a)] == orders[id(b)]
    assert orders[id(a)] != orders[id(c)]


def test_pcgrad_state_dict_round_trip_restores_the_order_generator():
    rng = np.random.default_rng(24)
    steps = [make_paths(rng, 4)[0] for _ in range(5)]
    original = get_aligner("pcgrad", seed=3)
    run(original, steps[0])
    run(original, steps[1])
    buffer = io.BytesIO()
    torch.save(original.state_dict(), buffer)  # as in a checkpoint
    buffer.seek(0)
    restored = get_aligner("pcgrad", seed=12345)
    restored.load_state_dict(torch.load(buffer, weights_only=True))
    for paths in steps[2:]:
        out_a, out_b = run(original, paths), run(restored, paths)
        assert restored.last_orders == original.last_orders
        np.testing.assert_array_equal(out_a, out_b)


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
def test_pcgrad_two_paths_draws_nothing_and_is_the_closed_form(dtype):
    rng = np.random.default_rng(25)
    aligner = get_aligner("pcgrad", seed=0)
    for _ in range(4):
        paths, J = make_paths(rng, 2, dtype)
        state = aligner.orders.generator.get_state().clone()
        out = run(aligner, paths)
        assert torch.equal(aligner.orders.generator.get_state(), state)
        g1, g2 = J
        dot = g1 @ g2
        assert dot < 0
        w = np.array([0.5 * (1 - dot / (g1 @ g1)), 0.5 * (1 - dot / (g2 @ g2))])
        ref = ((g1 - dot / (g2 @ g2) * g2) + (g2 - dot / (g1 @ g1) * g1)) / 2
        assert_update(out, ref, J, w, dtype)
        assert_weights(aligner, w, dtype)


def test_pcgrad_k3_can_conflict_more_than_the_mean():
    """Not a bug: Algorithm 1 with K > 2 has no such guarantee (K = 2 has)."""
    J = np.array([[3.0, 3.0], [-2.0, -3.0], [-3.0, 2.0]])
    worse = 0
    for seed in range(12):
        aligner = get_aligner("pcgrad", seed=seed)
        w = aligner.weights(torch.tensor(J @ J.T))
        ref, ref_w = ref_pcgrad(J, aligner.last_orders)
        np.testing.assert_allclose(w.numpy(), ref_w, rtol=1e-12, atol=1e-12)
        worse += (J @ ref).min() < min(0.0, (J @ J.mean(0)).min()) - 1e-9
    assert worse > 0


# ---------------------------------------------------------------- gradvac


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
@pytest.mark.parametrize("ema,rho_init", [("positive", 0.0), ("always", 0.1)])
@pytest.mark.parametrize("k_paths", [3, 4])
def test_gradvac_k_paths_sequence_matches_libmtl(k_paths, ema, rho_init, dtype):
    rng = np.random.default_rng(30 + k_paths)
    beta, seed = 0.5, 7
    aligner = get_aligner(
        "gradvac", beta=beta, ema_update=ema, rho_init=rho_init, seed=seed
    )
    generator = torch.Generator().manual_seed(seed)
    targets = [[rho_init] * k_paths for _ in range(k_paths)]
    for step in range(7):
        # Conflicting steps and aligned ones, so that targets rise and fall.
        paths, J = make_paths(rng, k_paths, dtype, conflict=step % 3 != 2)
        out = run(aligner, paths)
        ref, w = ref_gradvac(J, targets, generator, beta, ema)
        assert_update(out, ref, J, w, dtype, f"step {step}")
        assert_weights(aligner, w, dtype, f"step {step}")
        assert_gram(aligner, J, dtype)
    off = ~np.eye(k_paths, dtype=bool)
    got = np.array(aligner.rho_target)
    assert got.shape == (k_paths, k_paths)
    np.testing.assert_allclose(got[off], np.array(targets)[off], atol=10 * WEIGHT_TOL)
    assert np.any(got[off] != rho_init)


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
@pytest.mark.parametrize("ema", ["positive", "always"])
def test_gradvac_parameter_blocks_k3_match_per_block_reference(ema, dtype):
    rng = np.random.default_rng(35)
    k_paths, beta, seed = 3, 0.3, 9
    aligner = get_aligner(
        "gradvac", beta=beta, ema_update=ema, blocks="parameter", seed=seed
    )
    generator = torch.Generator().manual_seed(seed)
    targets = [[[0.0] * k_paths for _ in range(k_paths)] for _ in SHAPES]
    bounds = np.cumsum([0, *SIZES])
    for step in range(5):
        paths, J = make_paths(rng, k_paths, dtype, conflict=step != 3)
        out = aligner.combine(*clone(paths))
        assert out[NONE_ALL] is None
        ref = np.zeros(N)
        for m in range(len(SHAPES)):  # block by block, K draws each
            block = J[:, bounds[m] : bounds[m + 1]]
            ref[bounds[m] : bounds[m + 1]], w = ref_gradvac(
                block, targets[m], generator, beta, ema
            )
            got = flat_with_zeros(out)[bounds[m] : bounds[m + 1]]
            want = ref[bounds[m] : bounds[m + 1]]
            if SIZES[m] == 1:
                # A one-element block: every cosine is +-1, computed (here and
                # in the reference) within 2 u64 (a product, a square root);
                # sqrt(1 - rho^2) turns that into up to sqrt(4 u64) = 2.1e-8
                # in each weight, times the formula's norm and target factors
                # (measured up to 3.4e-8 in all): 1e-6 leaves a factor 30.
                scale = np.abs(block).max() * np.abs(w).max()
                np.testing.assert_allclose(got, want, atol=1e-6 * scale)
            else:
                assert_update(got, want, block, w, dtype, f"step {step} block {m}")
        assert_gram(aligner, J, dtype)
    off = ~np.eye(k_paths, dtype=bool)
    got = np.array(aligner.rho_target)
    assert got.shape == (len(SHAPES), k_paths, k_paths)
    np.testing.assert_allclose(
        got[:, off], np.array(targets)[:, off], atol=10 * WEIGHT_TOL
    )


def test_gradvac_scalar_block_float32_cosine():
    """Opposite one-element gradients: g1' = g1 + |g1|/|g2| g2 = 0, and g2' = 0.

    ``path_gram`` forms the products exactly in float64 for either dtype, so
    the cosine is -1 within 2 u64 (a product and a square root) for float32
    gradients as for float64 ones. The update ``a g1 + b g2`` is then zero up
    to the weights' errors, sqrt(4 u64) (|g1| + |g2|) (from sqrt(1 - rho^2)
    in each path's projection), and the combination's rounding in the
    gradients' dtype, gamma(3) (|a g1| + |b g2|).
    """
    g1, g2 = -0.052519381046295166, 1.2034028768539429  # exact float32 values
    for dtype in DTYPES:
        aligner = get_aligner("gradvac", rho_init=0.5)
        out = aligner.combine(
            [torch.tensor([g1], dtype=dtype)], [torch.tensor([g2], dtype=dtype)]
        )
        (g11, g12), (_, g22) = aligner.last_stats["gram"]
        assert g12 / math.sqrt(g11 * g22) == pytest.approx(-1.0, abs=2 * 2.0**-53)
        a, b = aligner.last_stats["weights"]
        bound = math.sqrt(4 * 2.0**-53) * (abs(g1) + abs(g2))
        bound += gamma(3, dtype) * (abs(a * g1) + abs(b * g2))
        assert abs(out[0].item()) <= bound, (out[0].item(), bound)


def test_gradvac_k_paths_state_dict_round_trip():
    rng = np.random.default_rng(36)
    steps = [make_paths(rng, 4)[0] for _ in range(6)]
    original = get_aligner("gradvac", beta=0.5, seed=4)
    for paths in steps[:3]:
        run(original, paths)
    buffer = io.BytesIO()
    torch.save(original.state_dict(), buffer)
    buffer.seek(0)
    restored = get_aligner("gradvac", beta=0.5, seed=99)
    restored.load_state_dict(torch.load(buffer, weights_only=True))
    assert restored.rho_target == original.rho_target
    for paths in steps[3:]:
        np.testing.assert_array_equal(run(original, paths), run(restored, paths))
    assert restored.rho_target == original.rho_target


# ----------------------------------------------------------------- cagrad


def cagrad_cases(k_paths):
    """Conflicting random paths, and a nearly opposite pair (optimum on a face)."""
    rng = np.random.default_rng(40 + k_paths)
    cases = [rng.normal(size=(k_paths, N)) for _ in range(4)]
    for J in cases[:3]:
        for k in range(1, k_paths):
            J[k] -= (0.4 + 1.2 * rng.random()) * J[0]
    cases[3][1] = -2.0 * cases[3][0] + 0.3 * cases[3][1]
    return cases


def check_cagrad(J0, c, dtype, seed, exact_direction=True, nones=True):
    """The aligner's CAGrad on ``J0`` (as ``dtype`` paths) against SLSQP."""
    k_paths = len(J0)
    paths = to_paths(J0, dtype, nones)
    J = stack(paths)
    w_ref, f_ref, c_prime = ref_cagrad(J, c, seed=seed)
    objective, _ = cagrad_objective(J, c)
    aligner = get_aligner("cagrad", c=c)
    out = run(aligner, paths)
    weights = np.array(aligner.last_stats["weights"])
    assert_update(out, weights @ J, J, weights, dtype)
    # weights = (1/K + lam w) / (1 + c^2): recover the simplex point w.
    lam_w = weights * (1 + c**2) - 1.0 / k_paths
    # The solver sees the Gram matrix, whose entries are within
    # eps_G = gamma_64(N) max|G| of J J^T for either dtype (see the
    # tolerances). On the simplex |w^T dG w| <= eps_G, and F holds
    # c' sqrt(w^T G w): the objective the solver minimises is within
    # c' sqrt(eps_G) + eps_G of F everywhere, so its optimum is within twice
    # that of SLSQP's (near g_w = 0, on a singular face, nothing that reads
    # only the Gram matrix can do better). Then 1e-9 of the scale for the
    # float64 arithmetic of the solver and of the check.
    G = J @ J.T
    eps_g = gamma(len(J[0]), torch.float64) * np.abs(G).max()
    rel = 1e-9
    scale = abs(f_ref) + np.linalg.norm(J.mean(0)) ** 2
    gram_bound = 2 * (c_prime * math.sqrt(eps_g) + eps_g)
    if lam_w.sum() > 1e-12:
        w = lam_w / lam_w.sum()
        assert w.min() >= -1e-12
        # Never worse than SLSQP (relative to the objective's scale, |g0|^2).
        assert objective(w) <= f_ref + rel * scale + gram_bound, (
            objective(w),
            f_ref,
            w,
            w_ref,
        )
    else:  # lam = 0: the aligner found g_w = 0, F = 0; nothing does better
        assert f_ref >= -rel * scale - gram_bound
    if exact_direction:
        # SLSQP's w_ref (ftol 1e-16) is known to about sqrt(1e-16) = 1e-8,
        # which c' / |g_w| may amplify: 1e-6 of the direction's size.
        gw = w_ref @ J
        d_ref = (J.mean(0) + c_prime / np.linalg.norm(gw) * gw) / (1 + c**2)
        np.testing.assert_allclose(out, d_ref, atol=1e-6 * np.abs(d_ref).max())
    return J, out


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
@pytest.mark.parametrize("c", [0.1, 0.5, 1.0])
@pytest.mark.parametrize("k_paths", [3, 4])
def test_cagrad_matches_slsqp(k_paths, c, dtype):
    for case, J0 in enumerate(cagrad_cases(k_paths)):
        J, _ = check_cagrad(J0, c, dtype, seed=case)
        assert (J @ J.T)[0, 1:].min() < 0  # conflicts


@pytest.mark.parametrize("c", [0.1, 0.5, 1.0])
def test_cagrad_degenerate_paths_reach_the_slsqp_objective(c):
    """Identical and opposite paths: singular faces, the optimum still found."""
    g = np.random.default_rng(45).normal(size=(4, N))
    h = -0.6 * g[0] + 0.5 * g[1]
    for J0 in (
        np.stack([g[0], g[0], h]),
        np.stack([g[0], -g[0], h]),
        np.stack([g[0], h, -3.0 * g[0], g[2]]),
    ):
        for dtype in DTYPES:
            check_cagrad(J0, c, dtype, 0, exact_direction=False, nones=False)
    # g0, -g0 and g1 orthogonal to g0: F(w) >= 0 = F(min-norm point), g_w = 0,
    # and the update is the mean gradient alone, (g1 / 3) / (1 + c^2).
    g1 = g[1] - g[1] @ g[0] / (g[0] @ g[0]) * g[0]
    for dtype in DTYPES:
        J, out = check_cagrad(
            np.stack([g[0], -g[0], g1]), c, dtype, 0, exact_direction=False, nones=False
        )
        ref = J.mean(0) / (1 + c**2)
        assert_update(out, ref, J, np.full(3, 1.0 / 3 / (1 + c**2)), dtype)


@pytest.mark.parametrize("rescale", [0, 1, 2])
def test_cagrad_rescale(rescale):
    c = 0.5
    divisor = {0: 1.0, 1: 1.0 + c**2, 2: 1.0 + c}[rescale]
    for k_paths in (3, 4):
        J0 = cagrad_cases(k_paths)[0]
        paths = to_paths(J0, torch.float64)
        J = stack(paths)
        w_ref, _, c_prime = ref_cagrad(J, c)
        gw = w_ref @ J
        d_ref = (J.mean(0) + c_prime / np.linalg.norm(gw) * gw) / divisor
        out = run(get_aligner("cagrad", c=c, rescale=rescale), paths)
        np.testing.assert_allclose(out, d_ref, atol=1e-6 * np.abs(d_ref).max())


# ------------------------------------------------------------------- mgda


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
@pytest.mark.parametrize("k_paths", [3, 4])
def test_mgda_matches_quadprog(k_paths, dtype):
    rng = np.random.default_rng(50 + k_paths)
    for case in range(4):
        paths, J = make_paths(rng, k_paths, dtype, conflict=case != 3)
        w_ref = ref_min_norm(J)
        aligner = get_aligner("mgda")
        out = run(aligner, paths)
        # Affinely independent random paths: quadprog's ridge moves its
        # weights by about RIDGE times the scaled Gram's condition number.
        assert_update(out, w_ref @ J, J, w_ref, dtype, f"case {case}", weight_tol=1e-8)
        assert_weights(aligner, w_ref, dtype, f"case {case}", tol=1e-8)


def degenerate_cases():
    rng = np.random.default_rng(55)
    g = rng.normal(size=(4, N))
    h = -0.6 * g[0] + 0.5 * g[1]  # conflicts with g[0]
    return {
        "identical_pair": np.stack([g[0], g[0], h]),
        "opposite_pair": np.stack([g[0], g[2], -g[0], g[3]]),
        "identical_and_opposite": np.stack([g[0], g[0], -g[0]]),
        "opposite_scaled": np.stack([g[0], h, -3.0 * g[0]]),
    }


@pytest.mark.parametrize("case", list(degenerate_cases()))
@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
def test_mgda_degenerate_cases(case, dtype):
    paths = to_paths(degenerate_cases()[case], dtype, nones=False)
    J = stack(paths)
    w_ref = ref_min_norm(J)
    d_ref = w_ref @ J
    aligner = get_aligner("mgda")
    out = run(aligner, paths)
    w = np.array(aligner.last_stats["weights"])
    assert w.min() >= 0 and w.sum() == pytest.approx(1.0, abs=1e-12)
    # The weights need not be unique here; the min-norm point d* is. Ours: w
    # minimises w^T G w with each Gram entry within GRAM_TOL max|G| (weights on
    # the simplex), so |w J|^2 <= |d*|^2 + 2 GRAM_TOL max|G|, and strong
    # convexity gives |w J - d*|^2 <= that excess. quadprog's: its ridge r on
    # the Gram scaled by s = trace(G) / K moves it by at most sqrt(r s).
    G = J @ J.T
    ours = math.sqrt(2 * GRAM_TOL * np.abs(G).max())
    theirs = math.sqrt(RIDGE * np.trace(G) / len(G))
    rounding = update_bound(J, w, dtype, weight_tol=0.0)
    np.testing.assert_array_less(np.abs(out - d_ref), ours + theirs + rounding)
    if case != "identical_pair":  # 0 lies in the hull: d* = 0
        np.testing.assert_array_less(np.abs(out), ours + rounding)


# ---------------------------------------------------------------- torchjd


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
@pytest.mark.parametrize("k_paths", [2, 3, 4])
@pytest.mark.parametrize("name", sorted(TORCHJD))
def test_torchjd_methods_match_torchjd_aggregators(name, k_paths, dtype):
    rng = np.random.default_rng(60 + k_paths)
    for case in range(3):
        paths, J = make_paths(rng, k_paths, dtype, conflict=case != 2)
        aligner = get_aligner(name)
        out = run(aligner, paths)
        ref = TORCHJD[name]()(torch.tensor(J)).numpy()
        w = getattr(tja, f"{TORCHJD[name].__name__}Weighting")()(torch.tensor(J @ J.T))
        assert_update(out, ref, J, w.numpy(), dtype, f"case {case}")
        assert_weights(aligner, w.numpy(), dtype, f"case {case}")


# ------------------------------------------------------------ two paths


def two_path_grams():
    rng = np.random.default_rng(70)
    out = []
    for case in range(6):
        J = rng.normal(size=(2, 9))
        if case % 2:
            J[1] = -(0.3 + case / 4) * J[0] + 0.5 * J[1]
        out.append(J @ J.T)
    out.append(np.array([[1.0, -1.0], [-1.0, 1.0]]))  # opposite
    out.append(np.array([[1.0, 0.0], [0.0, 4.0]]))  # orthogonal
    out.append(np.array([[2.0, 2.0], [2.0, 2.0]]))  # identical
    out.append(np.array([[1.0, 3.0], [3.0, 9.0]]))  # g2 = 3 g1
    return out


def pcgrad_2(g11, g12, g22):
    """The DPDA paper's two-path PCGrad coefficients."""
    if g12 >= 0:
        return 0.5, 0.5
    return 0.5 * (1.0 - g12 / g11), 0.5 * (1.0 - g12 / g22)


def gradvac_2(g11, g12, g22, rho_t, beta=0.5, ema="positive"):
    """The DPDA code's two-path GradVac: ``(a, b, new target)``."""
    if g11 == 0.0 or g22 == 0.0:
        return 0.5, 0.5, rho_t
    n1, n2 = math.sqrt(g11), math.sqrt(g22)
    rho = max(-1.0, min(1.0, g12 / (n1 * n2)))
    a = b = 1.0
    if rho < rho_t:
        sin_t = math.sqrt(max(0.0, 1.0 - rho_t * rho_t))
        sin_rho = math.sqrt(max(0.0, 1.0 - rho * rho))
        if sin_t > 0.0:
            scale = (rho_t * sin_rho - rho * sin_t) / sin_t
            b += n1 / n2 * scale  # g1 += w12 g2
            a += n2 / n1 * scale  # g2 += w21 g1
    if ema == "always" or rho > 0:
        rho_t = (1.0 - beta) * rho_t + beta * rho
    return 0.5 * a, 0.5 * b, rho_t


def cagrad_2(g11, g12, g22, c, rescale=1):
    """The two-path CAGrad: the objective's stationary point in closed form in t."""
    c_prime = c * math.sqrt(max(0.0, (g11 + 2 * g12 + g22) / 4.0))
    curv = g11 - 2.0 * g12 + g22  # q(t) = |t g1 + (1-t) g2|^2 = A (t - t0)^2 + m
    slope = 0.5 * (g11 - g22)
    if curv <= 1e-12 * max(g11, g22, 1e-300):
        t = 0.5 if slope == 0 else (0.0 if slope > 0 else 1.0)
    else:
        t0 = (g22 - g12) / curv
        m = max(0.0, g22 - (g22 - g12) ** 2 / curv)
        candidates = [0.0, 1.0]
        if c_prime > 0:
            r = -slope / c_prime
            if r * r < curv:
                s = math.copysign(abs(r) * math.sqrt(m / (curv * (curv - r * r))), r)
                candidates.append(min(1.0, max(0.0, t0 + s)))

        def objective(t):
            q = curv * (t - t0) ** 2 + m
            lin = 0.5 * (t * (g11 + g12) + (1.0 - t) * (g12 + g22))
            return lin + c_prime * math.sqrt(max(0.0, q))

        t = min(candidates, key=objective)
    gw_norm = math.sqrt(
        max(0.0, t * t * g11 + 2 * t * (1 - t) * g12 + (1 - t) ** 2 * g22)
    )
    lam = c_prime / gw_norm if gw_norm > 0 else 0.0
    divisor = {0: 1.0, 1: 1.0 + c**2, 2: 1.0 + c}[rescale]
    return (0.5 + lam * t) / divisor, (0.5 + lam * (1.0 - t)) / divisor


def mgda_2(g11, g12, g22):
    """The two-path min-norm point: ``(t, 1 - t)``."""
    curv = g11 - 2.0 * g12 + g22
    if curv <= 0.0:
        return 0.5, 0.5
    t = min(1.0, max(0.0, (g22 - g12) / curv))
    return t, 1.0 - t


CLOSED_FORMS = {
    "none": lambda g11, g12, g22: (0.5, 0.5),
    "sum": lambda g11, g12, g22: (1.0, 1.0),
    "pcgrad": pcgrad_2,
    "mgda": mgda_2,
}


@pytest.mark.parametrize("name", ["none", "sum", "pcgrad"])
def test_two_path_weights_are_the_closed_forms_bitwise(name):
    """K = 2 through the K-path code is the paper's formula to the last bit."""
    for G in two_path_grams():
        got = get_aligner(name, seed=0) if name == "pcgrad" else get_aligner(name)
        weights = got.weights(torch.tensor(G)).tolist()
        assert weights == list(CLOSED_FORMS[name](G[0, 0], G[0, 1], G[1, 1]))


@pytest.mark.parametrize("ema", ["positive", "always"])
def test_two_path_gradvac_is_the_closed_form_bitwise(ema):
    """Weights and targets step after step, as the DPDA authors' two-path rule."""
    aligner = get_aligner("gradvac", beta=0.5, ema_update=ema, rho_init=0.1)
    rho_t = 0.1
    for _ in range(3):
        for G in two_path_grams():
            a, b, rho_t = gradvac_2(G[0, 0], G[0, 1], G[1, 1], rho_t, 0.5, ema)
            assert aligner.weights(torch.tensor(G)).tolist() == [a, b]
            targets = aligner.rho_target
            assert targets[0][1] == targets[1][0] == rho_t


def test_two_path_cagrad_and_mgda_equal_their_closed_forms():
    """The exact K-simplex solvers at K = 2 against the closed forms in t."""
    for case, G in enumerate(two_path_grams()):
        cases = [("mgda", {}, mgda_2(G[0, 0], G[0, 1], G[1, 1]))]
        for c in (0.1, 0.5, 1.0):
            for rescale in (0, 1, 2):
                closed = cagrad_2(G[0, 0], G[0, 1], G[1, 1], c, rescale)
                cases.append(("cagrad", {"c": c, "rescale": rescale}, closed))
        for name, kw, closed in cases:
            via_weights = get_aligner(name, **kw).weights(torch.tensor(G)).tolist()
            if np.linalg.matrix_rank(G) < 2:
                # g1 = g2 (or zero): only a + b matters and is unique.
                via_weights, closed = [sum(via_weights)], [sum(closed)]
            np.testing.assert_allclose(
                via_weights, closed, rtol=1e-9, atol=1e-9, err_msg=f"{case} {name} {kw}"
            )


# ----------------------------------------------------------- properties


def property_cases(n_seeds=60):
    for seed in range(n_seeds):
        rng = np.random.default_rng(1000 + seed)
        k_paths = 2 + seed % 3
        J = rng.normal(size=(k_paths, 6))
        for k in range(1, k_paths):
            J[k] -= 1.5 * rng.random() * J[0]
        yield seed, J


def test_updates_never_conflict_more_than_the_mean():
    for seed, J in property_cases():
        k_paths = len(J)
        G = J @ J.T
        mean_worst = (J @ J.mean(0)).min()
        norms = np.linalg.norm(J, axis=1)
        names = ["upgrad", "mgda", "cagrad"] + (["pcgrad"] if k_paths == 2 else [])
        for name in names:
            kw = {"seed": seed} if name == "pcgrad" else {}
            paths = [[torch.tensor(row)] for row in J]
            d = get_aligner(name, **kw).combine(*paths)[0].numpy()
            dots = J @ d
            if name == "cagrad":
                # max_d min_k g_k.d over the ball around g0 contains d = g0.
                bound = min(0.0, mean_worst) - 1e-9 * np.trace(G)
                assert dots.min() >= bound, (seed, name)
            else:
                # Dual cone (UPGrad), min-norm point (MGDA), PCGrad with K = 2.
                bound = -1e-9 * np.linalg.norm(d) * norms
                assert np.all(dots >= bound), (seed, name, dots)


def test_sum_is_k_times_mean_and_mean_weights_sum_to_one():
    for _, J in property_cases(30):
        paths = to_paths(np.pad(J, ((0, 0), (0, N - J.shape[1]))), torch.float64)
        mean = get_aligner("none")
        total = get_aligner("sum")
        out_mean, out_sum = run(mean, paths), run(total, paths)
        np.testing.assert_allclose(out_sum, len(J) * out_mean, rtol=1e-12, atol=1e-12)
        assert sum(mean.last_stats["weights"]) == pytest.approx(1.0, abs=1e-12)


@pytest.mark.parametrize(
    "name,k_paths",
    [
        (name, k)
        for name in ["none", "sum", "pcgrad", "cagrad", "upgrad"]
        for k in (2, 3, 4)
    ]
    + [("mgda", k) for k in (2, 3, 4)],
)
def test_scale_invariance_under_a_loss_scale(name, k_paths):
    """A GradScaler multiplies every path by s: the update scales by s."""
    s = 1024.0
    kw = {"seed": 1} if name == "pcgrad" else {}
    for seed in range(3):
        rng = np.random.default_rng(80 + 10 * k_paths + seed)
        paths, J = make_paths(rng, k_paths, torch.float32)
        scaled = [[None if g is None else g * s for g in grads] for grads in paths]
        plain = run(get_aligner(name, **kw), paths)
        big = run(get_aligner(name, **kw), scaled)
        np.testing.assert_allclose(
            big / s, plain, rtol=1e-5, atol=1e-6 * np.abs(J).max(), err_msg=name
        )


@pytest.mark.parametrize("k_paths", [3, 4])
def test_mgda_weights_do_not_depend_on_the_gradient_scale(k_paths):
    """Orthonormal gradients: the min-norm point is the mean, at any scale.

    65536 = 2**16 is torch.amp.GradScaler's initial scale; 1e-7 a small gradient.
    """
    basis = np.eye(k_paths, N)
    for scale in (1e-7, 1.0, 65536.0, 1e7):
        paths = to_paths(basis * scale, torch.float32, nones=False)
        aligner = get_aligner("mgda")
        run(aligner, paths)
        np.testing.assert_allclose(
            aligner.last_stats["weights"],
            np.full(k_paths, 1.0 / k_paths),
            atol=1e-6,
            err_msg=f"scale {scale}",
        )


# ------------------------------------------------------ in place, errors


@pytest.mark.parametrize("name", sorted(ALIGNERS))
@pytest.mark.parametrize("k_paths", [2, 3])
def test_combine_is_in_place_into_the_first_path(name, k_paths):
    rng = np.random.default_rng(90)
    paths, J = make_paths(rng, k_paths, torch.float32)
    first = list(paths[0])
    others = clone(paths[1:])
    other_ids = [[id(g) for g in grads] for grads in paths[1:]]
    aligner = get_aligner(name)
    out = aligner.combine(*paths)
    assert len(out) == len(SHAPES)
    for m, (g, o) in enumerate(zip(first, out)):
        if g is not None:
            assert o is g, (name, m)
        elif m == NONE_ALL:
            assert o is None
        else:
            assert o is not None and o.shape == SHAPES[m]
            assert all(o is not grads[m] for grads in paths[1:])
        if o is not None:
            assert o.dtype == torch.float32
    for grads, ref, ids in zip(paths[1:], others, other_ids):
        assert [id(g) for g in grads] == ids
        for g, r in zip(grads, ref):
            assert (g is None and r is None) or torch.equal(g, r)
    weights = np.array(aligner.last_stats["weights"])
    if np.isfinite(weights).all():
        assert_update(
            flat_with_zeros(out), weights @ J, J, weights, torch.float32, name
        )
    assert_gram(aligner, J, torch.float32)


def test_path_gram_rejects_lists_of_different_lengths():
    rng = np.random.default_rng(91)
    paths, _ = make_paths(rng, 3)
    short = paths[2][:-1]
    with pytest.raises(ValueError, match=r"path 0 has 6, path 2 has 5"):
        path_gram([paths[0], paths[1], short])
    with pytest.raises(ValueError, match=r"path 0 has 6, path 1 has 5"):
        path_gram([paths[0], short])
    with pytest.raises(ValueError, match=r"path 0 has 6, path 3 has 5"):
        get_aligner("mgda").combine(paths[0], paths[1], paths[2], short)


# ------------------------------------------- two paths on flattened vectors


SHAPES2 = [(3, 4), (5,), (2, 2, 2), (1,)]


def random_grads2(rng, shapes=SHAPES2, scale=1.0):
    return [
        torch.tensor(rng.normal(size=s) * scale, dtype=torch.float64) for s in shapes
    ]


def flat2(grads, shapes=SHAPES2):
    return np.concatenate(
        [
            np.zeros(int(np.prod(s))) if g is None else g.numpy().ravel()
            for g, s in zip(grads, shapes)
        ]
    )


def clone2(grads):
    return [None if g is None else g.clone() for g in grads]


def ref_pcgrad2(g1, g2):
    d = g1 @ g2
    if d < 0:
        p1 = g1 - d / (g2 @ g2) * g2
        p2 = g2 - d / (g1 @ g1) * g1
        return (p1 + p2) / 2
    return (g1 + g2) / 2


def ref_gradvac2(g1, g2, rho_t):
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


def ref_cagrad2(g1, g2, c, rescale=1):
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


def ref_mgda2(g1, g2):
    ts = np.linspace(0, 1, 200001)
    norms = [np.linalg.norm(t * g1 + (1 - t) * g2) for t in (0.0, 1.0)]
    vals = np.linalg.norm(np.outer(ts, g1) + np.outer(1 - ts, g2), axis=1)
    t = ts[np.argmin(vals)]
    assert vals.min() <= min(norms) + 1e-12
    return t * g1 + (1 - t) * g2


def two_path_cases():
    rng = np.random.default_rng(0)
    out = []
    for _ in range(6):
        out.append(("random", random_grads2(rng), random_grads2(rng)))
    g = random_grads2(rng)
    out.append(("opposite", clone2(g), [-x for x in g]))
    out.append(("opposite_scaled", clone2(g), [-3 * x for x in g]))
    a = [torch.zeros(s, dtype=torch.float64) for s in SHAPES2]
    b = [torch.zeros(s, dtype=torch.float64) for s in SHAPES2]
    a[0][0, 0] = 1.0
    b[1][2] = 2.0
    out.append(("orthogonal", a, b))
    out.append(("identical", clone2(g), clone2(g)))
    # Nearly opposite, with a conflict.
    h = [x + 0.1 * torch.tensor(rng.normal(size=x.shape)) for x in g]
    out.append(("near_opposite", clone2(g), [-x for x in h]))
    return out


CASES = two_path_cases()


@pytest.mark.parametrize("name,g1,g2", CASES, ids=[c[0] for c in CASES])
def test_mean_sum_pcgrad_mgda_match_reference(name, g1, g2):
    f1, f2 = flat2(g1), flat2(g2)
    expected = {
        "none": (f1 + f2) / 2,
        "sum": f1 + f2,
        "pcgrad": ref_pcgrad2(f1, f2),
        "mgda": ref_mgda2(f1, f2),
    }
    for method, ref in expected.items():
        aligner = get_aligner(method)
        out = flat2(aligner.combine(clone2(g1), clone2(g2)))
        tol = 1e-5 if method == "mgda" else 1e-10
        np.testing.assert_allclose(
            out, ref, atol=tol * max(1, np.abs(ref).max()), err_msg=method
        )
        stats = aligner.last_stats
        assert stats["gram"][0][1] == pytest.approx(f1 @ f2)


@pytest.mark.parametrize("name,g1,g2", CASES, ids=[c[0] for c in CASES])
@pytest.mark.parametrize("c", [0.2, 0.5, 0.9])
def test_cagrad_matches_grid_search(name, g1, g2, c):
    f1, f2 = flat2(g1), flat2(g2)
    out = flat2(get_aligner("cagrad", c=c).combine(clone2(g1), clone2(g2)))
    ref = ref_cagrad2(f1, f2, c)
    scale = max(np.abs(f1).max(), np.abs(f2).max())
    np.testing.assert_allclose(out, ref, atol=2e-4 * scale)


def test_gradvac_sequence_matches_reference_both_ema_variants():
    rng = np.random.default_rng(1)
    for variant in ("positive", "always"):
        aligner = get_aligner("gradvac", beta=0.5, ema_update=variant)
        rho_t = 0.0
        for _ in range(12):
            g1, g2 = random_grads2(rng), random_grads2(rng)
            if rng.random() < 0.5:
                g2 = [-0.5 * a + 0.5 * b for a, b in zip(g1, g2)]
            f1, f2 = flat2(g1), flat2(g2)
            ref, rho = ref_gradvac2(f1, f2, rho_t)
            out = flat2(aligner.combine(g1, g2))
            np.testing.assert_allclose(out, ref, atol=1e-10)
            if variant == "always" or rho > 0:
                rho_t = 0.5 * rho_t + 0.5 * rho
            assert aligner.rho_target[0][1] == pytest.approx(rho_t)
            assert aligner.rho_target[1][0] == pytest.approx(rho_t)
        state = aligner.state_dict()
        fresh = get_aligner("gradvac", ema_update=variant)
        fresh.load_state_dict(state)
        assert fresh.rho_target == aligner.rho_target


def test_gradvac_raises_cosine_to_target():
    rng = np.random.default_rng(2)
    g1 = random_grads2(rng)
    g2 = [-a + 0.3 * b for a, b in zip(g1, random_grads2(rng))]
    aligner = get_aligner("gradvac", rho_init=0.3)
    f1, f2 = flat2(g1), flat2(g2)
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
    gram = aligner.last_stats["gram"]
    assert gram[0][1] / math.sqrt(gram[0][0] * gram[1][1]) == pytest.approx(rho)


@pytest.mark.parametrize("method", sorted(ALIGNERS))
def test_zero_gradient_and_missing_parameters_never_nan(method):
    rng = np.random.default_rng(3)
    g1 = random_grads2(rng)
    zeros = [torch.zeros_like(x) for x in g1]
    for a, b in ((g1, zeros), (zeros, g1), (zeros, [torch.zeros_like(x) for x in g1])):
        out = get_aligner(method).combine(clone2(a), clone2(b))
        assert all(torch.isfinite(o).all() for o in out)
    # Parameters present in one path only: treated as zero in the other.
    p1 = clone2(g1)
    p2 = clone2(random_grads2(rng))
    p1[1] = None
    p2[3] = None
    aligner = get_aligner(method)
    if method == "gradvac":
        expected, _ = ref_gradvac2(flat2(p1), flat2(p2), 0.0)
    elif method == "cagrad":
        expected = ref_cagrad2(flat2(p1), flat2(p2), 0.5)
    else:
        gram = path_gram([p1, p2])
        a, b = get_aligner(method).weights(gram).tolist()
        expected = a * flat2(p1) + b * flat2(p2)
    out = aligner.combine(p1, p2)
    assert all(o is not None for o in out)
    np.testing.assert_allclose(
        flat2(out), expected, atol=2e-4 * max(1.0, np.abs(expected).max())
    )


@pytest.mark.parametrize("method", sorted(ALIGNERS))
def test_scale_invariance_under_common_loss_scale(method):
    """A GradScaler multiplies both paths by S: the update scales by S exactly."""
    rng = np.random.default_rng(4)
    g1 = random_grads2(rng)
    g2 = [-0.7 * a + 0.5 * b for a, b in zip(g1, random_grads2(rng))]
    scale = 2.0**16
    plain = flat2(get_aligner(method).combine(clone2(g1), clone2(g2)))
    scaled = flat2(
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
    assert get_aligner(None).weights(torch.eye(2).double()).tolist() == [0.5, 0.5]


def test_gradvac_per_parameter_blocks_match_reference_per_block():
    rng = np.random.default_rng(7)
    for variant in ("positive", "always"):
        aligner = get_aligner(
            "gradvac", beta=0.5, ema_update=variant, blocks="parameter"
        )
        targets = [0.0] * len(SHAPES2)
        for _ in range(8):
            g1, g2 = random_grads2(rng), random_grads2(rng)
            g2 = [-0.6 * a + 0.4 * b for a, b in zip(g1, g2)]
            expected = []
            for k, (a, b) in enumerate(zip(g1, g2)):
                ref, rho = ref_gradvac2(
                    a.numpy().ravel(), b.numpy().ravel(), targets[k]
                )
                expected.append(ref)
                if variant == "always" or rho > 0:
                    targets[k] = 0.5 * targets[k] + 0.5 * rho
            out = aligner.combine(clone2(g1), clone2(g2))
            np.testing.assert_allclose(flat2(out), np.concatenate(expected), atol=1e-10)
            got = [block[0][1] for block in aligner.rho_target]
            np.testing.assert_allclose(got, targets, atol=1e-12)
            assert aligner.last_stats["gram"][0][1] == pytest.approx(
                flat2(g1) @ flat2(g2)
            )
    restored = get_aligner("gradvac", blocks="parameter")
    restored.load_state_dict(aligner.state_dict())
    assert restored.rho_target == aligner.rho_target
