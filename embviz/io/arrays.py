r"""Readers of bare arrays: ``.npy``, ``.npz``, safetensors and (with torch) PyTorch state dicts.

None of these files carries keys: :mod:`embviz.io.keys` finds them. Nothing is ever unpickled:
``.npy``/``.npz`` arrays of objects are refused; a PyTorch file loads only through
``torch.load(weights_only=True)``. Every size a header declares is checked (non-negative
integers, byte sizes computed exactly with Python ints) against the file before anything is
allocated or mapped; a file the format's own reader refuses is refused (docs/errors.md).

``.npy``
    NumPy's format (magic ``\x93NUMPY``). Memory-mapped: a little-endian float32 C-order array
    is used in place, without a copy; other dtypes (float16, float64, integers) are converted
    once (the cache keeps the converted copy).
``.npz``
    A zip of ``.npy`` members. Only the chosen member is inflated, into memory sized from its
    checked header, and only if that is within what its compression method can produce, at
    most 100 times its compressed size above 64 MiB (a zip bomb otherwise), and available.
safetensors
    An 8-byte little-endian header length, a JSON header ``{name: {dtype, shape,
    data_offsets}}``, then the raw little-endian tensors (https://github.com/huggingface/
    safetensors). Parsed here with numpy alone and memory-mapped; the header is checked as the
    safetensors library checks it (serde_json's JSON, tensors tiling the data section) before
    any tensor is touched.
"""

from __future__ import annotations

import io
import json
import lzma
import math
import re
import struct
import tokenize
import warnings
import zipfile
import zlib
from pathlib import Path
from typing import BinaryIO, NamedTuple

import numpy as np

from embviz.errors import FormatError, MissingDependency

#: Tensor names that are an embedding table (model2vec, sentence-transformers, HF models).
KNOWN_NAMES = re.compile(
    r"^(.*[._/])?(embeddings?|emb|embed_tokens|word_embeddings|wte|shared)(\.weight)?$|^weight$"
)
_ST_DTYPES = {
    "F64": "<f8", "F32": "<f4", "F16": "<f2", "BF16": "<u2",
    "I64": "<i8", "I32": "<i4", "I16": "<i2", "I8": "i1",
    "U64": "<u8", "U32": "<u4", "U16": "<u2", "U8": "u1", "BOOL": "?",
}
#: The largest safetensors header the reader accepts (the format's own limit is 100 MB).
_MAX_HEADER = 100_000_000


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


