"""Train word2vec on Apache Spark: ``pyspark.ml.feature.Word2Vec`` (skip-gram, hierarchical softmax).

When a corpus lives on HDFS or S3, or is too big for one machine, Spark ML's
:class:`~pyspark.ml.feature.Word2Vec` trains on the cluster a team already runs. This module
builds and runs that job and returns the same :class:`~embviz.train.params.TrainResult` as the
gensim engine, so the vectors, the sidecar and ``--eval`` are written the same way.

What Spark implements
---------------------
Spark's Word2Vec (``org.apache.spark.mllib.feature.Word2Vec``) trains **skip-gram with
hierarchical softmax** only: no CBOW, no negative sampling (so no ``ns_exponent``), no
subsampling of frequent words, no vocabulary cap. Its learning rate decays linearly from
``stepSize`` and never drops below ``stepSize * 1e-4``. :func:`check_params` rejects parameters
it cannot honour. The mapping is: ``vector_size`` -> ``vectorSize``, ``window`` ->
``windowSize``, ``min_count`` -> ``minCount``, ``epochs`` -> ``maxIter``, ``alpha`` ->
``stepSize``, ``seed`` -> ``seed``, ``workers`` -> ``numPartitions`` (the training data is split
into that many partitions, trained independently and averaged after every iteration), and
``max_sentence_length`` -> ``maxSentenceLength`` (longer lines are cut into chunks).

Corpus
------
Read by Spark itself (``spark.read.text``), never through the driver: a file, a folder (files
starting with ``_`` or ``.`` are skipped, as Spark does), a glob, or any URI Spark reads
(``hdfs://``, ``s3a://``). Compression is recognised by suffix (Hadoop codecs: ``.gz``,
``.bz2``, ...). Lines are split on runs of whitespace -- the characters Python's ``str.split``
treats as whitespace, as in the gensim engine -- by Spark's ``split``, empty tokens dropped,
and lowercased by Spark's ``lower`` when asked. Invalid UTF-8 becomes U+FFFD (Spark's text
reader), and the corpus is not fingerprinted (that would need reading it on the driver).

Reproducibility
---------------
With ``workers=1`` (one partition) and a fixed ``seed``, two runs give identical vectors: the
initial vectors come from Spark's ``XORShiftRandom(seed)`` and the vocabulary order from the
counts. With several partitions the per-partition results are summed in the order tasks
finish, so the last bits may differ.

Two siblings hold the rest, and their names are importable from here as before:
:mod:`embviz.train.spark_progress` (the progress events and the status-tracker poller) and
:mod:`embviz.train.spark_files` (the corpus checks and the staged model folder).
:mod:`embviz.train.item2vec_spark` trains item2vec on an interaction log with the same
session (:func:`run_session`), fit (:func:`fit_collect`) and sidecar record (:func:`spark_record`).

Nothing here prints, exits or reads the environment (the JVM itself reads ``JAVA_HOME``);
errors are :class:`~embviz.errors.EmbvizError` subclasses with a one-line message.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

from embviz.errors import EmbvizError, FormatError, InvalidQuery
from embviz.spark.session import (  # noqa: F401 - re-exported: the train engine's public names
    JVM_HINT,
    PYSPARK_HINT,
    SparkError,
    _java_message,
    check_master,
    find_java,
    require_pyspark,
    start_session,
)
from embviz.train.params import (  # noqa: F401 - EpochStats only re-exported
    EpochStats,
    TrainingInterrupted,
    TrainParams,
    TrainReport,
    TrainResult,
    TrainStart,
)
from embviz.train.spark_files import (
    SparkModelFolder,
    _corpus_bytes,
    _has_scheme,
    _local_checks,
    check_model_folder,
)
from embviz.train.spark_progress import (  # noqa: F401 - SparkTasks, _POLL_S only re-exported
    _POLL_S,
    SparkStarted,
    SparkTasks,
    _Tracker,
)

#: Spark's own default of ``maxSentenceLength``.
DEFAULT_MAX_SENTENCE_LENGTH = 1000
#: Java regex of one whitespace character, as Python's ``str.split()`` sees it: ASCII
#: whitespace, the control separators 0x1c-0x1f and the Unicode spaces (see
#: ``embviz.train.corpus._OTHER_SPACES``).
WHITESPACE = (
    r"[\s\x{1c}-\x{1f}\x{85}\x{a0}\x{1680}\x{2000}-\x{200a}\x{2028}\x{2029}\x{202f}"
    r"\x{205f}\x{3000}]+"
)
_SUFFIX = " -- Spark trains skip-gram with hierarchical softmax only; use --engine gensim"


# -- parameters ------------------------------------------------------------------------------
def spark_params(**kwargs: Any) -> TrainParams:
    """Return :class:`TrainParams` as Spark trains: skip-gram, hierarchical softmax, no sampling.

    Keyword arguments set the parameters Spark has (``vector_size``, ``window``, ``min_count``,
    ``epochs``, ``alpha``, ``seed``, ``workers``, ``lowercase``); ``min_alpha`` is recorded as
    Spark's floor, ``alpha * 1e-4``. ``workers`` defaults to 1 partition.
    """
    base = TrainParams(sg=True, hs=True, negative=0, sample=0.0, workers=1)
    params = replace(base, **kwargs)
    return replace(params, min_alpha=params.alpha * 1e-4)


#: The parameters Spark cannot honour: field, the CLI option and why.
_UNSUPPORTED = (
    ("sg", "--cbow", "Spark's Word2Vec has no CBOW"),
    ("negative", "--negative", "Spark's Word2Vec has no negative sampling"),
    ("ns_exponent", "--ns-exponent", "Spark's Word2Vec has no negative sampling"),
    ("sample", "--sample", "Spark's Word2Vec has no subsampling of frequent words"),
    ("max_vocab", "--max-vocab", "Spark's Word2Vec has no vocabulary cap (raise --min-count)"),
    (
        "min_alpha",
        "--min-alpha",
        "Spark's Word2Vec decays the learning rate to --alpha x 1e-4 itself",
    ),
    ("shrink_windows", "shrink_windows=False",
     "Spark's Word2Vec shrinks every window at random, as word2vec.c does"),
    ("output_vectors", "--output-vectors",
     "Spark's Word2Vec keeps no output vector per key (hierarchical softmax has one per inner node "
     "of its Huffman tree)"),
)


def unsupported_option(field: str) -> InvalidQuery:
    """Return the one-line error for a parameter Spark does not implement (`field` of TrainParams).

    Example: ``--negative is not available with --engine spark: Spark's Word2Vec has no
    negative sampling -- Spark trains skip-gram with hierarchical softmax only; use --engine
    gensim``.
    """
    for name, option, why in _UNSUPPORTED:
        if name == field:
            return InvalidQuery(f"{option} is not available with --engine spark: {why}{_SUFFIX}")
    raise ValueError(field)


def check_params(params: TrainParams) -> TrainParams:
    """Validate `params` for Spark and return them with Spark's fixed choices filled in.

    Raises
    ------
    InvalidQuery
        If a parameter is out of range, or asks for something Spark's Word2Vec does not
        implement (CBOW, negative sampling, subsampling, a vocabulary cap), naming it.
        ``min_alpha`` is set to Spark's fixed floor, ``alpha * 1e-4`` (the CLI refuses an
        explicit ``--min-alpha``).
    """
    if isinstance(params.alpha, (int, float)) and not isinstance(params.alpha, bool):
        params = replace(params, min_alpha=params.alpha * 1e-4)  # Spark's fixed floor
    params = params.validate()
    if not params.sg:
        raise unsupported_option("sg")
    if params.negative:
        raise unsupported_option("negative")
    if params.sample:
        raise unsupported_option("sample")
    if params.max_vocab is not None:
        raise unsupported_option("max_vocab")
    return replace(params, hs=True, ns_exponent=0.75, min_alpha=params.alpha * 1e-4)


# -- training --------------------------------------------------------------------------------
def train(
    corpus: str | os.PathLike,
    params: TrainParams | None = None,
    *,
    master: str = "local[*]",
    conf: Mapping[str, str] | Sequence[tuple[str, str]] = (),
    max_sentence_length: int = DEFAULT_MAX_SENTENCE_LENGTH,
    save_model: str | os.PathLike | None = None,
    progress: Callable[[Any], None] | None = None,
    spark_log: bool = False,
    session: Any = None,
    name: str | None = None,
    **kwargs: Any,
) -> TrainResult:
    """Train word2vec with Spark ML's ``Word2Vec`` (skip-gram, hierarchical softmax).

    Parameters
    ----------
    corpus : str or path-like
        A local file or folder, a glob, or any URI Spark reads (``hdfs://``, ``s3a://``), one
        sentence per line (see the module docstring).
    params : TrainParams, optional
        Default :func:`spark_params`; keyword arguments override it. Checked by
        :func:`check_params` before any work.
    master : str
        Spark master URL: ``local[*]`` (all cores here), ``local[N]``, ``spark://HOST:PORT``,
        ``yarn``, ``k8s://...``. Ignored when `session` is given.
    conf : mapping or sequence of (key, value)
        Extra Spark configuration (``spark.executor.memory`` ...).
    max_sentence_length : int
        Spark's ``maxSentenceLength``, >= 1: longer lines are cut into chunks of this many
        tokens.
    save_model : path-like or URI, optional
        Keep Spark's model folder: a local path is staged beside it and moved into place by
        :func:`embviz.train.write` (``result.model`` is a :class:`SparkModelFolder`); a URI is
        written by Spark directly.
    progress : callable, optional
        Called in this thread with :class:`SparkStarted`, :class:`TrainStart`,
        :class:`SparkTasks` (Spark's status tracker) and :class:`EpochStats` (per training job;
        ``loss`` is None, Spark does not report one).
    spark_log : bool
        See :func:`start_session`.
    session : SparkSession, optional
        Use this session (and leave it running); default: start one and stop it at the end.
    name : str, optional
        How messages and the report name the corpus (default: as given).

    Returns
    -------
    TrainResult
        ``vectors`` float32 ``(vocab, vector_size)``, keys by descending count (ties by key);
        ``model`` a :class:`SparkModelFolder` or None; the report (``engine="spark"``).

    Raises
    ------
    InvalidQuery
        A parameter out of range or not implemented by Spark.
    FormatError
        The corpus does not exist, is empty, or no word occurs `min_count` times.
    MissingDependency
        pyspark or Java is missing.
    SparkError
        The master is unreachable or a Spark job failed.
    TrainingInterrupted
        Ctrl-C; running jobs are cancelled and nothing is written.
    """
    params = replace(params or spark_params(), **kwargs) if kwargs else (params or spark_params())
    params = check_params(params)
    if isinstance(max_sentence_length, bool) or not isinstance(max_sentence_length, int) or (
        max_sentence_length < 1
    ):
        raise InvalidQuery(
            f"max_sentence_length must be an integer >= 1, got {max_sentence_length!r}"
        )
    corpus = os.fspath(corpus)
    name = name or corpus
    source = _local_checks(corpus, name)
    if save_model is not None:
        check_model_folder(save_model)
    require_pyspark()
    started = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    t0 = time.perf_counter()
    info, session_seconds, result = run_session(
        lambda spark: _run(spark, source, name, params, max_sentence_length, save_model, progress),
        session=session, master=master, conf=conf, spark_log=spark_log, progress=progress,
    )
    vectors, counts_seconds, train_seconds, collect_seconds, stats, epochs, staged = result

    from embviz._version import __version__

    sentences, words, vocab_size, corpus_bytes = stats
    seconds = time.perf_counter() - t0
    report = TrainReport(
        corpus=name,
        corpus_fingerprint=None,
        corpus_bytes=corpus_bytes,
        corpus_sentences=sentences,
        corpus_words=words,
        vocab_size=vocab_size,
        vector_size=params.vector_size,
        parameters={**asdict(params), "max_sentence_length": max_sentence_length},
        gensim_version=None,
        embviz_version=__version__,
        mode="spark",
        seconds=seconds,
        train_seconds=train_seconds,
        words_per_s=words * params.epochs / train_seconds if train_seconds > 0 else float("inf"),
        effective_words_per_s=None,
        epochs=[asdict(s) for s in epochs],
        started=started,
        engine="spark",
        spark=spark_record(info, conf, params, max_sentence_length, session_seconds=session_seconds,
                           count_seconds=counts_seconds, fit_seconds=train_seconds,
                           collect_seconds=collect_seconds),
    )
    model = None
    if save_model is not None:
        model = SparkModelFolder(staged, None if staged is not None else str(save_model))
    return TrainResult(vectors, model, report)


def run_session(
    work: Callable[[Any], Any],
    *,
    session: Any = None,
    master: str = "local[*]",
    conf: Mapping[str, str] | Sequence[tuple[str, str]] = (),
    spark_log: bool = False,
    progress: Callable[[Any], None] | None = None,
) -> tuple[dict, float, Any]:
    """Run ``work(spark)`` on `session`, or on one started here (and stopped at the end).

    Sends :class:`SparkStarted` to `progress` once the session is up. Returns ``(info,
    session_seconds, work's value)``; `info` holds Spark's ``version``, ``master``, ``app_id``
    and ``parallelism``. Ctrl-C becomes :class:`TrainingInterrupted` (Spark jobs cancelled).
    """
    own = session is None
    spark = None
    t0 = time.perf_counter()
    try:
        spark = session if session is not None else start_session(master, conf, spark_log=spark_log)
        session_seconds = time.perf_counter() - t0
        sc = spark.sparkContext
        info = {
            "version": spark.version,
            "master": sc.master,
            "app_id": sc.applicationId,
            "parallelism": sc.defaultParallelism,
        }
        if progress is not None:
            progress(SparkStarted(**info, seconds=session_seconds))
        return info, session_seconds, work(spark)
    except KeyboardInterrupt as exc:
        if isinstance(exc, TrainingInterrupted):
            raise
        raise TrainingInterrupted("interrupted; Spark jobs cancelled, nothing written") from None
    finally:
        if own and spark is not None:
            try:
                spark.stop()
            except Exception:  # noqa: BLE001,S110 - the JVM may be gone already
                pass


def spark_record(
    info: dict,
    conf: Mapping[str, str] | Sequence[tuple[str, str]],
    params: TrainParams,
    max_sentence_length: int,
    **seconds: float,
) -> dict:
    """Return the sidecar's ``spark`` block: `info`, the conf, the timings, Word2Vec's parameters."""
    return {
        **info,
        "conf": dict(conf.items() if isinstance(conf, Mapping) else conf),
        **seconds,
        "word2vec": {
            "vectorSize": params.vector_size,
            "windowSize": params.window,
            "minCount": params.min_count,
            "maxIter": params.epochs,
            "stepSize": params.alpha,
            "seed": params.seed,
            "numPartitions": params.workers,
            "maxSentenceLength": max_sentence_length,
        },
    }


def _run(
    spark: Any,
    source: str,
    name: str,
    params: TrainParams,
    max_sentence_length: int,
    save_model: str | os.PathLike | None,
    progress: Callable[[Any], None] | None,
) -> tuple:
    from pyspark.errors import AnalysisException
    from pyspark.sql import functions as F  # noqa: N812

    sc = spark.sparkContext
    group = f"embviz-train-{os.getpid()}-{time.monotonic_ns()}"
    try:
        lines = spark.read.text(source)
    except AnalysisException as exc:
        raise FormatError(f"{name}: {_java_message(exc)}") from None
    text = F.lower(F.col("value")) if params.lowercase else F.col("value")
    tokens = lines.select(F.array_remove(F.split(text, WHITESPACE), "").alias("tokens"))
    tracker = _Tracker(sc, group, progress, params.epochs, 0)
    t = time.perf_counter()

    def count() -> tuple:
        row = tokens.agg(
            F.count(F.when(F.size("tokens") > 0, 1)).alias("sentences"),
            F.coalesce(F.sum(F.size("tokens")), F.lit(0)).alias("words"),
        ).first()
        words = tokens.select(F.explode("tokens").alias("word")).groupBy("word").count()
        kept = words.filter(F.col("count") >= params.min_count).toArrow()
        top = None
        if kept.num_rows == 0 and row["words"]:
            top = words.agg(F.count("*").alias("n"), F.max("count").alias("top")).first()
        return int(row["sentences"]), int(row["words"]), kept, top

    try:
        sentences, words, kept, top = tracker.run(count)
    except AnalysisException as exc:
        raise FormatError(f"{name}: {_java_message(exc)}") from None
    except Exception as exc:  # noqa: BLE001 - Py4JJavaError: a failed job
        raise _job_failed(exc, name) from None
    count_seconds = time.perf_counter() - t
    if words == 0:
        raise FormatError(
            f"{name}: corpus has no words; expected whitespace-separated tokens"
        )
    if kept.num_rows == 0:
        raise FormatError(
            f"{name}: no word occurs at least min_count={params.min_count} times "
            f"(the most frequent of {top['n']:,} distinct words occurs {top['top']:,} times); "
            "lower min_count"
        )
    keys = kept.column("word").to_pylist()
    freq = kept.column("count").to_numpy()
    order = sorted(range(len(keys)), key=lambda i: (-int(freq[i]), keys[i]))
    keys = [keys[i] for i in order]
    if progress is not None:
        progress(TrainStart(params.epochs, words, sentences, len(keys)))

    vectors, train_seconds, collect_seconds, staged = fit_collect(
        spark, tokens, keys, words, params, max_sentence_length, save_model, tracker, name
    )
    stats = (sentences, words, len(keys), _corpus_bytes(spark, source))
    return (
        vectors, count_seconds, train_seconds, collect_seconds, stats, tracker.epoch_stats,
        staged,
    )


def fit_collect(
    spark: Any,
    tokens: Any,
    keys: list[str],
    words: int,
    params: TrainParams,
    max_sentence_length: int,
    save_model: str | os.PathLike | None,
    tracker: _Tracker,
    name: str,
) -> tuple:
    """Fit Spark's ``Word2Vec`` on `tokens` (a DataFrame with an array<string> column ``tokens``).

    `keys` is the vocabulary counted beforehand, in the order the vectors are returned; `words`
    the tokens of one epoch (for the epochs' words/s). Returns ``(vectors, train_seconds,
    collect_seconds, staged model folder or None)``.

    Raises
    ------
    SparkError
        A job failed, or Spark's vocabulary differs from `keys`.
    """
    import numpy as np
    from pyspark.ml.feature import Word2Vec
    from pyspark.ml.functions import vector_to_array

    from embviz.vectors import Vectors

    w2v = Word2Vec(
        vectorSize=params.vector_size,
        windowSize=params.window,
        minCount=params.min_count,
        maxIter=params.epochs,
        stepSize=params.alpha,
        seed=params.seed,
        numPartitions=params.workers,
        maxSentenceLength=max_sentence_length,
        inputCol="tokens",
        outputCol="vector",
    )
    tracker.words = words
    tracker.phase = "vocabulary"
    t = time.perf_counter()
    try:
        model = tracker.run(lambda: w2v.fit(tokens))
    except Exception as exc:  # noqa: BLE001 - Py4JJavaError
        raise _job_failed(exc, name) from None
    train_seconds = time.perf_counter() - t
    tracker.phase = "collecting"
    t = time.perf_counter()
    staged = None
    try:
        table = tracker.run(
            lambda: model.getVectors()
            .select("word", vector_to_array("vector", "float32").alias("vector"))
            .toArrow()
        )
        if save_model is not None:
            if _has_scheme(str(save_model)) and not str(save_model).startswith("file://"):
                tracker.run(lambda: model.write().overwrite().save(str(save_model)))
            else:
                target = Path(save_model)
                tmp = Path(tempfile.mkdtemp(prefix=".embviz-model-", dir=target.parent))
                staged = tmp / target.name
                tracker.run(lambda: model.save(str(staged)))
    except BaseException as exc:  # Ctrl-C included: never leave a staged folder behind
        if staged is not None:
            shutil.rmtree(staged.parent, ignore_errors=True)
        if not isinstance(exc, Exception):
            raise
        raise _job_failed(exc, name) from None
    collect_seconds = time.perf_counter() - t
    got = table.column("word").to_pylist()
    index = {k: i for i, k in enumerate(got)}
    if len(got) != len(keys) or any(k not in index for k in keys):
        if staged is not None:
            shutil.rmtree(staged.parent, ignore_errors=True)
        raise SparkError(
            f"Spark's vocabulary ({len(got):,} keys) differs from the counted one ({len(keys):,})"
        )
    flat = table.column("vector").combine_chunks().flatten().to_numpy(zero_copy_only=False)
    matrix = np.asarray(flat, dtype=np.float32).reshape(len(got), params.vector_size)
    matrix = matrix[np.fromiter((index[k] for k in keys), dtype=np.int64, count=len(keys))]
    vectors = Vectors(keys, matrix, source=Path(name).name or name)
    return vectors, train_seconds, collect_seconds, staged


def _job_failed(exc: BaseException, name: str) -> EmbvizError:
    if isinstance(exc, EmbvizError):
        return exc
    message = _java_message(exc)
    if "PATH_NOT_FOUND" in message or "does not exist" in message:
        return FormatError(f"{name}: {message}")
    return SparkError(f"Spark job failed: {message}")
