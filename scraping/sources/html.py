"""The generic gallery and search-page scraper (web source ``html``), and the engine of the site presets.

Without a config it takes, from any page:

- every ``<img>``: its lazy-load ``data-srcset``/``data-src``, else the largest ``srcset`` entry, else ``src``;
  an ``<img>`` inside a link to an image file is left out, since the link is the full-size file;
- every ``<a href>`` whose path ends in an image extension (``.png .jpg .jpeg .gif .webp .svg .svgz .bmp
  .tif .tiff``, any case, query string ignored);
- ``<a rel="next">`` and ``<link rel="next">`` as next result pages;
- a title from the image's ``alt`` or ``title`` (for a link: its ``title``, or its ``<img>``'s), else the
  page ``<title>``; the author from ``<meta name="author">``; the licence from the ``href`` of
  ``<a rel="license">`` or ``<link rel="license">``.

URLs resolve against the page URL and ``<base href>``; only http(s) URLs are kept (``data:``,
``javascript:``, ``mailto:`` go), fragments are dropped, and duplicates go, first one kept.

A config (TOML, or YAML where PyYAML is installed; every key optional) points the scraper at a
site's own markup::

    query_template = "https://example.org/search?q={query}+clipart"

    [selectors]                      # CSS, as soupsieve reads it (``:-soup-contains("next")`` works)
    image = "div.gallery img"        # elements whose data-srcset/data-src/srcset (largest)/src/href is the image
    follow = "div.results a.item"    # links to detail pages, visited one level down
    next = "a.next"                  # next result pages
    title = "h1.title"               # per page; or "alt" / "title": that attribute of the image element
    author = ".author a"             # the element's text (a <meta>'s content)
    license = "a[rel=license]"       # the element's href if it has one, else its text; several are joined by "; "

    [filters]
    min_width = 32                   # skip <img> whose width or height attribute is below this (icons, spacers)
    url_exclude = ["/static/icons/", "sprite"]   # skip image URLs containing any of these (any case)

A selector replaces its default above, also on a page where it matches nothing: a site's own
``<link rel="license">`` is often the licence of its text, not of its images. A page that yields
neither images nor links to follow says why in ``Page.problems`` instead of failing, and so does a
page with images where a title, author or licence selector matches nothing.

Pages are parsed with BeautifulSoup's built-in ``html.parser``, which is imported only when the
first page is parsed, so that listing sources stays cheap. Bytes are decoded as browsers do: a
byte-order mark, the ``Content-Type`` charset, ``<meta charset>``, then UTF-8, then windows-1252.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar
from urllib.parse import urldefrag, urljoin, urlsplit

from .base import IMAGE_EXTENSIONS
from .web import ImageLink, Page, WebSource, check_query_template, register_web

if TYPE_CHECKING:
    import os

    from bs4 import BeautifulSoup, Tag

SELECTOR_KEYS = ("image", "follow", "next", "title", "author", "license")
FILTER_KEYS = ("min_width", "url_exclude")
CONFIG_KEYS = ("query_template", "selectors", "filters")
ATTRIBUTE_TITLES = ("alt", "title")  # title = "alt" names the image's attribute, not a <alt> element
DEFAULT_NEXT = 'a[rel~="next"][href], link[rel~="next"][href]'
DEFAULT_AUTHOR = 'meta[name="author" i][content]'
DEFAULT_LICENSE = 'a[rel~="license"][href], link[rel~="license"][href]'
IMAGE_ATTRIBUTES = ("data-srcset", "data-src", "srcset", "src", "href")  # lazy-load placeholders sit in src
HTML_TYPES = ("application/xhtml+xml", "application/xml")  # besides text/*
_SRCSET_SIZE = re.compile(r"^(\d+(?:\.\d+)?)([wx])$", re.I)
_LEADING_INT = re.compile(r"^\s*(\d+)")


@dataclass(frozen=True)
class HtmlConfig:
    query_template: str | None = None
    selectors: dict[str, str] = field(default_factory=dict)
    min_width: int = 0
    url_exclude: tuple[str, ...] = ()

    @classmethod
    def from_dict(cls, config: dict, where: str = "config") -> HtmlConfig:
        """The config a dict describes (as ``load_config`` reads it), with every key and type checked."""
        if not isinstance(config, dict):
            raise ValueError(f"{where}: expected a table of settings, got {type(config).__name__}")
        _check_keys(config, CONFIG_KEYS, where)
        selectors = config.get("selectors") or {}
        filters = config.get("filters") or {}
        _check_keys(selectors, SELECTOR_KEYS, f"{where} [selectors]")
        _check_keys(filters, FILTER_KEYS, f"{where} [filters]")
        for key, value in selectors.items():
            if not isinstance(value, str) or not value.strip():
                raise ValueError(f"{where}: selector {key!r} must be a non-empty string")
        template = config.get("query_template")
        if template is not None:
            if not isinstance(template, str):
                raise ValueError(f"{where}: query_template must be a string")
            check_query_template(template)
        min_width = filters.get("min_width", 0)
        if not isinstance(min_width, int) or isinstance(min_width, bool) or min_width < 0:
            raise ValueError(f"{where}: min_width must be a whole number of pixels")
        exclude = filters.get("url_exclude", ())
        if isinstance(exclude, str):
            exclude = [exclude]
        if not all(isinstance(s, str) and s for s in exclude):
            raise ValueError(f"{where}: url_exclude must be a list of non-empty strings")
        return cls(template, dict(selectors), min_width, tuple(s.lower() for s in exclude))


def _check_keys(table: object, known: tuple[str, ...], where: str) -> None:
    if not isinstance(table, dict):
        raise ValueError(f"{where}: expected a table, got {type(table).__name__}")
    unknown = sorted(set(table) - set(known))
    if unknown:
        raise ValueError(f"{where}: unknown key(s) {', '.join(unknown)}; known: {', '.join(known)}")


def load_config(path: str | os.PathLike) -> dict:
    """The scraper config in a ``.toml`` (or, with PyYAML installed, ``.yaml``/``.yml``) file, checked."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".toml":
        try:
            import tomllib
        except ModuleNotFoundError:  # Python 3.10, which pyproject still allows: tomli is the same parser
            try:
                import tomli as tomllib
            except ModuleNotFoundError:
                raise ValueError(f"{path}: reading TOML needs Python 3.11 or the tomli package") from None
        with open(path, "rb") as f:
            config = tomllib.load(f)
    elif suffix in (".yaml", ".yml"):
        try:
            import yaml
        except ImportError:
            msg = f"{path}: reading YAML needs PyYAML, which is not installed; write the config as TOML"
            raise ValueError(msg) from None
        config = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    else:
        raise ValueError(f"{path}: a scraper config is .toml, .yaml or .yml")
    HtmlConfig.from_dict(config, where=str(path))
    return config


