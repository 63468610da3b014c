"""The liveness session: a state machine over timestamped frames.

POSITIONING → CHALLENGE → DECIDED. While positioning, typed hints guide the
person into the oval. Then the server's random script runs: each action is
revealed only when due, the light colours likewise. Every frame feeds the
streaming signals; at the end each step's response is judged in its own time
window and the signals' checks are fused into one decision that lists every
check with its value and limit. The session is independent of HTTP: the web
layer stores it and feeds it frames.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from enum import StrEnum

import numpy as np
from numpy.typing import NDArray

from veronica.liveness.challenges import plan_script, script_end
from veronica.liveness.policy import LivenessPolicy
from veronica.liveness.positioning import Hint, Oval, place
from veronica.liveness.signals import (
    BlinkSignal,
    ConsistencySignal,
    HeadMotionSignal,
    LightSignal,
    PadSignal,
    PlanaritySignal,
    ZoomSignal,
)
from veronica.liveness.types import RGB, Action, Check, FrameInput, SessionScript, Signal
from veronica.pipeline.detect import FaceDetector
from veronica.pipeline.engine import FaceEngine
from veronica.pipeline.runner import AnalysisOptions, FrameAnalysis
from veronica.pipeline.types import Point


class Phase(StrEnum):
    POSITIONING = "positioning"
    CHALLENGE = "challenge"
    DECIDED = "decided"


class Mode(StrEnum):
    CHALLENGE = "challenge"
    """Live sign-in: positioning, random actions, light."""
    PASSIVE = "passive"
    """A recorded video with no challenge: blink, consistency, PAD, geometry if any."""


@dataclass(frozen=True)
class LivenessDecision:
    live: bool
    checks: tuple[Check, ...]
    reason: str
    """``live``, ``liveness_failed`` or ``timeout``: what a client may be told."""
    embeddings: tuple[NDArray[np.float32], ...] = ()
    """The best frames' embeddings (by quality), for recognition."""
    qualities: tuple[float, ...] = ()
    """The quality score of each of those frames (stored with an enrolled template)."""
    frames: int = 0
    score: float = -1.0
    """Session score in [-1, 1]: the smallest margin (``Check.margin``) of the
    deciding checks, -1 for a timeout. ``live`` is exactly ``score >= 0``; the
    score orders sessions for DET curves and APCER at a fixed BPCER."""

    @property
    def failed(self) -> tuple[Check, ...]:
        return tuple(c for c in self.checks if not c.passed)


@dataclass(frozen=True)
class SessionState:
    """What the client is told after a frame."""

    phase: Phase
    action: Action | None = None
    light: RGB | None = None
    hints: tuple[Hint, ...] = ()
    progress: float = 0.0
    """0–1 through the script."""
    decision: LivenessDecision | None = None


@dataclass
class _Capture:
    quality: float
    embedding: NDArray[np.float32]


@dataclass
class _Counters:
    frames: int = 0
    held: int = 0
    start_t: float | None = None
    challenge_t0: float | None = None
    last_t: float | None = None
    captures: list[_Capture] = field(default_factory=list)


