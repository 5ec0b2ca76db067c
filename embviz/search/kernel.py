"""The one scoring kernel every query shares: blocked scores, exclusions, exact top-k selection.

A block of query vectors times the unit matrix (one BLAS matrix product per column chunk), the
query's own keys excluded, then an exact top-k selection with ties broken by the lower row id.
Scorers: :class:`_Cosine` (cosine similarity for unit queries), :class:`_CosMul` (3CosMul,
Levy & Goldberg 2014, as gensim ``most_similar_cosmul``) and :class:`_Given` (precomputed
scores). Both the batched queries (:mod:`embviz.search.queries`) and the analogy branch and
bound (:mod:`embviz.search.bound`) import from here, and nothing here imports them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Iterable, Sequence

import numpy as np

from embviz.errors import InvalidQuery

if TYPE_CHECKING:
    from numpy.typing import NDArray

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
    """Run the two-stage selection of :func:`_select` for queries lo..hi (see there)."""
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
    """Return the exact top-`k` of each row of a full score matrix `s` ``(b, n)``, best first.

    Ties go to the lower column: the selection of :func:`_select` applied to given scores.
    """
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


