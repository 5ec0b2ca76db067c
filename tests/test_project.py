"""embviz.viz (selection, projection, trust) and ``embviz project``: selection, layouts, trust score, caches, CLI."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import numpy as np
import pytest

from embviz import viz as P
from embviz.cli import app
from embviz.errors import InvalidQuery, KeyNotFound
from embviz.vectors import Vectors


def clusters(n_per: int = 60, dim: int = 16, groups: int = 3, seed: int = 0) -> Vectors:
    """`groups` tight, well separated clusters around orthogonal directions: obvious geometry."""
    rng = np.random.default_rng(seed)
    rows, keys = [], []
    for g in range(groups):
        centre = np.zeros(dim)
        centre[g] = 1.0
        pts = centre + 0.05 * rng.standard_normal((n_per, dim))
        rows.append(pts)
        keys += [f"g{g}_{i}" for i in range(n_per)]
    return Vectors(keys, np.concatenate(rows).astype(np.float32))


# -- selection ------------------------------------------------------------------------------
def test_default_selection_is_the_top_5000(sample):
    s = P.select(sample)
    assert s.ids.tolist() == list(range(5000))
    assert s.summary() == "5,000 of 40,000 points (top 5,000)"


def test_selections_mix_as_a_union_in_frequency_order(sample):
    s = P.select(sample, top=3, keys=["king", "the", "queen"], around=["paris"], k=2)
    paris = [n.key for n in __import__("embviz").neighbors(sample, "paris", k=2)]
    expected = sorted({0, 1, 2} | {sample.get_index(k) for k in ["king", "queen", "paris", *paris]})
    assert s.ids.tolist() == expected
    assert s.description == "top 3 + 3 keys + around 'paris' (k=2)"
    assert s.groups["around paris"].tolist() == [sample.get_index(k) for k in ["paris", *paris]]


def test_sample_is_uniform_and_reproducible_with_the_seed(sample):
    a = P.select(sample, sample=500, seed=3)
    b = P.select(sample, sample=500, seed=3)
    c = P.select(sample, sample=500, seed=4)
    assert a.ids.tolist() == b.ids.tolist() and a.ids.tolist() != c.ids.tolist()
    assert a.count == 500 and len(set(a.ids.tolist())) == 500
    assert a.ids.max() > 20_000  # drawn from the whole table, not the head
    assert a.summary() == "500 of 40,000 points (sample 500 with seed 3)"


def test_unknown_keys_in_a_list_are_skipped_with_one_warning(sample):
    with pytest.warns(UserWarning, match=r"skipped 1 of 2 keys not in the vocabulary: 'kingg'"):
        s = P.select(sample, keys=["king", "kingg"])
    assert s.ids.tolist() == [sample.get_index("king")]
    with pytest.raises(KeyNotFound, match="'kingg' is not in the vocabulary"):
        P.select(sample, keys=["kingg"], skip_missing=False)


def test_empty_or_invalid_selections_raise(sample):
    with pytest.raises(InvalidQuery, match="the selection is empty"):
        with pytest.warns(UserWarning):
            P.select(sample, keys=["zzzzqqq"])
    with pytest.raises(InvalidQuery, match="--top must be at least 1, got 0"):
        P.select(sample, top=0)


# -- layouts and trust -----------------------------------------------------------------------
def test_pca_recovers_a_plane_and_is_deterministic():
    rng = np.random.default_rng(0)
    plane = rng.standard_normal((200, 2)) * [3.0, 1.0]
    x = np.concatenate([plane, np.zeros((200, 3))], axis=1)
    y = P.pca(x, 2)
    assert y.dtype == np.float32 and y.shape == (200, 2)
    # the components span the plane: distances are preserved exactly
    d0 = np.linalg.norm(x[:, None] - x[None], axis=2)
    d1 = np.linalg.norm(y[:, None].astype(np.float64) - y[None], axis=2)
    assert np.allclose(d0, d1, atol=1e-4)
    assert np.array_equal(P.pca(x, 2), y)
    assert np.abs(y[:, 0]).max() > np.abs(y[:, 1]).max()  # first component has the variance


def test_exact_knn_has_the_point_itself_first():
    v = clusters(20, 8, 2)
    unit = np.asarray(v.unit)
    idx, dist = P.exact_knn(unit, 5)
    assert idx.shape == dist.shape == (40, 5) and idx.dtype == np.int32 and dist.dtype == np.float32
    assert idx[:, 0].tolist() == list(range(40)) and np.all(dist[:, 0] == 0)
    brute = 1 - unit @ unit.T
    np.fill_diagonal(brute, np.inf)
    assert np.allclose(dist[:, 1:], np.sort(brute, axis=1)[:, :4], atol=1e-6)
    assert np.all(idx[:20, 1:] < 20) and np.all(idx[20:, 1:] >= 20)  # neighbors stay in-cluster


def test_recall_is_one_for_an_isometric_layout_and_low_for_noise():
    rng = np.random.default_rng(1)
    pts = rng.standard_normal((300, 2))
    x = np.concatenate([pts, np.ones((300, 1)) * 20], axis=1)  # nearly-planar cone: cosine ~ plane
    unit = (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)
    assert P.neighbor_recall(unit, pts, k=10) == pytest.approx(1.0, abs=0.02)
    noise = rng.standard_normal((300, 2))
    assert P.neighbor_recall(unit, noise, k=10) < 0.15
    assert 0.0 <= P.neighbor_recall(unit, noise, k=10, sample=50) <= 1.0


def test_project_pca_rows_and_trust(sample):
    s = P.select(sample, top=4)
    p = P.project(sample, s, method="pca")
    assert p.coords.shape == (4, 2) and p.coords.dtype == np.float32
    assert [r["key"] for r in p.rows()] == ["the", ",", ".", "of"]
    assert [r["rank"] for r in p.rows()] == [1, 2, 3, 4]
    assert set(p.rows()[0]) == {"key", "rank", "x", "y"}
    assert p.recall == 1.0  # 4 points: each point's 3 neighbors are everyone
    assert P.project(sample, s, method="pca", dim=3).rows()[0].keys() >= {"z"}


def test_invalid_parameters_are_rejected_before_work(sample):
    with pytest.raises(InvalidQuery, match="unknown method 'mds': expected one of pca, umap, tsne"):
        P.project(sample, [0, 1, 2], method="mds")
    with pytest.raises(InvalidQuery, match="dim must be 2 or 3, got 4"):
        P.project(sample, [0, 1, 2], dim=4)
    with pytest.raises(InvalidQuery, match="umap needs at least 3 points, got 2; use --method pca"):
        P.project(sample, [0, 1], method="umap")


def test_projection_cache_returns_the_same_layout(tmp_path, sample):
    s = P.select(sample, top=50)
    a = P.project(sample, s, method="pca", cache_dir=tmp_path, fingerprint="f")
    b = P.project(sample, s, method="pca", cache_dir=tmp_path, fingerprint="f")
    c = P.project(sample, s, method="pca", cache_dir=tmp_path, fingerprint="other")
    e = P.project(sample, s, method="pca", cache_dir=tmp_path, fingerprint="f", use_cache=False)
    assert (a.cached, b.cached, c.cached, e.cached) == (False, True, False, False)
    assert np.array_equal(a.coords, b.coords)
    assert a.recall == b.recall
    files = sorted(p.name for p in (tmp_path / "projections").glob("*.npy"))
    assert len(files) == 2 and all(f.startswith("pca-") for f in files)
    # a corrupt entry is recomputed, not trusted
    (tmp_path / "projections" / files[0]).write_bytes(b"garbage")
    (tmp_path / "projections" / files[1]).write_bytes(b"garbage")
    d = P.project(sample, s, method="pca", cache_dir=tmp_path, fingerprint="f")
    assert not d.cached and np.array_equal(d.coords, a.coords)


@pytest.mark.slow
def test_umap_keeps_obvious_clusters_and_is_reproducible():
    v = clusters(80, 16, 3)
    ids = np.arange(v.count)
    a = P.project(v, ids, method="umap", seed=7, n_neighbors=10)
    b = P.project(v, ids, method="umap", seed=7, n_neighbors=10)
    assert a.params == {"metric": "cosine", "n_neighbors": 10, "min_dist": 0.1, "knn": "exact"}
    assert np.array_equal(a.coords, b.coords)
    assert a.recall > 0.3  # a random layout within each cluster scores about 10 / 79 = 0.13
    centres = np.stack([a.coords[g * 80 : (g + 1) * 80].mean(axis=0) for g in range(3)])
    spread = max(
        np.linalg.norm(a.coords[g * 80 : (g + 1) * 80] - centres[g], axis=1).max() for g in range(3)
    )
    gaps = [np.linalg.norm(centres[i] - centres[j]) for i in range(3) for j in range(i + 1, 3)]
    assert min(gaps) > spread  # every cluster is apart from the others


@pytest.mark.slow
def test_tsne_is_reproducible_and_separates_clusters():
    v = clusters(40, 8, 3)
    ids = np.arange(v.count)
    a = P.project(v, ids, method="tsne", seed=1, perplexity=10)
    b = P.project(v, ids, method="tsne", seed=1, perplexity=10)
    assert np.array_equal(a.coords, b.coords) and a.coords.shape == (120, 2)
    assert a.recall > 0.5


# -- CLI ------------------------------------------------------------------------------------
def test_cli_project_pca_prints_key_rank_x_y(runner, sample):
    result = runner.invoke(app, ["project", "--method", "pca", "--top", "3"])
    assert result.exit_code == 0, result.stderr
    coords = P.project(sample, P.select(sample, top=3), method="pca").coords
    expected = "key\trank\tx\ty\n" + "".join(
        f"{k}\t{i + 1}\t{x:.6f}\t{y:.6f}\n"
        for i, (k, (x, y)) in enumerate(zip(["the", ",", "."], coords.tolist()))
    )
    assert result.stdout == expected
    lines = result.stderr.splitlines()
    assert re.fullmatch(
        r"embviz: projected 3 of 40,000 points \(top 3\) with pca to 2D (in \d+\.\d s|from the projection cache)",
        lines[0],
    )
    assert (
        lines[1]
        == "embviz: trust: recall@10 = 1.000 (cosine neighbors kept among layout neighbors, over all 3 points)"
    )


def test_cli_project_3d_json_and_quiet(runner):
    result = runner.invoke(
        app, ["project", "--method", "pca", "--top", "2", "--dim", "3", "-f", "jsonl", "-q"]
    )
    assert result.exit_code == 0 and result.stderr == ""
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert [list(r) for r in rows] == [["key", "rank", "x", "y", "z"]] * 2
    assert [r["key"] for r in rows] == ["the", ","]


def test_cli_project_writes_a_file_in_the_suffix_format(runner, tmp_path):
    out = tmp_path / "coords.csv"
    result = runner.invoke(
        app, ["project", "--method", "pca", "--around", "king", "-k", "3", "-o", str(out)]
    )
    assert result.exit_code == 0 and result.stdout == ""
    text = out.read_text().splitlines()
    assert text[0] == "key,rank,x,y" and len(text) == 5
    assert {line.split(",")[0] for line in text[1:]} >= {"king"}
    assert f"wrote 4 coordinates to {out}" in result.stderr


def test_cli_project_errors_are_one_line_with_exit_codes(runner):
    result = runner.invoke(app, ["project", "--around", "kingg"])
    assert result.exit_code == 3
    assert result.stderr.startswith("embviz: error: 'kingg' is not in the vocabulary (40,000 keys")
    assert len(result.stderr.splitlines()) == 1
    result = runner.invoke(app, ["project", "--dim", "4"])
    assert result.exit_code == 2
    result = runner.invoke(app, ["project", "--keys", "/nonexistent/keys.txt"])
    assert result.exit_code == 1
    assert (
        result.stderr
        == "embviz: error: /nonexistent/keys.txt: cannot read the keys file: No such file or directory\n"
    )


def test_cli_project_keys_from_stdin(runner):
    result = runner.invoke(
        app, ["project", "--method", "pca", "--keys", "-", "-q"], input="queen\nking\n\nprince\n"
    )
    assert result.exit_code == 0
    assert [line.split("\t")[0] for line in result.stdout.splitlines()[1:]] == [
        "king",
        "prince",
        "queen",
    ]


@pytest.mark.slow
def test_cli_umap_is_reproducible_with_the_seed(runner, tmp_path):
    args = ["project", "--top", "300", "--seed", "5", "--n-neighbors", "10", "-q"]
    a = runner.invoke(app, [*args, "--no-cache"])
    b = runner.invoke(app, [*args, "--no-cache"])
    c = runner.invoke(app, [*args, "--cache-dir", str(tmp_path)])
    d = runner.invoke(app, [*args, "--cache-dir", str(tmp_path)])
    assert a.exit_code == b.exit_code == c.exit_code == d.exit_code == 0
    assert a.stdout == b.stdout == c.stdout == d.stdout
    assert len(a.stdout.splitlines()) == 301
    assert len(list((tmp_path / "projections").glob("umap-*.npy"))) == 1


@pytest.mark.slow
def test_umap_is_imported_without_pynndescent_until_an_index_is_needed():
    code = """
