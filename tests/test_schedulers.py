"""The per-step cosine learning-rate schedule (AASIST's ``scheduler: cosine``)."""

import math

import numpy as np
import pytest
import torch

from dpda.schedulers import CosineAnnealing


def aasist_lrs(base_lr, lr_min, total_steps, n_steps):
    """clovaai/aasist's schedule: LambdaLR with its cosine_annealing factor."""
    model = torch.nn.Linear(2, 1)
    opt = torch.optim.Adam(model.parameters(), lr=base_lr)

    def factor(step):
        return lr_min / base_lr + (1 - lr_min / base_lr) * 0.5 * (
            1 + np.cos(step / total_steps * np.pi)
        )

    scheduler = torch.optim.lr_scheduler.LambdaLR(opt, lr_lambda=factor)
    lrs = []
    for _ in range(n_steps):
        opt.step()
        scheduler.step()
        lrs.append(opt.param_groups[0]["lr"])
    return lrs


def test_matches_the_reference_lambda_schedule():
    model = torch.nn.Linear(2, 1)
    opt = torch.optim.Adam(model.parameters(), lr=1e-4)
    schedule = CosineAnnealing(lr_min=5e-6, total_steps=37)
    ours = []
    for _ in range(37):
        opt.step()
        schedule(opt)
        ours.append(opt.param_groups[0]["lr"])
    np.testing.assert_allclose(ours, aasist_lrs(1e-4, 5e-6, 37, 37), rtol=1e-12)
    assert math.isclose(ours[-1], 5e-6)


def test_resumes_the_same_curve(tmp_path):
    def fresh():
        opt = torch.optim.SGD(torch.nn.Linear(2, 1).parameters(), lr=0.1)
        return opt, CosineAnnealing(lr_min=0.0, total_steps=10)

    opt, schedule = fresh()
    for _ in range(4):
        schedule(opt)
    schedule.save(tmp_path / "s.ckpt")
    expected = []
    for _ in range(3):
        schedule(opt)
        expected.append(opt.param_groups[0]["lr"])

    opt2, schedule2 = fresh()
    opt2.param_groups[0]["lr"] = 0.0123  # the optimizer's saved lr; not used
    schedule2.load(tmp_path / "s.ckpt")
    got = []
    for _ in range(3):
        schedule2(opt2)
        got.append(opt2.param_groups[0]["lr"])
    assert got == pytest.approx(expected, rel=1e-12)


def test_needs_a_total():
    opt = torch.optim.SGD(torch.nn.Linear(2, 1).parameters(), lr=0.1)
    with pytest.raises(ValueError, match="total_steps"):
        CosineAnnealing(lr_min=0.0)(opt)
