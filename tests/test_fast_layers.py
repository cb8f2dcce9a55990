"""models.layers: the faster CPU layers of the small CNN give PyTorch's own values and gradients."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from hashattack.attacks import DHTA
from hashattack.models import one_channel_conv
from hashattack.models.layers import FastConv2d, FastMaxPool2d, run_layers
from hashattack.models.small_cnn import SmallCNN



def value_and_gradient(layer, x: torch.Tensor, seed: int = 0):
    x = x.clone().requires_grad_(True)
    y = layer(x * 1)                       # * 1: an in-place ReLU must not touch the leaf
    g = torch.randn(y.shape, generator=torch.Generator().manual_seed(seed), dtype=y.dtype)
    (grad,) = torch.autograd.grad(y, x, g)
    return y.detach(), grad


def pool_inputs(dtype):
    generator = torch.Generator().manual_seed(1)
    ties = torch.randint(-2, 3, (6, 5, 12, 10), generator=generator).to(dtype)   # many equal values per window
    nan = torch.randn(3, 2, 4, 4, generator=generator, dtype=dtype)
    nan[0, 0, 0, 0] = nan[0, 0, 1, 1] = nan[1, 1, 2, 3] = float("nan")
    return [torch.randn(7, 5, 12, 10, generator=generator, dtype=dtype), ties, ties.relu(),
            torch.full((2, 3, 4, 4), float("-inf"), dtype=dtype), nan]


def same(a: torch.Tensor, b: torch.Tensor) -> bool:
    return torch.equal(a.nan_to_num(), b.nan_to_num()) and torch.equal(a.isnan(), b.isnan())


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_pool_is_bit_identical_to_max_pool2d_including_ties_and_nan(dtype):
    for x in pool_inputs(dtype):
        assert FastMaxPool2d(2).fast(x)
        reference, fast = value_and_gradient(nn.MaxPool2d(2), x), value_and_gradient(FastMaxPool2d(2), x)
        assert same(reference[0], fast[0]) and torch.equal(reference[1], fast[1])


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_relu_fused_into_the_pool_gives_the_layers_values_and_gradients(dtype):
    for x in pool_inputs(dtype):
        stock = nn.Sequential(nn.ReLU(inplace=True), nn.MaxPool2d(2))
        fused = nn.Sequential(nn.ReLU(inplace=True), FastMaxPool2d(2))
        reference, fast = value_and_gradient(stock, x), value_and_gradient(lambda t: run_layers(fused, t), x)
        assert same(reference[0], fast[0]) and torch.equal(reference[1], fast[1])


@pytest.mark.parametrize("kernel,padding,size", [(3, 1, (12, 10)), (5, 0, (12, 10)), (5, 2, (8, 8)), (3, 0, (10, 12))])
def test_convolution_relu_and_pool_fused_give_the_layers_values_and_gradients(kernel, padding, size):
    torch.manual_seed(0)
    conv = FastConv2d(1, 6, kernel, padding=padding)
    reference = nn.Conv2d(1, 6, kernel, padding=padding)
    reference.load_state_dict(conv.state_dict())
    fused = nn.Sequential(conv, nn.ReLU(inplace=True), FastMaxPool2d(2)).requires_grad_(False)
    stock = nn.Sequential(reference, nn.ReLU(inplace=True), nn.MaxPool2d(2)).requires_grad_(False)
    x = torch.randn(4, 1, *size)
    assert fused[2].fits(padding, kernel, x)
    (value, grad), (reference_value, reference_grad) = (value_and_gradient(lambda t: run_layers(fused, t), x),
                                                       value_and_gradient(stock, x))
    assert torch.equal(value, reference_value) and torch.equal(grad, reference_grad)


def test_an_odd_convolution_output_is_pooled_by_pytorch():
    conv = FastConv2d(1, 4, 3, padding=1).requires_grad_(False)
    layers = nn.Sequential(conv, nn.ReLU(inplace=True), FastMaxPool2d(2))
    x = torch.randn(2, 1, 7, 8, requires_grad=True)
    assert not layers[2].fits(1, 3, x)
    stock = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(inplace=True), nn.MaxPool2d(2)).requires_grad_(False)
    stock.load_state_dict(layers.state_dict())
    torch.testing.assert_close(run_layers(layers, x), stock(x), rtol=1e-5, atol=1e-5)


def test_pool_takes_pytorchs_path_where_its_kernel_does_not_apply():
    odd, wide = torch.randn(2, 3, 7, 8), torch.randn(2, 3, 8, 8)
    cases = [(FastMaxPool2d(2), odd), (FastMaxPool2d(2), wide.contiguous(memory_format=torch.channels_last)),
             (FastMaxPool2d(3), wide), (FastMaxPool2d(2, ceil_mode=True), wide), (FastMaxPool2d(2), wide.half())]
    for layer, x in cases:
        assert not layer.fast(x)
        stock = nn.MaxPool2d(layer.kernel_size, ceil_mode=layer.ceil_mode)
        assert torch.equal(layer(x), stock(x))


@pytest.mark.parametrize("kernel,padding", [(3, 1), (3, 0), (5, 0), (5, 2)])
def test_frozen_one_channel_convolution_matches_conv2d(kernel, padding):
    torch.manual_seed(0)
    fast = FastConv2d(1, 6, kernel, padding=padding).requires_grad_(False)
    stock = nn.Conv2d(1, 6, kernel, padding=padding).requires_grad_(False)
    stock.load_state_dict(fast.state_dict())
    x = torch.randn(4, 1, 11, 9)
    assert fast.fast(x.requires_grad_(True))
    (value, grad), (reference_value, reference_grad) = value_and_gradient(fast, x), value_and_gradient(stock, x)
    assert torch.equal(value, reference_value) and torch.equal(grad, reference_grad)


def test_convolution_trains_and_encodes_on_conv2ds_own_path():
    x = torch.randn(2, 1, 6, 6, requires_grad=True)
    assert not FastConv2d(1, 4, 3, padding=1).fast(x)                    # weights that need gradients: training
    frozen = FastConv2d(1, 4, 3, padding=1).requires_grad_(False)
    assert frozen.fast(x)                                                # an attack's step
    assert not frozen.fast(x.detach())                                   # no input gradient: encoding
    with torch.no_grad():
        assert not frozen.fast(x)
    assert not frozen.fast(x.double())
    assert not FastConv2d(3, 4, 3).requires_grad_(False).fast(torch.randn(2, 3, 6, 6, requires_grad=True))
    assert not FastConv2d(1, 4, 3, stride=2).requires_grad_(False).fast(x)
    assert not FastConv2d(1, 4, 3, padding=3).requires_grad_(False).fast(x)


def test_weights_get_gradients_when_training():
    layer, stock = FastConv2d(1, 4, 3, padding=1), nn.Conv2d(1, 4, 3, padding=1)
    stock.load_state_dict(layer.state_dict())
    x = torch.randn(3, 1, 6, 6)
    layer(x).square().sum().backward()
    stock(x).square().sum().backward()
    assert torch.equal(layer.weight.grad, stock.weight.grad) and torch.equal(layer.bias.grad, stock.bias.grad)


def stock_copy(model: SmallCNN) -> SmallCNN:
    """The same model with nn.Conv2d / nn.MaxPool2d and no fusion: PyTorch's own kernels throughout."""
    stock = SmallCNN(model.bits)
    stock.load_state_dict(model.state_dict())
    stock.backbone[0].__class__ = nn.Conv2d
    for i in (2, 5):
        stock.backbone[i].__class__ = nn.MaxPool2d
    stock.embed = lambda normalized: stock.backbone(normalized)
    return stock


