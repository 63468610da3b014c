"""What a client is told: the per-frame state and the final result (wire format
in docs/API.md).

A client never sees scores or which liveness check failed: only a reason
category from ``Reason``. The full checks go to the audit log.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from veronica.liveness.positioning import Hint
from veronica.liveness.session import Phase
from veronica.liveness.types import RGB, Action


class Purpose(StrEnum):
    LOGIN = "login"
    ENROLL = "enroll"


class Status(StrEnum):
    SIGNED_IN = "signed_in"
    ENROLLED = "enrolled"
    REFUSED = "refused"


class Reason(StrEnum):
    """Why a session ended, in categories a person can act on."""

    OK = "ok"
    NO_FACE = "no_face"
    """Positioning timed out without the face ever being placed in the oval."""
    LIVENESS_FAILED = "liveness_failed"
    NOT_RECOGNIZED = "not_recognized"
    TIMEOUT = "timeout"
    """Positioning timed out although the face had been placed at some point."""
    LOCKED_OUT = "locked_out"
    SESSION_EXPIRED = "session_expired"
    CLOCK_DRIFT = "clock_drift"
    """The frames' claimed capture times did not keep pace with their arrival."""
    INACTIVE = "inactive"
    """No frame arrived for a few seconds (or none after the session was created)."""


@dataclass(frozen=True)
class SessionResult:
    status: Status
    reason: Reason
    username: str | None = None
    """Only on success: a refusal never says whose face it was (or was not)."""
    token: str | None = None
    redirect: str | None = None
    """``return_to#token=...`` when the session was started with an allowed ``return_to``."""

    @property
    def ok(self) -> bool:
        return self.status is not Status.REFUSED

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> SessionResult:
        return cls(
            Status(data["status"]),
            Reason(data["reason"]),
            username=data.get("username"),
            token=data.get("token"),
            redirect=data.get("redirect"),
        )

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "status": self.status.value,
            "reason": self.reason.value,
            "username": self.username,
            "token": self.token,
        }
        if self.redirect is not None:
            body["redirect"] = self.redirect
        return body


def hex_colour(rgb: RGB | None) -> str | None:
    if rgb is None:
        return None
    r, g, b = rgb
    return f"#{r:02x}{g:02x}{b:02x}"


def parse_colour(value: str | None) -> RGB | None:
    """``hex_colour`` backwards."""
    if value is None:
        return None
    return (int(value[1:3], 16), int(value[3:5], 16), int(value[5:7], 16))


@dataclass(frozen=True)
class FrameState:
    """The answer to one processed frame (and the initial state, ``seq`` 0)."""

    seq: int
    phase: Phase
    action: Action | None = None
    light: RGB | None = None
    hints: tuple[Hint, ...] = ()
    placed: bool = False
    progress: float = 0.0
    result: SessionResult | None = None
    acknowledged: int = 0
    """Challenge steps whose response the server has seen (the page says "done")."""

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> FrameState:
        """``to_json`` backwards (how a stored session keeps its last answer)."""
        result = data["result"]
        return cls(
            seq=int(data["seq"]),
            phase=Phase(data["phase"]),
            action=None if data["action"] is None else Action(data["action"]),
            light=parse_colour(data["light"]),
            hints=tuple(Hint(h) for h in data["hints"]),
            placed=bool(data["placed"]),
            progress=float(data["progress"]),
            result=None if result is None else SessionResult.from_json(result),
            acknowledged=int(data.get("acknowledged", 0)),
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "type": "state",
            "seq": self.seq,
            "phase": self.phase.value,
            "action": None if self.action is None else self.action.value,
            "light": hex_colour(self.light),
            "hints": [h.value for h in self.hints],
            "placed": self.placed,
            "progress": round(self.progress, 3),
            "acknowledged": self.acknowledged,
            "result": None if self.result is None else self.result.to_json(),
        }
