"""The row collector shared by the text and binary readers."""

from __future__ import annotations

import numpy as np


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

