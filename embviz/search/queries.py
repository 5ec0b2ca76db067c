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



# -- the vectors of keys: table rows, or built from subwords ----------------------------------
#: At most this many keys are named by :func:`subword_notes`; the rest are counted in one line.
MAX_NOTES = 10


class _Keys:
    """The vectors of the keys of one query call: the table's rows, or subword vectors.

    A key outside the table gets a vector when the table has a subword model (a fastText
    ``.bin``) that gives it at least one row, not all zero; that vector is computed once per
    call. Otherwise the key raises :class:`KeyNotFound`, as on any table (so ``skip_missing``
    skips it), with the reason appended.
    """

    def __init__(self, vectors: Vectors) -> None:
        self.vectors = vectors
        self.model = getattr(vectors, "subwords", None)
        self.outside: dict[str, NDArray[np.float32]] = {}

    def check(self, key: str) -> None:
        """Raise :class:`KeyNotFound` unless `key` is in the table or built from subwords."""
        if key in self.outside or key in self.vectors:
            return
        if self.model is None or not isinstance(key, str):
            self.vectors.get_index(key)  # raises the table's message, with close matches
            return
        v = self.model.subword_vector(key)
        if v is not None and v.any():
            self.outside[key] = v
            return
        try:
            self.vectors.get_index(key)
        except KeyNotFound as exc:
            raise KeyNotFound(f"{exc}{self._why(v)}") from None

    def _why(self, v: NDArray[np.float32] | None) -> str:
        """Why the subword model gives a key outside the table no vector (`v`: what it built)."""
        a = self.model.args
        if v is not None:  # fastText leaves untrained buckets at zero when trained on < 10 threads
            return ("; the rows of its character n-grams are all zero (buckets the model never "
                    "trained), so it has no vector")
        if a.maxn == 0 or a.bucket == 0:
            return "; the model has no subword vectors (maxn 0), so only its words have vectors"
        return f"; it has no character n-grams of length {a.minn}..{a.maxn} to build its vector from"

    def in_table(self, keys: Sequence[str]) -> bool:
        """Whether every key is a key of the table (none built from subwords)."""
        return not self.outside or not any(key in self.outside for key in keys)

    def ids(self, keys: Sequence[str]) -> list[int]:
        """Return the rows of the keys that are in the table: the ones to exclude from answers."""
        return [self.vectors.get_index(key) for key in keys if key not in self.outside]

    def unit(self, keys: Sequence[str], dtype: type = np.float64) -> NDArray[np.floating]:
        """Return the unit vectors of `keys` ``(m, dim)`` in `dtype` (a zero row of the table stays zero)."""
        if self.in_table(keys):
            return np.asarray(self.vectors.unit[self.vectors.indices(keys)], dtype=dtype)
        return self._gather(keys, self.vectors.unit, unit=True, dtype=dtype)

    def raw(self, keys: Sequence[str]) -> NDArray[np.float64]:
        """Return the vectors of `keys` as they are (not normalised): float64 ``(m, dim)``."""
        if self.in_table(keys):
            return np.asarray(self.vectors.matrix[self.vectors.indices(keys)], dtype=np.float64)
        return self._gather(keys, self.vectors.matrix, unit=False, dtype=np.float64)

    def _gather(self, keys, rows, *, unit: bool, dtype) -> NDArray[np.floating]:  # noqa: ANN001
        out = np.empty((len(keys), self.vectors.dim), dtype=dtype)
        for j, key in enumerate(keys):
            v = self.outside.get(key)
            if v is None:
                out[j] = rows[self.vectors.get_index(key)]
                continue
            v = v.astype(np.float64)
            out[j] = v / np.linalg.norm(v) if unit else v  # never zero (check)
        return out


def _as_keys(vectors: Vectors | _Keys, e: _expr.Expression) -> _Keys:
    """Return the resolver of `vectors` with every key of `e` checked (KeyNotFound if one has no vector)."""
    keys = vectors if isinstance(vectors, _Keys) else _Keys(vectors)
    for key in e.keys:
        keys.check(key)
    return keys


