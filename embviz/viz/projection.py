"""Projections of embeddings to 2D or 3D (PCA, UMAP, t-SNE), point selection, and trust.

Three steps, each a function usable from a notebook:

1. :func:`embviz.viz.selection.select` chooses which rows to project (``top``, ``keys``, ``sample``, ``around`` and
   any mix of them) and says how many of how many.
2. :func:`project` lays them out with PCA (numpy SVD), UMAP (McInnes, Healy and Melville
   2018, umap-learn, cosine metric) or t-SNE (van der Maaten and Hinton 2008, scikit-learn).
   UMAP gets the exact cosine kNN from one batched matrix product (``search.top_k``) as
   ``precomputed_knn`` for sets up to 50,000 points (above, the approximate kNN of the
   table's FAISS index when one is given and the points are its first rows), a persistent
   numba cache, and every
   layout is cached on disk keyed on (data, selection, method, parameters, seed, version).
3. :func:`embviz.viz.trust.neighbor_recall` scores the layout: recall@k of each point's cosine neighbors among
   its layout neighbors, in [0, 1] (1 means every original neighbor stayed a neighbor).

Nothing here prints; progress is reported through an optional callback.
"""
from __future__ import annotations

import os
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Literal, Sequence

import numpy as np

from embviz.errors import InvalidQuery
from embviz.viz.layout_cache import (
    _cache_path,
    _read_cached,
    _read_recall,
    _write_cached,
    _write_recall,
)
from embviz.viz.selection import Selection, select
from embviz.viz.trust import neighbor_recall

if TYPE_CHECKING:
    from numpy.typing import NDArray

    from embviz.vectors import Vectors

Method = Literal["pca", "umap", "tsne"]
METHODS = ("pca", "umap", "tsne")
#: Above this many points UMAP computes its kNN approximately (pynndescent) instead of exactly.
EXACT_KNN_MAX = 50_000

#: ``progress(stage, done, total)``: called as work advances (stage is a short text).
Progress = Callable[[str, int, int], None]


def _noop(stage: str, done: int, total: int) -> None:
    return None


# -- projection -------------------------------------------------------------------------------
@dataclass(frozen=True)
class Projection:
    """A layout of selected points.

    Attributes
    ----------
    coords : ndarray ``(m, dim)`` float32
        Layout coordinates, one row per selected id, in selection order.
    ids : ndarray ``(m,)`` int64
        Row ids in the vectors (``rank = id + 1``: 1 is the most frequent key).
    keys : tuple of str
        The keys of `ids`.
    method : str
        ``"pca"``, ``"umap"`` or ``"tsne"``.
    params : dict
        The method's parameters (``n_neighbors``, ``min_dist``, ``perplexity``, ``knn``).
    seed : int
    recall : float or None
        recall@10 of cosine neighbors among layout neighbors, in [0, 1] (see
        :func:`neighbor_recall`); None if not computed.
    cached : bool
        Whether the coordinates came from the projection cache.
    """

    coords: NDArray[np.float32]
    ids: NDArray[np.int64]
    keys: tuple
    method: str
    params: dict
    seed: int | None
    recall: float | None = None
    cached: bool = False

    @property
    def dim(self) -> int:
        """2 or 3."""
        return int(self.coords.shape[1])

    def rows(self) -> list[dict]:
        """Rows ``{key, rank, x, y[, z]}`` for output (rank 1-based, in file order)."""
        names = ("x", "y", "z")[: self.dim]
        c = self.coords.astype(np.float64).tolist()
        return [
            {"key": key, "rank": int(i) + 1, **dict(zip(names, xyz))}
            for key, i, xyz in zip(self.keys, self.ids.tolist(), c)
        ]


def _validate(method: str, dim: int, n_neighbors: int, min_dist: float, perplexity: float) -> None:
    if method not in METHODS:
        raise InvalidQuery(f"unknown method {method!r}: expected one of {', '.join(METHODS)}")
    if dim not in (2, 3):
        raise InvalidQuery(f"dim must be 2 or 3, got {dim}")
    if not 2 <= n_neighbors <= 200:
        raise InvalidQuery(f"n_neighbors must be in 2..200, got {n_neighbors}")
    if not 0.0 <= min_dist <= 1.0:
        raise InvalidQuery(f"min_dist must be in [0, 1], got {min_dist}")
    if not perplexity > 0:
        raise InvalidQuery(f"perplexity must be > 0, got {perplexity}")


