"""``embviz info`` builds a word2vec binary's cache entry without its unit rows (issue 26).

The entry of a word2vec binary read in place keeps the rows in the source; its only big file
is ``unit.npy`` (the normalised rows, as many bytes as the source), which only a search
needs. A first ``info`` writes the keys, offsets and norms and marks the entry deferred; the
first command that searches writes ``unit.npy`` into the entry, bit for bit what a search's
own first load writes, and every answer stays the same.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from test_in_place import _w2v_binary

from embviz import io as eio
from embviz.cli import app
from embviz.io import cache


def _entry(cdir: Path) -> Path:
    [entry] = [p for p in (cdir / "vectors").iterdir() if not p.name.startswith(".")]
    return entry


def _source(tmp_path: Path, n: int = 3000, dim: int = 300) -> Path:
    rng = np.random.default_rng(11)
    rows = (rng.standard_normal((n, dim)) * rng.lognormal(0, 1, (n, 1))).astype(np.float32)
    rows[17] = 0.0
    return _w2v_binary(tmp_path / "v.bin", [f"w{i}" for i in range(n)], rows)


def _run(runner, *args: str) -> str:  # noqa: ANN001
    result = runner.invoke(app, list(args))
    assert result.exit_code == 0, result.stderr
    return result.stdout


@pytest.mark.parametrize("dtype", ["float32", "float16"])
def test_info_defers_the_unit_rows_and_the_first_search_writes_them_bit_for_bit(tmp_path: Path, runner, dtype) -> None:  # noqa: ANN001
    src = _source(tmp_path)
    lazy, eager = tmp_path / "lazy", tmp_path / "eager"
    common = ["-v", str(src), "--dtype", dtype]
    info = _run(runner, "info", "-f", "json", *common, "--cache-dir", str(lazy))
    entry = _entry(lazy)
    meta = json.loads((entry / "meta.json").read_text())
    assert meta["unit"] == "deferred" and "unit.npy" not in meta["blocks"]
    assert not (entry / "unit.npy").exists()
    # the same figures as from a full entry, and a second info keeps the entry deferred
    assert info == _run(runner, "info", "-f", "json", *common, "--cache-dir", str(eager))
    assert _run(runner, "info", "-f", "json", *common, "--cache-dir", str(lazy)) == info
    assert not (entry / "unit.npy").exists()
    assert [e.status for e in cache.entries(lazy)] == ["ok"]

    query = ["neighbors", "w5", "w2999", "-k", "7", "-f", "tsv", *common]
    got = _run(runner, *query, "--cache-dir", str(lazy))
    assert got == _run(runner, *query, "--cache-dir", str(eager))
    assert got == _run(runner, *query, "--no-cache")
    assert (entry / "unit.npy").exists()
    full = _entry(eager)
    np.testing.assert_array_equal(np.load(entry / "unit.npy"), np.load(full / "unit.npy"))
    meta = json.loads((entry / "meta.json").read_text())
    assert "unit" not in meta
    assert meta["blocks"]["unit.npy"] == json.loads((full / "meta.json").read_text())["blocks"]["unit.npy"]
    assert [v.status for v in cache.verify(lazy)] == ["ok"]
    assert not [p.name for p in entry.iterdir() if p.name.startswith(".")]  # no temporary file left
    # the filled entry is a full one from now on: mapped as it is
    table = eio.load(src, cache_dir=lazy, dtype=dtype)
    assert isinstance(table.unit, np.memmap) and table.unit_digest == eio.load(src, cache_dir=eager, dtype=dtype).unit_digest


def test_a_deferred_entry_with_damaged_norms_is_rebuilt_not_trusted(tmp_path: Path, runner) -> None:  # noqa: ANN001
    src = _source(tmp_path, n=400, dim=50)
    cdir = tmp_path / "c"
    _run(runner, "info", "-v", str(src), "--cache-dir", str(cdir))
    entry = _entry(cdir)
    norms = np.load(entry / "norms.npy")
    np.save(entry / "norms.npy", norms * 2)  # the unit rows would come out half as long
    want = _run(runner, "neighbors", "w5", "-f", "tsv", "-v", str(src), "--no-cache")
    assert _run(runner, "neighbors", "w5", "-f", "tsv", "-v", str(src), "--cache-dir", str(cdir)) == want
    np.testing.assert_array_equal(np.load(_entry(cdir) / "norms.npy"), norms)


def test_the_library_load_writes_the_unit_rows_by_default(tmp_path: Path) -> None:
    src = _source(tmp_path, n=400, dim=50)
    cdir = tmp_path / "c"
    eio.load(src, cache_dir=cdir)
    assert (_entry(cdir) / "unit.npy").exists()
    assert "unit" not in json.loads((_entry(cdir) / "meta.json").read_text())
    t = eio.load(tmp_path / "v.bin", cache_dir=tmp_path / "d", unit=False)
    assert not (_entry(tmp_path / "d") / "unit.npy").exists()
    np.testing.assert_array_equal(t.unit, eio.load(src, cache_dir=cdir).unit)  # computed from the rows
