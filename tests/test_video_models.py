"""Video hashing models, the Deep Video Hashing loss, and attacks on videos."""

from __future__ import annotations

import math

import pytest
import torch

from hashattack.attacks import DHTA, Noise
from hashattack.retrieval.codes import hamming_distance
from hashattack.data.video import VideoSet
from hashattack.models.encode import encode_set
from hashattack.errors import InputError
from hashattack.training.losses import LOSSES, dvh_loss
from hashattack.models.inputs import bind_inputs
from hashattack.models import create_model
from hashattack.models.video import ALEXNET_WEIGHTS_FILE, AlexNetLSTM, alexnet_weights_path
from hashattack.training.loop import TrainConfig, train_model


def video_model(bits: int = 16, size: int = 16, seed: int = 0):
    torch.manual_seed(seed)
    return create_model("lstm-frame-cnn", bits, size=size, feature_dim=32, hidden=24).eval()


# --- shapes, normalisation, freezing -------------------------------------------------------------------


@pytest.mark.parametrize("bits", [16, 32, 48, 64])
def test_frame_cnn_lstm_maps_videos_to_codes(bits):
    model = video_model(bits)
    videos = torch.rand(3, 5, 1, 16, 16)
    assert model(videos).shape == (3, bits) and model.features(videos).shape == (3, 24)
    assert set(model.encode(videos).unique().tolist()) <= {-1.0, 1.0}
    assert model.mean.shape == (1, 1, 1, 1, 1) and model.std.shape == (1, 1, 1, 1, 1)


def test_alexnet_lstm_has_4096_d_frame_features_and_imagenet_normalisation():
    torch.manual_seed(0)
    model = AlexNetLSTM(32, hidden=16).eval()
    videos = torch.rand(2, 2, 3, 64, 64)
    assert model.frame_encoder(model.normalize(videos).flatten(0, 1)).shape == (4, 4096)
    assert model(videos).shape == (2, 32) and model.mean.shape == (1, 1, 3, 1, 1)
    assert model.config() == {"architecture": "lstm-alexnet", "bits": 32, "hidden": 16}


def test_frame_encoder_is_frozen_and_stays_in_eval_mode():
    model = video_model()
    model.train()
    assert not model.frame_encoder.training and model.lstm.training
    model(torch.rand(2, 3, 1, 16, 16)).sum().backward()
    assert all(p.grad is None for p in model.frame_encoder.parameters())
    assert model.hash_layer.weight.grad is not None and model.lstm.weight_ih_l0.grad is not None


def test_images_instead_of_videos_and_bad_lengths_are_input_errors():
    model = video_model()
    with pytest.raises(InputError, match=r"\(B, T, C, H, W\)"):
        model(torch.rand(2, 1, 16, 16))
    with pytest.raises(InputError, match="lengths"):
        model(torch.rand(2, 3, 1, 16, 16), lengths=torch.tensor([1, 4]))


def test_alexnet_weights_errors_name_the_path(tmp_path):
    with pytest.raises(InputError, match="does not exist"):
        alexnet_weights_path(tmp_path / "alexnet.pth")
    with pytest.raises(InputError, match=ALEXNET_WEIGHTS_FILE):
        alexnet_weights_path(tmp_path)
    (tmp_path / "hub" / "checkpoints").mkdir(parents=True)
    wrong = tmp_path / "hub" / "checkpoints" / ALEXNET_WEIGHTS_FILE
    torch.save({"features.0.weight": torch.zeros(1)}, wrong)
    assert alexnet_weights_path(tmp_path) == wrong
    with pytest.raises(InputError, match="does not fit"):
        create_model("lstm-alexnet", 16, weights=str(tmp_path))


# --- variable lengths ------------------------------------------------------------------------------------


def test_padded_video_gives_the_unpadded_output_and_no_gradient_to_padding():
    model = video_model()
    short, long = torch.rand(1, 3, 1, 16, 16), torch.rand(1, 6, 1, 16, 16)
    padded = torch.zeros(2, 6, 1, 16, 16)
    padded[0, :3], padded[1] = short[0], long[0]
    lengths = torch.tensor([3, 6])
    out = model(padded, lengths)
    torch.testing.assert_close(out[0], model(short)[0])
    torch.testing.assert_close(out[1], model(long)[0])
    padded.requires_grad_(True)
    model(padded, lengths).sum().backward()
    assert padded.grad[0, 3:].abs().sum() == 0 and padded.grad[0, :3].abs().sum() > 0


def test_encoding_a_set_of_variable_length_videos_uses_their_lengths():
    model = video_model()
    videos = (torch.rand(5, 6, 1, 16, 16) * 255).to(torch.uint8)
    lengths = torch.tensor([6, 2, 4, 1, 5])
    for i, n in enumerate(lengths):
        videos[i, n:] = 0
    data = VideoSet(videos, torch.eye(5, dtype=torch.uint8), torch.arange(5), lengths)
    codes = encode_set(model, data, batch_size=2, progress=False)
    expected = torch.cat([model.encode(videos[i:i + 1, :n].float() / 255) for i, n in enumerate(lengths)])
    assert torch.equal(codes, expected)


# --- Deep Video Hashing loss ---------------------------------------------------------------------------------


