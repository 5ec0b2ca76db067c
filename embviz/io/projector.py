"""Reader of the TensorFlow Embedding Projector pair: ``vectors.tsv`` + ``metadata.tsv``.

``vectors.tsv`` has one vector per line, values separated by tabs, no header and no keys (what
``embviz convert --to projector`` and TensorBoard write). The keys come from ``metadata.tsv``
beside it: one column without a header, or several columns with a header line, where the key
column is ``--key-column`` or the first. Without ``metadata.tsv`` the other key sources of
:mod:`embviz.io.keys` apply.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from embviz.errors import FormatError
from embviz.io.opening import open_bytes

#: The sidecar the Projector reads beside vectors.tsv.
METADATA = "metadata.tsv"


def read_vectors_tsv(path: Path, limit: int | None, dtype: str) -> np.ndarray:
    """Parse ``vectors.tsv`` with pandas' C parser: ``(n, dim)`` writable `dtype` array.

    Raises
    ------
    FormatError
        Ragged rows, non-numeric or empty values: the message names the line.
    """
    import pandas as pd

    with open_bytes(path) as f:
        first = f.readline()
    dim = len(first.rstrip(b"\r\n").split(b"\t"))
    try:
        with open_bytes(path) as f:
            frame = pd.read_csv(
                f, sep="\t", header=None, dtype=np.float64, engine="c", quoting=3,
                na_filter=False, nrows=limit, skip_blank_lines=True,
            )
    except pd.errors.ParserError as exc:
        m = re.search(r"Expected (\d+) fields in line (\d+), saw (\d+)", str(exc))
        if m:
            raise FormatError(
                f"{path}: line {m.group(2)}: {m.group(3)} values, expected {m.group(1)} (ragged vectors)"
            ) from None
        raise FormatError(f"{path}: cannot parse: {exc}") from None
    except ValueError as exc:
        bad = _first_bad_line(path, dim)
        raise FormatError(f"{path}: {bad or str(exc)}") from None
    matrix = frame.to_numpy(dtype=np.float64)
    if matrix.shape[1] != dim:
        raise FormatError(f"{path}: rows have {matrix.shape[1]} values, expected {dim} as on line 1")
    if not matrix.size:
        raise FormatError(f"{path}: file is empty, expected vectors")
    bad = ~np.isfinite(matrix)
    if bad.any():
        r, c = (int(x[0]) for x in np.nonzero(bad))
        raise FormatError(f"{path}: line {r + 1}, column {c + 1}: value is {matrix[r, c]}, expected a finite number")
    with np.errstate(over="ignore"):
        out = matrix.astype(dtype)
    over = ~np.isfinite(out)
    if over.any():  # finite as float64, beyond float32's (or float16's) range: say the value
        r, c = (int(x[0]) for x in np.nonzero(over))
        raise FormatError(
            f"{path}: line {r + 1}, column {c + 1}: value {float(matrix[r, c])!r} is beyond {dtype}'s "
            f"range (largest {float(np.finfo(dtype).max):.4g}), expected a {dtype} number"
        )
    return out


def _first_bad_line(path: Path, dim: int) -> str | None:
    with open_bytes(path) as f:
        for i, line in enumerate(f, start=1):
            fields = line.rstrip(b"\r\n").split(b"\t")
            if len(fields) != dim and line.strip():
                return f"line {i}: {len(fields)} values, expected {dim} (ragged vectors)"
            for j, x in enumerate(fields):
                try:
                    float(x)
                except ValueError:
                    shown = x[:30].decode("utf-8", "replace")
                    return f"line {i}, column {j + 1}: {shown!r} is not a number"
    return None
