"""Hostile run folders that try to make hashattack write outside them: a symlinked run.lock, export
names with `..`, sweep.json names out of the folder, symlinked figures/ export/ batches/, stale
temporary files through links; commands that must take a folder's lock and refuse a folder of
another kind; report links, cell and file sizes; an empty --out. Each case: the documented exit
status, at most one line on stderr, no traceback, old results intact, and nothing outside the run
folder changed (a sentinel tree beside it, hashed before and after)."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import hashattack.files as files
import hashattack.reporting.run_records as run_records
from hashattack.cli.main import main
from hashattack.errors import InputError
from hashattack.files import atomic_write_text, confined_name, remove_stale_temporaries
from hashattack.protocol.export import export_name
from hashattack.protocol.run_lock import LOCK_FILE, RunLock
from run_helpers import cli, folder_snapshot, hostile_demo_args, one_line, tiny_demo_args


demo_args = hostile_demo_args


def tree_hash(root: Path) -> dict[str, str]:
    """Every entry below `root` without following links: a file's SHA-256, a link's target, a folder's mode."""
    out = {}
    for folder, dirs, names in os.walk(root, followlinks=False):
        for name in dirs + names:
            path = Path(folder) / name
            rel = str(path.relative_to(root))
            if path.is_symlink():
                out[rel] = "link -> " + os.readlink(path)
            elif path.is_dir():
                out[rel] = f"folder {oct(path.stat().st_mode)}"
            else:
                out[rel] = hashlib.sha256(path.read_bytes()).hexdigest()
    return out


@pytest.fixture
def sentinel(tmp_path) -> Path:
    """A folder of files beside the run folder, the targets of the hostile links."""
    root = tmp_path / "outside"
    (root / "folder").mkdir(parents=True)
    (root / "target.txt").write_text("a file outside the run folder\n")
    (root / "secret.md").write_text("| a | b |\n|---|---|\n| secret | table |\n")
    (root / "folder" / "kept.txt").write_text("kept\n")
    (root / "folder" / ".kept.png.0000.tmp").write_text("not a temporary file of this run\n")
    (root / "victim").mkdir()
    (root / "victim" / "results.json").write_text("{}\n")
    return root


@pytest.fixture(scope="module")
def clean(fake_fmnist, tmp_path_factory) -> dict:
    """A finished 4-query run (no figures) and a finished sweep over two eps, on one model cache."""
    root = tmp_path_factory.mktemp("writes")
    cache = root / "cache"
    assert main([str(a) for a in demo_args(fake_fmnist, cache, root / "run", "--eps", "0.2")]) == 0
    assert main([str(a) for a in demo_args(fake_fmnist, cache, root / "sweep", "--eps", "0.1", "0.2")]) == 0
    return {"cache": cache, "data": fake_fmnist, "run": root / "run", "sweep": root / "sweep"}


@pytest.fixture
def finished(clean, tmp_path) -> Path:
    out = tmp_path / "run"
    shutil.copytree(clean["run"], out, symlinks=True)
    return out


@pytest.fixture
def sweep(clean, tmp_path) -> Path:
    out = tmp_path / "sweep"
    shutil.copytree(clean["sweep"], out, symlinks=True)
    return out


def rerun(clean, out: Path, capsys, *extra) -> tuple[int, str, str]:
    return cli(demo_args(clean["data"], clean["cache"], out, "--eps", "0.2", *extra), capsys)


def results_of(folder: Path) -> dict[str, bytes]:
    return {name: (folder / name).read_bytes() for name in ("results.json", "table.md", "manifest.json", "run.json")}


# ---- run.lock that is not a regular file ----

def _lock_to_existing(run: Path, outside: Path) -> None:
    (run / LOCK_FILE).symlink_to(outside / "target.txt")


def _lock_to_missing(run: Path, outside: Path) -> None:
    (run / LOCK_FILE).symlink_to(outside / "created-by-the-lock")


def _lock_to_folder(run: Path, outside: Path) -> None:
    (run / LOCK_FILE).symlink_to(outside / "folder")


def _lock_is_a_fifo(run: Path, outside: Path) -> None:
    os.mkfifo(run / LOCK_FILE)


def _lock_is_a_folder(run: Path, outside: Path) -> None:
    (run / LOCK_FILE).mkdir()


