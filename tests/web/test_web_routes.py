"""The pages and static files are served with the right types and headers,
and nothing from the URL ever reaches the HTML."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from veronica.api.app import create_app
from veronica.settings import Settings
from veronica.storage import generate_key
from veronica.web import STATIC_DIR


@pytest.mark.parametrize(
    ("url", "page", "file"),
    [
        ("/", "signin", "index.html"),
        ("/?username=alice&return_to=https%3A%2F%2Fapp.example%2F", "signin", "index.html"),
        ("/enroll?token=abc", "enroll", "enroll.html"),
        ("/result", "result", "result.html"),
    ],
)
def test_pages_are_html(client: TestClient, url: str, page: str, file: str) -> None:
    response = client.get(url)
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert response.headers["cache-control"] == "no-cache"
    assert f'data-page="{page}"' in response.text
    assert response.content == (STATIC_DIR / file).read_bytes()


def test_the_service_serves_the_pages_under_a_strict_policy(
    isolated_env: None, tmp_path: Path
) -> None:
    """In the real app (lifespan not started: pages need no engine) the security
    middleware gives the pages the policy they are written for."""
    app = create_app(Settings(environment="test", data_dir=tmp_path, template_key=generate_key()))
    client = TestClient(app)
    for url in ("/", "/enroll?token=abc", "/result", "/static/js/main.js"):
        response = client.get(url)
        assert response.status_code == 200, url
        csp = response.headers["content-security-policy"]
        assert "script-src 'self'" in csp and "style-src 'self'" in csp
        assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
        assert "frame-ancestors 'none'" in csp
        # The enrollment token is in the URL: it must not leak through Referer.
        assert response.headers["referrer-policy"] == "no-referrer"
        assert "camera=(self)" in response.headers["permissions-policy"]


def test_url_parameters_are_not_written_into_the_page(client: TestClient) -> None:
    hostile = "<script>alert(1)</script>"
    response = client.get("/", params={"username": hostile, "return_to": hostile})
    assert response.content == (STATIC_DIR / "index.html").read_bytes()


@pytest.mark.parametrize(
    ("path", "content_type"),
    [
        ("app.css", "text/css"),
        ("js/main.js", "javascript"),
        ("js/api.js", "javascript"),
        ("messages/en.json", "application/json"),
        ("messages/fr.json", "application/json"),
        ("icons/turn_left.svg", "image/svg+xml"),
        ("index.html", "text/html"),
    ],
)
def test_static_files_have_their_content_types(
    client: TestClient, path: str, content_type: str
) -> None:
    response = client.get(f"/static/{path}")
    assert response.status_code == 200
    assert content_type in response.headers["content-type"]
    assert response.headers["cache-control"] == "no-cache"
    assert response.content == (STATIC_DIR / path).read_bytes()


@pytest.mark.parametrize(
    "url",
    ["/static/../routes.py", "/static/%2e%2e/routes.py", "/static/missing.js", "/nowhere"],
)
def test_nothing_outside_the_static_folder_is_served(client: TestClient, url: str) -> None:
    assert client.get(url).status_code == 404


def test_pages_are_not_in_the_api_schema(client: TestClient) -> None:
    assert client.get("/openapi.json").json()["paths"] == {}
