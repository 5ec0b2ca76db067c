"""What the cache's integrity checks cost: the sampled check on load against a warm query.

Usage: python bench/bench_integrity.py [--repeat 15]

A warm query is ``load`` (mapping a valid cache entry) plus ``neighbors(king, k=10)`` on the real
GloVe 6B 50d (400,000 x 50). It is timed with the sampled block check (the default: one random
256 KiB block of ``matrix.npy`` and of ``unit.npy``) and without it, interleaved in one process,
and the check is timed alone; the target is under 5% of the warm query. The checks at build
time (block CRCs of both arrays and a BLAKE2b of the source) are timed against the whole
cache build. Medians of ``--repeat`` runs; the machine is shared with other engineers.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import glove_files, write_result  # noqa: E402


def main() -> None:
    """Measure and write bench/results/integrity.json."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=15)
    args = ap.parse_args()
    from embviz import io as eio
    from embviz import search
    from embviz.io import cache, integrity

    src = glove_files()["binary"]
    tmp = Path(tempfile.mkdtemp(prefix="embviz-bench-integrity-"))
    try:
        t = time.perf_counter()
        eio.load(src, cache_dir=tmp)
        build = time.perf_counter() - t
        entry = next(p for p in (tmp / "vectors").iterdir() if not p.name.startswith("."))
        meta = json.loads((entry / "meta.json").read_text())
        t = time.perf_counter()
        integrity.entry_blocks(entry)
        blocks_s = time.perf_counter() - t
        t = time.perf_counter()
        integrity.file_blake2b(src)
        blake_s = time.perf_counter() - t

        real = integrity.sampled_ok
        with_check, without, check_alone = [], [], []
        for i in range(args.repeat * 2):  # interleaved: with, without, with, ...
            on = i % 2 == 0
            cache._integrity.sampled_ok = real if on else (lambda entry, blocks: True)
            t = time.perf_counter()
            v = eio.load(src, cache_dir=tmp)
            search.neighbors(v, "king", k=10)
            (with_check if on else without).append(time.perf_counter() - t)
            t = time.perf_counter()
            real(entry, meta["blocks"])
            check_alone.append(time.perf_counter() - t)
        cache._integrity.sampled_ok = real
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    q_on, q_off = statistics.median(with_check), statistics.median(without)
    check = statistics.median(check_alone)
    rows = [
        {"operation": "warm query (load a cached entry + neighbors king), with the sampled check",
         "embviz_s": q_on, "anchor": "same, without the check", "anchor_s": q_off,
         "speedup": q_off / q_on, "target": "check < 5% of a warm query", "met": check < 0.05 * q_off,
         "detail": {"check_alone_s": check, "check_share": check / q_off}},
        {"operation": "cache build of GloVe 6B 50d binary (whole)", "embviz_s": build,
         "anchor": "of which: block CRCs + BLAKE2b of the source", "anchor_s": blocks_s + blake_s,
         "target": "reported", "detail": {"block_crcs_s": blocks_s, "source_blake2b_s": blake_s}},
    ]
    write_result(
        "integrity", "Cache integrity checks (sampled check on load, checksums at build)", rows,
        notes=(f"Sampled check alone: median {check * 1e3:.2f} ms = {100 * check / q_off:.1f}% of a warm "
               f"query ({q_off * 1e3:.1f} ms without it, {q_on * 1e3:.1f} ms with it; {args.repeat} "
               "interleaved runs each). The machine was shared with other engineers running tests."),
    )


if __name__ == "__main__":
    main()
