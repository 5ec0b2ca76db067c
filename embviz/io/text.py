"""Text formats: GloVe, word2vec text and fastText ``.vec``, parsed in bulk at C speed.

numpy finds lines, separators and keys, pandas' C parser reads the numbers; a row's last
``dim`` fields are its vector and everything before them is the key, so keys with spaces
(GloVe 840B's ``new york``) and the key ``" "`` load. Every rejection names the file, the line
and what was expected. A pure reader: it never calls :func:`embviz.io.load` or the cache.
"""

from __future__ import annotations

import csv
import io
import lzma
import os
from pathlib import Path
from typing import IO, Iterator

import numpy as np

from embviz.errors import FormatError, warn
from embviz.io import sniffing as _sniff
from embviz.io.checks import max_line_bytes
from embviz.io.sink import _Sink
from embviz.io.sniffing import (
    _BOM,
    _HEADER,
    _MAX_DIM,
    SourceInfo,
    VectorFormat,
    _first_line,
    _floats,
    _is_text,
)

#: Threads parsing text blocks concurrently (pandas' C parser and numpy release the GIL).
PARSE_THREADS = min(4, os.cpu_count() or 1)


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
        lead = data.lstrip(b"\n \r\t")
        line0 += data[: len(data) - len(lead)].count(b"\n")
        for raw in lead.split(b"\n", 1000)[:1000]:
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
        if dim > _MAX_DIM:
            raise self._error(line0, f"{dim:,} values per line; at most {_MAX_DIM:,} are supported")
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
        too_long = np.flatnonzero(nl - starts > max_line_bytes(dim))
        if len(too_long):
            i = int(too_long[0])
            raise self._error(
                int(lines[i]),
                f"line of {int(nl[i] - starts[i]):,} bytes is longer than any row of {dim:,} "
                f"values ({max_line_bytes(dim):,} bytes at most)",
            )
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


def _iter_blocks(
    f: IO[bytes], first: bytes, path: Path, line0: int = 1, dim: int | None = None
) -> Iterator[bytes]:
    """Yield blocks of complete lines: `first` (already read) and then the rest of `f`.

    A line longer than any plausible row (:func:`~embviz.io.checks.max_line_bytes`) is
    refused as soon as that many bytes are read without a newline: a 1 GiB line costs one
    bounded read, not a quadratic search.
    """
    carry = first
    cap = max_line_bytes(dim or _MAX_DIM)
    while True:
        try:
            more = f.read(_sniff.CHUNK_BYTES)
        except FormatError:
            raise
        except (OSError, EOFError, lzma.LZMAError, ValueError) as exc:
            raise FormatError(f"{path}: cannot decompress: {exc} (truncated file?)") from None
        if not more:
            if carry:
                yield carry
            return
        data = carry + more
        cut = data.rfind(b"\n")
        if cut < 0:
            if len(data) > cap:
                raise FormatError(
                    f"{path}: line {line0:,}: more than {cap:,} bytes without a newline, "
                    "longer than any vector row (not a text vector file?)"
                )
            carry = data
            continue
        carry = data[cut + 1 :]
        line0 += data.count(b"\n", 0, cut + 1)
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
    blocks = _iter_blocks(f, data, path, line0, header[1] if header else None)

    def add(rows: tuple[list[str], np.ndarray, np.ndarray]) -> None:
        sink.add(*rows)
        # checked as the data streams: a small header over a huge (compressed) body stops
        # early instead of growing the matrix to the body's size first
        if header and limit is None and sink.rows > 2 * header[0] + 10_000:
            raise FormatError(
                f"{path}: line {header_line:,}: header says {header[0]:,} vectors but the file "
                f"has more (line {int(rows[2][-1]):,} is row {sink.rows:,})"
            )

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
                        add(pending.popleft().result())
                line0 += block.count(b"\n")
            while pending:
                add(pending.popleft().result())
    else:
        for block in blocks:
            remaining = None if limit is None else limit - sink.rows
            if remaining is not None and remaining <= 0:
                break
            if parser.dim is None:
                _add_first(sink, parser, block, line0, remaining)
            else:
                add(parser.parse(block, line0, remaining))
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


