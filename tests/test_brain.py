"""The DPDA step against plain training steps and direct computations.

The updates are compared with ``atol=1e-6``: the step and its direct
recomputation run the same forwards and backwards (same shapes, same
process, so the same kernels on any CPU) and differ by float32 rounding of
the paths' combination and of the update ``p - g`` only, about
``2**-24 * (max|p| + 3 * max|g|) < 2e-7`` (``|p| <= 1``, ``|g| < 1``).
"""

import copy

import numpy as np
import pytest
import speechbrain as sb
import torch
from conftest import (
    WEIGHTS,
    FixedNoise,
    flat,
    make_batch,
    make_brain,
    make_model,
    param_delta,
    path_grads,
    run_steps,
)
from speechbrain.dataio.batch import PaddedBatch

from dpda.augment import RawBoost
from dpda.brain import AntiSpoofBrain, DPDABrain, weighted_cross_entropy


def test_dpda_none_equals_plain_step_on_mean_loss(tmp_path):
    model = make_model()
    reference = copy.deepcopy(model)
    batch = make_batch(1)
    brain = make_brain(DPDABrain, model, tmp_path, aligner="none")
    before = flat([p.detach() for p in model.parameters()])
    run_steps(brain, [batch])

    wavs, _ = batch.sig
    aug = FixedNoise(800)
    loss = 0.5 * (
        weighted_cross_entropy(reference(wavs), batch.label_id, WEIGHTS)
        + weighted_cross_entropy(reference(aug(wavs)), batch.label_id, WEIGHTS)
    )
    loss.backward()
    expected = -flat([p.grad for p in reference.parameters()])
    np.testing.assert_allclose(param_delta(model, before), expected, atol=1e-6)


@pytest.mark.parametrize("gaf", [1, 2])
def test_dpda_pcgrad_matches_direct_flattened_computation(tmp_path, gaf):
    model = make_model(seed=3)
    reference = copy.deepcopy(model)
    batches = [make_batch(10 + i) for i in range(gaf)]
    brain = make_brain(DPDABrain, model, tmp_path, aligner="pcgrad", gaf=gaf)
    before = flat([p.detach() for p in model.parameters()])
    run_steps(brain, batches)

    aug = FixedNoise(800)
    g_clean = np.zeros_like(before)
    g_aug = np.zeros_like(before)
    for batch in batches:
        wavs, _ = batch.sig
        g_clean += flat(path_grads(reference, wavs, batch.label_id)) / gaf
        g_aug += flat(path_grads(reference, wavs, batch.label_id, aug)) / gaf
    dot = g_clean @ g_aug
    if dot < 0:
        update = 0.5 * (
            g_clean
            - dot / (g_aug @ g_aug) * g_aug
            + g_aug
            - dot / (g_clean @ g_clean) * g_clean
        )
    else:
        update = 0.5 * (g_clean + g_aug)
    np.testing.assert_allclose(param_delta(model, before), -update, atol=1e-6)
    gram = brain.aligner.last_stats["gram"]
    assert gram[0][1] == pytest.approx(dot, rel=1e-4, abs=1e-9)
    assert brain.epoch_align_stats[0]["cosine"] == pytest.approx(
        dot / np.linalg.norm(g_clean) / np.linalg.norm(g_aug), abs=1e-5
    )
    assert len(brain.epoch_align_stats) == 1


def test_pcgrad_step_with_a_conflict(tmp_path):
    """Force a conflict: same input, the second path's labels flipped."""

    class FlipBrain(DPDABrain):
        def path_loss(self, logits, batch):
            labels = batch.label_id
            if getattr(self, "_flip", False):
                labels = 1 - labels
            self._flip = not getattr(self, "_flip", False)
            return weighted_cross_entropy(logits, labels, self.class_weights)

    model = make_model(seed=5)
    reference = copy.deepcopy(model)
    batch = make_batch(7)
    brain = make_brain(FlipBrain, model, tmp_path, aligner="pcgrad", augment=False)
    # Balanced weights: with [0.1, 0.9] both paths would push towards bona fide.
    brain.class_weights = torch.tensor([0.5, 0.5])
    before = flat([p.detach() for p in model.parameters()])
    run_steps(brain, [batch])
    wavs, _ = batch.sig
    balanced = torch.tensor([0.5, 0.5])
    g1 = flat(path_grads(reference, wavs, batch.label_id, weights=balanced))
    g2 = flat(path_grads(reference, wavs, 1 - batch.label_id, weights=balanced))
    dot = g1 @ g2
    assert dot < 0 and brain.epoch_align_stats[0]["conflict"] == 1
    update = 0.5 * (g1 - dot / (g2 @ g2) * g2 + g2 - dot / (g1 @ g1) * g1)
    np.testing.assert_allclose(param_delta(model, before), -update, atol=1e-6)


