"""Interaction logs: (user, item[, timestamp][, weight]) rows, grouped into users' histories.

Read with pyarrow (Parquet, Arrow/Feather, and its CSV reader for CSV, TSV, RecBole ``.inter``),
then grouped with numpy over sorted columns: never a Python loop per row. Item keys are mapped
to the rows of an item table once (``pandas.Index.get_indexer``); rows whose item is not in the
table, or whose user or item is missing, are dropped and counted.

This module groups a log into :class:`Histories` (:func:`read_histories`); opening the log,
reading its columns and choosing which is which (:func:`log_columns`,
:func:`pick_log_columns`) is :mod:`embviz.io.log_reader`, whose names are importable from here
as before.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

import numpy as np

from embviz.errors import FormatError
from embviz.io.log_reader import (  # noqa: F401 - the names are re-exported as before
    _BATCH_ROWS,
    _ITEM_NAMES,
    _TIME_NAMES,
    _USER_NAMES,
    _as_text,
    _checked,
    _combined,
    _first_line,
    _integral_text,
    _names,
    _pick,
    _plain,
    _read_columns,
    _table_reader,
    log_columns,
    pick_log_columns,
    unique_columns,
)

if TYPE_CHECKING:
    from numpy.typing import NDArray


@dataclass(frozen=True)
class Histories:
    """Users' histories as a CSR table over the rows of an item table, each in time order.

    Attributes
    ----------
    users : tuple of str
        The users, in order of first appearance in the log, ``(u,)``.
    indptr : ndarray ``(u + 1,)`` int64
        User ``j``'s events are ``items[indptr[j]:indptr[j + 1]]``.
    items : ndarray ``(nnz,)`` int64
        Row ids of the item table, oldest first within a user (file order without timestamps).
    weights : ndarray ``(nnz,)`` float32 or None
        The weight column, when one was named.
    source : str
        The log's file name, for messages.
    rows : int
        Rows read from the log.
    unknown_items : int
        Rows dropped because their item is not in the item table.
    missing : int
        Rows dropped because the user or item is empty or null.
    unknown_examples : tuple of str
        Up to 3 unknown item keys, for the warning.
    times : ndarray ``(nnz,)`` or None
        Each event's time, aligned with `items`, when read with ``with_times=True``: numbers
        as read (int64 or float64), dates and times as ``datetime64`` (ISO 8601 text parsed).
    missing_times : int
        Rows dropped because their time is null (only with ``with_times=True``).
    time_column : str or None
        The column the events were ordered by (None: file order).
    kept_unknown : bool
        Whether events with items outside the table were kept (as item id -1,
        ``keep_unknown=True``) rather than dropped; `unknown_items` counts them either way.
    """

    users: tuple[str, ...]
    indptr: NDArray[np.int64]
    items: NDArray[np.int64]
    weights: NDArray[np.float32] | None
    source: str
    rows: int
    unknown_items: int = 0
    missing: int = 0
    unknown_examples: tuple[str, ...] = ()
    times: NDArray[Any] | None = None
    missing_times: int = 0
    time_column: str | None = None
    kept_unknown: bool = False

    @property
    def user_to_index(self) -> dict[str, int]:
        """``{user: j}`` for the users' positions."""
        return {u: j for j, u in enumerate(self.users)}

    def history(self, j: int) -> NDArray[np.int64]:
        """User ``j``'s item rows, oldest first, ``(h,)`` int64 (-1: an unknown item, if kept)."""
        return self.items[self.indptr[j] : self.indptr[j + 1]]

    def lengths(self) -> NDArray[np.int64]:
        """Events per user ``(u,)`` int64."""
        return np.diff(self.indptr)


