"""Batched IVF search, cell by cell: each probed cell's rows scored against all its queries at once.

FAISS's ``IndexIVFFlat.search`` answers a batch query by query (in parallel over queries):
every query streams the rows of each of its ``nprobe`` cells from memory and scores them one
by one, so a batch of 1,000 queries at ``nprobe=32`` reads 32,000 cells' rows, each of them
many times over. Turned around, a batch probes each cell once: the queries that probe a cell
are gathered and scored against the cell's rows with one matrix product (BLAS: each row read
once per batch and reused by every query that probes it), the cell's best ``fetch`` kept per
query, and each query's best ``fetch`` chosen among its cells' candidates. The candidates and
their inner products are the same as FAISS's (the same cells, chosen by the same quantizer;
scores agree to float32 rounding, and the candidates kept are scored again exactly
(:func:`rescore`), so an answer does not depend on memory layout), so recall is unchanged.
It pays when many queries share each cell (:data:`MIN_SHARED`): large batches such as
``neighbors --all --index`` or thousands of keys on stdin.

Used by :meth:`embviz.search.index.Index.search` for batches of at least :data:`MIN_BATCH`
queries on an inner-product ``IndexIVFFlat`` whose cells average at least
:data:`MIN_CELL_BYTES`, searched without an id filter; anything else goes to FAISS. FAISS is
passed in (imported lazily by the caller); this module imports numpy.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from numpy.typing import NDArray

#: Smallest batch searched cell by cell (the rule of :func:`applies` also asks for shared cells).
MIN_BATCH = 64
#: Fewest queries a cell must serve on average (``queries x nprobe / nlist``): a product of a
#: few query rows reads the cell's rows as often as FAISS's scan does. On 3,000,000 x 300 rows
#: (3,464 cells, nprobe 32, 2-core AMD EPYC) 1,000 queries (9 a cell) took 2.3 s cell by cell
#: and 2.5 s in FAISS; 8,000 queries (74 a cell) 8.4 s against 20.4 s (953 against 393 queries/s).
MIN_SHARED = 16
#: Smallest average cell (rows x dim x 4 bytes) searched cell by cell: below it the Python
#: work per cell outweighs the product. Measured on the 2-core AMD EPYC, 1,000 queries: on
#: GloVe 40,000 x 50 (400 cells of 20 KB, nprobe 16) cell by cell took 124 ms against FAISS's
#: 39 ms.
MIN_CELL_BYTES = 256 << 10
#: Candidate scores held per pass (``queries x nprobe x fetch``): bounds a pass's memory.
CANDIDATES = 1 << 26


def applies(faiss: Any, faiss_index: Any, queries: int, l2: bool, params: Any, nprobe: int) -> bool:
    """Whether :func:`search` answers this call (else FAISS's own search does).

    It does for an inner-product IVF-Flat index searched without an id filter, a batch of at
    least :data:`MIN_BATCH` queries, cells of at least :data:`MIN_CELL_BYTES` on average, each
    shared by at least :data:`MIN_SHARED` of the queries on average (at `nprobe`).
    """
    if l2 or queries < MIN_BATCH or (params is not None and getattr(params, "sel", None) is not None):
        return False
    ivf = faiss.downcast_index(faiss_index)
    if not isinstance(ivf, faiss.IndexIVFFlat):
        return False
    nlist = int(ivf.nlist)
    return (ivf.ntotal * ivf.code_size >= MIN_CELL_BYTES * nlist
            and queries * min(nprobe, nlist) >= MIN_SHARED * nlist)


def search(faiss: Any, faiss_index: Any, queries: NDArray[np.float32], fetch: int,
           nprobe: int) -> tuple[NDArray[np.float32], NDArray[np.int64]]:
    """Return FAISS's ``(distances, labels)`` of an inner-product IVF-Flat search, computed cell by cell.

    Parameters
    ----------
    faiss : module
    faiss_index : faiss.IndexIVFFlat
        Inner product (``METRIC_INNER_PRODUCT``); memory-mapped lists are read in place.
    queries : ndarray ``(m, dim)`` float32, C-contiguous
    fetch : int
        Results per query, >= 1.
    nprobe : int
        Cells searched per query (at most ``nlist``).

    Returns
    -------
    dist : ndarray ``(m, fetch)`` float32
        Inner products, best first; ``-inf`` past the candidates a query's cells hold.
    labels : ndarray ``(m, fetch)`` int64
        Row ids; -1 past the candidates, as FAISS pads.
    """
    from concurrent.futures import ThreadPoolExecutor

    from threadpoolctl import threadpool_limits

    ivf = faiss.downcast_index(faiss_index)
    nprobe = max(1, min(int(nprobe), int(ivf.nlist)))
    m = len(queries)
    dist = np.full((m, fetch), -np.inf, dtype=np.float32)
    labels = np.full((m, fetch), -1, dtype=np.int64)
    workers = max(1, min(os.cpu_count() or 1, 8))
    chunk = max(MIN_BATCH, CANDIDATES // (nprobe * fetch))
    with ThreadPoolExecutor(workers) as pool:
        for lo in range(0, m, chunk):
            q = queries[lo : lo + chunk]
            _, probed = ivf.quantizer.search(q, nprobe)  # FAISS's own cells of each query
            with threadpool_limits(1, "blas"):  # many small products, one per cell, on our threads
                d, i = _chunk(faiss, ivf, q, np.ascontiguousarray(probed, dtype=np.int64), fetch, pool, workers)
            dist[lo : lo + len(q)], labels[lo : lo + len(q)] = d, i
    return dist, labels


def _chunk(faiss: Any, ivf: Any, q: NDArray[np.float32], probed: NDArray[np.int64], fetch: int, pool: Any,
           workers: int) -> tuple[NDArray[np.float32], NDArray[np.int64]]:
    """One chunk of queries: candidates per (query, probe) pair, then each query's best `fetch`."""
    m, nprobe = probed.shape
    flat = probed.ravel()
    order = np.argsort(flat, kind="stable")  # pairs grouped by cell
    cells = flat[order]
    starts = np.flatnonzero(np.r_[True, cells[1:] != cells[:-1]])
    ends = np.r_[starts[1:], len(cells)]
    keep = cells[starts] >= 0  # -1: fewer cells than nprobe
    starts, ends = starts[keep], ends[keep]
    lists = ivf.invlists
    sizes = np.array([lists.list_size(int(c)) for c in cells[starts].tolist()], dtype=np.int64)
    # the (query, probe) pairs' candidates: row = query * nprobe + probe
    cand = np.full((m * nprobe, fetch), -np.inf, dtype=np.float32)
    cand_ids = np.full((m * nprobe, fetch), -1, dtype=np.int64)
    # contiguous runs of cells of about equal work (rows x queries), one per task
    work = np.cumsum(sizes * (ends - starts))
    cuts = np.searchsorted(work, np.linspace(0, work[-1] if len(work) else 0, 2 * workers + 1)[1:-1])
    bounds = [0, *sorted(set(cuts.tolist())), len(starts)]

    def run(a: int, b: int) -> None:
        for s, e, size in zip(starts[a:b].tolist(), ends[a:b].tolist(), sizes[a:b].tolist()):
            if size == 0:
                continue
            cell = int(cells[s])
            codes = lists.get_codes(cell)
            ids_ptr = lists.get_ids(cell)
            try:
                rows = faiss.rev_swig_ptr(codes, size * ivf.code_size).view(np.float32).reshape(size, -1)
                ids = faiss.rev_swig_ptr(ids_ptr, size)
                pairs = order[s:e]
                scores = q[pairs // nprobe] @ rows.T
                f = min(fetch, size)
                if size > f:
                    top = np.argpartition(scores, size - f, axis=1)[:, size - f :]
                    cand[pairs, :f] = np.take_along_axis(scores, top, axis=1)
                    cand_ids[pairs, :f] = ids[top]
                else:
                    cand[pairs, :f] = scores
                    cand_ids[pairs, :f] = ids
            finally:
                lists.release_codes(cell, codes)
                lists.release_ids(cell, ids_ptr)

    list(pool.map(lambda ab: run(*ab), zip(bounds[:-1], bounds[1:])))
    cand = cand.reshape(m, nprobe * fetch)
    cand_ids = cand_ids.reshape(m, nprobe * fetch)
    width = cand.shape[1]
    if width > fetch:
        top = np.argpartition(cand, width - fetch, axis=1)[:, width - fetch :]
        cand = np.take_along_axis(cand, top, axis=1)
        cand_ids = np.take_along_axis(cand_ids, top, axis=1)
    best = np.argsort(-cand, axis=1, kind="stable")
    return np.take_along_axis(cand, best, axis=1), np.take_along_axis(cand_ids, best, axis=1)


def answer(faiss: Any, index: Any, queries: NDArray[np.float32], fetch: int, params: Any,
           probe: int | None) -> tuple[NDArray[np.float32], NDArray[np.int64]]:
    """FAISS's ``search`` of an :class:`~embviz.search.index.Index`, cell by cell where :func:`applies`."""
    fi = index.faiss_index
    nprobe = index.params.get("nprobe", 1) if probe is None else probe
    if index.method == "ivf" and applies(faiss, fi, len(queries), index.metric == "euclidean", params, nprobe):
        dist, labels = search(faiss, fi, queries, fetch, nprobe)
        return rescore(queries, dist, labels, index.unit) if index.unit is not None else (dist, labels)
    return fi.search(queries, fetch, params=params)


def rescore(queries: NDArray[np.float32], dist: NDArray[np.float32], labels: NDArray[np.int64],
            rows: NDArray[np.floating]) -> tuple[NDArray[np.float32], NDArray[np.int64]]:
    """Each candidate's inner product again, exactly (:func:`~embviz.search.scorers.exact_dots`), best first.

    A cell's scores come from one BLAS product whose rounding depends on the shapes and the
    memory alignment of its operands (an index built in memory and the same index mapped from
    its file differed in the last bit of 4 scores in 640). The few candidates kept are scored
    again from the indexed `rows` ``(n, dim)`` as the exact kernel scores them, rounded to
    float32, so an answer does not depend on where the index lives. Padding (-1) stays last
    with ``-inf``.
    """
    from embviz.search.scorers import exact_dots

    m, f = labels.shape
    found = labels >= 0
    got = np.asarray(rows[np.where(found, labels, 0).ravel()])
    exact = exact_dots(np.repeat(queries, f, axis=0), got).reshape(m, f).astype(np.float32)
    exact[~found] = -np.inf
    best = np.argsort(-exact, axis=1, kind="stable")
    return np.take_along_axis(exact, best, axis=1), np.take_along_axis(labels, best, axis=1)
