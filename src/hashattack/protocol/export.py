"""Adversarial queries as lossless 8-bit PNG files, written batch by batch, and their t-MAP read back.

A run with `export` writes, for every attacked query of every method,

    export/<method>/<name>.png               the adversarial query (8-bit grey or RGB; a video: a folder
                                             <name>/frame-0000.png ... of its frames)
    export/perturbation/<method>/<name>.png  its perturbation, amplified: grey 128 is 0, 0 and 255 are -ε and +ε
    export/index.csv                         query id, source, target label, method, file (at the end of the run)

`<name>` is the query's source file (`class/photo`, see `data.base.source_names`) where the data
came from files, else `query-<id>`, kept inside the export folder (`export_name`: a `..` part
becomes `__`, a leading `/` is dropped, a hidden part gets a leading `_`). Each file is written atomically as its batch finishes, before
the batch's record: a killed run leaves whole files only, and its resumption rewrites the files
of unfinished batches under the same names (never a second copy).

`read_back_t_map` re-reads the PNG files, encodes them and scores their t-MAP, so a run measures
what 8-bit rounding costs against the in-memory adversarial queries.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from hashattack.attacks.registry import method as registered
from hashattack.data.base import source_names
from hashattack.data.image_files import load_image
from hashattack.files import atomic_write_bytes, atomic_write_text, confined_name
from hashattack.models.encode import encode_set
from hashattack.retrieval.metrics import average_precisions, mean_of_average_precisions
from hashattack.run_format import EXPORT_DIR

PERTURBATION_DIR = "perturbation"


def to_8bit(pixels: torch.Tensor) -> np.ndarray:
    """Pixels in [0, 1] (C, H, W) -> uint8 (H, W) grey or (H, W, 3) RGB, rounded to the nearest value."""
    array = (pixels.detach().float().clamp(0, 1) * 255).round().to(torch.uint8).cpu().numpy()
    return array[0] if array.shape[0] == 1 else np.transpose(array, (1, 2, 0))


def png_bytes(pixels: torch.Tensor) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(to_8bit(pixels)).save(buffer, format="PNG")
    return buffer.getvalue()


def _write(path: Path, pixels: torch.Tensor, root: Path) -> None:
    """One image (C, H, W) as path.png, or a clip (T, C, H, W) as path/frame-0000.png ..., inside `root`."""
    if pixels.dim() == 4:
        for t, frame in enumerate(pixels):
            atomic_write_bytes(path / f"frame-{t:04d}.png", png_bytes(frame), inside=root)
    else:
        atomic_write_bytes(path.with_name(path.name + ".png"), png_bytes(pixels), inside=root)


def export_name(name: str) -> str:
    """A query's source name as a relative path inside the export folder: `..` parts become `__`, empty and
    `.` parts are dropped, a hidden part (`.x`) becomes `_.x`, a back-slash or NUL becomes `_`."""
    parts = []
    for part in str(name).replace("\\", "_").replace("\0", "_").split("/"):
        if part in ("", "."):
            continue
        parts.append("__" if part == ".." else "_" + part if part.startswith(".") else part)
    return confined_name("/".join(parts) or "_", f"export name of query source {str(name)[:80]!r}")


def export_paths(root: Path, method: str, name: str) -> tuple[Path, Path]:
    """(adversarial, perturbation) path stems of query `name` (without .png), inside `root`/export."""
    method, name = confined_name(method, "method name"), export_name(name)
    return root / EXPORT_DIR / method / name, root / EXPORT_DIR / PERTURBATION_DIR / method / name


def write_batch(root: Path, method: str, names: list[str], benign: torch.Tensor, adversarial: torch.Tensor,
                eps_pixel: torch.Tensor) -> None:
    """Write one finished batch's adversarial queries and amplified perturbations."""
    scale = 2 * float(eps_pixel.max()) if eps_pixel.numel() else 1.0
    for name, clean, adv in zip(names, benign, adversarial):
        stem, perturbation = export_paths(root, method, name)
        _write(stem, adv, root)
        _write(perturbation, (0.5 + (adv - clean) / scale).clamp(0, 1), root)


