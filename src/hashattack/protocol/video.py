"""Video experiments: DHTA and its baselines against video hashing models, on the embedded
Moving Fashion-MNIST default or on JHMDB / UCF-101.

The generic protocol of `experiment.py` runs unchanged on videos (the attacks perturb every
frame under the same ε per pixel, through the frozen frame encoder and the LSTM); this module
supplies the video pieces (dataset, model, training recipe), the `bits` and `eps` presets in
the layout of the paper's JHMDB rows (appendix Tables 1/3 and 2), and appendix Fig. 1.

Training recipe (`TrainConfig`, loss "dvh"; see `losses.dvh_loss`), appendix B: SGD momentum
0.9, fixed lr 0.05, weight decay 1e-4, batch 100. The appendix gives no epoch count; ours is 200
for both the embedded clips (1,000 clips: 2,000 steps; the frozen frame features are computed
once, so it takes a few CPU minutes) and the paper datasets.

Attack defaults of the `video` command: 200 steps on the embedded clips, each of
`path_length_step_size(steps)` = 2000 / steps (10 at 200 steps), so the attack's total path
length is that of the paper's 2000 unit steps (and it is exactly the paper's at 2000 steps).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from pathlib import Path

import torch

from hashattack.data.base import RetrievalDataset
from hashattack.models.encode import encode_set
from hashattack.retrieval.codes import anchor_code
from hashattack.protocol.engine import AttackSettings, build_attack, run_experiment, trained_model
from hashattack.files import atomic_write_json
from hashattack.retrieval.metrics import perceptibility
from hashattack.models.inputs import bind_inputs, model_inputs
from hashattack.reporting.tables import percent, table1, write_table
from hashattack.protocol.targets import Manifest, load_manifest
from hashattack.training.loop import TrainConfig
from hashattack.reporting.video_plots import PAPER_FRAMES, frame_comparison

PAPER_EPOCHS = 200
EMBEDDED_EPOCHS = 200
PAPER_STEPS = 2000
EMBEDDED_EPS = 0.1         # pixel space, as the image default for the same 28x28 grey items
EMBEDDED_STEPS = 200
PRESET_BITS = (16, 32, 48, 64)
PAPER_EPS = (0.01, 0.02, 0.03, 0.04, 0.05)
EMBEDDED_EPS_LIST = (0.02, 0.05, 0.1, 0.15, 0.2)


def path_length_step_size(steps: int) -> float:
    """DHTA's step factor that keeps the paper's total path length (2000 steps of 1.0) in `steps` steps."""
    return PAPER_STEPS / steps


def video_train_config(epochs: int = EMBEDDED_EPOCHS, seed: int = 0) -> TrainConfig:
    """Appendix B's optimiser for video models: SGD momentum 0.9, fixed lr 0.05, weight decay 1e-4, batch 100."""
    return TrainConfig(epochs=epochs, batch_size=100, lr=0.05, momentum=0.9, weight_decay=1e-4, loss="dvh", seed=seed)


@dataclass
class VideoSetup:
    """What a video run needs besides attack settings: the data, the architecture and how to train it."""

    dataset: RetrievalDataset
    architecture: str
    train_config: TrainConfig
    model_kwargs: dict = field(default_factory=dict)


def embedded_setup(root: str | Path | None = None, frames: int = 16, epochs: int = EMBEDDED_EPOCHS,
                   cache_dir: str | Path | None = None, progress: bool = True, seed: int = 0) -> VideoSetup:
    """Moving Fashion-MNIST clips and the frame-CNN + LSTM model (frame encoder pretrained now or cached)."""
    from hashattack.data.moving_fashion import moving_fashion_retrieval
    from hashattack.training.frame_pretraining import FramePretraining, pretrained_frame_encoder

    dataset = moving_fashion_retrieval(root, frames=frames, seed=seed)
    pretraining = FramePretraining(canvas=dataset.protocol["canvas"])
    weights = pretrained_frame_encoder(pretraining, root, cache_dir, progress)
    return VideoSetup(dataset, "lstm-frame-cnn", video_train_config(epochs),
                      {"frame_weights": str(weights), "size": pretraining.canvas, "feature_dim": pretraining.feature_dim})


def paper_setup(name: str, root: str | Path, weights: str | Path, lists: str | Path | None = None,
                epochs: int = PAPER_EPOCHS, size: int = 224, seed: int = 0) -> VideoSetup:
    """JHMDB or UCF-101 from `root` with the AlexNet + LSTM model (ImageNet AlexNet weights from `weights`)."""
    from hashattack.data.video_splits import video_retrieval
    from hashattack.models.video import alexnet_weights_path

    weights = alexnet_weights_path(weights)
    dataset = video_retrieval(name, root, lists, size=(size, size), seed=seed)
    return VideoSetup(dataset, "lstm-alexnet", video_train_config(epochs), {"weights": str(weights)})


def adversarial_example(model: torch.nn.Module, dataset: RetrievalDataset, manifest: Manifest,
                        settings: AttackSettings, method: str = "DHTA", position: int = 0) -> tuple[torch.Tensor, torch.Tensor, int]:
    """Re-run `method` on one query of the manifest (the batched attack's result: queries are
    independent). Returns (benign (T, C, H, W), adversarial, real frames)."""
    query = torch.tensor([manifest.query_ids[position]])
    inputs = model_inputs(dataset.query, query)
    anchors = None
    size = {"P2P": 1, "DHTA": settings.n_t}.get(method)
    if size is not None:
        objects = torch.tensor(manifest.anchor_ids[size][position])
        anchors = anchor_code(encode_set(model, dataset.database.subset(objects), progress=False))[None]
    attack = build_attack(method, bind_inputs(model, inputs), settings, seed=manifest.seed)
    benign = dataset.query.pixels(query)
    adversarial = attack(benign, anchors) if anchors is not None else attack(benign)
    length = int(inputs["lengths"][0]) if "lengths" in inputs else benign.shape[1]
    return benign[0], adversarial[0], length


