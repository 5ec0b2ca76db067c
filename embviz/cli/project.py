"""``embviz project`` (coordinates on stdout) and ``embviz plot`` (interactive HTML): the flow.

Each command selects keys, lays them out, adds neighbor lists and writes rows or a page; plot
also reads metadata and colours. The steps both share are :mod:`embviz.cli.project_steps`;
the options, and their choices (``Method``, ``Density``, ``PlotlyJS``), are declared in
:mod:`embviz.cli.project_options` and importable from here as before.
"""

from __future__ import annotations

import io
import time
from pathlib import Path
from typing import TYPE_CHECKING

from embviz import output
from embviz.cli import project_steps as steps
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
from embviz.cli.project_options import (
    AroundKOpt,
    AroundOpt,
    ClustersOpt,
    ColorByOpt,
    ColorSepOpt,
    Density,
    DensityOpt,
    DimOpt,
    FormulaXOpt,
    FormulaYOpt,
    FormulaZOpt,
    HighlightOpt,
    KeysOpt,
    LabelsOpt,
    ListsMetricOpt,
    ListsNoIndexOpt,
    Method,
    MethodOpt,
    MinDistOpt,
    NeighborsForOpt,
    NeighborsOpt,
    OldMetadataOpt,
    OpenOpt,
    PerplexityOpt,
    PlotlyJS,
    PlotlyJSOpt,
    PlotNeighborsKOpt,
    PlotOutputOpt,
    ProjectNeighborsKOpt,
    ProjectOutputOpt,
    RegionsOpt,
    SampleOpt,
    SeedOpt,
    TopOpt,
)
from embviz.errors import InvalidQuery
from embviz.output import OutputFormat

if TYPE_CHECKING:
    from embviz.io.meta import Meta


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
    neighbors_k: ProjectNeighborsKOpt = 0,
    neighbors_for: NeighborsForOpt = None,
    metric: ListsMetricOpt = MetricChoice.cosine,
    restrict: RestrictOpt = None,
    no_index: ListsNoIndexOpt = False,
    out: ProjectOutputOpt = None,
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
    selection = steps.select(table, top, keys, sample, around, k, seed)
    proj = steps.layout(
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
        lists = steps.neighbor_lists(
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
    out: PlotOutputOpt = Path("embviz-plot.html"),
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
    x: FormulaXOpt = None,
    y: FormulaYOpt = None,
    z: FormulaZOpt = None,
    labels: LabelsOpt = 100,
    regions: RegionsOpt = 12,
    neighbors_k: PlotNeighborsKOpt = 10,
    neighbors_for: NeighborsForOpt = None,
    metric: ListsMetricOpt = MetricChoice.cosine,
    restrict: RestrictOpt = None,
    no_index: ListsNoIndexOpt = False,
    density: DensityOpt = Density.auto,
    highlight: HighlightOpt = None,
    meta: MetaOpt = None,
    meta_key: MetaKeyOpt = None,
    show: ShowOpt = None,
    metadata: OldMetadataOpt = None,
    color_by: ColorByOpt = None,
    color_sep: ColorSepOpt = "|",
    clusters: ClustersOpt = None,
    plotlyjs: PlotlyJSOpt = PlotlyJS.inline,
    open_: OpenOpt = False,
    quiet: QuietOpt = False,
    *,
    source: VectorSource,
) -> None:
    """Write an interactive, self-contained HTML scatter plot of a projection.

    Hover shows each key and its rank; with --meta FILE (titles, categories) also the --show
    columns, which label the map (the first), answer the search and fill the panel. A 2D map
    names its regions (--regions) by their most representative keys. 2D plots
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
    selection = steps.select(table, top, keys, sample, around, k, seed, extra_around=marks)
    fingerprint = _cache.fingerprint(path) + (f"|{source.postprocess}" if source.postprocess else "")
    if x is not None:
        formulas = [x, y] + ([z] if z is not None else [])
        proj = viz.formula_projection(table, selection.ids, formulas)
        message(f"placed {selection.summary()} on formula axes {' | '.join(formulas)}")
        steps.report_recall(proj, selection.count)
        axes = formulas
    else:
        proj = steps.layout(
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
        lists = steps.neighbor_lists(
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
    from embviz.viz.regions import projection_regions

    named = projection_regions(table, proj, regions, seed=seed, meta=table_meta if shown else None, show=shown)
    fig = viz.figure(
        proj,
        prov=prov,
        labels=labels,
        regions=named,
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
