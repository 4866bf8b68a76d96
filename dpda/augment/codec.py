"""Lossy-codec augmentation: MP3, Opus, AAC, AMR-NB and G.711, in memory.

Real-world audio (In-the-Wild, ASVspoof 5) reaches a detector through lossy
codecs. :class:`Codec` encodes a waveform with a codec drawn at random, at a
bitrate drawn from that codec's configured range, decodes it back, removes
the codec's delay and returns a waveform of the input's length and rate. It
runs on the CPU (FFmpeg's encoders through PyAV), so it belongs in the data
loader's workers, not in ``fit_batch``.

PyAV is used for every codec, including MP3 and Opus that soundfile's
libsndfile 1.2 also writes: libsndfile sets their quality by a 0-1
compression level, not by a bitrate, and a bitrate range in kbit/s is what
codec-augmentation recipes and the ASVspoof 5 conditions are stated in.
Each codec is checked when :class:`Codec` is built: one the installed FFmpeg
cannot encode fails then, naming it and the ones available, not in the
middle of training.

The draws use torch's default generator, which SpeechBrain seeds per run
and per data-loader worker: a seeded run gets the same codecs and bitrates,
and the encoders themselves are deterministic.

Authors
 * dpda contributors 2026
"""

import io

import numpy as np
import torch

#: name -> (FFmpeg encoder, container, encoder rate in Hz, default kbit/s range).
#: AMR-NB and G.711 are narrow-band (8 kHz): the signal is resampled down and
#: back, as a telephone line would.
CODECS = {
    "mp3": ("libmp3lame", "mp3", 16000, (16, 64)),
    "opus": ("libopus", "ogg", 16000, (6, 32)),
    "aac": ("aac", "adts", 16000, (16, 64)),
    "amr_nb": ("libopencore_amrnb", "amr", 8000, (4.75, 12.2)),
    "g711_mulaw": ("pcm_mulaw", "wav", 8000, (64, 64)),
    "g711_alaw": ("pcm_alaw", "wav", 8000, (64, 64)),
}
# AMR-NB encodes at 8 modes only.
AMR_NB_RATES = (4.75, 5.15, 5.9, 6.7, 7.4, 7.95, 10.2, 12.2)


def available_codecs():
    """The names of :data:`CODECS` whose encoder the installed PyAV has.

    Returns
    -------
    list of str
        Codec names, in :data:`CODECS` order.

    Example
    -------
    >>> "mp3" in available_codecs() and "aac" in available_codecs()
    True
    """
    import av

    names = []
    for name, (encoder, *_rest) in CODECS.items():
        try:
            av.codec.Codec(encoder, "w")
        except (av.codec.codec.UnknownCodecError, ValueError):
            continue
        names.append(name)
    return names


def _resample(signal, rate_in, rate_out):
    """``signal`` (float32 numpy) from ``rate_in`` to ``rate_out`` Hz."""
    if rate_in == rate_out:
        return signal
    import torchaudio.functional as AF

    return AF.resample(torch.from_numpy(signal), rate_in, rate_out).numpy()


def encode(signal, sample_rate, codec, kbps):
    """Encode a mono waveform in memory; return the file's bytes.

    Arguments
    ---------
    signal : numpy.ndarray
        Mono float32 waveform in [-1, 1].
    sample_rate : int
        Its rate in Hz (resampled to the codec's rate first).
    codec : str
        A name of :data:`CODECS`.
    kbps : float
        Bitrate in kbit/s (ignored by G.711, fixed at 64).

    Returns
    -------
    bytes
        The encoded file (MP3, Ogg Opus, ADTS AAC, AMR or G.711 WAV), readable
        by any decoder.

    Example
    -------
    >>> data = encode(np.zeros(16000, dtype=np.float32), 16000, "mp3", 32)
    >>> data[:3] in (b"ID3", b"\\xff\\xfb", b"\\xff\\xf3")
    True
    """
    import av

    encoder, container_format, rate, _ = CODECS[codec]
    samples = _resample(np.asarray(signal, dtype=np.float32), sample_rate, rate)
    out = io.BytesIO()
    with av.open(out, "w", format=container_format) as container:
        stream = container.add_stream(encoder, rate=rate)
        stream.layout = "mono"
        if not encoder.startswith("pcm_"):
            stream.bit_rate = int(round(kbps * 1000))
        frame = av.AudioFrame.from_ndarray(
            np.ascontiguousarray(samples[None]), format="fltp", layout="mono"
        )
        frame.sample_rate = rate
        for packet in stream.encode(frame):
            container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    return out.getvalue()


def decode(data, sample_rate):
    """Decode an encoded file (bytes) to a mono float32 waveform at ``sample_rate``.

    Arguments
    ---------
    data : bytes
        An audio file, as :func:`encode` writes.
    sample_rate : int
        The rate to return.

    Returns
    -------
    numpy.ndarray
        The decoded waveform.
    """
    import av

    chunks, rate = [], None
    with av.open(io.BytesIO(data)) as container:
        stream = container.streams.audio[0]
        resampler = None
        for frame in container.decode(stream):
            if resampler is None:
                rate = frame.sample_rate
                resampler = av.AudioResampler(format="fltp", layout="mono", rate=rate)
            for converted in resampler.resample(frame):
                chunks.append(converted.to_ndarray()[0])
        if resampler is not None:
            for converted in resampler.resample(None):
                chunks.append(converted.to_ndarray()[0])
    signal = (
        np.concatenate(chunks).astype(np.float32) if chunks else np.zeros(0, np.float32)
    )
    return _resample(signal, rate or sample_rate, sample_rate)