@register_web
class HtmlSource(WebSource):
    name = "html"
    preset: ClassVar[dict] = {}  # a site preset's config; the config given to __init__ is laid over it

    def __init__(self, config: dict | None = None, *, query_template: str | None = None):
        import soupsieve  # comes with bs4; compiling now reports a bad selector before any page is fetched

        given = config or {}
        merged = {**self.preset, **given}
        for table in ("selectors", "filters"):
            merged[table] = {**self.preset.get(table, {}), **(given.get(table) or {})}
        self.config = HtmlConfig.from_dict(merged)
        if query_template is not None:
            check_query_template(query_template)
        self.query_template = query_template or self.config.query_template or type(self).query_template
        self._compiled = {}
        selectors = {"next": DEFAULT_NEXT, "author": DEFAULT_AUTHOR, "license": DEFAULT_LICENSE,
                     **self.config.selectors}
        for key, selector in selectors.items():
            if key == "title" and selector in ATTRIBUTE_TITLES:
                continue
            try:
                self._compiled[key] = soupsieve.compile(selector)
            except soupsieve.SelectorSyntaxError as e:
                raise ValueError(f"selector {key} = {selector!r}: {e}") from None

    def parse(self, page_url: str, body: bytes | str, *, content_type: str | None = None) -> Page:
        refusal = _not_html(body, content_type)
        if refusal:
            return Page(problems=[refusal])
        soup = _soup(body, content_type)
        base = _base_url(soup, page_url)
        here = urldefrag(page_url).url
        page = Page()
        found, image_notes = self._image_elements(soup, base)
        page.follow = self._links(soup, "follow", base, here) if "follow" in self._compiled else []
        page.next = self._links(soup, "next", base, here)
        if found:
            page.images = self._describe(soup, found, base, page_url, page.problems)
        elif not page.follow:  # a results page has links to follow and no images of its own
            page.problems += image_notes
            if "follow" in self._compiled:
                page.problems.append(f"no element matched follow selector {self.config.selectors['follow']!r}")
        return page

    def _image_elements(self, soup: BeautifulSoup, base: str) -> tuple[list[tuple[Tag, str]], list[str]]:
        """(element, absolute image URL) pairs in page order, filtered and without repeats; why there are none."""
        notes = []
        if "image" in self._compiled:
            elements = self._compiled["image"].select(soup)
            if not elements:
                notes.append(f"no element matched image selector {self.config.selectors['image']!r}")
        else:
            elements = [el for el in soup.select("img, a[href]") if _default_image_element(el)]
            if not elements:
                notes.append("no <img> or link to an image file on the page")
        found: list[tuple[Tag, str]] = []
        seen: set[str] = set()
        dropped = 0
        for el in elements:
            url = _element_image_url(el, base)
            if url is None or self._filtered(el, url):
                dropped += 1
            elif url not in seen:
                seen.add(url)
                found.append((el, url))
        if elements and not found:
            notes.append(f"all {dropped} image candidate(s) dropped: no http(s) URL, too small or excluded")
        return found, notes

    def _filtered(self, el: Tag, url: str) -> bool:
        if self.config.min_width and el.name == "img":
            for attr in ("width", "height"):
                size = _LEADING_INT.match(str(el.get(attr) or ""))
                if size and int(size.group(1)) < self.config.min_width:
                    return True
        lowered = url.lower()
        return any(part in lowered for part in self.config.url_exclude)

    def _links(self, soup: BeautifulSoup, key: str, base: str, here: str) -> list[str]:
        links: list[str] = []
        for el in self._compiled[key].select(soup):
            href = el.get("href")
            if href is None:  # a selector naming the container of the link
                inner = el.find("a", href=True)
                href = inner.get("href") if inner else None
            url = _resolve(base, href)
            if url and url != here and url not in links:
                links.append(url)
        return links

    def _describe(self, soup: BeautifulSoup, found: list[tuple[Tag, str]], base: str, page_url: str,
                  problems: list[str]) -> list[ImageLink]:
        values = {}
        for key in ("title", "author", "license"):
            if key in self._compiled:
                values[key] = self._values(soup, key, base)
                if not values[key] and key in self.config.selectors:
                    problems.append(f"no element matched {key} selector {self.config.selectors[key]!r}")
        author = values["author"][0] if values["author"] else None
        # A file under several licences (Commons' GFDL plus CC BY-SA) keeps them all.
        license = "; ".join(values["license"]) or None
        if "title" in values:
            return [ImageLink(url, page_url, values["title"][0] if values["title"] else None, author, license)
                    for _, url in found]
        # title = "title" asks for the title attribute before alt; by default alt comes first.
        order = ("title", "alt") if self.config.selectors.get("title") == "title" else ATTRIBUTE_TITLES
        page_title = _text(soup.title) if soup.title else None
        return [ImageLink(url, page_url, _element_title(el, order) or page_title, author, license)
                for el, url in found]

    def _values(self, soup: BeautifulSoup, key: str, base: str) -> list[str]:
        """The distinct non-empty values of the elements ``key``'s selector matches, in page order."""
        values: list[str] = []
        for el in self._compiled[key].select(soup):
            if el.name == "meta":
                value = " ".join(str(el.get("content") or "").split()) or None
            elif key == "license" and el.get("href"):
                value = _resolve(base, el["href"]) or _text(el)  # a licence link names the licence by its URL
            else:
                value = _text(el)
            if value and value not in values:
                values.append(value)
        return values


