"""The memory-mapped vector cache: parse a text file once, map it in milliseconds afterwards.

An entry is a directory ``<cache_dir>/vectors/<id>/`` holding ``matrix.npy`` and ``unit.npy``
(``(n, dim)``, float32 or float16, memory-mapped read-only on load, never copied),
``norms64.npy`` (each row's L2 norm in float64, ``(n,)``, computed from the rows as the entry
is written: ``embviz info`` summarises them without reading a row again),
``keys.txt`` (UTF-8, one key per line), ``key_ends.npy`` (the offsets of its newline bytes,
``(n,)`` int64: a query that names one key of millions finds it without scanning the keys),
and ``meta.json`` (source path, size, mtime, content
fingerprint, shape, checksums, embviz version, and the warnings parsing gave, which every
mapped load repeats: a file with duplicate keys says so each time it is used).

Never stale: an entry is used only if the source's size, modification time and content
fingerprint (BLAKE2b of its size, first and last MiB) still match. Never corrupt: an entry is
built in a temporary directory and renamed into place in one step, so concurrent builders and
killed processes cannot leave a half-written entry; an entry whose files are missing, truncated
or fail their checks is rebuilt, not trusted. A cache directory that cannot be written makes
embviz load without the cache, with one warning.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
import uuid
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from embviz._version import __version__
from embviz.errors import EmbvizWarning, FormatError, warn
from embviz.io import integrity as _integrity
from embviz.io.binary import SourceRows
from embviz.io.entry_unit import fill_unit
from embviz.io.entry_unit import write_npy as _write_npy
from embviz.io.norms import row_norms64, table_norms64
from embviz.io.options import SourceOptions
from embviz.io.read import read_into, reads_in_place
from embviz.io.sniffing import VectorFormat, container_format, sniff
from embviz.io.sources import dependencies
from embviz.vectors import KeyBlob, Vectors, row_norms, unit_rows

#: Bump when the entry layout changes: older entries are then rebuilt (and removed when their
#: replacement is built). 2: ``norms64.npy``, the rows' float64 norms (``embviz info``).
_LAYOUT = 2
_FINGERPRINT_BYTES = 1 << 20


def default_cache_dir() -> Path:
    """``$XDG_CACHE_HOME/embviz``, else ``~/.cache/embviz``."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "embviz"


def fingerprint(path: Path) -> str:
    """Return a content fingerprint of `path`: BLAKE2b of its size, first and last MiB (hex).

    A folder (a Spark model, a Parquet dataset) is fingerprinted by its files: each one's path
    inside it and its own fingerprint, in sorted order.
    """
    path = Path(path)
    if path.is_dir():
        h = hashlib.blake2b(b"folder", digest_size=16)
        for f in sorted(q for q in path.rglob("*") if q.is_file()):
            h.update(f"{f.relative_to(path).as_posix()}\0{fingerprint(f)}\0".encode("utf-8", "surrogatepass"))
        return h.hexdigest()
    size = path.stat().st_size
    h = hashlib.blake2b(str(size).encode(), digest_size=16)
    with open(path, "rb") as f:
        h.update(f.read(_FINGERPRINT_BYTES))
        if size > _FINGERPRINT_BYTES:
            f.seek(max(_FINGERPRINT_BYTES, size - _FINGERPRINT_BYTES))
            h.update(f.read(_FINGERPRINT_BYTES))
    return h.hexdigest()


def _entry_id(source: Path, format: str | None, limit: int | None, dtype: str, options: str = "",
              layout: int | None = None) -> str:
    key = f"{source}|{format}|{limit}|{dtype}|{_LAYOUT if layout is None else layout}{options}"
    return hashlib.sha1(key.encode("utf-8", "surrogatepass")).hexdigest()[:24]


@dataclass(frozen=True, slots=True)
class Entry:
    """One cache entry as ``embviz cache list`` shows it."""

    source: str
    count: int
    dim: int
    dtype: str
    size_bytes: int
    created: str
    status: str  # "ok", "stale" (source changed), "missing" (source gone), "corrupt" or "broken"
    path: str


