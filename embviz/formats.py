"""Readers and writers of vector files: word2vec (binary and text), GloVe, fastText ``.vec``.

Formats
-------
``word2vec``       binary: ``"<count> <dim>\\n"``, then per key ``key + b" " + dim float32 (LE)``,
                   with or without ``\\n`` after each vector (word2vec.c, gensim ``binary=True``).
``word2vec-text``  text: ``"<count> <dim>"`` header, then ``key v1 ... vdim`` per line.
``glove``          text without header (Pennington et al., GloVe).
``fasttext``       ``.vec``: word2vec text whose lines end with a space (fastText's output).
``projector``      write only: TensorFlow Embedding Projector ``vectors.tsv`` + ``metadata.tsv``.

The format is sniffed from the content (``sniff``) and gzip/bz2/xz from magic bytes; an explicit
format always wins. Text is parsed in bulk at C speed: numpy finds lines, separators and keys,
pandas' C parser reads the numbers; a row's last ``dim`` fields are its vector and everything
before them is the key, so keys with spaces (GloVe 840B's ``new york``) and the key ``" "``
load. Every rejection names the file, the line (or record) and what was expected.
"""

from __future__ import annotations

import bz2
import csv
import gzip
import io
import lzma
import os
import re
import tempfile
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import IO, Callable, Iterator

import numpy as np

from embviz import _binary
from embviz.errors import FormatError, warn
from embviz.vectors import Vectors


class VectorFormat(str, Enum):
    """Vector file formats (``--input-format``, ``convert --to``)."""

    word2vec = "word2vec"
    word2vec_text = "word2vec-text"
    glove = "glove"
    fasttext = "fasttext"
    projector = "projector"


READABLE = (VectorFormat.word2vec, VectorFormat.word2vec_text, VectorFormat.glove, VectorFormat.fasttext)

#: Bytes read (after decompression) per parsing step; bounds the parser's temporary memory.
CHUNK_BYTES = 1 << 22
#: Threads parsing text blocks concurrently (pandas' C parser and numpy release the GIL).
PARSE_THREADS = min(4, os.cpu_count() or 1)
#: Bytes looked at to sniff the format.
HEAD_BYTES = 1 << 16
_FASTTEXT_MAGIC = (793712314).to_bytes(4, "little")
_BOM = b"\xef\xbb\xbf"
_HEADER = re.compile(rb"^[ \t]*(\d+)[ \t]+(\d+)[ \t]*\r?$")
_MAX_DIM = 100_000


@dataclass(frozen=True)
class SourceInfo:
    """What ``sniff`` learnt about a file."""

    format: VectorFormat
    compression: str | None  # "gzip", "bz2", "xz" or None
    count: int | None  # the header's count, if any (not trusted until the data confirms it)
    dim: int | None


# -- opening ---------------------------------------------------------------------------------
def compression(path: str | os.PathLike) -> str | None:
    """The compression of `path` from its magic bytes: "gzip", "bz2", "xz" or None."""
    with open(path, "rb") as f:
        magic = f.read(6)
    if magic[:2] == b"\x1f\x8b":
        return "gzip"
    if magic[:3] == b"BZh":
        return "bz2"
    if magic == b"\xfd7zXZ\x00":
        return "xz"
    return None


def open_bytes(path: str | os.PathLike, codec: str | None = "auto") -> IO[bytes]:
    """Open `path` for reading bytes, decompressing gzip/bz2/xz detected from magic bytes.

    Raises
    ------
    FormatError
        If the file does not exist, is a directory or cannot be read.
    """
    path = Path(path)
    try:
        comp = compression(path) if codec == "auto" else codec
        if comp == "gzip":
            return gzip.open(path, "rb")
        if comp == "bz2":
            return bz2.open(path, "rb")
        if comp == "xz":
            return lzma.open(path, "rb")
        return open(path, "rb")
    except FileNotFoundError:
        raise FormatError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise FormatError(f"{path}: is a directory, expected a vector file") from None
    except PermissionError:
        raise FormatError(f"{path}: permission denied") from None
    except OSError as exc:
        raise FormatError(f"{path}: cannot read: {exc.strerror or exc}") from None


def _read_head(f: IO[bytes], path: Path) -> bytes:
    try:
        return f.read(HEAD_BYTES)
    except (OSError, EOFError, lzma.LZMAError, ValueError) as exc:
        raise FormatError(f"{path}: cannot decompress: {exc}") from None