def test_small_cnn_keeps_its_checkpoint_keys():
    keys = set(SmallCNN(16).state_dict())
    assert keys == {"mean", "std", "hash_layer.weight", "hash_layer.bias", "backbone.0.weight", "backbone.0.bias",
                    "backbone.3.weight", "backbone.3.bias", "backbone.7.weight", "backbone.7.bias"}


def test_dhta_on_the_fast_layers_equals_dhta_on_pytorchs_kernels():
    torch.manual_seed(0)
    model = SmallCNN(16).eval()
    stock = stock_copy(model).eval()
    images = torch.rand(6, 1, 28, 28)
    anchors = torch.where(torch.rand(6, 16) < 0.5, -1.0, 1.0)
    fast = DHTA(model, eps=0.1, steps=12)(images, anchors)
    reference = DHTA(stock, eps=0.1, steps=12)(images, anchors)
    assert torch.equal(fast, reference)
    with torch.no_grad():
        assert torch.equal(model(images), stock(images))       # encoding: PyTorch's own path, same values


def test_fast_layers_give_each_query_the_result_it_gets_alone():
    torch.manual_seed(1)
    layers = nn.Sequential(FastConv2d(1, 8, 3, padding=1), nn.ReLU(inplace=True), FastMaxPool2d(2)).requires_grad_(False)
    x = torch.rand(5, 1, 12, 12, requires_grad=True)
    weights = torch.randn(5, 8, 6, 6)
    (batched,) = torch.autograd.grad((run_layers(layers, x) * weights).sum(), x)
    for i in range(5):
        one = x[i:i + 1].detach().requires_grad_(True)
        (alone,) = torch.autograd.grad((run_layers(layers, one) * weights[i:i + 1]).sum(), one)
        assert torch.equal(alone, batched[i:i + 1])


def test_the_convolution_finds_onednns_order_on_this_cpu_or_takes_its_path(monkeypatch):
    """The order is probed once per shape: on AVX2 and AVX-512 CPUs one candidate matches; with none
    matching (another CPU), the layer runs nn.Conv2d's own kernel, so its bits are PyTorch's either way."""
    assert one_channel_conv.accumulation_order(16, 3, 1, 28, 28) is not None     # the small CNN's first layer
    monkeypatch.setattr(one_channel_conv, "_ORDERS", {})
    monkeypatch.setattr(one_channel_conv, "FORWARD_ORDERS", ())               # no candidate can match
    fast = FastConv2d(1, 6, 3, padding=1).requires_grad_(False)
    stock = nn.Conv2d(1, 6, 3, padding=1).requires_grad_(False)
    stock.load_state_dict(fast.state_dict())
    x = torch.randn(3, 1, 10, 10)
    calls = []
    monkeypatch.setattr(one_channel_conv._OneChannelConv, "apply", lambda *a: calls.append(a))
    (value, grad), (reference_value, reference_grad) = value_and_gradient(fast, x), value_and_gradient(stock, x)
    assert not calls and one_channel_conv._ORDERS[(6, 3, 1, 10, 10)] is None
    assert torch.equal(value, reference_value) and torch.equal(grad, reference_grad)
