"""CSRF tokens: random, comparable in constant time, never matching empty."""

from __future__ import annotations

import re

import pytest

from veronica.security.csrf import csrf_matches, new_csrf_token


def test_tokens_are_256_bit_urlsafe_and_unique() -> None:
    tokens = {new_csrf_token() for _ in range(100)}
    assert len(tokens) == 100
    for token in tokens:
        assert re.fullmatch(r"[A-Za-z0-9_-]{43}", token)


def test_matching_token_matches() -> None:
    token = new_csrf_token()
    assert csrf_matches(token, token)
    assert csrf_matches(token, str(token))


@pytest.mark.parametrize("given", [None, "", "x", "ünïcode"])
def test_wrong_or_missing_token_does_not_match(given: str | None) -> None:
    assert not csrf_matches(new_csrf_token(), given)


def test_empty_expected_never_matches() -> None:
    assert not csrf_matches("", "")
    assert not csrf_matches("", None)


def test_one_character_off_does_not_match() -> None:
    token = new_csrf_token()
    assert not csrf_matches(token, token[:-1] + ("A" if token[-1] != "A" else "B"))
    assert not csrf_matches(token, token + "A")
