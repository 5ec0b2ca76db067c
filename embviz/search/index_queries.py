"""Queries answered by an approximate-search index: ``neighbors`` and ``analogy`` (3CosAdd).

The same queries, exclusions, ``restrict`` and rows as the exact :func:`embviz.search.neighbors`
and :func:`embviz.search.analogy`, with the ids from :meth:`embviz.search.index.Index.search`
(approximate: the index knows its measured recall). Re-exported by :mod:`embviz.search.index`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Sequence

import numpy as np

from embviz.errors import InvalidQuery, KeyNotFound, warn
from embviz.search.kernel import cosadd_queries

if TYPE_CHECKING:
    from embviz.search.index import Index
    from embviz.search.queries import Analogy, Neighbor
    from embviz.vectors import Vectors


def neighbors(
    vectors: Vectors,
    index: Index,
    queries: str | Sequence[str],
    k: int = 10,
    *,
    restrict: int | None = None,
    skip_missing: bool = False,
    ef_search: int | None = None,
    nprobe: int | None = None,
) -> list[Neighbor]:
    """:func:`embviz.search.neighbors` answered by `index` (approximate, see its recall).

    Same queries, exclusions (a query's own keys), `restrict` and rows as the exact search, in
    the index's metric (for dot and euclidean the query is the weighted sum of raw rows);
    the ids come from :meth:`Index.search`. Raises as :func:`embviz.search.neighbors`.
    """
    from embviz.search import queries as _q

    if isinstance(queries, str):
        queries = [queries]
    if k < 1:
        raise InvalidQuery(f"k must be at least 1, got {k}")
    vectors.prefetch(queries)  # a batch of keys: found in one pass (Vectors.prefetch)
    texts, exprs = [], []
    for text in queries:
        e = _q.as_expression(vectors, text)
        if _all_known(vectors, tuple(e.keys), skip_missing, f"query {text!r}"):
            texts.append(text)
            exprs.append(e)
    if not exprs:
        return []
    if index.metric != "cosine":  # dot, euclidean: the weighted sum of the raw rows
        q = np.stack([_q.raw_vector(vectors, e) for e in exprs]).astype(np.float32)
    else:
        q = np.stack([_q.expression_vector(vectors, e) for e in exprs]).astype(np.float64)
        norms = np.linalg.norm(q, axis=1)
        if (norms == 0).any():
            text = texts[int(np.flatnonzero(norms == 0)[0])]
            raise InvalidQuery(
                f"the vector of {text[:200]!r} is all zeros: its cosine similarity to every key is 0, "
                "so it has no neighbors"
            )
        q = (q / norms[:, None]).astype(np.float32)
    exclude = [[*vectors.indices(e.keys).tolist(), *_padding(vectors)] for e in exprs]
    ids, scores = index.search(q, k, exclude=exclude, restrict=restrict, ef_search=ef_search, nprobe=nprobe)
    return [
        _q.Neighbor(text, rank + 1, vectors.keys[i], float(s))
        for text, row_ids, row_scores in zip(texts, ids, scores)
        for rank, (i, s) in enumerate(zip(row_ids.tolist(), row_scores.tolist()))
    ]


def _all_known(vectors: Vectors, keys: tuple[str, ...], skip: bool, what: str) -> bool:
    """Whether every key is in the vocabulary; a missing one raises, or warns when skipping."""
    try:
        for key in keys:
            vectors.get_index(key)
    except KeyNotFound as exc:
        if not skip:
            raise
        warn(f"skipped {what}: {exc}")
        return False
    return True


def _padding(vectors: Vectors) -> list[int]:
    """Return the padding row, never a neighbor (``Vectors.padding_idx``, where the table has one)."""
    pad = getattr(vectors, "padding_idx", None)
    return [] if pad is None else [int(pad)]


def analogy(
    vectors: Vectors,
    index: Index,
    triples: Sequence[tuple[str, str, str]] | tuple[str, str, str],
    k: int = 1,
    *,
    restrict: int | None = None,
    skip_missing: bool = False,
    ef_search: int | None = None,
    nprobe: int | None = None,
) -> list[Analogy]:
    """3CosAdd analogies ``a : b :: c : ?`` answered by `index` (approximate).

    The query of each triple is 3CosAdd's ``unit(u_b - u_a + u_c)``
    (:func:`embviz.search.kernel.cosadd_queries`); a, b and c are excluded. 3CosMul is not a
    single inner product and has no index path. Raises as :func:`embviz.search.analogy`.
    """
    from embviz.search import queries as _q

    if len(triples) == 3 and all(isinstance(x, str) for x in triples):
        triples = [triples]  # type: ignore[list-item]
    triples = [tuple(t) for t in triples if _all_known(vectors, tuple(t), skip_missing, " ".join(t))]
    if not triples:
        return []
    ids = vectors.indices([w for t in triples for w in t]).reshape(-1, 3)
    ua, ub, uc = (np.asarray(vectors.unit[ids[:, j]], dtype=np.float32) for j in range(3))
    q, _ = cosadd_queries(ua, ub, uc)
    exclude = [[*row, *_padding(vectors)] for row in ids.tolist()]
    top, scores = index.search(q, k, exclude=exclude, restrict=restrict, ef_search=ef_search, nprobe=nprobe)
    return [
        _q.Analogy(a, b, c, rank + 1, vectors.keys[i], float(s))
        for (a, b, c), row_ids, row_scores in zip(triples, top, scores)
        for rank, (i, s) in enumerate(zip(row_ids.tolist(), row_scores.tolist()))
    ]
