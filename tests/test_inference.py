"""DeepfakeDetector and export_detector against the training-time evaluation.

Models are built from the real hparams files with random weights, exported,
reloaded through ``DeepfakeDetector.from_hparams`` and compared with a direct
forward of the original model on the crops the recipes evaluate.
"""

import os
import pickle
import shutil
from types import SimpleNamespace

import numpy as np
import pytest
import ruamel.yaml
import soundfile as sf
import torch
import torchaudio
from conftest import make_tiny_wav2vec2, write_m4a, write_wav
from hyperpyyaml import load_hyperpyyaml
from speechbrain.dataio.dataio import read_audio

from dpda.data.audio import AudioError, read_checked_audio, stream_checked_audio
from dpda.data.pipelines import crop_or_tile
from dpda.export import export_detector, extract_model_hparams
from dpda.inference import DeepfakeDetector, check_trusted_source
from dpda.scores import score_batch, score_dataset
from dpda.streaming import split_windows, stream_windows

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MINI = os.path.join(ROOT, "hparams", "mini_dpda_rawboost.yaml")
PAPER = os.path.join(ROOT, "hparams", "dpda_rawboost.yaml")
WINDOW = 4000  # eval_max_samples override: small crops keep the tests fast
INFERENCE_KEYS = {
    "sample_rate",
    "threshold",
    "window_samples",
    "long_audio",
    "window_hop",
    "calibration",
    "cost_model",
    "modules",
    "pretrainer",
}


def build_model(hparams_file, overrides):
    with open(hparams_file, encoding="utf-8") as fin:
        model = load_hyperpyyaml(fin, overrides)["model"]
    # Non-trivial batch-norm statistics: a detector that failed to load the
    # buffers would score differently.
    gen = torch.Generator().manual_seed(0)
    for module in model.modules():
        if isinstance(module, torch.nn.BatchNorm1d):
            module.running_mean.normal_(0, 0.3, generator=gen)
            module.running_var.uniform_(0.5, 2.0, generator=gen)
    return model.eval()


def direct_scores(model, signals):
    """The training-time evaluation: first WINDOW samples, tiled, bona fide logit."""
    with torch.no_grad():
        crops = torch.stack([crop_or_tile(s, WINDOW) for s in signals])
        return model(crops, torch.ones(len(signals)))[:, 1]


# Keys of the training hparams that an exported model must never carry.
TRAINING_ONLY = {
    "seed",
    "__set_seed",
    "output_folder",
    "save_folder",
    "data_folder",
    "manifest_folder",
    "max_samples",
    "eval_max_samples",
    "lr",
    "batch_size",
    "augment",
    "aligner",
    "brain_class",
    "opt_class",
    "epoch_counter",
    "checkpointer",
    "train_logger",
}


def exported_keys(folder):
    """Top-level keys of an exported hyperparams.yaml, checked for leftovers."""
    with open(os.path.join(folder, "hyperparams.yaml"), encoding="utf-8") as fin:
        text = fin.read()
    keys = set(ruamel.yaml.YAML().load(text))
    assert INFERENCE_KEYS | {"model"} <= keys
    assert not keys & TRAINING_ONLY
    # Apart from the inference keys, every key is used by another one.
    for key in keys - INFERENCE_KEYS - {"model"}:
        assert f"<{key}>" in text, key
    for leak in ("!apply", "!PLACEHOLDER", "results/"):
        assert leak not in text
    return keys, text


