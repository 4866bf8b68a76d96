"""DPDA with more than two paths: the K-path step against direct computations.

The 3-path step (clean + two augmentations) is checked against the
gradients of each path computed directly and combined with the aligner's
weights on the flattened Gram matrix, in split and joint mode, with gradient
accumulation, under a GradScaler, with a non-finite path, with a path
computed by the data loader, and with one augmentation given as a mapping
(bitwise the two-path step). As in test_brain, both sides run the same
kernels; float32 rounding of the update and of the three-path combination
(weights of absolute sum <= 1.2, ``|g| < 0.5`` in these tests) stays under
``2**-24 * (1 + 3 * 1.2 * 0.5) < 2e-7``, inside ``atol=2e-6``.

The data loader's views are checked too: codec views, and RawBoost before
the crop (``rawboost_position: before_crop``) against RawBoost applied by
hand to the whole file, then cropped or tiled as the authors' ``pad``.
"""

import copy
import csv
import os

import numpy as np
import pytest
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
    write_wav,
)
from speechbrain.dataio.batch import PaddedBatch

from dpda.alignment import get_aligner
from dpda.alignment.stats import stat_fields
from dpda.brain import DPDABrain, weighted_cross_entropy


class Clip(torch.nn.Module):
    """A second deterministic augmentation (clipping and a tone)."""

    def forward(self, wavs, lengths=None):
        tone = 0.2 * torch.sin(0.05 * torch.arange(wavs.shape[1], dtype=wavs.dtype))
        return wavs.clamp(-0.5, 0.5) + tone


class LoaderView:
    """Marks a path computed by the data loader (its ``sig_<name>`` item)."""

    loader_side = True

    def __call__(self, wav):
        return -0.5 * wav


AUGMENTS = {"noise": FixedNoise(800), "clip": Clip()}


def make_brain3(model, tmp_path, aligner="none", mode="split", gaf=1, paths=None):
    """A DPDABrain with the clean path and ``paths`` (default: two augmentations)."""
    return make_brain(
        DPDABrain,
        model,
        tmp_path,
        aligner,
        mode,
        gaf,
        augment=False,
        augment_paths=dict(AUGMENTS if paths is None else paths),
        aligner_kwargs={"seed": 7} if aligner in ("pcgrad", "gradvac") else {},
    )


def direct_update(reference, batches, aligner, augments=AUGMENTS):
    """The expected update: each path's gradient computed directly (mean over
    the accumulated batches), combined with the aligner's weights of the
    flattened Gram matrix."""
    n = len(batches)
    grads = None
    for batch in batches:
        wavs, _ = batch.sig
        per_path = [flat(path_grads(reference, wavs, batch.label_id))]
        for augment in augments.values():
            per_path.append(flat(path_grads(reference, wavs, batch.label_id, augment)))
        grads = per_path if grads is None else [g + p for g, p in zip(grads, per_path)]
    stacked = np.stack(grads) / n
    gram = torch.from_numpy(stacked @ stacked.T)
    weights = aligner.weights(gram).numpy()
    return weights @ stacked, stacked


@pytest.mark.parametrize("aligner", ["none", "pcgrad", "mgda", "upgrad", "cagrad"])
def test_three_path_split_step_matches_direct_computation(tmp_path, aligner):
    model = make_model(seed=3)
    reference = copy.deepcopy(model)
    batch = make_batch(21)
    brain = make_brain3(model, tmp_path, aligner=aligner)
    before = flat([p.detach() for p in model.parameters()])
    run_steps(brain, [batch])
    twin = get_aligner(aligner, **({"seed": 7} if aligner == "pcgrad" else {}))
    update, stacked = direct_update(reference, [batch], twin)
    np.testing.assert_allclose(param_delta(model, before), -update, atol=2e-6)
    # The statistics: the Gram matrix of the three paths, per-pair rows.
    gram = np.array(brain.aligner.last_stats["gram"])
    np.testing.assert_allclose(gram, stacked @ stacked.T, rtol=1e-4, atol=1e-8)
    row = brain.epoch_align_stats[0]
    cos = (
        (stacked[1] @ stacked[2])
        / np.linalg.norm(stacked[1])
        / np.linalg.norm(stacked[2])
    )
    assert row["cosine_noise_clip"] == pytest.approx(cos, abs=1e-5)
    assert row["norm_clip"] == pytest.approx(np.linalg.norm(stacked[2]), rel=1e-5)
    assert row["conflict"] == int((np.triu(stacked @ stacked.T, 1) < 0).any())


