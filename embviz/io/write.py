"""Writers: every vector format, always atomic (temporary file beside the target, then rename)."""

from __future__ import annotations

import bz2
import gzip
import lzma
import os
import tempfile
from pathlib import Path
from typing import IO, Callable, Iterator

import numpy as np

from embviz.errors import FormatError
from embviz.io.sniffing import VectorFormat
from embviz.vectors import Vectors

_SUFFIXES = {
    ".bin": VectorFormat.word2vec,
    ".txt": VectorFormat.word2vec_text,
    ".vec": VectorFormat.fasttext,
    ".glove": VectorFormat.glove,
    ".tsv": VectorFormat.projector,
    ".npy": VectorFormat.npy,
    ".parquet": VectorFormat.parquet,
    ".safetensors": VectorFormat.safetensors,
}
#: Rows per Parquet row group (the reader holds one row group at a time).
PARQUET_ROW_GROUP = 65_536


#: The formats :func:`save` writes; the others (npz, Arrow, Spark folders, PyTorch, fastText
#: models) are read-only.
WRITABLE = (
    VectorFormat.word2vec, VectorFormat.word2vec_text, VectorFormat.glove, VectorFormat.fasttext,
    VectorFormat.projector, VectorFormat.npy, VectorFormat.parquet, VectorFormat.safetensors,
)


def check_writable(path: str | os.PathLike, fmt: VectorFormat) -> None:
    """Raise :class:`FormatError` if embviz cannot write `fmt` (a read-only format)."""
    if VectorFormat(fmt) not in WRITABLE:
        raise FormatError(
            f"{path}: embviz reads {VectorFormat(fmt).value} files but does not write them; write "
            ".bin (word2vec), .txt, .vec, .tsv (projector), .npy, .parquet or .safetensors"
        )


def format_for(path: str | os.PathLike) -> VectorFormat:
    """Return the format a file name implies (``.bin``, ``.txt``, ``.vec``, ``.tsv``, + ``.gz`` ...).

    Raises
    ------
    FormatError
        If the suffix is not one of them.
    """
    p = Path(path)
    suffixes = [s.lower() for s in p.suffixes]
    while suffixes and suffixes[-1] in (".gz", ".bz2", ".xz"):
        suffixes.pop()
    if suffixes and suffixes[-1] in _SUFFIXES:
        return _SUFFIXES[suffixes[-1]]
    raise FormatError(
        f"{path}: cannot tell the format from the name; use .bin (word2vec), .txt "
        "(word2vec-text), .vec (fasttext), .tsv (projector), .npy, .parquet, .safetensors "
        "or pass --to"
    )


def _open_out(path: Path, target: Path | None = None):
    """Open a temporary file beside `target` (default `path`), compressed as `path`'s name says."""
    target = target or path
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    raw = os.fdopen(fd, "wb")
    return _compressor(raw, path), raw, Path(tmp)


def _compressor(raw: IO[bytes], path: Path) -> IO[bytes]:
    """Wrap `raw` in the compressor `path`'s name asks for (.gz, .bz2, .xz), or return it."""
    name = path.name.lower()
    if name.endswith(".gz"):
        f: IO[bytes] = gzip.GzipFile(fileobj=raw, mode="wb", compresslevel=6, mtime=0)
    elif name.endswith(".bz2"):
        f = bz2.BZ2File(raw, "wb")
    elif name.endswith(".xz"):
        f = lzma.LZMAFile(raw, "wb")
    else:
        f = raw
    return f


def write_target(path: Path) -> tuple[Path, bool]:
    """Where a write to `path` lands: ``(target, special)``.

    A symlink is followed to its target (the link stays a link; a dangling link creates its
    target). `special` is True for a FIFO, a character or a block device (``/dev/null``, a
    named pipe, ``/dev/stdout``): those are written directly, never replaced by a renamed
    regular file.
    """
    import stat

    target = Path(os.path.realpath(path)) if path.is_symlink() else path
    try:
        mode = os.stat(target).st_mode
    except OSError:
        return target, False
    return target, stat.S_ISFIFO(mode) or stat.S_ISCHR(mode) or stat.S_ISBLK(mode)


def _write_special(path: Path, target: Path, write: Callable[[IO[bytes]], None]) -> Path:
    """Write straight into a FIFO or a device (no temporary file, no rename)."""
    try:
        with open(target, "wb") as raw:
            with _compressor(raw, path) as f:
                write(f)
    except PermissionError:
        raise FormatError(f"{path}: permission denied") from None
    except OSError as exc:
        raise FormatError(f"{path}: cannot write: {exc.strerror or exc}") from None
    return path


