"""``embviz recommend``: rank items for users (a user table, or users' histories)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from embviz.cli._common import (
    EfSearchOpt,
    FormatOpt,
    IndexOpt,
    KOpt,
    MetaKeyOpt,
    MetaOpt,
    MetricChoice,
    MetricOpt,
    NoHeaderOpt,
    NprobeOpt,
    QuietOpt,
    ShowOpt,
    VectorSource,
    check_row_file,
    load_meta,
    load_vectors,
    message,
    meta_name,
    open_index,
    read_items,
    shown_columns,
    with_vectors,
    write_blocks,
)
from embviz.cli.app import app
from embviz.cli.spark import (
    Engine,
    EngineOpt,
    MasterOpt,
    PartitionsOpt,
    RowsOutputOpt,
    SparkConfOpt,
    check_spark_options,
    run_spark,
)
from embviz.errors import InvalidQuery

if TYPE_CHECKING:
    from embviz.vectors import Vectors

_COLUMNS = ["user", "rank", "item", "score"]

#: Spearman correlation of item norm and popularity rank above which ``--metric dot`` warns: rarer
#: items with larger norms (item2vec on MovieLens 100K: +0.86 measured). Factor models (ALS) give
#: popular items the larger norms (negative correlation), which is what their dot product means.
_RARE_NORMS = 0.5


def _keys_file(path: Path, what: str) -> list[str]:
    """Item keys from a file: one per line (a header line named item/key/id is skipped)."""
    path = Path(path).expanduser()
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InvalidQuery(f"{what} {path}: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidQuery(f"{what} {path}: cannot read it ({exc})") from None
    keys = [line.split("\t")[0].strip() for line in text.splitlines() if line.strip()]
    return keys


def _rows_hint(path: Path) -> int | None:
    """Return the rows of a Parquet user table from its footer (no row read), else None."""
    try:
        import pyarrow.parquet as pq

        return int(pq.ParquetFile(path).metadata.num_rows)
    except Exception:  # noqa: BLE001 - not a single Parquet file: the caller loads it first
        return None


def read_history(history: str | Path, items: Vectors, user_column: str | None, item_column: str | None,
                 time_column: str | None, weight_column: str | None = None, strict: bool = False) -> Any:
    """Read ``--history`` against the item table; dropped events are one warning (an error with `strict`)."""
    from embviz.io import interactions

    hist = interactions.read_histories(
        Path(history).expanduser(), items.keys, user_column=user_column, item_column=item_column,
        time_column=time_column, weight_column=weight_column,
    )
    dropped = hist.unknown_items + hist.missing
    if dropped:
        parts = []
        if hist.unknown_items:
            eg = ", ".join(repr(x) for x in hist.unknown_examples)
            parts.append(f"{hist.unknown_items:,} with items not in {items.source or 'the item table'} (e.g. {eg})")
        if hist.missing:
            parts.append(f"{hist.missing:,} without a user or item")
        text = f"{hist.source}: {dropped:,} of {hist.rows:,} events dropped: " + "; ".join(parts)
        if strict:
            raise InvalidQuery(text)
        from embviz.errors import warn

        warn(text)
    return hist


@app.command()
@with_vectors
def recommend(
    users: Annotated[
        list[str] | None,
        typer.Argument(help="Users to recommend for (default: all); '-' reads one per line from stdin.",
                       show_default=False),
    ] = None,
    user_table: Annotated[
        str | None,  # text, not Path: with --engine spark it may be a URI (hdfs://...), which Path would mangle
        typer.Option("--users", help="User vectors in the items' space (ALS user factors, a two-tower user tower); "
                     "any format -v reads.", show_default=False, metavar="FILE"),
    ] = None,
    history: Annotated[
        str | None,
        typer.Option("--history", metavar="FILE", help="Interaction log (Parquet, Arrow, CSV, TSV) of user, "
                     "item[, timestamp, weight]: "
                     "user vectors are the mean of their items' vectors (without --users), and what --exclude-seen "
                     "excludes.", show_default=False),
    ] = None,
    user_column: Annotated[str | None, typer.Option("--user-column", help="User column of --history (default: "
                           "named like user/user_id, else the first).", show_default=False)] = None,
    item_column: Annotated[str | None, typer.Option("--item-column", help="Item column of --history (default: "
                           "named like item/item_id, else the second).", show_default=False)] = None,
    time_column: Annotated[str | None, typer.Option("--time-column", help="Timestamp column of --history "
                           "(default: named like timestamp/time; else file order).", show_default=False)] = None,
    weight_column: Annotated[str | None, typer.Option("--weights", help="Weight column of --history: "
                             "user vectors are weighted means.", show_default=False)] = None,
    recent: Annotated[int | None, typer.Option("--recent", min=1, help="User vectors from each user's last N "
                      "events (by timestamp) only.", show_default=False)] = None,
    exclude_seen: Annotated[bool, typer.Option("--exclude-seen", help="Never recommend an item of the user's "
                            "history (needs --history).")] = False,
    exclude: Annotated[Path | None, typer.Option("--exclude", help="Items never recommended: a file of item keys, "
                       "one per line.", show_default=False)] = None,
    include: Annotated[Path | None, typer.Option("--include", help="Only these items are recommended: a file of "
                       "item keys, one per line.", show_default=False)] = None,
    include_where: Annotated[
        str | None,
        typer.Option("--include-where", help="Only items whose metadata COLUMN=VALUE (multi-valued cells split "
                     "on '|'), e.g. genre=Comedy.", show_default=False),
    ] = None,
    k: KOpt = 10,
    metric: MetricOpt = MetricChoice.cosine,
    strict: Annotated[bool, typer.Option("--strict", help="Unknown users and items are errors, not warnings.")] = False,
    use_index: IndexOpt = False,
    ef_search: EfSearchOpt = None,
    nprobe: NprobeOpt = None,
    meta: MetaOpt = None,
    meta_key_column: MetaKeyOpt = None,
    show: ShowOpt = None,
    output_file: RowsOutputOpt = None,
    fmt: FormatOpt = None,
    no_header: NoHeaderOpt = False,
    quiet: QuietOpt = False,
    engine: EngineOpt = Engine.local,
    master: MasterOpt = None,
    spark_conf: SparkConfOpt = None,
    partitions: PartitionsOpt = None,
    *,
    source: VectorSource,
) -> None:
    """Print the K best items for each user: user, rank, item, score (and --show columns).

    -v is the item table. A user's vector is a row of --users, or the mean of the vectors of
    the items in the user's --history (as YouTube's candidate generator averages watch
    vectors). Users are scored in batches; rows stream to stdout or to -o FILE.
    """
    from embviz.search import metric as _metric
    from embviz.search import recommender as _rec

    if user_table is None and history is None:
        raise InvalidQuery("recommend needs users: --users FILE (user vectors) or --history FILE (interactions)")
    if exclude_seen and history is None:
        raise InvalidQuery("--exclude-seen needs --history FILE (what each user has seen)")
    if (recent is not None or weight_column is not None) and user_table is not None:
        raise InvalidQuery("--recent and --weights shape history vectors; with --users the vectors are given")
    if include is not None and include_where is not None:
        raise InvalidQuery("give --include or --include-where, not both")
    if output_file is not None and engine is not Engine.spark:
        output_file = check_row_file(Path(output_file))
    metric_name = MetricChoice(metric).value
    check_spark_options(engine, master, spark_conf, partitions, output_file, [
        ("--recent", recent is not None), ("--weights", weight_column is not None),
        ("--show", bool(show)), ("--strict", strict), ("-f/--format", fmt is not None),
    ])
    items = source.load()
    info = load_meta(meta, meta_key_column, source, needed=bool(show or include_where))
    shown = shown_columns(info, show)
    if engine is Engine.spark:
        banned, candidates = _item_filters(items, info, exclude, include, include_where, strict)
        spark_index = _index(source, items, metric_name, candidates, ef_search, nprobe) if use_index else None
        run_spark(
            items, output_file, user_table=_location(user_table), history=_location(history), user_column=user_column,
            item_column=item_column, time_column=time_column, users=read_items(users, "users") if users else None,
            k=k, metric=metric_name, exclude_seen=exclude_seen, exclude=banned, candidates=candidates,
            partitions=partitions, master=master or "local[*]", spark_conf=spark_conf or [],
            index=spark_index, ef_search=ef_search, nprobe=nprobe,
        )
        return
    utable = None
    wanted = read_items(users, "users") if users else None
    from embviz.search import kernel

    scored = None  # users the kernel will score, when known before the user table is loaded
    if user_table is not None and not use_index:  # the scoring kernel loads while the log is read
        scored = len(wanted) if wanted is not None else _rows_hint(Path(user_table).expanduser())
        if scored is not None:
            kernel.prepare(scored, items.count)
    hist = None
    if history is not None:  # before the user table: reading a log's peak does not stack on the table
        hist = read_history(history, items, user_column, item_column, time_column, weight_column, strict)
    if user_table is not None:
        utable = load_vectors(Path(user_table).expanduser(), None, None, source.no_cache, source.cache_dir)
        if scored is None and not use_index:  # not a Parquet file: sized from the loaded table
            kernel.prepare(utable.count, items.count)
    who = _rec.resolve_users(user_table=utable, histories=hist, wanted=wanted, strict=strict)
    banned, candidates = _item_filters(items, info, exclude, include, include_where, strict)
    if metric_name == "dot" and hist is not None:
        rho = _rec.norm_popularity_spearman(items, hist)
        if rho is not None and rho >= _RARE_NORMS:
            from embviz.errors import warn

            warn(
                f"rarer items have larger norms here (Spearman {rho:+.2f} of norm and popularity rank over "
                f"{hist.source}, as in word2vec/item2vec vectors): the dot product favours the rare tail; use "
                "--metric cosine unless the model was trained for dot products (ALS, two-tower)"
            )
    index = _index(source, items, metric_name, candidates, ef_search, nprobe) if use_index else None
    vector_text = who.source
    if utable is None and recent is not None:
        vector_text += f", last {recent} events"
    if utable is None and weight_column is not None:
        vector_text += f", weighted by {weight_column}"
    provenance = (
        f"{len(who.keys):,} user{'' if len(who.keys) == 1 else 's'}; vectors: {vector_text}; metric {metric_name} "
        f"({_metric.SCORE_MEANING[metric_name]})"
        + ("; seen items excluded" if exclude_seen else "")
        + (f"; {len(candidates):,} candidate items" if candidates is not None else "")
        + (f"; {index.describe(ef_search, nprobe)}" if index is not None else "")
    )
    message(f"recommending {k} of {items.count:,} items for {provenance}")
    names = [meta_name(c, _COLUMNS) for c in shown]
    import numpy as np

    keys = np.array(list(items.keys), dtype=object)  # one gather per block, not a lookup per row

    def columns_of(users_block, ids, scores) -> dict:  # noqa: ANN001
        kk = ids.shape[1]
        flat = ids.ravel()
        ok = flat >= 0  # users with fewer candidates than k have padded rows
        user = np.repeat(np.array(users_block, dtype=object), kk)
        rank = np.tile(np.arange(1, kk + 1), len(users_block))
        score = scores.ravel()
        if not ok.all():
            flat, user, rank, score = flat[ok], user[ok], rank[ok], score[ok]
        cols = {"user": user, "rank": rank.astype(np.int64, copy=False), "item": keys[flat], "score": score}
        if shown:
            values = info.align(cols["item"].tolist(), shown)
            cols.update({nm: values[c] for nm, c in zip(names, shown)})
        return cols

    blocks = _rec.read_ahead(_rec.recommend_blocks(
        items, who, user_table=utable, histories=hist, k=k, metric=metric_name, exclude_seen=exclude_seen,
        exclude=banned, candidates=candidates, recent=recent, weighted=weight_column is not None,
        index=index, ef_search=ef_search, nprobe=nprobe,
    ))
    write_blocks(blocks, columns_of, _COLUMNS + names, len(who.keys), "recommending", fmt, no_header,
                 output_file, provenance=provenance)


def _where(items, info, spec: str):  # noqa: ANN001, ANN202
    """Item rows whose metadata column equals a value (``genre=Comedy``; cells split on '|')."""
    import numpy as np

    from embviz.io import meta as _meta

    column, sep, value = spec.partition("=")
    column, value = column.strip(), value.strip()
    if not sep or not column or not value:
        raise InvalidQuery(f"--include-where {spec!r}: expected COLUMN=VALUE, e.g. genre=Comedy")
    if column not in info.columns:
        raise InvalidQuery(
            f"--include-where: no metadata column {column!r} (columns: {', '.join(info.columns) or 'none'})"
        )
    cells = info.align(list(items.keys), [column])[column]
    rows = [i for i, cell in enumerate(cells) if value in _meta.split_values(cell, "|")]
    if not rows:
        raise InvalidQuery(f"--include-where {spec!r}: no item has {column} {value!r}")
    return np.asarray(rows, dtype=np.int64)


def _item_filters(items, info, exclude, include, include_where, strict):  # noqa: ANN001, ANN202
    """``(banned rows, candidate rows or None)`` from --exclude, --include and --include-where."""
    from embviz.search import recommender as _rec

    banned = _rec.item_rows(items, _keys_file(exclude, "--exclude"), strict=strict, what="--exclude") \
        if exclude is not None else ()
    candidates = None
    if include is not None:
        candidates = _rec.item_rows(items, _keys_file(include, "--include"), strict=strict, what="--include")
    elif include_where is not None:
        candidates = _where(items, info, include_where)
    return banned, candidates


def _index(source, items, metric, candidates, ef_search, nprobe):  # noqa: ANN001, ANN202
    """Return the cache's FAISS index of the items for --index (built on first use), named on stderr."""
    if candidates is not None:
        raise InvalidQuery("--include/--include-where search a subset exactly: drop --index")
    index = open_index(source, items, metric)
    message(index.describe(ef_search, nprobe))
    return index


def _location(text: str | None) -> str | None:
    """Return a path (``~`` expanded) or a URI Spark reads (``hdfs://``, ``s3a://``), as given."""
    if text is None or "://" in text:
        return text
    return str(Path(text).expanduser())
