"""The compiled selection for large batches (`embviz.search.fused`) answers as the numpy one does.

Both give the exact top k (exact scores, ties to the lower row), so their ids and scores must be
equal bit for bit: random tables, exact ties (duplicate rows), hundreds of equal scores (the
overflow handed back to numpy), exclusions with repeats and ids out of range, fewer candidates
than k, tiny tables and many tiles (the tile sizes patched small). And the CSR exclusions that
`recommend` builds equal the per-user lists they replace.
"""

from __future__ import annotations

import numpy as np
import pytest

from embviz import Vectors
from embviz.io.interactions import Histories
from embviz.search import fused, selection
from embviz.search import recommender as R
from embviz.search.scorers import _Cosine
from embviz.search.selection import Exclusions


@pytest.fixture
def small_tiles(monkeypatch):
    """Every batch takes the compiled path, in tiles of 8 queries x 96 rows (many tiles, tails)."""
    monkeypatch.setattr(selection, "_FUSED_CELLS", 0)
    monkeypatch.setattr(fused, "_TILE_ROWS", 8)
    monkeypatch.setattr(fused, "_TILE_COLS", 96)


def both(x, q, k, exclude=None, row_norm=1.0):
    """(compiled answer, numpy answer) of the same selection."""
    m, n = len(q), len(x)
    assert selection._fusable(_Cosine(x, q, row_norm), m, n)
    a = selection._select(_Cosine(x, q, row_norm), m, n, k, exclude)
    b = selection._select_numpy(_Cosine(x, q, row_norm), m, n, k, exclude)
    return a, b


def assert_same(a, b):
    assert a[0].shape == b[0].shape and a[0].dtype == b[0].dtype == np.int64
    assert a[1].dtype == b[1].dtype == np.float32
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])


@pytest.mark.parametrize("k", [1, 10, 40])
def test_random_rows_with_exclusions(small_tiles, k):
    rng = np.random.default_rng(k)
    x = (rng.normal(size=(2500, 16)) * rng.uniform(0.3, 3, size=(2500, 1))).astype(np.float32)
    x.flags.writeable = False  # as a table's matrix is
    q = rng.normal(size=(101, 16)).astype(np.float32)
    exclude = [np.concatenate([rng.integers(0, 2500, rng.integers(0, 30)), [-1, 2500, 7, 7]]) for _ in range(101)]
    a, b = both(x, q, k, exclude, row_norm=float(np.linalg.norm(x, axis=1).max()))
    assert_same(a, b)
    for r, ex in enumerate(exclude):
        assert not set(a[0][r].tolist()) & set(ex.tolist())


def test_exact_ties_go_to_the_lower_row(small_tiles):
    rng = np.random.default_rng(3)
    base = rng.integers(-3, 4, size=(400, 8)).astype(np.float32)
    x = np.repeat(base, 3, axis=0)  # every row three times: exact ties
    q = rng.integers(-3, 4, size=(50, 8)).astype(np.float32)
    a, b = both(x, q, 7, row_norm=float(np.linalg.norm(x, axis=1).max()))
    assert_same(a, b)
    s = q.astype(np.float64) @ x.T.astype(np.float64)
    ref = np.lexsort((np.broadcast_to(np.arange(len(x)), s.shape), -s), axis=1)[:, :7]
    np.testing.assert_array_equal(a[0], ref)


def test_hundreds_of_equal_scores_overflow_to_numpy(small_tiles, monkeypatch):
    rng = np.random.default_rng(4)
    x = rng.normal(size=(3000, 8))
    x = (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)
    x[1000:1700] = x[5]  # 701 equal rows, the best for every query: more ties than candidate slots
    q = np.repeat(x[5:6], 20, axis=0) + rng.normal(scale=1e-3, size=(20, 8)).astype(np.float32)
    seen = []
    real = fused.select_fused
    monkeypatch.setattr(fused, "select_fused", lambda *a: seen.append(real(*a)) or seen[-1])
    a, b = both(x, q, 10)
    assert len(seen[0]) == 20  # every query overflowed
    assert_same(a, b)
    assert a[0][0].tolist() == [5, *range(1000, 1009)]


