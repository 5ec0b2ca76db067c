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

Every keys file must hold exactly one key per row of the table. A keys file far larger than
any vocabulary of the table's row count is refused before it is parsed
(:data:`KEYS_BYTES_PER_ROW`, :data:`TOKENIZER_BYTES_PER_ROW`), and a ``tokenizer.json`` is
checked field by field against the schema below (:func:`_tokenizer_keys`): a token is a
non-empty string, an id an integer (not a boolean, not a float) of at least 0, each id has
one token. Every refusal is one :class:`~embviz.errors.FormatError` line naming the file, the
field and what was expected.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, NoReturn, Sequence

import numpy as np

from embviz.errors import FormatError
from embviz.io import unique
from embviz.io.options import SourceOptions
from embviz.vectors import KeyBlob, RowIds

_VOCAB_LINE = re.compile(r"^(.+?)[ \t]+\d+$")
_BOM = b"\xef\xbb\xbf"

#: A keys file (one key per line, a TSV with a header, Parquet) may hold this many bytes per
#: row of its table, plus :data:`KEYS_SLACK`: a key (or a metadata line) of 64 KiB, as long
#: as the key of a text vector line may be. A larger file cannot be the keys of the table.
KEYS_BYTES_PER_ROW = 64 << 10
KEYS_SLACK = 1 << 20
#: A ``tokenizer.json`` may hold this many bytes per row, plus :data:`TOKENIZER_SLACK` (the
#: normalizer's ``precompiled_charsmap`` of a SentencePiece tokenizer is about 300 KB whatever
#: the vocabulary). Real files use 15 (bert-base: 466 KB for 30,522 tokens) to about 140 bytes
#: per token (BPE converted from SentencePiece, pretty-printed merges twice the vocabulary:
#: 33 MB for Gemma 3's 262,144); 1 KiB is seven times that.
TOKENIZER_BYTES_PER_ROW = 1 << 10
TOKENIZER_SLACK = 4 << 20
#: The model types of the ``tokenizers`` library, and the vocabulary each has.
MODEL_TYPES = ("BPE", "WordPiece", "WordLevel", "Unigram")


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
    keys = read_keys(src, options.key_column, rows=n, table=path.name)
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


def read_keys(
    src: Path, key_column: str | None = None, *, rows: int | None = None, table: str | None = None
) -> list[str]:
    """Read a keys file: lines, a TSV with a header, Parquet or ``tokenizer.json``.

    Parameters
    ----------
    src : Path
        The keys file.
    key_column : str, optional
        The key column of a TSV or Parquet file.
    rows : int, optional
        The row count of the table the keys are for. When given, a file larger than any keys
        file of that many rows can be (:func:`max_bytes`) or with more than ``rows + 1`` lines
        is refused before it is parsed.
    table : str, optional
        The table's name, for the messages.

    Returns
    -------
    list of str
        The keys in row order (a leading UTF-8 byte order mark is not part of the first key).

    Raises
    ------
    FormatError
        If the file cannot be read or parsed, is too large for `rows`, a key is empty or null,
        `key_column` is not one of its columns, or a ``tokenizer.json`` field is not as its
        schema says (named, e.g. ``model.vocab["foo"]`` or ``added_tokens[3].id``).
    """
    if _head(src)[:4] == b"PAR1":
        _check_size(src, rows, table, tokenizer=False)
        return _parquet_keys(src, key_column)
    if src.suffix == ".json":
        return _tokenizer_keys(src, _read(src, rows, table, tokenizer=True))
    raw = _read(src, rows, table, tokenizer=False)
    if raw.startswith(_BOM):
        raw = raw[len(_BOM):]  # a byte order mark (Windows editors) is not part of the first key
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise FormatError(f"{src}: line {line}: keys are not valid UTF-8") from None
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
    vocab = src.suffix == ".vocab" and bool(lines) and all(_VOCAB_LINE.match(s) for s in lines[:1000])
    if lines and "\t" in lines[0] and not vocab:  # several columns: the first line is a header
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
        if vocab:  # word2vec/fastText: "word count" (a tab too): the words; never a header
            lines = [m.group(1) if (m := _VOCAB_LINE.match(s)) else s for s in lines]
    if "" in lines:
        raise FormatError(f"{src}: line {lines.index('') + first}: empty key")
    if first == 1 and len(lines) > 1 and "\r" not in text and src.suffix != ".vocab":
        return _distinct(raw, lines)
    return lines


