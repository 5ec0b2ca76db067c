"""Fuzzing the keys sidecars (Hypothesis): ``tokenizer.json`` and keys files beside a ``.npy`` table.

Families (each a test below):

- ``tokenizer-fields``: a valid ``tokenizer.json`` of each model type (WordPiece, BPE,
  WordLevel: ``{token: id}``; Unigram: ``[[token, score], ...]``; added tokens that repeat a
  vocab entry or add an id), then up to three mutated JSON fields: a value replaced by one of
  another type (null, a boolean, 1.0, -1, "2", an object, a list, deep nesting, NaN, a lone
  surrogate), a field or item deleted or duplicated, a member name repeated;
- ``tokenizer-bytes``: the same files (compact or indented) with mutated bytes (the mutations of
  ``tests/test_fuzz.py``, plus a file grown past the size bound);
- ``keys-files``: one key per line (``NAME.keys.txt``), a TSV with a header (``--vocab``), a
  word2vec ``.vocab`` (``word count``), with duplicate keys, empty lines, byte order marks,
  CRLF, invalid UTF-8, and the same byte mutations.

Properties, for every file:

1. nothing but an ``EmbvizError`` escapes :func:`embviz.io.load`; a refusal is one line that
   names the keys file;
2. a file that loads gives exactly the keys of the reference parsers below (``json.loads``
   and the schema rules, written from the format's description, not from embviz's code),
   duplicates dropped after the first as :func:`embviz.io.load` does for every table (with a
   warning); and a file the reference accepts loads (embviz refuses nothing valid);
3. the same outcome with the cache (a sample of the files): the same keys or the same line;
4. bounded: no load takes more than a few seconds, and the process's peak memory grows by
   less than 300 MB over the whole run.

Profiles (tests/conftest.py): ``ci`` runs 1,000 files per family (about 50 s on two cores),
``long`` 25,000 per family. ``EMBVIZ_FUZZ_TALLY=FILE`` writes the count of files
by family and outcome (loaded and equal / refused with one line / other) to FILE;
``EMBVIZ_FUZZ_KEEP_GOING=DIR`` records a failing file in DIR and goes on.
"""

from __future__ import annotations

import atexit
import copy
import json
import os
import re
import resource
import shutil
import tempfile
import time
import warnings
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_fuzz import mutate, mutations

from embviz import io as eio
from embviz.errors import EmbvizError, EmbvizWarning

_DIR = Path(tempfile.mkdtemp(prefix="embviz-fuzz-keys-"))
atexit.register(shutil.rmtree, _DIR, ignore_errors=True)  # a full run leaves nothing in /tmp
TALLY: dict[str, Counter] = defaultdict(Counter)
_RSS0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB
_BOM = b"\xef\xbb\xbf"

# The size bounds as docs/_drafts/errors-keys.md states them (not read from embviz's code).
TOKENIZER_BOUND = (1024, 4 << 20)  # bytes per row, slack
KEYS_BOUND = (64 << 10, 1 << 20)

_PROFILE = os.environ.get("EMBVIZ_HYPOTHESIS_PROFILE", "ci")
_EXAMPLES = settings.default.max_examples if _PROFILE == "long" else max(20, settings.default.max_examples // 2)
_FUZZ = settings(deadline=None, max_examples=_EXAMPLES,
                 suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much])


class Refused(Exception):
    """The reference parser refuses the file."""


# -- a JSON writer that can also write what a dict cannot hold ---------------------------------
class Raw:
    """JSON text written as is: ``NaN``, a lone surrogate escape, 100,000 nested lists."""

    def __init__(self, text: str) -> None:
        self.text = text


class Pairs(list):
    """An object as a list of (name, value) pairs: a name may repeat, a name may be :class:`Raw`."""


