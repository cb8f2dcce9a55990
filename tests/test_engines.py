"""Every search engine behind HammingIndex against hashattack's exact ranking on tiny data: identical
(distances, and the whole ranking when every item is asked for) where the engine is exact, a recall bound
where it is approximate; the index strings' one-line errors; the missing-package error naming the extra."""

from __future__ import annotations

import sys

import numpy as np
import pytest

from hashattack.errors import InputError
from hashattack.retrieval import HammingIndex
from hashattack.retrieval.engines import REGISTRY, parse_index
from hashattack.retrieval.engines.base import ordered_results
from hashattack.retrieval.engines.pgvector_engine import cpu_flags

N, K, NQ, R = 400, 32, 12, 40


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(3)
    db = np.where(rng.random((N, K)) < 0.5, 1, -1).astype(np.int8)
    queries = db[:NQ].copy()
    queries[:, :4] *= -1                       # near, not equal to, a database item
    exact_idx, exact_dist = HammingIndex(db).search(queries, None)
    return db, queries, exact_idx.numpy(), exact_dist.numpy()


def true_distances(db, queries, idx):
    return np.array([[(db[i] != q).sum() for i in row] for q, row in zip(queries, idx)])


EXACT = ["exact", "faiss", "usearch:exact=1", "sqlite-vec", "sqlite-vec:mode=scan", "lancedb",
         "faiss-ivf:nlist=4,nprobe=4"]
IDENTICAL = ["exact", "faiss", "sqlite-vec:mode=scan", "lancedb"]   # ties in database order, like exact ranking
APPROXIMATE = {"faiss-ivf:nlist=16,nprobe=8": 0.6, "hnsw:M=16,ef=64": 0.8, "faiss-mih:b=8,nflip=2": 0.7,
               "usearch:M=16,ef=64": 0.7, "lancedb:nlist=8,nprobe=4": 0.4}


@pytest.mark.parametrize("kind", EXACT)
def test_exact_engines_return_the_exact_distances(data, kind):
    db, queries, exact_idx, exact_dist = data
    with HammingIndex(db, kind) as index:
        assert index.describe()["exact"] is True
        idx, dist = (t.numpy() for t in index.search(queries, R))
    assert (dist == exact_dist[:, :R]).all()
    assert (true_distances(db, queries, idx) == dist).all()
    strict = exact_dist[:, :R] < exact_dist[:, R - 1:R]     # above the R-th distance no tie can reorder items
    assert (idx[strict] == exact_idx[:, :R][strict]).all()


@pytest.mark.parametrize("kind", IDENTICAL)
def test_engines_with_database_tie_order_rank_identically(data, kind):
    db, queries, exact_idx, exact_dist = data
    with HammingIndex(db, kind) as index:
        idx, dist = (t.numpy() for t in index.search(queries, None))
    assert (idx == exact_idx).all() and (dist == exact_dist).all()


@pytest.mark.parametrize("kind", sorted(APPROXIMATE))
def test_approximate_engines_meet_a_recall_bound(data, kind):
    db, queries, exact_idx, exact_dist = data
    with HammingIndex(db, kind) as index:
        assert index.describe()["exact"] is False
        idx, dist = (t.numpy() for t in index.search(queries, R))
    found = idx >= 0
    assert (true_distances(db, queries, np.where(found, idx, 0))[found] == dist[found]).all()
    assert (dist[~found] == K + 1).all()
    assert (np.diff(dist, axis=1) >= 0).all()
    recall = np.mean([len(set(a[a >= 0]) & set(b)) / R for a, b in zip(idx, exact_idx[:, :R])])
    assert APPROXIMATE[kind] <= recall <= 1.0, recall


def test_every_engine_is_covered():
    covered = {parse_index(kind).kind for kind in [*EXACT, *APPROXIMATE, "pgvector"]}
    assert covered == set(REGISTRY)


@pytest.fixture(scope="module")
def pg_index(data):
    pytest.importorskip("pgserver")
    index = HammingIndex(data[0], "pgvector")
    yield index
    index.close()
    assert not index.engine._folder.exists()    # the server's temporary data folder is gone


def test_pgvector_scan_is_identical_to_exact_ranking(data, pg_index):
    db, queries, exact_idx, exact_dist = data
    idx, dist = (t.numpy() for t in pg_index.search(queries, None))
    assert (idx == exact_idx).all() and (dist == exact_dist).all()
    about = pg_index.describe()
    assert about["engine"] == "pgvector" and about["pgvector"].startswith("0.8") and about["exact"]


