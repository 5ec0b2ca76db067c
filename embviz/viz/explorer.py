"""The explorer's data: exact neighbor lists, a density layer, label order, and the page payload.

Everything the page's one JavaScript asset (``explorer.js``) needs is computed here, at plot
time, and embedded as JSON in a ``<script type="application/json" id="embviz-data">`` block.
Keys are data, never markup: the page reads them with ``textContent`` and draws them with
``textContent``; numbers travel as base64 little-endian typed arrays. Metadata columns shown
with the keys (titles, genres) travel the same way: one JSON array of strings (null where
missing) per column, for the drawn points and for the undrawn neighbors in their lists.

Neighbor lists are the exact cosine neighbors in the original space, computed with the batched
kernel :func:`embviz.search.top_k` exactly as :func:`embviz.search.neighbors` computes them for
one key (the query is the key's unit row, the key itself is excluded), so the panel shows what
``embviz neighbors KEY -k K`` prints.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Mapping, Sequence

import numpy as np

from embviz.errors import InvalidQuery
from embviz.search import top_k
from embviz.vectors import KeyBlob
from embviz.viz import layout_cache

if TYPE_CHECKING:
    from numpy.typing import NDArray

    from embviz.io.meta import Meta
    from embviz.vectors import Vectors
    from embviz.viz.projection import Projection

#: Neighbor lists for every drawn point up to this many points; above it, the most frequent.
NEIGHBORS_FOR_MAX = 20_000
#: Above this many points with lists, ``plot``/``project`` take the lists from the table's
#: stored index when it has one (``--no-index``: exact).
INDEX_ABOVE = 50_000
#: ``density="auto"`` draws the density layer above this many drawn points.
DENSITY_MIN = 100_000
#: The page lists every key of the file (for "in the file, not in this plot") up to this many.
VOCAB_MAX = 1_000_000
#: Density grid: bins along the longer axis.
DENSITY_BINS = 200
#: Columns of the selection export; a shown metadata column of one of these names is exported
#: as ``meta_<name>`` (as ``embviz neighbors --show`` names it).
EXPORT_COLUMNS = ("key", "rank", "x", "y", "z")
#: Queries per batch of the kernel (bounds memory: batch x n float32 scores).
_BATCH = 500


@dataclass(frozen=True)
class NeighborLists:
    """Nearest neighbors of some drawn points in the original space (cosine, dot or euclidean).

    Attributes
    ----------
    rows : ndarray ``(r,)`` int64
        Positions (``0 .. m-1``) of the drawn points that have a list, ascending.
    ids : ndarray ``(r, k)`` int64
        Row ids in the vectors of their neighbors, best first (ties: lower id first).
    scores : ndarray ``(r, k)`` float32
        Scores in `metric`: cosine similarities in [-1, 1], dot products, or negative
        euclidean distances (higher is nearer, as ``embviz neighbors --metric`` prints them).
    k : int
        Neighbors per point (>= 1).
    restrict : int or None
        Only the first `restrict` keys of the file were candidates.
    seconds : float
        Wall time of the computation (of the cache read, when `cached`).
    cached : bool
        The lists were read from the cache (computed by an earlier plot of the same table).
    search : str or None
        None: exact. Else how approximate the lists are (an index's ``describe()``, e.g.
        "approximate (hnsw, ef_search=128, recall@10 0.979 measured at build)").
    metric : {"cosine", "dot", "euclidean"}
        The score (:mod:`embviz.search.metric`).
    """

    rows: NDArray[np.int64]
    ids: NDArray[np.int64]
    scores: NDArray[np.float32]
    k: int
    restrict: int | None
    seconds: float
    cached: bool = False
    search: str | None = None
    metric: str = "cosine"


@dataclass(frozen=True)
class Comparison:
    """A second table's view of the drawn points, shown beside the first in the panel.

    What ``embviz diff A B --html`` draws: the map is A's layout, the :class:`NeighborLists`
    are A's, and this holds B's lists of the same points with the per-key figures of
    :func:`embviz.compare.diff`.

    Attributes
    ----------
    name_a, name_b : str
        The tables' names (file names), shown as plain text.
    scope : str
        Where both lists were searched (e.g. "cosine among the 100,000 compared keys").
    ids_b : ndarray ``(r, k)`` int64
        B's neighbors of the points with lists (the lists' ``rows``), as row ids of A's table
        (every compared key is in both).
    scores_b : ndarray ``(r, k)`` float32
        Their cosine similarities in B, in [-1, 1].
    jaccard : ndarray ``(m,)`` float
        Jaccard@k of each drawn point's lists in A and B, in [0, 1].
    cosine : ndarray ``(m,)`` float
        Cosine of each drawn point's A vector and aligned B vector (NaN: not comparable).
    rank_b : ndarray ``(m,)`` int
        Each drawn point's 1-based row rank in B.
    """

    name_a: str
    name_b: str
    scope: str
    ids_b: NDArray[np.int64]
    scores_b: NDArray[np.float32]
    jaccard: NDArray[np.floating]
    cosine: NDArray[np.floating]
    rank_b: NDArray[np.integer]


def rows_with_lists(ids: NDArray[np.int64], neighbors_for: int | None = None) -> NDArray[np.int64]:
    """Positions of the drawn points that get a neighbor list.

    Parameters
    ----------
    ids : ndarray ``(m,)`` int64
        Row ids of the drawn points (lower id = more frequent).
    neighbors_for : int, optional
        How many points get a list (the most frequent); default every point up to
        :data:`NEIGHBORS_FOR_MAX`, else the :data:`NEIGHBORS_FOR_MAX` most frequent.

    Returns
    -------
    ndarray ``(r,)`` int64, ascending positions.

    Raises
    ------
    InvalidQuery
        If `neighbors_for` < 0.
    """
    ids = np.asarray(ids, dtype=np.int64)
    m = len(ids)
    if neighbors_for is not None and neighbors_for < 0:
        raise InvalidQuery(f"--neighbors-for must be >= 0, got {neighbors_for}")
    n = min(m, NEIGHBORS_FOR_MAX if neighbors_for is None else neighbors_for)
    if n >= m:
        return np.arange(m, dtype=np.int64)
    return np.sort(np.argsort(ids, kind="stable")[:n])


def neighbor_lists(
    vectors: Vectors,
    ids: NDArray[np.int64],
    k: int = 10,
    *,
    neighbors_for: int | None = None,
    restrict: int | None = None,
    progress: Callable[[str, int, int], None] | None = None,
    cache_dir: Path | None = None,
    index: Any = None,
    metric: str = "cosine",
) -> NeighborLists:
    """Compute the `k` nearest neighbors (whole file, in `metric`) of drawn points, in batches.

    Parameters
    ----------
    vectors : Vectors
        The whole table; neighbors are searched among all its rows (or the first `restrict`).
    ids : ndarray ``(m,)`` int64
        Row ids of the drawn points.
    k : int
        Neighbors per point, >= 1.
    neighbors_for : int, optional
        See :func:`rows_with_lists`.
    restrict : int, optional
        Search only the first `restrict` keys, as ``embviz neighbors --restrict``.
    progress : callable ``(stage, done, total)``, optional
        Called after each batch.
    cache_dir : Path, optional
        Read the lists from, and write them to, ``cache_dir/neighbor-lists/`` (None: no
        cache). The entry is keyed on the whole searched matrix, the query ids, `k`,
        `restrict` and the embviz version (:func:`embviz.viz.layout_cache.lists_path`).
    index : embviz.search.index.Index, optional
        Answer from this FAISS index instead of exact search (approximate; ``search`` says
        how, from the recall measured at build; the lists are not cached). Same queries and
        exclusions as ``embviz neighbors --index``; it must have been built for `metric`.
    metric : {"cosine", "dot", "euclidean"}
        cosine (the default) compares unit rows; ``dot`` and ``euclidean`` the raw rows
        (:func:`embviz.search.metric.top_k_by`), as ``embviz neighbors --metric``.

    Returns
    -------
    NeighborLists
        The same keys, order and scores as :func:`embviz.search.neighbors` (cosine) or
        ``embviz neighbors --metric`` for each key (the padding row,
        ``vectors.padding_idx``, is never a neighbor).

    Raises
    ------
    InvalidQuery
        If ``k < 1``, `neighbors_for` < 0, the metric is unknown, or `index` was built for
        another metric.
    """
    import time

    from embviz.search.metric import check_metric, top_k_by

    metric = check_metric(metric)
    if k < 1:
        raise InvalidQuery(f"--neighbors-k must be >= 1 (0 turns the lists off), got {k}")
    if index is not None and getattr(index, "metric", "cosine") != metric:
        raise InvalidQuery(f"the index was built for {index.metric}, not {metric}")
    start = time.perf_counter()
    ids = np.asarray(ids, dtype=np.int64)
    rows = rows_with_lists(ids, neighbors_for)
    query_ids = ids[rows]
    r = len(rows)
    pad = [] if vectors.padding_idx is None else [int(vectors.padding_idx)]  # never a neighbor
    path = None
    if cache_dir is not None and index is None:
        path = layout_cache.lists_path(
            Path(cache_dir), vectors.unit, query_ids, k, restrict, vectors.padding_idx,
            getattr(vectors, "unit_digest", None), metric=metric,
            norms=None if metric == "cosine" else vectors.norms,
        )
        hit = layout_cache.read_lists(path, r, k, vectors.unit.shape[0])
        if hit is not None:
            return NeighborLists(
                rows, *hit, int(k), restrict, time.perf_counter() - start, True, metric=metric
            )
    out_ids = np.zeros((r, 0), dtype=np.int64)
    out_scores = np.zeros((r, 0), dtype=np.float32)
    parts_i, parts_s = [], []
    for lo in range(0, r, _BATCH):
        chunk = query_ids[lo : lo + _BATCH]
        exclude = [[int(i), *pad] for i in chunk]
        if metric != "cosine":  # the raw rows, as `embviz neighbors --metric` queries them
            q = np.asarray(vectors.matrix[chunk], dtype=np.float32)
            if index is not None:
                found, scores = index.search(q, k, exclude=exclude, restrict=restrict)
            else:
                found, scores = top_k_by(vectors, q, k, metric=metric, exclude=exclude, restrict=restrict)
            parts_i.append(found)
            parts_s.append(scores)
            if progress is not None:
                progress("neighbor lists", min(lo + _BATCH, r), r)
            continue
        # the query of one key, as search.neighbors builds it: its unit row, normalised again
        q = np.asarray(vectors.unit[chunk], dtype=np.float32)
        norms = np.linalg.norm(q, axis=1)
        q = (q / np.where(norms == 0, 1, norms)[:, None]).astype(np.float32)
        if index is not None:
            live = norms > 0  # FAISS is never asked about an all-zero key (its list is empty)
            found = np.zeros((len(chunk), k), dtype=np.int64)
            scores = np.zeros((len(chunk), k), dtype=np.float32)
            if live.any():
                got_i, got_s = index.search(
                    q[live], k, exclude=[e for e, ok in zip(exclude, live) if ok], restrict=restrict
                )
                found, scores = found[:, : got_i.shape[1]], scores[:, : got_i.shape[1]]
                found[live], scores[live] = got_i, got_s
        else:
            found, scores = top_k(vectors.unit, q, k, exclude=exclude, restrict=restrict)
        zero = norms == 0  # an all-zero key has no neighbors (search.neighbors refuses it)
        if zero.any():
            scores = scores.copy()
            scores[zero] = np.nan
        parts_i.append(found)
        parts_s.append(scores)
        if progress is not None:
            progress("neighbor lists", min(lo + _BATCH, r), r)
    if parts_i:
        out_ids = np.concatenate(parts_i).astype(np.int64)
        out_scores = np.concatenate(parts_s).astype(np.float32)
    if path is not None:
        layout_cache.write_lists(path, out_ids, out_scores)
    search = None if index is None else index.describe()
    return NeighborLists(
        rows, out_ids, out_scores, int(k), restrict, time.perf_counter() - start, False, search,
        metric,
    )


def density(coords: NDArray[np.floating], bins: int = DENSITY_BINS) -> dict[str, Any]:
    """2-D histogram of layout points, for a heatmap drawn under them.

    Parameters
    ----------
    coords : ndarray ``(m, 2)``
        Layout coordinates.
    bins : int
        Bins along the longer side (the other side keeps square cells).

    Returns
    -------
    dict
        ``x`` ``(bx,)`` and ``y`` ``(by,)`` bin centres (float32), ``z`` ``(by, bx)`` float32
        ``log1p(count)`` with empty cells NaN (drawn transparent), and ``max`` (the largest
        count in a cell).
    """
    c = np.asarray(coords, dtype=np.float64)[:, :2]
    lo, hi = c.min(axis=0), c.max(axis=0)
    span = np.maximum(hi - lo, 1e-9)
    cell = span.max() / bins
    nb = np.maximum(1, np.ceil(span / cell - 1e-9).astype(int))
    hi = lo + nb * cell  # square cells
    counts, ex, ey = np.histogram2d(
        c[:, 0], c[:, 1], bins=(int(nb[0]), int(nb[1])), range=[[lo[0], hi[0]], [lo[1], hi[1]]]
    )
    z = np.log1p(counts.T).astype(np.float32)
    z[counts.T == 0] = np.nan
    return {
        "x": ((ex[:-1] + ex[1:]) / 2).astype(np.float32),
        "y": ((ey[:-1] + ey[1:]) / 2).astype(np.float32),
        "z": z,
        "max": int(counts.max()) if counts.size else 0,
    }


def use_density(mode: str, m: int, dim: int) -> bool:
    """Whether to draw the density layer: ``"on"``, ``"off"``, or ``"auto"`` (2D above :data:`DENSITY_MIN`).

    Raises
    ------
    InvalidQuery
        If `mode` is not one of the three.
    """
    if mode not in ("auto", "on", "off"):
        raise InvalidQuery(f"--density must be auto, on or off, got {mode!r}")
    if dim != 2:
        return False
    return mode == "on" or (mode == "auto" and m > DENSITY_MIN)


# -- the payload --------------------------------------------------------------------------
def b64(a: NDArray) -> str:
    """Base64 of `a`'s little-endian bytes (int32, int16 or float32)."""
    a = np.ascontiguousarray(a)
    return base64.b64encode(a.astype(a.dtype.newbyteorder("<")).tobytes()).decode("ascii")


