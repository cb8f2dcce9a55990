"""Attack a run's queries batch by batch and keep what the results and figures need.

One batch is always done the same way (`finished_batch`): the registered method called on the
batch's queries and targets (`attacks.registry.Method.call`), the result checked, post-processed
(`Finish`: onto the 8-bit grid, written as PNG files by `protocol.export`) and encoded. Runs,
transfer surrogates and `attack_to_label` all go through it.

`attacked_batches` does a run's batches: each becomes a record (query ids, adversarial codes as
hex, per-query perceptibility, seconds) kept by a store (`runfolder.RunFolder` writes one file per
batch, atomically, so a killed run resumes; `MemoryBatches` keeps them in memory). The adversarial
pixels of the first `NUM_EXAMPLES` queries are kept too (of every query with `keep_all`, for a
transfer attack), so the run's figures show the very queries it scored without attacking again.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from hashattack.attacks import Attack
from hashattack.attacks.descent import to_pixel_grid
from hashattack.attacks.registry import method as registered
from hashattack.data.base import source_names
from hashattack.models.encode import encode_set
from hashattack.models.inputs import bind_inputs, slice_inputs
from hashattack.protocol import distributed
from hashattack.protocol.batch_store import MemoryBatches
from hashattack.protocol.export import write_batch
from hashattack.reporting.run_figures import NUM_EXAMPLES
from hashattack.retrieval.codes import codes_from_hex, codes_to_hex
from hashattack.retrieval.metrics import perceptibility
from hashattack.validation import check_finite


@dataclass(frozen=True)
class Finish:
    """What happens to a batch's adversarial queries after the attack and before they are encoded:
    `quantize` ends them on the 8-bit grid inside the ε ball (what a PNG stores); `export` (a run
    folder) writes them as PNG files under `<export>/export`, named by `names` (query id -> name)."""

    quantize: bool = False
    export: Path | None = None
    names: dict[int, str] = field(default_factory=dict)

    @classmethod
    def of_run(cls, quantize: bool, export: Path | None, queries, query_ids: list[int]) -> "Finish":
        """A run's post-processing: the 8-bit grid if `quantize`; with `export` (the run folder) PNG files
        named after the sources of the `queries` set's `query_ids` (every rank writes those of its batches)."""
        return cls(quantize, export, dict(zip(query_ids, source_names(queries, query_ids))) if export else {})

    def __call__(self, method: str, query_ids: list[int], benign: torch.Tensor, adversarial: torch.Tensor,
                 eps_pixel: torch.Tensor) -> torch.Tensor:
        if self.quantize:
            adversarial = to_pixel_grid(adversarial, benign, eps_pixel)
        if self.export is not None:   # before the batch's record, so a resumed run rewrites unfinished files
            write_batch(self.export, method, [self.names[int(i)] for i in query_ids], benign, adversarial, eps_pixel)
        return adversarial


def attack_batch(method: str, attack: Attack, images: torch.Tensor, targets: torch.Tensor | None,
                 query_ids: list[int], device: str = "cpu", inputs: dict[str, torch.Tensor] | None = None) -> torch.Tensor:
    """Attack one batch of queries the way method `method` is called; returns adversarial pixels on the CPU.

    `targets`: what the method takes (anchor codes, target pixels, None); `inputs`: the batch's extra
    model inputs (video lengths), bound to the model for this batch."""
    batch = images.to(device)
    model = attack.model
    attack.model = bind_inputs(model, {k: v.to(device) for k, v in (inputs or {}).items()})
    try:
        adversarial = registered(method).call(attack, batch, None if targets is None else targets.to(device), query_ids)
    finally:
        attack.model = model
    return adversarial.cpu()


