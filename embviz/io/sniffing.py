r"""Sniffing: what a vector file is (format, compression, header) from its first bytes.

The format is sniffed from the content and gzip/bz2/xz from magic bytes; an explicit format
always wins (:func:`embviz.io.load`). Pure functions: no parsing of the body, no cache.

The formats themselves are declared in :mod:`embviz.io.formats` (one table). The four that
share one layout (``word2vec`` binary, ``word2vec-text``, ``glove``, ``fasttext`` ``.vec``)
have no magic bytes and are told apart here by :func:`sniff` from the header and the first
row; every other format by its own detector (:func:`container_format`).
"""

from __future__ import annotations

import lzma
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from embviz.errors import FormatError
from embviz.io.formats import CONTAINERS, STREAMED, VectorFormat, detect
from embviz.io.formats.fasttext import MAGIC as _FASTTEXT_MAGIC
from embviz.io.formats.fasttext import old_model as _old_fasttext
from embviz.io.formats.hdf5 import SIGNATURE as HDF5_SIGNATURE
from embviz.io.formats.hdf5 import SUFFIXES as HDF5_SUFFIXES
from embviz.io.formats.hdf5 import signature_offset as hdf5_offset
from embviz.io.formats.projector import is_single_column
from embviz.io.formats.spec import HEAD_BYTES
from embviz.io.formats.spec import floats as _floats
from embviz.io.opening import compression, open_bytes

#: The word2vec/GloVe/fastText text and binary formats, told apart by :func:`sniff` from content.
READABLE = STREAMED
__all__ = ["CONTAINERS", "HDF5_SIGNATURE", "HDF5_SUFFIXES", "READABLE", "SourceInfo", "VectorFormat",
           "compression", "container_format", "hdf5_offset", "is_single_column", "open_bytes", "sniff"]

#: Bytes read (after decompression) per parsing step; bounds the parser's temporary memory.
CHUNK_BYTES = 1 << 22
#: Threads parsing text blocks concurrently (pandas' C parser and numpy release the GIL).
PARSE_THREADS = min(4, os.cpu_count() or 1)
_BOM = b"\xef\xbb\xbf"
_HEADER = re.compile(rb"^[ \t]*(\d{1,18})[ \t]+(\d{1,18})[ \t]*\r?$")  # int() of 4,300+ digits raises
_MAX_DIM = 100_000
#: Leading blank lines read before a file is called empty, and the longest first lines sniffed.
_HEAD_BLANK_MAX = 1 << 26
_HEAD_LINE_MAX = 2 * ((1 << 16) + 32 * _MAX_DIM)
#: word2vec.c writes values with ``%lf`` (six decimals); fastText with 5 significant digits.
_FIXED6 = re.compile(rb"^-?\d+\.\d{6}$")


@dataclass(frozen=True)
class SourceInfo:
    """What ``sniff`` learnt about a file."""

    format: VectorFormat
    compression: str | None  # "gzip", "bz2", "xz" or None
    count: int | None  # the header's count, if any (not trusted until the data confirms it)
    dim: int | None


def _head_incomplete(head: bytes) -> bool:
    """Whether `head` still lacks the first two non-blank lines a sniff looks at."""
    body = head.lstrip(b" \t\r\n")
    if not body:
        return len(head) < _HEAD_BLANK_MAX  # only blank lines so far: read on, up to a bound
    nl = body.find(b"\n")
    return len(body) < _HEAD_LINE_MAX and (nl < 0 or body.find(b"\n", nl + 1) < 0)


def _read_head(f: IO[bytes], path: Path) -> bytes:
    """Read the first bytes: at least ``HEAD_BYTES``, and on until two non-blank lines are in.

    Leading blank lines (up to 64 MiB) and first lines longer than ``HEAD_BYTES`` (a
    10,000-character key, a row of 100,000 values) are read whole, so they are sniffed
    from their content, not from a cut.
    """
    try:
        head = f.read(HEAD_BYTES)
        while len(head) >= HEAD_BYTES and _head_incomplete(head):
            more = f.read(len(head))
            if not more:
                break
            head += more
        return head
    except FormatError:
        raise
    except (OSError, EOFError, lzma.LZMAError, ValueError) as exc:
        raise FormatError(f"{path}: cannot decompress: {exc}") from None


