"""Which rows to draw: the most frequent keys, given keys, a seeded sample, keys around queries.

:func:`select` chooses rows (``top``, ``keys``, ``sample``, ``around`` and any mix of them) and
says how many of how many; the projection and the figure then work on those rows only.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Sequence

import numpy as np

from embviz.errors import InvalidQuery, warn

if TYPE_CHECKING:
    from numpy.typing import NDArray

    from embviz.vectors import Vectors

#: Default number of points when no selection is given: the 5,000 most frequent keys.
DEFAULT_TOP = 5_000


@dataclass(frozen=True)
class Selection:
    """Rows chosen for a projection.

    Attributes
    ----------
    ids : ndarray ``(m,)`` int64
        Row ids into the vectors, ascending (frequency order), unique.
    total : int
        Rows in the vectors the selection was drawn from (``M`` of "m of M points").
    description : str
        What was asked, e.g. ``"top 5,000 + around 'king' (k=10)"``.
    groups : dict of str to ndarray
        Named groups for colouring (``"around king"`` -> row ids), possibly empty.
    """

    ids: NDArray[np.int64]
    total: int
    description: str
    groups: dict = field(default_factory=dict)

    @property
    def count(self) -> int:
        """Number of selected points, ``m``."""
        return int(len(self.ids))

    def summary(self) -> str:
        """``"5,000 of 40,000 points (top 5,000)"``."""
        return f"{self.count:,} of {self.total:,} points ({self.description})"


def select(
    vectors: Vectors,
    *,
    top: int | None = None,
    keys: Sequence[str] | None = None,
    sample: int | None = None,
    around: Sequence[str] | None = None,
    k: int = 10,
    seed: int | None = None,
    skip_missing: bool = True,
) -> Selection:
    """Choose the rows to project: the union of every criterion given.

    Parameters
    ----------
    vectors : Vectors
    top : int, optional
        The first `top` keys (file order is frequency order). When no criterion is given,
        ``top=5000`` (or every key if there are fewer).
    keys : sequence of str, optional
        Explicit keys (e.g. the lines of a ``--keys`` file).
    sample : int, optional
        `sample` keys drawn uniformly at random without replacement, reproducibly from `seed`.
    around : sequence of str, optional
        Keys or expressions whose `k` cosine neighbors are selected, with the keys themselves.
    k : int
        Neighbors per `around` query, >= 1.
    seed : int, optional
        Seed of `sample`; None draws a different sample each time.
    skip_missing : bool
        Skip `keys` not in the vocabulary with one warning (default); else raise.

    Returns
    -------
    Selection
        Unique ids in ascending order (most frequent first).

    Raises
    ------
    InvalidQuery
        If a count is < 1, or the selection is empty.
    KeyNotFound
        If an `around` key (or, with ``skip_missing=False``, a `keys` entry) is unknown.
    """
    from embviz import search

    n = vectors.count
    parts: list[NDArray[np.int64]] = []
    desc: list[str] = []
    groups: dict[str, NDArray[np.int64]] = {}
    for name, value in (("top", top), ("sample", sample)):
        if value is not None and value < 1:
            raise InvalidQuery(f"--{name} must be at least 1, got {value}")
    if k < 1:
        raise InvalidQuery(f"k must be at least 1, got {k}")
    if top is None and not keys and sample is None and not around:
        top = DEFAULT_TOP
    if top is not None:
        parts.append(np.arange(min(top, n), dtype=np.int64))
        desc.append(f"top {top:,}")
    if keys:
        known = [key for key in keys if key in vectors.key_to_index]
        missing = [key for key in keys if key not in vectors.key_to_index]
        if missing and not skip_missing:
            vectors.get_index(missing[0])
        if missing:
            shown = ", ".join(repr(m) for m in missing[:3]) + (", ..." if len(missing) > 3 else "")
            warn(f"skipped {len(missing):,} of {len(keys):,} keys not in the vocabulary: {shown}")
        ids = vectors.indices(known) if known else np.empty(0, dtype=np.int64)
        parts.append(ids)
        desc.append(f"{len(set(known)):,} keys")
    if sample is not None:
        rng = np.random.default_rng(seed)
        parts.append(np.sort(rng.choice(n, size=min(sample, n), replace=False)).astype(np.int64))
        desc.append(f"sample {sample:,}" + (f" with seed {seed}" if seed is not None else ""))
    for text in around or ():
        e = search.as_expression(vectors, text)
        own = vectors.indices(list(e.keys))
        rows = search.neighbors(vectors, [text], k=k)
        ids = np.concatenate(
            [own, np.array([vectors.key_to_index[r.key] for r in rows], dtype=np.int64)]
        )
        parts.append(ids)
        groups[f"around {text}"] = ids
        desc.append(f"around {text!r} (k={k})")
    ids = np.unique(np.concatenate(parts)) if parts else np.empty(0, dtype=np.int64)
    if len(ids) == 0:
        raise InvalidQuery("the selection is empty: no key matched; check --keys/--top/--sample")
    return Selection(ids.astype(np.int64), n, " + ".join(desc), groups)


