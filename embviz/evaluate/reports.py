"""The results of an evaluation: per-section scores, misses, and the two reports."""

from __future__ import annotations

from dataclasses import dataclass, field


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


