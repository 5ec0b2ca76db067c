"""The log reader: an interaction log's columns as pyarrow arrays, and which column is which.

:func:`log_columns` opens a log (Parquet file or folder, Arrow/Feather, CSV, TSV, RecBole
``.inter``) with pyarrow and chooses its user, item, time and extra columns
(:func:`pick_log_columns`: named ones, else ones named like a user, an item, a time); the
reader it returns gives columns whole or in batches of at most :data:`_BATCH_ROWS` rows, ids of
a text log as written, and every string column checked to be UTF-8 (:func:`_checked`).
:func:`_as_text` and :func:`_combined` are the text helpers the grouping in
:mod:`embviz.io.interactions` and the training corpus share. pyarrow is imported inside the
functions that use it; the names are importable from :mod:`embviz.io.interactions` as before.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

from embviz.errors import FormatError

#: Column names taken for users, items and timestamps when none is named (lower case, RecBole's
#: ``:token`` suffixes removed), in order of preference.
_USER_NAMES = ("user", "user_id", "userid", "uid", "customer_id", "visitor_id", "session_id", "session")
_ITEM_NAMES = ("item", "item_id", "itemid", "iid", "movie_id", "movieid", "product_id", "article_id", "track_id")
_TIME_NAMES = ("timestamp", "time", "ts", "datetime", "date", "event_time", "t_dat")


def _plain(name: str) -> str:
    return name.split(":", 1)[0].strip().lower()


def _pick(path: Path, names: list[str], wanted: str | None, prefs: tuple[str, ...], what: str,
          fallback: int | None, taken: set[str]) -> str | None:
    """Return the column for `what`: `wanted` by name, else a known name, else column `fallback`."""
    listed = ", ".join(names)
    if wanted is not None:
        found = wanted if wanted in names else next((n for n in names if _plain(n) == wanted.lower()), None)
        if found is None:
            raise FormatError(f"{path}: no column {wanted!r} for the {what} (columns: {listed})")
        if found in taken:
            raise FormatError(f"{path}: column {found!r} is already used for another role; name another for the {what}")
        return found
    for pref in prefs:
        for n in names:
            if n not in taken and _plain(n) == pref:
                return n
    free = [n for n in names if n not in taken]
    if fallback is not None and fallback < len(names) and names[fallback] not in taken:
        return names[fallback]
    if fallback is not None and free:
        return free[0]
    return None


#: Rows per batch when a log is encoded batch by batch (bounded memory: no column of strings
#: is ever whole).
_BATCH_ROWS = 1 << 20


def _read_columns(path: Path) -> tuple[Any, list[str]]:
    """Return ``(reader, column names)``.

    ``reader(cols)`` gives a dict of column -> pyarrow array; ``reader(cols, batches=True)``
    yields such dicts for batches of at most :data:`_BATCH_ROWS` rows, in file order (a
    Parquet log is then never read whole). ``reader(cols, text=(...))`` reads those columns of
    a CSV/TSV log as text, as written (ids such as ``007`` stay ``007``, never the number 7).
    A column of bytes that are not UTF-8 text is a :class:`FormatError` naming it.
    """
    import pyarrow as pa

    suffix = "".join(s.lower() for s in path.suffixes[-2:])
    if path.is_dir() or suffix.endswith(".parquet") or suffix.endswith(".pq"):
        import pyarrow.parquet as pq

        try:
            dataset = pq.ParquetDataset(path)
            names = _names(path, dataset.schema)
        except (pa.ArrowException, OSError) as exc:
            raise FormatError(f"{path}: cannot read the Parquet log: {_first_line(exc)}") from None

        def batches(cols: list[str]) -> Any:
            try:
                for f in dataset.files:
                    pf = pq.ParquetFile(f, filesystem=dataset.filesystem)
                    for b in pf.iter_batches(batch_size=_BATCH_ROWS, columns=cols):
                        yield _checked(path, {c: b.column(c) for c in cols})
            except (pa.ArrowException, OSError) as exc:
                raise FormatError(f"{path}: cannot read the Parquet log: {_first_line(exc)}") from None

        def read(cols: list[str], batches: bool = False, text: Sequence[str] = ()) -> Any:  # noqa: ARG001
            if batches:
                return _batches_of(cols)
            try:
                t = dataset.read(columns=cols)
            except (pa.ArrowException, OSError) as exc:
                raise FormatError(f"{path}: cannot read the Parquet log: {_first_line(exc)}") from None
            return _checked(path, {c: t.column(c) for c in cols})

        _batches_of = batches
        return read, names
    if suffix.endswith((".arrow", ".feather", ".ipc")):
        import pyarrow.feather as feather

        try:
            table = feather.read_table(path)
            table.validate(full=True)
        except (pa.ArrowException, OSError) as exc:
            raise FormatError(f"{path}: cannot read the Arrow log: {_first_line(exc)}") from None
        return _table_reader(path, table), _names(path, table.schema)
    import pyarrow.csv as pcsv

    delimiter = "," if ".csv" in suffix else "\t"
    options = {
        "read_options": pcsv.ReadOptions(use_threads=True),
        "parse_options": pcsv.ParseOptions(delimiter=delimiter, quote_char='"' if delimiter == "," else False),
    }
    try:  # the header (and the first block, to type it): the names, before any column is read
        with pcsv.open_csv(path, **options) as head:
            names = _names(path, head.schema)
    except (pa.ArrowException, OSError) as exc:
        raise FormatError(f"{path}: cannot read the interaction log: {_first_line(exc)}") from None

    def read_csv(cols: list[str], batches: bool = False, text: Sequence[str] = ()) -> Any:
        try:
            table = pcsv.read_csv(path, **options, convert_options=pcsv.ConvertOptions(
                strings_can_be_null=True, include_columns=cols,
                column_types={c: pa.string() for c in text if c in cols}))
        except (pa.ArrowException, OSError) as exc:
            raise FormatError(f"{path}: cannot read the interaction log: {_first_line(exc)}") from None
        table = pa.table({c: _integral_text(table.column(c)) if c in text else table.column(c) for c in cols})
        return _table_reader(path, table)(cols, batches)

    return read_csv, names


def _names(path: Path, schema: Any) -> list[str]:
    """Return the column names of `schema`; a name that is not UTF-8 is a :class:`FormatError`."""
    try:
        return list(schema.names)
    except UnicodeDecodeError as exc:
        raise FormatError(f"{path}: the header (column names) is not UTF-8 text: {exc.reason} at byte "
                          f"{exc.start} of a name; save the log as UTF-8") from None


def _first_line(exc: BaseException) -> str:
    return str(exc).strip().split("\n")[0]


def _table_reader(path: Path, table: Any) -> Any:
    def read_table(cols: list[str], batches: bool = False, text: Sequence[str] = ()) -> Any:  # noqa: ARG001
        if batches:
            return (_checked(path, {c: b.column(c) for c in cols})
                    for b in table.select(cols).to_batches(max_chunksize=_BATCH_ROWS))
        return _checked(path, {c: table.column(c) for c in cols})

    return read_table


def _checked(path: Path, cols: dict[str, Any]) -> dict[str, Any]:
    """Return `cols`, with columns of bytes as text; text that is not UTF-8 is a FormatError."""
    import pyarrow as pa
    import pyarrow.compute as pc

    for c, col in cols.items():
        if pa.types.is_string(col.type) or pa.types.is_large_string(col.type):
            try:  # Parquet does not check its strings: invalid UTF-8 would fail far from here
                col.validate(full=True)
            except pa.ArrowInvalid:
                raise FormatError(f"{path}: column {c!r} holds bytes that are not UTF-8 text "
                                  "(save the log as UTF-8)") from None
        elif pa.types.is_binary(col.type) or pa.types.is_large_binary(col.type):
            try:
                cols[c] = pc.cast(col, pa.string() if pa.types.is_binary(col.type) else pa.large_string())
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
                raise FormatError(f"{path}: column {c!r} holds bytes that are not UTF-8 text "
                                  "(save the log as UTF-8)") from None
    return cols


def _integral_text(col: Any) -> Any:
    """Return a text id column, with ``1.0``-style ids as ``1`` when every id is written so.

    (A log written from a float column, as pandas writes ids next to a missing value, reads
    like the integers it held; any other text stays as written: ``007``, ``1e3``, ``+5``.)
    """
    import pyarrow.compute as pc

    valid = col.drop_null() if hasattr(col, "drop_null") else col
    if len(valid) and pc.all(pc.match_substring_regex(valid, r"^-?[0-9]+\.0+$")).as_py():
        return pc.replace_substring_regex(col, r"\.0+$", "")
    return col


def unique_columns(path: Path, names: list[str], used: Sequence[str | None]) -> None:
    """Raise :class:`FormatError` if a column used appears more than once in the header."""
    for c in used:
        if c is not None and names.count(c) > 1:
            raise FormatError(f"{path}: column {c!r} appears {names.count(c)} times in the header; "
                              "rename one, or name another column")


def _as_text(col: Any) -> Any:
    """Return a pyarrow column as strings (integers in decimal), nulls kept."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if pa.types.is_floating(col.type):  # ids written as floats (1.0): integers if they are
        if pc.all(pc.equal(pc.floor(col), col)).as_py() is not False:
            col = pc.cast(col, pa.int64(), safe=True)
    if not (pa.types.is_string(col.type) or pa.types.is_large_string(col.type)):
        col = pc.cast(col, pa.string())
    return col


