"""Rank items for users: user vectors (a factor table, or the mean of a history), top-k, exclusions.

A user is a vector in the items' space: a row of a user table (ALS ``user_factors``, a two-tower
model's user tower), or the mean of the vectors of the items in the user's history, as YouTube's
candidate generation averages watch vectors (Covington et al., RecSys 2016). Users are scored
in blocks, one matrix product per block, through the one kernel (:mod:`embviz.search.kernel`);
what a user has seen can be excluded (implicit ``filter_already_liked_items``, TFRS
``query_with_exclusions``) and the candidates restricted to a subset (implicit ``items=``).
Nothing here prints; :func:`recommend_blocks` streams, so a million users never sit in memory
at once.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Iterator, Sequence

import numpy as np

from embviz.errors import InvalidQuery, KeyNotFound, warn
from embviz.search.metric import check_metric, top_k_by
from embviz.search.selection import Exclusions

if TYPE_CHECKING:
    from numpy.typing import NDArray

    from embviz.io.interactions import Histories
    from embviz.vectors import Vectors

#: Users handed to the kernel per call. The kernel scores them 1,024 at a time and spreads
#: those blocks over the cores (``kernel._select_threads``); one 1,024-user call per block left
#: it a single block, so one thread (8,192: 10.25 s -> 7.2-8.0 s for 100,000 x 50,000 x 64).
USER_BLOCK = 8192


@dataclass(frozen=True, slots=True)
class Recommendation:
    """One recommended item: ``rank`` is 1-based, ``score`` in the request's metric."""

    user: str
    rank: int
    item: str
    score: float


@dataclass(frozen=True)
class Users:
    """The users of a request: their keys and where their vectors come from.

    Attributes
    ----------
    keys : tuple of str
        User keys, in output order.
    table_rows : ndarray ``(u,)`` int64 or None
        Rows of the user table, when the vectors come from one.
    history_rows : ndarray ``(u,)`` int64
        Each user's position in the histories, or -1 for a user without one.
    source : str
        ``"user table users.parquet"`` or ``"mean of the history's item vectors"``, for stderr
        and JSON provenance.
    """

    keys: tuple[str, ...]
    table_rows: NDArray[np.int64] | None
    history_rows: NDArray[np.int64]
    source: str


def mean_vectors(
    items: Vectors,
    histories: Histories,
    who: NDArray[np.int64],
    *,
    recent: int | None = None,
    weighted: bool = False,
) -> NDArray[np.float32]:
    """Return the users' vectors as the mean of their history's item vectors.

    Parameters
    ----------
    items : Vectors
        The item table ``(n_items, dim)``.
    histories : Histories
        Users' histories over the rows of `items`, oldest first.
    who : ndarray ``(m,)`` int64
        Positions in `histories` (users with at least one known item).
    recent : int, optional
        Only each user's last `recent` events (by timestamp), >= 1.
    weighted : bool
        Weight each event by ``histories.weights`` (weights summing to 0 give a zero vector).

    Returns
    -------
    ndarray ``(m, dim)`` float32
        The mean of the raw item rows (YouTube's averaged watch vectors), computed in float64.
    """
    start, end = histories.indptr[who], histories.indptr[who + 1]
    if recent is not None:
        start = np.maximum(start, end - recent)
    lengths = end - start
    if (lengths <= 0).any():
        raise InvalidQuery("a user without history has no mean vector")
    # the events of the block, gathered in one pass
    offsets = np.repeat(start - np.concatenate([[0], np.cumsum(lengths)[:-1]]), lengths)
    pos = np.arange(int(lengths.sum()), dtype=np.int64) + offsets
    rows = np.asarray(items.matrix[histories.items[pos]], dtype=np.float64)
    seg = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    if weighted and histories.weights is not None:
        w = histories.weights[pos].astype(np.float64)
        sums = np.add.reduceat(rows * w[:, None], seg, axis=0)
        total = np.add.reduceat(w, seg)
        with np.errstate(invalid="ignore", divide="ignore"):
            out = np.where(total[:, None] != 0, sums / total[:, None], 0.0)
    else:
        out = np.add.reduceat(rows, seg, axis=0) / lengths[:, None]
    return out.astype(np.float32)


