"""The row collector shared by the text and binary readers."""

from __future__ import annotations

import numpy as np


def empty_rows(rows: int, dim: int, dtype: np.dtype) -> np.ndarray:
    """Return an uninitialised ``(rows, dim)`` array in an anonymous memory map of 4 KiB pages.

    numpy asks the kernel for transparent huge pages on large arrays (``MADV_HUGEPAGE``);
    on the virtual machines measured here, faulting in a 3.6 GB matrix that way took 5.8 to
    8.0 s against 1.7 to 2.0 s with ordinary pages (the kernel zeroes and compacts 2 MiB at a
    time). A plain anonymous map gets ordinary pages, and pages never written are never
    resident, as with ``np.empty``.
    """
    import mmap

    nbytes = rows * dim * np.dtype(dtype).itemsize
    try:
        mem = mmap.mmap(-1, max(nbytes, 1))
    except (OSError, ValueError, OverflowError):
        return np.empty((rows, dim), dtype=dtype)
    return np.frombuffer(mem, dtype=dtype, count=rows * dim).reshape(rows, dim)


class _Sink:
    """Collects parsed blocks: keys, rows of the matrix and the line number of each row.

    When the reader can bound the row count (from the size of an uncompressed file, never
    from a header), rows are copied straight into one reserved ``np.empty`` array: pages
    that are never written are never resident, so the bound costs no memory and the matrix
    is built without a final concatenation (peak ~1x the matrix instead of 2x).
    """

    #: Whether the file is read once, to build a cache entry: the reader then computes its
    #: CRC-32 as it goes (``source_crc``) and drops the pages it has parsed from the page cache.
    cache_build = False

    def __init__(self, dtype: np.dtype, size_bytes: int | None = None) -> None:
        #: CRC-32 of the whole file, set by a reader when ``cache_build`` (None: not computed)
        self.source_crc: int | None = None
        self.keys: list[str] = []
        self.blocks: list[np.ndarray] = []
        self.lines: list[np.ndarray] = []
        self.rows = 0
        self.dtype = dtype
        self.size_bytes = size_bytes
        self.buf: np.ndarray | None = None
        #: Byte offset in the file of each row's first value (word2vec binary read in place),
        #: or None once a block came without offsets.
        self.offsets: list[np.ndarray] | None = []

    def reserve(self, max_rows: int, dim: int) -> None:
        """Reserve room for at most `max_rows` rows (a bound derived from the file size)."""
        if self.buf is None and not self.blocks and 0 < max_rows * dim * self.dtype.itemsize < 1 << 40:
            self.buf = empty_rows(max_rows, dim, self.dtype)

    def slot(self, count: int, dim: int) -> np.ndarray | None:
        """Return the next `count` rows of the reserved matrix, for a reader to fill in place (or None).

        Passing the filled slot to :meth:`add` then costs no copy.
        """
        if self.buf is not None and self.buf.shape[1] == dim and self.rows + count <= len(self.buf):
            return self.buf[self.rows : self.rows + count]
        return None

    def add(self, keys: list[str], rows: np.ndarray, lines: np.ndarray, offsets: np.ndarray | None = None,
            raw_keys: bytes | None = None) -> None:
        r"""Take a parsed block: its keys, rows ``(r, dim)`` and line (record) numbers ``(r,)``.

        `offsets` (int64 ``(r,)``): each row's byte offset in the file, when read in place;
        `raw_keys`: the keys' UTF-8 bytes, each followed by ``\n``, when the reader has them.
        """
        if self.offsets is not None:
            if offsets is None:
                self.offsets = None
            else:
                self.offsets.append(offsets)
        if self.buf is not None and self.rows + len(rows) <= len(self.buf):
            target = self.buf[self.rows : self.rows + len(rows)]
            if not np.may_share_memory(target, rows):  # not filled in place through slot()
                target[...] = rows
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

    def row_offsets(self) -> np.ndarray | None:
        """Each row's byte offset in the file, int64 ``(rows,)``, or None if not known for all."""
        if not self.offsets:
            return None
        return np.concatenate(self.offsets)

    def line_numbers(self) -> np.ndarray:
        return np.concatenate(self.lines) if self.lines else np.empty(0, np.int64)



