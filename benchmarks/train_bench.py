"""Training throughput: training.finetune's step next to a plain PyTorch loop, in one run.

    python benchmarks/train_bench.py                                      # CPU smoke: tiny
    python benchmarks/train_bench.py --backbone vgg19 --batch-size 128    # GPU: fp32 vs bf16 + channels_last
    python benchmarks/train_bench.py --backbone vgg19 --compile           # ... and torch.compile as well

Both sides train the same network (random weights: timing needs none) on the same
batches, already on the device, so the figure is the network's step and not the input
pipeline. Ours is ``training.engine.train_one_epoch`` with the optimal recipe's
parameter groups, in each speed setting; the peer is what a short script does: fp32,
NCHW, ``nn.CrossEntropyLoss`` and one SGD group. Images/s and peak GPU memory per row.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from training.backbones import create_backbone  # noqa: E402
from training.engine import Context, train_one_epoch  # noqa: E402
from training.recipes import RECIPES, apply_recipe, frozen_modules, param_groups  # noqa: E402


def batches(n: int, batch: int, size: int, classes: int, device: torch.device) -> list:
    g = torch.Generator(device="cpu").manual_seed(0)
    return [(torch.randint(0, 256, (batch, 3, size, size), dtype=torch.uint8, generator=g).to(device),
             torch.randint(0, classes, (batch,), generator=g).to(device), None, []) for _ in range(n)]


def model_for(name: str, classes: int, device: torch.device):
    backbone = create_backbone(name, weights="random")
    backbone.replace_head(list(range(classes)))
    return backbone.to(device)


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_ours(name, data, warm, device, *, amp: bool, channels_last: bool, compile: bool, classes: int) -> tuple:
    backbone = model_for(name, classes, device)
    recipe = RECIPES["optimal"]
    apply_recipe(backbone, recipe)
    if channels_last:
        backbone = backbone.to(memory_format=torch.channels_last)
    opt = torch.optim.SGD(param_groups(backbone, recipe, weight_decay=5e-4), lr=0.0, momentum=0.9)
    scaler = torch.amp.GradScaler(device.type, enabled=False)
    model = torch.compile(backbone) if compile else backbone
    ctx = Context(device=device)
    dtype = torch.bfloat16 if amp else None
    kwargs = dict(channels_last=channels_last, desc="bench")
    train_one_epoch(model, warm, opt, scaler, ctx, backbone.preprocessing, dtype, frozen_modules(backbone, recipe),
                    **kwargs)
    sync(device)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    t0 = time.perf_counter()
    out = train_one_epoch(model, data, opt, scaler, ctx, backbone.preprocessing, dtype,
                          frozen_modules(backbone, recipe), **kwargs)
    sync(device)
    seconds = time.perf_counter() - t0
    return out["images"] / seconds, peak(device)


def time_plain(name, data, warm, device, classes: int) -> tuple:
    backbone = model_for(name, classes, device)
    prep = backbone.preprocessing
    opt = torch.optim.SGD(backbone.parameters(), lr=1e-3, momentum=0.9, weight_decay=5e-4)
    loss_fn = nn.CrossEntropyLoss()

    def epoch(batches):
        backbone.train()
        n = 0
        for x, y, _, _ in batches:
            x = prep.normalize(x)
            loss = loss_fn(backbone(x)[1], y)
            opt.zero_grad()
            loss.backward()
            opt.step()
            n += len(y)
        return n

    epoch(warm)
    sync(device)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    t0 = time.perf_counter()
    n = epoch(data)
    sync(device)
    return n / (time.perf_counter() - t0), peak(device)


def peak(device: torch.device) -> float | None:
    return torch.cuda.max_memory_allocated(device) / 2**30 if device.type == "cuda" else None


def get_args_parser(add_help: bool = True) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description="Training throughput of training.finetune against a plain loop.",
                                add_help=add_help)
    p.add_argument("--backbone", default=None, help="default: vgg19 on a GPU, tiny on CPU")
    p.add_argument("--batch-size", type=int, default=None, help="default 128 on a GPU, 8 on CPU")
    p.add_argument("--steps", type=int, default=None, help="timed steps (default 30 on a GPU, 3 on CPU)")
    p.add_argument("--warmup", type=int, default=5, help="untimed steps first (cuDNN autotuning, compilation)")
    p.add_argument("--size", type=int, default=None, help="input side in px (default: the backbone's)")
    p.add_argument("--classes", type=int, default=100, help="classes of the new head")
    p.add_argument("--compile", action="store_true", help="also time bf16 + channels_last + torch.compile")
    p.add_argument("--epoch-images", type=int, default=100_000,
                   help="images per epoch for the 239-epoch extrapolation (the thesis's noisy set: ~100,000)")
    p.add_argument("--device", default="auto")
    return p


def main(argv: list[str] | None = None) -> int:
    args = get_args_parser().parse_args(argv)
    device = torch.device(("cuda" if torch.cuda.is_available() else "cpu") if args.device == "auto" else args.device)
    cuda = device.type == "cuda"
    name = args.backbone or ("vgg19" if cuda else "tiny")
    batch = args.batch_size or (128 if cuda else 8)
    steps = args.steps or (30 if cuda else 3)
    size = args.size or create_backbone(name, weights="random").preprocessing.size
    torch.backends.cudnn.benchmark = True
    data = batches(steps, batch, size, args.classes, device)
    warm = data[: args.warmup]
    gpu = torch.cuda.get_device_name(device) if cuda else "CPU"
    print(f"{name} at {size} px, batch {batch}, {steps} timed steps on {gpu} (torch {torch.__version__})")

    peer, peer_mem = time_plain(name, data, warm, device, args.classes)
    rows = [("plain PyTorch loop (fp32, NCHW)", peer, peer_mem)]
    settings = [("fp32, NCHW", False, False, False)]
    if cuda:
        settings += [("bf16 autocast + channels_last", True, True, False)]
        if args.compile:
            settings += [("bf16 + channels_last + torch.compile", True, True, True)]
    else:
        settings += [("channels_last", False, True, False)]
    for label, amp, cl, comp in settings:
        rate, mem = time_ours(name, data, warm, device, amp=amp, channels_last=cl, compile=comp, classes=args.classes)
        rows.append((f"training.finetune ({label})", rate, mem))
    for label, rate, mem in rows:
        memory = f"  peak {mem:5.1f} GiB" if mem is not None else ""
        print(f"{label:<52} {rate:9.1f} img/s{memory}  ratio {rate / peer:.2f}x")
    best = max(r[1] for r in rows[1:])
    hours = 239 * args.epoch_images / best / 3600
    print(f"239 epochs of {args.epoch_images} images at the best rate: {hours:.2f} h (network step only)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
