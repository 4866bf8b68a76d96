"""Bad audio: checked reads, skip mode, the skip log (issue 7, data parts).

Every fixture is written in tmp_path with soundfile.

Authors
 * dpda contributors 2026
"""

import json
import os
import pickle
import struct

import numpy as np
import pytest
import soundfile as sf
import torch
from torch.utils.data import DataLoader

from dpda.data.audio import AudioError, read_checked_audio
from dpda.data.pipelines import (
    BadAudio,
    SkipBadItemsCollate,
    audio_pipeline,
    count_logged_skips,
    load_manifest,
    read_skip_log,
)

SR = 16000


def noise(n, channels=1, seed=0):
    rng = np.random.default_rng(seed)
    shape = (n,) if channels == 1 else (n, channels)
    return rng.uniform(-0.5, 0.5, shape).astype(np.float32)


def write(path, data, rate=SR, **kwargs):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    sf.write(path, data, rate, **kwargs)
    return str(path)


def cut(path, n_bytes, suffix):
    out = str(path) + suffix
    with open(path, "rb") as f:
        data = f.read()[:n_bytes]
    with open(out, "wb") as f:
        f.write(data)
    return out


def raises_naming(path, match, **kwargs):
    with pytest.raises(AudioError, match=match) as info:
        read_checked_audio(path, **kwargs)
    assert os.path.basename(path) in str(info.value)
    assert info.value.path == path
    return info.value


# --- read_checked_audio -------------------------------------------------------


def test_good_file_matches_soundfile_and_reads_prefix(tmp_path):
    x = noise(3000)
    path = write(tmp_path / "good.flac", x, subtype="PCM_16")
    full = sf.read(path, dtype="float32")[0]
    out = read_checked_audio(path)
    assert out.dtype == torch.float32
    np.testing.assert_array_equal(out.numpy(), full)
    np.testing.assert_array_equal(read_checked_audio(path, 1000).numpy(), full[:1000])


def test_truncated_wav_is_detected(tmp_path):
    path = write(tmp_path / "a.wav", noise(4000), subtype="PCM_16")
    half = cut(path, 44 + 4000, ".cut.wav")  # header + 2000 of 4000 samples
    raises_naming(half, "truncated: data chunk holds 4000 of the 8000 bytes")
    # Even when the part asked for is present: the file is damaged.
    raises_naming(half, "truncated", num_samples=100)


def test_streamed_wav_with_unknown_length_is_not_truncated(tmp_path):
    # Writers streaming to a pipe leave 0xFFFFFFFF as RIFF and data sizes.
    path = write(tmp_path / "s.wav", noise(1000), subtype="PCM_16")
    raw = bytearray(open(path, "rb").read())
    assert raw[36:40] == b"data"
    raw[4:8] = raw[40:44] = struct.pack("<I", 0xFFFFFFFF)
    open(path, "wb").write(bytes(raw))
    assert read_checked_audio(path).shape == (1000,)


def test_truncated_flac(tmp_path):
    x = noise(16000)
    path = write(tmp_path / "a.flac", x, subtype="PCM_16")
    size = os.path.getsize(path)
    err = raises_naming(cut(path, 100, ".100.flac"), "unreadable or corrupt")
    assert err.__cause__ is not None  # soundfile's own message is kept
    half = cut(path, size // 2, ".half.flac")
    raises_naming(half, "unreadable or corrupt")
    # Only the part read is decoded: the intact prefix is still usable.
    head = read_checked_audio(half, num_samples=2000).numpy()
    np.testing.assert_allclose(head, x[:2000], atol=1 / 2**15)


def test_random_bytes_and_missing_file(tmp_path):
    path = str(tmp_path / "junk.wav")
    with open(path, "wb") as f:
        f.write(np.random.default_rng(1).bytes(3000))
    raises_naming(path, "unreadable or corrupt")
    raises_naming(str(tmp_path / "nope.flac"), "file not found")


def test_empty_audio(tmp_path):
    path = write(tmp_path / "empty.wav", np.zeros(0, np.float32))
    raises_naming(path, r"empty audio \(0 samples\)")
    raises_naming(path, "empty", num_samples=10)


@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf])
def test_non_finite_samples(tmp_path, value):
    x = noise(1000)
    x[[10, 500]] = value
    path = write(tmp_path / "nf.wav", x, subtype="FLOAT")
    raises_naming(path, r"2 non-finite sample\(s\)")
    # Checked on what is read: a prefix before the first bad sample is fine.
    assert read_checked_audio(path, num_samples=10, min_samples=1).shape == (10,)
    raises_naming(path, "non-finite", num_samples=11, min_samples=1)


