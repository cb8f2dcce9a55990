"""Datasets for retrieval experiments: a train / database / query split of labelled objects.

Each dataset registers itself (`data.registry`) in its module; importing the module below is its one line here.
"""

from hashattack.data.base import LabeledSet, RetrievalDataset, one_hot
from hashattack.data.registry import DatasetEntry, available_datasets, dataset_entry, register_dataset
from hashattack.data import fashion_mnist  # noqa: F401  (registers "fashion-mnist")
from hashattack.data import mosaic  # noqa: F401  (registers "mosaic-fashion")
from hashattack.data import image_list  # noqa: F401  (registers "imagenet100", "nus-wide")
from hashattack.data import image_files  # noqa: F401  (registers "images")
from hashattack.data import moving_fashion  # noqa: F401  (registers "moving-fashion")
from hashattack.data import video_splits  # noqa: F401  (registers "jhmdb", "ucf101")
from hashattack.data import cifar10  # noqa: F401  (registers "cifar10")
from hashattack.data.catalog import default_topk, open_dataset
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
    "DatasetEntry",
    "available_datasets",
    "dataset_entry",
    "register_dataset",
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