def dumps(obj, indent: int | None = None, level: int = 0) -> str:
    pad, inner = ("", "") if indent is None else ("\n" + " " * (indent * level), "\n" + " " * (indent * (level + 1)))
    sep = "," if indent is None else ","
    if isinstance(obj, Raw):
        return obj.text
    if isinstance(obj, (dict, Pairs)):
        items = obj.items() if isinstance(obj, dict) else obj
        if not items:
            return "{}"
        body = sep.join(f"{inner}{dumps(k)}: {dumps(v, indent, level + 1)}" for k, v in items)
        return "{" + body + pad + "}"
    if isinstance(obj, list):
        if not obj:
            return "[]"
        return "[" + sep.join(f"{inner}{dumps(v, indent, level + 1)}" for v in obj) + pad + "]"
    return json.dumps(obj, ensure_ascii=False)


# -- generating valid tokenizer.json files ----------------------------------------------------
_CHARS = st.characters(blacklist_categories=("Cs",))  # any character a JSON string can hold
TOKENS = st.one_of(st.text(_CHARS, min_size=1, max_size=6),
                   st.sampled_from(["[PAD]", "[UNK]", "\u2581the", "\u0120a", "\n", "\t", " ", "##s", "<0x0A>", "2", "null"]))
SCORES = st.one_of(st.floats(-30, 0, allow_nan=False), st.integers(-5, 0))
FLAGS = {"single_word": False, "lstrip": False, "rstrip": False, "normalized": False, "special": True}


@st.composite
def tokenizer_docs(draw) -> tuple[dict, int]:
    """A valid tokenizer.json (as a dict) and the number of ids it has."""
    kind = draw(st.sampled_from(["WordPiece", "BPE", "WordLevel", "Unigram", None]))
    n = draw(st.integers(0, 7))
    toks = draw(st.lists(TOKENS, min_size=n, max_size=n, unique=kind not in ("Unigram", None)))
    if kind is None and len(set(toks)) != len(toks):
        toks = list(dict.fromkeys(toks))
    added, next_id = [], len(toks)
    for _ in range(draw(st.integers(0, 3))):
        if toks and draw(st.booleans()):  # an added token repeating its vocab entry (bert's [PAD])
            i = draw(st.integers(0, len(toks) - 1))
            entry = {"id": i, "content": toks[i]}
        else:
            entry, next_id = {"id": next_id, "content": draw(TOKENS)}, next_id + 1
        added.append({**entry, **FLAGS} if draw(st.booleans()) else entry)
    unigram = kind == "Unigram" or (kind is None and draw(st.booleans()))
    model: dict = {} if kind is None else {"type": kind}
    if unigram:
        model["vocab"] = [[t, draw(SCORES)] for t in toks]
        model["unk_id"] = 0
    else:
        order = draw(st.permutations(range(len(toks))))  # a JSON object's order is not the ids'
        model["vocab"] = {toks[i]: i for i in order}
        if kind == "BPE":
            model["merges"] = draw(st.sampled_from([[], ["a b"], [["a", "b"]]]))
    doc = {"version": "1.0", "truncation": None, "added_tokens": added, "normalizer": None, "model": model}
    if not added and draw(st.booleans()):
        del doc["added_tokens"]
    return doc, next_id


HOSTILE = [None, True, False, 0, -1, 1.5, 2.0, 2**40, "", "2", "x", {}, [], {"id": 1}, [["a", 0]], [None, 0],
           Raw("NaN"), Raw("-Infinity"), Raw("1e400"), Raw('"\\ud800"'), Raw('"a\\udc00"'), Raw("1" * 5000),
           Raw("[" * 40 + "]" * 40), Raw("[" * 100_000 + "]" * 100_000)]


def _places(node, out: list, depth: int = 0) -> list:
    """Every (container, key or index) below `node`: the places a mutation can hit."""
    if isinstance(node, dict):
        for k, v in node.items():
            out.append((node, k))
            _places(v, out, depth + 1)
    elif isinstance(node, list):
        for i, v in enumerate(node):
            out.append((node, i))
            _places(v, out, depth + 1)
    return out