import sys, numpy as np
from embviz import load, sample_path
from embviz import viz as P
v = load(sample_path())
P.project(v, P.select(v, top=200), method="umap", seed=0, n_neighbors=5)
before = "pynndescent" in sys.modules
import umap.umap_ as U
import umap.layouts as L
kernels = [U.smooth_knn_dist, L._nb_optimize_layout_euclidean_single_epoch_parallel]
print(all(type(k._cache).__name__ != "NullCache" for k in kernels))
x = np.random.default_rng(0).standard_normal((300, 5)).astype(np.float32)
idx, dist, index = U.nearest_neighbors(x, 5, "cosine", {}, False, 0, use_pynndescent=True)
import pynndescent, pynndescent.distances as d, pynndescent.sparse as s
print(before, type(index) is pynndescent.NNDescent, idx.shape,
      "cosine" in d.named_distances and "cosine" in s.sparse_named_distances)
"""
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    # umap's own kernels are compiled with numba's disk cache; pynndescent loads on demand
    assert run.stdout.split() == ["True", "False", "True", "(300,", "5)", "True"]


def test_importing_the_cli_and_project_pulls_no_heavy_dependency():
    heavy = ("umap", "sklearn", "gensim", "plotly", "scipy", "rich", "pandas", "numba")
    code = f"import sys, embviz.cli, embviz.viz; print(sorted(m for m in {heavy!r} if m in sys.modules))"
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert run.stdout.strip() == "[]"


def test_index_knn_is_the_indexs_answer_in_umaps_form(sample):
    """UMAP's kNN from a FAISS index: the point itself first, then neighbors among the first m rows."""
    from embviz.search.index import Index
    from embviz.viz.projection import exact_knn, index_knn

    m = 2000
    unit = np.ascontiguousarray(sample.unit[:m], dtype=np.float32)
    index = Index.build(np.asarray(sample.unit[:5000]), "flat")  # exact, over more rows than the points
    got_i, got_d = index_knn(index, unit, 11)
    want_i, want_d = exact_knn(unit, 11)
    assert got_i.dtype == np.int32 and got_d.dtype == np.float32 and got_i.shape == (m, 11)
    assert (got_i[:, 0] == np.arange(m)).all() and (got_d[:, 0] == 0).all()
    assert got_i.max() < m  # restricted to the points
    same = np.mean([len(set(a) & set(b)) / 11 for a, b in zip(got_i.tolist(), want_i.tolist())])
    assert same > 0.999  # a flat index is exact: only float32 near-ties may differ
    np.testing.assert_allclose(np.sort(got_d, axis=1), np.sort(want_d, axis=1), atol=2e-6)


