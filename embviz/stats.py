"""Descriptive statistics of a lookup table (``embviz info``)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from embviz.errors import InvalidQuery
from embviz.io.norms import table_norms64
from embviz.vectors import Vectors


@dataclass(frozen=True, slots=True)
class Info:
    """What ``embviz info`` prints. Norms are L2 norms of the rows (>= 0)."""

    file: str
    format: str
    compression: str
    count: int
    dim: int
    dtype: str
    memory_bytes: int
    norm_min: float
    norm_mean: float
    norm_max: float
    zero_rows: int
    first_keys: str


def norms64(vectors: Vectors) -> np.ndarray:
    """L2 norm of each row computed in float64: ``(n,)``, finite for every finite float32 row.

    A table mapped from the cache carries them (``norms64``, the entry's ``norms64.npy``,
    computed from the rows when the entry was written): then no row is read. Otherwise they
    are computed from ``matrix``, block by block; both give the same values, bit for bit.
    """
    stored = getattr(vectors, "norms64", None)
    if stored is not None and stored.shape == (vectors.count,):
        return np.asarray(stored)
    return table_norms64(vectors.matrix)


def describe(vectors: Vectors, path: Path, format: str, compression: str | None) -> Info:
    """Summarise `vectors` loaded from `path`: shape, dtype, matrix bytes and norm statistics.

    Norms are computed in float64, so every statistic of a finite table is a finite number;
    a table mapped from the cache brings them with it (:func:`norms64`), so no row is read.

    Raises
    ------
    InvalidQuery
        If the table has no rows or a row holds a value that is not finite (a table built
        in Python; files with such values are refused when loaded): the message says which
        statistic cannot be computed and why, instead of reporting null.
    """
    if vectors.count == 0:
        raise InvalidQuery(f"{path}: the table has no rows, so its norm statistics cannot be computed")
    norms = norms64(vectors)
    bad = np.flatnonzero(~np.isfinite(norms))
    if len(bad):
        i = int(bad[0])
        raise InvalidQuery(
            f"{path}: row {i:,} ({vectors.keys[i][:40]!r}) holds a value that is not finite, so "
            "its norm (and norm_mean, norm_max) cannot be computed"
        )
    return Info(
        file=str(path),
        format=format,
        compression=compression or "none",
        count=vectors.count,
        dim=vectors.dim,
        dtype=str(vectors.matrix.dtype),
        memory_bytes=int(vectors.matrix.nbytes),
        norm_min=float(norms.min()),
        norm_mean=float(norms.mean(dtype=np.float64)),
        norm_max=float(norms.max()),
        zero_rows=int((norms == 0).sum()),
        first_keys=" ".join(vectors.keys[:5]),
    )


def model_args(vectors: Vectors) -> dict[str, object]:
    """Return the training arguments of the fastText model a table was read from (``info``); {} otherwise.

    fastText's ``Args`` (``model``, ``loss``, ``minn``/``maxn`` the character n-gram lengths,
    ``bucket`` the n-gram rows, ``epoch``, ``ws`` the window, ``neg`` the negatives, ``min_count``,
    ``word_ngrams``, ``t`` the subsampling threshold, ``lr_update_rate``) in snake case, then
    the dictionary's ``vocabulary`` (words), ``labels`` and ``tokens`` (training tokens read),
    as stored in the ``.bin`` (fastText ``Args::save``, ``Dictionary::save``).
    """
    model = getattr(vectors, "subwords", None)
    if model is None:
        return {}
    a = model.args
    return {
        "model": a.model, "loss": a.loss, "minn": a.minn, "maxn": a.maxn, "bucket": a.bucket,
        "epoch": a.epoch, "ws": a.ws, "neg": a.neg, "min_count": a.minCount, "word_ngrams": a.wordNgrams,
        "t": a.t, "lr_update_rate": a.lrUpdateRate, "vocabulary": int(model.nwords),
        "labels": int(model.nlabels), "tokens": int(model.ntokens),
    }
