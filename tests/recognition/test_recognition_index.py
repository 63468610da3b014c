"""The 1:N gallery indexes: exact vs HNSW agreement, updates, concurrency, bad input,
and FaceService answering as it did before the index (exact) and through HNSW."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest

from support import models_dir
from veronica.errors import BadInputError
from veronica.pipeline.engine import FaceEngine
from veronica.recognition.index import (
    AdaptiveIndex,
    ExactIndex,
    GalleryChange,
    GalleryIndex,
    HnswIndex,
    HnswParameters,
    rank_users,
)
from veronica.recognition.matcher import Gallery
from veronica.service import FaceService
from veronica.settings import Settings

DIM = 32
FloatArray = npt.NDArray[np.float32]


def unit(rows: npt.NDArray[np.float64]) -> FloatArray:
    return (rows / np.linalg.norm(rows, axis=-1, keepdims=True)).astype(np.float32)


def clustered_gallery(users: int, seed: int = 0, dim: int = DIM) -> tuple[Gallery, FloatArray]:
    """``users`` identities with 1–3 templates each around their own centre, and one
    probe per identity (a fresh sample of the same centre)."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((users, dim))
    counts = rng.integers(1, 4, size=users)
    owner = np.repeat(np.arange(users), counts)
    rows = unit(centres[owner] + 0.35 * rng.standard_normal((len(owner), dim)))
    probes = unit(centres + 0.35 * rng.standard_normal((users, dim)))
    names = tuple(f"user{o:04d}" for o in owner)
    return Gallery(names, rows), probes


def both(gallery: Gallery) -> list[GalleryIndex]:
    return [ExactIndex(gallery), HnswIndex.from_gallery(gallery)]


# -- exact vs HNSW ----------------------------------------------------------------------


@pytest.mark.parametrize("users", [1, 2, 40, 300])
def test_hnsw_agrees_with_exact_on_small_galleries(users: int) -> None:
    gallery, probes = clustered_gallery(users, seed=users)
    exact, hnsw = both(gallery)
    noise = unit(np.random.default_rng(99).standard_normal((20, DIM)))  # non-mated probes
    for probe in [*probes, *noise]:
        want = exact.search(probe, 5)
        got = hnsw.search(probe, 5)
        assert got[0].name == want[0].name  # recall@1 is 1.0 at these sizes
        # Whatever the graph proposes is scored exactly and ranked best first.
        truth = dict(zip(gallery.users, gallery.user_similarities(probe).tolist(), strict=True))
        assert [c.similarity for c in got] == pytest.approx([truth[c.name] for c in got], abs=1e-6)
        assert [c.similarity for c in got] == sorted((c.similarity for c in got), reverse=True)


def test_exact_index_scores_like_the_gallery() -> None:
    gallery, probes = clustered_gallery(50)
    matches = ExactIndex(gallery).search_many(list(probes[:3]), k=1)
    assert matches.users == gallery.users  # the exact index scores everyone
    for row, probe in zip(matches.similarities, probes[:3], strict=True):
        np.testing.assert_array_equal(row, gallery.user_similarities(probe))


def test_a_users_score_is_the_max_over_their_templates() -> None:
    a, b, c = np.eye(DIM)[:3]
    rows = unit(np.stack([a, b, 0.6 * a + 0.8 * c]))
    gallery = Gallery(("ana", "ana", "bo"), rows)
    for index in both(gallery):
        found = index.search(b.astype(np.float32), 2)
        assert [x.name for x in found] == ["ana", "bo"]
        assert found[0].similarity == pytest.approx(1.0)  # ana's second template
        assert index.search(a.astype(np.float32), 1)[0].similarity == pytest.approx(1.0)
        assert (index.user_count, index.row_count) == (2, 3)


def test_search_many_scores_every_candidate_against_every_probe() -> None:
    gallery, probes = clustered_gallery(60, seed=3)
    exact, hnsw = both(gallery)
    batch = hnsw.search_many(list(probes[:4]), k=3)
    reference = exact.search_many(list(probes[:4]), k=3)
    assert set(batch.users) <= set(reference.users)
    for j, user in enumerate(batch.users):
        column = reference.similarities[:, reference.users.index(user)]
        np.testing.assert_allclose(batch.similarities[:, j], column, atol=1e-6)
    for i, probe in enumerate(probes[:4]):  # each probe's own top 3 are among them
        assert {c.name for c in exact.search(probe, 3)} <= set(batch.users), i


