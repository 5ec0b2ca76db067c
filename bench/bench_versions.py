"""Two installed versions of embviz side by side: load, cache, queries, evaluation and whole commands.

Usage::

    python bench/bench_versions.py OLD_PYTHON NEW_PYTHON [--rounds 5] [--label NAME]

Each ``*_PYTHON`` is the interpreter of a virtual environment with one version of embviz
installed (e.g. ``pip install /path/to/checkout@commit`` into a fresh venv), so a release is
compared with the previous one in the same run and cannot regress silently. Every operation
runs in a fresh process of each version in turn, ``--rounds`` times, on the real GloVe 6B 50d
files (``bench/_common.glove_files``): library calls timed inside the process, and the whole
commands users run (``embviz --version``, a warm ``embviz neighbors king``, ``embviz evaluate
analogies --no-cache`` on the top 100,000 keys) timed around the process, each version with
its own cache folder (``XDG_CACHE_HOME``). gensim runs in the same rounds as the anchor of the
first load of the word2vec binary (target >= 5x) and of the analogy evaluation. Medians and
ratios go to ``bench/results/<label>.json``. Used for issue 10 (the package layout must not
regress) and for the 0.2.0 release against 0.1.0 (issue 30).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time

from _common import glove_files, write_result

_ONE = r'''
import json, shutil, sys, tempfile, time
op, path, cache = sys.argv[1], sys.argv[2], sys.argv[3]
import embviz
# the functions imported before the clock starts (0.2 imports them on first use, 0.1 at import)
load, neighbors, evaluate_analogies = embviz.load, embviz.neighbors, embviz.evaluate_analogies
t = time.perf_counter()
# the result is kept until the clock stops, as gensim's `kv` is (freeing 400,000 keys is not loading)
if op in ("text, no cache", "binary, no cache"):
    v = load(path, cache=False)
elif op == "text, first load with cache build":
    d = tempfile.mkdtemp(); v = load(path, cache_dir=d); shutil.rmtree(d)
elif op == "text, cached load (mapped)":
    v = load(path, cache_dir=cache)
else:
    v = load(path, cache_dir=cache)
    t = time.perf_counter()
    if op == "evaluate analogies (Google set, 3CosAdd)":
        evaluate_analogies(v)
    else:
        neighbors(v, list(v.keys[:2000]), k=10)
print(json.dumps(time.perf_counter() - t))
'''

_GENSIM = r'''
import json, sys, time
op, path = sys.argv[1], sys.argv[2]
from gensim.models import KeyedVectors
t = time.perf_counter()
kv = KeyedVectors.load_word2vec_format(path, binary=op.startswith("binary"), no_header=op.startswith("evaluate"))
if op.startswith("evaluate"):
    from gensim.test.utils import datapath
    t = time.perf_counter()
    kv.evaluate_word_analogies(datapath("questions-words.txt"), restrict_vocab=len(kv))
print(json.dumps(time.perf_counter() - t))
'''

#: Whole commands (wall time of the process), by the arguments after ``embviz``.
COMMANDS = {
    "embviz --version (process)": ["--version"],
    "warm embviz neighbors king -v glove.6B.50d.txt (process)": ["neighbors", "king", "-v", "{text}"],
    "embviz evaluate analogies -v top 100,000 --no-cache (process)": ["evaluate", "analogies", "-v", "{top}",
                                                                      "--no-cache"],
}
#: Library operations that gensim also answers: the anchor row's operation for gensim.
GENSIM = {"binary, no cache": "binary, no cache",
          "evaluate analogies, top 100,000 (Google set, 3CosAdd)": "evaluate top"}

OPS = ("text, no cache", "binary, no cache", "text, first load with cache build", "text, cached load (mapped)",
       "evaluate analogies (Google set, 3CosAdd)", "neighbors, 2,000 keys batched, k=10")


def _top(files: dict) -> str:
    """Return the first 100,000 lines of the GloVe text (the most frequent keys), written once."""
    top = files["text"].with_name("glove.6B.50d.top100k.txt")
    if not top.exists():
        with open(files["text"], "rb") as src, open(top, "wb") as dst:
            for _, line in zip(range(100_000), src):
                dst.write(line)
    return str(top)


def _command(py: str, args: list[str], cache: str) -> float:
    """Wall time of one ``embviz ARGS`` process of the venv of `py`, with its own cache folder."""
    import os
    from pathlib import Path

    exe = str(Path(py).parent / "embviz")
    env = dict(os.environ, XDG_CACHE_HOME=cache)
    t = time.perf_counter()
    subprocess.run([exe, *args], check=True, capture_output=True, env=env)
    return time.perf_counter() - t


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
    top = _top(files)
    fill = {"text": str(files["text"]), "top": top}
    commands = {name: [x.format(**fill) for x in args] for name, args in COMMANDS.items()}
    for py in (a.old, a.new):  # each version's CLI cache of the text, for the warm query
        _command(py, commands["warm embviz neighbors king -v glove.6B.50d.txt (process)"], caches[py])
    ops = (*OPS, "evaluate analogies, top 100,000 (Google set, 3CosAdd)", *commands)
    times: dict[str, dict[str, list[float]]] = {op: {a.old: [], a.new: [], "gensim": []} for op in ops}
    for _ in range(a.rounds):
        for op in ops:
            path = files["binary"] if op.startswith("binary") else files["text"]
            lib_op = "evaluate analogies (Google set, 3CosAdd)" if op.startswith("evaluate analogies, top") else op
            if op.startswith("evaluate analogies, top"):
                path = top
            for py in (a.old, a.new):
                if op in commands:
                    times[op][py].append(_command(py, commands[op], caches[py]))
                    continue
                out = subprocess.run([py, "-c", _ONE, lib_op, str(path), caches[py]], check=True,
                                     capture_output=True, text=True).stdout
                times[op][py].append(json.loads(out.strip().splitlines()[-1]))
            if op in GENSIM:
                out = subprocess.run([a.new, "-c", _GENSIM, GENSIM[op], str(path)], check=True,
                                     capture_output=True, text=True).stdout
                times[op]["gensim"].append(json.loads(out.strip().splitlines()[-1]))
    rows = []
    for op in ops:
        old, new = statistics.median(times[op][a.old]), statistics.median(times[op][a.new])
        rows.append({"operation": op, "embviz_s": new, "anchor": "previous version", "anchor_s": old,
                     "speedup": old / new, "target": "no regression (>= 0.9x)", "met": old / new >= 0.9,
                     "detail": {"old": times[op][a.old], "new": times[op][a.new]}})
        print(f"{op:60s} old {old:8.3f} s  new {new:8.3f} s  old/new {old / new:5.2f}")
        if times[op]["gensim"]:
            g = statistics.median(times[op]["gensim"])
            target = 5.0 if op.startswith("binary") else 15.0
            rows.append({"operation": op, "embviz_s": new, "anchor": "gensim", "anchor_s": g,
                         "speedup": g / new, "target": f">= {target:g}x faster", "met": g / new >= target,
                         "detail": {"gensim": times[op]["gensim"], "old_speedup": g / old}})
            print(f"{op:60s} gensim {g:8.3f} s  gensim/new {g / new:5.2f}  gensim/old {g / old:5.2f}")
    write_result(a.label, f"Versions side by side ({a.label})", rows,
                 notes=f"{a.rounds} interleaved rounds of fresh processes per version; medians. "
                       "Old: " + a.old + "; new: " + a.new + ".")


if __name__ == "__main__":
    sys.exit(main())
