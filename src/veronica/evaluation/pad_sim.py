"""Simulated presentation-attack evaluation (``veronica eval pad --suite simulated``).

Runs bona fide sessions and sessions of every attack species through the real
``LivenessSession`` state machine: the simulated actor renders each frame from
what the session is showing at that moment (the action, the light), exactly as
a browser would deliver them. Frames reach the session after a simulated
upload delay (``UPLOAD_DELAY_S``) on its own clock, with their capture time as
the client's claim, so the clock binding runs as it does on the server.
Results are labelled simulated.
"""

from __future__ import annotations

import multiprocessing
import random
from collections.abc import Callable, Collection, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

import numpy as np

from veronica.errors import BadInputError
from veronica.evaluation.intervals import clopper_pearson
from veronica.evaluation.pad_metrics import PadReport, pad_report
from veronica.liveness.decision import DecisionReason
from veronica.liveness.policy import LightMode, LivenessPolicy
from veronica.liveness.session import LivenessDecision, LivenessSession, Phase
from veronica.liveness.types import RGB, Action, Check
from veronica.pipeline.engine import EngineConfig, FaceEngine
from veronica.simulation import SPECIES, make_actor
from veronica.simulation.actors import HeadCache, load_head
from veronica.simulation.attacks import HeadSource, victim_photo
from veronica.simulation.head import HeadModel
from veronica.simulation.population import draw_conditions

ProgressFn = Callable[[int, int], None]

POLICY_NAMES = {
    LightMode.FLASH: "light required",
    LightMode.GENTLE: "opt-out (gentle light)",
    LightMode.NONE: "light off (compensating script)",
}
"""How a report names each configuration (the operator's policy and, for
``optional``, the person's opt-out)."""

UPLOAD_DELAY_S = (0.02, 0.09)
"""Encoding plus upload time of a frame, drawn per frame: the page's JPEG
encode (~10–20 ms) and a LAN or good broadband round trip; below the page's
100 ms frame interval, as its stop-and-wait loop keeps it."""


ANSWER_S = 0.01
"""The least time between two frames' arrivals: the server answers one before
the page sends the next."""


class Population(StrEnum):
    REALISTIC = "realistic"
    """Users, rooms and webcams drawn per session (``simulation.population``)."""
    BASELINE = "baseline"
    """The first suite's single compliant user in one dim room, no webcam chain."""


@dataclass(frozen=True)
class SessionOutcome:
    species: str
    seed: int
    live: bool
    reason: str
    failed_checks: tuple[str, ...]
    frames: int
    score: float
    """``LivenessDecision.score``: the weakest deciding check's margin."""
    weakest: str
    """The deciding check with the smallest margin (what the score came from)."""
    checks: tuple[Check, ...] = ()
    """Every check of the decision, for calibration."""
    conditions: tuple[tuple[str, str], ...] = ()
    """(condition, bin) pairs of the session (``Conditions.labels``, face luminance)."""
    identity: str = ""
    """The source photo's identity (its folder)."""

    def to_json_dict(self) -> dict[str, object]:
        """One line of a per-session record (``eval pad --outcomes``)."""
        return {
            "species": self.species,
            "seed": self.seed,
            "live": self.live,
            "reason": self.reason,
            "frames": self.frames,
            "failed_checks": list(self.failed_checks),
            "identity": self.identity,
            "conditions": dict(self.conditions),
            "score": self.score,
            "weakest": self.weakest,
            "failed": [
                {"name": c.name, "value": c.value, "limit": c.limit, "detail": c.detail}
                for c in self.checks
                if not c.passed and c.deciding
            ],
            "values": {c.name: c.value for c in self.checks if c.deciding},
        }

    @classmethod
    def from_json_dict(cls, data: Mapping[str, Any]) -> SessionOutcome:
        """An outcome read back from its record line (``eval pad --resume``).
        Only the failed deciding checks come back as checks; a line written
        before ``failed_checks`` was recorded lists those alone (advisory
        failures are lost), and one without ``frames`` has 0."""
        failed = tuple(
            Check(
                name=str(c["name"]),
                value=float(c["value"]),
                limit=float(c["limit"]),
                passed=False,
                detail=str(c.get("detail", "")),
            )
            for c in data.get("failed", [])
        )
        names = data.get("failed_checks", [c.name for c in failed])
        return cls(
            species=str(data["species"]),
            seed=int(data["seed"]),
            live=bool(data["live"]),
            reason=str(data["reason"]),
            failed_checks=tuple(str(n) for n in names),
            frames=int(data.get("frames", 0)),
            score=float(data["score"]),
            weakest=str(data["weakest"]),
            checks=failed,
            conditions=tuple(sorted((str(k), str(v)) for k, v in data["conditions"].items())),
            identity=str(data.get("identity", "")),
        )

    @property
    def responded(self) -> bool:
        """Whether the session got past positioning: one that never did is a
        non-response (ISO/IEC 30107-3), not a classification."""
        return self.reason != DecisionReason.TIMEOUT.value


