"""Making the FAISS index of each method: parameters checked, IVF trained, rows added in blocks.

The three methods of :class:`embviz.search.index.Index`, their default parameters (and
those of the recall measured at build) and how each FAISS index is made from a table's rows
(:func:`make`). FAISS itself is passed in (the
caller imports it lazily, :func:`embviz.search.index.require_faiss`), so this module imports
numpy only.

- ``"hnsw"``: ``faiss.IndexHNSWFlat(dim, m, METRIC_INNER_PRODUCT)``, a hierarchical navigable
  small-world graph (Malkov & Yashunin, 2018); search depth ``ef_search``.
- ``"ivf"``: ``faiss.IndexIVFFlat`` over ``nlist`` k-means cells (trained on a seeded sample),
  searching ``nprobe`` of them.
- ``"flat"``: ``faiss.IndexFlatIP``, exact brute force (a reference, and FAISS's BLAS path).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable

import numpy as np

from embviz.errors import InvalidQuery

if TYPE_CHECKING:
    from numpy.typing import NDArray

METHODS = ("hnsw", "ivf", "flat")
#: HNSW defaults chosen by measured recall (docs/index.md): on GloVe 6B 50d (400,000 x 50),
#: M=16, ef_construction=100 gives recall@10 0.977 at ef_search=128 (0.956 at 64, 0.991 at
#: 256); ef_construction=40 only 0.932 at 128. M=32 doubles the build for little gain there.
#: ef_construction=200 (hnswlib's default) builds in twice the time (80 s against 40 s) a
#: graph that reaches 0.95 at a shallower search: 0.953 at ef_search=32 (26,154 queries/s on 2
#: cores) where 100 gives 0.929 (0.957 only at 64: 14,572 queries/s), so the searches that
#: follow (neighbors --all, recommend --index) run 1.8x faster at the same recall.
#: ef_search is the starting point only: with a target recall, build_for measures it per table.
DEFAULT_M = 16
DEFAULT_EF_CONSTRUCTION = 200
DEFAULT_EF_SEARCH = 128
#: Recall is measured on this many seeded sample keys, at k = 10.
RECALL_SAMPLE = 1000
RECALL_K = 10
RECALL_SEED = 0
#: Rows converted to float32 and added per call (bounds the temporary memory of a build).
_ADD_BLOCK = 65_536


def default_nlist(n: int) -> int:
    """IVF cells for `n` rows: ``2 sqrt(n)`` clamped to [1, n / 39] (FAISS wants 39 rows a cell)."""
    return int(max(1, min(round(2 * np.sqrt(n)), n // 39 or 1)))


def default_nprobe(nlist: int) -> int:
    """IVF cells searched per query without tuning: one in 16 (recall@10 about 0.95 on GloVe 6B 50d).

    The fixed starting point: ``embviz index build`` replaces it with the nprobe measured to
    reach its target recall (:func:`embviz.search.index_tune.tune_depth`).
    """
    return max(1, nlist // 16)


def make(
    faiss: Any,
    unit: NDArray[np.floating],
    method: str,
    *,
    metric: str,
    m: int,
    ef_construction: int,
    ef_search: int,
    nlist: int | None,
    nprobe: int | None,
    seed: int,
    progress: Callable[[str, int, int | None], None] | None = None,
) -> tuple[Any, dict[str, Any]]:
    """Make the FAISS index of `method` over `unit` ``(n, dim)``; return it and its parameters.

    The parameters are those of :meth:`embviz.search.index.Index.build` (which documents
    them); the rows are converted to float32 block by block as they are added. Returns the
    FAISS index (``ntotal == n``) and the parameter dict stored with it: ``m``,
    ``ef_construction``, ``ef_search`` for HNSW; ``nlist``, ``nprobe`` for IVF; none for flat.
    `progress(stage, done, total)` is called with ``"train (k-means: ...)"`` (IVF; total None)
    and ``"add"`` (``"add: HNSW graph"``: HNSW builds its graph there) with the rows added, block
    by block of 65,536 (total None when the rows fit one block).

    Raises
    ------
    InvalidQuery
        If `method` is unknown or a parameter is out of range.
    """
    n, dim = unit.shape
    fmetric = faiss.METRIC_L2 if metric == "euclidean" else faiss.METRIC_INNER_PRODUCT
    if method == "hnsw":
        if not 2 <= m <= 256:
            raise InvalidQuery(f"--m must be between 2 and 256, got {m}")
        if ef_construction < 1 or ef_search < 1:
            raise InvalidQuery("--ef-construction and --ef-search must be at least 1")
        index = faiss.IndexHNSWFlat(dim, m, fmetric)
        index.hnsw.efConstruction = ef_construction
        index.hnsw.efSearch = ef_search
        params: dict[str, Any] = {"m": m, "ef_construction": ef_construction, "ef_search": ef_search}
    elif method == "ivf":
        nlist = default_nlist(n) if nlist is None else nlist
        if not 1 <= nlist <= n:
            raise InvalidQuery(f"--nlist must be between 1 and the row count {n:,}, got {nlist}")
        nprobe = default_nprobe(nlist) if nprobe is None else nprobe
        if not 1 <= nprobe <= nlist:
            raise InvalidQuery(f"--nprobe must be between 1 and nlist={nlist}, got {nprobe}")
        quantizer = faiss.IndexFlatL2(dim) if metric == "euclidean" else faiss.IndexFlatIP(dim)
        index = faiss.IndexIVFFlat(quantizer, dim, nlist, fmetric)
        index.cp.seed = seed
        rng = np.random.default_rng(seed)
        take = np.sort(rng.choice(n, size=min(n, max(nlist * 64, 10_000)), replace=False))
        if progress is not None:
            progress(f"train (k-means: {nlist:,} cells from {len(take):,} rows)", 0, None)
        index.train(np.ascontiguousarray(unit[take], dtype=np.float32))
        release_rows(unit, 0, n)  # the sample's pages, and the kernel's fault-around: most of the file
        index.nprobe = nprobe
        params = {"nlist": nlist, "nprobe": nprobe}
    elif method == "flat":
        index = faiss.IndexFlatL2(dim) if metric == "euclidean" else faiss.IndexFlatIP(dim)
        params = {}
    else:
        raise InvalidQuery(f"unknown index method {method!r}: expected one of {', '.join(METHODS)}")
    # rows added block by block (the blocks shape the HNSW graph: the same for every caller);
    # one block has no steps to count, so it is reported as a stage without a total
    stage = "add: HNSW graph" if method == "hnsw" else "add"
    steps = n if n > _ADD_BLOCK else None
    if progress is not None:
        progress(stage, 0, steps)
    if method == "ivf":
        _add_ivf(faiss, index, unit, progress, steps)
        return index, params
    for lo in range(0, n, _ADD_BLOCK):
        index.add(np.ascontiguousarray(unit[lo : lo + _ADD_BLOCK], dtype=np.float32))
        release_rows(unit, lo, lo + _ADD_BLOCK)
        if progress is not None and steps is not None:
            progress(stage, min(n, lo + _ADD_BLOCK), steps)
    return index, params


def _add_ivf(faiss: Any, index: Any, unit: NDArray[np.floating],
             progress: Callable[[str, int, int | None], None] | None, steps: int | None) -> None:
    """Add `unit`'s rows to a trained IVF index, each inverted list allocated once at its final size.

    FAISS's ``add`` appends to each cell's ``std::vector`` block by block, and a vector grows by
    doubling: on 3,000,000 x 300 the lists held up to twice the rows' 3.4 GB. So the rows are
    assigned to their cells first (the quantizer's nearest centroid, as ``add`` does; 8 bytes a
    row), each list is reserved at its final size, then the rows are added with those
    assignments (``add_core``): the same index as ``add`` gives, list for list. The pages of the
    rows already added are dropped from the process (:func:`release_rows`).
    """
    n = unit.shape[0]
    cells = np.empty(n, dtype=np.int64)
    for lo in range(0, n, _ADD_BLOCK):
        block = np.ascontiguousarray(unit[lo : lo + _ADD_BLOCK], dtype=np.float32)
        cells[lo : lo + len(block)] = index.quantizer.assign(block, 1).ravel()
        release_rows(unit, lo, lo + _ADD_BLOCK)
    lists = faiss.downcast_InvertedLists(index.invlists)
    for cell, size in enumerate(np.bincount(cells, minlength=index.nlist).tolist()):
        if size:  # a resize down keeps the capacity: the adds below never reallocate
            lists.resize(cell, size)
            lists.resize(cell, 0)
    for lo in range(0, n, _ADD_BLOCK):
        block = np.ascontiguousarray(unit[lo : lo + _ADD_BLOCK], dtype=np.float32)
        assigned = np.ascontiguousarray(cells[lo : lo + len(block)])
        index.add_core(len(block), faiss.swig_ptr(block), None, faiss.swig_ptr(assigned))
        release_rows(unit, lo, lo + _ADD_BLOCK)
        if progress is not None and steps is not None:
            progress("add", min(n, lo + _ADD_BLOCK), steps)


def release_rows(rows: np.ndarray, lo: int, hi: int) -> None:
    """Drop the pages of rows ``lo:hi`` of a read-only memory-mapped table from this process.

    `rows` ``(n, dim)``, C-contiguous: a cache entry's ``matrix``/``unit`` as
    ``np.load(mmap_mode="r")`` maps them. A pass over every row (adding them to an index,
    exact search of a sample) makes each page it reads resident in the process, so a
    3,000,000 x 300 float32 table holds 3.4 GB of file pages on top of what the pass builds;
    ``madvise(MADV_DONTNEED)`` on the rows already used gives those pages back. They stay in the
    page cache (nothing is read from disk again while memory allows), and a later access maps
    them again. Only whole pages inside the rows are dropped. Does nothing for an array that is
    not a read-only or shared memory map (``np.memmap`` mode ``"r"``/``"r+"``; a copy-on-write
    map would lose its changes), or where ``madvise`` is missing.
    """
    import mmap

    mm = getattr(rows, "_mmap", None)
    if (mm is None or getattr(rows, "mode", None) not in ("r", "r+") or not rows.flags.c_contiguous
            or not hasattr(mm, "madvise") or not hasattr(mmap, "MADV_DONTNEED") or hi <= lo):
        return
    start = np.frombuffer(mm, dtype=np.uint8).ctypes.data  # address of the mapping's first byte
    row_bytes = rows.strides[0]
    first = rows.ctypes.data - start + max(0, lo) * row_bytes
    last = rows.ctypes.data - start + min(hi, rows.shape[0]) * row_bytes
    page = mmap.PAGESIZE
    first = -(-first // page) * page
    last = last // page * page
    if last > first:
        try:
            mm.madvise(mmap.MADV_DONTNEED, first, last - first)
        except (OSError, ValueError):
            pass


def deeper(method: str, params: dict[str, Any], n: int, fetch: int, probe: int | None,
           max_fetch: int) -> tuple[int, int | None] | None:
    """Return the next try for queries still short of k results: ``(fetch, nprobe)``, or None (answer exactly).

    Four times the results fetched (up to `max_fetch`); for IVF also four times the cells
    probed (up to ``nlist``; `probe` None: the stored ``nprobe``), since a query whose probed
    cells hold fewer rows than it asks for gets no more from a larger fetch. Without this,
    such a query was answered by exact search over every row: a pass over the whole table
    (about 15 s on 3,000,000 x 300) for one short query, and, in a build's recall ladder at
    small nprobe, every page of the rows mapped again beside the index.
    """
    more = min(fetch * 4, n, max_fetch)
    if method == "ivf":
        nlist = int(params["nlist"])
        current = int(params["nprobe"] if probe is None else probe)
        cells = min(current * 4, nlist)
        if more <= fetch and cells <= current:
            return None
        return max(more, fetch), cells
    return (more, probe) if more > fetch else None
