"""The answers of ``embviz serve``'s JSON API, as plain functions of a table and query parameters.

Each function takes the request's query parameters (strings, as they arrive) and returns what
the endpoint sends: JSON-ready dicts whose rows are those of the command line's JSON output
(``embviz neighbors -f json``: ``query, rank, key, score``; ``embviz analogy -f json``). Bad
parameters raise :class:`ApiError` with an HTTP status and one line, as the CLI's errors.

Bounded work: ``k`` at most :data:`MAX_K`, pages at most :data:`MAX_PAGE`, a query at most
:data:`MAX_QUERY` characters, a regular expression at most :data:`MAX_REGEX` characters, its
scan at most :data:`MAX_SCAN` keys and :data:`REGEX_SECONDS` seconds: it is matched by the
``regex`` module, whose matches take a time limit (``re`` has none, and a catastrophic pattern
such as ``/(a*)*b/`` on a key of 28 a's ran 6 s in it while holding the GIL, so the server).
Nothing here reads or writes a path the client names.
"""

from __future__ import annotations

import re
import time
from typing import TYPE_CHECKING, Any, Mapping

import numpy as np

from embviz.errors import EmbvizError

if TYPE_CHECKING:
    from embviz.vectors import Vectors

#: Largest ``k`` of a neighbors or analogy request.
MAX_K = 1000
#: Largest page of a key search.
MAX_PAGE = 1000
#: Longest query (a key or an expression), in characters.
MAX_QUERY = 1000
#: Longest regular expression, in characters.
MAX_REGEX = 200
#: Keys a regular-expression search tests at most (it reports how far it got).
MAX_SCAN = 3_000_000
#: Seconds a regular-expression search may run in all (each match is stopped at the deadline).
REGEX_SECONDS = 5.0
#: The metrics a request may ask for.
METRICS = ("cosine", "dot", "euclidean")


class ApiError(Exception):
    """A request the API refuses: ``status`` (400, 404, ...) and a one-line ``message``."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status, self.message = status, message


def _one(params: Mapping[str, str], name: str, default: str | None = None) -> str:
    value = params.get(name, default)
    if value is None:
        raise ApiError(400, f"missing parameter '{name}'")
    return value


def _int(params: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    raw = params.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ApiError(400, f"'{name}' must be an integer, got {raw[:40]!r}") from None
    if not low <= value <= high:
        raise ApiError(400, f"'{name}' must be between {low:,} and {high:,}, got {value:,}")
    return value


def _query(params: Mapping[str, str], name: str = "q") -> str:
    q = _one(params, name)
    if not q.strip():
        raise ApiError(400, f"'{name}' is empty")
    if len(q) > MAX_QUERY:
        raise ApiError(400, f"'{name}' is {len(q):,} characters long, at most {MAX_QUERY:,}")
    return q


def _metric(params: Mapping[str, str], default: str) -> str:
    metric = params.get("metric") or default
    if metric not in METRICS:
        raise ApiError(400, f"'metric' must be one of {', '.join(METRICS)}, got {metric[:40]!r}")
    return metric


def _rows(rows: list[Any]) -> list[dict[str, Any]]:
    """Return the CLI's JSON rows: dataclass fields in order, non-finite floats as null."""
    from embviz.output import _json_value, asdicts

    return [{k: _json_value(v) for k, v in d.items()} for d in asdicts(rows)]


def info(vectors: Vectors, source: str, metric: str, recommend: bool = False, history: bool = False) -> dict[str, Any]:
    """``/api/info``: the table served (file, count, dim, dtype, default metric) and the API's caps.

    ``recommend`` says whether ``/api/recommend`` has users (``serve --users`` or ``--history``),
    ``history`` whether it can leave out what a user has seen (``exclude_seen=1``).
    """
    return {
        "file": source, "count": int(vectors.count), "dim": int(vectors.dim),
        "dtype": str(vectors.matrix.dtype), "metric": metric,
        "limits": {"k": MAX_K, "page": MAX_PAGE, "query": MAX_QUERY, "regex": MAX_REGEX},
        "recommend": bool(recommend), "history": bool(history),
    }


