"""Many processes with torchrun: shard the work of a run across ranks, gather it on every rank.

`torchrun --nproc_per_node=N -m hashattack demo ...` starts N copies of the command; each reads
its rank from the environment (RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR/PORT set by torchrun).
`setup` joins the process group (gloo on CPU, nccl on CUDA, one GPU per local rank). The query
batches of an attack are dealt round-robin to the ranks (`shard`), each rank attacks its own
batches exactly as a single process would (same batch composition), and `gather` puts every
batch back in its place on every rank; the database is encoded the same way in contiguous
blocks of whole batches. Only rank 0 writes files and prints. The result set is the one a
single process writes (timings aside).

Without torchrun (WORLD_SIZE unset or 1) every function is the identity: one process, all work.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Sequence
from typing import TypeVar

import torch
import torch.distributed as dist

from hashattack.models.encode import encode_set
from hashattack.models.inputs import model_inputs

T = TypeVar("T")


_solo = False   # inside `solo()`: this process works alone (no sharding, no collectives)


def _joined() -> bool:
    return not _solo and dist.is_available() and dist.is_initialized()


def world_size() -> int:
    """Number of processes of the run (1 without torchrun)."""
    return dist.get_world_size() if _joined() else 1


def rank() -> int:
    """This process's rank (0 without torchrun)."""
    return dist.get_rank() if _joined() else 0


@contextlib.contextmanager
def solo() -> Iterator[None]:
    """Work done by one rank alone (e.g. rank 0 drawing figures): sharding and gathering are off."""
    global _solo
    before, _solo = _solo, True
    try:
        yield
    finally:
        _solo = before


def is_main() -> bool:
    """Whether this process writes results and prints (rank 0)."""
    return rank() == 0


def launched() -> bool:
    """Whether torchrun (or another launcher) started several processes."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def setup(device: str = "cpu") -> str:
    """Join the process group if launched with several processes; return this rank's device.

    CUDA devices become `cuda:LOCAL_RANK` with the nccl backend; anything else uses gloo.
    Calling it again is harmless.
    """
    if not launched():
        return device
    use_cuda = str(device).startswith("cuda")
    if use_cuda:
        device = f"cuda:{int(os.environ.get('LOCAL_RANK', '0'))}"
        torch.cuda.set_device(device)
    if not dist.is_initialized():
        dist.init_process_group("nccl" if use_cuda else "gloo")
    return device


def shutdown() -> None:
    """Leave the process group (at the end of a command)."""
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def shard(items: Sequence[T]) -> list[T]:
    """This rank's share of `items`: items[rank::world_size] (round-robin, so batches balance)."""
    return list(items)[rank()::world_size()]


def gather(mine: list[T]) -> list[T]:
    """Inverse of `shard`: every rank's share, back in the original order, on every rank."""
    size = world_size()
    if size == 1:
        return list(mine)
    shares: list[list[T] | None] = [None] * size
    dist.all_gather_object(shares, [_to_cpu(x) for x in mine])
    total = sum(len(s) for s in shares)
    return [shares[i % size][i // size] for i in range(total)]


def block(n: int, unit: int) -> tuple[int, int]:
    """This rank's contiguous block [start, stop) of n items, cut at multiples of `unit` (whole batches)."""
    batches = -(-n // unit)
    per_rank = -(-batches // world_size())
    start = min(n, rank() * per_rank * unit)
    return start, min(n, start + per_rank * unit)


def gather_blocks(mine: torch.Tensor) -> torch.Tensor:
    """Inverse of `block`: the ranks' tensors concatenated in rank order, on every rank."""
    if world_size() == 1:
        return mine
    shares: list[torch.Tensor | None] = [None] * world_size()
    dist.all_gather_object(shares, mine.cpu())
    return torch.cat(shares).to(mine.device)


def barrier() -> None:
    if world_size() > 1:
        dist.barrier()


@contextlib.contextmanager
def main_first() -> Iterator[None]:
    """Rank 0 runs the block first (e.g. trains and caches a model), then the others (load the cache)."""
    if not is_main():
        barrier()
    try:
        yield
    finally:
        if is_main():
            barrier()


def _to_cpu(x):
    return x.cpu() if isinstance(x, torch.Tensor) else x


def encode_sharded(model: torch.nn.Module, data, batch_size: int = 1000, device: str = "cpu",
                   progress: bool = True, desc: str = "encode") -> torch.Tensor:
    """`models.encode.encode_set` with the objects split across ranks in blocks of whole batches."""
    if world_size() == 1:
        return encode_set(model, data, batch_size, device, progress, desc)
    start, stop = block(len(data), batch_size)
    if start == stop:   # more ranks than batches: nothing to encode here
        mine = torch.empty((0, model.bits))
    else:
        index = slice(start, stop)
        pixels = data.pixels(index) if hasattr(data, "pixels") else data[index]
        mine = encode_set(model, pixels, batch_size, device, progress and is_main(), desc,
                          inputs=model_inputs(data, index))   # a padded video set's frame counts
    return gather_blocks(mine)