def entry_path(
    source: str | os.PathLike,
    *,
    format: str | None = None,
    limit: int | None = None,
    cache_dir: str | os.PathLike | None = None,
    dtype: str = "float32",
    options: SourceOptions | None = None,
) -> Path:
    """Return the entry directory :func:`load_cached` uses for these arguments (may not exist yet).

    Approximate-search indexes (:mod:`embviz.search.index`) are stored inside it, so they
    share its fingerprint, go when the entry is rebuilt, and are removed by :func:`clear`.
    """
    resolved = Path(source).resolve()
    fmt = None if format is None else str(getattr(format, "value", format))
    root = Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir()
    return root / "vectors" / _entry_id(resolved, fmt, limit, dtype, (options or SourceOptions()).cache_tag())


def _stat(source: Path) -> dict:
    # as git's index: size and mtime, plus ctime (which `touch -r` cannot set back), inode
    # and device (a file renamed over the source is another inode)
    st = source.stat()
    return {"size": st.st_size, "mtime_ns": st.st_mtime_ns, "ctime_ns": st.st_ctime_ns,
            "ino": st.st_ino, "dev": st.st_dev}


def _open_entry(entry: Path, source: Path, expect: dict, unit_rows: bool = True) -> Vectors | None:
    """Map a valid entry, or return None if it is missing, stale, truncated or corrupt.

    An entry whose unit rows were deferred (:mod:`embviz.io.entry_unit`) gets them written
    first when `unit_rows`; without, its table computes ``unit`` from the rows if asked.
    """
    try:
        meta = json.loads((entry / "meta.json").read_text("utf-8"))
        if meta.get("layout") != _LAYOUT or meta.get("source") != str(source):
            return None
        if any(meta.get(k) != v for k, v in expect.items()):
            return None
        n, dim = meta["count"], meta["dim"]
        deferred = _deferred(meta)
        if deferred and unit_rows:
            if not _integrity.sampled_ok(entry, meta.get("blocks") or {}, unit=False):
                return None
            meta, deferred = fill_unit(entry, meta, source), False
        unit = None if deferred else np.load(entry / "unit.npy", mmap_mode="r")
        norms = None
        if meta.get("rows") == "source":  # a word2vec binary's rows, read in place
            offsets = np.load(entry / "offsets.npy", mmap_mode="r")
            norms = np.load(entry / "norms.npy", mmap_mode="r")
            if offsets.shape != (n,) or norms.shape != (n,) or not source.is_file():
                return None
            matrix = SourceRows(source, offsets, dim, meta["dtype"])
        else:
            matrix = np.load(entry / "matrix.npy", mmap_mode="r")
        if matrix.shape != (n, dim) or str(matrix.dtype) != meta["dtype"] or (
            unit is not None and unit.shape != (n, dim)
        ):
            return None
        norms64 = np.load(entry / "norms64.npy", mmap_mode="r")
        if norms64.shape != (n,) or norms64.dtype != np.float64:
            return None
        if not _integrity.sampled_ok(entry, meta.get("blocks") or {}, unit=not deferred):  # bit rot: rebuild
            return None
        blob = (entry / "keys.txt").read_bytes()
        if _integrity.crc32(blob) != meta["keys_crc32"]:
            return None
        keys = _keys(entry, blob)  # decoded when asked: a query names a few keys
        if len(keys) != n:
            return None
        vectors = Vectors(keys, matrix, source=source.name, unit=unit, unique=True)
        if norms is not None:
            vectors.__dict__["norms"] = norms
        vectors.norms64 = norms64  # float64 (n,): embviz.stats.describe reads these, not the rows
        vectors.keys_from = meta.get("keys_from")
        crcs = (meta.get("blocks") or {}).get("unit.npy")
        if crcs:  # the unit rows' identity: their block checksums, written with the entry
            h = hashlib.blake2b(json.dumps([n, dim, meta["dtype"], crcs]).encode(), digest_size=16)
            vectors.unit_digest = h.hexdigest()
    except (OSError, ValueError, KeyError, TypeError, UnicodeDecodeError, FormatError):
        return None
    for text in meta.get("warnings", []):  # what parsing the source warned about, every load
        warn(text)
    return vectors


def _deferred(meta: dict) -> bool:
    """Whether an entry's unit rows are deferred (rows read in place; :mod:`embviz.io.entry_unit`)."""
    return meta.get("unit") == "deferred" and meta.get("rows") == "source"


