"""gensim ``KeyedVectors``' query methods, with gensim's arguments and answers, on the one kernel.

``most_similar``, ``most_similar_cosmul``, ``similar_by_vector``, ``similar_by_key`` (and its
alias ``similar_by_word``), ``doesnt_match``, ``n_similarity``, ``similarity`` and
``distance`` take a :class:`~embviz.vectors.Vectors` first and return what gensim 4 returns:
lists of ``(key, score)`` tuples (best first), a float32 score array for ``topn=None``, a
key, a float. :mod:`embviz.gensim_interop` attaches them to ``Vectors`` as methods of the
same names (``v.most_similar("king")``); ``vectors.py`` is the lowest layer and may not
import the queries, not even inside a function.

Scores agree with gensim to float32 rounding (about 1e-7 on GloVe). Top-n selection goes
through :func:`~embviz.search.queries.neighbors` and :func:`~embviz.search.kernel.top_k`
(3CosMul through :func:`~embviz.search.queries.analogy_ids`), so the order of near-ties is
settled exactly and does not depend on the BLAS or the CPU.

Where embviz departs from gensim 4.4, on purpose:

- An unknown key raises :class:`~embviz.errors.KeyNotFound` (a ``KeyError``) that lists close
  matches, in ``n_similarity`` too (gensim 4.4 skips unknown keys there silently, and returns
  0.0 when none is known). ``doesnt_match`` ignores unknown keys with a warning, as gensim.
- A query whose vector is all zeros (``positive=["king"], negative=["king"]``), or an empty
  query, raises :class:`~embviz.errors.InvalidQuery` (a ``ValueError``); gensim ranks every
  key at 0.0, or raises ``ValueError`` / ``ZeroDivisionError``.
- With ``topn=None`` an all-zero row scores 0.0 (gensim: nan).
- ``most_similar_cosmul`` honours ``restrict_vocab`` (gensim 4.4 ignores it).
"""

from __future__ import annotations

from numbers import Integral
from typing import TYPE_CHECKING, Sequence, Union

import numpy as np

from embviz.errors import InvalidQuery, KeyNotFound, warn
from embviz.search.kernel import COSMUL_EPSILON, _Given, _select, exact_dots
from embviz.search.queries import analogy_ids, neighbors, query_vector
from embviz.search.queries import similarity as _similarity

if TYPE_CHECKING:
    from numpy.typing import ArrayLike, NDArray

    from embviz.vectors import Vectors

#: A key, a row id (gensim takes int keys as row ids) or a vector ``(dim,)``; in ``most_similar``
#: also a ``(key or vector, weight)`` pair.
Item = Union[str, int, np.ndarray, tuple]
#: Rows scored at a time for ``topn=None`` (bounds the float32 copy of float16 rows).
_BLOCK_ROWS = 65_536

#: The functions :mod:`embviz.gensim_interop` attaches to ``Vectors`` as methods.
METHODS = (
    "most_similar", "most_similar_cosmul", "similar_by_vector", "similar_by_key",
    "similar_by_word", "doesnt_match", "n_similarity", "similarity", "distance",
)


def most_similar(
    vectors: Vectors,
    positive: Item | Sequence[Item] | None = None,
    negative: Item | Sequence[Item] | None = None,
    topn: int | None = 10,
    restrict_vocab: int | None = None,
) -> list[tuple[str, float]] | NDArray[np.float32]:
    """Return the `topn` keys most similar to `positive` minus `negative`, as gensim (3CosAdd).

    As gensim ``KeyedVectors.most_similar``: the query is the weighted mean of the unit
    vectors of the keys (weight +1 in `positive`, -1 in `negative`) and of the vectors given
    as they are, normalised; every key is scored by its cosine similarity to it, and the
    keys of the query are never answers. ``most_similar(positive=["king", "woman"],
    negative=["man"])`` is the analogy ``man : king :: woman : ?`` (Mikolov et al., 2013).

    Parameters
    ----------
    vectors : Vectors
    positive, negative : key, row id, ndarray ``(dim,)`` or ``(m, dim)``, or a list of them
        Keys (str), row ids (int, as gensim takes an int that is not a key), or vectors
        (any real dtype). An item may be a ``(key or vector, weight)`` pair; its weight is
        used as given, in `negative` too (gensim's rule).
    topn : int or None
        How many keys to return; < 1 returns ``[]``. None returns every key's score instead.
    restrict_vocab : int, optional
        Only the first `restrict_vocab` keys (the most frequent) are candidates; None or 0:
        all of them.

    Returns
    -------
    list of (str, float), or ndarray ``(n,)`` float32
        ``(key, cosine similarity in [-1, 1])``, best first, at most `topn`. With ``topn=None``
        the cosine similarity of every key (the first `restrict_vocab` ones), in row order,
        the query's own keys included.

    Raises
    ------
    KeyNotFound
        If a key is not in the vocabulary, or a row id is out of range.
    InvalidQuery
        If there is no item, an item is malformed (a vector of another shape, NaN), or the
        query's vector is all zeros.
    """
    if isinstance(topn, Integral) and topn < 1:
        return []
    n = _restrict(vectors, restrict_vocab)
    rows, v = _weighted_sum(vectors, positive, negative)
    q = _direction(v)
    if topn is None:
        return _all_scores(vectors, q, n)
    _check_topn(topn)
    # the query as a vector (normalised there, in float64) and its keys excluded by name
    found = neighbors(vectors, v, k=int(topn), restrict=n, exclude=[vectors.keys[r] for r in rows])
    return [(r.key, r.score) for r in found]


