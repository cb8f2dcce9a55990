"""Datasets for retrieval experiments: a train / database / query split of labelled objects."""

from hashattack.data.base import LabeledSet, RetrievalDataset, one_hot
from hashattack.data.catalog import DATASET_NAMES, default_topk, open_dataset
from hashattack.data.fashion_mnist import (
    DEFAULT_ROOT as FASHION_MNIST_ROOT,
    fashion_mnist_retrieval,
    load_fashion_mnist,
)
from hashattack.data.mosaic import mosaic_fashion_retrieval
from hashattack.data.moving_fashion import moving_fashion_retrieval
from hashattack.data.video import VideoSet, read_video, sample_frame_indices
from hashattack.data.video_splits import video_retrieval

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
    "VideoSet",
    "read_video",
    "sample_frame_indices",
    "moving_fashion_retrieval",
    "mosaic_fashion_retrieval",
    "video_retrieval",
]