def test_joint_mode_none_equals_plain_step_on_concatenated_batch(tmp_path):
    model = make_model(seed=4)
    reference = copy.deepcopy(model)
    batch = make_batch(2)
    brain = make_brain(DPDABrain, model, tmp_path, aligner="none", mode="joint")
    before = flat([p.detach() for p in model.parameters()])
    run_steps(brain, [batch])
    wavs, _ = batch.sig
    logits = reference(torch.cat([wavs, FixedNoise(800)(wavs)]))
    y = batch.label_id
    loss = 0.5 * (
        weighted_cross_entropy(logits[:6], y, WEIGHTS)
        + weighted_cross_entropy(logits[6:], y, WEIGHTS)
    )
    loss.backward()
    expected = -flat([p.grad for p in reference.parameters()])
    np.testing.assert_allclose(param_delta(model, before), expected, atol=1e-6)


def test_baseline_step_trains_on_augmented_batch(tmp_path):
    model = make_model(seed=6)
    reference = copy.deepcopy(model)
    batch = make_batch(3)
    brain = make_brain(AntiSpoofBrain, model, tmp_path)
    before = flat([p.detach() for p in model.parameters()])
    run_steps(brain, [batch])
    wavs, _ = batch.sig
    expected = -flat(path_grads(reference, wavs, batch.label_id, FixedNoise(800)))
    np.testing.assert_allclose(param_delta(model, before), expected, atol=1e-6)


def test_weighted_cross_entropy_matches_formula():
    logits = torch.tensor([[0.3, -1.2], [2.0, 0.5], [-0.4, 0.9]])
    labels = torch.tensor([1, 0, 1])
    logp = torch.log_softmax(logits, dim=1)
    w = WEIGHTS[labels]
    expected = -(w * logp[torch.arange(3), labels]).sum() / w.sum()
    assert weighted_cross_entropy(logits, labels, WEIGHTS).item() == pytest.approx(
        expected.item()
    )


def test_pcgrad_under_grad_scaler_equals_unscaled_step(tmp_path):
    """Both paths at the same loss scale, one unscale: the same update."""
    model = make_model(seed=8)
    reference = copy.deepcopy(model)
    batch = make_batch(9)
    brain = make_brain(DPDABrain, model, tmp_path, aligner="pcgrad")
    brain.scaler = torch.GradScaler("cpu", init_scale=2.0**12)
    before = flat([p.detach() for p in model.parameters()])
    run_steps(brain, [batch])

    wavs, _ = batch.sig
    g1 = flat(path_grads(reference, wavs, batch.label_id))
    g2 = flat(path_grads(reference, wavs, batch.label_id, FixedNoise(800)))
    dot = g1 @ g2
    if dot < 0:
        update = 0.5 * (g1 - dot / (g2 @ g2) * g2 + g2 - dot / (g1 @ g1) * g1)
    else:
        update = 0.5 * (g1 + g2)
    np.testing.assert_allclose(param_delta(model, before), -update, atol=1e-6)
    # The statistics are written in real units: the loss scale (2**12 on
    # the norms) is taken out.
    cos = dot / np.linalg.norm(g1) / np.linalg.norm(g2)
    row = brain.epoch_align_stats[0]
    assert row["cosine"] == pytest.approx(cos, abs=1e-5)
    assert row["cosine_clean_aug"] == row["cosine"]
    assert row["norm_clean"] == pytest.approx(np.linalg.norm(g1), rel=1e-5)
    assert row["norm_aug"] == pytest.approx(np.linalg.norm(g2), rel=1e-5)
    # The aligner itself saw the scaled gradients.
    assert brain.aligner.last_stats["gram"][0][1] == pytest.approx(
        dot * 2.0**24, rel=1e-4
    )


