"""A metadata table's file: its format, and its columns read as text (pandas, pyarrow).

:func:`embviz.io.meta.read_meta` calls these: :func:`_kind` chooses the format from the file
name, else from its first bytes (the table in :mod:`embviz.io.meta`); :func:`_read_text`
reads TSV, CSV and RecBole atomic files with pandas, every value as text; :func:`_read_arrow`
reads Parquet (a file or a folder of parts) and Arrow IPC / Feather with pyarrow, renders each
column as text (:func:`_arrow_text`: integers in decimal, floats in their shortest round-trip
form, lists joined with ``|``) and skips vector columns. pandas and pyarrow are imported inside
the functions that use them.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from embviz.errors import FormatError, InvalidQuery, require, warn

#: Columns named in an error message before the list is cut short.
_MAX_LISTED = 20

_TSV_SUFFIXES = frozenset({".tsv", ".txt", ".tab"})
_RECBOLE_SUFFIXES = frozenset({".item", ".inter"})
_PARQUET_SUFFIXES = frozenset({".parquet", ".pq"})
_ARROW_SUFFIXES = frozenset({".arrow", ".feather", ".ipc"})
_COMPRESSION_SUFFIXES = frozenset({".gz", ".bz2", ".xz"})
#: RecBole's field types (``name:type`` in an atomic file's header).
_RECBOLE_TYPE = re.compile(r":(token|token_seq|float|float_seq)$")


def _kind(path: Path) -> str:
    """Return "tsv", "csv", "recbole", "parquet" or "arrow" for a file."""
    suffixes = [s.lower() for s in path.suffixes]
    if suffixes and suffixes[-1] in _COMPRESSION_SUFFIXES:
        suffixes.pop()
    suffix = suffixes[-1] if suffixes else ""
    if suffix in _TSV_SUFFIXES:
        return "tsv"
    if suffix == ".csv":
        return "csv"
    if suffix in _RECBOLE_SUFFIXES:
        return "recbole"
    if suffix in _PARQUET_SUFFIXES:
        return "parquet"
    if suffix in _ARROW_SUFFIXES:
        return "arrow"
    try:
        with open(path, "rb") as f:
            head = f.read(1 << 16)
    except OSError as exc:
        raise FormatError(f"{path}: cannot read: {exc.strerror or exc}") from None
    if head[:4] == b"PAR1":
        return "parquet"
    if head[:6] == b"ARROW1" or head[:4] in (b"FEA1", b"\xff\xff\xff\xff"):
        return "arrow"
    codec = _compression(path)
    if codec is not None:  # compressed text: look at the decompressed header
        head = _decompressed_head(path, codec)
    first = head.split(b"\n", 1)[0]
    return "csv" if b"\t" not in first and b"," in first else "tsv"


def _decompressed_head(path: Path, codec: str) -> bytes:
    import bz2
    import gzip
    import lzma

    opener = {"gzip": gzip.open, "bz2": bz2.open, "xz": lzma.open}[codec]
    try:
        with opener(path, "rb") as f:
            return f.read(1 << 16)
    except (OSError, EOFError, lzma.LZMAError) as exc:
        raise FormatError(f"{path}: cannot read {codec} data: {_one_line(exc)}") from None


def _compression(path: Path) -> str | None:
    from embviz.io.sniffing import compression

    try:
        return compression(path)
    except OSError as exc:
        raise FormatError(f"{path}: cannot read: {exc.strerror or exc}") from None


def _select_key(where: str, names: Sequence[str], key_column: str | None,
                excluded: set[str]) -> str:
    if not names:
        raise FormatError(f"{where}: no columns; expected a header row naming the columns")
    key = names[0] if key_column is None else key_column
    if key not in names:
        raise FormatError(f"{where}: no column {key!r} for the key column (columns: {_listing(names)})")
    if key in excluded:
        raise InvalidQuery(f"{where}: the key column {key} cannot be excluded")
    return key


def _read_text(path: Path, where: str, kind: str, key_column: str | None,
               excluded: set[str]) -> tuple[str, np.ndarray, dict[str, np.ndarray]]:
    """Read a TSV/CSV/RecBole file: the key column and the other columns, object arrays."""
    pd = require("pandas")
    options: dict[str, Any] = dict(
        sep="," if kind == "csv" else "\t",
        dtype=str, keep_default_na=False, na_values=[""],
        compression=_compression(path), encoding="utf-8-sig", engine="c",
    )
    if kind != "csv":
        options["quoting"] = csv.QUOTE_NONE
    what = {"csv": "CSV", "tsv": "tab-separated text", "recbole": "RecBole atomic file"}[kind]
    try:
        try:
            frame = pd.read_csv(path, **options)
        except UnicodeDecodeError:
            frame = pd.read_csv(path, encoding_errors="replace", **options)
            warn(f"{where}: not valid UTF-8; undecodable bytes were replaced with U+FFFD")
    except pd.errors.EmptyDataError:
        raise FormatError(f"{where}: empty file; expected {what} with a header row") from None
    except pd.errors.ParserError as exc:
        raise FormatError(f"{where}: not valid {what}: {_one_line(exc)}") from None
    except (OSError, EOFError, ValueError) as exc:  # a truncated or corrupt archive
        raise FormatError(f"{where}: cannot read {what}: {_one_line(exc)}") from None
    names = [str(c) for c in frame.columns]
    if kind == "recbole":
        names = _recbole_names(names)
        frame.columns = names
        key_column = _recbole_name(key_column)
        excluded = {_recbole_name(e) for e in excluded}
    key = _select_key(where, names, key_column, excluded)

    def text(name: str) -> np.ndarray:
        return frame[name].to_numpy(dtype=object, na_value=None)

    return key, text(key), {n: text(n) for n in names if n != key and n not in excluded}


def _recbole_names(names: list[str]) -> list[str]:
    """Drop RecBole's ``:type`` from header names, unless two names would then clash."""
    stripped = [_RECBOLE_TYPE.sub("", n) for n in names]
    counts: dict[str, int] = {}
    for s in stripped:
        counts[s] = counts.get(s, 0) + 1
    return [s if counts[s] == 1 else n for n, s in zip(names, stripped)]


