"""Retrieval metrics: MAP / t-MAP, precision@k, PR curves (perturbation size: `retrieval.perceptibility`).

Rankings come from `hashattack.retrieval.ranking.hamming_rank`, so every metric uses its tie rule
(equal distances keep database order). Labels are either (n, C) 0/1 multi-hot (or one-hot)
matrices or 1-D integer class indices; a database item is relevant to a query when their
label vectors share at least one label. The two forms may be mixed: class indices are
turned into one-hot rows (with the other side's C classes when it is a matrix; when both sides
are indices only equality counts, so indices as large as 10**12 cost nothing). Codes and labels
that are not numbers (None, strings) are a one-line `InputError`, and so is a mean over no query.
Work is vectorised over chunks of queries; nothing loops over queries in Python.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np
import torch

from hashattack.retrieval.codes import Array, _as_codes, _as_tensor, positive_int, hamming_distance
from hashattack.errors import InputError
from hashattack.retrieval.perceptibility import perceptibility, summarize_perceptibility  # noqa: F401  (re-exported)
from hashattack.retrieval.ranking import hamming_rank
from hashattack.validation import check_choice

ZERO_RELEVANCE = ("zero", "drop")
OTHER_CONVENTION = dict(zip(ZERO_RELEVANCE, reversed(ZERO_RELEVANCE)))   # the one a table shows beside the main


def _check_labels(labels: torch.Tensor, name: str, n: int) -> None:
    """Raise InputError unless `labels` are n class indices or an (n, C) 0/1 matrix."""
    if labels.ndim not in (1, 2) or labels.shape[0] != n:
        raise InputError(
            f"{name} must have shape ({n},) (class indices) or ({n}, C) (multi-hot), got {tuple(labels.shape)}"
        )
    if labels.ndim == 1:
        if labels.is_floating_point() or labels.is_complex() or labels.dtype == torch.bool:
            raise InputError(f"1-D {name} must be integer class indices, got dtype {labels.dtype}")
        if bool((labels < 0).any()):
            raise InputError(f"class indices in {name} must be >= 0, got {labels.min().item()}")
    else:
        bad = (labels != 0) & (labels != 1)
        if bool(bad.any()):
            raise InputError(f"multi-hot {name} must contain only 0 and 1, got entry {labels[bad][0].item()}")


def _prepare(
    query_codes: Array, db_codes: Array, query_labels: Array, db_labels: Array
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Validate codes and labels; return codes and float32 (n, C) label matrices on one device."""
    q = _as_codes(query_codes, "query_codes")
    d = _as_codes(db_codes, "db_codes").to(q.device)
    if d.shape[0] < 1:
        raise InputError("db_codes must have at least one row, got an empty database")
    ql, dl = _label_matrices(query_labels, db_labels, q.shape[0], d.shape[0], q.device)
    return q, d, ql, dl


def _label_matrices(query_labels: Array, db_labels: Array, nq: int, n: int, device) -> tuple[torch.Tensor, torch.Tensor]:
    """Checked query and database labels as float32 (n, C) matrices on `device`."""
    ql = _as_tensor(query_labels, "query_labels").to(device)
    dl = _as_tensor(db_labels, "db_labels").to(device)
    _check_labels(ql, "query_labels", nq)
    _check_labels(dl, "db_labels", n)
    matrices = [lab for lab in (ql, dl) if lab.ndim == 2]
    if len(matrices) == 2 and ql.shape[1] != dl.shape[1]:
        raise InputError(
            f"query_labels and db_labels must have the same number of classes, got {ql.shape[1]} and {dl.shape[1]}"
        )
    if not matrices:   # class indices on both sides: only equality counts, so number the classes seen 0..C-1
        classes, index = torch.unique(torch.cat([ql, dl]).to(torch.int64), return_inverse=True)
        ql, dl, n_classes = index[:len(ql)], index[len(ql):], len(classes)
    else:
        n_classes = matrices[0].shape[1]
    out = []
    for lab, name in ((ql, "query_labels"), (dl, "db_labels")):
        if lab.ndim == 1:
            if bool((lab >= n_classes).any()):
                raise InputError(f"class index {lab.max().item()} in {name} is out of range for {n_classes} classes")
            lab = torch.nn.functional.one_hot(lab.to(torch.int64), n_classes)
        out.append(lab.to(torch.float32))
    return out[0], out[1]


