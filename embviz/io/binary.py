r"""word2vec binary: records scanned in place (memory-mapped when uncompressed), vectorised.

A record is ``[\n] key b" " <dim float32 LE>``. Where records begin is inherently sequential
(a key's length is only known by finding its space, and vector bytes may contain spaces and
newlines), so a per-record loop is the obvious reader; gensim uses one. Here the chain is
followed in numpy instead. Every position just after a potential vector (a space + ``4 dim``
bytes) is a node, plus the buffer start; each node points to the node after its own record
(the next space after it, + ``4 dim + 1``). The true records are the path from the buffer
start, found by pointer jumping (doubling) over all nodes at once: ``O(N log N)`` vector
operations for ``N`` spaces, instead of one Python iteration per record.
"""

from __future__ import annotations

import io
import lzma
from pathlib import Path
from typing import IO

import numpy as np

from embviz.errors import FormatError, warn
from embviz.io import sniffing as _sniff
from embviz.io.integrity import crc32
from embviz.io.sink import _Sink
from embviz.io.sniffing import _BOM, _HEADER, SourceInfo, _first_line


def scan(buf: np.ndarray, rec: int, want: int) -> tuple[np.ndarray, np.ndarray, int]:
    r"""Find up to `want` complete records at the start of `buf`.

    Parameters
    ----------
    buf : ndarray ``(L,)`` uint8
        Bytes beginning at a record start (optionally preceded by one ``\n``).
    rec : int
        Bytes of one vector, ``4 * dim``.
    want : int
        Records wanted at most.

    Returns
    -------
    key_start, key_end : ndarray ``(r,)`` int64
        Each record's key is ``buf[key_start:key_end]``; its vector starts at ``key_end + 1``.
        Keys are not validated here (they may be empty or contain ``\n``).
    used : int
        Bytes consumed by the ``r`` records (where the next, incomplete record starts).
    """
    n = len(buf)
    if n == 0 or want < 1:  # nothing left (a file whose last record has no newline after it)
        empty = np.empty(0, dtype=np.int64)
        return empty, empty, 0
    spaces = np.flatnonzero(buf == 32)
    ends = spaces + (1 + rec)
    ends = ends[ends <= n]
    nodes = np.concatenate(([0], ends))  # node 0 = buffer start; node 1 + j follows space j
    starts = nodes + (buf[np.minimum(nodes, n - 1)] == 10) * (nodes < n)  # skip one "\n"
    j = np.searchsorted(spaces, starts)
    sink = len(nodes)
    nxt = np.full(len(nodes) + 1, sink, dtype=np.int64)
    ok = j < len(ends)  # the key's space exists and the vector after it fits in buf
    nxt[:-1][ok] = j[ok] + 1
    path = np.zeros(1, dtype=np.int64)  # the first 2**i nodes of the path from node 0
    jump = nxt
    while path[-1] != sink and len(path) <= want:
        path = np.concatenate((path, jump[path]))
        jump = jump[jump]
    path = path[path != sink] if path[-1] == sink else path
    records = path[:-1] if nxt[path[-1]] == sink else path
    records = records[:want]
    used = int(nodes[nxt[records[-1]]]) if len(records) else 0
    key_start = starts[records]
    key_end = spaces[j[records]]
    return key_start, key_end, used


#: Vector bytes per record (4 dim) from which :func:`_read_binary` follows the chain record by
#: record (:func:`scan_raw`) instead of numpy's pass over every byte (:func:`scan`). Measured
#: on the 2-core AMD EPYC (100,000 records, medians of 5): numpy 0.16 / 0.24 / 0.30 / 0.38 /
#: 0.52 microseconds a record at 50 / 100 / 150 / 200 / 300 dimensions, the chain 0.35 to 0.39
#: at every dimension: they cross near 180 dimensions.
RAW_SCAN_MIN_BYTES = 4 * 180


