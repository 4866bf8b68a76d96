#!/usr/bin/env python3
"""Score a few real and espeak-ng recordings with the three released AASISTs.

A sanity check on real audio of the checkpoint import: the three raw-waveform
AASIST checkpoints published under the MIT licence (clovaai's AASIST and
AASIST-L, trained on ASVspoof 2019 LA, and the ASVspoof 5 baseline) are
imported into a temporary folder with ``recipes/ASVspoof/import_checkpoint.py``
and loaded with :class:`dpda.inference.DeepfakeDetector`. Every file of
``tests/data/real_speech/`` is scored with each detector by
``DeepfakeDetector.score_files`` (the bona fide logit of the first 64,600
samples, shorter files tiled; higher means more bona fide). Files named
``real_*`` are recordings of human speakers (LibriSpeech, VCTK, LJ Speech and
a 1961 speech, see ``SOURCES.md`` there); files named ``espeak_*`` were made
by the espeak-ng formant synthesiser with the commands of
:data:`ESPEAK_UTTERANCES`.

The report, printed and optionally written as Markdown, gives per model and
group the count, mean, median, minimum and maximum of the scores, the share of
the group on the bona fide side of the threshold 0 (score > 0, the label
``DeepfakeDetector.classify_file`` would give), the equal error rate between
the two groups (:func:`dpda.metrics.compute_eer`, real speech as bona fide,
espeak-ng as spoof), then every file's score.

What it can show: that the import yields working detectors on audio that
never passed through this project's data pipeline (wrong weights, a wrong
key mapping or a wrong input scaling would hardly separate even this easy
contrast; the converse does not hold, a correct import of a model trained
against other attacks may still fail to), and how far each detector's
uncalibrated scores sit from the threshold 0 on read speech. What it cannot show: the detectors'
error rates. A handful of files gives EERs in steps of one file; espeak-ng is
a rule-based formant synthesiser of the 1990s kind, far easier to tell from
speech than the neural TTS and voice conversion of the ASVspoof sets; the
real files come through several codecs and sample rates (FLAC, WAV, Vorbis,
MP3) that move scores by themselves; and the scores are logits, not
calibrated probabilities, so 0 is only the threshold the import stores.

Usage (from the repository root)::

    python tools/real_audio_check.py --out docs/real_audio/summary.md
    python tools/real_audio_check.py --synthesize  # first rewrite espeak_*.flac

Authors
 * dpda contributors 2026
"""

import argparse
import contextlib
import importlib.util
import os
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile

import numpy as np
import soundfile
import torch
import torchaudio.functional

from dpda.inference import DeepfakeDetector
from dpda.metrics import compute_eer
from dpda.published import sha256_of

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RECIPE = os.path.join(ROOT, "recipes", "ASVspoof")
IMPORT_SCRIPT = os.path.join(RECIPE, "import_checkpoint.py")
DEFAULT_DATA = os.path.join("tests", "data", "real_speech")
DEFAULT_PRETRAINED = os.path.join(os.pardir, "shared", "data", "pretrained")

#: (short name, checkpoint file, hparams file of recipes/ASVspoof, trained on)
MODELS = (
    (
        "AASIST",
        "aasist_clovaai_AASIST.pth",
        "hparams/dpda_rawboost_aasist.yaml",
        "ASVspoof 2019 LA (clovaai)",
    ),
    (
        "AASIST-L",
        "aasist_clovaai_AASIST-L.pth",
        "hparams/dpda_rawboost_aasist_l.yaml",
        "ASVspoof 2019 LA (clovaai)",
    ),
    (
        "ASVspoof5 baseline",
        "aasist_asvspoof5_baseline.pth",
        "hparams/dpda_rawboost_aasist.yaml",
        "ASVspoof 5 (challenge baseline)",
    ),
)

#: Decision threshold on the bona fide logit (the one the import stores).
THRESHOLD = 0.0
#: Rate and longest length of the files in the data folder: the 64,600
#: samples (about 4 s) the detectors score, so the files hold no unused audio.
SAMPLE_RATE = 16000
MAX_SAMPLES = 64600
GROUPS = (("real", "real_"), ("espeak-ng", "espeak_"))

