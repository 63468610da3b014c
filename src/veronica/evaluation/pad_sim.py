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
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from veronica.errors import BadInputError
from veronica.evaluation.pad_metrics import PadReport, pad_report
from veronica.liveness.policy import LivenessPolicy
from veronica.liveness.session import LivenessDecision, LivenessSession, Phase
from veronica.liveness.types import RGB, Action, Check
from veronica.pipeline.engine import EngineConfig, FaceEngine
from veronica.simulation import SPECIES, make_actor

ProgressFn = Callable[[int, int], None]

UPLOAD_DELAY_S = (0.02, 0.09)
"""Encoding plus upload time of a frame, drawn per frame: the page's JPEG
encode (~10–20 ms) and a LAN or good broadband round trip; below the page's
100 ms frame interval, as its stop-and-wait loop keeps it."""


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


def run_simulated_session(
    engine: FaceEngine,
    policy: LivenessPolicy,
    species: str,
    seed: int,
    fps: float = 15.0,
    max_s: float = 25.0,
    photos: Sequence[Path] | None = None,
) -> tuple[LivenessDecision, SessionOutcome]:
    """One session: the server plans its script from ``seed``; the actor of
    ``species`` answers frame by frame. Frame ``i`` is captured at ``i / fps``
    and arrives a simulated upload delay later (the session's clock)."""
    session = LivenessSession(engine, policy, rng=random.Random(seed))
    delays = np.random.default_rng([seed, 31]).uniform(*UPLOAD_DELAY_S, size=round(max_s * fps) + 2)
    actor = make_actor(
        species, session.script, seed, photos, positioning_s=policy.positioning.min_s
    )
    action: Action | None = None
    light: RGB | None = None
    decision: LivenessDecision | None = None
    frame = 0
    while decision is None:
        t = frame / fps
        if t > max_s:
            decision = session.finish()
            break
        state = session.update(t + float(delays[frame]), actor.frame(t, action, light), claimed=t)
        action, light, decision = state.action, state.light, state.decision
        frame += 1
        if state.phase is Phase.DECIDED and decision is None:
            decision = session.finish()
    session.close()
    deciding = [c for c in decision.checks if c.deciding]
    weakest = min(deciding, key=lambda c: c.margin).name if deciding else ""
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
    )
    return decision, outcome


def run_suite(
    config: EngineConfig,
    policy: LivenessPolicy,
    sessions: int,
    seed: int,
    species: Sequence[str] = ("genuine", *SPECIES),
    fps: float = 15.0,
    workers: int = 1,
    progress: ProgressFn | None = None,
    on_outcome: Callable[[SessionOutcome], None] | None = None,
) -> list[SessionOutcome]:
    """``sessions`` sessions of each species, seeds ``seed .. seed + sessions - 1``.

    With ``workers`` > 1 the sessions run in that many processes, each loading
    its own engine (MediaPipe graphs are not shareable across processes). The
    outcome does not depend on ``workers``: every session is deterministic by
    its seed and runs on simulated time. Sessions run round-robin over the
    species, so a run cut short still has about as many of each; ``on_outcome``
    sees every outcome as it arrives (to keep partial results).
    """
    jobs = [(kind, seed + i) for i in range(sessions) for kind in species]
    outcomes: list[SessionOutcome] = []
    if workers <= 1:
        engine = FaceEngine.load(config)
        try:
            for kind, job_seed in jobs:
                outcomes.append(run_simulated_session(engine, policy, kind, job_seed, fps)[1])
                if on_outcome is not None:
                    on_outcome(outcomes[-1])
                if progress is not None:
                    progress(len(outcomes), len(jobs))
        finally:
            engine.close()
        return outcomes
    context = multiprocessing.get_context("spawn")  # fork would copy MediaPipe's threads
    with ProcessPoolExecutor(
        workers, mp_context=context, initializer=_worker_init, initargs=(config, policy, fps)
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
    fps: float


_worker: _Worker | None = None
"""The engine of a suite worker process (set once by its initializer)."""


def _worker_init(config: EngineConfig, policy: LivenessPolicy, fps: float) -> None:
    global _worker
    _worker = _Worker(FaceEngine.load(config), policy, fps)


def _worker_run(species: str, seed: int) -> SessionOutcome:
    assert _worker is not None, "worker not initialised"
    return run_simulated_session(_worker.engine, _worker.policy, species, seed, _worker.fps)[1]


@dataclass(frozen=True)
class SuiteReport:
    """ISO/IEC 30107-3 rates per species, at the policy's operating point
    (session score >= 0, i.e. every deciding check passed) and from the
    session scores (APCER at BPCER 1 % / 5 %)."""

    sessions_per_species: int
    seed: int
    fps: float
    light: bool
    """The light challenge ran (else the compensating opt-out policy)."""
    pad: PadReport
    failed_checks: dict[str, dict[str, int]]
    """Per species: how many sessions failed each check (why they were refused)."""
    weakest_checks: dict[str, dict[str, int]]
    """Per species: which check gave the session its score (the weakest link)."""
    accepted_attacks: dict[str, list[int]]
    """Seeds of the attack sessions that were accepted, to replay and study."""
    rejected_bonafide: list[int]
    seconds: float

    @property
    def bpcer(self) -> float:
        return self.pad.bpcer

    @property
    def apcer(self) -> float:
        return self.pad.apcer

    def to_json_dict(self) -> dict[str, object]:
        return {
            "simulated": True,
            "sessions_per_species": self.sessions_per_species,
            "seed": self.seed,
            "fps": self.fps,
            "light_challenge": self.light,
            "policy": "light required" if self.light else "opt-out (compensating script)",
            "operating_point": "policy (every deciding check passed; session score >= 0)",
            **self.pad.to_json_dict(),
            "failed_checks": self.failed_checks,
            "weakest_checks": self.weakest_checks,
            "accepted_attacks": self.accepted_attacks,
            "rejected_bonafide": self.rejected_bonafide,
            "seconds": self.seconds,
        }


def scores_by_species(outcomes: Sequence[SessionOutcome]) -> dict[str, list[float]]:
    scores: dict[str, list[float]] = {}
    for outcome in outcomes:
        scores.setdefault(outcome.species, []).append(outcome.score)
    return scores


def suite_report(
    outcomes: Sequence[SessionOutcome], seed: int, fps: float, seconds: float, light: bool = True
) -> SuiteReport:
    scores = scores_by_species(outcomes)
    bonafide = scores.pop("genuine", [])
    if not bonafide or not scores:
        raise BadInputError("the suite needs genuine sessions and at least one attack species")
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
    return SuiteReport(
        sessions_per_species=max(len(v) for v in scores.values()),
        seed=seed,
        fps=fps,
        light=light,
        pad=pad_report(bonafide, scores, threshold=0.0),
        failed_checks=failed,
        weakest_checks=weakest,
        accepted_attacks={
            kind: [o.seed for o in outcomes if o.species == kind and o.live] for kind in scores
        },
        rejected_bonafide=[o.seed for o in outcomes if o.species == "genuine" and not o.live],
        seconds=seconds,
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
