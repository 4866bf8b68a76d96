"""The one rule that turns a detector's score into a label, and says so.

:class:`DecisionRule` is the Bayes decision of a cost model on calibrated
log-likelihood ratios (with an optional "uncertain" band around its
threshold), a threshold on raw scores, or, for an uncalibrated detector
without a threshold, no verdict (:data:`UNCALIBRATED`); a recording without
speech gets :data:`NO_SPEECH` and its reason (:func:`no_speech_decision`).
The command line, the demo, the model card and
:class:`dpda.inference.DeepfakeDetector` all label through it, and every
report prints its ``text``.

Authors
 * dpda contributors 2026
"""

import dataclasses

from dpda.calibration import Calibration, decide, posterior_bonafide
from dpda.metrics import ASVSPOOF5_COST_MODEL, bayes_threshold

#: The label of a file or window with no speech to judge (see
#: :func:`dpda.data.audio.no_speech_reasons`): neither bona fide nor spoof.
NO_SPEECH = "no speech"


def decision_fields(decision):
    """The per-file fields of a decision (:meth:`DecisionRule.decide`, or
    :func:`no_speech_decision` with its ``reason``)."""
    fields = {k: decision[k] for k in ("score", "llr", "p_bonafide", "label")}
    fields["reason"] = decision.get("reason")
    return fields


def no_speech_decision(rule, reasons):
    """The decision on a recording none of whose windows holds speech: the
    label :data:`NO_SPEECH`, no score, the reason, and the rule that would
    have applied."""
    silent = all(r == "digital silence" for r in reasons)
    return {
        "score": None,
        "calibrated": rule.calibration is not None,
        "llr": None,
        "p_bonafide": None,
        "prior": rule.prior,
        "label": NO_SPEECH,
        # Some windows silent, the others quiet: the level says it all.
        "reason": "digital silence"
        if silent
        else next(r for r in reasons if r != "digital silence"),
        "rule": rule.name,
        "rule_text": rule.text,
        "p_threshold": rule.p_threshold,
        "llr_threshold": rule.llr_threshold,
        "llr_band": rule.llr_band,
        "threshold": rule.threshold,
        "cost_model": dict(rule.cost_model) if rule.name == "bayes" else None,
    }


#: The label of a recording whose LLR lies inside the detector's uncertain
#: band: the evidence is too weak for a verdict either way.
UNCERTAIN = "uncertain"
#: The label given by a detector without calibration when no threshold was
#: passed: its raw scores carry no stated meaning, so there is no verdict.
UNCALIBRATED = "uncalibrated"


