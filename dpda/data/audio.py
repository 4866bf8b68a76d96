"""Checked audio reading: one clear error per bad file.

Large corpora hold a few bad files (truncated downloads, empty or silent
stubs, NaN written by a broken converter, a stray 44.1 kHz or stereo clip).
Read unchecked, they crash a run hours in with a message that names no file,
or they train silently on garbage. :func:`read_checked_audio` reads a file
with soundfile (one open: header, then the first ``num_samples`` frames) and
raises :class:`AudioError`, naming the file and the problem, for each case.

Authors
 * dpda contributors 2026
"""

import math
import os
import re

import numpy as np
import soundfile as sf
import torch

# 25 ms at 16 kHz: the receptive field of one frame of the wav2vec2 / XLS-R
# convolutional feature encoder (shorter input yields no frame at all), and of
# one usual STFT window. Anything shorter carries no usable speech.
DEFAULT_MIN_SAMPLES = 400
CHANNEL_POLICIES = ("mean", "first", "error")

# libsndfile's header log flags a WAV data chunk cut short as
# "data : <declared> (should be <present>)".
_SHORT_CHUNK = re.compile(r"^data\s*:\s*(\d+)\s*\(should be (\d+)\)", re.MULTILINE)
# Streamed WAV writers (e.g. ffmpeg to a pipe) leave a placeholder size.
_UNKNOWN_CHUNK_SIZES = (0, 0xFFFFFFFF)
# Frame count libsndfile reports when the length is unknown.
_UNKNOWN_FRAMES = 2**62


class AudioError(ValueError):
    """An audio file that cannot be used; the message names file and problem.

    Arguments
    ---------
    path : str
        The file.
    problem : str
        What is wrong with it.

    Example
    -------
    >>> err = AudioError("a.wav", "empty audio (0 samples)")
    >>> str(err), err.path, err.problem
    ('a.wav: empty audio (0 samples)', 'a.wav', 'empty audio (0 samples)')
    """

    def __init__(self, path, problem):
        super().__init__(f"{path}: {problem}")
        self.path = str(path)
        self.problem = problem

    def __reduce__(self):
        # Keep the two-argument constructor picklable (DataLoader workers
        # send exceptions back to the main process).
        return (type(self), (self.path, self.problem))


def read_checked_audio(
    path,
    num_samples=None,
    sample_rate=16000,
    resample=False,
    channel_policy="mean",
    min_samples=DEFAULT_MIN_SAMPLES,
):
    """Read the first ``num_samples`` samples of a file, or raise AudioError.

    Checks, in order: the file opens and decodes (missing, corrupt,
    truncated), the rate is ``sample_rate`` (or resamples), the channel count
    (downmix policy), at least one sample, all samples finite, and at least
    ``min(min_samples, num_samples)`` samples. Only the part read is decoded
    and checked: a FLAC cut after the first ``num_samples`` passes.

    Arguments
    ---------
    path : str or os.PathLike
        Audio file: any format libsndfile reads (WAV, FLAC, Ogg, MP3,
        Opus...), and through PyAV the others (M4A/AAC, WebM...).
    num_samples : int or None
        Samples to return at most, at ``sample_rate``; ``None`` reads the
        whole file.
    sample_rate : int or None
        Expected rate in Hz; ``None`` accepts any rate.
    resample : bool
        On a rate mismatch, resample to ``sample_rate`` instead of raising.
    channel_policy : str
        Multi-channel files: ``"mean"`` downmixes, ``"first"`` keeps channel
        0, ``"error"`` raises.
    min_samples : int
        Shortest usable clip (before any tiling), in samples at
        ``sample_rate``. The default, 400 (25 ms at 16 kHz), is one frame of
        the wav2vec2 feature encoder.

    Returns
    -------
    torch.Tensor
        Mono float32 waveform of shape ``[T]``, ``T <= num_samples``.

    Raises
    ------
    AudioError
        Naming the file and the problem.

    Example
    -------
    >>> import os, tempfile
    >>> import numpy as np
    >>> path = os.path.join(tempfile.mkdtemp(), "a.wav")
    >>> sf.write(path, np.full((800, 2), 0.25), 16000)
    >>> read_checked_audio(path, num_samples=500).shape
    torch.Size([500])
    >>> read_checked_audio(path, channel_policy="error")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    dpda.data.audio.AudioError: ...a.wav: 2 channels, expected mono
    >>> read_checked_audio(path, sample_rate=8000)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    dpda.data.audio.AudioError: ...a.wav: sample rate 16000 Hz, expected 8000 Hz
    """
    if channel_policy not in CHANNEL_POLICIES:
        raise ValueError(
            f"channel_policy must be one of {CHANNEL_POLICIES}, got {channel_policy!r}"
        )
    path = os.fspath(path)
    if not os.path.exists(path):
        raise AudioError(path, "file not found")

    def rate_ok(file_rate):
        """Whether the file is at the expected rate (or any rate is accepted)."""
        return sample_rate is None or file_rate == sample_rate

    def frames_to_read(file_rate, channels):
        """Check the rate and channels; the source frames to read (-1: all)."""
        if not rate_ok(file_rate) and not resample:
            raise AudioError(
                path, f"sample rate {file_rate} Hz, expected {sample_rate} Hz"
            )
        if channels > 1 and channel_policy == "error":
            raise AudioError(path, f"{channels} channels, expected mono")
        if num_samples is None:
            return -1
        if rate_ok(file_rate):
            return num_samples
        # Enough source frames to give num_samples after resampling.
        return math.ceil(num_samples * file_rate / sample_rate)

    try:
        with sf.SoundFile(path) as f:
            file_rate, frames = f.samplerate, f.frames
            _check_wav_chunk(path, f.extra_info)
            to_read = frames_to_read(file_rate, f.channels)
            data = f.read(frames=to_read, dtype="float32", always_2d=True)
    except AudioError:
        raise
    except (RuntimeError, OSError, ValueError, EOFError) as e:
        if "Format not recognised" not in str(e):
            raise AudioError(path, f"unreadable or corrupt audio ({e})") from e
        # A container libsndfile does not read (M4A/AAC, WebM, ...): PyAV.
        data, file_rate = _decode_with_pyav(path)
        frames = data.shape[0]
        to_read = frames_to_read(file_rate, data.shape[1])
        if to_read >= 0:
            data = data[:to_read]

    expected = frames if to_read < 0 else min(frames, to_read)
    if 0 < frames < _UNKNOWN_FRAMES and data.shape[0] < expected:
        raise AudioError(
            path,
            f"truncated: read {data.shape[0]} of the {expected} frames "
            "the header declares",
        )
    if data.shape[0] == 0:
        raise AudioError(path, "empty audio (0 samples)")

    signal = torch.from_numpy(data)
    if not torch.isfinite(signal).all():
        bad = int((~torch.isfinite(signal)).any(dim=1).sum())
        raise AudioError(
            path, f"{bad} non-finite sample(s) (NaN or inf) in the part read"
        )
    signal = signal[:, 0] if channel_policy == "first" else signal.mean(dim=1)

    if not rate_ok(file_rate):
        import torchaudio.functional as AF  # only needed for resampling

        signal = AF.resample(signal, file_rate, sample_rate)
        if num_samples is not None:
            signal = signal[:num_samples]

    needed = min_samples if num_samples is None else min(min_samples, num_samples)
    if signal.shape[0] < needed:
        raise AudioError(
            path,
            f"too short: {signal.shape[0]} samples, at least {needed} needed",
        )
    return signal


