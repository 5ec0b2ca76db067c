"""Keys for tables that have none (``.npy``, ``.npz``, safetensors, a Projector ``vectors.tsv``).

Where the keys come from, in this order:

1. ``--vocab FILE`` (``SourceOptions.keys``): one key per line; a TSV whose first line is a
   header (the key column is ``--key-column`` or the first); a Parquet file (the key column is
   ``--key-column`` or the first string or integer column); or a Hugging Face
   ``tokenizer.json`` (the token of each id).
2. A sidecar beside the table: ``NAME.keys.txt``, ``NAME.vocab`` (a word2vec/fastText vocabulary,
   ``word count`` per line, is read as its words), ``tokenizer.json``; for a Projector
   ``vectors.tsv`` also ``metadata.tsv``.
3. Otherwise the row ids ``0 ... n-1`` themselves, the keys of an ``nn.Embedding`` table.

Every keys file must hold exactly one key per row of the table.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Sequence

import numpy as np

from embviz.errors import FormatError
from embviz.io import unique
from embviz.io.options import SourceOptions
from embviz.vectors import KeyBlob, RowIds

_VOCAB_LINE = re.compile(r"^(.+?)[ \t]+\d+$")


def sidecars(path: Path, extra: tuple[str, ...] = ()) -> list[Path]:
    """Return the sidecar keys files embviz looks for beside `path`, in order of preference."""
    stem = path.name[: -len(path.suffix)] if path.suffix and path.is_file() else path.name
    folder = path.parent if path.is_file() else path
    names = [*extra, f"{stem}.keys.txt", f"{stem}.vocab", "tokenizer.json"]
    return [folder / n for n in names]


def keys_file(path: Path, options: SourceOptions, extra: tuple[str, ...] = ()) -> Path | None:
    """Return the file the keys of `path` come from: ``--vocab``, a sidecar, or None (row ids).

    Raises
    ------
    FormatError
        If ``--vocab`` names a file that does not exist.
    """
    if options.keys is not None:
        p = Path(options.keys)
        if not p.is_file():
            raise FormatError(f"{p}: no such keys file (--vocab)")
        return p
    return next((p for p in sidecars(path, extra) if p.is_file()), None)


def resolve(
    path: Path, n: int, options: SourceOptions, extra: tuple[str, ...] = ()
) -> tuple[Sequence[str], str]:
    """Return the `n` keys of the table `path` and where they came from (for a stderr line).

    Raises
    ------
    FormatError
        If the keys file cannot be read, has a null or empty key, or holds more or fewer keys
        than the table has rows.
    """
    src = keys_file(path, options, extra)
    if src is None:
        return row_ids(n), f"row ids 0..{n - 1:,} (no keys file: pass --vocab FILE or put " \
            f"{sidecars(path)[0].name} beside it)"
    keys = read_keys(src, options.key_column)
    if len(keys) != n:
        raise FormatError(
            f"{src}: {len(keys):,} keys but {path.name} has {n:,} rows; expected one key per row"
        )
    how = "--vocab" if options.keys is not None else "sidecar"
    return keys, f"{src.name} ({how})"


def row_ids(n: int) -> RowIds:
    """Return the keys ``"0" ... "n-1"``: a table without keys is looked up by its row ids.

    A lazy :class:`~embviz.vectors.RowIds` sequence: no string is made before it is asked
    for, and the keys need no duplicate check (``unique`` is true).
    """
    return RowIds(n)


def read_keys(src: Path, key_column: str | None = None) -> list[str]:
    """Read a keys file: lines, a TSV with a header, Parquet or ``tokenizer.json``.

    Returns
    -------
    list of str
        The keys in row order.

    Raises
    ------
    FormatError
        If the file cannot be read or parsed, a key is empty or null, or `key_column` is not
        one of its columns.
    """
    head = _head(src)
    if head[:4] == b"PAR1":
        return _parquet_keys(src, key_column)
    if src.suffix == ".json":
        return _tokenizer_keys(src)
    try:
        raw = src.read_bytes()
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = src.read_bytes()[: exc.start].count(b"\n") + 1
        raise FormatError(f"{src}: line {line}: keys are not valid UTF-8") from None
    except OSError as exc:
        raise FormatError(f"{src}: cannot read: {exc.strerror or exc}") from None
    first_line = text[: text.find("\n")] if "\n" in text else text
    if "\t" not in first_line and "\r" not in text and src.suffix != ".vocab":
        fast = _blob_keys(src, raw)  # one key per line: kept as bytes, decoded when asked
        if fast is not None:
            return fast  # type: ignore[return-value]
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    if "\r" in text:
        lines = [s[:-1] if s.endswith("\r") else s for s in lines]
    if lines and "\t" in lines[0]:  # several columns: the first line is a header
        header = lines[0].split("\t")
        col = _column(src, header, key_column)
        out = []
        for i, line in enumerate(lines[1:], start=2):
            fields = line.split("\t")
            if len(fields) != len(header):
                raise FormatError(
                    f"{src}: line {i}: {len(fields)} fields, expected {len(header)} as in the header"
                )
            out.append(fields[col])
        lines, first = out, 2
    else:
        first = 1
        if src.suffix == ".vocab" and lines and all(_VOCAB_LINE.match(s) for s in lines[:1000]):
            lines = [m.group(1) if (m := _VOCAB_LINE.match(s)) else s for s in lines]
    if "" in lines:
        raise FormatError(f"{src}: line {lines.index('') + first}: empty key")
    if first == 1 and len(lines) > 1 and "\r" not in text and src.suffix != ".vocab":
        return _distinct(raw, lines)
    return lines


def _blob_keys(src: Path, raw: bytes) -> KeyBlob | None:
    """Return a one-key-per-line file (valid UTF-8) as a :class:`~embviz.vectors.KeyBlob`, or None.

    No key string is made: the line ends are found with numpy, an empty line is the same error
    as below, and the keys' hashes prove them distinct (:mod:`embviz.io.unique`). None when
    two hashes are equal (a duplicate key, or a collision): the caller then reads the lines
    and drops duplicates exactly, as for any table.
    """
    if not raw.endswith(b"\n"):
        raw += b"\n"
    data = np.frombuffer(raw, dtype=np.uint8)
    ends = np.flatnonzero(data == 10)
    starts = np.concatenate(([0], ends[:-1] + 1))
    empty = np.flatnonzero(ends == starts)
    if len(empty):
        raise FormatError(f"{src}: line {int(empty[0]) + 1}: empty key")
    if len(ends) > 1 and not unique.all_distinct([unique.key_hashes(data, np.concatenate(([0], ends + 1)))]):
        return None
    return KeyBlob(raw, ends)


def _distinct(raw: bytes, lines: list[str]) -> list[str]:
    """Return `lines`, marked distinct when the hashes of the file's lines prove it (no set of strings)."""
    if not raw.endswith(b"\n"):
        raw += b"\n"  # every key hashed with its newline
    data = np.frombuffer(raw, dtype=np.uint8)
    ends = np.flatnonzero(data == 10) + 1
    if len(ends) != len(lines):  # pragma: no cover - split("\n") gives the same lines
        return lines
    offsets = np.concatenate(([0], ends))
    return unique.DistinctKeys(lines) if unique.all_distinct([unique.key_hashes(data, offsets)]) else lines


