r"""Readers of bare arrays: ``.npy``, ``.npz``, safetensors and (with torch) PyTorch state dicts.

None of these files carries keys: :mod:`embviz.io.keys` finds them. Nothing is ever unpickled:
``.npy``/``.npz`` load with ``allow_pickle=False``; a PyTorch file loads only through
``torch.load(weights_only=True)``.

``.npy``
    NumPy's format (magic ``\x93NUMPY``). Memory-mapped: a little-endian float32 C-order array
    is used in place, without a copy; other dtypes (float16, float64, integers) are converted
    once (the cache keeps the converted copy).
safetensors
    An 8-byte little-endian header length, a JSON header ``{name: {dtype, shape,
    data_offsets}}``, then the raw little-endian tensors (https://github.com/huggingface/
    safetensors). Parsed here with numpy alone and memory-mapped; the header is checked
    against the file's size before any tensor is touched.
"""

from __future__ import annotations

import json
import re
import struct
import tokenize
import zipfile
from pathlib import Path

import numpy as np

from embviz.errors import FormatError, MissingDependency

#: Tensor names that are an embedding table (model2vec, sentence-transformers, HF models).
KNOWN_NAMES = re.compile(
    r"^(.*[._/])?(embeddings?|emb|embed_tokens|word_embeddings|wte|shared)(\.weight)?$|^weight$"
)
_ST_DTYPES = {
    "F64": "<f8", "F32": "<f4", "F16": "<f2", "BF16": "<u2",
    "I64": "<i8", "I32": "<i4", "I16": "<i2", "I8": "i1", "U8": "u1", "BOOL": "?",
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
    listing = ", ".join(f"{k} {list(s)} {d}" for k, (s, d) in shapes.items()) or "none"
    if tensor is not None:
        if tensor not in shapes:
            raise FormatError(f"{path}: no tensor {tensor!r} (tensors: {listing})")
        if len(shapes[tensor][0]) != 2:
            raise FormatError(
                f"{path}: tensor {tensor!r} has shape {list(shapes[tensor][0])}, expected 2-D (rows, dim)"
            )
        return tensor
    fits = [k for k, (s, d) in shapes.items() if len(s) == 2 and _floating(d)]
    if len(fits) == 1:
        return fits[0]
    known = [k for k in fits if KNOWN_NAMES.match(k)]
    if len(known) == 1:
        return known[0]
    if not fits:
        raise FormatError(f"{path}: no 2-D floating array (arrays: {listing})")
    cands = ", ".join(f"{k} {list(shapes[k][0])}" for k in (known or fits))
    raise FormatError(f"{path}: several 2-D arrays fit: {cands}; pick one with --tensor NAME")


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


# -- .npy ------------------------------------------------------------------------------------
def _npy_header(f) -> tuple[tuple[int, ...], bool, np.dtype]:  # noqa: ANN001
    """``(shape, fortran_order, dtype)`` of the ``.npy`` stream `f`, left at the data."""
    version = np.lib.format.read_magic(f)
    if version == (1, 0):
        return np.lib.format.read_array_header_1_0(f)
    return np.lib.format.read_array_header_2_0(f)


def read_npy(path: Path) -> np.ndarray:
    """Map a ``.npy`` file read-only: ``(n, dim)`` in the file's dtype, no copy.

    Raises
    ------
    FormatError
        If it is truncated, holds Python objects (never unpickled), or is not 2-D.
    """
    try:
        with open(path, "rb") as f:
            shape, fortran, dtype = _npy_header(f)
            offset = f.tell()
    except (ValueError, OSError, EOFError, SyntaxError, tokenize.TokenError) as exc:  # a damaged header
        raise FormatError(f"{path}: not a readable .npy file: {type(exc).__name__}: {exc}") from None
    if dtype.hasobject:
        raise FormatError(
            f"{path}: .npy array of Python objects (dtype {dtype}); embviz never unpickles, "
            "expected a numeric array"
        )
    if len(shape) != 2:
        raise FormatError(f"{path}: .npy array of shape {list(shape)}, expected 2-D (rows, dim)")
    need = offset + int(np.prod(shape)) * dtype.itemsize
    size = path.stat().st_size
    if size < need:
        raise FormatError(
            f"{path}: truncated .npy: header says {list(shape)} {dtype} ({need:,} bytes) but "
            f"the file has {size:,} bytes"
        )
    if shape[0] == 0:
        return np.empty(shape, dtype=dtype)
    m = np.memmap(path, dtype=dtype, mode="r", offset=offset, shape=shape, order="F" if fortran else "C")
    return np.ndarray.view(m, np.ndarray) if not fortran else np.asarray(m)


# -- .npz ------------------------------------------------------------------------------------
def read_npz(path: Path, tensor: str | None) -> tuple[np.ndarray, str]:
    """Read one array of a ``.npz`` archive (``allow_pickle=False``): ``(array, name)``.

    Raises
    ------
    FormatError
        If the archive is damaged, the array holds objects, or `tensor` is absent or ambiguous.
    """
    try:
        with np.load(path, allow_pickle=False) as z:
            shapes = {}
            for name in z.files:
                with z.zip.open(name + ".npy") as f:
                    shape, _, dt = _npy_header(f)
                shapes[name] = (shape, str(dt))
            name = choose(path, shapes, tensor)
            return z[name], name
    except FormatError:
        raise
    except (zipfile.BadZipFile, OSError, EOFError, KeyError, SyntaxError, tokenize.TokenError) as exc:
        raise FormatError(f"{path}: damaged .npz archive: {exc}") from None
    except ValueError as exc:
        if "allow_pickle" in str(exc) or "Object arrays" in str(exc):
            raise FormatError(f"{path}: array of Python objects; embviz never unpickles") from None
        raise FormatError(f"{path}: not a readable .npz: {exc}") from None


# -- safetensors -----------------------------------------------------------------------------
def safetensors_header(path: Path) -> tuple[dict, int]:
    """Return the checked header ``{name: {dtype, shape, data_offsets}}`` and the data offset.

    Raises
    ------
    FormatError
        If the header is cut, not JSON, or lies: an offset beyond the file, a tensor whose
        byte span does not match its shape and dtype, an unknown dtype.
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
        try:
            header = json.loads(f.read(length).decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as exc:
            raise FormatError(f"{path}: safetensors header is not valid JSON: {exc}") from None
    if not isinstance(header, dict):
        raise FormatError(f"{path}: safetensors header is not a JSON object")
    start = 8 + length
    out = {}
    for name, t in header.items():
        if name == "__metadata__":
            continue
        try:
            dt, shape, (lo, hi) = t["dtype"], [int(x) for x in t["shape"]], t["data_offsets"]
        except (KeyError, TypeError, ValueError):
            raise FormatError(f"{path}: safetensors header entry {name!r} is malformed") from None
        if dt not in _ST_DTYPES:
            raise FormatError(f"{path}: tensor {name!r} has dtype {dt}, expected a numeric dtype")
        need = int(np.prod(shape)) * np.dtype(_ST_DTYPES[dt]).itemsize
        if not (0 <= lo <= hi) or hi - lo != need or start + hi > size:
            raise FormatError(
                f"{path}: safetensors header lies about tensor {name!r}: {dt} {shape} needs "
                f"{need:,} bytes at [{lo:,}, {hi:,}), the data section has {size - start:,} bytes"
            )
        out[name] = {"dtype": dt, "shape": shape, "data_offsets": (lo, hi)}
    covered = max((t["data_offsets"][1] for t in out.values()), default=0)
    if covered != size - start:  # as the safetensors library: bytes added or cut shift tensors
        raise FormatError(
            f"{path}: safetensors data section has {size - start:,} bytes but its tensors cover "
            f"{covered:,} (damaged file?)"
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
    lo, _ = t["data_offsets"]
    shape = tuple(t["shape"])
    if 0 in shape:
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
        raise FormatError(f"{path}: torch.load(weights_only=True) refused it: {exc}") from None
    if isinstance(obj, torch.Tensor):
        obj = {"tensor": obj}
    if not isinstance(obj, dict):
        raise FormatError(f"{path}: holds a {type(obj).__name__}, expected a state dict of tensors")
    tensors = {k: v for k, v in obj.items() if isinstance(v, torch.Tensor)}
    shapes = {k: (tuple(v.shape), str(v.dtype).replace("torch.", "")) for k, v in tensors.items()}
    name = choose(path, shapes, tensor)
    return tensors[name].detach().to(torch.float32).numpy(), name
