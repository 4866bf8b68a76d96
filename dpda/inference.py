"""One-line inference with trained detectors.

:class:`DeepfakeDetector` is a SpeechBrain ``Pretrained`` interface::

    detector = DeepfakeDetector.from_hparams(source="path/or/hub-id", savedir="tmp")
    detector.classify_file("speech.wav")  # {"score", "label", "rule_text", ...}

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

from dpda.calibration import Calibration, decide, posterior_bonafide
from dpda.data.audio import read_checked_audio
from dpda.data.pipelines import crop_or_tile
from dpda.metrics import ASVSPOOF5_COST_MODEL, bayes_threshold
from dpda.scores import score_batch

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


def split_windows(signal, width, hop):
    """Windows of ``width`` samples every ``hop`` covering a whole waveform.

    When the windows do not reach the end, one more window aligned with the
    end covers the tail, so every sample is scored and no window mixes tiled
    copies; a signal no longer than one window is one window, tiled.

    Arguments
    ---------
    signal : torch.Tensor
        A 1-D waveform.
    width, hop : int
        Window length and hop, in samples.

    Returns
    -------
    starts : list of int
        The first sample of each window.
    windows : torch.Tensor
        ``[len(starts), width]``.

    Example
    -------
    >>> starts, windows = split_windows(torch.arange(10.0), 4, 3)
    >>> starts, windows.shape
    ([0, 3, 6], torch.Size([3, 4]))
    >>> split_windows(torch.arange(11.0), 4, 3)[0]
    [0, 3, 6, 7]
    >>> split_windows(torch.arange(3.0), 4, 3)[1].tolist()
    [[0.0, 1.0, 2.0, 0.0]]
    """
    length = signal.shape[0]
    if length <= width:
        return [0], crop_or_tile(signal, width)[None]
    windows = signal.unfold(0, width, hop)
    starts = list(range(0, length - width + 1, hop))
    if (length - width) % hop:
        starts.append(length - width)
        windows = torch.cat([windows, signal[length - width :][None]])
    return starts, windows


@dataclasses.dataclass
class DecisionRule:
    """How a detector turns a score into a label: the one rule, stated once.

    Every label dpda shows (``classify_file``, ``dpda-detect``, the demo,
    the model card) comes from :meth:`decide`, beside :attr:`text`, which
    states the rule with its threshold in the units shown.

    * ``bayes`` (calibrated detector): the Bayes decision of the cost model
      on the calibrated LLR. The probability shown is the posterior of bona
      fide at the prior ``1 - p_spoof``; deciding bona fide costs less in
      expectation when ``c_miss P(bona fide) >= c_fa P(spoof)``, that is when
      ``P(bona fide) >= c_fa / (c_miss + c_fa)`` (10/11 = 0.9091 for
      ASVspoof 5's costs), which is ``LLR >= bayes_threshold(...)``. So a
      probability of 0.88 with the label spoof is no contradiction: 0.88 is
      below the stated 0.9091.
    * ``score_threshold`` (uncalibrated detector): bona fide when the raw
      score is above the detector's stored ``threshold`` (for a trained
      detector the dev EER threshold); no probability is given.

    Arguments
    ---------
    score_threshold : float
        The detector's stored ``threshold`` on raw scores.
    calibration : dpda.calibration.Calibration, optional
        The map from scores to LLRs; ``None``: the ``score_threshold`` rule.
    cost_model : dict, optional
        ``p_spoof``, ``c_miss``, ``c_fa``; missing keys: ASVspoof 5's.

    Example
    -------
    >>> cal = Calibration(scale=1.0, offset=0.0, prior=0.655)
    >>> rule = DecisionRule(0.0, cal)
    >>> out = rule.decide(-0.92)
    >>> round(out["p_bonafide"], 3), round(out["p_threshold"], 4), out["label"]
    (0.883, 0.9091, 'spoof')
    >>> print(rule.text)
    bona fide when P(bona fide) >= 0.9091 (Bayes decision of the cost model P(spoof) 0.05, Cmiss 1, Cfa 10 on the calibrated LLR: P(bona fide) at the prior 0.95 against Cfa / (Cmiss + Cfa))
    >>> print(DecisionRule(0.5).text)
    bona fide when score > 0.5000 (the detector's stored score threshold; uncalibrated scores: no probability)
    """

    score_threshold: float
    calibration: Calibration = None
    cost_model: dict = None

    def __post_init__(self):
        self.score_threshold = float(self.score_threshold)
        self.cost_model = {**ASVSPOOF5_COST_MODEL, **(self.cost_model or {})}
        bayes_threshold(**self.cost_model)  # checks the costs

    @property
    def name(self):
        """``"bayes"`` or ``"score_threshold"``."""
        return "bayes" if self.calibration is not None else "score_threshold"

    @property
    def prior(self):
        """Prior of bona fide of the shown probability (``None`` uncalibrated)."""
        return None if self.calibration is None else 1 - self.cost_model["p_spoof"]

    @property
    def p_threshold(self):
        """The threshold on P(bona fide), ``c_fa / (c_miss + c_fa)``, or ``None``."""
        if self.calibration is None:
            return None
        return self.cost_model["c_fa"] / (
            self.cost_model["c_miss"] + self.cost_model["c_fa"]
        )

    @property
    def llr_threshold(self):
        """The Bayes threshold on LLRs, or ``None`` uncalibrated."""
        return None if self.calibration is None else bayes_threshold(**self.cost_model)

    @property
    def threshold(self):
        """The rule's threshold in raw-score units (what timelines draw)."""
        if self.calibration is None:
            return self.score_threshold
        return (self.llr_threshold - self.calibration.offset) / self.calibration.scale

    @property
    def text(self):
        """The rule in words, its threshold in the units shown beside labels."""
        if self.calibration is None:
            return (
                f"bona fide when score > {self.score_threshold:.4f} (the "
                "detector's stored score threshold; uncalibrated scores: no "
                "probability)"
            )
        cost = self.cost_model
        return (
            f"bona fide when P(bona fide) >= {self.p_threshold:.4f} (Bayes "
            f"decision of the cost model P(spoof) {cost['p_spoof']:g}, Cmiss "
            f"{cost['c_miss']:g}, Cfa {cost['c_fa']:g} on the calibrated LLR: "
            f"P(bona fide) at the prior {self.prior:g} against "
            "Cfa / (Cmiss + Cfa))"
        )

    def decide(self, score):
        """Label a raw score.

        Arguments
        ---------
        score : float
            The bona fide logit.

        Returns
        -------
        dict
            ``score``, ``calibrated``, ``llr`` and ``p_bonafide`` (``None``
            uncalibrated), ``prior``, ``label`` (``"bonafide"`` or
            ``"spoof"``), ``rule`` (:attr:`name`), ``rule_text``
            (:attr:`text`), ``p_threshold``, ``llr_threshold``,
            ``threshold`` (raw-score units) and ``cost_model`` (``None``
            uncalibrated).
        """
        score = float(score)
        calibrated = self.calibration is not None
        result = {"score": score, "calibrated": calibrated, "llr": None}
        result["p_bonafide"] = None
        if calibrated:
            result["llr"] = float(self.calibration.llr(score))
            result["p_bonafide"] = posterior_bonafide(result["llr"], self.prior)
            label = decide(result["llr"], **self.cost_model)
        else:
            label = "bonafide" if score > self.score_threshold else "spoof"
        result.update(
            prior=self.prior,
            label=label,
            rule=self.name,
            rule_text=self.text,
            p_threshold=self.p_threshold,
            llr_threshold=self.llr_threshold,
            threshold=self.threshold,
            cost_model=dict(self.cost_model) if calibrated else None,
        )
        return result


class DeepfakeDetector(Pretrained):
    """Score files or waveforms with a trained speech deepfake detector.

    The score of an utterance is the model's bona fide logit (higher = more
    bona fide). Labels follow the detector's :class:`DecisionRule`
    (:meth:`decision_rule`): the Bayes decision of ``cost_model`` when the
    detector is calibrated, the stored ``threshold`` otherwise.

    Hyperparameters read from ``hyperparams.yaml``:

    * ``sample_rate``: files are resampled to it and mixed down to mono.
    * ``threshold``: a threshold on raw scores set at export time (e.g. the
      EER threshold on the development set); the decision rule of an
      uncalibrated detector (bona fide when ``score > threshold``), unused
      by the decisions of a calibrated one.
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
        path = str(path)
        if not os.path.exists(path):
            source, name = split_path(path)
            path = str(fetch(name, source=source, savedir=savedir))
        signal = read_checked_audio(
            path,
            sample_rate=int(self.hparams.sample_rate),
            resample=True,
            channel_policy="mean",
        )
        return signal.to(self.device)

    def score_timeline(self, path_or_signal, window_seconds=4.0, hop_seconds=None):
        """Score overlapping windows over a whole recording.

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

        Returns
        -------
        dict
            ``duration`` (s), ``starts`` and ``ends`` (s), ``scores`` (raw),
            and for a calibrated detector ``llrs`` and ``p_bonafide`` (at the
            cost model's prior), each one value per window; ``score``, the
            mean of the window scores, with its ``decision``
            (:meth:`DecisionRule.decide`); ``threshold``, the raw-score
            threshold of the decision.

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
        """
        if isinstance(path_or_signal, torch.Tensor):
            signal = path_or_signal.to(self.device)
        else:
            signal = self.load_audio(path_or_signal)
        rate = int(self.hparams.sample_rate)
        width = max(1, int(round(window_seconds * rate)))
        hop = (
            width // 2
            if hop_seconds is None
            else max(1, int(round(hop_seconds * rate)))
        )
        starts, windows = split_windows(signal, width, hop)
        scores = self._score_windows(windows, self.window_batch_size)
        scores = scores.cpu().tolist()
        duration = signal.shape[0] / rate
        timeline = {
            "duration": duration,
            "starts": [s / rate for s in starts],
            "ends": [min(s + width, signal.shape[0]) / rate for s in starts],
            "scores": scores,
        }
        rule = self.decision_rule()
        if rule.calibration is not None:
            llrs = rule.calibration.llr(scores)
            timeline["llrs"] = llrs.tolist()
            timeline["p_bonafide"] = [posterior_bonafide(v, rule.prior) for v in llrs]
        decision = rule.decide(sum(scores) / len(scores))
        timeline.update(
            score=decision["score"], decision=decision, threshold=decision["threshold"]
        )
        return timeline

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
                        self.mods.model, part, torch.ones(len(part), device=self.device)
                    )
                    for part in windows.split(chunk)
                ]
            )

    def _score_signals(self, signals):
        """Bona fide scores ``[len(signals)]`` of a list of 1-D waveforms."""
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
        """Score a padded batch of waveforms.

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
        return self._score_signals([w[:n] for w, n in zip(wavs, lengths)])

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
        return self._score_signals([self.load_audio(path, **kwargs)]).item()

    def score_files(self, paths, batch_size=8):
        """Score audio files, ``batch_size`` files per forward pass.

        Arguments
        ---------
        paths : list of str
            Audio files.
        batch_size : int
            Files loaded and scored together.

        Returns
        -------
        list of float
            The bona fide logits, in the order of ``paths``.
        """
        scores = []
        for start in range(0, len(paths), batch_size):
            signals = [self.load_audio(p) for p in paths[start : start + batch_size]]
            scores.extend(self._score_signals(signals).cpu().tolist())
        return scores

    def decision_rule(self, prior=None, cost_model=None):
        """The :class:`DecisionRule` that labels this detector's scores.

        Arguments
        ---------
        prior : float, optional
            Prior probability of bona fide, for the posterior and the
            decision alike: short for ``cost_model={"p_spoof": 1 - prior}``.
        cost_model : dict, optional
            Overrides of the detector's ``p_spoof``, ``c_miss``, ``c_fa``.

        Returns
        -------
        DecisionRule
            Bayes decisions on calibrated LLRs, or the stored score
            threshold when the detector is not calibrated.

        Example
        -------
        >>> from dpda.models.raw_cnn import RawCNN
        >>> hparams = {"sample_rate": 16000, "threshold": 0.0, "window_samples": 400}
        >>> detector = DeepfakeDetector(
        ...     modules={"model": RawCNN(channels=[8, 8], kernel_size=33)},
        ...     hparams=hparams,
        ... )
        >>> detector.decision_rule().name
        'score_threshold'
        """
        cost = {**self.cost_model, **(cost_model or {})}
        if prior is not None:
            cost["p_spoof"] = 1 - float(prior)
        return DecisionRule(float(self.hparams.threshold), self.calibration, cost)

    def classify_file(self, path, prior=None, cost_model=None, **kwargs):
        """Score one file and label it with :meth:`decision_rule`.

        On a calibrated detector, the raw score becomes a log-likelihood
        ratio and the posterior probability of bona fide at the cost model's
        prior, and the label is the cost model's Bayes decision: bona fide
        when that probability is at least ``p_threshold``. Without
        calibration, the label comes from the stored raw-score
        ``threshold`` and ``llr`` and ``p_bonafide`` are ``None``.

        Arguments
        ---------
        path : str
            Audio file.
        prior : float, optional
            Prior probability of bona fide (see :meth:`decision_rule`);
            default ``1 - p_spoof`` of the cost model (0.95 for ASVspoof 5's).
        cost_model : dict, optional
            Overrides of ``p_spoof``, ``c_miss``, ``c_fa``.
        **kwargs
            Forwarded to ``load_audio``.

        Returns
        -------
        dict
            :meth:`DecisionRule.decide`'s: ``score`` (raw bona fide logit),
            ``calibrated``, ``llr``, ``p_bonafide``, ``prior``, ``label``
            (``"bonafide"`` or ``"spoof"``), ``rule``, ``rule_text`` (the
            rule in words), ``p_threshold`` (on ``p_bonafide``),
            ``llr_threshold``, ``threshold`` (the same decision on raw
            scores) and ``cost_model``.
        """
        return self.classify_score(self.score_file(path, **kwargs), prior, cost_model)

    def classify_score(self, score, prior=None, cost_model=None):
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
        """
        return self.decision_rule(prior, cost_model).decide(score)
