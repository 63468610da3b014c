"""``return_to``: where the page sends the person (with the token in the URL
fragment) after a successful sign-in. Only origins the operator allowed: an open
redirect would hand tokens to any site."""

from __future__ import annotations

from collections.abc import Iterable
from urllib.parse import urlsplit

from veronica.sessions.errors import ReturnToNotAllowedError

MAX_RETURN_TO_CHARS = 2048


def origin_of(url: str) -> str | None:
    """``scheme://host[:port]`` (lower-case, default ports dropped), or None if ``url``
    is not an absolute http(s) URL."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None
    default = {"http": 80, "https": 443}[parts.scheme]
    host = parts.hostname
    if ":" in host:
        host = f"[{host}]"  # IPv6 literal
    suffix = "" if port is None or port == default else f":{port}"
    return f"{parts.scheme}://{host}{suffix}"


def allowed_origins(public_url: str, extra: Iterable[str]) -> frozenset[str]:
    """The service's own origin plus the configured ones, normalised."""
    origins = {origin_of(public_url)} | {origin_of(o) for o in extra}
    return frozenset(o for o in origins if o is not None)


def check_return_to(url: str, allowed: frozenset[str]) -> str:
    """``url`` unchanged if it may receive a token, else ReturnToNotAllowedError."""
    if len(url) > MAX_RETURN_TO_CHARS:
        raise ReturnToNotAllowedError(f"return_to is longer than {MAX_RETURN_TO_CHARS} characters")
    # Browsers read "\" as "/" and drop tabs/newlines, so such a URL can point somewhere
    # other than what urlsplit sees; a fragment would collide with ours.
    if any(ch in url for ch in "\\#") or any(ord(ch) <= 0x20 or ord(ch) == 0x7F for ch in url):
        raise ReturnToNotAllowedError("return_to must be a plain absolute URL without a fragment")
    parts = urlsplit(url)
    if parts.username is not None or parts.password is not None:
        raise ReturnToNotAllowedError("return_to must not contain credentials")
    origin = origin_of(url)
    if origin is None or origin not in allowed:
        raise ReturnToNotAllowedError("return_to is not on an allowed origin")
    return url
