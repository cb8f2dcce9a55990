"""An ensemble of hashing models seen as one: its output is the members' outputs side by side.

`Ensemble([m1, m2, m3])(x)` is `cat(m1(x), m2(x), m3(x))`, (B, K1 + K2 + K3); its code is the
members' codes side by side and the anchor voted from such codes is the members' anchors side by
side (voting is bit by bit). DHTA's loss on it, -(1/K) h_aᵀ tanh(α f(x)), is therefore
Σ_m (K_m / K) L_m: the members' own DHTA losses summed, each weighted by its share of the bits
(all equal for members of one code length). DHTA's step is g / ‖g‖₂, so a constant factor on the
loss changes nothing: attacking the ensemble is attacking the sum of the members' losses. It is
the surrogate of a transfer attack that crafts on several models at once.

The members' normalisation is kept by each member; the ensemble carries `mean` / `std` only
when every member has the same ones (so DHTA's δ lives in the same space as for one member).
"""

from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from hashattack.errors import InputError


class Ensemble(nn.Module):
    """Several hashing models (pixels in [0, 1] -> (B, K_m)) as one model (pixels -> (B, Σ K_m))."""

    def __init__(self, members: Sequence[nn.Module]):
        super().__init__()
        if len(members) < 1:
            raise InputError("an ensemble needs at least one model")
        self.members = nn.ModuleList(members)
        means = [getattr(m, "mean", None) for m in members]
        stds = [getattr(m, "std", None) for m in members]
        if all(isinstance(t, torch.Tensor) for t in means + stds) and \
                all(torch.equal(means[0], m) for m in means) and all(torch.equal(stds[0], s) for s in stds):
            self.register_buffer("mean", means[0].detach().clone())
            self.register_buffer("std", stds[0].detach().clone())

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        return torch.cat([member(pixels) for member in self.members], dim=1)


__all__ = ["Ensemble"]
