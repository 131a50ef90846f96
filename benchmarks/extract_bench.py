"""Feature extraction throughput: evaluation.extract next to a plain PyTorch loop, in one run.

    python benchmarks/extract_bench.py                                  # CPU: efficientnet-lite0
    python benchmarks/extract_bench.py --backbone vgg19 --images 8192   # GPU: VGG-19, batch 256

Both sides read the same generated 256 px PNG drawings through the same preprocessing
and the same model. The peer is what a short script does: a DataLoader with the same
workers, fp32, no channels_last, no autocast. On CPU, FiftyOne's ``compute_embeddings``
with the same torch model is timed as well when FiftyOne is installed. On a GPU the
model alone is also timed on tensors already on the device (fp32 vs bf16 +
channels_last), which bounds what any input pipeline can reach. VGG-19 runs with
random weights: its ImageNet weights are not needed to time it.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw
from torch.utils.data import DataLoader

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from datasets.manifest import write_jsonl  # noqa: E402
from evaluation.extract import ExtractConfig, extract  # noqa: E402
from training.backbones import create_backbone  # noqa: E402
from training.images import ImageFiles, collate_skipping_bad  # noqa: E402


def make_images(folder: Path, n: int, size: int = 256) -> Path:
    rng = np.random.default_rng(0)
    rows = []
    for i in range(n):
        img = Image.new("RGBA", (size, size), (255, 255, 255, 0))
        draw = ImageDraw.Draw(img)
        for _ in range(6):
            box = sorted(rng.integers(0, size, 2)), sorted(rng.integers(0, size, 2))
            draw.ellipse((box[0][0], box[1][0], box[0][1], box[1][1]), fill=tuple(int(c) for c in rng.integers(0, 256, 4)))
        path = folder / f"{i:06d}.png"
        img.save(path)
        rows.append({"id": f"{i:064x}", "filepath": str(path), "original_name": path.name, "label": "teapot",
                     "wnid": "n04398044", "class_index": 849, "split": "val", "matched_words": ["teapot"],
                     "ambiguous": False, "source": "bench", "style": "generated"})
    write_jsonl(folder / "manifest.jsonl", rows)
    return folder / "manifest.jsonl"


def plain_loop(paths, backbone_name: str, batch: int, workers: int, device: torch.device) -> float:
    model = create_backbone(backbone_name, weights="random" if backbone_name == "vgg19" else None).to(device)
    loader = DataLoader(ImageFiles(paths, model.preprocessing), batch_size=batch, num_workers=workers,
                        collate_fn=collate_skipping_bad, pin_memory=device.type == "cuda")
    start = time.perf_counter()
    n = 0
    with torch.no_grad():
        for _, x, _ in loader:
            feats, logits = model(x.to(device))
            feats.cpu(), logits.cpu()
            n += len(x)
    return n / (time.perf_counter() - start)


def fiftyone_embeddings(paths, backbone_name: str, batch: int, workers: int) -> float | None:
    """FiftyOne's compute_embeddings over the same files with the same model, or None without FiftyOne."""
    try:
        import fiftyone as fo
        import fiftyone.utils.torch as fout
    except Exception:
        return None
    model = create_backbone(backbone_name)
    config = fout.TorchImageModelConfig({
        "entrypoint_fcn": lambda: _FeatureNet(model), "transforms_fcn": lambda: model.preprocessing.transform(),
        "embeddings_layer": None, "as_feature_extractor": True, "raw_inputs": False, "ragged_batches": False,
    })
    fo_model = fout.TorchImageModel(config)
    name = f"extract-bench-{os.getpid()}"
    dataset = fo.Dataset(name)
    try:
        dataset.add_samples([fo.Sample(filepath=str(p)) for p in paths])
        start = time.perf_counter()
        dataset.compute_embeddings(fo_model, batch_size=batch, num_workers=workers, progress=False)
        return len(paths) / (time.perf_counter() - start)
    finally:
        dataset.delete()