def _keys(entry: Path, blob: bytes) -> KeyBlob:
    """Return the keys of an entry whose ``keys.txt`` passed its checksum (the UTF-8 written).

    The newline offsets come mapped from ``key_ends.npy`` (an entry written before it existed
    scans the blob for them: 45 ms for 3,000,000 keys); a file that does not fit the blob
    (wrong length, last or sampled offsets not newlines) raises ValueError: the entry is rebuilt.
    """
    path = entry / "key_ends.npy"
    if not path.is_file():
        return KeyBlob.from_bytes(blob)
    ends = np.load(path, mmap_mode="r")
    n = len(ends)
    if ends.dtype != np.int64 or ends.ndim != 1 or (n and int(ends[-1]) != len(blob) - 1) or (not n and blob):
        raise ValueError("key_ends.npy does not fit keys.txt")
    for i in np.linspace(0, n - 1, num=min(n, 33), dtype=np.int64).tolist():
        if blob[int(ends[i])] != 10:
            raise ValueError("key_ends.npy does not fit keys.txt")
    return KeyBlob(blob, ends, checked=True)


def _write_entry(tmp: Path, source: Path, vectors: Vectors, meta: dict,
                 hasher: _integrity.BackgroundHash | None = None, defer_unit: bool = False) -> None:
    tmp.mkdir(parents=True, exist_ok=True)
    blob = vectors.keys_blob or "".join(k + "\n" for k in vectors.keys).encode("utf-8", "surrogatepass")
    (tmp / "keys.txt").write_bytes(blob)
    ends = KeyBlob.line_ends(blob)
    key_blocks = _write_npy(tmp / "key_ends.npy", ends, lambda lo, hi: ends[lo:hi])
    offsets = vectors.row_offsets if source.is_file() else None
    # each row's float64 norm, for embviz info: the reader's (a word2vec binary read in place
    # measures them as it parses), else measured here from the rows as they are written
    norms64 = getattr(vectors, "norms64", None)
    if offsets is not None:  # the rows stay in the source (SourceRows): write where they are
        norms = vectors.norms  # stored, so no load reads every row to recompute them
        blocks = {
            "offsets.npy": _write_npy(tmp / "offsets.npy", offsets, lambda lo, hi: offsets[lo:hi]),
            "norms.npy": _write_npy(tmp / "norms.npy", norms, lambda lo, hi: norms[lo:hi]),
        }
        meta["rows"] = "source"
        if norms64 is None:  # parsed into memory (not streamed): the rows are at hand
            norms64 = table_norms64(vectors.matrix)
    else:
        measured = np.empty(vectors.count, dtype=np.float64) if norms64 is None else None

        def rows(lo: int, hi: int) -> np.ndarray:
            block = vectors.matrix[lo:hi]
            if measured is not None:
                measured[lo:hi] = row_norms64(block)
            return block

        blocks = {"matrix.npy": _write_npy(tmp / "matrix.npy", vectors.matrix, rows)}
        if measured is not None:
            norms64 = measured
    blocks["key_ends.npy"] = key_blocks
    blocks["norms64.npy"] = _write_npy(tmp / "norms64.npy", norms64, lambda lo, hi: norms64[lo:hi])
    streamed = vectors.unit_crcs  # read_into wrote tmp/unit.npy already
    if streamed is not None and (tmp / "unit.npy").is_file():
        blocks["unit.npy"] = streamed
    elif defer_unit and offsets is not None and "unit" not in vectors.__dict__:  # read in place, not asked for
        meta["unit"] = "deferred"  # written by the first load that asks (entry_unit.fill_unit)
    else:
        blocks["unit.npy"] = _write_npy(tmp / "unit.npy", vectors.matrix, lambda lo, hi: _unit_block(vectors, lo, hi))
    meta = dict(meta, count=vectors.count, dim=vectors.dim, dtype=str(vectors.matrix.dtype),
                keys_crc32=_integrity.crc32(blob), created=time.strftime("%Y-%m-%dT%H:%M:%S"),
                blocks=blocks,
                source_crc32=_source_crc32(source, vectors, hasher))
    (tmp / "meta.json").write_text(json.dumps(meta, indent=1), "utf-8")


def _source_crc32(source: Path, vectors: Vectors, hasher: _integrity.BackgroundHash | None) -> int | None:
    """Return the source file's CRC-32: the reader's, the background thread's, or computed now."""
    if not source.is_file():
        return None
    if vectors.source_crc32 is not None:
        return vectors.source_crc32
    return hasher.result() if hasher is not None else _integrity.file_crc32(source)