def test_dvh_loss_matches_a_hand_computation():
    outputs = torch.tensor([[2.0, -1.0], [0.5, 0.3], [-1.5, 1.0], [0.0, -0.2]])
    labels = torch.tensor([[1, 0], [1, 0], [0, 1], [1, 1]], dtype=torch.uint8)
    u = torch.tanh(outputs).tolist()
    k = 2

    def d(i, j):
        return (1 - sum(a * b for a, b in zip(u[i], u[j])) / k) / 2

    def shares(i, j):
        return any(a and b for a, b in zip(labels[i].tolist(), labels[j].tolist()))

    pairs = [(i, j) for i in range(4) for j in range(4) if i != j]
    discriminative = sum(d(i, j) ** 2 if shares(i, j) else (1 - d(i, j)) ** 2 for i, j in pairs) / len(pairs)
    quantization = sum(((1.0 if x >= 0 else -1.0) - x) ** 2 for row in u for x in row) / 8
    expected = discriminative + 1e-4 * quantization
    assert dvh_loss(outputs, labels).item() == pytest.approx(expected, rel=1e-6)
    assert LOSSES["dvh"] is dvh_loss


def test_dvh_loss_prefers_class_aligned_binary_codes():
    labels = torch.tensor([[1, 0], [1, 0], [0, 1], [0, 1]], dtype=torch.uint8)
    good = 5 * torch.tensor([[1.0, 1, 1, 1], [1, 1, 1, 1], [-1, -1, -1, -1], [-1, -1, -1, -1]])
    assert dvh_loss(good, labels) < 1e-3 < dvh_loss(good.flip(0)[[0, 2, 1, 3]], labels)


# --- attacks on videos ------------------------------------------------------------------------------------------


def sensitive_model(seed: int):
    """A random model whose codes depend on the input: no hash-layer bias, which at random init
    outweighs the small LSTM features and would fix most bits whatever the frames."""
    model = video_model(bits=16, seed=seed)
    with torch.no_grad():
        model.hash_layer.bias.zero_()
    return model


def test_dhta_moves_a_video_code_towards_its_anchor_within_eps():
    model = sensitive_model(seed=1)
    videos = torch.rand(2, 4, 1, 16, 16)
    anchors = -model.encode(videos)                     # as far as possible: every bit differs
    attack = DHTA(model, eps=0.2, steps=40, step_size=8.0)   # larger steps: 40 steps of a tiny input
    assert attack.step_length(videos) == pytest.approx(8 * math.sqrt(4 * 16 * 16 / 150528))   # per-query size counts frames
    adversarial = attack(videos, anchors)
    assert (adversarial - videos).abs().max() <= 0.2 + 1e-6 and adversarial.min() >= 0 and adversarial.max() <= 1
    before = hamming_distance(model.encode(videos), anchors).diagonal()
    after = hamming_distance(model.encode(adversarial), anchors).diagonal()
    assert (after < before).all(), (before, after)


def test_attacks_leave_padding_frames_alone_through_bound_lengths():
    model = sensitive_model(seed=2)
    videos = torch.rand(2, 5, 1, 16, 16)
    videos[0, 3:] = 0
    lengths = torch.tensor([3, 5])
    bound = bind_inputs(model, {"lengths": lengths})
    anchors = -model.encode(videos, lengths)
    adversarial = DHTA(bound, eps=0.3, steps=40, step_size=8.0)(videos, anchors)
    assert adversarial[0, 3:].abs().sum() == 0 and (adversarial[0, :3] != videos[0, :3]).any()
    after = hamming_distance(model.encode(adversarial, lengths), anchors).diagonal()
    assert after.sum() < 32
    noisy = Noise(bound, eps=0.1)(videos)
    assert (noisy - videos).abs().max() <= 0.1 + 1e-6 and noisy.shape == videos.shape


def test_training_on_cached_frame_features_equals_training_on_pixels():
    """The frozen frame encoder runs once for training; the trained weights are those of end-to-end steps."""
    torch.manual_seed(0)
    videos = (torch.rand(12, 3, 1, 16, 16) * 255).to(torch.uint8)
    lengths = torch.tensor([3, 1, 2] * 4)
    labels = torch.nn.functional.one_hot(torch.arange(12) % 3, 3).to(torch.uint8)
    data = VideoSet(videos, labels, torch.arange(12), lengths)
    config = TrainConfig(epochs=2, batch_size=5, loss="dvh")
    cached, direct = video_model(bits=8), video_model(bits=8)
    train_model(cached, data, config, progress=False)
    direct.frozen_front = None                      # no frozen stage: every step runs the frame encoder
    train_model(direct, data, config, progress=False)
    for a, b in zip(cached.parameters(), direct.parameters()):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-6)


def test_attacking_runs_the_eval_mode_lstm_without_cudnn(monkeypatch):
    """cuDNN's RNN backward refuses eval mode (a CUDA error): an attack differentiates the frozen LSTM
    with cuDNN off, while gradient-free encoding and training keep it."""
    seen, real = [], torch.backends.cudnn.flags

    def recording(enabled=False, *args, **kwargs):
        seen.append(enabled)
        return real(enabled, *args, **kwargs)

    monkeypatch.setattr(torch.backends.cudnn, "flags", recording)
    model = video_model()
    videos = torch.rand(2, 3, 1, 16, 16)
    DHTA(model, eps=0.1, steps=2)(videos, torch.ones(2, 16))
    assert seen and not any(seen)                       # every differentiated LSTM call ran without cuDNN
    seen.clear()
    model.encode(videos)                                # encode runs without gradients
    model.train()
    model(videos).sum().backward()
    assert seen and all(seen)