def face_luminance_bin(head: HeadModel) -> str:
    """The source face's cheek luminance (Rec. 601 luma of the median cheek
    colour) in three bins, to see whether an error rate depends on it."""
    b, g, r = head.skin_bgr
    luma = 0.114 * b + 0.587 * g + 0.299 * r
    return "dark (<100)" if luma < 100 else "medium (100-150)" if luma < 150 else "light (>=150)"


@dataclass(frozen=True)
class SuiteOptions:
    """How the suite's sessions are made (shared by every worker)."""

    population: Population = Population.REALISTIC
    fps: float | None = None
    """Frame rate for every session; None: each session's own (realistic: its
    camera's 8–15 fps; baseline: 10)."""
    photos: tuple[Path, ...] | None = None
    """Source faces (one folder per identity); None: the fixtures."""
    max_s: float = 30.0


def run_simulated_session(
    engine: FaceEngine,
    policy: LivenessPolicy,
    species: str,
    seed: int,
    fps: float | None = 15.0,
    max_s: float = 30.0,
    photos: Sequence[Path] | None = None,
    population: Population = Population.BASELINE,
    heads: HeadSource = load_head,
) -> tuple[LivenessDecision, SessionOutcome]:
    """One session: the server plans its script from ``seed``; the actor of
    ``species`` answers frame by frame. Frame ``i`` is captured at ``i / fps``
    and arrives a simulated upload delay later (the session's clock). With the
    realistic population the session's conditions (``draw_conditions(seed)``)
    choose the frame rate (unless ``fps`` is given), drop frames, and film the
    actor through their webcam."""
    session = LivenessSession(engine, policy, rng=random.Random(seed))
    conditions = draw_conditions(seed) if population is Population.REALISTIC else None
    rate = fps or (conditions.camera.fps if conditions is not None else 10.0)
    drop_rate = conditions.camera.drop_rate if conditions is not None else 0.0
    count = round(max_s * rate) + 2
    noise = np.random.default_rng([seed, 31])
    delays = noise.uniform(*UPLOAD_DELAY_S, size=count)
    dropped = noise.random(count) < drop_rate
    photo = victim_photo(seed, photos)
    actor = make_actor(
        species,
        session.script,
        seed,
        photos,
        positioning_s=policy.positioning.min_s,
        conditions=conditions,
        heads=heads,
    )
    action: Action | None = None
    light: RGB | None = None
    decision: LivenessDecision | None = None
    frame = 0
    arrived = -1.0
    while decision is None:
        t = frame / rate
        if t > max_s:
            decision = session.finish()
            break
        if dropped[frame]:
            frame += 1
            continue
        # The page sends a frame only after the answer to the previous one, so
        # arrivals keep their order whatever each upload's delay.
        arrived = max(t + float(delays[frame]), arrived + ANSWER_S)
        state = session.update(arrived, actor.frame(t, action, light), claimed=t)
        action, light, decision = state.action, state.light, state.decision
        frame += 1
        if state.phase is Phase.DECIDED and decision is None:
            decision = session.finish()
    session.close()
    deciding = [c for c in decision.checks if c.deciding]
    weakest = min(deciding, key=lambda c: c.margin).name if deciding else ""
    labels = dict(conditions.labels()) if conditions is not None else {}
    labels["face_luminance"] = face_luminance_bin(heads(photo))
    outcome = SessionOutcome(
        species=species,
        seed=seed,
        live=decision.live,
        reason=decision.reason,
        failed_checks=tuple(c.name for c in decision.failed),
        frames=decision.frames,
        score=decision.score,
        weakest=weakest if decision.reason != "timeout" else "timeout",
        checks=decision.checks,
        conditions=tuple(sorted(labels.items())),
        identity=photo.parent.name,
    )
    return decision, outcome