def test_fewer_candidates_than_k_and_tiny_tables(small_tiles):
    rng = np.random.default_rng(5)
    x = rng.normal(size=(200, 4)).astype(np.float32)
    q = rng.normal(size=(30, 4)).astype(np.float32)
    exclude = [list(range(195)) if r == 3 else [r] for r in range(30)]  # one query keeps 5 rows
    a, b = both(x, q, 10, exclude)
    assert a[0].shape == (30, 5)
    assert_same(a, b)
    assert_same(*both(x[:12], q, 3))  # fewer rows than a group of 16
    assert_same(*both(x[:12], q, 12))  # every row


def test_exclusions_table_is_a_sequence_of_lists():
    ex = Exclusions(np.array([0, 2, 2, 5]), np.array([4, 1, 9, 9, 0]))
    assert len(ex) == 3 and [e.tolist() for e in ex] == [[4, 1], [], [9, 9, 0]]
    assert ex[2].tolist() == [9, 9, 0] and ex[-1].tolist() == [9, 9, 0] and ex.lengths().tolist() == [2, 0, 3]
    assert [e.tolist() for e in ex.take([2, 0])] == [[9, 9, 0], [4, 1]]
    assert [e.tolist() for e in ex.take(np.array([False, True, True]))] == [[], [9, 9, 0]]
    with pytest.raises(IndexError):
        ex[3]
    x = np.random.default_rng(6).normal(size=(300, 4)).astype(np.float32)
    q = x[:3] + 0.1
    lists = selection._select_numpy(_Cosine(x, q), 3, 300, 4, [e.tolist() for e in ex])
    assert_same(selection._select_numpy(_Cosine(x, q), 3, 300, 4, ex), lists)


def test_recommend_exclusions_equal_the_per_user_lists():
    hist = Histories(users=("a", "b", "c"), indptr=np.array([0, 3, 3, 5]), items=np.array([7, 2, 7, 1, 0]),
                     weights=None, source="log", rows=5)
    always = np.array([4, 9])
    rows = np.array([2, -1, 0, 1])
    got = R._exclusions(hist, rows, always)
    assert [e.tolist() for e in got] == [[4, 9, 1, 0], [4, 9], [4, 9, 7, 2, 7], [4, 9]]
    assert [e.tolist() for e in R._exclusions(hist, rows, always[:0])] == [[1, 0], [], [7, 2, 7], []]
    assert [e.tolist() for e in R._exclusions(None, rows, always)] == [[4, 9]] * 4


@pytest.mark.parametrize("metric", ["dot", "cosine"])
def test_recommend_blocks_answer_the_same_either_way(monkeypatch, metric):
    rng = np.random.default_rng(8)
    items = Vectors([f"i{j}" for j in range(1500)],
                    rng.normal(size=(1500, 12)) * rng.uniform(0.5, 2, size=(1500, 1)))
    users = Vectors([f"u{j}" for j in range(90)], rng.normal(size=(90, 12)))
    lens = rng.integers(0, 40, 90)
    hist = Histories(users=users.keys, indptr=np.concatenate([[0], np.cumsum(lens)]),
                     items=rng.integers(0, 1500, int(lens.sum())), weights=None, source="log", rows=int(lens.sum()))
    who = R.resolve_users(user_table=users, histories=hist)

    def run():
        out = list(R.recommend_blocks(items, who, user_table=users, histories=hist, k=10, metric=metric,
                                      exclude_seen=True, exclude=[3, 5], block=32))
        return np.concatenate([o[1] for o in out]), np.concatenate([o[2] for o in out])

    monkeypatch.setattr(selection, "_FUSED_CELLS", 1 << 62)
    numpy_ids, numpy_scores = run()
    monkeypatch.setattr(selection, "_FUSED_CELLS", 0)
    monkeypatch.setattr(fused, "_TILE_ROWS", 16)
    monkeypatch.setattr(fused, "_TILE_COLS", 200)
    ids, scores = run()
    np.testing.assert_array_equal(ids, numpy_ids)
    np.testing.assert_array_equal(scores, numpy_scores)
    for r in range(90):
        assert not set(ids[r].tolist()) & {3, 5, *hist.history(r).tolist()}


@pytest.mark.parametrize(("n", "users"), [(1000, 5), (50000, 65536), (50000, 65537), (120000, 100000), (0, 3)])
def test_histories_group_users_in_the_stable_order_argsort_gives(n, users):
    from embviz.io.interactions import _stable_order

    codes = np.random.default_rng(n).integers(0, users, n).astype(np.int32)
    np.testing.assert_array_equal(_stable_order(codes, users), np.argsort(codes, kind="stable"))
