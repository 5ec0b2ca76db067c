"""An index's search depth chosen by measured recall, on the table's own sample keys.

The search depth of an approximate index (IVF ``nprobe``: the k-means cells searched; HNSW
``ef_search``: the candidate list of the graph search) trades recall for speed, and the
trade depends on the data: on GloVe, IVF needs one cell in 16 for recall@10 0.95, on
well-separated clusters one or two cells reach 1.0, and on overlapping clusters of unequal
size 8 cells gave 0.605. So :func:`tune_depth` measures instead of assuming: recall@k against
exact search on the seeded sample keys :meth:`embviz.search.index.Index.recall` uses (each
query excluding its own row), at each depth of a ladder, and keeps the first that reaches the
target. The exact answer of the sample is computed once (:func:`sample_truth`) and reused at
every depth (:func:`recall_on`). Re-exported by :mod:`embviz.search.index`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, NamedTuple

import numpy as np

from embviz.errors import InvalidQuery
from embviz.search.index_build import RECALL_K, RECALL_SAMPLE, RECALL_SEED, release_rows
from embviz.search.kernel import top_k
from embviz.search.metric import top_k_by
from embviz.vectors import RowIds, Vectors

if TYPE_CHECKING:
    from numpy.typing import NDArray

    from embviz.search.index import Index

#: recall@k the command line asks of a new index's search depth (``--target-recall``).
DEFAULT_TARGET = 0.95
#: HNSW ``ef_search`` values tried, shallowest first (each at least k): steps of about 1.4x,
#: since a doubling overshoots (on GloVe 6B 50d, 0.953 at 32 is 1.8x the speed of 64).
EF_SEARCH_LADDER = (16, 24, 32, 48, 64, 96, 128, 192, 256, 384, 512, 768, 1024)
#: Timed calls of each search at the chosen depth (after one untimed call); the median counts.
TIMING_REPEATS = 3
#: Below this many sample queries the speeds are reported but not compared (too short to time).
TIMING_MIN_QUERIES = 1000
#: The search-depth parameter of each method that has one.
DEPTH = {"ivf": "nprobe", "hnsw": "ef_search"}


class SampleTruth(NamedTuple):
    """The sample queries of a recall measurement and their exact answers (computed once).

    ``rows`` (s,) int64 sampled row ids; ``queries`` ``(s, dim)`` float32 (those rows);
    ``exclude`` each query's own row; ``exact`` ``(s, k')`` int64 exact top-k ids; ``k``.
    """

    rows: NDArray[np.int64]
    queries: NDArray[np.float32]
    exclude: list[list[int]]
    exact: NDArray[np.int64]
    k: int


@dataclass(frozen=True, slots=True)
class DepthChoice:
    """The search depth :func:`tune_depth` chose, and why.

    Attributes: ``name`` (``"nprobe"`` or ``"ef_search"``), ``depth`` (the value chosen, now
    the index's stored default), ``recall`` (recall@k at that depth, in [0, 1]), ``target``,
    ``reached`` (whether some depth reached the target; if not, ``depth`` is the deepest
    tried), ``tried`` (``(depth, recall)`` pairs, shallowest first), ``k``, ``queries``
    (sample keys), ``qps`` and ``exact_qps`` (queries per second of the index at ``depth``
    and of exact search, on the sample queries; None when not timed).
    """

    name: str
    depth: int
    recall: float
    target: float
    reached: bool
    tried: tuple[tuple[int, float], ...]
    k: int
    queries: int
    qps: float | None = None
    exact_qps: float | None = None

    @property
    def best(self) -> float:
        """The highest recall measured on the ladder."""
        return max(r for _, r in self.tried)

    @property
    def faster(self) -> bool | None:
        """Whether the index beat exact search on the sample; None if not timed or too few queries."""
        if self.qps is None or self.exact_qps is None or self.queries < TIMING_MIN_QUERIES:
            return None
        return self.qps > self.exact_qps


def sample_rows(unit: NDArray[np.floating], sample: int, seed: int) -> NDArray[np.int64]:
    """`sample` seeded row ids (sorted) among the rows of `unit` ``(n, dim)`` that are not all zeros."""
    n = unit.shape[0]
    rng = np.random.default_rng(seed)
    rows = np.sort(rng.choice(n, size=min(sample, n), replace=False)).astype(np.int64)
    nonzero = np.any(np.asarray(unit[rows]) != 0, axis=1)
    return rows[nonzero]


def sample_truth(
    index: Index,
    unit: NDArray[np.floating] | None = None,
    *,
    k: int = RECALL_K,
    sample: int = RECALL_SAMPLE,
    seed: int = RECALL_SEED,
) -> SampleTruth:
    """Draw the sample queries of a recall measurement and answer them exactly, once.

    `unit` ``(n, dim)`` is the rows `index` was built over (default ``index.unit``); the
    queries are ``min(sample, n)`` of them drawn by ``numpy.random.default_rng(seed)``
    (all-zero rows dropped), each excluding its own row (:func:`truth_over`, in the index's
    metric).

    Raises
    ------
    InvalidQuery
        If neither `unit` nor ``index.unit`` is given.
    """
    unit = index.unit if unit is None else unit
    if unit is None:
        raise InvalidQuery("recall needs the unit rows the index was built over")
    return truth_over(unit, index.metric, k=k, sample=sample, seed=seed)


def truth_over(
    rows: NDArray[np.floating],
    metric: str,
    *,
    k: int = RECALL_K,
    sample: int = RECALL_SAMPLE,
    seed: int = RECALL_SEED,
) -> SampleTruth:
    """Draw the sample queries of a recall measurement over `rows` ``(n, dim)``; answer them exactly in `metric`.

    What :func:`sample_truth` answers, without an index: so a build can answer its sample
    before the index exists, and give the rows' pages back before it adds them
    (:func:`embviz.search.index.build_for`). Exact search is the kernel's, as
    :meth:`Index.exact <embviz.search.index.Index.exact>` runs it.
    """
    picked = sample_rows(rows, sample, seed)
    q = np.ascontiguousarray(rows[picked], dtype=np.float32)
    exclude = [[int(i)] for i in picked]
    if len(picked) == 0:
        return SampleTruth(picked, q, exclude, np.zeros((0, k), dtype=np.int64), k)
    exact, _ = _exact_search(rows, metric)(q, k, exclude)
    return SampleTruth(picked, q, exclude, exact, k)


def _exact_search(rows: NDArray[np.floating], metric: str) -> Callable[..., tuple[NDArray[np.int64], NDArray]]:
    """``search(queries, k, exclude)``: the kernel's exact top-k over `rows` in `metric`."""
    if metric == "cosine":
        return lambda q, k, exclude: top_k(rows, q, k, exclude=exclude)
    table = Vectors(RowIds(rows.shape[0]), rows)
    return lambda q, k, exclude: top_k_by(table, q, k, metric=metric, exclude=exclude)


def exact_seconds(rows: NDArray[np.floating], metric: str, truth: SampleTruth) -> float:
    """Median wall seconds of exact search answering `truth`'s queries over `rows` (:data:`TIMING_REPEATS` calls).

    Called after :func:`truth_over` answered the same queries (the untimed first pass).
    """
    search = _exact_search(rows, metric)
    return _median_s(lambda: search(truth.queries, truth.k, truth.exclude))


def answer_first(
    rows: NDArray[np.floating], metric: str, progress: Callable[[str, int, int | None], None] | None = None,
) -> tuple[SampleTruth, float | None]:
    """Answer the recall sample exactly and time exact search, before an index is built.

    Both read every row of `rows` ``(n, dim)``; done while no index holds memory, and the rows'
    pages given back after (:func:`~embviz.search.index_build.release_rows`), a
    3,000,000 x 300 table's build peaks at about one copy of the rows, not two. Returns
    ``(truth, seconds)`` for :func:`tune_depth` (`seconds` None for an empty sample).
    """
    if progress is not None:
        progress(f"recall@{RECALL_K} on {int(min(RECALL_SAMPLE, rows.shape[0])):,} keys", 0, None)
    truth = truth_over(rows, metric)
    exact_s = exact_seconds(rows, metric, truth) if len(truth.rows) else None
    release_rows(rows, 0, rows.shape[0])
    return truth, exact_s


def recall_on(index: Index, truth: SampleTruth, *, ef_search: int | None = None,
              nprobe: int | None = None) -> float:
    """recall@k of `index` on `truth`'s queries at a search depth (default: the stored one), in [0, 1].

    The fraction of the exact top-k ids the index returns in its top k, over all queries.
    """
    if len(truth.rows) == 0:
        return 1.0
    approx, _ = index.search(truth.queries, truth.k, exclude=truth.exclude, ef_search=ef_search, nprobe=nprobe)
    hits = sum(len(np.intersect1d(a, e)) for a, e in zip(approx, truth.exact))
    return hits / max(1, truth.exact.size)


def ladder(index: Index, k: int = RECALL_K) -> tuple[int, ...]:
    """Return the depths :func:`tune_depth` tries, shallowest first; empty for a flat index.

    IVF: ``nprobe`` 1, 2, 3, 4, 6, 8, 12, ... (powers of two and the midpoints between them)
    and ``nlist`` last (every cell: exhaustive). HNSW: :data:`EF_SEARCH_LADDER`, each raised to
    at least `k`.
    """
    if index.method == "ivf":
        nlist = int(index.params["nlist"])
        steps = sorted({s for i in range(nlist.bit_length()) for s in (1 << i, 3 << i >> 1) if 0 < s < nlist})
        return (*steps, nlist)
    if index.method == "hnsw":
        return tuple(sorted({max(e, k) for e in EF_SEARCH_LADDER}))
    return ()


def set_depth(index: Index, depth: int) -> None:
    """Make `depth` the stored search depth of `index` (its ``params``, saved with it, and FAISS's)."""
    if index.method == "ivf":
        index.faiss_index.nprobe = int(depth)
    elif index.method == "hnsw":
        index.faiss_index.hnsw.efSearch = int(depth)
    else:
        raise InvalidQuery("a flat index has no search depth")
    index.params[DEPTH[index.method]] = int(depth)


def tune_depth(
    index: Index,
    *,
    target: float = DEFAULT_TARGET,
    k: int = RECALL_K,
    sample: int = RECALL_SAMPLE,
    seed: int = RECALL_SEED,
    unit: NDArray[np.floating] | None = None,
    timed: bool = True,
    progress: Callable[[str, int, int | None], None] | None = None,
    truth: SampleTruth | None = None,
    exact_s: float | None = None,
) -> DepthChoice:
    """Choose and store the cheapest search depth of `index` whose recall@k reaches `target`.

    The sample's exact top-`k` is computed once (:func:`sample_truth`); then the depths of
    :func:`ladder` are tried shallowest first with :meth:`~embviz.search.index.Index.search`,
    stopping at the first whose recall reaches `target` (recall rises with depth). If none
    does, the deepest is kept. The depth kept becomes the index's stored default
    (:func:`set_depth`). With `timed`, the index at that depth and exact search answer the
    sample queries :data:`TIMING_REPEATS` times each (median; the index after one untimed
    call, exact search after the exact answer above, the same call).

    Parameters
    ----------
    index : Index
        An IVF or HNSW index, with its rows (``index.unit``, or `unit`).
    target : float
        recall@k wanted, in (0, 1].
    k, sample, seed : int
        recall@k on ``min(sample, n)`` seeded keys, as :meth:`Index.recall` measures it.
    truth : SampleTruth, optional
        The sample's exact answer, computed before (:func:`truth_over`); then `k`, `sample`
        and `seed` are its own.
    exact_s : float, optional
        Exact search's seconds on those queries, timed before (:func:`exact_seconds`): not
        timed again here.
    progress : callable ``(stage, done, total)``, optional
        Called with ``"recall@10 on 1,000 keys"`` (the exact answer, unless `truth` is given),
        ``"choosing nprobe for recall@10 >= 0.95"`` (`done` of `total` ladder steps) and
        ``"timing nprobe=8 against exact search"``. The choice does not depend on it.

    Returns
    -------
    DepthChoice

    Raises
    ------
    InvalidQuery
        If `target` is outside (0, 1] or the index is flat (it has no depth).
    """
    if not 0 < target <= 1:
        raise InvalidQuery(f"the target recall must be in (0, 1], got {target}")
    if index.method not in DEPTH:
        raise InvalidQuery(f"a {index.method} index has no search depth to tune")
    name = DEPTH[index.method]
    report = progress or (lambda stage, done, total: None)
    if truth is None:
        report(f"recall@{k} on {min(sample, index.count):,} keys", 0, None)
        truth = sample_truth(index, unit, k=k, sample=sample, seed=seed)
    k = truth.k
    steps = ladder(index, k)
    stage = f"choosing {name} for recall@{k} >= {target:g}"
    tried: list[tuple[int, float]] = []
    for i, depth in enumerate(steps):
        report(stage, i, len(steps))
        r = recall_on(index, truth, **{name: depth})
        tried.append((depth, r))
        if r >= target:
            break
    report(stage, len(steps), len(steps))
    depth, recall = tried[-1]
    set_depth(index, depth)
    qps = exact_qps = None
    if timed and len(truth.rows):
        report(f"timing {name}={depth} against exact search", 0, None)
        q, ex = truth.queries, truth.exclude
        index.search(q, k, exclude=ex)  # untimed: first touches
        qps = len(q) / _median_s(lambda: index.search(q, k, exclude=ex))
        ref = index if unit is None or unit is index.unit else type(index)(
            index.faiss_index, index.method, index.params, unit=unit, metric=index.metric)
        exact_qps = len(q) / (exact_s if exact_s is not None else _median_s(lambda: ref.exact(q, k, exclude=ex)))
    return DepthChoice(name, depth, recall, target, recall >= target, tuple(tried), k, len(truth.rows),
                       qps, exact_qps)


def _median_s(call: Callable[[], object]) -> float:
    """Median wall seconds of :data:`TIMING_REPEATS` calls (at least a nanosecond)."""
    spent = []
    for _ in range(TIMING_REPEATS):
        start = time.perf_counter()
        call()
        spent.append(time.perf_counter() - start)
    return max(float(np.median(spent)), 1e-9)