def atomic_write(path: str | os.PathLike, write: Callable[[IO[bytes]], None]) -> Path:
    """Call ``write(f)`` on a temporary file beside `path`, then rename it to `path`.

    A failure or interruption (Ctrl-C, SIGTERM in the CLI) removes the temporary file, so
    `path` is either the complete new file or untouched. Compressed if the name ends in .gz,
    .bz2 or .xz. A symlink is written through to its target (the link is kept); a FIFO or a
    device (``/dev/null``) is written directly, never replaced by a regular file.

    Raises
    ------
    FormatError
        If the directory does not exist or is not writable.
    """
    path = Path(path)
    target, special = write_target(path)
    if special:
        return _write_special(path, target, write)
    if not target.parent.is_dir():
        raise FormatError(f"{path}: directory {target.parent} does not exist")
    if target.is_dir():
        raise FormatError(f"{path}: is a directory, expected a file name")
    try:
        f, raw, tmp = _open_out(path, target)
    except PermissionError:
        raise FormatError(f"{path}: permission denied") from None
    except OSError as exc:  # read-only or special file system, ...
        raise FormatError(f"{path}: cannot write: {exc.strerror or exc}") from None
    try:
        with raw:
            with f:
                write(f)
        os.chmod(tmp, 0o644)
        os.replace(tmp, target)
    except BaseException as exc:
        tmp.unlink(missing_ok=True)
        if isinstance(exc, OSError):  # disk full, quota, ...: one error line, not a traceback
            raise FormatError(f"{path}: cannot write: {exc.strerror or exc}") from None
        raise
    return path


def _text_rows(keys, matrix, precision: int, trailing: str) -> Iterator[bytes]:
    fmt = " ".join([f"%.{precision}g"] * matrix.shape[1]) + trailing
    step = 20_000
    for lo in range(0, len(keys), step):
        rows = np.asarray(matrix[lo : lo + step], dtype=np.float32).tolist()
        yield "".join(
            f"{k} {fmt % tuple(r)}\n" for k, r in zip(keys[lo : lo + step], rows)
        ).encode("utf-8")


def _check_keys(keys, fmt: VectorFormat) -> None:
    # text formats read a tab as a space, and metadata.tsv splits on tabs: a tab would come
    # back as something else, so such keys are refused rather than changed silently
    tab = fmt in (VectorFormat.glove, VectorFormat.word2vec_text, VectorFormat.fasttext, VectorFormat.projector)
    for k in keys:
        if "\n" in k or "\r" in k or (fmt == VectorFormat.word2vec and " " in k) or k == "" or (
            tab and "\t" in k
        ):
            raise FormatError(
                f"key {k[:100]!r} cannot be written in the {fmt.value} format "
                "(empty, or contains a newline"
                + (" or a space)" if fmt == VectorFormat.word2vec else " or a tab)")
            )


def save(
    vectors: Vectors,
    path: str | os.PathLike,
    format: VectorFormat | str | None = None,
    *,
    precision: int = 6,
) -> list[Path]:
    """Write `vectors` to `path`, atomically (temporary file, then rename).

    Parameters
    ----------
    vectors : Vectors
    path : path-like
        Output file; ``.gz``/``.bz2``/``.xz`` compress. For ``projector`` it is the
        ``vectors.tsv`` path or an existing directory (any name not ending in ``.tsv``), and
        ``metadata.tsv`` is written beside it.
    format : VectorFormat or str, optional
        Default: from the suffix (:func:`format_for`).
    precision : int
        Significant digits of values in text formats (6, as GloVe and word2vec.c write them;
        9 round-trips float32 exactly). Binary is always exact.

    Returns
    -------
    list of Path
        The files written.

    Raises
    ------
    FormatError
        If the format cannot be told from the name, a key cannot be represented in it, or the
        directory does not exist.
    """
    path = Path(path)
    fmt = VectorFormat(format) if format else format_for(path)
    check_writable(path, fmt)
    keys, matrix = vectors.keys, vectors.matrix
    n, dim = matrix.shape
    if fmt == VectorFormat.projector:
        if path.is_dir() or path.suffix.lower() != ".tsv":  # a directory for the pair
            path = path / "vectors.tsv"
        meta = path.with_name("metadata.tsv")
        _check_keys(keys, fmt)

        def write_vectors(f: IO[bytes]) -> None:
            step = 20_000
            row_fmt = "\t".join([f"%.{precision}g"] * dim) + "\n"
            for lo in range(0, n, step):
                rows = np.asarray(matrix[lo : lo + step], dtype=np.float32).tolist()
                f.write("".join(row_fmt % tuple(r) for r in rows).encode())

        def write_meta(f: IO[bytes]) -> None:
            f.write("".join(k.replace("\t", " ") + "\n" for k in keys).encode("utf-8"))

        # the pair is one unit: both are written under temporary names and renamed only when
        # both are complete, so a failure never leaves new vectors beside old metadata
        if not path.parent.is_dir():
            raise FormatError(f"{path}: directory {path.parent} does not exist")
        tag = f".embviz-{os.getpid()}-"
        targets = [write_target(p)[0] for p in (path, meta)]  # through symlinks
        staged = [p.with_name(tag + p.name) for p in targets]
        try:
            atomic_write(staged[0], write_vectors)
            atomic_write(staged[1], write_meta)
            for src, dst in zip(staged, targets):
                os.replace(src, dst)
        except BaseException:
            for p in staged:
                p.unlink(missing_ok=True)
            raise
        return [path, meta]
    if fmt in (VectorFormat.npy, VectorFormat.parquet, VectorFormat.safetensors):
        return _save_table(vectors, path, fmt)
    _check_keys(keys, fmt)

    def write(f: IO[bytes]) -> None:
        if fmt != VectorFormat.glove:
            f.write(f"{n} {dim}\n".encode())
        if fmt == VectorFormat.word2vec:
            m = np.asarray(matrix, dtype="<f4")
            step = 20_000
            for lo in range(0, n, step):
                f.write(
                    b"".join(
                        k.encode("utf-8") + b" " + row.tobytes() + b"\n"
                        for k, row in zip(keys[lo : lo + step], m[lo : lo + step])
                    )
                )
        else:
            trailing = " " if fmt == VectorFormat.fasttext else ""
            for chunk in _text_rows(keys, matrix, precision, trailing):
                f.write(chunk)

    atomic_write(path, write)
    return [path]