def similar_by_vector(
    vectors: Vectors, vector: ArrayLike, topn: int | None = 10, restrict_vocab: int | None = None
) -> list[tuple[str, float]] | NDArray[np.float32]:
    """Return the `topn` keys most similar to `vector` ``(dim,)``, as gensim ``similar_by_vector``.

    ``most_similar(positive=[vector], ...)``: nothing is excluded (the key whose vector it is
    comes first, at 1.0). See :func:`most_similar` for the arguments, returns and errors.
    """
    return most_similar(vectors, [query_vector(vectors, vector, "the vector")], None, topn,
                        restrict_vocab)


def similar_by_key(
    vectors: Vectors, key: str, topn: int | None = 10, restrict_vocab: int | None = None
) -> list[tuple[str, float]] | NDArray[np.float32]:
    """Return the `topn` keys most similar to `key`, itself left out, as gensim ``similar_by_key``.

    ``most_similar(positive=[key], ...)``; see :func:`most_similar`. Raises KeyNotFound if
    `key` is not in the vocabulary.
    """
    return most_similar(vectors, [key], None, topn, restrict_vocab)


def similar_by_word(
    vectors: Vectors, word: str, topn: int | None = 10, restrict_vocab: int | None = None
) -> list[tuple[str, float]] | NDArray[np.float32]:
    """Return :func:`similar_by_key`'s answer (gensim's older name of it)."""
    return most_similar(vectors, [word], None, topn, restrict_vocab)


def most_similar_cosmul(
    vectors: Vectors,
    positive: Item | Sequence[Item] | None = None,
    negative: Item | Sequence[Item] | None = None,
    topn: int | None = 10,
    restrict_vocab: int | None = None,
) -> list[tuple[str, float]] | NDArray[np.float32]:
    """Return the `topn` keys by 3CosMul, as gensim ``most_similar_cosmul`` (Levy & Goldberg, 2014).

    Each key ``x`` scores ``prod cos'(x, p) / (prod cos'(x, m) + 1e-6)`` over the positive
    items ``p`` and negative items ``m``, with ``cos' = (1 + cos) / 2`` in [0, 1] (eq. 4 and
    footnote 7); ``most_similar_cosmul(["king", "woman"], ["man"])`` is the 3CosMul analogy,
    answered by :func:`~embviz.search.queries.analogy_ids` (the ``embviz analogy --method
    cosmul`` kernel). A key's term is its unit vector; a vector is used as given (gensim's
    rule, so it scores ``x . vector / |x|``). The keys are never answers.

    Parameters
    ----------
    vectors : Vectors
    positive, negative : key, row id or ndarray ``(dim,)``, or a list of them
        At least one positive item. No weights (gensim takes none here).
    topn : int or None
        How many keys to return; < 1 returns ``[]``. None returns every key's score.
    restrict_vocab : int, optional
        Only the first `restrict_vocab` keys are candidates (gensim 4.4 ignores it).

    Returns
    -------
    list of (str, float), or ndarray ``(n,)`` float32
        ``(key, ratio)``, best first; the ratio is in [0, 1e6] for key items.

    Raises
    ------
    KeyNotFound
        If a key is not in the vocabulary.
    InvalidQuery
        If there is no positive item or an item is malformed.
    """
    if isinstance(topn, Integral) and topn < 1:
        return []
    n = _restrict(vectors, restrict_vocab)
    pos, neg = _ensure_list(positive), _ensure_list(negative)
    if not pos:
        raise InvalidQuery("most_similar_cosmul needs at least one positive key or vector")
    rows: list[int] = []
    terms: list[list[NDArray[np.float32]]] = [[], []]
    for side, items in enumerate((pos, neg)):
        for item in items:
            if isinstance(item, tuple):
                raise InvalidQuery("most_similar_cosmul takes keys and vectors without weights "
                                   f"(as gensim), got {str(item)[:50]!r}")
            if isinstance(item, np.ndarray) or not isinstance(item, (str, Integral)):
                terms[side].append(query_vector(vectors, item, "a query vector").astype(np.float32))
            else:
                rows.append(_row(vectors, item))
                terms[side].append(np.asarray(vectors.unit[rows[-1]], dtype=np.float32))
    never = rows + ([] if vectors.padding_idx is None else [vectors.padding_idx])
    if topn is not None:
        _check_topn(topn)
        if len(rows) == 3 and len(pos) == 2 and len(neg) == 1:  # a : b :: c : ?, the analogy kernel
            b, c, a = ([r] for r in rows)
            pad = () if vectors.padding_idx is None else (vectors.padding_idx,)
            ids, scores = analogy_ids(vectors.unit, a, b, c, int(topn), method="cosmul",
                                      restrict=n, never=pad)
            return _pairs(vectors, ids[0], scores[0])
    s = np.ones(n, dtype=np.float32)
    for side, part in enumerate(terms):
        prod = np.ones(n, dtype=np.float32)
        for t in part:
            prod *= (1 + _all_scores(vectors, t, n)) / 2
        s = s * prod if side == 0 else s / (prod + np.float32(COSMUL_EPSILON))
    if topn is None:
        return s
    ids, scores = _select(_Given(s[None, :]), 1, n, int(topn), [never])
    return _pairs(vectors, ids[0], scores[0])