def payload(
    projection: Projection,
    coords: NDArray[np.float32],
    *,
    vectors: Vectors | None = None,
    lists: NeighborLists | None = None,
    labels: int = 0,
    why_no_lists: str | None = None,
    vocab_max: int = VOCAB_MAX,
    comparison: Comparison | None = None,
    meta: Meta | None = None,
    shown: Mapping[str, Sequence[str | None]] | None = None,
) -> dict[str, Any]:
    """Build the JSON-ready data the page's explorer reads.

    Parameters
    ----------
    projection : Projection
        ``ids`` ``(m,)`` and ``keys``.
    coords : ndarray ``(m, 2 or 3)`` float32
        The drawn coordinates; only their shape is used (the page reads the coordinates from
        the figure's own traces, so they are stored once).
    vectors : Vectors, optional
        The whole table: its keys let the search say "in the file, not in this plot" (all keys
        up to `vocab_max`, else only the neighbors' keys).
    lists : NeighborLists, optional
        Neighbor lists (None: the page says they are off, and why: `why_no_lists`).
    labels : int
        At most this many key labels in view at once.
    why_no_lists : str, optional
        What the panel says for a point without a list.
    vocab_max : int
        Files with more keys list only the keys the page needs.
    comparison : Comparison, optional
        B's lists and the per-key figures of a diff (``compare``: names, ``scope``, ``ids``
        int32 and ``scores`` int16 as in ``nbr``, ``jaccard``/``cosine`` float32 ``(m,)``,
        ``rank_b`` int32 ``(m,)``).
    meta : Meta, optional
        The metadata table of `shown`: the values of the undrawn neighbors (the keys of
        `lists` and `comparison` that are not drawn) are looked up in it, so the panel shows
        them and the search finds them. Needs `vectors` (their keys).
    shown : mapping of str to sequence of (str or None), optional
        Metadata columns the page shows, in order, each ``(m,)`` values of the drawn points
        (None: missing), as :meth:`Meta.align <embviz.io.meta.Meta.align>` returns them.

    Returns
    -------
    dict
        ``keys`` (list of str, drawn, ``(m,)``), ``rank`` (base64 int32 ``(m,)``), ``dim``,
        ``n``, ``total``, ``other`` (keys of undrawn rows the page knows, in file order: one
        string joined by newlines, or a list when a key holds a newline) with ``other_ids``
        (base64 int32, or None when ``other_all``: every undrawn row), ``nbr`` (``rows``
        int32 ``(r,)``, ``ids`` int32 ``(r*k,)`` row ids, ``scores`` int16 ``(r*k,)`` =
        round(score * 10,000) for cosine, float32 with ``f32`` true for the unbounded
        metrics) or None, ``k``, ``restrict``, ``search`` (None: exact lists; else how
        approximate), ``metric`` (the lists' score), ``why``, ``labels``, and ``meta``: None,
        or with `shown` ``columns`` (list of str), ``names`` (their export column names:
        ``meta_<c>`` where ``c`` is one of :data:`EXPORT_COLUMNS`), ``values`` (one list per
        column, ``(m,)`` str or None),
        ``other_ids`` (base64 int32 ``(u,)``, ascending row ids of undrawn neighbors, or None),
        ``other`` (one list per column, ``(u,)``, their values) and ``colors`` (one per column,
        what the page's "colour by" applies: :func:`embviz.viz.coloring.page_coloring`, its
        ``codes`` base64 uint8 ``(m,)``). Arrays, not objects keyed by
        column name, so any column name (``__proto__``) is plain data in the page.
    """
    ids = np.asarray(projection.ids, dtype=np.int64)
    m, dim = coords.shape
    total = len(vectors.keys) if vectors is not None else int(ids.max() + 1 if m else 0)
    data: dict[str, Any] = {
        "version": 1,
        "dim": int(dim),
        "n": int(m),
        "total": int(total),
        "keys": list(projection.keys),
        "rank": b64((ids + 1).astype(np.int32)),
        "labels": int(labels),
        "k": 0,
        "restrict": None,
        "nbr": None,
        "search": None,
        "metric": "cosine",
        "why": why_no_lists or "neighbor lists are off (re-plot with --neighbors-k 10)",
        "other": [],
        "other_ids": None,
        "other_all": False,
        "meta": None,
    }
    drawn = np.zeros(total, dtype=bool)
    if m:
        drawn[ids] = True
    if shown:
        data["meta"] = _meta_block(shown, meta, vectors, lists, comparison, drawn)
    if lists is not None and len(lists.rows):
        k = lists.ids.shape[1] if lists.ids.ndim == 2 else 0
        scores = np.nan_to_num(lists.scores.astype(np.float64), nan=0.0)
        nbr = {
            "rows": b64(lists.rows.astype(np.int32)),
            "ids": b64(lists.ids.reshape(-1).astype(np.int32)),
        }
        if lists.metric == "cosine":  # in [-1, 1]: 4 decimals in int16 halve the page
            nbr["scores"] = b64(np.round(scores * 10_000).astype(np.int16).reshape(-1))
        else:  # dot products and distances are unbounded: float32
            nbr["scores"] = b64(scores.astype(np.float32).reshape(-1))
            nbr["f32"] = True
        data.update(
            k=int(k), restrict=lists.restrict, search=lists.search, metric=lists.metric, nbr=nbr
        )
    if comparison is not None:
        c = comparison
        sb = np.round(np.nan_to_num(c.scores_b.astype(np.float64), nan=0.0) * 10_000)
        data["compare"] = {
            "a": c.name_a,
            "b": c.name_b,
            "scope": c.scope,
            "ids": b64(c.ids_b.reshape(-1).astype(np.int32)),
            "scores": b64(sb.astype(np.int16).reshape(-1)),
            "jaccard": b64(np.asarray(c.jaccard, dtype=np.float32)),
            "cosine": b64(np.asarray(c.cosine, dtype=np.float32)),
            "rank_b": b64(np.asarray(c.rank_b, dtype=np.int32)),
        }
    if vectors is not None:
        if total <= vocab_max:
            other = np.flatnonzero(~drawn)
            data["other_all"] = True
        else:
            need = np.zeros(total, dtype=bool)
            if lists is not None and lists.ids.size:
                need[lists.ids.reshape(-1)] = True
            if comparison is not None and comparison.ids_b.size:
                need[comparison.ids_b.reshape(-1)] = True
            other = np.flatnonzero(need & ~drawn)
            data["other_ids"] = b64(other.astype(np.int32))
        keys = vectors.keys
        if data["other_all"] and isinstance(keys, KeyBlob) and m and int(ids.max()) == m - 1:
            # the drawn points are the first m rows (the default plot): the undrawn keys are the
            # rest of the cache's keys file, taken in one piece (its keys hold no newline)
            data["other"] = keys.joined(m, total)
            return data
        if len(other) > 2048:
            keys = tuple(keys)  # a lazy KeyBlob decodes once instead of key by key
        chosen = [keys[i] for i in other.tolist()]
        text = "\n".join(chosen)
        # one string, split in the page, is smaller and faster to write and parse than a list
        # of 400,000 strings; a key holding a newline (possible in Parquet) keeps the list form
        data["other"] = text if text.count("\n") == max(0, len(chosen) - 1) and chosen else chosen
    return data


