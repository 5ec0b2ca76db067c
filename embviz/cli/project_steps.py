"""The steps ``embviz project`` and ``embviz plot`` share: select, lay out, add neighbor lists.

Each step calls the library (:mod:`embviz.viz`) and reports on stderr what it did and what it
cost (points, seconds, cache hits, the trust score), with a progress display while it runs.
The commands themselves are in :mod:`embviz.cli.project`, their options in
:mod:`embviz.cli.project_options`.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from embviz.cli._common import VectorSource, message
from embviz.errors import InvalidQuery

if TYPE_CHECKING:
    from embviz.cli.project_options import Method
    from embviz.vectors import Vectors
    from embviz.viz import Projection, Selection


# -- the selection ---------------------------------------------------------------------------------
def _read_keys(path: Path | None) -> list[str] | None:
    if path is None:
        return None
    if str(path) == "-":
        lines = sys.stdin.read().splitlines()
    else:
        try:
            lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
        except OSError as exc:
            raise InvalidQuery(
                f"{path}: cannot read the keys file: {exc.strerror or exc}"
            ) from None
    keys = [line.strip("\r\n") for line in lines if line.strip()]
    if not keys:  # not silently the default selection (the top 5,000)
        where = "stdin" if str(path) == "-" else str(path)
        raise InvalidQuery(f"{where}: the --keys file holds no keys, so the selection is empty")
    return keys


def select(table: Vectors, top, keys, sample, around, k, seed, extra_around=()) -> Selection:
    """Return the selection of --top/--keys/--sample/--around (and --highlight's `extra_around`).

    Nothing selected means the ``viz.DEFAULT_TOP`` most frequent keys; --highlight adds to that.
    """
    from embviz import viz

    if top is None and keys is None and sample is None and not around:
        top = viz.DEFAULT_TOP  # --highlight adds to the default selection
    return viz.select(
        table,
        top=top,
        keys=_read_keys(keys),
        sample=sample,
        around=list(around or []) + list(extra_around),
        k=k,
        seed=seed,
    )


# -- the layout ------------------------------------------------------------------------------------
#: Above these sizes a projection takes many minutes: one line says so before it starts.
#: Seconds per point, from runs on a 2-core machine (t-SNE: 5,000 points in 313 s; UMAP:
#: 10,000 points in about 24 s once compiled; docs/benchmarks.md).
_LONG = {"tsne": (20_000, 0.063), "umap": (200_000, 0.0024)}


def _warn_long(method: str, m: int) -> None:
    """Say the estimated cost of a projection the user may not expect, and how to cut it."""
    limit, per_point = _LONG.get(method, (None, 0.0))
    if limit is None or m <= limit:
        return
    minutes = max(1, round(m * per_point / 60))
    message(
        f"{method} of {m:,} points takes about {minutes} min on a 2-core machine; "
        f"--sample {limit:,} (or --top {limit:,}) or --method pca (seconds) cut it"
    )


def layout(
    table: Vectors,
    selection: Selection,
    *,
    method: Method,
    dim: int,
    seed: int | None,
    n_neighbors: int,
    min_dist: float,
    perplexity: float,
    no_cache: bool,
    cache_dir: Path | None,
    fingerprint: str,
    source: VectorSource | None = None,
    no_index: bool = False,
) -> Projection:
    """Run the projection with a progress display, then report points, time and trust.

    UMAP over more than ``viz.EXACT_KNN_MAX`` points takes its kNN from the table's stored
    index when it has one (unless `no_index`); the stderr line says so.
    """
    from embviz import viz
    from embviz.cli._common import stages
    from embviz.io import cache as _cache

    _warn_long(method.value, selection.count)
    index = None
    if method.value == "umap" and selection.count > viz.EXACT_KNN_MAX and not no_index and source is not None:
        index = _stored_index(source, table)
    start = time.perf_counter()
    with stages() as report:
        proj = viz.project(
            table,
            selection,
            method=method.value,
            dim=dim,
            seed=seed,
            n_neighbors=n_neighbors,
            min_dist=min_dist,
            perplexity=perplexity,
            cache_dir=cache_dir or _cache.default_cache_dir(),
            use_cache=not no_cache,
            fingerprint=fingerprint,
            progress=report,
            index=index,
        )
    how = "from the projection cache" if proj.cached else f"in {time.perf_counter() - start:.1f} s"
    message(f"projected {selection.summary()} with {method.value} to {dim}D {how}")
    if str(proj.params.get("knn", "")).startswith("index"):
        k = proj.params["n_neighbors"]
        message(f"UMAP's {k} nearest neighbors of each point came from the {proj.params['knn']}")
    report_recall(proj, selection.count)
    return proj


def report_recall(proj: Projection, m: int) -> None:
    """Say the layout's trust score (recall@10 over `m` points, or a sample of them) on stderr."""
    from embviz.viz import RECALL_SAMPLE

    if proj.recall is None:
        return
    over = f"a sample of {RECALL_SAMPLE:,} points" if m > RECALL_SAMPLE else f"all {m:,} points"
    message(
        f"trust: recall@10 = {proj.recall:.3f} "
        f"(cosine neighbors kept among layout neighbors, over {over})"
    )


# -- the neighbor lists ----------------------------------------------------------------------------
def neighbor_lists(
    table: Vectors,
    proj: Projection,
    k: int,
    neighbors_for: int | None,
    restrict: int | None,
    source: VectorSource,
    no_index: bool = False,
    metric: str = "cosine",
) -> Any:
    """Compute the neighbor lists of the drawn points in `metric`; the cost goes to stderr.

    Exact and cached like layouts; for more than ``explorer.INDEX_ABOVE`` points, from the
    table's stored index in `metric` when it has one (approximate), unless `no_index`.
    """
    from embviz.cli._common import stages
    from embviz.io import cache as _cache
    from embviz.viz import explorer

    cache_dir = None if source.no_cache else (source.cache_dir or _cache.default_cache_dir())
    index = None
    if not no_index and len(explorer.rows_with_lists(proj.ids, neighbors_for)) > explorer.INDEX_ABOVE:
        index = _stored_index(source, table, metric)
    with stages() as report:
        lists = explorer.neighbor_lists(
            table,
            proj.ids,
            k,
            neighbors_for=neighbors_for,
            restrict=restrict,
            progress=report,
            cache_dir=cache_dir,
            index=index,
            metric=metric,
        )
    scope = f"the first {restrict:,} keys" if restrict else f"all {table.count:,} keys"
    how = "from the cache" if lists.cached else f"in {lists.seconds:.1f} s"
    kind = "exact neighbors" if lists.search is None else f"neighbors from the index, {lists.search},"
    message(
        f"neighbor lists: {k} {kind} ({metric} over {scope}) of {len(lists.rows):,} "
        f"of {len(proj.ids):,} points {how}"
    )
    return lists


def _stored_index(source: VectorSource, table: Vectors, metric: str = "cosine") -> Any:
    """Return the table's stored FAISS index in `metric` (``embviz index build``), or None (none, or no faiss)."""
    from embviz.cli._common import index_entry
    from embviz.errors import MissingDependency
    from embviz.search import index as search_index

    try:
        search_index.require_faiss()
    except MissingDependency:
        return None
    entry = index_entry(source)
    if entry is None:
        return None
    return search_index.stored(entry, table.unit if metric == "cosine" else table.matrix, metric=metric)

