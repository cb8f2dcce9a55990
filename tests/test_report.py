"""`write_report`: the report of one run and of a sweep (sweep.json, or runs found below a folder),
its content, and the report rendered in headless Chromium (screenshot not blank, every image
decoded, tables present). Run folders are written by hand (see test_reporting_run_figures)."""

from __future__ import annotations

import json
import os
import re

import numpy as np
import pytest
from PIL import Image

from hashattack.errors import InputError
from hashattack.reporting.browser import find_chromium, render
from hashattack.reporting.report import write_report
from hashattack.reporting.tables import markdown, results_table

from test_reporting_run_figures import IMAGE_FIGURES, VIDEO_FIGURES, tiny_dataset, write_run_folder


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("report") / "run"
    write_run_folder(out, tiny_dataset())
    return out


def test_report_markdown_and_html(run_dir):
    paths = write_report(run_dir)
    assert paths["html"] == run_dir / "report.html" and paths["figures"] == [] and paths["runs"] == []
    md = (run_dir / "report.md").read_text()
    assert "| Method   | Metric | 16 bits |\n|----------|--------|---------|\n| Original | t-MAP  | 2.00    |" in md
    assert "| DHTA     | t-MAP  | 71.00   |\n| Original | MAP    | 80.00   |" in md
    assert re.search(r"\| convention: eps_space +\| pixel +\|", md)
    assert re.search(r"\| setting: steps +\| 4 +\|", md) and re.search(r"\| manifest: queries +\| 6 +\|", md)
    # t-MAP, t-MAP (drop), ℓ∞, ℓ2, PSNR, SSIM (empty: a record without per-query APs or SSIM), time
    assert re.search(r"\| DHTA +\| 71.00 +\| +\| 7.65 +\| 0.400 +\| 38.2 +\| +\| 1.5 +\|", md)
    # methods in the run's order (its spec's list), though results.json holds them key-sorted
    methods_table = md.split("### Methods: success and perceptibility\n")[1].strip().split("\n\n")[0].splitlines()[2:]
    assert [line.split("|")[1].strip() for line in methods_table] == ["Original", "Noise", "P2P", "DHTA"]
    for name in IMAGE_FIGURES:
        assert f"(figures/{name})" in md
    page = (run_dir / "report.html").read_text()
    assert page.count('src="data:image/png;base64,') == len(IMAGE_FIGURES)
    assert "MAP@50" in page and "manifest: seed" in page and "http" not in page.split("<body>")[1]


def test_report_escapes_what_it_shows(tmp_path):
    write_run_folder(tmp_path, tiny_dataset(), settings={"note": "<script>alert(1)</script> & co"}, figures=False)
    write_report(tmp_path)
    page = (tmp_path / "report.html").read_text()
    assert "<script>alert" not in page and "&lt;script&gt;alert(1)&lt;/script&gt; &amp; co" in page
    assert page.count("<script>") == 1   # the page's own check of its images


def test_report_renders_in_headless_chromium(run_dir, tmp_path):
    if find_chromium() is None:
        if os.environ.get("HASHATTACK_REQUIRE_BROWSER") == "1":
            pytest.fail("Chromium is required here (HASHATTACK_REQUIRE_BROWSER=1) but not installed")
        pytest.skip("Chromium is not installed (Debian packages chromium, chromium-driver; .ci/run installs them)")
    write_report(run_dir)
    shot = tmp_path / "shot.png"
    page = render(run_dir / "report.html", shot, width=1000, height=1400)
    assert page["images-total"] == len(IMAGE_FIGURES) and page["images-broken"] == 0
    assert page["tables"] >= 5 + 4  # results rows + one perceptibility row per method
    image = np.asarray(Image.open(shot).convert("L"), dtype=np.float32)
    assert image.shape == (1400, 1000)
    assert (image < 200).mean() > 0.05 and image.std() > 20  # text, tables and pictures, not a blank page
    # the same check notices a broken picture
    broken = tmp_path / "broken.html"
    html = (run_dir / "report.html").read_text()
    broken.write_text(re.sub(r'src="data:image/png;base64,[^"]{40}', 'src="data:image/png;base64,AAAA', html, count=1))
    assert render(broken)["images-broken"] == 1


