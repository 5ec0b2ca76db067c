"""item2vec on Apache Spark: ``embviz train --interactions LOG --engine spark``.

Spark reads the interaction log itself (a Parquet file or folder, CSV or TSV with a header; a
local path or any URI Spark reads, ``hdfs://``, ``s3a://``), builds the item sequences with
DataFrame functions and trains Spark ML's ``Word2Vec`` on them: the driver sees counts, the
items' popularity and the trained vectors, never an event. The sequences are those of the
one-machine path (:mod:`embviz.train.sequences`):

- keys: ids as text as there (integers in decimal; float ids that are all integral as
  integers; a CSV/TSV id column written ``1.0, 2.0`` as ``1, 2``); a null or empty user or
  item leaves the event out.
- order: by the time column (numbers by value, ISO 8601 text as times; exactly, as
  ``_metadata.file_path`` and ``monotonically_increasing_id`` break ties: file order), else
  file order.
- histories: ``groupBy(user).agg(sort_array(collect_list(struct(time, file, position,
  item))))``, the items taken in that order.
- sessions (``session_gap``): a window per user in the same order; an event starts a new
  session when its time minus ``lag(time)`` is *more than* the gap (as ``>`` there), and the
  running sum of those starts is the session id; then grouped by (user, session).
- baskets (``basket_column``): grouped by (user, basket), each in time (else file) order.
- ``hold_out_last``: ``lead`` over the same order finds each user's last event, left out.

Spark's ``Word2Vec`` is skip-gram with hierarchical softmax, and it shrinks every window at
random (word2vec.c's rule): gensim's negative sampling, subsampling and full windows
(``shrink_windows=False``) have no Spark equivalent and are refused
(:func:`~embviz.train.engine_spark.unsupported_option`). The window defaults to the longest
sequence (at most :data:`~embviz.train.sequences.WINDOW_CAP`), ``min_count`` to 1, and
``maxSentenceLength`` is :data:`~embviz.train.sequences.MAX_LENGTH`: Spark cuts longer
sequences into chunks as gensim's reader does, and how many were longer is counted in Spark.

Nothing here prints, exits or reads the environment; errors are
:class:`~embviz.errors.EmbvizError` subclasses with a one-line message.
"""

from __future__ import annotations

import os
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np
from numpy.typing import NDArray

from embviz.errors import FormatError, InvalidQuery
from embviz.train import sequences as _seq
from embviz.train.engine_spark import (
    _corpus_bytes,
    _has_scheme,
    _java_message,
    _job_failed,
    _Tracker,
    check_model_folder,
    check_params,
    fit_collect,
    require_pyspark,
    run_session,
    spark_params,
    spark_record,
    unsupported_option,
)
from embviz.train.params import TrainParams, TrainReport, TrainResult, TrainStart

_TEXT_LOGS = (".csv", ".tsv", ".txt", ".inter")
_INTEGRAL = r"^-?[0-9]+\.0+$"
_INTEGERS = ("tinyint", "smallint", "int", "bigint")


@dataclass(frozen=True)
class SparkSequences:
    """What Spark built from the log: the counts of :class:`~embviz.train.sequences.Sequences`.

    The same attributes, with `items` every item of the sequences by descending count (ties by
    key), `counts` ``(items,)`` int64 aligned with it, and no file: the sequences stay in
    Spark. `fingerprint` is None (it would mean reading the log on the driver).
    """

    items: tuple[str, ...]
    counts: NDArray[np.int64]
    source: str
    rows: int
    events: int
    users: int
    sequences: int
    longest: int
    cut: int
    columns: dict = field(default_factory=dict)
    unit: str = "user"
    session_gap: float | None = None
    held_out: int = 0
    fingerprint: str | None = None

    describe = _seq.Sequences.describe
    provenance = _seq.Sequences.provenance


@dataclass(frozen=True)
class SequencesBuilt:
    """Sent to the progress hook once Spark has built and counted the sequences, before training.

    Attributes
    ----------
    sequences : SparkSequences
    params : TrainParams
        The parameters Spark trains with, the window resolved.
    """

    sequences: SparkSequences
    params: TrainParams


