"""``embviz recommend --engine spark`` against Spark ML's ``ALSModel.recommendForAllUsers(10)``.

Both sides are whole fresh processes in ``local[2]`` with the same Spark settings (UI off,
console progress off, default driver memory), alternating, medians of ``--repeat`` rounds:

- the anchor: ``python -c`` that starts a SparkSession, ``ALSModel.load(model)``,
  ``recommendForAllUsers(10)``, ``posexplode``s the recommendations into ``user, rank, item,
  score`` rows and writes them as Parquet (what a user of Spark ML runs to get the table);
- embviz: ``embviz recommend -v items.parquet --users users.parquet --metric dot -k 10
  --engine spark --master local[2] -o out`` on the same factors (written from the model's
  ``itemFactors``/``userFactors`` as Parquet ``id, vector``), the item table's cache filled
  once before the rounds.

Data: a synthetic implicit log of 1,000,000 events (50,000 users, 10,000 items, Zipf
popularity with exponent 1.1, a few latent tastes), and an ALS model trained on it once
(``ALS(rank=32, maxIter=5, implicitPrefs=True, regParam=0.01, seed=1)``). Agreement: per
user, the top-10 item sets of both outputs, users that differ classified by whether the
differing items' scores tie (within 1e-5 relative).

The same comparison on the model with ``--set-users`` (default 500,000) synthetic user factors
written into its folder (Spark ML's ALSModel has no setter; its item factors kept): where the
scoring, not the ~5 s both sides spend starting Spark, is the work.

Scaling: the same embviz job on 500,000, 1,000,000 and 2,000,000 synthetic users (rank 32,
drawn like the model's user factors) against the model's 10,000 items; the slope in seconds
per million users (least squares) and the per-core rate.

Run: ``python bench/bench_recommend_spark.py [--repeat 3] [--skip-scaling]`` (writes
bench/results/recommend_spark.json). Data under ``bench/data/spark_rec``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import DATA, run_process, write_result  # noqa: E402

EMBVIZ = str(Path(sys.executable).parent / "embviz")
MASTER = "local[2]"
SEED = 20261207
RANK = 32

_SESSION = r'''
import json, sys, time, warnings
warnings.simplefilter("ignore")
t0 = time.perf_counter()
from pyspark.sql import SparkSession
spark = (SparkSession.builder.master(sys.argv[1]).appName("anchor")
         .config("spark.ui.enabled", "false").config("spark.ui.showConsoleProgress", "false").getOrCreate())
spark.sparkContext.setLogLevel("ERROR")
t1 = time.perf_counter()
'''

ANCHOR = _SESSION + r'''
from pyspark.ml.recommendation import ALSModel
from pyspark.sql import functions as F
model = ALSModel.load(sys.argv[2])
recs = model.recommendForAllUsers(10)
rows = recs.select(F.col("user").cast("string").alias("user"), F.posexplode("recommendations").alias("pos", "r")) \
    .select("user", (F.col("pos") + 1).cast("long").alias("rank"), F.col("r.item").cast("string").alias("item"),
            F.col("r.rating").alias("score"))
rows.write.parquet(sys.argv[3])
t2 = time.perf_counter()
spark.stop()
print(json.dumps({"session_s": t1 - t0, "job_s": t2 - t1}))
'''

TRAIN = _SESSION + r'''
import pyarrow as pa, pyarrow.parquet as pq, numpy as np
from pyspark.ml.recommendation import ALS
log = spark.read.parquet(sys.argv[2])
model = ALS(rank=int(sys.argv[4]), maxIter=5, implicitPrefs=True, regParam=0.01, seed=1, userCol="user",
            itemCol="item", ratingCol="rating", coldStartStrategy="drop").fit(log)
model.write().overwrite().save(sys.argv[3])
for name, df in (("items", model.itemFactors), ("users", model.userFactors)):
    t = df.orderBy("id").toPandas()
    vec = np.asarray(np.stack(t["features"].to_numpy()), dtype=np.float32)
    pq.write_table(pa.table({"id": t["id"].astype(str), "vector": pa.FixedSizeListArray.from_arrays(
        pa.array(vec.ravel()), vec.shape[1])}), f"{sys.argv[5]}/{name}.parquet")
print(json.dumps({"trained_s": time.perf_counter() - t1}))
'''


def make_data(out: Path, n_users: int = 50_000, n_items: int = 10_000, events: int = 1_000_000) -> None:
    """Write the log, the ALS model and its factors as Parquet (once)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    if (out / "users.parquet").exists():
        return
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(SEED)
    tastes = rng.integers(0, 8, size=n_users)  # users like items of their taste 4x more
    pop = 1.0 / np.arange(1, n_items + 1) ** 1.1
    kind = rng.integers(0, 8, size=n_items)
    users = rng.integers(0, n_users, size=events)
    items = np.empty(events, dtype=np.int64)
    for t in range(8):
        w = pop * np.where(kind == t, 4.0, 1.0)
        w /= w.sum()
        mask = tastes[users] == t
        items[mask] = rng.choice(n_items, size=int(mask.sum()), p=w)
    pq.write_table(pa.table({"user": users.astype(np.int32), "item": items.astype(np.int32),
                             "rating": np.ones(events, np.float32)}), out / "log.parquet")
    run_process([sys.executable, "-c", TRAIN, MASTER, str(out / "log.parquet"), str(out / "als_model"), str(RANK),
                 str(out)])


