"""``embviz info`` takes its statistics from the cache entry, not from the rows (issue 26).

A cache entry stores each row's float64 norm (``norms64.npy``), computed from the rows as the
entry is written. ``info`` on a cached table then reads no row: not the source's (a word2vec
binary read in place), not the entry's ``matrix.npy``. Before, it recomputed the norms from
the rows, reading the whole source a second time right after the cache build had dropped it
from the page cache. The printed figures stay the same, bit for bit.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from test_in_place import _w2v_binary

from embviz import io as eio
from embviz.cli import app
from embviz.io import cache
from embviz.io.binary import SourceRows


def _rows(n: int = 500, dim: int = 7, seed: int = 1) -> np.ndarray:
    """Rows of very different norms: an all-zero row, a tiny one and a huge one."""
    rng = np.random.default_rng(seed)
    rows = (rng.standard_normal((n, dim)) * rng.uniform(0.01, 100.0, (n, 1))).astype(np.float32)
    rows[3] = 0.0
    rows[4] *= 1e-20
    rows[5] *= 1e12
    return rows


def _keys(n: int) -> list[str]:
    return [f"k{i}" for i in range(n)]


def _old_figures(matrix: np.ndarray) -> dict:
    """The norm statistics as ``embviz info`` computed them before the entry stored its norms."""
    m = np.asarray(matrix)
    norms = np.empty(len(m), dtype=np.float64)
    step = max(1, (1 << 22) // m.shape[1])
    for lo in range(0, len(m), step):
        block = np.asarray(m[lo : lo + step], dtype=np.float64)
        norms[lo : lo + len(block)] = np.sqrt(np.einsum("ij,ij->i", block, block))
    return {"norm_min": float(norms.min()), "norm_mean": float(norms.mean(dtype=np.float64)),
            "norm_max": float(norms.max()), "zero_rows": int((norms == 0).sum())}


def _info(runner, path: Path, *args: str) -> str:  # noqa: ANN001
    result = runner.invoke(app, ["info", "-f", "json", "-v", str(path), *args])
    assert result.exit_code == 0, result.stderr
    return result.stdout


@pytest.fixture()
def row_reads(monkeypatch) -> list[int]:  # noqa: ANN001
    """Counts the rows read from a word2vec binary's source through :class:`SourceRows`."""
    reads: list[int] = []
    original = SourceRows._rows

    def counted(self, sel):  # noqa: ANN001, ANN202
        reads.append(len(sel))
        return original(self, sel)

    monkeypatch.setattr(SourceRows, "_rows", counted)
    return reads


def test_info_reads_no_source_row_on_the_first_load_nor_later(tmp_path: Path, runner, row_reads) -> None:  # noqa: ANN001
    rows = _rows()
    src = _w2v_binary(tmp_path / "v.bin", _keys(len(rows)), rows)
    cdir = str(tmp_path / "cache")
    first = _info(runner, src, "--cache-dir", cdir)  # parses the file once, builds the entry
    assert row_reads == []  # the statistics came from the rows as they were parsed
    warm = _info(runner, src, "--cache-dir", cdir)
    assert row_reads == []  # and from the entry afterwards
    assert first == warm == _info(runner, src, "--no-cache")
    assert {k: json.loads(first)[k] for k in ("norm_min", "norm_mean", "norm_max", "zero_rows")} == _old_figures(rows)


def test_a_mapped_entry_brings_its_float64_norms(tmp_path: Path) -> None:
    rows = _rows()
    src = tmp_path / "v.npy"
    np.save(src, rows)
    cdir = tmp_path / "cache"
    eio.load(src, cache_dir=cdir)
    v = eio.load(src, cache_dir=cdir)
    assert isinstance(v.norms64, np.memmap) and v.norms64.dtype == np.float64  # mapped, never recomputed
    b64 = rows.astype(np.float64)
    np.testing.assert_array_equal(v.norms64, np.sqrt(np.einsum("ij,ij->i", b64, b64)))


def _glove(path: Path, keys: list[str], rows: np.ndarray) -> Path:
    path.write_text("".join(k + " " + " ".join(f"{x:.9g}" for x in r) + "\n" for k, r in zip(keys, rows)))
    return path


@pytest.mark.parametrize("kind", ["word2vec", "word2vec-dup", "glove", "npy", "float16", "limit"])
def test_cached_info_prints_what_it_printed_before_bit_for_bit(tmp_path: Path, runner, kind: str) -> None:  # noqa: ANN001
    rows, keys = _rows(3000, 50), _keys(3000)
    extra: list[str] = []
    if kind == "word2vec-dup":  # the reader drops the repeated key: the stored norms must follow
        keys[10] = keys[2]
    if kind == "float16":  # within half precision's range (65,504)
        rows[5] *= 1e-12
    if kind in ("word2vec", "word2vec-dup", "float16", "limit"):
        src = _w2v_binary(tmp_path / "v.bin", keys, rows)
    elif kind == "glove":
        src = _glove(tmp_path / "v.txt", keys, rows)
    else:
        src = tmp_path / "v.npy"
        np.save(src, rows)
    if kind == "float16":
        extra = ["--dtype", "float16"]
    if kind == "limit":
        extra = ["--limit", "1234"]
    cdir = str(tmp_path / "cache")
    cold = _info(runner, src, "--cache-dir", cdir, *extra)
    warm = _info(runner, src, "--cache-dir", cdir, *extra)
    uncached = _info(runner, src, "--no-cache", *extra)
    assert cold == warm == uncached
    table = eio.load(src, cache=False, dtype="float16" if kind == "float16" else "float32",
                     limit=1234 if kind == "limit" else None)
    got = json.loads(warm)
    assert {k: got[k] for k in ("norm_min", "norm_mean", "norm_max", "zero_rows")} == _old_figures(table.matrix)
    assert got["zero_rows"] == (2 if kind == "float16" else 1)  # the tiny row is 0 in half precision


