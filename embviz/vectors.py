"""The embedding lookup table: one read-only matrix, one key list, one id map.

This is the same object as TensorFlow's ``embedding_lookup`` params, Keras' ``Embedding`` or
PyTorch's ``nn.Embedding`` weight: row ``i`` is the vector of ``keys[i]``, and looking up ids
returns rows by id (the product of a one-hot vector with the matrix). It mirrors gensim's
``KeyedVectors`` (``index_to_key`` / ``key_to_index`` / ``vectors``) without its per-key objects.
No I/O and no queries live here.
"""

from __future__ import annotations

from functools import cached_property
from typing import TYPE_CHECKING, Iterable, Iterator, Sequence

import numpy as np

from embviz.errors import FormatError, InvalidQuery, KeyNotFound

if TYPE_CHECKING:
    from numpy.typing import ArrayLike, NDArray

#: Rows normalised per block, to bound the temporary memory of ``unit`` on big tables.
_BLOCK_ROWS = 65_536
#: Key lookups answered by scanning ``keys`` before the id map is built.
_SCAN_LOOKUPS = 32
#: Keys searched for close matches when a key is missing (the most frequent ones).
_SUGGEST_SCAN = 200_000


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
    """

    __slots__ = ("_blob", "_ends", "_all", "_reads")
    unique = True
    #: Keys decoded one by one before all of them are decoded at once (cheaper per key).
    DECODE_ALL_AFTER = 2048

    def __init__(self, blob: bytes, ends: NDArray[np.int64]) -> None:
        self._blob = blob
        self._ends = ends
        self._all: tuple[str, ...] | None = None
        self._reads = 0

    @classmethod
    def from_bytes(cls, blob: bytes) -> KeyBlob:
        """Index `blob` (keys each ending in a newline); raises ValueError if it is not UTF-8."""
        blob.decode("utf-8")  # validity only
        if blob and not blob.endswith(b"\n"):
            raise ValueError("the keys do not end with a newline")
        ends = np.flatnonzero(np.frombuffer(blob, dtype=np.uint8) == 10)
        return cls(blob, ends)

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
            lo = 0 if start == 0 else int(self._ends[start - 1]) + 1
            return tuple(self._blob[lo : int(self._ends[stop - 1])].decode("utf-8").split("\n"))
        i = int(i)
        if i < 0:
            i += n
        if not 0 <= i < n:
            raise IndexError("key index out of range")
        lo = 0 if i == 0 else int(self._ends[i - 1]) + 1
        return self._blob[lo : int(self._ends[i])].decode("utf-8")

    def __iter__(self) -> Iterator[str]:
        return iter(self._decoded())

    def joined(self, lo: int, hi: int) -> str:
        """Return keys ``lo .. hi-1`` joined by newlines, decoded in one piece (no key strings)."""
        n = len(self._ends)
        lo, hi = max(0, lo), min(hi, n)
        if hi <= lo:
            return ""
        start = 0 if lo == 0 else int(self._ends[lo - 1]) + 1
        return self._blob[start : int(self._ends[hi - 1])].decode("utf-8")

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
        return int(np.searchsorted(self._ends, at)) + 1  # the line after the newline at `at`

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


class Vectors:
    """An embedding lookup table: ``keys`` ``(n,)``, ``key_to_index`` and ``matrix`` ``(n, dim)``.

    Parameters
    ----------
    keys : sequence of str
        The vocabulary in row order (file order, which is frequency order for real files).
        Keys must be unique.
    matrix : array-like, ``(n, dim)``
        The vectors. Stored read-only as float32 (or float16 when given float16, as the
        cache's ``--dtype float16`` produces). A C-contiguous read-only float32/float16 array,
        such as a memory map, is used as is, without a copy.
    source : str, optional
        Where the table came from (a file name), used in messages only.
    unit : array-like, ``(n, dim)``, optional
        Precomputed L2-normalised rows (from the cache); computed on first use otherwise.
    key_to_index : dict, optional
        The id map ``{keys[i]: i}`` if the caller built it already; trusted as given.
    unique : bool
        The caller guarantees the keys are unique (the loaders and the cache do), which
        skips the duplicate check.

    Raises
    ------
    FormatError
        If ``matrix`` is not 2-D with one row per key, or a key occurs twice.

    Notes
    -----
    gensim ``KeyedVectors``' methods (``most_similar``, ``similar_by_vector``,
    ``doesnt_match``, ``n_similarity``, ``similarity``, ``distance``, ...,
    ``to_keyed_vectors``, ``from_keyed_vectors``) are attached to this class by
    :mod:`embviz.gensim_interop`, which ``import embviz`` imports: this module, the lowest
    layer, may import neither the queries nor gensim.

    Examples
    --------
    >>> v = Vectors(["a", "b", "c"], [[1, 0], [0, 1], [1, 1]])
    >>> v.lookup([2, 0]).tolist()
    [[1.0, 1.0], [1.0, 0.0]]
    """

    if TYPE_CHECKING:  # attached by embviz.gensim_interop; named here for type checkers only
        from embviz.gensim_interop import from_keyed_vectors as _from_kv
        from embviz.gensim_interop import to_keyed_vectors
        from embviz.search.similar import (
            distance,
            doesnt_match,
            most_similar,
            most_similar_cosmul,
            n_similarity,
            similar_by_key,
            similar_by_vector,
            similar_by_word,
            similarity,
        )

        from_keyed_vectors = classmethod(_from_kv)

    def __init__(
        self,
        keys: Sequence[str],
        matrix: ArrayLike,
        *,
        source: str | None = None,
        unit: ArrayLike | None = None,
        key_to_index: dict[str, int] | None = None,
        unique: bool = False,
    ) -> None:
        matrix = _as_table(matrix)
        if matrix.ndim != 2 or matrix.shape[0] != len(keys):
            raise FormatError(
                f"matrix of shape {tuple(matrix.shape)} does not fit {len(keys):,} keys"
            )
        lazy = isinstance(keys, (RowIds, KeyBlob))
        self.keys: tuple[str, ...] = keys if lazy else tuple(keys)  # type: ignore[assignment]
        self.matrix = matrix
        self.source = source
        #: Where the keys came from when the file had none (``"row ids 0..n-1"``, a sidecar).
        self.keys_from: str | None = None
        #: Byte offset of each row's values in the source file, when a reader read it in place
        #: (int64 ``(n,)``; an uncompressed word2vec binary), else None. Used by the cache.
        self.row_offsets: np.ndarray | None = None
        #: Block CRC-32s of a unit-rows file a reader already wrote for the cache, else None.
        self.unit_crcs: list[int] | None = None
        #: CRC-32 of the whole source file, when the reader computed it while parsing, else None.
        self.source_crc32: int | None = None
        #: The keys as UTF-8 lines (``keys.txt``), when a reader has them as read, else None.
        self.keys_blob: bytes | None = None
        #: A row that is never a neighbor or an analogy answer (``nn.Embedding(padding_idx=)``);
        #: ``lookup`` still returns it. Set it with :meth:`set_padding`.
        self.padding_idx: int | None = None
        #: A digest of the unit rows' content when it is known without reading them (the
        #: cache's block checksums), else None; caches of results derived from the whole
        #: table (the explorer's neighbor lists) key on it instead of hashing every row.
        self.unit_digest: str | None = None
        #: Each row's L2 norm in float64 ``(n,)``, when the cache entry stores them (``norms64.npy``);
        #: ``embviz info`` reads these instead of the rows. None otherwise (computed on demand).
        self.norms64: np.ndarray | None = None
        self._scans = 0
        self._prefetched: dict[str, int | None] = {}  # rows found by prefetch (None: not a key)
        if key_to_index is not None and len(key_to_index) == len(self.keys):
            self.__dict__["key_to_index"] = key_to_index
        elif not unique and not lazy and len(set(self.keys)) != len(self.keys):
            dup = len(self.keys) - len(set(self.keys))
            raise FormatError(f"{dup:,} duplicate keys; keys must be unique")
        if unit is not None:
            unit = _as_table(unit)
            if unit.shape != matrix.shape:
                raise FormatError(f"unit rows {unit.shape} do not match matrix {matrix.shape}")
            self.__dict__["unit"] = unit

    # -- shape -------------------------------------------------------------------------------
    def __len__(self) -> int:
        return self.matrix.shape[0]

    @property
    def count(self) -> int:
        """Number of keys (rows), ``n``."""
        return self.matrix.shape[0]

    @property
    def dim(self) -> int:
        """Vector dimensionality, ``dim``."""
        return self.matrix.shape[1]

    def __contains__(self, key: object) -> bool:
        return self._find(key) is not None

    @property
    def index_to_key(self) -> Sequence[str]:
        """The keys in row order, gensim's name for :attr:`keys` (the same object, not a copy)."""
        return self.keys

    @cached_property
    def key_to_index(self) -> dict[str, int]:
        """The id map ``{key: row id}``, built on first use (about 0.1 s per 400,000 keys).

        A command-line query looks up a handful of keys: :meth:`get_index` answers its first
        32 lookups by a C-level scan of ``keys`` (at most a few ms each) instead, so loading
        and one-off queries never pay for hashing every key.
        """
        return {key: i for i, key in enumerate(self.keys)}

    def prefetch(self, keys: Iterable[object]) -> None:
        """Find the rows of many keys (more than 32) in one pass, before they are looked up one by one.

        A batch of queries (``embviz neighbors - < keys``) looks up each of its keys; past
        the first 32 (scanned one by one), :attr:`key_to_index` hashes every key of the table:
        1.6 s and about 200 MB for 3,000,000 keys, for a batch of 1,000. Here the batch's keys
        are found in one C-level pass over the keys (``itertools.compress``, about 0.1 s on
        3,000,000) and remembered, found or not; later lookups of them cost one dict access.
        When the batch is over an eighth of the table, or the map is built already, the map
        answers instead. Nothing to do for a table whose keys are row numbers.
        """
        if "key_to_index" in self.__dict__ or isinstance(self.keys, RowIds):
            return
        wanted = {k for k in keys if isinstance(k, str) and k not in self._prefetched}
        if len(wanted) <= _SCAN_LOOKUPS:
            return  # a few keys: scanned one by one (or the map), as without prefetch
        if len(wanted) * 8 > self.count:
            self.key_to_index  # noqa: B018 - builds and keeps the map
            return
        from itertools import compress

        keys_ = self.keys
        found: dict[str, int | None] = dict.fromkeys(wanted)
        for i in compress(range(self.count), map(wanted.__contains__, keys_)):
            key = keys_[i]
            if found[key] is None:  # the first row of a key, as keys.index gives
                found[key] = i
        self._prefetched.update(found)

    def _find(self, key: object) -> int | None:
        index = self.__dict__.get("key_to_index")
        if index is None and isinstance(key, str) and key in self._prefetched:
            return self._prefetched[key]  # type: ignore[index]
        if index is None and self._scans < _SCAN_LOOKUPS:
            self._scans += 1
            try:
                return self.keys.index(key)
            except ValueError:
                return None
        return self.key_to_index.get(key)  # type: ignore[arg-type]

    def __iter__(self) -> Iterator[str]:
        return iter(self.keys)

    def __repr__(self) -> str:
        src = f", source={self.source!r}" if self.source else ""
        return f"Vectors(count={self.count:,}, dim={self.dim}, dtype={self.matrix.dtype}{src})"

    # -- derived arrays ----------------------------------------------------------------------
    @cached_property
    def norms(self) -> NDArray[np.float32]:
        """L2 norm of each row: float32 ``(n,)``, >= 0 (0 for an all-zero row).

        Rows whose float32 squares underflow or overflow (norms below 1e-18 or above 1e18,
        e.g. values of 1e-30) are recomputed in float64, so they keep their direction.
        """
        out = np.empty(self.count, dtype=np.float32)
        for lo in range(0, self.count, _BLOCK_ROWS):
            block = np.asarray(self.matrix[lo : lo + _BLOCK_ROWS], dtype=np.float32)
            out[lo : lo + len(block)] = row_norms(block)
        out.flags.writeable = False
        return out

    @cached_property
    def unit(self) -> NDArray[np.floating]:
        """L2-normalised rows, ``(n, dim)``, same dtype as ``matrix``; all-zero rows stay zero.

        Computed once, in blocks, and cached; the cosine similarity of rows ``i`` and ``j`` is
        ``unit[i] @ unit[j]``, in [-1, 1], and 0 (never NaN) when either row is all zeros.
        """
        out = np.empty(self.matrix.shape, dtype=self.matrix.dtype)
        norms = self.norms
        for lo in range(0, self.count, _BLOCK_ROWS):
            block = np.asarray(self.matrix[lo : lo + _BLOCK_ROWS], dtype=np.float32)
            out[lo : lo + len(block)] = unit_rows(block, norms[lo : lo + len(block)])
        out.flags.writeable = False
        return out

    # -- lookup ------------------------------------------------------------------------------
    def lookup(self, ids: ArrayLike) -> NDArray[np.floating]:
        """Return rows by integer id, exactly like ``tf.nn.embedding_lookup(matrix, ids)``.

        Parameters
        ----------
        ids : array-like of int, any shape ``s``
            Row ids in ``[0, n)``.

        Returns
        -------
        ndarray, ``s + (dim,)``, dtype of ``matrix``
            ``lookup([1, 3, 2])`` is rows 1, 3 and 2 in that order; a new array.

        Raises
        ------
        InvalidQuery
            If an id is not an integer or is outside ``[0, n)`` (negative ids are rejected,
            not wrapped around as numpy indexing would).
        """
        arr = np.asarray(ids)
        if arr.size == 0:
            return np.empty(arr.shape + (self.dim,), dtype=self.matrix.dtype)
        if not np.issubdtype(arr.dtype, np.integer):
            raise InvalidQuery(f"ids must be integers, got dtype {arr.dtype}")
        bad = (arr < 0) | (arr >= self.count)
        if bad.any():
            first = int(arr[bad].flat[0])
            raise InvalidQuery(f"id {first} is out of range: ids go from 0 to {self.count - 1:,}")
        return np.asarray(self.matrix[arr.reshape(-1)]).reshape(arr.shape + (self.dim,))

    def get_index(self, key: str) -> int:
        """Return the row id of `key`.

        Raises
        ------
        KeyNotFound
            If `key` is not in the vocabulary; the message lists close matches.
        """
        i = self._find(key)
        if i is None:
            raise KeyNotFound(self._missing_message(key))
        return i

    def __getitem__(self, key: str) -> NDArray[np.floating]:
        """Return the vector of `key`, ``(dim,)`` (a read-only view). Raises `KeyNotFound`."""
        return self.matrix[self.get_index(key)]

    def indices(self, keys: Sequence[str]) -> NDArray[np.int64]:
        """Return the row ids of `keys`: int64 ``(len(keys),)``. Raises `KeyNotFound`."""
        if len(keys) > _SCAN_LOOKUPS:
            self.prefetch(keys)
        return np.fromiter((self.get_index(k) for k in keys), dtype=np.int64, count=len(keys))

    def subset(self, ids: ArrayLike) -> Vectors:
        """Return a new table of the rows `ids` (int array ``(m,)``, in that order).

        Raises
        ------
        InvalidQuery
            If an id is out of range.
        """
        ids = np.asarray(ids, dtype=np.int64).reshape(-1)
        rows = self.lookup(ids)
        unit = np.asarray(self.unit[ids]) if "unit" in self.__dict__ else None
        return Vectors([self.keys[i] for i in ids], rows, source=self.source, unit=unit)

    def set_padding(self, padding_idx: int | None) -> None:
        """Mark row `padding_idx` as padding, as ``nn.Embedding(padding_idx=...)`` does.

        Negative values count from the end (``-1`` is the last row), as in PyTorch. The
        padding row is never returned as a neighbor or an analogy answer.

        Raises
        ------
        InvalidQuery
            If `padding_idx` is outside ``[-n, n)``.
        """
        if padding_idx is None:
            self.padding_idx = None
            return
        if not -self.count <= padding_idx < self.count:
            raise InvalidQuery(
                f"padding index {padding_idx} is out of range: the table has {self.count:,} rows"
            )
        self.padding_idx = padding_idx % self.count

    # -- messages ----------------------------------------------------------------------------
    def suggest(self, key: str, n: int = 3) -> list[str]:
        """Return up to `n` keys close to `key`: case variants first, then by edit similarity.

        Only the first 200,000 keys (the most frequent) of similar length are scanned, so this
        stays fast on 3,000,000-key tables; it is meant for error messages.
        """
        import difflib

        variants = [key.lower(), key.capitalize(), key.upper(), key.title(), key.strip()]
        found = [v for v in dict.fromkeys(variants) if v != key and v in self]
        probe = key.lower()
        candidates = [
            k for k in self.keys[:_SUGGEST_SCAN] if abs(len(k) - len(key)) <= 2 and k not in found
        ]
        found += difflib.get_close_matches(probe, candidates, n=n, cutoff=0.75)
        return list(dict.fromkeys(found))[:n]

    def _missing_message(self, key: str) -> str:
        where = f" of {self.source}" if self.source else ""
        msg = f"{key!r} is not in the vocabulary ({self.count:,} keys{where})"
        close = self.suggest(key) if isinstance(key, str) else []  # v[5]: no AttributeError
        return msg + (f"; close matches: {', '.join(close)}" if close else "; no close matches")


