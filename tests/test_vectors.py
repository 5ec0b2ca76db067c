"""The lookup table (embviz.vectors.Vectors)."""

from __future__ import annotations

import numpy as np
import pytest

from embviz.errors import FormatError, InvalidQuery, KeyNotFound
from embviz.vectors import Vectors


@pytest.fixture()
def v() -> Vectors:
    m = np.arange(20, dtype=np.float32).reshape(5, 4)
    return Vectors(["a", "b", "c", "d", "e"], m, source="t.txt")


def test_shape_and_names(v):
    assert (len(v), v.count, v.dim) == (5, 5, 4)
    assert v.keys == ("a", "b", "c", "d", "e")
    assert v.key_to_index == {"a": 0, "b": 1, "c": 2, "d": 3, "e": 4}
    assert v.matrix.dtype == np.float32 and v.matrix.flags.c_contiguous
    assert "c" in v and "z" not in v
    assert list(v) == list(v.keys)
    assert repr(v) == "Vectors(count=5, dim=4, dtype=float32, source='t.txt')"


def test_lookup_returns_rows_in_order(v):
    out = v.lookup([1, 3, 2])
    assert out.tolist() == [v.matrix[1].tolist(), v.matrix[3].tolist(), v.matrix[2].tolist()]
    assert out.shape == (3, 4)


def test_lookup_any_shape(v):
    ids = np.array([[0, 1, 2], [4, 4, 3]])
    out = v.lookup(ids)
    assert out.shape == (2, 3, 4)
    np.testing.assert_array_equal(out[1, 2], v.matrix[3])
    np.testing.assert_array_equal(out, v.matrix[ids])
    assert v.lookup(2).shape == (4,)
    np.testing.assert_array_equal(v.lookup(np.int32(2)), v.matrix[2])
    assert v.lookup([]).shape == (0, 4)
    assert v.lookup(np.zeros((0, 3), dtype=int)).shape == (0, 3, 4)


def test_lookup_equals_one_hot_product(v):
    ids = np.array([4, 0, 0, 2])
    one_hot = np.eye(len(v), dtype=np.float32)[ids]
    np.testing.assert_array_equal(v.lookup(ids), one_hot @ v.matrix)


def test_lookup_returns_a_new_array(v):
    out = v.lookup([0])
    out[0, 0] = 99
    assert v.matrix[0, 0] == 0


@pytest.mark.parametrize("bad, first", [([0, 5], 5), ([-1], -1), ([[0, 1], [9, -3]], 9)])
def test_lookup_rejects_out_of_range(v, bad, first):
    with pytest.raises(InvalidQuery) as exc:
        v.lookup(bad)
    assert str(exc.value) == f"id {first} is out of range: ids go from 0 to 4"


@pytest.mark.parametrize("bad", [[1.0, 2.0], ["a"], [True], [0.5]])
def test_lookup_rejects_non_integer_ids(v, bad):
    with pytest.raises(InvalidQuery, match=r"^ids must be integers, got dtype"):
        v.lookup(bad)


def test_matrix_is_read_only_and_own_copy():
    src = np.ones((2, 3))
    v = Vectors(["a", "b"], src)
    src[0, 0] = 7
    assert v.matrix[0, 0] == 1
    with pytest.raises(ValueError):
        v.matrix[0, 0] = 5
    with pytest.raises(ValueError):
        v["a"][0] = 5
    with pytest.raises(ValueError):
        v.unit[0, 0] = 5


def test_unit_rows_cached_and_normalised():
    v = Vectors(["a", "b", "z"], [[3, 4], [0, -2], [0, 0]])
    u = v.unit
    assert u is v.unit
    np.testing.assert_allclose(u, [[0.6, 0.8], [0, -1], [0, 0]], rtol=1e-7)
    assert v.norms.tolist() == [5, 2, 0]
    assert not np.isnan(u).any()


