"""The run-folder format: the names of the files hashattack writes into an output folder, and the format ids in them.

The protocol writes run, sweep, transfer and robustness folders and the reporting layer reads them
back; both take every name from here, so a writer and its reader cannot drift apart. A base module
(like `errors` and `files`), so any layer may import it. Layout of a run folder::

    run.json, run.lock      the run's fingerprint; the lock held while a process writes the folder
    manifest.json           queries, targets and anchors (rerun exactly with --manifest)
    batches/                one JSON file per method and batch of attacked queries
    results.json            every number of the run
    table.md, table.csv     the table
    timing.json             wall-clock seconds (kept out of results.json so results are byte-stable)
    curves.json, examples.npz, figures/, export/, report.md, report.html, config.resolved.toml

A sweep folder holds sweep.json and one run folder per point; a transfer matrix transfer.json; a
robustness comparison robustness.json; a black-box audit service_audit.json. Changing a name or an
id here changes the format: folders written before would no longer be read or resumed.
"""

from __future__ import annotations

RUN_FILE = "run.json"
LOCK_FILE = "run.lock"
MANIFEST_FILE = "manifest.json"
BATCH_DIR = "batches"
RESULTS_FILE = "results.json"
TABLE_NAME = "table"                       # written as TABLE_FILE and TABLE_CSV by `reporting.tables.write_table`
TABLE_FILE, TABLE_CSV = f"{TABLE_NAME}.md", f"{TABLE_NAME}.csv"
TIMING_FILE = "timing.json"
CURVES_FILE = "curves.json"
EXAMPLES_FILE = "examples.npz"
FIGURE_DIR = "figures"
EXPORT_DIR = "export"
REPORT_MD, REPORT_HTML = "report.md", "report.html"
CONFIG_FILE = "config.resolved.toml"
SWEEP_FILE = "sweep.json"
TRANSFER_FILE = "transfer.json"
ROBUSTNESS_FILE = "robustness.json"
AUDIT_FILE = "service_audit.json"

RESULT_FILES = (MANIFEST_FILE, RESULTS_FILE, TABLE_FILE, TABLE_CSV, TIMING_FILE)   # what a finished run adds
KINDS = {"run": (RUN_FILE, RESULTS_FILE), "sweep": (SWEEP_FILE,), "transfer": (TRANSFER_FILE,),
         "robustness": (ROBUSTNESS_FILE,)}   # the kinds of output folder, each by the files that tell it

RUN_FORMAT = "hashattack-run/1"
BATCH_FORMAT = "hashattack-batch/2"
MANIFEST_FORMAT = "hashattack-manifest/1"
SWEEP_FORMAT = "hashattack-sweep/1"
TRANSFER_FORMAT = "hashattack-transfer/1"

SWEEP_AXES = ("bits", "eps", "n_t", "steps")   # the settings a sweep varies; a report looks for these

__all__ = ["RUN_FILE", "LOCK_FILE", "MANIFEST_FILE", "BATCH_DIR", "RESULTS_FILE", "TABLE_NAME", "TABLE_FILE",
           "TABLE_CSV", "TIMING_FILE", "CURVES_FILE", "EXAMPLES_FILE", "FIGURE_DIR", "EXPORT_DIR", "REPORT_MD",
           "REPORT_HTML", "CONFIG_FILE", "SWEEP_FILE", "TRANSFER_FILE", "ROBUSTNESS_FILE", "AUDIT_FILE",
           "RESULT_FILES", "KINDS", "RUN_FORMAT", "BATCH_FORMAT", "MANIFEST_FORMAT", "SWEEP_FORMAT",
           "TRANSFER_FORMAT", "SWEEP_AXES"]
