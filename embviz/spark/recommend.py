"""``embviz recommend --engine spark``: score every user of a table against the items, on Spark.

The same answers as one machine, past one machine's budget. Spark reads the users (a Parquet
user table, an interaction log, or both joined on the user) and repartitions them by a hash
of the user key; each partition scores its users through embviz's own batched kernel
(:func:`embviz.search.recommender.recommend_blocks`, the function ``embviz recommend`` calls),
so the exclusions, the ties (the lower item row first) and the scores are those of one
machine. The item table is written once as ``.npy`` rows plus an Arrow file of keys, shipped
to every executor with ``SparkContext.addFile`` and memory-mapped there, once per Python
worker. Rows are written as Parquet ``user, rank, item, score`` by the executors; the driver
sees counts only.

Compared with Spark ML's ``ALSModel.recommendForAllUsers(k)`` (a blockified cross join of the
two factor tables in the JVM): any vectors, not only an ALS model's; cosine, dot or euclidean;
users as the mean of their history; and ``--exclude-seen``.

Sources: YouTube's candidate generation (Covington et al., RecSys 2016) for history vectors;
Spark ML ``ALSModel.recommendForAllUsers`` for the anchor.
"""

from __future__ import annotations

import shutil
import tempfile
import time
import uuid
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator, Sequence

import numpy as np

from embviz.errors import FormatError, InvalidQuery

if TYPE_CHECKING:
    from numpy.typing import NDArray

    from embviz.vectors import Vectors

#: The output's columns and their Spark types (the types ``recommend -o FILE.parquet`` writes).
SCHEMA = "user string, rank bigint, item string, score float"

_LOG_TEXT = (".csv", ".tsv", ".txt", ".inter")


@dataclass(frozen=True)
class SparkReport:
    """What a Spark run (``recommend`` or ``neighbors --all``) did, for the command's stderr line.

    Attributes
    ----------
    users : int
        Users scored (with at least one row written); for ``neighbors --all``, query keys.
    rows : int
        Rows written, ``user, rank, item, score``.
    skipped_users : int
        Users without a vector: none of their history's items is in the item table, or (cosine)
        their vector is all zeros.
    events, unknown_events, missing_events : int
        History events read; dropped because their item is not in the item table; dropped
        because the user or item is empty.
    partitions : int
        Partitions of users (and Parquet part files written).
    seconds : float
        Wall time of the job, from reading the users to the last file written.
    output : str
    """

    users: int
    rows: int
    skipped_users: int
    events: int
    unknown_events: int
    missing_events: int
    partitions: int
    seconds: float
    output: str


@dataclass(frozen=True)
class _Job:
    """What each partition needs: pickled into the scoring function's closure."""

    items_file: str
    keys_file: str
    k: int
    metric: str
    exclude_seen: bool
    table: bool  # user vectors from a user table (else the mean of the history)
    history: bool
    threads: int
    exclude: NDArray[np.int64] = field(default_factory=lambda: np.empty(0, np.int64))
    candidates: NDArray[np.int64] | None = None
    index_file: str | None = None  # a FAISS index shipped with the items (--index)
    ef_search: int | None = None
    nprobe: int | None = None


@dataclass(frozen=True)
class _Items:
    vectors: Vectors
    keys: NDArray[np.object_]  # the keys as an array: one gather per block
    index: Any  # pandas.Index of the keys: a batch's item keys to rows


_ITEMS: dict[str, _Items] = {}  # per Python worker: the item table of a job, loaded once


def _items(job: Any) -> _Items:
    """Return the job's item table on this worker: rows memory-mapped, keys read once."""
    got = _ITEMS.get(job.items_file)
    if got is None:
        import pandas as pd
        import pyarrow as pa
        from pyspark import SparkFiles

        from embviz.vectors import Vectors

        matrix = np.load(SparkFiles.get(job.items_file), mmap_mode="r")
        with pa.memory_map(SparkFiles.get(job.keys_file)) as src:
            keys = pa.ipc.open_file(src).read_all().column(0).to_pylist()
        got = _Items(Vectors(keys, matrix, unique=True), np.array(keys, dtype=object),
                     pd.Index(keys, dtype=object))
        _ITEMS.clear()  # one job's table at a time
        _ITEMS[job.items_file] = got
    return got