# -- .npy, Parquet, safetensors ---------------------------------------------------------------
def keys_sidecar(path: Path) -> Path:
    """Return the keys file written beside an array file: ``NAME.keys.txt`` for ``NAME.npy``."""
    return path.with_name(path.name[: -len(path.suffix)] + ".keys.txt" if path.suffix else path.name + ".keys.txt")


def _save_table(vectors: Vectors, path: Path, fmt: VectorFormat) -> list[Path]:
    """Write ``.npy`` or safetensors (+ ``NAME.keys.txt``) or Parquet, float32, atomically.

    ``.npy``: the ``(n, dim)`` float32 array (C order); safetensors: the tensor
    ``embeddings`` ``(n, dim)`` F32 with ``{"format": "np"}`` metadata; both with the keys one
    per line in ``NAME.keys.txt``, the pair renamed into place only when both are complete.
    Parquet: ``key: string`` and ``vector: fixed_size_list<float32>[dim]`` in row groups of
    :data:`PARQUET_ROW_GROUP` rows, keys snappy-compressed, vectors uncompressed.
    """
    matrix = vectors.matrix
    n, dim = matrix.shape
    step = PARQUET_ROW_GROUP

    def rows():  # float32 blocks, so a float16 table is never copied whole
        for lo in range(0, n, step):
            yield lo, np.ascontiguousarray(matrix[lo : lo + step], dtype="<f4")

    if fmt == VectorFormat.parquet:
        from embviz.errors import require

        pa = require("pyarrow", package="pyarrow")
        pq = require("pyarrow.parquet", package="pyarrow")
        schema = pa.schema([("key", pa.string()), ("vector", pa.list_(pa.float32(), dim))])

        def write_parquet(f: IO[bytes]) -> None:
            # plain, uncompressed pages: distinct keys gain nothing from a dictionary and
            # little from snappy, and both cost time on every load (about 15 ms per 400,000)
            with pq.ParquetWriter(f, schema, compression="none", use_dictionary=False) as w:
                for lo, block in rows():
                    vec = pa.FixedSizeListArray.from_arrays(pa.array(block.reshape(-1)), dim)
                    keys = pa.array(vectors.keys[lo : lo + step], type=pa.string())
                    w.write_table(pa.Table.from_arrays([keys, vec], schema=schema), row_group_size=step)

        atomic_write(path, write_parquet)
        return [path]

    _check_keys(vectors.keys, fmt)

    def write_array(f: IO[bytes]) -> None:
        if fmt == VectorFormat.npy:
            header = {"descr": "<f4", "fortran_order": False, "shape": (n, dim)}
            if n * dim < 2**31:
                np.lib.format.write_array_header_1_0(f, header)
            else:  # a header longer than 64 KiB needs format 2.0
                np.lib.format.write_array_header_2_0(f, header)
        else:
            import json

            meta = {"__metadata__": {"format": "np"},
                    "embeddings": {"dtype": "F32", "shape": [n, dim], "data_offsets": [0, n * dim * 4]}}
            blob = json.dumps(meta, separators=(",", ":")).encode()
            blob += b" " * (-len(blob) % 8)  # the data starts 8-byte aligned
            f.write(len(blob).to_bytes(8, "little") + blob)
        for _, block in rows():
            f.write(block.tobytes())

    def write_keys(f: IO[bytes]) -> None:
        for lo in range(0, n, 100_000):
            f.write("".join(k + "\n" for k in vectors.keys[lo : lo + 100_000]).encode("utf-8"))

    keys_path = keys_sidecar(path)
    tag = f".embviz-{os.getpid()}-"
    staged = [p.with_name(tag + p.name) for p in (path, keys_path)]
    try:
        atomic_write(staged[0], write_array)
        atomic_write(staged[1], write_keys)
        for src, dst in zip(staged, (path, keys_path)):
            os.replace(src, dst)
    except BaseException:
        for p in staged:
            p.unlink(missing_ok=True)
        raise
    return [path, keys_path]