#: (file stem, voice, words per minute, pitch 0-99, text) of each espeak file.
ESPEAK_UTTERANCES = (
    (
        "espeak_1",
        "en-us",
        150,
        50,
        "Another engineer rushed toward the door to see what was happening outside.",
    ),
    (
        "espeak_2",
        "en-gb",
        140,
        40,
        "And he walked immediately out of the apartment by another door.",
    ),
    (
        "espeak_3",
        "en-gb-x-rp",
        165,
        55,
        "When the sunlight strikes raindrops in the air, they act as a prism "
        "and form a rainbow.",
    ),
    (
        "espeak_4",
        "en-us+f3",
        155,
        70,
        "Please call Stella. Ask her to bring these things with her from the store.",
    ),
    (
        "espeak_5",
        "en-gb-scotland",
        130,
        45,
        "This isn't part of your testing routine, is it?",
    ),
    (
        "espeak_6",
        "en-us+m3",
        175,
        35,
        "I tell you it is not poison, she cried.",
    ),
    (
        "espeak_7",
        "en-029",
        145,
        60,
        "Unless a system is established for the frequent formal review of "
        "activities thereunder.",
    ),
    (
        "espeak_8",
        "en-gb+f2",
        135,
        65,
        "And so, my fellow Americans, ask not what your country can do for you.",
    ),
)


def espeak_command(wav_path, voice, speed, pitch, text):
    """Return the espeak-ng command line that writes one utterance.

    Arguments
    ---------
    wav_path : str
        The WAV file espeak-ng writes (at its own rate, 22,050 Hz).
    voice : str
        An espeak-ng voice, optionally with a variant (``en-us+f3``).
    speed : int
        Words per minute (``-s``).
    pitch : int
        Pitch, 0 to 99 (``-p``).
    text : str
        What is said.

    Returns
    -------
    list of str
        The command, for :func:`subprocess.run`.
    """
    return [
        "espeak-ng",
        "-v",
        voice,
        "-s",
        str(speed),
        "-p",
        str(pitch),
        "-w",
        wav_path,
        text,
    ]


def write_16k_flac(signal, rate, path, max_samples=MAX_SAMPLES):
    """Write a signal as 16 kHz mono 16-bit FLAC, cut to ``max_samples``.

    Arguments
    ---------
    signal : numpy.ndarray
        Samples, shape ``(time,)`` or ``(time, channels)`` (channels are
        averaged).
    rate : int
        Its sample rate; resampled with :func:`torchaudio.functional.resample`.
    path : str
        The FLAC file to write.
    max_samples : int
        Longest length kept, from the start.

    Returns
    -------
    float
        The duration written, in seconds.
    """
    signal = np.asarray(signal, dtype=np.float64)
    if signal.ndim == 2:
        signal = signal.mean(axis=1)
    if rate != SAMPLE_RATE:
        tensor = torch.from_numpy(signal)
        signal = torchaudio.functional.resample(tensor, rate, SAMPLE_RATE).numpy()
    signal = signal[:max_samples]
    peak = float(np.abs(signal).max())
    if peak > 0.999:  # resampling can overshoot full scale
        signal = signal * (0.999 / peak)
    soundfile.write(
        path,
        signal,
        SAMPLE_RATE,
        subtype="PCM_16",
        format="FLAC",
        compression_level=1.0,
    )
    return len(signal) / SAMPLE_RATE