def _recbole_name(name: Any) -> Any:
    return _RECBOLE_TYPE.sub("", name) if isinstance(name, str) else name


def _parquet_parts(folder: Path, where: str) -> list[Path]:
    if (folder / "metadata").is_dir() and (folder / "data").is_dir():
        folder = folder / "data"  # a Spark ML model folder
    parts = sorted(p for p in folder.iterdir() if p.is_file() and p.name.endswith(".parquet")
                   and not p.name.startswith((".", "_")))
    if not parts:
        raise FormatError(f"{where}: is a folder with no .parquet files; expected a metadata table")
    return parts


def _read_arrow(path: Path, where: str, kind: str, key_column: str | None,
                excluded: set[str]) -> tuple[str, np.ndarray, dict[str, np.ndarray]]:
    """Read a Parquet or Arrow table: the key column and the other columns, as text."""
    pa = require("pyarrow")
    what = "Parquet" if kind == "parquet" else "Arrow IPC / Feather"
    try:
        if kind == "parquet":
            pq = require("pyarrow.parquet")
            parts = _parquet_parts(path, where) if path.is_dir() else [path]
            schema = pq.read_schema(parts[0])
        else:
            table = _read_ipc(path)
            schema = table.schema
        names = list(schema.names)
        key = _select_key(where, names, key_column, excluded)
        key_type = schema.field(key).type
        if not _key_type(pa, key_type):
            raise FormatError(f"{where}: the key column {key} is {key_type}; "
                              "expected text or integers")
        wanted = [n for n in names if n not in excluded and (n == key or not _vector_type(pa, schema.field(n).type))]
        if kind == "parquet":
            tables = [pq.read_table(part, columns=wanted) for part in parts]
            table = tables[0] if len(tables) == 1 else pa.concat_tables(tables, promote_options="permissive")
        else:
            table = table.select(wanted)
        skipped = []
        columns: dict[str, np.ndarray] = {}
        for name in wanted:
            if name == key:
                continue
            values = _arrow_text(pa, table.column(name))
            if values is None:
                skipped.append(name)
            else:
                columns[name] = values
        keys = _arrow_text(pa, table.column(key), key=True)
    except (FormatError, InvalidQuery):
        raise
    except (pa.ArrowException, OSError, ValueError) as exc:
        raise FormatError(f"{where}: not a valid {what} file: {_one_line(exc)}") from None
    if keys is None:  # binary keys that are not UTF-8
        raise FormatError(f"{where}: the key column {key} is not valid UTF-8; expected text or integers")
    if skipped:
        warn(f"{where}: skipped columns that are not text-like (struct, map or binary): "
             f"{_listing(skipped)}")
    return key, keys, columns


