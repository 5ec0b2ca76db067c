"""gensim ``KeyedVectors`` and embviz ``Vectors``: conversion both ways, and gensim's methods on ``Vectors``.

Importing this module (``import embviz`` does) attaches to :class:`~embviz.vectors.Vectors`:

- ``to_keyed_vectors()`` and the classmethod ``Vectors.from_keyed_vectors(kv)``, defined here;
- gensim's query methods ``most_similar``, ``most_similar_cosmul``, ``similar_by_vector``,
  ``similar_by_key``, ``similar_by_word``, ``doesnt_match``, ``n_similarity``,
  ``similarity`` and ``distance``, defined in :mod:`embviz.search.similar`. That module (and
  the kernel under it) is imported the first time one of them is looked up, when the
  attribute replaces itself by the function: ``import embviz`` stays light for the command
  line, and ``help(Vectors.most_similar)`` shows the function's own docstring.

They are attached here, not written in ``vectors.py``, because of the layering
(docs/architecture.md): ``vectors`` is the lowest layer, and import-linter forbids it to import
``embviz.search`` or gensim, even inside a function. This module sits in the middle layer, which
may import both; ``Vectors`` names them for type checkers only (``if TYPE_CHECKING``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from embviz.errors import FormatError, require
from embviz.vectors import Vectors

if TYPE_CHECKING:
    from gensim.models import KeyedVectors


def to_keyed_vectors(vectors: Vectors, *, copy: bool = False) -> KeyedVectors:
    """Return a gensim ``KeyedVectors`` of the same keys and rows, sharing the matrix.

    ``kv.vectors`` is ``vectors.matrix`` itself when that is a C-contiguous float32 array (a
    memory-mapped cache entry included): no copy, ``np.shares_memory`` holds, and the array
    stays read-only, so gensim's in-place changes (``kv.vectors[i] = ...``,
    ``unit_normalize_all()``) raise ``ValueError: assignment destination is read-only``.
    Other tables (float16, rows read in place from their file) are converted to float32.
    ``kv.index_to_key`` is a new list of the keys and ``kv.key_to_index`` a new dict, so
    gensim's ``add_vectors`` leaves `vectors` unchanged.

    Parameters
    ----------
    vectors : Vectors
    copy : bool
        Give gensim its own writeable float32 copy of the matrix instead.

    Returns
    -------
    gensim.models.KeyedVectors
        ``vector_size == vectors.dim``; ``kv.most_similar`` gives the answers of
        ``vectors.most_similar``.

    Raises
    ------
    MissingDependency
        If gensim is not installed (the message says ``pip install gensim``).
    """
    require("gensim", package="gensim")
    from gensim.models import KeyedVectors

    matrix = vectors.matrix
    shareable = isinstance(matrix, np.ndarray) and matrix.dtype == np.float32 and matrix.flags.c_contiguous
    if copy or not shareable:
        matrix = np.array(matrix, dtype=np.float32, order="C")
    keys = list(vectors.keys)
    kv = KeyedVectors(vectors.dim, count=0, dtype=np.float32)
    kv.vectors = matrix
    kv.index_to_key = keys
    built = vectors.__dict__.get("key_to_index")  # the id map, if it was built already
    kv.key_to_index = dict(built) if built is not None else {k: i for i, k in enumerate(keys)}
    kv.next_index = len(keys)
    return kv


def from_keyed_vectors(cls: type[Vectors], kv: Any, *, copy: bool = False) -> Vectors:
    """Return a ``Vectors`` of a gensim ``KeyedVectors`` (``model.wv``), sharing ``kv.vectors``.

    The keys are ``kv.index_to_key`` in row order (int keys, as Doc2Vec tags, become their
    ``str``). When ``kv.vectors`` is C-contiguous float32 (or float16), ``matrix`` is a
    read-only view of it, without a copy (``np.shares_memory`` holds). gensim still owns
    that memory: a later in-place change (more training, ``kv.vectors[i] = ...``) shows in
    ``matrix`` but not in the unit rows and norms already computed; pass ``copy=True`` to
    keep a snapshot. Any other dtype or layout is copied to float32. gensim itself is not
    imported: any object with ``index_to_key`` and ``vectors`` works (a FastText model's
    ``wv`` gives its word vectors, without the subwords).

    Parameters
    ----------
    kv : gensim.models.KeyedVectors
        ``kv.vectors`` ``(n, dim)``, ``kv.index_to_key`` ``n`` unique keys.
    copy : bool
        Copy the matrix instead of sharing it.

    Returns
    -------
    Vectors

    Raises
    ------
    FormatError
        If ``kv.vectors`` is not 2-D with one row per key, a row has no key (a
        ``KeyedVectors(count=n)`` not filled), or two keys are equal.
    """
    keys = list(kv.index_to_key)
    matrix = np.asarray(kv.vectors)
    if matrix.ndim != 2 or matrix.shape[0] != len(keys):
        raise FormatError(
            f"the KeyedVectors' vectors of shape {matrix.shape} do not fit its {len(keys):,} keys"
        )
    named = all(isinstance(k, str) for k in keys)
    if not named:
        empty = next((i for i, k in enumerate(keys) if k is None), None)
        if empty is not None:
            raise FormatError(f"row {empty:,} of the KeyedVectors has no key (allocated with "
                              "count= but not filled); only rows with keys can be converted")
        keys = [str(k) for k in keys]
    if copy:
        matrix = np.array(matrix, dtype=np.float32, order="C")
    elif matrix.dtype in (np.float32, np.float16) and matrix.flags.c_contiguous:
        matrix = matrix.view()  # shares gensim's memory; Vectors keeps it read-only
        matrix.flags.writeable = False
    index = getattr(kv, "key_to_index", None)
    key_to_index = dict(index) if named and isinstance(index, dict) and len(index) == len(keys) else None
    return cls(keys, matrix, key_to_index=key_to_index)


#: gensim's methods defined in :mod:`embviz.search.similar` (its ``METHODS``; a test checks).
METHODS = (
    "most_similar", "most_similar_cosmul", "similar_by_vector", "similar_by_key",
    "similar_by_word", "doesnt_match", "n_similarity", "similarity", "distance",
)


class _FromSimilar:
    """A ``Vectors`` attribute that imports :mod:`embviz.search.similar` when first looked up.

    It then puts the real function on the class in its place, so later lookups cost nothing.
    """

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    def __get__(self, obj: Any, owner: type | None = None) -> Any:
        from embviz.search import similar

        func = getattr(similar, self.name)
        setattr(Vectors, self.name, func)
        return func if obj is None else func.__get__(obj, owner)


def _attach() -> None:
    """Make the functions above and those of :mod:`embviz.search.similar` methods of ``Vectors``."""
    for name in METHODS:
        if not callable(Vectors.__dict__.get(name)):  # not yet replaced by the function itself
            attr = _FromSimilar()
            attr.__set_name__(Vectors, name)
            setattr(Vectors, name, attr)
    Vectors.to_keyed_vectors = to_keyed_vectors  # type: ignore[method-assign]
    Vectors.from_keyed_vectors = classmethod(from_keyed_vectors)  # type: ignore[assignment]


_attach()
