#!/usr/bin/env python3
"""Build ``tests/data/real_world/``: real and synthetic speech with provenance.

A small real-world set on which the default detector's calibration is fitted
(``tools/calibrate_default.py``) and checked. It holds

* real speech: excerpts of recordings that public GitHub repositories ship
  under open licences (LJ Speech, LibriSpeech, VCTK, the Free Spoken Digit
  Dataset, Speech Commands, a 1961 speech), read from git snapshots of those
  repositories at the pinned commits of :data:`REPOS`;
* synthetic speech made here: espeak-ng (formant), flite's diphone voice
  kal16 and festival's diphone voices kal and ked (one "diphone" family: flite
  kal16 and festival kal share their diphone database), flite's clustergen
  voices slt, rms and awb, festival's HTS voice cmu_us_slt_arctic_hts, and
  vocoder copy-synthesis of real clips (WORLD with pyworld, Griffin-Lim with
  torchaudio): resynthesised real speech is spoofed speech;
* lossy-codec copies (MP3 at 16 and 32 kbit/s, Opus at about 20 kbit/s,
  encoded and decoded with soundfile / libsndfile) of every fourth clip.

Every clip is 16 kHz mono 16-bit FLAC, at most 64,600 samples (4.04 s, the
window the AASIST detectors score), written by ``write_16k_flac`` of
``tools/real_audio_check.py``. ``manifest.csv`` lists each file with its
label, group (real source or synthetic family), system, codec, split and
origin. The split puts whole real sources and whole synthetic families on one
side (:data:`SPLITS`), so held-out figures are about sources and families the
calibration never saw.

The script is run by hand; tests and CI use the committed files only. It
needs espeak-ng, flite, festival with festvox-kallpc16k, festvox-kdlpc16k and
festvox-us-slt-hts (Debian packages), pyworld (pip) and bare git clones of the
repositories of :data:`REPOS` under ``--repos`` (``<owner>+<name>`` or
``<owner>+<name>/repo`` folders). Two runs give identical files.

Usage (from the repository root)::

    python tools/make_real_world_set.py --repos /path/to/git/clones

Authors
 * dpda contributors 2026
"""

import argparse
import csv
import io
import os
import shlex
import subprocess
import sys
import tempfile

import numpy as np
import soundfile
import torch
import torchaudio

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from real_audio_check import MAX_SAMPLES, SAMPLE_RATE, write_16k_flac  # noqa: E402

DEFAULT_OUT = os.path.join("tests", "data", "real_world")
MANIFEST = "manifest.csv"
COLUMNS = ("file", "label", "group", "system", "codec", "split", "origin", "text")

#: Repository -> commit of the snapshot the real clips were read from.
REPOS = {
    "coqui-ai/TTS": "dbf1a08a0d4e47fdad6172e433eeb34bc6b13b4e",
    "Jakobovski/free-spoken-digit-dataset": "26eb9aaf76e81b692f806f9140c2d2777410d7a1",
    "librosa/data": "450cdd8a002c98e7bdbfebb309fc1ed024001f77",
    "CorentinJ/Real-Time-Voice-Cloning": "865eba8826bb6d76721a9d828a546724779c23ab",
    "alifsemi/alif_ml-embedded-evaluation-kit": "b1b93fc01d915da47a4f6ea8475c193aef56e871",
    "openai/whisper": "c0d2f624c09dc18e709e37c2ad90c039a4eb72a2",
}

#: Whole real sources and synthetic families per split, fixed before any
#: clip was scored: the largest real corpus (LJ Speech, one speaker) and the
#: band-limited short-word corpora calibrate; the multi-speaker read-speech
#: corpora and an archival recording are held out. Synthetic families
#: alternate by kind (rule-based, concatenative, vocoder) between the sides.
SPLITS = {
    "ljspeech": "calibration",
    "fsdd": "calibration",
    "speech_commands": "calibration",
    "librispeech": "heldout",
    "vctk": "heldout",
    "jfk": "heldout",
    "espeak-ng": "calibration",
    "diphone": "calibration",
    "griffin-lim": "calibration",
    "flite-cg": "heldout",
    "hts": "heldout",
    "world": "heldout",
}

