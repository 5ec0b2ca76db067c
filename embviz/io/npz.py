""".npz archives: the zip member checks (method, encryption, sizes, zip bombs) and the inflation.

:func:`read_npz` reads one ``NAME.npy`` member of a zip, never unpickling: every member's
``.npy`` header is checked (:mod:`embviz.io.array_headers`) against its declared size, and
only the chosen member is inflated, into memory allocated from that checked size, if its
compression method can produce that many bytes, if it inflates at most 100 times its
compressed size above 64 MiB, and if the memory is available. Importable from
:mod:`embviz.io.arrays` as before.
"""

from __future__ import annotations

import lzma
import math
import struct
import zipfile
import zlib
from pathlib import Path

import numpy as np

from embviz.errors import FormatError
from embviz.io.array_headers import NpyHeader, _cut, _npy_header, _numeric, _q, choose

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
