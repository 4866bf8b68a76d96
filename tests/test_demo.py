"""The web demo, served on 127.0.0.1 and called through Gradio's own client.

The app runs in this process on a free port with the default detector (the
AASIST-L shipped in the package); its Gradio cache is a temporary folder, so
that the test can check that no upload is left in it.
"""

import gc
import os
import re
import socket
import subprocess
import sys
import warnings

import numpy as np
import pytest
import soundfile as sf

from dpda.demo import (
    INSTALL_HINT,
    LimitError,
    build_demo,
    launch_options,
    score_recording,
)
from dpda.inference import DeepfakeDetector

pytest.importorskip("gradio")
gradio_client = pytest.importorskip("gradio_client")

MAX_SECONDS = 8.0
SAMPLE_RATE = 16000


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def write_audio(path, seconds, seed=0):
    """Tones and noise, ``seconds`` long at 16 kHz."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * SAMPLE_RATE)) / SAMPLE_RATE
    x = 0.2 * np.sin(2 * np.pi * 220 * t) + 0.1 * np.sin(2 * np.pi * 1330 * t)
    sf.write(path, x + 0.03 * rng.standard_normal(t.size), SAMPLE_RATE)
    return path


def cached_files(folder):
    """Every file under Gradio's cache folder."""
    return [
        os.path.join(root, name) for root, _, names in os.walk(folder) for name in names
    ]


@pytest.fixture(scope="module")
def detector():
    return DeepfakeDetector.from_hparams()


@pytest.fixture(scope="module")
def served(detector, tmp_path_factory):
    """The demo on 127.0.0.1, its cache folder, and a client of it."""
    cache = str(tmp_path_factory.mktemp("gradio_cache"))
    downloads = str(tmp_path_factory.mktemp("client_downloads"))
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("GRADIO_TEMP_DIR", cache)
        mp.setenv("GRADIO_ANALYTICS_ENABLED", "False")
        demo = build_demo(detector, max_seconds=MAX_SECONDS, max_megabytes=5)
        port = free_port()
        demo.launch(
            server_name="127.0.0.1",
            server_port=port,
            prevent_thread_lock=True,
            quiet=True,
            **launch_options(max_megabytes=5),
        )
        try:
            client = gradio_client.Client(
                f"http://127.0.0.1:{port}/", download_files=downloads, verbose=False
            )
            yield client, cache
        finally:
            if "client" in locals():
                client.close()
            demo.close()
            # Collect the servers' and client's sockets and event loops now,
            # inside this module, rather than in whichever test runs next.
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ResourceWarning)
                gc.collect()


@pytest.mark.slow
def test_score_through_the_api(served, detector, tmp_path):
    client, cache = served
    path = write_audio(str(tmp_path / "tones.wav"), 6.0)
    expected = detector.score_timeline(path)

    verdict, image = client.predict(gradio_client.handle_file(path), api_name="/score")

    assert f"Verdict: **{expected['decision']['label']}**" in verdict
    score = float(re.search(r"Score: (-?\d+\.\d+)", verdict).group(1))
    assert score == pytest.approx(expected["score"], abs=1e-4)
    # The shipped detector is calibrated: the probability, the LLR and the
    # rule (with its uncertain band) beside the label.
    decision = expected["decision"]
    assert decision["calibrated"] and "Uncalibrated" not in verdict
    assert f"P(bona fide): {decision['p_bonafide']:.4f}" in verdict
    assert f"log-likelihood ratio {decision['llr']:.3f} (calibrated)" in verdict
    assert decision["rule_text"] in verdict and "uncertain" in decision["rule_text"]
    assert ("- Uncertain:" in verdict) == (decision["label"] == "uncertain")
    assert "Duration: 6.0 s" in verdict
    assert "Detector: RawAASIST" in verdict

    from PIL import Image

    with Image.open(image) as png:
        assert png.width > 300 and png.height > 100

    leftovers = cached_files(cache)
    assert not [f for f in leftovers if f.endswith(".wav")], leftovers


