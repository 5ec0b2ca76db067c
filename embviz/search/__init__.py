"""Queries over a lookup table: one scoring kernel, the queries built on it, and the grammar.

- :mod:`~embviz.search.kernel`: ``top_k`` and the scorers (cosine, 3CosMul), shared by all.
- :mod:`~embviz.search.queries`: ``neighbors``, ``analogy``, ``similarity``, ``lookup``,
  ``analogy_ids``; frozen dataclasses out, nothing printed.
- :mod:`~embviz.search.bound`: exact answers to large analogy batches by branch and bound.
- :mod:`~embviz.search.expr`: the expression grammar (``"king - man + woman"``).
"""

from __future__ import annotations

from embviz.search.kernel import COSMUL_EPSILON, cosadd_queries, top_k
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

__all__ = [
    "COSMUL_EPSILON",
    "Analogy",
    "Lookup",
    "Method",
    "Neighbor",
    "Similarity",
    "analogy",
    "analogy_ids",
    "as_expression",
    "cosadd_queries",
    "expression_vector",
    "lookup",
    "neighbors",
    "similarity",
    "top_k",
]