def max_bytes(rows: int, *, tokenizer: bool) -> int:
    """Return the largest keys file (bytes) that can hold the keys of a table of `rows` rows.

    ``rows * 1 KiB + 4 MiB`` for a ``tokenizer.json`` (its merges, pretty-printing and
    normalizer included), ``rows * 64 KiB + 1 MiB`` for any other keys file: far above any
    real vocabulary, and far below a file meant to exhaust memory (629 MB for 10 rows).
    """
    if tokenizer:
        return rows * TOKENIZER_BYTES_PER_ROW + TOKENIZER_SLACK
    return rows * KEYS_BYTES_PER_ROW + KEYS_SLACK


def _too_large(src: Path, rows: int, table: str | None, tokenizer: bool, found: str) -> NoReturn:
    per = TOKENIZER_BYTES_PER_ROW if tokenizer else KEYS_BYTES_PER_ROW
    limit = max_bytes(rows, tokenizer=tokenizer)
    raise FormatError(
        f"{src}: {found}, too large to be the keys of {table or 'the table'} ({rows:,} rows); "
        f"expected at most {limit:,} bytes ({per:,} per row + {limit - rows * per:,})"
    )


def _check_size(src: Path, rows: int | None, table: str | None, *, tokenizer: bool) -> None:
    """Refuse `src` if it is larger than :func:`max_bytes` of `rows`, before a byte is read."""
    if rows is None:
        return
    try:
        size = src.stat().st_size
    except OSError as exc:
        raise FormatError(f"{src}: cannot read: {exc.strerror or exc}") from None
    if size > max_bytes(rows, tokenizer=tokenizer):
        _too_large(src, rows, table, tokenizer, f"{size:,} bytes")


def _read(src: Path, rows: int | None, table: str | None, *, tokenizer: bool) -> bytes:
    """Read `src` whole; with `rows`, refuse it once it is beyond :func:`max_bytes`.

    The size is checked before a byte is read, then again as the file is read in 1 MiB blocks
    (it may grow meanwhile). A file of lines (not `tokenizer`) is also refused as soon as it
    has more than ``rows + 1`` lines (a header and one key per row).
    """
    _check_size(src, rows, table, tokenizer=tokenizer)
    blocks, size, newlines = [], 0, 0
    try:
        with open(src, "rb") as f:
            while block := f.read(1 << 20):
                blocks.append(block)
                if rows is None:
                    continue
                size += len(block)
                if size > max_bytes(rows, tokenizer=tokenizer):
                    _too_large(src, rows, table, tokenizer, f"more than {size:,} bytes")
                newlines += 0 if tokenizer else block.count(b"\n")
                if newlines > rows + 1:
                    raise FormatError(
                        f"{src}: more than {rows + 1:,} lines but {table or 'the table'} has "
                        f"{rows:,} rows; expected one key per row"
                    )
    except OSError as exc:
        raise FormatError(f"{src}: cannot read: {exc.strerror or exc}") from None
    return b"".join(blocks)


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


class _DuplicateName(ValueError):
    """A JSON object names a member twice (raised by :func:`_unique_names` inside ``json.loads``)."""


class _NotJson(ValueError):
    """``NaN``, ``Infinity`` or ``-Infinity``: accepted by Python's json module, not JSON."""


