"""The vectors of queries: keys (table rows, or fastText subword vectors), expressions, given vectors.

What :mod:`embviz.search.queries` scores, built here and checked before any scoring:

- a key's vector is its row of the table; a table loaded from a fastText ``.bin``
  (``vectors.subwords``, see :mod:`embviz.io.fasttext_bin`) also gives a vector to a key it
  does not hold: the mean of its character n-gram rows, as fastText's ``get_word_vector``
  (:class:`_Keys`; :func:`subword_notes` says which keys of a batch were built that way);
- an expression's vector (``"king - man + woman"``, :mod:`embviz.search.expr`) is the weighted
  sum of its keys' unit vectors (:func:`expression_vector`; cosine) or raw rows
  (:func:`raw_vector`; dot and euclidean);
- a vector query is an ndarray ``(dim,)``, checked by :func:`query_vector`.

Nothing here scores, prints or reads the environment; errors are :class:`~embviz.errors.KeyNotFound`
and :class:`~embviz.errors.InvalidQuery`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Sequence

import numpy as np

from embviz.errors import InvalidQuery, KeyNotFound, warn
from embviz.search import expr as _expr

if TYPE_CHECKING:
    from numpy.typing import NDArray

    from embviz.vectors import Vectors


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



# -- queries as given: keys, expressions and vectors ------------------------------------------
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
