"""Exact top-k selection over any scorer: which rows win, ties to the lower row id.

:func:`_select` answers each query's top k from a scorer (:mod:`embviz.search.scorers`):
queries in blocks (on several threads when the scorer allows it, :func:`_select_threads`),
each block scored in column chunks and reduced to the maxima of groups of 32 columns
(:func:`_top_grouped`, :func:`_kept_groups`, :func:`_top_of`), the members of the groups that
may hold a top-k score gathered, and the candidates within the rounding tolerance of the k-th
score ranked by exact score (:func:`_settle_top`). Exclusion lists are cleaned once for all
queries (:func:`_in_range_all`). :func:`_top_rows` is the same selection over a full score
matrix.

Separate from the scorers because it is the same for all of them and does no arithmetic on
vectors: it only calls a scorer's ``chunk``, ``at``, ``exact`` and ``tolerance``. It imports
the scorers module (``_Given``, the thread helpers, ``_EXACT_CELLS``), never the kernel
(:mod:`embviz.search.kernel`), which re-exports everything here.
"""

from __future__ import annotations

from collections.abc import Sequence as _SequenceBase
from contextlib import nullcontext
from typing import TYPE_CHECKING, Iterable, Sequence

import numpy as np

from embviz.errors import InvalidQuery
from embviz.search.scorers import _EXACT_CELLS, _cores, _Given, _one_blas_thread, _pool

if TYPE_CHECKING:
    from numpy.typing import NDArray

