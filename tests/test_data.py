"""The Fashion-MNIST reader and the default retrieval protocol."""

from __future__ import annotations

import gzip

import pytest
import torch

from hashattack.data import fashion_mnist_retrieval, load_fashion_mnist
from hashattack.errors import InputError


def test_reads_a_folder_of_idx_files(fake_fmnist):
    arrays = load_fashion_mnist(fake_fmnist)
    assert arrays["train_images"].shape == (120, 1, 28, 28) and arrays["train_images"].dtype == torch.uint8
    assert arrays["test_labels"].shape == (40,)
    assert sorted(arrays["train_labels"].unique().tolist()) == list(range(10))


def test_default_protocol(fake_fmnist):
    data = fashion_mnist_retrieval(fake_fmnist, train_per_class=5, seed=1)
    assert len(data.database) == 120 and len(data.query) == 40 and len(data.train) == 50
    assert data.train.labels.sum(0).tolist() == [5] * 10
    assert set(data.train.ids.tolist()) <= set(data.database.ids.tolist())
    assert data.num_classes == 10 and data.image_shape == (1, 28, 28)
    assert 0 <= data.query.pixels(slice(0, 4)).min() and data.query.pixels(slice(0, 4)).max() <= 1
    again = fashion_mnist_retrieval(fake_fmnist, train_per_class=5, seed=1)
    assert torch.equal(again.train.ids, data.train.ids)


def test_missing_files_say_how_to_install(tmp_path):
    with pytest.raises(InputError, match="apt-get install dataset-fashion-mnist"):
        load_fashion_mnist(tmp_path)


def test_corrupt_file_is_named(fake_fmnist, tmp_path):
    for f in fake_fmnist.iterdir():
        (tmp_path / f.name).write_bytes(f.read_bytes())
    with gzip.open(tmp_path / "train-labels-idx1-ubyte.gz", "wb") as handle:
        handle.write(b"\x00\x00\x08\x01\x00\x00\x00\x09abc")
    with pytest.raises(InputError, match="train-labels-idx1-ubyte.gz: IDX header says 9 values"):
        load_fashion_mnist(tmp_path)
