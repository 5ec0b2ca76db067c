"""``embviz neighbors --all --engine spark``: every key's nearest neighbors, on Spark.

The similar-items table of :func:`embviz.search.recommender.similar_blocks`, answered on the
executors: the query rows are split into ranges of :data:`SIMILAR_BLOCK`, spread over the
partitions, and each range is one call of the one-machine function, so the rows are those of
``neighbors --all`` here (a key is never its own neighbor; ties to the lower row). The table
is shipped and the output written as by :mod:`embviz.spark.recommend`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator

import numpy as np

from embviz.errors import InvalidQuery
from embviz.spark.recommend import SparkReport, _items, _run_job, _task_cpus

if TYPE_CHECKING:
    from embviz.vectors import Vectors

#: ``neighbors --all``'s columns (as ``neighbors --all -o FILE.parquet`` writes them).
SIMILAR_SCHEMA = "query string, rank bigint, key string, score float"
#: Query rows per Spark row of ``neighbors --all`` (one kernel call each).
SIMILAR_BLOCK = 8192


@dataclass(frozen=True)
class _SimilarJob:
    items_file: str
    keys_file: str
    k: int
    metric: str
    restrict: int | None
    threads: int
    n: int


def _similar(job: _SimilarJob, batches: Iterator[Any], counters: dict[str, Any]) -> Iterator[Any]:
    """Answer each ``lo`` of the batches: the neighbors of rows ``lo .. lo + SIMILAR_BLOCK``."""
    import pyarrow as pa
    from threadpoolctl import threadpool_limits

    from embviz.search import kernel
    from embviz.search.recommender import similar_blocks

    table = _items(job)
    vectors, keys = table.vectors, table.keys
    schema = pa.schema([("query", pa.string()), ("rank", pa.int64()), ("key", pa.string()), ("score", pa.float32())])
    with threadpool_limits(limits=job.threads, user_api="blas"), kernel.thread_cap(job.threads):
        for batch in batches:
            for lo in batch.column("id").to_pylist():
                for rows, ids, scores in similar_blocks(vectors, job.k, metric=job.metric, restrict=job.restrict,
                                                        start=lo, stop=lo + SIMILAR_BLOCK, block=SIMILAR_BLOCK):
                    kk = ids.shape[1]
                    counters["queries"].add(len(rows))
                    counters["rows"].add(len(rows) * kk)
                    yield pa.RecordBatch.from_arrays(
                        [pa.array(keys[np.repeat(rows, kk)], type=pa.string()),
                         pa.array(np.tile(np.arange(1, kk + 1, dtype=np.int64), len(rows))),
                         pa.array(keys[ids.ravel()], type=pa.string()),
                         pa.array(scores.ravel(), type=pa.float32())], schema=schema)


def similar_spark(
    spark: Any,
    vectors: Vectors,
    output: str,
    *,
    k: int = 10,
    metric: str = "cosine",
    restrict: int | None = None,
    partitions: int | None = None,
) -> SparkReport:
    """Write every key's `k` nearest neighbors as Parquet ``query, rank, key, score``, on Spark.

    The similar-items table of ``neighbors --all``, answered by
    :func:`embviz.search.recommender.similar_blocks` on the executors: the same rows as one
    machine (a key is never its own neighbor; ties to the lower row). The query rows are
    split into ranges of :data:`SIMILAR_BLOCK` spread over `partitions`.

    Parameters
    ----------
    spark : pyspark.sql.SparkSession
    vectors : Vectors
        ``(n, dim)``, loaded on the driver and shipped to every executor once.
    output : str
        A new folder (path or URI), as :func:`recommend_spark`.
    k, metric, restrict
        As :func:`~embviz.search.recommender.similar_blocks`.
    partitions : int, optional
        Default: Spark's default parallelism.

    Returns
    -------
    SparkReport
        ``users`` counts the query keys answered.

    Raises
    ------
    InvalidQuery
        ``k < 1``, an unknown metric, an existing output.
    SparkError
        If the job fails.
    """
    from embviz.search.metric import check_metric

    metric = check_metric(metric)
    if k < 1:
        raise InvalidQuery(f"k must be at least 1, got {k}")
    n = vectors.count if restrict is None else min(restrict, vectors.count)
    sc = spark.sparkContext
    n_parts = max(1, min(partitions or sc.defaultParallelism, -(-n // SIMILAR_BLOCK)))

    def plan(items_file: str, keys_file: str, counters: dict[str, Any], tmp: Path) -> Any:  # noqa: ARG001
        job = _SimilarJob(items_file=items_file, keys_file=keys_file, k=k, metric=metric, restrict=restrict,
                          threads=_task_cpus(sc), n=n)
        starts = spark.range(0, n, SIMILAR_BLOCK, numPartitions=n_parts)
        return starts.mapInArrow(lambda batches: _similar(job, batches, counters), SIMILAR_SCHEMA)

    return _run_job(spark, vectors, output, plan, ("queries", "rows"), n_parts)

