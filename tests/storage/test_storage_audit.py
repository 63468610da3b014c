"""Audit log: events with checks, encrypted frames of refused attempts, retention."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine, text

from veronica.errors import BadInputError, NotFoundError, TemplateKeyError
from veronica.storage import TemplateCipher, TemplateStore, make_engine, upgrade_database
from veronica.storage.audit import AuditCheck, AuditEvent, AuditLog

T0 = datetime(2026, 11, 26, 10, 0, tzinfo=UTC)
CHECKS = (
    AuditCheck("challenge", 1.0, 1.0, True),
    AuditCheck("pad", 0.31, 0.5, False),
)
FRAMES = [b"\xff\xd8frame-one", b"\xff\xd8frame-two"]


def _event(
    decision: str = "refused", username: str | None = "alice", at: datetime = T0, **kw: object
) -> AuditEvent:
    args: dict[str, object] = {
        "session_id": "sess-1",
        "purpose": "login",
        "client_ip": "203.0.113.7",
        "username": username,
        "decision": decision,
        "reason": "liveness_failed" if decision == "refused" else "ok",
        "checks": CHECKS,
        "time": at,
    }
    args.update(kw)
    return AuditEvent(**args)  # type: ignore[arg-type]


def _log(engine: Engine, cipher: TemplateCipher, keep: bool = True) -> AuditLog:
    return AuditLog(engine, cipher, keep_images=keep, retention_days=7)


def _count(engine: Engine, table: str) -> int:
    with engine.connect() as connection:
        return int(connection.execute(text(f"SELECT count(*) FROM {table}")).scalar_one())


def test_event_round_trip(engine: Engine, cipher: TemplateCipher) -> None:
    log = _log(engine, cipher, keep=False)
    event = _event()
    event_id = log.record(event)
    (record,) = log.recent()
    assert record.id == event_id
    assert record.event == event
    assert record.image_count == 0


def test_recent_is_newest_first_and_filters_by_user(engine: Engine, cipher: TemplateCipher) -> None:
    log = _log(engine, cipher, keep=False)
    for i, name in enumerate(["alice", "bob", "alice", None]):
        log.record(_event(username=name, at=T0 + timedelta(seconds=i), session_id=f"s{i}"))
    assert [r.event.session_id for r in log.recent()] == ["s3", "s2", "s1", "s0"]
    assert [r.event.session_id for r in log.recent(limit=2)] == ["s3", "s2"]
    assert [r.event.session_id for r in log.recent(username="alice")] == ["s2", "s0"]


def test_frames_are_kept_encrypted_only_when_asked(engine: Engine, cipher: TemplateCipher) -> None:
    off = _log(engine, cipher, keep=False).record(_event(), FRAMES)
    assert _log(engine, cipher).images(off) == []
    on = _log(engine, cipher).record(_event(), FRAMES)
    assert _log(engine, cipher).images(on) == FRAMES
    with engine.connect() as connection:
        blobs = connection.execute(text("SELECT ciphertext FROM audit_images")).scalars().all()
    assert len(blobs) == 2
    assert all(b"frame" not in blob for blob in blobs), "frames are encrypted at rest"


def test_accepted_attempts_keep_no_frames(engine: Engine, cipher: TemplateCipher) -> None:
    log = _log(engine, cipher)
    event_id = log.record(_event(decision="accepted"), FRAMES)
    assert log.images(event_id) == []
    assert log.recent()[0].image_count == 0


def test_frames_are_bound_to_their_event(engine: Engine, cipher: TemplateCipher) -> None:
    log = _log(engine, cipher)
    first = log.record(_event(), FRAMES[:1])
    second = log.record(_event(), FRAMES[1:])
    with engine.begin() as connection:  # move the first frame onto the second event
        connection.execute(
            text("UPDATE audit_images SET event_id = :b WHERE event_id = :a"),
            {"a": first, "b": second},
        )
    with pytest.raises(TemplateKeyError):
        log.images(second)


def test_wrong_key_cannot_read_frames(
    engine: Engine, cipher: TemplateCipher, other_cipher: TemplateCipher
) -> None:
    event_id = _log(engine, cipher).record(_event(), FRAMES)
    with pytest.raises(TemplateKeyError):
        _log(engine, other_cipher).images(event_id)


def test_retention_purges_frames_but_keeps_events(engine: Engine, cipher: TemplateCipher) -> None:
    log = _log(engine, cipher)
    event_id = log.record(_event(), FRAMES)
    assert log.purge_expired_images(now=datetime.now(UTC) + timedelta(days=6)) == 0
    later = datetime.now(UTC) + timedelta(days=7, seconds=1)
    assert log.images(event_id, now=later) == [], "expired frames are never handed out"
    assert log.purge_expired_images(now=later) == 2
    assert _count(engine, "audit_images") == 0
    assert [r.id for r in log.recent()] == [event_id]


def test_events_outlive_the_user(engine: Engine, cipher: TemplateCipher) -> None:
    store = TemplateStore(engine, cipher)
    store.create_user("alice")
    _log(engine, cipher).record(_event())
    store.delete_user("alice")
    assert [r.event.username for r in _log(engine, cipher).recent()] == ["alice"]


def test_checks_without_a_number_survive(engine: Engine, cipher: TemplateCipher) -> None:
    log = _log(engine, cipher)
    log.record(_event(checks=(AuditCheck("depth", math.nan, math.inf, False),)))
    (check,) = log.recent()[0].event.checks
    assert check.name == "depth" and math.isnan(check.value) and math.isnan(check.limit)


@pytest.mark.parametrize(
    "change",
    [
        {"decision": "maybe"},
        {"session_id": "s" * 65},
        {"client_ip": "1" * 65},
        {"username": "u" * 129},
        {"reason": "r" * 65},
    ],
)
def test_malformed_events_are_refused(
    engine: Engine, cipher: TemplateCipher, change: dict[str, str]
) -> None:
    with pytest.raises(BadInputError):
        _log(engine, cipher).record(_event(**change))
    assert _count(engine, "audit_events") == 0


def test_unknown_event_has_no_images(engine: Engine, cipher: TemplateCipher) -> None:
    with pytest.raises(NotFoundError):
        _log(engine, cipher).images(12345)


def test_retention_must_be_positive(engine: Engine, cipher: TemplateCipher) -> None:
    with pytest.raises(BadInputError):
        AuditLog(engine, cipher, keep_images=True, retention_days=0)


@pytest.mark.postgres
def test_audit_on_postgres(postgres_url: str, cipher: TemplateCipher) -> None:
    upgrade_database(postgres_url)
    engine = make_engine(postgres_url)
    try:
        log = _log(engine, cipher)
        event_id = log.record(_event(username="Zoë"), FRAMES)
        (record,) = log.recent(username="Zoë")
        assert record.event == _event(username="Zoë") and record.image_count == 2
        assert record.event.time.utcoffset() is not None
        assert log.images(event_id) == FRAMES
        assert log.purge_expired_images(now=datetime.now(UTC) + timedelta(days=8)) == 2
        assert log.images(event_id) == []
    finally:
        engine.dispose()


def test_recording_an_event_purges_expired_frames(engine: Engine, cipher: TemplateCipher) -> None:
    log = _log(engine, cipher)
    log.record(_event(), FRAMES)
    with engine.begin() as connection:  # age the frames past their retention
        connection.execute(text("UPDATE audit_images SET expires_at = created_at"))
    log.record(_event(decision="accepted"))
    assert _count(engine, "audit_images") == 0
