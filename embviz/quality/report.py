"""The report of ``embviz quality``: :class:`Quality`, one record, and :func:`quality`, which fills it.

Each stage calls a measure of :mod:`embviz.quality.measures` and reports its progress.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable

import numpy as np

from embviz.errors import InvalidQuery

if TYPE_CHECKING:
    from numpy.typing import NDArray

    from embviz.vectors import Vectors

from embviz.quality.measures import (
    DEFAULT_SAMPLE,
    Step,
    exact_duplicates,
    isotropy,
    k_occurrence,
    knn_ids,
    near_duplicates,
    sample_ids,
    skewness,
    twonn,
)


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