def _meta_block(
    shown: Mapping[str, Sequence[str | None]],
    meta: Meta | None,
    vectors: Vectors | None,
    lists: NeighborLists | None,
    comparison: Comparison | None,
    drawn: NDArray[np.bool_],
) -> dict[str, Any]:
    """Return the payload's ``meta``: shown columns of the drawn points and undrawn neighbors."""
    columns = list(shown)
    block: dict[str, Any] = {
        "columns": columns,
        "names": [f"meta_{c}" if c in EXPORT_COLUMNS else c for c in columns],
        "values": [list(shown[c]) for c in columns],
        "other_ids": None,
        "other": [[] for _ in columns],
        "colors": [_page_colors(c, shown[c]) for c in columns],
    }
    if meta is None or vectors is None:
        return block
    total = len(drawn)
    need = np.zeros(total, dtype=bool)
    for found in (None if lists is None else lists.ids, None if comparison is None else comparison.ids_b):
        if found is not None and found.size:
            flat = found.reshape(-1)
            need[flat[(flat >= 0) & (flat < total)]] = True
    undrawn = np.flatnonzero(need & ~drawn)
    if len(undrawn):
        keys = vectors.keys
        values = meta.align([keys[i] for i in undrawn.tolist()], columns)
        block["other_ids"] = b64(undrawn.astype(np.int32))
        block["other"] = [values[c] for c in columns]
    return block