@st.composite
def mutated_docs(draw) -> tuple[object, int, list[str]]:
    """A valid doc with up to three mutated fields; returns (doc, ids, what was done)."""
    doc, n = draw(tokenizer_docs())
    done = []
    for _ in range(draw(st.integers(0, 3))):
        places = _places(doc, [])
        op = draw(st.sampled_from(["replace", "replace", "replace", "delete", "duplicate", "rename", "top"]))
        if op == "top":
            doc = copy.deepcopy(draw(st.sampled_from(HOSTILE + [[doc], {"model": doc}])))
            done.append("top")
            break
        if not places:
            continue
        parent, key = draw(st.sampled_from(places))
        if isinstance(parent, Pairs):  # already renamed: leave it
            continue
        done.append(f"{op} {key!r}")
        if op == "replace":
            # a copy: HOSTILE's lists and objects are shared by every example (a later
            # mutation of a shared one could make it contain itself)
            parent[key] = copy.deepcopy(draw(st.sampled_from(HOSTILE + [0, 1, n, n + 1, "a", "[PAD]"])))
        elif op == "delete":
            del parent[key]
        elif op == "duplicate" and isinstance(parent, list):
            parent.insert(key, copy.deepcopy(parent[key]))
        elif op in ("duplicate", "rename") and isinstance(parent, dict) and parent:
            names = list(parent)
            new = draw(st.sampled_from(names + [Raw('"\\ud800"'), "", "0", "[PAD]"]))
            pairs = Pairs((new if k == key else k, v) for k, v in parent.items())
            if op == "duplicate":
                pairs.append((key, copy.deepcopy(parent[key])))
            _replace(doc, parent, pairs)
            if doc is parent:
                doc = pairs
    return doc, n, done


def _replace(root, old, new) -> None:
    """Put `new` where the container `old` is inside `root` (by identity)."""
    for parent, key in _places(root, []):
        if not isinstance(parent, Pairs) and parent[key] is old:
            parent[key] = new
            return


# -- the reference parsers ---------------------------------------------------------------------
def _strict_object(pairs):
    names = [k for k, _ in pairs]
    if len(set(names)) != len(names):
        raise Refused("a name twice")
    return dict(pairs)


def _constant(name):
    raise Refused(f"{name} is not JSON")


def _is_id(x) -> bool:
    return isinstance(x, int) and not isinstance(x, bool) and x >= 0


def _is_token(x) -> bool:
    if not isinstance(x, str) or x == "":
        return False
    try:
        x.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def ref_tokenizer(path: Path, rows: int) -> list[str]:
    """The token of each id, by the schema of a Hugging Face tokenizer.json (see the module doc)."""
    if path.stat().st_size > rows * TOKENIZER_BOUND[0] + TOKENIZER_BOUND[1]:
        raise Refused("larger than any tokenizer.json of the table's rows")
    data = path.read_bytes()
    data = data[3:] if data.startswith(_BOM) else data
    try:
        doc = json.loads(data.decode("utf-8"), object_pairs_hook=_strict_object, parse_constant=_constant)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise Refused(f"not JSON: {type(exc).__name__}") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("model"), dict):
        raise Refused("no model object")
    model = doc["model"]
    kind = model.get("type", "(none)")
    if kind not in ("(none)", "BPE", "WordPiece", "WordLevel", "Unigram"):
        raise Refused("unknown model type")
    vocab = model.get("vocab")
    pairs = []  # (id, token, from the vocab)
    if isinstance(vocab, dict) and kind != "Unigram":
        pairs = [(i, t) for t, i in vocab.items()]
    elif isinstance(vocab, list) and kind in ("(none)", "Unigram"):
        for i, item in enumerate(vocab):
            if not (isinstance(item, list) and len(item) == 2):
                raise Refused("not a [token, score] pair")
            if isinstance(item[1], bool) or not isinstance(item[1], (int, float)):
                raise Refused("score not a number")
            pairs.append((i, item[0]))
    else:
        raise Refused("vocab of the wrong shape")
    if not all(_is_id(i) and _is_token(t) for i, t in pairs):
        raise Refused("bad vocab id or token")
    ids = [i for i, _ in pairs]
    if len(set(ids)) != len(ids):
        raise Refused("an id twice in the vocab")
    table = dict(pairs)
    added = doc.get("added_tokens", [])
    if not isinstance(added, list):
        raise Refused("added_tokens not a list")
    for a in added:
        if not (isinstance(a, dict) and _is_id(a.get("id")) and _is_token(a.get("content"))):
            raise Refused("bad added token")
        if table.setdefault(a["id"], a["content"]) != a["content"]:
            raise Refused("an added token contradicts its id")
    if sorted(table) != list(range(len(table))):
        raise Refused("a gap in the ids")
    if len(table) != rows:
        raise Refused("not one token per row")
    return [table[i] for i in range(rows)]


