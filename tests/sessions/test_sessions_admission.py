"""Admission slots, in process and in Redis (the machine's Redis, a prefix per test;
outages on a Redis of the test's own)."""

from __future__ import annotations

import threading
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context

import pytest

from redis_support import LossyProxy, RedisServer, redis_url
from redis_workers import hammer_admission
from veronica.errors import StateUnavailableError
from veronica.sessions.admission import (
    ADDRESS_FULL,
    ADMITTED,
    BUSY,
    Admission,
    Admit,
    InMemoryAdmission,
    RedisAdmission,
)
from veronica.state.redis import RedisState, connect

A, B = "203.0.113.7", "198.51.100.1"
HORIZON_S = 180.0


@pytest.fixture(params=["memory", "redis"])
def admission(request: pytest.FixtureRequest) -> Admission:
    if request.param == "memory":
        return InMemoryAdmission()
    state: RedisState = request.getfixturevalue("redis_state")
    return RedisAdmission(state, horizon_s=HORIZON_S)


def admit(
    admission: Admission, sid: str, address: str, until: float, now: float, total: int = 3,
    per_address: int = 2,
) -> Admit:  # fmt: skip
    return admission.admit(
        sid, address, until, max_total=total, max_per_address=per_address, now=now
    )


def test_admits_up_to_the_global_limit(admission: Admission) -> None:
    assert admit(admission, "s1", A, 10.0, 0.0) == ADMITTED
    assert admit(admission, "s2", B, 10.0, 0.0) == ADMITTED
    assert admit(admission, "s3", "192.0.2.1", 10.0, 0.0) == ADMITTED
    assert admit(admission, "s4", "192.0.2.2", 10.0, 0.0) == BUSY
    assert admission.count(1.0) == 3


def test_admits_up_to_the_address_limit(admission: Admission) -> None:
    assert admit(admission, "s1", A, 10.0, 0.0) == ADMITTED
    assert admit(admission, "s2", A, 10.0, 0.0) == ADMITTED
    assert admit(admission, "s3", A, 10.0, 0.0) == ADDRESS_FULL
    assert admit(admission, "s3", B, 10.0, 0.0) == ADMITTED  # another address still fits
    assert (admission.count(1.0, A), admission.count(1.0, B), admission.count(1.0)) == (2, 1, 3)


def test_busy_is_checked_before_the_address(admission: Admission) -> None:
    for i, address in enumerate((A, A, B)):
        assert admit(admission, f"s{i}", address, 10.0, 0.0).ok
    assert admit(admission, "s9", A, 10.0, 0.0) == BUSY


def test_a_refusal_takes_no_slot(admission: Admission) -> None:
    admit(admission, "s1", A, 10.0, 0.0)
    admit(admission, "s2", A, 10.0, 0.0)
    assert admit(admission, "s3", A, 10.0, 0.0) == ADDRESS_FULL
    assert admission.count(0.0) == 2
    admission.refresh("s3", A, 50.0)  # a refused session holds nothing to move
    assert admission.count(20.0) == 0


def test_slots_past_their_deadline_stop_counting(admission: Admission) -> None:
    """An instance that died never releases its sessions: their deadlines free them."""
    assert admit(admission, "s1", A, 8.0, 0.0) == ADMITTED
    assert admit(admission, "s2", A, 9.0, 0.0) == ADMITTED
    assert admission.count(8.0, A) == 2  # until == now still counts
    assert admission.count(8.5, A) == 1
    assert admit(admission, "s3", A, 17.0, 8.5) == ADMITTED  # s1 was dropped
    assert admit(admission, "s4", A, 17.0, 8.5) == ADDRESS_FULL
    assert admit(admission, "s4", A, 18.0, 9.5) == ADMITTED  # and now s2


def test_refresh_moves_the_deadline(admission: Admission) -> None:
    assert admit(admission, "s1", A, 8.0, 0.0) == ADMITTED
    admission.refresh("s1", A, 12.0)  # a frame at 7 s: idle limit 5 s
    assert admission.count(10.0) == 1 and admission.count(10.0, A) == 1
    admission.refresh("s1", A, 9.0)  # the TTL caps it: deadlines may also move earlier
    assert admission.count(10.0) == 0


def test_release_frees_the_slot_and_is_idempotent(admission: Admission) -> None:
    admit(admission, "s1", A, 10.0, 0.0)
    admit(admission, "s2", A, 10.0, 0.0)
    admission.release("s1", A)
    admission.release("s1", A)
    admission.release("unknown", B)
    assert admission.count(0.0) == 1
    assert admit(admission, "s3", A, 10.0, 0.0) == ADMITTED
    admission.refresh("s1", A, 99.0)  # released: a late frame does not bring it back
    assert admission.count(50.0) == 0


