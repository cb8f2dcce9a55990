"""Paper-scale DHTA on one GPU with the speed options: VGG-11 hashing model at 224x224, 100 x 2000 steps.

The companion of gpu_paper_scale.py (the plain paper-scale check): the same workload, timed once
per combination of options.

Times the batched attack with each speed option of `attacks.DHTA` (TF32, bf16 autocast,
channels_last, torch.compile, early stop), counts the FLOPs of one step with
torch.utils.flop_counter, and reports the achieved TFLOP/s and the fraction of the chip's peak
(dense peaks of the precision in use; defaults are an H200 SXM's: FP32 67, TF32 495, BF16 989
TFLOP/s, override with --peak-*). The model is randomly initialised (no ImageNet weights can
be downloaded here); speed does not depend on the weights. ε is the paper's 0.032 in the
normalised space. The first configuration run is the codes reference (fp32 with TF32 off unless
--configs says otherwise) and the table says which it is. Every configuration is warmed up (a
few steps on the full batch: CUDA context, cuDNN algorithm choice, torch.compile's compile)
before its timed run, and the warm-up time is reported apart. Without CUDA it exits with status 2
(--device cpu is an explicit smoke run). Prints a table and writes results.md and results.json to
--out (never to benchmarks/RESULTS.md: copy the figures there by hand).

    python benchmarks/gpu_speed_options.py --out gpu_options      # the full check, ~minutes on an H200
    python benchmarks/gpu_speed_options.py --steps 200 --out o    # quicker: the per-step cost is constant
    python benchmarks/gpu_speed_options.py --device cpu --queries 2 --steps 2 --size 64 --out /tmp/o   # smoke test
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import torch
from torch.utils.flop_counter import FlopCounterMode

from hashattack.attacks import DHTA
from hashattack.models import available_models, create_model
from hashattack.models.acceleration import enable_tf32
from hashattack.models.base import HashingModel

CONFIGS = {
    "fp32": {},
    "tf32": {"tf32": True},
    "tf32+channels_last": {"tf32": True, "channels_last": True},
    "bf16+channels_last": {"precision": "bf16", "channels_last": True},
    "bf16+channels_last+compile": {"precision": "bf16", "channels_last": True, "compile": True},
    "bf16+channels_last+early_stop": {"precision": "bf16", "channels_last": True, "early_stop": True},
}


def vgg11_hash(bits: int) -> torch.nn.Module:
    """The registry's VGG-11 hashing model when the library has it, else the same network built here."""
    for name in ("vgg11", "vgg11-hash"):
        if name in available_models():
            return create_model(name, bits)
    import torchvision

    class VGG11Hash(HashingModel):
        architecture = "vgg11-local"

        def __init__(self):
            super().__init__(bits, 4096, (0.485, 0.456, 0.406), (0.229, 0.224, 0.225))
            net = torchvision.models.vgg11(weights=None)
            self.trunk = torch.nn.Sequential(net.features, net.avgpool, torch.nn.Flatten(1),
                                             *list(net.classifier.children())[:-1])

        def embed(self, normalized):
            return self.trunk(normalized)

    return VGG11Hash()


