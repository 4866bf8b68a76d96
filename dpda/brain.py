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

import functools
import json
import logging
import math
import os

import speechbrain as sb
import torch
import torch.nn.functional as F
import yaml
from speechbrain.utils.checkpoints import (
    average_checkpoints,
    mark_as_loader,
    mark_as_saver,
    register_checkpoint_hooks,
)
from speechbrain.utils.distributed import ddp_all_reduce

from dpda.alignment import get_aligner
from dpda.alignment.stats import (
    epoch_summary,
    stat_fields,
    step_stats,
    write_epoch_rows,
)
from dpda.augment import RawBoost
from dpda.checkpoints import RNGState
from dpda.labels import BONAFIDE_INDEX
from dpda.metrics import eer_report, warn_ties
from dpda.scores import bonafide_scores, write_scores

logger = logging.getLogger(__name__)

#: How DPDABrain runs its paths (hparams ``dpda_mode``): one at a time, or
#: one forward of the concatenated batch.
DPDA_MODES = ("split", "joint")
#: Which gradients are aligned under DDP (hparams ``ddp_align``): the global
#: ones, or each process's own.
DDP_ALIGN_MODES = ("exact", "local")
#: Where RawBoost runs (hparams ``rawboost_position``): on the whole file in
#: the data loader's workers, then cropped (the DPDA authors' order), or on
#: the cropped batch on the training device.
RAWBOOST_POSITIONS = ("before_crop", "after_crop")
#: How a dev or test pass averages its batch losses (hparams ``dev_loss``):
#: SpeechBrain's mean over batches, or the DPDA authors' mean over utterances.
DEV_LOSS_MODES = ("batch_mean", "utterance_mean")


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


def grads_are_finite(grads):
    """Whether every gradient in ``grads`` is finite (one host sync).

    Arguments
    ---------
    grads : list of torch.Tensor or None
        Gradients; ``None`` entries are ignored.

    Returns
    -------
    bool

    Example
    -------
    >>> grads_are_finite([torch.ones(3), None])
    True
    >>> grads_are_finite([torch.ones(3), torch.tensor([float("nan")])])
    False
    """
    present = [g for g in grads if g is not None]
    if not present:
        return True
    norms = torch._foreach_norm(present)
    return bool(torch.isfinite(torch.stack([n.float().cpu() for n in norms])).all())


