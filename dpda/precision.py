"""Opt-in reduced precision for scoring on a CPU: bfloat16 and dynamic int8.

A detector scores in float32 unless its user asks otherwise
(``DeepfakeDetector.use_precision``, ``dpda-detect --precision``). The two
faster modes change the scores, by an amount that depends on the model and
that ``benchmarks/detector_speed.py`` (AASIST-L) and
``benchmarks/ssl_precision.py`` (XLS-R sized SSL detectors) measure and
print:

* ``bf16``: the forward pass under ``torch.autocast(dtype=torch.bfloat16)``
  (convolutions and matrix products in bfloat16, accumulation in float32).
  It pays on CPUs with native bfloat16 arithmetic (AVX512-BF16, AMX: oneDNN's
  check, :func:`native_bf16`); elsewhere it is emulated and slower, and a
  warning says so.
* ``int8``: dynamic quantisation of every ``torch.nn.Linear`` (weights
  stored in int8, activations quantised per batch;
  ``torch.ao.quantization.quantize_dynamic``). It pays where Linear layers
  carry the cost (the transformer layers of XLS-R, WavLM, HuBERT), not in
  AASIST, whose cost is in its convolutions. CPU only.

Authors
 * dpda contributors 2026
"""

import logging
import warnings

import torch

logger = logging.getLogger(__name__)

#: The precisions a detector scores in; ``fp32`` is the default.
PRECISIONS = ("fp32", "bf16", "int8")


def native_bf16():
    """Whether this CPU computes bfloat16 natively (oneDNN's check).

    Returns
    -------
    bool
        ``True`` with AVX512-BF16 or AMX, where ``bf16`` can be faster.

    Example
    -------
    >>> isinstance(native_bf16(), bool)
    True
    """
    return bool(
        torch.backends.mkldnn.is_available()
        and torch.ops.mkldnn._is_mkldnn_bf16_supported()
    )


def check_precision(precision, device="cpu"):
    """Raise ``ValueError`` for a precision that cannot run on ``device``.

    Arguments
    ---------
    precision : str
        One of :data:`PRECISIONS`.
    device : str or torch.device
        Where the model runs.

    Example
    -------
    >>> check_precision("int8", "cuda:0")
    Traceback (most recent call last):
    ...
    ValueError: precision int8 (dynamic quantisation) runs on the CPU only, not on cuda:0
    """
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")
    if precision == "int8" and torch.device(device).type != "cpu":
        raise ValueError(
            f"precision int8 (dynamic quantisation) runs on the CPU only, not on {device}"
        )
    if precision == "bf16" and torch.device(device).type == "cpu" and not native_bf16():
        logger.warning(
            "This CPU has no native bfloat16 arithmetic: precision bf16 is "
            "emulated here, slower than fp32, and its scores still differ"
        )


def autocast_dtype(precision):
    """The autocast dtype of a precision (``None``: no autocast).

    Example
    -------
    >>> autocast_dtype("bf16"), autocast_dtype("int8")
    (torch.bfloat16, None)
    """
    return torch.bfloat16 if precision == "bf16" else None


def quantize_linear_int8(model):
    """A copy of ``model`` whose ``torch.nn.Linear`` layers are dynamic int8.

    Arguments
    ---------
    model : torch.nn.Module
        A float32 model on the CPU, in eval mode.

    Returns
    -------
    torch.nn.Module
        The quantised copy (the original is left as it is), in eval mode.

    Example
    -------
    >>> model = torch.nn.Sequential(torch.nn.Linear(8, 4), torch.nn.ReLU())
    >>> quantized = quantize_linear_int8(model.eval())
    >>> type(quantized[0]).__name__, type(model[0]).__name__
    ('Linear', 'Linear')
    >>> quantized[0].weight().dtype
    torch.qint8
    """
    # torch.ao.quantization is deprecated in favour of torchao, which has no
    # faster CPU path for this; torch (2.14 included) still ships it.
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=DeprecationWarning)
        warnings.filterwarnings("ignore", message=".*quantized tensor creation")
        quantized = torch.ao.quantization.quantize_dynamic(
            model, {torch.nn.Linear}, dtype=torch.qint8, inplace=False
        )
    return quantized.eval()
