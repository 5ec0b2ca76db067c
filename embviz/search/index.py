"""Approximate nearest neighbors with FAISS over the unit rows, and the recall each index measured.

An :class:`Index` wraps a FAISS index (PyPI ``faiss-cpu``, the optional extra
``embviz[index]``; Johnson, Douze & Jégou, "Billion-scale similarity search with GPUs", 2019,
https://github.com/facebookresearch/faiss) built over ``Vectors.unit``, so the inner product it
ranks by is the cosine similarity. Three methods: ``"hnsw"``, ``"ivf"`` and ``"flat"`` (exact).

An index is only honest if it says how approximate it is: :meth:`Index.recall` compares its
answers with the exact kernel (:func:`embviz.search.kernel.top_k`) on 1,000 seeded sample keys,
and :func:`build_for` stores that recall with the index. :meth:`Index.search` over-fetches so
that exclusions (a query's own keys) and ``restrict`` never cost results, and answers a query
exactly when over-fetching cannot fill its ``k`` rows.

On disk an index lives inside its vector-cache entry (:mod:`embviz.io.cache`), so it shares the
entry's fingerprint, is rebuilt when the source changes and is removed by ``cache clear``; a
file that fails its checks is rebuilt with a warning (:func:`stored`).

This module is the index and its place in the cache; its siblings hold the rest, and their
public names are re-exported here:

- :mod:`embviz.search.index_build`: the methods, their defaults, how each FAISS index is made;
- :mod:`embviz.search.index_files`: the files (written atomically, checked on read, listed,
  removed), and :meth:`Index.save` / :meth:`Index.load`;
- :mod:`embviz.search.index_queries`: ``neighbors`` and ``analogy`` answered by an index;
- :mod:`embviz.search.index_eval`: an index checked on held-out queries against a ground truth
  (ann-benchmarks' ``neighbors``): recall@k and queries per second beside exact search.
- :mod:`embviz.search.index_tune`: the search depth chosen by measured recall (``tune_depth``,
  used by :func:`build_for` with ``target_recall``).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterable, Sequence

import numpy as np

from embviz.errors import FormatError, InvalidQuery, require, warn
from embviz.search import index_build, index_files, index_tune, ivf_scan
from embviz.search.index_build import (
    DEFAULT_EF_CONSTRUCTION,
    DEFAULT_EF_SEARCH,
    DEFAULT_M,
    METHODS,
    RECALL_K,
    RECALL_SAMPLE,
    RECALL_SEED,
    default_nlist,
    default_nprobe,
)
from embviz.search.index_eval import IndexEvaluation, SearchRecall, evaluate_index, recall_at_k
from embviz.search.index_files import IndexFiles, IndexInfo, index_file, remove, stored_infos
from embviz.search.index_queries import analogy, neighbors
from embviz.search.index_tune import DepthChoice, tune_depth
from embviz.search.kernel import top_k
from embviz.search.metric import METRICS

if TYPE_CHECKING:
    from numpy.typing import NDArray

    from embviz.vectors import Vectors

__all__ = [
    "DEFAULT_EF_CONSTRUCTION", "DEFAULT_EF_SEARCH", "DEFAULT_M", "METHODS", "RECALL_K", "RECALL_SAMPLE",
    "RECALL_SEED", "DepthChoice", "Index", "IndexEvaluation", "IndexInfo", "SearchRecall", "analogy", "build_for",
    "default_nlist", "default_nprobe", "evaluate_index", "index_file", "neighbors", "recall_at_k", "remove",
    "require_faiss", "stored", "stored_infos", "tune_depth",
]

#: Over-fetching stops growing here; rows still short are answered exactly.
_MAX_FETCH = 4096
#: A ``restrict`` below this fraction of the rows is answered exactly: graph search under a
#: selective filter loses recall (FAISS visits the graph, then drops most of what it found).
_EXACT_BELOW = 0.5
#: Batches up to this size are filtered in Python (cheaper than numpy's per-call cost).
_FEW = 8


_FAISS: Any = None


def _faiss() -> Any:
    """Return the faiss module (imported once; ``pip install 'embviz[index]'`` if missing)."""
    global _FAISS
    if _FAISS is None:
        _FAISS = require("faiss", package="'embviz[index]'")
    return _FAISS


def require_faiss() -> None:
    """Raise :class:`~embviz.errors.MissingDependency` (``pip install 'embviz[index]'``) early."""
    _faiss()


class Index(IndexFiles):
    """A FAISS index over unit rows: inner product = cosine similarity.

    Build one with :meth:`build` (or :func:`build_for`, which also stores it in the cache),
    write it with :meth:`save` and reopen it with :meth:`load` (both from
    :class:`~embviz.search.index_files.IndexFiles`). Attributes: ``method`` (``"hnsw"``,
    ``"ivf"`` or ``"flat"``), ``params`` (dict: ``m``, ``ef_construction``, ``ef_search`` for
    HNSW; ``nlist``, ``nprobe`` for IVF), ``count`` and ``dim`` (rows and dimensions indexed),
    ``recall_at_build`` (recall@10 measured at build on 1,000 sample keys, in [0, 1], or
    None), ``build_s`` (wall seconds of the build), ``unit`` (the ``(count, dim)`` rows it
    indexes, used to answer exactly when over-fetching falls short; may be None), ``metric``
    (``"cosine"``: inner product over the unit rows; ``"dot"``: inner product over the raw
    rows; ``"euclidean"``: L2 over the raw rows, scores reported as negative distances).
    """

    def __init__(
        self,
        faiss_index: Any,
        method: str,
        params: dict[str, Any],
        *,
        unit: NDArray[np.floating] | None = None,
        recall: float | None = None,
        build_s: float | None = None,
        metric: str = "cosine",
    ) -> None:
        if metric not in METRICS:
            raise InvalidQuery(f"unknown metric {metric!r}: expected one of {', '.join(METRICS)}")
        if method not in METHODS:
            raise InvalidQuery(f"unknown index method {method!r}: expected one of {', '.join(METHODS)}")
        self.faiss_index = faiss_index
        self.method = method
        self.params = dict(params)
        self.count = int(faiss_index.ntotal)
        self.dim = int(faiss_index.d)
        self.unit = unit
        self.recall_at_build = recall
        self.build_s = build_s
        self.metric = metric
        self._l2 = metric == "euclidean"
        self.tuning: DepthChoice | None = None  # how build_for chose the stored depth, if it did

    def __repr__(self) -> str:
        return f"Index({self.describe()}, count={self.count:,}, dim={self.dim})"

    # -- building ----------------------------------------------------------------------------
    @classmethod
    def build(
        cls,
        unit: NDArray[np.floating],
        method: str = "hnsw",
        *,
        m: int = DEFAULT_M,
        ef_construction: int = DEFAULT_EF_CONSTRUCTION,
        ef_search: int = DEFAULT_EF_SEARCH,
        nlist: int | None = None,
        nprobe: int | None = None,
        seed: int = RECALL_SEED,
        metric: str = "cosine",
        progress: Callable[[str, int, int | None], None] | None = None,
    ) -> Index:
        """Build an index over `unit` ``(n, dim)`` (float32 or float16; unit rows for cosine).

        Parameters
        ----------
        unit : ndarray ``(n, dim)``
            ``Vectors.unit``; float16 rows are converted to float32 block by block (FAISS
            stores float32: the index holds one float32 copy of the rows, ``4 n dim`` bytes).
        method : {"hnsw", "ivf", "flat"}
        m : int
            HNSW graph degree, 4 to 128 (FAISS ``M``; level 0 has ``2 m`` links).
        ef_construction : int
            HNSW build depth, >= m (higher: better graph, slower build).
        ef_search : int
            HNSW default search depth, >= 1 (recall rises with it, speed falls).
        nlist : int, optional
            IVF cells; default :func:`default_nlist`.
        nprobe : int, optional
            IVF cells searched; default :func:`default_nprobe`.
        seed : int
            Seeds the IVF training sample and k-means.
        metric : {"cosine", "dot", "euclidean"}
            ``cosine`` and ``dot`` index by inner product (pass ``Vectors.unit`` for cosine,
            ``Vectors.matrix`` for dot); ``euclidean`` by L2 distance over ``Vectors.matrix``.
        progress : callable ``(stage, done, total)``, optional
            Called as work advances; `stage` is a short text: ``"train (k-means: ...)"`` (IVF
            only; `total` None) and ``"add"`` or ``"add: HNSW graph"`` (`done` of `total` rows
            added, in blocks of 65,536; `total` None for one block). The index does not depend
            on it.

        Raises
        ------
        InvalidQuery
            If `method` or a parameter is out of range, or `unit` is empty.
        MissingDependency
            If faiss is not installed (``pip install 'embviz[index]'``).
        """
        faiss = _faiss()
        n, dim = unit.shape
        if n == 0:
            raise InvalidQuery("cannot index an empty table")
        if metric not in METRICS:
            raise InvalidQuery(f"unknown metric {metric!r}: expected one of {', '.join(METRICS)}")
        start = time.perf_counter()
        index, params = index_build.make(faiss, unit, method, metric=metric, m=m, ef_construction=ef_construction,
                                         ef_search=ef_search, nlist=nlist, nprobe=nprobe, seed=seed,
                                         progress=progress)
        return cls(index, method, params, unit=unit, build_s=time.perf_counter() - start, metric=metric)

    # -- searching ---------------------------------------------------------------------------
    def describe(self, ef_search: int | None = None, nprobe: int | None = None) -> str:
        """One line: ``approximate (hnsw, ef_search=128, recall@10 0.977 measured at build)``.

        The recall quoted is the one measured at build, at the stored search depth; when
        `ef_search` / `nprobe` override it, the line says so.
        """
        depth = ""
        if self.method == "hnsw":
            ef = self.params["ef_search"] if ef_search is None else ef_search
            depth = f", ef_search={ef}"
        elif self.method == "ivf":
            probe = self.params["nprobe"] if nprobe is None else nprobe
            depth = f", nlist={self.params['nlist']}, nprobe={probe}"
        overridden = (self.method == "hnsw" and ef_search not in (None, self.params.get("ef_search"))) or (
            self.method == "ivf" and nprobe not in (None, self.params.get("nprobe"))
        )
        if self.recall_at_build is None:
            rec = "recall not measured"
        else:
            at = ""
            if overridden:
                stored = self.params.get("ef_search") if self.method == "hnsw" else self.params.get("nprobe")
                at = f" at {'ef_search' if self.method == 'hnsw' else 'nprobe'}={stored}"
            rec = f"recall@10 {self.recall_at_build:.3f} measured at build{at}"
        kind = "exact" if self.method == "flat" else "approximate"
        what = "" if self.metric == "cosine" else f", metric {self.metric}"
        return f"{kind} ({self.method}{what}{depth}, {rec})"

    def _params(self, n: int, ef_search: int | None, nprobe: int | None, fetch: int) -> Any:
        """FAISS search parameters: depth overrides and, for ``restrict``, an id range; else None."""
        if n >= self.count and ef_search is None and nprobe is None and (
            self.method != "hnsw" or fetch <= self.params["ef_search"]
        ):
            return None  # the index's own settings (no per-call parameter object)
        faiss = _faiss()
        sel = faiss.IDSelectorRange(0, n) if n < self.count else None
        if self.method == "hnsw":
            ef = self.params["ef_search"] if ef_search is None else ef_search
            p = faiss.SearchParametersHNSW()
            p.efSearch = max(ef, fetch)
        elif self.method == "ivf":
            p = faiss.SearchParametersIVF()
            p.nprobe = self.params["nprobe"] if nprobe is None else nprobe
        else:
            p = faiss.SearchParameters()
        if sel is not None:
            p.sel = sel
        return p

    def search(
        self,
        queries: NDArray[np.float32],
        k: int,
        *,
        exclude: Sequence[Iterable[int]] | None = None,
        restrict: int | None = None,
        ef_search: int | None = None,
        nprobe: int | None = None,
    ) -> tuple[NDArray[np.int64], NDArray[np.float32]]:
        """Return approximately the `k` rows with the highest inner product with each query.

        Same contract as :func:`embviz.search.kernel.top_k`, answered by the index: asks FAISS
        for ``k`` plus the number of excluded ids, and asks again for four times as many (up
        to 4,096; IVF: from four times as many cells, up to ``nlist``) for the queries that
        still lack `k` admissible rows; a query that cannot be filled that way, or whose
        vector is all zeros, is answered exactly from ``unit``.

        Parameters
        ----------
        queries : ndarray ``(m, dim)`` float32
            Unit-normalised query vectors (then scores are cosine similarities in [-1, 1]).
        k : int
            Results per query, >= 1; fewer only when fewer candidates exist.
        exclude : sequence of ``m`` iterables of int, optional
            Row ids never returned for each query.
        restrict : int, optional
            Only the first `restrict` rows are candidates (a FAISS ``IDSelectorRange``).
            Below half the rows, the queries are answered exactly over those rows instead:
            graph search under a selective filter loses recall, and exact search over a
            small prefix is cheap.
        ef_search, nprobe : int, optional
            Override the stored search depth (HNSW) or cells searched (IVF) for this call.

        Returns
        -------
        ids : ndarray ``(m, k')`` int64
            Row ids, best first; equal scores ordered by the lower id.
        scores : ndarray ``(m, k')`` float32
            Inner products over the float32 rows (FAISS's; large IVF batches: :mod:`embviz.search.ivf_scan`).
            ``k' = min(k, candidates)`` as in ``top_k``.

        Raises
        ------
        InvalidQuery
            If ``k < 1``, the queries are not ``(m, dim)``, or a depth override is below 1.
        """
        q = queries
        if not (type(q) is np.ndarray and q.dtype == np.float32 and q.flags.c_contiguous):
            q = np.ascontiguousarray(queries, dtype=np.float32)
        if (q.shape == (1, self.dim) and k >= 1 and restrict is None and ef_search is None
                and nprobe is None):  # one interactive query (see _search_one)
            one = self._search_one(q, k, exclude[0] if exclude else ())
            if one is not None:
                return one
        if q.ndim != 2 or q.shape[1] != self.dim:
            raise InvalidQuery(f"queries must have shape (m, {self.dim}), got {q.shape}")
        if k < 1:
            raise InvalidQuery(f"k must be at least 1, got {k}")
        if (ef_search is not None and ef_search < 1) or (nprobe is not None and nprobe < 1):
            raise InvalidQuery("--ef-search and --nprobe must be at least 1")
        m = len(q)
        n = self.count if restrict is None else max(0, min(restrict, self.count))
        excl = [sorted({int(i) for i in ex if 0 <= i < n}) for ex in (exclude or [()] * m)]
        most = max((len(e) for e in excl), default=0)
        kk = max(0, min(k, n - most))
        ids = np.zeros((m, kk), dtype=np.int64)
        vals = np.zeros((m, kk), dtype=np.float32)
        if m == 0 or kk == 0:
            return ids, vals
        if n < self.count * _EXACT_BELOW and self.unit is not None:
            exact_rows = list(range(m))  # a selective restrict: exact over the first n rows is cheaper and right
        elif m <= _FEW:  # interactive: all-zero queries are found after FAISS (see _fill_few)
            exact_rows = []
        else:
            exact_rows = np.flatnonzero(~np.any(q != 0, axis=1)).tolist()
        pending = np.arange(m) if not exact_rows else np.setdiff1d(np.arange(m), exact_rows)
        fetch = min(kk + most + 1, n)  # one more: a tie at the k-th place stays visible
        probe = nprobe  # IVF cells; raised for queries whose cells hold too few rows
        while len(pending):
            params = self._params(n, ef_search, probe, fetch)
            dist, found = ivf_scan.answer(_faiss(), self, q if len(pending) == m else q[pending], fetch, params, probe)
            if self._l2:  # squared distances, ascending: negative distances, descending
                dist = -np.sqrt(np.maximum(dist, 0))
            if len(pending) <= _FEW:  # interactive queries: plain Python beats a dozen numpy calls
                short = self._fill_few(pending, found, dist, excl, n, kk, ids, vals, q, exact_rows)
                if not short:
                    break
                deeper = index_build.deeper(self.method, self.params, n, fetch, probe, _MAX_FETCH)
                if deeper is None:
                    exact_rows += short
                    break
                fetch, probe = deeper
                pending = np.asarray(short, dtype=np.int64)
                continue
            keep = (found >= 0) & (found < n)
            if most:  # excluded ids, one padded row per query (-1 never matches)
                ex = np.full((len(pending), most), -1, dtype=np.int64)
                for j, r in enumerate(pending.tolist()):
                    ex[j, : len(excl[r])] = excl[r]
                keep &= ~(found[:, :, None] == ex[:, None, :]).any(axis=2)
            score = np.where(keep, dist, -np.inf).astype(np.float32, copy=False)
            # best first, equal scores by the lower id; dropped entries sort last
            order = np.lexsort((np.where(keep, found, np.iinfo(np.int64).max), -score), axis=1)[:, :kk]
            full = keep.sum(axis=1) >= kk
            done = pending[full]
            ids[done] = np.take_along_axis(found[full], order[full], axis=1)
            vals[done] = np.take_along_axis(score[full], order[full], axis=1)
            short = pending[~full].tolist()
            if not short:
                break
            deeper = index_build.deeper(self.method, self.params, n, fetch, probe, _MAX_FETCH)
            if deeper is None:
                exact_rows += short
                break
            fetch, probe = deeper
            pending = np.asarray(short, dtype=np.int64)
        if exact_rows:
            if self.unit is None:
                raise InvalidQuery("this index cannot answer every query: reopen it with its unit rows")
            rows = sorted(exact_rows)
            e_ids, e_vals = self.exact(q[rows], kk, exclude=[excl[r] for r in rows], restrict=n)
            ids[rows], vals[rows] = e_ids, e_vals
        return ids, vals

    def exact(self, queries, k, *, exclude=None, restrict=None):  # noqa: ANN001, ANN201
        """Exact top-`k` over the indexed rows in the index's metric (the kernel's answer).

        Same arguments and returns as :meth:`search`; needs ``unit`` (the indexed rows).
        """
        if self.metric == "cosine":
            return top_k(self.unit, queries, k, exclude=exclude, restrict=restrict)
        if getattr(self, "_table", None) is None:
            from embviz.vectors import RowIds, Vectors

            self._table = Vectors(RowIds(self.unit.shape[0]), self.unit)
        from embviz.search.metric import top_k_by

        return top_k_by(self._table, queries, k, metric=self.metric, exclude=exclude, restrict=restrict)

    def _search_one(self, q: NDArray[np.float32], k: int, exclude: Iterable[int]):
        """Answer one query ``(1, dim)`` with the index's own settings, or None for :meth:`search`.

        The common interactive call (``neighbors KEY --index``, the explorer), in plain Python
        around FAISS's C++ search: no parameter object, no per-query bookkeeping arrays. None
        (the general path then asks FAISS again) when the answer needs it: an all-zero query,
        fewer than `k` results, tied scores among the first ``k + 1``, or a deeper HNSW search
        than the stored one.
        """
        n = self.count
        banned = sorted({int(i) for i in exclude if 0 <= i < n})
        kk = min(k, n - len(banned))
        fetch = min(kk + len(banned) + 1, n)  # one more: a tie at the k-th place stays visible
        if kk < 1 or (self.method == "hnsw" and fetch > self.params["ef_search"]):
            return None
        faiss = _faiss()
        dist = np.empty((1, fetch), dtype=np.float32)
        found = np.empty((1, fetch), dtype=np.int64)
        self.faiss_index.search_c(1, faiss.swig_ptr(q), fetch, faiss.swig_ptr(dist), faiss.swig_ptr(found), None)
        if self._l2:
            dist = -np.sqrt(np.maximum(dist, 0))
        row, score = found[0].tolist(), dist[0].tolist()
        if score[0] == 0.0 and not q.any() and not self._l2:
            return None
        if not _untied_top(row, score, banned, kk):
            return None
        return np.array([row[:kk]], dtype=np.int64), np.array([score[:kk]], dtype=np.float32)

    @staticmethod
    def _fill_few(pending, found, dist, excl, n, kk, ids, vals, q, zero) -> list[int]:  # noqa: ANN001
        """Filter a few FAISS result rows in Python; return the rows still short of `kk`.

        An all-zero query (every FAISS score 0, the vector then checked) goes to `zero`, to be
        answered exactly: testing every query beforehand cost more than the filtering.
        """
        short = []
        for r, row, score in zip(pending.tolist(), found.tolist(), dist.tolist()):
            if score and score[0] == 0.0 and not q[r].any() and score[-1] == 0.0:
                zero.append(r)  # inner product with a zero query: every score 0, no order
                continue
            banned = excl[r]
            if len(banned) <= 1:  # no exclusion or a query's own key: the common case
                if _untied_top(row, score, banned, kk):
                    ids[r] = row[:kk]
                    vals[r] = score[:kk]
                    continue
                got = [(-d, i) for i, d in zip(row, score) if 0 <= i < n]
            else:
                banned = set(banned)
                got = [(-d, i) for i, d in zip(row, score) if 0 <= i < n and i not in banned]
            if len(got) < kk:
                short.append(r)
                continue
            got.sort()  # best first, equal scores by the lower id
            del got[kk:]
            ids[r] = [i for _, i in got]
            vals[r] = [-d for d, _ in got]
        return short

    def recall(
        self,
        unit: NDArray[np.floating] | None = None,
        *,
        k: int = RECALL_K,
        sample: int = RECALL_SAMPLE,
        seed: int = RECALL_SEED,
        ef_search: int | None = None,
        nprobe: int | None = None,
    ) -> float:
        """Measure recall@k against exact search on `sample` seeded keys, in [0, 1].

        Each sampled row is a query (itself excluded, as ``neighbors`` does); recall@k is the
        fraction of the exact top-`k` ids (:func:`embviz.search.kernel.top_k`) that the index
        returns in its top `k`, averaged over the sample. All-zero rows are not sampled.

        Parameters
        ----------
        unit : ndarray ``(n, dim)``, optional
            The rows the index was built over; default ``self.unit``.
        k, sample, seed : int
            recall@k on ``min(sample, n)`` rows drawn without replacement by
            ``numpy.random.default_rng(seed)``.
        ef_search, nprobe : int, optional
            Measure at another search depth than the stored one.

        The exact answer comes from :func:`~embviz.search.index_tune.sample_truth`, the
        comparison from :func:`~embviz.search.index_tune.recall_on` (to reuse one exact answer
        at several depths, as :func:`~embviz.search.index_tune.tune_depth` does, call them).
        """
        truth = index_tune.sample_truth(self, unit, k=k, sample=sample, seed=seed)
        return index_tune.recall_on(self, truth, ef_search=ef_search, nprobe=nprobe)


# -- helpers ---------------------------------------------------------------------------------
def _untied_top(row: list[int], score: list[float], banned: Sequence[int], kk: int) -> bool:
    """Drop the `banned` ids from one FAISS result (`row`, `score`, in place); whether its first `kk` are the answer.

    FAISS lists the best first, and ids below the candidate count (a restrict is its id
    range): when `kk` valid ids remain and no score ties among the first ``kk + 1``, that
    order is ours (ties would have to go to the lower id).
    """
    for i in banned:
        if i in row:
            at = row.index(i)
            del row[at], score[at]
    head = score[: kk + 1]
    return len(row) >= kk and row[kk - 1] >= 0 and len(set(head)) == len(head)


# -- indexes stored in the vector cache ------------------------------------------------------
def stored(
    entry: Path, unit: NDArray[np.floating] | None = None, method: str | None = None, metric: str = "cosine"
) -> Index | None:
    """Open the newest valid index stored in cache `entry` (of `method`, if given) in `metric`, else None.

    `unit` is the indexed rows: ``Vectors.unit`` for cosine, ``Vectors.matrix`` otherwise.

    A stored index that fails its checks is reported with one warning and ignored (the caller
    rebuilds it); an index of an older version of the vectors is ignored silently.
    """
    stamp = index_files.entry_stamp(entry)
    found = []
    for m in METHODS if method is None else (method,):
        path = index_file(entry, m, metric)
        meta = index_files.meta_path(path)
        if path.exists() or meta.exists():
            found.append((meta.stat().st_mtime if meta.exists() else 0.0, m, path))
    for _, m, path in sorted(found, reverse=True):
        try:
            return Index.load(path, unit=unit, expect=stamp)
        except FormatError as exc:
            if "another version" not in str(exc):
                warn(f"ignoring a broken {m} index ({exc}); rebuilding it")
    return None


def build_for(
    vectors: Vectors,
    entry: Path | None,
    method: str = "hnsw",
    *,
    measure: bool = True,
    metric: str = "cosine",
    target_recall: float | None = None,
    progress: Callable[[str, int, int | None], None] | None = None,
    **params: Any,
) -> Index:
    """Build an index, measure its recall@10 in its metric (or choose its depth by it), and store it in `entry`.

    Over ``vectors.unit`` for cosine, over the raw rows ``vectors.matrix`` for dot and
    euclidean.

    Parameters
    ----------
    vectors : Vectors
    entry : Path or None
        The vector-cache entry directory (:func:`embviz.io.cache.entry_path`); None keeps
        the index in memory only.
    method : {"hnsw", "ivf", "flat"}
    measure : bool
        Measure recall@10 against exact search on 1,000 seeded keys (a few seconds).
    target_recall : float, optional
        In (0, 1]: choose the search depth (IVF ``nprobe``, HNSW ``ef_search``) by measured
        recall, unless ``params`` sets it: the cheapest on the ladder whose recall@10 reaches
        it (:func:`~embviz.search.index_tune.tune_depth`; ``index.tuning`` says what was
        chosen, with the queries per second of the index and of exact search). None keeps
        the fixed defaults (:func:`default_nprobe`, ``ef_search`` 128).
    progress : callable ``(stage, done, total)``, optional
        Called as work advances; `stage` is a short text: the stages of :meth:`Index.build`
        (``"train (k-means: ...)"`` for IVF, ``"add"`` or ``"add: HNSW graph"``), then
        ``"recall@10 on 1,000 keys"`` (with `measure`), the stages of tuning
        (``"choosing nprobe for recall@10 >= 0.95"``, ``"timing nprobe=8 against exact
        search"``) and ``"save"`` (with `entry`). The index does not depend on it.
    **params
        ``m``, ``ef_construction``, ``ef_search``, ``nlist``, ``nprobe``, ``seed`` for
        :meth:`Index.build`; None values take the defaults.

    Raises
    ------
    InvalidQuery
        If a parameter is out of range (:meth:`Index.build`), or `target_recall` outside (0, 1].
    OSError
        If `entry` cannot be written.
    """
    if target_recall is not None and not 0 < target_recall <= 1:  # before the build, not after
        raise InvalidQuery(f"the target recall must be in (0, 1], got {target_recall}")
    rows = vectors.unit if metric == "cosine" else vectors.matrix
    depth = index_tune.DEPTH.get(method)
    tune = target_recall is not None and depth is not None and params.get(depth) is None
    truth, exact_s = index_tune.answer_first(rows, metric, progress) if tune else (None, None)  # before the build
    index = Index.build(rows, method, metric=metric, progress=progress,
                        **{k: v for k, v in params.items() if v is not None})
    if tune:
        index.tuning = tune_depth(index, target=target_recall, progress=progress, truth=truth, exact_s=exact_s)
        index.recall_at_build = index.tuning.recall
    elif measure:
        if progress is not None:
            sample = int(min(RECALL_SAMPLE, index.count))
            progress(f"recall@{RECALL_K} on {sample:,} keys", 0, None)
        index.recall_at_build = index.recall()
    if entry is not None:
        if progress is not None:
            progress("save", 0, None)
        index.save(index_file(entry, method, metric), extra=dict(index_files.entry_stamp(entry), source=vectors.source))
    return index