def subword_notes(vectors: Vectors, queries: Sequence[object]) -> list[str]:
    """Return one line for each key of `queries` that is not in the table but was built from subwords.

    For a table loaded from a fastText ``.bin``; other tables give ``[]``. The CLI prints these
    lines on stderr after answering, so a user sees which answers came from character
    n-grams.

    Parameters
    ----------
    vectors : Vectors
    queries : sequence
        What was asked: keys or expressions (str, parsed as :func:`neighbors` parses them),
        tuples of keys (the pairs of :func:`similarity`, the triples of :func:`analogy`);
        vectors and items that do not parse are passed over.

    Returns
    -------
    list of str
        At most :data:`MAX_NOTES` lines naming a key each (in order, without repeats), then one
        line counting the others.
    """
    keys = _Keys(vectors)
    if keys.model is None:
        return []
    seen: dict[str, None] = {}
    for item in queries:
        if isinstance(item, (str, _expr.Expression)):
            try:
                group = as_expression(vectors, item).keys
            except InvalidQuery:
                continue
        elif isinstance(item, tuple):
            group = [k for k in item if isinstance(k, str)]
        else:
            continue
        for key in group:
            if key in vectors or key in seen:
                continue
            try:
                keys.check(key)
            except KeyNotFound:
                continue
            seen[key] = None
    found = list(seen)
    lines = []
    for key in found[:MAX_NOTES]:
        if keys.model.has_word(key):
            lines.append(f"{key!r} is not among the {vectors.count:,} keys loaded: its vector is the "
                         "model's (its own row and its character n-grams, fastText)")
        else:
            lines.append(f"{key!r} is not in the vocabulary: its vector is the mean of its character "
                         "n-grams (fastText)")
    if len(found) > MAX_NOTES:
        lines.append(f"... and {len(found) - MAX_NOTES:,} more keys not in the vocabulary, built from "
                     "their character n-grams")
    return lines


# -- building query vectors ------------------------------------------------------------------
def expression_vector(vectors: Vectors, text: str | _expr.Expression) -> NDArray[np.float32]:
    """Return the vector of an expression: the weighted sum of its keys' unit vectors.

    Parameters
    ----------
    vectors : Vectors
    text : str or Expression
        A key or an expression such as ``"king - man + woman"`` (see :mod:`embviz.search.expr`). A
        string that is itself a key (``"new york"``, ``"e-mail"``) is taken as that key.

    Returns
    -------
    ndarray ``(dim,)`` float32
        Not normalised (``unit[king] - unit[man] + unit[woman]``). A key outside a table with
        subwords (a fastText ``.bin``) adds its subword vector, normalised.

    Raises
    ------
    KeyNotFound
        If a key is not in the vocabulary (and has no vector from subwords).
    InvalidQuery
        If the expression does not parse.
    """
    e = as_expression(vectors, text)
    scale, v = _scaled_sum(_as_keys(vectors, e), e)
    with np.errstate(over="ignore"):
        out = (v * scale).astype(np.float32)
    if not np.isfinite(out).all():
        raise InvalidQuery(
            f"the vector of {e.text[:200]!r} overflows float32 (weights up to about 1e38 are "
            "representable); use smaller weights, only their ratios matter for neighbors"
        )
    return out


def _scaled_sum(keys: _Keys, e: _expr.Expression) -> tuple[float, NDArray[np.float64]]:
    """``(scale, v)`` with ``scale * v`` the expression's vector, computed in float64.

    The weights are divided by the largest of them before summing, so ``1e39*king`` and
    ``1e30*king + 1e30*queen`` neither overflow nor lose their direction, and ``1e-30*king``
    does not underflow to zeros.
    """
    w = np.array([t.weight for t in e.terms], dtype=np.float64)
    scale = float(np.abs(w).max())
    v = (w / scale) @ keys.unit([t.key for t in e.terms])
    return scale, v


def _query_unit(keys: _Keys, e: _expr.Expression, label: str) -> NDArray[np.float32]:
    """Return the expression's direction as a float32 unit vector ``(dim,)``, whatever its weights."""
    _, v = _scaled_sum(keys, e)
    norm = float(np.linalg.norm(v))
    if norm == 0:
        raise InvalidQuery(
            f"the vector of {label[:200]!r} is all zeros: its cosine similarity to every "
            "key is 0, so it has no neighbors"
        )
    return (v / norm).astype(np.float32)


