"""``embviz index build|info|list|rm|eval``: approximate-search (FAISS) indexes stored in the cache."""

from __future__ import annotations

import sys
from enum import Enum
from pathlib import Path
from typing import Annotated

import typer

from embviz import output
from embviz.cli._common import (
    DEFAULT_TARGET_RECALL,
    CacheDirOpt,
    EfSearchOpt,
    FormatOpt,
    KOpt,
    MetricChoice,
    MetricOpt,
    NoHeaderOpt,
    NprobeOpt,
    QuietOpt,
    VectorSource,
    chosen_depth,
    emit,
    index_entry,
    message,
    stages,
    warn_depth,
    with_vectors,
)
from embviz.cli.app import app
from embviz.errors import InvalidQuery, warn

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
    ] = 200,
    ef_search: Annotated[
        int | None,
        typer.Option("--ef-search", min=1, help="HNSW search depth stored with the index; default: the "
                     "smallest of 16, 24, 32, 48, ..., 1024 that reaches --target-recall.", show_default=False),
    ] = None,
    nlist: Annotated[
        int | None, typer.Option("--nlist", min=1, help="IVF cells; default 2 sqrt(n).")
    ] = None,
    nprobe: Annotated[
        int | None,
        typer.Option("--nprobe", min=1, help="IVF cells searched, stored with the index; default: the "
                     "smallest of 1, 2, 3, 4, 6, 8, ..., nlist that reaches --target-recall.", show_default=False),
    ] = None,
    target_recall: Annotated[
        float,
        typer.Option("--target-recall", help="recall@10 the stored search depth must reach on 1,000 sample "
                     "keys, in (0, 1]; ignored when --nprobe / --ef-search is given."),
    ] = DEFAULT_TARGET_RECALL,
    metric: MetricOpt = MetricChoice.cosine,
    fmt: FormatOpt = None,
    no_header: NoHeaderOpt = False,
    quiet: QuietOpt = False,
    *,
    source: VectorSource,
) -> None:
    """Build an index over the unit vectors, choose its search depth by measured recall@10, store it in the cache.

    --metric dot indexes the raw rows by inner product, euclidean by L2 distance (one index
    per method and metric); recall is measured against exact search in the same metric.

    The search depth (ivf --nprobe, hnsw --ef-search) is chosen by measured recall: recall@10
    against exact search on 1,000 sample keys of the table (seed 0, each key's own row
    excluded) is measured at nprobe 1, 2, 3, 4, 6, ..., nlist or ef_search 16, 24, 32, ..., 1024, and
    the first that reaches --target-recall is stored; stderr says which, with its recall and
    the queries per second of the index and of exact search on those keys. The index is
    rebuilt when the vector file changes and removed by 'embviz cache clear'.
    """
    from embviz.search import index as search_index

    if not 0 < target_recall <= 1:
        raise typer.BadParameter(f"must be in (0, 1], got {target_recall:g}", param_hint="--target-recall")
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
        built = search_index.build_for(table, entry, method.value, metric=metric_name, target_recall=target_recall,
                                       progress=report, **params)
    info = next(i for i in search_index.stored_infos(entry.parent.parent) if i.path == str(
        search_index.index_file(entry, method.value, metric_name)))
    message(f"built in {built.build_s:.1f} s, {info.size_bytes / 2**20:.1f} MiB; {chosen_depth(built)}")
    warn_depth(built)
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