def resolve_users(
    *,
    user_table: Vectors | None = None,
    histories: Histories | None = None,
    wanted: Sequence[str] | None = None,
    strict: bool = False,
) -> Users:
    """Choose the users of a request and where each one's vector comes from.

    Parameters
    ----------
    user_table : Vectors, optional
        User vectors keyed by user id.
    histories : Histories, optional
        Users' histories; the user vectors when `user_table` is None, and what ``exclude_seen``
        excludes.
    wanted : sequence of str, optional
        These users, in this order (default: every user of the table, else of the histories).
    strict : bool
        Raise :class:`KeyNotFound` for an unknown user instead of skipping it with one warning.

    Raises
    ------
    InvalidQuery
        If neither a user table nor histories is given.
    KeyNotFound
        With `strict`, for the first unknown user.
    """
    if user_table is None and histories is None:
        raise InvalidQuery("recommend needs users: a user table (--users) or histories (--history)")
    pos = histories.user_to_index if histories is not None else {}
    if wanted is None:
        keys = list(user_table.keys) if user_table is not None else list(histories.users)
    else:
        keys = list(dict.fromkeys(wanted))
    if user_table is not None:
        table_rows = np.array([user_table.key_to_index.get(u, -1) for u in keys], dtype=np.int64)
        known = table_rows >= 0
        source = f"user table {user_table.source or ''}".strip()
    else:
        table_rows = None
        known = np.array([u in pos for u in keys], dtype=bool)
        source = "mean of each user's history item vectors"
    if not known.all():
        missing = [u for u, ok in zip(keys, known) if not ok]
        where = "the user table" if user_table is not None else "the history (or none of their items is known)"
        if strict:
            raise KeyNotFound(f"user {missing[0]!r} is not in {where}")
        examples = ", ".join(repr(u) for u in missing[:3])
        warn(f"skipped {len(missing):,} unknown users (not in {where}), e.g. {examples}")
        keys = [u for u, ok in zip(keys, known) if ok]
        if table_rows is not None:
            table_rows = table_rows[known]
    history_rows = np.array([pos.get(u, -1) for u in keys], dtype=np.int64)
    return Users(tuple(keys), table_rows, history_rows, source)


