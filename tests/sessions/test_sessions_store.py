"""The session stores, in-process and Redis: records, compare-and-set, locks."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator

import pytest

from redis_support import shared_redis
from veronica.liveness.policy import LightMode
from veronica.liveness.positioning import Hint
from veronica.liveness.session import Phase
from veronica.liveness.types import Action
from veronica.sessions import FrameState, Purpose, Reason, SessionResult, Status
from veronica.sessions.store import (
    InMemorySessionStore,
    RedisSessionStore,
    SessionRecord,
    SessionStore,
)
from veronica.storage import TemplateCipher, generate_key

SECRET = "cookie-secret-that-must-not-show"


def record(session_id: str, **changes: object) -> SessionRecord:
    values: dict[str, object] = {
        "id": session_id,
        "purpose": Purpose.LOGIN,
        "username": "ann",
        "csrf_token": "csrf",
        "cookie_secret": SECRET,
        "client_ip": "2001:db8::7",
        "address": "2001:db8::/64",
        "created_at": 1000.0,
        "expires_at": 1180.0,
        "state": FrameState(0, Phase.POSITIONING),
    }
    values.update(changes)
    return SessionRecord(**values)  # type: ignore[arg-type]


@pytest.fixture(params=["memory", "redis"])
def store(request: pytest.FixtureRequest) -> Iterator[SessionStore]:
    if request.param == "memory":
        yield InMemorySessionStore()
        return
    with shared_redis() as state:
        yield RedisSessionStore(state, TemplateCipher.from_setting(generate_key()), retention_s=180)


def test_add_get_remove(store: SessionStore) -> None:
    store.add(record("a"))
    with pytest.raises(ValueError):
        store.add(record("a"))
    got = store.get("a")
    assert got is not None and got.id == "a" and got.cookie_secret == SECRET
    assert store.get("b") is None and store.ping()
    store.remove("a")
    assert store.get("a") is None and store.all() == []


def test_a_save_is_a_compare_and_set(store: SessionStore) -> None:
    store.add(record("a"))
    first, second = store.get("a"), store.get("a")
    assert first is not None and second is not None
    first.frames = 1
    assert store.save(first) and first.version == 1
    if store.shared:  # in-process both are the same object, and it has moved on
        second.frames = 99
        assert not store.save(second) and second.version == 0
    again = store.get("a")
    assert again is not None and again.frames == 1 and again.version == 1
    assert not store.save(record("gone"))


def test_concurrent_savers_one_wins_per_version(store: SessionStore) -> None:
    store.add(record("a"))
    wins: list[int] = []

    def advance(n: int) -> None:
        for _ in range(20):
            current = store.get("a")
            assert current is not None
            current.frames += 1
            if store.save(current):
                wins.append(n)

    threads = [threading.Thread(target=advance, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    final = store.get("a")
    assert final is not None and final.version == len(wins) and final.frames == len(wins)


def test_the_lock_admits_one_holder(store: SessionStore) -> None:
    store.add(record("a"))
    with store.lock("a", 5.0) as first:
        assert first
        with store.lock("a", 5.0) as second:
            assert not second
    with store.lock("a", 5.0) as again:
        assert again


def test_a_record_round_trips_whole(store: SessionStore) -> None:
    done = FrameState(
        seq=7,
        phase=Phase.DECIDED,
        action=Action.BLINK,
        light=(255, 0, 16),
        hints=(Hint.MOVE_CLOSER,),
        placed=True,
        progress=1.0,
        result=SessionResult(Status.SIGNED_IN, Reason.OK, "ann", "tok", "https://x/#token=tok"),
    )
    full = record(
        "a", state=done, recent_frames=[b"\xff\xd8\xffone"], liveness={"format": 1, "x": [1.5]},
        last_t=1.25, last_arrival=1002.5, last_answer_at=1002.6, frames=7, placed_ever=True,
    )  # fmt: skip
    store.add(full)
    got = store.get("a")
    assert got is not None
    assert json.dumps(got.to_dict(), sort_keys=True) == json.dumps(full.to_dict(), sort_keys=True)


def test_a_record_keeps_its_light_and_reads_the_older_bool() -> None:
    gentle = record("a", light=LightMode.GENTLE)
    data = gentle.to_dict()
    assert data["light"] == "gentle"
    assert SessionRecord.from_dict(data).light is LightMode.GENTLE
    # Records saved before the gentle light said only whether the colours ran.
    assert SessionRecord.from_dict({**data, "light": True}).light is LightMode.FLASH
    assert SessionRecord.from_dict({**data, "light": False}).light is LightMode.NONE


def test_redis_keeps_records_encrypted_and_expiring() -> None:
    with shared_redis() as state:
        store = RedisSessionStore(
            state, TemplateCipher.from_setting(generate_key()), retention_s=180
        )
        store.add(record("a", liveness={"embedding": "biometric"}))
        raw = state.client.hgetall(state.key("session", "a"))
        assert set(raw) == {"v", "b"} and raw["v"] == "0"  # ("t" appears with the first save)
        assert SECRET not in raw["b"] and "biometric" not in raw["b"]
        ttl = state.client.pttl(state.key("session", "a"))
        assert 0 < ttl <= (180 + 180) * 1000  # the TTL plus the tombstone time
        # Another key cannot open it (a copied value decrypts nowhere else).
        other = RedisSessionStore(
            state, TemplateCipher.from_setting(generate_key()), retention_s=180
        )
        with pytest.raises(Exception):  # noqa: B017 (the cipher's own error type)
            other.get("a")