@pytest.mark.slow
def test_too_long_recording_is_refused(served, tmp_path):
    client, cache = served
    path = write_audio(str(tmp_path / "long.wav"), MAX_SECONDS + 2)
    with pytest.raises(gradio_client.exceptions.AppError) as err:
        client.predict(gradio_client.handle_file(path), api_name="/score")
    message = str(err.value)
    assert "lasts 10.0 s" in message and "at most 8 s" in message
    assert not [f for f in cached_files(cache) if f.endswith("long.wav")]


@pytest.mark.slow
def test_unreadable_file_gets_its_reason(served, tmp_path):
    client, cache = served
    path = tmp_path / "broken.wav"
    path.write_bytes(b"RIFF\x10\x00\x00\x00WAVEfmt not really audio")
    with pytest.raises(gradio_client.exceptions.AppError) as err:
        client.predict(gradio_client.handle_file(str(path)), api_name="/score")
    message = str(err.value)
    assert message.startswith("Cannot read broken.wav: ")
    assert "unreadable or corrupt audio" in message
    assert cache not in message  # the server's cache folder is not shown
    assert not [f for f in cached_files(cache) if f.endswith("broken.wav")]


def small_detector(**hparams):
    """An in-memory detector with a tiny random model."""
    from dpda.models.raw_cnn import RawCNN

    return DeepfakeDetector(
        modules={"model": RawCNN(channels=[8, 8], kernel_size=33)},
        hparams={"sample_rate": 16000, "threshold": 0.0, "window_samples": 16000}
        | hparams,
    )


def test_each_label_is_shown_with_its_reason(tmp_path):
    path = write_audio(str(tmp_path / "tones.wav"), 3.0)
    # Uncalibrated: the raw score and no verdict; no threshold to draw.
    verdict, image, timeline = score_recording(small_detector(), path)
    assert "Verdict: **uncalibrated**" in verdict and image is None
    assert "no verdict and no probability" in verdict
    assert f"Score: {timeline['score']:.4f}" in verdict
    # Calibrated with a band wide enough to hold every score: uncertain,
    # with the band's edges in LLR units.
    wide = small_detector(
        calibration={"scale": 1e-3, "offset": 0.0, "prior": 0.5},
        cost_model={"p_spoof": 0.5, "c_fa": 1.0},
        uncertain_band=2.0,
    )
    verdict, image, timeline = score_recording(wide, path)
    assert timeline["decision"]["label"] == "uncertain"  # |LLR| < 1e-3 * |score|
    assert "Verdict: **uncertain**" in verdict
    assert "within 2 of the decision threshold (from -2.000 to 2.000)" in verdict
    assert image.ndim == 3
    # No speech: the reason, and no score.
    silent = str(tmp_path / "silent.wav")
    sf.write(silent, np.zeros(3 * SAMPLE_RATE), SAMPLE_RATE)
    verdict, _, _ = score_recording(wide, silent)
    assert "Verdict: **no speech**" in verdict and "digital silence" in verdict
    assert "Score:" not in verdict


def test_large_file_is_refused_before_decoding(detector, tmp_path):
    path = write_audio(str(tmp_path / "big.wav"), 1.0)
    with pytest.raises(LimitError, match=r"this demo accepts files of at most"):
        score_recording(detector, path, max_megabytes=0.01)


def test_missing_gradio_says_how_to_install(detector, monkeypatch):
    # The module imports without Gradio; building the app explains the extra.
    blocked = "import sys; sys.modules['gradio'] = None; import dpda.demo"
    subprocess.run([sys.executable, "-c", blocked], check=True, timeout=120)
    monkeypatch.setitem(sys.modules, "gradio", None)  # import gradio fails
    with pytest.raises(ImportError, match=re.escape(INSTALL_HINT)):
        build_demo(detector)