@pytest.mark.parametrize("bad_path", ["clean", "aug"])
def test_non_finite_path_skips_the_step_under_grad_scaler(tmp_path, bad_path):
    class BrokenPathBrain(DPDABrain):
        def path_loss(self, logits, batch):
            loss = super().path_loss(logits, batch)
            self._calls = getattr(self, "_calls", 0) + 1
            bad = self._calls % 2 == (1 if bad_path == "clean" else 0)
            return loss * float("inf") if bad else loss

    model = make_model(seed=9)
    brain = make_brain(BrokenPathBrain, model, tmp_path, aligner="pcgrad")
    brain.scaler = torch.GradScaler("cpu", init_scale=2.0**12, growth_interval=2)
    brain.nonfinite_count = 0  # Brain.fit() sets it
    before = flat([p.detach() for p in model.parameters()])
    run_steps(brain, [make_batch(4)])
    np.testing.assert_array_equal(param_delta(model, before), 0.0)
    assert brain.scaler.get_scale() == 2.0**11  # backed off as GradScaler does
    assert brain.skipped_steps == 1 and brain.optimizer_step == 0
    assert brain.epoch_align_stats == []  # the aligner never saw the step


@pytest.mark.parametrize("mode", ["split", "joint"])
@pytest.mark.parametrize("gaf", [1, 2])
@pytest.mark.parametrize("bad_path", ["clean", "aug", "both"])
def test_any_non_finite_path_skips_the_whole_step(tmp_path, mode, gaf, bad_path):
    """A NaN in either path (or both) skips the step: the optimizer never
    steps on the other path's gradients alone."""
    model = make_model(seed=11)
    brain = make_brain(
        NaNPathBrain, model, tmp_path, aligner="pcgrad", mode=mode, gaf=gaf
    )
    # path_loss calls: clean then augmented, for each batch.
    brain.bad_calls = {"clean": (1,), "aug": (2,), "both": (1, 2)}[bad_path]
    before = flat([p.detach() for p in model.parameters()])
    run_steps(brain, [make_batch(k) for k in range(1, gaf + 1)])
    np.testing.assert_array_equal(param_delta(model, before), 0.0)
    assert brain.skipped_steps == 1 and brain.optimizer_step == 0
    assert brain.epoch_align_stats == []
    assert all(p.grad is None for p in model.parameters())
    assert brain.clean_grads is None
    # The next step trains on both paths again.
    run_steps(brain, [make_batch(k) for k in range(10, 10 + gaf)])
    assert np.abs(param_delta(model, before)).max() > 0
    assert brain.optimizer_step == 1 and brain.skipped_steps == 1
    assert brain.consecutive_skips == 0


class NaNPathBrain(DPDABrain):
    """Makes the augmented path's loss NaN on chosen calls."""

    bad_calls = ()

    def path_loss(self, logits, batch):
        loss = super().path_loss(logits, batch)
        self._calls = getattr(self, "_calls", 0) + 1
        return loss * float("nan") if self._calls in self.bad_calls else loss


def test_non_finite_path_skips_step_without_touching_aligner_state(tmp_path):
    model = make_model(seed=4)
    brain = make_brain(NaNPathBrain, model, tmp_path, aligner="gradvac")
    brain.bad_calls = (4,)  # the augmented path of the second step
    run_steps(brain, [make_batch(1)])
    rho = brain.aligner.state_dict()
    after_first = flat([p.detach() for p in model.parameters()])
    run_steps(brain, [make_batch(2)])
    np.testing.assert_array_equal(param_delta(model, after_first), 0.0)
    assert brain.aligner.state_dict() == rho
    assert brain.skipped_steps == 1 and brain.optimizer_step == 1
    assert len(brain.epoch_align_stats) == 1
    # The next good step trains again and is not counted as skipped.
    run_steps(brain, [make_batch(3)])
    assert np.abs(param_delta(model, after_first)).max() > 0
    assert brain.consecutive_skips == 0 and brain.skipped_steps == 1


def test_repeated_non_finite_steps_stop_training_with_a_clear_message(tmp_path):
    model = make_model(seed=5)
    brain = make_brain(NaNPathBrain, model, tmp_path, aligner="pcgrad")
    brain.bad_calls = tuple(range(1, 100))
    brain.max_nonfinite_steps = 3
    run_steps(brain, [make_batch(1), make_batch(2)])
    with pytest.raises(RuntimeError, match="3 consecutive optimizer steps"):
        run_steps(brain, [make_batch(3)])