LIBRISPEECH = (
    ("alifsemi/alif_ml-embedded-evaluation-kit", "resources/asr/samples/", 0.0),
    ("librosa/data", "audio/198-209-0000.hq.ogg", (0.0, 4.5, 9.0)),
    ("librosa/data", "audio/3436-172162-0000.hq.ogg", (0.0, 5.0, 10.0)),
    ("librosa/data", "audio/5703-47212-0000.hq.ogg", (0.0, 5.0, 10.0)),
    ("CorentinJ/Real-Time-Voice-Cloning", "samples/", 0.0),
)

#: Harvard sentences (IEEE 1969 recommended practice, lists 1-3), two per clip.
SENTENCES = (
    "The birch canoe slid on the smooth planks.",
    "Glue the sheet to the dark blue background.",
    "It's easy to tell the depth of a well.",
    "These days a chicken leg is a rare dish.",
    "Rice is often served in round bowls.",
    "The juice of lemons makes fine punch.",
    "The box was thrown beside the parked truck.",
    "The hogs were fed chopped corn and garbage.",
    "Four hours of steady work faced us.",
    "A large size in stockings is hard to sell.",
    "The boy was there when the sun rose.",
    "A rod is used to catch pink salmon.",
    "The source of the huge river is the clear spring.",
    "Kick the ball straight and follow through.",
    "Help the woman get back to her feet.",
    "A pot of tea helps to pass the evening.",
    "Smoky fires lack flame and heat.",
    "The soft cushion broke the man's fall.",
    "The salt breeze came across from the sea.",
    "The girl at the booth sold fifty bonds.",
    "The small pup gnawed a hole in the sock.",
    "The fish twisted and turned on the bent hook.",
    "Press the pants and sew a button on the vest.",
    "The swan dive was far short of perfect.",
    "The beauty of the view stunned the young boy.",
    "Two blue fish swam in the tank.",
    "Her purse was full of useless trash.",
    "The colt reared and threw the tall rider.",
    "It snowed, rained, and hailed the same morning.",
    "Read verse out loud for pleasure.",
)

#: espeak-ng voice, words per minute, pitch: one line per clip.
ESPEAK_VOICES = (
    ("en-us", 150, 50),
    ("en-gb", 140, 40),
    ("en-gb-x-rp", 165, 55),
    ("en-us+f3", 155, 70),
    ("en-gb-scotland", 130, 45),
    ("en-us+m3", 175, 35),
    ("en-029", 145, 60),
    ("en-gb+f2", 135, 65),
    ("en-us+m1", 160, 45),
    ("en-gb-x-gbclan", 150, 50),
    ("en-us+f4", 145, 75),
    ("en-gb-x-gbcwmd", 155, 40),
)

#: Lossy-codec copies: name -> soundfile write arguments.
CODECS = {
    "mp3_16k": {"format": "MP3", "compression_level": 0.95, "bitrate_mode": "CONSTANT"},
    "mp3_32k": {
        "format": "MP3",
        "compression_level": 0.842,
        "bitrate_mode": "CONSTANT",
    },
    "opus_20k": {"format": "OGG", "subtype": "OPUS", "compression_level": 0.95},
}


def git_dir(repos_dir, repo):
    """The git directory of ``repo`` under ``repos_dir`` (see :func:`git_blob`)."""
    base = os.path.join(repos_dir, repo.replace("/", "+"))
    return os.path.join(base, "repo") if os.path.isdir(base + "/repo") else base


def git_blob(repos_dir, repo, path):
    """The bytes of ``path`` at the pinned commit of ``repo``.

    Arguments
    ---------
    repos_dir : str
        Folder holding bare git clones named ``<owner>+<name>`` (optionally
        with the git directory in a ``repo`` subfolder).
    repo : str
        ``owner/name``, a key of :data:`REPOS`.
    path : str
        A file of the repository.

    Returns
    -------
    bytes
        The file's content.
    """
    command = ["git", "-C", git_dir(repos_dir, repo), "show", f"{REPOS[repo]}:{path}"]
    return subprocess.run(command, check=True, capture_output=True).stdout


def git_list(repos_dir, repo, folder, suffix):
    """Sorted files under ``folder`` ending in ``suffix`` at the pinned commit."""
    command = ["git", "-C", git_dir(repos_dir, repo), "ls-tree", "-r", "--name-only"]
    listing = subprocess.run(
        command + [REPOS[repo], folder], check=True, capture_output=True, text=True
    ).stdout.split()
    return sorted(p for p in listing if p.endswith(suffix))