_INDEXES: dict[str, Any] = {}  # per Python worker: the job's FAISS index, read once


def _index(job: _Job, items: Vectors) -> Any:
    """Return the job's FAISS index on this worker (read once from the shipped file), or None."""
    if job.index_file is None:
        return None
    got = _INDEXES.get(job.index_file)
    if got is None:
        from pyspark import SparkFiles

        from embviz.search.index import Index

        rows = items.unit if job.metric == "cosine" else items.matrix
        got = Index.load(SparkFiles.get(job.index_file), unit=rows)
        _INDEXES.clear()
        _INDEXES[job.index_file] = got
    return got


def _histories(items: _Items, users: list[str], events: Any) -> tuple[Any, NDArray[np.int64], int, int]:
    """Return a batch's histories over the item rows: ``(Histories, rows per user, unknown, missing)``.

    `events` is a list<string> Arrow array, each user's items in time order; unknown items
    are dropped (counted), as :func:`embviz.io.interactions.read_histories` drops them.
    """
    import pandas as pd
    import pyarrow.compute as pc

    from embviz.io.interactions import Histories

    offsets = np.asarray(events.offsets.to_numpy(zero_copy_only=False), dtype=np.int64)
    offsets = offsets - offsets[0]
    flat = events.flatten()
    enc = pc.dictionary_encode(flat)
    local = enc.dictionary.to_pylist()
    rows_of = np.asarray(items.index.get_indexer(pd.Index(local, dtype=object)), dtype=np.int64)
    rows_of[[j for j, v in enumerate(local) if v == ""]] = -2
    codes = enc.indices.fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int64)
    rows_of = np.append(rows_of, -2)  # a null item: missing
    rows = rows_of[np.where(codes >= 0, codes, len(rows_of) - 1)]
    missing = int((rows == -2).sum())
    unknown = int((rows == -1).sum())
    keep = rows >= 0
    owner = np.repeat(np.arange(len(users)), np.diff(offsets))
    counts = np.bincount(owner[keep], minlength=len(users))
    has = counts > 0
    pos = np.cumsum(has) - 1
    hist_users = [u for u, h in zip(users, has.tolist()) if h]
    indptr = np.zeros(len(hist_users) + 1, dtype=np.int64)
    np.cumsum(counts[has], out=indptr[1:])
    hist = Histories(users=tuple(hist_users), indptr=indptr, items=rows[keep], weights=None,
                     source="history", rows=len(rows))
    return hist, np.where(has, pos, -1).astype(np.int64), unknown, missing


