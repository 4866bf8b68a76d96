"""The Brain classes: single-path baseline and dual-path DPDA training.

``AntiSpoofBrain`` is the paper's baseline: every training utterance is
augmented (e.g. RawBoost) and the model is trained with a class-weighted cross
entropy. ``DPDABrain`` feeds each utterance through two paths, clean and
augmented, and combines the two paths' gradients with an aligner from
:mod:`dpda.alignment` before the optimizer step.

Both score trials with the bona fide logit (higher = more bona fide), compute
the EER on the dev set every epoch and write ``UTT_ID SCORE`` files for the
evaluation sets.

Authors
 * dpda contributors 2026
"""

import csv
import json
import logging
import os

import speechbrain as sb
import torch
import torch.nn.functional as F
from speechbrain.utils.distributed import ddp_all_reduce

from dpda.alignment import get_aligner
from dpda.metrics import compute_eer

logger = logging.getLogger(__name__)

BONAFIDE_INDEX = 1
ALIGN_STAT_FIELDS = (
    "epoch",
    "step",
    "cosine",
    "dot",
    "norm_clean",
    "norm_aug",
    "conflict",
    "coef_clean",
    "coef_aug",
)


def weighted_cross_entropy(logits, labels, class_weights):
    """Class-weighted cross entropy, as the paper's ``[spoof 0.1, bona fide 0.9]``.

    Arguments
    ---------
    logits : torch.Tensor
        ``[B, 2]`` logits (index 0 spoof, 1 bona fide).
    labels : torch.Tensor
        ``[B]`` class indices.
    class_weights : torch.Tensor
        ``[2]`` weights.

    Returns
    -------
    torch.Tensor
        The weighted mean loss (PyTorch's weighted-mean convention).

    Example
    -------
    >>> logits = torch.tensor([[2.0, 0.0], [0.0, 2.0]])
    >>> loss = weighted_cross_entropy(logits, torch.tensor([0, 1]), torch.tensor([0.1, 0.9]))
    >>> round(loss.item(), 4)
    0.1269
    """
    return F.cross_entropy(
        logits.float(), labels, weight=class_weights.to(logits.device)
    )


def write_scores(path, ids, scores):
    """Write an official ``UTT_ID SCORE`` score file atomically.

    Arguments
    ---------
    path : str
        Destination file.
    ids : list of str
        Trial ids.
    scores : list of float
        Scores (higher = more bona fide).
    """
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        for utt_id, score in zip(ids, scores):
            f.write(f"{utt_id} {score:.6f}\n")
    os.replace(tmp, path)


