"""The one place that chooses and writes the output format of a command.

stdout carries only data: a rich table on a terminal, TSV with a header row on a pipe, and
``--format`` always wins. TSV/CSV write scores with fixed precision (6 decimals) so diffs and
tests stay stable; JSON and JSONL keep full precision. None of the machine formats ever carries
colour, truncation or box characters.
"""

from __future__ import annotations

import csv
import json
import math
import sys
from dataclasses import asdict, fields, is_dataclass
from enum import Enum
from typing import Any, Iterable, Mapping, Sequence, TextIO


class OutputFormat(str, Enum):
    """Output formats of every command (``--format/-f``)."""

    table = "table"
    tsv = "tsv"
    csv = "csv"
    json = "json"
    jsonl = "jsonl"


def stdout_is_terminal() -> bool:
    """Whether stdout is a terminal: the one seam tests patch."""
    return sys.stdout.isatty()


def choose_format(explicit: OutputFormat | None, is_terminal: bool) -> OutputFormat:
    """Return `explicit` if given, else a table on a terminal and TSV on a pipe."""
    if explicit is not None:
        return OutputFormat(explicit)
    return OutputFormat.table if is_terminal else OutputFormat.tsv


def _as_dict(row: Any) -> dict[str, Any]:
    if is_dataclass(row):
        return {f.name: getattr(row, f.name) for f in fields(row)}
    return dict(row)


def _text(value: Any, digits: int) -> str:
    """Format one cell for TSV/CSV/table: floats fixed-point, vectors space-separated."""
    if isinstance(value, float):
        if not math.isfinite(value):
            return str(value)
        if value != 0 and abs(value) < 0.5 * 10**-digits:  # a p-value of 1e-28 is not 0.000000
            return f"{value:.3g}"
        return f"{value:.{digits}f}"
    if isinstance(value, (list, tuple)):
        return " ".join(f"{float(v):.6g}" for v in value)
    if value is None:
        return ""
    return str(value)


def tsv_escape(text: str) -> str:
    r"""Escape a TSV cell: backslash, tab, newline and carriage return as ``\\ \t \n \r``."""
    if "\t" in text or "\n" in text or "\\" in text or "\r" in text:
        text = text.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n")
        text = text.replace("\r", "\\r")
    return text


def _json_value(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, tuple):
        return [_json_value(v) for v in value]
    if hasattr(value, "tolist"):
        return value.tolist()
    return value


def write_rows(
    rows: Iterable[Any],
    fmt: OutputFormat,
    out: TextIO,
    *,
    columns: Sequence[str] | None = None,
    header: bool = True,
    digits: int = 6,
    title: str | None = None,
) -> None:
    """Write `rows` (dataclasses or mappings with the same fields) to `out` in `fmt`.

    Parameters
    ----------
    rows : iterable of dataclass instances or mappings
    fmt : OutputFormat
    out : text stream
        stdout in the CLI.
    columns : sequence of str, optional
        Column names, needed only when `rows` may be empty (for the TSV/CSV header).
    header : bool
        Write the header row in TSV/CSV (``--no-header`` turns it off).
    digits : int
        Decimals of floats in TSV, CSV and table (JSON keeps full precision).
    title : str, optional
        Caption of the table (table format only).
    """
    dicts = [_as_dict(r) for r in rows]
    cols = list(columns or (dicts[0].keys() if dicts else []))
    if fmt == OutputFormat.jsonl:
        for d in dicts:
            out.write(json.dumps({k: _json_value(v) for k, v in d.items()}, ensure_ascii=False))
            out.write("\n")
    elif fmt == OutputFormat.json:
        data = [{k: _json_value(v) for k, v in d.items()} for d in dicts]
        out.write(json.dumps(data, ensure_ascii=False, indent=2) + "\n")
    elif fmt == OutputFormat.tsv:
        if header and cols:
            out.write("\t".join(cols) + "\n")
        for d in dicts:
            out.write("\t".join(tsv_escape(_text(d[c], digits)) for c in cols) + "\n")
    elif fmt == OutputFormat.csv:
        writer = csv.writer(out, lineterminator="\n")
        if header and cols:
            writer.writerow(cols)
        for d in dicts:
            writer.writerow([_text(d[c], digits) for c in cols])
    else:
        _write_table(dicts, cols, out, digits=min(digits, 4), title=title)


def write_record(record: Mapping[str, Any] | Any, fmt: OutputFormat, out: TextIO, **kw: Any) -> None:
    """Write one record (``info``): a two-column property table on a terminal, else one row."""
    d = _as_dict(record)
    if fmt == OutputFormat.table:
        rows = [{"property": k, "value": _text(v, 4)} for k, v in d.items()]
        _write_table(rows, ["property", "value"], out, digits=4, title=kw.get("title"))
    elif fmt == OutputFormat.json:
        out.write(json.dumps({k: _json_value(v) for k, v in d.items()}, ensure_ascii=False, indent=2))
        out.write("\n")
    else:
        write_rows([d], fmt, out, **kw)


def _write_table(
    dicts: list[dict[str, Any]], cols: list[str], out: TextIO, *, digits: int, title: str | None
) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title, title_justify="left", header_style="bold")
    numeric = {c: bool(dicts) and all(isinstance(d[c], (int, float)) for d in dicts) for c in cols}
    for c in cols:
        table.add_column(c, justify="right" if numeric[c] else "left", overflow="fold")
    for d in dicts:
        table.add_row(*(_table_cell(d[c], digits) for c in cols))
    Console(file=out, highlight=False).print(table)


