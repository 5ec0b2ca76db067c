"""Next-item evaluation: predict each user's next item from the items before it.

The protocol of sequential and session-based recommendation (Ludewig & Jannach 2018,
"Evaluation of Session-based Recommendation Algorithms"; Kang & McAuley 2018, SASRec):

- **Split.** Leave-last-out (default): each user's last event is the target, the events before
  it the history. Global time split (``split_time=T``): the target is each user's first event at
  or after T, the history the user's events before T, and the training events all events before
  T (no leakage from the future). Events are ordered by the time column, ties by file order.
- **Query.** The vector of the last item before the target, or the mean of the raw vectors of
  the last ``context`` items (items outside the table skipped).
- **Ranking.** Every row of the item table is a candidate: full-catalogue ranking, never a
  sample of negatives, whose metrics need not agree with the full ranking even in the order
  of models (Krichene & Rendle, "On Sampled Metrics for Item Recommendation", KDD 2020). The
  user's seen items (known items of the history) are excluded unless ``exclude_seen=False``; a
  target the user had already seen is then a miss and is counted (``repeats``): RecBole's
  full-sort evaluation of general recommenders masks every training item of the user the
  same way, target included; its sequential models mask nothing (``exclude_seen=False``).
  Keeping the target but excluding the other seen items would leak the answer (it would be
  the only seen item left).
- **Metrics** at each k, over users with one relevant item each: hit rate HR@k (= recall@k),
  MRR@k (``1 / rank``), NDCG@k (``1 / log2(rank + 1)``; the ideal DCG is 1), each with a 95%
  percentile bootstrap interval over users; catalogue coverage@k, the Gini coefficient of how
  often each item is recommended, and the long-tail share; and HR/NDCG by the popularity
  decile of the target.
- **Baselines**, same users, split and exclusions: ``popularity`` (most training events first)
  and item-item ``co-occurrence`` (a candidate's score is the number of training users whose
  history holds both it and a query item, summed over the query items: the association-rule
  baseline of Ludewig & Jannach 2018 with a whole history as the session). Ties go to the more
  popular item, then the lower row.

Every user's top ``max(k)`` comes from the one exact kernel (:func:`embviz.search.top_k_by`)
in blocks of users with their exclusions; the targets' ranks are read off those lists. The
bookkeeping around it is numpy over whole blocks, never a Python loop per event. Nothing here
prints.
"""

from __future__ import annotations

import math
import os
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Sequence

import numpy as np

from embviz.errors import EmbvizError, InvalidQuery, warn
from embviz.evaluate.reports import DecileScore, NextItemReport, NextItemScore
from embviz.search.metric import check_metric
from embviz.search.recommender import USER_BLOCK, _top_per_user

if TYPE_CHECKING:
    from numpy.typing import NDArray

    from embviz.io.interactions import Histories
    from embviz.vectors import Vectors

#: The baselines, in output order.
BASELINES: tuple[str, ...] = ("popularity", "co-occurrence")
#: Bootstrap resamples over users by default.
RESAMPLES = 1000
#: The short head: the most popular fifth of the item table (by training events); the rest is
#: the long tail of ``tail``.
HEAD_SHARE = 0.2
#: Popularity slices of the per-decile scores.
DECILES = 10
#: Co-occurrence scores held at once (float64: 128 MiB).
_COOC_CELLS = 1 << 24

Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class _Split:
    """Who is evaluated, on what, and the training events (positions in the histories)."""

    who: NDArray[np.int64]  # (m,) users' positions in the histories
    target: NDArray[np.int64]  # (m,) item rows
    known_lo: NDArray[np.int64]  # (m,) the user's known history items: kitems[known_lo:known_hi]
    known_hi: NDArray[np.int64]
    kitems: NDArray[np.int64]  # item rows of the known events, in history order
    train: NDArray[np.bool_]  # (nnz,) events that are training events
    split: str
    one_event: int
    no_history: int
    no_target: int
    unknown: int


