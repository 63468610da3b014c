"""Operating points from a measured calibration table: the threshold for a false
match rate, and the limits of 1:N identification.

A calibration table (``calibration/<model>.json``, written by ``veronica eval fmr``)
lists, for a grid of cosine-similarity thresholds, how many different-person pairs
scored at or above the threshold (false matches) and how many same-person pairs
scored below it (false non-matches), each with a Clopper–Pearson 95 % interval.

Every choice here is conservative on the false-match side: a threshold is chosen by
the **upper** 95 % bound of the FMR, never by the point estimate, so the true FMR is
below the target with at least 97.5 % confidence (one-sided) on data like the
calibration set. Rates are proportions in [0, 1]; thresholds are cosine similarities.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import resources
from typing import Any, Literal

from veronica.errors import BadInputError, ConfigurationError, GalleryTooLargeError

CALIBRATION_PACKAGE = "veronica.recognition"
CALIBRATION_FOLDER = "calibration"
TABLE_FORMAT = 1


class UnreachableFmrError(ConfigurationError):
    """The target FMR is below what the table can show with its number of pairs."""

    code = "fmr_unreachable"


class CalibrationMissingError(ConfigurationError):
    """No calibration table ships for this embedding model."""

    code = "calibration_missing"


@dataclass(frozen=True)
class CalibrationRow:
    """One grid threshold. ``fmr = false_matches / different_pairs`` counts scores
    ``>= threshold``; ``fnmr = false_non_matches / same_pairs`` counts scores below it.
    ``*_ci`` are Clopper–Pearson 95 % intervals ``(low, high)``."""

    threshold: float
    false_matches: int
    fmr: float
    fmr_ci: tuple[float, float]
    false_non_matches: int
    fnmr: float
    fnmr_ci: tuple[float, float]

    @property
    def fmr_upper(self) -> float:
        return self.fmr_ci[1]


@dataclass(frozen=True)
class CalibrationTable:
    """A measured FMR/FNMR table for one embedding model; rows by increasing threshold."""

    model_id: str
    different_pairs: int
    same_pairs: int
    rows: tuple[CalibrationRow, ...]
    table_id: str
    """``<model_id>@<first 12 hex of the table file's SHA-256>``: names the exact table."""
    provenance: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        if not self.rows:
            raise BadInputError("a calibration table needs at least one row")
        thresholds = [r.threshold for r in self.rows]
        if any(b <= a for a, b in itertools.pairwise(thresholds)):
            raise BadInputError("calibration rows must have strictly increasing thresholds")

    @property
    def min_fmr_upper(self) -> float:
        """The smallest FMR target this table can support (its best upper bound)."""
        return min(r.fmr_upper for r in self.rows)

    def row_at(self, threshold: float) -> CalibrationRow:
        """The grid row whose threshold is ``threshold`` (within 1e-9)."""
        for row in self.rows:
            if abs(row.threshold - threshold) <= 1e-9:
                return row
        raise BadInputError(f"threshold {threshold} is not on the table's grid")


@dataclass(frozen=True)
class OperatingPoint:
    """The 1:1 threshold in force and where it came from (for the audit and the docs).

    ``source`` is ``"table"`` when the threshold is the table's for ``fmr_target``,
    ``"override"`` when ``VERONICA_MATCH_THRESHOLD`` set it (then ``fmr_target`` is None).
    """

    threshold: float
    fmr_target: float | None
    table_id: str | None
    source: Literal["table", "override"]


@dataclass(frozen=True)
class IdentificationPolicy:
    """The 1:N rules of one service: FPIR target, tolerable miss rate, margin.

    ``floor`` is the 1:1 threshold: a search never accepts a score that signing in
    with a user name would refuse, even for a gallery of one or two users.
    ``max_users`` (computed) is ``max_gallery_size(table, fpir, max_fnir)``.
    """

    table: CalibrationTable = field(repr=False)
    fpir: float
    max_fnir: float
    min_margin: float
    floor: float
    max_users: int = field(init=False)

    def __post_init__(self) -> None:
        if not math.isfinite(self.min_margin) or self.min_margin < 0:
            raise BadInputError(f"min_margin must be >= 0, got {self.min_margin!r}")
        object.__setattr__(
            self, "max_users", max_gallery_size(self.table, self.fpir, self.max_fnir)
        )

    def check(self, users: int) -> None:
        """Raise ``GalleryTooLargeError`` when ``users`` exceed ``max_users``."""
        if users > self.max_users:
            raise GalleryTooLargeError(users, self.max_users)

    def threshold(self, users: int) -> float:
        """The similarity threshold for a search over ``users`` users (>= 1).

        Raises:
            GalleryTooLargeError: more users than ``max_users``.
        """
        self.check(users)
        return max(self.floor, identification_threshold(self.table, self.fpir, users))


