"""Maps that label themselves: regions of a 2-D layout, named by their most representative keys.

A map of 40,000 words labelled by its 100 most frequent keys shows "the", "of", "said" piled
in the middle and nothing that says what a region is about. DataMapPlot (Tutte Institute)
and Embedding Atlas name regions instead: clusters of the layout, a label at each cluster's
densest point, finer labels as the user zooms in. :func:`regions` does that in two levels:

- **Clusters of the layout**: k-means on the 2-D coordinates (scikit-learn ``KMeans``,
  fitted on at most 20,000 seeded points, every point then given its nearest centre),
  ``count`` coarse regions and ``4 count`` fine ones. k-means rather than HDBSCAN: every
  point belongs to a region (HDBSCAN leaves "noise" unlabelled, often half of a UMAP map of
  words), it is seeded and deterministic, and it is fast on 400,000 points.
- **Names**: each region's most representative keys, the members nearest the region's
  centroid in the original space once the mean vector is removed
  (:func:`embviz.viz.coloring.cluster_terms`): without removing it, the most frequent keys
  sit near every centroid (Mu & Viswanath 2018) and every region is "the, of, and".
  Punctuation never names a region while a word can, and only a region's 1,000 most frequent
  points are candidates (on 400,000 GloVe keys the nearest to a centroid are otherwise rare
  words few readers know).
- **Place**: the region's densest point: the centre of the fullest cell of a 16 x 16 grid
  over the middle 90% of the region's points, moved to the member nearest it (so a label
  always sits on points, never in an empty gap between two lobes of a region).

The page (``explorer.js``) shows the coarse names at full view and the fine ones once the
view is zoomed in by an area factor of :data:`FINE_ZOOM` or more, each name drawn only when it
fits inside the plot without overlapping another; the point labels (``--labels``) keep clear
of them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Sequence

import numpy as np

from embviz.errors import InvalidQuery, require
from embviz.viz.coloring import centred_rows, cluster_terms

if TYPE_CHECKING:
    from numpy.typing import NDArray

    from embviz.io.meta import Meta
    from embviz.vectors import Vectors
    from embviz.viz.projection import Projection

#: Coarse regions of a map by default (``embviz plot --regions``).
DEFAULT_REGIONS = 12
#: Fine regions per coarse region.
FINE_PER_COARSE = 4
#: Fewest points a region is made of: smaller maps get fewer regions (none below 2).
MIN_POINTS = 40
#: The page shows the fine names once the view covers 1/FINE_ZOOM of the full map's area.
FINE_ZOOM = 4
#: A region is named by some of its this many most frequent points (keys a reader knows).
CANDIDATES = 1000
#: Points k-means is fitted on (the rest go to their nearest centre).
FIT_SAMPLE = 20_000
#: Keys per name (coarse, fine), and the characters kept of each.
TERMS = (3, 2)
TERM_CHARS = 24
#: Characters of a whole name: its keys are named in order while they fit (at least one), so a
#: region of long titles is not named across half the map.
NAME_CHARS = 40


@dataclass(frozen=True, slots=True)
class Region:
    """One named region of a layout.

    ``level`` (0 coarse, 1 fine), ``x``, ``y`` (its densest point, layout coordinates),
    ``name`` (``"apple, banana, pear"``) and ``size`` (points).
    """

    level: int
    x: float
    y: float
    name: str
    size: int


def regions(
    coords: NDArray[np.floating],
    ids: NDArray[np.integer],
    names: Sequence[str],
    *,
    unit: NDArray[np.floating] | None = None,
    count: int = DEFAULT_REGIONS,
    seed: int = 0,
) -> list[Region]:
    """Cluster a 2-D layout into named regions at two levels (see the module docstring).

    Parameters
    ----------
    coords : ndarray ``(m, 2)`` float
        The layout.
    ids : ndarray ``(m,)`` int
        The points' row ids (lower = more frequent; breaks ties among representative keys).
    names : sequence of str ``(m,)``
        The text that names a point: its key, or its title when the map shows metadata.
    unit : ndarray ``(m, dim)`` float, optional
        The points' unit rows: names are then the keys nearest each region's mean-removed
        centroid; without them, the most frequent keys.
    count : int
        Coarse regions, >= 0 (0: none); fewer when the map has under ``count * 40`` points.
    seed : int
        Seeds k-means.

    Returns
    -------
    list of Region
        Coarse regions (level 0, largest first), then fine ones (level 1).

    Raises
    ------
    InvalidQuery
        If `count` < 0 or `coords` is not 2-D.
    """
    if count < 0:
        raise InvalidQuery(f"--regions must be >= 0, got {count}")
    coords = np.asarray(coords, dtype=np.float64)
    if coords.ndim != 2 or coords.shape[1] != 2:
        raise InvalidQuery("regions are named on a 2-D layout")
    m = len(coords)
    coarse = min(count, m // MIN_POINTS)
    if coarse < 2:
        return []
    fine = min(coarse * FINE_PER_COARSE, m // MIN_POINTS)
    names = [str(x) for x in names]
    prepared = centred_rows(unit) if unit is not None and len(unit) == m else None
    out: list[Region] = []
    for level, k in ((0, coarse), (1, fine)):
        labels = _layout_clusters(coords, k, seed)
        terms = cluster_terms(labels, ids, names, TERMS[level], centred=prepared, candidates=CANDIDATES)
        for c in range(k):
            members = np.flatnonzero(labels == c)
            if not len(members):
                continue
            at = members[_densest(coords[members])]
            text = _name(terms[c])
            out.append(Region(level, float(coords[at, 0]), float(coords[at, 1]), text, len(members)))
    return out


def projection_regions(vectors: Vectors, projection: Projection, count: int = DEFAULT_REGIONS, *,
                       seed: int | None = None, meta: Meta | None = None,
                       show: Sequence[str] | None = None) -> list[Region]:
    """Name the regions of a drawn projection; none for a 3-D one or `count` 0.

    A region is named by its points' keys, or, where the map shows metadata (`meta` and a
    non-empty `show`), by the first shown column (a title), as the point labels are. Raises
    as :func:`regions`.
    """
    if count == 0 or projection.coords.shape[1] != 2:
        return []
    names = list(projection.keys)
    if meta is not None and show:
        column = meta.align(names, [show[0]])[show[0]]
        names = [key if v is None else str(v) for key, v in zip(names, column)]
    unit = np.asarray(vectors.unit[projection.ids], dtype=np.float32)
    return regions(projection.coords, projection.ids, names, unit=unit, count=count, seed=seed or 0)


def _layout_clusters(coords: NDArray[np.float64], k: int, seed: int) -> NDArray[np.int64]:
    """k-means labels ``(m,)`` of a 2-D layout, numbered by decreasing size.

    Fitted on at most :data:`FIT_SAMPLE` seeded points (k-means in 2-D needs few: 20,000
    points place 48 centres as well as 400,000 do), then every point goes to its nearest
    centre: well under a second for 400,000 points.
    """
    cluster = require("sklearn.cluster", package="scikit-learn")
    m = len(coords)
    rng = np.random.default_rng(seed)
    fit = coords if m <= FIT_SAMPLE else coords[np.sort(rng.choice(m, FIT_SAMPLE, replace=False))]
    model = cluster.KMeans(n_clusters=k, random_state=seed, n_init=3).fit(fit.astype(np.float32))
    centres = model.cluster_centers_.astype(np.float64)
    labels = np.empty(m, dtype=np.int64)
    for lo in range(0, m, 65_536):  # nearest centre, block by block
        block = coords[lo : lo + 65_536]
        d = (block**2).sum(axis=1)[:, None] - 2 * block @ centres.T + (centres**2).sum(axis=1)[None, :]
        labels[lo : lo + len(block)] = np.argmin(d, axis=1)
    order = np.argsort(-np.bincount(labels, minlength=k), kind="stable")
    remap = np.empty(k, dtype=np.int64)
    remap[order] = np.arange(k)
    return remap[labels]


def _densest(points: NDArray[np.float64], bins: int = 16) -> int:
    """Index (into `points` ``(n, 2)``) of the point nearest the centre of the fullest grid cell."""
    lo = np.quantile(points, 0.05, axis=0)
    hi = np.quantile(points, 0.95, axis=0)
    span = np.where(hi > lo, hi - lo, 1.0)
    cell = np.clip(((points - lo) / span * bins).astype(np.int64), 0, bins - 1)
    counts = np.bincount(cell[:, 0] * bins + cell[:, 1], minlength=bins * bins)
    best = int(np.argmax(counts))
    centre = lo + (np.array([best // bins, best % bins]) + 0.5) / bins * span
    return int(np.argmin(np.sum((points - centre) ** 2, axis=1)))


def _name(terms: list[str]) -> str:
    """Join the cut `terms` with ", " while the name stays within :data:`NAME_CHARS` (the first always)."""
    parts: list[str] = []
    for t in terms:
        t = _short(t)
        if parts and len(", ".join([*parts, t])) > NAME_CHARS:
            break
        parts.append(t)
    return ", ".join(parts)


def _short(term: str) -> str:
    """`term` cut to :data:`TERM_CHARS` characters (an ellipsis marks the cut)."""
    return term if len(term) <= TERM_CHARS else term[: TERM_CHARS - 1].rstrip() + "\u2026"
