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
"""

from __future__ import annotations

import fnmatch
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np

from embviz.errors import EmbvizError, FormatError, require
from embviz.io import unique
from embviz.io.options import SourceOptions

_KEY_TOKENS = {"key", "keys", "word", "words", "token", "tokens", "id", "ids", "item", "items",
               "name", "names", "label", "labels", "term", "terms", "vocab"}
_EXTRA = "pyarrow"


def _pa() -> Any:
    return require("pyarrow", package=_EXTRA)


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
#: Parquet batches decoded ahead of the one being copied (on a helper thread).
_PREFETCH = 2
#: Bytes of string keys hashed together for the duplicate check (a few batches' worth).
_HASH_BYTES = 1 << 18


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


def _check_schema(path: Path, schema: Any, what: str) -> None:
    """Refuse a schema that no reader can use safely: duplicate column names, negative sizes.

    `what` names the format for the message ("Parquet", "Arrow IPC/Feather").
    """
    pa = _pa()
    seen: set[str] = set()
    for name in schema.names:
        if name in seen:
            raise FormatError(
                f"{path}: not a readable {what} file: column {name!r} appears "
                f"{schema.names.count(name)} times in its schema, expected unique column names"
            )
        seen.add(name)

    def walk(t: Any, name: str) -> None:
        if pa.types.is_fixed_size_list(t) and t.list_size < 0:
            raise FormatError(
                f"{path}: not a readable {what} file: column {name!r} is a fixed-size list of "
                f"{t.list_size} values, expected a size of 0 or more (damaged file?)"
            )
        for i in range(getattr(t, "num_fields", 0)):
            walk(t.field(i).type, name)

    for f in schema:
        walk(f.type, f.name)


def _validated(pa: Any, path: Path, batch: Any, where: str, strings: bool = True) -> Any:
    """Return `batch` after pyarrow's full validation (offsets, buffer sizes, UTF-8, ...).

    Nothing reads a buffer of a batch before this: a damaged Arrow file can hold offsets or
    lengths that point outside its buffers, which numpy and Python's string decoding would
    follow (a segmentation fault, or garbage values). With ``strings=False`` string and bytes
    columns get the structural checks only (a Parquet key column whose values are not UTF-8
    is then reported by :func:`_keys`, naming the row).

    Raises
    ------
    FormatError
        Naming `where` (the record batch or row group) and pyarrow's reason.
    """
    try:
        if strings:
            batch.validate(full=True)
        else:
            batch.validate()
            for col in batch.columns:
                if _is_string(pa, col.type) or _is_binary(pa, col.type):
                    _check_offsets(pa, col)
                else:
                    col.validate(full=True)
    except pa.ArrowException as exc:
        why = str(exc)
        m = re.match(r"In column (\d+): (?:Invalid: )?(.*)", why, re.S)
        if m and int(m.group(1)) < batch.num_columns:  # name the column, not its position
            why = f"column {batch.schema.names[int(m.group(1))]!r}: {m.group(2)}"
        raise FormatError(f"{path}: {where}: invalid data in {why} (damaged file?)") from None
    return batch


def _check_offsets(pa: Any, col: Any) -> None:
    """Full validation of a string/bytes column except its UTF-8 check (raises ArrowInvalid)."""
    t = _value_type(pa, col.type)
    if pa.types.is_dictionary(col.type):
        col.indices.validate(full=True)
        col = col.dictionary
    raw = pa.large_binary() if pa.types.is_large_string(t) or pa.types.is_large_binary(t) else pa.binary()
    if pa.types.is_string_view(t) or pa.types.is_binary_view(t):
        col.view(pa.binary_view()).validate(full=True)
    else:
        col.view(raw).validate(full=True)


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


# -- choosing columns ------------------------------------------------------------------------
def _named_like_key(name: str) -> bool:
    spaced = re.sub(r"([a-z0-9])([A-Z])", r"\1 \2", name).lower()
    tokens = [t for t in re.split(r"[^a-z0-9]+", spaced) if t]
    return bool(tokens) and (tokens[-1] in _KEY_TOKENS or tokens[0] in _KEY_TOKENS)


def _value_type(pa: Any, t: Any) -> Any:
    """Return the type of a column's values (a dictionary-encoded column's dictionary type)."""
    return t.value_type if pa.types.is_dictionary(t) else t


def _is_string(pa: Any, t: Any) -> bool:
    t = _value_type(pa, t)
    return pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_string_view(t)


def _is_binary(pa: Any, t: Any) -> bool:
    t = _value_type(pa, t)
    return pa.types.is_binary(t) or pa.types.is_large_binary(t) or pa.types.is_binary_view(t)


def _is_keyish(pa: Any, t: Any) -> bool:
    """Strings, integers, or bytes (a string column written without its UTF-8 annotation)."""
    return _is_string(pa, t) or _is_binary(pa, t) or pa.types.is_integer(_value_type(pa, t))


def _vector_kind(pa: Any, t: Any) -> str | None:
    """'list', 'spark' or None for a column type."""
    if (pa.types.is_list(t) or pa.types.is_large_list(t) or pa.types.is_fixed_size_list(t)) and (
        pa.types.is_floating(t.value_type)
    ):
        return "list"
    if pa.types.is_struct(t) and {t.field(i).name for i in range(t.num_fields)} >= {"type", "values"}:
        return "spark"
    return None


def _columns_text(schema: Any) -> str:
    return ", ".join(f"{f.name} ({f.type})" for f in schema)


def choose_columns(path: Path, schema: Any, options: SourceOptions) -> tuple[str | None, list[str], str]:
    """Return ``(key column or None, vector columns, kind)``; kind is 'list', 'spark' or 'wide'.

    Raises
    ------
    FormatError
        If a named column is missing, or there is no float vector column.
    """
    pa = _pa()
    names = schema.names
    key = options.key_column
    if key is not None and key not in names:
        raise FormatError(f"{path}: no column {key!r} for --key-column (columns: {_columns_text(schema)})")
    if options.vector_columns:
        cols: list[str] = []
        for pattern in options.vector_columns:
            hits = [n for n in names if fnmatch.fnmatchcase(n, pattern)] if "*" in pattern else (
                [pattern] if pattern in names else [])
            if not hits:
                raise FormatError(
                    f"{path}: no column {pattern!r} for --vector-columns (columns: {_columns_text(schema)})"
                )
            cols += [h for h in hits if h not in cols and h != key]
        if len(cols) == 1 and _vector_kind(pa, schema.field(cols[0]).type):
            kind = _vector_kind(pa, schema.field(cols[0]).type)
        else:
            for c in cols:
                t = schema.field(c).type
                if not (pa.types.is_floating(t) or pa.types.is_integer(t)):
                    raise FormatError(f"{path}: column {c!r} is {t}, expected numbers for --vector-columns")
            kind = "wide"
    else:
        vec = [f.name for f in schema if f.name != key and _vector_kind(pa, f.type)]
        if vec:
            cols, kind = vec[:1], _vector_kind(pa, schema.field(vec[0]).type) or "list"
        else:
            cols = [f.name for f in schema if f.name != key and pa.types.is_floating(f.type)]
            kind = "wide"
            if not cols:
                raise FormatError(
                    f"{path}: no float vector column (columns: {_columns_text(schema)}); expected "
                    "list<float>, fixed_size_list<float>[dim], a Spark ML vector, or numeric "
                    "columns named with --vector-columns"
                )
    if key is None:
        # a bytes column is a key column only when named like one: older writers (Hive,
        # Impala) store strings as bytes without the UTF-8 annotation; other bytes are data
        keyish = [f.name for f in schema if f.name not in cols and _is_keyish(pa, f.type)]
        named = [n for n in keyish if _named_like_key(n)]
        strings = [n for n in keyish if _is_string(pa, schema.field(n).type)]
        key = (named or strings or [None])[0]
    elif key in cols:
        raise FormatError(f"{path}: column {key!r} cannot be both the key and a vector column")
    elif not _is_keyish(pa, schema.field(key).type):
        raise FormatError(
            f"{path}: column {key!r} is {schema.field(key).type}, expected strings or integers "
            "for --key-column"
        )
    return key, cols, kind


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


def _prefetched(items: Iterator[Any], depth: int = _PREFETCH) -> Iterator[Any]:
    """Yield `items`, produced on a helper thread at most `depth` ahead of the consumer.

    Arrow decodes the next Parquet batch (without the GIL) while this thread copies the last
    one into the matrix and makes its keys: on two cores the load takes about the longer of
    the two, not their sum. At most `depth` + 2 batches exist at once, so the memory bound
    stays one batch per step. An exception in the producer is raised here, in order; closing
    this generator early (``--limit``) stops the producer.
    """
    import queue
    import threading

    q: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()
    done = object()

    def produce() -> None:
        try:
            for item in items:
                while not stop.is_set():
                    try:
                        q.put((item, None), timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            q.put((done, None))
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer, raised there
            q.put((done, exc))

    worker = threading.Thread(target=produce, name="embviz-parquet-reader", daemon=True)
    worker.start()
    try:
        while True:
            item, exc = q.get()
            if exc is not None:
                raise exc
            if item is done:
                return
            yield item
    finally:
        stop.set()
        while worker.is_alive():  # let a blocked producer see the flag and end
            try:
                q.get_nowait()
            except queue.Empty:
                worker.join(0.05)


def _record_batches(pa: Any, tables: Iterator[Any]) -> Iterator[Any]:
    """Record batches of each table, without copies (a row group's columns can be chunked)."""
    for t in tables:
        if isinstance(t, pa.Table):
            yield from t.to_batches()
        else:
            yield t


def _numpy(col: Any) -> np.ndarray:
    if hasattr(col, "combine_chunks"):
        col = col.combine_chunks()
    return col.to_numpy(zero_copy_only=False)


def _first_null(col: Any) -> int:
    return int(np.flatnonzero(_numpy(col.is_null()))[0])


def _keys(path: Path, col: Any, name: str, lo: int, hashes: _KeyHashes | None = None) -> list[str]:
    """One batch's keys as Python strings (integers written in decimal), given to `hashes` too.

    Raises
    ------
    FormatError
        A null key, or a key whose bytes are not UTF-8 (in a string column, where the file's
        own type promises UTF-8, or in a bytes key column): the message names the row.
    """
    pa = _pa()
    if col.null_count:
        raise FormatError(f"{path}: row {lo + _first_null(col):,}, column {name!r}: null key")
    if hasattr(col, "combine_chunks"):
        col = col.combine_chunks()
    if pa.types.is_dictionary(col.type):
        col = col.dictionary_decode()
    if pa.types.is_integer(col.type):
        arr = col.to_numpy(zero_copy_only=False)
        if hashes is not None:
            hashes.add(col, arr)
        return arr.astype(str).tolist()
    try:
        if _is_binary(pa, col.type):
            col = col.cast(pa.large_string())  # checks that every value is UTF-8
        out = col.to_pylist()
    except (ValueError, pa.ArrowException):  # bytes that are not UTF-8
        r, raw = _first_bad_utf8(pa, col)
        raise FormatError(
            f"{path}: row {lo + r:,}, column {name!r}: key {raw[:40]!r} is not valid UTF-8, "
            "expected text keys"
        ) from None
    if hashes is not None:
        hashes.add(col, None)
    return out


class _KeyHashes:
    """Hashes of a table's keys (:func:`embviz.io.unique.key_hashes`), for the duplicate check.

    String batches are hashed a few hundred KiB of keys at a time, straight from Arrow's
    offsets and data buffers; an integer column's values are their own hashes (distinct
    integers are distinct decimal strings).
    """

    def __init__(self, pa: Any) -> None:
        self.pa = pa
        self.done: list[np.ndarray] = []
        self.pending: list[Any] = []
        self.size = 0
        self.usable = True

    def add(self, col: Any, ints: np.ndarray | None) -> None:
        """Take one batch's key column (`ints`: its values, for an integer column)."""
        if not self.usable:
            return
        if ints is not None:
            self.done.append(ints.astype(np.int64).view(np.uint64))
            return
        t = col.type
        if not (self.pa.types.is_string(t) or self.pa.types.is_large_string(t)):  # no offsets buffer
            self.usable = False
            return
        self.pending.append(col)
        self.size += col.nbytes
        if self.size >= _HASH_BYTES:
            self._flush()

    def _flush(self) -> None:
        if not self.pending:
            return
        col = self.pending[0] if len(self.pending) == 1 else self.pa.concat_arrays(self.pending)
        self.pending, self.size = [], 0
        _, offsets, data = col.buffers()
        width = np.int64 if self.pa.types.is_large_string(col.type) else np.int32
        off = np.frombuffer(offsets, dtype=width)[col.offset : col.offset + len(col) + 1]
        raw = np.frombuffer(data, dtype=np.uint8) if data is not None and data.size else np.zeros(0, np.uint8)
        self.done.append(unique.key_hashes(raw, off))

    def distinct(self) -> bool:
        """Whether the keys are proven distinct (False: maybe not, run the exact check)."""
        self._flush()
        return self.usable and unique.all_distinct(self.done)


def _first_bad_utf8(pa: Any, col: Any) -> tuple[int, bytes]:
    """Row and bytes of the first value of a string or bytes column that is not UTF-8."""
    for r, raw in enumerate(col.cast(pa.large_binary()).to_pylist()):
        try:
            raw.decode("utf-8")
        except UnicodeDecodeError:
            return r, raw
    return 0, b""  # pragma: no cover - called only after pyarrow refused a value


def _vectors(
    pa: Any, path: Path, col: Any, name: str, lo: int, dim: int | None, vkind: str
) -> tuple[np.ndarray, int]:
    """One batch's vector column as a float ``(m, dim)`` array (a view when the layout allows)."""
    if hasattr(col, "combine_chunks"):
        col = col.combine_chunks()
    if col.null_count:
        raise FormatError(f"{path}: row {lo + _first_null(col):,}, column {name!r}: null vector")
    if vkind == "spark":
        col = _spark_values(pa, path, col, name, lo)
    elif not _vector_kind(pa, col.type):  # pragma: no cover - choose_columns picked it
        raise FormatError(f"{path}: column {name!r} is {col.type}, expected a list of floats")
    if pa.types.is_fixed_size_list(col.type):
        width = col.type.list_size
        lengths = None
    else:
        offsets = _numpy(col.offsets)
        lengths = np.diff(offsets)
        width = int(lengths[0])
    want = dim if dim is not None else width
    if lengths is not None:
        bad = np.flatnonzero(lengths != want)
        if len(bad):
            r = int(bad[0])
            raise FormatError(
                f"{path}: row {lo + r:,}, column {name!r}: vector has {int(lengths[r])} values, "
                f"expected {want} (ragged vectors)"
            )
    elif width != want:
        raise FormatError(f"{path}: column {name!r} has {width} values per row, expected {want}")
    if want == 0:
        raise FormatError(f"{path}: row {lo:,}, column {name!r}: empty vector")
    flat = col.flatten()
    if flat.null_count:
        r = _first_null(flat)
        raise FormatError(
            f"{path}: row {lo + r // want:,}, column {name!r}: null value at position {r % want}, "
            "expected a number"
        )
    return _numpy(flat).reshape(-1, want), want


def _spark_values(pa: Any, path: Path, col: Any, name: str, lo: int) -> Any:
    """Return the ``values`` lists of a batch of Spark ML vectors, every row checked to be dense.

    Spark's VectorUDT stores ``type`` (int8: 0 sparse, 1 dense) and ``values``
    (``list<double>``); anything else (a string or null type, values that are strings or a
    single number) is refused, naming the row, never converted.
    """
    kinds = col.field("type")
    if pa.types.is_dictionary(kinds.type):
        kinds = kinds.dictionary_decode()
    t = kinds.type
    if not pa.types.is_integer(_value_type(pa, t)):
        shown = kinds.drop_null()[0].as_py() if len(kinds.drop_null()) else None
        raise FormatError(
            f"{path}: column {name!r}: Spark vector 'type' is {t} (first value {shown!r}), expected "
            "the integer 1 (dense vectors)"
        )
    if kinds.null_count:
        raise FormatError(
            f"{path}: row {lo + _first_null(kinds):,}, column {name!r}: Spark vector with a null type, "
            "expected 1 (dense)"
        )
    kinds = _numpy(kinds)
    sparse = np.flatnonzero(kinds != 1)
    if len(sparse):
        r = int(sparse[0])
        what = "sparse vector" if kinds[r] == 0 else "vector of unknown kind"
        raise FormatError(
            f"{path}: row {lo + r:,}, column {name!r}: Spark {what} (type {int(kinds[r])}), "
            "expected dense vectors (type 1); densify with Vectors.dense(v.toArray())"
        )
    values = col.field("values")
    t = values.type
    if not ((pa.types.is_list(t) or pa.types.is_large_list(t) or pa.types.is_fixed_size_list(t))
            and pa.types.is_floating(t.value_type)):
        raise FormatError(
            f"{path}: column {name!r}: Spark vector 'values' are {t}, expected list<double>"
        )
    if values.null_count:
        raise FormatError(f"{path}: row {lo + _first_null(values):,}, column {name!r}: dense vector without values")
    return values
