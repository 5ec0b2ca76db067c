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


_CACHE_LAYOUT = 1


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
    try:
        coords = np.load(path, allow_pickle=False)
    except (OSError, ValueError):
        return None
    if coords.shape != (m, dim) or coords.dtype != np.float32 or not np.isfinite(coords).all():
        return None
    return coords


def _write_cached(path: Path, coords: NDArray[np.float32]) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".proj-", suffix=".npy.tmp", dir=path.parent)
        try:
            with os.fdopen(fd, "wb") as f:
                np.save(f, coords, allow_pickle=False)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    except OSError as exc:
        warn(f"could not write the projection cache in {path.parent}: {exc.strerror or exc}")


def _read_recall(path: Path, k: int) -> float | None:
    try:
        data = json.loads(path.with_suffix(".json").read_text())
    except (OSError, ValueError):
        return None
    r = data.get("recall") if isinstance(data, dict) and data.get("k") == k else None
    return float(r) if isinstance(r, (int, float)) and 0.0 <= r <= 1.0 else None


def _write_recall(path: Path, k: int, recall: float) -> None:
    try:
        fd, tmp = tempfile.mkstemp(prefix=".proj-", suffix=".json.tmp", dir=path.parent)
        with os.fdopen(fd, "w") as f:
            json.dump({"k": k, "recall": recall}, f)
        os.replace(tmp, path.with_suffix(".json"))
    except OSError:
        pass
