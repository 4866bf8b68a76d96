"""One-line inference with trained detectors.

:class:`DeepfakeDetector` is a SpeechBrain ``Pretrained`` interface::

    detector = DeepfakeDetector.from_hparams(source="path/or/hub-id", savedir="tmp")
    detector.classify_file("speech.wav")  # {"score", "label", "rule_text", ...}
    detector.score_files(["a.wav", "b.flac"])  # bona fide logits
    detector.classify_files(paths)  # a row per file, unreadable ones reported

Waveforms are scored by :meth:`DeepfakeDetector.score_signals`, files by
``score_files``, ``classify_files`` (``dpda-detect``) and ``score_timeline``,
prepared data sets by ``score_dataset`` (``evaluate.py``). Files are streamed:
DataLoader workers decode them a block at a time
(:func:`dpda.data.audio.stream_checked_audio`) and cut their windows
(:func:`dpda.streaming.stream_windows`) while the model scores batches of windows, and only
per-window results are kept, so memory does not grow with a recording's
length. The labelling calls (``classify_files``, ``score_timeline``) set aside
windows without speech (:func:`dpda.data.audio.no_speech_reasons`: digital
silence, or an RMS level below -60 dBFS): a recording without any gets the
label :data:`dpda.decision.NO_SPEECH` and its reason instead of a verdict.

With no source, the detector shipped in the package is loaded
(:data:`DEFAULT_DETECTOR`: AASIST-L, released by clovaai under the MIT
licence, trained on ASVspoof 2019 LA), with no network access.

Scores are the bona fide logit, as in the training-time evaluation: higher
means more bona fide. By default a file is scored on its first
``window_samples`` samples (short files tiled by repetition), exactly as the
recipes evaluate; ``long_audio: windows`` averages over the whole file.
A hub-ready folder for it is written by :func:`dpda.export.export_detector`.

Safety: loading a ``hyperparams.yaml`` runs Python, since HyperPyYAML tags
such as ``!new:`` and ``!apply:`` call any importable object. For that reason
:meth:`DeepfakeDetector.from_hparams` loads a remote source only when its
revision is pinned to a full commit hash (the one you reviewed) or when
``trust_remote_code=True``; local folders load as they are. Weights are read
with ``torch.load(weights_only=True)`` whatever the torch version, so a
checkpoint cannot run code.

Authors
 * dpda contributors 2026
"""

import dataclasses
import os
import re

import ruamel.yaml
import torch
from speechbrain.dataio.preprocess import AudioNormalizer
from speechbrain.inference.interfaces import Pretrained
from speechbrain.utils.data_utils import split_path
from speechbrain.utils.fetching import (
    FetchConfig,
    FetchFrom,
    FetchSource,
    LocalStrategy,
    fetch,
)

from dpda.calibration import Calibration, posterior_bonafide
from dpda.data.audio import (
    AudioError,
    no_speech_reasons,
    read_checked_audio,
)
from dpda.data.pipelines import crop_or_tile
from dpda.decision import (
    NO_SPEECH,
    DecisionRule,
    decision_fields,
    no_speech_decision,
)
from dpda.metrics import ASVSPOOF5_COST_MODEL
from dpda.precision import autocast_dtype, check_precision, quantize_linear_int8
from dpda.scores import score_batch, score_dataset
from dpda.streaming import (
    ProgressBar,
    WindowChunks,
    collate_as_list,
    split_windows,
)

LONG_AUDIO_MODES = ("first", "windows")


#: The detector shipped in the package: AASIST-L of clovaai/aasist (MIT
#: licence, trained on ASVspoof 2019 LA), see its README.md.
DEFAULT_DETECTOR = os.path.join(os.path.dirname(__file__), "pretrained", "aasist_l")

_COMMIT_HASH = re.compile(r"[0-9a-f]{40}")


def check_trusted_source(source, revision=None, trust_remote_code=False):
    """Refuse to load a remote ``hyperparams.yaml`` nobody vouched for.

    A local folder is the user's own files and always passes. A remote source
    (hub id or URL) passes with ``trust_remote_code=True``, or, for a hub id,
    with a ``revision`` that pins a full 40-hex commit hash: a branch or tag
    can be moved to new content after you reviewed it, a commit cannot.

    Arguments
    ---------
    source : str, pathlib.Path or speechbrain.utils.fetching.FetchSource
        Where the model comes from.
    revision : str, optional
        Hub revision that will be fetched.
    trust_remote_code : bool
        Whether the user trusts the source with running code.

    Raises
    ------
    FileNotFoundError
        If the source is a local path (absolute, ``./``, ``../``, ``~``, or
        with more than one ``/``: not an ``org/name`` hub id) that does not
        exist: whatever the revision or the trust, there is nothing to load.
    ValueError
        If the source is remote, not trusted and not pinned to a commit.

    Example
    -------
    >>> commit = "0123456789abcdef0123456789abcdef01234567"
    >>> check_trusted_source("some-org/detector", revision=commit)
    >>> try:
    ...     check_trusted_source("some-org/detector", revision="main")
    ... except ValueError:
    ...     print("refused")
    refused
    >>> check_trusted_source("/no/such/detector", trust_remote_code=True)
    Traceback (most recent call last):
    ...
    FileNotFoundError: detector folder not found: /no/such/detector
    """
    path = _local_folder(source)
    is_local = path is not None
    if not is_local:
        path = str(source[1] if isinstance(source, FetchSource) else source)
    if is_local or trust_remote_code:
        return
    is_hub_id = not path.startswith(("http:", "https:"))
    if is_hub_id and revision is not None and _COMMIT_HASH.fullmatch(str(revision)):
        return
    raise ValueError(
        f"Refusing to load {path!r}: its hyperparams.yaml is executed as Python "
        "(HyperPyYAML !new:/!apply: tags can run any code). Read it, then pass "
        "revision=<the full 40-character commit hash you reviewed>, or "
        "trust_remote_code=True if you trust the source."
    )


