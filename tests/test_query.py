"""Queries (embviz.search): agreement with gensim on the real sample, the top-k kernel, batching."""

from __future__ import annotations

import numpy as np
import pytest

from embviz import search as query
from embviz.errors import EmbvizWarning, InvalidQuery, KeyNotFound
from embviz.search import Analogy, Neighbor, Similarity, scorers, selection
from embviz.vectors import Vectors

KEYS = ["king", "queen", "man", "woman", "paris", "france", "berlin", "germany", "computer",
        "dog", "cat", "good", "bad", "run", "the", "1990", "e-mail", "new", "water", "music"]
EXPRESSIONS = ["king - man + woman", "paris - france + germany", "- king", "2*king - 0.5*man",
               "computer + music", "good - bad"]


@pytest.fixture(scope="module")
def kv(sample):
    from gensim.models import KeyedVectors

    kv = KeyedVectors(50)
    kv.add_vectors(list(sample.keys), np.asarray(sample.matrix))
    return kv


def keys_scores(rows):
    return [r.key for r in rows], np.array([r.score for r in rows])


def assert_same(ours, theirs):
    keys, scores = keys_scores(ours)
    assert keys == [k for k, _ in theirs]
    np.testing.assert_allclose(scores, [s for _, s in theirs], atol=1e-5, rtol=0)


@pytest.mark.parametrize("key", KEYS)
def test_neighbors_equal_gensim(sample, kv, key):
    assert_same(query.neighbors(sample, key, k=10), kv.most_similar(key, topn=10))


@pytest.mark.parametrize("text", EXPRESSIONS)
def test_expression_neighbors_equal_gensim(sample, kv, text):
    from embviz.search.expr import parse

    e = parse(text)
    # gensim takes (key, weight) pairs and uses the weight as given, also in negative=
    pos = [(t.key, t.weight) for t in e.terms if t.weight > 0]
    neg = [(t.key, t.weight) for t in e.terms if t.weight < 0]
    theirs = kv.most_similar(positive=pos, negative=neg, topn=15)
    assert_same(query.neighbors(sample, text, k=15), theirs)


@pytest.mark.parametrize("restrict", [100, 1000, 30_000])
def test_restrict_equals_restrict_vocab(sample, kv, restrict):
    for text in ("king", "king - man + woman", "music"):
        e = __import__("embviz.search.expr", fromlist=["parse"]).parse(text)
        theirs = kv.most_similar(positive=e.positive, negative=e.negative, topn=10, restrict_vocab=restrict)
        ours = query.neighbors(sample, text, k=10, restrict=restrict)
        assert_same(ours, theirs)
        assert all(sample.key_to_index[r.key] < restrict for r in ours)


@pytest.mark.parametrize(
    "a, b, c", [("man", "king", "woman"), ("france", "paris", "germany"), ("good", "better", "bad"),
                ("walk", "walked", "run"), ("japan", "tokyo", "china")]
)
def test_analogy_equals_gensim(sample, kv, a, b, c):
    add = query.analogy(sample, (a, b, c), k=5)
    assert_same(add, kv.most_similar(positive=[b, c], negative=[a], topn=5))
    mul = query.analogy(sample, (a, b, c), k=5, method="cosmul")
    assert_same(mul, kv.most_similar_cosmul(positive=[b, c], negative=[a], topn=5))
    assert [r.rank for r in add] == [1, 2, 3, 4, 5]
    assert {r.key for r in add + mul}.isdisjoint({a, b, c})


def test_analogy_restrict_equals_gensim(sample, kv):
    ours = query.analogy(sample, ("man", "king", "woman"), k=5, restrict=5000)
    assert_same(ours, kv.most_similar(positive=["king", "woman"], negative=["man"], topn=5, restrict_vocab=5000))


def test_similarity_equals_gensim(sample, kv):
    pairs = [("king", "queen"), ("cat", "dog"), ("good", "bad"), ("king", "king"), ("water", "1990")]
    rows = query.similarity(sample, pairs)
    assert [(r.a, r.b) for r in rows] == pairs
    np.testing.assert_allclose([r.score for r in rows], [kv.similarity(a, b) for a, b in pairs], atol=1e-6)
    assert query.similarity(sample, ("king", "queen")) == [rows[0]]


