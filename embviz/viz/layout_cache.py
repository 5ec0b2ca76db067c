"""The on-disk cache of layouts, keyed on (data, selection, method, parameters, seed, version)."""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from embviz._version import __version__
from embviz.errors import warn

if TYPE_CHECKING:
    from numpy.typing import NDArray


_CACHE_LAYOUT = 2  # 2: the .npy carries its name's checksum (embviz.io.derived.save_checked)


def _cache_path(cache_dir: Path, unit, keys, fingerprint, method, dim, params, seed) -> Path:
    h = hashlib.blake2b(digest_size=16)
    h.update(np.ascontiguousarray(unit).view(np.uint8).data)
    h.update("\n".join(keys).encode("utf-8", "surrogatepass"))
    meta = {
        "fingerprint": fingerprint,
        "method": method,
        "dim": dim,
        "params": params,
        "seed": seed,
        "version": __version__,
        "layout": _CACHE_LAYOUT,
    }
    h.update(json.dumps(meta, sort_keys=True).encode())
    return cache_dir / "projections" / f"{method}-{h.hexdigest()}.npy"


def _read_cached(path: Path, m: int, dim: int) -> NDArray[np.float32] | None:
    """Return the cached coordinates ``(m, dim)`` float32, or None (missing, damaged, another entry's)."""
    from embviz.io.derived import load_checked

    hit = load_checked(path, ("coords",))
    if hit is None:
        return None
    coords = hit["coords"]
    if coords.shape != (m, dim) or coords.dtype != np.float32 or not np.isfinite(coords).all():
        return None
    return coords


def _save_or_warn(path: Path, arrays: dict, what: str) -> None:
    """Write `arrays` to `path` atomically and checked (:func:`embviz.io.derived.save_checked`).

    A failure is one warning.
    """
    from embviz.errors import FormatError
    from embviz.io.derived import save_checked

    try:
        save_checked(path, arrays)
    except (OSError, FormatError) as exc:
        warn(f"could not write the {what} cache in {path.parent}: {getattr(exc, 'strerror', None) or exc}")


def _write_cached(path: Path, coords: NDArray[np.float32]) -> None:
    _save_or_warn(path, {"coords": coords}, "projection")


def _recall_check(path: Path, k: int, recall: float) -> str:
    """BLAKE2b of the layout's file name, `k` and `recall` (exact repr): ties the JSON to its entry."""
    return hashlib.blake2b(json.dumps([path.name, k, repr(recall)]).encode(), digest_size=16).hexdigest()


def _read_recall(path: Path, k: int) -> float | None:
    try:
        data = json.loads(path.with_suffix(".json").read_text("utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or data.get("k") != k or type(data.get("k")) is not int:
        return None
    r = data.get("recall")
    if not isinstance(r, float) or not 0.0 <= r <= 1.0 or data.get("check") != _recall_check(path, k, r):
        return None  # damaged, or another layout's: computed again
    return r


def _write_recall(path: Path, k: int, recall: float) -> None:
    try:
        fd, tmp = tempfile.mkstemp(prefix=".proj-", suffix=".json.tmp", dir=path.parent)
        try:
            with os.fdopen(fd, "w") as f:
                recall = float(recall)
                json.dump({"k": k, "recall": recall, "check": _recall_check(path, k, recall)}, f)
            os.replace(tmp, path.with_suffix(".json"))
        except BaseException:
            os.unlink(tmp)
            raise
    except OSError:
        pass


# -- neighbor lists (the explorer's panel data) ------------------------------------------------
_CACHE_LISTS = 1


def lists_path(
    cache_dir: Path,
    unit,
    query_ids,
    k: int,
    restrict: int | None,
    padding_idx: int | None = None,
    unit_digest: str | None = None,
    *,
    metric: str = "cosine",
    norms=None,
) -> Path:
    """Return the cache file of exact neighbor lists, keyed on every input of the computation.

    The key hashes the whole searched matrix (`unit`, ``(n, dim)``: all of it, or its first
    `restrict` rows; or, for a table mapped from the vector cache, `unit_digest`, the digest of
    the checksums the cache wrote with those rows), the query row ids, `k`, `restrict`, the
    padding row, the metric and the embviz version, so a changed table, selection or parameter
    never reads an old answer. For ``dot`` and ``euclidean``, whose scores use the raw rows,
    the row `norms` ``(n,)`` float32 are hashed too (unit rows and norms give the raw rows).
    Hashing costs about 0.1 s per 80 MB of rows, against about 7 s for the lists
    of 5,000 points over 400,000 x 50.
    """
    h = hashlib.blake2b(digest_size=16)
    n = unit.shape[0] if restrict is None else min(restrict, unit.shape[0])
    h.update(str((n, unit.shape[1], str(unit.dtype))).encode())
    if unit_digest is not None:  # the vector cache's checksums of these rows (Vectors.unit_digest)
        h.update(f"unit-digest:{unit_digest}".encode())
    else:
        block = max(1, (64 << 20) // max(1, unit.shape[1] * unit.dtype.itemsize))
        for lo in range(0, n, block):  # bounded copies of mapped rows
            h.update(np.ascontiguousarray(unit[lo : min(n, lo + block)]).view(np.uint8).data)
    if norms is not None:
        h.update(np.ascontiguousarray(norms[:n], dtype=np.float32).view(np.uint8).data)
    h.update(np.ascontiguousarray(query_ids, dtype=np.int64).view(np.uint8).data)
    meta = {"k": k, "restrict": restrict, "padding_idx": padding_idx, "version": __version__,
            "lists": _CACHE_LISTS}
    if metric != "cosine":  # cosine keeps its old key, so existing entries stay valid
        meta["metric"] = metric
    h.update(json.dumps(meta, sort_keys=True).encode())
    return cache_dir / "neighbor-lists" / f"lists-{h.hexdigest()}.npz"


def read_lists(path: Path, r: int, k: int, n: int) -> tuple[NDArray, NDArray] | None:
    """Return the cached ``(ids (r, k') int64, scores (r, k') float32)``, or None.

    None when the file is missing, unreadable, damaged or another entry's (its checksum covers
    its name and bytes: :func:`embviz.io.derived.load_checked`), or not what the key promises
    (shapes, dtypes, ids outside ``0 .. n-1``): the caller computes the lists again.
    """
    from embviz.io.derived import load_checked

    hit = load_checked(path, ("ids", "scores"))
    if hit is None:
        return None
    ids, scores = hit["ids"], hit["scores"]
    if ids.ndim != 2 or ids.shape != scores.shape or ids.shape[0] != r or ids.shape[1] > k:
        return None
    if ids.dtype != np.int64 or scores.dtype != np.float32:
        return None
    if ids.size and (ids.min() < 0 or ids.max() >= n):
        return None
    return ids, scores


def write_lists(path: Path, ids: NDArray[np.int64], scores: NDArray[np.float32]) -> None:
    """Write lists atomically (temporary file, then rename), checked; a failure is one warning."""
    _save_or_warn(path, {"ids": ids, "scores": scores}, "neighbor-list")
