"""Turn a source file into a checked raster image: hash it, decode it or render it.

Every function here either returns facts about a good image or raises ``BadImage``
with a reason a person can act on; the builder lists those in ``rejected.jsonl``.
"""
from __future__ import annotations

import hashlib
import io
import unicodedata
import warnings
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

from scraping.files import atomic_write_bytes
from scraping.sources import IMAGE_EXTENSIONS, VECTOR_EXTENSIONS

MAX_NAME_LENGTH = 200
_BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


class BadImage(Exception):
    """A file that cannot enter the dataset; ``str(err)`` is the reason."""


@dataclass(frozen=True)
class ImageInfo:
    id: str  # sha256 of the source file's bytes
    filepath: Path  # a raster image: the file itself or its render
    width: int
    height: int


def name_problem(name: str, max_length: int = MAX_NAME_LENGTH) -> str | None:
    """Why a file name cannot be trusted as a label, or None."""
    if len(name) > max_length:
        return f"name longer than {max_length} characters ({len(name)})"
    if name.isascii() and name.isprintable():
        return None  # the common case, without a look-up per character
    for ch in name:
        if "\udc80" <= ch <= "\udcff":
            return "name is not valid UTF-8"
        if unicodedata.category(ch) in ("Cc", "Cs", "Co", "Cn") or ch in _BIDI_CONTROLS:
            return f"name contains control or unassigned character U+{ord(ch):04X}"
    return None


def file_problem(path: Path) -> str | None:
    """Cheap checks that need no decoding: type by extension, readable, not empty."""
    ext = path.suffix.lower()
    if ext not in IMAGE_EXTENSIONS:
        return f"not an image file type ({ext or 'no extension'})"
    try:
        size = path.stat().st_size
    except OSError as err:
        return f"cannot read: {err.strerror or err}"
    if size == 0:
        return "empty file (0 bytes)"
    return None


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _check_pixels(img: Image.Image) -> None:
    rgba = img.convert("RGBA")
    if rgba.getchannel("A").getbbox() is None:
        raise BadImage("blank image: fully transparent")
    if rgba.getcolors(1) is not None:
        raise BadImage("blank image: a single colour")


def check_raster(path: Path) -> tuple[int, int]:
    """Decode the whole image (catches truncation); return (width, height)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as img:
                img.load()
                _check_pixels(img)
                return img.size
    except BadImage:
        raise
    except Image.DecompressionBombError as err:
        raise BadImage(f"too many pixels: {err}") from None
    except Image.DecompressionBombWarning as err:
        raise BadImage(f"too many pixels: {err}") from None
    except Image.UnidentifiedImageError:
        raise BadImage("not an image: the decoder does not recognise its bytes") from None
    except (OSError, SyntaxError, ValueError) as err:
        raise BadImage(f"corrupt or truncated image: {err}") from None


def render_svg(data: bytes, dest: Path, size: int) -> tuple[int, int]:
    """Render an SVG document with cairosvg so its longer side is ``size`` px; write ``dest`` atomically."""
    import cairosvg

    try:
        png = cairosvg.svg2png(bytestring=data, output_width=size)
        with Image.open(io.BytesIO(png)) as img:
            w, h = img.size
        if h > w:  # portrait: fit the height instead
            png = cairosvg.svg2png(bytestring=data, output_height=size)
        with Image.open(io.BytesIO(png)) as img:
            img.load()
            _check_pixels(img)
            w, h = img.size
    except BadImage:
        raise
    except Exception as err:  # cairosvg raises anything from XML, CSS and cairo layers
        raise BadImage(f"SVG could not be rendered: {type(err).__name__}: {err}"[:300]) from None
    atomic_write_bytes(dest, png)
    return w, h


def prepare_image(path: Path, render_dir: Path, size: int, data: bytes | None = None) -> ImageInfo:
    """Hash and check one file, or the SVG ``data`` given in its place.

    SVGs are rendered once into ``render_dir``, named by their hash, and reused.
    """
    try:
        digest = hashlib.sha256(data).hexdigest() if data is not None else sha256_file(path)
    except OSError as err:
        raise BadImage(f"cannot read: {err.strerror or err}") from None
    if data is not None or path.suffix.lower() in VECTOR_EXTENSIONS:
        dest = render_dir / f"{digest}.png"
        if dest.exists():  # written atomically, so present means complete
            with Image.open(dest) as img:
                w, h = img.size
        else:
            try:
                svg = data if data is not None else path.read_bytes()
            except OSError as err:
                raise BadImage(f"cannot read: {err.strerror or err}") from None
            w, h = render_svg(svg, dest, size)
        return ImageInfo(digest, dest, w, h)
    w, h = check_raster(path)
    return ImageInfo(digest, path, w, h)
