"""What a run shows besides its table: example adversarial queries, what they retrieve, and curves.

`write_run_figures` is called at the end of a run with the codes and the example pixels the run
produced (nothing is attacked again here):

- `curves.json`: precision–recall (Hamming radius 0..K) and precision@k of every method's
  queries against the target label, and of the benign queries against their true label;
- `examples.npz`: the first few queries' ids, labels and benign pixels, the adversarial pixels
  of the attack shown (the first of DHTA, P2P, Feature, Noise that ran), and every method's
  top-10 retrieved database ids;
- `figures/`: precision_recall.png, precision_at_k.png and retrieval.png, plus for images
  adversarial_examples.png and for videos frames.png (appendix Fig. 1: benign and adversarial
  frames of the first query). Retrieval strips of videos show the first frame of each clip.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import torch

from hashattack.data.base import RetrievalDataset, source_names
from hashattack.files import atomic_write_bytes, atomic_write_json
from hashattack.models.inputs import model_inputs
from hashattack.reporting.plots import (plot_adversarial_examples, plot_precision_at_k, plot_precision_recall,
                                        plot_retrieval_strips)
from hashattack.reporting.video_plots import frame_comparison
from hashattack.retrieval.metrics import perceptibility, precision_at_ks, precision_recall_curve
from hashattack.retrieval.ranking import hamming_rank
from hashattack.run_format import CURVES_FILE, EXAMPLES_FILE, FIGURE_DIR

NUM_EXAMPLES = 4          # queries in examples.npz and adversarial_examples.png
NUM_STRIP_QUERIES = 3     # queries in retrieval.png (one benign and one adversarial strip each)
STRIP_LENGTH = 10         # retrieved objects per strip, as appendix Fig. 2
PRECISION_KS = (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000)
SHOWN_ATTACKS = ("DHTA", "P2P", "Feature", "Noise")  # the first of these that ran is shown


def label_names(label_vector, class_names: list[str]) -> str:
    """A multi-hot label vector as readable names ("Sneaker", "sky+water")."""
    idx = np.flatnonzero(np.asarray(label_vector))
    return "+".join(class_names[i] if i < len(class_names) else str(i) for i in idx) or "(none)"


def retrieval_curves(method_codes: dict[str, torch.Tensor], db_codes: torch.Tensor, true_labels, target_labels,
                     db_labels) -> dict:
    """PR and precision@k curves: each method against the target label, benign queries and the untargeted
    attack's queries also against their own."""
    ks = [k for k in PRECISION_KS if k <= len(db_codes)]
    scored = [(f"{m} (true label)", method_codes[m], true_labels) for m in ("Original", "Untargeted")
              if m in method_codes]
    scored += [(f"{m} (target label)", codes, target_labels) for m, codes in method_codes.items()]
    pr, pak = {}, {}
    for name, codes, labels in scored:
        precision, recall = precision_recall_curve(codes, db_codes, labels, db_labels)
        pr[name] = {"precision": _floats(precision), "recall": _floats(recall)}
        pak[name] = _floats(precision_at_ks(codes, db_codes, labels, db_labels, ks))
    return {"precision_recall": pr, "precision_at_k": {"k": ks, "values": pak},
            "radius": list(range(db_codes.shape[1] + 1))}


def _floats(values) -> list:
    return [None if np.isnan(v) else round(float(v), 6) for v in values]


