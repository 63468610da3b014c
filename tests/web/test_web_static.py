"""The static pages obey the content security policy (no inline script or
style), reference only files that exist, and carry no text of their own."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from web_support import PAGES, ParsedPage, parse_html, supported_languages

from veronica.liveness.types import Action
from veronica.web import STATIC_DIR

JS_DIR = STATIC_DIR / "js"


def static_file(url: str) -> Path:
    assert url.startswith("/static/"), url
    return STATIC_DIR / url.removeprefix("/static/")


@pytest.mark.parametrize("name", PAGES)
def test_no_inline_script_or_style(pages: dict[str, ParsedPage], name: str) -> None:
    page = pages[name]
    scripts = [e for e in page.elements if e.tag == "script"]
    assert scripts, "the page loads its module"
    for script in scripts:
        assert script.attrs.get("src"), "every script is a file"
        assert script.attrs.get("type") == "module"
        assert not script.text.strip(), "no inline code"
    assert not [e for e in page.elements if e.tag == "style"]
    for element in page.elements:
        for attr, value in element.attrs.items():
            assert attr != "style", f"<{element.tag} style=…>"
            assert not attr.startswith("on"), f"<{element.tag} {attr}=…> is an inline handler"
            assert not (value or "").strip().lower().startswith("javascript:")


@pytest.mark.parametrize("name", PAGES)
def test_referenced_static_files_exist(pages: dict[str, ParsedPage], name: str) -> None:
    urls = [
        url
        for e in pages[name].elements
        for attr in ("src", "href")
        if (url := e.attrs.get(attr)) and url.startswith("/static/")
    ]
    assert any(u.endswith(".css") for u in urls) and any(u.endswith(".js") for u in urls)
    for url in urls:
        assert static_file(url).is_file(), url


@pytest.mark.parametrize("name", PAGES)
def test_all_text_comes_from_the_catalogue(pages: dict[str, ParsedPage], name: str) -> None:
    """Visible words live in messages/<lang>.json, so each page exists in every language."""
    assert pages[name].text == []
    assert any("data-i18n" in e.attrs for e in pages[name].elements)


@pytest.mark.parametrize("name", PAGES)
def test_test_ids_are_unique(pages: dict[str, ParsedPage], name: str) -> None:
    ids = [e.attrs["data-testid"] for e in pages[name].elements if "data-testid" in e.attrs]
    assert len(ids) == len(set(ids))


def test_capture_pages_have_the_elements_the_script_needs(pages: dict[str, ParsedPage]) -> None:
    main = (JS_DIR / "main.js").read_text(encoding="utf-8")
    needed = set(re.findall(r"byTestId\('([a-z-]+)'\)", main))
    needed |= {"instruction", "hint", "progress", "outcome-title", "outcome-message", "announcer"}
    result_ids = {"result-status", "result-username", "result-expiry", "signout-button"}
    signin_only = {"oidc-client", "oidc-client-name", "oidc-cancel"}  # an OIDC request
    for name in ("index.html", "enroll.html"):
        ids = {e.attrs.get("data-testid") for e in pages[name].elements}
        missing = needed - result_ids - ids - {"continue-link", "signin-link"}
        if name == "enroll.html":
            missing -= signin_only
        assert not missing, f"{name} lacks {missing}"
    assert result_ids <= {e.attrs.get("data-testid") for e in pages["result.html"].elements}
    live = [e for e in pages["index.html"].elements if e.attrs.get("aria-live") == "polite"]
    assert len(live) == 1


def test_module_imports_resolve() -> None:
    for path in JS_DIR.glob("*.js"):
        source = path.read_text(encoding="utf-8")
        for target in re.findall(r"""(?:from|import)\s*\(?\s*'(\.[^']+)'""", source):
            assert (path.parent / target).is_file(), f"{path.name} imports {target}"


def test_files_the_scripts_build_urls_for_exist() -> None:
    i18n = (JS_DIR / "i18n.js").read_text(encoding="utf-8")
    for lang in supported_languages(i18n):
        assert (STATIC_DIR / "messages" / f"{lang}.json").is_file()
    for action in Action:
        assert (STATIC_DIR / "icons" / f"{action.value}.svg").is_file(), action


def test_static_urls_in_scripts_exist() -> None:
    for path in JS_DIR.glob("*.js"):
        for url in re.findall(r"'(/static/[^'$`{]+)'", path.read_text(encoding="utf-8")):
            assert static_file(url).is_file(), f"{path.name}: {url}"


def test_the_parser_sees_inline_code() -> None:
    """The checks above are only as good as the parser: it must see these."""
    page = parse_html(
        "bad.html", '<p style="x">hi</p><script>alert(1)</script><button onclick="x()"></button>'
    )
    assert page.text == ["hi", "alert(1)"]
    assert [e.text for e in page.elements if e.tag == "script"] == ["alert(1)"]
    assert "onclick" in page.elements[2].attrs and "style" in page.elements[0].attrs