@index_app.command("eval")
@with_vectors
def eval_(
    queries: Annotated[
        str,
        typer.Option(
            "--queries",
            help="Query vectors, (q, dim) floats: a dataset of the -v HDF5 file (ann-benchmarks: test), "
            "or a .npy/.hdf5 file.",
            show_default=False,
        ),
    ],
    truth: Annotated[
        str | None,
        typer.Option(
            "--truth",
            help="True nearest row ids of each query, (q, >= k) integers, nearest first: a dataset of "
            "the -v HDF5 file (ann-benchmarks: neighbors) or a .npy file. Default: exact search.",
            show_default=False,
        ),
    ] = None,
    k: KOpt = 10,
    method: Annotated[
        IndexMethod | None, typer.Option("--method", help="The stored index of this kind; default: the newest.")
    ] = None,
    metric: Annotated[
        MetricChoice | None,
        typer.Option(
            "--metric",
            help="The stored index of this metric; default: the HDF5 file's distance (angular = cosine, "
            "euclidean), else the first stored of cosine, dot, euclidean.",
            show_default=False,
        ),
    ] = None,
    ef_search: EfSearchOpt = None,
    nprobe: NprobeOpt = None,
    fmt: FormatOpt = None,
    no_header: NoHeaderOpt = False,
    quiet: QuietOpt = False,
    *,
    source: VectorSource,
) -> None:
    """Check a stored index on held-out queries: recall@k and queries per second, beside exact search.

    For ann-benchmarks files (glove-25-angular.hdf5, ...): build the index over the train
    dataset (embviz index build -v FILE --tensor train), then evaluate it with --queries test
    --truth neighbors. Without --truth the truth is exact search in the index's metric, so any
    table works (--queries a .npy of held-out vectors).

    Both searches answer the same queries in batches of 1,024; only the search calls are
    timed, after one untimed call on 32 queries. recall@k is the mean over queries of
    |found[:k] & truth[:k]| / k, by row id (ann-benchmarks also counts rows tied with the
    k-th true distance). Exact search's recall against the file's truth shows whether that
    truth is in the index's metric (about 1.0).
    """
    from embviz.search import index as search_index
    from embviz.search import index_eval
    from embviz.search.metric import METRICS

    entry = _entry(source)
    search_index.require_faiss()
    attr, file_metric = _file_distance(source)
    asked = MetricChoice(metric).value if metric is not None else None
    first = asked or file_metric or "cosine"
    metrics = [asked] if asked else [first, *(m for m in METRICS if m != first)]
    methods = [method.value] if method is not None else list(search_index.METHODS)
    if not any(search_index.index_file(entry, m, x).exists() for m in methods for x in metrics):
        raise InvalidQuery(_no_index(source, method, first))
    table = source.load()
    index = None
    for x in metrics:
        rows = table.unit if x == "cosine" else table.matrix
        index = search_index.stored(entry, rows, method.value if method is not None else None, metric=x)
        if index is not None:
            break
    if index is None:
        raise InvalidQuery(_no_index(source, method, first))
    index_eval.check_depth(index, ef_search, nprobe)
    q, q_from = _queries(source, queries, table.dim)
    true_ids, truth_from = None, "exact search"
    if truth is not None:
        raw, truth_from = _truth(source, truth, k)
        try:
            true_ids = index_eval.check_truth(raw, len(q), table.count, k)
        except InvalidQuery as exc:
            raise InvalidQuery(f"--truth {truth}: {exc}") from None
        if attr is not None and file_metric != index.metric:
            warn(
                f"{source.path.name} says distance {attr!r}"
                + (f" ({file_metric})" if file_metric else "")
                + f", the index is {index.metric}: recall against its neighbors is meaningless"
                + (f"; build a {file_metric} index with index build --metric {file_metric}" if file_metric else "")
            )
    message(
        f"recall@{k} of {len(q):,} queries ({q_from}) on {table.count:,} x {table.dim} vectors, "
        f"{index.metric}; truth: {truth_from}"
    )
    with stages() as report:
        result = index_eval.evaluate_index(index, table, q, true_ids, k, ef_search=ef_search, nprobe=nprobe,
                                           progress=report)
    emit(
        [
            {"search": r.search, f"recall_at_{k}": r.recall, "queries": r.queries, "seconds": r.seconds,
             "qps": round(r.qps)}
            for r in result.rows
        ],
        fmt,
        no_header,
        title=f"recall@{k} on {len(q):,} queries; truth: {truth_from}",
    )


