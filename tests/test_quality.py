"""embviz.quality and ``embviz quality``: constructed tables with known answers (a planted hub,
an anisotropic table, a plane in 10-D, planted duplicates), each figure against a plain
numpy/scipy reference, ABTT, CSLS, the ``--postprocess`` option and the command line.

Tolerances: hubness (N_k, skewness), Jaccard-like counts, duplicates and near-duplicate pairs
are compared exactly; isotropy, TwoNN, Spearman and ABTT to 1e-6 relative (float64 sums in a
different order); CSLS scores to 1e-5 absolute (float32 products).
"""

from __future__ import annotations

import importlib
import json

import numpy as np
import pytest

from embviz import quality as Q
from embviz.cli import app
from embviz.errors import InvalidQuery
from embviz.vectors import Vectors

stats = importlib.import_module("scipy.stats")  # a core dependency (TID253 bans the plain import)


@pytest.fixture(scope="module")
def small(sample):
    """The 3,000 most frequent keys of the bundled GloVe sample (real vectors)."""
    return sample.subset(np.arange(3000))


def ref_knn(unit, k):
    s = unit.astype(np.float32) @ unit.astype(np.float32).T
    np.fill_diagonal(s, -np.inf)
    order = np.argsort(-s, axis=1, kind="stable")[:, :k]
    return order, np.take_along_axis(s, order, axis=1)


# -- hubness --------------------------------------------------------------------------------------
def test_hubness_agrees_with_reference(small):
    unit = np.asarray(small.unit)
    nbr, _ = ref_knn(unit, 10)
    occ = np.bincount(nbr.ravel(), minlength=small.count)
    ours, _ = Q.knn_ids(unit, 10)
    np.testing.assert_array_equal(Q.k_occurrence(ours, small.count), occ)
    # scikit-hubness: Hubness(k=10).score() is scipy.stats.skew of the k-occurrence
    assert Q.skewness(occ) == pytest.approx(stats.skew(occ), rel=1e-12)
    r = Q.quality(small, sample=None)
    assert r.hub_skewness == pytest.approx(stats.skew(occ), rel=1e-12)
    assert r.antihub_share == np.mean(occ == 0)
    assert r.hub_max_k_occurrence == occ.max()
    top = np.lexsort((np.arange(small.count), -occ))[:3]
    assert r.top_hubs.startswith(", ".join(f"{small.keys[t]} ({occ[t]})" for t in top))


def planted_hub(n=1000, d=200, seed=0):
    """n points at 60 degrees from e_0 in random directions, and e_0 itself ('hub')."""
    rng = np.random.default_rng(seed)
    g = rng.standard_normal((n, d))
    g[:, 0] = 0
    g /= np.linalg.norm(g, axis=1, keepdims=True)
    e = np.eye(d)[0]
    return Vectors([f"k{i}" for i in range(n)] + ["hub"], np.vstack([0.5 * e + np.sqrt(0.75) * g, e]))


def test_planted_hub_is_everyones_neighbor():
    # cos(x, hub) = 0.5 > cos(x, y) = 0.25 + 0.75 cos(g_x, g_y) unless the g's are unusually close
    v = planted_hub()
    r = Q.quality(v, sample=None)
    assert r.top_hubs.startswith("hub (1000), ")
    assert r.hub_max_k_occurrence == 1000
    assert r.hub_skewness > 25  # one huge outlier in N_k
    assert r.sample == 1001 and r.k == 10


def test_sample_is_seeded_and_within_bounds(small):
    a = Q.sample_ids(small, 500, seed=1)
    assert len(a) == 500 and np.all(np.diff(a) > 0)
    np.testing.assert_array_equal(a, Q.sample_ids(small, 500, seed=1))
    assert not np.array_equal(a, Q.sample_ids(small, 500, seed=2))
    assert Q.quality(small, sample=500).sample == 500


# -- isotropy ---------------------------------------------------------------------------------------
def ref_isotropy(x):
    x = np.asarray(x, dtype=np.float64)
    ratio = np.linalg.norm(x.mean(axis=0)) / np.linalg.norm(x, axis=1).mean()
    ev = np.sort(np.linalg.eigvalsh(np.cov(x.T, bias=True)))[::-1]
    _, u = np.linalg.eigh(x.T @ x)
    z = np.exp(x @ np.hstack([u, -u])).sum(axis=0)
    return ratio, ev[0] / ev.sum(), ev[:10].sum() / ev.sum(), z.min() / z.max()


