"""What a downloaded file must pass before it enters the store, and how its server-given name is made safe.

Pure functions on bytes and strings: no network, no disk. The file type is decided by magic bytes,
never by the Content-Type header or the name, so an HTML error page served as ``image/png`` is caught.

- Rasters are opened by Pillow as the sniffed format only; the pixel count is checked from the header
  before any decoding (decompression bombs), then ``verify()`` and a full ``load()`` catch damage and
  truncation (``verify`` alone misses a JPEG cut short).
- SVGs (and gzip-compressed SVGZ) are refused when they declare entities (billion laughs, XXE) or refer
  to anything but ``#fragments`` and ``data:`` URIs, then rendered by cairosvg in its safe mode at a
  bounded size to prove they render and to hash them.
- Every accepted image gets the ``imagehash.phash`` of its pixels on white, as ``curation.hygiene``
  computes it, for near-duplicate marking.
"""
from __future__ import annotations

import base64
import io
import math
import re
import unicodedata
import zlib
from dataclasses import dataclass
from email.message import Message
from email.utils import collapse_rfc2231_value
from urllib.parse import unquote, unquote_to_bytes, urlsplit

import imagehash
from PIL import Image

from .pixels import to_rgb

REASONS = frozenset({"empty", "not-image", "html", "truncated", "bomb", "too-large", "svg-unsafe", "svg-invalid",
                     "unsupported"})
EXTENSIONS = {"png": ".png", "jpeg": ".jpg", "gif": ".gif", "webp": ".webp", "bmp": ".bmp", "tiff": ".tif",
              "svg": ".svg"}
RENDER_SIDE = 256  # longest side of the SVG render that proves it draws and gets hashed

_PIL_FORMATS = {"png": "PNG", "jpeg": "JPEG", "gif": "GIF", "webp": "WEBP", "bmp": "BMP", "tiff": "TIFF"}
_SNIFF_BYTES = 64 * 1024  # how much of a file (or of an inflated SVGZ) the markup sniffer looks at
_BMP_HEADER_SIZES = frozenset({12, 16, 40, 52, 56, 64, 108, 124})  # "BM" alone would match plain text
_SVG_NS = "{http://www.w3.org/2000/svg}"
_NESTED_SVG_DEPTH = 3  # data: SVGs inside SVGs are checked this deep, then refused

_PROLOG = re.compile(rb"\s+|<\?.*?\?>|<!--.*?-->", re.DOTALL)  # whitespace, XML declaration / PIs, comments
_SVG_ROOT = re.compile(rb"<(?:[\w.-]+:)?svg[\s/>]")
_HTML_START = re.compile(rb"<!doctype\s+html|<html[\s>]|<head[\s>]|<body[\s>]")
_SVG_DOCTYPE = re.compile(rb"<!doctype\s+svg[\s>\[]")
_DOCTYPE_END = re.compile(rb"<!doctype[^>\[]*(?:\[.*?\]\s*)?>", re.DOTALL | re.IGNORECASE)
_ENTITY = re.compile(rb"<!ENTITY", re.IGNORECASE)
_STYLESHEET_PI = re.compile(rb"<\?xml-stylesheet", re.IGNORECASE)
_CSS_URL = re.compile(r"url\(\s*['\"]?\s*([^'\")\s]*)", re.IGNORECASE)
_CSS_IMPORT = re.compile(r"@import", re.IGNORECASE)
_LENGTH = re.compile(r"\s*([+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)\s*([a-zA-Z%]*)\s*")
_UNITS = {"": 1.0, "px": 1.0, "pt": 4 / 3, "pc": 16.0, "mm": 96 / 25.4, "cm": 96 / 2.54, "in": 96.0, "q": 96 / 101.6,
          "em": 16.0, "ex": 8.0}  # CSS px per unit; em/ex at the default 16px font

_WINDOWS_RESERVED = frozenset({"CON", "PRN", "AUX", "NUL", *(f"COM{i}" for i in "123456789¹²³"),
                               *(f"LPT{i}" for i in "123456789¹²³")})
