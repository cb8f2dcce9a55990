"""Methods by name: which attack class a name builds, and what it steers towards.

A run names its methods ("Original", "Noise", "Untargeted", "P2P", "DHTA", "Feature", "Center"); this registry turns a
name into its attack object and says what the attack is called with besides the queries:

- `target = "anchor"`: anchor codes voted from `anchor_size` target objects ("n_t": the run's n_t);
- `target = "object"`: the pixels of one target object (the feature-based attack);
- `target = "center"`: the class center code of each query, voted from the database objects sharing
  its label (CgAT's attack, away from it);
- `target = None`: nothing (the benign query, uniform noise, the untargeted attack).

`scored_by` says what measures a method's success: "t_map" (the adversarial query against the
target label) for the targeted attacks, "map" (against the query's own label: how far results
drop) for the untargeted attack and the benign query.

The entry also says how the protocol calls the attack (`call`: `takes_ids` for an attack drawing
per-query noise from the query ids), what it is called with for a manifest's queries (`targets`)
and against which targets it is scored (`target_size`), and whether its result is the benign
query itself (`benign`: the reference the others' Hamming distance is measured from). The
protocol asks the entry and never switches on a method's name or class.

`METHOD_ORDER` is the one place the order of the paper's tables is stated.
"""

from __future__ import annotations

from dataclasses import dataclass

from typing import Callable, Mapping

import torch
from torch import nn

from hashattack.attacks.base import Attack
from hashattack.attacks.center import CenterAttack, center_codes
from hashattack.attacks.dhta import DHTA, P2P
from hashattack.attacks.feature import FeatureAttack
from hashattack.attacks.noise import Noise, Original
from hashattack.attacks.untargeted import Untargeted
from hashattack.errors import InputError
from hashattack.retrieval.codes import anchor_code


@dataclass(frozen=True)
class Method:
    """One registered method: its attack class, what it is called with, and which settings it takes."""

    name: str
    attack: type[Attack]
    target: str | None = None           # "anchor", "object", "center" or None
    anchor_size: int | str | None = None   # objects voted into the anchor: an int, or "n_t" (the run's)
    options: tuple[str, ...] = ()       # keyword settings the attack class takes besides eps / eps_space
    description: str = ""
    scored_by: str = "t_map"            # "t_map": against the target label; "map": against its own label
    takes_ids: bool = False             # called with the query ids (each query's own noise, whatever its batch)
    benign: bool = False                # its result is the benign query (the reference of the others' distance)

    def anchor_objects(self, n_t: int) -> int | None:
        """How many target objects this method needs from the manifest (None: it needs none)."""
        if self.target not in ("anchor", "object"):
            return None
        return n_t if self.anchor_size == "n_t" else int(self.anchor_size or 1)

    def target_size(self, n_t: int) -> int:
        """The n_t whose manifest targets this method is scored against: its anchor size, else the run's."""
        size = self.anchor_objects(n_t)
        return n_t if size is None else size

    def targets(self, anchor_ids: Mapping[int, list], n_t: int, db_codes: torch.Tensor,
                object_pixels: Callable[[torch.Tensor], torch.Tensor], query_labels=None,
                db_labels=None) -> tuple[torch.Tensor | None, torch.Tensor | None]:
        """(anchor codes, what the attack is called with) for a manifest's queries: anchors voted from the
        database codes of its `anchor_ids[size]` objects; the attack takes them, or for `target = "object"`
        the first object's pixels (`object_pixels(ids)`); for `target = "center"` no anchors and the queries'
        class center codes (from `query_labels` and `db_labels`); (None, None) for a method without targets."""
        if self.target == "center":
            return None, center_codes(db_codes, db_labels, query_labels)
        size = self.anchor_objects(n_t)
        if size is None:
            return None, None
        if size not in anchor_ids:
            raise InputError(f"the manifest holds no anchors for n_t = {size} (it has {sorted(anchor_ids)})")
        ids = torch.tensor(anchor_ids[size])
        anchors = anchor_code(db_codes[ids])
        return anchors, object_pixels(ids[:, 0]) if self.target == "object" else anchors

    def call(self, attack: Attack, images: torch.Tensor, targets: torch.Tensor | None = None,
             ids: list[int] | None = None) -> torch.Tensor:
        """The attack run on a batch: with its targets (if it takes any) and the query ids (if it takes them)."""
        args = () if targets is None else (targets,)
        return attack(images, *args, ids=ids) if self.takes_ids else attack(images, *args)


SPEED = ("early_stop", "precision", "channels_last", "compile")
METHODS: dict[str, Method] = {m.name: m for m in (
    Method("Original", Original, description="the benign query", scored_by="map", benign=True),
    Method("Noise", Noise, options=("seed",), description="uniform noise in [-eps, eps]", takes_ids=True),
    Method("Untargeted", Untargeted, options=("steps", "step_size") + SPEED, scored_by="map",
           description="untargeted Hamming-space attack (Yang et al., IEEE T-Cyb 2018): away from the benign code"),
    Method("P2P", P2P, "anchor", 1, ("steps", "step_size") + SPEED, "DHTA with n_t = 1 (point to point)"),
    Method("DHTA", DHTA, "anchor", "n_t", ("steps", "n_t", "step_size") + SPEED, "DHTA (Bai et al., ECCV 2020)"),
    Method("Feature", FeatureAttack, "object", 1, ("steps", "step_size"),
           "feature-based attack (Inkawhich et al., CVPR 2019) towards P2P's target object"),
    Method("Center", CenterAttack, "center", options=("steps", "step_size") + SPEED, scored_by="map",
           description="CgAT's center-code attack (Wang et al., WWW 2023): away from the class center code"),
)}
METHOD_ORDER = tuple(METHODS)
PAPER_METHODS = ("Original", "Noise", "P2P", "DHTA")   # appendix Table 1's rows


def method(name: str) -> Method:
    """The registered method `name`, or a one-line error listing the names."""
    try:
        return METHODS[name]
    except (KeyError, TypeError):
        raise InputError(f"unknown method {name!r}: choose from {', '.join(METHOD_ORDER)}") from None


def ordered(names) -> tuple[str, ...]:
    """`names` checked and in the registry's order, each once."""
    chosen = {method(n).name for n in names}
    if not chosen:
        raise InputError(f"give at least one method: {', '.join(METHOD_ORDER)}")
    return tuple(n for n in METHOD_ORDER if n in chosen)


def build_attack(name: str, model: nn.Module, eps: float, eps_space: str = "pixel", **settings) -> Attack:
    """The attack object of method `name`; `settings` may hold more keys than it takes (they are ignored)."""
    entry = method(name)
    return entry.attack(model, eps=eps, eps_space=eps_space,
                        **{k: v for k, v in settings.items() if k in entry.options})


__all__ = ["Method", "METHODS", "METHOD_ORDER", "PAPER_METHODS", "method", "ordered", "build_attack"]
