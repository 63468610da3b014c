"""``TemplateStore.enroll``: user and templates in one transaction, all or nothing."""

from __future__ import annotations

import numpy as np
import pytest
from sqlalchemy import Engine, text

from veronica.errors import BadInputError
from veronica.storage import NewTemplate, TemplateStore

MODEL = "test-model-1"


def _vector(seed: int, dim: int = 8) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=dim).astype(np.float32)


def _rows(engine: Engine, table: str) -> int:
    with engine.connect() as connection:
        return int(connection.execute(text(f"SELECT COUNT(*) FROM {table}")).scalar_one())


def test_enroll_creates_the_user_with_all_templates(store: TemplateStore) -> None:
    ids = store.enroll("ada", MODEL, [NewTemplate(_vector(1), 0.9), NewTemplate(_vector(2), 0.8)])
    assert len(ids) == 2 and len(set(ids)) == 2
    assert store.user_templates("ada", MODEL).shape == (2, 8)


def test_enroll_appends_to_an_existing_user(store: TemplateStore) -> None:
    store.enroll("ada", MODEL, [NewTemplate(_vector(1), 0.9)])
    store.enroll("ada", MODEL, [NewTemplate(_vector(2), 0.9)])
    assert store.user_templates("ada", MODEL).shape == (2, 8)
    assert [u.template_count for u in store.list_users()] == [2]


def test_a_bad_template_stores_nothing(store: TemplateStore, engine: Engine) -> None:
    bad = np.full(8, np.nan, dtype=np.float32)
    with pytest.raises(BadInputError):
        store.enroll("ada", MODEL, [NewTemplate(_vector(1), 0.9), NewTemplate(bad, 0.9)])
    assert store.get_user("ada") is None
    assert _rows(engine, "templates") == 0


def test_a_failure_inside_the_transaction_rolls_back_the_new_user(
    store: TemplateStore, engine: Engine
) -> None:
    store.enroll("bob", MODEL, [NewTemplate(_vector(1, dim=8), 0.9)])
    # Second template has another dimension for the same model: refused mid-transaction.
    with pytest.raises(BadInputError, match="dimensions"):
        store.enroll("ada", MODEL, [NewTemplate(_vector(2), 0.9), NewTemplate(_vector(3, 16), 0.9)])
    assert store.get_user("ada") is None
    assert _rows(engine, "templates") == 1


def test_enroll_needs_templates(store: TemplateStore) -> None:
    with pytest.raises(BadInputError):
        store.enroll("ada", MODEL, [])