def run_suite(
    config: EngineConfig,
    policy: LivenessPolicy,
    sessions: int,
    seed: int,
    species: Sequence[str] = ("genuine", *SPECIES),
    fps: float | None = 15.0,
    workers: int = 1,
    progress: ProgressFn | None = None,
    on_outcome: Callable[[SessionOutcome], None] | None = None,
    options: SuiteOptions | None = None,
    bonafide_sessions: int | None = None,
    done: Collection[tuple[str, int]] = (),
) -> list[SessionOutcome]:
    """``sessions`` sessions of each attack species and ``bonafide_sessions``
    (default: ``sessions``) genuine ones, seeds from ``seed`` up.

    With ``workers`` > 1 the sessions run in that many processes, each loading
    its own engine (MediaPipe graphs are not shareable across processes). The
    outcome does not depend on ``workers``: every session is deterministic by
    its seed and runs on simulated time. Sessions run round-robin over the
    species, so a run cut short still has about as many of each; ``on_outcome``
    sees every outcome as it arrives (to keep partial results). Jobs whose
    (species, seed) is in ``done`` are skipped (a resumed run has them already).
    """
    opts = options or SuiteOptions(population=Population.BASELINE, fps=fps)
    genuine_n = sessions if bonafide_sessions is None else bonafide_sessions
    rounds = max(sessions, genuine_n)
    jobs = [
        (kind, seed + i)
        for i in range(rounds)
        for kind in species
        if i < (genuine_n if kind == "genuine" else sessions) and (kind, seed + i) not in done
    ]
    outcomes: list[SessionOutcome] = []
    if workers <= 1:
        _worker_init(config, policy, opts)
        try:
            for kind, job_seed in jobs:
                outcomes.append(_worker_run(kind, job_seed))
                if on_outcome is not None:
                    on_outcome(outcomes[-1])
                if progress is not None:
                    progress(len(outcomes), len(jobs))
        finally:
            _worker_close()
        return outcomes
    context = multiprocessing.get_context("spawn")  # fork would copy MediaPipe's threads
    with ProcessPoolExecutor(
        workers, mp_context=context, initializer=_worker_init, initargs=(config, policy, opts)
    ) as pool:
        futures = [pool.submit(_worker_run, kind, job_seed) for kind, job_seed in jobs]
        for future in as_completed(futures):
            outcomes.append(future.result())
            if on_outcome is not None:
                on_outcome(outcomes[-1])
            if progress is not None:
                progress(len(outcomes), len(jobs))
    order = {job: i for i, job in enumerate(jobs)}
    return sorted(outcomes, key=lambda o: order[(o.species, o.seed)])


@dataclass
class _Worker:
    engine: FaceEngine
    policy: LivenessPolicy
    options: SuiteOptions
    heads: HeadCache


_worker: _Worker | None = None
"""The engine of a suite worker process (set once by its initializer)."""


HEAD_CACHE_SIZE = 256
"""Head models a suite worker keeps: a calibration or report pool of ~150
photos fits (about 1 MB each for LFW's 250×250 photos), so each head is meshed
once per worker instead of again whenever its photo comes back."""


def _worker_init(config: EngineConfig, policy: LivenessPolicy, options: SuiteOptions) -> None:
    global _worker
    _worker = _Worker(FaceEngine.load(config), policy, options, HeadCache(HEAD_CACHE_SIZE))


def _worker_close() -> None:
    global _worker
    if _worker is not None:
        _worker.engine.close()
        _worker.heads.close()
        _worker = None


def _worker_run(species: str, seed: int) -> SessionOutcome:
    assert _worker is not None, "worker not initialised"
    opts = _worker.options
    return run_simulated_session(
        _worker.engine,
        _worker.policy,
        species,
        seed,
        opts.fps,
        opts.max_s,
        opts.photos,
        opts.population,
        _worker.heads,
    )[1]


