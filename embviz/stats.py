"""Descriptive statistics of a lookup table (``embviz info``)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from embviz.vectors import Vectors


@dataclass(frozen=True, slots=True)
class Info:
    """What ``embviz info`` prints. Norms are L2 norms of the rows (>= 0)."""

    file: str
    format: str
    compression: str
    count: int
    dim: int
    dtype: str
    memory_bytes: int
    norm_min: float
    norm_mean: float
    norm_max: float
    zero_rows: int
    first_keys: str


def describe(vectors: Vectors, path: Path, format: str, compression: str | None) -> Info:
    """Summarise `vectors` loaded from `path`: shape, dtype, matrix bytes and norm statistics."""
    norms = vectors.norms
    return Info(
        file=str(path),
        format=format,
        compression=compression or "none",
        count=vectors.count,
        dim=vectors.dim,
        dtype=str(vectors.matrix.dtype),
        memory_bytes=int(vectors.matrix.nbytes),
        norm_min=float(norms.min()),
        norm_mean=float(norms.mean(dtype=np.float64)),
        norm_max=float(norms.max()),
        zero_rows=int((norms == 0).sum()),
        first_keys=" ".join(vectors.keys[:5]),
    )
