"""Evaluation: analogy accuracy (3CosAdd, 3CosMul), word-pair correlation, next-item accuracy.

Two standard intrinsic benchmarks, with the numbers of the reference implementation, gensim
``KeyedVectors.evaluate_word_analogies`` and ``evaluate_word_pairs``, and one for item vectors:

- :mod:`~embviz.evaluate.analogies`: the Google analogy set (Mikolov et al., 2013), answered
  by 3CosAdd or 3CosMul (Levy & Goldberg, 2014) in batched matrix products.
- :mod:`~embviz.evaluate.pairs`: Pearson and Spearman correlation on WordSim-353 and
  SimLex-999.
- :mod:`~embviz.evaluate.next_item`: :func:`next_item`, leave-last-out or time-split next-item
  HR@k, MRR@k and NDCG@k over the full catalogue, with bootstrap intervals, coverage, Gini and
  long-tail share, against popularity and co-occurrence baselines.
- :mod:`~embviz.evaluate.data`: the data files (gensim's shipped copies) and their readers;
  :mod:`~embviz.evaluate.reports`: the result records.

Nothing here prints, exits or reads stdin.
"""

from __future__ import annotations

from embviz.evaluate.analogies import evaluate_analogies, write_errors
from embviz.evaluate.data import (
    DEFAULT_RESTRICT,
    GENSIM_PAIRS,
    GENSIM_QUESTIONS,
    Question,
    default_pair_files,
    gensim_data,
    read_pairs,
    read_questions,
)
from embviz.evaluate.next_item import BASELINES, check_baselines, next_item
from embviz.evaluate.pairs import evaluate_pair_sets, evaluate_word_pairs
from embviz.evaluate.reports import (
    AnalogyMiss,
    AnalogyReport,
    DecileScore,
    NextItemReport,
    NextItemScore,
    PairsReport,
    SectionScore,
)

__all__ = [
    "BASELINES",
    "DEFAULT_RESTRICT",
    "GENSIM_PAIRS",
    "GENSIM_QUESTIONS",
    "AnalogyMiss",
    "AnalogyReport",
    "DecileScore",
    "NextItemReport",
    "NextItemScore",
    "PairsReport",
    "Question",
    "SectionScore",
    "check_baselines",
    "default_pair_files",
    "evaluate_analogies",
    "evaluate_pair_sets",
    "evaluate_word_pairs",
    "gensim_data",
    "next_item",
    "read_pairs",
    "read_questions",
    "write_errors",
]