@pytest.fixture(scope="module")
def mini(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("mini")
    overrides = {"eval_max_samples": WINDOW}
    model = build_model(MINI, {**overrides, "output_folder": str(tmp / "run")})
    # Shorter than, equal to and longer than the window.
    paths = [
        write_wav(tmp / f"{n}.wav", n, seed=i)
        for i, n in enumerate([2500, WINDOW, 9000])
    ]
    signals = [read_audio(p) for p in paths]
    expected = direct_scores(model, signals)
    threshold = float(expected.median())
    folder = export_detector(
        str(tmp / "export"),
        MINI,
        model,
        threshold,
        overrides=overrides,
        card={"eers": {"dev": 1.5}, "training_data": "mini corpus"},
    )
    detector = DeepfakeDetector.from_hparams(source=folder, savedir=str(tmp / "sd"))
    return SimpleNamespace(
        tmp=tmp,
        model=model,
        paths=paths,
        signals=signals,
        expected=expected,
        threshold=threshold,
        folder=folder,
        detector=detector,
    )


def test_score_file_matches_the_training_time_evaluation(mini):
    scores = [mini.detector.score_file(p) for p in mini.paths]
    np.testing.assert_allclose(scores, mini.expected.numpy(), atol=1e-5)
    assert len({round(s, 4) for s in scores}) == 3  # the files are told apart
    assert not mini.detector.mods.model.training


def test_score_batch_agrees_with_score_files(mini):
    lengths = [len(s) for s in mini.signals]
    batch = torch.zeros(len(lengths), max(lengths))
    for row, signal in zip(batch, mini.signals):
        row[: len(signal)] = signal
    rel = torch.tensor(lengths, dtype=torch.float) / max(lengths)
    from_batch = mini.detector.score_batch(batch, rel)
    from_files = mini.detector.score_files(mini.paths, batch_size=2)
    assert from_batch.shape == (3,)
    np.testing.assert_allclose(from_batch.numpy(), from_files, atol=1e-5)
    np.testing.assert_allclose(from_files, mini.expected.numpy(), atol=1e-5)
    # Without lengths the padding of the short rows would be scored.
    padded = mini.detector.score_batch(batch)
    assert abs(padded[0] - from_batch[0]) > 1e-4


def test_uncalibrated_detector_labels_only_with_a_given_threshold(mini):
    # Exported without calibration: scores, and no verdict from the stored
    # (dev EER) threshold.
    assert mini.detector.hparams.threshold == pytest.approx(mini.threshold)
    for path, score in zip(mini.paths, mini.expected.tolist()):
        result = mini.detector.classify_file(path)
        assert result["score"] == pytest.approx(score, abs=1e-5)
        assert result["label"] == "uncalibrated" and result["rule"] == "uncalibrated"
        assert result["llr"] is None and result["threshold"] is None
    results = [
        mini.detector.classify_file(p, threshold=mini.threshold) for p in mini.paths
    ]
    for result in results:
        assert result["threshold"] == pytest.approx(mini.threshold)
        expected = "bonafide" if result["score"] > mini.threshold else "spoof"
        assert result["label"] == expected
    # The median of three scores is one of them: both labels occur.
    assert {r["label"] for r in results} == {"bonafide", "spoof"}


def test_windows_mode_is_the_mean_over_windows(mini):
    hop = 1500
    detector = DeepfakeDetector.from_hparams(
        source=mini.folder,
        savedir=str(mini.tmp / "sd_windows"),
        overrides={"long_audio": "windows", "window_hop": hop},
    )
    detector.window_batch_size = 2  # several forwards per file
    for path, signal in zip(mini.paths, mini.signals):
        n = len(signal)
        starts = list(range(0, max(n - WINDOW, 0) + 1, hop))
        if n > WINDOW and starts[-1] != n - WINDOW:
            starts.append(n - WINDOW)  # the tail, by a window aligned to the end
        per_window = [direct_scores(mini.model, [signal[s:]]).item() for s in starts]
        assert detector.score_file(path) == pytest.approx(np.mean(per_window), abs=1e-5)
    assert len(starts) == 5  # 9000 samples: 0, 1500, 3000, 4500 and 5000
    # One file per call or all at once: the same scores.
    np.testing.assert_allclose(
        detector.score_files(mini.paths, batch_size=3),
        [detector.score_file(p) for p in mini.paths],
        atol=1e-5,
    )


def test_files_are_resampled_and_mixed_to_mono(mini):
    path = write_wav(mini.tmp / "stereo8k.wav", 3000, sample_rate=8000, channels=2)
    stereo = torch.from_numpy(sf.read(path, dtype="float32")[0])
    signal = torchaudio.functional.resample(stereo.mean(dim=1), 8000, 16000)
    expected = direct_scores(mini.model, [signal]).item()
    assert mini.detector.score_file(path) == pytest.approx(expected, abs=1e-4)


def test_classify_files_reports_bad_files_and_scores_the_others(mini, capsys):
    corrupt = mini.tmp / "corrupt.wav"
    corrupt.write_bytes(b"RIFF not audio at all")
    missing = str(mini.tmp / "missing.wav")
    paths = [str(corrupt), *mini.paths[:2], missing, mini.paths[2]]
    rows = mini.detector.classify_files(paths, batch_size=2, progress=True)
    # The bar counts the seconds of audio (the headers' durations), to the end.
    seconds = sum(len(s) for s in mini.signals) / 16000
    assert f"{seconds:.1f}/{seconds:.1f} s" in capsys.readouterr().err
    assert [r["path"] for r in rows] == paths
    assert "unreadable or corrupt" in rows[0]["error"]
    assert rows[3]["error"] == "file not found"  # the path has its own column
    good = [r for r in rows if r["error"] is None]
    assert [r["path"] for r in good] == mini.paths
    # The scores of score_files, i.e. the training-time evaluation (other
    # batches: float rounding apart).
    scores = [r["score"] for r in good]
    np.testing.assert_allclose(scores, mini.detector.score_files(mini.paths), atol=1e-5)
    np.testing.assert_allclose(scores, mini.expected.numpy(), atol=1e-5)
    for row, signal in zip(good, mini.signals):
        assert row["duration"] == len(signal) / 16000
        assert row["label"] == mini.detector.classify_score(row["score"])["label"]
    # Decoded by DataLoader worker processes: the same rows, errors included.
    assert mini.detector.classify_files(paths, batch_size=2, num_workers=2) == rows
    with pytest.raises(AudioError, match="corrupt.wav: unreadable"):
        mini.detector.score_files(paths)


def test_classify_files_with_windows_gives_each_file_its_timeline(mini):
    rows = mini.detector.classify_files(mini.paths, window_seconds=0.2)
    for row, signal in zip(rows, mini.signals):
        timeline = mini.detector.score_timeline(signal, window_seconds=0.2)
        # Streamed from the file and batched differently from the in-memory
        # signal: equal up to float32 rounding of the convolutions (the same
        # 1e-5 bound as score_files against the training-time scores above).
        np.testing.assert_allclose(
            row["timeline"]["scores"], timeline["scores"], rtol=0, atol=1e-5
        )
        assert row["score"] == pytest.approx(np.mean(timeline["scores"]), abs=1e-5)
        assert row["label"] == timeline["decision"]["label"]
    assert len(rows[2]["timeline"]["scores"]) == 5  # 9000 samples: 3200, hop 1600


def test_score_dataset_is_the_recipes_scoring_with_the_detectors_model(mini):
    crops = [crop_or_tile(s, WINDOW) for s in mini.signals]
    data = [{"id": f"u{i}", "sig": c} for i, c in enumerate(crops)]
    ids, scores = mini.detector.score_dataset(
        data, batch_size=2, lengths=[len(c) for c in crops], progress=False
    )
    assert ids == ["u0", "u1", "u2"]  # equal lengths: the given order
    same = score_dataset(mini.model, data, batch_size=2, progress=False)
    assert (ids, scores) == same
    np.testing.assert_allclose(scores, mini.expected.numpy(), atol=1e-5)


def test_exported_yaml_holds_only_model_and_inference_keys(mini):
    keys, text = exported_keys(mini.folder)
    assert keys == INFERENCE_KEYS | {"model"}  # RawCNN needs only sample_rate
    assert str(mini.tmp) not in text
    hparams = vars(mini.detector.hparams)
    assert hparams["window_samples"] == hparams["window_hop"] == WINDOW
    assert hparams["long_audio"] == "first"
    assert sorted(os.listdir(mini.folder)) == [
        "README.md",
        "hyperparams.yaml",
        "model.ckpt",
    ]
    card = open(os.path.join(mini.folder, "README.md"), encoding="utf-8").read()
    assert "| dev | 1.50 |" in card and "mini_dpda_rawboost.yaml" in card
    assert "trust_remote_code" in card and f"{mini.threshold:.6g}" in card


def test_paper_config_with_a_tiny_wav2vec2_exports_and_reloads(mini, tmp_path):
    ssl = str(tmp_path / "tiny_wav2vec2")
    make_tiny_wav2vec2(ssl)
    overrides = {"ssl_hub": ssl, "ssl_dim": 32, "eval_max_samples": WINDOW}
    model = build_model(
        PAPER,
        {**overrides, "data_folder": str(tmp_path), "output_folder": str(tmp_path)},
    )
    with torch.no_grad():  # weights the hub copy of the SSL model lacks
        model.ssl.ssl.model.encoder.layers[0].feed_forward.output_dense.weight.add_(0.5)
    expected = direct_scores(model, mini.signals)
    folder = export_detector(
        str(tmp_path / "export"), PAPER, model, 0.0, overrides=overrides
    )
    keys, text = exported_keys(folder)
    assert {"savedir", "ssl_hub", "ssl_folder", "ssl", "ssl_dim"} <= keys
    assert "ssl_folder: !ref <savedir>/ssl_checkpoint" in text

    savedir = str(tmp_path / "sd")
    detector = DeepfakeDetector.from_hparams(source=folder, savedir=savedir)
    assert detector.hparams.ssl_folder == f"{savedir}/ssl_checkpoint"
    scores = detector.score_files(mini.paths)
    np.testing.assert_allclose(scores, expected.numpy(), atol=1e-5)


def test_remote_sources_need_trust_or_a_pinned_commit(tmp_path):
    savedir = tmp_path / "sd"
    commit = "0123456789abcdef0123456789abcdef01234567"
    refused = [
        {},
        {"revision": "main"},
        {"revision": "v1.0"},
        {"revision": commit[:12]},
    ]
    for kwargs in refused:
        with pytest.raises(ValueError, match="trust_remote_code"):
            DeepfakeDetector.from_hparams(
                source="some-org/detector", savedir=str(savedir), **kwargs
            )
    assert not savedir.exists()  # refused before fetching anything
    with pytest.raises(ValueError):  # a URL has no commit to pin
        check_trusted_source("https://example.com/detector", revision=commit)
    check_trusted_source("some-org/detector", revision=commit)
    check_trusted_source("https://example.com/detector", trust_remote_code=True)
    check_trusted_source(str(tmp_path))  # the user's own folder


class WritesMarker:
    """Unpickling this object creates a file: stands for arbitrary code."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


@pytest.mark.parametrize("hook", ["dpda", "speechbrain_default"])
def test_a_malicious_checkpoint_is_refused(mini, tmp_path, hook):
    folder = shutil.copytree(mini.folder, tmp_path / "export")
    marker = tmp_path / "pwned"
    torch.save({"frontend.weight": WritesMarker(marker)}, folder / "model.ckpt")
    if hook == "speechbrain_default":
        # SpeechBrain's own transfer hook: torch >= 2.6 loads weights only.
        yaml_path = folder / "hyperparams.yaml"
        text = yaml_path.read_text(encoding="utf-8")
        text = text.replace("    custom_hooks:\n", "").replace(
            "        model: !name:dpda.inference.load_weights_only\n", ""
        )
        assert "custom_hooks" not in text
        yaml_path.write_text(text, encoding="utf-8")
    with pytest.raises(pickle.UnpicklingError):
        DeepfakeDetector.from_hparams(source=str(folder), savedir=str(tmp_path / "sd"))
    assert not marker.exists()
    # The payload is live: a full unpickling runs it.
    torch.load(folder / "model.ckpt", weights_only=False)
    assert marker.exists()


def test_a_checkpoint_missing_weights_is_an_error(mini, tmp_path):
    # SpeechBrain's default transfer hook would only warn and keep the
    # random initialisation of the missing layer.
    state_dict = mini.model.state_dict()
    del state_dict["classifier.bias"]
    folder = export_detector(
        str(tmp_path / "export"),
        MINI,
        state_dict,
        0.0,
        overrides={"eval_max_samples": WINDOW},
    )
    with pytest.raises(RuntimeError, match="classifier.bias"):
        DeepfakeDetector.from_hparams(source=folder, savedir=str(tmp_path / "sd"))


TOY = """
seed: 3
__set_seed: !apply:torch.manual_seed [!ref <seed>]
output_folder: !ref results/<seed>
save_folder: !ref <output_folder>/save
data_folder: !PLACEHOLDER
sizes:
    hidden: 4
    unused: 9
base: 10
scale: !ref <base> * 2
name: !ref <prefix>/<suffix>
prefix: a
suffix: b
cache: !ref <save_folder>/cache
lr: 0.1
model: !new:collections.Counter
    hidden: !ref <sizes[hidden]>
    scale: !ref <scale>
    name: !ref <name>
    copied: !copy <base>
    cache: !ref <cache>
"""


def test_extract_model_hparams_follows_references():
    kept = extract_model_hparams(TOY, overrides="base: 7")
    assert list(kept) == [
        "sizes",
        "base",
        "scale",
        "name",
        "prefix",
        "suffix",
        "cache",
        "model",
    ]
    assert kept["cache"].value == "<savedir>/cache"
    # The subset builds the same model as the whole file, run folder aside.
    stream = ruamel.yaml.compat.StringIO()
    ruamel.yaml.YAML().dump(kept, stream)
    subset = load_hyperpyyaml("savedir: results/3/save\n" + stream.getvalue())
    full = load_hyperpyyaml(TOY, {"base": 7, "data_folder": "x"})
    assert subset["model"] == full["model"]
    assert full["model"]["scale"] == 14 and full["model"]["copied"] == 7


def test_extract_model_hparams_refuses_code_and_placeholders():
    with pytest.raises(ValueError, match="!apply"):
        extract_model_hparams(TOY + "bad: !ref <__set_seed>\n", model_key="bad")
    with pytest.raises(ValueError, match="PLACEHOLDER"):
        extract_model_hparams(TOY + "bad: !ref <data_folder>\n", model_key="bad")
    kept = extract_model_hparams(
        TOY + "bad: !ref <data_folder>\n", model_key="bad", overrides="data_folder: d"
    )
    assert kept["data_folder"] == "d"
    with pytest.raises(ValueError, match="missing"):
        extract_model_hparams(TOY + "bad: !ref <missing>\n", model_key="bad")
    with pytest.raises(KeyError):  # overrides must match, as in HyperPyYAML
        extract_model_hparams(TOY, overrides={"not_a_key": 1})


def small_detector(threshold=0.0, calibration=None, **hparams):
    """An in-memory detector with a tiny random model (scores are not used)."""
    from dpda.models.raw_cnn import RawCNN

    return DeepfakeDetector(
        modules={"model": RawCNN(channels=[8, 8], kernel_size=33)},
        hparams={
            "sample_rate": 16000,
            "threshold": threshold,
            "window_samples": 4000,
            "calibration": calibration,
            **hparams,
        },
    )


def test_the_shown_probability_and_the_label_follow_one_rule():
    detector = small_detector(calibration={"scale": 1.0, "offset": 0.0, "prior": 0.6})
    # The file: P(bona fide) 0.883 at the prior 0.95, labelled spoof.
    shown = detector.classify_score(-0.92)
    assert round(shown["p_bonafide"], 3) == 0.883 and shown["label"] == "spoof"
    # It is labelled spoof because 0.883 is below the threshold it is compared
    # with, which is stated in the same units: Cfa / (Cmiss + Cfa) = 10/11.
    assert shown["p_threshold"] == pytest.approx(10 / 11)
    assert shown["rule"] == "bayes"
    assert f"P(bona fide) >= {10 / 11:.4f}" in shown["rule_text"]
    for prior, cost_model in [(None, None), (0.5, None), (None, {"c_fa": 1.0})]:
        for score in np.linspace(-6, 6, 49):
            out = detector.classify_score(score, prior=prior, cost_model=cost_model)
            bona = out["label"] == "bonafide"
            assert (out["p_bonafide"] >= out["p_threshold"]) == bona, (prior, score)
            assert (out["score"] >= out["threshold"]) == bona  # raw-score units
            assert (out["llr"] >= out["llr_threshold"]) == bona
            if prior is not None:  # one prior for the probability and the decision
                assert out["prior"] == prior and out["cost_model"]["p_spoof"] == 0.5
    # Uncalibrated: no probability and no verdict, whatever the stored
    # threshold; a threshold passed by the caller gives one, stated.
    plain = small_detector(threshold=0.25)
    out = plain.classify_score(0.3)
    assert out["rule"] == "uncalibrated" and out["label"] == "uncalibrated"
    assert out["p_threshold"] is None and out["threshold"] is None
    given = plain.classify_score(0.3, threshold=0.25)
    assert given["rule"] == "score_threshold" and given["p_threshold"] is None
    assert given["label"] == "bonafide" and "score > 0.2500" in given["rule_text"]
    assert plain.classify_score(0.25, threshold=0.25)["label"] == "spoof"


def test_the_uncertain_band_withholds_the_verdict_near_the_threshold():
    calibration = {"scale": 0.5, "offset": 1.0, "prior": 0.5}
    costs = {"p_spoof": 0.5, "c_miss": 1.0, "c_fa": 1.0}
    detector = small_detector(
        calibration=calibration, cost_model=costs, uncertain_band=1.0
    )
    rule = detector.decision_rule()
    assert rule.labels == ("bonafide", "spoof", "uncertain")
    assert rule.llr_band == (-1.0, 1.0)
    assert rule.p_band == pytest.approx((1 / (1 + np.e), 1 / (1 + np.exp(-1))))
    for prior in (None, 0.5, 0.9, 0.1):
        moved = detector.decision_rule(prior=prior)
        low, high = moved.llr_band
        # The band follows the threshold when the prior moves it.
        assert (low + high) / 2 == pytest.approx(moved.llr_threshold, abs=1e-12)
        assert high - low == pytest.approx(2.0)
        # LLR = 0.5 score + 1: scores on both sides of every edge.
        for score in np.linspace(-12, 8, 81):
            out = detector.classify_score(score, prior=prior)
            llr = 0.5 * score + 1.0
            assert out["llr"] == pytest.approx(llr)
            expected = (
                "bonafide" if llr >= high else "spoof" if llr < low else "uncertain"
            )
            assert out["label"] == expected, (prior, score)
            assert out["llr_band"] == pytest.approx((low, high))
    # Exactly on the edges: the upper one is bona fide, the lower uncertain.
    assert detector.classify_score(0.0)["label"] == "bonafide"  # LLR 1
    assert detector.classify_score(-4.0)["label"] == "uncertain"  # LLR -1
    # A caller's threshold on raw scores gives a two-way label, band or not.
    forced = detector.classify_score(-1.0, threshold=-2.0)
    assert forced["label"] == "bonafide" and forced["llr"] == pytest.approx(0.5)
    # No band (null or 0): the plain Bayes decision.
    for band in (None, 0.0):
        plain = small_detector(
            calibration=calibration, cost_model=costs, uncertain_band=band
        )
        assert plain.decision_rule().labels == ("bonafide", "spoof")
        assert plain.classify_score(-2.01)["label"] == "spoof"  # LLR -0.005
        assert plain.classify_score(-2.0)["label"] == "bonafide"  # LLR 0
    for bad in (-0.5, float("inf"), float("nan")):
        with pytest.raises(ValueError, match="uncertain_band"):
            small_detector(calibration=calibration, uncertain_band=bad).decision_rule()


def test_every_place_that_shows_a_label_states_the_rule(tmp_path):
    from dpda.cli import format_rows
    from dpda.demo import format_verdict
    from dpda.models.raw_cnn import RawCNN

    calibration = {"scale": 2.0, "offset": -0.5, "prior": 0.655, "fitted_on": "dev"}
    for cal in (calibration, None):
        detector = small_detector(threshold=0.1, calibration=cal)
        rule = detector.decision_rule()
        timeline = detector.score_timeline(torch.randn(16000), window_seconds=0.5)
        assert timeline["decision"]["rule_text"] == rule.text
        assert rule.text in format_verdict(timeline, "RawCNN")
        row = {"path": "a.wav", "duration": 1.0, "error": None}
        row.update({k: timeline["decision"][k] for k in ("score", "llr", "label")})
        row["p_bonafide"] = timeline["decision"]["p_bonafide"]
        for fmt in ("table", "csv", "json"):
            text, _ = format_rows([row], fmt, "toy", rule)
            assert rule.text in text, fmt
    # The model card states the same rule as the detector it describes.
    (tmp_path / "train.yaml").write_text(
        "sample_rate: 16000\neval_max_samples: 4000\n"
        "model: !new:dpda.models.raw_cnn.RawCNN\n    channels: [8]\n"
        "    kernel_size: 33\n"
    )
    for cal in (calibration, None):
        folder = export_detector(
            str(tmp_path / f"detector_{cal is None}"),
            str(tmp_path / "train.yaml"),
            RawCNN(channels=[8], kernel_size=33),
            threshold=0.1,
            calibration=cal,
        )
        detector = DeepfakeDetector.from_hparams(folder)
        card = open(os.path.join(folder, "README.md"), encoding="utf-8").read()
        assert detector.decision_rule().text in card
        if cal is not None:  # the EER threshold is not presented as the decision
            assert "bona fide when score > threshold" not in card


# ------------------------------------------------- streaming and no speech
def speech_like(seconds, rate=16000, channels=1, seed=0):
    """A voiced-speech stand-in ``[T, C]``: a gliding harmonic tone in
    syllable-rate bursts plus noise, about -20 dBFS RMS."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * rate)) / rate
    pitch = 140 + 30 * np.sin(2 * np.pi * 0.7 * t)
    phase = 2 * np.pi * np.cumsum(pitch) / rate
    voiced = sum(np.sin(k * phase) / k for k in range(1, 6))
    bursts = 0.6 + 0.4 * np.sin(2 * np.pi * 4 * t) ** 2
    x = 0.08 * voiced * bursts + 0.01 * rng.standard_normal(t.size)
    return np.stack([x * (1 - 0.2 * c) for c in range(channels)], axis=1)


@pytest.mark.parametrize(
    "name, rate, channels",
    [
        ("a.wav", 44100, 2),
        ("b.flac", 22050, 1),
        ("c.wav", 16000, 1),
        ("d.m4a", 48000, 2),
    ],
)
def test_streamed_audio_and_windows_equal_the_whole_file_path(
    tmp_path, name, rate, channels
):
    path = tmp_path / name
    samples = speech_like(3.3, rate, channels, seed=rate)
    if name.endswith(".m4a"):
        write_m4a(path, samples, rate)  # decoded by PyAV
    else:
        sf.write(path, samples, rate)
    whole = read_checked_audio(path, sample_rate=16000, resample=True)
    # Samples are within [-1, 1]: a few float32 roundings, far below 1e-6.
    for block_frames in (997, 8192, 10**6):
        blocks = list(stream_checked_audio(path, 16000, block_frames=block_frames))
        streamed = torch.cat(blocks)
        assert streamed.shape == whole.shape
        assert float((streamed - whole).abs().max()) < 1e-6
        for width, hop, first in [(4000, 1600, False), (3000, 4500, False),
                                  (4000, 4000, False), (4000, 1, True)]:  # fmt: skip
            cut = list(stream_windows(blocks, width, hop, first))
            starts = [s for part, _ in cut for s in part]
            windows = torch.cat([w for _, w in cut])
            if first:
                expected = [0], crop_or_tile(whole, width)[None]
            else:
                expected = split_windows(whole, width, hop)
            assert starts == expected[0]
            assert float((windows - expected[1]).abs().max()) < 1e-6


@pytest.mark.parametrize("length", [1, 3999, 4000, 4001, 9000, 9601])
def test_stream_windows_cuts_as_split_windows_at_every_edge(length):
    signal = torch.randn(length)
    for hop in (1600, 4000, 4321):
        starts, windows = split_windows(signal, 4000, hop)
        for size in (1, 700, 4000, 10**5):
            cut = list(stream_windows(signal.split(size), 4000, hop))
            assert [s for part, _ in cut for s in part] == starts
            assert torch.equal(torch.cat([w for _, w in cut]), windows)


def test_the_timeline_of_a_file_is_streamed_and_exact(tmp_path):
    detector = small_detector()
    path = tmp_path / "talk.wav"
    sf.write(path, speech_like(5, 44100, 2), 44100)
    timeline = detector.score_timeline(str(path), window_seconds=0.5)
    signal = detector.load_audio(str(path))
    starts, windows = split_windows(signal, 8000, 4000)
    with torch.no_grad():
        direct = score_batch(
            detector.mods.model.eval(), windows, torch.ones(len(starts))
        )
    assert timeline["starts"] == [s / 16000 for s in starts]
    np.testing.assert_allclose(timeline["scores"], direct.numpy(), atol=1e-5)
    assert timeline["no_speech"] == [None] * len(starts)
    assert timeline["score"] == pytest.approx(float(direct.double().mean()), abs=1e-6)
    # The same through DataLoader workers, in batches of any size.
    (row,) = detector.classify_files([str(path)], 3, 2, window_seconds=0.5)
    assert row["timeline"]["scores"] == pytest.approx(timeline["scores"], abs=1e-6)


@pytest.mark.slow
def test_a_twenty_minute_file_is_read_a_block_at_a_time(tmp_path):
    import tracemalloc

    rate, minutes = 16000, 20
    path = tmp_path / "long.wav"
    with sf.SoundFile(path, "w", rate, 1, subtype="PCM_16") as fout:
        for minute in range(minutes):
            fout.write(speech_like(60, rate, seed=minute))
    # The whole-file path decodes every sample into numpy (tracemalloc sees
    # numpy's buffers, not torch's): 20 min of float32 is 76.8 MB.
    whole_bytes = minutes * 60 * rate * 4
    tracemalloc.start()
    try:
        read_checked_audio(path)
        assert tracemalloc.get_traced_memory()[1] >= whole_bytes
        tracemalloc.reset_peak()
        timeline = small_detector().score_timeline(str(path), window_seconds=4.0)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    # Streamed: blocks of 2**18 frames (1 MiB of float32) at a time.
    assert peak < 8 * 2**20, peak
    assert timeline["duration"] == minutes * 60
    assert len(timeline["scores"]) == (minutes * 60 - 4) // 2 + 1
    assert None not in timeline["scores"]


def test_silence_and_a_quiet_file_are_no_speech(tmp_path):
    rate = 16000
    rng = np.random.default_rng(0)
    paths = {
        "silent.wav": np.zeros(4 * rate),
        "quiet.wav": 1e-4 * rng.standard_normal(4 * rate),  # -80 dBFS RMS
        "speech.wav": speech_like(4, rate)[:, 0],
    }
    for name, samples in paths.items():
        sf.write(tmp_path / name, samples, rate, subtype="PCM_16")
    files = [str(tmp_path / name) for name in paths]
    torch.manual_seed(0)
    detector = small_detector()
    for window_seconds in (None, 1.0):
        silent, quiet, speech = detector.classify_files(
            files, window_seconds=window_seconds
        )
        assert silent["label"] == quiet["label"] == "no speech"
        assert silent["reason"].startswith("digital silence")
        assert quiet["reason"].startswith("level below -60 dBFS")
        for row in (silent, quiet):
            assert row["score"] is None and row["error"] is None
            assert row["duration"] == 4.0
        assert speech["label"] != "no speech" and speech["reason"] is None
        assert speech["score"] is not None
        # Without windows the first window decides: said so for a longer file.
        first = "in the first window" in silent["reason"]
        assert first == (window_seconds is None)
    # Raw scores stay available for every file (score files need one per trial).
    assert len(detector.score_files(files)) == 3
    # One file at a time, the same labels, reasons and scores.
    for row, path in zip(detector.classify_files(files), files):
        single = detector.classify_file(path)
        assert (single["label"], single["reason"]) == (row["label"], row["reason"])
        assert single["score"] == pytest.approx(row["score"], abs=1e-6)


def test_windows_without_speech_do_not_count_in_the_verdict():
    rate = 16000
    speech = torch.from_numpy(speech_like(6, rate)[:, 0]).float()
    signal = torch.cat([speech, torch.zeros(6 * rate), speech.flip(0)])
    detector = small_detector()
    timeline = detector.score_timeline(signal, window_seconds=1.0)
    starts, ends = np.array(timeline["starts"]), np.array(timeline["ends"])
    inside = (starts >= 6) & (ends <= 12)  # windows wholly in the silent middle
    assert inside.sum() == 11
    assert [r is not None for r in timeline["no_speech"]] == inside.tolist()
    scores = timeline["scores"]
    assert [v is None for v in scores] == inside.tolist()
    kept = [v for v in scores if v is not None]
    assert timeline["score"] == pytest.approx(np.mean(kept), abs=1e-9)
    # Each kept window is the model's score of those samples.
    _, windows = split_windows(signal, rate, rate // 2)
    with torch.no_grad():
        direct = score_batch(
            detector.mods.model.eval(), windows, torch.ones(len(windows))
        )
    np.testing.assert_allclose(kept, direct[~torch.from_numpy(inside)], atol=1e-5)