def _not_html(body: bytes | str, content_type: str | None) -> str | None:
    """Why ``body`` is not a page to parse, or None."""
    mime = (content_type or "").split(";")[0].strip().lower()
    if mime and not (mime.startswith("text/") or mime in HTML_TYPES or mime.endswith("+html")):
        return f"not an HTML page (content type {mime})"
    if not body.strip():
        return "empty page"
    return None


def _soup(body: bytes | str, content_type: str | None) -> BeautifulSoup:
    from bs4 import BeautifulSoup  # imported here: 0.1 s that listing sources should not pay

    return BeautifulSoup(body if isinstance(body, str) else _decode(body, content_type), "html.parser")


def _decode(body: bytes, content_type: str | None) -> str:
    """``body`` as browsers read it: byte-order mark, then the header's charset, then ``<meta charset>``,
    then UTF-8, then windows-1252 (no statistical guessing: it gets short Western pages wrong)."""
    from bs4.dammit import EncodingDetector

    data, bom = EncodingDetector.strip_byte_order_mark(body)
    header = re.search(r"charset=[\"']?([\w.:-]+)", content_type or "", re.I)
    declared = EncodingDetector.find_declared_encoding(data, is_html=True)
    if declared and declared.lower().startswith(("utf-16", "utf-32")):
        declared = "utf-8"  # a <meta> that could be read at all was not written in UTF-16
    for encoding in (bom, header.group(1) if header else None, declared, "utf-8", "windows-1252"):
        if encoding:
            try:
                return data.decode(encoding)
            except (LookupError, UnicodeDecodeError):  # unknown to Python, or not what the bytes are
                pass
    return data.decode("utf-8", errors="replace")


