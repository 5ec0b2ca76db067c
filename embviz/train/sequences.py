"""item2vec's corpus: users' item sequences from an interaction log, written once for gensim.

item2vec (Barkan & Koenigstein 2016) is word2vec's skip-gram with negative sampling trained on
sets of items (a user's history, a session, a basket) instead of sentences. This module turns
an interaction log (user, item, optional time, optional basket) into those sequences without
Python lists: the columns are dictionary-encoded by pyarrow, ordered by one ``np.lexsort``
(user, then basket, then time; equal times keep file order), cut where the user or basket
changes, where two events of a user are further apart than a session gap, and every
:data:`MAX_LENGTH` items (gensim's ``MAX_WORDS_IN_BATCH``: longer sentences are cut by
gensim's readers anyway, here it is counted and said). The sequences are written as one line
each to a temporary text file of item codes (decimal row numbers of the log's distinct items, so
item ids holding spaces or any other character are safe), which gensim's ``corpus_file``
mode trains on with every core; :attr:`Sequences.items` maps the codes back to the item ids.

Nothing here prints; errors are :class:`~embviz.errors.FormatError` with one line.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from embviz.errors import FormatError, InvalidQuery
from embviz.io.interactions import _as_text, _combined, log_columns

#: Longest sequence written: gensim reads at most 10,000 tokens of a line
#: (``gensim.models.word2vec.MAX_WORDS_IN_BATCH``); longer sequences are cut into chunks.
MAX_LENGTH = 10_000
#: The item2vec default window covers the whole sequence, up to this many items each side.
WINDOW_CAP = 1_000
_UNITS = {"s": 1.0, "m": 60.0, "min": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0}


@dataclass(frozen=True)
class Sequences:
    """Item sequences written for training, and what they were built from.

    Attributes
    ----------
    path : Path
        The corpus file: one sequence per line, items as decimal codes (``0 .. len(items)-1``).
    tmpdir : Path
        The temporary directory holding `path`; :meth:`cleanup` removes it.
    items : tuple of str
        Item id of each code, ``(d,)``, in order of first appearance in the log.
    counts : ndarray ``(d,)`` int64
        Events of each item (its popularity).
    source : str
        The log's path, as given.
    fingerprint : str
        ``blake2b-256:`` digest of the log's bytes (a folder: of its files in name order).
    rows, events, users, sequences, longest, cut : int
        Rows read; events used (rows with a user and an item); distinct users; sequences
        written; items in the longest sequence before cutting; sequences cut at
        :data:`MAX_LENGTH`.
    columns : dict
        The columns used, by role (``user``, ``item``, ``time``, ``basket``).
    unit : str
        What a sequence is: ``"user"`` (each user's whole history), ``"session"`` or
        ``"basket"``.
    held_out : int
        Events left out as each user's last one (``hold_out_last``), for a fair leave-last-out
        ``embviz evaluate next-item`` afterwards.
    session_gap : float or None
        The gap that starts a new session, in the time column's units (seconds for timestamps).
    """

    path: Path
    tmpdir: Path
    items: tuple[str, ...]
    counts: NDArray[np.int64]
    source: str
    fingerprint: str
    rows: int
    events: int
    users: int
    sequences: int
    longest: int
    cut: int
    columns: dict = field(default_factory=dict)
    unit: str = "user"
    session_gap: float | None = None
    held_out: int = 0

    def cleanup(self) -> None:
        """Remove the temporary corpus file."""
        shutil.rmtree(self.tmpdir, ignore_errors=True)

    def describe(self) -> str:
        """One line for stderr: events, users, sequences and how they were cut."""
        what = {"user": "users' histories", "session": "sessions", "basket": "baskets"}[self.unit]
        text = (f"{self.events:,} events of {self.users:,} users and {len(self.items):,} items "
                f"from {Path(self.source).name}: {self.sequences:,} sequences ({what}")
        if self.unit == "session":
            text += f", a new session after a gap over {self.session_gap:g}"
        text += f"; longest {self.longest:,} items)"
        if self.held_out:
            text += f"; each user's last event held out ({self.held_out:,} events)"
        if self.cut:
            text += f"; {self.cut:,} longer than {MAX_LENGTH:,} items cut into chunks of {MAX_LENGTH:,}"
        return text

    def provenance(self) -> dict[str, Any]:
        """Return the sidecar's ``interactions`` record."""
        return {
            "source": self.source, "fingerprint": self.fingerprint, "rows": self.rows,
            "events": self.events, "users": self.users, "items": len(self.items),
            "sequences": self.sequences, "unit": self.unit, "session_gap": self.session_gap,
            "longest": self.longest, "cut": self.cut, "max_length": MAX_LENGTH, "held_out": self.held_out,
            "columns": dict(self.columns),
        }


def parse_gap(text: str) -> float:
    """Return a session gap such as ``30m``, ``2h``, ``90s``, ``1d`` in seconds.

    A bare number (``1800``) is taken in the time column's own units (seconds for Unix
    timestamps). Raises :class:`InvalidQuery` for anything else or a gap <= 0.
    """
    m = re.fullmatch(r"\s*([0-9]*\.?[0-9]+(?:[eE][+-]?[0-9]+)?)\s*([a-zA-Z]*)\s*", str(text))
    unit = m.group(2).lower() if m else ""
    if m is None or (unit and unit not in _UNITS):
        raise InvalidQuery(f"--session-gap {text!r}: expected a duration such as 30m, 2h, 90s or 1d")
    value = float(m.group(1)) * (_UNITS[unit] if unit else 1.0)
    if not value > 0:
        raise InvalidQuery(f"--session-gap {text!r}: expected a gap above 0")
    return value


def _digest(path: Path) -> str:
    h = hashlib.blake2b(digest_size=32)
    files = sorted(q for q in path.rglob("*") if q.is_file()) if path.is_dir() else [path]
    for f in files:
        with open(f, "rb") as fh:
            while chunk := fh.read(1 << 22):
                h.update(chunk)
    return f"blake2b-256:{h.hexdigest()}"


def _times(path: Path, col: Any, name: str) -> tuple[NDArray, NDArray[np.float64]]:
    """Return the time column as ``(order key, seconds)``.

    The order key is exact (int64 ticks of timestamps, days of dates, the integers or floats as
    read: float64 would tie nanosecond timestamps and integers beyond 2**53); the seconds
    (float64; timestamps and dates in seconds, numbers as read) measure session gaps.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    col = _combined(col)
    if col.null_count:
        row = int(np.flatnonzero(col.is_null().to_numpy(zero_copy_only=False))[0]) + 1
        raise FormatError(f"{path}: row {row:,}: no time in column {name!r}")
    t = col.type
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        try:
            col = pc.cast(col, pa.timestamp("us"))
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            bad = next((v for v in col.to_pylist()[:100_000] if not _is_time(v)), col[0].as_py())
            raise FormatError(
                f"{path}: column {name!r} holds {bad!r}: expected numbers (Unix seconds), dates or "
                "ISO 8601 times for --time-column"
            ) from None
        t = col.type
    if pa.types.is_timestamp(t):
        per_second = {"s": 1.0, "ms": 1e3, "us": 1e6, "ns": 1e9}[t.unit]
        ticks = pc.cast(col, pa.int64()).to_numpy(zero_copy_only=False)
        return ticks, ticks.astype(np.float64) / per_second
    if pa.types.is_date(t):
        days = pc.cast(pc.cast(col, pa.date32()), pa.int32()).to_numpy(zero_copy_only=False)
        return days, days.astype(np.float64) * 86400.0
    if pa.types.is_integer(t) or pa.types.is_floating(t):
        exact = col.to_numpy(zero_copy_only=False)
        values = exact.astype(np.float64)
        bad = ~np.isfinite(values)
        if bad.any():
            row = int(np.flatnonzero(bad)[0]) + 1
            raise FormatError(f"{path}: row {row:,}: time in column {name!r} is not a finite number")
        return (exact if exact.dtype.kind in "iu" else values), values
    raise FormatError(f"{path}: column {name!r} is {t}: expected numbers, dates or timestamps for --time-column")


def _is_time(value: Any) -> bool:
    import pyarrow as pa
    import pyarrow.compute as pc

    try:
        pc.cast(pa.array([value]), pa.timestamp("us"))
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return False
    return True


def build(
    path: str | os.PathLike,
    *,
    user_column: str | None = None,
    item_column: str | None = None,
    time_column: str | None = None,
    session_gap: float | None = None,
    basket_column: str | None = None,
    hold_out_last: bool = False,
    tmp_dir: str | os.PathLike | None = None,
) -> Sequences:
    """Build item2vec's sequences from an interaction log and write them for gensim.

    Parameters
    ----------
    path : path-like
        Parquet (file or folder), Arrow/Feather, CSV or TSV (RecBole ``.inter``) with a header;
        see :func:`embviz.io.interactions.read_histories` for how columns are found.
    user_column, item_column, time_column : str, optional
        The columns (default: by name, else the first and second; the time column by name
        only). Without a time column each user's events keep the file's order.
    session_gap : float, optional
        Start a new sequence when two consecutive events of a user are more than this apart
        (the time column's units; seconds for timestamps and dates). Needs a time column.
    basket_column : str, optional
        One sequence per (user, basket): orders, carts, playlists.
    hold_out_last : bool
        Leave out each user's last event (by time; the test target of a leave-last-out
        evaluation, ``embviz evaluate next-item``), so the vectors never saw it.
    tmp_dir : path-like, optional
        Where the temporary corpus file goes (default: the system's).

    Returns
    -------
    Sequences
        Call :meth:`Sequences.cleanup` when done with the file.

    Raises
    ------
    FormatError
        A missing file or column, an empty log, or times that are not numbers, dates or ISO
        8601 text.
    InvalidQuery
        `session_gap` without a time column, or with a basket column.
    """
    import pyarrow as pa

    path = Path(path)
    if not path.exists():
        raise FormatError(f"{path}: no such file")
    if session_gap is not None and basket_column is not None:
        raise InvalidQuery("--session-gap and --basket-column both cut sequences: give one")
    read, names, (ucol, icol, tcol, bcol) = log_columns(
        path, user_column, item_column, time_column, (basket_column, "baskets (--basket-column)")
    )
    if session_gap is not None and tcol is None:
        raise InvalidQuery(f"--session-gap needs a time column; {path.name} has none by name "
                           f"(columns: {', '.join(names)}): name it with --time-column")
    cols = read([c for c in (ucol, icol, tcol, bcol) if c is not None], text=(ucol, icol))
    rows = len(cols[ucol])
    # codes first, text only for the distinct values: casting 20,000,000 integer ids to strings
    # cost more than everything else together
    ucodes, _ = _encode(cols.pop(ucol))
    icodes, item_ids = _encode(cols.pop(icol))
    ok = (ucodes >= 0) & (icodes >= 0)
    if not ok.any():
        raise FormatError(f"{path}: no event with a user and an item ({rows:,} rows); columns used: "
                          f"user {ucol!r}, item {icol!r}")
    keep = np.flatnonzero(ok) if not ok.all() else None
    sort_keys: list[NDArray] = []
    t = None
    if tcol is not None:
        col = cols.pop(tcol)
        if keep is not None:  # rows without a user or item are left out before their times count
            col = _combined(col).take(pa.array(keep))
        exact, t = _times(path, col, tcol)
        sort_keys.append(exact)
        del exact
    b = None
    if bcol is not None:
        b, _ = _encode(cols.pop(bcol))
    if keep is not None:
        ucodes, icodes = ucodes[keep], icodes[keep]
        b = b[keep] if b is not None else None
    if b is not None:
        sort_keys.append(b)
    sort_keys.append(ucodes)
    order = _order(sort_keys)
    if order is not None:
        ucodes, icodes = ucodes[order], icodes[order]
    held_out = 0
    if hold_out_last:  # the last event of each user (rows are in user, then time order)
        last = np.ones(len(ucodes), dtype=bool)
        last[:-1] = ucodes[1:] != ucodes[:-1]
        if b is not None:  # baskets: the same rule on the user-time order is ambiguous
            raise InvalidQuery("--hold-out-last holds out each user's last event: not with --basket-column")
        held_out = int(last.sum())
        stay = ~last
        if not stay.any():
            raise FormatError(f"{path}: every user has one event: nothing is left to train on after "
                              "holding out each user's last")
        ucodes, icodes = ucodes[stay], icodes[stay]
        if t is not None:
            t = (t if order is None else t[order])[stay]
            order = None
    n = len(ucodes)
    start = np.zeros(n, dtype=bool)
    start[0] = True
    start[1:] = ucodes[1:] != ucodes[:-1]
    unit = "user"
    if b is not None:
        b = b if order is None else b[order]
        start[1:] |= b[1:] != b[:-1]
        unit = "basket"
    if session_gap is not None:
        t = t if order is None else t[order]
        start[1:] |= (t[1:] - t[:-1]) > session_gap
        unit = "session"
    del order, t, b
    users = int(np.count_nonzero(ucodes[1:] != ucodes[:-1])) + 1  # sorted by user
    heads = np.flatnonzero(start)
    lengths = np.diff(np.append(heads, n))
    longest = int(lengths.max())
    cut = int(np.count_nonzero(lengths > MAX_LENGTH))
    if cut:  # every MAX_LENGTH-th item of a long sequence starts a chunk
        pos = np.arange(n) - np.repeat(heads, lengths)
        start |= (pos > 0) & (pos % MAX_LENGTH == 0)
        heads = np.flatnonzero(start)
    n_items = len(item_ids)
    counts = np.bincount(icodes, minlength=n_items).astype(np.int64)
    tmpdir = Path(tempfile.mkdtemp(prefix="embviz-item2vec-", dir=tmp_dir))
    try:
        corpus = tmpdir / "sequences.txt"
        _write(corpus, icodes, heads, n_items)
    except BaseException:
        shutil.rmtree(tmpdir, ignore_errors=True)
        raise
    return Sequences(
        path=corpus, tmpdir=tmpdir, items=item_ids, counts=counts, source=str(path),
        fingerprint=_digest(path), rows=rows, events=n, users=users,
        sequences=len(heads), longest=longest, cut=cut,
        columns={k: v for k, v in (("user", ucol), ("item", icol), ("time", tcol), ("basket", bcol)) if v},
        unit=unit, session_gap=session_gap, held_out=held_out,
    )


def _encode(col: Any) -> tuple[NDArray[np.int64], tuple[str, ...]]:
    """Dictionary-encode a column: codes ``(n,)`` int64 (-1: null or empty) and the distinct values as text."""
    import pyarrow.compute as pc

    enc = pc.dictionary_encode(_combined(col))
    values = _as_text(enc.dictionary).to_pylist()
    codes = enc.indices.fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int64)
    empty = [j for j, v in enumerate(values) if v is None or v == ""]
    if empty:
        codes[np.isin(codes, empty)] = -1
    return codes, tuple(values)


def _order(keys: list[NDArray]) -> NDArray[np.int64] | None:
    """Return the stable order by ``keys[-1]``, then ``keys[-2]`` ... (``np.lexsort``), or None.

    None: the rows are in that order already.

    Logs usually come in time order, or grouped by user: then one stable sort by user, or none
    at all, gives the order of the full lexsort.
    """
    n = len(keys[-1])
    tied = np.ones(max(n - 1, 0), dtype=bool)  # consecutive rows equal in every more major key
    ordered = True
    for key in reversed(keys):
        up, same = key[1:] > key[:-1], key[1:] == key[:-1]
        if not np.all(up | same | ~tied):
            ordered = False
            break
        tied &= same
    if ordered:
        return None
    if len(keys) == 2 and np.all(keys[0][1:] >= keys[0][:-1]):  # in time order: group by user
        return np.argsort(keys[-1], kind="stable")
    if len(keys) == 1:
        return np.argsort(keys[0], kind="stable")
    return np.lexsort(keys)


def _write(corpus: Path, codes: NDArray, heads: NDArray[np.int64], n_items: int) -> None:
    """Write one line per sequence (``codes[heads[j]:heads[j+1]]``), in blocks of events."""
    import pyarrow as pa
    import pyarrow.compute as pc

    tokens = pa.array(np.arange(n_items).astype(str), type=pa.large_string())
    bounds = np.append(heads, len(codes))
    budget = 4_000_000  # events per block: bounded memory for any log
    with open(corpus, "wb") as f:
        lo = 0
        while lo < len(heads):
            # whole sequences up to the budget (at least one)
            hi = max(lo + 1, int(np.searchsorted(bounds, bounds[lo] + budget, side="right")) - 1)
            hi = min(hi, len(heads))
            a, z = int(bounds[lo]), int(bounds[hi])
            values = tokens.take(pa.array(codes[a:z]))
            lists = pa.LargeListArray.from_arrays(pa.array(bounds[lo : hi + 1] - a, type=pa.int64()), values)
            space, empty, newline = (pa.scalar(c, pa.large_string()) for c in (" ", "", "\n"))
            lines = pc.binary_join_element_wise(pc.binary_join(lists, space), empty, newline)
            offsets = np.frombuffer(lines.buffers()[1], dtype=np.int64, count=len(lines) + 1, offset=lines.offset * 8)
            f.write(memoryview(lines.buffers()[2])[offsets[0] : offsets[-1]])
            lo = hi
