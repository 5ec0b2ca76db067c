"""What an array file declares, checked before anything is allocated, and which array to read.

The checks every array reader of :mod:`embviz.io.arrays` and :mod:`embviz.io.npz` shares: a
``.npy`` header read and checked (:func:`_npy_header`, :class:`NpyHeader`), exact byte sizes
computed with Python ints (:func:`_nbytes`), arrays of objects or non-numbers refused
(:func:`_numeric`), the one-line cut of a header's text for messages (:func:`_cut`,
:func:`_q`), and the choice of the embedding table among a file's arrays (:func:`choose`,
:data:`KNOWN_NAMES`).
"""

from __future__ import annotations

import io
import math
import re
import struct
import tokenize
import warnings
from pathlib import Path
from typing import BinaryIO, NamedTuple

import numpy as np

from embviz.errors import FormatError

#: Tensor names that are an embedding table (model2vec, sentence-transformers, HF models).
KNOWN_NAMES = re.compile(
    r"^(.*[._/])?(embeddings?|emb|embed_tokens|word_embeddings|wte|shared)(\.weight)?$|^weight$"
)


# -- choosing an array -----------------------------------------------------------------------
def choose(path: Path, shapes: dict[str, tuple[tuple[int, ...], str]], tensor: str | None) -> str:
    """Return the name of the embedding table among `shapes` ``{name: (shape, dtype)}``.

    ``--tensor`` wins; else the only 2-D floating array; else the only one with a known
    embedding name.

    Raises
    ------
    FormatError
        If `tensor` is absent or not 2-D, or no or several arrays fit (listed with shapes).
    """
    if tensor is not None:
        if tensor not in shapes:
            raise FormatError(f"{path}: no tensor {tensor!r} (tensors: {_listing(shapes, shapes)})")
        if len(shapes[tensor][0]) != 2:
            raise FormatError(
                f"{path}: tensor {tensor!r} has shape {_cut(str(list(shapes[tensor][0])), 80)}, "
                "expected 2-D (rows, dim)"
            )
        return tensor
    fits = [k for k, (s, d) in shapes.items() if len(s) == 2 and _floating(d)]
    if len(fits) == 1:
        return fits[0]
    known = [k for k in fits if KNOWN_NAMES.match(k)]
    if len(known) == 1:
        return known[0]
    if not fits:
        raise FormatError(f"{path}: no 2-D floating array (arrays: {_listing(shapes, shapes)})")
    cands = _listing(known or fits, shapes, dtype=False)
    raise FormatError(f"{path}: several 2-D arrays fit: {cands}; pick one with --tensor NAME")


def _listing(names, shapes: dict[str, tuple[tuple[int, ...], str]], dtype: bool = True) -> str:  # noqa: ANN001
    """``name [shape] dtype, ...`` for a message: at most 10 names, each cut to 60 characters."""
    names = list(names)
    items = [
        f"{_cut(k, 60)} {_cut(str(list(shapes[k][0])), 40)}" + (f" {_cut(shapes[k][1], 20)}" if dtype else "")
        for k in names[:10]
    ]
    more = f", ... ({len(names) - 10:,} more)" if len(names) > 10 else ""
    return (", ".join(items) + more) or "none"


def _floating(dtype: str) -> bool:
    return dtype.startswith(("float", "F", "BF", "<f", ">f", "bfloat"))

# -- what a header declares ------------------------------------------------------------------
#: numpy's limit on an array's byte size (its dimensions multiply in a signed 64-bit integer).
_MAX_BYTES = (1 << 63) - 1


def _cut(text: str, limit: int = 200) -> str:
    """`text` on one line, cut in the middle beyond `limit` characters (headers can be huge)."""
    text = " ".join(str(text).split())
    return text if len(text) <= limit else f"{text[: limit // 2]} ... {text[-limit // 2 :]}"


def _q(name: str) -> str:
    """`name` quoted for a message, cut to about 60 characters (a header may hold any string)."""
    return _cut(repr(name), 60)


