"""Which columns of a table hold the keys and the vectors, and the schema checks run first.

:func:`choose_columns` applies the rules of :mod:`embviz.io.tables` (``--key-column``, a key
named like one, a ``list<float>`` or Spark ML vector column, a wide layout of numeric columns)
to a pyarrow schema; :func:`_check_schema` refuses a schema no reader can use safely (duplicate
column names, negative fixed-size lists). The type predicates here (``_is_string``,
``_vector_kind``, ...) are shared with :mod:`embviz.io.table_batches`. pyarrow is imported
lazily, through :func:`_pa`.
"""

from __future__ import annotations

import fnmatch
import re
from pathlib import Path
from typing import Any

from embviz.errors import FormatError, require
from embviz.io.options import SourceOptions

_KEY_TOKENS = {"key", "keys", "word", "words", "token", "tokens", "id", "ids", "item", "items",
               "name", "names", "label", "labels", "term", "terms", "vocab"}
_EXTRA = "pyarrow"


def _pa() -> Any:
    return require("pyarrow", package=_EXTRA)


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