def params_for(method: str, n_neighbors: int, min_dist: float, perplexity: float) -> dict:
    """Return the parameters that matter to `method` (the others are not recorded)."""
    if method == "umap":
        return {"metric": "cosine", "n_neighbors": n_neighbors, "min_dist": min_dist}
    if method == "tsne":
        return {"metric": "cosine", "perplexity": perplexity}
    return {"input": "unit rows, centred"}


def project(
    vectors: Vectors,
    selection: Selection | Sequence[int] | None = None,
    *,
    method: Method = "umap",
    dim: int = 2,
    seed: int | None = None,
    n_neighbors: int = 15,
    min_dist: float = 0.1,
    perplexity: float = 30.0,
    recall_k: int = 10,
    cache_dir: str | os.PathLike | None = None,
    use_cache: bool = True,
    fingerprint: str | None = None,
    progress: Progress | None = None,
    index: Any = None,
) -> Projection:
    """Lay out the selected rows of `vectors` in `dim` dimensions.

    Every method works on the unit rows, so layouts reflect cosine similarity.

    Parameters
    ----------
    vectors : Vectors
    selection : Selection or sequence of int, optional
        Rows to project; default :func:`select` ``(vectors)`` (the top 5,000).
    method : {"pca", "umap", "tsne"}
        PCA: exact principal components of the centred unit rows (deterministic).
        UMAP: McInnes et al. (2018), ``umap.UMAP(metric="cosine")``; for up to 50,000 points
        the exact cosine kNN is computed here and passed as ``precomputed_knn``.
        t-SNE: van der Maaten and Hinton (2008), ``sklearn.manifold.TSNE(metric="cosine")``.
    dim : {2, 3}
    seed : int, optional
        Makes UMAP and t-SNE reproducible (UMAP then runs its layout single-threaded, as
        umap-learn does with ``random_state``). None: UMAP runs in parallel, and the layout
        differs from run to run (the projection cache still returns the first one).
    n_neighbors : int
        UMAP's neighborhood size, 2 to 200 (umap's advice: 5 to 50).
    min_dist : float
        UMAP's minimum distance between layout points, in [0, 1].
    perplexity : float
        t-SNE's perplexity, > 0 (lowered to ``(m - 1) / 3`` for tiny sets).
    recall_k : int
        k of the trust score; 0 skips it.
    cache_dir : path-like, optional
        embviz's cache directory: numba's compiled code goes to ``<cache_dir>/numba`` (set
        as ``NUMBA_CACHE_DIR`` if numba is not imported yet) and layouts to
        ``<cache_dir>/projections``. None: neither (numba uses its own default).
    use_cache : bool
        Read and write the projection cache (False still keeps numba's compiled code).
    fingerprint : str, optional
        Content fingerprint of the vector file (``embviz.io.cache.fingerprint``), recorded in the key.
    progress : callable, optional
        ``progress(stage, done, total)``.
    index : embviz.search.index.Index, optional
        A FAISS index over `vectors`' unit rows. UMAP above ``EXACT_KNN_MAX`` points takes its
        kNN from it (approximate; ``params["knn"]`` then names the index and its measured
        recall) when the points are the table's first rows (the most frequent keys, the
        default selection); otherwise, and without an index, umap-learn's own approximate
        kNN (pynndescent).

    Returns
    -------
    Projection
        ``coords`` float32 ``(m, dim)`` and ``recall`` in [0, 1].

    Raises
    ------
    InvalidQuery
        If a parameter is out of range or fewer than 3 points are selected (UMAP, t-SNE).
    """
    _validate(method, dim, n_neighbors, min_dist, perplexity)
    report = progress or _noop
    if selection is None:
        selection = select(vectors)
    ids = (
        selection.ids if isinstance(selection, Selection) else np.asarray(selection, dtype=np.int64)
    )
    m = len(ids)
    if m == 0:
        raise InvalidQuery("nothing to project: the selection is empty")
    if method != "pca" and m < 3:
        raise InvalidQuery(f"{method} needs at least 3 points, got {m}; use --method pca")
    unit = np.ascontiguousarray(vectors.unit[ids], dtype=np.float32)
    params = params_for(method, n_neighbors, min_dist, perplexity)
    use_index = (
        method == "umap" and m > EXACT_KNN_MAX and index is not None and index.count >= m
        and bool((ids == np.arange(m)).all())
    )
    if method == "umap":
        params["knn"] = "exact" if m <= EXACT_KNN_MAX else f"index, {index.describe()}" if use_index else "nndescent"
    keys = tuple(vectors.keys[i] for i in ids.tolist())

    path = None
    if cache_dir is not None and use_cache:
        path = _cache_path(Path(cache_dir), unit, keys, fingerprint, method, dim, params, seed)
        coords = _read_cached(path, m, dim)
        if coords is not None:
            report("cached layout", 1, 1)
            recall = _read_recall(path, recall_k)
            if recall is None and recall_k:
                recall = neighbor_recall(unit, coords, k=recall_k, seed=seed or 0)
                _write_recall(path, recall_k, recall)
            return Projection(coords, ids, keys, method, params, seed, recall, cached=True)

    if method == "pca":
        coords = pca(unit, dim)
    elif method == "umap":
        knn = index_knn(index, unit, min(n_neighbors, m - 1), report) if use_index else None
        coords = _umap(unit, dim, seed, n_neighbors, min_dist, cache_dir, report, knn)
    else:
        coords = _tsne(unit, dim, seed, perplexity, report)
    coords = np.ascontiguousarray(coords, dtype=np.float32)
    if path is not None:
        _write_cached(path, coords)
    report("trust", 0, 1)
    recall = neighbor_recall(unit, coords, k=recall_k, seed=seed or 0) if recall_k else None
    if path is not None and recall is not None:
        _write_recall(path, recall_k, recall)
    report("trust", 1, 1)
    return Projection(coords, ids, keys, method, params, seed, recall)