def test_zero_row_has_cosine_zero():
    from embviz import search as query

    v = Vectors(["a", "z"], [[1, 0], [0, 0]])
    assert query.similarity(v, ("a", "z"))[0].score == 0.0


def test_float16_kept():
    v = Vectors(["a"], np.array([[1, 2]], dtype=np.float16))
    assert v.matrix.dtype == np.float16
    assert v.unit.dtype == np.float16


def test_duplicate_keys_raise_format_error():
    with pytest.raises(FormatError) as exc:
        Vectors(["a", "b", "a", "b"], np.zeros((4, 2)))
    assert str(exc.value) == "2 duplicate keys; keys must be unique"


def test_shape_mismatch_raises_format_error():
    with pytest.raises(FormatError, match=r"matrix of shape \(2, 2\) does not fit 3 keys"):
        Vectors(["a", "b", "c"], np.zeros((2, 2)))
    with pytest.raises(FormatError, match=r"matrix of shape \(3,\) does not fit 3 keys"):
        Vectors(["a", "b", "c"], np.zeros(3))


def test_getitem_and_indices(v):
    np.testing.assert_array_equal(v["c"], v.matrix[2])
    assert v.indices(["e", "a"]).tolist() == [4, 0]
    assert v.get_index("d") == 3


def test_subset(v):
    s = v.subset([3, 1])
    assert s.keys == ("d", "b")
    np.testing.assert_array_equal(s.matrix, v.matrix[[3, 1]])
    with pytest.raises(InvalidQuery):
        v.subset([7])


def test_key_not_found_message_with_close_matches():
    v = Vectors(["king", "kings", "queen", "King", "Paris"], np.eye(5), source="g.txt")
    with pytest.raises(KeyNotFound) as exc:
        v.get_index("kingg")
    assert str(exc.value) == (
        "'kingg' is not in the vocabulary (5 keys of g.txt); close matches: king, kings"
    )
    assert isinstance(exc.value, KeyError)
    with pytest.raises(KeyNotFound) as exc:
        v["paris"]
    assert str(exc.value).endswith("; close matches: Paris")
    with pytest.raises(KeyNotFound) as exc:
        v["KING"]
    assert str(exc.value).startswith("'KING' is not in the vocabulary (5 keys of g.txt); close matches: king, King, kings")
    with pytest.raises(KeyNotFound) as exc:
        v["zzzzzzzz"]
    assert str(exc.value) == "'zzzzzzzz' is not in the vocabulary (5 keys of g.txt); no close matches"


def test_suggest_scans_only_the_most_frequent_keys():
    """Suggestions are capped to the first 200,000 keys, so the error path stays fast."""
    keys = [f"w{i:07d}" for i in range(300_000)]
    v = Vectors(keys, np.zeros((len(keys), 1), dtype=np.float32))
    assert v.suggest("w0000123x")[0] == "w0000123"
    # the exact near-match of this one is key 250,123, beyond the scanned keys
    assert "w0250123" not in v.suggest("w0250123x")


def test_keyblob_behaves_like_the_tuple_of_its_keys():
    from embviz.vectors import KeyBlob

    keys = ("the", "a", "b\u00e9", "x y", "\u4e2d\u6587", "last")
    blob = "".join(k + "\n" for k in keys).encode()
    for probe in keys:  # the byte search, before anything is decoded
        kb = KeyBlob.from_bytes(blob)
        assert kb.index(probe) == keys.index(probe) and probe in kb and kb.count(probe) == 1
        assert kb._all is None
    kb = KeyBlob.from_bytes(blob)
    for missing in ("th", "he", "", "a\nb", "x", "\ud800"):
        assert missing not in kb
        with pytest.raises(ValueError):
            kb.index(missing)
    assert [kb[i] for i in range(6)] == list(keys) and kb[-1] == "last" and kb[-6] == "the"
    assert kb[1:4] == keys[1:4] and kb[:0] == () and kb[4:] == keys[4:] and kb[::2] == keys[::2]
    with pytest.raises(IndexError):
        kb[6]
    assert len(kb) == 6 and kb == keys and kb == list(keys) and kb != keys[:5]
    assert tuple(kb) == keys and hash(kb) == hash(keys)
    assert kb.index("last") == 5  # after decoding too
    assert len(KeyBlob.from_bytes(b"")) == 0
    with pytest.raises(ValueError):
        KeyBlob.from_bytes(b"a\nb")  # no final newline
    with pytest.raises(ValueError):
        KeyBlob.from_bytes(b"a\n\xff\n")  # not UTF-8


