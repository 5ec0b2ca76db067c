"""Is this table healthy? Hubness, isotropy, intrinsic dimension, duplicates; ABTT and CSLS.

Diagnostics (:func:`quality` returns them all as one :class:`Quality` record):

- **hubness** (Radovanović, Nanopoulos and Ivanović 2010): the k-occurrence ``N_k(x)``, how
  many points have ``x`` among their k nearest neighbors (cosine, the point itself excluded),
  over a seeded sample; its skewness as scikit-hubness defines it (``scipy.stats.skew`` of
  ``N_k``, the biased moment ratio ``m3 / m2**1.5``), the top hubs and the share of anti-hubs
  (``N_k = 0``).
- **isotropy** (Mu and Viswanath 2018, "All-but-the-top"): the norm of the mean vector over
  the mean norm; the variance share of the top principal components; and the partition
  function ratio ``min_c Z(c) / max_c Z(c)``, ``Z(c) = sum_w exp(c . w)``, with ``c`` over the
  eigenvectors of ``W^T W`` and their negatives (1 is isotropic).
- **intrinsic dimension** by TwoNN (Facco, d'Errico, Rodriguez and Laio 2017): the ratio
  ``mu = r2 / r1`` of each sampled point's two nearest Euclidean distances; the slope through
  the origin of ``-log(1 - F(mu))`` against ``log(mu)``, the largest 10% of ``mu`` discarded
  (as scikit-dimension's ``TwoNN``).
- **norms vs frequency rank** (Spearman), zero rows, exact duplicate rows, and near-duplicate
  pairs (cosine > 0.9999), found exactly with a grid over a random 4-D projection.

Post-processing: :func:`abtt` (all-but-the-top: subtract the mean, remove the top D principal
directions) and CSLS neighbors (:func:`csls_neighbors`, Conneau et al. 2018).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, Sequence

import numpy as np

from embviz.errors import InvalidQuery
from embviz.search import queries as _queries
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


@dataclass(frozen=True, slots=True)
class Quality:
    """What ``embviz quality`` prints (one record). Ratios and shares are in [0, 1]."""

    count: int
    dim: int
    sample: int
    k: int
    hub_skewness: float
    hub_max_k_occurrence: int
    antihub_share: float
    top_hubs: str
    mean_norm_ratio: float
    pc1_variance_share: float
    pc10_variance_share: float
    partition_ratio: float
    intrinsic_dim_twonn: float
    norm_rank_spearman: float
    zero_rows: int
    duplicate_rows: int
    near_duplicate_pairs: int
    near_duplicate_examples: str


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


# -- the report ------------------------------------------------------------------------------------
def quality(
    vectors: Vectors,
    *,
    k: int = 10,
    sample: int | None = DEFAULT_SAMPLE,
    seed: int = 0,
    hubs: int = 10,
    progress: Callable[[str, int, int | None], None] | None = None,
) -> Quality:
    """Diagnose `vectors`: hubness, isotropy, TwoNN intrinsic dimension, norms, duplicates.

    Parameters
    ----------
    vectors : Vectors
    k : int
        Neighbors per point for the k-occurrence ``N_k``, >= 1 (default 10).
    sample : int or None
        Nonzero rows drawn (seeded) for hubness and TwoNN, whose neighbors are searched within
        the sample; None uses every nonzero row (exact search costs ``n^2 dim``). Default
        50,000. Isotropy, norms and duplicates always use every row.
    seed : int
        Seed of the sample and of the near-duplicate grid's projection.
    hubs : int
        Top hubs listed.
    progress : callable ``(stage, done, total)``, optional
        Called as work advances; `stage` is a short text, in this order:
        ``"hubness: K nearest neighbors"`` (`done` of `total` sampled points searched),
        ``"isotropy"``, ``"TwoNN intrinsic dimension"`` (points searched),
        ``"norms vs rank"``, ``"exact duplicates"``, ``"near duplicates"`` (grid cell
        offsets scanned, 41 in all). `total` is None for a stage that only reports its start.
        The results do not depend on it.

    Returns
    -------
    Quality

    Raises
    ------
    InvalidQuery
        If ``k < 1`` or ``sample < 2``.
    """
    if k < 1:
        raise InvalidQuery(f"k must be at least 1, got {k}")
    if sample is not None and sample < 2:
        raise InvalidQuery(f"sample must be at least 2, got {sample}")
    report = progress or _no_progress
    ids = sample_ids(vectors, sample, seed)
    unit = np.asarray(vectors.unit[ids], dtype=np.float32)
    if len(ids) >= 2:
        nbr, _ = knn_ids(unit, k, progress=_stage(report, f"hubness: {k} nearest neighbors"))
        occ = k_occurrence(nbr, len(ids))
        kk = nbr.shape[1]
        top = np.lexsort((ids, -occ))[:hubs]
        top_hubs = ", ".join(f"{vectors.keys[ids[t]]} ({occ[t]})" for t in top.tolist())
        skew, antihub, occ_max = skewness(occ), float(np.mean(occ == 0)), int(occ.max())
    else:
        kk, top_hubs, skew, antihub, occ_max = 0, "", float("nan"), float("nan"), 0
    report("isotropy", 0, None)
    ratio, pc1, pc10, part = isotropy(vectors)
    twonn_step = _stage(report, "TwoNN intrinsic dimension")
    dim_id = twonn(np.asarray(vectors.matrix[ids], dtype=np.float64), progress=twonn_step)
    report("norms vs rank", 0, None)
    norms = np.asarray(vectors.norms, dtype=np.float64)
    rho = spearman(norms, np.arange(len(norms), dtype=np.float64))
    report("exact duplicates", 0, None)
    dup, _ = exact_duplicates(vectors.matrix)
    zero = int((norms == 0).sum())
    nonzero_dups = int((norms[dup] > 0).sum())
    candidates = np.setdiff1d(np.flatnonzero(norms > 0), dup)
    near_step = _stage(report, "near duplicates")
    pairs, scores = near_duplicates(vectors.unit, candidates, seed=seed, progress=near_step)
    examples = ", ".join(
        f"{vectors.keys[a]}~{vectors.keys[b]}" for a, b in pairs[np.argsort(-scores, kind="stable")][:5].tolist()
    )
    return Quality(
        count=vectors.count,
        dim=vectors.dim,
        sample=len(ids),
        k=kk,
        hub_skewness=skew,
        hub_max_k_occurrence=occ_max,
        antihub_share=antihub,
        top_hubs=top_hubs,
        mean_norm_ratio=ratio,
        pc1_variance_share=pc1,
        pc10_variance_share=pc10,
        partition_ratio=part,
        intrinsic_dim_twonn=dim_id,
        norm_rank_spearman=rho,
        zero_rows=zero,
        duplicate_rows=nonzero_dups,
        near_duplicate_pairs=len(pairs),
        near_duplicate_examples=examples,
    )


def _no_progress(stage: str, done: int, total: int | None) -> None:
    return None


def _stage(report: Callable[[str, int, int | None], None], stage: str) -> Step:
    """Return the ``progress(done, total)`` of one stage, reported as ``report(stage, done, total)``."""
    return lambda done, total: report(stage, done, total)


def spearman(x: NDArray, y: NDArray) -> float:
    """Spearman rank correlation of `x` and `y` (``scipy.stats.spearmanr``), in [-1, 1]."""
    from scipy.stats import spearmanr

    if len(x) < 2:
        return float("nan")
    return float(spearmanr(x, y).statistic)


# -- post-processing -------------------------------------------------------------------------------
def default_abtt_d(dim: int) -> int:
    """All-but-the-top's default D: ``ceil(dim / 100)`` (Mu and Viswanath 2018)."""
    return max(1, math.ceil(dim / 100))


