"""The memory-mapped vector cache: never stale, never corrupt, never in the way."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

from embviz import io as formats
from embviz.cli import app
from embviz.errors import EmbvizWarning
from embviz.io import cache

ROWS = {
    "king": [1.0, 0.0, 0.2],
    "queen": [0.9, 0.1, 0.25],
    "man": [0.1, 1.0, 0.0],
    "woman": [0.0, 0.9, 0.3],
}


def _write_glove(path: Path, rows: dict[str, list[float]]) -> Path:
    path.write_text("".join(f"{k} {' '.join(map(str, v))}\n" for k, v in rows.items()))
    return path


def _entries(cache_dir: Path) -> list[Path]:
    root = cache_dir / "vectors"
    return sorted(p for p in root.iterdir()) if root.is_dir() else []


@pytest.fixture()
def src(tmp_path: Path) -> Path:
    return _write_glove(tmp_path / "vecs.txt", ROWS)


def test_first_load_writes_an_entry_and_second_load_maps_it(src: Path, tmp_path: Path) -> None:
    cdir = tmp_path / "cache"
    first = formats.load(src, cache_dir=cdir)
    [entry] = _entries(cdir)
    assert sorted(p.name for p in entry.iterdir()) == [
        "key_ends.npy", "keys.txt", "matrix.npy", "meta.json", "norms64.npy", "unit.npy",
    ]
    second = formats.load(src, cache_dir=cdir)
    assert isinstance(second.matrix, np.memmap) and isinstance(second.unit, np.memmap)
    assert not second.matrix.flags.writeable
    assert second.keys == first.keys == tuple(ROWS)
    np.testing.assert_array_equal(second.matrix, np.array(list(ROWS.values()), dtype=np.float32))
    np.testing.assert_allclose(np.linalg.norm(second.unit, axis=1), 1.0, rtol=1e-6)


def test_no_cache_writes_nothing(src: Path, tmp_path: Path) -> None:
    cdir = tmp_path / "cache"
    v = formats.load(src, cache=False, cache_dir=cdir)
    assert v.count == 4 and not cdir.exists()


def test_changed_source_is_rebuilt_not_served_stale(src: Path, tmp_path: Path) -> None:
    cdir = tmp_path / "cache"
    formats.load(src, cache_dir=cdir)
    changed = dict(ROWS, king=[5.0, 5.0, 5.0])
    _write_glove(src, changed)
    assert formats.load(src, cache_dir=cdir)["king"].tolist() == [5.0, 5.0, 5.0]


def test_same_size_and_mtime_but_new_content_is_caught_by_the_fingerprint(src: Path, tmp_path: Path) -> None:
    cdir = tmp_path / "cache"
    formats.load(src, cache_dir=cdir)
    st = src.stat()
    text = src.read_text().replace("king 1.0", "king 7.0")  # same length
    src.write_text(text)
    os.utime(src, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert src.stat().st_size == st.st_size and src.stat().st_mtime_ns == st.st_mtime_ns
    assert formats.load(src, cache_dir=cdir)["king"][0] == 7.0


@pytest.mark.parametrize(
    "damage",
    [
        lambda e: (e / "matrix.npy").write_bytes((e / "matrix.npy").read_bytes()[:100]),
        lambda e: (e / "unit.npy").unlink(),
        lambda e: (e / "keys.txt").write_text("king\nqueen\nman\nwomen\n"),
        lambda e: (e / "meta.json").write_text("{not json"),
        lambda e: (e / "meta.json").write_text(json.dumps({"layout": 1})),
        lambda e: np.save(e / "key_ends.npy", np.load(e / "key_ends.npy") - 1),
        lambda e: np.save(e / "key_ends.npy", np.load(e / "key_ends.npy")[1:]),
        lambda e: (e / "key_ends.npy").unlink(),
    ],
    ids=["truncated-matrix", "missing-unit", "corrupt-keys", "garbage-meta", "incomplete-meta",
         "shifted-key-ends", "short-key-ends", "missing-key-ends"],
)
def test_a_broken_entry_is_rebuilt_not_trusted(src: Path, tmp_path: Path, damage) -> None:
    cdir = tmp_path / "cache"
    formats.load(src, cache_dir=cdir)
    [entry] = _entries(cdir)
    damage(entry)
    v = formats.load(src, cache_dir=cdir)
    assert v.keys == tuple(ROWS)
    np.testing.assert_array_equal(v.matrix, np.array(list(ROWS.values()), dtype=np.float32))
    # and the entry was repaired: the next load maps it again
    assert isinstance(formats.load(src, cache_dir=cdir).matrix, np.memmap)


def test_key_ends_map_each_key_to_its_row_and_refuse_offsets_off_a_newline(tmp_path: Path) -> None:
    from embviz.errors import FormatError
    from embviz.vectors import KeyBlob

    rows = {f"k{i}": [float(i), 1.0] for i in range(5000)}
    cdir = tmp_path / "cache"
    formats.load(_write_glove(tmp_path / "big.txt", rows), cache_dir=cdir)
    v = formats.load(tmp_path / "big.txt", cache_dir=cdir)
    [entry] = _entries(cdir)
    ends = np.load(entry / "key_ends.npy")
    assert ends.dtype == np.int64 and len(ends) == 5000
    assert [v.keys.index(k) for k in ("k0", "k1", "k2500", "k4999")] == [0, 1, 2500, 4999]
    assert v.keys[2500] == "k2500" and v.keys[4998:] == ("k4998", "k4999")
    # a stored offset that is off a newline (bit rot the sampled check did not see) raises
    # rather than answer with another key's bytes
    blob = (entry / "keys.txt").read_bytes()
    bad = ends.copy()
    bad[2500] -= 1
    keys = KeyBlob(blob, bad, checked=True)
    assert keys[100] == "k100"
    with pytest.raises(FormatError, match="key_ends.npy does not fit"):
        keys[2500]
    with pytest.raises(FormatError, match="key_ends.npy does not fit"):
        keys.index("k2501")


def test_leftover_temporary_directory_of_a_killed_process_is_ignored_and_cleared(src: Path, tmp_path: Path) -> None:
    cdir = tmp_path / "cache"
    formats.load(src, cache_dir=cdir)
    [entry] = _entries(cdir)
    killed = entry.with_name(f".tmp-{entry.name}-999999-deadbeef")
    killed.mkdir()
    (killed / "matrix.npy").write_bytes(b"\x93NUMPY partial")
    assert formats.load(src, cache_dir=cdir).keys == tuple(ROWS)
    assert [e.status for e in cache.entries(cdir)] == ["ok"]
    assert cache.clear(cdir)[0] == 1
    assert _entries(cdir) == []


def test_unwritable_cache_dir_falls_back_with_one_warning(src: Path, tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    with pytest.warns(EmbvizWarning, match=r"cannot write the vector cache in .*a-file.*loading without the cache") as rec:
        v = formats.load(src, cache_dir=blocker / "cache")
    assert len(rec) == 1
    assert v.keys == tuple(ROWS)


def test_permission_denied_falls_back_with_one_warning(src: Path, tmp_path: Path, monkeypatch) -> None:
    def deny(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(cache, "_write_entry", deny)
    with pytest.warns(EmbvizWarning, match=r"\(Permission denied\); loading without the cache") as rec:
        v = formats.load(src, cache_dir=tmp_path / "cache")
    assert len(rec) == 1 and v.count == 4
    root = tmp_path / "cache" / "vectors"
    assert not root.exists() or not any(p.name.startswith(".tmp") for p in root.iterdir())


def test_permission_denied_via_cli_prints_one_warning_line(src: Path, tmp_path: Path, runner) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    result = runner.invoke(app, ["similarity", "king", "queen", "-v", str(src), "--cache-dir", str(blocker)])
    assert result.exit_code == 0
    assert result.stdout.startswith("a\tb\tscore\nking\tqueen\t")
    assert result.stderr.count("\n") == 1
    assert result.stderr.startswith("embviz: warning: cannot write the vector cache in ")


_CONCURRENT = """
import sys
from embviz import io as formats
v = formats.load(sys.argv[1], cache_dir=sys.argv[2])
print(v.count, v.keys[-1], float(v.matrix.sum()))
"""


def test_concurrent_builders_both_succeed_and_leave_one_valid_entry(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    big = {f"w{i}": rng.standard_normal(20).round(4).tolist() for i in range(20_000)}
    src = _write_glove(tmp_path / "big.txt", big)
    cdir = tmp_path / "cache"
    procs = [
        subprocess.Popen([sys.executable, "-c", _CONCURRENT, str(src), str(cdir)], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
        for _ in range(3)
    ]
    outs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0], outs
    assert len({o for o, _ in outs}) == 1 and outs[0][0].startswith("20000 w19999 ")
    assert all(err == "" for _, err in outs)
    assert len(_entries(cdir)) == 1 and not _entries(cdir)[0].name.startswith(".")
    assert [e.status for e in cache.entries(cdir)] == ["ok"]


def test_float16_cache_halves_memory_and_keeps_neighbors(tmp_path: Path, sample) -> None:
    from embviz import sample_path
    from embviz import search as query

    half = formats.load(sample_path(), cache_dir=tmp_path / "c16", dtype="float16")
    assert half.matrix.dtype == np.float16 and half.matrix.nbytes * 2 == sample.matrix.nbytes
    full = [n.key for n in query.neighbors(sample, "king", k=5)]
    assert [n.key for n in query.neighbors(half, "king", k=5)] == full


def test_cache_list_and_clear_cli(src: Path, tmp_path: Path, runner) -> None:
    cdir = tmp_path / "cache"
    formats.load(src, cache_dir=cdir)
    result = runner.invoke(app, ["cache", "list", "--cache-dir", str(cdir), "-f", "jsonl"])
    assert result.exit_code == 0, result.stderr
    [row] = [json.loads(line) for line in result.stdout.splitlines()]
    assert (row["source"], row["count"], row["dim"], row["dtype"], row["status"]) == (
        str(src.resolve()), 4, 3, "float32", "ok")
    _write_glove(src, dict(ROWS, extra=[0.0, 0.0, 1.0]))
    result = runner.invoke(app, ["cache", "list", "--cache-dir", str(cdir), "-f", "jsonl"])
    assert json.loads(result.stdout)["status"] == "stale"
    result = runner.invoke(app, ["cache", "clear", "--cache-dir", str(cdir)])
    assert result.exit_code == 0
    assert result.stderr.startswith("embviz: removed 1 cache entries (")
    assert _entries(cdir) == []


def test_warm_cache_needs_no_parser(src: Path, tmp_path: Path) -> None:
    """A mapped load never imports pandas (the text parser) nor reads the file's rows."""
    cdir = tmp_path / "cache"
    formats.load(src, cache_dir=cdir)
    code = (
        "import sys; from embviz import io as formats; "
        f"v = formats.load({str(src)!r}, cache_dir={str(cdir)!r}); "
        "print(type(v.matrix).__name__, 'pandas' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "memmap False"


def test_the_sample_from_any_cwd_uses_one_entry(tmp_path: Path) -> None:
    from embviz import sample_path

    cdir = tmp_path / "cache"
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        a = formats.load(sample_path(), cache_dir=cdir)
        b = formats.load(sample_path(), cache_dir=cdir)
    assert a.count == b.count == 40_000
    assert len(_entries(cdir)) == 1


def test_warnings_from_parsing_are_repeated_by_every_mapped_load(tmp_path: Path) -> None:
    src = tmp_path / "dups.txt"
    src.write_text("a 1 0\nb 0 1\na 5 5\n")
    cdir = tmp_path / "cache"
    for _ in range(2):  # the parsing load, then a mapped one
        with pytest.warns(EmbvizWarning, match=r"1 duplicate keys, kept the first") as rec:
            v = formats.load(src, cache_dir=cdir)
        assert len(rec) == 1
        assert v.keys == ("a", "b") and v["a"].tolist() == [1.0, 0.0]
    assert isinstance(v.matrix, np.memmap)
