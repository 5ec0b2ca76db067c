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

This module holds :class:`Meta`, :func:`read_meta` and the assembling of a table (rows without
a key or repeating one dropped); reading each format, and rendering Arrow columns as text, is
:mod:`embviz.io.meta_formats`, whose names are importable from here as before.
"""

from __future__ import annotations

import functools
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from embviz.errors import FormatError, InvalidQuery, require, warn
from embviz.io.meta_formats import (  # noqa: F401 - the private names are re-exported as before
    _ARROW_SUFFIXES,
    _COMPRESSION_SUFFIXES,
    _MAX_LISTED,
    _PARQUET_SUFFIXES,
    _RECBOLE_SUFFIXES,
    _RECBOLE_TYPE,
    _TSV_SUFFIXES,
    _arrow_text,
    _as_text_array,
    _compression,
    _decompressed_head,
    _float_text,
    _is_list,
    _is_string_view,
    _joined,
    _key_type,
    _kind,
    _listing,
    _one_line,
    _parquet_parts,
    _read_arrow,
    _read_ipc,
    _read_text,
    _recbole_name,
    _recbole_names,
    _select_key,
    _vector_type,
)

#: Longest ``/regex/`` :meth:`Meta.find` accepts, in characters (slashes included).
MAX_PATTERN = 500


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
