"""The benchmark files: the Google analogy set, WordSim-353 and SimLex-999, and their readers.

The default files are the copies shipped with gensim (``gensim/test/test_data``); they are
located without importing gensim.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Literal

from embviz.errors import FormatError, InvalidQuery, MissingDependency

if TYPE_CHECKING:
    from embviz.vectors import Vectors

#: gensim's default ``restrict_vocab``: only the first 300,000 keys are candidates.
DEFAULT_RESTRICT = 300_000

GENSIM_QUESTIONS = "questions-words.txt"
GENSIM_PAIRS = ("wordsim353.tsv", "simlex999.txt")

Progress = Callable[[int, int], None]
OovPolicy = Literal["skip", "zero"]


# -- data files ------------------------------------------------------------------------------
def gensim_data(name: str) -> Path:
    """Path of a file shipped in gensim's ``test/test_data`` (found without importing gensim).

    Raises
    ------
    MissingDependency
        If gensim is not installed or the file is missing from it.
    """
    import importlib.util

    spec = importlib.util.find_spec("gensim")
    for root in (spec.submodule_search_locations or []) if spec else []:
        path = Path(root) / "test" / "test_data" / name
        if path.is_file():
            return path
    raise MissingDependency(
        f"the default data set {name} ships with gensim, which is not installed: "
        "pip install gensim, or pass a file"
    )


def default_pair_files() -> list[Path]:
    """WordSim-353 and SimLex-999 as shipped with gensim (``wordsim353.tsv``, ``simlex999.txt``)."""
    return [gensim_data(name) for name in GENSIM_PAIRS]


def _read_lines(path: Path, what: str) -> list[str]:
    """Return the lines of a (possibly compressed) UTF-8 text file, without line ends."""
    from embviz.io import open_bytes

    if path.is_dir():
        raise FormatError(f"{path}: is a directory, expected {what}")
    with open_bytes(path) as f:
        try:
            data = f.read()
        except (OSError, EOFError, ValueError) as exc:
            raise FormatError(f"{path}: cannot read: {exc}") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise FormatError(
            f"{path}: line {line}: not valid UTF-8, expected {what} in UTF-8"
        ) from None
    return text.splitlines()


# -- shared vocabulary rule --------------------------------------------------------------------
def _vocab(
    vectors: Vectors, restrict: int | None, case_insensitive: bool
) -> tuple[dict[str, int], int]:
    """Return gensim's ``ok_vocab``: the first `restrict` keys (upper-cased if `case_insensitive`).

    When several keys collide after upper-casing, the first one (the most frequent in a
    frequency-sorted file) wins, as gensim's ``{k.upper(): i for k in reversed(ok_keys)}``.
    Returns the map and the number of candidate rows.
    """
    if restrict is not None and restrict < 1:
        raise InvalidQuery(f"restrict must be at least 1, got {restrict}")
    n = vectors.count if restrict is None else min(restrict, vectors.count)
    keys = vectors.keys[:n]
    if not case_insensitive:
        return (vectors.key_to_index if n == vectors.count else dict(zip(keys, range(n)))), n
    upper = [k.upper() for k in keys]
    # built from the end, so that the first key of each upper-cased word is the one kept
    return dict(zip(reversed(upper), range(n - 1, -1, -1))), n


# -- analogies -------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Question:
    """One line ``a b c d`` of a question file (words as written), with its 1-based line."""

    section: int
    line: int
    a: str
    b: str
    c: str
    d: str


def read_questions(path: str | os.PathLike) -> tuple[list[str], list[Question]]:
    """Parse a question file in the word2vec ``questions-words.txt`` format.

    ``: name`` lines start a section; every other non-blank line is one question ``a b c d``
    (``a : b :: c : d``), words separated by whitespace.

    Returns
    -------
    sections : list of str
        Section names in file order.
    questions : list of Question
        ``Question.section`` indexes `sections`.

    Raises
    ------
    FormatError
        If the file is missing or unreadable, a line does not hold 4 words, a question comes
        before the first ``:`` line, or there is no question at all; the message names the file
        and the 1-based line number. (gensim skips malformed lines silently, and reports
        0-based line numbers.)
    """
    path = Path(path)
    sections: list[str] = []
    questions: list[Question] = []
    for lineno, line in enumerate(_read_lines(path, "analogy questions"), start=1):
        if line.startswith(":"):
            sections.append(line.lstrip(": ").strip())  # gensim: line.lstrip(': ').strip()
            continue
        words = line.split()
        if not words:
            continue
        if len(words) != 4:
            raise FormatError(
                f"{path}: line {lineno}: expected 4 words 'a b c d' or a ': section' line, "
                f"found {len(words)} word{'s' if len(words) != 1 else ''}"
            )
        if not sections:
            raise FormatError(f"{path}: line {lineno}: question before the first ': section' line")
        questions.append(Question(len(sections) - 1, lineno, *words))
    if not questions:
        raise FormatError(
            f"{path}: no questions found, expected ': section' lines then 'a b c d' lines"
        )
    return sections, questions


def read_pairs(path: str | os.PathLike) -> list[tuple[str, str, float, int]]:
    """Parse a word-pair file: ``a<TAB>b<TAB>score`` lines, ``#`` comments, blank lines ignored.

    Lines without a tab are split on whitespace.

    Returns
    -------
    list of (a, b, score, line)
        Words as written, the human score, and the 1-based line number.

    Raises
    ------
    FormatError
        If the file is missing or unreadable, a line does not hold 3 fields, a score is not a
        number, or there is no pair at all (message with file and line number). gensim skips
        such lines silently.
    """
    path = Path(path)
    out: list[tuple[str, str, float, int]] = []
    for lineno, line in enumerate(_read_lines(path, "word pairs"), start=1):
        if line.startswith("#") or not line.strip():
            continue
        parts = line.split("\t") if "\t" in line else line.split()
        if len(parts) != 3:
            raise FormatError(
                f"{path}: line {lineno}: expected 3 fields 'a<TAB>b<TAB>score', found {len(parts)}"
            )
        try:
            score = float(parts[2])
        except ValueError:
            raise FormatError(
                f"{path}: line {lineno}: score {parts[2].strip()!r} is not a number"
            ) from None
        if not math.isfinite(score):
            raise FormatError(f"{path}: line {lineno}: score {parts[2].strip()!r} is not finite")
        out.append((parts[0].strip(), parts[1].strip(), score, lineno))
    if not out:
        raise FormatError(f"{path}: no word pairs found, expected 'a<TAB>b<TAB>score' lines")
    return out


