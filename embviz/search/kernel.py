"""The one scoring kernel every query shares: blocked scores, exclusions, exact top-k selection.

A block of query vectors times the unit matrix (one BLAS matrix product per column chunk), the
query's own keys excluded, then an exact top-k selection. Scorers: :class:`_Cosine` (cosine
similarity for unit queries), :class:`_CosMul` (3CosMul, Levy & Goldberg 2014, as gensim
``most_similar_cosmul``) and :class:`_Given` (precomputed scores). Both the batched queries
(:mod:`embviz.search.queries`) and the analogy branch and bound (:mod:`embviz.search.bound`)
import from here, and nothing here imports them.

Answers do not depend on the BLAS library, the CPU or the thread count. A float32 matrix
product may round the same dot product differently depending on where it sits in the product
(OpenBLAS's Haswell/Zen kernels do: two equal rows in different columns, or the same query in
a block of 1 or of 512, get scores one or two ulps apart). So the float32 scores only choose
the candidates: every candidate within the rounding bound of the k-th score is rescored by
:func:`exact_dots` (float64, one dimension after another, elementwise: no BLAS, the same
bits on every machine), and the answers are ordered by that score, ties to the lower row id.
The scores returned are those exact scores rounded to float32.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager, nullcontext
from typing import TYPE_CHECKING, Iterable, Iterator, Sequence

import numpy as np

from embviz.errors import InvalidQuery

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
#: 3CosMul's epsilon, as in Levy & Goldberg (2014) and gensim ``most_similar_cosmul``.
COSMUL_EPSILON = 1e-6
#: float32's unit roundoff (half an ulp of 1).
_U32 = 2.0**-24
#: Float16 rows converted to float32 at a time for one product (a block that stays in cache).
_F16_ROWS = 2048
#: Up to this many queries, float16 rows are converted block by block (see ``_Cosine.chunk``),
#: by one thread per core.
_F16_FEW = 64
#: Candidate pairs scored at once by ``_Cosine.at`` (two 8,192 x dim float32 buffers).
_GATHER_PAIRS = 8192
#: Pairs rescored by :func:`exact_dots` at once (bounded float64 buffers).
_EXACT_CELLS = 1 << 22


def rounding_bound(dim: int) -> float:
    """Return gamma_dim = dim u / (1 - dim u), u = 2**-24: the float32 dot-product error bound.

    Any float32 dot product of `dim` terms, whatever its summation order, blocking or use of
    FMA, is within ``gamma_dim |q| |x|`` of the exact value (Higham, *Accuracy and Stability
    of Numerical Algorithms*, 2002, section 3.1).
    """
    du = max(dim, 1) * _U32
    return du / (1.0 - du)


def exact_dots(q: NDArray[np.floating], x: NDArray[np.floating]) -> NDArray[np.float64]:
    """Row-wise dot products ``q[i] . x[i]``, computed the same way on every machine.

    Products of float32 (or float16) values are exact in float64; they are added one
    dimension after another, left to right, by elementwise numpy operations (IEEE-754
    correctly rounded, no BLAS, no fused multiply-add), so the result depends only on the
    inputs: not on their position in a matrix, the BLAS build, the CPU or the thread count.

    Parameters
    ----------
    q, x : ndarray ``(p, dim)``, float32 or float16
        Pairs of rows.

    Returns
    -------
    ndarray ``(p,)`` float64
        The dot products, within ``dim * 2**-53 * |q| |x|`` of the exact values.
    """
    p, dim = q.shape
    out = np.zeros(p, dtype=np.float64)
    step = max(1024, _EXACT_CELLS // max(dim, 1))
    for lo in range(0, p, step):
        qt = np.ascontiguousarray(q[lo : lo + step].T, dtype=np.float64)  # (dim, b)
        xt = np.ascontiguousarray(x[lo : lo + step].T, dtype=np.float64)
        acc, tmp = out[lo : lo + step], np.empty(qt.shape[1], dtype=np.float64)
        for j in range(dim):
            np.multiply(qt[j], xt[j], out=tmp)
            acc += tmp
    return out


#: 2**112: a float16 value's bits shifted into a float32 are the value times 2**-112.
_HALF_SCALE = np.float32(2.0**112)
#: Queries whose largest component is below this are scaled by 2**112 without overflow.
_HALF_QUERY_MAX = 2.0**14


def half_bits_scaled(src: NDArray[np.float16], out: NDArray[np.int32]) -> NDArray[np.float32]:
    """Float16 values moved into float32 bit positions: the float32 ``(src * 2**-112)``, exactly.

    The sign stays in bit 31 (the int16 is sign-extended), the exponent and mantissa shift
    up 13 bits, and the three copies of the sign that sign extension left in bits 28-30 are
    cleared. The result is ``src`` scaled by a power of two, so a matrix product of it with
    queries scaled by 2**112 gives bit for bit the product of the float32 values (every
    float16 is a float32; scaling by a power of two commutes with rounding while nothing
    overflows). Three integer passes, about 8 GB/s of float16 here, against about 1 GB/s
    for numpy's cast, which has no SIMD half-precision path. Infinities and NaNs are not
    converted (unit rows never hold them).

    Parameters
    ----------
    src : ndarray float16, any shape
    out : ndarray int32, the shape of `src`, C-contiguous (overwritten)

    Returns
    -------
    ndarray float32
        `out` viewed as float32.
    """
    np.copyto(out, np.asarray(src).view(np.int16), casting="safe")
    np.left_shift(out, 13, out=out)
    np.bitwise_and(out, np.int32(-0x70000001), out=out)  # 0x8fffffff: drop bits 28-30
    return out.view(np.float32)


def half_to_float(src: NDArray[np.float16], out: NDArray[np.int32]) -> NDArray[np.float32]:
    """Convert finite float16 values to float32 exactly (:func:`half_bits_scaled`, times 2**112).

    Equal to ``src.astype(np.float32)`` bit for bit, subnormals included (the multiplication
    rebiases the exponent and normalises them; Giesen, "Half to float done quick", 2012).
    Returns `out` (int32, the shape of `src`) viewed as float32.
    """
    f = half_bits_scaled(src, out)
    np.multiply(f, _HALF_SCALE, out=f)
    return f


_THREAD_CAP: int | None = None  # set by thread_cap(): a Spark task's share of the cores


def _cores() -> int:
    """Cores this process may run on, at most 8 (the float16 scoring threads)."""
    try:
        n = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        n = os.cpu_count() or 1
    return max(1, min(8, n, _THREAD_CAP or n))


@contextmanager
def thread_cap(threads: int) -> Iterator[None]:
    """Score on at most `threads` threads of ours inside (a Spark task owns ``spark.task.cpus``).

    Without it, every task of an executor would spread its blocks over all the machine's
    cores, and 2 tasks on 2 cores would run 4 threads.
    """
    global _THREAD_CAP
    before, _THREAD_CAP = _THREAD_CAP, max(1, int(threads))
    try:
        yield
    finally:
        _THREAD_CAP = before


_POOL: tuple[int, ThreadPoolExecutor] | None = None  # (the process id, its threads)


def _pool() -> ThreadPoolExecutor:
    """Return the float16 scoring threads, started on first use (numpy's integer passes release the GIL).

    A forked child starts its own: the parent's threads do not exist in it.
    """
    global _POOL
    if _POOL is None or _POOL[0] != os.getpid():
        _POOL = (os.getpid(), ThreadPoolExecutor(_cores(), thread_name_prefix="embviz-score"))
    return _POOL[1]


@contextmanager
def _one_blas_thread() -> Iterator[None]:
    """BLAS (numpy's OpenBLAS, or MKL) limited to one thread inside, through threadpoolctl.

    For products run by several threads of ours at once: a multi-threaded BLAS under each of
    them took 0.79 s for a float16 query on 3,000,000 x 300, against 0.21 s.
    """
    from threadpoolctl import ThreadpoolController

    with ThreadpoolController().limit(limits=1, user_api="blas"):
        yield


# -- the kernel ------------------------------------------------------------------------------
def top_k(
    unit: NDArray[np.floating],
    queries: NDArray[np.float32],
    k: int,
    *,
    exclude: Sequence[Iterable[int]] | None = None,
    restrict: int | None = None,
    row_norm: float = 1.0,
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
    row_norm : float
        An upper bound on the norms of the rows of `unit` (1 for unit rows, the default).
        Near-ties are settled exactly within a window of float32 rounding that scales with
        it: pass it for rows that are not unit-normalised.

    Returns
    -------
    ids : ndarray ``(m, k')`` int64
        Row ids, best first by exact score (:func:`exact_dots`); equal scores go to the lower
        id. The same on every BLAS, CPU and thread count.
    scores : ndarray ``(m, k')`` float32
        Their exact scores rounded to float32. ``k' = min(k, candidates)``; excluded rows
        never appear.

    Notes
    -----
    Candidates whose float32 scores lie within the rounding bound of the k-th score are
    ranked by :func:`exact_dots`; so the order, ties included, is the same on every machine.
    """
    n = unit.shape[0] if restrict is None else min(restrict, unit.shape[0])
    return _select(_Cosine(unit[:n], queries, row_norm), len(queries), n, k, exclude)


class _Cosine:
    """Scores ``queries @ unit.T``: the cosine similarity for unit-normalised queries."""

    def __init__(
        self, unit: NDArray[np.floating], queries: NDArray[np.float32], row_norm: float = 1.0
    ) -> None:
        self.unit, self.q = unit, np.asarray(queries, dtype=np.float32)
        self.dim = self.q.shape[1]
        self.row_norm = 1.01 * max(float(row_norm), 1.0)  # float16 unit rows: 1 + 2**-11
        self.qnorm: NDArray[np.float64] | None = None
        self._buf: NDArray[np.int32] | None = None  # float16 rows converted (see chunk)
        self._q112: NDArray[np.float32] | bool | None = None
        #: threads that convert float16 rows for a few queries (one BLAS thread each)
        self.split = _cores() if unit.dtype == np.float16 and len(self.q) <= _F16_FEW else 1
        #: blocks of queries may be answered on several threads (float32 rows: no shared buffer)
        self.threads_ok = unit.dtype == np.float32
        self._bufs: list[NDArray[np.int32]] = []

    def chunk(self, lo: int, hi: int, c0: int, c1: int, out: NDArray[np.float32]) -> None:
        """Fill `out` ``(hi - lo, c1 - c0)`` with the scores of queries lo..hi, columns c0..c1.

        Float16 rows are moved into float32 bit positions (:func:`half_bits_scaled`, the values
        times 2**-112) in one reused buffer and multiplied by the queries times 2**112: the
        scores of the float32 values, bit for bit, from three integer passes instead of a
        cast (queries with components of 2**14 or more are converted with
        :func:`half_to_float` instead). For a few queries, ``_F16_ROWS`` rows at a time, so
        each block is still in cache for its product, by one thread per core (a share of the
        columns each; :func:`_select` limits BLAS to one thread meanwhile): the integer passes
        run on one core per thread, and one thread took 0.33 to 0.38 s for a query on 3,000,000 x 300,
        two 0.20 to 0.22 s, float32 rows 0.19 to 0.21 s. For many queries, the whole chunk at once
        (one product, the conversion shared by all queries).
        """
        if self.unit.dtype == np.float32:
            np.matmul(self.q[lo:hi], self.unit[c0:c1].T, out=out)
            return
        if self._q112 is None:  # the queries times 2**112, when that cannot overflow
            big = float(np.abs(self.q).max()) if self.q.size else 0.0
            self._q112 = self.q * _HALF_SCALE if np.isfinite(big) and big < _HALF_QUERY_MAX else False
        if hi - lo > _F16_FEW:
            if self._buf is None or len(self._buf) < c1 - c0:
                self._buf = np.empty((c1 - c0, self.dim), dtype=np.int32)
            self._score_half(lo, hi, c0, c1, c0, out, self._buf, c1 - c0)
            return
        parts = min(self.split, -(-(c1 - c0) // _F16_ROWS))
        while len(self._bufs) < parts:
            self._bufs.append(np.empty((_F16_ROWS, self.dim), dtype=np.int32))
        if parts == 1:
            self._score_half(lo, hi, c0, c1, c0, out, self._bufs[0], _F16_ROWS)
            return
        cuts = [c0 + (c1 - c0) * i // parts // _F16_ROWS * _F16_ROWS for i in range(parts)] + [c1]
        jobs = [
            _pool().submit(self._score_half, lo, hi, a, b, c0, out, buf, _F16_ROWS)
            for a, b, buf in zip(cuts, cuts[1:], self._bufs)
        ]
        for job in jobs:
            job.result()

    def _score_half(self, lo, hi, a0, a1, c0, out, buf, step) -> None:
        """Scores of queries lo..hi at float16 columns a0..a1 into ``out[:, a0 - c0 : a1 - c0]``."""
        for a in range(a0, a1, step):
            b = min(a1, a + step)
            if self._q112 is not False:
                block, q = half_bits_scaled(self.unit[a:b], buf[: b - a]), self._q112
            else:
                block, q = half_to_float(self.unit[a:b], buf[: b - a]), self.q
            np.matmul(q[lo:hi], block.T, out=out[:, a - c0 : b - c0])

    def at(self, rows: NDArray[np.int64], cols: NDArray[np.int64]) -> NDArray[np.float32]:
        """Float32 scores ``(b, c)`` of queries `rows` ``(b,)`` at the columns `cols` ``(b, c)``.

        The pairs are scored in the order of their columns, ``_GATHER_PAIRS`` at a time, so
        the rows of `unit` are read in ascending order: 994 x 352 candidate rows of a
        3,000,000 x 300 table took 0.2 s so, 1.2 to 1.5 s in the candidates' own order.
        """
        b, c = cols.shape
        flat = cols.ravel()
        order = np.argsort(flat, kind="stable")
        who = np.asarray(rows)[order // max(c, 1)]  # the query of each pair, in column order
        out = np.empty(b * c, dtype=np.float32)
        for i in range(0, len(order), _GATHER_PAIRS):
            o = order[i : i + _GATHER_PAIRS]
            x = np.asarray(self.unit[flat[o]], dtype=np.float32)
            out[o] = np.einsum("pd,pd->p", self.q[who[i : i + _GATHER_PAIRS]], x)
        return out.reshape(b, c)

    def exact(self, rows: NDArray[np.int64], cols: NDArray[np.int64]) -> NDArray[np.float64]:
        """Exact scores ``(p,)`` float64 of the pairs (query ``rows[i]``, column ``cols[i]``)."""
        return exact_dots(self.q[rows], self.unit[cols])

    def tolerance(self, rows: NDArray[np.int64], level: NDArray[np.float32]) -> NDArray[np.float64]:
        """How far apart two float32 scores of queries `rows` may be, yet tie: ``(len(rows),)``.

        Twice the error bound of a float32 score (rows of norm <= ``row_norm``), doubled for
        safety.
        """
        if self.qnorm is None:
            self.qnorm = np.sqrt(exact_dots(self.q, self.q))
        return 4 * rounding_bound(self.q.shape[1]) * self.row_norm * self.qnorm[rows]


class _Euclidean:
    """Scores ``2 q.x - |x|^2``: ranks rows by euclidean distance to ``q`` (nearest highest).

    ``|q - x|^2 = |q|^2 - (2 q.x - |x|^2)``, and ``|q|^2`` is the same for every row of a
    query, so the product of the (doubled) queries with the raw rows, less the rows' squared
    norms, ranks them without forming a distance (as FAISS's ``IndexFlatL2`` does).
    """

    def __init__(
        self, matrix: NDArray[np.floating], queries: NDArray[np.float32], sq_norms: NDArray[np.floating],
        row_norm: float,
    ) -> None:
        self.base = _Cosine(matrix, 2.0 * np.asarray(queries, dtype=np.float32), row_norm)
        self.sq32 = np.asarray(sq_norms, dtype=np.float32)
        self.dim, self.split = self.base.dim, self.base.split
        self.threads_ok = self.base.threads_ok
        self.r2 = float(self.base.row_norm) ** 2

    def chunk(self, lo: int, hi: int, c0: int, c1: int, out: NDArray[np.float32]) -> None:
        self.base.chunk(lo, hi, c0, c1, out)
        out -= self.sq32[c0:c1]

    def at(self, rows: NDArray[np.int64], cols: NDArray[np.int64]) -> NDArray[np.float32]:
        return self.base.at(rows, cols) - self.sq32[cols]

    def exact(self, rows: NDArray[np.int64], cols: NDArray[np.int64]) -> NDArray[np.float64]:
        """Return exact ``2 q.x - |x|^2`` ``(p,)`` float64, the squared norms by :func:`exact_dots` too."""
        x = self.base.unit[cols]
        return self.base.exact(rows, cols) - exact_dots(x, x)

    def tolerance(self, rows: NDArray[np.int64], level: NDArray[np.float32]) -> NDArray[np.float64]:
        """Return the product's window plus the rounding of the float32 squared norms and the subtraction."""
        g = rounding_bound(self.dim) + 2 * _U32
        extra = 4 * g * (self.r2 + np.abs(np.asarray(level, dtype=np.float64)))
        return self.base.tolerance(rows, level) + extra


class _CosMul:
    """3CosMul scores cos'(x,b) cos'(x,c) / (cos'(x,a) + eps), cos' = (1 + cos) / 2."""

    def __init__(self, unit: NDArray[np.floating], ua, ub, uc) -> None:
        self.parts = [_Cosine(unit, x) for x in (ua, ub, uc)]
        self.dim, self.split = self.parts[0].dim, self.parts[0].split
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

    def at(self, rows: NDArray[np.int64], cols: NDArray[np.int64]) -> NDArray[np.float32]:
        return self._combine(*(p.at(rows, cols) for p in self.parts))

    def exact(self, rows: NDArray[np.int64], cols: NDArray[np.int64]) -> NDArray[np.float64]:
        """Exact 3CosMul ratios ``(p,)`` float64: :meth:`_combine` on exact cosines, in float64."""
        sa, sb, sc = (p.exact(rows, cols) for p in self.parts)
        return (sb + 1.0) * 0.5 * ((sc + 1.0) * 0.5) / ((sa + 1.0) * 0.5 + COSMUL_EPSILON)

    def tolerance(self, rows: NDArray[np.int64], level: NDArray[np.float32]) -> NDArray[np.float64]:
        """Window of near-ties around 3CosMul scores `level` ``(len(rows),)``.

        Each cos' = (1 + cos) / 2 is within ``delta = gamma / 2 + u`` of its exact value, so
        the ratio is within ``delta (1/cos'_b + 1/cos'_c + 1/(cos'_a + eps)) + 4u`` of it,
        relatively: at most ``48 delta + 4u`` while the three cos' are >= 1/16 (every cosine
        >= -0.875); doubled for two scores and again for safety.
        """
        delta = 1.01 * rounding_bound(self.parts[0].q.shape[1]) / 2 + _U32
        return (200 * delta + 16 * _U32) * np.abs(np.asarray(level, dtype=np.float64)) + 4 * delta


class _Given:
    """Scores read from a full matrix ``(m, n)`` (for :func:`_top_rows` and tests)."""

    dim = 1

    def __init__(self, s: NDArray[np.float32]) -> None:
        self.s = s

    def chunk(self, lo: int, hi: int, c0: int, c1: int, out: NDArray[np.float32]) -> None:
        out[...] = self.s[lo:hi, c0:c1]

    def at(self, rows: NDArray[np.int64], cols: NDArray[np.int64]) -> NDArray[np.float32]:
        return np.take_along_axis(self.s[rows], cols, axis=1)

    def exact(self, rows: NDArray[np.int64], cols: NDArray[np.int64]) -> NDArray[np.float64]:
        return self.s[rows, cols].astype(np.float64)

    def tolerance(self, rows: NDArray[np.int64], level: NDArray[np.float32]) -> NDArray[np.float64]:
        return np.zeros(len(rows), dtype=np.float64)  # given scores are exact


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
    parts = [ex if isinstance(ex, np.ndarray) else np.fromiter(ex, dtype=np.int64) for ex in exclude]
    if len(parts) != m:
        raise InvalidQuery(f"{len(parts)} exclusion lists for {m} queries")
    lens = np.fromiter((len(e) for e in parts), dtype=np.int64, count=m)
    if not lens.any():
        return [_NONE] * m
    e = np.concatenate(parts).astype(np.int64, copy=False)
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


