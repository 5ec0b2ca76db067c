"""Batched IVF search cell by cell (embviz.search.ivf_scan) gives FAISS's own answers."""

from __future__ import annotations

import numpy as np
import pytest

faiss = pytest.importorskip("faiss")

from embviz.search import ivf_scan  # noqa: E402
from embviz.search.index import Index  # noqa: E402


def _table(n: int = 6000, dim: int = 24, seed: int = 0) -> np.ndarray:
    """Unit rows in 40 overlapping clusters of unequal size."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((40, dim)).astype(np.float32)
    which = rng.choice(40, n, p=np.arange(1, 41)[::-1] / np.arange(1, 41).sum())
    x = centres[which] + 0.8 * rng.standard_normal((n, dim)).astype(np.float32)
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


@pytest.fixture(scope="module")
def built() -> tuple[Index, np.ndarray]:
    unit = _table()
    return Index.build(unit, "ivf", nlist=60, nprobe=6), unit


@pytest.mark.parametrize("nprobe", [1, 6, 60])
def test_cells_give_faiss_candidates_and_scores(built, nprobe: int) -> None:
    index, unit = built
    q = np.ascontiguousarray(unit[::37][:150])
    fetch = 12
    index.faiss_index.nprobe = nprobe
    ref_d, ref_i = index.faiss_index.search(q, fetch)
    index.faiss_index.nprobe = 6
    got_d, got_i = ivf_scan.search(faiss, index.faiss_index, q, fetch, nprobe)
    assert got_d.shape == got_i.shape == (150, fetch)
    np.testing.assert_allclose(got_d, ref_d, atol=2e-6)  # best first, the same scores
    for r in range(150):  # the same rows, apart from the order of equal scores
        assert set(got_i[r]) == set(ref_i[r])
        exact = q[r] @ unit[got_i[r]].T
        np.testing.assert_allclose(got_d[r], exact, atol=2e-6)


def test_cells_pad_like_faiss_when_few_rows() -> None:
    """A query whose cells hold fewer rows than asked gets -1 ids and -inf scores after them."""
    unit = _table(n=400, dim=8, seed=1)
    index = Index.build(unit, "ivf", nlist=10, nprobe=1)
    q = np.ascontiguousarray(unit[:80])
    d, i = ivf_scan.search(faiss, index.faiss_index, q, 300, 1)
    ref_d, ref_i = index.faiss_index.search(q, 300)
    assert ((i == -1) == (ref_i == -1)).all()
    assert np.isneginf(d[i == -1]).all()
    for r in range(80):
        assert set(i[r][i[r] >= 0]) == set(ref_i[r][ref_i[r] >= 0])


def test_index_search_uses_cells_for_batches_with_the_same_answer(built, monkeypatch) -> None:
    """Index.search with exclusions: the cell-by-cell path and FAISS's give the same rows and scores."""
    index, unit = built
    q = np.ascontiguousarray(unit[5:505])
    exclude = [[5 + r] for r in range(500)]
    monkeypatch.setattr(ivf_scan, "MIN_CELL_BYTES", 0)  # this small table's cells are below the default
    calls = []
    real = ivf_scan.search
    monkeypatch.setattr(ivf_scan, "search", lambda *a, **kw: calls.append(1) or real(*a, **kw))
    ids, vals = index.search(q, 10, exclude=exclude)
    assert calls, "a batch of 500 queries on an IVF-Flat index is searched cell by cell"
    monkeypatch.setattr(ivf_scan, "MIN_BATCH", 10**9)
    calls.clear()
    ref_ids, ref_vals = index.search(q, 10, exclude=exclude)
    assert not calls
    np.testing.assert_allclose(vals, ref_vals, atol=2e-6)
    same = (ids == ref_ids).mean()
    assert same > 0.99  # only equal scores may order differently
    assert all(5 + r not in ids[r] for r in range(500))


def test_small_batches_small_or_unshared_cells_filters_and_l2_go_to_faiss(built, monkeypatch) -> None:
    index, _ = built
    fi = index.faiss_index
    assert not ivf_scan.applies(faiss, fi, 500, False, None, 6)  # 100 rows x 96 bytes a cell: FAISS is faster
    monkeypatch.setattr(ivf_scan, "MIN_CELL_BYTES", 100 * 24 * 4)
    assert ivf_scan.applies(faiss, fi, 500, False, None, 6)  # 500 x 6 / 60 = 50 queries a cell
    assert not ivf_scan.applies(faiss, fi, 150, False, None, 6)  # 15 a cell: FAISS's scan is as fast
    assert not ivf_scan.applies(faiss, fi, ivf_scan.MIN_BATCH - 1, False, None, 60)
    assert not ivf_scan.applies(faiss, fi, 500, True, None, 6)
    p = faiss.SearchParametersIVF()
    p.sel = faiss.IDSelectorRange(0, 10)
    assert not ivf_scan.applies(faiss, fi, 500, False, p, 6)
    hnsw = Index.build(_table(n=500, dim=8), "hnsw")
    assert not ivf_scan.applies(faiss, hnsw.faiss_index, 500, False, None, 6)