def _ranked_relevance(
    q: torch.Tensor, d: torch.Tensor, ql: torch.Tensor, dl: torch.Tensor, topk: int | None, chunk_size: int
) -> Iterator[torch.Tensor]:
    """Yield, per chunk of queries, the float64 (chunk, R) relevance of the top-R ranked items."""
    for start in range(0, q.shape[0], chunk_size):
        stop = start + chunk_size
        idx = hamming_rank(q[start:stop], d, topk=topk, chunk_size=chunk_size)
        relevant = (ql[start:stop] @ dl.T) > 0
        yield relevant.gather(1, idx).to(torch.float64)


def average_precisions(
    query_codes: Array,
    db_codes: Array,
    query_labels: Array,
    db_labels: Array,
    topk: int | None = None,
    *,
    chunk_size: int = 1024,
) -> np.ndarray:
    """Average precision of each query over its top R retrieved items.

    AP = Σ_{k<=R} P@k · rel_k / (number of relevant items in the top R).

    Args:
        query_codes: (nq, K) ±1 codes; db_codes: (N, K) ±1 codes.
        query_labels: (nq,) class indices or (nq, C) multi-hot; db_labels: (N,) or (N, C).
        topk: R; None for the whole database (clipped to N).
        chunk_size: number of queries processed at once.
    Returns:
        float64 numpy array (nq,); NaN for queries with no relevant item in the top R.
    """
    chunk_size = positive_int(chunk_size, "chunk_size")
    q, d, ql, dl = _prepare(query_codes, db_codes, query_labels, db_labels)
    aps = [_relevance_aps(rel) for rel in _ranked_relevance(q, d, ql, dl, topk, chunk_size)]
    return torch.cat(aps).cpu().numpy() if aps else np.zeros(0)


def _relevance_aps(rel: torch.Tensor) -> torch.Tensor:
    """AP of each row of a float64 (nq, R) relevance matrix; NaN where nothing is relevant."""
    hits = rel.cumsum(dim=1)
    ranks = torch.arange(1, rel.shape[1] + 1, dtype=torch.float64, device=rel.device)
    return (hits / ranks * rel).sum(dim=1) / hits[:, -1]  # 0 / 0 = NaN: nothing relevant


def ranked_average_precisions(indices: Array, query_labels: Array, db_labels: Array) -> np.ndarray:
    """Average precision of each query over the items a search engine returned: `indices` (nq, R) database
    indices in the engine's order, -1 where it returned fewer than R (not relevant). The same AP as
    `average_precisions` when `indices` is the exact ranking."""
    idx = _as_tensor(indices, "indices").to(torch.int64)
    n = _as_tensor(db_labels, "db_labels").shape[0]
    if idx.ndim != 2 or idx.shape[1] < 1 or bool(((idx < -1) | (idx >= n)).any()):
        raise InputError(f"ranked indices must be an (nq, R >= 1) array of database indices (< {n}) or -1")
    ql, dl = _label_matrices(query_labels, db_labels, idx.shape[0], n, idx.device)
    rel = ((dl[idx.clamp(min=0)] * ql[:, None, :]).sum(dim=2) > 0) & (idx >= 0)   # labels of returned items only
    return _relevance_aps(rel.to(torch.float64)).cpu().numpy()


def mean_average_precision(
    query_codes: Array,
    db_codes: Array,
    query_labels: Array,
    db_labels: Array,
    topk: int | None = None,
    zero_relevance: str = "zero",
    *,
    chunk_size: int = 1024,
) -> float:
    """Mean average precision (MAP@all for topk=None, else MAP@R).

    t-MAP (targeted MAP) is this same function called with the attacker's target labels
    as `query_labels` and the adversarial codes as `query_codes`.

    Args:
        query_codes, db_codes, query_labels, db_labels, topk, chunk_size: as `average_precisions`.
        zero_relevance: how queries with no relevant item in the top R count: "zero" (default,
            the usual convention) counts them as AP 0; "drop" leaves them out of the mean, as
            the official DHTA code does (0.0 if every query is dropped).
    Returns:
        the MAP as a Python float.
    """
    check_choice(zero_relevance, ZERO_RELEVANCE, "zero-relevance convention")
    aps = average_precisions(query_codes, db_codes, query_labels, db_labels, topk, chunk_size=chunk_size)
    if not aps.size:
        raise InputError("query_codes is empty; a mean average precision needs at least one query")
    return mean_of_average_precisions(aps, zero_relevance)


def mean_of_average_precisions(aps: np.ndarray, zero_relevance: str = "zero") -> float:
    """Reduce per-query APs (NaN = nothing relevant in the top R) to a MAP under a convention."""
    check_choice(zero_relevance, ZERO_RELEVANCE, "zero-relevance convention")
    if zero_relevance == "zero":
        return float(np.nan_to_num(aps, nan=0.0).mean()) if aps.size else 0.0
    kept = aps[~np.isnan(aps)]
    return float(kept.mean()) if kept.size else 0.0


