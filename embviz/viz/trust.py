"""How far to trust a layout: recall@k of each point's cosine neighbors among its layout neighbors."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from numpy.typing import NDArray


#: Points whose neighbors are checked by :func:`neighbor_recall` on big sets.
RECALL_SAMPLE = 1_000


def neighbor_recall(
    unit: NDArray[np.float32],
    coords: NDArray[np.floating],
    k: int = 10,
    *,
    sample: int = RECALL_SAMPLE,
    seed: int = 0,
) -> float:
    """recall@k of cosine neighbors among layout neighbors, averaged over points.

    For each point (a uniform sample of `sample` points on big sets), the fraction of its `k`
    nearest other points by cosine similarity in the original space that are also among its
    `k` nearest other points by Euclidean distance in the layout.

    Parameters
    ----------
    unit : ndarray ``(m, dim)`` float32
        Unit rows of the projected points.
    coords : ndarray ``(m, d)``
        Their layout.
    k : int
        Neighbors compared, >= 1 (lowered to ``m - 1``).
    sample : int
        Points checked; all points if ``m <= sample``.
    seed : int
        Seed of the sample.

    Returns
    -------
    float
        In [0, 1]; 1.0 when the layout keeps every neighbor. 1.0 for fewer than 2 points.
    """
    from embviz import search

    m = len(unit)
    k = min(k, m - 1)
    if k < 1:
        return 1.0
    if m > sample:
        probe = np.sort(np.random.default_rng(seed).choice(m, size=sample, replace=False))
    else:
        probe = np.arange(m)
    excl = [(int(i),) for i in probe]
    orig, _ = search.top_k(unit, np.ascontiguousarray(unit[probe]), k, exclude=excl)
    from scipy.spatial import cKDTree

    c = np.asarray(coords, dtype=np.float64)
    # k + 1 nearest layout points (the point itself among them, unless duplicates tie with it)
    _, near = cKDTree(c).query(c[probe], k=min(k + 1, m))
    hits = 0
    for p, a, b in zip(probe.tolist(), orig, near):
        b = b[b != p][:k]
        hits += len(np.intersect1d(a, b, assume_unique=True))
    return hits / (len(probe) * k)


