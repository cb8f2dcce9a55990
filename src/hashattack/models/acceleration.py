"""Process-wide speed switches: TF32 on GPUs, the allocator on CPUs (the per-attack options live on `attacks.DHTA`)."""

from __future__ import annotations

import ctypes
import sys

import torch


def enable_tf32(enabled: bool = True) -> None:
    """Let float32 matmuls and convolutions use TF32 tensor cores (Ampere and later GPUs).

    TF32 keeps float32's range with a 10-bit mantissa: several times the float32 throughput on
    an A100/H100/H200, at the cost of small differences in the logits (codes can flip where a
    logit is near 0). No effect on CPUs.
    """
    torch.backends.cuda.matmul.allow_tf32 = enabled
    torch.backends.cudnn.allow_tf32 = enabled
    torch.set_float32_matmul_precision("high" if enabled else "highest")


def tf32_enabled() -> bool:
    """Whether TF32 is on for CUDA matmuls."""
    return bool(torch.backends.cuda.matmul.allow_tf32)


_KEPT = []


def keep_freed_memory() -> bool:
    """Keep freed memory in the process instead of handing it back to the system after each large tensor.

    glibc serves a block above its mmap threshold (128 KiB at start, raised only when such a block
    is freed) with fresh pages, and returns a heap's free top above twice that. A CPU attack's step
    allocates and frees a few MB of tensors: in a process that had not run a large batch before,
    DHTA on the small CNN (100 queries on 2 shards) took about 5,600 page faults per step, each a
    zeroed page, against about 40 with these thresholds (`benchmarks/attack_throughput.py`). Fixed thresholds (mmap 32 MiB, trim 256 MiB) keep the
    pages: up to 256 MiB of freed memory stays with the process. Applied once per process, on
    Linux with glibc (a no-op elsewhere); returns whether it is in effect.
    """
    if not _KEPT:
        applied = False
        try:
            if sys.platform.startswith("linux"):
                libc = ctypes.CDLL("libc.so.6")
                m_trim_threshold, m_mmap_threshold = -1, -3
                applied = bool(libc.mallopt(m_trim_threshold, 256 << 20)) and bool(libc.mallopt(m_mmap_threshold, 32 << 20))
        except (OSError, AttributeError):
            applied = False
        _KEPT.append(applied)
    return _KEPT[0]