def test_a_table_mapped_from_the_cache_decodes_only_the_keys_it_is_asked_for(tmp_path):
    from embviz import load
    from embviz.vectors import KeyBlob

    src = tmp_path / "v.txt"
    src.write_text("".join(f"k{i} {i} {i + 1}\n" for i in range(1000)))
    load(src, cache_dir=tmp_path / "c")  # builds the entry
    v = load(src, cache_dir=tmp_path / "c")  # maps it
    assert isinstance(v.keys, KeyBlob) and v.keys._all is None
    assert v.get_index("k777") == 777 and v.keys[777] == "k777" and v.keys._all is None
    assert list(v.keys) == [f"k{i}" for i in range(1000)]
    assert v.key_to_index["k999"] == 999


def test_keyblob_decodes_everything_once_when_many_keys_are_read():
    from embviz.vectors import KeyBlob

    keys = tuple(f"k{i}" for i in range(10_000))
    kb = KeyBlob.from_bytes("".join(k + "\n" for k in keys).encode())
    got = [kb[i] for i in range(0, 10_000, 3)]
    assert got == list(keys[::3]) and kb._all == keys  # decoded once after 2,048 single reads
    # a big table: after n / 64 single reads (10,000 keys of 1,000,000: still one by one)
    big = KeyBlob.from_bytes("".join(f"k{i}\n" for i in range(1_000_000)).encode())
    assert [big[i] for i in range(0, 1_000_000, 100)] == [f"k{i}" for i in range(0, 1_000_000, 100)]
    assert big._all is None
    assert [big[i] for i in range(6_000)][-1] == "k5999" and big._all is not None


def test_prefetch_finds_a_batch_of_keys_in_one_pass_without_the_map(sample):
    """A batch of more than 32 keys is found in one pass (Vectors.prefetch): the same rows as
    one-by-one lookups, misses still KeyNotFound with close matches, and no {key: row} map
    built over the whole table (1.6 s and about 200 MB on 3,000,000 keys)."""
    from embviz import load, sample_path

    v = load(sample_path())  # a fresh table (keys from the cache entry)
    rng = np.random.default_rng(0)
    rows = rng.choice(v.count, 200, replace=False).tolist()
    batch = [sample.keys[r] for r in rows] + ["not-a-key-xyz", "kingg"]
    v.prefetch(batch)
    assert "key_to_index" not in v.__dict__
    assert [v.get_index(k) for k in batch[:200]] == rows
    assert "kingg" not in v and "not-a-key-xyz" not in v
    with pytest.raises(KeyNotFound, match="king"):  # the close matches, as without prefetch
        v.get_index("kingg")
    np.testing.assert_array_equal(v.indices(batch[:200]), rows)
    assert "key_to_index" not in v.__dict__ and v.get_index(sample.keys[7]) == 7  # a key not in the batch
    # a batch over an eighth of the table: the map answers
    big = load(sample_path())
    big.prefetch(list(sample.keys[: v.count // 8 + 1]))
    assert "key_to_index" in big.__dict__
    # a few keys: looked up one by one, as before
    few = load(sample_path())
    few.prefetch(["king", "queen"])
    assert few._prefetched == {} and few.get_index("queen") == sample.keys.index("queen")