def recommend_blocks(
    items: Vectors,
    users: Users,
    *,
    user_table: Vectors | None = None,
    histories: Histories | None = None,
    k: int = 10,
    metric: str = "cosine",
    exclude_seen: bool = False,
    exclude: Sequence[int] = (),
    candidates: NDArray[np.int64] | None = None,
    recent: int | None = None,
    weighted: bool = False,
    block: int = USER_BLOCK,
    index: object | None = None,
    ef_search: int | None = None,
    nprobe: int | None = None,
) -> Iterator[tuple[Sequence[str], NDArray[np.int64], NDArray[np.float32]]]:
    """Yield ``(user keys, ids (b, k'), scores (b, k'))`` block by block: the array-level answer.

    Parameters
    ----------
    items : Vectors
        Item table ``(n_items, dim)``.
    users : Users
        From :func:`resolve_users`.
    user_table, histories
        As given to :func:`resolve_users`.
    k : int
        Items per user, >= 1 (fewer when fewer candidates remain).
    metric : {"cosine", "dot", "euclidean"}
        ``dot`` for factor models trained with a dot-product objective (ALS, two-tower);
        ``cosine`` (default) for item2vec/word2vec vectors, whose norms grow with rarity.
    exclude_seen : bool
        Never recommend the items of a user's history (needs `histories`).
    exclude : sequence of int
        Item rows never recommended to anyone.
    candidates : ndarray ``(c,)`` int64, optional
        Only these item rows are recommended.
    recent, weighted
        How history vectors are formed (:func:`mean_vectors`).
    block : int
        Users per kernel call (scored 1,024 at a time, blocks spread over the cores).
    index : embviz.search.index.Index, optional
        Answer from this approximate index over the items (built for `metric`); it
        over-fetches to honour the exclusions. Not with `candidates`.
    ef_search, nprobe : int, optional
        The index's search depth for this request.

    Yields
    ------
    keys : sequence of str ``(b,)``
    ids : ndarray ``(b, k')`` int64
        Item rows, best first; ties go to the lower row. A user with fewer than `k`
        candidates left after the exclusions has id -1 (and score NaN) in the rest of the row.
    scores : ndarray ``(b, k')`` float32
    """
    metric = check_metric(metric)
    if k < 1:
        raise InvalidQuery(f"k must be at least 1, got {k}")
    if exclude_seen and histories is None:
        raise InvalidQuery("--exclude-seen needs the users' histories (--history FILE)")
    if user_table is not None and user_table.dim != items.dim:
        raise InvalidQuery(
            f"user vectors have {user_table.dim} dimensions, item vectors {items.dim}: "
            "they must be in the same space"
        )
    if index is not None and index.metric != metric:
        raise InvalidQuery(f"the index was built for {index.metric}, not {metric}")
    if index is not None and candidates is not None:
        raise InvalidQuery("--include/--include-where search a subset exactly: drop --index")
    always = np.unique(np.asarray(exclude, dtype=np.int64))
    for lo in range(0, len(users.keys), block):
        hi = min(lo + block, len(users.keys))
        hrows = users.history_rows[lo:hi]
        if users.table_rows is not None:
            q = np.asarray(user_table.matrix[users.table_rows[lo:hi]], dtype=np.float32)
        else:
            q = mean_vectors(items, histories, hrows, recent=recent, weighted=weighted)
        excl = _exclusions(histories if exclude_seen else None, hrows, always) \
            if exclude_seen or len(always) else None
        keys = users.keys[lo:hi]
        if metric == "cosine":  # a zero user vector (weights summing to 0) has no direction
            zero = ~np.any(q != 0, axis=1)
            if zero.any():
                keep = ~zero
                warn(f"skipped {int(zero.sum()):,} users whose vector is all zeros (cosine needs a direction)")
                q, keys = q[keep], [u for u, ok in zip(keys, keep) if ok]
                excl = None if excl is None else excl.take(keep)
        if index is not None:
            if metric == "cosine":
                norms = np.linalg.norm(q, axis=1, keepdims=True)
                q = np.divide(q, norms, out=np.zeros_like(q), where=norms > 0)
            ids, scores = index.search(q, k, exclude=excl, ef_search=ef_search, nprobe=nprobe)
            yield keys, ids, scores
            continue
        yield keys, *_top_per_user(items, q, k, metric, excl, candidates)


def read_ahead(blocks: Iterator[Any]) -> Iterator[Any]:
    """Yield the items of `blocks`, the next one computed on a thread while the caller handles this one.

    For a consumer that writes each block (Parquet, TSV): the scoring of block i + 1 overlaps
    the writing of block i instead of leaving the cores idle meanwhile. Exceptions (and their
    types) reach the caller at the block where they happened; closing the iterator early stops
    the thread after the block it is computing.
    """
    import queue
    import threading

    box: queue.Queue = queue.Queue(maxsize=1)
    stop = threading.Event()

    def put(item: tuple) -> bool:
        while not stop.is_set():
            try:
                box.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for block in blocks:
                if not put(("block", block)):
                    return
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer
            put(("error", exc))
            return
        put(("done", None))

    thread = threading.Thread(target=produce, name="embviz-read-ahead", daemon=True)
    thread.start()
    try:
        while True:
            kind, value = box.get()
            if kind == "done":
                return
            if kind == "error":
                raise value
            yield value
    finally:
        stop.set()


