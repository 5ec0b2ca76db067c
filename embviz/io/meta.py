"""Metadata tables: one row per key (an item id, a word), text columns (title, genres, ...).

A recommender's item table holds the vectors; a metadata table maps the same keys to what a
person reads: titles, categories, years. :func:`read_meta` reads one into a :class:`Meta`,
whose :meth:`Meta.align` returns the metadata of any list of keys (the keys of an answer) and
whose :meth:`Meta.find` selects keys by a metadata column (``genres`` matching ``/Comedy/``).

Formats, chosen by the file name (a compression suffix ``.gz``/``.bz2``/``.xz`` is looked
through; compression itself is detected from the file's magic bytes):

========================================  ==================================================
``.tsv``, ``.txt``, ``.tab``               tab-separated text with a header row; quotes are
                                           ordinary characters (``csv.QUOTE_NONE``)
``.csv``                                   comma-separated text with a header row; ``"..."``
                                           quoting as Python's ``csv`` module writes it
``.item``, ``.inter``                      RecBole atomic files: tab-separated, header names
                                           like ``item_id:token``; the ``:type`` is dropped
``.parquet``, ``.pq``, a folder            Parquet (a folder: its ``*.parquet`` parts, in
                                           name order; Spark's ``data/`` inside a model folder)
``.arrow``, ``.feather``, ``.ipc``         Arrow IPC file or stream, Feather v1/v2
anything else                              sniffed: Parquet and Arrow by magic bytes, else
                                           text, tab-separated if the header has a tab
========================================  ==================================================

Every value is text, as written in the file (``"007"`` stays ``"007"``); an empty cell, an
empty string, an empty list or a null is ``None``. Parquet and Arrow columns are rendered as
text: integers in decimal (``1``), floats in their shortest round-trip form (``0.1``,
``1.0``, ``1e+20``; NaN is ``None``), booleans ``true``/``false``, dates and timestamps in ISO
form, lists joined with ``|`` (``list<string>`` genres become ``Animation|Comedy``). Vector
columns (``list<float>``, ``fixed_size_list<number>``) are skipped, being vectors, not
metadata; struct, map and undecodable binary columns are skipped with a warning.

pandas and pyarrow are imported inside the functions that use them.
"""

from __future__ import annotations

import csv
import functools
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from embviz.errors import FormatError, InvalidQuery, require, warn

#: Longest ``/regex/`` :meth:`Meta.find` accepts, in characters (slashes included).
MAX_PATTERN = 500
#: Columns named in an error message before the list is cut short.
_MAX_LISTED = 20

_TSV_SUFFIXES = frozenset({".tsv", ".txt", ".tab"})
_RECBOLE_SUFFIXES = frozenset({".item", ".inter"})
_PARQUET_SUFFIXES = frozenset({".parquet", ".pq"})
_ARROW_SUFFIXES = frozenset({".arrow", ".feather", ".ipc"})
_COMPRESSION_SUFFIXES = frozenset({".gz", ".bz2", ".xz"})
#: RecBole's field types (``name:type`` in an atomic file's header).
_RECBOLE_TYPE = re.compile(r":(token|token_seq|float|float_seq)$")


