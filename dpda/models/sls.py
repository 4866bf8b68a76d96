"""SLS back end: sensitive layer selection over all the layers of an SSL model.

The back end of Zhang et al., "Audio Deepfake Detection with
Self-Supervised XLS-R and SLS Classifier" (ACM MM 2024), public code
https://github.com/QiShanZhang/SLSforASVspoof-2021-DF (``model.py``):

1. every transformer layer's output ``h_l`` (``[B, T, D]``, 24 layers for
   XLS-R 300M) is averaged over time and scored by one shared linear layer
   (``fc0``, ``D -> 1``); the sigmoid of the score weighs the layer;
2. the weighted layers are summed into one ``[B, T, D]`` map, seen as a
   one-channel image: batch norm (``first_bn``, ``BatchNorm2d(1)``), SELU,
   3 x 3 max pooling, flattening;
3. ``fc1`` (to 1024), SELU, ``fc3`` (to two classes), SELU, log-softmax.

The flattened map has ``floor(T / 3) * floor(D / 3)`` values (22,847 for
the authors' 201 frames of 1024 dimensions: 64,600 samples), so ``fc1``
fixes the input length: a different number of frames is an error, not a
silent resize. The output is log-probabilities, as the authors': a
cross-entropy on them equals the cross-entropy on logits (log-softmax is
idempotent), and ``exp`` of column 1 is the bona fide probability.

Input: the front end's stacked hidden states ``[L + 1, B, T, D]``
(:class:`dpda.models.ssl.WeightedSSL` with ``layer="all"`` around
SpeechBrain's ``Wav2Vec2``): index 0, the transformer's input (after the
positional convolution), is ignored; 1..L are the layer outputs. These are
the authors' ``layer_results`` (from the fairseq modified in their paper's
supplementary material: stock fairseq fills them only for a target layer):
each layer's output *before* the encoder's final layer norm, which is what
transformers >= 5 stacks at 1..L (transformers 4 put the normalised output
at L). The authors run the SSL model twice per forward, once for its ``x``
(discarded) and once for ``layer_results``; one forward here gives the same
layer outputs (with dropout, the same distribution) at half the cost.

Module names are the authors' (``fc0``, ``first_bn``, ``fc1``, ``fc3``), so
their checkpoint's back-end keys load as ``backend.<key>`` (see
:mod:`dpda.models.checkpoint_mapping`).

Authors
 * dpda contributors 2026
"""

import torch
import torch.nn.functional as F
from torch import nn

#: Kernel sizes and strides of the wav2vec 2.0 / XLS-R feature encoder.
WAV2VEC2_CONV_KERNEL = (10, 3, 3, 3, 3, 2, 2)
WAV2VEC2_CONV_STRIDE = (5, 2, 2, 2, 2, 2, 2)


def ssl_num_frames(
    num_samples, conv_kernel=WAV2VEC2_CONV_KERNEL, conv_stride=WAV2VEC2_CONV_STRIDE
):
    """Number of frames a wav2vec 2.0 feature encoder gives for a waveform.

    Each convolution (no padding) maps ``n`` samples to
    ``floor((n - kernel) / stride) + 1``; for the wav2vec 2.0 family this
    composes to ``floor((n - 400) / 320) + 1``.

    Arguments
    ---------
    num_samples : int
        Waveform length.
    conv_kernel : tuple of int
        Kernel size of each convolution, in order.
    conv_stride : tuple of int
        Stride of each convolution, in order.

    Returns
    -------
    int
        Number of frames (0 when the waveform is shorter than the receptive
        field, 400 samples for wav2vec 2.0).

    Example
    -------
    >>> ssl_num_frames(64600)
    201
    >>> ssl_num_frames(16000), ssl_num_frames(400), ssl_num_frames(399)
    (49, 1, 0)
    """
    n = int(num_samples)
    for kernel, stride in zip(conv_kernel, conv_stride):
        if n < kernel:
            return 0
        n = (n - kernel) // stride + 1
    return n


def _samples_for_frames(
    num_frames, conv_kernel=WAV2VEC2_CONV_KERNEL, conv_stride=WAV2VEC2_CONV_STRIDE
):
    """Shortest and longest waveform giving ``num_frames`` frames.

    Arguments
    ---------
    num_frames : int
        Number of frames (at least 1).
    conv_kernel : tuple of int
        Kernel size of each convolution, in order.
    conv_stride : tuple of int
        Stride of each convolution, in order.

    Returns
    -------
    tuple of int
        ``(shortest, longest)`` number of samples.

    Example
    -------
    >>> _samples_for_frames(201)
    (64400, 64719)
    """
    # Walk back through the convolutions: t outputs need between
    # (t - 1) * stride + kernel and that + stride - 1 inputs.
    low = high = num_frames
    for kernel, stride in zip(reversed(conv_kernel), reversed(conv_stride)):
        low = (low - 1) * stride + kernel
        high = (high - 1) * stride + kernel + stride - 1
    return low, high


