"""Arrays: ``.npy``, ``.npz``, safetensors and PyTorch files, keys beside them.

The parsing is :mod:`embviz.io.arrays`; the keys come from ``NAME.keys.txt``, ``--vocab`` or
row ids (:mod:`embviz.io.keys`). ``.npy`` and safetensors are written with their keys in
``NAME.keys.txt``.
"""

from __future__ import annotations

from pathlib import Path
from typing import IO

import numpy as np

from embviz.io.formats.spec import Format, Probe


def _npy(probe: Probe) -> bool:
    return probe.head[:6] == b"\x93NUMPY"


def _npz(probe: Probe) -> bool:
    names = probe.zip_names
    return bool(names) and all(n.endswith(".npy") for n in names)


def _torch(probe: Probe) -> bool:
    if probe.head[:1] == b"\x80" and probe.head[1:2] in (b"\x02", b"\x03", b"\x04", b"\x05"):
        return True  # the legacy format: a pickle stream
    names = probe.zip_names
    return bool(names) and any(n == "data.pkl" or n.endswith("/data.pkl") for n in names)


def _safetensors(probe: Probe) -> bool:
    head = probe.head
    return len(head) >= 9 and head[8:9] == b"{" and 2 <= int.from_bytes(head[:8], "little") <= probe.size - 8


def read(path: Path, fmt: str, options, limit: int | None, dtype: str) -> tuple:  # noqa: ANN001
    """Read one array (``--tensor`` picks it in a file of several) and its keys."""
    from embviz.io import arrays
    from embviz.io.arrays import from_array, require_file

    require_file(path, fmt)
    if fmt == "npy":
        arr = arrays.read_npy(path)
    elif fmt == "npz":
        arr, _ = arrays.read_npz(path, options.tensor)
    elif fmt == "safetensors":
        arr, _ = arrays.read_safetensors(path, options.tensor)
    else:
        arr, _ = arrays.read_torch(path, options.tensor)
    return from_array(path, arr, options, limit, dtype)


def write(vectors, path: Path, fmt: str, precision: int = 6) -> list[Path]:  # noqa: ANN001
    """Write ``.npy`` or safetensors (float32) and ``NAME.keys.txt``, the pair renamed into place together.

    ``.npy``: the ``(n, dim)`` float32 array (C order); safetensors: the tensor ``embeddings``
    ``(n, dim)`` F32 with ``{"format": "np"}`` metadata; the keys one per line.
    """
    from embviz.io.atomic import (
        check_keys,
        float32_blocks,
        keys_sidecar,
        replace_together,
    )

    matrix = vectors.matrix
    n, dim = matrix.shape
    check_keys(vectors.keys, fmt)

    def write_array(f: IO[bytes]) -> None:
        if fmt == "npy":
            header = {"descr": "<f4", "fortran_order": False, "shape": (n, dim)}
            if n * dim < 2**31:
                np.lib.format.write_array_header_1_0(f, header)
            else:  # a header longer than 64 KiB needs format 2.0
                np.lib.format.write_array_header_2_0(f, header)
        else:
            import json

            meta = {"__metadata__": {"format": "np"},
                    "embeddings": {"dtype": "F32", "shape": [n, dim], "data_offsets": [0, n * dim * 4]}}
            blob = json.dumps(meta, separators=(",", ":")).encode()
            blob += b" " * (-len(blob) % 8)  # the data starts 8-byte aligned
            f.write(len(blob).to_bytes(8, "little") + blob)
        for _, block in float32_blocks(matrix):
            f.write(block.tobytes())

    def write_keys(f: IO[bytes]) -> None:
        for lo in range(0, n, 100_000):
            f.write("".join(k + "\n" for k in vectors.keys[lo : lo + 100_000]).encode("utf-8"))

    keys_path = keys_sidecar(path)
    replace_together([(path, write_array), (keys_path, write_keys)])
    return [path, keys_path]


_SEE = "see [Arrays, tables and Spark folders](#arrays-tables-and-spark-folders)"
FORMATS = (
    Format(name="npy", layout=f"a 2-D NumPy array, memory-mapped; keys in `NAME.keys.txt`; {_SEE}",
           short=".npy", read="embviz.io.formats.arrays:read", detect=_npy, detect_order=10,
           write="embviz.io.formats.arrays:write", suffixes=(".npy",)),
    Format(name="npz", layout=f"a zip of `.npy` arrays (`--tensor` picks one); {_SEE}",
           short=".npz", read="embviz.io.formats.arrays:read", detect=_npz, detect_order=50),
    Format(name="safetensors", layout=f"safetensors (`--tensor` picks a tensor); {_SEE}",
           short=".safetensors", read="embviz.io.formats.arrays:read", detect=_safetensors, detect_order=70,
           write="embviz.io.formats.arrays:write", suffixes=(".safetensors",)),
    Format(name="torch", layout=f"a PyTorch `torch.save` file: a tensor or a state dict, read without "
                                f"running its code (`--tensor` picks one); {_SEE}",
           short="PyTorch .pt", read="embviz.io.formats.arrays:read", detect=_torch, detect_order=60,
           extra="torch"),
)
