"""DET curves and score histograms: valid PNGs, also on awkward scores."""

import math
import os
from statistics import NormalDist

import numpy as np
import pytest

from dpda.plots import _probit, plot_det_curve, plot_score_histograms

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def check_png(path, min_bytes=8000):
    import matplotlib.image

    with open(path, "rb") as f:
        data = f.read()
    assert data.startswith(PNG_MAGIC)
    assert len(data) > min_bytes
    pixels = matplotlib.image.imread(path)
    assert pixels.ndim == 3 and min(pixels.shape[:2]) > 300
    # Something was drawn: not a single flat colour.
    assert pixels[..., :3].std() > 0.05


def test_probit_is_the_normal_deviate_and_finite_at_0_and_1():
    p = np.array([0.001, 0.05, 0.5, 0.8413447460685429])
    expected = [NormalDist().inv_cdf(v) for v in p]
    assert np.allclose(_probit(p), expected, atol=1e-12)
    assert _probit([0.5])[0] == 0.0 and _probit([0.8413447460685429])[0] == (
        pytest.approx(1.0)
    )
    ends = _probit([0.0, 1.0])
    assert np.isfinite(ends).all() and ends[0] < -4.5 and ends[1] > 4.5


@pytest.mark.filterwarnings("error")
def test_det_curve_png(tmp_path):
    rng = np.random.default_rng(0)
    curves = {
        "system A": (rng.normal(2, 1, 500), rng.normal(0, 1, 800)),
        # Perfect separation: rates hit exactly 0 and 1 (probit of 0/1).
        "perfect": ([5.0, 6.0, 7.0], [1.0, 2.0]),
        # Heavy ties and extreme but finite scores.
        "ties": ([1.0] * 20 + [1e300], [1.0] * 30 + [-1e300]),
    }
    path = str(tmp_path / "figs" / "det.png")
    assert plot_det_curve(curves, path, title="DET") == path
    check_png(path)


def test_det_curve_rejects_empty_and_non_finite(tmp_path):
    with pytest.raises(ValueError, match="at least one curve"):
        plot_det_curve({}, str(tmp_path / "x.png"))
    with pytest.raises(ValueError, match="NaN or inf"):
        plot_det_curve({"bad": ([math.inf, 1.0], [0.0])}, str(tmp_path / "x.png"))


@pytest.mark.filterwarnings("error")
@pytest.mark.parametrize(
    "bona,spoof,threshold",
    [
        (
            np.random.default_rng(1).normal(2, 1, 700),
            np.random.default_rng(2).normal(0, 1, 6000),
            1.0,
        ),
        ([1.0] * 5, [1.0] * 3, 1.0),  # every score tied
        ([1e308, -1e308, 0.0], [1.7e308, math.inf, math.nan], 0.0),  # float limits
        ([0.1, 0.2, 0.3], [-math.inf, math.nan], None),  # no finite spoof score
    ],
)
def test_score_histograms_png(tmp_path, bona, spoof, threshold):
    path = str(tmp_path / "hist.png")
    assert plot_score_histograms(bona, spoof, path, threshold=threshold) == path
    check_png(path, min_bytes=5000)


def test_score_histograms_counts_and_needs_a_finite_score(tmp_path):
    path = str(tmp_path / "h.png")
    plot_score_histograms([0.0, 1.0], [2.0], path, density=False, title="counts")
    check_png(path, min_bytes=5000)
    with pytest.raises(ValueError, match="finite score"):
        plot_score_histograms([math.nan], [math.inf], path)


@pytest.mark.slow
def test_a_training_run_says_nothing_about_torchvision(tmp_path):
    """SpeechBrain's train_logger warns on import that figures cannot be saved
    without torchvision (its image saver, unused here): not in our runs, whose
    figures matplotlib saves; its other messages still show."""
    import subprocess
    import sys

    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    hparams = os.path.join(root, "hparams", "mini_dpda_rawboost.yaml")
    # As train.py and import_checkpoint.py: the training hparams (whose
    # train_logger is SpeechBrain's FileTrainLogger), then figures.
    script = f"""
import logging
logging.basicConfig(level=logging.INFO)
from hyperpyyaml import load_hyperpyyaml
with open({hparams!r}) as fin:
    hparams = load_hyperpyyaml(fin, {{"output_folder": {str(tmp_path / "run")!r}}})
hparams["train_logger"].log_stats({{"epoch": 1}}, train_stats={{"loss": 0.5}})
import numpy as np
from dpda.plots import plot_det_curve
curves = {{"cm": (np.arange(10.0), np.arange(10.0) - 3)}}
plot_det_curve(curves, {str(tmp_path / "det.png")!r})
logging.getLogger("speechbrain.utils.train_logger").warning("another warning")
"""
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "torchvision" not in result.stderr
    assert "another warning" in result.stderr
    check_png(tmp_path / "det.png", min_bytes=1000)