class SLS(nn.Module):
    """Sensitive layer selection (SLS) classifier on stacked SSL layers.

    Arguments
    ---------
    input_size : int
        Dimension ``D`` of the SSL features (1024 for XLS-R 300M).
    num_frames : int
        Frames per utterance ``T`` (201: the authors' 64,600 samples, see
        :func:`ssl_num_frames`); sets the input size of ``fc1``.
    n_classes : int
        Number of classes.

    Example
    -------
    >>> sls = SLS(input_size=12, num_frames=9).eval()
    >>> hiddens = torch.randn(4, 2, 9, 12)  # [L + 1, B, T, D]
    >>> log_probs = sls(hiddens)
    >>> log_probs.shape
    torch.Size([2, 2])
    >>> bool(torch.allclose(log_probs.exp().sum(1), torch.ones(2)))
    True
    """

    #: Takes the stacked hidden states [L + 1, B, T, D], not frames
    #: (see :class:`dpda.models.ssl.SSLClassifier`).
    needs_all_layers = True

    def __init__(self, input_size=1024, num_frames=201, n_classes=2):
        super().__init__()
        self.input_size = input_size
        self.num_frames = num_frames
        self.fc0 = nn.Linear(input_size, 1)
        self.first_bn = nn.BatchNorm2d(num_features=1)
        self.fc1 = nn.Linear((num_frames // 3) * (input_size // 3), 1024)
        self.fc3 = nn.Linear(1024, n_classes)

    def layer_weights(self, layers):
        """Sigmoid gate of each layer from its time average (``fc0``).

        Arguments
        ---------
        layers : torch.Tensor
            Transformer layer outputs ``[L, B, T, D]``.

        Returns
        -------
        torch.Tensor
            Weights ``[L, B]`` in (0, 1).

        Example
        -------
        >>> sls = SLS(input_size=6, num_frames=3)
        >>> sls.layer_weights(torch.randn(4, 2, 3, 6)).shape
        torch.Size([4, 2])
        """
        return torch.sigmoid(self.fc0(layers.mean(dim=2))).squeeze(-1)

    def forward(self, hiddens, lengths=None):
        """Log-probabilities ``[B, n_classes]`` from stacked hidden states.

        Arguments
        ---------
        hiddens : torch.Tensor
            ``[L + 1, B, T, D]``: index 0 (the transformer's input) is
            ignored, 1..L are the layer outputs.
        lengths : torch.Tensor, optional
            Unused: SLS works on fixed-length inputs (every frame counts,
            as in the authors' code).

        Returns
        -------
        torch.Tensor
            Log-probabilities ``[B, n_classes]``.
        """
        if hiddens.dim() != 4:
            raise ValueError(
                "SLS needs the stacked hidden states [L + 1, B, T, D] of the "
                "SSL model (WeightedSSL with layer='all'), "
                f"got a tensor of shape {tuple(hiddens.shape)}"
            )
        n_states, _, n_frames, dim = hiddens.shape
        if n_states < 2:
            raise ValueError(
                f"SLS needs at least one transformer layer output after the "
                f"input state, got {n_states} hidden state(s)"
            )
        if dim != self.input_size:
            raise ValueError(
                f"SLS was built for {self.input_size}-dimensional features, got {dim}"
            )
        if n_frames != self.num_frames:
            low, high = _samples_for_frames(self.num_frames)
            raise ValueError(
                f"SLS was built for a fixed input of {self.num_frames} frames "
                f"({low:,} to {high:,} samples for a wav2vec 2.0 front end; the "
                f"authors crop or pad to 64,600 samples for 201 frames), got "
                f"{n_frames} frames: crop or pad the waveforms to that length, "
                f"or build SLS with num_frames={n_frames}"
            )
        layers = hiddens[1:]  # the authors' layer_results: no input embedding
        weights = self.layer_weights(layers)
        fused = torch.einsum("lbtd,lb->btd", layers, weights)
        x = F.selu(self.first_bn(fused.unsqueeze(1)))
        x = torch.flatten(F.max_pool2d(x, (3, 3)), 1)
        x = F.selu(self.fc1(x))
        # SELU before the log-softmax, as the authors' (it bounds the logits
        # from below at -1.758).
        x = F.selu(self.fc3(x))
        return F.log_softmax(x, dim=1)