def pca(rows: NDArray[np.floating], dim: int = 2) -> NDArray[np.float32]:
    """Principal components of `rows` ``(m, d)``: float32 ``(m, dim)``, deterministic.

    The rows are centred; components are the leading eigenvectors of the covariance matrix
    (the right singular vectors of the centred rows), their signs fixed so that the largest
    loading of each is positive (as scikit-learn's ``svd_flip``).
    """
    x = np.asarray(rows, dtype=np.float32)
    n, d = x.shape
    if n == 1:
        return np.zeros((1, dim), dtype=np.float32)
    # eigenvectors of the d x d covariance: O(n d^2), fast for 400,000 x 300
    mean = x.mean(axis=0, dtype=np.float64)
    gram = np.zeros((d, d), dtype=np.float64)
    for lo in range(0, n, 65_536):
        block = x[lo : lo + 65_536].astype(np.float64) - mean
        gram += block.T @ block
    values, vectors = np.linalg.eigh(gram)
    vt = vectors[:, ::-1][:, : min(dim, d)].T  # (dim, d), largest variance first
    signs = np.sign(vt[np.arange(len(vt)), np.abs(vt).argmax(axis=1)])
    signs[signs == 0] = 1
    vt = vt * signs[:, None]
    out = np.empty((n, len(vt)), dtype=np.float64)
    for lo in range(0, n, 65_536):
        out[lo : lo + 65_536] = (x[lo : lo + 65_536].astype(np.float64) - mean) @ vt.T
    if out.shape[1] < dim:  # fewer features than dim
        out = np.pad(out, ((0, 0), (0, dim - out.shape[1])))
    return (out + 0.0).astype(np.float32)  # + 0.0 turns -0.0 into 0.0


