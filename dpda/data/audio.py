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
    path = _existing_path(path, channel_policy)

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

    data, file_rate = _read_frames(path, frames_to_read)
    signal = torch.from_numpy(data)
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


def _existing_path(path, channel_policy):
    """``path`` as a string, once it exists and ``channel_policy`` is known
    (the checks before :func:`read_checked_audio` and
    :func:`stream_checked_audio` read anything)."""
    if channel_policy not in CHANNEL_POLICIES:
        raise ValueError(
            f"channel_policy must be one of {CHANNEL_POLICIES}, got {channel_policy!r}"
        )
    path = os.fspath(path)
    if not os.path.exists(path):
        raise AudioError(path, "file not found")
    return path


def _read_frames(path, frames_to_read):
    """Decode the frames ``frames_to_read(rate, channels)`` asks for
    (-1: all), checked: ``[T, C]`` float32 and the file's rate.

    soundfile reads what libsndfile reads, only the part asked for; PyAV
    decodes the other containers whole. The part read must be as long as
    the header declares, not empty and finite.
    """
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
    if not np.isfinite(data).all():
        bad = int((~np.isfinite(data)).any(axis=1).sum())
        raise AudioError(
            path, f"{bad} non-finite sample(s) (NaN or inf) in the part read"
        )
    return data, file_rate


def _decode_with_pyav(path):
    """Decode a file libsndfile cannot open with PyAV (FFmpeg): ``[T, C]``, rate.

    Used for M4A/AAC, WebM and the other containers that soundfile's
    libsndfile does not read (it reads WAV, FLAC, Ogg, MP3 and Opus itself).
    Frames are converted to planar float32 at the stream's own rate and
    channel layout (:func:`_pyav_frames`); resampling and downmixing stay with
    the caller, so every format goes through the same steps.
    """
    chunks = list(_pyav_frames(path))
    data = np.concatenate([c for c, _ in chunks], axis=1)
    data = data.T.astype(np.float32, copy=False)
    return np.ascontiguousarray(data), chunks[0][1]