@pytest.mark.parametrize("command", ["rerun", "report"])
@pytest.mark.parametrize("damage", [_lock_to_existing, _lock_to_missing, _lock_to_folder, _lock_is_a_fifo,
                                    _lock_is_a_folder])
def test_a_run_lock_that_is_not_a_regular_file_is_refused(clean, finished, sentinel, capsys, command, damage):
    damage(finished, sentinel)
    before, outside = folder_snapshot(finished), tree_hash(sentinel)
    if command == "rerun":
        code, _, err = rerun(clean, finished, capsys)
    else:
        code, _, err = cli(["report", finished, "--quiet"], capsys)
    assert code == 2 and f"{finished / LOCK_FILE}: not a regular file" in one_line(err)
    assert tree_hash(sentinel) == outside and folder_snapshot(finished) == before
    assert not (sentinel / "created-by-the-lock").exists()


def test_the_lock_of_a_sweep_and_of_a_transfer_is_not_followed(clean, tmp_path, sentinel, capsys):
    outside = tree_hash(sentinel)
    for name, args in (("sweep", demo_args(clean["data"], clean["cache"], tmp_path / "sweep", "--eps", "0.1", "0.2")),
                       ("transfer", ["transfer", "--data", clean["data"], "--victims", "small-cnn",
                                     "--out", tmp_path / "transfer", "--quiet"])):
        (tmp_path / name).mkdir()
        (tmp_path / name / LOCK_FILE).symlink_to(sentinel / "target.txt")
        code, _, err = cli(args, capsys)
        assert code == 2 and "run.lock: not a regular file" in one_line(err), name
        assert sorted(p.name for p in (tmp_path / name).iterdir()) == [LOCK_FILE]
    assert tree_hash(sentinel) == outside


# ---- names from data: export names and sweep.json ----

@pytest.mark.parametrize("name, kept", [
    ("../../../photos/cat/img0", "__/__/__/photos/cat/img0"),
    ("/etc/passwd", "etc/passwd"),
    ("cat/./../../x", "cat/__/__/x"),
    (".hidden/.x.tmp", "_.hidden/_.x.tmp"),
    ("..", "__"),
    ("a\\..\\b", "a_.._b"),
    ("", "_"),
])
def test_an_export_name_stays_inside_the_export_folder(name, kept):
    assert export_name(name) == kept
    assert ".." not in Path(export_name(name)).parts and not export_name(name).startswith("/")


@pytest.mark.parametrize("name", ["../x", "/abs", "a/../b", "", ".hidden", "a//b", "a\\b"])
def test_a_name_read_from_a_file_must_stay_inside_its_folder(name):
    with pytest.raises(InputError, match="does not name a file inside the folder"):
        confined_name(name, "sweep.json")


def _photos(root: Path, classes=("cat", "dog"), per_class: int = 4) -> list[Path]:
    rng = np.random.default_rng(0)
    made = []
    for c in classes:
        (root / c).mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            path = root / c / f"img{i}.png"
            Image.fromarray(rng.integers(0, 255, (12, 12, 3), dtype=np.uint8)).save(path)
            made.append(path)
    return made


def test_export_of_list_file_paths_with_dotdot_writes_only_inside_the_run(tmp_path, capsys):
    """Query paths climbing out of the list's folder name files `../../../photos/cat/img0`: exported under
    export/<method>/__/..., never over the source images beside the run folder."""
    photos = tmp_path / "photos"
    _photos(photos)
    lists = tmp_path / "deep" / "er" / "lists"
    _photos(lists / "local", classes=("cat",), per_class=1)
    vectors = {"cat": "1 0", "dog": "0 1"}
    (lists / "database.txt").write_text("".join(f"../../../photos/{c}/img{i}.png {v}\n"
                                                for c, v in vectors.items() for i in range(3)))
    (lists / "queries.txt").write_text("../../../photos/cat/img3.png 1 0\n../../../photos/dog/img3.png 0 1\n"
                                       "local/cat/img0.png 1 0\n")
    outside = tree_hash(tmp_path / "photos") | {"lists": json.dumps(tree_hash(lists))}
    out = tmp_path / "run"
    code, _, err = cli(["demo", "--dataset", "images", "--data", lists / "database.txt", "--query-data",
                        lists / "queries.txt", "--size", "12", "--bits", "8", "--epochs", "1", "--steps", "2",
                        "--n-t", "1", "--methods", "P2P", "--eps", "0.05", "--export", "--quiet", "--no-figures",
                        "--out", out, "--cache-dir", tmp_path / "cache"], capsys)
    assert code == 0 and err == ""
    assert tree_hash(tmp_path / "photos") | {"lists": json.dumps(tree_hash(lists))} == outside
    sources = json.loads((out / "results.json").read_text())["export"]["sources"]
    assert any(n.startswith("../") for n in sources.values())
    for name in sources.values():
        assert (out / "export" / "P2P" / f"{export_name(name)}.png").is_file()
    written = [p for p in out.rglob("*.png")]
    assert written and all(p.resolve().is_relative_to(out.resolve()) for p in written)
    index = (out / "export" / "index.csv").read_text()
    assert "P2P/__/__/__/photos/cat/img3.png" in index


