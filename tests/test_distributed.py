"""A small attack run under `torchrun --nproc_per_node=2` (gloo, CPU) writes the single-process results."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import hashattack
from hashattack import distributed

ARGS = ["demo", "--bits", "8", "--queries", "5", "--batch-size", "2", "--steps", "3", "--n-t", "2", "--topk", "20",
        "--epochs", "1", "--train-per-class", "6", "--quiet"]


def strip_timings(record: dict) -> dict:
    """The record without wall-clock times and the model's provenance (trained here vs loaded from the cache)."""
    for entry in record["methods"].values():
        entry.pop("seconds")
    record.pop("model")
    return record


def test_shard_and_gather_are_inverse_in_one_process():
    items = list(range(7))
    assert distributed.shard(items) == items and distributed.gather(items) == items
    assert distributed.block(10, 3) == (0, 10) and distributed.world_size() == 1 and distributed.is_main()


def test_torchrun_two_processes_equal_one(fake_fmnist, tmp_path):
    env = dict(os.environ, HASHATTACK_CACHE=str(tmp_path / "cache"), OMP_NUM_THREADS="1",
               PYTHONPATH=os.pathsep.join([str(Path(hashattack.__file__).parents[1]), os.environ.get("PYTHONPATH", "")]))
    common = ARGS + ["--data", str(fake_fmnist)]
    single = subprocess.run([sys.executable, "-m", "hashattack", *common, "--out", str(tmp_path / "one")],
                            env=env, capture_output=True, text=True, timeout=300)
    assert single.returncode == 0, single.stderr
    launch = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
              "-m", "hashattack", *common, "--out", str(tmp_path / "two")]
    multi = subprocess.run(launch, env=env, capture_output=True, text=True, timeout=300)
    if multi.returncode != 0 and "gloo" in multi.stderr.lower() and "not" in multi.stderr.lower():
        pytest.skip(f"this torch build cannot run gloo here: {multi.stderr[-300:]}")
    assert multi.returncode == 0, multi.stderr[-3000:]
    assert multi.stdout.count("run folder:") == single.stdout.count("run folder:") == 1   # rank 0 alone reports
    one = strip_timings(json.loads((tmp_path / "one" / "results.json").read_text()))
    two = strip_timings(json.loads((tmp_path / "two" / "results.json").read_text()))
    assert one == two
    assert (tmp_path / "one" / "table.md").read_text() == (tmp_path / "two" / "table.md").read_text()
    assert len(one["methods"]["DHTA"]["codes"]) == 5