def search(vectors: Vectors, params: Mapping[str, str]) -> dict[str, Any]:
    """``/api/search?q=PREFIX`` (or ``q=/REGEX/``): keys in row order, paged by ``offset``/``limit``.

    Returns ``{"query", "matches": [{"key", "rank"}], "total", "offset", "complete"}``; ``rank``
    is the 1-based row (frequency rank for word vectors), ``total`` counts the matches found,
    ``complete`` is false when a regular expression stopped after :data:`MAX_SCAN` keys. An
    exact key comes first.
    """
    q = _query(params)
    offset = _int(params, "offset", 0, 0, 10**9)
    limit = _int(params, "limit", 50, 1, MAX_PAGE)
    keys = vectors.keys
    m = re.fullmatch(r"/(.+)/([imsx]*)", q)
    complete = True
    if m:
        if len(m.group(1)) > MAX_REGEX:
            raise ApiError(400, f"the regular expression is {len(m.group(1)):,} characters long, at most {MAX_REGEX}")
        import regex  # the serve extra: matching with a time limit (re has none and holds the GIL)

        flags = 0
        for f in m.group(2):
            flags |= {"i": regex.I, "m": regex.M, "s": regex.S, "x": regex.X}[f]
        try:
            rx = regex.compile(m.group(1), flags | regex.V0)
        except regex.error as exc:
            raise ApiError(400, f"bad regular expression: {exc}") from None
        scan = min(len(keys), MAX_SCAN)
        hits = []
        deadline = time.monotonic() + REGEX_SECONDS
        for i in range(scan):
            left = deadline - time.monotonic()
            try:
                if left <= 0:
                    raise TimeoutError
                if rx.search(keys[i], timeout=left):
                    hits.append(i)
            except TimeoutError:
                raise ApiError(400, f"the regular expression ran over {REGEX_SECONDS:g} s (at key {i + 1:,} of "
                                    f"{len(keys):,}): make it simpler, or search by prefix") from None
        complete = scan == len(keys)
    else:
        exact = vectors.key_to_index.get(q)
        hits = [i for i, k in enumerate(keys) if k.startswith(q) and i != exact]
        if exact is not None:
            hits.insert(0, exact)
    page = hits[offset: offset + limit]
    return {"query": q, "matches": [{"key": keys[i], "rank": i + 1} for i in page], "total": len(hits),
            "offset": offset, "complete": complete}


def neighbors(
    vectors: Vectors, params: Mapping[str, str], default_metric: str, index: Any = None, batcher: Any = None
) -> dict[str, Any]:
    """``/api/neighbors?q=KEY_OR_EXPRESSION&k=10[&metric=][&restrict=][&exact=1]``: nearest neighbors.

    The rows are ``embviz neighbors -f json``'s (``query, rank, key, score``) plus each key's
    ``id`` (0-based row). Unknown keys are 404 with the CLI's message (close matches included).
    With an `index` (``embviz serve --index``) a request in the index's metric is answered from
    it (``embviz neighbors --index``'s rows) unless it asks ``exact=1``; ``search`` says which.
    With a `batcher` (:class:`embviz.serve.batch.Batcher` over :func:`neighbor_rows`), requests
    that arrive together are answered by one batched query.
    """
    q = _query(params)
    k = _int(params, "k", 10, 1, MAX_K)
    restrict = _int(params, "restrict", 0, 0, 10**12) or None
    metric = _metric(params, default_metric)
    exact = params.get("exact", "0") not in ("0", "", "false")
    indexed = index is not None and not exact and metric == index.metric
    search = index.describe(None, None) if indexed else "exact"
    group = (k, restrict, metric, indexed)
    if batcher is not None:
        rows = _call(lambda: batcher.submit(group, q))
    else:
        rows = _call(lambda: neighbor_rows(vectors, index, group, [q])[0])
    out = _rows(rows)
    ids = vectors.indices([r["key"] for r in out]) if out else np.zeros(0, dtype=np.int64)
    for r, i in zip(out, np.asarray(ids).tolist()):
        r["id"] = int(i)
    return {"query": q, "k": k, "metric": metric, "restrict": restrict, "search": search, "rows": out}


