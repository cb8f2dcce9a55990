"""Hostile run folders, reports and disks: a batch from another run, damaged batches and examples,
two processes on one folder, a stale lock, non-strict JSON, symlinked figures, HTML in values, a
string t-MAP, a manifest that is a folder, I/O failures. Each case: the documented exit status, at
most one line on stderr, no traceback, and old results intact."""

from __future__ import annotations

import errno
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import hashattack.files as files
from hashattack.cli.main import IO_ERROR, main
from hashattack.protocol.batch_files import seal
from hashattack.protocol.run_lock import LOCK_FILE, RunLock
from run_helpers import cli, folder_snapshot, hostile_demo_args, one_line, tiny_demo_args

SRC = Path(__file__).resolve().parents[1] / "src"


demo_args = hostile_demo_args


def strict_json(path: Path):
    def refuse(constant):
        raise ValueError(f"{path}: non-strict JSON constant {constant}")
    return json.loads(path.read_text(), parse_constant=refuse)


@pytest.fixture(scope="module")
def clean(fake_fmnist, tmp_path_factory) -> dict:
    """Two finished runs at eps 0.2 and 0.05 on one model cache."""
    root = tmp_path_factory.mktemp("hostile")
    cache = root / "cache"
    runs = {}
    for eps in ("0.2", "0.05"):
        assert main([str(a) for a in demo_args(fake_fmnist, cache, root / f"eps-{eps}", "--eps", eps)]) == 0
        runs[eps] = root / f"eps-{eps}"
    return {"cache": cache, "data": fake_fmnist, **runs}


@pytest.fixture
def finished(clean, tmp_path) -> Path:
    """A copy of the finished eps-0.2 run, to damage."""
    out = tmp_path / "run"
    shutil.copytree(clean["0.2"], out)
    return out


def rerun(clean, out: Path, capsys, *extra) -> tuple[int, str, str]:
    return cli(demo_args(clean["data"], clean["cache"], out, "--eps", "0.2", *extra), capsys)


def assert_results_equal_clean(clean, out: Path) -> None:
    for name in ("results.json", "table.md", "table.csv", "manifest.json", "run.json"):
        assert (out / name).read_bytes() == (clean["0.2"] / name).read_bytes(), name


# ---- batches from elsewhere, damaged batches and examples: attacked again, never used ----

def test_a_batch_copied_from_another_run_is_not_used(clean, finished, capsys):
    for name in ("DHTA-00001.json", "DHTA-00001.examples.npy"):   # a whole batch of the eps-0.05 run
        shutil.copy(clean["0.05"] / "batches" / name, finished / "batches" / name)
    assert (finished / "batches" / "DHTA-00001.json").read_bytes() != (clean["0.2"] / "batches" / "DHTA-00001.json").read_bytes()
    code, out, err = rerun(clean, finished, capsys)
    assert code == 0
    assert "DHTA-00001.json: written by a run with other settings" in one_line(err)
    assert "7 finished batches reused, 1 attacked now" in out
    assert_results_equal_clean(clean, finished)