def test_isotropy_agrees_with_reference(small):
    got = Q.isotropy(small)
    np.testing.assert_allclose(got, ref_isotropy(small.matrix), rtol=1e-6)


def test_anisotropic_table_with_a_dominant_direction():
    rng = np.random.default_rng(7)
    n, d = 20_000, 20
    g = rng.standard_normal((n, d))
    e = np.eye(d)[0]
    iso = Vectors([str(i) for i in range(n)], g)
    aniso = Vectors(iso.keys, g + (3 + 5 * rng.standard_normal((n, 1))) * e)
    r_iso, r_an = Q.isotropy(iso), Q.isotropy(aniso)
    assert r_iso[0] < 0.02 and r_iso[1] < 1.5 / d and r_iso[3] > 0.8
    # mean 3 e; variance 1 + 25 along e, 1 elsewhere: PC1 share 26 / 45
    assert r_an[1] == pytest.approx(26 / 45, rel=0.03)
    assert r_an[0] == pytest.approx(3 / np.linalg.norm(aniso.matrix, axis=1).mean(), rel=0.03)
    assert r_an[3] < 1e-3
    post = Q.isotropy(Q.abtt(aniso, 1))  # all-but-the-top removes the mean and e
    assert post[0] < 1e-6 and post[1] < 1.5 / (d - 1)
    # Z(+-e) = n exactly (e was removed); Z(c) = n exp(1/2) along the others (unit variance)
    assert post[3] == pytest.approx(np.exp(-0.5), rel=0.05)


# -- intrinsic dimension -----------------------------------------------------------------------------
def ref_twonn(x):
    from scipy.spatial import cKDTree

    d, _ = cKDTree(x).query(x, 3)
    mu = np.sort(d[:, 2] / d[:, 1])
    n = len(mu)
    keep = int(np.floor(n * 0.9))
    f = np.arange(1, n + 1) / n
    lx, ly = np.log(mu[:keep]), -np.log(1 - f[:keep])
    return lx @ ly / (lx @ lx)


def test_twonn_plane_in_10d_and_reference(small):
    rng = np.random.default_rng(8)
    plane = rng.uniform(size=(3000, 2)) @ rng.standard_normal((2, 10))
    est = Q.twonn(plane)
    assert est == pytest.approx(ref_twonn(plane), rel=1e-6)
    assert 1.8 < est < 2.2
    cube = rng.uniform(size=(3000, 5))
    assert 4.5 < Q.twonn(cube) < 5.5
    glove = np.asarray(small.matrix, dtype=np.float64)
    assert Q.twonn(glove) == pytest.approx(ref_twonn(glove), rel=1e-6)


# -- norms and duplicates ----------------------------------------------------------------------------
def test_spearman_of_norms_against_rank(small):
    norms = np.asarray(small.norms, dtype=np.float64)
    ranks = np.arange(small.count)
    ref = np.corrcoef(stats.rankdata(norms), stats.rankdata(ranks))[0, 1]
    assert Q.quality(small, sample=200).norm_rank_spearman == pytest.approx(ref, rel=1e-6)


def test_planted_zero_exact_and_near_duplicates(small):
    m = np.array(small.matrix[:1000], dtype=np.float32)
    keys = list(small.keys[:1000])
    rng = np.random.default_rng(9)
    extra = {
        "zero1": np.zeros(50), "zero2": np.zeros(50),
        "the_copy": m[0], "of_copy": m[3],                                   # exact duplicates
        "the_scaled": 2 * m[0],                                              # cosine 1
        "and_near": m[5] + 1e-3 * rng.standard_normal(50) * np.linalg.norm(m[5]) / 7,  # cosine ~ 1 - 1e-6
        "and_far": m[5] + 0.05 * rng.standard_normal(50),                    # cosine < 0.9999
    }
    v = Vectors(keys + list(extra), np.vstack([m] + [np.asarray(x, np.float32)[None] for x in extra.values()]))
    r = Q.quality(v, sample=None)
    assert r.zero_rows == 2
    assert r.duplicate_rows == 2
    # reference: every pair by brute force (exact duplicates of earlier rows left out)
    dup, _ = Q.exact_duplicates(v.matrix)
    keep = np.setdiff1d(np.flatnonzero(v.norms > 0), dup)
    u = np.asarray(v.unit[keep], dtype=np.float32)
    s = u @ u.T
    i, j = np.nonzero(np.triu(s > Q.NEAR_DUPLICATE_COSINE, 1))
    ref = sorted((int(keep[a]), int(keep[b])) for a, b in zip(i, j))
    pairs, _ = Q.near_duplicates(v.unit, keep)
    assert [tuple(p) for p in pairs.tolist()] == ref
    names = {(v.keys[a], v.keys[b]) for a, b in ref}
    assert {("the", "the_scaled"), (keys[5], "and_near")} <= names
    assert (keys[5], "and_far") not in names
    assert r.near_duplicate_pairs == len(ref)