class _Factorizer:
    """Codes of a column's values across batches, in order of first appearance (-1: null or empty).

    The distinct values so far are one Arrow string array (compact; no Python string per
    value until :attr:`values` is asked for); each batch's distinct values are looked up in it
    with ``pyarrow.compute.index_in``.
    """

    def __init__(self) -> None:
        self._seen: Any = None

    @property
    def values(self) -> list[str]:
        """The distinct values, in code order."""
        return [] if self._seen is None else self._seen.to_pylist()

    def __call__(self, col: Any) -> NDArray[np.int32]:
        import pyarrow as pa
        import pyarrow.compute as pc

        enc = pc.dictionary_encode(_combined(col))
        local = _as_text(enc.dictionary)
        local = local.cast(pa.large_string()) if not pa.types.is_large_string(local.type) else local
        blank = pc.fill_null(pc.equal(local, ""), True).to_numpy(zero_copy_only=False).astype(bool)
        if self._seen is None:
            glob = np.full(len(local), -1, dtype=np.int64)
        else:
            glob = pc.index_in(local, value_set=self._seen).fill_null(-1).to_numpy(zero_copy_only=False)
            glob = glob.astype(np.int64)
        new = np.flatnonzero((glob < 0) & ~blank)  # local dictionary order: first appearance
        if len(new):
            start = 0 if self._seen is None else len(self._seen)
            glob[new] = np.arange(start, start + len(new))
            added = local.take(pa.array(new))
            self._seen = added if self._seen is None else pa.concat_arrays([self._seen, added])
        glob[blank] = -1
        codes = enc.indices.fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int64)
        glob = np.append(glob, -1)  # codes -1 (null) index this; also when every value is null
        return glob[np.where(codes >= 0, codes, len(glob) - 1)].astype(np.int32)


