"""Hostile actors for the attacker harness (``simulation.adversary``).

Each is an ``Actor`` a dishonest client puts behind the real API: a face swap on
chosen frames, a relay of the victim answering late, a frozen frame with fresh
noise, a genuine person who leaves the picture while the colours are shown.
They are built on the same simulated heads, room and webcam as the genuine
actor, deterministic from their seed, and everything they produce is
*simulated* (a head rendered from one photo), never a recording of a person.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from veronica.liveness.types import RGB, Action
from veronica.simulation.actors import Actor, GenuineActor
from veronica.simulation.camera import exposure_gain, finish_frame, frame_rng
from veronica.simulation.head import HeadModel
from veronica.simulation.motion import Pose

OLD_EMBED_EVERY = 5
"""The identity sampling of the server before the server-clock protocol: every 5th
frame of its own counter (``LivenessPolicy.embed_every``), and during the
challenges only while no action and no colour was shown."""


def render_pose(actor: GenuineActor, t: float, pose: Pose, light: RGB | None) -> NDArray[np.uint8]:
    """``actor``'s head, body and room at ``t`` in the given ``pose``: exactly what
    ``GenuineActor.frame`` draws, with the pose chosen by the caller (the proxy
    actor renders two heads in one performer's pose)."""
    rng = frame_rng(actor.seed, t)
    shift = actor.shake(rng)
    canvas = actor.backdrop(shift)
    actor.draw(canvas, pose, light, shift)
    gain = exposure_gain(actor.effects, t, actor.exposure_phase)
    return finish_frame(canvas, actor.effects, actor.noise, rng, gain)


def empty_room(actor: GenuineActor, t: float) -> NDArray[np.uint8]:
    """``actor``'s room and webcam at ``t`` with nobody in front of it."""
    rng = frame_rng(actor.seed, t)
    shift = actor.shake(rng)
    canvas = actor.backdrop(shift)
    gain = exposure_gain(actor.effects, t, actor.exposure_phase)
    return finish_frame(canvas, actor.effects, actor.noise, rng, gain)


@dataclass
class AskLog:
    """What the page asked and when (the attacker's own clock, seconds): a relay
    keeps it so it can play the victim's answer to an earlier question."""

    times: list[float] = field(default_factory=list)
    asks: list[tuple[Action | None, RGB | None]] = field(default_factory=list)

    def record(self, t: float, action: Action | None, light: RGB | None) -> None:
        """Note what is shown at ``t`` (call with non-decreasing ``t``)."""
        if not self.asks or self.asks[-1] != (action, light):
            self.times.append(t)
            self.asks.append((action, light))

    def at(self, t: float) -> tuple[Action | None, RGB | None]:
        """What was shown at ``t`` (nothing before the first record)."""
        index = bisect.bisect_right(self.times, t) - 1
        return self.asks[index] if index >= 0 else (None, None)


class DelayedRelay:
    """The victim reached through a relay: every question reaches them
    ``delay_s`` late, so the face answers what the page asked ``delay_s`` ago
    (colours included: the victim's screen shows them late too)."""

    def __init__(self, victim: Actor, delay_s: float) -> None:
        if delay_s < 0:
            raise ValueError("delay_s must be >= 0")
        self.victim = victim
        self.delay_s = delay_s
        self.log = AskLog()

    def frame(self, t: float, action: Action | None, light: RGB | None) -> NDArray[np.uint8]:
        self.log.record(t, action, light)
        late_action, late_light = self.log.at(t - self.delay_s)
        return self.victim.frame(t, late_action, late_light)


@dataclass(frozen=True)
class ProxySchedule:
    """Which frames show the victim: frame ``i`` (1-based, counted by the client,
    as the server counts a session's frames) when ``i % every == phase``; with
    ``old_sampling``, exactly the frames the old server embedded for identity."""

    every: int = OLD_EMBED_EVERY
    phase: int = 0
    old_sampling: bool = False

    def __post_init__(self) -> None:
        if self.every < 1 or not 0 <= self.phase < self.every:
            raise ValueError("need every >= 1 and 0 <= phase < every")

    def shows_victim(self, index: int, action: Action | None, light: RGB | None) -> bool:
        if self.old_sampling:
            return index % OLD_EMBED_EVERY == 0 and action is None and light is None
        return index % self.every == self.phase

    @property
    def label(self) -> str:
        return "old sampling frames" if self.old_sampling else f"k={self.every} p={self.phase}"


class ProxyActor:
    """Liveness by proxy: an accomplice (another live person) performs every
    challenge; on the scheduled frames a face swap puts the victim's head in the
    accomplice's pose, light and place. Both heads share one performer, room
    and webcam (the same seed), so nothing but the face changes between frames."""

    def __init__(
        self, victim: HeadModel, accomplice: HeadModel, seed: int, schedule: ProxySchedule
    ) -> None:
        self.victim = GenuineActor(victim, seed)
        self.accomplice = GenuineActor(accomplice, seed)
        self.schedule = schedule
        self.index = 0
        self.victim_frames: list[int] = []
        """The 1-based frame numbers that showed the victim."""

    def frame(self, t: float, action: Action | None, light: RGB | None) -> NDArray[np.uint8]:
        self.index += 1
        pose = self.accomplice.performer.pose(t, action)
        if self.schedule.shows_victim(self.index, action, light):
            self.victim_frames.append(self.index)
            return render_pose(self.victim, t, pose, light)
        return render_pose(self.accomplice, t, pose, light)


class NoisyFrozenActor:
    """A virtual camera injecting one frame again and again, with fresh Gaussian
    noise of ``sigma`` grey levels per frame, so consecutive frames never repeat
    the way an injected still does."""

    def __init__(self, still: NDArray[np.uint8], sigma: float, seed: int) -> None:
        if sigma <= 0:
            raise ValueError("sigma must be positive")
        self.still = still
        self.sigma = sigma
        self.seed = seed

    def frame(self, t: float, action: Action | None, light: RGB | None) -> NDArray[np.uint8]:
        rng = frame_rng(self.seed, t, stream=3)
        noise = rng.normal(0.0, self.sigma, size=self.still.shape)
        out = np.rint(self.still.astype(np.float64) + noise)
        frame: NDArray[np.uint8] = np.clip(out, 0, 255).astype(np.uint8)
        return frame


class NoFaceDuringLight:
    """A genuine person who is out of the picture (camera covered, face turned
    away) whenever the page shows a colour: the light challenge then has no skin
    to read. Otherwise the person follows the page honestly."""

    def __init__(self, person: GenuineActor) -> None:
        self.person = person

    def frame(self, t: float, action: Action | None, light: RGB | None) -> NDArray[np.uint8]:
        if light is not None:
            self.person.performer.pose(t, action)  # the person's timeline goes on
            return empty_room(self.person, t)
        return self.person.frame(t, action, light)


class EmptyRoom:
    """Nobody in front of the camera: the cheapest frames that end a session."""

    def __init__(self, room: GenuineActor) -> None:
        self.room = room

    def frame(self, t: float, action: Action | None, light: RGB | None) -> NDArray[np.uint8]:
        return empty_room(self.room, t)
