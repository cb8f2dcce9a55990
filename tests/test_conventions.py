"""The paper's conventions: the paper's defaults on its datasets (video included), both zero-relevance
conventions in every table, the target protocols (official eligibility and the paired draw), a float64
attack for a float64 model, anchor ties, and SSIM."""

from __future__ import annotations

import contextlib
import io
import json
import math

import numpy as np
import pytest
import torch

import hashattack
from hashattack.attacks.dhta import DHTA, alpha_schedule
from hashattack.cli.main import build_parser, main
from hashattack.cli.options import spec_from_args
from hashattack.errors import InputError
from hashattack.data.registry import dataset_entry
from hashattack.protocol.sources import obtain_model, open_data
from hashattack.protocol.spec import DataSpec, TrainedModel
from hashattack.protocol.targets import choose_targets, load_manifest
from hashattack.reporting.tables import csv_text, markdown, results_table, summary_values
from hashattack.retrieval.codes import anchor_code
from hashattack.retrieval.metrics import average_precisions
from hashattack.retrieval.perceptibility import perceptibility, ssim
from hashattack.training.loop import TrainConfig
from hashattack.validation import check_manifest
from engine_helpers import spec_of_command
from run_helpers import tiny_demo_args

TABLE2 = (0.01, 0.02, 0.03, 0.04, 0.05)


# --- the paper's defaults on its datasets ---------------------------------------------------------------

@pytest.mark.parametrize("dataset", ["jhmdb", "ucf101"])
def test_video_on_paper_datasets_runs_the_papers_attack(dataset):
    spec = spec_from_args(build_parser().parse_args(["video", "--dataset", dataset, "--root", "videos"])).resolved()
    a = spec.attack
    assert (a.eps, a.eps_space, a.steps, a.step_size, a.zero_relevance) == (0.032, "normalized", 2000, 1.0, "drop")
    assert spec.axes == () and spec.target_protocol == "paired"
    embedded = spec_from_args(build_parser().parse_args(["video"])).resolved().attack
    assert (embedded.eps, embedded.eps_space, embedded.steps, embedded.step_size, embedded.zero_relevance) == \
        (0.1, "pixel", 200, 10.0, "zero")


@pytest.mark.parametrize("dataset, space, values", [("ucf101", "normalized", TABLE2), ("jhmdb", "normalized", TABLE2),
                                                    ("moving-fashion", "pixel", (0.02, 0.05, 0.1, 0.15, 0.2))])
def test_the_video_eps_preset_sweeps_table_2_on_paper_datasets(dataset, space, values, monkeypatch, tmp_path):
    spec = spec_of_command(monkeypatch, ["experiment", "video-eps", "--dataset", dataset, "--root", str(tmp_path),
                                         "--out", str(tmp_path / "x")])
    assert spec.axes == (("eps", values),) and spec.attack.eps_space == space
    assert spec.attack.steps == (2000 if space == "normalized" else 200)
    spec = spec_of_command(monkeypatch, ["experiment", "video-eps", "--dataset", dataset, "--root", str(tmp_path),
                                         "--eps", "0.02", "0.04", "--out", str(tmp_path / "y")])
    assert spec.axes == (("eps", (0.02, 0.04)),)   # --eps given replaces the dataset's sweep


