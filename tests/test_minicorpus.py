"""The synthetic mini corpus: formats, determinism, idempotence, signals, codecs."""

import csv
import hashlib
import json
import os
import re

import numpy as np
import pytest
import soundfile as sf
from scipy.signal import welch

from dpda.data import minicorpus as mc
from dpda.data.minicorpus import generate_mini_corpus

TINY = {"train": (8, 16), "dev": (4, 8), "eval": (4, 8), "itw": (4, 4)}
SEED = 7
SR = 16000
PROTOCOL_LINE = re.compile(
    r"^(LA_\d{4}) (LA_[TDE]_[1-9]\d{6}) - (-|A\d\d) (bonafide|spoof)\n$"
)
PREFIX = {"train": "LA_T_", "dev": "LA_D_", "eval": "LA_E_"}


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    root = str(tmp_path_factory.mktemp("mini"))
    summary = generate_mini_corpus(root, seed=SEED, sizes=TINY)
    return root, summary


def read_protocol(root, split):
    folder, name, _, _ = mc._LA_LAYOUT[split]
    path = os.path.join(root, "LA", "ASVspoof2019_LA_cm_protocols", name)
    with open(path, newline="") as f:
        lines = f.readlines()
    rows = []
    for line in lines:
        match = PROTOCOL_LINE.match(line)
        assert match, f"malformed protocol line {line!r}"
        rows.append(match.groups())
    return os.path.join(root, "LA", folder, "flac"), rows


def read_meta(root):
    folder = os.path.join(root, "release_in_the_wild")
    with open(os.path.join(folder, "meta.csv"), newline="") as f:
        text = f.read()
    return folder, text


def read_conditions(root):
    """Rows of ``MINI_CORPUS.conditions.tsv`` as dicts (header checked)."""
    with open(os.path.join(root, mc.CONDITIONS_NAME), newline="") as f:
        lines = f.read().splitlines()
    assert tuple(lines[0].split("\t")) == mc.CONDITIONS_HEADER
    rows = [dict(zip(mc.CONDITIONS_HEADER, line.split("\t"))) for line in lines[1:]]
    assert all(len(line.split("\t")) == len(mc.CONDITIONS_HEADER) for line in lines)
    return rows


def audio_path(root, split, utt_id):
    """The file of a conditions row."""
    if split == "itw":
        return os.path.join(root, "release_in_the_wild", f"{utt_id}.wav")
    return os.path.join(root, "LA", mc._LA_LAYOUT[split][0], "flac", f"{utt_id}.flac")


