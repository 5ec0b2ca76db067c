"""Checking a stored index on held-out queries: recall@k and queries per second, beside exact search.

:func:`evaluate_index` answers a block of query vectors twice, with an approximate index
(:meth:`embviz.search.index.Index.search`) and with embviz's exact batched kernel
(:func:`embviz.search.metric.top_k_by`), and scores both against a ground truth: the
``neighbors`` dataset of an ann-benchmarks file (Aumüller, Bernhardsson & Faithfull,
"ANN-Benchmarks", 2020, https://github.com/erikbern/ann-benchmarks), or, without one, the exact
answer itself. Re-exported by :mod:`embviz.search.index`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable

import numpy as np

from embviz.errors import InvalidQuery
from embviz.search.metric import top_k_by

if TYPE_CHECKING:
    from numpy.typing import NDArray

    from embviz.search.index import Index
    from embviz.vectors import Vectors

#: Queries searched per call (each call is timed; progress advances between calls).
EVAL_BLOCK = 1024
#: Queries of the untimed call each search makes first (first touches of mapped pages).
WARM_UP = 32


@dataclass(frozen=True, slots=True)
class SearchRecall:
    """One way of searching, scored: ``index (ivf nlist=400 nprobe=25)`` or ``exact``.

    Attributes: ``search`` (what answered), ``recall`` (recall@k against the truth, in
    [0, 1]), ``queries`` (how many), ``seconds`` (wall time of the search calls alone, in
    seconds) and ``qps`` (queries per second: ``queries / seconds``).
    """

    search: str
    recall: float
    queries: int
    seconds: float
    qps: float


@dataclass(frozen=True, slots=True)
class IndexEvaluation:
    """The answer of :func:`evaluate_index`: the index's row and exact search's, on the same queries.

    Attributes: ``k``, ``metric`` (the index's), ``truth`` (``"given"``: the ids passed in;
    ``"exact search"``: the exact answers, so exact's recall is 1 by definition), ``index``
    and ``exact`` (:class:`SearchRecall`).
    """

    k: int
    metric: str
    truth: str
    index: SearchRecall
    exact: SearchRecall

    @property
    def rows(self) -> tuple[SearchRecall, SearchRecall]:
        """The index's row, then exact search's."""
        return self.index, self.exact


def recall_at_k(found: NDArray[np.integer], truth: NDArray[np.integer], k: int) -> float:
    """Return recall@k: the mean over queries of ``|found[:k] ∩ truth[:k]| / k``, in [0, 1].

    Plain id intersection. ann-benchmarks counts a returned row as a hit when its distance is
    within the k-th true distance (plus 1e-3), so that rows tied with the k-th neighbor all
    count; with ids, a tie broken the other way is a miss. The two agree unless the truth has
    ties at its k-th place.

    Parameters
    ----------
    found : ndarray ``(q, >= k)`` int
        Row ids returned per query, best first (only the first `k` count).
    truth : ndarray ``(q, >= k)`` int
        True nearest row ids per query, nearest first (only the first `k` count).
    k : int
        >= 1.
    """
    q = len(truth)
    if q == 0:
        return 1.0
    f, t = np.asarray(found)[:, :k], np.asarray(truth)[:, :k]
    hits = 0
    for lo in range(0, q, 4096):  # (block, k, k) comparisons at a time
        hits += int((f[lo : lo + 4096, :, None] == t[lo : lo + 4096, None, :]).any(axis=2).sum())
    return hits / (q * k)


def label(index: Index, ef_search: int | None = None, nprobe: int | None = None) -> str:
    """Name an index with its search parameters: ``index (hnsw m=16 ef_construction=100 ef_search=64)``.

    A metric other than cosine is named too (``index (ivf euclidean nlist=400 nprobe=25)``).
    """
    params = dict(index.params)
    if ef_search is not None and "ef_search" in params:
        params["ef_search"] = ef_search
    if nprobe is not None and "nprobe" in params:
        params["nprobe"] = nprobe
    words = [index.method, *([index.metric] if index.metric != "cosine" else [])]
    words += [f"{k}={v}" for k, v in params.items()]
    return f"index ({' '.join(words)})"


def evaluate_index(
    index: Index,
    vectors: Vectors,
    queries: NDArray[np.floating],
    truth: NDArray[np.integer] | None = None,
    k: int = 10,
    *,
    ef_search: int | None = None,
    nprobe: int | None = None,
    progress: Callable[[str, int, int | None], None] | None = None,
) -> IndexEvaluation:
    """Measure recall@k and queries per second of `index` and of exact search on `queries`.

    Both answer the same queries in blocks of :data:`EVAL_BLOCK` (batched calls, as a
    service answering many queries would make them; only the calls are timed, after one
    untimed call on the first :data:`WARM_UP` queries that reads in the pages of a
    memory-mapped table or index), in the index's metric: the index through :meth:`Index.search`, exact search through
    :func:`embviz.search.metric.top_k_by` (the kernel of ``embviz neighbors``). No row is
    excluded: the queries are held-out vectors, not keys of the table. Recall is
    :func:`recall_at_k` (plain id intersection).

    Parameters
    ----------
    index : Index
        An index over `vectors` (``vectors.unit`` for cosine, ``vectors.matrix`` otherwise).
    vectors : Vectors
        The table the index was built over, ``(n, dim)``.
    queries : ndarray ``(q, dim)`` float
        Raw query vectors (ann-benchmarks' ``test``); normalised here for cosine.
    truth : ndarray ``(q, >= k)`` int, optional
        The true nearest row ids of each query, nearest first (ann-benchmarks' ``neighbors``);
        only the first `k` columns count. Default: exact search's answer (then exact's recall
        is 1 and the index's is measured against it).
    k : int
        Results per query, 1 to ``n``.
    ef_search, nprobe : int, optional
        Override the index's stored search depth (HNSW) or cells searched (IVF).
    progress : callable ``(stage, done, total)``, optional
        Called with ``"index search"`` then ``"exact search"`` and the queries answered of
        ``q``. The answer does not depend on it.

    Returns
    -------
    IndexEvaluation
        ``index`` and ``exact`` rows: recall@k in [0, 1], queries, seconds, queries per second.

    Raises
    ------
    InvalidQuery
        If the index does not fit `vectors`; `queries` is not ``(q, dim)``, holds NaN or
        infinite values, or (cosine) an all-zero row; `truth` is not ``(q, >= k)`` integers
        in ``[0, n)``; `k` is outside 1 to ``n``; or a depth override does not apply to the
        index's method.
    """
    n, dim = vectors.count, vectors.dim
    if (index.count, index.dim) != (n, dim):
        raise InvalidQuery(f"the index holds {index.count:,} x {index.dim} vectors, the table {n:,} x {dim}")
    q = np.asarray(queries)
    if q.ndim != 2 or q.shape[1] != dim or q.dtype.kind != "f":
        what = f"{q.dtype} {list(q.shape)}"
        raise InvalidQuery(f"queries must be float vectors of shape (q, {dim}), got {what}")
    if not 1 <= k <= n:
        raise InvalidQuery(f"k must be between 1 and the table's {n:,} rows, got {k}")
    check_depth(index, ef_search, nprobe)
    q = np.ascontiguousarray(q, dtype=np.float32)
    bad = ~np.isfinite(q).all(axis=1)
    if bad.any():
        raise InvalidQuery(f"query {int(np.flatnonzero(bad)[0]):,} holds NaN or infinite values")
    if truth is not None:
        truth = check_truth(truth, len(q), n, k)
    found_q = q
    if index.metric == "cosine":
        norms = np.linalg.norm(q.astype(np.float64), axis=1)
        if (norms == 0).any():
            raise InvalidQuery(
                f"query {int(np.flatnonzero(norms == 0)[0]):,} is all zeros: it has no cosine neighbors"
            )
        found_q = (q / norms[:, None]).astype(np.float32)

    def timed(stage: str, search: Callable[[NDArray[np.float32]], NDArray[np.int64]],
              rows: NDArray[np.float32]) -> tuple[NDArray[np.int64], float]:
        ids = np.empty((len(rows), k), dtype=np.int64)
        spent = 0.0
        if progress is not None:
            progress(stage, 0, len(rows))
        search(rows[:WARM_UP])  # untimed: reads in the pages of a memory-mapped table or index
        for lo in range(0, len(rows), EVAL_BLOCK):
            block = rows[lo : lo + EVAL_BLOCK]
            start = time.perf_counter()
            ids[lo : lo + len(block)] = search(block)
            spent += time.perf_counter() - start
            if progress is not None:
                progress(stage, lo + len(block), len(rows))
        return ids, spent

    approx, approx_s = timed(
        "index search", lambda b: index.search(b, k, ef_search=ef_search, nprobe=nprobe)[0], found_q
    )
    exact, exact_s = timed("exact search", lambda b: top_k_by(vectors, b, k, metric=index.metric)[0], q)
    given = truth is not None
    truth = exact if truth is None else truth

    def row(name: str, ids: NDArray[np.int64], seconds: float) -> SearchRecall:
        return SearchRecall(name, recall_at_k(ids, truth, k), len(q), seconds, len(q) / max(seconds, 1e-9))

    return IndexEvaluation(
        k, index.metric, "given" if given else "exact search",
        row(label(index, ef_search, nprobe), approx, approx_s), row("exact", exact, exact_s),
    )


def check_depth(index: Index, ef_search: int | None, nprobe: int | None) -> None:
    """Refuse a search-depth override that `index`'s method does not have (or out of range).

    Raises
    ------
    InvalidQuery
        If `ef_search` is given for a non-HNSW index, `nprobe` for a non-IVF one, either is
        below 1, or `nprobe` exceeds the index's ``nlist``.
    """
    if ef_search is not None:
        if index.method != "hnsw":
            raise InvalidQuery(f"--ef-search applies to hnsw indexes; this one is {index.method}")
        if ef_search < 1:
            raise InvalidQuery(f"--ef-search must be at least 1, got {ef_search}")
    if nprobe is not None:
        if index.method != "ivf":
            raise InvalidQuery(f"--nprobe applies to ivf indexes; this one is {index.method}")
        nlist = int(index.params["nlist"])
        if not 1 <= nprobe <= nlist:
            raise InvalidQuery(f"--nprobe must be between 1 and nlist={nlist}, got {nprobe}")


def check_truth(truth: NDArray[np.integer], q: int, n: int, k: int) -> NDArray[np.int64]:
    """Return the first `k` columns of `truth` as int64 ``(q, k)``, checked.

    Raises
    ------
    InvalidQuery
        If `truth` is not a 2-D integer array of `q` rows and at least `k` columns, or an id
        among its first `k` columns is outside ``[0, n)`` (the table's rows).
    """
    t = np.asarray(truth)
    if t.ndim != 2 or t.dtype.kind not in "iu":
        raise InvalidQuery(f"the truth must be integer row ids of shape (queries, k), got {t.dtype} {list(t.shape)}")
    if t.shape[0] != q:
        raise InvalidQuery(f"the truth has {t.shape[0]:,} rows for {q:,} queries")
    if t.shape[1] < k:
        raise InvalidQuery(f"the truth has {t.shape[1]:,} ids per query, fewer than k={k}")
    t = t[:, :k].astype(np.int64)
    out = (t < 0) | (t >= n)
    if out.any():
        r, c = (int(x[0]) for x in np.nonzero(out))
        raise InvalidQuery(
            f"the truth's id {int(t[r, c]):,} (query {r:,}, column {c:,}) is not a row of the table "
            f"(0 to {n - 1:,})"
        )
    return np.ascontiguousarray(t)