def _head(src: Path) -> bytes:
    try:
        with open(src, "rb") as f:
            return f.read(64)
    except OSError as exc:
        raise FormatError(f"{src}: cannot read: {exc.strerror or exc}") from None


def _column(src: Path, header: list[str], key_column: str | None) -> int:
    if key_column is None:
        return 0
    if key_column not in header:
        raise FormatError(f"{src}: no column {key_column!r} (columns: {', '.join(header)})")
    return header.index(key_column)


def _parquet_keys(src: Path, key_column: str | None) -> list[str]:
    from embviz.errors import require

    pq = require("pyarrow.parquet", package="pyarrow")
    pa = require("pyarrow", package="pyarrow")
    try:
        table = pq.read_table(src)
    except (OSError, pa.ArrowException) as exc:
        raise FormatError(f"{src}: cannot read the keys: {exc}") from None
    names = table.column_names
    if key_column is None:
        strings = [f.name for f in table.schema if pa.types.is_string(f.type) or pa.types.is_large_string(f.type)]
        usable = strings + [f.name for f in table.schema if pa.types.is_integer(f.type)]
        if not usable:
            raise FormatError(f"{src}: no string or integer column to take keys from")
        key_column = usable[0]
    if key_column not in names:
        raise FormatError(f"{src}: no column {key_column!r} (columns: {', '.join(names)})")
    col = table.column(key_column)
    if col.null_count:
        row = next(i for i, v in enumerate(col.is_null().to_pylist()) if v)
        raise FormatError(f"{src}: column {key_column!r}, row {row:,}: null key")
    return [str(k) for k in col.to_pylist()]


def _tokenizer_keys(src: Path) -> list[str]:
    """Return the token of each id in a Hugging Face ``tokenizer.json`` (vocab + added tokens)."""
    try:
        doc = json.loads(src.read_text("utf-8"))
        vocab = doc["model"]["vocab"]
    except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError) as exc:
        raise FormatError(
            f"{src}: not a tokenizer.json with model.vocab ({type(exc).__name__}: {exc})"
        ) from None
    by_id: dict[int, str] = {}
    if isinstance(vocab, dict):  # WordPiece, BPE, WordLevel: {token: id}
        for tok, i in vocab.items():
            by_id.setdefault(int(i), tok)
    elif isinstance(vocab, list):  # Unigram: [[token, score], ...] in id order
        for i, item in enumerate(vocab):
            by_id[i] = item[0] if isinstance(item, list) else str(item)
    else:
        raise FormatError(f"{src}: model.vocab is neither a mapping nor a list")
    for tok in doc.get("added_tokens") or []:
        if isinstance(tok, dict) and "id" in tok and "content" in tok:
            by_id.setdefault(int(tok["id"]), tok["content"])
    n = max(by_id) + 1 if by_id else 0
    missing = next((i for i in range(n) if i not in by_id), None)
    if missing is not None:
        raise FormatError(f"{src}: no token has id {missing:,} (ids must run from 0 to {n - 1:,})")
    return [by_id[i] for i in range(n)]
