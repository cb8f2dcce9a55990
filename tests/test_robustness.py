"""`hashattack robustness` and reporting.robustness at tiny size: one model or several side by side."""

from __future__ import annotations

import json

import numpy as np

from hashattack.cli.main import main
from hashattack.reporting.robustness import robustness_metrics, robustness_table
from hashattack.reporting.tables import parse_markdown
from hashattack.retrieval.metrics import mean_of_average_precisions

TINY = ["--train-per-class", "3", "--queries", "4", "--steps", "2", "--n-t", "2", "--topk", "20", "--batch-size", "4",
        "--quiet", "--no-figures"]


def train(data, out, *extra) -> None:
    assert main(["train", "--data", str(data), "--train-per-class", "3", "--epochs", "1", "--bits", "8",
                 "--out", str(out), "--quiet", *extra]) == 0


def test_robustness_of_two_models_side_by_side(fake_fmnist, tmp_path, capsys):
    train(fake_fmnist, tmp_path / "standard.pt")
    train(fake_fmnist, tmp_path / "robust.pt", "--adversarial", "center", "--adv-steps", "1")
    out = tmp_path / "robustness"
    code = main(["robustness", "--data", str(fake_fmnist), "--checkpoint", str(tmp_path / "standard.pt"),
                 "--checkpoint", str(tmp_path / "robust.pt"), "--eps", "0.1", "0.2", "--out", str(out), *TINY])
    assert code == 0
    printed = capsys.readouterr().out
    assert "robust: adversarial center (eps 0.2 pixel, 1 steps of 2000, mix 0.5)" in printed
    caption, header, body = parse_markdown((out / "robustness.md").read_text().split("\nModels:")[0])
    assert header == ["Model", "Metric", "ε = 0.1", "ε = 0.2"]
    assert [row[:2] for row in body] == [[model, metric + suffix] for model in ("standard", "robust") for metric in
                                         ("Original MAP", "Untargeted MAP", "P2P t-MAP", "DHTA t-MAP")
                                         for suffix in ("", " (drop)")]     # each with the other convention's row
    assert "rows marked (drop): queries with no relevant item" in caption
    assert all(cell for row in body for cell in row)
    saved = json.loads((out / "robustness.json").read_text())
    assert [m["model"] for m in saved["models"]] == ["standard", "robust"]
    assert saved["models"][1]["adversarial"]["method"] == "center" and saved["models"][0]["adversarial"] is None
    assert all(m["train_seconds"] is not None for m in saved["models"])
    assert (out / "figures" / "robustness.png").stat().st_size > 1000
    for model in ("standard", "robust"):        # each model's own sweep folder, its table with the Untargeted MAP
        table = (out / model / "table.md").read_text()
        assert "| Untargeted | MAP" in table and (out / model / "eps-0.2" / "results.json").is_file()
        record = json.loads((out / model / "eps-0.1" / "results.json").read_text())
        untargeted = record["methods"]["Untargeted"]
        assert untargeted["scored_by"] == "map" and len(untargeted["benign_hamming"]) == 4
        assert robustness_metrics(record)["Untargeted MAP"] == untargeted["map"]
        dhta = record["methods"]["DHTA"]
        assert robustness_metrics(record)["DHTA t-MAP (drop)"] == dhta["t_map_by_convention"]["drop"]
        assert abs(dhta["t_map_by_convention"]["drop"] - mean_of_average_precisions(  # the APs are stored to 6 places
            np.array([np.nan if v is None else v for v in dhta["t_ap"]]), "drop")) < 1e-5
    again = tmp_path / "again"                  # the same table from the finished folders, nothing attacked
    assert main(["robustness", "--from-runs", str(out / "standard"), str(out / "robust"), "--out", str(again)]) == 0
    assert (again / "robustness.csv").read_bytes() == (out / "robustness.csv").read_bytes()


def test_robustness_of_a_model_trained_here_adversarially(fake_fmnist, tmp_path, capsys):
    out = tmp_path / "one"
    code = main(["robustness", "--data", str(fake_fmnist), "--epochs", "1", "--bits", "8", "--adversarial",
                 "untargeted", "--adv-steps", "1", "--eps", "0.2", "--cache-dir", str(tmp_path / "cache"),
                 "--out", str(out), *TINY])
    assert code == 0
    record = json.loads((out / "adversarial-untargeted" / "results.json").read_text())
    assert record["model"]["adversarial"]["method"] == "untargeted"
    assert list((tmp_path / "cache").glob("*-adv-untargeted-*.pt.json"))
    assert "adversarial-untargeted: adversarial untargeted" in capsys.readouterr().out


def test_bad_model_lists_are_one_line_errors(fake_fmnist, tmp_path, capsys):
    base = ["robustness", "--data", str(fake_fmnist), "--out", str(tmp_path / "r")]
    assert main([*base, "--checkpoint", "a.pt", "--checkpoint", "b.pt", "--label", "x"]) == 2
    assert "one per --checkpoint" in capsys.readouterr().err
    assert main([*base, "--checkpoint", "a.pt", "--checkpoint", "b/a.pt"]) == 2
    assert "share a label" in capsys.readouterr().err
    assert main([*base, "--checkpoint", "a.pt", "--adversarial", "center"]) == 2
    assert "already trained" in capsys.readouterr().err
    assert main([*base, "--checkpoint", "a.pt", "--from-runs", "r"]) == 2
    assert "not both" in capsys.readouterr().err
    assert main([*base, "--from-runs", str(tmp_path / "none")]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_table_leaves_missing_eps_empty():
    header, body = robustness_table({"a": {0.1: {"DHTA t-MAP": 0.5}, 0.2: {"DHTA t-MAP": 0.75}},
                                     "b": {0.2: {"DHTA t-MAP": 0.25}}})
    assert header == ["Model", "Metric", "ε = 0.1", "ε = 0.2"]
    assert body == [["a", "DHTA t-MAP", "50.00", "75.00"], ["b", "DHTA t-MAP", "", "25.00"]]