def scan_raw(raw, lo: int, hi: int, rec: int, want: int) -> tuple[np.ndarray, np.ndarray, int]:  # noqa: ANN001
    r"""Find up to `want` complete records in ``raw[lo:hi]``, following the chain record by record.

    The same answer as :func:`scan` (offsets relative to `lo`), by a loop of ``raw.find``
    (``bytes`` or ``mmap``: C searches, no copy): one short Python iteration per record, about
    0.36 microseconds, against about 0.52 for :func:`scan`'s pass over every byte of a
    300-dimension file but 0.16 at 50 dimensions (numpy's cost grows with the vectors' bytes,
    the loop's with the records; :data:`RAW_SCAN_MIN_BYTES` chooses).

    Parameters
    ----------
    raw : bytes or mmap.mmap
        The file's bytes; ``raw[lo]`` starts a record, optionally preceded by one ``\n``.
    lo, hi : int
        The window to scan.
    rec, want : int
        As :func:`scan`.
    """
    find = raw.find
    starts: list[int] = []
    ends: list[int] = []
    add_start, add_end = starts.append, ends.append
    pos, used, count = lo, lo, 0
    while count < want and pos < hi:
        if raw[pos] == 10:  # the newline after the previous vector
            pos += 1
        sp = find(b" ", pos, hi)
        if sp < 0 or sp + 1 + rec > hi:
            break
        add_start(pos)
        add_end(sp)
        count += 1
        pos = used = sp + 1 + rec
    return (np.array(starts, dtype=np.int64) - lo, np.array(ends, dtype=np.int64) - lo, used - lo)


