"""FaceService over the real engine and a fresh SQLite database per test."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import func, select

from support import face_path, models_dir, read
from veronica.errors import BadInputError, ReenrollmentRequiredError, TemplateKeyError
from veronica.pipeline.engine import FaceEngine, FaceRejectedError
from veronica.service import MAX_ENROLL_IMAGES, FaceService
from veronica.settings import Settings
from veronica.storage import NotEnrolledError, TemplateCipher, generate_key
from veronica.storage.crypto import image_aad
from veronica.storage.orm import EnrollmentImage, Template, User


@pytest.fixture(autouse=True)
def _isolated(isolated_env: None) -> None:
    """Settings come from the test alone (see ``isolated_env`` in conftest)."""


@pytest.fixture(scope="module")
def models() -> Path:
    return models_dir()


def make_settings(tmp_path: Path, models: Path, **overrides: object) -> Settings:
    return Settings(data_dir=tmp_path / "data", models_dir=models, **overrides)  # type: ignore[arg-type]


@pytest.fixture
def settings(tmp_path: Path, models: Path) -> Settings:
    return make_settings(tmp_path, models)


@pytest.fixture
def service(settings: Settings, face_engine: FaceEngine) -> FaceService:
    return FaceService.open(settings, face_engine)


def count_rows(service: FaceService, table: type[User | Template | EnrollmentImage]) -> int:
    with service.store.engine.connect() as connection:
        return int(connection.scalar(select(func.count()).select_from(table)) or 0)


def photos(*refs: tuple[str, int]) -> list[bytes]:
    return [face_path(person, n).read_bytes() for person, n in refs]


# -- open -------------------------------------------------------------------------------


def test_open_uses_the_embedder_threshold_unless_configured(
    tmp_path: Path, models: Path, face_engine: FaceEngine
) -> None:
    default = FaceService.open(make_settings(tmp_path / "a", models), face_engine)
    assert default.threshold == face_engine.default_threshold
    custom = FaceService.open(
        make_settings(tmp_path / "b", models, match_threshold=0.55), face_engine
    )
    assert custom.threshold == 0.55


def test_open_with_another_key_is_refused(
    tmp_path: Path, models: Path, face_engine: FaceEngine
) -> None:
    first = FaceService.open(
        make_settings(tmp_path, models, template_key=generate_key()), face_engine
    )
    first.enroll("obama", photos(("obama", 1)))
    with pytest.raises(TemplateKeyError) as caught:
        FaceService.open(make_settings(tmp_path, models, template_key=generate_key()), face_engine)
    assert caught.value.code == "template_key_invalid"


# -- enroll -----------------------------------------------------------------------------


def test_enroll_stores_one_template_per_photo(service: FaceService) -> None:
    result = service.enroll("obama", photos(("obama", 1), ("obama", 2)))
    assert result.name == "obama"
    assert result.templates_added == 2
    assert len(result.quality_scores) == 2 and all(0 < q <= 1 for q in result.quality_scores)
    [user] = service.store.list_users()
    assert (user.name, user.template_count) == ("obama", 2)


def test_enroll_again_adds_templates_to_the_same_user(service: FaceService) -> None:
    service.enroll("obama", photos(("obama", 1)))
    service.enroll("obama", photos(("obama", 2)))
    [user] = service.store.list_users()
    assert user.template_count == 2


def test_enroll_refuses_another_persons_photo_for_an_existing_user(
    service: FaceService,
) -> None:
    service.enroll("obama", photos(("obama", 1)))
    with pytest.raises(BadInputError, match="already enrolled"):
        service.enroll("obama", photos(("biden", 1)))
    assert count_rows(service, Template) == 1
    assert not service.verify("obama", face_path("biden", 2).read_bytes()).matched


@pytest.mark.parametrize(
    ("bad", "code"),
    [
        ("no_face.jpg", "no_face"),
        ("dark.jpg", "too_dark"),
        ("blurred.jpg", "blurred"),
        ("multi/two_faces.jpg", "multiple_faces"),
    ],
)
def test_enroll_is_all_or_nothing_when_the_last_photo_is_bad(
    service: FaceService, bad: str, code: str
) -> None:
    with pytest.raises(FaceRejectedError) as caught:
        service.enroll("obama", [face_path("obama", 1).read_bytes(), read(bad)])
    assert caught.value.code == code
    assert caught.value.message.startswith("image 2: ")
    assert service.store.get_user("obama") is None
    assert count_rows(service, User) == count_rows(service, Template) == 0


def test_enroll_rejected_photo_adds_nothing_to_an_existing_user(service: FaceService) -> None:
    service.enroll("obama", photos(("obama", 1)))
    with pytest.raises(FaceRejectedError):
        service.enroll("obama", [face_path("obama", 2).read_bytes(), read("no_face.jpg")])
    [user] = service.store.list_users()
    assert user.template_count == 1


def test_enroll_stores_nothing_when_the_database_write_fails_part_way(
    service: FaceService,
) -> None:
    # A stray template of the current model with another size makes storing fail after
    # the photos passed every check: the new user must not be left half-created.
    service.store.create_user("stray")
    odd = np.ones(64, dtype=np.float32)
    service.store.add_template("stray", odd, model_id=service.engine.model_id, quality=0.5)
    with pytest.raises(BadInputError, match="dimensions"):
        service.enroll("obama", photos(("obama", 1), ("obama", 2)))
    assert service.store.get_user("obama") is None
    assert count_rows(service, Template) == 1


def test_enroll_refuses_two_different_people(service: FaceService) -> None:
    with pytest.raises(BadInputError, match="image 3 does not show the same person"):
        service.enroll("obama", photos(("obama", 1), ("obama", 2), ("biden", 1)))
    assert count_rows(service, User) == count_rows(service, Template) == 0


def test_enroll_undecodable_image(service: FaceService) -> None:
    with pytest.raises(BadInputError) as caught:
        service.enroll("obama", [face_path("obama", 1).read_bytes(), read("truncated.jpg")])
    assert caught.value.code == "image_undecodable"
    assert count_rows(service, User) == 0


@pytest.mark.parametrize("count", [0, MAX_ENROLL_IMAGES + 1])
def test_enroll_image_count_limits(service: FaceService, count: int) -> None:
    image = face_path("obama", 1).read_bytes()
    with pytest.raises(BadInputError):
        service.enroll("obama", [image] * count)
    assert count_rows(service, User) == 0


def test_enroll_bad_name_stores_nothing(service: FaceService) -> None:
    with pytest.raises(BadInputError, match="control characters"):
        service.enroll("ob\x00ama", photos(("obama", 1)))
    assert count_rows(service, User) == 0


# -- verify -----------------------------------------------------------------------------


def test_verify_same_person_matches_and_another_does_not(service: FaceService) -> None:
    service.enroll("obama", photos(("obama", 1), ("obama", 2)))
    same = service.verify("obama", face_path("obama", 3).read_bytes())
    assert same.matched and same.similarity >= same.threshold == service.threshold
    other = service.verify("obama", face_path("biden", 1).read_bytes())
    assert not other.matched and other.similarity < service.threshold


def test_verify_refuses_a_photo_with_two_faces(service: FaceService) -> None:
    service.enroll("obama", photos(("obama", 1)))
    with pytest.raises(FaceRejectedError) as caught:
        service.verify("obama", read("multi/two_faces.jpg"))
    assert caught.value.code == "multiple_faces"
    assert caught.value.status == 422


def test_verify_user_without_templates_is_not_enrolled(service: FaceService) -> None:
    service.store.create_user("ghost")
    with pytest.raises(NotEnrolledError) as caught:
        service.verify("ghost", face_path("obama", 1).read_bytes())
    assert caught.value.code == "not_enrolled"


def test_model_change_requires_reenrollment(service: FaceService) -> None:
    # A user enrolled by an older embedding model: scores across models mean nothing.
    service.store.create_user("legacy")
    vector = np.random.default_rng(0).standard_normal(128).astype(np.float32)
    service.store.add_template("legacy", vector, model_id="old-embedder-0.1", quality=0.9)
    probe = face_path("obama", 3).read_bytes()

    with pytest.raises(ReenrollmentRequiredError) as caught:
        service.verify("legacy", probe)
    assert caught.value.code == "reenrollment_required"
    assert caught.value.status == 409
    assert "old-embedder-0.1" in caught.value.message
    # The old template is invisible to identification as well.
    assert service.identify(probe).candidates == ()

    service.enroll("legacy", photos(("obama", 1)))  # re-enroll with the current model
    assert service.verify("legacy", probe).matched


# -- identify ---------------------------------------------------------------------------


@pytest.fixture
def gallery_service(service: FaceService) -> FaceService:
    service.enroll("obama", photos(("obama", 1), ("obama", 2)))
    service.enroll("biden", photos(("biden", 1)))
    service.enroll("alex_lacamoire", photos(("alex_lacamoire", 1), ("alex_lacamoire", 2)))
    service.enroll("rose_leslie", photos(("rose_leslie", 1)))
    return service


@pytest.mark.parametrize(
    ("person", "n"),
    [("obama", 3), ("biden", 2), ("alex_lacamoire", 3), ("rose_leslie", 2)],
)
def test_identify_ranks_the_right_person_first(
    gallery_service: FaceService, person: str, n: int
) -> None:
    result = gallery_service.identify(face_path(person, n).read_bytes(), top_k=10)
    threshold = gallery_service.threshold
    assert result.best is not None and result.best.name == person
    first, *others = result.candidates
    assert first.name == person and first.similarity >= threshold
    assert sorted(c.name for c in result.candidates) == sorted(
        ["obama", "biden", "alex_lacamoire", "rose_leslie"]
    )
    assert all(c.similarity < threshold for c in others), others
    similarities = [c.similarity for c in result.candidates]
    assert similarities == sorted(similarities, reverse=True)


def test_identify_top_k_limits_candidates(gallery_service: FaceService) -> None:
    result = gallery_service.identify(face_path("obama", 3).read_bytes(), top_k=2)
    assert len(result.candidates) == 2 and result.candidates[0].name == "obama"


@pytest.mark.parametrize("probe", ["portrait.png", "portrait.webp"])
def test_identify_unknown_person(gallery_service: FaceService, probe: str) -> None:
    result = gallery_service.identify(read(probe))
    assert result.best is None
    assert result.candidates and all(
        c.similarity < gallery_service.threshold for c in result.candidates
    )


def test_identify_empty_gallery(service: FaceService) -> None:
    result = service.identify(face_path("obama", 1).read_bytes())
    assert result.best is None and result.candidates == ()


def test_identify_photo_without_a_face(gallery_service: FaceService) -> None:
    with pytest.raises(FaceRejectedError) as caught:
        gallery_service.identify(read("no_face.jpg"))
    assert caught.value.code == "no_face"


# -- enrollment images ------------------------------------------------------------------


def test_enrollment_images_are_not_kept_by_default(service: FaceService) -> None:
    assert Settings().keep_enrollment_images is False
    service.enroll("obama", photos(("obama", 1), ("obama", 2)))
    assert count_rows(service, Template) == 2
    assert count_rows(service, EnrollmentImage) == 0


def test_kept_enrollment_images_are_encrypted(
    tmp_path: Path, models: Path, face_engine: FaceEngine
) -> None:
    key = generate_key()
    settings = make_settings(tmp_path, models, template_key=key, keep_enrollment_images=True)
    service = FaceService.open(settings, face_engine)
    jpegs = photos(("obama", 1), ("obama", 2))
    service.enroll("obama", jpegs, keep_images=settings.keep_enrollment_images)

    assert count_rows(service, EnrollmentImage) == 2
    with service.store.engine.connect() as connection:
        user_id = connection.scalar(select(User.id).where(User.name == "obama"))
        blobs = connection.scalars(select(EnrollmentImage.ciphertext)).all()
    service.store.engine.dispose()

    db_file = tmp_path / "data" / "veronica.db"
    stored = b"".join(
        p.read_bytes() for p in (db_file, db_file.with_name(db_file.name + "-wal")) if p.exists()
    )
    cipher = TemplateCipher.from_setting(key)
    assert user_id is not None
    for jpeg in jpegs:
        # Large values span SQLite overflow pages, so look for short fragments.
        fragments = [jpeg[i : i + 32] for i in range(0, len(jpeg) - 32, 1000)]
        assert not [f for f in fragments if f in stored]  # no piece of the photo in clear
    for blob in blobs:
        assert blob[:32] in stored  # we are looking at the right bytes ...
    # ... and they are the photos, encrypted under the template key.
    assert sorted(cipher.decrypt_bytes(b, image_aad(user_id)) for b in blobs) == sorted(jpegs)


def test_deleting_a_user_erases_kept_images(
    tmp_path: Path, models: Path, face_engine: FaceEngine
) -> None:
    service = FaceService.open(make_settings(tmp_path, models), face_engine)
    service.enroll("obama", photos(("obama", 1)), keep_images=True)
    assert count_rows(service, EnrollmentImage) == 1
    assert service.store.delete_user("obama") == 1
    assert count_rows(service, EnrollmentImage) == count_rows(service, Template) == 0


# -- several samples of one face (a liveness session's best frames) -----------------------


def samples(service: FaceService, *refs: tuple[str, int]) -> list[np.ndarray]:
    return [service.engine.embed(face_path(person, n).read_bytes()) for person, n in refs]


def test_enroll_embeddings_all_or_nothing(service: FaceService) -> None:
    result = service.enroll_embeddings("obama", samples(service, ("obama", 1), ("obama", 2)))
    assert (result.name, result.templates_added, result.quality_scores) == ("obama", 2, (0.0, 0.0))
    assert count_rows(service, Template) == 2
    with pytest.raises(BadInputError, match="same person"):
        service.enroll_embeddings("obama", samples(service, ("obama", 3), ("biden", 1)))
    with pytest.raises(BadInputError, match="already enrolled"):
        service.enroll_embeddings("obama", samples(service, ("biden", 1)))
    with pytest.raises(BadInputError):
        service.enroll_embeddings("obama", [])
    with pytest.raises(BadInputError):
        service.enroll_embeddings("obama", samples(service, ("obama", 3)), qualities=[0.5, 0.6])
    assert count_rows(service, Template) == 2
    added = service.enroll_embeddings("obama", samples(service, ("obama", 3)), qualities=[0.7])
    assert added.quality_scores == (0.7,)


def test_verify_embeddings_needs_most_samples_to_match(service: FaceService) -> None:
    service.enroll("obama", photos(("obama", 1)))
    obama = samples(service, ("obama", 2), ("obama", 3))
    biden = samples(service, ("biden", 1), ("biden", 2))
    assert service.verify_embeddings("obama", obama).matched
    assert service.verify_embeddings("obama", [*obama, biden[0]]).matched  # 2 of 3
    assert not service.verify_embeddings("obama", [obama[0], *biden]).matched  # 1 of 3
    assert not service.verify_embeddings("obama", [obama[0], biden[0]]).matched  # 2: both
    single = service.verify_embeddings("obama", obama[:1])
    assert single == service.verify("obama", face_path("obama", 2).read_bytes())
    with pytest.raises(NotEnrolledError):
        service.store.create_user("empty")
        service.verify_embeddings("empty", obama)
    with pytest.raises(BadInputError):
        service.verify_embeddings("obama", [])


def test_identify_embeddings(service: FaceService) -> None:
    assert service.identify_embeddings(samples(service, ("obama", 1))).best is None  # empty
    service.enroll("obama", photos(("obama", 1)))
    service.enroll("biden", photos(("biden", 1)))
    found = service.identify_embeddings(samples(service, ("biden", 2)))
    assert found.best is not None and found.best.name == "biden"
    assert [c.name for c in found.candidates] == ["biden", "obama"]
    assert (
        service.identify_embeddings(samples(service, ("biden", 2)), top_k=1).candidates[0].name
        == "biden"
    )
    stranger = service.identify_embeddings(samples(service, ("rose_leslie", 1)))
    assert stranger.best is None and len(stranger.candidates) == 2
    with pytest.raises(BadInputError):
        service.identify_embeddings([])
    with pytest.raises(BadInputError):
        service.identify_embeddings(samples(service, ("obama", 1)), top_k=0)
