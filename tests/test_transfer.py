"""hashattack transfer: the surrogate x victim matrix, ensembles whose DHTA loss sums their members', resume."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from hashattack import DHTA, create_model
from hashattack.attacks.dhta import alpha_schedule
from hashattack.cli.main import main
from hashattack.models.ensemble import Ensemble
from hashattack.reporting.tables import parse_markdown
from hashattack.retrieval.metrics import mean_of_average_precisions
from hashattack.retrieval.codes import anchor_code


def tiny_transfer_args(data, cache, out) -> list[str]:
    return ["transfer", "--data", str(data), "--cache-dir", str(cache), "--train-per-class", "5", "--epochs", "1",
            "--bits", "16", "--queries", "4", "--batch-size", "2", "--steps", "3", "--n-t", "3", "--topk", "50",
            "--out", str(out), "--quiet"]


def test_transfer_matrix_white_box_cells_ensembles_and_resume(fake_fmnist, tmp_path, capsys):
    out, cache = tmp_path / "transfer", tmp_path / "cache"
    args = tiny_transfer_args(fake_fmnist, cache, out) + [
        "--victims", "small-cnn", "small-cnn:seed=1", "lenet",
        "--surrogates", "small-cnn", "lenet", "small-cnn:bits=8", "--leave-one-out"]
    assert main(args) == 0
    printed = capsys.readouterr().out
    result = json.loads((out / "transfer.json").read_text())
    assert result["victims"] == ["small-cnn s0 16b", "small-cnn s1 16b", "lenet s0 16b"]
    assert result["surrogates"] == ["small-cnn s0 16b", "lenet s0 16b", "small-cnn s0 8b",
                                    "small-cnn s1 16b + lenet s0 16b", "small-cnn s0 16b + lenet s0 16b",
                                    "small-cnn s0 16b + small-cnn s1 16b"]
    matrix = result["matrix"]
    assert matrix["small-cnn s0 16b"]["victims"]["small-cnn s0 16b"]["white_box"] is True
    assert matrix["small-cnn s0 8b"]["victims"]["small-cnn s0 16b"]["white_box"] is False     # cross-length
    loo = matrix["small-cnn s1 16b + lenet s0 16b"]["victims"]
    assert loo["small-cnn s0 16b"]["white_box"] is False and loo["lenet s0 16b"]["white_box"] is True
    assert all(0 <= cell["t_map"] <= 1 and len(cell["t_ap"]) == 4 for row in matrix.values()
               for cell in row["victims"].values())
    for name in ("table.md", "table.csv", "figures/transfer.png", "report.html", "report.md", "manifest.json"):
        assert (out / name).is_file(), name
    assert "white box" in printed and "Surrogate \\ victim" in (out / "table.md").read_text()
    _, header, body = parse_markdown((out / "table.md").read_text())
    assert header[1:3] == ["small-cnn s0 16b", "small-cnn s0 16b (drop)"]      # each victim in both conventions
    cell = matrix["small-cnn s0 16b"]["victims"]["small-cnn s0 16b"]
    drop = mean_of_average_precisions(np.array([np.nan if v is None else v for v in cell["t_ap"]]), "drop")
    assert body[1][0] == "small-cnn s0 16b" and body[1][2].endswith(" *")             # the white-box cell
    assert abs(float(body[1][2].rstrip(" *")) - 100 * drop) < 0.006
    rows = [line.split("|")[1].strip() for line in (out / "table.md").read_text().splitlines()[4:]]
    assert rows == [result["benign_row"], *result["surrogates"]]        # the run's order, not transfer.json's
    before = {p: p.stat().st_mtime_ns for p in out.rglob("batches/*.json")}
    assert main(args) == 0                      # resumes: every batch is reused, nothing attacked again
    assert {p: p.stat().st_mtime_ns for p in out.rglob("batches/*.json")} == before
    assert json.loads((out / "transfer.json").read_text())["matrix"] == matrix


def test_transfer_refuses_bad_input_in_one_line(fake_fmnist, tmp_path, capsys):
    base = tiny_transfer_args(fake_fmnist, tmp_path / "cache", tmp_path / "out")
    for extra, message in ((["--victims", "nonet"], "unknown architecture 'nonet'"),
                           (["--victims", "small-cnn:colour=3"], "is not KEY=VALUE"),
                           (["--victims", "missing.pt"], "missing.pt does not exist"),
                           (["--victims", "small-cnn", "--eps", "0.1", "0.2"], "one --eps value"),
                           (["--victims", "small-cnn", "--methods", "Noise"], "DHTA or P2P"),
                           ([], "give --victims"),
                           (["--victims", "lenet", "--database-codes", "c.npy", "--database-labels", "l.npy"],
                            "its own database codes")):
        assert main(base + extra) == 2
        err = capsys.readouterr().err
        assert message in err and err.count("\n") == 1, err


def test_an_ensemble_is_its_members_side_by_side_and_its_dhta_loss_their_sum():
    torch.manual_seed(0)
    a, b = create_model("small-cnn", 8).eval(), create_model("lenet", 8).eval()
    ensemble = Ensemble([a, b]).eval()
    x = torch.rand(3, 1, 28, 28)
    assert torch.equal(ensemble(x), torch.cat([a(x), b(x)], 1))
    assert torch.equal(ensemble.std, a.std)       # same normalisation: the attack's step lives in the same space
    codes_a, codes_b = torch.sign(torch.randn(3, 5, 8)), torch.sign(torch.randn(3, 5, 8))
    assert torch.equal(anchor_code(torch.cat([codes_a, codes_b], 2)),
                       torch.cat([anchor_code(codes_a), anchor_code(codes_b)], 1))
    anchors = torch.cat([anchor_code(codes_a), anchor_code(codes_b)], 1)
    delta = torch.zeros_like(x, requires_grad=True)
    loss = lambda model, h: -(h * torch.tanh(alpha_schedule(0, 10) * model(x + delta))).sum() / h.shape[1]
    (g_ensemble,) = torch.autograd.grad(loss(ensemble, anchors), delta)
    (g_sum,) = torch.autograd.grad(loss(a, anchors[:, :8]) + loss(b, anchors[:, 8:]), delta)
    assert torch.allclose(g_ensemble * 2, g_sum, atol=1e-6)      # equal bits: the sum, halved (a step is g / |g|)
    one = DHTA(Ensemble([a]), eps=0.1, steps=3)(x, anchors[:, :8])
    assert torch.allclose(one, DHTA(a, eps=0.1, steps=3)(x, anchors[:, :8]), atol=1e-6)
    with pytest.raises(Exception, match="at least one model"):
        Ensemble([])


def test_transfer_takes_checkpoints_of_hashattack_train(fake_fmnist, tmp_path):
    checkpoint = tmp_path / "victim.pt"
    assert main(["train", "--data", str(fake_fmnist), "--train-per-class", "5", "--epochs", "1", "--bits", "16",
                 "--train-seed", "4", "--quiet", "--out", str(checkpoint)]) == 0
    out = tmp_path / "transfer"
    assert main(tiny_transfer_args(fake_fmnist, tmp_path / "cache", out) +
                ["--victims", str(checkpoint), "--surrogates", "lenet", f"lenet+{checkpoint}"]) == 0
    result = json.loads((out / "transfer.json").read_text())
    assert result["victims"] == ["victim.pt"]
    assert result["matrix"][f"lenet s0 16b + victim.pt"]["victims"]["victim.pt"]["white_box"] is True
    assert result["matrix"]["lenet s0 16b"]["victims"]["victim.pt"]["white_box"] is False
    assert result["models"]["victim.pt"]["checkpoint"] == str(checkpoint)