def read_blob(repos_dir, repo, path):
    """Decode an audio file of a repository: ``(samples, rate)``, mono float64."""
    data = io.BytesIO(git_blob(repos_dir, repo, path))
    signal, rate = soundfile.read(data, dtype="float64", always_2d=True)
    return signal.mean(axis=1), rate


def real_items(repos_dir):
    """The real clips: ``(group, repo, path, start seconds, signal, rate)``.

    LJ Speech: the first 24 of the 32 WAV files of coqui-ai/TTS's test data,
    first 4.04 s each.
    LibriSpeech and VCTK: the files of :data:`LIBRISPEECH` and the VCTK files
    of two repositories, from the given start times. FSDD: for each of its
    six speakers, two clips of six digits spoken in a row (recordings index 0
    and 1 of digits 0-5 and 4-9, concatenated). Speech Commands: the four
    test clips of alif_ml-embedded-evaluation-kit. JFK: two 4.04 s parts.

    Arguments
    ---------
    repos_dir : str
        See :func:`git_blob`.

    Returns
    -------
    list of tuple
        One tuple per clip.
    """
    items = []
    tts = "coqui-ai/TTS"
    for path in git_list(repos_dir, tts, "tests/data/ljspeech/wavs", ".wav")[:24]:
        items.append(("ljspeech", tts, path, 0.0))
    for repo, where, starts in LIBRISPEECH:
        paths = [where] if not where.endswith("/") else None
        if paths is None:
            suffix = ".wav" if repo.startswith("alifsemi") else ".mp3"
            paths = [
                p
                for p in git_list(repos_dir, repo, where, suffix)
                if not os.path.basename(p).startswith("p2")
            ]
        for path in paths:
            for start in np.atleast_1d(starts):
                items.append(("librispeech", repo, path, float(start)))
    vctk = [("CorentinJ/Real-Time-Voice-Cloning", "samples/", ".mp3")]
    vctk.append(
        (
            "alifsemi/alif_ml-embedded-evaluation-kit",
            "resources/noise_reduction/",
            ".wav",
        )
    )
    for repo, folder, suffix in vctk:
        for path in git_list(repos_dir, repo, folder, suffix):
            if os.path.basename(path).startswith("p2"):
                items.append(("vctk", repo, path, 0.0))
    alif = "alifsemi/alif_ml-embedded-evaluation-kit"
    for path in git_list(repos_dir, alif, "resources/kws/samples", ".wav"):
        items.append(("speech_commands", alif, path, 0.0))
    for start in (0.0, 4.1):
        items.append(("jfk", "openai/whisper", "tests/jfk.flac", start))
    loaded = []
    for group, repo, path, start in items:
        signal, rate = read_blob(repos_dir, repo, path)
        loaded.append((group, repo, path, start, signal[int(start * rate) :], rate))
    return loaded + fsdd_items(repos_dir)


def fsdd_items(repos_dir):
    """Two six-digit clips per FSDD speaker (see :func:`real_items`)."""
    repo = "Jakobovski/free-spoken-digit-dataset"
    speakers = ("george", "jackson", "lucas", "nicolas", "theo", "yweweler")
    items = []
    for speaker in speakers:
        for take, digits in enumerate((range(0, 6), range(4, 10))):
            paths = [f"recordings/{d}_{speaker}_{take}.wav" for d in digits]
            parts = [read_blob(repos_dir, repo, p) for p in paths]
            signal = np.concatenate([p[0] for p in parts])
            items.append(("fsdd", repo, " + ".join(paths), 0.0, signal, parts[0][1]))
    return items


