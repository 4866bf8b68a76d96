"""``dpda-detect``: score recordings from the command line, or serve a web demo.

::

    dpda-detect speech.mp3                        # the default detector (AASIST-L)
    dpda-detect recordings/ --format csv --output scores.csv
    dpda-detect interview.m4a --windows 4 --plots timelines/
    dpda-detect calls.txt --detector path/to/detector --batch-size 16
    dpda-detect serve [--detector ...] [--host 127.0.0.1] [--port 7860]

Inputs are files, folders (searched recursively for audio files), glob
patterns, or text files (``.txt``/``.lst``) listing one path per line
(relative to the list's folder; ``#`` starts a comment). Any format soundfile
or PyAV reads (wav, flac, ogg, mp3, opus, m4a/aac, webm...), any sample rate
and channel count: files are resampled and mixed to mono
(:meth:`dpda.inference.DeepfakeDetector.load_audio`).

Each file gets its duration, raw score (the bona fide logit), and for a
calibrated detector its log-likelihood ratio and probability of bona fide,
and a label; every report states the rule that gave the labels, with its
thresholds in the units shown (:class:`dpda.decision.DecisionRule`). No
verdict without evidence: a calibrated detector labels a file bona fide or
spoof by the Bayes decision of its cost model, and ``uncertain`` when the
LLR lies inside the detector's uncertain band around the threshold; an
uncalibrated detector gives no label (``uncalibrated``, with the raw score)
unless ``--threshold T`` is passed, which labels every file on its raw
score (bona fide when score > T). The summary counts each label. Files are scored by the detector's one call for files,
:meth:`~dpda.inference.DeepfakeDetector.classify_files`: without
``--windows`` as ``score_files`` scores them (the first window, short files
tiled); with ``--windows SECONDS`` overlapping windows cover the whole
recording, the file's score is their mean and the per-window scores are
listed (:meth:`~dpda.inference.DeepfakeDetector.score_timeline`). Files are
streamed: decoded a block at a time by ``--num-workers`` processes while the
detector scores, so an hour-long recording takes no more memory than a short
one; a progress bar on a terminal (or with ``--progress``) shows the time
left. Windows without speech (digital silence, or an RMS level below -60
dBFS: :func:`dpda.data.audio.no_speech_reasons`) are not scored; a file with
no window of speech is labelled ``no speech`` with its reason, counted apart
in the summary, neither bona fide nor spoof. A file that
cannot be scored (unreadable, empty, not audio, too short) is reported on its
own line with the reason, and the others are scored. Exit status: 0 when every
file was scored, whatever its label (the verdicts are in the report), 1 when
some could not be, 2 on a usage error. Output files are written atomically.

``serve`` checks its address before it loads the model (:func:`check_port`):
a busy, privileged or out-of-range port, or a host that is not this machine's,
is one line saying what to do (``--port 0``: any free port). Exit status: 0
when stopped (Ctrl+C, SIGTERM), 2 on a usage error.

A usage error (a detector folder that is missing or incomplete, a refused hub
source, a bad port...) is one line on stderr, ``dpda-detect: error: ...``,
without a traceback.

Authors
 * dpda contributors 2026
"""

import argparse
import collections
import csv
import glob
import io
import json
import math
import os
import re
import sys

AUDIO_EXTENSIONS = (
    ".wav",
    ".flac",
    ".ogg",
    ".oga",
    ".mp3",
    ".opus",
    ".m4a",
    ".aac",
    ".mp4",
    ".webm",
    ".aif",
    ".aiff",
)
LIST_EXTENSIONS = (".txt", ".lst")
FORMATS = ("table", "csv", "json")


def usage_error(prog, message):
    """Print ``<prog>: error: <message>`` on stderr and exit with status 2.

    One line, no traceback: what is wrong and what to do. The recipes'
    command line (:mod:`dpda.recipe_cli`) reports its errors here too.

    Arguments
    ---------
    prog : str
        The command, e.g. ``dpda-detect`` or ``train.py``.
    message : str
        What is wrong and what to do.

    Example
    -------
    >>> usage_error("dpda-detect serve", "port 80 on 127.0.0.1 ...")
    Traceback (most recent call last):
    ...
    SystemExit: 2
    """
    print(f"{prog}: error: {message}", file=sys.stderr)
    raise SystemExit(2)  # argparse's status for a usage error


