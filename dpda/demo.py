"""Web demo: score a recording in the browser, on this machine.

:func:`serve` loads a :class:`dpda.inference.DeepfakeDetector` and serves a
Gradio page (:func:`build_demo`): upload a file or record with the
microphone, press *Score*, and read the verdict with the score over time
(:meth:`~dpda.inference.DeepfakeDetector.score_timeline` drawn by
:func:`dpda.plots.plot_timeline`). The same scoring is an HTTP API
(``api_name="score"``) that ``gradio_client`` can call.

Gradio is an optional dependency (``pip install -e ".[demo]"``), imported
only when a demo is built: ``import dpda.demo`` works without it.

Privacy: the server listens on 127.0.0.1 unless told otherwise, makes no
share link, sends no Gradio analytics and keeps no run history in the
browser (:func:`launch_options`). Each uploaded file is deleted as
soon as it is scored, the timeline is drawn in a temporary folder that is
removed, and Gradio's own cache (the plot it serves, anything left by an
interrupted request) is swept by ``delete_cache`` and emptied when the server
stops.

Authors
 * dpda contributors 2026
"""

import os
import signal
import tempfile
import threading

import numpy as np

from dpda.data.audio import AudioError
from dpda.decision import UNCALIBRATED, UNCERTAIN
from dpda.plots import plot_timeline

#: How to install the optional dependency of the demo.
INSTALL_HINT = 'pip install -e ".[demo]"'

#: Gradio's ``delete_cache``: every minute, delete the files this app cached
#: (uploads left by an interrupted request, the served plots) once older than
#: five minutes; everything cached goes when the server stops.
DELETE_CACHE = (60, 300)

#: What :func:`serve` calls the detector shipped in the package.
DEFAULT_DETECTOR_NAME = (
    "AASIST-L shipped with dpda (clovaai, MIT licence; trained on ASVspoof "
    "2019 LA only, so expect weak results on real-world audio)"
)

_BYTES_PER_MB = 1024**2  # Gradio's "mb" in max_file_size


class LimitError(ValueError):
    """A recording that the demo refuses to score (too long or too large).

    Arguments
    ---------
    message : str
        What is wrong and what the limit is, for the user.

    Example
    -------
    >>> str(LimitError("too long"))
    'too long'
    """


def _gradio():
    """Import Gradio, or explain how to install it."""
    try:
        import gradio
    except ImportError as err:
        raise ImportError(
            f"The web demo needs Gradio, an optional dependency: {INSTALL_HINT}"
        ) from err
    return gradio


def describe_detector(detector):
    """A short description of a detector, for a verdict.

    Arguments
    ---------
    detector : dpda.inference.DeepfakeDetector
        The detector.

    Returns
    -------
    str
        The model class, its sample rate and whether it is calibrated.

    Example
    -------
    >>> from types import SimpleNamespace
    >>> from dpda.models.raw_cnn import RawCNN
    >>> detector = SimpleNamespace(
    ...     mods=SimpleNamespace(model=RawCNN(channels=[8], kernel_size=33)),
    ...     hparams=SimpleNamespace(sample_rate=16000),
    ...     calibration=None,
    ... )
    >>> describe_detector(detector)
    'RawCNN at 16000 Hz, uncalibrated'
    """
    model = type(detector.mods.model).__name__
    calibrated = "calibrated" if detector.calibration is not None else "uncalibrated"
    return f"{model} at {int(detector.hparams.sample_rate)} Hz, {calibrated}"


