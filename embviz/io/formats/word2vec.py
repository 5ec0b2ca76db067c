r"""word2vec (binary and text), GloVe and fastText ``.vec``: one layout, four formats.

All four hold one key and its values per record, with or without a ``"<count> <dim>"``
header; no magic bytes tell them apart, so :func:`embviz.io.sniffing.sniff` does, from the
header and the first row (``detect`` is None here). They are read by the streaming parsers
of :func:`embviz.io.read.read_into` (:mod:`embviz.io.binary`, :mod:`embviz.io.text`) and
written here, always through :func:`embviz.io.write.atomic_write`.
"""

from __future__ import annotations

from pathlib import Path
from typing import IO, Iterator

import numpy as np

from embviz.io.formats.spec import Format


def text_rows(keys, matrix, precision: int, trailing: str) -> Iterator[bytes]:  # noqa: ANN001
    """``key v1 ... vdim`` lines (``%.{precision}g``), 20,000 rows per chunk of bytes."""
    fmt = " ".join([f"%.{precision}g"] * matrix.shape[1]) + trailing
    step = 20_000
    for lo in range(0, len(keys), step):
        rows = np.asarray(matrix[lo : lo + step], dtype=np.float32).tolist()
        yield "".join(
            f"{k} {fmt % tuple(r)}\n" for k, r in zip(keys[lo : lo + step], rows)
        ).encode("utf-8")


def write(vectors, path: Path, fmt: str, precision: int = 6) -> list[Path]:  # noqa: ANN001
    """Write word2vec binary (exact float32), word2vec text, GloVe (no header) or fastText ``.vec``.

    Text values have `precision` significant digits; fastText's lines end with a space.
    """
    from embviz.io.atomic import atomic_write, check_keys

    keys, matrix = vectors.keys, vectors.matrix
    n, dim = matrix.shape
    check_keys(keys, fmt)

    def write_file(f: IO[bytes]) -> None:
        if fmt != "glove":
            f.write(f"{n} {dim}\n".encode())
        if fmt == "word2vec":
            m = np.asarray(matrix, dtype="<f4")
            step = 20_000
            for lo in range(0, n, step):
                f.write(
                    b"".join(
                        k.encode("utf-8") + b" " + row.tobytes() + b"\n"
                        for k, row in zip(keys[lo : lo + step], m[lo : lo + step])
                    )
                )
        else:
            trailing = " " if fmt == "fasttext" else ""
            for chunk in text_rows(keys, matrix, precision, trailing):
                f.write(chunk)

    atomic_write(path, write_file)
    return [path]


_WRITE = "embviz.io.formats.word2vec:write"
FORMATS = (
    Format(name="word2vec", layout='binary: `"<count> <dim>\\n"`, then per key `key + " " + dim float32 '
                                   "(little-endian)`, with or without `\\n` after each vector (word2vec.c "
                                   "and gensim `binary=True`)",
           short="word2vec .bin", read="embviz.io.binary:_read_binary", stream=True, write=_WRITE,
           suffixes=(".bin",), keys="inside"),
    Format(name="word2vec-text", layout='`"<count> <dim>"` header, then `key v1 … vdim` per line',
           short=".txt", read="embviz.io.text:_read_text", stream=True, write=_WRITE,
           suffixes=(".txt",), keys="inside"),
    Format(name="glove", layout="like word2vec text, without a header (Stanford GloVe)",
           short="GloVe", read="embviz.io.text:_read_text", stream=True, write=_WRITE,
           suffixes=(".glove",), keys="inside"),
    Format(name="fasttext", layout="`.vec`: word2vec text whose lines end with a space (what fastText writes)",
           short="fastText .vec", read="embviz.io.text:_read_text", stream=True, write=_WRITE,
           suffixes=(".vec",), keys="inside"),
)
