"""embviz.compare and ``embviz diff``: known answers (rotation, permutation, planted movers),
agreement with a plain numpy/scipy reference on real GloVe vectors, bad input, exact CLI output."""

from __future__ import annotations

import re

import numpy as np
import pytest

from embviz import compare
from embviz.cli import app
from embviz.errors import InvalidQuery
from embviz.vectors import Vectors

TOY_A = "king 1 0\nqueen 0.8 0.6\nman 0.6 0.8\nwoman 0 1\napple -1 0\n"
# TOY_A rotated by 90 degrees, keys in another order, and one key only in B
TOY_B = "apple 0 -1\nking 0 1\nqueen -0.6 0.8\nman -0.8 0.6\nwoman -1 0\npear 1 1\n"


@pytest.fixture(scope="module")
def small(sample):
    """The 3,000 most frequent keys of the bundled GloVe sample (real vectors)."""
    return sample.subset(np.arange(3000))


def rotation(dim, seed=0):
    q, r = np.linalg.qr(np.random.default_rng(seed).standard_normal((dim, dim)))
    return q * np.sign(np.diag(r))


def reference(a: Vectors, b: Vectors, k: int):
    """Plain numpy/scipy: full cosine matrices, stable argsort, Python sets, scipy Procrustes."""
    from scipy.linalg import orthogonal_procrustes

    shared = [key for key in a.keys if key in b.key_to_index]
    ua = np.array([a.unit[a.key_to_index[x]] for x in shared], dtype=np.float64)
    ub = np.array([b.unit[b.key_to_index[x]] for x in shared], dtype=np.float64)

    def knn(u):
        s = (u.astype(np.float32) @ u.astype(np.float32).T).astype(np.float64)
        np.fill_diagonal(s, -np.inf)
        return np.argsort(-s, axis=1, kind="stable")[:, :k]

    na, nb = knn(ua), knn(ub)
    jac = {x: len(set(na[i]) & set(nb[i])) / len(set(na[i]) | set(nb[i])) for i, x in enumerate(shared)}
    r, _ = orthogonal_procrustes(ub, ua)
    ubr = ub @ r
    cos = {x: ua[i] @ ubr[i] / np.linalg.norm(ua[i]) / np.linalg.norm(ubr[i]) for i, x in enumerate(shared)}
    return jac, cos, r


# -- known answers ----------------------------------------------------------------------------
def test_self_diff_is_identity(small):
    report = compare.diff(small, small, k=10)
    assert report.compared == report.shared == 3000 and report.only_a == report.only_b == 0
    assert all(r.jaccard == 1.0 for r in report.rows)
    assert max(abs(r.cosine_aligned - 1.0) for r in report.rows) < 1e-6
    assert report.residual < 1e-6
    assert [r.key for r in report.rows[:3]] == list(small.keys[:3])  # ties keep A's order
    assert all(r.rank_a == r.rank_b for r in report.rows)


def test_a_rotated_copy_aligns_back(small):
    q = rotation(small.dim, seed=1)
    rotated = Vectors(small.keys, np.asarray(small.matrix, dtype=np.float64) @ q)
    report = compare.diff(small, rotated, k=10)
    assert report.residual < 1e-5
    assert min(r.cosine_aligned for r in report.rows) > 1 - 1e-5
    np.testing.assert_allclose(report.rotation, q.T, atol=1e-4)  # B R = A Q R = A
    # cosines survive a rotation up to float32 rounding: only exact near-ties at the k-th
    # neighbor may swap, so at most a handful of keys lose one neighbor
    assert sum(r.jaccard < 1 for r in report.rows) <= 5
    assert min(r.jaccard for r in report.rows) >= 9 / 11
    unaligned = compare.diff(small, rotated, k=10, align="none")
    assert np.mean([r.cosine_aligned for r in unaligned.rows]) < 0.5
    assert np.isnan(unaligned.residual)