def same_rows(batch, single):
    """Identical rows; scores may differ in the last float32 bit (BLAS GEMM vs GEMV)."""
    assert [r[:-1] for r in map(astuple, batch)] == [r[:-1] for r in map(astuple, single)]
    np.testing.assert_allclose([r.score for r in batch], [r.score for r in single], rtol=0, atol=3e-7)


def astuple(row):
    from dataclasses import astuple as at

    return at(row)


def test_batched_equals_one_at_a_time(sample):
    texts = KEYS + EXPRESSIONS
    batch = query.neighbors(sample, texts, k=7)
    single = [r for t in texts for r in query.neighbors(sample, t, k=7)]
    same_rows(batch, single)
    assert [r.query for r in batch] == [t for t in texts for _ in range(7)]
    triples = [("man", "king", "woman"), ("france", "paris", "germany"), ("cat", "dog", "cat")]
    for method in ("cosadd", "cosmul"):
        batch = query.analogy(sample, triples, k=3, method=method)
        same_rows(batch, [r for t in triples for r in query.analogy(sample, t, k=3, method=method)])
    pairs = [("king", "queen"), ("a", "the")]
    assert query.similarity(sample, pairs) == [query.similarity(sample, p)[0] for p in pairs]


def test_batched_across_query_blocks(sample, monkeypatch):
    # k=25 over 40,000 rows takes _select's whole-row path (n < 64 * _GROUP * k), which cuts
    # the queries into blocks of _BLOCK_CELLS // n: three queries per block here
    monkeypatch.setattr(selection, "_BLOCK_CELLS", 40_000 * 3)
    blocks = []
    real = selection._select_blocks
    monkeypatch.setattr(selection, "_select_blocks", lambda *a: blocks.append(a[6]) or real(*a))
    texts = KEYS[:10]
    batch = query.neighbors(sample, texts, k=25)
    monkeypatch.undo()
    assert blocks == [3]  # the patched block size was used
    same_rows(batch, query.neighbors(sample, texts, k=25))


def test_large_analogy_batch_by_branch_and_bound_equals_brute_force(sample, monkeypatch):
    # 2,000 Google-set triples share their pairs: k=1 goes through embviz.search.bound
    from embviz.evaluate import gensim_data
    from embviz.search import bound as analogy_bound

    lines = gensim_data("questions-words.txt").read_text().lower().splitlines()
    triples = [tuple(x.split()[:3]) for x in lines if not x.startswith(":")]
    triples = [t for t in triples if all(w in sample for w in t)][::2][:2000]
    calls = []
    real = analogy_bound.best_answers
    monkeypatch.setattr(analogy_bound, "best_answers", lambda *a, **kw: calls.append(1) or real(*a, **kw))
    for method in ("cosadd", "cosmul"):
        got = query.analogy(sample, triples, method=method)
        ids = sample.indices([w for t in triples for w in t]).reshape(-1, 3)
        want, scores = query.analogy_ids(sample.unit, ids[:, 0], ids[:, 1], ids[:, 2], 1, method=method)
        assert [r.key for r in got] == [sample.keys[i] for i in want[:, 0]]
        np.testing.assert_allclose([r.score for r in got], scores[:, 0], rtol=2e-6, atol=2e-6)
    assert len(calls) == 2
    query.analogy(sample, triples, k=2)  # k > 1: brute force
    query.analogy(sample, triples[:100])  # a small batch: brute force
    assert len(calls) == 2


def test_sample_king_queen(sample):
    rows = query.neighbors(sample, "king", k=10)
    assert rows[0] == Neighbor("king", 1, "prince", pytest.approx(0.823618, abs=1e-6))
    assert "queen" in [r.key for r in rows]
    assert query.analogy(sample, ("man", "king", "woman"))[0].key == "queen"
    assert query.analogy(sample, ("man", "king", "woman"), method="cosmul")[0].key == "queen"


def test_query_keys_excluded(sample):
    for text in ("king", "king - man + woman", "paris + paris", "- music"):
        e = query.as_expression(sample, text)
        keys = [r.key for r in query.neighbors(sample, text, k=50)]
        assert set(keys).isdisjoint(e.keys)
        assert len(keys) == 50


def test_key_that_looks_like_an_expression_is_a_key():
    v = Vectors(["e-mail", "-", "new york", "a", "b"], np.eye(5) + 0.1)
    assert [r.query for r in query.neighbors(v, ["e-mail", "-", "new york"], k=1)] == ["e-mail", "-", "new york"]
    assert {r.key for r in query.neighbors(v, "new york", k=4)} == {"e-mail", "-", "a", "b"}


# -- small hand-built geometry ---------------------------------------------------------------
@pytest.fixture()
def toy() -> Vectors:
    m = [[1.0, 0.0, 0.0], [0.9, 0.1, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0], [-1.0, 0.0, 0.0]]
    return Vectors(["king", "queen", "apple", "car", "anti"], m)


def test_neighbors_toy(toy):
    rows = query.neighbors(toy, "king", k=10)
    assert [(r.rank, r.key) for r in rows] == [(1, "queen"), (2, "apple"), (3, "car"), (4, "anti")]
    assert rows[0].score == pytest.approx(0.9 / np.hypot(0.9, 0.1))
    assert rows[1].score == 0.0 and rows[3].score == -1.0


def test_k_larger_than_vocabulary(toy):
    assert len(query.neighbors(toy, "king", k=100)) == 4
    assert len(query.neighbors(toy, "king - queen", k=100)) == 3


def test_invalid_k(toy):
    for k in (0, -1):
        with pytest.raises(InvalidQuery, match=f"k must be at least 1, got {k}"):
            query.neighbors(toy, "king", k=k)
        with pytest.raises(InvalidQuery, match=f"k must be at least 1, got {k}"):
            query.analogy(toy, ("king", "queen", "apple"), k=k)


def test_zero_query_vector(toy):
    with pytest.raises(InvalidQuery, match="is all zeros"):
        query.neighbors(toy, "king - king", k=3)


def test_unknown_key(toy):
    with pytest.raises(KeyNotFound, match=r"^'kong' is not in the vocabulary \(5 keys\); close matches: king"):
        query.neighbors(toy, "kong")
    with pytest.raises(KeyNotFound):
        query.analogy(toy, ("king", "queen", "nope"))
    with pytest.raises(KeyNotFound):
        query.similarity(toy, ("king", "nope"))


def test_skip_missing(toy):
    with pytest.warns(EmbvizWarning) as rec:
        rows = query.neighbors(toy, ["nope", "king"], k=1, skip_missing=True)
    assert rows == [Neighbor("king", 1, "queen", pytest.approx(0.9939, abs=1e-4))]
    assert len(rec) == 1 and str(rec[0].message) == (
        "skipped query 'nope': 'nope' is not in the vocabulary (5 keys); no close matches"
    )
    with pytest.warns(EmbvizWarning):
        assert query.similarity(toy, [("king", "x"), ("king", "car")], skip_missing=True) == [Similarity("king", "car", 0.0)]
    with pytest.warns(EmbvizWarning):
        assert query.analogy(toy, [("x", "y", "z")], skip_missing=True) == []


def test_unknown_method(toy):
    with pytest.raises(InvalidQuery, match="unknown analogy method 'avg'"):
        query.analogy(toy, ("king", "queen", "apple"), method="avg")


def test_analogy_aliases(toy):
    t = ("king", "queen", "apple")
    assert query.analogy(toy, t, method="add") == query.analogy(toy, t, method="cosadd")
    assert query.analogy(toy, t, method="mul") == query.analogy(toy, t, method="cosmul")
    # q = queen - king + apple; the only candidates are car and anti
    assert query.analogy(toy, t, k=5) == [
        Analogy("king", "queen", "apple", 1, "anti", pytest.approx(0.0055079, abs=1e-6)),
        Analogy("king", "queen", "apple", 2, "car", 0.0),
    ]


def test_lookup_rows(toy):
    rows = query.lookup(toy, ["queen", 2, "4", np.int64(0)])
    assert [(r.id, r.key) for r in rows] == [(1, "queen"), (2, "apple"), (4, "anti"), (0, "king")]
    assert rows[0].vector == pytest.approx((0.9, 0.1, 0.0))
    with pytest.raises(InvalidQuery, match="id 7 is out of range"):
        query.lookup(toy, ["7"])
    with pytest.raises(InvalidQuery, match="id -1 is out of range"):
        query.lookup(toy, ["-1"])
    with pytest.raises(InvalidQuery, match="^id 99999999999999999999 is out of range: ids go from 0 to 4$"):
        query.lookup(toy, ["99999999999999999999"])
    with pytest.raises(KeyNotFound):
        query.lookup(toy, ["kingg"])
    with pytest.raises(InvalidQuery, match="'queen' is not an integer id"):
        query.lookup(toy, ["queen"], ids=True)


def test_lookup_numeric_keys():
    v = Vectors(["1990", "x", "y"], np.eye(3))
    assert [r.key for r in query.lookup(v, ["1990", "1"])] == ["1990", "x"]
    assert [r.key for r in query.lookup(v, ["2"], ids=True)] == ["y"]


# -- the kernel --------------------------------------------------------------------------------
def reference_top(s, k):
    """Full stable argsort: best first, ties by lower column."""
    order = np.lexsort((np.arange(s.shape[1])[None, :].repeat(len(s), 0), -s), axis=1)[:, :k]
    return order, np.take_along_axis(s, order, axis=1)