def test_rank_users_breaks_ties_by_index() -> None:
    scores = np.array([0.5, 0.9, 0.5, 0.9, 0.1], dtype=np.float32)
    assert rank_users(scores, 3).tolist() == [1, 3, 0]
    assert rank_users(scores, 10).tolist() == [1, 3, 0, 2, 4]


# -- updates ----------------------------------------------------------------------------


@pytest.mark.parametrize("make", [ExactIndex, HnswIndex.from_gallery])
def test_add_remove_apply_and_reload(make: type) -> None:
    gallery, probes = clustered_gallery(30, seed=5)
    index = make(gallery)
    newcomer = unit(np.random.default_rng(7).standard_normal((2, DIM)))
    index.add("zoe", newcomer)
    assert index.search(newcomer[1], 1)[0].name == "zoe"
    assert index.templates("zoe").shape == (2, DIM)
    index.add("zoe", newcomer[:1])  # a later enrollment adds rows
    assert index.templates("zoe").shape == (3, DIM)
    assert index.remove("zoe") == 3
    assert index.remove("zoe") == 0
    assert index.templates("zoe").shape == (0, DIM)
    assert all(c.name != "zoe" for c in index.search(newcomer[1], 5))
    # apply replaces a user's rows; applying it twice changes nothing more.
    target = gallery.users[0]
    change = GalleryChange(target, newcomer[:1])
    index.apply(change)
    index.apply(change)
    assert index.templates(target).shape == (1, DIM)
    assert index.search(newcomer[0], 1)[0].name == target
    index.apply(GalleryChange.removed(target))
    assert target not in {c.name for c in index.search(newcomer[0], 5)}
    assert index.user_count == 29
    index.reload(gallery)
    assert index.user_count == 30 and index.row_count == len(gallery)
    assert index.search(probes[0], 1)[0].name == gallery.users[0]