def _combined(col: Any) -> Any:
    """Return a chunked pyarrow column as one array (dictionary encoding wants one)."""
    return col.combine_chunks() if hasattr(col, "combine_chunks") else col


def log_columns(
    path: Path,
    user_column: str | None,
    item_column: str | None,
    time_column: str | None,
    extra: tuple[str | None, str] = (None, ""),
) -> tuple[Any, list[str], tuple[str, str, str | None, str | None]]:
    """Open a log and choose its columns: ``(reader, names, (user, item, time, extra))``.

    The user and item columns are the named ones, else the first column named like a user
    (item), else the first (second) column; the time column is the named one or one named
    like a time, else None; `extra` is ``(wanted name or None, role for messages)``, e.g. a
    weight or basket column, used only when named. See :func:`_read_columns` for the reader.

    Raises
    ------
    FormatError
        If the log cannot be read, has fewer than two columns, a named column is missing or
        a chosen column's name appears more than once.
    """
    read, names = _read_columns(path)
    return read, names, pick_log_columns(path, names, user_column, item_column, time_column, extra)


def pick_log_columns(
    path: Path | str,
    names: list[str],
    user_column: str | None,
    item_column: str | None,
    time_column: str | None,
    extra: tuple[str | None, str] = (None, ""),
) -> tuple[str, str, str | None, str | None]:
    """Choose a log's ``(user, item, time, extra)`` columns among `names`, as :func:`log_columns` does.

    For logs read by another engine (Spark), which knows the names without embviz reading the file.

    Raises
    ------
    FormatError
        Fewer than two columns, a named column missing, or a chosen name appearing twice.
    """
    path = Path(path) if not isinstance(path, Path) else path
    if len(names) < 2:
        raise FormatError(f"{path}: expected at least two columns (user, item), found {len(names)}")
    taken: set[str] = set()
    ucol = _pick(path, names, user_column, _USER_NAMES, "users (--user-column)", 0, taken)
    taken.add(ucol)
    icol = _pick(path, names, item_column, _ITEM_NAMES, "items (--item-column)", 1, taken)
    taken.add(icol)
    tcol = _pick(path, names, time_column, _TIME_NAMES, "timestamps (--time-column)", None, taken)
    if tcol is not None:
        taken.add(tcol)
    wanted, role = extra
    xcol = _pick(path, names, wanted, (), role, None, taken) if wanted is not None else None
    unique_columns(path, names, (ucol, icol, tcol, xcol))
    return ucol, icol, tcol, xcol
