"""Process-level settings for running networks fast: the CPU allocator."""
from __future__ import annotations

import ctypes
import ctypes.util
import logging

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
