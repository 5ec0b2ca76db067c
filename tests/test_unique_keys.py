"""The hash-based duplicate check (embviz.io.unique): it may only ever say "distinct" when the
keys are distinct, whatever the chunking; duplicates in Parquet columns and keys files are
still found and warned about exactly as before (first occurrence kept)."""

from __future__ import annotations

import random
import warnings

import numpy as np
import pytest

from embviz.errors import EmbvizWarning
from embviz.io import load, unique


def _layout(keys: list[bytes]) -> tuple[np.ndarray, np.ndarray]:
    data = np.frombuffer(b"".join(keys), dtype=np.uint8)
    return data, np.cumsum([0] + [len(k) for k in keys])


@pytest.mark.parametrize("step", [unique._STEP, 64, 7, 1])
def test_equal_keys_hash_equal_and_distinct_keys_differ(monkeypatch, step):
    monkeypatch.setattr(unique, "_STEP", step)
    monkeypatch.setattr(unique, "_POWERS", [])
    rng = random.Random(step)
    keys = [bytes(rng.randrange(256) for _ in range(rng.randrange(0, 6))) for _ in range(5_000)]
    keys += [b"", b"", b"a", b"a\x00", b"\x00a", b"x" * 300, b"x" * 300, b"y" * 1_000]
    rng.shuffle(keys)
    data, offsets = _layout(keys)
    # hashed in two calls, as a reader hashes batch by batch: a key's hash must not depend on
    # where it sits in the buffer or on which call hashed it
    h = np.concatenate([unique.key_hashes(data, offsets[:2_001]), unique.key_hashes(data, offsets[2_000:])])
    first: dict[bytes, int] = {}
    for k, x in zip(keys, h.tolist()):
        assert first.setdefault(k, x) == x, k
    assert len(set(h.tolist())) == len(first)  # no collision among these distinct keys
    assert not unique.all_distinct([h])
    distinct = sorted(first)
    data, offsets = _layout(distinct)
    assert unique.all_distinct([unique.key_hashes(data, offsets)])


def test_powers_match_python_integers():
    want, x = [], 1
    for _ in range(50):
        want.append(x)
        x = x * int(unique._P) % (1 << 64)
    assert unique._powers(50).tolist() == want


def test_distinct_keys_slices_stay_marked():
    keys = unique.DistinctKeys(["a", "b", "c"])
    assert keys[:2] == ["a", "b"] and keys[:2].unique and keys[1] == "b"


def _parquet(path, keys, row_group_size=None):
    import pyarrow as pa
    import pyarrow.parquet as pq

    m = np.arange(len(keys) * 2, dtype=np.float32).reshape(-1, 2) + 1
    vec = pa.FixedSizeListArray.from_arrays(pa.array(m.reshape(-1)), 2)
    pq.write_table(pa.table({"key": keys, "vector": vec}), path, row_group_size=row_group_size)
    return m


def _load(path, **kw):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        v = load(path, cache=False, **kw)
    return v, [str(w.message) for w in caught if issubclass(w.category, EmbvizWarning)]


def test_parquet_duplicates_across_row_groups_are_still_found(tmp_path):
    p = tmp_path / "dup.parquet"
    keys = [f"k{i}" for i in range(3_000)] + ["k7"] + [f"z{i}" for i in range(999)]
    m = _parquet(p, keys, row_group_size=1_000)  # the duplicate is 3,000 rows after the first
    v, notes = _load(p)
    assert notes == [f"{p}: 1 duplicate keys, kept the first occurrence of each (first duplicate: 'k7' at "
                     "line/record 3,000)"]
    assert v.keys == tuple(keys[:3_000] + keys[3_001:])
    assert np.array_equal(v.matrix, np.delete(m, 3_000, axis=0))
    assert not isinstance(v.keys, unique.DistinctKeys)


def test_parquet_integer_and_distinct_keys(tmp_path):
    p = tmp_path / "ids.parquet"
    _parquet(p, [5, 7, 5])
    v, notes = _load(p)
    assert v.keys == ("5", "7") and len(notes) == 1
    _parquet(p, ["a", "b", "c"])
    v, notes = _load(p)
    assert v.keys == ("a", "b", "c") and notes == []


def test_keys_file_duplicates_with_and_without_a_final_newline(tmp_path):
    p = tmp_path / "emb.npy"
    np.save(p, np.eye(3, dtype=np.float32) + 1)
    (tmp_path / "emb.keys.txt").write_text("a\nb\na")  # the last 'a' has no newline after it
    v, notes = _load(p)
    assert v.keys == ("a", "b") and len(notes) == 1
    (tmp_path / "emb.keys.txt").write_text("a\nb\nc")
    v, notes = _load(p)
    assert v.keys == ("a", "b", "c") and notes == []
    v, notes = _load(p, limit=2)
    assert v.keys == ("a", "b") and notes == []
