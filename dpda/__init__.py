"""dpda: dual-path data-augmented training for speech deepfake detection.

The library behind the SpeechBrain recipes in ``recipes/``: RawBoost as a
batched torch module (``dpda.augment``), two-path gradient aligners
(``dpda.alignment``), the Brain classes (``dpda.brain``), data helpers and the
synthetic mini corpus (``dpda.data``), models (``dpda.models``) and metrics
(``dpda.metrics``).
"""

__version__ = "0.1.0"
