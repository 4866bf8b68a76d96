"""Long recordings cut into windows, a block at a time, with a progress bar.

A waveform or an audio file becomes the windows a detector scores:
:func:`split_windows` cuts a waveform held in memory; :func:`stream_windows`
cuts the same windows from blocks as they are decoded
(:func:`dpda.data.audio.stream_checked_audio`), so memory does not grow with
a recording's length; :class:`WindowChunks` does it for many sources in
DataLoader workers, which decode while the model scores; :class:`ProgressBar`
shows the seconds of audio scored and the time left.
:class:`dpda.inference.DeepfakeDetector` scores what these give.

Authors
 * dpda contributors 2026
"""

import os
import sys

import torch
from speechbrain.utils.data_utils import split_path
from speechbrain.utils.fetching import fetch
from tqdm import tqdm

from dpda.data.audio import (
    AudioError,
    audio_duration,
    no_speech_reasons,
    stream_checked_audio,
)
from dpda.data.pipelines import crop_or_tile

#: What makes a file unscorable rather than the run: bad audio, a missing or
#: unreadable file, a remote file that cannot be fetched.
UNREADABLE = (AudioError, OSError, ValueError)


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


#: Samples of a waveform cut into windows at a time (about a minute at 16 kHz).
BLOCK = 2**20


class WindowCutter:
    """The windows of :func:`split_windows` (``first_only``: of
    ``crop_or_tile(signal, width)``) of a waveform arriving in blocks, holding
    no more than a window and a block of it."""

    def __init__(self, width, hop, first_only=False):
        self.width, self.hop, self.first_only = width, hop, first_only
        self.buffer = torch.zeros(0)
        self.buffer_start = 0  # sample index of buffer[0]
        self.length = 0
        self.next_start = 0  # of the next regular window
        self.count = 0  # windows given so far

    def push(self, block):
        """Append samples; the windows they complete, ``(starts, [k, W])``."""
        self.length += block.shape[0]
        if self.first_only and self.count:
            return [], None  # the file is only counted from now on
        self.buffer = torch.cat([self.buffer, block])
        last = self.length - self.width  # the last start a window fits at
        if last < self.next_start:
            return [], None
        count = 1 if self.first_only else (last - self.next_start) // self.hop + 1
        offset = self.next_start - self.buffer_start
        windows = self.buffer[offset:].unfold(0, self.width, self.hop)[:count]
        starts = [self.next_start + i * self.hop for i in range(count)]
        self.next_start += count * self.hop
        self.count += count
        # Keep the last window's worth: the tail window may need it.
        keep = min(self.next_start, self.length - self.width) - self.buffer_start
        if self.first_only:
            keep = self.buffer.shape[0]
        self.buffer = self.buffer[keep:].clone()
        self.buffer_start += keep
        return starts, windows.clone()

    def finish(self):
        """The last windows once the waveform has ended: a short waveform's
        one window, tiled, or the window aligned with the end."""
        if self.count == 0 and self.length:
            return [0], crop_or_tile(self.buffer, self.width)[None]
        if self.first_only or (self.length - self.width) % self.hop == 0:
            return [], None
        start = self.length - self.width
        self.count += 1
        return [start], self.buffer[start - self.buffer_start :][None].clone()


def stream_windows(blocks, width, hop, first_only=False):
    """The windows of :func:`split_windows` over a waveform arriving in blocks.

    What ``split_windows(torch.cat(blocks), width, hop)`` gives (with
    ``first_only``: ``crop_or_tile(torch.cat(blocks), width)[None]``, the
    first window), given as soon as each window is complete and holding no
    more than a window and a block, so a recording of any length can be cut.

    Arguments
    ---------
    blocks : iterable of torch.Tensor
        Consecutive parts of a 1-D waveform, of any lengths.
    width, hop : int
        Window length and hop, in samples.
    first_only : bool
        Only the first window (the rest is read, not kept).

    Yields
    ------
    starts : list of int
        The first sample of each window.
    windows : torch.Tensor
        ``[len(starts), width]``.

    Example
    -------
    >>> signal = torch.arange(11.0)
    >>> [s for starts, _ in stream_windows(signal.split(2), 4, 3) for s in starts]
    [0, 3, 6, 7]
    >>> [w.tolist() for _, w in stream_windows(signal[:3].split(1), 4, 3)]
    [[[0.0, 1.0, 2.0, 0.0]]]
    """
    cutter = WindowCutter(width, hop, first_only)
    for block in blocks:
        starts, windows = cutter.push(block)
        if starts:
            yield starts, windows
    starts, windows = cutter.finish()
    if starts:
        yield starts, windows


