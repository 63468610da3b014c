"""The provider's short-lived grants (requests, codes, tokens), in process and in
Redis (the machine's Redis under a prefix of the test's own; with CI=true a
missing Redis fails the run instead of skipping)."""

from __future__ import annotations

import hashlib
import json
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import pytest

from redis_support import redis_url
from veronica.oidc.grants import GrantStore, InMemoryGrantStore, RedisGrantStore, digest
from veronica.state.redis import RedisState, connect

RECORD = {"client_id": "shop", "scope": "openid profile", "nonce": None, "amr": ["face", "user"]}


class Clock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


@dataclass
class Grants:
    store: GrantStore
    wait: Callable[[float], None]
    """Let ``seconds`` pass for the store (the test clock, or real sleep for Redis)."""


@pytest.fixture(params=["memory", "redis"])
def grants(request: pytest.FixtureRequest) -> Grants:
    if request.param == "memory":
        clock = Clock()

        def advance(seconds: float) -> None:
            clock.now += seconds

        return Grants(InMemoryGrantStore(clock), advance)
    state: RedisState = request.getfixturevalue("redis_state")
    return Grants(RedisGrantStore(state), time.sleep)


def test_put_then_get(grants: Grants) -> None:
    store = grants.store
    store.put("code", "k1", RECORD, 60)
    assert store.get("code", "k1") == RECORD
    assert store.get("code", "k1") == RECORD, "get does not remove"
    assert store.get("code", "k2") is None


def test_take_gives_the_record_once(grants: Grants) -> None:
    store = grants.store
    store.put("code", "k1", RECORD, 60)
    assert store.take("code", "k1") == RECORD
    assert store.take("code", "k1") is None
    assert store.get("code", "k1") is None
    assert store.take("code", "never") is None


def test_delete(grants: Grants) -> None:
    store = grants.store
    store.put("token", "k1", RECORD, 60)
    store.delete("token", "k1")
    assert store.get("token", "k1") is None
    store.delete("token", "k1")  # deleting what is gone is fine
    store.delete("token", "never")


def test_kinds_are_separate(grants: Grants) -> None:
    store = grants.store
    store.put("code", "k", {"kind": "code"}, 60)
    store.put("used", "k", {"kind": "used"}, 60)
    assert store.take("code", "k") == {"kind": "code"}
    assert store.get("used", "k") == {"kind": "used"}


def test_put_replaces(grants: Grants) -> None:
    store = grants.store
    store.put("used", "k", {"token": None}, 60)
    store.put("used", "k", {"token": "abc"}, 60)
    assert store.get("used", "k") == {"token": "abc"}


def test_records_round_trip_as_json(grants: Grants) -> None:
    record = {"s": "é\n\"'", "n": 1.5, "i": -3, "b": True, "z": None, "l": [["a", "b"]], "d": {}}
    grants.store.put("request", "k", record, 60)
    assert grants.store.get("request", "k") == record


def test_records_expire(grants: Grants) -> None:
    store = grants.store
    store.put("code", "short", RECORD, 0.2)
    store.put("code", "long", RECORD, 60)
    store.put("request", "short", RECORD, 0.2)
    grants.wait(0.4)
    assert store.get("code", "short") is None
    assert store.take("request", "short") is None
    assert store.get("code", "long") == RECORD


@pytest.mark.parametrize("ttl_s", [0, -1, math.nan, math.inf, -math.inf])
def test_a_ttl_is_a_positive_finite_number(grants: Grants, ttl_s: float) -> None:
    with pytest.raises(ValueError):
        grants.store.put("code", "k", RECORD, ttl_s)
    assert grants.store.get("code", "k") is None


def test_of_many_concurrent_takes_exactly_one_gets_the_code(grants: Grants) -> None:
    grants.store.put("code", "race", RECORD, 60)
    results: list[object] = []
    lock = threading.Lock()
    barrier = threading.Barrier(8)

    def worker() -> None:
        barrier.wait()
        taken = grants.store.take("code", "race")
        with lock:
            results.append(taken)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results, key=lambda r: r is None) == [RECORD] + [None] * 7


def test_digest_is_sha256_hex() -> None:
    assert digest("code") == hashlib.sha256(b"code").hexdigest()
    assert digest("a") != digest("b")


# -- in process --------------------------------------------------------------------------


def test_memory_expiry_is_exact_on_the_clock() -> None:
    clock = Clock()
    store = InMemoryGrantStore(clock)
    store.put("code", "k", RECORD, 60)
    clock.now += 59.999
    assert store.get("code", "k") == RECORD
    clock.now += 0.001
    assert store.get("code", "k") is None, "expired at exactly its TTL"
    store.put("code", "k", RECORD, 60)
    clock.now += 60.5
    assert store.take("code", "k") is None


def test_memory_drops_expired_records_on_put() -> None:
    clock = Clock()
    store = InMemoryGrantStore(clock)
    for i in range(50):
        store.put("request", f"k{i}", RECORD, 10)
    clock.now += 11
    store.put("request", "fresh", RECORD, 10)
    assert len(store._items) == 1, "no unbounded growth from requests never finished"


def test_memory_records_are_copies() -> None:
    store = InMemoryGrantStore(Clock())
    record = {"amr": ["face"]}
    store.put("code", "k", record, 60)
    record["amr"].append("changed")
    got = store.get("code", "k")
    assert got == {"amr": ["face"]}
    assert got is not None
    got["amr"].append("again")
    assert store.get("code", "k") == {"amr": ["face"]}


# -- Redis -------------------------------------------------------------------------------


def test_redis_keys_are_prefixed_json_with_the_ttl(redis_state: RedisState) -> None:
    store = RedisGrantStore(redis_state)
    key = digest("the-code")
    store.put("code", key, RECORD, 60)
    name = redis_state.key("oidc", "code", key)
    assert name.startswith(redis_state.prefix + "oidc:code:")
    raw = redis_state.client.get(name)
    assert isinstance(raw, str) and json.loads(raw) == RECORD
    assert 59_000 < redis_state.client.pttl(name) <= 60_000
    store.put("code", "sub-second", RECORD, 0.25)
    assert 0 < redis_state.client.pttl(redis_state.key("oidc", "code", "sub-second")) <= 250
    assert "the-code" not in str(redis_state.client.keys(redis_state.prefix + "*"))


def test_redis_take_removes_the_key(redis_state: RedisState) -> None:
    store = RedisGrantStore(redis_state)
    store.put("code", "k", RECORD, 60)
    assert store.take("code", "k") == RECORD
    assert redis_state.client.exists(redis_state.key("oidc", "code", "k")) == 0


def test_redis_grants_are_shared_between_instances(redis_state: RedisState) -> None:
    other = connect(redis_url(), prefix=redis_state.prefix)
    try:
        one, two = RedisGrantStore(redis_state), RedisGrantStore(other)
        one.put("code", "k", RECORD, 60)
        assert two.take("code", "k") == RECORD
        assert one.take("code", "k") is None, "taken on the other instance"
    finally:
        other.close()


def test_redis_ignores_what_is_not_a_json_object(redis_state: RedisState) -> None:
    store = RedisGrantStore(redis_state)
    redis_state.client.set(redis_state.key("oidc", "code", "list"), "[1, 2]")
    assert store.get("code", "list") is None
    assert store.take("code", "list") is None