def synthesize(data_dir):
    """Write the ``espeak_*.flac`` files of :data:`ESPEAK_UTTERANCES`.

    Each utterance is synthesised by espeak-ng into a temporary WAV file,
    then resampled to 16 kHz, cut to :data:`MAX_SAMPLES` and written as
    16-bit FLAC.

    Arguments
    ---------
    data_dir : str
        The folder that receives the files.

    Returns
    -------
    list of str
        The commands run, as shell lines.
    """
    if shutil.which("espeak-ng") is None:
        raise SystemExit("espeak-ng is not installed (apt-get install espeak-ng)")
    commands = []
    with tempfile.TemporaryDirectory() as scratch:
        for stem, voice, speed, pitch, text in ESPEAK_UTTERANCES:
            wav = os.path.join(scratch, stem + ".wav")
            command = espeak_command(wav, voice, speed, pitch, text)
            subprocess.run(command, check=True)
            signal, rate = soundfile.read(wav, dtype="float64")
            write_16k_flac(signal, rate, os.path.join(data_dir, stem + ".flac"))
            shown = espeak_command(stem + ".wav", voice, speed, pitch, text)
            commands.append(shlex.join(shown))
    return commands


def list_files(data_dir):
    """Return the audio files of the data folder, by group.

    Arguments
    ---------
    data_dir : str
        Folder with ``real_*.flac`` and ``espeak_*.flac`` files.

    Returns
    -------
    dict
        Group name (``"real"``, ``"espeak-ng"``) to sorted file paths.
    """
    names = sorted(n for n in os.listdir(data_dir) if n.endswith(".flac"))
    groups = {}
    for group, prefix in GROUPS:
        groups[group] = [
            os.path.join(data_dir, n) for n in names if n.startswith(prefix)
        ]
        if not groups[group]:
            raise SystemExit(f"no {prefix}*.flac file in {data_dir}")
    return groups


