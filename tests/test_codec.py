"""Lossy-codec augmentation: real encoders, aligned output, seeded draws."""

import io

import numpy as np
import pytest
import soundfile as sf
import torch

from dpda.augment import CODECS, Codec, available_codecs
from dpda.augment.codec import align, decode, encode

RATE = 16000


def speechlike(seconds=2.0, seed=0):
    """Harmonics with a moving pitch plus a little noise, float32 in [-1, 1]."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * RATE)) / RATE
    f0 = 140 * (1 + 0.2 * np.sin(2 * np.pi * 1.5 * t))
    phase = 2 * np.pi * np.cumsum(f0) / RATE
    x = sum(np.sin(k * phase) / k for k in range(1, 20))
    x = x * (0.6 + 0.4 * np.sin(2 * np.pi * 3 * t)) + 0.01 * rng.standard_normal(t.size)
    return (0.3 * x / np.abs(x).max()).astype(np.float32)


def lag_of_best_match(x, y, span=64):
    """Lag (samples) of y against x with the highest correlation, computed directly."""
    lags = range(-span, span + 1)
    n = len(x) - 2 * span
    scores = [
        np.dot(x[span : span + n], y[span + lag : span + lag + n]) for lag in lags
    ]
    return list(lags)[int(np.argmax(scores))]


def test_every_codec_is_available_in_the_installed_pyav():
    assert available_codecs() == list(CODECS)


@pytest.mark.parametrize(
    "name", ["mp3", "opus", "aac", "amr_nb", "g711_mulaw", "g711_alaw"]
)
def test_round_trip_is_aligned_and_of_the_input_length(name):
    x = speechlike()
    low = CODECS[name][3][1]  # the top of the default range
    y = align(x, decode(encode(x, RATE, name, low), RATE), 4096)
    assert y.shape == x.shape and y.dtype == np.float32 and np.isfinite(y).all()
    assert lag_of_best_match(x, y) == 0  # the codec delay is removed
    if CODECS[name][2] == RATE:  # wide-band codecs keep the waveform close
        correlation = np.corrcoef(x, y)[0, 1]
        assert correlation > 0.9, correlation
    else:  # narrow-band: nothing left above 4 kHz
        spectrum = np.abs(np.fft.rfft(y)) ** 2
        freqs = np.fft.rfftfreq(len(y), 1 / RATE)
        assert spectrum[freqs > 4200].sum() < 1e-3 * spectrum.sum()


@pytest.mark.parametrize("name, container", [("mp3", "MP3"), ("opus", "OGG")])
def test_encoded_files_are_real_files_that_libsndfile_decodes(name, container):
    x = speechlike()
    data = encode(x, RATE, name, 32)
    info = sf.info(io.BytesIO(data))
    assert info.format == container and info.samplerate in (RATE, 48000)
    ours = decode(data, RATE)
    theirs, rate = sf.read(io.BytesIO(data), dtype="float32")
    if rate != RATE:
        import torchaudio.functional as AF

        theirs = AF.resample(torch.from_numpy(theirs), rate, RATE).numpy()
    n = min(len(ours), len(theirs))
    assert abs(len(ours) - len(theirs)) < 2048
    a, b = align(ours[:n], theirs[:n], 2048), ours[:n]
    assert np.corrcoef(a[2048:-2048], b[2048:-2048])[0, 1] > 0.99


def test_lower_bitrates_distort_more():
    x = speechlike(seed=1)
    errors = [
        np.mean((align(x, decode(encode(x, RATE, "mp3", kbps), RATE), 4096) - x) ** 2)
        for kbps in (8, 32, 128)
    ]
    assert errors[0] > errors[1] > errors[2]


def test_seeded_draws_are_reproducible_and_cover_the_ranges():
    codec = Codec({"mp3": [16, 24], "aac": [32, 48], "amr_nb": [6, 8]})
    x = torch.from_numpy(speechlike(1.0))
    torch.manual_seed(7)
    first = [(codec(x), codec.last) for _ in range(6)]
    torch.manual_seed(7)
    again = [(codec(x), codec.last) for _ in range(6)]
    for (y1, d1), (y2, d2) in zip(first, again):
        assert d1 == d2 and torch.equal(y1, y2)
    torch.manual_seed(0)
    draws = [codec.draw() for _ in range(300)]
    assert {name for name, _ in draws} == {"mp3", "aac", "amr_nb"}
    for name, kbps in draws:
        low, high = codec.ranges[name]
        assert low <= kbps <= high
        if name == "amr_nb":
            assert kbps in (6.7, 7.4, 7.95)


def test_bad_configurations_fail_at_start_up():
    with pytest.raises(ValueError, match="'speex' is not available; available: mp3"):
        Codec(["mp3", "speex"])
    with pytest.raises(ValueError, match="bitrate range"):
        Codec({"mp3": [64, 16]})
    with pytest.raises(ValueError, match="at least one"):
        Codec([])