def test_a_dry_run_shows_the_video_defaults_of_ucf101(capsys):
    assert main(["run", "configs/video-eps.toml", "--set", "dataset=ucf101", "--set", "root=UCF-101", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert ("ucf101: eps 0.01 0.02 0.03 0.04 0.05 (normalized space), 2000 steps of 1, n_t 9, MAP@1000, "
            "main convention drop (zero beside it), paired targets") in out


def test_paper_datasets_take_the_official_convention_as_main():
    for dataset in ("imagenet100", "nus-wide", "jhmdb", "ucf101"):
        assert dataset_entry(dataset).zero_relevance == "drop" and dataset_entry(dataset).eps_sweep == TABLE2
    for dataset in ("fashion-mnist", "moving-fashion", "images"):
        assert dataset_entry(dataset).zero_relevance == "zero"
    spec = spec_from_args(build_parser().parse_args(["demo", "--dataset", "nus-wide", "--root", "x"])).resolved()
    assert spec.attack.zero_relevance == "drop" and spec.attack.topk == 5000
    given = spec_from_args(build_parser().parse_args(["demo", "--dataset", "nus-wide", "--zero-relevance",
                                                      "zero"])).resolved()
    assert given.attack.zero_relevance == "zero"


# --- both zero-relevance conventions in every table ------------------------------------------------------

METHODS = {"Original": {"t_map": 0.1, "map": 0.8, "scored_by": "map", "t_ap": [0.2, None, 0.1, None],
                        "ap": [0.9, 0.7, 0.8, None]},
           "DHTA": {"t_map": 0.6, "map": 0.05, "scored_by": "t_map", "t_ap": [0.8, None, 1.0, 0.6]}}


def test_a_summary_row_carries_the_other_convention_from_the_aps():
    row = summary_values(METHODS, list(METHODS), "zero")
    assert row["Original t-MAP (drop)"] == pytest.approx(0.15) and row["DHTA t-MAP (drop)"] == pytest.approx(0.8)
    assert row["Original MAP (drop)"] == pytest.approx(0.8) and row["zero_relevance"] == "zero"
    drop = summary_values(METHODS, list(METHODS), "drop")
    assert drop["DHTA t-MAP (zero)"] == pytest.approx(0.6) and drop["Original MAP (zero)"] == pytest.approx(0.6)
    recorded = {"DHTA": {"t_map": 0.6, "t_map_by_convention": {"zero": 0.6, "drop": 0.75}}}
    assert summary_values(recorded, ["DHTA"])["DHTA t-MAP (drop)"] == 0.75


def test_every_table_format_has_the_main_column_and_the_other_beside_it(tmp_path):
    rows = [("16 bits", summary_values(METHODS, list(METHODS), "zero")),
            ("32 bits", summary_values(METHODS, list(METHODS), "zero"))]
    header, body = results_table(rows)
    assert header == ["Method", "Metric", "16 bits", "16 bits (drop)", "32 bits", "32 bits (drop)"]
    assert body[1] == ["DHTA", "t-MAP", "60.00", "80.00", "60.00", "80.00"]
    assert "| 16 bits (drop) |" in markdown(header, body)
    assert csv_text(header, body).splitlines()[0] == "Method,Metric,16 bits,16 bits (drop),32 bits,32 bits (drop)"
    drop_header, _ = results_table([("ε = 0.1", summary_values(METHODS, list(METHODS), "drop"))])
    assert drop_header == ["Method", "Metric", "ε = 0.1", "ε = 0.1 (zero)"]


@pytest.fixture(scope="module")
def runs(fake_fmnist, tmp_path_factory):
    """A tiny run and a tiny eps sweep, through the command line, with what they printed."""
    base, printed = tmp_path_factory.mktemp("conventions"), {}
    cache = base / "cache"
    for name, extra in (("run", []), ("sweep", ["--eps", "0.1", "0.2"])):
        args = tiny_demo_args(fake_fmnist, cache, base / name, steps=2, queries=4) + extra
        buffer = io.StringIO()
        with contextlib.redirect_stdout(buffer):
            assert main(args) == 0
        printed[name] = buffer.getvalue()
    return base, printed


def test_run_files_name_the_conventions_and_show_both(runs):
    base, printed = runs
    record = json.loads((base / "run" / "results.json").read_text())
    conventions = record["conventions"]
    assert (conventions["zero_relevance"], conventions["zero_relevance_also"], conventions["target_protocol"]) == \
        ("zero", "drop", "paired")
    for method, entry in record["methods"].items():
        assert set(entry["t_map_by_convention"]) == {"zero", "drop"}, method
        assert entry["t_map"] == entry["t_map_by_convention"]["zero"]
        assert "ssim_median" in entry["perceptibility"] and 0 < entry["perceptibility"]["ssim_median"] <= 1
    table = (base / "run" / "table.md").read_text()
    assert "Main columns: queries with no relevant item in the top R count as AP 0" in table
    assert "16 bits (drop)" in table and "16 bits (drop)" in (base / "run" / "table.csv").read_text()
    assert "16 bits (drop)" in printed["run"] and "Main columns" in printed["run"]
    html = (base / "run" / "report.html").read_text()
    assert "16 bits (drop)" in html and "t-MAP (drop) (%)" in html and "SSIM median" in html
    batch = json.loads(next((base / "run" / "batches").glob("DHTA-*.json")).read_text())
    assert len(batch["perceptibility"]["ssim"]) == len(batch["query_ids"])


def test_sweep_files_show_both_conventions(runs):
    base, printed = runs
    sweep = base / "sweep"
    for text in ((sweep / "table.md").read_text(), (sweep / "table.csv").read_text(), printed["sweep"],
                 (sweep / "report.html").read_text()):
        assert "ε = 0.1 (drop)" in text and "ε = 0.2 (drop)" in text
    assert json.loads((sweep / "sweep.json").read_text())["conventions"]["zero_relevance_also"] == "drop"


# --- target protocols --------------------------------------------------------------------------------------

def toy_multi_hot(queries: int = 400):
    """A database where label vector [1, 1, 0, 0] has 5 items (between 2 and 9) and three others have 20."""
    db = np.array([[1, 1, 0, 0]] * 5 + [[1, 0, 0, 0]] * 20 + [[0, 1, 0, 0]] * 20 + [[0, 0, 1, 0]] * 20, np.uint8)
    return np.tile([[0, 0, 0, 1]], (queries, 1)).astype(np.uint8), db


def test_official_eligibility_lets_each_n_t_draw_among_vectors_with_more_than_its_own_n_t_items():
    queries, db = toy_multi_hot()
    small = np.array([1, 1, 0, 0])
    official = choose_targets(queries, db, 400, n_ts=(1, 9), seed=0, protocol="official")
    paired = choose_targets(queries, db, 400, n_ts=(1, 9), seed=0, protocol="paired")
    p2p_small = (official.targets(1) == small).all(axis=1)
    assert 60 < p2p_small.sum() < 140            # about a quarter of 400: P2P may target the 5-item vector
    assert not (official.targets(9) == small).all(axis=1).any()     # DHTA never (5 items is not more than 9)
    assert not (paired.targets(1) == small).all(axis=1).any() and not (paired.targets(9) == small).all(axis=1).any()
    assert np.array_equal(paired.targets(1), paired.targets(9))      # paired: one target per query for every n_t
    for manifest in (official, paired):
        for n_t in (1, 9):
            objects = db[np.array(manifest.anchor_ids[n_t])]       # anchors carry their own n_t's target
            assert (objects == manifest.targets(n_t)[:, None, :]).all()
        check_manifest(manifest, queries, db, 9)
    # the largest n_t's draw is paired's, objects included
    assert np.array_equal(official.targets(9), paired.targets(9)) and official.anchor_ids[9] == paired.anchor_ids[9]


def test_both_protocols_draw_the_same_manifest_on_single_label_data_with_many_items_per_class():
    rng = np.random.default_rng(3)
    db = np.eye(6, dtype=np.uint8)[np.repeat(np.arange(6), 30)]
    queries = np.eye(6, dtype=np.uint8)[rng.integers(0, 6, 50)]
    official = choose_targets(queries, db, 40, n_ts=(1, 3, 9, 15), seed=7, protocol="official")
    paired = choose_targets(queries, db, 40, n_ts=(1, 3, 9, 15), seed=7, protocol="paired")
    assert official.target_labels_by_n_t == {}
    assert {k: v for k, v in official.to_json().items() if k != "target_protocol"} == \
        {k: v for k, v in paired.to_json().items() if k != "target_protocol"}


def test_a_manifest_keeps_its_protocol_and_per_n_t_targets(tmp_path):
    queries, db = toy_multi_hot(40)
    official = choose_targets(queries, db, 40, n_ts=(1, 9), seed=0, protocol="official")
    official.save(tmp_path / "manifest.json")
    raw = json.loads((tmp_path / "manifest.json").read_text())
    assert raw["target_protocol"] == "official" and set(raw["target_labels_by_n_t"]) == {"1"}
    loaded = load_manifest(tmp_path / "manifest.json", len(queries), len(db))
    assert loaded.protocol == "official" and np.array_equal(loaded.targets(1), official.targets(1))
    assert loaded.to_json() == official.to_json()
    raw["target_labels_by_n_t"]["1"] = [[2]] * 40            # anchors no longer carry their n_t's target
    (tmp_path / "bad.json").write_text(json.dumps(raw))
    with pytest.raises(InputError, match="n_t = 1"):
        check_manifest(load_manifest(tmp_path / "bad.json"), queries, db, 9)
    with pytest.raises(InputError, match="target protocol"):
        choose_targets(queries, db, 4, protocol="nested")


def test_an_official_run_scores_each_method_against_its_own_targets_and_reruns_exactly(fake_fmnist, tmp_path):
    cache = tmp_path / "cache"
    data = DataSpec(root=str(fake_fmnist), train_per_class=5)
    model, _ = obtain_model(TrainedModel(bits=16, train=TrainConfig(epochs=1), cache_dir=str(cache)), data,
                            open_data(data), progress=False)
    dataset = open_data(data).dataset
    codes = hashattack.encode(model, dataset.database, progress=False)
    labels = dataset.database.labels.numpy().copy()
    for group, (a, b) in enumerate(((0, 1), (2, 3), (4, 5), (6, 7))):   # four multi-hot vectors of 5 items each
        labels[5 * group: 5 * group + 5] = 0
        labels[5 * group: 5 * group + 5, [a, b]] = 1
    np.save(tmp_path / "codes.npy", codes.numpy())
    np.save(tmp_path / "labels.npy", labels)
    stored = ["--database-codes", str(tmp_path / "codes.npy"), "--database-labels", str(tmp_path / "labels.npy")]
    args = lambda out, *extra: [*tiny_demo_args(fake_fmnist, cache, tmp_path / out, steps=1, queries=40, batch_size=40),
                                "--methods", "P2P", "DHTA", "--n-t", "9", "--no-figures", *stored, *extra]
    assert main(args("official", "--target-protocol", "official")) == 0
    assert main(args("paired")) == 0
    manifest = load_manifest(tmp_path / "official" / "manifest.json")
    multi = lambda targets: int((targets.sum(axis=1) > 1).sum())
    assert manifest.protocol == "official" and multi(manifest.targets(1)) > 0 and multi(manifest.targets(9)) == 0
    assert multi(load_manifest(tmp_path / "paired" / "manifest.json").targets(1)) == 0
    record = json.loads((tmp_path / "official" / "results.json").read_text())
    assert record["conventions"]["target_protocol"] == "official"
    p2p = record["methods"]["P2P"]
    adversarial = hashattack.retrieval.codes.codes_from_hex(p2p["codes"], 16)
    expected = average_precisions(adversarial, codes, manifest.targets(1), labels, topk=50)
    assert [None if np.isnan(v) else round(float(v), 6) for v in expected] == p2p["t_ap"]
    assert main(args("again", "--manifest", str(tmp_path / "official" / "manifest.json"))) == 0
    again = json.loads((tmp_path / "again" / "results.json").read_text())
    assert again["methods"] == record["methods"] and again["conventions"]["target_protocol"] == "official"


# --- dtype and ties ----------------------------------------------------------------------------------------

class Tiny(torch.nn.Module):
    """A small conv hashing model with its own normalisation."""

    def __init__(self, bits: int = 6):
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 4, 3)
        self.fc = torch.nn.Linear(4 * 6 * 6, bits)
        self.register_buffer("mean", torch.tensor([0.4, 0.5, 0.6]).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor([0.2, 0.25, 0.3]).view(1, 3, 1, 1))

    def forward(self, x):
        return self.fc(torch.tanh(self.conv((x - self.mean) / self.std)).flatten(1))


def independent_dhta(model, images, anchors, eps, steps):
    """DHTA from the official code's logic, one query at a time, in the images' dtype (normalised-space ε)."""
    out = []
    std = model.std
    for x, anchor in zip(images, anchors):
        x = x[None]
        delta = torch.zeros_like(x)
        for t in range(steps):
            delta.requires_grad_(True)
            loss = -(anchor * torch.tanh(alpha_schedule(t, steps) * model(x + delta * std))).sum() / anchor.numel()
            (grad,) = torch.autograd.grad(loss, delta)
            with torch.no_grad():
                delta = delta - math.sqrt(x.numel() / 150528) * grad / grad.norm()
                delta = torch.clamp(delta, -x / std, (1 - x) / std)
                delta = torch.clamp(delta, -eps, eps)
        out.append((x + delta.detach() * std).clamp(0, 1))
    return torch.cat(out)


@pytest.mark.parametrize("ties", ["plus", "zero"])
def test_a_float64_model_gets_a_float64_attack(ties):
    torch.manual_seed(0)
    model = Tiny().double().eval()
    images = torch.rand(3, 3, 8, 8, dtype=torch.float64)
    objects = torch.where(torch.rand(3, 4, 6) > 0.5, 1.0, -1.0).double()   # n_t = 4: ties happen
    attack = DHTA(model, eps=0.3, eps_space="normalized", steps=40, anchor_ties=ties)
    adversarial = attack(images, objects)
    anchors = anchor_code(objects, ties=ties)
    assert (ties == "zero") == bool((anchors == 0).any())
    expected = independent_dhta(model, images, anchors, 0.3, 40)
    assert adversarial.dtype == torch.float64
    assert torch.allclose(adversarial, expected, rtol=0, atol=1e-12)
    assert (adversarial - images).abs().max() > 1e-3                       # it moved
    single = DHTA(Tiny().eval(), eps=0.3, steps=3)(images, anchor_code(objects).float())
    assert single.dtype == torch.float32                 # a float32 model stays float32, even given float64 images


def test_anchor_ties_follow_np_sign_on_request():
    codes = torch.tensor([[1, -1, 1], [-1, -1, 1]], dtype=torch.float32)
    assert anchor_code(codes).tolist() == [1, -1, 1]
    assert anchor_code(codes, ties="zero").tolist() == np.sign(codes.numpy().sum(axis=0)).tolist() == [0, -1, 1]
    odd = torch.where(torch.rand(50, 9, 32) > 0.5, 1.0, -1.0)   # odd n_t never ties
    assert torch.equal(anchor_code(odd), anchor_code(odd, ties="zero"))
    with pytest.raises(InputError, match="ties"):
        anchor_code(codes, ties="half")


# --- SSIM --------------------------------------------------------------------------------------------------

def numpy_ssim(a: np.ndarray, b: np.ndarray) -> float:
    """SSIM of two (C, H, W) images written out window by window: 11x11 Gaussian σ 1.5, valid positions."""
    g = np.exp(-((np.arange(11) - 5) ** 2) / (2 * 1.5 ** 2))
    w = np.outer(g, g) / np.outer(g, g).sum()
    c1, c2 = 0.01 ** 2, 0.03 ** 2
    values = []
    for x, y in zip(a, b):
        for i in range(x.shape[0] - 10):
            for j in range(x.shape[1] - 10):
                px, py = x[i:i + 11, j:j + 11], y[i:i + 11, j:j + 11]
                mx, my = (w * px).sum(), (w * py).sum()
                vx, vy = (w * (px - mx) ** 2).sum(), (w * (py - my) ** 2).sum()
                cov = (w * (px - mx) * (py - my)).sum()
                values.append((2 * mx * my + c1) * (2 * cov + c2) / ((mx ** 2 + my ** 2 + c1) * (vx + vy + c2)))
    return float(np.mean(values))


def test_ssim_equals_its_definition_and_hand_values():
    rng = np.random.default_rng(0)
    a = rng.random((2, 3, 14, 15))
    b = np.clip(a + rng.normal(0, 0.1, a.shape), 0, 1)
    got = perceptibility(a, b)["ssim"]
    for k in range(2):
        assert got[k] == pytest.approx(numpy_ssim(a[k], b[k]), abs=1e-12)
    flat = np.full((1, 1, 16, 16), 0.3)                          # constant images: only the luminance term is left
    shifted = ssim(torch.from_numpy(flat), torch.from_numpy(flat + 0.1)).item()
    assert shifted == pytest.approx((2 * 0.3 * 0.4 + 1e-4) / (0.3 ** 2 + 0.4 ** 2 + 1e-4), abs=1e-12)
    assert perceptibility(a, a)["ssim"].tolist() == pytest.approx([1.0, 1.0])
    video = rng.random((1, 4, 1, 12, 12))                        # a clip: frames averaged
    assert perceptibility(video, video * 0.9)["ssim"][0] == pytest.approx(
        np.mean([numpy_ssim(video[0, t], video[0, t] * 0.9) for t in range(4)]), abs=1e-12)


def test_ssim_equals_skimage_when_installed():
    skimage = pytest.importorskip("skimage.metrics")
    rng = np.random.default_rng(1)
    x = rng.random((20, 24))
    y = np.clip(x + rng.normal(0, 0.05, x.shape), 0, 1)
    assert ssim(torch.from_numpy(x[None, None]), torch.from_numpy(y[None, None])).item() == \
        pytest.approx(skimage.structural_similarity(x, y, gaussian_weights=True, sigma=1.5,
                                                    use_sample_covariance=False, data_range=1.0), abs=1e-9)