def scaled_users(out: Path, n: int, like: Path) -> Path:
    """`n` synthetic users drawn from the model's user factors' mean and covariance."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = out / f"users_{n}.parquet"
    if path.exists():
        return path
    t = pq.read_table(like)
    base = t.column("vector").combine_chunks().flatten().to_numpy().reshape(-1, RANK).astype(np.float64)
    rng = np.random.default_rng(SEED + n)
    vec = rng.multivariate_normal(base.mean(axis=0), np.cov(base.T), size=n).astype(np.float32)
    pq.write_table(pa.table({"id": [f"s{j}" for j in range(n)], "vector": pa.FixedSizeListArray.from_arrays(
        pa.array(vec.ravel()), RANK)}), path)
    return path


def als_with_users(out: Path, n: int) -> tuple[Path, Path]:
    """Write the ALS model with `n` synthetic user factors set (item factors kept) and those users as Parquet.

    Spark ML's ALSModel has no setter for its factors; its saved folder is ``metadata/``,
    ``userFactors/`` and ``itemFactors/`` (Parquet ``id int, features array<float>``), so the
    user factors are written there. The users are drawn like :func:`scaled_users`, keyed 0..n-1.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    model, users = out / f"als_model_{n}", out / f"als_users_{n}.parquet"
    if model.exists() and users.exists():
        return model, users
    t = pq.read_table(out / "users.parquet")
    base = t.column("vector").combine_chunks().flatten().to_numpy().reshape(-1, RANK).astype(np.float64)
    rng = np.random.default_rng(SEED + 7 * n)
    vec = rng.multivariate_normal(base.mean(axis=0), np.cov(base.T), size=n).astype(np.float32)
    shutil.rmtree(model, ignore_errors=True)
    shutil.copytree(out / "als_model" / "metadata", model / "metadata")
    shutil.copytree(out / "als_model" / "itemFactors", model / "itemFactors")
    (model / "userFactors").mkdir()
    features = pa.ListArray.from_arrays(pa.array(np.arange(0, vec.size + 1, RANK, dtype=np.int32)),
                                        pa.array(vec.ravel()))
    pq.write_table(pa.table({"id": pa.array(np.arange(n, dtype=np.int32)), "features": features}),
                   model / "userFactors" / "part-00000.snappy.parquet")
    (model / "userFactors" / "_SUCCESS").write_bytes(b"")
    pq.write_table(pa.table({"id": [str(j) for j in range(n)], "vector": pa.FixedSizeListArray.from_arrays(
        pa.array(vec.ravel()), RANK)}), users)
    return model, users