def _page_colors(column: str, values: Sequence[str | None]) -> dict[str, Any]:
    """One column's colouring for the page's "colour by" (:func:`embviz.viz.coloring.page_coloring`)."""
    from embviz.viz.coloring import page_coloring

    out = page_coloring(column, values)
    out["codes"] = b64(out["codes"])
    return out


def to_json(data: dict[str, Any]) -> str:
    r"""Return JSON text of `data` that is inert inside ``<script type="application/json">``.

    ``<``, ``>`` and ``&`` are written as ``\\u003c``, ``\\u003e``, ``\\u0026`` (so no key can
    close the element or open a comment), and U+2028/U+2029 as escapes.
    """
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    return (
        text.replace("<", "\\u003c")
        .replace(">", "\\u003e")
        .replace("&", "\\u0026")
        .replace("\u2028", "\\u2028")
        .replace("\u2029", "\\u2029")
    )


#: The page's JavaScript assets, in the order they run: the filters' parser, then the explorer.
SCRIPTS = ("explorer_filter.js", "explorer.js")


def script() -> str:
    """Return the explorer's JavaScript (:data:`SCRIPTS`, read from the installed package)."""
    from importlib.resources import files

    return "\n".join(files("embviz.viz").joinpath(name).read_text(encoding="utf-8") for name in SCRIPTS)
