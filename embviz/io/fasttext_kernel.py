r"""Compiled loops behind :mod:`embviz.io.fasttext_bin`: the dictionary scan and the word vectors.

numba (installed with umap-learn) is imported inside :func:`kernels`, never at import time,
and each function is compiled once per machine: with ``cache=True`` where numba can write its
cache (beside this file, or ``$NUMBA_CACHE_DIR``), else in memory for this process only. The
plain Python functions here are the source of the compiled ones; run uncompiled they give the
same results (slowly), which keeps them testable and readable.

A word's fastText vector (``FastText::getWordVector``) is the float32 sum of its own input
row and the rows of its character n-grams, times ``1 / count``. :func:`subword_rows` lists
the n-gram rows of a group of words (:func:`count_subwords` sizes it), and
:func:`accumulate_chunk` adds one chunk of the input matrix (rows ``lo..lo + len(chunk)``,
read into memory) to every word of the group that uses a row of it: the caller streams the
n-gram rows through a fixed buffer, so the input matrix is never resident as a whole.
"""

from __future__ import annotations

import os
from functools import lru_cache
from types import SimpleNamespace

import numpy as np

_FNV_OFFSET = 2166136261
_FNV_PRIME = 16777619
_FNV64_OFFSET = 14695981039346656037
_FNV64_PRIME = 1099511628211


def scan_dictionary(buf, pos, n_entries, starts, ends, counts, types):  # noqa: ANN001, ANN201
    r"""Find the ``n_entries`` entries ``word \0 count:int64 type:int8`` from byte `pos` of `buf`.

    Fills `starts`/`ends` (the word's bytes ``buf[start:end]``), `counts` and `types`
    (all ``(n_entries,)``); returns the position after the last entry, or ``-1 - i`` when entry
    ``i`` is cut off by the end of `buf` (uint8 ``(size,)``).
    """
    size = len(buf)
    for i in range(n_entries):
        j = pos
        while j < size and buf[j] != 0:
            j += 1
        if j + 10 > size:
            return -1 - i
        starts[i] = pos
        ends[i] = j
        c = np.int64(0)
        for b in range(8):
            c |= np.int64(buf[j + 1 + b]) << np.int64(8 * b)
        counts[i] = c
        t = np.int64(buf[j + 9])
        types[i] = t - 256 if t > 127 else t
        pos = j + 10
    return pos


def join_words(buf, starts, ends, keep):  # noqa: ANN001, ANN201
    r"""Return the bytes of the entries `keep` (int64 ``(k,)``), each followed by ``\0``: uint8 ``(total,)``."""
    total = 0
    for i in keep:
        total += ends[i] - starts[i] + 1
    out = np.empty(total, dtype=np.uint8)
    p = 0
    for i in keep:
        for j in range(starts[i], ends[i]):
            out[p] = buf[j]
            p += 1
        out[p] = 0
        p += 1
    return out


def hash64(buf, starts, ends, keep):  # noqa: ANN001, ANN201
    """64-bit FNV-1a of each entry `keep`'s bytes: uint64 ``(k,)`` (all distinct proves the words distinct)."""
    out = np.empty(len(keep), dtype=np.uint64)
    for k in range(len(keep)):
        i = keep[k]
        h = np.uint64(_FNV64_OFFSET)
        for j in range(starts[i], ends[i]):
            h = (h ^ np.uint64(buf[j])) * np.uint64(_FNV64_PRIME)
        out[k] = h
    return out


def _subwords(buf, start, length, nwords, bucket, minn, maxn, rows, at):  # noqa: ANN001, ANN202, PLR0913
    """Write the n-gram rows of the word ``buf[start:start + length]`` to ``rows[at:]``; return how many.

    With `rows` of length 0 only counts them. fastText's ``computeSubwords``: the character
    n-grams of ``<word>``, n in ``minn..maxn`` counted in UTF-8 characters (continuation
    bytes ``10xxxxxx`` join the character before them), without the 1-grams ``<`` and ``>``,
    in the order start position, then length; each hashed with 32-bit FNV-1a over its bytes
    taken as signed chars (``h ^= uint32(int8(byte))``), row ``nwords + hash % bucket``.
    """
    size = length + 2
    word = np.empty(size, dtype=np.uint64)  # "<word>", each byte as fastText's uint32(int8(byte))
    word[0] = 60
    word[size - 1] = 62
    for p in range(length):
        b = np.uint64(buf[start + p])
        word[p + 1] = b + np.uint64(0xFFFFFF00) if b > 127 else b
    fill = len(rows) > 0
    inv = 1.0 / bucket
    found = 0
    for i in range(size):
        if (word[i] & 0xC0) == 0x80:
            continue
        h = np.uint64(_FNV_OFFSET)  # 32-bit FNV-1a, kept in 64 bits and masked
        j = i
        n = 1
        while j < size and n <= maxn:
            h = ((h ^ word[j]) * np.uint64(_FNV_PRIME)) & np.uint64(0xFFFFFFFF)
            j += 1
            while j < size and (word[j] & 0xC0) == 0x80:
                h = ((h ^ word[j]) * np.uint64(_FNV_PRIME)) & np.uint64(0xFFFFFFFF)
                j += 1
            if n >= minn and not (n == 1 and (i == 0 or j == size)):
                if fill:
                    hv = np.int64(h)
                    r = hv - np.int64(hv * inv) * bucket  # hash % bucket without a division:
                    if r < 0:  # the float quotient is off by at most one
                        r += bucket
                    elif r >= bucket:
                        r -= bucket
                    rows[at + found] = nwords + r
                found += 1
            n += 1
    return found


