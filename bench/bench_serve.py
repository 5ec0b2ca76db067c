"""embviz serve: start-up, neighbors latency (exact and from the index) and concurrent clients.

Whole processes, as a user runs them, on GloVe 6B 50d (400,000 keys; ``glove.6B.50d.bin``) by
default or any table given with ``--vectors``:

1. **Start-up**, warm cache (layout and vector cache filled by a first run): from launching
   ``embviz serve --top 5000`` to the page interactive in Chromium (Debian's, Playwright,
   software rendering), median of ``--repeat`` runs.
2. **Latency** of ``/api/neighbors?q=KEY&k=10`` for 200 keys drawn from the whole table
   (seed 0), one client, p50 and p95, exact and with ``--index``; the anchor is the command a
   user would otherwise run for one key, ``embviz neighbors KEY`` (a warm fresh process,
   median of 5 keys), and the numpy product floor of one query (``unit @ q`` and argpartition).
3. **Concurrency**: 8 clients sending the same 200 requests at once; p95 against the
   single-client p95 (target <= 3x).

Results: ``bench/results/serve.json`` (``python bench/report.py`` renders them into
docs/benchmarks.md).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import glove_files, write_result  # noqa: E402

EMBVIZ = str(Path(sys.executable).parent / "embviz")
CHROMIUM = "/usr/bin/chromium"


def start(args: list[str], env: dict) -> tuple[subprocess.Popen, str, float]:
    """Launch ``embviz serve ARGS``; return (process, url, seconds until it printed the address)."""
    t0 = time.perf_counter()
    proc = subprocess.Popen([EMBVIZ, "serve", "--port", "0", *args], stderr=subprocess.PIPE,
                            stdout=subprocess.DEVNULL, text=True, env={**os.environ, **env})
    while True:
        line = proc.stderr.readline()
        if not line:
            raise SystemExit(f"embviz serve stopped: {proc.wait()}")
        m = re.search(r" at (http://\S+) \(Ctrl-C stops\)$", line)
        if m:
            return proc, m.group(1), time.perf_counter() - t0


def stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    proc.wait(timeout=60)
    proc.stderr.close()


def interactive(url: str) -> float:
    """Seconds from navigation to the explorer ready (the page's own clock)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox", "--disable-gpu"])
        page = b.new_page()
        t0 = time.perf_counter()
        page.goto(url)
        page.wait_for_function("() => window.embviz && window.embviz.ready", timeout=120_000)
        took = time.perf_counter() - t0
        b.close()
    return took


def get(url: str) -> float:
    t0 = time.perf_counter()
    with urllib.request.urlopen(url, timeout=120) as r:
        body = json.loads(r.read())
    assert r.status == 200 and len(body["rows"]) == 10, body
    return time.perf_counter() - t0


def latencies(base: str, keys: list[str], clients: int = 1) -> list[float]:
    urls = [f"{base}api/neighbors?q={urllib.parse.quote(k)}&k=10" for k in keys]
    if clients == 1:
        return [get(u) for u in urls]
    with ThreadPoolExecutor(clients) as pool:
        return [t for part in pool.map(lambda _: [get(u) for u in urls], range(clients)) for t in part]


def pct(xs: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(xs), q))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--vectors", default=None, help="table to serve (default: GloVe 6B 50d, 400,000 keys)")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--requests", type=int, default=200)
    ap.add_argument("--name", default="serve")
    args = ap.parse_args()
    path = Path(args.vectors) if args.vectors else glove_files()["binary"]
    cache = Path(os.environ.get("EMBVIZ_CACHE_DIR") or "/tmp/embviz-bench-serve-cache")
    env = {"EMBVIZ_CACHE_DIR": str(cache)}
    import embviz

    v = embviz.load(path, cache_dir=cache)
    rng = np.random.default_rng(0)
    keys = [v.keys[i] for i in rng.choice(v.count, args.requests, replace=False)]
    serve_args = ["-v", str(path), "--top", "5000"]
    rows: list[dict] = []
    # 1. start-up, warm: a first run fills the layout cache and the index
    proc, url, _ = start([*serve_args, "--index"], env)
    stop(proc)
    starts, pages = [], []
    for _ in range(args.repeat):
        proc, url, took = start(serve_args, env)
        starts.append(took)
        pages.append(interactive(url))
        if _ == 0:
            exact = latencies(url, keys)
            conc = latencies(url, keys, clients=8)
        stop(proc)
    total = [a + b for a, b in zip(starts, pages)]
    rows.append({"operation": f"serve start-up to an interactive page, warm cache, {v.count:,} x {v.dim}, top 5,000",
                 "embviz_s": round(statistics.median(total), 2), "anchor": "target 10 s", "anchor_s": 10.0,
                 "speedup": round(10.0 / statistics.median(total), 2), "target": "< 10 s",
                 "met": statistics.median(total) < 10.0,
                 "detail": f"server up (address printed) {', '.join(f'{x:.2f}' for x in starts)} s; page to "
                           f"interactive in Chromium {', '.join(f'{x:.2f}' for x in pages)} s"})
    # the anchor: one warm `embviz neighbors KEY` process per key
    cli = []
    for key in keys[:5]:
        t0 = time.perf_counter()
        subprocess.run([EMBVIZ, "neighbors", "-v", str(path), "-k", "10", "-q", "-f", "tsv", "--", key],
                       check=True, capture_output=True, env={**os.environ, **env})
        cli.append(time.perf_counter() - t0)
    unit = np.ascontiguousarray(v.unit, dtype=np.float32)
    floor = []
    for key in keys[:50]:
        q = unit[v.key_to_index[key]]
        t0 = time.perf_counter()
        s = unit @ q
        np.argpartition(-s, 11)[:11]
        floor.append(time.perf_counter() - t0)
    p50, p95 = pct(exact, 50), pct(exact, 95)
    rows.append({"operation": f"GET /api/neighbors, exact, k=10, {len(keys)} keys from the whole table, one client",
                 "embviz_s": round(p50, 4), "anchor": "embviz neighbors KEY, a warm fresh process",
                 "anchor_s": round(statistics.median(cli), 3), "speedup": round(statistics.median(cli) / p50, 1),
                 "target": "p95 < 1.5 s", "met": p95 < 1.5,
                 "detail": f"p50 {p50 * 1000:.1f} ms, p95 {p95 * 1000:.1f} ms, max {max(exact) * 1000:.1f} ms; numpy "
                           f"floor of one query (unit @ q + argpartition) {statistics.median(floor) * 1000:.1f} ms"})
    c95 = pct(conc, 95)
    rows.append({"operation": f"GET /api/neighbors, exact, 8 clients at once ({8 * len(keys)} requests)",
                 "embviz_s": round(c95, 4), "anchor": "p95 of one client", "anchor_s": round(p95, 4),
                 "speedup": round(p95 / c95, 2), "target": "p95 <= 3x one client's", "met": c95 <= 3 * p95,
                 "detail": f"p50 {pct(conc, 50) * 1000:.1f} ms, p95 {c95 * 1000:.1f} ms "
                           f"({c95 / p95:.2f}x one client's)"})
    # 2. with the stored index
    proc, url, _ = start([*serve_args, "--index"], env)
    indexed = latencies(url, keys)
    conc_i = latencies(url, keys, clients=8)
    stop(proc)
    i50, i95 = pct(indexed, 50), pct(indexed, 95)
    rows.append({"operation": f"GET /api/neighbors, --index (HNSW), k=10, {len(keys)} keys, one client",
                 "embviz_s": round(i50, 4), "anchor": "the same requests, exact", "anchor_s": round(p50, 4),
                 "speedup": round(p50 / i50, 1), "target": "p95 < 50 ms", "met": i95 < 0.05,
                 "detail": f"p50 {i50 * 1000:.1f} ms, p95 {i95 * 1000:.1f} ms; 8 clients at once: p95 "
                           f"{pct(conc_i, 95) * 1000:.1f} ms"})
    notes = (f"Table {path.name} ({v.count:,} x {v.dim}); whole processes; warm vector, layout and index "
             f"caches ({cache}); {len(keys)} keys drawn from the whole table with seed 0; latencies measured by "
             "an HTTP client (urllib) on the same machine, JSON parsed; Chromium with --disable-gpu. Start-up: "
             f"{args.repeat} runs.")
    write_result(args.name, "embviz serve: start-up, neighbors latency and concurrent clients", rows, notes)


if __name__ == "__main__":
    main()