@dataclass(frozen=True)
class Rate:
    """``errors`` of ``presentations``, with its Clopper–Pearson 95 % interval."""

    errors: int
    presentations: int

    @property
    def rate(self) -> float:
        return self.errors / self.presentations if self.presentations else float("nan")

    @property
    def interval(self) -> tuple[float, float]:
        if not self.presentations:
            return (float("nan"), float("nan"))
        return clopper_pearson(self.errors, self.presentations)

    def to_json_dict(self) -> dict[str, object]:
        low, high = self.interval
        return {
            "rate": self.rate,
            "errors": self.errors,
            "presentations": self.presentations,
            "ci95": [low, high],
        }


def count(outcomes: Sequence[SessionOutcome], error: Callable[[SessionOutcome], bool]) -> Rate:
    return Rate(sum(1 for o in outcomes if error(o)), len(outcomes))


@dataclass(frozen=True)
class SuiteReport:
    """ISO/IEC 30107-3 rates of one configuration (population, light policy).

    Non-responses (sessions that never got past positioning) are counted apart:
    APCER and BPCER are over the *processed* presentations, as the standard
    defines them, and the non-response rates (APNRR per species, BPNRR) say how
    many were not processed. ``refused`` is what a genuine user sees: rejected
    or never processed. At the policy's operating point (session score >= 0,
    i.e. every deciding check passed)."""

    population: str
    light: LightMode
    """Which light the sessions showed (``LivenessPolicy.for_light``)."""
    seed: int
    fps: float | None
    sessions_per_species: int
    photos: dict[str, object]
    apcer: dict[str, Rate]
    apnrr: dict[str, Rate]
    bpcer_rate: Rate
    bpnrr: Rate
    refused: Rate
    bpcer_by_condition: dict[str, dict[str, Rate]]
    """Per condition (ambient, latency, glasses, ...) and bin: BPCER over the
    processed bona fide sessions in that bin."""
    pad: PadReport
    """Rates from the processed sessions' scores (APCER at BPCER 1 % / 5 %)."""
    failed_checks: dict[str, dict[str, int]]
    """Per species: how many sessions failed each check (why they were refused)."""
    weakest_checks: dict[str, dict[str, int]]
    """Per species: which check gave the session its score (the weakest link)."""
    accepted_attacks: dict[str, list[int]]
    """Seeds of the attack sessions that were accepted, to replay and study."""
    rejected_bonafide: list[int]
    seconds: float
    resumed: int = 0
    """Sessions read back from an earlier run's record (``--resume``);
    ``seconds`` is the time of the sessions run this time."""

    @property
    def bpcer(self) -> float:
        return self.bpcer_rate.rate

    @property
    def worst_species(self) -> str:
        """The highest APCER; among equal ones, the highest upper bound (the
        least measured), so a tie at 0 names the weakest evidence."""
        return max(self.apcer, key=lambda k: (self.apcer[k].rate, self.apcer[k].interval[1]))

    @property
    def worst_apcer(self) -> float:
        return self.apcer[self.worst_species].rate

    def to_json_dict(self) -> dict[str, object]:
        return {
            "simulated": True,
            "standard": "ISO/IEC 30107-3 (APCER per species and BPCER over processed "
            "presentations; APNRR/BPNRR: non-responses; Clopper-Pearson 95 % intervals)",
            "population": self.population,
            "light_challenge": self.light is LightMode.FLASH,
            "light_mode": self.light.value,
            "policy": POLICY_NAMES[self.light],
            "operating_point": "policy (every deciding check passed; session score >= 0)",
            "seed": self.seed,
            "fps": self.fps if self.fps is not None else "per session (8-15)",
            "sessions_per_species": self.sessions_per_species,
            "bonafide_sessions": self.refused.presentations,
            "photos": self.photos,
            "apcer": {k: v.to_json_dict() for k, v in self.apcer.items()},
            "apnrr": {k: v.to_json_dict() for k, v in self.apnrr.items()},
            "worst_species": self.worst_species,
            "bpcer": self.bpcer_rate.to_json_dict(),
            "bpnrr": self.bpnrr.to_json_dict(),
            "bonafide_refused": self.refused.to_json_dict(),
            "bpcer_by_condition": {
                cond: {b: r.to_json_dict() for b, r in bins.items()}
                for cond, bins in self.bpcer_by_condition.items()
            },
            "apcer_at_bpcer_1pct": self.pad.apcer_at_bpcer_1pct,
            "apcer_at_bpcer_5pct": self.pad.apcer_at_bpcer_5pct,
            "failed_checks": self.failed_checks,
            "weakest_checks": self.weakest_checks,
            "accepted_attacks": self.accepted_attacks,
            "rejected_bonafide": self.rejected_bonafide,
            "seconds": self.seconds,
            "resumed_sessions": self.resumed,
        }