def check_port(host, port):
    """The port ``serve`` will listen on, checked before any model is loaded.

    The address is bound once, as the web server will bind it, and released.

    Arguments
    ---------
    host : str
        Address to listen on, e.g. ``127.0.0.1``.
    port : int or None
        ``None``: Gradio's own choice (7860, or the next free port up to
        7959), not checked here; ``0``: any free port, chosen now.

    Returns
    -------
    int or None
        The port to pass on (a free one for ``0``).

    Raises
    ------
    ValueError
        One line naming the port and what to do: out of range, in use,
        privileged, or a host that is not an address of this machine.

    Example
    -------
    >>> 0 < check_port("127.0.0.1", 0) < 65536
    True
    >>> check_port("127.0.0.1", 70000)
    Traceback (most recent call last):
    ...
    ValueError: --port 70000 is out of range: ports are 1 to 65535 (--port 0 picks any free port)
    """
    import errno
    import socket

    if port is None:
        check_port(host, 0)  # the host at least: Gradio chooses the port
        return None
    if not 0 <= port <= 65535:
        raise ValueError(
            f"--port {port} is out of range: ports are 1 to 65535 "
            "(--port 0 picks any free port)"
        )
    what = f"--host {host} is not an address of this machine"
    advice = "use --host 127.0.0.1 (this machine) or 0.0.0.0 (every network)"
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
    except socket.gaierror:
        raise ValueError(f"{what}: {advice}") from None
    with socket.socket(family, kind, proto) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as servers do
        try:
            sock.bind(address)
        except PermissionError:
            raise ValueError(
                f"port {port} on {host} needs root privileges (ports below 1024 "
                "do): pass --port 0 for any free port, or a port from 1024 up"
            ) from None
        except OSError as error:
            if error.errno == errno.EADDRINUSE:
                raise ValueError(
                    f"port {port} on {host} is in use by another program: pass "
                    "--port 0 for any free port, or another --port"
                ) from None
            if error.errno == errno.EADDRNOTAVAIL:
                raise ValueError(f"{what}: {advice}") from None
            raise ValueError(f"cannot listen on {host}:{port}: {error}") from None
        return sock.getsockname()[1]


def expand_inputs(inputs):
    """The audio files named by files, folders, globs and list files.

    Arguments
    ---------
    inputs : list of str
        What the user gave.

    Returns
    -------
    list of str
        Paths in order, duplicates dropped; a name that matches nothing is
        kept as it is, so that it is reported as missing.

    Example
    -------
    >>> import tempfile, pathlib
    >>> root = pathlib.Path(tempfile.mkdtemp())
    >>> (root / "a").mkdir(); _ = (root / "a" / "x.wav").write_bytes(b"")
    >>> _ = (root / "a" / "notes.md").write_text("")
    >>> _ = (root / "list.txt").write_text("# mine\\na/x.wav\\nb.flac\\n")
    >>> [os.path.relpath(p, root) for p in expand_inputs([str(root / "a"), str(root / "list.txt")])]
    ['a/x.wav', 'b.flac']
    """
    paths = []
    for item in inputs:
        if os.path.isdir(item):
            found = [
                os.path.join(folder, name)
                for folder, _, names in os.walk(item)
                for name in names
                if name.lower().endswith(AUDIO_EXTENSIONS)
            ]
            paths.extend(sorted(found))
        elif os.path.isfile(item) and item.lower().endswith(LIST_EXTENSIONS):
            base = os.path.dirname(os.path.abspath(item))
            with open(item, encoding="utf-8") as fin:
                for line in fin:
                    line = line.split("#", 1)[0].strip()
                    if line:
                        paths.append(os.path.join(base, line))
        elif os.path.exists(item):
            paths.append(item)
        else:
            matches = sorted(glob.glob(item, recursive=True))
            paths.extend(matches or [item])
    return list(dict.fromkeys(paths))


