"""The one table of vector file formats: :data:`FORMATS`, and what is derived from it.

Each format family is one module here declaring its :class:`~embviz.io.formats.spec.Format`
values (name, layout, detection, reader, writer, suffixes); :data:`FORMATS` lists them, and
everything else comes from it: the ``VectorFormat`` enum (``--input-format``, ``convert
--to``), container detection (:func:`detect`), the readers and writers
(:mod:`embviz.io.read`, :mod:`embviz.io.sources`, :mod:`embviz.io.write`), ``-v``'s
``--help`` (:func:`help_list`) and ``docs/formats.md``'s table (:func:`markdown_table`).

Adding a format: a module here with its ``FORMATS``, listed in :data:`FAMILIES`, and tests.
The parsing of a big format may live in a module of :mod:`embviz.io` that the declaration
names (``read="embviz.io.hdf5:read_hdf5"`` style); it is imported only when such a file is read.
"""

from __future__ import annotations

import os
from enum import Enum

from embviz.io.formats import arrays, fasttext, hdf5, projector, tables, word2vec
from embviz.io.formats.spec import Format, Probe

#: The format families, in the order of ``docs/formats.md``'s table.
FAMILIES = (word2vec, fasttext, projector, arrays, hdf5, tables)
#: Every format, in the order of the docs' table and of ``--input-format``'s choices.
FORMATS: tuple[Format, ...] = tuple(f for family in FAMILIES for f in family.FORMATS)
_BY_NAME = {f.name: f for f in FORMATS}

VectorFormat = Enum(  # type: ignore[misc]
    "VectorFormat", [(f.name.replace("-", "_"), f.name) for f in FORMATS], type=str, module=__name__,
)
VectorFormat.__doc__ = "Vector file formats (``--input-format``, ``convert --to``), one per row of FORMATS."

#: The formats told from magic bytes or folder structure, in the order they are tried.
DETECTED = tuple(sorted((f for f in FORMATS if f.detect is not None), key=lambda f: f.detect_order))
#: Formats read whole by a reader function (arrays, tables, folders, models, the Projector pair).
CONTAINERS = frozenset(VectorFormat(f.name) for f in FORMATS if not f.stream)
#: Formats read by the streaming text/binary parsers, told apart by their content.
STREAMED = tuple(VectorFormat(f.name) for f in FORMATS if f.stream)
#: Formats :func:`embviz.io.save` writes.
WRITABLE = tuple(VectorFormat(f.name) for f in FORMATS if f.write is not None)


def get(fmt: str | Enum) -> Format:
    """Return the row of `fmt` (a name or a ``VectorFormat``). Raises KeyError for an unknown name."""
    return _BY_NAME[str(getattr(fmt, "value", fmt))]


def detect(path: str | os.PathLike) -> VectorFormat | None:
    """Return the format of `path` from magic bytes or folder structure, else None (a text format, or none).

    Tries :data:`DETECTED` in order; a zip archive is only ever one of the zip formats (npz,
    torch). Unreadable paths give None, so the caller's own open reports why.
    """
    try:
        probe = Probe(path)
    except OSError:
        return None
    for f in DETECTED:
        if probe.is_dir != (f.name == "spark"):
            continue  # folders are Spark's; files everyone else's
        if probe.is_zip and f.name not in ("npz", "torch"):
            continue
        try:
            if f.detect(probe):
                return VectorFormat(f.name)
        except OSError:
            return None
    return None


def for_suffix(suffix: str) -> VectorFormat | None:
    """Return the format a written file's suffix chooses (``.vec`` fastText), else None."""
    for f in FORMATS:
        if suffix.lower() in f.suffixes:
            return VectorFormat(f.name)
    return None


def help_list() -> str:
    """Return the formats as ``-v``'s ``--help`` names them: ``word2vec .bin, .txt, GloVe, ...``."""
    return ", ".join(f.short for f in FORMATS)


def markdown_table() -> str:
    """``docs/formats.md``'s table of formats (a test checks the page against it)."""
    rows = ["| format | layout | read | write (suffix) |", "|---|---|---|---|"]
    for f in FORMATS:
        write = ", ".join(f"`{s}`" for s in f.suffixes) or ("yes" if f.write else "no")
        extra = f" (`pip install 'embviz[{f.extra}]'`)" if f.extra else ""
        rows.append(f"| `{f.name}` | {f.layout} | yes{extra} | {write} |")
    return "\n".join(rows) + "\n"


__all__ = ["CONTAINERS", "DETECTED", "FORMATS", "STREAMED", "WRITABLE", "Format", "Probe", "VectorFormat",
           "detect", "for_suffix", "get", "help_list", "markdown_table"]
