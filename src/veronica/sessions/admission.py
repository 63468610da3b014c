"""Admission: how many sign-in sessions stream at once, in all and per address.

A session holds a slot while it streams (it owns a Face Mesh graph on some
instance). Each slot carries ``until``, the session's current deadline (its
first-frame or idle limit, capped by its TTL, on the server's wall clock): a frame
moves it (``refresh``), the end of the session frees it (``release``), and a slot
whose ``until`` has passed no longer counts, even when the instance holding the
session died without releasing it. ``admit`` drops such slots and takes a new one
only below both limits, in one atomic step.

``InMemoryAdmission`` serves one process; ``RedisAdmission`` shares the counts
between every instance (sorted sets scored by ``until``, one Lua script for
``admit``), so ``max_total`` and ``max_per_address`` hold for the deployment.
Addresses are ``security.addresses.address_key`` values.
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass
from typing import Literal, Protocol

from veronica.state.redis import RedisState

AdmitReason = Literal["ok", "busy", "address"]


@dataclass(frozen=True)
class Admit:
    ok: bool
    reason: AdmitReason
    """``busy``: ``max_total`` slots are taken; ``address``: this address holds
    ``max_per_address``; ``ok``: admitted (or already holding its slot)."""


ADMITTED = Admit(True, "ok")
BUSY = Admit(False, "busy")
ADDRESS_FULL = Admit(False, "address")


class Admission(Protocol):
    def admit(
        self,
        session_id: str,
        address: str,
        until: float,
        *,
        max_total: int,
        max_per_address: int,
        now: float,
    ) -> Admit:
        """Atomically: drop entries whose ``until`` < now, then add this session if the
        global count < max_total and the address's count < max_per_address. A session
        that already holds a slot is admitted again (its ``until`` updated)."""
        ...

    def refresh(self, session_id: str, address: str, until: float) -> None:
        """A frame arrived: the session's deadline moves to ``until``. Does nothing
        for a session that holds no slot (released or dropped)."""
        ...

    def release(self, session_id: str, address: str) -> None:
        """The session ended: its slot is free. Idempotent."""
        ...

    def count(self, now: float, address: str | None = None) -> int:
        """Slots whose ``until`` >= now, in all or for one address."""
        ...


def _check_limits(max_total: int, max_per_address: int) -> None:
    if max_total < 1 or max_per_address < 1:
        raise ValueError("max_total and max_per_address must be at least 1")


@dataclass
class _Slot:
    address: str
    until: float


class InMemoryAdmission:
    """One process: a dict of slots under a lock. Memory is bounded by
    ``max_total`` (a slot is only ever added below it)."""

    def __init__(self) -> None:
        self._slots: dict[str, _Slot] = {}
        self._lock = threading.Lock()

    def admit(
        self,
        session_id: str,
        address: str,
        until: float,
        *,
        max_total: int,
        max_per_address: int,
        now: float,
    ) -> Admit:
        _check_limits(max_total, max_per_address)
        with self._lock:
            for sid in [s for s, slot in self._slots.items() if slot.until < now]:
                del self._slots[sid]
            held = self._slots.get(session_id)
            if held is not None:
                held.until = until
                return ADMITTED
            if len(self._slots) >= max_total:
                return BUSY
            if sum(1 for s in self._slots.values() if s.address == address) >= max_per_address:
                return ADDRESS_FULL
            self._slots[session_id] = _Slot(address, until)
            return ADMITTED

    def refresh(self, session_id: str, address: str, until: float) -> None:
        with self._lock:
            held = self._slots.get(session_id)
            if held is not None:
                held.until = until

    def release(self, session_id: str, address: str) -> None:
        with self._lock:
            self._slots.pop(session_id, None)

    def count(self, now: float, address: str | None = None) -> int:
        with self._lock:
            return sum(
                1
                for slot in self._slots.values()
                if slot.until >= now and (address is None or slot.address == address)
            )


# KEYS[1]: all slots, KEYS[2]: this address's slots (sorted sets: session id scored by
# until). ARGV: session id, until, now, max_total, max_per_address, key lifetime (ms).
_ADMIT = """
local sid, deadline, now = ARGV[1], ARGV[2], tonumber(ARGV[3])
local max_total, max_address, keep = tonumber(ARGV[4]), tonumber(ARGV[5]), ARGV[6]
local stale = '(' .. string.format('%.17g', now)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', stale)
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', stale)
if redis.call('ZSCORE', KEYS[1], sid) then
  redis.call('ZADD', KEYS[1], deadline, sid)
  redis.call('ZADD', KEYS[2], deadline, sid)
  redis.call('PEXPIRE', KEYS[1], keep)
  redis.call('PEXPIRE', KEYS[2], keep)
  return 'ok'  -- already admitted (or this very call, retried after a lost reply)