def _write_sweep(sweep: Path, **changes) -> None:
    record = json.loads((sweep / "sweep.json").read_text())
    record.update(changes)
    (sweep / "sweep.json").write_text(json.dumps(record))


@pytest.mark.parametrize("runs, table, message", [
    (["../victim"], "table.md", "'../victim' does not name a file inside the folder"),
    (["eps-0.1", "/etc"], "table.md", "'/etc' does not name a file inside the folder"),
    (["eps-0.1"], "../outside/secret.md", "does not name a file inside the folder"),
    (["eps-0.1"], "/etc/passwd", "'/etc/passwd' does not name a file inside the folder"),
    (["eps-0.1", "eps-0.2/../../outside/victim"], "table.md", "does not name a file inside the folder"),
])
def test_report_refuses_sweep_names_out_of_the_folder(sweep, sentinel, capsys, runs, table, message):
    _write_sweep(sweep, runs=runs, table=table)
    before, outside = folder_snapshot(sweep), tree_hash(sentinel)
    code, _, err = cli(["report", sweep, "--quiet"], capsys)
    assert code == 2 and "sweep.json" in one_line(err) and message in err
    assert folder_snapshot(sweep) == before and tree_hash(sentinel) == outside


def test_report_refuses_a_sweep_run_that_links_out(sweep, sentinel, capsys):
    shutil.copytree(sweep / "eps-0.1", sentinel / "linked-run")
    (sweep / "linked").symlink_to(sentinel / "linked-run")
    _write_sweep(sweep, runs=["eps-0.1", "linked"])
    outside = tree_hash(sentinel)
    code, _, err = cli(["report", sweep, "--quiet"], capsys)
    assert code == 2 and "run 'linked' is a symbolic link" in one_line(err)
    assert tree_hash(sentinel) == outside


def test_report_embeds_no_table_file_linked_out_of_the_sweep(sweep, sentinel, capsys):
    (sweep / "linked-table.md").symlink_to(sentinel / "secret.md")
    _write_sweep(sweep, table="linked-table.md")
    code, _, err = cli(["report", sweep, "--quiet"], capsys)
    assert code == 0 and err == ""
    assert "secret" not in (sweep / "report.md").read_text()


def test_a_folder_below_without_sweep_json_is_not_reached_through_a_link(finished, sentinel, tmp_path, capsys):
    top = tmp_path / "top"
    shutil.copytree(finished, top / "a")
    shutil.copytree(finished, sentinel / "b")
    (top / "b").symlink_to(sentinel / "b")
    outside = tree_hash(sentinel)
    code, _, err = cli(["report", top, "--quiet"], capsys)
    assert code == 0 and err == ""
    assert "Run b" not in (top / "report.md").read_text() and tree_hash(sentinel) == outside


# ---- sub-folders that are links: never written through, temporaries never deleted through them ----

def test_a_figures_folder_linked_out_is_refused_and_nothing_written_through_it(clean, finished, sentinel, capsys):
    (finished / "figures").symlink_to(sentinel / "folder")
    before, outside = results_of(finished), tree_hash(sentinel)
    code, _, err = cli(tiny_demo_args(clean["data"], clean["cache"], finished, steps=2, queries=4) + ["--eps", "0.2"],
                       capsys)
    assert code == 2 and f"{finished / 'figures'}: a symbolic link inside the run folder" in one_line(err)
    assert tree_hash(sentinel) == outside and results_of(finished) == before
    assert not (finished / LOCK_FILE).exists()