def test_baseline_skips_a_nan_loss_step(tmp_path):
    class NaNBrain(AntiSpoofBrain):
        def path_loss(self, logits, batch):
            return super().path_loss(logits, batch) * float("nan")

    model = make_model(seed=6)
    brain = make_brain(NaNBrain, model, tmp_path)
    before = flat([p.detach() for p in model.parameters()])
    run_steps(brain, [make_batch(1)])
    np.testing.assert_array_equal(param_delta(model, before), 0.0)
    assert brain.skipped_steps == 1
    assert all(p.grad is None for p in model.parameters())


@pytest.mark.parametrize("cls", [AntiSpoofBrain, DPDABrain])
def test_empty_batch_from_skipping_pipeline_is_passed_over(tmp_path, cls):
    model = make_model(seed=7)
    brain = make_brain(cls, model, tmp_path, aligner="pcgrad")
    brain.avg_train_loss = 0.25
    before = flat([p.detach() for p in model.parameters()])
    brain.step += 1
    assert brain.fit_batch(None).item() == 0.25
    np.testing.assert_array_equal(param_delta(model, before), 0.0)


def test_checkpoint_average_weighs_each_of_the_k_best_once(tmp_path):
    from speechbrain.utils.checkpoints import Checkpointer

    model = make_model(seed=8)
    checkpointer = Checkpointer(str(tmp_path / "save"), {"model": model})
    # Checkpoints with parameters all equal to `value`; dev losses in order.
    for value, loss in ((1.0, 0.5), (2.0, 0.1), (4.0, 0.9), (8.0, 0.2), (16.0, 0.3)):
        with torch.no_grad():
            for p in model.parameters():
                p.fill_(value)
        checkpointer.save_checkpoint(meta={"loss": loss, "epoch": value})
    brain = make_brain(AntiSpoofBrain, model, tmp_path)
    brain.checkpointer = checkpointer
    brain.hparams.avg_checkpoints = 3
    brain.on_evaluate_start(min_key="loss")
    # The three lowest losses: 0.1 (2.0), 0.2 (8.0), 0.3 (16.0).
    for p in model.parameters():
        torch.testing.assert_close(p.detach(), torch.full_like(p, 26.0 / 3))
    assert sorted(brain.averaged_epochs) == [2.0, 8.0, 16.0]
    brain.hparams.avg_checkpoints = 1
    brain.on_evaluate_start(min_key="loss")  # plain best checkpoint
    for p in model.parameters():
        torch.testing.assert_close(p.detach(), torch.full_like(p, 2.0))


def test_the_authors_average_loses_the_best_checkpoint(tmp_path):
    """A runnable demonstration of what the authors' averaging loop computes
    (their main.py, restated on a small model): ``sd`` shares storage with
    the model, so loading ``best_1`` overwrites ``sd`` before the sum."""
    torch.manual_seed(0)
    model = torch.nn.Linear(3, 2)
    values = [1.0, 2.0, 4.0, 8.0, 16.0]  # best_0 (lowest dev loss) .. best_4
    for i, value in enumerate(values):
        with torch.no_grad():
            for p in model.parameters():
                p.fill_(value)
        torch.save(model.state_dict(), tmp_path / f"best_{i}.pth")

    n_average_model = 5
    model.load_state_dict(torch.load(tmp_path / "best_0.pth"))
    sd = model.state_dict()
    for i in range(1, n_average_model):
        model.load_state_dict(torch.load(tmp_path / f"best_{i}.pth"))
        sd2 = model.state_dict()
        for key in sd:
            sd[key] = sd[key] + sd2[key]
    for key in sd:
        sd[key] = sd[key] / n_average_model
    model.load_state_dict(sd)

    theirs = (2 * values[1] + values[2] + values[3] + values[4]) / 5  # 6.4
    for p in model.parameters():
        torch.testing.assert_close(p.detach(), torch.full_like(p, theirs))
    assert theirs != sum(values) / 5  # 6.2, what "the 5 best" means (ours)


