"""Cached derived tables: a post-processed matrix (``--postprocess abtt:D``) computed once.

A derived entry sits beside the vector cache's entries, ``<cache_dir>/vectors/<tag>-<digest>/``,
with ``matrix.npy`` and ``unit.npy`` (memory-mapped read-only on load, like the unit rows of a
normal entry) and ``meta.json``. It is keyed by a BLAKE2b digest of the base table's matrix
and the tag, so it can never be stale: other base content means another entry. Keys are not
stored: they are the base table's, in the same order. ``embviz cache list`` shows these entries
and ``embviz cache clear`` removes them. Entries are built in a temporary directory and renamed
into place; a directory that cannot be written means computing without the cache, one warning.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
import uuid
from pathlib import Path
from typing import Callable

import numpy as np

from embviz._version import __version__
from embviz.errors import warn
from embviz.vectors import Vectors

_LAYOUT = 1
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
                "created": time.strftime("%Y-%m-%dT%H:%M:%S")}
        if source is not None:
            src = Path(source).resolve()
            st = src.stat()
            meta.update(source=str(src), size=st.st_size, mtime_ns=st.st_mtime_ns)
        (tmp / "meta.json").write_text(json.dumps(meta, indent=1), "utf-8")
        try:
            os.rename(tmp, entry)
        except OSError:  # another process installed the same entry first
            shutil.rmtree(tmp, ignore_errors=True)
    except OSError as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        warn(f"cannot write the {tag} cache in {root} ({exc.strerror or type(exc).__name__}); "
             "computing without the cache")
        return out
    return _open(entry, base, tag, key, name, kti) or out


def load_array(
    base: Vectors, tag: str, make: Callable[[Vectors], np.ndarray], *, cache_dir: str | os.PathLike
) -> np.ndarray:
    """Return ``make(base)``, an array derived from the table, read from the cache when computed before.

    Stored as ``<cache_dir>/arrays/<tag>-<digest>.npy``, keyed like :func:`load_derived` on the
    tag and a BLAKE2b digest of the whole matrix (never stale), written atomically; an entry
    that cannot be read, or whose dtype differs from what `make` returned before, is computed
    again. ``embviz cache clear`` removes these files.

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
    try:
        return np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError):
        pass
    out = np.asarray(make(base))
    from embviz.errors import FormatError
    from embviz.io.write import atomic_write

    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(path, lambda f: np.save(f, out, allow_pickle=False))
    except (OSError, FormatError) as exc:
        warn(f"cannot write the {tag} cache in {path.parent} "
             f"({getattr(exc, 'strerror', None) or exc}); computing without the cache")
    return out


def _open(entry: Path, base: Vectors, tag: str, key: str, name: str, kti) -> Vectors | None:
    try:
        meta = json.loads((entry / "meta.json").read_text("utf-8"))
        if (meta.get("layout"), meta.get("derived"), meta.get("digest")) != (_LAYOUT, tag, key):
            return None
        matrix = np.load(entry / "matrix.npy", mmap_mode="r")
        unit = np.load(entry / "unit.npy", mmap_mode="r")
        if matrix.shape != (base.count, meta["dim"]) or unit.shape != matrix.shape:
            return None
        return Vectors(base.keys, matrix, source=name, unit=unit, key_to_index=kti, unique=True)
    except (OSError, ValueError, KeyError, TypeError):
        return None