def _flip_a_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    digits = [i for i, b in enumerate(data) if chr(b) in "123456789"]
    data[digits[len(digits) // 2]] ^= 0x01   # a digit becomes another digit: still valid JSON
    path.write_bytes(bytes(data))


def _truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def _folder(path: Path) -> None:
    path.unlink()
    (path / "inside").mkdir(parents=True)


def _invalid_hex(path: Path) -> None:
    record = json.loads(path.read_text())
    record["codes"][0] = "zz" * (len(record["codes"][0]) // 2)
    path.write_text(json.dumps(seal(record, record["run_sha256"])))   # sealed again: only the codes are wrong


def _symlink(path: Path) -> None:
    target = path.with_name("elsewhere.txt")
    shutil.move(path, target)
    path.symlink_to(target)


def _examples_flipped(path: Path) -> None:
    _flip_a_byte(path.with_name(path.name.replace(".json", ".examples.npy")))


def _examples_of_another_batch(path: Path) -> None:
    shutil.copy(path.with_name("DHTA-00000.examples.npy"), path.with_name(path.name.replace(".json", ".examples.npy")))


def _examples_missing(path: Path) -> None:
    path.with_name(path.name.replace(".json", ".examples.npy")).unlink()


@pytest.mark.parametrize("damage, why", [
    (_flip_a_byte, "its checksum does not match its content"),
    (_truncate, "unreadable or truncated"),
    (_folder, "not a regular file"),
    (_symlink, "not a regular file"),
    (_invalid_hex, "invalid codes"),
    (_examples_flipped, "does not match the batch (examples_sha256)"),
    (_examples_of_another_batch, "does not match the batch (examples_sha256)"),
    (_examples_missing, "missing or not a regular file"),
])
def test_a_damaged_batch_is_attacked_again(clean, finished, capsys, damage, why):
    damage(finished / "batches" / "DHTA-00001.json")
    code, out, err = rerun(clean, finished, capsys)
    assert code == 0
    assert "DHTA-00001.json: " in one_line(err) and why in err and err.startswith("hashattack: notice: ")
    assert "7 finished batches reused, 1 attacked now" in out
    assert_results_equal_clean(clean, finished)
    assert (finished / "batches" / "DHTA-00001.json").is_file()
    assert not (finished / "batches" / "DHTA-00001.json").is_symlink()
    code, out, err = rerun(clean, finished, capsys)   # and now it is whole again
    assert code == 0 and err == "" and "8 finished batches reused, 0 attacked now" in out


def test_a_batches_entry_that_is_a_file_is_replaced(clean, finished, capsys):
    shutil.rmtree(finished / "batches")
    (finished / "batches").write_text("not a folder")
    code, out, err = rerun(clean, finished, capsys)
    assert code == 0 and "batches: not a folder" in one_line(err)
    assert_results_equal_clean(clean, finished)


# ---- one process at a time ----

def test_a_folder_locked_by_another_holder_is_refused_with_and_without_force(clean, finished, capsys):
    before = folder_snapshot(finished)
    lock = RunLock(finished)
    lock.acquire()
    try:
        for extra in ((), ("--force",)):
            code, _, err = rerun(clean, finished, capsys, *extra)
            assert code == 2 and f"is in use by pid {os.getpid()} on host" in one_line(err)
    finally:
        lock.release()
    assert folder_snapshot(finished) == before


def test_a_locked_sweep_folder_is_refused(clean, tmp_path, capsys):
    out = tmp_path / "sweep"
    out.mkdir()
    lock = RunLock(out)
    lock.acquire()
    try:
        code, _, err = cli(demo_args(clean["data"], clean["cache"], out, "--eps", "0.1", "0.2"), capsys)
    finally:
        lock.release()
    assert code == 2 and f"run folder {out} is in use by pid {os.getpid()}" in one_line(err)
    assert list(out.iterdir()) == []


def test_report_refuses_a_folder_in_use_and_then_writes(finished, capsys):
    before = folder_snapshot(finished)
    lock = RunLock(finished)
    lock.acquire()
    try:
        code, _, err = cli(["report", str(finished), "--quiet"], capsys)
    finally:
        lock.release()
    assert code == 2 and f"run folder {finished} is in use by pid {os.getpid()}" in one_line(err)
    assert folder_snapshot(finished) == before
    code, _, err = cli(["report", str(finished), "--quiet"], capsys)
    assert code == 0 and err == "" and not (finished / LOCK_FILE).exists()


def test_a_stale_lock_of_a_dead_process_is_taken_over(clean, finished, capsys):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    (finished / LOCK_FILE).write_text(json.dumps({"pid": dead.pid, "host": "gone", "started": "2020-01-01T00:00:00Z"}))
    code, out, err = rerun(clean, finished, capsys)
    assert code == 0 and err == "" and "8 finished batches reused" in out
    assert not (finished / LOCK_FILE).exists()
    assert_results_equal_clean(clean, finished)


def test_two_processes_on_one_folder(clean, tmp_path, capsys):
    out = tmp_path / "shared"
    args = [str(a) for a in demo_args(clean["data"], clean["cache"], out, steps=80)]
    env = {**os.environ, "PYTHONPATH": str(SRC), "OMP_NUM_THREADS": "1"}
    first = subprocess.Popen([sys.executable, "-m", "hashattack", *args], env=env,
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 120
        while not (out / LOCK_FILE).exists():
            assert first.poll() is None, first.stderr.read().decode()
            assert time.monotonic() < deadline, "the first run never locked its folder"
            time.sleep(0.01)
        for extra in ([], ["--force"]):   # the second process, with and without --force, while the first runs
            code, _, err = cli(args + extra, capsys)
            assert code == 2, err
            assert f"is in use by pid {first.pid} on host" in one_line(err)
        assert first.poll() is None, "the first run ended before the second one tried"
        assert first.wait(timeout=300) == 0 and first.stderr.read() == b""
    finally:
        if first.poll() is None:
            first.send_signal(signal.SIGKILL)
        first.stderr.close()
    results = (out / "results.json").read_bytes()
    timing = json.loads((out / "timing.json").read_text())
    assert timing["batches_attacked"] == 8 and timing["batches_reused"] == 0
    code, printed, err = cli(args, capsys)   # every batch the first wrote is whole and sealed to the run
    assert code == 0 and err == "" and "8 finished batches reused, 0 attacked now" in printed
    assert (out / "results.json").read_bytes() == results and not (out / LOCK_FILE).exists()


# ---- strict JSON ----

def psnr_median_cell(folder, method: str) -> str:
    """The PSNR median cell of `method` in report.md's per-method table."""
    lines = (folder / "report.md").read_text().split("Methods: success and perceptibility")[1].splitlines()
    header = next(line for line in lines if line.startswith("| Method "))
    column = [cell.strip() for cell in header.split("|")].index("PSNR median (dB)")
    return next(line for line in lines if line.startswith(f"| {method} ")).split("|")[column].strip()


def test_every_json_file_of_a_run_is_strict(clean, tmp_path, capsys):
    out = tmp_path / "run"
    code, _, _ = cli(tiny_demo_args(clean["data"], clean["cache"], out, steps=2, queries=4), capsys)
    assert code == 0
    written = sorted(out.rglob("*.json"))
    assert len(written) == 13   # run, manifest, results, timing, curves and 8 batches
    parsed = {p.name: strict_json(p) for p in written}
    original = parsed["results.json"]["methods"]["Original"]["perceptibility"]
    assert original["psnr_median"] is None and original["psnr_mean"] is None   # identical images: infinite PSNR
    assert parsed["Original-00000.json"]["perceptibility"]["psnr"] == [None, None]
    assert psnr_median_cell(out, "Original") == "∞"


# ---- the report ----

def test_the_report_embeds_no_symlink_out_of_the_folder_nor_a_fifo(finished, tmp_path, capsys):
    secret = tmp_path / "secret.png"
    secret.write_bytes(b"\x89PNG not for the report " * 20)
    figures = finished / "figures"
    figures.mkdir()
    (figures / "adversarial_examples.png").symlink_to(secret)
    os.mkfifo(figures / "retrieval.png")   # reading it would block forever
    code, _, err = cli(["report", finished, "--quiet"], capsys)
    assert code == 0 and err == ""
    page = (finished / "report.html").read_text()
    assert "base64," not in page
    assert "Figure figures/adversarial_examples.png not shown" in (finished / "report.md").read_text()


def test_the_report_embeds_nothing_from_a_figures_folder_linked_out(finished, tmp_path, capsys):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "precision_at_k.png").write_bytes(b"\x89PNG a file outside the run folder")
    (finished / "figures").symlink_to(outside)
    code, _, err = cli(["report", finished, "--quiet"], capsys)
    assert code == 0 and err == "" and "base64," not in (finished / "report.html").read_text()
    assert "Figure figures/precision_at_k.png not shown" in (finished / "report.md").read_text()


def test_report_md_escapes_html_from_the_results(finished, capsys):
    record = json.loads((finished / "results.json").read_text())
    record["settings"]["note"] = "<script>alert(1)</script> | <img src=x onerror=alert(2)>"
    (finished / "results.json").write_text(json.dumps(record))
    code, _, err = cli(["report", finished, "--quiet"], capsys)
    assert code == 0 and err == ""
    for name in ("report.md", "report.html"):
        text = (finished / name).read_text()
        assert "<script>alert" not in text and "<img src=x" not in text and "&lt;script&gt;alert(1)" in text


@pytest.mark.parametrize("field, value", [("t_map", "0.5"), ("map", [1]), ("perceptibility", "big")])
def test_report_of_results_with_wrong_types_is_one_line(finished, capsys, field, value):
    record = json.loads((finished / "results.json").read_text())
    record["methods"]["DHTA"][field] = value
    (finished / "results.json").write_text(json.dumps(record))
    code, _, err = cli(["report", finished, "--quiet"], capsys)
    assert code == 2 and f"results.json: malformed results (methods.DHTA.{field}" in one_line(err)


def test_a_manifest_that_is_a_folder_is_one_line(clean, tmp_path, capsys):
    code, _, err = cli(demo_args(clean["data"], clean["cache"], tmp_path / "run", "--manifest", tmp_path), capsys)
    assert code == 2 and "is a folder" in one_line(err) and not (tmp_path / "run").exists()


# ---- I/O failures: one line, exit 3, old results intact ----

@pytest.mark.parametrize("where, cause", [
    (lambda tmp: Path("/proc/hashattack-no-such-folder/run"), "No such file or directory"),
    (lambda tmp: Path("/sys/hashattack-refused/run"), ""),
    (lambda tmp: tmp / ("x" * 300) / "run", "File name too long (ENAMETOOLONG)"),
    (lambda tmp: tmp / "a-file" / "run", "Not a directory (ENOTDIR)"),
], ids=["under-proc", "under-sys", "name-too-long", "file-where-a-folder-should-be"])
def test_an_out_folder_the_system_refuses_is_one_line(clean, tmp_path, capsys, where, cause):
    (tmp_path / "a-file").write_text("a file where a folder should be")
    out = where(tmp_path)
    code, _, err = cli(demo_args(clean["data"], clean["cache"], out), capsys)
    assert code == IO_ERROR and one_line(err).startswith("hashattack: error: ") and cause in err
    assert str(out.parent)[:40] in err


@pytest.mark.parametrize("number", [errno.ENOSPC, errno.EROFS, errno.EDQUOT], ids=["disk-full", "read-only", "quota"])
def test_a_refused_write_keeps_the_old_results(clean, finished, capsys, monkeypatch, number):
    before = folder_snapshot(finished)
    real = os.replace

    def refused(src, dst, *args, **kwargs):
        if Path(dst).name == "results.json":
            raise OSError(number, os.strerror(number))
        return real(src, dst, *args, **kwargs)

    monkeypatch.setattr(files.os, "replace", refused)
    code, _, err = rerun(clean, finished, capsys)
    assert code == IO_ERROR
    assert one_line(err) == (f"hashattack: error: {finished / 'results.json'}: {os.strerror(number)} "
                             f"({errno.errorcode[number]})\n")
    monkeypatch.undo()
    assert folder_snapshot(finished) == before   # no temporary file left, results.json as it was
    assert not (finished / LOCK_FILE).exists()


def test_report_reads_an_older_results_file_with_a_bare_infinity(finished, capsys):
    text = (finished / "results.json").read_text()
    assert '"psnr_median": null' in text
    (finished / "results.json").write_text(text.replace('"psnr_median": null', '"psnr_median": Infinity'))
    code, _, err = cli(["report", finished, "--quiet"], capsys)
    assert code == 0 and err == ""
    assert psnr_median_cell(finished, "Original") == "∞"