def _bits_sweep(root, table: bool, video_run: bool = False):
    bits_list = (16, 32, 48, 64)
    names = [f"bits-{b}" for b in bits_list]
    rows = []
    for i, (bits, name) in enumerate(zip(bits_list, names)):
        video = video_run and i == 0
        record = write_run_folder(root / name, tiny_dataset(video=video), bits=bits, scale=0.5 + i / 8)
        rows.append((f"{bits} bits", {f"{m} t-MAP": e["t_map"] for m, e in record["methods"].items()}))
    sweep = {"format": "hashattack-sweep/1", "axes": {"bits": list(bits_list)}, "runs": names}
    if table:
        sweep["table"] = "table.md"
        (root / "table.md").write_text("Caption of the sweep.\n\n" + markdown(*results_table(rows)))
    (root / "sweep.json").write_text(json.dumps(sweep))
    return names


def test_report_of_a_bits_sweep_with_its_table_and_a_video_run(tmp_path):
    names = _bits_sweep(tmp_path, table=True, video_run=True)
    paths = write_report(tmp_path)
    assert paths["figures"] == [tmp_path / "figures" / "tmap_vs_bits.png"]
    assert paths["runs"] == [tmp_path / name / "report.html" for name in names]
    assert all(p.is_file() for p in paths["runs"])
    md = (tmp_path / "report.md").read_text()
    assert "Caption of the sweep." in md and "| Method   | Metric | 16 bits | 32 bits | 48 bits | 64 bits |" in md
    assert "Original | MAP" not in md.split("## Run")[0]            # the sweep's own table, as written
    assert "(figures/tmap_vs_bits.png)" in md and "[the report of run bits-16](bits-16/report.html)" in md
    assert "(bits-16/figures/frames.png)" in md and "(bits-32/figures/adversarial_examples.png)" in md
    assert md.index("## Run bits-16: 16 bits") < md.index("## Run bits-32: 32 bits") < md.index("## Run bits-64")
    figures = len(VIDEO_FIGURES) + 3 * len(IMAGE_FIGURES) + 1
    assert (tmp_path / "report.html").read_text().count('src="data:image/png;base64,') == figures
    sub = (tmp_path / "bits-16" / "report.md").read_text()
    assert "(figures/frames.png)" in sub and "## Run" not in sub


def test_report_of_a_sweep_builds_its_table_and_notes_runs_not_written(tmp_path):
    names = _bits_sweep(tmp_path, table=False)
    sweep = json.loads((tmp_path / "sweep.json").read_text())
    (tmp_path / "sweep.json").write_text(json.dumps({**sweep, "runs": names + ["bits-128"]}))
    write_report(tmp_path)
    md = (tmp_path / "report.md").read_text()
    assert "t-MAP / MAP (%) of each method against bits." in md and "Not run yet: bits-128." in md
    assert "| Original | MAP    | 80.00   | 80.00   | 80.00   | 80.00   |" in md
    assert "| DHTA     | t-MAP  | 35.50   | 44.38   | 53.25   | 62.12   |" in md


def test_report_of_runs_found_below_a_folder_draws_curves(tmp_path):
    for eps in (0.1, 0.2):
        write_run_folder(tmp_path / f"eps-{eps}", tiny_dataset(), settings={"eps": eps}, figures=eps == 0.1)
    paths = write_report(tmp_path)
    assert paths["figures"] == [tmp_path / "figures" / "tmap_vs_eps.png"]
    md = (tmp_path / "report.md").read_text()
    assert "| Method   | Metric | ε = 0.1 | ε = 0.2 |" in md and "(figures/tmap_vs_eps.png)" in md
    assert "(eps-0.1/figures/retrieval.png)" in md


def test_report_errors_are_one_line(tmp_path):
    with pytest.raises(InputError, match="^no results.json in"):
        write_report(tmp_path)
    (tmp_path / "sweep.json").write_text(json.dumps({"format": "hashattack-sweep/1", "axes": {}, "runs": ["a"]}))
    with pytest.raises(InputError, match="none of the 1 runs"):
        write_report(tmp_path)
    (tmp_path / "sweep.json").write_text("{")
    with pytest.raises(InputError, match="malformed sweep"):
        write_report(tmp_path)
