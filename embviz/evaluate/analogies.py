"""Intrinsic evaluation: analogy accuracy (3CosAdd, 3CosMul) and word-pair correlation.

Two standard benchmarks, with the numbers of the reference implementation, gensim
``KeyedVectors.evaluate_word_analogies`` and ``evaluate_word_pairs``:

- **Analogies**: the Google analogy set (Mikolov et al., 2013, "Efficient Estimation of Word
  Representations in Vector Space"; ``questions-words.txt``), answered by 3CosAdd (Mikolov et
  al., 2013) or 3CosMul (Levy & Goldberg, 2014, "Linguistic Regularities in Sparse and
  Explicit Word Representations"). All questions are answered in batched matrix products by
  :func:`embviz.search.analogy_ids`, not one query at a time.
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
from pathlib import Path
from typing import TYPE_CHECKING, Callable

import numpy as np

from embviz.errors import InvalidQuery
from embviz.evaluate.data import (
    DEFAULT_RESTRICT,
    GENSIM_QUESTIONS,
    Progress,
    Question,
    _vocab,
    gensim_data,
    read_questions,
)
from embviz.evaluate.reports import AnalogyMiss, AnalogyReport, SectionScore
from embviz.search import bound as analogy_bound

if TYPE_CHECKING:
    from embviz.vectors import Vectors

#: Candidates kept per question, as gensim's ``most_similar(..., topn=5)`` inside
#: ``evaluate_word_analogies``: the prediction is the first of them that is not a question word.
_TOPN = 5
#: Questions per call of the batched kernel (a progress update after each).
_CHUNK_CELLS = 1 << 28


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
        far (:mod:`embviz.search.bound`; 3.7x faster on the Google set and 300,000 keys).
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
    from embviz.search import analogy_ids

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
    (:mod:`embviz.search.bound`). gensim excludes only the three rows the words stand for,
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
    from embviz.io import atomic_write
    from embviz.output import tsv_escape

    cols = ("section", "a", "b", "c", "expected", "predicted")

    def write(f) -> None:  # noqa: ANN001
        lines = ["\t".join(cols)]
        lines += ["\t".join(tsv_escape(getattr(e, c)) for c in cols) for e in report.errors]
        f.write(("\n".join(lines) + "\n").encode("utf-8"))

    return atomic_write(path, write)