def count_subwords(buf, starts, ends, ids, has, minn, maxn, counts):  # noqa: ANN001, ANN201
    """Set ``counts[w]`` (int64 ``(k,)``) to the number of n-gram rows of word ``ids[w]`` (0 without n-grams)."""
    none = np.empty(0, dtype=np.int64)
    for w in _prange(len(ids)):
        e = ids[w]
        counts[w] = _subwords(buf, starts[e], ends[e] - starts[e], 0, 1, minn, maxn, none, 0) if has[w] else 0


def subword_rows(buf, starts, ends, ids, has, nwords, bucket, minn, maxn, offsets, rows):  # noqa: ANN001, ANN201, PLR0913
    """Fill `rows` (int64) with the n-gram rows of the words `ids`, word w's at ``offsets[w]:offsets[w + 1]``."""
    for w in _prange(len(ids)):
        if has[w]:
            e = ids[w]
            _subwords(buf, starts[e], ends[e] - starts[e], nwords, bucket, minn, maxn, rows, offsets[w] - offsets[0])


def accumulate_chunk(out, chunk, lo, rows, offsets):  # noqa: ANN001, ANN201
    """Add the input rows ``lo..lo + len(chunk)`` (`chunk` ``(m, dim)`` float32) to the words that use them.

    Word w (row ``out[w]`` ``(dim,)`` float32, already holding the word's own row) uses the
    rows ``rows[offsets[w] - offsets[0] : offsets[w + 1] - offsets[0]]``, in fastText's order;
    those in the chunk are added to it in that order.
    """
    m, dim = chunk.shape
    hi = lo + m
    base = offsets[0]
    for w in _prange(len(out)):
        row = out[w]
        for p in range(offsets[w] - base, offsets[w + 1] - base):
            r = rows[p]
            if lo <= r < hi:
                src = chunk[r - lo]
                for d in range(dim):
                    row[d] += src[d]


def scale_rows(out, counts):  # noqa: ANN001, ANN201
    """Multiply each row of `out` ``(k, dim)`` float32 by ``float32(1.0 / counts[w])``, as fastText's ``mul``."""
    for w in _prange(len(out)):
        a = np.float32(1.0 / counts[w])
        row = out[w]
        for d in range(out.shape[1]):
            row[d] *= a


_prange = range  # numba.prange once compiled (see kernels)
_subwords_py = _subwords


def _cache_ok() -> bool:
    """Whether numba can keep compiled code on disk (beside this file, or in ``$NUMBA_CACHE_DIR``)."""
    folder = os.environ.get("NUMBA_CACHE_DIR")
    if folder:
        return os.access(folder, os.W_OK | os.X_OK) or (not os.path.exists(folder)
                                                        and os.access(os.path.dirname(folder) or ".", os.W_OK))
    return True  # numba falls back from this folder to the user's cache folder itself


@lru_cache(maxsize=1)
def kernels() -> SimpleNamespace:
    """Return the compiled functions of this module, as attributes of one namespace.

    Compiled on the first call in a process (about 4 s), or loaded from numba's disk cache
    (importing numba and loading them: about 0.8 s).
    """
    import numba

    global _prange
    _prange = numba.prange
    cache = _cache_ok()

    def jit(func, parallel=False):  # noqa: ANN001, ANN202
        try:
            return numba.njit(cache=cache, parallel=parallel, nogil=True, boundscheck=False)(func)
        except RuntimeError:  # "cannot cache function": no writable cache folder after all
            return numba.njit(parallel=parallel, nogil=True)(func)

    globals()["_subwords"] = jit(_subwords_py)  # before its callers compile
    return SimpleNamespace(
        scan_dictionary=jit(scan_dictionary),
        count_subwords=jit(count_subwords, parallel=True),
        subword_rows=jit(subword_rows, parallel=True),
        join_words=jit(join_words),
        hash64=jit(hash64),
        accumulate_chunk=jit(accumulate_chunk, parallel=True),
        scale_rows=jit(scale_rows, parallel=True),
    )