def abtt(vectors: Vectors, d: int | None = None) -> Vectors:
    """All-but-the-top (Mu and Viswanath 2018): subtract the mean, remove the top `d` directions.

    ``w' = (w - mean) - sum_i (u_i . (w - mean)) u_i`` with ``u_1..u_d`` the top principal
    directions of the centred rows. Mean and directions are fitted on the nonzero rows; zero
    rows (placeholders for unknown keys) stay zero.

    Parameters
    ----------
    vectors : Vectors
    d : int, optional
        Directions removed, ``0 <= d < dim``; default ``ceil(dim / 100)``.

    Returns
    -------
    Vectors
        A new float32 table with the same keys; ``source`` gains ``" (abtt:D)"``.

    Raises
    ------
    InvalidQuery
        If `d` is outside ``[0, dim)``.
    """
    d = default_abtt_d(vectors.dim) if d is None else int(d)
    if not 0 <= d < vectors.dim:
        raise InvalidQuery(f"abtt: D must be between 0 and {vectors.dim - 1} (dim - 1), got {d}")
    norms = vectors.norms
    rows = np.flatnonzero(norms > 0)
    total, gram, n = _moments(vectors.matrix, rows)
    mean = total / max(n, 1)
    cov = gram / max(n, 1) - np.outer(mean, mean)
    _, vecs = np.linalg.eigh(cov)
    top = vecs[:, ::-1][:, :d]  # (dim, d)
    out = np.empty((vectors.count, vectors.dim), dtype=np.float32)
    for lo in range(0, vectors.count, _BLOCK):
        block = np.asarray(vectors.matrix[lo : lo + _BLOCK], dtype=np.float64) - mean
        block -= (block @ top) @ top.T
        block[norms[lo : lo + _BLOCK] == 0] = 0
        out[lo : lo + len(block)] = block
    source = f"{vectors.source} (abtt:{d})" if vectors.source else f"abtt:{d}"
    kti = vectors.__dict__.get("key_to_index")
    return type(vectors)(vectors.keys, out, source=source, key_to_index=kti, unique=True)