def import_detector(checkpoint, hparams_file, out_dir):
    """Import one checkpoint with ``recipes/ASVspoof/import_checkpoint.py``.

    The script is run in this process (so the thread setting holds), with
    its output sent to stderr to keep stdout for the report.

    Arguments
    ---------
    checkpoint : str
        The released ``.pth`` file.
    hparams_file : str
        The hparams file, relative to ``recipes/ASVspoof``.
    out_dir : str
        The detector folder to write.
    """
    spec = importlib.util.spec_from_file_location("import_checkpoint", IMPORT_SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    argv = [checkpoint, out_dir, os.path.join(RECIPE, hparams_file)]
    with contextlib.redirect_stdout(sys.stderr):
        status = module.main(argv)
    if status:
        raise SystemExit(f"import of {checkpoint} failed with status {status}")


def score_models(pretrained_dir, paths, work_dir, batch_size):
    """Import every model of :data:`MODELS` and score the files with it.

    Arguments
    ---------
    pretrained_dir : str
        Folder holding the released checkpoints.
    paths : list of str
        Audio files to score.
    work_dir : str
        Scratch folder for the imported detectors.
    batch_size : int
        Files per forward pass.

    Returns
    -------
    dict
        Model name to the list of scores, in the order of ``paths``.
    """
    scores = {}
    for name, filename, hparams_file, _ in MODELS:
        checkpoint = os.path.join(pretrained_dir, filename)
        folder = os.path.join(work_dir, filename.replace(".pth", ""))
        import_detector(checkpoint, hparams_file, folder)
        detector = DeepfakeDetector.from_hparams(
            folder, savedir=os.path.join(work_dir, "savedir", name)
        )
        with torch.no_grad():
            scores[name] = detector.score_files(paths, batch_size=batch_size)
        print(f"scored {len(paths)} files with {name}", file=sys.stderr)
    return scores


def group_statistics(values):
    """Summarise the scores of one group.

    Arguments
    ---------
    values : list of float
        Bona fide logits.

    Returns
    -------
    dict
        ``n``, ``mean``, ``median``, ``min``, ``max`` and ``bona_fide_share``
        (fraction of scores above :data:`THRESHOLD`).
    """
    return {
        "n": len(values),
        "mean": statistics.fmean(values),
        "median": statistics.median(values),
        "min": min(values),
        "max": max(values),
        "bona_fide_share": sum(v > THRESHOLD for v in values) / len(values),
    }


def format_report(groups, scores, pretrained_dir, threads):
    """Write the Markdown report.

    Arguments
    ---------
    groups : dict
        Group name to file paths, as :func:`list_files` returns.
    scores : dict
        Model name to scores, in the order of the concatenated groups.
    pretrained_dir : str
        Folder of the checkpoints (for their digests).
    threads : int
        The torch thread count used.

    Returns
    -------
    str
        The report.
    """
    counts = ", ".join(f"{len(p)} {g}" for g, p in groups.items())
    lines = [
        "# Real-audio check of the three imported AASIST checkpoints",
        "",
        "Made by `python tools/real_audio_check.py`: every file of "
        f"`tests/data/real_speech/` ({counts}; sources in its `SOURCES.md`) "
        "scored by `DeepfakeDetector.score_files` on its first 64,600 samples "
        "(shorter files tiled). Score: the bona fide logit, higher = more bona "
        f"fide; threshold {THRESHOLD:g}. EER: `dpda.metrics.compute_eer`, real "
        f"as bona fide, espeak-ng as spoof. torch {torch.__version__}, "
        f"{threads} thread(s), CPU.",
        "",
        "| model | trained on | checkpoint | sha256 (first 12) |",
        "|---|---|---|---|",
    ]
    for name, filename, _, trained_on in MODELS:
        digest = sha256_of(os.path.join(pretrained_dir, filename))[:12]
        lines.append(f"| {name} | {trained_on} | {filename} | {digest} |")
    lines += [
        "",
        "## Scores per model and group",
        "",
        "| model | group | n | mean | median | min | max | score > 0 "
        "| EER real vs espeak-ng (threshold) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    bounds, start = {}, 0
    for group, paths in groups.items():
        bounds[group] = (start, start + len(paths))
        start += len(paths)
    for name, values in scores.items():
        by_group = {g: values[a:b] for g, (a, b) in bounds.items()}
        eer, at = compute_eer(by_group["real"], by_group["espeak-ng"])
        for group, group_values in by_group.items():
            s = group_statistics(group_values)
            eer_cell = f"{100 * eer:.1f}% ({at:.2f})" if group == "real" else ""
            lines.append(
                f"| {name} | {group} | {s['n']} | {s['mean']:.2f} "
                f"| {s['median']:.2f} | {s['min']:.2f} | {s['max']:.2f} "
                f"| {100 * s['bona_fide_share']:.0f}% | {eer_cell} |"
            )
    names = list(scores)
    lines += [
        "",
        "## Per file",
        "",
        "| file | group | " + " | ".join(names) + " |",
        "|---|---|" + "---|" * len(names),
    ]
    index = 0
    for group, paths in groups.items():
        for path in paths:
            cells = " | ".join(f"{scores[n][index]:.2f}" for n in names)
            lines.append(f"| {os.path.basename(path)} | {group} | {cells} |")
            index += 1
    return "\n".join(lines) + "\n"


def main(argv=None):
    """Parse the options, score the files and print the report."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--pretrained",
        default=os.path.normpath(os.path.join(ROOT, DEFAULT_PRETRAINED)),
        help="folder of the released checkpoints (default: ../shared/data/"
        "pretrained beside the repository root)",
    )
    parser.add_argument(
        "--data",
        default=os.path.join(ROOT, DEFAULT_DATA),
        help="folder of real_*.flac and espeak_*.flac (default: %(default)s)",
    )
    parser.add_argument("--out", default=None, help="also write the report here")
    parser.add_argument("--batch-size", type=int, default=4, help="files per pass")
    parser.add_argument(
        "--threads", type=int, default=1, help="torch.set_num_threads (default 1)"
    )
    parser.add_argument(
        "--synthesize",
        action="store_true",
        help="first rewrite the espeak_*.flac files with espeak-ng",
    )
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    if args.synthesize:
        for command in synthesize(args.data):
            print(command, file=sys.stderr)
    groups = list_files(args.data)
    paths = [p for group_paths in groups.values() for p in group_paths]
    with tempfile.TemporaryDirectory() as work_dir:
        scores = score_models(args.pretrained, paths, work_dir, args.batch_size)
    report = format_report(groups, scores, args.pretrained, args.threads)
    print(report, end="")
    if args.out:
        os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
        with open(args.out, "w", encoding="utf-8") as f:
            f.write(report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