def _unit_block(vectors: Vectors, lo: int, hi: int) -> np.ndarray:
    """Rows lo..hi of ``vectors.unit``, computed as :attr:`Vectors.unit` does, without building it whole."""
    if "unit" in vectors.__dict__:  # already computed (or given): use it
        return vectors.unit[lo:hi]
    block = np.asarray(vectors.matrix[lo:hi], dtype=np.float32)
    # per-row norms as Vectors.norms computes them (same rounding), without its larger blocks
    norms = vectors.__dict__["norms"][lo:hi] if "norms" in vectors.__dict__ else row_norms(block)
    return unit_rows(block, norms).astype(vectors.matrix.dtype, copy=False)


def _install(tmp: Path, entry: Path) -> None:
    """Move the finished `tmp` into place as `entry`, replacing a stale one atomically."""
    try:
        os.rename(tmp, entry)
        return
    except OSError:
        pass
    old = entry.with_name(f".old-{entry.name}-{uuid.uuid4().hex[:8]}")
    try:
        os.rename(entry, old)
    except OSError:
        pass
    try:
        os.rename(tmp, entry)
    except OSError:  # another process installed its entry first: keep theirs
        shutil.rmtree(tmp, ignore_errors=True)
    shutil.rmtree(old, ignore_errors=True)


def load_cached(
    source: Path,
    *,
    format: str | None = None,
    limit: int | None = None,
    cache_dir: str | os.PathLike | None = None,
    dtype: str = "float32",
    options: SourceOptions | None = None,
    unit_rows: bool = True,
) -> Vectors:
    """Load `source` through the cache: map a valid entry, or parse and write one.

    Parameters are those of :func:`embviz.io.load`; `unit_rows` is its ``unit``.

    Returns
    -------
    Vectors
        Backed by read-only memory maps of the entry (no copy of the matrix), or in memory
        if the cache directory cannot be written (one warning).

    Raises
    ------
    FormatError
        As :func:`embviz.io.load`; cache problems never raise.
    """
    source = Path(source)
    try:
        resolved = source.resolve(strict=True)
        if not (resolved.is_file() or container_format(resolved) == VectorFormat.spark):
            raise FileNotFoundError
    except (FileNotFoundError, OSError):
        sniff(source)  # raises the right FormatError (missing, directory, ...)
        raise
    fmt = None if format is None else str(getattr(format, "value", format))
    root = Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir()
    options = options or SourceOptions()
    entry = root / "vectors" / _entry_id(resolved, fmt, limit, dtype, options.cache_tag())
    expect = dict(_stat(resolved), fingerprint=fingerprint(resolved) if resolved.is_file() else "folder")
    deps = dependencies(resolved, fmt, options)  # a keys sidecar, Parquet parts: checked too
    if deps:
        expect["depends"] = [[str(d), *_stat(d).values(), fingerprint(d)] for d in deps]
    cached = _open_entry(entry, resolved, expect, unit_rows)
    if cached is not None:
        cached.source = source.name
        return cached
    tmp = entry.with_name(f".tmp-{entry.name}-{os.getpid()}-{uuid.uuid4().hex[:8]}")
    sweep(root)
    try:
        tmp.mkdir(parents=True)
        unit_path = tmp / "unit.npy"  # a word2vec binary streams its unit rows straight here
    except OSError:
        unit_path = None  # not writable: parsed in memory, and the write below warns
    # the source's CRC-32: on a second thread while the file is parsed, unless the reader
    # computes it itself (a word2vec binary read in place: Vectors.source_crc32)
    in_place = unit_path is not None and reads_in_place(resolved, fmt)
    hasher = _integrity.BackgroundHash(resolved) if resolved.is_file() and not in_place else None
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", EmbvizWarning)
            vectors, info = read_into(source, format, limit=limit, dtype=dtype, options=options,
                                      unit_path=unit_path, write_unit=unit_rows)
    except OSError as exc:  # writing the streamed unit rows failed (disk full, ...)
        if hasher is not None:
            hasher.cancel()
        shutil.rmtree(tmp, ignore_errors=True)
        if unit_path is None:
            raise
        warn(f"cannot write the vector cache in {root} ({exc.strerror or type(exc).__name__}); "
             "loading without the cache")
        return read_into(source, format, limit=limit, dtype=dtype, options=options)[0]
    except BaseException:
        if hasher is not None:
            hasher.cancel()
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    notes = [str(w.message) for w in caught if issubclass(w.category, EmbvizWarning)]
    for text in notes:
        warn(text)
    meta = dict(expect, layout=_LAYOUT, source=str(resolved), format=info.format.value,
                limit=limit, embviz=__version__, warnings=notes, keys_from=vectors.keys_from)
    try:
        _write_entry(tmp, resolved, vectors, meta, hasher, defer_unit=not unit_rows)
        _install(tmp, entry)
        _drop_older_layouts(root, resolved, fmt, limit, dtype, options.cache_tag())
    except BaseException as exc:  # Ctrl-C, SIGTERM (the CLI raises on it), disk full, ...
        if hasher is not None:
            hasher.cancel()
        shutil.rmtree(tmp, ignore_errors=True)
        if not isinstance(exc, OSError):
            raise
        reason = exc.strerror or type(exc).__name__
        warn(f"cannot write the vector cache in {root} ({reason}); loading without the cache")
        return vectors
    with warnings.catch_warnings():  # the warnings were just given once
        warnings.simplefilter("ignore", EmbvizWarning)
        mapped = _open_entry(entry, resolved, expect, unit_rows)
    if mapped is None:  # replaced by a concurrent builder with other content: use ours
        return vectors
    mapped.source = source.name
    return mapped


