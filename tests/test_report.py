"""Run figures and `hashattack report`: the files a run leaves, the report's content, and the report
rendered in headless Chromium (screenshot not blank, every image decoded, tables present)."""

from __future__ import annotations

import json
import os
import re
import shutil

import numpy as np
import pytest
from PIL import Image

from hashattack.reporting.browser import find_chromium, render
from hashattack.training.checkpoints import load_checkpoint
from hashattack.cli.main import main
from hashattack.data import fashion_mnist_retrieval
from hashattack.models.encode import encode_set
from hashattack.retrieval.ranking import hamming_rank
from hashattack.reporting.run_figures import codes_from_hex

FIGURES = {"adversarial_examples.png", "retrieval.png", "precision_recall.png", "precision_at_k.png"}


@pytest.fixture(scope="module")
def run_dir(fake_fmnist, tmp_path_factory):
    out = tmp_path_factory.mktemp("report") / "run"
    code = main(["demo", "--data", str(fake_fmnist), "--out", str(out), "--bits", "16", "--queries", "5",
                 "--steps", "4", "--train-per-class", "12", "--epochs", "1", "--eps", "0.2", "--topk", "50",
                 "--cache-dir", str(out.parent / "cache"), "--quiet"])
    assert code == 0
    return out


def test_a_run_writes_figures_curves_and_examples(run_dir, fake_fmnist):
    assert {p.name for p in (run_dir / "figures").iterdir()} == FIGURES
    results = json.loads((run_dir / "results.json").read_text())
    examples = np.load(run_dir / "examples.npz")
    assert examples["benign"].shape == (4, 1, 28, 28) and examples["adversarial"].shape == (4, 1, 28, 28)
    assert str(examples["shown_attack"]) == "DHTA" and bool(examples["reproduces_run_codes"])
    delta = np.abs(examples["adversarial"].astype(np.float32) - examples["benign"].astype(np.float32))
    assert 0 < delta.max() <= 0.2 + 1e-3
    # the strips' top-10 ids are the ranking of the codes the run scored
    model, _ = load_checkpoint(results["model"]["path"])
    db_codes = encode_set(model, fashion_mnist_retrieval(fake_fmnist, train_per_class=12).database, progress=False)
    for method in ("Original", "DHTA"):
        codes = codes_from_hex(results["methods"][method]["codes"], 16)
        assert np.array_equal(examples[f"top10_{method}"], hamming_rank(codes[:4], db_codes, topk=10).numpy())
    curves = json.loads((run_dir / "curves.json").read_text())
    assert set(curves["precision_recall"]) == {"Original (true label)", "Original (target label)", "Noise (target label)",
                                               "P2P (target label)", "DHTA (target label)"}
    recall = curves["precision_recall"]["Original (true label)"]["recall"]
    assert len(recall) == 17 and recall[-1] == pytest.approx(1.0)
    assert curves["precision_at_k"]["k"] == [1, 2, 5, 10, 20, 50, 100]


def test_report_markdown_and_html(run_dir, capsys):
    assert main(["report", str(run_dir)]) == 0
    assert "report.html" in capsys.readouterr().out
    md = (run_dir / "report.md").read_text()
    assert "| DHTA     | t-MAP  |" in md and re.search(r"\| convention: eps_space +\| pixel +\|", md)
    assert re.search(r"\| setting: steps +\| 4 +\|", md) and re.search(r"\| manifest: queries +\| 5 +\|", md)
    for name in FIGURES:
        assert f"(figures/{name})" in md
    page = (run_dir / "report.html").read_text()
    assert page.count('src="data:image/png;base64,') == len(FIGURES)
    assert "MAP@50" in page and "manifest: seed" in page and "http" not in page.split("<body>")[1]


def test_report_renders_in_headless_chromium(run_dir, tmp_path):
    if find_chromium() is None:
        if os.environ.get("HASHATTACK_REQUIRE_BROWSER") == "1":
            pytest.fail("Chromium is required here (HASHATTACK_REQUIRE_BROWSER=1) but not installed")
        pytest.skip("Chromium is not installed (Debian packages chromium, chromium-driver; .ci/run installs them)")
    main(["report", str(run_dir), "--quiet"])
    shot = tmp_path / "shot.png"
    page = render(run_dir / "report.html", shot, width=1000, height=1400)
    assert page["images-total"] == len(FIGURES) and page["images-broken"] == 0
    assert page["tables"] >= 5 + 4  # Table 1 rows + one perceptibility row per method
    image = np.asarray(Image.open(shot).convert("L"), dtype=np.float32)
    assert image.shape == (1400, 1000)
    assert (image < 200).mean() > 0.05 and image.std() > 20  # text, tables and pictures, not a blank page
    # the same check notices a broken picture
    broken = tmp_path / "broken.html"
    html = (run_dir / "report.html").read_text()
    broken.write_text(re.sub(r'src="data:image/png;base64,[^"]{40}', 'src="data:image/png;base64,AAAA', html, count=1))
    assert render(broken)["images-broken"] == 1


def test_report_of_a_sweep_draws_curves(run_dir, tmp_path):
    sweep = tmp_path / "sweep"
    for eps in (0.1, 0.2):
        shutil.copytree(run_dir, sweep / f"eps-{eps}", ignore=shutil.ignore_patterns("report.*"))
        record = json.loads((sweep / f"eps-{eps}" / "results.json").read_text())
        record["settings"]["eps"] = eps
        (sweep / f"eps-{eps}" / "results.json").write_text(json.dumps(record))
    assert main(["report", str(sweep), "--quiet"]) == 0
    assert (sweep / "figures" / "tmap_vs_eps.png").is_file()
    md = (sweep / "report.md").read_text()
    assert "| Method   | Metric | ε = 0.1 | ε = 0.2 |" in md and "(figures/tmap_vs_eps.png)" in md
    assert "(eps-0.1/figures/retrieval.png)" in md


def test_report_of_a_folder_without_results_is_a_one_line_error(tmp_path, capsys):
    assert main(["report", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("hashattack: error: no results.json in") and err.count("\n") == 1
