"""`write_run_figures` from what a run hands over (codes and example pixels), for images and for
padded videos, with no model and no attack; also the helpers that write a run folder by hand
for the report tests."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from hashattack.data.base import LabeledSet, RetrievalDataset, one_hot
from hashattack.data.video import VideoSet
from hashattack.reporting.run_figures import NUM_EXAMPLES, label_names, write_run_figures
from hashattack.retrieval.codes import codes_to_hex
from hashattack.retrieval.ranking import hamming_rank

CLASSES = ["shirt", "shoe", "bag", "coat"]
BITS = 16
IMAGE_FIGURES = {"adversarial_examples.png", "retrieval.png", "precision_recall.png", "precision_at_k.png"}
VIDEO_FIGURES = {"frames.png", "retrieval.png", "precision_recall.png", "precision_at_k.png"}


@dataclass
class FakeManifest:
    """The attributes of `protocol.targets.Manifest` that reporting reads."""

    query_ids: list[int]
    target_labels: np.ndarray
    seed: int = 0

    def __len__(self) -> int:
        return len(self.query_ids)


def _split(count: int, shape: tuple[int, ...], rng, video: bool):
    classes = torch.arange(count) % len(CLASSES)
    labels = one_hot(classes, len(CLASSES))
    pixels = torch.from_numpy(rng.integers(0, 256, size=(count, *shape), dtype=np.uint8))
    if not video:
        return LabeledSet(pixels, labels, torch.arange(count))
    lengths = torch.tensor([shape[0] - i % 3 for i in range(count)])   # padded: the last frames are zeros
    for i, n in enumerate(lengths.tolist()):
        pixels[i, n:] = 0
    return VideoSet(pixels, labels, torch.arange(count), lengths)


def tiny_dataset(video: bool = False, seed: int = 0) -> RetrievalDataset:
    """4 classes, 40 database objects, 8 queries: 8x8 grey images, or clips of up to 7 RGB frames."""
    rng = np.random.default_rng(seed)
    shape = (7, 3, 8, 8) if video else (1, 8, 8)
    return RetrievalDataset("tiny-video" if video else "tiny", _split(8, shape, rng, video), _split(40, shape, rng, video),
                            _split(8, shape, rng, video), list(CLASSES))


def tiny_run(dataset: RetrievalDataset, methods=("Original", "Noise", "P2P", "DHTA"), queries: int = 6, seed: int = 0):
    """(db_codes, manifest, method_codes, examples) as a run hands them over: each class has a code, the
    database and benign queries carry their class's code with a few bits flipped, attacked queries their
    target's."""
    rng = np.random.default_rng(seed)
    class_codes = torch.from_numpy(rng.choice([-1.0, 1.0], size=(len(CLASSES), BITS)).astype(np.float32))

    def noisy(classes):
        codes = class_codes[classes].clone()
        codes[torch.from_numpy(rng.random(codes.shape) < 0.1)] *= -1
        return codes

    db_codes = noisy(dataset.database.labels.argmax(1))
    query_ids = list(range(queries))
    true = dataset.query.labels[query_ids].argmax(1)
    target = (true + 1 + torch.from_numpy(rng.integers(0, len(CLASSES) - 1, size=queries))) % len(CLASSES)
    manifest = FakeManifest(query_ids, one_hot(target, len(CLASSES)).numpy())
    method_codes = {m: noisy(target if m in ("P2P", "DHTA", "Feature") else true) for m in methods}
    benign = dataset.query.pixels(torch.tensor(query_ids[:NUM_EXAMPLES]))
    examples = {m: (benign + torch.empty_like(benign).uniform_(-0.03, 0.03)).clamp(0, 1) for m in methods if m != "Original"}
    return db_codes, manifest, method_codes, examples


