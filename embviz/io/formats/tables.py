"""Tables: Parquet and Arrow/Feather files, and Spark folders of Parquet parts.

The parsing is :mod:`embviz.io.tables` (a key column and a vector column, or one column per
dimension); a table without a key column takes its keys like an array. Parquet is written
as ``key: string`` and ``vector: fixed_size_list<float32>[dim]``.
"""

from __future__ import annotations

from pathlib import Path
from typing import IO

from embviz.errors import FormatError
from embviz.io.formats.spec import Format, Probe

#: Rows per Parquet row group written (the reader holds one row group at a time).
PARQUET_ROW_GROUP = 65_536


def _parquet(probe: Probe) -> bool:
    return probe.head[:4] == b"PAR1"


def _arrow(probe: Probe) -> bool:
    return probe.head[:6] == b"ARROW1" or probe.head[:4] == b"\xff\xff\xff\xff"  # file, or IPC stream


def _spark(probe: Probe) -> bool:
    """Tell a folder with ``metadata/`` + ``data/`` (``Word2VecModel.save``), or of ``*.parquet`` parts."""
    if not probe.is_dir:
        return False
    path = probe.path
    model = (path / "metadata").is_dir() and (path / "data").is_dir()
    return any((path / "data" if model else path).glob("*.parquet"))


def read(path: Path, fmt: str, options, limit: int | None, dtype: str) -> tuple:  # noqa: ANN001
    """Read a table's key and vector columns (:func:`embviz.io.tables.read_table`)."""
    from embviz.io import arrays, keys, tables

    kind = "folder" if path.is_dir() else {"parquet": "parquet", "arrow": "arrow"}.get(fmt)
    if kind is None:
        raise FormatError(f"{path}: is a file, expected a Spark or Parquet folder")
    found, matrix, what, total = tables.read_table(path, options, limit, dtype, kind)
    arrays.check_matrix(path, matrix)
    if found is not None:
        return found, matrix, what.rsplit("keys from ", 1)[-1]
    names, keys_from = keys.resolve(path, total, options)
    return names[: len(matrix)], matrix, keys_from


def write(vectors, path: Path, fmt: str, precision: int = 6) -> list[Path]:  # noqa: ANN001
    """Write Parquet: ``key: string``, ``vector: fixed_size_list<float32>[dim]``, row groups of 65,536."""
    from embviz.errors import require
    from embviz.io.atomic import atomic_write, float32_blocks

    pa = require("pyarrow", package="pyarrow")
    pq = require("pyarrow.parquet", package="pyarrow")
    dim = vectors.matrix.shape[1]
    schema = pa.schema([("key", pa.string()), ("vector", pa.list_(pa.float32(), dim))])

    def write_parquet(f: IO[bytes]) -> None:
        # plain, uncompressed pages: distinct keys gain nothing from a dictionary and
        # little from snappy, and both cost time on every load (about 15 ms per 400,000)
        with pq.ParquetWriter(f, schema, compression="none", use_dictionary=False) as w:
            for lo, block in float32_blocks(vectors.matrix, PARQUET_ROW_GROUP):
                vec = pa.FixedSizeListArray.from_arrays(pa.array(block.reshape(-1)), dim)
                keys = pa.array(vectors.keys[lo : lo + PARQUET_ROW_GROUP], type=pa.string())
                w.write_table(pa.Table.from_arrays([keys, vec], schema=schema), row_group_size=PARQUET_ROW_GROUP)

    atomic_write(path, write_parquet)
    return [path]


_SEE = "see [Arrays, tables and Spark folders](#arrays-tables-and-spark-folders)"
FORMATS = (
    Format(name="parquet", layout=f"a Parquet table: a key column and a vector column (list or "
                                  f"fixed-size list), or one column per dimension; {_SEE}",
           short=".parquet", read="embviz.io.formats.tables:read", detect=_parquet, detect_order=30,
           write="embviz.io.formats.tables:write", suffixes=(".parquet",), folder_parts=True),
    Format(name="arrow", layout=f"an Arrow IPC file or stream (Feather v2), columns as Parquet's; {_SEE}",
           short="Arrow/Feather", read="embviz.io.formats.tables:read", detect=_arrow, detect_order=40,
           folder_parts=True),
    Format(name="spark", layout=f"a Spark folder: `Word2VecModel.save` (`metadata/` + `data/`) or "
                                f"`*.parquet` parts; {_SEE}",
           short="a Spark folder", read="embviz.io.formats.tables:read", detect=_spark, detect_order=0,
           folder_parts=True),
)