def exact_knn(unit: NDArray[np.float32], k: int) -> tuple[NDArray[np.int32], NDArray[np.float32]]:
    """Exact cosine kNN of unit rows, in umap's ``precomputed_knn`` form.

    Parameters
    ----------
    unit : ndarray ``(m, dim)`` float32
        Unit rows.
    k : int
        Neighbors per point including the point itself, 2 <= k <= m.

    Returns
    -------
    indices : ndarray ``(m, k)`` int32
        Column 0 is the point itself; then its ``k - 1`` nearest other points, nearest first.
    distances : ndarray ``(m, k)`` float32
        Cosine distances ``1 - cos`` in [0, 2]; column 0 is 0.
    """
    from embviz import search

    m = len(unit)
    ids, scores = search.top_k(unit, unit, k - 1, exclude=[(i,) for i in range(m)])
    own = np.arange(m, dtype=np.int64)[:, None]
    indices = np.concatenate([own, ids], axis=1).astype(np.int32)
    dists = np.concatenate([np.zeros((m, 1), np.float32), np.clip(1.0 - scores, 0.0, 2.0)], axis=1)
    return indices, dists.astype(np.float32)


def index_knn(
    index: Any, unit: NDArray[np.float32], k: int, progress: Progress | None = None
) -> tuple[NDArray[np.int32], NDArray[np.float32]]:
    """Approximate cosine kNN of a table's first ``m`` rows from its FAISS index, as :func:`exact_knn`.

    Parameters
    ----------
    index : embviz.search.index.Index
        Built over the whole table's unit rows (``index.count >= m``).
    unit : ndarray ``(m, dim)`` float32
        The unit rows ``0 .. m-1`` of that table (the points).
    k : int
        Neighbors per point including the point itself, 2 <= k <= m.
    progress : callable, optional
        ``progress(stage, done, total)``.

    Returns
    -------
    indices, distances
        As :func:`exact_knn`: ``(m, k)`` int32 (column 0 the point itself) and float32 cosine
        distances in [0, 2], each row's neighbors among the first ``m`` rows (``restrict=m``,
        the point itself excluded), as ``embviz neighbors --index`` answers.
    """
    m = len(unit)
    report = progress or _noop
    ids = np.zeros((m, k - 1), dtype=np.int64)
    scores = np.zeros((m, k - 1), dtype=np.float32)
    step = 8192
    for lo in range(0, m, step):
        hi = min(m, lo + step)
        report("kNN from the index", lo, m)
        got_i, got_s = index.search(unit[lo:hi], k - 1, exclude=[(i,) for i in range(lo, hi)], restrict=m)
        ids[lo:hi], scores[lo:hi] = got_i, got_s
    report("kNN from the index", m, m)
    own = np.arange(m, dtype=np.int64)[:, None]
    indices = np.concatenate([own, ids], axis=1).astype(np.int32)
    dists = np.concatenate([np.zeros((m, 1), np.float32), np.clip(1.0 - scores, 0.0, 2.0)], axis=1)
    return indices, dists.astype(np.float32)


def numba_cache_dir(cache_dir: str | os.PathLike) -> Path:
    """Where compiled numba code is kept: ``<cache_dir>/numba``."""
    return Path(cache_dir) / "numba"


def _writable_numba_cache() -> None:
    """Point numba at a temporary folder (one warning) if its cache folder cannot be written.

    numba raises an internal ``RuntimeError`` ("cannot cache function") when compiling a
    ``cache=True`` function into a folder it cannot write; umap-learn and pynndescent have many.
    """
    current = os.environ.get("NUMBA_CACHE_DIR")
    if not current or os.access(current, os.W_OK | os.X_OK):
        return
    import atexit
    import shutil
    import tempfile

    from embviz.errors import warn

    os.environ["NUMBA_CACHE_DIR"] = folder = tempfile.mkdtemp(prefix="embviz-numba-")
    atexit.register(shutil.rmtree, folder, ignore_errors=True)  # this process's compiled code only
    warn(f"cannot write numba's cache in {current}; UMAP compiles without a lasting disk cache")


