"""The liveness session: a state machine over frames on the server's clock.

POSITIONING → CHALLENGE → DECIDED. While positioning, typed hints guide the
person into the oval. Then the server's random script runs: each action is
revealed only when due, the light colours likewise. Every frame is timed by
its arrival on the server (``t``); the client's claimed capture time is only
compared with it (``clock.py``). Every frame feeds the signals the registry
builds for this session; frames the server picks, and every frame carrying a
challenge response, are embedded for the identity checks (``sampling.py``). At
the end the checks go to ``decision.decide``. The session is independent of
HTTP: the web layer stores it and feeds it frames.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any

import numpy as np
from numpy.typing import NDArray

from veronica.liveness.challenges import plan_script, script_end
from veronica.liveness.clock import ClockBinding
from veronica.liveness.decision import DecisionReason, decide
from veronica.liveness.policy import LivenessPolicy
from veronica.liveness.positioning import Hint, Oval, place
from veronica.liveness.registry import build_signals
from veronica.liveness.sampling import EmbeddingSampler
from veronica.liveness.signals import ChallengeSteps, FaceSample, IdentitySignal
from veronica.liveness.state import (
    SNAPSHOT_FORMAT,
    Snapshot,
    optional_float,
    pack_script,
    unpack_script,
)
from veronica.liveness.types import (
    RGB,
    Action,
    Check,
    CheckFamily,
    FrameInput,
    Mode,
    SessionScript,
)
from veronica.pipeline.detect import FaceDetector
from veronica.pipeline.embed import Vector
from veronica.pipeline.engine import FaceEngine
from veronica.pipeline.runner import AnalysisOptions, FrameAnalysis
from veronica.pipeline.types import Point

__all__ = ["LivenessDecision", "LivenessSession", "Mode", "Phase", "SessionState"]


class Phase(StrEnum):
    POSITIONING = "positioning"
    CHALLENGE = "challenge"
    DECIDED = "decided"


@dataclass(frozen=True)
class LivenessDecision:
    live: bool
    checks: tuple[Check, ...]
    reason: DecisionReason
    """What a client may be told is derived from it (never the checks)."""
    samples: tuple[FaceSample, ...] = ()
    """Every embedded frame (pose, quality, similarity to the session's reference):
    recognition checks each one against the recognised user."""
    embeddings: tuple[Vector, ...] = ()
    """The best samples' embeddings for recognition: frontal, unlit first, then
    by quality."""
    qualities: tuple[float, ...] = ()
    """The quality score of each of those frames (stored with an enrolled template)."""
    frames: int = 0
    score: float = -1.0
    """Session score in [-1, 1] (``decision.Verdict.score``): orders sessions for
    DET curves and APCER at a fixed BPCER."""

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
    acknowledged: int = 0
    """Challenge steps whose response the server has seen so far. The step due
    now is withdrawn (``action`` None) once seen, so the page can say "done"."""


@dataclass
class _Counters:
    frames: int = 0
    held: int = 0
    start_t: float | None = None
    challenge_t0: float | None = None
    last_t: float | None = None
    embedded: int = 0
    responses_embedded: int = 0


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
        """``rng``: tests and the simulator only (the script and the embedding
        draws then repeat); the service leaves it None for cryptographic draws."""
        self.engine = engine
        self.policy = policy or LivenessPolicy()
        self.mode = mode
        self.oval = oval or Oval()
        if script is None:
            script = (
                plan_script(self.policy.challenges, rng)
                if mode is Mode.CHALLENGE
                else SessionScript((), ())
            )
        self.script = script
        self._end_s = script_end(self.script) + self.policy.tail_s
        self._tracker: FaceDetector = engine.tracking_detector()
        draws = random.Random(rng.getrandbits(64)) if rng is not None else None
        self._sampler = EmbeddingSampler(self.policy.sampling, draws)
        self._clock = ClockBinding(self.policy.clock)
        self._signals = build_signals(self.policy, self.script, mode)
        self._steps = next(
            (a.signal for a in self._signals if isinstance(a.signal, ChallengeSteps)), None
        )
        identity = next(a.signal for a in self._signals if isinstance(a.signal, IdentitySignal))
        assert isinstance(identity, IdentitySignal)
        self._identity = identity
        self._n = _Counters()
        self._phase = Phase.POSITIONING if mode is Mode.CHALLENGE else Phase.CHALLENGE
        self._decision: LivenessDecision | None = None

    @property
    def phase(self) -> Phase:
        return self._phase

    @property
    def light(self) -> bool:
        """Whether this session's script has the light challenge."""
        return bool(self.script.light)

    def update(
        self,
        t: float,
        bgr: NDArray[np.uint8],
        claimed: float | None = None,
        wait_s: float | None = None,
    ) -> SessionState:
        """Feed one frame that arrived at ``t`` seconds on the server's clock.
        ``claimed``: the client's capture time in seconds, checked against ``t``
        and never used otherwise (None for a recorded video, whose frame times
        are ``t``). ``wait_s``: server time from the previous answer to this
        frame's arrival (``FrameInput.wait_s``), when the caller knows it."""
        if self._decision is not None:
            return SessionState(Phase.DECIDED, decision=self._decision)
        n = self._n
        n.start_t = t if n.start_t is None else n.start_t
        n.frames += 1
        n.last_t = t
        self._clock.observe(t, claimed)
        if self._clock.drifted:
            return self._finish()
        if self._phase is Phase.POSITIONING:
            return self._position(t, bgr, wait_s)
        return self._challenge(t, bgr, wait_s)

    def _analyze(self, bgr: NDArray[np.uint8], gate: bool) -> FrameAnalysis:
        # Every n-th frame the static detector (several faces) replaces the
        # one-face tracker so a second person cannot stay unseen.
        static = self._n.frames % self.policy.second_face_every == 0
        options = AnalysisOptions(
            gate=self.policy.quality if gate else None,
            target=Point(self.oval.cx * bgr.shape[1], self.oval.cy * bgr.shape[0]),
            embed=False,
            pad=self._n.frames % self.policy.pad_every == 0,
        )
        return self.engine.analyze(bgr, options, detector=None if static else self._tracker)

    def _sample(self, analysis: FrameAnalysis, t: float, session_t: float | None) -> FrameAnalysis:
        """Embed the frame if it carries a response or the server's draw picks it."""
        if analysis.aligned is None:
            return analysis
        response = (
            self._steps is not None
            and session_t is not None
            and self._steps.progress(t, session_t, analysis)
            >= self.policy.sampling.response_fraction
        )
        # The draw happens for every frame, so whether it hits does not depend on
        # (and says nothing about) the response rule.
        drawn = self._sampler.draw(positioning=session_t is None)
        if not (response or drawn):
            return analysis
        self._n.embedded += 1
        self._n.responses_embedded += response
        return self.engine.embed_analysis(analysis)

    def _feed(self, frame: FrameInput) -> None:
        for active in self._signals:
            active.signal.update(frame)

    def _position(self, t: float, bgr: NDArray[np.uint8], wait_s: float | None) -> SessionState:
        # Samples from positioning too: the identity check must see the face that
        # was placed in the oval, or a swap after positioning goes unnoticed.
        analysis = self._sample(self._analyze(bgr, gate=True), t, None)
        self._feed(FrameInput(t=t, bgr=bgr, analysis=analysis, wait_s=wait_s))
        placement = place(analysis, self.oval, self.policy.positioning)
        self._n.held = self._n.held + 1 if placement.ok else 0
        assert self._n.start_t is not None
        if t - self._n.start_t > self.policy.positioning.timeout_s:
            return self._finish()
        settled = t - self._n.start_t >= self.policy.positioning.min_s
        if settled and self._n.held >= self.policy.positioning.hold_frames:
            self._phase = Phase.CHALLENGE
            self._n.challenge_t0 = t
            return SessionState(
                Phase.CHALLENGE, action=self.script.action_at(0.0), light=self.script.light_at(0.0)
            )
        return SessionState(Phase.POSITIONING, hints=placement.hints)

    def _challenge(self, t: float, bgr: NDArray[np.uint8], wait_s: float | None) -> SessionState:
        n = self._n
        if n.challenge_t0 is None:
            n.challenge_t0 = t
        session_t = t - n.challenge_t0
        action = self.script.action_at(session_t)
        light = self.script.light_at(session_t)
        analysis = self._sample(self._analyze(bgr, gate=False), t, session_t)
        frame = FrameInput(
            t=t,
            bgr=bgr,
            analysis=analysis,
            session_t=session_t,
            action=action,
            light=light,
            wait_s=wait_s,
        )
        self._feed(frame)
        if self.mode is Mode.CHALLENGE and session_t >= self._end_s:
            return self._finish()
        progress = min(1.0, session_t / self._end_s) if self._end_s > 0 else 0.0
        steps = self._steps
        seen = steps is not None and steps.acknowledge(session_t)
        return SessionState(
            Phase.CHALLENGE,
            action=None if seen else action,
            light=light,
            progress=progress,
            acknowledged=steps.acknowledged if steps is not None else 0,
        )

    def finish(self) -> LivenessDecision:
        """Decide now (end of a recorded video, or the client stopped sending)."""
        if self._decision is None:
            self._finish()
        assert self._decision is not None
        return self._decision

    def checks(self) -> tuple[Check, ...]:
        """Every check so far, tagged with its family (see ``registry.py``)."""
        checks = [replace(self._clock.check(), family=CheckFamily.CLOCK)]
        for active in self._signals:
            checks.extend(active.checks())
        if self.mode is Mode.PASSIVE and self._n.frames < self.policy.passive_min_frames:
            checks.append(
                Check(
                    "frames",
                    float(self._n.frames),
                    float(self.policy.passive_min_frames),
                    False,
                    "video too short",
                    family=CheckFamily.CONSISTENCY,
                )
            )
        return tuple(checks)

    def _finish(self) -> SessionState:
        checks = self.checks()
        reached = self.mode is Mode.PASSIVE or self._n.challenge_t0 is not None
        verdict = decide(checks, reached=reached)
        samples = self._identity.samples
        best = sorted(
            (s for s in samples if not s.posed),
            key=lambda s: (not s.lit, s.quality),
            reverse=True,
        )[: self.policy.capture_frames]
        self._decision = LivenessDecision(
            live=verdict.live,
            checks=checks,
            reason=verdict.reason,
            samples=samples,
            embeddings=tuple(s.embedding for s in best),
            qualities=tuple(s.quality for s in best),
            frames=self._n.frames,
            score=verdict.score,
        )
        self._phase = Phase.DECIDED
        self.close()
        return SessionState(Phase.DECIDED, progress=1.0, decision=self._decision)

    def snapshot(self) -> Snapshot:
        """The undecided session as plain data (``liveness/state.py``): script,
        phase, counters, clocks and every signal's state. Holds biometric data."""
        if self._decision is not None:
            raise ValueError("a decided session has no state to move; keep its result")
        n = self._n
        oval = self.oval
        return {
            "format": SNAPSHOT_FORMAT,
            "mode": self.mode.value,
            "script": pack_script(self.script),
            "oval": [oval.cx, oval.cy, oval.rx, oval.ry],
            "phase": self._phase.value,
            "counters": {
                "frames": n.frames,
                "held": n.held,
                "start_t": n.start_t,
                "challenge_t0": n.challenge_t0,
                "last_t": n.last_t,
                "embedded": n.embedded,
                "responses_embedded": n.responses_embedded,
            },
            "clock": self._clock.snapshot(),
            "sampler": self._sampler.snapshot(),
            "signals": {a.spec.name: a.signal.snapshot() for a in self._signals},
        }

    @classmethod
    def restore(
        cls, engine: FaceEngine, policy: LivenessPolicy, data: Mapping[str, Any]
    ) -> LivenessSession:
        """A session continued from ``snapshot`` with the same policy, with a fresh
        tracking mesh (the part that cannot move between processes)."""
        if data.get("format") != SNAPSHOT_FORMAT:
            raise ValueError(f"unknown liveness snapshot format {data.get('format')!r}")
        cx, cy, rx, ry = (float(v) for v in data["oval"])
        session = cls(
            engine,
            policy,
            mode=Mode(data["mode"]),
            script=unpack_script(data["script"]),
            oval=Oval(cx, cy, rx, ry),
        )
        counters = data["counters"]
        session._phase = Phase(data["phase"])
        session._n = _Counters(
            frames=int(counters["frames"]),
            held=int(counters["held"]),
            start_t=optional_float(counters["start_t"]),
            challenge_t0=optional_float(counters["challenge_t0"]),
            last_t=optional_float(counters["last_t"]),
            embedded=int(counters["embedded"]),
            responses_embedded=int(counters["responses_embedded"]),
        )
        session._clock.restore(data["clock"])
        session._sampler.restore(data["sampler"])
        signals = data["signals"]
        names = {a.spec.name for a in session._signals}
        if set(signals) != names:
            session.close()
            raise ValueError(f"snapshot signals {sorted(signals)} do not match {sorted(names)}")
        for active in session._signals:
            active.signal.restore(signals[active.spec.name])
        return session

    def close(self) -> None:
        """Release the session's tracking mesh (a MediaPipe graph)."""
        self._tracker.close()