def _not_a_vector_file(head: bytes, path: Path) -> str | None:
    """A reason why `head` is clearly not a vector file, or None."""
    if head[:4] == _FASTTEXT_MAGIC:
        return (
            "is a fastText model (.bin), not a vector file; load the .vec file fastText wrote "
            "beside it, or export one with 'fasttext print-word-vectors'"
        )
    text = head.lstrip(_BOM).lstrip()
    if text.startswith(b"version https://git-lfs"):
        return "is a Git LFS pointer, not the vectors; run 'git lfs pull' to fetch the real file"
    low = text[:200].lower()
    if low.startswith((b"<!doctype", b"<html", b"<?xml", b"<head", b"<body")):
        return "is an HTML/XML page, not a vector file (a failed download?)"
    if head[:4] == b"PK\x03\x04":
        return "is a zip archive; unzip it first (embviz reads gzip, bz2 and xz directly)"
    if head[:6] == b"\x93NUMPY":
        return "is a numpy .npy array without keys, not a vector file"
    return None


def _first_line(data: bytes, start: int = 0, limit: int = HEAD_BYTES) -> bytes:
    end = data.find(b"\n", start, start + limit)
    return data[start : (end if end >= 0 else start + limit)]


def _floats(fields: list[bytes]) -> bool:
    try:
        for x in fields:
            float(x)
    except ValueError:
        return False
    return True


def sniff(path: str | os.PathLike) -> SourceInfo:
    """Detect the format and compression of a vector file from its content.

    Returns
    -------
    SourceInfo
        The format, compression and (untrusted) header count and dim.

    Raises
    ------
    FormatError
        If the file is empty, is not a vector file (an HTML page, a Git LFS pointer, a
        fastText model ``.bin``, ...) or its first line is neither a ``<count> <dim>`` header
        nor ``<key> <numbers>``.
    """
    path = Path(path)
    comp = compression(path) if path.is_file() else None
    with open_bytes(path) as f:
        head = _read_head(f, path)
    return _sniff_head(head, path, comp)


def _sniff_head(head: bytes, path: Path, comp: str | None) -> SourceInfo:
    reason = _not_a_vector_file(head, path)
    if reason:
        raise FormatError(f"{path}: {reason}")
    data = head[3:] if head.startswith(_BOM) else head
    body = data.lstrip(b"\r\n")
    if not body.strip():
        raise FormatError(f"{path}: file is empty, expected vectors")
    line_no = data[: len(data) - len(body)].count(b"\n") + 1
    first = _first_line(body)
    m = _HEADER.match(first)
    if m:
        count, dim = int(m.group(1)), int(m.group(2))
        if dim < 1 or dim > _MAX_DIM:
            raise FormatError(f"{path}: line {line_no}: header dim {dim} is not in 1..{_MAX_DIM:,}")
        rest = body[len(first) + 1 :]
        probe = rest
        while True:  # blank lines after the header (text only: binary records follow at once)
            nl = probe.find(b"\n", 0, 4096)
            if nl < 0 or probe[:nl].strip(b" \t\r"):
                break
            probe = probe[nl + 1 :]
        nxt = _first_line(probe, 0, dim * 64 + 4096)
        fields = nxt.rstrip(b" \t\r").split(b" ")
        is_text = b"\x00" not in nxt and (
            (len(fields) >= dim + 1 and _floats(fields[-dim:]))
            # a malformed first row (ragged, non-numeric) is still text, so that the text
            # reader reports it by line number instead of misreading it as binary records
            or (len(fields) >= 2 and _is_clean_text(nxt))
        )
        if is_text:
            fmt = VectorFormat.fasttext if nxt.endswith((b" ", b" \r")) else VectorFormat.word2vec_text
        elif not rest.strip(b"\r\n \t") and count > 0:
            raise FormatError(
                f"{path}: line {line_no}: header says {count:,} vectors but no data follows"
            )
        else:
            fmt = VectorFormat.word2vec
        return SourceInfo(fmt, comp, count, dim)
    fields = first.rstrip(b" \t\r").split(b" ")
    if len(fields) >= 2 and _floats(fields[-1:]) and not _floats(fields[:1]) or (
        len(fields) >= 3 and _floats(fields[1:])
    ):
        return SourceInfo(VectorFormat.glove, comp, None, None)
    if b"\x00" in first or not _is_text(first):
        raise FormatError(f"{path}: not a vector file: line {line_no} is binary data without a "
                          "'<count> <dim>' header")
    shown = first[:60].decode("utf-8", "replace")
    raise FormatError(
        f"{path}: not a vector file: line {line_no} is {shown!r}, expected a "
        "'<count> <dim>' header or '<key> <v1> <v2> ...'"
    )


def _is_clean_text(b: bytes) -> bool:
    """UTF-8 without control characters other than tab and CR (a cut last character is ok)."""
    if any(c < 32 and c not in (9, 13) for c in b):
        return False
    return _is_text(b) or _is_text(b[:-1]) or _is_text(b[:-2]) or _is_text(b[:-3])


def _is_text(b: bytes) -> bool:
    try:
        b.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


