"""Large batches: each tile of scores selected while it is in cache, by compiled code (numba).

For many queries against many float32 rows (``recommend`` for 100,000 users, ``neighbors
--all``), :func:`embviz.search.selection._select` hands the work here (same answers as its
numpy selection, which answers everything else). Each thread takes blocks of ``_TILE_ROWS``
queries; for each chunk of ``_TILE_COLS`` rows one BLAS product (one thread) fills a 512 KiB
buffer, which :func:`_scan` reads at once, while it is still in the core's cache:

- each query's excluded rows in the chunk are overwritten with -inf (its sorted exclusions,
  read from a cursor that moves forward chunk by chunk: no separate masking pass);
- in the first chunk, the query's threshold starts at a lower bound of its k-th score there
  (the k-th largest of the maxima of groups of 16 scores);
- 64 scores at a time are compared with the threshold (one vectorised comparison each); the
  rare groups holding a score at or above it are read one by one, and each such score is kept
  as a candidate and offered to a heap of the query's k best float32 scores. The threshold is
  the heap's smallest score less the rounding tolerance (``scorer.tolerance``), so it only rises.

At the end (:func:`_settle`) the candidates within the tolerance of the k-th score are rescored
exactly (float64 products added one dimension after another, as
:func:`embviz.search.scorers.exact_dots` does: the same bits) and ordered by exact score, ties
to the lower row. Every row whose score can reach the top k is among the candidates whatever
the rounding of the product, so the answer is the exact top k: the numpy selection's, bit for
bit. A query whose candidates overflow ``_CAP`` slots even after compaction (hundreds of
near-equal scores: duplicate rows) is handed back and answered by numpy.

Measured on a loaded machine: one core, 8,192 users x 50,000 items x 64, the tiles' products
alone 1.76 s, with this selection 1.9 to 2.1 s; ``recommend`` on 100,000 x 50,000 x 64 end to
end 1.1 to 1.2x the matrix-product floor (the numpy selection: 2.2x on a quiet machine;
docs/benchmarks.md). On GloVe 400,000 x 50 (2,000 queries, cosine) 6.0 s either way: there the
numpy selection was already close to the floor.

This module imports numba (a dependency of umap-learn); :mod:`embviz.search.selection` imports
it only for a batch that needs it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numba
import numpy as np

if TYPE_CHECKING:
    from numpy.typing import NDArray

#: Queries per tile (and per call of the compiled block function).
_TILE_ROWS = 128
#: Rows of the table per tile: 128 x 1,024 float32 scores = 512 KiB, in the core's cache.
_TILE_COLS = 1024
#: Candidate slots per query (at least 4 k); compacted when full, an overflow goes to numpy.
_CAP = 256

_njit = numba.njit(nogil=True, cache=True)


@_njit
def _round_down(x):  # float64 -> the largest float32 <= x
    t = np.float32(x)
    if t > x:
        t = np.nextafter(t, np.float32(-np.inf))
    return t


@_njit
def _offer(r, v, col, kk, tol, heap, hn, cs, ci, cn, over):
    """Take score `v` of column `col` for query row `r`; return its new threshold."""
    cap = cs.shape[1]
    if cn[r] == cap:  # compact: drop the candidates below the threshold
        t = _round_down(np.float64(heap[r, 0]) - tol) if hn[r] == kk else np.float32(-np.inf)
        j = 0
        for i in range(cap):
            if cs[r, i] >= t:
                cs[r, j] = cs[r, i]
                ci[r, j] = ci[r, i]
                j += 1
        cn[r] = j
        if j > cap - cap // 4:  # hundreds of near-ties: the numpy selection answers it
            over[r] = True
            return np.float32(np.inf)
    cs[r, cn[r]] = v
    ci[r, cn[r]] = col
    cn[r] += 1
    h = heap[r]
    if hn[r] < kk:  # push, sift up (a min-heap of the k best float32 scores)
        i = hn[r]
        h[i] = v
        while i > 0:
            p = (i - 1) >> 1
            if h[p] <= h[i]:
                break
            h[p], h[i] = h[i], h[p]
            i = p
        hn[r] += 1
        if hn[r] < kk:
            return np.float32(-np.inf)
    elif v > h[0]:  # replace the smallest, sift down
        h[0] = v
        i = 0
        while True:
            a = 2 * i + 1
            if a >= kk:
                break
            b = a + 1
            c = b if (b < kk and h[b] < h[a]) else a
            if h[i] <= h[c]:
                break
            h[i], h[c] = h[c], h[i]
            i = c
    else:
        return np.float32(-np.inf)
    return _round_down(np.float64(h[0]) - tol)


@_njit
def _first_bound(row, w, kk, gm):
    """Return a lower bound of the kk-th largest of `row`: the kk-th largest maximum of groups of 16."""
    g = w // 16
    if g < kk:
        return -np.inf
    for i in range(g):
        mx = row[16 * i]
        for u in range(1, 16):
            v = row[16 * i + u]
            mx = v if v > mx else mx
        gm[i] = mx
    srt = np.sort(gm[:g])
    return np.float64(srt[g - kk])


@_njit
def _scan(s, b, w, c0, thr, kk, tol, ex_ptr, ex_ids, cur, heap, hn, cs, ci, cn, over, gm):
    """Scan scores `s` ``(b, w)`` of columns c0..c0+w: offer each score at or above the threshold.

    Excluded columns are first overwritten with -inf (each row's sorted exclusions, read
    from a cursor `cur` that moves forward chunk by chunk); in the first chunk, the
    threshold starts at a lower bound of its k-th score (group maxima).
    """
    ninf = np.float32(-np.inf)
    for r in range(b):
        if over[r]:
            continue
        row = s[r]
        e = cur[r]
        e1 = ex_ptr[r + 1]
        while e < e1 and ex_ids[e] < c0 + w:
            row[ex_ids[e] - c0] = ninf
            e += 1
        cur[r] = e
        t = thr[r]
        if c0 == 0 and kk > 0:
            low = _first_bound(row, w, kk, gm)
            if low > -np.inf:
                t = max(t, _round_down(low - tol[r]))
        j = 0
        while j + 64 <= w:  # 64 comparisons a step: vectorised
            hit = 0
            for u in range(64):
                hit |= row[j + u] >= t
            if hit:
                for u in range(64):
                    v = row[j + u]
                    if v >= t and v > ninf:
                        t = max(t, _offer(r, v, c0 + j + u, kk, tol[r], heap, hn, cs, ci, cn, over))
            j += 64
        while j < w:
            v = row[j]
            if v >= t and v > ninf:
                t = max(t, _offer(r, v, c0 + j, kk, tol[r], heap, hn, cs, ci, cn, over))
            j += 1
        thr[r] = t


@_njit
def _settle(q, x, b, kk, tol, heap, hn, cs, ci, cn, over, ids, vals):
    """Each row's top kk of its candidates by exact score (float64, dimension by dimension)."""
    dim = q.shape[1]
    cap = cs.shape[1]
    sc = np.empty(cap, dtype=np.float64)
    col = np.empty(cap, dtype=np.int64)
    for r in range(b):
        if over[r] or kk == 0:
            continue
        if hn[r] < kk:  # fewer candidates than kk (the caller guarantees enough)
            over[r] = True
            continue
        low = np.float64(heap[r, 0]) - tol[r]
        m = 0
        for i in range(cn[r]):
            if np.float64(cs[r, i]) >= low:
                c = ci[r, i]
                acc = 0.0
                for d in range(dim):
                    acc += np.float64(q[r, d]) * np.float64(x[c, d])
                sc[m] = acc
                col[m] = c
                m += 1
        for j in range(kk):  # selection sort: best exact score first, ties to the lower column
            best = j
            for i in range(j + 1, m):
                if sc[i] > sc[best] or (sc[i] == sc[best] and col[i] < col[best]):
                    best = i
            sc[j], sc[best] = sc[best], sc[j]
            col[j], col[best] = col[best], col[j]
            ids[r, j] = col[j]
            vals[r, j] = np.float32(sc[j])


