"""The batched DHTA against the official one-query loop, and its speed options (early stop, bf16,
channels_last, torch.compile) on a tiny model."""

import sys

import pytest
import torch

from hashattack.models import acceleration
from hashattack.models.acceleration import enable_tf32, tf32_enabled
from hashattack.attacks import DHTA, P2P, descent
from hashattack.attacks.reference import one_query_at_a_time
from hashattack.errors import InputError
from hashattack.models import create_model

STEPS = 12


@pytest.fixture(scope="module")
def setup():
    torch.manual_seed(0)
    model = create_model("small-cnn", 16, feature_dim=32)
    images = torch.rand(5, 1, 28, 28)
    anchors = torch.where(torch.randn(5, 16) > 0, 1.0, -1.0)
    reference = DHTA(model, eps=0.1, steps=STEPS)(images, anchors)
    return model, images, anchors, reference


def test_batched_equals_the_official_loop(setup):
    """The official loop runs each query at batch 1 on PyTorch's own kernels with weight gradients on: in
    float32 it agrees with the batched attack to rounding (12 steps), in float64 to 1e-12."""
    model, images, anchors, reference = setup
    loop = one_query_at_a_time(DHTA(model, eps=0.1, steps=STEPS), images, anchors)
    assert all(p.requires_grad for p in model.parameters())     # the official loop leaves weights as they were
    torch.testing.assert_close(reference, loop, atol=1e-5, rtol=0)
    double = create_model("small-cnn", 16, feature_dim=32).double()
    double.load_state_dict(model.state_dict())
    batched = DHTA(double, eps=0.1, steps=STEPS)(images, anchors)
    loop = one_query_at_a_time(DHTA(double, eps=0.1, steps=STEPS), images, anchors)
    torch.testing.assert_close(batched, loop, atol=1e-12, rtol=0)
    assert torch.equal(double.encode(batched), double.encode(loop))


@pytest.mark.parametrize("dtype,early_stop", [(torch.float32, False), (torch.float32, True), (torch.float64, False)])
def test_a_query_gets_the_same_bits_at_any_batch_size_and_thread_count(setup, dtype, early_stop):
    """The batch promise on CPU: each query's pixels are the same bits at batch 1, 7 and 40, sharded or
    not, with 1 or 2 threads (`models.batch_invariance`)."""
    queries = 36
    model = create_model("small-cnn", 16, feature_dim=32).to(dtype)
    model.load_state_dict(setup[0].state_dict())
    generator = torch.Generator().manual_seed(3)
    images = torch.rand(queries, 1, 28, 28, generator=generator)
    anchors = torch.where(torch.rand(queries, 16, generator=generator) < 0.5, -1.0, 1.0)
    anchors[5] = model.encode(images[5:6].to(dtype))[0]                 # stops at once with early stop
    attack = DHTA(model, eps=0.1, steps=STEPS, early_stop=early_stop)
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        whole = attack(images, anchors)                                  # two shards of 16 and 20 queries
        torch.set_num_threads(1)
        alone = torch.cat([attack(images[i:i + 1], anchors[i:i + 1]) for i in range(6)])
        sevens = torch.cat([attack(images[i:i + 7], anchors[i:i + 7]) for i in range(0, queries, 7)])
    finally:
        torch.set_num_threads(threads)
    assert torch.equal(alone, whole[:6]) and torch.equal(sevens, whole)


def test_early_stop_freezes_queries_at_their_anchor(setup):
    model, images, anchors, reference = setup
    anchors = anchors.clone()
    anchors[:2] = model.encode(images[:2])          # these two start at their anchor
    plain = DHTA(model, eps=0.1, steps=STEPS)(images, anchors)
    attack = DHTA(model, eps=0.1, steps=STEPS, early_stop=True)
    out = attack(images, anchors)
    assert torch.equal(out[:2], images[:2])         # frozen at step 0 with δ = 0
    assert attack.steps_taken[:2].tolist() == [1, 1]
    reached = (model.encode(out) == anchors).all(dim=1)
    assert reached[attack.steps_taken < STEPS].all()     # a query stops only once its code is its anchor
    running = attack.steps_taken == STEPS
    torch.testing.assert_close(out[running], plain[running], atol=1e-5, rtol=0)
    assert DHTA(model, eps=0.1, steps=STEPS).settings()["early_stop"] is False
    assert attack.settings()["early_stop"] is True


