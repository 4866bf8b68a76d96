"""SpeechBrain data pipelines: fixed-length crops and labels.

As in the paper's code, every utterance is reduced to its first ``N`` samples
and clips shorter than ``N`` are tiled by repetition, so batches need no
padding.

Authors
 * dpda contributors 2026
"""

import speechbrain as sb
from speechbrain.dataio.dataio import read_audio

LABEL_TO_INDEX = {"spoof": 0, "bonafide": 1}


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


def audio_pipeline(num_samples):
    """Build the ``wav -> sig`` pipeline with fixed-length crops.

    Only the first ``num_samples`` samples are read from disk.

    Arguments
    ---------
    num_samples : int or None
        Crop length in samples; ``None`` reads the whole file.

    Returns
    -------
    callable
        A SpeechBrain dynamic item.
    """

    @sb.utils.data_pipeline.takes("wav")
    @sb.utils.data_pipeline.provides("sig")
    def pipeline(wav):
        source = wav if num_samples is None else {"file": wav, "stop": num_samples}
        signal = read_audio(source)
        if signal.dim() > 1:
            # Multi-channel audio: keep the first channel.
            signal = signal[:, 0]
        return crop_or_tile(signal, num_samples)

    return pipeline


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


def load_manifest(json_path, data_root, num_samples):
    """Build a ``DynamicItemDataset`` from a manifest written by the recipes.

    Arguments
    ---------
    json_path : str
        Manifest path.
    data_root : str
        Corpus root substituted for ``{data_root}``.
    num_samples : int or None
        Crop length in samples.

    Returns
    -------
    speechbrain.dataio.dataset.DynamicItemDataset
        Items ``id``, ``sig`` and ``label_id``.
    """
    dataset = sb.dataio.dataset.DynamicItemDataset.from_json(
        json_path, replacements={"data_root": data_root}
    )
    dataset.add_dynamic_item(audio_pipeline(num_samples))
    dataset.add_dynamic_item(label_pipeline)
    dataset.set_output_keys(["id", "sig", "label_id"])
    return dataset
