"""Raw-waveform AASIST: the model, the released checkpoints, the default detector.

The three released checkpoints are read from ``../shared/data/pretrained``;
their reference scores (``tests/reference/aasist_reference_scores.json``)
were made with the authors' own code by
``tests/reference/aasist_reference_scores.py``.
"""

import importlib.util
import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
import torch
from conftest import populate_hub_cache

from dpda.inference import DEFAULT_DETECTOR, DeepfakeDetector
from dpda.models.checkpoint_mapping import read_authors_checkpoint
from dpda.models.raw_aasist import AASIST_CONFIG, AASIST_L_CONFIG, RawAASIST
from dpda.models.sinc import SincFilterbank

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PRETRAINED = os.path.join(os.path.dirname(ROOT), "shared", "data", "pretrained")
RECIPE = os.path.join(ROOT, "recipes", "ASVspoof")
EVALUATE = os.path.join(ROOT, "recipes", "InTheWild")
# The fixture's float32 logits (the reference code, on another CPU) and ours
# each carry float32 rounding of ~1e-6 of the largest logit (|logit| <= 34)
# whatever the kernels: they differ by at most 2 * 3.4e-5 < 1e-4.
TOLERANCE = 1e-4
CHECKPOINTS = {
    "aasist_clovaai_AASIST.pth": "dpda_rawboost_aasist.yaml",
    "aasist_clovaai_AASIST-L.pth": "dpda_rawboost_aasist_l.yaml",
    "aasist_asvspoof5_baseline.pth": "dpda_rawboost_aasist.yaml",
}