def tts_commands():
    """The synthesiser commands: ``(family, system, command, text)`` per clip.

    Each clip says two consecutive Harvard sentences of :data:`SENTENCES`
    (the text is appended to the command, or written to a file for
    festival's ``text2wave``); the commands write the file ``OUT.wav``.

    Returns
    -------
    list of tuple
        One tuple per synthetic clip.
    """
    texts = [" ".join(SENTENCES[i : i + 2]) for i in range(0, len(SENTENCES), 2)]
    wav = "OUT.wav"
    jobs = []
    for i, (voice, speed, pitch) in enumerate(ESPEAK_VOICES):
        command = ["espeak-ng", "-v", voice, "-s", str(speed), "-p", str(pitch)]
        jobs.append(
            ("espeak-ng", f"espeak-ng {voice}", command + ["-w", wav], texts[i])
        )
    flite = [("diphone", "kal16"), ("flite-cg", "slt")]
    flite += [("flite-cg", "rms"), ("flite-cg", "awb")]
    for k, (family, voice) in enumerate(flite):
        for i in range(4):
            text = texts[(3 * k + i) % len(texts)]
            command = ["flite", "-voice", voice, "-o", wav, "-t"]
            jobs.append((family, f"flite {voice}", command, text))
    festival = [("diphone", "kal_diphone", 4), ("diphone", "ked_diphone", 4)]
    festival.append(("hts", "cmu_us_slt_arctic_hts", 10))
    for k, (family, voice, count) in enumerate(festival):
        for i in range(count):
            text = texts[(5 * k + i) % len(texts)]
            command = ["text2wave", "-eval", f"(voice_{voice})", "-o", wav]
            jobs.append((family, f"festival {voice}", command, text))
    return jobs


def synthesize(job, scratch):
    """Run one :func:`tts_commands` job; return ``(signal, rate, shell line)``."""
    family, system, command, text = job
    wav = os.path.join(scratch, "tts.wav")
    command = [wav if part == "OUT.wav" else part for part in command]
    if command[0] == "text2wave":
        text_file = os.path.join(scratch, "text.txt")
        with open(text_file, "w") as handle:
            handle.write(text + "\n")
        run = command + [text_file]
    else:
        run = command + [text]
    subprocess.run(run, check=True, capture_output=True)
    signal, rate = soundfile.read(wav, dtype="float64", always_2d=True)
    shown = [part.replace(wav, "OUT.wav") for part in run]
    if command[0] == "text2wave":
        shown[-1] = "TEXT.txt"
    return signal.mean(axis=1), rate, shlex.join(shown)


def world_resynthesis(signal):
    """WORLD copy-synthesis (pyworld: Harvest F0, CheapTrick, D4C), 5 ms frames."""
    import pyworld

    x = np.ascontiguousarray(signal, dtype=np.float64)
    f0, times = pyworld.harvest(x, SAMPLE_RATE, frame_period=5.0)
    envelope = pyworld.cheaptrick(x, f0, times, SAMPLE_RATE)
    aperiodicity = pyworld.d4c(x, f0, times, SAMPLE_RATE)
    return pyworld.synthesize(f0, envelope, aperiodicity, SAMPLE_RATE, 5.0)[: len(x)]


def griffin_lim_resynthesis(signal, seed):
    """Griffin-Lim from an 80-band mel spectrogram (as early neural TTS vocoders).

    n_fft 1024, hop 256, power 1, 64 iterations, momentum 0.99; the random
    initial phase comes from torch's global generator seeded with ``seed``.
    """
    torch.manual_seed(seed)
    x = torch.as_tensor(signal, dtype=torch.float32)
    mel = torchaudio.transforms.MelSpectrogram(
        SAMPLE_RATE, n_fft=1024, hop_length=256, n_mels=80, power=1.0
    )(x)
    linear = torchaudio.transforms.InverseMelScale(
        n_stft=513, n_mels=80, sample_rate=SAMPLE_RATE
    )(mel)
    y = torchaudio.transforms.GriffinLim(
        n_fft=1024, hop_length=256, power=1.0, n_iter=64, momentum=0.99
    )(linear)
    return y[: len(signal)].double().numpy()


def codec_copy(signal, codec, scratch):
    """Encode with a :data:`CODECS` entry and decode, first ``len(signal)`` samples."""
    kwargs = CODECS[codec]
    path = os.path.join(scratch, "codec." + ("mp3" if "mp3" in codec else "opus"))
    soundfile.write(path, signal, SAMPLE_RATE, **kwargs)
    decoded, rate = soundfile.read(path, dtype="float64")
    assert rate == SAMPLE_RATE
    return decoded[: len(signal)]