#: Queries scored together (one BLAS product per column chunk; the matrix is read once per
#: block, so 1,000 queries on 3,000,000 x 300 read it once, not twice as with 512).
_QUERY_BLOCK = 1024
#: Candidate columns per chunk: one 1,024 x 32,768 float32 buffer (128 MiB) is reused
#: throughout. Wide chunks make the group maxima cheap (numpy's reduction runs along 1,024
#: contiguous maxima a row): 1,000 queries on 3,000,000 x 300 took 13.4 and 12.7 s with them,
#: 15.8 and 13.5 s with 8,192 columns, against 12.1 to 12.7 s for the matrix products alone.
_CHUNK_COLS = 32768
#: Scores per block when rows are short enough to be kept whole.
_BLOCK_CELLS = 1 << 24
#: Up to this many scores (256 MiB of float32), a block of queries is scored against all
#: columns at once and the candidates' scores are gathered from it (not rescored): 1,024 users
#: x 50,000 items. Larger tables go in ``_CHUNK_COLS`` chunks.
_WHOLE_CELLS = 1 << 26
#: Group width of the two-stage top-k (group maxima first, then the members of the best groups).
_GROUP = 32


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
    columns are kept. The groups whose maxima reach the k-th largest one, less the rounding
    tolerance (``scorer.tolerance``), hold every score that can be in the top k whatever the
    rounding, so their members (plus the ``n % 32`` tail columns) are rescored and the
    candidates within the tolerance of the k-th score are ranked by their exact scores
    (``scorer.exact``), ties to the lower column: the answer does not depend on how the
    matrix product rounded. Rows with many tied groups (duplicate rows in the table) gather
    all of them, in smaller batches.
    """
    if k < 1:
        raise InvalidQuery(f"k must be at least 1, got {k}")
    if _fusable(scorer, m, n):
        return _select_fused(scorer, m, n, k, exclude)
    return _select_numpy(scorer, m, n, k, exclude)


def _select_numpy(scorer, m, n, k, exclude):  # noqa: ANN001, ANN202
    """:func:`_select` by numpy: blocks of scores in memory, group maxima, then the candidates."""
    excl = _in_range_all(exclude, m, n)
    kk = max(0, min(k, n - max((len(e) for e in excl), default=0)))
    ids = np.zeros((m, kk), dtype=np.int64)
    vals = np.zeros((m, kk), dtype=np.float32)
    if m == 0 or kk == 0:
        return ids, vals
    full = n < 64 * _GROUP * kk
    block = max(1, min(m, _QUERY_BLOCK if not full else _BLOCK_CELLS // max(n, 1)))
    head = n - n % _GROUP
    # a block of all columns when it fits _WHOLE_CELLS (catalogues up to ~65,000 rows): one
    # product a block, and the candidates' scores are read back from it instead of recomputed
    width = n if full else (head if block * head <= _WHOLE_CELLS else min(_CHUNK_COLS, head))
    workers = min(_cores(), -(-m // block)) if getattr(scorer, "threads_ok", False) and not full else 1
    if workers > 1:  # blocks in parallel, one BLAS thread each (see _select_threads)
        if width == head and block * head * workers > _WHOLE_CELLS:  # one whole buffer in all
            block = max(1, _WHOLE_CELLS // (head * workers))
        _select_threads(scorer, m, n, kk, excl, block, width, ids, vals, workers)
        return ids, vals
    buf = np.empty(block * width, dtype=np.float32)
    with _one_blas_thread() if getattr(scorer, "split", 1) > 1 else nullcontext():
        _select_blocks(scorer, m, n, kk, excl, full, block, width, buf, ids, vals)
    return ids, vals


class Exclusions(_SequenceBase):
    """Excluded ids of `m` queries as one CSR table: query i's are ``ids[indptr[i]:indptr[i + 1]]``.

    A sequence of ``m`` arrays to every caller that takes exclusion lists; the kernel reads
    the two arrays at once (no array per query: 100,000 users' histories cost 1.8 s as lists).

    Parameters
    ----------
    indptr : ndarray ``(m + 1,)`` int64
    ids : ndarray ``(indptr[-1],)`` int64
        Row ids, any order, repeats allowed; ids outside the candidates are ignored.
    """

    def __init__(self, indptr: NDArray[np.int64], ids: NDArray[np.int64]) -> None:
        self.indptr = np.asarray(indptr, dtype=np.int64)
        self.ids = np.asarray(ids, dtype=np.int64)

    def __len__(self) -> int:
        return len(self.indptr) - 1

    def __getitem__(self, i):  # noqa: ANN001, ANN204
        if isinstance(i, slice):
            return self.take(np.arange(len(self))[i])
        i = range(len(self))[i]  # IndexError past the end, negative positions from the end
        return self.ids[self.indptr[i] : self.indptr[i + 1]]

    def __iter__(self):  # noqa: ANN204
        return (self.ids[a:b] for a, b in zip(self.indptr[:-1].tolist(), self.indptr[1:].tolist()))

    @classmethod
    def of(cls, lists) -> Exclusions:  # noqa: ANN001
        """Return `lists` (a sequence of ``m`` iterables of row ids, or Exclusions) as one table."""
        if isinstance(lists, Exclusions):
            return lists
        arrays = [np.asarray(e, dtype=np.int64).ravel() for e in lists]
        ptr = np.zeros(len(arrays) + 1, dtype=np.int64)
        np.cumsum([len(a) for a in arrays], out=ptr[1:])
        return cls(ptr, np.concatenate(arrays) if arrays else np.empty(0, dtype=np.int64))

    def lengths(self) -> NDArray[np.int64]:
        """Ids per query ``(m,)`` int64 (repeats counted)."""
        return np.diff(self.indptr)

    def take(self, rows) -> Exclusions:  # noqa: ANN001
        """Return the exclusions of queries `rows` (int64 positions or a boolean mask), in that order."""
        rows = np.asarray(rows)
        rows = np.flatnonzero(rows) if rows.dtype == bool else rows.astype(np.int64)
        start, lens = self.indptr[rows], self.lengths()[rows]
        ptr = np.zeros(len(rows) + 1, dtype=np.int64)
        np.cumsum(lens, out=ptr[1:])
        pos = np.arange(int(ptr[-1]), dtype=np.int64) + np.repeat(start - ptr[:-1], lens)
        return Exclusions(ptr, self.ids[pos])


def _fusable(scorer, m: int, n: int) -> bool:
    """Whether :mod:`embviz.search.fused` answers: float32 dot-product scores, many queries and rows."""
    import sys

    from embviz.search.scorers import _Cosine

    if not (type(scorer) is _Cosine and scorer.unit.dtype == np.float32):
        return False
    loaded = "embviz.search.fused" in sys.modules  # then a smaller batch (a last block) is worth it too
    if m * n < _FUSED_CELLS and not (loaded and m * n >= _FUSED_LOADED_CELLS):
        return False
    try:  # numba comes with umap-learn, a dependency; without it, numpy answers
        import embviz.search.fused  # noqa: F401
    except ImportError:  # pragma: no cover
        return False
    return True


#: Queries x rows from which :func:`_select` compiles its selection (:mod:`embviz.search.fused`):
#: numba's start (0.5 to 1 s: numba, its registries and the cached functions, once a process)
#: is then repaid. Once it is loaded, from ``_FUSED_LOADED_CELLS``.
_FUSED_CELLS = 1 << 27
_FUSED_LOADED_CELLS = 1 << 20


def prepare(m: int, n: int) -> None:
    """Start loading the compiled selection on a background thread if `m` queries x `n` rows will use it.

    For a caller that knows the size of its batches before it has read them all (``recommend``
    reading a log): numba's start, most of a second, then overlaps the reading.
    """
    if m * n < _FUSED_CELLS:
        return
    import threading

    def load() -> None:
        try:
            from embviz.search import fused

            fused.warm()
        except Exception:  # noqa: BLE001 - the first real call loads (or reports) it again
            pass

    threading.Thread(target=load, name="embviz-load-kernel", daemon=True).start()


def _select_fused(scorer, m, n, k, exclude):  # noqa: ANN001, ANN202
    """:func:`_select` by :mod:`embviz.search.fused` (the same answer); overflowing queries by numpy."""
    from embviz.search import fused
    from embviz.search.scorers import _Cosine

    if isinstance(exclude, Exclusions):
        ptr, raw = exclude.indptr, exclude.ids
    elif exclude is None or len(exclude) == 0:
        ptr, raw = np.zeros(m + 1, dtype=np.int64), _NONE
    else:
        parts = [ex if isinstance(ex, np.ndarray) else np.fromiter(ex, dtype=np.int64) for ex in exclude]
        if len(parts) != m:
            raise InvalidQuery(f"{len(parts)} exclusion lists for {m} queries")
        ptr = np.zeros(m + 1, dtype=np.int64)
        np.cumsum([len(p) for p in parts], out=ptr[1:])
        raw = np.concatenate(parts).astype(np.int64, copy=False) if ptr[-1] else _NONE
    if len(ptr) != m + 1:
        raise InvalidQuery(f"{len(ptr) - 1} exclusion lists for {m} queries")
    ptr, ids_ex, longest = fused.clean_exclusions(ptr, raw, n)
    kk = max(0, min(k, n - int(longest)))
    ids = np.zeros((m, kk), dtype=np.int64)
    vals = np.zeros((m, kk), dtype=np.float32)
    if m == 0 or kk == 0:
        return ids, vals
    workers = max(1, min(_cores(), -(-m // fused._TILE_ROWS)))
    over = fused.select_fused(scorer, m, n, kk, ptr, ids_ex, ids, vals, workers)
    if len(over):  # hundreds of near-equal scores (duplicate rows): the numpy selection
        sub = _Cosine(scorer.unit[:n], scorer.q[over])
        sub.row_norm = scorer.row_norm
        excl = [ids_ex[ptr[r] : ptr[r + 1]] for r in over.tolist()]
        i, v = _select_numpy(sub, len(over), n, kk, excl)
        ids[over], vals[over] = i, v
    return ids, vals


def _select_threads(scorer, m, n, kk, excl, block, width, ids, vals, workers) -> None:
    """Answer the query blocks of :func:`_select` on `workers` threads, BLAS on one thread each.

    Each thread takes every `workers`-th block with its own score buffer. The selection
    (group maxima, partitions, gathers) is single-threaded numpy that releases the GIL, so
    with BLAS spread over the cores it left them half idle: 100,000 x 50,000 x 64 dot
    products with exclusions went from 2.0-2.2x to about 1.5x the two-thread product alone.
    Answers are the same: every block is answered by the same code on the same scores.
    """
    starts = list(range(0, m, block))

    def run(mine: list[int]) -> None:
        buf = np.empty(block * width, dtype=np.float32)
        for lo in mine:
            _one_block(scorer, lo, min(m, lo + block), n, kk, excl, False, width, buf, ids, vals)

    with _one_blas_thread():
        jobs = [_pool().submit(run, starts[i::workers]) for i in range(workers)]
        for job in jobs:
            job.result()


def _in_range_all(exclude: Sequence[Iterable[int]] | None, m: int, n: int) -> list[NDArray[np.int64]]:
    """Return the distinct ids in ``[0, n)`` of each of the `m` exclusion lists, sorted.

    A call per list cost 10 microseconds (``np.unique``): 1 s of 11 for 100,000 users'
    histories. Here the (query, id) pairs of every list are one array of keys, sorted once.
    """
    if exclude is None or len(exclude) == 0:
        return [_NONE] * m
    if isinstance(exclude, Exclusions):
        if len(exclude) != m:
            raise InvalidQuery(f"{len(exclude)} exclusion lists for {m} queries")
        lens, e = exclude.lengths(), exclude.ids
    else:
        parts = [ex if isinstance(ex, np.ndarray) else np.fromiter(ex, dtype=np.int64) for ex in exclude]
        if len(parts) != m:
            raise InvalidQuery(f"{len(parts)} exclusion lists for {m} queries")
        lens = np.fromiter((len(e) for e in parts), dtype=np.int64, count=m)
        e = np.concatenate(parts).astype(np.int64, copy=False) if lens.any() else _NONE
    if not lens.any():
        return [_NONE] * m
    r = np.repeat(np.arange(m, dtype=np.int64), lens)
    keep = (e >= 0) & (e < n)
    keys = np.unique(r[keep] * n + e[keep])  # by query, then id; distinct
    q = keys // n
    cuts = np.searchsorted(q, np.arange(1, m, dtype=np.int64))
    return np.split(keys - q * n, cuts)


_NONE = np.zeros(0, dtype=np.int64)


def _select_blocks(scorer, m, n, kk, excl, full, block, width, buf, ids, vals) -> None:
    """Answer the query blocks of :func:`_select` into `ids` and `vals` ``(m, kk)``."""
    for lo in range(0, m, block):
        _one_block(scorer, lo, min(m, lo + block), n, kk, excl, full, width, buf, ids, vals)


def _one_block(scorer, lo, hi, n, kk, excl, full, width, buf, ids, vals) -> None:
    """Answer queries lo..hi of :func:`_select` into ``ids[lo:hi]`` and ``vals[lo:hi]``."""
    er = np.concatenate([np.full(len(e), r, dtype=np.int64) for r, e in enumerate(excl[lo:hi])])
    ec = np.concatenate(excl[lo:hi])
    if full:
        s = buf[: (hi - lo) * n].reshape(hi - lo, n)
        scorer.chunk(lo, hi, 0, n, s)
        s[er, ec] = -np.inf
        ids[lo:hi], vals[lo:hi] = _settle_top(scorer, np.arange(lo, hi), s, None, kk)
    else:
        ids[lo:hi], vals[lo:hi] = _top_grouped(scorer, lo, hi, n, kk, er, ec, buf, width)


def _top_grouped(scorer, lo, hi, n, k, er, ec, buf, width):
    """Run the two-stage selection of :func:`_select` for queries lo..hi (see there)."""
    b = hi - lo
    head = n - n % _GROUP
    ngroups = head // _GROUP
    gmax = np.empty((b, ngroups), dtype=np.float32)
    for c0 in range(0, head, width):
        c1 = min(c0 + width, head)
        out = buf[: b * (c1 - c0)].reshape(b, c1 - c0)
        scorer.chunk(lo, hi, c0, c1, out)
        inside = (ec >= c0) & (ec < c1)
        out[er[inside], ec[inside] - c0] = -np.inf
        w = (c1 - c0) // _GROUP
        np.max(out.reshape(b, _GROUP, w), axis=1, out=gmax[:, c0 // _GROUP : c0 // _GROUP + w])
    # the groups that may hold a top-k score: maxima within the tolerance of the k-th largest
    tol = lambda level: scorer.tolerance(np.arange(lo, hi), level)  # noqa: E731
    gv, gc, bound = _kept_groups(gmax, k, tol)  # each row's largest maxima and their near-ties
    top, gk = _top_of(gv, gc, k)  # the k groups with the largest maxima
    gk = gk.min(axis=1)
    with np.errstate(invalid="ignore"):  # -inf - -inf: a row with excluded groups only
        level = gk - tol(gk)
        if not (level >= bound).all():  # a window reaching below the kept maxima: all of them
            gv, gc = gmax, np.broadcast_to(np.arange(ngroups, dtype=np.int64), gmax.shape)
        reach = np.count_nonzero(gv >= level[:, None], axis=1)  # every such group is in gv
    reach = np.maximum(reach, k)
    ids = np.zeros((b, k), dtype=np.int64)
    vals = np.zeros((b, k), dtype=np.float32)
    # rows in batches of similar needs, each gathering a bounded number of candidate rows:
    # most rows need about k groups, rows with many tied groups (duplicate rows) need more
    order = np.argsort(reach, kind="stable")
    need = reach[order] * _GROUP
    budget = max(_QUERY_BLOCK * (k + 1) * _GROUP, _EXACT_CELLS // scorer.dim)
    i = 0
    while i < b:
        cost = np.arange(1, b - i + 1) * need[i:]  # rows x candidates, nondecreasing
        j = i + max(1, int(np.searchsorted(cost, budget, side="right")))
        rows = np.sort(order[i:j])
        i = j
        g = min(ngroups, int(reach[rows].max()))
        pad = None
        if g == k:  # no near-tie beyond the k best groups (almost every row)
            groups = top[rows]
        elif g < ngroups:  # a row's g best kept maxima: its own reach, then padding (-inf)
            groups, gsel = _top_of(gv[rows], gc[rows], g)
            pad = np.repeat(gsel == -np.inf, _GROUP, axis=1)  # fully excluded groups, padding
        else:
            groups = np.broadcast_to(np.arange(ngroups), (len(rows), ngroups))
        # group g lies in the chunk starting at c0(g); its members are c0 + (g - c0/32) + i * w
        c0 = groups // (width // _GROUP) * width  # the chunk start of each group
        w = (np.minimum(c0 + width, head) - c0) // _GROUP
        cand = (c0 + (groups - c0 // _GROUP))[:, :, None] + np.arange(_GROUP) * w[:, :, None]
        cand = cand.reshape(len(rows), -1)
        if head < n:
            tail = np.broadcast_to(np.arange(head, n), (len(rows), n - head))
            cand = np.concatenate([cand, tail], axis=1)
        if width == head:  # the block's scores of every head column are still in `out`
            members = cand.shape[1] - (n - head)
            cval = np.empty(cand.shape, dtype=np.float32)
            flat = out.reshape(-1)
            cval[:, :members] = flat[rows[:, None] * head + cand[:, :members]]
            if members < cand.shape[1]:
                cval[:, members:] = scorer.at(lo + rows, cand[:, members:])
        else:
            cval = np.asarray(scorer.at(lo + rows, cand), dtype=np.float32)
        if len(ec):  # excluded columns among the candidates (e.g. tail columns)
            # (row, column) pairs as sorted keys: er ascends and each row's ec is sorted
            # (gathered scores are -inf at excluded head columns already: only the tail)
            start = cand.shape[1] - (n - head) if width == head else 0
            part = cand[:, start:]
            if part.size:
                keys = er * n + ec
                ck = rows[:, None] * n + part
                pos = np.minimum(np.searchsorted(keys, ck), len(keys) - 1)
                cval[:, start:][keys[pos] == ck] = -np.inf
        if pad is not None:  # padding repeats group 0: never a candidate
            cval[:, : pad.shape[1]][pad] = -np.inf
        ids[rows], vals[rows] = _settle_top(scorer, lo + rows, cval, cand, k)
    return ids, vals


#: Group maxima sampled per row to bound the k-th largest (see :func:`_kept_groups`).
_SAMPLE_GROUPS = 4096


def _top_of(vals: NDArray[np.float32], cols: NDArray[np.int64], k: int):
    """Select the `k` largest `vals` ``(b, w)`` of each row, any order: ``(cols (b, k), vals (b, k))``."""
    if k >= vals.shape[1]:
        return np.array(cols, dtype=np.int64), np.array(vals)
    part = np.argpartition(-vals, k - 1, axis=1)[:, :k]
    return np.take_along_axis(cols, part, axis=1), np.take_along_axis(vals, part, axis=1)


def _kept_groups(gmax: NDArray[np.float32], k: int, widen=None):
    """Each row's values at or above a lower bound of its `k`-th largest, and their columns.

    Returns ``vals (b, w)`` float32, ``cols (b, w)`` int64 and ``bound (b,)`` float32: row r
    of `vals` holds every value of ``gmax[r]`` that is >= ``bound[r]`` (at least `k` of them;
    padding is -inf), `cols` their columns. A selection among these equals one over all ``G``
    values of the row, for any number of largest values down to ``bound``. The bound is the
    k-th largest of a strided sample of ``_SAMPLE_GROUPS`` values (the k-th largest of a
    subset is never above the whole row's), so about ``k G / 4096`` values a row are kept: a
    selection over all ``G`` values of every row cost as much as a third of the matrix
    product for 1,000 queries on 3,000,000 rows. ``widen(t)``, if given, lowers that bound by
    ``widen(t)`` ``(b,)``: the near-tie window below the k-th largest is then kept too. Small
    tables, rows of excluded (-inf) groups and rows of many equal values keep every value
    (``bound`` -inf).
    """
    b, g = gmax.shape
    whole = gmax, np.broadcast_to(np.arange(g, dtype=np.int64), (b, g)), np.full(b, -np.inf, np.float32)
    stride = max(1, g // _SAMPLE_GROUPS)  # 1: every value (then t0 is the exact k-th largest)
    if 8 * k > g // stride:  # a small table, or k near the sample's size
        return whole
    sample = gmax[:, ::stride] if stride > 1 else gmax
    t0 = np.partition(sample, sample.shape[1] - k, axis=1)[:, sample.shape[1] - k]
    if not np.isfinite(t0).all():  # rows of excluded (-inf) groups
        return whole
    if widen is not None:
        low = t0 - widen(t0)  # float64
        t0 = low.astype(np.float32)
        t0 = np.where(t0 > low, np.nextafter(t0, np.float32(-np.inf)), t0)  # rounded down
    r, c = np.nonzero(gmax >= t0[:, None])
    counts = np.bincount(r, minlength=b)  # >= k each: the sample's k values pass
    width = int(counts.max())
    if width * 4 > g:  # many equal maxima (duplicate rows): no gain
        return whole
    pos = np.arange(len(r)) - np.repeat(np.cumsum(counts) - counts, counts)
    vals = np.full((b, width), -np.inf, dtype=np.float32)  # padding is below every kept value
    cols = np.zeros((b, width), dtype=np.int64)
    vals[r, pos] = gmax[r, c]
    cols[r, pos] = c
    return vals, cols, t0


def _settle_top(scorer, rows: NDArray[np.int64], cval: NDArray[np.float32], cand, k: int):
    """Top `k` of each row of candidate scores `cval` ``(b, c)``, ranked by exact score.

    `rows` ``(b,)`` are the queries' indices in the scorer; `cand` ``(b, c)`` holds the
    candidates' columns (None: column j is candidate j); excluded candidates are -inf and each
    row has at least `k` others (only given scores, ``_Given``, can be -inf themselves: then a
    k-th score of -inf takes them). Candidates whose score is within ``scorer.tolerance`` of
    the row's k-th score are rescored exactly (``scorer.exact``) and sorted by exact score,
    then by column.
    """
    b, c = cval.shape
    classes = _column_classes(cval, k) if k < c else None
    if classes is None:
        kth = np.partition(cval, c - k, axis=1)[:, c - k] if k < c else cval.min(axis=1)
        with np.errstate(invalid="ignore"):
            window = cval >= (kth - scorer.tolerance(rows, kth))[:, None]
        r, j = np.nonzero(window)
    else:  # the same window, reading only the column classes whose maximum reaches it
        tops, ch = classes
        bound = np.partition(tops, tops.shape[1] - k, axis=1)[:, tops.shape[1] - k]  # <= each row's k-th
        r, j = _at_least(cval, tops, ch, bound)
        v = cval[r, j]
        order = np.lexsort((-v, r))
        kth = v[order][np.searchsorted(r[order], np.arange(b)) + k - 1]
        with np.errstate(invalid="ignore"):
            r, j = _at_least(cval, tops, ch, kth - scorer.tolerance(rows, kth))
    col = j.astype(np.int64) if cand is None else cand[r, j]
    score = scorer.exact(rows[r], col)
    order = np.lexsort((col, -score, r))
    r, col, score = r[order], col[order], score[order]
    rank = np.arange(len(r)) - np.searchsorted(r, np.arange(b))[r]
    top = rank < k
    return col[top].reshape(b, k), score[top].astype(np.float32).reshape(b, k)


#: Columns per class of :func:`_column_classes` (column j is in class ``j % classes``).
_CLASS_WIDTH = 64


def _column_classes(cval: NDArray[np.float32], k: int) -> tuple[NDArray[np.float32], int] | None:
    """Each row's maximum per class of columns: ``(tops (b, ch + tail), ch)``, or None.

    Column ``j < ch * _CLASS_WIDTH`` is in class ``j % ch``; each of the last ``c mod
    _CLASS_WIDTH`` columns is a class of its own (its top is its value). The `k`-th largest top
    of a row is a lower bound of its `k`-th largest value (k classes each hold a value at least
    that large), and only the classes whose top reaches a threshold can hold values above it:
    for top-10 of 10,000 items about 10 classes of 156, so a selection reads 640 values a row
    instead of partitioning all 10,000 (the copy and partition were two thirds of recommend's
    time). None (use a full partition) for narrow rows or NaN scores.
    """
    b, c = cval.shape
    ch = c // _CLASS_WIDTH
    if ch < 4 * k:
        return None
    tops = cval[:, : ch * _CLASS_WIDTH].reshape(b, _CLASS_WIDTH, ch).max(axis=1)
    if ch * _CLASS_WIDTH < c:
        tops = np.concatenate([tops, cval[:, ch * _CLASS_WIDTH:]], axis=1)
    if np.isnan(tops).any():
        return None
    return tops, ch


def _at_least(cval: NDArray[np.float32], tops: NDArray[np.float32], ch: int, thr: NDArray[np.floating]):
    """Return ``(r, j)`` of every ``cval[r, j] >= thr[r]``, rows ascending; reads only classes that can hold one."""
    with np.errstate(invalid="ignore"):
        rg, g = np.nonzero(tops >= thr[:, None])
    inner = g < ch
    r1 = rg[inner]
    cols = g[inner][:, None] + ch * np.arange(_CLASS_WIDTH)
    rows = np.broadcast_to(r1[:, None], cols.shape)
    with np.errstate(invalid="ignore"):
        keep = cval[rows, cols] >= thr[r1][:, None]
    r = np.concatenate([rows[keep], rg[~inner]])
    j = np.concatenate([cols[keep], ch * _CLASS_WIDTH + (g[~inner] - ch)])
    order = np.lexsort((j, r))
    return r[order], j[order]


def _top_rows(s: NDArray[np.float32], k: int) -> tuple[NDArray[np.int64], NDArray[np.float32]]:
    """Return the exact top-`k` of each row of a full score matrix `s` ``(b, n)``, best first.

    Ties go to the lower column: the selection of :func:`_select` applied to given scores.
    """
    return _select(_Given(s), s.shape[0], s.shape[1], k, None)