def _read_ipc(path: Path) -> Any:
    pa = require("pyarrow")
    ipc = require("pyarrow.ipc")
    source = pa.memory_map(str(path))
    try:
        return ipc.open_file(source).read_all()
    except pa.ArrowInvalid:
        pass
    try:
        return ipc.open_stream(pa.memory_map(str(path))).read_all()
    except pa.ArrowInvalid:
        feather = require("pyarrow.feather")
        return feather.read_table(str(path))  # Feather v1


def _key_type(pa: Any, t: Any) -> bool:
    if pa.types.is_dictionary(t):
        t = t.value_type
    return (pa.types.is_string(t) or pa.types.is_large_string(t) or _is_string_view(pa, t)
            or pa.types.is_integer(t) or pa.types.is_floating(t)
            or pa.types.is_binary(t) or pa.types.is_large_binary(t))


def _is_string_view(pa: Any, t: Any) -> bool:
    check = getattr(pa.types, "is_string_view", None)
    return bool(check and check(t))


def _is_list(pa: Any, t: Any) -> bool:
    check = getattr(pa.types, "is_list_view", None)
    big = getattr(pa.types, "is_large_list_view", None)
    return bool(pa.types.is_list(t) or pa.types.is_large_list(t) or pa.types.is_fixed_size_list(t)
                or (check and check(t)) or (big and big(t)))


def _vector_type(pa: Any, t: Any) -> bool:
    """Whether a column holds vectors: list<float>, fixed_size_list<number>, Spark's struct."""
    if _is_list(pa, t):
        value = t.value_type
        if pa.types.is_floating(value):
            return True
        return pa.types.is_fixed_size_list(t) and (pa.types.is_integer(value) or pa.types.is_decimal(value))
    if pa.types.is_struct(t):
        names = {t.field(i).name for i in range(t.num_fields)}
        return names == {"type", "size", "indices", "values"}  # Spark ML's VectorUDT
    return False


def _arrow_text(pa: Any, column: Any, *, key: bool = False) -> np.ndarray | None:
    """Render an Arrow column as text: object array ``(n,)`` of str or None; None to skip it."""
    pc = require("pyarrow.compute")
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks() if column.num_chunks != 1 else column.chunk(0)
    text = _as_text_array(pa, pc, column, key=key)
    if text is None:
        return None
    if not key:  # an empty string is no value, as an empty cell of a text file is
        text = pc.if_else(pc.equal(text, ""), pa.scalar(None, text.type), text)
    return np.asarray(text.to_numpy(zero_copy_only=False), dtype=object)


