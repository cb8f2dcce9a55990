"""The core: binary codes, Hamming ranking (packed popcount, torch, faiss), the retrieval metrics and the
perceptibility of perturbations."""

from hashattack.retrieval.codes import (anchor_code, binarize, codes_from_hex, codes_to_hex, hamming_distance,
                                        pack_bits, unpack_bits)
from hashattack.retrieval.metrics import (average_precisions, mean_average_precision, mean_of_average_precisions,
                                          precision_at_k, precision_at_ks, precision_recall_curve)
from hashattack.retrieval.perceptibility import perceptibility, ssim, summarize_perceptibility
from hashattack.retrieval.ranking import HammingIndex, hamming_rank, hamming_rank_with_distances
from hashattack.retrieval.stored import load_database

__all__ = ["anchor_code", "binarize", "codes_from_hex", "codes_to_hex", "hamming_distance", "pack_bits",
           "unpack_bits", "average_precisions", "mean_average_precision", "mean_of_average_precisions",
           "perceptibility", "ssim", "precision_at_k", "precision_at_ks", "precision_recall_curve",
           "summarize_perceptibility", "load_database", "HammingIndex", "hamming_rank", "hamming_rank_with_distances"]
