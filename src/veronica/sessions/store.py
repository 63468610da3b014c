"""Where sign-in sessions are kept, behind the ``SessionStore`` protocol.

A session is a ``SessionRecord``: plain data (ids, secrets, deadlines, the last
answer, counters and, while it is undecided, its liveness state as a snapshot)
that any instance can load, continue and save. What cannot move — the
liveness session's tracking Face Mesh — lives in the manager's per-process
runtime and is rebuilt from the snapshot where a frame lands.

Every save is a compare-and-set on the record's ``version``: of two instances
that loaded one version, one saves and the other learns it lost (its frame is
dropped), so a session is never advanced twice. ``lock`` serialises frames of
one session across instances (a frame that finds the session busy is dropped:
server-side frame skipping, as the stop-and-wait client expects).

``InMemorySessionStore`` (one process, the default) keeps the records as
objects; ``RedisSessionStore`` keeps each record as one encrypted value
(AES-256-GCM with the template key: it holds embeddings, face crops and the
session's secrets) that expires with the session.
"""

from __future__ import annotations

import base64
import json
import secrets
import threading
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from typing import Any, Protocol

from veronica.liveness.policy import LightMode
from veronica.liveness.positioning import Oval
from veronica.liveness.state import Snapshot
from veronica.sessions.state import FrameState, Purpose, SessionResult
from veronica.state.redis import RedisState
from veronica.storage.crypto import TemplateCipher

RECORD_FORMAT = 1
SESSION_AAD_PREFIX = b"veronica/session/v1:"


