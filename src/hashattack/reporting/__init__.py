"""What a run shows: tables in the paper's layout, figures, the HTML / Markdown report, the console summary."""

from hashattack.reporting.report import write_report
from hashattack.reporting.tables import results_table, write_table

__all__ = ["write_report", "results_table", "write_table"]
