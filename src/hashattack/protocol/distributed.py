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

Waiting and failing: the other ranks wait for rank 0's training (`main_first`) and for the slowest
rank's batches in every gather, which can take longer than NCCL's default 10-minute watchdog, so
the process group's timeout is `HASHATTACK_DIST_TIMEOUT` seconds (default 6 hours). When rank 0
fails inside `main_first` the others are told and fail at once with a one-line error; any other
failure on one rank ends that process at once (`fail_together`), and torchrun then stops the
other ranks instead of leaving them waiting in a collective until the timeout.
"""

from __future__ import annotations

import contextlib
import os
import sys
import traceback
from collections.abc import Iterator, Sequence
from datetime import timedelta
from typing import TypeVar

import torch
import torch.distributed as dist

from hashattack.errors import InputError
from hashattack.models.encode import encode_set
from hashattack.models.inputs import model_inputs

T = TypeVar("T")
DEFAULT_TIMEOUT_SECONDS = 6 * 3600


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
        dist.init_process_group("nccl" if use_cuda else "gloo", timeout=timedelta(seconds=timeout_seconds()))
    return device


def timeout_seconds() -> float:
    """The process group's timeout: `HASHATTACK_DIST_TIMEOUT` seconds, default 6 hours."""
    text = os.environ.get("HASHATTACK_DIST_TIMEOUT", str(DEFAULT_TIMEOUT_SECONDS))
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not value > 0:
        raise InputError(f"HASHATTACK_DIST_TIMEOUT={text!r}: give a positive number of seconds")
    return value


@contextlib.contextmanager
def fail_together() -> Iterator[None]:
    """Under torchrun, an exception on this rank prints and ends this process at once (status 2 for bad
    input, 1 otherwise) rather than unwinding into collectives the other ranks wait in; torchrun then stops
    them. Without torchrun, exceptions pass through unchanged."""
    try:
        yield
    except BaseException as error:
        if not _joined() or isinstance(error, SystemExit):
            raise
        if isinstance(error, InputError):
            print(f"hashattack: error (rank {rank()}): {error}", file=sys.stderr)
        else:
            print(f"hashattack: rank {rank()} failed:", file=sys.stderr)
            traceback.print_exc()
        sys.stderr.flush()
        sys.stdout.flush()
        os._exit(2 if isinstance(error, InputError) else 1)


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
    """Rank 0 runs the block first (e.g. trains and caches a model), then the others (load the cache).

    Rank 0 tells the others whether its block succeeded; if it failed, they raise at once instead of
    running the block without what rank 0 was to make."""
    if world_size() == 1:
        yield
        return
    if not is_main():
        status = [None]
        dist.broadcast_object_list(status, src=0)
        if status[0] != "ok":
            raise RuntimeError(f"rank 0 failed before this rank could go on: {status[0]}")
        yield
        return
    try:
        yield
    except BaseException as error:
        dist.broadcast_object_list([f"{type(error).__name__}: {error}"], src=0)
        raise
    dist.broadcast_object_list(["ok"], src=0)


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