def read_exported(root: Path, method: str, names: list[str], like: torch.Tensor) -> torch.Tensor:
    """The exported adversarial queries of `method` read back from disk, as float pixels shaped like `like`."""
    channels = like.shape[-3]
    images = []
    for name in names:
        stem, _ = export_paths(root, method, name)
        if like.dim() == 5:
            frames = [load_image(stem / f"frame-{t:04d}.png", None, channels) for t in range(like.shape[1])]
            images.append(np.stack(frames))
        else:
            images.append(load_image(stem.with_name(stem.name + ".png"), None, channels))
    return torch.from_numpy(np.stack(images)).float().div_(255.0)


def read_back_t_map(root: Path, model: torch.nn.Module, db_codes: torch.Tensor, db_labels: torch.Tensor,
                    target_labels: torch.Tensor, names: list[str], methods, memory_codes: dict, like: torch.Tensor,
                    topk: int | None, zero_relevance: str, device: str = "cpu") -> dict:
    """Per method: t-MAP of the exported PNG files re-read and encoded, t-MAP of the in-memory adversarial
    queries, and how many codes differ between the two (same queries, same targets)."""
    out = {}
    for method in methods:
        pixels = read_exported(root, method, names, like)
        codes = encode_set(model, pixels, 256, device, progress=False)
        png = mean_of_average_precisions(average_precisions(codes, db_codes, target_labels, db_labels, topk),
                                         zero_relevance)
        memory = mean_of_average_precisions(
            average_precisions(memory_codes[method], db_codes, target_labels, db_labels, topk), zero_relevance)
        out[method] = {"t_map_png": png, "t_map_memory": memory, "files": len(names),
                       "codes_changed": int((codes != memory_codes[method]).any(dim=1).sum())}
    return out


def write_index(root: Path, query_ids, names: list[str], targets: list[str], methods, video: bool = False) -> Path:
    """export/index.csv: one row per query and method, naming its source and its file."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["query_id", "source", "target", "method", "file", "perturbation"])
    for method in methods:
        for qid, name, target in zip(query_ids, names, targets):
            stem, perturbation = export_paths(Path("."), method, name)
            suffix = "/" if video else ".png"
            writer.writerow([int(qid), name, target, method, f"{stem.as_posix()}{suffix}",
                             f"{perturbation.as_posix()}{suffix}"])
    path = root / EXPORT_DIR / "index.csv"
    atomic_write_text(path, buffer.getvalue(), inside=root)
    return path


__all__ = ["finish_export", "write_batch", "read_exported", "read_back_t_map", "write_index", "png_bytes", "to_8bit", "EXPORT_DIR"]


def finish_export(root: Path, model: torch.nn.Module, dataset, db_codes: torch.Tensor, manifest, method_codes: dict,
                  settings, device: str = "cpu") -> dict:
    """After a run's attacks: write export/index.csv and measure t-MAP of the PNG files read back against
    the in-memory queries; returns what results.json records under "export"."""
    names = source_names(dataset.query, manifest.query_ids)
    targets = [" ".join(str(c) for c in np.flatnonzero(t)) for t in manifest.target_labels]
    like = dataset.query.pixels(torch.as_tensor(manifest.query_ids[:1]))
    index = write_index(root, manifest.query_ids, names, targets, method_codes, video=like.dim() == 5)
    scores = {}
    for method in method_codes:   # each method against its own targets (they differ under the official protocol)
        targets = torch.from_numpy(manifest.targets(registered(method).target_size(settings.n_t)))
        scores |= read_back_t_map(root, model, db_codes, dataset.database.labels, targets, names, [method],
                                  method_codes, like, settings.depth, settings.zero_relevance, device)
    return {"folder": EXPORT_DIR, "index": index.relative_to(root).as_posix(), "format": "PNG, 8 bits per channel",
            "quantize": settings.quantize, "sources": dict(zip((str(i) for i in manifest.query_ids), names)),
            "methods": scores}