_MAX_EXT = 10  # a longer "extension" is part of the name
_MAX_NAME_BYTES = 255  # what most file systems allow, in UTF-8


class Rejected(ValueError):
    """A download that must not enter the store; ``reason`` is a short machine-friendly tag, str(err) explains."""

    def __init__(self, reason: str, message: str):
        assert reason in REASONS, reason
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True)
class ImageInfo:
    kind: str  # "png", "jpeg", "gif", "webp", "bmp", "tiff", "svg"
    ext: str  # ".png", ".jpg", ".gif", ".webp", ".bmp", ".tif", ".svg" (".svgz" for gzip-compressed SVG)
    width: int
    height: int
    phash: str  # imagehash.phash hex of the image (SVG: of its render), composited on white


# -- sniffing ---------------------------------------------------------------------------------------------------------

def _markup_kind(head: bytes) -> str | None:
    """"svg", "html" or None for the start of a text file, after BOM, XML declaration, comments and a doctype."""
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):  # UTF-16: sniff its UTF-8 transcoding
        head = head.decode("utf-16", errors="ignore").encode()
    head = head.removeprefix(b"\xef\xbb\xbf")
    pos, seen_doctype = 0, False
    while True:
        while m := _PROLOG.match(head, pos):
            pos = m.end()
        start = head[pos:pos + 200].lower()
        if _SVG_ROOT.match(start) or _SVG_DOCTYPE.match(start):
            return "svg"
        if _HTML_START.match(start):
            return "html"
        if seen_doctype or not start.startswith(b"<!doctype"):
            return None
        # another doctype, perhaps with an internal subset: the root element follows it
        m = _DOCTYPE_END.match(head, pos)
        if not m:
            return None
        pos, seen_doctype = m.end(), True


def _gunzip(data: bytes, cap: int) -> tuple[bytes, bool]:
    """At most ``cap`` inflated bytes of a gzip stream, and whether the stream ended within them."""
    d = zlib.decompressobj(16 + zlib.MAX_WBITS)
    out = d.decompress(data, cap)
    return out, d.eof


def _sniff(data: bytes) -> str | None:
    """``sniff``, plus "html" for pages that are not images."""
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if data.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if data.startswith((b"GIF87a", b"GIF89a")):
        return "gif"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp"
    if data.startswith(b"BM") and len(data) >= 18 and int.from_bytes(data[14:18], "little") in _BMP_HEADER_SIZES:
        return "bmp"
    if data.startswith((b"II*\x00", b"MM\x00*")):
        return "tiff"
    if data.startswith(b"\x1f\x8b"):  # SVGZ; only its head is inflated here
        try:
            head, _ = _gunzip(data, _SNIFF_BYTES)
        except zlib.error:
            return None
        return _markup_kind(head)
    return _markup_kind(data[:_SNIFF_BYTES])


def sniff(data: bytes) -> str | None:
    """The file type from magic bytes (never from headers or names): kinds above, or None."""
    kind = _sniff(data)
    return kind if kind in EXTENSIONS else None


# -- checks -----------------------------------------------------------------------------------------------------------

def check_image(data: bytes, *, max_pixels: int = 40_000_000, max_svg_bytes: int = 5_000_000) -> ImageInfo:
    """Raise Rejected unless ``data`` is a complete, decodable, safe image.

    Pillow's own bomb limit (``Image.MAX_IMAGE_PIXELS``, left as it is) also applies to rasters, so the
    effective limit is the smaller of the two.
    """
    if not data:
        raise Rejected("empty", "empty file (0 bytes)")
    kind = _sniff(data)
    if kind == "html":
        raise Rejected("html", "an HTML page, not an image")
    if kind is None:
        raise Rejected("not-image", f"not a known image type (starts {data[:16]!r})")
    if kind == "svg":
        return _check_svg(data, max_pixels=max_pixels, max_svg_bytes=max_svg_bytes)
    return _check_raster(data, kind, max_pixels)