def test_pcgrad_orders_follow_the_seeded_generator(tmp_path):
    """The orders are drawn from the aligner's own generator: the same seed
    gives the same orders, whatever the global RNG did in between."""
    first = make_brain3(make_model(seed=3), tmp_path / "a", aligner="pcgrad")
    run_steps(first, [make_batch(21), make_batch(22)])
    torch.manual_seed(12345)
    second = make_brain3(make_model(seed=3), tmp_path / "b", aligner="pcgrad")
    run_steps(second, [make_batch(21), make_batch(22)])
    assert first.aligner.last_orders == second.aligner.last_orders
    assert first.aligner.state_dict() == second.aligner.state_dict()


@pytest.mark.parametrize("gaf", [1, 2])
def test_three_path_accumulation_matches_direct_computation(tmp_path, gaf):
    model = make_model(seed=4)
    reference = copy.deepcopy(model)
    batches = [make_batch(30 + i) for i in range(2 * gaf)]
    brain = make_brain3(model, tmp_path, aligner="pcgrad", gaf=gaf)
    run_steps(brain, batches[:gaf])
    assert brain.optimizer_step == 1 and brain.path_grads is None
    twin = get_aligner("pcgrad", seed=7)
    update, _ = direct_update(reference, batches[:gaf], twin)
    np.testing.assert_allclose(
        flat([p.detach() for p in model.parameters()])
        - flat([p.detach() for p in reference.parameters()]),
        -update,
        atol=2e-6,
    )


def test_three_path_joint_none_equals_plain_step_on_concatenated_batch(tmp_path):
    model = make_model(seed=5)
    reference = copy.deepcopy(model)
    batch = make_batch(3)
    brain = make_brain3(model, tmp_path, aligner="none", mode="joint")
    before = flat([p.detach() for p in model.parameters()])
    run_steps(brain, [batch])
    wavs, _ = batch.sig
    views = [wavs, *(augment(wavs) for augment in AUGMENTS.values())]
    logits = reference(torch.cat(views)).chunk(3)
    y = batch.label_id
    loss = sum(weighted_cross_entropy(lg, y, WEIGHTS) for lg in logits) / 3
    loss.backward()
    expected = -flat([p.grad for p in reference.parameters()])
    np.testing.assert_allclose(param_delta(model, before), expected, atol=1e-6)


def test_three_path_joint_pcgrad_matches_direct_joint_gradients(tmp_path):
    """Joint mode: each path's gradient through the shared 3B forward (batch
    norm sees all three), combined by PCGrad."""
    model = make_model(seed=6)
    reference = copy.deepcopy(model)
    batch = make_batch(4)
    brain = make_brain3(model, tmp_path, aligner="pcgrad", mode="joint")
    before = flat([p.detach() for p in model.parameters()])
    run_steps(brain, [batch])
    wavs, _ = batch.sig
    views = [wavs, *(augment(wavs) for augment in AUGMENTS.values())]
    grads = []
    for k in range(3):
        reference.zero_grad(set_to_none=True)
        logits = reference(torch.cat(views)).chunk(3)
        weighted_cross_entropy(logits[k], batch.label_id, WEIGHTS).backward()
        grads.append(flat([p.grad for p in reference.parameters()]))
    stacked = np.stack(grads)
    weights = get_aligner("pcgrad", seed=7).weights(
        torch.from_numpy(stacked @ stacked.T)
    )
    np.testing.assert_allclose(
        param_delta(model, before), -(weights.numpy() @ stacked), atol=2e-6
    )


