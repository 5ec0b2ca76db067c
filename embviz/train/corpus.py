"""Corpus preparation: one UTF-8 sentence per line, fingerprinted, spooled to one plain file when needed.

A text file with one sentence per line, tokens separated by whitespace, UTF-8; gzip, bz2 or xz
compression is detected from magic bytes. A directory stands for the concatenation of its
regular files (not starting with ``.``, not recursive) in name order. A compressed file, a
directory, or ``lowercase=True`` is first written to one plain temporary file (gensim's
``corpus_file`` mode reads plain files only), removed afterwards.
"""

from __future__ import annotations

import codecs
import hashlib
import os
import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from embviz.errors import FormatError

#: Bytes read per step when fingerprinting or copying the corpus.
CHUNK_BYTES = 1 << 22
#: Characters Python's ``str.split()`` (gensim's vocabulary scan) treats as whitespace but the
#: C++ reader of ``corpus_file`` mode (``istream >> word``) does not: replaced by spaces.
_OTHER_SPACES = re.compile("[\x1c-\x1f\x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]")


# -- corpus preparation ------------------------------------------------------------------------
@dataclass
class _Corpus:
    path: Path  # the plain file gensim reads
    fingerprint: str
    size: int
    tmpdir: Path | None


def _corpus_files(corpus: Path, name: str) -> list[Path]:
    if corpus.is_dir():
        try:
            files = sorted(
                p for p in corpus.iterdir() if not p.name.startswith(".") and p.is_file()
            )
        except PermissionError:
            raise FormatError(f"{corpus}: permission denied") from None
        if not files:
            raise FormatError(
                f"{corpus}: directory has no files; expected text files with one sentence per line"
            )
        return files
    if not corpus.exists():
        raise FormatError(f"{name}: no such file")
    return [corpus]


def _open(path: Path, name: str | None = None):  # noqa: ANN202
    from embviz import io as embviz_io

    if not os.access(path, os.R_OK):
        raise FormatError(f"{name or path}: permission denied")
    try:
        return embviz_io.open_bytes(path)
    except FormatError as exc:
        raise FormatError(str(exc).replace(str(path), name or str(path), 1)) from None


def _line_of(path: Path, offset: int) -> int:
    """Return the 1-based line holding byte `offset` of the (decompressed) file."""
    line, done = 1, 0
    with _open(path) as f:
        while done < offset:
            chunk = f.read(min(CHUNK_BYTES, offset - done))
            if not chunk:
                break
            line += chunk.count(b"\n")
            done += len(chunk)
    return line


