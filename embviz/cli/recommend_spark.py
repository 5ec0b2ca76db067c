"""``embviz recommend --engine spark``: start Spark, run the scoring job, report on stderr."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any, Sequence

from embviz.cli._common import check_output, message, progress
from embviz.errors import InvalidQuery, warn


def _conf(items: Sequence[str]) -> list[tuple[str, str]]:
    conf = []
    for item in items:
        key, eq, value = item.partition("=")
        if not eq or not key.strip():
            raise InvalidQuery(f"--spark-conf {item!r}: expected KEY=VALUE")
        conf.append((key.strip(), value))
    return conf


def run_spark(
    items: Any,
    output: str,
    *,
    master: str,
    spark_conf: Sequence[str],
    users: Sequence[str] | None,
    **job: Any,
) -> None:
    """Check Java, pyspark and the output folder; score on Spark; one summary line on stderr."""
    from embviz.spark import recommend as spark_recommend
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
        spark = session.start_session(master, conf, app_name="embviz-recommend")
    if master.startswith("local") and not os.environ.get("PYSPARK_PYTHON"):
        # local workers run on this machine: this interpreter (which has embviz), not the first
        # python3 on PATH (PySpark's default), which may be another environment
        spark.sparkContext.pythonExec = sys.executable
    try:
        message(f"scoring on Spark {spark.version} ({master}, {spark.sparkContext.defaultParallelism} cores); "
                f"{items.count:,} items, metric {job['metric']}"
                + ("; seen items excluded" if job.get("exclude_seen") else ""))
        with progress() as bar:
            bar.add_task("recommending", total=None)
            report = spark_recommend.recommend_spark(spark, items, output, users=users, **job)
    finally:
        spark.stop()
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
            f"({report.partitions} Parquet parts) in {report.seconds:.1f} s")
