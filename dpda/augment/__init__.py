"""Data augmentation: RawBoost (on the device, batched) and lossy codecs (CPU).

:class:`RawBoost` (``dpda.augment.rawboost``) corrupts a padded batch on the
training device inside ``fit_batch``; :class:`Codec` (``dpda.augment.codec``)
round-trips one waveform through a random lossy codec in the data loader's
workers.

Authors
 * dpda contributors 2026
"""

from dpda.augment import rawboost as _rawboost
from dpda.augment.codec import CODECS, Codec, available_codecs
from dpda.augment.rawboost import *  # noqa: F403  (the names of its __all__)

__all__ = ["CODECS", "Codec", "available_codecs", *_rawboost.__all__]