def _file_distance(source: VectorSource) -> tuple[str | None, str | None]:
    """Return the -v file's ann-benchmarks ``distance`` attribute and its metric; (None, None) if not HDF5."""
    from embviz.io import hdf5

    if not hdf5.is_hdf5(source.path):
        return None, None
    return hdf5.distance_metric(source.path)


def _is_dataset(source: VectorSource, name: str) -> bool:
    """Whether `name` is a dataset of the -v file (an HDF5 file)."""
    from embviz.io import hdf5

    return hdf5.is_hdf5(source.path) and hdf5.has_dataset(source.path, name)


def _no_index(source: VectorSource, method: IndexMethod | None, metric: str) -> str:
    """Return the error line when no index is stored: what to build, as a command."""
    extra = f" --tensor {source.tensor}" if source.tensor else ""
    extra += f" --method {method.value}" if method is not None else ""
    extra += f" --metric {metric}" if metric != "cosine" else ""
    kind = f"{method.value} " if method is not None else ""
    return (
        f"no {kind}index of {source.path.name}{' (' + metric + ')' if metric != 'cosine' else ''} to evaluate; "
        f"build one first with: embviz index build -v {source.path}{extra}"
    )


def _queries(source: VectorSource, name: str, dim: int):  # noqa: ANN202
    """Return the queries ``(q, dim)`` float32 and where they came from: a dataset of the -v HDF5 file, else a file."""
    import numpy as np

    from embviz import io as embviz_io
    from embviz.io import hdf5

    if _is_dataset(source, name):
        q, where = hdf5.read_dataset(source.path, name), f"dataset {name}"
        if q.dtype.kind != "f":
            raise InvalidQuery(f"--queries {name}: the dataset holds {q.dtype} values, expected float vectors")
    elif Path(name).expanduser().is_file():
        q, where = np.asarray(embviz_io.load(Path(name).expanduser(), cache=False).matrix), name
    else:
        raise InvalidQuery(_neither(source, "--queries", name))
    if q.shape[0] == 0:
        raise InvalidQuery(f"--queries {name}: no query vectors")
    if q.shape[1] != dim:
        raise InvalidQuery(
            f"--queries {name}: {q.shape[0]:,} x {q.shape[1]} vectors, the table's are {dim}-dimensional"
        )
    return np.ascontiguousarray(q, dtype=np.float32), where


def _truth(source: VectorSource, name: str, k: int):  # noqa: ANN202
    """Return the truth's ids (first `k` columns) and where they came from: a dataset of the -v file, else a .npy."""
    import numpy as np

    from embviz.io import hdf5

    if _is_dataset(source, name):
        return hdf5.read_dataset(source.path, name, columns=k), f"dataset {name}"
    path = Path(name).expanduser()
    if not path.is_file():
        raise InvalidQuery(_neither(source, "--truth", name))
    if path.suffix.lower() != ".npy":
        raise InvalidQuery(f"--truth {name}: expected a .npy file of row ids (or a dataset of the -v HDF5 file)")
    try:
        return np.load(path, mmap_mode="r", allow_pickle=False), name
    except (OSError, ValueError) as exc:
        raise InvalidQuery(f"--truth {name}: not a readable .npy file ({str(exc).splitlines()[0]})") from None


def _neither(source: VectorSource, option: str, name: str) -> str:
    """Return the error line of a --queries/--truth NAME that is neither a dataset nor a file."""
    from embviz.errors import FormatError
    from embviz.io import hdf5

    if hdf5.is_hdf5(source.path):
        try:
            hdf5.read_dataset(source.path, name)  # raises naming the file's datasets
        except FormatError as exc:
            return f"{option} {name}: no such file, and {exc}"
    return f"{option} {name}: no such file, and {source.path.name} is not an HDF5 file with datasets"
