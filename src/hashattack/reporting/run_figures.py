"""What a run shows besides its table: example adversarial queries, what they retrieve, and curves.

`write_run_figures` is called at the end of a run, while the model and the dataset are at hand:

- `curves.json`: precision–recall (Hamming radius 0..K) and precision@k of every method's
  queries against the target label, and of the benign queries against their true label;
- `examples.npz`: the first few queries' benign pixels, their adversarial pixels for the
  attack shown (DHTA when it ran), and every method's top-10 retrieved database ids;
- `figures/`: adversarial_examples.png, retrieval.png, precision_recall.png, precision_at_k.png.

The retrieved ids and the curves come from the codes the run stored (exact). Adversarial pixels
are not kept by the run, so the shown attack is run again on the first few queries with the
run's manifest and settings; attacks are per-query deterministic (batched = one at a time), and
`examples.npz` records whether the re-run reproduced the stored codes.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import torch

from hashattack.retrieval.codes import unpack_bits
from hashattack.data.base import RetrievalDataset
from hashattack.files import atomic_write_bytes, atomic_write_json
from hashattack.retrieval.metrics import precision_at_ks, precision_recall_curve
from hashattack.retrieval.ranking import hamming_rank
from hashattack.protocol.targets import Manifest

NUM_EXAMPLES = 4          # queries in adversarial_examples.png
NUM_STRIP_QUERIES = 3     # queries in retrieval.png (one benign and one adversarial strip each)
STRIP_LENGTH = 10         # retrieved objects per strip, as appendix Fig. 2
PRECISION_KS = (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000)
SHOWN_ATTACKS = ("DHTA", "P2P", "Noise")  # the first of these that ran is re-run for the examples


def codes_from_hex(hex_codes: list[str], bits: int) -> torch.Tensor:
    """Inverse of `experiment.codes_to_hex`: hex strings -> float ±1 codes (n, bits)."""
    packed = np.array([list(bytes.fromhex(h)) for h in hex_codes], dtype=np.uint8).reshape(len(hex_codes), -1)
    return torch.from_numpy(unpack_bits(packed, bits).astype(np.float32))


def label_names(label_vector, class_names: list[str]) -> str:
    """A multi-hot label vector as readable names ("Sneaker", "sky+water")."""
    idx = np.flatnonzero(np.asarray(label_vector))
    return "+".join(class_names[i] if i < len(class_names) else str(i) for i in idx) or "(none)"


def retrieval_curves(method_codes: dict[str, torch.Tensor], db_codes: torch.Tensor, true_labels, target_labels,
                     db_labels) -> dict:
    """PR and precision@k curves: each method against the target label, benign queries also against their own."""
    ks = [k for k in PRECISION_KS if k <= len(db_codes)]
    scored = []
    if "Original" in method_codes:
        scored.append(("Original (true label)", method_codes["Original"], true_labels))
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


def write_run_figures(out_dir: str | Path, model: torch.nn.Module, dataset: RetrievalDataset,
                      db_codes: torch.Tensor, manifest: Manifest, settings, results: dict,
                      device: str = "cpu", progress: bool = False) -> list[Path]:
    """Write curves.json, examples.npz and the figures of a finished run; returns the figure paths."""
    from hashattack.reporting import plots as figures
    from hashattack.protocol.engine import anchor_codes_for, attack_in_batches, build_attack
    from hashattack.models.encode import encode_set

    out_dir = Path(out_dir)
    fig_dir = out_dir / "figures"
    bits = db_codes.shape[1]
    query_ids = torch.tensor(manifest.query_ids)
    true_labels = dataset.query.labels[query_ids]
    target_labels = torch.from_numpy(manifest.target_labels)
    db_labels = dataset.database.labels
    method_codes = {m: codes_from_hex(entry["codes"], bits) for m, entry in results.items() if "codes" in entry}

    curves = retrieval_curves(method_codes, db_codes, true_labels, target_labels, db_labels)
    atomic_write_json(out_dir / "curves.json", curves)
    written = [figures.plot_precision_recall(curves, fig_dir / "precision_recall.png"),
               figures.plot_precision_at_k(curves, fig_dir / "precision_at_k.png")]

    n = min(NUM_EXAMPLES, len(manifest))
    first = query_ids[:n]
    benign = dataset.query.pixels(first)
    arrays = {"query_ids": first.numpy(), "target_labels": manifest.target_labels[:n],
              "true_labels": true_labels[:n].numpy(), "benign": benign.numpy().astype(np.float16)}
    top = {m: hamming_rank(codes[:n], db_codes, topk=STRIP_LENGTH).numpy() for m, codes in method_codes.items()}
    for m, ids in top.items():
        arrays[f"top{STRIP_LENGTH}_{m}"] = ids

    shown = next((m for m in SHOWN_ATTACKS if m in results), None)
    adversarial = None
    if shown is not None:
        attack = build_attack(shown, model, settings, seed=manifest.seed)
        anchors = anchor_codes_for(shown, manifest, db_codes, settings.n_t)
        anchors = anchors[:n] if anchors is not None else None
        adversarial = attack_in_batches(attack, benign, anchors, manifest.query_ids[:n], settings.batch_size,
                                        device, progress=False)
        again = encode_set(model, adversarial, settings.batch_size, device, progress=False)
        arrays["shown_attack"] = np.array(shown)
        arrays["adversarial"] = adversarial.numpy().astype(np.float16)
        arrays["reproduces_run_codes"] = np.array(bool(torch.equal(again, method_codes[shown][:n])))
        names = [f"query {int(q)}\n→ {label_names(t, dataset.class_names)}"
                 for q, t in zip(first, manifest.target_labels[:n])]
        written.append(figures.plot_adversarial_examples(benign, adversarial, fig_dir / "adversarial_examples.png",
                                                         titles=names))
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **arrays)
    atomic_write_bytes(out_dir / "examples.npz", buffer.getvalue())

    strips = []
    for i in range(min(NUM_STRIP_QUERIES, n)):
        own = label_names(true_labels[i], dataset.class_names)
        target = label_names(manifest.target_labels[i], dataset.class_names)
        if "Original" in top:
            strips.append(_strip(dataset, benign[i], top["Original"][i], true_labels[i],
                                 f"benign query {int(first[i])}\n({own})"))
        if adversarial is not None:
            strips.append(_strip(dataset, adversarial[i], top[shown][i], manifest.target_labels[i],
                                 f"{shown} query\n(target {target})"))
    if strips:
        written.append(figures.plot_retrieval_strips(strips, fig_dir / "retrieval.png"))
    return written


def _strip(dataset: RetrievalDataset, query, retrieved_ids, desired_label, title: str) -> dict:
    ids = torch.as_tensor(retrieved_ids)
    desired = torch.as_tensor(np.asarray(desired_label)).to(torch.int64)
    relevant = (dataset.database.labels[ids].to(torch.int64) @ desired) > 0
    return {"query": query.numpy(), "title": title, "retrieved": list(dataset.database.pixels(ids).numpy()),
            "relevant": relevant.tolist()}


__all__ = ["write_run_figures", "retrieval_curves", "codes_from_hex", "label_names"]
