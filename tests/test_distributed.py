"""A small attack run under `torchrun --nproc_per_node=2` (gloo, CPU) writes the single-process results."""

import json
import os
import subprocess
import sys
from pathlib import Path

import hashattack
from hashattack.protocol import distributed

ARGS = ["demo", "--bits", "8", "--queries", "5", "--batch-size", "2", "--steps", "3", "--n-t", "2", "--topk", "20",
        "--epochs", "1", "--train-per-class", "6", "--quiet"]


def test_shard_and_gather_are_inverse_in_one_process():
    items = list(range(7))
    assert distributed.shard(items) == items and distributed.gather(items) == items
    assert distributed.block(10, 3) == (0, 10) and distributed.world_size() == 1 and distributed.is_main()
    with distributed.solo():
        assert distributed.shard(items) == items and distributed.rank() == 0


def test_torchrun_two_processes_equal_one(fake_fmnist, tmp_path):
    """Both runs in fresh processes with one torch thread each, so even float rounding matches."""
    env = dict(os.environ, OMP_NUM_THREADS="1",
               PYTHONPATH=os.pathsep.join([str(Path(hashattack.__file__).parents[1]), os.environ.get("PYTHONPATH", "")]))
    common = ARGS + ["--data", str(fake_fmnist)]
    single = subprocess.run([sys.executable, "-m", "hashattack", *common, "--out", str(tmp_path / "one")],
                            env=env, capture_output=True, text=True, timeout=300)
    assert single.returncode == 0, single.stderr[-3000:]
    launch = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
              "-m", "hashattack", *common, "--out", str(tmp_path / "two")]
    multi = subprocess.run(launch, env=env, capture_output=True, text=True, timeout=300)
    assert multi.returncode == 0, multi.stderr[-3000:]
    assert multi.stdout.count("run folder:") == single.stdout.count("run folder:") == 1   # rank 0 alone reports
    for name in ("results.json", "table.md", "table.csv", "manifest.json"):   # wall-clock times live in timing.json
        assert (tmp_path / "one" / name).read_bytes() == (tmp_path / "two" / name).read_bytes(), name
    batches = sorted(p.name for p in (tmp_path / "two" / "batches").glob("*.json"))
    assert batches == sorted(p.name for p in (tmp_path / "one" / "batches").glob("*.json")) and len(batches) == 4 * 3
    assert len(json.loads((tmp_path / "two" / "results.json").read_text())["methods"]["DHTA"]["codes"]) == 5
