"""A word2vec binary's cache entry keeps the rows in the source: offsets, norms, unit rows.

The first load streams the unit rows to the entry and never holds the matrix; later loads
read rows from the source file at the stored offsets (``embviz.io.binary.SourceRows``). Every
value must equal what an in-memory load (``cache=False``) and gensim give.
"""

from __future__ import annotations

import errno
import json
from pathlib import Path

import numpy as np
import pytest

from embviz import io as eio
from embviz.io import cache
from embviz.io.binary import SourceRows


def _w2v_binary(path: Path, keys: list[str], rows: np.ndarray) -> Path:
    with open(path, "wb") as f:
        f.write(f"{len(keys)} {rows.shape[1]}\n".encode())
        for k, r in zip(keys, rows):
            f.write(k.encode() + b" " + r.astype("<f4").tobytes() + b"\n")
    return path


def _entry(cdir: Path) -> Path:
    [entry] = [p for p in (cdir / "vectors").iterdir() if not p.name.startswith(".")]
    return entry


@pytest.fixture()
def table(sample) -> tuple[list[str], np.ndarray]:  # noqa: ANN001 - the session's sample
    rng = np.random.default_rng(3)
    ids = np.sort(rng.choice(sample.count, 3000, replace=False))
    rows = np.array(sample.matrix[ids])
    rows[7] = 0.0  # an all-zero row stays zero
    rows[11] *= 1e-20  # a tiny row is normalised in float64
    return [sample.keys[i] for i in ids], rows


def test_entry_stores_offsets_and_unit_rows_and_every_value_matches(tmp_path: Path, table) -> None:  # noqa: ANN001
    from gensim.models import KeyedVectors

    keys, rows = table
    src = _w2v_binary(tmp_path / "v.bin", keys, rows)
    cdir = tmp_path / "cache"
    first = eio.load(src, cache_dir=cdir)
    entry = _entry(cdir)
    assert sorted(p.name for p in entry.iterdir()) == [
        "key_ends.npy", "keys.txt", "meta.json", "norms.npy", "norms64.npy", "offsets.npy", "unit.npy",
    ]
    assert json.loads((entry / "meta.json").read_text())["rows"] == "source"
    assert (entry / "keys.txt").read_bytes() == "".join(k + "\n" for k in keys).encode()
    mem = eio.load(src, cache=False)
    kv = KeyedVectors.load_word2vec_format(str(src), binary=True)
    for v in (first, eio.load(src, cache_dir=cdir)):
        assert isinstance(v.matrix, SourceRows)
        assert list(v.keys) == keys
        np.testing.assert_array_equal(np.asarray(v.matrix), rows)
        np.testing.assert_array_equal(np.asarray(v.unit), mem.unit)  # bit for bit
        np.testing.assert_array_equal(np.asarray(v.norms), mem.norms)
        np.testing.assert_array_equal(v[keys[42]], kv[keys[42]])
        np.testing.assert_array_equal(v.lookup([5, 0, 5]), rows[[5, 0, 5]])
    assert not first.unit[7].any() and abs(float(np.linalg.norm(first.unit[11])) - 1) < 1e-6


def test_float16_entry_rounds_as_an_in_memory_float16_table(tmp_path: Path, table) -> None:  # noqa: ANN001
    keys, rows = table
    src = _w2v_binary(tmp_path / "v.bin", keys, rows)
    v = eio.load(src, cache_dir=tmp_path / "cache", dtype="float16")
    mem = eio.load(src, cache=False, dtype="float16")
    assert v.matrix.dtype == np.float16 and v.unit.dtype == np.float16
    np.testing.assert_array_equal(np.asarray(v.matrix), mem.matrix)
    np.testing.assert_array_equal(np.asarray(v.unit), mem.unit)


