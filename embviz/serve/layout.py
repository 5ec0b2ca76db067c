"""Lay out a selection again, for ``embviz serve``: PCA or UMAP on the chosen rows alone, as jobs.

The page sends the keys of a selection (``POST /api/layout``, JSON ``{"keys": [...],
"method": "pca" | "umap"}``) and gets a job id at once; it then asks how the job is doing
(``GET /api/layout?job=ID``: the stage, its progress and the seconds so far) until the job
is done (the rows ``{key, x, y}`` in the order sent, and the layout's recall@10 trust score)
or failed (one line). The layout is :func:`embviz.viz.project` on those rows alone: unit rows,
PCA exact, UMAP with cosine kNN, cached in ``<cache>/projections`` as ``embviz plot``'s
layouts are (the same selection and method come back at once).

Bounded work: at most :data:`MAX_KEYS` keys per job, one job laid out at a time (a single
worker thread, so other requests are answered meanwhile and the two cores are not shared
among several UMAPs), at most :data:`MAX_WAITING` jobs waiting, and the last :data:`MAX_JOBS`
jobs kept for their answers.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping

from embviz.errors import EmbvizError
from embviz.search.scorers import exact_dots
from embviz.serve.api import ApiError

if TYPE_CHECKING:
    from embviz.vectors import Vectors

#: Most keys one re-layout takes (UMAP of 10,000 points takes about 10 to 20 s on 2 cores).
MAX_KEYS = 10_000
#: Jobs kept with their answers (the oldest finished ones are forgotten first).
MAX_JOBS = 32
#: Jobs that may wait for the worker; more are refused (429) until one finishes.
MAX_WAITING = 4
#: The layout methods a request may ask for.
METHODS = ("pca", "umap")


class Layouts:
    """The re-layout jobs of one served table.

    Parameters
    ----------
    vectors : Vectors
        The served table, ``(n, dim)``.
    cache_dir : path-like, optional
        embviz's cache directory (layouts in ``<cache_dir>/projections``); None: no layout
        cache (``--no-cache``).
    fingerprint : str
        The table's content fingerprint (:func:`embviz.io.cache.fingerprint`), in the layout
        cache's key.
    """

    def __init__(self, vectors: Vectors, cache_dir: str | Path | None, fingerprint: str) -> None:
        self.vectors, self.cache_dir, self.fingerprint = vectors, cache_dir, fingerprint
        self._jobs: OrderedDict[str, dict[str, Any]] = OrderedDict()
        self._lock = threading.Lock()
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="embviz-layout")

    def start(self, body: Any) -> dict[str, Any]:
        """Check a request's JSON body and queue its job: ``{"job": ID, "status": "queued", ...}``.

        Raises
        ------
        ApiError
            400 for a body that is not ``{"keys": [3 to MAX_KEYS distinct keys], "method": ...}``,
            404 for a key not in the table, 429 when :data:`MAX_WAITING` jobs already wait.
        """
        if not isinstance(body, dict):
            raise ApiError(400, 'expected a JSON object {"keys": [...], "method": "pca" or "umap"}')
        keys, method = body.get("keys"), body.get("method", "pca")
        if method not in METHODS:
            raise ApiError(400, f"method {str(method)[:40]!r} is not one of {', '.join(METHODS)}")
        if not isinstance(keys, list) or not all(isinstance(k, str) for k in keys):
            raise ApiError(400, "'keys' must be a list of keys (strings)")
        if not 3 <= len(keys) <= MAX_KEYS:
            raise ApiError(400, f"{len(keys):,} keys: a re-layout takes 3 to {MAX_KEYS:,}")
        if len(set(keys)) != len(keys):
            raise ApiError(400, "'keys' holds a key twice")
        index = self.vectors.key_to_index
        missing = [k for k in keys if k not in index]
        if missing:
            raise ApiError(404, f"{len(missing):,} key(s) not in the table, the first {missing[0][:100]!r}")
        ids = [index[k] for k in keys]
        job_id = secrets.token_hex(8)
        job: dict[str, Any] = {"job": job_id, "status": "queued", "method": method, "count": len(ids),
                               "stage": "queued", "done": 0, "total": 0, "_start": time.perf_counter()}
        with self._lock:
            waiting = sum(1 for j in self._jobs.values() if j["status"] in ("queued", "running"))
            if waiting >= MAX_WAITING:
                raise ApiError(429, f"{waiting} layouts are already queued or running; try again when one is done")
            self._jobs[job_id] = job
            while len(self._jobs) > MAX_JOBS:  # forget the oldest finished job
                old = next((j for j, v in self._jobs.items() if v["status"] in ("done", "error")), None)
                if old is None:
                    break
                del self._jobs[old]
        self._pool.submit(self._run, job, ids, keys)
        with self._lock:
            return _public(job)

    def status(self, params: Mapping[str, str]) -> dict[str, Any]:
        """Return a job's state: running (stage, done, total, seconds), done (rows), or error (one line).

        Raises
        ------
        ApiError
            400 without ``job``, 404 for a job this server does not know (or has forgotten).
        """
        job_id = params.get("job")
        if not job_id:
            raise ApiError(400, "missing parameter 'job'")
        with self._lock:  # the worker adds keys to the job as it goes: copy it whole, under the lock
            job = self._jobs.get(job_id)
            answer = None if job is None else _public(job)
        if answer is None:
            raise ApiError(404, f"no layout job {job_id[:40]!r} (the server keeps its last {MAX_JOBS})")
        return answer

    def _set(self, job: dict[str, Any], **changes: Any) -> None:
        with self._lock:
            job.update(changes)

    def _run(self, job: dict[str, Any], ids: list[int], keys: list[str]) -> None:
        from embviz import viz

        def report(stage: str, done: int, total: int) -> None:
            self._set(job, stage=stage, done=int(done), total=int(total))

        self._set(job, status="running", stage="starting")
        try:
            proj = viz.project(self.vectors, ids, method=job["method"], dim=2, cache_dir=self.cache_dir,
                               use_cache=self.cache_dir is not None, fingerprint=self.fingerprint,
                               progress=report)
        except EmbvizError as exc:
            self._set(job, status="error", error=str(exc).split("\n")[0][:300],
                      seconds=round(time.perf_counter() - job["_start"], 3))
        except Exception as exc:  # noqa: BLE001 - a bug must not stop the server: one line
            first = str(exc).strip().split("\n")[0][:300]
            self._set(job, status="error", error=f"internal error ({type(exc).__name__}: {first}); please report it",
                      seconds=round(time.perf_counter() - job["_start"], 3))
        else:
            xy = proj.coords.astype(float).tolist()
            rows = [{"key": k, "x": p[0], "y": p[1]} for k, p in zip(keys, xy)]
            self._set(job, status="done", stage="done", rows=rows, recall=proj.recall, cached=bool(proj.cached),
                      seconds=round(time.perf_counter() - job["_start"], 3))


def _public(job: dict[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in job.items() if not k.startswith("_")}
    if "seconds" not in out:
        out["seconds"] = round(time.perf_counter() - job["_start"], 3)
    return out


#: Most keys one ``/api/place`` request places, and most keys of the map it places them on.
MAX_PLACE, MAX_AMONG = 1000, 400_000
#: Scores ``/api/place`` holds at once (float32: 32 MB), so 1,000 keys on a map of 400,000 are
#: scored in blocks instead of one 1.6 GB matrix.
BLOCK_SCORES = 8_000_000


def place(vectors: Vectors, body: Any) -> dict[str, Any]:
    """``POST /api/place``: each key's nearest keys among the map's, to put it on the map.

    Body ``{"keys": [keys to place], "among": [the keys drawn on the map], "k": 10}``. Answers
    ``{"k": k, "rows": [{"key", "neighbors": [{"key", "score"}, ...]}]}``: per key, its `k`
    nearest keys of `among` by cosine similarity (itself left out), most similar first. The
    page puts the key at the similarity-weighted mean of their positions, as umap-learn's
    ``UMAP.transform`` starts a new point (McInnes et al. 2018) before its optimisation, which
    is not run here: the map's other points stay where they are.

    Raises
    ------
    ApiError
        400 for a malformed body or sizes over :data:`MAX_PLACE` / :data:`MAX_AMONG`, 404 for
        a key not in the table.
    """
    import numpy as np

    if not isinstance(body, dict):
        raise ApiError(400, 'expected a JSON object {"keys": [...], "among": [...], "k": 10}')
    keys, among, k = body.get("keys"), body.get("among"), body.get("k", 10)
    for name, value, cap in (("keys", keys, MAX_PLACE), ("among", among, MAX_AMONG)):
        if not isinstance(value, list) or not all(isinstance(x, str) for x in value):
            raise ApiError(400, f"'{name}' must be a list of keys (strings)")
        if not 1 <= len(value) <= cap:
            raise ApiError(400, f"'{name}' holds {len(value):,} keys; 1 to {cap:,} are allowed")
    if not isinstance(k, int) or isinstance(k, bool) or not 1 <= k <= 100:
        raise ApiError(400, "'k' must be an integer from 1 to 100")
    index = vectors.key_to_index
    for name, value in (("keys", keys), ("among", among)):
        missing = [x for x in value if x not in index]
        if missing:
            raise ApiError(404, f"{len(missing):,} key(s) of '{name}' not in the table, the first {missing[0][:100]!r}")
    q_ids = np.array([index[x] for x in keys], dtype=np.int64)
    a_ids = np.array([index[x] for x in among], dtype=np.int64)
    at = {int(i): p for p, i in enumerate(a_ids.tolist())}  # where a placed key is among the map's
    unit = vectors.unit
    cand_rows = np.asarray(unit[a_ids], dtype=np.float32)
    kk = min(k, len(among))
    step = max(1, BLOCK_SCORES // len(among))  # scores held at once: at most BLOCK_SCORES float32
    rows = []
    for lo in range(0, len(keys), step):
        queries = np.asarray(unit[q_ids[lo : lo + step]], dtype=np.float32)
        scores = queries @ cand_rows.T
        for r, q in enumerate(q_ids[lo : lo + step].tolist()):
            if q in at:
                scores[r, at[q]] = -np.inf  # a key drawn already is not its own neighbor
        top = (np.argpartition(-scores, kk - 1, axis=1)[:, :kk] if kk < len(among)
               else np.tile(np.arange(len(among)), (len(scores), 1)))
        for r in range(len(scores)):
            # the kept candidates scored again exactly: a BLAS product's last bit depends on the
            # block's shape, and an answer must not depend on how the request was split
            cand = top[r][np.isfinite(scores[r, top[r]])]
            exact = exact_dots(np.repeat(queries[r : r + 1], len(cand), axis=0), cand_rows[cand]).astype(np.float32)
            order = np.lexsort((cand, -exact))
            nbrs = [{"key": among[c], "score": float(e)} for c, e in zip(cand[order].tolist(), exact[order].tolist())]
            rows.append({"key": keys[lo + r], "neighbors": nbrs})
    return {"k": kk, "rows": rows}