def test_near_duplicates_grid_equals_brute_force_on_dense_clusters():
    # 300 centres with 4 copies each at noise levels around the threshold: many pairs on both sides
    rng = np.random.default_rng(10)
    centres = rng.standard_normal((300, 30))
    noise = rng.choice([0.004, 0.008, 0.012, 0.02], size=(300, 4, 1))  # 1 - cos ~ noise^2
    x = (centres[:, None, :] + noise * rng.standard_normal((300, 4, 30))).reshape(-1, 30)
    v = Vectors([str(i) for i in range(len(x))], x)
    u = np.asarray(v.unit, dtype=np.float32)
    s = u @ u.T
    i, j = np.nonzero(np.triu(s > Q.NEAR_DUPLICATE_COSINE, 1))
    ref = sorted(zip(i.tolist(), j.tolist()))
    assert 100 < len(ref) < 1500
    for seed in (0, 1):
        pairs, scores = Q.near_duplicates(v.unit, np.arange(len(x)), seed=seed, batch=1000)
        assert [tuple(p) for p in pairs.tolist()] == ref
        assert np.all(scores > Q.NEAR_DUPLICATE_COSINE)


# -- all-but-the-top ---------------------------------------------------------------------------------
def test_abtt_agrees_with_reference(small):
    x = np.asarray(small.matrix, dtype=np.float64)
    c = x - x.mean(axis=0)
    _, _, vt = np.linalg.svd(c, full_matrices=False)
    for d in (1, 3):
        u = vt[:d].T
        ref = c - c @ u @ u.T
        got = Q.abtt(small, d)
        np.testing.assert_allclose(got.matrix, ref, rtol=1e-5, atol=1e-5)
        assert got.keys == small.keys and got.source.endswith(f"(abtt:{d})")
    assert Q.default_abtt_d(50) == 1 and Q.default_abtt_d(300) == 3 and Q.default_abtt_d(301) == 4
    with pytest.raises(InvalidQuery, match="abtt: D must be between 0 and 49"):
        Q.abtt(small, 50)


def test_abtt_keeps_zero_rows_zero():
    v = Vectors(["a", "b", "c", "z"], [[1, 2, 0], [2, 1, 1], [0, 1, 3], [0, 0, 0]])
    out = Q.abtt(v, 1)
    assert out.matrix[3].tolist() == [0, 0, 0]
    np.testing.assert_allclose(np.asarray(out.matrix[:3]).mean(axis=0), 0, atol=1e-6)


# -- CSLS ----------------------------------------------------------------------------------------------
def test_csls_agrees_with_reference(small):
    unit = np.asarray(small.unit, dtype=np.float32)
    _, top = ref_knn(unit, 10)
    r = top.mean(axis=1)
    np.testing.assert_allclose(Q.csls_radius(unit, 10), r, atol=1e-6)
    s = unit @ unit.T
    for key in ("king", "the", "computer"):
        i = small.key_to_index[key]
        score = 2 * s[i] - r[i] - r
        score[i] = -np.inf
        best = np.argsort(-score, kind="stable")[:5]
        got = Q.csls_neighbors(small, key, k=5)
        assert [n.key for n in got] == [small.keys[b] for b in best]
        np.testing.assert_allclose([n.score for n in got], score[best], atol=1e-5)
        assert [n.rank for n in got] == [1, 2, 3, 4, 5] and {n.query for n in got} == {key}


def test_csls_reduces_hubness_on_real_vectors(small):
    # Conneau et al. (2018): CSLS neighbor lists are less dominated by hubs than cosine ones
    plain, _ = Q.knn_ids(np.asarray(small.unit), 10)
    rows = Q.csls_neighbors(small, list(small.keys), k=10)
    ids = np.array([small.key_to_index[r.key] for r in rows])
    before = Q.skewness(Q.k_occurrence(plain, small.count))
    after = Q.skewness(Q.k_occurrence(ids, small.count))
    assert before > 1.5 and after < 0.5 * before