def neighbor_rows(vectors: Vectors, index: Any, group: tuple, queries: list[str]) -> list[list[Any]]:
    """Answer distinct `queries` in one batched call; ``group`` is ``(k, restrict, metric, indexed)``.

    Returns each query's :class:`~embviz.search.queries.Neighbor` rows, in the order of `queries`.
    """
    from embviz.search import neighbors as _neighbors

    k, restrict, metric, indexed = group
    if indexed:
        from embviz.search import index as search_index

        rows = search_index.neighbors(vectors, index, queries, k=k, restrict=restrict)
    else:
        rows = _neighbors(vectors, queries, k=k, restrict=restrict, metric=metric)
    by_query: dict[str, list[Any]] = {q: [] for q in queries}
    for r in rows:
        by_query[r.query].append(r)
    return [by_query[q] for q in queries]


def analogy(vectors: Vectors, params: Mapping[str, str]) -> dict[str, Any]:
    """``/api/analogy?a=man&b=king&c=woman[&k=1][&method=cosadd|cosmul]``: ``embviz analogy -f json``'s rows."""
    from embviz.search import analogy as _analogy

    a, b, c = (_query(params, name) for name in ("a", "b", "c"))
    k = _int(params, "k", 1, 1, MAX_K)
    method = params.get("method") or "cosadd"
    if method not in ("cosadd", "cosmul"):
        raise ApiError(400, f"'method' must be cosadd or cosmul, got {method[:40]!r}")
    rows = _call(lambda: _analogy(vectors, (a, b, c), k=k, method=method))
    return {"a": a, "b": b, "c": c, "k": k, "method": method, "rows": _rows(rows)}


def recommend(
    items: Vectors, params: Mapping[str, str], default_metric: str, users: Any = None, history: Any = None
) -> dict[str, Any]:
    """``/api/recommend?user=U&k=10[&metric=][&exclude_seen=1]``: ``embviz recommend -f json``'s rows.

    The served table is the items. A user's vector is its row of `users` (``serve --users``),
    else the mean of its items' vectors in `history` (``serve --history``), which is also what
    ``exclude_seen=1`` leaves out. Rows: ``user, rank, item, score``; ``search`` is the
    provenance the command line puts in each JSON row; an unknown user is 404.
    """
    from embviz.search import recommender as _rec

    if users is None and history is None:
        raise ApiError(404, "this server has no users: start it with --users FILE or --history FILE")
    user = _query(params, "user")
    k = _int(params, "k", 10, 1, MAX_K)
    metric = _metric(params, default_metric)
    exclude_seen = params.get("exclude_seen", "0") not in ("0", "", "false")
    if exclude_seen and history is None:
        raise ApiError(400, "exclude_seen needs the users' histories: start the server with --history FILE")
    from embviz.search.metric import SCORE_MEANING

    who = _call(lambda: _rec.resolve_users(user_table=users, histories=history, wanted=[user], strict=True))
    rows = _call(lambda: _rec.recommend(items, users=users, history=history, user_keys=[user], k=k, metric=metric,
                                        exclude_seen=exclude_seen, strict=True))
    search = (f"1 user; vectors: {who.source}; metric {metric} ({SCORE_MEANING[metric]})"
              + ("; seen items excluded" if exclude_seen else ""))  # the CLI's provenance, its 'search' field
    out = _rows(rows)
    ids = items.indices([r["item"] for r in out]) if out else np.zeros(0, dtype=np.int64)
    for r, i in zip(out, np.asarray(ids).tolist()):
        r["id"] = int(i)  # the item's row, as /api/neighbors gives
    return {"user": user, "k": k, "metric": metric, "exclude_seen": exclude_seen, "search": search, "rows": out}


def _call(fn):  # noqa: ANN001, ANN202
    """Run a query; the library's one-line errors become 404 (unknown key) or 400 (anything else)."""
    from embviz.errors import KeyNotFound

    try:
        return fn()
    except KeyNotFound as exc:
        raise ApiError(404, str(exc.args[0]) if exc.args else str(exc)) from None
    except EmbvizError as exc:
        raise ApiError(400, str(exc)) from None