def _check_pixel_count(size: tuple[int, int], max_pixels: int) -> None:
    if size[0] * size[1] > max_pixels:
        raise Rejected("bomb", f"{size[0]}x{size[1]} = {size[0] * size[1]:,} pixels, over the limit of {max_pixels:,}")


def _check_raster(data: bytes, kind: str, max_pixels: int) -> ImageInfo:
    formats = [_PIL_FORMATS[kind]]  # only the sniffed format: no second guess by Pillow
    try:
        with Image.open(io.BytesIO(data), formats=formats) as img:
            _check_pixel_count(img.size, max_pixels)  # from the header, before any pixel is decoded
            img.verify()
        with Image.open(io.BytesIO(data), formats=formats) as img:
            img.load()  # first frame only; catches truncation that verify() does not
            width, height = img.size
            phash = _phash(img)
    except Rejected:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as err:  # the warning when filters raise it
        raise Rejected("bomb", f"decompression bomb: {err}") from None
    except Exception as err:  # Pillow raises many types for damaged files
        text = f"{type(err).__name__}: {err}"[:300]
        if "not available" in text or "unsupported" in text.lower() or "not supported" in text:
            raise Rejected("unsupported", f"{kind} variant Pillow cannot decode: {text}") from None
        raise Rejected("truncated", f"truncated or damaged {kind}: {text}") from None
    return ImageInfo(kind, EXTENSIONS[kind], width, height, phash)


def _phash(img: Image.Image) -> str:
    return str(imagehash.phash(to_rgb(img)))


def _check_svg(data: bytes, *, max_pixels: int, max_svg_bytes: int) -> ImageInfo:
    import cairosvg  # loads cairo: only when an SVG comes
    from defusedxml import DefusedXmlException
    from defusedxml.ElementTree import ParseError

    ext = ".svg"
    if data.startswith(b"\x1f\x8b"):
        ext = ".svgz"
        try:
            data, complete = _gunzip(data, max_svg_bytes + 1)
        except zlib.error as err:
            raise Rejected("truncated", f"damaged gzip stream: {err}") from None
        if len(data) > max_svg_bytes:
            raise Rejected("too-large", f"SVGZ inflates past {max_svg_bytes:,} bytes")
        if not complete:
            raise Rejected("truncated", "gzip stream ends early")
    elif len(data) > max_svg_bytes:
        raise Rejected("too-large", f"SVG of {len(data):,} bytes, over {max_svg_bytes:,}")

    try:
        root = _safe_svg_root(data, max_pixels, 0)
    except Rejected:
        raise
    except DefusedXmlException as err:
        raise Rejected("svg-unsafe", f"SVG declares entities or external references: {err!r}") from None
    except (ParseError, ValueError, LookupError) as err:  # LookupError: an unknown encoding declared
        raise Rejected("svg-invalid", f"SVG is not well-formed XML: {err}") from None

    intrinsic = _intrinsic_size(root)
    if intrinsic:
        scale = RENDER_SIDE / max(intrinsic)
        size = {"output_width": max(1, round(intrinsic[0] * scale)),
                "output_height": max(1, round(intrinsic[1] * scale))}
    else:  # cairosvg may know better; cairo caps surfaces at 32767 px a side
        size = {"output_width": RENDER_SIDE}
    try:
        png = cairosvg.svg2png(bytestring=data, unsafe=False, **size)
        with Image.open(io.BytesIO(png)) as render:
            render.load()
            phash = _phash(render)
            rendered = render.size
    except Exception as err:  # cairosvg raises anything from its XML, CSS and cairo layers
        raise Rejected("svg-invalid", f"SVG does not render: {type(err).__name__}: {err}"[:300]) from None
    width, height = (max(1, round(v)) for v in intrinsic) if intrinsic else rendered
    return ImageInfo("svg", ext, width, height, phash)


