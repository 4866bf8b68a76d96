"""Long recordings: ``dpda-detect --windows 4`` streamed, against the whole-file path.

For each length in ``--minutes`` (default 2, 10 and 60), a recording of real
speech is generated: the bona fide clips of ``tests/data/real_world``
(LibriSpeech, LJSpeech, VCTK; no codec copies), resampled to 16 kHz and
concatenated with 0.4 s pauses until the length is reached, as 16-bit WAV.
Then, each in its own process, with the default detector (AASIST-L):

(a) ``streamed``: ``dpda-detect FILE --windows 4 --format json`` as a user
    runs it (the file decoded a block at a time by DataLoader workers,
    windows scored as they come, ``--batch-size`` 8 per forward pass);
(b) ``whole file``: the path ``score_timeline`` took before streaming, for
    the lengths up to ``--whole-up-to`` minutes: the whole file decoded
    (``load_audio``), cut by :func:`dpda.streaming.split_windows` into one
    tensor of windows, scored in batches of the detector's
    ``window_batch_size`` (16, as it was).

Measured on a 2-core AMD EPYC (shared, load average 1 to 2.6), AASIST-L with
its fast eval path: 2 min streamed 27.5 s / 935 MB peak RSS (whole file
24.6 s / 1202 MB); 10 min 106.3 s / 967 MB (106.5 s / 1151 MB); 60 min
646.2 s / 980 MB, 5.6 times real time throughout; window scores of both
paths within 9.6e-7.

Printed per run: the wall time, the peak resident memory of the scoring
process (its ``VmHWM``) and the peak summed proportional memory (PSS) of the
process and its workers (polled every 0.1 s, so that pages the workers share
with their parent count once), the windows, and, where both ran, the largest
difference between their window scores (a fast wrong result is worth
nothing). The CPU model, the torch threads and the load average are printed
beside them: on a shared machine the times are upper bounds.

Usage::

    python benchmarks/long_recording.py [--minutes 2 10 60] [--whole-up-to 10]
        [--precisions fp32 bf16] [--folder /tmp/long_recordings]

``--precisions`` adds streamed runs with ``dpda-detect --precision`` (opt-in
bf16 or int8), their window scores compared with the fp32 run's.

Authors
 * dpda contributors 2026
"""

import argparse
import json
import os
import subprocess
import sys
import threading
import time

import numpy as np
import soundfile as sf
from machine import cpu_model

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
REAL = os.path.join(ROOT, "tests", "data", "real_world")
RATE = 16000
WINDOW_SECONDS = 4.0


def speech_clips():
    """The bona fide recordings of tests/data/real_world at 16 kHz, no codecs."""
    from dpda.data.audio import read_checked_audio

    names = sorted(
        n
        for n in os.listdir(REAL)
        if n.startswith(("real_librispeech", "real_ljspeech", "real_vctk"))
        and n.count("_") == 2  # real_<corpus>_<nn>.flac: no codec copy
    )
    return [
        read_checked_audio(
            os.path.join(REAL, n), sample_rate=RATE, resample=True
        ).numpy()
        for n in names
    ]


def write_recording(path, minutes, clips):
    """Concatenated speech with 0.4 s pauses, ``minutes`` long, 16-bit WAV."""
    total, written, index = int(minutes * 60 * RATE), 0, 0
    pause = np.zeros(int(0.4 * RATE), dtype=np.float32)
    with sf.SoundFile(path, "w", RATE, 1, subtype="PCM_16") as fout:
        while written < total:
            part = np.concatenate([clips[index % len(clips)], pause])
            part = part[: total - written]
            fout.write(part)
            written += part.shape[0]
            index += 1
    return path


def _tree(pid):
    """A process and its descendants (Linux /proc)."""
    pids, todo = [], [pid]
    while todo:
        current = todo.pop()
        pids.append(current)
        try:
            for task in os.listdir(f"/proc/{current}/task"):
                with open(f"/proc/{current}/task/{task}/children") as fin:
                    todo += [int(p) for p in fin.read().split()]
        except OSError:
            pass
    return pids


def _kib(path, key):
    """The ``key:`` line of a /proc status file, in KiB (0 when gone)."""
    try:
        with open(path) as fin:
            for line in fin:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def measure(command, log):
    """Run ``command`` (its output to ``log``); its wall time (s), peak RSS of
    the process and peak summed PSS of its tree (MB), and its exit status."""
    peaks = {"hwm": 0, "pss": 0}
    start = time.perf_counter()
    with open(log, "w") as fout:  # the command's own report, for failures
        process = subprocess.Popen(command, stdout=fout, stderr=subprocess.STDOUT)

    def poll():
        while process.poll() is None:
            peaks["hwm"] = max(
                peaks["hwm"], _kib(f"/proc/{process.pid}/status", "VmHWM")
            )
            pss = sum(
                _kib(f"/proc/{p}/smaps_rollup", "Pss") for p in _tree(process.pid)
            )
            peaks["pss"] = max(peaks["pss"], pss)
            time.sleep(0.1)

    poller = threading.Thread(target=poll, daemon=True)
    poller.start()
    status = process.wait()
    wall = time.perf_counter() - start
    poller.join()
    return wall, peaks["hwm"] / 1024, peaks["pss"] / 1024, status


