"""One record batch at a time: validated before any buffer is read, decoded ahead, turned into numpy.

:func:`_validated` runs pyarrow's full validation on a batch (a damaged file cannot make numpy
or Python's string decoding read outside a buffer); :func:`_prefetched` decodes Parquet batches
on a helper thread; :func:`_keys` and :func:`_vectors` turn one batch's key and vector columns
into Python strings and a float ``(m, dim)`` array, naming the row of a null, a ragged vector,
a Spark sparse vector or a key that is not UTF-8; :class:`_KeyHashes` hashes the keys for the
duplicate check. :func:`embviz.io.tables.read_table` drives them.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from embviz.errors import FormatError
from embviz.io import unique
from embviz.io.table_columns import _is_binary, _is_string, _pa, _value_type, _vector_kind

#: Parquet batches decoded ahead of the one being copied (on a helper thread).
_PREFETCH = 2
#: Bytes of string keys hashed together for the duplicate check (a few batches' worth).
_HASH_BYTES = 1 << 18


def _validated(pa: Any, path: Path, batch: Any, where: str, strings: bool = True) -> Any:
    """Return `batch` after pyarrow's full validation (offsets, buffer sizes, UTF-8, ...).

    Nothing reads a buffer of a batch before this: a damaged Arrow file can hold offsets or
    lengths that point outside its buffers, which numpy and Python's string decoding would
    follow (a segmentation fault, or garbage values). With ``strings=False`` string and bytes
    columns get the structural checks only (a Parquet key column whose values are not UTF-8
    is then reported by :func:`_keys`, naming the row).

    Raises
    ------
    FormatError
        Naming `where` (the record batch or row group) and pyarrow's reason.
    """
    try:
        if strings:
            batch.validate(full=True)
        else:
            batch.validate()
            for col in batch.columns:
                if _is_string(pa, col.type) or _is_binary(pa, col.type):
                    _check_offsets(pa, col)
                else:
                    col.validate(full=True)
    except pa.ArrowException as exc:
        why = str(exc)
        m = re.match(r"In column (\d+): (?:Invalid: )?(.*)", why, re.S)
        if m and int(m.group(1)) < batch.num_columns:  # name the column, not its position
            why = f"column {batch.schema.names[int(m.group(1))]!r}: {m.group(2)}"
        raise FormatError(f"{path}: {where}: invalid data in {why} (damaged file?)") from None
    return batch


def _check_offsets(pa: Any, col: Any) -> None:
    """Full validation of a string/bytes column except its UTF-8 check (raises ArrowInvalid)."""
    t = _value_type(pa, col.type)
    if pa.types.is_dictionary(col.type):
        col.indices.validate(full=True)
        col = col.dictionary
    raw = pa.large_binary() if pa.types.is_large_string(t) or pa.types.is_large_binary(t) else pa.binary()
    if pa.types.is_string_view(t) or pa.types.is_binary_view(t):
        col.view(pa.binary_view()).validate(full=True)
    else:
        col.view(raw).validate(full=True)


def _prefetched(items: Iterator[Any], depth: int = _PREFETCH) -> Iterator[Any]:
    """Yield `items`, produced on a helper thread at most `depth` ahead of the consumer.

    Arrow decodes the next Parquet batch (without the GIL) while this thread copies the last
    one into the matrix and makes its keys: on two cores the load takes about the longer of
    the two, not their sum. At most `depth` + 2 batches exist at once, so the memory bound
    stays one batch per step. An exception in the producer is raised here, in order; closing
    this generator early (``--limit``) stops the producer.
    """
    import queue
    import threading

    q: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()
    done = object()

    def produce() -> None:
        try:
            for item in items:
                while not stop.is_set():
                    try:
                        q.put((item, None), timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            q.put((done, None))
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer, raised there
            q.put((done, exc))

    worker = threading.Thread(target=produce, name="embviz-parquet-reader", daemon=True)
    worker.start()
    try:
        while True:
            item, exc = q.get()
            if exc is not None:
                raise exc
            if item is done:
                return
            yield item
    finally:
        stop.set()
        while worker.is_alive():  # let a blocked producer see the flag and end
            try:
                q.get_nowait()
            except queue.Empty:
                worker.join(0.05)


def _record_batches(pa: Any, tables: Iterator[Any]) -> Iterator[Any]:
    """Record batches of each table, without copies (a row group's columns can be chunked)."""
    for t in tables:
        if isinstance(t, pa.Table):
            yield from t.to_batches()
        else:
            yield t


def _numpy(col: Any) -> np.ndarray:
    if hasattr(col, "combine_chunks"):
        col = col.combine_chunks()
    return col.to_numpy(zero_copy_only=False)


def _first_null(col: Any) -> int:
    return int(np.flatnonzero(_numpy(col.is_null()))[0])


def _keys(path: Path, col: Any, name: str, lo: int, hashes: _KeyHashes | None = None) -> list[str]:
    """One batch's keys as Python strings (integers written in decimal), given to `hashes` too.

    Raises
    ------
    FormatError
        A null key, or a key whose bytes are not UTF-8 (in a string column, where the file's
        own type promises UTF-8, or in a bytes key column): the message names the row.
    """
    pa = _pa()
    if col.null_count:
        raise FormatError(f"{path}: row {lo + _first_null(col):,}, column {name!r}: null key")
    if hasattr(col, "combine_chunks"):
        col = col.combine_chunks()
    if pa.types.is_dictionary(col.type):
        col = col.dictionary_decode()
    if pa.types.is_integer(col.type):
        arr = col.to_numpy(zero_copy_only=False)
        if hashes is not None:
            hashes.add(col, arr)
        return arr.astype(str).tolist()
    try:
        if _is_binary(pa, col.type):
            col = col.cast(pa.large_string())  # checks that every value is UTF-8
        out = col.to_pylist()
    except (ValueError, pa.ArrowException):  # bytes that are not UTF-8
        r, raw = _first_bad_utf8(pa, col)
        raise FormatError(
            f"{path}: row {lo + r:,}, column {name!r}: key {raw[:40]!r} is not valid UTF-8, "
            "expected text keys"
        ) from None
    if hashes is not None:
        hashes.add(col, None)
    return out


class _KeyHashes:
    """Hashes of a table's keys (:func:`embviz.io.unique.key_hashes`), for the duplicate check.

    String batches are hashed a few hundred KiB of keys at a time, straight from Arrow's
    offsets and data buffers; an integer column's values are their own hashes (distinct
    integers are distinct decimal strings).
    """

    def __init__(self, pa: Any) -> None:
        self.pa = pa
        self.done: list[np.ndarray] = []
        self.pending: list[Any] = []
        self.size = 0
        self.usable = True

    def add(self, col: Any, ints: np.ndarray | None) -> None:
        """Take one batch's key column (`ints`: its values, for an integer column)."""
        if not self.usable:
            return
        if ints is not None:
            self.done.append(ints.astype(np.int64).view(np.uint64))
            return
        t = col.type
        if not (self.pa.types.is_string(t) or self.pa.types.is_large_string(t)):  # no offsets buffer
            self.usable = False
            return
        self.pending.append(col)
        self.size += col.nbytes
        if self.size >= _HASH_BYTES:
            self._flush()

    def _flush(self) -> None:
        if not self.pending:
            return
        col = self.pending[0] if len(self.pending) == 1 else self.pa.concat_arrays(self.pending)
        self.pending, self.size = [], 0
        _, offsets, data = col.buffers()
        width = np.int64 if self.pa.types.is_large_string(col.type) else np.int32
        off = np.frombuffer(offsets, dtype=width)[col.offset : col.offset + len(col) + 1]
        raw = np.frombuffer(data, dtype=np.uint8) if data is not None and data.size else np.zeros(0, np.uint8)
        self.done.append(unique.key_hashes(raw, off))

    def distinct(self) -> bool:
        """Whether the keys are proven distinct (False: maybe not, run the exact check)."""
        self._flush()
        return self.usable and unique.all_distinct(self.done)


def _first_bad_utf8(pa: Any, col: Any) -> tuple[int, bytes]:
    """Row and bytes of the first value of a string or bytes column that is not UTF-8."""
    for r, raw in enumerate(col.cast(pa.large_binary()).to_pylist()):
        try:
            raw.decode("utf-8")
        except UnicodeDecodeError:
            return r, raw
    return 0, b""  # pragma: no cover - called only after pyarrow refused a value


def _vectors(
    pa: Any, path: Path, col: Any, name: str, lo: int, dim: int | None, vkind: str
) -> tuple[np.ndarray, int]:
    """One batch's vector column as a float ``(m, dim)`` array (a view when the layout allows)."""
    if hasattr(col, "combine_chunks"):
        col = col.combine_chunks()
    if col.null_count:
        raise FormatError(f"{path}: row {lo + _first_null(col):,}, column {name!r}: null vector")
    if vkind == "spark":
        col = _spark_values(pa, path, col, name, lo)
    elif not _vector_kind(pa, col.type):  # pragma: no cover - choose_columns picked it
        raise FormatError(f"{path}: column {name!r} is {col.type}, expected a list of floats")
    if pa.types.is_fixed_size_list(col.type):
        width = col.type.list_size
        lengths = None
    else:
        offsets = _numpy(col.offsets)
        lengths = np.diff(offsets)
        width = int(lengths[0])
    want = dim if dim is not None else width
    if lengths is not None:
        bad = np.flatnonzero(lengths != want)
        if len(bad):
            r = int(bad[0])
            raise FormatError(
                f"{path}: row {lo + r:,}, column {name!r}: vector has {int(lengths[r])} values, "
                f"expected {want} (ragged vectors)"
            )
    elif width != want:
        raise FormatError(f"{path}: column {name!r} has {width} values per row, expected {want}")
    if want == 0:
        raise FormatError(f"{path}: row {lo:,}, column {name!r}: empty vector")
    flat = col.flatten()
    if flat.null_count:
        r = _first_null(flat)
        raise FormatError(
            f"{path}: row {lo + r // want:,}, column {name!r}: null value at position {r % want}, "
            "expected a number"
        )
    return _numpy(flat).reshape(-1, want), want


def _spark_values(pa: Any, path: Path, col: Any, name: str, lo: int) -> Any:
    """Return the ``values`` lists of a batch of Spark ML vectors, every row checked to be dense.

    Spark's VectorUDT stores ``type`` (int8: 0 sparse, 1 dense) and ``values``
    (``list<double>``); anything else (a string or null type, values that are strings or a
    single number) is refused, naming the row, never converted.
    """
    kinds = col.field("type")
    if pa.types.is_dictionary(kinds.type):
        kinds = kinds.dictionary_decode()
    t = kinds.type
    if not pa.types.is_integer(_value_type(pa, t)):
        shown = kinds.drop_null()[0].as_py() if len(kinds.drop_null()) else None
        raise FormatError(
            f"{path}: column {name!r}: Spark vector 'type' is {t} (first value {shown!r}), expected "
            "the integer 1 (dense vectors)"
        )
    if kinds.null_count:
        raise FormatError(
            f"{path}: row {lo + _first_null(kinds):,}, column {name!r}: Spark vector with a null type, "
            "expected 1 (dense)"
        )
    kinds = _numpy(kinds)
    sparse = np.flatnonzero(kinds != 1)
    if len(sparse):
        r = int(sparse[0])
        what = "sparse vector" if kinds[r] == 0 else "vector of unknown kind"
        raise FormatError(
            f"{path}: row {lo + r:,}, column {name!r}: Spark {what} (type {int(kinds[r])}), "
            "expected dense vectors (type 1); densify with Vectors.dense(v.toArray())"
        )
    values = col.field("values")
    t = values.type
    if not ((pa.types.is_list(t) or pa.types.is_large_list(t) or pa.types.is_fixed_size_list(t))
            and pa.types.is_floating(t.value_type)):
        raise FormatError(
            f"{path}: column {name!r}: Spark vector 'values' are {t}, expected list<double>"
        )
    if values.null_count:
        raise FormatError(f"{path}: row {lo + _first_null(values):,}, column {name!r}: dense vector without values")
    return values
