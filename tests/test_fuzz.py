"""Fuzzing harness (Hypothesis): valid vector files of every format, then mutated.

Properties (docs/errors.md, "Guarantees"):

1. nothing but an ``EmbvizError`` escapes :func:`embviz.io.load`;
2. a file that loads gives the count, dim, keys and rows that a straightforward reference
   parser (below, written from the format descriptions, not from embviz's code) gives, or a
   warning names the difference (duplicate keys, invalid UTF-8);
3. every score of every query on a loaded table is finite and in [-1, 1];
4. the CLI exits 0, 1, 2 or 3 with at most 3 stderr lines.

Profiles (registered in tests/conftest.py): ``ci`` (the default: 2,000 files for the load
properties, about a minute) and ``long`` for releases (``pytest tests/test_fuzz.py
--hypothesis-profile=long``: 25,000 files). ``EMBVIZ_FUZZ_TALLY=FILE`` writes the count of
files by outcome (loaded and agreeing / refused with one line / anything else) to FILE.
"""

from __future__ import annotations

import atexit
import bz2
import gzip
import json
import lzma
import os
import shutil
import struct
import tempfile
import warnings
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from embviz import io as eio
from embviz import search
from embviz.errors import EmbvizError, EmbvizWarning

_DIR = Path(tempfile.mkdtemp(prefix="embviz-fuzz-"))
atexit.register(shutil.rmtree, _DIR, ignore_errors=True)  # a full run leaves nothing in /tmp
TALLY: Counter = Counter()

# -- generating valid files --------------------------------------------------------------------
_KEY_CHARS = st.characters(
    blacklist_categories=("Cs",),  # no lone surrogates: not encodable
    blacklist_characters="\n\r\t \x0b\x0c\x1c\x1d\x1e\x1f\x85\u2028\u2029",
)
KEYS = st.text(_KEY_CHARS, min_size=1, max_size=12)
VALUE = st.one_of(
    st.floats(-10, 10, allow_nan=False, width=32),
    st.sampled_from([0.0, -0.0, 1.0, -1.0, 1e-30, 3e18, 65504.0, 1e-45]),
)


@st.composite
def tables(draw) -> tuple[list[str], np.ndarray]:
    n = draw(st.integers(1, 8))
    dim = draw(st.integers(1, 6))
    keys = draw(st.lists(KEYS, min_size=n, max_size=n, unique=True))
    values = draw(st.lists(VALUE, min_size=n * dim, max_size=n * dim))
    return keys, np.array(values, dtype=np.float32).reshape(n, dim)


def _num(x: float) -> str:
    return repr(float(x)) if x != 0 else "0"


def render(fmt: str, keys: list[str], m: np.ndarray) -> bytes:
    """A valid file of `fmt` holding `keys` and `m` (float32 values written exactly)."""
    n, dim = m.shape
    if fmt == "word2vec":
        return f"{n} {dim}\n".encode() + b"".join(
            k.encode() + b" " + m[i].astype("<f4").tobytes() + b"\n" for i, k in enumerate(keys)
        )
    head = "" if fmt == "glove" else f"{n} {dim}\n"
    tail = " " if fmt == "fasttext" else ""
    return (head + "".join(f"{k} {' '.join(_num(x) for x in m[i])}{tail}\n" for i, k in enumerate(keys))).encode()


def compress(data: bytes, codec: str) -> bytes:
    if codec == "gzip":
        return gzip.compress(data, mtime=0)
    if codec == "bz2":
        return bz2.compress(data)
    if codec == "xz":
        return lzma.compress(data)
    return data


# -- mutations ---------------------------------------------------------------------------------
@st.composite
def mutations(draw, size: int):
    kind = draw(st.sampled_from(
        ["none", "flip", "truncate", "insert", "delete", "header", "nul", "longline", "badutf8",
         "blank", "dupline", "crlf"]
    ))
    pos = draw(st.integers(0, max(size - 1, 0)))
    if kind == "flip":
        return kind, pos, draw(st.integers(1, 255))
    if kind == "insert":
        return kind, pos, draw(st.binary(min_size=1, max_size=8))
    if kind == "delete":
        return kind, pos, draw(st.integers(1, 16))
    if kind == "header":
        return kind, pos, draw(st.sampled_from([0, 1, -1, 2**31, 10**9, 2, -2]))
    if kind == "longline":
        return kind, pos, draw(st.integers(1, 200_000))
    return kind, pos, None