def align(reference, decoded, max_delay):
    """``decoded`` shifted by the codec's delay and cut or padded to ``reference``.

    The delay is the lag in ``[0, max_delay]`` that maximises the cross
    correlation of the two signals (encoders add priming samples at the
    start; none shifts the signal earlier).

    Arguments
    ---------
    reference : numpy.ndarray
        The codec's input.
    decoded : numpy.ndarray
        Its output.
    max_delay : int
        Largest delay searched, in samples.

    Returns
    -------
    numpy.ndarray
        ``decoded`` aligned, of ``len(reference)`` samples.

    Example
    -------
    >>> x = np.sin(np.arange(1000) / 7).astype(np.float32)
    >>> y = np.concatenate([np.zeros(37, np.float32), x])
    >>> bool(np.allclose(align(x, y, 100), x))
    True
    """
    n = len(reference)
    padded = np.concatenate(
        [decoded, np.zeros(max(0, n + max_delay - len(decoded)), np.float32)]
    )
    size = 1 << int(np.ceil(np.log2(n + max_delay + n)))
    spectrum = np.fft.rfft(padded[: n + max_delay], size) * np.conj(
        np.fft.rfft(reference, size)
    )
    correlation = np.fft.irfft(spectrum, size)[: max_delay + 1]
    delay = int(np.argmax(correlation))
    return padded[delay : delay + n].astype(np.float32)


class Codec:
    """Random lossy-codec round trip of one waveform (data-loader side).

    As a DPDA path (``augment_paths``) it runs in the DataLoader's workers
    (``loader_side``), which hand the codec view of each training utterance
    to the training loop; ``epoch``, set by the training loop, seeds the
    draws with the utterance id (:func:`dpda.data.pipelines.add_augmented_view`).

    Arguments
    ---------
    codecs : sequence of str or dict
        Codec names of :data:`CODECS` (each with its default bitrate range),
        or ``{name: [low_kbps, high_kbps]}``.
    sample_rate : int
        Rate of the waveforms in Hz.
    max_delay : int
        Largest codec delay searched when aligning, in samples.

    Example
    -------
    >>> _ = torch.manual_seed(0)
    >>> codec = Codec({"mp3": [16, 32], "opus": [8, 12]})
    >>> x = torch.randn(16000) * 0.1
    >>> y = codec(x)
    >>> y.shape, y.dtype, codec.last
    (torch.Size([16000]), torch.float32, ('opus', 11))
    >>> Codec(["mp3", "speex"])
    Traceback (most recent call last):
    ...
    ValueError: codec 'speex' is not available; available: mp3, opus, aac, amr_nb, g711_mulaw, g711_alaw
    """

    loader_side = True  # applied to one CPU waveform, in the data workers
    epoch = 0  # the training epoch, set by DPDABrain

    def __init__(
        self, codecs=("mp3", "opus", "aac"), sample_rate=16000, max_delay=4096
    ):
        if isinstance(codecs, dict):
            ranges = {name: tuple(bounds) for name, bounds in codecs.items()}
        else:
            ranges = {
                name: CODECS[name][3] if name in CODECS else None for name in codecs
            }
        if not ranges:
            raise ValueError("Codec needs at least one codec")
        available = available_codecs()
        for name, bounds in ranges.items():
            if name not in available:
                raise ValueError(
                    f"codec {name!r} is not available; available: {', '.join(available)}"
                )
            if len(bounds) != 2 or not 0 < bounds[0] <= bounds[1]:
                raise ValueError(
                    f"{name}: bitrate range must be [low, high] kbps, got {bounds}"
                )
            # Fail now, not in a worker: one short round trip per codec.
            decode(
                encode(
                    np.zeros(sample_rate // 10, np.float32),
                    sample_rate,
                    name,
                    bounds[0],
                ),
                sample_rate,
            )
        self.ranges = ranges
        self.names = list(ranges)
        self.sample_rate = int(sample_rate)
        self.max_delay = int(max_delay)
        self.last = None

    def draw(self):
        """A codec name and a bitrate (kbit/s), from torch's generator."""
        name = self.names[int(torch.randint(len(self.names), ()).item())]
        low, high = self.ranges[name]
        if name == "amr_nb":
            modes = [r for r in AMR_NB_RATES if low <= r <= high] or [AMR_NB_RATES[0]]
            return name, modes[int(torch.randint(len(modes), ()).item())]
        kbps = low + float(torch.rand(())) * (high - low)
        return name, int(round(kbps))

    def __call__(self, wav):
        """Encode and decode ``wav`` (``[T]``, CPU) with a random codec and bitrate."""
        name, kbps = self.draw()
        self.last = (name, kbps)
        x = wav.detach().cpu().numpy().astype(np.float32)
        y = decode(encode(x, self.sample_rate, name, kbps), self.sample_rate)
        return torch.from_numpy(align(x, y, self.max_delay))