def raw_vector(vectors: Vectors | _Keys, e: _expr.Expression) -> NDArray[np.float32]:
    """Return the weighted sum of the expression's raw rows ``(dim,)`` float32: the query of dot and euclidean.

    A key outside a table with subwords (a fastText ``.bin``) adds its subword vector.

    Raises
    ------
    KeyNotFound
        If a key is not in the vocabulary (and has no vector from subwords).
    InvalidQuery
        If the sum overflows float32.
    """
    keys = _as_keys(vectors, e)
    w = np.array([t.weight for t in e.terms], dtype=np.float64)
    with np.errstate(over="ignore"):
        out = (w @ keys.raw([t.key for t in e.terms])).astype(np.float32)
    if not np.isfinite(out).all():
        raise InvalidQuery(f"the vector of {e.text[:200]!r} overflows float32; use smaller weights")
    return out


def as_expression(vectors: Vectors, text: str | _expr.Expression) -> _expr.Expression:
    """Parse `text`, unless it is an expression already or a key of `vectors` as it stands."""
    if isinstance(text, _expr.Expression):
        return text
    if text in vectors:
        return _expr.Expression(text, (_expr.Term(text, 1.0),))
    return _expr.parse(text)


def _known(keys: _Keys, groups: list[tuple[str, ...]], skip: bool, what: str = "") -> list:
    """Return the `groups` whose keys all have vectors; others raise, or are skipped with a warning."""
    out = []
    for group in groups:
        try:
            for key in group:
                keys.check(key)
        except KeyNotFound as exc:
            if not skip:
                raise
            warn(f"skipped {what or ' '.join(group)!s}: {exc}")
            continue
        out.append(group)
    return out


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


def _query_list(queries: object) -> list:
    """Return `queries` as a list of keys, expressions and ``(dim,)`` arrays (an ``(m, dim)`` array: its rows)."""
    if isinstance(queries, str):
        return [queries]
    if isinstance(queries, np.ndarray):
        return list(queries) if queries.ndim == 2 else [queries]  # other shapes: query_vector says
    out = list(queries)  # type: ignore[call-overload]
    for item in out:
        if not isinstance(item, (str, np.ndarray, _expr.Expression)):
            hint = " (pass a vector as a numpy array)" if isinstance(item, (list, tuple)) else ""
            raise InvalidQuery(
                f"a query is a key, an expression or a vector (an ndarray of shape (dim,)); "
                f"got {type(item).__name__} {str(item)[:50]!r}{hint}"
            )
    return out


def query_vector(vectors: Vectors, value: object, label: str = "the query vector") -> NDArray[np.float64]:
    """Return `value` as a float64 query vector ``(dim,)``, checked against `vectors`.

    Raises
    ------
    InvalidQuery
        If `value` does not hold real numbers, its shape is not ``(vectors.dim,)``, or it
        holds NaN or infinity.
    """
    arr = np.asarray(value)
    if arr.dtype.kind not in "fiu":
        raise InvalidQuery(f"{label} must hold real numbers, got dtype {arr.dtype}")
    if arr.shape != (vectors.dim,):
        raise InvalidQuery(
            f"{label} has shape {arr.shape}; the vectors have {vectors.dim} dimensions, "
            f"so a query vector has shape ({vectors.dim},)"
        )
    arr = arr.astype(np.float64)
    if not np.isfinite(arr).all():
        raise InvalidQuery(f"{label} holds NaN or infinite values")
    return arr


def _vector_unit(v: NDArray[np.float64], label: str) -> NDArray[np.float32]:
    """Return the direction of a query vector as float32 ``(dim,)``, whatever its scale; all zeros raise."""
    top = float(np.abs(v).max()) if v.size else 0.0
    if top == 0:
        raise InvalidQuery(
            f"the query {label} is all zeros: its cosine similarity to every key is 0, so it has "
            "no neighbors"
        )
    v = v / top  # no overflow or underflow in the norm
    return (v / np.linalg.norm(v)).astype(np.float32)


def _vector_raw(v: NDArray[np.float64], label: str) -> NDArray[np.float32]:
    """Return a query vector as float32 ``(dim,)`` for dot and euclidean; InvalidQuery if it overflows."""
    with np.errstate(over="ignore"):
        out = v.astype(np.float32)
    if not np.isfinite(out).all():
        raise InvalidQuery(f"the query {label} overflows float32 (values up to about 3.4e38 fit)")
    return out


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
        integer id; ints are ids. With ``ids=True`` every item is an id (for numeric keys
        such as ``1990`` that would otherwise be read as keys).

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