def _safe_svg_root(data: bytes, max_pixels: int, depth: int):
    """The parsed root of an SVG with no entities and no external references; raises Rejected or parse errors."""
    from defusedxml.ElementTree import fromstring

    if _ENTITY.search(data):  # before parsing: a billion-laughs document never reaches the parser
        raise Rejected("svg-unsafe", "SVG declares XML entities (billion laughs / XXE)")
    if _STYLESHEET_PI.search(data):
        raise Rejected("svg-unsafe", "SVG links an external stylesheet (<?xml-stylesheet?>)")
    root = fromstring(data, forbid_dtd=False, forbid_entities=True, forbid_external=True)
    if root.tag not in (f"{_SVG_NS}svg", "svg"):
        raise Rejected("svg-invalid", f"root element is {root.tag!r}, not svg")
    for el in root.iter():
        tag = el.tag.rsplit("}", 1)[-1] if isinstance(el.tag, str) else ""
        if tag == "script":
            raise Rejected("svg-unsafe", "SVG contains a <script>")
        if tag == "style" and el.text:
            _check_css(el.text)
        for key, value in el.attrib.items():
            name = key.rsplit("}", 1)[-1].lower()
            if name.startswith("on"):
                raise Rejected("svg-unsafe", f"SVG has an event handler attribute {name!r}")
            if name in ("href", "src") and tag != "a":  # a link is followed by a reader, never by the renderer
                _check_reference(value, max_pixels, depth)
            elif "url(" in value.lower() or "@import" in value.lower():
                _check_css(value)
    return root


def _check_reference(value: str, max_pixels: int, depth: int) -> None:
    ref = value.strip()
    if not ref or ref.startswith("#"):
        return
    if not ref.lower().startswith("data:"):
        raise Rejected("svg-unsafe", f"SVG refers to an external resource: {ref[:100]!r}")
    header, _, payload = ref.partition(",")
    try:
        content = base64.b64decode(re.sub(r"\s+", "", payload)) if header.lower().endswith(";base64") \
            else unquote_to_bytes(payload)
    except ValueError:
        return  # undecodable: cairosvg draws nothing for it
    kind = _sniff(content)
    if kind == "svg":  # a nested document gets the same checks, to a bounded depth
        if depth >= _NESTED_SVG_DEPTH:
            raise Rejected("svg-unsafe", "SVG nests data: SVGs too deep")
        if content.startswith(b"\x1f\x8b"):
            raise Rejected("svg-unsafe", "SVG nests a compressed data: SVG")
        _safe_svg_root(content, max_pixels, depth + 1)
    elif kind in _PIL_FORMATS:  # the renderer decodes embedded rasters in full: bound their size
        try:
            with Image.open(io.BytesIO(content), formats=[_PIL_FORMATS[kind]]) as img:
                size = img.size
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as err:
            raise Rejected("bomb", f"SVG embeds a decompression bomb: {err}") from None
        except Exception:
            return  # damaged: cairosvg draws nothing for it, or fails and the render check rejects
        _check_pixel_count(size, max_pixels)


def _check_css(text: str) -> None:
    if _CSS_IMPORT.search(text):
        raise Rejected("svg-unsafe", "SVG style imports a stylesheet (@import)")
    for target in _CSS_URL.findall(text):
        if target and not target.startswith("#") and not target.lower().startswith("data:"):
            raise Rejected("svg-unsafe", f"SVG style refers to an external resource: url({target[:100]})")


def _length(value: str | None) -> float | None:
    """A CSS length in px, or None for missing, percentages, unknown units and non-positive values."""
    m = _LENGTH.fullmatch(value or "")
    if not m or m[2].lower() not in _UNITS:
        return None
    px = float(m[1]) * _UNITS[m[2].lower()]
    return px if px > 0 and math.isfinite(px) else None


def _intrinsic_size(root) -> tuple[float, float] | None:
    """The root's width and height in px, from its attributes and viewBox, as a browser would size it."""
    w, h = _length(root.get("width")), _length(root.get("height"))
    if w and h:
        return w, h
    try:
        vb = [float(v) for v in re.split(r"[\s,]+", (root.get("viewBox") or "").strip())]
    except ValueError:
        vb = []
    if len(vb) != 4 or not all(math.isfinite(v) for v in vb) or vb[2] <= 0 or vb[3] <= 0:
        return None
    vw, vh = vb[2], vb[3]
    if w:
        return w, w * vh / vw
    if h:
        return h * vw / vh, h
    return vw, vh


