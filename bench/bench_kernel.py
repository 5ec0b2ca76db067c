"""The scoring kernel's cost of exact tie-breaking, against another checkout, same run.

Usage: python bench/bench_kernel.py --anchor /path/to/old/tree [--repeat 3]

``--anchor`` is a directory holding another version of the ``embviz`` package (e.g. a
``git worktree`` of the commit before the change). Each round runs one worker process per
version, alternating, on GloVe 6B 50d (400,000 x 50, loaded through the cache outside the
timings); a worker times:

- ``top_k``: 1,000 queries, k=10, over 400,000 rows (batched matrix products + selection);
- one query, k=10, over 400,000 rows (a matrix-vector product; median of 20 calls);
- a 20,000-row kNN graph, k=15 (what UMAP gets);
- ``analogy_ids`` brute force, 2,000 Google questions, 3CosAdd and 3CosMul, restrict 300,000;
- ``best_answers`` (branch and bound), the whole Google set, 3CosAdd and 3CosMul, restrict
  300,000.

Both versions' answers must be equal (ids) or the benchmark fails. Medians of ``--repeat``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import glove_files, write_result  # noqa: E402

OPS = [
    "top_k 1,000 queries, k=10, 400,000 rows",
    "top_k one query, k=10, 400,000 rows",
    "kNN graph 20,000 rows, k=15",
    "analogy_ids brute, 2,000 questions, 3CosAdd",
    "analogy_ids brute, 2,000 questions, 3CosMul",
    "best_answers (bound), Google set, 3CosAdd",
    "best_answers (bound), Google set, 3CosMul",
]


def worker() -> None:
    from embviz import io as embviz_io
    from embviz.evaluate import gensim_data
    from embviz.search import analogy_ids, top_k
    from embviz.search.bound import best_answers

    v = embviz_io.load(glove_files()["text"])
    unit = np.asarray(v.unit)
    index = {k: i for i, k in enumerate(v.keys[:300_000])}
    qs = []
    for line in gensim_data("questions-words.txt").read_text().splitlines():
        w = line.lower().split()
        if not line.startswith(":") and len(w) == 4 and all(x in index for x in w):
            qs.append([index[x] for x in w])
    q4 = np.asarray(qs, dtype=np.int64)
    rng = np.random.default_rng(0)
    queries = np.ascontiguousarray(unit[rng.choice(len(unit), 1000, replace=False)])
    small = q4[rng.choice(len(q4), 2000, replace=False)]
    times, answers = {}, {}

    def timed(name, fn, repeat=1):
        ts = []
        for _ in range(repeat):
            t = time.perf_counter()
            out = fn()
            ts.append(time.perf_counter() - t)
        times[name] = statistics.median(ts)
        answers[name] = int(np.asarray(out[0]).astype(np.int64).sum() % 1_000_000_007)

    timed(OPS[0], lambda: top_k(unit, queries, 10))
    timed(OPS[1], lambda: top_k(unit, queries[:1], 10), repeat=20)
    head = np.ascontiguousarray(unit[:20_000])
    timed(OPS[2], lambda: top_k(head, head, 15, exclude=[(i,) for i in range(20_000)]))
    for name, method in ((OPS[3], "cosadd"), (OPS[4], "cosmul")):
        timed(name, lambda m=method: analogy_ids(unit, *small[:, :3].T, 1, method=m, restrict=300_000))
    for name, method in ((OPS[5], "cosadd"), (OPS[6], "cosmul")):
        timed(name, lambda m=method: best_answers(unit, *q4[:, :3].T, method=m, n=300_000, hints=q4[:, 3]))
    print(json.dumps({"times": times, "answers": answers}))


def run(tree: str | None) -> dict:
    env = dict(os.environ)
    if tree:
        env["PYTHONPATH"] = tree + os.pathsep + env.get("PYTHONPATH", "")
    out = subprocess.run([sys.executable, __file__, "--worker"], env=env, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--anchor", required=True, help="directory holding the other embviz package")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    ours, theirs = [], []
    for _ in range(args.repeat):
        ours.append(run(None))
        theirs.append(run(args.anchor))
    rows = []
    for op in OPS:
        a = [r["times"][op] for r in ours]
        b = [r["times"][op] for r in theirs]
        same = ours[0]["answers"][op] == theirs[0]["answers"][op]
        ma, mb = statistics.median(a), statistics.median(b)
        rows.append({
            "operation": op, "embviz_s": ma, "anchor": "the kernel before exact tie-breaking",
            "anchor_s": mb, "speedup": mb / ma, "target": "within 10% of the anchor, same ids",
            "met": bool(same and ma <= 1.1 * mb),
            "detail": f"runs {', '.join(f'{x:.3f}' for x in a)} s vs {', '.join(f'{x:.3f}' for x in b)} s; "
                      f"ids {'equal' if same else 'DIFFERENT'}",
        })
    write_result(
        "kernel", "Scoring kernel: exact tie-breaking against the previous kernel (GloVe 6B 50d)", rows,
        notes="Worker processes alternate (new, old) in each round; shared 2-core machine with other "
              "engineers' jobs running, so only the ratios of one run mean anything.",
    )


if __name__ == "__main__":
    if "--worker" in sys.argv:
        worker()
    else:
        main()