def test_an_export_folder_linked_out_is_refused_and_its_temporaries_are_kept(clean, tmp_path, sentinel, capsys):
    out = tmp_path / "run"
    out.mkdir()
    (out / "export").symlink_to(sentinel / "folder")
    outside = tree_hash(sentinel)
    code, _, err = cli(demo_args(clean["data"], clean["cache"], out, "--export", "--methods", "DHTA"), capsys)
    assert code == 2 and f"{out / 'export'}: a symbolic link inside the run folder" in one_line(err)
    assert tree_hash(sentinel) == outside and (sentinel / "folder" / ".kept.png.0000.tmp").is_file()


def test_an_export_sub_folder_linked_out_is_refused(clean, tmp_path, sentinel, capsys):
    out = tmp_path / "run"
    (out / "export" / "perturbation").mkdir(parents=True)
    (out / "export" / "DHTA").symlink_to(sentinel / "folder")
    (out / "export" / "perturbation" / "DHTA").symlink_to(sentinel / "folder")
    outside = tree_hash(sentinel)
    code, _, err = cli(demo_args(clean["data"], clean["cache"], out, "--export", "--methods", "DHTA"), capsys)
    assert code == 2 and "DHTA: a symbolic link inside the run folder" in one_line(err)
    assert tree_hash(sentinel) == outside


def test_a_batches_folder_linked_out_is_unlinked_and_its_target_kept(clean, finished, sentinel, capsys):
    (sentinel / "folder" / "DHTA-00000.json").write_text("{}")
    shutil.rmtree(finished / "batches")
    (finished / "batches").symlink_to(sentinel / "folder")
    outside = tree_hash(sentinel)
    code, out, err = rerun(clean, finished, capsys)
    assert code == 0 and "batches: not a folder; removed" in one_line(err)
    timing = json.loads((finished / "timing.json").read_text())
    assert timing["batches_reused"] == 0 and timing["batches_attacked"] == 8
    assert (finished / "batches").is_dir() and not (finished / "batches").is_symlink()
    assert tree_hash(sentinel) == outside
    assert (finished / "results.json").read_bytes() == (clean["run"] / "results.json").read_bytes()


def test_stale_temporaries_are_removed_without_following_links(finished, sentinel):
    (finished / ".results.json.dead.tmp").write_text("half")
    (finished / "batches" / ".DHTA-00000.json.dead.tmp").write_text("half")
    (finished / ".linked.tmp").symlink_to(sentinel / "target.txt")
    (finished / "figures").symlink_to(sentinel / "folder")
    outside = tree_hash(sentinel)
    remove_stale_temporaries(finished, (".", "batches", "figures"), recursive=True)
    assert not list(finished.glob(".*.tmp")) and not list((finished / "batches").glob(".*.tmp"))
    assert not (finished / ".linked.tmp").is_symlink() and tree_hash(sentinel) == outside


@pytest.mark.parametrize("path", ["../escape.txt", "sub/../../escape.txt", "link/inside.txt", "file/inside.txt"])
def test_a_confined_write_refuses_a_way_out(tmp_path, sentinel, path):
    root = tmp_path / "root"
    root.mkdir()
    (root / "link").symlink_to(sentinel / "folder")
    (root / "file").write_text("a file")
    outside = tree_hash(sentinel)
    with pytest.raises(InputError, match="run folder"):
        atomic_write_text(root / path, "x", inside=root)
    assert tree_hash(sentinel) == outside and not (tmp_path / "escape.txt").exists()
    assert sorted(p.name for p in root.iterdir()) == ["file", "link"]


def test_a_write_under_a_locked_folder_is_confined_to_it(tmp_path, sentinel):
    root = tmp_path / "root"
    root.mkdir()
    (root / "figures").symlink_to(sentinel / "folder")
    outside = tree_hash(sentinel)
    lock = RunLock(root)
    lock.acquire()
    try:
        with pytest.raises(InputError, match="a symbolic link inside the run folder"):
            atomic_write_text(root / "figures" / "x.png", "x")
        atomic_write_text(root / "deep" / "er" / "x.txt", "inside")
    finally:
        lock.release()
    assert (root / "deep" / "er" / "x.txt").read_text() == "inside" and tree_hash(sentinel) == outside
    assert sorted(p.name for p in root.iterdir()) == ["deep", "figures"]