def gather_rows(buf: np.ndarray, offsets: np.ndarray, dim: int, out: np.ndarray | None = None) -> np.ndarray:
    """Copy the float32 LE vectors at byte `offsets` of `buf`: float32 ``(r, dim)``.

    `buf` is viewed as whole records (dtype ``V{4 dim}``) at each byte alignment that occurs,
    so every row is one index and one ``4 dim``-byte copy. With `out` (a C-contiguous float32
    ``(r, dim)`` array, e.g. rows of the reader's reserved matrix) the rows are copied straight
    into it and it is returned.
    """
    rec = 4 * dim
    if out is not None and out.dtype == np.float32 and out.flags.c_contiguous and out.shape == (len(offsets), dim):
        target = out
    else:
        target = None
    out = np.empty(len(offsets), dtype=f"V{rec}") if target is None else target.view(f"V{rec}").reshape(-1)
    align = offsets % rec
    # rows grouped by alignment class (a radix sort when the classes fit in 16 bits)
    order = np.argsort(align.astype(np.uint16) if rec < 1 << 16 else align, kind="stable")
    counts = np.bincount(align, minlength=rec)
    bounds = np.concatenate(([0], np.cumsum(counts)))
    for a in np.flatnonzero(counts).tolist():
        rows = order[bounds[a] : bounds[a + 1]]
        view = buf[a : a + (len(buf) - a) // rec * rec].view(f"V{rec}")
        out[rows] = view[(offsets[rows] - a) // rec]
    if target is not None:
        return target
    return out.view("<f4").reshape(len(offsets), dim).astype(np.float32, copy=False)


class SourceRows:
    """The rows of an uncompressed word2vec binary file, read in place: a read-only ``(n, dim)`` table.

    A cache entry of such a file stores each row's byte offset in the file instead of a copy
    of the rows (the entry is only used while the file's size, times, inode and fingerprint
    are unchanged), so building the entry writes the unit rows only: half the bytes.
    Indexing (an int, a slice, an int or bool array, optionally followed by a column index)
    returns a new ndarray of `dtype`; ``np.asarray`` reads every row (one gather, ``n x dim``).

    Parameters
    ----------
    path : Path
        The word2vec binary file (float32 little-endian values).
    offsets : ndarray ``(n,)`` int64
        Byte offset of each row's first value in the file.
    dim : int
        Values per row.
    dtype : str
        ``"float32"`` or ``"float16"`` (values are rounded to half precision when read).
    """

    _embviz_rows = True  # accepted by Vectors as its matrix (see embviz.vectors._as_table)
    ndim = 2

    def __init__(self, path: Path, offsets: np.ndarray, dim: int, dtype: str = "float32") -> None:
        self.path = Path(path)
        self.offsets = offsets
        self.dtype = np.dtype(dtype)
        self.shape = (len(offsets), int(dim))
        with open(self.path, "rb") as f:
            buf = _map(f)
        if buf is None:
            raise ValueError(f"{path}: cannot be memory-mapped")
        self._buf = buf
        if len(offsets) and int(offsets.max()) + 4 * dim > len(self._buf):
            raise ValueError(f"{path}: row offsets point past the end of the file")

    @property
    def size(self) -> int:
        """Values in the table, ``n * dim``."""
        return self.shape[0] * self.shape[1]

    @property
    def nbytes(self) -> int:
        """Bytes the table takes as an array of `dtype` (not what it reads from the file)."""
        return self.size * self.dtype.itemsize

    def __len__(self) -> int:
        return self.shape[0]

    def _rows(self, sel: np.ndarray) -> np.ndarray:
        dim = self.shape[1]
        if len(sel) <= 64:  # a few rows: one small read each
            out = np.empty((len(sel), dim), dtype=np.float32)
            for j, off in enumerate(self.offsets[sel].tolist()):
                out[j] = np.frombuffer(self._buf, dtype="<f4", count=dim, offset=off)
        else:
            out = gather_rows(self._buf, self.offsets[sel], dim)
        return out.astype(self.dtype, copy=False)

    def __getitem__(self, index):  # noqa: ANN001, ANN204 - as numpy's row indexing
        rest = ()
        if isinstance(index, tuple):
            index, rest = index[0], index[1:]
        if isinstance(index, (int, np.integer)):
            i = int(index)
            if not -self.shape[0] <= i < self.shape[0]:
                raise IndexError(f"index {i} is out of bounds for axis 0 with size {self.shape[0]}")
            out = self._rows(np.array([i % self.shape[0]]))[0]
        elif isinstance(index, slice):
            out = self._rows(np.arange(*index.indices(self.shape[0])))
        else:
            sel = np.asarray(index)
            if sel.dtype == bool:
                sel = np.flatnonzero(sel)
            out = self._rows(np.arange(self.shape[0])[sel.reshape(-1)]).reshape(sel.shape + (self.shape[1],))
        out.flags.writeable = False
        return out[(slice(None),) * (out.ndim - 1) + rest] if rest else out

    def __array__(self, dtype=None, copy=None):  # noqa: ANN001, ANN204 - numpy protocol
        out = self[:]
        return out if dtype is None else out.astype(dtype, copy=False)

    def __repr__(self) -> str:
        return f"SourceRows({self.path.name!r}, shape={self.shape}, dtype={self.dtype})"


def gather_keys(buf: np.ndarray, key_start: np.ndarray, key_end: np.ndarray) -> tuple[list[str], int, bytes]:
    r"""Decode the keys ``buf[key_start:key_end]`` at once: ``(keys, count not valid UTF-8, raw)``.

    `raw` is the keys' bytes, each followed by ``\n`` (a keys file's lines, as read).
    """
    lengths = key_end - key_start
    total = int(lengths.sum())
    # each key's bytes plus one separator byte (its space, made a newline)
    pos = np.arange(total + len(lengths), dtype=np.int64)
    shift = np.repeat(key_start - (np.cumsum(lengths + 1) - (lengths + 1)), lengths + 1)
    blob = buf[pos + shift]
    blob[np.cumsum(lengths + 1) - 1] = 10
    raw = blob.tobytes()
    try:
        return raw.decode("utf-8").split("\n")[:-1], 0, raw
    except UnicodeDecodeError:
        parts = raw.split(b"\n")[:-1]
        bad = 0
        keys = []
        for p in parts:
            try:
                keys.append(p.decode("utf-8"))
            except UnicodeDecodeError:
                keys.append(p.decode("utf-8", errors="replace"))
                bad += 1
        return keys, bad, raw


# -- word2vec binary -------------------------------------------------------------------------
def _read_more(f: IO[bytes], path: Path, size: int | None = None) -> bytes:
    try:
        return f.read(size or _sniff.CHUNK_BYTES)
    except FormatError:
        raise
    except (OSError, EOFError, lzma.LZMAError, ValueError) as exc:
        raise FormatError(f"{path}: cannot decompress: {exc} (truncated file?)") from None


def _map(f: IO[bytes]) -> np.ndarray | None:
    """Map the whole file of `f` as a read-only uint8 memory map, or None if it cannot be mapped."""
    import mmap

    try:
        return np.frombuffer(mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ), dtype=np.uint8)
    except (OSError, ValueError, AttributeError, io.UnsupportedOperation):
        return None


def _release(mapped: np.ndarray, released: int, pos: int, evict: int | None = None) -> int:
    """Drop the mapped pages before byte `pos` from this process (``MADV_DONTNEED``).

    The rows there are copied into the matrix already; without this, every page of the file
    stays resident in the process while it is read, and a 3.6 GB file peaks at twice its size
    (file pages plus matrix). The pages stay in the page cache; a later access re-reads them.

    `evict` (the file's descriptor, when the file is read once to build a cache entry, whose
    later loads read the entry instead): the pages are also dropped from the page cache
    (``POSIX_FADV_DONTNEED``), as ``dd iflag=nocache`` does. The cache entry's pages, written
    next, then reuse that memory: on this machine (a VM whose free memory goes back to the
    host) a 3,000,000 x 300 first load spent 7.7 to 11.6 s in the kernel writing its unit
    rows into fresh memory, and 2.1 to 3.2 s in all writing them into the pages just freed.

    Returns the new released offset (page-aligned); does nothing where madvise is missing.
    """
    import mmap
    import os

    mm = getattr(mapped.base, "obj", mapped.base)  # the mmap under np.frombuffer's memoryview
    end = pos // mmap.PAGESIZE * mmap.PAGESIZE
    if end - released >= 1 << 24 and hasattr(mm, "madvise") and hasattr(mmap, "MADV_DONTNEED"):
        try:
            mm.madvise(mmap.MADV_DONTNEED, released, end - released)
            if evict is not None and hasattr(os, "posix_fadvise"):
                os.posix_fadvise(evict, released, end - released, os.POSIX_FADV_DONTNEED)
        except (OSError, ValueError):
            return released
        return end
    return released


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
    # A cache build reads the file once: its CRC-32 is computed here, from the bytes just
    # parsed (still in cache), and its pages leave the page cache behind the parser.
    once = mapped is not None and sink.cache_build
    evict = f.fileno() if once else None
    crc, hashed = 0, 0
    window = 4 * _sniff.CHUNK_BYTES
    done, eof, bad_utf8 = 0, False, 0
    released = 0  # mapped bytes already handed back to the kernel (see _release)
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
        raw = getattr(mapped.base, "obj", None) if mapped is not None else data
        # the mmap or bytes under buf, for records long enough that the chain beats numpy
        if rec >= RAW_SCAN_MIN_BYTES and raw is not None and hasattr(raw, "find"):
            lo = pos if mapped is not None else 0
            key_start, key_end, used = scan_raw(raw, lo, lo + len(buf), rec, want - done)
        else:
            key_start, key_end, used = scan(buf, rec, want - done)
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
        keys, nbad, raw_keys = gather_keys(buf, key_start, key_end)
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
        slot = sink.slot(len(key_start), dim)  # the reserved matrix's next rows, if any
        rows = gather_rows(buf, key_end + 1, dim, out=slot)
        bad = ~np.isfinite(rows).all(axis=1)
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            value = rows[i][~np.isfinite(rows[i])][0]
            raise FormatError(
                f"{path}: record {done + i + 1:,} ({keys[i]!r}): a value is {value}, "
                "expected a finite number"
            )
        sink.add(keys, rows, np.arange(done + 1, done + 1 + len(keys), dtype=np.int64),
                 offsets=pos + key_end + 1 if mapped is not None else None,
                 raw_keys=raw_keys if nbad == 0 else None)
        done += len(keys)
        window = 4 * _sniff.CHUNK_BYTES
        if mapped is not None:
            pos += used
            if once:
                crc, hashed = crc32(mapped[hashed:pos], crc), pos
            released = _release(mapped, released, pos, evict)
        else:
            del buf
            data = data[used:]
    if limit is None or limit >= count:
        if mapped is not None:
            rest = mapped[pos : pos + _sniff.HEAD_BYTES].tobytes()
        else:
            rest = data if eof else data + _read_more(f, path)
        if rest.strip(b"\n\r \t"):
            raise FormatError(
                f"{path}: header says {count:,} vectors but more data follows record {count:,}"
            )
        if once:
            sink.source_crc = crc32(mapped[hashed:], crc)
    if bad_utf8:
        warn(f"{path}: {bad_utf8:,} keys are not valid UTF-8; bad bytes replaced by U+FFFD")
    if done == 0:
        raise FormatError(f"{path}: header says 0 vectors; no vectors found")
    return done, dim


