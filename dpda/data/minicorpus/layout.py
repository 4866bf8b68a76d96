"""On-disk layout of the mini corpus: ASVspoof 2019 LA and In-the-Wild.

Assigns speakers, labels, attacks, codec conditions and utterance ids per
split, writes the audio files (in threads), the LA CM protocols and the
In-the-Wild ``meta.csv``, counts what was written, lists the conditions of
every file in ``MINI_CORPUS.conditions.tsv``, and handles the
``MINI_CORPUS.json`` stamp and the ``MINI_CORPUS.partial`` marker of an
interrupted run.

The protocols and ``meta.csv`` keep the real corpora's formats, which have
no column for a channel or a codec; ``MINI_CORPUS.conditions.tsv`` holds
them, one row per file (tab-separated, with a header)::

    split  id            label     attack  channel  codec  codec_kbps
    eval   LA_E_1234567  spoof     A09     reverb   mp3    16
    itw    0             bonafide  -       none     none   0

``id`` is the manifest id (the LA utterance id, the In-the-Wild file name
without ``.wav``), ``channel`` the applied channel effects joined by ``+``
(or ``none``) and ``codec`` / ``codec_kbps`` the codec condition (``none``
/ ``0`` when uncoded), so that per-condition tables can break the mini eval
and In-the-Wild scores down by channel and by codec.

Authors
 * dpda contributors 2026
"""

import io
import json
import math
import os
import shutil
from concurrent.futures import ThreadPoolExecutor
from functools import partial

import numpy as np
import soundfile as sf

from dpda.data.minicorpus.attacks import SPLIT_ATTACKS
from dpda.data.minicorpus.channels import UNCODED, assign_codecs
from dpda.data.minicorpus.speech import sample_speaker
from dpda.data.minicorpus.utterance import _synthesise
from dpda.files import open_atomic

# 2: codec conditions in eval and In-the-Wild, MINI_CORPUS.conditions.tsv.
GENERATOR_VERSION = 2
STAMP_NAME = "MINI_CORPUS.json"
PARTIAL_NAME = "MINI_CORPUS.partial"
CONDITIONS_NAME = "MINI_CORPUS.conditions.tsv"
CONDITIONS_HEADER = ("split", "id", "label", "attack", "channel", "codec", "codec_kbps")
LA_FOLDER = "LA"
ITW_FOLDER = "release_in_the_wild"
PROTOCOL_FOLDER = "ASVspoof2019_LA_cm_protocols"
SPLITS = ("train", "dev", "eval")
DEFAULT_SIZES = {
    "train": (240, 480),
    "dev": (120, 240),
    "eval": (160, 320),
    "itw": (160, 160),
}

# split -> (audio folder, protocol file, utterance prefix, numeric stream id)
_LA_LAYOUT = {
    "train": ("ASVspoof2019_LA_train", "ASVspoof2019.LA.cm.train.trn.txt", "LA_T_", 1),
    "dev": ("ASVspoof2019_LA_dev", "ASVspoof2019.LA.cm.dev.trl.txt", "LA_D_", 2),
    "eval": ("ASVspoof2019_LA_eval", "ASVspoof2019.LA.cm.eval.trl.txt", "LA_E_", 3),
}
_ITW_STREAM = 4
# Random stream of the codec draws, [seed, _CODEC_STREAM, split stream]: its
# own, so that adding codecs changed no other draw.
_CODEC_STREAM = 30
# Disjoint speaker numbers per split, those of the real corpus.
_SPEAKER_NUMBERS = {
    "train": tuple(range(79, 99)),
    "dev": tuple(range(69, 79)) + tuple(range(99, 109)),
    "eval": tuple(n for n in range(1, 69) if n != 62),
}
_UTTS_PER_SPEAKER = {"train": 36, "dev": 36, "eval": 36, "itw": 24}