def test_a_sweep_report_does_not_write_figures_through_a_link(sweep, sentinel, capsys):
    shutil.rmtree(sweep / "figures", ignore_errors=True)
    (sweep / "figures").symlink_to(sentinel / "folder")
    outside = tree_hash(sentinel)
    code, _, err = cli(["report", sweep, "--quiet"], capsys)
    assert code == 2 and "figures: a symbolic link inside the run folder" in one_line(err)
    assert tree_hash(sentinel) == outside and not (sweep / LOCK_FILE).exists()


# ---- every writer takes the folder's lock and refuses another kind of folder ----

def transfer_args(clean, out: Path, *extra) -> list:
    return ["transfer", "--data", clean["data"], "--cache-dir", clean["cache"], "--train-per-class", "5", "--epochs",
            "1", "--bits", "16", "--queries", "4", "--batch-size", "2", "--steps", "2", "--n-t", "3", "--topk", "50",
            "--victims", "small-cnn", "--out", out, "--quiet", *extra]


@pytest.mark.parametrize("extra", [(), ("--force",)])
def test_transfer_refuses_a_folder_in_use(clean, tmp_path, capsys, extra):
    out = tmp_path / "transfer"
    out.mkdir()
    lock = RunLock(out)
    lock.acquire()
    try:
        code, _, err = cli(transfer_args(clean, out, *extra), capsys)
    finally:
        lock.release()
    assert code == 2 and f"run folder {out} is in use by pid {os.getpid()}" in one_line(err)
    assert list(out.iterdir()) == []


@pytest.mark.parametrize("which, kind", [("run", "run"), ("sweep", "sweep")])
@pytest.mark.parametrize("extra", [(), ("--force",)])
def test_transfer_refuses_a_run_or_sweep_folder(clean, tmp_path, capsys, which, kind, extra):
    out = tmp_path / which
    shutil.copytree(clean[which], out)
    before = folder_snapshot(out)
    code, _, err = cli(transfer_args(clean, out, *extra), capsys)
    assert code == 2 and f"run folder {out} holds a {kind}" in one_line(err) and "not a transfer" in err
    assert folder_snapshot(out) == before


def test_transfer_refuses_a_matrix_with_other_settings_unless_forced(clean, tmp_path, capsys):
    out = tmp_path / "transfer"
    assert cli(transfer_args(clean, out), capsys)[0] == 0
    before = folder_snapshot(out)
    code, _, err = cli(transfer_args(clean, out, "--eps", "0.05"), capsys)
    assert code == 2 and "holds a transfer matrix with other settings (settings.eps" in one_line(err)
    assert folder_snapshot(out) == before
    code, _, err = cli(transfer_args(clean, out), capsys)   # the same matrix again: resumed
    assert code == 0 and err == ""
    assert json.loads((out / "transfer.json").read_text())["matrix"] == json.loads(before["transfer.json"])["matrix"]
    code, _, err = cli(transfer_args(clean, out, "--eps", "0.05", "--force"), capsys)
    assert code == 0 and json.loads((out / "transfer.json").read_text())["settings"]["eps"] == 0.05


@pytest.mark.parametrize("extra", [(), ("--force",)])
def test_a_sweep_refuses_a_single_runs_folder(clean, finished, capsys, extra):
    before = folder_snapshot(finished)
    code, _, err = cli(demo_args(clean["data"], clean["cache"], finished, "--eps", "0.1", "0.2", *extra), capsys)
    assert code == 2 and f"run folder {finished} holds a run (run.json), not a sweep" in one_line(err)
    assert folder_snapshot(finished) == before


def test_a_sweep_refuses_another_sweeps_folder_unless_forced(clean, sweep, capsys):
    before = folder_snapshot(sweep)
    for extra, steps in ((["--eps", "0.1", "0.2"], 3), (["--bits", "16", "24"], 2)):
        code, _, err = cli(demo_args(clean["data"], clean["cache"], sweep, *extra, steps=steps), capsys)
        assert code == 2 and f"run folder {sweep} holds a sweep with other settings" in one_line(err), extra
    assert folder_snapshot(sweep) == before
    code, out, err = cli(demo_args(clean["data"], clean["cache"], sweep, "--eps", "0.1", "0.2"), capsys)
    assert code == 0 and err == ""   # the same sweep: resumed
    assert (sweep / "sweep.json").read_bytes() == before["sweep.json"]


