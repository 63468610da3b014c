"""Fixtures for the web pages: a bare app serving only the web router, and the
static files read and parsed once."""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient
from web_support import LANGUAGES, PAGES, ParsedPage, parse_html, web_app

from veronica.web import STATIC_DIR


@pytest.fixture(scope="module")
def client() -> TestClient:
    return TestClient(web_app())


@pytest.fixture(scope="session")
def pages() -> dict[str, ParsedPage]:
    return {name: parse_html(name, (STATIC_DIR / name).read_text("utf-8")) for name in PAGES}


@pytest.fixture(scope="session")
def catalogues() -> dict[str, dict[str, str]]:
    return {
        lang: json.loads((STATIC_DIR / "messages" / f"{lang}.json").read_text(encoding="utf-8"))
        for lang in LANGUAGES
    }


@pytest.fixture(scope="session")
def scripts() -> dict[str, str]:
    """The page's modules (not their tests), by file name."""
    return {p.name: p.read_text(encoding="utf-8") for p in sorted((STATIC_DIR / "js").glob("*.js"))}