def test_source_rows_index_as_numpy_does(tmp_path: Path, table) -> None:  # noqa: ANN001
    keys, rows = table
    v = eio.load(_w2v_binary(tmp_path / "v.bin", keys, rows), cache_dir=tmp_path / "cache")
    m = v.matrix
    assert m.shape == rows.shape and len(m) == len(rows) and m.ndim == 2 and m.nbytes == rows.nbytes
    mask = np.zeros(len(rows), dtype=bool)
    mask[[3, 2999]] = True
    for index in (0, -1, np.int64(17), slice(None, 10), slice(5, 400, 7), slice(None, None, -1),
                  np.array([[1, 2], [2999, 0]]), np.arange(100), mask, (slice(2, 9), 4), (4, slice(1, 3))):
        np.testing.assert_array_equal(m[index], rows[index])
    with pytest.raises(IndexError):
        m[len(rows)]
    assert not m[3].flags.writeable


def test_duplicate_keys_keep_the_first_row_and_its_unit_row(tmp_path: Path, table) -> None:  # noqa: ANN001
    keys, rows = table
    keys = keys[:100] + [keys[5]] + keys[100:]
    rows = np.concatenate([rows[:100], rows[200:201] * 3, rows[100:]])
    src = _w2v_binary(tmp_path / "v.bin", keys, rows)
    with pytest.warns(UserWarning, match=r"1 duplicate keys, kept the first occurrence of each \(first duplicate: .* at line/record 101\)"):
        v = eio.load(src, cache_dir=tmp_path / "cache")
    with pytest.warns(UserWarning, match="1 duplicate keys"):
        mem = eio.load(src, cache=False)
    assert v.count == len(keys) - 1 and list(v.keys) == list(mem.keys)
    np.testing.assert_array_equal(np.asarray(v.matrix), mem.matrix)
    np.testing.assert_array_equal(np.asarray(v.unit), mem.unit)
    with pytest.warns(UserWarning, match="1 duplicate keys"):  # each mapped load says it again
        again = eio.load(src, cache_dir=tmp_path / "cache")
    np.testing.assert_array_equal(np.asarray(again.unit), mem.unit)
    assert [e.status for e in cache.verify(tmp_path / "cache")] == ["ok"]


@pytest.mark.parametrize("name", ["offsets.npy", "norms.npy", "norms64.npy", "unit.npy"])
def test_bit_rot_in_an_in_place_entry_is_never_served(tmp_path: Path, table, name: str) -> None:  # noqa: ANN001
    keys, rows = table
    src = _w2v_binary(tmp_path / "v.bin", keys[:40], rows[:40])  # one checksum block an array
    cdir = tmp_path / "cache"
    eio.load(src, cache_dir=cdir)
    entry = _entry(cdir)
    path = entry / name
    with open(path, "r+b") as f:
        f.seek(path.stat().st_size - 3)
        b = f.read(1)
        f.seek(path.stat().st_size - 3)
        f.write(bytes([b[0] ^ 0x40]))
    [v] = cache.verify(cdir)
    assert (v.status, v.problem) == ("corrupt", f"{name}: data changed at bytes 0+")
    again = eio.load(src, cache_dir=cdir)
    np.testing.assert_array_equal(np.asarray(again.matrix), rows[:40])
    np.testing.assert_array_equal(np.asarray(again.unit), eio.load(src, cache=False).unit)
    assert [x.status for x in cache.verify(cdir)] == ["ok"]


def test_a_full_disk_while_streaming_loads_without_the_cache(tmp_path: Path, table, monkeypatch) -> None:  # noqa: ANN001
    from embviz.io import integrity

    keys, rows = table
    src = _w2v_binary(tmp_path / "v.bin", keys, rows)

    def full(self, data) -> None:  # noqa: ANN001
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(integrity.BlockCrcs, "update", full)
    cdir = tmp_path / "cache"
    with pytest.warns(UserWarning, match=r"cannot write the vector cache in .* \(No space left on device\); loading without the cache"):
        v = eio.load(src, cache_dir=cdir)
    assert isinstance(v.matrix, np.ndarray)
    np.testing.assert_array_equal(v.matrix, rows)
    assert not any((cdir / "vectors").iterdir())  # no entry, no temporary left


def test_a_changed_source_rebuilds_the_entry(tmp_path: Path, table) -> None:  # noqa: ANN001
    keys, rows = table
    src = _w2v_binary(tmp_path / "v.bin", keys, rows)
    cdir = tmp_path / "cache"
    eio.load(src, cache_dir=cdir)
    _w2v_binary(src, keys[::-1], rows[::-1] * 2)  # same size, other rows
    v = eio.load(src, cache_dir=cdir)
    assert list(v.keys) == keys[::-1]
    np.testing.assert_array_equal(np.asarray(v.matrix), rows[::-1] * 2)


