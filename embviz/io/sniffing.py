r"""Sniffing: what a vector file is (format, compression, header) from its first bytes.

The format is sniffed from the content and gzip/bz2/xz from magic bytes; an explicit format
always wins (:func:`embviz.io.load`). Pure functions: no parsing of the body, no cache.

Formats
-------
``word2vec``       binary: ``"<count> <dim>\n"``, then per key ``key + b" " + dim float32 (LE)``,
                   with or without ``\n`` after each vector (word2vec.c, gensim ``binary=True``).
``word2vec-text``  text: ``"<count> <dim>"`` header, then ``key v1 ... vdim`` per line.
``glove``          text without header (Pennington et al., GloVe).
``fasttext``       ``.vec``: word2vec text whose lines end with a space (fastText's output).
``fasttext-bin``   a fastText model ``.bin`` (magic ``793712314``, or the old format without it),
                   read by :mod:`embviz.io.fasttext_bin`: the words' vectors, and any word's.
``projector``      TensorFlow Embedding Projector ``vectors.tsv`` (+ ``metadata.tsv`` beside it).
``npy`` ``npz`` ``safetensors`` ``torch`` ``hdf5`` ``parquet`` ``arrow`` ``spark``
                   arrays, tables and Spark folders, told by :func:`container_format` from magic
                   bytes or folder structure and read by :mod:`embviz.io.sources`.
"""

from __future__ import annotations

import bz2
import gzip
import lzma
import os
import re
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import IO

from embviz.errors import FormatError
from embviz.io.checks import DecodedStream


class VectorFormat(str, Enum):
    """Vector file formats (``--input-format``, ``convert --to``)."""

    word2vec = "word2vec"
    word2vec_text = "word2vec-text"
    glove = "glove"
    fasttext = "fasttext"
    fasttext_bin = "fasttext-bin"
    projector = "projector"
    npy = "npy"
    npz = "npz"
    safetensors = "safetensors"
    parquet = "parquet"
    arrow = "arrow"
    spark = "spark"
    torch = "torch"
    hdf5 = "hdf5"


READABLE = (VectorFormat.word2vec, VectorFormat.word2vec_text, VectorFormat.glove, VectorFormat.fasttext)
#: Formats read by :mod:`embviz.io.sources` (arrays, tables, the Projector pair), told by
#: :func:`container_format` from magic bytes or folder structure.
CONTAINERS = frozenset({
    VectorFormat.projector, VectorFormat.npy, VectorFormat.npz, VectorFormat.safetensors,
    VectorFormat.parquet, VectorFormat.arrow, VectorFormat.spark, VectorFormat.torch,
    VectorFormat.fasttext_bin, VectorFormat.hdf5,
})

#: Bytes read (after decompression) per parsing step; bounds the parser's temporary memory.
CHUNK_BYTES = 1 << 22
#: Threads parsing text blocks concurrently (pandas' C parser and numpy release the GIL).
PARSE_THREADS = min(4, os.cpu_count() or 1)
#: Bytes looked at to sniff the format.
HEAD_BYTES = 1 << 16
_FASTTEXT_MAGIC = (793712314).to_bytes(4, "little")
#: The HDF5 format signature, at byte 0 or, after a user block, at byte 512, 1024, 2048, ...
HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"
#: File names that suggest HDF5 (only a hint for messages: the signature decides).
HDF5_SUFFIXES = (".h5", ".hdf5", ".he5")
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


# -- opening ---------------------------------------------------------------------------------
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


def hdf5_offset(f: IO[bytes], size: int) -> int | None:
    """Return where the HDF5 signature of the open file `f` (`size` bytes) is, or None.

    As the HDF5 library looks for it: at byte 0, else at 512, 1024, 2048, ... (after a user
    block), up to the end of the file: one 8-byte read per power of two.
    """
    at = 0
    while at + 8 <= size:
        f.seek(at)
        if f.read(8) == HDF5_SIGNATURE:
            return at
        at = 512 if at == 0 else at * 2
    return None


def _old_fasttext(head: bytes) -> bool:
    """Whether `head` starts with the arguments of an old fastText ``.bin`` (before 0.1.0).

    Those files begin directly with 12 int32 (dim, ws, epoch, minCount, neg, wordNgrams,
    loss, model, bucket, minn, maxn, lrUpdateRate) and the double ``t``, as gensim's
    ``lee_fasttext.bin``.
    """
    import struct

    if len(head) < 56:
        return False
    dim, ws, epoch, min_count, neg, ngrams, loss, model, bucket, minn, maxn, lr_update = (
        struct.unpack("<12i", head[:48])
    )
    (t,) = struct.unpack("<d", head[48:56])
    return (
        1 <= dim <= _MAX_DIM and 1 <= ws <= 1000 and 1 <= epoch <= 1_000_000
        and 0 <= min_count <= 10**9 and 0 <= neg <= 10_000 and 1 <= ngrams <= 100
        and 1 <= loss <= 4 and 1 <= model <= 3 and 0 <= bucket <= 10**9
        and 0 <= minn <= maxn <= 1000 and 0 <= lr_update <= 10**9 and 0.0 <= t < 1.0
    )


