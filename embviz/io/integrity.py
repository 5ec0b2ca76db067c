"""Checksums of cache entries and their sources: bit rot is found, never served.

An entry records, when it is built,

- ``blocks``: a CRC-32 of every ``BLOCK_BYTES`` block of the data of ``matrix.npy`` and
  ``unit.npy``. Every mapped load checks one block of each array, picked at random (cost: two
  CRCs of 256 KiB, well under 5% of a warm query, see bench/bench_integrity.py); ``embviz
  cache verify`` checks them all.
- ``source_blake2b``: BLAKE2b of the whole source file, which ``cache verify`` recomputes: the
  one check that also sees an edit the stat fields (size, mtime, ctime, inode, device) and
  the first/last-MiB fingerprint cannot see.

Pure functions; no printing. Used by :mod:`embviz.io.cache`.
"""

from __future__ import annotations

import hashlib
import os
import random
import zlib
from pathlib import Path

import numpy as np

#: Bytes per checksummed block of an array.
BLOCK_BYTES = 1 << 18
ARRAYS = ("matrix.npy", "unit.npy")


def _data(path: Path) -> np.ndarray:
    """Return the data bytes of a ``.npy`` file, memory-mapped read-only: uint8 ``(nbytes,)``."""
    arr = np.load(path, mmap_mode="r")
    if arr.size == 0:
        return np.empty(0, dtype=np.uint8)
    return np.asarray(arr).reshape(-1).view(np.uint8)


def block_crcs(path: Path) -> list[int]:
    """CRC-32 of each ``BLOCK_BYTES`` block of the data of the ``.npy`` file `path`."""
    data = _data(path)
    return [zlib.crc32(data[lo : lo + BLOCK_BYTES]) for lo in range(0, len(data), BLOCK_BYTES)]


def entry_blocks(entry: Path) -> dict[str, list[int]]:
    """Block checksums of both arrays of an entry directory (written into ``meta.json``)."""
    return {name: block_crcs(entry / name) for name in ARRAYS}


def bad_block(path: Path, crcs: list[int], which: list[int] | None = None) -> int | None:
    """Return the first block of `path` whose CRC differs from `crcs` (of `which`, default all), or None.

    A file whose number of blocks differs gives block 0.
    """
    data = _data(path)
    if (len(data) + BLOCK_BYTES - 1) // BLOCK_BYTES != len(crcs):
        return 0
    for i in range(len(crcs)) if which is None else which:
        if zlib.crc32(data[i * BLOCK_BYTES : (i + 1) * BLOCK_BYTES]) != crcs[i]:
            return i
    return None


def sampled_ok(entry: Path, blocks: dict[str, list[int]]) -> bool:
    """Check one random block of each array of `entry` against `blocks`: True if they match."""
    for name in ARRAYS:
        crcs = blocks.get(name)
        if crcs is None:
            return False
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
