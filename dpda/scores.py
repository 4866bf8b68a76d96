"""Scores: from a model's logits to the official score files.

A trial's score is the bona fide logit of the model (higher = more bona
fide), as in the authors' code and the ASVspoof evaluation packages. This
module is the one path from a model to scores (:func:`score_batch`, and
:func:`score_dataset` for a data set), used by the training-time evaluation
(:class:`dpda.brain.AntiSpoofBrain`) and the detector
(:class:`dpda.inference.DeepfakeDetector`, whose ``score_dataset`` the
evaluation script calls), and it owns the score-file format, ``UTT_ID SCORE``
per line (:func:`write_scores`, :func:`read_score_file`).

Authors
 * dpda contributors 2026
"""

import contextlib
import math

import torch
from speechbrain.dataio.batch import PaddedBatch
from tqdm import tqdm

from dpda.data.listing import FirstSeen, ProtocolError, numbered_fields
from dpda.files import open_atomic
from dpda.labels import BONAFIDE_INDEX


def bonafide_scores(logits):
    """The scores of a batch: the bona fide logits, in float32.

    Arguments
    ---------
    logits : torch.Tensor
        ``[B, 2]`` logits (index 0 spoof, 1 bona fide).

    Returns
    -------
    torch.Tensor
        ``[B]`` scores, higher = more bona fide.

    Example
    -------
    >>> bonafide_scores(torch.tensor([[0.5, 2.0], [1.0, -1.0]])).tolist()
    [2.0, -1.0]
    """
    return logits[:, BONAFIDE_INDEX].float()


@torch.no_grad()
def score_batch(model, wavs, lengths, precision=None):
    """Score a padded batch of waveforms with a countermeasure.

    Arguments
    ---------
    model : torch.nn.Module
        ``model(wavs, relative_lengths) -> logits [B, 2]``, in eval mode.
    wavs : torch.Tensor
        ``[B, T]`` waveforms on the model's device.
    lengths : torch.Tensor
        ``[B]`` relative lengths.
    precision : torch.dtype, optional
        Autocast dtype (e.g. ``torch.bfloat16``); ``None`` keeps the
        caller's settings.

    Returns
    -------
    torch.Tensor
        ``[B]`` scores on the model's device.

    Example
    -------
    >>> class Energy(torch.nn.Module):
    ...     def forward(self, wavs, lengths=None):
    ...         e = wavs.pow(2).mean(dim=1)
    ...         return torch.stack([-e, e], dim=1)
    >>> score_batch(Energy(), torch.ones(2, 4), torch.ones(2)).tolist()
    [1.0, 1.0]
    """
    autocast = (
        torch.autocast(wavs.device.type, dtype=precision)
        if precision is not None
        else contextlib.nullcontext()
    )
    with autocast:
        return bonafide_scores(model(wavs, lengths))


def length_sorted_batches(lengths, batch_size):
    """Group item indices into batches of similar length (longest first).

    Padding is what makes batched scoring of whole files slow and, with some
    models, slightly different from scoring each file alone; sorting by
    length keeps it to a minimum.

    Arguments
    ---------
    lengths : list of int
        Length of each item.
    batch_size : int
        Items per batch.

    Returns
    -------
    list of list of int
        Index batches, for a DataLoader's ``batch_sampler``.

    Example
    -------
    >>> length_sorted_batches([5, 50, 7, 49, 6], 2)
    [[1, 3], [2, 4], [0]]
    """
    order = sorted(range(len(lengths)), key=lambda i: (-lengths[i], i))
    return [order[i : i + batch_size] for i in range(0, len(order), batch_size)]


