"""Cosine nearest neighbors, analogies (3CosAdd, 3CosMul) and similarity, batched.

Every query reduces to one kernel, :func:`top_k`: a block of query vectors times the unit
matrix (one BLAS matrix product), the query's own keys excluded, then an exact top-k
selection. Results agree with gensim ``KeyedVectors.most_similar`` / ``most_similar_cosmul``
/ ``similarity`` (the reference implementation) to float32 rounding. Nothing here prints.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Iterable, Literal, Sequence

import numpy as np

from embviz import expr as _expr
from embviz.errors import InvalidQuery, KeyNotFound, warn

if TYPE_CHECKING:
    from numpy.typing import NDArray

    from embviz.vectors import Vectors

Method = Literal["cosadd", "cosmul", "add", "mul"]

#: Queries scored together (one BLAS product per column chunk).
_QUERY_BLOCK = 512
#: Candidate columns per chunk: a 512 x 32,768 float32 buffer (64 MiB) is reused throughout.
_CHUNK_COLS = 32_768
#: Scores per block when rows are short enough to be kept whole.
_BLOCK_CELLS = 1 << 24
#: Group width of the two-stage top-k (group maxima first, then the members of the best groups).
_GROUP = 32
#: 3CosMul's epsilon, as in Levy & Goldberg (2014) and gensim ``most_similar_cosmul``.
COSMUL_EPSILON = 1e-6


@dataclass(frozen=True, slots=True)
class Neighbor:
    """One neighbor of a query: ``rank`` is 1-based, ``score`` the cosine similarity in [-1, 1]."""

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


# -- the kernel ------------------------------------------------------------------------------
def top_k(
    unit: NDArray[np.floating],
    queries: NDArray[np.float32],
    k: int,
    *,
    exclude: Sequence[Iterable[int]] | None = None,
    restrict: int | None = None,
) -> tuple[NDArray[np.int64], NDArray[np.float32]]:
    """Return the `k` rows of `unit` with the highest dot product with each query.

    Parameters
    ----------
    unit : ndarray ``(n, dim)``, float32 or float16
        Unit-normalised rows (``Vectors.unit``); float16 rows are scored in float32 blocks.
    queries : ndarray ``(m, dim)`` float32
        Query vectors; pass them unit-normalised to get cosine similarities in [-1, 1].
    k : int
        Results per query, >= 1; fewer are returned when fewer candidates exist.
    exclude : sequence of ``m`` iterables of int, optional
        Row ids never returned for each query (a query's own keys).
    restrict : int, optional
        Only the first `restrict` rows are candidates (gensim's ``restrict_vocab``).

    Returns
    -------
    ids : ndarray ``(m, k')`` int64
        Row ids, best first; ties broken by the lower id.
    scores : ndarray ``(m, k')`` float32
        Their scores. ``k' = min(k, candidates)``; excluded rows never appear.
    """
    n = unit.shape[0] if restrict is None else min(restrict, unit.shape[0])
    return _select(_Cosine(unit[:n], queries), len(queries), n, k, exclude)


def _rows32(unit: NDArray[np.floating], lo: int, hi: int) -> NDArray[np.float32]:
    rows = unit[lo:hi]
    return rows if rows.dtype == np.float32 else np.asarray(rows, dtype=np.float32)


class _Cosine:
    """Scores ``queries @ unit.T``: the cosine similarity for unit-normalised queries."""

    def __init__(self, unit: NDArray[np.floating], queries: NDArray[np.float32]) -> None:
        self.unit, self.q = unit, np.asarray(queries, dtype=np.float32)

    def chunk(self, lo: int, hi: int, c0: int, c1: int, out: NDArray[np.float32]) -> None:
        """Fill `out` ``(hi - lo, c1 - c0)`` with the scores of queries lo..hi, columns c0..c1."""
        np.matmul(self.q[lo:hi], _rows32(self.unit, c0, c1).T, out=out)

    def at(self, lo: int, hi: int, cols: NDArray[np.int64]) -> NDArray[np.float32]:
        """Scores of queries lo..hi at the columns `cols` ``(hi - lo, c)``."""
        rows = np.asarray(self.unit[cols], dtype=np.float32)  # (b, c, dim)
        return np.einsum("bd,bcd->bc", self.q[lo:hi], rows)


class _CosMul:
    """3CosMul scores cos'(x,b) cos'(x,c) / (cos'(x,a) + eps), cos' = (1 + cos) / 2."""

    def __init__(self, unit: NDArray[np.floating], ua, ub, uc) -> None:
        self.parts = [_Cosine(unit, x) for x in (ua, ub, uc)]
        self.tmp: list[NDArray[np.float32]] = []

    @staticmethod
    def _combine(sa, sb, sc) -> NDArray[np.float32]:
        for x in (sa, sb, sc):
            x += 1.0
            x *= 0.5
        sb *= sc
        sa += np.float32(COSMUL_EPSILON)
        sb /= sa
        return sb

    def chunk(self, lo: int, hi: int, c0: int, c1: int, out: NDArray[np.float32]) -> None:
        if not self.tmp or self.tmp[0].shape[0] < out.size:
            self.tmp = [np.empty(out.size, dtype=np.float32) for _ in range(2)]
        sa, sc = (t[: out.size].reshape(out.shape) for t in self.tmp)
        self.parts[0].chunk(lo, hi, c0, c1, sa)
        self.parts[1].chunk(lo, hi, c0, c1, out)
        self.parts[2].chunk(lo, hi, c0, c1, sc)
        self._combine(sa, out, sc)

    def at(self, lo: int, hi: int, cols: NDArray[np.int64]) -> NDArray[np.float32]:
        return self._combine(*(p.at(lo, hi, cols) for p in self.parts))


class _Given:
    """Scores read from a full matrix ``(m, n)`` (for :func:`_top_rows` and tests)."""

    def __init__(self, s: NDArray[np.float32]) -> None:
        self.s = s

    def chunk(self, lo: int, hi: int, c0: int, c1: int, out: NDArray[np.float32]) -> None:
        out[...] = self.s[lo:hi, c0:c1]

    def at(self, lo: int, hi: int, cols: NDArray[np.int64]) -> NDArray[np.float32]:
        return np.take_along_axis(self.s[lo:hi], cols, axis=1)


def _select(
    scorer,  # _Cosine, _CosMul or _Given
    m: int,
    n: int,
    k: int,
    exclude: Sequence[Iterable[int]] | None,
) -> tuple[NDArray[np.int64], NDArray[np.float32]]:
    """Each query's exact top `k` over `n` candidate columns, excluded columns removed.

    Queries go in blocks of ``_QUERY_BLOCK``. For long rows, each block is scored in column
    chunks of ``_CHUNK_COLS`` into one reused buffer (no fresh allocation per block, and the
    chunk is still in cache when it is reduced); only the maxima of strided groups of 32
    columns are kept. The k groups with the largest maxima hold every score above the k-th
    best, so their ``32 k`` members (plus the ``n % 32`` tail columns) are rescored exactly
    and sorted, ties broken by the lower column. A row where more than k groups reach its
    k-th value (a tie that could hide a lower column elsewhere) is recomputed in full.
    """
    if k < 1:
        raise InvalidQuery(f"k must be at least 1, got {k}")
    excl = [np.unique(np.fromiter((i for i in ex if 0 <= i < n), dtype=np.int64)) for ex in exclude or [()] * m]
    kk = max(0, min(k, n - max((len(e) for e in excl), default=0)))
    ids = np.zeros((m, kk), dtype=np.int64)
    vals = np.zeros((m, kk), dtype=np.float32)
    if m == 0 or kk == 0:
        return ids, vals
    full = n < 64 * _GROUP * kk
    block = max(1, min(m, _QUERY_BLOCK if not full else _BLOCK_CELLS // max(n, 1)))
    width = n if full else min(_CHUNK_COLS, n - n % _GROUP)
    buf = np.empty(block * width, dtype=np.float32)
    for lo in range(0, m, block):
        hi = min(m, lo + block)
        er = np.concatenate([np.full(len(e), r, dtype=np.int64) for r, e in enumerate(excl[lo:hi])])
        ec = np.concatenate(excl[lo:hi])
        if full:
            s = buf[: (hi - lo) * n].reshape(hi - lo, n)
            scorer.chunk(lo, hi, 0, n, s)
            s[er, ec] = -np.inf
            ids[lo:hi], vals[lo:hi] = _top_full(s, kk)
        else:
            ids[lo:hi], vals[lo:hi] = _top_grouped(scorer, lo, hi, n, kk, er, ec, buf, width)
    return ids, vals


def _top_grouped(scorer, lo, hi, n, k, er, ec, buf, width):
    """The two-stage selection of :func:`_select` for queries lo..hi (see there)."""
    b = hi - lo
    head = n - n % _GROUP
    gmax = np.empty((b, head // _GROUP), dtype=np.float32)
    for c0 in range(0, head, width):
        c1 = min(c0 + width, head)
        out = buf[: b * (c1 - c0)].reshape(b, c1 - c0)
        scorer.chunk(lo, hi, c0, c1, out)
        inside = (ec >= c0) & (ec < c1)
        out[er[inside], ec[inside] - c0] = -np.inf
        w = (c1 - c0) // _GROUP
        np.max(out.reshape(b, _GROUP, w), axis=1, out=gmax[:, c0 // _GROUP : c0 // _GROUP + w])
    # group g lies in the chunk starting at c0(g); its members are c0 + (g - c0/32) + i * w
    groups = np.argpartition(-gmax, k - 1, axis=1)[:, :k]
    c0 = groups // (width // _GROUP) * width  # the chunk start of each group
    w = (np.minimum(c0 + width, head) - c0) // _GROUP
    cand = (c0 + (groups - c0 // _GROUP))[:, :, None] + np.arange(_GROUP) * w[:, :, None]
    cand = cand.reshape(b, -1)
    if head < n:
        cand = np.concatenate([cand, np.broadcast_to(np.arange(head, n), (b, n - head))], axis=1)
    cval = np.asarray(scorer.at(lo, hi, cand), dtype=np.float32)
    if len(ec):  # excluded columns among the candidates (e.g. tail columns)
        pair, col = np.nonzero(cand[er] == ec[:, None])
        cval[er[pair], col] = -np.inf
    order = np.lexsort((cand, -cval), axis=1)[:, :k]
    ids = np.take_along_axis(cand, order, axis=1)
    vals = np.take_along_axis(cval, order, axis=1)
    risky = np.flatnonzero((gmax >= vals[:, -1:]).sum(axis=1) > k)
    for r in risky.tolist():  # ties at the k-th value: redo this row over all columns
        row = np.empty((1, n), dtype=np.float32)
        scorer.chunk(lo + r, lo + r + 1, 0, n, row)
        row[0, ec[er == r]] = -np.inf
        ids[r], vals[r] = (x[0] for x in _top_full(row, k))
    return ids, vals


def _top_rows(s: NDArray[np.float32], k: int) -> tuple[NDArray[np.int64], NDArray[np.float32]]:
    """Exact top-`k` of each row of a full score matrix `s` ``(b, n)``, best first, ties by
    the lower column: the selection of :func:`_select` applied to given scores."""
    return _select(_Given(s), s.shape[0], s.shape[1], k, None)


def _top_full(s: NDArray[np.float32], k: int) -> tuple[NDArray[np.int64], NDArray[np.float32]]:
    """Exact, tie-safe top-`k` of each full row of `s` ``(b, n)`` (k <= n)."""
    b, n = s.shape
    if k < n:
        kth = np.partition(s, n - k, axis=1)[:, n - k : n - k + 1]  # the k-th largest value
        above = s > kth
        equal = s == kth
        room = k - above.sum(axis=1, keepdims=True)
        take = above | (equal & (np.cumsum(equal, axis=1) <= room))
        cand = np.nonzero(take)[1].reshape(b, k)  # row-major: k columns per row
    else:
        cand = np.broadcast_to(np.arange(n), (b, n))
    cval = np.take_along_axis(s, cand, axis=1)
    order = np.lexsort((cand, -cval), axis=1)
    return np.take_along_axis(cand, order, axis=1), np.take_along_axis(cval, order, axis=1)


# -- building query vectors ------------------------------------------------------------------
def expression_vector(vectors: Vectors, text: str | _expr.Expression) -> NDArray[np.float32]:
    """Return the vector of an expression: the weighted sum of its keys' unit vectors.

    Parameters
    ----------
    vectors : Vectors
    text : str or Expression
        A key or an expression such as ``"king - man + woman"`` (see :mod:`embviz.expr`). A
        string that is itself a key (``"new york"``, ``"e-mail"``) is taken as that key.

    Returns
    -------
    ndarray ``(dim,)`` float32
        Not normalised (``unit[king] - unit[man] + unit[woman]``).

    Raises
    ------
    KeyNotFound
        If a key is not in the vocabulary.
    InvalidQuery
        If the expression does not parse.
    """
    e = as_expression(vectors, text)
    ids = vectors.indices([t.key for t in e.terms])
    w = np.array([t.weight for t in e.terms], dtype=np.float32)
    return (w @ np.asarray(vectors.unit[ids], dtype=np.float32)).astype(np.float32)


def as_expression(vectors: Vectors, text: str | _expr.Expression) -> _expr.Expression:
    """Parse `text`, unless it is an expression already or a key of `vectors` as it stands."""
    if isinstance(text, _expr.Expression):
        return text
    if text in vectors:
        return _expr.Expression(text, (_expr.Term(text, 1.0),))
    return _expr.parse(text)


def _unit_rows(q: NDArray[np.float32], labels: Sequence[str]) -> NDArray[np.float32]:
    norms = np.linalg.norm(q, axis=1)
    zero = np.flatnonzero(norms == 0)
    if len(zero):
        raise InvalidQuery(
            f"the vector of {labels[zero[0]]!r} is all zeros: its cosine similarity to every "
            "key is 0, so it has no neighbors"
        )
    return (q / norms[:, None]).astype(np.float32)


def _known(vectors: Vectors, groups: list[tuple[str, ...]], skip: bool, what: str = "") -> list:
    """`groups` whose keys are all known; unknown ones raise, or are skipped with a warning."""
    out = []
    for group in groups:
        try:
            for key in group:
                vectors.get_index(key)
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
    queries: str | Sequence[str],
    k: int = 10,
    *,
    restrict: int | None = None,
    skip_missing: bool = False,
) -> list[Neighbor]:
    """Return the `k` nearest neighbors by cosine similarity of each query, in one batch.

    Same answers as gensim ``KeyedVectors.most_similar(positive, negative, topn=k,
    restrict_vocab=restrict)``: the query vector is the (weighted) sum of the keys' unit
    vectors, and the query's own keys are excluded from its results.

    Parameters
    ----------
    vectors : Vectors
    queries : str or sequence of str
        Keys or expressions (``"king - man + woman"``), see :mod:`embviz.expr`.
    k : int
        Neighbors per query, >= 1.
    restrict : int, optional
        Search only the first `restrict` keys (the most frequent ones).
    skip_missing : bool
        Skip queries with a key not in the vocabulary, with a warning, instead of raising.

    Returns
    -------
    list of Neighbor
        ``k`` rows per query (fewer if the vocabulary is smaller), query order kept, best
        first; ``score`` is the cosine similarity in [-1, 1].

    Raises
    ------
    KeyNotFound
        If a query key is not in the vocabulary (the message lists close matches).
    InvalidQuery
        If an expression does not parse, its vector is all zeros, or ``k < 1``.
    """
    if isinstance(queries, str):
        queries = [queries]
    if k < 1:
        raise InvalidQuery(f"k must be at least 1, got {k}")
    texts: list[str] = []
    exprs: list[_expr.Expression] = []
    for text in queries:
        e = as_expression(vectors, text)
        if _known(vectors, [tuple(e.keys)], skip_missing, what=f"query {text!r}"):
            texts.append(text)
            exprs.append(e)
    if not exprs:
        return []
    queries = texts
    q = np.stack([expression_vector(vectors, e) for e in exprs])
    q = _unit_rows(q, list(queries))
    exclude = [vectors.indices(e.keys) for e in exprs]
    ids, scores = top_k(vectors.unit, q, k, exclude=exclude, restrict=restrict)
    return [
        Neighbor(text, rank + 1, vectors.keys[i], float(s))
        for text, row_ids, row_scores in zip(queries, ids, scores)
        for rank, (i, s) in enumerate(zip(row_ids.tolist(), row_scores.tolist()))
    ]


def cosadd_queries(
    ua: NDArray[np.float32], ub: NDArray[np.float32], uc: NDArray[np.float32]
) -> tuple[NDArray[np.float32], NDArray[np.float32]]:
    """3CosAdd's query vectors: ``unit(u_b - u_a + u_c)`` per question (Mikolov et al., 2013).

    Parameters
    ----------
    ua, ub, uc : ndarray ``(m, dim)`` float32
        Unit rows of the questions' a, b and c.

    Returns
    -------
    queries : ndarray ``(m, dim)`` float32
        Unit-normalised; all zeros where ``u_b - u_a + u_c`` is zero.
    norms : ndarray ``(m,)`` float32
        The norms of ``u_b - u_a + u_c``, in [0, 3].
    """
    q = ub - ua + uc
    norms = np.linalg.norm(q, axis=1, keepdims=True)
    return np.divide(q, norms, out=np.zeros_like(q), where=norms > 0), norms[:, 0]


def analogy_ids(
    unit: NDArray[np.floating],
    a: NDArray[np.int64],
    b: NDArray[np.int64],
    c: NDArray[np.int64],
    k: int = 1,
    *,
    method: Method = "cosadd",
    restrict: int | None = None,
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

    Returns
    -------
    ids : ndarray ``(m, k)`` int64
    scores : ndarray ``(m, k)`` float32
        3CosAdd: cosine similarity in [-1, 1]. 3CosMul: the ratio above, in [0, 1e6].
    """
    a, b, c = (np.asarray(x, dtype=np.int64).reshape(-1) for x in (a, b, c))
    n = unit.shape[0] if restrict is None else min(restrict, unit.shape[0])
    exclude = list(zip(a.tolist(), b.tolist(), c.tolist()))
    ua, ub, uc = (np.asarray(unit[x], dtype=np.float32) for x in (a, b, c))
    if method in ("cosadd", "add"):
        q, _ = cosadd_queries(ua, ub, uc)
        return _select(_Cosine(unit[:n], q), len(a), n, k, exclude)
    if method in ("cosmul", "mul"):
        return _select(_CosMul(unit[:n], ua, ub, uc), len(a), n, k, exclude)
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
        If a key is not in the vocabulary.
    InvalidQuery
        If ``k < 1`` or `method` is unknown.
    """
    if len(triples) == 3 and all(isinstance(x, str) for x in triples):
        triples = [triples]  # type: ignore[list-item]
    if k < 1:
        raise InvalidQuery(f"k must be at least 1, got {k}")
    triples = _known(vectors, [tuple(t) for t in triples], skip_missing)
    if not triples:
        return []
    ids = vectors.indices([w for t in triples for w in t]).reshape(-1, 3)
    top, scores = _best_by_bound(vectors.unit, ids, k, method, restrict)
    if top is None:
        top, scores = analogy_ids(
            vectors.unit, ids[:, 0], ids[:, 1], ids[:, 2], k, method=method, restrict=restrict
        )
    return [
        Analogy(a, b, c, rank + 1, vectors.keys[i], float(s))
        for (a, b, c), row_ids, row_scores in zip(triples, top, scores)
        for rank, (i, s) in enumerate(zip(row_ids.tolist(), row_scores.tolist()))
    ]


def _best_by_bound(unit, ids, k, method, restrict):
    """One answer per triple by branch and bound, when it pays (:mod:`embviz.analogy_bound`).

    Returns ``(None, None)`` when brute force should answer instead: k > 1, a batch too small
    or without shared pairs, a question word beyond `restrict`, or a triple with no candidate.
    """
    from embviz import analogy_bound

    n = unit.shape[0] if restrict is None else min(restrict, unit.shape[0])
    a, b, c = ids[:, 0], ids[:, 1], ids[:, 2]
    if k != 1 or ids.max() >= n or not analogy_bound.worthwhile(a, b, c, n):
        return None, None
    best, scores = analogy_bound.best_answers(unit, a, b, c, method=method, n=n)
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
        either vector is all zeros).

    Raises
    ------
    KeyNotFound
        If a key is not in the vocabulary.
    """
    if len(pairs) == 2 and all(isinstance(x, str) for x in pairs):
        pairs = [pairs]  # type: ignore[list-item]
    pairs = _known(vectors, [tuple(p) for p in pairs], skip_missing)
    if not pairs:
        return []
    ids = vectors.indices([w for p in pairs for w in p]).reshape(-1, 2)
    ua = np.asarray(vectors.unit[ids[:, 0]], dtype=np.float32)
    ub = np.asarray(vectors.unit[ids[:, 1]], dtype=np.float32)
    scores = np.einsum("ij,ij->i", ua, ub)
    return [Similarity(a, b, float(s)) for (a, b), s in zip(pairs, scores.tolist())]


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
        elif item.strip().lstrip("-").isdigit():
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
