"""Keys sidecars under attack (issue 25): ``tokenizer.json`` and keys files (embviz.io.keys).

One test (or one parametrized case) per failure class the security campaign found, each built
here from a hand-written file beside a small ``.npy`` table. Every one failed before the fix:
a wrong key loaded without a word, an exception other than ``EmbvizError`` escaped (a
``TypeError`` from the cache's key writer, an ``IndexError``, a ``RecursionError``), or a
sidecar of hundreds of megabytes was parsed (gigabytes of memory) before being refused.
What is promised instead: one :class:`~embviz.errors.FormatError` line naming the file, the
field (``model.vocab["c"]``, ``added_tokens[0].id``), what was found and what was expected,
the same with and without the cache.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

from embviz import io as eio
from embviz.errors import EmbvizError, FormatError
from embviz.io import keys as ekeys


def _table(folder: Path, n: int = 3) -> Path:
    p = folder / "t.npy"
    np.save(p, np.eye(n, max(n, 2), dtype=np.float32))
    return p


def _tok(folder: Path, doc) -> Path:
    """Write `doc` (an object, or the JSON text itself) as ``folder/tokenizer.json``."""
    text = doc if isinstance(doc, str) else json.dumps(doc)
    (folder / "tokenizer.json").write_text(text, "utf-8", errors="surrogatepass")
    return folder / "tokenizer.json"


def _wp(vocab: dict, added: list | None = None, **model) -> dict:
    doc: dict = {"model": {"type": "WordPiece", "vocab": vocab, **model}}
    if added is not None:
        doc["added_tokens"] = added
    return doc


def _uni(items: list, added: list | None = None) -> dict:
    doc: dict = {"model": {"type": "Unigram", "vocab": items}}
    if added is not None:
        doc["added_tokens"] = added
    return doc


def _refusal(table: Path, cache: bool, tmp_path: Path) -> str:
    """Load `table`; return the one-line message it is refused with (anything else fails)."""
    with pytest.raises(EmbvizError) as exc:
        eio.load(table, cache=cache, cache_dir=tmp_path / "cache")
    assert isinstance(exc.value, FormatError), type(exc.value)
    msg = str(exc.value)
    assert "\n" not in msg and len(msg) < 400, msg
    return msg


def _refused_alike(tmp_path: Path, doc, expected: str, n: int = 3) -> None:
    """`doc` as a sidecar is refused with `expected` (after the path), with and without the cache."""
    table = _table(tmp_path, n)
    src = _tok(tmp_path, doc)
    for cache in (False, True, True):  # the second cached load: nothing was stored
        assert _refusal(table, cache, tmp_path) == f"{src}: {expected}"


# -- silently wrong values ---------------------------------------------------------------------
WRONG = {
    # tokens that are not strings became keys 1, 2.5 and None (and a TypeError with the cache)
    "number tokens": (_wp({"a": 0}, [{"id": 1, "content": 1}, {"id": 2, "content": 2.5}]),
                      "added_tokens[0].content: found 1; expected a non-empty string (a token)"),
    "null token": (_wp({"a": 0, "b": 1}, [{"id": 2, "content": None}]),
                   "added_tokens[0].content: found null; expected a non-empty string (a token)"),
    "unigram number token": (_uni([["a", 0.0], [1, 0.0], ["c", 0.0]]),
                             "model.vocab[1][0]: found 1; expected a non-empty string (a token)"),
    "unigram null token": (_uni([["a", 0.0], ["b", 0.0], [None, 0.0]]),
                           "model.vocab[2][0]: found null; expected a non-empty string (a token)"),
    # a negative id was dropped: the three other tokens loaded as if it were not there
    "negative id": (_wp({"a": 0, "b": 1, "c": 2, "x": -1}),
                    'model.vocab["x"]: found -1; expected an integer id >= 0'),
    # ids that are not integers: 1.0 loaded as 1, "2" as 2, 0.5 and true were miscounted
    "float id": (_wp({"a": 0, "b": 1.0, "c": 2}), 'model.vocab["b"]: found 1.0; expected an integer id >= 0'),
    "half id": (_wp({"a": 0, "b": 1, "c": 0.5}), 'model.vocab["c"]: found 0.5; expected an integer id >= 0'),
    "true id": (_wp({"a": 0, "b": 1, "c": True}), 'model.vocab["c"]: found true; expected an integer id >= 0'),
    "string id": (_wp({"a": 0, "b": 1, "c": "2"}),
                  'model.vocab["c"]: found the string "2"; expected an integer id >= 0'),
    "added string id": (_wp({"a": 0, "b": 1}, [{"id": "2", "content": "c"}]),
                        'added_tokens[0].id: found the string "2"; expected an integer id >= 0'),
    "added true id": (_wp({"a": 0, "b": 1}, [{"id": True, "content": "c"}, {"id": 2, "content": "d"}]),
                      "added_tokens[0].id: found true; expected an integer id >= 0"),
    # an empty token was an empty key
    "empty token": (_wp({"a": 0, "b": 1, "": 2}), 'model.vocab[""]: found an empty string; expected a non-empty string (a token)'),
    "empty unigram token": (_uni([["a", 0.0], ["", 0.0], ["c", 0.0]]),
                            "model.vocab[1][0]: found an empty string; expected a non-empty string (a token)"),
    "empty added token": (_wp({"a": 0, "b": 1}, [{"id": 2, "content": ""}]),
                          "added_tokens[0].content: found an empty string; expected a non-empty string (a token)"),
    # two tokens with one id: the first was kept, the other dropped without a word
    "two tokens one id": (_wp({"a": 0, "b": 1, "c": 2, "x": 2}),
                          'model.vocab["x"]: id 2 is also the id of "c"; expected each id once'),
    "added token contradicts the vocab": (
        _wp({"a": 0, "b": 1, "c": 2}, [{"id": 2, "content": "zz"}]),
        'added_tokens[0]: id 2 is "zz" here but "c" in model.vocab; expected one token per id'),
    # a Unigram item that is not a pair: "b" loaded as "b", {"t": 1} as "{'t': 1}"
    "unigram bare string": (_uni([["a", 0.0], "b", ["c", 0.0]]),
                            'model.vocab[1]: found the string "b"; expected a pair [token, score]'),
    "unigram object item": (_uni([["a", 0.0], {"t": 1}, ["c", 0.0]]),
                            "model.vocab[1]: found an object (1 name); expected a pair [token, score]"),
    "unigram triple": (_uni([["a", 0.0], ["b", 0.0, 7], ["c", 0.0]]),
                       "model.vocab[1]: found a list (3 items); expected a pair [token, score]"),
    "unigram string score": (_uni([["a", 0.0], ["b", "x"], ["c", 0.0]]),
                             "model.vocab[1][1]: found the string \"x\"; expected a number (the token's score)"),
    # added_tokens that are not a list of objects with id and content were ignored
    "added_tokens a string": (_wp({"a": 0, "b": 1, "c": 2}, "abc"),  # type: ignore[arg-type]
                              'added_tokens: found the string "abc"; expected a list of objects with an "id" and a "content"'),
    "added token without id": (_wp({"a": 0, "b": 1, "c": 2}, [{"content": "d"}]),
                               "added_tokens[0].id: missing; expected an integer id >= 0"),
    "added token without content": (_wp({"a": 0, "b": 1, "c": 2}, [{"id": 3}]),
                                    "added_tokens[0].content: missing; expected a non-empty string (a token)"),
    # the vocabulary's shape contradicts model.type
    "unigram type with a mapping": ({"model": {"type": "Unigram", "vocab": {"a": 0, "b": 1, "c": 2}}},
                                    "model.vocab: found an object (3 names); expected a list of [token, score] pairs (model.type is Unigram)"),
    "unknown model type": ({"model": {"type": "Magic", "vocab": {"a": 0, "b": 1, "c": 2}}},
                           'model.type: found the string "Magic"; expected one of BPE, WordPiece, WordLevel, Unigram'),
    # Python's json reads more than JSON: NaN, a name twice (the last one silently won)
    "NaN score": ('{"model": {"type": "Unigram", "vocab": [["a", NaN], ["b", 0], ["c", 0]]}}',
                  "NaN is not a JSON value; expected strict JSON"),
    "a name twice": ('{"model": {"vocab": {"a": 0, "b": 1, "a": 2}}, "added_tokens": [{"id": 0, "content": "z"}]}',
                     'a JSON object has the name "a" twice; expected each name once'),
    # a lone surrogate escape became a key no output can encode
    "lone surrogate": ('{"model": {"vocab": {"a": 0, "\\ud800": 1, "c": 2}}}',
                       'model.vocab["\\ud800"]: found the string "\\ud800" with a lone surrogate '
                       "(an unpaired \\ud800-\\udfff escape); expected a token of valid Unicode"),
}


@pytest.mark.parametrize("case", list(WRONG))
def test_silently_wrong_tokenizer_values_are_refused_naming_the_field(tmp_path: Path, case: str) -> None:
    doc, expected = WRONG[case]
    _refused_alike(tmp_path, doc, expected)


# -- internal errors ---------------------------------------------------------------------------
INTERNAL = {
    # TypeError: int() argument must be ... not 'NoneType'
    "null id": (_wp({"a": 0, "b": 1, "c": None}), 'model.vocab["c"]: found null; expected an integer id >= 0'),
    "added null id": (_wp({"a": 0, "b": 1}, [{"id": None, "content": "c"}]),
                      "added_tokens[0].id: found null; expected an integer id >= 0"),
    # ValueError: invalid literal for int()
    "word id": (_wp({"a": 0, "b": 1, "c": "two"}), 'model.vocab["c"]: found the string "two"; expected an integer id >= 0'),
    "added word id": (_wp({"a": 0, "b": 1}, [{"id": "two", "content": "c"}]),
                      'added_tokens[0].id: found the string "two"; expected an integer id >= 0'),
    # TypeError: 'int' object is not iterable
    "added_tokens a number": (_wp({"a": 0, "b": 1, "c": 2}, 5),  # type: ignore[arg-type]
                              'added_tokens: found 5; expected a list of objects with an "id" and a "content"'),
    # TypeError: unhashable type: 'dict'
    "object content": (_wp({"a": 0, "b": 1}, [{"id": 2, "content": {"x": 1}}]),
                       "added_tokens[0].content: found an object (1 name); expected a non-empty string (a token)"),
    # IndexError: list index out of range
    "empty unigram item": (_uni([["a", 0.0], [], ["c", 0.0]]),
                           "model.vocab[1]: found an empty list; expected a pair [token, score]"),
    # OverflowError: cannot convert float infinity to integer
    "infinite id": ('{"model": {"vocab": {"a": 0, "b": 1, "c": 1e400}}}',
                    'model.vocab["c"]: found inf; expected an integer id >= 0'),
    # TypeError: int() argument must be ... not 'list'
    "list id": (_wp({"a": 0, "b": 1, "c": [2]}), 'model.vocab["c"]: found a list (1 item); expected an integer id >= 0'),
    # RecursionError: maximum recursion depth exceeded while decoding a JSON array
    "deep JSON": ('{"model": {"vocab": ' + "[" * 100_000 + "]" * 100_000 + "}}",
                  "JSON nested too deeply for its parser; expected a tokenizer.json (a few levels deep)"),
    "deep JSON in an ignored field": ('{"normalizer": ' + "[" * 100_000 + "]" * 100_000
                                      + ', "model": {"vocab": {"a": 0, "b": 1, "c": 2}}}',
                                      "JSON nested too deeply for its parser; expected a tokenizer.json (a few levels deep)"),
}


@pytest.mark.parametrize("case", list(INTERNAL))
def test_malformed_tokenizer_shapes_are_one_line_not_an_internal_error(tmp_path: Path, case: str) -> None:
    doc, expected = INTERNAL[case]
    _refused_alike(tmp_path, doc, expected)


@pytest.mark.parametrize("case", ["null id", "object content", "empty unigram item", "deep JSON"])
def test_the_cli_says_one_line_and_exits_1(runner, tmp_path: Path, case: str) -> None:
    from embviz.cli import app

    table = _table(tmp_path)
    src = _tok(tmp_path, INTERNAL[case][0])
    r = runner.invoke(app, ["info", "-v", str(table), "--no-cache"])
    assert r.exit_code == 1, r.stderr
    assert r.stderr == f"embviz: error: {src}: {INTERNAL[case][1]}\n"


# -- the cache ---------------------------------------------------------------------------------
def test_a_sidecar_spoiled_after_caching_gives_the_uncached_error(tmp_path: Path) -> None:
    """A good tokenizer.json is cached; overwritten by a malformed one, the cache is not used."""
    table = _table(tmp_path)
    _tok(tmp_path, _wp({"a": 0, "b": 1, "c": 2}))
    assert list(eio.load(table, cache_dir=tmp_path / "cache").keys) == ["a", "b", "c"]
    src = _tok(tmp_path, _wp({"a": 0, "b": 1, "c": 2.0}))
    expected = f'{src}: model.vocab["c"]: found 2.0; expected an integer id >= 0'
    assert _refusal(table, False, tmp_path) == expected
    assert _refusal(table, True, tmp_path) == expected


# -- what is still accepted (and what is now accepted) ----------------------------------------
def test_real_tokenizer_shapes_still_load(tmp_path: Path) -> None:
    """Added tokens repeating their vocab entry, tokens with a newline, any model type."""
    table = _table(tmp_path, 4)
    added = [{"id": 0, "content": "[PAD]", "single_word": False, "lstrip": False, "rstrip": False,
              "normalized": False, "special": True}, {"id": 3, "content": "<new>"}]
    for doc in (_wp({"[PAD]": 0, "b": 1, "\n": 2}, added),
                {"model": {"type": "BPE", "vocab": {"[PAD]": 0, "b": 1, "\n": 2}, "merges": ["b \n"]},
                 "added_tokens": added},
                {"model": {"vocab": {"[PAD]": 0, "b": 1, "\n": 2}}, "added_tokens": added},  # no type
                _uni([["[PAD]", 0.0], ["b", -1], ["\n", -2.5]], added)):
        _tok(tmp_path, doc)
        for cache in (False, True):
            assert list(eio.load(table, cache=cache, cache_dir=tmp_path / "cache").keys) == ["[PAD]", "b", "\n", "<new>"]


def test_a_byte_order_mark_is_not_part_of_the_first_key(tmp_path: Path) -> None:
    """Before: a tokenizer.json with a BOM was 'not a tokenizer.json', and keys.txt's first key began with U+FEFF."""
    table = _table(tmp_path)
    (tmp_path / "tokenizer.json").write_bytes(b"\xef\xbb\xbf" + json.dumps(_wp({"a": 0, "b": 1, "c": 2})).encode())
    assert list(eio.load(table, cache=False).keys) == ["a", "b", "c"]
    (tmp_path / "t.keys.txt").write_bytes(b"\xef\xbb\xbfa\nb\nc\n")
    assert list(eio.load(table, cache=False).keys) == ["a", "b", "c"]
    (tmp_path / "t.keys.txt").write_bytes(b"\xef\xbb\xbfkey\tcount\r\na\t1\r\nb\t2\r\nc\t3\r\n")
    assert list(eio.load(table, cache=False).keys) == ["a", "b", "c"]


