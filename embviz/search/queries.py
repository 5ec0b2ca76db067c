"""Cosine nearest neighbors, analogies (3CosAdd, 3CosMul), similarity and lookup, batched.

Every query reduces to one kernel, :func:`embviz.search.kernel.top_k`. Results agree with
gensim ``KeyedVectors.most_similar`` / ``most_similar_cosmul`` / ``similarity`` (the
reference implementation) to float32 rounding. Queries return frozen dataclasses and never
print.

A table loaded from a fastText ``.bin`` (``vectors.subwords``, see
:mod:`embviz.io.fasttext_bin`) gives a vector to keys it does not hold: the mean of their
character n-gram rows, as fastText's ``get_word_vector``. Such a key takes part in
``neighbors``, ``analogy``, ``similarity`` and expressions like any key, except that it has no
row to exclude from the answers: ``neighbors(v, "misspeling")`` equals fastText's
``get_nearest_neighbors("misspeling")`` (and gensim's ``FastTextKeyedVectors.most_similar``).
:func:`subword_notes` says which keys of a batch were built that way.

The query vectors (keys, subword vectors, expressions, vectors as given) are built in
:mod:`embviz.search.query_vectors`; its public names (``expression_vector``, ``raw_vector``,
``query_vector``, ``as_expression``, ``subword_notes``) are importable from here as before.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, Sequence

import numpy as np

from embviz.errors import InvalidQuery, KeyNotFound, warn
from embviz.search import bound as _bound
from embviz.search import expr as _expr
from embviz.search import metric as _metric
from embviz.search.kernel import _Cosine, _CosMul, _select, cosadd_queries, exact_dots, top_k
from embviz.search.query_vectors import (  # noqa: F401 - some only re-exported, importable here as before
    MAX_NOTES,
    _as_keys,
    _Keys,
    _known,
    _query_list,
    _query_unit,
    _scaled_sum,
    _vector_raw,
    _vector_unit,
    as_expression,
    expression_vector,
    query_vector,
    raw_vector,
    subword_notes,
)

if TYPE_CHECKING:
    from numpy.typing import NDArray

    from embviz.vectors import Vectors

Method = Literal["cosadd", "cosmul", "add", "mul"]


@dataclass(frozen=True, slots=True)
class Neighbor:
    """One neighbor of a query: ``rank`` is 1-based, ``score`` the cosine similarity in [-1, 1].

    With another metric, ``score`` is the dot product or the negative euclidean distance.
    """

    query: str
    rank: int
    key: str
    score: float


@dataclass(frozen=True, slots=True)
class Analogy:
    """One answer to ``a : b :: c : ?``; ``score`` is 3CosAdd's cosine or 3CosMul's ratio."""

    a: str
    b: str
    c: str
    rank: int
    key: str
    score: float


@dataclass(frozen=True, slots=True)
class Similarity:
    """The cosine similarity of two keys, in [-1, 1] (1 same direction, 0 orthogonal)."""

    a: str
    b: str
    score: float


# -- public queries ---------------------------------------------------------------------------
def neighbors(
    vectors: Vectors,
    queries: str | NDArray[np.floating] | Sequence[str | NDArray[np.floating]],
    k: int = 10,
    *,
    restrict: int | None = None,
    skip_missing: bool = False,
    metric: str = "cosine",
    context: Vectors | None = None,
    exclude: Sequence[str] | None = None,
) -> list[Neighbor]:
    """Return the `k` nearest neighbors of each query, in one batch, by cosine similarity or `metric`.

    Same answers as gensim ``KeyedVectors.most_similar(positive, negative, topn=k,
    restrict_vocab=restrict)``: the query vector is the (weighted) sum of the keys' unit
    vectors, and the query's own keys are excluded from its results. A vector query is
    gensim's ``similar_by_vector(vector, topn=k)``: nothing is excluded but `exclude`.

    On a table loaded from a fastText ``.bin``, a key that is not in the vocabulary
    (``"misspeling"``) is built from its character n-grams, and its neighbors are fastText's
    ``get_nearest_neighbors("misspeling", k)`` (the keys; scores to float32 rounding), also
    for vocabulary words.

    Parameters
    ----------
    vectors : Vectors
    queries : str, ndarray or sequence of str and ndarray
        Keys or expressions (``"king - man + woman"``, see :mod:`embviz.search.expr`), or
        query vectors: an ndarray ``(dim,)`` is one query, ``(m, dim)`` is `m` queries (any
        real dtype; scored as float32). A sequence may mix keys and ``(dim,)`` vectors.
    k : int
        Neighbors per query, >= 1.
    restrict : int, optional
        Search only the first `restrict` keys (the most frequent ones).
    skip_missing : bool
        Skip queries with a key not in the vocabulary (and without a vector from subwords),
        with a warning, instead of raising (and leave unknown keys of `exclude` out, with a
        warning).
    metric : {"cosine", "dot", "euclidean"}
        ``cosine`` (default, as gensim). ``dot`` and ``euclidean`` score the raw rows: the
        query vector is the weighted sum of the keys' raw vectors (a vector query as given),
        ``score`` the dot product or the negative euclidean distance (see
        :mod:`embviz.search.metric`).
    context : Vectors, optional
        The model's output ("context") vectors, same keys in the same order (``embviz train
        --output-vectors``, gensim's ``syn1neg``). The query, built from `vectors` (the input
        vectors), is scored against these rows instead: IN-OUT similarity, which ranks the
        keys seen *around* the query (complements: "bought together") where IN-IN ranks keys
        used *like* it (substitutes) (Mitra et al. 2016, arXiv 1602.01137).
    exclude : sequence of str, optional
        Keys never returned, for every query (on top of each query's own keys).

    Returns
    -------
    list of Neighbor
        ``k`` rows per query (fewer if the vocabulary is smaller), query order kept, best
        first; ``score`` is the cosine similarity in [-1, 1] (or the `metric`'s score). The
        ``query`` of a vector query is ``"<vector i>"``, `i` its 0-based position in `queries`.

    Raises
    ------
    KeyNotFound
        If a query key or a key of `exclude` is not in the vocabulary (the message lists close
        matches), and a query key has no vector from subwords either.
    InvalidQuery
        If an expression does not parse, a query vector does not have shape ``(dim,)`` or
        holds NaN or infinity, a query's vector is all zeros, ``k < 1``, or `context` has
        other keys or another dimension.
    """
    queries = _query_list(queries)
    if k < 1:
        raise InvalidQuery(f"k must be at least 1, got {k}")
    vectors.prefetch(queries)  # a batch of keys: found in one pass (Vectors.prefetch)
    keys = _Keys(vectors)
    texts: list[str] = []
    exprs: list[_expr.Expression | NDArray[np.float64]] = []
    for i, text in enumerate(queries):
        if isinstance(text, np.ndarray):
            texts.append(f"<vector {i}>")
            exprs.append(query_vector(vectors, text, f"the query <vector {i}>"))
            continue
        e = as_expression(vectors, text)
        if _known(keys, [tuple(e.keys)], skip_missing, what=f"query {text!r}"):
            texts.append(text)
            exprs.append(e)
    if not exprs:
        return []
    queries = texts
    metric = _metric.check_metric(metric)
    never = _excluded_rows(vectors, exclude, skip_missing)
    if vectors.padding_idx is not None:
        never.append(vectors.padding_idx)
    exclude_rows = [  # a query's own keys; one built from subwords has no row to exclude
        [*keys.ids(e.keys), *never] if isinstance(e, _expr.Expression) else never
        for e in exprs
    ]
    target = vectors if context is None else _same_keys(vectors, context)
    if metric == "cosine":
        q = np.stack([_query_unit(keys, e, text) if isinstance(e, _expr.Expression)
                      else _vector_unit(e, text) for e, text in zip(exprs, queries)])
        ids, scores = top_k(target.unit, q, k, exclude=exclude_rows, restrict=restrict)
    else:
        q = np.stack([raw_vector(keys, e) if isinstance(e, _expr.Expression)
                      else _vector_raw(e, text) for e, text in zip(exprs, queries)])
        ids, scores = _metric.top_k_by(target, q, k, metric=metric, exclude=exclude_rows, restrict=restrict)
    return [
        Neighbor(text, rank + 1, vectors.keys[i], float(s))
        for text, row_ids, row_scores in zip(queries, ids, scores)
        for rank, (i, s) in enumerate(zip(row_ids.tolist(), row_scores.tolist()))
    ]


def _excluded_rows(vectors: Vectors, keys: Sequence[str] | None, skip: bool) -> list[int]:
    """Return the rows of the keys of `exclude`; unknown keys raise, or are left out with a warning."""
    if keys is None:
        return []
    if isinstance(keys, str):
        keys = [keys]
    rows: list[int] = []
    for key in keys:
        try:
            rows.append(vectors.get_index(key))
        except KeyNotFound as exc:
            if not skip:
                raise
            warn(f"not excluded: {exc}")
    return rows


def _same_keys(vectors: Vectors, context: Vectors) -> Vectors:
    """Return `context` if it has `vectors`' keys in the same order and dimension, else raise InvalidQuery."""
    if context.dim != vectors.dim:
        raise InvalidQuery(f"the context vectors have {context.dim} dimensions, the vectors {vectors.dim}; "
                           "expected the output vectors of the same model")
    if context.count != vectors.count or list(context.keys) != list(vectors.keys):
        differ = next((i for i, (a, b) in enumerate(zip(vectors.keys, context.keys)) if a != b),
                      min(vectors.count, context.count))
        where = (f"row {differ + 1:,} is {context.keys[differ]!r} there, {vectors.keys[differ]!r} here"
                 if differ < min(vectors.count, context.count) else
                 f"{context.count:,} keys there, {vectors.count:,} here")
        raise InvalidQuery(f"the context vectors do not have the vectors' keys in the same order ({where}); "
                           "expected the output vectors of the same model (embviz train --output-vectors)")
    return context


def analogy_ids(
    unit: NDArray[np.floating],
    a: NDArray[np.int64],
    b: NDArray[np.int64],
    c: NDArray[np.int64],
    k: int = 1,
    *,
    method: Method = "cosadd",
    restrict: int | None = None,
    never: Sequence[int] = (),
) -> tuple[NDArray[np.int64], NDArray[np.float32]]:
    """Answer ``a : b :: c : ?`` for id arrays, batched; the low-level kernel of analogies.

    Parameters
    ----------
    unit : ndarray ``(n, dim)``, float32 or float16
        Unit-normalised rows.
    a, b, c : ndarray ``(m,)`` int64
        Row ids of the questions; ``a``, ``b`` and ``c`` are excluded from each answer.
    k : int
        Answers per question, >= 1.
    method : {"cosadd", "cosmul"}
        ``"cosadd"`` (alias ``"add"``): 3CosAdd, argmax cos(x, b - a + c) over unit vectors (Mikolov et al.,
        2013), as gensim ``most_similar(positive=[b, c], negative=[a])``. ``"cosmul"``: 3CosMul,
        argmax cos'(x, b) cos'(x, c) / (cos'(x, a) + 1e-6) with cos' = (1 + cos) / 2 (Levy &
        Goldberg, 2014, eq. 4 and footnote 7), as gensim ``most_similar_cosmul``; alias
        ``"mul"``.
    restrict : int, optional
        Only the first `restrict` rows are candidates.
    never : sequence of int
        Rows that are never answers (the padding row).

    Returns
    -------
    ids : ndarray ``(m, k)`` int64
    scores : ndarray ``(m, k)`` float32
        3CosAdd: cosine similarity in [-1, 1]. 3CosMul: the ratio above, in [0, 1e6].
    """
    a, b, c = (np.asarray(x, dtype=np.int64).reshape(-1) for x in (a, b, c))
    exclude = [(*t, *never) for t in zip(a.tolist(), b.tolist(), c.tolist())]
    ua, ub, uc = (np.asarray(unit[x], dtype=np.float32) for x in (a, b, c))
    return _analogy_vectors(unit, ua, ub, uc, k, method, restrict, exclude)


def _analogy_vectors(unit, ua, ub, uc, k, method, restrict, exclude):  # noqa: ANN001, ANN202
    """Answer analogies given the unit vectors ``(m, dim)`` float32 of a, b, c; `exclude` per question."""
    n = unit.shape[0] if restrict is None else min(restrict, unit.shape[0])
    if method in ("cosadd", "add"):
        q, _ = cosadd_queries(ua, ub, uc)
        return _select(_Cosine(unit[:n], q), len(ua), n, k, exclude)
    if method in ("cosmul", "mul"):
        return _select(_CosMul(unit[:n], ua, ub, uc), len(ua), n, k, exclude)
    raise InvalidQuery(f"unknown analogy method {method!r}: expected 'cosadd' or 'cosmul'")


def analogy(
    vectors: Vectors,
    triples: Sequence[tuple[str, str, str]] | tuple[str, str, str],
    k: int = 1,
    *,
    method: Method = "cosadd",
    restrict: int | None = None,
    skip_missing: bool = False,
) -> list[Analogy]:
    """Answer analogies ``a : b :: c : ?`` (``man : king :: woman : queen``), batched.

    Parameters
    ----------
    vectors : Vectors
    triples : (a, b, c) or sequence of (a, b, c)
        Keys. ``a``, ``b`` and ``c`` are never answers.
    k : int
        Answers per triple, >= 1.
    method : {"cosadd", "cosmul"}
        3CosAdd (default) or 3CosMul; see :func:`analogy_ids` for the formulas and sources.
    restrict : int, optional
        Only the first `restrict` keys are candidates.
    skip_missing : bool
        Skip triples with a key not in the vocabulary, with a warning, instead of raising.

    Returns
    -------
    list of Analogy
        `k` rows per triple, best first.

    Raises
    ------
    KeyNotFound
        If a key is not in the vocabulary (and, on a fastText ``.bin``, has no vector from
        subwords: a key built from subwords is used like any key, and has no row to exclude).
    InvalidQuery
        If ``k < 1`` or `method` is unknown.
    """
    if len(triples) == 3 and all(isinstance(x, str) for x in triples):
        triples = [triples]  # type: ignore[list-item]
    if k < 1:
        raise InvalidQuery(f"k must be at least 1, got {k}")
    keys = _Keys(vectors)
    triples = _known(keys, [tuple(t) for t in triples], skip_missing)
    if not triples:
        return []
    never = () if vectors.padding_idx is None else (vectors.padding_idx,)
    flat = [w for t in triples for w in t]
    if not keys.in_table(flat):  # a key built from subwords: by vectors, its row-less keys not excluded
        u = keys.unit(flat, np.float32).reshape(len(triples), 3, vectors.dim)
        top, scores = _analogy_vectors(vectors.unit, u[:, 0], u[:, 1], u[:, 2], k, method, restrict,
                                       [(*keys.ids(t), *never) for t in triples])
        return _analogy_rows(vectors, triples, top, scores)
    ids = vectors.indices(flat).reshape(-1, 3)
    top, scores = (None, None) if never else _best_by_bound(vectors.unit, ids, k, method, restrict)
    if top is None:
        top, scores = analogy_ids(
            vectors.unit, ids[:, 0], ids[:, 1], ids[:, 2], k, method=method, restrict=restrict,
            never=never,
        )
    return _analogy_rows(vectors, triples, top, scores)


def _analogy_rows(vectors, triples, top, scores) -> list[Analogy]:  # noqa: ANN001
    return [
        Analogy(a, b, c, rank + 1, vectors.keys[i], float(s))
        for (a, b, c), row_ids, row_scores in zip(triples, top, scores)
        for rank, (i, s) in enumerate(zip(row_ids.tolist(), row_scores.tolist()))
    ]


def _best_by_bound(unit, ids, k, method, restrict):
    """One answer per triple by branch and bound, when it pays (:mod:`embviz.search.bound`).

    Returns ``(None, None)`` when brute force should answer instead: k > 1, a batch too small
    or without shared pairs, a question word beyond `restrict`, or a triple with no candidate.
    """
    n = unit.shape[0] if restrict is None else min(restrict, unit.shape[0])
    a, b, c = ids[:, 0], ids[:, 1], ids[:, 2]
    if k != 1 or ids.max() >= n or not _bound.worthwhile(a, b, c, n):
        return None, None
    best, scores = _bound.best_answers(unit, a, b, c, method=method, n=n)
    if (best < 0).any():
        return None, None
    return best[:, None], scores[:, None]


def similarity(
    vectors: Vectors,
    pairs: Sequence[tuple[str, str]] | tuple[str, str],
    *,
    skip_missing: bool = False,
) -> list[Similarity]:
    """Return the cosine similarity of each pair of keys, as gensim ``similarity(a, b)``.

    Parameters
    ----------
    vectors : Vectors
    pairs : (a, b) or sequence of (a, b)
    skip_missing : bool
        Skip pairs with a key not in the vocabulary, with a warning, instead of raising.

    Returns
    -------
    list of Similarity
        One per pair; ``score`` in [-1, 1], 1.0 the same direction, 0 orthogonal (and 0 when
        either vector is all zeros). On a fastText ``.bin``, a key that is not in the
        vocabulary has its vector from subwords (gensim's ``FastTextKeyedVectors.similarity``).

    Raises
    ------
    KeyNotFound
        If a key is not in the vocabulary (and has no vector from subwords).
    """
    if len(pairs) == 2 and all(isinstance(x, str) for x in pairs):
        pairs = [pairs]  # type: ignore[list-item]
    keys = _Keys(vectors)
    pairs = _known(keys, [tuple(p) for p in pairs], skip_missing)
    if not pairs:
        return []
    u = keys.unit([w for p in pairs for w in p], np.float32).reshape(len(pairs), 2, vectors.dim)
    ua, ub = u[:, 0], u[:, 1]
    scores = exact_dots(ua, ub).astype(np.float32)  # the score neighbors reports, on any machine
    return [Similarity(a, b, float(s)) for (a, b), s in zip(pairs, scores.tolist())]


def _is_id(item: str) -> bool:
    """Return whether `item` is an integer id: ASCII digits with an optional ``-``.

    ``'²'`` and ``'١٢'`` are keys, not ids, though Python's ``isdigit`` and ``int`` accept them.
    """
    t = item.strip()
    digits = t[1:] if t.startswith("-") else t
    return bool(digits) and digits.isascii() and digits.isdigit()


@dataclass(frozen=True, slots=True)
class Lookup:
    """One row of the lookup table: its ``id`` (0-based row), ``key`` and ``vector``."""

    id: int
    key: str
    vector: tuple[float, ...]


def lookup(vectors: Vectors, items: Sequence[str | int], *, ids: bool = False) -> list[Lookup]:
    """Return the rows of keys or ids: the ``embedding_lookup`` of the items, in their order.

    Parameters
    ----------
    vectors : Vectors
    items : sequence of str or int
        Keys or row ids. A string is a key if it is in the vocabulary, else it is read as an
        integer id; ints are ids. With ``ids=True`` every item is a row id: needed for row
        1990 of a table that also has the key ``"1990"``, which would otherwise be the key.

    Returns
    -------
    list of Lookup
        ``vector`` holds the row's ``dim`` values, each the shortest decimal that round-trips
        its float32.

    Raises
    ------
    KeyNotFound
        If an item is neither a key nor an integer.
    InvalidQuery
        If an id is outside ``[0, n)``.
    """
    rows: list[int] = []
    for item in items:
        if isinstance(item, (int, np.integer)):
            rows.append(int(item))
        elif not ids and item in vectors:
            rows.append(vectors.get_index(item))
        elif _is_id(item):
            rows.append(int(item))
        elif ids:
            raise InvalidQuery(f"{item!r} is not an integer id")
        else:
            rows.append(vectors.get_index(item))
    try:
        id_array = np.asarray(rows, dtype=np.int64)
    except OverflowError:  # beyond int64: out of range, not an internal error
        bad = next(r for r in rows if not -(2**63) <= r < 2**63)
        raise InvalidQuery(
            f"id {bad} is out of range: ids go from 0 to {vectors.count - 1:,}"
        ) from None
    matrix = np.asarray(vectors.lookup(id_array), dtype=np.float32)
    # the shortest decimal that round-trips each float32 (0.418, not 0.4180000126361847)
    text = matrix.astype(str)
    return [Lookup(i, vectors.keys[i], tuple(map(float, t))) for i, t in zip(rows, text)]
