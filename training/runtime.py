"""Process-level settings: the CPU allocator, and torchrun's process group."""
from __future__ import annotations

import ctypes
import ctypes.util
import logging
import os
from dataclasses import dataclass
from datetime import timedelta

from scraping.cli import UsageError

logger = logging.getLogger(__name__)

M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3  # glibc's mallopt parameters


def keep_freed_memory(mmap_threshold: int = 32 << 20, trim_threshold: int = 1 << 30) -> bool:
    """Let glibc keep large freed buffers instead of unmapping them at once.

    A CPU forward pass frees and re-allocates the same multi-megabyte activations every
    batch; with glibc's defaults each one is a fresh mmap and page faults, which doubles
    EfficientNet-Lite0's time on 2 cores (7.6 -> 17 img/s). The same as setting
    MALLOC_MMAP_THRESHOLD_ and MALLOC_TRIM_THRESHOLD_, from inside the process.
    Returns False where there is no glibc (macOS, musl): nothing changes there.
    """
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name)
        mallopt = libc.mallopt
    except (OSError, AttributeError, TypeError):
        return False
    # 32 MiB is the largest mmap threshold glibc accepts on 64-bit systems
    return bool(mallopt(M_MMAP_THRESHOLD, mmap_threshold)) and bool(mallopt(M_TRIM_THRESHOLD, trim_threshold))


@dataclass(frozen=True)
class Placement:
    """Where this process runs: its device, and its place among torchrun's processes (one process: 0 of 1)."""
    device: object  # torch.device
    rank: int = 0
    world: int = 1
    local_rank: int = 0
    local_world: int = 1


def resolve_device(name: str):
    """``auto`` (cuda when there is one), ``cpu``, ``cuda`` or ``cuda:N`` as a torch.device."""
    import torch

    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


class DeviceUnavailable(ValueError):
    """A ``--device`` this machine does not have (``cuda`` without CUDA): a runtime failure, exit 1."""


def check_device(name: str) -> None:
    """Refuse a ``--device`` before anything is written: a name that is no device is a UsageError (exit 2), a
    device this machine lacks (``cuda`` without CUDA, ``cuda:3`` on a two-GPU box) a DeviceUnavailable (exit 1).
    Shared by every command that takes ``--device``."""
    import torch

    if name == "auto":
        return
    try:
        device = torch.device(name)
    except (RuntimeError, ValueError):
        device = None
    if device is None or device.type not in ("cpu", "cuda", "mps"):
        raise UsageError(f"--device {name}: not a device; use auto, cpu, cuda or cuda:N")
    if device.type == "cuda" and not torch.cuda.is_available():
        raise DeviceUnavailable(f"--device {name}: no CUDA device on this machine; use --device cpu")
    if device.type == "cuda" and device.index is not None and device.index >= torch.cuda.device_count():
        count = torch.cuda.device_count()
        raise DeviceUnavailable(f"--device {name}: this machine has {count} CUDA device(s), cuda:0 to "
                                f"cuda:{count - 1}; use one of them, or --device cpu")
    if device.type == "mps" and not torch.backends.mps.is_available():
        raise DeviceUnavailable(f"--device {name}: no Apple MPS device on this machine; use --device cpu")


def init_distributed(device: str, timeout: timedelta | None = None) -> Placement:
    """torchrun's environment (RANK, WORLD_SIZE, LOCAL_RANK: env:// rendezvous), or one process.

    Under torchrun each process takes cuda:LOCAL_RANK with nccl, or the CPU with gloo when there is no
    GPU or ``device`` is ``cpu``. ``timeout`` bounds every collective (torch's default when None).
    Shared by training.finetune and evaluation.extract.
    """
    import torch
    import torch.distributed as dist

    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return Placement(resolve_device(device))
    cuda = torch.cuda.is_available() and not device.startswith("cpu")
    local = int(os.environ.get("LOCAL_RANK", "0"))
    if cuda:
        torch.cuda.set_device(local)
    dist.init_process_group("nccl" if cuda else "gloo", **({"timeout": timeout} if timeout else {}))
    return Placement(torch.device("cuda", local) if cuda else torch.device("cpu"), dist.get_rank(), world, local,
                     int(os.environ.get("LOCAL_WORLD_SIZE", "1")))