def _drop_older_layouts(root: Path, source: Path, format: str | None, limit: int | None, dtype: str,
                        options: str) -> None:
    """Remove the entries older layouts built for these arguments (another folder: their id has the layout).

    The new entry replaces them, as a rebuilt entry replaces a stale one; without this, each
    upgrade would leave a whole copy of every table behind until ``embviz cache clear``.
    """
    for layout in range(1, _LAYOUT):
        old = root / "vectors" / _entry_id(source, format, limit, dtype, options, layout)
        if old.is_dir():
            shutil.rmtree(old, ignore_errors=True)


def entries(cache_dir: str | os.PathLike | None = None) -> list[Entry]:
    """List the cache's entries (complete ones; temporary directories are not listed)."""
    root = (Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir()) / "vectors"
    out: list[Entry] = []
    if not root.is_dir():
        return out
    for entry in sorted(root.iterdir()):
        if entry.name.startswith(".") or not entry.is_dir():
            continue
        size = sum(f.stat().st_size for f in entry.iterdir() if f.is_file())
        try:
            meta = json.loads((entry / "meta.json").read_text("utf-8"))
        except (OSError, ValueError):
            out.append(Entry("?", 0, 0, "?", size, "?", "broken", str(entry)))
            continue
        src = Path(meta.get("source", "?"))
        if not src.exists():  # a file, or a folder (Spark's Parquet parts)
            status = "missing"
        else:
            st = _stat(src)
            status = "ok" if all(meta.get(k) == v for k, v in st.items()) else "stale"
            if status == "ok" and (not meta.get("blocks") or meta.get("layout") != _LAYOUT):
                status = "stale"  # built by an older embviz (no checksums, older layout): rebuilt on load
            elif status == "ok":  # the same sampled block check as a load ('cache verify': all)
                try:
                    ok = _integrity.sampled_ok(entry, meta["blocks"], unit=not _deferred(meta))
                    status = "ok" if ok else "corrupt"
                except (OSError, ValueError):
                    status = "corrupt"
        out.append(Entry(str(src), meta.get("count", 0), meta.get("dim", 0), meta.get("dtype", "?"),
                         size, meta.get("created", "?"), status, str(entry)))
    return out


def sweep(root: Path, *, min_age: float = 600.0) -> int:
    """Remove temporaries left by dead processes under ``root/vectors``; return how many.

    ``.tmp-<entry>-<pid>-<tag>`` folders whose builder (`pid`) is gone, and ``.old-*`` folders
    older than `min_age` seconds (a replaced entry whose remover was killed). A live
    builder's temporary is never touched.
    """
    base = root / "vectors"
    removed = 0
    try:
        names = [p for p in base.iterdir() if p.name.startswith((".tmp-", ".old-"))]
    except OSError:
        return 0
    now = time.time()
    for p in names:
        try:
            if p.name.startswith(".tmp-"):
                pid = int(p.name.split("-")[-2])
                if _integrity.pid_alive(pid):
                    continue
            elif now - p.stat().st_mtime < min_age:
                continue
        except (ValueError, IndexError, OSError):
            continue
        shutil.rmtree(p, ignore_errors=True)
        removed += not p.exists()
    return removed


