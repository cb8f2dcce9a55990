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


DVH_BALANCE = 1e-4   # appendix B: balance of the quantization term
DVH_MARGIN = 0.5     # normalised distance of two independent random codes


def dvh_loss(outputs: torch.Tensor, labels: torch.Tensor, balance: float = DVH_BALANCE,
             margin: float = DVH_MARGIN) -> torch.Tensor:
    """Deep Video Hashing objective (Liong et al., IEEE TMM 2017) as used for the paper's video models.

    With u_i = tanh(f(x_i)) in (-1, 1)^K, d_ij = ‖u_i - u_j‖² / (4K) in [0, 1] (the fraction of
    differing bits when u is binary), S the pairs i != j of the batch sharing a label and D the
    pairs sharing none:

        L = mean_{(i,j) in S} d_ij + mean_{(i,j) in D} max(0, m - d_ij)      (discriminative)
            + λ · (1 / (B K)) Σ_i ‖sign(u_i) - u_i‖²                        (quantization)

    with λ = 1e-4 (appendix B) and m = 0.5. The discriminative term is DVH's intra-class
    compactness plus inter-class separability; the separability is a hinge rather than DVH's
    unbounded -Σ‖u_i - u_j‖², because the latter is maximised by any balanced two-way split of
    the classes on every bit (all bits equal included), which can merge classes; m = 0.5 is the
    distance of independent random codes, reachable by all pairs when K is large enough. Each
    term is a mean over its pairs, so the balance does not depend on the batch's class mix; an
    empty pair set contributes 0. sign(0) = +1.
    """
    u = torch.tanh(outputs)
    bits = u.shape[1]
    distances = (u[:, None, :] - u[None, :, :]).pow(2).sum(-1) / (4 * bits)
    similar = similarity_matrix(labels, labels) > 0
    off_diagonal = ~torch.eye(len(u), dtype=torch.bool, device=u.device)
    same, different = similar & off_diagonal, ~similar
    compact = distances[same].mean() if same.any() else u.new_zeros(())
    separate = (margin - distances[different]).clamp_min(0).mean() if different.any() else u.new_zeros(())
    quantization = (torch.where(u >= 0, 1.0, -1.0) - u).pow(2).mean()
    return compact + separate + balance * quantization


LOSSES["dvh"] = dvh_loss