def _score(job: _Job, batches: Iterator[Any], counters: dict[str, Any]) -> Iterator[Any]:
    """Score each Arrow batch of users; yield ``user, rank, item, score`` batches."""
    import pyarrow as pa
    from threadpoolctl import threadpool_limits

    from embviz.search import kernel
    from embviz.search.recommender import Users, recommend_blocks
    from embviz.vectors import Vectors

    table = _items(job)
    items, keys = table.vectors, table.keys
    index = _index(job, items)
    if index is not None:
        import faiss

        faiss.omp_set_num_threads(job.threads)
    out_schema = pa.schema([("user", pa.string()), ("rank", pa.int64()), ("item", pa.string()),
                            ("score", pa.float32())])
    with threadpool_limits(limits=job.threads, user_api="blas"), kernel.thread_cap(job.threads):
        for batch in batches:
            users = batch.column("user").to_pylist()
            if not users:
                continue
            hist, history_rows, unknown, missing = (None, np.full(len(users), -1, np.int64), 0, 0)
            if job.history:
                hist, history_rows, unknown, missing = _histories(table, users, batch.column("events"))
                counters["events"].add(len(batch.column("events").flatten()))
                counters["unknown"].add(unknown)
                counters["missing"].add(missing)
            utable = None
            if job.table:
                vec = batch.column("vector")
                ok = np.asarray(vec.is_valid().to_numpy(zero_copy_only=False), dtype=bool)
                dim = items.dim
                lengths = np.asarray(_lengths(vec), dtype=np.int64)
                if (lengths[ok] != dim).any():
                    bad = int(np.flatnonzero(ok & (lengths != dim))[0])
                    raise FormatError(f"user {users[bad]!r} has a vector of {int(lengths[bad])} values, "
                                      f"the items {dim}: they must be in the same space")
                values = np.asarray(vec.filter(pa.array(ok)).flatten().to_numpy(zero_copy_only=False),
                                    dtype=np.float32).reshape(-1, dim)
                ukeys = [u for u, o in zip(users, ok.tolist()) if o]
                finite = np.isfinite(values).all(axis=1)
                if not finite.all():  # as the one-machine reader refuses them: never silently wrong scores
                    bad = int(np.flatnonzero(~finite)[0])
                    raise FormatError(f"user {ukeys[bad]!r} has a NaN or infinite value in its vector "
                                      "(or one too large for float32)")
                counters["skipped"].add(len(users) - len(ukeys))
                history_rows = history_rows[ok]
                users = ukeys
                utable = Vectors(users, values, unique=True)
                who = Users(tuple(users), np.arange(len(users), dtype=np.int64), history_rows, "user table")
            else:
                known = history_rows >= 0
                counters["skipped"].add(int((~known).sum()))
                who = Users(tuple(u for u, o in zip(users, known.tolist()) if o), None,
                            history_rows[known], "history")
            if not who.keys:
                continue
            scored = 0
            with warnings.catch_warnings():  # zero vectors (cosine): counted below, not printed
                warnings.simplefilter("ignore")
                for ukeys, ids, scores in recommend_blocks(
                    items, who, user_table=utable, histories=hist, k=job.k, metric=job.metric,
                    exclude_seen=job.exclude_seen, exclude=job.exclude, candidates=job.candidates,
                    index=index, ef_search=job.ef_search, nprobe=job.nprobe,
                ):
                    kk = ids.shape[1]
                    flat = ids.ravel()
                    ok = flat >= 0
                    user = np.repeat(np.array(ukeys, dtype=object), kk)[ok]
                    rank = np.tile(np.arange(1, kk + 1, dtype=np.int64), len(ukeys))[ok]
                    scored += len(ukeys)
                    counters["rows"].add(int(ok.sum()))
                    yield pa.RecordBatch.from_arrays(
                        [pa.array(user, type=pa.string()), pa.array(rank), pa.array(keys[flat[ok]], type=pa.string()),
                         pa.array(scores.ravel()[ok], type=pa.float32())], schema=out_schema)
            counters["users"].add(scored)
            counters["skipped"].add(len(who.keys) - scored)


def _lengths(arr: Any) -> Any:
    """Lengths of a list array's cells (0 for a null cell)."""
    import pyarrow.compute as pc

    return pc.list_value_length(arr).fill_null(0).to_numpy(zero_copy_only=False)


# -- the driver ------------------------------------------------------------------------------
def _failure(exc: BaseException) -> str:
    """One line for a failed job: our own error raised in a worker, a missing embviz, else Spark's."""
    from embviz.spark.session import _java_message

    full = str(exc)
    for line in full.splitlines():
        if "No module named 'embviz'" in line or 'No module named "embviz"' in line:
            return ("the executors' Python cannot import embviz: install embviz on every executor, or ship a "
                    "packed environment with spark.archives (docs/recommend.md, \"On Spark\")")
    for line in full.splitlines():  # our own one-line errors, raised in a worker
        if "embviz.errors." in line and ": " in line:
            return "the Spark job failed: " + line.split(": ", 1)[1].strip()
    return f"the Spark job failed: {_java_message(exc)}"


