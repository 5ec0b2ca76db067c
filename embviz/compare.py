"""Compare two embedding tables key by key: neighbor-set overlap, aligned cosine, rank change.

``diff(a, b)`` answers "what changed between these two trainings?" with the two established
measures of semantic change:

- **Jaccard@k** of each key's neighbor sets in A and in B, both searched over the same shared
  vocabulary (Gonen et al. 2020, "Simple, interpretable and stable method for detecting words
  with usage change across corpora"). It needs no alignment and ignores ranks inside the top k.
- **cosine after orthogonal Procrustes**: B is rotated onto A with the orthogonal matrix that
  minimises ``||B_s R - A_s||_F`` over the shared keys' unit rows (Hamilton, Leskovec and
  Jurafsky 2016, "Diachronic word embeddings reveal statistical laws of semantic change";
  ``scipy.linalg.orthogonal_procrustes``), then each key's A vector and rotated B vector are
  compared.

Neighbors come from the exact batched kernel :func:`embviz.search.kernel.top_k`; with
``index=True``, from a FAISS IVF index built over the compared keys of each table (faster on
large tables, approximate: the recall@k of each index against exact search is measured on a
seeded sample and reported).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable, Literal

import numpy as np

from embviz.errors import InvalidQuery
from embviz.search import top_k

if TYPE_CHECKING:
    from numpy.typing import NDArray

    from embviz.vectors import Vectors

Align = Literal["procrustes", "none"]

#: Shared keys compared by default (the most frequent ones, in A's order).
DEFAULT_RESTRICT = 100_000
#: Query rows per kernel call in the neighbor searches (a progress report after each).
_KNN_BLOCK = 4096

#: ``progress(done, total)`` of one stage, as :func:`neighbor_lists` reports it.
Step = Callable[[int, int], None]
#: ``progress(stage, done, total)`` of :func:`diff` (total None: a stage reporting its start).
Progress = Callable[[str, int, int | None], None]


@dataclass(frozen=True, slots=True)
class KeyChange:
    """How one shared key changed from A to B.

    ``rank_a``/``rank_b`` are 1-based row positions in each table (frequency ranks for real
    files); ``jaccard`` is the overlap of the key's k nearest neighbors in A and in B, in
    [0, 1] (1 the same set); ``cosine_aligned`` is the cosine similarity in [-1, 1] of the key's
    A vector and its B vector rotated onto A (unrotated with ``align="none"``; NaN when the
    dims differ and nothing aligns them).
    """

    key: str
    rank_a: int
    rank_b: int
    jaccard: float
    cosine_aligned: float


@dataclass(frozen=True)
class KeyArrays:
    """Per-key arrays of a diff, in A's row order of the `s` compared keys.

    Attributes
    ----------
    ids_a, ids_b : ndarray ``(s,)`` int64
        Row ids of the compared keys in A and in B.
    neighbors_a, neighbors_b : ndarray ``(s, k)`` int64
        Each key's k nearest neighbors by cosine similarity among the compared keys, in A
        and in B, as positions ``0 .. s-1`` (best first, ties to the lower position).
    scores_a, scores_b : ndarray ``(s, k)`` float32
        Their cosine similarities in [-1, 1].
    jaccard : ndarray ``(s,)`` float64
        Jaccard@k of the two lists, in [0, 1].
    cosine : ndarray ``(s,)`` float64
        Cosine of the key's A vector and its aligned B vector, in [-1, 1] (NaN: not comparable).
    """

    ids_a: NDArray[np.int64]
    ids_b: NDArray[np.int64]
    neighbors_a: NDArray[np.int64]
    neighbors_b: NDArray[np.int64]
    scores_a: NDArray[np.float32]
    scores_b: NDArray[np.float32]
    jaccard: NDArray[np.float64]
    cosine: NDArray[np.float64]


@dataclass(frozen=True)
class DiffReport:
    """The result of :func:`diff`.

    Attributes
    ----------
    rows : list of KeyChange
        One per compared key, biggest change first: lowest Jaccard, then lowest aligned
        cosine, then A's rank.
    shared, only_a, only_b : int
        Keys in both tables, only in A, only in B (before `restrict`).
    compared : int
        Keys compared (the first `restrict` shared keys in A's order).
    k : int
        Neighbors per key (fewer when fewer than k + 1 keys are compared).
    align : str
        ``"procrustes"`` or ``"none"``.
    residual : float
        ``||B_s R - A_s||_F / ||A_s||_F`` over the compared keys' unit rows, in [0, 2]: 0 when
        B is an exact rotation of A. NaN when not aligned.
    rotation : ndarray ``(dim_b, dim_a)`` float64 or None
        The fitted orthogonal matrix R (B's unit rows times R approximate A's).
    search : str
        How neighbors were found: ``"exact"``, or the index and its measured recall in A and B.
    keys : KeyArrays or None
        The same figures as arrays in A's row order of the compared keys, with each key's
        neighbor lists in A and in B (what ``embviz diff --html`` draws).
    """

    rows: list[KeyChange]
    shared: int
    only_a: int
    only_b: int
    compared: int
    k: int
    align: str
    residual: float
    rotation: NDArray[np.float64] | None = None
    keys: KeyArrays | None = field(default=None, repr=False, compare=False)
    search: str = "exact"

    @property
    def mean_jaccard(self) -> float:
        """Mean Jaccard@k over the compared keys, in [0, 1] (NaN when nothing is compared)."""
        if not self.rows:
            return float("nan")
        return float(np.mean([r.jaccard for r in self.rows]))

    @property
    def share_below_half(self) -> float:
        """Share of compared keys with Jaccard@k < 0.5, in [0, 1]."""
        if not self.rows:
            return float("nan")
        return float(np.mean([r.jaccard < 0.5 for r in self.rows]))

    def summary(self) -> str:
        """One line: counts, mean Jaccard, share below 0.5, alignment residual."""
        res = "not aligned" if self.align == "none" else f"Procrustes residual {self.residual:.4f}"
        how = "" if self.search == "exact" else f"; neighbors {self.search}"
        return (
            f"{self.shared:,} shared keys ({self.only_a:,} only in A, {self.only_b:,} only in B); "
            f"compared {self.compared:,} at k={self.k}: mean Jaccard {self.mean_jaccard:.4f}, "
            f"{self.share_below_half:.2%} below 0.5; {res}{how}"
        )


def shared_keys(a: Vectors, b: Vectors) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """Row ids of the keys in both tables, in A's row order: ``(ids_a, ids_b)``, int64 ``(s,)``."""
    index_b = b.key_to_index
    pairs = [(i, index_b[key]) for i, key in enumerate(a.keys) if key in index_b]
    if not pairs:
        return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.int64)
    ids = np.asarray(pairs, dtype=np.int64)
    return ids[:, 0].copy(), ids[:, 1].copy()