def _not_a_vector_file(head: bytes, path: Path) -> str | None:
    """Return a reason why `head` is clearly not a vector file, or None."""
    if head[:4] == _FASTTEXT_MAGIC:
        return (
            "is a fastText model (.bin), not a vector file; load the .vec file fastText wrote "
            "beside it, or export one with 'fasttext print-word-vectors'"
        )
    if _old_fasttext(head):
        return (
            "is a fastText model (.bin, old format without the magic number), not a vector "
            "file; load the .vec file fastText wrote beside it, or export one with "
            "'fasttext print-word-vectors'"
        )
    text = head.lstrip(_BOM).lstrip()
    if text.startswith(b"version https://git-lfs"):
        return "is a Git LFS pointer, not the vectors; run 'git lfs pull' to fetch the real file"
    low = text[:200].lower()
    if low.startswith((b"<!doctype", b"<html", b"<?xml", b"<head", b"<body")):
        return "is an HTML/XML page, not a vector file (a failed download?)"
    if head[:4] == b"PK\x03\x04":
        return "is a zip archive; unzip it first (embviz reads gzip, bz2 and xz directly)"
    if head[:6] == b"\x93NUMPY":
        return "is a compressed .npy array; decompress it first (embviz memory-maps .npy files directly)"
    if head[:8] == HDF5_SIGNATURE:
        return "is a compressed HDF5 file; decompress it first (embviz reads HDF5 files in place)"
    return None


def _first_line(data: bytes, start: int = 0, limit: int = HEAD_BYTES) -> bytes:
    end = data.find(b"\n", start, start + limit)
    return data[start : (end if end >= 0 else start + limit)]


def sniff(path: str | os.PathLike) -> SourceInfo:
    """Detect the format and compression of a vector file from its content.

    Returns
    -------
    SourceInfo
        The format, compression and (untrusted) header count and dim.

    Raises
    ------
    FormatError
        If the file is empty, is not a vector file (an HTML page, a Git LFS pointer, a
        fastText model ``.bin``, ...) or its first line is neither a ``<count> <dim>`` header
        nor ``<key> <numbers>``.
    """
    path = Path(path)
    container = container_format(path)
    if container is not None:
        return SourceInfo(container, None, None, None)
    comp = compression(path) if path.is_file() else None
    with open_bytes(path) as f:
        head = _read_head(f, path)
    return _sniff_head(head, path, comp)


def container_format(path: str | os.PathLike) -> VectorFormat | None:
    r"""Tell the array, table, model and folder formats from magic bytes or structure, else None.

    Each format's own detector decides (:data:`embviz.io.formats.FORMATS`, tried in their
    ``detect_order``): ``\x93NUMPY`` npy; a fastText model's magic (or old header)
    fasttext-bin; ``PAR1`` parquet; ``ARROW1`` (or an IPC stream's continuation marker)
    arrow; a zip of ``.npy`` members npz; a pickle stream or a zip holding ``data.pkl`` torch;
    an 8-byte header length followed by ``{`` safetensors; ``\x89HDF\r\n\x1a\n`` at byte 0,
    512, 1024, ... hdf5; a text file whose first line is tab-separated numbers projector
    (``vectors.tsv``); a folder with ``metadata/`` + ``data/`` (Spark ``Word2VecModel.save``)
    or ``*.parquet`` parts spark.
    """
    return detect(path)