def row_norms(block: NDArray[np.float32]) -> NDArray[np.float32]:
    """L2 norm of each row of a float32 ``(m, dim)`` block: float32 ``(m,)``, as :attr:`Vectors.norms`.

    Rows whose float32 squares underflow or overflow (norms below 1e-18 or above 1e18) are
    recomputed in float64, so they keep their direction.
    """
    with np.errstate(over="ignore", under="ignore"):
        part = np.linalg.norm(block, axis=1)
    edge = np.flatnonzero(~((part > 1e-18) & (part < 1e18)))
    if len(edge):
        part[edge] = np.linalg.norm(block[edge].astype(np.float64), axis=1)
    return part.astype(np.float32, copy=False)


def unit_rows(
    block: NDArray[np.float32], norms: NDArray[np.float32], out: NDArray[np.float32] | None = None
) -> NDArray[np.float32]:
    """Divide the rows of a float32 ``(m, dim)`` block by their `norms` ``(m,)``, as :attr:`Vectors.unit`.

    Float32 division, as gensim's ``get_normed_vectors`` (so scores equal gensim's); all-zero
    rows stay zero; rows with norms below 1e-18 are normalised in float64. A new array, or
    `out` (float32, the shape of `block`, not overlapping it) filled and returned.
    """
    n = np.asarray(norms, dtype=np.float32)[:, None]
    if (n >= 1e-18).all():  # every row normal: a plain division (the masked one is 2x slower)
        return np.divide(block, n, out=out)
    if out is None:
        out = np.empty_like(block)
    out[...] = 0
    part = np.divide(block, n, out=out, where=n > 0)
    edge = np.flatnonzero((n[:, 0] > 0) & (n[:, 0] < 1e-18))  # tiny rows: in float64
    if len(edge):
        b64 = block[edge].astype(np.float64)
        part[edge] = b64 / np.linalg.norm(b64, axis=1, keepdims=True)
    return part


