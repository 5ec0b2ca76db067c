"""Cached derived tables: a post-processed matrix (``--postprocess abtt:D``) computed once.

A derived entry sits beside the vector cache's entries, ``<cache_dir>/vectors/<tag>-<digest>/``,
with ``matrix.npy`` and ``unit.npy`` (memory-mapped read-only on load, like the unit rows of a
normal entry) and ``meta.json``. It is keyed by a BLAKE2b digest of the base table's matrix
and the tag, so it can never be stale: other base content means another entry. Keys are not
stored: they are the base table's, in the same order. ``embviz cache list`` shows these entries
and ``embviz cache clear`` removes them. Entries are built in a temporary directory and renamed
into place; a directory that cannot be written means computing without the cache, one warning.
``meta.json`` records a CRC-32 of each whole ``.npy`` file, checked on every load (about 0.03 s
per GB): a damaged entry is rebuilt, never served.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import time
import uuid
import zipfile
from pathlib import Path
from typing import Callable

import numpy as np

from embviz._version import __version__
from embviz.errors import warn
from embviz.io import integrity as _integrity
from embviz.vectors import Vectors

_LAYOUT = 2  # 2: meta.json records a CRC-32 of each whole array file, checked on every load
_BLOCK_ROWS = 65_536


def digest(vectors: Vectors, tag: str) -> str:
    """BLAKE2b (hex, 24 chars) of `tag`, the matrix shape and dtype, and its bytes."""
    m = vectors.matrix
    h = hashlib.blake2b(f"{tag}|{m.shape}|{m.dtype}|{_LAYOUT}".encode(), digest_size=12)
    for lo in range(0, m.shape[0], _BLOCK_ROWS):
        h.update(np.ascontiguousarray(m[lo : lo + _BLOCK_ROWS]).data)
    return h.hexdigest()


def load_derived(
    base: Vectors,
    tag: str,
    make: Callable[[Vectors], Vectors],
    *,
    cache_dir: str | os.PathLike,
    source: str | os.PathLike | None = None,
) -> Vectors:
    """Return ``make(base)``, mapped from the cache when it was computed before.

    Parameters
    ----------
    base : Vectors
        The table as loaded.
    tag : str
        What `make` computes, e.g. ``"abtt:1"``; part of the key, recorded in ``meta.json``.
    make : callable
        Computes the derived table (same keys and row order as `base`).
    cache_dir : path-like
        The vector cache's directory.
    source : path-like, optional
        The file `base` was read from (shown by ``embviz cache list``).

    Returns
    -------
    Vectors
        The derived table; its ``source`` is ``make``'s.
    """
    root = Path(cache_dir) / "vectors"
    key = digest(base, tag)
    entry = root / f"{tag.replace(':', '-')}-{key}"
    name = f"{base.source} ({tag})" if base.source else tag
    kti = base.__dict__.get("key_to_index")
    found = _open(entry, base, tag, key, name, kti)
    if found is not None:
        return found
    out = make(base)
    tmp = entry.with_name(f".tmp-{entry.name}-{os.getpid()}-{uuid.uuid4().hex[:8]}")
    try:
        tmp.mkdir(parents=True)
        np.save(tmp / "matrix.npy", out.matrix)
        np.save(tmp / "unit.npy", out.unit)
        meta = {"layout": _LAYOUT, "derived": tag, "digest": key, "count": out.count, "dim": out.dim,
                "dtype": str(out.matrix.dtype), "embviz": __version__,
                "created": time.strftime("%Y-%m-%dT%H:%M:%S"),
                "crc32": {n: _integrity.file_crc32(tmp / n) for n in ("matrix.npy", "unit.npy")}}
        if source is not None:
            src = Path(source).resolve()
            st = src.stat()
            meta.update(source=str(src), size=st.st_size, mtime_ns=st.st_mtime_ns)
        (tmp / "meta.json").write_text(json.dumps(meta, indent=1), "utf-8")
        from embviz.io.cache import _install

        _install(tmp, entry)  # replaces a damaged entry; keeps another process's new one
    except OSError as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        warn(f"cannot write the {tag} cache in {root} ({exc.strerror or type(exc).__name__}); "
             "computing without the cache")
        return out
    return _open(entry, base, tag, key, name, kti) or out


# -- checked files: small cached arrays that carry their own name and checksum -----------------
_MAGIC = b"embviz-checked-1"  # 16 bytes
_TAIL = 16 + 8 + 16  # magic, body length (uint64 LE), BLAKE2b-128 of the file name and the body
_TMP_MAX_AGE = 600.0  # seconds: a ``.*.tmp`` older than this in a cache folder is a dead writer's


def _check(name: str, body: bytes) -> bytes:
    return hashlib.blake2b(name.encode("utf-8", "surrogatepass") + b"\0" + body, digest_size=16).digest()


def save_checked(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """Write `arrays` to `path` atomically: an ``.npz`` body (or ``.npy``), then a 40-byte trailer.

    For a ``.npy`` name the body is the one array's ``.npy`` bytes (``numpy.load`` still reads
    such a file: it stops at the end of the data).

    The trailer holds a magic string, the body's length and a BLAKE2b of the file's *name*
    and body, so :func:`load_checked` refuses any damaged, truncated or extended file, and a
    file copied or renamed over another entry (its name is another key). Temporaries of dead
    writers (``.*.tmp`` older than 10 minutes) in the folder are removed first.

    Raises
    ------
    OSError, FormatError
        If the file cannot be written (the caller warns once and goes on without the cache).
    """
    from embviz.io.write import atomic_write

    path.parent.mkdir(parents=True, exist_ok=True)
    sweep_temporaries(path.parent)
    buf = io.BytesIO()
    if path.suffix == ".npy":
        [array] = arrays.values()
        np.save(buf, array, allow_pickle=False)
    else:
        np.savez(buf, **arrays)
    body = buf.getvalue()
    tail = _MAGIC + len(body).to_bytes(8, "little") + _check(path.name, body)
    atomic_write(path, lambda f: f.write(body + tail))


def load_checked(path: Path, names: tuple[str, ...]) -> dict[str, np.ndarray] | None:
    """Return the arrays `names` of a file written by :func:`save_checked`, or None.

    None when the file is missing or unreadable, its trailer or checksum does not match its
    name and body (bit rot, truncation, another entry's file, an older layout), or it does not
    hold exactly `names`: the caller computes the arrays again. Nothing is parsed before the
    checksum matched.
    """
    try:
        data = path.read_bytes()
    except OSError:
        return None
    if len(data) < _TAIL:
        return None
    body, tail = data[:-_TAIL], data[-_TAIL:]
    if tail[:16] != _MAGIC or int.from_bytes(tail[16:24], "little") != len(body):
        return None
    if tail[24:] != _check(path.name, body):
        return None
    try:
        if path.suffix == ".npy":
            out = np.load(io.BytesIO(body), allow_pickle=False)
            return {names[0]: out} if len(names) == 1 and isinstance(out, np.ndarray) else None
        with np.load(io.BytesIO(body), allow_pickle=False) as z:
            if sorted(z.files) != sorted(names):
                return None
            return {n: z[n] for n in names}
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):
        return None


def sweep_temporaries(folder: Path, min_age: float = _TMP_MAX_AGE) -> int:
    """Remove ``.*.tmp`` files older than `min_age` seconds in `folder` (left by a killed writer).

    A live writer's temporary is younger: it is written in one go, so its mtime is recent.
    Returns how many were removed; errors are ignored (another process removed it first).
    """
    removed = 0
    now = time.time()
    try:
        names = [p for p in folder.iterdir() if p.name.startswith(".") and p.name.endswith(".tmp")]
    except OSError:
        return 0
    for p in names:
        try:
            if now - p.stat().st_mtime >= min_age:
                p.unlink()
                removed += 1
        except OSError:
            continue
    return removed


def load_array(
    base: Vectors, tag: str, make: Callable[[Vectors], np.ndarray], *, cache_dir: str | os.PathLike
) -> np.ndarray:
    """Return ``make(base)``, an array derived from the table, read from the cache when computed before.

    Stored as ``<cache_dir>/arrays/<tag>-<digest>.npy``, keyed like :func:`load_derived` on the
    tag and a BLAKE2b digest of the whole matrix (never stale), written atomically by
    :func:`save_checked`; an entry that is missing, damaged or another entry's file is computed
    again (:func:`load_checked`). ``embviz cache clear`` removes these files.

    Parameters
    ----------
    base : Vectors
        The table the array is computed from.
    tag : str
        What `make` computes and with which parameters (e.g. ``"csls-radius-k10"``).
    make : callable
        Computes the array (e.g. CSLS radii ``(n,)`` float32).
    cache_dir : path-like
        The vector cache's directory.
    """
    path = Path(cache_dir) / "arrays" / f"{tag.replace(':', '-')}-{digest(base, tag)}.npy"
    hit = load_checked(path, ("array",))
    if hit is not None:
        return hit["array"]
    out = np.asarray(make(base))
    from embviz.errors import FormatError

    try:
        save_checked(path, {"array": out})
    except (OSError, FormatError) as exc:
        warn(f"cannot write the {tag} cache in {path.parent} "
             f"({getattr(exc, 'strerror', None) or exc}); computing without the cache")
    return out


def _open(entry: Path, base: Vectors, tag: str, key: str, name: str, kti) -> Vectors | None:
    try:
        meta = json.loads((entry / "meta.json").read_text("utf-8"))
        if (meta.get("layout"), meta.get("derived"), meta.get("digest")) != (_LAYOUT, tag, key):
            return None
        crcs = meta["crc32"]  # whole files, headers too: damage anywhere is never served
        if any(_integrity.file_crc32(entry / n, mapped=True) != crcs[n] for n in ("matrix.npy", "unit.npy")):
            return None
        matrix = np.load(entry / "matrix.npy", mmap_mode="r")
        unit = np.load(entry / "unit.npy", mmap_mode="r")
        if matrix.shape != (base.count, meta["dim"]) or unit.shape != matrix.shape:
            return None
        if str(matrix.dtype) != meta["dtype"] or unit.dtype != np.float32:
            return None
        return Vectors(base.keys, matrix, source=name, unit=unit, key_to_index=kti, unique=True)
    except (OSError, ValueError, KeyError, TypeError):
        return None
