"""Hostile use of the public library (`hashattack.__all__`): each misuse is one `InputError` line saying
what would be right (no TypeError / RuntimeError / IndexError from deep inside), the model's mode and
requires_grad flags are as the caller left them, and odd but valid input gives the right result."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import hashattack
from hashattack.attacks.registry import METHODS, build_attack
from hashattack.errors import InputError

RANDOM = object()   # "random images" (None is a hostile value of its own)
OUTPUTS = ["tuple", "dict", "(N, K, 1)", "(N,)", "one row", "integers"]


class Tiny(torch.nn.Module):
    """Pixels (B, C, 4, 4) -> (B, bits); `out` makes it return something else than (B, K) floats."""

    def __init__(self, bits: int = 4, channels: int = 1, out: str | None = None, normalised: bool = False):
        super().__init__()
        self.lin = torch.nn.Linear(16 * channels, bits)
        self.drop = torch.nn.Dropout(0.5)
        self.out = out
        if normalised:
            self.register_buffer("mean", torch.full((1, channels, 1, 1), 0.5))
            self.register_buffer("std", torch.full((1, channels, 1, 1), 0.25))

    def features(self, x):
        y = self.lin(self.drop(x.flatten(1)))
        return {"tuple": lambda: (y, y), "dict": lambda: {"codes": y}, "(N, K, 1)": lambda: y.unsqueeze(-1),
                "(N,)": lambda: y[:, 0], "one row": lambda: y[:1], "integers": lambda: (y > 0).long(),
                None: lambda: y}[self.out]()

    def forward(self, x):
        return self.features(x)


def one_line(excinfo, *fragments: str) -> str:
    message = str(excinfo.value)
    assert "\n" not in message and message, message
    for fragment in fragments:
        assert fragment in message, message
    return message


def rows_of(images) -> int:
    """The batch size of hostile images: their first dimension, else 3."""
    return len(images) if isinstance(images, (list, np.ndarray, torch.Tensor)) and np.ndim(images) else 3


def database(bits: int = 4, n: int = 20):
    codes = torch.where(torch.randn(n, bits, generator=torch.Generator().manual_seed(1)) >= 0, 1.0, -1.0)
    return codes, torch.arange(n) % 2


def attack_to_label(model, images=RANDOM, targets=None, **options):
    codes, labels = database()
    images = torch.rand(3, 1, 4, 4) if images is RANDOM else images
    targets = [1, 0, 1][:rows_of(images)] if targets is None else targets
    return hashattack.attack_to_label(model, images, targets, codes, labels, **{"steps": 2, "n_t": 1, **options})


def encode(model, images=RANDOM, **options):
    return hashattack.encode(model, torch.rand(3, 1, 4, 4) if images is RANDOM else images, progress=False, **options)


def attack(name: str, model, images=RANDOM, **options):
    """Method `name` of the registry on `images`, with the targets it takes."""
    images = torch.rand(3, 1, 4, 4) if images is RANDOM else images
    kind = METHODS[name].target
    targets = (torch.ones(rows_of(images), 4),) if kind in ("anchor", "center") else \
        (images.clone(),) if kind == "object" else ()
    return build_attack(name, model, 0.1, steps=2, **options)(images, *targets)


ENTRIES = {"encode": encode, "attack_to_label": attack_to_label,
           **{name: (lambda model, name=name: attack(name, model)) for name in ("DHTA", "P2P", "Untargeted", "Feature")}}


def modes(model: torch.nn.Module) -> tuple:
    return [m.training for m in model.modules()], [p.requires_grad for p in model.parameters()]


@pytest.mark.parametrize("entry", list(ENTRIES))
@pytest.mark.parametrize("state", ["train", "eval", "train, dropout in eval, bias frozen"])
def test_the_model_comes_back_in_the_mode_it_was_given(entry, state):
    model = Tiny()
    model.train(state != "eval")
    if state.startswith("train,"):
        model.drop.eval()
        model.lin.bias.requires_grad_(False)
    before = modes(model)
    ENTRIES[entry](model)
    assert modes(model) == before


@pytest.mark.parametrize("entry", ["encode", "attack_to_label", "DHTA"])
def test_the_mode_is_restored_after_a_refusal_too(entry):
    model = Tiny(out="tuple").train()
    with pytest.raises(InputError):
        ENTRIES[entry](model)
    assert model.training and all(p.requires_grad for p in model.parameters())


def test_encode_in_train_mode_gives_the_eval_codes():
    model, images = Tiny().eval(), torch.rand(5, 1, 4, 4)
    codes = encode(model, images)
    assert torch.equal(encode(model.train(), images), codes) and model.training


@pytest.mark.parametrize("entry", ["encode", "attack_to_label", "DHTA", "P2P", "Untargeted"])
@pytest.mark.parametrize("out", OUTPUTS)
def test_a_model_must_return_one_float_tensor_of_one_row_per_object(entry, out):
    with pytest.raises(InputError) as excinfo:
        ENTRIES[entry](Tiny(out=out))
    one_line(excinfo, "returned", "must return")


@pytest.mark.parametrize("out", OUTPUTS)
def test_the_feature_attack_checks_the_features_alike(out):
    with pytest.raises(InputError) as excinfo:
        attack("Feature", Tiny(out=out))
    one_line(excinfo, "returned", "must return")


@pytest.mark.parametrize("entry", ["encode", "attack_to_label", "DHTA", "Untargeted", "Feature", "Noise"])
@pytest.mark.parametrize("model", [None, lambda x: x.flatten(1), "small-cnn", torch.zeros(3)],
                         ids=["None", "function", "name", "tensor"])
def test_a_model_that_is_not_a_module_is_refused(entry, model):
    with pytest.raises(InputError) as excinfo:
        ENTRIES[entry](model) if entry in ENTRIES else attack(entry, model)
    one_line(excinfo, "must be a torch.nn.Module")


@pytest.mark.parametrize("entry", ["encode", "attack_to_label", "DHTA"])
def test_a_model_made_for_other_inputs_is_one_line(entry):
    with pytest.raises(InputError) as excinfo:
        {"encode": encode, "attack_to_label": attack_to_label,
         "DHTA": lambda m, images: attack("DHTA", m, images)}[entry](Tiny(), torch.rand(3, 1, 5, 5))
    one_line(excinfo, "does not accept this data's inputs of shape (1, 5, 5)", "RuntimeError")


@pytest.mark.parametrize("entry", ["encode", "attack_to_label"])
@pytest.mark.parametrize("batch_size", [0, -1, True, False, 1.5, None, "2"])
def test_batch_size_must_be_a_positive_integer(entry, batch_size):
    with pytest.raises(InputError) as excinfo:
        ENTRIES[entry](Tiny(), batch_size=batch_size)
    one_line(excinfo, "batch_size must be a positive integer", repr(batch_size))


@pytest.mark.parametrize("entry", ["encode", "attack_to_label", "DHTA", "Noise"])
@pytest.mark.parametrize("images", [np.random.rand(3, 1, 4, 4), np.random.rand(3, 1, 4, 4).tolist(), None, "x.png",
                                    torch.rand(16), torch.tensor(0.5)],
                         ids=["numpy", "list", "None", "str", "1-d", "0-d"])
def test_images_must_be_a_tensor_of_at_least_two_dimensions(entry, images):
    with pytest.raises(InputError) as excinfo:
        ENTRIES[entry](Tiny(), images) if entry in ("encode", "attack_to_label") else attack(entry, Tiny(), images)
    one_line(excinfo, "tensor")


def test_float64_pixels_are_cast_to_the_models_dtype():
    model, images = Tiny(), torch.rand(5, 1, 4, 4)
    assert torch.equal(encode(model, images.double()), encode(model, images))
    assert torch.equal(encode(model, images.half()), encode(model, images.half().float()))
    adversarial, result = attack_to_label(model, images[:3].double())
    assert adversarial.shape == (3, 1, 4, 4) and result.codes.shape == (3, 4)
    for name in ("DHTA", "Untargeted", "Feature"):
        assert attack(name, model, images.double()).dtype == torch.float32


@pytest.mark.parametrize("images, targets", [(torch.rand(0, 1, 4, 4), []), (torch.rand(0, 1, 4, 4), np.zeros(0, int))])
def test_attack_to_label_refuses_an_empty_batch(images, targets):
    with pytest.raises(InputError) as excinfo:
        attack_to_label(Tiny(), images, targets)
    one_line(excinfo, "the batch of images to attack is empty")


@pytest.mark.parametrize("eps, images, fragment", [
    ([0.1, 0.2], torch.rand(3, 1, 4, 4), "eps has 2 values but the images have 1 channel(s)"),
    ([0.1, 0.1, 0.1], torch.rand(3, 1, 4, 4), "eps has 3 values but the images have 1 channel(s)"),
    ([0.1, 0.2], torch.rand(3, 3, 4, 4), "eps has 2 values but the images have 3 channel(s)"),
    ([0.1] * 4, torch.rand(3, 3, 4, 4), "eps has 4 values"),
    ("0.1", torch.rand(3, 1, 4, 4), "eps must be a positive number or one per channel"),
    (None, torch.rand(3, 1, 4, 4), "eps must be a positive number or one per channel"),
    (True, torch.rand(3, 1, 4, 4), "eps must be a positive number or one per channel"),
    ([], torch.rand(3, 1, 4, 4), "eps must be a positive number or one per channel"),
    ([0.1, "a"], torch.rand(3, 1, 4, 4), "eps must be a positive number or one per channel"),
    (torch.tensor([True]), torch.rand(3, 1, 4, 4), "eps must be a positive number or one per channel"),
    ([0.1, float("nan")], torch.rand(3, 2, 4, 4), "eps must be positive and finite"),
], ids=lambda v: v if isinstance(v, str) else None)
@pytest.mark.parametrize("name", ["DHTA", "Noise", "Feature", "attack_to_label"])
def test_eps_must_be_one_number_or_one_per_channel(name, eps, images, fragment):
    model = Tiny(channels=images.shape[1])
    with pytest.raises(InputError) as excinfo:
        if name == "attack_to_label":
            attack_to_label(model, images, eps=eps)
        else:
            build_attack(name, model, eps, steps=2)(images, *((torch.ones(3, 4),) if name == "DHTA" else
                                                              (images,) if name == "Feature" else ()))
    one_line(excinfo, fragment)


@pytest.mark.parametrize("eps", [[0.1, 0.2], [0.1] * 4])
def test_eps_of_another_length_than_the_models_normalisation_is_refused(eps):
    with pytest.raises(InputError) as excinfo:
        hashattack.DHTA(Tiny(channels=3, normalised=True), eps=eps, eps_space="normalized")
    one_line(excinfo, f"eps has {len(eps)} values but Tiny normalises 3 channels")


@pytest.mark.parametrize("eps", [[0.05], [0.01, 0.05, 0.2], np.array([0.01, 0.05, 0.2]), torch.tensor([0.01, 0.05, 0.2])],
                         ids=["one", "list", "numpy", "tensor"])
def test_eps_of_one_or_one_per_channel_bounds_each_channel(eps):
    images = torch.rand(4, 3, 4, 4) * 0.5 + 0.25
    out = hashattack.Noise(Tiny(channels=3), eps=eps)(images)
    bound = torch.as_tensor(np.asarray(eps, dtype=np.float32)).view(1, -1, 1, 1).expand(1, 3, 1, 1)
    reach = (out - images).abs().amax(dim=(0, 2, 3))
    assert out.shape == images.shape and bool((reach <= bound.flatten() + 1e-6).all())
    assert bool((reach > bound.flatten() / 2).all())


@pytest.mark.parametrize("options, fragment", [
    ({"n_t": 0}, "n_t must be a positive integer, got 0"),
    ({"n_t": 1.5}, "n_t must be a positive integer, got 1.5"),
    ({"n_t": True}, "n_t must be a positive integer, got True"),
    ({"n_t": "9"}, "n_t must be a positive integer, got '9'"),
    ({"steps": True}, "steps must be a positive integer, got True"),
    ({"steps": 2.0}, "steps must be a positive integer, got 2.0"),
    ({"seed": -1}, "seed must be an integer from 0 to 4294967295, got -1"),
    ({"seed": 1.5}, "seed must be an integer from 0 to 4294967295, got 1.5"),
    ({"seed": 2 ** 40}, "seed must be an integer from 0 to 4294967295"),
    ({"step_size": "1"}, "step_size must be a positive finite number, got '1'"),
    ({"step_size": float("inf")}, "step_size must be a positive finite number, got inf"),
    ({"step_size": 0}, "step_size must be a positive finite number, got 0"),
    ({"device": "gpu7"}, "unknown device 'gpu7'"),
    ({"device": None}, "unknown device 'None'"),
    ({"quantize": "no"}, "quantize must be True or False, got 'no'"),
    ({"quantize": 1}, "quantize must be True or False, got 1"),
    ({"object_ids": [[1], [2]]}, "object_ids must hold 1 integer database indices (0 .. 19) per image, (3, 1) in all"),
    ({"object_ids": [[1.5], [2.0], [3.0]]}, "got float64 of shape (3, 1)"),
    ({"object_ids": "abc"}, "object_ids must hold 1 integer database indices"),
    ({"object_ids": [[-1], [2], [3]]}, "object_ids must hold 1 integer database indices (0 .. 19)"),
    ({"object_ids": [[20], [2], [3]]}, "object_ids must hold 1 integer database indices (0 .. 19)"),
    ({"object_ids": [[1, 2, 3]]}, "got int64 of shape (1, 3)"),
    ({"object_ids": [[True], [False], [True]]}, "got bool of shape (3, 1)"),
    ({"method": "Noise"}, "steered by anchor codes (DHTA or P2P), not 'Noise'"),
    ({"eps_space": "pixels"}, "unknown eps space 'pixels'"),
], ids=lambda v: v if isinstance(v, str) else None)
def test_attack_to_label_settings_are_checked(options, fragment):
    with pytest.raises(InputError) as excinfo:
        attack_to_label(Tiny(), **options)
    one_line(excinfo, fragment)


def test_attack_to_label_takes_integer_object_ids_flat_or_per_image():
    model, images = Tiny(), torch.rand(3, 1, 4, 4)
    flat, _ = attack_to_label(model, images, object_ids=np.array([1, 2, 3], dtype=np.int32))
    rows, result = attack_to_label(model, images, object_ids=torch.tensor([[1], [2], [3]]))
    assert torch.equal(flat, rows) and result.object_ids.tolist() == [[1], [2], [3]]


@pytest.mark.parametrize("name, options, fragment", [
    ("DHTA", {"early_stop": "no"}, "early_stop must be True or False, got 'no'"),
    ("DHTA", {"channels_last": 1}, "channels_last must be True or False, got 1"),
    ("DHTA", {"scale_step": "no"}, "scale_step must be True or False, got 'no'"),
    ("Feature", {"scale_step": None}, "scale_step must be True or False, got None"),
    ("Feature", {"steps": True}, "steps must be a positive integer, got True"),
    ("Feature", {"step_size": "1"}, "step_size must be a positive finite number"),
    ("Untargeted", {"step_size": float("nan")}, "step_size must be a positive finite number, got nan"),
    ("P2P", {"steps": 0}, "steps must be a positive integer, got 0"),
    ("Noise", {"seed": "a"}, "the noise seed must be an integer from 0 to 4294967295, got 'a'"),
    ("Noise", {"seed": -1}, "the noise seed must be an integer from 0 to 4294967295, got -1"),
    ("Noise", {"seed": 1.5}, "the noise seed must be an integer from 0 to 4294967295, got 1.5"),
], ids=lambda v: v if isinstance(v, str) else None)
def test_attack_settings_are_checked(name, options, fragment):
    cls = {"DHTA": hashattack.DHTA, "Feature": hashattack.FeatureAttack, "Untargeted": hashattack.Untargeted,
           "P2P": hashattack.P2P, "Noise": hashattack.Noise}[name]
    with pytest.raises(InputError) as excinfo:
        cls(Tiny(), **options)
    one_line(excinfo, fragment)


@pytest.mark.parametrize("ids", [[0], [0, 1, 2, 3], ["a", "b", "c"], [0, -1, 2], [0.5, 1.0, 2.0], 7])
def test_noise_ids_must_be_one_query_id_per_image(ids):
    with pytest.raises(InputError) as excinfo:
        hashattack.Noise(Tiny())(torch.rand(3, 1, 4, 4), ids=ids)
    one_line(excinfo, "ids must be 3 non-negative integer query ids, one per image")


def test_noise_of_query_ids_is_the_noise_of_those_queries():
    images = torch.full((3, 1, 4, 4), 0.5)
    noise = hashattack.Noise(Tiny(), 0.1, seed=3)
    assert torch.equal(noise(images, ids=np.array([4, 5, 6]))[1], noise(images[:1], ids=[5])[0])


@pytest.mark.parametrize("call", [
    lambda: hashattack.hamming_distance(None, torch.ones(2, 4)),
    lambda: hashattack.hamming_distance("ab", torch.ones(2, 4)),
    lambda: hashattack.hamming_distance(np.array([[1, None]], dtype=object), torch.ones(2, 2)),
    lambda: hashattack.anchor_code(None),
    lambda: hashattack.anchor_code(torch.ones(3, 4), "abc"),
    lambda: hashattack.hamming_rank(torch.ones(2, 4), None),
    lambda: hashattack.HammingIndex(None),
    lambda: hashattack.HammingIndex(torch.ones(2, 4)).search(None),
    lambda: hashattack.HammingIndex.from_packed("ab", 8),
    lambda: hashattack.mean_average_precision(torch.ones(2, 4), torch.ones(2, 4), None, [0, 1]),
    lambda: hashattack.mean_average_precision(torch.ones(2, 4), torch.ones(2, 4), np.array(["a", "b"]), [0, 1]),
], ids=["distance None", "distance str", "distance objects", "anchor None", "anchor weights str", "rank None",
        "index None", "search None", "packed str", "labels None", "labels str"])
def test_retrieval_refuses_what_is_not_numbers(call):
    with pytest.raises(InputError) as excinfo:
        call()
    one_line(excinfo, "must be a numeric array or tensor")


@pytest.mark.parametrize("topk", [None, 3])
def test_mean_average_precision_of_no_query_is_refused(topk):
    with pytest.raises(InputError) as excinfo:
        hashattack.mean_average_precision(torch.ones(0, 4), torch.ones(5, 4), torch.zeros(0, dtype=torch.long),
                                          torch.arange(5), topk)
    one_line(excinfo, "query_codes is empty")


@pytest.mark.parametrize("offset", [10 ** 6, 10 ** 12, 2 ** 61])
def test_class_indices_far_apart_give_the_map_of_small_ones(offset):
    codes = torch.where(torch.randn(12, 8) >= 0, 1.0, -1.0)
    labels = torch.arange(12) % 3
    expected = hashattack.mean_average_precision(codes[:4], codes, labels[:4], labels)
    far = labels * offset
    assert hashattack.mean_average_precision(codes[:4], codes, far[:4], far) == expected


@pytest.mark.parametrize("entry", ["encode", "attack_to_label"])
def test_a_model_on_another_device_is_refused_not_moved(entry):
    model = Tiny().to("meta")
    with pytest.raises(InputError) as excinfo:
        ENTRIES[entry](model)
    one_line(excinfo, "the model's weights are on meta but the inputs go to cpu", "model.to('cpu')")
    assert next(model.parameters()).device.type == "meta"


@pytest.mark.parametrize("device", ["gpu7", None, "cuda:99", 3])
def test_encode_refuses_an_unknown_device(device):
    with pytest.raises(InputError) as excinfo:
        encode(Tiny(), device=device)
    one_line(excinfo, "device")


@pytest.mark.parametrize("inputs", [[1], {"lengths": torch.ones(2)}, {"lengths": [1, 2, 3]}, {"lengths": torch.tensor(3)}])
def test_encode_refuses_extra_inputs_that_do_not_fit(inputs):
    with pytest.raises(InputError) as excinfo:
        encode(Tiny(), inputs=inputs)
    one_line(excinfo, "inputs must be a dict of tensors with one row per object (3)")
