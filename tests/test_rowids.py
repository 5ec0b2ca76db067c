"""Lazy row-id keys (vectors.RowIds) and the one-pass value screens of the array readers."""

from __future__ import annotations

import numpy as np
import pytest

from embviz import io as eio
from embviz.errors import FormatError
from embviz.vectors import RowIds


def test_row_ids_behave_like_the_tuple_of_their_strings():
    ids, ref = RowIds(12), tuple(map(str, range(12)))
    assert ids == ref and ref == ids and ids == list(ref) and ids != ref[:-1]
    assert list(ids) == list(ref) and len(ids) == 12
    assert ids[0] == "0" and ids[11] == "11" and ids[-1] == "11"
    assert ids[:5] == ref[:5] and isinstance(ids[:5], RowIds) and ids[3:9:2] == ref[3:9:2]
    with pytest.raises(IndexError):
        ids[12]
    assert ids.index("7") == 7 and "11" in ids
    for bad in ("12", "-1", "07", "1.0", " 1", "+1", "١", 3, None):
        assert bad not in ids
        with pytest.raises(ValueError):
            ids.index(bad)


def test_an_npy_without_keys_is_looked_up_by_row_id(tmp_path):
    m = np.arange(200 * 3, dtype=np.float32).reshape(200, 3) / 7
    np.save(tmp_path / "t.npy", m)
    v = eio.load(tmp_path / "t.npy", cache=False)
    assert v.keys == tuple(map(str, range(200))) and v.keys_from.startswith("row ids 0..199")
    # the first lookups scan, later ones build the id map: both give the row id
    assert [v.get_index(str(i)) for i in range(0, 200, 4)] == list(range(0, 200, 4))
    assert "200" not in v and "007" not in v
    np.testing.assert_array_equal(v["199"], m[199])
    cached = eio.load(tmp_path / "t.npy", cache_dir=tmp_path / "c")  # keys written to the cache
    assert eio.load(tmp_path / "t.npy", cache_dir=tmp_path / "c").keys == cached.keys == v.keys


@pytest.mark.parametrize("row", [0, 83_885, 199_999])
def test_the_screens_find_a_bad_value_in_any_block(tmp_path, row):
    m = np.ones((200_000, 50), dtype=np.float32)
    m[row, 17] = np.inf
    np.save(tmp_path / "t.npy", m)
    with pytest.raises(FormatError, match=rf": row {row:,}, column 17: value is inf, expected a finite number$"):
        eio.load(tmp_path / "t.npy", cache=False)
    m[row, 17] = 3e19  # finite, but its squared norm overflows float32
    np.save(tmp_path / "t.npy", m)
    with pytest.raises(FormatError, match=rf": row {row:,} \('{row}'\): its squared norm 9e\+38 overflows float32"):
        eio.load(tmp_path / "t.npy", cache=False)
    m[row, 17] = 1.8e19  # squared norm 3.24e38 + 49: below float32's largest (3.4e38), loads
    np.save(tmp_path / "t.npy", m)
    assert eio.load(tmp_path / "t.npy", cache=False).count == 200_000