def doesnt_match(vectors: Vectors, words: Sequence[str]) -> str:
    """Return the key of `words` furthest from their mean, as gensim ``doesnt_match``.

    The mean of the words' unit vectors is normalised, and the word with the lowest cosine
    similarity to it is returned (equal scores: the lowest key in string order, as gensim's
    ``sorted(..., reverse=True)[-1]``). Repeated words count as often as they occur. Unknown
    words are left out with an :class:`~embviz.errors.EmbvizWarning`, as gensim logs them.

    Raises
    ------
    InvalidQuery
        If no word is in the vocabulary, or `words` is a single string.
    """
    if isinstance(words, str):
        raise InvalidQuery("doesnt_match takes a list of keys, not one string; split it first")
    used = [w for w in words if isinstance(w, str) and w in vectors]
    missing = [w for w in words if not (isinstance(w, str) and w in vectors)]
    if missing:
        shown = ", ".join(map(repr, missing[:10])) + (", ..." if len(missing) > 10 else "")
        warn(f"doesnt_match ignored {len(missing):,} of {len(words):,} keys, not in the "
             f"vocabulary: {shown}")
    if not used:
        raise InvalidQuery("doesnt_match needs at least one key in the vocabulary")
    unit = np.asarray(vectors.unit[vectors.indices(used)], dtype=np.float32)  # (m, dim)
    mean = unit.astype(np.float64).mean(axis=0)
    norm = float(np.linalg.norm(mean))
    mean32 = (mean / norm if norm > 0 else mean).astype(np.float32)
    scores = exact_dots(unit, np.broadcast_to(mean32, unit.shape)).astype(np.float32)
    return sorted(zip(scores.tolist(), used), reverse=True)[-1][1]


def n_similarity(vectors: Vectors, ws1: Sequence[str], ws2: Sequence[str]) -> float:
    """Cosine similarity of the means of two lists of keys' vectors, as gensim ``n_similarity``.

    The means are of the raw vectors (gensim's ``pre_normalize=False``), so frequent and rare
    keys weigh as their norms. Returns a float in [-1, 1]; 0.0 if either mean is all zeros.

    Raises
    ------
    KeyNotFound
        If a key is not in the vocabulary (gensim 4.4 skips it silently).
    InvalidQuery
        If either list is empty (gensim: ``ZeroDivisionError``).
    """
    if isinstance(ws1, str) or isinstance(ws2, str):
        raise InvalidQuery("n_similarity takes two lists of keys; for two keys use similarity")
    if not (len(ws1) and len(ws2)):
        raise InvalidQuery("n_similarity needs at least one key in each list")
    means = []
    for ws in (ws1, ws2):
        rows = [_row(vectors, w) for w in ws]
        mean = np.asarray(vectors.matrix[rows], dtype=np.float64).mean(axis=0)
        norm = float(np.linalg.norm(mean))
        means.append(mean / norm if norm > 0 else mean)
    return float(np.float32(means[0] @ means[1]))


def similarity(vectors: Vectors, key1: str, key2: str) -> float:
    """Cosine similarity of two keys, in [-1, 1] (1 the same direction, 0 orthogonal), as gensim.

    The score :func:`embviz.similarity` and ``neighbors`` report; 0.0 if either vector is all
    zeros. Raises KeyNotFound if a key is not in the vocabulary.
    """
    a, b = (vectors.keys[_row(vectors, k)] for k in (key1, key2))
    return _similarity(vectors, (a, b))[0].score


