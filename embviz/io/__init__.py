"""Vector files in and out: the front door is :func:`load`, :func:`save` and :func:`sniff`.

``load`` decides cache or no cache: with the cache it asks :mod:`embviz.io.cache`, which maps a
valid entry or calls the pure reader (:func:`embviz.io.read.read_into`) and writes an entry;
without it, it calls the reader directly. Readers (:mod:`~embviz.io.text`,
:mod:`~embviz.io.binary`) never call ``load`` or the cache, so nothing here imports in a
circle. Writers (:mod:`~embviz.io.write`) are always atomic.
"""

from __future__ import annotations

import os
from pathlib import Path

from embviz.errors import FormatError
from embviz.io import cache as _cache
from embviz.io import checks as _checks
from embviz.io.options import SourceOptions
from embviz.io.read import read_into
from embviz.io.sniffing import (
    HEAD_BYTES,
    READABLE,
    SourceInfo,
    VectorFormat,
    compression,
    open_bytes,
    sniff,
)
from embviz.io.write import atomic_write, format_for, save
from embviz.vectors import Vectors

__all__ = [
    "HEAD_BYTES",
    "READABLE",
    "SourceInfo",
    "VectorFormat",
    "atomic_write",
    "compression",
    "format_for",
    "load",
    "open_bytes",
    "read_into",
    "save",
    "sniff",
]


def load(
    path: str | os.PathLike,
    format: VectorFormat | str | None = None,
    *,
    limit: int | None = None,
    cache: bool = True,
    cache_dir: str | os.PathLike | None = None,
    dtype: str = "float32",
    tensor: str | None = None,
    key_column: str | None = None,
    vector_columns: str | list[str] | tuple[str, ...] | None = None,
    keys: str | os.PathLike | None = None,
    padding_idx: int | None = None,
    unit: bool = True,
) -> Vectors:
    """Load a vector file into a :class:`~embviz.vectors.Vectors` lookup table.

    Parameters
    ----------
    path : path-like
        A word2vec binary or text, GloVe or fastText ``.vec`` file, optionally gzip/bz2/xz
        compressed (detected from magic bytes, not the file name); a ``.npy``/``.npz``,
        safetensors, HDF5 (h5py), Parquet, Arrow IPC/Feather or PyTorch file; a Projector
        ``vectors.tsv``; or a folder of Parquet parts (Spark ``Word2VecModel.save``,
        ``getVectors().write.parquet``).
        A fastText model ``.bin``: the words' vectors, and ``Vectors.subwords`` is its
        :class:`~embviz.io.fasttext_bin.FastTextModel`, which gives any word's vector (other
        tables have no ``subwords``). See ``docs/formats.md``.
    format : VectorFormat or str, optional
        Overrides the sniffed format (``"word2vec"``, ``"word2vec-text"``, ``"glove"``,
        ``"fasttext"``, ``"fasttext-bin"``, ``"projector"``, ``"npy"``, ``"npz"``, ``"safetensors"``,
        ``"parquet"``, ``"arrow"``, ``"spark"``, ``"torch"``, ``"hdf5"``).
    limit : int, optional
        Read only the first `limit` vectors (files are in frequency order).
    cache : bool
        Use the memory-mapped cache (see :mod:`embviz.io.cache`): the first load writes it,
        later loads map it without parsing or copying.
    cache_dir : path-like, optional
        The cache's directory; default ``$XDG_CACHE_HOME/embviz`` or ``~/.cache/embviz``.
    dtype : {"float32", "float16"}
        Storage dtype of the matrix (float16 halves memory; scores stay float32).
    tensor : str, optional
        The array of a ``.npz``/safetensors/PyTorch file, or the dataset of an HDF5 file (a
        path inside it, ``"group/emb"``). Default: the only 2-D float array, or a known
        embedding name; in HDF5 ``train`` first (ann-benchmarks).
    key_column : str, optional
        The key column of a table (default: the first string/integer column named like a key).
    vector_columns : str or list of str, optional
        A wide table's vector columns, in order (``"f0,f1,f2"`` or ``"emb_*"``).
    keys : path-like, optional
        Keys of a table without keys (one per line, TSV, Parquet or ``tokenizer.json``);
        default a sidecar (``NAME.keys.txt``, ``NAME.vocab``, ``tokenizer.json``), else the
        row ids ``0..n-1``. ``Vectors.keys_from`` says which was used.
    padding_idx : int, optional
        A row never returned as a neighbor or analogy answer (``nn.Embedding(padding_idx=)``);
        negative counts from the end.
    unit : bool
        False for a caller that never uses ``Vectors.unit`` (``embviz info``): a first load
        of an uncompressed word2vec binary then writes no unit rows to the cache entry (the
        first load that asks for them writes them; see :mod:`embviz.io.entry_unit`), and
        ``unit`` is computed from the rows if it is used after all.

    Returns
    -------
    Vectors
        ``matrix`` read-only ``(n, dim)`` in `dtype`, keys in file order.

    Raises
    ------
    FormatError
        If the file is missing, empty, not a vector file, ragged, has non-numeric, NaN or
        infinite values, a header that disagrees with the data, or is truncated; the message
        names the file and the line or record.

    Warns
    -----
    EmbvizWarning
        Once, if keys are duplicated (the first occurrence is kept) or not valid UTF-8.
    """
    if dtype not in ("float32", "float16"):
        raise FormatError(f"dtype must be float32 or float16, got {dtype!r}")
    if isinstance(vector_columns, str):
        vector_columns = [c.strip() for c in vector_columns.split(",") if c.strip()]
    options = SourceOptions(
        tensor, key_column, tuple(vector_columns) if vector_columns else None,
        Path(keys) if keys is not None else None,
    )
    if _checks.is_stream(path):  # /dev/stdin, <(zcat v.gz): spooled once, never cached
        vectors = _checks.read_stream(
            Path(path), lambda p: read_into(p, format, limit=limit, dtype=dtype, options=options)[0]
        )
    elif cache:
        vectors = _cache.load_cached(
            Path(path), format=format, limit=limit, cache_dir=cache_dir, dtype=dtype, options=options,
            unit_rows=unit,
        )
    else:
        vectors = read_into(path, format, limit=limit, dtype=dtype, options=options)[0]
    vectors.set_padding(padding_idx)
    if not _checks.is_stream(path) and (format is None or VectorFormat(format) == VectorFormat.fasttext_bin):
        from embviz.io import fasttext_bin

        # a fastText .bin (read or mapped from the cache): its model gives any word's vector
        fasttext_bin.attach(vectors, path)
    return vectors