# -- names ------------------------------------------------------------------------------------------------------------

def _clean_name(name: str, max_length: int) -> str:
    """``sanitize_filename`` without the default: "" when nothing is left."""
    name = unicodedata.normalize("NFC", name).replace("\\", "/").rsplit("/", 1)[-1]
    out = []
    for ch in name:
        cat = unicodedata.category(ch)
        if cat[0] == "C":  # control, format (bidi overrides), surrogate, private, unassigned: dropped
            continue
        if cat[0] in "LM" or cat == "Nd" or ch in "-_.":
            out.append(ch)
        else:  # whitespace, punctuation, symbols: a word break
            out.append("_")
    name = re.sub(r"\.{2,}", ".", re.sub(r"_{2,}", "_", "".join(out)))
    name = name.lstrip("._-").rstrip("._-")  # no hidden files, no option-like names, no Windows trailing dots
    if not name:
        return ""
    stem, dot, ext = name.rpartition(".")
    if not dot or not stem or len(ext) + 1 > _MAX_EXT:
        stem, ext = name, ""
    else:
        ext = "." + ext
    limit = max(1, min(max_length, _MAX_NAME_BYTES) - len(ext) - 1)  # -1: room for a reserved-name suffix
    stem = stem[:limit]
    while len((stem + ext).encode()) > _MAX_NAME_BYTES - 1:  # multi-byte letters: a character limit is not enough
        stem = stem[:-1]
    stem = stem.rstrip("._-")
    first, dot, rest = stem.partition(".")
    if first.upper() in _WINDOWS_RESERVED:  # Windows reserves "CON" and "CON.anything"
        stem = f"{first}_{dot}{rest}"
    name = stem + ext
    return name if len(name) <= max_length else name[:max_length].rstrip("._-")


def sanitize_filename(name: str, *, max_length: int = 120, default: str = "image") -> str:
    """A server-given name made safe: no directories (take the last path component after both / and \\),
    no traversal (".."), no absolute paths, no control chars, NFC-normalised, only a conservative
    character set (letters incl. unicode letters, digits, space→_, - _ . ), no leading dots, length-limited
    keeping the extension, never empty (``default``). Windows-reserved names (CON, NUL…) get a suffix."""
    return _clean_name(name, max_length) or default


def _content_disposition_name(header: str) -> str | None:
    msg = Message()
    msg["content-disposition"] = header
    params = [(k.lower(), v) for k, v in (msg.get_params(header="content-disposition") or [])[1:]]
    # RFC 6266: filename* (RFC 5987, a (charset, language, value) triple here) wins over filename
    extended = [v for k, v in params if k == "filename" and isinstance(v, tuple)]
    plain = [v for k, v in params if k == "filename" and isinstance(v, str)]
    if extended:
        return collapse_rfc2231_value(extended[0])
    if plain:
        value = plain[0]
        try:  # raw UTF-8 in the header reaches us decoded as Latin-1 (HTTP's default)
            value = value.encode("latin-1").decode("utf-8")
        except UnicodeError:
            pass
        return unquote(value)
    return None


def filename_from(url: str, content_disposition: str | None = None) -> str:
    """The original name: Content-Disposition's filename*/filename (RFC 6266/5987, percent-decoded) when
    given, else the URL path's last component (percent-decoded); always passed through sanitize_filename."""
    if content_disposition:
        name = sanitize_filename(_content_disposition_name(content_disposition) or "", default="")
        if name:
            return name
    # the last segment of the raw path, decoded after splitting: an encoded %2F cannot add directories
    segment = urlsplit(url).path.rsplit("/", 1)[-1]
    return sanitize_filename(unquote(segment))