class NotInPlace(Exception):
    """A block reached a :class:`UnitWriter` without file offsets (the file could not be mapped)."""


#: Values normalised at a time by :class:`UnitWriter`'s second thread (1 MiB of float32).
_NORMALISE_VALUES = 1 << 18

#: Bytes reserved for the ``.npy`` header of a streamed array (rewritten once the shape is known).
_NPY_HEADER_BYTES = 128


def npy_header(dtype: np.dtype, shape: tuple[int, ...]) -> bytes:
    """Return a version 1.0 ``.npy`` header of exactly ``_NPY_HEADER_BYTES`` bytes for `dtype` and `shape`."""
    import struct

    body = repr({"descr": np.lib.format.dtype_to_descr(np.dtype(dtype)), "fortran_order": False,
                 "shape": tuple(int(s) for s in shape)}).encode("latin1")
    room = _NPY_HEADER_BYTES - 10 - 1 - len(body)
    if room < 0:
        raise ValueError(f"shape {shape} does not fit a {_NPY_HEADER_BYTES}-byte .npy header")
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", _NPY_HEADER_BYTES - 10) + body + b" " * room + b"\n"


class UnitWriter(_Sink):
    """A sink that keeps no rows: it writes each block's unit rows to a ``.npy`` file as it comes.

    For a word2vec binary read in place (memory-mapped, every block with its rows' file
    offsets): the cache entry stores the unit rows (this file), each row's norm and each
    row's offset in the source, and reads the rows themselves from the source
    (:class:`embviz.io.binary.SourceRows`). So a first load never holds the matrix in memory
    and writes it once, normalised: half the bytes of an entry that also copied the rows.

    Each block is checked as :func:`embviz.io.checks.check_rows` checks a whole matrix, and
    normalised exactly as :attr:`embviz.vectors.Vectors.unit` does (float32 division; a
    float16 table rounds the values to half precision first, as its matrix would). Each row's
    float64 norm (:func:`embviz.io.norms.row_norms64`) is kept too, for the entry's
    ``norms64.npy``: ``embviz info`` then never reads the rows again.
    """

    cache_build = True

    #: Buffers for parsed blocks (:meth:`slot`): one filled by the reader while the other's
    #: block is normalised; a buffer is handed out again only once its block is normalised.
    _SLOTS = 2

    def __init__(self, dtype: np.dtype, unit_path, source) -> None:  # noqa: ANN001 - Paths
        import queue
        import threading

        from embviz.io.integrity import BlockCrcs

        super().__init__(dtype, None)
        self.unit_path = unit_path
        self.source = source
        self.norm_blocks: list[np.ndarray] = []
        self.norm64_blocks: list[np.ndarray] = []
        #: The keys' bytes per block (keys.txt, joined) and their hashes, while every block
        #: came with them; None after one did not.
        self.raw_keys: list[bytes] | None = []
        self.hashes: list[np.ndarray] | None = []
        self.crcs = BlockCrcs()
        self.dim = 0
        # unit_path None: the unit rows are not written (the entry defers them: embviz info)
        self._f = open(unit_path, "wb") if unit_path is not None else None  # noqa: SIM115 - closed by finish() or close()
        if self._f is not None:
            self._f.write(b"\0" * _NPY_HEADER_BYTES)
        # Three threads, each releasing the GIL for most of its work: the reader parses block
        # k+1 while a second thread normalises block k (norms, unit rows, CRCs, key hashes)
        # and a third writes block k-1. (Writing 3.4 GiB of unit rows is throttled to the
        # disk's speed, so a first load that writes them waits for the disk either way; one
        # that defers them, embviz info, gains the overlap of parsing and normalising.)
        self._work: queue.Queue = queue.Queue(maxsize=1)
        self._queue: queue.Queue = queue.Queue(maxsize=1)
        self._ring: list[np.ndarray | None] = [None] * 3  # unit blocks: see _normalise()
        self._turn = 0
        self._slots: list[np.ndarray | None] = [None] * self._SLOTS
        self._free: queue.Queue = queue.Queue()  # indices of the buffers not in use
        for i in range(self._SLOTS):
            self._free.put(i)
        self._held: int | None = None  # the buffer the reader is filling (handed over by add)
        self._error: BaseException | None = None
        self._writer = threading.Thread(target=self._write_blocks, name="embviz-unit-writer", daemon=True)
        self._normaliser = threading.Thread(target=self._normalise_blocks, name="embviz-unit-rows", daemon=True)
        self._writer.start()
        self._normaliser.start()

    def _write_blocks(self) -> None:
        while True:
            data = self._queue.get()
            if data is None:
                return
            if self._error is not None or self._f is None:
                continue
            try:
                self._f.write(data)
            except BaseException as exc:  # noqa: BLE001 - handed to the parsing thread
                self._error = exc

    def _normalise_blocks(self) -> None:
        try:
            while True:
                job = self._work.get()
                if job is None:
                    return
                block, raw_keys, held = job
                try:
                    if self._error is None:
                        self._normalise(block, raw_keys)
                except BaseException as exc:  # noqa: BLE001 - handed to the parsing thread
                    self._error = exc
                finally:
                    del block
                    if held is not None:
                        self._free.put(held)  # its rows are no longer read: the reader may refill it
        finally:
            self._queue.put(None)  # the writer stops after what is queued

    def _normalise(self, block: np.ndarray, raw_keys: bytes | None) -> None:
        """Normalise one checked block and queue its unit rows (the second thread, in block order)."""
        from embviz.io.norms import row_norms64
        from embviz.io.unique import key_hashes
        from embviz.vectors import row_norms, unit_rows

        hashes = self.hashes
        if hashes is not None and raw_keys is not None:
            data = np.frombuffer(raw_keys, dtype=np.uint8)
            # each key with its "\n": equal keys, equal lines
            hashes.append(key_hashes(data, np.concatenate(([0], np.flatnonzero(data == 10) + 1))))
        b32 = np.asarray(block, dtype=np.float32)
        unit = None
        if self._f is not None:
            # into the next buffer of a ring (one block queued, one being written, this one: the
            # queue holds one, so when a buffer comes round again its block has been written):
            # reused memory, not a fresh allocation faulted in page by page for every block
            self._turn = (self._turn + 1) % len(self._ring)
            ring = self._ring[self._turn]
            if ring is None or ring.size < b32.size:
                ring = self._ring[self._turn] = np.empty(b32.size, dtype=np.float32)
            unit = ring[: b32.size].reshape(b32.shape)
        # a few rows at a time: each row's norm and unit row depend on that row only, and this
        # thread's temporaries stay small (a whole block's, in a second malloc arena, stayed
        # resident after the load: 0.1x of a 150,000 x 300 matrix)
        norms = np.empty(len(b32), dtype=np.float32)
        step = max(1, _NORMALISE_VALUES // max(b32.shape[1], 1))
        for lo in range(0, len(b32), step):
            part = b32[lo : lo + step]
            norms[lo : lo + len(part)] = row_norms(part)
            if unit is not None:
                unit_rows(part, norms[lo : lo + len(part)], out=unit[lo : lo + len(part)])
        self.norm_blocks.append(norms)
        self.norm64_blocks.append(row_norms64(block))
        if unit is None:  # unit rows deferred: the norms are all the entry keeps
            return
        data = memoryview(np.ascontiguousarray(unit, dtype=self.dtype)).cast("B")
        self.crcs.update(data)  # here, not in the writer: writing is the slower of the two threads
        self._queue.put(data)

    def _drain(self) -> None:
        if self._normaliser.is_alive():
            self._work.put(None)
            self._normaliser.join()
        self._writer.join()
        if self._error is not None:
            raise self._error

    def add(self, keys: list[str], rows: np.ndarray, lines: np.ndarray, offsets: np.ndarray | None = None,
            raw_keys: bytes | None = None) -> None:
        """Check a block's rows here, then hand it to the normalising thread (see :meth:`_Sink.add`).

        The check runs on the reader's thread, so the first bad record is the one reported.
        `rows` must stay untouched until the block is handled: the reader fills :meth:`slot`'s
        buffers, used in turn.
        """
        from embviz.io.checks import check_rows

        if offsets is None or self.offsets is None:
            raise NotInPlace
        if self.raw_keys is not None:
            if raw_keys is None:  # a block with invalid UTF-8: keys.txt is encoded from the keys
                self.raw_keys = self.hashes = None
            else:
                self.raw_keys.append(raw_keys)
        block = rows.astype(self.dtype, copy=False)  # float16: the values the table would hold
        check_rows(self.source, block, keys, lines, "record")
        if self._error is not None:
            raise self._error
        held, self._held = self._held, None
        self._work.put((block, raw_keys if self.raw_keys is not None else None, held))
        self.dim = rows.shape[1]
        self.offsets.append(np.asarray(offsets, dtype=np.int64))
        self.keys.extend(keys)
        self.lines.append(lines)
        self.rows += len(keys)

    def slot(self, count: int, dim: int) -> np.ndarray | None:
        """Return a float32 ``(count, dim)`` buffer for the reader to gather a block into.

        One of :data:`_SLOTS` buffers, waiting until one is free: :meth:`add` hands the block
        to the normalising thread, which frees its buffer once the rows are normalised. So the
        reader fills one while the other's block is normalised, and no buffer is refilled
        while its rows are still read.
        """
        if self._held is not None:  # the reader asked again without add(): reuse the one it holds
            i = self._held
        else:
            i = self._free.get()
            if self._error is not None:  # the normaliser stopped: report it rather than wait again
                self._free.put(i)
                raise self._error
            self._held = i
        buf = self._slots[i]
        if buf is None or buf.size < count * dim:
            buf = self._slots[i] = np.empty(max(count * dim, 1), dtype=np.float32)
        return buf[: count * dim].reshape(count, dim)

    def norms(self) -> np.ndarray:
        """Each row's norm so far, float32 ``(rows,)``, as :attr:`Vectors.norms` computes it."""
        return np.concatenate(self.norm_blocks) if self.norm_blocks else np.empty(0, np.float32)

    def norms64(self) -> np.ndarray:
        """Each row's float64 norm so far, ``(rows,)`` (:func:`embviz.io.norms.row_norms64`)."""
        return np.concatenate(self.norm64_blocks) if self.norm64_blocks else np.empty(0, np.float64)

    def finish(self, dim: int) -> None:
        """Write the final header (the row count is known only now) and close the file."""
        try:
            self._drain()
            if self._f is not None:
                self._f.seek(0)
                self._f.write(npy_header(self.dtype, (self.rows, dim)))
        finally:
            if self._f is not None:
                self._f.close()

    def close(self) -> None:
        """Stop after a failure: drop what is queued and close the file."""
        self._error = self._error or RuntimeError("closed")  # the writer skips what is queued
        try:
            self._drain()
        except BaseException:  # noqa: BLE001, S110 - closing after a failure: the first error wins
            pass
        if self._f is not None:
            self._f.close()

    def matrix(self, dim: int) -> np.ndarray:  # pragma: no cover - the rows are never kept
        """Not available: this sink keeps no rows."""
        raise NotImplementedError("UnitWriter keeps no rows; see embviz.io.read")
