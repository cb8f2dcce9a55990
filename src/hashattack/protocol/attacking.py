"""Attack a run's queries batch by batch and keep what the results and figures need.

Each batch of queries becomes a record (query ids, adversarial codes as hex, per-query
perceptibility, seconds) kept by a store (`runfolder.RunFolder` writes one file per batch,
atomically, so a killed run resumes; `MemoryBatches` keeps them in memory). The adversarial
pixels of the first `NUM_EXAMPLES` queries are kept too, so the run's figures show the very
queries it scored without attacking anything again. A store may end the attack on the 8-bit grid
(`quantize`) and write every batch's adversarial queries as PNG files (`export_batch`,
`protocol.export`) before the batch's record.
"""

from __future__ import annotations

import sys
import time

import numpy as np
import torch
from tqdm.auto import tqdm

from hashattack.attacks import Attack, Noise
from hashattack.attacks.descent import to_pixel_grid
from hashattack.models.encode import encode_set
from hashattack.models.inputs import bind_inputs, slice_inputs
from hashattack.protocol import distributed
from hashattack.protocol.batch_store import MemoryBatches
from hashattack.reporting.run_figures import NUM_EXAMPLES
from hashattack.retrieval.codes import codes_from_hex, codes_to_hex
from hashattack.retrieval.metrics import perceptibility
from hashattack.validation import check_finite


def attack_batch(attack: Attack, images: torch.Tensor, targets: torch.Tensor | None, query_ids: list[int],
                 device: str = "cpu", inputs: dict[str, torch.Tensor] | None = None) -> torch.Tensor:
    """Attack one batch of queries; returns adversarial pixels on the CPU.

    `targets`: anchor codes or target pixels (None for the baselines); `inputs`: the batch's extra
    model inputs (video lengths), bound to the model for this batch."""
    batch = images.to(device)
    model = attack.model
    attack.model = bind_inputs(model, {k: v.to(device) for k, v in (inputs or {}).items()})
    try:
        if isinstance(attack, Noise):
            adversarial = attack(batch, ids=query_ids)
        elif targets is None:
            adversarial = attack(batch)
        else:
            adversarial = attack(batch, targets.to(device))
    finally:
        attack.model = model
    return adversarial.cpu()


def attacked_batches(method: str, attack: Attack, model: torch.nn.Module, images: torch.Tensor,
                     targets: torch.Tensor | None, query_ids: list[int], batch_size: int, store=None,
                     device: str = "cpu", progress: bool = True,
                     inputs: dict[str, torch.Tensor] | None = None) -> tuple[list[dict], torch.Tensor]:
    """Attack the queries `batch_size` at a time; batches already in `store` are not attacked again.

    Returns (the batch records in query order, the adversarial pixels of the first `NUM_EXAMPLES`
    queries). `inputs`: the queries' extra model inputs (video lengths), used batch by batch.
    """
    store = store if store is not None else MemoryBatches()
    starts = list(range(0, len(images), batch_size))
    mine = distributed.shard(list(enumerate(starts)))   # this rank's batches (all of them in one process)
    records, fresh = [], {}   # fresh: this call's adversarial pixels, so the examples need no read-back
    show = progress and distributed.is_main()
    bar = tqdm(total=len(mine), desc=method, unit="batch", disable=None if show else True)   # None: a bar on a TTY only
    for done, (index, start) in enumerate(mine, 1):
        stop = start + batch_size
        ids = [int(i) for i in query_ids[start:stop]]
        kept = kept_rows(store, start, len(ids))
        record = store.load_batch(method, index, ids, (kept, *images.shape[1:]) if kept else None)
        if record is None:
            started = time.perf_counter()
            benign = images[start:stop]
            extra = slice_inputs(inputs, slice(start, stop))
            adversarial = attack_batch(attack, benign, None if targets is None else targets[start:stop], ids, device,
                                       extra)
            check_finite(adversarial, f"{method}'s adversarial queries {start}..{start + len(ids) - 1}",
                         "the model's outputs or gradients are not finite")
            eps_pixel = attack.eps_pixel(benign)
            if store.quantize:
                adversarial = to_pixel_grid(adversarial, benign, eps_pixel)
            store.export_batch(method, ids, benign, adversarial, eps_pixel)
            fresh[index] = adversarial
            codes = encode_set(model, adversarial, batch_size, device, progress=False, inputs=extra)
            sizes = perceptibility(benign, adversarial)
            if kept:
                store.save_examples(method, index, adversarial[:kept])
            record = store.save_batch(method, index, {
                "start": start, "query_ids": ids, "bits": int(codes.shape[1]), "codes": codes_to_hex(codes),
                "perceptibility": {name: values.tolist() for name, values in sizes.items()},
                "seconds": round(time.perf_counter() - started, 3)})
        records.append(record)
        bar.update(1)
        if show and bar.disable:
            log_batch(method, done, len(mine), record)
    bar.close()
    records = distributed.gather(records)
    shape = (min(NUM_EXAMPLES, len(images)), *images.shape[1:])
    examples = [(fresh[index] if index in fresh else kept_pixels(store, method, index, start, batch_size,
                                                                 images.shape))[:NUM_EXAMPLES - start]
                for index, start in enumerate(starts) if start < NUM_EXAMPLES]
    return records, torch.cat(examples) if examples else torch.empty(shape)


def log_batch(method: str, done: int, total: int, record: dict) -> None:
    """One line on stderr per finished batch, for logs (where a progress bar would be `\\r` noise)."""
    ids = record["query_ids"]
    span = f"queries {record['start']}..{record['start'] + len(ids) - 1}" if ids else "no queries"
    print(f"{method}: batch {done}/{total} done ({span}, {record['seconds']:.1f} s)", file=sys.stderr, flush=True)


def kept_rows(store, start: int, size: int) -> int:
    """How many adversarial queries of a batch of `size` starting at query `start` a store keeps the pixels of:
    all of them with `keep_pixels` (a transfer attack scores them on other models), else the ones among the
    first `NUM_EXAMPLES` (the run's figures)."""
    return size if store.keep_pixels else max(0, min(NUM_EXAMPLES - start, size))


def kept_pixels(store, method: str, index: int, start: int, batch_size: int, shape: torch.Size) -> torch.Tensor:
    """The adversarial pixels a store kept of batch `index` (`kept_rows` of them)."""
    rows = kept_rows(store, start, min(start + batch_size, shape[0]) - start)
    return store.load_examples(method, index, (rows, *shape[1:]))


def all_adversarial_pixels(store, method: str, count: int, batch_size: int, shape: torch.Size) -> torch.Tensor:
    """Every query's adversarial pixels of a finished method, from a store with `keep_pixels`."""
    return torch.cat([kept_pixels(store, method, index, start, batch_size, shape)
                      for index, start in enumerate(range(0, count, batch_size))])


def codes_from_records(records: list[dict]) -> torch.Tensor:
    """The ±1 codes (n, K) float32 of a method's batch records, in query order."""
    return codes_from_hex([code for record in records for code in record["codes"]], records[0]["bits"])


def perceptibility_from_records(records: list[dict]) -> dict[str, np.ndarray]:
    """Per-query perceptibility arrays (float64) of a method's batch records, in query order. A record
    holds null where the value is infinite: only a PSNR can be, that of a query left unchanged."""
    names = records[0]["perceptibility"].keys()
    return {name: np.array([np.inf if v is None else v for r in records for v in r["perceptibility"][name]],
                           dtype=np.float64) for name in names}


__all__ = ["attack_batch", "attacked_batches", "kept_rows", "kept_pixels", "all_adversarial_pixels", "codes_from_records", "perceptibility_from_records"]
