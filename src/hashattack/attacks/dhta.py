"""DHTA: Targeted Attack for Deep Hashing based Retrieval (Bai et al., ECCV 2020), and P2P.

Distance: ℓ∞, ‖x' - x‖∞ <= ε (per channel; pixel or normalised space, see `attacks.base`).
Objective: minimise L(δ) = -(1/K) h_aᵀ tanh(α f(x + δ)), the relaxation of d_H(h_a, h(x')),
where h_a is the anchor code voted from n_t objects of the target label (`codes.anchor_code`).

Optimiser of the official code, reproduced exactly:
- δ starts at 0 and lives in the model's normalised input space (as in the official code);
- each step: g = ∇_δ L; δ <- δ - step · g / ‖g‖₂ with the ℓ2 norm of *that query's* gradient;
  then x + δ is projected onto valid pixels and δ onto the ε ball;
- α follows the official schedule as fractions of the steps: 0.1 for the first half, then 0.2,
  0.3, 0.5, 0.7 and 1.0 for each following tenth (at 2000 steps: 0.1 until 1000, 0.2 until 1200,
  ... 1.0 from 1800);
- step scaling: the unit ℓ2 step was tuned for 3x224x224 inputs. For an input of D values per
  query the step is `step_size * sqrt(D / 150528)`, which keeps the per-value RMS step of the
  official attack (for 3x224x224 it is exactly 1.0). `scale_step=False` takes `step_size` as is.

Queries are independent: a batch of B queries does in one forward/backward what B one-query
runs do, with each query's step normalised by its own gradient norm.

Dtype: the loss, the anchors, δ and the ε ball are in the model's dtype (its first floating
parameter's, `Attack.working_dtype`): a float32 model is attacked in float32, a float64 model in
float64 (the images are cast to it), so the optimiser can be checked against the official
arithmetic in double precision.

Anchor ties: `anchor_code` gives +1 on a tied bit (Algorithm 1 as written; Theorem 1 holds), the
official code's `np.sign` gives 0, which drops that bit from the loss. Ties occur only for even
n_t (a sum of an odd number of ±1 is never 0), so never at the default n_t = 9 nor in the `nt`
preset (odd n_t); `anchor_code(codes, ties="zero")` gives the official anchors, which this attack
takes from object codes (B, n_t, K) with `anchor_ties="zero"` (0 bits carry no loss).

Arguments: model (pixels in [0, 1] -> pre-tanh (B, K)), eps (`attacks.base.DEFAULT_EPS`, 8/255), eps_space ("pixel"),
steps (2000), n_t (9; the number of target objects voted into the anchor, used by the
experiment protocol), step_size (1.0), scale_step (True).

Speed options (none changes the algorithm; the defaults reproduce the official optimiser):
- early_stop (False): freeze a query as soon as its code equals its anchor (its δ is the one
  that reached the anchor) and drop it from the batch; the official optimiser runs every step.
  `steps_taken` holds, after a call, the forward/backward passes each query of the batch ran;
- precision ("fp32"): "bf16" runs the model's forward and backward under bfloat16 autocast
  (the loss, the step and δ stay in the model's dtype); codes can differ from fp32, so its t-MAP is measured;
- channels_last (False): 4-D inputs and the model's weights in channels-last memory format
  (faster convolutions on GPUs with tensor cores; converts the model in place);
- compile (False): run the model through `torch.compile` (True: the default backend, or the
  name of a backend), compiled once per attack object. TF32 matmuls on GPU are a process-wide
  switch: `hashattack.models.acceleration.enable_tf32()`.

Example::

    attack = DHTA(model, eps=0.1, steps=2000)
    adversarial = attack(images, anchor_codes)   # (B, C, H, W), (B, K) -> (B, C, H, W)
"""

from __future__ import annotations

import contextlib
from fractions import Fraction

import torch

from hashattack.attacks.base import Attack, DEFAULT_EPS, check_flags, check_step_size
from hashattack.attacks.descent import normalized_descent, step_length
from hashattack.models.batch_invariance import model_rows
from hashattack.retrieval.codes import TIES, anchor_code, binarize, positive_int
from hashattack.errors import InputError
from hashattack.validation import check_choice

ALPHA_BOUNDARIES = tuple(Fraction(n, 10) for n in (5, 6, 7, 8, 9))
ALPHA_VALUES = (0.1, 0.2, 0.3, 0.5, 0.7, 1.0)
PRECISIONS = ("fp32", "bf16")


def alpha_schedule(step: int, steps: int) -> float:
    """α at iteration `step` (0-based) of `steps`: the official schedule stated as fractions of `steps`."""
    position = Fraction(step, steps)
    return ALPHA_VALUES[sum(position >= boundary for boundary in ALPHA_BOUNDARIES)]


def check_anchor_codes(target_codes, num_images: int) -> None:
    """One line on what DHTA takes when it is handed something else (class indices, 0/1 label vectors)."""
    hint = ("DHTA takes anchor codes, +-1 tensors (B, K) (or target objects' codes (B, n_t, K)); to attack "
            "towards target labels use hashattack.attack_to_label(model, images, labels, database_codes, "
            "database_labels)")
    if not isinstance(target_codes, torch.Tensor) or target_codes.dim() not in (2, 3):
        shape = tuple(target_codes.shape) if isinstance(target_codes, torch.Tensor) else type(target_codes).__name__
        raise InputError(f"got {shape} for the targets of {num_images} images (labels?); {hint}")
    if target_codes.numel() and not ((target_codes == 1) | (target_codes == -1)).all():
        raise InputError(f"the targets hold values other than -1 and +1 (labels?); {hint}")


