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

This module reads ``.npy``, safetensors and PyTorch files and holds the checks of a matrix
every reader shares (:func:`check_matrix`, :func:`as_float`); two siblings hold the rest, and
their names are importable from here as before:

- :mod:`embviz.io.array_headers`: the ``.npy`` header, exact byte sizes, numeric dtypes, and
  which array of several is the embedding table (:func:`choose`);
- :mod:`embviz.io.npz`: ``.npz`` archives, their zip member checks and the inflation.
"""

from __future__ import annotations

import json
import math
import struct
from pathlib import Path

import numpy as np

from embviz.errors import FormatError, MissingDependency
from embviz.io.array_headers import (  # noqa: F401 - the names are re-exported as before
    _MAX_BYTES,
    _MAX_NPY_HEADER,
    _NPY_ERRORS,
    _NPY_VERSIONS,
    KNOWN_NAMES,
    NpyHeader,
    _cut,
    _floating,
    _listing,
    _nbytes,
    _npy_header,
    _numeric,
    _q,
    choose,
)
from embviz.io.npz import (  # noqa: F401 - the names are re-exported as before
    _BOMB_FLOOR,
    _CHUNK,
    _DEFLATE_MAX,
    _MAX_RATIO,
    _ZIP_ERRORS,
    _ZIP_METHODS,
    _available_memory,
    _check_inflate,
    _check_member,
    _inflate,
    _zip_reason,
    read_npz,
)

_ST_DTYPES = {
    "F64": "<f8", "F32": "<f4", "F16": "<f2", "BF16": "<u2",
    "I64": "<i8", "I32": "<i4", "I16": "<i2", "I8": "i1",
    "U64": "<u8", "U32": "<u4", "U16": "<u2", "U8": "u1", "BOOL": "?",
}
#: The largest safetensors header the reader accepts (the format's own limit is 100 MB).
_MAX_HEADER = 100_000_000


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


# -- .npy ------------------------------------------------------------------------------------
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


def require_file(path: Path, fmt: str) -> None:
    """Raise :class:`FormatError` if `path` is a folder (a format read from one file)."""
    if path.is_dir():
        raise FormatError(f"{path}: is a directory, expected a {fmt} file")


def from_array(
    path: Path, arr: np.ndarray, options: object, limit: int | None, dtype: str,
    total: int | None = None, found: tuple[list[str], str] | None = None,
) -> tuple[list[str], np.ndarray, str]:
    """Return an array format's table: its keys (`found`, else :func:`embviz.io.keys.resolve`) and rows.

    `arr` is the file's 2-D array (a memory map; `total` its rows before a reader's own
    limit); the first `limit` rows are checked (finite) and cast to `dtype`.
    """
    from embviz.io.keys import resolve

    if arr.ndim != 2:
        raise FormatError(f"{path}: array of shape {list(arr.shape)}, expected 2-D (rows, dim)")
    names, keys_from = found or resolve(path, arr.shape[0] if total is None else total, options)
    if limit is not None:
        arr, names = arr[:limit], names[:limit]
    check_matrix(path, arr)
    matrix = as_float(path, arr, dtype)
    if matrix.dtype.kind == "f" and arr.dtype != matrix.dtype:
        check_matrix(path, matrix)  # float64 beyond float32's range became inf
    return names, matrix, keys_from
