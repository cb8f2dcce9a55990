"""models.batch_invariance: a row's bits do not depend on the rows computed with it."""

from __future__ import annotations

import torch
from torch import nn

from hashattack.attacks import FeatureAttack, Untargeted
from hashattack.models import create_model
from hashattack.models.batch_invariance import BLOCK, in_blocks, padded_rows, row_norms


def test_blocks_pad_with_zero_rows_and_keep_every_row():
    x = torch.randn(BLOCK + 3, 4)
    calls = []
    out = in_blocks(lambda part: calls.append(part.shape) or part * 2, x)
    assert calls == [(2 * BLOCK, 4)] and out.shape == (2 * BLOCK, 4)       # one call on whole blocks
    assert torch.equal(out[:len(x)], x * 2) and not out[len(x):].any()
    assert padded_rows(x[:BLOCK]).shape == (BLOCK, 4)                        # a whole block is not padded
    assert in_blocks(lambda part: part, x[:0]).shape == (0, 4)


def test_layers_in_blocks_give_a_row_the_same_bits_at_any_batch_size():
    """MKL's sgemm and oneDNN's convolution pick kernels by batch size; in blocks every row sees one shape."""
    torch.manual_seed(0)
    layers = [nn.Linear(1568, 256), nn.Linear(256, 16), nn.Conv2d(16, 32, 3, padding=1)]
    inputs = [torch.randn(40, 1568), torch.randn(40, 256), torch.randn(40, 16, 14, 14)]
    for layer, x in zip(layers, inputs):
        layer.requires_grad_(False)
        whole = in_blocks(layer, x)[:len(x)]
        for size in (1, 2, 3, 7, 11):
            assert torch.equal(torch.cat([in_blocks(layer, x[i:i + size])[:len(x[i:i + size])]
                                          for i in range(0, len(x), size)]), whole)


def test_row_norms_are_the_norms_of_the_rows():
    x = torch.randn(21, 3, 5, 5, dtype=torch.float64)
    torch.testing.assert_close(row_norms(x), x.flatten(1).norm(dim=1), rtol=1e-15, atol=0)
    assert torch.equal(row_norms(x[3:4]), row_norms(x)[3:4])


def test_the_feature_and_untargeted_attacks_give_a_query_its_bits_at_any_batch_size():
    torch.manual_seed(0)
    model = create_model("small-cnn", 16, feature_dim=32)
    images = torch.rand(9, 1, 28, 28)
    targets = torch.rand(9, 1, 28, 28)
    for attack, extra in ((FeatureAttack(model, eps=0.1, steps=6), (targets,)), (Untargeted(model, eps=0.1, steps=6), ())):
        whole = attack(images, *extra)
        parts = torch.cat([attack(images[i:i + 4], *[e[i:i + 4] for e in extra]) for i in range(0, 9, 4)])
        assert torch.equal(parts, whole), attack.name