def _order_key(col: Any) -> tuple[NDArray[Any], NDArray[np.bool_]]:
    """Return a time column as ``(key, null)`` numpy orders exactly: numbers, int64 ticks, or strings.

    Integers, timestamps and dates stay int64 (float64 would tie nanosecond timestamps and
    integers beyond 2**53); `null` marks missing times (and NaN), which sort after every time.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    t = _combined(col)
    if pa.types.is_timestamp(t.type) or pa.types.is_duration(t.type):
        t = pc.cast(t, pa.int64())
    elif pa.types.is_date(t.type):
        t = pc.cast(pc.cast(t, pa.date32()), pa.int32())
    null = t.is_null().to_numpy(zero_copy_only=False).astype(bool)
    if pa.types.is_integer(t.type) or pa.types.is_boolean(t.type):
        tv = t.fill_null(0).to_numpy(zero_copy_only=False)
    elif pa.types.is_floating(t.type):
        tv = t.to_numpy(zero_copy_only=False).astype(np.float64)
        null |= np.isnan(tv)
        tv = np.where(null, 0.0, tv)
    else:
        tv = t.to_numpy(zero_copy_only=False)
        if tv.dtype == object:
            tv = np.asarray([("" if x is None else str(x)) for x in tv])
    return tv, null


def read_histories(
    path: str | os.PathLike,
    item_keys: Sequence[str],
    *,
    user_column: str | None = None,
    item_column: str | None = None,
    time_column: str | None = None,
    weight_column: str | None = None,
    keep_unknown: bool = False,
    with_times: bool = False,
) -> Histories:
    """Read an interaction log and group it into users' histories over an item table.

    Parameters
    ----------
    path : path-like
        Parquet (file or folder of parts), Arrow/Feather, CSV (``.csv``) or tab-separated text
        (``.tsv``, ``.txt``, RecBole's ``.inter``), with a header row.
    item_keys : sequence of str
        The item table's keys in row order (``Vectors.keys``).
    user_column, item_column : str, optional
        Default: a column named like ``user``/``user_id`` (``item``/``item_id``/``movie_id``
        ...), else the first (second) column. RecBole's ``user_id:token`` matches ``user_id``.
    time_column : str, optional
        Orders each history (oldest first); default a column named ``timestamp``/``time``/
        ``ts``, else file order. Any orderable type (numbers, dates, ISO text).
    weight_column : str, optional
        A numeric weight per event (a rating, a play count), for weighted user vectors.
    keep_unknown : bool
        Keep the events whose item is not in the item table, as item id -1 (still counted in
        ``unknown_items``), so that positions in a history stay those of the log (next-item
        evaluation: dropping an unknown last item would silently make the one before it the
        target). Default: drop them.
    with_times : bool
        Return each event's time (``Histories.times``). The time column must then hold numbers,
        dates, timestamps or ISO 8601 text; rows with a null time are dropped and counted
        (``missing_times``).

    Returns
    -------
    Histories

    Raises
    ------
    FormatError
        If the file cannot be read, a named column is missing, the weight column is not
        numeric, the log has no events, or no row has a user, an item and a known item (with
        `keep_unknown`: a user and an item); with `with_times`, if the time column holds text
        that is not a date or time.
    """
    import pandas as pd
    import pyarrow as pa
    import pyarrow.compute as pc

    path = Path(path)
    if not path.exists():
        raise FormatError(f"{path}: no such file")
    read, names, (ucol, icol, tcol, wcol) = log_columns(
        path, user_column, item_column, time_column, (weight_column, "weights (--weight-column)")
    )
    # batch by batch: the user and item columns are dictionary-encoded per batch and only the
    # distinct values become Python strings (a whole column of 20,000,000 strings took 1.5 GB)
    item_index = pd.Index(list(item_keys), dtype=object)
    user_codes = _Factorizer()
    parts: dict[str, list] = {"u": [], "r": [], "t": [], "w": []}
    example_list: list[str] = []
    n = 0
    for batch in read([c for c in (ucol, icol, tcol, wcol) if c is not None], batches=True, text=(ucol, icol)):
        parts["u"].append(user_codes(batch[ucol]))
        enc = pc.dictionary_encode(_combined(batch[icol]))
        local = _as_text(enc.dictionary).to_pylist()
        rows_of = np.asarray(item_index.get_indexer(pd.Index(local, dtype=object)), dtype=np.int64)
        rows_of[[j for j, v in enumerate(local) if v is None or v == ""]] = -2  # no item: missing
        icodes = enc.indices.fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int64)
        rows_of = np.append(rows_of, -2)  # null items index this; also when every item is null
        r = rows_of[np.where(icodes >= 0, icodes, len(rows_of) - 1)]
        if len(example_list) < 3:
            bad = np.flatnonzero((r == -1) & (parts["u"][-1] >= 0))[:1000]
            example_list = list(dict.fromkeys([*example_list, *(local[c] for c in icodes[bad].tolist())]))[:3]
        parts["r"].append(r.astype(np.int32))  # item rows (-1 unknown, -2 missing): half the bytes of int64
        if tcol is not None:
            parts["t"].append(_event_times(path, tcol, batch[tcol]) if with_times else _order_key(batch[tcol]))
        if wcol is not None:
            w = batch[wcol]
            if not (pa.types.is_floating(w.type) or pa.types.is_integer(w.type)):
                raise FormatError(f"{path}: column {wcol!r} is {w.type}, expected numbers for --weight-column")
            parts["w"].append(np.asarray(w.to_numpy(zero_copy_only=False), dtype=np.float64))
        n += len(r)
        release_memory()  # each batch's temporaries, handed back before the next batch's
    release_memory()
    if n == 0:
        raise FormatError(f"{path}: the log has no events (0 rows; columns: {', '.join(names)})")
    ucodes_all = np.concatenate(parts.pop("u"))  # int32, as the batches are
    rows = np.concatenate(parts.pop("r"))
    ok = (ucodes_all >= 0) & (rows != -2)
    missing = int(n - ok.sum())
    rows[rows == -2] = -1
    unknown = ok & (rows < 0)
    examples = tuple(example_list)
    keep = ok & (rows >= 0) if not keep_unknown else ok.copy()
    tv = tnull = None
    times = None
    missing_times = 0
    if tcol is not None:
        pieces = parts.pop("t")
        tv = np.concatenate([p[0] for p in pieces])
        tnull = np.concatenate([p[1] for p in pieces])
    if tcol is not None and with_times:
        times = tv
        has_time = ~tnull
        missing_times = int((keep & ~has_time).sum())
        keep &= has_time
    weights = None
    if wcol is not None:
        weights_all = np.concatenate(parts.pop("w"))
        bad = keep & ~np.isfinite(weights_all)
        if bad.any():
            line = int(np.flatnonzero(bad)[0]) + 1
            raise FormatError(f"{path}: row {line:,}: weight in column {wcol!r} is empty or not finite")
    kept = int(keep.sum())
    idx = np.flatnonzero(keep) if kept < n else None  # None: every row (no 160 MB of indices)
    if kept == 0 and keep_unknown:
        raise FormatError(
            f"{path}: no event has a user, an item and a time ({n:,} rows; {missing:,} without a user or "
            f"item; {missing_times:,} without a time); columns used: user {ucol!r}, item {icol!r}"
        )
    if kept == 0:
        raise FormatError(
            f"{path}: no event has a known item ({n:,} rows, {int(unknown.sum()):,} with items not in "
            f"the item table, e.g. {', '.join(map(repr, examples)) or 'none'}; {missing:,} without a "
            f"user or item); columns used: user {ucol!r}, item {icol!r}"
        )
    unknown_count = int(unknown.sum())
    del unknown, ok
    everything = idx is None  # the usual case: no copies of the kept rows
    ucodes = ucodes_all if everything else ucodes_all[idx]
    del ucodes_all, keep
    # users with a kept event, in order of first appearance in the log (codes follow it)
    all_users = user_codes.values
    present = np.bincount(ucodes, minlength=len(all_users)) > 0
    remap = (np.cumsum(present) - 1).astype(np.int32)
    codes = remap[ucodes]
    del ucodes
    uniques = [u for u, keep_u in zip(all_users, present.tolist()) if keep_u]
    del all_users
    tk = None if tv is None else (tv if everything else tv[idx])
    tkn = None if tnull is None else (tnull if everything else tnull[idx])
    if tk is None or (tk.dtype.kind in "iufM" and not tkn.any() and bool(np.all(tk[1:] >= tk[:-1]))):
        order = _stable_order(codes, len(uniques))  # file order (or time order already) within each user
    else:  # by time within each user, missing times last; equal times keep file order (stable)
        try:
            order = np.lexsort((tk, tkn, codes))
        except TypeError:
            raise FormatError(f"{path}: column {tcol!r} cannot be ordered (mixed types)") from None
    del tk, tkn
    codes = codes[order]
    counts = np.bincount(codes, minlength=len(uniques))
    del codes
    indptr = np.zeros(len(uniques) + 1, dtype=np.int64)
    np.cumsum(counts, out=indptr[1:])
    if wcol is not None:
        weights = (weights_all if everything else weights_all[idx])[order].astype(np.float32)
    items = (rows if everything else rows[idx])[order].astype(np.int64)
    del rows
    event_times = None if times is None else (times if everything else times[idx])[order]
    return Histories(
        users=tuple(uniques),
        indptr=indptr,
        items=items,
        weights=weights,
        source=path.name,
        rows=n,
        unknown_items=unknown_count,
        missing=missing,
        unknown_examples=examples,
        times=event_times,
        missing_times=missing_times,
        time_column=tcol,
        kept_unknown=keep_unknown,
    )


def release_memory() -> None:
    """Hand freed memory back to the system: Arrow's pool, then glibc's heap (``malloc_trim``).

    Reading a log of 20,000,000 events batch by batch frees hundreds of MB of temporaries
    (Arrow's decoded columns, numpy's per-batch arrays) that both allocators keep for reuse
    and that, fragmented, the next batch's allocations do not fit: the process grew by about
    1.1 GB for 240 MB of kept codes. Trimming after each batch holds the peak of reading the
    1,000,000-user benchmark log to about 930 MB instead of 1,290 (2-core AMD EPYC). Not glibc
    (musl, macOS): Arrow's pool only.
    """
    import ctypes

    import pyarrow as pa

    pa.default_memory_pool().release_unused()
    global _TRIM
    if _TRIM is None:
        try:
            _TRIM = ctypes.CDLL("libc.so.6").malloc_trim
        except (OSError, AttributeError):
            _TRIM = False
    if _TRIM:
        _TRIM(0)


_TRIM: Any = None  # glibc's malloc_trim, once looked up (False: not glibc)


def _stable_order(codes: NDArray[np.int32], count: int) -> NDArray[np.integer]:
    """``np.argsort(codes, kind="stable")`` for codes in ``[0, count)``, by 16-bit radix passes.

    numpy sorts 16-bit integers by radix sort and wider ones by timsort: two radix passes (the
    low half, then the high half of the codes in that order) give the same stable order about
    four times faster (2,000,000 events of 100,000 users: 0.27 s instead of 1.2 s, loaded machine).
    """
    if count <= 1 << 16:
        return np.argsort(codes.astype(np.uint16), kind="stable")
    if count > 1 << 32:  # pragma: no cover - more users than int32 codes hold
        return np.argsort(codes, kind="stable")
    low = np.argsort((codes & 0xFFFF).astype(np.uint16), kind="stable").astype(np.int32)  # < 2**31 events
    high = (codes[low] >> 16).astype(np.uint16)
    second = np.argsort(high, kind="stable")
    del high
    return low[second]  # int32 positions: half the memory of intp; numpy indexes with either


def _event_times(path: Path, tcol: str, col: Any) -> tuple[NDArray[Any], NDArray[np.bool_]]:
    """Return a time column as numpy ``(times, null)``: numbers as read, dates and times as ``datetime64``.

    Integers stay int64 (exact), nulls marked in `null` (NaN and NaT too). ISO 8601 text is
    parsed; other text raises :class:`FormatError` naming a value that is not a time.
    """
    out = _event_values(path, tcol, col)
    null = np.isnan(out) if out.dtype.kind == "f" else np.isnat(out) if out.dtype.kind == "M" else None
    if null is None:
        import pyarrow as pa

        t = col.combine_chunks() if isinstance(col, pa.ChunkedArray) else col
        null = t.is_null().to_numpy(zero_copy_only=False).astype(bool)
    return out, null


def _event_values(path: Path, tcol: str, col: Any) -> NDArray[Any]:
    import pyarrow as pa
    import pyarrow.compute as pc

    t = col.combine_chunks() if isinstance(col, pa.ChunkedArray) else col
    if pa.types.is_integer(t.type):
        return t.fill_null(0).to_numpy(zero_copy_only=False)  # exact; the nulls are marked apart
    if pa.types.is_floating(t.type):
        return t.to_numpy(zero_copy_only=False).astype(np.float64)
    if pa.types.is_timestamp(t.type) or pa.types.is_date(t.type):
        return np.asarray(t.to_numpy(zero_copy_only=False))
    if pa.types.is_string(t.type) or pa.types.is_large_string(t.type):
        try:
            parsed = pc.cast(t, pa.timestamp("us"))
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            parsed = None
        if parsed is not None:
            return np.asarray(parsed.to_numpy(zero_copy_only=False))
        import pandas as pd

        values = t.to_pandas()
        when = pd.to_datetime(values, errors="coerce", format="ISO8601", utc=True)  # offsets -> UTC
        bad = np.flatnonzero(values.notna().to_numpy() & when.isna().to_numpy())
        if len(bad) == 0:
            return when.dt.tz_localize(None).to_numpy(dtype="datetime64[us]")
        raise FormatError(
            f"{path}: row {int(bad[0]) + 1:,}: time {values.iloc[int(bad[0])]!r} in column {tcol!r} is not a "
            "number, a date or an ISO 8601 time; events must be ordered by time (name another column with "
            "--time-column)"
        )
    raise FormatError(f"{path}: column {tcol!r} is {t.type}, expected numbers, dates or times for --time-column")
