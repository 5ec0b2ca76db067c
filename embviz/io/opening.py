"""Opening a file for reading bytes, with gzip/bz2/xz told from magic bytes.

The bottom of the readers: :mod:`embviz.io.sniffing` and the format declarations
(:mod:`embviz.io.formats`) open files through it.
"""

from __future__ import annotations

import bz2
import gzip
import lzma
import os
from pathlib import Path
from typing import IO

from embviz.errors import FormatError
from embviz.io.checks import DecodedStream


def compression(path: str | os.PathLike) -> str | None:
    """Return the compression of `path` from its magic bytes: "gzip", "bz2", "xz" or None."""
    with open(path, "rb") as f:
        magic = f.read(6)
    if magic[:2] == b"\x1f\x8b":
        return "gzip"
    if magic[:3] == b"BZh":
        return "bz2"
    if magic == b"\xfd7zXZ\x00":
        return "xz"
    return None


def open_bytes(path: str | os.PathLike, codec: str | None = "auto") -> IO[bytes]:
    """Open `path` for reading bytes, decompressing gzip/bz2/xz detected from magic bytes.

    Raises
    ------
    FormatError
        If the file does not exist, is a directory or cannot be read.
    """
    path = Path(path)
    try:
        comp = compression(path) if codec == "auto" else codec
        if comp == "gzip":
            return DecodedStream(gzip.open(path, "rb"), path, comp)
        if comp == "bz2":
            return DecodedStream(bz2.open(path, "rb"), path, comp)
        if comp == "xz":
            return DecodedStream(lzma.open(path, "rb"), path, comp)
        return open(path, "rb")
    except FileNotFoundError:
        raise FormatError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise FormatError(f"{path}: is a directory, expected a vector file") from None
    except PermissionError:
        raise FormatError(f"{path}: permission denied") from None
    except OSError as exc:
        raise FormatError(f"{path}: cannot read: {exc.strerror or exc}") from None
