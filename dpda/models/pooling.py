"""Pooling over time that respects SpeechBrain relative lengths.

Authors
 * dpda contributors 2026
"""

import torch


def length_mask(lengths, max_len, device=None):
    """Boolean mask ``[B, max_len]`` of the valid frames.

    Arguments
    ---------
    lengths : torch.Tensor or None
        Relative lengths in (0, 1] (SpeechBrain convention); ``None`` means
        every frame is valid.
    max_len : int
        Number of frames.
    device : torch.device, optional
        Device of the mask.

    Returns
    -------
    torch.Tensor
        The mask, with at least one valid frame per row.

    Example
    -------
    >>> length_mask(torch.tensor([1.0, 0.5]), 4).int().tolist()
    [[1, 1, 1, 1], [1, 1, 0, 0]]
    """
    if lengths is None:
        return None
    abs_len = torch.round(lengths.to(device) * max_len).clamp(min=1)
    return torch.arange(max_len, device=device)[None, :] < abs_len[:, None]


def masked_mean_std(x, lengths=None, eps=1e-5):
    """Mean and standard deviation over time of ``x`` ``[B, T, C]``.

    Arguments
    ---------
    x : torch.Tensor
        Frame features ``[B, T, C]``.
    lengths : torch.Tensor, optional
        Relative lengths; padded frames do not count.
    eps : float
        Floor of the variance.

    Returns
    -------
    torch.Tensor
        Concatenated mean and standard deviation ``[B, 2C]``.

    Example
    -------
    >>> x = torch.tensor([[[1.0], [3.0], [100.0]]])
    >>> masked_mean_std(x, torch.tensor([2 / 3])).tolist()
    [[2.0, 1.0]]
    """
    mask = length_mask(lengths, x.shape[1], x.device)
    if mask is None:
        mean = x.mean(dim=1)
        var = x.var(dim=1, unbiased=False)
    else:
        m = mask.unsqueeze(-1).to(x.dtype)
        count = m.sum(dim=1)
        mean = (x * m).sum(dim=1) / count
        var = ((x - mean.unsqueeze(1)) ** 2 * m).sum(dim=1) / count
    return torch.cat([mean, torch.sqrt(var.clamp(min=eps))], dim=-1)