def test_a_permutation_of_keys_changes_only_ranks(small):
    perm = np.random.default_rng(2).permutation(small.count)
    shuffled = small.subset(perm)
    report = compare.diff(small, shuffled, k=5)
    assert all(r.jaccard == 1.0 for r in report.rows)
    assert min(r.cosine_aligned for r in report.rows) > 1 - 1e-6
    where = {int(p): i + 1 for i, p in enumerate(perm)}
    assert all(r.rank_b == where[r.rank_a - 1] for r in report.rows)


def test_planted_movers_rank_first(small):
    rng = np.random.default_rng(3)
    movers = rng.choice(small.count, 30, replace=False)
    m = np.array(small.matrix, dtype=np.float32)
    m[movers] = rng.standard_normal((30, small.dim)).astype(np.float32) * small.norms[movers, None]
    q = rotation(small.dim, seed=4)
    moved = Vectors(small.keys, m @ q)
    report = compare.diff(small, moved, k=10)
    assert {r.key for r in report.rows[:30]} == {small.keys[i] for i in movers}
    assert max(r.jaccard for r in report.rows[:30]) < min(r.jaccard for r in report.rows[30:])
    assert max(r.cosine_aligned for r in report.rows[:30]) < 0.6
    assert min(r.cosine_aligned for r in report.rows[30:]) > 0.98


def test_restrict_and_vocabularies(small):
    b = small.subset(np.arange(500, 3000))  # drops A's 500 most frequent keys
    report = compare.diff(small, b, k=10, restrict=1000)
    assert (report.shared, report.only_a, report.only_b, report.compared) == (2500, 500, 0, 1000)
    assert {r.rank_a for r in report.rows} == set(range(501, 1501))
    assert all(r.rank_b == r.rank_a - 500 for r in report.rows)


# -- agreement with the reference ---------------------------------------------------------------
def test_agrees_with_numpy_scipy_reference(small):
    rng = np.random.default_rng(5)
    m = np.array(small.matrix, dtype=np.float32) @ rotation(small.dim, seed=6).astype(np.float32)
    m += 0.3 * rng.standard_normal(m.shape).astype(np.float32)  # noisy: Jaccard spread over [0, 1]
    b = Vectors(small.keys, m)
    jac, cos, r = reference(small, b, k=10)
    report = compare.diff(small, b, k=10)
    got = {row.key: row for row in report.rows}
    # Jaccard exactly (same float32 products, same tie rule); cosines to 1e-6 absolute
    assert {key: got[key].jaccard for key in jac} == jac
    assert max(abs(got[key].cosine_aligned - cos[key]) for key in cos) < 1e-6
    np.testing.assert_allclose(report.rotation, r, atol=1e-9)
    assert 0.05 < report.mean_jaccard < 0.95  # the noise really moves neighbors
    expected = sorted(jac, key=lambda x: (jac[x], round(cos[x], 9), small.key_to_index[x]))
    assert [row.key for row in report.rows][:50] == expected[:50]


def test_jaccard_rows_small_cases():
    a = np.array([[1, 2, 3], [1, 2, 3], [1, 2, 3]])
    b = np.array([[3, 2, 1], [4, 5, 6], [1, 5, 6]])
    np.testing.assert_allclose(compare.jaccard_rows(a, b), [1.0, 0.0, 1 / 5])


# -- bad input ------------------------------------------------------------------------------------
def test_no_shared_keys():
    a = Vectors(["x", "y"], [[1, 0], [0, 1]])
    b = Vectors(["p", "q"], [[1, 0], [0, 1]])
    with pytest.raises(InvalidQuery) as e:
        compare.diff(a, b)
    assert str(e.value) == "the tables share no key (A has 2 keys, e.g. 'x', 'y'; B has 2, e.g. 'p', 'q')"


def test_dims_differ_with_alignment():
    a = Vectors(["x", "y"], [[1, 0], [0, 1]])
    b = Vectors(["x", "y"], [[1, 0, 0], [0, 1, 0]])
    with pytest.raises(InvalidQuery, match="A has dim 2 and B has dim 3"):
        compare.diff(a, b)
    report = compare.diff(a, b, k=1, align="none")
    assert all(np.isnan(r.cosine_aligned) for r in report.rows)
    assert [r.jaccard for r in report.rows] == [1.0, 1.0]


