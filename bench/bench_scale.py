"""GoogleNews-size tables through the commands users run, on two synthetic generators.

Every timed row is a whole process: the ``embviz`` command a user types (``info``,
``neighbors KEY``, ``neighbors - < keys``, ``index build``, ``neighbors --index - < keys``)
or the anchor's script (gensim ``KeyedVectors.load_word2vec_format(binary=True)`` then
``most_similar``), fresh each time, wall time and peak RSS from ``wait4``. Before every first
load the source is written back and evicted from the page cache (``sync``, ``drop_caches``
as root, ``posix_fadvise(POSIX_FADV_DONTNEED)`` on the file), for both tools, so both read
it from disk; the cache folder is emptied before each embviz first load.

Two generators of an N x 300 word2vec binary (keys ``w0`` .. ``w{N-1}``), both seeded:

- ``separated``: 2,000 equally likely Gaussian centres (standard normal), each row a centre
  plus isotropic noise of standard deviation 0.7 per dimension: well separated clusters, the
  generator of the earlier 3M rows.
- ``overlapping``: 2,000 centres (standard normal) with Zipf-distributed sizes (the i-th
  largest has weight ``1 / i**1.1``: the largest holds about 12% of the rows, the 1,000
  smallest together about 4%), each row a centre plus anisotropic noise: a shared random
  rotation of per-dimension scales that fall as ``(j + 1) ** -0.5`` (normalised to a total
  variance of 300 x 0.9**2), times a per-cluster log-normal factor (sigma 0.3). Clusters
  overlap (the noise norm, about 16, is of the order of the distance between centres, about 24),
  as word vectors do, and the largest clusters crowd the IVF cells that queries land in.

Rows per generator (medians of ``BENCH_REPEAT`` rounds, default 3, the sides alternating):
first ``embviz info`` and first ``embviz neighbors KEY`` (empty cache) against gensim's load
and load + ``most_similar`` (one gensim process per round: its load time is the process wall
minus its own ``most_similar`` seconds); warm ``embviz neighbors KEY`` (3 keys) against the floor
``python -c "import numpy"`` + one matrix-vector product over the cache's unit rows; warm
``embviz neighbors - < 1,000 keys`` against the floor ``import numpy`` + the blocked matrix
product of those 1,000 rows; ``embviz index build --method ivf`` (time, peak RSS, the nprobe
it chose and its recall); ``embviz neighbors --index - < 1,000 keys`` against the exact
command, with recall@10 computed from the two outputs.

Run: ``EMBVIZ_SCALE_N=3000000 python bench/bench_scale.py`` (writes bench/results/scale.json).
``EMBVIZ_SCALE_GENERATORS=overlapping`` runs one generator; files live in
``$EMBVIZ_SCALE_DIR`` (default ``/work/scratch/scale``), deleted at the end unless
``EMBVIZ_SCALE_KEEP=1``. ``EMBVIZ_SCALE_PARTS`` (default ``first,warm,index``) runs some of the
three groups of rows (``index`` needs ``warm``: its recall and speed-up are against the exact
command's output); ``warm`` without ``first`` needs the cache folder that a kept run, or one
``embviz info -v FILE --cache-dir DIR``, left. ``EMBVIZ_SCALE_INDEX=hnsw`` (default ``ivf``)
with ``EMBVIZ_SCALE_INDEX_ARGS`` (``"--ef-construction 100"``) chooses the index the ``index``
rows build; ``EMBVIZ_SCALE_REUSE_INDEX=1`` reports one already stored in the cache folder
(its own record's build time and chosen depth) instead of building it again.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import statistics
import sys
import textwrap
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import _run, evict, write_result  # noqa: E402

DIM = 300
CENTRES = 2000
QUERIES = 1000


def _write(path: Path, n: int, dim: int, blocks) -> None:
    tmp = path.with_suffix(".tmp")
    with open(tmp, "wb") as f:
        f.write(f"{n} {dim}\n".encode())
        lo = 0
        for block in blocks:
            f.write(b"".join(b"w%d " % i + row.tobytes() + b"\n" for i, row in zip(range(lo, lo + len(block)), block)))
            lo += len(block)
    os.replace(tmp, path)


def generate_separated(path: Path, n: int, dim: int = DIM, seed: int = 0) -> None:
    """2,000 equally likely Gaussian centres, isotropic noise 0.7 (written in blocks of 100,000 rows)."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((CENTRES, dim), dtype=np.float32)

    def blocks():
        for lo in range(0, n, 100_000):
            hi = min(n, lo + 100_000)
            block = centres[rng.integers(0, CENTRES, hi - lo)]
            block += 0.7 * rng.standard_normal((hi - lo, dim), dtype=np.float32)
            yield block

    _write(path, n, dim, blocks())