# -- the command line ------------------------------------------------------------------------------
def test_cli_quality_json_matches_library(runner, small, tmp_path):
    path = tmp_path / "small.txt"
    from embviz import save

    save(small, path, "glove", precision=9)
    result = runner.invoke(app, ["quality", "-v", str(path), "--sample", "1000", "-f", "json", "--no-cache"])
    assert result.exit_code == 0, result.stderr
    got = json.loads(result.stdout)
    from embviz import load

    want = Q.quality(load(path, cache=False), sample=1000)
    from dataclasses import asdict

    assert got == {k: (None if isinstance(x, float) and np.isnan(x) else x) for k, x in asdict(want).items()}
    assert result.stderr.startswith("embviz: diagnosed 3,000 x 50 vectors (hubness and TwoNN on 1,000 points) in ")


def test_cli_quality_tsv_toy(runner, tmp_path):
    toy = tmp_path / "toy.txt"
    toy.write_text("a 1 0\nb 1 0\nc 0 1\nd 0 0\ne -1 0.001\n")
    result = runner.invoke(app, ["quality", "-v", str(toy), "-k", "1", "--no-cache", "-q"])
    assert result.exit_code == 0, result.stderr
    header, row = result.stdout.splitlines()
    rec = dict(zip(header.split("\t"), row.split("\t")))
    assert rec["count"] == "5" and rec["sample"] == "4" and rec["k"] == "1"
    assert rec["zero_rows"] == "1" and rec["duplicate_rows"] == "1"
    assert rec["near_duplicate_pairs"] == "0"


def test_cli_quality_bad_sample(runner):
    result = runner.invoke(app, ["quality", "--sample", "1"])
    assert result.exit_code == 2
    assert "--sample" in result.stderr and "Traceback" not in result.stderr


# -- --postprocess and --score csls on the command line -----------------------------------------
def tsv(rows):
    return "query\trank\tkey\tscore\n" + "".join(f"{r.query}\t{r.rank}\t{r.key}\t{r.score:.6f}\n" for r in rows)


def test_cli_postprocess_abtt_equals_library_and_is_cached(runner, sample, tmp_path):
    from embviz import neighbors

    want = tsv(neighbors(Q.abtt(sample, 2), ["king", "computer"], k=5))
    args = ["neighbors", "king", "computer", "-k", "5", "--postprocess", "abtt:2", "--cache-dir", str(tmp_path)]
    first = runner.invoke(app, args)
    assert (first.exit_code, first.stderr) == (0, "")
    assert first.stdout == want
    entries = [p.name for p in (tmp_path / "vectors").iterdir() if p.name.startswith("abtt-2-")]
    assert len(entries) == 1
    meta = json.loads((tmp_path / "vectors" / entries[0] / "meta.json").read_text())
    assert (meta["derived"], meta["count"], meta["dim"]) == ("abtt:2", 40000, 50)
    second = runner.invoke(app, args)  # mapped from the derived entry
    assert (second.exit_code, second.stdout, second.stderr) == (0, want, "")
    plain = runner.invoke(app, ["neighbors", "king", "computer", "-k", "5", "--postprocess", "abtt:2", "--no-cache"])
    assert plain.stdout == want


def test_cli_postprocess_default_d_and_bad_specs(runner, sample):
    from embviz import neighbors

    ok = runner.invoke(app, ["neighbors", "king", "-k", "3", "--postprocess", "abtt", "--no-cache"])
    assert ok.stdout == tsv(neighbors(Q.abtt(sample, 1), "king", k=3))
    for spec, line in [
        ("abtt:50", "embviz: error: abtt: D must be between 0 and 49 (dim - 1), got 50\n"),
        ("pca", "embviz: error: --postprocess 'pca': expected abtt or abtt:D (D an integer >= 0)\n"),
        ("abtt:x", "embviz: error: --postprocess 'abtt:x': expected abtt or abtt:D (D an integer >= 0)\n"),
    ]:
        bad = runner.invoke(app, ["neighbors", "king", "--postprocess", spec, "--no-cache"])
        assert (bad.exit_code, bad.stdout, bad.stderr) == (1, "", line)


def test_cli_neighbors_score_csls(runner, sample):
    small = sample.subset(np.arange(5000))
    want = tsv(Q.csls_neighbors(small, ["king", "computer"], k=4))
    got = runner.invoke(app, ["neighbors", "king", "computer", "-k", "4", "--score", "csls", "--restrict", "5000"])
    assert (got.exit_code, got.stderr) == (0, "")
    assert got.stdout == want
    bad = runner.invoke(app, ["neighbors", "king", "--score", "csls", "--index"])
    assert (bad.exit_code, bad.stderr) == (1, "embviz: error: --score csls uses exact search: drop --index\n")


