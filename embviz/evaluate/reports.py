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




# -- next-item evaluation ----------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class NextItemScore:
    """The next-item accuracy of one model at one cut-off `k`, over the evaluated users.

    Each evaluated user has one target item, ranked among the whole catalogue (every row of
    the item table, less the user's seen items unless they are kept); ``rank`` is its 1-based
    position, a miss when it is not in the top `k`.

    Attributes
    ----------
    model : str
        ``"items.parquet (cosine)"`` for the vectors, ``"popularity"``, ``"co-occurrence"``.
    k : int
        The cut-off.
    users : int
        Users evaluated (the same for every model).
    hr, hr_lo, hr_hi : float
        Hit rate@k: the share of users whose target is in their top `k`, in [0, 1] (recall@k
        with one relevant item), and its 95% bootstrap interval over users.
    mrr, mrr_lo, mrr_hi : float
        MRR@k: the mean of ``1 / rank`` (0 for a miss), in [0, 1], and its interval.
    ndcg, ndcg_lo, ndcg_hi : float
        NDCG@k with one relevant item: the mean of ``1 / log2(rank + 1)`` (0 for a miss), in
        [0, 1], and its interval.
    coverage : float
        Catalogue coverage@k: the share of the item table's rows in at least one user's top
        `k`, in [0, 1].
    gini : float
        Gini coefficient of how often each item of the table is in a top `k`, in [0, 1]
        (0: every item equally often; near 1: a few items everywhere).
    tail : float
        Share of the recommended slots (users x k) taken by long-tail items: items outside the
        most popular 20% of the table by training events, in [0, 1].
    cold : int
        Evaluated targets with no training event (in the table, ranked like any other).
    unknown : int
        Targets not in the item table: no model can rank them; left out of `users` and counted.
    """

    model: str
    k: int
    users: int
    hr: float
    hr_lo: float
    hr_hi: float
    mrr: float
    mrr_lo: float
    mrr_hi: float
    ndcg: float
    ndcg_lo: float
    ndcg_hi: float
    coverage: float
    gini: float
    tail: float
    cold: int
    unknown: int


@dataclass(frozen=True, slots=True)
class DecileScore:
    """Hit rate and NDCG at `k` for the users whose target is in one item-popularity decile.

    Deciles split the item table's rows by training events, most popular first (ties by row
    order): decile 1 holds the most popular tenth of the catalogue, decile 10 the least (cold
    items included). Intervals are 95% bootstrap intervals over those users.
    """

    model: str
    k: int
    decile: int
    items: int
    users: int
    hr: float
    hr_lo: float
    hr_hi: float
    ndcg: float
    ndcg_lo: float
    ndcg_hi: float


@dataclass(frozen=True)
class NextItemReport:
    """Result of :func:`embviz.evaluate.next_item`.

    Attributes
    ----------
    scores : list of NextItemScore
        One per model and `k`: the vectors first, then the baselines, each for every `k`.
    deciles : list of DecileScore
        One per model, `k` and decile of the target's popularity.
    ranks : dict of str to ndarray ``(users,)`` int64
        Each model's rank of each evaluated user's target (1-based; 0: not in the top
        ``max(k)``), in the order of `user_keys`.
    user_keys : tuple of str
        The evaluated users.
    split : str
        ``"leave-last-out"`` or ``"time >= T"`` (the global split).
    metric : str
        The metric of the vectors (cosine, dot, euclidean).
    context : int
        Items whose vectors are averaged into the query (1: the last item before the target).
    exclude_seen : bool
        Whether each user's seen items were excluded from the ranking.
    catalogue : int
        Items ranked: rows of the item table.
    users_total : int
        Users in the log (with at least one kept event).
    one_event : int
        Users skipped: only one event (leave-last-out: nothing to predict from).
    no_history : int
        Users skipped: no event with a known item before the target (global split: also
        users whose first event is at or after the split time).
    no_target : int
        Users without an event at or after the split time (global split only).
    cold, unknown, repeats : int
        Evaluated targets without a training event; targets not in the item table (left out);
        evaluated targets the user had already seen (misses when `exclude_seen`).
    zero_queries : int
        Users whose query vector is all zeros: with cosine they have no ranking (misses).
    events, train_events : int
        Events read (kept); events that count as training (popularity, co-occurrence, tail).
    resamples, seed : int
        The bootstrap's resamples (0: no intervals) and seed.
    source : str
        The log's file name.
    time_column : str or None
        The column events were ordered by; None: file order.
    seconds : dict of str to float
        Wall time spent per model (the vectors: queries, kernel, ranks).
    """

    scores: list[NextItemScore]
    deciles: list[DecileScore]
    ranks: dict
    user_keys: tuple[str, ...]
    split: str
    metric: str
    context: int
    exclude_seen: bool
    catalogue: int
    users_total: int
    one_event: int
    no_history: int
    no_target: int
    cold: int
    unknown: int
    repeats: int
    zero_queries: int
    events: int
    train_events: int
    resamples: int
    seed: int
    source: str = ""
    time_column: str | None = None
    seconds: dict = field(default_factory=dict)

    def rows(self) -> list[NextItemScore]:
        """Return the rows to print: one per model and `k`."""
        return list(self.scores)

    @property
    def users(self) -> int:
        """Users evaluated."""
        return len(self.user_keys)

    def summary(self) -> str:
        """One line saying what was evaluated and what was left out (for stderr)."""
        skipped = []
        if self.one_event:
            skipped.append(f"{self.one_event:,} with one event")
        if self.no_history:
            skipped.append(f"{self.no_history:,} without a known item before the target")
        if self.no_target:
            skipped.append(f"{self.no_target:,} without an event at or after the split time")
        if self.unknown:
            skipped.append(f"{self.unknown:,} whose target is not in the item table")
        text = (
            f"next-item ({self.split}, events ordered by "
            f"{repr(self.time_column) if self.time_column else 'file order'}): {self.users:,} of "
            f"{self.users_total:,} users evaluated"
            + (f" (skipped: {'; '.join(skipped)})" if skipped else "")
            + f"; targets: {self.cold:,} cold (no training event), {self.repeats:,} seen before"
            + (" (misses: seen items are excluded)" if self.exclude_seen and self.repeats else "")
            + f"; ranking all {self.catalogue:,} items"
            + ("" if self.exclude_seen else " (seen items kept)")
            + f"; query: {'last item' if self.context == 1 else f'mean of the last {self.context} items'}"
        )
        if self.zero_queries:
            text += f"; {self.zero_queries:,} all-zero queries (misses)"
        if self.resamples:
            text += f"; 95% intervals: bootstrap over users, {self.resamples:,} resamples, seed {self.seed}"
        return text