@_njit
def _clean(ex_ptr, ex_ids, n, lo, hi):
    """Rows lo..hi of a CSR of exclusions: sorted, distinct, in [0, n). Returns (ptr, ids, longest)."""
    m = hi - lo
    ptr = np.zeros(m + 1, dtype=np.int64)
    out = np.empty(ex_ptr[hi] - ex_ptr[lo], dtype=np.int64)
    longest = 0
    p = 0
    for r in range(m):
        seg = np.sort(ex_ids[ex_ptr[lo + r] : ex_ptr[lo + r + 1]])
        start = p
        for v in seg:
            if 0 <= v < n and (p == start or out[p - 1] != v):
                out[p] = v
                p += 1
        ptr[r + 1] = p
        longest = max(longest, p - start)
    return ptr, out[:p], longest


def warm() -> None:
    """Load (or compile, the first time) the compiled functions with one tiny call each.

    The types are those of :func:`select_fused`'s calls (a table's matrix is read-only; numba
    compiles a function once per argument types), so the real calls find them loaded.
    """
    x = np.ones((2, 2), dtype=np.float32)
    x.flags.writeable = False
    ptr = np.zeros(2, dtype=np.int64)
    ids, vals, over = np.zeros((1, 1), dtype=np.int64), np.zeros((1, 1), dtype=np.float32), np.zeros(1, dtype=bool)
    f32 = np.zeros((1, 1), dtype=np.float32)
    _clean(ptr, ptr[:0], 2, 0, 1)
    one = np.zeros(1, dtype=np.int64)
    _scan(f32, 1, 1, 0, np.zeros(1, dtype=np.float32), 1, np.zeros(1), ptr, ptr[:0], one.copy(), f32.copy(),
          one.copy(), f32.copy(), ids.copy(), one.copy(), over, np.zeros(1, dtype=np.float32))
    _settle(np.ones((1, 2), dtype=np.float32), x, 1, 0, np.zeros(1), f32, np.zeros(1, dtype=np.int64), f32, ids,
            np.zeros(1, dtype=np.int64), over, ids, vals)