def _reference_module():
    path = os.path.join(ROOT, "tests", "reference", "aasist_reference_scores.py")
    spec = importlib.util.spec_from_file_location("aasist_reference_scores", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


REFERENCE = _reference_module()
FIXTURE = json.load(open(REFERENCE.FIXTURE))


def reference_scores(checkpoint):
    """The reference implementation's bona fide logits, in signal order."""
    return [FIXTURE["logits"][checkpoint][name][1] for name in REFERENCE.SIGNAL_LENGTHS]


def run(script, args, cwd, env=None):
    result = subprocess.run(
        [sys.executable, script, *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=600,
    )
    return result


@pytest.fixture(scope="module")
def parity_files(tmp_path_factory):
    """The parity inputs as WAV files, checked against the fixture's digests."""
    signals = REFERENCE.parity_signals()
    for name, samples in signals.items():
        expected = FIXTURE["inputs"][name]
        assert len(samples) == expected["samples"]
        assert REFERENCE.signal_digest(samples) == expected["sha256"], (
            f"{name}: the generator no longer gives the inputs the reference scored"
        )
    paths = REFERENCE.write_signals(str(tmp_path_factory.mktemp("parity")), signals)
    return [paths[name] for name in REFERENCE.SIGNAL_LENGTHS]


@pytest.fixture(scope="module")
def imported(tmp_path_factory):
    """Each released checkpoint imported by import_checkpoint.py."""
    out = tmp_path_factory.mktemp("imported")
    folders = {}
    for checkpoint, hparams in CHECKPOINTS.items():
        folder = str(out / checkpoint.replace(".pth", ""))
        result = run(
            "import_checkpoint.py",
            [os.path.join(PRETRAINED, checkpoint), folder, f"hparams/{hparams}"],
            RECIPE,
        )
        assert result.returncode == 0, result.stderr[-3000:]
        assert "229 mapped, 0 dropped, 0 unexpected, 0 missing" in result.stdout
        folders[checkpoint] = folder
    return folders


# -- the model -----------------------------------------------------------------
def test_sinc_filters_equal_the_published_formula():
    """AASIST's CONV filters, recomputed with numpy as the paper's code does."""
    n_bands, kernel, sr = 70, 129, 16000
    f = int(sr / 2) * np.linspace(0, 1, 257)
    mel = 2595 * np.log10(1 + f / 700)
    edges = 700 * (10 ** (np.linspace(mel.min(), mel.max(), n_bands + 1) / 2595) - 1)
    n = np.arange(-(kernel - 1) / 2, (kernel - 1) / 2 + 1)
    expected = np.stack(
        [
            np.hamming(kernel)
            * (
                2 * hi / sr * np.sinc(2 * hi * n / sr)
                - 2 * lo / sr * np.sinc(2 * lo * n / sr)
            )
            for lo, hi in zip(edges[:-1], edges[1:])
        ]
    )
    bank = SincFilterbank(n_bands, 128, sr)
    assert bank.filters.shape == (70, 1, 129)
    np.testing.assert_allclose(bank.filters[:, 0].numpy(), expected, atol=1e-7)
    assert "filters" not in bank.state_dict()


def test_frequency_masking_only_in_training():
    bank = SincFilterbank(70, 128, max_masked_bands=20)
    x = torch.randn(1, 2000)
    torch.manual_seed(3)
    masked = [bank(x).abs().sum(dim=-1)[0] == 0 for _ in range(20)]
    widths = [int(m.sum()) for m in masked]
    assert max(widths) > 0 and max(widths) < 20
    for m in masked:  # one contiguous run of bands
        idx = m.nonzero().flatten()
        assert len(idx) == 0 or (idx.diff() == 1).all()
    bank.eval()
    assert (bank(x).abs().sum(dim=-1) > 0).all()


@pytest.mark.parametrize(
    "config, n_params", [(AASIST_CONFIG, 297866), (AASIST_L_CONFIG, 85306)]
)
def test_parameter_counts_of_the_released_configurations(config, n_params):
    model = RawAASIST(**config)
    assert sum(p.numel() for p in model.parameters()) == n_params
    assert model.pos_S.shape == (1, 23, config["filts"][-1][-1])


def test_any_input_length_and_batch_independence_in_eval():
    model = RawAASIST(**AASIST_L_CONFIG).eval()
    x = torch.randn(3, 20000)
    with torch.no_grad():
        together = model(x)
        alone = torch.cat([model(x[i : i + 1]) for i in range(3)])
    # Batch and single-item forwards may run other conv/gemm kernels: each is
    # within ~1e-6 of the largest logit (< 1 here) of the exact value, so
    # they agree to ~2e-6, inside 1e-5 + 1e-5 * |logit|.
    torch.testing.assert_close(together, alone, atol=1e-5, rtol=1e-5)


def test_released_state_dicts_load_with_no_mapping():
    for checkpoint, config in (
        ("aasist_clovaai_AASIST.pth", AASIST_CONFIG),
        ("aasist_clovaai_AASIST-L.pth", AASIST_L_CONFIG),
        ("aasist_asvspoof5_baseline.pth", AASIST_CONFIG),
    ):
        state = read_authors_checkpoint(os.path.join(PRETRAINED, checkpoint))
        model = RawAASIST(**config)
        assert set(state) == set(model.state_dict())
        model.load_state_dict(state, strict=True)


# -- score parity with the reference implementation ---------------------------
@pytest.mark.slow
@pytest.mark.parametrize("checkpoint", list(CHECKPOINTS))
def test_imported_detectors_score_as_the_reference(imported, parity_files, checkpoint):
    detector = DeepfakeDetector.from_hparams(imported[checkpoint])
    scores = detector.score_files(parity_files, batch_size=4)
    np.testing.assert_allclose(
        scores, reference_scores(checkpoint), atol=TOLERANCE, rtol=0
    )
    card = open(os.path.join(imported[checkpoint], "README.md")).read()
    assert "license: mit" in card and "| Provenance |" in card
    # The card names the publisher's training recipe; the dpda hparams file
    # is only the model/export definition (issue 29, part 5).
    publisher = "asvspoof5" if "asvspoof5" in checkpoint else "clovaai/aasist"
    recipe = next(line for line in card.splitlines() if "| Training recipe |" in line)
    assert publisher in recipe and "no RawBoost, no DPDA" in recipe
    assert f"| Model/export hparams | `{CHECKPOINTS[checkpoint]}`" in card
    assert "| Training hparams |" not in card
    # Imported, hence uncalibrated: scores, no verdict unless given a threshold.
    decision = detector.classify_file(parity_files[0])
    assert decision["label"] == "uncalibrated" and decision["llr"] is None
    cut = decision["score"] - 1.0
    assert detector.classify_file(parity_files[0], threshold=cut)["label"] == "bonafide"
    assert "no label" in card and "unless a threshold" in card


@pytest.mark.slow
@pytest.mark.parametrize(
    "checkpoint", ["aasist_asvspoof5_baseline.pth", "aasist_clovaai_AASIST-L.pth"]
)
def test_evaluate_py_scores_as_the_reference(
    imported, parity_files, tmp_path, checkpoint
):
    """In-the-Wild layout of the parity files, scored by evaluate.py (AASIST-L:
    with no --detector, the detector shipped in the package)."""
    data = tmp_path / "release_in_the_wild"
    data.mkdir()
    rows = ["file,speaker,label"]
    for i, path in enumerate(parity_files):
        shutil.copy(path, data / f"{i}.wav")
        rows.append(f"{i}.wav,spk{i % 2},{'bona-fide' if i % 2 else 'spoof'}")
    (data / "meta.csv").write_text("\n".join(rows) + "\n")
    out = tmp_path / "eval"
    detector = (
        [] if "AASIST-L" in checkpoint else [f"--detector={imported[checkpoint]}"]
    )
    result = run(
        "evaluate.py",
        [
            "hparams/evaluate.yaml",
            *detector,
            f"--data_folder={data}",
            f"--output_folder={out}",
            "--num_workers=0",
            "--batch_size=4",
            "--progress=False",
        ],
        EVALUATE,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    scores = dict(
        line.split()
        for line in open(out / "scores" / "in_the_wild.txt").read().splitlines()
    )
    got = [float(scores[str(i)]) for i in range(len(parity_files))]
    np.testing.assert_allclose(
        got, reference_scores(checkpoint), atol=TOLERANCE, rtol=0
    )


# -- the default detector -------------------------------------------------------
def test_default_detector_is_the_released_aasist_l(parity_files):
    """No source, no network: the packaged AASIST-L, scoring as the reference."""
    detector = DeepfakeDetector.from_hparams()
    released = read_authors_checkpoint(
        os.path.join(PRETRAINED, "aasist_clovaai_AASIST-L.pth")
    )
    packaged = torch.load(
        os.path.join(DEFAULT_DETECTOR, "model.ckpt"), weights_only=True
    )
    assert set(packaged) == set(released)
    assert all(torch.equal(packaged[k], released[k]) for k in released)
    scores = detector.score_files(parity_files)
    np.testing.assert_allclose(
        scores, reference_scores("aasist_clovaai_AASIST-L.pth"), atol=TOLERANCE, rtol=0
    )
    # Calibrated on the real-world set, with an uncertain band (see
    # test_real_world.py): the LLR and the label of the detector's rule.
    decision = detector.classify_file(parity_files[0])
    assert decision["calibrated"] is True and decision["rule"] == "bayes"
    assert decision["llr"] == pytest.approx(
        detector.calibration.llr(scores[0]), abs=TOLERANCE
    )
    assert decision["label"] == detector.decision_rule().decide(scores[0])["label"]
    assert decision["llr_band"] is not None
    card = open(os.path.join(DEFAULT_DETECTOR, "README.md")).read()
    recipe = next(line for line in card.splitlines() if "| Training recipe |" in line)
    assert "clovaai/aasist" in recipe and "no RawBoost, no DPDA" in recipe
    assert "| Model/export hparams | `dpda_rawboost_aasist_l.yaml`" in card
    assert "| Training hparams |" not in card
    licence = open(os.path.join(DEFAULT_DETECTOR, "LICENSE")).read()
    assert (
        "NAVER Corp." in licence
        and "MIT" in open(os.path.join(DEFAULT_DETECTOR, "README.md")).read().upper()
    )


@pytest.mark.slow
def test_default_detector_loads_offline_from_another_directory(tmp_path):
    code = (
        "from dpda.inference import DeepfakeDetector;"
        "d = DeepfakeDetector.from_hparams();"
        "print(type(d.mods.model).__name__, d.window_samples)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.split()[-2:] == ["RawAASIST", "64600"]
    assert os.listdir(tmp_path) == []  # nothing collected in the working directory


# -- bad input -------------------------------------------------------------------
def import_error(
    checkpoint, tmp_path, hparams="dpda_rawboost_aasist_l.yaml", env=None, extra=()
):
    result = run(
        "import_checkpoint.py",
        [str(checkpoint), str(tmp_path / "out"), f"hparams/{hparams}", *extra],
        RECIPE,
        env,
    )
    assert result.returncode != 0
    assert not (tmp_path / "out").exists()
    return result.stderr


@pytest.mark.slow
def test_a_checkpoint_for_another_configuration_names_the_keys(tmp_path):
    error = import_error(
        os.path.join(PRETRAINED, "aasist_clovaai_AASIST.pth"), tmp_path
    )
    assert "does not fit hparams/dpda_rawboost_aasist_l.yaml" in error
    assert "shape mismatch" in error
    assert "('encoder.2.0.conv1.weight', (64, 32, 2, 3), (24, 32, 2, 3))" in error


@pytest.mark.slow
def test_an_ssl_checkpoint_into_raw_aasist_names_the_unexpected_keys(tmp_path):
    state = {"ssl_model.model.mask_emb": torch.zeros(4), "LL.weight": torch.zeros(2, 2)}
    path = tmp_path / "ssl.pth"
    torch.save(state, path)
    error = import_error(path, tmp_path)
    assert "unexpected (no target)" in error and "ssl_model.model.mask_emb" in error
    assert "missing (no source)" in error


@pytest.mark.slow
@pytest.mark.parametrize(
    "kind, message",
    [
        ("truncated", "is truncated or corrupt"),
        ("text", "is not a PyTorch checkpoint"),
        ("pickle", "holds pickled objects other than tensors; refused"),
        ("not_tensors", "is not a state dict of tensors"),
    ],
)
def test_bad_checkpoint_files_are_refused_with_a_reason(tmp_path, kind, message):
    path = tmp_path / f"{kind}.pth"
    if kind == "truncated":
        data = open(
            os.path.join(PRETRAINED, "aasist_clovaai_AASIST-L.pth"), "rb"
        ).read()
        path.write_bytes(data[: len(data) // 2])
    elif kind == "text":
        path.write_text("not a checkpoint\n")
    elif kind == "pickle":
        torch.save({"weights": torch.nn.Linear(2, 2)}, path)  # a pickled module
    else:
        torch.save({"epoch": 3}, path)
    assert message in import_error(path, tmp_path)


# -- checkpoints from a hub --------------------------------------------------------
def test_hub_reference_is_read_from_the_hub_cache_offline(tmp_path, parity_files):
    commit = "0123456789abcdef0123456789abcdef01234567"
    cache = tmp_path / "hub"
    populate_hub_cache(
        cache,
        "tuantd/dpda_ga",
        {
            "aasist/AASIST-L.pth": os.path.join(
                PRETRAINED, "aasist_clovaai_AASIST-L.pth"
            )
        },
        commit,
    )
    env = {"HF_HUB_OFFLINE": "1", "HF_HUB_CACHE": str(cache)}
    for revision in (commit, None):
        out = tmp_path / f"detector_{revision is None}"
        args = ["hf://tuantd/dpda_ga/aasist/AASIST-L.pth", str(out)]
        args += ["hparams/dpda_rawboost_aasist_l.yaml"]
        if revision:
            args.append(f"--revision={revision}")
        result = run("import_checkpoint.py", args, RECIPE, env)
        assert result.returncode == 0, result.stderr[-3000:]
        card = open(out / "README.md").read()
        assert "# AASIST-L (clovaai, ASVspoof 2019 LA)" in card  # known by its sha256
        scores = DeepfakeDetector.from_hparams(str(out)).score_files(parity_files[:2])
        np.testing.assert_allclose(
            scores,
            reference_scores("aasist_clovaai_AASIST-L.pth")[:2],
            atol=TOLERANCE,
            rtol=0,
        )
    error = import_error(
        "hf://tuantd/dpda_ga/aasist/missing.pth",
        tmp_path,
        env=env,
        extra=[f"--revision={commit}"],
    )
    assert (
        "hf://tuantd/dpda_ga/aasist/missing.pth" in error
        and "could not be fetched" in error
    )


# -- fine-tuning a published model with DPDA ------------------------------------
TINY = {"train": (8, 16), "dev": (4, 8), "eval": (4, 8), "itw": (4, 4)}


@pytest.mark.slow
def test_finetuning_recipe_starts_from_the_released_weights(tmp_path):
    from dpda.data.minicorpus import generate_mini_corpus

    corpus = str(tmp_path / "mini")
    generate_mini_corpus(corpus, seed=7, sizes=TINY)
    common = [
        "hparams/mini_dpda_finetune_aasist_l.yaml",
        f"--mini_corpus_folder={corpus}",
        "--batch_size=4",
        "--num_workers=0",
        "--max_samples=8000",
        "--eval_max_samples=8000",
    ]
    released = read_authors_checkpoint(
        os.path.join(PRETRAINED, "aasist_clovaai_AASIST-L.pth")
    )

    # No epoch: the evaluated and exported weights are the released ones.
    before = tmp_path / "before"
    result = run(
        "train.py",
        [*common, "--number_of_epochs=0", f"--output_folder={before}"],
        RECIPE,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    exported = torch.load(before / "detector" / "model.ckpt", weights_only=True)
    assert all(torch.equal(exported[k], released[k]) for k in released)

    # One epoch: 24 utterances / 4 = 6 DPDA steps along the cosine to lr_min.
    after = tmp_path / "after"
    result = run(
        "train.py",
        [*common, "--number_of_epochs=1", f"--output_folder={after}"],
        RECIPE,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Initialised the model from ../../dpda/pretrained/aasist_l/model.ckpt" in (
        result.stderr + result.stdout
    )
    (ckpt,) = [d for d in os.listdir(after / "save") if d.startswith("CKPT")]
    schedule = torch.load(
        after / "save" / ckpt / "lr_scheduler.ckpt", weights_only=True
    )
    assert schedule["n_steps"] == schedule["total_steps"] == 6
    tuned = torch.load(after / "detector" / "model.ckpt", weights_only=True)
    changed = [k for k in released if not torch.equal(tuned[k], released[k])]
    assert "out_layer.weight" in changed and "encoder.0.0.conv1.weight" in changed
    # bn1 of the non-first residual blocks has no effect (as released): frozen.
    assert torch.equal(
        tuned["encoder.1.0.bn1.weight"], released["encoder.1.0.bn1.weight"]
    )
    rows = open(after / "alignment_stats.csv").read().splitlines()
    assert len(rows) == 1 + 6

    # Resuming the finished run does not load init_from over its checkpoint.
    result = run(
        "train.py",
        [*common, "--number_of_epochs=1", f"--output_folder={after}"],
        RECIPE,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Resuming: init_from=" in result.stderr + result.stdout


def test_random_training_windows_are_uniform_and_contiguous(tmp_path):
    """AASIST's training crop: a random whole window, short files tiled."""
    import soundfile as sf

    from dpda.data.pipelines import audio_pipeline

    path = str(tmp_path / "ramp.wav")
    ramp = np.arange(1000, dtype=np.int16)
    sf.write(path, ramp, 16000, subtype="PCM_16")
    pipeline = audio_pipeline(100, crop="random", min_samples=1)
    torch.manual_seed(0)
    starts = [int(round(float(pipeline(path)[0]) * 32768)) for _ in range(400)]
    assert min(starts) >= 0 and max(starts) <= 900
    assert len(set(starts)) > 250  # spread over the 901 possible starts
    window = pipeline(path) * 32768
    assert torch.allclose(window.diff(), torch.ones(99))
    short = audio_pipeline(2500, crop="random", min_samples=1)(path) * 32768
    assert torch.allclose(short[1000:2000], short[:1000])
    with pytest.raises(ValueError, match="crop must be one of"):
        audio_pipeline(100, crop="middle")


# -- the fast inference path -----------------------------------------------------
# The fast path computes the same function with other summation orders (batch
# norm folded into conv1, chunked kernels): float32 rounding of ~1e-6 of the
# largest logit (|logit| <= 34), far inside the 1e-4 the issue allows.
FAST_TOLERANCE = 1e-4


def plain_forward(model, wavs):
    """The model's training-path layers in its current mode."""
    model.fast_inference = False
    try:
        return model(wavs)
    finally:
        model.fast_inference = True


def real_speech_batch():
    """The 16 real-speech files, first 64,600 samples (short ones tiled);
    benchmarks/detector_speed.py compares the paths on all 16."""
    import soundfile as sf

    from dpda.data.pipelines import crop_or_tile

    folder = os.path.join(ROOT, "tests", "data", "real_speech")
    paths = sorted(p for p in os.listdir(folder) if p.endswith(".flac"))
    assert len(paths) == 16
    return torch.stack(
        [
            crop_or_tile(
                torch.from_numpy(sf.read(os.path.join(folder, p), dtype="float32")[0]),
                64600,
            )
            for p in paths
        ]
    )


def random_statistics_model(seed=0, **overrides):
    """AASIST-L with random weights and batch norm statistics (so folding matters)."""
    torch.manual_seed(seed)
    model = RawAASIST(**{**AASIST_L_CONFIG, **overrides})
    for module in model.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            module.running_mean.uniform_(-0.5, 0.5)
            module.running_var.uniform_(0.5, 2.0)
            module.weight.data.uniform_(0.5, 1.5)
            module.bias.data.uniform_(-0.5, 0.5)
    return model


@pytest.mark.parametrize(
    "checkpoint, config, n_files",
    [
        ("aasist_clovaai_AASIST-L.pth", AASIST_L_CONFIG, 8),
        ("aasist_clovaai_AASIST.pth", AASIST_CONFIG, 2),
    ],
)
def test_fast_path_scores_real_speech_as_the_plain_layers(checkpoint, config, n_files):
    model = RawAASIST(**config)
    model.load_state_dict(read_authors_checkpoint(os.path.join(PRETRAINED, checkpoint)))
    model.eval()
    wavs = real_speech_batch()[:n_files]
    with torch.inference_mode():
        assert model.uses_fast_path(wavs)
        fast = torch.cat([model(wavs[i : i + 8]) for i in range(0, n_files, 8)])
        plain = torch.cat(
            [plain_forward(model, wavs[i : i + 8]) for i in range(0, n_files, 8)]
        )
    assert plain.abs().max() > 1  # real logits, not a degenerate model
    torch.testing.assert_close(fast, plain, atol=FAST_TOLERANCE, rtol=0)


@pytest.mark.parametrize(
    "length, preactivate, chunk_elements, threads",
    [
        (20000, False, 50000, 2),
        (16001, True, 50000, 1),
        (16001, True, 50000, 3),
        (9000, False, 2**20, 2),
    ],
)
def test_fast_path_equals_plain_layers_at_chunk_edges(
    monkeypatch, length, preactivate, chunk_elements, threads
):
    """Small chunks (many halos), shared among worker threads; lengths the
    pooling does not divide; the paper's pre-activated blocks."""
    import dpda.models.raw_aasist as raw_aasist

    monkeypatch.setattr(raw_aasist, "FAST_CHUNK_ELEMENTS", chunk_elements)
    model = random_statistics_model(preactivate=preactivate).eval()
    wavs = 0.1 * torch.randn(3, length, generator=torch.Generator().manual_seed(1))
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        with torch.no_grad():
            fast = model(wavs)
            assert torch.get_num_threads() == threads  # the workers restore it
            plain = plain_forward(model, wavs)
    finally:
        torch.set_num_threads(before)
    torch.testing.assert_close(fast, plain, atol=1e-5, rtol=1e-5)


def test_fast_path_only_in_eval_without_gradients():
    model = random_statistics_model()
    wavs = 0.1 * torch.randn(2, 8000, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        assert not model.uses_fast_path(wavs)  # training mode
        model.eval()
        assert model.uses_fast_path(wavs)
        model.fast_inference = False
        assert not model.uses_fast_path(wavs)
        model.fast_inference = True
    with torch.inference_mode():
        assert model.uses_fast_path(wavs)
        expected = model(wavs)
    # Gradient-enabled eval forward (saliency, attacks): the plain layers,
    # with gradients.
    assert not model.uses_fast_path(wavs)
    wavs.requires_grad_(True)
    logits = model(wavs)
    logits[:, 1].sum().backward()
    assert wavs.grad is not None and wavs.grad.abs().sum() > 0
    assert model.encoder[0][0].conv2.weight.grad.abs().sum() > 0
    torch.testing.assert_close(logits.detach(), expected, atol=1e-5, rtol=1e-5)


def test_training_is_bit_for_bit_the_plain_layers():
    wavs = 0.1 * torch.randn(2, 8000, generator=torch.Generator().manual_seed(3))
    results = []
    for fast_inference in (True, False):
        model = random_statistics_model(seed=4)
        model.fast_inference = fast_inference
        torch.manual_seed(5)  # dropout draws
        logits = model(wavs)
        logits.sum().backward()
        grads = [p.grad.clone() for p in model.parameters() if p.grad is not None]
        results.append((logits.detach(), grads, model.first_bn.running_mean.clone()))
    (a, grads_a, stats_a), (b, grads_b, stats_b) = results
    assert torch.equal(a, b) and torch.equal(stats_a, stats_b)
    assert len(grads_a) == len(grads_b) and all(
        torch.equal(x, y) for x, y in zip(grads_a, grads_b)
    )


def test_fast_path_never_serves_stale_weights():
    """After an optimizer step, a training-mode forward (new batch norm
    statistics) and a load_state_dict, the fast path follows the weights."""
    model = random_statistics_model(seed=6)
    wavs = 0.1 * torch.randn(2, 8000, generator=torch.Generator().manual_seed(7))

    def check():
        model.eval()
        with torch.no_grad():
            fast, plain = model(wavs), plain_forward(model, wavs)
        torch.testing.assert_close(fast, plain, atol=1e-5, rtol=1e-5)
        return fast

    before = check()
    model.train()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.5)
    model(wavs).sum().backward()  # also updates the running statistics
    optimizer.step()
    after_step = check()
    assert (after_step - before).abs().max() > 1e-3
    model.load_state_dict(random_statistics_model(seed=8).state_dict())
    after_load = check()
    assert (after_load - after_step).abs().max() > 1e-3