def _unique_names(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out = dict(pairs)
    if len(out) != len(pairs):
        seen: set[str] = set()
        for name, _ in pairs:
            if name in seen:
                raise _DuplicateName(name)
            seen.add(name)
    return out


def _no_constant(name: str) -> NoReturn:
    raise _NotJson(name)


_MISSING = object()
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")


def _q(text: str, most: int = 40) -> str:
    """`text` quoted for a message: cut to `most` characters, unprintable ones escaped (one line)."""
    cut = text[:most]
    body = "".join(c if c.isprintable() else f"\\u{ord(c):04x}" if ord(c) < 0x10000 else f"\\U{ord(c):08x}"
                   for c in cut.replace("\\", "\\\\").replace('"', '\\"'))
    return f'"{body}"' + ("..." if len(text) > most else "")


def _describe(value: Any) -> str:
    """Describe a JSON value for a message: ``null``, ``true``, ``0.5``, ``the string "2"``, ``an object``."""
    if value is _MISSING:
        return "nothing"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        digits = len(str(abs(value))) if abs(value) < 10**40 else 41
        return f"{value:,}" if digits <= 40 else "an integer of more than 40 digits"
    if isinstance(value, float):
        return repr(value) if value == value and abs(value) != float("inf") else str(value)
    if isinstance(value, str):
        return f"the string {_q(value)}" if value else "an empty string"
    if isinstance(value, dict):
        return f"an object ({len(value):,} name{'s' * (len(value) != 1)})" if value else "an empty object"
    return f"a list ({len(value):,} item{'s' * (len(value) != 1)})" if value else "an empty list"


class _Schema:
    """Refusals of one ``tokenizer.json``: each names the file, the field, what was found and expected."""

    def __init__(self, src: Path, surrogates: bool) -> None:
        self.src = src
        self.surrogates = surrogates  # the text escapes a surrogate: check each token's Unicode

    def refuse(self, where: str, found: Any, expected: str) -> NoReturn:
        what = "missing" if found is _MISSING else f"found {_describe(found)}"
        raise FormatError(f"{self.src}: {where}: {what}; expected {expected}")

    def token(self, where: str, tok: Any) -> str:
        """Return `tok` if it is a non-empty string of valid Unicode, or refuse it."""
        if type(tok) is not str or not tok:
            self.refuse(where, tok, "a non-empty string (a token)")
        if self.surrogates:
            try:
                tok.encode("utf-8")
            except UnicodeEncodeError:
                raise FormatError(
                    f"{self.src}: {where}: found {_describe(tok)} with a lone surrogate "
                    "(an unpaired \\ud800-\\udfff escape); expected a token of valid Unicode"
                ) from None
        return tok

    def id(self, where: str, i: Any) -> int:
        """Return `i` if it is an integer >= 0 (not a boolean, not a float), or refuse it."""
        if type(i) is not int or i < 0:
            self.refuse(where, i, "an integer id >= 0")
        return i


def _tokenizer_keys(src: Path, data: bytes) -> list[str]:
    """Return the token of each id in a Hugging Face ``tokenizer.json`` (vocab + added tokens).

    The schema, field by field (anything else in the file is not read):

    - the top level is an object with an object ``model``;
    - ``model.type``, if present, is one of :data:`MODEL_TYPES`;
    - ``model.vocab`` is an object ``{token: id}`` (BPE, WordPiece, WordLevel) or, for
      Unigram, a list of ``[token, score]`` pairs whose position is the id;
    - ``added_tokens``, if present, is a list of objects with an ``id`` and a ``content``;
    - a token is a non-empty string of valid Unicode; an id is an integer >= 0 (JSON ``1.0``
      and ``true`` are not); a score is a number;
    - each id has one token: two vocab entries with one id, or an added token whose id has
      another token, are refused (an added token repeating its vocab entry is the norm);
    - the ids run from 0 without a gap; the JSON is strict (no ``NaN``, no name twice in an
      object). A leading byte order mark is skipped.

    Raises
    ------
    FormatError
        One line naming the file, the field (``model.vocab["foo"]``, ``model.vocab[7][0]``,
        ``added_tokens[3].id``), what was found and what was expected.
    """
    if data.startswith(_BOM):
        data = data[len(_BOM):]
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise FormatError(f"{src}: byte {exc.start:,}: not valid UTF-8; expected a UTF-8 JSON file") from None
    try:
        doc = json.loads(text, object_pairs_hook=_unique_names, parse_constant=_no_constant)
    except _DuplicateName as exc:
        raise FormatError(
            f"{src}: a JSON object has the name {_q(str(exc.args[0]))} twice; expected each name once"
        ) from None
    except _NotJson as exc:
        raise FormatError(f"{src}: {exc.args[0]} is not a JSON value; expected strict JSON") from None
    except json.JSONDecodeError as exc:
        raise FormatError(
            f"{src}: line {exc.lineno}, column {exc.colno}: not valid JSON ({exc.msg})"
        ) from None
    except RecursionError:
        raise FormatError(
            f"{src}: JSON nested too deeply for its parser; expected a tokenizer.json (a few levels deep)"
        ) from None
    except ValueError as exc:  # an integer of more than 4,300 digits
        raise FormatError(f"{src}: not valid JSON ({exc})") from None
    schema = _Schema(src, _SURROGATE_ESCAPE.search(text) is not None)
    if type(doc) is not dict:
        schema.refuse("the top level", doc, 'an object with a "model" (a tokenizer.json)')
    model = doc.get("model", _MISSING)
    if type(model) is not dict:
        schema.refuse("model", model, 'an object with a "vocab"')
    kind = model.get("type", _MISSING)
    if kind is not _MISSING and kind not in MODEL_TYPES:
        schema.refuse("model.type", kind, "one of " + ", ".join(MODEL_TYPES))
    vocab = model.get("vocab", _MISSING)
    pairs = "a list of [token, score] pairs"
    mapping = "an object {token: id}"
    if kind == "Unigram" and type(vocab) is not list:
        schema.refuse("model.vocab", vocab, f"{pairs} (model.type is Unigram)")
    if kind not in (_MISSING, "Unigram") and type(vocab) is not dict:
        schema.refuse("model.vocab", vocab, f"{mapping} (model.type is {kind})")
    by_id: dict[int, str] = {}
    if type(vocab) is dict:  # WordPiece, BPE, WordLevel: {token: id}
        for tok, i in vocab.items():
            where = f"model.vocab[{_q(tok)}]"
            schema.id(where, i)
            schema.token(where, tok)
            first = by_id.setdefault(i, tok)
            if first is not tok:
                raise FormatError(
                    f"{src}: {where}: id {i:,} is also the id of {_q(first)}; expected each id once"
                )
    elif type(vocab) is list:  # Unigram: [[token, score], ...] in id order
        for i, item in enumerate(vocab):
            if type(item) is not list or len(item) != 2:
                schema.refuse(f"model.vocab[{i:,}]", item, "a pair [token, score]")
            score = item[1]
            if type(score) not in (int, float):
                schema.refuse(f"model.vocab[{i:,}][1]", score, "a number (the token's score)")
            by_id[i] = schema.token(f"model.vocab[{i:,}][0]", item[0])
    else:
        schema.refuse("model.vocab", vocab, f"{mapping} or {pairs}")
    added = doc.get("added_tokens", [])
    if type(added) is not list:
        schema.refuse("added_tokens", added, 'a list of objects with an "id" and a "content"')
    added_at: dict[int, int] = {}
    for j, entry in enumerate(added):
        if type(entry) is not dict:
            schema.refuse(f"added_tokens[{j:,}]", entry, 'an object with an "id" and a "content"')
        i = schema.id(f"added_tokens[{j:,}].id", entry.get("id", _MISSING))
        tok = schema.token(f"added_tokens[{j:,}].content", entry.get("content", _MISSING))
        first = by_id.setdefault(i, tok)
        if first != tok:
            there = f"added_tokens[{added_at[i]:,}]" if i in added_at else "model.vocab"
            raise FormatError(
                f"{src}: added_tokens[{j:,}]: id {i:,} is {_q(tok)} here but {_q(first)} in {there}; "
                "expected one token per id"
            )
        added_at.setdefault(i, j)
    n = len(by_id)
    if n and max(by_id) != n - 1:
        missing = next(i for i in range(n) if i not in by_id)
        raise FormatError(
            f"{src}: no token has id {missing:,}; expected ids from 0 to {n - 1:,} without a gap "
            f"(the largest is {_describe(max(by_id))})"
        )
    return [by_id[i] for i in range(n)]