@dataclass(eq=False)
class SessionRecord:
    """One sign-in or enrollment attempt. Mutable: only its manager changes it,
    while it holds the session's lock, and saves it through the store."""

    id: str
    purpose: Purpose
    username: str | None
    """Claimed user (1:1 login), the enrollment link's user, or None (1:N)."""
    csrf_token: str
    cookie_secret: str
    client_ip: str
    """The peer address as seen (audit)."""
    address: str
    """``address_key(client_ip)``: what per-address limits and lockouts count."""
    created_at: float
    expires_at: float
    state: FrameState
    oval: Oval = field(default_factory=Oval)
    enrollment_token: str | None = None
    return_to: str | None = None
    nonce: str | None = None
    """The relying site's nonce, carried into the result token."""
    oidc_request: str | None = None
    """The OpenID Connect authorization request this face login answers (then the
    result carries no result token: the relying site gets a code instead)."""
    light: LightMode = LightMode.FLASH
    """The light this session shows (``LivenessPolicy.for_light``)."""
    last_t: float | None = None
    """Claimed capture time of the last frame (client clock, seconds)."""
    last_arrival: float | None = None
    """Arrival time of the last frame (server clock)."""
    last_answer_at: float | None = None
    """When the last frame's answer was ready (server clock): the client's wait
    for the next frame starts there."""
    placed_ever: bool = False
    frames: int = 0
    recent_frames: list[bytes] = field(default_factory=list)
    """Last frames as received (at most 3), kept only when the audit keeps images
    of refusals."""
    liveness: Snapshot | None = None
    """The liveness session's state (``LivenessSession.snapshot``) after the last
    frame, kept by stores that move sessions between processes; None once decided."""
    version: int = 0
    """Bumped by every save (compare-and-set)."""

    @property
    def result(self) -> SessionResult | None:
        return self.state.result

    @property
    def decided(self) -> bool:
        return self.state.result is not None

    @property
    def address_lock_key(self) -> str:
        return f"ip:{self.address}"

    @property
    def lockout_keys(self) -> tuple[str, ...]:
        """Every key whose lock refuses this session: its address and claimed user."""
        keys = [self.address_lock_key]
        if self.username is not None:
            keys.insert(0, f"user:{self.username}")
        return tuple(keys)

    def to_dict(self) -> dict[str, Any]:
        oval = self.oval
        return {
            "format": RECORD_FORMAT,
            "id": self.id,
            "purpose": self.purpose.value,
            "username": self.username,
            "csrf_token": self.csrf_token,
            "cookie_secret": self.cookie_secret,
            "client_ip": self.client_ip,
            "address": self.address,
            "created_at": self.created_at,
            "expires_at": self.expires_at,
            "state": self.state.to_json(),
            "oval": [oval.cx, oval.cy, oval.rx, oval.ry],
            "enrollment_token": self.enrollment_token,
            "return_to": self.return_to,
            "oidc_request": self.oidc_request,
            "nonce": self.nonce,
            "light": self.light.value,
            "last_t": self.last_t,
            "last_arrival": self.last_arrival,
            "last_answer_at": self.last_answer_at,
            "placed_ever": self.placed_ever,
            "frames": self.frames,
            "recent_frames": [base64.b64encode(f).decode("ascii") for f in self.recent_frames],
            "liveness": self.liveness,
            "version": self.version,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SessionRecord:
        if data.get("format") != RECORD_FORMAT:
            raise ValueError(f"unknown session record format {data.get('format')!r}")
        cx, cy, rx, ry = (float(v) for v in data["oval"])
        return cls(
            id=data["id"],
            purpose=Purpose(data["purpose"]),
            username=data["username"],
            csrf_token=data["csrf_token"],
            cookie_secret=data["cookie_secret"],
            client_ip=data["client_ip"],
            address=data["address"],
            created_at=float(data["created_at"]),
            expires_at=float(data["expires_at"]),
            state=FrameState.from_json(data["state"]),
            oval=Oval(cx, cy, rx, ry),
            enrollment_token=data["enrollment_token"],
            return_to=data["return_to"],
            oidc_request=data.get("oidc_request"),
            nonce=data.get("nonce"),
            light=_light_mode(data["light"]),
            last_t=data["last_t"],
            last_arrival=data["last_arrival"],
            last_answer_at=data["last_answer_at"],
            placed_ever=bool(data["placed_ever"]),
            frames=int(data["frames"]),
            recent_frames=[base64.b64decode(f) for f in data["recent_frames"]],
            liveness=data["liveness"],
            version=int(data["version"]),
        )


class SessionStore(Protocol):
    """Sessions by id. Implementations must be safe to call from many threads."""

    shared: bool
    """Records leave this process (another instance may continue a session): the
    manager then saves the liveness snapshot with every frame."""

    def add(self, record: SessionRecord) -> None:
        """Store a new record (``ValueError`` if its id exists)."""
        ...

    def get(self, session_id: str) -> SessionRecord | None: ...

    def save(self, record: SessionRecord) -> bool:
        """Store ``record`` if the stored version is still ``record.version``, then
        bump ``record.version``; False (nothing written) if another save came first
        or the record is gone."""
        ...

    def remove(self, session_id: str) -> None: ...

    def all(self) -> list[SessionRecord]:
        """Every stored record (for the reaper)."""
        ...

    def lock(self, session_id: str, ttl_s: float) -> AbstractContextManager[bool]:
        """Hold the session for one frame: yields True if this caller got it, False
        if another holds it (the caller then drops its frame). Released on exit,
        or after ``ttl_s`` if the holder died."""
        ...

    def ping(self) -> bool:
        """Reachable (readiness probe)."""
        ...


class InMemorySessionStore:
    """Records as objects in a dict, in this process (``get`` returns the stored
    object itself, so the manager changes it in place and ``save`` only checks and
    bumps the version)."""

    shared = False

    def __init__(self) -> None:
        self._records: dict[str, SessionRecord] = {}
        self._versions: dict[str, int] = {}
        self._locks: dict[str, threading.Lock] = {}
        self._lock = threading.Lock()

    def __len__(self) -> int:
        with self._lock:
            return len(self._records)

    def add(self, record: SessionRecord) -> None:
        with self._lock:
            if record.id in self._records:
                raise ValueError("duplicate session id")
            self._records[record.id] = record
            self._versions[record.id] = record.version
            self._locks[record.id] = threading.Lock()

    def get(self, session_id: str) -> SessionRecord | None:
        with self._lock:
            return self._records.get(session_id)

    def save(self, record: SessionRecord) -> bool:
        with self._lock:
            if self._versions.get(record.id) != record.version:
                return False
            record.version += 1
            self._records[record.id] = record
            self._versions[record.id] = record.version
            return True

    def remove(self, session_id: str) -> None:
        with self._lock:
            self._records.pop(session_id, None)
            self._versions.pop(session_id, None)
            self._locks.pop(session_id, None)

    def all(self) -> list[SessionRecord]:
        with self._lock:
            return list(self._records.values())

    @contextmanager
    def lock(self, session_id: str, ttl_s: float) -> Iterator[bool]:
        with self._lock:
            lock = self._locks.get(session_id)
        if lock is None or not lock.acquire(blocking=False):
            yield False
            return
        try:
            yield True
        finally:
            lock.release()

    def ping(self) -> bool:
        return True


_ADD = """
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], 'v', ARGV[1], 'b', ARGV[2])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
redis.call('ZADD', KEYS[2], ARGV[4], ARGV[5])
return 1
"""
# ARGV[7]: a token of this save. A retried call (its reply was lost) finds its own
# token and reports success instead of a lost race.
_SAVE = """
local current = redis.call('HGET', KEYS[1], 'v')
local mine = redis.call('HGET', KEYS[1], 't') == ARGV[7]
if current and tonumber(current) == tonumber(ARGV[2]) and mine then return 1 end
if (not current) or tonumber(current) ~= tonumber(ARGV[1]) then return 0 end
redis.call('HSET', KEYS[1], 'v', ARGV[2], 'b', ARGV[3], 't', ARGV[7])
redis.call('PEXPIRE', KEYS[1], ARGV[4])
redis.call('ZADD', KEYS[2], ARGV[5], ARGV[6])
return 1
"""
_UNLOCK = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


class RedisSessionStore:
    """Each record one Redis hash: ``v`` (the version, for compare-and-set) and
    ``b`` (the record as JSON, AES-256-GCM encrypted with the template key, bound
    to the session id). The key expires ``retention_s`` after the session's TTL
    (tombstones answer late requests precisely, as in-process); an index sorted
    by that time lets the reaper list sessions without scanning keys."""

    shared = True

    def __init__(self, state: RedisState, cipher: TemplateCipher, *, retention_s: float) -> None:
        self._state = state
        self._cipher = cipher
        self._retention_s = retention_s
        self._index = state.key("sessions")
        self._add = state.script(_ADD)
        self._save = state.script(_SAVE)
        self._unlock = state.script(_UNLOCK)

    def _key(self, session_id: str) -> str:
        return self._state.key("session", session_id)

    def _seal(self, record: SessionRecord) -> str:
        plain = json.dumps(record.to_dict(), allow_nan=False).encode()
        sealed = self._cipher.encrypt_bytes(plain, SESSION_AAD_PREFIX + record.id.encode())
        return base64.b64encode(sealed).decode("ascii")

    def _open(self, session_id: str, blob: str, version: str) -> SessionRecord:
        plain = self._cipher.decrypt_bytes(
            base64.b64decode(blob), SESSION_AAD_PREFIX + session_id.encode()
        )
        record = SessionRecord.from_dict(json.loads(plain))
        record.version = int(version)
        return record

    def _keep_until(self, record: SessionRecord) -> float:
        return record.expires_at + self._retention_s

    def _ttl_ms(self, record: SessionRecord) -> int:
        # The whole lifetime again from each save: a little longer than needed, and
        # independent of how this host's clock compares with the manager's.
        return max(1000, int((record.expires_at - record.created_at + self._retention_s) * 1000))

    def add(self, record: SessionRecord) -> None:
        added = self._state.call(
            lambda: self._add(
                keys=[self._key(record.id), self._index],
                args=[record.version, self._seal(record), self._ttl_ms(record),
                      self._keep_until(record), record.id],
            )
        )  # fmt: skip
        if not added:
            raise ValueError("duplicate session id")

    def get(self, session_id: str) -> SessionRecord | None:
        stored = self._state.call(lambda: self._state.client.hgetall(self._key(session_id)))
        if not stored or "b" not in stored or "v" not in stored:
            return None
        return self._open(session_id, str(stored["b"]), str(stored["v"]))

    def save(self, record: SessionRecord) -> bool:
        bumped = record.version + 1
        token = secrets.token_hex(8)
        record.version = bumped  # sealed with its new version
        try:
            blob = self._seal(record)
        finally:
            record.version = bumped - 1
        saved = self._state.call(
            lambda: self._save(
                keys=[self._key(record.id), self._index],
                args=[bumped - 1, bumped, blob, self._ttl_ms(record),
                      self._keep_until(record), record.id, token],
            )
        )  # fmt: skip
        if saved:
            record.version = bumped
        return bool(saved)

    def remove(self, session_id: str) -> None:
        def remove() -> None:
            pipe = self._state.client.pipeline(transaction=True)
            pipe.delete(self._key(session_id))
            pipe.zrem(self._index, session_id)
            pipe.execute()

        self._state.call(remove)

    def all(self) -> list[SessionRecord]:
        client = self._state.client
        ids = [str(i) for i in self._state.call(lambda: client.zrange(self._index, 0, -1))]
        records = []
        for session_id in ids:
            record = self.get(session_id)
            if record is not None:
                records.append(record)
            else:  # expired by Redis (its instances were gone): forget it
                self._forget(session_id)
        return records

    def _forget(self, session_id: str) -> None:
        self._state.call(lambda: self._state.client.zrem(self._index, session_id))

    @contextmanager
    def lock(self, session_id: str, ttl_s: float) -> Iterator[bool]:
        key = self._state.key("busy", session_id)
        token = secrets.token_hex(8)
        ms = max(1, int(ttl_s * 1000))
        got = self._state.call(lambda: self._state.client.set(key, token, nx=True, px=ms))
        if not got:
            yield False
            return
        try:
            yield True
        finally:
            self._state.call(lambda: self._unlock(keys=[key], args=[token]))

    def ping(self) -> bool:
        return self._state.ping()


def _light_mode(value: object) -> LightMode:
    """A stored record's light (records stored before the gentle light held a bool)."""
    if isinstance(value, bool):
        return LightMode.FLASH if value else LightMode.NONE
    return LightMode(str(value))