def precision_at_ks(
    query_codes: Array,
    db_codes: Array,
    query_labels: Array,
    db_labels: Array,
    ks: Sequence[int],
    *,
    chunk_size: int = 1024,
) -> np.ndarray:
    """Mean precision@k for several k from one ranking (for precision@k curves).

    Args:
        query_codes, db_codes, query_labels, db_labels, chunk_size: as `average_precisions`.
        ks: non-empty sequence of cut-offs, each in 1..N.
    Returns:
        float64 numpy array (len(ks),): mean over queries of (#relevant in top k) / k.
    """
    chunk_size = positive_int(chunk_size, "chunk_size")
    q, d, ql, dl = _prepare(query_codes, db_codes, query_labels, db_labels)
    ks = [positive_int(k, "k") for k in ks]
    if not ks:
        raise InputError("ks must contain at least one cut-off, got an empty sequence")
    if not q.shape[0]:
        raise InputError("query_codes is empty; a mean precision needs at least one query")
    if max(ks) > d.shape[0]:
        raise InputError(f"k must be at most the database size {d.shape[0]}, got {max(ks)}")
    cut = torch.tensor(ks, device=q.device) - 1
    total = torch.zeros(len(ks), dtype=torch.float64, device=q.device)
    for rel in _ranked_relevance(q, d, ql, dl, max(ks), chunk_size):
        total += rel.cumsum(dim=1)[:, cut].sum(dim=0)
    return (total / (q.shape[0] * torch.tensor(ks, dtype=torch.float64, device=q.device))).cpu().numpy()


def precision_at_k(
    query_codes: Array,
    db_codes: Array,
    query_labels: Array,
    db_labels: Array,
    k: int,
    *,
    chunk_size: int = 1024,
) -> float:
    """Mean precision@k: the mean over queries of (#relevant in top k) / k, with 1 <= k <= N."""
    return float(precision_at_ks(query_codes, db_codes, query_labels, db_labels, [k], chunk_size=chunk_size)[0])


def precision_recall_curve(
    query_codes: Array,
    db_codes: Array,
    query_labels: Array,
    db_labels: Array,
    *,
    chunk_size: int = 1024,
) -> tuple[np.ndarray, np.ndarray]:
    """Precision and recall of Hamming-radius retrieval for radii r = 0..K.

    At radius r a query retrieves every item at distance <= r. Precision at r is the mean,
    over the queries that retrieve at least one item, of (#relevant retrieved) / (#retrieved);
    it is NaN at radii where no query retrieves anything (undefined, a gap in a plot).
    Recall at r is the mean, over queries with at least one relevant item in the database, of
    (#relevant retrieved) / (#relevant); it is non-decreasing in r and ends at 1 (all NaN when
    no query has a relevant item).

    Args:
        query_codes, db_codes, query_labels, db_labels, chunk_size: as `average_precisions`.
    Returns:
        (precision, recall): float64 numpy arrays of length K + 1, indexed by radius.
    """
    chunk_size = positive_int(chunk_size, "chunk_size")
    q, d, ql, dl = _prepare(query_codes, db_codes, query_labels, db_labels)
    n_radii = q.shape[1] + 1
    zeros = torch.zeros(n_radii, dtype=torch.float64, device=q.device)
    prec_sum, prec_count, rec_sum = zeros.clone(), zeros.clone(), zeros.clone()
    rec_count = 0.0
    for start in range(0, q.shape[0], chunk_size):
        stop = start + chunk_size
        dist = hamming_distance(q[start:stop], d)
        rel = ((ql[start:stop] @ dl.T) > 0).to(torch.float64)
        per_radius = torch.zeros((dist.shape[0], n_radii), dtype=torch.float64, device=q.device)
        retrieved = per_radius.scatter_add(1, dist, torch.ones_like(rel)).cumsum(dim=1)
        rel_retrieved = per_radius.scatter_add(1, dist, rel).cumsum(dim=1)
        some = retrieved > 0
        prec_sum += torch.where(some, rel_retrieved / retrieved.clamp(min=1), 0.0).sum(dim=0)
        prec_count += some.sum(dim=0)
        n_rel = rel.sum(dim=1, keepdim=True)
        has_rel = n_rel[:, 0] > 0
        rec_sum += (rel_retrieved[has_rel] / n_rel[has_rel]).sum(dim=0)
        rec_count += float(has_rel.sum())
    return (prec_sum / prec_count).cpu().numpy(), (rec_sum / rec_count).cpu().numpy()
