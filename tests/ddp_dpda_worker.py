"""DPDA steps under DDP (gloo, CPU), launched by tests/test_ddp.py with torchrun.

Usage: ``torchrun --nproc_per_node=2 tests/ddp_dpda_worker.py OUT.json MODE``
with MODE ``exact`` or ``local``; ``single`` runs one process on the global
batch (the reference). ``MODE+nan`` makes the clean path's loss NaN at the
second step on the last rank only; ``MODE+3`` trains three paths (clean and
two augmentations, PCGrad with its random orders) instead of two. Rank 0
writes the final parameters to OUT.json.
"""

import json
import os
import sys

import torch
from speechbrain.dataio.batch import PaddedBatch

from dpda.brain import DPDABrain

STEPS = 3
GLOBAL_BATCH = 8
LENGTH = 400


class Augment(torch.nn.Module):
    def forward(self, wavs, lengths=None):
        return torch.tanh(3.0 * wavs) + 0.05 * torch.cos(
            torch.arange(wavs.shape[1], dtype=wavs.dtype)
        )


class Augment2(torch.nn.Module):
    def forward(self, wavs, lengths=None):
        return wavs.clamp(-0.4, 0.4) - 0.1 * wavs.flip(1)


class TinyNet(torch.nn.Module):
    """No batch norm: per-process statistics would differ from one process."""

    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv1d(1, 6, 17, stride=4)
        self.fc = torch.nn.Linear(6, 2)

    def forward(self, wavs, lengths=None):
        x = torch.relu(self.conv(wavs.unsqueeze(1)))
        return self.fc(x.mean(dim=2))


class Counter:
    current = 1


class ConflictingBrain(DPDABrain):
    """The augmented path learns the opposite labels: its gradient conflicts
    with the clean one, so PCGrad's projection really acts."""

    nan_call = None  # this path_loss call returns NaN

    def path_loss(self, logits, batch):
        self._calls = getattr(self, "_calls", 0) + 1
        labels = batch.label_id if self._calls % 2 else 1 - batch.label_id
        loss = torch.nn.functional.cross_entropy(logits, labels)
        return loss * float("nan") if self._calls == self.nan_call else loss


def global_batch(step):
    gen = torch.Generator().manual_seed(100 + step)
    wavs = torch.randn(GLOBAL_BATCH, LENGTH, generator=gen)
    # Every contiguous half holds both classes equally.
    return [
        {"id": f"{step}_{i}", "sig": wavs[i], "label_id": i % 2}
        for i in range(GLOBAL_BATCH)
    ]


def main(out_path, mode):
    mode, *flags = mode.split("+")
    nan, three = "nan" in flags, "3" in flags
    run_opts = {"device": "cpu", "max_grad_norm": 1e9}
    rank, world = 0, 1
    if mode != "single":
        from speechbrain.utils.distributed import ddp_init_group

        run_opts["distributed_backend"] = "gloo"
        ddp_init_group(run_opts)
        rank, world = torch.distributed.get_rank(), torch.distributed.get_world_size()
    torch.manual_seed(0)
    model = TinyNet()
    brain = ConflictingBrain(
        modules={"model": model},
        opt_class=lambda params: torch.optim.SGD(params, lr=0.5),
        hparams={
            "class_weights": [0.1, 0.9],
            **(
                {"augment_paths": {"aug": Augment(), "aug2": Augment2()}}
                if three
                else {"augment": Augment()}
            ),
            "aligner": "pcgrad",
            "dpda_mode": "split",
            "ddp_align": "local" if mode == "local" else "exact",
            "epoch_counter": Counter(),
            "output_folder": os.path.dirname(out_path),
        },
        run_opts=run_opts,
    )
    if nan and rank == world - 1:
        brain.nan_call = 3  # the clean path of the second step
    brain._wrap_distributed()
    brain.init_optimizers()
    cosines = []
    for step in range(STEPS):
        items = global_batch(step)
        share = GLOBAL_BATCH // world
        brain.step += 1
        brain.fit_batch(PaddedBatch(items[rank * share : (rank + 1) * share]))
        stats = brain.aligner.last_stats
        gram = stats["gram"]
        cosine = gram[0][1] / (gram[0][0] * gram[1][1]) ** 0.5
        cosines.append(stats["weights"] if three else cosine)
    params = [p.detach().reshape(-1).tolist() for p in model.parameters()]
    result = {
        "params": params,
        "cosines": cosines,
        "skipped_steps": brain.skipped_steps,
        "optimizer_steps": brain.optimizer_step,
    }
    if mode != "single":
        gathered = [None] * world
        torch.distributed.all_gather_object(gathered, result)
        if rank == 0:
            result["all_ranks"] = gathered
    if rank == 0:
        with open(out_path, "w") as f:
            json.dump(result, f)
    if mode != "single":
        torch.distributed.destroy_process_group()
    sys.stdout.flush()
    os._exit(0)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
