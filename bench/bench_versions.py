"""Two installed versions of embviz side by side: load, cache, queries and evaluation, interleaved.

Usage::

    python bench/bench_versions.py OLD_PYTHON NEW_PYTHON [--rounds 5] [--label NAME]

Each ``*_PYTHON`` is the interpreter of a virtual environment with one version of embviz
installed (e.g. ``pip install /path/to/checkout@commit`` into a fresh venv). Every operation runs
in a fresh process of each version in turn, ``--rounds`` times, on the real GloVe 6B 50d files
(``bench/_common.glove_files``); medians and new/old ratios go to ``bench/results/<label>.json``.
Used for issue 10 (the package layout must not regress loading or evaluation).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile

from _common import glove_files, write_result

_ONE = r'''
import json, shutil, sys, tempfile, time
op, path, cache = sys.argv[1], sys.argv[2], sys.argv[3]
import embviz
t = time.perf_counter()
if op in ("text, no cache", "binary, no cache"):
    embviz.load(path, cache=False)
elif op == "text, first load with cache build":
    d = tempfile.mkdtemp(); embviz.load(path, cache_dir=d); shutil.rmtree(d)
elif op == "text, cached load (mapped)":
    embviz.load(path, cache_dir=cache)
else:
    v = embviz.load(path, cache_dir=cache)
    t = time.perf_counter()
    if op == "evaluate analogies (Google set, 3CosAdd)":
        embviz.evaluate_analogies(v)
    else:
        embviz.neighbors(v, list(v.keys[:2000]), k=10)
print(json.dumps(time.perf_counter() - t))
'''

OPS = ("text, no cache", "binary, no cache", "text, first load with cache build", "text, cached load (mapped)",
       "evaluate analogies (Google set, 3CosAdd)", "neighbors, 2,000 keys batched, k=10")


def main() -> None:
    """Time every operation with both interpreters, interleaved, and write the results file."""
    ap = argparse.ArgumentParser()
    ap.add_argument("old")
    ap.add_argument("new")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--label", default="versions")
    a = ap.parse_args()
    files = glove_files()
    caches = {py: tempfile.mkdtemp(prefix="embviz-bench-") for py in (a.old, a.new)}
    for py in (a.old, a.new):  # warm each version's own cache
        subprocess.run([py, "-c", _ONE, "text, cached load (mapped)", str(files["text"]), caches[py]], check=True)
    times: dict[str, dict[str, list[float]]] = {op: {a.old: [], a.new: []} for op in OPS}
    for _ in range(a.rounds):
        for op in OPS:
            path = files["binary"] if op.startswith("binary") else files["text"]
            for py in (a.old, a.new):
                out = subprocess.run([py, "-c", _ONE, op, str(path), caches[py]], check=True,
                                     capture_output=True, text=True).stdout
                times[op][py].append(json.loads(out.strip().splitlines()[-1]))
    rows = []
    for op in OPS:
        old, new = statistics.median(times[op][a.old]), statistics.median(times[op][a.new])
        rows.append({"operation": op, "embviz_s": new, "anchor": "previous version", "anchor_s": old,
                     "speedup": old / new, "target": "no regression (>= 0.9x)", "met": old / new >= 0.9,
                     "detail": {"old": times[op][a.old], "new": times[op][a.new]}})
        print(f"{op:45s} old {old:8.3f} s  new {new:8.3f} s  old/new {old / new:5.2f}")
    write_result(a.label, f"Versions side by side ({a.label})", rows,
                 notes=f"{a.rounds} interleaved rounds of fresh processes per version; medians. "
                       "Old: " + a.old + "; new: " + a.new + ".")


if __name__ == "__main__":
    sys.exit(main())