def test_bf16_autocast_stays_in_the_eps_ball(setup):
    model, images, anchors, reference = setup
    attack = P2P(model, eps=0.1, steps=STEPS, precision="bf16")
    out = attack(images, anchors)
    assert out.dtype == torch.float32
    assert (out - images).abs().max() <= 0.1 + 1e-6 and out.min() >= 0 and out.max() <= 1
    assert (out != images).any()
    assert attack.settings()["precision"] == "bf16"
    # a small network: bf16 gradients point almost the same way, so the codes mostly agree
    assert (model.encode(out) == model.encode(reference)).float().mean() > 0.8


def test_channels_last_and_compile_give_the_same_result(setup):
    """channels_last runs the first convolution on oneDNN's channels-last kernel (other rounding); the
    eager compile traces the same kernels, so the same bits."""
    model, images, anchors, reference = setup
    copy = create_model("small-cnn", 16, feature_dim=32)
    copy.load_state_dict(model.state_dict())
    out = DHTA(copy, eps=0.1, steps=STEPS, channels_last=True)(images, anchors)
    torch.testing.assert_close(out, reference, atol=1e-5, rtol=0)
    compiled = DHTA(model, eps=0.1, steps=STEPS, compile="eager")   # dynamo tracing without a C++ toolchain
    assert torch.equal(compiled(images, anchors), reference)


def test_bad_speed_options(setup):
    model = setup[0]
    with pytest.raises(InputError, match="precision"):
        DHTA(model, precision="fp8")
    with pytest.raises(InputError, match="compile"):
        DHTA(model, compile=3)


def test_tf32_switch():
    before = tf32_enabled()
    try:
        enable_tf32(True)
        assert tf32_enabled()
        enable_tf32(False)
        assert not tf32_enabled()
    finally:
        enable_tf32(before)


@pytest.mark.parametrize("early_stop", [False, True])
def test_sharded_descent_equals_one_batch(setup, monkeypatch, early_stop):
    """The CPU step loop cut into shards on threads gives each query what one batch gives it, bit for bit."""
    model = setup[0]
    generator = torch.Generator().manual_seed(2)
    images = torch.rand(40, 1, 28, 28, generator=generator)
    anchors = torch.where(torch.rand(40, 16, generator=generator) < 0.5, -1.0, 1.0)
    anchors[20] = model.encode(images[20:21])[0]             # one query stops at once with early stop
    monkeypatch.setattr(descent, "descent_shards", lambda images: 1)
    one = DHTA(model, eps=0.1, steps=STEPS, early_stop=early_stop)
    single = one(images, anchors)
    monkeypatch.setattr(descent, "descent_shards", lambda images: 3)   # shards of 16, 16 and 8 queries
    threads = torch.get_num_threads()
    sharded_attack = DHTA(model, eps=0.1, steps=STEPS, early_stop=early_stop)
    sharded = sharded_attack(images, anchors)
    assert torch.get_num_threads() == threads                # restored after the shards
    assert torch.equal(sharded, single)
    assert torch.equal(sharded_attack.steps_taken, one.steps_taken)
    if early_stop:
        assert sharded_attack.steps_taken[20] == 1


def test_descent_shards_rule(monkeypatch):
    monkeypatch.setattr(torch, "get_num_threads", lambda: 2)
    assert descent.descent_shards(torch.zeros(100, 1, 28, 28)) == 2
    assert descent.descent_shards(torch.zeros(20, 1, 28, 28)) == 1          # too few queries to cut
    assert descent.descent_shards(torch.zeros(100, 4, 1, 16, 16)) == 1      # videos: lengths bound per batch


def test_an_error_in_a_shard_reaches_the_caller(setup):
    model, images, anchors, _ = setup

    def loss_of(adversarial, t, active):
        if int(active.max()) >= 4:
            raise ValueError("shard failed")
        return model(adversarial).sum()

    with pytest.raises(ValueError, match="shard failed"):
        descent.normalized_descent(images, loss_of, 2, 0.1, torch.tensor(0.1), torch.tensor(1.0), shards=2)


def test_a_cpu_attack_keeps_freed_memory_in_the_process(setup):
    """glibc's thresholds are fixed once a CPU attack runs (Linux), so steps reuse pages instead of faulting."""
    model, images, anchors, _ = setup
    DHTA(model, eps=0.1, steps=2)(images, anchors)
    assert acceleration._KEPT == [sys.platform.startswith("linux")]
    assert acceleration.keep_freed_memory() is acceleration._KEPT[0]      # once per process