def test_umap_above_the_exact_limit_takes_the_kNN_from_the_index(sample, monkeypatch):
    from embviz.search.index import Index
    from embviz.viz import projection as P

    seen = {}

    def fake_umap(unit, dim, seed, n_neighbors, min_dist, cache_dir, report, knn=None):
        seen["knn"] = knn
        return np.zeros((len(unit), dim), np.float32)

    monkeypatch.setattr(P, "_umap", fake_umap)
    monkeypatch.setattr(P, "EXACT_KNN_MAX", 100)
    index = Index.build(np.asarray(sample.unit[:1000]), "flat")
    index.recall_at_build = 1.0
    top = P.project(sample, P.select(sample, top=300), method="umap", n_neighbors=8, recall_k=0, index=index)
    assert top.params["knn"] == "index, exact (flat, recall@10 1.000 measured at build)"
    want = P.index_knn(index, np.asarray(sample.unit[:300], np.float32), 8)
    np.testing.assert_array_equal(seen["knn"][0], want[0])
    # a selection that is not the first rows: umap-learn's own kNN (nothing passed)
    some = P.project(sample, [5, 9, *range(20, 318)], method="umap", n_neighbors=8, recall_k=0, index=index)
    assert some.params["knn"] == "nndescent" and seen["knn"] is None
    # no index: the same
    assert P.project(sample, P.select(sample, top=300), method="umap", n_neighbors=8, recall_k=0).params["knn"] == "nndescent"
