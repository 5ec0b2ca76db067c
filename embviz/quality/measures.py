"""The diagnostics of a table, one function each: hubness, isotropy, TwoNN, duplicates.

Sampling and the exact kNN searches they share (blocks of queries through the kernel,
:func:`embviz.search.top_k`), the k-occurrence and its skewness, the isotropy ratios, TwoNN's
intrinsic dimension, exact and near-duplicate rows. Definitions and sources are in
:mod:`embviz.quality`; :func:`embviz.quality.quality` runs them all.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Callable

import numpy as np

from embviz.search import top_k

if TYPE_CHECKING:
    from numpy.typing import NDArray

    from embviz.vectors import Vectors

#: Points sampled for hubness and TwoNN by default (all when the table is smaller).
DEFAULT_SAMPLE = 50_000
#: Cosine above which two rows count as near duplicates.
NEAR_DUPLICATE_COSINE = 0.9999
#: Share of the largest ``mu = r2 / r1`` TwoNN discards (Facco et al. 2017; scikit-dimension).
TWONN_DISCARD = 0.1
_BLOCK = 65_536
#: Query rows per kernel call in the kNN searches (hubness, TwoNN): a progress report after each.
_KNN_BLOCK = 4096

#: ``progress(done, total)`` of one stage, as the helpers below report it.
Step = Callable[[int, int], None]


# -- sampling and neighbors ---------------------------------------------------------------------
def sample_ids(vectors: Vectors, sample: int | None, seed: int = 0) -> NDArray[np.int64]:
    """Sorted ids of up to `sample` nonzero rows drawn without replacement (seeded); all if None."""
    ids = np.flatnonzero(vectors.norms > 0)
    if sample is not None and sample < len(ids):
        rng = np.random.default_rng(seed)
        ids = np.sort(rng.choice(ids, size=sample, replace=False))
    return ids.astype(np.int64)


def knn_ids(
    unit: NDArray[np.floating], k: int, *, progress: Step | None = None
) -> tuple[NDArray[np.int64], NDArray[np.float32]]:
    """Each row's `k` nearest other rows by cosine (exact, self excluded): ids and scores ``(n, k')``.

    `progress(done, total)` is called with the rows answered so far, block by block.
    """
    q = np.asarray(unit, dtype=np.float32)
    return _self_top_k(unit, q, k, progress=progress)


def _self_top_k(
    cand: NDArray[np.floating],
    q: NDArray[np.float32],
    k: int,
    *,
    row_norm: float = 1.0,
    progress: Step | None = None,
) -> tuple[NDArray[np.int64], NDArray[np.float32]]:
    """``top_k(cand, q, k)`` with row ``i`` of `cand` excluded for query ``i``, in blocks of queries.

    The kernel answers each query on its own (near-ties settled exactly), so blocks of
    ``_KNN_BLOCK`` queries give the same ids and scores as one call; `progress(done, total)`
    is called with the queries answered after each block.
    """
    m = len(q)
    if progress is not None:
        progress(0, m)
    ids, scores = [], []
    for lo in range(0, max(m, 1), _KNN_BLOCK):  # one call for no query: the empty answer
        hi = min(m, lo + _KNN_BLOCK)
        i, s = top_k(cand, q[lo:hi], k, exclude=[(j,) for j in range(lo, hi)], row_norm=row_norm)
        ids.append(i)
        scores.append(s)
        if progress is not None:
            progress(hi, m)
    return np.concatenate(ids), np.concatenate(scores)


# -- hubness --------------------------------------------------------------------------------------
def k_occurrence(neighbor_ids: NDArray[np.int64], n: int) -> NDArray[np.int64]:
    """``N_k``: how often each of `n` points occurs in the neighbor lists ``(n, k)``: int64 ``(n,)``."""
    return np.bincount(neighbor_ids.reshape(-1), minlength=n).astype(np.int64)


def skewness(x: NDArray) -> float:
    """Biased sample skewness ``m3 / m2**1.5`` (``scipy.stats.skew(x)``; 0 for constant `x`)."""
    x = np.asarray(x, dtype=np.float64)
    d = x - x.mean()
    m2 = np.mean(d * d)
    if m2 == 0:
        return 0.0
    return float(np.mean(d**3) / m2**1.5)


# -- isotropy -------------------------------------------------------------------------------------
def _moments(matrix: NDArray, rows: NDArray[np.int64] | None = None):
    """Sum, Gram matrix ``W^T W`` and row norms of `matrix` (float64, in row blocks)."""
    n, dim = matrix.shape
    ids = np.arange(n) if rows is None else rows
    total = np.zeros(dim)
    gram = np.zeros((dim, dim))
    for lo in range(0, len(ids), _BLOCK):
        block = np.asarray(matrix[ids[lo : lo + _BLOCK]], dtype=np.float64)
        total += block.sum(axis=0)
        gram += block.T @ block
    return total, gram, len(ids)


def isotropy(vectors: Vectors) -> tuple[float, float, float, float]:
    """Mean-norm ratio, PC1 and top-10 PC variance shares, partition-function ratio.

    Returns
    -------
    mean_norm_ratio : float
        ``||mean(w)|| / mean(||w||)`` over all rows, in [0, 1]; 0 when the vectors are centred.
    pc1_share, pc10_share : float
        Variance share of the first and of the first ``min(10, dim)`` principal components of
        the centred rows, in [0, 1] (``1 / dim`` and ``10 / dim`` for isotropic data).
    partition_ratio : float
        ``min_c Z(c) / max_c Z(c)`` of Mu and Viswanath (2018), in (0, 1]: ``c`` over the
        eigenvectors of ``W^T W`` and their negatives (the ratio does not depend on the signs
        an eigensolver picks), ``Z(c) = sum_w exp(c . w)`` over the raw rows.
    """
    total, gram, n = _moments(vectors.matrix)
    if n == 0:
        return (float("nan"),) * 4  # type: ignore[return-value]
    mean = total / n
    norms = np.asarray(vectors.norms, dtype=np.float64)
    mean_norm = norms.mean()
    ratio = float(np.linalg.norm(mean) / mean_norm) if mean_norm > 0 else 0.0
    cov = gram / n - np.outer(mean, mean)
    ev = np.clip(np.linalg.eigvalsh(cov)[::-1], 0, None)
    var = ev.sum()
    pc1 = float(ev[0] / var) if var > 0 else 0.0
    pc10 = float(ev[: min(10, len(ev))].sum() / var) if var > 0 else 0.0
    _, vecs = np.linalg.eigh(gram)
    dirs = np.concatenate([vecs, -vecs], axis=1)  # (dim, 2 dim)
    log_z = _log_partition(vectors.matrix, dirs)
    return ratio, pc1, pc10, float(np.exp(log_z.min() - log_z.max()))


def _log_partition(matrix: NDArray, dirs: NDArray[np.float64]) -> NDArray[np.float64]:
    """``log sum_w exp(w . c)`` for each column ``c`` of `dirs`, overflow-safe, in row blocks."""
    n = matrix.shape[0]
    shift = None
    acc = np.zeros(dirs.shape[1])
    # two passes: the maxima first (so exp never overflows), then the shifted sums
    for lo in range(0, n, _BLOCK):
        s = np.asarray(matrix[lo : lo + _BLOCK], dtype=np.float64) @ dirs
        m = s.max(axis=0)
        shift = m if shift is None else np.maximum(shift, m)
    for lo in range(0, n, _BLOCK):
        s = np.asarray(matrix[lo : lo + _BLOCK], dtype=np.float64) @ dirs
        acc += np.exp(s - shift).sum(axis=0)
    return np.log(acc) + shift


def _max_norm(rows: NDArray[np.float32]) -> float:
    """Return the largest row norm of `rows` ``(n, d)``, at least 1 (``top_k``'s ``row_norm``)."""
    if not len(rows):
        return 1.0
    return max(1.0, float(np.sqrt(np.einsum("ij,ij->i", rows, rows, dtype=np.float64).max())))


# -- intrinsic dimension ---------------------------------------------------------------------------
def two_nn_distances(points: NDArray, *, progress: Step | None = None) -> NDArray[np.float64]:
    """Each point's two nearest Euclidean distances to the other points: float64 ``(m, 2)``.

    Exact: the kernel's top 3 by ``x . y - ||y||^2 / 2`` (the same order as distance), then the
    distances of those 3 recomputed in float64 and the 2 smallest kept. `progress(done, total)`
    is called with the points searched so far.
    """
    x = np.asarray(points, dtype=np.float64)
    m = len(x)
    sq = np.einsum("ij,ij->i", x, x)
    cand = np.concatenate([x, -0.5 * sq[:, None]], axis=1).astype(np.float32)
    q = np.concatenate([x, np.ones((m, 1))], axis=1).astype(np.float32)
    # rows are not unit: the kernel's near-tie window scales with their largest norm
    ids, _ = _self_top_k(cand, q, min(3, m - 1), row_norm=_max_norm(cand), progress=progress)
    d = np.linalg.norm(x[ids] - x[:, None, :], axis=2)
    return np.sort(d, axis=1)[:, :2]


def twonn(points: NDArray, discard: float = TWONN_DISCARD, *, progress: Step | None = None) -> float:
    """TwoNN intrinsic dimension (Facco et al. 2017) of `points` ``(m, dim)``.

    ``mu = r2 / r1`` per point (points with ``r1 = 0``, exact duplicates, are dropped), sorted;
    the empirical ``F(mu_i) = i / N``; the largest `discard` share of ``mu`` dropped; the
    least-squares slope through the origin of ``-log(1 - F)`` on ``log(mu)``.

    `progress(done, total)` is called with the points whose two neighbors are found.

    Returns
    -------
    float
        The estimate, > 0; NaN with fewer than 3 usable points.
    """
    if len(points) < 3:
        return float("nan")
    r = two_nn_distances(points, progress=progress)
    r = r[r[:, 0] > 0]
    mu = np.sort(r[:, 1] / r[:, 0])
    n = len(mu)
    keep = int(np.floor(n * (1 - discard)))
    if keep < 2:
        return float("nan")
    f = np.arange(1, n + 1, dtype=np.float64) / n
    x = np.log(mu[:keep])
    y = -np.log(1 - f[:keep])
    den = float(x @ x)
    return float(x @ y / den) if den > 0 else float("nan")


# -- duplicates ------------------------------------------------------------------------------------
def exact_duplicates(matrix: NDArray) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """Rows equal to an earlier row: ``(dup_ids, first_ids)``, int64, dup_ids ascending.

    Zero rows are included (each later zero row duplicates the first one).
    """
    arr = np.ascontiguousarray(matrix)
    rows = arr.view(np.dtype((np.void, arr.dtype.itemsize * arr.shape[1]))).reshape(-1)
    _, first, inverse = np.unique(rows, return_index=True, return_inverse=True)
    owner = first[inverse.reshape(-1)]
    dup = np.flatnonzero(owner != np.arange(len(rows)))
    return dup.astype(np.int64), owner[dup].astype(np.int64)


def near_duplicates(
    unit: NDArray[np.floating],
    ids: NDArray[np.int64],
    threshold: float = NEAR_DUPLICATE_COSINE,
    *,
    seed: int = 0,
    dims: int = 4,
    batch: int = 4_000_000,
    progress: Step | None = None,
) -> tuple[NDArray[np.int64], NDArray[np.float32]]:
    """All pairs among rows `ids` of `unit` with cosine > `threshold`, exactly.

    Two unit rows with cosine > t are closer than ``eps = sqrt(2 - 2 t)``, so their
    projections on any orthonormal directions differ by less than ``eps`` in every coordinate:
    rows are binned into a grid of side ``eps`` over a seeded random ``dims``-D projection,
    and only rows in the same or adjacent cells are scored. `progress(done, total)` is called
    with the cell offsets done (``(3**dims + 1) / 2`` in all: 41 for 4-D).

    Returns
    -------
    pairs : ndarray ``(p, 2)`` int64
        Row ids ``(i, j)``, ``i < j``, sorted.
    scores : ndarray ``(p,)`` float32
        Their cosine similarities, > `threshold`.
    """
    ids = np.asarray(ids, dtype=np.int64)
    if len(ids) < 2:
        return np.empty((0, 2), dtype=np.int64), np.empty(0, dtype=np.float32)
    u = np.asarray(unit[ids], dtype=np.float32)
    g = min(dims, u.shape[1])
    rng = np.random.default_rng(seed)
    basis, _ = np.linalg.qr(rng.standard_normal((u.shape[1], g)))
    eps = math.sqrt(max(0.0, 2.0 - 2.0 * threshold)) * 1.001 + 1e-7
    cells = np.floor((u @ basis.astype(np.float32)) / eps).astype(np.int64)
    cells -= cells.min(axis=0) - 1
    base = int(cells.max()) + 2
    powers = base ** np.arange(g, dtype=np.int64)
    code = cells @ powers
    order = np.argsort(code, kind="stable")
    ucode, starts, counts = np.unique(code[order], return_index=True, return_counts=True)
    offsets = np.array(np.meshgrid(*[[-1, 0, 1]] * g, indexing="ij")).reshape(g, -1).T
    shifts = offsets @ powers
    forward = shifts[shifts >= 0].tolist()  # each unordered pair of cells once
    found_i, found_j, found_s = [], [], []
    if progress is not None:
        progress(0, len(forward))
    for step, shift in enumerate(forward, 1):
        tgt = np.searchsorted(ucode, ucode + shift)
        ok = tgt < len(ucode)
        ok[ok] = ucode[tgt[ok]] == ucode[ok] + shift
        src_cells = np.flatnonzero(ok)
        tgt_cells = tgt[ok]
        sizes = counts[src_cells] * counts[tgt_cells]
        cum = np.cumsum(sizes)
        lo = 0
        while lo < len(sizes):
            done = int(cum[lo - 1]) if lo else 0
            hi = max(lo + 1, int(np.searchsorted(cum, done + batch, side="right")))
            sc, tc, sz = src_cells[lo:hi], tgt_cells[lo:hi], sizes[lo:hi]
            lo = hi
            pc = np.repeat(np.arange(len(sz)), sz)
            within = np.arange(int(sz.sum())) - np.repeat(np.cumsum(sz) - sz, sz)
            nt = counts[tc][pc]
            a = starts[sc][pc] + within // nt
            b = starts[tc][pc] + within % nt
            if shift == 0:
                keep = a < b
                a, b = a[keep], b[keep]
            i, j = order[a], order[b]
            s = np.einsum("ij,ij->i", u[i], u[j])
            hit = s > threshold
            found_i.append(i[hit])
            found_j.append(j[hit])
            found_s.append(s[hit])
        if progress is not None:
            progress(step, len(forward))
    if not found_i:
        return np.empty((0, 2), dtype=np.int64), np.empty(0, dtype=np.float32)
    i, j, s = np.concatenate(found_i), np.concatenate(found_j), np.concatenate(found_s)
    pairs = np.sort(np.stack([ids[i], ids[j]], axis=1), axis=1)
    o = np.lexsort((pairs[:, 1], pairs[:, 0]))
    return pairs[o], s[o].astype(np.float32)