def _read(spark: Any, path: str, what: str) -> Any:
    """Return a DataFrame of a Parquet file or folder, or of a CSV/TSV log (every column text)."""
    from embviz.spark.session import _java_message

    low = path.lower()
    try:
        if low.endswith(_LOG_TEXT):
            sep = "," if low.endswith(".csv") else "\t"
            return spark.read.option("header", True).option("sep", sep).option("quote", '"' if sep == "," else "") \
                .csv(path)
        if low.endswith((".arrow", ".feather", ".ipc")):
            raise InvalidQuery(f"{what} {path}: Spark reads Parquet, CSV and TSV logs; write it as Parquet "
                               "(pyarrow.parquet.write_table)")
        return spark.read.parquet(path)
    except InvalidQuery:
        raise
    except Exception as exc:  # noqa: BLE001 - AnalysisException and friends
        raise FormatError(f"{what} {path}: {_java_message(exc)}") from None


def _user_vectors(spark: Any, path: str, key_column: str | None) -> Any:
    """``user string, vector array<double>`` from a Parquet user table (columns chosen as ``-v`` does)."""
    import pyarrow.parquet as pq
    from pyspark.sql import functions as F

    from embviz.io.options import SourceOptions
    from embviz.io.tables import choose_columns, parquet_parts

    local = Path(path)
    if local.is_dir():
        parts = parquet_parts(local)
        if not parts:
            raise FormatError(f"--users {path}: no Parquet part files")
        schema = pq.read_schema(parts[0])
    elif local.is_file():
        schema = pq.read_schema(local)
    else:
        schema = None
    df = _read(spark, path, "--users")
    if schema is None:  # a URI Spark reads (hdfs://, s3a://): its schema, through Spark
        schema = _arrow_schema(df)
    key, cols, kind = choose_columns(local, schema, SourceOptions(key_column=key_column))
    if key is None:
        raise FormatError(f"--users {path}: no key column (user ids); name it with --user-column")
    if kind == "wide":
        vec = F.array(*[F.col(f"`{c}`").cast("double") for c in cols])
    elif kind == "spark":
        vec = F.col(f"`{cols[0]}`.values")
    else:
        vec = F.col(f"`{cols[0]}`").cast("array<double>")
    return df.select(F.col(f"`{key}`").cast("string").alias("user"), vec.alias("vector"))


def _arrow_schema(df: Any) -> Any:
    from pyspark.sql.pandas.types import to_arrow_schema

    return to_arrow_schema(df.schema)


def _histories_frame(spark: Any, path: str, user_column: str | None, item_column: str | None,
                     time_column: str | None) -> Any:
    """``user string, events array<string>``: each user's items, oldest first (file order on ties)."""
    from pyspark.sql import functions as F

    from embviz.io.interactions import pick_log_columns

    df = _read(spark, path, "--history")
    ucol, icol, tcol, _ = pick_log_columns(path, list(df.columns), user_column, item_column, time_column)
    pos = F.monotonically_increasing_id()
    if tcol is None:
        order = [pos]
    elif dict(df.dtypes)[tcol] == "string":  # text logs: numbers by value, other text as text
        t = F.col(f"`{tcol}`")
        order = [t.cast("double").isNull(), t.cast("double"), t.isNull(), t, pos]
    else:
        t = F.col(f"`{tcol}`")
        order = [t.isNull(), t, pos]
    ev = df.select(
        F.col(f"`{ucol}`").cast("string").alias("user"),
        F.struct(*[o.alias(f"o{j}") for j, o in enumerate(order)],
                 F.col(f"`{icol}`").cast("string").alias("item")).alias("e"),
    )
    return ev.groupBy("user").agg(F.sort_array(F.collect_list("e")).getField("item").alias("events"))


