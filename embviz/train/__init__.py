"""Train word2vec: skip-gram or CBOW, negative sampling or hierarchical softmax (gensim engine).

word2vec (Mikolov et al. 2013a, 2013b) learns the rows of an embedding lookup table by
predicting context words from a centre word (skip-gram) or a centre word from the average of
its context (CBOW). gensim's :class:`~gensim.models.word2vec.Word2Vec` does the training.

- :mod:`~embviz.train.params`: :class:`TrainParams` (validated before any work) and the
  progress and report records.
- :mod:`~embviz.train.corpus`: the corpus (file, folder, compressed), fingerprinted and spooled.
- :mod:`~embviz.train.engine_gensim`: :func:`train`, the run itself (reproducibility notes).
- :mod:`~embviz.train.engine_spark`: :func:`train_spark`, the same run on Apache Spark ML
  (skip-gram with hierarchical softmax; local mode or a cluster).
- :mod:`~embviz.train.outputs`: vectors, model and JSON sidecar, written atomically; ``--eval``.
- :mod:`~embviz.train.sequences` and :mod:`~embviz.train.item2vec`: item2vec (Barkan &
  Koenigstein 2016), the same training on users' item sequences from an interaction log;
  :mod:`~embviz.train.item2vec_spark`: :func:`train_item2vec_spark`, item2vec on Spark (Spark
  reads the log and builds the sequences).

Nothing here prints, exits or reads the environment; errors are
:class:`~embviz.errors.EmbvizError` subclasses with a one-line message.
"""

from __future__ import annotations

from embviz.errors import InvalidQuery
from embviz.train.engine_gensim import train
from embviz.train.engine_spark import SparkError, SparkModelFolder, SparkStarted, SparkTasks
from embviz.train.engine_spark import train as train_spark
from embviz.train.item2vec import item2vec_params, train_item2vec
from embviz.train.item2vec_spark import train_item2vec_spark
from embviz.train.outputs import check_output, evaluate, save_model, sidecar_path, write
from embviz.train.params import (
    EpochStats,
    TrainingInterrupted,
    TrainParams,
    TrainReport,
    TrainResult,
    TrainStart,
    default_workers,
)

__all__ = [
    "EpochStats",
    "InvalidQuery",
    "SparkError",
    "SparkModelFolder",
    "SparkStarted",
    "SparkTasks",
    "TrainParams",
    "TrainReport",
    "TrainResult",
    "TrainStart",
    "TrainingInterrupted",
    "check_output",
    "default_workers",
    "evaluate",
    "item2vec_params",
    "save_model",
    "sidecar_path",
    "train",
    "train_item2vec",
    "train_item2vec_spark",
    "train_spark",
    "write",
]
