"""``--engine spark`` for ``recommend`` and ``neighbors --all``: options, start Spark, run, report."""

from __future__ import annotations

import os
import sys
from enum import Enum
from pathlib import Path
from typing import Annotated, Any, Callable, Sequence

import typer

from embviz.cli._common import check_output, message, progress
from embviz.errors import InvalidQuery, warn


class Engine(str, Enum):
    """Who scores: this process, or Spark (local mode or a cluster)."""

    local = "local"
    spark = "spark"


EngineOpt = Annotated[
    Engine,
    typer.Option("--engine", help="local (this process) or spark: Spark reads the inputs and writes Parquet "
                 "-o FOLDER; each partition scores with the same kernel."),
]
MasterOpt = Annotated[str | None, typer.Option("--master", help="Spark master: local[*] (default), local[N], "
                      "spark://HOST:PORT, yarn, k8s://...", show_default=False)]
SparkConfOpt = Annotated[list[str] | None, typer.Option("--spark-conf", help="Spark configuration KEY=VALUE "
                         "(repeatable), e.g. spark.executor.memory=4g.", show_default=False, metavar="KEY=VALUE")]
PartitionsOpt = Annotated[int | None, typer.Option("--partitions", min=1, help="Spark: partitions (Parquet parts "
                          "written; default: Spark's default parallelism).", show_default=False)]

#: ``-o`` of the commands with --engine spark: text, not Path, as a URI (hdfs://host/x) must reach
#: Spark as given (Path would collapse its //).
RowsOutputOpt = Annotated[
    str | None,
    typer.Option("--output", "-o", help="Write the rows to a file (.parquet, .tsv, .csv, .jsonl) instead of stdout; "
                 "written to a temporary file and renamed when complete. --engine spark: a new folder of Parquet "
                 "parts (a path, or a URI Spark writes).", show_default=False, metavar="FILE"),
]


def check_spark_options(engine: Engine, master: str | None, spark_conf: Sequence[str] | None,
                        partitions: int | None, output: str | None, refused: Sequence[tuple[str, bool]]) -> None:
    """One line for what --engine spark needs or does not take, before any work."""
    if engine is not Engine.spark:
        if master is not None or spark_conf or partitions is not None:
            raise InvalidQuery("--master, --spark-conf and --partitions apply to --engine spark only")
        return
    if output is None:
        raise InvalidQuery("--engine spark writes Parquet to a folder: give -o FOLDER")
    for name, given in refused:
        if given:
            raise InvalidQuery(f"{name} is not supported with --engine spark; drop it or use --engine local")


def _conf(items: Sequence[str]) -> list[tuple[str, str]]:
    conf = []
    for item in items:
        key, eq, value = item.partition("=")
        if not eq or not key.strip():
            raise InvalidQuery(f"--spark-conf {item!r}: expected KEY=VALUE")
        conf.append((key.strip(), value))
    return conf


def _parts(n: int) -> str:
    return f"{n} Parquet part{'' if n == 1 else 's'}"


def _start(output: str, master: str, spark_conf: Sequence[str]) -> tuple[Any, str]:
    """Check the output folder, Java and pyspark; start Spark. Returns ``(session, output)``."""
    from embviz.spark import session

    if "://" not in output:
        path = check_output(Path(output), folder=True)
        if path.exists():
            raise InvalidQuery(f"-o {path}: already exists; choose a new folder")
        output = str(path)
    conf = _conf(spark_conf)
    session.require_pyspark()
    session.find_java(os.environ)
    with progress() as bar:
        bar.add_task(f"starting Spark on {master}", total=None)
        spark = session.start_session(master, conf, app_name="embviz")
    if master.startswith("local") and not os.environ.get("PYSPARK_PYTHON"):
        # local workers run on this machine: this interpreter (which has embviz), not the first
        # python3 on PATH (PySpark's default), which may be another environment
        spark.sparkContext.pythonExec = sys.executable
    return spark, output


def _run(spark: Any, what: str, job: Callable[[], Any]) -> Any:
    try:
        with progress() as bar:
            bar.add_task(what, total=None)
            return job()
    finally:
        spark.stop()


def run_similar(vectors: Any, output: str, *, master: str, spark_conf: Sequence[str], k: int, metric: str,
                restrict: int | None, partitions: int | None) -> None:
    """``neighbors --all --engine spark``: the similar-items table as Parquet parts."""
    from embviz.spark import similar as jobs

    spark, output = _start(output, master, spark_conf)
    message(f"scoring on Spark {spark.version} ({master}, {spark.sparkContext.defaultParallelism} cores); "
            f"{vectors.count:,} keys, metric {metric}")
    report = _run(spark, "neighbors", lambda: jobs.similar_spark(spark, vectors, output, k=k, metric=metric,
                                                                  restrict=restrict, partitions=partitions))
    message(f"wrote {report.rows:,} rows for {report.users:,} keys to {report.output} "
            f"({_parts(report.partitions)}) in {report.seconds:.1f} s")


def run_spark(
    items: Any,
    output: str,
    *,
    master: str,
    spark_conf: Sequence[str],
    users: Sequence[str] | None,
    **job: Any,
) -> None:
    """``recommend --engine spark``: score on Spark; warnings and one summary line on stderr."""
    from embviz.spark import recommend as jobs

    spark, output = _start(output, master, spark_conf)
    message(f"scoring on Spark {spark.version} ({master}, {spark.sparkContext.defaultParallelism} cores); "
            f"{items.count:,} items, metric {job['metric']}"
            + ("; seen items excluded" if job.get("exclude_seen") else ""))
    report = _run(spark, "recommending", lambda: jobs.recommend_spark(spark, items, output, users=users, **job))
    dropped = report.unknown_events + report.missing_events
    if dropped:
        parts = []
        if report.unknown_events:
            parts.append(f"{report.unknown_events:,} with items not in {items.source or 'the item table'}")
        if report.missing_events:
            parts.append(f"{report.missing_events:,} without a user or item")
        warn(f"{Path(job['history']).name}: {dropped:,} of the scored users' {report.events:,} events dropped: "
             + "; ".join(parts))
    if report.skipped_users:
        warn(f"skipped {report.skipped_users:,} users without a vector (no known item in their history, "
             "a null vector, or an all-zero vector with cosine)")
    if users is not None:
        absent = len(set(users)) - report.users - report.skipped_users
        if absent > 0:
            warn(f"skipped {absent:,} unknown users (not among the users read)")
    message(f"wrote {report.rows:,} rows for {report.users:,} users to {report.output} "
            f"({_parts(report.partitions)}) in {report.seconds:.1f} s")
