"""The kernel's scorers: what a score is, computed the same way on every machine.

A scorer answers four questions for the selection (:func:`embviz.search.selection._select`):
the float32 scores of a block of queries against a chunk of rows (``chunk``), those of given
(query, row) pairs (``at``), their exact scores (``exact``, through :func:`exact_dots`), and how
far apart two float32 scores may be yet tie (``tolerance``). :class:`_Cosine` scores dot
products with the rows (cosine similarity for unit queries; float16 rows converted exactly,
:func:`half_bits_scaled`, :func:`half_to_float`), :class:`_Euclidean` ranks rows by euclidean
distance, :class:`_CosMul` gives 3CosMul (Levy & Goldberg 2014, as gensim
``most_similar_cosmul``) and :class:`_Given` reads precomputed scores; :func:`cosadd_queries`
builds 3CosAdd's query vectors. The threads of ours that score are here too
(:func:`thread_cap`, the pool the float16 rows are converted on, BLAS held to one thread
meanwhile): the selection runs its query blocks on the same ones.

Separate from :mod:`embviz.search.selection` because none of this knows about top-k: the
selection takes any object with those four methods, and the rounding argument of the kernel
(:mod:`embviz.search.kernel`) rests on the bounds here alone. Nothing here imports the
selection or the kernel; both re-export what they use from here.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import TYPE_CHECKING, Iterator

import numpy as np

if TYPE_CHECKING:
    from numpy.typing import NDArray

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


# -- the threads that score ----------------------------------------------------------------
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


# -- the scorers ---------------------------------------------------------------------------
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