def format_verdict(timeline, detector_name):
    """The verdict of a scored recording, as Markdown.

    Arguments
    ---------
    timeline : dict
        The output of
        :meth:`dpda.inference.DeepfakeDetector.score_timeline`.
    detector_name : str
        Which detector scored it.

    Returns
    -------
    str
        The label and the rule that gave it (the decision's ``rule_text``,
        see :class:`dpda.decision.DecisionRule`); for a calibrated detector
        the probability of bona fide (at the cost model's prior) with the
        threshold it is compared with, and the log-likelihood ratio, and for
        the label ``uncertain`` why there is no verdict; for an uncalibrated
        detector a statement that it gives no verdict, with the raw score;
        for a recording without speech the reason; the duration, the
        windows and the detector.

    Example
    -------
    >>> from dpda.calibration import Calibration
    >>> from dpda.decision import DecisionRule
    >>> timeline = {"duration": 6.0, "scores": [-1.0, -2.0], "score": -1.5,
    ...     "threshold": None, "decision": DecisionRule().decide(-1.5)}
    >>> print(format_verdict(timeline, "RawCNN"))
    ### Verdict: **uncalibrated**
    <BLANKLINE>
    - Uncalibrated detector: no verdict and no probability can be given; its raw score has no stated threshold.
    - Decision rule: no label: the detector is not calibrated, so its raw scores (higher = more bona fide) have no stated threshold; pass a threshold on raw scores to get bona fide / spoof labels
    - Score: -1.5000 (mean bona fide logit of 2 windows; higher = more bona fide)
    - Duration: 6.0 s
    - Detector: RawCNN
    >>> rule = DecisionRule(None, Calibration(scale=1.0, offset=0.0, prior=0.655))
    >>> timeline.update(score=-0.92, decision=rule.decide(-0.92))
    >>> print(format_verdict(timeline, "RawCNN").splitlines()[2])
    - P(bona fide): 0.8833 at a prior of 0.95, against the threshold 0.9091; log-likelihood ratio -0.920 (calibrated)
    >>> rule.uncertain_band = 1.0
    >>> timeline.update(score=-0.5, decision=rule.decide(-0.5))
    >>> lines = format_verdict(timeline, "RawCNN").splitlines()
    >>> print(lines[0]); print(lines[3])
    ### Verdict: **uncertain**
    - Uncertain: the log-likelihood ratio lies within 1 of the decision threshold (from -1.642 to 0.358), too little evidence for bona fide or spoof.
    """
    decision = timeline["decision"]
    label, score = decision["label"], timeline["score"]
    lines = [f"### Verdict: **{label}**", ""]
    if score is None:  # no speech: nothing was scored
        lines.append(
            f"- No speech ({decision.get('reason')}): nothing was scored, so "
            "there is no verdict."
        )
    elif decision["calibrated"]:
        against = decision["p_threshold"]
        lines.append(
            f"- P(bona fide): {decision['p_bonafide']:.4f} at a prior of "
            f"{decision['prior']:.2f}"
            + (f", against the threshold {against:.4f}" if against else "")
            + f"; log-likelihood ratio {decision['llr']:.3f} (calibrated)"
        )
    else:
        lines.append(
            "- Uncalibrated detector: no verdict and no probability can be "
            "given; its raw score has no stated threshold."
            if label == UNCALIBRATED
            else "- Uncalibrated detector: no probability can be given. "
            f"Raw score {score:.4f} against the threshold "
            f"{decision['threshold']:.4f} (bona fide when the score is above it)."
        )
    if label == UNCERTAIN:
        low, high = decision["llr_band"]
        lines.append(
            f"- Uncertain: the log-likelihood ratio lies within "
            f"{(high - low) / 2:g} of the decision threshold (from {low:.3f} to "
            f"{high:.3f}), too little evidence for bona fide or spoof."
        )
    lines.append(f"- Decision rule: {decision['rule_text']}")
    if score is not None:
        windows = sum(v is not None for v in timeline["scores"])
        lines.append(
            f"- Score: {float(score):.4f} (mean bona fide logit of {windows} "
            f"window{'s' if windows != 1 else ''}; higher = more bona fide)"
        )
    lines += [
        f"- Duration: {float(timeline['duration']):.1f} s",
        f"- Detector: {detector_name}",
    ]
    return "\n".join(lines)