def _show_progress(args):
    """Whether to draw the progress bar: asked for, or stderr is a terminal."""
    return not args.no_progress and (args.progress or sys.stderr.isatty())


def _window_cells(scores, spec):
    """Window scores as one cell; ``-`` for a window without speech."""
    return ";".join("-" if v is None else format(v, spec) for v in scores)


def _number(value, spec):
    """A number formatted, or an empty cell."""
    return "" if value is None else format(value, spec)


def _json_report(rows, rule, summary):
    """The JSON report: one record per file, the decision rule, the summary."""
    keys = ("path", "duration", "score", "llr", "p_bonafide", "label", "reason")
    keys += ("error",)
    records = []
    for row in rows:
        record = {k: row.get(k) for k in keys}
        if "timeline" in row:
            timeline = row["timeline"]
            record["windows"] = [
                {"start": s, "end": e, "score": v, "no_speech": r}
                for s, e, v, r in zip(
                    timeline["starts"],
                    timeline["ends"],
                    timeline["scores"],
                    timeline["no_speech"],
                )
            ]
        records.append(record)
    stated = {
        "name": rule.name,
        "text": rule.text,
        "labels": list(rule.labels),
        "p_threshold": rule.p_threshold,
        "threshold": rule.threshold,
        "uncertain_llr_band": rule.llr_band and list(rule.llr_band),
    }
    report = {"files": records, "decision_rule": stated, "summary": summary}
    return json.dumps(report, indent=1) + "\n"


def format_rows(rows, fmt, detector_name, rule):
    """The report in one of :data:`FORMATS`, and its summary line.

    Every format states the rule that gave the labels: a line under the
    table, a ``decision_rule`` column in CSV, a ``decision_rule`` object in
    JSON.

    Arguments
    ---------
    rows : list of dict
        From :meth:`dpda.inference.DeepfakeDetector.classify_files`.
    fmt : str
        ``table``, ``csv`` or ``json``.
    detector_name : str
        How to name the detector in the summary.
    rule : dpda.decision.DecisionRule
        The detector's rule (``detector.decision_rule()``); a calibrated
        detector's rows have LLR and probability columns.

    Returns
    -------
    text : str
        The report.
    summary : str
        One line: counts per label (each label the rule can give, then any
        other given, e.g. ``no speech``), unreadable files, the detector.

    Example
    -------
    >>> from dpda.decision import DecisionRule
    >>> rows = [{"path": "a.wav", "duration": 2.0, "score": 1.5, "llr": None,
    ...          "p_bonafide": None, "label": "uncalibrated", "error": None},
    ...         {"path": "b.wav", "duration": None, "error": "empty audio"}]
    >>> text, summary = format_rows(rows, "table", "default", DecisionRule())
    >>> print(text)
    path   duration (s)  score   label
    a.wav  2.00          1.5000  uncalibrated
    b.wav                        error: empty audio
    Decision rule: no label: the detector is not calibrated, so its raw scores (higher = more bona fide) have no stated threshold; pass a threshold on raw scores to get bona fide / spoof labels
    >>> summary
    '2 files: 1 uncalibrated, 1 not scored (detector: default, uncalibrated scores: no verdict without --threshold)'
    >>> rows[0]["label"] = "bonafide"
    >>> format_rows(rows, "table", "default", DecisionRule(0.0))[1]
    '2 files: 1 bona fide, 0 spoof, 1 not scored (detector: default, uncalibrated scores, labels by --threshold)'
    """
    calibrated = rule.calibration is not None
    scored = [r for r in rows if r["error"] is None]
    counts = collections.Counter(r["label"] for r in scored)
    # The rule's labels always, then whatever other label was given.
    labels = [*rule.labels, *sorted(set(counts) - set(rule.labels))]
    shown = ", ".join(
        f"{counts[k]} {k.replace('bonafide', 'bona fide')}" for k in labels
    )
    state = "calibrated" if calibrated else "uncalibrated scores"
    if rule.name == "uncalibrated":
        state += ": no verdict without --threshold"
    elif rule.name == "score_threshold":
        state += ", labels by --threshold"
    summary = (
        f"{len(rows)} files: {shown}, {len(rows) - len(scored)} not scored "
        f"(detector: {detector_name}, {state})"
    )
    if fmt == "json":
        return _json_report(rows, rule, summary), summary
    columns = ["path", "duration (s)", "score"]
    if calibrated:
        columns += ["LLR", "P(bona fide)"]
    columns += ["label"] + (["decision rule"] if fmt == "csv" else [])
    windowed = any("timeline" in r for r in rows)
    unjudged = any(r.get("reason") for r in rows)
    spec = ".6f" if fmt == "csv" else ".4f"  # csv: the score files' precision
    table = []
    for row in rows:
        if row["error"] is not None:
            cells = [row["path"], "", ""] + ([""] * 2 if calibrated else [])
            cells.append(f"error: {row['error']}")
        else:
            cells = [
                row["path"],
                _number(row["duration"], ".2f"),
                _number(row["score"], spec),
            ]
            if calibrated:
                cells += [_number(row["llr"], spec), _number(row["p_bonafide"], spec)]
            reason = row.get("reason")
            # The reason of a file without speech: a cell of its own in CSV.
            cells.append(
                f"{row['label']} ({reason})"
                if reason and fmt != "csv"
                else row["label"]
            )
        if fmt == "csv":
            cells.append(rule.text if row["error"] is None else "")
            if unjudged:
                cells.append(row.get("reason") or "")
        if windowed:
            cells.append(_window_cells(row.get("timeline", {}).get("scores", []), spec))
        table.append(cells)
    if fmt == "csv" and unjudged:
        columns.append("no speech reason")
    if windowed:
        columns.append("window scores")
    if fmt == "csv":
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        names = [re.sub(r"\W+", "_", c.lower()).strip("_") for c in columns]
        names[names.index("label")] = "label_or_error"
        writer.writerow(names)
        writer.writerows(table)
        return out.getvalue(), summary
    widths = [max(len(str(c)) for c in col) for col in zip(columns, *table)]
    lines = [
        "  ".join(str(c).ljust(w) for c, w in zip(cells, widths)).rstrip()
        for cells in [columns, *table]
    ]
    lines.append(f"Decision rule: {rule.text}")
    return "\n".join(lines), summary