class AntiSpoofBrain(sb.Brain):
    """Single-path training of a spoofing countermeasure.

    Expected hparams: ``model`` (in ``modules``), ``class_weights``,
    ``augment`` (a module ``(wavs, lengths) -> wavs``, or ``None`` for no
    augmentation), ``epoch_counter``, ``train_logger``, ``output_folder`` and
    ``keep_checkpoints``.
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.class_weights = torch.tensor(self.hparams.class_weights, dtype=torch.float)
        self.eval_set_name = "test"
        self.eval_results = {}
        self.train_stats = {}

    # -- forward and loss -------------------------------------------------
    def augment(self, wavs, lens):
        """Apply the training augmentation (identity when none is configured)."""
        augment = getattr(self.hparams, "augment", None)
        if augment is None:
            return wavs
        return augment(wavs, lens)

    def compute_forward(self, batch, stage):
        """Score a batch; training batches are augmented (baseline)."""
        batch = batch.to(self.device)
        wavs, lens = batch.sig
        if stage == sb.Stage.TRAIN:
            wavs = self.augment(wavs, lens)
        return self.modules.model(wavs, lens)

    def path_loss(self, logits, batch):
        """Weighted cross entropy of one path."""
        return weighted_cross_entropy(
            logits, batch.label_id.to(logits.device), self.class_weights
        )

    def compute_objectives(self, predictions, batch, stage):
        """Compute the loss and, outside training, keep the trial scores."""
        loss = self.path_loss(predictions, batch)
        if stage != sb.Stage.TRAIN:
            self.trial_ids.extend(batch.id)
            self.trial_scores.extend(
                predictions[:, BONAFIDE_INDEX].detach().float().cpu().tolist()
            )
            self.trial_labels.extend(batch.label_id.cpu().tolist())
        return loss

    # -- stages ------------------------------------------------------------
    def on_stage_start(self, stage, epoch=None):
        """Reset the score stores."""
        self.trial_ids, self.trial_scores, self.trial_labels = [], [], []

    def trial_eer(self):
        """EER of the scores gathered in this stage."""
        bona = [
            s
            for s, y in zip(self.trial_scores, self.trial_labels)
            if y == BONAFIDE_INDEX
        ]
        spoof = [
            s
            for s, y in zip(self.trial_scores, self.trial_labels)
            if y != BONAFIDE_INDEX
        ]
        return compute_eer(bona, spoof)[0]

    def on_stage_end(self, stage, stage_loss, epoch=None):
        """Log, checkpoint on dev loss, stop early, write score files."""
        if stage == sb.Stage.TRAIN:
            self.train_stats = {"loss": stage_loss, **self.train_epoch_stats(epoch)}
            return
        eer = self.trial_eer()
        if stage == sb.Stage.VALID:
            counter = self.hparams.epoch_counter
            if hasattr(counter, "update_metric"):
                counter.update_metric(stage_loss)
            lr = self.optimizer.param_groups[0]["lr"]
            self.hparams.train_logger.log_stats(
                stats_meta={"epoch": epoch, "lr": lr},
                train_stats=self.train_stats,
                valid_stats={"loss": stage_loss, "EER": eer * 100},
            )
            self.checkpointer.save_and_keep_only(
                meta={"loss": stage_loss, "EER": eer * 100},
                min_keys=["loss"],
                num_to_keep=self.hparams.keep_checkpoints,
            )
        else:
            name = self.eval_set_name
            score_file = os.path.join(
                self.hparams.output_folder, "scores", f"{name}.txt"
            )
            write_scores(score_file, self.trial_ids, self.trial_scores)
            n_bona = sum(y == BONAFIDE_INDEX for y in self.trial_labels)
            self.eval_results[name] = {
                "EER": eer * 100,
                "loss": stage_loss,
                "trials": len(self.trial_ids),
                "bonafide": n_bona,
                "spoof": len(self.trial_ids) - n_bona,
                "score_file": score_file,
            }
            self.hparams.train_logger.log_stats(
                stats_meta={
                    "Evaluation set": name,
                    "Epoch loaded": self.hparams.epoch_counter.current,
                },
                test_stats={"loss": stage_loss, "EER": eer * 100},
            )

    def train_epoch_stats(self, epoch):
        """Extra training statistics for the train log (override)."""
        return {}

    def evaluate_set(self, name, dataset, loader_kwargs=None):
        """Score one evaluation set with the best checkpoint (lowest dev loss).

        Arguments
        ---------
        name : str
            Name of the set; the scores go to ``scores/<name>.txt``.
        dataset : speechbrain.dataio.dataset.DynamicItemDataset
            The trials.
        loader_kwargs : dict, optional
            DataLoader options.

        Returns
        -------
        dict
            EER (in %), loss, trial counts and the score-file path.
        """
        self.eval_set_name = name
        self.evaluate(dataset, min_key="loss", test_loader_kwargs=loader_kwargs or {})
        return self.eval_results[name]


class DPDABrain(AntiSpoofBrain):
    """Dual-path data-augmented training with gradient alignment.

    Each step runs a clean path and an augmented path with the same labels.
    Their gradients are kept apart, combined by the aligner (``hparams.aligner``
    name and ``hparams.aligner_kwargs``), and the optimizer steps on the
    combination. ``hparams.dpda_mode`` is ``split`` (forward and backward of
    each path in turn: the activation memory of one path) or ``joint`` (one
    forward of the concatenated 2B batch, as the paper's code, so batch norm
    sees both paths together). Under DDP (``torchrun``), ``hparams.ddp_align``
    is ``exact`` (align the all-reduced global gradients: the same update as
    one process on the global batch) or ``local`` (each process aligns its
    own gradients, then one all-reduce of the result).

    The per-step alignment statistics go to ``alignment_stats.csv`` in the
    output folder, and the epoch's conflict rate and mean cosine to the train
    log.
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        kwargs_aligner = dict(getattr(self.hparams, "aligner_kwargs", None) or {})
        self.aligner = get_aligner(self.hparams.aligner, **kwargs_aligner)
        self.dpda_mode = getattr(self.hparams, "dpda_mode", "split")
        if self.dpda_mode not in ("split", "joint"):
            raise ValueError(
                f"dpda_mode must be 'split' or 'joint', got {self.dpda_mode!r}"
            )
        self.ddp_align = getattr(self.hparams, "ddp_align", "exact")
        if self.ddp_align not in ("exact", "local"):
            raise ValueError(
                f"ddp_align must be 'exact' or 'local', got {self.ddp_align!r}"
            )
        if (
            self.distributed_launch
            and self.dpda_mode == "joint"
            and self.ddp_align == "exact"
        ):
            # DDP synchronises one backward per forward; joint mode runs two.
            raise ValueError(
                "dpda_mode=joint under DDP needs ddp_align=local; use "
                "dpda_mode=split for exact alignment of the global gradients"
            )
        self.clean_grads = None
        self.epoch_align_stats = []
        if self.checkpointer is not None:
            self.checkpointer.add_recoverable(
                "aligner",
                self.aligner,
                custom_load_hook=_load_aligner,
                custom_save_hook=_save_aligner,
            )

    def trainable_parameters(self):
        """The parameters whose gradients are aligned."""
        return [p for p in self.modules.parameters() if p.requires_grad]

    def _backward(self, loss, retain_graph=False):
        scaled = self.scaler.scale(loss / self.grad_accumulation_factor)
        self.check_loss_isfinite(scaled)
        scaled.backward(retain_graph=retain_graph)

    def _swap_grads(self, params, grads):
        """Put ``grads`` in ``.grad`` and return what was there (no copy)."""
        previous = [p.grad for p in params]
        for p, g in zip(params, grads):
            p.grad = g
        return previous

    def fit_batch(self, batch):
        """Train on one batch through the clean and the augmented path."""
        should_step = (self.step % self.grad_accumulation_factor) == 0
        self.on_fit_batch_start(batch, should_step)
        batch = batch.to(self.device)
        wavs, lens = batch.sig
        params = self.trainable_parameters()
        if self.clean_grads is None:
            self.clean_grads = [None] * len(params)

        # exact: DDP all-reduces each path's gradient, the aligner sees the
        # global gradients (identical on every rank). local: each rank aligns
        # its own gradients and the result is all-reduced once.
        sync_now = should_step and self.ddp_align == "exact"
        with self.no_sync(not sync_now):
            if self.dpda_mode == "split":
                # Clean path: accumulate into the clean store, keep the augmented
                # path's accumulation aside in the meantime.
                aug_grads = self._swap_grads(params, self.clean_grads)
                with self.training_ctx:
                    logits_clean = self.modules.model(wavs, lens)
                    loss_clean = self.path_loss(logits_clean, batch)
                self._backward(loss_clean)
                self.clean_grads = self._swap_grads(params, aug_grads)
                with self.training_ctx:
                    logits_aug = self.modules.model(self.augment(wavs, lens), lens)
                    loss_aug = self.path_loss(logits_aug, batch)
                self._backward(loss_aug)
            else:
                with self.training_ctx:
                    both = torch.cat([wavs, self.augment(wavs, lens)])
                    logits = self.modules.model(both, torch.cat([lens, lens]))
                    logits_clean, logits_aug = logits.chunk(2)
                    loss_clean = self.path_loss(logits_clean, batch)
                    loss_aug = self.path_loss(logits_aug, batch)
                aug_grads = self._swap_grads(params, self.clean_grads)
                # The graph is shared: keep it for the second backward.
                self._backward(loss_clean, retain_graph=True)
                self.clean_grads = self._swap_grads(params, aug_grads)
                self._backward(loss_aug)

        if should_step:
            combined = self.aligner.combine(self.clean_grads, [p.grad for p in params])
            if self.ddp_align == "local" and self.distributed_launch:
                _all_reduce_mean(combined)
            self._swap_grads(params, combined)
            self.clean_grads = None
            self.record_alignment()
            self.optimizers_step()

        loss = 0.5 * (loss_clean.detach() + loss_aug.detach())
        self.on_fit_batch_end(batch, (logits_clean, logits_aug), loss, should_step)
        return loss.cpu()

    def record_alignment(self):
        """Keep the aligner's statistics of this optimizer step."""
        stats = dict(self.aligner.last_stats)
        stats["epoch"] = self.hparams.epoch_counter.current
        stats["step"] = self.optimizer_step + 1
        stats["conflict"] = int(stats["conflict"])
        self.epoch_align_stats.append(stats)

    def on_stage_start(self, stage, epoch=None):
        """Reset the score stores and the epoch's alignment statistics."""
        super().on_stage_start(stage, epoch)
        if stage == sb.Stage.TRAIN:
            self.epoch_align_stats = []

    def train_epoch_stats(self, epoch):
        """Conflict rate and mean cosine of the epoch; rows to the CSV."""
        rows = self.epoch_align_stats
        if not rows:
            return {}
        path = os.path.join(self.hparams.output_folder, "alignment_stats.csv")
        new_file = not os.path.exists(path)
        with open(path, "a", encoding="utf-8", newline="") as f:
            writer = csv.DictWriter(
                f, fieldnames=ALIGN_STAT_FIELDS, extrasaction="ignore"
            )
            if new_file:
                writer.writeheader()
            writer.writerows(rows)
        return {
            "conflict_rate": sum(r["conflict"] for r in rows) / len(rows),
            "cosine": sum(r["cosine"] for r in rows) / len(rows),
        }


def _all_reduce_mean(grads):
    """Average gradients over the DDP processes, in place."""
    world_size = torch.distributed.get_world_size()
    for grad in grads:
        if grad is not None:
            # gloo has no AVG reduction: sum, then divide.
            ddp_all_reduce(grad, torch.distributed.ReduceOp.SUM).div_(world_size)


def _save_aligner(aligner, path):
    with open(path, "w", encoding="utf-8") as f:
        json.dump({"name": aligner.name, "state": aligner.state_dict()}, f)


def _load_aligner(aligner, path, end_of_epoch=True):
    del end_of_epoch  # The aligner state is the same at any point.
    with open(path, encoding="utf-8") as f:
        saved = json.load(f)
    if saved["name"] != aligner.name:
        logger.warning(
            "Checkpoint aligner %r differs from the configured %r; state not loaded",
            saved["name"],
            aligner.name,
        )
        return
    aligner.load_state_dict(saved["state"])
