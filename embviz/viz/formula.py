"""Formula axes: points placed by their cosine similarity to expression vectors.

As Parallax does (Molino, Wang and Zhang 2019, "Parallax: Visualizing and understanding the
semantics of embedding spaces via algebraic formulae"), with the safe grammar of
:mod:`embviz.search.expr`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Sequence

import numpy as np

from embviz.errors import InvalidQuery

if TYPE_CHECKING:
    from numpy.typing import NDArray

    from embviz.vectors import Vectors
    from embviz.viz.projection import Projection

def formula_coords(
    vectors: Vectors, ids: NDArray[np.int64], formulas: Sequence[str]
) -> NDArray[np.float32]:
    """Place points by cosine similarity to formula vectors (Parallax, Molino et al. 2019).

    Parameters
    ----------
    vectors : Vectors
    ids : ndarray ``(m,)`` int64
        Rows to place.
    formulas : sequence of 2 or 3 str
        Keys or expressions (``"man - woman"``), parsed by the safe grammar, never ``eval``.

    Returns
    -------
    ndarray ``(m, len(formulas))`` float32
        Column j is the cosine similarity of each row to formula j, in [-1, 1].

    Raises
    ------
    KeyNotFound
        If a formula names a key not in the vocabulary.
    InvalidQuery
        If a formula does not parse or its vector is all zeros.
    """
    from embviz import search

    cols = []
    for text in formulas:
        q = search.expression_vector(vectors, text)
        norm = float(np.linalg.norm(q))
        if norm == 0:
            raise InvalidQuery(f"the vector of formula {text!r} is all zeros; it cannot be an axis")
        unit = np.asarray(vectors.unit[ids], dtype=np.float32)
        cols.append(unit @ (q / norm).astype(np.float32))
    return np.stack(cols, axis=1).astype(np.float32)



def formula_projection(
    vectors: Vectors, ids: NDArray[np.int64], formulas: Sequence[str]
) -> Projection:
    """Return a :class:`~embviz.viz.projection.Projection` whose axes are formulas (`formula_coords`)."""
    from embviz.viz.projection import Projection
    from embviz.viz.trust import neighbor_recall

    ids = np.asarray(ids, dtype=np.int64)
    coords = formula_coords(vectors, ids, formulas)
    keys = tuple(vectors.keys[i] for i in ids.tolist())
    unit = np.ascontiguousarray(vectors.unit[ids], dtype=np.float32)
    recall = neighbor_recall(unit, coords, k=10) if len(ids) > 1 else None
    return Projection(coords, ids, keys, "formula", {"axes": list(formulas)}, 0, recall)
