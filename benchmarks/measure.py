"""What the benchmark scripts share: resident-memory sampling and appending figures to RESULTS.md."""

from __future__ import annotations

import resource
import threading
from pathlib import Path

RESULTS = Path(__file__).with_name("RESULTS.md")


def rss_mib() -> float:
    """Resident memory of this process now (Linux /proc)."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize() / 2**20


def minor_faults() -> int:
    """Minor page faults of this process so far (/proc/self/stat): each a page the kernel handed over, zeroed."""
    with open("/proc/self/stat") as f:
        return int(f.read().rsplit(")", 1)[1].split()[7])


def reset_peak_rss() -> None:
    """Start the kernel's count of this process's peak resident memory (VmHWM) again from now (Linux)."""
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")


def peak_rss_mib() -> float:
    """Highest resident memory of this process since `reset_peak_rss` (the kernel's VmHWM): no sampling
    thread, whose wake-ups would take the GIL from a measured job that runs on Python threads."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    raise OSError("no VmHWM in /proc/self/status")


class PeakMemory:
    """Highest resident memory while the block runs, sampled every 5 ms by a thread."""

    def __enter__(self):
        self.start = self.peak = rss_mib()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()
        return self

    def _watch(self):
        while not self._stop.wait(0.005):
            self.peak = max(self.peak, rss_mib())

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, rss_mib())


def append_results(text: str) -> None:
    """Append a benchmark's printed section to benchmarks/RESULTS.md."""
    with RESULTS.open("a") as f:
        f.write("\n" + text)
