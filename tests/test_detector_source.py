"""A detector is always the one the user named, whatever ``savedir`` held.

SpeechBrain's fetching keeps any file it finds in ``savedir`` ("Using symlink
found at ..."), so loading detector B into a folder that detector A was loaded
into used to score with A's weights, silently. Each test loads two detectors
that score differently, one after the other, through the Python API (local
folders, ``import_checkpoint.py`` outputs, hub ids from a hub cache),
``evaluate.py``, ``dpda-detect`` and the demo, and compares every score with
the same detector loaded on its own.
"""

import json
import os
import shutil

import numpy as np
import pytest
import soundfile as sf
import torch
from conftest import evaluate, populate_hub_cache, run_python
from speechbrain.utils.fetching import FetchConfig, LocalStrategy

from dpda import cli, demo
from dpda.export import export_detector
from dpda.inference import DeepfakeDetector
from dpda.models.raw_cnn import RawCNN
from dpda.published import sha256_of

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PRETRAINED = os.path.join(os.path.dirname(ROOT), "shared", "data", "pretrained")
RECIPE = os.path.join(ROOT, "recipes", "ASVspoof")
COMMIT = "0123456789abcdef0123456789abcdef01234567"


def export_small(root, seed):
    """A small exported RawCNN detector with seeded random weights."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "train.yaml").write_text(
        "sample_rate: 16000\neval_max_samples: 16000\n"
        "model: !new:dpda.models.raw_cnn.RawCNN\n"
        "    channels: [8, 8]\n    kernel_size: 33\n"
    )
    torch.manual_seed(seed)
    return export_detector(
        str(root / "detector"),
        str(root / "train.yaml"),
        RawCNN(channels=[8, 8], kernel_size=33),
        threshold=0.0,
    )


def write_speechlike(path, seconds, seed):
    rng = np.random.default_rng(seed)
    n = int(16000 * seconds)
    t = np.arange(n) / 16000
    x = 0.3 * np.sin(2 * np.pi * rng.uniform(100, 400) * t)
    sf.write(path, x + 0.05 * rng.standard_normal(n), 16000, subtype="PCM_16")
    return str(path)


@pytest.fixture(scope="module")
def two(tmp_path_factory):
    """Detectors A and B, audio files, and each detector's own scores."""
    root = tmp_path_factory.mktemp("two")
    a = export_small(root / "a", seed=1)
    b = export_small(root / "b", seed=2)
    files = [write_speechlike(root / f"{i}.wav", 1.5 + i, seed=i) for i in range(3)]
    own = {
        name: DeepfakeDetector.from_hparams(source=folder).score_files(files)
        for name, folder in (("a", a), ("b", b))
    }
    # The test means something only if the two detectors disagree.
    assert np.abs(np.array(own["a"]) - np.array(own["b"])).min() > 1e-3
    return {"a": a, "b": b, "files": files, "own": own}


@pytest.mark.parametrize(
    "strategy", [LocalStrategy.SYMLINK, LocalStrategy.COPY], ids=["symlink", "copy"]
)
def test_local_folders_into_the_same_savedir(two, tmp_path, strategy):
    savedir = tmp_path / "detector"
    for name in ("a", "b", "a"):
        detector = DeepfakeDetector.from_hparams(
            source=two[name], savedir=savedir, local_strategy=strategy
        )
        scores = detector.score_files(two["files"])
        np.testing.assert_allclose(scores, two["own"][name], rtol=0, atol=1e-6)
        held = savedir / "model.ckpt"
        assert sha256_of(held) == sha256_of(os.path.join(two[name], "model.ckpt"))


def test_hub_ids_into_the_same_savedir(two, tmp_path):
    cache = tmp_path / "hub"
    for name in ("a", "b"):
        files = {
            f: os.path.join(two[name], f) for f in ("hyperparams.yaml", "model.ckpt")
        }
        populate_hub_cache(cache, f"someone/detector-{name}", files, COMMIT)
    offline = FetchConfig(allow_network=False, huggingface_cache_dir=str(cache))
    savedir = tmp_path / "detector"
    for name in ("a", "b"):
        detector = DeepfakeDetector.from_hparams(
            source=f"someone/detector-{name}",
            savedir=savedir,
            revision=COMMIT,
            fetch_config=offline,
        )
        scores = detector.score_files(two["files"])
        np.testing.assert_allclose(scores, two["own"][name], rtol=0, atol=1e-6)