def _pyav_frames(path):
    """Decoded frames of a file, one at a time: ``([C, n] float32, rate)``.

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
    decoded = False
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
                    decoded = True
                    yield converted.to_ndarray(), rate
            if resampler is not None:
                for converted in resampler.resample(None):
                    decoded = True
                    yield converted.to_ndarray(), rate
    except AudioError:
        raise
    except (av.error.FFmpegError, ValueError, OSError) as e:
        raise AudioError(path, f"unreadable or corrupt audio ({e})") from None
    if not decoded:
        raise AudioError(
            path,
            "unreadable or corrupt audio (not a format libsndfile reads, and "
            "FFmpeg decodes no audio from it)",
        )


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


#: Windows quieter than this RMS level hold no speech to judge (dBFS, where
#: 0 dBFS is an RMS of 1.0, the full scale of float audio). Speech recorded at
#: a usable gain sits around -35 to -15 dBFS (broadcast loudness targets,
#: ASVspoof and In-the-Wild clips); a quiet room's noise floor around -60
#: dBFS and below. A window 25 dB or more under quiet speech is background at
#: most: too little signal for a detector trained on speech at normal levels.
NO_SPEECH_DBFS = -60.0


def no_speech_reasons(windows, threshold_dbfs=NO_SPEECH_DBFS):
    """Why each window holds no speech to judge, or ``None`` when it may.

    The rule, deliberately simple: a window is *digital silence* when every
    sample is exactly 0, and has *no speech* when its RMS level is below
    ``threshold_dbfs`` (see :data:`NO_SPEECH_DBFS` for why -60 dBFS). It is
    an energy gate, not a voice activity detector: music or loud noise pass
    it and are scored.

    Arguments
    ---------
    windows : torch.Tensor
        ``[N, W]`` waveforms.
    threshold_dbfs : float
        The lowest RMS level, in dBFS, of a window worth judging.

    Returns
    -------
    list
        One entry per window: ``None``, ``"digital silence"`` or
        ``"level below <threshold> dBFS"``.

    Example
    -------
    >>> windows = torch.stack([torch.zeros(800), torch.full((800,), 1e-4),
    ...                        torch.full((800,), 0.1)])
    >>> no_speech_reasons(windows)
    ['digital silence', 'level below -60 dBFS', None]
    """
    power = windows.double().pow(2).mean(dim=1)
    silent = windows.abs().amax(dim=1) == 0
    quiet = power < 10 ** (threshold_dbfs / 10)
    too_low = f"level below {threshold_dbfs:g} dBFS"
    return [
        "digital silence" if s else too_low if q else None
        for s, q in zip(silent.tolist(), quiet.tolist())
    ]


def stream_checked_audio(
    path,
    sample_rate=16000,
    block_frames=2**18,
    channel_policy="mean",
    min_samples=DEFAULT_MIN_SAMPLES,
):
    """Read a whole file block by block, checked as :func:`read_checked_audio`.

    The blocks, concatenated, are ``read_checked_audio(path, None,
    sample_rate, resample=True, channel_policy=...)`` up to float32 rounding
    (resampling keeps enough context at block edges to be exact), while at
    most a few blocks are held in memory whatever the file's length. A bad
    file raises the same :class:`AudioError`; problems that only the end
    reveals (truncated, non-finite samples counted over the whole file, too
    short) are raised after the last block.

    Arguments
    ---------
    path : str or os.PathLike
        Audio file (see :func:`read_checked_audio`).
    sample_rate : int
        Rate of the blocks; other rates are resampled.
    block_frames : int
        Frames read from the file at a time (at its own rate).
    channel_policy : str
        ``"mean"``, ``"first"`` or ``"error"`` (see :func:`read_checked_audio`).
    min_samples : int
        Shortest usable file, in samples at ``sample_rate``.

    Yields
    ------
    torch.Tensor
        Mono float32 blocks ``[n]`` at ``sample_rate``.

    Example
    -------
    >>> import os, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "a.wav")
    >>> sf.write(path, np.random.default_rng(0).uniform(-0.5, 0.5, 44100), 44100)
    >>> blocks = list(stream_checked_audio(path, 16000, block_frames=10000))
    >>> whole = read_checked_audio(path, sample_rate=16000, resample=True)
    >>> len(blocks), torch.cat(blocks).shape == whole.shape
    (6, True)
    >>> float((torch.cat(blocks) - whole).abs().max()) < 1e-6
    True
    """
    path = _existing_path(path, channel_policy)
    resampler, frames = None, 0
    read = bad = out = 0
    for data, file_rate, declared in _source_blocks(path, block_frames, channel_policy):
        frames = declared  # by the header (0: unknown)
        read += data.shape[0]
        finite = np.isfinite(data).all(axis=1)
        if bad or not finite.all():
            bad += int((~finite).sum())  # counted to the end, as a whole read
            continue
        signal = torch.from_numpy(data)
        signal = signal[:, 0] if channel_policy == "first" else signal.mean(dim=1)
        if file_rate != sample_rate:
            resampler = resampler or _BlockResampler(file_rate, sample_rate)
            signal = resampler.push(signal)
        out += signal.shape[0]
        if signal.shape[0]:
            yield signal
    if 0 < frames < _UNKNOWN_FRAMES and read < frames:
        raise AudioError(
            path, f"truncated: read {read} of the {frames} frames the header declares"
        )
    if read == 0:
        raise AudioError(path, "empty audio (0 samples)")
    if bad:
        raise AudioError(
            path, f"{bad} non-finite sample(s) (NaN or inf) in the part read"
        )
    if resampler is not None:
        tail = resampler.flush()
        out += tail.shape[0]
        yield tail
    if out < min_samples:
        raise AudioError(
            path, f"too short: {out} samples, at least {min_samples} needed"
        )


def _source_blocks(path, block_frames, channel_policy):
    """``([n, C] float32, rate, header frames)`` blocks of a file: soundfile
    reads ``block_frames`` at a time, PyAV's frames are gathered to as many
    (its header frames: 0, unknown)."""
    try:
        sound = sf.SoundFile(path)
    except (RuntimeError, OSError, ValueError, EOFError) as e:
        if "Format not recognised" not in str(e):
            raise AudioError(path, f"unreadable or corrupt audio ({e})") from e
        yield from _pyav_blocks(path, block_frames, channel_policy)
        return
    with sound:
        _check_wav_chunk(path, sound.extra_info)
        _check_channels(path, sound.channels, channel_policy)
        while True:
            try:
                data = sound.read(block_frames, dtype="float32", always_2d=True)
            except (RuntimeError, OSError, ValueError, EOFError) as e:
                raise AudioError(path, f"unreadable or corrupt audio ({e})") from e
            if not data.shape[0]:
                return
            yield data, sound.samplerate, sound.frames


def _pyav_blocks(path, block_frames, channel_policy):
    """:func:`_pyav_frames` gathered into blocks of ``block_frames`` or more."""
    chunks, size = [], 0
    for chunk, rate in _pyav_frames(path):
        if not chunks and not size:
            _check_channels(path, chunk.shape[0], channel_policy)
        chunks.append(chunk)
        size += chunk.shape[1]
        if size >= block_frames:
            yield np.ascontiguousarray(np.concatenate(chunks, axis=1).T), rate, 0
            chunks, size = [], -1  # -1: the channels are checked
    if chunks:
        yield np.ascontiguousarray(np.concatenate(chunks, axis=1).T), rate, 0


def _check_channels(path, channels, channel_policy):
    """Raise when a multi-channel file must be mono."""
    if channels > 1 and channel_policy == "error":
        raise AudioError(path, f"{channels} channels, expected mono")


class _BlockResampler:
    """``torchaudio.functional.resample`` of a waveform arriving in blocks.

    torchaudio's sinc resampler turns each run of ``orig`` input samples
    (rates divided by their gcd) into ``new`` output samples, reading
    ``width`` samples beyond the run on each side and zeros beyond the
    signal. Resampling whole runs with at least that much real context on
    both sides, and trimming the outputs of the context, gives the outputs
    of the whole-signal call.
    """

    def __init__(self, orig_freq, new_freq, lowpass_filter_width=6, rolloff=0.99):
        gcd = math.gcd(int(orig_freq), int(new_freq))
        self.rates = int(orig_freq), int(new_freq)
        self.orig, self.new = self.rates[0] // gcd, self.rates[1] // gcd
        # torchaudio's defaults: the half-length of the sinc filter.
        width = math.ceil(
            lowpass_filter_width * self.orig / (min(self.orig, self.new) * rolloff)
        )
        self.context = self.orig * (width // self.orig + 2)
        self.buffer = torch.zeros(0)
        self.buffer_start = 0  # input index of buffer[0]
        self.done = 0  # inputs before this one have their outputs

    def _resample(self, stop):
        """Outputs of inputs ``[done, stop)``; keep ``context`` behind."""
        import torchaudio.functional as AF  # only needed for resampling

        first = max(0, self.done - self.context)
        part = self.buffer[first - self.buffer_start :]
        if stop is not None:
            part = part[: stop + self.context - first]
        out = AF.resample(part, *self.rates)
        skip = (self.done - first) // self.orig * self.new
        count = None if stop is None else (stop - self.done) // self.orig * self.new
        out = out[skip:] if count is None else out[skip : skip + count]
        if stop is not None:
            self.done = stop
            keep = max(0, self.done - self.context) - self.buffer_start
            self.buffer = self.buffer[keep:]
            self.buffer_start += keep
        return out

    def push(self, block):
        """Append input samples; the outputs they complete."""
        self.buffer = torch.cat([self.buffer, block])
        end = self.buffer_start + self.buffer.shape[0]
        stop = (end - self.context) // self.orig * self.orig
        if stop <= self.done:
            return torch.zeros(0)
        return self._resample(stop)

    def flush(self):
        """The outputs of the remaining inputs (the signal has ended)."""
        return self._resample(None)


def audio_duration(path):
    """The duration a file's header declares, in seconds, or ``None``.

    Read from the header only (soundfile, else PyAV's container), for
    progress bars and time estimates; the decoded length is the truth.

    Arguments
    ---------
    path : str or os.PathLike
        Audio file.

    Returns
    -------
    float or None
        ``None`` when the file is missing, not audio or of unknown length.

    Example
    -------
    >>> import os, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "a.wav")
    >>> sf.write(path, np.zeros(24000), 16000)
    >>> audio_duration(path), audio_duration(path + ".missing")
    (1.5, None)
    """
    path = os.fspath(path)
    try:
        info = sf.info(path)
        if info.samplerate > 0 and 0 < info.frames < _UNKNOWN_FRAMES:
            return info.frames / info.samplerate
        return None
    except (RuntimeError, OSError, ValueError, EOFError):
        pass
    try:
        import av

        with av.open(path) as container:
            if container.duration is not None:
                return container.duration / av.time_base
    except Exception:  # broken or not audio: decoding will say why
        pass
    return None