def timeline_image(timeline, title=None):
    """Draw a timeline and return it as an RGB array, keeping no file.

    Arguments
    ---------
    timeline : dict
        The output of
        :meth:`dpda.inference.DeepfakeDetector.score_timeline`.
    title : str, optional
        Figure title (see :func:`dpda.plots.plot_timeline`).

    Returns
    -------
    numpy.ndarray
        ``[height, width, 3]`` ``uint8`` image.

    Example
    -------
    >>> timeline = {"starts": [0.0, 2.0], "ends": [4.0, 6.0], "scores": [1.0, -2.0],
    ...     "threshold": 0.0, "duration": 6.0,
    ...     "decision": {"label": "spoof", "score": -0.5}}
    >>> image = timeline_image(timeline)
    >>> image.ndim, image.shape[2], image.dtype
    (3, 3, dtype('uint8'))
    """
    from PIL import Image

    with tempfile.TemporaryDirectory(prefix="dpda_demo_") as folder:
        path = plot_timeline(timeline, os.path.join(folder, "timeline.png"), title)
        with Image.open(path) as image:
            return np.asarray(image.convert("RGB"))


def score_recording(
    detector,
    path,
    max_seconds=600.0,
    max_megabytes=50,
    window_seconds=4.0,
    detector_name=None,
):
    """Check the limits, score a recording and render its verdict and timeline.

    Arguments
    ---------
    detector : dpda.inference.DeepfakeDetector
        The detector.
    path : str
        The audio file (any format ``detector.load_audio`` reads).
    max_seconds : float
        Longest recording scored.
    max_megabytes : float
        Largest file scored, in MB of 2**20 bytes (Gradio's ``mb``).
    window_seconds : float
        Window of the timeline.
    detector_name : str, optional
        Shown in the verdict; default :func:`describe_detector`.

    Returns
    -------
    tuple
        ``(verdict, image, timeline)``: the Markdown of :func:`format_verdict`,
        the :func:`timeline_image` array (``None`` for an uncalibrated
        detector, which has no decision threshold to draw) and the timeline
        itself.

    Raises
    ------
    LimitError
        The file is larger than ``max_megabytes`` or longer than
        ``max_seconds`` (nothing is scored).
    dpda.data.audio.AudioError
        The file cannot be read as audio.

    Example
    -------
    >>> import soundfile as sf
    >>> from dpda.inference import DeepfakeDetector
    >>> from dpda.models.raw_cnn import RawCNN
    >>> hparams = {"sample_rate": 16000, "threshold": 0.0, "window_samples": 4000,
    ...            "calibration": {"scale": 1.0, "offset": 0.0, "prior": 0.5}}
    >>> detector = DeepfakeDetector(
    ...     modules={"model": RawCNN(channels=[8, 8], kernel_size=33)},
    ...     hparams=hparams,
    ... )
    >>> path = os.path.join(tempfile.mkdtemp(), "noise.wav")
    >>> sf.write(path, 0.1 * np.random.default_rng(0).standard_normal(32000), 16000)
    >>> verdict, image, timeline = score_recording(detector, path, window_seconds=1.0)
    >>> verdict.startswith("### Verdict"), len(timeline["scores"]), image.shape[2]
    (True, 3, 3)
    >>> score_recording(detector, path, max_seconds=1.5)
    Traceback (most recent call last):
    ...
    dpda.demo.LimitError: The recording lasts 2.0 s; this demo scores recordings of at most 1.5 s. Cut it shorter (e.g. ffmpeg -i in.wav -t 1.5 out.wav) and try again.
    """
    size = os.path.getsize(path)
    if size > max_megabytes * _BYTES_PER_MB:
        raise LimitError(
            f"The file is {size / _BYTES_PER_MB:.1f} MB; this demo accepts "
            f"files of at most {max_megabytes:g} MB."
        )
    duration = _header_duration(path)  # refuse long files before decoding them
    if duration is None or duration <= max_seconds:
        signal = detector.load_audio(path)
        duration = signal.shape[0] / int(detector.hparams.sample_rate)
    if duration > max_seconds:
        raise LimitError(
            f"The recording lasts {duration:.1f} s; this demo scores recordings "
            f"of at most {max_seconds:g} s. Cut it shorter (e.g. ffmpeg -i in.wav "
            f"-t {max_seconds:g} out.wav) and try again."
        )
    timeline = detector.score_timeline(signal, window_seconds=window_seconds)
    name = detector_name or describe_detector(detector)
    verdict = format_verdict(timeline, name)
    # The plot draws the decision threshold: an uncalibrated detector has none.
    image = None if timeline["threshold"] is None else timeline_image(timeline)
    return verdict, image, timeline