@dataclass(frozen=True)
class Meta:
    """A metadata table: one row per key, text columns.

    Attributes
    ----------
    path : str
        The file it was read from (named in messages).
    key_column : str
        The name of the key column.
    columns : tuple of str
        The other columns, in file order (may be empty).
    keys : tuple of str
        The key of each row, ``(n,)``; unique.
    values : dict of str to list of (str or None)
        For each name in `columns`, one value per row, ``(n,)``: text, or None where the
        cell is empty or null.
    """

    path: str
    key_column: str
    columns: tuple[str, ...]
    keys: tuple[str, ...] = field(repr=False)
    values: dict[str, list[str | None]] = field(repr=False)

    def __post_init__(self) -> None:
        if set(self.values) != set(self.columns):
            raise ValueError(f"values has columns {sorted(self.values)}, expected {list(self.columns)}")
        for name in self.columns:
            if len(self.values[name]) != len(self.keys):
                raise ValueError(f"column {name!r} has {len(self.values[name])} values for "
                                 f"{len(self.keys)} keys")

    @functools.cached_property
    def _index(self) -> tuple[Any, np.ndarray | None]:
        """The pandas Index of the keys, and the row of each unique key if keys repeat."""
        index = _pd_index(np.asarray(self.keys, dtype=object))
        if index.is_unique:
            return index, None
        first = ~index.duplicated(keep="first")  # a Meta built by hand may repeat keys
        return index[first], np.flatnonzero(first)

    @functools.cached_property
    def _arrays(self) -> dict[str, np.ndarray]:
        """Each column as an object array ``(n + 1,)`` whose last element is None."""
        return {}

    def _array(self, column: str) -> np.ndarray:
        arrays = self._arrays
        if column not in arrays:
            values = self.keys if column == self.key_column else self.values[column]
            arr = np.empty(len(values) + 1, dtype=object)
            arr[:-1] = values
            arrays[column] = arr  # arr[-1] is None: where a row index of -1 lands
        return arrays[column]

    def _check_column(self, column: str) -> None:
        if column != self.key_column and column not in self.values:
            raise InvalidQuery(f"{self.path}: no column {column!r} "
                               f"(columns: {_listing((self.key_column, *self.columns))})")

    def _rows(self, keys: Sequence[str]) -> np.ndarray:
        """Return the row of each of `keys`: int64 ``(len(keys),)``, -1 where a key is absent."""
        index, rows = self._index
        query = np.empty(len(keys), dtype=object)
        query[:] = list(keys)
        found = index.get_indexer(_pd_index(query))
        if rows is not None:
            found = np.where(found >= 0, rows[found], -1)
        return np.asarray(found, dtype=np.int64)

    def align(self, keys: Sequence[str],
              columns: Sequence[str] | None = None) -> dict[str, list[str | None]]:
        """Return the values of `columns` for each of `keys`, in that order.

        Vectorised (one hash lookup of all keys, pandas ``Index.get_indexer``), so aligning
        the 3,000,000 keys of a large item table is a matter of seconds.

        Parameters
        ----------
        keys : sequence of str
            Keys, ``(m,)``; text, compared exactly (``"42"`` is not ``"042"``).
        columns : sequence of str, optional
            Columns to return, in this order; default all of :attr:`columns`. The key column
            may be named too (its value is the key, or None if absent).

        Returns
        -------
        dict of str to list of (str or None)
            For each column, ``(m,)`` values: the key's value, or None where the key is not in
            the table or its cell is empty.

        Raises
        ------
        InvalidQuery
            If a column is not in the table (the message lists the columns).
        """
        if columns is None:
            names: Sequence[str] = self.columns
        else:
            names = [columns] if isinstance(columns, str) else list(columns)
        for name in names:
            self._check_column(name)
        found = self._rows(keys)
        return {name: self._array(name)[found].tolist() for name in names}

    def find(self, column: str, pattern: str) -> list[str]:
        """Return the keys whose `column` equals `pattern`, or matches it as ``/regex/``.

        Parameters
        ----------
        column : str
            A column of the table (the key column too).
        pattern : str
            Text compared exactly with each value (case-sensitive); or, written between
            slashes (``/^Toy Story/``), a regular expression searched in each value
            (:func:`re.search`; ``(?i)`` makes it case-insensitive). At most
            :data:`MAX_PATTERN` (500) characters as a regex. Empty values never match.

        Returns
        -------
        list of str
            The matching keys in table order; empty if none match.

        Raises
        ------
        InvalidQuery
            If `column` is not in the table (the message lists the columns), or the regex is
            longer than 500 characters or does not compile.
        """
        self._check_column(column)
        values = self._array(column)[:-1]
        if len(pattern) >= 2 and pattern.startswith("/") and pattern.endswith("/"):
            if len(pattern) > MAX_PATTERN:
                raise InvalidQuery(f"{self.path}: the regular expression for column {column} is "
                                   f"{len(pattern):,} characters; at most {MAX_PATTERN} are allowed")
            try:
                regex = re.compile(pattern[1:-1])
            except re.error as exc:
                where = "" if exc.pos is None else f" at position {exc.pos}"
                raise InvalidQuery(f"{self.path}: bad regular expression {pattern} for column "
                                   f"{column}: {exc.msg}{where}") from None
            search = regex.search
            hits = np.fromiter((v is not None and search(v) is not None for v in values),
                               dtype=bool, count=len(values))
        else:
            hits = values == pattern
        keys = self.keys
        return [keys[i] for i in np.flatnonzero(hits)]