def write_run_figures(out_dir: str | Path, dataset: RetrievalDataset, db_codes: torch.Tensor, manifest,
                      method_codes: dict[str, torch.Tensor], examples: dict[str, torch.Tensor]) -> list[Path]:
    """Write curves.json, examples.npz and the figures of a finished run; returns the figure paths.

    dataset: the run's dataset (query pixels (N, C, H, W) images or (N, T, C, H, W) videos).
    db_codes: (n_db, K) ±1 codes of the database. manifest: the run's queries and targets (only
    `query_ids`, `target_labels` and `len()` are used). method_codes: method -> (n, K) ±1 codes
    of the manifest's queries, in the run's method order. examples: method -> adversarial pixels
    of the manifest's first `NUM_EXAMPLES` queries (fewer when the run has fewer).
    """
    out_dir, fig_dir = Path(out_dir), Path(out_dir) / FIGURE_DIR
    query_ids = torch.as_tensor(manifest.query_ids)
    true_labels = dataset.query.labels[query_ids]
    target_labels = np.asarray(manifest.target_labels)
    curves = retrieval_curves(method_codes, db_codes, true_labels, torch.as_tensor(target_labels),
                              dataset.database.labels)
    atomic_write_json(out_dir / CURVES_FILE, curves)

    n = min(NUM_EXAMPLES, len(manifest))
    first = query_ids[:n]
    benign = dataset.query.pixels(first)
    top = {m: hamming_rank(codes[:n], db_codes, topk=STRIP_LENGTH).numpy() for m, codes in method_codes.items()}
    shown = next((m for m in SHOWN_ATTACKS if m in examples), None)
    adversarial = examples[shown][:n].float().cpu() if shown else None
    arrays = {"query_ids": first.numpy(), "target_labels": target_labels[:n],
              "true_labels": true_labels[:n].numpy(), "benign": benign.numpy().astype(np.float16),
              **{f"top{STRIP_LENGTH}_{m}": ids for m, ids in top.items()}}
    if shown:
        arrays |= {"shown_attack": np.array(shown), "adversarial": adversarial.numpy().astype(np.float16)}
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **arrays)
    atomic_write_bytes(out_dir / EXAMPLES_FILE, buffer.getvalue())

    video = benign.dim() == 5
    names = source_names(dataset.query, first) if getattr(dataset.query, "paths", ()) else \
        [f"query {int(q)}" for q in first]                  # a user's images are named after their files
    titles = [f"{name}\n→ {label_names(t, dataset.class_names)}" for name, t in zip(names, target_labels)]
    written = []
    if shown and video:
        written.append(_frames(fig_dir / "frames.png", dataset, manifest, benign[0], adversarial[0], shown))
    elif shown:
        written.append(plot_adversarial_examples(benign, adversarial, fig_dir / "adversarial_examples.png", titles))
    strips = []
    for i in range(min(NUM_STRIP_QUERIES, n)):
        if "Original" in top:
            own = label_names(true_labels[i], dataset.class_names)
            strips.append(_strip(dataset, benign[i], top["Original"][i], true_labels[i],
                                 f"benign query {int(first[i])}\n({own})"))
        if shown:
            target = label_names(target_labels[i], dataset.class_names)
            strips.append(_strip(dataset, adversarial[i], top[shown][i], target_labels[i],
                                 f"{shown} query\n(target {target})"))
    if strips:
        written.append(plot_retrieval_strips(strips, fig_dir / "retrieval.png"))
    written += [plot_precision_recall(curves, fig_dir / "precision_recall.png"),
                plot_precision_at_k(curves, fig_dir / "precision_at_k.png")]
    return written


def _frames(path: Path, dataset: RetrievalDataset, manifest, benign, adversarial, method: str) -> Path:
    """Appendix Fig. 1 of the run's first query: benign vs adversarial frames, titled with its labels and sizes."""
    query = int(manifest.query_ids[0])
    lengths = model_inputs(dataset.query, torch.tensor([query])).get("lengths")
    length = int(lengths[0]) if lengths is not None else len(benign)
    size = perceptibility(benign[None, :length], adversarial[None, :length].clamp(0, 1))
    source = label_names(dataset.query.labels[query], dataset.class_names)
    target = label_names(manifest.target_labels[0], dataset.class_names)
    title = (f"{dataset.name}, query {query} ({source}) → target {target}; {method}, "
             f"ℓ∞ {255 * size['linf'][0]:.1f}/255, PSNR {size['psnr'][0]:.1f} dB")
    frame_comparison(benign, adversarial, path, length=length, title=title)
    return path


def _strip(dataset: RetrievalDataset, query, retrieved_ids, desired_label, title: str) -> dict:
    """One retrieval strip; a video (query or retrieved) is shown by its first frame."""
    ids = torch.as_tensor(retrieved_ids)
    desired = torch.as_tensor(np.asarray(desired_label)).to(torch.int64)
    relevant = (dataset.database.labels[ids].to(torch.int64) @ desired) > 0
    retrieved = dataset.database.pixels(ids)
    if retrieved.dim() == 5:
        query, retrieved = query[0], retrieved[:, 0]
    return {"query": query.numpy(), "title": title, "retrieved": list(retrieved.numpy()),
            "relevant": relevant.tolist()}


__all__ = ["write_run_figures", "retrieval_curves", "label_names"]