def item2vec_spark_params(**kwargs: Any) -> TrainParams:
    """Return item2vec's parameters as Spark trains them: skip-gram, hierarchical softmax, ``min_count=1``.

    Keyword arguments set what Spark has (``vector_size``, ``window``, ``min_count``,
    ``epochs``, ``alpha``, ``seed``, ``workers``); windows are shrunk at random, as Spark does.
    """
    return spark_params(**{"min_count": 1, **kwargs})


def check_log(
    interactions: str | os.PathLike,
    *,
    user_column: str | None = None,
    item_column: str | None = None,
    time_column: str | None = None,
    session_gap: float | None = None,
    basket_column: str | None = None,
    hold_out_last: bool = False,
) -> str:
    """Check a log before Spark starts; return the path (absolute) or URI Spark reads.

    A local log is opened (its header only) to choose the columns as Spark will, so a missing
    column costs no JVM start.

    Raises
    ------
    FormatError
        A local log that does not exist or lacks a named column.
    InvalidQuery
        An Arrow/Feather log (Spark reads Parquet, CSV and TSV), or options that do not go
        together (as :func:`embviz.train.sequences.build`).
    """
    text = os.fspath(interactions)
    if text.lower().rstrip("/").endswith((".arrow", ".feather", ".ipc")):
        raise InvalidQuery(f"--interactions {text}: Spark reads Parquet, CSV and TSV logs; write it as "
                           "Parquet (pyarrow.parquet.write_table)")
    local = not _has_scheme(text) or text.startswith("file://")
    path = Path(text[len("file://"):] if text.startswith("file://") else text)
    if local and not path.exists():
        raise FormatError(f"{path}: no such file")
    if session_gap is not None and basket_column is not None:
        raise InvalidQuery("--session-gap and --basket-column both cut sequences: give one")
    if hold_out_last and basket_column is not None:
        raise InvalidQuery("--hold-out-last holds out each user's last event: not with --basket-column")
    if not local:
        return text
    from embviz.io.interactions import log_columns

    _, names, (_, _, tcol, _) = log_columns(path, user_column, item_column, time_column,
                                            (basket_column, "baskets (--basket-column)"))
    if session_gap is not None and tcol is None:
        raise InvalidQuery(f"--session-gap needs a time column; {path.name} has none by name "
                           f"(columns: {', '.join(names)}): name it with --time-column")
    return str(path.resolve())


# -- the sequences, in Spark ---------------------------------------------------------------------
def _col(name: str) -> Any:
    from pyspark.sql import functions as F  # noqa: N812

    return F.col("`" + name.replace("`", "``") + "`")


def _non_finite(c: Any) -> Any:
    from pyspark.sql import functions as F  # noqa: N812

    return F.isnan(c) | (F.abs(c) == F.lit(float("inf")))


def _key(c: Any, dtype: str, integral: bool) -> Any:
    """Return a user, item or basket id as the one-machine path writes it (null: no id)."""
    from pyspark.sql import functions as F  # noqa: N812

    if dtype == "string":
        c = F.regexp_replace(c, r"\.0+$", "") if integral else c
        return F.when(c != "", c)
    if dtype in ("float", "double") and integral:
        return c.cast("bigint").cast("string")
    return c.cast("string")