def _plot_name(path, taken):
    """A PNG file name for a recording, unique among ``taken``."""
    stem = re.sub(r"[^\w.-]+", "_", os.path.splitext(os.path.basename(path))[0])
    name, n = f"{stem}.png", 1
    while name in taken:
        n += 1
        name = f"{stem}_{n}.png"
    taken.add(name)
    return name


def _parser():
    """The argument parser of the scoring command."""
    from dpda.data.audio import NO_SPEECH_DBFS  # the no-speech rule's level

    parser = argparse.ArgumentParser(
        prog="dpda-detect",
        description="Score recordings with a speech deepfake detector "
        "(default: the AASIST-L shipped with dpda). 'dpda-detect serve' "
        "starts the web demo (dpda-detect serve --help).",
        epilog="Labels: bona fide or spoof (the verdicts); uncertain (a "
        "calibrated detector's LLR inside its uncertain band around the "
        "threshold: too little evidence for a verdict); uncalibrated (a "
        "detector without calibration, and no --threshold: the raw score, no "
        "verdict). Exit status: 0 when every file was scored, whatever its "
        "label (the labels are in the report and counted in the summary), 1 "
        "when some could not be (each reported on its own row with the "
        "reason), 2 on a usage error (one line saying what to do). A file "
        "without speech is "
        "labelled 'no speech' with its reason (digital silence, or a level "
        f"below {NO_SPEECH_DBFS:g} dBFS RMS in every window), counted apart in "
        "the summary and neither bona fide nor spoof: it leaves the exit "
        "status as it is.",
    )
    parser.add_argument(
        "inputs",
        nargs="+",
        metavar="AUDIO_OR_FOLDER",
        help="audio files, folders, glob patterns or .txt lists",
    )
    _detector_options(parser)
    parser.add_argument(
        "--threshold",
        type=float,
        metavar="T",
        help="label every file on its raw score: bona fide when score > T, "
        "spoof otherwise, calibrated or not (default: the detector's rule: "
        "the Bayes decision on calibrated LLRs, with its uncertain band; no "
        "label for an uncalibrated detector)",
    )
    parser.add_argument(
        "--windows",
        type=float,
        metavar="SECONDS",
        help="score overlapping windows of this length over whole files, with "
        "a hop of half a window; files are streamed, so any length fits in "
        "memory (default: each file's first window, as the detector was "
        "evaluated; short files tiled). Windows without speech (digital "
        f"silence, or an RMS level below {NO_SPEECH_DBFS:g} dBFS) do not count",
    )
    parser.add_argument(
        "--format", choices=FORMATS, default="table", help="(default: %(default)s)"
    )
    parser.add_argument(
        "--output", metavar="FILE", help="write the report here (atomically)"
    )
    parser.add_argument(
        "--plots",
        metavar="DIR",
        help="one timeline PNG per file (windows of --windows, default 4 s)",
    )
    _speed_options(parser)
    return parser