@dataclass(frozen=True, slots=True)
class Verified:
    """One entry as ``embviz cache verify`` reports it; ``problem`` is empty when ``status`` is ok."""

    source: str
    status: str  # "ok", "stale", "missing", "corrupt" or "broken"
    problem: str
    path: str


def verify(cache_dir: str | os.PathLike | None = None) -> list[Verified]:
    """Check every entry in full: every block of its arrays, its keys, and its source.

    The source is hashed whole (BLAKE2b) and compared with the hash taken when the entry was
    built, which finds the one change the stat fields and the first/last-MiB fingerprint
    cannot see (an edit in the middle that keeps size, mtime, ctime and inode: only
    possible by setting the clock or editing the disk directly).
    """
    root = (Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir()) / "vectors"
    out: list[Verified] = []
    if not root.is_dir():
        return out
    for entry in sorted(root.iterdir()):
        if entry.name.startswith(".") or not entry.is_dir():
            continue
        out.append(_verify_entry(entry))
    return out


def _verify_entry(entry: Path) -> Verified:
    try:
        meta = json.loads((entry / "meta.json").read_text("utf-8"))
        src = Path(meta["source"])
    except (OSError, ValueError, KeyError, TypeError):
        return Verified("?", "broken", "meta.json is missing or unreadable", str(entry))
    try:
        for name, crcs in (meta.get("blocks") or {}).items():
            block = _integrity.bad_block(entry / name, crcs)
            if block is not None:
                where = block * _integrity.BLOCK_BYTES
                return Verified(str(src), "corrupt", f"{name}: data changed at bytes {where:,}+", str(entry))
        if not meta.get("blocks"):
            return Verified(str(src), "stale", "no array checksums (built by an older embviz)", str(entry))
        if meta.get("layout") != _LAYOUT:
            return Verified(str(src), "stale", f"layout {meta.get('layout')} (built by an older embviz; "
                            f"this one reads layout {_LAYOUT})", str(entry))
        if _integrity.crc32((entry / "keys.txt").read_bytes()) != meta.get("keys_crc32"):
            return Verified(str(src), "corrupt", "keys.txt: checksum differs", str(entry))
    except (OSError, ValueError) as exc:
        return Verified(str(src), "corrupt", f"cannot read the entry: {exc}", str(entry))
    if not src.exists():
        return Verified(str(src), "missing", "the source file is gone", str(entry))
    changed = [k for k, v in _stat(src).items() if meta.get(k) != v]
    if changed:
        return Verified(str(src), "stale", "source changed: " + ", ".join(changed), str(entry))
    if src.is_file() and (
        meta.get("source_crc32") not in (None, _integrity.file_crc32(src))
        or meta.get("source_blake2b") not in (None, _integrity.file_blake2b(src))  # older entries
    ):
        return Verified(str(src), "stale", "source content changed (full checksum differs)", str(entry))
    return Verified(str(src), "ok", "", str(entry))


#: Folders other layers keep under the cache directory, derived from vectors (layouts, the
#: explorer's neighbor lists, arrays such as CSLS radii); :func:`clear` removes them with the
#: entries.
DERIVED_DIRS = ("projections", "neighbor-lists", "arrays")


def clear(cache_dir: str | os.PathLike | None = None) -> tuple[int, int]:
    """Remove every entry, leftover temporary directory, layout and neighbor-list file.

    Returns ``(entries, bytes)`` removed; each layout or neighbor-list file counts as an entry.
    """
    base = Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir()
    root = base / "vectors"
    count = size = 0
    if root.is_dir():
        for entry in root.iterdir():
            if entry.is_dir():
                size += sum(f.stat().st_size for f in entry.rglob("*") if f.is_file())
                count += not entry.name.startswith(".")
                shutil.rmtree(entry, ignore_errors=True)
    for name in DERIVED_DIRS:
        folder = base / name
        if folder.is_dir():
            files = [f for f in folder.rglob("*") if f.is_file()]
            size += sum(f.stat().st_size for f in files)
            count += sum(f.suffix in (".npy", ".npz") and not f.name.startswith(".") for f in files)
            shutil.rmtree(folder, ignore_errors=True)
    return count, size