def score_dataset(
    model,
    dataset,
    batch_size=32,
    num_workers=0,
    device="cpu",
    lengths=None,
    collate_fn=None,
    progress=True,
    precision=None,
):
    """Score every item of a dataset with a countermeasure.

    Arguments
    ---------
    model : torch.nn.Module
        ``model(wavs, relative_lengths) -> logits [B, 2]``; the score is the
        bona fide logit (higher = more bona fide).
    dataset : torch.utils.data.Dataset
        Items with ``id`` and ``sig`` (e.g. from
        :func:`dpda.data.pipelines.load_manifest`).
    batch_size : int
        Items per forward pass.
    num_workers : int
        DataLoader workers that read the audio.
    device : str
        Where the model runs.
    lengths : list of int, optional
        Item lengths: batches are then built from items of similar length.
    collate_fn : callable, optional
        Defaults to ``PaddedBatch``; a skipping collate may return ``None``
        for a batch whose audio was all unreadable.
    progress : bool
        Show a progress bar.
    precision : torch.dtype, optional
        Autocast dtype (e.g. ``torch.bfloat16``); ``None`` for full precision.

    Returns
    -------
    ids : list of str
    scores : list of float

    Example
    -------
    >>> from dpda.models.raw_cnn import RawCNN
    >>> data = [{"id": f"u{i}", "sig": torch.randn(800)} for i in range(3)]
    >>> ids, scores = score_dataset(RawCNN(channels=[4], kernel_size=33), data,
    ...                             batch_size=2, progress=False)
    >>> ids, len(scores)
    (['u0', 'u1', 'u2'], 3)
    """
    collate_fn = collate_fn or PaddedBatch
    if lengths is not None:
        loader = torch.utils.data.DataLoader(
            dataset,
            batch_sampler=length_sorted_batches(lengths, batch_size),
            num_workers=num_workers,
            collate_fn=collate_fn,
        )
    else:
        loader = torch.utils.data.DataLoader(
            dataset,
            batch_size=batch_size,
            num_workers=num_workers,
            collate_fn=collate_fn,
        )
    model.eval()
    ids, scores = [], []
    for batch in tqdm(loader, disable=not progress, desc="scoring"):
        if batch is None:
            continue
        wavs, lens = batch.sig
        batch_scores = score_batch(model, wavs.to(device), lens.to(device), precision)
        scores.extend(batch_scores.cpu().tolist())
        ids.extend(batch.id)
    return ids, scores


def write_scores(path, ids, scores):
    """Write an official ``UTT_ID SCORE`` score file atomically.

    Arguments
    ---------
    path : str
        Destination file.
    ids : list of str
        Trial ids.
    scores : list of float
        Scores (higher = more bona fide).

    Example
    -------
    >>> import os, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "scores.txt")
    >>> write_scores(path, ["LA_E_1", "LA_E_2"], [1.5, -0.25])
    >>> read_score_file(path)
    {'LA_E_1': 1.5, 'LA_E_2': -0.25}
    """
    with open_atomic(path) as f:
        for utt_id, score in zip(ids, scores):
            f.write(f"{utt_id} {score:.6f}\n")


def read_score_file(path):
    """Read a score file of ``UTT_ID SCORE`` lines, strictly.

    Blank lines and surrounding whitespace are tolerated; anything else that
    is not exactly an id and a finite number is an error.

    Arguments
    ---------
    path : str
        The score file.

    Returns
    -------
    dict
        ``{utt_id: score}`` in file order.

    Raises
    ------
    ValueError
        On a malformed line, a non-finite score or a duplicate id, naming the
        file and the line; or when the file holds no score.

    Example
    -------
    >>> import os, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "scores.txt")
    >>> _ = open(path, "w").write("LA_E_1 1.5\\nLA_E_2 -0.25\\n")
    >>> read_score_file(path)
    {'LA_E_1': 1.5, 'LA_E_2': -0.25}
    """
    scores = {}
    seen = FirstSeen("id")
    for lineno, where, row in numbered_fields(path, ("UTT_ID", "SCORE")):
        try:
            score = float(row["SCORE"])
        except ValueError:
            raise ProtocolError(
                f"{where}: score {row['SCORE']!r} is not a number"
            ) from None
        if not math.isfinite(score):
            raise ProtocolError(f"{where}: score {row['SCORE']!r} is not finite")
        seen.add(row["UTT_ID"], where, f"line {lineno}")
        scores[row["UTT_ID"]] = score
    if not scores:
        raise ProtocolError(f"{path}: no scores found")
    return scores
