"""The fast ranking backends (packed popcount with both kernels, faiss) against the reference ranking."""

import numpy as np
import pytest
import torch

from hashattack.retrieval import popcount
from hashattack.retrieval.codes import pack_bits
from hashattack.errors import InputError
from hashattack.retrieval.metrics import mean_average_precision
from hashattack.retrieval.ranking import (
    HammingIndex,
    hamming_rank,
    hamming_rank_with_distances,
    reference_hamming_rank_with_distances,
)

KERNELS = ["numpy", "numba"]


def clustered_codes(rng, n, k, centres=5, flip=0.1):
    """Codes around a few centres (like a trained model's): many exact ties and duplicates."""
    c = rng.choice(np.array([-1, 1], dtype=np.int8), size=(centres, k))[rng.integers(0, centres, n)]
    c[rng.random(c.shape) < flip] *= -1
    return c


@pytest.mark.parametrize("kernel", KERNELS)
@pytest.mark.parametrize("k", [4, 64, 65, 130, 300])
@pytest.mark.parametrize("topk", [1, 7, 100, None])
def test_packed_equals_reference(kernel, k, topk):
    rng = np.random.default_rng(k)
    queries, db = clustered_codes(rng, 37, k), clustered_codes(rng, 2000, k)
    want = reference_hamming_rank_with_distances(queries, db, topk=topk)
    got = HammingIndex(db, "packed", kernel=kernel).search(queries, topk, chunk_size=5)
    np.testing.assert_array_equal(got[0].numpy(), want[0].numpy())
    np.testing.assert_array_equal(got[1].numpy(), want[1].numpy())


def test_numpy_kernel_cutoff_fallback(monkeypatch):
    """A sample that misjudges the cut-off (too few candidates) falls back to a full sort: still exact."""
    monkeypatch.setattr(popcount, "SAMPLE_SIZE", 8)
    rng = np.random.default_rng(3)
    db = clustered_codes(rng, 4000, 32, centres=2)
    query = db[:1].copy()
    db[::500] = query           # the sampled items are all at distance 0, the rest mostly far
    want = reference_hamming_rank_with_distances(query, db, topk=50)
    got = HammingIndex(db, "packed", kernel="numpy").search(query, 50)
    np.testing.assert_array_equal(got[0].numpy(), want[0].numpy())


def test_numpy_kernel_bounded_chunks():
    """A tiny memory budget ranks one query at a time and gives the same result."""
    rng = np.random.default_rng(4)
    q, db = clustered_codes(rng, 9, 64), clustered_codes(rng, 3000, 64)
    qw, dw = (popcount.bytes_to_words(np.packbits(c == 1, axis=1)) for c in (q, db))
    small = popcount.rank_words(qw, dw, 64, 20, memory_bytes=1, kernel="numpy")
    large = popcount.rank_words(qw, dw, 64, 20, kernel="numpy")
    np.testing.assert_array_equal(small[0], large[0])


def test_default_backend_and_map_unchanged():
    rng = np.random.default_rng(5)
    q, db = clustered_codes(rng, 50, 32), clustered_codes(rng, 1500, 32)
    ql, dl = rng.integers(0, 5, 50), rng.integers(0, 5, 1500)
    np.testing.assert_array_equal(hamming_rank(q, db, 100).numpy(),
                                  reference_hamming_rank_with_distances(q, db, 100)[0].numpy())
    assert HammingIndex(db).backend == "packed"
    assert HammingIndex(torch.from_numpy(db)).backend == "packed"
    assert mean_average_precision(q, db, ql, dl, topk=100) == pytest.approx(
        mean_average_precision(q, db, ql, dl, topk=100), abs=0)


def test_from_packed_and_bad_input():
    rng = np.random.default_rng(6)
    q, db = clustered_codes(rng, 4, 20), clustered_codes(rng, 300, 20)
    want = reference_hamming_rank_with_distances(q, db, 30)[0].numpy()
    for backend in ("packed", "torch"):
        got = HammingIndex.from_packed(pack_bits(db), 20, backend).search(q, 30)[0].numpy()
        np.testing.assert_array_equal(got, want)
    with pytest.raises(InputError, match="backend"):
        HammingIndex(db, "annoy")
    with pytest.raises(InputError, match="kernel"):
        HammingIndex(db, kernel="cuda")
    with pytest.raises(InputError, match="shape"):
        HammingIndex.from_packed(pack_bits(db), 33)
    bad = pack_bits(db)
    bad[0, -1] |= 1             # a bit beyond the 20 code bits
    with pytest.raises(InputError, match="beyond"):
        HammingIndex.from_packed(bad, 20)
    with pytest.raises(InputError, match="code length"):
        HammingIndex(db).search(q[:, :10])


def test_faiss_flat_equals_reference():
    pytest.importorskip("faiss")
    rng = np.random.default_rng(7)
    for k in (16, 64, 100):
        q, db = clustered_codes(rng, 23, k), clustered_codes(rng, 3000, k)
        for topk in (1, 10, 250):
            want = reference_hamming_rank_with_distances(q, db, topk)
            got = hamming_rank_with_distances(q, db, topk, backend="faiss")
            np.testing.assert_array_equal(got[0].numpy(), want[0].numpy())
            np.testing.assert_array_equal(got[1].numpy(), want[1].numpy())


def test_faiss_ivf_exhaustive_probe_finds_exact_distances():
    pytest.importorskip("faiss")
    rng = np.random.default_rng(8)
    q, db = clustered_codes(rng, 20, 64), clustered_codes(rng, 2000, 64)
    index = HammingIndex(db, "faiss-ivf", nlist=8, nprobe=8)
    idx, dist = index.search(q, 40)
    want = reference_hamming_rank_with_distances(q, db, 40)[1].numpy()
    np.testing.assert_array_equal(dist.numpy(), want)   # every cell visited: the distances are exact
    real = reference_hamming_rank_with_distances(q, db)[1].numpy()
    np.testing.assert_array_equal(np.take_along_axis(
        (q[:, None, :] != db[None, :, :]).sum(2), idx.numpy(), 1), dist.numpy())
    assert (np.diff(dist.numpy(), axis=1) >= 0).all() and real.shape == (20, 2000)