def test_pgvector_hnsw_where_this_cpu_runs_it(data):
    pytest.importorskip("pgserver")
    if "avx512_vpopcntdq" not in cpu_flags():
        with pytest.raises(InputError, match="method=hnsw needs pgvector's <~>"):
            HammingIndex(data[0], "pgvector:method=hnsw")
        return
    db, queries, exact_idx, _ = data
    with HammingIndex(db, "pgvector:method=hnsw,ef=100") as index:
        idx, _ = (t.numpy() for t in index.search(queries, R))
    assert np.mean([len(set(a) & set(b)) / R for a, b in zip(idx, exact_idx[:, :R])]) >= 0.8


@pytest.mark.parametrize("text, canonical", [
    ("faiss-ivf:nlist=256,nprobe=8", "faiss-ivf:nlist=256,nprobe=8"),
    (" faiss-ivf : nprobe=8 , nlist=256 ", "faiss-ivf:nlist=256,nprobe=8"),
    ("hnsw:M=32,ef=64", "faiss-hnsw:M=32,ef=64"),
    ("pgvector", "pgvector"), ("sqlite-vec:mode=scan", "sqlite-vec:mode=scan"), ("usearch:", "usearch")])
def test_index_strings_parse_in_one_place(text, canonical):
    assert parse_index(text).text == canonical


@pytest.mark.parametrize("text, fragment", [
    ("annoy", "unknown index 'annoy': choose from exact, faiss"),
    ("faiss-ivf:nlst=4", "index faiss-ivf has no option 'nlst': its options are nlist, nprobe"),
    ("faiss:nprobe=4", "index faiss has no option 'nprobe': its options are none"),
    ("faiss-ivf:nlist=0", "option nlist='0' must be an integer in 1"),
    ("faiss-ivf:nlist=1e3", "option nlist='1e3' must be an integer"),
    ("faiss-ivf:nlist=99999999999", "must be an integer in 1 .. 2147483647"),
    ("usearch:exact=2", "option exact='2' must be 0 or 1"),
    ("sqlite-vec:mode=fast", "option mode='fast' must be one of knn, scan"),
    ("faiss-ivf:nlist", "option 'nlist' must look like name=value"),
    ("faiss-ivf:nlist=4,nlist=8", "option nlist is given twice"),
    ("", "must look like KIND[:name=value,...]"), ("faiss\n", "must look like KIND"),
    ("x" * 300, "must look like KIND")])
def test_bad_index_strings_are_refused_in_one_line(text, fragment):
    with pytest.raises(InputError) as error:
        parse_index(text)
    assert fragment in str(error.value) and "\n" not in str(error.value)


@pytest.mark.parametrize("kind, module, extra", [
    ("usearch", "usearch.index", "usearch"), ("sqlite-vec", "sqlite_vec", "sqlite-vec"),
    ("lancedb", "lancedb", "lancedb"), ("pgvector", "pgserver", "pgvector"), ("hnsw", "faiss", "faiss")])
def test_a_missing_package_names_its_extra(monkeypatch, data, kind, module, extra):
    monkeypatch.setitem(sys.modules, module, None)      # import of it raises ImportError
    with pytest.raises(InputError) as error:
        HammingIndex(data[0], kind)
    assert f"pip install 'hashattack[{extra}]'" in str(error.value) and "\n" not in str(error.value)


def test_mih_refuses_substrings_longer_than_the_code(data):
    with pytest.raises(InputError, match="nhash \\* b = 40 must be at most the code length 32"):
        HammingIndex(data[0], "faiss-mih:nhash=5,b=8")


def test_sqlite_vec_knn_refuses_more_than_its_limit(data):
    with HammingIndex(data[0], "sqlite-vec") as index, pytest.raises(InputError, match="mode=scan"):
        index.engine.search(np.zeros((1, 4), np.uint8), 5000)


def test_ordered_results_pad_and_sort():
    idx, dist = ordered_results(np.array([[5, -1, 2]]), np.array([[3.0, 0.0, 3.0]]), 4, 8)
    assert idx.tolist() == [[2, 5, -1, -1]] and dist.tolist() == [[3, 3, 9, 9]]
