"""embviz: explore and visualize embeddings.

The library under the ``embviz`` command::

    from embviz import load, neighbors, analogy
    v = load("glove.6B.50d.txt")            # Vectors: keys, key_to_index, matrix (n, dim) float32
    neighbors(v, "king", k=5)               # [Neighbor(query='king', rank=1, key='prince', ...)]
    analogy(v, ("man", "king", "woman"))    # 3CosAdd: queen

Importing embviz imports numpy only; heavy libraries load inside the functions that need them.
"""

from __future__ import annotations

from embviz._version import __version__
from embviz.errors import EmbvizError, FormatError, InvalidQuery, KeyNotFound
from embviz.evaluate import evaluate_analogies, evaluate_word_pairs
from embviz.io import load, save, sniff
from embviz.io.sample import sample_path
from embviz.search import analogy, lookup, neighbors, similarity
from embviz.vectors import Vectors
from embviz.viz import project

__all__ = [
    "EmbvizError",
    "FormatError",
    "InvalidQuery",
    "KeyNotFound",
    "Vectors",
    "__version__",
    "analogy",
    "evaluate_analogies",
    "evaluate_word_pairs",
    "load",
    "lookup",
    "neighbors",
    "project",
    "sample_path",
    "save",
    "similarity",
    "sniff",
]