def mutate(data: bytes, m) -> bytes:
    kind, pos, arg = m
    pos = min(pos, len(data))
    if kind == "flip" and data:
        pos = min(pos, len(data) - 1)
        return data[:pos] + bytes([data[pos] ^ arg]) + data[pos + 1 :]
    if kind == "truncate":
        return data[:pos]
    if kind == "insert":
        return data[:pos] + arg + data[pos:]
    if kind == "delete":
        return data[:pos] + data[pos + arg :]
    if kind == "header":
        nl = data.find(b"\n")
        first = data[:nl].split(b" ")
        if len(first) == 2 and first[0].isdigit():
            return str(max(0, int(first[0]) + arg) if abs(arg) < 10 else arg).encode() + b" " + first[1] + data[nl:]
        return data
    if kind == "nul":
        return data[:pos] + b"\x00" + data[pos:]
    if kind == "longline":
        return data[:pos] + b"7" * arg + data[pos:]
    if kind == "badutf8":
        return data[:pos] + b"\xff\xc3" + data[pos:]
    if kind == "blank":
        return b"\n" * (pos % 5000) + data
    if kind == "dupline":
        nl = data.find(b"\n", pos)
        start = data.rfind(b"\n", 0, pos) + 1
        return data + data[start : nl + 1] if nl >= 0 else data
    if kind == "crlf":
        return data.replace(b"\n", b"\r\n")
    return data


# -- the reference parsers ---------------------------------------------------------------------
class Refused(Exception):
    """The reference parser refuses the file."""


def _f32(field: bytes) -> np.float32:
    try:
        x = float(field)
    except ValueError:
        raise Refused(f"not a number: {field[:20]!r}") from None
    if not np.isfinite(x):
        raise Refused("not finite")
    return np.float32(x)


def ref_text(data: bytes, header: bool) -> tuple[list[bytes], np.ndarray]:
    """Text rows: ``key v1 ... vdim``; the last dim fields are the vector, the rest the key."""
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    lines = [ln.replace(b"\r", b" ").replace(b"\t", b" ").rstrip(b" ") for ln in data.split(b"\n")]
    rows = [ln for ln in lines if ln]
    if header:
        if not rows:
            raise Refused("empty")
        count, dim = (int(x) for x in rows[0].split())
        rows = rows[1:]
    else:
        counts = Counter(r.count(b" ") for r in rows[:1000])
        if not counts:
            raise Refused("empty")
        dim = max(counts, key=lambda c: (counts[c], -c))
    if dim < 1 or not rows:
        raise Refused("no rows")
    keys, vecs = [], []
    for r in rows:
        fields = r.split(b" ")
        if len(fields) < dim + 1:
            raise Refused("short row")
        extra = fields[1:-dim]
        if extra and all(_isnum(x) for x in extra):
            raise Refused("ragged row")
        keys.append(b" ".join(fields[:-dim]))
        vecs.append([_f32(x) for x in fields[-dim:]])
    if header and count != len(keys):
        raise Refused("header count")
    return keys, np.array(vecs, dtype=np.float32).reshape(len(keys), dim)


def _isnum(x: bytes) -> bool:
    try:
        float(x)
    except ValueError:
        return False
    return True


def ref_binary(data: bytes) -> tuple[list[bytes], np.ndarray]:
    """word2vec binary: header, then ``[\\n] key b' ' <dim float32 LE>`` per record."""
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    data = data.lstrip(b"\r\n")
    nl = data.find(b"\n")
    count, dim = (int(x) for x in data[:nl].split())
    pos, keys, vecs = nl + 1, [], []
    for _ in range(count):
        if pos < len(data) and data[pos : pos + 1] == b"\n":
            pos += 1
        sp = data.find(b" ", pos)
        if sp < 0 or sp + 1 + 4 * dim > len(data):
            raise Refused("truncated")
        key = data[pos:sp]
        if not key or b"\n" in key:
            raise Refused("bad key")
        vecs.append(np.frombuffer(data, "<f4", dim, sp + 1))
        keys.append(key)
        pos = sp + 1 + 4 * dim
    if data[pos:].strip(b"\n\r \t"):
        raise Refused("trailing data")
    if not keys:
        raise Refused("empty")
    m = np.array(vecs, dtype=np.float32).reshape(len(keys), dim)
    if not np.isfinite(m).all():
        raise Refused("not finite")
    return keys, m


