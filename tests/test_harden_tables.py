"""Issue 25: the table readers under attack (Arrow IPC, Parquet, Spark vectors, the Projector pair).

One reproducer per failure class a security campaign found. Every file is built here, from a
small table pyarrow writes, then damaged by a fixed byte flip or a footer edit (no binary
fixtures). Each test failed on the code before the fix (a segmentation fault, an internal
error, wrong values, a stale cache entry or a misleading message) and passes after it.

A file that crashed the process is loaded in a subprocess, so that a regression kills only
that process, not the test session.
"""

from __future__ import annotations

import io
import os
import struct
import subprocess
import sys

import numpy as np
import pytest

from embviz.errors import EmbvizError, FormatError
from embviz.io import load

pa = pytest.importorskip("pyarrow")
pq = pytest.importorskip("pyarrow.parquet")


def ld(path, *args, **kw):
    return load(path, *args, cache=False, **kw)


def refused(path, *parts: str, **kw) -> str:
    """Load `path`: it must raise one EmbvizError line naming the file and each of `parts`."""
    with pytest.raises(EmbvizError) as exc:
        ld(path, **kw)
    msg = str(exc.value)
    assert "\n" not in msg and msg.startswith(f"{path}: "), msg
    for part in parts:
        assert part in msg, msg
    return msg


# -- Arrow IPC: damaged files -----------------------------------------------------------------
def arrow_base(kind: str) -> bytes:
    """4 keys x 2 values as ``list<float>``, in record batches of 2 rows (IPC file or stream)."""
    keys = ["alpha", "beta", "gamma", "delta"]
    m = np.arange(8, dtype=np.float32).reshape(4, 2) / 4
    t = pa.table({"key": keys, "vector": pa.array(m.tolist(), type=pa.list_(pa.float32()))})
    buf = io.BytesIO()
    writer = pa.ipc.new_file(buf, t.schema) if kind == "file" else pa.ipc.new_stream(buf, t.schema)
    with writer:
        writer.write_table(t, max_chunksize=2)
    return buf.getvalue()


def flipped(kind: str, pos: int, xor: int) -> bytes:
    data = bytearray(arrow_base(kind))
    data[pos] ^= xor
    return bytes(data)


def pyarrow_refuses(data: bytes) -> str | None:
    """pyarrow's own reading (file, else stream) plus full validation: its reason, or None."""
    try:
        try:
            table = pa.ipc.open_file(pa.BufferReader(data)).read_all()
        except pa.ArrowInvalid:
            table = pa.ipc.open_stream(pa.BufferReader(data)).read_all()
        table.validate(full=True)
    except Exception as exc:  # noqa: BLE001 - any refusal of the reference
        return f"{type(exc).__name__}: {exc}"
    return None


# (kind, byte, xor): found by flipping every byte of arrow_base(kind) on the code before the
# fix; -11 is SIGSEGV, -6 SIGABRT (Arrow's "Check failed: Slice offset greater than length")
CRASHES = [
    ("file", 483, 0xFF),  # -11: a list offset pointing outside the values buffer
    ("file", 487, 0x40),  # -11
    ("file", 831, 0x40),  # -11
    ("file", 471, 0x80),  # -6: a record batch of negative length
    ("file", 815, 0xFF),  # -6
]


@pytest.mark.parametrize(("kind", "pos", "xor"), CRASHES, ids=[f"{k}-{p}-{x:#x}" for k, p, x in CRASHES])
def test_arrow_file_that_crashed_the_process_is_refused_in_one_line(tmp_path, kind, pos, xor):
    """Was: exit 139 (SIGSEGV) or 134 (SIGABRT). Run in a subprocess: a crash must not kill pytest."""
    data = flipped(kind, pos, xor)
    assert pyarrow_refuses(data)  # the fixture is damaged in pyarrow's own view too
    p = tmp_path / "crash.arrow"
    p.write_bytes(data)
    run = subprocess.run(
        [sys.executable, "-m", "embviz", "info", "-v", str(p), "--no-cache"],
        capture_output=True, text=True, timeout=120,
    )
    assert run.returncode == 1, (run.returncode, run.stderr)
    assert run.stderr.startswith(f"embviz: error: {p}: record batch ") and run.stderr.count("\n") == 1, run.stderr
    assert "invalid data" in run.stderr and "internal error" not in run.stderr


INTERNAL = [
    ("file", 480, 0x80, "record batch 0: invalid data in column 'key': Offset invariant failure"),  # SystemError: Negative size passed to PyUnicode_New
    ("file", 527, 0x80, "record batch"),  # ValueError: can only specify one unknown dimension (reshape)
    ("file", 328, 0x40, "record batch"),  # ValueError: operands could not be broadcast together
    ("file", 832, 0x01, "record batch"),  # ArrowIndexError: buffer slice would exceed buffer length
    ("file", 1052, 0x80, "not valid UTF-8"),  # UnicodeDecodeError (a column name)
]


