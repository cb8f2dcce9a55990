"""torchrun's failure modes: rank 0 failing while the others wait on it, and one rank failing alone."""

import multiprocessing as mp
import os
import socket

import pytest
import torch.distributed as dist

from hashattack.errors import InputError
from hashattack.protocol import distributed


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def worker(rank: int, port: int, scenario: str, out: str) -> None:
    os.environ.update(RANK=str(rank), WORLD_SIZE="2", LOCAL_RANK=str(rank), MASTER_ADDR="127.0.0.1",
                      MASTER_PORT=str(port), HASHATTACK_DIST_TIMEOUT="60")
    distributed.setup("cpu")
    if scenario == "main_first":
        try:
            with distributed.main_first():
                if rank == 0:
                    raise ValueError("training failed")
            outcome = "went on"
        except Exception as error:   # noqa: BLE001 - the outcome is what the test checks
            outcome = f"{type(error).__name__}: {error}"
        with open(f"{out}.{rank}", "w") as f:
            f.write(outcome)
        dist.destroy_process_group()
    else:
        with distributed.fail_together():
            if rank == 1:
                raise ValueError("attack failed")
        dist.destroy_process_group()


def run_pair(scenario: str, tmp_path) -> list[int]:
    ctx = mp.get_context("spawn")
    port = free_port()
    procs = [ctx.Process(target=worker, args=(r, port, scenario, str(tmp_path / "outcome"))) for r in range(2)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=50)
    codes = [p.exitcode for p in procs]
    for p in procs:
        if p.is_alive():
            p.kill()
    return codes


def test_the_others_fail_at_once_when_rank_0_fails_in_main_first(tmp_path):
    run_pair("main_first", tmp_path)
    assert (tmp_path / "outcome.0").read_text() == "ValueError: training failed"
    assert (tmp_path / "outcome.1").read_text() == ("RuntimeError: rank 0 failed before this rank could go on: "
                                                    "ValueError: training failed")


def test_a_failing_rank_ends_its_process(tmp_path):
    codes = run_pair("fail_together", tmp_path)
    assert codes[1] == 1                     # ended at once (torchrun then stops the other ranks)


def test_timeout_setting(monkeypatch):
    monkeypatch.setenv("HASHATTACK_DIST_TIMEOUT", "90")
    assert distributed.timeout_seconds() == 90
    monkeypatch.delenv("HASHATTACK_DIST_TIMEOUT")
    assert distributed.timeout_seconds() == 6 * 3600
    monkeypatch.setenv("HASHATTACK_DIST_TIMEOUT", "soon")
    with pytest.raises(InputError, match="HASHATTACK_DIST_TIMEOUT"):
        distributed.timeout_seconds()