def reference(data: bytes, fmt: str) -> tuple[list[bytes], np.ndarray]:
    if fmt == "word2vec":
        return ref_binary(data)
    return ref_text(data, header=fmt != "glove")


def _decompressed(path: Path) -> bytes:
    with eio.open_bytes(path) as f:
        return f.read()


def _expected(keys: list[bytes], m: np.ndarray) -> tuple[list[str], np.ndarray, bool]:
    """Apply the two documented, warned-about changes: bad UTF-8 replaced, duplicates dropped."""
    out_keys, rows, seen, warned = [], [], set(), False
    for k, row in zip(keys, m):
        try:
            s = k.decode("utf-8")
        except UnicodeDecodeError:
            s, warned = k.decode("utf-8", "replace"), True
        if s in seen:
            warned = True
            continue
        seen.add(s)
        out_keys.append(s)
        rows.append(row)
    return out_keys, np.array(rows, dtype=np.float32).reshape(len(out_keys), m.shape[1]), warned


# -- the properties --------------------------------------------------------------------------
def check_file(path: Path, format: str | None = None) -> str:
    """Load `path` and check properties 1 to 3; return the outcome ("loaded" or "refused")."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            v = eio.load(path, format, cache=False)
        except EmbvizError as exc:  # property 1: only EmbvizError, one line naming the file
            msg = str(exc)
            assert "\n" not in msg and len(msg) < 2100, msg
            return "refused"
    notes = [str(w.message) for w in caught if issubclass(w.category, EmbvizWarning)]
    fmt = format or eio.sniff(path).format.value
    data = _decompressed(path)
    try:
        rkeys, rm = reference(data, fmt)
    except Refused as why:  # accepted what a straightforward reading refuses: must be explained
        raise AssertionError(f"embviz loaded a {fmt} file the reference refuses ({why}); warnings: {notes}") from None
    keys, m, warned = _expected(rkeys, rm)
    if m.dtype == np.float32 and np.isfinite(m).all():
        sq = np.einsum("ij,ij->i", m.astype(np.float64), m.astype(np.float64))
        assert not (sq > np.finfo(np.float32).max).any(), "a row whose squared norm overflows loaded"
    assert list(v.keys) == keys, (fmt, list(v.keys)[:5], keys[:5])  # property 2
    assert v.matrix.shape == m.shape
    assert np.allclose(np.asarray(v.matrix, dtype=np.float64), m, rtol=2e-7, atol=0, equal_nan=False)
    assert not warned or notes, "a difference from the reference without a warning"
    # property 3: every score finite and in [-1, 1]
    k = min(3, v.count)
    for q in list(v.keys)[:3]:
        try:
            rows = search.neighbors(v, q, k=k) if v.count > 1 else []
        except EmbvizError:
            assert v.norms[v.get_index(q)] == 0, q  # only an all-zero row may refuse
            continue
        for r in rows:
            assert np.isfinite(r.score) and -1.0 - 1e-6 <= r.score <= 1.0 + 1e-6, r
    unit = np.asarray(v.unit, dtype=np.float64)
    assert np.isfinite(unit).all()
    return "loaded"


def _write(name: str, data: bytes) -> Path:
    p = _DIR / name
    p.write_bytes(data)
    return p


FORMATS = st.sampled_from(["glove", "word2vec-text", "fasttext", "word2vec"])
CODECS = st.sampled_from([None, None, None, "gzip", "bz2", "xz"])
_FUZZ = settings(deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


@_FUZZ
@given(table=tables(), fmt=FORMATS, codec=CODECS, data=st.data())
def test_mutated_files_load_correctly_or_are_refused_with_one_line(table, fmt, codec, data) -> None:
    keys, m = table
    raw = render(fmt, keys, m)
    where = data.draw(st.sampled_from(["plain", "plain", "compressed"])) if codec else "plain"
    if where == "plain":
        raw = mutate(raw, data.draw(mutations(len(raw))))
        blob = compress(raw, codec)
    else:
        blob = compress(raw, codec)
        blob = mutate(blob, data.draw(mutations(len(blob))))
    path = _write("f" + {"gzip": ".gz", "bz2": ".bz2", "xz": ".xz", None: ""}[codec], blob)
    try:
        outcome = check_file(path)
    except Exception as exc:
        TALLY["other"] += 1
        keep = os.environ.get("EMBVIZ_FUZZ_KEEP_GOING")  # the long run: record and go on
        if not keep:
            raise
        Path(keep).mkdir(parents=True, exist_ok=True)
        name = f"{TALLY['other']:04d}-{fmt}-{codec}"
        (Path(keep) / name).write_bytes(blob)
        (Path(keep) / f"{name}.why").write_text(f"{type(exc).__name__}: {exc}"[:4000])
        return
    TALLY[outcome] += 1


@settings(_FUZZ, max_examples=max(20, settings.default.max_examples // 5))
@given(table=tables(), fmt=FORMATS, codec=CODECS)
def test_valid_files_load_exactly(table, fmt, codec) -> None:
    keys, m = table
    path = _write("valid" + {"gzip": ".gz", "bz2": ".bz2", "xz": ".xz", None: ""}[codec], compress(render(fmt, keys, m), codec))
    # a 1-dimensional GloVe file whose first key is a number reads as a header: say the format
    explicit = fmt if fmt == "glove" and _isnum(keys[0].encode()) else None
    assert check_file(path, explicit) == "loaded"
    v = eio.load(path, explicit, cache=False)
    assert list(v.keys) == keys and np.array_equal(v.matrix, m)


@settings(_FUZZ, max_examples=max(20, settings.default.max_examples // 20))
@given(table=tables(), fmt=FORMATS, data=st.data())
def test_cli_exit_codes_and_at_most_three_stderr_lines(table, fmt, data) -> None:
    from typer.testing import CliRunner

    from embviz.cli import app

    keys, m = table
    raw = mutate(render(fmt, keys, m), data.draw(mutations(200)))
    path = _write("cli.txt", raw)
    query = data.draw(st.one_of(st.sampled_from(keys), KEYS, st.just("1e39*" + keys[0]), st.just("²")))
    args = data.draw(st.sampled_from([
        ["info", "-v", str(path), "--no-cache"],
        ["neighbors", "-v", str(path), "--no-cache", "-k", "2", "--", query],
        ["lookup", "-v", str(path), "--no-cache", "--", query],
        ["similarity", "-v", str(path), "--no-cache", "--", query, keys[-1]],
    ]))
    # keys go after "--", as docs/query.md tells users: a key such as "-0" is not an option.
    # (Without "--" click reports a usage error in its own four lines, exit 2, by design.)
    r = CliRunner().invoke(app, args)
    assert r.exit_code in (0, 1, 2, 3), (r.exit_code, r.stderr)
    assert r.stderr.count("\n") <= 3, r.stderr
    assert "internal error" not in r.stderr and "Traceback" not in r.stderr, r.stderr


@pytest.fixture(scope="module", autouse=True)
def _tally():
    yield
    out = os.environ.get("EMBVIZ_FUZZ_TALLY")
    if out:
        Path(out).write_text(json.dumps(dict(TALLY), indent=1) + "\n")


def test_reference_parser_agrees_on_a_hand_built_file() -> None:
    """The reference itself is checked, so the harness cannot pass vacuously."""
    keys, m = ["a", "new york"], np.array([[1, 2], [3, 4]], dtype=np.float32)
    assert ref_text(b"a 1 2\nnew york 3 4\n", header=False)[0] == [b"a", b"new york"]
    with pytest.raises(Refused):
        ref_text(b"2 2\na 1 2\n", header=True)
    with pytest.raises(Refused):
        ref_binary(b"3 2\n" + b"a " + struct.pack("<2f", 1, 2))
    assert check_file(_write("hand.txt", render("glove", keys, m))) == "loaded"
    assert check_file(_write("hand.bin", render("word2vec", keys, m)[:-3])) == "refused"


# -- the array and table formats (.npy, safetensors, Parquet) ---------------------------------
def render_array(fmt: str, keys: list[str], m: np.ndarray) -> tuple[str, bytes]:
    """A valid file of `fmt` (name suffix, bytes); .npy and safetensors carry no keys (row ids)."""
    import io

    if fmt == "npy":
        buf = io.BytesIO()
        np.save(buf, m)
        return ".npy", buf.getvalue()
    if fmt == "safetensors":
        from safetensors.numpy import save

        return ".safetensors", save({"embeddings": np.ascontiguousarray(m)})
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.table({"key": keys, "vector": pa.array(m.tolist(), type=pa.list_(pa.float32(), m.shape[1]))})
    buf = io.BytesIO()
    pq.write_table(table, buf)
    return ".parquet", buf.getvalue()


def reference_array(path: Path, fmt: str) -> tuple[list[str], np.ndarray]:
    """The format's own reader: numpy, safetensors or pyarrow."""
    try:
        if fmt == "npy":
            m = np.load(path, allow_pickle=False)
            keys = [str(i) for i in range(len(m))]
        elif fmt == "safetensors":
            from safetensors.numpy import load_file

            tensors = load_file(str(path))
            if len(tensors) != 1:
                raise Refused("tensors")
            (m,) = tensors.values()
            keys = [str(i) for i in range(len(m))]
        else:
            import pyarrow as pa
            import pyarrow.parquet as pq

            t = pq.read_table(path)
            # a mutated footer may rename or retype a column: the vector column is the list
            # column, the key column the other one if it holds text or integers (bytes only
            # when still named "key": a string column that lost its UTF-8 annotation)
            vec = [f.name for f in t.schema if pa.types.is_list(f.type) or pa.types.is_fixed_size_list(f.type)]
            other = [f for f in t.schema if f.name not in vec]
            if len(vec) != 1 or not pa.types.is_floating(t.schema.field(vec[0]).type.value_type):
                raise Refused("no float vector column")
            key = other[0] if other else None
            if key is not None and (pa.types.is_string(key.type) or pa.types.is_integer(key.type)):
                keys = [str(k) for k in t.column(key.name).to_pylist()]
            elif key is not None and pa.types.is_binary(key.type) and key.name == "key":
                keys = [k.decode("utf-8") for k in t.column(key.name).to_pylist()]
            else:
                keys = [str(i) for i in range(t.num_rows)]
            m = np.array(t.column(vec[0]).to_pylist(), dtype=np.float32)
    except Refused:
        raise
    except Exception as exc:  # noqa: BLE001 - any failure of the reference is a refusal
        raise Refused(f"{type(exc).__name__}: {exc}") from None
    return keys, np.asarray(m, dtype=np.float32)


