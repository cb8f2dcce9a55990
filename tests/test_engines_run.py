"""`--index KIND[:options]` on the attacking commands: the attack is crafted as before, t-MAP / MAP are scored
on the engine's results, results.json records the engine, its version and options, the caption says it, the
index is part of the run's fingerprint, and a bad index string is one line (exit 2) with nothing written."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest
import torch

from hashattack.cli.main import main
from hashattack.errors import InputError
from hashattack.protocol.spec import RunSpec
from hashattack.retrieval import HammingIndex, average_precisions
from hashattack.retrieval.metrics import ranked_average_precisions
from run_helpers import folder_snapshot, tiny_demo_args


def test_a_run_scored_on_an_engine(capsys, fake_fmnist, tmp_path):
    cache = tmp_path / "cache"
    exact = tmp_path / "exact"
    assert main(tiny_demo_args(fake_fmnist, cache, exact, steps=2, queries=4) + ["--methods", "Original", "P2P", "--no-figures"]) == 0
    engine = tmp_path / "engine"
    args = tiny_demo_args(fake_fmnist, cache, engine, steps=2, queries=4) + ["--methods", "Original", "P2P", "--no-figures"]
    assert main(args + ["--index", "faiss-ivf:nprobe=1,nlist=4"]) == 0
    plain, scored = (json.loads((folder / "results.json").read_text()) for folder in (exact, engine))
    assert scored["index"]["engine"] == "faiss-ivf" and scored["index"]["version"]
    assert scored["index"]["options"] == {"nlist": 4, "nprobe": 1} and scored["index"]["exact"] is False
    assert scored["spec"]["index"] == "faiss-ivf:nlist=4,nprobe=1" and "index" not in plain
    for name in ("Original", "P2P"):
        assert scored["methods"][name]["codes"] == plain["methods"][name]["codes"]     # crafted as before
        assert scored["methods"][name]["exact"] == {"t_map": plain["methods"][name]["t_map"],
                                                    "map": plain["methods"][name]["map"]}
    assert "faiss-ivf:nlist=4,nprobe=1" in (engine / "table.md").read_text()
    assert "search engine" not in (exact / "table.md").read_text()
    # the index is part of the fingerprint: the same folder with another engine is refused, nothing lost
    before = folder_snapshot(engine)
    capsys.readouterr()
    assert main(args + ["--index", "exact"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "index" in err and "Traceback" not in err, err
    assert folder_snapshot(engine) == before


@pytest.mark.parametrize("index, fragment", [
    ("annoy", "unknown index 'annoy'"), ("hnsw:M=0", "option M='0' must be an integer in 1"),
    ("faiss-ivf:probes=3", "has no option 'probes'")])
def test_a_bad_index_is_one_line_and_writes_nothing(capsys, fake_fmnist, tmp_path, index, fragment):
    out = tmp_path / "run"
    capsys.readouterr()
    assert main(tiny_demo_args(fake_fmnist, tmp_path / "cache", out) + ["--index", index]) == 2
    err = capsys.readouterr().err
    assert err.startswith("hashattack: error: ") and err.count("\n") == 1 and fragment in err, err
    assert not out.exists()


def test_transfer_refuses_an_index_in_one_line(capsys, fake_fmnist, tmp_path):
    capsys.readouterr()
    assert main(["transfer", "--data", str(fake_fmnist), "--victims", "small-cnn", "--out", str(tmp_path / "t"),
                 "--index", "faiss"]) == 2
    assert "transfer scores every victim by exact ranking" in capsys.readouterr().err


def test_the_spec_keeps_the_canonical_index_string():
    assert RunSpec(index=" hnsw : ef=64,M=32").index == "faiss-hnsw:M=32,ef=64"
    assert RunSpec().index is None
    with pytest.raises(InputError, match="unknown index"):
        replace(RunSpec(), index="nope")


def test_ranked_aps_equal_the_exact_aps_on_the_exact_ranking():
    rng = np.random.default_rng(0)
    db = np.where(rng.random((300, 16)) < 0.5, 1, -1)
    q = np.where(rng.random((9, 16)) < 0.5, 1, -1)
    db_labels, q_labels = rng.integers(0, 4, 300), rng.integers(0, 4, 9)
    idx, _ = HammingIndex(db).search(q, 50)
    assert np.allclose(ranked_average_precisions(idx, q_labels, db_labels),
                       average_precisions(q, db, q_labels, db_labels, topk=50), equal_nan=True)
    padded = torch.cat([idx[:, :10], torch.full((9, 40), -1)], dim=1)     # an engine that found only 10
    short = average_precisions(q, db, q_labels, db_labels, topk=10)
    assert np.allclose(ranked_average_precisions(padded, q_labels, db_labels), short, equal_nan=True)
    with pytest.raises(InputError, match="database indices"):
        ranked_average_precisions(torch.full((2, 3), 300), q_labels[:2], db_labels)