def test_average_needs_enough_kept_checkpoints(tmp_path):
    model = make_model()
    with pytest.raises(ValueError, match="keep_checkpoints >= 5"):
        AntiSpoofBrain(
            modules={"model": model},
            hparams={
                "class_weights": [0.1, 0.9],
                "keep_checkpoints": 2,
                "avg_checkpoints": 5,
            },
            run_opts={"device": "cpu"},
        )


def test_evaluate_set_writes_the_score_file_only(tmp_path):
    """The test stage writes scores/<set>.txt, one line per trial with the
    model's bona fide logit, and returns the loss and the file: the metrics
    are computed once, by dpda.evaluation.report_evaluation."""
    from speechbrain.dataio.dataset import DynamicItemDataset
    from speechbrain.utils.train_logger import FileTrainLogger

    from dpda.labels import BONAFIDE_INDEX
    from dpda.scores import read_score_file

    model = make_model(seed=3)
    log = tmp_path / "train_log.txt"
    brain = make_brain(
        AntiSpoofBrain, model, tmp_path, train_logger=FileTrainLogger(str(log))
    )
    wavs = torch.randn(5, 800, generator=torch.Generator().manual_seed(4))
    data = {f"t{i}": {"sig": wavs[i], "label_id": i % 2} for i in range(5)}
    dataset = DynamicItemDataset(data, output_keys=["id", "sig", "label_id"])
    result = brain.evaluate_set("toy", dataset, {"batch_size": 2})
    assert set(result) == {"loss", "score_file"} and np.isfinite(result["loss"])
    assert result["score_file"] == str(tmp_path / "scores" / "toy.txt")
    scores = read_score_file(result["score_file"])
    assert list(scores) == list(data)
    model.eval()
    with torch.no_grad():
        expected = model(wavs)[:, BONAFIDE_INDEX].numpy()
    # 6 decimals in the file (5e-7) plus float32 differences between batch
    # sizes 2 and 5 of logits below 10 in magnitude (a few ulp, < 5e-6).
    np.testing.assert_allclose(list(scores.values()), expected, rtol=0, atol=6e-6)
    line = log.read_text().splitlines()[-1]
    assert line.startswith("Evaluation set: toy") and "test loss" in line
    assert "EER" not in line


# ------------------------------------------------ rawboost_position, dev_loss
def rawboost_batch(seed, view_scale=None):
    """A batch; with ``view_scale``, each item also carries a loader view
    ``sig_aug`` (a known transform standing in for RawBoost in a worker)."""
    batch = make_batch(seed)
    if view_scale is None:
        return batch
    wavs, _ = batch.sig
    return PaddedBatch(
        [
            {"id": i, "sig": w, "sig_aug": view_scale * w.flip(0), "label_id": y}
            for i, w, y in zip(batch.id, wavs, batch.label_id.tolist())
        ]
    )


@pytest.mark.parametrize("cls", [AntiSpoofBrain, DPDABrain])
def test_before_crop_rawboost_path_reads_the_loader_view(tmp_path, cls):
    """With ``rawboost_position: before_crop`` the RawBoost path is the
    worker's view ``sig_aug`` (RawBoost is not called in the step), for the
    DPDA Brain and the single-path baseline alike."""

    class Forbidden(RawBoost):
        def forward(self, waveforms, lengths=None):
            raise AssertionError("RawBoost ran in the training step")

    model = make_model(seed=21)
    reference = copy.deepcopy(model)
    rawboost = Forbidden(algo=4)
    brain = make_brain(
        cls,
        model,
        tmp_path,
        augment_paths={"aug": rawboost},
        rawboost_position="before_crop",
    )
    assert brain.loader_views == {"aug": (rawboost, True)}
    brain.on_stage_start(sb.Stage.TRAIN, epoch=3)
    assert rawboost.epoch == 3  # seeds the workers' draws of this epoch
    batch = rawboost_batch(22, view_scale=0.7)
    before = flat([p.detach() for p in model.parameters()])
    run_steps(brain, [batch])
    wavs, _ = batch.sig
    view, _ = batch.sig_aug
    y = batch.label_id
    aug = [g.reshape(-1) for g in path_grads(reference, view, y)]
    if cls is DPDABrain:  # aligner none: the mean of the two paths
        clean = path_grads(reference, wavs, y)
        aug = [(c + a) / 2 for c, a in zip(clean, aug)]
    np.testing.assert_allclose(param_delta(model, before), -flat(aug), atol=1e-6)


