"""Command-line polish: an example in every subcommand's --help, progress bars with ETA that
--quiet silences, and the end-of-run summary saying where the files are."""

from __future__ import annotations

import argparse
import sys

import pytest

from hashattack.cli.main import build_parser, main


def subcommands() -> list[str]:
    action = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    return sorted(action.choices)


@pytest.mark.parametrize("command", subcommands())
def test_every_subcommand_help_has_an_example(command, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main([command, "--help"])
    assert exit_info.value.code == 0
    text = capsys.readouterr().out
    assert "example" in text and f"hashattack {command} " in text


def test_progress_bars_have_an_eta_and_quiet_silences_them(fake_fmnist, tmp_path, capsys, monkeypatch):
    tiny = ["demo", "--data", str(fake_fmnist), "--bits", "16", "--queries", "4", "--steps", "3",
            "--train-per-class", "12", "--epochs", "1", "--topk", "50"]
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True, raising=False)   # bars are for terminals only
    assert main([*tiny, "--out", str(tmp_path / "loud")]) == 0
    captured = capsys.readouterr()
    for bar in ("train:", "encode database:", "DHTA steps:", "P2P steps:"):
        assert bar in captured.err
    assert "<00:" in captured.err or "<?" in captured.err  # tqdm's remaining-time field
    monkeypatch.undo()
    assert main([*tiny, "--out", str(tmp_path / "quiet"), "--quiet"]) == 0
    captured = capsys.readouterr()
    assert captured.err == ""
    summary = captured.out
    assert "| DHTA     | t-MAP" in summary and f"run folder: {tmp_path / 'quiet'}" in summary
    for name in ("results.json", "table.md", "manifest.json", "curves.json", "examples.npz", "figures/"):
        assert f"  {name}" in summary
    assert len(summary.splitlines()) <= 24  # one screen