def test_three_path_under_grad_scaler_equals_unscaled_step(tmp_path):
    scaled_model, plain_model = make_model(seed=8), make_model(seed=8)
    batch = make_batch(9)
    scaled = make_brain3(scaled_model, tmp_path / "s", aligner="upgrad")
    scaled.scaler = torch.GradScaler("cpu", init_scale=2.0**12)
    plain = make_brain3(plain_model, tmp_path / "p", aligner="upgrad")
    run_steps(scaled, [batch])
    run_steps(plain, [batch])
    np.testing.assert_allclose(
        flat([p.detach() for p in scaled_model.parameters()]),
        flat([p.detach() for p in plain_model.parameters()]),
        atol=1e-6,
    )
    # Norms in real units; cosines and weights as without the scaler.
    for key, value in plain.epoch_align_stats[0].items():
        assert scaled.epoch_align_stats[0][key] == pytest.approx(value, rel=1e-4), key


class NaNThirdPathBrain(DPDABrain):
    """The third path's loss is NaN on chosen calls."""

    bad_calls = ()

    def path_loss(self, logits, batch):
        loss = super().path_loss(logits, batch)
        self._calls = getattr(self, "_calls", 0) + 1
        return loss * float("nan") if self._calls in self.bad_calls else loss


@pytest.mark.parametrize("mode", ["split", "joint"])
def test_a_non_finite_third_path_skips_the_whole_step(tmp_path, mode):
    model = make_model(seed=11)
    brain = make_brain3(model, tmp_path, aligner="pcgrad", mode=mode)
    brain.__class__ = NaNThirdPathBrain
    brain.bad_calls = (3,)  # the third path of the first step
    generator = brain.aligner.state_dict()
    before = flat([p.detach() for p in model.parameters()])
    run_steps(brain, [make_batch(1)])
    np.testing.assert_array_equal(param_delta(model, before), 0.0)
    assert brain.skipped_steps == 1 and brain.optimizer_step == 0
    assert brain.epoch_align_stats == [] and brain.path_grads is None
    assert all(p.grad is None for p in model.parameters())
    assert brain.aligner.state_dict() == generator  # no order was drawn
    run_steps(brain, [make_batch(2)])
    assert np.abs(param_delta(model, before)).max() > 0
    assert brain.optimizer_step == 1 and brain.consecutive_skips == 0


def test_a_loader_side_path_uses_the_batch_view(tmp_path):
    """A ``loader_side`` augmentation is not called in fit_batch: its view
    arrives in the batch as ``sig_<name>``."""
    model = make_model(seed=12)
    reference = copy.deepcopy(model)
    view = LoaderView()
    gen = torch.Generator().manual_seed(5)
    wavs = torch.randn(6, 800, generator=gen)
    batch = PaddedBatch(
        [
            {
                "id": f"u{i}",
                "sig": wavs[i],
                "sig_codec": view(wavs[i]),
                "label_id": i % 2,
            }
            for i in range(6)
        ]
    )
    paths = {"noise": FixedNoise(800), "codec": view}
    brain = make_brain3(model, tmp_path, aligner="mgda", paths=paths)
    before = flat([p.detach() for p in model.parameters()])
    run_steps(brain, [batch])
    augments = {"noise": FixedNoise(800), "codec": lambda x: -0.5 * x}
    update, _ = direct_update(reference, [batch], get_aligner("mgda"), augments)
    np.testing.assert_allclose(param_delta(model, before), -update, atol=2e-6)


