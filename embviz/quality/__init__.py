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

The measures are in :mod:`embviz.quality.measures`, the report in :mod:`embviz.quality.report`
and the post-processing in :mod:`embviz.quality.postprocess`; every name is importable from
``embviz.quality``.
"""

from embviz.quality.measures import (
    _BLOCK,  # noqa: F401 - read by tests and benchmarks
    _KNN_BLOCK,  # noqa: F401
    DEFAULT_SAMPLE,
    NEAR_DUPLICATE_COSINE,
    TWONN_DISCARD,
    Step,
    _max_norm,  # noqa: F401
    exact_duplicates,
    isotropy,
    k_occurrence,
    knn_ids,
    near_duplicates,
    sample_ids,
    skewness,
    two_nn_distances,
    twonn,
)
from embviz.quality.postprocess import abtt, csls_neighbors, csls_radius, default_abtt_d
from embviz.quality.report import Quality, quality, spearman

__all__ = [
    "DEFAULT_SAMPLE", "NEAR_DUPLICATE_COSINE", "TWONN_DISCARD", "Quality", "Step", "abtt",
    "csls_neighbors", "csls_radius", "default_abtt_d", "exact_duplicates", "isotropy",
    "k_occurrence", "knn_ids", "near_duplicates", "quality", "sample_ids", "skewness",
    "spearman", "two_nn_distances", "twonn",
]