def _embviz(items: Path, users: Path, out: Path, env: dict) -> float:
    shutil.rmtree(out, ignore_errors=True)
    wall, _, _ = run_process([EMBVIZ, "recommend", "-v", str(items), "--users", str(users), "--metric", "dot",
                              "-k", "10", "--engine", "spark", "--master", MASTER, "-o", str(out), "-q"], env=env)
    return wall


def _anchor(model: Path, out: Path) -> tuple[float, dict]:
    shutil.rmtree(out, ignore_errors=True)
    wall, _, stdout = run_process([sys.executable, "-c", ANCHOR, MASTER, str(model), str(out)])
    return wall, json.loads(stdout.decode().strip().splitlines()[-1])


def agreement(ours: Path, theirs: Path, items: Path, users: Path) -> dict:
    """Per-user top-10 sets: equal, or different only where scores tie."""
    import pyarrow.parquet as pq

    a = pq.read_table(ours).to_pandas()
    b = pq.read_table(theirs).to_pandas()
    sa = a.groupby("user")["item"].apply(frozenset)
    sb = b.groupby("user")["item"].apply(frozenset)
    common = sa.index.intersection(sb.index)
    differ = [u for u in common if sa[u] != sb[u]]
    it = pq.read_table(items).to_pandas()
    us = pq.read_table(users).to_pandas()
    ivec = dict(zip(it["id"], it["vector"]))
    uvec = dict(zip(us["id"], us["vector"]))
    tied = 0
    for u in differ:
        tenth = a[a.user == u].score.min()
        extra = (sa[u] ^ sb[u])
        scores = [float(np.dot(np.asarray(uvec[u], np.float64), np.asarray(ivec[i], np.float64))) for i in extra]
        tied += all(abs(s - tenth) <= 1e-5 * max(1.0, abs(tenth)) for s in scores)
    max_diff = 0.0
    m = a.merge(b, on=["user", "item"], suffixes=("_e", "_s"))
    if len(m):
        max_diff = float(np.max(np.abs(m.score_e - m.score_s) / np.maximum(1.0, np.abs(m.score_s))))
    return {"users_ours": len(sa), "users_spark": len(sb), "same_sets": len(common) - len(differ),
            "differ": len(differ), "differ_tied": tied, "max_rel_score_diff": max_diff}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--skip-scaling", action="store_true")
    ap.add_argument("--set-users", type=int, default=500_000,
                    help="also compare on the ALS model with this many user factors set (0: skip)")
    args = ap.parse_args()
    t0 = time.time()
    data = DATA / "spark_rec"
    make_data(data)
    work = Path(tempfile.mkdtemp(prefix="embviz-bench-spark-"))
    env = {"EMBVIZ_CACHE_DIR": str(work / "cache")}
    items, users = data / "items.parquet", data / "users.parquet"
    run_process([EMBVIZ, "info", "-v", str(items)], env=env)  # the item table's cache, filled once
    ours, theirs = [], []
    sessions = []
    for r in range(args.repeat):
        for side in (("embviz", "anchor") if r % 2 == 0 else ("anchor", "embviz")):
            if side == "embviz":
                ours.append(_embviz(items, users, work / "ours", env))
            else:
                wall, inner = _anchor(data / "als_model", work / "theirs")
                theirs.append(wall)
                sessions.append(inner)
            print(f"  round {r + 1} {side}: {(ours if side == 'embviz' else theirs)[-1]:.1f} s", file=sys.stderr)
    agree = agreement(work / "ours", work / "theirs", items, users)
    e, s = statistics.median(ours), statistics.median(theirs)
    rows = [{
        "operation": "recommend top-10 for 50,000 users x 10,000 items (ALS rank 32), local[2], whole process",
        "embviz_s": round(e, 2), "anchor": "Spark ML ALSModel.recommendForAllUsers(10) + Parquet write",
        "anchor_s": round(s, 2), "speedup": round(s / e, 2), "target": ">= 3x", "met": s / e >= 3,
        "detail": f"runs embviz {', '.join(f'{x:.1f}' for x in ours)}; anchor {', '.join(f'{x:.1f}' for x in theirs)}"
                  f" (anchor's session start median {statistics.median(x['session_s'] for x in sessions):.1f} s, job "
                  f"{statistics.median(x['job_s'] for x in sessions):.1f} s); agreement {json.dumps(agree)}",
    }]
    if args.set_users:
        n = args.set_users
        model, set_users = als_with_users(data, n)
        ours2, theirs2, sessions2 = [], [], []
        for r in range(args.repeat):
            for side in (("embviz", "anchor") if r % 2 == 0 else ("anchor", "embviz")):
                if side == "embviz":
                    ours2.append(_embviz(items, set_users, work / "ours2", env))
                else:
                    wall, inner = _anchor(model, work / "theirs2")
                    theirs2.append(wall)
                    sessions2.append(inner)
                print(f"  {n:,} users, round {r + 1} {side}: {(ours2 if side == 'embviz' else theirs2)[-1]:.1f} s",
                      file=sys.stderr)
        agree2 = agreement(work / "ours2", work / "theirs2", items, set_users)
        e2, s2 = statistics.median(ours2), statistics.median(theirs2)
        rows.append({
            "operation": f"recommend top-10 for {n:,} users x 10,000 items (the ALS model with {n:,} user factors "
                         "set), local[2], whole process",
            "embviz_s": round(e2, 2), "anchor": "Spark ML ALSModel.recommendForAllUsers(10) + Parquet write",
            "anchor_s": round(s2, 2), "speedup": round(s2 / e2, 2), "target": ">= 3x", "met": s2 / e2 >= 3,
            "detail": f"runs embviz {', '.join(f'{x:.1f}' for x in ours2)}; anchor "
                      f"{', '.join(f'{x:.1f}' for x in theirs2)} (anchor's session start median "
                      f"{statistics.median(x['session_s'] for x in sessions2):.1f} s, job "
                      f"{statistics.median(x['job_s'] for x in sessions2):.1f} s); agreement {json.dumps(agree2)}",
        })
    if not args.skip_scaling:
        sizes = [500_000, 1_000_000, 2_000_000]
        walls = {}
        for n in sizes:
            path = scaled_users(data, n, users)
            walls[n] = statistics.median(_embviz(items, path, work / "scaled", env) for _ in range(2))
            print(f"  scaling {n:,} users: {walls[n]:.1f} s", file=sys.stderr)
        x = np.array(sizes, dtype=np.float64) / 1e6
        y = np.array([walls[n] for n in sizes])
        slope, intercept = np.polyfit(x, y, 1)
        cores = 2
        per_core = 1e6 / (slope * cores)  # users per core-second
        need = 100e6 / per_core / 3600  # core-hours for 100M users (same items)
        rows.append({
            "operation": "recommend --engine spark scaling: 0.5M, 1M, 2M users x 10,000 items (rank 32), local[2]",
            "embviz_s": round(walls[sizes[-1]], 1), "anchor": "linear fit", "anchor_s": None, "speedup": None,
            "target": "linear in users", "met": bool(np.corrcoef(x, y)[0, 1] > 0.99),
            "detail": f"medians of 2: {', '.join(f'{n:,}: {walls[n]:.1f} s' for n in sizes)}; slope {slope:.1f} s per "
                      f"million users, intercept {intercept:.1f} s (Spark start, item table); {per_core:,.0f} users "
                      f"per core-second: 100M users x 10,000 items need about {need:.1f} core-hours "
                      f"(e.g. {need * 60 / 100:.0f} min on 100 executor cores)",
        })
    notes = (f"Fresh processes, local[2] on this machine's 2 cores, {args.repeat} alternating rounds; whole benchmark "
             f"{(time.time() - t0) / 60:.0f} min; 1-minute load average at the end {os.getloadavg()[0]:.1f}.")
    write_result("recommend_spark", "recommend --engine spark against Spark ML ALS recommendForAllUsers", rows,
                 notes=notes)


if __name__ == "__main__":
    main()