def _as_table(matrix: ArrayLike) -> np.ndarray:
    """Return `matrix` as a read-only C-contiguous float32/float16 array, copying only if needed.

    A table that reads its rows in place from their file (``embviz.io.binary.SourceRows``,
    marked ``_embviz_rows``) is kept as it is: indexing it returns new arrays.
    """
    if getattr(matrix, "_embviz_rows", False) and matrix.ndim == 2 and matrix.dtype in (np.float32, np.float16):
        return matrix  # type: ignore[return-value]
    if (
        isinstance(matrix, np.ndarray)
        and matrix.dtype in (np.float32, np.float16)
        and matrix.flags.c_contiguous
        and not matrix.flags.writeable
    ):
        return matrix
    arr = np.array(matrix, dtype=np.float16 if _is_f16(matrix) else np.float32, order="C")
    arr.flags.writeable = False
    return arr


def _is_f16(matrix: ArrayLike) -> bool:
    return isinstance(matrix, np.ndarray) and matrix.dtype == np.float16


def release_rows(rows: np.ndarray, lo: int, hi: int) -> None:
    """Drop the pages of rows ``lo:hi`` of a read-only memory-mapped table from this process.

    `rows` ``(n, dim)``, C-contiguous: a cache entry's ``matrix``/``unit`` as
    ``np.load(mmap_mode="r")`` maps them. A pass over every row (adding them to an index,
    exact search of a sample) makes each page it reads resident in the process, so a
    3,000,000 x 300 float32 table holds 3.4 GB of file pages on top of what the pass builds;
    ``madvise(MADV_DONTNEED)`` on the rows already used gives those pages back. They stay in the
    page cache (nothing is read from disk again while memory allows), and a later access maps
    them again. Only whole pages inside the rows are dropped. Does nothing for an array that is
    not a read-only or shared memory map (``np.memmap`` mode ``"r"``/``"r+"``; a copy-on-write
    map would lose its changes), or where ``madvise`` is missing.
    """
    import mmap

    mm = getattr(rows, "_mmap", None)
    if (mm is None or getattr(rows, "mode", None) not in ("r", "r+") or not rows.flags.c_contiguous
            or not hasattr(mm, "madvise") or not hasattr(mmap, "MADV_DONTNEED") or hi <= lo):
        return
    start = np.frombuffer(mm, dtype=np.uint8).ctypes.data  # address of the mapping's first byte
    row_bytes = rows.strides[0]
    first = rows.ctypes.data - start + max(0, lo) * row_bytes
    last = rows.ctypes.data - start + min(hi, rows.shape[0]) * row_bytes
    page = mmap.PAGESIZE
    first = -(-first // page) * page
    last = last // page * page
    if last > first:
        try:
            mm.madvise(mmap.MADV_DONTNEED, first, last - first)
        except (OSError, ValueError):
            pass