def _umap(unit, dim, seed, n_neighbors, min_dist, cache_dir, report, knn=None) -> NDArray[np.float32]:
    m = len(unit)
    if cache_dir is not None and "numba" not in sys.modules:
        # numba reads this once, when first imported: compiled code then survives processes.
        path = numba_cache_dir(cache_dir)
        try:
            path.mkdir(parents=True, exist_ok=True)
            os.environ.setdefault("NUMBA_CACHE_DIR", str(path))
        except OSError:
            pass
        _writable_numba_cache()
    import warnings

    kw: dict = {}
    nn = min(n_neighbors, m - 1)
    if knn is not None:  # from the table's index (see project)
        kw["precomputed_knn"] = (*knn, None)
    elif m <= EXACT_KNN_MAX:
        report("exact kNN", 0, 1)
        knn_i, knn_d = exact_knn(unit, nn)
        kw["precomputed_knn"] = (knn_i, knn_d, None)
        report("exact kNN", 1, 1)
    report("loading umap", 0, 1)
    umap = import_umap()
    report("UMAP layout", 0, 1)
    if report is not _noop:  # umap's own epoch counter (tqdm), read instead of drawn
        kw["tqdm_kwds"] = {"disable": False, "file": _Counter("UMAP epochs", _TQDM, report)}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # n_jobs overridden by random_state; no search index
        model = umap.UMAP(
            n_components=dim,
            n_neighbors=nn,
            min_dist=min_dist,
            metric="cosine",
            random_state=seed,
            **kw,
        )
        coords = model.fit_transform(unit)
    report("UMAP layout", 1, 1)
    return np.asarray(coords, dtype=np.float32)


_PYNNDESCENT = ("pynndescent", "pynndescent.distances", "pynndescent.sparse")


def import_umap():  # noqa: ANN201
    """Import umap-learn, deferring pynndescent until an approximate kNN is really needed.

    ``import umap`` imports pynndescent, whose import compiles dozens of numba functions
    (about 10 s in a fresh process without numba's cache). With a precomputed kNN umap never
    calls it, so umap is imported against a small stand-in whose ``NNDescent`` and distance
    tables import the real pynndescent on first use: behaviour is unchanged, only the cost
    moves to where it is needed. The stand-in leaves ``sys.modules`` as soon as umap is
    imported; if anything goes wrong, umap is imported the ordinary way.

    Raises
    ------
    MissingDependency
        If umap-learn is not installed.
    """
    import importlib
    import types
    from collections.abc import Mapping

    from embviz.errors import require

    if "umap" in sys.modules or "pynndescent" in sys.modules:
        return require("umap", package="umap-learn")

    def real(module: str = "pynndescent"):  # noqa: ANN202
        for name in _PYNNDESCENT:
            if getattr(sys.modules.get(name), "_embviz_stand_in", False):
                del sys.modules[name]
        return importlib.import_module(module)

    class NNDescent:
        """Stand-in: builds a real ``pynndescent.NNDescent``."""

        def __new__(cls, *args, **kwargs):  # noqa: ANN002, ANN003, ANN204
            return real().NNDescent(*args, **kwargs)

    class LazyTable(Mapping):
        """A pynndescent distance table, imported on first use."""

        def __init__(self, module: str, attr: str) -> None:
            self._where = (module, attr)

        def _table(self) -> Mapping:
            return getattr(real(self._where[0]), self._where[1])

        def __contains__(self, key: object) -> bool:
            # umap asks whether its metric is here even with a precomputed kNN; "cosine", the
            # only metric embviz uses, is in both tables (tests check it against pynndescent)
            return True if key == "cosine" else key in self._table()

        def __getitem__(self, key):  # noqa: ANN001, ANN204
            return self._table()[key]

        def __iter__(self):  # noqa: ANN204
            return iter(self._table())

        def __len__(self) -> int:
            return len(self._table())

    stand_ins = {name: types.ModuleType(name) for name in _PYNNDESCENT}
    for module in stand_ins.values():
        module._embviz_stand_in = True
    stand_ins["pynndescent"].__path__ = []
    stand_ins["pynndescent"].NNDescent = NNDescent
    stand_ins["pynndescent.distances"].named_distances = LazyTable(
        "pynndescent.distances", "named_distances"
    )
    stand_ins["pynndescent.sparse"].sparse_named_distances = LazyTable(
        "pynndescent.sparse", "sparse_named_distances"
    )
    sys.modules.update(stand_ins)
    try:
        umap = require("umap", package="umap-learn")
        _cache_umap_kernels()
        return umap
    except Exception:  # noqa: BLE001 - fall back to the ordinary import
        for name in [m for m in sys.modules if m == "umap" or m.startswith("umap.")]:
            del sys.modules[name]
        real()
        return require("umap", package="umap-learn")
    finally:
        for name in _PYNNDESCENT:
            if sys.modules.get(name) is stand_ins[name]:
                del sys.modules[name]