@register_checkpoint_hooks
class AntiSpoofBrain(sb.Brain):
    """Single-path training of a spoofing countermeasure.

    Expected hparams: ``model`` (in ``modules``), ``class_weights``,
    ``augment`` (a module ``(wavs, lengths) -> wavs``, or ``None`` for no
    augmentation), ``epoch_counter``, ``train_logger``, ``output_folder`` and
    ``keep_checkpoints``. Optional: ``avg_checkpoints`` (evaluate the average
    of the k checkpoints with the lowest dev loss; default 1, the best one),
    ``max_nonfinite_steps`` (stop after that many consecutive optimizer
    steps with non-finite gradients; default 10), ``rawboost_position``
    (:func:`loader_views`; default ``after_crop``) and ``dev_loss``
    (:meth:`evaluation_loss`; default ``batch_mean``).

    An optimizer step whose gradients are not finite (a NaN/inf loss or
    gradient in any path) is skipped, counted (``skipped_steps`` in the train
    log) and logged. SpeechBrain's own machinery does not fit a step that
    must be skipped whole: ``skip_nonfinite_grads`` zeroes the gradients and
    still steps (Adam's moments and weight decay still move the weights, and
    an aligner would combine zeros), and ``nonfinite_patience`` counts
    non-finite losses through a host synchronisation after every backward.
    So the skip is decided once per optimizer step from the gradients
    (:meth:`step_is_finite`), and ``max_nonfinite_steps`` bounds the skipped
    steps in a row; ``check_loss_isfinite`` checks nothing. Batches that the data pipeline emptied (every item bad,
    in ``on_bad_audio: skip`` mode) arrive as ``None`` and are passed over.
    The random generators and the epoch's partial statistics are
    checkpointed, so an intra-epoch checkpoint resumes bitwise identically.
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.class_weights = torch.tensor(self.hparams.class_weights, dtype=torch.float)
        self.eval_set_name = "test"
        self.eval_results = {}
        self.train_stats = {}
        self.skipped_steps = 0
        self.consecutive_skips = 0
        self.max_nonfinite_steps = getattr(self.hparams, "max_nonfinite_steps", 10)
        self.augment_paths = augmented_paths(self.hparams)
        self.loader_views = loader_views(self.hparams)
        self.dev_loss = getattr(self.hparams, "dev_loss", "batch_mean")
        if self.dev_loss not in DEV_LOSS_MODES:
            raise ValueError(
                f"dev_loss must be one of {DEV_LOSS_MODES}, got {self.dev_loss!r}"
            )
        self.eval_batch_losses = []
        self.eval_batch_sizes = []
        self.averaged_epochs = []
        self.evaluation_weights = None
        keep = getattr(self.hparams, "keep_checkpoints", None)
        average = getattr(self.hparams, "avg_checkpoints", 1) or 1
        if keep is not None and average > keep:
            raise ValueError(
                f"avg_checkpoints={average} needs keep_checkpoints >= {average}, "
                f"got {keep}"
            )
        self.rng_state = RNGState()
        if self.checkpointer is not None:
            # Optional: checkpoints written before it existed still load.
            self.checkpointer.add_recoverable("rng", self.rng_state, optional_load=True)

    # -- checkpointed state --------------------------------------------------
    def extra_state(self):
        """Per-epoch state saved in intra-epoch checkpoints (override)."""
        return {"skipped_steps": self.skipped_steps}

    def load_extra_state(self, state):
        """Restore what ``extra_state`` returned (override)."""
        self.skipped_steps = state.get("skipped_steps", 0)

    @mark_as_saver
    def _save(self, path):
        state = {
            "step": self.step,
            "avg_train_loss": float(self.avg_train_loss),
            "optimizer_step": self.optimizer_step,
            "extra": self.extra_state(),
        }
        with open(path, "w", encoding="utf-8") as f:
            json.dump(state, f)

    @mark_as_loader
    def _recover(self, path, end_of_epoch):
        del end_of_epoch
        with open(path, encoding="utf-8") as f:
            # JSON is a subset of YAML: SpeechBrain's own format loads too.
            state = yaml.safe_load(f)
        self.step = state["step"]
        self.avg_train_loss = state["avg_train_loss"]
        self.optimizer_step = state["optimizer_step"]
        self.load_extra_state(state.get("extra", {}))

    # -- non-finite steps ------------------------------------------------------
    def check_loss_isfinite(self, loss):
        """Check nothing here (no host synchronisation per backward): a
        non-finite loss makes non-finite gradients, and the step is skipped
        and counted in ``optimizers_step`` (:meth:`step_is_finite`)."""
        del loss

    def step_is_finite(self, *grad_lists):
        """Decide whether this optimizer step is taken: the one place for it.

        The step is taken only if every gradient of every path is finite.
        Under DDP the decision is shared by all processes (a process whose
        own gradients are non-finite makes every process skip), so their
        parameters, aligner states and collective calls stay in step.

        Arguments
        ---------
        *grad_lists : list of torch.Tensor or None
            The gradients of each path (one list for a single path).

        Returns
        -------
        bool
        """
        finite = all(grads_are_finite(grads) for grads in grad_lists)
        if self.distributed_launch and torch.distributed.is_initialized():
            flag = torch.tensor([1.0 if finite else 0.0], device=self.device)
            torch.distributed.all_reduce(flag, op=torch.distributed.ReduceOp.MIN)
            finite = bool(flag.item() > 0)
        return finite

    def skip_optimizer_step(self, reason):
        """Drop this step's gradients without stepping, and count it.

        With a GradScaler the scale backs off as GradScaler does on a
        non-finite step (the factor ``backoff_factor``, growth count reset),
        since it never sees these gradients.
        """
        self.optimizer.zero_grad(set_to_none=True)
        if self.scaler.is_enabled():
            self.scaler.update(
                new_scale=self.scaler.get_scale() * self.scaler.get_backoff_factor()
            )
            self.scaler._growth_tracker.fill_(0)
        self.count_skipped_step(reason)

    def trainable_parameters(self):
        """The parameters the optimizer steps (and DPDA aligns)."""
        return [p for p in self.modules.parameters() if p.requires_grad]

    def path_gradients(self):
        """The gradients of each path of this step: one path here (override)."""
        return [[p.grad for p in self.trainable_parameters()]]

    def combine_paths(self, paths):
        """Put the step's gradient in ``.grad``: already there for one path
        (override)."""
        del paths

    def optimizers_step(self):
        """Step unless a gradient of any path is non-finite; count skipped steps.

        The learning-rate schedule (``lr_scheduler``, optional) advances
        after every optimizer step, skipped or not, so that it follows the
        batches as in the reference recipes.
        """
        paths = self.path_gradients()
        if not self.step_is_finite(*paths):
            self.skip_optimizer_step("non-finite loss or gradients")
        else:
            self.combine_paths(paths)
            self.consecutive_skips = 0
            super().optimizers_step()
        schedule = getattr(self.hparams, "lr_scheduler", None)
        if schedule is not None:
            schedule(self.optimizer)

    def count_skipped_step(self, reason):
        """Count and log a skipped optimizer step; stop if they repeat."""
        self.skipped_steps += 1
        self.consecutive_skips += 1
        logger.warning(
            "Skipped the optimizer step at epoch %s, batch %d: %s "
            "(%d skipped this epoch, %d in a row)",
            self.hparams.epoch_counter.current,
            self.step,
            reason,
            self.skipped_steps,
            self.consecutive_skips,
        )
        if self.consecutive_skips >= self.max_nonfinite_steps:
            raise RuntimeError(
                f"{self.consecutive_skips} consecutive optimizer steps had "
                "non-finite losses or gradients; training stopped. The last "
                f"checkpoint in {self.checkpointer.checkpoints_dir if self.checkpointer else '(none)'} "
                "is intact: lower the learning rate, check the audio (the "
                "on_bad_audio option) or train in fp32, then resume."
            )

    def _should_save_intra_epoch_ckpt(self, last_ckpt_time, steps_since_ckpt):
        # Only between optimizer steps: gradients accumulated towards the next
        # step (and DPDA's clean-path store) are not part of a checkpoint.
        if self.step % self.grad_accumulation_factor:
            return False
        return super()._should_save_intra_epoch_ckpt(last_ckpt_time, steps_since_ckpt)

    # -- batches -------------------------------------------------------------
    def on_fit_batch_start(self, batch, should_step):
        """Restore the generators of an intra-epoch checkpoint, if pending."""
        self.rng_state.apply_pending()

    def make_dataloader(self, dataset, stage, *args, **loader_kwargs):
        """Make a loader as SpeechBrain does; remember the training loader's length."""
        loader = super().make_dataloader(dataset, stage, *args, **loader_kwargs)
        if stage == sb.Stage.TRAIN:
            try:
                self.train_batches_per_epoch = len(loader)
            except TypeError:  # an iterable dataset of unknown length
                self.train_batches_per_epoch = None
        return loader

    def on_fit_start(self):
        """Size the learning-rate schedule, then recover; forget the evaluated weights.

        A schedule without ``total_steps`` (e.g. :class:`dpda.schedulers.CosineAnnealing`)
        gets epochs x optimizer steps per epoch, from the training loader;
        a recovered checkpoint then restores its own.
        """
        self.evaluation_weights = None
        schedule = getattr(self.hparams, "lr_scheduler", None)
        if schedule is not None and getattr(schedule, "total_steps", 0) is None:
            batches = getattr(self, "train_batches_per_epoch", None)
            if not batches:
                raise ValueError(
                    "lr_scheduler needs total_steps: the training loader has no length"
                )
            steps = -(-batches // self.grad_accumulation_factor)
            schedule.total_steps = self.hparams.epoch_counter.limit * steps
        super().on_fit_start()

    def fit_batch(self, batch):
        """Train on one batch; pass over a batch emptied by the pipeline."""
        if batch is None:
            logger.warning("Batch %d held no readable audio; skipped", self.step)
            return torch.tensor(float(self.avg_train_loss))
        return super().fit_batch(batch)

    def evaluate_batch(self, batch, stage):
        """Score one batch; pass over a batch emptied by the pipeline."""
        if batch is None:
            losses = self.eval_batch_losses
            return torch.tensor(sum(losses) / len(losses) if losses else 0.0)
        loss = super().evaluate_batch(batch, stage)
        self.eval_batch_losses.append(float(loss))
        self.eval_batch_sizes.append(len(batch.id))
        return loss

    def evaluation_loss(self, running_mean):
        """The loss of a dev or test pass, averaged as hparams ``dev_loss`` says.

        ``batch_mean``: SpeechBrain's running mean of the batch losses, each
        batch counted once (the smaller last batch too). ``utterance_mean``:
        the DPDA authors' ``sum_b n_b L_b / N`` (``evaluate_accuracy`` in
        ``main.py`` of dpda_ga, dev batches of 8), ``L_b`` the batch's
        class-weighted mean cross entropy (``sum w_y l / sum w_y`` over the
        batch, as ``nn.CrossEntropyLoss(weight=...)``), ``n_b`` its
        utterances and ``N`` theirs in all: every utterance counts once, but
        the class weights are normalised batch by batch, so the value still
        depends on the batch size. In both, non-finite batch losses are
        left out, as in SpeechBrain's mean.

        Arguments
        ---------
        running_mean : float
            SpeechBrain's running mean of the pass.

        Returns
        -------
        float
        """
        if self.dev_loss == "batch_mean":
            return running_mean
        pairs = [
            (loss, n)
            for loss, n in zip(self.eval_batch_losses, self.eval_batch_sizes)
            if math.isfinite(loss)
        ]
        total = sum(n for _, n in pairs)
        if not total:
            return float("nan")
        return sum(loss * n for loss, n in pairs) / total

    # -- forward and loss -------------------------------------------------
    def augmented_input(self, name, batch, wavs, lens):
        """The waveforms of augmented path ``name``.

        The view that the data loader's workers computed (``sig_<name>``,
        :func:`loader_views`), or the augmentation applied here to the batch
        on its device (identity when it is ``None``).
        """
        if name in self.loader_views:
            view, _ = getattr(batch, f"sig_{name}")
            return view
        augment = self.augment_paths[name]
        if augment is None:
            return wavs
        return augment(wavs, lens)

    def compute_forward(self, batch, stage):
        """Score a batch; training batches are augmented (baseline)."""
        batch = batch.to(self.device)
        wavs, lens = batch.sig
        if stage == sb.Stage.TRAIN:
            wavs = self.augmented_input("aug", batch, wavs, lens)
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
                bonafide_scores(predictions.detach()).cpu().tolist()
            )
            self.trial_labels.extend(batch.label_id.cpu().tolist())
        return loss

    # -- stages ------------------------------------------------------------
    def on_stage_start(self, stage, epoch=None):
        """Reset the score stores and, for training, the epoch's counters."""
        self.trial_ids, self.trial_scores, self.trial_labels = [], [], []
        self.eval_batch_losses, self.eval_batch_sizes = [], []
        if stage == sb.Stage.TRAIN:
            # The workers' views are seeded per epoch (add_augmented_view).
            for augment, _ in self.loader_views.values():
                augment.epoch = epoch
        if stage == sb.Stage.TRAIN and self.step == 0:
            # Not when resuming mid-epoch: the counters were restored.
            self.skipped_steps = 0

    def trial_eer(self, name):
        """EER report (:func:`dpda.metrics.eer_report`) of this stage's scores.

        Cross-class ties are logged, under ``name``, with the tie-robust EER
        beside the package's value.
        """
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
        report = eer_report(bona, spoof)
        warn_ties(report, name)
        return report

    def on_stage_end(self, stage, stage_loss, epoch=None):
        """Log, checkpoint on dev loss, stop early, write score files.

        The test stage writes ``scores/<set>.txt`` only: the metrics are
        computed once, from that file, by :func:`dpda.evaluation.report_evaluation`.
        """
        if stage == sb.Stage.TRAIN:
            self.train_stats = {
                "loss": stage_loss,
                **self.train_epoch_stats(epoch),
                "skipped_steps": self.skipped_steps,
            }
            return
        stage_loss = self.evaluation_loss(stage_loss)
        if stage == sb.Stage.VALID:
            eer = self.trial_eer("dev")["EER"]
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
                meta={"loss": stage_loss, "EER": eer * 100, "epoch": epoch},
                min_keys=["loss"],
                num_to_keep=self.hparams.keep_checkpoints,
            )
        else:
            name = self.eval_set_name
            score_file = os.path.join(
                self.hparams.output_folder, "scores", f"{name}.txt"
            )
            write_scores(score_file, self.trial_ids, self.trial_scores)
            self.eval_results[name] = {"loss": stage_loss, "score_file": score_file}
            self.hparams.train_logger.log_stats(
                stats_meta={
                    "Evaluation set": name,
                    "Epoch loaded": self.hparams.epoch_counter.current,
                },
                test_stats={"loss": stage_loss},
            )

    def train_epoch_stats(self, epoch):
        """Extra training statistics for the train log (override)."""
        return {}

    def on_evaluate_start(self, max_key=None, min_key=None):
        """Load the best checkpoint, or the average of the ``avg_checkpoints`` best.

        The average weighs each of the k checkpoints with the lowest dev loss
        exactly once. The authors' loop (``main.py`` of dpda_ga) does not:
        it keeps ``sd = model.state_dict()``, whose tensors share storage
        with the model, then loads each further checkpoint into the model,
        which overwrites ``sd`` in place. With their 5 files ``best_0`` (the
        lowest dev loss) to ``best_4`` it computes
        ``(2 * best_1 + best_2 + best_3 + best_4) / 5``: the best checkpoint
        is lost and the second best counted twice
        (``tests/test_brain.py::test_the_authors_average_loses_the_best_checkpoint``
        runs their loop).
        """
        k = int(getattr(self.hparams, "avg_checkpoints", 1) or 1)
        if self.evaluation_weights == (max_key, min_key, k):
            return  # already loaded for a previous evaluation set
        super().on_evaluate_start(max_key=max_key, min_key=min_key)
        self.evaluation_weights = (max_key, min_key, k)
        self.averaged_epochs = []
        if self.checkpointer is None or k <= 1:
            return
        ckpts = self.checkpointer.find_checkpoints(
            max_key=max_key, min_key=min_key, max_num_checkpoints=k
        )
        if not ckpts:
            return
        averaged = average_checkpoints(
            ckpts,
            "model",
            parameter_loader=functools.partial(torch.load, weights_only=True),
        )
        model = self.checkpointer.recoverables["model"]
        model.load_state_dict(averaged, strict=True)
        self.averaged_epochs = [c.meta.get("epoch") for c in ckpts]
        logger.info(
            "Evaluating the average of %d checkpoints (dev loss %s)",
            len(ckpts),
            ", ".join(
                f"{c.meta.get(min_key or max_key, float('nan')):.4f}" for c in ckpts
            ),
        )

    def evaluate_set(self, name, dataset, loader_kwargs=None):
        """Score one set with the best checkpoint (lowest dev loss), to a file.

        With ``avg_checkpoints`` k > 1 in the hparams, the average of the k
        best checkpoints is scored instead.

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
            ``loss``, ``score_file`` and, with an average, ``averaged_epochs``:
            the fields of the set's report
            (:func:`dpda.evaluation.report_evaluation`).
        """
        self.eval_set_name = name
        self.evaluate(dataset, min_key="loss", test_loader_kwargs=loader_kwargs or {})
        result = self.eval_results[name]
        if self.averaged_epochs:
            result["averaged_epochs"] = self.averaged_epochs
        return result


