r"""fastText ``.bin`` models: the header, the dictionary and the input matrix, read in place.

No fastText or gensim at run time. Layout (fastText ``src/fasttext.cc`` ``saveModel``, all
little-endian):

``magic`` int32 ``793712314`` and ``version`` int32 (12 today; 11 for older models)
    absent in the old format (before fastText 0.1), which starts directly with the args.
``args``
    12 int32 (``dim ws epoch minCount neg wordNgrams loss model bucket minn maxn
    lrUpdateRate``) and the double ``t``.
``dictionary``
    int32 ``size nwords nlabels``, int64 ``ntokens``, int64 ``pruneidx_size`` (not in the
    old format), then ``size`` entries ``word \0 count:int64 type:int8`` (0 a word, 1 a
    label), then ``pruneidx_size`` pairs of int32.
``quant`` bool (not in the old format), then the input matrix
    int64 ``m n`` and ``m * n`` float32: ``nwords`` word rows, then ``bucket`` n-gram rows.

A word's vector is fastText's ``getWordVector``: the mean of its own row (when the word is in
the dictionary) and the rows of its character n-grams (:func:`ngram_rows`). The input matrix
is memory-mapped where it lies in the file for single words (out of the vocabulary); the
whole vocabulary's vectors are computed by streaming it with plain reads through a fixed
buffer and compiled loops (:mod:`embviz.io.fasttext_kernel`), so it is never resident whole.
"""

from __future__ import annotations

import mmap
import os
import struct
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from embviz.errors import FormatError, KeyNotFound

MAGIC = 793712314
VERSION = 12
_ARGS = struct.Struct("<12id")
_DICT = struct.Struct("<3iq")
_LOSS = {1: "hs", 2: "ns", 3: "softmax", 4: "ova"}
_MODEL = {1: "cbow", 2: "skipgram", 3: "supervised"}
_EOS = b"</s>"
_FNV_OFFSET = np.uint32(2166136261)
_FNV_PRIME = np.uint32(16777619)
_FNV64_OFFSET = 14695981039346656037
_FNV64_PRIME = 1099511628211
#: Bytes of n-gram rows read into memory at a time when computing a whole vocabulary's
#: vectors: the input matrix is streamed through this buffer, never resident as a whole.
_CHUNK_BYTES = 256 << 20
#: Words with fewer n-grams than ``bucket / _GATHER_BELOW`` read their rows from the memory
#: map instead (a few pages of it) rather than streaming all the n-gram rows.
_GATHER_BELOW = 16
#: Bytes of n-gram row numbers (int32) computed at a time: the words are taken in groups of
#: this many n-grams, and each group streams all the n-gram rows once.
_ROWS_BYTES = 128 << 20


@dataclass(frozen=True, slots=True)
class Args:
    """The training arguments stored in a model (fastText ``Args``; the names are fastText's)."""

    dim: int
    ws: int
    epoch: int
    minCount: int  # noqa: N815 - fastText's name
    neg: int
    wordNgrams: int  # noqa: N815
    loss: str  # hs, ns, softmax, ova
    model: str  # cbow, skipgram, supervised
    bucket: int
    minn: int
    maxn: int
    lrUpdateRate: int  # noqa: N815
    t: float


def is_model(path: str | os.PathLike) -> bool:
    """Whether `path` starts like a fastText ``.bin`` (the magic number, or old-format args)."""
    from embviz.io.sniffing import _FASTTEXT_MAGIC, _old_fasttext

    try:
        with open(path, "rb") as f:
            head = f.read(64)
    except OSError:
        return False
    return head[:4] == _FASTTEXT_MAGIC or _old_fasttext(head)