def neighbor_ids(unit: NDArray[np.floating], k: int) -> NDArray[np.int64]:
    """Each row's `k` nearest other rows by cosine similarity: int64 ``(n, min(k, n - 1))``.

    Exact (:func:`embviz.search.kernel.top_k`), the row itself excluded, ties to the lower id.
    """
    return neighbor_lists(unit, k)[0]


def neighbor_lists(
    unit: NDArray[np.floating], k: int, *, progress: Step | None = None
) -> tuple[NDArray[np.int64], NDArray[np.float32]]:
    """:func:`neighbor_ids` with the scores: ids int64 and cosines float32, ``(n, min(k, n - 1))``.

    The rows are searched in blocks of ``_KNN_BLOCK`` queries (the kernel answers each query
    on its own: the same ids and scores as one call); `progress(done, total)` is called with
    the rows answered after each block.
    """
    n = unit.shape[0]
    q = np.asarray(unit, dtype=np.float32)
    if progress is not None:
        progress(0, n)
    ids, scores = [], []
    for lo in range(0, max(n, 1), _KNN_BLOCK):  # one call for no row: the empty answer
        hi = min(n, lo + _KNN_BLOCK)
        i, s = top_k(unit, q[lo:hi], k, exclude=[(j,) for j in range(lo, hi)])
        ids.append(i)
        scores.append(s)
        if progress is not None:
            progress(hi, n)
    return np.concatenate(ids), np.concatenate(scores)


def jaccard_rows(ids_a: NDArray[np.int64], ids_b: NDArray[np.int64]) -> NDArray[np.float64]:
    """Jaccard index of each pair of rows of two neighbor-id arrays ``(n, k)``: float64 ``(n,)``.

    Each row holds distinct ids; ``|A & B| / |A | B|``, in [0, 1] (1 for two empty rows).
    """
    n, k = ids_a.shape
    if k == 0:
        return np.ones(n)
    both = np.sort(np.concatenate([ids_a, ids_b], axis=1), axis=1)
    inter = (both[:, 1:] == both[:, :-1]).sum(axis=1)
    return inter / (2 * k - inter)


