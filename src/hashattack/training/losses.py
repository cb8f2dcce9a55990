"""Training objectives of the hashing models the paper attacks."""

from __future__ import annotations

import torch

from hashattack.retrieval.codes import binarize


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


DVH_BALANCE = 1e-4   # appendix B: balance of the quantization term


def dvh_loss(outputs: torch.Tensor, labels: torch.Tensor, balance: float = DVH_BALANCE) -> torch.Tensor:
    """Deep Video Hashing objective (Liong et al., IEEE TMM 2017) as used for the paper's video models.

    With u_i = tanh(f(x_i)) in (-1, 1)^K, d_ij = (1 - u_iᵀu_j / K) / 2 in [0, 1] (for binary codes
    exactly d_H(u_i, u_j) / K, the fraction of differing bits) and P the B(B-1) ordered pairs
    i != j of the batch, s_ij = +1 when i and j share a label:

        L = (1/|P|) Σ_{(i,j) in P} ( [s_ij = +1] d_ij² + [s_ij = -1] (1 - d_ij)² )   (discriminative)
            + λ · (1 / (B K)) Σ_i ‖sign(u_i) - u_i‖²                                (quantization)

    with λ = 1e-4 (appendix B); sign(0) = +1. The discriminative term is DVH's: intra-class
    compactness (same-label codes close) plus inter-class separability (different-label codes
    far), summed over the pairs of the batch, on Hamming distances relaxed through the codes'
    inner product (d_H(a, b) = (K - aᵀb) / 2, as everywhere in this library); the quantization
    term is DVH's ‖b - u‖² with b = sign(u). Penalties are squared because the linear form
    (Σ_S d - Σ_D d) is maximised by a balanced two-way split of the classes on every bit, all
    bits equal included, and training follows it into merged classes. Measured on the embedded
    Moving Fashion-MNIST clips (32 bits, 50 epochs, appendix B optimiser), MAP@1000 of test
    clips: linear 0.20 (2 distinct codes), linear with a hinge at d = 0.5 0.41, squared with
    each term averaged over its own pairs 0.55, this form 0.67. On binary codes this term is
    (1/4) of the pairwise loss of Yang et al. (`pairwise_loss`) plus a constant.
    """
    u = torch.tanh(outputs)
    bits = u.shape[1]
    distances = (1 - u @ u.T / bits) / 2
    similar = similarity_matrix(labels, labels) > 0
    penalties = torch.where(similar, distances.pow(2), (1 - distances).pow(2))
    off_diagonal = ~torch.eye(len(u), dtype=torch.bool, device=u.device)
    discriminative = penalties[off_diagonal].mean() if len(u) > 1 else u.new_zeros(())
    quantization = (binarize(u) - u).pow(2).mean()
    return discriminative + balance * quantization



def hashnet_beta(iteration: int, gamma: float = 0.005, power: float = 0.5, step: int = 200, init: float = 1.0) -> float:
    """HashNet's continuation: β = init · (1 + γ · s·⌊t/s⌋)^power at 0-based iteration t, raised every
    `step` = s iterations (HashNet's defaults: γ 0.005, power 0.5, s 200, init 1)."""
    return init * (1.0 + gamma * step * (iteration // step)) ** power


def hashnet_loss(outputs: torch.Tensor, labels: torch.Tensor, iteration: int = 0, alpha: float | None = None,
                 gamma: float = 0.005, power: float = 0.5, step: int = 200) -> torch.Tensor:
    """HashNet's weighted pairwise log-likelihood (Cao et al., ICCV 2017) with tanh(β z) continuation.

    outputs: pre-tanh hash outputs z (B, K); labels (B, C); iteration: the training iteration, which
    sets β (`hashnet_beta`). With u = tanh(β z), a_ij = α u_iᵀu_j (α = 10/K by default, HashNet's
    sigmoid parameter) and s_ij = 1 when i and j share a label, else 0:
        ℓ_ij = log(1 + exp(a_ij)) - s_ij a_ij,
        L = Σ_ij w_ij ℓ_ij / Σ_ij w_ij,  w_ij = |S|/|S_1| if s_ij = 1 else |S|/|S_0|,
    over all B² pairs of the batch (S_1 / S_0: similar / dissimilar pairs), i.e. the mean of the
    similar pairs' and the dissimilar pairs' mean losses, which balances the two kinds of pairs.
    """
    beta = hashnet_beta(iteration, gamma, power, step)
    u = torch.tanh(beta * outputs)
    a = (10.0 / u.shape[1] if alpha is None else alpha) * (u @ u.T)
    similar = similarity_matrix(labels, labels) > 0
    pair_loss = torch.nn.functional.softplus(a) - similar.float() * a
    n_similar = similar.sum()
    n_dissimilar = similar.numel() - n_similar
    weights = torch.where(similar, 1.0 / n_similar.clamp_min(1), 1.0 / n_dissimilar.clamp_min(1)).to(a.dtype)
    return (weights * pair_loss).sum() / weights.sum()



LOSSES = {"pairwise": pairwise_loss, "hashnet": hashnet_loss, "dvh": dvh_loss}