@pytest.mark.parametrize("mode", ["split", "joint"])
@pytest.mark.parametrize("aligner", ["pcgrad", "gradvac"])
def test_one_augmentation_as_a_mapping_is_bitwise_the_two_path_step(
    tmp_path, mode, aligner
):
    """``augment_paths: {aug: X}`` and ``augment: X`` train identically."""
    legacy_model, mapped_model = make_model(seed=13), make_model(seed=13)
    legacy = make_brain(DPDABrain, legacy_model, tmp_path / "l", aligner, mode)
    mapped = make_brain3(
        mapped_model, tmp_path / "m", aligner, mode, paths={"aug": FixedNoise(800)}
    )
    mapped.aligner = get_aligner(aligner)
    batches = [make_batch(40 + i) for i in range(3)]
    run_steps(legacy, batches)
    run_steps(mapped, batches)
    for a, b in zip(legacy_model.parameters(), mapped_model.parameters()):
        assert torch.equal(a, b)
    assert legacy.epoch_align_stats == mapped.epoch_align_stats


def test_alignment_csv_has_a_column_per_pair_and_path(tmp_path):
    brain = make_brain3(make_model(seed=14), tmp_path, aligner="pcgrad")
    run_steps(brain, [make_batch(1), make_batch(2)])
    stats = brain.train_epoch_stats(1)
    assert set(stats) >= {
        "conflict_rate",
        "cosine",
        "conflict_rate_clean_noise",
        "conflict_rate_clean_clip",
        "conflict_rate_noise_clip",
    }
    with open(os.path.join(tmp_path, "alignment_stats.csv"), newline="") as f:
        rows = list(csv.DictReader(f))
    assert tuple(rows[0]) == stat_fields(["clean", "noise", "clip"])
    assert len(rows) == 2
    weights = [float(rows[0][f"coef_{n}"]) for n in ("clean", "noise", "clip")]
    first = brain.epoch_align_stats[0]
    assert weights == pytest.approx(
        [first[f"coef_{n}"] for n in ("clean", "noise", "clip")]
    )
    assert float(rows[1]["cosine"]) == pytest.approx(
        np.mean(
            [
                float(rows[1][f"cosine_{p}"])
                for p in ("clean_noise", "clean_clip", "noise_clip")
            ]
        )
    )


def test_bad_path_names_are_refused(tmp_path):
    with pytest.raises(ValueError, match="'clean' is not a valid path name"):
        make_brain3(make_model(), tmp_path, paths={"clean": Clip()})
    with pytest.raises(ValueError, match="augment_paths is empty"):
        make_brain3(make_model(), tmp_path, paths={})


def codec_dataset(n=6):
    from speechbrain.dataio.dataset import DynamicItemDataset

    from dpda.augment import Codec
    from dpda.data.pipelines import add_augmented_view

    gen = torch.Generator().manual_seed(3)
    wavs = {f"utt{i}": 0.1 * torch.randn(4000, generator=gen) for i in range(n)}
    dataset = DynamicItemDataset({uid: {"uid": uid} for uid in wavs})
    dataset.add_dynamic_item(lambda uid: wavs[uid], takes="uid", provides="sig")
    dataset.set_output_keys(["id", "sig"])
    codec = Codec({"mp3": [16, 64], "opus": [6, 32]})
    add_augmented_view(dataset, "codec", codec, seed=5)
    return dataset, codec


def seeded_views(dataset, augment, key, index):
    """The ``key`` views of ``dataset`` through DataLoaders: with 0 workers in
    order, with 2 workers shuffled under another global seed (checked equal,
    and the global generator checked untouched by reading an item), then in
    order again after ``augment.epoch = 2``. Returns the first and the last
    ``{uid: view}``."""

    def views(num_workers, shuffle):
        loader = torch.utils.data.DataLoader(
            dataset,
            batch_size=2,
            shuffle=shuffle,
            num_workers=num_workers,
            collate_fn=PaddedBatch,
        )
        return {
            uid: view
            for batch in loader
            for uid, view in zip(batch.id, batch[key].data)
        }

    torch.manual_seed(0)
    state = torch.get_rng_state()
    item = dataset[index][key]
    assert torch.equal(torch.get_rng_state(), state)  # nothing drawn globally
    first = views(0, shuffle=False)
    assert torch.equal(first[f"utt{index}"], item)
    torch.manual_seed(99)
    second = views(2, shuffle=True)
    assert first.keys() == second.keys()
    for uid in first:
        assert torch.equal(first[uid], second[uid]), uid
    augment.epoch = 2
    return first, views(0, shuffle=False)