def procrustes(source: NDArray[np.floating], target: NDArray[np.floating]) -> NDArray[np.float64]:
    """Orthogonal R ``(dim, dim)`` minimising ``||source @ R - target||_F`` (Schönemann 1966).

    ``scipy.linalg.orthogonal_procrustes(source, target)``, in float64.
    """
    from scipy.linalg import orthogonal_procrustes

    r, _ = orthogonal_procrustes(
        np.asarray(source, dtype=np.float64), np.asarray(target, dtype=np.float64)
    )
    return r


def diff(
    a: Vectors,
    b: Vectors,
    *,
    k: int = 10,
    restrict: int | None = DEFAULT_RESTRICT,
    align: Align = "procrustes",
    index: bool = False,
    nprobe: int | None = None,
    target_recall: float | None = None,
    progress: Progress | None = None,
) -> DiffReport:
    """Compare tables `a` and `b` over their shared keys.

    Parameters
    ----------
    a, b : Vectors
        The two tables (for example two trainings with different seeds). Dims may differ only
        with ``align="none"``.
    k : int
        Neighbors per key for Jaccard@k, >= 1 (default 10).
    restrict : int or None
        Compare only the first `restrict` shared keys in A's row order (the most frequent for
        real files); None compares all. Neighbors are searched among the compared keys in both
        tables, so A and B search the same vocabulary. Default 100,000.
    align : {"procrustes", "none"}
        ``"procrustes"`` rotates B's unit rows onto A's with the orthogonal matrix fitted on
        the compared keys; ``"none"`` compares raw directions (meaningful only when both tables
        share coordinates, e.g. one is a fine-tuned copy of the other).
    index : bool
        Find the neighbors with a FAISS IVF index over each table's compared keys
        (:class:`embviz.search.index.Index`, ``"ivf"``) instead of exact search: approximate,
        with each index's recall@k against exact search measured on 1,000 seeded keys and
        reported in ``search``. Needs faiss (``pip install 'embviz[index]'``).
    nprobe : int, optional
        IVF cells searched per query with `index` (more is slower and closer to exact).
        Default: the fewest of 1, 2, 4, ..., nlist whose recall@k on 1,000 seeded keys
        reaches `target_recall` (:func:`embviz.search.index_tune.tune_depth`; each table
        chooses its own), or one cell in 16 without `target_recall`.
    target_recall : float, optional
        In (0, 1]: with `index` and no `nprobe`, the recall@k each index's ``nprobe`` is
        chosen to reach.
    progress : callable ``(stage, done, total)``, optional
        Called as work advances; `stage` is a short text, in this order: ``"shared keys"``,
        ``"neighbors in A"`` and ``"neighbors in B"`` (`done` of `total` compared keys
        searched; with `index`, ``"A: IVF index"``, ``"A: neighbors from the index"``,
        ``"A: recall@K on 1,000 keys"`` (with `target_recall`: ``"A: choosing nprobe for
        recall@K >= T"`` first) and the same for B), then ``"Procrustes alignment"``
        (with ``align="procrustes"``) and ``"ranking the changes"``. `total` is None for a
        stage that only reports its start. The results do not depend on it.

    Returns
    -------
    DiffReport
        Rows sorted biggest change first, plus counts and the alignment residual.

    Raises
    ------
    InvalidQuery
        If the tables share no key, ``k < 1``, ``restrict < 1``, `align` is unknown, or the
        dims differ with ``align="procrustes"``.

    Examples
    --------
    >>> from embviz import Vectors
    >>> a = Vectors(["x", "y", "z"], [[1, 0], [0, 1], [1, 1]])
    >>> diff(a, a, k=1).mean_jaccard
    1.0
    """
    if k < 1:
        raise InvalidQuery(f"k must be at least 1, got {k}")
    if restrict is not None and restrict < 1:
        raise InvalidQuery(f"restrict must be at least 1, got {restrict}")
    if align not in ("procrustes", "none"):
        raise InvalidQuery(f"unknown alignment {align!r}: expected 'procrustes' or 'none'")
    if align == "procrustes" and a.dim != b.dim:
        raise InvalidQuery(
            f"cannot align: A has dim {a.dim} and B has dim {b.dim}; "
            "Procrustes needs equal dims (use --align none to compare neighbor sets only)"
        )
    report = progress or _no_progress
    report("shared keys", 0, None)
    ia, ib = shared_keys(a, b)
    if len(ia) == 0:
        raise InvalidQuery(
            f"the tables share no key (A has {a.count:,} keys, e.g. {_first(a)}; "
            f"B has {b.count:,}, e.g. {_first(b)})"
        )
    shared = len(ia)
    if restrict is not None:
        ia, ib = ia[:restrict], ib[:restrict]
    ua = np.asarray(a.unit[ia], dtype=np.float32)
    ub = np.asarray(b.unit[ib], dtype=np.float32)
    search = "exact"
    if index:
        (na, sa, ra, how), (nb, sb, rb, how_b) = (_index_lists(ua, k, nprobe, target_recall, "A", report),
                                                  _index_lists(ub, k, nprobe, target_recall, "B", report))
        if how_b != how:  # each table chose its own nprobe
            how = f"{how} in A, {how_b.rsplit('=', 1)[1]} in B"
        search = f"approximate ({how}; recall@{na.shape[1]} {ra:.3f} in A, {rb:.3f} in B)"
    else:
        (na, sa) = neighbor_lists(ua, k, progress=lambda done, total: report("neighbors in A", done, total))
        (nb, sb) = neighbor_lists(ub, k, progress=lambda done, total: report("neighbors in B", done, total))
    jac = jaccard_rows(na, nb)

    rotation = None
    residual = float("nan")
    if align == "procrustes":
        report("Procrustes alignment", 0, None)
        rotation = procrustes(ub, ua)
        ub_r = ub.astype(np.float64) @ rotation
        den = np.linalg.norm(ua.astype(np.float64))
        residual = float(np.linalg.norm(ub_r - ua) / den) if den > 0 else 0.0
        cos = _row_cosines(ua.astype(np.float64), ub_r)
    elif a.dim == b.dim:
        cos = _row_cosines(ua.astype(np.float64), ub.astype(np.float64))
    else:
        cos = np.full(len(ia), np.nan)

    # cosines equal to 9 decimals tie (a self-diff's 1 - 1e-16 is 1), then A's rank decides
    report("ranking the changes", 0, None)
    order = np.lexsort((ia, np.round(np.nan_to_num(cos, nan=2.0), 9), jac))
    rows = [
        KeyChange(a.keys[ia[j]], int(ia[j]) + 1, int(ib[j]) + 1, float(jac[j]), float(cos[j]))
        for j in order.tolist()
    ]
    return DiffReport(
        rows=rows,
        shared=shared,
        only_a=a.count - shared,
        only_b=b.count - shared,
        compared=len(ia),
        k=int(na.shape[1]),
        align=align,
        residual=residual,
        rotation=rotation,
        keys=KeyArrays(ia, ib, na, nb, sa, sb, jac, cos),
        search=search,
    )


