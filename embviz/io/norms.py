"""Float64 row norms: what ``embviz info`` summarises, computed once from the rows a load reads.

A cache entry stores them (``norms64.npy``), computed from the rows as the entry is written,
so ``embviz info`` on a cached table reads 8 bytes a row instead of every row of the source
(:attr:`embviz.vectors.Vectors.norms` is float32, rounded as the unit rows need it; the
statistics are float64 so they are finite and exact for every finite float32 table).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

#: Rows fetched at a time from a table's matrix (values; 16 MiB of float32).
_BLOCK_VALUES = 1 << 22
#: Values converted to float64 at a time, into one reused buffer (2 MiB, about the CPU's cache;
#: a fresh float64 copy of each whole parsed block cost 2 to 3x more, in page faults).
_SUB_VALUES = 1 << 18


def row_norms64(block: NDArray[np.floating]) -> NDArray[np.float64]:
    """L2 norm of each row of a ``(m, dim)`` float32/float16 block, in float64: ``(m,)``, >= 0.

    The values are converted to float64 exactly, then ``sqrt(einsum("ij,ij->i"))``. Each
    row's norm depends on that row only (not on the block it came in), so norms computed block
    by block while a file is parsed equal those of the whole table, bit for bit.
    """
    m, dim = block.shape
    out = np.empty(m, dtype=np.float64)
    step = max(1, _SUB_VALUES // max(dim, 1))
    scratch = np.empty(min(m, step) * dim, dtype=np.float64)
    for lo in range(0, m, step):
        part = block[lo : lo + step]
        b64 = scratch[: part.size].reshape(part.shape)
        np.copyto(b64, part)
        np.einsum("ij,ij->i", b64, b64, out=out[lo : lo + len(part)])
    return np.sqrt(out, out=out)


def table_norms64(matrix: NDArray[np.floating]) -> NDArray[np.float64]:
    """:func:`row_norms64` of every row of `matrix` ``(n, dim)``, read a block of rows at a time: ``(n,)``.

    `matrix` may be any table that slices into ndarrays (a memory map, a
    :class:`~embviz.io.binary.SourceRows`).
    """
    n, dim = matrix.shape
    out = np.empty(n, dtype=np.float64)
    step = max(1, _BLOCK_VALUES // max(dim, 1))
    for lo in range(0, n, step):
        block = np.asarray(matrix[lo : lo + step])
        out[lo : lo + len(block)] = row_norms64(block)
    return out