def test_codec_views_do_not_depend_on_workers_order_or_global_rng():
    """Each utterance's codec view is seeded by (seed, epoch, id): the same
    with 0 or 2 workers, in any order, whatever the global generator; a new
    epoch draws new views; the global generator is left untouched."""
    dataset, codec = codec_dataset()
    first, third = seeded_views(dataset, codec, "sig_codec", 0)
    for uid in first:
        assert not torch.equal(first[uid], dataset[0]["sig"])
    assert any(not torch.equal(first[u], third[u]) for u in first)


@pytest.mark.parametrize("mode", ["split", "joint"])
def test_three_paths_keep_two_gradient_buffers_besides_grad(tmp_path, mode):
    """K paths hold K - 1 gradient stores besides ``.grad``, distinct tensors,
    and hand them over at the optimizer step."""
    model = make_model(seed=15)
    brain = make_brain3(model, tmp_path, aligner="pcgrad", mode=mode)
    n_params = sum(p.numel() for p in model.parameters())
    seen = {}
    step = brain.optimizers_step

    def counting_step():
        stores = [g for store in brain.path_grads for g in store if g is not None]
        grads = [p.grad for p in model.parameters() if p.grad is not None]
        seen["store_elements"] = sum(g.numel() for g in stores)
        seen["grad_elements"] = sum(g.numel() for g in grads)
        seen["distinct"] = len({g.data_ptr() for g in stores + grads})
        seen["tensors"] = len(stores) + len(grads)
        step()

    brain.optimizers_step = counting_step
    run_steps(brain, [make_batch(1)])
    assert seen["store_elements"] == 2 * n_params
    assert seen["grad_elements"] == n_params
    assert seen["distinct"] == seen["tensors"]  # no shared or aliased buffers
    assert brain.path_grads is None  # handed over, freed with the step


# ------------------------------------------- RawBoost before the crop (loader)
CROP = 20000


def whole_file_dataset(tmp_path, lengths, seed=5):
    """A training set of wav files of ``lengths`` samples, cropped to CROP,
    with a RawBoost view augmented before the crop; and the file paths."""
    import json

    from dpda.augment import RawBoost
    from dpda.data.pipelines import add_augmented_view, load_manifest

    paths, manifest = {}, {}
    for i, n in enumerate(lengths):
        uid = f"utt{i}"
        paths[uid] = write_wav(tmp_path / f"{uid}.wav", n, seed=i)
        manifest[uid] = {"wav": "{data_root}/" + f"{uid}.wav", "label": "spoof"}
    json_path = tmp_path / "train.json"
    json_path.write_text(json.dumps(manifest))
    dataset = load_manifest(str(json_path), str(tmp_path), CROP, whole_file=True)
    rawboost = RawBoost(algo=4)
    add_augmented_view(dataset, "rawboost", rawboost, seed=seed, crop_to=CROP)
    return dataset, rawboost, paths


def rawboost_by_hand(path, uid, seed=5, epoch=0, before_crop=True):
    """RawBoost with the utterance's seed on the whole file, then the
    authors' pad (``np.tile`` of the whole, first CROP samples); or, with
    ``before_crop=False``, on the tiled crop."""
    import hashlib

    import soundfile as sf

    from dpda.augment import RawBoost

    x, _ = sf.read(path, dtype="float32")
    tile = lambda y: np.tile(y, CROP // len(y) + 1)[:CROP]  # noqa: E731
    if not before_crop:
        x = tile(x)
    key = f"{seed}:{epoch}:rawboost:{uid}".encode()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int.from_bytes(hashlib.sha256(key).digest()[:8], "little"))
        y = RawBoost(algo=4)(torch.from_numpy(x)).numpy()
    return tile(y), tile(x)


