"""Checksums of cache entries and their sources: bit rot is found, never served.

An entry records, when it is built,

- ``blocks``: a CRC-32 of every ``BLOCK_BYTES`` block of the data of each array of the
  entry (``unit.npy``, and ``matrix.npy`` or, for a word2vec binary read in place,
  ``offsets.npy`` and ``norms.npy``). Every mapped load checks one block of each array, picked
  at random (cost: a few CRCs of 256 KiB, well under 5% of a warm query, see
  bench/bench_integrity.py); ``embviz cache verify`` checks them all.
- ``source_crc32``: CRC-32 of the whole source file (computed on a second thread while the
  file is parsed), which ``cache verify`` recomputes: the one check that also sees an edit
  the stat fields (size, mtime, ctime, inode, device) and the first/last-MiB fingerprint
  cannot see. (Entries built by earlier versions kept a BLAKE2b, ``source_blake2b``: still checked.
  A CRC finds any accidental change of a burst up to 32 bits and all but 1 in 4 billion
  others, at four times BLAKE2b's speed; it is not meant to resist a forger.)

Every CRC here is zlib's CRC-32 (:func:`crc32`), computed by Intel ISA-L (the ``isal``
package) where it is installed: the same values at about 17 GB/s on this machine, against
2.5 GB/s for zlib's own, which made the source's CRC the largest single cost of a first load
after writing the cache (2.4 s of CPU for a 3.6 GB file).

Pure functions; no printing. Used by :mod:`embviz.io.cache`.
"""

from __future__ import annotations

import hashlib
import os
import random
from pathlib import Path

import numpy as np

try:  # the same function as zlib.crc32, several times faster (see the module docstring)
    from isal.isal_zlib import crc32
except ImportError:  # pragma: no cover - isal is a dependency; zlib gives the same values
    from zlib import crc32

#: Bytes per checksummed block of an array.
BLOCK_BYTES = 1 << 18
#: The arrays an entry must have: the unit rows, and the rows (or where they are in the source).
REQUIRED = ("unit.npy",)


def _data(path: Path) -> np.ndarray:
    """Return the data bytes of a ``.npy`` file, memory-mapped read-only: uint8 ``(nbytes,)``."""
    arr = np.load(path, mmap_mode="r")
    if arr.size == 0:
        return np.empty(0, dtype=np.uint8)
    return np.asarray(arr).reshape(-1).view(np.uint8)


def block_crcs(path: Path) -> list[int]:
    """CRC-32 of each ``BLOCK_BYTES`` block of the data of the ``.npy`` file `path`."""
    data = _data(path)
    return [crc32(data[lo : lo + BLOCK_BYTES]) for lo in range(0, len(data), BLOCK_BYTES)]


class BlockCrcs:
    """CRC-32 of each ``BLOCK_BYTES`` block of a stream of bytes, fed in pieces of any size.

    ``update(data)`` as the data is written; ``crcs()`` the list (the same as
    :func:`block_crcs` of the finished file, without reading it back).
    """

    def __init__(self) -> None:
        self._crcs: list[int] = []
        self._crc = self._filled = 0

    def update(self, data: memoryview) -> None:
        """Add the next bytes of the stream."""
        pos = 0
        while pos < len(data):
            take = min(len(data) - pos, BLOCK_BYTES - self._filled)
            self._crc = crc32(data[pos : pos + take], self._crc)
            pos += take
            self._filled += take
            if self._filled == BLOCK_BYTES:
                self._crcs.append(self._crc)
                self._crc = self._filled = 0

    def crcs(self) -> list[int]:
        """Return the CRC of every block so far, the last one possibly partial."""
        return self._crcs + ([self._crc] if self._filled else [])


def bad_block(path: Path, crcs: list[int], which: list[int] | None = None) -> int | None:
    """Return the first block of `path` whose CRC differs from `crcs` (of `which`, default all), or None.

    A file whose number of blocks differs gives block 0.
    """
    data = _data(path)
    if (len(data) + BLOCK_BYTES - 1) // BLOCK_BYTES != len(crcs):
        return 0
    for i in range(len(crcs)) if which is None else which:
        if crc32(data[i * BLOCK_BYTES : (i + 1) * BLOCK_BYTES]) != crcs[i]:
            return i
    return None


def sampled_ok(entry: Path, blocks: dict[str, list[int]], *, unit: bool = True) -> bool:
    """Check one random block of each array of `entry` against `blocks`: True if they match.

    False too when `blocks` lacks the unit rows (unless `unit` is False: an entry whose unit
    rows are deferred) or has neither ``matrix.npy`` nor ``offsets.npy``.
    """
    required = REQUIRED if unit else ()
    if any(name not in blocks for name in required) or not ({"matrix.npy", "offsets.npy"} & blocks.keys()):
        return False
    for name, crcs in blocks.items():
        if crcs and bad_block(entry / name, crcs, [random.randrange(len(crcs))]) is not None:
            return False
    return True


def file_blake2b(path: Path) -> str:
    """BLAKE2b (128-bit, hex) of the whole file `path`, read in 1 MiB blocks."""
    h = hashlib.blake2b(digest_size=16)
    with open(path, "rb") as f:
        while True:
            block = f.read(1 << 20)
            if not block:
                return h.hexdigest()
            h.update(block)


def file_crc32(path: Path, stop=None, *, mapped: bool = False) -> int | None:  # noqa: ANN001 - a threading.Event
    """Return the CRC-32 of the whole file `path`, read in 4 MiB blocks.

    `mapped`: read through a memory map instead (no copies; for a file the caller maps next,
    whose pages it then shares: an index). Plain reads leave nothing resident in the process,
    which matters for a 3.6 GB source hashed while it is parsed. `stop` (a
    ``threading.Event``): when set, reading ends early and None is returned.
    """
    import mmap

    crc = 0
    with open(path, "rb") as f:
        mm = None
        if mapped:
            try:
                mm = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
            except (OSError, ValueError):  # empty, or cannot be mapped: plain reads
                mm = None
        if mm is None:
            while chunk := f.read(1 << 22):
                if stop is not None and stop.is_set():
                    return None
                crc = crc32(chunk, crc)
            return crc
        with mm, memoryview(mm) as view:
            for lo in range(0, len(mm), 1 << 22):
                if stop is not None and stop.is_set():
                    return None
                crc = crc32(view[lo : lo + (1 << 22)], crc)
    return crc


class BackgroundHash:
    """:func:`file_crc32` of `path`, computed on a daemon thread.

    The CRC and file reads release the GIL, so on a second core it costs the caller nothing
    while it parses the same file.

    ``result()`` waits for the digest; ``cancel()`` stops reading. A read error gives None.
    """

    def __init__(self, path: Path) -> None:
        import threading

        self._path = path
        self._stop = threading.Event()
        self._digest: int | None = None
        self._thread = threading.Thread(target=self._run, name="embviz-source-hash", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            self._digest = file_crc32(self._path, self._stop)
        except OSError:
            return

    def result(self) -> int | None:
        """Wait for the CRC-32 and return it (None if the file could not be read)."""
        self._thread.join()
        return self._digest

    def cancel(self) -> None:
        """Stop reading (the thread ends at its next block)."""
        self._stop.set()


def pid_alive(pid: int) -> bool:
    """Whether a process `pid` exists on this machine (a temporary's builder, say)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True
