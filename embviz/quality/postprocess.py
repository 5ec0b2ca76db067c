"""Post-processing of a table: all-but-the-top (:func:`abtt`) and CSLS neighbors.

:func:`abtt` subtracts the mean and removes the top D principal directions (Mu and Viswanath
2018); :func:`csls_neighbors` rescores cosine neighbors by cross-domain similarity local
scaling (Conneau et al. 2018), which lowers the score of hubs.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Sequence

import numpy as np

from embviz.errors import InvalidQuery
from embviz.search import queries as _queries
from embviz.search import top_k

if TYPE_CHECKING:
    from numpy.typing import NDArray

    from embviz.vectors import Vectors

from embviz.quality.measures import _BLOCK, _max_norm, _moments, knn_ids


# -- post-processing -------------------------------------------------------------------------------
def default_abtt_d(dim: int) -> int:
    """All-but-the-top's default D: ``ceil(dim / 100)`` (Mu and Viswanath 2018)."""
    return max(1, math.ceil(dim / 100))


def abtt(vectors: Vectors, d: int | None = None) -> Vectors:
    """All-but-the-top (Mu and Viswanath 2018): subtract the mean, remove the top `d` directions.

    ``w' = (w - mean) - sum_i (u_i . (w - mean)) u_i`` with ``u_1..u_d`` the top principal
    directions of the centred rows. Mean and directions are fitted on the nonzero rows; zero
    rows (placeholders for unknown keys) stay zero.

    Parameters
    ----------
    vectors : Vectors
    d : int, optional
        Directions removed, ``0 <= d < dim``; default ``ceil(dim / 100)``.

    Returns
    -------
    Vectors
        A new float32 table with the same keys; ``source`` gains ``" (abtt:D)"``.

    Raises
    ------
    InvalidQuery
        If `d` is outside ``[0, dim)``.
    """
    d = default_abtt_d(vectors.dim) if d is None else int(d)
    if not 0 <= d < vectors.dim:
        raise InvalidQuery(f"abtt: D must be between 0 and {vectors.dim - 1} (dim - 1), got {d}")
    norms = vectors.norms
    rows = np.flatnonzero(norms > 0)
    total, gram, n = _moments(vectors.matrix, rows)
    mean = total / max(n, 1)
    cov = gram / max(n, 1) - np.outer(mean, mean)
    _, vecs = np.linalg.eigh(cov)
    top = vecs[:, ::-1][:, :d]  # (dim, d)
    out = np.empty((vectors.count, vectors.dim), dtype=np.float32)
    for lo in range(0, vectors.count, _BLOCK):
        block = np.asarray(vectors.matrix[lo : lo + _BLOCK], dtype=np.float64) - mean
        block -= (block @ top) @ top.T
        block[norms[lo : lo + _BLOCK] == 0] = 0
        out[lo : lo + len(block)] = block
    source = f"{vectors.source} (abtt:{d})" if vectors.source else f"abtt:{d}"
    kti = vectors.__dict__.get("key_to_index")
    return type(vectors)(vectors.keys, out, source=source, key_to_index=kti, unique=True)


def csls_radius(unit: NDArray[np.floating], k: int = 10, restrict: int | None = None) -> NDArray[np.float32]:
    """Each candidate's mean cosine to its `k` nearest other candidates (CSLS's ``r``).

    Parameters
    ----------
    unit : ndarray ``(n, dim)``
        Unit rows.
    k : int
        Neighborhood size, >= 1 (Conneau et al. 2018 use 10).
    restrict : int, optional
        Only the first `restrict` rows are candidates (and get a radius).

    Returns
    -------
    ndarray ``(n',)`` float32
        In [-1, 1]; ``n' = min(n, restrict)``. Exact search: ``n'^2 dim`` multiply-adds.
    """
    n = unit.shape[0] if restrict is None else min(restrict, unit.shape[0])
    _, s = knn_ids(unit[:n], k)
    return s.mean(axis=1, dtype=np.float64).astype(np.float32) if s.shape[1] else np.zeros(n, np.float32)


def csls_neighbors(
    vectors: Vectors,
    queries: str | Sequence[str],
    k: int = 10,
    *,
    csls_k: int = 10,
    restrict: int | None = None,
    skip_missing: bool = False,
    radius: NDArray[np.float32] | None = None,
) -> list[_queries.Neighbor]:
    """Nearest neighbors by CSLS (cross-domain similarity local scaling; Conneau et al. 2018).

    ``csls(q, y) = 2 cos(q, y) - r(q) - r(y)``, ``r(x)`` the mean cosine of ``x`` to its
    `csls_k` nearest candidates (the query's own keys excluded). Points in dense regions (hubs)
    are penalised, which reduces hubness in the neighbor lists. Queries are keys or
    expressions, as :func:`embviz.search.neighbors`, whose validation and errors apply.

    Parameters
    ----------
    radius : ndarray ``(n,)`` float32, optional
        Every candidate's ``r`` precomputed by :func:`csls_radius` with the same `csls_k` and
        `restrict` (the CLI caches it: it is a kNN graph of the whole table); None computes it.

    Returns
    -------
    list of Neighbor
        `k` rows per query, best first; ``score`` is the CSLS score, in [-4, 4] (2 cos minus
        two radii; for a key and itself it would be ``2 - 2 r``).

    Raises
    ------
    KeyNotFound, InvalidQuery
        As :func:`embviz.search.neighbors`; also if ``csls_k < 1``.
    """
    if csls_k < 1:
        raise InvalidQuery(f"csls k must be at least 1, got {csls_k}")
    if isinstance(queries, str):
        queries = [queries]
    base = _queries.neighbors(vectors, queries, k=csls_k, restrict=restrict, skip_missing=skip_missing)
    if not base:
        return []
    texts = list(dict.fromkeys(r.query for r in base))
    r_q = {t: float(np.mean([r.score for r in base if r.query == t])) for t in texts}
    unit = vectors.unit
    n = unit.shape[0] if restrict is None else min(restrict, unit.shape[0])
    r_y = csls_radius(unit, csls_k, restrict) if radius is None else np.asarray(radius, np.float32)[:n]
    exprs = [_queries.as_expression(vectors, t) for t in texts]
    q = np.stack([_queries.expression_vector(vectors, e) for e in exprs])
    q /= np.linalg.norm(q, axis=1, keepdims=True)
    cand = np.concatenate([np.asarray(unit[:n], dtype=np.float32), r_y[:, None]], axis=1)
    aug = np.concatenate([2 * q, -np.ones((len(q), 1), dtype=np.float32)], axis=1)
    ids, scores = top_k(
        cand, aug.astype(np.float32), k,
        exclude=[vectors.indices([key for key in e.keys if key in vectors]) for e in exprs],  # OOV: not a row
        row_norm=_max_norm(cand),  # rows (unit row, radius) have norms up to sqrt(2)
    )
    return [
        _queries.Neighbor(t, rank + 1, vectors.keys[i], float(s) - r_q[t])
        for t, row_ids, row_scores in zip(texts, ids, scores)
        for rank, (i, s) in enumerate(zip(row_ids.tolist(), row_scores.tolist()))
    ]