_FIRST_NAMES = (
    "Adela", "Bram", "Corin", "Delphine", "Emrys", "Fenna", "Gideon", "Halla",
    "Ivo", "Jolanda", "Kasimir", "Liesel", "Marek", "Noor", "Osric", "Petra",
    "Quill", "Rosalind", "Soren", "Tamsin", "Ulric", "Vesna", "Wendel", "Yara",
)  # fmt: skip
_LAST_NAMES = (
    "Ashgrove", "Brannigan", "Castellane", "Dunmore", "Elsworth", "Falkner",
    "Garroway", "Holloway", "Ingleby", "Jarrow", "Kettering", "Lindqvist",
    "Marchbank", "Northcott", "Ormsby", "Pendleton", "Quenby", "Rothwell",
    "Stavely", "Thornbury", "Underhill", "Vantongeren", "Whitcombe", "Yardley",
)  # fmt: skip


# --------------------------------------------------------------------------
# Corpus layout
# --------------------------------------------------------------------------
def _resolve_sizes(sizes):
    """Defaults updated by ``sizes``, validated, as ``{name: [bona, spoof]}``."""
    resolved = {name: list(pair) for name, pair in DEFAULT_SIZES.items()}
    for name, pair in (sizes or {}).items():
        if name not in resolved:
            raise ValueError(f"Unknown size key {name!r}; use {sorted(DEFAULT_SIZES)}")
        bona, spoof = (int(v) for v in pair)
        if bona < 1 or spoof < 1:
            raise ValueError(f"sizes[{name!r}] needs >= 1 bona fide and spoof")
        resolved[name] = [bona, spoof]
    return resolved


def _unique_utterance_numbers(rng, count):
    """Distinct random 7-digit numbers (1000000-9999999)."""
    numbers, seen = [], set()
    while len(numbers) < count:
        for value in rng.integers(1_000_000, 10_000_000, size=count).tolist():
            if value not in seen and len(numbers) < count:
                seen.add(value)
                numbers.append(value)
    return numbers


def _n_speakers(n_utterances, per_speaker, available):
    """Speakers of a split: enough for ``per_speaker`` each, at least two."""
    return int(min(available, max(2, math.ceil(n_utterances / per_speaker))))


def _itw_names(rng, count):
    """Made-up "First Last" names, distinct."""
    pairs = [(f, s) for f in _FIRST_NAMES for s in _LAST_NAMES]
    chosen = rng.choice(len(pairs), size=min(count, len(pairs)), replace=False)
    return [f"{pairs[i][0]} {pairs[i][1]}" for i in chosen]


def _split_rows(rng, n_bona, n_spoof, speakers, attacks):
    """Shuffled ``(speaker, label, attack)`` rows; speakers and attacks balanced.

    Both classes cycle over the same speakers, so the speaker says nothing
    about the label.
    """
    rows = [(speakers[i % len(speakers)], "bonafide", None) for i in range(n_bona)]
    rows += [
        (speakers[(i + n_bona) % len(speakers)], "spoof", attacks[i % len(attacks)])
        for i in range(n_spoof)
    ]
    return [rows[i] for i in rng.permutation(len(rows))]


def _write_audio(job, seed, sample_rate):
    """Synthesise one file and write it; returns the channel effects.

    ``job`` is ``(synthesis job of _synthesise, path, soundfile format)``.
    """
    spec, path, file_format = job
    pcm, effects = _synthesise(spec, seed, sample_rate)
    # Encode in memory: writing to a path makes libsndfile fsync every file,
    # which costs more than the synthesis. Same bytes either way.
    buffer = io.BytesIO()
    sf.write(buffer, pcm, sample_rate, format=file_format, subtype="PCM_16")
    with open(path, "wb") as f:
        f.write(buffer.getvalue())
    return effects


def _run_jobs(jobs, seed, sample_rate, num_workers):
    """Write all files, in threads: NumPy and libsndfile release the GIL.

    Each file depends on its own random streams only, so the output does not
    depend on the number of workers or the scheduling.
    """
    work = partial(_write_audio, seed=seed, sample_rate=sample_rate)
    if num_workers <= 1:
        return [work(job) for job in jobs]
    with ThreadPoolExecutor(num_workers) as pool:
        return list(pool.map(work, jobs))


