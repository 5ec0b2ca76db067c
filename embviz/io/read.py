"""Read a vector file without the cache: sniff, dispatch to the pure reader, drop duplicates."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Callable

import numpy as np

from embviz.errors import FormatError, warn
from embviz.io import formats
from embviz.io.binary import SourceRows, _read_binary
from embviz.io.checks import check_rows
from embviz.io.formats import CONTAINERS, VectorFormat
from embviz.io.options import SourceOptions
from embviz.io.sink import NotInPlace, UnitWriter, _Sink, npy_header
from embviz.io.sniffing import (
    SourceInfo,
    _not_a_vector_file,
    _read_head,
    _sniff_head,
    compression,
    container_format,
    open_bytes,
)
from embviz.io.unique import DistinctKeys, all_distinct
from embviz.vectors import Vectors


def _dedupe(path: Path, keys: list[str], lines: np.ndarray) -> np.ndarray | None:
    """Return the indices of each key's first occurrence if a key repeats (one warning), else None."""
    if getattr(keys, "unique", False):  # row ids (vectors.RowIds) are distinct by construction
        return None
    if len(set(keys)) == len(keys):
        return None
    first: dict[str, int] = {}
    for i, k in enumerate(keys):
        first.setdefault(k, i)
    keep = np.fromiter(first.values(), dtype=np.int64, count=len(first))
    seen = np.zeros(len(keys), dtype=bool)
    seen[keep] = True
    dup = int(np.flatnonzero(~seen)[0])
    warn(
        f"{path}: {len(keys) - len(first):,} duplicate keys, kept the first occurrence of each "
        f"(first duplicate: {keys[dup]!r} at line/record {int(lines[dup]):,})"
    )
    return np.sort(keep)


def reads_in_place(path: Path, format: VectorFormat | str | None = None) -> bool:
    """Whether :func:`read_into` with a `unit_path` reads `path` in place (see there).

    True for an uncompressed file that is a word2vec binary (sniffed, or `format` says so),
    which the reader then maps, hashes and streams to the cache entry itself. Sniffing reads
    the first 64 KiB; a file that cannot be sniffed gives False.
    """
    path = Path(path)
    if not path.is_file() or compression(path) is not None:
        return False
    if format is not None:
        return VectorFormat(format) == VectorFormat.word2vec
    if container_format(path) in CONTAINERS:
        return False
    try:
        with open_bytes(path) as f:
            return _sniff_head(_read_head(f, path), path, None).format == VectorFormat.word2vec
    except (FormatError, OSError):
        return False


def _read_in_place(
    f, head: bytes, path: Path, info: SourceInfo, limit: int | None, dtype: str, unit_path: Path,  # noqa: ANN001
    write_unit: bool = True,
) -> Vectors | None:
    """Read a word2vec binary in place through a :class:`UnitWriter` (see :func:`read_into`).

    Returns None, having removed `unit_path`, when the file cannot be mapped. With
    `write_unit` False nothing is written to `unit_path`: the table's ``unit`` is then
    computed from the rows if it is ever used, and ``unit_crcs`` stays None.
    """
    sink = UnitWriter(np.dtype(dtype), unit_path if write_unit else None, path)
    try:
        _, dim = _read_binary(f, head, path, info, limit, sink)
        sink.finish(dim)
    except NotInPlace:
        sink.close()
        unit_path.unlink(missing_ok=True)
        return None
    except BaseException:
        sink.close()
        unit_path.unlink(missing_ok=True)
        raise
    keys, offsets, norms, norms64 = sink.keys, np.concatenate(sink.offsets), sink.norms(), sink.norms64()
    crcs = sink.crcs.crcs() if write_unit else None
    if sink.hashes is not None and all_distinct(sink.hashes):
        keys = DistinctKeys(keys)  # proven distinct without a set of 3,000,000 strings
    keep = _dedupe(path, keys, sink.line_numbers())
    unit = np.load(unit_path, mmap_mode="r") if write_unit else None
    if keep is not None:  # rare: rewrite the unit rows without the dropped duplicates
        keys, offsets, norms, norms64 = [keys[i] for i in keep], offsets[keep], norms[keep], norms64[keep]
        if unit is not None:
            crcs = _compact(unit, keep, unit_path)
            unit = np.load(unit_path, mmap_mode="r")
    matrix = SourceRows(path, offsets, dim, dtype)
    vectors = Vectors(keys, matrix, source=path.name, unit=unit, unique=True)
    norms.flags.writeable = False
    vectors.__dict__["norms"] = norms
    vectors.row_offsets = offsets
    vectors.norms64 = norms64  # float64 (n,): the cache stores them for `embviz info`
    vectors.unit_crcs = crcs
    vectors.source_crc32 = sink.source_crc
    if keep is None and sink.raw_keys is not None:
        vectors.keys_blob = b"".join(sink.raw_keys)  # keys.txt as read: nothing to encode
    return vectors