@pytest.fixture(scope="module")
def imported(tmp_path_factory):
    """The released AASIST-L imported by import_checkpoint.py."""
    folder = str(tmp_path_factory.mktemp("imported") / "aasist_l")
    checkpoint = os.path.join(PRETRAINED, "aasist_clovaai_AASIST-L.pth")
    run_python(
        RECIPE,
        "import_checkpoint.py",
        checkpoint,
        folder,
        "hparams/dpda_rawboost_aasist_l.yaml",
    )
    return folder


def in_the_wild_layout(root, files):
    root.mkdir()
    rows = ["file,speaker,label"]
    for i, path in enumerate(files):
        shutil.copy(path, root / f"{i}.wav")
        rows.append(f"{i}.wav,spk{i % 2},{'bona-fide' if i % 2 else 'spoof'}")
    (root / "meta.csv").write_text("\n".join(rows) + "\n")
    return root


def evaluated(detector, data, out):
    """evaluate.py's scores (in file order) and its eval_results.json."""
    evaluate(out, detector, data)
    scores = (out / "scores" / "in_the_wild.txt").read_text().split("\n")
    by_id = dict(line.split() for line in scores if line)
    results = json.loads((out / "eval_results.json").read_text())
    return [float(by_id[str(i)]) for i in range(len(by_id))], results


@pytest.mark.slow
def test_evaluate_py_two_detectors_into_the_default_savedir(two, imported, tmp_path):
    """The README's workflow: a baseline, then another detector, one output folder."""
    data = in_the_wild_layout(tmp_path / "itw", two["files"])
    shared = tmp_path / "shared_out"
    first, _ = evaluated(imported, data, shared)
    second, results = evaluated(two["b"], data, shared)
    alone, alone_results = evaluated(two["b"], data, tmp_path / "alone_out")
    np.testing.assert_allclose(second, alone, rtol=0, atol=1e-6)
    np.testing.assert_allclose(second, two["own"]["b"], rtol=0, atol=1e-5)
    assert np.abs(np.array(first) - np.array(second)).min() > 1e-3
    for key in ("EER", "threshold"):
        assert results["in_the_wild"][key] == alone_results["in_the_wild"][key]


@pytest.mark.slow
def test_dpda_detect_scores_each_named_detector(two, imported, tmp_path):
    """One process, three detectors in turn, as a script calling the CLI would."""
    for name, folder in (("a", two["a"]), ("imported", imported), ("b", two["b"])):
        out = tmp_path / f"{name}.json"
        code = cli.main(
            [
                *two["files"],
                "--detector",
                folder,
                "--format",
                "json",
                "--output",
                str(out),
            ]
        )
        assert code == 0
        scores = [row["score"] for row in json.loads(out.read_text())["files"]]
        if name in two["own"]:
            np.testing.assert_allclose(scores, two["own"][name], rtol=0, atol=1e-5)
        else:
            own = DeepfakeDetector.from_hparams(source=folder)
            np.testing.assert_allclose(
                scores, own.score_files(two["files"]), rtol=0, atol=1e-5
            )


def test_the_demo_serves_each_named_detector(two, monkeypatch):
    """Each ``serve`` builds its page on the detector named (launch not run)."""
    served = []

    class Page:
        def launch(self, **kwargs):
            pass

    def build(detector, **kwargs):
        served.append(detector)
        return Page()

    monkeypatch.setattr(demo, "build_demo", build)
    for name in ("a", "b"):
        demo.serve(two[name])
        scores = served[-1].score_files(two["files"])
        np.testing.assert_allclose(scores, two["own"][name], rtol=0, atol=1e-6)