def digest(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def corpus_digests(root):
    """Hashes of every file the generator writes (stamp included)."""
    out = {}
    for folder, _, files in os.walk(root):
        for name in files:
            path = os.path.join(folder, name)
            out[os.path.relpath(path, root)] = digest(path)
    return out


def test_protocols_have_the_real_format(corpus):
    root, _ = corpus
    all_ids = set()
    for split in mc.SPLITS:
        _, rows = read_protocol(root, split)
        n_bona, n_spoof = TINY[split]
        assert len(rows) == n_bona + n_spoof
        for _, utt_id, attack, label in rows:
            assert utt_id.startswith(PREFIX[split])
            assert (attack == "-") == (label == "bonafide")
            all_ids.add(utt_id)
        assert sum(label == "bonafide" for *_, label in rows) == n_bona
    assert len(all_ids) == sum(sum(TINY[s]) for s in mc.SPLITS)


def test_train_and_dev_are_ordered_like_the_real_protocols(corpus):
    root, _ = corpus
    for split in ("train", "dev"):
        _, rows = read_protocol(root, split)
        keys = [
            (label != "bonafide", attack, spk, utt) for spk, utt, attack, label in rows
        ]
        assert keys == sorted(keys)
    _, rows = read_protocol(root, "eval")
    labels = [label for *_, label in rows]
    assert labels != sorted(labels)  # shuffled, as the real eval protocol


def test_every_listed_utterance_is_a_16k_mono_flac(corpus):
    root, _ = corpus
    low, high = mc.DURATION_RANGE
    for split in mc.SPLITS:
        audio_dir, rows = read_protocol(root, split)
        listed = {utt for _, utt, _, _ in rows}
        assert {f[:-5] for f in os.listdir(audio_dir)} == listed
        for utt in listed:
            info = sf.info(os.path.join(audio_dir, utt + ".flac"))
            assert (info.format, info.subtype) == ("FLAC", "PCM_16")
            assert (info.samplerate, info.channels) == (SR, 1)
            assert low - 1e-3 <= info.duration <= high + 1e-3


def test_speakers_disjoint_and_eval_attacks_unseen(corpus):
    root, _ = corpus
    speakers, attacks = {}, {}
    for split in mc.SPLITS:
        _, rows = read_protocol(root, split)
        speakers[split] = {spk for spk, *_ in rows}
        attacks[split] = {att for _, _, att, _ in rows if att != "-"}
        # Every speaker has both classes: the speaker says nothing of the label.
        for spk in speakers[split]:
            labels = {label for s, _, _, label in rows if s == spk}
            assert labels == {"bonafide", "spoof"}
    assert not speakers["train"] & speakers["dev"]
    assert not speakers["train"] & speakers["eval"]
    assert not speakers["dev"] & speakers["eval"]
    assert len(attacks["train"]) >= 3
    assert attacks["dev"] <= attacks["train"]
    assert not attacks["eval"] & attacks["train"]
    assert all(7 <= int(a[1:]) <= 19 for a in attacks["eval"])


def test_in_the_wild_meta_and_files(corpus):
    root, _ = corpus
    folder, text = read_meta(root)
    lines = text.splitlines(keepends=True)
    assert lines[0] == "file,speaker,label\n"
    assert all(line.endswith("\n") for line in lines)
    rows = list(csv.DictReader(lines))
    n = sum(TINY["itw"])
    assert [r["file"] for r in rows] == [f"{i}.wav" for i in range(n)]
    assert sorted(os.listdir(folder)) == sorted(
        [f"{i}.wav" for i in range(n)] + ["meta.csv"]
    )
    labels = [r["label"] for r in rows]
    assert set(labels) == {"bona-fide", "spoof"}
    assert labels.count("bona-fide") == TINY["itw"][0]
    la_speakers = set()
    for split in mc.SPLITS:
        la_speakers |= {spk for spk, *_ in read_protocol(root, split)[1]}
    for r in rows:
        assert re.fullmatch(r"[A-Z][a-z]+ [A-Z][a-z]+", r["speaker"])
        assert r["speaker"] not in la_speakers
        info = sf.info(os.path.join(folder, r["file"]))
        assert (info.format, info.subtype, info.samplerate, info.channels) == (
            "WAV",
            "PCM_16",
            SR,
            1,
        )


def test_summary_matches_the_files(corpus):
    root, summary = corpus
    with open(os.path.join(root, mc.STAMP_NAME)) as f:
        assert json.load(f) == summary
    assert summary["seed"] == SEED and summary["version"] == mc.GENERATOR_VERSION
    for split in mc.SPLITS:
        _, rows = read_protocol(root, split)
        counts = summary["counts"][split]
        assert counts["bonafide"] + counts["spoof"] == len(rows)
        listed = {}
        for *_, attack, _ in rows:
            if attack != "-":
                listed[attack] = listed.get(attack, 0) + 1
        assert counts["attacks"] == listed
    assert summary["counts"]["train"]["channel_effects"] == {"none": sum(TINY["train"])}
    assert summary["counts"]["train"]["codecs"] == {"none": sum(TINY["train"])}


def test_no_loudness_or_offset_shortcut(corpus):
    root, _ = corpus
    peaks = {"bonafide": [], "spoof": []}
    for split in mc.SPLITS:
        audio_dir, rows = read_protocol(root, split)
        for _, utt, _, label in rows:
            x, _ = sf.read(os.path.join(audio_dir, utt + ".flac"))
            peaks[label].append(np.max(np.abs(x)))
            assert abs(np.mean(x)) < 2e-3
    low, high = mc.PEAK_RANGE
    for values in peaks.values():
        assert low - 1e-3 <= min(values) and max(values) <= high + 1e-3


def test_same_seed_same_bytes_other_seed_other_corpus(corpus, tmp_path):
    root, summary = corpus
    again = str(tmp_path / "again")
    assert generate_mini_corpus(again, seed=SEED, sizes=TINY, num_workers=1) == summary
    assert corpus_digests(again) == corpus_digests(root)
    assert any(r["codec"] != "none" for r in read_conditions(root))
    assert mc.CONDITIONS_NAME in corpus_digests(root)
    other = str(tmp_path / "other")
    generate_mini_corpus(other, seed=SEED + 1, sizes=TINY)
    a, b = corpus_digests(root), corpus_digests(other)
    name = "LA/ASVspoof2019_LA_cm_protocols/ASVspoof2019.LA.cm.train.trn.txt"
    assert a[name] != b[name]
    assert a["release_in_the_wild/0.wav"] != b["release_in_the_wild/0.wav"]


# --------------------------------------------------------------------------
# Codec channels and the conditions listing
# --------------------------------------------------------------------------
def test_conditions_list_every_file_with_its_protocol_label(corpus):
    root, summary = corpus
    rows = read_conditions(root)
    for split in mc.SPLITS:
        _, protocol = read_protocol(root, split)
        listed = {utt: (label, attack) for _, utt, attack, label in protocol}
        ours = {r["id"]: (r["label"], r["attack"]) for r in rows if r["split"] == split}
        assert ours == listed
    _, text = read_meta(root)
    meta = {
        r["file"][:-4]: "bonafide" if r["label"] == "bona-fide" else "spoof"
        for r in csv.DictReader(text.splitlines())
    }
    assert {r["id"]: r["label"] for r in rows if r["split"] == "itw"} == meta
    assert [r["split"] for r in rows] == sorted(
        (r["split"] for r in rows), key=["train", "dev", "eval", "itw"].index
    )
    # The listing and the stamp's counts agree, channel and codec alike.
    for split in (*mc.SPLITS, "itw"):
        mine = [r for r in rows if r["split"] == split]
        codecs, channels = {}, {}
        for r in mine:
            key = "none" if r["codec"] == "none" else f"{r['codec']}_{r['codec_kbps']}k"
            codecs[key] = codecs.get(key, 0) + 1
            assert (r["codec"] == "none") == (r["codec_kbps"] == "0")
            for name in r["channel"].split("+"):
                channels[name] = channels.get(name, 0) + 1
        assert summary["counts"][split]["codecs"] == codecs
        assert summary["counts"][split]["channel_effects"] == channels


def test_codecs_on_a_fixed_share_of_each_class_of_eval_and_itw_only(corpus):
    root, summary = corpus
    rows = read_conditions(root)
    conditions = [f"{name}_{kbps}k" for name, kbps in mc.CODEC_CONDITIONS]
    for split in ("train", "dev"):
        mine = [r for r in rows if r["split"] == split]
        assert len(mine) == sum(TINY[split])
        assert {(r["channel"], r["codec"], r["codec_kbps"]) for r in mine} == {
            ("none", "none", "0")
        }
    for split in ("eval", "itw"):
        share = mc.CHANNEL_PROFILES[split]["codec_share"]
        assert share == 0.5
        for label, n in zip(("bonafide", "spoof"), TINY[split]):
            coded = [
                f"{r['codec']}_{r['codec_kbps']}k"
                for r in rows
                if r["split"] == split and r["label"] == label and r["codec"] != "none"
            ]
            # The same share in both classes, dealt out in the same order:
            # both codecs appear in each class as soon as it has two coded files.
            assert len(coded) == n // 2
            assert sorted(coded) == sorted(conditions[: len(coded)])
            assert {c.split("_")[0] for c in coded} == {"mp3", "opus"}
    assert set(summary["counts"]["eval"]["codecs"]) > {"none", "mp3_16k", "opus_8k"}


def test_codec_draw_is_balanced_and_follows_the_seed():
    labels = ["bonafide"] * 160 + ["spoof"] * 320
    first = mc.assign_codecs(labels, np.random.default_rng([1, 30, 3]), "eval")
    again = mc.assign_codecs(labels, np.random.default_rng([1, 30, 3]), "eval")
    other = mc.assign_codecs(labels, np.random.default_rng([2, 30, 3]), "eval")
    assert first == again and first != other
    for start, n in ((0, 160), (160, 320)):
        coded = [c for c in first[start : start + n] if c is not None]
        assert len(coded) == n // 2
        for condition in mc.CODEC_CONDITIONS:  # every condition, evenly
            assert coded.count(condition) in (n // 2 // 6, n // 2 // 6 + 1)
    assert mc.assign_codecs(labels, np.random.default_rng(0), None) == [None] * 480


def band_energy(x, low, high=SR / 2):
    """Welch power of ``x`` between ``low`` and ``high`` Hz."""
    freqs, psd = welch(x, SR, nperseg=1024, detrend=False)
    return psd[(freqs >= low) & (freqs <= high)].sum()


def test_codec_files_are_their_uncoded_twins_through_the_codec(
    corpus, tmp_path, monkeypatch
):
    """The same corpus without codecs: the other files are the same bytes,
    the coded ones are the codec's low-passed, otherwise close version."""
    root, _ = corpus
    for profile in ("eval", "itw"):
        monkeypatch.setitem(mc.CHANNEL_PROFILES[profile], "codec_share", 0.0)
    plain = str(tmp_path / "plain")
    summary = generate_mini_corpus(plain, seed=SEED, sizes=TINY)
    assert summary["counts"]["eval"]["codecs"] == {"none": sum(TINY["eval"])}
    checked = 0
    for r in read_conditions(root):
        coded, twin = (
            audio_path(root, r["split"], r["id"]),
            audio_path(plain, r["split"], r["id"]),
        )
        if r["codec"] == "none":
            assert digest(coded) == digest(twin), r
            continue
        y, _ = sf.read(coded)
        x, _ = sf.read(twin)
        assert len(y) == len(x) and not np.array_equal(x, y), r
        # Same utterance, delay removed: the waveforms still match closely.
        assert np.corrcoef(x, y)[0, 1] > 0.85, r
        low_passed = (r["codec"], r["codec_kbps"]) in {
            ("mp3", "16"),
            ("mp3", "24"),
            ("opus", "8"),
        }
        if low_passed and "telephone" not in r["channel"]:
            # MP3 at 16-24 kbit/s and Opus at 8 kbit/s drop everything
            # above ~6 kHz; a telephone channel already did.
            assert band_energy(y, 6500) < 1e-2 * band_energy(x, 6500), r
            checked += 1
    assert checked >= 3


def test_codec_channel_is_real_and_bitrate_dependent():
    _, plan = make_plan(8, seconds=2.0)
    x = mc.render_speech(plan)
    x = x + 1e-3 * np.max(np.abs(x)) * np.random.default_rng(0).standard_normal(len(x))
    outputs = {
        condition: mc.apply_codec(x, *condition, sample_rate=SR)
        for condition in mc.CODEC_CONDITIONS
    }
    for condition, y in outputs.items():
        assert y.shape == x.shape and np.all(np.isfinite(y)), condition
        assert not np.allclose(x, y), condition
        snr = 10 * np.log10(np.sum(x**2) / np.sum((x - y) ** 2))
        assert 5 < snr < 40, (condition, snr)  # lossy, but aligned
        # The speech band passes within a few dB.
        ratio = band_energy(y, 300, 3000) / band_energy(x, 300, 3000)
        assert 0.5 < ratio < 2, (condition, ratio)

    def cut(condition, low):
        return band_energy(outputs[condition], low) / band_energy(x, low)

    assert cut(("mp3", 16), 6500) < 1e-4  # MP3's low-pass at 16 kbit/s
    assert cut(("mp3", 24), 6500) < 1e-4
    assert cut(("mp3", 32), 6500) > 0.1  # a higher bitrate keeps the band
    assert cut(("opus", 8), 5000) < 1e-3  # narrow-band Opus at 8 kbit/s
    assert cut(("opus", 16), 5000) > 0.1
    assert np.array_equal(outputs[("opus", 8)], mc.apply_codec(x, "opus", 8))


def test_idempotent_and_refuses_other_options(tmp_path):
    root = str(tmp_path / "corpus")
    sizes = {name: (1, 2) for name in TINY}
    first = generate_mini_corpus(root, seed=1, sizes=sizes)
    stamp = os.path.join(root, mc.STAMP_NAME)
    audio = os.path.join(root, "release_in_the_wild", "0.wav")
    mtimes = (os.stat(stamp).st_mtime_ns, os.stat(audio).st_mtime_ns)
    assert generate_mini_corpus(root, seed=1, sizes=sizes) == first
    assert (os.stat(stamp).st_mtime_ns, os.stat(audio).st_mtime_ns) == mtimes
    with pytest.raises(FileExistsError, match="overwrite"):
        generate_mini_corpus(root, seed=2, sizes=sizes)
    other = generate_mini_corpus(root, seed=2, sizes=sizes, overwrite=True)
    assert other["seed"] == 2
    assert sorted(os.listdir(root)) == [
        "LA",
        "MINI_CORPUS.conditions.tsv",
        "MINI_CORPUS.json",
        "release_in_the_wild",
    ]


def test_never_touches_a_folder_it_did_not_write(tmp_path):
    foreign = tmp_path / "LA" / "ASVspoof2019_LA_train" / "flac"
    foreign.mkdir(parents=True)
    (foreign / "LA_T_1000000.flac").write_bytes(b"real data")
    for overwrite in (False, True):
        with pytest.raises(FileExistsError, match="not written by this generator"):
            generate_mini_corpus(
                str(tmp_path), sizes={n: (1, 1) for n in TINY}, overwrite=overwrite
            )
    assert (foreign / "LA_T_1000000.flac").read_bytes() == b"real data"


def test_resumes_after_an_interrupted_run(tmp_path):
    # An interrupted run leaves its marker and partial folders behind.
    stale = tmp_path / "LA" / "ASVspoof2019_LA_train" / "flac"
    stale.mkdir(parents=True)
    (stale / "LA_T_1000000.flac").write_bytes(b"half written")
    (tmp_path / mc.PARTIAL_NAME).write_text("{}")
    summary = generate_mini_corpus(str(tmp_path), sizes={n: (1, 1) for n in TINY})
    assert not (stale / "LA_T_1000000.flac").exists()
    assert not (tmp_path / mc.PARTIAL_NAME).exists()
    assert summary["counts"]["train"]["spoof"] == 1


def test_rejects_bad_sizes(tmp_path):
    with pytest.raises(ValueError, match="Unknown size key"):
        generate_mini_corpus(str(tmp_path), sizes={"test": (1, 1)})
    with pytest.raises(ValueError):
        generate_mini_corpus(str(tmp_path), sizes={"train": (0, 4)})


# --------------------------------------------------------------------------
# Signal properties
# --------------------------------------------------------------------------
def make_plan(seed, seconds=2.0):
    rng = np.random.default_rng(seed)
    speaker = mc.sample_speaker("LA_0001", rng)
    return speaker, mc.plan_utterance(speaker, rng, int(seconds * SR), SR)


def autocorrelation_f0(frame, sample_rate, fmin=55.0, fmax=450.0):
    frame = (frame - frame.mean()) * np.hanning(len(frame))
    spec = np.fft.rfft(frame, 2 * len(frame))
    ac = np.fft.irfft(np.abs(spec) ** 2)[: len(frame)]
    lags = np.arange(int(sample_rate / fmax), int(sample_rate / fmin))
    # Normalise by the overlap so that long lags are not penalised.
    score = ac[lags] / (len(frame) - lags)
    return sample_rate / lags[np.argmax(score)]


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_bona_fide_voiced_frames_have_the_planned_f0(seed):
    speaker, plan = make_plan(seed)
    x = mc.render_speech(plan)
    half = int(0.02 * SR)
    hits, total = 0, 0
    for k in np.nonzero((plan.voicing > 0.99) & (plan.amplitude > 0.6))[0]:
        centre = k * plan.hop
        if centre < half or centre + half > len(x):
            continue
        f0 = autocorrelation_f0(x[centre - half : centre + half], SR)
        assert speaker.f0_mean / 2.5 < f0 < speaker.f0_mean * 2.5
        hits += abs(f0 / plan.f0[k] - 1) < 0.08
        total += 1
    assert total > 20
    assert hits / total > 0.8


def band_fraction(x, low, high):
    freqs, psd = welch(x, SR, nperseg=1024, detrend=False)
    return psd[(freqs >= low) & (freqs < high)].sum() / psd.sum()


def test_upsampling_attack_leaves_a_spectral_gap():
    _, plan = make_plan(5)
    rng = np.random.default_rng(0)
    bona = mc.render_speech(plan)
    spoof = mc.apply_attack("A06", plan, rng)
    assert band_fraction(bona, 4200, 8000) > 1e-3
    assert band_fraction(spoof, 4200, 8000) < 1e-6
    assert band_fraction(spoof, 100, 3500) > 0.9


def test_telephone_channel_removes_out_of_band_energy():
    x = np.random.default_rng(0).standard_normal(3 * SR)
    y = mc.CHANNEL_EFFECTS["telephone"](x, np.random.default_rng(1), SR)
    assert len(y) == len(x)
    # Steady state: the noise starts abruptly, so the edges are transients.
    freqs, psd = welch(y[SR // 10 : -SR // 10], SR, nperseg=2048, detrend=False)
    passband = np.median(psd[(freqs > 500) & (freqs < 3200)])
    assert psd[freqs < 200].max() < 1e-5 * passband  # -50 dB
    assert psd[freqs > 3600].max() < 1e-5 * passband


def test_channel_effects_change_the_signal_but_not_its_length():
    _, plan = make_plan(6, seconds=1.0)
    x = mc.render_speech(plan)
    for name, effect in mc.CHANNEL_EFFECTS.items():
        y = effect(x, np.random.default_rng(0), SR)
        assert y.shape == x.shape and np.all(np.isfinite(y)), name
        assert not np.allclose(x, y), name


@pytest.mark.parametrize("attack_id", sorted(mc.ATTACKS))
def test_every_attack_renders_finite_audio_of_the_plan_length(attack_id):
    _, plan = make_plan(4, seconds=1.0)
    x = mc.apply_attack(attack_id, plan, np.random.default_rng(0))
    assert x.shape == (plan.n_samples,) and np.all(np.isfinite(x))
    assert np.std(x) > 0