def _first_line(data: bytes, start: int = 0, limit: int = HEAD_BYTES) -> bytes:
    end = data.find(b"\n", start, start + limit)
    return data[start : (end if end >= 0 else start + limit)]


def _floats(fields: list[bytes]) -> bool:
    try:
        for x in fields:
            float(x)
    except ValueError:
        return False
    return True


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
    r"""Tell the array, table and folder formats from magic bytes or structure, else None.

    ``\x93NUMPY`` npy; a zip of ``.npy`` members npz; a zip holding ``data.pkl`` or a
    pickle stream torch; ``\x89HDF\r\n\x1a\n`` at byte 0, 512, 1024, ... hdf5; ``PAR1``
    parquet; ``ARROW1`` (or an IPC stream's continuation marker) arrow; an 8-byte header
    length followed by ``{`` safetensors; a folder with ``metadata/`` + ``data/`` (Spark
    ``Word2VecModel.save``) or ``*.parquet`` parts spark; a text file whose first line is
    tab-separated numbers projector (``vectors.tsv``).
    """
    path = Path(path)
    try:
        if path.is_dir():
            model = (path / "metadata").is_dir() and (path / "data").is_dir()
            data = path / "data" if model else path
            return VectorFormat.spark if any(data.glob("*.parquet")) else None
        with open(path, "rb") as f:
            head = f.read(64)
        size = path.stat().st_size
    except OSError:
        return None
    if head[:6] == b"\x93NUMPY":
        return VectorFormat.npy
    if head[:4] == _FASTTEXT_MAGIC or _old_fasttext(head):
        return VectorFormat.fasttext_bin
    if head[:4] == b"PAR1":
        return VectorFormat.parquet
    if head[:6] == b"ARROW1" or head[:4] == b"\xff\xff\xff\xff":
        return VectorFormat.arrow
    if head[:1] == b"\x80" and head[1:2] in (b"\x02", b"\x03", b"\x04", b"\x05"):
        return VectorFormat.torch
    if head[:4] == b"PK\x03\x04":
        import zipfile

        try:
            with zipfile.ZipFile(path) as z:
                names = z.namelist()
        except (zipfile.BadZipFile, OSError, NotImplementedError, ValueError, RuntimeError, EOFError):
            return None  # a damaged or unreadable zip (e.g. extract version 9.9) is no container
        if names and all(n.endswith(".npy") for n in names):
            return VectorFormat.npz
        if any(n == "data.pkl" or n.endswith("/data.pkl") for n in names):
            return VectorFormat.torch
        return None
    if head[:8] == HDF5_SIGNATURE:
        return VectorFormat.hdf5
    if len(head) >= 9 and head[8:9] == b"{" and 2 <= int.from_bytes(head[:8], "little") <= size - 8:
        return VectorFormat.safetensors
    try:
        with open(path, "rb") as f:
            if size > 512 and hdf5_offset(f, size) is not None:  # after a user block
                return VectorFormat.hdf5
    except OSError:
        return None
    try:
        with open_bytes(path) as f:
            first = f.readline(HEAD_BYTES).rstrip(b"\r\n")
    except (FormatError, OSError, EOFError, ValueError):
        return None
    fields = first.split(b"\t")
    if len(fields) >= 2 and b" " not in first and _floats(fields):
        return VectorFormat.projector
    return VectorFormat.projector if is_single_column(path, first) else None  # vectors of dim 1


def is_single_column(path: Path, first: bytes) -> bool:
    """Whether `path`, whose first line is `first`, is a one-dimensional ``vectors.tsv``.

    A line holding one number has no tab to tell it from other text, so it is the Projector's
    only when the file is named ``*.tsv`` (``vectors.tsv``, ``.tsv.gz``) or has the
    Projector's ``metadata.tsv`` beside it. The TensorFlow Embedding Projector reads such a
    file as vectors of dimension 1.
    """
    field = first.strip(b" \r")
    if not field or b"\t" in field or b" " in field:
        return False
    try:
        float(field)
    except ValueError:
        return False
    return ".tsv" in path.suffixes or (path.parent / "metadata.tsv").is_file() and path.name != "metadata.tsv"


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