# -- the command line ---------------------------------------------------------------------------
@pytest.fixture()
def toys(tmp_path):
    a, b = tmp_path / "a.txt", tmp_path / "b.txt"
    a.write_text(TOY_A)
    b.write_text(TOY_B)
    return a, b


def test_cli_diff_rotated_toy(runner, toys):
    a, b = toys
    result = runner.invoke(app, ["diff", str(a), str(b), "-k", "1", "--no-cache"])
    assert result.exit_code == 0, result.stderr
    assert result.stdout == (
        "key\trank_a\trank_b\tjaccard\tcosine_aligned\n"
        "king\t1\t2\t1.000000\t1.000000\n"
        "queen\t2\t3\t1.000000\t1.000000\n"
        "man\t3\t4\t1.000000\t1.000000\n"
        "woman\t4\t5\t1.000000\t1.000000\n"
        "apple\t5\t1\t1.000000\t1.000000\n"
    )
    assert result.stderr == (
        "embviz: A = a.txt, B = b.txt: 5 shared keys (0 only in A, 1 only in B); compared 5 at "
        "k=1: mean Jaccard 1.0000, 0.00% below 0.5; Procrustes residual 0.0000\n"
    )


def test_cli_diff_unaligned_jsonl_top(runner, toys):
    a, b = toys
    result = runner.invoke(app, ["diff", str(a), str(b), "-k", "1", "--align", "none", "--top", "1", "-f", "jsonl", "-q"])
    assert result.exit_code == 0, result.stderr
    assert result.stderr == ""
    row = __import__("json").loads(result.stdout)
    assert row["key"] == "king" and row["jaccard"] == 1.0
    assert abs(row["cosine_aligned"]) < 1e-7  # rotated by 90 degrees, not aligned


def test_cli_diff_errors(runner, toys, tmp_path):
    a, _ = toys
    other = tmp_path / "other.txt"
    other.write_text("p 1 0 0\nq 0 1 0\n")
    result = runner.invoke(app, ["diff", str(a), str(other), "--no-cache"])
    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr == (
        "embviz: error: cannot align: A has dim 2 and B has dim 3; Procrustes needs equal dims "
        "(use --align none to compare neighbor sets only)\n"
    )
    result = runner.invoke(app, ["diff", str(a), str(other), "--align", "none", "--no-cache"])
    assert result.exit_code == 1
    assert result.stderr == (
        "embviz: error: the tables share no key (A has 5 keys, e.g. 'king', 'queen', 'man'; "
        "B has 2, e.g. 'p', 'q')\n"
    )


# -- diff --html: the explorer page of a diff ---------------------------------------------------
MOVERS = [5, 50, 500, 1500]  # rows given random vectors in B


@pytest.fixture(scope="module")
def moved_pair(small, tmp_path_factory):
    """A: the 3,000-key sample subset as text; B: A rotated, with MOVERS replaced at random."""
    d = tmp_path_factory.mktemp("diffhtml")
    matrix = np.asarray(small.matrix, dtype=np.float64)
    moved = matrix @ rotation(small.dim, seed=3)
    rng = np.random.default_rng(4)
    for i in MOVERS:
        moved[i] = rng.standard_normal(small.dim)
    paths = []
    for name, m in (("a.txt", matrix), ("b.txt", moved)):
        path = d / name
        path.write_text("".join(k + " " + " ".join(f"{x:.7g}" for x in row) + "\n"
                                for k, row in zip(small.keys, m)))
        paths.append(path)
    return paths[0], paths[1], d


def _page_data(path):
    import json
    import re

    page = path.read_text(encoding="utf-8")
    data = json.loads(re.search(r'id="embviz-data">(.*?)</script>', page).group(1))
    prov = json.loads(re.search(r'id="embviz-provenance">(.*?)</script>', page).group(1))
    return data, prov


def _dec(b64, dtype):
    import base64

    return np.frombuffer(base64.b64decode(b64), dtype=dtype)


