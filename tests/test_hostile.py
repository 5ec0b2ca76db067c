"""One test per failure class of the hostile-input campaign (issue 16): each file is built here.

Every bad input ends in one ``EmbvizError`` line naming the file and the place, and every
accepted input gives the right numbers. See docs/errors.md, "Guarantees".
"""

from __future__ import annotations

import bz2
import gzip
import lzma
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest

from embviz import io as eio
from embviz.errors import FormatError

KEYS = ["king", "queen", "man", "woman", "apple"]
M = np.array(
    [[1.0, 0.0, 0.2, 0.5], [0.9, 0.1, 0.25, 0.5], [0.1, 1.0, 0.0, -0.5],
     [0.0, 0.9, 0.3, -0.5], [-1.0, -1.0, 0.5, 0.0]],
    dtype="<f4",
)
TEXT = "".join(f"{k} {' '.join('%.6g' % x for x in M[i])}\n" for i, k in enumerate(KEYS)).encode()


def _records(newline: bool = True) -> bytes:
    return b"".join(k.encode() + b" " + M[i].tobytes() + (b"\n" if newline else b"") for i, k in enumerate(KEYS))


def _load(path: Path, **kw):
    return eio.load(path, cache=False, **kw)


def _refused(path: Path, **kw) -> str:
    with pytest.raises(FormatError) as exc:
        _load(path, **kw)
    msg = str(exc.value)
    assert "\n" not in msg and msg.startswith(str(path))
    return msg[len(str(path)) + 2 :]


# -- binary reader: records without a trailing newline ----------------------------------------
def test_binary_without_newlines_loads(tmp_path: Path) -> None:
    p = tmp_path / "v.bin"
    p.write_bytes(b"5 4\n" + _records(newline=False))
    v = _load(p)
    assert list(v.keys) == KEYS and np.array_equal(v.matrix, M)


@pytest.mark.parametrize("count", [7, 2**31])
@pytest.mark.parametrize("newline", [False, True])
def test_binary_header_count_larger_than_records(tmp_path: Path, count: int, newline: bool) -> None:
    p = tmp_path / "v.bin"
    p.write_bytes(f"{count} 4\n".encode() + _records(newline))
    assert _refused(p) == f"record 6: header says {count:,} vectors but the file ends after 5 (truncated?)"


def test_binary_deleted_record(tmp_path: Path) -> None:
    r = _records(newline=False)
    rec = len(r) // 5
    p = tmp_path / "v.bin"
    p.write_bytes(b"5 4\n" + r[: 2 * rec] + r[3 * rec :])  # record 3 deleted
    assert _refused(p) == "record 5: header says 5 vectors but the file ends after 4 (truncated?)"


def test_binary_flipped_byte_to_huge_float(tmp_path: Path) -> None:
    m = M.copy()
    m[1, 2] = np.float32(3e38)
    p = tmp_path / "v.bin"
    p.write_bytes(b"5 4\n" + b"".join(k.encode() + b" " + m[i].tobytes() for i, k in enumerate(KEYS)))
    assert _refused(p) == (
        "record 2 ('queen'): its squared norm 9e+76 overflows float32 (values up to about "
        "9.22e+18 in 4 dimensions are accepted)"
    )


