"""Probes, metrics (per-app registry), security headers, CORS, and ``serve`` with TLS."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from api_support import (
    ADMIN,
    OWN,
    RELYING,
    blank_jpeg,
    fail_by_timeout,
    manager,
    post_frame,
    start,
)
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from veronica.pipeline.engine import FaceEngine


def test_readyz_checks_the_session_store(api: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    assert api.get("/readyz").json()["status"] == "ready"
    monkeypatch.setattr(manager(api).store, "ping", lambda: False)
    response = api.get("/readyz")
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "session_store_unavailable"
    assert api.get("/healthz").json() == {"status": "ok"}


def metric(text: str, line_start: str) -> float:
    for line in text.splitlines():
        if line.startswith(line_start):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"no metric line starting with {line_start!r}")


def test_metrics(api: TestClient) -> None:
    failed = fail_by_timeout(api, start(api))
    frames_posted = failed["seq"]
    created = start(api)
    post_frame(api, created, blank_jpeg(), 0)
    start(api)
    response = api.get("/metrics", headers=ADMIN)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    text = response.text
    assert metric(text, "veronica_active_sessions ") == 2.0
    assert metric(text, 'veronica_session_decisions_total{reason="no_face",status="refused"}') == 1
    detects = frames_posted + 1
    assert metric(text, 'veronica_pipeline_stage_duration_seconds_count{stage="detect"}') == detects
    frames = (
        'veronica_http_request_duration_seconds_count{method="POST",'
        'route="/api/v1/auth/sessions/{session_id}/frames",status="200"}'
    )
    assert metric(text, frames) == detects  # by route template, never by session id
    assert created["session_id"] not in text


def test_each_app_has_its_own_registry(
    api: TestClient, tmp_path: Path, face_engine: FaceEngine
) -> None:
    from api_support import make_settings, running

    start(api)
    with running(make_settings(tmp_path / "other"), face_engine) as other:
        text = other.get("/metrics", headers=ADMIN).text
        assert 'route="/api/v1/auth/sessions"' not in text


def test_unmatched_paths_share_one_label(api: TestClient) -> None:
    for i in range(3):
        api.get(f"/no/such/{i}")
    text = api.get("/metrics", headers=ADMIN).text
    unmatched = (
        'veronica_http_request_duration_seconds_count{method="GET",route="unmatched",status="404"}'
    )
    assert metric(text, unmatched) == 3
    assert "/no/such/" not in text


def test_security_headers_on_api_answers(api: TestClient) -> None:
    response = api.post("/api/v1/auth/sessions", json={})
    assert response.headers["x-content-type-options"] == "nosniff"
    assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
    assert response.headers["cache-control"] == "no-store"
    error = api.post("/api/v1/auth/sessions/x/frames")
    assert error.headers["x-content-type-options"] == "nosniff"


def preflight(client: TestClient, origin: str) -> Any:
    return client.options(
        "/api/v1/auth/sessions",
        headers={
            "Origin": origin,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type",
        },
    )


def test_cors_allows_only_configured_origins(api: TestClient) -> None:
    allowed = preflight(api, RELYING)
    assert allowed.status_code == 200
    assert allowed.headers["access-control-allow-origin"] == RELYING
    assert allowed.headers["access-control-allow-credentials"] == "true"
    assert preflight(api, OWN).headers["access-control-allow-origin"] == OWN
    refused = preflight(api, "https://evil.example")
    assert refused.status_code == 400
    assert "access-control-allow-origin" not in refused.headers
    simple = api.get("/healthz", headers={"Origin": "https://evil.example"})
    assert "access-control-allow-origin" not in simple.headers


def test_serve_uses_tls_files_from_settings(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import uvicorn

    from veronica.cli import app as cli_app

    calls: list[dict[str, Any]] = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: calls.append(kw))
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    env = {"VERONICA_DATA_DIR": str(tmp_path / "d")}
    result = CliRunner().invoke(cli_app, ["serve", "--dev"], env=env)
    assert result.exit_code == 0, result.output
    assert calls[-1]["ssl_certfile"] is None and calls[-1]["ssl_keyfile"] is None
    env |= {"VERONICA_TLS_CERT_FILE": str(cert), "VERONICA_TLS_KEY_FILE": str(key)}
    result = CliRunner().invoke(cli_app, ["serve", "--dev"], env=env)
    assert result.exit_code == 0, result.output
    assert calls[-1]["ssl_certfile"] == str(cert) and calls[-1]["ssl_keyfile"] == str(key)
