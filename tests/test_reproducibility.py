"""Same seed and settings -> byte-identical manifests, model weights, codes and tables on CPU,
from a fresh model cache each time (so training is repeated too).

Each command is its own process, as a user runs it: within one process, oneDNN's convolution
backward can round a second training differently in the last bit (docs/reproducibility.md, benchmarks/in_process_training.py)."""

import json
import os
import subprocess
import sys

import numpy as np
import torch

from hashattack.cli.main import main
from run_helpers import tiny_demo_args


def run_twice(data, tmp_path, *extra_a, extra_b=()):
    """Two `hashattack demo` commands, each in a fresh process with its own model cache."""
    outs = []
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    for name, extra in (("a", extra_a), ("b", extra_b)):
        out = tmp_path / name
        args = tiny_demo_args(data, tmp_path / f"cache-{name}", out, steps=4) + list(extra)
        done = subprocess.run([sys.executable, "-m", "hashattack", *args], env=env, capture_output=True, text=True)
        assert done.returncode == 0, done.stderr[-2000:]
        outs.append(out)
    return outs


def test_same_seed_gives_byte_identical_files(fake_fmnist, tmp_path, capsys):
    a, b = run_twice(fake_fmnist, tmp_path)
    for name in ("manifest.json", "table.md", "table.csv", "run.json"):
        assert (a / name).read_bytes() == (b / name).read_bytes(), name
    (weights_a,), (weights_b,) = (tmp_path / "cache-a").glob("*.pt"), (tmp_path / "cache-b").glob("*.pt")
    assert weights_a.read_bytes() == weights_b.read_bytes()
    results_a, results_b = (json.loads((d / "results.json").read_text()) for d in (a, b))
    for method in ("Original", "Noise", "P2P", "DHTA"):
        assert results_a["methods"][method]["codes"] == results_b["methods"][method]["codes"], method
    for record in (results_a, results_b):            # the only difference: where each model was cached
        record["model"].pop("path")
    assert results_a == results_b
    batches = sorted(p.name for p in (a / "batches").glob("*.json"))
    assert batches == sorted(p.name for p in (b / "batches").glob("*.json")) and len(batches) == 16
    strip = lambda path: {k: v for k, v in json.loads(path.read_text()).items() if k not in ("seconds", "sha256")}
    assert all(strip(a / "batches" / n) == strip(b / "batches" / n) for n in batches)


def test_global_random_state_does_not_matter(fake_fmnist, tmp_path, capsys):
    """In one process, the torch / numpy global RNG state before a run changes nothing it writes."""
    outs = []
    for name, state in (("a", 1), ("b", 123)):
        torch.manual_seed(state)
        np.random.seed(state)
        out = tmp_path / name
        assert main(tiny_demo_args(fake_fmnist, tmp_path / "cache", out, steps=4)) == 0
        outs.append(out)
    for name in ("manifest.json", "table.md", "table.csv", "run.json"):
        assert (outs[0] / name).read_bytes() == (outs[1] / name).read_bytes(), name


def test_another_seed_gives_another_draw(fake_fmnist, tmp_path, capsys):
    a, b = run_twice(fake_fmnist, tmp_path, extra_b=("--seed", "1"))
    assert (a / "manifest.json").read_bytes() != (b / "manifest.json").read_bytes()
    noise_a, noise_b = (json.loads((d / "batches" / "Noise-00000.json").read_text()) for d in (a, b))
    assert noise_a["perceptibility"] != noise_b["perceptibility"]


def test_dhta_pixels_codes_and_tables_do_not_depend_on_batch_size_or_threads(fake_fmnist, tmp_path, capsys):
    """Across batch sizes 1, 3, 4, 100 and 1 or 2 threads, DHTA's codes, every score, the tables and the
    kept adversarial pixels are identical (models.batch_invariance)."""
    runs = {}
    for size, threads in ((1, 1), (3, 1), (4, 1), (100, 1), (4, 2)):
        out = tmp_path / f"b{size}-t{threads}"
        before = torch.get_num_threads()
        torch.set_num_threads(threads)
        try:
            assert main(tiny_demo_args(fake_fmnist, tmp_path / "cache", out, steps=30, batch_size=size)
                        + ["--methods", "DHTA", "--no-figures"]) == 0
        finally:
            torch.set_num_threads(before)
        runs[size, threads] = out
    capsys.readouterr()
    reference = runs[1, 1]
    kept = lambda out: np.concatenate([np.load(p) for p in sorted((out / "batches").glob("DHTA-*.examples.npy"))])
    first = json.loads((reference / "results.json").read_text())["methods"]["DHTA"]
    for key, out in runs.items():
        dhta = json.loads((out / "results.json").read_text())["methods"]["DHTA"]
        for field in ("codes", "t_map", "t_ap", "map", "ap", "anchor_hamming"):
            assert dhta[field] == first[field], (key, field)
        for name in ("table.md", "table.csv"):
            assert (out / name).read_bytes() == (reference / name).read_bytes(), (key, name)
        assert kept(out).shape == (4, 1, 28, 28)
        assert np.array_equal(kept(out), kept(reference)), key