def scores_by_species(outcomes: Sequence[SessionOutcome]) -> dict[str, list[float]]:
    """Session scores of the processed sessions (non-responses have no score)."""
    scores: dict[str, list[float]] = {}
    for outcome in outcomes:
        if outcome.responded:
            scores.setdefault(outcome.species, []).append(outcome.score)
    return scores


def suite_report(
    outcomes: Sequence[SessionOutcome],
    seed: int,
    fps: float | None,
    seconds: float,
    light: LightMode = LightMode.FLASH,
    population: str = Population.BASELINE.value,
    photos: dict[str, object] | None = None,
    resumed: int = 0,
) -> SuiteReport:
    by_species: dict[str, list[SessionOutcome]] = {}
    for outcome in outcomes:
        by_species.setdefault(outcome.species, []).append(outcome)
    bonafide = by_species.pop("genuine", [])
    if not bonafide or not by_species:
        raise BadInputError("the suite needs genuine sessions and at least one attack species")
    scores = scores_by_species(outcomes)
    genuine_scores = scores.pop("genuine", [])
    attack_scores = {k: v for k, v in scores.items() if v}
    if not genuine_scores or not attack_scores:
        raise BadInputError("no processed session: every session timed out in positioning")
    failed: dict[str, dict[str, int]] = {}
    weakest: dict[str, dict[str, int]] = {}
    for outcome in outcomes:
        counts = failed.setdefault(outcome.species, {})
        for name in outcome.failed_checks:
            key = _check_family(name)
            counts[key] = counts.get(key, 0) + 1
        links = weakest.setdefault(outcome.species, {})
        key = _check_family(outcome.weakest)
        links[key] = links.get(key, 0) + 1
    processed = [o for o in bonafide if o.responded]
    by_condition: dict[str, dict[str, list[SessionOutcome]]] = {}
    for outcome in processed:
        for cond, value in outcome.conditions:
            by_condition.setdefault(cond, {}).setdefault(value, []).append(outcome)
    return SuiteReport(
        population=population,
        light=light,
        seed=seed,
        fps=fps,
        sessions_per_species=max(len(v) for v in by_species.values()),
        photos=photos or {"source": "fixtures"},
        apcer={
            kind: count([o for o in items if o.responded], lambda o: o.live)
            for kind, items in by_species.items()
        },
        apnrr={kind: count(items, lambda o: not o.responded) for kind, items in by_species.items()},
        bpcer_rate=count(processed, lambda o: not o.live),
        bpnrr=count(bonafide, lambda o: not o.responded),
        refused=count(bonafide, lambda o: not o.live),
        bpcer_by_condition={
            cond: {b: count(items, lambda o: not o.live) for b, items in sorted(bins.items())}
            for cond, bins in sorted(by_condition.items())
        },
        pad=pad_report(genuine_scores, attack_scores, threshold=0.0),
        failed_checks=failed,
        weakest_checks=weakest,
        accepted_attacks={
            kind: [o.seed for o in items if o.live] for kind, items in by_species.items()
        },
        rejected_bonafide=[o.seed for o in bonafide if not o.live],
        seconds=seconds,
        resumed=resumed,
    )


def _check_family(name: str) -> str:
    """``challenge_2_blink`` → ``challenge_blink``: steps grouped by action."""
    if name.startswith("challenge_"):
        parts = name.split("_", 2)
        return f"challenge_{parts[2]}" if len(parts) == 3 else name
    return name


def plot_suite_det(outcomes: Sequence[SessionOutcome], path: Path) -> None:
    """DET curves (BPCER vs APCER per species) from the session scores."""
    from veronica.evaluation.plots import plot_pad_det

    scores = scores_by_species(outcomes)
    bonafide = scores.pop("genuine", [])
    n = len(bonafide)
    plot_pad_det(bonafide, scores, path, f"Simulated liveness sessions ({n} bona fide)")
