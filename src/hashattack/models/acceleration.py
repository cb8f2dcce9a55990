"""Process-wide speed switches for GPUs (the per-attack options live on `attacks.DHTA`)."""

from __future__ import annotations

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
