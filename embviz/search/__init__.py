"""Queries over a lookup table: one scoring kernel, the queries built on it, and the grammar.

- :mod:`~embviz.search.kernel`: ``top_k`` and the scorers (cosine, 3CosMul), shared by all.
  The scorers live in :mod:`~embviz.search.scorers`, the exact top-k selection in
  :mod:`~embviz.search.selection`; the kernel re-exports both.
- :mod:`~embviz.search.queries`: ``neighbors``, ``analogy``, ``similarity``, ``lookup``,
  ``analogy_ids``; frozen dataclasses out, nothing printed.
- :mod:`~embviz.search.query_vectors`: the query vectors (keys, expressions, vector queries,
  fastText subword vectors for keys outside the table).
- :mod:`~embviz.search.similar`: gensim's ``KeyedVectors`` calls (``most_similar`` ...),
  attached to ``Vectors`` by :mod:`embviz.gensim_interop`.
- :mod:`~embviz.search.index`: approximate search through FAISS (``index_build``,
  ``index_files``, ``index_queries``).
- :mod:`~embviz.search.bound`: exact answers to large analogy batches by branch and bound.
- :mod:`~embviz.search.expr`: the expression grammar (``"king - man + woman"``).
- :mod:`~embviz.search.metric`: ``top_k_by``, scores by cosine similarity, dot product or
  negative euclidean distance.
- :mod:`~embviz.search.recommender`: ``recommend`` (user -> item top-k, exclusions) and the
  block-streaming array functions behind ``embviz recommend`` and ``neighbors --all``.
"""

from __future__ import annotations

from embviz.search.kernel import COSMUL_EPSILON, cosadd_queries, top_k
from embviz.search.metric import METRICS, top_k_by
from embviz.search.queries import (
    Analogy,
    Lookup,
    Method,
    Neighbor,
    Similarity,
    analogy,
    analogy_ids,
    as_expression,
    expression_vector,
    lookup,
    neighbors,
    similarity,
)
from embviz.search.recommender import Recommendation, recommend

__all__ = [
    "COSMUL_EPSILON",
    "METRICS",
    "Analogy",
    "Lookup",
    "Method",
    "Neighbor",
    "Recommendation",
    "Similarity",
    "analogy",
    "analogy_ids",
    "as_expression",
    "cosadd_queries",
    "expression_vector",
    "lookup",
    "neighbors",
    "recommend",
    "similarity",
    "top_k",
    "top_k_by",
]