@settings(_FUZZ, max_examples=max(20, settings.default.max_examples // 40))
@given(table=tables(), fmt=st.sampled_from(["npy", "safetensors", "parquet"]), data=st.data())
def test_mutated_arrays_and_tables(table, fmt, data) -> None:
    keys, m = table
    suffix, raw = render_array(fmt, keys, m)
    mutation = data.draw(st.one_of(st.just(("none", 0, None)), mutations(len(raw))))
    blob = mutate(raw, mutation)
    path = _write("arr" + suffix, blob)
    with warnings.catch_warnings(record=True):
        warnings.simplefilter("always")
        try:
            v = eio.load(path, cache=False)
        except EmbvizError as exc:  # property 1
            assert "\n" not in str(exc)
            assert mutation[0] != "none", f"a valid {fmt} file was refused: {exc}"
            return
    try:
        rkeys, rm = reference_array(path, fmt)
    except Refused as why:
        raise AssertionError(f"embviz loaded a {fmt} file its own reader refuses ({why})") from None
    first = sorted({k: i for i, k in reversed(list(enumerate(rkeys)))}.values())  # duplicates: the first kept
    rkeys, rm = [rkeys[i] for i in first], rm[first]
    assert v.matrix.shape == rm.shape and np.array_equal(np.asarray(v.matrix), rm)  # property 2
    assert list(v.keys) == rkeys
    unit = np.asarray(v.unit, dtype=np.float64)
    assert np.isfinite(unit).all()  # property 3
    if v.count > 1:
        for r in search.neighbors(v, v.keys[0], k=min(3, v.count - 1)) if v.norms[0] > 0 else []:
            assert np.isfinite(r.score) and -1.0 - 1e-6 <= r.score <= 1.0 + 1e-6
