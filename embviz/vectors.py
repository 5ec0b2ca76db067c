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
from embviz.keys import KeyBlob, RowIds

if TYPE_CHECKING:
    from numpy.typing import ArrayLike, NDArray

#: Rows normalised per block, to bound the temporary memory of ``unit`` on big tables.
_BLOCK_ROWS = 65_536
#: Key lookups answered by scanning ``keys`` before the id map is built.
_SCAN_LOOKUPS = 32
#: Keys searched for close matches when a key is missing (the most frequent ones).
_SUGGEST_SCAN = 200_000


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

