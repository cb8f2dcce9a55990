"""Video runs end to end on tiny data: `hashattack video` on the embedded clips, variable-length videos
through the attack-and-score loop, appendix Fig. 1 and the CLI's errors. (The video presets, video-bits
and video-eps, run in test_engine.py.)"""

from __future__ import annotations

import pytest
import torch

from engine_helpers import model_cache, read_json, tiny_video_options, video_fmnist
from hashattack.cli.main import main
from hashattack.data.video_splits import VideoProtocol, video_retrieval
from hashattack.models.encode import encode_set
from hashattack.protocol.scoring import build_attacks, run_methods
from hashattack.protocol.settings import ALL, AttackSettings
from hashattack.protocol.targets import choose_targets
from hashattack.reporting.video_plots import frame_comparison, shown_frames
from hashattack.protocol.trainer import train_new_model
from hashattack.training.loop import TrainConfig

from test_video_data import make_video_root, write_frame_folder


def test_embedded_video_run_writes_results_tables_and_the_frame_figure(tmp_path_factory, tmp_path):
    cache, out = model_cache(tmp_path_factory), tmp_path / "run"
    assert main(["video", *tiny_video_options(video_fmnist(tmp_path_factory), cache, out), "--bits", "16",
                 "--queries", "6", "--steps", "10", "--n-t", "3"]) == 0
    for name in ("results.json", "table.md", "table.csv", "manifest.json", "report.html", "figures/frames.png"):
        assert (out / name).is_file(), name
    assert (out / "figures" / "frames.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    record = read_json(out / "results.json")
    history = next(cache.glob("moving-fashion-lstm-frame-cnn-16bits-*.pt.json"))
    history = read_json(history)["loss_history"]
    assert history[-1] < 0.98 * history[0]                  # DVH training on pretrained frame features
    methods = record["methods"]
    assert set(methods) == {"Original", "Noise", "P2P", "DHTA"} and record["num_queries"] == 6
    assert methods["Original"]["map"] > 0.4, methods["Original"]["map"]  # 10 classes: chance is 0.1
    assert methods["DHTA"]["perceptibility"]["linf_mean"] <= 0.1 + 1e-6  # the clips' default pixel-space eps
    assert record["settings"]["step_size"] == 200.0                      # 2000 / steps: the paper's path length
    assert record["architecture"] == "lstm-frame-cnn" and "derived_from" in record["protocol"]


def test_variable_length_videos_on_disk_run_through_the_attack_and_score_loop(tmp_path):
    root = make_video_root(tmp_path / "videos")
    dataset = video_retrieval(VideoProtocol("tiny", {"query": 1, "train": 1}, "first"), root, size=(16, 16),
                              max_frames=6, channels=1)
    assert dataset.database.model_inputs(slice(None))["lengths"].unique().numel() > 1
    model, _ = train_new_model(dataset, "lstm-frame-cnn", 8, TrainConfig(epochs=1, batch_size=2, loss="dvh"),
                               progress=False, model_kwargs={"size": 16, "feature_dim": 16, "hidden": 8})
    model.eval()
    db_codes = encode_set(model, dataset.database, progress=False)
    manifest = choose_targets(dataset.query.labels.numpy(), dataset.database.labels.numpy(), 3, n_ts=(1,), seed=0)
    settings = AttackSettings(eps=0.1, eps_space="pixel", steps=4, step_size=1.0, n_t=1, batch_size=2, topk=ALL,
                              zero_relevance="zero")
    attacks = build_attacks(("Original", "DHTA"), model, settings, manifest.seed)
    results, codes, _ = run_methods(model, dataset, db_codes, manifest, settings, attacks, progress=False)
    assert len(results["DHTA"]["anchor_hamming"]) == 3 and codes["DHTA"].shape == (3, 8)
    assert 0.0 <= results["DHTA"]["t_map"] <= 1.0


def test_frame_figure_shows_the_paper_frames_a_video_has(tmp_path):
    assert shown_frames(24) == [3, 6, 9, 12, 15, 18, 21] and shown_frames(10) == [3, 6, 9] and shown_frames(2) == [1, 2]
    benign = torch.rand(22, 3, 8, 8)
    adversarial = (benign + 0.03).clamp(0, 1)
    shown = frame_comparison(benign, adversarial, tmp_path / "f.png", length=22, title="test")
    assert shown == [3, 6, 9, 12, 15, 18, 21] and (tmp_path / "f.png").stat().st_size > 1000


def test_cli_video_paper_datasets_need_root_and_weights(tmp_path, capsys):
    assert main(["video", "--dataset", "jhmdb"]) == 2
    assert "needs --root" in capsys.readouterr().err
    root = tmp_path / "videos"     # the data opens first: enough videos for the UCF-101 split (60 per class + a database)
    for c in range(2):
        for v in range(63):
            write_frame_folder(root / f"class{c}" / f"v{v}", 1, size=(4, 4))
    assert main(["video", "--dataset", "ucf101", "--root", str(root), "--weights", str(tmp_path / "none.pth"),
                 "--queries", "2", "--n-t", "1"]) == 2
    err = capsys.readouterr().err.strip()
    assert "none.pth" in err and err.startswith("hashattack: error:") and "\n" not in err


def test_video_options_are_checked_before_anything_runs(tmp_path, capsys):
    assert main(["video", "--frames", "0", "--out", str(tmp_path / "x")]) == 2
    assert "--frames: expected a positive integer, got 0" in capsys.readouterr().err
    assert main(["video", "single"]) == 2      # the old positional single|bits|eps is gone: --bits / the presets
    assert "unrecognized arguments: single" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()
