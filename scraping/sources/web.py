"""Web sources: turn a fetched HTML page into image links to download and further pages to visit.

Library sources (``Source`` in ``base``) read collections already on disk; a web source only
parses pages that the crawler fetched for it, so it never touches the network itself. Web
sources have their own registry here, picked by name with ``create_web_source``; a module of
this package that decorates a ``WebSource`` subclass with ``@register_web`` is found by
``web_sources``.
"""
from __future__ import annotations

import urllib.parse
from dataclasses import dataclass, field
from typing import ClassVar

from .base import Registry


@dataclass(frozen=True)
class ImageLink:
    url: str  # absolute, fragment stripped
    page_url: str  # the page it was found on
    title: str | None = None
    author: str | None = None
    license: str | None = None  # a licence name or URL as the page states it


@dataclass
class Page:
    images: list[ImageLink] = field(default_factory=list)  # image files to download
    follow: list[str] = field(default_factory=list)  # detail pages to visit one level down (absolute URLs)
    next: list[str] = field(default_factory=list)  # next result pages (absolute URLs)
    problems: list[str] = field(default_factory=list)  # why a page gave less than expected, for the log


class WebSource:
    """A site, or a kind of page: where to start and how to read what comes back."""

    name: ClassVar[str]
    query_template: ClassVar[str | None] = None  # e.g. "https://openclipart.org/search/?query={query}"

    def start_urls(self, *, query: str | None = None, start_url: str | None = None) -> list[str]:
        if start_url:
            if urllib.parse.urlsplit(start_url).scheme not in ("http", "https"):
                raise ValueError(f"start URL {start_url!r}: only http(s) URLs can be crawled")
            return [start_url]
        if query is not None and query.strip():
            if not self.query_template:
                raise ValueError(f"web source {self.name!r} has no query template: give a start URL instead")
            return [self.query_template.format(query=urllib.parse.quote_plus(query.strip()))]
        raise ValueError(f"web source {self.name!r} needs a start URL or a query")

    def parse(self, page_url: str, body: bytes | str, *, content_type: str | None = None) -> Page:
        raise NotImplementedError


def check_query_template(template: str) -> str:
    """``template`` if ``{query}`` is its only field, so that every query gets its own page."""
    try:
        filled = template.format(query="\0")
    except (KeyError, IndexError, ValueError) as e:
        raise ValueError(f"query template {template!r}: only {{query}} may appear in braces ({e})") from None
    if "\0" not in filled:
        raise ValueError(f"query template {template!r} has no {{query}}")
    return template


_WEB_SOURCES = Registry("web source")
register_web = _WEB_SOURCES.register
web_sources = _WEB_SOURCES.names


def create_web_source(name: str, **kwargs) -> WebSource:
    return _WEB_SOURCES.create(name, **kwargs)


__all__ = ["ImageLink", "Page", "WebSource", "check_query_template", "create_web_source", "register_web",
           "web_sources"]