#: ``org/name``: a hub id (a local path has no other form with one ``/``).
_HUB_ID = re.compile(r"[\w.-]+/[\w.-]+")


def _local_folder(source):
    """The folder ``source`` names on this machine; ``None`` for a hub id or URL.

    Raises ``FileNotFoundError`` for a path that can only be local (absolute,
    ``./``, ``../``, ``~``, or a separator but not ``org/name``) and is not a
    folder, rather than letting it be fetched from a hub.
    """
    if isinstance(source, FetchSource):
        fetch_from, path = source
        path = str(path)
        local = fetch_from == FetchFrom.LOCAL
    else:
        path = str(source)
        local = not path.startswith(("http:", "https:")) and (
            os.path.isabs(path)
            or path.startswith(("./", "../", "~", "." + os.sep, ".." + os.sep))
            or (("/" in path or os.sep in path) and not _HUB_ID.fullmatch(path))
        )
    if os.path.isdir(path):
        return path
    if not local:
        return None
    if os.path.isfile(path):
        raise FileNotFoundError(
            f"{path} is a file, not a detector folder (give the folder that "
            "holds hyperparams.yaml and model.ckpt)"
        )
    hint = ""
    if path.startswith("~") and os.path.isdir(os.path.expanduser(path)):
        hint = f" ('~' is not expanded after '=': write {os.path.expanduser(path)})"
    raise FileNotFoundError(f"detector folder not found: {path}{hint}")


def check_detector_folder(source, hparams_file="hyperparams.yaml"):
    """Check that a local detector folder holds the files a detector needs.

    A detector folder (written by :func:`dpda.export.export_detector`, i.e.
    by ``train.py`` and ``import_checkpoint.py``) holds ``hyperparams.yaml``
    and, for each module its ``pretrainer`` loads, ``<name>.ckpt``
    (``model.ckpt``). Checked here, a missing file is named in the user's
    folder, before anything is fetched into a ``savedir`` copy. A hub id or
    URL passes (it is fetched later), as does ``None`` (the default detector).

    Arguments
    ---------
    source : str, pathlib.Path or None
        What ``DeepfakeDetector.from_hparams`` is given.
    hparams_file : str
        Name of the hyperparameters file in the folder.

    Raises
    ------
    FileNotFoundError
        Naming the folder: missing, or without one of its files.

    Example
    -------
    >>> check_detector_folder(DEFAULT_DETECTOR)
    >>> import tempfile
    >>> folder = tempfile.mkdtemp()
    >>> try:
    ...     check_detector_folder(folder)
    ... except FileNotFoundError as error:
    ...     print(str(error).replace(folder, "<folder>"))
    <folder> is not a detector folder: it has no hyperparams.yaml (a detector folder holds hyperparams.yaml and model.ckpt, as train.py and import_checkpoint.py export them)
    """
    folder = None if source is None else _local_folder(source)
    if folder is None:
        return
    needed = [hparams_file]
    path = os.path.join(folder, hparams_file)
    if os.path.isfile(path):
        # Round-trip parsing builds no object: safe before the real load.
        with open(path, encoding="utf-8") as fin:
            hparams = ruamel.yaml.YAML().load(fin) or {}
        pretrainer = hparams.get("pretrainer") or {}
        named = pretrainer.get("paths") or {}
        needed += [
            f"{k}.ckpt" for k in pretrainer.get("loadables") or {} if k not in named
        ]
    for name in needed:
        if not os.path.isfile(os.path.join(folder, name)):
            raise FileNotFoundError(
                f"{folder} is not a detector folder: it has no {name} (a detector "
                "folder holds hyperparams.yaml and model.ckpt, as train.py and "
                "import_checkpoint.py export them)"
            )


def load_weights_only(obj, path):
    """Load a state dict into ``obj`` strictly, refusing pickled code.

    The ``Pretrainer`` hook of exported detectors. SpeechBrain's default
    transfer hook relies on the torch default for ``weights_only`` (``True``
    only from torch 2.6) and loads non-strictly, so a checkpoint that does not
    match the model would leave layers randomly initialised with a warning;
    here both are errors.

    Arguments
    ---------
    obj : torch.nn.Module
        Module to load into.
    path : str or pathlib.Path
        A file written by ``torch.save(module.state_dict())``.

    Example
    -------
    >>> import tempfile, pathlib
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "model.ckpt"
    >>> source, target = torch.nn.Linear(3, 2), torch.nn.Linear(3, 2)
    >>> torch.save(source.state_dict(), path)
    >>> load_weights_only(target, path)
    >>> bool(torch.equal(source.weight, target.weight))
    True
    """
    state_dict = torch.load(path, map_location="cpu", weights_only=True)
    obj.load_state_dict(state_dict, strict=True)


def _as_mapping(overrides):
    """Overrides as a mutable mapping (YAML strings keep their tags)."""
    if not overrides:
        return {}
    if isinstance(overrides, str):
        return ruamel.yaml.YAML().load(overrides) or {}
    return dict(overrides)


def _read_input(path, sample_rate, savedir=None):
    """A file as a detector's input, ``[T]`` on the CPU (remote: fetched)."""
    path = str(path)
    if not os.path.exists(path):
        source, name = split_path(path)
        path = str(fetch(name, source=source, savedir=savedir))
    return read_checked_audio(
        path, sample_rate=sample_rate, resample=True, channel_policy="mean"
    )


def _problem(error, path):
    """What is wrong with a file, without its path (which fetching may have
    made absolute)."""
    if isinstance(error, AudioError):
        return error.problem
    return str(error).replace(f"{path}: ", "", 1)


