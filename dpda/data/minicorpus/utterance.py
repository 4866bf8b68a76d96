"""One corpus utterance: plan, render or attack, noise floor, channel, codec, int16.

The post-processing (noise floor, DC removal, peak level, quantisation) and
the duration are drawn from the same distributions for both classes, so
that none of them is a shortcut. The codec, when the layout gives the
utterance one, comes after the channel effects and before the peak level
and the quantisation (as a file decoded from a lossy stream and saved as
PCM), and draws nothing from the utterance's random streams.

Authors
 * dpda contributors 2026
"""

import numpy as np

from dpda.data.minicorpus.attacks import apply_attack
from dpda.data.minicorpus.channels import apply_channel_effects, apply_codec
from dpda.data.minicorpus.speech import plan_utterance, render_speech

DURATION_RANGE = (1.0, 3.5)  # seconds, uniform, same for both classes
PEAK_RANGE = (0.3, 0.95)  # peak level, uniform, same for both classes
FLOOR_DB_RANGE = (-65.0, -50.0)  # recording noise floor re peak


# --------------------------------------------------------------------------
# Utterance post-processing shared by both classes
# --------------------------------------------------------------------------
def _add_noise_floor(x, rng):
    """Recording noise floor at a random level below the peak."""
    level = np.max(np.abs(x)) * 10 ** (rng.uniform(*FLOOR_DB_RANGE) / 20)
    return x + level * rng.standard_normal(len(x), dtype=np.float32)


def _to_pcm16(x, rng):
    """Remove DC, normalise the peak to a random level, quantise to int16."""
    x = x - np.mean(x)
    x = x * (rng.uniform(*PEAK_RANGE) / (np.max(np.abs(x)) + 1e-12))
    return np.round(x * 32767).astype(np.int16)


def _synthesise(job, seed, sample_rate):
    """Render one utterance of the corpus to int16 samples.

    ``job`` is ``(stream, index, speaker, label, attack_id, channel_profile,
    codec)``, ``codec`` being ``None`` or ``(codec name, kbit/s)``; the
    random streams depend on ``(seed, stream, index)`` only, and the codec
    draws from none of them: the same job without its codec gives the file
    the codec was applied to.

    Returns ``(int16 samples, names of the channel effects applied)``.
    """
    stream, index, speaker, label, attack_id, profile, codec = job
    plan_rng, attack_rng, post_rng = (
        np.random.default_rng([seed, stream, index, k]) for k in range(3)
    )
    duration = plan_rng.uniform(*DURATION_RANGE)
    plan = plan_utterance(
        speaker, plan_rng, int(round(duration * sample_rate)), sample_rate
    )
    if label == "spoof":
        x = apply_attack(attack_id, plan, attack_rng)
    else:
        x = render_speech(plan)
    x = _add_noise_floor(x, post_rng)
    effects = ()
    if profile is not None:
        x, effects = apply_channel_effects(x, post_rng, sample_rate, profile)
    if codec is not None:
        x = apply_codec(x, *codec, sample_rate=sample_rate)
    return _to_pcm16(x, post_rng), effects
