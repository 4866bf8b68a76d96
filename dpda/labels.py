"""The label vocabulary: class names, their logit indices, bona fide placeholders.

One place for what every manifest, protocol reader, pipeline, metric and
report agrees on. Bona fide is the positive class: its logit is the score.
This module imports nothing, so :mod:`dpda.metrics` (which imports neither
SpeechBrain nor the rest of ``dpda``) can use it too.

Authors
 * dpda contributors 2026
"""

LABELS = ("bonafide", "spoof")
LABEL_TO_INDEX = {"spoof": 0, "bonafide": 1}
BONAFIDE_INDEX = LABEL_TO_INDEX["bonafide"]  # the logit that is the score

# The attack of a bona fide row in the manifests (as in the 2019 LA protocols).
NO_ATTACK = "-"
# Values that bona fide trials carry in a spoof-only condition column
# (``-`` in the 2019 protocols, ``bonafide`` in the 2021 and ASVspoof 5 keys).
BONAFIDE_PLACEHOLDERS = (NO_ATTACK, "bonafide")


def split_by_label(scores, entries):
    """The scores of the bona fide and of the spoofed trials of a set.

    Arguments
    ---------
    scores : dict
        ``{trial_id: score}``; trials of ``entries`` without one are left out,
        and scores of ids absent from ``entries`` are ignored.
    entries : dict
        The set's manifest (``label`` per trial).

    Returns
    -------
    tuple of list
        Bona fide scores, spoof scores (floats, in ``entries`` order).

    Example
    -------
    >>> split_by_label({"a": 1.0, "b": -1.0},
    ...     {"a": {"label": "bonafide"}, "b": {"label": "spoof"}, "c": {"label": "spoof"}})
    ([1.0], [-1.0])
    """
    bona, spoof = [], []
    for utt_id, entry in entries.items():
        if utt_id in scores:
            is_bona = entry["label"] == "bonafide"
            (bona if is_bona else spoof).append(float(scores[utt_id]))
    return bona, spoof
