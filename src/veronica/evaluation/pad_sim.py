"""Simulated presentation-attack evaluation (``veronica eval pad --suite simulated``).

Runs bona fide sessions and sessions of every attack species through the real
``LivenessSession`` state machine: the simulated actor renders each frame from
what the session is showing at that moment (the action, the light), exactly as
a browser would deliver them. Results are labelled simulated.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from veronica.liveness.policy import LivenessPolicy
from veronica.liveness.session import LivenessDecision, LivenessSession, Phase
from veronica.liveness.types import RGB, Action
from veronica.pipeline.engine import FaceEngine
from veronica.simulation import SPECIES, make_actor

ProgressFn = Callable[[int, int], None]


@dataclass(frozen=True)
class SessionOutcome:
    species: str
    seed: int
    live: bool
    reason: str
    failed_checks: tuple[str, ...]
    frames: int


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
    ``species`` answers frame by frame."""
    session = LivenessSession(engine, policy, rng=random.Random(seed))
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
        state = session.update(t, actor.frame(t, action, light))
        action, light, decision = state.action, state.light, state.decision
        frame += 1
        if state.phase is Phase.DECIDED and decision is None:
            decision = session.finish()
    session.close()
    outcome = SessionOutcome(
        species=species,
        seed=seed,
        live=decision.live,
        reason=decision.reason,
        failed_checks=tuple(c.name for c in decision.failed),
        frames=decision.frames,
    )
    return decision, outcome


def run_suite(
    engine: FaceEngine,
    policy: LivenessPolicy,
    sessions: int,
    seed: int,
    species: Sequence[str] = ("genuine", *SPECIES),
    fps: float = 15.0,
    progress: ProgressFn | None = None,
) -> list[SessionOutcome]:
    """``sessions`` sessions of each species, seeds ``seed .. seed + sessions - 1``."""
    outcomes: list[SessionOutcome] = []
    total = sessions * len(species)
    for kind in species:
        for i in range(sessions):
            _, outcome = run_simulated_session(engine, policy, kind, seed + i, fps)
            outcomes.append(outcome)
            if progress is not None:
                progress(len(outcomes), total)
    return outcomes


@dataclass(frozen=True)
class SuiteReport:
    """ISO/IEC 30107-3 rates at the policy's operating point, per species."""

    sessions_per_species: int
    seed: int
    fps: float
    bpcer: float
    """Bona fide (genuine) sessions refused / all genuine sessions."""
    apcer_by_species: dict[str, float]
    apcer: float
    """The worst species' APCER (the ISO rule), not the average."""
    worst_species: str
    acer: float
    failed_checks: dict[str, dict[str, int]]
    """Per species: how many sessions failed each check (why they were refused)."""
    seconds: float

    def to_json_dict(self) -> dict[str, object]:
        return {
            "simulated": True,
            "sessions_per_species": self.sessions_per_species,
            "seed": self.seed,
            "fps": self.fps,
            "bpcer": self.bpcer,
            "apcer_by_species": self.apcer_by_species,
            "apcer": self.apcer,
            "worst_species": self.worst_species,
            "acer": self.acer,
            "failed_checks": self.failed_checks,
            "seconds": self.seconds,
        }


def suite_report(
    outcomes: Sequence[SessionOutcome], seed: int, fps: float, seconds: float
) -> SuiteReport:
    genuine = [o for o in outcomes if o.species == "genuine"]
    attacks: dict[str, list[SessionOutcome]] = {}
    for outcome in outcomes:
        if outcome.species != "genuine":
            attacks.setdefault(outcome.species, []).append(outcome)
    bpcer = sum(not o.live for o in genuine) / len(genuine) if genuine else float("nan")
    apcer = {k: sum(o.live for o in v) / len(v) for k, v in attacks.items()}
    worst = max(apcer, key=lambda k: apcer[k]) if apcer else ""
    failed: dict[str, dict[str, int]] = {}
    for outcome in outcomes:
        counts = failed.setdefault(outcome.species, {})
        for name in outcome.failed_checks:
            key = "challenge" if name.startswith("challenge_") else name
            counts[key] = counts.get(key, 0) + 1
    worst_apcer = apcer.get(worst, float("nan"))
    return SuiteReport(
        sessions_per_species=max((len(v) for v in attacks.values()), default=len(genuine)),
        seed=seed,
        fps=fps,
        bpcer=bpcer,
        apcer_by_species=apcer,
        apcer=worst_apcer,
        worst_species=worst,
        acer=(worst_apcer + bpcer) / 2,
        failed_checks=failed,
        seconds=seconds,
    )