class DHTA(Attack):
    """Deep Hashing Targeted Attack: steer a query's code towards an anchor code."""

    name = "DHTA"

    def __init__(self, model, eps: float | torch.Tensor = DEFAULT_EPS, eps_space: str = "pixel", steps: int = 2000,
                 n_t: int = 9, step_size: float = 1.0, scale_step: bool = True, *, early_stop: bool = False,
                 precision: str = "fp32", channels_last: bool = False, compile: bool | str = False,
                 anchor_ties: str = "plus"):
        super().__init__(model, eps, eps_space)
        if anchor_ties not in TIES:
            raise InputError(f"anchor_ties must be 'plus' (Algorithm 1) or 'zero' (the official np.sign), got {anchor_ties!r}")
        self.anchor_ties = anchor_ties
        check_choice(precision, PRECISIONS, "precision")
        if not isinstance(compile, (bool, str)):
            raise InputError(f"compile must be True, False or a torch.compile backend name, got {compile!r}")
        check_flags(early_stop=early_stop, channels_last=channels_last, scale_step=scale_step)
        self.early_stop, self.precision, self.channels_last, self.compile = \
            bool(early_stop), precision, bool(channels_last), compile
        self._compiled = None
        self.steps_taken: torch.Tensor | None = None
        steps, n_t, step_size = positive_int(steps, "steps"), positive_int(n_t, "n_t"), check_step_size(step_size)
        self.steps, self.n_t, self.step_size, self.scale_step = steps, n_t, step_size, scale_step

    def step_length(self, images: torch.Tensor) -> float:
        """The ℓ2 length of one step for inputs shaped like `images` (see the scaling rule above)."""
        return step_length(images, self.step_size, self.scale_step)

    def network(self) -> torch.nn.Module:
        """The model as the step loop calls it: compiled once when `compile` is set."""
        if not self.compile:
            return self.model
        if self._compiled is None:
            backend = "inductor" if self.compile is True else self.compile
            self._compiled = torch.compile(self.model, backend=backend, dynamic=self.early_stop or None)
        return self._compiled

    def forward(self, images: torch.Tensor, target_codes: torch.Tensor) -> torch.Tensor:
        """images (B, C, ...) in [0, 1]; target_codes: anchors (B, K) or target objects' codes (B, n, K)."""
        check_anchor_codes(target_codes, images.shape[0])
        anchors = anchor_code(target_codes, ties=self.anchor_ties) if target_codes.dim() == 3 else target_codes
        dtype = self.working_dtype(images)   # the model's: float64 models get a float64 attack
        images = images.to(dtype)
        anchors = anchors.to(images.device, dtype)
        if anchors.shape[0] != images.shape[0]:
            raise InputError(f"{images.shape[0]} images but {anchors.shape[0]} anchor codes")
        if self.channels_last and images.dim() == 4:
            self.model.to(memory_format=torch.channels_last)
            images = images.contiguous(memory_format=torch.channels_last)
        net = self.network()
        autocast = (torch.autocast(images.device.type, dtype=torch.bfloat16) if self.precision == "bf16"
                    else contextlib.nullcontext())
        bits = anchors.shape[1]

        def loss_of(adversarial: torch.Tensor, t: int, active: torch.Tensor):
            with autocast:   # padded to whole blocks: a query's bits do not depend on the batch
                padded = model_rows(self.checked(net) if t == 0 else net, adversarial).to(dtype)
            rows = len(adversarial)
            outputs, goal = padded[:rows], anchors[active]
            if t == 0:
                self.check_outputs(outputs, bits)
            loss = -(goal * torch.tanh(alpha_schedule(t, self.steps) * padded)[:rows]).sum() / bits
            if not self.early_stop:
                return loss
            return loss, (binarize(outputs) == goal).all(dim=1)

        _, std = self.normalization(images)
        adversarial, self.steps_taken = normalized_descent(
            images, loss_of, self.steps, self.step_length(images), self.eps_pixel(images), std,
            progress=f"{self.name} steps" if self.progress else None, early_stop=self.early_stop)
        return adversarial

    def settings(self) -> dict:
        return {**super().settings(), "steps": self.steps, "n_t": self.n_t, "step_size": self.step_size,
                "scale_step": self.scale_step, "step_length_rule": "step_size*sqrt(D/150528)" if self.scale_step else "step_size",
                "early_stop": self.early_stop, "precision": self.precision, "channels_last": self.channels_last,
                "compile": self.compile, **({"anchor_ties": "zero"} if self.anchor_ties == "zero" else {})}


class P2P(DHTA):
    """Point-to-point baseline: DHTA with n_t = 1 (the anchor is one target object's code)."""

    name = "P2P"

    def __init__(self, model, eps: float | torch.Tensor = DEFAULT_EPS, eps_space: str = "pixel", steps: int = 2000,
                 step_size: float = 1.0, scale_step: bool = True, **speed_options):
        super().__init__(model, eps, eps_space, steps, 1, step_size, scale_step, **speed_options)
