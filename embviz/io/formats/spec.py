"""What a vector file format declares: its name, layout, detection, reader and writer.

Each format family is one module of :mod:`embviz.io.formats` holding :class:`Format` values;
the package's table (:data:`embviz.io.formats.FORMATS`) is the one list that sniffing,
reading, writing, ``--input-format``'s choices, ``--help`` and ``docs/formats.md``'s table
come from. This module is the bottom of that package: it imports nothing of embviz.
"""

from __future__ import annotations

import importlib
import os
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Callable

#: Bytes of a text file's first line looked at by a detector.
HEAD_BYTES = 1 << 16


class Probe:
    """What a detector looks at: a path, whether it is a folder, its first 64 bytes and size.

    The zip member names and the first decompressed text line are read on first use, so a
    detector pays only for what it asks.
    """

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        self.is_dir = self.path.is_dir()
        self.head = b""
        self.size = 0
        if not self.is_dir:
            with open(self.path, "rb") as f:  # OSError: the caller says "no format"
                self.head = f.read(64)
            self.size = self.path.stat().st_size

    @property
    def is_zip(self) -> bool:
        """Whether the file is a zip archive (its first bytes are ``PK``, 3, 4)."""
        return self.head[:4] == b"PK\x03\x04"

    @cached_property
    def zip_names(self) -> list[str] | None:
        """The member names of a zip archive; None for a damaged or unreadable one, or no zip."""
        if not self.is_zip:
            return None
        import zipfile

        try:
            with zipfile.ZipFile(self.path) as z:
                return z.namelist()
        except (zipfile.BadZipFile, OSError, NotImplementedError, ValueError, RuntimeError, EOFError):
            return None  # a damaged zip, or one that needs extract version 9.9

    @cached_property
    def first_line(self) -> bytes | None:
        """The first line (decompressed, at most :data:`HEAD_BYTES`, no line end); None if unreadable."""
        from embviz.errors import FormatError
        from embviz.io.opening import open_bytes

        try:
            with open_bytes(self.path) as f:
                return f.readline(HEAD_BYTES).rstrip(b"\r\n")
        except (FormatError, OSError, EOFError, ValueError):
            return None


Reader = Callable[..., tuple]
Writer = Callable[..., list]


@dataclass(frozen=True)
class Format:
    """One vector file format: a row of :data:`embviz.io.formats.FORMATS`.

    Attributes
    ----------
    name : str
        The ``--input-format`` / ``convert --to`` value, and the member of ``VectorFormat``
        (``-`` becomes ``_``: ``word2vec-text`` is ``VectorFormat.word2vec_text``).
    layout : str
        One line of Markdown: what the file holds (``docs/formats.md``'s table).
    short : str
        How ``-v``'s ``--help`` names it (``fastText .vec``).
    detect : callable or None
        ``detect(probe: Probe) -> bool`` from magic bytes or folder structure, tried in
        ``detect_order``. None for the word2vec/GloVe text and binary formats, which share
        one layout and are told apart by :func:`embviz.io.sniffing.sniff` from their content.
    read : str
        ``"module:function"`` of the reader, imported when a file is read. A streamed format
        (``stream=True``) names the parser ``(f, head, path, info, limit, sink)`` of
        :func:`embviz.io.read.read_into`; any other a function ``(path, fmt, options, limit,
        dtype) -> (keys, matrix (n, dim) of dtype, where the keys came from)``.
    write : str or None
        ``"module:function"`` of the writer ``(vectors, path, fmt, precision) -> list of the
        files written``; None for a read-only format.
    suffixes : tuple of str
        File suffixes that choose this format when writing (``convert a.bin b.vec``).
    keys : str
        Where the keys live: ``"inside"`` the file, or ``"beside"`` it (``NAME.keys.txt``, a
        table column, ``--vocab``: see :mod:`embviz.io.keys`).
    companions : tuple of str
        Files beside the source that may hold its keys (the Projector's ``metadata.tsv``).
    folder_parts : bool
        A folder of ``*.parquet`` part files reads as this format (the cache checks each part).
    extra : str or None
        The ``pip install 'embviz[EXTRA]'`` extra a read needs.
    """

    name: str
    layout: str
    short: str
    read: str
    detect: Callable[[Probe], bool] | None = None
    detect_order: int = 0
    stream: bool = False
    write: str | None = None
    suffixes: tuple[str, ...] = ()
    keys: str = "beside"
    companions: tuple[str, ...] = ()
    folder_parts: bool = False
    extra: str | None = None

    def reader(self) -> Reader:
        """Import and return the reader function."""
        return _resolve(self.read)

    def writer(self) -> Writer | None:
        """Import and return the writer function, or None for a read-only format."""
        return None if self.write is None else _resolve(self.write)


def _resolve(ref: str) -> Callable:
    module, _, attr = ref.partition(":")
    return getattr(importlib.import_module(module), attr)


def floats(fields: list[bytes]) -> bool:
    """Whether every field parses as a float."""
    try:
        for x in fields:
            float(x)
    except ValueError:
        return False
    return True