def read_blocks(source, sample_rate):
    """A waveform in blocks: a tensor split, or a file streamed (a remote
    one fetched first) by :func:`dpda.data.audio.stream_checked_audio`."""
    if isinstance(source, torch.Tensor):
        return source.detach().cpu().split(BLOCK)
    path = str(source)
    if not os.path.exists(path):
        source, name = split_path(path)
        path = str(fetch(name, source=source))
    return stream_checked_audio(path, sample_rate, channel_policy="mean")


class WindowChunks(torch.utils.data.IterableDataset):
    """The windows of waveforms or files, decoded and cut in chunks of at
    most ``chunk`` windows, in items ``(index, kind, payload)``: ``windows``
    with ``(starts, [k, W], no-speech reasons)``, then ``end`` with the
    length in samples, or ``error`` with the :data:`UNREADABLE` error. In a
    DataLoader, worker ``i`` of ``n`` reads the files ``i, i + n, ...``."""

    def __init__(self, sources, sample_rate, width, hop, first_only, chunk):
        self.sources, self.sample_rate = sources, sample_rate
        self.cut = (width, hop, first_only)
        self.chunk = chunk

    def __iter__(self):
        info = torch.utils.data.get_worker_info()
        first, step = (0, 1) if info is None else (info.id, info.num_workers)
        for index in range(first, len(self.sources), step):
            yield from self._items(index)

    def _items(self, index):
        length = 0

        def counted(blocks):
            """The blocks as they come, adding up their length."""
            nonlocal length
            for block in blocks:
                length += block.shape[0]
                yield block

        try:
            blocks = counted(read_blocks(self.sources[index], self.sample_rate))
            for starts, windows in stream_windows(blocks, *self.cut):
                yield from self._chunks(index, starts, windows)
        except UNREADABLE as error:
            yield index, "error", error
            return
        yield index, "end", length

    def _chunks(self, index, starts, windows):
        for i in range(0, len(starts), self.chunk):
            part = windows[i : i + self.chunk]
            payload = starts[i : i + self.chunk], part, no_speech_reasons(part)
            yield index, "windows", payload


class ProgressBar:
    """A progress bar on stderr over the seconds of audio decoded and scored,
    with the time left: its total is the sum of the durations the headers
    declare (0 for a file that has none, e.g. a missing one)."""

    def __init__(self, sources, sample_rate, cut, enabled):
        self.bar, self.rate, self.hop = None, sample_rate, cut[1]
        if not enabled:
            return
        self.durations = [
            s.shape[0] / sample_rate
            if isinstance(s, torch.Tensor)
            else audio_duration(str(s)) or 0.0
            for s in sources
        ]
        self.credited = [0.0] * len(sources)
        total = sum(self.durations)
        self.bar = tqdm(
            total=total or None,
            desc="audio scored",
            file=sys.stderr,
            dynamic_ncols=True,
            bar_format="{desc}: {percentage:3.0f}%|{bar}| {n:.1f}/{total:.1f} s "
            "[{elapsed}<{remaining}]"
            if total
            else None,
        )

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        if self.bar is not None:
            self.bar.close()

    def _credit(self, index, seconds):
        if seconds > self.credited[index]:
            self.bar.update(seconds - self.credited[index])
            self.credited[index] = seconds

    def windows(self, index, start):
        """Windows of source ``index`` up to the one at ``start`` are done."""
        if self.bar is not None:
            seconds = (start + self.hop) / self.rate
            self._credit(index, min(seconds, self.durations[index] or seconds))

    def done(self, index, length):
        """Source ``index`` has ended (``length`` samples; ``None``: failed)."""
        if self.bar is not None:
            seconds = self.durations[index] if length is None else length / self.rate
            self._credit(index, seconds)


def collate_as_list(items):
    """The DataLoader collate of :class:`WindowChunks`: items as they are."""
    return items