class DPDABrain(AntiSpoofBrain):
    """Data-augmented training through several paths with gradient alignment.

    Each step runs a clean path and one or more augmented paths with the
    same labels. Their gradients are kept apart, combined by the aligner
    (``hparams.aligner`` name and ``hparams.aligner_kwargs``), and the
    optimizer steps on the combination.

    The augmented paths are ``hparams.augment_paths``, a mapping of path
    names to augmentations, in order (e.g. ``{rawboost: ..., codec: ...}``);
    without it, ``hparams.augment`` is the one augmented path (``aug``): the
    dual-path DPDA of the paper. An augmentation that runs on the training
    device (:class:`dpda.augment.RawBoost` with ``rawboost_position:
    after_crop``) is applied in :meth:`fit_batch`; the others
    (:func:`loader_views`: one marked ``loader_side``, e.g.
    :class:`dpda.augment.Codec`, and RawBoost with ``before_crop``) are
    applied by the data loader's workers, which hand the view of each
    utterance over as ``sig_<name>``
    (:func:`dpda.data.pipelines.add_augmented_view`).

    ``hparams.dpda_mode`` is ``split`` (forward and backward of each path in
    turn: the activation memory of one path) or ``joint`` (one forward of the
    concatenated K x B batch, as the paper's code, so batch norm sees every
    path together). Under DDP (``torchrun``), ``hparams.ddp_align`` is
    ``exact`` (align the all-reduced global gradients: the same update as one
    process on the global batch) or ``local`` (each process aligns its own
    gradients, then one all-reduce of the result). With K paths the extra
    memory is K - 1 gradient buffers. Every recipe hparams file writes both
    keys; a Brain built in code without them (tests, benchmarks) runs
    ``split`` and ``exact``, the defaults written once, in ``__init__``.

    The per-step alignment statistics go to ``alignment_stats.csv`` in the
    output folder (with K > 2 paths, the cosine and the conflict of every
    pair of paths, the norm and the weight of every path), and the epoch's
    conflict rate and mean cosine to the train log.
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        kwargs_aligner = dict(getattr(self.hparams, "aligner_kwargs", None) or {})
        self.aligner = get_aligner(self.hparams.aligner, **kwargs_aligner)
        self.path_names = ["clean", *self.augment_paths]
        self.dpda_mode = getattr(self.hparams, "dpda_mode", "split")
        if self.dpda_mode not in DPDA_MODES:
            raise ValueError(
                f"dpda_mode must be one of {DPDA_MODES}, got {self.dpda_mode!r}"
            )
        self.ddp_align = getattr(self.hparams, "ddp_align", "exact")
        if self.ddp_align not in DDP_ALIGN_MODES:
            raise ValueError(
                f"ddp_align must be one of {DDP_ALIGN_MODES}, got {self.ddp_align!r}"
            )
        if (
            self.distributed_launch
            and self.dpda_mode == "joint"
            and self.ddp_align == "exact"
        ):
            # DDP synchronises one backward per forward; joint mode runs K.
            raise ValueError(
                "dpda_mode=joint under DDP needs ddp_align=local; use "
                "dpda_mode=split for exact alignment of the global gradients"
            )
        # The accumulated gradients of every path but the last (which
        # accumulates in ``.grad``), between optimizer steps.
        self.path_grads = None
        self.epoch_align_stats = []
        if self.checkpointer is not None:
            self.checkpointer.add_recoverable(
                "aligner",
                self.aligner,
                custom_load_hook=_load_aligner,
                custom_save_hook=_save_aligner,
            )

    @property
    def clean_grads(self):
        """The clean path's gradients accumulated towards the next step."""
        return None if self.path_grads is None else self.path_grads[0]

    def _backward(self, loss, retain_graph=False):
        scaled = self.scaler.scale(loss / self.grad_accumulation_factor)
        scaled.backward(retain_graph=retain_graph)

    def _swap_grads(self, params, grads):
        """Put ``grads`` in ``.grad`` and return what was there (no copy)."""
        previous = [p.grad for p in params]
        for p, g in zip(params, grads):
            p.grad = g
        return previous

    def path_input(self, index, batch, wavs, lens):
        """The waveforms of path ``index`` (0: clean)."""
        if index == 0:
            return wavs
        return self.augmented_input(self.path_names[index], batch, wavs, lens)

    def fit_batch(self, batch):
        """Train on one batch through the clean and the augmented paths."""
        if batch is None:
            return super().fit_batch(batch)
        should_step = (self.step % self.grad_accumulation_factor) == 0
        self.on_fit_batch_start(batch, should_step)
        batch = batch.to(self.device)
        wavs, lens = batch.sig
        params = self.trainable_parameters()
        n_paths = len(self.path_names)
        if self.path_grads is None:
            self.path_grads = [[None] * len(params) for _ in range(n_paths - 1)]
        stores = self.path_grads

        # exact: DDP all-reduces each path's gradient, the aligner sees the
        # global gradients (identical on every rank). local: each rank aligns
        # its own gradients and the result is all-reduced once.
        sync_now = should_step and self.ddp_align == "exact"
        logits, losses = [], []
        with self.no_sync(not sync_now):
            if self.dpda_mode == "split":
                # Path k accumulates into its store; the last path's
                # accumulation waits aside, then accumulates in .grad.
                last_grads = self._swap_grads(params, stores[0])
                for k in range(n_paths):
                    with self.training_ctx:
                        logits.append(
                            self.modules.model(
                                self.path_input(k, batch, wavs, lens), lens
                            )
                        )
                        losses.append(self.path_loss(logits[k], batch))
                    self._backward(losses[k])
                    if k < n_paths - 1:
                        following = stores[k + 1] if k < n_paths - 2 else last_grads
                        stores[k] = self._swap_grads(params, following)
            else:
                with self.training_ctx:
                    views = [
                        self.path_input(k, batch, wavs, lens) for k in range(n_paths)
                    ]
                    out = self.modules.model(
                        torch.cat(views), torch.cat([lens] * n_paths)
                    )
                    logits = list(out.chunk(n_paths))
                    losses = [self.path_loss(lg, batch) for lg in logits]
                last_grads = self._swap_grads(params, stores[0])
                for k in range(n_paths - 1):
                    # The graph is shared: keep it for the next backward.
                    self._backward(losses[k], retain_graph=True)
                    following = stores[k + 1] if k < n_paths - 2 else last_grads
                    stores[k] = self._swap_grads(params, following)
                self._backward(losses[-1])

        if should_step:
            self.optimizers_step()

        loss = sum(lo.detach() for lo in losses) / n_paths
        self.on_fit_batch_end(batch, tuple(logits), loss, should_step)
        return loss.cpu()

    def path_gradients(self):
        """The accumulated gradients of every path, the last one's in
        ``.grad``; the stores are handed over.

        ``optimizers_step`` skips the whole step when any of them is
        non-finite, so the aligner and its state never see such gradients.
        """
        paths = [*self.path_grads, [p.grad for p in self.trainable_parameters()]]
        self.path_grads = None
        return paths

    def combine_paths(self, paths):
        """Align the paths' gradients into ``.grad`` and record the statistics."""
        combined = self.aligner.combine(*paths)
        if self.ddp_align == "local" and self.distributed_launch:
            _all_reduce_mean(combined)
        self._swap_grads(self.trainable_parameters(), combined)
        self.record_alignment()

    def record_alignment(self):
        """Keep the aligner's statistics of this optimizer step, in real units.

        Under a GradScaler the gradients carry the loss scale ``s``: norms are
        divided by it (cosines and the aligner's weights do not depend on it).
        """
        gram, weights = (
            self.aligner.last_stats["gram"],
            self.aligner.last_stats["weights"],
        )
        scale = float(self.scaler.get_scale()) if self.scaler.is_enabled() else 1.0
        stats = step_stats(self.path_names, gram, weights, scale)
        stats["epoch"] = self.hparams.epoch_counter.current
        stats["step"] = self.optimizer_step + 1
        self.epoch_align_stats.append(stats)

    def on_stage_start(self, stage, epoch=None):
        """Reset the score stores and the epoch's alignment statistics."""
        super().on_stage_start(stage, epoch)
        if stage == sb.Stage.TRAIN and self.step == 0:
            # Not when resuming mid-epoch: the rows were restored.
            self.epoch_align_stats = []

    def extra_state(self):
        """Add the epoch's alignment rows to the intra-epoch checkpoints."""
        return {**super().extra_state(), "align_stats": self.epoch_align_stats}

    def load_extra_state(self, state):
        """Restore the epoch's alignment rows."""
        super().load_extra_state(state)
        self.epoch_align_stats = state.get("align_stats", [])

    def train_epoch_stats(self, epoch):
        """Conflict rate(s) and mean cosine of the epoch; rows to the CSV."""
        rows = self.epoch_align_stats
        if rows and sb.utils.distributed.if_main_process():
            path = os.path.join(self.hparams.output_folder, "alignment_stats.csv")
            write_epoch_rows(path, epoch, rows, stat_fields(self.path_names))
        return epoch_summary(self.path_names, rows)