class _FeatureNet(torch.nn.Module):
    def __init__(self, backbone):
        super().__init__()
        self.backbone = backbone

    def forward(self, x):
        return self.backbone(x)[0]


def model_only(backbone_name: str, batch: int, device: torch.device, steps: int = 30) -> tuple[float, float]:
    """(fp32 img/s, bf16 + channels_last img/s) on device-resident tensors."""
    model = create_backbone(backbone_name, weights="random").to(device)
    size = model.preprocessing.size
    x = torch.randn(batch, 3, size, size, device=device)
    rates = []
    for fast in (False, True):
        m = model.to(memory_format=torch.channels_last) if fast else model
        xi = x.contiguous(memory_format=torch.channels_last) if fast else x
        with torch.inference_mode(), torch.autocast("cuda", dtype=torch.bfloat16, enabled=fast):
            for _ in range(5):
                m(xi)
            torch.cuda.synchronize()
            start = time.perf_counter()
            for _ in range(steps):
                m(xi)
            torch.cuda.synchronize()
        rates.append(batch * steps / (time.perf_counter() - start))
    return rates[0], rates[1]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--backbone", default=None, help="default: vgg19 on a GPU, efficientnet-lite0 on CPU")
    p.add_argument("--images", type=int, default=None, help="default: 8192 on a GPU, 256 on CPU")
    p.add_argument("--batch-size", type=int, default=None, help="default: 256 on a GPU, 32 on CPU")
    p.add_argument("--workers", type=int, default=None, help="default: all cores but one on a GPU, 1 on CPU")
    p.add_argument("--no-fiftyone", action="store_true", help="skip the FiftyOne peer (it starts a MongoDB)")
    args = p.parse_args(argv)
    cuda = torch.cuda.is_available()
    device = torch.device("cuda" if cuda else "cpu")
    backbone = args.backbone or ("vgg19" if cuda else "efficientnet-lite0")
    n = args.images or (8192 if cuda else 256)
    batch = args.batch_size or (256 if cuda else 32)
    workers = args.workers if args.workers is not None else ((os.cpu_count() or 2) - 1 if cuda else 1)
    weights = "random" if backbone == "vgg19" else None
    where = torch.cuda.get_device_name() if cuda else f"CPU, {os.cpu_count()} cores"
    print(f"{backbone}, {n} generated 256 px PNGs, batch {batch}, {workers} workers, {where}, torch {torch.__version__}")
    with tempfile.TemporaryDirectory() as tmp:
        manifest = make_images(Path(tmp), n)
        paths = [str(Path(tmp) / f"{i:06d}.png") for i in range(n)]
        plain_loop(paths, backbone, batch, workers, device)  # warm-up: cuDNN, and every file in the page cache
        cfg = ExtractConfig(manifest=manifest, out=Path(tmp) / "f.h5", backbone=backbone, weights=weights,
                            batch_size=batch, workers=workers, device=str(device))
        summary = extract(cfg)
        ours = summary["images_per_s"]
        peer = plain_loop(paths, backbone, batch, workers, device)
        print(f"  evaluation.extract{' (bf16, channels_last)' if cuda else ''}: {ours:8.1f} img/s (to HDF5)")
        print(f"  plain PyTorch loop (fp32):            {peer:8.1f} img/s   ratio {ours / peer:.2f}x")
        if not cuda and not args.no_fiftyone:
            fo_rate = fiftyone_embeddings(paths, backbone, batch, workers)
            if fo_rate is None:
                print("  FiftyOne compute_embeddings: FiftyOne not installed, skipped")
            else:
                print(f"  FiftyOne compute_embeddings:          {fo_rate:8.1f} img/s   ratio {ours / fo_rate:.2f}x")
    if cuda:
        fp32, fast = model_only(backbone, batch, device)
        print(f"  model only, fp32:                     {fp32:8.1f} img/s")
        print(f"  model only, bf16 + channels_last:     {fast:8.1f} img/s   ratio {fast / fp32:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
