"""Loading embeddings from Parquet and .npy: embviz against its anchors, side by side, fresh processes.

Usage: pip install '.[bench]' && python bench/bench_formats.py [--repeat 5] [--npy-repeat 7] [--big-rows N]

Rows (GloVe 6B 50d, 400,000 x 50, written once from the real vectors):

- Parquet first load (no cache) vs embviz's own word2vec binary load of the same vectors
  (target: within 1.5x) and vs ``pandas.read_parquet`` + ``np.stack`` (target: >= 3x faster);
- ``.npy`` first load without the cache, memory-mapped (target: < 50 ms), with keys from a
  ``NAME.keys.txt`` sidecar and without (row ids ``0..n-1``, an ``nn.Embedding`` table),
  measured ``--npy-repeat`` times (default 7) after the Parquet rows;
- with ``--big-rows N`` (default 0: skipped), peak RSS of an N x 300 float32 random table;
  the issue's 3,000,000 x 300 is measured by ``bench/bench_formats_scale.py``.

The measurements of each row are interleaved (embviz, anchor, embviz, anchor ...), each one a
fresh interpreter, and the median is reported: of the load call's wall and CPU seconds, timed
inside the process (imports excluded), and of the whole process's wall seconds (start-up and
imports included).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import DATA, _run, glove_files, write_result  # noqa: E402

_EMBVIZ = """
import json, time
from embviz import io as embviz_io
t, c = time.perf_counter(), time.process_time()
v = embviz_io.load({path!r}, cache=False)
s, cpu = time.perf_counter() - t, time.process_time() - c
assert v.count == {n}
print(json.dumps({{"s": s, "cpu": cpu, "matrix_mib": v.matrix.nbytes / 2**20}}))
"""

_PANDAS = """
import json, time
import numpy as np, pandas as pd
t, c = time.perf_counter(), time.process_time()
df = pd.read_parquet({path!r})
keys = df["key"].tolist()
matrix = np.stack(df["vector"].to_numpy()).astype(np.float32)
s, cpu = time.perf_counter() - t, time.process_time() - c
assert matrix.shape == ({n}, 50)
print(json.dumps({{"s": s, "cpu": cpu}}))
"""

# embviz's Parquet reader with its read-ahead thread forced on, and forced off (by default it
# is used when the load average leaves a core idle: embviz.io.tables._read_ahead)
_THREADED = "from embviz.io import tables\ntables._read_ahead = lambda: True\n"
_SEQUENTIAL = "from embviz.io import tables\ntables._read_ahead = lambda: False\n"

# the imports are timed in neither: both sides import numpy/pyarrow first
_PRE_IMPORT = "import numpy, pyarrow, pyarrow.parquet, pandas\n"


def _measure(code: str) -> tuple[dict, float]:
    import json

    wall, rss, out, err, rc = _run([sys.executable, "-c", code])
    if rc != 0:
        raise RuntimeError(err.decode()[-3000:])
    return dict(json.loads(out.decode().strip().splitlines()[-1]), process_s=wall), rss


def interleaved(codes: dict[str, str], repeat: int) -> dict[str, dict]:
    """Run each code `repeat` times, alternating; median seconds and max peak RSS of each."""
    runs: dict[str, list] = {k: [] for k in codes}
    for _ in range(repeat):
        for name, code in codes.items():
            runs[name].append(_measure(code))
    return {
        name: {"s": statistics.median(r[0]["s"] for r in rs), "all": [round(r[0]["s"], 4) for r in rs],
               "cpu": statistics.median(r[0].get("cpu", 0.0) for r in rs),
               "process_s": statistics.median(r[0]["process_s"] for r in rs),
               "rss": max(r[1] for r in rs), "last": rs[-1][0]}
        for name, rs in runs.items()
    }


def _in_child(code: str) -> None:
    """Run `code` in a fresh interpreter, so this process stays small.

    Linux carries a process's peak RSS across fork and exec: a child forked from a big parent
    would report the parent's size as its own peak.
    """
    _, _, _, err, rc = _run([sys.executable, "-c", code])
    if rc != 0:
        raise RuntimeError(err.decode()[-3000:])


def glove_tables() -> dict[str, Path]:
    """GloVe 6B 50d as Parquet (embviz's writer) and .npy + keys, beside the word2vec binary."""
    files = glove_files()
    out = {"binary": files["binary"], "parquet": DATA / "glove.6B.50d.parquet", "npy": DATA / "glove.6B.50d.npy",
           "npy_ids": DATA / "rowids" / "glove.6B.50d.npy"}  # no keys file beside it: row ids
    if not (out["parquet"].exists() and out["npy"].exists()):
        _in_child(f"""from embviz import io
v = io.load({str(files["binary"])!r}, cache=False)
io.save(v, {str(out["parquet"])!r})
io.save(v, {str(out["npy"])!r})
""")
    if not out["npy_ids"].exists():
        out["npy_ids"].parent.mkdir(exist_ok=True)
        os.symlink(out["npy"], out["npy_ids"])
    return out


_BIG = """
import numpy as np
from pathlib import Path
from embviz import io
from embviz.vectors import Vectors
tmp, big = Path({tmp!r}), {big}
rng = np.random.default_rng(0)
m = np.lib.format.open_memmap(tmp / "big.npy", mode="w+", dtype=np.float32, shape=(big, 300))
for lo in range(0, big, 100_000):
    m[lo : lo + 100_000] = rng.standard_normal((min(100_000, big - lo), 300), dtype=np.float32)
m.flush()
keys = [f"item{{i}}" for i in range(big)]
(tmp / "big.keys.txt").write_text("".join(k + "\\n" for k in keys))
io.save(Vectors(keys, np.load(tmp / "big.npy", mmap_mode="r")), tmp / "big.parquet")
"""


def _big_rows(big: int, r: int) -> list[dict]:
    """Peak RSS of a `big` x 300 float32 random table, keys item0 ... (.npy + keys.txt, Parquet)."""
    rows = []
    with tempfile.TemporaryDirectory(prefix="embviz-bench-formats-") as tmp:
        _in_child(_BIG.format(tmp=tmp, big=big))
        res = interleaved({
            "npy": _PRE_IMPORT + _EMBVIZ.format(path=str(Path(tmp) / "big.npy"), n=big),
            "parquet": _PRE_IMPORT + _EMBVIZ.format(path=str(Path(tmp) / "big.parquet"), n=big),
            "baseline": "import json, numpy, pyarrow, pyarrow.parquet, pandas\n"
                        "from embviz import io\nprint(json.dumps({'s': 0.0}))",
        }, max(1, r // 2))
        mat = big * 300 * 4 / 2**20
        base = res["baseline"]["rss"]
        for name, label in (("npy", ".npy (mapped; pages counted in RSS)"), ("parquet", "Parquet (key + vector)")):
            grown = res[name]["rss"] - base
            rows.append({"operation": f"peak RSS, {big:,} x 300 float32 {label}, no cache", "embviz_s": res[name]["s"],
                         "anchor": f"matrix {mat:,.0f} MiB (+ interpreter and imports {base:,.0f} MiB)",
                         "anchor_s": None, "speedup": None, "peak_rss_mib": res[name]["rss"],
                         "target": "<= 1.2x the matrix", "met": grown <= 1.2 * mat,
                         "detail": {"rss_growth_over_imports_mib": grown, "ratio": grown / mat}})
    return rows


def main() -> None:
    """Run every row and write bench/results/formats.json."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--npy-repeat", type=int, default=7)
    ap.add_argument("--big-rows", type=int, default=0)
    args = ap.parse_args()
    r = args.repeat
    load0 = os.getloadavg()[0]
    f = glove_tables()
    n = 400_000
    rows = []

    res = interleaved({
        "parquet": _PRE_IMPORT + _EMBVIZ.format(path=str(f["parquet"]), n=n),
        "binary": _PRE_IMPORT + _EMBVIZ.format(path=str(f["binary"]), n=n),
        "pandas": _PRE_IMPORT + _PANDAS.format(path=str(f["parquet"]), n=n),
        "threaded": _PRE_IMPORT + _THREADED + _EMBVIZ.format(path=str(f["parquet"]), n=n),
        "sequential": _PRE_IMPORT + _SEQUENTIAL + _EMBVIZ.format(path=str(f["parquet"]), n=n),
    }, r)
    load_mid = os.getloadavg()[0]
    res.update(interleaved({
        "npy": _PRE_IMPORT + _EMBVIZ.format(path=str(f["npy"]), n=n),
        "npy_ids": _PRE_IMPORT + _EMBVIZ.format(path=str(f["npy_ids"]), n=n),
    }, args.npy_repeat))
    pq, bn, pd_, npy, ids = res["parquet"], res["binary"], res["pandas"], res["npy"], res["npy_ids"]
    rows.append({"operation": "first load, Parquet 400,000 x 50 (key + fixed_size_list<float32>), no cache",
                 "embviz_s": pq["s"], "anchor": "embviz word2vec binary load of the same vectors (84 MB)",
                 "anchor_s": bn["s"], "speedup": bn["s"] / pq["s"], "peak_rss_mib": pq["rss"],
                 "target": "within 1.5x of the binary load", "met": pq["s"] <= 1.5 * bn["s"],
                 "detail": {"embviz_runs": pq["all"], "anchor_runs": bn["all"], "embviz_cpu_s": pq["cpu"],
                            "anchor_cpu_s": bn["cpu"], "cpu_ratio": bn["cpu"] / pq["cpu"],
                            "embviz_process_s": pq["process_s"], "anchor_process_s": bn["process_s"]}})
    rows.append({"operation": "first load, Parquet 400,000 x 50, no cache", "embviz_s": pq["s"],
                 "anchor": "pandas.read_parquet + np.stack", "anchor_s": pd_["s"],
                 "speedup": pd_["s"] / pq["s"], "peak_rss_mib": pq["rss"], "target": ">= 3x faster",
                 "met": pd_["s"] >= 3 * pq["s"],
                 "detail": {"anchor_runs": pd_["all"], "anchor_rss_mib": pd_["rss"], "embviz_cpu_s": pq["cpu"],
                            "anchor_cpu_s": pd_["cpu"], "cpu_ratio": pd_["cpu"] / pq["cpu"],
                            "embviz_process_s": pq["process_s"], "anchor_process_s": pd_["process_s"]}})
    sq, th = res["sequential"], res["threaded"]
    rows.append({"operation": "first load, Parquet 400,000 x 50, no cache, batches read ahead on a helper thread "
                              "(forced on)",
                 "embviz_s": th["s"], "anchor": "the same reader, helper thread forced off (sequential)",
                 "anchor_s": sq["s"], "speedup": sq["s"] / th["s"], "peak_rss_mib": th["rss"],
                 "target": "", "met": None,
                 "detail": {"embviz_runs": th["all"], "anchor_runs": sq["all"], "embviz_cpu_s": th["cpu"],
                            "anchor_cpu_s": sq["cpu"], "anchor_rss_mib": sq["rss"]}})
    rows.append({"operation": "first load, .npy 400,000 x 50 float32 + keys.txt, no cache (memory-mapped)",
                 "embviz_s": npy["s"], "anchor": "", "anchor_s": None, "speedup": None,
                 "peak_rss_mib": npy["rss"], "target": "< 0.050 s", "met": npy["s"] < 0.05,
                 "detail": {"embviz_runs": npy["all"], "embviz_cpu_s": npy["cpu"],
                            "embviz_process_s": npy["process_s"]}})
    rows.append({"operation": "first load, .npy 400,000 x 50 float32 without keys (row ids), no cache (memory-mapped)",
                 "embviz_s": ids["s"], "anchor": "", "anchor_s": None, "speedup": None,
                 "peak_rss_mib": ids["rss"], "target": "< 0.050 s", "met": ids["s"] < 0.05,
                 "detail": {"embviz_runs": ids["all"], "embviz_cpu_s": ids["cpu"],
                            "embviz_process_s": ids["process_s"]}})

    if args.big_rows:  # the 3,000,000 x 300: bench/bench_formats_scale.py
        rows += _big_rows(args.big_rows, r)

    load = os.getloadavg()[0]
    notes = (f"Shared 2-core machine, loaded by other engineers during the run (load average {load0:.1f} "
             f"at the start, {load:.1f} at the end): "
             "only the ratios of one run mean anything, and CPU seconds (in each row's detail in "
             "bench/results/formats.json) are steadier than wall seconds. Each timing is a fresh interpreter; the "
             "seconds are those of the load call (embviz_process_s in the detail is the whole process, with "
             "start-up and imports); numpy, "
             f"pyarrow and pandas are imported before the clock starts on every side. Load average {load_mid:.1f} "
             f"between the Parquet rows ({r} rounds) and the .npy rows ({args.npy_repeat} rounds). Peak memory "
             "of the issue's 3,000,000 x 300 table: bench/bench_formats_scale.py.")
    write_result("formats", "Parquet and .npy loading (bench/bench_formats.py)", rows, notes)


if __name__ == "__main__":
    main()