def test_removed_rows_are_wiped_at_once_and_compacted_later(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import veronica.recognition.index as index_module

    monkeypatch.setattr(index_module, "COMPACT_MIN_DEAD", 0)
    gallery, probes = clustered_gallery(100, seed=23)
    index = HnswIndex.from_gallery(gallery)
    gone = list(gallery.users[:8])
    removed = sum(index.remove(user) for user in gone)
    assert 0 < removed == index.dead_rows < 0.2 * len(gallery)  # not compacted yet
    stored = index._stored_vectors()  # the graph's own float32 vectors
    assert int(np.count_nonzero(~stored.any(axis=1))) == removed  # zeroed, not kept
    assert index.row_count == len(gallery) - removed
    for user in gallery.users[8:40]:  # past 20 % dead: rebuilt from the live rows
        index.remove(user)
    assert index.dead_rows == 0
    live = [i for i, name in enumerate(gallery.names) if name not in set(gallery.users[:40])]
    reference = ExactIndex(Gallery(tuple(gallery.names[i] for i in live), gallery.matrix[live]))
    assert index.row_count == reference.row_count and index.user_count == 60
    for probe in probes[40:]:
        assert index.search(probe, 1)[0].name == reference.search(probe, 1)[0].name


def test_adaptive_index_moves_to_hnsw_past_the_limit_and_answers_the_same() -> None:
    gallery, probes = clustered_gallery(40, seed=11)
    small = Gallery(gallery.names[:20], gallery.matrix[:20])
    index = AdaptiveIndex(small, exact_max_rows=len(gallery) - 1)
    assert index.kind == "exact"
    index.reload(gallery)
    assert index.kind == "hnsw"
    index.reload(small)
    assert index.kind == "exact"
    rest = [(n, gallery.matrix[i]) for i, n in enumerate(gallery.names) if i >= 20]
    for name, row in rest:
        index.add(name, row[np.newaxis])
    assert index.kind == "hnsw" and index.row_count == len(gallery)
    reference = ExactIndex(gallery)
    for probe in probes:
        assert [c.name for c in index.search(probe, 3)] == [
            c.name for c in reference.search(probe, 3)
        ]
    assert AdaptiveIndex(exact_max_rows=0).kind == "exact"  # empty: nothing to build


@pytest.mark.parametrize("kind", ["exact", "hnsw"])
def test_concurrent_searches_while_users_come_and_go(kind: str) -> None:
    gallery, probes = clustered_gallery(80, seed=13)
    index: GalleryIndex = (
        ExactIndex(gallery) if kind == "exact" else HnswIndex.from_gallery(gallery)
    )
    expected = [ExactIndex(gallery).search(p, 1)[0].name for p in probes[:20]]
    churn = unit(np.random.default_rng(17).standard_normal((10, DIM)))
    errors: list[BaseException] = []
    done = threading.Event()

    def search() -> None:
        try:
            while not done.is_set():
                for probe, want in zip(probes[:20], expected, strict=True):
                    found = index.search(probe, 3)
                    assert found[0].name == want  # never disturbed by the churn
                    assert all(-1.0 <= c.similarity <= 1.0 for c in found)
        except BaseException as exc:  # reported in the main thread
            errors.append(exc)

    def update() -> None:
        try:
            for round_ in range(30):
                for i, row in enumerate(churn):
                    index.add(f"churn{i}", row[np.newaxis])
                for i in range(len(churn)):
                    index.remove(f"churn{i}")
                index.apply(GalleryChange("churn0", churn[:2]))
                index.apply(GalleryChange.removed("churn0"))
                if round_ % 10 == 0:
                    index.reload(gallery)
        except BaseException as exc:
            errors.append(exc)
        finally:
            done.set()

    readers = [threading.Thread(target=search) for _ in range(2)]
    writer = threading.Thread(target=update)
    for thread in [*readers, writer]:
        thread.start()
    for thread in [*readers, writer]:
        thread.join(timeout=120)
    assert not errors, errors
    assert index.user_count == 80 and index.row_count == len(gallery)


# -- bad input --------------------------------------------------------------------------


@pytest.mark.parametrize("make", [ExactIndex, HnswIndex.from_gallery])
def test_bad_input_is_refused_and_changes_nothing(make: type) -> None:
    gallery, probes = clustered_gallery(10, seed=19)
    index = make(gallery)
    for bad_call in (
        lambda: index.search(np.ones(DIM + 1, dtype=np.float32), 3),  # wrong dimension
        lambda: index.search_many([probes[0], np.ones(DIM + 1, dtype=np.float32)], 3),
        lambda: index.search_many([], 3),
        lambda: index.search(probes[0], 0),
        lambda: index.search(np.full(DIM, np.nan, dtype=np.float32), 3),
        lambda: index.search(np.zeros(DIM, dtype=np.float32), 3),
        lambda: index.search(np.ones(DIM, dtype=np.int64), 3),
        lambda: index.add("ana", np.ones((1, DIM + 2), dtype=np.float32)),
        lambda: index.add("", probes[:1]),
        lambda: index.apply(GalleryChange("ana", np.ones((1, DIM - 1), dtype=np.float32))),
    ):
        with pytest.raises(BadInputError) as caught:
            bad_call()
        assert (caught.value.code, caught.value.status) == ("bad_input", 400)
    assert index.user_count == 10 and index.row_count == len(gallery)
    assert "dimension mismatch" in _message(lambda: index.search(np.ones(DIM + 1), 1))


def _message(call: object) -> str:
    with pytest.raises(BadInputError) as caught:
        call()  # type: ignore[operator]
    return caught.value.message


def test_bad_construction() -> None:
    with pytest.raises(BadInputError):
        HnswIndex(0)
    with pytest.raises(BadInputError):
        HnswIndex.from_gallery(Gallery.empty())
    with pytest.raises(BadInputError):
        HnswParameters(connectivity=0)
    with pytest.raises(BadInputError):
        AdaptiveIndex(exact_max_rows=-1)


# -- FaceService ------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def _isolated(isolated_env: None) -> None:
    """Settings come from the test alone (see ``isolated_env`` in conftest)."""


def open_service(tmp_path: Path, face_engine: FaceEngine, **overrides: object) -> FaceService:
    settings = Settings(data_dir=tmp_path, models_dir=models_dir(), **overrides)  # type: ignore[arg-type]
    return FaceService.open(settings, face_engine)


def enroll_random(service: FaceService, users: int, seed: int = 0) -> FloatArray:
    """``users`` users with two 192-d templates each (a centre plus a little noise)."""
    rng = np.random.default_rng(seed)
    centres = unit(rng.standard_normal((users, 192)))
    for i, centre in enumerate(centres):
        samples = unit(centre + 0.03 * rng.standard_normal((2, 192)))
        service.enroll_embeddings(f"user{i:02d}", list(samples))
    return centres


def test_service_answers_the_same_through_hnsw(tmp_path: Path, face_engine: FaceEngine) -> None:
    exact = open_service(tmp_path / "exact", face_engine)
    hnsw = open_service(tmp_path / "hnsw", face_engine, index_exact_max_rows=0)
    centres = enroll_random(exact, 12)
    enroll_random(hnsw, 12)
    assert (exact.index.kind, hnsw.index.kind) == ("exact", "hnsw")
    rng = np.random.default_rng(5)
    for i, centre in enumerate(centres):
        probes = list(unit(centre + 0.04 * rng.standard_normal((3, 192))))
        want, got = exact.identify_embeddings(probes), hnsw.identify_embeddings(probes)
        assert want.best is not None and want.best.name == f"user{i:02d}"
        assert got.best is not None and got.best.name == want.best.name
        assert got.threshold == want.threshold
        assert [c.name for c in got.candidates] == [c.name for c in want.candidates]
        # Same similarities up to float32 rounding (a subset of rows vs all rows).
        assert [c.similarity for c in got.candidates] == pytest.approx(
            [c.similarity for c in want.candidates], abs=1e-6
        )
    stranger = [unit(rng.standard_normal(192))]
    assert exact.identify_embeddings(stranger).best is None
    assert hnsw.identify_embeddings(stranger).best is None


def test_service_keeps_the_index_in_step(tmp_path: Path, face_engine: FaceEngine) -> None:
    service = open_service(tmp_path, face_engine)
    centres = enroll_random(service, 3)
    index = service.load_index()
    assert index.user_count == 3
    service.enroll_embeddings("late", [centres[0] * 0 + unit(np.ones(192))])
    assert service.index.user_count == 4  # enroll went into the index
    assert service.delete_user("late") == 1
    assert service.index.user_count == 3
    found = service.identify_embeddings([centres[1]])
    assert found.best is not None and found.best.name == "user01"


def test_a_user_deleted_behind_the_index_is_never_identified(
    tmp_path: Path, face_engine: FaceEngine
) -> None:
    service = open_service(tmp_path, face_engine)
    centres = enroll_random(service, 3)
    service.load_index()
    service.store.delete_user("user01")  # not through the service (another process)
    assert service.index.user_count == 3  # the index has not heard of it
    found = service.identify_embeddings([centres[1]])
    assert found.best is None or found.best.name != "user01"
    assert service.index.user_count == 2  # corrected from the store
    assert "user01" not in {c.name for c in found.candidates}


def test_another_processs_enrollment_reaches_the_index(
    tmp_path: Path, face_engine: FaceEngine
) -> None:
    service = open_service(tmp_path, face_engine)
    enroll_random(service, 2)
    service.load_index()
    other = open_service(tmp_path, face_engine)  # same database, its own index
    newcomer = unit(np.random.default_rng(3).standard_normal(192))
    other.enroll_embeddings("newcomer", [newcomer])
    service.check_identification()  # counts users in SQL: 3 vs 2, reloads (small)
    found = service.identify_embeddings([newcomer])
    assert found.best is not None and found.best.name == "newcomer"
    other.store.delete_user("newcomer")
    service.sync_user("newcomer")  # what a LISTEN/NOTIFY listener calls
    assert service.index.user_count == 2
    service.sync_user("nobody")  # unknown users are simply absent
    with pytest.raises(BadInputError):
        service.sync_user("")
    with pytest.raises(BadInputError):
        service.identify_embeddings([np.ones(100, dtype=np.float32)])


def test_the_setting_defaults_to_the_measured_crossover() -> None:
    from veronica.recognition.index import EXACT_MAX_ROWS

    assert Settings().index_exact_max_rows == EXACT_MAX_ROWS