# -- the bulk text parser --------------------------------------------------------------------
class _Sink:
    """Collects parsed blocks: keys, rows of the matrix and the line number of each row.

    When the reader can bound the row count (from the size of an uncompressed file, never
    from a header), rows are copied straight into one reserved ``np.empty`` array: pages
    that are never written are never resident, so the bound costs no memory and the matrix
    is built without a final concatenation (peak ~1x the matrix instead of 2x).
    """

    def __init__(self, dtype: np.dtype, size_bytes: int | None = None) -> None:
        self.keys: list[str] = []
        self.blocks: list[np.ndarray] = []
        self.lines: list[np.ndarray] = []
        self.rows = 0
        self.dtype = dtype
        self.size_bytes = size_bytes
        self.buf: np.ndarray | None = None

    def reserve(self, max_rows: int, dim: int) -> None:
        """Reserve room for at most `max_rows` rows (a bound derived from the file size)."""
        if self.buf is None and not self.blocks and 0 < max_rows * dim * self.dtype.itemsize < 1 << 40:
            self.buf = np.empty((max_rows, dim), dtype=self.dtype)

    def add(self, keys: list[str], rows: np.ndarray, lines: np.ndarray) -> None:
        if self.buf is not None and self.rows + len(rows) <= len(self.buf):
            self.buf[self.rows : self.rows + len(rows)] = rows
        else:
            if self.buf is not None:  # the bound was wrong: fall back to blocks
                self.blocks.append(self.buf[: self.rows])
                self.buf = None
            self.blocks.append(rows.astype(self.dtype, copy=False))
        self.keys.extend(keys)
        self.lines.append(lines)
        self.rows += len(keys)

    def matrix(self, dim: int) -> np.ndarray:
        if self.buf is not None:
            return self.buf[: self.rows]
        if not self.blocks:
            return np.empty((0, dim), dtype=self.dtype)
        if len(self.blocks) == 1:
            return self.blocks[0]
        out = np.concatenate(self.blocks)
        self.blocks.clear()
        return out

    def line_numbers(self) -> np.ndarray:
        return np.concatenate(self.lines) if self.lines else np.empty(0, np.int64)


