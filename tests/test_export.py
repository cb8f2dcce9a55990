"""--export: every adversarial query as an 8-bit PNG named after its source, written per batch, never lost or
duplicated by a resumed run, scored when read back; --quantize ends on the 8-bit grid."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from hashattack.attacks.descent import to_pixel_grid
from hashattack.cli.main import main
from hashattack.protocol import attacking
from run_helpers import tiny_demo_args


def png_files(folder: Path) -> list[str]:
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*.png"))


def test_export_writes_every_query_once_and_scores_the_files(fake_fmnist, tmp_path, monkeypatch):
    out, cache = tmp_path / "run", tmp_path / "cache"
    args = tiny_demo_args(fake_fmnist, cache, out, steps=3, queries=6, batch_size=2) + ["--methods", "DHTA",
                                                                                        "--export", "--no-figures"]
    calls = []
    original = attacking.attack_batch

    def killed_after_two(*a, **k):   # the third batch dies: a killed run
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return original(*a, **k)

    monkeypatch.setattr(attacking, "attack_batch", killed_after_two)
    assert main(args) == 130
    first = png_files(out / "export")
    assert len(first) == 2 * 2 * 2       # 2 finished batches of 2 queries: adversarial + perturbation
    monkeypatch.setattr(attacking, "attack_batch", original)
    assert main(args) == 0               # resumes: only the third batch is attacked
    files = png_files(out / "export")
    results = json.loads((out / "results.json").read_text())
    names = results["export"]["sources"]
    assert len(names) == 6 and all(n == f"query-{q}" for q, n in names.items())
    assert files == sorted([f"DHTA/{n}.png" for n in names.values()] + [f"perturbation/DHTA/{n}.png" for n in names.values()])
    scores = results["export"]["methods"]["DHTA"]
    assert scores["files"] == 6 and scores["t_map_png"] == pytest.approx(scores["t_map_memory"], abs=0.2)
    image = np.asarray(Image.open(out / "export" / "DHTA" / f"{next(iter(names.values()))}.png"))
    assert image.dtype == np.uint8 and image.shape == (28, 28)
    index = (out / "export" / "index.csv").read_text().splitlines()
    assert index[0].startswith("query_id,source,target,method,file") and len(index) == 7
    assert "Exported adversarial queries" in (out / "report.md").read_text()
    assert not list(out.rglob(".*.tmp"))


def test_export_names_files_after_the_user_images(tmp_path):
    root = tmp_path / "photos"
    rng = np.random.default_rng(0)
    for c in ("cat", "dog"):
        (root / c).mkdir(parents=True)
        for i in range(6):
            Image.fromarray(rng.integers(0, 255, (12, 12, 3), dtype=np.uint8)).save(root / c / f"img{i}.jpg")
    out = tmp_path / "run"
    assert main(["demo", "--dataset", "images", "--data", str(root), "--bits", "8", "--epochs", "1", "--query-split",
                 "3", "--steps", "2", "--n-t", "1", "--methods", "P2P", "--eps", "0.05", "--export", "--quiet",
                 "--out", str(out), "--cache-dir", str(tmp_path / "cache")]) == 0
    sources = json.loads((out / "results.json").read_text())["export"]["sources"]
    assert len(sources) == 3 and all(n.split("/")[0] in ("cat", "dog") and n.split("/")[1].startswith("img")
                                     for n in sources.values())
    assert all((out / "export" / "P2P" / f"{n}.png").is_file() for n in sources.values())
    saved = np.asarray(Image.open(out / "export" / "P2P" / f"{next(iter(sources.values()))}.png"))
    assert saved.shape == (12, 12, 3)


def test_to_pixel_grid_stays_in_the_ball_on_the_8bit_grid():
    images = torch.randint(0, 256, (3, 1, 5, 5)).float() / 255
    eps = torch.tensor(0.05)
    adversarial = (images + (torch.rand_like(images) * 2 - 1) * eps).clamp(0, 1)
    grid = to_pixel_grid(adversarial, images, eps)
    assert torch.equal(grid, torch.round(grid * 255) / 255)
    assert float((grid - images).abs().max()) <= 0.05 + 1e-6
    assert float((grid - adversarial).abs().max()) <= 1 / 255 + 1e-6    # eps = 0.05 is not on the grid


def test_quantize_is_recorded_and_refuses_to_resume_an_unquantized_run(fake_fmnist, tmp_path, capsys):
    out, cache = tmp_path / "run", tmp_path / "cache"
    args = tiny_demo_args(fake_fmnist, cache, out, steps=2, queries=2) + ["--methods", "DHTA", "--no-figures"]
    assert main(args) == 0
    assert main(args + ["--quantize"]) == 2
    assert "settings.quantize: false -> true" in capsys.readouterr().err
    assert main(args + ["--quantize", "--force", "--export"]) == 0
    results = json.loads((out / "results.json").read_text())
    assert results["settings"]["quantize"] is True and results["export"]["quantize"] is True
    scores = results["export"]["methods"]["DHTA"]
    assert scores["codes_changed"] == 0 and scores["t_map_png"] == scores["t_map_memory"]


def test_a_clip_exports_as_a_folder_of_frames_and_reads_back(tmp_path):
    from hashattack.protocol.export import read_exported, write_batch
    benign = torch.randint(0, 256, (2, 3, 1, 8, 8)).float() / 255         # 2 clips of 3 grey frames
    adversarial = (benign + 0.02).clamp(0, 1)
    write_batch(tmp_path, "DHTA", ["clip-a", "clip-b"], benign, adversarial, torch.tensor(0.05))
    assert sorted(p.name for p in (tmp_path / "export" / "DHTA" / "clip-a").iterdir()) == \
        ["frame-0000.png", "frame-0001.png", "frame-0002.png"]
    back = read_exported(tmp_path, "DHTA", ["clip-a", "clip-b"], benign)
    assert back.shape == benign.shape and float((back - adversarial).abs().max()) <= 0.5 / 255 + 1e-6