def _decode_with_pyav(path):
    """Decode a file libsndfile cannot open with PyAV (FFmpeg): ``[T, C]``, rate.

    Used for M4A/AAC, WebM and the other containers that soundfile's
    libsndfile does not read (it reads WAV, FLAC, Ogg, MP3 and Opus itself).
    Frames are converted to planar float32 at the stream's own rate and
    channel layout; resampling and downmixing stay with the caller, so every
    format goes through the same steps.

    Raises
    ------
    AudioError
        When PyAV is missing, or the file holds no decodable audio stream.
    """
    try:
        import av
    except ImportError:  # pragma: no cover - av is a declared dependency
        raise AudioError(
            path, "format not read by soundfile, and PyAV is missing"
        ) from None
    chunks = []
    try:
        with av.open(path) as container:
            if not container.streams.audio:
                raise AudioError(path, "unreadable or corrupt audio (no audio stream)")
            stream = container.streams.audio[0]
            resampler = None
            for frame in container.decode(stream):
                if resampler is None:
                    resampler = av.AudioResampler(
                        format="fltp", layout=frame.layout, rate=frame.sample_rate
                    )
                    rate = frame.sample_rate
                for converted in resampler.resample(frame):
                    chunks.append(converted.to_ndarray())
            if resampler is not None:
                for converted in resampler.resample(None):
                    chunks.append(converted.to_ndarray())
    except AudioError:
        raise
    except (av.error.FFmpegError, ValueError, OSError) as e:
        raise AudioError(path, f"unreadable or corrupt audio ({e})") from None
    if not chunks:
        raise AudioError(
            path,
            "unreadable or corrupt audio (not a format libsndfile reads, and "
            "FFmpeg decodes no audio from it)",
        )
    data = np.concatenate(chunks, axis=1).T.astype(np.float32, copy=False)
    return np.ascontiguousarray(data), rate


def _check_wav_chunk(path, header_log):
    """Raise if a WAV data chunk holds fewer bytes than its header declares.

    libsndfile silently shortens such files, so a cut download would
    otherwise pass as a shorter clip.
    """
    match = _SHORT_CHUNK.search(header_log)
    if match is None:
        return
    declared, present = int(match.group(1)), int(match.group(2))
    if declared not in _UNKNOWN_CHUNK_SIZES and present < declared:
        raise AudioError(
            path,
            f"truncated: data chunk holds {present} of the {declared} bytes "
            "the header declares",
        )