def next_item(
    items: Vectors,
    interactions: str | os.PathLike | Histories,
    k: int | Sequence[int] = (10, 20),
    *,
    metric: str = "cosine",
    split_time: Any = None,
    context: int = 1,
    exclude_seen: bool = True,
    baselines: Sequence[str] = BASELINES,
    resamples: int = RESAMPLES,
    seed: int = 0,
    user_column: str | None = None,
    item_column: str | None = None,
    time_column: str | None = None,
    name: str | None = None,
    block: int = USER_BLOCK,
    progress: Progress | None = None,
) -> NextItemReport:
    """Evaluate item vectors at predicting each user's next item, against two baselines.

    Parameters
    ----------
    items : Vectors
        The item table ``(n_items, dim)``: the catalogue ranked for every user.
    interactions : path-like or Histories
        An interaction log (Parquet, Arrow, CSV, TSV: user, item[, timestamp]), read with
        :func:`embviz.io.interactions.read_histories` keeping unknown items and times; or
        histories read that way (``keep_unknown=True, with_times=True``). Histories that
        dropped unknown items may have shifted targets (a warning says so).
    k : int or sequence of int
        Cut-offs, each >= 1; the ranking is computed once, to ``max(k)``.
    metric : {"cosine", "dot", "euclidean"}
        The score of the vectors (:mod:`embviz.search.metric`): ``dot`` for factor models
        (ALS, two-tower), ``cosine`` for item2vec/word2vec vectors.
    split_time : number, str or datetime, optional
        Global time split at T: targets are each user's first event at or after T, histories
        and training events those before T. T is compared with the time column: a number for
        numeric times, an ISO 8601 date or time for dates. Default: leave-last-out.
    context : int
        The query is the mean of the vectors of the last `context` known items before the
        target (>= 1; 1: the last item's vector).
    exclude_seen : bool
        Exclude each user's known history items from the ranking (a repeated target is a
        miss, counted in ``repeats``). False ranks every item.
    baselines : sequence of {"popularity", "co-occurrence"}
        Baselines to evaluate on the same users, split and exclusions (``()`` for none).
        Co-occurrence builds an item x item sparse matrix from the training histories: its
        cost grows with the square of history lengths.
    resamples : int
        Bootstrap resamples over users for the 95% intervals (>= 0; 0: NaN intervals).
    seed : int
        Seed of the bootstrap (the same seed gives the same intervals).
    user_column, item_column, time_column : str, optional
        Columns of the log (as :func:`~embviz.io.interactions.read_histories`).
    name : str, optional
        The model's name in the rows; default ``"<items.source> (<metric>)"``.
    block : int
        Users per kernel call.
    progress : callable ``(done, total)``, optional
        Called after each block of users.

    Returns
    -------
    NextItemReport
        ``scores`` (model x k rows: HR, MRR, NDCG with intervals, coverage, Gini, tail),
        ``deciles``, per-user ``ranks``, and the counts of users skipped and targets
        left out.

    Raises
    ------
    InvalidQuery
        If `k`, `context`, `resamples`, `metric` or a baseline is invalid, or `split_time`
        does not fit the time column (or there is none).
    FormatError
        If the log cannot be read (missing column, no events, times that are not times).
    EmbvizError
        If no user can be evaluated (every user skipped; the message counts why).

    Notes
    -----
    Bootstrap intervals: the percentile interval (2.5th and 97.5th percentiles) of the metric
    over `resamples` resamples of the evaluated users with replacement. A user's HR, MRR and
    NDCG depend only on the rank of its target, so a resample is drawn as multinomial counts of
    users per rank (``1..max(k)``, miss), which has exactly the distribution of resampling
    users: ``O(resamples x max(k))`` instead of ``O(resamples x users)``. Each model and
    decile draws from ``numpy.random.default_rng`` seeded with `seed` (and the decile).
    """
    from embviz.io.interactions import Histories, read_histories

    started = time.perf_counter()
    metric = check_metric(metric)
    ks = _check_ks(k)
    if int(context) != context or context < 1:
        raise InvalidQuery(f"context must be at least 1 item, got {context}")
    context = int(context)
    if int(resamples) != resamples or resamples < 0:
        raise InvalidQuery(f"resamples must be 0 or more, got {resamples}")
    chosen = check_baselines(baselines)
    if isinstance(interactions, Histories):
        h = interactions
        if h.unknown_items and not h.kept_unknown:
            warn(
                f"{h.source}: {h.unknown_items:,} events with items not in the item table were dropped when the "
                "log was read, so a target may have shifted to an earlier event; read it with keep_unknown=True"
            )
    else:
        h = read_histories(
            interactions, items.keys, user_column=user_column, item_column=item_column,
            time_column=time_column, keep_unknown=True, with_times=True,
        )
    n = items.count
    if n == 0:
        raise InvalidQuery("the item table is empty: nothing to rank")
    sp = _split(h, split_time)
    m = len(sp.who)
    if m == 0:
        raise EmbvizError(
            f"{h.source}: no user can be evaluated ({len(h.users):,} users: {sp.one_event:,} with one event, "
            f"{sp.no_history:,} without a known item before the target, {sp.no_target:,} without an event at "
            f"or after the split time, {sp.unknown:,} whose target is not in the item table)"
        )
    kmax = min(max(ks), n)
    known_events = h.items >= 0
    pop = np.bincount(h.items[sp.train & known_events], minlength=n).astype(np.int64)
    order = np.lexsort((np.arange(n), -pop))  # most popular first, ties to the lower row
    posn = np.empty(n, dtype=np.int64)
    posn[order] = np.arange(n)
    head = posn < math.ceil(HEAD_SHARE * n)

    # the users' seen items (known history) and query items (the last `context` of them)
    lo, hi = sp.known_lo, sp.known_hi
    hist_len = hi - lo
    ctx_lo = np.maximum(lo, hi - context)
    repeats_mask = _in_pairs(np.arange(m), sp.target, lo, hi, sp.kitems)
    model = name or f"{items.source or 'vectors'} ({metric})"
    cooc = _cooccurrence(h, sp, n) if "co-occurrence" in chosen else None
    models = [model, *chosen]
    ranks = {mdl: np.zeros(m, dtype=np.int64) for mdl in models}
    counts = {mdl: {kk: np.zeros(n, dtype=np.int64) for kk in ks} for mdl in models}
    seconds = dict.fromkeys(models, 0.0)
    zero_queries = 0
    if progress is not None:
        progress(0, m)
    for b0 in range(0, m, block):
        b1 = min(m, b0 + block)
        bl, bh, cl = lo[b0:b1], hi[b0:b1], ctx_lo[b0:b1]
        target = sp.target[b0:b1]
        excl = [sp.kitems[a:b] for a, b in zip(bl.tolist(), bh.tolist())] if exclude_seen else None
        ctx_pos, ctx_seg = _ranges(cl, bh)
        ctx_items = sp.kitems[ctx_pos]

        t0 = time.perf_counter()
        ids, zeros = _model_top(items, ctx_items, ctx_seg, bh - cl, kmax, metric, excl)
        zero_queries += zeros
        _record(ids, target, b0, ranks[model], counts[model], ks)
        seconds[model] += time.perf_counter() - t0

        if exclude_seen:
            ex_rows = np.repeat(np.arange(b1 - b0), hist_len[b0:b1])
            ex_items = sp.kitems[_ranges(bl, bh)[0]]
        else:
            ex_rows = ex_items = np.zeros(0, dtype=np.int64)
        if "popularity" in chosen:
            t0 = time.perf_counter()
            ids = _popular_top(order, posn, ex_rows, ex_items, b1 - b0, kmax)
            _record(ids, target, b0, ranks["popularity"], counts["popularity"], ks)
            seconds["popularity"] += time.perf_counter() - t0
        if cooc is not None:
            t0 = time.perf_counter()
            ids = _cooccurrence_top(cooc, order, posn, ctx_items, ctx_seg, ex_rows, ex_items, b1 - b0, kmax)
            _record(ids, target, b0, ranks["co-occurrence"], counts["co-occurrence"], ks)
            seconds["co-occurrence"] += time.perf_counter() - t0
        if progress is not None:
            progress(b1, m)

    cold = int((pop[sp.target] == 0).sum())
    decile = posn[sp.target] * DECILES // n  # 0 = most popular tenth
    in_decile = np.bincount(np.arange(n) * DECILES // n, minlength=DECILES)
    scores: list[NextItemScore] = []
    deciles: list[DecileScore] = []
    for mdl in models:
        r = ranks[mdl]
        boot = _bootstrap(r, kmax, ks, resamples, np.random.default_rng(seed))
        for kk in ks:
            point = _point(r, kk)
            c = counts[mdl][kk]
            scores.append(NextItemScore(
                mdl, kk, m, point["hr"], *boot[kk]["hr"], point["mrr"], *boot[kk]["mrr"],
                point["ndcg"], *boot[kk]["ndcg"], float((c > 0).sum() / n), gini(c),
                float(c[~head].sum() / c.sum()) if c.sum() else math.nan, cold, sp.unknown,
            ))
        for d in range(DECILES):
            rd = r[decile == d]
            boot_d = _bootstrap(rd, kmax, ks, resamples, np.random.default_rng([seed, d + 1]))
            for kk in ks:
                point = _point(rd, kk)
                deciles.append(DecileScore(
                    mdl, kk, d + 1, int(in_decile[d]), len(rd), point["hr"], *boot_d[kk]["hr"],
                    point["ndcg"], *boot_d[kk]["ndcg"],
                ))
    seconds["total"] = time.perf_counter() - started
    users = h.users
    return NextItemReport(
        scores=scores,
        deciles=deciles,
        ranks=ranks,
        user_keys=tuple(users[j] for j in sp.who.tolist()),
        split=sp.split,
        metric=metric,
        context=context,
        exclude_seen=exclude_seen,
        catalogue=n,
        users_total=len(users),
        one_event=sp.one_event,
        no_history=sp.no_history,
        no_target=sp.no_target,
        cold=cold,
        unknown=sp.unknown,
        repeats=int(repeats_mask.sum()),
        zero_queries=zero_queries,
        events=len(h.items),
        train_events=int((sp.train & known_events).sum()),
        resamples=int(resamples),
        seed=seed,
        source=h.source,
        time_column=h.time_column,
        seconds=seconds,
    )


# -- validation ------------------------------------------------------------------------------
def _check_ks(k: int | Sequence[int]) -> list[int]:
    values = [k] if isinstance(k, (int, np.integer)) else list(k)
    if not values:
        raise InvalidQuery("give at least one k")
    out = []
    for v in values:
        if isinstance(v, bool) or int(v) != v or v < 1:
            raise InvalidQuery(f"k must be a whole number of at least 1, got {v!r}")
        out.append(int(v))
    return sorted(set(out))


def check_baselines(baselines: str | Sequence[str]) -> list[str]:
    """Return the baselines named in `baselines` (a list, or ``"popularity,co-occurrence"``; ``none``), in output order.

    Raises
    ------
    InvalidQuery
        For a name other than popularity, co-occurrence (cooccurrence) or none.
    """
    if isinstance(baselines, str):
        baselines = [b for b in baselines.split(",") if b.strip()]
    names = {"popularity": "popularity", "pop": "popularity", "co-occurrence": "co-occurrence",
             "cooccurrence": "co-occurrence", "cooc": "co-occurrence"}
    out = []
    for b in baselines:
        key = str(b).strip().lower()
        if key == "none":
            continue
        if key not in names:
            raise InvalidQuery(f"unknown baseline {b!r}: expected popularity, co-occurrence or none")
        out.append(names[key])
    return [b for b in BASELINES if b in out]


def _as_time(value: Any, times: NDArray[Any]) -> Any:
    """`value` as a scalar comparable with `times` (numbers or datetime64), else InvalidQuery."""
    if times.dtype.kind == "M":
        if isinstance(value, (int, float, np.number)) and not isinstance(value, bool):
            raise InvalidQuery(
                f"split time {value!r}: the time column holds dates and times; give an ISO 8601 date or time "
                "such as 1998-01-01"
            )
        try:
            t = np.datetime64(value.replace(tzinfo=None) if hasattr(value, "tzinfo") and value.tzinfo else value)
        except (ValueError, TypeError):
            t = np.datetime64("NaT")
        if np.isnat(t):
            raise InvalidQuery(f"split time {value!r} is not an ISO 8601 date or time (e.g. 1998-01-01T00:00)")
        return t.astype(times.dtype)
    try:
        t = float(value)
    except (ValueError, TypeError):
        raise InvalidQuery(f"split time {value!r}: the time column holds numbers; give a number") from None
    if not math.isfinite(t):
        raise InvalidQuery(f"split time {value!r} is not a finite number")
    return t


# -- the split -------------------------------------------------------------------------------
def _split(h: Histories, split_time: Any) -> _Split:
    """Choose each user's target and history (see the module docstring)."""
    lengths = h.lengths()
    starts, ends = h.indptr[:-1], h.indptr[1:]
    nnz = len(h.items)
    train = np.ones(nnz, dtype=bool)
    if split_time is None:
        one_event = int((lengths == 1).sum())
        users = np.flatnonzero(lengths >= 2)
        tpos = ends[users] - 1
        train[tpos] = False
        hist_end = tpos
        no_target = 0
        split = "leave-last-out"
    else:
        if h.times is None:
            raise InvalidQuery(
                f"{h.source}: a split time needs a time column (--time-column); the events have no times"
            )
        t = _as_time(split_time, h.times)
        before = h.times < t
        train = before.copy()
        n_before = np.add.reduceat(before.astype(np.int64), starts) if nnz else np.zeros(0, np.int64)
        one_event = 0
        has_target = n_before < lengths
        no_target = int((~has_target).sum())
        users = np.flatnonzero(has_target)
        tpos = starts[users] + n_before[users]
        hist_end = tpos
        split = f"time >= {split_time}"
    target = h.items[tpos]
    known = h.items >= 0
    kpos = np.flatnonzero(known)
    ck = np.concatenate([[0], np.cumsum(known)]).astype(np.int64)
    known_lo, known_hi = ck[starts[users]], ck[hist_end]
    unknown_target = target < 0
    no_hist = ~unknown_target & (known_hi == known_lo)
    keep = ~unknown_target & ~no_hist
    return _Split(
        who=users[keep],
        target=target[keep],
        known_lo=known_lo[keep],
        known_hi=known_hi[keep],
        kitems=h.items[kpos],
        train=train,
        split=split,
        one_event=one_event,
        no_history=int(no_hist.sum()),
        no_target=no_target,
        unknown=int(unknown_target.sum()),
    )


def _ranges(lo: NDArray[np.int64], hi: NDArray[np.int64]) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """Concatenated ``arange(lo[i], hi[i])`` ``(sum,)`` and the start of each in it ``(len(lo),)``."""
    lengths = hi - lo
    seg = np.zeros(len(lo), dtype=np.int64)
    np.cumsum(lengths[:-1], out=seg[1:])
    pos = np.arange(int(lengths.sum()), dtype=np.int64) + np.repeat(lo - seg, lengths)
    return pos, seg


def _in_pairs(rows, targets, lo, hi, kitems) -> NDArray[np.bool_]:  # noqa: ANN001
    """Whether each user's target is among its known history items ``kitems[lo:hi]``."""
    pos, _ = _ranges(lo, hi)
    owner = np.repeat(rows, hi - lo)
    span = int(max(int(kitems.max(initial=0)), int(targets.max(initial=0)))) + 1
    return np.isin(rows * span + targets, owner * span + kitems[pos])


# -- the models ------------------------------------------------------------------------------
def _model_top(items, ctx_items, ctx_seg, ctx_len, k, metric, excl):  # noqa: ANN001, ANN202
    """Return the vectors' top `k` ``(b, k)`` (-1: none) for a block, and its count of all-zero queries."""
    rows = np.asarray(items.matrix[ctx_items], dtype=np.float64)
    q = (np.add.reduceat(rows, ctx_seg, axis=0) / ctx_len[:, None]).astype(np.float32)
    b = len(q)
    ids = np.full((b, k), -1, dtype=np.int64)
    zero = ~np.any(q != 0, axis=1) if metric == "cosine" else np.zeros(b, dtype=bool)
    ok = np.flatnonzero(~zero)
    if len(ok) == b:
        got, _ = _top_per_user(items, q, k, metric, excl, None)
        ids[:, : got.shape[1]] = got
    elif len(ok):
        got, _ = _top_per_user(items, q[ok], k, metric, None if excl is None else [excl[i] for i in ok], None)
        ids[ok, : got.shape[1]] = got
    return ids, int(zero.sum())


def _popular_top(order, posn, ex_rows, ex_items, b, k):  # noqa: ANN001, ANN202
    """Each row's `k` most popular items ``(b, k)`` (-1: none left), its excluded items removed.

    `order` lists the items most popular first; ``posn[item]`` is its place there. With the
    excluded places ``e_0 < e_1 < ...`` of a row, its ``r``-th free place (0-based) is ``r``
    plus the number of ``i`` with ``e_i - i <= r``: one sorted search per block.
    """
    n = len(order)
    k = min(k, n)
    span = n + 1
    key = np.unique(ex_rows * span + posn[ex_items])  # sorted by row, then place; distinct
    r, p = key // span, key % span
    start = np.searchsorted(r, np.arange(b + 1))
    adj = r * span + (p - (np.arange(len(key)) - start[r]))  # nondecreasing
    query = np.arange(b)[:, None] * span + np.arange(k)[None, :]
    place = np.arange(k)[None, :] + (np.searchsorted(adj, query, side="right") - start[:b, None])
    return np.where(place < n, order[np.minimum(place, n - 1)], -1)


def _cooccurrence(h: Histories, sp: _Split, n: int):  # noqa: ANN202
    """Item x item co-occurrence ``(n, n)`` scipy CSR: training users whose history holds both.

    Built from the binary user x item matrix ``B`` of the training events (known items):
    ``C = B.T @ B`` with a zero diagonal (an item does not co-occur with itself).
    """
    import scipy.sparse as sps

    use = sp.train & (h.items >= 0)
    owner = np.repeat(np.arange(len(h.users), dtype=np.int64), h.lengths())[use]
    b = sps.csr_matrix(
        (np.ones(int(use.sum()), dtype=np.float64), (owner, h.items[use])), shape=(len(h.users), n)
    )
    b.sum_duplicates()
    b.data[:] = 1.0
    c = (b.T @ b).tocsr()
    c.setdiag(0)
    c.eliminate_zeros()
    return c


def _cooccurrence_top(cooc, order, posn, ctx_items, ctx_seg, ex_rows, ex_items, b, k):  # noqa: ANN001, ANN202
    """Co-occurrence top `k` ``(b, k)`` (-1: none left): the summed rows of the query items.

    Candidates rank by score, then popularity, then row, so items without a score follow in
    popularity order. Scored densely, ``_COOC_CELLS`` scores at a time: one key per item,
    ``score * n + (n - 1 - place)`` (exact in float64: integer counts), then a partition.
    """
    import scipy.sparse as sps

    n = len(order)
    k = min(k, n)
    indptr = np.append(ctx_seg, len(ctx_items))
    a = sps.csr_matrix((np.ones(len(ctx_items)), ctx_items, indptr), shape=(b, n))
    tie = (n - 1 - posn).astype(np.float64)  # popularity, then row: distinct per item
    ids = np.empty((b, k), dtype=np.int64)
    step = max(1, _COOC_CELLS // n)
    for lo in range(0, b, step):
        hi = min(b, lo + step)
        key = (a[lo:hi] @ cooc).toarray()
        key *= n
        key += tie
        pick = (ex_rows >= lo) & (ex_rows < hi)
        key[ex_rows[pick] - lo, ex_items[pick]] = -1.0
        top = np.argpartition(-key, k - 1, axis=1)[:, :k] if k < n else np.broadcast_to(np.arange(n), key.shape)
        val = np.take_along_axis(key, top, axis=1)
        o = np.argsort(-val, axis=1, kind="stable")
        top, val = np.take_along_axis(top, o, axis=1), np.take_along_axis(val, o, axis=1)
        ids[lo:hi] = np.where(val >= 0, top, -1)
    return ids


# -- metrics ---------------------------------------------------------------------------------
def _record(ids, target, b0, ranks, counts, ks) -> None:  # noqa: ANN001
    """Store the targets' ranks (0: not in the list) and add the lists to the counts per k."""
    hit = ids == target[:, None]
    found = hit.any(axis=1)
    ranks[b0 : b0 + len(ids)] = np.where(found, hit.argmax(axis=1) + 1, 0)
    n = len(next(iter(counts.values())))
    for kk in ks:
        top = ids[:, :kk]
        counts[kk] += np.bincount(top[top >= 0], minlength=n)


def _point(ranks: NDArray[np.int64], k: int) -> dict[str, float]:
    """HR@k, MRR@k and NDCG@k of 1-based `ranks` (0: a miss); NaN for no users."""
    if len(ranks) == 0:
        return {"hr": math.nan, "mrr": math.nan, "ndcg": math.nan}
    hit = (ranks > 0) & (ranks <= k)
    r = np.where(hit, ranks, 1).astype(np.float64)
    return {
        "hr": float(hit.mean()),
        "mrr": float(np.where(hit, 1.0 / r, 0.0).mean()),
        "ndcg": float(np.where(hit, 1.0 / np.log2(r + 1.0), 0.0).mean()),
    }


def _bootstrap(ranks, kmax, ks, resamples, rng) -> dict[int, dict[str, tuple[float, float]]]:  # noqa: ANN001
    """95% percentile intervals of HR, MRR and NDCG at each k (see :func:`next_item`'s Notes)."""
    m = len(ranks)
    nan = (math.nan, math.nan)
    if m == 0 or resamples == 0:
        return {kk: {"hr": nan, "mrr": nan, "ndcg": nan} for kk in ks}
    levels = np.bincount(ranks, minlength=kmax + 1)  # users per rank; [0]: misses
    draws = rng.multinomial(m, levels / m, size=resamples)[:, 1:].astype(np.float64) / m  # (B, kmax)
    r = np.arange(1, kmax + 1, dtype=np.float64)
    out = {}
    for kk in ks:
        d = draws[:, :kk]
        vals = {"hr": d.sum(axis=1), "mrr": d @ (1.0 / r[:kk]), "ndcg": d @ (1.0 / np.log2(r[:kk] + 1.0))}
        out[kk] = {name: tuple(float(x) for x in np.percentile(v, [2.5, 97.5])) for name, v in vals.items()}
    return out


def gini(counts: NDArray[np.integer]) -> float:
    """Gini coefficient of `counts` ``(n,)`` (how often each item was recommended), in [0, 1].

    ``sum_i (2 i - n - 1) c_(i) / (n sum c)`` over the counts sorted ascending, ``i`` 1-based
    (0: all equal; ``(n - 1) / n``: one item takes every slot); NaN when all are zero. Items
    never recommended count, as in RecBole's ``GiniIndex``.
    """
    c = np.sort(np.asarray(counts, dtype=np.float64))
    n, total = len(c), c.sum()
    if n == 0 or total == 0:
        return math.nan
    i = np.arange(1, n + 1, dtype=np.float64)
    return float(((2 * i - n - 1) * c).sum() / (n * total))
