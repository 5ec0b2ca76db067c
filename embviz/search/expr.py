"""The small, safe grammar for vector expressions such as ``king - man + woman``.

Shared by ``neighbors`` queries and the formula axes of ``plot``. Nothing is ever passed to
``eval``: an expression is split into tokens and read by this grammar::

    expr  := [sign] term (sign term)*
    sign  := "+" | "-"                      (a token of its own, with spaces around it)
    term  := [number "*"] key               ("2*king", "0.5 * king")
    key   := bare-token | 'quoted key' | "quoted key"

Operators must stand apart (``king - man``), so keys with hyphens (``e-mail``, ``-lrb-``) stay
keys. Quote keys that contain spaces or are themselves ``+``/``-``: ``'new york' - 'ny'``.
A term's weight multiplies the key's unit vector, as in gensim's ``most_similar``. On a table
loaded from a fastText ``.bin``, a key that is not in the vocabulary (``'goverment' - fire``)
takes the unit vector built from its character n-grams (:mod:`embviz.search.queries`).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from embviz.errors import InvalidQuery

_TOKEN = re.compile(r"""\s*(?:'((?:[^'\\]|\\.)*)'|"((?:[^"\\]|\\.)*)"|(\S+))""")
_WEIGHTED = re.compile(r"^([+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)\*(.*)$", re.S)
#: A weight glued to a quoted key (``2*'new york'``): split into number, ``*`` and the key.
_WEIGHT_QUOTE = re.compile(r"""([+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)\*(?=['"])""")
_NUMBER = re.compile(r"^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$")


@dataclass(frozen=True, slots=True)
class Term:
    """One key of an expression and its weight (``+1.0`` or ``-1.0`` unless written)."""

    key: str
    weight: float


@dataclass(frozen=True, slots=True)
class Expression:
    """A parsed expression: the weighted sum of the keys' unit vectors."""

    text: str
    terms: tuple[Term, ...]

    @property
    def positive(self) -> list[str]:
        """Keys with a positive weight (gensim's ``positive=``)."""
        return [t.key for t in self.terms if t.weight > 0]

    @property
    def negative(self) -> list[str]:
        """Keys with a negative weight (gensim's ``negative=``)."""
        return [t.key for t in self.terms if t.weight < 0]

    @property
    def keys(self) -> list[str]:
        """All keys of the expression, in order, without repeats."""
        return list(dict.fromkeys(t.key for t in self.terms))


def _tokens(text: str) -> list[tuple[str, bool]]:
    """Split `text` into ``(token, quoted)`` pairs."""
    out: list[tuple[str, bool]] = []
    pos = 0
    text = text.strip()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None or m.end() == pos:
            raise InvalidQuery(f"cannot parse expression {text!r} at character {pos + 1}")
        if m.group(3) is not None:
            token = m.group(3)
            w = _WEIGHT_QUOTE.match(text, m.start(3))
            if w:
                out += [(w.group(1), False), ("*", False)]
                pos = w.end()
                continue
            if token[0] in "'\"":
                raise InvalidQuery(f"unclosed quote in expression {text!r}")
            out.append((token, False))
        else:
            raw = m.group(1) if m.group(1) is not None else m.group(2)
            out.append((re.sub(r"\\(.)", r"\1", raw), True))
        pos = m.end()
    return out


def parse(text: str) -> Expression:
    """Parse `text` into an :class:`Expression`.

    Parameters
    ----------
    text : str
        For example ``"king - man + woman"``, ``"paris"``, ``"'new york' - 0.5*city"``.

    Returns
    -------
    Expression
        Its terms in order; a bare key gives one term of weight +1.

    Raises
    ------
    InvalidQuery
        On an empty expression, a dangling or doubled operator, an unclosed quote, or a
        weight of zero.

    Examples
    --------
    >>> [(t.key, t.weight) for t in parse("king - man + woman").terms]
    [('king', 1.0), ('man', -1.0), ('woman', 1.0)]
    """
    tokens = _tokens(text)
    if not tokens:
        raise InvalidQuery("empty query: expected a key or an expression like 'king - man + woman'")
    terms: list[Term] = []
    sign = 1.0
    expect_term = True
    saw_sign = False
    i = 0
    while i < len(tokens):
        token, quoted = tokens[i]
        if not quoted and token in ("+", "-"):
            if saw_sign:
                raise InvalidQuery(f"unexpected {token!r} in expression {text!r}")
            sign = -1.0 if token == "-" else 1.0
            saw_sign, expect_term = True, True
            i += 1
            continue
        if not expect_term:
            raise InvalidQuery(
                f"expected '+' or '-' before {token!r} in {text!r}; "
                "a key that contains spaces needs its own quotes inside the query, e.g. "
                "embviz neighbors \"'new york'\""
            )
        weight = 1.0
        if not quoted:
            m = _WEIGHTED.match(token)
            if m and m.group(2):
                weight, token = float(m.group(1)), m.group(2)
                if len(token) > 1 and token[0] in "'\"" and token[-1] == token[0]:
                    token = token[1:-1]
            elif _NUMBER.match(token) and i + 2 < len(tokens) and tokens[i + 1] == ("*", False):
                weight = float(token)
                token, quoted = tokens[i + 2]
                i += 2
        if not math.isfinite(weight):
            raise InvalidQuery(f"a weight in expression {text[:200]!r} is too large (beyond 1e308)")
        if weight == 0:
            raise InvalidQuery(f"weight 0 in expression {text!r} has no effect")
        terms.append(Term(token, sign * weight))
        sign, saw_sign, expect_term = 1.0, False, False
        i += 1
    if expect_term:
        raise InvalidQuery(f"expression {text!r} ends with an operator")
    return Expression(text, tuple(terms))
