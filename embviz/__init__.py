"""embviz: explore and visualize embeddings.

The library under the ``embviz`` command::

    from embviz import load, neighbors, analogy
    v = load("glove.6B.50d.txt")            # Vectors: keys, key_to_index, matrix (n, dim) float32
    neighbors(v, "king", k=5)               # [Neighbor(query='king', rank=1, key='prince', ...)]
    analogy(v, ("man", "king", "woman"))    # 3CosAdd: queen

Importing embviz imports numpy only; heavy libraries load inside the functions that need them.
"""

from __future__ import annotations

__version__ = "0.1.0"

from embviz.errors import EmbvizError, FormatError, InvalidQuery, KeyNotFound  # noqa: E402
from embviz.evaluate import evaluate_analogies, evaluate_word_pairs  # noqa: E402
from embviz.formats import load, save, sniff  # noqa: E402
from embviz.query import analogy, neighbors, similarity  # noqa: E402
from embviz.sample import sample_path  # noqa: E402
from embviz.vectors import Vectors  # noqa: E402

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
    "neighbors",
    "sample_path",
    "save",
    "similarity",
    "sniff",
]
