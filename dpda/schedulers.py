"""Learning-rate schedules stepped once per optimizer step.

:class:`CosineAnnealing` is AASIST's schedule (``utils.py`` of clovaai/aasist,
``scheduler: cosine``): from the optimizer's initial learning rate down to
``lr_min`` along half a cosine, over every step of the run. The Brain calls
it after each optimizer step (``lr_scheduler`` in the hparams) and fills in
the number of steps from the training loader when the hparams leave it out.

Authors
 * dpda contributors 2026
"""

import math

import torch
from speechbrain.utils.checkpoints import (
    mark_as_loader,
    mark_as_saver,
    register_checkpoint_hooks,
)


@register_checkpoint_hooks
class CosineAnnealing:
    """Cosine decay of the learning rate, one update per optimizer step.

    After ``k`` steps every parameter group has
    ``lr_min + (lr_0 - lr_min) (1 + cos(pi k / total_steps)) / 2``, with
    ``lr_0`` its learning rate before the first step; past ``total_steps``
    it stays at ``lr_min``. Checkpointable: the step count and ``lr_0``
    are saved, so a resumed run continues the same curve.

    Arguments
    ---------
    lr_min : float
        Final learning rate.
    total_steps : int, optional
        Steps of the whole run; ``None`` lets the Brain set it
        (epochs x optimizer steps per epoch) before training.

    Example
    -------
    >>> model = torch.nn.Linear(2, 1)
    >>> opt = torch.optim.SGD(model.parameters(), lr=1.0)
    >>> schedule = CosineAnnealing(lr_min=0.0, total_steps=4)
    >>> lrs = []
    >>> for _ in range(5):
    ...     opt.step()
    ...     schedule(opt)
    ...     lrs.append(round(opt.param_groups[0]["lr"], 4))
    >>> lrs
    [0.8536, 0.5, 0.1464, 0.0, 0.0]
    """

    def __init__(self, lr_min, total_steps=None):
        self.lr_min = float(lr_min)
        self.total_steps = None if total_steps is None else int(total_steps)
        self.n_steps = 0
        self.initial_lrs = None

    def __call__(self, optimizer):
        """Advance one step and set the learning rates of ``optimizer``."""
        if self.total_steps is None or self.total_steps < 1:
            raise ValueError(
                "CosineAnnealing needs total_steps >= 1 (set it in the hparams, "
                "or let the Brain set it from the training loader)"
            )
        if self.initial_lrs is None:
            self.initial_lrs = [group["lr"] for group in optimizer.param_groups]
        self.n_steps += 1
        progress = min(self.n_steps, self.total_steps) / self.total_steps
        factor = 0.5 * (1 + math.cos(math.pi * progress))
        for group, lr_0 in zip(optimizer.param_groups, self.initial_lrs):
            group["lr"] = self.lr_min + (lr_0 - self.lr_min) * factor

    @mark_as_saver
    def save(self, path):
        """Save the step count, the total and the initial learning rates."""
        state = {
            "n_steps": self.n_steps,
            "total_steps": self.total_steps,
            "initial_lrs": self.initial_lrs,
        }
        torch.save(state, path)

    @mark_as_loader
    def load(self, path, end_of_epoch=False):
        """Restore what :meth:`save` wrote."""
        del end_of_epoch
        state = torch.load(path, weights_only=True)
        self.n_steps = state["n_steps"]
        self.total_steps = state["total_steps"]
        self.initial_lrs = state["initial_lrs"]