def _stage_items(sc: Any, items: Vectors, tmp: Path, token: str) -> tuple[str, str]:
    """Write the item rows and keys once and ship them to the executors (``addFile``)."""
    import pyarrow as pa

    rows = tmp / f"embviz-items-{token}.npy"
    keys = tmp / f"embviz-keys-{token}.arrow"
    np.save(rows, np.ascontiguousarray(items.matrix))
    with pa.OSFile(str(keys), "wb") as sink, pa.ipc.new_file(sink, pa.schema([("key", pa.string())])) as w:
        w.write_table(pa.table({"key": pa.array(list(items.keys), type=pa.string())}))
    sc.addFile(str(rows))
    sc.addFile(str(keys))
    return rows.name, keys.name


def recommend_spark(
    spark: Any,
    items: Vectors,
    output: str,
    *,
    user_table: str | None = None,
    user_key_column: str | None = None,
    history: str | None = None,
    user_column: str | None = None,
    item_column: str | None = None,
    time_column: str | None = None,
    users: Sequence[str] | None = None,
    k: int = 10,
    metric: str = "cosine",
    exclude_seen: bool = False,
    exclude: Sequence[int] = (),
    candidates: NDArray[np.int64] | None = None,
    partitions: int | None = None,
    index: Any = None,
    ef_search: int | None = None,
    nprobe: int | None = None,
) -> SparkReport:
    """Write the top `k` items of every user as Parquet ``user, rank, item, score``, on Spark.

    Parameters
    ----------
    spark : pyspark.sql.SparkSession
        From :func:`embviz.spark.session.start_session`.
    items : Vectors
        The item table ``(n_items, dim)`` (float32 or float16), loaded on the driver; its rows
        are shipped to every executor once.
    output : str
        A new folder (local path or a URI Spark writes): Parquet parts, one per partition of
        users (a hash of the user key), and Spark's ``_SUCCESS``. A local output is written
        beside it and renamed into place when complete.
    user_table : str, optional
        Parquet user vectors (file or folder), in the items' space; columns chosen as ``-v``
        chooses them (`user_key_column` names the key).
    history : str, optional
        Interaction log (Parquet, CSV, TSV): user vectors when `user_table` is None (the mean
        of the history's item vectors), and what `exclude_seen` excludes.
    user_column, item_column, time_column : str, optional
        The log's columns (default: named like user/item/timestamp, as ``read_histories``).
    users : sequence of str, optional
        Only these users.
    k, metric, exclude_seen
        As :func:`embviz.search.recommender.recommend_blocks`.
    exclude : sequence of int
        Item rows never recommended.
    candidates : ndarray ``(c,)`` int64, optional
        Only these item rows are recommended.
    partitions : int, optional
        Partitions of users (default: Spark's default parallelism).
    index : embviz.search.index.Index, optional
        Answer from this FAISS index over the items (built for `metric`, e.g. the cache's):
        saved once, shipped with the items and read once per Python worker, so the answers
        are those of ``recommend --index`` on one machine. Not with `candidates`.
    ef_search, nprobe : int, optional
        The index's search depth.

    Returns
    -------
    SparkReport

    Raises
    ------
    InvalidQuery
        No users, `exclude_seen` without a history, or an unsupported log format.
    FormatError
        A table Spark cannot read, a missing column, a user vector of another dimension.
    SparkError
        If the job fails.
    """
    from pyspark.sql import functions as F

    from embviz.search.metric import check_metric

    metric = check_metric(metric)
    if k < 1:
        raise InvalidQuery(f"k must be at least 1, got {k}")
    if user_table is None and history is None:
        raise InvalidQuery("recommend needs users: --users FILE (user vectors) or --history FILE (interactions)")
    if exclude_seen and history is None:
        raise InvalidQuery("--exclude-seen needs --history FILE (what each user has seen)")
    if index is not None and index.metric != metric:
        raise InvalidQuery(f"the index was built for {index.metric}, not {metric}")
    if index is not None and candidates is not None:
        raise InvalidQuery("--include/--include-where search a subset exactly: drop --index")
    with_table, with_history = user_table is not None, history is not None

    def plan(items_file: str, keys_file: str, counters: dict[str, Any], tmp: Path) -> Any:
        frame = _user_vectors(spark, user_table, user_key_column) if with_table else None
        if with_history:
            hist = _histories_frame(spark, history, user_column, item_column, time_column)
            frame = hist if frame is None else frame.join(hist, on="user", how="left")
        frame = frame.where(F.col("user").isNotNull())
        if users is not None:
            frame = frame.where(F.col("user").isin(list(dict.fromkeys(users))))
        frame = frame.repartition(n_parts, "user")
        index_file = None
        if index is not None:  # beside the items' files, shipped the same way
            faiss_path = tmp / f"embviz-index-{Path(items_file).stem}.faiss"
            index.save(faiss_path)
            spark.sparkContext.addFile(str(faiss_path))
            spark.sparkContext.addFile(str(faiss_path.with_suffix(".json")))
            index_file = faiss_path.name
        job = _Job(
            items_file=items_file, keys_file=keys_file, k=k, metric=metric, exclude_seen=exclude_seen,
            table=with_table, history=with_history, threads=_task_cpus(spark.sparkContext),
            exclude=np.unique(np.asarray(exclude, dtype=np.int64)),
            candidates=None if candidates is None else np.asarray(candidates, dtype=np.int64),
            index_file=index_file, ef_search=ef_search, nprobe=nprobe,
        )
        return frame.mapInArrow(lambda batches: _score(job, batches, counters), SCHEMA)

    n_parts = partitions or spark.sparkContext.defaultParallelism
    return _run_job(spark, items, output, plan, ("users", "rows", "skipped", "events", "unknown", "missing"), n_parts)