def _index_lists(unit: NDArray[np.float32], k: int, nprobe: int | None, target: float | None, name: str,
                 report: Progress):
    """Each row's `k` nearest other rows from an IVF index: ids, scores, recall@k, description.

    Without `nprobe` and with a `target` recall, ``nprobe`` is chosen by measured recall@k
    (:func:`embviz.search.index_tune.tune_depth`, untimed). `name` (``"A"`` or ``"B"``)
    prefixes the stages given to `report`.
    """
    from embviz.search.index import RECALL_SAMPLE, Index, tune_depth

    n = unit.shape[0]
    k = min(k, n - 1)
    if k < 1:
        return np.zeros((n, 0), np.int64), np.zeros((n, 0), np.float32), 1.0, "ivf"
    report(f"{name}: IVF index", 0, None)
    idx = Index.build(unit, "ivf", nprobe=nprobe)
    recall = None
    if nprobe is None and target is not None:
        recall = tune_depth(idx, target=target, k=k, timed=False,
                            progress=lambda stage, done, total: report(f"{name}: {stage}", done, total)).recall
    report(f"{name}: neighbors from the index", 0, None)
    ids, scores = idx.search(unit, k, exclude=[(i,) for i in range(n)])
    how = f"ivf, nlist={idx.params['nlist']}, nprobe={idx.params['nprobe']}"
    if recall is None:
        report(f"{name}: recall@{k} on {min(RECALL_SAMPLE, n):,} keys", 0, None)
        recall = idx.recall(unit, k=k)
    return ids, scores, recall, how


def _no_progress(stage: str, done: int, total: int | None) -> None:
    return None


def _row_cosines(x: NDArray[np.float64], y: NDArray[np.float64]) -> NDArray[np.float64]:
    """Cosine of each pair of rows, 0 where either row is zero: float64 ``(n,)``."""
    num = np.einsum("ij,ij->i", x, y)
    den = np.linalg.norm(x, axis=1) * np.linalg.norm(y, axis=1)
    out = np.divide(num, den, out=np.zeros_like(num), where=den > 0)
    return np.clip(out, -1.0, 1.0)


def _first(v: Vectors, n: int = 3) -> str:
    return ", ".join(repr(key) for key in v.keys[:n]) or "none"
