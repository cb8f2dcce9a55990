"""Existing indexes and codes: .npy codes (±1, 0/1, packed) and labels as a database, HammingIndex over an
existing faiss binary index, and --database-codes / --database-labels on the attacking commands."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

import hashattack
from hashattack import HammingIndex, InputError, load_database
from hashattack.cli.main import main
from hashattack.protocol.sources import obtain_model, open_data
from hashattack.protocol.spec import DataSpec, TrainedModel
from hashattack.retrieval.codes import pack_bits
from hashattack.training.loop import TrainConfig
from run_helpers import tiny_demo_args


def test_codes_and_labels_load_from_npy_in_every_form(tmp_path):
    rng = np.random.default_rng(0)
    pm1 = np.where(rng.random((20, 16)) > 0.5, 1, -1).astype(np.int8)
    classes = rng.integers(0, 4, 20)
    np.save(tmp_path / "labels.npy", classes)
    np.save(tmp_path / "onehot.npy", np.eye(4, dtype=np.uint8)[classes])
    for name, array, bits in (("pm1", pm1, None), ("01", (pm1 > 0).astype(np.uint8), None),
                              ("float", pm1.astype(np.float32), None), ("bool", pm1 > 0, None),
                              ("packed", pack_bits(pm1), 16)):
        np.save(tmp_path / f"{name}.npy", array)
        for labels in ("labels.npy", "onehot.npy"):
            codes, vectors = load_database(tmp_path / f"{name}.npy", tmp_path / labels, bits=bits)
            assert codes.dtype == torch.float32 and torch.equal(codes, torch.from_numpy(pm1).float())
            assert torch.equal(vectors, torch.from_numpy(np.eye(4, dtype=np.uint8)[classes]))
    np.save(tmp_path / "bad.npy", pm1 * 2)
    np.save(tmp_path / "short.npy", classes[:5])
    for codes, labels, message in (("bad.npy", "labels.npy", "-1/\\+1 or 0/1"), ("pm1.npy", "short.npy", "20 codes but"),
                                   ("none.npy", "labels.npy", "does not exist")):
        with pytest.raises(InputError, match=message):
            load_database(tmp_path / codes, tmp_path / labels)


def test_hamming_index_wraps_an_existing_faiss_index():
    faiss = pytest.importorskip("faiss")
    rng = np.random.default_rng(1)
    db = np.where(rng.random((300, 32)) > 0.5, 1, -1).astype(np.float32)
    queries = np.where(rng.random((6, 32)) > 0.5, 1, -1).astype(np.float32)
    flat = faiss.IndexBinaryFlat(32)
    flat.add(pack_bits(db))
    expected = HammingIndex(db).search(queries, 40)
    for backend in ("faiss", "packed", "torch"):
        got = HammingIndex.from_faiss(flat, backend).search(queries, 40)
        assert torch.equal(got[0], expected[0]) and torch.equal(got[1], expected[1]), backend
    ivf = faiss.IndexBinaryIVF(faiss.IndexBinaryFlat(32), 32, 4)
    ivf.train(pack_bits(db))
    ivf.add(pack_bits(db))
    ivf.nprobe = 4                      # every cell: the approximate index finds the exact distances
    assert torch.equal(HammingIndex.from_faiss(ivf).search(queries, 10)[1], expected[1][:, :10])
    with pytest.raises(InputError, match="faiss binary index"):
        HammingIndex.from_faiss(object())
    with pytest.raises(InputError, match="empty"):
        HammingIndex.from_faiss(faiss.IndexBinaryFlat(32))


def test_a_run_against_stored_codes_equals_the_run_that_encodes_them(fake_fmnist, tmp_path, capsys):
    cache = tmp_path / "cache"
    data = DataSpec(root=str(fake_fmnist), train_per_class=5)
    model, _ = obtain_model(TrainedModel(bits=16, train=TrainConfig(epochs=1), cache_dir=str(cache)), data,
                            open_data(data), progress=False)
    dataset = open_data(data).dataset
    codes = hashattack.encode(model, dataset.database, progress=False)
    np.save(tmp_path / "codes.npy", (codes > 0).to(torch.uint8).numpy())            # {0, 1} codes
    np.save(tmp_path / "labels.npy", dataset.database.labels.argmax(1).numpy())       # class indices
    base = tiny_demo_args(fake_fmnist, cache, tmp_path / "plain", steps=2, queries=4) + ["--methods", "Original", "DHTA"]
    assert main(base) == 0
    stored = [a if a != str(tmp_path / "plain") else str(tmp_path / "stored") for a in base]
    given = ["--database-codes", str(tmp_path / "codes.npy"), "--database-labels", str(tmp_path / "labels.npy")]
    assert main(stored + given) == 0
    plain, other = (json.loads((tmp_path / name / "results.json").read_text()) for name in ("plain", "stored"))
    assert other["summary"] == plain["summary"] and other["methods"]["DHTA"]["codes"] == plain["methods"]["DHTA"]["codes"]
    assert other["model"]["database_codes"] == str(tmp_path / "codes.npy")
    capsys.readouterr()
    np.save(tmp_path / "codes8.npy", np.ones((len(codes), 8), dtype=np.int8))
    for extra, message in ((given[:2], "both --database-codes and --database-labels"),
                           (["--database-codes", str(tmp_path / "codes8.npy"), *given[2:]], "8-bit codes"),
                           (given + ["--methods", "Feature"], "has no pixels")):
        assert main(stored + ["--force"] + extra) == 2
        assert message in capsys.readouterr().err