_WORD_COUNT = re.compile(r"(.+?)[ \t]+\d+")


def ref_keys(path: Path, rows: int) -> list[str]:
    """A keys file: one key per line, or a TSV whose first line is a header, or word2vec's ``.vocab``."""
    size = path.stat().st_size
    if size > rows * KEYS_BOUND[0] + KEYS_BOUND[1]:
        raise Refused("larger than any keys file of the table's rows")
    data = path.read_bytes()
    if data.count(b"\n") > rows + 1:
        raise Refused("more lines than rows and a header")
    if data.startswith(_BOM):
        data = data[3:]
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise Refused("not UTF-8") from None
    lines = text.split("\n")
    if lines[-1] == "":
        lines = lines[:-1]
    if "\r" in text:
        lines = [ln[:-1] if ln.endswith("\r") else ln for ln in lines]
    word_counts = path.suffix == ".vocab" and lines and all(_WORD_COUNT.fullmatch(ln) for ln in lines[:1000])
    if word_counts:
        keys = [m.group(1) if (m := _WORD_COUNT.fullmatch(ln)) else ln for ln in lines]
    elif lines and "\t" in lines[0]:
        width = len(lines[0].split("\t"))
        rest = [ln.split("\t") for ln in lines[1:]]
        if any(len(f) != width for f in rest):
            raise Refused("ragged TSV")
        keys = [f[0] for f in rest]
    else:
        keys = lines
    if "" in keys:
        raise Refused("an empty key")
    if len(keys) != rows:
        raise Refused("not one key per row")
    return keys


def _first_of_each(keys: list[str]) -> tuple[list[str], bool]:
    out = list(dict.fromkeys(keys))
    return out, len(out) != len(keys)


# -- the properties ----------------------------------------------------------------------------
_CACHE = _DIR / "cache"


def _load(table: Path, cache: bool, keys: Path | None) -> tuple[str, object, list[str]]:
    """("loaded", keys, warnings) or ("refused", the message, warnings); anything else raises."""
    t = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            v = eio.load(table, cache=cache, cache_dir=_CACHE, keys=keys)
            out: tuple[str, object] = ("loaded", list(v.keys))
        except EmbvizError as exc:  # property 1
            out = ("refused", str(exc))
    assert time.perf_counter() - t < 10, "a load of a tiny table took more than 10 s"  # property 4
    return (*out, [str(w.message) for w in caught if issubclass(w.category, EmbvizWarning)])


def check(table: Path, sidecar: Path, rows: int, reference, cache: bool, keys: Path | None = None) -> str:
    outcome, got, notes = _load(table, False, keys)
    if outcome == "refused":
        assert "\n" not in got and len(got) < 2100, got
        assert got.startswith(f"{sidecar}: "), f"the refusal does not name the keys file: {got}"
    try:
        expected, dropped = _first_of_each(reference(sidecar, rows))
    except Refused as why:
        assert outcome == "refused", f"embviz loaded a file the reference refuses ({why}): {got!r}"[:3000]
    else:
        assert outcome == "loaded", f"embviz refused a file the reference reads: {got}"
        assert got == expected, (got, expected)  # property 2
        assert not dropped or any("duplicate" in n for n in notes), notes
    if cache:  # property 3
        again = _load(table, True, keys)
        assert again[:2] == (outcome, got), (again, outcome, got)
    return outcome


