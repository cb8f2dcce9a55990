"""The run-folder format has one home, `hashattack.run_format`: what the protocol writes and the reporting
layer reads are its names, and no module of either retypes them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hashattack import run_format as fmt
from hashattack.errors import InputError
from hashattack.protocol.runfolder import check_folder_kind
from hashattack.reporting.run_records import load_runs
from hashattack.reporting.summary import FILE_ROLES, run_summary
from run_helpers import cli, tiny_demo_args
from test_layers import string_constants

SRC = Path(__file__).resolve().parents[1] / "src" / "hashattack"
FILE_NAMES = {value for name, value in vars(fmt).items()
              if name.isupper() and isinstance(value, str) and ("." in value or value.startswith("hashattack-"))}


def test_a_run_folder_holds_exactly_the_named_files(fake_fmnist, tmp_path, capsys):
    out = tmp_path / "run"
    code, _, err = cli(tiny_demo_args(fake_fmnist, tmp_path / "cache", out, queries=4), capsys)
    assert code == 0, err
    assert sorted(p.name for p in out.iterdir()) == sorted(
        {fmt.RUN_FILE, fmt.MANIFEST_FILE, fmt.BATCH_DIR, fmt.RESULTS_FILE, fmt.TABLE_FILE, fmt.TABLE_CSV,
         fmt.TIMING_FILE, fmt.CURVES_FILE, fmt.EXAMPLES_FILE, fmt.FIGURE_DIR, fmt.REPORT_MD, fmt.REPORT_HTML,
         fmt.CONFIG_FILE})
    assert set(fmt.RESULT_FILES) <= {p.name for p in out.iterdir()}
    assert json.loads((out / fmt.RUN_FILE).read_text())["format"] == fmt.RUN_FORMAT
    assert json.loads((out / fmt.MANIFEST_FILE).read_text())["format"] == fmt.MANIFEST_FORMAT
    batches = sorted((out / fmt.BATCH_DIR).glob("*.json"))
    assert batches and all(json.loads(p.read_text())["format"] == fmt.BATCH_FORMAT for p in batches)
    # the reporting layer reads it back by the same names: one run, and every file the summary knows of
    assert len(load_runs(out).runs) == 1
    assert all(f"  {name}" in run_summary(out) for name in FILE_ROLES if name != fmt.SWEEP_FILE)
    with pytest.raises(InputError, match=f"holds a run \\({fmt.RUN_FILE}\\)"):
        check_folder_kind(out, "sweep")


def test_a_sweep_folder_is_read_back_by_its_names(fake_fmnist, tmp_path, capsys):
    out = tmp_path / "sweep"
    code, _, err = cli(tiny_demo_args(fake_fmnist, tmp_path / "cache", out, queries=4)[:-6] +
                       ["--steps", "2", "3", "--n-t", "3", "--topk", "50", "--no-figures"], capsys)
    assert code == 0, err
    sweep = json.loads((out / fmt.SWEEP_FILE).read_text())
    assert sweep["format"] == fmt.SWEEP_FORMAT and sweep["table"] == fmt.TABLE_FILE
    assert set(sweep["axes"]) <= set(fmt.SWEEP_AXES)
    assert all((out / name / fmt.RESULTS_FILE).is_file() for name in sweep["runs"])
    runs = load_runs(out)
    assert runs.is_sweep and list(runs.axes) == ["steps"] and len(runs.runs) == 2
    assert {fmt.SWEEP_FILE, fmt.MANIFEST_FILE, fmt.TABLE_FILE, fmt.TIMING_FILE} <= {p.name for p in out.iterdir()}


def test_no_module_retypes_a_name_of_the_format():
    assert FILE_NAMES >= {"run.json", "results.json", "sweep.json", "hashattack-sweep/1", "hashattack-batch/2"}
    found = [f"{path.relative_to(SRC)}:{line}: {value!r}"
             for layer in ("protocol", "reporting", "cli") for path in sorted((SRC / layer).rglob("*.py"))
             for line, value in string_constants(path) if value in FILE_NAMES]
    assert found == []


def test_a_folder_kind_is_one_of_the_format(tmp_path):
    with pytest.raises(ValueError, match="unknown folder kind 'sweeps'"):
        check_folder_kind(tmp_path, "sweeps")
