"""Colourings of the points: k-means clusters, a metadata column, highlight groups."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Sequence

import numpy as np

from embviz.errors import FormatError, InvalidQuery

#: Categorical colourings keep this many most common values as legend entries; the rest are "other".
MAX_CATEGORIES = 24

if TYPE_CHECKING:
    from numpy.typing import NDArray


def kmeans(unit: NDArray[np.float32], k: int, seed: int = 0) -> NDArray[np.int32]:
    """Cluster unit rows ``(m, dim)`` into `k` groups with k-means (scikit-learn).

    ``MiniBatchKMeans`` above 20,000 points; cluster labels ``(m,)`` int32 in ``[0, k)``,
    numbered by decreasing size.

    Raises
    ------
    InvalidQuery
        If ``k < 1`` or ``k > m``.
    """
    from embviz.errors import require

    m = len(unit)
    if not 1 <= k <= m:
        raise InvalidQuery(
            f"--clusters must be between 1 and the number of points ({m:,}), got {k}"
        )
    cluster = require("sklearn.cluster", package="scikit-learn")
    if m > 20_000:
        model = cluster.MiniBatchKMeans(n_clusters=k, random_state=seed, n_init=3, batch_size=4096)
    else:
        model = cluster.KMeans(n_clusters=k, random_state=seed, n_init=3)
    labels = model.fit_predict(np.asarray(unit, dtype=np.float32))
    order = np.argsort(-np.bincount(labels, minlength=k), kind="stable")
    remap = np.empty(k, dtype=np.int32)
    remap[order] = np.arange(k, dtype=np.int32)
    return remap[labels]


def read_metadata(path: str | os.PathLike, column: str, keys: Sequence[str]) -> list[str | None]:
    """Read one column of a metadata TSV for `keys`.

    The file has a header row; the key column is the one named ``key`` (or ``word``, else the
    first column). Values are returned as text; keys absent from the file get None.

    Parameters
    ----------
    path : path-like
        Tab-separated, UTF-8, with a header row.
    column : str
        The column to read.
    keys : sequence of str
        The plotted keys, ``(m,)``.

    Returns
    -------
    list of str or None, ``(m,)``

    Raises
    ------
    FormatError
        If the file is missing, has no header, or has no column `column`.
    """
    path = Path(path)
    try:
        with open(path, encoding="utf-8", errors="replace", newline="") as f:
            lines = f.read().splitlines()
    except OSError as exc:
        raise FormatError(f"{path}: cannot read the metadata file: {exc.strerror or exc}") from None
    if not lines:
        raise FormatError(
            f"{path}: the metadata file is empty; expected a header row of column names"
        )
    header = lines[0].split("\t")
    if column not in header:
        raise FormatError(f"{path}: no column {column!r}; columns are {', '.join(header)}")
    key_col = next((header.index(c) for c in ("key", "word", "token") if c in header), 0)
    col = header.index(column)
    values: dict[str, str] = {}
    for line in lines[1:]:
        parts = line.split("\t")
        if len(parts) > max(key_col, col):
            values.setdefault(parts[key_col], parts[col])
    return [values.get(k) for k in keys]


@dataclass(frozen=True)
class Coloring:
    """Point colours: categorical ``labels`` (legend entries) or numeric ``values`` (colour bar).

    Attributes
    ----------
    title : str
        Legend or colour-bar title (plain text; escaped when drawn).
    labels : list of str or None, optional
        ``(m,)`` category per point (None: uncoloured).
    values : ndarray ``(m,)`` float32, optional
        Numeric value per point (NaN: missing).
    tagged : bool
        The categories are metadata tags: tagged points are drawn larger than untagged ones.
    """

    title: str
    labels: list | None = None
    values: NDArray[np.float32] | None = None
    tagged: bool = False

    @staticmethod
    def from_values(title: str, values: Sequence[str | None]) -> Coloring:
        """Numeric colouring if every present value is a number, else categorical."""
        present = [v for v in values if v not in (None, "")]
        try:
            nums = [float(v) for v in present]
            numeric = len(present) > 0 and len(set(nums)) > MAX_CATEGORIES
        except ValueError:
            numeric = False
        if numeric:
            arr = np.array(
                [float(v) if v not in (None, "") else np.nan for v in values], dtype=np.float32
            )
            return Coloring(title, values=arr)
        return Coloring(
            title, labels=[v if v not in (None, "") else None for v in values], tagged=True
        )

    @staticmethod
    def from_column(title: str, values: Sequence[str | None], sep: str = "|") -> Coloring:
        """Colour by a metadata column: numeric if every value is a number, else by category.

        Parameters
        ----------
        title : str
            The column's name (legend or colour-bar title).
        values : sequence of str or None
            The column's value for each drawn point, ``(m,)``, as :meth:`Meta.align
            <embviz.io.meta.Meta.align>` returns them (None or ``""``: no value).
        sep : str
            Separator of multi-valued cells (``"Animation|Comedy"``).

        Returns
        -------
        Coloring
            Numeric (``values`` float32 ``(m,)``, NaN where missing; a colour bar) when every
            present value parses as a float (``float()``: ``1995``, ``3.5``, ``1e-3``; a value
            ``nan`` or ``inf`` counts as missing) and at least one is finite. Otherwise
            categorical and tagged: each point's category is the first of its
            `sep`-separated values (``Animation|Comedy`` is ``Animation``), so every point is
            in exactly one legend entry; the title then says ``(first value)``.

        Raises
        ------
        InvalidQuery
            If `sep` is empty.
        """
        from embviz.io.meta import split_values

        if not sep:
            raise InvalidQuery("--color-sep must not be empty (the separator of multi-valued cells)")
        cells = [None if v is None or not str(v).strip() else str(v) for v in values]
        present = [v for v in cells if v is not None]
        if present:
            try:
                nums = np.asarray(present, dtype=object).astype(np.float64)
            except (TypeError, ValueError):
                nums = None
            if nums is not None and np.isfinite(nums).any():
                arr = np.full(len(cells), np.nan, dtype=np.float64)
                arr[[i for i, v in enumerate(cells) if v is not None]] = nums
                arr[~np.isfinite(arr)] = np.nan
                return Coloring(title, values=arr.astype(np.float32))
        multi = any(sep in v for v in present)
        if not multi:
            return Coloring(title, labels=[None if v is None else v.strip() for v in cells], tagged=True)
        firsts = []
        for v in cells:
            parts = split_values(v, sep)
            firsts.append(parts[0] if parts else None)
        return Coloring(f"{title} (first value)", labels=firsts, tagged=True)


def cluster_names(
    clusters: NDArray[np.integer], ids: NDArray[np.integer], keys: Sequence[str], top: int = 3
) -> list[str]:
    """Name each point's cluster by the cluster's `top` most frequent keys.

    Parameters
    ----------
    clusters : ndarray ``(m,)`` int
        Cluster label per point, ``0 .. c-1`` (as :func:`kmeans` numbers them).
    ids : ndarray ``(m,)`` int
        Row ids of the points (lower id = more frequent).
    keys : sequence of str ``(m,)``
        The points' keys.
    top : int
        Keys per name.

    Returns
    -------
    list of str ``(m,)``
        ``"cluster 3: he, his, him"`` (cluster numbers 1-based), one per point.
    """
    clusters = np.asarray(clusters)
    order = np.argsort(np.asarray(ids), kind="stable")
    names: dict[int, list[str]] = {}
    for j in order.tolist():
        c = int(clusters[j])
        got = names.setdefault(c, [])
        if len(got) < top:
            got.append(keys[j])
    label = {c: f"cluster {c + 1}: {', '.join(got)}" for c, got in names.items()}
    return [label[int(c)] for c in clusters.tolist()]