def test_scan_raw_finds_the_records_scan_finds() -> None:
    """The record-by-record chain (bytes.find) and the numpy pointer jumping agree, cut anywhere.

    Vector bytes full of spaces and newlines, keys of 1 to 30 bytes, a newline after some
    vectors and not others, and windows that end inside a key or a vector.
    """
    from embviz.io.binary import scan, scan_raw

    rng = np.random.default_rng(11)
    dim = 3
    parts = []
    for i in range(400):
        key = bytes(rng.integers(97, 123, rng.integers(1, 31)).astype(np.uint8))
        vec = bytes(rng.choice(np.array([32, 10, 65, 0], dtype=np.uint8), 4 * dim))  # spaces, newlines
        parts.append(key + b" " + vec + (b"\n" if i % 3 else b""))
    data = b"\n" + b"".join(parts)
    arr = np.frombuffer(data, dtype=np.uint8)
    for lo_cut, hi_cut, want in [(0, len(data), 10**9), (0, 777, 10**9), (0, len(data), 37), (0, 20, 5)]:
        a = scan(arr[lo_cut:hi_cut], 4 * dim, want)
        b = scan_raw(data, lo_cut, hi_cut, 4 * dim, want)
        assert len(a[0]) == len(b[0]) and (a[0] == b[0]).all() and (a[1] == b[1]).all() and a[2] == b[2]
    # continuing from where a window stopped gives the rest
    s1, e1, used = scan_raw(data, 0, 777, 4 * dim, 10**9)
    s2, _, _ = scan_raw(data, used, len(data), 4 * dim, 10**9)
    assert len(s1) + len(s2) == 400


@pytest.mark.parametrize("dim", [3, 50, 300])
def test_both_scanners_read_the_same_table(tmp_path: Path, monkeypatch, dim: int) -> None:  # noqa: ANN001
    """The reader gives the same keys and rows whichever scanner its record size picks.

    Records of 1-30 byte keys, vectors full of spaces and newlines, a newline after some
    vectors and not others; uncompressed (mapped) and gzip (read) files, read with the chain
    (``scan_raw``) forced and with numpy's pass (``scan``) forced.
    """
    import gzip

    from embviz.io import binary

    rng = np.random.default_rng(dim)
    keys = [f"k{i}_" + "x" * int(rng.integers(0, 28)) for i in range(300)]
    rows = rng.normal(size=(300, dim)).astype("<f4")
    rows[:, 0] = np.frombuffer(b"\x20\x0a\x20\x41" * 300, dtype="<f4")  # spaces and newlines in the bytes
    body = b"".join(k.encode() + b" " + r.tobytes() + (b"\n" if i % 3 else b"") for i, (k, r) in enumerate(zip(keys, rows)))
    plain = tmp_path / "v.bin"
    plain.write_bytes(f"300 {dim}\n".encode() + body)
    packed = tmp_path / "v.bin.gz"
    packed.write_bytes(gzip.compress(plain.read_bytes()))
    for path in (plain, packed):
        for threshold in (0, 10**9):  # the chain always, numpy always
            monkeypatch.setattr(binary, "RAW_SCAN_MIN_BYTES", threshold)
            v = eio.load(path, cache=False)
            assert list(v.keys) == keys
            np.testing.assert_array_equal(np.asarray(v.matrix), rows)