def distance(vectors: Vectors, key1: str, key2: str) -> float:
    """Cosine distance ``1 - similarity(key1, key2)``, in [0, 2], as gensim ``distance``."""
    return 1.0 - similarity(vectors, key1, key2)


# -- helpers ----------------------------------------------------------------------------------
def _ensure_list(value: object) -> list:
    """Return `value` as a list, as gensim's ``_ensure_list``: an ``(m, dim)`` array gives its rows."""
    if value is None:
        return []
    if isinstance(value, (str, Integral)) or (isinstance(value, np.ndarray) and value.ndim == 1):
        return [value]
    if isinstance(value, np.ndarray) and value.ndim == 2:
        return list(value)
    return list(value)  # type: ignore[call-overload]


def _row(vectors: Vectors, item: str | int) -> int:
    """Return the row of a key, or of a row id (an int, as gensim takes an int that is not a key)."""
    if isinstance(item, str):
        return vectors.get_index(item)
    if isinstance(item, Integral) and not isinstance(item, bool):
        if 0 <= int(item) < vectors.count:
            return int(item)
        raise KeyNotFound(f"{item!r} is not a key, and not a row id: row ids go from 0 to "
                          f"{vectors.count - 1:,}")
    raise InvalidQuery(f"a key is a str (or a row id, an int), got {type(item).__name__}")


def _weighted_sum(vectors: Vectors, positive: object, negative: object) -> tuple[list[int], NDArray[np.float64]]:
    """Return the rows of the query's keys and the weighted sum of its terms ``(dim,)`` float64.

    gensim's mean before normalisation: unit vectors of keys, vectors as given, weights +1 in
    `positive` and -1 in `negative` unless an item is a ``(key or vector, weight)`` pair.
    """
    pos, neg = _ensure_list(positive), _ensure_list(negative)
    if not pos and not neg:
        raise InvalidQuery("most_similar needs at least one key or vector in positive or negative")
    rows: list[int] = []
    total = np.zeros(vectors.dim, dtype=np.float64)
    for j, item in enumerate(pos + neg):
        weight = 1.0 if j < len(pos) else -1.0
        if not isinstance(item, (str, Integral, np.ndarray)):
            try:
                item, weight = item  # a (key or vector, weight) pair, gensim's rule
                weight = float(weight)
            except (TypeError, ValueError):
                raise InvalidQuery(
                    "an item of positive or negative is a key, a row id, a vector (dim,) or a "
                    f"(key or vector, weight) pair; got {type(item).__name__} {str(item)[:50]!r}"
                ) from None
        if isinstance(item, np.ndarray) or not isinstance(item, (str, Integral)):
            total += weight * query_vector(vectors, item, "a query vector")
        else:
            rows.append(_row(vectors, item))
            total += weight * np.asarray(vectors.unit[rows[-1]], dtype=np.float64)
    return rows, total


def _direction(v: NDArray[np.float64]) -> NDArray[np.float32]:
    """Return `v` normalised, float32 ``(dim,)``; InvalidQuery if it is all zeros."""
    if not np.isfinite(v).all():
        raise InvalidQuery("the query's vector overflows: use smaller weights (only their ratios "
                           "matter)")
    top = float(np.abs(v).max())
    if top == 0:
        raise InvalidQuery("the query's vector is all zeros: its cosine similarity to every key "
                           "is 0, so it has no neighbors")
    v = v / top  # no overflow or underflow in the norm
    return (v / np.linalg.norm(v)).astype(np.float32)


def _all_scores(vectors: Vectors, q: NDArray[np.float32], n: int) -> NDArray[np.float32]:
    """Scores ``unit[:n] @ q`` of every candidate, float32 ``(n,)`` (``topn=None``), in row blocks."""
    out = np.empty(n, dtype=np.float32)
    for lo in range(0, n, _BLOCK_ROWS):
        hi = min(n, lo + _BLOCK_ROWS)
        np.matmul(np.asarray(vectors.unit[lo:hi], dtype=np.float32), q, out=out[lo:hi])
    return out


def _restrict(vectors: Vectors, restrict_vocab: int | None) -> int:
    """Return how many rows are candidates: `restrict_vocab` (None or 0: all), at most ``n``."""
    if not restrict_vocab:
        return vectors.count
    if not isinstance(restrict_vocab, Integral) or restrict_vocab < 0:
        raise InvalidQuery(f"restrict_vocab must be a positive integer or None, got {restrict_vocab!r}")
    return min(int(restrict_vocab), vectors.count)


def _check_topn(topn: object) -> None:
    if not isinstance(topn, Integral):
        raise InvalidQuery(f"topn must be an integer or None, got {topn!r}")


def _pairs(vectors: Vectors, ids: NDArray[np.int64], scores: NDArray[np.float32]) -> list[tuple[str, float]]:
    return [(vectors.keys[i], float(s)) for i, s in zip(ids.tolist(), scores.tolist())]
