"""Tests for hashattack.retrieval.codes: binarize, anchor codes (Theorem 1 of DHTA), distances, bit packing."""

import itertools

import numpy as np
import pytest
import torch

from hashattack.retrieval.codes import anchor_code, binarize, hamming_distance, pack_bits, unpack_bits


def random_codes(rng: np.random.Generator, n: int, k: int) -> np.ndarray:
    return rng.choice(np.array([-1, 1], dtype=np.int64), size=(n, k))


def all_codes(k: int) -> np.ndarray:
    return np.array(list(itertools.product([-1, 1], repeat=k)), dtype=np.int64)


def weighted_objective(candidates: np.ndarray, codes: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Σ_i w_i d_H(h, h_i) for every candidate h, by counting differing bits."""
    diff = (candidates[:, None, :] != codes[None, :, :]).sum(axis=2)
    return diff @ weights


# --- binarize ---------------------------------------------------------------------------------


def test_binarize_numpy_maps_zero_to_plus_one_and_keeps_dtype():
    x = np.array([[-0.5, 0.0, -0.0], [3.0, -1e-9, 1e-9]], dtype=np.float32)
    out = binarize(x)
    assert isinstance(out, np.ndarray) and out.dtype == np.float32
    np.testing.assert_array_equal(out, [[-1, 1, 1], [1, -1, 1]])


@pytest.mark.parametrize("dtype", [np.int8, np.int32, np.int64])
def test_binarize_numpy_integer_dtypes(dtype):
    x = np.array([-3, 0, 2, -1], dtype=dtype)
    out = binarize(x)
    assert out.dtype == dtype
    np.testing.assert_array_equal(out, [-1, 1, 1, -1])


@pytest.mark.parametrize("dtype", [torch.float16, torch.float32, torch.float64, torch.int32, torch.int64])
def test_binarize_torch_keeps_type_dtype_and_shape(dtype):
    x = torch.tensor([[[-2, 0], [5, -1]], [[0, 0], [1, -7]]], dtype=dtype)
    out = binarize(x)
    assert isinstance(out, torch.Tensor) and out.dtype == dtype and out.shape == x.shape
    expected = torch.tensor([[[-1, 1], [1, -1]], [[1, 1], [1, -1]]], dtype=dtype)
    assert torch.equal(out, expected)


@pytest.mark.parametrize("x", [np.array([0.0, np.nan]), torch.tensor([np.nan, 1.0])])
def test_binarize_rejects_nan(x):
    with pytest.raises(ValueError, match="NaN"):
        binarize(x)


# --- anchor_code: Theorem 1 by brute force ----------------------------------------------------


@pytest.mark.parametrize("k", range(1, 9))
def test_anchor_code_minimises_weighted_hamming_distance(k):
    rng = np.random.default_rng(k)
    candidates = all_codes(k)
    for n in (1, 2, 3, 4, 9):
        codes = random_codes(rng, n, k)
        weight_sets = {
            "none": None,
            "float": rng.uniform(0.0, 3.0, size=n),
            "integer_with_zeros": rng.integers(0, 3, size=n).astype(np.float64),
        }
        for kind, weights in weight_sets.items():
            w = np.ones(n) if weights is None else weights
            anchor = anchor_code(codes, weights)
            assert anchor.shape == (k,) and set(np.unique(anchor)) <= {-1, 1}
            objective = weighted_objective(candidates, codes, w)
            anchor_value = weighted_objective(anchor[None], codes, w)[0]
            if kind == "float":
                assert anchor_value <= objective.min() + 1e-9, (n, codes, w)
            else:
                # Exact arithmetic: the anchor is a minimiser, and among all minimisers it is the
                # one with +1 wherever a minimiser may have +1 (ties give +1).
                assert anchor_value == objective.min(), (n, codes, w)
                minimisers = candidates[objective == objective.min()]
                assert (anchor[None] >= minimisers).all(), (n, codes, w, anchor, minimisers)


def test_anchor_code_tie_gives_plus_one():
    codes = np.array([[1, 1, -1], [1, -1, -1]])
    np.testing.assert_array_equal(anchor_code(codes), [1, 1, -1])
    # weighted tie: weight 2 votes +1, weights 1 + 1 vote -1
    np.testing.assert_array_equal(anchor_code(np.array([[1], [-1], [-1]]), np.array([2, 1, 1])), [1])
    # zero weights do not vote; all-zero weights tie everywhere
    np.testing.assert_array_equal(anchor_code(np.array([[1, -1], [-1, 1]]), np.array([0.0, 1.0])), [-1, 1])
    np.testing.assert_array_equal(anchor_code(np.array([[-1, -1], [-1, -1]]), np.array([0, 0])), [1, 1])


def test_anchor_code_torch_matches_numpy_and_keeps_type():
    rng = np.random.default_rng(0)
    codes = random_codes(rng, 6, 12)
    weights = rng.integers(0, 3, size=6)
    expected = anchor_code(codes, weights)
    for dtype in (torch.float32, torch.int8, torch.int64):
        out = anchor_code(torch.from_numpy(codes).to(dtype), torch.from_numpy(weights))
        assert isinstance(out, torch.Tensor) and out.dtype == dtype
        np.testing.assert_array_equal(out.numpy(), expected)
    out = anchor_code(codes.astype(np.float32))
    assert isinstance(out, np.ndarray) and out.dtype == np.float32


def test_anchor_code_batch_equals_per_row():
    rng = np.random.default_rng(1)
    b, n, k = 5, 4, 10
    codes = random_codes(rng, b * n, k).reshape(b, n, k)
    batch_weights = rng.integers(0, 3, size=(b, n)).astype(np.float64)
    shared_weights = rng.uniform(0, 1, size=n)
    out = anchor_code(codes, batch_weights)
    assert out.shape == (b, k)
    for i in range(b):
        np.testing.assert_array_equal(out[i], anchor_code(codes[i], batch_weights[i]))
    out_shared = anchor_code(torch.from_numpy(codes), shared_weights)
    assert isinstance(out_shared, torch.Tensor) and out_shared.shape == (b, k)
    for i in range(b):
        np.testing.assert_array_equal(out_shared[i].numpy(), anchor_code(codes[i], shared_weights))
    np.testing.assert_array_equal(anchor_code(codes), np.stack([anchor_code(c) for c in codes]))


@pytest.mark.parametrize(
    "codes, weights, message",
    [
        (np.array([[1, 0, -1]]), None, "-1 and \\+1"),
        (np.array([[1, 2], [1, -1]]), None, "-1 and \\+1"),
        (np.array([[1, -1], [1, 1]]), np.array([1.0, -0.5]), "non-negative"),
        (np.array([[1, -1], [1, 1]]), np.array([1.0, np.inf]), "finite"),
        (np.array([[1, -1], [1, 1]]), np.array([1.0, np.nan]), "finite"),
        (np.array([[1, -1], [1, 1]]), np.array([1.0, 1.0, 1.0]), "shape"),
        (np.array([[1, -1], [1, 1]]), np.ones((1, 2)), "shape"),
        (np.ones((3, 2, 4)), np.ones((2, 2)), "shape"),
        (np.ones((0, 4)), None, "shape"),
        (np.ones(4), None, "shape"),
    ],
)
def test_anchor_code_rejects_bad_input(codes, weights, message):
    with pytest.raises(ValueError, match=message):
        anchor_code(codes, weights)


# --- hamming_distance -------------------------------------------------------------------------


def test_hamming_distance_matches_brute_force():
    rng = np.random.default_rng(2)
    a, b = random_codes(rng, 7, 13), random_codes(rng, 9, 13)
    expected = (a[:, None, :] != b[None, :, :]).sum(axis=2)
    out = hamming_distance(a, b)
    assert isinstance(out, np.ndarray) and out.dtype == np.int64
    np.testing.assert_array_equal(out, expected)
    out_t = hamming_distance(torch.from_numpy(a).float(), b.astype(np.int8))
    assert isinstance(out_t, torch.Tensor) and out_t.dtype == torch.int64
    np.testing.assert_array_equal(out_t.numpy(), expected)
    np.testing.assert_array_equal(hamming_distance(a[0], b), expected[:1])
    np.testing.assert_array_equal(hamming_distance(a, b[3]), expected[:, 3:4])


def test_hamming_distance_rejects_bad_input():
    with pytest.raises(ValueError, match="code length"):
        hamming_distance(np.ones((2, 8)), np.ones((2, 9)))
    with pytest.raises(ValueError, match="-1 and \\+1"):
        hamming_distance(np.zeros((2, 8)), np.ones((2, 8)))


# --- pack_bits / unpack_bits ------------------------------------------------------------------


@pytest.mark.parametrize("k", [7, 8, 16, 33, 64])
def test_pack_unpack_round_trip_and_popcount(k):
    rng = np.random.default_rng(k)
    a, b = random_codes(rng, 6, k), random_codes(rng, 5, k)
    pa, pb = pack_bits(a), pack_bits(torch.from_numpy(b).float())
    assert pa.dtype == np.uint8 and pa.shape == (6, (k + 7) // 8)
    unpacked = unpack_bits(pa, k)
    assert unpacked.dtype == np.int8
    np.testing.assert_array_equal(unpacked, a)
    np.testing.assert_array_equal(unpack_bits(pb, k), b)
    popcount = np.unpackbits(pa[:, None, :] ^ pb[None, :, :], axis=2).sum(axis=2)
    np.testing.assert_array_equal(popcount, hamming_distance(a, b))


def test_pack_bits_is_big_endian_with_plus_one_as_bit_one():
    code = -np.ones((1, 9), dtype=np.int64)
    code[0, [0, 7, 8]] = 1
    np.testing.assert_array_equal(pack_bits(code), [[0b10000001, 0b10000000]])


@pytest.mark.parametrize(
    "packed, n_bits",
    [
        (np.zeros((2, 2), dtype=np.uint8), 7),
        (np.zeros((2, 1), dtype=np.int64), 8),
        (np.zeros(2, dtype=np.uint8), 8),
        (np.zeros((2, 1), dtype=np.uint8), 0),
    ],
)
def test_unpack_bits_rejects_bad_input(packed, n_bits):
    with pytest.raises(ValueError):
        unpack_bits(packed, n_bits)