def _cache_umap_kernels() -> None:
    """Let numba keep umap-learn's hot kernels on disk, as it does pynndescent's.

    umap-learn 0.5 jits ``smooth_knn_dist``, ``compute_membership_strengths`` and the layout
    epoch without ``cache=True``, so every new process compiles them again (about 5 s). The
    same Python functions are jitted again with the same options plus ``cache=True`` and put in
    their place (umap looks them up at call time); numba then stores the machine code under
    ``NUMBA_CACHE_DIR``. Another umap version without these names is left untouched.
    """
    import numba
    import umap.layouts as layouts
    import umap.umap_ as umap_

    names = [
        (umap_, "smooth_knn_dist"),
        (umap_, "compute_membership_strengths"),
        (layouts, "_nb_optimize_layout_euclidean_single_epoch"),
        (layouts, "_nb_optimize_layout_euclidean_single_epoch_parallel"),
    ]
    if not all(hasattr(getattr(m, n, None), "py_func") for m, n in names):
        return
    try:
        cached = []
        for module, name in names:
            dispatcher = getattr(module, name)
            options = {k: v for k, v in dispatcher.targetoptions.items() if k != "nopython"}
            cached.append((module, name, numba.njit(cache=True, **options)(dispatcher.py_func)))
    except Exception:  # noqa: BLE001 - no usable cache location: keep umap's own kernels
        return
    for module, name, fn in cached:
        setattr(module, name, fn)


#: umap's tqdm counter (``90/200 [``) and sklearn's t-SNE lines (``Iteration 50:``).
_TQDM = re.compile(r"(\d+)/(\d+) \[")
_TSNE = re.compile(r"Iteration (\d+)")


class _Counter:
    """A text stream that turns a library's progress text into ``report(stage, done, total)``."""

    def __init__(self, stage: str, pattern: re.Pattern, report: Progress, total: int = 0) -> None:
        self.stage, self.pattern, self.report, self.total = stage, pattern, report, total

    def write(self, text: str) -> int:
        for m in self.pattern.finditer(text):
            done = int(m.group(1))
            total = int(m.group(2)) if m.re.groups > 1 else self.total
            self.report(self.stage, min(done, total), total)
        return len(text)

    def flush(self) -> None:
        """Nothing is buffered."""


def _tsne(unit, dim, seed, perplexity, report) -> NDArray[np.float32]:
    from embviz.errors import require

    manifold = require("sklearn.manifold", package="scikit-learn")
    m = len(unit)
    perp = min(perplexity, max(1.0, (m - 1) / 3))
    report("t-SNE layout", 0, 1)
    model = manifold.TSNE(
        n_components=dim,
        perplexity=perp,
        metric="cosine",
        init="pca",
        random_state=seed,
        method="barnes_hut" if dim <= 3 else "exact",
        verbose=0 if report is _noop else 2,
    )
    if report is _noop:
        coords = model.fit_transform(unit)
    else:  # sklearn's own iteration lines (every 50 of max_iter), read instead of printed
        import contextlib

        total = int(getattr(model, "max_iter", None) or 1000)
        with contextlib.redirect_stdout(_Counter("t-SNE iterations", _TSNE, report, total)):
            coords = model.fit_transform(unit)
    report("t-SNE layout", 1, 1)
    return np.asarray(coords, dtype=np.float32)