def _exclusions(histories: Histories | None, hrows: NDArray[np.int64], always: NDArray[np.int64]) -> Exclusions:
    """Each user's excluded item rows: `always` ``(a,)``, then the user's history (if `histories`).

    One CSR table for the block (:class:`embviz.search.selection.Exclusions`), gathered with
    numpy: no array per user. `hrows` ``(b,)`` are positions in `histories`, -1 for none.
    """
    b, a = len(hrows), len(always)
    if histories is None:
        lens = np.zeros(b, dtype=np.int64)
        start = lens
    else:
        has = hrows >= 0
        h = np.where(has, hrows, 0)
        start = histories.indptr[h]
        lens = np.where(has, histories.indptr[h + 1] - start, 0)
    ptr = np.zeros(b + 1, dtype=np.int64)
    np.cumsum(lens + a, out=ptr[1:])
    ids = np.empty(int(ptr[-1]), dtype=np.int64)
    if a:
        ids[(ptr[:-1, None] + np.arange(a)).ravel()] = np.tile(always, b)
    if histories is not None and lens.any():
        seen = np.arange(int(lens.sum()), dtype=np.int64) + np.repeat(start - (np.cumsum(lens) - lens), lens)
        ids[np.repeat(ptr[:-1] + a - (np.cumsum(lens) - lens), lens) + np.arange(len(seen))] = histories.items[seen]
    return Exclusions(ptr, ids)


def _top_per_user(items, q, k, metric, excl, candidates):  # noqa: ANN001, ANN202
    """One block's top `k`, ``(ids, scores)`` ``(b, k')``; rows with fewer candidates padded.

    The kernel answers a block with as many results per row as the row with the most
    exclusions can have; the few users who have seen almost every candidate are answered
    one by one instead, and their rows padded with id -1 and score NaN.
    """
    n = items.count if candidates is None else len(candidates)
    if excl is None:
        return top_k_by(items, q, k, metric=metric, columns=candidates)
    excl = Exclusions.of(excl)  # next-item evaluation passes lists
    upper = excl.lengths()  # >= distinct ids
    if (n - upper >= k).all():  # almost always: no user is short of candidates
        return top_k_by(items, q, k, metric=metric, exclude=excl, columns=candidates)
    if candidates is not None:
        counts = np.array([np.count_nonzero(np.isin(np.unique(e), candidates)) for e in excl], dtype=np.int64)
    else:
        counts = np.array([len(np.unique(e)) for e in excl], dtype=np.int64)
    short = np.flatnonzero(n - counts < k)
    if not len(short):
        return top_k_by(items, q, k, metric=metric, exclude=excl, columns=candidates)
    kk = min(k, n)
    ids = np.full((len(q), kk), -1, dtype=np.int64)
    scores = np.full((len(q), kk), np.nan, dtype=np.float32)
    full = np.setdiff1d(np.arange(len(q)), short)
    if len(full):
        i, s = top_k_by(items, q[full], k, metric=metric, exclude=excl.take(full), columns=candidates)
        ids[full, : i.shape[1]], scores[full, : i.shape[1]] = i, s
    for j in short.tolist():
        if n - counts[j] <= 0:
            continue
        i, s = top_k_by(items, q[j : j + 1], k, metric=metric, exclude=[excl[j]], columns=candidates)
        ids[j, : i.shape[1]], scores[j, : i.shape[1]] = i[0], s[0]
    return ids, scores


