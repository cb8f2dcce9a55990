"""Training objectives of the hashing models the paper attacks."""

from __future__ import annotations

import torch


def similarity_matrix(labels_a: torch.Tensor, labels_b: torch.Tensor) -> torch.Tensor:
    """s_ij = +1 when label vectors i and j share at least one label, else -1."""
    shared = labels_a.float() @ labels_b.float().T
    return torch.where(shared > 0, 1.0, -1.0)


def pairwise_loss(outputs: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Pairwise loss of Yang et al. (IEEE T-Cyb 2018), as used to train the paper's image models.

    outputs: pre-tanh hash outputs (B, K); labels: (B, C) one-/multi-hot.
    L = mean_ij ((1/K) u_i^T u_j - s_ij)^2 with u = tanh(outputs), over all pairs of the batch.
    """
    u = torch.tanh(outputs)
    inner = u @ u.T / u.shape[1]
    return ((inner - similarity_matrix(labels, labels)) ** 2).mean()


LOSSES = {"pairwise": pairwise_loss}
