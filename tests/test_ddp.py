"""DPDA under DDP: two gloo processes on CPU, launched with torchrun."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from conftest import flat

pytestmark = pytest.mark.slow  # end-to-end runs in subprocesses

WORKER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "ddp_dpda_worker.py")


def run(tmp_path, mode):
    out = str(tmp_path / f"{mode}.json")
    if mode.startswith("single"):
        cmd = [sys.executable, WORKER, out, mode]
    else:
        cmd = [
            sys.executable, "-m", "torch.distributed.run", "--standalone",
            "--nproc_per_node=2", WORKER, out, mode,
        ]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    result = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-5000:]
    return json.load(open(out))


@pytest.fixture(scope="module")
def single(tmp_path_factory):
    return run(tmp_path_factory.mktemp("single"), "single")


def test_exact_mode_matches_one_process_on_the_global_batch(single, tmp_path):
    ddp = run(tmp_path, "exact")
    ranks = ddp["all_ranks"]
    # Identical on every rank, and equal to the single-process run.
    np.testing.assert_array_equal(flat(ranks[0]["params"]), flat(ranks[1]["params"]))
    np.testing.assert_allclose(flat(ddp["params"]), flat(single["params"]), atol=1e-5)
    np.testing.assert_allclose(ranks[1]["cosines"], single["cosines"], atol=1e-5)
    assert min(single["cosines"]) < 0  # a step conflicts: PCGrad projects


def test_local_mode_keeps_ranks_identical_and_differs_from_exact(single, tmp_path):
    local = run(tmp_path, "local")
    ranks = local["all_ranks"]
    np.testing.assert_allclose(
        flat(ranks[0]["params"]), flat(ranks[1]["params"]), atol=1e-7
    )
    # Each rank aligned its own gradients: the per-rank cosines differ, and
    # the update is not the exact global one (PCGrad is not linear).
    assert ranks[0]["cosines"] != ranks[1]["cosines"]
    assert np.abs(flat(local["params"]) - flat(single["params"])).max() > 1e-4


@pytest.mark.parametrize("mode", ["exact", "local"])
def test_a_nan_clean_path_on_one_rank_skips_the_step_on_every_rank(tmp_path, mode):
    ddp = run(tmp_path, f"{mode}+nan")
    ranks = ddp["all_ranks"]
    for rank in ranks:  # the skip was decided together
        assert rank["skipped_steps"] == 1 and rank["optimizer_steps"] == 2
    np.testing.assert_allclose(
        flat(ranks[0]["params"]), flat(ranks[1]["params"]), atol=1e-7
    )
    if mode == "exact":  # the same as one process skipping that step
        single = run(tmp_path, "single+nan")
        assert single["skipped_steps"] == 1
        np.testing.assert_allclose(
            flat(ddp["params"]), flat(single["params"]), atol=1e-5
        )


def test_three_paths_exact_mode_matches_one_process_and_local_keeps_ranks_equal(
    tmp_path,
):
    """Three paths under DDP: exact alignment is the one-process update on the
    global batch (the same PCGrad orders on every rank); local keeps the
    ranks identical."""
    single = run(tmp_path, "single+3")
    exact = run(tmp_path, "exact+3")
    ranks = exact["all_ranks"]
    np.testing.assert_array_equal(flat(ranks[0]["params"]), flat(ranks[1]["params"]))
    np.testing.assert_allclose(flat(exact["params"]), flat(single["params"]), atol=1e-5)
    # The aligner's weights of every step (recorded as "cosines").
    np.testing.assert_allclose(ranks[1]["cosines"], single["cosines"], atol=1e-5)
    assert any(w != [1 / 3] * 3 for w in single["cosines"])  # PCGrad projected
    local = run(tmp_path, "local+3")
    ranks = local["all_ranks"]
    np.testing.assert_allclose(
        flat(ranks[0]["params"]), flat(ranks[1]["params"]), atol=1e-7
    )
    assert np.abs(flat(local["params"]) - flat(single["params"])).max() > 1e-6