def recommend(
    items: Vectors,
    *,
    users: Vectors | None = None,
    history: Histories | None = None,
    user_keys: Sequence[str] | None = None,
    k: int = 10,
    metric: str = "cosine",
    exclude_seen: bool = False,
    exclude: Sequence[str] = (),
    include: Sequence[str] | None = None,
    recent: int | None = None,
    weighted: bool = False,
    strict: bool = False,
) -> list[Recommendation]:
    """Return the top `k` items for each user, as rows.

    Parameters
    ----------
    items : Vectors
        The item table ``(n_items, dim)``.
    users : Vectors, optional
        A user table in the same space (ALS ``user_factors``, a two-tower user tower).
    history : Histories, optional
        Users' histories (:func:`embviz.io.interactions.read_histories`): the user vectors when
        `users` is None (mean of the items' vectors), and what `exclude_seen` excludes.
    user_keys : sequence of str, optional
        Only these users, in this order (default: all).
    k : int
        Items per user, >= 1.
    metric : {"cosine", "dot", "euclidean"}
        Cosine similarity in [-1, 1], dot product, or negative euclidean distance.
    exclude_seen : bool
        Never recommend an item of the user's history.
    exclude, include : sequence of str
        Item keys never recommended; only these item keys recommended.
    recent : int, optional
        History vectors from each user's last `recent` events only.
    weighted : bool
        History vectors weighted by the history's weight column.
    strict : bool
        Unknown users and items raise instead of being skipped with one warning.

    Returns
    -------
    list of Recommendation
        `k` rows per user (fewer when fewer candidates remain), users in order, best first.

    Raises
    ------
    InvalidQuery
        No users, ``k < 1``, an unknown metric, `exclude_seen` without a history, or user and
        item vectors of different dimensions.
    KeyNotFound
        With `strict`, an unknown user or item key.

    Examples
    --------
    >>> from embviz import Vectors
    >>> items = Vectors(["a", "b", "c"], [[1, 0], [0, 1], [1, 1]])
    >>> users = Vectors(["u"], [[2, 1]])
    >>> [(r.item, round(r.score, 3)) for r in recommend(items, users=users, k=2, metric="dot")]
    [('c', 3.0), ('a', 2.0)]
    """
    who = resolve_users(user_table=users, histories=history, wanted=user_keys, strict=strict)
    rows = item_rows(items, exclude, strict=strict, what="--exclude")
    cand = None if include is None else item_rows(items, include, strict=strict, what="--include")
    out: list[Recommendation] = []
    for keys, ids, scores in recommend_blocks(
        items, who, user_table=users, histories=history, k=k, metric=metric,
        exclude_seen=exclude_seen, exclude=rows, candidates=cand, recent=recent, weighted=weighted,
    ):
        out.extend(
            Recommendation(u, r + 1, items.keys[i], float(s))
            for u, row_ids, row_scores in zip(keys, ids.tolist(), scores.tolist())
            for r, (i, s) in enumerate(zip(row_ids, row_scores))
            if i >= 0
        )
    return out


def item_rows(items: Vectors, keys: Sequence[str], *, strict: bool = False, what: str = "items") -> NDArray[np.int64]:
    """Rows ``(c,)`` int64 of the item keys that are in `items`; unknown ones warned about once.

    Raises
    ------
    KeyNotFound
        With `strict`, for the first unknown key.
    """
    found, missing = [], []
    for key in keys:
        i = items.key_to_index.get(key)
        (missing.append(key) if i is None else found.append(i))
    if missing:
        if strict:
            raise KeyNotFound(f"{what}: item {missing[0]!r} is not in the item table")
        warn(f"{what}: {len(missing):,} items not in the item table were ignored, e.g. "
             + ", ".join(repr(m) for m in missing[:3]))
    return np.unique(np.asarray(found, dtype=np.int64))


