"""Datasets for retrieval experiments: a train / database / query split of labelled objects."""

from hashattack.data.base import LabeledSet, RetrievalDataset, one_hot
from hashattack.data.fashion_mnist import (
    DEFAULT_ROOT as FASHION_MNIST_ROOT,
    fashion_mnist_retrieval,
    load_fashion_mnist,
)

__all__ = [
    "LabeledSet",
    "RetrievalDataset",
    "one_hot",
    "FASHION_MNIST_ROOT",
    "fashion_mnist_retrieval",
    "load_fashion_mnist",
]