def generate_overlapping(path: Path, n: int, dim: int = DIM, seed: int = 1) -> None:
    """Overlapping clusters of Zipf sizes with anisotropic noise (see the module docstring)."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((CENTRES, dim), dtype=np.float32)
    weights = 1.0 / np.arange(1, CENTRES + 1) ** 1.1
    weights /= weights.sum()
    spectrum = (np.arange(dim) + 1.0) ** -0.5
    spectrum *= np.sqrt(dim * 0.9**2 / np.sum(spectrum**2))
    rotation, _ = np.linalg.qr(rng.standard_normal((dim, dim)))
    axes = (spectrum[:, None] * rotation.T).astype(np.float32)  # noise = z @ axes
    spread = np.exp(0.3 * rng.standard_normal(CENTRES)).astype(np.float32)

    def blocks():
        for lo in range(0, n, 100_000):
            hi = min(n, lo + 100_000)
            which = rng.choice(CENTRES, size=hi - lo, p=weights)
            noise = rng.standard_normal((hi - lo, dim), dtype=np.float32) @ axes
            yield centres[which] + spread[which, None] * noise

    _write(path, n, dim, blocks())


GENERATORS = {"separated": generate_separated, "overlapping": generate_overlapping}


def warm(folder: Path) -> None:
    """Read every file under `folder` once, so a warm command finds it in the page cache."""
    for f in sorted(folder.rglob("*")):
        if f.is_file():
            with open(f, "rb") as fh:
                while fh.read(1 << 24):
                    pass


def run(cmd, stdin: bytes | None = None) -> tuple[float, float, bytes, str]:
    """``(wall s, peak RSS MiB, stdout, stderr)`` of a fresh process; raises if it fails."""
    wall, rss, out, err, code = _run(cmd, stdin=stdin)
    if code != 0:
        raise RuntimeError(f"{' '.join(map(str, cmd))} failed ({code}): {err.decode()[-2000:]}")
    return wall, rss, out, err.decode()


def top10(tsv: bytes) -> dict[str, list[str]]:
    """Return the neighbor keys per query of ``embviz neighbors -f tsv`` output."""
    got: dict[str, list[str]] = {}
    for line in tsv.decode().splitlines()[1:]:
        query, _, key, _ = line.split("\t")
        got.setdefault(query, []).append(key)
    return got


def one_generator(name: str, n: int, repeat: int, scratch: Path,
                  parts: tuple[str, ...] = ("first", "warm", "index")) -> list[dict]:
    py = sys.executable
    embviz = str(Path(py).with_name("embviz"))
    src = scratch / f"{name}-{n}x{DIM}.bin"
    cdir = scratch / f"cache-{name}"
    if not src.exists():
        t = time.perf_counter()
        GENERATORS[name](src, n)
        print(f"generated {src} ({src.stat().st_size / 2**30:.2f} GiB) in {time.perf_counter() - t:.0f} s", flush=True)
    size = f"{n:,} x {DIM}, {name}"
    matrix_mib = n * DIM * 4 / 2**20
    med = statistics.median
    cache = ["-v", str(src), "--cache-dir", str(cdir)]
    rng = np.random.default_rng(3)
    keys = [f"w{i}" for i in sorted(rng.choice(n, QUERIES, replace=False))]
    stdin = ("\n".join(keys) + "\n").encode()
    probe = keys[:3]
    rows: list[dict] = []

    # -- first load through two commands, against gensim (alternating) ----------------------------
    if "first" in parts:
        gensim = f"""
    import json, time
    from gensim.models import KeyedVectors
    kv = KeyedVectors.load_word2vec_format({str(src)!r}, binary=True)
    t = time.perf_counter(); kv.most_similar({probe[0]!r}, topn=10)
    print(json.dumps({{"query": time.perf_counter() - t}}))
    """
        info, info_rss, nb, nb_rss, g_load, g_nb, g_rss = [], [], [], [], [], [], []
        for r in range(repeat):
            shutil.rmtree(cdir, ignore_errors=True)
            evict(src)
            w, m, _, _ = run([embviz, "info", *cache])
            info.append(w)
            info_rss.append(m)
            evict(src)
            w, m, out, _ = run([py, "-c", textwrap.dedent(gensim)])
            g_nb.append(w)
            g_load.append(w - json.loads(out.decode().splitlines()[-1])["query"])
            g_rss.append(m)
            shutil.rmtree(cdir, ignore_errors=True)
            evict(src)
            w, m, _, _ = run([embviz, "neighbors", probe[0], "-k", "10", *cache])
            nb.append(w)
            nb_rss.append(m)
            print(f"[{name}] round {r}: info {info[-1]:.1f} s {info_rss[-1]:,.0f} MiB; neighbors {nb[-1]:.1f} s "
                  f"{nb_rss[-1]:,.0f} MiB; gensim load {g_load[-1]:.1f} s, +most_similar {g_nb[-1]:.1f} s "
                  f"{g_rss[-1]:,.0f} MiB", flush=True)
        rows.append({
            "operation": f"first `embviz info -v FILE` (empty cache, source evicted), {size}",
            "embviz_s": round(med(info), 2), "anchor": "gensim load_word2vec_format(binary=True), whole process",
            "anchor_s": round(med(g_load), 2), "speedup": round(med(g_load) / med(info), 2),
            "peak_rss_mib": round(max(info_rss)), "target": ">= 3x gensim, peak RSS <= 0.3x the matrix",
            "met": med(g_load) / med(info) >= 3 and max(info_rss) <= 0.3 * matrix_mib,
            "detail": f"peak RSS {max(info_rss) / matrix_mib:.2f}x the matrix ({matrix_mib:,.0f} MiB); "
                      f"gensim {max(g_rss):,.0f} MiB; rounds "
                      f"{', '.join(f'{a:.1f}/{b:.1f}' for a, b in zip(info, g_load))} s"})
        rows.append({
            "operation": f"first `embviz neighbors {probe[0]}` (empty cache, source evicted), {size}",
            "embviz_s": round(med(nb), 2), "anchor": "gensim load + most_similar, whole process",
            "anchor_s": round(med(g_nb), 2), "speedup": round(med(g_nb) / med(nb), 2),
            "peak_rss_mib": round(max(nb_rss)), "target": ">= 3x gensim",
            "met": med(g_nb) / med(nb) >= 3,
            "detail": f"peak RSS {max(nb_rss) / matrix_mib:.2f}x the matrix (a search touches every unit row); "
                      f"rounds {', '.join(f'{a:.1f}/{b:.1f}' for a, b in zip(nb, g_nb))} s"})

    # -- warm: one key, 1,000 keys, each against its floor --------------------------------------
    if "warm" in parts or "index" in parts:
        warm(cdir)
        entry = next(cdir.glob("vectors/*/unit.npy"), None) or next(cdir.glob("vectors/*/*.npy"))
        floor_code = f"""
    import json, time, numpy as np
    unit = np.load({str(entry)!r}, mmap_mode="r")
    q = np.asarray(unit[{n // 2}], dtype=np.float32)
    one = []
    for _ in range(5):
        t = time.perf_counter(); s = unit @ q; np.argpartition(-s, 10)[:10]; one.append(time.perf_counter() - t)
    rows = np.sort(np.random.default_rng(3).choice(len(unit), {QUERIES}, replace=False))
    qs = np.ascontiguousarray(unit[rows]); out = np.empty(({QUERIES}, 32768), np.float32)
    t = time.perf_counter()
    for lo in range(0, len(unit), 32768):
        hi = min(len(unit), lo + 32768); np.matmul(qs, unit[lo:hi].T, out=out[:, :hi - lo])
    print(json.dumps({{"one": float(np.median(one)), "batch": time.perf_counter() - t}}))
    """
        single, batch, imports, f_one, f_batch, batch_rss = [], [], [], [], [], []
        exact_out = b""
        for _ in range(repeat):
            for key in probe:
                single.append(run([embviz, "neighbors", key, "-k", "10", "-f", "tsv", *cache])[0])
            imports.append(run([py, "-c", "import numpy"])[0])
            _, _, out, _ = run([py, "-c", textwrap.dedent(floor_code)])
            got = json.loads(out.decode().splitlines()[-1])
            f_one.append(got["one"])
            f_batch.append(got["batch"])
            w, m, exact_out, _ = run([embviz, "neighbors", "-", "-k", "10", "-f", "tsv", *cache], stdin=stdin)
            batch.append(w)
            batch_rss.append(m)
        floor1 = med(imports) + med(f_one)
        floor_b = med(imports) + med(f_batch)
        rows.append({
            "operation": f"warm `embviz neighbors KEY` (whole process, 3 keys), {size}",
            "embviz_s": round(med(single), 3),
            "anchor": "floor: `python -c 'import numpy'` + one matrix-vector product",
            "anchor_s": round(floor1, 3), "speedup": round(floor1 / med(single), 2),
            "target": "< 0.7 s and <= 1.5x the floor", "met": med(single) < 0.7 and med(single) <= 1.5 * floor1,
            "detail": f"{med(single) / floor1:.2f}x the floor (import numpy {med(imports):.3f} s, "
                      f"product + top-10 {med(f_one):.3f} s)"})
        rows.append({
            "operation": f"warm `embviz neighbors - < {QUERIES:,} keys` (whole process), {size}",
            "embviz_s": round(med(batch), 2), "anchor": "floor: import numpy + the blocked matrix product",
            "anchor_s": round(floor_b, 2), "speedup": round(floor_b / med(batch), 2),
            "peak_rss_mib": round(max(batch_rss)), "target": "within 1.3x the floor",
            "met": med(batch) <= 1.3 * floor_b, "detail": f"{med(batch) / floor_b:.2f}x the floor"})

    # -- IVF: build (chosen nprobe by measured recall), then 1,000 queries through the index -----
    if "index" in parts:
        method = os.environ.get("EMBVIZ_SCALE_INDEX", "ivf")
        build_args = os.environ.get("EMBVIZ_SCALE_INDEX_ARGS", "").split()
        kept = next(cdir.glob(f"vectors/*/index-{method}.json"), None)
        if os.environ.get("EMBVIZ_SCALE_REUSE_INDEX") == "1" and kept is not None:
            # an index built earlier (an HNSW build of 3M rows takes most of an hour): its
            # own record gives the build time and the depth it chose; no RSS measured here
            rec = json.loads(kept.read_text())
            w, m = float(rec["build_s"]), None
            params = ", ".join(f"{k}={v}" for k, v in rec["params"].items())
            chosen = (f"reused the stored index ({rec['created']}): {params} chosen: "
                      f"recall@10 {rec['recall_at_10']} on {rec['recall_sample']:,} sample keys")
        else:
            w, m, _, err = run([embviz, "index", "build", "--method", method, *build_args, *cache])
            chosen = next((line for line in err.splitlines() if "chosen" in line or "no nprobe" in line
                           or "reach" in line), err.strip().splitlines()[-1] if err.strip() else "")
        print(f"[{name}] index build {w:.0f} s, {m or 0:,.0f} MiB: {chosen}", flush=True)
        rows.append({
            "operation": f"`embviz index build --method {' '.join([method, *build_args])}`, {size}",
            "embviz_s": round(w, 1), "anchor": "the matrix (peak RSS)", "anchor_s": None, "speedup": None,
            "peak_rss_mib": round(m) if m is not None else None, "target": "peak RSS <= 1.5x the matrix",
            "met": m <= 1.5 * matrix_mib if m is not None else None,
            "detail": (f"peak RSS {m / matrix_mib:.2f}x the matrix; " if m is not None else "")
            + chosen.removeprefix("embviz: ")})
        idx, idx_out = [], b""
        for _ in range(repeat):
            w, _, idx_out, _ = run([embviz, "neighbors", "--index", "-", "-k", "10", "-f", "tsv", *cache], stdin=stdin)
            idx.append(w)
        truth, got = top10(exact_out), top10(idx_out)
        recall = float(np.mean([len(set(truth[k]) & set(got.get(k, []))) / 10 for k in truth]))
        nprobe = re.search(r"(nprobe|ef_search)=(\d+)", chosen)
        rows.append({
            "operation": f"`embviz neighbors --index - < {QUERIES:,} keys` (whole process), {size}",
            "embviz_s": round(med(idx), 2), "anchor": "the exact command (above)", "anchor_s": round(med(batch), 2),
            "speedup": round(med(batch) / med(idx), 2), "target": ">= 10x exact at recall@10 >= 0.95",
            "met": med(batch) / med(idx) >= 10 and recall >= 0.95,
            "detail": f"recall@10 {recall:.3f} against the exact command's rows"
                      + (f"; {nprobe.group(1)} {nprobe.group(2)}" if nprobe else "")})
    for row in rows:
        row["generator"] = name
    return rows


def main() -> None:
    n = int(os.environ.get("EMBVIZ_SCALE_N", "3000000"))
    repeat = int(os.environ.get("BENCH_REPEAT", "3"))
    scratch = Path(os.environ.get("EMBVIZ_SCALE_DIR", "/work/scratch/scale"))
    scratch.mkdir(parents=True, exist_ok=True)
    names = os.environ.get("EMBVIZ_SCALE_GENERATORS", "separated,overlapping").split(",")
    parts = tuple(os.environ.get("EMBVIZ_SCALE_PARTS", "first,warm,index").split(","))
    rows = []
    for name in names:
        rows += one_generator(name, n, repeat, scratch, parts)
        if os.environ.get("EMBVIZ_SCALE_KEEP") != "1":
            shutil.rmtree(scratch / f"cache-{name}", ignore_errors=True)
            (scratch / f"{name}-{n}x{DIM}.bin").unlink(missing_ok=True)
    write_result(
        os.environ.get("EMBVIZ_SCALE_RESULT", "scale"),
        f"{n:,} x {DIM} word2vec binaries through whole commands ({', '.join(names)} generators)", rows,
        notes=f"Medians of {repeat} rounds, sides alternating, fresh processes, peak RSS from wait4; "
              f"load average {os.getloadavg()[0]:.1f} at the end.",
    )


if __name__ == "__main__":
    main()
