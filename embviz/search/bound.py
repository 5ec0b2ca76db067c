"""Exact answers to large batches of analogy questions, by branch and bound over blocks of keys.

Brute force scores every question against every candidate: the Google analogy set on the
first 300,000 keys of a 50-d file is 19,486 x 300,000 dot products (0.6 TFLOP). But such a
question set is built from a few hundred word pairs: each question ``a : b :: c : d`` joins a
pair (a, b) with the first word c of another pair. The 3CosAdd score of a candidate x (before
the query vector is normalised) splits into a pair term and a c term::

    (u_b - u_a) . u_x  +  u_c . u_x

so over a block of candidates it is at most ``max (u_b - u_a) . u_x + max u_c . u_x``, both
maxima taken over the block. Those maxima are computed once per distinct pair and per
distinct c (on the Google set 549 + 474 rows, one matrix product as big as 1,023 questions',
not 19,486). The candidates are grouped into blocks of similar directions by a two-level
nearest-center partition, so that a block's bound is close to the best score in it. Each
question is then scored exactly only on the blocks whose bound reaches the best score it has
found so far: on GloVe 6B 50d and the Google set, 7.6% of the question-candidate pairs.

3CosMul (Levy & Goldberg, 2014) splits the same way, as a product of two non-negative
factors, ``[cos'(x, b) / (cos'(x, a) + eps)] * cos'(x, c)``; a block's bound is the product of
the two block maxima. It is looser than 3CosAdd's: with blocks half as big, 15% of the
question-candidate pairs are scored.

The answers are exact: the same row, the same float32 score and the same tie rule as scoring
every candidate with :func:`embviz.search.queries.analogy_ids` (the exact score of
:func:`embviz.search.kernel.exact_dots`, ties to the lower row id), on every BLAS, CPU and
thread count. The bounds keep a margin of 1e-4, far above float32 rounding (about 1e-6 here);
a question whose best two candidates score within 1e-5 of each other in float32 (a tie, or a
near-tie that rounding could reorder) is answered again by brute force's exact selection. This is branch and bound for
maximum inner-product search (Ram & Gray, 2012, "Maximum Inner-Product Search using Cone
Trees"), with bounds from exact block maxima instead of cone geometry, which is loose in
50 or more dimensions. Nothing here prints.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Callable

import numpy as np

from embviz.errors import InvalidQuery
from embviz.search.kernel import COSMUL_EPSILON, _Cosine, _CosMul, _select, cosadd_queries

if TYPE_CHECKING:
    from numpy.typing import NDArray

#: Mean candidates per block: small blocks give tight bounds, large ones fewer, bigger products
#: (3CosMul's looser bound gains from smaller blocks; measured on GloVe 6B 50d).
_BLOCK_ROWS = {"cosadd": 300, "cosmul": 150}
#: Candidate columns per product when the block maxima are computed (a cache-sized chunk).
_TABLE_COLS = 16_384
#: Rows per product when the candidates are assigned to centers.
_ASSIGN_ROWS = 32_768
#: Cells of the bound matrix (blocks x questions) held at once; more questions go in chunks.
_BOUND_CELLS = 1 << 25
#: Below these sizes brute force is as fast, and the partition is not worth building.
_MIN_QUESTIONS = 1000
_MIN_CANDIDATES = 16_384
#: A block is searched when its bound is within this margin of the best score so far.
_MARGIN = 1e-4
#: The partition is seeded: the same blocks, hence the same work, on every run.
_SEED = 0

Progress = Callable[[int, int], None]


def worthwhile(a: NDArray[np.int64], b: NDArray[np.int64], c: NDArray[np.int64], n: int) -> bool:
    """Whether :func:`best_answers` beats brute force on these questions and `n` candidates.

    It does when there are many questions and candidates, and the questions share their
    (a, b) pairs and c words (as every standard analogy set does): the block maxima then cost
    far less than scoring every question.
    """
    m = len(a)
    if m < _MIN_QUESTIONS or n < _MIN_CANDIDATES:
        return False
    pairs = len(np.unique(np.asarray(a, dtype=np.int64) * n + np.asarray(b, dtype=np.int64)))
    return pairs + len(np.unique(c)) <= m // 4


def best_answers(
    unit: NDArray[np.floating],
    a: NDArray[np.int64],
    b: NDArray[np.int64],
    c: NDArray[np.int64],
    *,
    method: str = "cosadd",
    n: int | None = None,
    exclude: tuple[NDArray[np.int64], NDArray[np.int64]] | None = None,
    hints: NDArray[np.int64] | None = None,
    progress: Progress | None = None,
) -> tuple[NDArray[np.int64], NDArray[np.float32]]:
    """Return the best answer to each question ``a : b :: c : ?``, exactly, by branch and bound.

    Parameters
    ----------
    unit : ndarray ``(count, dim)``, float32 or float16
        Unit-normalised rows (``Vectors.unit``).
    a, b, c : ndarray ``(m,)`` int64
        Row ids of the questions, each in ``[0, n)``.
    method : {"cosadd", "cosmul"}
        3CosAdd or 3CosMul, with the formulas of :func:`embviz.search.queries.analogy_ids`.
    n : int, optional
        Only the first `n` rows are candidates (gensim's ``restrict_vocab``); default all.
    exclude : (questions, rows), optional
        More rows never returned: ``rows[i]`` for question ``questions[i]`` (int64 arrays of
        equal length). ``a``, ``b`` and ``c`` are always excluded.
    hints : ndarray ``(m,)`` int64, optional
        A likely answer per question (the expected one, in an evaluation), or -1. Its block is
        searched first, which tightens the bounds early; the answers do not depend on it.
    progress : callable ``(done, total)``, optional
        Called as the search proceeds, in questions: ``done`` grows to ``total == m``.

    Returns
    -------
    ids : ndarray ``(m,)`` int64
        The best row of each question, -1 if every candidate is excluded.
    scores : ndarray ``(m,)`` float32
        Its score (3CosAdd: cosine similarity in [-1, 1]; 3CosMul: the ratio, in [0, 1e6]),
        -inf where ``ids`` is -1. The rows and scores are those of the first column of
        ``analogy_ids(unit, a, b, c, 1, method=method, restrict=n)``: exact scores rounded to
        float32, ties to the lower row id, the same bits on every BLAS and thread count.

    Raises
    ------
    InvalidQuery
        If `method` is unknown or an id is outside ``[0, n)``.

    Notes
    -----
    Memory: a copy of the candidate rows in block order (``n x dim`` float32; 60 MB for
    300,000 x 50; for 3CosMul a second one with a column of ones) and a bound matrix of at
    most 2**25 float32 (128 MiB), whatever the number of questions.
    """
    a, b, c = (np.asarray(x, dtype=np.int64).reshape(-1) for x in (a, b, c))
    n = unit.shape[0] if n is None else min(n, unit.shape[0])
    m = len(a)
    for x in (a, b, c):
        if m and (x.min() < 0 or x.max() >= n):
            raise InvalidQuery(
                f"question row ids must be in [0, {n}), got {int(x.min())}..{int(x.max())}"
            )
    best = np.full(m, -np.inf, dtype=np.float32)
    best_id = np.full(m, -1, dtype=np.int64)
    if m == 0 or n == 0:
        return best_id, best
    if progress is not None:
        progress(0, m)
    rows = np.ascontiguousarray(unit[:n], dtype=np.float32)
    scorer = _scorer(method, rows, a, b, c)
    blocks = _Blocks(rows, np.random.default_rng(_SEED), _BLOCK_ROWS[scorer.method])
    columns = scorer.columns(blocks.rows)
    tables = blocks.maxima(scorer)

    # excluded rows, as (block, question, position) sorted by block then question
    eq = np.repeat(np.arange(m, dtype=np.int64), 3)
    er = np.stack([a, b, c], axis=1).reshape(-1)
    if exclude is not None:
        xq, xr = (np.asarray(x, dtype=np.int64).reshape(-1) for x in exclude)
        inside = (xr >= 0) & (xr < n)
        eq, er = np.concatenate([eq, xq[inside]]), np.concatenate([er, xr[inside]])
    epos = blocks.position[er]
    eblock = blocks.block_of[epos]
    order = np.lexsort((eq, eblock))
    eq, epos, eblock = eq[order], epos[order], eblock[order]
    estart = np.searchsorted(eblock, np.arange(blocks.count + 1))

    # A question is "close" when another candidate scored within float32 rounding of its best:
    # one matrix product may round two equal scores differently, so those few questions are
    # answered again by brute force's own selection (ties then go to the lower id for sure).
    close = np.zeros(m, dtype=bool)

    def search(j: int, qs: NDArray[np.int64]) -> None:
        """Score questions `qs` (ascending) exactly on block `j`; keep each one's best."""
        s, e = blocks.bounds[j], blocks.bounds[j + 1]
        scores = scorer.score(qs, columns[s:e])
        x0, x1 = estart[j], estart[j + 1]
        if x1 > x0:
            r = np.minimum(np.searchsorted(qs, eq[x0:x1]), len(qs) - 1)
            hit = qs[r] == eq[x0:x1]
            scores[r[hit], epos[x0:x1][hit] - s] = -np.inf
        loc = np.argmax(scores, axis=1)  # the first maximum: the lowest row id in the block
        val = scores[np.arange(len(qs)), loc]
        gid = blocks.perm[s + loc]
        cur, cur_id = best[qs], best_id[qs]
        near = val >= cur - _rounding(cur)  # a new best, or within rounding of the old one
        if near.any():
            i = np.flatnonzero(near)
            twins = (scores[i] >= (val[i] - _rounding(val[i]))[:, None]).sum(axis=1) > 1
            twins &= val[i] > -np.inf
            # the old best (if any) is within rounding of the new maximum, or the block holds
            # two maxima within rounding
            with np.errstate(invalid="ignore"):  # -inf - -inf: no best yet, not tied
                tied = (np.abs(val[i] - cur[i]) <= _rounding(val[i])) & (cur_id[i] >= 0)
            close[qs[i]] = np.where(val[i] > cur[i], twins | tied, close[qs[i]] | twins | tied)
        better = (val > cur) | ((val == cur) & (gid < cur_id))
        best[qs[better]] = val[better]
        best_id[qs[better]] = gid[better]

    chunk = max(1, _BOUND_CELLS // blocks.count)
    for lo in range(0, m, chunk):
        hi = min(m, lo + chunk)
        qs = np.arange(lo, hi, dtype=np.int64)
        bound = scorer.bound(tables, qs)  # (blocks, questions)
        searched = np.zeros(bound.shape, dtype=bool)
        # first each question's most promising block (and its hint's): a good score early
        first = [np.argmax(bound, axis=0)]
        if hints is not None:
            h = np.asarray(hints, dtype=np.int64)[lo:hi]
            ok = (h >= 0) & (h < n)
            first.append(
                np.where(ok, blocks.block_of[blocks.position[np.where(ok, h, 0)]], first[0])
            )
        pair = np.unique(np.concatenate([f * (hi - lo) + (qs - lo) for f in first]))
        pj, pq = pair // (hi - lo), pair % (hi - lo)
        searched[pj, pq] = True
        starts = np.searchsorted(pj, np.arange(blocks.count + 1))
        for j in np.flatnonzero(np.diff(starts)).tolist():
            search(j, lo + pq[starts[j] : starts[j + 1]])
        # then every block whose bound still reaches a question's best, most promising first
        order = np.argsort(-bound.mean(axis=1), kind="stable")
        step = max(1, blocks.count // 50)
        for i, j in enumerate(order.tolist()):
            need = (bound[j] >= scorer.threshold(best[lo:hi], qs)) & ~searched[j]
            sel = np.flatnonzero(need)
            if len(sel):
                search(j, lo + sel)
            if progress is not None and i % step == 0:
                progress(lo + (hi - lo) * i // blocks.count, m)
    _settle(scorer, rows, best_id, best, close, eq, blocks.perm[epos])
    if progress is not None:
        progress(m, m)
    return best_id, best


def _rounding(x: NDArray[np.float32]) -> NDArray[np.float32]:
    """How far apart two float32 scores of the same value may be (about 100 ulps).

    Two float32 products of the same vectors differ by a few ulps (1e-7) where a BLAS rounds
    by position; 1e-5 leaves a wide margin for 50 to 300 dimensions.
    """
    return np.float32(1e-5) * np.maximum(np.float32(1), np.abs(x))


def _settle(scorer, rows, best_id, best, close, eq, er) -> None:
    """Finish in place: brute force's own scores, and its own answers for the close questions.

    Each best found is rescored exactly as brute force rescores its answers
    (``exact``, the same bits on every machine); each close question is answered again by
    :func:`embviz.search.kernel._select`, brute force's selection.
    """
    found = np.flatnonzero((best_id >= 0) & ~close)
    if len(found):
        ref = scorer.reference(found, rows)
        best[found] = ref.exact(np.arange(len(found)), best_id[found]).astype(np.float32)
    redo = np.flatnonzero(close)
    if len(redo):
        order = np.argsort(eq, kind="stable")
        eq, er = eq[order], er[order]
        starts = np.searchsorted(eq, redo)
        ends = np.searchsorted(eq, redo, side="right")
        exclude = [er[x0:x1].tolist() for x0, x1 in zip(starts.tolist(), ends.tolist())]
        ids, vals = _select(scorer.reference(redo, rows), len(redo), len(rows), 1, exclude)
        best_id[redo] = ids[:, 0] if ids.shape[1] else -1
        best[redo] = vals[:, 0] if vals.shape[1] else -np.inf


def scores_at(
    unit: NDArray[np.floating],
    a: int,
    b: int,
    c: int,
    rows: NDArray[np.int64],
    *,
    method: str = "cosadd",
) -> NDArray[np.float32]:
    """Scores of `rows` for one question ``a : b :: c : ?``, with :func:`best_answers`' arithmetic.

    Returns
    -------
    ndarray ``(len(rows),)`` float32
        3CosAdd: cosine similarity in [-1, 1]; 3CosMul: the ratio.
    """
    rows = np.asarray(rows, dtype=np.int64).reshape(-1)
    question = np.asarray(unit[[a, b, c]], dtype=np.float32)
    scorer = _scorer(method, question, *(np.array([i], dtype=np.int64) for i in range(3)))
    ref = scorer.reference(np.array([0], dtype=np.int64), np.asarray(unit[rows], dtype=np.float32))
    at = np.arange(len(rows), dtype=np.int64)
    return ref.exact(np.zeros_like(at), at).astype(np.float32)


# -- the partition into blocks -----------------------------------------------------------------
class _Blocks:
    """The candidates regrouped into blocks of similar directions.

    A two-level nearest-center partition (``sqrt(B)`` random centers, then ``sqrt(B)`` random
    centers inside each group, about ``n / size`` blocks in all): two small matrix products,
    far cheaper than k-means, and coherent enough for tight block maxima. Within a block rows
    keep their id order, so the first maximum in a block is the lowest id.

    Attributes
    ----------
    rows : ndarray ``(n, dim)`` float32
        The candidate rows, block after block (``rows[i]`` is row ``perm[i]``).
    perm, position : ndarray ``(n,)`` int64
        Row id of each position, and position of each row id.
    bounds : ndarray ``(count + 1,)`` int64
        Block ``j`` holds positions ``bounds[j]:bounds[j + 1]`` (never empty).
    block_of : ndarray ``(n,)`` int64
        Block of each position.
    """

    def __init__(self, rows: NDArray[np.float32], rng: np.random.Generator, size: int) -> None:
        n = len(rows)
        target = max(1, n // size)
        k1 = max(1, math.isqrt(target))
        k2 = max(1, target // k1)
        coarse = _nearest(rows, rows[np.sort(rng.choice(n, k1, replace=False))])
        label = np.empty(n, dtype=np.int64)
        by_coarse = np.argsort(coarse, kind="stable")
        for g, idx in enumerate(
            np.split(by_coarse, np.searchsorted(coarse[by_coarse], np.arange(1, k1)))
        ):
            if len(idx):
                centers = rows[idx[np.sort(rng.choice(len(idx), min(k2, len(idx)), replace=False))]]
                label[idx] = g * k2 + _nearest(rows[idx], centers)
        self.perm = np.argsort(label, kind="stable")
        self.position = np.empty(n, dtype=np.int64)
        self.position[self.perm] = np.arange(n, dtype=np.int64)
        sizes = np.bincount(label)
        sizes = sizes[sizes > 0]
        self.count = len(sizes)
        self.bounds = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
        self.block_of = np.repeat(np.arange(self.count, dtype=np.int64), sizes)
        self.rows = rows[self.perm]

    def maxima(self, scorer: _AddBound | _MulBound) -> NDArray[np.float32]:
        """Return the scorer's table terms maximised over each block: ``(count, terms)`` float32."""
        out = np.empty((self.count, scorer.terms), dtype=np.float32)
        j0 = 0
        while j0 < self.count:
            j1 = int(np.searchsorted(self.bounds, self.bounds[j0] + _TABLE_COLS, side="right")) - 1
            j1 = min(self.count, max(j1, j0 + 1))
            s, e = self.bounds[j0], self.bounds[j1]
            out[j0:j1] = scorer.table(self.rows[s:e], self.bounds[j0:j1] - s).T
            j0 = j1
        return out


def _nearest(rows: NDArray[np.float32], centers: NDArray[np.float32]) -> NDArray[np.int64]:
    """Index of the center with the largest dot product with each row."""
    out = np.empty(len(rows), dtype=np.int64)
    for lo in range(0, len(rows), _ASSIGN_ROWS):
        out[lo : lo + _ASSIGN_ROWS] = np.argmax(rows[lo : lo + _ASSIGN_ROWS] @ centers.T, axis=1)
    return out


# -- the two methods -------------------------------------------------------------------------
def _scorer(method: str, rows: NDArray[np.float32], a, b, c) -> _AddBound | _MulBound:
    if method in ("cosadd", "add"):
        return _AddBound(rows, a, b, c)
    if method in ("cosmul", "mul"):
        return _MulBound(rows, a, b, c)
    raise InvalidQuery(f"unknown analogy method {method!r}: expected 'cosadd' or 'cosmul'")


def _pairs_and_cs(a, b, c) -> tuple[NDArray, NDArray, NDArray, NDArray]:
    """Distinct (a, b) pairs and c words, and each question's index into them."""
    pairs, pair_of = np.unique(np.stack([a, b], axis=1), axis=0, return_inverse=True)
    cs, c_of = np.unique(c, return_inverse=True)
    return pairs, pair_of.reshape(-1), cs, c_of.reshape(-1)


class _AddBound:
    """3CosAdd, split into a pair term and a c term whose block maxima add up to a bound.

    Exact scores are ``q . x`` with ``q = unit(u_b - u_a + u_c)``, as ``queries.analogy_ids``;
    the table terms are ``(u_b - u_a) . x`` per pair and ``u_c . x`` per c.
    """

    method = "cosadd"

    def __init__(self, rows: NDArray[np.float32], a, b, c) -> None:
        self.q, self.qnorm = cosadd_queries(*(rows[x] for x in (a, b, c)))
        pairs, self.pair_of, cs, self.c_of = _pairs_and_cs(a, b, c)
        self.c_of = self.c_of + len(pairs)
        self.vectors = np.concatenate([rows[pairs[:, 1]] - rows[pairs[:, 0]], rows[cs]])
        self.terms = len(self.vectors)

    def table(self, cols: NDArray[np.float32], starts: NDArray[np.int64]) -> NDArray[np.float32]:
        return np.maximum.reduceat(self.vectors @ cols.T, starts, axis=1)

    def bound(self, tables: NDArray[np.float32], qs: NDArray[np.int64]) -> NDArray[np.float32]:
        out = tables[:, self.pair_of[qs]]
        out += tables[:, self.c_of[qs]]
        return out

    def threshold(self, best: NDArray[np.float32], qs: NDArray[np.int64]) -> NDArray[np.float32]:
        # bounds are on the unnormalised query, scores on the normalised one (-inf: none yet)
        scaled = np.where(best > -np.inf, best * self.qnorm[qs], -np.inf)
        return scaled - np.float32(_MARGIN)

    def columns(self, rows: NDArray[np.float32]) -> NDArray[np.float32]:
        """Return the candidate rows as :meth:`score` takes them."""
        return rows

    def score(self, qs: NDArray[np.int64], cols: NDArray[np.float32]) -> NDArray[np.float32]:
        """Scores ``(len(qs), len(cols))`` of questions `qs` on candidate columns `cols`."""
        return self.q[qs] @ cols.T

    def reference(self, qs: NDArray[np.int64], rows: NDArray[np.float32]) -> _Cosine:
        """Brute force's scorer of questions `qs` (``queries.analogy_ids``'s arithmetic)."""
        return _Cosine(rows, self.q[qs])


class _MulBound:
    """3CosMul, split into two factors >= 0 whose block maxima multiply to a bound.

    Exact scores are those of ``kernel._CosMul``; the table terms are
    ``cos'(x, b) / (cos'(x, a) + eps)`` per pair and ``cos'(x, c)`` per c, cos' = (1 + cos) / 2.
    """

    method = "cosmul"

    def __init__(self, rows: NDArray[np.float32], a, b, c) -> None:
        self.ua, self.ub, self.uc = (rows[x] for x in (a, b, c))
        # (1 + cos) / 2 straight from one product: rows get a last coordinate of 1, and the
        # question vectors a last coordinate of 1 (a, b) or are halved with it (c)
        one = np.ones((len(a), 1), dtype=np.float32)
        self.qa, self.qb = np.hstack([self.ua, one]), np.hstack([self.ub, one])
        self.qc = np.hstack([self.uc, one]) * np.float32(0.5)
        pairs, self.pair_of, cs, self.c_of = _pairs_and_cs(a, b, c)
        self.c_of = self.c_of + len(pairs)
        words, where = np.unique(np.concatenate([pairs.reshape(-1), cs]), return_inverse=True)
        self.words = rows[words]
        self.pa, self.pb = where[: 2 * len(pairs)].reshape(-1, 2).T
        self.wc = where[2 * len(pairs) :]
        self.terms = len(pairs) + len(cs)

    def table(self, cols: NDArray[np.float32], starts: NDArray[np.int64]) -> NDArray[np.float32]:
        s = self.words @ cols.T
        s += 1.0
        s *= 0.5
        ratio = s[self.pb] / (s[self.pa] + np.float32(COSMUL_EPSILON))
        return np.concatenate(
            [
                np.maximum.reduceat(ratio, starts, axis=1),
                np.maximum.reduceat(s[self.wc], starts, axis=1),
            ]
        )

    def bound(self, tables: NDArray[np.float32], qs: NDArray[np.int64]) -> NDArray[np.float32]:
        out = tables[:, self.pair_of[qs]]
        out *= tables[:, self.c_of[qs]]
        return out

    def threshold(self, best: NDArray[np.float32], qs: NDArray[np.int64]) -> NDArray[np.float32]:
        return best - (np.abs(best) * np.float32(_MARGIN) + np.float32(_MARGIN))

    def columns(self, rows: NDArray[np.float32]) -> NDArray[np.float32]:
        """Return the candidate rows as :meth:`score` takes them: with a last coordinate of 1."""
        return np.hstack([rows, np.ones((len(rows), 1), dtype=np.float32)])

    def score(self, qs: NDArray[np.int64], cols: NDArray[np.float32]) -> NDArray[np.float32]:
        """Scores ``(len(qs), len(cols))`` of questions `qs` on candidate columns `cols`.

        ``_CosMul._combine``'s arithmetic in 3 passes instead of 9: ``sa = 1 + cos(x, a)`` and
        ``sb = 1 + cos(x, b)`` are twice cos', ``sc`` is cos'(x, c) itself, and scaling by 2
        is exact in binary floating point, so ``sb sc / (sa + 2 eps)`` is the same number as
        ``cos'(x, b) cos'(x, c) / (cos'(x, a) + eps)``.
        """
        sa = self.qa[qs] @ cols.T
        sb = self.qb[qs] @ cols.T
        sb *= self.qc[qs] @ cols.T
        sa += np.float32(2 * COSMUL_EPSILON)
        sb /= sa
        return sb

    def reference(self, qs: NDArray[np.int64], rows: NDArray[np.float32]) -> _CosMul:
        """Brute force's scorer of questions `qs` (``queries.analogy_ids``'s arithmetic)."""
        return _CosMul(rows, self.ua[qs], self.ub[qs], self.uc[qs])