def csls_radius(unit: NDArray[np.floating], k: int = 10, restrict: int | None = None) -> NDArray[np.float32]:
    """Each candidate's mean cosine to its `k` nearest other candidates (CSLS's ``r``).

    Parameters
    ----------
    unit : ndarray ``(n, dim)``
        Unit rows.
    k : int
        Neighborhood size, >= 1 (Conneau et al. 2018 use 10).
    restrict : int, optional
        Only the first `restrict` rows are candidates (and get a radius).

    Returns
    -------
    ndarray ``(n',)`` float32
        In [-1, 1]; ``n' = min(n, restrict)``. Exact search: ``n'^2 dim`` multiply-adds.
    """
    n = unit.shape[0] if restrict is None else min(restrict, unit.shape[0])
    _, s = knn_ids(unit[:n], k)
    return s.mean(axis=1, dtype=np.float64).astype(np.float32) if s.shape[1] else np.zeros(n, np.float32)


def csls_neighbors(
    vectors: Vectors,
    queries: str | Sequence[str],
    k: int = 10,
    *,
    csls_k: int = 10,
    restrict: int | None = None,
    skip_missing: bool = False,
    radius: NDArray[np.float32] | None = None,
) -> list[_queries.Neighbor]:
    """Nearest neighbors by CSLS (cross-domain similarity local scaling; Conneau et al. 2018).

    ``csls(q, y) = 2 cos(q, y) - r(q) - r(y)``, ``r(x)`` the mean cosine of ``x`` to its
    `csls_k` nearest candidates (the query's own keys excluded). Points in dense regions (hubs)
    are penalised, which reduces hubness in the neighbor lists. Queries are keys or
    expressions, as :func:`embviz.search.neighbors`, whose validation and errors apply.

    Parameters
    ----------
    radius : ndarray ``(n,)`` float32, optional
        Every candidate's ``r`` precomputed by :func:`csls_radius` with the same `csls_k` and
        `restrict` (the CLI caches it: it is a kNN graph of the whole table); None computes it.

    Returns
    -------
    list of Neighbor
        `k` rows per query, best first; ``score`` is the CSLS score, in [-4, 4] (2 cos minus
        two radii; for a key and itself it would be ``2 - 2 r``).

    Raises
    ------
    KeyNotFound, InvalidQuery
        As :func:`embviz.search.neighbors`; also if ``csls_k < 1``.
    """
    if csls_k < 1:
        raise InvalidQuery(f"csls k must be at least 1, got {csls_k}")
    if isinstance(queries, str):
        queries = [queries]
    base = _queries.neighbors(vectors, queries, k=csls_k, restrict=restrict, skip_missing=skip_missing)
    if not base:
        return []
    texts = list(dict.fromkeys(r.query for r in base))
    r_q = {t: float(np.mean([r.score for r in base if r.query == t])) for t in texts}
    unit = vectors.unit
    n = unit.shape[0] if restrict is None else min(restrict, unit.shape[0])
    r_y = csls_radius(unit, csls_k, restrict) if radius is None else np.asarray(radius, np.float32)[:n]
    exprs = [_queries.as_expression(vectors, t) for t in texts]
    q = np.stack([_queries.expression_vector(vectors, e) for e in exprs])
    q /= np.linalg.norm(q, axis=1, keepdims=True)
    cand = np.concatenate([np.asarray(unit[:n], dtype=np.float32), r_y[:, None]], axis=1)
    aug = np.concatenate([2 * q, -np.ones((len(q), 1), dtype=np.float32)], axis=1)
    ids, scores = top_k(
        cand, aug.astype(np.float32), k,
        exclude=[vectors.indices([key for key in e.keys if key in vectors]) for e in exprs],  # OOV: not a row
        row_norm=_max_norm(cand),  # rows (unit row, radius) have norms up to sqrt(2)
    )
    return [
        _queries.Neighbor(t, rank + 1, vectors.keys[i], float(s) - r_q[t])
        for t, row_ids, row_scores in zip(texts, ids, scores)
        for rank, (i, s) in enumerate(zip(row_ids.tolist(), row_scores.tolist()))
    ]
