"""CIFAR-10 from its binary batches: the reader, DPSH's split, the refusals, and a run through the engine."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from hashattack.cli.main import main
from hashattack.data.cifar10 import FILES, RECORD, cifar10_retrieval
from hashattack.data.registry import dataset_entry
from hashattack.errors import InputError
from hashattack.protocol.spec import DataSpec


def write_fake_cifar10(root: Path, per_class_per_file: int = 19, seed: int = 0) -> Path:
    """The six binary batch files of a tiny CIFAR-10 look-alike (each class a bright square at its own place)."""
    rng = np.random.default_rng(seed)
    folder = root / "cifar-10-batches-bin"
    folder.mkdir(parents=True)
    for name in FILES:
        labels = np.repeat(np.arange(10, dtype=np.uint8), per_class_per_file)
        rng.shuffle(labels)
        images = rng.integers(0, 60, size=(len(labels), 3, 32, 32), dtype=np.uint8)
        for i, c in enumerate(labels):
            r, col = divmod(int(c), 5)
            images[i, :, 4 + 14 * r: 14 + 14 * r, 1 + 6 * col: 7 + 6 * col] = 230
        (folder / name).write_bytes(np.concatenate([labels[:, None], images.reshape(len(labels), -1)], 1).tobytes())
    return root


@pytest.fixture(scope="module")
def cifar(tmp_path_factory) -> Path:
    return write_fake_cifar10(tmp_path_factory.mktemp("cifar"))


def test_the_reader_keeps_the_byte_layout_and_dpsh_split(cifar):
    data = cifar10_retrieval(cifar, queries_per_class=3, train_per_class=5)
    assert (len(data.query), len(data.database), len(data.train)) == (30, 6 * 190 - 30, 50)
    assert data.query.images.shape[1:] == (3, 32, 32) and data.num_classes == 10
    assert not set(data.query.ids.tolist()) & set(data.database.ids.tolist())          # queries leave the database
    assert set(data.train.ids.tolist()) <= set(data.database.ids.tolist())
    assert (data.query.labels.sum(0) == 3).all() and (data.train.labels.sum(0) == 5).all()
    raw = (cifar / "cifar-10-batches-bin" / FILES[0]).read_bytes()
    first = data.database.ids.tolist().index(0) if 0 in data.database.ids.tolist() else None
    objects = data.database if first is not None else data.query
    row = first if first is not None else data.query.ids.tolist().index(0)
    assert objects.images[row].numpy().tobytes() == raw[1:RECORD]          # R plane, G plane, B plane, row by row
    assert int(objects.labels[row].argmax()) == raw[0]


def test_the_registered_protocol_draws_100_queries_per_class(cifar):
    entry = dataset_entry("cifar10")
    data = entry.open(DataSpec(dataset="cifar10", root=str(cifar)), 0)
    assert len(data.query) == 1000 and len(data.database) == 6 * 190 - 1000


@pytest.mark.parametrize("damage, message", [
    (lambda p: p.write_bytes(p.read_bytes()[:-5]), "not a whole number of 3,073-byte records"),
    (lambda p: p.write_bytes(bytes([12]) + p.read_bytes()[1:]), "label 12 outside 0..9"),
    (lambda p: p.unlink(), "missing data_batch_1.bin"),
])
def test_a_damaged_batch_is_refused_on_one_line(tmp_path, damage, message):
    root = write_fake_cifar10(tmp_path, per_class_per_file=2)
    damage(root / "cifar-10-batches-bin" / FILES[0])
    with pytest.raises(InputError, match=message) as info:
        cifar10_retrieval(root)
    assert "\n" not in str(info.value)


def test_cifar10_runs_through_the_cli(cifar, tmp_path, capsys):
    out = tmp_path / "run"
    code = main(["demo", "--dataset", "cifar10", "--data", str(cifar), "--bits", "8", "--epochs", "1",
                 "--queries", "3", "--steps", "3", "--n-t", "2", "--methods", "Original", "DHTA", "--quiet",
                 "--no-figures", "--out", str(out)])
    assert code == 0
    text = (out / "table.md").read_text()
    assert "cifar10" in text and "MAP@all" in text and "eps = 0.0313725" in text


def test_cifar10_needs_its_folder(capsys):
    assert main(["demo", "--dataset", "cifar10", "--out", "/tmp/never-written"]) == 2
    assert "cifar10 needs --data" in capsys.readouterr().err
