"""Gallery indexes for 1:N search: exact below a measured size, HNSW above it.

A gallery index holds every enrolled template of one embedding model (one row per
template, several rows per user) and answers "which users are nearest to this
probe?". Every similarity it returns is the **exact** cosine similarity of the
probe to the user's stored templates (the maximum over them, as
``Gallery.user_similarities`` computes it), whichever implementation found the
candidates, so the 1:N thresholds apply to true similarities, never to an
approximate index's distances.

- :class:`ExactIndex`: one matrix product over all rows (numpy), exact by
  construction; as fast as the HNSW index below :data:`EXACT_MAX_ROWS` rows.
- :class:`HnswIndex`: faiss's HNSW graph proposes candidates, their float32
  templates (the graph's own vectors) re-score them exactly. Approximate only in
  *which* users it proposes: recall@1 against exact search 0.996 at 100 k
  templates, 0.95 at 1 M (0.99 for mated probes), ``benchmarks/IDENTIFY_RESULTS.md``.
- :class:`AdaptiveIndex`: what ``FaceService`` keeps. It holds one of the two and
  moves to the HNSW index when the gallery outgrows ``exact_max_rows``.

All three are safe for concurrent searches while another thread adds, removes or
reloads. Templates live decrypted in this process's memory for its whole life and
are never written anywhere (docs/SECURITY.md, "The 1:N index in memory").
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from veronica.errors import BadInputError
from veronica.recognition.matcher import (
    Candidate,
    FloatArray,
    Gallery,
    unit_rows,
    unit_vector,
)

EXACT_MAX_ROWS = 7_500
"""Largest gallery (template rows) searched exactly. Measured crossover
(``benchmarks/IDENTIFY_RESULTS.md``, "Crossover", CPU p50 per query): the exact
search is as fast as the HNSW index up to 7,500 rows (1.19 vs 1.17 ms), 1.8×
slower at 10,000 and 2.3× at 20,000; below the limit it is exact, updates are
cheap, and there is no graph to build. Override with ``VERONICA_INDEX_EXACT_MAX_ROWS``."""

HNSW_CONNECTIVITY = 32
"""Neighbours per node in the HNSW graph (faiss ``M``). Face embeddings are hard
to index (a non-mated probe has no clear nearest neighbour); in an exploratory
run at 100 k templates 16 needed about twice the search effort of 32 for the
same recall (docs/MODELS.md, "1:N search index")."""
HNSW_EXPANSION_ADD = 64
"""Candidate list while inserting (``efConstruction``): graph quality vs build time."""
HNSW_EXPANSION_SEARCH = 192
"""Candidate list while searching (``efSearch``): recall vs query time. Chosen on
the tune half of the benchmark's probes (``benchmarks/IDENTIFY_RESULTS.md``,
"Choosing expansion_search"): the smallest value reaching recall@1 0.99 at the
largest gallery where one does (100 k: 0.995, 2.75 ms); at 1 M it gives 3.4 ms
and recall@1 0.95 (0.99 for mated probes)."""
COMPACT_DEAD_FRACTION = 0.2
"""Rebuild the HNSW graph from its live rows once removed users' rows pass this
share of all rows (faiss's HNSW cannot delete; the dead rows are zeroed at once
and skipped, but they still cost memory and routing)."""
COMPACT_MIN_DEAD = 1_000
"""…and never for fewer dead rows than this (small galleries rebuild in ms anyway)."""
HNSW_ROWS_PER_USER = 4
"""A search for ``k`` users asks the graph for ``HNSW_ROWS_PER_USER × k`` rows: a
user has several rows, so a few spare rows keep ``k`` users among them."""


@dataclass(frozen=True, eq=False, repr=False)
class IndexMatches:
    """What a search found for a batch of probes.

    ``users`` (sorted by name) contains at least the union of every probe's ``k``
    best users and may contain more (the exact index returns everyone);
    ``similarities[i, j]`` is probe ``i``'s exact best cosine similarity to
    ``users[j]``'s templates, in [-1, 1], float32.
    """

    users: tuple[str, ...]
    similarities: FloatArray

    def __repr__(self) -> str:
        # Names are personal data: keep them out of logs.
        return f"IndexMatches(users={len(self.users)}, probes={self.similarities.shape[0]})"


@dataclass(frozen=True, eq=False, repr=False)
class GalleryChange:
    """One user's templates as they now are in the store: ``templates`` is *every*
    current template of ``user`` for the index's model, shape ``(rows, dim)``;
    zero rows means the user is gone (deleted, or no template of this model).

    Applying a change replaces whatever the index held for the user, so applying
    the same change twice, or an old change after a newer one was re-read, leaves
    the index equal to the store as last read: what a listener for another
    process's enroll/delete notifications needs (it re-reads the user, builds
    the change and calls :meth:`GalleryIndex.apply`).
    """

    user: str
    templates: npt.NDArray[np.generic]

    @classmethod
    def removed(cls, user: str) -> GalleryChange:
        return cls(user, np.zeros((0, 0), dtype=np.float32))

    def __repr__(self) -> str:
        return f"GalleryChange(rows={len(self.templates)})"


class GalleryIndex(Protocol):
    """The operations 1:N identification needs. Implementations are thread-safe."""

    @property
    def dim(self) -> int:
        """Embedding dimension (0 while nothing was ever added)."""
        ...

    @property
    def user_count(self) -> int:
        """Distinct users with at least one row."""
        ...

    @property
    def row_count(self) -> int:
        """Template rows."""
        ...

    def add(self, user: str, vectors: npt.NDArray[np.generic]) -> None:
        """Append ``vectors`` (``(rows, dim)``, re-normalised) to ``user``'s rows."""
        ...

    def remove(self, user: str) -> int:
        """Drop every row of ``user``; returns how many went (0 if none)."""
        ...

    def templates(self, user: str) -> FloatArray:
        """A copy of ``user``'s rows, ``(rows, dim)``; zero rows if the index has none."""
        ...

    def apply(self, change: GalleryChange) -> None:
        """Make ``change.user``'s rows exactly ``change.templates`` (atomically)."""
        ...

    def reload(self, gallery: Gallery) -> None:
        """Replace the whole content with ``gallery`` (atomically)."""
        ...

    def search(self, probe: npt.NDArray[np.generic], k: int) -> tuple[Candidate, ...]:
        """The ``k`` best users for one probe, best first (ties by name), each with
        their exact best cosine similarity."""
        ...

    def search_many(self, probes: Sequence[npt.NDArray[np.generic]], k: int) -> IndexMatches:
        """Candidates for several probes at once, scored against every probe, from
        one consistent state of the index (see :class:`IndexMatches`)."""
        ...


