"""The keys of a lookup table, held without a string per key until one is asked for.

- :class:`RowIds`: the keys ``"0" ... "n-1"`` of a table without keys (a ``.npy`` matrix),
  made on demand.
- :class:`KeyBlob`: the keys of a cache entry as its ``keys.txt`` bytes, decoded when asked.

Both behave like the tuple of their keys. Used by :class:`embviz.vectors.Vectors` (which
re-exports them); below it in the layers, so nothing here imports the table.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Iterator, Sequence

import numpy as np

if TYPE_CHECKING:
    from numpy.typing import NDArray


class RowIds(Sequence[str]):
    """The keys ``"0" ... "n-1"`` of a table without keys, made on demand (never all at once).

    An ``nn.Embedding`` table is looked up by its row ids: building 400,000 key strings and
    checking them for duplicates costs more than mapping the whole ``.npy``, so this sequence
    computes ``str(i)`` when asked. It behaves like the tuple of those strings: indexing,
    slicing (a prefix stays a ``RowIds``), iteration, ``len``, ``in``, ``index`` and ``==``
    against a tuple or list of the same strings. Its keys are unique by construction.

    Parameters
    ----------
    n : int
        Number of rows, >= 0.
    """

    __slots__ = ("_n",)
    unique = True

    def __init__(self, n: int) -> None:
        self._n = int(n)

    def __len__(self) -> int:
        return self._n

    def __getitem__(self, i):  # noqa: ANN001, ANN204 - int or slice, as a tuple
        if isinstance(i, slice):
            start, stop, step = i.indices(self._n)
            if start == 0 and step == 1:
                return RowIds(max(stop, 0))
            return tuple(map(str, range(start, stop, step)))
        i = int(i)
        if i < 0:
            i += self._n
        if not 0 <= i < self._n:
            raise IndexError("row id out of range")
        return str(i)

    def __iter__(self) -> Iterator[str]:
        return map(str, range(self._n))

    def _id(self, key: object) -> int | None:
        if not isinstance(key, str) or not key.isascii() or not key.isdigit():
            return None
        i = int(key)
        return i if i < self._n and str(i) == key else None

    def __contains__(self, key: object) -> bool:
        return self._id(key) is not None

    def index(self, key: object, *args: int) -> int:
        """Return the row id of `key`; raises ValueError if `key` is not one."""
        i = self._id(key)
        if i is None or (args and not args[0] <= i < (args[1] if len(args) > 1 else self._n)):
            raise ValueError(f"{key!r} is not a row id")
        return i

    def count(self, key: object) -> int:
        """1 if `key` is a row id, else 0."""
        return int(self._id(key) is not None)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, RowIds):
            return other._n == self._n
        if isinstance(other, (tuple, list)):
            return len(other) == self._n and all(a == b for a, b in zip(self, other))
        return NotImplemented

    def __hash__(self) -> int:
        return hash(tuple(self))

    def __repr__(self) -> str:
        return f"RowIds({self._n})"


class KeyBlob(Sequence[str]):
    """The keys of a cache entry, kept as its ``keys.txt`` bytes and decoded when asked.

    Mapping a 3,000,000-key entry then costs finding the line ends (one numpy pass over the
    bytes, tens of milliseconds) instead of decoding and splitting every key (about 0.5 s),
    and a query that names a few keys finds each by a byte search (:meth:`index`). Iterating,
    ``==``, ``hash``, the id map and more than ``max(DECODE_ALL_AFTER, n // 64)`` single reads
    (a single read costs about 1/64 of decoding everything per key) decode all
    keys once, as a tuple would hold them, and keep them. Behaves like the tuple of the keys:
    indexing, slicing (a tuple), iteration, ``len``, ``in``, ``index``, ``count`` and ``==``.
    The cache stores unique keys, and a keys file is kept this way only when its keys are
    proven distinct, so ``unique`` is set.

    Parameters
    ----------
    blob : bytes
        UTF-8 keys, each followed by a newline byte (valid UTF-8; checked by the caller).
    ends : ndarray ``(n,)`` int64
        The offsets of the newline bytes, ascending.
    checked : bool
        `ends` was read from a file (a cache entry's ``key_ends.npy``), not measured from
        `blob`: every single read checks that the offsets it uses fall on newline bytes and
        raises :class:`~embviz.errors.FormatError` if not, rather than return another key.
    """

    __slots__ = ("_blob", "_ends", "_all", "_reads", "_checked")
    unique = True
    #: Keys decoded one by one before all of them are decoded at once (cheaper per key).
    DECODE_ALL_AFTER = 2048

    def __init__(self, blob: bytes, ends: NDArray[np.int64], *, checked: bool = False) -> None:
        self._blob = blob
        self._ends = ends
        self._all: tuple[str, ...] | None = None
        self._reads = 0
        self._checked = checked

    def _span(self, lo: int, hi: int) -> tuple[int, int]:
        """Byte range of keys ``lo .. hi-1`` (``0 <= lo < hi <= n``) without the last newline."""
        start = 0 if lo == 0 else int(self._ends[lo - 1]) + 1
        stop = int(self._ends[hi - 1])
        blob = self._blob
        if self._checked and not (
            0 <= start <= stop < len(blob) and blob[stop] == 10 and (start == 0 or blob[start - 1] == 10)
        ):
            raise self._misfit()
        return start, stop

    @classmethod
    def from_bytes(cls, blob: bytes) -> KeyBlob:
        """Index `blob` (keys each ending in a newline); raises ValueError if it is not UTF-8."""
        blob.decode("utf-8")  # validity only
        if blob and not blob.endswith(b"\n"):
            raise ValueError("the keys do not end with a newline")
        return cls(blob, cls.line_ends(blob))

    @staticmethod
    def line_ends(blob: bytes) -> NDArray[np.int64]:
        """Return the offsets of `blob`'s newline bytes, ascending: ``(n,)`` int64 (``key_ends.npy``)."""
        return np.flatnonzero(np.frombuffer(blob, dtype=np.uint8) == 10)

    @staticmethod
    def _misfit() -> Exception:
        from embviz.errors import FormatError

        return FormatError("the cache entry's key_ends.npy does not fit its keys.txt: run `embviz cache clear`")

    def __len__(self) -> int:
        return len(self._ends)

    def _decoded(self) -> tuple[str, ...]:
        if self._all is None:
            self._all = tuple(self._blob.decode("utf-8").split("\n")[:-1])
        return self._all

    def __getitem__(self, i):  # noqa: ANN001, ANN204 - int or slice, as a tuple
        if self._all is not None:
            return self._all[i]
        self._reads += 1
        if self._reads > max(self.DECODE_ALL_AFTER, len(self._ends) >> 6):  # many keys: decode all once
            return self._decoded()[i]
        n = len(self._ends)
        if isinstance(i, slice):
            start, stop, step = i.indices(n)
            if step != 1:
                return self._decoded()[i]
            if stop <= start:
                return ()
            lo, hi = self._span(start, stop)
            return tuple(self._blob[lo:hi].decode("utf-8").split("\n"))
        i = int(i)
        if i < 0:
            i += n
        if not 0 <= i < n:
            raise IndexError("key index out of range")
        lo, hi = self._span(i, i + 1)
        return self._blob[lo:hi].decode("utf-8")

    def __iter__(self) -> Iterator[str]:
        return iter(self._decoded())

    def joined(self, lo: int, hi: int) -> str:
        """Return keys ``lo .. hi-1`` joined by newlines, decoded in one piece (no key strings)."""
        n = len(self._ends)
        lo, hi = max(0, lo), min(hi, n)
        if hi <= lo:
            return ""
        start, stop = self._span(lo, hi)
        return self._blob[start:stop].decode("utf-8")

    def index(self, key: object, *args: int) -> int:
        """Return the row of `key` (a byte search before the keys are decoded); ValueError if absent."""
        if self._all is not None or args:
            return self._decoded().index(key, *args)
        if not isinstance(key, str) or "\n" in key:
            raise ValueError(f"{key!r} is not a key")
        try:
            b = key.encode("utf-8")
        except UnicodeEncodeError:
            raise ValueError(f"{key!r} is not a key") from None
        if self._blob.startswith(b + b"\n"):
            return 0
        at = self._blob.find(b"\n" + b + b"\n")
        if at < 0:
            raise ValueError(f"{key!r} is not a key")
        row = int(np.searchsorted(self._ends, at)) + 1  # the line after the newline at `at`
        if self._checked and (row >= len(self._ends) or self._span(row, row + 1) != (at + 1, at + 1 + len(b))):
            raise self._misfit()
        return row

    def __contains__(self, key: object) -> bool:
        try:
            self.index(key)
        except ValueError:
            return False
        return True

    def count(self, key: object) -> int:
        """1 if `key` is a key (keys are unique), else 0."""
        return int(key in self)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, KeyBlob):
            return other._blob == self._blob
        if isinstance(other, (tuple, list, RowIds)):
            return len(other) == len(self) and self._decoded() == tuple(other)
        return NotImplemented

    def __hash__(self) -> int:
        return hash(self._decoded())

    def __repr__(self) -> str:
        return f"KeyBlob({len(self):,} keys)"
