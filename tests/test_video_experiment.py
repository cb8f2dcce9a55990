"""Video runs end to end on tiny data: the embedded pipeline, the presets, variable-length videos
through the generic protocol, appendix Fig. 1 and the CLI's errors."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest
import torch

from hashattack.cli.main import main
from hashattack.data.moving_fashion import moving_fashion_retrieval
from hashattack.data.video_splits import VideoProtocol, video_retrieval
from hashattack.protocol.engine import AttackSettings, run_experiment
from hashattack.training.frame_pretraining import FramePretraining, pretrained_frame_encoder
from hashattack.training.loop import TrainConfig
from hashattack.protocol.video import VideoSetup, bits_preset, eps_preset, run_video, video_train_config
from hashattack.reporting.video_plots import frame_comparison, shown_frames

from test_video_data import make_video_root

SETTINGS = AttackSettings(eps=0.1, steps=10, n_t=3, batch_size=4, topk=None)


@pytest.fixture(scope="module")
def tiny_setup(fake_fmnist, tmp_path_factory) -> VideoSetup:
    cache = tmp_path_factory.mktemp("frame-cache")
    dataset = moving_fashion_retrieval(fake_fmnist, frames=4, canvas=32, train_per_class=3, database_per_class=5,
                                       query_per_class=2, seed=0)
    weights = pretrained_frame_encoder(FramePretraining(canvas=32, feature_dim=32, per_class=12, epochs=10, batch_size=30),
                                       fake_fmnist, cache, progress=False)
    return VideoSetup(dataset, "lstm-frame-cnn", replace(video_train_config(epochs=100), lr=0.5),
                      {"frame_weights": str(weights), "size": 32, "feature_dim": 32, "hidden": 32})


def test_embedded_video_run_writes_results_tables_and_the_frame_figure(tiny_setup, tmp_path):
    record = run_video(tiny_setup, 16, SETTINGS, tmp_path / "run", num_queries=6, progress=False)
    for name in ("results.json", "table.md", "table.csv", "manifest.json", "frames.png"):
        assert (tmp_path / "run" / name).is_file(), name
    assert (tmp_path / "run" / "frames.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    meta = json.loads(next((tmp_path / "cache").glob("moving-fashion-lstm-frame-cnn-16bits-*.pt.json")).read_text())
    assert meta["loss_history"][-1] < 0.9 * meta["loss_history"][0]      # DVH training on pretrained frame features
    methods = record["methods"]
    assert set(methods) == {"Original", "Noise", "P2P", "DHTA"}
    assert methods["Original"]["map"] > 0.4, methods["Original"]["map"]  # 10 classes: chance is 0.1
    assert methods["DHTA"]["perceptibility"]["linf_mean"] <= 0.1 + 1e-6
    assert record["architecture"] == "lstm-frame-cnn" and "derived_from" in record["protocol"]


def test_bits_and_eps_presets_tabulate_the_paper_layouts(tiny_setup, tmp_path):
    table, rows = bits_preset(tiny_setup, SETTINGS, tmp_path / "bits", bits_list=(8, 16), num_queries=4,
                              progress=False, figure=False)
    assert [row["bits"] for row in rows] == [8, 16] and "| 8 bits | 16 bits |" in table.replace("  ", " ")
    assert (tmp_path / "bits" / "16bits" / "results.json").is_file() and (tmp_path / "bits" / "table.md").is_file()
    table, rows = eps_preset(tiny_setup, SETTINGS, tmp_path / "eps", eps_list=(0.05, 0.1), bits=8, num_queries=4,
                             progress=False, figure=False)
    assert [row["eps"] for row in rows] == [0.05, 0.1] and "moving-fashion" in table
    first = json.loads((tmp_path / "eps" / "eps-0.05" / "manifest.json").read_text())
    second = json.loads((tmp_path / "eps" / "eps-0.1" / "manifest.json").read_text())
    assert first["query_ids"] == second["query_ids"]            # every ε attacks the same queries


def test_variable_length_videos_on_disk_run_through_the_generic_protocol(tmp_path):
    root = make_video_root(tmp_path / "videos")
    dataset = video_retrieval(VideoProtocol("tiny", {"query": 1, "train": 1}, "first"), root, size=(16, 16),
                              max_frames=6, channels=1)
    assert dataset.database.model_inputs(slice(None))["lengths"].unique().numel() > 1
    record = run_experiment(dataset, 8, AttackSettings(eps=0.1, steps=4, n_t=1, batch_size=2, topk=None),
                            tmp_path / "run", num_queries=3, architecture="lstm-frame-cnn",
                            train_config=TrainConfig(epochs=1, batch_size=2, loss="dvh"), progress=False,
                            model_kwargs={"size": 16, "feature_dim": 16, "hidden": 8})
    assert record["num_queries"] == 3 and len(record["methods"]["DHTA"]["anchor_hamming"]) == 3


def test_frame_figure_shows_the_paper_frames_a_video_has(tmp_path):
    assert shown_frames(24) == [3, 6, 9, 12, 15, 18, 21] and shown_frames(10) == [3, 6, 9] and shown_frames(2) == [1, 2]
    benign = torch.rand(22, 3, 8, 8)
    adversarial = (benign + 0.03).clamp(0, 1)
    shown = frame_comparison(benign, adversarial, tmp_path / "f.png", length=22, title="test")
    assert shown == [3, 6, 9, 12, 15, 18, 21] and (tmp_path / "f.png").stat().st_size > 1000


def test_cli_video_paper_datasets_need_root_and_weights(tmp_path, capsys):
    assert main(["video", "--dataset", "jhmdb"]) == 2
    assert "needs --root" in capsys.readouterr().err
    root = make_video_root(tmp_path / "videos")
    assert main(["video", "--dataset", "ucf101", "--root", str(root), "--weights", str(tmp_path / "none.pth")]) == 2
    err = capsys.readouterr().err.strip()
    assert "none.pth" in err and err.startswith("hashattack: error:") and "\n" not in err