def whole_file_timeline(path, out):
    """The former score_timeline: decode all, one windows tensor, batches."""
    import torch

    from dpda.inference import DeepfakeDetector
    from dpda.scores import score_batch
    from dpda.streaming import split_windows

    detector = DeepfakeDetector.from_hparams()
    model = detector.mods.model.eval()
    signal = detector.load_audio(path)
    width = int(WINDOW_SECONDS * RATE)
    _, windows = split_windows(signal, width, width // 2)
    with torch.no_grad():
        scores = [
            score_batch(model, part, torch.ones(len(part)))
            for part in windows.split(detector.window_batch_size)
        ]
    with open(out, "w") as fout:
        json.dump(torch.cat(scores).tolist(), fout)


def _windows_of(report):
    """The window scores of a dpda-detect JSON report."""
    with open(report) as fin:
        (row,) = json.load(fin)["files"]
    return [w["score"] for w in row["windows"]]


def run(args):
    """Generate, score, print."""
    import torch

    os.makedirs(args.folder, exist_ok=True)
    clips = speech_clips()
    print(
        f"CPU: {cpu_model()}, {os.cpu_count()} cores, torch {torch.__version__} "
        f"({torch.get_num_threads()} threads); load average at start "
        f"{os.getloadavg()[0]:.1f}"
    )
    header = ("minutes", "path", "wall (s)", "x real time", "peak RSS (MB)",
              "peak PSS, all processes (MB)", "windows", "max |diff|")  # fmt: skip
    print(" | ".join(header))
    detect = os.path.join(os.path.dirname(sys.executable), "dpda-detect")
    for minutes in args.minutes:
        wav = write_recording(
            os.path.join(args.folder, f"speech_{minutes:g}min.wav"), minutes, clips
        )
        rows = []
        for precision in args.precisions:  # fp32 first: the others' reference
            report = os.path.join(args.folder, f"streamed_{minutes:g}_{precision}.json")
            command = [detect, wav, "--windows", str(WINDOW_SECONDS), "--format",
                       "json", "--output", report, "--no-progress",
                       "--precision", precision]  # fmt: skip
            name = "streamed" + ("" if precision == "fp32" else f", {precision}")
            rows.append((name, *measure(command, report + ".log"), report))
        if minutes <= args.whole_up_to:
            out = os.path.join(args.folder, f"whole_{minutes:g}.json")
            command = [sys.executable, __file__, "--whole-file", wav, out]
            rows.append(("whole file", *measure(command, out + ".log"), out))
        streamed = _windows_of(rows[0][5]) if rows[0][4] == 0 else None
        for name, wall, hwm, pss, status, out in rows:
            if status != 0:
                print(f"{minutes:g} | {name} | failed with status {status}: {out}.log")
                continue
            scores = json.load(open(out)) if name == "whole file" else None
            scores = _windows_of(out) if scores is None else scores
            diff = ""
            if name != "streamed" and streamed is not None:  # against fp32
                diff = f"{np.abs(np.subtract(scores, streamed)).max():.2e}"
            print(
                f"{minutes:g} | {name} | {wall:.1f} | {minutes * 60 / wall:.1f} | "
                f"{hwm:.0f} | {pss:.0f} | {len(scores)} | {diff}"
            )
        sys.stdout.flush()
    print(f"load average at the end {os.getloadavg()[0]:.1f}")


def main():
    """Parse the options; ``--whole-file`` is the internal second mode."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--minutes", type=float, nargs="+", default=[2, 10, 60])
    parser.add_argument(
        "--whole-up-to",
        type=float,
        default=10,
        help="run the whole-file path for recordings up to this many minutes",
    )
    parser.add_argument(
        "--precisions",
        nargs="+",
        default=["fp32"],
        choices=["fp32", "bf16", "int8"],
        help="dpda-detect --precision of the streamed runs (fp32 always first)",
    )
    parser.add_argument("--folder", default="/tmp/long_recordings")
    parser.add_argument("--whole-file", nargs=2, metavar=("WAV", "OUT"))
    args = parser.parse_args()
    args.precisions = ["fp32", *(p for p in args.precisions if p != "fp32")]
    if args.whole_file:
        whole_file_timeline(*args.whole_file)
    else:
        run(args)


if __name__ == "__main__":
    main()
