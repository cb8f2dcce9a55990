"""Tables: one layout (methods as rows, a column per run), its column labels, Markdown and CSV."""

from __future__ import annotations

import pytest

from hashattack.reporting.tables import (column_label, csv_text, markdown, nt_table, parse_markdown, results_table,
                                         table1, table2, table3, write_table)

README_TABLE = """| Method   | Metric | 32 bits |
|----------|--------|---------|
| Original | t-MAP  | 2.20    |
| Noise    | t-MAP  | 2.35    |
| P2P      | t-MAP  | 64.13   |
| DHTA     | t-MAP  | 71.62   |
| Original | MAP    | 79.99   |
"""
ROW = {"bits": 32, "Original t-MAP": 0.022, "Noise t-MAP": 0.0235, "P2P t-MAP": 0.6413, "DHTA t-MAP": 0.7162,
       "Original MAP": 0.7999}


def test_results_table_reproduces_the_readme_table():
    assert markdown(*results_table([("32 bits", ROW)])) == README_TABLE
    assert markdown(*table1([ROW])) == README_TABLE


def test_rows_follow_the_methods_as_they_appear_and_missing_cells_are_empty():
    header, body = results_table([("ε = 0.01", {"Feature t-MAP": 0.1, "DHTA t-MAP": 0.5}),
                                  ("ε = 0.02", {"DHTA t-MAP": 0.6, "Original MAP": 0.8, "P2P t-MAP": 0.55})])
    assert header == ["Method", "Metric", "ε = 0.01", "ε = 0.02"]
    assert body == [["Feature", "t-MAP", "10.00", ""], ["DHTA", "t-MAP", "50.00", "60.00"],
                    ["P2P", "t-MAP", "", "55.00"], ["Original", "MAP", "", "80.00"]]
    assert results_table([]) == (["Method", "Metric"], [])


@pytest.mark.parametrize("axis, value, label", [("bits", 16, "16 bits"), ("eps", 0.02, "ε = 0.02"),
                                                ("eps", 8 / 255, "ε = 0.0313725"), ("n_t", 9, "n_t = 9"),
                                                ("steps", 500, "steps = 500"), ("arch", "alexnet", "arch = alexnet"),
                                                (("bits", "eps"), (32, 0.1), "32 bits, ε = 0.1")])
def test_column_labels(axis, value, label):
    assert column_label(axis, value) == label


def test_markdown_round_trip_and_files(tmp_path):
    header, body = results_table([("16 bits", ROW), ("32 bits", {**ROW, "Noise t-MAP": None})])
    text = write_table(tmp_path, header, body, caption="A caption.")
    assert (tmp_path / "table.md").read_text() == "A caption.\n\n" + text
    assert (tmp_path / "table.csv").read_text() == csv_text(header, body)
    assert parse_markdown((tmp_path / "table.md").read_text()) == ("A caption.", header, body)
    assert parse_markdown("no table here") is None


def test_transitional_layouts_of_the_old_presets():
    assert table2([0.1, 0.02], [0.5, 0.25], "tiny") == (["ε", "0.1", "0.02"], [["tiny", "50.00", "25.00"]])
    assert table3([{"bits": 16, "Feature t-MAP": 0.1, "DHTA t-MAP": 0.5}]) == (
        ["Method", "16 bits"], [["Feature-based Attack", "10.00"], ["DHTA", "50.00"]])
    assert nt_table([1, 3], [0.2, 0.4]) == (["n_t", "1", "3"], [["DHTA t-MAP", "20.00", "40.00"]])