def _header_duration(path):
    """The duration a file's header declares, or None when unknown."""
    import soundfile as sf

    try:
        info = sf.info(path)
    except Exception:  # not for soundfile (e.g. M4A) or broken: decode decides
        return None
    if info.samplerate <= 0 or not 0 < info.frames < 2**62:
        return None
    return info.frames / info.samplerate


def _forget_upload(path, cache_root):
    """Delete an uploaded file, and its folder in Gradio's cache once empty."""
    if not path:
        return
    try:
        os.remove(path)
    except FileNotFoundError:
        pass
    # Gradio keeps each upload in a folder of its own, named after a hash of
    # the content: remove it too, never the cache itself.
    folder = os.path.realpath(os.path.dirname(path))
    root = os.path.realpath(cache_root)
    if os.path.dirname(folder) == root:
        try:
            os.rmdir(folder)
        except OSError:  # not empty
            pass


def launch_options(max_megabytes=50):
    """The private settings of ``Blocks.launch`` used by :func:`serve`.

    Arguments
    ---------
    max_megabytes : float
        Largest upload Gradio accepts, in MB of 2**20 bytes.

    Returns
    -------
    dict
        No share link, no run history kept in the browser, the upload limit,
        and no Python tracebacks shown to the page.

    Example
    -------
    >>> launch_options(2)
    {'share': False, 'run_history': False, 'max_file_size': 2097152, 'show_error': False}
    """
    return {
        "share": False,
        "run_history": False,
        "max_file_size": int(max_megabytes * _BYTES_PER_MB),
        "show_error": False,
    }


def build_demo(
    detector,
    max_seconds=600.0,
    max_megabytes=50,
    window_seconds=4.0,
    detector_name=None,
):
    """The Gradio app: upload or record, score, read the verdict and timeline.

    Arguments
    ---------
    detector : dpda.inference.DeepfakeDetector
        The detector.
    max_seconds : float
        Longer recordings are refused with a message.
    max_megabytes : float
        Larger files are refused with a message (also launch with
        :func:`launch_options`, as :func:`serve` does, so that Gradio refuses
        them before the upload completes).
    window_seconds : float
        Window of the timeline (hop: half of it).
    detector_name : str, optional
        Which detector, shown on the page and in each verdict; default
        :func:`describe_detector`.

    Returns
    -------
    gradio.Blocks
        The app; its scoring function is the API endpoint ``/score`` (input:
        the audio file; outputs: the verdict Markdown and the timeline image).

    Raises
    ------
    ImportError
        Gradio is not installed (``pip install -e ".[demo]"``).
    """
    gr = _gradio()
    name = detector_name or describe_detector(detector)
    score = _upload_scorer(
        gr, detector, max_seconds, max_megabytes, window_seconds, name
    )
    limits = (
        f"Recordings up to {max_seconds:g} s and {max_megabytes:g} MB, any "
        "common format (WAV, FLAC, MP3, Ogg, Opus, M4A, WebM)."
    )
    with gr.Blocks(
        title="dpda: speech deepfake detection",
        analytics_enabled=False,
        delete_cache=DELETE_CACHE,
    ) as demo:
        gr.Markdown(
            "## Speech deepfake detection\n"
            f"Detector: {name}.\n\n"
            f"{limits} Scoring runs on the server of this page (by default "
            "your own computer) and nothing is sent elsewhere; each upload is "
            "deleted as soon as it is scored. A detector can be wrong: treat "
            "the verdict as a hint, not as proof."
        )
        with gr.Row():
            with gr.Column():
                audio = gr.Audio(
                    sources=["upload", "microphone"],
                    type="filepath",
                    label="Recording",
                )
                button = gr.Button("Score", variant="primary")
            with gr.Column():
                verdict = gr.Markdown(
                    "Upload or record a recording, then press **Score**.",
                    label="Verdict",
                )
        image = gr.Image(
            label="Score over time (shaded: windows scored as spoof)",
            type="numpy",
            format="png",
            interactive=False,
        )
        button.click(score, inputs=audio, outputs=[verdict, image], api_name="score")
    return demo


