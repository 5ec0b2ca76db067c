"""The safe expression grammar (embviz.search.expr)."""

from __future__ import annotations

import pytest

from embviz.errors import InvalidQuery
from embviz.search.expr import Expression, Term, parse


def terms(text):
    return [(t.key, t.weight) for t in parse(text).terms]


@pytest.mark.parametrize(
    "text, expected",
    [
        ("king", [("king", 1.0)]),
        ("king - man + woman", [("king", 1.0), ("man", -1.0), ("woman", 1.0)]),
        ("  king   -   man  ", [("king", 1.0), ("man", -1.0)]),
        ("- king", [("king", -1.0)]),
        ("- king + queen", [("king", -1.0), ("queen", 1.0)]),
        ("+ king", [("king", 1.0)]),
        ("2*king", [("king", 2.0)]),
        ("0.5 * king", [("king", 0.5)]),
        ("king - 0.5*man", [("king", 1.0), ("man", -0.5)]),
        ("king - 0.5 * man + 1e-1*woman", [("king", 1.0), ("man", -0.5), ("woman", 0.1)]),
        (".5*x", [("x", 0.5)]),
        ("'new york' - city", [("new york", 1.0), ("city", -1.0)]),
        ('"new york" + "los angeles"', [("new york", 1.0), ("los angeles", 1.0)]),
        ("2*'new york'", [("new york", 2.0)]),
        ("'a' - 0.5*\"new york\"", [("a", 1.0), ("new york", -0.5)]),
        ("2 * 'new york'", [("new york", 2.0)]),
        ("2*'x'", [("x", 2.0)]),
        ("'+' - '-'", [("+", 1.0), ("-", -1.0)]),
        ("'it\\'s'", [("it's", 1.0)]),
        ("e-mail", [("e-mail", 1.0)]),
        ("e-mail - -lrb-", [("e-mail", 1.0), ("-lrb-", -1.0)]),
        ("x*y", [("x*y", 1.0)]),
        ("1990", [("1990", 1.0)]),
        ("東京 - 日本 + フランス", [("東京", 1.0), ("日本", -1.0), ("フランス", 1.0)]),
        ("king\t-\tman", [("king", 1.0), ("man", -1.0)]),
    ],
)
def test_parse(text, expected):
    assert terms(text) == expected


def test_expression_properties():
    e = parse("king - man + woman - man")
    assert e == Expression("king - man + woman - man", (Term("king", 1.0), Term("man", -1.0), Term("woman", 1.0), Term("man", -1.0)))
    assert e.positive == ["king", "woman"]
    assert e.negative == ["man", "man"]
    assert e.keys == ["king", "man", "woman"]


@pytest.mark.parametrize(
    "text, message",
    [
        ("", "empty query: expected a key or an expression like 'king - man + woman'"),
        ("   ", "empty query: expected a key or an expression like 'king - man + woman'"),
        ("king -", "expression 'king -' ends with an operator"),
        ("king - + man", "unexpected '+' in expression 'king - + man'"),
        ("king + + man", "unexpected '+' in expression 'king + + man'"),
        ("-", "expression '-' ends with an operator"),
        ("king man", "expected '+' or '-' before 'man' in 'king man'; a key that contains spaces needs its own "
                     "quotes inside the query, e.g. embviz neighbors \"'new york'\""),
        ("'new york", "unclosed quote in expression \"'new york\""),
        ('"abc', "unclosed quote in expression '\"abc'"),
        ("0*king", "weight 0 in expression '0*king' has no effect"),
    ],
)
def test_errors(text, message):
    with pytest.raises(InvalidQuery) as exc:
        parse(text)
    assert str(exc.value) == message


def test_never_evaluates(monkeypatch):
    import builtins

    def no_eval(*a, **k):
        raise AssertionError("eval/exec called")

    monkeypatch.setattr(builtins, "eval", no_eval)
    monkeypatch.setattr(builtins, "exec", no_eval)
    assert terms("__import__('os').system('x')") == [("__import__('os').system('x')", 1.0)]
    assert terms("1+1") == [("1+1", 1.0)]


def test_code_is_just_an_unknown_key(sample, tmp_path):
    from embviz import search as query
    from embviz.errors import KeyNotFound

    marker = tmp_path / "pwned"
    code = f"__import__('os').system('touch {marker}')"
    with pytest.raises((KeyNotFound, InvalidQuery)):
        query.neighbors(sample, code)
    assert not marker.exists()
    with pytest.raises(KeyNotFound, match=r"^\"__import__\('os'\).system\('x'\)\" is not in the vocabulary"):
        query.neighbors(sample, "__import__('os').system('x')")
