"""Writing files atomically: a temporary file beside the target, then a rename.

What every format's writer (:mod:`embviz.io.formats`) shares, below the table of formats:
:func:`atomic_write` (compression by suffix, symlinks written through, FIFOs and devices
written directly), :func:`replace_together` for a format of several files, the key checks,
and float32 blocks of a table. :func:`embviz.io.save` is in :mod:`embviz.io.write`.
"""

from __future__ import annotations

import bz2
import gzip
import lzma
import os
import tempfile
from pathlib import Path
from typing import IO, Callable

import numpy as np

from embviz.errors import FormatError

#: Rows per block written (and per Parquet row group: the reader holds one at a time).
BLOCK_ROWS = 65_536


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


def check_keys(keys, fmt: str) -> None:  # noqa: ANN001
    """Raise :class:`FormatError` for a key the format `fmt` cannot hold as it is.

    No format holds an empty key or one with a newline; word2vec binary none with a space;
    the text formats and the Projector none with a tab (they read a tab as a space, and
    ``metadata.tsv`` splits on tabs), so such keys are refused rather than changed silently.
    """
    name = str(getattr(fmt, "value", fmt))
    tab = name in ("glove", "word2vec-text", "fasttext", "projector")
    for k in keys:
        if "\n" in k or "\r" in k or (name == "word2vec" and " " in k) or k == "" or (tab and "\t" in k):
            raise FormatError(
                f"key {k[:100]!r} cannot be written in the {name} format "
                "(empty, or contains a newline"
                + (" or a space)" if name == "word2vec" else " or a tab)")
            )


def float32_blocks(matrix, step: int = BLOCK_ROWS):  # noqa: ANN001, ANN201
    """``(lo, rows lo..lo+step as contiguous float32)`` blocks, so a float16 table is never copied whole."""
    n = matrix.shape[0]
    for lo in range(0, n, step):
        yield lo, np.ascontiguousarray(matrix[lo : lo + step], dtype="<f4")


def replace_together(parts: list[tuple[Path, Callable[[IO[bytes]], None]]], through_links: bool = False) -> None:
    """Write several files as one unit: each under a temporary name, renamed only when all are complete.

    A failure removes every temporary file, so the targets are either all new or untouched.
    With `through_links`, a symlinked target is written through to the file it points to.
    """
    tag = f".embviz-{os.getpid()}-"
    targets = [write_target(p)[0] if through_links else p for p, _ in parts]
    staged = [t.with_name(tag + t.name) for t in targets]
    try:
        for tmp, (_, write) in zip(staged, parts):
            atomic_write(tmp, write)
        for tmp, target in zip(staged, targets):
            os.replace(tmp, target)
    except BaseException:
        for tmp in staged:
            tmp.unlink(missing_ok=True)
        raise


def keys_sidecar(path: Path) -> Path:
    """Return the keys file written beside an array file: ``NAME.keys.txt`` for ``NAME.npy``."""
    return path.with_name(path.name[: -len(path.suffix)] + ".keys.txt" if path.suffix else path.name + ".keys.txt")
