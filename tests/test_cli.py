"""The `hashattack demo` command end to end on tiny data, manifest re-runs, and one-line errors."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from hashattack.cli.main import main

TINY = ["--queries", "6", "--steps", "6", "--train-per-class", "12", "--epochs", "2", "--batch-size", "4",
        "--topk", "50", "--eps", "0.2", "--quiet"]


def run_demo(fake_fmnist, out, *extra):
    return main(["demo", "--data", str(fake_fmnist), "--out", str(out), "--bits", "16", *TINY, *extra])


def test_demo_writes_the_run_folder_and_prints_the_table(fake_fmnist, tmp_path, capsys):
    assert run_demo(fake_fmnist, tmp_path / "run") == 0
    printed = capsys.readouterr().out
    for row in ("| Original | t-MAP", "| Noise    | t-MAP", "| P2P      | t-MAP", "| DHTA     | t-MAP", "| Original | MAP"):
        assert row in printed
    files = {p.name for p in (tmp_path / "run").iterdir()}
    assert {"results.json", "table.md", "table.csv", "manifest.json"} <= files
    results = json.loads((tmp_path / "run" / "results.json").read_text())
    assert results["conventions"]["eps_space"] == "pixel" and results["conventions"]["map"] == "MAP@50"
    assert set(results["methods"]) == {"Original", "Noise", "P2P", "DHTA"}
    assert results["num_queries"] == 6
    manifest = json.loads((tmp_path / "run" / "manifest.json").read_text())
    assert len(manifest["query_ids"]) == 6 and set(manifest["anchor_ids"]) == {"1", "9"}
    csv = (tmp_path / "run" / "table.csv").read_text().splitlines()
    assert csv[0] == "Method,Metric,16 bits,16 bits (drop)" and len(csv) == 6


def test_a_manifest_reruns_exactly(fake_fmnist, tmp_path):
    assert run_demo(fake_fmnist, tmp_path / "a", "--seed", "3") == 0
    assert run_demo(fake_fmnist, tmp_path / "b", "--manifest", str(tmp_path / "a" / "manifest.json")) == 0
    a = json.loads((tmp_path / "a" / "results.json").read_text())
    b = json.loads((tmp_path / "b" / "results.json").read_text())
    for method in a["methods"]:
        assert a["methods"][method]["codes"] == b["methods"][method]["codes"]
        assert a["methods"][method]["t_map"] == b["methods"][method]["t_map"]
    assert (tmp_path / "a" / "manifest.json").read_bytes() == (tmp_path / "b" / "manifest.json").read_bytes()
    assert (tmp_path / "a" / "table.md").read_bytes() == (tmp_path / "b" / "table.md").read_bytes()


@pytest.mark.parametrize("args, message", [
    (["--eps", "0"], "--eps: expected a positive number, got 0"),
    (["--eps", "-1"], "--eps: expected a positive number"),
    (["--bits", "0"], "--bits: expected a positive integer, got 0"),
    (["--eps-space", "linf"], "invalid choice: 'linf'"),
    (["--zero-relevance", "nan"], "invalid choice: 'nan'"),
    (["--n-t", "13"], "n_t = 13 is too large"),
    (["--eps", "3"], "pixel-space eps must be at most 1"),
])
def test_bad_input_is_one_line_and_exit_2(fake_fmnist, tmp_path, capsys, args, message):
    out = tmp_path / "run"
    assert run_demo(fake_fmnist, out, *args) == 2
    err = capsys.readouterr().err
    assert err.startswith("hashattack: error: ") and message in err and err.count("\n") == 1
    assert not (out / "results.json").exists()


def test_missing_dataset_from_a_real_process(tmp_path):
    done = subprocess.run([sys.executable, "-m", "hashattack", "demo", "--data", str(tmp_path / "none"), "--quiet"],
                          capture_output=True, text=True, cwd=tmp_path)
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr
    assert "apt-get install dataset-fashion-mnist" in done.stderr
