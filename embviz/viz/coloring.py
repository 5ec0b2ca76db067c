"""Colourings of the points: k-means clusters, a metadata column, highlight groups."""

from __future__ import annotations

import os
from dataclasses import dataclass
from itertools import islice
from pathlib import Path
from typing import TYPE_CHECKING, Sequence

import numpy as np

from embviz.errors import FormatError, InvalidQuery

#: Categorical colourings keep this many most common values as legend entries; the rest are "other".
MAX_CATEGORIES = 24
#: The categories' colours, most common category first (plotly's category10, then more).
PALETTE = (
    "#1f77b4 #ff7f0e #2ca02c #d62728 #9467bd #8c564b #e377c2 #7f7f7f #bcbd22 #17becf "
    "#aec7e8 #ffbb78 #98df8a #ff9896 #c5b0d5 #c49c94 #f7b6d2 #c7c7c7 #dbdb8d #9edae5 "
    "#393b79 #637939 #8c6d31 #843c39"
).split()
#: Points without a value, and the "other" category: light grey.
NO_VALUE = "#c8c8c8"
#: A numeric column coloured in the page: this many steps of the figure's scale (Viridis).
PAGE_STEPS = 128

if TYPE_CHECKING:
    from numpy.typing import NDArray


def kmeans(unit: NDArray[np.float32], k: int, seed: int = 0) -> NDArray[np.int32]:
    """Cluster unit rows ``(m, dim)`` into `k` groups with k-means (scikit-learn).

    ``MiniBatchKMeans`` above 20,000 points; cluster labels ``(m,)`` int32 in ``[0, k)``,
    numbered by decreasing size (name them with :func:`cluster_names`, passing the same
    `unit`).

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


    def categories(self) -> tuple[list[str], NDArray[np.int64], str | None]:
        """Return the legend of a categorical colouring: its categories, each point's, the rest's name.

        Returns ``(keep, codes, rest)``: the :data:`MAX_CATEGORIES` most common values, most
        common first (ties in sorted order; category ``i`` gets ``PALETTE[i]``); ``codes``
        ``(m,)`` int64, each point's index in ``keep``, or -1 for the rest (no value, or a
        value past the first :data:`MAX_CATEGORIES`); ``rest``: the rest's legend name,
        ``"other"`` when some value was left out, ``"(none)"`` when only missing values are,
        None when every point has a kept value.
        """
        labels = np.array(["" if v is None else str(v) for v in self.labels or ()], dtype=object)
        values, inverse, counts = np.unique(labels, return_inverse=True, return_counts=True)
        present = values != ""
        order = np.flatnonzero(present)[np.argsort(-counts[present], kind="stable")]
        keep = order[:MAX_CATEGORIES]
        code_of = np.full(len(values), -1, dtype=np.int64)
        code_of[keep] = np.arange(len(keep))
        codes = code_of[inverse.reshape(-1)]
        if not (codes < 0).any():
            rest = None
        else:
            rest = "other" if len(order) > MAX_CATEGORIES else "(none)"
        return [str(v) for v in values[keep]], codes, rest


def page_coloring(column: str, values: Sequence[str | None], sep: str = "|") -> dict:
    """Return the colouring of one metadata column, as the page applies it from its select.

    The same colouring as ``embviz plot --color-by COLUMN`` (:meth:`Coloring.from_column`,
    :meth:`Coloring.categories`, :data:`PALETTE`; numbers on plotly's Viridis, as the figure's
    colour bar), given as one colour index per point.

    Parameters
    ----------
    column : str
        The column's name.
    values : sequence of str or None
        Its value for each drawn point, ``(m,)`` (None or ``""``: no value).
    sep : str
        Separator of multi-valued cells (the first value colours the point).

    Returns
    -------
    dict
        ``column``, ``title`` (the legend's: the column, ``(first value)`` added for
        multi-valued cells), ``kind`` (``"category"`` or ``"number"``), ``codes`` uint8
        ``(m,)`` (each point's index in ``colors``), ``colors`` (hex strings: one per category
        then :data:`NO_VALUE` for the rest; or :data:`PAGE_STEPS` steps of Viridis, low to high,
        then :data:`NO_VALUE`), ``counts`` (points per colour), and ``names`` (the legend's:
        each category, then ``other``/``(none)``; numbers: None) with, for numbers, ``min`` and
        ``max`` (floats).
    """
    from plotly.colors import sample_colorscale

    c = Coloring.from_column(column, values, sep=sep)
    out: dict = {"column": column, "title": c.title}
    if c.values is not None:
        v = np.asarray(c.values, dtype=np.float64)
        have = np.isfinite(v)
        lo, hi = float(v[have].min()), float(v[have].max())
        steps = np.zeros(len(v), dtype=np.int64)
        if hi > lo:
            steps[have] = np.rint((v[have] - lo) / (hi - lo) * (PAGE_STEPS - 1)).astype(np.int64)
        steps[~have] = PAGE_STEPS
        scale = [_hex(rgb) for rgb in sample_colorscale("Viridis", PAGE_STEPS)]
        out.update(kind="number", codes=steps.astype(np.uint8), colors=[*scale, NO_VALUE], names=None,
                   min=lo, max=hi, counts=np.bincount(steps, minlength=PAGE_STEPS + 1).tolist())
        return out
    keep, codes, rest = c.categories()
    codes = np.where(codes < 0, len(keep), codes)
    names = keep + ([rest] if rest is not None else [])
    out.update(kind="category", codes=codes.astype(np.uint8), names=names,
               colors=[PALETTE[i % len(PALETTE)] for i in range(len(keep))] + [NO_VALUE],
               counts=np.bincount(codes, minlength=len(keep) + 1).tolist()[: len(names)])
    return out


def _hex(rgb: str) -> str:
    """``"rgb(68, 1, 84)"`` as ``"#440154"``."""
    parts = rgb[rgb.index("(") + 1 : rgb.index(")")].split(",")
    return "#" + "".join(f"{round(float(p)):02x}" for p in parts[:3])


def _word_like(key: str) -> bool:
    """Return whether `key` has a letter or a digit (is not punctuation alone, like ``--``)."""
    return any(ch.isalnum() for ch in str(key))


#: Keys whose mean-centred vector is shorter than this quantile of all the points' are
#: "generic" (close to the mean of everything) and name a cluster only when nothing else can.
GENERIC_QUANTILE = 0.05


def cluster_names(
    clusters: NDArray[np.integer],
    ids: NDArray[np.integer],
    keys: Sequence[str],
    top: int = 3,
    *,
    unit: NDArray[np.floating] | None = None,
) -> list[str]:
    """Name each point's cluster by the cluster's `top` most representative keys.

    With the vectors (`unit`), a
    cluster's most representative keys are the members nearest its centroid once the mean of
    all the points is removed: with ``c_i = u_i - mean(u)`` scaled to unit length and ``d``
    the unit direction of the cluster's mean ``c_i``, members are ranked by cosine ``c_i . d``.
    Removing the mean matters: GloVe and word2vec vectors share a common direction (Mu &
    Viswanath 2018) near which the most frequent keys ("the", "of", ",") sit, so without it
    they look central to every cluster. Keys without a letter or a digit (punctuation) never
    name a cluster, and generic keys (those whose centred vector is among the
    :data:`GENERIC_QUANTILE` shortest: close to the mean of everything, in GloVe the function
    words) only when a cluster has too few other keys. Frequency plays no part.

    Without vectors, the names are the cluster's most frequent word-like keys (lowest ids).

    Parameters
    ----------
    clusters : ndarray ``(m,)`` int
        Cluster label per point, ``0 .. c-1`` (as :func:`kmeans` numbers them).
    ids : ndarray ``(m,)`` int
        Row ids of the points (lower id = more frequent; breaks ties, orders the fallback).
    keys : sequence of str ``(m,)``
        The points' keys.
    top : int
        Keys per name.
    unit : ndarray ``(m, dim)`` float, optional
        The points' unit rows ``(m, dim)``, as given to :func:`kmeans`.

    Returns
    -------
    list of str ``(m,)``
        ``"cluster 6: profits, sales, profit"`` (cluster numbers 1-based), one per point.
    """
    terms = cluster_terms(clusters, ids, keys, top, unit=unit)
    label = {c: f"cluster {c + 1}: {', '.join(names)}" for c, names in terms.items()}
    return [label[c] for c in np.asarray(clusters).astype(np.int64, copy=False).tolist()]


def centred_rows(unit: NDArray[np.floating]) -> tuple[NDArray[np.float32], NDArray[np.bool_]]:
    """Return the rows :func:`cluster_terms` ranks keys by (mean removed, unit length) and the generic ones.

    Returns ``(centred, generic)``: float32 ``(m, dim)`` and bool ``(m,)`` (the
    :data:`GENERIC_QUANTILE` shortest centred rows). Compute once to name several clusterings
    of the same points (:func:`embviz.viz.regions.regions` names two).
    """
    centred = np.asarray(unit, dtype=np.float32)
    centred = centred - centred.mean(axis=0, dtype=np.float64).astype(np.float32)
    length = np.linalg.norm(centred, axis=1)
    generic = length < np.quantile(length, GENERIC_QUANTILE)
    centred /= np.maximum(length, 1e-12)[:, None]
    return centred, generic


def cluster_terms(
    clusters: NDArray[np.integer],
    ids: NDArray[np.integer],
    keys: Sequence[str],
    top: int = 3,
    *,
    unit: NDArray[np.floating] | None = None,
    centred: tuple[NDArray[np.float32], NDArray[np.bool_]] | None = None,
    candidates: int | None = None,
) -> dict[int, list[str]]:
    """Each cluster's `top` most representative keys, most representative first.

    The ranking :func:`cluster_names` describes (nearest the mean-removed centroid with
    `unit`, else the most frequent; word-like and specific keys first). `keys` may be any
    text per point (a title from the metadata). `centred`: :func:`centred_rows` of `unit`,
    computed before (then `unit` is not needed). `candidates`: only each cluster's that many
    most frequent members may name it (the centroid is still every member's), so a big
    cluster is named by keys a reader knows. Returns ``{cluster: [key, ...]}`` for every
    cluster number in `clusters` ``(m,)``.
    """
    clusters = np.asarray(clusters).astype(np.int64, copy=False)
    m = len(clusters)
    order = np.argsort(np.asarray(ids), kind="stable")  # most frequent first
    if centred is None and unit is not None and len(unit) == m and m:
        centred = centred_rows(unit)
    rows, generic = centred if centred is not None else (None, np.zeros(m, dtype=bool))
    word: dict[int, bool] = {}  # word-likeness, decided only for the keys a ranking reaches

    def word_like(j: int) -> bool:
        if j not in word:
            word[j] = _word_like(str(keys[j]))
        return word[j]

    # each cluster's members by frequency, in one sort (ties keep the frequency order)
    grouped = order[np.argsort(clusters[order], kind="stable")]
    names, starts = np.unique(clusters[grouped], return_index=True)
    label = {}
    for c, members in zip(names.tolist(), np.split(grouped, starts[1:])):
        if rows is not None:
            mean = rows[members].mean(axis=0, dtype=np.float64)
            size = np.linalg.norm(mean)
            if candidates is not None:
                members = members[:candidates]  # the most frequent (members are in frequency order)
            score = rows[members] @ (mean / size).astype(np.float32) if size > 0 else np.zeros(len(members))
            members = members[np.argsort(-score, kind="stable")]
        elif candidates is not None:
            members = members[:candidates]
        # word-like and specific keys first; punctuation only if the cluster has nothing else
        chosen = list(islice((j for j in members.tolist() if not generic[j] and word_like(j)), top))
        if len(chosen) < top:
            rank = np.array([2 * (not word_like(j)) + int(generic[j]) for j in members.tolist()])
            chosen = members[np.argsort(rank, kind="stable")][:top].tolist()
        label[c] = [str(keys[j]) for j in chosen]
    return label