def write_clip(out_dir, rows, name, signal, rate, **fields):
    """Write one FLAC clip and append its manifest row; returns the 16 kHz signal."""
    path = os.path.join(out_dir, name)
    write_16k_flac(signal, rate, path)
    fields.setdefault("codec", "none")
    fields.setdefault("text", "")
    fields["split"] = SPLITS[fields["group"]]
    rows.append({"file": name, **fields})
    written, _ = soundfile.read(path, dtype="float64")
    return written


def build_real(repos_dir, out_dir, rows):
    """Write the real clips; return ``{group: [(name, 16 kHz signal)]}``."""
    written = {}
    for group, repo, path, start, signal, rate in real_items(repos_dir):
        index = len(written.setdefault(group, []))
        name = f"real_{group}_{index:02d}.flac"
        origin = f"{repo}@{REPOS[repo][:12]}:{path}"
        origin += f" from {start:g} s" if start else ""
        clip = write_clip(
            out_dir, rows, name, signal, rate, label="bonafide", group=group,
            system="recording", origin=origin,
        )  # fmt: skip
        written[group].append((name, clip))
    return written


def build_synthetic(real, out_dir, rows):
    """Write the TTS and vocoder clips; return ``[(name, 16 kHz signal)]``."""
    written = []
    counts = {}
    with tempfile.TemporaryDirectory() as scratch:
        for job in tts_commands():
            signal, rate, shown = synthesize(job, scratch)
            index = counts[job[0]] = counts.get(job[0], -1) + 1
            name = f"spoof_{job[0]}_{index:02d}.flac"
            clip = write_clip(
                out_dir, rows, name, signal, rate, label="spoof", group=job[0],
                system=job[1], origin=shown, text=job[3],
            )  # fmt: skip
            written.append((name, clip))
    # Vocoders resynthesise real clips of their own split (10 each).
    vocoders = {"griffin-lim": ("ljspeech", "fsdd"), "world": ("librispeech", "vctk")}
    for family, groups in vocoders.items():
        sources = [clip for g in groups for clip in real[g]]
        step = max(1, len(sources) // 10)
        for index, (source, signal) in enumerate(sources[::step][:10]):
            if family == "world":
                signal, system = world_resynthesis(signal), "pyworld 0.3.5"
            else:
                signal = griffin_lim_resynthesis(signal, seed=index)
                system = "torchaudio GriffinLim"
            name = f"spoof_{family}_{index:02d}.flac"
            clip = write_clip(
                out_dir, rows, name, signal, SAMPLE_RATE, label="spoof",
                group=family, system=system, origin=f"resynthesis of {source}",
            )  # fmt: skip
            written.append((name, clip))
    return written


def build_codec_copies(clips, out_dir, rows):
    """Codec copies of every fourth clip, the codecs taken in turn."""
    by_name = {row["file"]: row for row in rows}
    names = list(CODECS)
    with tempfile.TemporaryDirectory() as scratch:
        for k, (name, signal) in enumerate(clips[::4]):
            codec = names[k % len(names)]
            row = by_name[name]
            copy = codec_copy(signal, codec, scratch)
            write_clip(
                out_dir, rows, name.replace(".flac", f"_{codec}.flac"), copy,
                SAMPLE_RATE, label=row["label"], group=row["group"],
                system=row["system"], codec=codec, origin=f"{codec} copy of {name}",
                text=row["text"],
            )  # fmt: skip


def main(argv=None):
    """Regenerate the set; print a count per split, label and group."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repos", required=True, help="folder of bare git clones")
    parser.add_argument("--out", default=DEFAULT_OUT)
    args = parser.parse_args(argv)
    os.makedirs(args.out, exist_ok=True)
    for old in os.listdir(args.out):
        if old.endswith(".flac"):
            os.remove(os.path.join(args.out, old))
    rows = []
    real = build_real(args.repos, args.out, rows)
    synthetic = build_synthetic(real, args.out, rows)
    build_codec_copies(
        [c for g in real.values() for c in g] + synthetic, args.out, rows
    )
    with open(os.path.join(args.out, MANIFEST), "w", newline="") as handle:
        writer = csv.DictWriter(handle, COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    counts = {}
    for row in rows:
        key = (row["split"], row["label"], row["group"])
        counts[key] = counts.get(key, 0) + 1
    for key, count in sorted(counts.items()):
        print(*key, count)
    print(f"{len(rows)} clips; at most {MAX_SAMPLES} samples each")


if __name__ == "__main__":
    main()