@pytest.mark.parametrize("kind, file", [("transfer", "transfer.json"), ("robustness", "robustness.json")])
@pytest.mark.parametrize("extra", [(), ("--force",)])
def test_a_run_refuses_a_transfer_or_robustness_folder(clean, tmp_path, capsys, kind, file, extra):
    out = tmp_path / kind
    out.mkdir()
    (out / file).write_text("{}")
    code, _, err = cli(demo_args(clean["data"], clean["cache"], out, *extra), capsys)
    assert code == 2 and f"run folder {out} holds a {kind} ({file}), not a run" in one_line(err)
    assert sorted(p.name for p in out.iterdir()) == [file]


def test_robustness_refuses_a_run_folder_and_one_in_use(clean, finished, tmp_path, capsys):
    before = folder_snapshot(finished)
    code, _, err = cli(["robustness", "--from-runs", clean["run"], "--out", finished], capsys)
    assert code == 2 and "holds a run (run.json), not a robustness" in one_line(err)
    assert folder_snapshot(finished) == before
    out = tmp_path / "robustness"
    out.mkdir()
    lock = RunLock(out)
    lock.acquire()
    try:
        code, _, err = cli(["robustness", "--from-runs", clean["run"], "--out", out], capsys)
    finally:
        lock.release()
    assert code == 2 and f"run folder {out} is in use by pid {os.getpid()}" in one_line(err)
    assert list(out.iterdir()) == []


# ---- the report: links, sizes, temporaries of a killed report ----

@pytest.mark.parametrize("name", ["javascript:alert(1)", "data:text,x", "https:evil", "a b)c"])
def test_report_links_are_relative_paths_only(sweep, capsys, name):
    shutil.copytree(sweep / "eps-0.1", sweep / name)
    _write_sweep(sweep, runs=[name, "eps-0.2"])
    code, _, err = cli(["report", sweep, "--quiet"], capsys)
    assert code == 0 and err == ""
    page, md = (sweep / "report.html").read_text(), (sweep / "report.md").read_text()
    hrefs = [part.split('"')[0] for part in page.split('href="')[1:]]
    assert hrefs and all(":" not in h and not h.startswith(("/", "..")) for h in hrefs), hrefs
    assert f"]({name.split(':')[0]}:" not in md and "](javascript:" not in md


@pytest.mark.parametrize("where", ["settings", "method"])
def test_a_huge_cell_is_cut_in_the_report(finished, capsys, where):
    record = json.loads((finished / "results.json").read_text())
    padding = "x" * 3_000_000
    if where == "settings":
        record["settings"]["note"] = padding
    else:
        record["methods"]["DHTA" + padding[:100_000]] = record["methods"].pop("DHTA")
    (finished / "results.json").write_text(json.dumps(record))
    code, _, err = cli(["report", finished, "--quiet"], capsys)
    assert code == 0 and err == ""
    for name in ("report.md", "report.html"):
        size = (finished / name).stat().st_size
        assert size < 200_000, (name, size)
        assert "(cut: " in (finished / name).read_text()


def test_a_huge_sweep_table_is_one_line(sweep, capsys):
    cell = "y" * 100_000
    (sweep / "table.md").write_text("caption\n\n| a | b |\n|---|---|\n" + f"| {cell} | {cell} |\n" * 20)
    before = (sweep / "report.md").read_bytes()
    code, _, err = cli(["report", sweep, "--quiet"], capsys)
    assert code == 2 and "table.md: sweep table of 4,000,189 bytes is larger than the limit of 1,048,576 bytes" in one_line(err)
    assert (sweep / "report.md").read_bytes() == before


def test_a_huge_results_file_is_one_line(finished, capsys, monkeypatch):
    monkeypatch.setattr(run_records, "MAX_RECORD_BYTES", 2**20)
    record = json.loads((finished / "results.json").read_text())
    record["settings"]["note"] = "z" * (2**20)
    (finished / "results.json").write_text(json.dumps(record))
    code, _, err = cli(["report", finished, "--quiet"], capsys)
    assert code == 2 and "results.json: results of" in one_line(err) and "larger than the limit of 1,048,576 bytes" in err


