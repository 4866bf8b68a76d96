"""dpda: dual-path data-augmented training for speech deepfake detection.

The library behind the SpeechBrain recipes in ``recipes/``: RawBoost as a
batched torch module (``dpda.augment``), two-path gradient aligners
(``dpda.alignment``), the Brain classes (``dpda.brain``), data helpers and the
synthetic mini corpus (``dpda.data``), models (``dpda.models``) and metrics
(``dpda.metrics``).
"""

import logging

__version__ = "0.1.0"

#: What SpeechBrain's ``train_logger`` module logs when it is imported without
#: torchvision, as every run does: the hparams' ``FileTrainLogger`` lives there.
TORCHVISION_NOTICE = "torchvision is not available - cannot save figures"


def _drop_torchvision_notice(record):
    """Filter out :data:`TORCHVISION_NOTICE`, and nothing else.

    It is about the image saver of SpeechBrain's ``ProgressSampleLogger``,
    which dpda does not use: every figure is saved by :mod:`dpda.plots`,
    with matplotlib. Installed here, by the first import of any ``dpda``
    module (recipes and hparams import one before the train logger), and
    without importing SpeechBrain.

    Example
    -------
    >>> make = logging.makeLogRecord
    >>> _drop_torchvision_notice(make({"msg": TORCHVISION_NOTICE}))
    False
    >>> _drop_torchvision_notice(make({"msg": "disk full"}))
    True
    """
    return record.getMessage() != TORCHVISION_NOTICE


logging.getLogger("speechbrain.utils.train_logger").addFilter(_drop_torchvision_notice)