def _checks(df: Any, name: str, cols: dict, text_log: bool) -> tuple[dict, str | None]:
    """Run the one pass over the raw log: rows, events, how ids become keys, the time column's kind.

    Returns ``(the aggregate row as a dict, time mode: None, "number" or "time")``.
    """
    from pyspark.sql import functions as F  # noqa: N812

    types = dict(df.dtypes)
    u, i, t = _col(cols["user"]), _col(cols["item"]), cols.get("time")
    ok = (u.isNotNull() & (u != "") if types[cols["user"]] == "string" else u.isNotNull()) & (
        i.isNotNull() & (i != "") if types[cols["item"]] == "string" else i.isNotNull())
    aggs = [F.count(F.lit(1)).alias("rows"), F.count(F.when(ok, 1)).alias("events")]
    for role in ("user", "item"):  # ids as text: decided over the whole column, as there
        c, dtype = _col(cols[role]), types[cols[role]]
        if dtype == "string" and text_log:
            aggs.append(F.min(F.when(c.isNotNull(), c.rlike(_INTEGRAL).cast("int"))).alias(f"{role}_integral"))
            # Spark's CSV reader turns bytes that are not UTF-8 into U+FFFD without a word; the
            # one-machine reader refuses such a log, so this one does too (a log that holds a real
            # U+FFFD is refused as well: Spark cannot tell the two apart)
            aggs.append(F.first(F.when(c.contains("\ufffd"), c), ignorenulls=True).alias(f"{role}_not_utf8"))
        elif dtype in ("float", "double"):
            integral = (F.rint(c) == c) & ~F.isnan(c) & (F.abs(c) < F.lit(9.2e18))
            aggs.append(F.min(F.when(c.isNotNull(), integral.cast("int"))).alias(f"{role}_integral"))
    ttype = types.get(t, "")
    if t is not None:
        tc = _col(t)
        aggs.append(F.count(F.when(ok & tc.isNull(), 1)).alias("no_time"))
        if ttype == "string":
            num = tc.try_cast("double")
            aggs += [F.count(F.when(ok & tc.isNotNull() & num.isNull(), 1)).alias("not_number"),
                     F.first(F.when(ok & tc.isNotNull() & tc.try_cast("timestamp").isNull(), tc),
                             ignorenulls=True).alias("not_time"),
                     F.count(F.when(ok & _non_finite(num), 1)).alias("non_finite")]
        elif ttype in ("float", "double"):
            aggs.append(F.count(F.when(ok & _non_finite(tc), 1)).alias("non_finite"))
        elif not (ttype in _INTEGERS or ttype.startswith("decimal") or ttype in ("timestamp", "timestamp_ntz", "date")):
            raise FormatError(f"{name}: column {t!r} is {ttype}: expected numbers, dates or timestamps for "
                              "--time-column")
    row = df.agg(*aggs).first().asDict()
    for role in ("user", "item"):
        bad = row.get(f"{role}_not_utf8")
        if bad is not None:
            raise FormatError(f"{name}: column {cols[role]!r} is not valid UTF-8: Spark read {bad[:40]!r} (U+FFFD "
                              "where the bytes were not UTF-8); re-encode the log as UTF-8, as the one-machine "
                              "reader also requires")
    if row["events"] == 0:
        raise FormatError(f"{name}: no event with a user and an item ({row['rows']:,} rows); columns used: "
                          f"user {cols['user']!r}, item {cols['item']!r}")
    mode = None
    if t is not None:
        if row["no_time"]:
            raise FormatError(f"{name}: {row['no_time']:,} of the {row['events']:,} events have no time in "
                              f"column {t!r}")
        mode = "time" if ttype == "string" and row["not_number"] else "number"
        if mode == "time" and row["not_time"] is not None:
            raise FormatError(f"{name}: column {t!r} holds {row['not_time']!r}: expected numbers (Unix "
                              "seconds), dates or ISO 8601 times for --time-column")
        if mode == "number" and row.get("non_finite"):
            raise FormatError(f"{name}: {row['non_finite']:,} of the {row['events']:,} events have a time in "
                              f"column {t!r} that is not a finite number")
    return row, mode