def _speed_options(parser):
    """Options of how fast the files are scored: batches, decoding
    processes, the progress bar, the opt-in precisions."""
    parser.add_argument(
        "--precision",
        choices=("fp32", "bf16", "int8"),
        default="fp32",
        help="opt-in faster scoring that changes the scores: bf16 (CPUs with "
        "native bfloat16), int8 (CPU; Linear layers, pays for SSL detectors); "
        "default: %(default)s (see docs/detect.md)",
    )
    parser.add_argument(
        "--batch-size",
        type=int,
        default=8,
        help="windows per forward pass: files, without --windows (default: "
        "%(default)s)",
    )
    parser.add_argument(
        "--num-workers",
        type=int,
        default=min(2, os.cpu_count() or 1),
        help="processes that decode the files while the detector scores "
        "(default: %(default)s; 0: decode in the scoring process)",
    )
    progress = parser.add_mutually_exclusive_group()
    progress.add_argument(
        "--progress",
        action="store_true",
        help="show the progress bar, with the time left, even when stderr is "
        "not a terminal (default: only on a terminal)",
    )
    progress.add_argument("--no-progress", action="store_true", help="no progress bar")


def _detector_options(parser):
    """Options choosing and placing the detector."""
    parser.add_argument(
        "--detector",
        metavar="FOLDER_OR_HUB_ID",
        help="an exported or imported detector folder, or a hub id",
    )
    parser.add_argument("--revision", metavar="SHA", help="hub commit to load")
    parser.add_argument(
        "--trust-remote-code",
        action="store_true",
        help="load a hub detector at any revision (its hyperparams.yaml runs code)",
    )
    parser.add_argument("--device", help="e.g. cuda:0 (default: cpu)")


def _serve_parser():
    """The argument parser of ``dpda-detect serve``."""
    parser = argparse.ArgumentParser(
        prog="dpda-detect serve",
        description="Start the web demo (needs the demo extra: pip install -e '.[demo]').",
        epilog="Exit status: 0 when stopped (Ctrl+C, SIGTERM); 2 on a usage "
        "error (a busy, privileged or out-of-range port, a host that is not "
        "this machine's, a missing or incomplete detector folder, Gradio not "
        "installed), reported on one line before the model is loaded.",
    )
    _detector_options(parser)
    parser.add_argument(
        "--host",
        default="127.0.0.1",
        help="interface to listen on (default: %(default)s, this machine only; "
        "0.0.0.0 serves the network)",
    )
    parser.add_argument(
        "--port",
        type=int,
        default=None,
        help="port to listen on (default: 7860, or the next free one up to "
        "7959; 0: any free port)",
    )
    parser.add_argument(
        "--max-seconds",
        type=float,
        default=600.0,
        help="longest recording accepted (default: %(default)s)",
    )
    parser.add_argument(
        "--max-megabytes",
        type=float,
        default=50.0,
        help="largest upload accepted (default: %(default)s)",
    )
    return parser


