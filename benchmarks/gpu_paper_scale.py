"""Paper-scale speed check of DHTA on one CUDA GPU: VGG-11 at 224x224 and the video model on 40-frame clips.

Needs no dataset and no pretrained weights: the models are randomly initialised (speed does not
depend on the weights), the queries are random pixels, and the database is synthetic random codes
(its size matters only for the ranking, timed on its own). Refuses to run without CUDA (exit 2)
rather than falling back to a days-long CPU run; `--device cpu` is an explicit smoke run.

Reports, for each part: the warm-up (CUDA context, cuDNN algorithm choice, and torch.compile's
compile time with --compile) separately from the timed attack, the attack's wall time,
images·steps per second, FLOPs per image·step (counted by torch.utils.flop_counter: forward plus
the input gradient; about 30.4 GFLOP for VGG-11 at 224x224), the TFLOP/s reached and the
fraction of the chip's dense peak for the precision used (defaults: an H200 SXM's FP32 67, TF32
495, BF16 989 TFLOP/s; --peak overrides), whether TF32 was on (set explicitly, never left to
the defaults), and the ranking of the adversarial codes: the packed CPU kernel (numba's first
compile/load timed apart) and the CUDA backend (torch), which must give the same ranking.

    python benchmarks/gpu_paper_scale.py --out gpu_out                    # fp32 (TF32 off), 100 x 2000
    python benchmarks/gpu_paper_scale.py --precision tf32 --out gpu_out   # TF32 convolutions and matmuls
    python benchmarks/gpu_paper_scale.py --precision bf16 --channels-last --compile --out gpu_out
    python benchmarks/gpu_paper_scale.py --device cpu --queries 2 --steps 2 --size 64 \\
        --video-clips 1 --video-frames 2 --video-steps 1 --database 5000        # CPU smoke run
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

import torch
from torch.utils.flop_counter import FlopCounterMode

from hashattack.attacks import DHTA
from hashattack.models import create_model
from hashattack.models.acceleration import enable_tf32
from hashattack.retrieval.codes import anchor_code
from hashattack.retrieval.ranking import HammingIndex

PEAKS = {"fp32": 67.0, "tf32": 495.0, "bf16": 989.0}   # H200 SXM dense TFLOP/s


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def step_gflop(model, sample: torch.Tensor, anchors: torch.Tensor) -> float:
    """GFLOP of one query·step (forward plus the gradient with respect to the input) for one query."""
    delta = torch.zeros_like(sample, requires_grad=True)
    with FlopCounterMode(display=False) as counter:
        loss = -(anchors * torch.tanh(model(sample + delta))).sum()
        torch.autograd.grad(loss, delta)
    return counter.get_total_flops() / 1e9


def timed_attack(name: str, model, queries: torch.Tensor, anchors: torch.Tensor, args, device) -> dict:
    """Warm up (compile), then time DHTA over all queries in batches; the figures of one part."""
    options = {"precision": "bf16" if args.precision == "bf16" else "fp32", "channels_last": args.channels_last,
               "compile": args.compile}
    attack = DHTA(model, eps=args.eps, eps_space="normalized", steps=args.warmup_steps, n_t=args.n_t, **options)
    gflop = step_gflop(model, queries[:1].to(device), anchors[:1].to(device))
    synchronize(device)
    started = time.perf_counter()
    attack(queries[:args.batch_size].to(device), anchors[:args.batch_size].to(device))   # warm-up / compile
    synchronize(device)
    warmup = time.perf_counter() - started
    attack.steps = args.steps if name == "vgg11" else args.video_steps
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    adversarial = []
    synchronize(device)
    started = time.perf_counter()
    for start in range(0, len(queries), args.batch_size):
        batch = queries[start:start + args.batch_size].to(device)
        adversarial.append(attack(batch, anchors[start:start + args.batch_size].to(device)))
    synchronize(device)
    seconds = time.perf_counter() - started
    adversarial = torch.cat(adversarial)
    work = len(queries) * attack.steps
    tflops = gflop * work / seconds / 1e3
    peak = args.peak or PEAKS[args.precision]
    with torch.no_grad():
        codes = model.encode(adversarial).cpu()
        benign = model.encode(queries.to(device)).cpu()
    distance = lambda a, b: float((a != b).sum(1).float().mean())
    return {"queries": len(queries), "steps": attack.steps, "input": list(queries.shape[1:]),
            "warmup_seconds" + ("_with_compile" if args.compile else ""): round(warmup, 2),
            "attack_seconds": round(seconds, 2), "images_steps_per_second": round(work / seconds, 1),
            "gflop_per_image_step": round(gflop, 2), "tflops": round(tflops, 3),
            "fraction_of_peak": round(tflops / peak, 4), "peak_tflops": peak,
            "mean_hamming_to_anchor_benign": distance(benign, anchors),
            "mean_hamming_to_anchor_adversarial": distance(codes, anchors),
            "peak_gpu_memory_gib": (round(torch.cuda.max_memory_allocated(device) / 2**30, 2)
                                    if device.type == "cuda" else None), "_codes": codes}


def timed_ranking(codes: torch.Tensor, db_codes: torch.Tensor, device: torch.device) -> dict:
    """Top-1000 ranking of the adversarial codes: packed CPU kernel and, on a GPU, the CUDA backend."""
    started = time.perf_counter()
    index = HammingIndex(db_codes, backend="packed")
    index.search(codes[:1], topk=10)                         # numba's first load / compile, timed apart
    first = time.perf_counter() - started
    started = time.perf_counter()
    cpu_idx, cpu_dist = index.search(codes, topk=1000)
    figures = {"packed_first_call_seconds": round(first, 3), "packed_seconds": round(time.perf_counter() - started, 4)}
    if device.type == "cuda":
        gpu_index = HammingIndex(db_codes.to(device), backend="torch")
        gpu_index.search(codes[:1].to(device), topk=10)       # warm-up
        synchronize(device)
        started = time.perf_counter()
        gpu_idx, gpu_dist = gpu_index.search(codes.to(device), topk=1000)
        synchronize(device)
        figures["cuda_torch_seconds"] = round(time.perf_counter() - started, 4)
        figures["cuda_equals_packed"] = bool(torch.equal(gpu_idx.cpu(), cpu_idx) and torch.equal(gpu_dist.cpu(), cpu_dist))
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda", help="cuda (default; exit 2 without CUDA) or cpu (smoke run)")
    parser.add_argument("--queries", type=int, default=100)
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--batch-size", type=int, default=100)
    parser.add_argument("--bits", type=int, default=32)
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--database", type=int, default=128_503, help="synthetic codes (ImageNet-100's database size)")
    parser.add_argument("--n-t", type=int, default=9)
    parser.add_argument("--eps", type=float, default=0.032, help="in the normalised space (the paper's preset)")
    parser.add_argument("--precision", choices=list(PEAKS), default="fp32",
                        help="fp32: TF32 off for matmuls and convolutions; tf32: on; bf16: autocast (TF32 off)")
    parser.add_argument("--channels-last", action="store_true")
    parser.add_argument("--compile", action="store_true", help="torch.compile (compile time reported in the warm-up)")
    parser.add_argument("--warmup-steps", type=int, default=3)
    parser.add_argument("--video-clips", type=int, default=20, help="0 skips the video part")
    parser.add_argument("--video-frames", type=int, default=40)
    parser.add_argument("--video-steps", type=int, default=200)
    parser.add_argument("--peak", type=float, help="dense TFLOP/s of the chip at the precision used")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, help="folder for results.json")
    args = parser.parse_args()

    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        print("gpu_paper_scale.py: error: no CUDA device here (torch.cuda.is_available() is False); "
              "this check is for a GPU, --device cpu runs a smoke test", file=sys.stderr)
        sys.exit(2)
    enable_tf32(args.precision == "tf32")                    # explicit either way: cuDNN defaults to TF32
    torch.manual_seed(args.seed)
    generator = torch.Generator().manual_seed(args.seed)
    figures = {"device": torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor() or "cpu",
               "host": platform.node(), "torch": torch.__version__, "precision": args.precision,
               "tf32_matmul": bool(torch.backends.cuda.matmul.allow_tf32),
               "tf32_cudnn": bool(torch.backends.cudnn.allow_tf32),
               "channels_last": args.channels_last, "compile": args.compile, "eps_normalized": args.eps}

    started = time.perf_counter()
    model = create_model("vgg11", args.bits).to(device).eval()
    figures["model_build_seconds"] = round(time.perf_counter() - started, 2)
    queries = torch.rand(args.queries, 3, args.size, args.size, generator=generator)
    db_codes = torch.where(torch.rand(args.database, args.bits, generator=generator) < 0.5, -1.0, 1.0)
    anchors = anchor_code(db_codes[torch.randint(args.database, (args.queries, args.n_t), generator=generator)])
    image = timed_attack("vgg11", model, queries, anchors, args, device)
    figures["vgg11"] = image
    figures["ranking"] = timed_ranking(image.pop("_codes"), db_codes, device)
    del model
    if args.video_clips:
        video_model = create_model("lstm-alexnet", args.bits).to(device).eval()
        clips = torch.rand(args.video_clips, args.video_frames, 3, args.size, args.size, generator=generator)
        video_anchors = anchor_code(db_codes[torch.randint(args.database, (args.video_clips, args.n_t),
                                                           generator=generator)])
        figures["video"] = timed_attack("video", video_model, clips, video_anchors, args, device)
        figures["video"].pop("_codes")

    print(f"DHTA at paper scale on {figures['device']} ({args.precision}, TF32 matmul {figures['tf32_matmul']}, "
          f"TF32 cuDNN {figures['tf32_cudnn']}, channels_last {args.channels_last}, compile {args.compile}):")
    for part in ("vgg11", "video"):
        if part in figures:
            f = figures[part]
            warm = f.get("warmup_seconds", f.get("warmup_seconds_with_compile"))
            print(f"  {part}: {f['queries']} x {f['steps']} steps, input {f['input']}: attack {f['attack_seconds']:.2f} s "
                  f"(warm-up{' + compile' if args.compile else ''} {warm:.2f} s apart), {f['images_steps_per_second']} "
                  f"images·steps/s, {f['gflop_per_image_step']} GFLOP each, {f['tflops']} TFLOP/s = "
                  f"{100 * f['fraction_of_peak']:.1f}% of {f['peak_tflops']:.0f}; Hamming to anchor "
                  f"{f['mean_hamming_to_anchor_benign']:.2f} -> {f['mean_hamming_to_anchor_adversarial']:.2f}; "
                  f"peak memory {f['peak_gpu_memory_gib']} GiB")
    print(f"  ranking top-1000 of {args.queries} queries over {args.database} codes: {figures['ranking']}")
    print(f"  model build {figures['model_build_seconds']:.1f} s")
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "results.json").write_text(json.dumps(figures, indent=2) + "\n")


if __name__ == "__main__":
    main()
