"""The training loop's pieces for training.finetune: one process's place among torchrun's, an epoch of
training and an evaluation pass (batches normalised on the device, loss and top-1/top-5 hits summed there,
one sync per epoch), the data loaders, and the run's log files.
"""
from __future__ import annotations

import csv
import io
import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch.utils.data import DataLoader
from tqdm import tqdm

from scraping.files import atomic_write_text

from .data import collate
from .runtime import init_distributed as runtime_init_distributed

logger = logging.getLogger(__name__)

@dataclass
class Context:
    rank: int = 0
    world: int = 1
    local_rank: int = 0
    device: torch.device = torch.device("cpu")  # noqa: RUF009 (immutable)

    @property
    def main(self) -> bool:
        return self.rank == 0

    def all_sum(self, t: torch.Tensor) -> torch.Tensor:
        if self.world > 1:
            dist.all_reduce(t)
        return t


def init_distributed(device: str) -> Context:
    """torchrun's environment (training.runtime.init_distributed), or one process."""
    p = runtime_init_distributed(device)
    return Context(p.rank, p.world, p.local_rank, p.device)


def amp_dtype(amp: str, device: torch.device) -> torch.dtype | None:
    """The autocast precision of ``--amp`` (auto: bf16 on CUDA, none on CPU)."""
    mode = amp if amp != "auto" else ("bf16" if device.type == "cuda" else "off")
    return {"bf16": torch.bfloat16, "fp16": torch.float16, "off": None}[mode]


