"""Read the formats that are not word2vec/GloVe text: arrays, tables and the Projector pair.

One entry point, :func:`read_source`, called by :func:`embviz.io.read.read_into` for every
format in :data:`embviz.io.formats.CONTAINERS`: it calls the format's reader, which returns
keys and a matrix (array formats through :func:`embviz.io.arrays.from_array`), and
:func:`~embviz.io.read.read_into` drops duplicate keys as it does for text files.
:func:`dependencies` lists the files besides the source whose content the result depends on
(a keys sidecar, Parquet part files), so the cache can check them too.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from embviz.io import formats, keys, tables
from embviz.io.formats import CONTAINERS, VectorFormat
from embviz.io.options import SourceOptions
from embviz.io.sniffing import container_format


def dependencies(path: Path, format: VectorFormat | str | None, options: SourceOptions) -> list[Path]:
    """Files other than `path` that a read of `path` may use: a keys file, Parquet parts.

    Empty for the formats whose keys are inside the file (word2vec, text, fastText models).
    """
    fmt = VectorFormat(format) if format is not None else container_format(path)
    if fmt not in CONTAINERS:
        return []
    spec = formats.get(fmt)
    if spec.keys == "inside":
        return []
    deps = []
    if path.is_dir() and spec.folder_parts:
        deps += tables.parquet_parts(path)  # read_source reads a folder's parts whatever fmt says
    found = keys.keys_file(path, options, spec.companions)
    if found is not None:
        deps.append(found)
    return deps


def read_source(
    path: Path, fmt: VectorFormat, options: SourceOptions, limit: int | None, dtype: str
) -> tuple[list[str], np.ndarray, str]:
    """Read `path` in format `fmt`: ``(keys, matrix (n, dim) of dtype, where the keys came from)``.

    The format's own reader does the work (``read`` of its row in
    :data:`embviz.io.formats.FORMATS`).

    Raises
    ------
    FormatError
        For every bad input, naming the file, the row or column and what was expected.
    MissingDependency
        For a PyTorch file without torch, an HDF5 file without h5py, or Parquet/Arrow
        without pyarrow.
    """
    return formats.get(fmt).reader()(path, VectorFormat(fmt).value, options, limit, dtype)


def read_fasttext_model(path: Path, fmt: str, options: SourceOptions, limit: int | None, dtype: str) -> tuple:
    """Read a fastText model as the ``fasttext-bin`` row's reader (:func:`embviz.io.fasttext_bin.read_fasttext_bin`)."""
    from embviz.io.fasttext_bin import read_fasttext_bin

    return read_fasttext_bin(path, limit, dtype)
