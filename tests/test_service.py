"""FaceService over the real engine and a fresh SQLite database per test."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from pydantic import ValidationError
from sqlalchemy import func, select

from support import face_path, models_dir, read
from veronica.errors import (
    BadInputError,
    GalleryTooLargeError,
    ReenrollmentRequiredError,
    TemplateKeyError,
)
from veronica.pipeline.engine import FaceEngine, FaceRejectedError
from veronica.recognition.operating_point import (
    OperatingPoint,
    UnreachableFmrError,
    identification_threshold,
    load_table,
    max_gallery_size,
    threshold_for_fmr,
)
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


def test_open_takes_the_threshold_from_the_table_unless_configured(
    tmp_path: Path, models: Path, face_engine: FaceEngine
) -> None:
    table = load_table(face_engine.model_id)
    default = FaceService.open(make_settings(tmp_path / "a", models), face_engine)
    assert default.threshold == threshold_for_fmr(table, 1e-4)
    assert default.operating_point == OperatingPoint(
        threshold=default.threshold, fmr_target=1e-4, table_id=table.table_id, source="table"
    )
    # The table says it: the upper 95 % bound of the FMR there is at most 1e-4.
    assert table.row_at(default.threshold).fmr_upper <= 1e-4
    looser = FaceService.open(make_settings(tmp_path / "b", models, match_fmr=1e-3), face_engine)
    assert looser.threshold == threshold_for_fmr(table, 1e-3) < default.threshold
    custom = FaceService.open(
        make_settings(tmp_path / "c", models, match_threshold=0.55), face_engine
    )
    assert custom.threshold == 0.55
    assert custom.operating_point.source == "override"
    assert custom.operating_point.fmr_target is None


def test_open_refuses_an_fmr_the_table_cannot_show(
    tmp_path: Path, models: Path, face_engine: FaceEngine
) -> None:
    with pytest.raises(UnreachableFmrError) as caught:
        FaceService.open(make_settings(tmp_path, models, match_fmr=1e-7), face_engine)
    assert caught.value.code == "fmr_unreachable" and caught.value.status == 500


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


# -- 1:N limits: the gallery-size threshold, the size limit, the margin ---------------


def unit(vector: np.ndarray) -> np.ndarray:
    return (vector / np.linalg.norm(vector)).astype(np.float32)


def random_users(service: FaceService, count: int, seed: int = 0) -> list[np.ndarray]:
    """Enroll ``count`` users with random (mutually near-orthogonal) 192-d templates."""
    rng = np.random.default_rng(seed)
    vectors = [unit(rng.standard_normal(192)) for _ in range(count)]
    for i, vector in enumerate(vectors):
        service.enroll_embeddings(f"user{i:02d}", [vector])
    return vectors


def test_identification_threshold_grows_with_the_gallery(service: FaceService) -> None:
    table = load_table(service.engine.model_id)
    policy = service.identification
    assert policy is not None
    assert policy.max_users == max_gallery_size(table, 1e-3, 0.05)
    assert service.identification_threshold(1) == service.threshold  # never below 1:1
    largest = service.identification_threshold(policy.max_users)
    assert largest == identification_threshold(table, 1e-3, policy.max_users) > service.threshold
    vectors = random_users(service, 3)
    found = service.identify_embeddings([vectors[1]])
    assert found.best is not None and found.best.name == "user01"
    assert found.threshold == service.identification_threshold(3)


def test_identify_refuses_a_gallery_larger_than_the_limit(
    tmp_path: Path, models: Path, face_engine: FaceEngine
) -> None:
    # FPIR 1e-5 with up to 50 % misses: the table allows only a few users.
    settings = make_settings(tmp_path, models, identify_fpir=1e-5, identify_max_fnir=0.5)
    service = FaceService.open(settings, face_engine)
    assert service.identification is not None
    limit = service.identification.max_users
    assert 1 <= limit <= 10
    vectors = random_users(service, limit)
    service.check_identification()
    assert service.identify_embeddings([vectors[0]]).best is not None
    service.enroll_embeddings("one_too_many", [unit(np.ones(192))])
    for attempt in (
        service.check_identification,
        lambda: service.identify_embeddings([vectors[0]]),
        lambda: service.identify(face_path("obama", 1).read_bytes()),
    ):
        with pytest.raises(GalleryTooLargeError) as caught:
            attempt()
        assert (caught.value.code, caught.value.status) == ("gallery_too_large", 409)
        assert (caught.value.users, caught.value.limit) == (limit + 1, limit)
        assert "sign in with your user name" in caught.value.message
    # 1:1 is unaffected.
    assert service.verify_embeddings("user00", [vectors[0]]).matched


def test_no_gallery_at_all_when_even_one_user_is_too_many(
    tmp_path: Path, models: Path, face_engine: FaceEngine
) -> None:
    settings = make_settings(tmp_path, models, identify_fpir=1e-6)
    service = FaceService.open(settings, face_engine)
    assert service.identification is not None and service.identification.max_users == 0
    service.check_identification()  # nobody enrolled: nothing to refuse yet
    random_users(service, 1)
    with pytest.raises(GalleryTooLargeError):
        service.check_identification()


@pytest.mark.parametrize(("margin", "accepted"), [(0.0, True), (0.25, True), (0.35, False)])
def test_identify_embeddings_applies_the_margin_rule(
    tmp_path: Path, models: Path, face_engine: FaceEngine, margin: float, accepted: bool
) -> None:
    settings = make_settings(tmp_path, models, identify_min_margin=margin)
    service = FaceService.open(settings, face_engine)
    first = unit(np.eye(192, dtype=np.float32)[0])
    # A look-alike whose cosine with the first user is 0.7: the probe (the first
    # user's own template) scores 1.0 and 0.7, a margin of 0.3.
    look_alike = unit(0.7 * np.eye(192)[0] + math.sqrt(1 - 0.49) * np.eye(192)[1])
    service.enroll_embeddings("first", [first])
    service.enroll_embeddings("look_alike", [look_alike])
    result = service.identify_embeddings([first])
    assert [c.name for c in result.candidates] == ["first", "look_alike"]
    assert result.candidates[1].similarity == pytest.approx(0.7, abs=1e-6)
    assert (result.best is not None) is accepted
    # top_k=1 lists one candidate but still measures the margin to the runner-up.
    single = service.identify_embeddings([first], top_k=1)
    assert len(single.candidates) == 1 and (single.best is not None) is accepted


@pytest.mark.parametrize(
    "bad",
    [
        {"match_fmr": 0.0},
        {"match_fmr": 1e-8},
        {"match_fmr": 0.5},
        {"identify_fpir": 0.2},
        {"identify_max_fnir": 1.0},
        {"identify_min_margin": -0.01},
    ],
)
def test_settings_refuse_rates_outside_their_range(bad: dict[str, float]) -> None:
    with pytest.raises(ValidationError):
        Settings(**bad)  # type: ignore[arg-type]