def test_cli_diff_html_shows_both_lists_of_every_drawn_key(runner, moved_pair):
    from embviz import load, search

    a, b, d = moved_pair
    out = d / "diff.html"
    argv = ["diff", str(a), str(b), "--cache-dir", str(d / "cache")]
    plain = runner.invoke(app, argv)
    paged = runner.invoke(app, [*argv, "--html", str(out), "--html-method", "pca"])
    assert paged.exit_code == 0, paged.stderr
    assert paged.stdout == plain.stdout  # the page does not change the rows
    assert re.search(r"^embviz: wrote .*diff\.html \(\d+\.\d MB, 3,000 points of A's pca map, "
                     r"coloured by Jaccard@10\) in \d+\.\d s$", paged.stderr, flags=re.M)
    data, prov = _page_data(out)
    ta, tb = load(a), load(b)
    report = compare.diff(ta, tb, k=10)
    arr = report.keys
    n, k = data["n"], data["k"]
    assert (n, k, data["total"]) == (3000, 10) + (3000,)
    rank = _dec(data["rank"], "<i4")
    pos = np.searchsorted(arr.ids_a, rank - 1)
    cmp = data["compare"]
    assert (cmp["a"], cmp["b"]) == ("a.txt", "b.txt")
    assert cmp["scope"] == "cosine among the 3,000 compared keys, in each table"
    rows = _dec(data["nbr"]["rows"], "<i4")
    assert rows.tolist() == list(range(n))
    ids_a = _dec(data["nbr"]["ids"], "<i4").reshape(n, k)
    ids_b = _dec(cmp["ids"], "<i4").reshape(n, k)
    assert np.array_equal(ids_a, arr.ids_a[arr.neighbors_a[pos]])
    assert np.array_equal(ids_b, arr.ids_a[arr.neighbors_b[pos]])
    scores_b = _dec(cmp["scores"], "<i2").reshape(n, k) / 10_000
    assert np.abs(scores_b - arr.scores_b[pos]).max() <= 5.1e-5
    jac = _dec(cmp["jaccard"], "<f4")
    assert np.array_equal(jac, arr.jaccard[pos].astype(np.float32))
    assert _dec(cmp["rank_b"], "<i4").tolist() == (arr.ids_b[pos] + 1).tolist()
    # every key is shared and all are compared: A's list is `embviz neighbors KEY -k 10` on A
    keys = data["keys"]
    for key in ("working", "the", "scene"):
        j = keys.index(key)
        want = [r.key for r in search.neighbors(ta, key, k=10)]
        assert [ta.keys[i] for i in ids_a[j].tolist()] == want
    # the planted movers: drawn, Jaccard near 0, their B lists far from their A lists
    for i in MOVERS:
        j = keys.index(ta.keys[i])
        assert jac[j] < 0.2
        assert len(set(ids_a[j].tolist()) & set(ids_b[j].tolist())) == round(jac[j] * 20 / (1 + jac[j]))
    assert prov["diff"]["b"] == "b.txt" and prov["diff"]["compared"] == 3000
    assert prov["diff"]["mean_jaccard"] == pytest.approx(report.mean_jaccard, abs=1e-6)


def test_cli_diff_html_refuses_an_unwritable_path_before_any_work(runner, toys, tmp_path):
    a, b = toys
    out = tmp_path / "missing" / "diff.html"
    result = runner.invoke(app, ["diff", str(a), str(b), "--html", str(out)])
    assert result.exit_code == 1 and result.stdout == ""
    assert result.stderr == f"embviz: error: {out}: directory {out.parent} does not exist\n"