def test_the_temporaries_of_a_killed_report_are_removed_on_the_next_one(finished, sentinel, capsys):
    (finished / ".report.md.dead0001.tmp").write_text("a report killed half-way")
    (finished / ".report.html.dead0002.tmp").symlink_to(sentinel / "target.txt")
    (finished / "figures").mkdir()
    (finished / "figures" / ".tmap_vs_eps.png.dead.tmp").write_bytes(b"half a png")
    outside = tree_hash(sentinel)
    code, _, err = cli(["report", finished, "--quiet"], capsys)
    assert code == 0 and err == ""
    assert not list(finished.rglob(".*.tmp")) and not (finished / ".report.html.dead0002.tmp").is_symlink()
    assert tree_hash(sentinel) == outside


def test_a_report_interrupted_while_writing_leaves_no_temporary(finished, capsys, monkeypatch):
    real = files.os.replace

    def killed(src, dst, *args, **kwargs):
        if str(dst).endswith("report.html"):
            raise KeyboardInterrupt
        return real(src, dst, *args, **kwargs)

    monkeypatch.setattr(files.os, "replace", killed)
    assert main(["report", str(finished), "--quiet"]) == 130
    monkeypatch.undo()
    assert not list(finished.glob(".*.tmp")) and not (finished / LOCK_FILE).exists()


# ---- an empty --out ----

@pytest.mark.parametrize("args", [
    lambda c: demo_args(c["data"], c["cache"], Path("x")),
    lambda c: ["transfer", "--data", c["data"], "--victims", "small-cnn", "--out", "x"],
    lambda c: ["train", "--data", c["data"], "--out", "x"],
    lambda c: ["report", "x"],
    lambda c: ["lists", "imagenet100", "--root", c["data"], "--out", "x"],
], ids=["demo", "transfer", "train", "report", "lists"])
@pytest.mark.parametrize("empty", ["", " "])
def test_an_empty_out_is_refused(clean, tmp_path, capsys, monkeypatch, args, empty):
    monkeypatch.chdir(tmp_path)
    argv = [str(a) for a in args(clean)]
    argv[len(argv) - 1 - argv[::-1].index("x")] = empty
    code, _, err = cli(argv, capsys)
    assert code == 2 and f"expected a file or folder path, got {empty!r}" in one_line(err)
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_an_empty_out_in_a_config_is_refused(clean, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    config = tmp_path.parent / f"{tmp_path.name}-empty-out.toml"
    config.write_text(f'command = "demo"\ndata = "{clean["data"]}"\nout = ""\n')
    code, _, err = cli(["run", config], capsys)
    assert code == 2 and "got ''" in one_line(err)
    assert list(tmp_path.iterdir()) == []


# ---- nothing outside the run folder changed, across hostile runs ----

def test_nothing_outside_the_run_folder_changes_across_hostile_runs(clean, tmp_path, sentinel, capsys):
    """One run folder full of links out (run.lock, figures/, export/, a sweep name), several commands on it:
    the sentinel tree beside it is byte-identical after each."""
    outside = tree_hash(sentinel)
    out = tmp_path / "hostile"
    shutil.copytree(clean["run"], out)
    attempts = [
        (lambda: (out / LOCK_FILE).symlink_to(sentinel / "target.txt"), rerun, 2),
        (lambda: (out / LOCK_FILE).unlink(), lambda *a: cli(["report", out, "--quiet"], capsys), 0),
        (lambda: (out / "figures").symlink_to(sentinel / "folder"),
         lambda *a: cli(tiny_demo_args(clean["data"], clean["cache"], out, steps=2, queries=4) + ["--eps", "0.2"],
                        capsys), 2),
        (lambda: (out / "export").symlink_to(sentinel / "folder"),   # --force unlinks it, then writes a folder
         lambda *a: cli(demo_args(clean["data"], clean["cache"], out, "--eps", "0.2", "--export", "--force"),
                        capsys), 0),
        (lambda: (out / "sweep.json").write_text(json.dumps({"format": "hashattack-sweep/1", "axes": {},
                                                             "runs": ["../outside/victim"]})),
         lambda *a: cli(["report", out, "--quiet"], capsys), 2),
        (lambda: None, lambda *a: cli(transfer_args(clean, out), capsys), 2),
    ]
    for prepare, command, expected in attempts:
        prepare()
        code, _, err = command(clean, out, capsys)
        assert code == expected, err
        assert err == "" if expected == 0 else one_line(err)
        assert tree_hash(sentinel) == outside, err
    assert (out / "export").is_dir() and not (out / "export").is_symlink() and (out / "figures").is_symlink()