# -- unbounded resources -----------------------------------------------------------------------
_LOAD_UNDER_A_LIMIT = textwrap.dedent("""
    import resource, sys, time
    resource.setrlimit(resource.RLIMIT_AS, (1536 << 20, 1536 << 20))  # 1.5 GiB of address space
    from embviz import io as eio
    t = time.perf_counter()
    try:
        eio.load(sys.argv[1], cache=False)
    except Exception as exc:
        print(type(exc).__name__, exc, sep="|")
    print(round(time.perf_counter() - t, 2))
""")


@pytest.mark.parametrize("name", ["tokenizer.json", "t.keys.txt"])
def test_a_huge_sidecar_is_refused_before_it_is_read(tmp_path: Path, name: str) -> None:
    """A 3 GB sidecar (sparse: no disk) for 10 rows: refused at once, in a process limited to 1.5 GiB.

    Before: read whole (a MemoryError here; without the limit a 629 MB one took 3.8 GB and 44 s).
    """
    table = _table(tmp_path, 10)
    with open(tmp_path / name, "wb") as f:
        f.truncate(3 << 30)
    run = subprocess.run([sys.executable, "-c", _LOAD_UNDER_A_LIMIT, str(table)],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr[-2000:]
    kind, msg = run.stdout.splitlines()[0].split("|", 1)
    limit = ekeys.max_bytes(10, tokenizer=name.endswith(".json"))
    assert kind == "FormatError", run.stdout
    per = 1024 if name.endswith(".json") else 65536
    assert msg == (f"{tmp_path / name}: 3,221,225,472 bytes, too large to be the keys of t.npy (10 rows); "
                   f"expected at most {limit:,} bytes ({per:,} per row + {limit - 10 * per:,})")
    assert float(run.stdout.splitlines()[1]) < 5


def test_a_keys_file_with_far_more_lines_than_rows_is_refused_as_it_is_read(tmp_path: Path) -> None:
    table = _table(tmp_path, 10)
    (tmp_path / "t.keys.txt").write_bytes(b"".join(b"k%d\n" % i for i in range(200_000)))
    t = time.perf_counter()
    with pytest.raises(FormatError) as exc:
        eio.load(table, cache=False)
    assert str(exc.value) == f"{tmp_path / 't.keys.txt'}: more than 11 lines but t.npy has 10 rows; expected one key per row"
    assert time.perf_counter() - t < 2


def test_the_size_bound_never_refuses_a_real_tokenizer() -> None:
    """The bound against real files: bert-base, GPT-2, XLM-R, Gemma 3 (tokens, approximate bytes of the published file)."""
    real = {"bert-base-uncased": (30_522, 466_062), "gpt2": (50_257, 1_355_256),
            "xlm-roberta-base": (250_002, 17_082_734), "gemma-3": (262_144, 33_384_568)}
    for name, (tokens, size) in real.items():
        assert ekeys.max_bytes(tokens, tokenizer=True) > 5 * size, name
    assert ekeys.max_bytes(10, tokenizer=True) < 5 << 20  # and a 10-row table: under 5 MB


def test_a_pretty_printed_bpe_with_merges_twice_its_vocabulary_loads(tmp_path: Path) -> None:
    """The densest real layout (SentencePiece BPE converted, merges as pairs, indent 2): well inside the bound."""
    n = 3_000
    toks = [f"\u2581tok{i}" for i in range(n)]
    doc = {"version": "1.0", "added_tokens": [{"id": i, "content": toks[i], "single_word": False, "lstrip": False,
                                                "rstrip": False, "normalized": False, "special": True} for i in range(100)],
           "normalizer": {"type": "Precompiled", "precompiled_charsmap": "A" * 300_000},
           "model": {"type": "BPE", "vocab": {t: i for i, t in enumerate(toks)},
                     "merges": [[t[:2], t[2:]] for t in toks + toks]}}
    text = json.dumps(doc, indent=2, ensure_ascii=False)
    assert len(text.encode()) < ekeys.max_bytes(n, tokenizer=True)
    table = _table(tmp_path, n)
    _tok(tmp_path, text)
    assert list(eio.load(table, cache=False).keys) == toks


def test_a_word2vec_vocab_with_tabs_is_words_not_a_header(tmp_path: Path) -> None:
    """``word<TAB>count`` lines in a ``.vocab``: before, the first word was taken for a TSV header."""
    table = _table(tmp_path)
    (tmp_path / "t.vocab").write_text("the\t100\nof\t50\nand\t30\n", "utf-8")
    assert list(eio.load(table, cache=False).keys) == ["the", "of", "and"]