def _run(family: str, folder: Path, body) -> None:
    """Run one example; tally its outcome; under EMBVIZ_FUZZ_KEEP_GOING record a failure and go on."""
    try:
        outcome = body()
    except Exception as exc:
        TALLY[family]["other"] += 1
        keep = os.environ.get("EMBVIZ_FUZZ_KEEP_GOING")
        if not keep:
            raise
        dest = Path(keep) / f"{family}-{TALLY[family]['other']:04d}"
        dest.mkdir(parents=True, exist_ok=True)
        for f in folder.iterdir():
            if f.is_file() and f.stat().st_size < 50 << 20:
                (dest / f.name).write_bytes(f.read_bytes())
        (dest / "why.txt").write_text(f"{type(exc).__name__}: {exc}"[:4000])
        return
    TALLY[family][outcome] += 1


def _table(folder: Path, rows: int) -> Path:
    p = folder / "t.npy"
    np.save(p, np.eye(max(rows, 1), 3, dtype=np.float32)[:rows])
    return p


def _rows(data, n: int) -> int:
    """The table's rows: the tokenizer's ids, now and then one more or one fewer (never 0: an
    empty ``.npy`` is refused before its keys are read)."""
    return max(1, data.draw(st.sampled_from([n] * 8 + [n + 1, n - 1])))


def _cache_too(data) -> bool:
    return data.draw(st.integers(0, 9)) == 0


def _grow(path: Path, rows: int, bound: tuple[int, int]) -> None:
    with open(path, "r+b") as f:  # sparse: no disk, no time
        f.truncate(rows * bound[0] + bound[1] + 1)


@_FUZZ
@given(made=mutated_docs(), indent=st.sampled_from([None, None, 2]), data=st.data())
def test_tokenizer_json_with_mutated_fields(made, indent, data) -> None:
    doc, n, _ = made
    folder = _DIR / "fields"
    folder.mkdir(exist_ok=True)

    def body() -> str:
        rows = _rows(data, n)
        table = _table(folder, rows)
        src = folder / "tokenizer.json"
        src.write_bytes(dumps(doc, indent).encode("utf-8"))
        return check(table, src, rows, ref_tokenizer, _cache_too(data))

    _run("tokenizer-fields", folder, body)


@_FUZZ
@given(made=tokenizer_docs(), indent=st.sampled_from([None, 2]), bom=st.booleans(), data=st.data())
def test_tokenizer_json_with_mutated_bytes(made, indent, bom, data) -> None:
    doc, n = made
    folder = _DIR / "bytes"
    folder.mkdir(exist_ok=True)

    def body() -> str:
        raw = (_BOM if bom else b"") + dumps(doc, indent).encode("utf-8")
        m = data.draw(st.one_of(mutations(len(raw)), st.just(("grow", 0, None))))
        rows = _rows(data, n)
        table = _table(folder, rows)
        src = folder / "tokenizer.json"
        src.write_bytes(mutate(raw, m) if m[0] != "grow" else raw)
        if m[0] == "grow":
            _grow(src, rows, TOKENIZER_BOUND)
        return check(table, src, rows, ref_tokenizer, _cache_too(data))

    _run("tokenizer-bytes", folder, body)


KEY_TEXT = st.one_of(st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\n\r\t"), min_size=1, max_size=8),
                     st.sampled_from(["the", "of 12", "king", "-", "a b", "\ufeffx", "0", " "]))


@st.composite
def keys_files(draw) -> tuple[str, bytes, int]:
    """(file name, bytes, rows): a keys file of one of four kinds, keys possibly repeated."""
    kind = draw(st.sampled_from(["t.keys.txt", "keys.tsv", "t.vocab", "metadata"]))
    n = draw(st.integers(1, 8))
    keys = draw(st.lists(KEY_TEXT, min_size=n, max_size=n))
    if kind == "t.keys.txt":
        lines = keys
    elif kind == "t.vocab":
        sep = draw(st.sampled_from([" ", "\t"]))
        lines = [f"{k}{sep}{draw(st.integers(1, 10**6))}" for k in keys]
    else:  # a TSV with a header, given with --vocab (a Projector metadata.tsv has the same layout)
        lines = ["word\tcount"] + [f"{k}\t{i}" for i, k in enumerate(keys)]
    eol = draw(st.sampled_from(["\n", "\n", "\r\n"]))
    text = eol.join(lines) + (eol if draw(st.booleans()) or eol == "\r\n" else "")
    raw = (_BOM if draw(st.integers(0, 5)) == 0 else b"") + text.encode("utf-8")
    return ("keys.tsv" if kind == "metadata" else kind), raw, n