def test_admitting_a_held_session_again_counts_it_once(admission: Admission) -> None:
    assert admit(admission, "s1", A, 10.0, 0.0, total=1) == ADMITTED
    assert admit(admission, "s1", A, 20.0, 5.0, total=1) == ADMITTED
    assert admission.count(15.0) == 1


def test_concurrent_admissions_never_exceed_the_limit(admission: Admission) -> None:
    results: list[bool] = []
    lock = threading.Lock()

    def worker(w: int) -> None:
        for i in range(25):
            outcome = admission.admit(
                f"w{w}-{i}", f"addr-{i % 5}", 10.0, max_total=40, max_per_address=100, now=0.0
            )
            with lock:
                results.append(outcome.ok)

    threads = [threading.Thread(target=worker, args=(w,)) for w in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(results) == 40 and len(results) == 200
    assert admission.count(0.0) == 40


@pytest.mark.parametrize(("total", "per_address"), [(0, 1), (1, 0)])
def test_bad_limits_are_refused(admission: Admission, total: int, per_address: int) -> None:
    with pytest.raises(ValueError):
        admission.admit("s", A, 1.0, max_total=total, max_per_address=per_address, now=0.0)


# -- Redis only ----------------------------------------------------------------------------


def test_redis_keys_outlive_their_slots_and_then_go(redis_state: RedisState) -> None:
    admission = RedisAdmission(redis_state, horizon_s=HORIZON_S)
    assert admission.admit("s1", A, 8.0, max_total=3, max_per_address=3, now=0.0).ok
    for key in (redis_state.key("admission"), redis_state.key("admission", "addr", A)):
        assert 180_000 < redis_state.client.pttl(key) <= 181_000
    with pytest.raises(ValueError, match="horizon"):
        admission.admit("s2", A, 181.0, max_total=3, max_per_address=3, now=0.0)


def test_redis_slots_are_shared_between_instances(redis_state: RedisState) -> None:
    other = connect(redis_url(), prefix=redis_state.prefix)
    try:
        one = RedisAdmission(redis_state, horizon_s=HORIZON_S)
        two = RedisAdmission(other, horizon_s=HORIZON_S)
        assert one.admit("s1", A, 10.0, max_total=2, max_per_address=1, now=0.0).ok
        assert two.admit("s2", A, 10.0, max_total=2, max_per_address=1, now=0.0) == ADDRESS_FULL
        assert two.admit("s2", B, 10.0, max_total=2, max_per_address=1, now=0.0).ok
        assert one.admit("s3", "192.0.2.9", 10.0, max_total=2, max_per_address=1, now=0.0) == BUSY
        two.release("s1", A)  # any instance may release (the session moved or ended)
        assert one.count(0.0) == 1
    finally:
        other.close()


@pytest.mark.slow  # spawns processes that import the package
def test_concurrent_processes_never_exceed_the_limit(redis_state: RedisState) -> None:
    args = [redis_url()] * 2, [redis_state.prefix] * 2, [0, 1], [60] * 2, [50] * 2
    with ProcessPoolExecutor(max_workers=2, mp_context=get_context("spawn")) as pool:
        admitted = list(pool.map(hammer_admission, *args))
    assert sum(admitted) == 50
    assert RedisAdmission(redis_state, horizon_s=3600.0).count(0.0) == 50


def test_an_admission_whose_reply_was_lost_takes_one_slot(redis_server: RedisServer) -> None:
    proxy = LossyProxy(redis_server.port)
    state = connect(proxy.url, prefix="lossy:")
    try:
        admission = RedisAdmission(state, horizon_s=HORIZON_S)
        state.client.ping()
        proxy.drop_next_reply()
        assert admission.admit("s1", A, 10.0, max_total=1, max_per_address=1, now=0.0).ok
        assert proxy.dropped == 1
        assert admission.count(0.0) == 1
    finally:
        state.close()
        proxy.close()


def test_redis_down_takes_no_slot_and_recovers(redis_server: RedisServer) -> None:
    state = connect(redis_server.url, prefix="outage:")
    try:
        admission = RedisAdmission(state, horizon_s=HORIZON_S)
        assert admission.admit("s1", A, 100.0, max_total=2, max_per_address=2, now=0.0).ok
        redis_server.stop()
        for call in (
            lambda: admission.admit("s2", A, 100.0, max_total=2, max_per_address=2, now=0.0),
            lambda: admission.refresh("s1", A, 120.0),
            lambda: admission.release("s1", A),
            lambda: admission.count(0.0),
        ):
            with pytest.raises(StateUnavailableError):
                call()
        redis_server.start()
        assert admission.count(50.0) == 1  # s1 survived the restart; s2 was never taken
        assert admission.admit("s2", A, 100.0, max_total=2, max_per_address=2, now=0.0).ok
        assert admission.admit("s3", B, 100.0, max_total=2, max_per_address=2, now=0.0) == BUSY
    finally:
        state.close()
