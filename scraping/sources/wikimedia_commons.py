"""Wikimedia Commons clip-art categories (web source ``commons.wikimedia.org``): start URLs only.

A preset of the ``html`` scraper. A category page such as
``https://commons.wikimedia.org/wiki/Category:Clip_art_of_teapots`` shows a gallery of files
(``li.gallerybox a.mw-file-description`` links to ``File:`` pages) and, past 200 files, a "next
page" link with ``filefrom=``; subcategories are left alone. A ``File:`` page links the original
file ("Original file", ``div.fullMedia a.internal``), names the author in the information table
(the cell after ``td#fileinfotpl_aut``) and each licence in a hidden ``span.licensetpl_short``
("CC0", "CC BY-SA 3.0"); a file under several licences records them all, joined by "; ". The
page's own ``<link rel="license">`` is the licence of the wiki's text and is not used.

There is no query template: Commons' robots.txt disallows ``/w/`` and ``/wiki/Special:``, which
hold its search (and the ``/w/index.php?...&filefrom=`` next pages, which a crawler that obeys
robots.txt therefore skips: a category gives its first 200 files). Start from category pages.

Written without access to the site, against pages authored to mirror MediaWiki's markup
(``tests/fixtures/sites/commons.wikimedia.org/``); if the markup has moved on, the selectors in
``PRESET`` are the place to fix.
"""
from __future__ import annotations

from .html import HtmlSource
from .web import register_web

PRESET = {
    "selectors": {
        "image": "div.fullMedia a.internal[href], div#file.fullImageLink > a[href]",  # both: the original file
        "follow": "li.gallerybox a.mw-file-description[href]",
        "next": 'a[href*="filefrom="]:-soup-contains("next page")',
        "title": "h1#firstHeading span.mw-page-title-main",
        "author": "td#fileinfotpl_aut + td",
        "license": "span.licensetpl_short",
    },
}


@register_web
class WikimediaCommonsSource(HtmlSource):
    name = "commons.wikimedia.org"
    preset = PRESET
