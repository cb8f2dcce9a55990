"""Datasets for retrieval experiments: a train / database / query split of labelled objects."""

from hashattack.data.base import LabeledSet, RetrievalDataset, one_hot
from hashattack.data.catalog import DATASET_NAMES, default_topk, open_dataset
from hashattack.data.fashion_mnist import (
    DEFAULT_ROOT as FASHION_MNIST_ROOT,
    fashion_mnist_retrieval,
    load_fashion_mnist,
)

__all__ = [
    "DATASET_NAMES",
    "default_topk",
    "open_dataset",
    "LabeledSet",
    "RetrievalDataset",
    "one_hot",
    "FASHION_MNIST_ROOT",
    "fashion_mnist_retrieval",
    "load_fashion_mnist",
]