def finished_batch(method: str, attack: Attack, model: torch.nn.Module, benign: torch.Tensor,
                   targets: torch.Tensor | None, query_ids: list[int], start: int, device: str = "cpu",
                   inputs: dict[str, torch.Tensor] | None = None,
                   finish: Finish = Finish()) -> tuple[torch.Tensor, torch.Tensor]:
    """One batch of queries (the first at query `start`) attacked, checked, post-processed and encoded:
    (adversarial pixels, their ±1 codes), both on the CPU."""
    adversarial = attack_batch(method, attack, benign, targets, query_ids, device, inputs)
    check_finite(adversarial, f"{method}'s adversarial queries {start}..{start + len(query_ids) - 1}",
                 "the model's outputs or gradients are not finite")
    adversarial = finish(method, query_ids, benign, adversarial, attack.eps_pixel(benign))
    return adversarial, encode_set(model, adversarial, len(benign), device, progress=False, inputs=inputs)


def attacked_batches(method: str, attack: Attack, model: torch.nn.Module, images: torch.Tensor,
                     targets: torch.Tensor | None, query_ids: list[int], batch_size: int, store=None,
                     device: str = "cpu", progress: bool = True, inputs: dict[str, torch.Tensor] | None = None, *,
                     finish: Finish = Finish(), keep_all: bool = False) -> tuple[list[dict], torch.Tensor]:
    """Attack the queries `batch_size` at a time; batches already in `store` are not attacked again.

    Returns (the batch records in query order, the adversarial pixels of the first `NUM_EXAMPLES`
    queries). `inputs`: the queries' extra model inputs (video lengths), used batch by batch;
    `finish`: the post-processing of each batch; `keep_all`: the store keeps every query's pixels.
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
        kept = kept_rows(keep_all, start, len(ids))
        record = store.load_batch(method, index, ids, (kept, *images.shape[1:]) if kept else None)
        if record is None:
            started = time.perf_counter()
            benign = images[start:stop]
            adversarial, codes = finished_batch(method, attack, model, benign,
                                                None if targets is None else targets[start:stop], ids, start,
                                                device, slice_inputs(inputs, slice(start, stop)), finish)
            fresh[index] = adversarial
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
                                                                 images.shape, keep_all))[:NUM_EXAMPLES - start]
                for index, start in enumerate(starts) if start < NUM_EXAMPLES]
    return records, torch.cat(examples) if examples else torch.empty(shape)


def log_batch(method: str, done: int, total: int, record: dict) -> None:
    """One line on stderr per finished batch, for logs (where a progress bar would be `\\r` noise)."""
    ids = record["query_ids"]
    span = f"queries {record['start']}..{record['start'] + len(ids) - 1}" if ids else "no queries"
    print(f"{method}: batch {done}/{total} done ({span}, {record['seconds']:.1f} s)", file=sys.stderr, flush=True)


def kept_rows(keep_all: bool, start: int, size: int) -> int:
    """How many adversarial queries of a batch of `size` starting at query `start` a store keeps the pixels of:
    all of them with `keep_all` (a transfer attack scores them on other models), else the ones among the
    first `NUM_EXAMPLES` (the run's figures)."""
    return size if keep_all else max(0, min(NUM_EXAMPLES - start, size))


def kept_pixels(store, method: str, index: int, start: int, batch_size: int, shape: torch.Size,
                keep_all: bool = False) -> torch.Tensor:
    """The adversarial pixels a store kept of batch `index` (`kept_rows` of them)."""
    rows = kept_rows(keep_all, start, min(start + batch_size, shape[0]) - start)
    return store.load_examples(method, index, (rows, *shape[1:]))


def all_adversarial_pixels(store, method: str, count: int, batch_size: int, shape: torch.Size) -> torch.Tensor:
    """Every query's adversarial pixels of a finished method, from a store its batches kept all of (`keep_all`)."""
    return torch.cat([kept_pixels(store, method, index, start, batch_size, shape, keep_all=True)
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


__all__ = ["Finish", "attack_batch", "finished_batch", "attacked_batches", "kept_rows", "kept_pixels", "all_adversarial_pixels", "codes_from_records", "perceptibility_from_records"]
