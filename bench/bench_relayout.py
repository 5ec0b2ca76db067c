"""embviz serve: lay out a 5,000-key selection again (PCA and UMAP), against umap-learn itself.

On GloVe 6B 50d (400,000 keys; ``glove.6B.50d.bin``) by default, through a real ``embviz serve``
process: the time from ``POST /api/layout`` to the job's answer (polled every 20 ms), for a
selection of 5,000 keys drawn at random (a new seed each round; the server's cache folder
starts empty, so no round is answered from the layout cache) from the 50,000 most frequent
keys. The server has drawn its page with UMAP before, so numba's code is compiled in it, as it
is for a user who opened the page.

Anchors, in the same rounds:

- UMAP: umap-learn's own ``umap.UMAP(metric="cosine").fit_transform(rows)`` on the same 5,000
  unit rows, in this benchmark's process, right after the server's answer for them (the two
  alternate), where one untimed fit of another 5,000 rows has compiled numba's code (the
  server's page was drawn by UMAP on 5,000 points, so its code is compiled too); target: the
  server's whole request within 1.3x of it.
- PCA: the numpy floor, the SVD of the same 5,000 centred unit rows; target: the whole request
  under 1 s.

Results: ``bench/results/relayout.json`` (``python bench/report.py`` renders them).
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import glove_files, write_result  # noqa: E402

EMBVIZ = str(Path(sys.executable).parent / "embviz")
N_KEYS = 5000

def layout(base: str, keys: list[str], method: str) -> tuple[float, dict]:
    """Seconds from the POST to the answer, and the answer."""
    t = time.perf_counter()
    req = urllib.request.Request(base + "/api/layout", data=json.dumps({"keys": keys, "method": method}).encode(),
                                 method="POST", headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=60) as r:
        job = json.loads(r.read())["job"]
    while True:
        with urllib.request.urlopen(f"{base}/api/layout?job={job}", timeout=60) as r:
            body = json.loads(r.read())
        if body["status"] in ("done", "error"):
            if body["status"] == "error":
                raise RuntimeError(body["error"])
            return time.perf_counter() - t, body
        time.sleep(0.02)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--vectors", default=None)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    path = args.vectors or str(glove_files()["binary"])
    import embviz

    v = embviz.load(path)
    unit = np.asarray(v.unit)
    import shutil
    import tempfile

    cache = tempfile.mkdtemp(prefix="embviz-relayout-cache-")  # empty: no layout is answered from the cache
    proc = subprocess.Popen([EMBVIZ, "serve", "-v", path, "--port", "0", "--top", "5000", "--cache-dir", cache],
                            stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True)
    try:
        base = None
        for line in proc.stderr:
            m = re.search(r" at (http://[^/\s]+)/", line)
            if m:
                base = m.group(1)
                break
        if base is None:
            raise RuntimeError("embviz serve did not start")
        import umap

        warm = np.sort(np.random.default_rng(99).choice(50_000, N_KEYS, replace=False))
        umap.UMAP(metric="cosine").fit_transform(unit[warm])  # compile numba's code here too, untimed
        server = {"umap": [], "pca": []}
        recall = {"umap": [], "pca": []}
        umap_s, svd_s = [], []
        for r in range(args.repeat):
            ids = np.sort(np.random.default_rng(100 + r).choice(50_000, N_KEYS, replace=False))
            keys = [v.keys[i] for i in ids]
            for method in ("pca", "umap"):
                s, body = layout(base, keys, method)
                assert not body["cached"] and len(body["rows"]) == N_KEYS
                server[method].append(s)
                recall[method].append(body["recall"])
            rows = unit[ids]
            t = time.perf_counter()
            umap.UMAP(metric="cosine").fit_transform(rows)
            umap_s.append(time.perf_counter() - t)
            t = time.perf_counter()
            np.linalg.svd(rows - rows.mean(axis=0), full_matrices=False)
            svd_s.append(time.perf_counter() - t)
            print(f"round {r}: server pca {server['pca'][-1]:.2f} s, umap {server['umap'][-1]:.2f} s "
                  f"(recall@10 {recall['umap'][-1]:.3f}); umap-learn {umap_s[-1]:.2f} s, svd {svd_s[-1]:.3f} s",
                  flush=True)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        shutil.rmtree(cache, ignore_errors=True)
    med = statistics.median
    size = f"{N_KEYS:,} keys of {v.count:,} x {v.dim}"
    rows = [
        {"operation": f"re-layout by UMAP through `embviz serve` (POST /api/layout to the answer), {size}",
         "embviz_s": med(server["umap"]), "anchor": "umap-learn UMAP(metric='cosine').fit_transform, numba warm",
         "anchor_s": med(umap_s), "speedup": med(umap_s) / med(server["umap"]), "target": "<= 1.3x umap-learn",
         "met": med(server["umap"]) <= 1.3 * med(umap_s),
         "detail": f"server {', '.join(f'{x:.2f}' for x in server['umap'])} s (recall@10 "
                   f"{med(recall['umap']):.3f}); umap-learn {', '.join(f'{x:.2f}' for x in umap_s)} s"},
        {"operation": f"re-layout by PCA through `embviz serve`, {size}",
         "embviz_s": med(server["pca"]), "anchor": "numpy SVD of the centred rows (floor)",
         "anchor_s": med(svd_s), "speedup": med(svd_s) / med(server["pca"]), "target": "< 1 s",
         "met": med(server["pca"]) < 1.0,
         "detail": f"server {', '.join(f'{x:.3f}' for x in server['pca'])} s (recall@10 {med(recall['pca']):.3f})"},
    ]
    write_result("relayout", "embviz serve: lay out a 5,000-key selection again", rows,
                 notes="Each round a new random selection of 5,000 of the 50,000 most frequent keys (seeds 100, "
                       "101, ...), so the layout cache never answers; the server's time includes the exact cosine "
                       "kNN it passes to UMAP and the recall@10 trust score.")


if __name__ == "__main__":
    main()