def _table_cell(value: Any, digits: int) -> str:
    from rich.markup import escape

    if isinstance(value, (list, tuple)) and len(value) > 8:
        head = ", ".join(f"{float(v):.3f}" for v in value[:4])
        tail = ", ".join(f"{float(v):.3f}" for v in value[-2:])
        return escape(f"[{head}, ..., {tail}] ({len(value)} dims)")
    return escape(_text(value, digits))


def as_list(values: Sequence[Any]) -> list[Any]:
    """Return a column as a list of Python objects (a numpy array's ``tolist()``; a list as it is)."""
    return values.tolist() if hasattr(values, "tolist") and not isinstance(values, list) else list(values)


def asdicts(rows: Iterable[Any]) -> list[dict[str, Any]]:
    """Rows as plain dicts (for callers that post-process rows)."""
    return [asdict(r) if is_dataclass(r) else dict(r) for r in rows]


class RowFile:
    """Rows streamed to a file, block by block, and renamed into place only when complete.

    The format comes from the suffix: ``.parquet`` (pyarrow, one row group per block),
    ``.tsv``, ``.csv`` or ``.jsonl``/``.json`` (one object per line). The rows go to a
    temporary file beside `path`; :meth:`close` renames it, :meth:`discard` (or an exception
    inside ``with``) removes it, so a failed or interrupted run never leaves a half-written
    file.

    Parameters
    ----------
    path : path-like
    columns : sequence of str
        Column names, in order.
    types : mapping of str to str, optional
        ``"int"``, ``"float"`` or ``"str"`` per column (Parquet's schema; default str).
    """

    SUFFIXES = (".parquet", ".tsv", ".csv", ".jsonl", ".json")

    def __init__(self, path: Any, columns: Sequence[str], types: Mapping[str, str] | None = None) -> None:
        import os
        import tempfile
        from pathlib import Path

        self.path = Path(path)
        self.kind = self.path.suffix.lower()
        if self.kind not in self.SUFFIXES:
            raise ValueError(f"{self.path}: unknown output type; expected one of {', '.join(self.SUFFIXES)}")
        self.columns = list(columns)
        self.types = dict(types or {})
        fd, tmp = tempfile.mkstemp(prefix=f".{self.path.name}.", suffix=".part", dir=self.path.parent)
        os.close(fd)
        self.tmp = Path(tmp)
        self.rows = 0
        self._writer: Any = None
        self._text: TextIO | None = None
        if self.kind != ".parquet":
            self._text = open(self.tmp, "w", encoding="utf-8", newline="")
            if self.kind in (".tsv", ".csv"):
                write_rows([], OutputFormat.tsv if self.kind == ".tsv" else OutputFormat.csv, self._text,
                           columns=self.columns)

    def write(self, columns: Mapping[str, Sequence[Any]]) -> None:
        """Append one block given as columns (equal lengths), e.g. ``{"user": [...], "rank": [...]}``.

        A column may be a list or a numpy array (object arrays of str, int64 ranks, float32
        scores): Parquet takes the arrays as they are (no Python object per value), the text
        formats get their values as Python objects, so every format prints what a list gives.
        """
        n = len(columns[self.columns[0]]) if self.columns else 0
        if n == 0:
            return
        self.rows += n
        if self.kind == ".parquet":
            import pyarrow as pa
            import pyarrow.parquet as pq

            kinds = {"int": pa.int64(), "float": pa.float32(), "str": pa.string()}
            schema = pa.schema([(c, kinds[self.types.get(c, "str")]) for c in self.columns])
            table = pa.table({c: pa.array(columns[c], type=schema.field(c).type) for c in self.columns},
                             schema=schema)
            if self._writer is None:
                self._writer = pq.ParquetWriter(self.tmp, schema)
            self._writer.write_table(table)
            return
        rows = [dict(zip(self.columns, values)) for values in zip(*(as_list(columns[c]) for c in self.columns))]
        fmt = {".tsv": OutputFormat.tsv, ".csv": OutputFormat.csv}.get(self.kind, OutputFormat.jsonl)
        write_rows(rows, fmt, self._text, columns=self.columns, header=False)

    def close(self) -> int:
        """Finish the file and rename it into place; returns the rows written."""
        import os

        if self.kind == ".parquet" and self._writer is None:  # no rows: still a valid, empty table
            self._empty_parquet()
        if self._writer is not None:
            self._writer.close()
        if self._text is not None:
            self._text.close()
        os.replace(self.tmp, self.path)
        return self.rows

    def _empty_parquet(self) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        kinds = {"int": pa.int64(), "float": pa.float32(), "str": pa.string()}
        schema = pa.schema([(c, kinds[self.types.get(c, "str")]) for c in self.columns])
        pq.write_table(schema.empty_table(), self.tmp)

    def discard(self) -> None:
        """Remove the temporary file (after an error or an interrupt)."""
        try:
            if self._writer is not None:
                self._writer.close()
            if self._text is not None:
                self._text.close()
        finally:
            self.tmp.unlink(missing_ok=True)

    def __enter__(self) -> "RowFile":
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        if exc_type is None:
            self.close()
        else:
            self.discard()