@_FUZZ
@given(made=keys_files(), data=st.data())
def test_keys_files_with_duplicates_bad_bytes_and_mutations(made, data) -> None:
    name, raw, n = made
    folder = _DIR / "keys"
    folder.mkdir(exist_ok=True)

    def body() -> str:
        for old in folder.glob("*"):
            old.unlink() if old.is_file() else None
        m = data.draw(st.one_of(st.just(("none", 0, None)), mutations(len(raw)), st.just(("grow", 0, None))))
        rows = _rows(data, n)
        table = _table(folder, rows)
        src = folder / name
        src.write_bytes(mutate(raw, m) if m[0] != "grow" else raw)
        if m[0] == "grow":
            _grow(src, rows, KEYS_BOUND)
        return check(table, src, rows, ref_keys, _cache_too(data), keys=src if name == "keys.tsv" else None)

    _run("keys-files", folder, body)


def test_the_reference_parsers_agree_on_hand_built_files(tmp_path: Path) -> None:
    """The references themselves are checked, so the harness cannot pass vacuously."""
    p = tmp_path / "tokenizer.json"
    p.write_text(dumps({"model": {"vocab": {"b": 1, "a": 0}}, "added_tokens": [{"id": 2, "content": "c"}]}))
    assert ref_tokenizer(p, 3) == ["a", "b", "c"]
    for bad in ({"model": {"vocab": {"a": 0, "b": 1.0}}}, {"model": {"vocab": {"a": 0, "b": True}}},
                Pairs([("model", {"vocab": Pairs([("a", 0), ("a", 1)])})]),
                {"model": {"type": "Unigram", "vocab": [["a", Raw("NaN")]]}},
                {"model": {"vocab": [["a", 0], []]}}, {"model": {"vocab": {"a": 0, "b": 2}}}):
        p.write_text(dumps(bad))
        with pytest.raises(Refused):
            ref_tokenizer(p, 2)
        assert check(_table(tmp_path, 2), p, 2, ref_tokenizer, cache=False) == "refused"
    k = tmp_path / "t.vocab"
    k.write_bytes(b"\xef\xbb\xbfthe\t10\nof 5\r\n")
    assert ref_keys(k, 2) == ["the", "of"]
    assert check(_table(tmp_path, 2), k, 2, ref_keys, cache=True) == "loaded"


def _hwm_kib() -> int:
    """This process's peak RSS since the last reset (``VmHWM``), KiB."""
    with open("/proc/self/status", "rb") as f:
        return int(re.search(rb"VmHWM:\s+(\d+)", f.read()).group(1))


@pytest.fixture(scope="module", autouse=True)
def _peak_from_here():
    """Reset the peak RSS when this module starts: earlier modules of the run do not count."""
    global _RSS0
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        _RSS0 = _hwm_kib()
    except OSError:  # not Linux: fall back to the peak at import
        pass
    yield


def test_memory_stayed_bounded() -> None:
    """Property 4 over the whole run (this test runs after the families above)."""
    try:
        peak = _hwm_kib()
    except OSError:
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    grown = peak - _RSS0
    assert grown < 300 << 10, f"peak RSS grew by {grown / 1024:.0f} MiB"


@pytest.fixture(scope="module", autouse=True)
def _tally():
    yield
    out = os.environ.get("EMBVIZ_FUZZ_TALLY")
    if out:
        Path(out).write_text(json.dumps({k: dict(v) for k, v in TALLY.items()}, indent=1) + "\n")