def similar_blocks(
    vectors: Vectors,
    k: int = 10,
    *,
    metric: str = "cosine",
    restrict: int | None = None,
    index: object | None = None,
    ef_search: int | None = None,
    nprobe: int | None = None,
    block: int = USER_BLOCK,
    start: int = 0,
    stop: int | None = None,
) -> Iterator[tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.float32]]]:
    """Yield every key's `k` nearest neighbors, block by block: the similar-items table.

    Each key is excluded from its own list (so is the padding row), as ``neighbors`` does;
    ``similar_items`` in implicit returns the item itself first, embviz does not.

    Parameters
    ----------
    vectors : Vectors
        ``(n, dim)``.
    k : int
        Neighbors per key, >= 1.
    metric : {"cosine", "dot", "euclidean"}
    restrict : int, optional
        Only the first `restrict` keys are queries and candidates.
    index : embviz.search.index.Index, optional
        Answer from this approximate index (built for `metric`) instead of exact search.
    ef_search, nprobe : int, optional
        The index's search depth for this table.
    block : int
        Keys per kernel call (scored 1,024 at a time, blocks spread over the cores).
    start, stop : int
        Only the query rows ``start <= row < stop`` (default all); the candidates are still
        every key (or the first `restrict`). A Spark partition answers one such range.

    Yields
    ------
    rows : ndarray ``(b,)`` int64
        The query keys' rows.
    ids : ndarray ``(b, k')`` int64
    scores : ndarray ``(b, k')`` float32
    """
    metric = check_metric(metric)
    if k < 1:
        raise InvalidQuery(f"k must be at least 1, got {k}")
    if index is not None and index.metric != metric:
        raise InvalidQuery(f"the index was built for {index.metric}, not {metric}")
    n = vectors.count if restrict is None else min(restrict, vectors.count)
    end = n if stop is None else min(n, stop)
    pad = vectors.padding_idx
    for lo in range(max(0, start), end, block):
        rows = np.arange(lo, min(end, lo + block), dtype=np.int64)
        if pad is not None:
            rows = rows[rows != pad]
        if not len(rows):
            continue
        exclude = [(int(r),) if pad is None else (int(r), pad) for r in rows]
        if index is not None:
            q = np.asarray((vectors.unit if metric == "cosine" else vectors.matrix)[rows], dtype=np.float32)
            ids, scores = index.search(q, k, exclude=exclude, restrict=restrict, ef_search=ef_search, nprobe=nprobe)
        elif metric == "cosine":
            zero = vectors.norms[rows] == 0  # an all-zero row has no direction: no neighbors
            if zero.any():
                rows, exclude = rows[~zero], [e for e, z in zip(exclude, zero) if not z]
                if not len(rows):
                    continue
            ids, scores = top_k_by(vectors, np.asarray(vectors.unit[rows], dtype=np.float32), k,
                                   metric=metric, exclude=exclude, restrict=restrict)
        else:
            ids, scores = top_k_by(vectors, np.asarray(vectors.matrix[rows], dtype=np.float32), k,
                                   metric=metric, exclude=exclude, restrict=restrict)
        yield rows, ids, scores


def norm_popularity_spearman(items: Vectors, histories: Histories, min_items: int = 20) -> float | None:
    """Spearman correlation of the item norms with their popularity rank (1 = most events).

    Positive: rarer items have larger norms (word2vec/item2vec vectors); with a strong
    correlation the dot product ranks by norm as much as by direction. Items without events
    are left out; None when fewer than `min_items` items have events (too few to say). Ties
    ranked by row order.
    """
    counts = np.bincount(histories.items, minlength=items.count)
    seen = np.flatnonzero(counts)
    if len(seen) < max(3, min_items):
        return None
    pop_rank = np.empty(len(seen), dtype=np.float64)
    pop_rank[np.argsort(-counts[seen], kind="stable")] = np.arange(len(seen))
    norm_rank = np.empty(len(seen), dtype=np.float64)
    norm_rank[np.argsort(np.asarray(items.norms)[seen], kind="stable")] = np.arange(len(seen))
    a, b = pop_rank - pop_rank.mean(), norm_rank - norm_rank.mean()
    den = float(np.sqrt((a @ a) * (b @ b)))
    return float(a @ b / den) if den else None