# -- corrupt gzip / bz2 / xz -------------------------------------------------------------------
def _corrupt(kind: str) -> bytes:
    body = TEXT * 400
    if kind == "gzip-deflate":
        b = bytearray(gzip.compress(body))
        b[len(b) // 2] ^= 0xFF
        return bytes(b)
    if kind == "gzip-crc":
        b = bytearray(gzip.compress(body))
        b[-6] ^= 0xFF
        return bytes(b)
    if kind == "gzip-truncated":
        g = gzip.compress(body)
        return g[: len(g) // 2]
    if kind == "bz2-truncated":
        return bz2.compress(body)[:-20]
    b = bytearray(lzma.compress(body))
    b[len(b) // 2] ^= 0xFF
    return bytes(b)


@pytest.mark.parametrize(
    ("kind", "codec", "what"),
    [
        ("gzip-deflate", "gzip", ("Error -3 while decompressing data", "CRC check failed")),
        ("gzip-crc", "gzip", "CRC check failed"),
        ("gzip-truncated", "gzip", "Compressed file ended before the end-of-stream marker was reached"),
        ("bz2-truncated", "bz2", "Compressed file ended before the end-of-stream marker was reached"),
        ("xz-flipped", "xz", "Corrupt input data"),
    ],
)
def test_corrupt_compressed_stream_names_file_and_offset(tmp_path: Path, kind: str, codec: str, what: str) -> None:
    p = tmp_path / "v.txt.z"
    p.write_bytes(_corrupt(kind))
    msg = _refused(p)
    assert msg.startswith(tuple(f"cannot decompress: {w}" for w in ((what,) if isinstance(what, str) else what))), msg
    assert f": corrupt {codec} data at byte " in msg and " of the file (" in msg and "bytes decompressed" in msg


def test_codec_error_deep_in_the_stream_reports_the_decompressed_offset(tmp_path: Path) -> None:
    body = TEXT * 200_000  # ~6 MB: the damage is met after the first blocks were parsed
    c = zlib.compressobj(6, zlib.DEFLATED, 31)
    g = bytearray(c.compress(body) + c.flush())
    g[-2000] ^= 0xFF
    p = tmp_path / "v.txt.gz"
    p.write_bytes(bytes(g))
    msg = _refused(p)
    reached = int(msg.split("(")[1].split(" bytes decompressed")[0].replace(",", ""))
    assert 0 < reached <= len(body)


# -- finite but huge values --------------------------------------------------------------------
def test_huge_text_value_refused(tmp_path: Path) -> None:
    p = tmp_path / "v.txt"
    p.write_bytes(TEXT + b"big 1e38 1e38 1e38 1e38\n")
    assert _refused(p) == (
        "line 6 ('big'): its squared norm 4e+76 overflows float32 (values up to about "
        "9.22e+18 in 4 dimensions are accepted)"
    )


def test_values_beyond_float16_refused_for_a_float16_table(tmp_path: Path) -> None:
    p = tmp_path / "v.txt"
    p.write_bytes(TEXT + b"big 70000 1 1 1\n")
    with pytest.warns(RuntimeWarning):  # numpy's own overflow notice of the cast
        assert _refused(p, dtype="float16") == (
            "line 6 ('big'): a value is beyond the range of float16 (largest 65,504); "
            "load it with --dtype float32"
        )
    assert _load(p).matrix[5, 0] == 70000.0  # float32 holds it


def test_large_but_safe_values_load_with_finite_norms(tmp_path: Path) -> None:
    p = tmp_path / "v.txt"
    p.write_bytes(TEXT + b"big 1e18 1e18 1e18 1e18\n")
    v = _load(p)
    assert np.isfinite(v.norms).all() and np.isfinite(v.unit).all()
    assert v.norms[5] == pytest.approx(2e18, rel=1e-6)


# -- sniffing edge cases -----------------------------------------------------------------------
@pytest.mark.parametrize("blank", [30_000, 200_000])
def test_leading_blank_lines(tmp_path: Path, blank: int) -> None:
    p = tmp_path / "v.txt"
    p.write_bytes(b"\n" * blank + TEXT)
    v = _load(p)
    assert list(v.keys) == KEYS and np.allclose(v.matrix, M)
    p.write_bytes(b"\n" * blank + b"5 4\n" + TEXT)
    assert list(_load(p).keys) == KEYS


@pytest.mark.parametrize("header", [b"", b"6 4\n"])
def test_first_key_of_10000_characters(tmp_path: Path, header: bytes) -> None:
    p = tmp_path / "v.txt"
    p.write_bytes(header + b"k" * 10_000 + b" 1 2 3 4\n" + TEXT)
    v = _load(p)
    assert v.count == 6 and v.dim == 4 and v.keys[0] == "k" * 10_000 and list(v.keys[1:]) == KEYS


@pytest.mark.parametrize("header", [b"", b"6 4\n"])
def test_nul_byte_in_a_text_key_loads_as_text(tmp_path: Path, header: bytes) -> None:
    p = tmp_path / "v.txt"
    p.write_bytes(header + b"ki\x00ng 1 2 3 4\n" + TEXT)
    assert eio.sniff(p).format.value == ("glove" if not header else "word2vec-text")
    v = _load(p)
    assert list(v.keys) == ["ki\x00ng", *KEYS] and v.matrix[0].tolist() == [1, 2, 3, 4]


def test_line_longer_than_any_row_is_refused_early(tmp_path: Path) -> None:
    c = zlib.compressobj(9, zlib.DEFLATED, 31)
    p = tmp_path / "bomb.txt.gz"
    with open(p, "wb") as f:  # 1 MB of gzip holding a 512 MiB line
        f.write(c.compress(b"a"))
        for _ in range(512):
            f.write(c.compress(b" 1" * (1 << 19)))
        f.write(c.flush())
    assert _refused(p) == (
        "line 1: more than 3,265,536 bytes without a newline, longer than any vector row "
        "(not a text vector file?)"
    )


def test_headerless_line_of_a_million_values(tmp_path: Path) -> None:
    p = tmp_path / "v.txt"
    p.write_bytes(b"a " + b"1 " * 1_000_000 + b"\n")
    assert _refused(p) == "line 1: 1,000,000 values per line; at most 100,000 are supported"


def test_header_claim_checked_as_the_data_streams(tmp_path: Path) -> None:
    p = tmp_path / "v.txt.gz"
    p.write_bytes(gzip.compress(b"100 4\n" + b"a 1 2 3 4\n" * 3_000_000))
    msg = _refused(p)
    assert msg.startswith("line 1: header says 100 vectors but the file has more (line ")


def test_explicit_glove_overrides_the_sniffer_for_a_numeric_first_key(tmp_path: Path) -> None:
    p = tmp_path / "v.txt"
    p.write_bytes(b"1.5e-02 0.1\nking 0.2\n")
    assert _refused(p).startswith("not a vector file: line 1 is '1.5e-02 0.1'")
    v = _load(p, format="glove")
    assert list(v.keys) == ["1.5e-02", "king"] and v.matrix[:, 0].tolist() == pytest.approx([0.1, 0.2])


def test_old_fasttext_bin_without_magic(tmp_path: Path) -> None:
    args = struct.pack("<12id", 10, 5, 5, 5, 5, 1, 2, 2, 1000, 3, 6, 10000, 1e-4)
    p = tmp_path / "model.bin"
    p.write_bytes(args + b"\x00" * 200)
    # read as a fastText model since issue 28 (tests/test_fasttext_bin.py): here its matrix is missing
    assert _refused(p).startswith("fastText model truncated or damaged in the matrix: shape (0, 0)")


def test_gensim_lee_fasttext_bin_is_named_a_fasttext_model() -> None:
    from gensim.test.utils import datapath

    assert eio.sniff(datapath("lee_fasttext.bin")).format.value == "fasttext-bin"


def test_word2vec_c_text_output_is_not_labelled_fasttext(tmp_path: Path) -> None:
    p = tmp_path / "vectors.txt"  # word2vec.c: "%s " then "%lf " per value, then "\n"
    p.write_bytes(b"5 4\n" + "".join(
        f"{k} " + "".join("%f " % x for x in M[i]) + "\n" for i, k in enumerate(KEYS)).encode())
    assert eio.sniff(p).format.value == "word2vec-text"
    q = tmp_path / "vectors.vec"  # fastText: 5 significant digits, then a space
    q.write_bytes(b"5 4\n" + "".join(
        f"{k} " + "".join("%.5g " % x for x in M[i]) + "\n" for i, k in enumerate(KEYS)).encode())
    assert eio.sniff(q).format.value == "fasttext"
    assert np.allclose(_load(p).matrix, M) and np.allclose(_load(q).matrix, M)


# -- numbers at the edges: expressions that must not overflow or underflow --------------------
@pytest.fixture(scope="module")
def table():
    from embviz.vectors import Vectors

    return Vectors(KEYS, M)


def _nb(table, q: str) -> list[tuple[str, float]]:
    from embviz import search

    return [(n.key, n.score) for n in search.neighbors(table, q, k=3)]


@pytest.mark.parametrize("q", ["1e39*king", "1e-30*king", "1e300*king", "5e-324*king"])
def test_scaled_key_has_the_key_s_neighbors(table, q: str) -> None:
    got = _nb(table, q)
    assert got == _nb(table, "king")
    assert all(np.isfinite(s) and -1 <= s <= 1 for _, s in got)


def test_huge_weights_on_two_keys_keep_their_direction(table) -> None:
    assert _nb(table, "1e30*king + 1e30*queen") == _nb(table, "king + queen")
    assert _nb(table, "1e300*king + 1e300*queen") == _nb(table, "king + queen")


def test_weight_beyond_float64_is_one_line(table) -> None:
    from embviz import search
    from embviz.errors import InvalidQuery

    with pytest.raises(InvalidQuery) as exc:
        search.neighbors(table, "1e400*king")
    assert str(exc.value) == "a weight in expression '1e400*king' is too large (beyond 1e308)"
    with pytest.raises(InvalidQuery, match=r"^the vector of '1e39\*king' overflows float32"):
        search.expression_vector(table, "1e39*king")  # the raw vector cannot be float32
    assert np.allclose(search.expression_vector(table, "1e-30*king"), 1e-30 * table.unit[0])


# -- id parsing: only ASCII digits are ids -----------------------------------------------------
@pytest.mark.parametrize("item", ["²", "--5", "١٢", "٣", "+1", "1_0"])
def test_non_ascii_digits_are_keys_not_ids(table, item: str) -> None:
    from embviz import search
    from embviz.errors import InvalidQuery, KeyNotFound

    with pytest.raises(KeyNotFound) as exc:
        search.lookup(table, [item])
    assert str(exc.value).startswith(f"{item!r} is not in the vocabulary")
    with pytest.raises(InvalidQuery, match="is not an integer id"):
        search.lookup(table, [item], ids=True)


def test_ascii_ids(table) -> None:
    from embviz import search

    assert [r.key for r in search.lookup(table, ["1", " 4"])] == ["queen", "apple"]


# -- statistics that cannot be computed say why, never null -----------------------------------
def test_info_statistics_are_finite_for_large_rows_and_say_why_otherwise() -> None:
    from embviz.errors import InvalidQuery
    from embviz.stats import describe
    from embviz.vectors import Vectors

    big = Vectors(["a", "b"], np.array([[1e38, 1e38], [3, 4]], dtype=np.float32))
    info = describe(big, Path("x.txt"), "glove", None)
    assert (info.norm_min, info.norm_max) == (5.0, pytest.approx(np.sqrt(2) * 1e38, rel=1e-6))
    assert np.isfinite(info.norm_mean)
    bad = Vectors(["a", "b"], np.array([[np.inf, 0], [3, 4]], dtype=np.float32))
    with pytest.raises(InvalidQuery) as exc:
        describe(bad, Path("x.txt"), "glove", None)
    assert str(exc.value) == (
        "x.txt: row 0 ('a') holds a value that is not finite, so its norm (and norm_mean, "
        "norm_max) cannot be computed"
    )
    with pytest.raises(InvalidQuery, match="has no rows, so its norm statistics cannot be computed"):
        describe(Vectors([], np.zeros((0, 2), np.float32)), Path("x.txt"), "glove", None)


# -- output paths that are not regular files ---------------------------------------------------
def _small():
    from embviz.vectors import Vectors

    return Vectors(["a", "b"], np.eye(2, dtype=np.float32))


def test_write_through_a_symlink_keeps_the_link(tmp_path: Path) -> None:
    (tmp_path / "real").mkdir()
    target = tmp_path / "real" / "v.txt"
    target.write_text("old")
    link = tmp_path / "link.txt"
    link.symlink_to(target)
    eio.save(_small(), link)
    assert link.is_symlink() and target.read_text() == "2 2\na 1 0\nb 0 1\n"
    dangling = tmp_path / "dangling.vec"
    dangling.symlink_to(tmp_path / "real" / "new.vec")
    eio.save(_small(), dangling)
    assert dangling.is_symlink() and (tmp_path / "real" / "new.vec").read_text() == "2 2\na 1 0 \nb 0 1 \n"
    assert sorted(p.name for p in (tmp_path / "real").iterdir()) == ["new.vec", "v.txt"]  # no temporaries


def test_write_into_a_fifo_directly(tmp_path: Path) -> None:
    import os
    import threading

    fifo = tmp_path / "pipe.txt"
    os.mkfifo(fifo)
    got: dict[str, bytes] = {}
    reader = threading.Thread(target=lambda: got.setdefault("data", fifo.read_bytes()))
    reader.start()
    eio.save(_small(), fifo, format="glove")
    reader.join(timeout=30)
    assert got["data"] == b"a 1 0\nb 0 1\n"
    assert fifo.is_fifo() and sorted(p.name for p in tmp_path.iterdir()) == ["pipe.txt"]


def test_write_into_a_character_device_keeps_the_node(tmp_path: Path) -> None:
    import os
    import stat

    node = tmp_path / "null"
    try:  # a private null device (1, 3): never risk replacing the real /dev/null
        os.mknod(node, 0o666 | stat.S_IFCHR, os.makedev(1, 3))
    except PermissionError:
        node = Path("/dev/null")
    eio.save(_small(), node, format="word2vec-text")
    assert stat.S_ISCHR(os.stat(node).st_mode)
    assert eio.write.write_target(node) == (node, True)


@pytest.mark.parametrize("fmt", ["glove", "word2vec-text", "fasttext", "projector"])
def test_keys_with_a_tab_are_refused_by_text_formats(tmp_path: Path, fmt: str) -> None:
    from embviz.vectors import Vectors

    v = Vectors(["a\tb", "c"], np.eye(2, dtype=np.float32))
    out = tmp_path / ("out.tsv" if fmt == "projector" else "out.txt")
    with pytest.raises(FormatError) as exc:
        eio.save(v, out, format=fmt)
    assert str(exc.value) == f"key 'a\\tb' cannot be written in the {fmt} format (empty, or contains a newline or a tab)"
    assert list(tmp_path.iterdir()) == []
    eio.save(v, tmp_path / "out.bin")  # word2vec binary keeps the tab
    assert list(eio.load(tmp_path / "out.bin", cache=False).keys) == ["a\tb", "c"]


# -- the cache: stale sources, bit rot, leftovers ---------------------------------------------
def _glove(path: Path, rows: np.ndarray, keys=KEYS) -> Path:
    path.write_bytes("".join(f"{k} {' '.join('%.6g' % x for x in rows[i])}\n" for i, k in enumerate(keys)).encode())
    return path


def test_edit_in_the_middle_with_size_and_mtime_kept_is_seen(tmp_path: Path) -> None:
    import os

    src = _glove(tmp_path / "v.txt", M)
    cdir = tmp_path / "cache"
    assert eio.load(src, cache_dir=cdir).matrix[2, 0] == pytest.approx(0.1)
    st = os.stat(src)
    data = bytearray(src.read_bytes())
    i = data.index(b"man 0.1")
    data[i + 6] = ord("7")  # man 0.1 -> man 0.7, same size
    src.write_bytes(bytes(data))
    os.utime(src, ns=(st.st_atime_ns, st.st_mtime_ns))  # touch -r
    assert os.stat(src).st_size == st.st_size and os.stat(src).st_mtime_ns == st.st_mtime_ns
    assert eio.load(src, cache_dir=cdir).matrix[2, 0] == pytest.approx(0.7)


def test_file_renamed_over_the_source_with_its_mtime_is_seen(tmp_path: Path) -> None:
    import os

    src = _glove(tmp_path / "v.txt", M)
    cdir = tmp_path / "cache"
    eio.load(src, cache_dir=cdir)
    other = _glove(tmp_path / "other.txt", M[::-1].copy())  # same size, other rows
    assert other.stat().st_size == src.stat().st_size
    st = os.stat(src)
    os.utime(other, ns=(st.st_atime_ns, st.st_mtime_ns))
    os.replace(other, src)
    assert np.allclose(eio.load(src, cache_dir=cdir).matrix, M[::-1], atol=1e-6)


def _entry(cdir: Path) -> Path:
    [entry] = [p for p in (cdir / "vectors").iterdir() if not p.name.startswith(".")]
    return entry


def _flip(path: Path, offset: int) -> None:
    with open(path, "r+b") as f:
        f.seek(offset)
        b = f.read(1)
        f.seek(offset)
        f.write(bytes([b[0] ^ 0x40]))


@pytest.mark.parametrize("name", ["matrix.npy", "norms64.npy", "unit.npy"])
def test_bit_rot_in_a_cache_entry_is_never_served(tmp_path: Path, name: str) -> None:
    from embviz.io import cache

    src = _glove(tmp_path / "v.txt", M)
    cdir = tmp_path / "cache"
    eio.load(src, cache_dir=cdir)
    entry = _entry(cdir)
    _flip(entry / name, (entry / name).stat().st_size - 3)  # inside the last row's values
    [v] = cache.verify(cdir)
    assert (v.status, v.problem) == ("corrupt", f"{name}: data changed at bytes 0+")
    assert [e.status for e in cache.entries(cdir)] == ["corrupt"]  # cache list sees it too
    again = eio.load(src, cache_dir=cdir)  # the sampled check on load sees it (1 block here)
    assert np.allclose(again.matrix, M, atol=1e-6) and np.allclose(again.unit[4], M[4] / np.linalg.norm(M[4]), atol=1e-6)
    assert [x.status for x in cache.verify(cdir)] == ["ok"]


def test_cache_verify_sees_a_source_edit_no_stat_field_shows(tmp_path: Path) -> None:
    from embviz.io import cache

    src = _glove(tmp_path / "v.txt", M)
    cdir = tmp_path / "cache"
    eio.load(src, cache_dir=cdir)
    meta_path = _entry(cdir) / "meta.json"
    import json

    meta = json.loads(meta_path.read_text())
    meta["source_crc32"] = 12345  # as if the content changed behind every stat field
    meta_path.write_text(json.dumps(meta))
    [v] = cache.verify(cdir)
    assert (v.status, v.problem) == ("stale", "source content changed (full checksum differs)")


def test_cache_verify_cli(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from embviz.cli import app

    src = _glove(tmp_path / "v.txt", M)
    cdir = tmp_path / "cache"
    eio.load(src, cache_dir=cdir)
    entry = _entry(cdir)
    r = CliRunner().invoke(app, ["cache", "verify", "--cache-dir", str(cdir)])
    assert (r.exit_code, r.stdout) == (0, f"source\tstatus\tproblem\tpath\n{src}\tok\t\t{entry}\n")
    _flip(entry / "matrix.npy", 200)
    r = CliRunner().invoke(app, ["cache", "verify", "--cache-dir", str(cdir)])
    assert r.exit_code == 1
    assert r.stdout == f"source\tstatus\tproblem\tpath\n{src}\tcorrupt\tmatrix.npy: data changed at bytes 0+\t{entry}\n"
    assert r.stderr == (
        f"embviz: error: 1 of 1 cache entries are not ok (first: {entry}: matrix.npy: data changed "
        "at bytes 0+); the next load rebuilds them, or run 'embviz cache clear'\n"
    )


def test_stale_temporaries_of_dead_processes_are_swept(tmp_path: Path) -> None:
    import os
    import subprocess

    from embviz.io import cache

    src = _glove(tmp_path / "v.txt", M)
    cdir = tmp_path / "cache"
    base = cdir / "vectors"
    base.mkdir(parents=True)
    proc = subprocess.Popen(["true"])
    proc.wait()
    dead = proc.pid  # this pid has exited
    (base / f".tmp-abc-{dead}-1234abcd").mkdir()
    (base / f".tmp-abc-{dead}-1234abcd" / "matrix.npy").write_bytes(b"x" * 1000)
    (base / f".tmp-def-{os.getpid()}-1234abcd").mkdir()  # a live builder: kept
    eio.load(src, cache_dir=cdir)
    names = sorted(p.name for p in base.iterdir())
    assert f".tmp-abc-{dead}-1234abcd" not in names and f".tmp-def-{os.getpid()}-1234abcd" in names
    assert cache.sweep(cdir) == 0


# -- CLI edges -----------------------------------------------------------------------------------
DASH = {"-": [1.0, 0.0, 0.0], "king": [0.9, 0.1, 0.0], "queen": [0.8, 0.3, 0.1], "man": [0.0, 1.0, 0.0]}


@pytest.fixture()
def dash_file(tmp_path: Path) -> Path:
    p = tmp_path / "dash.txt"
    p.write_text("".join(f"{k} {' '.join(map(str, v))}\n" for k, v in DASH.items()))
    return p


def _cli(args: list[str], **kw):
    import subprocess
    import sys

    if "stdout" not in kw:
        kw["stdout"] = subprocess.PIPE
    return subprocess.run([sys.executable, "-m", "embviz", *args], stderr=subprocess.PIPE, **kw)


def test_a_key_that_is_literally_dash_is_queried_through_stdin(runner, dash_file: Path) -> None:
    from embviz.cli import app

    r = runner.invoke(app, ["lookup", "-v", str(dash_file), "--no-cache", "-"], input="-\n")
    assert (r.exit_code, r.stdout) == (0, "id\tkey\tvector\n0\t-\t1 0 0\n")
    r = runner.invoke(app, ["neighbors", "-v", str(dash_file), "--no-cache", "-k", "1", "-"], input="-\n")
    assert (r.exit_code, r.stdout) == (0, "query\trank\tkey\tscore\n-\t1\tking\t0.993884\n")
    r = runner.invoke(app, ["neighbors", "-v", str(dash_file), "--no-cache", "-k", "1", "'-'"])
    assert (r.exit_code, r.stdout) == (0, "query\trank\tkey\tscore\n'-'\t1\tking\t0.993884\n")
    r = runner.invoke(app, ["similarity", "-v", str(dash_file), "--no-cache", "-"], input="-\tking\n")
    assert (r.exit_code, r.stdout) == (0, "a\tb\tscore\n-\tking\t0.993884\n")


def test_stdout_on_a_full_disk_is_one_line_exit_1(dash_file: Path) -> None:
    with open("/dev/full", "w") as full:
        r = _cli(["neighbors", "-v", str(dash_file), "--no-cache", "king"], stdout=full)
    assert (r.returncode, r.stderr) == (1, b"embviz: error: cannot write the output: No space left on device\n")


def test_invalid_utf8_on_stdin_under_strict_stdio(dash_file: Path) -> None:
    import os

    env = dict(os.environ, PYTHONIOENCODING="utf-8:strict", PYTHONUTF8="1")
    r = _cli(["neighbors", "-v", str(dash_file), "--no-cache", "-"], input=b"king\nqu\xffeen\n", env=env)
    assert (r.returncode, r.stdout) == (1, b"")
    assert r.stderr == b"embviz: error: stdin line 2, byte 3: not valid UTF-8 (0xff); keys are read as UTF-8\n"


def test_a_10_mb_query_is_not_echoed_whole(runner, dash_file: Path) -> None:
    from embviz.cli import app

    r = runner.invoke(app, ["neighbors", "-v", str(dash_file), "--no-cache", "-"], input="x" * 10_000_000 + "\n")
    assert r.exit_code == 3 and r.stderr.count("\n") == 1 and len(r.stderr) < 2100
    assert r.stderr.startswith("embviz: error: 'xxxx") and "characters cut]..." in r.stderr


def test_vectors_from_a_pipe(dash_file: Path) -> None:
    import os

    r = _cli(["info", "-v", "/dev/stdin", "-f", "jsonl"], input=dash_file.read_bytes())
    assert r.returncode == 0 and b'"count": 4, "dim": 3' in r.stdout and b'"format": "glove"' in r.stdout
    rd, wr = os.pipe()  # what bash's <(cat file) passes: /dev/fd/N, a pipe
    os.write(wr, dash_file.read_bytes())
    os.close(wr)
    r = _cli(["neighbors", "-v", f"/dev/fd/{rd}", "-k", "1", "queen"], pass_fds=(rd,))
    os.close(rd)
    assert (r.returncode, r.stdout, r.stderr) == (0, b"query\trank\tkey\tscore\nqueen\t1\tking\t0.962805\n", b"")
    r = _cli(["info", "-v", "/dev/stdin"], input=b"<html><body>404</body></html>\n")
    assert (r.returncode, r.stderr) == (1, b"embviz: error: /dev/stdin: is an HTML/XML page, not a vector file (a failed download?)\n")


# -- quiet data changes: an empty --keys selection, numba's cache folder -----------------------
def test_empty_keys_file_says_the_selection_is_empty(runner, tmp_path: Path, dash_file: Path) -> None:
    from embviz.cli import app
    from embviz.cli import project_steps as project
    from embviz.errors import InvalidQuery

    blank = tmp_path / "blank.txt"
    blank.write_text("\n  \n")
    out = tmp_path / "plot.html"
    r = runner.invoke(app, ["plot", "-v", str(dash_file), "--no-cache", "--method", "pca",
                            "--keys", str(blank), "-o", str(out)])
    assert (r.exit_code, r.stdout, out.exists()) == (1, "", False)
    assert r.stderr == f"embviz: error: {blank}: the --keys file holds no keys, so the selection is empty\n"

    empty = tmp_path / "keys.txt"
    empty.write_text("\n  \n")
    with pytest.raises(InvalidQuery) as exc:
        project._read_keys(empty)
    assert str(exc.value) == f"{empty}: the --keys file holds no keys, so the selection is empty"
    (tmp_path / "k.txt").write_text("king\n\nqueen\n")
    assert project._read_keys(tmp_path / "k.txt") == ["king", "queen"]


def test_unwritable_numba_cache_falls_back_with_one_warning(tmp_path: Path, monkeypatch) -> None:
    import os

    from embviz.errors import EmbvizWarning
    from embviz.viz import projection

    blocked = tmp_path / "file"
    blocked.write_text("not a folder")
    monkeypatch.setenv("NUMBA_CACHE_DIR", str(blocked / "numba"))  # cannot be created or written
    with pytest.warns(EmbvizWarning) as caught:
        projection._writable_numba_cache()
    assert [str(w.message) for w in caught] == [
        f"cannot write numba's cache in {blocked / 'numba'}; UMAP compiles without a lasting disk cache"
    ]
    fallback = os.environ["NUMBA_CACHE_DIR"]
    assert fallback != str(blocked / "numba") and os.access(fallback, os.W_OK)
    projection._writable_numba_cache()  # a writable folder is left alone
    assert os.environ["NUMBA_CACHE_DIR"] == fallback


# -- fault injection: full disk, SIGKILL, SIGTERM, read-only folders ---------------------------
def _big_glove(path: Path, n: int = 200_000, dim: int = 50) -> Path:
    rng = np.random.default_rng(0)
    m = rng.standard_normal((n, dim)).astype(np.float32)
    keys = [f"k{i}" for i in range(n)]
    from embviz.vectors import Vectors

    eio.save(Vectors(keys, m), path, format="glove")
    return path


def _no_temporaries(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith(".") or p.name.endswith(".tmp"))


def test_full_disk_during_convert_leaves_no_half_written_file(tmp_path: Path, dash_file: Path) -> None:
    import resource
    import subprocess
    import sys

    big = _big_glove(tmp_path / "big.txt", n=20_000)
    out = tmp_path / "out" / "v.txt"
    out.parent.mkdir()
    out.write_text("old\n")
    code = (
        "import resource, signal, sys\n"
        "resource.setrlimit(resource.RLIMIT_FSIZE, (100_000, 100_000))\n"
        "from embviz.cli import main\n"
        "sys.argv = ['embviz'] + sys.argv[1:]\n"
        "main()\n"
    )
    r = subprocess.run([sys.executable, "-c", code, "convert", str(big), str(out)],
                       capture_output=True, text=True)
    assert r.returncode == 1, r.stderr
    assert r.stderr == f"embviz: error: {out}: cannot write: File too large\n"
    assert out.read_text() == "old\n" and _no_temporaries(out.parent) == []
    assert resource.getrlimit(resource.RLIMIT_FSIZE)[0] != 100_000  # only the child was limited
    r = subprocess.run([sys.executable, "-m", "embviz", "convert", str(big), str(out)],
                       capture_output=True, text=True)
    assert r.returncode == 0 and eio.load(out, cache=False).count == 20_000


def _start_and_kill(args: list[str], sig: int, when, timeout: float = 120.0) -> int:
    """Start ``embviz ARGS``, wait until ``when()`` is true, send `sig`; return the exit code."""
    import subprocess
    import sys
    import time

    proc = subprocess.Popen([sys.executable, "-m", "embviz", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + timeout
    while not when() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.005)
    assert proc.poll() is None, "finished before the signal: make the input bigger"
    proc.send_signal(sig)
    proc.communicate(timeout=timeout)
    return proc.returncode


@pytest.mark.slow
@pytest.mark.parametrize("sig", ["SIGKILL", "SIGTERM"])
def test_signal_during_convert(tmp_path: Path, sig: str) -> None:
    import signal

    big = _big_glove(tmp_path / "big.txt")
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    out = out_dir / "v.vec.gz"

    def writing() -> bool:
        return any(p.name.endswith(".tmp") and p.stat().st_size > 0 for p in out_dir.iterdir())

    code = _start_and_kill(["convert", str(big), str(out)], getattr(signal, sig), writing)
    assert not out.exists()  # never half-written
    if sig == "SIGTERM":
        assert code == 143 and _no_temporaries(out_dir) == []  # cleaned up
    else:
        assert code == -9
    import subprocess
    import sys

    r = subprocess.run([sys.executable, "-m", "embviz", "convert", str(big), str(out)], capture_output=True)
    assert r.returncode == 0 and eio.load(out, cache=False).count == 200_000


@pytest.mark.slow
@pytest.mark.parametrize("sig", ["SIGKILL", "SIGTERM"])
def test_signal_during_a_cache_build(tmp_path: Path, sig: str) -> None:
    import signal

    from embviz.io import cache

    big = _big_glove(tmp_path / "big.txt")
    cdir = tmp_path / "cache"
    base = cdir / "vectors"

    def building() -> bool:
        return base.is_dir() and any(
            p.name.startswith(".tmp-") and (p / "matrix.npy").exists() for p in base.iterdir()
        )

    code = _start_and_kill(["info", "-v", str(big), "--cache-dir", str(cdir)], getattr(signal, sig), building)
    assert code == (143 if sig == "SIGTERM" else -9)
    assert cache.entries(cdir) == []  # no entry, let alone a corrupt one
    left = [p.name for p in base.iterdir()]
    assert left == [] if sig == "SIGTERM" else all(n.startswith(".tmp-") for n in left)
    v = eio.load(big, cache_dir=cdir)  # the next run rebuilds, and sweeps the dead builder's folder
    assert v.count == 200_000 and [p.name.startswith(".tmp-") for p in base.iterdir()] == [False]
    assert [e.status for e in cache.verify(cdir)] == ["ok"]


def test_read_only_output_folder(tmp_path: Path, dash_file: Path) -> None:
    import os

    target = Path("/proc/self/v.txt") if os.geteuid() == 0 else tmp_path / "ro" / "v.txt"
    if os.geteuid() != 0:
        target.parent.mkdir()
        target.parent.chmod(0o555)
    with pytest.raises(FormatError) as exc:
        eio.save(eio.load(dash_file, cache=False), target)
    assert str(exc.value).startswith(f"{target}: ") and "\n" not in str(exc.value)
    assert not target.exists()


def test_read_only_cache_folder_loads_without_the_cache_with_one_warning(tmp_path: Path, dash_file: Path) -> None:
    from embviz.errors import EmbvizWarning

    blocked = tmp_path / "cachefile"
    blocked.write_text("a file where the cache folder should be")
    with pytest.warns(EmbvizWarning) as caught:
        v = eio.load(dash_file, cache_dir=blocked)
    assert v.count == 4 and len(caught) == 1
    assert str(caught[0].message).startswith(f"cannot write the vector cache in {blocked} (")


def test_lookup_ids_through_the_cli(runner, dash_file: Path) -> None:
    from embviz.cli import app

    for item in ("²", "--5", "١٢"):
        r = runner.invoke(app, ["lookup", "-v", str(dash_file), "--no-cache", "--", item])
        assert (r.exit_code, r.stdout) == (3, "")
        assert r.stderr.startswith(f"embviz: error: {item!r} is not in the vocabulary (4 keys of dash.txt)")
    r = runner.invoke(app, ["lookup", "-v", str(dash_file), "--no-cache", "--", "2"])
    assert (r.exit_code, r.stdout) == (0, "id\tkey\tvector\n2\tqueen\t0.8 0.3 0.1\n")
