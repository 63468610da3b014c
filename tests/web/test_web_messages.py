"""Every word the page shows exists in every language: the catalogues match
key for key, and every code the page can meet (hints, actions, result reasons,
server and client errors) has a message."""

from __future__ import annotations

import importlib
import re

import pytest
from web_support import LANGUAGES, ParsedPage

from veronica.errors import VeronicaError
from veronica.liveness.positioning import Hint
from veronica.liveness.types import Action
from veronica.sessions.state import Reason

ERROR_MODULES = (
    "veronica.errors",
    "veronica.sessions.errors",
    "veronica.api.deps",
    "veronica.api.routes.auth",
)
"""Where the errors a sign-in or enrollment can raise are defined."""

ADMIN_ONLY_CODES = {
    "admin_key_invalid",
    "admin_key_not_found",
    "admin_key_exists",
    "user_exists",
    # OpenID Connect client registration (admin API and CLI)
    "client_exists",
    "client_not_found",
    "redirect_uri_invalid",
}
"""Errors of the admin API: the pages never call it."""

OTHER_SERVER_CODES = {
    # api/errors.py: framework errors in the one error shape
    "not_found",
    "method_not_allowed",
    "body_too_large",
    "http_error",
    "invalid_request",
    "internal_error",
    # WebSocket close reasons without an error message (api/routes/auth.py)
    "origin_not_allowed",
    "hello_timeout",
    "csrf_invalid",
    "not_ready",
}

TOOL_MODULES = ("veronica.simulation", "veronica.evaluation")
"""Command-line tools (the attacker harness, evaluations): their errors reach a
terminal, never the pages."""

PLACEHOLDER = re.compile(r"\{(\w+)\}")


def server_error_codes() -> set[str]:
    for module in ERROR_MODULES:
        importlib.import_module(module)
    codes: set[str] = set()
    pending = [VeronicaError]
    while pending:
        cls = pending.pop()
        if not cls.__module__.startswith(TOOL_MODULES):
            codes.add(cls.code)
        pending.extend(cls.__subclasses__())
    return codes - ADMIN_ONLY_CODES


def catalogue_prefixes(catalogues: dict[str, dict[str, str]]) -> set[str]:
    return {key.split(".")[0] for key in catalogues["en"]}


def test_catalogues_have_the_same_keys(catalogues: dict[str, dict[str, str]]) -> None:
    english = set(catalogues["en"])
    for lang in LANGUAGES:
        assert set(catalogues[lang]) == english, lang


def test_messages_are_text_with_the_same_placeholders(
    catalogues: dict[str, dict[str, str]],
) -> None:
    for key, english in catalogues["en"].items():
        for lang in LANGUAGES:
            text = catalogues[lang][key]
            assert isinstance(text, str) and text.strip(), f"{lang}: {key}"
            assert set(PLACEHOLDER.findall(text)) == set(PLACEHOLDER.findall(english)), (
                f"{lang}: {key}"
            )


def test_every_key_in_the_pages_exists(
    pages: dict[str, ParsedPage], catalogues: dict[str, dict[str, str]]
) -> None:
    for page in pages.values():
        for element in page.elements:
            for attr in ("data-i18n", "data-i18n-label", "data-i18n-placeholder"):
                key = element.attrs.get(attr)
                if attr in element.attrs:
                    assert key and key in catalogues["en"], f"{page.name}: {attr}={key!r}"


def test_every_key_in_the_scripts_exists(
    scripts: dict[str, str], catalogues: dict[str, dict[str, str]]
) -> None:
    """Any quoted 'group.name' literal whose group is a catalogue group is a key."""
    prefixes = catalogue_prefixes(catalogues)
    found = 0
    for name, source in scripts.items():
        for key in re.findall(r"'([a-z_]+(?:\.[a-z0-9_]+)+)'", source):
            if key.split(".")[0] in prefixes:
                found += 1
                assert key in catalogues["en"], f"{name}: {key}"
    assert found > 20, "the scan finds the keys main.js uses"


def test_every_client_error_has_a_message(
    scripts: dict[str, str], catalogues: dict[str, dict[str, str]]
) -> None:
    codes = {
        code
        for source in scripts.values()
        for code in re.findall(r"new AppError\(\s*'([a-z_]+)'", source)
    }
    codes |= set(re.findall(r"return '(camera_[a-z_]+)'", scripts["video.js"]))
    assert {"camera_denied", "camera_not_found", "camera_in_use", "network"} <= codes
    missing = sorted(c for c in codes if f"error.{c}" not in catalogues["en"])
    assert not missing


def test_every_server_error_has_a_message(catalogues: dict[str, dict[str, str]]) -> None:
    codes = server_error_codes() | OTHER_SERVER_CODES
    assert {"session_expired", "busy", "rate_limited", "locked_out"} <= codes
    missing = sorted(c for c in codes if f"error.{c}" not in catalogues["en"])
    assert not missing


@pytest.mark.parametrize(
    ("prefix", "values"),
    [
        ("hint", [h.value for h in Hint]),
        ("action", [a.value for a in Action]),
        ("reason", [r.value for r in Reason]),
        (
            "reason",  # as listed in the wire contract
            [
                "ok",
                "no_face",
                "liveness_failed",
                "not_recognized",
                "timeout",
                "locked_out",
                "session_expired",
            ],
        ),
    ],
)
def test_every_code_of_the_protocol_has_a_message(
    catalogues: dict[str, dict[str, str]], prefix: str, values: list[str]
) -> None:
    missing = [v for v in values if f"{prefix}.{v}" not in catalogues["en"]]
    assert not missing