# -- helpers ------------------------------------------------------------------------


class _ReadWriteLock:
    """Many readers or one writer. A waiting writer holds back new readers, so a
    steady stream of searches cannot starve an enroll. Not re-entrant."""

    def __init__(self) -> None:
        self._cond = threading.Condition(threading.Lock())
        self._readers = 0
        self._writing = False
        self._writers_waiting = 0

    @contextmanager
    def reading(self) -> Iterator[None]:
        with self._cond:
            while self._writing or self._writers_waiting:
                self._cond.wait()
            self._readers += 1
        try:
            yield
        finally:
            with self._cond:
                self._readers -= 1
                if self._readers == 0:
                    self._cond.notify_all()

    @contextmanager
    def writing(self) -> Iterator[None]:
        with self._cond:
            self._writers_waiting += 1
            try:
                while self._writing or self._readers:
                    self._cond.wait()
            finally:
                self._writers_waiting -= 1
            self._writing = True
        try:
            yield
        finally:
            with self._cond:
                self._writing = False
                self._cond.notify_all()


def _check_user(user: str) -> str:
    if not isinstance(user, str) or not user:
        raise BadInputError("a gallery user must be a non-empty string")
    return user


def _check_k(k: int) -> int:
    if isinstance(k, bool) or not isinstance(k, int | np.integer) or k < 1:
        raise BadInputError(f"k must be a positive integer, got {k!r}")
    return int(k)