def _as_text_array(pa: Any, pc: Any, arr: Any, *, key: bool = False) -> Any:
    """Return `arr` as an Arrow string array (nulls kept), or None if it has no text form."""
    t = arr.type
    if pa.types.is_dictionary(t):
        arr = arr.dictionary_decode()
        t = arr.type
    if pa.types.is_string(t):
        return arr
    if pa.types.is_large_string(t) or _is_string_view(pa, t):
        return arr.cast(pa.large_string())
    if pa.types.is_null(t):
        return pa.nulls(len(arr), pa.string())
    if pa.types.is_floating(t):
        return _float_text(pa, pc, arr, key=key)
    if pa.types.is_binary(t) or pa.types.is_large_binary(t) or pa.types.is_fixed_size_binary(t):
        try:
            return arr.cast(pa.large_string()) if not pa.types.is_fixed_size_binary(t) else \
                arr.cast(pa.binary()).cast(pa.string())
        except pa.ArrowInvalid:  # not UTF-8
            return None
    if _is_list(pa, t):
        return _joined(pa, pc, arr)
    if pa.types.is_struct(t) or pa.types.is_map(t) or pa.types.is_union(t):
        return None
    try:  # integers, booleans, decimals, dates, times, timestamps
        return pc.cast(arr, pa.string())
    except (pa.ArrowNotImplementedError, pa.ArrowInvalid):
        return pa.array([None if v is None else str(v) for v in arr.to_pylist()], pa.string())


def _float_text(pa: Any, pc: Any, arr: Any, *, key: bool) -> Any:
    """Floats as their shortest round-trip text (``0.1``, ``1.0``); NaN and null are None.

    In the key column, a column of whole numbers (integer ids stored as floats, as pandas does
    when an id column has nulls) is written as integers: ``42``, not ``42.0``.
    """
    nan = pc.fill_null(pc.is_nan(arr), True)
    valid = pc.invert(nan).to_numpy(zero_copy_only=False)
    numbers = pc.fill_null(arr, 0).to_numpy(zero_copy_only=False)
    finite = numbers[valid]
    if key and finite.size and np.all(np.isfinite(finite)) and np.all(finite == np.round(finite)) \
            and np.all(np.abs(finite) < 2.0 ** 63):
        texts = [str(int(v)) for v in finite.tolist()]
    elif numbers.dtype == np.float64:
        texts = [repr(v) for v in finite.tolist()]
    else:  # float32/float16: numpy's shortest text of that precision (0.1, not 0.100000001)
        texts = [str(v) for v in finite]
    out = np.full(len(numbers), None, dtype=object)
    out[valid] = texts
    return pa.array(out, pa.string())


def _joined(pa: Any, pc: Any, arr: Any) -> Any:
    """Join each list's non-null elements, as text, with ``|``; a null list stays null."""
    t = arr.type
    if pa.types.is_fixed_size_list(t):
        arr = arr.cast(pa.list_(t.value_type))
    elif not (pa.types.is_list(t) or pa.types.is_large_list(t)):
        arr = arr.cast(pa.large_list(t.value_type))  # list views
    flat = pc.list_flatten(arr)
    parents = pc.list_parent_indices(arr).to_numpy(zero_copy_only=False)
    text = _as_text_array(pa, pc, flat)
    if text is None:
        return None
    keep = pc.is_valid(text).to_numpy(zero_copy_only=False)
    text = text.filter(pa.array(keep))
    counts = np.bincount(parents[keep], minlength=len(arr))
    offsets = np.zeros(len(arr) + 1, dtype=np.int64)
    np.cumsum(counts, out=offsets[1:])
    lists = pa.LargeListArray.from_arrays(pa.array(offsets), text.cast(pa.large_string()),
                                          mask=pc.is_null(arr))
    return pc.binary_join(lists, pa.scalar("|", pa.large_string()))


def _listing(names: Sequence[str]) -> str:
    """Join names with commas: at most 20, then how many more."""
    names = list(names)
    if len(names) <= _MAX_LISTED:
        return ", ".join(names)
    return ", ".join(names[:_MAX_LISTED]) + f", ... ({len(names) - _MAX_LISTED:,} more)"


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__
