"""The TensorFlow Embedding Projector pair: ``vectors.tsv`` + ``metadata.tsv``.

The parsing is :mod:`embviz.io.projector`; the keys come from ``metadata.tsv`` beside the
vectors (or ``--vocab``).
"""

from __future__ import annotations

from pathlib import Path
from typing import IO

import numpy as np

from embviz.errors import FormatError
from embviz.io.formats.spec import Format, Probe, floats

#: The keys file the Projector writes beside ``vectors.tsv``.
METADATA = "metadata.tsv"


def is_single_column(path: Path, first: bytes) -> bool:
    """Whether `path`, whose first line is `first`, is a one-dimensional ``vectors.tsv``.

    A line holding one number has no tab to tell it from other text, so it is the Projector's
    only when the file is named ``*.tsv`` (``vectors.tsv``, ``.tsv.gz``) or has the
    Projector's ``metadata.tsv`` beside it. The TensorFlow Embedding Projector reads such a
    file as vectors of dimension 1.
    """
    field = first.strip(b" \r")
    if not field or b"\t" in field or b" " in field:
        return False
    try:
        float(field)
    except ValueError:
        return False
    return ".tsv" in path.suffixes or (path.parent / METADATA).is_file() and path.name != METADATA


def detect(probe: Probe) -> bool:
    """Tell a text file (any compression) whose first line is tab-separated numbers."""
    first = probe.first_line
    if first is None:
        return False
    fields = first.split(b"\t")
    if len(fields) >= 2 and b" " not in first and floats(fields):
        return True
    return is_single_column(probe.path, first)  # vectors of dim 1


def read(path: Path, fmt: str, options, limit: int | None, dtype: str) -> tuple:  # noqa: ANN001
    """Read ``vectors.tsv`` and its keys (``metadata.tsv`` beside it, or ``--vocab``)."""
    from embviz.io import keys, projector

    matrix = projector.read_vectors_tsv(path, limit, dtype)
    src = keys.keys_file(path, options, (METADATA,))
    if src is None or limit is None:
        names, keys_from = keys.resolve(path, len(matrix), options, (METADATA,))
    else:  # a limit: the keys file is longer than the rows read
        names = keys.read_keys(src, options.key_column)
        if len(names) < len(matrix):
            raise FormatError(f"{src}: {len(names):,} keys, fewer than the {len(matrix):,} rows read")
        keys_from = src.name
    return names[: len(matrix)], matrix, keys_from


def write(vectors, path: Path, fmt: str, precision: int = 6) -> list[Path]:  # noqa: ANN001
    """Write the pair: `path` (``vectors.tsv``, or a folder for it) and ``metadata.tsv`` beside it.

    Both are written under temporary names and renamed only when both are complete, so a
    failure never leaves new vectors beside old metadata.
    """
    from embviz.io.atomic import check_keys, replace_together

    keys, matrix = vectors.keys, vectors.matrix
    n, dim = matrix.shape
    if path.is_dir() or path.suffix.lower() != ".tsv":  # a directory for the pair
        path = path / "vectors.tsv"
    meta = path.with_name(METADATA)
    check_keys(keys, fmt)

    def write_vectors(f: IO[bytes]) -> None:
        step = 20_000
        row_fmt = "\t".join([f"%.{precision}g"] * dim) + "\n"
        for lo in range(0, n, step):
            rows = np.asarray(matrix[lo : lo + step], dtype=np.float32).tolist()
            f.write("".join(row_fmt % tuple(r) for r in rows).encode())

    def write_meta(f: IO[bytes]) -> None:
        f.write("".join(k.replace("\t", " ") + "\n" for k in keys).encode("utf-8"))

    if not path.parent.is_dir():
        raise FormatError(f"{path}: directory {path.parent} does not exist")
    replace_together([(path, write_vectors), (meta, write_meta)], through_links=True)
    return [path, meta]


FORMATS = (
    Format(
        name="projector",
        layout="TensorFlow Embedding Projector pair: `vectors.tsv` (tab-separated values, no header) + "
               "`metadata.tsv` (one key per line)",
        short="a Projector vectors.tsv",
        read="embviz.io.formats.projector:read",
        detect=detect,
        detect_order=90,
        write="embviz.io.formats.projector:write",
        suffixes=(".tsv",),
        companions=(METADATA,),
    ),
)
