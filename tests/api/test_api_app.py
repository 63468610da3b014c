"""The FastAPI app: lifespan with the real engine, probes, and the one error shape."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from api_support import services
from fastapi.testclient import TestClient

from support import models_dir
from veronica.api.app import create_app
from veronica.errors import ModelError, TemplateKeyError
from veronica.pipeline.embed import FrFeatureEmbedder, MobileFaceNetEmbedder
from veronica.settings import Settings
from veronica.storage import generate_key

TRACE_MARKERS = ("Traceback", 'File "', "sqlite3", "OperationalError", "sqlalchemy")


@pytest.fixture(autouse=True)
def _isolated(isolated_env: None) -> None:
    """Settings come from the test alone (see ``isolated_env`` in conftest)."""


@pytest.fixture(scope="module")
def models() -> Path:
    return models_dir()


def make_settings(data_dir: Path, models: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {"environment": "test", **overrides}
    return Settings(data_dir=data_dir, models_dir=models, **values)


@pytest.fixture
def settings(tmp_path: Path, models: Path) -> Settings:
    return make_settings(tmp_path / "data", models, template_key=generate_key())


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings)) as started:
        yield started


def assert_error(response: Any, status: int, code: str) -> str:
    """The one error shape; returns the message."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message"}, body
    assert body["error"]["code"] == code
    message = body["error"]["message"]
    assert isinstance(message, str) and message
    for marker in TRACE_MARKERS:
        assert marker not in response.text
    return message


def test_healthz(client: TestClient) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_readyz_names_the_embedder(client: TestClient) -> None:
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json() == {"status": "ready", "embedder": MobileFaceNetEmbedder.model_id}


def test_readyz_reports_the_configured_embedder(tmp_path: Path, models: Path) -> None:
    settings = make_settings(tmp_path / "data", models, embedder="fr_feature")
    with TestClient(create_app(settings)) as client:
        assert client.get("/readyz").json()["embedder"] == FrFeatureEmbedder.model_id


def test_startup_migrates_a_fresh_database(settings: Settings, client: TestClient) -> None:
    assert (settings.data_dir / "veronica.db").is_file()
    assert services(client).service.store.list_users() == []  # type: ignore[attr-defined]


def test_unknown_path_is_a_json_404(client: TestClient) -> None:
    assert_error(client.get("/no/such/page"), 404, "not_found")


def test_wrong_method_is_a_json_405(client: TestClient) -> None:
    assert_error(client.post("/healthz"), 405, "method_not_allowed")


def test_readyz_before_startup_is_not_ready(settings: Settings) -> None:
    client = TestClient(create_app(settings))  # no context manager: lifespan never runs
    assert_error(client.get("/readyz"), 503, "not_ready")
    assert client.get("/healthz").json() == {"status": "ok"}  # alive, just not ready


def test_readyz_after_shutdown_is_not_ready(settings: Settings) -> None:
    app = create_app(settings)
    with TestClient(app) as client:
        assert client.get("/readyz").status_code == 200
    assert app.state.services is None
    assert_error(TestClient(app).get("/readyz"), 503, "not_ready")


def test_readyz_when_the_database_is_gone(settings: Settings, client: TestClient) -> None:
    assert client.get("/readyz").status_code == 200
    # Remove the SQLite file and its folder, and drop pooled connections: the next
    # connection attempt cannot open the database.
    shutil.rmtree(settings.data_dir)
    services(client).service.store.engine.dispose()  # type: ignore[attr-defined]

    message = assert_error(client.get("/readyz"), 503, "database_unavailable")
    assert message == "database not reachable"
    assert str(settings.data_dir) not in message
    assert client.get("/healthz").status_code == 200  # liveness is not readiness


def test_startup_with_another_template_key_fails(tmp_path: Path, models: Path) -> None:
    data = tmp_path / "data"
    with TestClient(create_app(make_settings(data, models, template_key=generate_key()))):
        pass  # first start records the key fingerprint
    app = create_app(make_settings(data, models, template_key=generate_key()))
    with pytest.raises(TemplateKeyError) as caught, TestClient(app):
        pass
    assert caught.value.code == "template_key_invalid"
    assert app.state.services is None


def test_startup_without_models_fails(tmp_path: Path) -> None:
    empty = tmp_path / "no-models"
    empty.mkdir()
    app = create_app(make_settings(tmp_path / "data", empty))
    with pytest.raises(ModelError), TestClient(app):
        pass