def _sniff_head(head: bytes, path: Path, comp: str | None) -> SourceInfo:
    reason = _not_a_vector_file(head, path)
    if reason:
        raise FormatError(f"{path}: {reason}")
    data = head[3:] if head.startswith(_BOM) else head
    body = data.lstrip(b"\r\n")
    if not body.strip():
        raise FormatError(f"{path}: file is empty, expected vectors")
    line_no = data[: len(data) - len(body)].count(b"\n") + 1
    first = _first_line(body)
    m = _HEADER.match(first)
    if m:
        count, dim = int(m.group(1)), int(m.group(2))
        if dim < 1 or dim > _MAX_DIM:
            raise FormatError(f"{path}: line {line_no}: header dim {dim} is not in 1..{_MAX_DIM:,}")
        rest = body[len(first) + 1 :]
        probe = rest
        while True:  # blank lines after the header (text only: binary records follow at once)
            nl = probe.find(b"\n", 0, 4096)
            if nl < 0 or probe[:nl].strip(b" \t\r"):
                break
            probe = probe[nl + 1 :]
        nxt = _first_line(probe, 0, (1 << 16) + 32 * dim + 4096)
        fields = nxt.rstrip(b" \t\r").split(b" ")
        is_text = (len(fields) >= dim + 1 and _floats(fields[-dim:])) or (
            # a malformed first row (ragged, non-numeric) is still text, so that the text
            # reader reports it by line number instead of misreading it as binary records,
            # unless it has a binary record's layout (a vector of 4 dim bytes, then a newline
            # or the end: 'key fs:?' is the float 0.728 when dim is 1)
            b"\x00" not in nxt and len(fields) >= 2 and _is_clean_text(nxt)
            and not _binary_layout(probe, dim)
        )
        if is_text:
            # both end lines with a space; word2vec.c's values all have six decimals (%lf)
            fixed6 = len(fields) > dim and all(_FIXED6.match(x) for x in fields[-dim:])
            fmt = (
                VectorFormat.fasttext
                if nxt.endswith((b" ", b" \r")) and not fixed6
                else VectorFormat.word2vec_text
            )
        elif not rest.strip(b"\r\n \t") and count > 0:
            raise FormatError(
                f"{path}: line {line_no}: header says {count:,} vectors but no data follows"
            )
        else:
            fmt = VectorFormat.word2vec
        return SourceInfo(fmt, comp, count, dim)
    fields = first.rstrip(b" \t\r").split(b" ")
    if len(fields) >= 2 and _floats(fields[-1:]) and not _floats(fields[:1]) or (
        len(fields) >= 3 and _floats(fields[1:])
    ):
        return SourceInfo(VectorFormat.glove, comp, None, None)
    if path.suffix.lower() in HDF5_SUFFIXES and comp is None:  # the name says HDF5, the content not
        raise FormatError(
            f"{path}: named like an HDF5 file but is not one: no signature {HDF5_SIGNATURE!r} at byte "
            f"0, 512, 1024, ... (it starts {head[:8]!r})"
        )
    if b"\x00" in first or not _is_text(first):
        raise FormatError(f"{path}: not a vector file: line {line_no} is binary data without a "
                          "'<count> <dim>' header")
    shown = first[:60].decode("utf-8", "replace")
    raise FormatError(
        f"{path}: not a vector file: line {line_no} is {shown!r}, expected a "
        "'<count> <dim>' header or '<key> <v1> <v2> ...'"
    )


def _binary_layout(probe: bytes, dim: int) -> bool:
    """Whether `probe` starts like a word2vec binary record: key, space, 4 dim bytes, newline/end."""
    sp = probe.find(b" ")
    end = sp + 1 + 4 * dim
    return 0 < sp and b"\n" not in probe[:sp] and (end == len(probe) or probe[end : end + 1] == b"\n")


def _is_clean_text(b: bytes) -> bool:
    """UTF-8 without control characters other than tab and CR (a cut last character is ok)."""
    if any(c < 32 and c not in (9, 13) for c in b):
        return False
    return _is_text(b) or _is_text(b[:-1]) or _is_text(b[:-2]) or _is_text(b[:-3])


def _is_text(b: bytes) -> bool:
    try:
        b.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True