def _check_dim(got: int, expected: int, what: str) -> None:
    if expected and got != expected:
        raise BadInputError(
            f"dimension mismatch: the {what} have {got} values but the gallery's templates "
            f"have {expected}; were they produced by the same embedding model?"
        )


def _template_rows(vectors: npt.NDArray[np.generic], dim: int) -> FloatArray:
    rows = unit_rows(vectors, "templates")
    _check_dim(int(rows.shape[1]), dim, "templates")
    return rows


def _probe_matrix(probes: Sequence[npt.NDArray[np.generic]], dim: int) -> FloatArray:
    """Validate and normalise probes into a ``(probes, dim)`` matrix."""
    if isinstance(probes, np.ndarray) and probes.ndim == 1:
        raise BadInputError("give a sequence of probes (or a 2-D array), not one vector")
    units = [
        unit_vector(np.asarray(p) if not isinstance(p, np.ndarray) else p, "probe") for p in probes
    ]
    if not units:
        raise BadInputError("no probes to search with")
    sizes = {int(u.shape[0]) for u in units}
    if len(sizes) != 1:
        raise BadInputError("the probes differ in dimension")
    _check_dim(sizes.pop(), dim, "probes")
    return np.stack(units)


def rank_users(scores: FloatArray, k: int) -> npt.NDArray[np.intp]:
    """Indices of the ``k`` highest ``scores``, best first; ties go to the lower
    index (users are sorted by name, so ties go by name). O(n), no Python loop."""
    if scores.shape[0] > k:
        chosen = np.argpartition(-scores, k - 1)[:k]
    else:
        chosen = np.arange(scores.shape[0], dtype=np.intp)
    # Ties at the partition edge: take every user scoring like the k-th, then cut.
    if scores.shape[0] > k:
        edge = scores[chosen].min()
        chosen = np.flatnonzero(scores >= edge)
    ranked: npt.NDArray[np.intp] = chosen[np.lexsort((chosen, -scores[chosen]))][:k]
    return ranked


def _ranked(matches: IndexMatches, k: int) -> tuple[Candidate, ...]:
    """Top ``k`` of a one-probe result, best first, ties by name."""
    scores = matches.similarities[0]
    return tuple(Candidate(matches.users[j], float(scores[j])) for j in rank_users(scores, k))


# -- exact ----------------------------------------------------------------------------


class ExactIndex:
    """Every row scored per probe (``Gallery.user_similarities``): exact, no build.

    Copy-on-write: each update builds a new read-only :class:`Gallery` and swaps it
    in, so searches take no lock and always see one whole state. An update costs
    O(rows), which is why this index is for galleries below ``EXACT_MAX_ROWS``.
    """

    def __init__(self, gallery: Gallery | None = None) -> None:
        self._gallery = gallery if gallery is not None else Gallery.empty()
        self._write = threading.Lock()

    @property
    def gallery(self) -> Gallery:
        """The current state as a read-only Gallery."""
        return self._gallery

    @property
    def dim(self) -> int:
        return self._gallery.dim

    @property
    def user_count(self) -> int:
        return len(self._gallery.users)

    @property
    def row_count(self) -> int:
        return len(self._gallery)

    def add(self, user: str, vectors: npt.NDArray[np.generic]) -> None:
        name = _check_user(user)
        with self._write:
            current = self._gallery
            rows = _template_rows(vectors, current.dim)
            if rows.shape[0] == 0:
                return
            matrix = np.concatenate([current.matrix, rows]) if len(current) else rows
            self._gallery = Gallery(current.names + (name,) * rows.shape[0], matrix)

    def remove(self, user: str) -> int:
        name = _check_user(user)
        with self._write:
            removed, self._gallery = _without(self._gallery, name)
        return removed

    def apply(self, change: GalleryChange) -> None:
        name = _check_user(change.user)
        with self._write:
            kept = _without(self._gallery, name)[1]
            if len(change.templates) == 0:
                self._gallery = kept
                return
            rows = _template_rows(change.templates, self._gallery.dim)
            matrix = np.concatenate([kept.matrix, rows]) if len(kept) else rows
            self._gallery = Gallery(kept.names + (name,) * rows.shape[0], matrix)

    def reload(self, gallery: Gallery) -> None:
        with self._write:
            self._gallery = gallery

    def templates(self, user: str) -> FloatArray:
        gallery = self._gallery
        rows = [i for i, name in enumerate(gallery.names) if name == user]
        return np.array(gallery.matrix[rows], dtype=np.float32).reshape(len(rows), gallery.dim)

    def search(self, probe: npt.NDArray[np.generic], k: int) -> tuple[Candidate, ...]:
        return _ranked(self.search_many([probe], _check_k(k)), k)

    def search_many(self, probes: Sequence[npt.NDArray[np.generic]], k: int) -> IndexMatches:
        _check_k(k)
        gallery = self._gallery  # one snapshot for the whole batch
        matrix = _probe_matrix(probes, gallery.dim)
        if not gallery.users:
            return IndexMatches((), np.zeros((matrix.shape[0], 0), dtype=np.float32))
        scores = np.stack([gallery.user_similarities(row) for row in matrix])
        return IndexMatches(gallery.users, scores)