@pytest.mark.parametrize("length", [7000, 31000], ids=["short", "long"])
def test_before_crop_view_is_rawboost_of_the_whole_file_then_cropped(tmp_path, length):
    """The view equals RawBoost applied by hand to the whole file, then the
    crop (or tiling); the clean crop is the file's first samples, tiled, as
    without ``whole_file``. Augmenting the crop instead gives another view."""
    from dpda.data.pipelines import load_manifest

    dataset, _, paths = whole_file_dataset(tmp_path, [length])
    item = dataset[0]
    expected, clean = rawboost_by_hand(paths["utt0"], "utt0")
    assert item["sig_rawboost"].shape == (CROP,)
    np.testing.assert_array_equal(item["sig_rawboost"].numpy(), expected)
    np.testing.assert_array_equal(item["sig"].numpy(), clean)
    first_only = load_manifest(str(tmp_path / "train.json"), str(tmp_path), CROP)
    assert torch.equal(first_only[0]["sig"], item["sig"])
    after_crop, _ = rawboost_by_hand(paths["utt0"], "utt0", before_crop=False)
    assert np.abs(after_crop - expected).max() > 1e-3


def test_short_file_tiles_repeat_one_noise_pattern(tmp_path):
    """Before the crop, every tile of a short file carries the same noise
    (the authors' behaviour); RawBoost on the tiled crop draws fresh noise
    over the whole crop, so its tiles differ."""
    length = 6000
    dataset, _, paths = whole_file_dataset(tmp_path, [length])
    view = dataset[0]["sig_rawboost"].numpy()
    for k in range(1, CROP // length):
        np.testing.assert_array_equal(
            view[k * length : (k + 1) * length], view[:length]
        )
    tail = CROP % length
    np.testing.assert_array_equal(view[-tail:], view[:tail])
    after_crop, _ = rawboost_by_hand(paths["utt0"], "utt0", before_crop=False)
    assert np.abs(after_crop[length : 2 * length] - after_crop[:length]).max() > 1e-3


def test_before_crop_views_do_not_depend_on_workers_order_or_global_rng(tmp_path):
    """Seeded per (seed, epoch, utterance): the same views with 0 or 2
    workers, in any order, whatever the global generator; a new epoch draws
    new ones; the global generator is untouched."""
    dataset, rawboost, _ = whole_file_dataset(tmp_path, [6000, 9000, 25000, 31000])
    first, third = seeded_views(dataset, rawboost, "sig_rawboost", 2)
    assert len(first) == 4
    assert all(not torch.equal(first[u], third[u]) for u in first)


def test_before_crop_view_of_a_bad_file_is_the_bad_audio_stand_in(tmp_path):
    """An unreadable file gives ``BadAudio`` for the clean crop and the view
    alike (in ``skip`` mode), for the collate function to drop the item."""
    import json

    import soundfile as sf

    from dpda.augment import RawBoost
    from dpda.data.pipelines import BadAudio, add_augmented_view, load_manifest

    sf.write(tmp_path / "empty.wav", np.zeros(0), 16000)
    manifest = {"empty": {"wav": "{data_root}/empty.wav", "label": "spoof"}}
    (tmp_path / "m.json").write_text(json.dumps(manifest))
    dataset = load_manifest(
        str(tmp_path / "m.json"), str(tmp_path), CROP, on_error="skip", whole_file=True
    )
    add_augmented_view(dataset, "rawboost", RawBoost(), seed=1, crop_to=CROP)
    item = dataset[0]
    assert isinstance(item["sig"], BadAudio) and item["sig_rawboost"] is item["sig"]
    with pytest.raises(ValueError, match="crop='random' is not supported"):
        load_manifest(
            str(tmp_path / "m.json"),
            str(tmp_path),
            CROP,
            crop="random",
            whole_file=True,
        )