end
if redis.call('ZCARD', KEYS[1]) >= max_total then return 'busy' end
if redis.call('ZCARD', KEYS[2]) >= max_address then return 'address' end
redis.call('ZADD', KEYS[1], deadline, sid)
redis.call('ZADD', KEYS[2], deadline, sid)
redis.call('PEXPIRE', KEYS[1], keep)
redis.call('PEXPIRE', KEYS[2], keep)
return 'ok'
"""

# KEYS as above; ARGV: session id, until, key lifetime (ms). Only a held slot moves.
_REFRESH = """
if redis.call('ZSCORE', KEYS[1], ARGV[1]) then
  redis.call('ZADD', KEYS[1], ARGV[2], ARGV[1])
  redis.call('ZADD', KEYS[2], ARGV[2], ARGV[1])
  redis.call('PEXPIRE', KEYS[1], ARGV[3])
  redis.call('PEXPIRE', KEYS[2], ARGV[3])
end
return 1
"""

_REASONS: dict[str, Admit] = {"ok": ADMITTED, "busy": BUSY, "address": ADDRESS_FULL}


class RedisAdmission:
    """Admission shared by every instance: ``<prefix>admission`` holds every slot and
    ``<prefix>admission:addr:<address>`` one address's, both scored by ``until``.

    ``horizon_s`` is the longest ``until - now`` a caller passes (the session TTL):
    each write keeps its keys that long, so a key always outlives its slots and an
    address nobody uses again leaves nothing behind. Redis down:
    StateUnavailableError (no slot taken; the caller refuses the session).
    """

    def __init__(self, state: RedisState, *, horizon_s: float) -> None:
        if not (horizon_s > 0 and math.isfinite(horizon_s)):
            raise ValueError("horizon_s must be a positive number of seconds")
        self._state = state
        self._horizon_s = horizon_s
        self._keep_ms = str(math.ceil(horizon_s * 1000) + 1000)  # +1 s: clock rounding
        self._admit = state.script(_ADMIT)
        self._refresh = state.script(_REFRESH)

    def _keys(self, address: str) -> list[str]:
        return [self._state.key("admission"), self._state.key("admission", "addr", address)]

    def admit(
        self,
        session_id: str,
        address: str,
        until: float,
        *,
        max_total: int,
        max_per_address: int,
        now: float,
    ) -> Admit:
        _check_limits(max_total, max_per_address)
        if until - now > self._horizon_s:
            raise ValueError(f"until is more than horizon_s ({self._horizon_s} s) ahead")
        keys = self._keys(address)
        args = [
            session_id,
            repr(float(until)),
            repr(float(now)),
            str(max_total),
            str(max_per_address),
            self._keep_ms,
        ]
        reply = self._state.call(lambda: self._admit(keys=keys, args=args))
        return _REASONS[str(reply)]

    def refresh(self, session_id: str, address: str, until: float) -> None:
        keys = self._keys(address)
        args = [session_id, repr(float(until)), self._keep_ms]
        self._state.call(lambda: self._refresh(keys=keys, args=args))

    def release(self, session_id: str, address: str) -> None:
        total, own = self._keys(address)

        def remove() -> None:
            with self._state.client.pipeline(transaction=True) as pipe:
                pipe.zrem(total, session_id)
                pipe.zrem(own, session_id)
                pipe.execute()

        self._state.call(remove)

    def count(self, now: float, address: str | None = None) -> int:
        key = self._keys(address)[1] if address is not None else self._state.key("admission")
        low = repr(float(now))
        return int(self._state.call(lambda: self._state.client.zcount(key, low, "+inf")))