@pytest.mark.parametrize("cls", [AntiSpoofBrain, DPDABrain])
def test_after_crop_rawboost_runs_on_the_batch_as_before(tmp_path, cls):
    """``rawboost_position: after_crop`` is the device path: RawBoost on the
    cropped batch inside the step, bitwise the step without the key, and
    equal to RawBoost's own draws applied by hand."""
    models = [make_model(seed=23) for _ in range(2)]
    reference = copy.deepcopy(models[0])
    brains = [
        make_brain(
            cls,
            model,
            tmp_path / str(i),
            augment_paths={"aug": RawBoost(generator=torch.Generator().manual_seed(4))},
            **({"rawboost_position": "after_crop"} if i else {}),
        )
        for i, model in enumerate(models)
    ]
    assert brains[1].loader_views == {}
    batches = [rawboost_batch(24), rawboost_batch(25)]
    before = flat([p.detach() for p in models[0].parameters()])
    for brain in brains:
        run_steps(brain, batches[:1])
    for a, b in zip(*(m.parameters() for m in models)):
        assert torch.equal(a, b)
    wavs, lens = batches[0].sig
    y = batches[0].label_id
    augmented = RawBoost(generator=torch.Generator().manual_seed(4))(wavs, lens)
    aug = path_grads(reference, augmented, y)
    if cls is DPDABrain:
        clean = path_grads(reference, wavs, y)
        aug = [(c + a) / 2 for c, a in zip(clean, aug)]
    np.testing.assert_allclose(param_delta(models[1], before), -flat(aug), atol=1e-6)


def test_bad_rawboost_position_and_dev_loss_are_refused(tmp_path):
    with pytest.raises(ValueError, match="rawboost_position must be one of"):
        make_brain(AntiSpoofBrain, make_model(), tmp_path, rawboost_position="x")
    with pytest.raises(ValueError, match="dev_loss must be one of"):
        make_brain(AntiSpoofBrain, make_model(), tmp_path, dev_loss="mean")


@pytest.mark.parametrize("dev_loss", ["utterance_mean", "batch_mean"])
def test_dev_loss_averages_as_configured(tmp_path, dev_loss):
    """``utterance_mean`` is the authors' ``sum_b n_b L_b / N`` with ``L_b``
    the batch's class-weighted mean cross entropy, on 19 utterances in
    batches of 8, 8 and 3; ``batch_mean`` SpeechBrain's mean of the three
    ``L_b``. Both recomputed here in float64 from the model's logits: the
    step's float32 cross entropy of at most 8 terms is within a few ulp
    (relative 1e-6) of it."""
    from speechbrain.dataio.dataset import DynamicItemDataset
    from speechbrain.utils.train_logger import FileTrainLogger

    model = make_model(seed=26)
    log = FileTrainLogger(str(tmp_path / "log.txt"))
    brain = make_brain(
        AntiSpoofBrain, model, tmp_path, train_logger=log, dev_loss=dev_loss
    )
    gen = torch.Generator().manual_seed(27)
    wavs = torch.randn(19, 800, generator=gen)
    labels = [int(i % 3 == 0) for i in range(19)]
    data = {f"d{i}": {"sig": wavs[i], "label_id": labels[i]} for i in range(19)}
    dataset = DynamicItemDataset(data, output_keys=["id", "sig", "label_id"])
    result = brain.evaluate_set("dev", dataset, {"batch_size": 8})

    model.eval()
    batch_losses, sizes = [], []
    for start in range(0, 19, 8):
        with torch.no_grad():
            logits = model(wavs[start : start + 8]).double().numpy()
        y = np.array(labels[start : start + 8])
        log_p = logits - np.logaddexp.reduce(logits, axis=1, keepdims=True)
        w = WEIGHTS.double().numpy()[y]
        batch_losses.append(-(w * log_p[np.arange(len(y)), y]).sum() / w.sum())
        sizes.append(len(y))
    assert sizes == [8, 8, 3]
    utterance_mean = np.dot(sizes, batch_losses) / 19
    batch_mean = np.mean(batch_losses)
    assert abs(utterance_mean - batch_mean) > 1e-3 * batch_mean  # they differ
    expected = utterance_mean if dev_loss == "utterance_mean" else batch_mean
    np.testing.assert_allclose(result["loss"], expected, rtol=1e-6)