def test_diff_with_an_ivf_index_is_approximate_and_says_how_much(small, moved_pair, runner):
    from embviz import load

    a, b, _ = moved_pair
    ta, tb = load(a), load(b)
    exact = compare.diff(ta, tb, k=10)
    approx = compare.diff(ta, tb, k=10, index=True)
    m = re.fullmatch(r"approximate \(ivf, nlist=(\d+), nprobe=(\d+); recall@10 ([\d.]+) in A, ([\d.]+) in B\)",
                     approx.search)
    from embviz.search.index import default_nlist

    assert m and int(m[1]) == default_nlist(3000) == 76 and int(m[2]) == 76 // 16
    assert min(float(m[3]), float(m[4])) >= 0.8  # 4 of 76 cells of a small table
    # the planted movers still come first; the cosines need no neighbors and are identical
    assert {r.key for r in approx.rows[: len(MOVERS)]} == {ta.keys[i] for i in MOVERS}
    assert np.array_equal(approx.keys.cosine, exact.keys.cosine)
    # the index's lists agree with exact search about as well as its measured recall says
    hits = [len(np.intersect1d(x, y)) for x, y in zip(approx.keys.neighbors_a, exact.keys.neighbors_a)]
    assert abs(np.mean(hits) / 10 - float(m[3])) < 0.03
    result = runner.invoke(app, ["diff", str(a), str(b), "--index", "--nprobe", "76", "--top", "1", "--no-cache"])
    assert result.exit_code == 0, result.stderr
    assert re.search(r"; neighbors approximate \(ivf, nlist=76, nprobe=76; recall@10 1\.000 in A, 1\.000 in B\)$",
                     result.stderr.strip())
    # without --nprobe, the command chooses each table's nprobe by measured recall@10 (target 0.95)
    result = runner.invoke(app, ["diff", str(a), str(b), "--index", "--top", "1", "--no-cache"])
    assert result.exit_code == 0, result.stderr
    m = re.search(r"; neighbors approximate \(ivf, nlist=76, nprobe=(\d+)(?: in A, (\d+) in B)?; "
                  r"recall@10 ([\d.]+) in A, ([\d.]+) in B\)$", result.stderr.strip())
    assert m and min(float(m[3]), float(m[4])) >= 0.95, result.stderr
    tuned = compare.diff(ta, tb, k=10, index=True, target_recall=0.95)
    assert f"nprobe={m[1]}" in tuned.search and tuned.rows == compare.diff(
        ta, tb, k=10, index=True, nprobe=int(m[1]) if m[2] is None else None, target_recall=0.95).rows


# -- progress ----------------------------------------------------------------------------------------
@pytest.mark.slow
def test_neighbor_lists_in_blocks_equal_one_kernel_call_on_the_sample(sample):
    from embviz.search import top_k

    unit = np.asarray(sample.unit, dtype=np.float32)
    calls = []
    ids, scores = compare.neighbor_lists(unit, 10, progress=lambda done, total: calls.append((done, total)))
    ref_ids, ref_scores = top_k(unit, unit, 10, exclude=[(i,) for i in range(len(unit))])
    assert np.array_equal(ids, ref_ids) and np.array_equal(scores, ref_scores)
    assert calls[0] == (0, 40_000) and calls[-1] == (40_000, 40_000) and len(calls) == 11


def test_diff_reports_its_stages_and_answers_the_same(small):
    b = Vectors(small.keys, np.asarray(small.matrix) @ rotation(small.dim) + 0.01)
    calls = []
    got = compare.diff(small, b, progress=lambda *call: calls.append(call))
    want = compare.diff(small, b)
    assert got.rows == want.rows and np.array_equal(got.rotation, want.rotation)
    assert list(dict.fromkeys(stage for stage, _, _ in calls)) == [
        "shared keys", "neighbors in A", "neighbors in B", "Procrustes alignment", "ranking the changes"]
    assert ("neighbors in A", 3000, 3000) in calls and ("neighbors in B", 0, 3000) in calls
    calls.clear()
    compare.diff(small, b, index=True, align="none", progress=lambda *call: calls.append(call))
    assert list(dict.fromkeys(stage for stage, _, _ in calls)) == [
        "shared keys", "A: IVF index", "A: neighbors from the index", "A: recall@10 on 1,000 keys",
        "B: IVF index", "B: neighbors from the index", "B: recall@10 on 1,000 keys", "ranking the changes"]
