"""Center-code attack of CgAT (Wang, Lin and Li, "CgAT: Center-Guided Adversarial Training for Deep
Hashing-Based Retrieval", WWW 2023, arXiv:2204.10779): push a query's code away from its class center code.

Distance: ℓ∞, ‖x' - x‖∞ <= ε (per channel; pixel or normalised space, see `attacks.base`).
Center code: h_c = the component vote (DHTA's Algorithm 1, `retrieval.codes.anchor_code`) of the database
codes b_i of the objects sharing at least one label with the query: bit j of h_c is sign(Σ_{i: y_iᵀy_q > 0} b_ij),
a tie giving +1 (`center_codes`). CgAT's center code also keeps away from the codes of the objects sharing no
label; this attack votes the positives only, as the "center" adversarial training of `training.adversarial`.
Objective: maximise d_H(h_c, h(x')), relaxed to minimising L(δ) = (1/K) h_cᵀ tanh(α f(x + δ)): the untargeted
attack's loss with h_c in place of the benign code, on DHTA's optimiser unchanged (`attacks.untargeted`). It is
scored by the MAP of the adversarial query against its own label: how far the results drop.

Arguments: as `attacks.untargeted.Untargeted`: model, eps (0.1), eps_space ("pixel"), steps (2000),
step_size (1.0), scale_step (True), and the speed options early_stop (False; a query stops once every bit
differs from h_c), precision ("fp32"), channels_last (False), compile (False).

Shapes: images (B, C, H, W) (or (B, T, C, H, W) for a video model) in [0, 1]; centers (B, K) in {-1, +1};
returns adversarial pixels shaped like `images`.

Example::

    centers = center_codes(db_codes, db_labels, query_labels)      # (N, K), (N, C), (B, C) -> (B, K)
    adversarial = CenterAttack(model, eps=0.2, steps=2000)(images, centers)
"""

from __future__ import annotations

import torch

from hashattack.attacks.untargeted import Untargeted
from hashattack.errors import InputError
from hashattack.retrieval.codes import anchor_code
from hashattack.retrieval.stored import label_vectors


def center_codes(db_codes: torch.Tensor, db_labels, query_labels) -> torch.Tensor:
    """The class center code (B, K) of each query: the vote of the database codes (N, K) of the objects whose
    labels (class indices (N,) or 0/1 vectors (N, C)) share one with the query's (B,) or (B, C)."""
    database = torch.from_numpy(label_vectors(db_labels, None, "database labels")).float()
    queries = torch.from_numpy(label_vectors(query_labels, database.shape[1], "query labels")).float()
    shared = (queries @ database.T) > 0
    lonely = (~shared.any(dim=1)).nonzero().flatten().tolist()
    if lonely:
        raise InputError(f"query {lonely[0]} shares no label with any database object: it has no center code")
    return torch.stack([anchor_code(db_codes, weights=row.double()) for row in shared])


class CenterAttack(Untargeted):
    """CgAT's attack: drive a query's code away from the center code of its class."""

    name = "Center"

    def forward(self, images: torch.Tensor, centers: torch.Tensor) -> torch.Tensor:
        """images (B, ...) in [0, 1]; centers (B, K): the queries' class center codes (`center_codes`)."""
        return super().forward(images, centers)

    def settings(self) -> dict:
        return {**super().settings(), "objective": "(1/K) h_c^T tanh(alpha f(x + delta)), h_c the class center code"}


__all__ = ["CenterAttack", "center_codes"]