def _condition_row(split, utt_id, label, attack_id, effects, codec):
    """One row of ``MINI_CORPUS.conditions.tsv`` (see the module docstring)."""
    name, kbps = codec if codec is not None else (UNCODED, 0)
    channel = "+".join(effects) if effects else UNCODED
    return (split, utt_id, label, attack_id or "-", channel, name, str(kbps))


def _write_la(root, seed, sizes, sample_rate, counts, conditions, num_workers):
    """Write the three LA splits and their CM protocols.

    Fills ``counts[split]`` and appends the files' rows to ``conditions``.
    """
    layout_rng = np.random.default_rng([seed, 0])
    total = sum(sum(sizes[split]) for split in SPLITS)
    numbers = iter(_unique_utterance_numbers(layout_rng, total))
    protocol_dir = os.path.join(root, LA_FOLDER, PROTOCOL_FOLDER)
    os.makedirs(protocol_dir, exist_ok=True)
    for split in SPLITS:
        folder, protocol_name, prefix, stream = _LA_LAYOUT[split]
        n_bona, n_spoof = sizes[split]
        available = _SPEAKER_NUMBERS[split]
        k = _n_speakers(n_bona + n_spoof, _UTTS_PER_SPEAKER[split], len(available))
        ids = sorted(layout_rng.choice(available, k, replace=False).tolist())
        speakers = [
            sample_speaker(f"LA_{i:04d}", np.random.default_rng([seed, 10, i]))
            for i in ids
        ]
        rows = _split_rows(layout_rng, n_bona, n_spoof, speakers, SPLIT_ATTACKS[split])
        profile = "eval" if split == "eval" else None
        codecs = assign_codecs(
            [label for _, label, _ in rows],
            np.random.default_rng([seed, _CODEC_STREAM, stream]),
            profile,
        )
        audio_dir = os.path.join(root, LA_FOLDER, folder, "flac")
        os.makedirs(audio_dir, exist_ok=True)
        utt_ids = [f"{prefix}{next(numbers)}" for _ in rows]
        jobs = [
            (
                (stream, index, speaker, label, attack_id, profile, codec),
                os.path.join(audio_dir, f"{utt_id}.flac"),
                "FLAC",
            )
            for index, ((speaker, label, attack_id), utt_id, codec) in enumerate(
                zip(rows, utt_ids, codecs)
            )
        ]
        split_counts = _empty_counts(len(speakers))
        results = _run_jobs(jobs, seed, sample_rate, num_workers)
        for (_, label, attack_id), utt_id, codec, effects in zip(
            rows, utt_ids, codecs, results
        ):
            _count(split_counts, label, attack_id, effects, codec)
            conditions.append(
                _condition_row(split, utt_id, label, attack_id, effects, codec)
            )
        entries = [
            (speaker.speaker_id, utt_id, attack_id or "-", label)
            for (speaker, label, attack_id), utt_id in zip(rows, utt_ids)
        ]
        if split != "eval":
            # Real train / dev order: bona fide by speaker, then spoofs by
            # attack and speaker, ids ascending; the eval protocol is shuffled.
            entries.sort(key=lambda e: (e[3] != "bonafide", e[2], e[0], e[1]))
        lines = [
            f"{spk} {utt} - {attack} {label}\n" for spk, utt, attack, label in entries
        ]
        with open(os.path.join(protocol_dir, protocol_name), "w") as f:
            f.writelines(lines)
        counts[split] = split_counts


