"""Resumable runs: a run killed with SIGKILL resumes after its last finished batch and ends with
results byte-identical to an uninterrupted run; a folder of another run is refused; --force."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from hashattack.cli.main import main
from hashattack.protocol.runfolder import BATCH_FORMAT, RUN_FILE, RunFolder
from run_helpers import folder_snapshot, tiny_demo_args

SRC = Path(__file__).resolve().parents[1] / "src"
FINAL_FILES = ("results.json", "table.md", "table.csv", "manifest.json", "run.json")


@pytest.fixture
def data(fake_fmnist):
    return fake_fmnist


def run_cli(args, capsys=None) -> int:
    code = main([str(a) for a in args])
    if capsys is not None:
        capsys.readouterr()
    return code


def batch_files(out: Path) -> dict[str, tuple[int, int]]:
    """Finished batch files -> (inode, mtime_ns), to see which ones a later run rewrote."""
    folder = out / "batches"
    return {p.name: (p.stat().st_ino, p.stat().st_mtime_ns) for p in folder.glob("*.json")} if folder.is_dir() else {}


def test_sigkill_mid_run_then_rerun_gives_identical_results(data, tmp_path, capsys):
    cache = tmp_path / "cache"
    steps = 40
    reference = tmp_path / "reference"
    assert run_cli(tiny_demo_args(data, cache, reference, steps=steps), capsys) == 0
    total = len(batch_files(reference))
    assert total == 16                                # 4 methods x 4 batches of 2 queries

    out = tmp_path / "killed"
    env = {**os.environ, "PYTHONPATH": str(SRC), "OMP_NUM_THREADS": "1"}
    command = [sys.executable, "-m", "hashattack", *tiny_demo_args(data, cache, out, steps=steps)]
    proc = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    try:   # kill it once a batch of the first targeted attack is on disk, i.e. inside the attack loop
        while not (out / "batches" / "P2P-00000.json").exists():
            assert proc.poll() is None, proc.stderr.read().decode()
            assert time.monotonic() < deadline, "the run never wrote a P2P batch"
            time.sleep(0.005)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.stderr.close()
    assert proc.returncode == -signal.SIGKILL
    finished = batch_files(out)
    assert 1 <= len(finished) < total
    assert not (out / "results.json").exists()

    # the same command again (in this process, which saves a second start of Python and torch)
    assert main(command[3:]) == 0
    printed = capsys.readouterr().out
    assert f"resumed: {len(finished)} finished batches reused, {total - len(finished)} attacked now" in printed

    after = batch_files(out)
    assert set(after) == set(batch_files(reference))
    for name, stamp in finished.items():             # no finished batch was redone: at most the one in flight
        assert after[name] == stamp, f"{name} was attacked again"
    timing = json.loads((out / "timing.json").read_text())
    assert timing["batches_reused"] == len(finished) and timing["batches_attacked"] == total - len(finished)
    for name in FINAL_FILES:
        assert (out / name).read_bytes() == (reference / name).read_bytes(), name
    strip = lambda path: {k: v for k, v in json.loads(path.read_text()).items() if k not in ("seconds", "sha256")}
    for name in after:
        assert strip(out / "batches" / name) == strip(reference / "batches" / name), name


def test_rerun_of_a_finished_run_reuses_every_batch(data, tmp_path, capsys):
    args = tiny_demo_args(data, tmp_path / "cache", tmp_path / "run", steps=3)
    assert run_cli(args, capsys) == 0
    before = folder_snapshot(tmp_path / "run")
    stamps = batch_files(tmp_path / "run")
    assert run_cli(args) == 0
    assert "resumed: 16 finished batches reused, 0 attacked now" in capsys.readouterr().out
    assert batch_files(tmp_path / "run") == stamps
    after = folder_snapshot(tmp_path / "run")
    assert {k: v for k, v in after.items() if k != "timing.json"} == \
           {k: v for k, v in before.items() if k != "timing.json"}


def test_other_settings_are_refused_and_force_starts_over(data, tmp_path, capsys):
    out = tmp_path / "run"
    args = tiny_demo_args(data, tmp_path / "cache", out, steps=3)
    assert run_cli(args, capsys) == 0
    before = folder_snapshot(out)

    changed = args + ["--eps", "0.3"]
    assert run_cli(changed) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("hashattack: error: run folder")
    assert "settings.eps: 0.2 -> 0.3" in err and "--force" in err
    assert folder_snapshot(out) == before

    (out / "batches" / "stale-from-before.json").write_text("{}")
    assert run_cli(changed + ["--force"]) == 0
    assert "resumed" not in capsys.readouterr().out
    assert not (out / "batches" / "stale-from-before.json").exists()
    assert json.loads((out / RUN_FILE).read_text())["fingerprint"]["settings"]["eps"] == 0.3
    assert json.loads((out / "results.json").read_text())["settings"]["eps"] == 0.3


def test_results_without_run_file_are_refused(data, tmp_path, capsys):
    out = tmp_path / "old"
    out.mkdir()
    (out / "results.json").write_text('{"from": "an older run"}\n')
    assert run_cli(tiny_demo_args(data, tmp_path / "cache", out, steps=2)) == 2
    err = capsys.readouterr().err
    assert "holds results (results.json) without run.json" in err and err.count("\n") == 1
    assert (out / "results.json").read_text() == '{"from": "an older run"}\n'


def test_a_tampered_batch_file_is_attacked_again(data, tmp_path, capsys):
    out = tmp_path / "run"
    args = tiny_demo_args(data, tmp_path / "cache", out, steps=2)
    assert run_cli(args, capsys) == 0
    results = (out / "results.json").read_bytes()
    record = json.loads((out / "batches" / "DHTA-00001.json").read_text())
    record["query_ids"] = record["query_ids"][::-1]
    (out / "batches" / "DHTA-00001.json").write_text(json.dumps(record))
    assert run_cli(args) == 0
    captured = capsys.readouterr()
    assert captured.err.count("\n") == 1 and "DHTA-00001.json: its checksum does not match" in captured.err
    assert "15 finished batches reused, 1 attacked now" in captured.out
    (out / "batches" / "DHTA-00001.json").write_text("{not json")
    assert run_cli(args) == 0
    assert "DHTA-00001.json: unreadable or truncated" in capsys.readouterr().err
    assert (out / "results.json").read_bytes() == results


def test_killed_checkpoint_save_is_retrained_and_stale_temp_files_ignored(data, tmp_path, capsys):
    cache, out = tmp_path / "cache", tmp_path / "run"
    args = tiny_demo_args(data, cache, out, steps=2)
    assert run_cli(args, capsys) == 0
    (weights,) = cache.glob("*.pt")
    Path(str(weights) + ".json").unlink()          # as if killed between the weights and their metadata
    (out / "batches" / ".DHTA-00003.json.abc.tmp").write_text("half-writ")
    (out / "batches" / "DHTA-00003.json").unlink()
    assert run_cli(args) == 0
    assert "15 finished batches reused, 1 attacked now" in capsys.readouterr().out
    assert Path(str(weights) + ".json").is_file()
    assert not list((out / "batches").glob(".*.tmp"))


def test_run_folder_records_and_refuses_a_changed_model(tmp_path):
    folder = RunFolder(tmp_path / "run", {"a": 1})
    folder.check()
    folder.start("aaaa" * 16)
    record = folder.save_batch("DHTA", 0, {"query_ids": [3, 5], "codes": ["ff", "00"], "bits": 8,
                                           "perceptibility": {"linf": [0.1, 0.2]}, "seconds": 1.5})
    assert record["format"] == BATCH_FORMAT and record["run_sha256"] == folder.run_sha256
    folder.release()
    again = RunFolder(tmp_path / "run", {"a": 1})
    again.check()
    assert again.resuming
    assert again.load_batch("DHTA", 0, [3, 5]) == record and again.reused == {"DHTA": 1}
    assert again.load_batch("DHTA", 1, [7]) is None
    with pytest.raises(Exception, match="model weights aaaaaaaaaaaa"):
        again.start("bbbb" * 16)


def test_ctrl_c_mid_run_then_rerun_gives_identical_results(data, tmp_path, capsys, monkeypatch):
    import hashattack.protocol.attacking as experiment

    cache = tmp_path / "cache"
    assert run_cli(tiny_demo_args(data, cache, tmp_path / "reference", steps=2), capsys) == 0
    real, calls = experiment.attack_batch, []

    def interrupted(*args, **kwargs):
        calls.append(1)
        if len(calls) == 10:                           # Original 4, Noise 4, P2P batch 0, then Ctrl-C
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    out = tmp_path / "run"
    monkeypatch.setattr(experiment, "attack_batch", interrupted)
    assert run_cli(tiny_demo_args(data, cache, out, steps=2)) == 130
    assert capsys.readouterr().err == "hashattack: interrupted\n"
    assert len(batch_files(out)) == 9
    monkeypatch.setattr(experiment, "attack_batch", real)
    assert run_cli(tiny_demo_args(data, cache, out, steps=2)) == 0
    assert "resumed: 9 finished batches reused, 7 attacked now" in capsys.readouterr().out
    for name in FINAL_FILES:
        assert (out / name).read_bytes() == (tmp_path / "reference" / name).read_bytes(), name