def _accuracy_counts(logits: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    k = min(5, logits.shape[1])
    top = logits.topk(k, dim=1).indices
    hit = top == y[:, None]
    return hit[:, 0].sum(), hit.any(dim=1).sum()


def _totals(ctx: Context, sums: torch.Tensor) -> dict:
    loss, top1, top5, n = ctx.all_sum(sums).tolist()
    return {"loss": loss / n if n else None, "top1": top1 / n if n else None, "top5": top5 / n if n else None,
            "images": int(n)}


def _device_batches(loader, ctx: Context, prep, channels_last: bool, on_bad=None):
    """(images, targets) on the device, normalised there; unreadable images reported and left out."""
    for x, y, _, bad in loader:
        if bad and on_bad:
            on_bad(bad)
        if x is None:
            continue
        x = prep.normalize(x.to(ctx.device, non_blocking=True))
        if channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        yield x, y.to(ctx.device, non_blocking=True)


def _sums(loss_sum: torch.Tensor, logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """(summed loss, top-1 hits, top-5 hits, images) of one batch, kept on the device: no sync per step."""
    c1, c5 = _accuracy_counts(logits, y)
    return torch.stack([loss_sum.double(), c1.double(), c5.double(),
                        torch.tensor(len(y), dtype=torch.float64, device=y.device)])


def train_one_epoch(model, loader, optimizer, scaler, ctx: Context, prep, dtype, frozen, *, channels_last: bool,
                    desc: str, on_bad=None, label_smoothing: float = 0.0) -> dict:
    model.train()
    for m in frozen:
        m.eval()  # batch norm statistics of frozen layers stay as they were
    sums = torch.zeros(4, dtype=torch.float64, device=ctx.device)
    bar = tqdm(loader, desc=desc, unit=" batch", disable=None if ctx.main else True, leave=False)
    for x, y in _device_batches(bar, ctx, prep, channels_last, on_bad):
        with torch.autocast(ctx.device.type, dtype=dtype or torch.float32, enabled=dtype is not None):
            logits = model(x)[1]
        # the thesis's log-softmax + NLL, with label smoothing where the recipe asks for it
        loss = F.cross_entropy(logits.float(), y, label_smoothing=label_smoothing)
        optimizer.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()
        with torch.no_grad():
            sums += _sums(loss.detach() * len(y), logits.detach(), y)
    return _totals(ctx, sums)


@torch.inference_mode()
def evaluate(model, loader, ctx: Context, prep, dtype, *, channels_last: bool, on_bad=None) -> dict:
    model.eval()
    sums = torch.zeros(4, dtype=torch.float64, device=ctx.device)
    for x, y in _device_batches(loader, ctx, prep, channels_last, on_bad):
        with torch.autocast(ctx.device.type, dtype=dtype or torch.float32, enabled=dtype is not None):
            logits = model(x)[1]
        sums += _sums(F.nll_loss(F.log_softmax(logits.float(), dim=1), y, reduction="sum"), logits, y)
    return _totals(ctx, sums)


class RunLog:
    """log.jsonl, summary.csv and TensorBoard for the main process; rewritten from the history, so a
    resumed run's files hold each epoch exactly once."""

    COLUMNS = ("epoch", "step", "train_loss", "train_top1", "train_top5", "val_loss", "val_top1", "val_top5",
               "lr", "epoch_s", "images_per_s", "peak_gpu_gib", "best")

    def __init__(self, out: Path, tensorboard: bool, resume_step: int | None):
        self.out, self.tb = out, None
        if tensorboard:
            try:
                from torch.utils.tensorboard import SummaryWriter
            except ImportError:
                logger.warning("tensorboard is not installed: no event files (pip install tensorboard)")
            else:  # purge_step drops events a killed run wrote after its last checkpoint
                self.tb = SummaryWriter(str(out / "tensorboard"), purge_step=resume_step)

    def write(self, history: list[dict]) -> None:
        atomic_write_text(self.out / "log.jsonl", "".join(json.dumps(h) + "\n" for h in history))
        buf = io.StringIO()
        w = csv.DictWriter(buf, fieldnames=self.COLUMNS, extrasaction="ignore")
        w.writeheader()
        for h in history:
            w.writerow({**h, "lr": " ".join(f"{k}={v:.3g}" for k, v in h["lr"].items())})
        atomic_write_text(self.out / "summary.csv", buf.getvalue())
        if self.tb is not None:
            h = history[-1]
            for k in ("train_loss", "train_top1", "train_top5", "val_loss", "val_top1", "val_top5", "images_per_s"):
                if h.get(k) is not None:
                    self.tb.add_scalar(k.replace("_", "/", 1), h[k], h["step"])
            for group, lr in h["lr"].items():
                self.tb.add_scalar(f"lr/{group}", lr, h["step"])
            self.tb.flush()

    def close(self) -> None:
        if self.tb is not None:
            self.tb.close()


def epoch_line(h: dict, epochs: int) -> str:
    """The logged line of an epoch's record."""
    def pct(v):
        return f"{100 * v:5.1f}%" if v is not None else "   - "

    val = f"val loss {h['val_loss']:.3f} top-1 {pct(h['val_top1'])} top-5 {pct(h['val_top5'])}" \
        if h["val_loss"] is not None else "no val split"
    mem = f", peak {h['peak_gpu_gib']} GiB" if h["peak_gpu_gib"] is not None else ""
    lr = " ".join(f"{k}={v:.0e}" for k, v in h["lr"].items())
    return (f"epoch {h['epoch']}/{epochs} step {h['step']}: train loss {h['train_loss']:.3f} top-1 "
            f"{pct(h['train_top1'])}; {val}; lr {lr}; {h['epoch_s']:.1f} s, {h['images_per_s']} img/s{mem}"
            f"{' *best*' if h['best'] else ''}")


def make_loader(dataset, sampler, ctx: Context, batch_size: int, drop_last: bool,
                workers: int | None = None) -> DataLoader:
    """Batches of ``dataset`` in ``sampler``'s order; ``workers`` decoding processes (None: 1 on CPU, the
    process's share of the cores on a GPU)."""
    cuda = ctx.device.type == "cuda"
    if workers is None:
        per_process = (os.cpu_count() or 2) // max(1, int(os.environ.get("LOCAL_WORLD_SIZE", "1")))
        workers = max(1, per_process - 1) if cuda else 1
    return DataLoader(dataset, batch_size=batch_size, sampler=sampler, num_workers=workers, collate_fn=collate,
                      pin_memory=cuda, persistent_workers=workers > 0, drop_last=drop_last)


def oom_advice(batch_size: int, device: torch.device) -> str:
    total = torch.cuda.get_device_properties(device).total_memory / 2**30 if device.type == "cuda" else 0
    smaller = max(1, batch_size // 2)
    return (f"out of GPU memory at --batch-size {batch_size} per process ({total:.0f} GiB on {device}); "
            f"try --batch-size {smaller} (the learning rates stay as set; --lr-* to adjust); bf16 autocast and "
            f"channels_last also save memory, if --amp off or --no-channels-last turned them off")