class LivenessSession:
    def __init__(
        self,
        engine: FaceEngine,
        policy: LivenessPolicy | None = None,
        *,
        mode: Mode = Mode.CHALLENGE,
        script: SessionScript | None = None,
        rng: random.Random | None = None,
        oval: Oval | None = None,
    ) -> None:
        self.engine = engine
        self.policy = policy or LivenessPolicy()
        self.mode = mode
        self.oval = oval or Oval()
        self.script = (
            script
            if script is not None
            else (
                plan_script(self.policy.challenges, rng)
                if mode is Mode.CHALLENGE
                else SessionScript((), ())
            )
        )
        self._end_s = script_end(self.script) + self.policy.tail_s
        self._tracker: FaceDetector = engine.tracking_detector()
        self._blink = BlinkSignal(self.policy.blink)
        self._head = HeadMotionSignal(self.policy.head)
        self._signals: tuple[Signal, ...] = (
            self._blink,
            self._head,
            PlanaritySignal(self.policy.planarity),
            ZoomSignal(self.policy.zoom),
            LightSignal(self.policy.light),
            PadSignal(self.policy.pad),
            ConsistencySignal(self.policy.consistency),
        )
        self._n = _Counters()
        self._phase = Phase.POSITIONING if mode is Mode.CHALLENGE else Phase.CHALLENGE
        self._decision: LivenessDecision | None = None

    @property
    def phase(self) -> Phase:
        return self._phase

    def update(self, t: float, bgr: NDArray[np.uint8]) -> SessionState:
        """Feed one frame captured at ``t`` seconds (client clock)."""
        if self._decision is not None:
            return SessionState(Phase.DECIDED, decision=self._decision)
        n = self._n
        n.start_t = t if n.start_t is None else n.start_t
        n.frames += 1
        n.last_t = t
        if self._phase is Phase.POSITIONING:
            return self._position(t, bgr)
        return self._challenge(t, bgr)

    def _analyze(self, bgr: NDArray[np.uint8], embed: bool, gate: bool) -> FrameAnalysis:
        # Every n-th frame the static detector (several faces) replaces the
        # one-face tracker so a second person cannot stay unseen.
        static = self._n.frames % self.policy.second_face_every == 0
        options = AnalysisOptions(
            gate=self.policy.quality if gate else None,
            target=Point(self.oval.cx * bgr.shape[1], self.oval.cy * bgr.shape[0]),
            embed=embed,
            pad=self._n.frames % self.policy.pad_every == 0,
        )
        return self.engine.analyze(bgr, options, detector=None if static else self._tracker)

    def _feed(self, frame: FrameInput) -> None:
        for signal in self._signals:
            signal.update(frame)

    def _position(self, t: float, bgr: NDArray[np.uint8]) -> SessionState:
        # Embeddings from positioning too: the identity check must see the face
        # that was placed in the oval, or a swap after positioning goes unnoticed.
        embed = self._n.frames % self.policy.embed_every == 0
        analysis = self._analyze(bgr, embed=embed, gate=True)
        self._feed(FrameInput(t=t, bgr=bgr, analysis=analysis))
        placement = place(analysis, self.oval, self.policy.positioning)
        self._n.held = self._n.held + 1 if placement.ok else 0
        assert self._n.start_t is not None
        if t - self._n.start_t > self.policy.positioning.timeout_s:
            return self._finish("timeout")
        settled = t - self._n.start_t >= self.policy.positioning.min_s
        if settled and self._n.held >= self.policy.positioning.hold_frames:
            self._phase = Phase.CHALLENGE
            self._n.challenge_t0 = t
            return SessionState(
                Phase.CHALLENGE, action=self.script.action_at(0.0), light=self.script.light_at(0.0)
            )
        return SessionState(Phase.POSITIONING, hints=placement.hints)

    def _challenge(self, t: float, bgr: NDArray[np.uint8]) -> SessionState:
        n = self._n
        if n.challenge_t0 is None:
            n.challenge_t0 = t
        session_t = t - n.challenge_t0
        action = self.script.action_at(session_t)
        light = self.script.light_at(session_t)
        # Identity samples on frames where the face is frontal and evenly lit.
        embed = action is None and light is None and n.frames % self.policy.embed_every == 0
        analysis = self._analyze(bgr, embed=embed, gate=False)
        frame = FrameInput(
            t=t, bgr=bgr, analysis=analysis, session_t=session_t, action=action, light=light
        )
        self._feed(frame)
        if analysis.embedding is not None:
            n.captures.append(_Capture(analysis.quality_score, analysis.embedding))
        if self.mode is Mode.CHALLENGE and session_t >= self._end_s:
            return self._finish()
        progress = min(1.0, session_t / self._end_s) if self._end_s > 0 else 0.0
        return SessionState(Phase.CHALLENGE, action=action, light=light, progress=progress)

    def finish(self) -> LivenessDecision:
        """Decide now (end of a recorded video, or the client stopped sending)."""
        if self._decision is None:
            self._finish()
        assert self._decision is not None
        return self._decision

    def _finish(self, reason: str | None = None) -> SessionState:
        checks = self._step_checks() + self._signal_checks()
        if self.mode is Mode.PASSIVE and self._n.frames < self.policy.passive_min_frames:
            checks += (
                Check(
                    "frames",
                    float(self._n.frames),
                    float(self.policy.passive_min_frames),
                    False,
                    "video too short",
                ),
            )
        deciding = [c for c in checks if c.name not in self.policy.advisory_checks]
        reached = reason is None and self._n.challenge_t0 is not None
        score = min((c.margin for c in deciding), default=1.0) if reached else -1.0
        live = reached and all(c.passed for c in deciding)
        best = sorted(self._n.captures, key=lambda c: c.quality, reverse=True)
        self._decision = LivenessDecision(
            live=live,
            checks=checks,
            reason="live" if live else (reason or "liveness_failed"),
            embeddings=tuple(c.embedding for c in best[: self.policy.capture_frames]),
            qualities=tuple(c.quality for c in best[: self.policy.capture_frames]),
            frames=self._n.frames,
            score=score,
        )
        self._phase = Phase.DECIDED
        self.close()
        return SessionState(Phase.DECIDED, progress=1.0, decision=self._decision)

    def _step_checks(self) -> tuple[Check, ...]:
        checks = []
        for i, step in enumerate(self.script.challenges):
            name = f"challenge_{i + 1}_{step.action.value}"
            if step.action is Action.BLINK:
                done = self._blink.blinked_between(step.start_s, step.end_s)
                dip = self._blink.deepest_between(step.start_s, step.end_s)
                limit = self._blink.limits.min_dip
                checks.append(Check(name, dip, limit, done, "deepest eye-aspect-ratio dip"))
            else:
                r = self._head.response(step.action, step.start_s, step.end_s)
                checks.append(Check(name, r.value, r.limit, r.done, r.detail))
        return tuple(checks)

    def _signal_checks(self) -> tuple[Check, ...]:
        checks: list[Check] = []
        for signal in self._signals:
            if signal is self._head:
                continue  # its checks are the step responses above
            if signal is self._blink and self.mode is Mode.CHALLENGE:
                continue  # a blink is asked for by a step when it matters
            checks.extend(signal.checks())
        return tuple(checks)

    def close(self) -> None:
        """Release the session's tracking mesh (a MediaPipe graph)."""
        self._tracker.close()