def _prepare(
    corpus: Path, name: str, lowercase: bool, tmp_dir: str | os.PathLike | None, copy: bool = False
) -> _Corpus:
    """Fingerprint and check the corpus; copy it to one plain temporary file if gensim needs it.

    The copy is decompressed, concatenated, lowercased if asked, and has the Unicode spaces
    that only Python splits on (:data:`_OTHER_SPACES`) replaced by ASCII spaces, so that
    gensim's vocabulary scan and its C++ training reader see the same tokens.
    """
    from embviz import io as embviz_io

    if corpus.exists() and not corpus.is_file() and not corpus.is_dir():
        return _spool(corpus, name, lowercase, tmp_dir)  # a pipe: <(zcat corpus.gz), /dev/stdin
    files = _corpus_files(corpus, name)
    compressed = any(embviz_io.compression(p) for p in files)
    copy = copy or lowercase or corpus.is_dir() or compressed
    spaces = False
    digest = hashlib.blake2b(digest_size=32)
    tmpdir = Path(tempfile.mkdtemp(prefix="embviz-train-", dir=tmp_dir)) if copy else None
    target = tmpdir / "corpus.txt" if tmpdir else files[0]
    size, nonblank, sep, last = 0, False, False, b"\n"
    try:
        out = open(target, "wb") if tmpdir else None
        try:
            for path in files:
                label = name if path == corpus else str(path)
                decoder = codecs.getincrementaldecoder("utf-8")()
                done = 0
                with _open(path, label) as f:
                    while True:
                        try:
                            chunk = f.read(CHUNK_BYTES)
                        except (OSError, EOFError, ValueError) as exc:
                            raise FormatError(f"{label}: cannot decompress: {exc}") from None
                        final = not chunk
                        pending = len(decoder.getstate()[0])
                        try:
                            text = decoder.decode(chunk, final)
                        except UnicodeDecodeError as exc:
                            raise _bad_utf8(path, label, done - pending, exc) from None
                        if final:
                            break
                        if sep:  # keep the previous file's last line apart from this file's first
                            digest.update(b"\n")
                            if out is not None:
                                out.write(b"\n")
                            sep = False
                        digest.update(chunk)
                        if not nonblank and chunk.strip():
                            nonblank = True
                        if out is not None:
                            if lowercase:
                                text = text.lower()
                            out.write(_OTHER_SPACES.sub(" ", text).encode("utf-8"))
                        elif not spaces and _has_other_spaces(text, chunk):
                            spaces = True  # a plain file gensim would tokenise two ways: copy it
                            break
                        done += len(chunk)
                        last = chunk[-1:]
                if spaces:
                    break
                if done:
                    sep = last != b"\n"
                size += done
        finally:
            if out is not None:
                out.close()
        if spaces:
            return _prepare(corpus, name, lowercase, tmp_dir, copy=True)
        if not nonblank:
            where = f"{name}: " + ("every file is empty" if corpus.is_dir() else "corpus is empty")
            raise FormatError(
                f"{where}; expected text with one whitespace-separated sentence per line"
            )
    except BaseException:
        if tmpdir:
            shutil.rmtree(tmpdir, ignore_errors=True)
        raise
    return _Corpus(target, f"blake2b-256:{digest.hexdigest()}", size, tmpdir)


def _spool(corpus: Path, name: str, lowercase: bool, tmp_dir: str | os.PathLike | None) -> _Corpus:
    """Copy a pipe or device (readable once, not seekable) to a temporary file, then prepare it."""
    tmpdir = Path(tempfile.mkdtemp(prefix="embviz-train-", dir=tmp_dir))
    try:
        raw = tmpdir / "spooled"
        try:
            with open(corpus, "rb") as src, open(raw, "wb") as dst:
                shutil.copyfileobj(src, dst, CHUNK_BYTES)
        except OSError as exc:
            raise FormatError(f"{name}: cannot read: {exc.strerror or exc}") from None
        prepared = _prepare(raw, name, lowercase, tmpdir)
        if prepared.tmpdir is not None:  # a further copy (decompressed, lowercased) in tmpdir
            return _Corpus(prepared.path, prepared.fingerprint, prepared.size, tmpdir)
        return _Corpus(raw, prepared.fingerprint, prepared.size, tmpdir)
    except BaseException:
        shutil.rmtree(tmpdir, ignore_errors=True)
        raise


def _has_other_spaces(text: str, chunk: bytes) -> bool:
    if text.isascii():  # O(1) in CPython; then only the 4 control separators can occur
        return b"\x1c" in chunk or b"\x1d" in chunk or b"\x1e" in chunk or b"\x1f" in chunk
    return _OTHER_SPACES.search(text) is not None


def _bad_utf8(path: Path, label: str, start: int, exc: UnicodeDecodeError) -> FormatError:
    """`start`: the file offset of ``exc.object[0]`` (the decoder's held-back bytes included)."""
    offset = max(0, start + exc.start)
    bad = exc.object[exc.start : exc.start + 1]
    what = f"byte 0x{bad.hex()}" if bad else "a truncated sequence"
    return FormatError(
        f"{label}: line {_line_of(path, offset):,}: invalid UTF-8 ({what}); expected UTF-8 text"
    )


