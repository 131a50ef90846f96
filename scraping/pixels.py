"""Any image as 8-bit RGB, as a network sees a drawing: the one conversion every stage uses (hashes,
renders, training, features)."""
from __future__ import annotations

from PIL import Image

WHITE = (255, 255, 255)


def to_rgb(img: Image.Image, background: tuple[int, int, int] = WHITE) -> Image.Image:
    """8-bit RGB as a network sees a drawing: transparency composited on ``background``;
    palette, CMYK, greyscale and 16-bit modes converted."""
    if img.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        import numpy as np

        # 16-bit or float greyscale: scale the range to 8 bits instead of clipping it
        arr = np.asarray(img, dtype=np.float64)
        lo, hi = float(arr.min()), float(arr.max())
        arr = (arr - lo) * (255.0 / (hi - lo)) if hi > lo else np.zeros_like(arr)
        img = Image.fromarray(arr.astype(np.uint8), "L")
    if img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info):
        rgba = img if img.mode == "RGBA" else img.convert("RGBA")
        # paste with the alpha as mask: the same pixels as alpha_composite, in half the time
        canvas = Image.new("RGB", rgba.size, background)
        canvas.paste(rgba, mask=rgba.getchannel("A"))
        return canvas
    return img.convert("RGB")


def load_rgb(path, background: tuple[int, int, int] = WHITE) -> Image.Image:
    """Open any image (a path or file object) as ``to_rgb`` gives it; an animation's first frame."""
    with Image.open(path) as img:
        img.seek(0)  # animated GIF/PNG/WebP: the first frame
        img.load()
        return to_rgb(img, background)