def test_stereo_channel_policies(tmp_path):
    x = noise(2000, channels=2)
    path = write(tmp_path / "st.wav", x, subtype="FLOAT")
    np.testing.assert_allclose(
        read_checked_audio(path).numpy(), x.mean(axis=1), rtol=0, atol=1e-7
    )
    np.testing.assert_array_equal(
        read_checked_audio(path, 500, channel_policy="first").numpy(), x[:500, 0]
    )
    raises_naming(path, "2 channels, expected mono", channel_policy="error")
    with pytest.raises(ValueError, match="channel_policy"):
        read_checked_audio(path, channel_policy="left")


def test_wrong_sample_rate_error_and_resample(tmp_path):
    rate, n = 8000, 4000
    t = np.arange(n) / rate
    path = write(
        tmp_path / "r8k.wav", 0.5 * np.sin(2 * np.pi * 440 * t), rate, subtype="FLOAT"
    )
    raises_naming(path, "sample rate 8000 Hz, expected 16000 Hz")
    whole = read_checked_audio(path, resample=True)
    assert whole.shape == (n * SR // rate,)
    # Band-limited resampling of a sine is the sine at the new rate.
    t16 = np.arange(whole.shape[0]) / SR
    inner = slice(200, -200)  # away from the edges of the filter
    np.testing.assert_allclose(
        whole.numpy()[inner], 0.5 * np.sin(2 * np.pi * 440 * t16)[inner], atol=0.02
    )
    crop = read_checked_audio(path, num_samples=3001, resample=True)
    assert crop.shape == (3001,)
    np.testing.assert_allclose(crop[200:2800], whole[200:2800], atol=0.02)
    assert read_checked_audio(path, sample_rate=None).shape == (n,)


def test_short_clip_tiled_or_rejected(tmp_path):
    x = noise(10)
    path = write(tmp_path / "short.wav", x, subtype="FLOAT")
    raises_naming(path, "too short: 10 samples, at least 400 needed")
    raises_naming(path, "at least 11 needed", min_samples=11)
    sig = audio_pipeline(25, min_samples=10)(path)
    np.testing.assert_array_equal(sig.numpy(), np.tile(x, 3)[:25])
    # A crop shorter than min_samples only needs the crop.
    longer = write(tmp_path / "150.wav", noise(150), subtype="FLOAT")
    assert audio_pipeline(100)(longer).shape == (100,)
    raises_naming(longer, "at least 400 needed")


def test_path_with_spaces_and_unicode(tmp_path):
    x = noise(800)
    path = write(tmp_path / "dír with space" / "ünï cødé.wav", x, subtype="FLOAT")
    np.testing.assert_array_equal(read_checked_audio(path).numpy(), x)
    path_flac = write(
        tmp_path / "dír with space" / "ünï cødé.flac", x, subtype="PCM_24"
    )
    assert audio_pipeline(1000)(path_flac).shape == (1000,)


def test_pipeline_modes(tmp_path):
    path = write(
        tmp_path / "nan.wav", np.full(500, np.nan, np.float32), subtype="FLOAT"
    )
    with pytest.raises(AudioError, match="nan.wav: 100 non-finite"):
        audio_pipeline(100)(path)
    bad = audio_pipeline(100, on_error="skip")(path)
    assert isinstance(bad, BadAudio)
    assert bad.path == path and "non-finite" in bad.reason
    with pytest.raises(ValueError, match="on_error"):
        audio_pipeline(100, on_error="ignore")


def test_error_and_collate_pickle(tmp_path):
    err = pickle.loads(pickle.dumps(AudioError("x.wav", "empty audio (0 samples)")))
    assert (err.path, err.problem, str(err)) == (
        "x.wav",
        "empty audio (0 samples)",
        "x.wav: empty audio (0 samples)",
    )
    collate = pickle.loads(pickle.dumps(SkipBadItemsCollate(str(tmp_path / "l.tsv"))))
    assert collate.log_path == str(tmp_path / "l.tsv")


# --- skip mode end to end ------------------------------------------------------


def make_corpus(root):
    """Write good and bad files and a manifest; return (manifest, good, bad)."""
    good, bad = {}, {}
    for i in range(5):
        x = noise(400 + 200 * i, seed=i)
        good[f"good{i}"] = (f"g{i}.wav", x, "bonafide" if i % 2 else "spoof")
        write(os.path.join(root, f"g{i}.wav"), x, subtype="FLOAT")
    write(os.path.join(root, "empty.wav"), np.zeros(0, np.float32))
    write(
        os.path.join(root, "nan.wav"), np.full(600, np.nan, np.float32), subtype="FLOAT"
    )
    write(os.path.join(root, "r44k.wav"), noise(2000), 44100, subtype="FLOAT")
    with open(os.path.join(root, "junk.flac"), "wb") as f:
        f.write(b"not audio at all" * 20)
    bad = {
        "bad_empty": ("empty.wav", "empty audio"),
        "bad_nan": ("nan.wav", "non-finite"),
        "bad_rate": ("r44k.wav", "sample rate 44100 Hz"),
        "bad_junk": ("junk.flac", "unreadable or corrupt"),
        "bad_missing": ("gone.wav", "file not found"),
    }
    order = ["good0", "bad_empty", "good1", "bad_nan", "bad_rate", "bad_junk"]
    order += ["good2", "good3", "bad_missing", "good4"]
    manifest = {}
    for item in order:
        name = good[item][0] if item in good else bad[item][0]
        label = good[item][2] if item in good else "spoof"
        manifest[item] = {"wav": "{data_root}/" + name, "label": label}
    path = os.path.join(root, "m.json")
    with open(path, "w", encoding="utf-8") as f:
        json.dump(manifest, f)
    return path, good, bad


@pytest.mark.parametrize("num_workers", [0, 2])
def test_skip_mode_end_to_end(tmp_path, num_workers):
    root = str(tmp_path / "corpus")
    os.makedirs(root)
    manifest, good, bad = make_corpus(root)
    dataset = load_manifest(manifest, root, 1000, on_error="skip")
    log_path = str(tmp_path / "out" / "skipped_items.tsv")
    loader = DataLoader(
        dataset,
        batch_size=3,
        num_workers=num_workers,
        collate_fn=SkipBadItemsCollate(log_path),
    )
    seen, batches = [], list(loader)
    # The second batch (bad_nan, bad_rate, bad_junk) is all bad.
    assert [b is None for b in batches] == [False, True, False, False]
    for batch in batches[:1] + batches[2:]:
        assert batch.sig.data.shape == (len(batch.id), 1000)
        for i, item in enumerate(batch.id):
            x = good[item][1]
            tiled = np.tile(x, -(-1000 // len(x)))[:1000]
            np.testing.assert_array_equal(batch.sig.data[i].numpy(), tiled)
            assert int(batch.label_id[i]) == (good[item][2] == "bonafide")
        seen += batch.id
    assert seen == sorted(good)
    logged = read_skip_log(log_path)
    assert set(logged) == set(bad)
    for item, (name, reason) in bad.items():
        assert reason in logged[item] and name in logged[item]
    with open(log_path, encoding="utf-8") as f:
        assert len(f.readlines()) == len(bad)
    # A second epoch appends lines but the count stays per item.
    for _ in loader:
        pass
    with open(log_path, encoding="utf-8") as f:
        assert len(f.readlines()) == 2 * len(bad)
    assert count_logged_skips(log_path) == len(bad)


def test_all_bad_batch_is_none(tmp_path):
    root = str(tmp_path)
    manifest, _, bad = make_corpus(root)
    dataset = load_manifest(manifest, root, 1000, on_error="skip")
    log_path = str(tmp_path / "skipped_items.tsv")
    loader = DataLoader(
        torch.utils.data.Subset(dataset, [3, 4, 5]),  # bad_nan, bad_rate, bad_junk
        batch_size=3,
        collate_fn=SkipBadItemsCollate(log_path),
    )
    assert list(loader) == [None]
    assert list(read_skip_log(log_path)) == ["bad_nan", "bad_rate", "bad_junk"]


def test_default_mode_raises_with_file_name(tmp_path):
    root = str(tmp_path)
    manifest, _, _ = make_corpus(root)
    dataset = load_manifest(manifest, root, 1000)  # the recipes' call
    assert dataset[0]["id"] == "good0"
    with pytest.raises(AudioError, match=r"empty\.wav: empty audio"):
        dataset[1]
    loader = DataLoader(dataset, batch_size=2, collate_fn=SkipBadItemsCollate())
    with pytest.raises(AudioError, match="empty.wav"):
        list(loader)


def test_resample_option_passes_through(tmp_path):
    root = str(tmp_path)
    manifest, _, _ = make_corpus(root)
    dataset = load_manifest(manifest, root, 1000, on_error="skip", resample=True)
    sig = dataset[4]["sig"]  # r44k.wav: 2000 samples at 44.1 kHz -> 726 at 16 kHz
    x = read_checked_audio(os.path.join(root, "r44k.wav"), 1000, resample=True)
    assert x.shape == (726,)
    np.testing.assert_array_equal(sig.numpy(), np.tile(x.numpy(), 2)[:1000])
    assert isinstance(dataset[3]["sig"], BadAudio)


def test_log_line_stays_one_record(tmp_path):
    log_path = str(tmp_path / "log.tsv")
    collate = SkipBadItemsCollate(log_path)
    reason = "unreadable\nor\tcorrupt"
    assert collate([{"id": "x", "sig": BadAudio(reason, "a\tb.wav")}]) is None
    with open(log_path, encoding="utf-8") as f:
        lines = f.read().splitlines()
    assert lines == ["x\tunreadable or corrupt (a b.wav)"]