def _upload_scorer(gr, detector, max_seconds, max_megabytes, window_seconds, name):
    """The demo's scoring function (see :func:`build_demo`): an upload's
    verdict and timeline, or a ``gr.Error`` saying why it was not scored."""

    def score(path):
        """Score one upload, always deleting it."""
        if not path:
            raise gr.Error(
                "Upload a recording or record one with the microphone first.",
                title="No audio",
                print_exception=False,
            )
        try:
            verdict, image, _ = score_recording(
                detector,
                path,
                max_seconds=max_seconds,
                max_megabytes=max_megabytes,
                window_seconds=window_seconds,
                detector_name=name,
            )
        except LimitError as err:
            raise gr.Error(
                str(err), title="Not scored", print_exception=False
            ) from None
        except AudioError as err:
            # The message names the file, not where Gradio cached it.
            shown = os.path.basename(err.path)
            raise gr.Error(
                f"Cannot read {shown}: {err.problem.replace(err.path, shown)}",
                title="Unreadable audio",
                print_exception=False,
            ) from None
        finally:
            _forget_upload(path, gr.utils.get_upload_folder())
        return verdict, image

    return score


def serve(
    source=None,
    revision=None,
    host="127.0.0.1",
    port=None,
    max_seconds=600.0,
    max_megabytes=50,
    device=None,
    trust_remote_code=False,
):
    """Load a detector and serve the demo until interrupted (Ctrl+C, SIGTERM).

    Arguments
    ---------
    source : str, optional
        The detector (see
        :meth:`dpda.inference.DeepfakeDetector.from_hparams`); default the
        AASIST-L shipped in the package.
    revision : str, optional
        Hub revision of ``source`` (a full commit hash for a remote source,
        unless ``trust_remote_code``).
    host : str
        Address to listen on; the default serves this machine only. Use
        ``0.0.0.0`` to serve the network, knowingly.
    port : int, optional
        Port; default Gradio's (7860, or the next free one).
    max_seconds : float
        Longest recording scored.
    max_megabytes : float
        Largest upload accepted.
    device : str, optional
        Torch device, e.g. ``cuda:0``; default SpeechBrain's (CPU).
    trust_remote_code : bool
        Load a remote source whatever its revision (its hyperparams can run
        code).

    Raises
    ------
    ImportError
        Gradio is not installed (``pip install -e ".[demo]"``).
    """
    _gradio()  # fail before loading a model
    from dpda.inference import DeepfakeDetector

    kwargs = {"revision": revision, "trust_remote_code": trust_remote_code}
    if device is not None:
        kwargs["run_opts"] = {"device": device}
    detector = DeepfakeDetector.from_hparams(source, **kwargs)
    name = DEFAULT_DETECTOR_NAME if source is None else str(source)
    if revision is not None:
        name += f" @ {revision}"
    demo = build_demo(
        detector,
        max_seconds=max_seconds,
        max_megabytes=max_megabytes,
        detector_name=name,
    )
    print(f"dpda demo: {name}")
    # launch() prints the local URL and blocks until interrupted; Gradio then
    # empties its cache. SIGTERM (kill, a service manager) ends it the same way.
    previous = None
    if threading.current_thread() is threading.main_thread():
        previous = signal.signal(signal.SIGTERM, _interrupt)
    try:
        demo.launch(server_name=host, server_port=port, **launch_options(max_megabytes))
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def _interrupt(signum, frame):
    """Turn a termination signal into Ctrl+C, which Gradio shuts down on."""
    raise KeyboardInterrupt