def step_flops(model, images, anchors) -> int:
    """FLOPs of one attack step (forward + gradient w.r.t. the input) on the whole batch."""
    delta = torch.zeros_like(images, requires_grad=True)
    with FlopCounterMode(display=False) as counter:
        loss = -(anchors * torch.tanh(model(images + delta))).sum()
        torch.autograd.grad(loss, delta)
    return counter.get_total_flops()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--queries", type=int, default=100)
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--bits", type=int, default=32)
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--configs", nargs="+", default=list(CONFIGS), choices=list(CONFIGS))
    parser.add_argument("--peak-fp32", type=float, default=67.0, help="dense FP32 TFLOP/s of the chip")
    parser.add_argument("--peak-tf32", type=float, default=495.0, help="dense TF32 TFLOP/s of the chip")
    parser.add_argument("--peak-bf16", type=float, default=989.0, help="dense BF16 TFLOP/s of the chip")
    parser.add_argument("--warmup-steps", type=int, default=3)
    parser.add_argument("--out", type=Path, required=True, help="folder for results.md and results.json")
    args = parser.parse_args()

    torch.manual_seed(0)
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        print("gpu_speed_options.py: error: no CUDA device here (torch.cuda.is_available() is False); "
              "--device cpu runs a smoke test", file=sys.stderr)
        sys.exit(2)
    images = torch.rand(args.queries, 3, args.size, args.size, device=device)
    anchors = torch.where(torch.randn(args.queries, args.bits, device=device) > 0, 1.0, -1.0)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU"
    weights = vgg11_hash(args.bits).state_dict()      # every configuration attacks the same network
    rows, records, reference = [], [], None
    for config in args.configs:
        options = dict(CONFIGS[config])
        enable_tf32(options.pop("tf32", False))
        model = vgg11_hash(args.bits)
        model.load_state_dict(weights)
        model = model.to(device).eval()
        flops = step_flops(model, images, anchors)
        attack = DHTA(model, eps=0.032, eps_space="normalized", steps=args.warmup_steps, **options)
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        started = time.perf_counter()
        attack(images, anchors)               # warm-up (and compile) on the full batch, outside the timing
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        warmup = time.perf_counter() - started
        attack.steps = args.steps
        if device.type == "cuda":
            torch.cuda.synchronize(device)
            torch.cuda.reset_peak_memory_stats(device)
        started = time.perf_counter()
        adversarial = attack(images, anchors)
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        seconds = time.perf_counter() - started
        with torch.no_grad():
            codes = torch.where(model(adversarial) >= 0, 1.0, -1.0)
        reference = codes if reference is None else reference
        passes = int(attack.steps_taken.sum())
        achieved = flops * passes / args.queries / seconds / 1e12
        peak = args.peak_bf16 if options.get("precision") == "bf16" else (args.peak_tf32 if "tf32" in config else args.peak_fp32)
        memory = torch.cuda.max_memory_allocated(device) / 2**30 if device.type == "cuda" else float("nan")
        records.append({"options": config, "tf32": bool(torch.backends.cuda.matmul.allow_tf32),
                        "warmup_seconds": round(warmup, 2), "seconds": round(seconds, 3), "tflops": round(achieved, 3),
                        "fraction_of_peak": round(achieved / peak, 4), "peak_gib": round(memory, 2),
                        "codes_equal_reference": int((codes == reference).all(dim=1).sum())})
        rows.append([config, f"{warmup:.1f}", f"{seconds:.1f}", f"{args.queries * args.steps / seconds:,.0f}", f"{achieved:.1f}",
                     f"{100 * achieved / peak:.1f}% of {peak:.0f}", f"{memory:.1f}",
                     f"{int((codes == reference).all(dim=1).sum())}/{args.queries}"])
        print(rows[-1], flush=True)
    enable_tf32(False)
    header = ["options", "warm-up (+compile) s", "seconds", "query·steps/s", "TFLOP/s", "of peak", "peak GiB",
              f"codes = {args.configs[0]}'s"]
    text = (f"### gpu_speed_options.py — {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC\n\n"
            f"VGG-11 hash ({args.bits} bits, random weights), {args.size}x{args.size}, {args.queries} queries x "
            f"{args.steps} steps, one batch, eps 0.032 normalised, on {name}; {flops / args.queries / 1e9:.1f} GFLOP "
            f"per query-step; codes reference: the {args.configs[0]} row.\n\n"
            + "| " + " | ".join(header) + " |\n|" + "|".join("---" for _ in header) + "|\n"
            + "".join("| " + " | ".join(r) + " |\n" for r in rows))
    print(text)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "results.md").write_text(text)
    (args.out / "results.json").write_text(json.dumps({"device": name, "queries": args.queries, "steps": args.steps,
                                                       "size": args.size, "bits": args.bits, "rows": records}, indent=2))


if __name__ == "__main__":
    main()
