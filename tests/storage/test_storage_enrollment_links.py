"""One-time enrollment links on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine, text

from veronica.errors import EnrollmentLinkInvalidError, UserNotFoundError
from veronica.storage import TemplateCipher, TemplateStore, make_engine, upgrade_database
from veronica.storage.enrollment_links import EnrollmentLinks, hash_link_token

NOW = datetime(2026, 11, 26, 10, 0, tzinfo=UTC)
DAY = 86_400


@pytest.fixture
def links(engine: Engine, store: TemplateStore) -> EnrollmentLinks:
    store.create_user("alice")
    return EnrollmentLinks(engine)


def test_issue_returns_a_token_and_its_expiry(links: EnrollmentLinks, engine: Engine) -> None:
    token, expires = links.issue("alice", DAY, now=NOW)
    assert expires == NOW + timedelta(days=1)
    assert len(token) == 43
    with engine.connect() as connection:
        stored = connection.execute(text("SELECT token_hash FROM enrollment_links")).scalars()
        assert list(stored) == [hash_link_token(token)], "only the hash is stored"


def test_peek_does_not_use_the_link_redeem_does(links: EnrollmentLinks) -> None:
    token, _ = links.issue("alice", DAY, now=NOW)
    assert links.peek(token, now=NOW) == "alice"
    assert links.peek(token, now=NOW) == "alice"
    assert links.redeem(token, now=NOW) == "alice"
    with pytest.raises(EnrollmentLinkInvalidError) as info:
        links.redeem(token, now=NOW)
    assert info.value.code == "enrollment_link_invalid" and info.value.status == 410
    with pytest.raises(EnrollmentLinkInvalidError):
        links.peek(token, now=NOW)


def test_expired_link_is_invalid(links: EnrollmentLinks) -> None:
    token, expires = links.issue("alice", 60, now=NOW)
    assert links.peek(token, now=expires - timedelta(seconds=1)) == "alice"
    with pytest.raises(EnrollmentLinkInvalidError):
        links.peek(token, now=expires)
    with pytest.raises(EnrollmentLinkInvalidError):
        links.redeem(token, now=expires)


@pytest.mark.parametrize("token", ["", "nope", "x" * 5000])
def test_unknown_tokens_are_invalid(links: EnrollmentLinks, token: str) -> None:
    links.issue("alice", DAY, now=NOW)
    with pytest.raises(EnrollmentLinkInvalidError):
        links.peek(token, now=NOW)
    with pytest.raises(EnrollmentLinkInvalidError):
        links.redeem(token, now=NOW)


def test_unknown_user_gets_no_link(links: EnrollmentLinks) -> None:
    with pytest.raises(UserNotFoundError):
        links.issue("bob", DAY, now=NOW)


def test_links_are_independent(links: EnrollmentLinks, store: TemplateStore) -> None:
    store.create_user("bob")
    a1, _ = links.issue("alice", DAY, now=NOW)
    a2, _ = links.issue("alice", DAY, now=NOW)
    b, _ = links.issue("bob", DAY, now=NOW)
    assert len({a1, a2, b}) == 3
    assert links.redeem(a1, now=NOW) == "alice"
    assert links.redeem(b, now=NOW) == "bob"
    assert links.peek(a2, now=NOW) == "alice"


def test_deleting_the_user_deletes_their_links(
    links: EnrollmentLinks, store: TemplateStore, engine: Engine
) -> None:
    token, _ = links.issue("alice", DAY, now=NOW)
    store.delete_user("alice")
    with engine.connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM enrollment_links")).scalar() == 0
    store.create_user("alice")  # a new person with the old name
    with pytest.raises(EnrollmentLinkInvalidError):
        links.redeem(token, now=NOW)


def test_deleting_the_user_deletes_links_even_without_foreign_keys(
    sqlite_url: str, engine: Engine, cipher: TemplateCipher
) -> None:
    TemplateStore(engine, cipher).create_user("alice")
    EnrollmentLinks(engine).issue("alice", DAY, now=NOW)
    loose = make_engine(sqlite_url, foreign_keys=False)
    try:
        TemplateStore(loose, cipher).delete_user("alice")
        with loose.connect() as connection:
            assert connection.execute(text("SELECT count(*) FROM enrollment_links")).scalar() == 0
    finally:
        loose.dispose()


def _race(links: EnrollmentLinks, token: str, workers: int = 8) -> list[str]:
    winners: list[str] = []
    barrier = threading.Barrier(workers)
    lock = threading.Lock()

    def attempt() -> None:
        barrier.wait()
        try:
            name = links.redeem(token)
        except EnrollmentLinkInvalidError:
            return
        with lock:
            winners.append(name)

    threads = [threading.Thread(target=attempt) for _ in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return winners


def test_concurrent_redeems_only_one_wins(links: EnrollmentLinks) -> None:
    token, _ = links.issue("alice", DAY)
    assert _race(links, token) == ["alice"]


@pytest.fixture
def pg_engine(postgres_url: str) -> Iterator[Engine]:
    upgrade_database(postgres_url)
    engine = make_engine(postgres_url)
    yield engine
    engine.dispose()


@pytest.mark.postgres
def test_links_on_postgres(pg_engine: Engine, cipher: TemplateCipher) -> None:
    store = TemplateStore(pg_engine, cipher)
    store.create_user("Zoë")
    links = EnrollmentLinks(pg_engine)
    token, expires = links.issue("Zoë", 60)
    assert expires.utcoffset() is not None
    assert links.peek(token) == "Zoë"
    assert _race(links, token) == ["Zoë"]
    other, _ = links.issue("Zoë", 60, now=NOW)
    with pytest.raises(EnrollmentLinkInvalidError):
        links.peek(other, now=NOW + timedelta(minutes=2))
    store.delete_user("Zoë")
    with pg_engine.connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM enrollment_links")).scalar() == 0
