"""Intrinsic evaluation: analogy accuracy (3CosAdd, 3CosMul) and word-pair correlation.

Two standard benchmarks, with the numbers of the reference implementation, gensim
``KeyedVectors.evaluate_word_analogies`` and ``evaluate_word_pairs``:

- **Analogies**: the Google analogy set (Mikolov et al., 2013, "Efficient Estimation of Word
  Representations in Vector Space"; ``questions-words.txt``), answered by 3CosAdd (Mikolov et
  al., 2013) or 3CosMul (Levy & Goldberg, 2014, "Linguistic Regularities in Sparse and
  Explicit Word Representations"). All questions are answered in batched matrix products by
  :func:`embviz.query.analogy_ids`, not one query at a time.
- **Word pairs**: Pearson and Spearman correlation (scipy) between human similarity scores and
  cosine similarities, on WordSim-353 (Finkelstein et al., 2002, "Placing Search in Context:
  The Concept Revisited") and SimLex-999 (Hill et al., 2015, "SimLex-999: Evaluating Semantic
  Models with (Genuine) Similarity Estimation").

The default data files are the copies shipped with gensim (``gensim/test/test_data``); they
are located without importing gensim. Nothing here prints, exits or reads stdin.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Literal, Sequence

import numpy as np

from embviz import analogy_bound
from embviz.errors import EmbvizError, FormatError, InvalidQuery, MissingDependency

if TYPE_CHECKING:
    from embviz.vectors import Vectors

#: gensim's default ``restrict_vocab``: only the first 300,000 keys are candidates.
DEFAULT_RESTRICT = 300_000
#: Candidates kept per question, as gensim's ``most_similar(..., topn=5)`` inside
#: ``evaluate_word_analogies``: the prediction is the first of them that is not a question word.
_TOPN = 5
#: Questions per call of the batched kernel (a progress update after each).
_CHUNK_CELLS = 1 << 28

GENSIM_QUESTIONS = "questions-words.txt"
GENSIM_PAIRS = ("wordsim353.tsv", "simlex999.txt")

Progress = Callable[[int, int], None]
OovPolicy = Literal["skip", "zero"]


# -- results ---------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class SectionScore:
    """Analogy accuracy of one section of a question file (or of all of them: ``total``).

    Attributes
    ----------
    section : str
        The section name from its ``: section`` line; ``"total"`` for the overall row.
    correct : int
        Questions whose prediction is the expected key.
    total : int
        Questions answered: those whose four words are all in the vocabulary used (the first
        `restrict` keys); as gensim's ``len(correct) + len(incorrect)``.
    accuracy : float
        ``correct / total``, in [0, 1]; NaN when no question of the section was answered
        (gensim reports 0.0 there).
    coverage : float
        ``total / questions in the file`` for this section, in [0, 1].
    """

    section: str
    correct: int
    total: int
    accuracy: float
    coverage: float


@dataclass(frozen=True, slots=True)
class AnalogyMiss:
    """A wrong answer: ``a : b :: c : expected``, the model said ``predicted``.

    The four question words are as written in the file; ``predicted`` is the key as spelled in
    the vocabulary ("" if there was no candidate at all).
    """

    section: str
    a: str
    b: str
    c: str
    expected: str
    predicted: str


@dataclass(frozen=True)
class AnalogyReport:
    """Result of :func:`evaluate_analogies`.

    Attributes
    ----------
    sections : list of SectionScore
        One per ``: section`` of the file, in file order (sections without an answered
        question included, with ``total == 0``).
    total : SectionScore
        All sections together, named ``"total"``; its coverage is answered / all questions.
    errors : list of AnalogyMiss
        The wrong answers, in file order.
    method : str
        ``"cosadd"`` or ``"cosmul"``.
    restrict : int or None
        The number of candidate keys actually used (``min(restrict, count)``).
    questions : str
        The question file.
    asked : int
        Questions in the file (answered or not).
    """

    sections: list[SectionScore]
    total: SectionScore
    errors: list[AnalogyMiss] = field(default_factory=list)
    method: str = "cosadd"
    restrict: int | None = None
    questions: str = ""
    asked: int = 0

    def rows(self) -> list[SectionScore]:
        """Return the rows to print: every section, then the ``total`` row."""
        return [*self.sections, self.total]


@dataclass(frozen=True, slots=True)
class PairsReport:
    """Result of :func:`evaluate_word_pairs` on one word-pair file.

    Attributes
    ----------
    dataset : str
        The file's name without its suffix (``wordsim353``, ``simlex999``).
    pairs : int
        Valid pairs in the file.
    used : int
        Pairs in the correlation: ``pairs - oov`` with ``oov="skip"``, ``pairs`` with ``"zero"``.
    oov : int
        Pairs with a key outside the vocabulary used (the first `restrict` keys).
    oov_ratio : float
        ``oov / pairs``, in [0, 1] (gensim returns the same number in percent).
    policy : str
        ``"skip"`` (OOV pairs left out, gensim's default) or ``"zero"`` (OOV pairs scored 0.0,
        gensim's ``dummy4unknown=True``).
    pearson, spearman : float
        Pearson and Spearman correlation of model cosines with the human scores, in [-1, 1]
        (NaN when either side is constant).
    pearson_p, spearman_p : float
        Their two-sided p-values, in [0, 1].
    """

    dataset: str
    pairs: int
    used: int
    oov: int
    oov_ratio: float
    policy: str
    pearson: float
    pearson_p: float
    spearman: float
    spearman_p: float


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
    from embviz.formats import open_bytes

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


def evaluate_analogies(
    vectors: Vectors,
    questions: str | os.PathLike | None = None,
    *,
    method: str = "cosadd",
    restrict: int | None = DEFAULT_RESTRICT,
    case_insensitive: bool = True,
    progress: Progress | None = None,
    search: str = "auto",
) -> AnalogyReport:
    """Analogy accuracy per section, as gensim ``KeyedVectors.evaluate_word_analogies``.

    Every question ``a b c d`` asks ``a : b :: c : ?`` and expects ``d`` (Mikolov et al.,
    2013). With the defaults the numbers are gensim's exactly (it is the reference
    implementation):

    - only the first `restrict` keys are candidates, and a question with a word outside them
      is skipped (it lowers ``coverage``, not ``accuracy``);
    - with `case_insensitive`, words are compared upper-cased, and a word stands for the first
      key (in file order) that upper-cases to it;
    - ``a``, ``b`` and ``c`` are excluded from the answers; of the 5 best remaining keys, the
      prediction is the first one that does not upper-case to a question word (gensim's
      ``most_similar(topn=5)`` loop); if all 5 do, the prediction is the 5th, as in gensim.

    Parameters
    ----------
    vectors : Vectors
        The table; its row order should be frequency order (as in word2vec and GloVe files).
    questions : path, optional
        A file in the ``questions-words.txt`` format (may be gzip/bz2/xz compressed). Default:
        the Google analogy set shipped with gensim (19,544 questions in 14 sections).
    method : {"cosadd", "cosmul"}
        3CosAdd: argmax cos(x, b - a + c) over unit vectors (Mikolov et al., 2013; gensim's
        only method: its ``similarity_function`` parameter is ignored). 3CosMul:
        argmax cos'(x, b) cos'(x, c) / (cos'(x, a) + 1e-6) with cos' = (1 + cos) / 2 (Levy &
        Goldberg, 2014), as gensim ``most_similar_cosmul``.
    restrict : int or None
        Candidate and vocabulary size, >= 1 (gensim's ``restrict_vocab``); None: every key.
    case_insensitive : bool
        Compare upper-cased words (gensim's default).
    progress : callable ``(done, total)``, optional
        Called as the questions are answered, with the number answered so far (or the share of
        the search done, in questions) and the number to answer.
    search : {"auto", "bound", "brute"}
        How the best answers are found; all give the same predictions. ``"brute"`` scores
        every candidate for every question, in batched matrix products. ``"bound"`` scores a
        question only on the blocks of candidates whose upper bound reaches its best score so
        far (:mod:`embviz.analogy_bound`; 3.7x faster on the Google set and 300,000 keys).
        ``"auto"`` takes ``"bound"`` when the questions share their word pairs and there are
        enough of them and of the candidates for it to pay.

    Returns
    -------
    AnalogyReport
        ``sections`` (per-section correct/total/accuracy/coverage), ``total`` and ``errors``.

    Raises
    ------
    FormatError
        If the question file is missing or malformed (message with file and line number).
    InvalidQuery
        If `method` or `search` is unknown, or ``restrict < 1``.
    MissingDependency
        If `questions` is None and gensim (which ships the default set) is not installed.
    """
    if method not in ("cosadd", "cosmul", "add", "mul"):
        raise InvalidQuery(f"unknown analogy method {method!r}: expected 'cosadd' or 'cosmul'")
    if search not in ("auto", "brute", "bound"):
        raise InvalidQuery(f"unknown search {search!r}: expected 'auto', 'brute' or 'bound'")
    method = {"add": "cosadd", "mul": "cosmul"}.get(method, method)
    path = Path(questions) if questions is not None else gensim_data(GENSIM_QUESTIONS)
    names, qs = read_questions(path)
    ok, n = _vocab(vectors, restrict, case_insensitive)
    norm = str.upper if case_insensitive else (lambda s: s)

    # Questions whose four words are all in the vocabulary used, as row ids.
    used: list[Question] = []
    ids: list[tuple[int, int, int, int]] = []
    for q in qs:
        try:
            ids.append((ok[norm(q.a)], ok[norm(q.b)], ok[norm(q.c)], ok[norm(q.d)]))
        except KeyError:
            continue
        used.append(q)
    arr = np.asarray(ids, dtype=np.int64).reshape(len(used), 4)
    if search == "auto":
        pays = analogy_bound.worthwhile(arr[:, 0], arr[:, 1], arr[:, 2], n)
        search = "bound" if pays else "brute"
    if search == "bound":
        variants = _case_variants(vectors, ok, n, used) if case_insensitive else {}
        predictions = _predict_bound(vectors, arr, used, variants, n, method, norm, progress)
    else:
        predictions = _predict_brute(vectors, arr, used, n, method, norm, progress)

    # gensim's prediction rule, on upper-cased (or as-is) words.
    keys = vectors.keys
    correct = [0] * len(names)
    answered = [0] * len(names)
    in_file = [0] * len(names)
    errors: list[AnalogyMiss] = []
    for q in qs:
        in_file[q.section] += 1
    for q, predicted in zip(used, predictions):
        answered[q.section] += 1
        if predicted is not None and norm(keys[predicted]) == norm(q.d):
            correct[q.section] += 1
        else:
            errors.append(
                AnalogyMiss(
                    names[q.section],
                    q.a,
                    q.b,
                    q.c,
                    q.d,
                    "" if predicted is None else keys[predicted],
                )
            )
    sections = [_score(name, correct[s], answered[s], in_file[s]) for s, name in enumerate(names)]
    total = _score("total", sum(correct), sum(answered), len(qs))
    return AnalogyReport(sections, total, errors, method, n, str(path), len(qs))


def _predict_brute(
    vectors: Vectors,
    arr: np.ndarray,
    used: list[Question],
    n: int,
    method: str,
    norm: Callable[[str], str],
    progress: Progress | None,
) -> list[int | None]:
    """Predict as gensim from each question's top 5, every candidate scored (batched)."""
    from embviz.query import analogy_ids

    m = len(used)
    top = np.zeros((m, _TOPN), dtype=np.int64)
    width = np.zeros(m, dtype=np.int64)
    chunk = max(1, _CHUNK_CELLS // max(n, 1))
    unit = vectors.unit
    if progress is not None:
        progress(0, m)
    for lo in range(0, m, chunk):
        hi = min(m, lo + chunk)
        got, _ = analogy_ids(
            unit, arr[lo:hi, 0], arr[lo:hi, 1], arr[lo:hi, 2], _TOPN, method=method, restrict=n
        )
        top[lo:hi, : got.shape[1]] = got
        width[lo:hi] = got.shape[1]
        if progress is not None:
            progress(hi, m)
    keys = vectors.keys
    out: list[int | None] = []
    for q, row, w in zip(used, top.tolist(), width.tolist()):
        ignore = {norm(q.a), norm(q.b), norm(q.c)}
        predicted = None
        for i in row[:w]:
            predicted = i
            if norm(keys[i]) not in ignore:
                break
        out.append(predicted)
    return out


def _case_variants(
    vectors: Vectors, ok: dict[str, int], n: int, used: list[Question]
) -> dict[str, list[int]]:
    """Upper-cased question words that several of the first `n` keys share, with their rows."""
    if len(ok) == n:  # no two keys upper-case alike
        return {}
    norm = str.upper
    wanted = {norm(w) for q in used for w in (q.a, q.b, q.c)}
    rows: dict[str, list[int]] = {}
    for i, key in enumerate(vectors.keys[:n]):
        word = norm(key)
        if word in wanted:
            rows.setdefault(word, []).append(i)
    return {w: r for w, r in rows.items() if len(r) > 1}


def _predict_bound(
    vectors: Vectors,
    arr: np.ndarray,
    used: list[Question],
    variants: dict[str, list[int]],
    n: int,
    method: str,
    norm: Callable[[str], str],
    progress: Progress | None,
) -> list[int | None]:
    """Predict as gensim from each question's best answer, found by branch and bound.

    The best answer excludes every key that normalises to a question word
    (:mod:`embviz.analogy_bound`). gensim excludes only the three rows the words stand for,
    then skips the other case variants of the question words among its top 5; so if 5 or
    more such variants score above the best answer, gensim predicts the 5th of them instead,
    and if there is no other answer, the last variant.
    """
    unit = vectors.unit
    extra: dict[int, list[int]] = {}
    for i, (q, (ia, ib, ic, _)) in enumerate(zip(used, arr.tolist())):
        rows = [r for w in {norm(q.a), norm(q.b), norm(q.c)} for r in variants.get(w, ())]
        rows = [r for r in rows if r not in (ia, ib, ic)]
        if rows:
            extra[i] = rows
    xq = np.fromiter((i for i, r in extra.items() for _ in r), dtype=np.int64)
    xr = np.fromiter((x for r in extra.values() for x in r), dtype=np.int64)
    best, score = analogy_bound.best_answers(
        unit, arr[:, 0], arr[:, 1], arr[:, 2], method=method, n=n, exclude=(xq, xr),
        hints=arr[:, 3], progress=progress,
    )
    out: list[int | None] = [None if i < 0 else i for i in best.tolist()]
    for i, rows in extra.items():
        ia, ib, ic, _ = arr[i].tolist()
        vs = analogy_bound.scores_at(unit, ia, ib, ic, np.asarray(rows), method=method).tolist()
        e, s = out[i], float(score[i])
        above = sorted(
            (-v, r) for v, r in zip(vs, rows) if e is None or v > s or (v == s and r < e)
        )
        if len(above) >= _TOPN:
            out[i] = above[_TOPN - 1][1]
        elif e is None and above:
            out[i] = above[-1][1]
    return out


def _score(section: str, correct: int, total: int, in_file: int) -> SectionScore:
    accuracy = correct / total if total else math.nan
    coverage = total / in_file if in_file else math.nan
    return SectionScore(section, correct, total, accuracy, coverage)


def write_errors(report: AnalogyReport, path: str | os.PathLike) -> Path:
    """Write the wrong answers of `report` as TSV (with a header row), atomically.

    Columns: ``section, a, b, c, expected, predicted``. The file is written to a temporary
    file beside `path` and renamed, so it is either complete or untouched.

    Raises
    ------
    FormatError
        If the directory does not exist or is not writable.
    """
    from embviz.formats import atomic_write
    from embviz.output import tsv_escape

    cols = ("section", "a", "b", "c", "expected", "predicted")

    def write(f) -> None:  # noqa: ANN001
        lines = ["\t".join(cols)]
        lines += ["\t".join(tsv_escape(getattr(e, c)) for c in cols) for e in report.errors]
        f.write(("\n".join(lines) + "\n").encode("utf-8"))

    return atomic_write(path, write)


# -- word pairs ------------------------------------------------------------------------------
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


def evaluate_word_pairs(
    vectors: Vectors,
    pairs: str | os.PathLike | None = None,
    *,
    restrict: int | None = DEFAULT_RESTRICT,
    case_insensitive: bool = True,
    oov: OovPolicy = "skip",
) -> PairsReport:
    """Correlation of cosine similarities with human scores, as gensim ``evaluate_word_pairs``.

    Parameters
    ----------
    vectors : Vectors
    pairs : path, optional
        A word-pair file (``a<TAB>b<TAB>score``, ``#`` comments). Default: WordSim-353
        (Finkelstein et al., 2002) as shipped with gensim; see :func:`evaluate_pair_sets` for
        WordSim-353 and SimLex-999 (Hill et al., 2015) together.
    restrict : int or None
        Only the first `restrict` keys count as known (gensim's ``restrict_vocab``), >= 1.
    case_insensitive : bool
        Compare upper-cased words; a word stands for the first key that upper-cases to it.
    oov : {"skip", "zero"}
        Pairs with an unknown word: left out (gensim's default) or scored 0.0 (gensim's
        ``dummy4unknown=True``).

    Returns
    -------
    PairsReport
        Pearson and Spearman (scipy ``pearsonr``/``spearmanr``) in [-1, 1] with p-values, and
        ``oov_ratio`` in [0, 1] (gensim: the same in percent).

    Raises
    ------
    FormatError
        If the file is missing or malformed.
    EmbvizError
        If fewer than 2 pairs can be scored (every pair has an unknown word).
    InvalidQuery
        If `oov` is not "skip" or "zero", or ``restrict < 1``.
    MissingDependency
        If `pairs` is None and gensim (which ships the default set) is not installed.
    """
    if oov not in ("skip", "zero"):
        raise InvalidQuery(f"unknown OOV policy {oov!r}: expected 'skip' or 'zero'")
    path = Path(pairs) if pairs is not None else gensim_data(GENSIM_PAIRS[0])
    rows = read_pairs(path)
    ok, _ = _vocab(vectors, restrict, case_insensitive)
    norm = str.upper if case_insensitive else (lambda s: s)
    gold: list[float] = []
    a_ids: list[int] = []
    b_ids: list[int] = []
    known: list[bool] = []
    n_oov = 0
    for a, b, score, _line in rows:
        ia, ib = ok.get(norm(a)), ok.get(norm(b))
        if ia is None or ib is None:
            n_oov += 1
            if oov == "skip":
                continue
            a_ids.append(0)
            b_ids.append(0)
            known.append(False)
        else:
            a_ids.append(ia)
            b_ids.append(ib)
            known.append(True)
        gold.append(score)
    if len(gold) < 2:
        raise EmbvizError(
            f"{path}: only {len(gold)} of {len(rows)} pairs have both words in the first "
            f"{min(restrict or vectors.count, vectors.count):,} keys; need at least 2 to correlate"
        )
    unit = vectors.unit
    ua = np.asarray(unit[np.asarray(a_ids, dtype=np.int64)], dtype=np.float32)
    ub = np.asarray(unit[np.asarray(b_ids, dtype=np.int64)], dtype=np.float32)
    model = np.einsum("ij,ij->i", ua, ub).astype(np.float64)
    model[~np.asarray(known)] = 0.0
    pearson, pearson_p, spearman, spearman_p = _correlate(np.asarray(gold), model)
    return PairsReport(
        dataset=_dataset_name(path),
        pairs=len(rows),
        used=len(gold),
        oov=n_oov,
        oov_ratio=n_oov / len(rows),
        policy=oov,
        pearson=pearson,
        pearson_p=pearson_p,
        spearman=spearman,
        spearman_p=spearman_p,
    )


def evaluate_pair_sets(
    vectors: Vectors,
    paths: Sequence[str | os.PathLike] | None = None,
    **kwargs,  # noqa: ANN003 - passed to evaluate_word_pairs
) -> list[PairsReport]:
    """:func:`evaluate_word_pairs` on several files; default WordSim-353 and SimLex-999."""
    files = list(paths) if paths else default_pair_files()
    return [evaluate_word_pairs(vectors, p, **kwargs) for p in files]


def _correlate(gold: np.ndarray, model: np.ndarray) -> tuple[float, float, float, float]:
    import warnings

    from scipy import stats

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # constant input: NaN, reported as such
        sp = stats.spearmanr(gold, model)
        pe = stats.pearsonr(gold, model)
    return float(pe[0]), float(pe[1]), float(sp[0]), float(sp[1])


def _dataset_name(path: Path) -> str:
    name = path.name
    for suffix in (".gz", ".bz2", ".xz"):
        name = name.removesuffix(suffix)
    return Path(name).stem or name
