"""Views of a lookup table: which points, where (PCA / UMAP / t-SNE, formula axes), and the page.

- :mod:`~embviz.viz.selection`: which rows to draw (top, keys, sample, around).
- :mod:`~embviz.viz.projection`: PCA, UMAP and t-SNE layouts, cached on disk
  (:mod:`~embviz.viz.layout_cache`); :mod:`~embviz.viz.trust` scores a layout (recall@k).
- :mod:`~embviz.viz.formula`: formula axes (cosine to expression vectors).
- :mod:`~embviz.viz.coloring`, :mod:`~embviz.viz.figure`, :mod:`~embviz.viz.page`: colours,
  the plotly.js figure and the one-file HTML page; :mod:`~embviz.viz.explorer`: the page's
  explorer data (exact neighbor lists, density, the JSON payload) and its one JS asset.

plotly, umap-learn and scikit-learn are imported inside the functions that need them.
"""

from __future__ import annotations

from embviz.viz.coloring import MAX_CATEGORIES, Coloring, cluster_names, kmeans, read_metadata
from embviz.viz.explorer import Comparison, NeighborLists, neighbor_lists
from embviz.viz.figure import WEBGL_MIN, escape, figure, provenance
from embviz.viz.formula import formula_coords, formula_projection
from embviz.viz.page import to_html, write_html
from embviz.viz.projection import (
    EXACT_KNN_MAX,
    METHODS,
    Projection,
    exact_knn,
    params_for,
    pca,
    project,
)
from embviz.viz.selection import DEFAULT_TOP, Selection, select
from embviz.viz.trust import RECALL_SAMPLE, neighbor_recall

__all__ = [
    "DEFAULT_TOP",
    "EXACT_KNN_MAX",
    "MAX_CATEGORIES",
    "METHODS",
    "RECALL_SAMPLE",
    "WEBGL_MIN",
    "Coloring",
    "Comparison",
    "NeighborLists",
    "Projection",
    "Selection",
    "cluster_names",
    "escape",
    "exact_knn",
    "figure",
    "formula_coords",
    "formula_projection",
    "kmeans",
    "neighbor_lists",
    "neighbor_recall",
    "params_for",
    "pca",
    "project",
    "provenance",
    "read_metadata",
    "select",
    "to_html",
    "write_html",
]
