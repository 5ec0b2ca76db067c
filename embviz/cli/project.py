"""``embviz project`` (coordinates on stdout) and ``embviz plot`` (interactive HTML)."""

from __future__ import annotations

import io
import sys
import time
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from embviz import output
from embviz.cli._common import (
    FormatOpt,
    MetaKeyOpt,
    MetaOpt,
    MetricChoice,
    NoHeaderOpt,
    QuietOpt,
    RestrictOpt,
    ShowOpt,
    VectorSource,
    check_output,
    emit,
    message,
    with_vectors,
)
from embviz.cli.app import app
from embviz.errors import InvalidQuery
from embviz.output import OutputFormat

if TYPE_CHECKING:
    from embviz.io.meta import Meta
    from embviz.vectors import Vectors
    from embviz.viz import Projection, Selection


class Method(str, Enum):
    """Projection methods."""

    umap = "umap"
    pca = "pca"
    tsne = "tsne"


class Density(str, Enum):
    """When the plot draws a density layer under the points."""

    auto = "auto"
    on = "on"
    off = "off"


class PlotlyJS(str, Enum):
    """Where the HTML gets plotly.js from."""

    inline = "inline"
    cdn = "cdn"
    directory = "directory"


# -- options shared by project and plot ------------------------------------------------------
MethodOpt = Annotated[
    Method,
    typer.Option(
        "--method",
        "-m",
        help="Projection method (UMAP: McInnes et al. 2018; t-SNE: van der Maaten & Hinton 2008).",
    ),
]
DimOpt = Annotated[int, typer.Option("--dim", min=2, max=3, help="Output dimensions: 2 or 3.")]
TopOpt = Annotated[
    int | None,
    typer.Option(
        "--top",
        min=1,
        help="The N most frequent keys (file order); default 5,000 if nothing else is selected.",
        show_default=False,
    ),
]
KeysOpt = Annotated[
    Path | None,
    typer.Option(
        "--keys",
        help="File with one key per line ('-': stdin); unknown keys are skipped with a warning.",
        show_default=False,
    ),
]
SampleOpt = Annotated[
    int | None,
    typer.Option(
        "--sample",
        min=1,
        help="N keys drawn uniformly at random (reproducible with --seed).",
        show_default=False,
    ),
]
AroundOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--around",
        help="A key or expression and its -k cosine neighbors; repeatable.",
        show_default=False,
    ),
]
AroundKOpt = Annotated[
    int, typer.Option("-k", "--k", min=1, help="Neighbors per --around/--highlight key.")
]
SeedOpt = Annotated[
    int | None,
    typer.Option(
        "--seed",
        help="Random seed: the same seed gives the same layout, sample and clusters. Without "
        "it UMAP runs in parallel and layouts differ between runs (the cache keeps the first).",
        show_default=False,
    ),
]
NeighborsOpt = Annotated[
    int,
    typer.Option(
        "--n-neighbors", min=2, max=200, help="UMAP: neighborhood size (local vs global structure)."
    ),
]
MinDistOpt = Annotated[
    float,
    typer.Option(
        "--min-dist", min=0.0, max=1.0, help="UMAP: minimum distance between layout points."
    ),
]
PerplexityOpt = Annotated[
    float,
    typer.Option(
        "--perplexity", min=1.0, help="t-SNE: perplexity (effective number of neighbors)."
    ),
]


ListsNoIndexOpt = Annotated[
    bool,
    typer.Option(
        "--no-index",
        help="Exact neighbor lists, and umap-learn's own kNN, even for more than 50,000 points: "
        "by default those come from the table's stored FAISS index when it has one "
        "(embviz index build), approximately.",
    ),
]
NeighborsForOpt = Annotated[
    int | None,
    typer.Option(
        "--neighbors-for",
        min=0,
        help="Neighbor lists for the N most frequent drawn points (default: every drawn point "
        "up to 20,000, else the 20,000 most frequent).",
        show_default=False,
    ),
]


ListsMetricOpt = Annotated[
    MetricChoice,
    typer.Option(
        "--metric",
        help="Score of the neighbor lists: cosine (angle only), dot (raw rows; ALS and two-tower "
        "models) or euclidean (score = negative distance). The layout itself is cosine.",
    ),
]


