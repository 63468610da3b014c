"""TemplateStore on a migrated SQLite file."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest
from sqlalchemy import Engine, text

from veronica.errors import (
    BadInputError,
    ReenrollmentRequiredError,
    TemplateKeyError,
    UserExistsError,
    UserNotFoundError,
)
from veronica.storage import (
    NotEnrolledError,
    TemplateCipher,
    TemplateStore,
    UserRecord,
    make_engine,
    session_factory,
    validate_user_name,
)
from veronica.storage.crypto import IMAGE_AAD_PREFIX

MODEL = "mobilefacenet-1.0.24"
DIM = 192


def _vector(seed: int, dim: int = DIM) -> npt.NDArray[Any]:
    return np.random.default_rng(seed).standard_normal(dim).astype(np.float32)


def _count(engine: Engine, table: str) -> int:
    with engine.connect() as connection:
        value = connection.execute(text(f"SELECT count(*) FROM {table}")).scalar()
    assert isinstance(value, int)
    return value


# -- users ---------------------------------------------------------------------------


def test_create_get_and_list_users(store: TemplateStore) -> None:
    before = datetime.now(UTC)
    created = store.create_user("  bob ")
    assert created == UserRecord(
        name="bob", created_at=created.created_at, template_count=0, subject=created.subject
    )
    assert len(created.subject) >= 20 and created.subject != "bob"
    assert created.created_at.tzinfo is not None
    assert before - timedelta(seconds=1) <= created.created_at <= datetime.now(UTC)
    store.create_user("alice")
    store.add_template("alice", _vector(1), MODEL, 0.9)
    store.add_template("alice", _vector(2), MODEL, 0.8)

    users = store.list_users()
    assert [(u.name, u.template_count) for u in users] == [("alice", 2), ("bob", 0)]
    assert store.get_user("bob") == created
    assert store.get_user("carol") is None
    loaded = store.get_user("alice")
    assert loaded is not None and loaded.created_at.tzinfo == UTC


def test_duplicate_user_is_rejected(store: TemplateStore) -> None:
    store.create_user("alice")
    with pytest.raises(UserExistsError) as info:
        store.create_user(" alice ")
    assert info.value.status == 409
    assert len(store.list_users()) == 1


def test_names_are_nfc_normalised(store: TemplateStore) -> None:
    store.create_user("Jose\u0301")  # e + combining acute
    with pytest.raises(UserExistsError):
        store.create_user("Jos\u00e9")  # precomposed é
    assert store.get_user("Jos\u00e9") is not None


@pytest.mark.parametrize(
    "name",
    ["", "   ", "a" * 129, "bad\x00name", "tab\tname", "line\nbreak", "sep\u2028name", "\x7f"],
)
def test_bad_names_are_rejected(store: TemplateStore, name: str) -> None:
    with pytest.raises(BadInputError):
        store.create_user(name)
    assert store.list_users() == []


def test_longest_and_unicode_names_are_accepted() -> None:
    assert validate_user_name("a" * 128) == "a" * 128
    assert validate_user_name("\u0645\u0647\u200c\u0633\u0627") == "\u0645\u0647\u200c\u0633\u0627"


def test_delete_user_erases_templates_and_images(store: TemplateStore, engine: Engine) -> None:
    store.create_user("alice")
    store.create_user("bob")
    store.add_template("alice", _vector(1), MODEL, 0.9, keep_image=b"img-1")
    store.add_template("alice", _vector(2), MODEL, 0.9, keep_image=b"img-2")
    store.add_template("bob", _vector(3), MODEL, 0.9, keep_image=b"img-3")

    assert store.delete_user("alice") == 2

    assert store.get_user("alice") is None
    assert _count(engine, "users") == 1
    assert _count(engine, "templates") == 1
    assert _count(engine, "enrollment_images") == 1
    assert store.gallery(MODEL).names == ("bob",)


def test_delete_missing_user(store: TemplateStore) -> None:
    with pytest.raises(UserNotFoundError) as info:
        store.delete_user("nobody")
    assert info.value.status == 404


def test_foreign_key_cascade_also_removes_children(store: TemplateStore, engine: Engine) -> None:
    store.create_user("alice")
    store.add_template("alice", _vector(1), MODEL, 0.9, keep_image=b"img")
    with engine.begin() as connection:
        connection.execute(text("DELETE FROM users"))
    assert _count(engine, "templates") == 0
    assert _count(engine, "enrollment_images") == 0


# -- templates -----------------------------------------------------------------------


def test_templates_are_normalised_and_encrypted(store: TemplateStore, engine: Engine) -> None:
    store.create_user("alice")
    raw = _vector(5) * 7.0
    template_id = store.add_template("alice", raw, MODEL, 0.75)
    assert isinstance(template_id, int)

    templates = store.user_templates("alice", MODEL)
    assert templates.shape == (1, DIM) and templates.dtype == np.float32
    assert np.allclose(templates[0], raw / np.linalg.norm(raw), atol=1e-6)
    assert np.isclose(np.linalg.norm(templates[0]), 1.0, atol=1e-6)

    with engine.connect() as connection:
        row = connection.execute(
            text("SELECT model_id, dim, quality, ciphertext FROM templates")
        ).one()
    assert (row.model_id, row.dim, row.quality) == (MODEL, DIM, 0.75)
    assert templates[0].tobytes() not in bytes(row.ciphertext)


@pytest.mark.parametrize(
    "vector",
    [
        np.array([1.0, np.nan, 0.0], dtype=np.float32),
        np.array([1.0, np.inf, 0.0], dtype=np.float32),
        np.zeros(DIM, dtype=np.float32),
        np.ones((2, DIM), dtype=np.float32),
        np.array(1.0, dtype=np.float32),
        np.array([], dtype=np.float32),
        np.ones(DIM, dtype=np.int64),
        [1.0, 0.0],
    ],
    ids=["nan", "inf", "zero", "2d", "0d", "empty", "int", "list"],
)
def test_bad_vectors_are_rejected(store: TemplateStore, engine: Engine, vector: object) -> None:
    store.create_user("alice")
    with pytest.raises(BadInputError):
        store.add_template("alice", vector, MODEL, 0.9)  # type: ignore[arg-type]
    assert _count(engine, "templates") == 0


@pytest.mark.parametrize(
    ("model_id", "quality"),
    [("", 0.9), (" m", 0.9), ("m" * 65, 0.9), (MODEL, float("nan")), (MODEL, "high")],
)
def test_bad_model_id_or_quality(store: TemplateStore, model_id: str, quality: object) -> None:
    store.create_user("alice")
    with pytest.raises(BadInputError):
        store.add_template("alice", _vector(1), model_id, quality)  # type: ignore[arg-type]


def test_add_template_for_missing_user(store: TemplateStore, engine: Engine) -> None:
    with pytest.raises(UserNotFoundError):
        store.add_template("ghost", _vector(1), MODEL, 0.9)
    assert _count(engine, "templates") == 0


def test_dimension_must_match_the_models_other_templates(store: TemplateStore) -> None:
    store.create_user("alice")
    store.create_user("bob")
    store.add_template("alice", _vector(1), MODEL, 0.9)
    with pytest.raises(BadInputError, match="dimensions"):
        store.add_template("bob", _vector(2, DIM + 1), MODEL, 0.9)


def test_not_enrolled_user(store: TemplateStore) -> None:
    store.create_user("alice")
    with pytest.raises(NotEnrolledError) as info:
        store.user_templates("alice", MODEL)
    assert info.value.code == "not_enrolled" and info.value.status == 404
    with pytest.raises(UserNotFoundError):
        store.user_templates("ghost", MODEL)


def test_model_change_requires_reenrollment(store: TemplateStore) -> None:
    store.create_user("alice")
    store.add_template("alice", _vector(1), "old-model-1.0", 0.9)
    with pytest.raises(ReenrollmentRequiredError, match=r"old-model-1\.0") as info:
        store.user_templates("alice", MODEL)
    assert info.value.code == "reenrollment_required"
    assert len(store.gallery(MODEL)) == 0

    store.add_template("alice", _vector(2), MODEL, 0.9)
    assert store.user_templates("alice", MODEL).shape == (1, DIM)
    assert store.user_templates("alice", "old-model-1.0").shape == (1, DIM)


def test_gallery_holds_every_users_templates_for_one_model(store: TemplateStore) -> None:
    vectors = {("carol", 0): _vector(10), ("alice", 0): _vector(11), ("alice", 1): _vector(12)}
    for name in ("carol", "alice", "dave"):
        store.create_user(name)
    for (name, _), vector in vectors.items():
        store.add_template(name, vector, MODEL, 0.9)
    store.add_template("dave", _vector(13, 64), "other-model", 0.9)

    gallery = store.gallery(MODEL)

    assert gallery.names == ("alice", "alice", "carol")
    assert gallery.users == ("alice", "carol")
    assert gallery.matrix.shape == (3, DIM) and gallery.matrix.dtype == np.float32
    expected = [vectors[("alice", 0)], vectors[("alice", 1)], vectors[("carol", 0)]]
    for row, vector in zip(gallery.matrix, expected, strict=True):
        assert np.allclose(row, vector / np.linalg.norm(vector), atol=1e-6)
    # The count 1:N checks before a session: users, not templates; per model.
    assert store.count_users(MODEL) == len(gallery.users) == 2
    assert store.count_users("other-model") == 1
    assert store.count_users("unused-model") == 0
    assert store.gallery("other-model").names == ("dave",)


def test_empty_gallery(store: TemplateStore) -> None:
    gallery = store.gallery(MODEL)
    assert len(gallery) == 0 and gallery.users == ()


# -- transactions and images ---------------------------------------------------------


class _FailingImageCipher(TemplateCipher):
    """Fails while encrypting the image, after the template row was already flushed."""

    def encrypt_bytes(self, data: bytes, aad: bytes) -> bytes:
        if aad.startswith(IMAGE_AAD_PREFIX):
            raise RuntimeError("simulated failure while storing the image")
        return super().encrypt_bytes(data, aad)


def test_failed_add_template_leaves_nothing_behind(engine: Engine) -> None:
    store = TemplateStore(engine, _FailingImageCipher(bytes(range(32))))
    store.create_user("alice")
    with pytest.raises(RuntimeError, match="simulated"):
        store.add_template("alice", _vector(1), MODEL, 0.9, keep_image=b"img")
    assert _count(engine, "templates") == 0
    assert _count(engine, "enrollment_images") == 0
    user = store.get_user("alice")
    assert user is not None and user.template_count == 0


def test_no_image_is_kept_unless_asked(store: TemplateStore, engine: Engine) -> None:
    store.create_user("alice")
    store.add_template("alice", _vector(1), MODEL, 0.9)
    assert _count(engine, "enrollment_images") == 0


def test_kept_image_is_encrypted(store: TemplateStore, engine: Engine, db_path: Path) -> None:
    marker = b"\x89PNG-this-is-alices-face-" + bytes(range(64))
    store.create_user("alice")
    store.add_template("alice", _vector(1), MODEL, 0.9, keep_image=marker)
    assert _count(engine, "enrollment_images") == 1
    engine.dispose()  # close connections so everything is on disk (db file + WAL)

    files = list(db_path.parent.glob(db_path.name + "*"))
    assert db_path in files
    for path in files:
        assert marker[:24] not in path.read_bytes(), f"plain image bytes found in {path.name}"


@pytest.mark.parametrize("image", [b"", "text"])
def test_keep_image_must_be_bytes(store: TemplateStore, image: object) -> None:
    store.create_user("alice")
    with pytest.raises(BadInputError):
        store.add_template("alice", _vector(1), MODEL, 0.9, keep_image=image)  # type: ignore[arg-type]


# -- key check -----------------------------------------------------------------------


def test_key_check_records_fingerprint_then_rejects_another_key(
    engine: Engine, cipher: TemplateCipher, other_cipher: TemplateCipher
) -> None:
    TemplateStore(engine, cipher).check_key()
    with engine.connect() as connection:
        stored = connection.execute(text("SELECT fingerprint FROM key_check")).scalar_one()
    assert stored == cipher.fingerprint

    TemplateStore(engine, cipher).check_key()  # same key: fine
    with pytest.raises(TemplateKeyError, match="does not match") as info:
        TemplateStore(engine, other_cipher).check_key()
    assert info.value.code == "template_key_invalid"
    assert other_cipher.fingerprint in info.value.message


def test_database_created_with_another_key_refuses_to_match(
    sqlite_url: str, engine: Engine, other_cipher: TemplateCipher
) -> None:
    first = TemplateStore(engine, other_cipher)
    first.create_user("alice")
    first.add_template("alice", _vector(1), MODEL, 0.9)  # records other_cipher's id
    engine.dispose()

    reopened = make_engine(sqlite_url)
    try:
        store = TemplateStore(session_factory(reopened), TemplateCipher(b"\x42" * 32))
        for call in (
            store.check_key,
            lambda: store.gallery(MODEL),
            lambda: store.user_templates("alice", MODEL),
            lambda: store.add_template("alice", _vector(2), MODEL, 0.9),
        ):
            with pytest.raises(TemplateKeyError):
                call()
        assert _count(reopened, "templates") == 1
    finally:
        reopened.dispose()


def test_missing_fingerprint_with_templates_is_checked_by_decrypting(
    store: TemplateStore, engine: Engine, cipher: TemplateCipher, other_cipher: TemplateCipher
) -> None:
    store.create_user("alice")
    store.add_template("alice", _vector(1), MODEL, 0.9)
    with engine.begin() as connection:
        connection.execute(text("DELETE FROM key_check"))

    with pytest.raises(TemplateKeyError):
        TemplateStore(engine, other_cipher).check_key()
    assert _count(engine, "key_check") == 0, "a wrong key must never be recorded"
    TemplateStore(engine, cipher).check_key()
    assert _count(engine, "key_check") == 1


def test_swapped_ciphertext_between_users_fails(store: TemplateStore, engine: Engine) -> None:
    store.create_user("alice")
    store.create_user("mallory")
    store.add_template("alice", _vector(1), MODEL, 0.9)
    store.add_template("mallory", _vector(2), MODEL, 0.9)
    with engine.begin() as connection:
        connection.execute(
            text(
                "UPDATE templates SET ciphertext = (SELECT t.ciphertext FROM templates t "
                "JOIN users u ON u.id = t.user_id WHERE u.name = 'mallory') "
                "WHERE user_id = (SELECT id FROM users WHERE name = 'alice')"
            )
        )
    with pytest.raises(TemplateKeyError):
        store.user_templates("alice", MODEL)
    with pytest.raises(TemplateKeyError):
        store.gallery(MODEL)
    assert store.user_templates("mallory", MODEL).shape == (1, DIM)


def test_store_accepts_a_session_factory(engine: Engine, cipher: TemplateCipher) -> None:
    store = TemplateStore(session_factory(engine), cipher)
    assert store.engine is engine
    store.create_user("alice")
    assert [u.name for u in store.list_users()] == ["alice"]


def test_concurrent_writers_wait_instead_of_failing(
    sqlite_url: str, engine: Engine, cipher: TemplateCipher
) -> None:
    """Separate engines (as separate processes would have) enrolling at the same time."""
    TemplateStore(engine, cipher).check_key()
    workers, users_each = 6, 8
    barrier = threading.Barrier(workers)
    errors: list[BaseException] = []

    def enroll(worker: int) -> None:
        own_engine = make_engine(sqlite_url)
        try:
            store = TemplateStore(own_engine, cipher)
            barrier.wait()
            for i in range(users_each):
                name = f"w{worker}-u{i}"
                store.create_user(name)
                store.add_template(name, _vector(worker * 100 + i), MODEL, 0.9)
        except BaseException as exc:  # collected and re-raised by the main thread
            errors.append(exc)
        finally:
            own_engine.dispose()

    threads = [threading.Thread(target=enroll, args=(w,)) for w in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert _count(engine, "users") == workers * users_each
    assert _count(engine, "templates") == workers * users_each