def table_filename(model_id: str) -> str:
    """File name of a model's table: the model id with anything outside
    ``[A-Za-z0-9._-]`` replaced by ``_`` (fusion ids hold ``(``, ``+``, ``)``)."""
    return re.sub(r"[^A-Za-z0-9._-]", "_", model_id) + ".json"


def load_table(model_id: str) -> CalibrationTable:
    """The table shipped inside the package for ``model_id`` (read on each call).

    Raises:
        CalibrationMissingError: no table ships for this model.
        ConfigurationError: the shipped file is unreadable or malformed.
    """
    resource = resources.files(CALIBRATION_PACKAGE) / CALIBRATION_FOLDER / table_filename(model_id)
    if not resource.is_file():
        raise CalibrationMissingError(
            f"no calibration table for embedding model {model_id!r}; run `veronica eval fmr` "
            "or set VERONICA_MATCH_THRESHOLD explicitly"
        )
    raw = resource.read_bytes()
    try:
        table = parse_table(json.loads(raw), raw)
    except (BadInputError, ValueError) as exc:
        message = exc.message if isinstance(exc, BadInputError) else str(exc)
        raise ConfigurationError(
            f"calibration table for {model_id!r} is invalid: {message}"
        ) from exc
    if table.model_id != model_id:
        raise ConfigurationError(
            f"calibration table for {model_id!r} names another model ({table.model_id!r})"
        )
    return table


def parse_table(data: object, raw: bytes | None = None) -> CalibrationTable:
    """Build a table from its JSON form (see ``veronica.evaluation.fmr``).

    ``raw`` (the file's bytes) gives the table id its content hash; without it the
    hash is taken over the canonical JSON dump.
    """
    if not isinstance(data, dict):
        raise BadInputError("a calibration table must be a JSON object")
    if data.get("format") != TABLE_FORMAT:
        raise BadInputError(f"unknown calibration table format {data.get('format')!r}")
    try:
        model_id = str(data["model_id"])
        different = _count(data["pairs"]["different"], "pairs.different")
        same = _count(data["pairs"]["same"], "pairs.same")
        rows = tuple(_row(r, different, same) for r in data["rows"])
    except (KeyError, TypeError) as exc:
        raise BadInputError(f"calibration table lacks a field: {exc}") from exc
    content = raw if raw is not None else json.dumps(data, sort_keys=True).encode()
    digest = hashlib.sha256(content).hexdigest()[:12]
    provenance = {k: v for k, v in data.items() if k not in ("rows", "held_out")}
    return CalibrationTable(
        model_id=model_id,
        different_pairs=different,
        same_pairs=same,
        rows=rows,
        table_id=f"{model_id}@{digest}",
        provenance=provenance,
    )