def load_detector(args):
    """The detector the options name (the packaged default without one).

    A local folder that is missing or lacks a file is named as the user
    gave it (``from_hparams`` checks it before fetching anything).
    """
    from dpda.inference import DeepfakeDetector

    kwargs = {}
    if args.device:
        kwargs["run_opts"] = {"device": args.device}
    return DeepfakeDetector.from_hparams(
        args.detector,
        revision=args.revision,
        trust_remote_code=args.trust_remote_code,
        **kwargs,
    )


def _serve(argv):
    """Run ``dpda-detect serve``: the address and the detector's source are
    checked before the model is loaded; return the exit status."""
    from dpda.inference import check_detector_folder, check_trusted_source

    parser = _serve_parser()
    args = parser.parse_args(argv)
    try:
        port = check_port(args.host, args.port)
        check_detector_folder(args.detector)
        if args.detector is not None:
            check_trusted_source(args.detector, args.revision, args.trust_remote_code)
        from dpda.demo import serve

        serve(
            args.detector,
            revision=args.revision,
            host=args.host,
            port=port,
            max_seconds=args.max_seconds,
            max_megabytes=args.max_megabytes,
            device=args.device,
            trust_remote_code=args.trust_remote_code,
        )
    except ImportError as error:  # Gradio, an optional extra, is missing
        usage_error(parser.prog, str(error))
    except (OSError, ValueError) as error:  # the address, the detector
        usage_error(parser.prog, str(error))
    return 0


def main(argv=None):
    """Run ``dpda-detect``; return the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["serve"]:
        return _serve(argv[1:])
    parser = _parser()
    args = parser.parse_args(argv)
    if args.batch_size < 1:
        parser.error("--batch-size must be at least 1")
    if args.num_workers < 0:
        parser.error("--num-workers must be 0 or more")
    if args.windows is not None and args.windows <= 0:
        parser.error("--windows must be a positive number of seconds")
    if args.threshold is not None and not math.isfinite(args.threshold):
        parser.error("--threshold must be a finite number")
    paths = expand_inputs(args.inputs)
    if not paths:
        parser.error("no audio file found in the inputs")
    try:
        detector = load_detector(args).use_precision(args.precision)
    except (OSError, ValueError) as error:
        usage_error(parser.prog, f"cannot load the detector: {error}")
    rule = detector.decision_rule(threshold=args.threshold)
    if args.plots and rule.threshold is None:  # before any file is scored
        usage_error(
            parser.prog,
            "--plots draws the decision threshold, and this detector is not "
            "calibrated: pass --threshold T as well",
        )

    rows = detector.classify_files(
        paths,
        batch_size=args.batch_size,
        num_workers=args.num_workers,
        window_seconds=args.windows or (4.0 if args.plots else None),
        progress=_show_progress(args),
        threshold=args.threshold,
    )
    name = args.detector or "default AASIST-L (clovaai, ASVspoof 2019 LA)"
    text, summary = format_rows(rows, args.format, name, rule)
    if args.output:
        from dpda.files import open_atomic

        with open_atomic(args.output) as fout:
            fout.write(text if text.endswith("\n") else text + "\n")
        print(summary, file=sys.stderr)
        if args.format != "table":
            print(f"Decision rule: {rule.text}", file=sys.stderr)
        print(f"Report written to {args.output}", file=sys.stderr)
    elif args.format == "table":
        print(text)
        print(summary)
    else:
        sys.stdout.write(text)
        print(summary, file=sys.stderr)
        print(f"Decision rule: {rule.text}", file=sys.stderr)
    if args.plots:
        from dpda.plots import plot_timeline

        os.makedirs(args.plots, exist_ok=True)
        taken = set()
        for row in rows:
            if row["error"] is None:
                plot_timeline(
                    row["timeline"],
                    os.path.join(args.plots, _plot_name(row["path"], taken)),
                    title=os.path.basename(row["path"]),
                )
        print(f"Timelines written to {args.plots}", file=sys.stderr)
    return 0 if all(r["error"] is None for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
