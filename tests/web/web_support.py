"""Helpers for the web page tests: a bare app serving the web router, and a
small HTML parser that sees every element, attribute and text node."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from html.parser import HTMLParser

from fastapi import FastAPI

from veronica.web import mount_static, router

PAGES = ("index.html", "enroll.html", "result.html")
LANGUAGES = ("en", "fr")


def web_app() -> FastAPI:
    """The pages alone, as ``create_app`` will include them."""
    app = FastAPI()
    app.include_router(router)
    mount_static(app)
    return app


@dataclass
class Element:
    tag: str
    attrs: dict[str, str | None]
    text: str = ""


@dataclass
class ParsedPage:
    """What the tests need from one HTML file."""

    name: str
    elements: list[Element] = field(default_factory=list)
    text: list[str] = field(default_factory=list)
    """Non-blank text nodes anywhere in the document."""


class _Collector(HTMLParser):
    def __init__(self, page: ParsedPage) -> None:
        super().__init__(convert_charrefs=True)
        self.page = page
        self.open: list[Element] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        element = Element(tag, dict(attrs))
        self.page.elements.append(element)
        if tag not in {"meta", "link", "input", "img", "br", "source"}:
            self.open.append(element)

    def handle_endtag(self, tag: str) -> None:
        while self.open:
            if self.open.pop().tag == tag:
                break

    def handle_data(self, data: str) -> None:
        if self.open:
            self.open[-1].text += data
        if data.strip():
            self.page.text.append(data.strip())


def parse_html(name: str, html: str) -> ParsedPage:
    page = ParsedPage(name)
    collector = _Collector(page)
    collector.feed(html)
    collector.close()
    return page


def supported_languages(i18n_source: str) -> list[str]:
    match = re.search(r"export const SUPPORTED = .*?\[([^\]]*)\]", i18n_source)
    assert match, "i18n.js declares SUPPORTED"
    return re.findall(r"'([a-z]+)'", match.group(1))
