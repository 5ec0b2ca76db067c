"""Writing vector files: :func:`save` calls the format's own writer, always atomically.

Each writable format's writer lives with its declaration in :mod:`embviz.io.formats`; this
module dispatches to them and holds the suffix → format rule of :func:`format_for`; what
the writers share (the atomic write, compression by suffix, the key checks) is
:mod:`embviz.io.atomic`, re-exported here.
"""

from __future__ import annotations

import os
from pathlib import Path

from embviz.errors import FormatError
from embviz.io import formats
from embviz.io.atomic import (  # noqa: F401 - re-exported: the writers' shared helpers
    atomic_write,
    check_keys,
    float32_blocks,
    keys_sidecar,
    replace_together,
    write_target,
)
from embviz.io.formats import WRITABLE, VectorFormat
from embviz.vectors import Vectors


def _written_names() -> list[str]:
    """Name the written formats by suffix, for messages: ``.bin (word2vec)``, ..., ``.npy``."""
    return [f.suffixes[0] + ("" if f.suffixes[0][1:] == f.name else f" ({f.name})")
            for f in formats.FORMATS if f.write is not None and f.suffixes]


def check_writable(path: str | os.PathLike, fmt: VectorFormat) -> None:
    """Raise :class:`FormatError` if embviz cannot write `fmt` (a read-only format)."""
    if VectorFormat(fmt) not in WRITABLE:
        names = _written_names()
        raise FormatError(
            f"{path}: embviz reads {VectorFormat(fmt).value} files but does not write them; write "
            f"{', '.join(names[:-1])} or {names[-1]}"
        )


def format_for(path: str | os.PathLike) -> VectorFormat:
    """Return the format a file name implies (``.bin``, ``.txt``, ``.vec``, ``.tsv``, + ``.gz`` ...).

    The suffixes are the formats' own (:data:`embviz.io.formats.FORMATS`).

    Raises
    ------
    FormatError
        If the suffix is not one of them.
    """
    p = Path(path)
    suffixes = [s.lower() for s in p.suffixes]
    while suffixes and suffixes[-1] in (".gz", ".bz2", ".xz"):
        suffixes.pop()
    found = formats.for_suffix(suffixes[-1]) if suffixes else None
    if found is not None:
        return found
    raise FormatError(f"{path}: cannot tell the format from the name; use {', '.join(_written_names())} or pass --to")


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
    return formats.get(fmt).writer()(vectors, path, fmt.value, precision)