def clean_exclusions(indptr: NDArray[np.int64], ids: NDArray[np.int64], n: int) -> tuple:
    """Each row of a CSR table of excluded ids sorted, distinct and within ``[0, n)``.

    Returns ``(indptr (m + 1,) int64, ids int64, longest row)``.
    """
    m = len(indptr) - 1
    return _clean(np.ascontiguousarray(indptr, dtype=np.int64), np.ascontiguousarray(ids, dtype=np.int64), n, 0, m)


def select_fused(scorer, m: int, n: int, kk: int, ex_ptr, ex_ids, ids, vals, workers: int):  # noqa: ANN001, ANN201
    """Answer all `m` queries of `scorer` (a float32 ``_Cosine``) into `ids`, `vals` ``(m, kk)``.

    `ex_ptr` ``(m + 1,)``, `ex_ids`: the cleaned exclusions (:func:`clean_exclusions`), on
    `workers` threads (BLAS on one thread each). Returns the rows ``(r,)`` int64 whose
    candidates overflowed: the caller answers them.
    """
    from embviz.search.scorers import _one_blas_thread, _pool

    q = np.ascontiguousarray(scorer.q, dtype=np.float32)
    x = np.asarray(scorer.unit)[:n]
    if not x.flags.c_contiguous:
        x = np.ascontiguousarray(x)
    tol = np.ascontiguousarray(scorer.tolerance(np.arange(m), None), dtype=np.float64)
    over = np.zeros(m, dtype=np.bool_)
    starts = list(range(0, m, _TILE_ROWS))
    width = _TILE_COLS
    cap = max(_CAP, 4 * kk)

    def run(mine: list[int]) -> None:
        buf = np.empty(_TILE_ROWS * width, dtype=np.float32)
        gm = np.empty(width // 16 + 1, dtype=np.float32)
        for lo in mine:
            hi = min(m, lo + _TILE_ROWS)
            b = hi - lo
            e0, e1 = int(ex_ptr[lo]), int(ex_ptr[hi])
            ep, ei = ex_ptr[lo : hi + 1] - e0, ex_ids[e0:e1]
            cur = ep[:b].copy()
            heap = np.empty((b, max(kk, 1)), dtype=np.float32)
            hn, cn = np.zeros(b, dtype=np.int64), np.zeros(b, dtype=np.int64)
            cs, ci = np.empty((b, cap), dtype=np.float32), np.empty((b, cap), dtype=np.int64)
            thr = np.full(b, -np.inf, dtype=np.float32)
            qb, tb, ob = q[lo:hi], tol[lo:hi], over[lo:hi]
            for c0 in range(0, n, width):
                w = min(n, c0 + width) - c0
                s = buf[: b * w].reshape(b, w)
                np.matmul(qb, x[c0 : c0 + w].T, out=s)
                _scan(s, b, w, c0, thr, kk, tb, ep, ei, cur, heap, hn, cs, ci, cn, ob, gm)
            _settle(qb, x, b, kk, tb, heap, hn, cs, ci, cn, ob, ids[lo:hi], vals[lo:hi])

    with _one_blas_thread():
        if workers <= 1:
            run(starts)
        else:
            jobs = [_pool().submit(run, starts[i::workers]) for i in range(workers)]
            for job in jobs:
                job.result()
    return np.flatnonzero(over)
