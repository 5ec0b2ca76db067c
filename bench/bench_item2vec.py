"""item2vec training from an interaction log: embviz against gensim given the corpus file, and pandas.

Three whole commands, each a fresh process, the same hyper-parameters (skip-gram, negative 5,
``min_count=1``, ``shrink_windows=False``, the same window, 64 dimensions, ``sample=1e-3``,
one epoch by default, every core), on a synthetic log generated here (``--users``, ``--items``,
``--events``: by default 1,000,000 users, 200,000 items, 20,000,000 events with Zipf item
popularity, in time order as logs are written):

- ``embviz train --interactions log.parquet``: reading the log, building and writing the
  sequences, training, writing the vectors;
- the anchor: gensim ``Word2Vec(corpus_file=...)`` on the sequences file already written
  (the floor: training alone, nothing read or built);
- the common recipe: pandas ``read_parquet``, ``sort_values([user, time])``,
  ``groupby(user)[item].apply(list)``, then ``Word2Vec(sentences=...)``.

Targets (issue 24): embviz within 1.15x of the anchor and at least 3x faster than the recipe.
Run: ``python bench/bench_item2vec.py [--repeat 3] [--epochs 1] [--window 5]``.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import DATA, write_result  # noqa: E402
from bench_recommend import LOADS, _cpu, _med, _rounds, _walls  # noqa: E402

EMBVIZ = [sys.executable, "-m", "embviz"]

GENSIM = r'''
import json, sys, time
t0 = time.perf_counter()
from gensim.models import Word2Vec
corpus, window, epochs, dim = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
m = Word2Vec(corpus_file=corpus, vector_size=dim, window=window, min_count=1, sg=1, negative=5, sample=1e-3,
             epochs=epochs, shrink_windows=False, seed=1, workers=2)
t1 = time.perf_counter()
m.wv.save_word2vec_format(sys.argv[5], binary=True)
print(json.dumps({"train": t1 - t0, "in_process": time.perf_counter() - t0, "vocab": len(m.wv)}))
'''

PANDAS = r'''
import json, sys, time
t0 = time.perf_counter()
import pandas as pd
from gensim.models import Word2Vec
log, window, epochs, dim = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
df = pd.read_parquet(log)
df["item"] = df["item"].astype(str)
sentences = df.sort_values(["user", "timestamp"], kind="stable").groupby("user")["item"].apply(list).tolist()
t1 = time.perf_counter()
m = Word2Vec(sentences=sentences, vector_size=dim, window=window, min_count=1, sg=1, negative=5, sample=1e-3,
             epochs=epochs, shrink_windows=False, seed=1, workers=2)
t2 = time.perf_counter()
m.wv.save_word2vec_format(sys.argv[5], binary=True)
print(json.dumps({"build": t1 - t0, "train": t2 - t1, "in_process": time.perf_counter() - t0, "vocab": len(m.wv)}))
'''


def make_log(path: Path, users: int, items: int, events: int, seed: int = 0) -> Path:
    """Write a time-ordered log: Zipf item popularity (exponent 1), users by lognormal activity."""
    if path.exists():
        return path
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = np.random.default_rng(seed)
    activity = rng.lognormal(0.0, 1.0, users)
    u = rng.choice(users, size=events, p=activity / activity.sum())
    pop = 1.0 / (np.arange(items) + 10.0)
    i = rng.choice(items, size=events, p=pop / pop.sum())
    t = 1_600_000_000 + np.sort(rng.integers(0, 86400 * 365, events))
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.table({"user": u.astype(np.int64), "item": i.astype(np.int64), "timestamp": t}), path,
                   row_group_size=1 << 20)
    return path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--users", type=int, default=1_000_000)
    ap.add_argument("--items", type=int, default=200_000)
    ap.add_argument("--events", type=int, default=20_000_000)
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--window", type=int, default=5, help="the same explicit window for all three")
    ap.add_argument("--dim", type=int, default=64)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--name", default="item2vec")
    args = ap.parse_args()
    log = make_log(DATA / "item2vec" / f"log_{args.users}x{args.items}x{args.events}.parquet",
                   args.users, args.items, args.events)
    work = Path(tempfile.mkdtemp(prefix="embviz-bench-i2v-"))
    from embviz.train import sequences

    seqs = sequences.build(log, tmp_dir=work)  # the anchor's corpus: the same sequences, written once
    print(seqs.describe(), file=sys.stderr)
    w, e, d = str(args.window), str(args.epochs), str(args.dim)
    jobs = {
        "embviz": [*EMBVIZ, "train", "--interactions", str(log), "-o", str(work / "embviz.bin"), "--window", w,
                   "--epochs", e, "--vector-size", d, "--workers", "2", "-q"],
        "gensim corpus_file": [sys.executable, "-c", GENSIM, str(seqs.path), w, e, d, str(work / "gensim.bin")],
        "pandas + gensim": [sys.executable, "-c", PANDAS, str(log), w, e, d, str(work / "pandas.bin")],
    }
    runs = _rounds(jobs, args.repeat)
    seqs.cleanup()
    ge, gp = runs["gensim corpus_file"], runs["pandas + gensim"]
    te, tg, tp = (_med(runs[n]) for n in jobs)
    size = f"{seqs.events:,} events, {seqs.users:,} users, {len(seqs.items):,} items"
    params = f"skip-gram, window {args.window} unshrunk, {args.dim} dims, {args.epochs} epoch(s), 2 workers"
    rows = [
        {"operation": f"train --interactions ({size}; {params})", "embviz_s": round(te, 1),
         "anchor": "gensim Word2Vec(corpus_file=) on the sequences already written", "anchor_s": round(tg, 1),
         "speedup": round(tg / te, 2), "target": "<= 1.15x anchor", "met": te <= 1.15 * tg,
         "peak_rss_mib": round(max(r["rss"] for r in runs["embviz"])),
         "detail": f"{te / tg:.2f}x; embviz runs {_walls(runs['embviz'])} s; gensim runs "
                   f"{_walls(ge)} s; {_cpu(runs['embviz'], ge, 'gensim')}"},
        {"operation": f"train --interactions vs the pandas recipe ({size})", "embviz_s": round(te, 1),
         "anchor": "pandas sort_values + groupby(user).apply(list), Word2Vec(sentences=)", "anchor_s": round(tp, 1),
         "speedup": round(tp / te, 2), "target": ">= 3x faster", "met": tp >= 3 * te,
         "peak_rss_mib": round(max(r["rss"] for r in runs["pandas + gensim"])),
         "detail": f"pandas runs {_walls(runs['pandas + gensim'])} s (in-process medians: build "
                   f"{_med(gp, 'build'):.1f} s, train {_med(gp, 'train'):.1f} s); "
                   f"peak RSS embviz {max(r['rss'] for r in runs['embviz']):.0f} MiB, pandas "
                   f"{max(r['rss'] for r in runs['pandas + gensim']):.0f} MiB"},
    ]
    notes = (f"{args.repeat} rounds, order rotated; 1-minute load average before each process: "
             f"{', '.join(f'{x:.1f}' for x in LOADS)}. Vocabulary sizes: "
             + json.dumps({n: runs[n][0].get("vocab") for n in jobs if runs[n][0].get("vocab")}))
    write_result(args.name, "item2vec training from an interaction log", rows, notes)


if __name__ == "__main__":
    main()