def _ranges(lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """Positions covered by the ranges ``[lo, hi)`` in order: int64 ``(sum(hi - lo),)``."""
    lengths = hi - lo
    total = int(lengths.sum())
    if total == 0:
        return np.empty(0, dtype=np.int64)
    shift = np.repeat(lo - (np.cumsum(lengths) - lengths), lengths)
    return np.arange(total, dtype=np.int64) + shift


def _parse_numbers(buf: bytes, rows: int, dim: int) -> np.ndarray | None:
    """Parse ``rows`` lines of ``dim`` space-separated floats at C speed, or None on any error."""
    import pandas as pd

    if rows == 0:
        return np.empty((0, dim), dtype=np.float32)
    try:
        df = pd.read_csv(
            io.BytesIO(buf),
            sep=" ",
            header=None,
            dtype=np.float32,
            engine="c",
            quoting=csv.QUOTE_NONE,
            na_filter=False,
            names=range(dim),
            index_col=False,
            skip_blank_lines=True,
        )
    except (ValueError, pd.errors.ParserError):
        return None
    if df.shape != (rows, dim):
        return None
    return np.ascontiguousarray(df.to_numpy(dtype=np.float32))


class _TextParser:
    """Parses a text vector file block by block (see the module docstring)."""

    def __init__(self, path: Path, dim: int | None, header: tuple[int, int] | None) -> None:
        self.path = path
        self.dim = dim
        self.header = header
        self._bad_utf8: list[int] = []  # per block (list.append is thread-safe)

    def _error(self, line: int, what: str) -> FormatError:
        return FormatError(f"{self.path}: line {line:,}: {what}")

    def _infer_dim(self, data: bytes, line0: int) -> int:
        """GloVe has no header: take the field count most common in the first 1,000 lines."""
        counts: dict[int, int] = {}
        for raw in data.split(b"\n", 1000)[:1000]:
            line = raw.rstrip(b" \t\r")
            if line:
                n = line.count(b" ")
                counts[n] = counts.get(n, 0) + 1
        if not counts:
            raise self._error(line0, "no vectors found")
        # ties go to the smaller count: keys with spaces ('new york') only ever add fields
        dim = max(counts, key=lambda n: (counts[n], -n))
        if dim < 1:
            raise self._error(line0, "expected '<key> <v1> <v2> ...', found a single field")
        return dim

    def parse(self, data: bytes, line0: int, limit: int | None) -> tuple[list[str], np.ndarray, np.ndarray]:
        """Parse complete lines in `data`; `line0` is the 1-based number of its first line.

        Returns keys, float32 rows ``(r, dim)`` and the line number of each row.
        """
        if b"\r" in data or b"\t" in data:
            data = data.replace(b"\r", b" ").replace(b"\t", b" ")
        if self.dim is None:
            self.dim = self._infer_dim(data, line0)
        dim = self.dim
        if not data.endswith(b"\n"):
            data += b"\n"
        buf = np.frombuffer(data, dtype=np.uint8)
        nl = np.flatnonzero(buf == 10)
        starts = np.empty(len(nl), dtype=np.int64)
        starts[0] = 0
        starts[1:] = nl[:-1] + 1
        ends = nl.copy()
        is_space = buf == 32
        while True:  # strip trailing spaces
            m = ends > starts
            m[m] = is_space[ends[m] - 1]
            if not m.any():
                break
            ends[m] -= 1
        lines = np.arange(line0, line0 + len(nl), dtype=np.int64)
        keep = ends > starts  # blank lines are skipped
        if limit is not None and keep.sum() > limit:
            stop = int(np.flatnonzero(keep)[limit - 1]) + 1
            starts, ends, nl, lines, keep = starts[:stop], ends[:stop], nl[:stop], lines[:stop], keep[:stop]
        last = int(nl[-1]) + 1 if len(nl) else 0
        trail = _ranges(ends, nl)  # trailing spaces, and the spaces of blank lines
        starts, ends, lines = starts[keep], ends[keep], lines[keep]
        spaces = np.flatnonzero(is_space)
        hi = np.searchsorted(spaces, ends)
        nsp = hi - np.searchsorted(spaces, starts)
        short = np.flatnonzero(nsp < dim)
        if len(short):
            i = short[0]
            raise self._error(
                int(lines[i]),
                f"expected a key and {dim} values{self._hdr()}, found {int(nsp[i]) + 1} fields",
            )
        key_end = spaces[hi - dim]
        for i in np.flatnonzero(nsp > dim):  # keys with spaces: rare, checked one by one
            extra = data[starts[i] : key_end[i]].split(b" ")[1:]
            if extra and _floats(extra):
                raise self._error(
                    int(lines[i]),
                    f"expected a key and {dim} values{self._hdr()}, found {int(nsp[i]) + 1} fields",
                )
        # keys (with their separator, made a newline) and trailing spaces are cut out; what
        # is left is the numbers, one row per line, for the C parser
        cut = np.ones(len(buf), dtype=bool)
        key_pos = _ranges(starts, key_end + 1)
        cut[key_pos] = False
        cut[trail] = False
        if last < len(buf):
            cut[last:] = False
        rows = _parse_numbers(buf[cut].tobytes(), len(starts), dim)
        if rows is None:
            self._raise_number_error(data, starts, key_end, ends, lines)
        bad = ~np.isfinite(rows).all(axis=1)
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            j = int(np.flatnonzero(~np.isfinite(rows[i]))[0])
            raise self._error(int(lines[i]), f"value {j + 1} is {rows[i, j]}, expected a finite number")
        kbytes = buf[key_pos]
        kbytes[np.cumsum(key_end + 1 - starts) - 1] = 10
        blob = kbytes.tobytes()
        try:
            text = blob.decode("utf-8")
        except UnicodeDecodeError:
            text = blob.decode("utf-8", errors="replace")
            self._bad_utf8.append(sum(1 for k in blob.split(b"\n") if not _is_text(k)))
        keys = text.split("\n")[:-1]
        return keys, rows, lines

    def _hdr(self) -> str:
        return f" (header: {self.header[0]} {self.header[1]})" if self.header else ""

    def _raise_number_error(self, data: bytes, starts, key_end, ends, lines) -> None:
        for _, k, e, ln in zip(starts.tolist(), key_end.tolist(), ends.tolist(), lines.tolist()):
            for j, field in enumerate(data[k + 1 : e].split(b" ")):
                try:
                    value = float(field)
                except ValueError:
                    shown = field[:30].decode("utf-8", "replace")
                    what = "an empty field (two spaces?)" if not field else repr(shown)
                    raise self._error(ln, f"value {j + 1} is {what}, expected a number") from None
                if not np.isfinite(value):  # 'nan' fails the C parser but not float()
                    raise self._error(ln, f"value {j + 1} is {value}, expected a finite number")
        raise self._error(int(lines[0]), "cannot parse the numbers of this block")  # pragma: no cover


def _iter_blocks(f: IO[bytes], first: bytes, path: Path) -> Iterator[bytes]:
    """Yield blocks of complete lines: `first` (already read) and then the rest of `f`."""
    carry = first
    while True:
        try:
            more = f.read(CHUNK_BYTES)
        except (OSError, EOFError, lzma.LZMAError, ValueError) as exc:
            raise FormatError(f"{path}: cannot decompress: {exc} (truncated file?)") from None
        if not more:
            if carry:
                yield carry
            return
        data = carry + more
        cut = data.rfind(b"\n")
        if cut < 0:
            carry = data
            continue
        carry = data[cut + 1 :]
        yield data[: cut + 1]


def _add_first(sink: _Sink, parser: _TextParser, block: bytes, line0: int, limit: int | None) -> None:
    """Parse the first block (it fixes dim), then reserve the matrix from the file size."""
    rows = parser.parse(block, line0, limit)
    if sink.size_bytes and parser.dim:  # each value takes at least 2 bytes ("0 ")
        bound = sink.size_bytes // (2 * parser.dim) + 1
        sink.reserve(bound if limit is None else min(bound, limit), parser.dim)
    sink.add(*rows)


def _read_text(
    f: IO[bytes], head: bytes, path: Path, info: SourceInfo, limit: int | None, sink: _Sink
) -> tuple[int, int]:
    """Parse a text file into `sink`; returns ``(rows, dim)``."""
    data = head[3:] if head.startswith(_BOM) else head
    line0 = 1
    header = None
    if info.format != VectorFormat.glove:
        # skip leading blank lines and the header
        body = data.lstrip(b"\r\n")
        line0 += data[: len(data) - len(body)].count(b"\n")
        first = _first_line(body)
        m = _HEADER.match(first)
        if not m:
            raise FormatError(f"{path}: line {line0}: expected a '<count> <dim>' header")
        header = (int(m.group(1)), int(m.group(2)))
        header_line = line0
        data = body[len(first) + 1 :]
        line0 += 1
    parser = _TextParser(path, header[1] if header else None, header)
    blocks = _iter_blocks(f, data, path)
    if limit is None and PARSE_THREADS > 1:
        # Blocks are parsed on threads (pandas' tokenizer and numpy release the GIL) and
        # collected in file order, so the first error in the file is the one raised.
        from collections import deque
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(max_workers=PARSE_THREADS) as pool:
            pending: deque = deque()
            for block in blocks:
                if parser.dim is None:  # the first block fixes dim
                    _add_first(sink, parser, block, line0, None)
                else:
                    pending.append(pool.submit(parser.parse, block, line0, None))
                    if len(pending) >= PARSE_THREADS:
                        sink.add(*pending.popleft().result())
                line0 += block.count(b"\n")
            while pending:
                sink.add(*pending.popleft().result())
    else:
        for block in blocks:
            remaining = None if limit is None else limit - sink.rows
            if remaining is not None and remaining <= 0:
                break
            if parser.dim is None:
                _add_first(sink, parser, block, line0, remaining)
            else:
                sink.add(*parser.parse(block, line0, remaining))
            line0 += block.count(b"\n")
    if sum(parser._bad_utf8):
        warn(f"{path}: {sum(parser._bad_utf8):,} keys are not valid UTF-8; bad bytes replaced by U+FFFD")
    if sink.rows == 0:
        raise FormatError(f"{path}: no vectors found")
    if header and (limit is None or limit > sink.rows) and header[0] != sink.rows:
        raise FormatError(
            f"{path}: line {header_line:,}: header says {header[0]:,} vectors but the file "
            f"has {sink.rows:,}"
            + (" (truncated?)" if sink.rows < header[0] else "")
        )
    return sink.rows, parser.dim or 0


# -- word2vec binary -------------------------------------------------------------------------
def _read_more(f: IO[bytes], path: Path, size: int | None = None) -> bytes:
    try:
        return f.read(size or CHUNK_BYTES)
    except (OSError, EOFError, lzma.LZMAError, ValueError) as exc:
        raise FormatError(f"{path}: cannot decompress: {exc} (truncated file?)") from None


def _map(f: IO[bytes]) -> np.ndarray | None:
    """The whole file of `f` as a read-only uint8 memory map, or None if it cannot be mapped."""
    import mmap

    try:
        return np.frombuffer(mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ), dtype=np.uint8)
    except (OSError, ValueError, AttributeError, io.UnsupportedOperation):
        return None