@pytest.mark.parametrize(("kind", "pos", "xor", "says"), INTERNAL, ids=[f"{k}-{p}-{x:#x}" for k, p, x, _ in INTERNAL])
def test_arrow_file_that_gave_an_internal_error_is_one_line(tmp_path, kind, pos, xor, says):
    data = flipped(kind, pos, xor)
    p = tmp_path / "bad.arrow"
    p.write_bytes(data)
    # in process: the fix validates every batch before any of its buffers is read
    refused(p, says)
    assert pyarrow_refuses(data)


STREAM = [(475, 0xFF), (479, 0x40), (819, 0xFF), (463, 0x80), (807, 0xFF),  # -11, -6 before the fix
          (476, 0x80), (320, 0x40), (824, 0x01)]  # SystemError, ValueError, ArrowIndexError


@pytest.mark.parametrize(("pos", "xor"), STREAM, ids=[f"stream-{p}-{x:#x}" for p, x in STREAM])
def test_arrow_stream_that_crashed_is_refused_in_one_line(tmp_path, pos, xor):
    """The IPC stream layout (no footer): the same classes, in a subprocess."""
    data = flipped("stream", pos, xor)
    assert pyarrow_refuses(data)
    p = tmp_path / "s.arrows"
    p.write_bytes(data)
    run = subprocess.run([sys.executable, "-m", "embviz", "info", "-v", str(p), "--no-cache"],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 1 and run.stderr.count("\n") == 1, (run.returncode, run.stderr)
    assert run.stderr.startswith(f"embviz: error: {p}: record batch "), run.stderr


def test_arrow_file_whose_buffer_is_too_small_is_refused(tmp_path):
    """Was: loaded (exit 0) although pyarrow's full validation says "Buffer #1 too small"."""
    data = flipped("file", 464, 0x80)
    assert "too small" in pyarrow_refuses(data)
    p = tmp_path / "small.arrow"
    p.write_bytes(data)
    refused(p, "record batch 0: invalid data in column 'vector'", "Buffer #1 too small")


def test_arrow_schema_checks(tmp_path):
    """Duplicate column names in an Arrow file are refused before any data is read (was: KeyError)."""
    t = pa.Table.from_arrays([pa.array(["a", "b"]), pa.array([[1.0], [2.0]]), pa.array([[3.0], [4.0]])],
                             names=["key", "vector", "vector"])
    p = tmp_path / "dup.arrow"
    with pa.ipc.new_file(p, t.schema) as w:
        w.write_table(t)
    refused(p, "column 'vector' appears 2 times in its schema, expected unique column names")


# -- Parquet ---------------------------------------------------------------------------------
def _varint(b: bytes, i: int) -> tuple[int, int]:
    shift = out = 0
    while True:
        c = b[i]
        i += 1
        out |= (c & 0x7F) << shift
        shift += 7
        if not c & 0x80:
            return out, i


def _uvarint(v: int) -> bytes:
    out = bytearray()
    while True:
        c, v = v & 0x7F, v >> 7
        if not v:
            return bytes(out + bytes([c]))
        out.append(c | 0x80)


def _skip(b: bytes, i: int, t: int, path: tuple, found: list) -> int:
    """Skip one Thrift compact value of type `t` at `i`, recording where each i64 lies."""
    if t in (1, 2):
        return i
    if t == 3:
        return i + 1
    if t in (4, 5, 6):
        start = i
        _, i = _varint(b, i)
        if t == 6:
            found.append((path, start, i))
        return i
    if t == 7:
        return i + 8
    if t == 8:
        n, i = _varint(b, i)
        return i + n
    if t in (9, 10):
        n, et = b[i] >> 4, b[i] & 15
        i += 1
        if n == 15:
            n, i = _varint(b, i)
        for k in range(n):
            i = i + 1 if et in (1, 2) else _skip(b, i, et, path + (k,), found)
        return i
    if t == 11:
        n, i = _varint(b, i)
        if n:
            kv = b[i]
            i += 1
            for _ in range(n):
                i = _skip(b, _skip(b, i, kv >> 4, path, found), kv & 15, path, found)
        return i
    assert t == 12, t
    fid = 0
    while True:
        h = b[i]
        i += 1
        if h == 0:
            return i
        if h >> 4:
            fid += h >> 4
        else:
            z, i = _varint(b, i)
            fid = (z >> 1) ^ -(z & 1)
        i = _skip(b, i, h & 15, path + (fid,), found)


def footer_claims_rows(data: bytes, rows: int) -> bytes:
    """A Parquet file whose footer (FileMetaData.num_rows and every RowGroup.num_rows) says `rows`."""
    n = struct.unpack("<i", data[-8:-4])[0]
    start = len(data) - 8 - n
    meta = data[start:-8]
    found: list = []
    _skip(meta, 0, 12, (), found)
    targets = [(s, e) for p, s, e in found if p == (3,) or (len(p) == 3 and p[0] == 4 and p[2] == 3)]
    assert len(targets) >= 2
    for s, e in sorted(targets, reverse=True):
        meta = meta[:s] + _uvarint(rows << 1) + meta[e:]  # zigzag of a positive i64
    return data[:start] + meta + struct.pack("<i", len(meta)) + b"PAR1"


def small_parquet(**kw) -> bytes:
    t = pa.table({"key": ["a", "b", "c"], "vector": pa.array([[1.0, 2.0]] * 3, pa.list_(pa.float32(), 2))})
    buf = io.BytesIO()
    pq.write_table(t, buf, **kw)
    return buf.getvalue()


def test_parquet_footer_claiming_2_to_the_33_rows_is_one_line(tmp_path):
    """Was: ``MemoryError: Unable to allocate 64.0 GiB`` (the matrix sized from the footer)."""
    p = tmp_path / "huge.parquet"
    p.write_bytes(footer_claims_rows(small_parquet(), 2**33))
    assert pq.ParquetFile(p).metadata.num_rows == 2**33
    refused(p, "row group 0: 3 rows decoded", "its footer says 8,589,934,592 rows")


def test_parquet_duplicate_column_names_are_one_line(tmp_path):
    """Was: ``KeyError: 'Column vector does not exist in schema'`` (pyarrow.parquet refuses it too)."""
    t = pa.Table.from_arrays([pa.array(["a", "b"]), pa.array([[1.0], [2.0]]), pa.array([[3.0], [4.0]])],
                             names=["key", "vector", "vector"])
    p = tmp_path / "dup.parquet"
    pq.write_table(t, p)
    refused(p, "not a readable Parquet file: column 'vector' appears 2 times in its schema")


def test_float64_value_beyond_float32_is_reported_as_itself(tmp_path):
    p = tmp_path / "big.parquet"
    pq.write_table(pa.table({"key": ["a", "b"], "vector": pa.array([[1.0, 2.0], [3.0, 1e300]])}), p)
    refused(p, "row 1, column 'vector', position 1: value 1e+300 is beyond float32's range")


# -- the cache: a Parquet folder read with --input-format parquet ------------------------------
def test_parquet_folder_parts_are_cache_dependencies_whatever_the_format(tmp_path):
    """Was: a part edited in place (same size, mtime put back) was served from the old entry."""
    folder = tmp_path / "parts"
    folder.mkdir()
    m = np.array([[1.0, 2.0], [3.0, 4.0]], np.float32)
    for i in range(2):
        t = pa.table({"key": [f"k{i}a", f"k{i}b"], "vector": pa.array((m + 10 * i).tolist(), pa.list_(pa.float32(), 2))})
        pq.write_table(t, folder / f"part-{i}.parquet", compression="none", use_dictionary=False)
    cache = tmp_path / "cache"
    for fmt in ("parquet", "spark", None):
        first = load(folder, fmt, cache_dir=cache)
        assert first.matrix[first.get_index("k1b")].tolist() == [13.0, 14.0]
    part = folder / "part-1.parquet"
    data = part.read_bytes()
    old = np.float32(13.0).tobytes() + np.float32(14.0).tobytes()
    assert data.count(old) == 1
    st = part.stat()
    with open(part, "r+b") as f:  # in place: same size, same inode
        f.seek(data.index(old))
        f.write(np.float32(-5.0).tobytes() + np.float32(7.0).tobytes())
    os.utime(part, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert part.stat().st_size == st.st_size and part.stat().st_mtime_ns == st.st_mtime_ns
    for fmt in ("parquet", "spark", None, "arrow"):
        again = load(folder, fmt, cache_dir=cache)
        assert again.matrix[again.get_index("k1b")].tolist() == [-5.0, 7.0], fmt


# -- Spark ML vector structs -----------------------------------------------------------------
def spark_table(types, values, type_type=pa.int8(), values_type=None):
    n = len(types)
    values_type = values_type or pa.list_(pa.float64())
    st = pa.struct([("type", type_type), ("size", pa.int32()), ("indices", pa.list_(pa.int32())),
                    ("values", values_type)])
    vec = pa.StructArray.from_arrays(
        [pa.array(types, type_type), pa.nulls(n, pa.int32()), pa.nulls(n, pa.list_(pa.int32())),
         pa.array(values, values_type)], fields=list(st))
    return pa.table({"word": [f"w{i}" for i in range(n)], "vector": vec})


def test_spark_values_that_are_strings_are_refused(tmp_path):
    """Was: loaded, the strings '1.5' converted to numbers by numpy without a word."""
    p = tmp_path / "s.parquet"
    pq.write_table(spark_table([1, 1], [["1.5", "2"], ["3", "4"]], values_type=pa.list_(pa.string())), p)
    refused(p, "column 'vector': Spark vector 'values' are list<element: string>, expected list<double>")


def test_spark_null_type_is_one_line(tmp_path):
    """Was: an internal error (int() of NaN)."""
    p = tmp_path / "s.parquet"
    pq.write_table(spark_table([1, None], [[1.0, 2.0], [3.0, 4.0]]), p)
    refused(p, "row 1, column 'vector': Spark vector with a null type, expected 1 (dense)")


def test_spark_scalar_values_are_one_line(tmp_path):
    """Was: an internal error (a double column has no offsets)."""
    p = tmp_path / "s.parquet"
    pq.write_table(spark_table([1, 1], [1.0, 2.0], values_type=pa.float64()), p)
    refused(p, "Spark vector 'values' are double, expected list<double>")


def test_spark_type_that_is_a_string_says_so(tmp_path):
    """Was: "Spark sparse vector (type 1), expected dense vectors (type 1)"."""
    p = tmp_path / "s.parquet"
    pq.write_table(spark_table(["1", "1"], [[1.0, 2.0], [3.0, 4.0]], type_type=pa.string()), p)
    msg = refused(p, "Spark vector 'type' is string (first value '1'), expected the integer 1")
    assert "sparse" not in msg


def test_spark_dense_and_sparse_still_behave(tmp_path):
    p = tmp_path / "ok.parquet"
    pq.write_table(spark_table([1, 1], [[1.0, 2.0], [3.0, 4.0]]), p)
    assert ld(p).matrix.tolist() == [[1.0, 2.0], [3.0, 4.0]]
    p = tmp_path / "sparse.parquet"
    pq.write_table(spark_table([1, 0], [[1.0, 2.0], [3.0, 4.0]]), p)
    refused(p, "row 1, column 'vector': Spark sparse vector (type 0), expected dense vectors (type 1)")


# -- the Projector pair ----------------------------------------------------------------------
def test_projector_vectors_of_dimension_one_load(tmp_path, runner):
    """Was: "not a vector file: line 1 is '0.5'"; the TensorFlow Embedding Projector reads it."""
    from embviz.cli import app

    (tmp_path / "vectors.tsv").write_text("0.5\n1.5\n-2\n")
    (tmp_path / "metadata.tsv").write_text("a\nb\nc\n")
    v = ld(tmp_path / "vectors.tsv")
    assert list(v.keys) == ["a", "b", "c"] and v.matrix.tolist() == [[0.5], [1.5], [-2.0]]
    r = runner.invoke(app, ["info", "-v", str(tmp_path / "vectors.tsv"), "--no-cache", "-f", "tsv"])
    assert r.exit_code == 0, r.stderr
    assert "\tprojector\t" in r.stdout
    # a lone column of numbers in a file not named like the Projector's is still not vectors
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "counts.txt").write_text("0.5\n1.5\n")
    with pytest.raises(FormatError, match="not a vector file"):
        ld(tmp_path / "other" / "counts.txt")


def test_projector_value_beyond_float32_reports_the_value(tmp_path):
    """Was: "value is inf": the file says 1e300, a float64 that overflows float32."""
    (tmp_path / "vectors.tsv").write_text("1.0\t2.0\n3.0\t1e300\n")
    refused(tmp_path / "vectors.tsv", "line 2, column 2: value 1e+300 is beyond float32's range")


def test_parquet_with_more_rows_than_bytes_still_loads_whole(tmp_path):
    """The guard above allocates one row per byte up front; a file that compresses better grows."""
    n = 200_000
    m = np.zeros((n, 2), np.float32)
    m[::1000, 0] = 1.0
    p = tmp_path / "dense.parquet"
    pq.write_table(pa.table({"vector": pa.FixedSizeListArray.from_arrays(pa.array(m.reshape(-1)), 2)}), p,
                   compression="zstd", row_group_size=10_000)  # 20 batches: the matrix grows 5 times
    assert p.stat().st_size < n // 4  # far fewer bytes than rows
    v = ld(p)
    assert v.matrix.shape == (n, 2) and np.array_equal(v.matrix, m)
    assert np.array_equal(np.asarray(v.matrix), np.array(pq.read_table(p).column("vector").to_pylist(), np.float32))
