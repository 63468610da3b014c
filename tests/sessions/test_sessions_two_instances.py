"""Two instances on one Redis and one database, as behind a load balancer: a
session whose frames alternate between them still decides (each frame continues
from the record the other saved), a frame offered to both at once advances the
session once, and enrollments made on both at the same time are all kept."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import cv2
import pytest
from session_support import FakeClock, Stack, build_stack, feed

from redis_support import redis_url, shared_redis
from support import face_path
from veronica.liveness.types import RGB, Action
from veronica.pipeline.engine import FaceEngine
from veronica.sessions import NewSession, Status
from veronica.simulation import GenuineActor
from veronica.storage import generate_key

pytestmark = pytest.mark.slow

IP = "203.0.113.7"
FPS = 10.0


@pytest.fixture
def pair(tmp_path: Path, face_engine: FaceEngine) -> Iterator[tuple[Stack, Stack]]:
    """Instances ``a`` and ``b``: one SQLite file, one Redis prefix, one template
    key, one clock; each its own session cache, trackers and admission client."""
    with shared_redis() as state:
        common = {
            "template_key": generate_key(),
            "redis_url": redis_url(),
            "redis_prefix": state.prefix,
        }
        clock = FakeClock()
        a = build_stack(tmp_path / "data", face_engine, clock=clock, **common)
        b = build_stack(tmp_path / "data", face_engine, clock=clock, **common)
        try:
            yield a, b
        finally:
            a.services.close()
            b.services.close()


def jpeg(frame: object) -> bytes:
    ok, buffer = cv2.imencode(".jpg", frame)  # type: ignore[call-overload]
    assert ok
    return bytes(buffer)


def test_a_session_alternating_between_instances_signs_in(pair: tuple[Stack, Stack]) -> None:
    a, b = pair
    a.service.enroll("obama", [face_path("obama", n).read_bytes() for n in (1, 3)])
    session = a.manager.create(NewSession(username="obama"), IP)
    actor = GenuineActor.from_photo(face_path("obama", 2), 205)
    action: Action | None = None
    light: RGB | None = None
    served = {"a": 0, "b": 0}
    for i in range(300):
        name, stack = ("a", a) if i % 2 == 0 else ("b", b)
        t = i / FPS
        state = feed(stack, session, t, jpeg(actor.frame(t, action, light)))
        assert state is not None, f"frame {i} was dropped"
        served[name] += 1
        if state.result is not None:
            break
        action, light = state.action, state.light
    else:
        pytest.fail("no decision in 30 s")
    result = state.result
    assert (result.status, result.username) == (Status.SIGNED_IN, "obama"), result
    assert served["a"] >= 10 and served["b"] >= 10
    # Both instances see the one outcome. The one that decided closed its tracker;
    # the other's stale one goes at its next reap (it serves no open session).
    assert a.manager.get(session.id).result == b.manager.get(session.id).result == result
    a.manager.reap()
    b.manager.reap()
    assert a.manager.runtime_count() == b.manager.runtime_count() == 0
    (event,) = [r.event for r in a.audit.recent() if r.event.session_id == session.id]
    assert (event.decision, event.username) == ("accepted", "obama")


def test_one_frame_offered_to_both_instances_advances_the_session_once(
    pair: tuple[Stack, Stack],
) -> None:
    a, b = pair
    session = a.manager.create(NewSession(), IP)
    frame = jpeg(GenuineActor.from_photo(face_path("obama", 2), 205).frame(0.0, None, None))
    barrier = threading.Barrier(2)
    answers: dict[str, object] = {}

    def offer(name: str, stack: Stack) -> None:
        barrier.wait()
        answers[name] = feed(stack, session, 0.0, frame)

    workers = [threading.Thread(target=offer, args=(n, s)) for n, s in (("a", a), ("b", b))]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(60)
    record = a.manager.get(session.id)
    assert record.frames == 1 and record.state.seq == 1
    taken = [answer for answer in answers.values() if answer is not None]
    assert len(taken) == 1 and len(answers) == 2, answers


def test_enrollments_on_both_instances_at_once_are_all_kept(pair: tuple[Stack, Stack]) -> None:
    a, b = pair
    photos = {
        "obama": [face_path("obama", 1).read_bytes()],
        "biden": [face_path("biden", 1).read_bytes()],
    }
    errors: list[BaseException] = []
    barrier = threading.Barrier(2)

    def enroll(stack: Stack, prefix: str) -> None:
        try:
            barrier.wait()
            for n in range(3):
                for person, images in photos.items():
                    stack.service.enroll(f"{prefix}-{person}-{n}", images)
        except BaseException as exc:  # reported below, in the test's thread
            errors.append(exc)

    workers = [threading.Thread(target=enroll, args=(s, p)) for s, p in ((a, "a"), (b, "b"))]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(120)
    assert not errors, errors
    expected = {f"{p}-{person}-{n}" for p in "ab" for person in photos for n in range(3)}
    for stack in (a, b):
        assert {u.name for u in stack.service.store.list_users()} == expected
    # Each instance's 1:N index catches up with the other's enrollments (the same
    # photo under several names: the margin rule names nobody, the candidates show).
    probe = face_path("biden", 2).read_bytes()
    for stack in (a, b):
        stack.service.check_identification()
        assert stack.service.index.user_count == len(expected)
        top = stack.service.identify(probe).candidates[0]
        assert "-biden-" in top.name


def wait_until(predicate: Callable[[], bool], timeout_s: float = 20.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def test_the_gallery_feed_tells_the_other_instance(pair: tuple[Stack, Stack]) -> None:
    """Enroll on ``a``, delete on ``a``: ``b``'s 1:N index follows by itself (no
    user-count check), through Redis pub/sub."""
    a, b = pair
    feed_b = b.services.gallery
    assert feed_b is not None and wait_until(feed_b.subscribed.is_set)
    b.service.enroll("biden", [face_path("biden", 1).read_bytes()])
    assert b.service.index.user_count == 1  # b's index exists before a's change
    before = feed_b.applied
    a.service.enroll("obama", [face_path("obama", 1).read_bytes()])
    assert wait_until(lambda: feed_b.applied > before and b.service.index.user_count == 2)
    probe = face_path("obama", 3).read_bytes()
    assert b.service.identify(probe).candidates[0].name == "obama"
    before = feed_b.applied
    a.service.delete_user("obama")
    assert wait_until(lambda: feed_b.applied > before and b.service.index.user_count == 1)


def test_an_unreachable_redis_does_not_fail_an_enrollment(
    tmp_path: Path, face_engine: FaceEngine, caplog: pytest.LogCaptureFixture
) -> None:
    """The enrollment is in the database; the feed's announcement is dropped with a
    warning (the others catch up at their next reload)."""
    stack = build_stack(
        tmp_path / "data",
        face_engine,
        redis_url="redis://127.0.0.1:1/0",  # nothing listens on port 1
        redis_prefix="veronica-test-unreachable:",
    )
    try:
        with caplog.at_level("WARNING", logger="veronica.state.gallery"):
            stack.service.enroll("obama", [face_path("obama", 1).read_bytes()])
        assert [u.name for u in stack.service.store.list_users()] == ["obama"]
        assert any("could not announce" in r.getMessage() for r in caplog.records)
    finally:
        stack.services.close()