def _write_itw(root, seed, sizes, sample_rate, counts, conditions, num_workers):
    """Write the In-the-Wild release: ``0.wav ...`` and ``meta.csv``.

    Fills ``counts["itw"]`` and appends the files' rows to ``conditions``.
    """
    layout_rng = np.random.default_rng([seed, _ITW_STREAM, 0])
    n_bona, n_spoof = sizes["itw"]
    k = _n_speakers(n_bona + n_spoof, _UTTS_PER_SPEAKER["itw"], 10**6)
    names = _itw_names(layout_rng, k)
    speakers = [
        sample_speaker(name, np.random.default_rng([seed, 20, i]))
        for i, name in enumerate(names)
    ]
    rows = _split_rows(layout_rng, n_bona, n_spoof, speakers, SPLIT_ATTACKS["itw"])
    codecs = assign_codecs(
        [label for _, label, _ in rows],
        np.random.default_rng([seed, _CODEC_STREAM, _ITW_STREAM]),
        "itw",
    )
    folder = os.path.join(root, ITW_FOLDER)
    os.makedirs(folder, exist_ok=True)
    jobs = [
        (
            (_ITW_STREAM, index, speaker, label, attack_id, "itw", codec),
            os.path.join(folder, f"{index}.wav"),
            "WAV",
        )
        for index, ((speaker, label, attack_id), codec) in enumerate(zip(rows, codecs))
    ]
    lines = ["file,speaker,label\n"]
    itw_counts = _empty_counts(len(speakers))
    results = _run_jobs(jobs, seed, sample_rate, num_workers)
    for index, ((job, _, _), effects) in enumerate(zip(jobs, results)):
        _, _, speaker, label, attack_id, _, codec = job
        itw_label = "bona-fide" if label == "bonafide" else "spoof"
        lines.append(f"{index}.wav,{speaker.speaker_id},{itw_label}\n")
        _count(itw_counts, label, attack_id, effects, codec)
        conditions.append(
            _condition_row("itw", str(index), label, attack_id, effects, codec)
        )
    with open(os.path.join(folder, "meta.csv"), "w") as f:
        f.writelines(lines)
    counts["itw"] = itw_counts


def _empty_counts(n_speakers):
    """Zero counts of one split, as written in ``MINI_CORPUS.json``."""
    return {
        "bonafide": 0,
        "spoof": 0,
        "speakers": n_speakers,
        "attacks": {},
        "channel_effects": {},
        "codecs": {},
    }


def _codec_name(codec):
    """Name of a codec condition in the counts: ``"mp3_16k"``, or ``"none"``."""
    return UNCODED if codec is None else f"{codec[0]}_{codec[1]}k"


def _count(counts, label, attack_id, effects, codec=None):
    """Count one written file in ``counts`` (label, attack, channel, codec)."""
    counts[label] += 1
    if attack_id is not None:
        counts["attacks"][attack_id] = counts["attacks"].get(attack_id, 0) + 1
    for name in effects or (UNCODED,):
        counts["channel_effects"][name] = counts["channel_effects"].get(name, 0) + 1
    name = _codec_name(codec)
    counts["codecs"][name] = counts["codecs"].get(name, 0) + 1


def _write_conditions(path, rows):
    """Write ``MINI_CORPUS.conditions.tsv`` (header, then ``rows``), atomically."""
    with open_atomic(path, newline="\n") as f:
        for row in (CONDITIONS_HEADER, *rows):
            f.write("\t".join(row) + "\n")


def _options(seed, sizes, sample_rate):
    """The options that define a corpus, as stamped in ``MINI_CORPUS.json``."""
    return {
        "generator": "dpda.data.minicorpus",
        "version": GENERATOR_VERSION,
        "seed": int(seed),
        "sample_rate": int(sample_rate),
        "sizes": sizes,
    }


def _generated_paths(root):
    """Everything :func:`generate_mini_corpus` writes, stamps excluded."""
    la = os.path.join(root, LA_FOLDER)
    return [os.path.join(la, layout[0]) for layout in _LA_LAYOUT.values()] + [
        os.path.join(la, PROTOCOL_FOLDER),
        os.path.join(root, ITW_FOLDER),
    ]


def _clear(root):
    """Delete everything a previous run wrote under ``root``, stamps included."""
    for path in _generated_paths(root):
        if os.path.isdir(path):
            shutil.rmtree(path)
    for name in (STAMP_NAME, PARTIAL_NAME, CONDITIONS_NAME):
        if os.path.exists(os.path.join(root, name)):
            os.remove(os.path.join(root, name))


def _write_json(path, content):
    """Write ``content`` as sorted, indented JSON, atomically."""
    with open_atomic(path) as f:
        json.dump(content, f, indent=2, sort_keys=True)
        f.write("\n")