@dataclasses.dataclass
class DecisionRule:
    """How a detector turns a score into a label: the one rule, stated once.

    Every label dpda shows (``classify_file``, ``dpda-detect``, the demo,
    the model card) comes from :meth:`decide`, beside :attr:`text`, which
    states the rule with its thresholds in the units shown. No rule gives a
    verdict without evidence:

    * ``bayes`` (calibrated detector): the Bayes decision of the cost model
      on the calibrated LLR. The probability shown is the posterior of bona
      fide at the prior ``1 - p_spoof``; deciding bona fide costs less in
      expectation when ``c_miss P(bona fide) >= c_fa P(spoof)``, that is when
      ``P(bona fide) >= c_fa / (c_miss + c_fa)`` (10/11 = 0.9091 for
      ASVspoof 5's costs), which is ``LLR >= bayes_threshold(...)``. So a
      probability of 0.88 with the label spoof is no contradiction: 0.88 is
      below the stated 0.9091. With an ``uncertain_band`` of half-width
      ``h``, an LLR within ``h`` of that threshold (``t - h <= LLR < t + h``)
      is labelled :data:`UNCERTAIN` rather than bona fide or spoof.
    * ``score_threshold`` (a threshold the user passed): bona fide when the
      raw score is above it, spoof otherwise, calibrated or not (the LLR and
      probability are still given when the detector is calibrated).
    * ``uncalibrated`` (no calibration, no threshold passed): every score is
      labelled :data:`UNCALIBRATED`; raw scores carry no stated meaning, so
      no bare binary label is given.

    Arguments
    ---------
    score_threshold : float, optional
        A threshold on raw scores passed by the user: the ``score_threshold``
        rule. ``None``: the detector's own rule.
    calibration : dpda.calibration.Calibration, optional
        The map from scores to LLRs; ``None``: not calibrated.
    cost_model : dict, optional
        ``p_spoof``, ``c_miss``, ``c_fa``; missing keys: ASVspoof 5's.
    uncertain_band : float, optional
        Half-width, in LLR units, of the band around the Bayes threshold
        labelled :data:`UNCERTAIN`; ``None`` or 0: no band.

    Example
    -------
    >>> cal = Calibration(scale=1.0, offset=0.0, prior=0.655)
    >>> rule = DecisionRule(None, cal)
    >>> out = rule.decide(-0.92)
    >>> round(out["p_bonafide"], 3), round(out["p_threshold"], 4), out["label"]
    (0.883, 0.9091, 'spoof')
    >>> print(rule.text)
    bona fide when P(bona fide) >= 0.9091 (Bayes decision of the cost model P(spoof) 0.05, Cmiss 1, Cfa 10 on the calibrated LLR: P(bona fide) at the prior 0.95 against Cfa / (Cmiss + Cfa))
    >>> even = DecisionRule(None, cal, {"p_spoof": 0.5, "c_fa": 1}, uncertain_band=1.0)
    >>> [even.decide(s)["label"] for s in (-1.5, -0.5, 0.5, 1.0)]
    ['spoof', 'uncertain', 'uncertain', 'bonafide']
    >>> print(even.text)
    bona fide when P(bona fide) >= 0.7311, spoof when P(bona fide) < 0.2689, uncertain in between (the LLR within 1 of the Bayes threshold 0: too little evidence); Bayes decision of the cost model P(spoof) 0.5, Cmiss 1, Cfa 1 on the calibrated LLR, P(bona fide) at the prior 0.5
    >>> DecisionRule().decide(2.5)["label"]
    'uncalibrated'
    >>> print(DecisionRule(0.5).text)
    bona fide when score > 0.5000 (a threshold on raw scores passed by the user; no probability)
    """

    score_threshold: float = None
    calibration: Calibration = None
    cost_model: dict = None
    uncertain_band: float = None

    def __post_init__(self):
        if self.score_threshold is not None:
            self.score_threshold = float(self.score_threshold)
            if self.score_threshold != self.score_threshold:  # NaN labels nothing
                raise ValueError("the score threshold must be a number, got NaN")
        self.cost_model = {**ASVSPOOF5_COST_MODEL, **(self.cost_model or {})}
        bayes_threshold(**self.cost_model)  # checks the costs
        if self.uncertain_band is not None:
            self.uncertain_band = float(self.uncertain_band)
            if not 0 <= self.uncertain_band < float("inf"):
                raise ValueError(
                    "uncertain_band is a half-width in LLR units: a number >= 0 "
                    f"(or null for no band), got {self.uncertain_band}"
                )

    @property
    def name(self):
        """``"score_threshold"``, ``"bayes"`` or ``"uncalibrated"``."""
        if self.score_threshold is not None:
            return "score_threshold"
        return "bayes" if self.calibration is not None else "uncalibrated"

    @property
    def labels(self):
        """The labels this rule can give, verdicts first."""
        if self.name == "uncalibrated":
            return (UNCALIBRATED,)
        return ("bonafide", "spoof") + ((UNCERTAIN,) if self.llr_band else ())

    @property
    def prior(self):
        """Prior of bona fide of the shown probability (``None`` uncalibrated)."""
        return None if self.calibration is None else 1 - self.cost_model["p_spoof"]

    @property
    def p_threshold(self):
        """The Bayes threshold on P(bona fide), ``c_fa / (c_miss + c_fa)``,
        or ``None`` when the rule is not ``bayes``."""
        if self.name != "bayes":
            return None
        return self.cost_model["c_fa"] / (
            self.cost_model["c_miss"] + self.cost_model["c_fa"]
        )

    @property
    def llr_threshold(self):
        """The Bayes threshold on LLRs, or ``None`` when the rule is not ``bayes``."""
        return bayes_threshold(**self.cost_model) if self.name == "bayes" else None

    @property
    def llr_band(self):
        """``(low, high)``: LLRs in ``[low, high)`` are :data:`UNCERTAIN`;
        ``None`` without a band."""
        if self.name != "bayes" or not self.uncertain_band:
            return None
        t, h = self.llr_threshold, self.uncertain_band
        return t - h, t + h

    @property
    def p_band(self):
        """:attr:`llr_band` as probabilities of bona fide at :attr:`prior`."""
        band = self.llr_band
        if band is None:
            return None
        return tuple(posterior_bonafide(v, self.prior) for v in band)

    @property
    def threshold(self):
        """The rule's threshold in raw-score units (what timelines draw), or
        ``None`` for the ``uncalibrated`` rule."""
        if self.name != "bayes":
            return self.score_threshold
        return (self.llr_threshold - self.calibration.offset) / self.calibration.scale

    @property
    def text(self):
        """The rule in words, its thresholds in the units shown beside labels."""
        if self.name == "score_threshold":
            return (
                f"bona fide when score > {self.score_threshold:.4f} (a threshold "
                "on raw scores passed by the user; no probability)"
            )
        if self.name == "uncalibrated":
            return (
                "no label: the detector is not calibrated, so its raw scores "
                "(higher = more bona fide) have no stated threshold; pass a "
                "threshold on raw scores to get bona fide / spoof labels"
            )
        cost = self.cost_model
        why = (
            f"Bayes decision of the cost model P(spoof) {cost['p_spoof']:g}, Cmiss "
            f"{cost['c_miss']:g}, Cfa {cost['c_fa']:g} on the calibrated LLR"
        )
        if self.llr_band is None:
            return (
                f"bona fide when P(bona fide) >= {self.p_threshold:.4f} ({why}: "
                f"P(bona fide) at the prior {self.prior:g} against "
                "Cfa / (Cmiss + Cfa))"
            )
        low, high = self.p_band
        return (
            f"bona fide when P(bona fide) >= {high:.4f}, spoof when P(bona fide) "
            f"< {low:.4f}, uncertain in between (the LLR within "
            f"{self.uncertain_band:g} of the Bayes threshold "
            f"{self.llr_threshold + 0.0:g}: too little evidence); {why}, "
            f"P(bona fide) at the prior {self.prior:g}"
        )

    def decide(self, score):
        """Label a raw score.

        Arguments
        ---------
        score : float
            The bona fide logit.

        Returns
        -------
        dict
            ``score``, ``calibrated``, ``llr`` and ``p_bonafide`` (``None``
            uncalibrated), ``prior``, ``label`` (one of :attr:`labels`:
            ``"bonafide"``, ``"spoof"``, :data:`UNCERTAIN` or
            :data:`UNCALIBRATED`), ``rule`` (:attr:`name`), ``rule_text``
            (:attr:`text`), ``p_threshold``, ``llr_threshold``, ``llr_band``,
            ``threshold`` (raw-score units) and ``cost_model`` (``None``
            unless the rule is ``bayes``).
        """
        score = float(score)
        calibrated = self.calibration is not None
        result = {"score": score, "calibrated": calibrated, "llr": None}
        result["p_bonafide"] = None
        if calibrated:
            result["llr"] = float(self.calibration.llr(score))
            result["p_bonafide"] = posterior_bonafide(result["llr"], self.prior)
        band = self.llr_band
        if self.name == "score_threshold":
            label = "bonafide" if score > self.score_threshold else "spoof"
        elif self.name == "uncalibrated":
            label = UNCALIBRATED
        elif band is not None and band[0] <= result["llr"] < band[1]:
            label = UNCERTAIN
        else:
            label = decide(result["llr"], **self.cost_model)
        result.update(
            prior=self.prior,
            label=label,
            rule=self.name,
            rule_text=self.text,
            p_threshold=self.p_threshold,
            llr_threshold=self.llr_threshold,
            llr_band=band,
            threshold=self.threshold,
            cost_model=dict(self.cost_model) if self.name == "bayes" else None,
        )
        return result
