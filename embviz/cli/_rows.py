"""The rows a command writes: stdout in the chosen format, or --output, streamed; output paths checked first.

:func:`emit` writes a list of rows to stdout; :func:`write_blocks` streams blocks of rows to
--output (Parquet, TSV, CSV, JSONL) or stdout, with a progress bar on a terminal;
:func:`check_output` and :func:`check_row_file` fail before any work when a path cannot be
written. The format itself is chosen by :mod:`embviz.output`. Importable from
:mod:`embviz.cli._common` as before.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

from embviz import output
from embviz.cli._stderr import message, progress
from embviz.errors import InvalidQuery
from embviz.output import OutputFormat


def check_output(path: Path, *, folder: bool = False) -> Path:
    """Fail before any work when `path` cannot be written: one error naming what to do.

    `folder`: the output is a directory (created later, when the data is ready), so only its
    parent must exist. Returns `path` with ``~`` expanded.
    """
    path = Path(path).expanduser()
    if folder:
        if path.exists() and not path.is_dir():
            raise InvalidQuery(f"{path}: exists and is not a directory")
    elif path.is_dir():
        raise InvalidQuery(f"{path}: is a directory, expected a file name")
    parent = path.parent
    if not parent.is_dir():
        raise InvalidQuery(f"{path}: directory {parent} does not exist")
    if not os.access(parent, os.W_OK):
        raise InvalidQuery(f"{path}: directory {parent} is not writable")
    return path


def check_row_file(path: Path) -> Path:
    """Check an --output file before any work: a known suffix, a writable directory."""
    path = check_output(path)
    if path.suffix.lower() not in output.RowFile.SUFFIXES:
        raise InvalidQuery(
            f"--output {path}: unknown type {path.suffix or '(no suffix)'!r}; expected "
            + ", ".join(output.RowFile.SUFFIXES)
        )
    return path


def emit(
    rows: Iterable[Any],
    fmt: OutputFormat | None,
    no_header: bool = False,
    *,
    columns: Sequence[str] | None = None,
    title: str | None = None,
) -> None:
    """Write rows to stdout in the chosen format."""
    chosen = output.choose_format(fmt, output.stdout_is_terminal())
    output.write_rows(list(rows), chosen, sys.stdout, columns=columns, header=not no_header, title=title)
    sys.stdout.flush()


def with_provenance(rows: list[Any], fmt: OutputFormat | None, text: str | None) -> list[Any]:
    """Add a ``search`` field (how the rows were found) to JSON/JSONL rows; others unchanged."""
    chosen = output.choose_format(fmt, output.stdout_is_terminal())
    if text is None or chosen not in (OutputFormat.json, OutputFormat.jsonl):
        return rows
    return [dict(d, search=text) for d in output.asdicts(rows)]


def write_blocks(
    blocks: Iterable[Any],
    columns_of: Callable[..., dict[str, list[Any]]],
    columns: Sequence[str],
    total: int,
    what: str,
    fmt: OutputFormat | None,
    no_header: bool,
    output_file: Path | None,
    *,
    types: dict[str, str] | None = None,
    provenance: str | None = None,
) -> int:
    """Stream blocks of rows to --output or stdout, with a progress bar on a terminal.

    `columns_of(*block)` turns one block into columns. TSV, CSV and JSONL go out block by block
    (the header once); a table or a JSON array needs all rows, so they are collected first.
    Returns the number of rows written.
    """
    types = types or {"rank": "int", "score": "float"}
    chosen = output.choose_format(fmt, output.stdout_is_terminal())
    streaming = chosen in (OutputFormat.tsv, OutputFormat.csv, OutputFormat.jsonl)
    sink = output.RowFile(output_file, columns, types) if output_file is not None else None
    kept: list[dict[str, Any]] = []
    rows = 0
    first = True
    try:
        with progress() as bar:
            task = bar.add_task(what, total=total)
            for block in blocks:
                cols = columns_of(*block)
                n = len(cols[columns[0]])
                rows += n
                bar.advance(task, len(block[0]))
                if sink is not None:
                    sink.write(cols)
                    continue
                dicts = [dict(zip(columns, values)) for values in zip(*(output.as_list(cols[c]) for c in columns))]
                if provenance is not None and chosen in (OutputFormat.json, OutputFormat.jsonl):
                    dicts = [dict(d, search=provenance) for d in dicts]
                if streaming:
                    output.write_rows(dicts, chosen, sys.stdout, columns=columns, header=first and not no_header)
                    first = False
                else:
                    kept.extend(dicts)
    except BaseException:
        if sink is not None:
            sink.discard()
        raise
    if sink is not None:
        sink.close()
        message(f"wrote {rows:,} rows to {output_file}")
    elif not streaming:
        output.write_rows(kept, chosen, sys.stdout, columns=columns, header=not no_header)
    elif first:  # no block at all: the header alone
        output.write_rows([], chosen, sys.stdout, columns=columns, header=not no_header)
    sys.stdout.flush()
    return rows


def quiet_broken_pipe() -> None:
    """After a closed pipe (``| head``), silence the flush at exit."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass
