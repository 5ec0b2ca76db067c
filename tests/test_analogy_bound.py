"""Branch-and-bound analogy answers (embviz.search.bound): the same answers as brute force."""

from __future__ import annotations

import numpy as np
import pytest

from embviz.errors import InvalidQuery
from embviz.evaluate import gensim_data
from embviz.search import analogy_ids
from embviz.search import bound as analogy_bound
from embviz.search.bound import best_answers, scores_at, worthwhile


def google_ids(vectors, n: int) -> np.ndarray:
    """The Google analogy questions whose four words are among the first `n` keys: ``(m, 4)``."""
    index = {k: i for i, k in enumerate(vectors.keys[:n])}
    rows = []
    for line in gensim_data("questions-words.txt").read_text().splitlines():
        words = line.lower().split()
        if line.startswith(":") or len(words) != 4 or not all(w in index for w in words):
            continue
        rows.append([index[w] for w in words])
    return np.asarray(rows, dtype=np.int64)


def brute(unit, q, n, method="cosadd"):
    ids, scores = analogy_ids(unit, q[:, 0], q[:, 1], q[:, 2], 1, method=method, restrict=n)
    return ids[:, 0], scores[:, 0]


@pytest.fixture(scope="module")
def questions(sample) -> np.ndarray:
    return google_ids(sample, sample.count)


# -- agreement with brute force on real vectors --------------------------------------------------
@pytest.mark.slow
@pytest.mark.parametrize("method", ["cosadd", "cosmul"])
def test_equals_brute_force_on_the_google_set(sample, questions, method) -> None:
    q = questions[::3]
    ids, scores = best_answers(
        sample.unit, q[:, 0], q[:, 1], q[:, 2], method=method, n=sample.count, hints=q[:, 3]
    )
    want_ids, want_scores = brute(sample.unit, q, sample.count, method)
    assert len(q) > 5000
    np.testing.assert_array_equal(ids, want_ids)
    np.testing.assert_allclose(scores, want_scores, rtol=2e-6, atol=2e-6)
    # and the answers are real: 3CosAdd gets about half of them right on GloVe 50d
    assert 0.3 < np.mean(ids == q[:, 3]) < 0.7


@pytest.mark.slow
def test_restricted_candidates_and_hints_do_not_change_answers(sample, questions) -> None:
    n = 20_000
    q = questions[np.all(questions < n, axis=1)][::2]
    want, _ = brute(sample.unit, q, n)
    for hints in (None, q[:, 3], np.full(len(q), -1), q[:, 0]):  # even a useless hint
        ids, _ = best_answers(sample.unit, q[:, 0], q[:, 1], q[:, 2], n=n, hints=hints)
        np.testing.assert_array_equal(ids, want)
        assert ids.max() < n


def test_float16_rows_give_the_answers_of_their_float32_values(sample, questions) -> None:
    unit16 = sample.unit.astype(np.float16)
    q = questions[::7]
    ids, _ = best_answers(unit16, q[:, 0], q[:, 1], q[:, 2])
    want, _ = brute(unit16.astype(np.float32), q, len(unit16))
    np.testing.assert_array_equal(ids, want)


# -- exactness where the bound is tight: ties, exclusions, degenerate queries -------------------
def tied_table(seed: int = 0) -> np.ndarray:
    """200 distinct random unit rows, each repeated at 3 scattered ids: every score is tied."""
    rng = np.random.default_rng(seed)
    base = rng.normal(size=(200, 8)).astype(np.float32)
    base /= np.linalg.norm(base, axis=1, keepdims=True)
    rows = np.repeat(base, 3, axis=0)
    return np.ascontiguousarray(rows[rng.permutation(len(rows))])


def test_ties_go_to_the_lower_row_id_as_in_brute_force(monkeypatch) -> None:
    monkeypatch.setattr(analogy_bound, "_BLOCK_ROWS", {"cosadd": 8, "cosmul": 8})  # 75 blocks
    unit = tied_table()
    rng = np.random.default_rng(1)
    q = rng.integers(0, len(unit), size=(400, 3))
    for method in ("cosadd", "cosmul"):
        ids, scores = best_answers(unit, q[:, 0], q[:, 1], q[:, 2], method=method)
        want_ids, want_scores = brute(unit, q, len(unit), method)
        np.testing.assert_array_equal(ids, want_ids)
        np.testing.assert_allclose(scores, want_scores, rtol=2e-6, atol=2e-6)
        # each answer has two twins with the same vector; the answer is the lowest of the three
        twins = np.flatnonzero((unit == unit[ids[0]]).all(axis=1))
        assert len(twins) == 3 and ids[0] == min(set(twins) - set(q[0].tolist()))


def test_extra_exclusions_and_nothing_left() -> None:
    unit = np.eye(4, dtype=np.float32)
    a, b, c = np.array([0]), np.array([1]), np.array([2])
    ids, scores = best_answers(unit, a, b, c)
    assert ids.tolist() == [3]  # the only candidate left, with cosine 0
    assert scores.tolist() == [0.0]
    ids, scores = best_answers(unit, a, b, c, exclude=(np.array([0]), np.array([3])))
    assert ids.tolist() == [-1] and scores.tolist() == [-np.inf]
    # rows beyond n are never candidates, and exclusions beyond n are ignored
    ids, _ = best_answers(unit, a, b, c, n=3, exclude=(np.array([0]), np.array([7])))
    assert ids.tolist() == [-1]


def test_zero_query_and_zero_rows_score_zero_as_in_brute_force(monkeypatch) -> None:
    monkeypatch.setattr(analogy_bound, "_BLOCK_ROWS", {"cosadd": 2, "cosmul": 2})
    rng = np.random.default_rng(3)
    unit = rng.normal(size=(40, 5)).astype(np.float32)
    unit /= np.linalg.norm(unit, axis=1, keepdims=True)
    unit[[5, 9, 17]] = 0.0  # all-zero rows (the unit of a zero vector)
    unit[2], unit[4] = np.eye(5)[0], -np.eye(5)[0]  # b - a + c == 0 for a=9, b=2, c=4
    q = np.array([[9, 2, 4], [0, 1, 3], [6, 7, 8]])
    for method in ("cosadd", "cosmul"):
        ids, scores = best_answers(unit, q[:, 0], q[:, 1], q[:, 2], method=method)
        want_ids, want_scores = brute(unit, q, len(unit), method)
        np.testing.assert_array_equal(ids, want_ids)
        np.testing.assert_allclose(scores, want_scores, rtol=2e-6, atol=2e-6)
    ids, scores = best_answers(unit, q[:1, 0], q[:1, 1], q[:1, 2])
    assert ids.tolist() == [0] and scores.tolist() == [0.0]  # every score 0: the lowest id


def test_scores_at_gives_the_scores_of_brute_force(sample, questions) -> None:
    for method in ("cosadd", "cosmul"):
        for a, b, c, _ in questions[:50:10].tolist():
            ids, scores = analogy_ids(sample.unit, [a], [b], [c], 5, method=method)
            got = scores_at(sample.unit, a, b, c, ids[0], method=method)
            assert got.dtype == np.float32
            np.testing.assert_allclose(got, scores[0], rtol=2e-6, atol=2e-6)


# -- when it is used, progress, errors ----------------------------------------------------------
def test_worthwhile_only_for_many_questions_sharing_pairs(sample, questions) -> None:
    q = questions
    assert worthwhile(q[:, 0], q[:, 1], q[:, 2], sample.count)
    assert not worthwhile(q[:100, 0], q[:100, 1], q[:100, 2], sample.count)  # few questions
    assert not worthwhile(q[:, 0], q[:, 1], q[:, 2], 10_000)  # few candidates
    rng = np.random.default_rng(0)
    r = rng.integers(0, sample.count, size=(5000, 3))  # no shared pairs
    assert not worthwhile(r[:, 0], r[:, 1], r[:, 2], sample.count)


def test_progress_grows_to_the_number_of_questions(sample, questions) -> None:
    q = questions[::10]
    calls: list[tuple[int, int]] = []
    best_answers(sample.unit, q[:, 0], q[:, 1], q[:, 2], progress=lambda d, t: calls.append((d, t)))
    done = [d for d, _ in calls]
    assert {t for _, t in calls} == {len(q)}
    assert done == sorted(done) and done[-1] == len(q) and len(calls) > 10


@pytest.mark.slow
def test_question_chunks_give_the_same_answers(sample, questions, monkeypatch) -> None:
    q = questions[::11]
    want, _ = best_answers(sample.unit, q[:, 0], q[:, 1], q[:, 2])
    monkeypatch.setattr(analogy_bound, "_BOUND_CELLS", 1 << 16)  # a few hundred questions each
    got, _ = best_answers(sample.unit, q[:, 0], q[:, 1], q[:, 2])
    np.testing.assert_array_equal(got, want)


def test_bad_arguments() -> None:
    unit = np.eye(4, dtype=np.float32)
    with pytest.raises(InvalidQuery, match=r"unknown analogy method 'cos'"):
        best_answers(unit, [0], [1], [2], method="cos")
    with pytest.raises(InvalidQuery, match=r"question row ids must be in \[0, 3\), got 3\.\.3"):
        best_answers(unit, [0], [3], [2], n=3)
    ids, scores = best_answers(unit, [], [], [])
    assert ids.shape == (0,) and scores.shape == (0,)
