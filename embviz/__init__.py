"""embviz: explore and visualize embeddings.

The library under the ``embviz`` command::

    from embviz import load, neighbors, analogy
    v = load("glove.6B.50d.txt")            # Vectors: keys, key_to_index, matrix (n, dim) float32
    neighbors(v, "king", k=5)               # [Neighbor(query='king', rank=1, key='prince', ...)]
    analogy(v, ("man", "king", "woman"))    # 3CosAdd: queen

    items = load("items.parquet")           # recommenders: an item table, users' histories
    recommend(items, history=read_histories("ratings.parquet", items.keys), k=10, exclude_seen=True)

Importing embviz imports numpy only; heavy libraries load inside the functions that need them.
"""

from __future__ import annotations

from embviz import gensim_interop as _gensim_interop  # noqa: F401 - attaches gensim's methods to Vectors
from embviz._version import __version__
from embviz.errors import EmbvizError, FormatError, InvalidQuery, KeyNotFound
from embviz.evaluate import evaluate_analogies, evaluate_word_pairs
from embviz.io import load, save, sniff
from embviz.io.interactions import read_histories
from embviz.io.sample import sample_path
from embviz.search import analogy, lookup, neighbors, recommend, similarity
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
    "read_histories",
    "recommend",
    "sample_path",
    "save",
    "similarity",
    "sniff",
]
