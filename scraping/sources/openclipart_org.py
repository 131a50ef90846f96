"""openclipart.org (web source ``openclipart.org``): search results, then each drawing's SVG.

A preset of the ``html`` scraper. The search page ``/search/?query=teapot`` shows result tiles
that link to detail pages ``/detail/<id>/<slug>``, and pages on with a "next" link
(``?query=teapot&p=2``). A detail page names the drawing (``<h2>``), its artist (a link to
``/artist/<name>``) and its licence, and links the SVG as ``/download/<id>/<name>.svg``; the PNG
preview next to it is a rendering of the same SVG and is left alone, and so are the "related
clipart" tiles under it (a detail page is a leaf). Everything on openclipart is
public domain (CC0 1.0): a page that names no licence is recorded as ``CC0-1.0``.

Written without access to the site, against pages authored to mirror its structure
(``tests/fixtures/sites/openclipart.org/``); if the site's markup has moved on, the selectors in
``PRESET`` are the place to fix.
"""
from __future__ import annotations

from dataclasses import replace
from urllib.parse import urlsplit

from .html import HtmlSource
from .web import Page, register_web

SITE_LICENSE = "CC0-1.0"  # https://openclipart.org/share: every upload is dedicated to the public domain
PRESET = {
    "selectors": {
        "image": 'a[href*="/download/"][href]',
        "follow": 'div.gallery a[href*="/detail/"]',
        "next": 'a[rel~="next"][href], ul.pagination a.page-link[href]:-soup-contains("Next")',
        "title": "div.artwork-detail h2",
        "author": 'div.artwork-detail a[href*="/artist/"]',
        "license": 'a[rel~="license"][href]',
    },
}


@register_web
class OpenclipartSource(HtmlSource):
    name = "openclipart.org"
    query_template = "https://openclipart.org/search/?query={query}"
    preset = PRESET

    def parse(self, page_url: str, body: bytes | str, *, content_type: str | None = None) -> Page:
        page = super().parse(page_url, body, content_type=content_type)
        page.images = [replace(link, license=link.license or SITE_LICENSE) for link in page.images]
        if urlsplit(page_url).path.startswith("/detail/"):
            # A detail page is a leaf: its "related clipart" tiles would lead away from the query.
            page.follow, page.next = [], []
        return page