def _without(gallery: Gallery, user: str) -> tuple[int, Gallery]:
    keep = np.array([name != user for name in gallery.names], dtype=bool)
    removed = int(keep.size - np.count_nonzero(keep))
    if removed == 0:
        return 0, gallery
    names = tuple(name for name in gallery.names if name != user)
    if not names:
        return removed, Gallery.empty(gallery.dim)
    return removed, Gallery(names, gallery.matrix[keep])


# -- HNSW (faiss) ---------------------------------------------------------------------


@dataclass(frozen=True)
class HnswParameters:
    """Graph parameters (see the module constants for what each trades)."""

    connectivity: int = HNSW_CONNECTIVITY
    expansion_add: int = HNSW_EXPANSION_ADD
    expansion_search: int = HNSW_EXPANSION_SEARCH
    rows_per_user: int = HNSW_ROWS_PER_USER
    threads: int = 0
    """Threads for bulk inserts (0: all cores); a search always runs on the caller's."""

    def __post_init__(self) -> None:
        for name in ("connectivity", "expansion_add", "expansion_search", "rows_per_user"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise BadInputError(f"{name} must be a positive integer, got {value!r}")
        if isinstance(self.threads, bool) or not isinstance(self.threads, int) or self.threads < 0:
            raise BadInputError(f"threads must be >= 0, got {self.threads!r}")


class HnswIndex:
    """faiss ``IndexHNSWFlat`` over inner products (float32: the graph's own vectors
    are the exact templates, so re-scoring reads them back and no second copy of
    the gallery is kept). faiss numbers rows 0, 1, 2 … in insertion order; this
    class maps rows to users.

    faiss's HNSW cannot delete. Removing a user marks their rows dead (searches
    skip them) and **overwrites their vectors with zeros at once**, so a deleted
    template does not linger in memory; the graph keeps routing through the dead
    nodes until dead rows pass ``COMPACT_DEAD_FRACTION`` of all rows, when the
    index is rebuilt from the live rows (searches continue on the old one
    meanwhile). A read-write lock lets searches run together and keeps them out
    while an update changes the graph.
    """

    def __init__(self, dim: int, parameters: HnswParameters | None = None) -> None:
        if isinstance(dim, bool) or not isinstance(dim, int) or dim < 1:
            raise BadInputError(f"dim must be a positive integer, got {dim!r}")
        self._dim = dim
        self._parameters = parameters or HnswParameters()
        self._lock = _ReadWriteLock()  # searches vs the graph changing
        self._update = threading.Lock()  # one update (add, remove, reload) at a time
        self._graph = self._new_graph()
        self._keys: dict[str, int] = {}
        self._names: dict[int, str] = {}
        self._user_rows: dict[int, npt.NDArray[np.int64]] = {}
        self._owner = np.zeros(0, dtype=np.int64)
        """Per faiss row: its user's key, or -1 once removed (a dead row)."""
        self._rows = 0
        self._dead = 0
        self._next_key = 0
        # Keys are never reused in a process: a key always names one user.

    @classmethod
    def from_gallery(cls, gallery: Gallery, parameters: HnswParameters | None = None) -> HnswIndex:
        """Build from every row of ``gallery`` (one bulk insert, on all cores)."""
        if gallery.dim == 0:
            raise BadInputError("an HNSW index needs the embedding dimension; the gallery is empty")
        index = cls(gallery.dim, parameters)
        index.reload(gallery)
        return index

    def _new_graph(self) -> Any:
        import faiss  # imported on use: nothing loads at import time

        graph = faiss.IndexHNSWFlat(
            self._dim, self._parameters.connectivity, faiss.METRIC_INNER_PRODUCT
        )
        graph.hnsw.efConstruction = self._parameters.expansion_add
        graph.hnsw.efSearch = self._parameters.expansion_search
        return graph

    @property
    def parameters(self) -> HnswParameters:
        return self._parameters

    @property
    def expansion_search(self) -> int:
        """Candidate list of a search (``efSearch``)."""
        return self._parameters.expansion_search

    @expansion_search.setter
    def expansion_search(self, value: int) -> None:
        """Trade recall for query time without a rebuild (kept across reloads)."""
        p = self._parameters
        with self._update:
            self._parameters = HnswParameters(
                p.connectivity, p.expansion_add, value, p.rows_per_user, p.threads
            )
            with self._lock.writing():
                self._graph.hnsw.efSearch = value

    @property
    def dim(self) -> int:
        return self._dim

    @property
    def user_count(self) -> int:
        return len(self._keys)

    @property
    def row_count(self) -> int:
        """Live template rows (dead rows awaiting compaction are not counted)."""
        return self._rows - self._dead

    @property
    def dead_rows(self) -> int:
        """Rows of removed users still in the graph (zeroed), until compaction."""
        return self._dead

    def _key_for(self, name: str) -> int:
        key = self._keys.get(name)
        if key is None:
            key = self._next_key
            self._next_key += 1
            self._keys[name] = key
            self._names[key] = name
        return key

    def _insert(self, name: str, rows: FloatArray) -> None:
        key = self._key_for(name)
        first = self._rows
        self._graph.add(rows)
        self._rows += rows.shape[0]
        if self._owner.shape[0] < self._rows:  # grow by doubling: O(1) amortised
            grown = np.full(max(self._rows, 2 * self._owner.shape[0]), -1, dtype=np.int64)
            grown[: self._owner.shape[0]] = self._owner
            self._owner = grown
        self._owner[first : self._rows] = key
        new = np.arange(first, self._rows, dtype=np.int64)
        held = self._user_rows.get(key)
        self._user_rows[key] = new if held is None else np.concatenate([held, new])

    def _stored_vectors(self) -> FloatArray:
        """A writable view of the graph's float32 vectors (valid until the next add)."""
        import faiss

        flat: Any = faiss.downcast_index(self._graph.storage)  # an IndexFlat
        view: FloatArray = faiss.rev_swig_ptr(flat.get_xb(), self._rows * self._dim)
        return view.reshape(self._rows, self._dim)

    def _drop(self, name: str) -> int:
        key = self._keys.pop(name, None)
        if key is None:
            return 0
        del self._names[key]
        rows = self._user_rows.pop(key)
        self._owner[rows] = -1
        self._stored_vectors()[rows] = 0.0  # wipe the templates now, not at compaction
        self._dead += int(rows.shape[0])
        return int(rows.shape[0])

    def _needs_compaction(self) -> bool:
        return self._dead > COMPACT_MIN_DEAD and self._dead > COMPACT_DEAD_FRACTION * self._rows

    def _live_gallery(self) -> Gallery:
        names: list[str] = []
        blocks: list[FloatArray] = []
        vectors = self._stored_vectors()
        for key, rows in self._user_rows.items():
            names.extend([self._names[key]] * rows.shape[0])
            blocks.append(vectors[rows])
        if not blocks:
            return Gallery.empty(self._dim)
        return Gallery(tuple(names), np.concatenate(blocks))

    def add(self, user: str, vectors: npt.NDArray[np.generic]) -> None:
        name = _check_user(user)
        rows = _template_rows(vectors, self._dim)
        if rows.shape[0] == 0:
            return
        with self._update, self._lock.writing():
            self._insert(name, rows)

    def remove(self, user: str) -> int:
        name = _check_user(user)
        with self._update:
            with self._lock.writing():
                removed = self._drop(name)
            if self._needs_compaction():
                self._rebuild(self._live_gallery())
        return removed

    def apply(self, change: GalleryChange) -> None:
        name = _check_user(change.user)
        rows = (
            _template_rows(change.templates, self._dim)
            if len(change.templates)
            else np.zeros((0, self._dim), dtype=np.float32)
        )
        with self._update:
            with self._lock.writing():
                self._drop(name)
                if rows.shape[0]:
                    self._insert(name, rows)
            if self._needs_compaction():
                self._rebuild(self._live_gallery())

    def templates(self, user: str) -> FloatArray:
        with self._lock.reading():
            key = self._keys.get(user)
            rows = self._user_rows.get(key) if key is not None else None
            if rows is None:
                return np.zeros((0, self._dim), dtype=np.float32)
            return np.array(self._stored_vectors()[rows], dtype=np.float32)

    def reload(self, gallery: Gallery) -> None:
        """Rebuild from ``gallery``. The new graph is built while searches go on
        against the old one (other updates wait), then swapped in."""
        if len(gallery):
            _check_dim(gallery.dim, self._dim, "gallery templates")
        with self._update:
            self._rebuild(gallery)

    def _rebuild(self, gallery: Gallery) -> None:
        """Build a new graph from ``gallery`` and swap it in (caller holds ``_update``)."""
        graph = self._new_graph()
        base = self._next_key
        self._next_key += len(gallery.users)
        keys = {user: base + i for i, user in enumerate(gallery.users)}
        owner = np.fromiter(
            (keys[name] for name in gallery.names), dtype=np.int64, count=len(gallery)
        )
        user_rows: dict[int, npt.NDArray[np.int64]] = {}
        if len(gallery):
            graph.add(gallery.matrix)
            order = np.argsort(owner, kind="stable")
            ranked = owner[order]
            starts = np.flatnonzero(np.concatenate(([True], ranked[1:] != ranked[:-1])))
            for start, stop in itertools.pairwise([*starts.tolist(), len(ranked)]):
                user_rows[int(ranked[start])] = order[start:stop].astype(np.int64)
        names = {key: user for user, key in keys.items()}
        with self._lock.writing():
            self._graph, self._keys, self._names = graph, keys, names
            self._user_rows, self._owner = user_rows, owner
            self._rows, self._dead = len(gallery), 0

    def search(self, probe: npt.NDArray[np.generic], k: int) -> tuple[Candidate, ...]:
        return _ranked(self.search_many([probe], _check_k(k)), k)

    def search_many(self, probes: Sequence[npt.NDArray[np.generic]], k: int) -> IndexMatches:
        want = _check_k(k)
        matrix = _probe_matrix(probes, self._dim)
        with self._lock.reading():
            if self._rows == self._dead:
                return IndexMatches((), np.zeros((matrix.shape[0], 0), dtype=np.float32))
            # Ask for extra rows in proportion to the dead ones the search will skip.
            live = (self._rows - self._dead) / self._rows
            rows = min(self._rows, int(np.ceil(self._parameters.rows_per_user * want / live)))
            _, found = self._graph.search(matrix, rows)
            hits = found[found >= 0]
            keys = np.unique(self._owner[hits])
            chosen = sorted((self._names[int(key)], int(key)) for key in keys if key >= 0)
            blocks = [self._user_rows[key] for _, key in chosen]
            sizes = np.array([block.shape[0] for block in blocks], dtype=np.intp)
            vectors = self._stored_vectors()[np.concatenate(blocks)] if blocks else None
        if vectors is None:
            return IndexMatches((), np.zeros((matrix.shape[0], 0), dtype=np.float32))
        # Exact re-scoring: every candidate's rows against every probe, max per user.
        starts = np.concatenate(([0], np.cumsum(sizes)[:-1])).astype(np.intp)
        scores = np.maximum.reduceat(vectors @ matrix.T, starts, axis=0).T
        return IndexMatches(
            tuple(name for name, _ in chosen),
            np.clip(scores, -1.0, 1.0).astype(np.float32),
        )


# -- the one the service keeps --------------------------------------------------------


class AdaptiveIndex:
    """Exact below ``exact_max_rows`` template rows, HNSW from there on.

    Starts (and reloads) as whichever fits the gallery; an :meth:`add` or
    :meth:`apply` that takes an exact index past the limit rebuilds it as HNSW
    once (it never goes back: HNSW re-scores exactly, and at small sizes its
    recall is 1.0). Updates are serialised; searches never wait for a rebuild.
    """

    def __init__(
        self,
        gallery: Gallery | None = None,
        exact_max_rows: int = EXACT_MAX_ROWS,
        parameters: HnswParameters | None = None,
    ) -> None:
        if (
            isinstance(exact_max_rows, bool)
            or not isinstance(exact_max_rows, int)
            or exact_max_rows < 0
        ):
            raise BadInputError(f"exact_max_rows must be >= 0, got {exact_max_rows!r}")
        self.exact_max_rows = exact_max_rows
        self._parameters = parameters or HnswParameters()
        self._write = threading.Lock()
        self._inner: ExactIndex | HnswIndex = self._build(gallery or Gallery.empty())

    def _build(self, gallery: Gallery) -> ExactIndex | HnswIndex:
        if len(gallery) > self.exact_max_rows and gallery.dim:
            return HnswIndex.from_gallery(gallery, self._parameters)
        return ExactIndex(gallery)

    @property
    def kind(self) -> str:
        """``"exact"`` or ``"hnsw"``: which implementation answers now."""
        return "hnsw" if isinstance(self._inner, HnswIndex) else "exact"

    @property
    def dim(self) -> int:
        return self._inner.dim

    @property
    def user_count(self) -> int:
        return self._inner.user_count

    @property
    def row_count(self) -> int:
        return self._inner.row_count

    def _grow(self, inner: ExactIndex) -> None:
        if inner.row_count > self.exact_max_rows:
            self._inner = HnswIndex.from_gallery(inner.gallery, self._parameters)

    def add(self, user: str, vectors: npt.NDArray[np.generic]) -> None:
        with self._write:
            inner = self._inner
            if isinstance(inner, ExactIndex):
                # Update a copy so searches keep the old state until the swap.
                staged = ExactIndex(inner.gallery)
                staged.add(user, vectors)
                self._inner = staged
                self._grow(staged)
            else:
                inner.add(user, vectors)

    def remove(self, user: str) -> int:
        with self._write:
            return self._inner.remove(user)

    def apply(self, change: GalleryChange) -> None:
        with self._write:
            inner = self._inner
            if isinstance(inner, ExactIndex):
                staged = ExactIndex(inner.gallery)
                staged.apply(change)
                self._inner = staged
                self._grow(staged)
            else:
                inner.apply(change)

    def reload(self, gallery: Gallery) -> None:
        with self._write:
            self._inner = self._build(gallery)

    def templates(self, user: str) -> FloatArray:
        return self._inner.templates(user)

    def search(self, probe: npt.NDArray[np.generic], k: int) -> tuple[Candidate, ...]:
        return self._inner.search(probe, k)

    def search_many(self, probes: Sequence[npt.NDArray[np.generic]], k: int) -> IndexMatches:
        return self._inner.search_many(probes, k)


__all__ = [
    "EXACT_MAX_ROWS",
    "AdaptiveIndex",
    "ExactIndex",
    "GalleryChange",
    "GalleryIndex",
    "HnswIndex",
    "HnswParameters",
    "IndexMatches",
    "rank_users",
]