def split_values(value: str | None, sep: str) -> list[str]:
    """Split a multi-valued cell: ``'Animation|Comedy'`` becomes ``['Animation', 'Comedy']``.

    Parameters
    ----------
    value : str or None
        A cell of a :class:`Meta` column.
    sep : str
        The separator (``"|"`` for joined lists, ``" "`` for RecBole's ``token_seq``).

    Returns
    -------
    list of str
        The parts, stripped of surrounding whitespace, empty parts dropped; ``[]`` for None.

    Raises
    ------
    InvalidQuery
        If `sep` is empty.
    """
    if not sep:
        raise InvalidQuery("the separator to split values by is empty")
    if value is None:
        return []
    return [part.strip() for part in value.split(sep) if part.strip()]


def read_meta(path: str | os.PathLike, key_column: str | None = None, *,
              exclude: Sequence[str] = ()) -> Meta:
    """Read a metadata table: TSV, CSV, RecBole ``.item``, Parquet, Arrow IPC or Feather.

    The format follows the file name (see the module docstring); text files need a header
    row. Every value is read as text exactly as written; empty cells and nulls are None.

    Parameters
    ----------
    path : str or os.PathLike
        The file, or a folder of Parquet parts.
    key_column : str, optional
        The column holding the keys; default the first column. Its values are the keys as
        written (integer ids in decimal: ``42``); only a line's carriage return is removed.
    exclude : sequence of str
        Columns not to read (a vector column, say); names absent from the file are ignored.

    Returns
    -------
    Meta
        One row per distinct key, in file order. Rows whose key is empty are dropped; of rows
        repeating a key, the first is kept. Both are reported once with
        :func:`embviz.errors.warn`.

    Raises
    ------
    FormatError
        If the file does not exist, is empty or has no header, cannot be parsed, has no
        column `key_column` (the message lists the columns), or its key column is not text or
        integers.
    InvalidQuery
        If `exclude` names the key column.
    MissingDependency
        If pandas (text) or pyarrow (Parquet, Arrow) is not installed.
    """
    p = Path(path)
    where = str(path)
    if not p.exists():
        raise FormatError(f"{where}: no such file")
    if p.is_dir():
        kind = "parquet"
    else:
        kind = _kind(p)
    excluded = {exclude} if isinstance(exclude, str) else set(exclude)
    if kind in ("parquet", "arrow"):
        read = _read_arrow(p, where, kind, key_column, excluded)
    else:
        read = _read_text(p, where, kind, key_column, excluded)
    return _build(where, *read)


# -- formats ------------------------------------------------------------------------------


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


# -- assembling ---------------------------------------------------------------------------


def _build(where: str, key: str, keys: np.ndarray, columns: dict[str, np.ndarray]) -> Meta:
    """Drop rows without a key and rows repeating a key (warning once each); make the Meta."""
    keep = np.not_equal(keys, None) & np.not_equal(keys, "")
    empty = int(len(keys) - keep.sum())
    if empty:
        warn(f"{where}: {empty:,} {_plural(empty, 'row')} with an empty key in column {key} "
             f"{'was' if empty == 1 else 'were'} skipped")
    index = _pd_index(keys[keep] if empty else keys)
    repeated = np.zeros(len(keys), dtype=bool)
    repeated[keep] = index.duplicated(keep="first")
    count = int(repeated.sum())
    if count:
        first = keys[int(np.argmax(repeated))]
        warn(f"{where}: {count:,} duplicate {_plural(count, 'key')} in column {key} "
             f"(first: {first!r}); the first row of each is kept")
        keep &= ~repeated
    if not keep.all():
        keys = keys[keep]
        columns = {name: values[keep] for name, values in columns.items()}
    meta = Meta(path=where, key_column=key, columns=tuple(columns), keys=tuple(keys.tolist()),
                values={name: values.tolist() for name, values in columns.items()})
    if not count:  # the index just built (and hashed) is the Meta's: keep it
        meta.__dict__["_index"] = (index, None)
    return meta


def _pd_index(keys: np.ndarray) -> Any:
    """Return a pandas Index of object dtype over `keys` ``(n,)`` (no str-dtype inference)."""
    pd = require("pandas")
    return pd.Index(keys, dtype=object, copy=False)


def _plural(n: int, word: str) -> str:
    return word if n == 1 else word + "s"


def _listing(names: Sequence[str]) -> str:
    """Join names with commas: at most 20, then how many more."""
    names = list(names)
    if len(names) <= _MAX_LISTED:
        return ", ".join(names)
    return ", ".join(names[:_MAX_LISTED]) + f", ... ({len(names) - _MAX_LISTED:,} more)"


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__
