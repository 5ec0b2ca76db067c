"""Readers of tables: Parquet, Arrow IPC (Feather v2) and Spark ML's folders.

A table has a key column and a vector column, or a wide layout of numeric columns:

- the **key column** is ``--key-column``, else the first string or integer column named like
  a key (``key``, ``word``, ``token``, ``id``, ``item``, ``name``, ``label``, ``*_id``), else
  the first string column; with none (or with ``--vocab FILE``), the keys come from
  :mod:`embviz.io.keys`;
- the **vector column** is ``list<float>``, ``large_list<float>``,
  ``fixed_size_list<float>[dim]`` or Spark ML's vector struct ``{type: int8, size: int32,
  indices: list<int32>, values: list<double>}`` (dense rows only, ``type == 1``);
- or a **wide layout**: ``--vector-columns`` (names in order, ``prefix*`` patterns allowed),
  by default every floating column when there is no list column.

Spark ML's ``Word2VecModel.save(path)`` folder (``metadata/`` + ``data/*.parquet`` with
``word: string, vector: array<float>``) and a ``getVectors().write.parquet(path)`` folder
(``word``, ``vector`` as the vector struct) are read by passing the folder: every
``*.parquet`` part file, in name order.

The matrix is allocated from validated row counts and filled one batch at a time (about
2 MiB of values, read from one row group; an Arrow record batch), so peak memory is the
matrix, the keys and one batch. Every Arrow record batch passes pyarrow's full validation
before any of its buffers is read (a damaged file cannot make numpy read outside a buffer);
a Parquet footer's row count sizes the matrix only up to one row per byte of the files, and
each row group's decoded rows must match its footer.

This module opens the files (Parquet footers and parts, Arrow IPC files and streams) and fills
the matrix (:func:`read_table`); two siblings hold the rest, and their names are importable
from here as before:

- :mod:`embviz.io.table_columns`: the schema checks and which columns are the keys and the
  vectors (:func:`choose_columns`);
- :mod:`embviz.io.table_batches`: one record batch at a time: validation, read-ahead on a
  helper thread, the batch's keys (and their hashes) and vectors.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np

from embviz.errors import EmbvizError, FormatError, require
from embviz.io import unique
from embviz.io.options import SourceOptions
from embviz.io.table_batches import (  # noqa: F401 - the private names are re-exported as before
    _HASH_BYTES,
    _PREFETCH,
    _check_offsets,
    _first_bad_utf8,
    _first_null,
    _KeyHashes,
    _keys,
    _numpy,
    _prefetched,
    _record_batches,
    _spark_values,
    _validated,
    _vectors,
)
from embviz.io.table_columns import (  # noqa: F401 - the private names are re-exported as before
    _EXTRA,
    _KEY_TOKENS,
    _check_schema,
    _columns_text,
    _is_binary,
    _is_keyish,
    _is_string,
    _named_like_key,
    _pa,
    _value_type,
    _vector_kind,
    choose_columns,
)


def parquet_parts(folder: Path) -> list[Path]:
    """Return the Parquet part files of a folder (Spark's ``data/`` in a saved model).

    Hidden files and Spark's ``_SUCCESS``/``_metadata`` markers are skipped; order is by name,
    which is Spark's part order.
    """
    data = folder / "data" if (folder / "metadata").is_dir() and (folder / "data").is_dir() else folder
    return sorted(
        p for p in data.iterdir()
        if p.is_file() and not p.name.startswith((".", "_")) and p.name.endswith(".parquet")
    )


#: Bytes of values decoded per step when reading Parquet (bounds the reader's own memory).
_BATCH_BYTES = 2 << 20
#: Decode a batch's columns on Arrow's thread pool.
_THREADS = True


def _width(pa: Any, t: Any) -> int:
    """Rough bytes per row of a column type (fixed-size lists exactly, others a guess)."""
    if pa.types.is_fixed_size_list(t):
        return t.list_size * max(1, t.value_type.bit_width // 8)
    if pa.types.is_list(t) or pa.types.is_large_list(t) or pa.types.is_struct(t):
        return 2_048
    return 16


def _check_footer(f: Path, pf: Any) -> None:
    """Refuse a footer whose row counts disagree: the file's total against its row groups'."""
    md = pf.metadata
    counts = [md.row_group(i).num_rows for i in range(md.num_row_groups)]
    if any(c < 0 for c in counts) or sum(counts) != md.num_rows:
        raise FormatError(
            f"{f}: not a readable Parquet file: its footer says {md.num_rows:,} rows but its "
            f"row groups hold {sum(counts):,} (damaged file?)"
        )


@dataclass
class _Source:
    schema: Any  # pyarrow.Schema
    rows: int
    batches: Callable[[list[str]], Iterator[Any]]  # columns -> pyarrow Tables / RecordBatches
    #: rows that may be allocated before they are decoded (None: `rows` is validated)
    plausible: int | None = None


def _parquet_source(path: Path, files: list[Path]) -> _Source:
    pa = _pa()
    pq = require("pyarrow.parquet", package=_EXTRA)
    opened = []
    for f in files:
        try:
            # buffered reads of 1 MiB, not a memory map or a pre-buffered row group: mapped
            # pages would stay resident beside the matrix, and a decoded row group of nested
            # lists (with its repetition levels) costs about 4x its values
            pf = pq.ParquetFile(f, memory_map=False, pre_buffer=False, buffer_size=1 << 20)
            pf.schema_arrow  # noqa: B018 - decode the schema now, inside this try
        except UnicodeDecodeError:  # pyarrow decodes column names with Python's codec
            raise FormatError(
                f"{f}: not a readable Parquet file: a column name in its schema is not valid UTF-8 "
                "(damaged file?)"
            ) from None
        except (OSError, ValueError, pa.ArrowException) as exc:
            raise FormatError(f"{f}: not a readable Parquet file: {exc}") from None
        _check_footer(f, pf)
        _check_schema(f, pf.schema_arrow, "Parquet")
        opened.append((f, pf))
    schema = opened[0][1].schema_arrow
    for f, pf in opened[1:]:
        if pf.schema_arrow.names != schema.names:
            raise FormatError(
                f"{f}: columns {pf.schema_arrow.names} differ from {opened[0][0].name}'s {schema.names}"
            )

    def batches(columns: list[str]) -> Iterator[Any]:
        width = sum(_width(pa, schema.field(c).type) for c in columns)
        rows = max(1_024, _BATCH_BYTES // max(1, width))
        for f, pf in opened:
            for i in range(pf.num_row_groups):
                want, got = pf.metadata.row_group(i).num_rows, 0
                try:
                    for batch in pf.iter_batches(batch_size=rows, row_groups=[i], columns=columns,
                                                 use_threads=_THREADS):
                        got += batch.num_rows
                        yield _validated(pa, f, batch, f"row group {i}", strings=False)
                except (OSError, ValueError, pa.ArrowException) as exc:
                    raise FormatError(f"{f}: row group {i}: cannot read: {exc}") from None
                if got != want:  # a column's pages hold fewer rows than the footer says
                    raise FormatError(
                        f"{f}: row group {i}: {got:,} rows decoded from columns {', '.join(columns)}, "
                        f"but its footer says {want:,} rows (damaged file?)"
                    )

    # rows a footer may claim beyond what its file can hold are never allocated up front
    # (read_table grows the matrix as rows arrive): one row per byte of the files
    size = sum(f.stat().st_size for f, _ in opened)
    return _Source(schema, sum(pf.metadata.num_rows for _, pf in opened), batches, size)


def _arrow_source(path: Path) -> _Source:
    """Open an Arrow IPC file (Feather v2), else an IPC stream; every record batch fully validated.

    The file format is read one batch at a time, twice: a first pass validates every batch
    (so the row count that sizes the matrix is pyarrow's validated count) and a second
    validates it again as it is copied (the bytes are read again). A stream has no footer: it
    is read whole, every batch validated.
    """
    pa = _pa()
    what = "Arrow IPC/Feather"
    try:
        source = pa.OSFile(str(path), "r")  # one batch in memory at a time, then copied
        try:
            reader = pa.ipc.open_file(source)
        except pa.ArrowInvalid:  # the IPC stream format (no footer): read it whole
            source.seek(0)
            stream = pa.ipc.open_stream(source)
            _check_schema(path, stream.schema, what)
            got = [_validated(pa, path, b, f"record batch {i}") for i, b in enumerate(stream)]
            table = pa.Table.from_batches(got, stream.schema)
            return _Source(table.schema, table.num_rows, lambda cols: iter([table.select(cols)]))
        schema = reader.schema
        _check_schema(path, schema, what)
        count = reader.num_record_batches
        rows = sum(_validated(pa, path, reader.get_batch(i), f"record batch {i}").num_rows for i in range(count))
    except UnicodeDecodeError:  # pyarrow decodes names and metadata with Python's codec
        raise FormatError(
            f"{path}: not a readable {what} file: a name in its schema is not valid UTF-8 (damaged file?)"
        ) from None
    except (OSError, pa.ArrowException) as exc:
        raise FormatError(f"{path}: not a readable {what} file: {exc}") from None

    def batches(columns: list[str]) -> Iterator[Any]:
        for i in range(count):
            try:
                batch = reader.get_batch(i)
            except (OSError, pa.ArrowException) as exc:
                raise FormatError(f"{path}: record batch {i}: cannot read: {exc}") from None
            yield _validated(pa, path, batch, f"record batch {i}").select(columns)

    return _Source(schema, rows, batches)


# -- reading ---------------------------------------------------------------------------------
def read_table(
    path: Path, options: SourceOptions, limit: int | None, dtype: str, kind: str
) -> tuple[list[str] | None, np.ndarray, str, int]:
    """Read a Parquet/Arrow file or folder: ``(keys or None, matrix (n, dim), description, rows)``.

    Parameters
    ----------
    path : Path
        A Parquet or Arrow IPC/Feather file, or a folder of Parquet parts (Spark).
    kind : {"parquet", "arrow", "folder"}
    limit : int, optional
        Read only the first `limit` rows.
    dtype : {"float32", "float16"}

    Returns
    -------
    keys : list of str or None
        None when the table has no key column (the caller finds keys elsewhere).
    matrix : ndarray ``(n, dim)`` of `dtype`, writable
    description : str
        Which columns were used, for messages.
    rows : int
        The table's row count (before `limit`).

    Raises
    ------
    FormatError
        Unreadable file, no float vector column, ragged or null vectors, a null key, a Spark
        sparse vector: the message names the file, row and column.
    """
    pa = _pa()
    if kind == "folder":
        files = parquet_parts(path)
        if not files:
            raise FormatError(f"{path}: folder without .parquet files, expected a Spark or Parquet folder")
        src = _parquet_source(path, files)
    elif kind == "arrow":
        src = _arrow_source(path)
    else:
        src = _parquet_source(path, [path])
    key, cols, vkind = choose_columns(path, src.schema, options)
    if options.keys is not None and key is not None:
        # a keys file would replace the table's own keys by row position: refused, never silent
        raise FormatError(
            f"{path}: the table has its own key column {key!r}, so --vocab {Path(options.keys).name} would "
            "replace those keys by row position; for titles or other labels use --meta FILE"
        )
    n = src.rows if limit is None else min(limit, src.rows)
    if n == 0:
        raise FormatError(f"{path}: table has no rows, expected vectors")
    dim = len(cols) if vkind == "wide" else None
    # rows a footer claims are allocated only up to what the files can plausibly hold; more
    # are added as they are decoded (a footer claiming 2**33 rows is refused when its pages
    # run out, not with a 64 GiB allocation)
    cap = n if src.plausible is None else min(n, max(src.plausible, 1_024))
    matrix: np.ndarray | None = None if dim is None else _allocate(path, cap, dim, dtype, n)
    keys: list[str] | None = [] if key is not None else None
    hashes = _KeyHashes(pa)  # of the keys, for the duplicate check
    lo = 0
    used = ([key] if key else []) + cols
    # Parquet: every column is decoded (the unused ones are dropped batch by batch), so a
    # damaged column anywhere in the file is refused, as pyarrow.parquet.read_table refuses it
    read = used if kind == "arrow" else list(dict.fromkeys(src.schema.names))
    batches = _prefetched(src.batches(read)) if kind != "arrow" and _read_ahead() else src.batches(read)
    try:
        for batch in _record_batches(pa, batches):
            if lo >= n:
                break
            batch = batch.slice(0, n - lo)
            m = batch.num_rows
            if m == 0:
                continue
            if keys is not None:
                keys.extend(_keys(path, batch.column(key), key, lo, hashes))
            if matrix is not None and lo + m > len(matrix):
                matrix = _grow(path, matrix, lo + m, n)
            if vkind == "wide":
                assert matrix is not None
                for j, c in enumerate(cols):
                    col = batch.column(c)
                    if col.null_count:
                        row = lo + _first_null(col)
                        raise FormatError(f"{path}: row {row:,}, column {c!r}: null value, expected a number")
                    _store(path, matrix[lo : lo + m, j], _numpy(col), lo, c)
            else:
                block, dim = _vectors(pa, path, batch.column(cols[0]), cols[0], lo, dim, vkind)
                if matrix is None:
                    matrix = _allocate(path, max(cap, m), dim, dtype, n)
                _store(path, matrix[lo : lo + m], block, lo, cols[0])
            lo += m
    finally:
        if hasattr(batches, "close"):
            batches.close()  # stops the reader thread now (a --limit leaves batches unread)
    if matrix is None:  # pragma: no cover - the row counts are checked against the footer
        raise FormatError(f"{path}: no rows could be read, expected vectors (damaged file?)")
    what = f"vectors from {'columns ' + cols[0] + ' ... ' + cols[-1] if vkind == 'wide' else 'column ' + cols[0]}"
    if keys is not None and hashes.distinct():
        keys = unique.DistinctKeys(keys)  # proven distinct: no set of Python strings needed
    return keys, matrix[:lo], what + (f", keys from column {key}" if key else ""), src.rows


def _store(path: Path, dest: np.ndarray, values: np.ndarray, lo: int, name: str) -> None:
    """``dest[...] = values``, refusing a value that is finite but beyond `dest`'s dtype.

    A float64 value such as 1e300 would otherwise become ``inf`` in a float32 matrix and be
    reported as "inf": the message gives the value in the file.
    """
    with np.errstate(over="ignore"):
        dest[...] = values
    if values.dtype.kind != "f" or values.dtype.itemsize <= dest.dtype.itemsize:
        return
    over = np.isinf(dest) & np.isfinite(values)
    if over.any():
        at = np.argwhere(over)[0]
        row = lo + int(at[0])
        where = f", position {int(at[1])}" if over.ndim == 2 else ""
        raise FormatError(
            f"{path}: row {row:,}, column {name!r}{where}: value {float(values[tuple(at)])!r} is beyond "
            f"{dest.dtype}'s range (largest {float(np.finfo(dest.dtype).max):.4g}), expected a "
            f"{dest.dtype} number"
        )


def _allocate(path: Path, rows: int, dim: int, dtype: str, total: int) -> np.ndarray:
    """``np.empty((rows, dim), dtype)``, or one line when memory cannot hold it."""
    try:
        return np.empty((rows, dim), dtype=dtype)
    except (MemoryError, ValueError):
        raise _too_big(path, total, dim, dtype) from None


def _grow(path: Path, matrix: np.ndarray, rows: int, total: int) -> np.ndarray:
    """`matrix` with room for at least `rows` rows (doubling, at most `total`), in place if it can."""
    new = min(total, max(rows, 2 * len(matrix)))
    try:
        matrix.resize((new, matrix.shape[1]), refcheck=False)  # our own array: no views of it
    except (MemoryError, ValueError):
        raise _too_big(path, total, matrix.shape[1], str(matrix.dtype)) from None
    return matrix


def _too_big(path: Path, rows: int, dim: int, dtype: str) -> EmbvizError:
    need = rows * dim * np.dtype(dtype).itemsize
    return EmbvizError(
        f"{path}: {rows:,} rows x {dim:,} {dtype} values need {need / 2**30:,.1f} GiB of memory, "
        "more than can be allocated; read fewer rows with --limit N (or use --dtype float16)"
    )


def _read_ahead() -> bool:
    """Whether to decode Parquet batches on a helper thread: only with a core to spare.

    Measured on 400,000 x 50 (bench/bench_formats.py): with a second core free, the helper
    thread overlaps Arrow's decoding with the copy and the keys (0.28 s instead of 0.40 s wall,
    medians of 5); with every core busy (load average at or above the core count) it gains
    nothing and costs about 20 ms of CPU in thread hand-offs. The rule is the 1-minute load
    average: at least one core's worth idle.
    """
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        cores = os.cpu_count() or 1
    try:
        busy = os.getloadavg()[0]
    except (AttributeError, OSError):  # pragma: no cover - no load average (Windows)
        busy = 0.0
    return cores - busy >= 1.0