def write_figure(setup: VideoSetup, bits: int, settings: AttackSettings, out_dir: Path, cache_dir=None,
                 device: str = "cpu", frames=PAPER_FRAMES, method: str = "DHTA") -> Path:
    """Appendix Fig. 1 for the run in `out_dir`: the first query, benign vs `method`, as frames.png."""
    model, _ = trained_model(setup.dataset, setup.architecture, bits, setup.train_config, cache_dir, device,
                             progress=False, model_kwargs=setup.model_kwargs)
    model = model.cpu()
    manifest = load_manifest(out_dir / "manifest.json", len(setup.dataset.query), len(setup.dataset.database))
    benign, adversarial, length = adversarial_example(model, setup.dataset, manifest, settings, method)
    size = perceptibility(benign[None], adversarial[None])
    names = setup.dataset.class_names
    target = ", ".join(names[i] for i in manifest.target_labels[0].nonzero()[0]) if names else ""
    source = ", ".join(names[i] for i in setup.dataset.query.labels[manifest.query_ids[0]].nonzero().flatten().tolist()) if names else ""
    title = (f"{setup.dataset.name}, query {manifest.query_ids[0]} ({source}) -> target ({target}); {method}, "
             f"eps {settings.eps} ({settings.eps_space}); l_inf {size['linf'][0]:.3f}, PSNR {size['psnr'][0]:.1f} dB")
    path = out_dir / "frames.png"
    frame_comparison(benign, adversarial, path, frames, length, title)
    return path


def run_video(setup: VideoSetup, bits: int, settings: AttackSettings, out_dir: str | Path, num_queries: int = 100,
              seed: int = 0, manifest: Manifest | None = None, methods=("Original", "Noise", "P2P", "DHTA"),
              cache_dir=None, device: str = "cpu", progress: bool = True, figure: bool = True,
              force: bool = False) -> dict:
    """One code length end to end (`experiment.run_experiment`, resumable; `force` starts a folder
    holding another run over) plus frames.png when DHTA ran (the image figures of
    `hashattack.reporting.run_figures` are for images and are not drawn)."""
    out_dir = Path(out_dir)
    started = time.perf_counter()
    record = run_experiment(setup.dataset, bits, settings, out_dir, num_queries=num_queries, seed=seed,
                            architecture=setup.architecture, train_config=setup.train_config, manifest=manifest,
                            methods=methods, cache_dir=cache_dir, device=device, progress=progress,
                            force=force, model_kwargs=setup.model_kwargs, figures=False)
    if figure and "DHTA" in methods:
        record["figure"] = str(write_figure(setup, bits, settings, out_dir, cache_dir, device))
    record["seconds"] = round(time.perf_counter() - started, 1)
    return record


def bits_preset(setup: VideoSetup, settings: AttackSettings, out_dir: str | Path, bits_list=PRESET_BITS,
                **kwargs) -> tuple[str, list[dict]]:
    """Original / Noise / P2P / DHTA t-MAP and Original MAP per code length (appendix Table 1 layout),
    one run folder per length (`<bits>bits/`) and table.md / table.csv over all of them."""
    out_dir = Path(out_dir)
    rows = []
    for bits in bits_list:
        record = run_video(setup, bits, settings, out_dir / f"{bits}bits", **kwargs)
        rows.append(record["summary"])
    header, body = table1(rows)
    caption = (f"t-MAP / MAP (%) on {setup.dataset.name} ({setup.architecture}), eps = {settings.eps} "
               f"({settings.eps_space} space), {settings.steps} steps, n_t = {settings.n_t}.")
    atomic_write_json(out_dir / "summary.json", {"preset": "bits", "rows": rows, "settings": settings.__dict__})
    return write_table(out_dir, header, body, caption=caption), rows


def eps_preset(setup: VideoSetup, settings: AttackSettings, out_dir: str | Path, eps_list=EMBEDDED_EPS_LIST,
               bits: int = 32, **kwargs) -> tuple[str, list[dict]]:
    """DHTA t-MAP at `bits` for each ε (appendix Table 2 layout, the JHMDB row), on the same queries."""
    out_dir = Path(out_dir)
    rows = []
    manifest = kwargs.pop("manifest", None)
    for eps in eps_list:
        run_settings = replace(settings, eps=eps)
        record = run_video(setup, bits, run_settings, out_dir / f"eps-{eps:g}", methods=("DHTA",),
                           manifest=manifest, **kwargs)
        manifest = manifest or load_manifest(out_dir / f"eps-{eps:g}" / "manifest.json")
        rows.append({"eps": eps, "DHTA t-MAP": record["summary"]["DHTA t-MAP"],
                     "psnr_median": record["methods"]["DHTA"]["perceptibility"].get("psnr_median")})
    header = ["ε"] + [f"{row['eps']:g}" for row in rows]
    body = [[setup.dataset.name] + [percent(row["DHTA t-MAP"]) for row in rows]]
    caption = (f"DHTA t-MAP (%) at {bits} bits per eps ({settings.eps_space} space) on {setup.dataset.name}, "
               f"{settings.steps} steps, n_t = {settings.n_t}.")
    atomic_write_json(out_dir / "summary.json", {"preset": "eps", "bits": bits, "rows": rows, "settings": settings.__dict__})
    return write_table(out_dir, header, body, caption=caption), rows


__all__ = ["VideoSetup", "embedded_setup", "paper_setup", "video_train_config", "run_video", "bits_preset",
           "eps_preset", "adversarial_example", "write_figure"]
