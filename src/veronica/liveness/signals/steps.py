"""The challenge steps: each action of the script judged in its own window.

Head turns, look-ups and approaches come from ``HeadMotionSignal``, blinks from
``BlinkSignal``; this signal owns both and turns them into one check per step
(``challenge_<n>_<action>``). Windows are in session time, which is server
time since the challenge phase began: a response that arrives after its
window does not count, whatever the client claims.

While a step is due, ``acknowledge`` tells the session whether the response
has been seen on the frames so far, so the page can withdraw the prompt: a
person who barely turned sees it stay and turns further, as they would with
any guided check. The step is still judged on its whole window at the end.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from veronica.liveness.signals.blink import BlinkLimits, BlinkSignal
from veronica.liveness.signals.head_motion import HeadMotionLimits, HeadMotionSignal
from veronica.liveness.state import Snapshot
from veronica.liveness.types import Action, ChallengeStep, Check, FrameInput, SessionScript
from veronica.pipeline.runner import FrameAnalysis


class ChallengeSteps:
    name = "challenge"

    def __init__(self, script: SessionScript, head: HeadMotionLimits, blink: BlinkLimits) -> None:
        self.script = script
        self.head = HeadMotionSignal(head)
        self.blink = BlinkSignal(blink)
        self._seen: set[int] = set()
        """Indices of the steps whose response was seen while they were due."""

    @property
    def acknowledged(self) -> int:
        """How many steps' responses have been seen so far."""
        return len(self._seen)

    def acknowledge(self, session_t: float) -> bool:
        """Whether the step due at ``session_t`` (if any) has been answered on the
        frames fed so far. Call after ``update``; once seen, a step stays seen."""
        for i, step in enumerate(self.script.challenges):
            if not step.start_s <= session_t <= step.end_s:
                continue
            if i not in self._seen and self._answered(step, session_t):
                self._seen.add(i)
            return i in self._seen
        return False

    def _answered(self, step: ChallengeStep, session_t: float) -> bool:
        if step.action is Action.BLINK:
            return self.blink.blinked_between(step.start_s, session_t)
        return self.head.evaluate(step.action, step.start_s, session_t).done

    def update(self, frame: FrameInput) -> None:
        self.head.update(frame)
        self.blink.update(frame)

    def progress(self, t: float, session_t: float, analysis: FrameAnalysis) -> float:
        """How far a frame at ``t`` (session time ``session_t``), not yet fed, has
        gone towards the step due then, as a fraction of that step's limit;
        0 when no step is due."""
        for step in self.script.challenges:
            if not step.start_s <= session_t <= step.end_s:
                continue
            if step.action is Action.BLINK:
                if analysis.quality is None:
                    return 0.0
                dip = self.blink.dip(analysis.quality.eye_aspect_ratios)
                return dip / self.blink.limits.min_dip
            start = t - (session_t - step.start_s)
            return self.head.progress(step.action, start, analysis)
        return 0.0

    def snapshot(self) -> Snapshot:
        return {
            "head": self.head.snapshot(),
            "blink": self.blink.snapshot(),
            "seen": sorted(self._seen),
        }

    def restore(self, data: Mapping[str, Any]) -> None:
        self.head.restore(data["head"])
        self.blink.restore(data["blink"])
        self._seen = {int(i) for i in data["seen"]}

    def checks(self) -> tuple[Check, ...]:
        checks = []
        for i, step in enumerate(self.script.challenges):
            name = f"challenge_{i + 1}_{step.action.value}"
            if step.action is Action.BLINK:
                done = self.blink.blinked_between(step.start_s, step.end_s)
                dip = self.blink.deepest_between(step.start_s, step.end_s)
                limit = self.blink.limits.min_dip
                checks.append(Check(name, dip, limit, done, "deepest eye-aspect-ratio dip"))
            else:
                r = self.head.response(step.action, step.start_s, step.end_s)
                checks.append(Check(name, r.value, r.limit, r.done, r.detail))
        if not checks:
            # A challenge session always has steps; none means nothing was asked.
            return (Check("challenge", 0.0, 1.0, False, "no challenge steps"),)
        return tuple(checks)
