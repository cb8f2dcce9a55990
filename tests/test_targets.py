"""The official target protocol and manifests."""

from __future__ import annotations

import json

import numpy as np
import pytest

from hashattack.errors import InputError
from hashattack.protocol.targets import choose_targets, load_manifest


def labels(classes, n_classes=4):
    out = np.zeros((len(classes), n_classes), dtype=np.uint8)
    out[np.arange(len(classes)), classes] = 1
    return out


@pytest.fixture
def db_labels():
    # class 0: 20 objects, class 1: 12, class 2: 9 (not > 9), class 3: 30, plus a multi-hot vector {0,3}: 15
    rows = [labels([0] * 20), labels([1] * 12), labels([2] * 9), labels([3] * 30)]
    multi = np.zeros((15, 4), dtype=np.uint8)
    multi[:, [0, 3]] = 1
    return np.concatenate(rows + [multi])


def test_protocol(db_labels):
    query_labels = labels(np.arange(40) % 4)
    manifest = choose_targets(query_labels, db_labels, num_queries=30, n_ts=(1, 9), seed=3)
    assert len(set(manifest.query_ids)) == 30
    vectors = {tuple(v) for v in db_labels}
    for row, qid in enumerate(manifest.query_ids):
        target = manifest.target_labels[row]
        assert tuple(target) in vectors
        assert not np.array_equal(target, query_labels[qid])                 # differs from the query's
        assert (db_labels == target).all(1).sum() > 9                        # occurs more than n_t times
        assert not np.array_equal(target, labels([2])[0])                    # class 2 has only 9
        nine, one = manifest.anchor_ids[9][row], manifest.anchor_ids[1][row]
        assert len(set(nine)) == 9 and one == nine[:1]                       # without replacement, nested
        assert all(np.array_equal(db_labels[i], target) for i in nine)       # label vector equals the target


def test_targets_are_uniform_over_distinct_label_vectors(db_labels):
    query_labels = labels([1] * 3000)
    manifest = choose_targets(query_labels, db_labels, num_queries=3000, n_ts=(9,), seed=0)
    counts = {}
    for row in manifest.target_labels:
        counts[tuple(row)] = counts.get(tuple(row), 0) + 1
    assert len(counts) == 3                                                  # {0}, {3}, {0,3}
    assert all(abs(c / 3000 - 1 / 3) < 0.04 for c in counts.values())


def test_same_seed_same_draw_and_manifest_round_trip(tmp_path, db_labels):
    query_labels = labels(np.arange(20) % 4)
    a = choose_targets(query_labels, db_labels, 10, seed=5)
    b = choose_targets(query_labels, db_labels, 10, seed=5)
    assert a.to_json() == b.to_json()
    assert a.to_json() != choose_targets(query_labels, db_labels, 10, seed=6).to_json()
    a.save(tmp_path / "m.json")
    loaded = load_manifest(tmp_path / "m.json", num_queries=20, num_database=len(db_labels))
    assert loaded.to_json() == a.to_json()
    assert (tmp_path / "m.json").read_bytes() == (a.save(tmp_path / "n.json") or (tmp_path / "n.json").read_bytes())


def test_manifest_with_a_byte_order_mark_loads(tmp_path, db_labels):
    manifest = choose_targets(labels(np.arange(6) % 4), db_labels, 4, seed=1)
    manifest.save(tmp_path / "m.json")
    (tmp_path / "bom.json").write_bytes(b"\xef\xbb\xbf" + (tmp_path / "m.json").read_bytes())
    assert load_manifest(tmp_path / "bom.json").to_json() == manifest.to_json()


def test_open_set_filter(db_labels):
    query_labels = labels([0, 2, 3] * 5)
    manifest = choose_targets(query_labels, db_labels, 15, seed=0, candidate_filter=lambda v: v[1] == 1)
    assert (manifest.target_labels[:, 1] == 1).all()


def test_n_t_larger_than_available(db_labels):
    with pytest.raises(InputError, match="n_t = 40 is too large"):
        choose_targets(labels([0]), db_labels, 1, n_ts=(40,))


@pytest.mark.parametrize("content, message", [
    ("{not json", "malformed manifest"),
    (json.dumps({"format": "other"}), "format"),
    (json.dumps({"format": "hashattack-manifest/1", "seed": 0, "num_classes": 4, "query_ids": [0],
                 "target_labels": [[1]], "anchor_ids": {"9": [[1, 2]]}}), "must hold 9 ids"),
])
def test_malformed_manifests(tmp_path, content, message):
    path = tmp_path / "manifest.json"
    path.write_text(content)
    with pytest.raises(InputError, match=message):
        load_manifest(path)


def test_manifest_ids_out_of_range(tmp_path, db_labels):
    manifest = choose_targets(labels(np.arange(8) % 4), db_labels, 8, seed=0)
    manifest.save(tmp_path / "m.json")
    with pytest.raises(InputError, match="query set of 3"):
        load_manifest(tmp_path / "m.json", num_queries=3)
