"""The numerics tests once more with oneDNN, ATen and MKL held to AVX2, so an AVX-512 machine catches what
would fail on an AVX2 one (on an AVX2 machine this reruns them as they are)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

TESTS = Path(__file__).resolve().parent
NUMERICS = ["test_attack_speed.py", "test_fast_layers.py", "test_batch_invariance.py"]
AVX2_ONLY = {"ONEDNN_MAX_CPU_ISA": "AVX2", "ATEN_CPU_CAPABILITY": "avx2", "MKL_ENABLE_INSTRUCTIONS": "AVX2"}


def test_the_numerics_tests_pass_on_avx2_kernels():
    env = {**os.environ, **AVX2_ONLY}
    capability = subprocess.run([sys.executable, "-c", "import torch; print(torch.backends.cpu.get_cpu_capability())"],
                                env=env, capture_output=True, text=True, timeout=120)
    assert capability.stdout.strip() in ("AVX2", "DEFAULT"), capability.stderr     # the setting is honoured
    result = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                             *[str(TESTS / name) for name in NUMERICS]],
                            env=env, cwd=TESTS.parent, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
