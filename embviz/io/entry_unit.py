"""A cache entry's arrays written block by block, and unit rows written after the entry.

A word2vec binary read in place keeps its rows in the source file, so the one big file of
its entry is ``unit.npy``: the rows normalised, as many bytes as the source. Only a search
needs it, and writing it is what a first load waits for (on the 2-core AMD EPYC measured,
writes are throttled to the disk's ~500 MB/s: 7 s of a 12 s first load of a 3,000,000 x 300
file). So a load that asks for no unit rows (``embviz info``) writes the keys, offsets and
norms only, and marks the entry ``"unit": "deferred"`` in ``meta.json``; the first load that
needs unit rows writes them with :func:`fill_unit`, from the source rows and the stored
norms, bit for bit as the reader would have (the same float32 division), with their block
checksums.
"""

from __future__ import annotations

import json
import os
import uuid
from pathlib import Path
from typing import Callable

import numpy as np

from embviz.io import integrity as _integrity

#: Rows normalised and written per block when an entry is built (bounds its temporary memory).
WRITE_ROWS = 8_192


def write_npy(path: Path, like: np.ndarray, rows: Callable[[int, int], np.ndarray]) -> list[int]:
    """Write a ``.npy`` of `like`'s shape and dtype from ``rows(lo, hi)``, block by block.

    Plain writes of :data:`WRITE_ROWS` rows at a time: no whole copy of the array in memory
    and no written pages mapped into the process, so building an entry costs one block on top
    of the parsed matrix (a 3,000,000 x 300 table no longer holds a second, normalised copy).
    Returns the CRC-32 of each ``_integrity.BLOCK_BYTES`` block of the data, computed as it
    is written (the same list as ``_integrity.block_crcs(path)``, without reading it back).
    """
    n = like.shape[0]
    header = {"descr": np.lib.format.dtype_to_descr(like.dtype), "fortran_order": False, "shape": like.shape}
    crcs = _integrity.BlockCrcs()
    with open(path, "wb") as f:
        np.lib.format.write_array_header_1_0(f, header)
        for lo in range(0, n, WRITE_ROWS):
            data = memoryview(np.ascontiguousarray(rows(lo, min(n, lo + WRITE_ROWS)), dtype=like.dtype)).cast("B")
            f.write(data)
            crcs.update(data)
    return crcs.crcs()


def fill_unit(entry: Path, meta: dict, source: Path) -> dict:
    """Write the deferred ``unit.npy`` of `entry` (rows read in place from `source`); the new meta.

    The unit rows are the source rows (rounded to the entry's dtype, as the table holds them)
    divided by the entry's float32 norms (:func:`embviz.vectors.unit_rows`), so they equal
    what a first load that wrote them would have written. Both files are written beside the
    entry's and renamed into place (``unit.npy`` first, then ``meta.json`` without the mark):
    a process killed meanwhile leaves the entry deferred, never half-written.

    Raises
    ------
    OSError
        If the entry cannot be written (the caller then rebuilds or loads without the cache).
    ValueError
        If the entry's offsets or norms do not fit its meta.
    """
    from embviz.io.binary import SourceRows
    from embviz.vectors import unit_rows

    n, dim, dtype = int(meta["count"]), int(meta["dim"]), str(meta["dtype"])
    offsets = np.load(entry / "offsets.npy", mmap_mode="r")
    norms = np.load(entry / "norms.npy", mmap_mode="r")
    if offsets.shape != (n,) or norms.shape != (n,) or norms.dtype != np.float32:
        raise ValueError("the entry's offsets or norms do not fit its meta")
    rows = SourceRows(source, np.asarray(offsets), dim, dtype)

    def block(lo: int, hi: int) -> np.ndarray:
        return unit_rows(np.asarray(rows[lo:hi], dtype=np.float32), np.asarray(norms[lo:hi]))

    tag = f"{os.getpid()}-{uuid.uuid4().hex[:8]}"
    tmp_unit, tmp_meta = entry / f".unit-{tag}.npy", entry / f".meta-{tag}.json"
    try:
        crcs = write_npy(tmp_unit, np.broadcast_to(np.zeros((), dtype=dtype), (n, dim)), block)
        os.replace(tmp_unit, entry / "unit.npy")
        new = {k: v for k, v in meta.items() if k != "unit"}
        new["blocks"] = dict(meta.get("blocks") or {}, **{"unit.npy": crcs})
        tmp_meta.write_text(json.dumps(new, indent=1), "utf-8")
        os.replace(tmp_meta, entry / "meta.json")
    finally:
        tmp_unit.unlink(missing_ok=True)
        tmp_meta.unlink(missing_ok=True)
    return new
