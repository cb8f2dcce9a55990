"""Shared pieces of the engine, preset and config tests: one model cache per test session (trained
models are cached by their settings, so every test that trains the same tiny model reuses it), a
Fashion-MNIST look-alike large enough for the embedded video clips, and tiny run options."""

from __future__ import annotations

import json
from pathlib import Path

from conftest import make_fake_fashion_mnist
from hashattack.cli.main import main
from hashattack.data.fashion_mnist import FILES


def spec_of_command(monkeypatch, argv: list[str]):
    """The RunSpec a command line hands the engine, caught before anything runs."""
    seen = []

    class Stop(Exception):
        pass

    def capture(spec):
        seen.append(spec)
        raise Stop

    monkeypatch.setattr("hashattack.cli.attacking.run_spec", capture)
    try:
        main(argv)
    except Stop:
        return seen[0]
    raise AssertionError(f"{argv} never reached the engine")


def shared_folder(tmp_path_factory, name: str) -> Path:
    """A folder every test module of this session sees under the same name."""
    path = tmp_path_factory.getbasetemp() / name
    path.mkdir(parents=True, exist_ok=True)
    return path


def model_cache(tmp_path_factory) -> Path:
    return shared_folder(tmp_path_factory, "shared-model-cache")


def video_fmnist(tmp_path_factory) -> Path:
    """Moving Fashion-MNIST draws 100 + 200 train items and 50 test items per class."""
    root = shared_folder(tmp_path_factory, "shared-fmnist-video")
    if not (root / FILES["test_labels"]).is_file():
        make_fake_fashion_mnist(root, train_per_class=300, test_per_class=50)
    return root


def tiny_image_options(data: Path, cache: Path, out: Path, per_class: bool = True) -> list[str]:
    """Options of a run of seconds on the conftest Fashion-MNIST look-alike (`per_class`: its training sample
    cut to 5 per class, an option of fashion-mnist alone)."""
    return ["--data", str(data), *(["--train-per-class", "5"] if per_class else []), "--epochs", "1",
            "--queries", "4", "--steps", "2", "--cache-dir", str(cache), "--out", str(out), "--quiet"]


def tiny_video_options(data: Path, cache: Path, out: Path) -> list[str]:
    """Options of a run of seconds on the embedded clips: 4 frames, 3 epochs at a high learning rate."""
    return ["--data", str(data), "--frames", "4", "--epochs", "3", "--lr", "0.5", "--queries", "4", "--steps", "2",
            "--cache-dir", str(cache), "--out", str(out), "--quiet"]


def read_json(path: Path):
    return json.loads(Path(path).read_text())


def relative_files(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in Path(folder).rglob("*"))