def _read_binary(
    f: IO[bytes], head: bytes, path: Path, info: SourceInfo, limit: int | None, sink: _Sink
) -> tuple[int, int]:
    """Parse a word2vec binary file into `sink`; returns ``(rows, dim)``."""
    data = head[3:] if head.startswith(_BOM) else head
    body = data.lstrip(b"\r\n")
    first = _first_line(body)
    m = _HEADER.match(first)
    if not m:
        raise FormatError(f"{path}: expected a '<count> <dim>' header")
    count, dim = int(m.group(1)), int(m.group(2))
    want = count if limit is None else min(count, limit)
    rec = 4 * dim
    data = body[len(first) + 1 :]
    if sink.size_bytes:  # a record takes at least 4 dim + 2 bytes; the header is not trusted
        sink.reserve(min(want, sink.size_bytes // (rec + 2) + 1), dim)
    # An uncompressed file is memory-mapped and scanned in place; a compressed one is read.
    mapped = _map(f) if info.compression is None else None
    pos = len(head) - len(data)  # file offset of the first record (mapped files)
    window = 4 * CHUNK_BYTES
    done, eof, bad_utf8 = 0, False, 0
    while done < want:
        if mapped is not None:
            buf = mapped[pos : pos + window]
            eof = pos + window >= len(mapped)
        else:
            if not eof and len(data) < window:  # one read per block, not many appends
                more = _read_more(f, path, window - len(data))
                eof = not more
                data += more
            buf = np.frombuffer(data, dtype=np.uint8)
        key_start, key_end, used = _binary.scan(buf, rec, want - done)
        if not len(key_start):
            if not eof:  # a record longer than the window: widen it
                window *= 2
                continue
            left = buf.tobytes().lstrip(b"\n")
            if left:
                raise FormatError(
                    f"{path}: record {done + 1:,} is truncated: expected a key, a space and "
                    f"{rec:,} bytes, found {len(left):,} bytes before the end of the file"
                )
            raise FormatError(
                f"{path}: record {done + 1:,}: header says {count:,} vectors but the file ends "
                f"after {done:,} (truncated?)"
            )
        lengths = key_end - key_start
        keys, nbad = _binary.gather_keys(buf, key_start, key_end)
        malformed = np.flatnonzero((lengths <= 0) | (lengths > 10_000))
        if len(keys) != len(key_start) or len(malformed):  # a key with "\n" splits in two
            split = [
                i for i, (a, b) in enumerate(zip(key_start, key_end)) if 10 in buf[a:b]
            ]
            i = min(split[:1] + malformed[:1].tolist())
            kb = buf[key_start[i] : key_end[i]].tobytes()
            raise FormatError(
                f"{path}: record {done + i + 1:,}: expected '<key> <{dim} float32 values>', "
                f"found a malformed key {kb[:20]!r} (is the header dim {dim} right?)"
            )
        bad_utf8 += nbad
        rows = _binary.gather_rows(buf, key_end + 1, dim)
        bad = ~np.isfinite(rows).all(axis=1)
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            value = rows[i][~np.isfinite(rows[i])][0]
            raise FormatError(
                f"{path}: record {done + i + 1:,} ({keys[i]!r}): a value is {value}, "
                "expected a finite number"
            )
        sink.add(keys, rows, np.arange(done + 1, done + 1 + len(keys), dtype=np.int64))
        done += len(keys)
        window = 4 * CHUNK_BYTES
        if mapped is not None:
            pos += used
        else:
            del buf
            data = data[used:]
    if limit is None or limit >= count:
        if mapped is not None:
            rest = mapped[pos : pos + HEAD_BYTES].tobytes()
        else:
            rest = data if eof else data + _read_more(f, path)
        if rest.strip(b"\n\r \t"):
            raise FormatError(
                f"{path}: header says {count:,} vectors but more data follows record {count:,}"
            )
    if bad_utf8:
        warn(f"{path}: {bad_utf8:,} keys are not valid UTF-8; bad bytes replaced by U+FFFD")
    if done == 0:
        raise FormatError(f"{path}: header says 0 vectors; no vectors found")
    return done, dim


# -- public API ------------------------------------------------------------------------------
def _dedupe(path: Path, keys: list[str], lines: np.ndarray) -> np.ndarray | None:
    """Indices of each key's first occurrence if a key repeats (one warning), else None."""
    if len(set(keys)) == len(keys):
        return None
    first: dict[str, int] = {}
    for i, k in enumerate(keys):
        first.setdefault(k, i)
    keep = np.fromiter(first.values(), dtype=np.int64, count=len(first))
    seen = np.zeros(len(keys), dtype=bool)
    seen[keep] = True
    dup = int(np.flatnonzero(~seen)[0])
    warn(
        f"{path}: {len(keys) - len(first):,} duplicate keys, kept the first occurrence of each "
        f"(first duplicate: {keys[dup]!r} at line/record {int(lines[dup]):,})"
    )
    return np.sort(keep)


def read_into(
    path: str | os.PathLike,
    format: VectorFormat | str | None = None,
    *,
    limit: int | None = None,
    dtype: str = "float32",
) -> tuple[Vectors, SourceInfo]:
    """Read and parse a vector file, without the cache: ``(vectors, info)``.

    The low-level reader behind :func:`load` (which adds the cache); duplicate keys are
    already dropped (first kept, one warning). See :func:`load` for parameters and errors.
    """
    path = Path(path)
    if limit is not None and limit < 1:
        raise FormatError(f"limit must be at least 1, got {limit}")
    comp = compression(path) if path.is_file() else None
    with open_bytes(path) as f:
        head = _read_head(f, path)
        info = _sniff_head(head, path, comp)
        if format is not None:
            fmt = VectorFormat(format)
            if fmt == VectorFormat.projector:
                raise FormatError(f"{path}: reading the projector format is not supported")
            if fmt in (VectorFormat.glove,) and info.format != VectorFormat.glove:
                pass  # explicit glove on a file with a header: the header line becomes an error
            info = SourceInfo(fmt, info.compression, info.count, info.dim)
        sink = _Sink(np.dtype(dtype), None if comp else path.stat().st_size)
        reader: Callable = _read_binary if info.format == VectorFormat.word2vec else _read_text
        _, dim = reader(f, head, path, info, limit, sink)
    matrix = sink.matrix(dim)
    keys = sink.keys
    keep = _dedupe(path, keys, sink.line_numbers())
    if keep is not None:
        keys = [keys[i] for i in keep]
        matrix = matrix[keep]
    matrix.flags.writeable = False
    vectors = Vectors(keys, matrix, source=path.name, unique=True)
    return vectors, info


def load(
    path: str | os.PathLike,
    format: VectorFormat | str | None = None,
    *,
    limit: int | None = None,
    cache: bool = True,
    cache_dir: str | os.PathLike | None = None,
    dtype: str = "float32",
) -> Vectors:
    """Load a vector file into a :class:`~embviz.vectors.Vectors` lookup table.

    Parameters
    ----------
    path : path-like
        A word2vec binary or text, GloVe or fastText ``.vec`` file, optionally gzip/bz2/xz
        compressed (detected from magic bytes, not the file name).
    format : VectorFormat or str, optional
        Overrides the sniffed format (``"word2vec"``, ``"word2vec-text"``, ``"glove"``,
        ``"fasttext"``).
    limit : int, optional
        Read only the first `limit` vectors (files are in frequency order).
    cache : bool
        Use the memory-mapped cache (see :mod:`embviz.cache`): the first load writes it,
        later loads map it without parsing or copying.
    cache_dir : path-like, optional
        The cache's directory; default ``$XDG_CACHE_HOME/embviz`` or ``~/.cache/embviz``.
    dtype : {"float32", "float16"}
        Storage dtype of the matrix (float16 halves memory; scores stay float32).

    Returns
    -------
    Vectors
        ``matrix`` read-only ``(n, dim)`` in `dtype`, keys in file order.

    Raises
    ------
    FormatError
        If the file is missing, empty, not a vector file, ragged, has non-numeric, NaN or
        infinite values, a header that disagrees with the data, or is truncated; the message
        names the file and the line or record.

    Warns
    -----
    EmbvizWarning
        Once, if keys are duplicated (the first occurrence is kept) or not valid UTF-8.
    """
    if dtype not in ("float32", "float16"):
        raise FormatError(f"dtype must be float32 or float16, got {dtype!r}")
    if cache:
        from embviz import cache as _cache

        return _cache.load_cached(
            Path(path), format=format, limit=limit, cache_dir=cache_dir, dtype=dtype
        )
    return read_into(path, format, limit=limit, dtype=dtype)[0]


# -- writers ---------------------------------------------------------------------------------
_SUFFIXES = {
    ".bin": VectorFormat.word2vec,
    ".txt": VectorFormat.word2vec_text,
    ".vec": VectorFormat.fasttext,
    ".glove": VectorFormat.glove,
    ".tsv": VectorFormat.projector,
}


def format_for(path: str | os.PathLike) -> VectorFormat:
    """The format a file name implies (``.bin``, ``.txt``, ``.vec``, ``.tsv``, + ``.gz`` ...).

    Raises
    ------
    FormatError
        If the suffix is not one of them.
    """
    p = Path(path)
    suffixes = [s.lower() for s in p.suffixes]
    while suffixes and suffixes[-1] in (".gz", ".bz2", ".xz"):
        suffixes.pop()
    if suffixes and suffixes[-1] in _SUFFIXES:
        return _SUFFIXES[suffixes[-1]]
    raise FormatError(
        f"{path}: cannot tell the format from the name; use .bin (word2vec), .txt "
        "(word2vec-text), .vec (fasttext), .tsv (projector) or pass --to"
    )


def _open_out(path: Path):
    """A temporary file beside `path`, compressed as the name says; renamed on success."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    raw = os.fdopen(fd, "wb")
    name = path.name.lower()
    if name.endswith(".gz"):
        f: IO[bytes] = gzip.GzipFile(fileobj=raw, mode="wb", compresslevel=6, mtime=0)
    elif name.endswith(".bz2"):
        f = bz2.BZ2File(raw, "wb")
    elif name.endswith(".xz"):
        f = lzma.LZMAFile(raw, "wb")
    else:
        f = raw
    return f, raw, Path(tmp)


def atomic_write(path: str | os.PathLike, write: Callable[[IO[bytes]], None]) -> Path:
    """Call ``write(f)`` on a temporary file beside `path`, then rename it to `path`.

    A failure or interruption (Ctrl-C) removes the temporary file, so `path` is either the
    complete new file or untouched. Compressed if the name ends in .gz, .bz2 or .xz.

    Raises
    ------
    FormatError
        If the directory does not exist or is not writable.
    """
    path = Path(path)
    if not path.parent.is_dir():
        raise FormatError(f"{path}: directory {path.parent} does not exist")
    if path.is_dir():
        raise FormatError(f"{path}: is a directory, expected a file name")
    try:
        f, raw, tmp = _open_out(path)
    except PermissionError:
        raise FormatError(f"{path}: permission denied") from None
    except OSError as exc:  # read-only or special file system, ...
        raise FormatError(f"{path}: cannot write: {exc.strerror or exc}") from None
    try:
        with raw:
            with f:
                write(f)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException as exc:
        tmp.unlink(missing_ok=True)
        if isinstance(exc, OSError):  # disk full, quota, ...: one error line, not a traceback
            raise FormatError(f"{path}: cannot write: {exc.strerror or exc}") from None
        raise
    return path


def _text_rows(keys, matrix, precision: int, trailing: str) -> Iterator[bytes]:
    fmt = " ".join([f"%.{precision}g"] * matrix.shape[1]) + trailing
    step = 20_000
    for lo in range(0, len(keys), step):
        rows = np.asarray(matrix[lo : lo + step], dtype=np.float32).tolist()
        yield "".join(
            f"{k} {fmt % tuple(r)}\n" for k, r in zip(keys[lo : lo + step], rows)
        ).encode("utf-8")


def _check_keys(keys, fmt: VectorFormat) -> None:
    for k in keys:
        if "\n" in k or "\r" in k or (fmt == VectorFormat.word2vec and " " in k) or k == "":
            raise FormatError(
                f"key {k!r} cannot be written in the {fmt.value} format "
                "(empty, or contains a newline" + (" or a space)" if fmt == VectorFormat.word2vec else ")")
            )


def save(
    vectors: Vectors,
    path: str | os.PathLike,
    format: VectorFormat | str | None = None,
    *,
    precision: int = 6,
) -> list[Path]:
    """Write `vectors` to `path`, atomically (temporary file, then rename).

    Parameters
    ----------
    vectors : Vectors
    path : path-like
        Output file; ``.gz``/``.bz2``/``.xz`` compress. For ``projector`` it is the
        ``vectors.tsv`` path or an existing directory (any name not ending in ``.tsv``), and
        ``metadata.tsv`` is written beside it.
    format : VectorFormat or str, optional
        Default: from the suffix (:func:`format_for`).
    precision : int
        Significant digits of values in text formats (6, as GloVe and word2vec.c write them;
        9 round-trips float32 exactly). Binary is always exact.

    Returns
    -------
    list of Path
        The files written.

    Raises
    ------
    FormatError
        If the format cannot be told from the name, a key cannot be represented in it, or the
        directory does not exist.
    """
    path = Path(path)
    fmt = VectorFormat(format) if format else format_for(path)
    keys, matrix = vectors.keys, vectors.matrix
    n, dim = matrix.shape
    if fmt == VectorFormat.projector:
        if path.is_dir() or path.suffix.lower() != ".tsv":  # a directory for the pair
            path = path / "vectors.tsv"
        meta = path.with_name("metadata.tsv")
        _check_keys(keys, fmt)

        def write_vectors(f: IO[bytes]) -> None:
            step = 20_000
            row_fmt = "\t".join([f"%.{precision}g"] * dim) + "\n"
            for lo in range(0, n, step):
                rows = np.asarray(matrix[lo : lo + step], dtype=np.float32).tolist()
                f.write("".join(row_fmt % tuple(r) for r in rows).encode())

        def write_meta(f: IO[bytes]) -> None:
            f.write("".join(k.replace("\t", " ") + "\n" for k in keys).encode("utf-8"))

        # the pair is one unit: both are written under temporary names and renamed only when
        # both are complete, so a failure never leaves new vectors beside old metadata
        if not path.parent.is_dir():
            raise FormatError(f"{path}: directory {path.parent} does not exist")
        tag = f".embviz-{os.getpid()}-"
        staged = [p.with_name(tag + p.name) for p in (path, meta)]
        try:
            atomic_write(staged[0], write_vectors)
            atomic_write(staged[1], write_meta)
            for src, dst in zip(staged, (path, meta)):
                os.replace(src, dst)
        except BaseException:
            for p in staged:
                p.unlink(missing_ok=True)
            raise
        return [path, meta]
    _check_keys(keys, fmt)

    def write(f: IO[bytes]) -> None:
        if fmt != VectorFormat.glove:
            f.write(f"{n} {dim}\n".encode())
        if fmt == VectorFormat.word2vec:
            m = np.asarray(matrix, dtype="<f4")
            step = 20_000
            for lo in range(0, n, step):
                f.write(
                    b"".join(
                        k.encode("utf-8") + b" " + row.tobytes() + b"\n"
                        for k, row in zip(keys[lo : lo + step], m[lo : lo + step])
                    )
                )
        else:
            trailing = " " if fmt == VectorFormat.fasttext else ""
            for chunk in _text_rows(keys, matrix, precision, trailing):
                f.write(chunk)

    atomic_write(path, write)
    return [path]
