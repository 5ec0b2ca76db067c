"""embviz: explore and visualize embeddings.

The library under the ``embviz`` command::

    from embviz import load, neighbors, analogy
    v = load("glove.6B.50d.txt")            # Vectors: keys, key_to_index, matrix (n, dim) float32
    neighbors(v, "king", k=5)               # [Neighbor(query='king', rank=1, key='prince', ...)]
    analogy(v, ("man", "king", "woman"))    # 3CosAdd: queen

    items = load("items.parquet")           # recommenders: an item table, users' histories
    recommend(items, history=read_histories("ratings.parquet", items.keys), k=10, exclude_seen=True)

Importing embviz imports numpy only; the public functions are imported when first used, and
heavy libraries load inside the functions that need them.
"""

from __future__ import annotations

import importlib
import importlib.util
from typing import TYPE_CHECKING, Any

from embviz import gensim_interop as _gensim_interop  # noqa: F401 - attaches gensim's methods to Vectors
from embviz._version import __version__
from embviz.errors import EmbvizError, FormatError, InvalidQuery, KeyNotFound
from embviz.vectors import Vectors

if TYPE_CHECKING:
    from embviz.evaluate import evaluate_analogies, evaluate_word_pairs
    from embviz.io import load, save, sniff
    from embviz.io.interactions import read_histories
    from embviz.io.sample import sample_path
    from embviz.search import analogy, lookup, neighbors, recommend, similarity
    from embviz.viz import project
    from embviz.viz.notebook import plot

#: The public functions, by the module that defines them: imported when first looked up
#: (PEP 562), so ``import embviz`` (and the command line under it) loads only numpy and the
#: lookup table, and each command imports the parts it uses.
_LAZY = {
    "evaluate_analogies": "embviz.evaluate", "evaluate_word_pairs": "embviz.evaluate",
    "load": "embviz.io", "save": "embviz.io", "sniff": "embviz.io",
    "read_histories": "embviz.io.interactions", "sample_path": "embviz.io.sample",
    "analogy": "embviz.search", "lookup": "embviz.search", "neighbors": "embviz.search",
    "recommend": "embviz.search", "similarity": "embviz.search",
    "project": "embviz.viz", "plot": "embviz.viz.notebook",
}


def __getattr__(name: str) -> Any:
    """Import a public function or a subpackage on first use (``embviz.load``, ``embviz.io.load``)."""
    module = _LAZY.get(name)
    if module is None:
        # a subpackage (embviz.io, embviz.search, ...): importing it binds it here
        if not name.startswith("_") and importlib.util.find_spec(f"{__name__}.{name}") is not None:
            return importlib.import_module(f"{__name__}.{name}")
        raise AttributeError(f"module 'embviz' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


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
    "plot",
    "project",
    "read_histories",
    "recommend",
    "sample_path",
    "save",
    "similarity",
    "sniff",
]
