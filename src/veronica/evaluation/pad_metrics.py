"""Presentation-attack-detection (liveness) metrics after ISO/IEC 30107-3.

Conventions:

* A PAD score is a bona-fide likelihood: higher means "more likely a live
  person". A presentation is classified bona fide when ``score >= threshold``
  and as an attack otherwise.
* APCER (attack presentation classification error rate): proportion of attack
  presentations of one species (print, replay, mask, ...) classified bona fide.
* BPCER (bona fide presentation classification error rate): proportion of bona
  fide presentations classified as attacks.
* The system's APCER is the worst species' APCER, not the average: an attacker
  picks the species that works best.
* All rates are proportions in [0, 1]. A NaN score (e.g. no face found) is
  never classified bona fide, like the -inf rule in ``metrics``: an attack
  with NaN counts as detected, a bona fide presentation with NaN as an error.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from veronica.errors import BadInputError
from veronica.evaluation._validation import FloatArray, as_rate, as_scores, as_threshold

__all__ = [
    "PadDetCurve",
    "PadReport",
    "acer",
    "apcer",
    "apcer_at_bpcer",
    "bpcer",
    "pad_det_curve",
    "pad_report",
    "threshold_at_bpcer",
]


@dataclass(frozen=True, eq=False)
class PadDetCurve:
    """APCER and BPCER of one attack species at each candidate threshold.

    Thresholds increase; the last is +inf (everything classified as attack).
    Arrays are read-only.
    """

    thresholds: FloatArray
    apcer: FloatArray
    bpcer: FloatArray

    def __post_init__(self) -> None:
        for array in (self.thresholds, self.apcer, self.bpcer):
            array.setflags(write=False)


@dataclass(frozen=True)
class PadReport:
    """PAD summary at one threshold, plus APCER at the standard BPCER targets.

    ``apcer`` is the worst species' APCER (``worst_species`` names it) and is
    the one ``acer`` uses. The presentation counts tell the reader how fine
    the rates can be (one error among 20 attacks is already 5 %).
    ``apcer_at_bpcer_1pct``/``_5pct`` are worst-species APCERs at the highest
    threshold meeting BPCER <= 1 % / 5 %; NaN when no threshold can (see
    ``threshold_at_bpcer``).
    """

    threshold: float
    apcer_by_species: dict[str, float]
    apcer: float
    worst_species: str
    bpcer: float
    acer: float
    apcer_at_bpcer_1pct: float
    apcer_at_bpcer_5pct: float
    bonafide_presentations: int
    attack_presentations_by_species: dict[str, int]

    def to_json_dict(self) -> dict[str, object]:
        """Plain dict for JSON output (field names as keys, copies of the dicts)."""
        return {
            "threshold": self.threshold,
            "apcer_by_species": dict(self.apcer_by_species),
            "apcer": self.apcer,
            "worst_species": self.worst_species,
            "bpcer": self.bpcer,
            "acer": self.acer,
            "apcer_at_bpcer_1pct": self.apcer_at_bpcer_1pct,
            "apcer_at_bpcer_5pct": self.apcer_at_bpcer_5pct,
            "bonafide_presentations": self.bonafide_presentations,
            "attack_presentations_by_species": dict(self.attack_presentations_by_species),
        }


def apcer(scores_attack: npt.ArrayLike, threshold: float) -> float:
    """APCER of one species: share of its attacks with ``score >= threshold``.

    ISO/IEC 30107-3: APCER = (1/N) * sum(1 - Res_i) over the N attack
    presentations of the species, with Res_i = 1 when classified as attack.
    """
    attacks = _presentations(scores_attack, "attack scores")
    return float(np.mean(attacks >= as_threshold(threshold)))  # NaN >= t is False


def bpcer(scores_bonafide: npt.ArrayLike, threshold: float) -> float:
    """BPCER: share of bona fide presentations with ``score < threshold`` (or NaN).

    ISO/IEC 30107-3: BPCER = (1/N) * sum(Res_i) over the N bona fide
    presentations, with Res_i = 1 when classified as attack.
    """
    bonafide = _presentations(scores_bonafide, "bona fide scores")
    return float(np.mean(~(bonafide >= as_threshold(threshold))))


def acer(apcer_rate: float, bpcer_rate: float) -> float:
    """Average classification error rate: (APCER + BPCER) / 2.

    Pass the worst-species APCER. ACER averages two errors with very different
    costs (later editions of ISO/IEC 30107-3 advise against it), so it is
    reported for comparison with the literature only; read APCER and BPCER.
    """
    return (as_rate(apcer_rate, "apcer") + as_rate(bpcer_rate, "bpcer")) / 2.0


def threshold_at_bpcer(scores_bonafide: npt.ArrayLike, bpcer_target: float) -> float:
    """Highest threshold whose BPCER is <= ``bpcer_target``.

    The highest such threshold rejects the most attacks, so it gives the
    lowest APCER for the allowed BPCER. With N bona fide presentations, BPCER
    moves in steps of 1/N. Returns +inf when the target is 1 (reject all), and
    NaN when the NaN-scored bona fide presentations alone exceed the target,
    because then no threshold can meet it.
    """
    bonafide = _presentations(scores_bonafide, "bona fide scores")
    target = as_rate(bpcer_target, "bpcer_target")
    count = bonafide.size
    # Largest number of rejections k with k/count <= target; the division is
    # the same one bpcer() does, so both agree on the boundary.
    allowed = int(np.flatnonzero(np.arange(count + 1) / count <= target)[-1])
    if allowed == count:
        return float(np.inf)
    if allowed < int(np.count_nonzero(np.isnan(bonafide))):
        return float(np.nan)
    # Threshold at the (allowed+1)-th lowest score rejects only the `allowed`
    # scores strictly below it (fewer with ties); any higher one rejects more.
    ranked = np.sort(np.where(np.isnan(bonafide), -np.inf, bonafide))
    return float(ranked[allowed])


def apcer_at_bpcer(
    scores_bonafide: npt.ArrayLike, scores_attack: npt.ArrayLike, bpcer_target: float
) -> float:
    """APCER at the threshold from ``threshold_at_bpcer`` (NaN if the target is unreachable)."""
    threshold = threshold_at_bpcer(scores_bonafide, bpcer_target)
    if np.isnan(threshold):
        return float(np.nan)
    return apcer(scores_attack, threshold)


def pad_det_curve(scores_bonafide: npt.ArrayLike, scores_attack: npt.ArrayLike) -> PadDetCurve:
    """APCER and BPCER at every distinct finite score and at +inf, for DET plots."""
    bonafide = _presentations(scores_bonafide, "bona fide scores")
    attacks = _presentations(scores_attack, "attack scores")
    pooled = np.concatenate((bonafide, attacks))
    thresholds = np.append(np.unique(pooled[~np.isnan(pooled)]), np.inf)
    return PadDetCurve(
        thresholds=thresholds,
        apcer=_share_at_or_above(attacks, thresholds),
        bpcer=1.0 - _share_at_or_above(bonafide, thresholds),
    )


def pad_report(
    bonafide_scores: npt.ArrayLike,
    attack_scores_by_species: Mapping[str, npt.ArrayLike],
    threshold: float,
) -> PadReport:
    """APCER per species, worst-species APCER, BPCER and ACER at ``threshold``.

    Also APCER (worst species) at BPCER = 1 % and 5 %, each measured at the
    single threshold that ``threshold_at_bpcer`` picks from the bona fide scores.
    Ties for the worst species go to the first one in mapping order.
    """
    if not attack_scores_by_species:
        raise BadInputError("need attack scores for at least one species")
    bonafide = _presentations(bonafide_scores, "bona fide scores")
    attacks = {
        _species_name(name): _presentations(scores, f"attack scores for {name!r}")
        for name, scores in attack_scores_by_species.items()
    }
    by_species = {name: apcer(scores, threshold) for name, scores in attacks.items()}
    worst = max(by_species, key=lambda name: by_species[name])  # first of equal maxima
    bonafide_error = bpcer(bonafide, threshold)
    return PadReport(
        threshold=as_threshold(threshold),
        apcer_by_species=by_species,
        apcer=by_species[worst],
        worst_species=worst,
        bpcer=bonafide_error,
        acer=acer(by_species[worst], bonafide_error),
        apcer_at_bpcer_1pct=_worst_apcer_at_bpcer(bonafide, attacks, 0.01),
        apcer_at_bpcer_5pct=_worst_apcer_at_bpcer(bonafide, attacks, 0.05),
        bonafide_presentations=int(bonafide.size),
        attack_presentations_by_species={name: int(s.size) for name, s in attacks.items()},
    )


def _presentations(scores: npt.ArrayLike, name: str) -> FloatArray:
    array = as_scores(scores, name)
    if array.size == 0:
        raise BadInputError(f"{name} are empty: a rate over zero presentations is undefined")
    return array


def _species_name(name: object) -> str:
    if not isinstance(name, str) or not name:
        raise BadInputError(f"attack species names must be non-empty strings, got {name!r}")
    return name


def _share_at_or_above(scores: FloatArray, thresholds: FloatArray) -> FloatArray:
    """Fraction of ``scores`` with score >= each threshold; NaN counts as never."""
    finite = np.sort(scores[~np.isnan(scores)])
    at_or_above = finite.size - np.searchsorted(finite, thresholds, side="left")
    return at_or_above / scores.size


def _worst_apcer_at_bpcer(
    bonafide: FloatArray, attacks: Mapping[str, FloatArray], target: float
) -> float:
    threshold = threshold_at_bpcer(bonafide, target)
    if np.isnan(threshold):
        return float(np.nan)
    return max(apcer(scores, threshold) for scores in attacks.values())
