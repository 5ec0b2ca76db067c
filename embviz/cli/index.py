"""``embviz index build|info|list|rm``: approximate-search (FAISS) indexes stored in the cache."""

from __future__ import annotations

import sys
from enum import Enum
from typing import Annotated

import typer

from embviz import output
from embviz.cli._common import (
    CacheDirOpt,
    FormatOpt,
    MetricChoice,
    MetricOpt,
    NoHeaderOpt,
    QuietOpt,
    VectorSource,
    emit,
    index_entry,
    message,
    stages,
    with_vectors,
)
from embviz.cli.app import app
from embviz.errors import InvalidQuery

index_app = typer.Typer(
    help="Build, show or remove approximate nearest-neighbor indexes (FAISS; pip install 'embviz[index]').",
    no_args_is_help=True,
)
app.add_typer(index_app, name="index")


class IndexMethod(str, Enum):
    """FAISS index types."""

    hnsw = "hnsw"
    ivf = "ivf"
    flat = "flat"


MethodOpt = Annotated[
    IndexMethod,
    typer.Option("--method", help="hnsw (graph, default), ivf (k-means cells) or flat (exact)."),
]


def _entry(source: VectorSource):  # noqa: ANN202
    entry = index_entry(source)
    if entry is None:
        if getattr(source, "postprocess", None):
            raise InvalidQuery("indexes are stored for the vector file itself: drop --postprocess")
        raise InvalidQuery("indexes are stored in the vector cache: drop --no-cache")
    return entry


def _record(info) -> dict:  # noqa: ANN001
    from dataclasses import asdict

    return asdict(info)


@index_app.command()
@with_vectors
def build(
    method: MethodOpt = IndexMethod.hnsw,
    m: Annotated[int, typer.Option("--m", min=2, max=256, help="HNSW graph degree (FAISS M).")] = 16,
    ef_construction: Annotated[
        int, typer.Option("--ef-construction", min=1, help="HNSW build depth.")
    ] = 100,
    ef_search: Annotated[
        int, typer.Option("--ef-search", min=1, help="HNSW search depth stored with the index.")
    ] = 128,
    nlist: Annotated[
        int | None, typer.Option("--nlist", min=1, help="IVF cells; default 2 sqrt(n).")
    ] = None,
    nprobe: Annotated[
        int | None, typer.Option("--nprobe", min=1, help="IVF cells searched; default nlist / 16.")
    ] = None,
    metric: MetricOpt = MetricChoice.cosine,
    fmt: FormatOpt = None,
    no_header: NoHeaderOpt = False,
    quiet: QuietOpt = False,
    *,
    source: VectorSource,
) -> None:
    """Build an index over the unit vectors, measure its recall@10, and store it in the cache.

    --metric dot indexes the raw rows by inner product, euclidean by L2 distance (one index
    per method and metric); recall is measured against exact search in the same metric.

    Recall@10 is measured against exact search on 1,000 sample keys (seed 0) at the stored
    search depth. The index is rebuilt when the vector file changes and removed by
    'embviz cache clear'.
    """
    from embviz.search import index as search_index

    entry = _entry(source)
    search_index.require_faiss()
    table = source.load()
    params = {"m": m, "ef_construction": ef_construction, "ef_search": ef_search} if method == IndexMethod.hnsw else {}
    if method == IndexMethod.ivf:
        params = {"nlist": nlist, "nprobe": nprobe}
    metric_name = MetricChoice(metric).value
    what = "" if metric_name == "cosine" else f" ({metric_name})"
    message(f"building the {method.value} index{what} of {table.count:,} x {table.dim} vectors ...")
    with stages() as report:
        built = search_index.build_for(table, entry, method.value, metric=metric_name, progress=report, **params)
    info = next(i for i in search_index.stored_infos(entry.parent.parent) if i.path == str(
        search_index.index_file(entry, method.value, metric_name)))
    message(
        f"built in {built.build_s:.1f} s, {info.size_bytes / 2**20:.1f} MiB; "
        f"recall@10 {built.recall_at_build:.3f} against exact search on 1,000 sample keys"
    )
    output.write_record(_record(info), output.choose_format(fmt, output.stdout_is_terminal()),
                        sys.stdout, header=not no_header)


@index_app.command()
@with_vectors
def info(
    fmt: FormatOpt = None,
    no_header: NoHeaderOpt = False,
    quiet: QuietOpt = False,
    *,
    source: VectorSource,
) -> None:
    """Show the indexes stored for a vector file: method, parameters, recall@10, size."""
    from embviz.search import index as search_index

    entry = _entry(source)
    rows = [i for i in search_index.stored_infos(entry.parent.parent) if i.path.startswith(str(entry) + "/")]
    if not rows:
        raise InvalidQuery(
            f"no index for {source.path.name}; build one with: embviz index build -v {source.path}"
        )
    emit([_record(r) for r in rows], fmt, no_header)


@index_app.command("list")
def list_(
    cache_dir: CacheDirOpt = None,
    fmt: FormatOpt = None,
    no_header: NoHeaderOpt = False,
) -> None:
    """List every stored index: source, method, shape, parameters, recall@10, size, status."""
    from embviz.io import cache
    from embviz.search import index as search_index

    root = cache_dir or cache.default_cache_dir()
    emit(
        [_record(r) for r in search_index.stored_infos(root)],
        fmt,
        no_header,
        columns=["source", "method", "count", "dim", "params", "recall_at_10", "build_s", "size_bytes",
                 "created", "status", "path"],
    )


@index_app.command("rm")
@with_vectors
def rm(
    method: Annotated[
        IndexMethod | None, typer.Option("--method", help="Remove only this kind; default: all of the file's.")
    ] = None,
    quiet: QuietOpt = False,
    *,
    source: VectorSource,
) -> None:
    """Remove the indexes stored for a vector file (the vector cache entry stays)."""
    from embviz.search import index as search_index

    entry = _entry(source)
    freed = search_index.remove(entry, method.value if method else None)
    message(f"removed {freed / 2**20:.1f} MiB of indexes for {source.path.name}")