def write_run_folder(folder: Path, dataset: RetrievalDataset, settings: dict | None = None, bits: int = BITS,
                     figures: bool = True, methods=("Original", "Noise", "P2P", "DHTA"), scale: float = 1.0) -> dict:
    """A run folder as the engine leaves it (results.json, manifest.json, timing.json, figures);
    t-MAP of each method scaled by `scale`. Returns the results record."""
    db_codes, manifest, method_codes, examples = tiny_run(dataset, methods)
    t_maps = {"Original": 0.02, "Noise": 0.025, "P2P": 0.64, "DHTA": 0.71, "Feature": 0.3}
    results = {m: {"t_map": scale * t_maps[m], "codes": codes_to_hex(method_codes[m]),
                   "perceptibility": {"linf_mean": 0.03, "l2_mean": 0.4, "psnr_median": 38.2}} for m in methods}
    if "Original" in results:
        results["Original"] |= {"map": 0.8, "perceptibility": {}}
    record = {"dataset": dataset.name, "bits": bits, "architecture": "small-cnn", "num_queries": len(manifest),
              "seed": 0, "model": {"path": str(folder / "model.pt")}, "methods": results, "spec": {"methods": list(methods)},
              "settings": {"eps": 0.2, "eps_space": "pixel", "steps": 4, "n_t": 9, **(settings or {})},
              "conventions": {"eps_space": "pixel", "map": "MAP@50"}}
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "results.json").write_text(json.dumps(record, sort_keys=True))   # as the engine: keys sorted
    (folder / "manifest.json").write_text(json.dumps({
        "dataset": dataset.name, "seed": 0, "query_ids": manifest.query_ids,
        "target_labels": manifest.target_labels.tolist(), "anchor_ids": {"1": [[0]] * len(manifest)}}))
    (folder / "timing.json").write_text(json.dumps({"methods": {m: {"seconds": 1.5} for m in methods}}))
    if figures:
        write_run_figures(folder, dataset, db_codes, manifest, method_codes, examples)
    return record


def _ink(path) -> float:
    grey = np.asarray(Image.open(path).convert("L"), dtype=np.float32)
    return float((grey < 240).mean())


def test_image_run_figures_come_from_the_codes_and_examples_handed_over(tmp_path):
    dataset = tiny_dataset()
    db_codes, manifest, method_codes, examples = tiny_run(dataset)
    written = write_run_figures(tmp_path, dataset, db_codes, manifest, method_codes, examples)
    assert {p.name for p in written} == IMAGE_FIGURES == {p.name for p in (tmp_path / "figures").iterdir()}
    assert all(_ink(p) > 0.02 for p in written)
    saved = np.load(tmp_path / "examples.npz")
    assert str(saved["shown_attack"]) == "DHTA" and "reproduces_run_codes" not in saved
    assert saved["benign"].shape == saved["adversarial"].shape == (NUM_EXAMPLES, 1, 8, 8)
    assert np.allclose(saved["adversarial"], examples["DHTA"].numpy(), atol=1e-3)
    assert saved["query_ids"].tolist() == manifest.query_ids[:NUM_EXAMPLES]
    for method, codes in method_codes.items():   # the strips' top-10 ids rank the codes the run scored
        assert np.array_equal(saved[f"top10_{method}"], hamming_rank(codes[:NUM_EXAMPLES], db_codes, topk=10).numpy())
    curves = json.loads((tmp_path / "curves.json").read_text())
    assert set(curves["precision_recall"]) == {"Original (true label)", "Original (target label)",
                                               "Noise (target label)", "P2P (target label)", "DHTA (target label)"}
    assert len(curves["radius"]) == BITS + 1 and curves["precision_at_k"]["k"] == [1, 2, 5, 10, 20]
    assert curves["precision_recall"]["DHTA (target label)"]["recall"][-1] == pytest.approx(1.0)


def test_the_shown_attack_is_the_first_that_ran_and_few_queries_are_fine(tmp_path):
    dataset = tiny_dataset()
    db_codes, manifest, method_codes, examples = tiny_run(dataset, methods=("Feature", "DHTA"), queries=2)
    del examples["DHTA"]
    write_run_figures(tmp_path, dataset, db_codes, manifest, method_codes, examples)
    saved = np.load(tmp_path / "examples.npz")
    assert str(saved["shown_attack"]) == "Feature" and saved["adversarial"].shape[0] == 2
    curves = json.loads((tmp_path / "curves.json").read_text())
    assert set(curves["precision_recall"]) == {"Feature (target label)", "DHTA (target label)"}


def test_video_run_draws_the_frames_figure_without_any_attack(tmp_path):
    dataset = tiny_dataset(video=True)
    db_codes, manifest, method_codes, examples = tiny_run(dataset)
    assert examples["DHTA"].dim() == 5
    written = write_run_figures(tmp_path, dataset, db_codes, manifest, method_codes, examples)
    assert {p.name for p in written} == VIDEO_FIGURES
    frames = Image.open(tmp_path / "figures" / "frames.png")
    assert frames.size[0] > 300 and _ink(tmp_path / "figures" / "frames.png") > 0.05
    assert _ink(tmp_path / "figures" / "retrieval.png") > 0.05
    saved = np.load(tmp_path / "examples.npz")
    assert saved["adversarial"].shape == (NUM_EXAMPLES, 7, 3, 8, 8)


def test_label_names():
    assert label_names([0, 1, 0, 1], CLASSES) == "shoe+coat" and label_names([0, 0, 0, 0], CLASSES) == "(none)"