def test_an_entry_of_an_older_layout_is_stale_then_replaced_and_removed(tmp_path: Path, monkeypatch) -> None:  # noqa: ANN001
    rows = _rows()
    src = _w2v_binary(tmp_path / "v.bin", _keys(len(rows)), rows)
    cdir = tmp_path / "cache"
    with monkeypatch.context() as m:
        m.setattr(cache, "_LAYOUT", cache._LAYOUT - 1)
        eio.load(src, cache_dir=cdir)
    [old] = cache.entries(cdir)
    assert old.status == "stale"  # the next load rebuilds it
    [verified] = cache.verify(cdir)
    assert verified.status == "stale" and verified.problem.startswith(f"layout {cache._LAYOUT - 1} ")
    v = eio.load(src, cache_dir=cdir)
    assert v.norms64.shape == (len(rows),)
    [new] = cache.entries(cdir)  # the older entry is gone, not left beside the new one
    assert new.status == "ok" and new.path != old.path and not Path(old.path).exists()


def test_an_entry_without_its_norms_is_rebuilt(tmp_path: Path) -> None:
    rows = _rows()
    src = tmp_path / "v.npy"
    np.save(src, rows)
    cdir = tmp_path / "cache"
    eio.load(src, cache_dir=cdir)
    [entry] = cache.entries(cdir)
    (Path(entry.path) / "norms64.npy").unlink()
    v = eio.load(src, cache_dir=cdir)
    assert (Path(entry.path) / "norms64.npy").is_file()
    assert v.norms64.shape == (len(rows),)


# -- peak memory of whole processes ------------------------------------------------------------
N, DIM = 200_000, 300  # a 229 MiB float32 matrix
_HWM = """
import atexit, sys
def _hwm():  # this process's own peak RSS (not ru_maxrss, which may count other processes)
    line = [x for x in open("/proc/self/status") if x.startswith("VmHWM:")][0]
    sys.stderr.write("VmHWM " + line.split()[1] + "\\n")
atexit.register(_hwm)
"""


def _peak_mib(args: list[str], env: dict) -> float:
    code = _HWM + f"sys.argv = ['embviz', *{args!r}]\nfrom embviz.cli import main\nmain()\n"
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600,
                         env={**os.environ, **env})
    assert run.returncode == 0, run.stderr
    return int([x for x in run.stderr.splitlines() if x.startswith("VmHWM ")][-1].split()[1]) / 1024


def _big_w2v(path: Path) -> Path:
    """A 200,000 x 300 word2vec binary (keys w000000 ..), written in one go with a record dtype."""
    rec = np.dtype([("key", "S7"), ("space", "S1"), ("values", "<f4", (DIM,)), ("nl", "S1")])
    data = np.empty(N, dtype=rec)
    data["key"] = np.char.add(b"w", np.char.zfill(np.arange(N).astype("S6"), 6))
    data["space"], data["nl"] = b" ", b"\n"
    data["values"] = np.random.default_rng(0).standard_normal((N, DIM), dtype=np.float32)
    with open(path, "wb") as f:
        f.write(f"{N} {DIM}\n".encode())
        data.tofile(f)
    return path


@pytest.mark.slow  # writes a 240 MB file and runs five processes
@pytest.mark.parametrize("kind", ["word2vec", "npy"])
def test_info_peak_memory_stays_far_below_the_matrix(tmp_path: Path, kind: str) -> None:
    if kind == "word2vec":
        src = _big_w2v(tmp_path / "big.bin")
    else:
        src = tmp_path / "big.npy"
        np.save(src, np.random.default_rng(0).standard_normal((N, DIM), dtype=np.float32))
    matrix_mib = N * DIM * 4 / 2**20
    env = {"EMBVIZ_CACHE_DIR": str(tmp_path / "cache")}
    info = ["info", "-v", str(src)]
    base = _peak_mib(["--version"], env)  # python, numpy, typer and the CLI: no table
    first = _peak_mib(info, env) - base
    warm = _peak_mib(info, env) - base
    # warm: +20 MiB here, 0.09x (it was +325 MiB, 1.4x: every row read again to recompute norms)
    assert warm < 0.3 * matrix_mib, (warm, matrix_mib)
    if kind == "word2vec":  # read in place: the first load never holds the matrix, and reads it once
        assert first < matrix_mib, (first, matrix_mib)  # +166 MiB here, 0.72x (it was +380, 1.66x)
