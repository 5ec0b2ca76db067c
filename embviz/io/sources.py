"""Read the formats that are not word2vec/GloVe text: arrays, tables and the Projector pair.

One entry point, :func:`read_source`, called by :func:`embviz.io.read.read_into` for every
format in :data:`embviz.io.sniffing.CONTAINERS`; it returns keys and a matrix, and
:func:`~embviz.io.read.read_into` drops duplicate keys as it does for text files.
:func:`dependencies` lists the files besides the source whose content the result depends on
(a keys sidecar, Parquet part files), so the cache can check them too.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from embviz.errors import FormatError
from embviz.io import arrays, keys, projector, tables
from embviz.io.options import SourceOptions
from embviz.io.sniffing import CONTAINERS, VectorFormat, container_format


def _extra(fmt: VectorFormat) -> tuple[str, ...]:
    return (projector.METADATA,) if fmt == VectorFormat.projector else ()


def dependencies(path: Path, format: VectorFormat | str | None, options: SourceOptions) -> list[Path]:
    """Files other than `path` that a read of `path` may use: a keys file, Parquet parts.

    Empty for the text and word2vec formats, whose keys are inside the file.
    """
    fmt = VectorFormat(format) if format is not None else container_format(path)
    if fmt not in CONTAINERS or fmt == VectorFormat.fasttext_bin:  # keys inside the model
        return []
    deps = []
    if path.is_dir() and fmt in (VectorFormat.parquet, VectorFormat.arrow, VectorFormat.spark):
        deps += tables.parquet_parts(path)  # read_source reads a folder's parts whatever fmt says
    found = keys.keys_file(path, options, _extra(fmt))
    if found is not None:
        deps.append(found)
    return deps


def read_source(
    path: Path, fmt: VectorFormat, options: SourceOptions, limit: int | None, dtype: str
) -> tuple[list[str], np.ndarray, str]:
    """Read `path` in format `fmt`: ``(keys, matrix (n, dim) of dtype, where the keys came from)``.

    Raises
    ------
    FormatError
        For every bad input, naming the file, the row or column and what was expected.
    MissingDependency
        For a PyTorch file without torch, an HDF5 file without h5py, or Parquet/Arrow
        without pyarrow.
    """
    if fmt in (VectorFormat.parquet, VectorFormat.arrow, VectorFormat.spark):
        kind = "folder" if path.is_dir() else {VectorFormat.parquet: "parquet", VectorFormat.arrow: "arrow"}.get(fmt)
        if kind is None:
            raise FormatError(f"{path}: is a file, expected a Spark or Parquet folder")
        found, matrix, what, total = tables.read_table(path, options, limit, dtype, kind)
        arrays.check_matrix(path, matrix)
        if found is not None:
            return found, matrix, what.rsplit("keys from ", 1)[-1]
        names, keys_from = keys.resolve(path, total, options)
        return names[: len(matrix)], matrix, keys_from
    if fmt == VectorFormat.projector:
        matrix = projector.read_vectors_tsv(path, limit, dtype)
        src = keys.keys_file(path, options, _extra(fmt))
        if src is None or limit is None:
            names, keys_from = keys.resolve(path, len(matrix), options, _extra(fmt))
        else:  # a limit: the keys file is longer than the rows read
            names = keys.read_keys(src, options.key_column)
            if len(names) < len(matrix):
                raise FormatError(f"{src}: {len(names):,} keys, fewer than the {len(matrix):,} rows read")
            keys_from = src.name
        return names[: len(matrix)], matrix, keys_from
    if fmt == VectorFormat.fasttext_bin:
        from embviz.io.fasttext_bin import read_fasttext_bin

        return read_fasttext_bin(path, limit, dtype)
    if path.is_dir():
        raise FormatError(f"{path}: is a directory, expected a {fmt.value} file")
    total, found = None, None  # rows in the file (before limit), keys the file holds
    if fmt == VectorFormat.npy:
        arr = arrays.read_npy(path)
    elif fmt == VectorFormat.npz:
        arr, _ = arrays.read_npz(path, options.tensor)
    elif fmt == VectorFormat.safetensors:
        arr, _ = arrays.read_safetensors(path, options.tensor)
    elif fmt == VectorFormat.torch:
        arr, _ = arrays.read_torch(path, options.tensor)
    elif fmt == VectorFormat.hdf5:
        from embviz.io.hdf5 import read_hdf5

        arr, total, found = read_hdf5(path, options, limit, dtype)  # reads at most `limit` rows
    else:  # pragma: no cover - the dispatcher sends only the formats above
        raise FormatError(f"{path}: {fmt.value} is not read by this reader")
    if arr.ndim != 2:
        raise FormatError(f"{path}: array of shape {list(arr.shape)}, expected 2-D (rows, dim)")
    names, keys_from = found or keys.resolve(path, arr.shape[0] if total is None else total, options)
    if limit is not None:
        arr, names = arr[:limit], names[:limit]
    arrays.check_matrix(path, arr)
    matrix = arrays.as_float(path, arr, dtype)
    if matrix.dtype.kind == "f" and arr.dtype != matrix.dtype:
        arrays.check_matrix(path, matrix)  # float64 beyond float32's range became inf
    return names, matrix, keys_from