# -- checks shared by every reader ------------------------------------------------------------
def check_matrix(path: Path, matrix: np.ndarray, what: str = "row") -> None:
    """Raise FormatError naming the first row and column of `matrix` that is NaN or infinite.

    One pass per block computes the squared norm of each row (a NaN or inf makes it
    non-finite) at memory speed; only the rows whose squared norm is not finite are inspected
    (a finite row whose squared norm overflows is left to :func:`embviz.io.checks.check_rows`).
    """
    if matrix.ndim != 2:
        raise FormatError(f"{path}: array of shape {list(matrix.shape)}, expected 2-D (rows, dim)")
    n, dim = matrix.shape
    if n == 0 or dim == 0:
        raise FormatError(f"{path}: array of shape {list(matrix.shape)} is empty, expected vectors")
    if matrix.dtype.kind not in "f":
        return
    step = max(1, (1 << 22) // max(dim, 1))
    for lo in range(0, n, step):
        block = matrix[lo : lo + step]
        with np.errstate(all="ignore"):
            sq = np.einsum("ij,ij->i", block, block)
        cand = np.flatnonzero(~np.isfinite(sq))
        if not len(cand):
            continue
        rows = cand[~np.isfinite(block[cand]).all(axis=1)]  # not just an overflowing norm
        if len(rows):
            r = int(rows[0])
            c = int(np.flatnonzero(~np.isfinite(block[r]))[0])
            raise FormatError(
                f"{path}: {what} {lo + r:,}, column {c:,}: value is {block[r, c]}, "
                "expected a finite number"
            )


def as_float(path: Path, matrix: np.ndarray, dtype: str) -> np.ndarray:
    """Return `matrix` as a read-only C-order `dtype` array: as is if it already is one, else a copy."""
    want = np.dtype(dtype)
    if matrix.dtype.kind not in "fiub":
        raise FormatError(f"{path}: array of dtype {matrix.dtype}, expected numbers")
    if matrix.dtype == want and matrix.dtype.isnative and matrix.flags.c_contiguous:
        if matrix.flags.writeable:
            matrix = matrix.view()
            matrix.flags.writeable = False
        return matrix
    out = np.empty(matrix.shape, dtype=want)
    step = max(1, (1 << 24) // max(matrix.shape[1], 1))
    with np.errstate(over="ignore"):  # float64 beyond float32: inf, refused by check_matrix
        for lo in range(0, matrix.shape[0], step):
            out[lo : lo + step] = matrix[lo : lo + step]
    out.flags.writeable = False
    return out


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


# -- .npy ------------------------------------------------------------------------------------
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


def read_npy(path: Path) -> np.ndarray:
    """Map a ``.npy`` file read-only: ``(n, dim)`` in the file's dtype, no copy.

    Raises
    ------
    FormatError
        If the header is damaged or lies (a negative, boolean or huge dimension; more bytes
        than the file has), the array holds Python objects (never unpickled) or non-numbers,
        or it is not 2-D.
    """
    try:
        with open(path, "rb") as f:
            h = _npy_header(f, path, "")
    except OSError as exc:
        raise FormatError(f"{path}: cannot read: {exc.strerror or exc}") from None
    if h.dtype.hasobject:
        raise FormatError(
            f"{path}: .npy array of Python objects (dtype {h.dtype}); embviz never unpickles, "
            "expected a numeric array"
        )
    _numeric(path, h.dtype, ".npy array")
    if len(h.shape) != 2:
        raise FormatError(f"{path}: .npy array of shape {_cut(str(list(h.shape)), 80)}, expected 2-D (rows, dim)")
    need = h.offset + h.nbytes
    size = path.stat().st_size
    if size < need:
        raise FormatError(
            f"{path}: truncated .npy: header says {list(h.shape)} {h.dtype} ({need:,} bytes) but "
            f"the file has {size:,} bytes"
        )
    if h.nbytes == 0:
        return np.empty(h.shape, dtype=h.dtype)
    order = "F" if h.fortran else "C"
    m = np.memmap(path, dtype=h.dtype, mode="r", offset=h.offset, shape=h.shape, order=order)
    return np.ndarray.view(m, np.ndarray) if not h.fortran else np.asarray(m)


# -- .npz ------------------------------------------------------------------------------------
#: The zip compression methods Python's zipfile (and so numpy.load) can inflate.
_ZIP_METHODS = {zipfile.ZIP_STORED: "stored", zipfile.ZIP_DEFLATED: "deflate",
                zipfile.ZIP_BZIP2: "bzip2", zipfile.ZIP_LZMA: "lzma"}
#: A member may inflate to more than _MAX_RATIO times its compressed size only below this many bytes.
_BOMB_FLOOR = 64 << 20
#: The largest inflation ratio accepted above _BOMB_FLOOR: real embeddings deflate to about 0.9
#: of their size; deflate itself cannot pass about 1,030 (a zip bomb of zeros).
_MAX_RATIO = 100
#: deflate never inflates more than 1,032 times (258 bytes from each 2-bit code, at best).
_DEFLATE_MAX = 1_032
_CHUNK = 16 << 20
#: What zipfile and its codecs raise on a damaged archive (lzma and zlib have their own types).
_ZIP_ERRORS = (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError, ValueError, struct.error,
               NotImplementedError, RuntimeError, zlib.error, lzma.LZMAError, OverflowError, IndexError,
               KeyError)


def _available_memory() -> int | None:
    """Bytes of memory available without swapping (Linux ``MemAvailable``), or None if unknown."""
    try:
        with open("/proc/meminfo", "rb") as f:
            for line in f:
                if line.startswith(b"MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def _zip_reason(exc: BaseException) -> str:
    return _cut(f"{type(exc).__name__}: {exc}" if not isinstance(exc, zipfile.BadZipFile) else str(exc))


def _check_member(path: Path, info: zipfile.ZipInfo, archive: int) -> None:
    """Refuse a member zipfile cannot read (method, encryption) or whose sizes are impossible."""
    where = f"member {_q(info.filename)}"
    if info.compress_type not in _ZIP_METHODS:
        raise FormatError(
            f"{path}: {where} uses zip compression method {info.compress_type}, expected "
            "stored, deflate, bzip2 or lzma"
        )
    if info.flag_bits & 0x61:  # 0x1 encrypted, 0x40 strong encryption, 0x20 patched data
        raise FormatError(
            f"{path}: {where} is encrypted or patched (zip flags {info.flag_bits:#x}), expected plain data"
        )
    if info.compress_size > archive:
        raise FormatError(
            f"{path}: {where} claims {info.compress_size:,} compressed bytes, more than the whole "
            f"archive ({archive:,} bytes)"
        )


def _check_inflate(path: Path, name: str, info: zipfile.ZipInfo) -> None:
    """Refuse to inflate a member beyond the zip-bomb ratio or beyond the available memory."""
    size, packed = info.file_size, info.compress_size
    most = {zipfile.ZIP_STORED: packed, zipfile.ZIP_DEFLATED: _DEFLATE_MAX * packed + 1024}.get(info.compress_type)
    if most is not None and size > most:  # more than the method can produce: the sizes lie
        raise FormatError(
            f"{path}: array {_q(name)} claims {size:,} bytes from {packed:,} {_ZIP_METHODS[info.compress_type]} "
            f"bytes, more than that method can produce ({most:,})"
        )
    if size > max(_BOMB_FLOOR, _MAX_RATIO * packed):
        raise FormatError(
            f"{path}: array {_q(name)} would inflate {packed:,} compressed bytes to {size:,} "
            f"({size // max(packed, 1):,} times; above {_BOMB_FLOOR >> 20} MiB embviz refuses more than "
            f"{_MAX_RATIO} times, as a zip bomb); save it with numpy.save() as .npy, which is memory-mapped"
        )
    free = _available_memory()
    if free is not None and size > free:
        raise FormatError(
            f"{path}: array {_q(name)} needs {size:,} bytes of memory, {free:,} are available; "
            "save it with numpy.save() as .npy, which is memory-mapped"
        )


def _inflate(zf: zipfile.ZipFile, info: zipfile.ZipInfo, h: NpyHeader, path: Path, name: str) -> np.ndarray:
    """Inflate one member into an array allocated from its checked header, 16 MiB at a time."""
    flat = np.empty(math.prod(h.shape), dtype=h.dtype)  # h.nbytes == info.file_size - h.offset, checked
    buf = flat.view(np.uint8)
    pos = 0
    with zf.open(info) as f:
        f.read(h.offset)  # the header again: at most 10,012 bytes
        while pos < h.nbytes:
            chunk = f.read(min(_CHUNK, h.nbytes - pos))
            if not chunk:
                break
            buf[pos : pos + len(chunk)] = np.frombuffer(chunk, np.uint8)
            pos += len(chunk)
        f.read(1)  # at the end: zipfile checks the CRC-32
    if pos < h.nbytes:
        raise FormatError(
            f"{path}: array {_q(name)} is truncated: {pos:,} of {h.nbytes:,} data bytes inflate"
        )
    return flat.reshape(h.shape[::-1]).T if h.fortran else flat.reshape(h.shape)


def read_npz(path: Path, tensor: str | None) -> tuple[np.ndarray, str]:
    """Read one array of a ``.npz`` archive, never unpickling: ``(array, name)``.

    An array is a ``NAME.npy`` member (other members are not arrays, and are ignored). Every
    member's header is read (at most 10,012 bytes each) and checked against the member's
    declared size; only the chosen array is inflated, into memory allocated from that checked
    size, and only if it inflates at most 100 times its compressed size (or to at most 64 MiB)
    and fits in the available memory.

    Raises
    ------
    FormatError
        If the archive or a member is damaged (bad zip structure, corrupt deflate data, a bad
        CRC, an unsupported compression method or encryption), a header lies about its size,
        two members share a name, the array holds objects or non-numbers, it would inflate
        like a zip bomb, or `tensor` is absent or ambiguous.
    """
    try:
        archive = path.stat().st_size
        with open(path, "rb") as f:
            head = f.read(4)
        zf = zipfile.ZipFile(path) if head == b"PK\x03\x04" else None
    except _ZIP_ERRORS as exc:
        raise FormatError(f"{path}: damaged .npz archive: {_zip_reason(exc)}") from None
    if zf is None:  # as numpy.load: zipfile alone would skip a prefix
        raise FormatError(f"{path}: starts {head!r}, expected a zip archive (b'PK\\x03\\x04')")
    with zf:
        members: dict[str, tuple[zipfile.ZipInfo, NpyHeader]] = {}
        for info in zf.infolist():
            if not info.filename.endswith(".npy"):
                continue
            name = info.filename[:-4]
            if name in members:
                raise FormatError(f"{path}: two members are named {_q(info.filename)}, expected one")
            _check_member(path, info, archive)
            where = f"member {_q(info.filename)}"
            try:
                with zf.open(info) as f:
                    h = _npy_header(f, path, where)
            except _ZIP_ERRORS as exc:
                raise FormatError(f"{path}: {where} is damaged: {_zip_reason(exc)}") from None
            if info.file_size != h.offset + h.nbytes and not h.dtype.hasobject:  # objects: a pickle
                raise FormatError(
                    f"{path}: {where} holds {info.file_size:,} bytes but its header says "
                    f"{_cut(str(list(h.shape)), 80)} {h.dtype} ({h.offset + h.nbytes:,} bytes)"
                )
            members[name] = (info, h)
        name = choose(path, {k: (h.shape, str(h.dtype)) for k, (_, h) in members.items()}, tensor)
        info, h = members[name]
        if h.dtype.hasobject:
            raise FormatError(f"{path}: array of Python objects; embviz never unpickles")
        _numeric(path, h.dtype, f"array {_q(name)}")
        _check_inflate(path, name, info)
        try:
            return _inflate(zf, info, h, path, name), name
        except _ZIP_ERRORS as exc:
            raise FormatError(f"{path}: array {_q(name)} is damaged: {_zip_reason(exc)}") from None
        except MemoryError:
            raise FormatError(
                f"{path}: array {_q(name)} needs {info.file_size:,} bytes of memory, more than is "
                "available; save it with numpy.save() as .npy, which is memory-mapped"
            ) from None


# -- safetensors -----------------------------------------------------------------------------
_U64 = (1 << 64) - 1


class _BadJSON(ValueError):
    """JSON that Python's parser takes but the safetensors format (serde_json) refuses."""


def _json_int(text: str) -> int | float:
    if text == "-0":  # serde_json reads -0 as a float, so it is no shape or offset
        return -0.0
    value = int(text)
    if not -(1 << 63) <= value <= _U64:
        raise _BadJSON(f"integer {_cut(text, 40)} is out of the 64-bit range")
    return value


def _json_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise _BadJSON(f"number {_cut(text, 40)} is out of range")
    return value


def _json_constant(text: str) -> None:
    raise _BadJSON(f"{text} is not JSON")


def _json_object(pairs: list[tuple[str, object]]) -> dict:
    out = dict(pairs)
    if len(out) != len(pairs):
        seen: set[str] = set()
        dup = next(k for k, _ in pairs if k in seen or seen.add(k))
        raise _BadJSON(f"key {_q(dup)} appears twice in one object")
    return out


def _lone_surrogate(obj: object) -> bool:
    """Tell whether a string anywhere in `obj` holds a lone surrogate (not encodable as UTF-8)."""
    stack = [obj]
    while stack:
        x = stack.pop()
        if isinstance(x, str):
            try:
                x.encode("utf-8")
            except UnicodeEncodeError:
                return True
        elif isinstance(x, dict):
            stack.extend(x.keys())
            stack.extend(x.values())
        elif isinstance(x, list):
            stack.extend(x)
    return False


def _parse_header(path: Path, raw: bytes) -> dict:
    """Parse the header JSON as the safetensors library does (serde_json), else FormatError."""
    try:
        text = raw.decode("utf-8")
        header = json.loads(text, object_pairs_hook=_json_object, parse_int=_json_int,
                            parse_float=_json_float, parse_constant=_json_constant)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:  # RecursionError: [[[[...
        why = "nested too deeply" if isinstance(exc, RecursionError) else _cut(str(exc))
        raise FormatError(f"{path}: safetensors header is not valid JSON: {why}") from None
    if "\\u" in text and _lone_surrogate(header):  # Python decodes "\ud800", serde_json refuses it
        raise FormatError(f"{path}: safetensors header is not valid JSON: a lone surrogate (\\ud800-\\udfff)")
    if not isinstance(header, dict):
        raise FormatError(f"{path}: safetensors header is {type(header).__name__}, expected a JSON object")
    return header


def _offsets(path: Path, name: str, t: dict) -> tuple[int, int]:
    lo_hi = t["data_offsets"]
    if not (isinstance(lo_hi, list) and len(lo_hi) == 2
            and all(type(x) is int and 0 <= x <= _U64 for x in lo_hi)):
        raise FormatError(
            f"{path}: safetensors tensor {_q(name)}: data_offsets {_cut(repr(lo_hi), 80)}, "
            "expected [begin, end] (two non-negative integers)"
        )
    return lo_hi[0], lo_hi[1]


def safetensors_header(path: Path) -> tuple[dict, int]:
    """Return the checked header ``{name: {dtype, shape, data_offsets}}`` and the data offset.

    The checks are the safetensors library's (``safetensors.numpy.load_file``): the header is
    UTF-8 JSON of at most 100 MB; ``__metadata__`` maps strings to strings; every tensor has a
    known ``dtype`` string, a ``shape`` of non-negative integers (not booleans, floats or
    strings) and ``data_offsets`` ``[begin, end]`` spanning exactly its bytes; sorted by offset,
    the tensors cover the data section contiguously (no overlap, no gap, nothing after).

    Raises
    ------
    FormatError
        If the header is cut, not JSON, or lies: any of the checks above.
    """
    size = path.stat().st_size
    with open(path, "rb") as f:
        raw = f.read(8)
        if len(raw) < 8:
            raise FormatError(f"{path}: truncated safetensors file ({size} bytes)")
        (length,) = struct.unpack("<Q", raw)
        if length > min(_MAX_HEADER, size - 8):
            raise FormatError(
                f"{path}: safetensors header length {length:,} exceeds the file ({size:,} bytes)"
            )
        header = _parse_header(path, f.read(length))
    start = 8 + length
    meta = header.get("__metadata__")
    if meta is not None and not (isinstance(meta, dict) and all(isinstance(v, str) for v in meta.values())):
        raise FormatError(
            f"{path}: safetensors __metadata__ is {_cut(repr(meta), 80)}, expected an object of "
            "strings ({\"key\": \"value\"})"
        )
    out = {}
    for name, t in header.items():
        if name == "__metadata__":
            continue
        if not (isinstance(t, dict) and {"dtype", "shape", "data_offsets"} <= t.keys()):
            raise FormatError(
                f"{path}: safetensors header entry {_q(name)} is {_cut(repr(t), 80)}, expected "
                "{dtype, shape, data_offsets}"
            )
        dt = t["dtype"]
        if not isinstance(dt, str) or dt not in _ST_DTYPES:
            raise FormatError(
                f"{path}: tensor {_q(name)} has dtype {_cut(repr(dt), 40)}, expected one of "
                f"{', '.join(_ST_DTYPES)}"
            )
        shape = t["shape"]
        if not isinstance(shape, list) or not all(type(x) is int and 0 <= x <= _U64 for x in shape):
            raise FormatError(
                f"{path}: safetensors tensor {_q(name)}: shape {_cut(repr(shape), 80)}, expected "
                "a list of non-negative integers"
            )
        lo, hi = _offsets(path, name, t)
        need = _nbytes(f"{path}: safetensors tensor {_q(name)}", shape, np.dtype(_ST_DTYPES[dt]).itemsize)
        if hi < lo or hi - lo != need or start + hi > size:
            raise FormatError(
                f"{path}: safetensors header lies about tensor {_q(name)}: {dt} "
                f"{_cut(str(shape), 80)} needs {need:,} bytes at [{lo:,}, {hi:,}), the data section "
                f"has {size - start:,} bytes"
            )
        out[name] = {"dtype": dt, "shape": shape, "data_offsets": (lo, hi)}
    end = 0
    for name, t in sorted(out.items(), key=lambda kv: kv[1]["data_offsets"]):
        lo, hi = t["data_offsets"]
        if lo != end:  # as the safetensors library: tensors tile the data section in order
            raise FormatError(
                f"{path}: safetensors tensor {_q(name)} starts at byte {lo:,} of the data section, "
                f"expected {end:,} (tensors overlap or leave a gap)"
            )
        end = hi
    if end != size - start:  # as the safetensors library: bytes added or cut shift tensors
        raise FormatError(
            f"{path}: safetensors data section has {size - start:,} bytes but its tensors cover "
            f"{end:,} (damaged file?)"
        )
    return out, start


def read_safetensors(path: Path, tensor: str | None) -> tuple[np.ndarray, str]:
    """Map one tensor of a safetensors file: ``(array (n, dim), name)``; bfloat16 becomes float32.

    Raises
    ------
    FormatError
        As :func:`safetensors_header`, or if `tensor` is absent or ambiguous.
    """
    header, start = safetensors_header(path)
    shapes = {k: (tuple(v["shape"]), v["dtype"]) for k, v in header.items()}
    name = choose(path, shapes, tensor)
    t = header[name]
    lo, hi = t["data_offsets"]
    shape = tuple(t["shape"])
    if hi == lo:
        return np.empty(shape, dtype=np.float32), name
    m = np.memmap(path, dtype=_ST_DTYPES[t["dtype"]], mode="r", offset=start + lo, shape=shape)
    arr = np.ndarray.view(m, np.ndarray)
    if t["dtype"] == "BF16":  # bfloat16 is the top half of a float32
        arr = (arr.astype(np.uint32) << 16).view(np.float32)
    return arr, name


# -- PyTorch ---------------------------------------------------------------------------------
def read_torch(path: Path, tensor: str | None) -> tuple[np.ndarray, str]:
    """Read one tensor of a PyTorch ``.pt``/``.bin`` with ``torch.load(weights_only=True)``.

    Raises
    ------
    MissingDependency
        If torch is not installed (the file is never unpickled without it).
    FormatError
        If torch refuses the file or no 2-D tensor fits.
    """
    try:
        import torch
    except ImportError:
        raise MissingDependency(
            f"{path}: is a PyTorch file; reading it needs torch (pip install 'embviz[torch]'), "
            "or save the tensor with safetensors"
        ) from None
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - torch raises many types; one line for all
        first = str(exc).strip().split("\n")[0]  # torch explains at length: the first line says why
        raise FormatError(
            f"{path}: torch.load(weights_only=True) refused it: {type(exc).__name__}: {_cut(first, 300)}"
        ) from None
    if isinstance(obj, torch.Tensor):
        obj = {"tensor": obj}
    if not isinstance(obj, dict):
        raise FormatError(f"{path}: holds a {type(obj).__name__}, expected a state dict of tensors")
    tensors = {k: v for k, v in obj.items() if isinstance(v, torch.Tensor)}
    shapes = {k: (tuple(v.shape), str(v.dtype).replace("torch.", "")) for k, v in tensors.items()}
    name = choose(path, shapes, tensor)
    return tensors[name].detach().to(torch.float32).numpy(), name