def _compact(unit: np.ndarray, keep: np.ndarray, unit_path: Path) -> list[int]:
    """Rewrite the ``.npy`` at `unit_path` (mapped as `unit`) with only the rows `keep`; its block CRCs."""
    from embviz.io.integrity import BlockCrcs

    tmp = unit_path.with_name(unit_path.name + ".compact")
    crcs = BlockCrcs()
    with open(tmp, "wb") as out:
        out.write(npy_header(unit.dtype, (len(keep), unit.shape[1])))
        for lo in range(0, len(keep), 65_536):
            data = memoryview(np.ascontiguousarray(unit[keep[lo : lo + 65_536]])).cast("B")
            out.write(data)
            crcs.update(data)
    os.replace(tmp, unit_path)
    return crcs.crcs()


def _sniff_explicit(head: bytes, path: Path, comp: str | None, fmt: VectorFormat) -> SourceInfo:
    """Sniff for an explicit format: only refusals that no format can read still apply.

    A file the sniffer cannot place (a 1-dimensional GloVe file whose first key looks like a
    number, ``1.5e-02 0.1``) is read as the user said; an HTML page, a Git LFS pointer or an
    empty file is still refused.
    """
    reason = _not_a_vector_file(head, path)
    if reason:
        raise FormatError(f"{path}: {reason}")
    try:
        return _sniff_head(head, path, comp)
    except FormatError:
        if not head.strip():
            raise
        return SourceInfo(fmt, comp, None, None)


def read_into(
    path: str | os.PathLike,
    format: VectorFormat | str | None = None,
    *,
    limit: int | None = None,
    dtype: str = "float32",
    options: SourceOptions | None = None,
    unit_path: str | os.PathLike | None = None,
    write_unit: bool = True,
) -> tuple[Vectors, SourceInfo]:
    """Read and parse a vector file, without the cache: ``(vectors, info)``.

    The low-level reader behind :func:`load` (which adds the cache); duplicate keys are
    already dropped (first kept, one warning). See :func:`load` for parameters and errors.

    With `unit_path` (the cache building an entry) an uncompressed word2vec binary is read in
    place: its unit rows are streamed to that ``.npy`` file and the returned table reads its
    rows from the source (``matrix`` is a :class:`~embviz.io.binary.SourceRows`, ``unit`` the
    mapped file, ``row_offsets`` set, the file's block CRCs in ``unit_crcs``, each row's
    float64 norm in ``norms64``); the matrix is never held in memory. Other formats ignore
    `unit_path`. `write_unit` False (a command that never searches: ``embviz info``) reads
    such a file in place without writing its unit rows (``unit_crcs`` None).
    """
    path = Path(path)
    if limit is not None and limit < 1:
        raise FormatError(f"limit must be at least 1, got {limit}")
    container = VectorFormat(format) if format is not None else container_format(path)
    if container in CONTAINERS:  # arrays, tables, folders, the Projector pair
        from embviz.io.sources import read_source

        keys, matrix, keys_from = read_source(path, container, options or SourceOptions(), limit, dtype)
        rows = np.arange(len(keys))  # 0-based row ids, as lookup and the readers count them
        keep = _dedupe(path, keys, rows)
        if keep is not None:
            keys = [keys[i] for i in keep]
            matrix = matrix[keep]
            rows = rows[keep]
        check_rows(path, matrix, keys, rows, "row")
        matrix.flags.writeable = False
        vectors = Vectors(keys, matrix, source=path.name, unique=True)
        vectors.keys_from = keys_from
        return vectors, SourceInfo(container, None, len(keys), matrix.shape[1])
    comp = compression(path) if path.is_file() else None
    with open_bytes(path) as f:
        head = _read_head(f, path)
        if format is not None:
            info = _sniff_explicit(head, path, comp, VectorFormat(format))
        else:
            info = _sniff_head(head, path, comp)
        if format is not None:
            fmt = VectorFormat(format)
            if fmt == VectorFormat.projector:
                raise FormatError(f"{path}: reading the projector format is not supported")
            if fmt in (VectorFormat.glove,) and info.format != VectorFormat.glove:
                pass  # explicit glove on a file with a header: the header line becomes an error
            info = SourceInfo(fmt, info.compression, info.count, info.dim)
        reader: Callable = formats.get(info.format).reader()  # the format's streaming parser
        if unit_path is not None and info.format == VectorFormat.word2vec and comp is None:
            streamed = _read_in_place(f, head, path, info, limit, dtype, Path(unit_path), write_unit)
            if streamed is not None:
                return streamed, info
            f.seek(0)
            head = _read_head(f, path)
        sink = _Sink(np.dtype(dtype), None if comp else path.stat().st_size)
        _, dim = reader(f, head, path, info, limit, sink)
    matrix = sink.matrix(dim)
    keys = sink.keys
    where = sink.line_numbers()
    offsets = sink.row_offsets()
    keep = _dedupe(path, keys, where)
    if keep is not None:
        keys = [keys[i] for i in keep]
        matrix = matrix[keep]
        where = where[keep]
        offsets = None if offsets is None else offsets[keep]
    check_rows(path, matrix, keys, where, "record" if info.format == VectorFormat.word2vec else "line")
    matrix.flags.writeable = False
    vectors = Vectors(keys, matrix, source=path.name, unique=True)
    #: where each row's float32 values sit in the file, when it was read in place (an
    #: uncompressed word2vec binary): the cache then stores these offsets, not the rows
    vectors.row_offsets = offsets
    return vectors, info