def augmented_paths(hparams):
    """The augmented paths of the hparams, ``{name: augmentation}``, in order.

    ``augment_paths`` (a mapping) when given, else ``{"aug": augment}``
    (``augment: null`` is an identity path).

    Arguments
    ---------
    hparams : types.SimpleNamespace or dict
        The hparams.

    Returns
    -------
    dict

    Example
    -------
    >>> augmented_paths({"augment_paths": {"rawboost": abs, "codec": round}})
    {'rawboost': <built-in function abs>, 'codec': <built-in function round>}
    >>> augmented_paths({"augment": abs})
    {'aug': <built-in function abs>}
    >>> augmented_paths({"augment_paths": {"clean": abs}})
    Traceback (most recent call last):
    ...
    ValueError: augment_paths: 'clean' is not a valid path name (the clean path is always there; use letters, digits and _)
    """
    hparams = hparams if isinstance(hparams, dict) else vars(hparams)
    paths = hparams.get("augment_paths")
    if paths is None:
        # None: an identity path (the clean batch twice).
        return {"aug": hparams.get("augment")}
    if not paths:
        raise ValueError("augment_paths is empty: give at least one augmentation")
    for name in paths:
        if name == "clean" or not str(name).isidentifier():
            raise ValueError(
                f"augment_paths: {name!r} is not a valid path name (the clean "
                "path is always there; use letters, digits and _)"
            )
    return dict(paths)