def _task_cpus(sc: Any) -> int:
    return int(sc.getConf().get("spark.task.cpus", "1"))


def _run_job(spark: Any, items: Vectors, output: str, plan: Any, counter_names: Sequence[str],
             n_parts: int) -> SparkReport:
    """Ship the items, run `plan`'s DataFrame, write it to `output` (beside it, then renamed)."""
    from embviz.spark.session import SparkError

    target = None if "://" in output else Path(output).expanduser()
    if target is not None and target.exists():
        raise InvalidQuery(f"-o {output}: already exists; choose a new folder")
    started = time.perf_counter()
    sc = spark.sparkContext
    tmp = Path(tempfile.mkdtemp(prefix="embviz-spark-"))
    staging = None
    try:
        token = uuid.uuid4().hex[:12]
        items_file, keys_file = _stage_items(sc, items, tmp, token)
        counters = {name: sc.accumulator(0) for name in counter_names}
        with warnings.catch_warnings():  # pyspark's pandas-version FutureWarning
            warnings.simplefilter("ignore")
            frame = plan(items_file, keys_file, counters, tmp)
        if target is not None:
            staging = target.parent / f".{target.name}.embviz-{token}"
            where = staging.resolve().as_uri()
        else:
            where = output
        try:
            frame.write.mode("errorifexists").parquet(where)
        except Exception as exc:  # noqa: BLE001 - Py4JJavaError, PythonException
            raise SparkError(_failure(exc)) from None
        if staging is not None:
            staging.rename(target)
            staging = None
        got = {name: c.value for name, c in counters.items()}
        return SparkReport(
            users=got.get("users", got.get("queries", 0)), rows=got["rows"], skipped_users=got.get("skipped", 0),
            events=got.get("events", 0), unknown_events=got.get("unknown", 0), missing_events=got.get("missing", 0),
            partitions=n_parts, seconds=time.perf_counter() - started, output=output,
        )
    finally:
        if staging is not None:
            shutil.rmtree(staging, ignore_errors=True)
        shutil.rmtree(tmp, ignore_errors=True)