def _events(df: Any, cols: dict, types: dict, row: dict, mode: str | None) -> tuple[Any, list[str]]:
    """``user, item, o0..oN[, secs][, basket]``: one row per event; ``o*`` order the events."""
    from pyspark.sql import functions as F  # noqa: N812

    t = cols.get("time")
    order: list[Any] = []
    secs = None
    if t is not None:
        tc, ttype = _col(t), types[t]
        if ttype == "string" and mode == "number":  # text numbers by value, exactly
            order, secs = [tc.try_cast("double"), tc.try_cast("decimal(38,9)")], tc.try_cast("double")
        elif ttype == "string":
            ts = tc.try_cast("timestamp")
            order, secs = [ts], F.unix_micros(ts) / 1e6
        elif ttype == "date":
            order, secs = [tc], F.unix_date(tc).cast("double") * 86400.0
        elif ttype in ("timestamp", "timestamp_ntz"):
            order = [tc]
            secs = F.unix_micros(tc if ttype == "timestamp" else tc.cast("timestamp")) / 1e6
        else:
            order, secs = [tc], tc.cast("double")
    # ties (and logs without times): file order, as the one-machine path's stable sort keeps it
    order += [F.col("_metadata.file_path"), F.monotonically_increasing_id()]
    names = [f"o{j}" for j in range(len(order))]
    select = [_key(_col(cols[r]), types[cols[r]], bool(row.get(f"{r}_integral"))).alias(r) for r in ("user", "item")]
    select += [o.alias(n) for o, n in zip(order, names)]
    if secs is not None:
        select.append(secs.alias("secs"))
    if "basket" in cols:  # null and empty: one basket, as there
        select.append(_key(_col(cols["basket"]), types[cols["basket"]], False).alias("basket"))
    ev = df.select(*select).where(F.col("user").isNotNull() & F.col("item").isNotNull())
    return ev, names