def _nbytes(at: str, shape: object, itemsize: int) -> int:
    """Return the exact byte size of `shape` x `itemsize`; `at` begins the error message.

    Computed with Python integers, so ``(2**62, 4)`` is 2**65 bytes, never a wrapped-around
    int64; ``True`` is not a dimension (``bool`` is an ``int`` subclass), nor is ``-1``.

    Raises
    ------
    FormatError
        If `shape` is not a list or tuple of non-negative integers, or describes more than
        2**63 - 1 bytes even ignoring its zero dimensions (numpy's limit for any array).
    """
    if not isinstance(shape, (list, tuple)) or not all(type(x) is int and x >= 0 for x in shape):
        raise FormatError(
            f"{at}: shape {_cut(repr(shape), 80)}, expected non-negative integers"
        )
    if math.prod(x for x in shape if x) * itemsize > _MAX_BYTES:
        raise FormatError(f"{at}: shape {_cut(repr(shape), 80)} is too big for any array")
    return math.prod(shape) * itemsize


def _numeric(path: Path, dtype: np.dtype, what: str) -> None:
    """Refuse arrays of Python objects (never unpickled) and of non-numbers, before any data."""
    if dtype.hasobject:
        raise FormatError(
            f"{path}: {what} of Python objects (dtype {dtype}); embviz never unpickles, "
            "expected a numeric array"
        )
    if dtype.kind not in "fiub":
        raise FormatError(f"{path}: {what} of dtype {_cut(str(dtype), 80)}, expected numbers")


# -- the .npy header ------------------------------------------------------------------------
#: numpy.load's own limit on a .npy header (``max_header_size``); longer ones are refused unread.
_MAX_NPY_HEADER = 10_000
#: The .npy versions numpy reads, with the struct format of their header-length field.
_NPY_VERSIONS = {(1, 0): "<H", (2, 0): "<I", (3, 0): "<I"}
_NPY_ERRORS = (ValueError, SyntaxError, TypeError, tokenize.TokenError, RecursionError, MemoryError)


class NpyHeader(NamedTuple):
    """A checked ``.npy`` header: `nbytes` is exact and the data starts at byte `offset`."""

    shape: tuple[int, ...]
    fortran: bool
    dtype: np.dtype
    offset: int
    nbytes: int


def _npy_header(f: BinaryIO, path: Path, where: str) -> NpyHeader:
    """Read and check the ``.npy`` header of the stream `f`, leaving `f` at the data.

    Reads at most 10,012 bytes whatever the header claims; the header dictionary is parsed by
    numpy's own reader, then every dimension is checked to be a non-negative ``int`` (not a
    ``bool``) and the byte size is computed without overflow.

    Raises
    ------
    FormatError
        If the magic, version or length is wrong, the header is longer than numpy's limit
        (10,000 bytes), is not ASCII, or numpy cannot parse it, or a dimension is not a
        non-negative integer.
    """
    at = f"{path}: {where}" if where else str(path)
    head = f.read(8)
    if len(head) < 8 or head[:6] != b"\x93NUMPY":
        raise FormatError(f"{at}: not a .npy stream (starts {head[:8]!r}, expected b'\\x93NUMPY')")
    version = (head[6], head[7])
    fmt = _NPY_VERSIONS.get(version)
    if fmt is None:
        raise FormatError(f"{at}: .npy format version {version[0]}.{version[1]}, expected 1.0, 2.0 or 3.0")
    raw = f.read(struct.calcsize(fmt))
    if len(raw) < struct.calcsize(fmt):
        raise FormatError(f"{at}: truncated .npy header ({8 + len(raw)} bytes)")
    (length,) = struct.unpack(fmt, raw)
    if length > _MAX_NPY_HEADER:
        raise FormatError(
            f"{at}: .npy header of {length:,} bytes, more than numpy's limit of {_MAX_NPY_HEADER:,}"
        )
    text = f.read(length)
    if len(text) < length:
        raise FormatError(f"{at}: truncated .npy header ({len(text):,} of {length:,} bytes)")
    if not text.isascii():
        raise FormatError(f"{at}: .npy header is not ASCII, expected a Python dict literal")
    read = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # numpy's note on Python 2 headers
            shape, fortran, dtype = read(io.BytesIO(raw + text))
    except _NPY_ERRORS as exc:
        raise FormatError(
            f"{at}: not a readable .npy header: {type(exc).__name__}: {_cut(str(exc))}"
        ) from None
    nbytes = _nbytes(f"{at}: .npy header", shape, dtype.itemsize)
    return NpyHeader(tuple(shape), fortran, dtype, 8 + len(raw) + length, nbytes)