class DeepfakeDetector(Pretrained):
    """Score files or waveforms with a trained speech deepfake detector.

    The score of an utterance is the model's bona fide logit (higher = more
    bona fide). Labels follow the detector's :class:`dpda.decision.DecisionRule`
    (:meth:`decision_rule`): the Bayes decision of ``cost_model`` when the
    detector is calibrated (:data:`dpda.decision.UNCERTAIN` inside its
    ``uncertain_band``), a threshold on raw scores when the caller passes
    one, and otherwise no verdict: :data:`dpda.decision.UNCALIBRATED`.

    Hyperparameters read from ``hyperparams.yaml``:

    * ``sample_rate``: files are resampled to it and mixed down to mono.
    * ``threshold``: a threshold on raw scores recorded at export time (e.g.
      the EER threshold on the development set). It gives no label by
      itself: an uncalibrated detector labels scores only with a threshold
      passed to :meth:`classify_file` (``threshold=``), e.g. this one.
    * ``window_samples``: the training-time evaluation crop length.
    * ``long_audio`` (optional, default ``first``): ``first`` scores the first
      ``window_samples`` samples, tiling shorter files by repetition,
      identical to the evaluation in the recipes. ``windows`` scores every
      window of ``window_samples`` samples with hop ``window_hop`` and
      averages the bona fide logits; when the windows do not reach the end
      of the file, one more window aligned with the end covers the tail, so
      every sample is scored and no window mixes tiled copies. Files no
      longer than one window are scored as in ``first``.
    * ``window_hop`` (optional, default ``window_samples``).
    * ``window_batch_size`` (optional, default 16): windows per forward pass
      when long files are split.
    * ``calibration`` (optional): ``{scale, offset, prior, fitted_on}``, the
      affine map from scores to log-likelihood ratios fitted on dev
      (:mod:`dpda.calibration`); ``null`` or absent: not calibrated.
    * ``cost_model`` (optional, default ASVspoof 5's ``p_spoof: 0.05,
      c_miss: 1, c_fa: 10``): the prior and costs of the Bayes decision on
      calibrated scores.
    * ``uncertain_band`` (optional, default ``null``: no band): half-width,
      in LLR units, of the band around the Bayes threshold whose scores are
      labelled :data:`dpda.decision.UNCERTAIN` (see :class:`dpda.decision.DecisionRule`).

    Arguments
    ---------
    *args, **kwargs
        Forwarded to ``speechbrain.inference.interfaces.Pretrained``;
        usually built with :meth:`from_hparams`.

    Example
    -------
    >>> from dpda.models.raw_cnn import RawCNN
    >>> hparams = {"sample_rate": 16000, "threshold": 0.0, "window_samples": 4000}
    >>> detector = DeepfakeDetector(
    ...     modules={"model": RawCNN(channels=[8, 8], kernel_size=33)},
    ...     hparams=hparams,
    ... )
    >>> scores = detector.score_batch(torch.randn(2, 6000), torch.tensor([1.0, 0.5]))
    >>> scores.shape
    torch.Size([2])
    """

    HPARAMS_NEEDED = ["sample_rate", "threshold", "window_samples"]
    MODULES_NEEDED = ["model"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        hparams = vars(self.hparams)
        self.long_audio = hparams.get("long_audio", "first")
        if self.long_audio not in LONG_AUDIO_MODES:
            raise ValueError(
                f"long_audio must be one of {LONG_AUDIO_MODES}, got {self.long_audio!r}"
            )
        self.window_samples = int(hparams["window_samples"])
        self.window_hop = int(hparams.get("window_hop") or self.window_samples)
        self.window_batch_size = int(hparams.get("window_batch_size", 16))
        if min(self.window_samples, self.window_hop, self.window_batch_size) < 1:
            raise ValueError(
                "window_samples, window_hop, window_batch_size must be >= 1"
            )
        self.calibration = Calibration.from_dict(hparams.get("calibration"))
        self.cost_model = {**ASVSPOOF5_COST_MODEL, **(hparams.get("cost_model") or {})}
        self.uncertain_band = hparams.get("uncertain_band")
        # Scores in float32 unless use_precision() says otherwise.
        self.precision = "fp32"
        self._float_model = None
        if "audio_normalizer" not in hparams:
            # Pretrained's default normaliser resamples to 16 kHz whatever the
            # model was trained on.
            self.audio_normalizer = AudioNormalizer(sample_rate=hparams["sample_rate"])

    @classmethod
    def from_hparams(
        cls,
        source=None,
        hparams_file="hyperparams.yaml",
        savedir=None,
        overrides=None,
        revision=None,
        trust_remote_code=False,
        fetch_config=None,
        local_strategy=LocalStrategy.SYMLINK,
        **kwargs,
    ):
        """Fetch a detector from a local folder or a hub, after a trust check.

        Arguments
        ---------
        source : str or pathlib.Path, optional
            A local folder (e.g. written by
            :func:`dpda.export.export_detector`), a hub id or a URL. Default:
            :data:`DEFAULT_DETECTOR`, the AASIST-L shipped in the package
            (released by clovaai under the MIT licence; trained on ASVspoof
            2019 LA only, so expect weak results on In-the-Wild-like audio).
        hparams_file : str
            Name of the hyperparameters file in ``source``.
        savedir : str or pathlib.Path, optional
            Where to collect the files. It also fills the ``savedir`` key of
            an exported ``hyperparams.yaml``, under which the model keeps
            what it downloads itself (e.g. an SSL front end's cache). Each
            file is linked or copied again from ``source`` on every load, so
            a folder used before for another detector never lends it its
            files.
        overrides : dict or str, optional
            Changes to ``hyperparams.yaml``, e.g. ``{"long_audio": "windows"}``.
        revision : str, optional
            Hub revision; a full commit hash is required for a remote source
            unless ``trust_remote_code`` is set.
        trust_remote_code : bool
            Load a remote source whatever its revision: its
            ``hyperparams.yaml`` can run any Python code.
        fetch_config : speechbrain.utils.fetching.FetchConfig, optional
            Fetching options; ``revision`` is merged into it.
        local_strategy : speechbrain.utils.fetching.LocalStrategy
            How files are made available in ``savedir``.
        **kwargs
            Forwarded to ``Pretrained.from_hparams`` (e.g. ``run_opts``).

        Returns
        -------
        DeepfakeDetector
            The loaded detector, in eval mode.
        """
        if source is None:
            source = DEFAULT_DETECTOR
        fetch_config = fetch_config or FetchConfig()
        if revision is not None:
            if fetch_config.revision not in (None, revision):
                raise ValueError("revision and fetch_config.revision disagree")
            fetch_config = dataclasses.replace(fetch_config, revision=revision)
        check_trusted_source(source, fetch_config.revision, trust_remote_code)
        check_detector_folder(source, hparams_file)  # names the user's folder
        if savedir is not None:
            # SpeechBrain keeps any file it finds in savedir, even one linked
            # or copied there from another detector: re-create every file
            # from the source named now (the hub's cache is still used).
            fetch_config = dataclasses.replace(fetch_config, overwrite=True)

        overrides = _as_mapping(overrides)
        if savedir is not None and "savedir" not in overrides:
            path = fetch(
                filename=hparams_file,
                source=source,
                savedir=savedir,
                local_strategy=local_strategy,
                fetch_config=fetch_config,
            )
            # Round-trip parsing builds no object: safe before the real load.
            with open(path, encoding="utf-8") as fin:
                if "savedir" in ruamel.yaml.YAML().load(fin):
                    overrides["savedir"] = str(savedir)
        return super().from_hparams(
            source,
            hparams_file=hparams_file,
            savedir=savedir,
            overrides=overrides,
            fetch_config=fetch_config,
            local_strategy=local_strategy,
            **kwargs,
        )

    def load_audio(self, path, savedir=None):
        """Read a file as the detector's input: mono, at ``sample_rate``.

        Local files go through :func:`dpda.data.audio.read_checked_audio`:
        every format soundfile reads (WAV, FLAC, Ogg, MP3, Opus) and, through
        PyAV, M4A/AAC and WebM; any rate (resampled) and channel count
        (averaged); a bad file raises :class:`dpda.data.audio.AudioError`
        naming it and the problem. Remote paths (URLs, hub files) are fetched
        by SpeechBrain first.

        Arguments
        ---------
        path : str
            Audio file, local or remote.
        savedir : str, optional
            Where remote files are fetched to.

        Returns
        -------
        torch.Tensor
            The waveform ``[T]`` on the detector's device.
        """
        return _read_input(path, int(self.hparams.sample_rate), savedir).to(self.device)

    def score_timeline(
        self, path_or_signal, window_seconds=4.0, hop_seconds=None, progress=False
    ):
        """Score overlapping windows over a whole recording.

        A file is streamed (:func:`dpda.data.audio.stream_checked_audio`):
        it is read, cut and scored a block at a time, so memory does not
        grow with its length. Windows with no speech
        (:func:`dpda.data.audio.no_speech_reasons`: digital silence, or an
        RMS level below -60 dBFS) are not scored and do not count in the
        verdict; when no window holds speech, the verdict is
        :data:`dpda.decision.NO_SPEECH` with its reason.

        Arguments
        ---------
        path_or_signal : str or torch.Tensor
            An audio file, or a mono waveform ``[T]`` at ``sample_rate``.
        window_seconds : float
            Window length (the model sees each window whole; short files are
            one window, tiled as in :meth:`score_file`).
        hop_seconds : float, optional
            Hop between windows; default half a window. The last window is
            aligned with the end of the file, so every sample is scored.
        progress : bool
            Show a progress bar with the time left, on stderr.

        Returns
        -------
        dict
            ``duration`` (s), ``starts`` and ``ends`` (s), ``scores`` (raw),
            ``no_speech`` (``None``, or why the window was not scored, its
            score then ``None``), and for a calibrated detector ``llrs`` and
            ``p_bonafide`` (at the cost model's prior), each one value per
            window; ``score``, the mean of the scored windows (``None``
            without speech), with its ``decision``
            (:meth:`DecisionRule.decide`, or the no-speech decision with its
            ``reason``); ``threshold``, the raw-score threshold of the
            decision.

        Raises
        ------
        dpda.data.audio.AudioError
            When the file cannot be read.

        Example
        -------
        >>> from dpda.models.raw_cnn import RawCNN
        >>> hparams = {"sample_rate": 16000, "threshold": 0.0, "window_samples": 4000}
        >>> detector = DeepfakeDetector(
        ...     modules={"model": RawCNN(channels=[8, 8], kernel_size=33)},
        ...     hparams=hparams,
        ... )
        >>> timeline = detector.score_timeline(torch.randn(40000), window_seconds=1.0)
        >>> timeline["starts"][:3], timeline["ends"][-1], len(timeline["scores"])
        ([0.0, 0.5, 1.0], 2.5, 4)
        >>> silent = detector.score_timeline(torch.zeros(40000), window_seconds=1.0)
        >>> silent["decision"]["label"], silent["decision"]["reason"], silent["score"]
        ('no speech', 'digital silence', None)
        """
        width, hop = self._timeline_cut(window_seconds, hop_seconds)
        (record,) = self._score_sources(
            [path_or_signal],
            batch_size=self.window_batch_size,
            cut=(width, hop, False),
            progress=progress,
        )
        if record["error"] is not None:
            raise record["error"]
        return self._timeline(record, width)

    def _timeline_cut(self, window_seconds, hop_seconds=None):
        """Window and hop in samples of :meth:`score_timeline`."""
        rate = int(self.hparams.sample_rate)
        width = max(1, int(round(window_seconds * rate)))
        if hop_seconds is None:
            return width, max(1, width // 2)
        return width, max(1, int(round(hop_seconds * rate)))

    def _timeline(self, record, width, rule=None):
        """The :meth:`score_timeline` dict of a :meth:`_score_sources` record,
        labelled by ``rule`` (default :meth:`decision_rule`)."""
        rate, length = int(self.hparams.sample_rate), record["length"]
        scores = record["scores"]
        timeline = {
            "duration": length / rate,
            "starts": [s / rate for s in record["starts"]],
            "ends": [min(s + width, length) / rate for s in record["starts"]],
            "scores": scores,
            "no_speech": record["reasons"],
        }
        rule = self.decision_rule() if rule is None else rule
        if rule.calibration is not None:
            llrs = [
                None if v is None else float(rule.calibration.llr(v)) for v in scores
            ]
            timeline["llrs"] = llrs
            timeline["p_bonafide"] = [
                None if v is None else posterior_bonafide(v, rule.prior) for v in llrs
            ]
        decision = self._verdict(record, rule)
        timeline.update(
            score=decision["score"], decision=decision, threshold=decision["threshold"]
        )
        return timeline

    def _verdict(self, record, rule=None):
        """The decision on a record: the mean of its scored windows, labelled
        by ``rule`` (default :meth:`decision_rule`), or :data:`dpda.decision.NO_SPEECH`
        when none was."""
        rule = self.decision_rule() if rule is None else rule
        scores = [v for v in record["scores"] if v is not None]
        if not scores:
            return no_speech_decision(rule, record["reasons"])
        return rule.decide(sum(scores) / len(scores))

    def _file_verdict(self, record, rule):
        """:meth:`_verdict` on a file scored as :meth:`score_files` scores it;
        without speech in its first window, the reason says that only that
        window was judged (``long_audio: first``)."""
        decision = self._verdict(record, rule)
        width, _, first_only = self._file_cut()
        if decision["label"] == NO_SPEECH and first_only and record["length"] > width:
            decision["reason"] += " in the first window, the part scored"
        return decision

    def _score_sources(
        self, sources, batch_size, cut, num_workers=0, progress=False, speech=True
    ):
        """Stream, cut and score waveforms or files: the scoring engine.

        Each source is decoded block by block (by ``num_workers`` DataLoader
        processes, so that decoding overlaps scoring), cut into the windows
        ``cut = (width, hop, first_only)`` says (see :func:`dpda.streaming.stream_windows`)
        and scored ``batch_size`` windows per forward pass, windows of
        several sources sharing passes; only per-window results are kept.
        With ``speech``, windows without speech are not scored.

        Returns one record per source, in order: ``length`` (samples),
        ``starts`` (samples), ``scores`` (``None``: not scored), ``reasons``
        (why not) and ``error`` (the :data:`UNREADABLE` error, or ``None``).
        """
        rate = int(self.hparams.sample_rate)
        chunks = WindowChunks(list(sources), rate, *cut, chunk=batch_size)
        loader = torch.utils.data.DataLoader(
            chunks, batch_size=None, num_workers=num_workers, collate_fn=collate_as_list
        )
        records = [
            {"length": None, "starts": [], "scores": [], "reasons": [], "error": None}
            for _ in chunks.sources
        ]
        pending = []  # (index, position, window) waiting for a forward pass
        with ProgressBar(chunks.sources, rate, cut, progress) as bar:
            for index, kind, payload in loader:
                record = records[index]
                if kind == "windows":
                    if not self._take_windows(index, record, payload, speech, pending):
                        bar.windows(index, payload[0][-1])  # none to score
                    while len(pending) >= batch_size:
                        self._score_pending(records, pending[:batch_size], bar)
                        del pending[:batch_size]
                else:
                    record["length" if kind == "end" else "error"] = payload
                    bar.done(index, payload if kind == "end" else None)
            self._score_pending(records, pending, bar)
        return records

    @staticmethod
    def _take_windows(index, record, payload, speech, pending):
        """File the windows of a chunk in its record, queue those to score;
        how many were queued."""
        starts, windows, reasons = payload
        if not speech:
            reasons = [None] * len(starts)
        queued = 0
        for start, window, reason in zip(starts, windows, reasons):
            record["starts"].append(start)
            record["reasons"].append(reason)
            record["scores"].append(None)
            if reason is None:
                pending.append((index, len(record["scores"]) - 1, window))
                queued += 1
        return queued

    def _score_pending(self, records, pending, bar):
        """Score queued windows in one forward pass, into their records."""
        if not pending:
            return
        windows = torch.stack([w for _, _, w in pending]).to(self.device)
        scores = self._score_windows(windows, len(pending)).cpu().tolist()
        for (index, position, _), score in zip(pending, scores):
            records[index]["scores"][position] = score
            bar.windows(index, records[index]["starts"][position])

    def use_precision(self, precision):
        """Score in another precision from now on (opt-in; the default is ``fp32``).

        ``bf16`` runs the forward pass under bfloat16 autocast, ``int8``
        through a copy of the model whose Linear layers are dynamic int8
        (:mod:`dpda.precision`); both change the scores (by how much:
        ``benchmarks/detector_speed.py``, ``benchmarks/ssl_precision.py``).
        ``fp32`` goes back to the float32 model.

        Arguments
        ---------
        precision : str
            ``fp32``, ``bf16`` or ``int8`` (CPU only).

        Returns
        -------
        DeepfakeDetector
            This detector.

        Example
        -------
        >>> from dpda.models.raw_cnn import RawCNN
        >>> hparams = {"sample_rate": 16000, "threshold": 0.0, "window_samples": 800}
        >>> detector = DeepfakeDetector(
        ...     modules={"model": RawCNN(channels=[4], kernel_size=33)},
        ...     hparams=hparams,
        ... )
        >>> wav = torch.randn(1, 800)
        >>> fp32 = detector.score_batch(wav)
        >>> bf16 = detector.use_precision("bf16").score_batch(wav)
        >>> bool((bf16 - fp32).abs().max() < 0.1), detector.use_precision("fp32").precision
        (True, 'fp32')
        """
        check_precision(precision, self.device)
        if self._float_model is not None:  # back to float32 first
            self.mods.model = self._float_model
            self._float_model = None
        if precision == "int8":
            self._float_model = self.mods.model
            self.mods.model = quantize_linear_int8(self.mods.model.eval())
        self.precision = precision
        return self

    def _windows(self, signal):
        """Split a 1-D waveform into the windows that are scored, ``[N, W]``."""
        width = self.window_samples
        if self.long_audio == "first":
            return crop_or_tile(signal, width)[None]
        return split_windows(signal, width, self.window_hop)[1]

    def _score_windows(self, windows, chunk):
        """Bona fide scores of windows ``[N, W]``, ``chunk`` per forward pass."""
        self.mods.eval()
        with self.inference_ctx:
            return torch.cat(
                [
                    score_batch(
                        self.mods.model,
                        part,
                        torch.ones(len(part), device=self.device),
                        precision=autocast_dtype(self.precision),
                    )
                    for part in windows.split(chunk)
                ]
            )

    def score_signals(self, signals):
        """Bona fide logits of waveforms: the detector's batch-scoring method.

        Each waveform is scored as :attr:`long_audio` says (its first window,
        tiled when shorter, or the mean over windows covering it), windows of
        several waveforms sharing forward passes. ``score_batch``,
        ``score_file``, ``score_files`` and ``classify_files`` (so
        ``dpda-detect``) score through it; like :meth:`score_timeline` and
        :meth:`score_dataset`, it runs the model through
        :func:`dpda.scores.score_batch`.

        Arguments
        ---------
        signals : list of torch.Tensor
            1-D waveforms at ``sample_rate``, of any lengths.

        Returns
        -------
        torch.Tensor
            Bona fide logits ``[len(signals)]`` on the detector's device.

        Example
        -------
        >>> from dpda.models.raw_cnn import RawCNN
        >>> hparams = {"sample_rate": 16000, "threshold": 0.0, "window_samples": 4000}
        >>> detector = DeepfakeDetector(
        ...     modules={"model": RawCNN(channels=[8, 8], kernel_size=33)},
        ...     hparams=hparams,
        ... )
        >>> detector.score_signals([torch.randn(3000), torch.randn(9000)]).shape
        torch.Size([2])
        """
        windows = [self._windows(s.to(self.device)) for s in signals]
        counts = torch.tensor([len(w) for w in windows], device=self.device)
        bona = self._score_windows(
            torch.cat(windows), max(len(signals), self.window_batch_size)
        )
        owners = torch.repeat_interleave(
            torch.arange(len(signals), device=self.device), counts
        )
        totals = torch.zeros(len(signals), device=self.device).index_add_(
            0, owners, bona
        )
        return totals / counts

    def score_batch(self, wavs, wav_lens=None):
        """Score a padded batch of waveforms (see :meth:`score_signals`).

        Arguments
        ---------
        wavs : torch.Tensor
            Waveforms ``[B, T]`` at ``sample_rate``, zero-padded.
        wav_lens : torch.Tensor, optional
            Relative lengths ``[B]`` in (0, 1]; all 1 when not given.

        Returns
        -------
        torch.Tensor
            Bona fide logits ``[B]`` on the detector's device.
        """
        wavs = wavs.to(self.device)
        if wav_lens is None:
            lengths = [wavs.shape[1]] * wavs.shape[0]
        else:
            lengths = torch.round(wav_lens.float() * wavs.shape[1]).long().tolist()
        return self.score_signals([w[:n] for w, n in zip(wavs, lengths)])

    def forward(self, wavs, wav_lens=None):
        """Score a padded batch of waveforms (see :meth:`score_batch`)."""
        return self.score_batch(wavs, wav_lens)

    def score_file(self, path, **kwargs):
        """Score one audio file.

        Arguments
        ---------
        path : str
            Audio file; resampled to ``sample_rate`` and mixed to mono.
        **kwargs
            Forwarded to ``load_audio`` (e.g. ``savedir`` for remote files).

        Returns
        -------
        float
            The bona fide logit.
        """
        return self.score_signals([self.load_audio(path, **kwargs)]).item()

    def _file_cut(self):
        """The windows of :attr:`long_audio`: ``(width, hop, first_only)``."""
        first_only = self.long_audio == "first"
        return self.window_samples, self.window_hop, first_only

    def score_files(self, paths, batch_size=8, num_workers=0, progress=False):
        """Score audio files as :meth:`score_signals` scores waveforms.

        Each file is streamed (decoded a block at a time, by ``num_workers``
        processes) and only its windows are kept, so memory does not grow
        with its length. Every window is scored: these are raw scores, as
        the recipes evaluate (:meth:`classify_files` sets windows without
        speech aside).

        Arguments
        ---------
        paths : list of str
            Audio files.
        batch_size : int
            Windows per forward pass (one per file when :attr:`long_audio`
            is ``first``; at most ``window_batch_size`` when files are split
            into windows).
        num_workers : int
            Processes that decode the files (see :meth:`classify_files`).
        progress : bool
            Show a progress bar with the time left, on stderr.

        Returns
        -------
        list of float
            The bona fide logits, in the order of ``paths``.

        Raises
        ------
        dpda.data.audio.AudioError
            At the first file that cannot be read (or the ``OSError`` of a
            remote file that cannot be fetched); :meth:`classify_files`
            reports such files instead.

        Example
        -------
        >>> import os, tempfile
        >>> import soundfile as sf
        >>> from dpda.models.raw_cnn import RawCNN
        >>> hparams = {"sample_rate": 16000, "threshold": 0.0, "window_samples": 4000}
        >>> detector = DeepfakeDetector(
        ...     modules={"model": RawCNN(channels=[8, 8], kernel_size=33)},
        ...     hparams=hparams,
        ... )
        >>> path = os.path.join(tempfile.mkdtemp(), "a.wav")
        >>> sf.write(path, 0.1 * torch.randn(8000).numpy(), 16000)
        >>> (score,) = detector.score_files([path])
        >>> abs(score - detector.score_file(path)) < 1e-5
        True
        """
        cut = self._file_cut()
        if not cut[2]:  # the detector's window_batch_size bounds its memory
            batch_size = min(batch_size, self.window_batch_size)
        records = self._score_sources(
            paths, batch_size, cut, num_workers, progress, speech=False
        )
        for record in records:
            if record["error"] is not None:
                raise record["error"]
        return [sum(r["scores"]) / len(r["scores"]) for r in records]

    def score_dataset(
        self,
        dataset,
        batch_size=32,
        num_workers=0,
        lengths=None,
        collate_fn=None,
        progress=True,
    ):
        """Score a data set of prepared trials, as the recipes evaluate.

        The items are scored as given (e.g. cropped by
        :func:`dpda.data.pipelines.load_manifest`), by
        :func:`dpda.scores.score_dataset` with this detector's model, device
        and precision: the training-time evaluation's scores.

        Arguments
        ---------
        dataset : torch.utils.data.Dataset
            Items with ``id`` and ``sig``.
        batch_size : int
            Items per forward pass.
        num_workers : int
            DataLoader workers that read the audio.
        lengths : list of int, optional
            Item lengths: batches are then built from items of similar length.
        collate_fn : callable, optional
            Defaults to ``PaddedBatch``; a skipping collate may return ``None``.
        progress : bool
            Show a progress bar.

        Returns
        -------
        ids : list of str
        scores : list of float

        Example
        -------
        >>> from dpda.models.raw_cnn import RawCNN
        >>> hparams = {"sample_rate": 16000, "threshold": 0.0, "window_samples": 800}
        >>> detector = DeepfakeDetector(
        ...     modules={"model": RawCNN(channels=[4], kernel_size=33)},
        ...     hparams=hparams,
        ... )
        >>> data = [{"id": f"u{i}", "sig": torch.randn(800)} for i in range(3)]
        >>> ids, scores = detector.score_dataset(data, batch_size=2, progress=False)
        >>> ids, len(scores)
        (['u0', 'u1', 'u2'], 3)
        """
        self.mods.eval()
        with self.inference_ctx:
            return score_dataset(
                self.mods.model,
                dataset,
                batch_size=batch_size,
                num_workers=num_workers,
                device=self.device,
                lengths=lengths,
                collate_fn=collate_fn,
                progress=progress,
                precision=autocast_dtype(self.precision),
            )

    def decision_rule(self, prior=None, cost_model=None, threshold=None):
        """The :class:`dpda.decision.DecisionRule` that labels this detector's scores.

        Arguments
        ---------
        prior : float, optional
            Prior probability of bona fide, for the posterior and the
            decision alike: short for ``cost_model={"p_spoof": 1 - prior}``.
        cost_model : dict, optional
            Overrides of the detector's ``p_spoof``, ``c_miss``, ``c_fa``.
        threshold : float, optional
            A threshold on raw scores: bona fide when ``score > threshold``,
            spoof otherwise, whatever the calibration.

        Returns
        -------
        DecisionRule
            With no ``threshold``: Bayes decisions on calibrated LLRs (with
            the detector's ``uncertain_band``), or no verdict
            (:data:`dpda.decision.UNCALIBRATED`) when the detector is not calibrated.

        Example
        -------
        >>> from dpda.models.raw_cnn import RawCNN
        >>> hparams = {"sample_rate": 16000, "threshold": 0.0, "window_samples": 400}
        >>> detector = DeepfakeDetector(
        ...     modules={"model": RawCNN(channels=[8, 8], kernel_size=33)},
        ...     hparams=hparams,
        ... )
        >>> detector.decision_rule().name, detector.decision_rule(threshold=0.0).name
        ('uncalibrated', 'score_threshold')
        """
        cost = {**self.cost_model, **(cost_model or {})}
        if prior is not None:
            cost["p_spoof"] = 1 - float(prior)
        return DecisionRule(threshold, self.calibration, cost, self.uncertain_band)

    def classify_file(
        self, path, prior=None, cost_model=None, threshold=None, **kwargs
    ):
        """Score one file and label it with :meth:`decision_rule`.

        On a calibrated detector, the raw score becomes a log-likelihood
        ratio and the posterior probability of bona fide at the cost model's
        prior, and the label is the cost model's Bayes decision: bona fide
        when that probability is at least ``p_threshold``, or
        :data:`dpda.decision.UNCERTAIN` when the LLR lies inside the detector's
        ``uncertain_band`` around the threshold. Without calibration there
        is no verdict: the label is :data:`dpda.decision.UNCALIBRATED` and ``llr`` and
        ``p_bonafide`` are ``None``. A ``threshold`` on raw scores gives a
        bona fide / spoof label in either case. Windows without speech
        (:func:`dpda.data.audio.no_speech_reasons`) are not scored, as in
        :meth:`classify_files`; a file with none to score gets the label
        :data:`dpda.decision.NO_SPEECH`, its ``reason`` and no score.

        Arguments
        ---------
        path : str
            Audio file.
        prior : float, optional
            Prior probability of bona fide (see :meth:`decision_rule`);
            default ``1 - p_spoof`` of the cost model (0.95 for ASVspoof 5's).
        cost_model : dict, optional
            Overrides of ``p_spoof``, ``c_miss``, ``c_fa``.
        threshold : float, optional
            Bona fide when ``score > threshold``, spoof otherwise.
        **kwargs
            Forwarded to ``load_audio``.

        Returns
        -------
        dict
            :meth:`DecisionRule.decide`'s: ``score`` (raw bona fide logit),
            ``calibrated``, ``llr``, ``p_bonafide``, ``prior``, ``label``
            (``"bonafide"``, ``"spoof"``, :data:`dpda.decision.UNCERTAIN` or
            :data:`dpda.decision.UNCALIBRATED`), ``rule``, ``rule_text`` (the rule in
            words), ``p_threshold`` (on ``p_bonafide``), ``llr_threshold``,
            ``llr_band``, ``threshold`` (the decision on raw scores),
            ``cost_model`` and ``reason`` (why there is no speech, else
            ``None``).
        """
        signal = self.load_audio(path, **kwargs)
        windows = self._windows(signal.to(self.device))
        reasons = no_speech_reasons(windows)
        speech = [reason is None for reason in reasons]
        scored = iter(
            self._score_windows(windows[speech], self.window_batch_size).tolist()
            if any(speech)
            else []
        )
        record = {
            "scores": [next(scored) if s else None for s in speech],
            "reasons": reasons,
            "length": len(signal),
        }
        rule = self.decision_rule(prior, cost_model, threshold)
        return {"reason": None, **self._file_verdict(record, rule)}

    def classify_files(
        self,
        paths,
        batch_size=8,
        num_workers=0,
        window_seconds=None,
        progress=False,
        threshold=None,
    ):
        """Score and label files; a file that cannot be read is reported.

        Files are streamed and scored as :meth:`score_files` scores them
        (``batch_size`` windows per forward pass), or, with
        ``window_seconds``, each over its whole length as
        :meth:`score_timeline` scores it. Windows without speech
        (:func:`dpda.data.audio.no_speech_reasons`) are set aside: a file
        none of whose scored windows holds speech gets the label
        :data:`dpda.decision.NO_SPEECH` and its ``reason``, neither bona fide nor spoof. A
        file that cannot be read (missing, empty, not audio, too short:
        :data:`UNREADABLE`) gets its error and the others are scored. What
        ``dpda-detect`` reports.

        Arguments
        ---------
        paths : list of str
            Audio files.
        batch_size : int
            Windows per forward pass (one per file when :attr:`long_audio`
            is ``first`` and no ``window_seconds`` is given; else at most
            ``window_batch_size``).
        num_workers : int
            DataLoader worker processes that decode the files while this
            one scores (0: this one decodes too).
        window_seconds : float, optional
            Score overlapping windows of this length over each whole file.
        progress : bool
            Show a progress bar with the time left, on stderr.
        threshold : float, optional
            A threshold on raw scores (see :meth:`decision_rule`); default
            the detector's own rule.

        Returns
        -------
        list of dict
            One per path, in order: ``path``, ``duration`` (s), ``error``
            (``None`` when scored, else what is wrong, without the path);
            for a scored file the :meth:`classify_score` fields ``score``,
            ``llr``, ``p_bonafide``, ``label`` and ``reason`` (why there
            is no speech, else ``None``) and, with ``window_seconds``, its
            ``timeline``.

        Example
        -------
        >>> import os, tempfile
        >>> import soundfile as sf
        >>> from dpda.models.raw_cnn import RawCNN
        >>> hparams = {"sample_rate": 16000, "threshold": 0.0, "window_samples": 4000}
        >>> detector = DeepfakeDetector(
        ...     modules={"model": RawCNN(channels=[8, 8], kernel_size=33)},
        ...     hparams=hparams,
        ... )
        >>> good = os.path.join(tempfile.mkdtemp(), "good.wav")
        >>> sf.write(good, 0.1 * torch.randn(8000).numpy(), 16000)
        >>> rows = detector.classify_files([good, "missing.wav"])
        >>> rows[0]["duration"], rows[0]["label"]  # no calibration: no verdict
        (0.5, 'uncalibrated')
        >>> detector.classify_files([good], threshold=0.0)[0]["label"] in ("bonafide", "spoof")
        True
        >>> rows[1]["error"]
        'file not found'
        """
        if window_seconds:
            cut = (*self._timeline_cut(window_seconds), False)
        else:
            cut = self._file_cut()
        if not cut[2]:  # the detector's window_batch_size bounds its memory
            batch_size = min(batch_size, self.window_batch_size)
        records = self._score_sources(paths, batch_size, cut, num_workers, progress)
        rule = self.decision_rule(threshold=threshold)
        rate, rows = int(self.hparams.sample_rate), []
        for path, record in zip(paths, records):
            row = {"path": path, "duration": None, "error": None}
            rows.append(row)
            if record["error"] is not None:  # the path has a column of its own
                row["error"] = _problem(record["error"], path)
                continue
            row["duration"] = record["length"] / rate
            if window_seconds:
                row["timeline"] = self._timeline(record, cut[0], rule)
                decision = row["timeline"]["decision"]
            else:
                decision = self._file_verdict(record, rule)
            row.update(decision_fields(decision))
        return rows

    def classify_score(self, score, prior=None, cost_model=None, threshold=None):
        """Label a raw score (see :meth:`classify_file`).

        Example
        -------
        >>> from dpda.models.raw_cnn import RawCNN
        >>> hparams = {"sample_rate": 16000, "threshold": 0.0, "window_samples": 400,
        ...            "calibration": {"scale": 2.0, "offset": -1.0, "prior": 0.655}}
        >>> detector = DeepfakeDetector(
        ...     modules={"model": RawCNN(channels=[8, 8], kernel_size=33)},
        ...     hparams=hparams,
        ... )
        >>> out = detector.classify_score(0.5)
        >>> out["llr"], round(out["p_bonafide"], 2), out["label"]
        (0.0, 0.95, 'bonafide')
        >>> round(out["p_threshold"], 4), out["rule"]
        (0.9091, 'bayes')
        >>> detector.classify_score(0.5, prior=0.5)["label"]
        'spoof'
        >>> detector.classify_score(0.5, cost_model={"p_spoof": 0.5, "c_fa": 1})["label"]
        'bonafide'
        >>> detector.classify_score(0.5, threshold=0.6)["label"]
        'spoof'
        """
        return self.decision_rule(prior, cost_model, threshold).decide(score)