def _base_url(soup: BeautifulSoup, page_url: str) -> str:
    base = soup.find("base", href=True)
    return (_resolve(page_url, base["href"]) if base else None) or page_url


def _resolve(base: str, value: object) -> str | None:
    """``value`` as an absolute http(s) URL without its fragment, or None."""
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        url = urldefrag(urljoin(base, value.strip())).url
        parts = urlsplit(url)
    except ValueError:  # e.g. "http://[broken"
        return None
    return url if parts.scheme in ("http", "https") and parts.hostname else None


def _is_image_path(url: str) -> bool:
    try:
        path = urlsplit(url).path
    except ValueError:
        return False
    return Path(path).suffix.lower() in IMAGE_EXTENSIONS


def _default_image_element(el: Tag) -> bool:
    if el.name == "a":
        return _is_image_path(el["href"].strip())
    link = el.find_parent("a", href=True)
    return not (link and _is_image_path(link["href"].strip()))  # the link is the full-size file


def _element_image_url(el: Tag, base: str) -> str | None:
    for attr in IMAGE_ATTRIBUTES:
        value = el.get(attr)
        if attr.endswith("srcset"):
            value = _largest_in_srcset(value) if isinstance(value, str) else None
        url = _resolve(base, value)
        if url:
            return url
    return None


def _largest_in_srcset(srcset: str) -> str | None:
    """The candidate of ``srcset`` with the largest width or density (the first of equals)."""
    best, best_size = None, -1.0
    pos, n = 0, len(srcset)
    while pos < n:
        while pos < n and (srcset[pos].isspace() or srcset[pos] == ","):
            pos += 1
        end = pos
        while end < n and not srcset[end].isspace():
            end += 1
        url, descriptor = srcset[pos:end], ""
        if url.endswith(","):  # "a.png,b.png 2x": a URL may hold commas, but never ends in one
            url = url.rstrip(",")
            pos = end
        else:
            comma = srcset.find(",", end)
            comma = n if comma < 0 else comma
            descriptor, pos = srcset[end:comma].strip(), comma + 1
        if not url:
            continue
        size = _SRCSET_SIZE.match(descriptor)
        value = float(size.group(1)) if size else 1.0  # no descriptor means 1x
        if value > best_size:
            best, best_size = url, value
    return best


def _element_title(el: Tag, order: tuple[str, ...]) -> str | None:
    candidates = [el] + ([el.find("img")] if el.name == "a" else [])
    for node in candidates:
        for attr in order:
            value = " ".join(str(node.get(attr) or "").split()) if node else ""
            if value:
                return value
    return None


def _text(el: Tag) -> str | None:
    return " ".join(el.get_text().split()) or None