def loader_views(hparams):
    """The augmented paths whose views the data loader's workers compute.

    An augmentation marked ``loader_side`` (e.g. :class:`dpda.augment.Codec`)
    augments the crop. :class:`dpda.augment.RawBoost` with
    ``rawboost_position: before_crop`` augments the whole file, which is then
    cropped like the clean path (the DPDA authors' order); with
    ``after_crop`` (the default) it runs on the cropped batch on the training
    device and is not listed here. The recipe adds these views to the
    training set (:func:`dpda.data.pipelines.add_augmented_view`) and the
    Brains read them from the batch.

    Arguments
    ---------
    hparams : types.SimpleNamespace or dict
        The hparams.

    Returns
    -------
    dict
        ``{name: (augmentation, whole_file)}``, in path order;
        ``whole_file`` is True for the views augmented before the crop.

    Example
    -------
    >>> rawboost = RawBoost(algo=4)
    >>> loader_views({"augment": rawboost, "rawboost_position": "after_crop"})
    {}
    >>> views = loader_views({"augment": rawboost, "rawboost_position": "before_crop"})
    >>> views["aug"][1]
    True
    """
    hparams = hparams if isinstance(hparams, dict) else vars(hparams)
    position = hparams.get("rawboost_position", "after_crop")
    if position not in RAWBOOST_POSITIONS:
        raise ValueError(
            f"rawboost_position must be one of {RAWBOOST_POSITIONS}, got {position!r}"
        )
    views = {}
    for name, augment in augmented_paths(hparams).items():
        if position == "before_crop" and isinstance(augment, RawBoost):
            views[name] = (augment, True)
        elif getattr(augment, "loader_side", False):
            views[name] = (augment, False)
    return views


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
