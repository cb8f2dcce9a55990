"""Same seed and settings -> byte-identical manifests, model weights, codes and tables on CPU,
from a fresh model cache each time (so training is repeated too)."""

import json

import torch

from hashattack.cli.main import main
from run_helpers import tiny_demo_args


def run_twice(data, tmp_path, *extra_a, extra_b=()):
    outs = []
    for name, extra in (("a", extra_a), ("b", extra_b)):
        out = tmp_path / name
        assert main(tiny_demo_args(data, tmp_path / f"cache-{name}", out, steps=4) + list(extra)) == 0
        outs.append(out)
    return outs


def test_same_seed_gives_byte_identical_files(fake_fmnist, tmp_path, capsys):
    torch.manual_seed(123)                 # the global RNG state must not matter
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
    strip = lambda path: {k: v for k, v in json.loads(path.read_text()).items() if k != "seconds"}
    assert all(strip(a / "batches" / n) == strip(b / "batches" / n) for n in batches)


def test_another_seed_gives_another_draw(fake_fmnist, tmp_path, capsys):
    a, b = run_twice(fake_fmnist, tmp_path, extra_b=("--seed", "1"))
    assert (a / "manifest.json").read_bytes() != (b / "manifest.json").read_bytes()
    noise_a, noise_b = (json.loads((d / "batches" / "Noise-00000.json").read_text()) for d in (a, b))
    assert noise_a["perceptibility"] != noise_b["perceptibility"]
