"""The one scoring kernel every query shares: blocked scores, exclusions, exact top-k selection.

A block of query vectors times the unit matrix (one BLAS matrix product per column chunk), the
query's own keys excluded, then an exact top-k selection. :func:`top_k` is here; the two halves
it joins are modules of their own, and every name of both is re-exported here:
:mod:`embviz.search.scorers` (how a score is computed: :class:`_Cosine`, cosine similarity for
unit queries; :class:`_CosMul`, 3CosMul, Levy & Goldberg 2014, as gensim
``most_similar_cosmul``; :class:`_Euclidean`; :class:`_Given`, precomputed scores; exact dot
products, float16 rows, and the threads that score) and :mod:`embviz.search.selection` (which
rows win: ``_select`` and its two-stage top-k). Both the batched queries
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

The tunables and helpers (``_BLOCK_CELLS``, ``_SAMPLE_GROUPS``, ``_cores`` ...) are read in the
module that defines them: a test that patches one patches it there, not here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Iterable, Sequence

# Re-exported: queries, bound, metric, similar, recommender, Spark, tests and benchmarks import
# these from the kernel.
from embviz.search import scorers as _scorers
from embviz.search.scorers import (  # noqa: F401
    _EXACT_CELLS,
    _F16_FEW,
    _F16_ROWS,
    _GATHER_PAIRS,
    _HALF_QUERY_MAX,
    _HALF_SCALE,
    _U32,
    COSMUL_EPSILON,
    _cores,
    _Cosine,
    _CosMul,
    _Euclidean,
    _Given,
    _one_blas_thread,
    _pool,
    cosadd_queries,
    exact_dots,
    half_bits_scaled,
    half_to_float,
    rounding_bound,
    thread_cap,
)
from embviz.search.selection import (  # noqa: F401
    _BLOCK_CELLS,
    _CHUNK_COLS,
    _CLASS_WIDTH,
    _GROUP,
    _NONE,
    _QUERY_BLOCK,
    _SAMPLE_GROUPS,
    _WHOLE_CELLS,
    _at_least,
    _column_classes,
    _in_range_all,
    _kept_groups,
    _one_block,
    _select,
    _select_blocks,
    _select_threads,
    _settle_top,
    _top_grouped,
    _top_of,
    _top_rows,
    prepare,
)

if TYPE_CHECKING:
    import numpy as np
    from numpy.typing import NDArray


def __getattr__(name: str) -> Any:
    """Read the scorers' thread state (``_THREAD_CAP``, ``_POOL``) where it lives: a copy would go stale."""
    if name in ("_THREAD_CAP", "_POOL"):
        return getattr(_scorers, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


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
