"""item2vec: skip-gram with negative sampling on users' item sequences (gensim engine).

Barkan & Koenigstein (2016) train word2vec's SGNS on sets of items (baskets, sessions, a
user's history), "treating each pair of items that share the same set as a positive
example": the window spans the whole set and is never shrunk (gensim's
``shrink_windows=False``, gensim 4.1), and no item is too rare to keep (``min_count=1``).
:func:`item2vec_params` makes those the defaults; :func:`train_item2vec` builds the
sequences (:mod:`embviz.train.sequences`), trains with gensim's ``corpus_file`` mode and maps
the item codes back to the log's item ids.

Tuning matters: ``ns_exponent``, ``sample`` and the window change next-item accuracy by up to
an order of magnitude (Caselles-Dupré, Lesaint & Royo-Letelier, RecSys 2018, arXiv
1804.04212); evaluate with ``embviz evaluate next-item``.
"""

from __future__ import annotations

import os
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any, Callable

import numpy as np

from embviz.train.engine_gensim import train as train_gensim
from embviz.train.params import TrainParams, TrainResult
from embviz.train.sequences import MAX_LENGTH, WINDOW_CAP, Sequences, build


def item2vec_params(params: TrainParams | None = None, *, window: int | None = None,
                    longest: int | None = None, **overrides: Any) -> TrainParams:
    """Return `params` with item2vec's defaults: skip-gram, ``min_count=1``, full windows.

    Parameters
    ----------
    params : TrainParams, optional
        Start from these (default: gensim's defaults).
    window : int, optional
        The window; default ``min(longest, WINDOW_CAP)``: the whole sequence.
    longest : int, optional
        Items in the longest sequence (``Sequences.longest``), for the default window.
    **overrides
        Any :class:`TrainParams` field, applied last.
    """
    base = asdict(params or TrainParams())
    base.update(sg=True, min_count=1, shrink_windows=False)
    if window is None:
        window = max(1, min(longest or 5, WINDOW_CAP, MAX_LENGTH))
    base["window"] = window
    base.update(overrides)
    return TrainParams(**base)


def train_item2vec(
    interactions: str | os.PathLike | Sequences,
    params: TrainParams | None = None,
    *,
    user_column: str | None = None,
    item_column: str | None = None,
    time_column: str | None = None,
    session_gap: float | None = None,
    basket_column: str | None = None,
    hold_out_last: bool = False,
    progress: Callable[[Any], None] | None = None,
    tmp_dir: str | os.PathLike | None = None,
) -> TrainResult:
    """Train item vectors on an interaction log (item2vec; gensim ``corpus_file`` mode).

    Parameters
    ----------
    interactions : path-like or Sequences
        The log (Parquet, Arrow, CSV, TSV; see :func:`embviz.train.sequences.build`), or
        sequences already built from it (then the column options are ignored, and the caller
        cleans them up).
    params : TrainParams, optional
        The hyper-parameters as given; default :func:`item2vec_params` (skip-gram,
        ``min_count=1``, ``shrink_windows=False``, window = the longest sequence up to
        :data:`~embviz.train.sequences.WINDOW_CAP`).
    user_column, item_column, time_column, session_gap, basket_column, hold_out_last
        How sequences are built: see :func:`embviz.train.sequences.build`.
    progress : callable, optional
        As :func:`embviz.train.train`.
    tmp_dir : path-like, optional
        Where the temporary sequence file goes.

    Returns
    -------
    TrainResult
        ``vectors``: one row per item, ``(items, vector_size)`` float32, keys = the log's item
        ids in descending popularity (ties in the order gensim met them); ``counts`` ``(items,)`` int64:
        each item's events; ``report.interactions``: how the sequences were built.

    Raises
    ------
    FormatError
        The log cannot be read (see :func:`~embviz.train.sequences.build`).
    InvalidQuery
        A parameter is out of range.
    """
    own = not isinstance(interactions, Sequences)
    seqs = build(interactions, user_column=user_column, item_column=item_column, time_column=time_column,
                 session_gap=session_gap, basket_column=basket_column, hold_out_last=hold_out_last,
                 tmp_dir=tmp_dir) if own else interactions
    try:
        params = params if params is not None else item2vec_params(longest=seqs.longest)
        result = train_gensim(seqs.path, params, progress=progress, name=seqs.source, tmp_dir=tmp_dir)
    finally:
        if own:
            seqs.cleanup()
    from embviz.vectors import Vectors

    codes = np.asarray([int(c) for c in result.vectors.keys], dtype=np.int64)
    keys = [seqs.items[c] for c in codes.tolist()]
    wv = result.model.wv
    wv.index_to_key = list(keys)  # the saved model speaks item ids too
    wv.key_to_index = {k: i for i, k in enumerate(keys)}
    vectors = Vectors(keys, result.vectors.matrix, source=Path(seqs.source).name)
    record = seqs.provenance()
    record["window"] = params.window
    record["window_rule"] = (
        "whole sequence" if params.window >= seqs.longest else f"{params.window} items each side"
    )
    report = replace(result.report, corpus=seqs.source, interactions=record)
    return TrainResult(vectors, result.model, report, counts=seqs.counts[codes])