@pytest.mark.parametrize("tail, limit", [(b"", None), (b"\n\n", None), (b"", 1000)])
def test_a_cache_build_hashes_the_source_as_it_parses_and_drops_its_pages(
    tmp_path: Path, monkeypatch, tail: bytes, limit: int | None  # noqa: ANN001
) -> None:
    """The source is read once: its CRC-32 comes from the parser, its pages leave the page cache.

    No background thread rereads the file, and only a cache build drops the file's pages
    (``POSIX_FADV_DONTNEED``, behind the parser); an in-memory load leaves them.
    """
    import os
    import zlib

    rng = np.random.default_rng(5)
    keys = [f"k{i}" for i in range(70_000)]
    rows = rng.standard_normal((70_000, 64)).astype(np.float32)  # 18 MB: past one 16 MiB release
    src = _w2v_binary(tmp_path / "v.bin", keys, rows)
    with open(src, "ab") as f:
        f.write(tail)
    calls: list[tuple[int, int, int]] = []
    fadvise = os.posix_fadvise

    def spy(fd: int, offset: int, length: int, advice: int) -> None:
        calls.append((offset, length, advice))
        fadvise(fd, offset, length, advice)

    monkeypatch.setattr(os, "posix_fadvise", spy)
    monkeypatch.setattr(cache._integrity, "BackgroundHash", lambda path: pytest.fail("source hashed twice"))
    eio.load(src, cache=False, limit=limit)
    assert calls == []  # an in-memory load leaves the page cache alone
    cdir = tmp_path / "cache"
    v = eio.load(src, cache_dir=cdir, limit=limit)
    assert v.count == (limit or 70_000)
    meta = json.loads((_entry(cdir) / "meta.json").read_text())
    assert meta["source_crc32"] == zlib.crc32(src.read_bytes())
    if limit is None:
        assert calls and calls[0][0] == 0 and {a for _, _, a in calls} == {os.POSIX_FADV_DONTNEED}
        assert sum(n for _, n, _ in calls) >= 1 << 24
    assert [e.status for e in cache.verify(cdir)] == ["ok"]
    np.testing.assert_array_equal(np.asarray(v.matrix), rows[: limit or 70_000])


@pytest.mark.parametrize("dtype", ["float32", "float16"])
def test_blocks_normalised_on_a_second_thread_keep_their_order_and_values(tmp_path: Path, monkeypatch, dtype) -> None:  # noqa: ANN001
    """Many small blocks (a 64 KiB window: about 50 records of 300 dimensions each) go through
    the normalising thread while the reader parses the next ones; the entry equals the table's
    own unit rows and norms bit for bit, in file order."""
    from embviz import Vectors
    from embviz.io import sniffing
    from embviz.io.norms import row_norms64

    monkeypatch.setattr(sniffing, "CHUNK_BYTES", 1 << 14)
    rng = np.random.default_rng(5)
    rows = (rng.standard_normal((6000, 300)) * rng.lognormal(0, 2, (6000, 1))).astype(np.float32)
    rows[123] = 0.0
    rows[4567] *= 1e-20
    keys = [f"w{i}" for i in range(6000)]
    src = _w2v_binary(tmp_path / "v.bin", keys, rows)
    cdir = tmp_path / "c"
    eio.load(src, cache_dir=cdir, dtype=dtype)
    entry = _entry(cdir)
    want = Vectors(keys, rows.astype(dtype))
    np.testing.assert_array_equal(np.load(entry / "unit.npy"), want.unit)
    np.testing.assert_array_equal(np.load(entry / "norms.npy"), want.norms)
    np.testing.assert_array_equal(np.load(entry / "norms64.npy"), row_norms64(rows.astype(dtype)))
    got = eio.load(src, cache_dir=cdir, dtype=dtype)
    assert tuple(got.keys) == tuple(keys)
    np.testing.assert_array_equal(np.asarray(got.matrix), rows.astype(dtype))


def test_the_first_bad_record_is_reported_while_blocks_are_normalised_on_a_second_thread(
    tmp_path: Path, monkeypatch, capsys  # noqa: ANN001
) -> None:
    """A row whose squared norm overflows float32, deep in the file, is named by its record
    number; no cache entry and no unit file is left behind."""
    from embviz.errors import FormatError
    from embviz.io import sniffing

    monkeypatch.setattr(sniffing, "CHUNK_BYTES", 1 << 14)
    rows = np.random.default_rng(6).standard_normal((3000, 300)).astype(np.float32)
    rows[2345, 7] = 3e37  # finite, but its square overflows float32
    src = _w2v_binary(tmp_path / "v.bin", [f"w{i}" for i in range(3000)], rows)
    cdir = tmp_path / "c"
    with pytest.raises(FormatError, match=r"record 2,346 \('w2345'\)"):
        eio.load(src, cache_dir=cdir)
    assert not [p for p in cdir.rglob("*") if p.is_file()]
