"""``embviz diff A B``: what changed between two tables, key by key, biggest change first."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Annotated

import typer

from embviz.cli._common import (
    DEFAULT_TARGET_RECALL,
    CacheDirOpt,
    Dtype,
    DtypeOpt,
    FormatOpt,
    InputFormatOpt,
    LimitOpt,
    NoCacheOpt,
    NoHeaderOpt,
    PostprocessOpt,
    QuietOpt,
    VectorSource,
    check_output,
    emit,
    message,
    stages,
)
from embviz.cli.app import app

DIFF_COLUMNS = ["key", "rank_a", "rank_b", "jaccard", "cosine_aligned"]


#: The --html map draws the most frequent compared keys and the biggest changes.
HTML_TOP = 5_000
HTML_MOVERS = 500


class HtmlMethod(str, Enum):
    """Layout of the --html map."""

    umap = "umap"
    pca = "pca"
    tsne = "tsne"


class AlignMethod(str, Enum):
    """How B is aligned to A before comparing vectors."""

    procrustes = "procrustes"
    none = "none"


@app.command()
def diff(
    a: Annotated[Path, typer.Argument(help="Table A (any readable vector file).", show_default=False)],
    b: Annotated[Path, typer.Argument(help="Table B, compared with A.", show_default=False)],
    k: Annotated[int, typer.Option("-k", "--k", min=1, help="Neighbors per key for Jaccard@k.")] = 10,
    restrict: Annotated[
        int | None,
        typer.Option(
            "--restrict",
            min=1,
            help="Compare the first N shared keys in A's order (the most frequent). [default: 100,000]",
            show_default=False,
        ),
    ] = None,
    all_keys: Annotated[bool, typer.Option("--all", help="Compare every shared key (no --restrict).")] = False,
    align: Annotated[
        AlignMethod,
        typer.Option("--align", help="Rotate B onto A (orthogonal Procrustes) or compare raw vectors."),
    ] = AlignMethod.procrustes,
    top: Annotated[
        int | None, typer.Option("--top", min=1, help="Print only the N biggest changes.")
    ] = None,
    use_index: Annotated[
        bool,
        typer.Option(
            "--index",
            help="Find neighbors with a FAISS IVF index over each table's compared keys: faster on "
            "large tables, approximate (the recall@k measured against exact search is reported).",
        ),
    ] = False,
    nprobe: Annotated[
        int | None,
        typer.Option("--nprobe", min=1, help="IVF cells searched per query with --index (default: the fewest "
                     "of 1, 2, 3, 4, 6, ... whose recall@k on 1,000 sample keys reaches 0.95, chosen for each table).",
                     show_default=False),
    ] = None,
    html: Annotated[
        Path | None,
        typer.Option(
            "--html",
            help="Also write an explorer page: A's map of the 5,000 most frequent compared keys "
            "and the 500 biggest changes, coloured by Jaccard; click a key to see its neighbors "
            "in A and in B side by side.",
            show_default=False,
        ),
    ] = None,
    html_method: Annotated[
        HtmlMethod, typer.Option("--html-method", help="Layout of the --html map.")
    ] = HtmlMethod.umap,
    fmt: FormatOpt = None,
    no_header: NoHeaderOpt = False,
    quiet: QuietOpt = False,
    input_format: InputFormatOpt = None,
    limit: LimitOpt = None,
    no_cache: NoCacheOpt = False,
    cache_dir: CacheDirOpt = None,
    dtype: DtypeOpt = Dtype.float32,
    postprocess: PostprocessOpt = None,
) -> None:
    """Compare tables A and B key by key: neighbor overlap, aligned cosine, rank change.

    For each shared key: Jaccard@k of its k nearest neighbors in A and in B (searched among
    the same compared keys; 1 = same set), the cosine of its A vector and its B vector after
    rotating B onto A (orthogonal Procrustes fitted on the compared keys), and its row rank in
    each file. Rows come biggest change first (lowest Jaccard); a summary goes to stderr.
    """
    from embviz import compare

    if all_keys and restrict is not None:
        raise typer.BadParameter("use either --restrict N or --all", param_hint="--all")
    if html is not None:
        html = check_output(html)  # before the loads and the comparison, not after
    tables = [
        VectorSource(path, input_format, limit, no_cache, cache_dir, dtype, postprocess=postprocess).load()
        for path in (a, b)
    ]
    with stages() as step:
        report = compare.diff(
            tables[0],
            tables[1],
            k=k,
            restrict=None if all_keys else (restrict or compare.DEFAULT_RESTRICT),
            align=align.value,
            index=use_index,
            nprobe=nprobe,
            target_recall=DEFAULT_TARGET_RECALL,
            progress=step,
        )
    message(f"A = {a.name}, B = {b.name}: {report.summary()}")
    if html is not None:
        _write_page(html, report, tables, (a, b), html_method.value, no_cache, cache_dir)
    rows = report.rows if top is None else report.rows[:top]
    emit(rows, fmt, no_header, columns=DIFF_COLUMNS, title=f"diff {a.name} -> {b.name}")


def _write_page(out: Path, report, tables, paths, method: str, no_cache: bool, cache_dir) -> None:
    """Write the ``--html`` explorer page of a diff (A's layout, A's and B's lists per key)."""
    import time

    import numpy as np

    from embviz import viz
    from embviz.io import cache as _cache

    start = time.perf_counter()
    ta, (pa, pb) = tables[0], paths
    arr = report.keys
    s = len(arr.ids_a)
    movers = np.array([r.rank_a - 1 for r in report.rows[:HTML_MOVERS]], dtype=np.int64)
    first = arr.ids_a[: min(HTML_TOP, s)]
    drawn = np.union1d(first, movers)
    selection = viz.Selection(
        drawn, ta.count,
        f"the {len(first):,} most frequent compared keys + the {len(movers):,} biggest changes",
    )
    with stages() as step:
        proj = viz.project(
            ta, selection, method=method, seed=0,
            cache_dir=None if no_cache else (cache_dir or _cache.default_cache_dir()),
            use_cache=not no_cache, fingerprint=_cache.fingerprint(pa), progress=step,
        )
    pos = np.searchsorted(arr.ids_a, proj.ids)  # each drawn key's position among the compared
    lists = viz.NeighborLists(
        np.arange(len(pos), dtype=np.int64), arr.ids_a[arr.neighbors_a[pos]],
        arr.scores_a[pos], report.k, None, 0.0,
    )
    scope = f"cosine among the {s:,} compared keys, in each table"
    comparison = viz.Comparison(
        pa.name, pb.name, scope, arr.ids_a[arr.neighbors_b[pos]], arr.scores_b[pos],
        arr.jaccard[pos], arr.cosine[pos], arr.ids_b[pos] + 1,
    )
    prov = viz.provenance(
        proj, source=pa.name, fingerprint=_cache.fingerprint(pa), selection=selection.description,
        total=ta.count,
    )
    prov["diff"] = {
        "b": pb.name, "fingerprint_b": _cache.fingerprint(pb), "k": report.k,
        "compared": s, "align": report.align,
        "residual": None if np.isnan(report.residual) else round(report.residual, 6),
        "mean_jaccard": round(report.mean_jaccard, 6),
    }
    coloring = viz.Coloring(f"Jaccard@{report.k} (A vs B)", values=arr.jaccard[pos].astype(np.float32))
    fig = viz.figure(
        proj, prov=prov, labels=100, coloring=coloring, vectors=ta, lists=lists,
        comparison=comparison,
    )
    written = viz.write_html(fig, out, plotlyjs="inline", title=f"embviz diff: {pa.name} vs {pb.name}")
    message(
        f"wrote {written} ({written.stat().st_size / 1e6:.1f} MB, {len(proj.ids):,} points of A's "
        f"{method} map, coloured by Jaccard@{report.k}) in {time.perf_counter() - start:.1f} s"
    )
