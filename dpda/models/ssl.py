"""An SSL front end (e.g. XLS-R) followed by a back-end classifier.

The front end is any module mapping ``(wavs, lengths)`` to frame features
``[B, T, D]``, typically SpeechBrain's
``speechbrain.integrations.huggingface.wav2vec2.Wav2Vec2`` built in the hparams
file. The back end maps the features to logits.

Authors
 * dpda contributors 2026
"""

from torch import nn

from dpda.models.pooling import masked_mean_std


class SSLClassifier(nn.Module):
    """Compose an SSL front end and a back end into one classifier.

    Arguments
    ---------
    ssl : torch.nn.Module
        Front end: ``ssl(wavs, lengths) -> [B, T, D]``.
    backend : torch.nn.Module
        Back end: ``backend(feats, lengths) -> [B, n_classes]``.

    Example
    -------
    >>> import torch
    >>> class Frames(nn.Module):
    ...     def forward(self, wavs, lengths=None):
    ...         return wavs.reshape(wavs.shape[0], -1, 4)
    >>> model = SSLClassifier(Frames(), PooledBackend(input_size=4, proj_size=8))
    >>> model(torch.randn(2, 40), torch.ones(2)).shape
    torch.Size([2, 2])
    """

    def __init__(self, ssl, backend):
        super().__init__()
        self.ssl = ssl
        self.backend = backend

    def forward(self, wavs, lengths=None):
        """Return logits for waveforms ``[B, T]``."""
        feats = self.ssl(wavs, lengths)
        return self.backend(feats, lengths)


class PooledBackend(nn.Module):
    """Projection, statistics pooling and a linear classifier.

    The simple back end of the SSL recipes until the AASIST and Conformer-TCM
    back ends land: a linear projection of the SSL features (1024 -> 128 as
    in SSL-AASIST), SELU, mean and standard deviation over time, and a linear
    layer to the two logits.

    Arguments
    ---------
    input_size : int
        Dimension of the SSL features.
    proj_size : int
        Dimension after projection.
    n_classes : int
        Number of logits.
    dropout : float
        Dropout on the pooled statistics.

    Example
    -------
    >>> import torch
    >>> PooledBackend(16, 8)(torch.randn(3, 10, 16)).shape
    torch.Size([3, 2])
    """

    def __init__(self, input_size=1024, proj_size=128, n_classes=2, dropout=0.2):
        super().__init__()
        self.proj = nn.Linear(input_size, proj_size)
        self.act = nn.SELU()
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(2 * proj_size, n_classes)

    def forward(self, feats, lengths=None):
        """Return logits for features ``[B, T, D]``."""
        x = self.act(self.proj(feats))
        return self.classifier(self.dropout(masked_mean_std(x, lengths)))