def _count(value: object, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise BadInputError(f"{what} must be a count >= 0, got {value!r}")
    return value


def _interval(value: object, what: str) -> tuple[float, float]:
    if not isinstance(value, list | tuple) or len(value) != 2:
        raise BadInputError(f"{what} must be [low, high]")
    low, high = float(value[0]), float(value[1])
    if not 0.0 <= low <= high <= 1.0:
        raise BadInputError(f"{what} must satisfy 0 <= low <= high <= 1, got {value!r}")
    return low, high


def _row(data: Mapping[str, Any], different: int, same: int) -> CalibrationRow:
    false_matches = _count(data["false_matches"], "false_matches")
    false_non_matches = _count(data["false_non_matches"], "false_non_matches")
    if false_matches > different or false_non_matches > same:
        raise BadInputError("a row counts more errors than there are pairs")
    threshold = float(data["threshold"])
    if not math.isfinite(threshold):
        raise BadInputError("row thresholds must be finite")
    return CalibrationRow(
        threshold=threshold,
        false_matches=false_matches,
        fmr=false_matches / different if different else 0.0,
        fmr_ci=_interval(data["fmr_ci95"], "fmr_ci95"),
        false_non_matches=false_non_matches,
        fnmr=false_non_matches / same if same else 0.0,
        fnmr_ci=_interval(data["fnmr_ci95"], "fnmr_ci95"),
    )


def _check_rate(value: float, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise BadInputError(f"{what} must be a number, got {value!r}")
    number = float(value)
    if not 0.0 < number < 1.0:  # also refuses NaN
        raise BadInputError(f"{what} must be a proportion strictly between 0 and 1, got {value!r}")
    return number


def threshold_for_fmr(table: CalibrationTable, fmr: float) -> float:
    """The smallest grid threshold whose FMR **upper 95 % bound** is ``<= fmr``.

    Conservative by design: the point estimate could meet the target by luck of the
    sample; the upper bound meets it unless the calibration data is unusually kind.
    Smallest, because among thresholds that meet the target the lowest one refuses
    the fewest genuine users.

    Raises:
        BadInputError: ``fmr`` is not in (0, 1).
        UnreachableFmrError: every row's upper bound is above ``fmr``: with
            ``different_pairs`` pairs and zero false matches the bound cannot fall
            below about 3.7 / ``different_pairs``.
    """
    target = _check_rate(fmr, "fmr")
    for row in table.rows:
        if row.fmr_upper <= target:
            return row.threshold
    raise UnreachableFmrError(
        f"FMR {target:.3g} is below what calibration table {table.table_id} can show: "
        f"its {table.different_pairs:,} different-person pairs bound the FMR at "
        f"{table.min_fmr_upper:.3g} at best (95 % upper bound)"
    )


def identification_threshold(table: CalibrationTable, fpir: float, gallery_size: int) -> float:
    """Per-comparison threshold that keeps 1:N FPIR ``<= fpir`` for ``gallery_size`` users.

    A non-mated search is falsely identified when any of the N users scores at or
    above the threshold, so FPIR <= N × FMR (union bound). We ask each comparison for
    FMR = ``fpir / gallery_size``. The bound is an approximation that errs on the
    safe side: it ignores that a search also needs the margin rule and several
    samples to agree, and counts each user once (a user's templates come from one
    sitting and match or miss together, so they act as one comparison, not several).

    Raises:
        BadInputError: ``fpir`` not in (0, 1) or ``gallery_size`` < 1.
        UnreachableFmrError: ``fpir / gallery_size`` is below the table's resolution.
    """
    target = _check_rate(fpir, "fpir")
    size = _gallery_size(gallery_size)
    return threshold_for_fmr(table, target / size)


def max_gallery_size(table: CalibrationTable, fpir: float, max_fnir: float) -> int:
    """Largest number of users N for which 1:N keeps FPIR ``<= fpir`` and a genuine
    user's miss rate ``<= max_fnir``; 0 if not even one user can be served.

    The miss rate is the table's FNMR (point estimate) at
    ``identification_threshold(table, fpir, N)``: the per-comparison approximation of
    FNIR, which ignores that a mated search can also fail because another user
    outranks the mate (rare at these thresholds). Two limits bind: FNMR grows with
    the threshold, and the table cannot show an FMR below its resolution.
    """
    target = _check_rate(fpir, "fpir")
    tolerable = _check_rate(max_fnir, "max_fnir")
    # FNMR never decreases with the threshold, so the usable rows are a prefix; the
    # best FMR bound among them decides how far fpir / N may fall.
    usable = [r.fmr_upper for r in table.rows if r.fnmr <= tolerable]
    if not usable:
        return 0
    best = min(usable)
    if best <= 0.0:  # cannot happen with a finite table; guards a malformed one
        raise BadInputError("calibration table has a zero FMR upper bound")
    size = math.floor(target / best)
    # Float rounding at the boundary: settle on the exact largest N that qualifies.
    while size >= 1 and target / size < best:
        size -= 1
    while target / (size + 1) >= best:
        size += 1
    return max(0, size)


def _gallery_size(value: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise BadInputError(f"gallery_size must be a positive number of users, got {value!r}")
    return value


__all__ = [
    "CalibrationMissingError",
    "CalibrationRow",
    "CalibrationTable",
    "IdentificationPolicy",
    "OperatingPoint",
    "UnreachableFmrError",
    "identification_threshold",
    "load_table",
    "max_gallery_size",
    "parse_table",
    "table_filename",
    "threshold_for_fmr",
]
