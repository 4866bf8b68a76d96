"""SpeechBrain data pipelines: fixed-length crops, labels and bad-audio skipping.

As in the paper's code, every utterance is reduced to its first ``N`` samples
and clips shorter than ``N`` are tiled by repetition, so batches need no
padding. Augmented views computed in the DataLoader's workers
(:func:`add_augmented_view`) take the crop, or the whole file before the crop
(RawBoost in the authors' order, :func:`load_manifest` with ``whole_file``).

Bad files (see :mod:`dpda.data.audio`) either stop the run with an error
naming the file (``on_error="raise"``, the default) or are dropped batch by
batch (``on_error="skip"`` with :class:`SkipBadItemsCollate`), each one logged
with its reason.

Authors
 * dpda contributors 2026
"""

import hashlib
import logging
import os

import speechbrain as sb
import torch
from speechbrain.dataio.batch import PaddedBatch

from dpda.data.audio import DEFAULT_MIN_SAMPLES, AudioError, read_checked_audio
from dpda.labels import LABEL_TO_INDEX

logger = logging.getLogger(__name__)

ON_ERROR_MODES = ("raise", "skip")
_FLATTEN = str.maketrans({"\t": " ", "\n": " ", "\r": " "})


def crop_or_tile(signal, num_samples):
    """Return the first ``num_samples`` of ``signal``, tiling short signals.

    Arguments
    ---------
    signal : torch.Tensor
        A 1-D waveform.
    num_samples : int or None
        Target length; ``None`` keeps the signal whole.

    Returns
    -------
    torch.Tensor
        The waveform of length ``num_samples``.

    Example
    -------
    >>> import torch
    >>> crop_or_tile(torch.tensor([1.0, 2.0, 3.0]), 7).tolist()
    [1.0, 2.0, 3.0, 1.0, 2.0, 3.0, 1.0]
    >>> crop_or_tile(torch.arange(10.0), 4).tolist()
    [0.0, 1.0, 2.0, 3.0]
    """
    if num_samples is None:
        return signal
    length = signal.shape[0]
    if length == 0:
        raise ValueError("Cannot crop or tile an empty signal")
    if length >= num_samples:
        return signal[:num_samples]
    repeats = -(-num_samples // length)
    return signal.repeat(repeats)[:num_samples]


def random_crop_or_tile(signal, num_samples):
    """Return ``num_samples`` consecutive samples from a random start, tiling short signals.

    The training crop of AASIST (``data_utils.pad_random``): a start drawn
    uniformly among the positions where a whole window fits (torch's
    generator, so seeded runs and DataLoader workers are reproducible).

    Arguments
    ---------
    signal : torch.Tensor
        A 1-D waveform.
    num_samples : int
        Target length.

    Returns
    -------
    torch.Tensor
        The waveform of length ``num_samples``.

    Example
    -------
    >>> import torch
    >>> _ = torch.manual_seed(0)
    >>> crop = random_crop_or_tile(torch.arange(10.0), 4)
    >>> len(crop), bool((crop.diff() == 1).all())
    (4, True)
    >>> random_crop_or_tile(torch.tensor([1.0, 2.0]), 3).tolist()
    [1.0, 2.0, 1.0]
    """
    length = signal.shape[0]
    if length <= num_samples:
        return crop_or_tile(signal, num_samples)
    start = int(torch.randint(length - num_samples + 1, ()).item())
    return signal[start : start + num_samples]


CROP_MODES = ("first", "random")


def audio_pipeline(
    num_samples,
    sample_rate=16000,
    on_error="raise",
    resample=False,
    channel_policy="mean",
    min_samples=DEFAULT_MIN_SAMPLES,
    crop="first",
    key="sig",
):
    """Build the ``wav -> sig`` pipeline with checked reads and fixed-length crops.

    With ``crop="first"``, only the first ``num_samples`` samples are read
    from disk, checked by :func:`dpda.data.audio.read_checked_audio`, then
    tiled if short. With ``crop="random"`` the whole file is read and a
    random window kept (:func:`random_crop_or_tile`).

    Arguments
    ---------
    num_samples : int or None
        Crop length in samples; ``None`` reads the whole file.
    sample_rate : int or None
        Expected rate in Hz (``None`` accepts any).
    on_error : str
        ``"raise"``: a bad file raises :class:`~dpda.data.audio.AudioError`
        naming it. ``"skip"``: ``sig`` becomes a :class:`BadAudio` carrying
        the reason, for :class:`SkipBadItemsCollate` to drop and log.
    resample : bool
        Resample files at another rate instead of treating them as bad.
    channel_policy : str
        ``"mean"``, ``"first"`` or ``"error"`` for multi-channel files.
    min_samples : int
        Shortest usable clip before tiling.
    crop : str
        ``"first"`` (the first samples) or ``"random"`` (a random window).
    key : str
        The item it provides: ``sig``, or ``audio`` for the whole file of
        :func:`load_manifest` with ``whole_file=True``.

    Returns
    -------
    callable
        A SpeechBrain dynamic item.

    Example
    -------
    >>> import os, tempfile
    >>> import numpy as np, soundfile as sf
    >>> path = os.path.join(tempfile.mkdtemp(), "a.wav")
    >>> sf.write(path, np.zeros(0), 16000)
    >>> audio_pipeline(8, on_error="skip")(path)
    BadAudio('empty audio (0 samples)')
    """
    if on_error not in ON_ERROR_MODES:
        raise ValueError(f"on_error must be one of {ON_ERROR_MODES}, got {on_error!r}")
    if crop not in CROP_MODES:
        raise ValueError(f"crop must be one of {CROP_MODES}, got {crop!r}")
    random_window = crop == "random" and num_samples is not None

    @sb.utils.data_pipeline.takes("wav")
    @sb.utils.data_pipeline.provides(key)
    def pipeline(wav):
        """Read, check and crop (or tile) one file."""
        try:
            signal = read_checked_audio(
                wav,
                num_samples=None if random_window else num_samples,
                sample_rate=sample_rate,
                resample=resample,
                channel_policy=channel_policy,
                min_samples=min_samples,
            )
        except AudioError as e:
            if on_error == "raise":
                raise
            return BadAudio(e.problem, e.path)
        if random_window:
            return random_crop_or_tile(signal, num_samples)
        return crop_or_tile(signal, num_samples)

    return pipeline


def crop_pipeline(num_samples):
    """Build the ``audio -> sig`` pipeline: the first ``num_samples`` of the
    whole file, short files tiled (:func:`crop_or_tile`).

    The clean crop of :func:`load_manifest` with ``whole_file=True``: the
    same samples as :func:`audio_pipeline` with ``crop="first"``, cut from
    the one decoded copy that the views augmented before the crop also use
    (:func:`add_augmented_view`). A :class:`BadAudio` passes through.

    Arguments
    ---------
    num_samples : int
        Crop length in samples.

    Returns
    -------
    callable
        A SpeechBrain dynamic item.

    Example
    -------
    >>> import torch
    >>> crop_pipeline(5)(torch.tensor([1.0, 2.0])).tolist()
    [1.0, 2.0, 1.0, 2.0, 1.0]
    """

    @sb.utils.data_pipeline.takes("audio")
    @sb.utils.data_pipeline.provides("sig")
    def pipeline(audio):
        """Crop (or tile) one whole file."""
        if isinstance(audio, BadAudio):
            return audio
        return crop_or_tile(audio, num_samples)

    return pipeline


class BadAudio:
    """Stands in for ``sig`` when a file is bad and ``on_error="skip"``.

    A plain picklable object (DataLoader workers send it to the collate
    function), so the reason reaches the skip log.

    Arguments
    ---------
    reason : str
        What is wrong with the file.
    path : str
        The file.

    Example
    -------
    >>> BadAudio("empty audio (0 samples)", "a.wav")
    BadAudio('empty audio (0 samples)')
    """

    def __init__(self, reason, path=""):
        self.reason = reason
        self.path = path

    def __repr__(self):
        return f"BadAudio({self.reason!r})"


class SkipBadItemsCollate:
    """Collate function that drops :class:`BadAudio` items and logs them.

    The good items are collated with ``PaddedBatch``. Each dropped item
    appends one ``<id>\\t<reason> (<path>)`` line to ``log_path`` (a single
    ``write`` on a file opened in append mode, so DataLoader workers and DDP
    ranks can share the file) and logs a warning. Picklable, so it works in
    worker processes.

    A batch whose items are all bad collates to ``None``: the training and
    evaluation loops must skip a ``None`` batch.

    Arguments
    ---------
    log_path : str or None
        Skip log, e.g. ``<output_folder>/skipped_items.tsv``; ``None`` only
        logs warnings.
    key : str
        The item that holds the signal or a ``BadAudio``.
    **padded_batch_kwargs
        Passed to ``speechbrain.dataio.batch.PaddedBatch``.

    Example
    -------
    >>> import torch
    >>> collate = SkipBadItemsCollate()
    >>> batch = collate([
    ...     {"id": "a", "sig": torch.ones(3)},
    ...     {"id": "b", "sig": BadAudio("empty audio (0 samples)", "b.wav")},
    ... ])
    >>> batch.id
    ['a']
    >>> collate([{"id": "b", "sig": BadAudio("empty", "b.wav")}]) is None
    True
    """

    def __init__(self, log_path=None, key="sig", **padded_batch_kwargs):
        self.log_path = log_path
        self.key = key
        self.padded_batch_kwargs = padded_batch_kwargs

    def __call__(self, examples):
        """Collate the good examples; log and drop the bad ones.

        Arguments
        ---------
        examples : list of dict
            Items from the dataset.

        Returns
        -------
        PaddedBatch or None
            ``None`` when every item is bad.
        """
        good = []
        for example in examples:
            bad = example.get(self.key)
            if isinstance(bad, BadAudio):
                self._record(example.get("id", "?"), bad)
            else:
                good.append(example)
        if not good:
            return None
        return PaddedBatch(good, **self.padded_batch_kwargs)

    def _record(self, item_id, bad):
        logger.warning("Skipping %s: %s (%s)", item_id, bad.reason, bad.path)
        if self.log_path is None:
            return
        # One record of two fields per line, whatever the error text holds.
        fields = [str(item_id), f"{bad.reason} ({bad.path})"]
        line = "\t".join(f.translate(_FLATTEN) for f in fields) + "\n"
        os.makedirs(os.path.dirname(os.path.abspath(self.log_path)), exist_ok=True)
        fd = os.open(self.log_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, line.encode("utf-8"))
        finally:
            os.close(fd)


def read_skip_log(log_path):
    """Read a skip log written by :class:`SkipBadItemsCollate`.

    An item skipped several times (one per epoch) appears once.

    Arguments
    ---------
    log_path : str
        The log; a missing file means nothing was skipped.

    Returns
    -------
    dict
        ``{item_id: reason}`` in first-seen order (last reason kept).

    Example
    -------
    >>> read_skip_log("/nonexistent/skipped_items.tsv")
    {}
    """
    skipped = {}
    if not os.path.isfile(log_path):
        return skipped
    with open(log_path, encoding="utf-8") as f:
        for line in f:
            line = line.rstrip("\n")
            if line:
                item_id, _, reason = line.partition("\t")
                skipped[item_id] = reason
    return skipped


def count_logged_skips(log_path):
    """Count the distinct items in a skip log.

    Arguments
    ---------
    log_path : str
        The log written by :class:`SkipBadItemsCollate`.

    Returns
    -------
    int
        Number of distinct skipped item ids (0 if the log does not exist).

    Example
    -------
    >>> count_logged_skips("/nonexistent/skipped_items.tsv")
    0
    """
    return len(read_skip_log(log_path))


def add_augmented_view(dataset, name, augment, seed=None, crop_to=None):
    """Add ``sig_<name>``, an augmented view of ``sig``, to a dataset.

    The view is computed where the items are, i.e. in the DataLoader's
    workers: the place for CPU-bound augmentations such as
    :class:`dpda.augment.Codec`. With ``crop_to``, the augmentation sees the
    whole decoded file (the ``audio`` item of :func:`load_manifest` with
    ``whole_file=True``) and its output is then cut like the clean crop
    (:func:`crop_or_tile`), as the DPDA authors apply RawBoost
    (``data_utils.py`` of dpda_ga): the tiles of a short file then repeat
    one noise pattern. Each view's random draws come from torch's
    generator seeded with ``(seed, augment.epoch, name, item id)``, the
    global generator left as it was: the views do not depend on the number
    of workers or on the order of loading, and a run resumed mid-epoch
    draws them again identically. ``augment.epoch`` (0 when absent) is set
    by :class:`dpda.brain.DPDABrain` at the start of each training epoch. A
    :class:`BadAudio` stand-in passes through unchanged (the collate
    function drops the item).

    Arguments
    ---------
    dataset : speechbrain.dataio.dataset.DynamicItemDataset
        A dataset with ``id`` and ``sig`` items (e.g. from
        :func:`load_manifest`).
    name : str
        The path's name.
    augment : callable
        ``[T]`` waveform -> ``[T]`` waveform, drawing from torch's generator.
    seed : int, optional
        Base seed; default: the seed of torch's global generator (the
        hparams' ``seed``), read without drawing.
    crop_to : int, optional
        Augment the whole file, then keep its first ``crop_to`` samples
        (short files tiled); default: augment the crop ``sig``.

    Example
    -------
    >>> data = {"a": {"wav": "a.wav"}}
    >>> dataset = sb.dataio.dataset.DynamicItemDataset(data)
    >>> dataset.add_dynamic_item(
    ...     lambda wav: torch.ones(4), takes="wav", provides="sig"
    ... )
    >>> dataset.set_output_keys(["id", "sig"])
    >>> add_augmented_view(dataset, "noisy", lambda x: x + torch.randn(4), seed=1)
    >>> torch.equal(dataset[0]["sig_noisy"], dataset[0]["sig_noisy"])
    True
    """
    base = torch.initial_seed() if seed is None else int(seed)

    @sb.utils.data_pipeline.takes("id", "sig" if crop_to is None else "audio")
    @sb.utils.data_pipeline.provides(f"sig_{name}")
    def view(item_id, sig):
        """The augmented view of one utterance."""
        if isinstance(sig, BadAudio):
            return sig
        epoch = getattr(augment, "epoch", 0)
        key = f"{base}:{epoch}:{name}:{item_id}".encode()
        item_seed = int.from_bytes(hashlib.sha256(key).digest()[:8], "little")
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(item_seed)
            augmented = augment(sig)
        return augmented if crop_to is None else crop_or_tile(augmented, crop_to)

    dataset.add_dynamic_item(view)
    keys = list(dataset.pipeline.output_mapping)
    dataset.set_output_keys([*keys, f"sig_{name}"])


@sb.utils.data_pipeline.takes("label")
@sb.utils.data_pipeline.provides("label_id")
def label_pipeline(label):
    """Map ``bonafide`` / ``spoof`` to class 1 / 0.

    A plain integer: ``PaddedBatch`` collates it into a ``[B]`` tensor.

    Example
    -------
    >>> label_pipeline("bonafide")
    1
    """
    if label not in LABEL_TO_INDEX:
        raise ValueError(f"Unknown label {label!r}; expected {list(LABEL_TO_INDEX)}")
    return LABEL_TO_INDEX[label]


def load_manifest(
    json_path,
    data_root,
    num_samples,
    on_error="raise",
    sample_rate=16000,
    resample=False,
    channel_policy="mean",
    min_samples=DEFAULT_MIN_SAMPLES,
    crop="first",
    whole_file=False,
):
    """Build a ``DynamicItemDataset`` from a manifest written by the recipes.

    With ``whole_file=True`` each file is decoded whole into an ``audio``
    item and ``sig`` is its first ``num_samples`` (tiled when short), so
    that views augmented before the crop (:func:`add_augmented_view` with
    ``crop_to``) and the clean crop share one read.

    Arguments
    ---------
    json_path : str
        Manifest path.
    data_root : str
        Corpus root substituted for ``{data_root}``.
    num_samples : int or None
        Crop length in samples.
    on_error : str
        ``"raise"`` or ``"skip"`` bad audio; with ``"skip"`` use
        :class:`SkipBadItemsCollate` as the DataLoader's ``collate_fn``.
    sample_rate : int or None
        Expected sample rate.
    resample : bool
        Resample files at another rate instead of treating them as bad.
    channel_policy : str
        ``"mean"``, ``"first"`` or ``"error"`` for multi-channel files.
    min_samples : int
        Shortest usable clip before tiling.
    crop : str
        ``"first"`` or ``"random"`` window, see :func:`audio_pipeline`.
    whole_file : bool
        Also provide ``audio``, the whole checked file (``crop="first"``
        only: a random window could not be shared with the views).

    Returns
    -------
    speechbrain.dataio.dataset.DynamicItemDataset
        Items ``id``, ``sig`` and ``label_id``.
    """
    if whole_file and crop != "first":
        raise ValueError(
            f"whole_file=True cuts the first num_samples; crop={crop!r} is not supported"
        )
    dataset = sb.dataio.dataset.DynamicItemDataset.from_json(
        json_path, replacements={"data_root": data_root}
    )
    dataset.add_dynamic_item(
        audio_pipeline(
            None if whole_file else num_samples,
            sample_rate=sample_rate,
            on_error=on_error,
            resample=resample,
            channel_policy=channel_policy,
            min_samples=min_samples,
            crop=crop,
            key="audio" if whole_file else "sig",
        )
    )
    if whole_file:
        dataset.add_dynamic_item(crop_pipeline(num_samples))
    dataset.add_dynamic_item(label_pipeline)
    dataset.set_output_keys(["id", "sig", "label_id"])
    return dataset