def _neighbor_lists(
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
    from embviz.cli._common import progress
    from embviz.io import cache as _cache
    from embviz.viz import explorer

    cache_dir = None if source.no_cache else (source.cache_dir or _cache.default_cache_dir())
    index = None
    if not no_index and len(explorer.rows_with_lists(proj.ids, neighbors_for)) > explorer.INDEX_ABOVE:
        index = _stored_index(source, table, metric)
    with progress() as bar:
        lists = explorer.neighbor_lists(
            table,
            proj.ids,
            k,
            neighbors_for=neighbors_for,
            restrict=restrict,
            progress=_progress_callback(bar),
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


def _progress_callback(stack: Any) -> Any:
    """Return a ``progress(stage, done, total)`` callback drawing one line per stage."""
    tasks: dict[str, Any] = {}

    def report(stage: str, done: int, total: int) -> None:
        if stage not in tasks:
            for t in tasks.values():
                stack.update(t, completed=stack.tasks[t].total)
            tasks[stage] = stack.add_task(stage, total=total)
        stack.update(tasks[stage], completed=done)

    return report


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


def _layout(
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
    from embviz.cli._common import progress
    from embviz.io import cache as _cache

    _warn_long(method.value, selection.count)
    index = None
    if method.value == "umap" and selection.count > viz.EXACT_KNN_MAX and not no_index and source is not None:
        index = _stored_index(source, table)
    start = time.perf_counter()
    with progress() as bar:
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
            progress=_progress_callback(bar),
            index=index,
        )
    how = "from the projection cache" if proj.cached else f"in {time.perf_counter() - start:.1f} s"
    message(f"projected {selection.summary()} with {method.value} to {dim}D {how}")
    if str(proj.params.get("knn", "")).startswith("index"):
        k = proj.params["n_neighbors"]
        message(f"UMAP's {k} nearest neighbors of each point came from the {proj.params['knn']}")
    _report_recall(proj, selection.count)
    return proj


def _report_recall(proj: Projection, m: int) -> None:
    from embviz.viz import RECALL_SAMPLE

    if proj.recall is None:
        return
    over = f"a sample of {RECALL_SAMPLE:,} points" if m > RECALL_SAMPLE else f"all {m:,} points"
    message(
        f"trust: recall@10 = {proj.recall:.3f} "
        f"(cosine neighbors kept among layout neighbors, over {over})"
    )


def _select(table: Vectors, top, keys, sample, around, k, seed, extra_around=()) -> Selection:
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


def _format_for(path: Path | None, fmt: OutputFormat | None) -> OutputFormat | None:
    if fmt is not None or path is None:
        return fmt
    suffix = path.suffix.lower()
    return {".csv": OutputFormat.csv, ".json": OutputFormat.json, ".jsonl": OutputFormat.jsonl}.get(
        suffix, OutputFormat.tsv
    )


@app.command()
@with_vectors
def project(
    method: MethodOpt = Method.umap,
    dim: DimOpt = 2,
    top: TopOpt = None,
    keys: KeysOpt = None,
    sample: SampleOpt = None,
    around: AroundOpt = None,
    k: AroundKOpt = 10,
    seed: SeedOpt = None,
    n_neighbors: NeighborsOpt = 15,
    min_dist: MinDistOpt = 0.1,
    perplexity: PerplexityOpt = 30.0,
    neighbors_k: Annotated[
        int,
        typer.Option(
            "--neighbors-k",
            min=0,
            help="Add each point's K exact neighbors in the original space (columns "
            "n1, s1, ..., nK, sK: key and score, in --metric), as 'embviz neighbors' prints "
            "them; 0: none.",
        ),
    ] = 0,
    neighbors_for: NeighborsForOpt = None,
    metric: ListsMetricOpt = MetricChoice.cosine,
    restrict: RestrictOpt = None,
    no_index: ListsNoIndexOpt = False,
    out: Annotated[
        Path | None,
        typer.Option(
            "--output",
            "-o",
            help="Write the coordinates to FILE (format: --format, else from the suffix).",
            show_default=False,
        ),
    ] = None,
    fmt: FormatOpt = None,
    no_header: NoHeaderOpt = False,
    quiet: QuietOpt = False,
    *,
    source: VectorSource,
) -> None:
    """Project keys to 2D or 3D (UMAP, PCA, t-SNE) and print key, rank, x, y[, z].

    Selections mix freely (--top, --keys, --sample, --around); the default is the 5,000 most
    frequent keys. stderr says how many of how many points, and the trust score: recall@10
    of each point's cosine neighbors among its layout neighbors. Layouts are cached, so the
    same command runs again in about a second.
    """
    from embviz.io import cache as _cache

    if out is not None:
        out = check_output(out)  # before the load and the layout, not after
    path = source.path
    table = source.load()
    selection = _select(table, top, keys, sample, around, k, seed)
    proj = _layout(
        table,
        selection,
        method=method,
        dim=dim,
        seed=seed,
        n_neighbors=n_neighbors,
        min_dist=min_dist,
        perplexity=perplexity,
        no_cache=source.no_cache,
        cache_dir=source.cache_dir,
        fingerprint=_cache.fingerprint(path) + (f"|{source.postprocess}" if source.postprocess else ""),
        source=source,
        no_index=no_index,
    )
    columns = ["key", "rank", "x", "y", "z"][: 2 + dim]
    rows = proj.rows()
    if neighbors_k:
        lists = _neighbor_lists(
            table, proj, neighbors_k, neighbors_for, restrict, source, no_index, MetricChoice(metric).value
        )
        kept = lists.rows.tolist()
        rows = [rows[j] for j in kept]
        for row, found, scores in zip(rows, lists.ids.tolist(), lists.scores.tolist()):
            for r, (i, score) in enumerate(zip(found, scores), start=1):
                row[f"n{r}"] = table.keys[i]
                row[f"s{r}"] = score
        columns += [c for r in range(1, neighbors_k + 1) for c in (f"n{r}", f"s{r}")]
    if out is None:
        emit(rows, fmt, no_header, columns=columns)
        return
    from embviz.io import atomic_write

    buf = io.StringIO()
    output.write_rows(rows, _format_for(out, fmt), buf, columns=columns, header=not no_header)
    atomic_write(out, lambda f: f.write(buf.getvalue().encode("utf-8")))
    message(f"wrote {proj.coords.shape[0]:,} coordinates to {out}")


#: ``--metadata`` (deprecated): the key column is the first of these a file has, else its first.
_OLD_KEY_COLUMNS = ("key", "word", "token")


def _old_metadata(path: Path) -> Meta:
    """Read a ``--metadata`` table by its old rule: the key column is 'key', 'word' or 'token'."""
    import warnings

    from embviz.io import meta as _meta

    with warnings.catch_warnings(record=True) as caught:  # about the first column as keys
        warnings.simplefilter("always")
        table = _meta.read_meta(path)
    names = (table.key_column, *table.columns)
    key = next((c for c in _OLD_KEY_COLUMNS if c in names), table.key_column)
    if key != table.key_column:
        return _meta.read_meta(path, key_column=key)
    for w in caught:
        warnings.warn(w.message, w.category, stacklevel=2)
    return table


def _plot_meta(
    meta: Path | None,
    metadata: Path | None,
    meta_key: str | None,
    show: str | None,
    color_by: str | None,
    source: VectorSource,
) -> tuple[Meta | None, list[str], str | None]:
    """Read the plot's metadata before any work: the table, the shown columns, its name.

    ``--meta FILE`` shows all its columns unless ``--show`` picks some; ``--metadata FILE`` (the
    deprecated alias) reads the same formats but keeps its old rules: the key column is
    ``key``/``word``/``token`` (else the first) and nothing is shown without ``--show``, so old
    pages look as they did. Without a file, a Parquet/Arrow vector table's own columns serve
    ``--show`` and ``--color-by``.
    """
    from embviz.cli._common import shown_columns, table_own_meta
    from embviz.io import meta as _meta

    column = color_by if color_by not in (None, "group") else None
    if meta is not None and metadata is not None:
        raise InvalidQuery("pass --meta FILE or --metadata FILE (its deprecated alias), not both")
    flag, path = ("--meta", meta) if meta is not None else ("--metadata", metadata)
    if path is not None:
        path = Path(path).expanduser()
        if not (path.exists() if flag == "--meta" else path.is_file()):
            raise InvalidQuery(f"{flag} {path}: no such file")
        if meta_key is None and flag == "--metadata":
            table = _old_metadata(path)
        else:
            table = _meta.read_meta(path, key_column=meta_key)
        where = str(path)
        columns = shown_columns(table, show) if show or flag == "--meta" else []
    else:
        if meta_key is not None:
            raise InvalidQuery("--meta-key-column needs --meta FILE")
        table = table_own_meta(source) if (show or column) else None
        if table is None and column is not None:
            # the message predates --meta; tests and docs/plot.md quote it as it is
            raise InvalidQuery(f"--color-by {column!r} needs --meta FILE (or use --color-by group)")
        if table is None and show:
            raise InvalidQuery(f"--show needs metadata: pass --meta FILE ({source.path.name} has no "
                               "metadata columns)")
        where = None if table is None else source.path.name
        columns = shown_columns(table, show) if show else []
    if column is not None and table is not None and column not in table.columns:
        raise InvalidQuery(
            f"--color-by {column!r}: no such metadata column (columns of {Path(table.path).name}: "
            f"{', '.join(table.columns) or 'none'})"
        )
    return table, columns, where


@app.command()
@with_vectors
def plot(
    out: Annotated[Path, typer.Option("--output", "-o", help="The HTML file to write.")] = Path(
        "embviz-plot.html"
    ),
    method: MethodOpt = Method.umap,
    dim: DimOpt = 2,
    top: TopOpt = None,
    keys: KeysOpt = None,
    sample: SampleOpt = None,
    around: AroundOpt = None,
    k: AroundKOpt = 10,
    seed: SeedOpt = None,
    n_neighbors: NeighborsOpt = 15,
    min_dist: MinDistOpt = 0.1,
    perplexity: PerplexityOpt = 30.0,
    x: Annotated[
        str | None,
        typer.Option(
            "--x",
            help="Formula axis: place points by cosine to an expression such as 'man - woman'.",
            show_default=False,
        ),
    ] = None,
    y: Annotated[
        str | None,
        typer.Option("--y", help="Formula for the y axis (with --x).", show_default=False),
    ] = None,
    z: Annotated[
        str | None, typer.Option("--z", help="Formula for the z axis (3D).", show_default=False)
    ] = None,
    labels: Annotated[
        int,
        typer.Option(
            "--labels",
            min=0,
            help="Label the N most frequent points, thinned so that labels never overlap "
            "(more appear as you zoom in); 0: no labels.",
        ),
    ] = 100,
    neighbors_k: Annotated[
        int,
        typer.Option(
            "--neighbors-k",
            min=0,
            help="Click a point to see its K exact neighbors in the original space, in "
            "--metric (computed now, embedded in the page); 0 turns the lists off.",
        ),
    ] = 10,
    neighbors_for: NeighborsForOpt = None,
    metric: ListsMetricOpt = MetricChoice.cosine,
    restrict: RestrictOpt = None,
    no_index: ListsNoIndexOpt = False,
    density: Annotated[
        Density,
        typer.Option(
            "--density",
            help="A density layer under the points: auto (2D above 100,000 points), on, off.",
        ),
    ] = Density.auto,
    highlight: Annotated[
        str | None,
        typer.Option(
            "--highlight",
            help="Comma-separated keys to mark, with their -k neighbors.",
            show_default=False,
        ),
    ] = None,
    meta: MetaOpt = None,
    meta_key: MetaKeyOpt = None,
    show: ShowOpt = None,
    metadata: Annotated[
        Path | None,
        typer.Option(
            "--metadata",
            help="Deprecated alias of --meta (same formats), kept for old scripts: its key column "
            "is 'key', 'word' or 'token' (else the first), and it shows no column unless --show.",
            show_default=False,
        ),
    ] = None,
    color_by: Annotated[
        str | None,
        typer.Option(
            "--color-by",
            help="A metadata column to colour by (numbers: a colour scale; text: a legend, "
            "multi-valued cells by their first value), or 'group' (the --around/--highlight groups).",
            show_default=False,
        ),
    ] = None,
    color_sep: Annotated[
        str,
        typer.Option(
            "--color-sep",
            help="Separator of multi-valued --color-by cells ('Animation|Comedy' is coloured "
            "as Animation).",
        ),
    ] = "|",
    clusters: Annotated[
        int | None,
        typer.Option(
            "--clusters",
            min=1,
            help="Colour by K k-means clusters of the vectors.",
            show_default=False,
        ),
    ] = None,
    plotlyjs: Annotated[
        PlotlyJS,
        typer.Option(
            "--plotlyjs",
            help="inline (offline, default), cdn, or directory (plotly.min.js beside the file).",
        ),
    ] = PlotlyJS.inline,
    open_: Annotated[bool, typer.Option("--open", help="Open the HTML in a web browser.")] = False,
    quiet: QuietOpt = False,
    *,
    source: VectorSource,
) -> None:
    """Write an interactive, self-contained HTML scatter plot of a projection.

    Hover shows each key and its rank; with --meta FILE (titles, categories) also the --show
    columns, which label the map (the first), answer the search and fill the panel. 2D plots
    of many points use WebGL; --dim 3 gives a rotatable 3D plot. --x/--y place points by
    cosine to formulas instead of a projection. The page records its provenance: file and
    fingerprint, selection, method, parameters, seed, embviz version, and the recall@10 trust
    score. The path is printed on stderr.
    """
    from embviz import viz
    from embviz.io import cache as _cache

    if (x is None) != (y is None):
        raise InvalidQuery("formula axes need both --x and --y (and --z for 3D)")
    if z is not None and x is None:
        raise InvalidQuery("--z needs --x and --y")
    if clusters is not None and color_by is not None:
        raise InvalidQuery("use either --clusters or --color-by, not both")
    if not color_sep:
        raise InvalidQuery("--color-sep must not be empty (the separator of multi-valued cells)")
    out = check_output(out)  # before the load and the layout, not after
    start = time.perf_counter()
    # the metadata is read (and --show/--color-by checked) before the vectors and the layout
    table_meta, shown, meta_where = _plot_meta(meta, metadata, meta_key, show, color_by, source)
    path = source.path
    table = source.load()
    marks = [s.strip() for s in (highlight or "").split(",") if s.strip()]
    selection = _select(table, top, keys, sample, around, k, seed, extra_around=marks)
    fingerprint = _cache.fingerprint(path) + (f"|{source.postprocess}" if source.postprocess else "")
    if x is not None:
        formulas = [x, y] + ([z] if z is not None else [])
        proj = viz.formula_projection(table, selection.ids, formulas)
        message(f"placed {selection.summary()} on formula axes {' | '.join(formulas)}")
        _report_recall(proj, selection.count)
        axes = formulas
    else:
        proj = _layout(
            table,
            selection,
            method=method,
            dim=dim,
            seed=seed,
            n_neighbors=n_neighbors,
            min_dist=min_dist,
            perplexity=perplexity,
            no_cache=source.no_cache,
            cache_dir=source.cache_dir,
            fingerprint=fingerprint,
            source=source,
            no_index=no_index,
        )
        axes = None

    coloring = None
    if clusters is not None:
        import numpy as np

        from embviz.viz.coloring import cluster_names

        unit = np.asarray(table.unit[proj.ids], dtype=np.float32)
        labels_ = viz.kmeans(unit, clusters, seed=seed or 0)
        coloring = viz.Coloring(
            f"k-means (k={clusters})", labels=cluster_names(labels_, proj.ids, proj.keys, unit=unit)
        )
    elif color_by == "group":
        member: dict[int, str] = {}
        for name, ids in selection.groups.items():
            for i in ids.tolist():
                member.setdefault(int(i), name.removeprefix("around "))
        coloring = viz.Coloring("group", labels=[member.get(int(i)) for i in proj.ids.tolist()])
    elif color_by is not None:
        values = table_meta.align(proj.keys, [color_by])[color_by]
        coloring = viz.Coloring.from_column(color_by, values, sep=color_sep)
        found = sum(v is not None for v in values)
        message(f"{found:,} of {len(values):,} points have a {color_by!r} value in {meta_where}")
    if shown:
        rows = table_meta.align(proj.keys, [table_meta.key_column])[table_meta.key_column]
        found = sum(v is not None for v in rows)
        message(f"{found:,} of {len(rows):,} points have a row in {meta_where}; shown: {', '.join(shown)}")
        if not found and rows:  # ids written differently ('7744' vs '7744.0'), or another column
            from embviz.errors import warn

            warn(f"no plotted key is in column {table_meta.key_column!r} of {meta_where} "
                 f"(e.g. {proj.keys[0]!r}); name the column of keys with --meta-key-column")

    groups = {}
    for key in marks:
        groups[key] = selection.groups.get(f"around {key}")
    prov = viz.provenance(
        proj,
        source=table.source if source.postprocess else path.name,  # 'name (abtt:D)'
        fingerprint=fingerprint,
        selection=selection.description,
        total=selection.total,
        axes=axes,
    )
    lists = None
    if neighbors_k:
        lists = _neighbor_lists(
            table, proj, neighbors_k, neighbors_for, restrict, source, no_index, MetricChoice(metric).value
        )
        prov["neighbor_lists"] = {
            "k": neighbors_k,
            "metric": lists.metric,
            "points": len(lists.rows),
            "restrict": restrict,
            "seconds": round(lists.seconds, 2),
            "cached": lists.cached,
        }
    fig = viz.figure(
        proj,
        prov=prov,
        labels=labels,
        highlight={g: v for g, v in groups.items() if v is not None},
        coloring=coloring,
        axis_titles=axes,
        vectors=table,
        lists=lists,
        density=density.value,
        why_no_lists="neighbor lists are off in this page (plotted with --neighbors-k 0); "
        "re-plot with --neighbors-k 10",
        meta=table_meta if shown else None,
        show=shown,
    )
    written = viz.write_html(fig, out, plotlyjs=plotlyjs.value, title=f"embviz: {path.name}")
    size = written.stat().st_size
    message(
        f"wrote {written} ({size / 1e6:.1f} MB, {proj.coords.shape[0]:,} points) "
        f"in {time.perf_counter() - start:.1f} s"
    )
    if open_:
        import webbrowser

        webbrowser.open(written.resolve().as_uri())