class FastTextModel:
    """A fastText ``.bin`` model opened in place: args, dictionary, memory-mapped input matrix.

    Parameters
    ----------
    path : path-like
        An uncompressed fastText ``.bin`` (current format, version <= 12, or the old format
        without the magic number).

    Attributes
    ----------
    args : Args
        The training arguments (``dim``, ``minn``, ``maxn``, ``bucket``, ``loss``, ...).
    version : int or None
        The file format version; None for the old format.
    nwords, nlabels, ntokens : int
        Words and labels in the dictionary; tokens seen in training.
    words : list of str
        The dictionary's words (entry type word, not labels) in dictionary order (by count).
    counts : ndarray ``(nwords,)`` int64
        Each word's count in the training corpus.
    input : ndarray ``(nwords + bucket, dim)`` float32
        The input matrix, a read-only memory map of the file (no copy).

    Raises
    ------
    FormatError
        One line naming the file and the section (header, dictionary, matrix) when the file is
        truncated or not a model; for a quantized model (``.ftz``).
    """

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        try:
            with open(self.path, "rb") as f:
                self.size = os.fstat(f.fileno()).st_size
                buf = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) if self.size else b""
        except FileNotFoundError:
            raise FormatError(f"{self.path}: no such file") from None
        except IsADirectoryError:
            raise FormatError(f"{self.path}: is a directory, expected a fastText model") from None
        except OSError as exc:
            raise FormatError(f"{self.path}: cannot read: {exc.strerror or exc}") from None
        try:
            end = self._parse(buf)
        finally:
            if isinstance(buf, mmap.mmap):
                buf.close()
        m, n = self.nwords + self.args.bucket, self.args.dim
        if self.size - end < 4 * m * n:
            self._fail("matrix", f"the input matrix needs {4 * m * n:,} bytes, {self.size - end:,} left")
        self.input: NDArray[np.float32] = np.memmap(self.path, dtype="<f4", mode="r", offset=end, shape=(m, n))
        self.matrix_offset = end

    # -- parsing ---------------------------------------------------------------------------
    def _fail(self, section: str, why: str) -> None:
        raise FormatError(f"{self.path}: fastText model truncated or damaged in the {section}: {why}")

    def _parse(self, buf: bytes) -> int:
        pos, n_entries = self._header(buf)
        return self._dictionary(buf, pos, n_entries)

    def _header(self, buf: bytes) -> tuple[int, int]:
        """Parse the format version, the arguments and the dictionary's counts: ``(offset, entries)``."""
        size = self.size
        if size >= 8 and struct.unpack_from("<i", buf, 0)[0] == MAGIC:
            if size < 8 + _ARGS.size:
                self._fail("header", f"{size:,} bytes, the header needs {8 + _ARGS.size}")
            self.version: int | None = struct.unpack_from("<i", buf, 4)[0]
            if not 0 < self.version <= VERSION:
                raise FormatError(
                    f"{self.path}: fastText model of format version {self.version}; embviz reads "
                    f"versions up to {VERSION}"
                )
            pos = 8
        else:
            from embviz.io.sniffing import _old_fasttext

            if not _old_fasttext(bytes(buf[:64])):
                raise FormatError(f"{self.path}: not a fastText model (no magic number {MAGIC})")
            self.version = None
            pos = 0
        a = _ARGS.unpack_from(buf, pos)
        pos += _ARGS.size
        dim, ws, epoch, min_count, neg, ngrams, loss, model, bucket, minn, maxn, lr_update, t = a
        if self.version == 11 and model == 3:
            maxn = 0  # fastText: old supervised models use no character n-grams
        if dim < 1 or bucket < 0 or minn < 0 or maxn < 0:
            self._fail("header", f"dim {dim}, bucket {bucket}, minn {minn}, maxn {maxn}")
        self.args = Args(dim, ws, epoch, min_count, neg, ngrams, _LOSS.get(loss, str(loss)),
                         _MODEL.get(model, str(model)), bucket, minn, maxn, lr_update, t)
        new = self.version is not None
        need = _DICT.size + (8 if new else 0)
        if size < pos + need:
            self._fail("dictionary", "the file ends before the dictionary's counts")
        n_entries, self.nwords, self.nlabels, self.ntokens = _DICT.unpack_from(buf, pos)
        pos += _DICT.size
        self.pruneidx_size = -1
        if new:
            (self.pruneidx_size,) = struct.unpack_from("<q", buf, pos)
            pos += 8
        if n_entries < 0 or not 0 <= self.nwords <= n_entries or self.nwords + self.nlabels != n_entries:
            self._fail("dictionary", f"{n_entries:,} entries for {self.nwords:,} words and "
                                     f"{self.nlabels:,} labels")
        return pos, n_entries

    def _dictionary(self, buf: bytes, pos: int, n_entries: int) -> int:
        """Parse the dictionary's entries and check the matrix's shape: the matrix's offset."""
        from embviz.io.fasttext_kernel import kernels

        size, new, dim = self.size, self.version is not None, self.args.dim

        data = np.frombuffer(buf, dtype=np.uint8) if size else np.empty(0, np.uint8)
        starts = np.empty(n_entries, dtype=np.int64)
        ends = np.empty(n_entries, dtype=np.int64)
        counts = np.empty(n_entries, dtype=np.int64)
        types = np.empty(n_entries, dtype=np.int8)
        end = kernels().scan_dictionary(data, pos, n_entries, starts, ends, counts, types)
        # the dictionary's bytes, copied out of the mapping (the words stay bytes until asked)
        self._dict = data[pos:end].copy() if end >= 0 else data[:0].copy()
        del data  # no view of the mapping may outlive it
        if end < 0:
            self._fail("dictionary", f"entry {-end:,} of {n_entries:,} is cut off")
        starts -= pos
        ends -= pos
        self._starts, self._ends = starts, ends
        pos = int(end)
        if self.pruneidx_size > 0:
            raise FormatError(f"{self.path}: is a pruned (quantized) fastText model; embviz reads "
                              "only full-precision .bin models, not .ftz")
        if new:
            if size < pos + 1:
                self._fail("matrix", "the file ends before the matrix")
            if buf[pos] != 0:
                raise FormatError(f"{self.path}: is a quantized fastText model (.ftz); embviz reads "
                                  "only full-precision .bin models")
            pos += 1
        if size < pos + 16:
            self._fail("matrix", "the file ends before the matrix's shape")
        m, n = struct.unpack_from("<2q", buf, pos)
        if (m, n) != (self.nwords + self.args.bucket, dim):
            self._fail("matrix", f"shape ({m:,}, {n:,}), expected ({self.nwords + self.args.bucket:,}, {dim})")
        self.counts_all, self.types = counts, types
        return pos + 16

    # -- the dictionary --------------------------------------------------------------------
    def _word_entries(self) -> NDArray[np.int64]:
        return np.flatnonzero(self.types == 0)

    @cached_property
    def words(self) -> list[str]:
        """The words (entry type 0) in dictionary order, decoded as UTF-8 (invalid bytes escaped).

        A list that :func:`embviz.io.read_into` knows to be free of duplicates when the words'
        64-bit hashes are all distinct (as fastText's dictionary makes them).
        """
        from embviz.io.fasttext_kernel import kernels
        from embviz.io.unique import DistinctKeys, all_distinct

        k = kernels()
        keep = self._word_entries()
        if len(keep) == 0:
            return []
        joined = k.join_words(self._dict, self._starts, self._ends, keep)
        words = joined.tobytes().decode("utf-8", "surrogateescape").split("\0")[:-1]
        del joined
        return DistinctKeys(words) if all_distinct([self._hashes[keep]]) else words

    @cached_property
    def counts(self) -> NDArray[np.int64]:
        """Each word's training count ``(nwords,)`` int64."""
        return self.counts_all[self.types == 0]

    def _raw(self, i: int) -> bytes:
        """Return the bytes of dictionary entry `i` (a word or a label)."""
        return self._dict[self._starts[i] : self._ends[i]].tobytes()

    @cached_property
    def _hashes(self) -> NDArray[np.uint64]:
        """64-bit FNV-1a of every entry's bytes ``(size,)`` uint64."""
        from embviz.io.fasttext_kernel import kernels

        entries = np.arange(len(self.types), dtype=np.int64)
        return kernels().hash64(self._dict, self._starts, self._ends, entries)

    @cached_property
    def _by_hash(self) -> tuple[NDArray[np.uint64], NDArray[np.int64]]:
        order = np.argsort(self._hashes, kind="stable")
        return self._hashes[order], order

    def _entry_id(self, raw: bytes) -> int | None:
        """Return the dictionary entry of `raw` (fastText's ``getId``: words and labels), or None."""
        h = _FNV64_OFFSET
        for b in raw:
            h = ((h ^ b) * _FNV64_PRIME) & 0xFFFFFFFFFFFFFFFF
        sorted_hashes, order = self._by_hash
        i = int(np.searchsorted(sorted_hashes, np.uint64(h)))
        while i < len(order) and int(sorted_hashes[i]) == h:
            if self._raw(int(order[i])) == raw:
                return int(order[i])
            i += 1
        return None

    def has_word(self, word: str | bytes) -> bool:
        """Whether `word` is in the model's dictionary (a table read with a limit holds fewer)."""
        raw = word.encode("utf-8", "surrogateescape") if isinstance(word, str) else bytes(word)
        i = self._entry_id(raw)
        return i is not None and self.types[i] == 0

    # -- vectors -----------------------------------------------------------------------------
    def ngram_rows(self, word: str | bytes) -> NDArray[np.int64]:
        """Rows of the input matrix averaged for `word`: its own row (if in the dictionary) first.

        The rows fastText's ``getSubwords`` gives: the character n-grams of ``<word>`` for n in
        ``minn..maxn`` counted in UTF-8 characters (continuation bytes ``10xxxxxx`` join the
        character before them), without the 1-grams ``<`` and ``>``; each hashed with 32-bit
        FNV-1a over its bytes taken as *signed* chars (``h ^= uint32(int8(byte))``), row
        ``nwords + hash % bucket``. ``</s>`` has no n-grams.
        """
        raw = word.encode("utf-8", "surrogateescape") if isinstance(word, str) else bytes(word)
        own = self._entry_id(raw)
        rows = [] if own is None else [own]
        if self.args.maxn > 0 and self.args.bucket > 0 and raw != _EOS and self.pruneidx_size != 0:
            rows.extend(self._ngram_hashes([raw])[0].tolist())
        return np.asarray(rows, dtype=np.int64)

    def _ngram_hashes(self, raws: list[bytes]) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
        """n-gram rows of several words at once: ``(rows, owner)``, owner the word's position."""
        minn, maxn, bucket = self.args.minn, self.args.maxn, self.args.bucket
        padded = [b"<" + w + b">" for w in raws]
        lens = np.fromiter((len(w) for w in padded), dtype=np.int64, count=len(padded))
        buf = np.frombuffer(b"".join(padded), dtype=np.uint8)
        starts = np.concatenate([[0], np.cumsum(lens)])
        is_char = (buf & 0xC0) != 0x80
        q = np.concatenate([np.flatnonzero(is_char), [len(buf)]])  # char starts, then the end
        first_char = np.searchsorted(q, starts[:-1])  # index in q of each word's "<"
        nchars = np.searchsorted(q, starts[1:]) - first_char
        word_of_char = np.repeat(np.arange(len(padded)), nchars)
        k = np.arange(len(word_of_char)) - first_char[word_of_char]  # char index within its word
        room = nchars[word_of_char] - k  # chars from k to the word's end
        sel_s, sel_e, owner = [], [], []
        for n in range(max(minn, 1), maxn + 1):
            ok = room >= n
            if n == 1:
                ok &= (k != 0) & (room != 1)  # not "<" nor ">"
            g = np.flatnonzero(ok)
            sel_s.append(q[g])
            sel_e.append(q[g + n])
            owner.append(word_of_char[g])
        if not sel_s:
            empty = np.empty(0, dtype=np.int64)
            return empty, empty
        s, e, own = np.concatenate(sel_s), np.concatenate(sel_e), np.concatenate(owner)
        order = np.argsort(own, kind="stable")
        s, e, own = s[order], e[order], own[order]
        length = e - s
        signed = buf.view(np.int8).astype(np.int32).view(np.uint32)  # the signed-char quirk
        h = np.full(len(s), _FNV_OFFSET, dtype=np.uint32)
        for t in range(int(length.max()) if len(length) else 0):
            act = np.flatnonzero(length > t)
            h[act] = (h[act] ^ signed[s[act] + t]) * _FNV_PRIME
        return self.nwords + (h % np.uint32(bucket)).astype(np.int64), own

    def word_vector(self, word: str | bytes) -> NDArray[np.float32]:
        """Return fastText's ``get_word_vector(word)``: ``(dim,)`` float32, for any word (OOV too).

        The mean of the rows :meth:`ngram_rows` lists. A word with none of them (not in the
        dictionary, and the model has no n-grams: ``maxn == 0``, a supervised model) gets the
        zero vector, as in fastText.
        """
        v = self.subword_vector(word)
        return np.zeros(self.args.dim, dtype=np.float32) if v is None else v

    def subword_vector(self, word: str | bytes) -> NDArray[np.float32] | None:
        """Return :meth:`word_vector` ``(dim,)`` float32, or None when the model gives `word` no row.

        None means fastText's zero vector: `word` is not in the dictionary and has no character
        n-gram of length ``minn..maxn`` (a model without subwords, ``maxn == 0``; a word shorter
        than ``minn - 2`` characters). The queries use this to tell a word the model can build
        from one it cannot.
        """
        rows = self.ngram_rows(word)
        if len(rows) == 0:
            return None
        acc = np.asarray(self.input[np.sort(rows)], dtype=np.float64).sum(axis=0)
        return (acc / len(rows)).astype(np.float32)

    def word_vectors(self, limit: int | None = None) -> NDArray[np.float32]:
        """Compute the vectors of the first `limit` dictionary words: ``(n, dim)`` float32.

        Each row is :meth:`word_vector` of the word (what fastText writes to the ``.vec``):
        fastText's float32 sum of the word's own row and its n-gram rows, times ``1 / count``.
        The words' own rows are read straight into the result; the n-gram rows are streamed
        through one buffer of ``_CHUNK_BYTES`` with plain reads, each chunk added to every word
        that uses one of its rows by a compiled loop on all cores
        (:func:`embviz.io.fasttext_kernel.accumulate_chunk`). Memory: the result, one chunk
        and the dictionary; the input matrix is never mapped whole. With one chunk (a model
        whose n-gram rows fit in it) the sums are added in fastText's own order and equal its
        own bit for bit; with several, each word's rows are added chunk by chunk, which changes
        only the float32 rounding (well within 1e-6 of fastText's).
        """
        from embviz.io.fasttext_kernel import kernels

        k = kernels()
        word_ids = self._word_entries()[:limit]
        n, dim = len(word_ids), self.args.dim
        out = _empty((n, dim), np.float32)
        counts = np.zeros(n, dtype=np.int64)
        ngrams = self.args.maxn > 0 and self.args.bucket > 0 and self.pruneidx_size != 0 and n > 0
        if ngrams:
            has = np.ones(n, dtype=bool)  # "</s>" has no n-grams
            four = np.flatnonzero(self._ends[word_ids] - self._starts[word_ids] == len(_EOS))
            at = self._starts[word_ids[four]]
            has[four[np.logical_and.reduce([self._dict[at + j] == c for j, c in enumerate(_EOS)])]] = False
            k.count_subwords(self._dict, self._starts, self._ends, word_ids, has, self.args.minn, self.args.maxn,
                             counts)
        offsets = np.zeros(n + 1, dtype=np.int64)
        np.cumsum(counts, out=offsets[1:])
        with open(self.path, "rb", buffering=0) as f:
            fd = f.fileno()
            runs = np.flatnonzero(np.diff(word_ids) != 1) + 1  # labels before words: rare
            for lo, hi in zip(np.r_[0, runs], np.r_[runs, n]) if n else ():
                _read_rows(fd, out[lo:hi], self.matrix_offset + 4 * dim * int(word_ids[lo]), self.path)
            if ngrams and offsets[-1]:
                self._add_ngram_rows(fd, out, word_ids, has, offsets)
        counts += 1  # the word's own row
        k.scale_rows(out, counts)
        return out

    def _add_ngram_rows(self, fd: int, out: NDArray[np.float32], word_ids: NDArray[np.int64],
                        has: NDArray[np.bool_], offsets: NDArray[np.int64]) -> None:
        """Add to each row of `out` the n-gram rows of its word (see :meth:`word_vectors`).

        The words go in groups whose n-gram row numbers (int32) take at most ``_ROWS_BYTES``;
        each group streams the n-gram rows of the input matrix through one buffer of
        ``_CHUNK_BYTES`` (every other group backwards, so the chunk in the buffer is reused).
        Words with few n-grams altogether (a ``limit``) read their rows from the memory map.
        """
        from embviz.io.fasttext_kernel import kernels

        k = kernels()
        n, dim = out.shape
        bucket, first = self.args.bucket, self.nwords
        if offsets[-1] * _GATHER_BELOW < bucket:  # few words (a limit): read only their rows, in place
            rows = np.empty(offsets[-1], dtype=np.int32)
            k.subword_rows(self._dict, self._starts, self._ends, word_ids, has, first, bucket, self.args.minn,
                           self.args.maxn, offsets, rows)
            k.accumulate_chunk(out, np.asarray(self.input), 0, rows, offsets)
            return
        cuts = np.searchsorted(offsets, np.arange(0, offsets[-1], max(1, _ROWS_BYTES // 4)), "right") - 1
        cuts = np.unique(np.r_[cuts, n])
        step = max(1, _CHUNK_BYTES // (4 * dim))
        starts = list(range(first, first + bucket, step))
        # np.empty: numpy asks for huge pages, which the random reads from the chunk need (TLB)
        chunk = np.empty((min(step, bucket), dim), dtype=np.float32)
        held = -1  # the chunk in the buffer
        for g, (w0, w1) in enumerate(zip(cuts[:-1], cuts[1:])):
            group = offsets[w0 : w1 + 1]
            rows = np.empty(group[-1] - group[0], dtype=np.int32)
            k.subword_rows(self._dict, self._starts, self._ends, word_ids[w0:w1], has[w0:w1], first,
                           bucket, self.args.minn, self.args.maxn, group, rows)
            order = starts if g % 2 == 0 else starts[::-1]
            for i, lo in enumerate(order):
                m = min(step, first + bucket - lo)
                if lo != held:
                    if i + 1 < len(order):  # the next chunk comes from disk while this one is added
                        nxt = order[i + 1]
                        os.posix_fadvise(fd, self.matrix_offset + 4 * dim * nxt,
                                         4 * dim * min(step, first + bucket - nxt), os.POSIX_FADV_WILLNEED)
                    _read_rows(fd, chunk[:m], self.matrix_offset + 4 * dim * lo, self.path)
                    held = lo
                k.accumulate_chunk(out[w0:w1], chunk[:m], lo, rows, group)
            del rows


def _empty(shape: tuple[int, int], dtype: type) -> NDArray:
    """Return an uninitialised C-contiguous array in its own anonymous mapping, freed with it.

    Not ``np.empty``: numpy asks the kernel for transparent huge pages on large arrays, and
    on a machine whose memory is fragmented by the page cache (reading a 7 GB model makes it
    so) the kernel then compacts memory on every first touch, 3-6 s for 2.4 GB instead of
    about 1 s. Huge pages only pay for random access; the result is written row after row.
    """
    size = int(np.prod(shape)) * np.dtype(dtype).itemsize
    if size == 0:
        return np.empty(shape, dtype=dtype)
    private = mmap.mmap(-1, size, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
    return np.frombuffer(private, dtype=dtype).reshape(shape)


def _read_rows(fd: int, into: NDArray[np.float32], offset: int, path: Path) -> None:
    """Fill `into` (C-contiguous) with the bytes of the file `fd` from `offset` (plain reads)."""
    view = memoryview(into).cast("B")
    done = 0
    while done < len(view):
        got = os.preadv(fd, [view[done : done + (1 << 30)]], offset + done)
        if got <= 0:
            raise FormatError(f"{path}: fastText model truncated in the matrix (read {done:,} of {len(view):,} bytes)")
        done += got


def read_fasttext_bin(path: Path, limit: int | None, dtype: str) -> tuple[list[str], NDArray, None]:
    """Read a fastText ``.bin`` as a table: ``(words, matrix (n, dim) of dtype, None)``.

    The rows are the words' fastText vectors (:meth:`FastTextModel.word_vectors`).
    """
    if path.is_dir():
        raise FormatError(f"{path}: is a directory, expected a fastText model")
    model = FastTextModel(path)
    matrix = model.word_vectors(limit)
    if dtype != "float32":
        matrix = matrix.astype(dtype)
    return model.words[: len(matrix)], matrix, None  # the keys are in the file, as in a .vec


class LazyModel:
    """The :class:`FastTextModel` of a file, its dictionary parsed on first use (``vectors.subwords``).

    The header (``version``, ``args``, ``nwords``, ``nlabels``, ``ntokens``: what ``embviz
    info`` shows) is read at once, a few hundred bytes; the dictionary and the matrix's mapping
    when a word needs them (an out-of-vocabulary word's vector). So a warm query of words in
    the vocabulary never parses the 2,000,000 entries of a ``cc.en.300.bin`` nor imports numba.
    Every other attribute is the model's.

    Raises
    ------
    FormatError
        When the header is truncated or not a model's (at construction).
    """

    _HEADER = frozenset({"path", "size", "version", "args", "nwords", "nlabels", "ntokens", "pruneidx_size"})

    def __init__(self, path: str | os.PathLike) -> None:
        head = FastTextModel.__new__(FastTextModel)
        head.path = Path(path)
        try:
            with open(head.path, "rb") as f:
                head.size = os.fstat(f.fileno()).st_size
                buf = f.read(4096)
        except OSError as exc:
            raise FormatError(f"{head.path}: cannot read: {exc.strerror or exc}") from None
        head._header(buf)
        self._head, self._model = head, None

    def __getattr__(self, name: str) -> object:
        head = self.__dict__["_head"]
        if name in LazyModel._HEADER:
            return getattr(head, name)
        model = self.__dict__["_model"]
        if model is None:
            model = self.__dict__["_model"] = FastTextModel(head.path)
        return getattr(model, name)


def attach(vectors: object, path: str | os.PathLike) -> None:
    """Set ``vectors.subwords`` to the (lazily parsed) model of `path` when it is one, else None."""
    try:
        vectors.subwords = LazyModel(path) if is_model(path) else None  # type: ignore[attr-defined]
    except FormatError:
        vectors.subwords = None  # type: ignore[attr-defined]


def word_vector(vectors: object, word: str) -> NDArray[np.float32]:
    """Return the vector of `word` in `vectors`, from subwords when it is out of vocabulary.

    A key of the table gives its row; any other word, for a table loaded from a fastText
    ``.bin`` (``vectors.subwords``), gives :meth:`FastTextModel.word_vector` ``(dim,)`` float32.

    Raises
    ------
    KeyNotFound
        If `word` is not a key and the table has no subword model.
    """
    if word in vectors:  # type: ignore[operator]
        return np.asarray(vectors[word], dtype=np.float32)  # type: ignore[index]
    model = getattr(vectors, "subwords", None)
    if model is None:
        raise KeyNotFound(f"{word!r} is not in the vocabulary and the table has no subword model "
                          "(load a fastText .bin for vectors of any word)")
    return model.word_vector(word)