def _grouped(ev: Any, names: list[str], session_gap: float | None, by_basket: bool, hold_out_last: bool) -> Any:
    """``user, seq array<string>, held int``: one row per sequence (held: it lost a held-out event)."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F  # noqa: N812

    event = F.struct(*[F.col(n) for n in names], F.col("item").alias("item"))
    if session_gap is None and not by_basket:
        seq = F.sort_array(F.collect_list(event)).getField("item")
        out = ev.groupBy("user").agg(seq.alias("seq"))
        if hold_out_last:  # the last item of a history is its user's last event
            return out.select("user", F.slice("seq", F.lit(1), F.size("seq") - 1).alias("seq"), F.lit(1).alias("held"))
        return out.withColumn("held", F.lit(0))
    if by_basket:
        out = ev.groupBy("user", "basket").agg(F.sort_array(F.collect_list(event)).getField("item").alias("seq"))
        return out.select("user", "seq", F.lit(0).alias("held"))
    w = Window.partitionBy("user").orderBy(*[F.col(n) for n in names])
    gap = F.col("secs") - F.lag("secs").over(w)
    ev = ev.withColumn("start", F.coalesce((gap > F.lit(float(session_gap))).cast("int"), F.lit(0)))
    ev = ev.withColumn("last", F.lead(F.lit(1)).over(w).isNull() if hold_out_last else F.lit(False))
    ev = ev.withColumn("sid", F.sum("start").over(w.rowsBetween(Window.unboundedPreceding, Window.currentRow)))
    kept = F.when(~F.col("last"), event)  # collect_list skips the nulls: the held-out event
    return ev.groupBy("user", "sid").agg(F.sort_array(F.collect_list(kept)).getField("item").alias("seq"),
                                         F.max(F.col("last").cast("int")).alias("held")).drop("sid")


def _plan(spark: Any, source: str, name: str, *, user_column: str | None, item_column: str | None,
          time_column: str | None, session_gap: float | None, basket_column: str | None,
          hold_out_last: bool) -> tuple[Any, dict, dict]:
    """Read the log and return ``(sequences frame, the first pass's row, the columns by role)``."""
    from embviz.io.interactions import pick_log_columns
    from embviz.spark.recommend import _read

    df = _read(spark, source, "--interactions")
    names = list(df.columns)
    ucol, icol, tcol, bcol = pick_log_columns(name, names, user_column, item_column, time_column,
                                              (basket_column, "baskets (--basket-column)"))
    if session_gap is not None and tcol is None:
        raise InvalidQuery(f"--session-gap needs a time column; {Path(name).name} has none by name "
                           f"(columns: {', '.join(names)}): name it with --time-column")
    cols = {k: v for k, v in (("user", ucol), ("item", icol), ("time", tcol), ("basket", bcol)) if v}
    text_log = source.lower().rstrip("/").endswith(_TEXT_LOGS)
    row, mode = _checks(df, name, cols, text_log)
    ev, order = _events(df, cols, dict(df.dtypes), row, mode)
    return _grouped(ev, order, session_gap, bcol is not None, hold_out_last), row, cols


def _utc(spark: Any, fn: Callable[[], Any]) -> Any:
    """Run `fn` with the session's time zone at UTC (naive times read as the one-machine path reads them)."""
    key = "spark.sql.session.timeZone"
    before = spark.conf.get(key)
    spark.conf.set(key, "UTC")
    try:
        return fn()
    finally:
        spark.conf.set(key, before)


def _guard(fn: Callable[[], Any], name: str) -> Any:
    """Run Spark work; its failures as one-line errors."""
    from pyspark.errors import AnalysisException

    try:
        return fn()
    except AnalysisException as exc:
        raise FormatError(f"{name}: {_java_message(exc)}") from None
    except Exception as exc:  # noqa: BLE001 - Py4JJavaError: a failed job
        raise _job_failed(exc, name) from None


def spark_sequences(
    spark: Any,
    interactions: str | os.PathLike,
    *,
    user_column: str | None = None,
    item_column: str | None = None,
    time_column: str | None = None,
    session_gap: float | None = None,
    basket_column: str | None = None,
    hold_out_last: bool = False,
) -> list[list[str]]:
    """Return the sequences Spark builds from a (small) log as Python lists of item ids, sorted.

    For tests and a look at what training sees: the same sequences as
    :func:`embviz.train.sequences.build` writes (before chunking), collected to the driver.
    """
    from pyspark.sql import functions as F  # noqa: N812

    source, name = check_log(interactions), os.fspath(interactions)

    def work() -> list[list[str]]:
        frame, _, _ = _plan(spark, source, name, user_column=user_column, item_column=item_column,
                            time_column=time_column, session_gap=session_gap, basket_column=basket_column,
                            hold_out_last=hold_out_last)
        return sorted(list(r["seq"]) for r in frame.where(F.size("seq") > 0).select("seq").collect())

    return _guard(lambda: _utc(spark, work), name)


# -- training ------------------------------------------------------------------------------------
def _count(frame: Any, row: dict, cols: dict, name: str, session_gap: float | None,
           tracker: _Tracker) -> tuple[SparkSequences, Any]:
    """Count the sequences and the items' events in Spark; return them and the training frame."""
    from pyspark.sql import functions as F  # noqa: N812

    size = F.size("seq")
    longest_allowed = _seq.MAX_LENGTH
    unit = "basket" if "basket" in cols else "session" if session_gap is not None else "user"
    users = F.count(F.when(size > 0, 1)) if unit == "user" else F.countDistinct(F.when(size > 0, F.col("user")))
    stats = tracker.run(lambda: frame.agg(
        F.coalesce(F.sum("held"), F.lit(0)).alias("held_out"),
        F.coalesce(F.sum(F.ceil(size / F.lit(longest_allowed))), F.lit(0)).alias("sequences"),
        F.coalesce(F.sum(size), F.lit(0)).alias("events"),
        F.coalesce(F.max(size), F.lit(0)).alias("longest"),
        F.count(F.when(size > longest_allowed, 1)).alias("cut"),
        users.alias("users"),  # a history is one user's
    ).first())
    if stats["events"] == 0:
        raise FormatError(f"{name}: every user has one event: nothing is left to train on after holding out "
                          "each user's last")
    tokens = frame.where(size > 0).select(F.col("seq").alias("tokens"))
    table = tracker.run(lambda: tokens.select(F.explode("tokens").alias("item")).groupBy("item").count().toArrow())
    items = table.column("item").to_pylist()
    freq = table.column("count").to_numpy(zero_copy_only=False).astype(np.int64)
    order = sorted(range(len(items)), key=lambda j: (-int(freq[j]), items[j]))
    seqs = SparkSequences(
        items=tuple(items[j] for j in order), counts=freq[np.asarray(order, dtype=np.int64)], source=name,
        rows=int(row["rows"]), events=int(stats["events"]), users=int(stats["users"]),
        sequences=int(stats["sequences"]), longest=int(stats["longest"]), cut=int(stats["cut"]),
        columns=dict(cols), unit=unit, session_gap=session_gap, held_out=int(stats["held_out"]),
    )
    return seqs, tokens


def train_item2vec_spark(
    interactions: str | os.PathLike,
    params: TrainParams | None = None,
    *,
    window: int | None = None,
    user_column: str | None = None,
    item_column: str | None = None,
    time_column: str | None = None,
    session_gap: float | None = None,
    basket_column: str | None = None,
    hold_out_last: bool = False,
    master: str = "local[*]",
    conf: Mapping[str, str] | Sequence[tuple[str, str]] = (),
    save_model: str | os.PathLike | None = None,
    progress: Callable[[Any], None] | None = None,
    spark_log: bool = False,
    session: Any = None,
    name: str | None = None,
) -> TrainResult:
    """Train item vectors on an interaction log with Spark ML's ``Word2Vec`` (item2vec on Spark).

    Parameters
    ----------
    interactions : str or path-like
        Parquet (file or folder), CSV or TSV log with a header: a local path or a URI Spark
        reads (``hdfs://``, ``s3a://``). Columns are found as
        :func:`embviz.train.sequences.build` finds them.
    params : TrainParams, optional
        Everything but the window; default :func:`item2vec_spark_params` (skip-gram,
        hierarchical softmax, ``min_count=1``, one partition). Checked by
        :func:`~embviz.train.engine_spark.check_params`; ``shrink_windows=False`` is refused.
    window : int, optional
        Items each side; default the whole sequence: the longest, at most
        :data:`~embviz.train.sequences.WINDOW_CAP` (counted in Spark). ``params.window`` is
        not used.
    user_column, item_column, time_column, session_gap, basket_column, hold_out_last
        How the sequences are built: see :func:`embviz.train.sequences.build`.
    master, conf, save_model, progress, spark_log, session
        As :func:`embviz.train.engine_spark.train`; `progress` also gets a
        :class:`SequencesBuilt` once the sequences are counted.
    name : str, optional
        How messages and the report name the log (default: as given).

    Returns
    -------
    TrainResult
        ``vectors`` ``(items, vector_size)`` float32, keys the log's item ids by descending
        count (ties by key); ``counts`` ``(items,)`` int64, each item's events;
        ``report.interactions`` how the sequences were built; ``report.engine == "spark"``.

    Raises
    ------
    InvalidQuery
        A parameter out of range or one Spark's Word2Vec does not implement; an Arrow log.
    FormatError
        A log that cannot be read, a missing column, times that are not numbers, dates or ISO
        8601 text, no event, or no item reaching ``min_count``.
    MissingDependency, SparkError, TrainingInterrupted
        As :func:`embviz.train.engine_spark.train`.
    """
    params = check_params(params if params is not None else item2vec_spark_params())
    if params.shrink_windows is False:
        raise unsupported_option("shrink_windows")
    if window is not None and (isinstance(window, bool) or not isinstance(window, int) or window < 1):
        raise InvalidQuery(f"window must be an integer >= 1, got {window!r}")
    name = name or os.fspath(interactions)
    source = check_log(interactions, user_column=user_column, item_column=item_column, time_column=time_column,
                       session_gap=session_gap, basket_column=basket_column, hold_out_last=hold_out_last)
    if save_model is not None:
        check_model_folder(save_model)
    require_pyspark()
    started = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    t0 = time.perf_counter()

    def work(spark: Any) -> tuple:
        from pyspark import StorageLevel

        tracker = _Tracker(spark.sparkContext, f"embviz-train-{os.getpid()}-{time.monotonic_ns()}", progress,
                           params.epochs, 0)
        t = time.perf_counter()
        frame, row, cols = _guard(lambda: tracker.run(lambda: _plan(
            spark, source, name, user_column=user_column, item_column=item_column, time_column=time_column,
            session_gap=session_gap, basket_column=basket_column, hold_out_last=hold_out_last)), name)
        frame = frame.persist(StorageLevel.MEMORY_AND_DISK)
        try:
            seqs, tokens = _guard(lambda: _count(frame, row, cols, name, session_gap, tracker), name)
            count_seconds = time.perf_counter() - t
            p = replace(params, window=window or max(1, min(seqs.longest, _seq.WINDOW_CAP, _seq.MAX_LENGTH)))
            kept = seqs.counts >= p.min_count
            if not kept.any():
                raise FormatError(f"{name}: no item occurs at least min_count={p.min_count} times (the most "
                                  f"frequent of {len(seqs.items):,} items occurs {int(seqs.counts.max()):,} "
                                  "times); lower --min-count")
            keys = [k for k, keep in zip(seqs.items, kept.tolist()) if keep]
            if progress is not None:
                progress(SequencesBuilt(seqs, p))
                progress(TrainStart(p.epochs, seqs.events, seqs.sequences, len(keys)))
            fitted = fit_collect(spark, tokens, keys, seqs.events, p, _seq.MAX_LENGTH, save_model, tracker, name)
        finally:
            frame.unpersist()
        return seqs, p, count_seconds, fitted, tracker.epoch_stats, _corpus_bytes(spark, source)

    info, session_seconds, result = run_session(
        lambda spark: _utc(spark, lambda: work(spark)), session=session, master=master, conf=conf,
        spark_log=spark_log, progress=progress)
    seqs, p, count_seconds, (vectors, train_seconds, collect_seconds, staged), epochs, corpus_bytes = result
    return _result(seqs, p, vectors, staged, save_model, name, started, time.perf_counter() - t0,
                   info, conf, epochs, corpus_bytes, session_seconds=session_seconds, count_seconds=count_seconds,
                   fit_seconds=train_seconds, collect_seconds=collect_seconds)


def _result(seqs: SparkSequences, params: TrainParams, vectors: Any, staged: Path | None,
            save_model: str | os.PathLike | None, name: str, started: str, seconds: float, info: dict,
            conf: Mapping[str, str] | Sequence[tuple[str, str]], epochs: list, corpus_bytes: int | None,
            **timings: float) -> TrainResult:
    """Return the :class:`TrainResult`: vectors, the staged model folder, the report as gensim's item2vec's."""
    from embviz._version import __version__
    from embviz.train.engine_spark import SparkModelFolder

    record = seqs.provenance()
    record["window"] = params.window
    record["window_rule"] = (
        "whole sequence" if params.window >= seqs.longest else f"{params.window} items each side"
    )
    train_seconds = timings["fit_seconds"]
    report = TrainReport(
        corpus=name, corpus_fingerprint=None, corpus_bytes=corpus_bytes, corpus_sentences=seqs.sequences,
        corpus_words=seqs.events, vocab_size=vectors.count, vector_size=params.vector_size,
        parameters={**asdict(params), "max_sentence_length": _seq.MAX_LENGTH}, gensim_version=None,
        embviz_version=__version__, mode="spark", seconds=seconds, train_seconds=train_seconds,
        words_per_s=seqs.events * params.epochs / train_seconds if train_seconds > 0 else float("inf"),
        effective_words_per_s=None, epochs=[asdict(s) for s in epochs], started=started, engine="spark",
        spark=spark_record(info, conf, params, _seq.MAX_LENGTH, **timings), interactions=record,
    )
    index = {k: j for j, k in enumerate(seqs.items)}
    counts = seqs.counts[np.fromiter((index[k] for k in vectors.keys), dtype=np.int64, count=vectors.count)]
    model = None
    if save_model is not None:
        model = SparkModelFolder(staged, None if staged is not None else str(save_model))
    return TrainResult(vectors, model, report, counts=counts)