def test_cli_csls_radii_are_cached_and_keyed_on_the_table(runner, sample, tmp_path):
    small = sample.subset(np.arange(5000))
    want = tsv(Q.csls_neighbors(small, ["king", "computer"], k=4))
    argv = ["neighbors", "king", "computer", "-k", "4", "--score", "csls", "--restrict", "5000",
            "--cache-dir", str(tmp_path)]
    for _ in range(2):
        got = runner.invoke(app, argv)
        assert (got.exit_code, got.stderr, got.stdout) == (0, "", want)
    (entry,) = (tmp_path / "arrays").glob("csls-radius-k10-r5000-*.npy")
    assert np.array_equal(np.load(entry), Q.csls_radius(small.unit, 10))
    # another restrict is another entry; --no-cache writes none
    got = runner.invoke(app, ["neighbors", "king", "-k", "2", "--score", "csls", "--restrict", "3000",
                              "--cache-dir", str(tmp_path)])
    assert got.exit_code == 0 and len(list((tmp_path / "arrays").glob("*.npy"))) == 2
    got = runner.invoke(app, ["neighbors", "king", "-k", "2", "--score", "csls", "--restrict", "2000",
                              "--cache-dir", str(tmp_path), "--no-cache"])
    assert got.exit_code == 0 and len(list((tmp_path / "arrays").glob("*.npy"))) == 2


# -- progress ----------------------------------------------------------------------------------------
@pytest.mark.slow
def test_knn_in_blocks_equals_one_kernel_call_on_the_sample(sample):
    # hubness and TwoNN search their queries block by block (a progress report after each):
    # the ids and scores are those of one call of the kernel over all queries, bit for bit
    from embviz.search import top_k

    unit = np.asarray(sample.unit, dtype=np.float32)
    assert len(unit) > 8 * Q._KNN_BLOCK
    calls = []
    ids, scores = Q.knn_ids(unit, 10, progress=lambda done, total: calls.append((done, total)))
    ref_ids, ref_scores = top_k(unit, unit, 10, exclude=[(i,) for i in range(len(unit))])
    assert np.array_equal(ids, ref_ids) and np.array_equal(scores, ref_scores)
    assert calls[0] == (0, 40_000) and calls[-1] == (40_000, 40_000) and len(calls) == 11
    x = np.asarray(sample.matrix[:20_000], dtype=np.float64)
    sq = np.einsum("ij,ij->i", x, x)
    cand = np.concatenate([x, -0.5 * sq[:, None]], axis=1).astype(np.float32)
    q = np.concatenate([x, np.ones((len(x), 1))], axis=1).astype(np.float32)
    ref, _ = top_k(cand, q, 3, exclude=[(i,) for i in range(len(x))], row_norm=Q._max_norm(cand))
    expected = np.sort(np.linalg.norm(x[ref] - x[:, None, :], axis=2), axis=1)[:, :2]
    assert np.array_equal(Q.two_nn_distances(x), expected)


def test_quality_reports_its_stages_and_answers_the_same(small):
    calls = []
    with_progress = Q.quality(small, sample=2000, progress=lambda *call: calls.append(call))
    assert with_progress == Q.quality(small, sample=2000)
    stages = list(dict.fromkeys(stage for stage, _, _ in calls))
    assert stages == ["hubness: 10 nearest neighbors", "isotropy", "TwoNN intrinsic dimension",
                      "norms vs rank", "exact duplicates", "near duplicates"]
    totals = {stage: total for stage, _, total in calls}
    assert totals["hubness: 10 nearest neighbors"] == totals["TwoNN intrinsic dimension"] == 2000
    assert totals["isotropy"] is None and totals["near duplicates"] == 41  # (3**4 + 1) / 2 cell offsets
    assert ("near duplicates", 41, 41) in calls and ("hubness: 10 nearest neighbors", 2000, 2000) in calls


def test_near_duplicates_report_progress_and_find_the_same_pairs():
    rng = np.random.default_rng(10)
    x = (rng.standard_normal((200, 1, 30)) + 0.008 * rng.standard_normal((200, 3, 30))).reshape(-1, 30)
    v = Vectors([str(i) for i in range(len(x))], x)
    calls = []
    pairs, scores = Q.near_duplicates(v.unit, np.arange(len(x)), batch=500,
                                      progress=lambda done, total: calls.append((done, total)))
    ref_pairs, ref_scores = Q.near_duplicates(v.unit, np.arange(len(x)), batch=500)
    assert len(pairs) > 50 and np.array_equal(pairs, ref_pairs) and np.array_equal(scores, ref_scores)
    assert calls == [(i, 41) for i in range(42)]
