import os
import tempfile
from pathlib import Path

import pytest
from PIL import Image, ImageDraw

from datasets.manifest import write_jsonl

os.environ.setdefault("FIFTYONE_DO_NOT_TRACK", "true")
# a workspace of the test run's own: curation.load records its dataset there, never in the user's folder
os.environ["DRAWNET_WORKSPACE"] = tempfile.mkdtemp(prefix="drawnet-test-workspace-")
# OpenMP threads that spin while waiting made scikit-learn and openTSNE 20x slower on a busy 2-core machine
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


@pytest.fixture(scope="session")
def vocab():
    from datasets.vocabulary import load_vocabulary

    return load_vocabulary()


@pytest.fixture(scope="session")
def strict(vocab):
    from datasets.match import Matcher

    return Matcher(vocab, "strict")


@pytest.fixture(scope="session")
def thesis(vocab):
    from datasets.match import Matcher

    return Matcher(vocab, "thesis")


def make_image(path: Path, seed: int = 0, size=(64, 48), mode="RGB", fmt=None) -> Path:
    """A small drawing whose bytes depend on ``seed`` (so different seeds never collide)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    img = Image.new("RGBA", size, (255, 255, 255, 0) if mode == "RGBA" else (255, 255, 255, 255))
    draw = ImageDraw.Draw(img)
    r = 5 + seed % min(20, size[0] // 2 - 4)  # the ellipse stays inside a small image
    draw.ellipse((r, r // 2, size[0] - r, size[1] - 3), fill=(seed * 37 % 256, 80, 200, 255), outline=(0, 0, 0, 255))
    draw.point((seed % size[0], 0), fill=(seed % 256, 1, 2, 255))
    img.convert(mode).save(path, format=fmt)
    return path


SVG = """<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" viewBox="0 0 {w} {h}">
<rect x="0" y="0" width="{w}" height="{h}" fill="white"/><circle cx="{cx}" cy="{cy}" r="{r}" fill="#c33" stroke="black"/></svg>"""


def make_svg(path: Path, w=100, h=60, seed=0) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(SVG.format(w=w, h=h, cx=w // 2, cy=h // 2, r=min(w, h) // 3 + seed % 5))
    return path


def require_library(source: str) -> Path:
    """The installed copy of an embedded-library source; missing fails CI and skips elsewhere."""
    from scraping.sources import source_class

    root = source_class(source).default_root()
    if root is None:
        if os.environ.get("CI"):
            pytest.fail(f"{source} is missing: make test installs the clip-art library")
        pytest.skip(f"{source} is not installed (python -m scraping.library --install)")
    return root


def require_openclipart() -> Path:
    return require_library("openclipart")


def make_manifest(tmp_path: Path, n: int = 6, start: int = 0) -> Path:
    """A manifest of ``n`` generated images in teapot/umbrella/crane (bird); image 2 also matched the other crane."""
    rows = []
    classes = [(849, "n04398044", "teapot"), (879, "n04507155", "umbrella"), (134, "n02012849", "crane")]
    for i in range(start, start + n):
        index, wnid, label = classes[i % 3]
        path = make_image(tmp_path / "img" / f"{label}{i}.png", seed=i, size=(40, 30))
        rows.append({"id": f"{i:064x}", "filepath": str(path), "original_name": f"{label}_{i}.png", "label": label,
                     "wnid": wnid, "class_index": index, "split": "val" if i % 3 == 0 else "train",
                     "matched_words": [label], "lemma": label, "lang": "eng", "sense_rank": 0, "ambiguous": False,
                     "candidates": [wnid], "source": "dir", "style": "clipart", "set": "toy", "license": "CC0-1.0",
                     "width": 40, "height": 30})
    # an image that also matched the other crane: one sample, ambiguous, both candidates kept
    rows.append({**rows[2], "wnid": "n03126707", "class_index": 517, "ambiguous": True,
                 "candidates": ["n02012849", "n03126707"]})
    rows[2] = {**rows[2], "ambiguous": True, "candidates": ["n02012849", "n03126707"]}
    out = tmp_path / f"manifest{start}.jsonl"
    write_jsonl(out, rows)
    return out


EXTRACT_CLASSES = [(849, "n04398044", "teapot"), (879, "n04507155", "umbrella"), (587, "n03481172", "hammer")]


def extract_manifest(folder: Path, n: int, *, broken: bool = True, broken_at: int | None = None,
                     size=(64, 48)) -> Path:
    """``n`` images for evaluation.extract, the first also in a second class (two rows, one image), and one
    file that is no image (appended, or inserted at row ``broken_at``)."""
    rows = []
    for i in range(n):
        index, wnid, label = EXTRACT_CLASSES[i % 3]
        path = make_image(folder / "img" / f"{label}{i}.png", seed=i, size=size)
        rows.append({"id": f"{i:064x}", "filepath": str(path), "original_name": path.name, "label": label,
                     "wnid": wnid, "class_index": index, "split": "val" if i % 3 == 0 else "train",
                     "matched_words": [label], "ambiguous": False, "source": "dir", "style": f"s{i % 2}"})
    rows.append({**rows[0], "label": "hammer", "wnid": "n03481172", "class_index": 587, "ambiguous": True})
    if broken:
        bad = folder / "img" / "broken.png"
        bad.write_bytes(b"\x89PNG\r\n\x1a\n not really")
        row = {**rows[1], "id": "f" * 64, "filepath": str(bad), "original_name": bad.name}
        rows.insert(len(rows) if broken_at is None else broken_at, row)
    out = folder / "manifest.jsonl"
    write_jsonl(out, rows)
    return out


@pytest.fixture(scope="session")
def fiftyone(tmp_path_factory):
    """FiftyOne on a throwaway MongoDB of its own, stopped after the run."""
    import sys

    from curation.database import fiftyone_module, throwaway_mongod

    if "fiftyone" in sys.modules:
        pytest.fail("fiftyone was imported before the test database was set up: it would use the user's database")
    with throwaway_mongod(tmp_path_factory.mktemp("mongodb")) as uri:
        yield fiftyone_module(uri)


def tiny_clip_weights(tmp_path: Path, name: str) -> Path:
    """A tiny open_clip model registered as ``name``, its random weights (seeded) saved to a file: the CLIP
    code path end to end, without real weights (none ship offline)."""
    import json

    import open_clip
    import torch

    configs = tmp_path / "configs"
    configs.mkdir(exist_ok=True)
    tiny = {"embed_dim": 16,
            "vision_cfg": {"image_size": 32, "layers": 1, "width": 32, "head_width": 16, "patch_size": 16},
            "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 32, "heads": 2, "layers": 1}}
    (configs / f"{name}.json").write_text(json.dumps(tiny))
    open_clip.add_model_config(configs)
    torch.manual_seed(0)
    weights = tmp_path / f"{name}.pt"
    torch.save(open_clip.create_model(name).state_dict(), weights)
    return weights
