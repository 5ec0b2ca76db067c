"""Scores by metric: cosine similarity, dot product or (negative) euclidean distance.

One function, :func:`top_k_by`, answers a block of raw query vectors against a table's rows in
the chosen metric, through the one kernel (:func:`embviz.search.kernel.top_k` and its
selection). Which metric to use:

- ``cosine`` (the default): the angle only. Item2vec and word2vec vectors, whose norms grow
  with rarity, are compared by it (gensim ``most_similar``; Airbnb's listing embeddings).
- ``dot``: the score a factor model was trained with (implicit ALS ``recommend``, LightFM,
  two-tower models, YouTube's candidate generation). The norms carry popularity; cosine on
  such vectors can be arbitrary (Steck, Ekanadham & Kallus 2024, arXiv 2403.05440).
- ``euclidean``: reported as the negative euclidean distance (higher is nearer, as every
  other score), ranked by ``2 q.x - |x|^2`` without forming distances (FAISS ``IndexFlatL2``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Iterable, Literal, Sequence

import numpy as np

from embviz.errors import InvalidQuery
from embviz.search.kernel import _Euclidean, _select, exact_dots, top_k

if TYPE_CHECKING:
    from numpy.typing import NDArray

    from embviz.vectors import Vectors

Metric = Literal["cosine", "dot", "euclidean"]
#: The metrics, in the order ``--help`` lists them.
METRICS: tuple[str, ...] = ("cosine", "dot", "euclidean")
#: What each metric's ``score`` is, for messages and provenance.
SCORE_MEANING = {
    "cosine": "cosine similarity in [-1, 1]",
    "dot": "dot product",
    "euclidean": "negative euclidean distance",
}


def check_metric(metric: str) -> str:
    """Return `metric` if it is one of :data:`METRICS`, else raise :class:`InvalidQuery`."""
    value = getattr(metric, "value", metric)
    if value not in METRICS:
        raise InvalidQuery(f"unknown metric {metric!r}: expected one of {', '.join(METRICS)}")
    return value


def top_k_by(
    vectors: Vectors,
    queries: NDArray[np.floating],
    k: int,
    *,
    metric: str = "cosine",
    exclude: Sequence[Iterable[int]] | None = None,
    restrict: int | None = None,
    columns: NDArray[np.int64] | None = None,
) -> tuple[NDArray[np.int64], NDArray[np.float32]]:
    """Return each query's `k` best rows of `vectors` in `metric`, best first.

    Parameters
    ----------
    vectors : Vectors
        The candidate rows (items, or the keys of a word table).
    queries : ndarray ``(m, dim)`` float32
        Raw query vectors (a user vector, a key's row); cosine normalises them.
    k : int
        Results per query, >= 1; fewer when fewer candidates exist.
    metric : {"cosine", "dot", "euclidean"}
        See the module docstring.
    exclude : sequence of ``m`` iterables of int, optional
        Row ids of `vectors` never returned for each query (seen items, the query itself).
    restrict : int, optional
        Only the first `restrict` rows are candidates.
    columns : ndarray ``(c,)`` int64, optional
        Only these rows are candidates (a candidate subset); sorted, unique.

    Returns
    -------
    ids : ndarray ``(m, k')`` int64
        Row ids of `vectors`, best first; equal scores go to the lower id. The same on every
        BLAS, CPU and thread count (see :mod:`embviz.search.kernel`).
    scores : ndarray ``(m, k')`` float32
        Cosine similarity in [-1, 1], dot product, or negative euclidean distance (<= 0).

    Raises
    ------
    InvalidQuery
        If the metric is unknown, ``k < 1``, or a cosine query is all zeros.
    """
    metric = check_metric(metric)
    q = np.ascontiguousarray(queries, dtype=np.float32)
    if q.ndim != 2 or q.shape[1] != vectors.dim:
        raise InvalidQuery(f"queries of shape {q.shape} do not fit vectors of dim {vectors.dim}")
    if not np.isfinite(q).all():
        raise InvalidQuery("a query vector holds NaN or infinite values")
    if columns is not None:
        return _on_columns(vectors, q, k, metric, exclude, restrict, np.asarray(columns, dtype=np.int64))
    n = vectors.count if restrict is None else min(restrict, vectors.count)
    if metric == "cosine":
        return top_k(vectors.unit, _unit(q), k, exclude=exclude, restrict=n)
    norms = vectors.norms[:n]
    row_norm = float(norms.max()) if n else 1.0
    if metric == "dot":
        return top_k(vectors.matrix, q, k, exclude=exclude, restrict=n, row_norm=row_norm)
    sq = np.square(norms, dtype=np.float32)  # ranks candidates; exact scores settle near-ties
    ids, _ = _select(_Euclidean(vectors.matrix[:n], q, sq, row_norm), len(q), n, k, exclude)
    return ids, _negative_distance(vectors, q, ids)


def _unit(q: NDArray[np.float32]) -> NDArray[np.float32]:
    norms = np.sqrt(exact_dots(q, q))
    if (norms == 0).any():
        raise InvalidQuery(
            f"query vector {int(np.flatnonzero(norms == 0)[0])} is all zeros: its cosine similarity "
            "to every row is 0; use --metric dot or euclidean, or drop it"
        )
    return (q / norms[:, None]).astype(np.float32)


def _negative_distance(
    vectors: Vectors, q: NDArray[np.float32], ids: NDArray[np.int64]
) -> NDArray[np.float32]:
    """``-|q - x|`` ``(m, k)`` float32 for the answers `ids` ``(m, k)``, from the rows in float64.

    Recomputed from the rows, not from the ranking score ``|q|^2 - (2 q.x - |x|^2)``, which
    cancels for near rows.
    """
    m, k = ids.shape
    if ids.size == 0:
        return np.zeros((m, k), dtype=np.float32)
    x = np.asarray(vectors.matrix[ids.ravel()], dtype=np.float64)
    diff = np.repeat(q.astype(np.float64), k, axis=0) - x
    return (-np.sqrt(exact_dots(diff, diff))).astype(np.float32).reshape(m, k)


def _on_columns(vectors, q, k, metric, exclude, restrict, columns):  # noqa: ANN001
    """Answer over a candidate subset: the subset's rows as a table, ids mapped back."""
    if restrict is not None:
        columns = columns[columns < restrict]
    columns = np.unique(columns)
    if len(columns) and (columns[0] < 0 or columns[-1] >= vectors.count):
        raise InvalidQuery(f"candidate ids must be in [0, {vectors.count:,})")
    sub = vectors.subset(columns)
    where = {int(c): j for j, c in enumerate(columns.tolist())}
    local = None
    if exclude is not None:
        local = [[where[i] for i in ex if i in where] for ex in exclude]
    ids, scores = top_k_by(sub, q, k, metric=metric, exclude=local)
    return columns[ids], scores