@pytest.mark.parametrize("n", [5, 63, 64, 100, 2048, 4096, 4100, 10_000, 65_537])
@pytest.mark.parametrize("k", [1, 2, 5, 32])
def test_top_rows_equals_full_sort(n, k):
    rng = np.random.default_rng(n * 100 + k)
    k = min(k, n)
    s = rng.standard_normal((4, n)).astype(np.float32)
    s[1] = np.round(s[1], 1)  # many ties
    s[2, rng.choice(n, size=n // 3, replace=False)] = -np.inf  # exclusions
    s[3, :] = 0.5  # all tied
    ids, vals = query.kernel._top_rows(s, k)
    ref_ids, ref_vals = reference_top(s, k)
    np.testing.assert_array_equal(ids, ref_ids)
    np.testing.assert_array_equal(vals, ref_vals)


def test_top_rows_ties_at_the_group_boundary():
    n, k = 64 * 32 * 2, 2
    s = np.zeros((1, n), dtype=np.float32)
    s[0, [5, 6, 40, 4000]] = 1.0  # two in one group, ties across groups
    ids, vals = query.kernel._top_rows(s, k)
    assert ids.tolist() == [[5, 6]]
    s = np.full((1, n), -np.inf, dtype=np.float32)
    s[0, [100, 3000, 3001]] = [0.2, 0.7, 0.7]
    assert query.kernel._top_rows(s, 3)[0].tolist() == [[3000, 3001, 100]]


@pytest.mark.parametrize("n, k", [(10, 10), (10, 9), (2000, 1999), (4096, 4096)])
def test_top_k_with_k_near_n(n, k):
    rng = np.random.default_rng(0)
    unit = rng.standard_normal((n, 8)).astype(np.float32)
    q = rng.standard_normal((3, 8)).astype(np.float32)
    excl = [[0, 1], [], [n - 1, n - 1]]
    ids, vals = query.top_k(unit, q, k, exclude=excl)
    s = q @ unit.T
    for r, ex in enumerate(excl):
        s[r, ex] = -np.inf
    kk = min(k, n - 2)
    ref_ids, ref_vals = reference_top(s, kk)
    assert ids.shape == (3, kk)
    np.testing.assert_array_equal(ids, ref_ids)
    # scores are the exact dot products rounded to float32 (the float32 product rounds more)
    exact = q.astype(np.float64) @ unit.T.astype(np.float64)
    np.testing.assert_allclose(vals, np.take_along_axis(exact, ids, axis=1), rtol=1e-6, atol=1e-7)
    for r, ex in enumerate(excl):
        assert not set(ex) & set(ids[r].tolist())


def test_top_k_restrict():
    rng = np.random.default_rng(1)
    unit = rng.standard_normal((500, 4)).astype(np.float32)
    q = rng.standard_normal((2, 4)).astype(np.float32)
    ids, _ = query.top_k(unit, q, 5, restrict=50, exclude=[[3, 400], []])
    s = q @ unit[:50].T
    s[0, 3] = -np.inf  # id 400 is outside the restricted candidates anyway
    ref, _ = reference_top(s, 5)
    np.testing.assert_array_equal(ids, ref)


def test_float16_tables_agree(sample):
    half = Vectors(sample.keys, np.asarray(sample.matrix, dtype=np.float16))
    a = [r.key for r in query.neighbors(half, "king", k=5)]
    b = [r.key for r in query.neighbors(sample, "king", k=5)]
    assert a[:3] == b[:3]


def test_cosmul_restrict_equals_gensim(sample, kv):
    ours = query.analogy(sample, ("man", "king", "woman"), k=5, method="cosmul", restrict=5000)
    # gensim 4.4 ignores restrict_vocab in most_similar_cosmul: restrict its full score array
    dists = kv.most_similar_cosmul(positive=["king", "woman"], negative=["man"], topn=None)[:5000]
    dists[[sample.key_to_index[w] for w in ("man", "king", "woman")]] = -np.inf
    best = np.argsort(-dists, kind="stable")[:5]
    assert_same(ours, [(sample.keys[i], dists[i]) for i in best])


@pytest.mark.parametrize("cores", [1, 3])
@pytest.mark.parametrize("m", [1, 5, 64, 65, 300])
def test_float16_rows_score_as_their_float32_values_for_few_and_many_queries(sample, m, cores, monkeypatch):
    # few queries convert float16 rows block by block (one thread per core), many convert a
    # chunk at once: both are the top-k of the float32 values of the float16 rows
    monkeypatch.setattr(scorers, "_cores", lambda: cores)  # the float16 conversion threads (_Cosine.split)
    unit16 = np.ascontiguousarray(sample.unit[:40_000], dtype=np.float16)
    rows = np.random.default_rng(m).choice(len(unit16), m, replace=False)
    q = unit16[rows].astype(np.float32)
    ex = [[int(r)] for r in rows]
    got_ids, got = query.top_k(unit16, q, 10, exclude=ex)
    want_ids, want = query.top_k(unit16.astype(np.float32), q, 10, exclude=ex)
    np.testing.assert_array_equal(got_ids, want_ids)
    np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("case", ["random", "ties", "excluded", "duplicates"])
def test_top_groups_equals_a_full_selection(case: str) -> None:
    """The maxima kept above the sampled k-th-largest bound hold the same k largest values as np.partition."""
    from embviz.search.kernel import _kept_groups, _top_of

    rng = np.random.default_rng(7)
    g = rng.standard_normal((40, 100_000)).astype(np.float32)
    if case == "ties":
        g = np.round(g, 1)  # many equal values around the k-th largest
    elif case == "excluded":
        g[3, ::2] = -np.inf
        g[5, :] = -np.inf
        g[5, [10, 99_999, 5000, 7, 8, 9, 11, 12, 13, 14]] = 1.0
    elif case == "duplicates":
        g[2, :] = 0.5  # every group tied
    for k in (1, 10, 50):
        top = _top_of(*_kept_groups(g, k)[:2], k)[0]
        assert top.shape == (40, k)
        assert all(len(set(row)) == k for row in top.tolist())  # k distinct columns
        want = -np.sort(-g, axis=1)[:, :k]
        got = -np.sort(-np.take_along_axis(g, top, axis=1), axis=1)
        np.testing.assert_array_equal(got, want)


def test_half_to_float_is_exact_for_every_finite_float16() -> None:
    from embviz.search.kernel import half_to_float

    h = np.arange(65536, dtype=np.uint32).astype(np.uint16).view(np.float16)
    h = h[np.isfinite(h)].reshape(-1, 8)  # subnormals, zeros of both signs, normals
    out = half_to_float(h, np.empty(h.shape, np.int32))
    np.testing.assert_array_equal(out.view(np.uint32), h.astype(np.float32).view(np.uint32))  # bit for bit


@pytest.mark.parametrize("scale", [1.0, 1e5])  # 1e5: queries too large to scale by 2**112
def test_float16_scores_are_the_float32_scores_of_the_same_values_bit_for_bit(sample, scale) -> None:
    from embviz.search.kernel import _Cosine

    rows = np.asarray(sample.unit[:5000], dtype=np.float16)
    rows[7, :5] = np.float16(3e-6)  # subnormal float16 values
    q = (np.asarray(sample.unit[[1, 2, 3]], dtype=np.float32) * scale).astype(np.float32)
    for m in (1, 3):  # block by block (few queries) and whole chunk
        got = np.empty((m, 5000), np.float32)
        _Cosine(rows, q[:m]).chunk(0, m, 0, 5000, got)
        want = np.empty((m, 5000), np.float32)
        _Cosine(rows.astype(np.float32), q[:m]).chunk(0, m, 0, 5000, want)
        np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("k", [1, 5])
def test_sampled_group_bound_with_tied_groups_equals_a_full_sort(monkeypatch, k) -> None:
    """Large-table path (a sampled bound on the group maxima, kept maxima only) on a small table.

    Half the rows are copies of few integer vectors, which tie in about 200 groups at once;
    queries near them need more than k groups, and queries among the other (all different)
    rows keep fewer maxima than that in the same batch (padding): the answer is still the
    full sort's, ties to the lower id.
    """
    from test_determinism import reference_top as exact_reference

    monkeypatch.setattr(selection, "_SAMPLE_GROUPS", 64)  # read by _kept_groups
    rng = np.random.default_rng(11)
    distinct = rng.integers(-2, 3, size=(100, 8)).astype(np.float32)
    distinct[0] = 0
    distinct[0, 0] = 1  # an unmatched row ...
    pick = rng.integers(1, 100, size=40_000)
    pick[rng.choice(40_000, 3, replace=False)] = 0  # ... three copies of it, far apart,
    pick[0] = 0  # one in group 0 (the padding's group)
    unit = distinct[pick]
    half = rng.random(40_000) < 0.5  # and half the rows all different
    half[0] = False
    unit[half] = rng.standard_normal((int(half.sum()), 8))
    unit /= np.linalg.norm(unit, axis=1, keepdims=True)
    q = np.concatenate([unit[rng.choice(40_000, 50, replace=False)], np.eye(8, dtype=np.float32)[:2]])
    ids, scores = query.top_k(unit, q, k)
    np.testing.assert_array_equal(ids, exact_reference(unit, q, k))
    want = np.take_along_axis(q.astype(np.float64) @ unit.T.astype(np.float64), ids, axis=1)
    np.testing.assert_allclose(scores, want, rtol=0, atol=1e-6)


def test_float16_threads_in_a_forked_child(sample) -> None:
    """A child forked after a float16 query scores with threads of its own (the parent's are gone)."""
    import multiprocessing

    unit16 = np.ascontiguousarray(sample.unit[:40_000], dtype=np.float16)
    q = unit16[[5]].astype(np.float32)
    want = query.top_k(unit16, q, 10)  # starts the parent's threads
    ctx = multiprocessing.get_context("fork")
    with ctx.Pool(1) as pool:
        got = pool.apply_async(query.top_k, (unit16, q, 10)).get(timeout=60)
    np.testing.assert_array_equal(got[0], want[0])
    np.testing.assert_array_equal(got[1], want[1])


def test_exclusion_lists_are_deduplicated_clipped_and_sorted_per_query():
    from embviz.search.kernel import _in_range_all

    rng = np.random.default_rng(3)
    lists = [rng.integers(-5, 60, size=rng.integers(0, 30)) for _ in range(200)]
    lists[7] = (3, 3, 1)  # tuples and sets as callers pass them
    lists[8] = {59, 0}
    lists[9] = np.array([], dtype=np.int32)
    got = _in_range_all(lists, 200, 50)
    assert len(got) == 200
    for ex, g in zip(lists, got):
        e = np.fromiter(ex, dtype=np.int64)
        assert g.tolist() == np.unique(e[(e >= 0) & (e < 50)]).tolist()
    assert [g.tolist() for g in _in_range_all(None, 3, 50)] == [[], [], []]
