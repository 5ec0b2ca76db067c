"""Metrics (cosine, dot, euclidean), `recommend`, `neighbors --all`, metadata on answers, histories.

Synthetic tables with planted answers (an item whose vector is the user's mean, a seen item that
must be excluded, norms that make dot and cosine disagree), numpy references for every metric,
and implicit 0.7.3's `recommend` on the same factors.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from embviz import Vectors
from embviz.cli import app
from embviz.errors import EmbvizWarning, FormatError, InvalidQuery, KeyNotFound
from embviz.io.interactions import read_histories
from embviz.search import metric as M
from embviz.search import queries as Q
from embviz.search import recommender as R

runner = CliRunner()


def reference(matrix, queries, metric):
    """Full float64 score matrix ``(m, n)`` by the textbook formula."""
    x, q = matrix.astype(np.float64), queries.astype(np.float64)
    if metric == "cosine":
        return (q / np.linalg.norm(q, axis=1, keepdims=True)) @ (x / np.linalg.norm(x, axis=1, keepdims=True)).T
    if metric == "dot":
        return q @ x.T
    return -np.sqrt(((q[:, None, :] - x[None]) ** 2).sum(-1))


def ref_top(scores, k):
    ids = np.argsort(-scores, axis=1, kind="stable")[:, :k]
    return ids, np.take_along_axis(scores, ids, axis=1)


@pytest.fixture(scope="module")
def table():
    rng = np.random.default_rng(7)
    m = rng.normal(size=(3000, 24)).astype(np.float32) * rng.uniform(0.2, 4, size=(3000, 1)).astype(np.float32)
    return Vectors([f"i{j}" for j in range(3000)], m)


# -- metrics ------------------------------------------------------------------------------------
@pytest.mark.parametrize("metric", ["cosine", "dot", "euclidean"])
def test_top_k_by_agrees_with_numpy(table, metric):
    rng = np.random.default_rng(1)
    q = rng.normal(size=(40, 24)).astype(np.float32) * 2
    excl = [[j, j + 1, 2999] for j in range(40)]
    ids, scores = M.top_k_by(table, q, 10, metric=metric, exclude=excl)
    ref = reference(table.matrix, q, metric)
    for j, e in enumerate(excl):
        ref[j, e] = -np.inf
    rid, rs = ref_top(ref, 10)
    assert ids.dtype == np.int64 and scores.dtype == np.float32 and ids.shape == (40, 10)
    assert np.array_equal(ids, rid)
    np.testing.assert_allclose(scores, rs, rtol=2e-6, atol=2e-6)


@pytest.mark.parametrize("metric", ["cosine", "dot", "euclidean"])
def test_top_k_by_candidate_subset_and_restrict(table, metric):
    rng = np.random.default_rng(2)
    q = rng.normal(size=(5, 24)).astype(np.float32)
    cols = np.array([3, 10, 500, 1000, 2000, 2500, 2999], dtype=np.int64)
    ids, scores = M.top_k_by(table, q, 4, metric=metric, columns=cols, exclude=[[500]] * 5)
    ref = np.full((5, 3000), -np.inf)
    full = reference(table.matrix, q, metric)
    keep = np.setdiff1d(cols, [500])
    ref[:, keep] = full[:, keep]
    rid, _ = ref_top(ref, 4)
    assert np.array_equal(ids, rid)
    ids, _ = M.top_k_by(table, q, 3, metric=metric, restrict=100)
    assert ids.max() < 100
    assert np.array_equal(ids, ref_top(full[:, :100], 3)[0])


def test_dot_and_cosine_disagree_by_construction():
    # b points the query's way; a is off by 45 degrees but ten times longer
    v = Vectors(["q", "a", "b"], [[1, 0], [10, 10], [1, 0.01]])
    assert [n.key for n in Q.neighbors(v, "q", k=2)] == ["b", "a"]
    dot = Q.neighbors(v, "q", k=2, metric="dot")
    assert [(n.key, n.score) for n in dot] == [("a", 10.0), ("b", 1.0)]
    euc = Q.neighbors(v, "q", k=2, metric="euclidean")
    assert [n.key for n in euc] == ["b", "a"]
    assert euc[0].score == pytest.approx(-0.01, abs=1e-7)
    assert euc[1].score == pytest.approx(-np.sqrt(81 + 100), rel=1e-6)


def test_metric_errors(table):
    with pytest.raises(InvalidQuery, match="unknown metric 'manhattan': expected one of cosine, dot, euclidean"):
        M.top_k_by(table, np.ones((1, 24), np.float32), 3, metric="manhattan")
    with pytest.raises(InvalidQuery, match="query vector 0 is all zeros"):
        M.top_k_by(table, np.zeros((1, 24), np.float32), 3)
    ids, scores = M.top_k_by(table, np.zeros((1, 24), np.float32), 3, metric="dot")  # zero is fine for dot
    assert ids.shape == (1, 3) and (scores == 0).all()


def test_euclidean_ties_go_to_the_lower_row():
    v = Vectors(["a", "b", "c", "d"], [[1, 0], [0, 1], [1, 0], [0, 1]])
    ids, scores = M.top_k_by(v, np.array([[1, 0]], np.float32), 4, metric="euclidean")
    assert ids.tolist() == [[0, 2, 1, 3]]
    assert scores[0, :2].tolist() == [0.0, 0.0]


# -- histories ----------------------------------------------------------------------------------
def write_log(tmp_path, rows, name="log.parquet", columns=("user_id", "item_id", "timestamp")):
    import pyarrow as pa
    import pyarrow.parquet as pq

    cols = list(zip(*rows))
    p = tmp_path / name
    if name.endswith(".parquet"):
        pq.write_table(pa.table({c: list(v) for c, v in zip(columns, cols)}), p)
    else:
        sep = "," if name.endswith(".csv") else "\t"
        p.write_text(sep.join(columns) + "\n" + "".join(sep.join(map(str, r)) + "\n" for r in rows))
    return p


def test_read_histories_groups_in_time_order_and_counts_drops(tmp_path):
    keys = ["10", "20", "30", "40"]
    rows = [(7, 30, 5), (7, 10, 1), (8, 20, 3), (7, 99, 2), (8, 40, 1), (9, 99, 1)]
    h = read_histories(write_log(tmp_path, rows), keys)
    assert h.users == ("7", "8")  # first appearance; user 9 saw only an unknown item
    assert [h.history(j).tolist() for j in range(2)] == [[0, 2], [3, 1]]  # by timestamp
    assert (h.rows, h.unknown_items, h.missing, h.unknown_examples) == (6, 2, 0, ("99",))
    assert h.weights is None


def test_read_histories_recbole_tsv_and_csv(tmp_path):
    p = tmp_path / "ml.inter"
    p.write_text("user_id:token\titem_id:token\trating:float\ttimestamp:float\n1\tb\t4\t20\n1\ta\t5\t10\n2\tc\t1\t5\n")
    h = read_histories(p, ["a", "b", "c"], weight_column="rating")
    assert h.users == ("1", "2") and h.items.tolist() == [0, 1, 2]
    assert h.weights.tolist() == [5.0, 4.0, 1.0]
    csv = write_log(tmp_path, [("u", "a", 2), ("u", "", 1), ("", "b", 1)], "log.csv", ("customer_id", "product_id", "time"))
    h = read_histories(csv, ["a", "b"])
    assert h.users == ("u",) and h.items.tolist() == [0] and h.missing == 2


def test_read_histories_errors(tmp_path):
    with pytest.raises(FormatError, match="nope.parquet: no such file"):
        read_histories(tmp_path / "nope.parquet", ["a"])
    p = write_log(tmp_path, [(1, "x", 1)])
    with pytest.raises(FormatError) as err:
        read_histories(p, ["a"], user_column="who")
    assert str(err.value) == f"{p}: no column 'who' for the users (--user-column) (columns: user_id, item_id, timestamp)"
    with pytest.raises(FormatError, match=r"no event has a known item \(1 rows, 1 with items not in the item table, e.g. 'x'"):
        read_histories(p, ["a"])
    with pytest.raises(FormatError, match="column 'item_id' is already used for another role; name another for the weights"):
        read_histories(p, ["x"], weight_column="item_id")
    q = write_log(tmp_path, [(1, "x", "heavy")], "w.parquet", ("user", "item", "w"))
    with pytest.raises(FormatError, match="column 'w' is string, expected numbers for --weight-column"):
        read_histories(q, ["x"], weight_column="w")


# -- recommend (library) ---------------------------------------------------------------------
@pytest.fixture()
def planted(tmp_path):
    """Four items; user u saw a and b, whose mean points at item m; item m2 is far."""
    items = Vectors(["a", "b", "m", "far"], [[1, 0, 0], [0, 1, 0], [0.5, 0.5, 0.01], [0, 0, 1]])
    log = write_log(tmp_path, [("u", "a", 1), ("u", "b", 2), ("v", "far", 1)], columns=("user", "item", "ts"))
    return items, read_histories(log, items.keys), log


def test_recommend_history_mean_plants_the_answer_and_excludes_seen(planted):
    items, hist, _ = planted
    rows = R.recommend(items, history=hist, k=2, user_keys=["u"])
    assert [r.item for r in rows] == ["m", "a"]  # a and b tie (0.70...) : lower row first
    rows = R.recommend(items, history=hist, k=4, exclude_seen=True)
    assert [(r.user, r.rank, r.item) for r in rows] == [
        ("u", 1, "m"), ("u", 2, "far"), ("v", 1, "m"), ("v", 2, "a"), ("v", 3, "b")]
    assert rows[0].score == pytest.approx(float(reference(items.matrix[2:3], np.array([[0.5, 0.5, 0]]), "cosine")[0, 0]))


def test_recommend_user_table_dot_matches_numpy_and_options(planted):
    items, hist, _ = planted
    users = Vectors(["u", "v", "w"], [[2, 1, 0], [0, 0, 3], [1, 1, 1]])
    rows = R.recommend(items, users=users, k=2, metric="dot")
    ref = items.matrix.astype(np.float64) @ users.matrix.astype(np.float64).T
    expect = [(u, r + 1, items.keys[i], ref[i, j]) for j, u in enumerate(users.keys)
              for r, i in enumerate(np.argsort(-ref[:, j], kind="stable")[:2])]
    assert [(r.user, r.rank, r.item) for r in rows] == [e[:3] for e in expect]
    assert [r.score for r in rows] == pytest.approx([e[3] for e in expect], rel=1e-6)
    rows = R.recommend(items, users=users, history=hist, k=1, metric="dot", exclude_seen=True, user_keys=["u"])
    assert [r.item for r in rows] == ["m"]  # a (2.0) was seen
    rows = R.recommend(items, users=users, k=1, metric="dot", include=["b", "far"], user_keys=["u"])
    assert [r.item for r in rows] == ["b"]
    rows = R.recommend(items, users=users, k=1, metric="dot", exclude=["a"], user_keys=["u"])
    assert [r.item for r in rows] == ["m"]


def test_recommend_recent_and_weights(tmp_path):
    items = Vectors(["a", "b", "c"], [[1, 0], [0, 1], [1, 0.1]])
    log = write_log(tmp_path, [("u", "a", 1, 1.0), ("u", "b", 2, 9.0)], columns=("user", "item", "ts", "w"))
    hist = read_histories(log, items.keys, weight_column="w")
    assert [r.item for r in R.recommend(items, history=hist, k=1, recent=1, exclude_seen=True)] == ["c"]
    # weights 1 and 9: the user vector leans to b
    q = R.mean_vectors(items, hist, np.array([0]), weighted=True)
    np.testing.assert_allclose(q, [[0.1, 0.9]], rtol=1e-6)
    np.testing.assert_allclose(R.mean_vectors(items, hist, np.array([0])), [[0.5, 0.5]])
    np.testing.assert_allclose(R.mean_vectors(items, hist, np.array([0]), recent=1), [[0, 1]])


def test_recommend_unknown_users_warn_or_raise(planted):
    items, hist, _ = planted
    with pytest.warns(EmbvizWarning, match=r"skipped 1 unknown users \(not in the history .*\), e.g. 'zz'"):
        rows = R.recommend(items, history=hist, k=1, user_keys=["zz", "u"])
    assert [r.user for r in rows] == ["u"]
    with pytest.raises(KeyNotFound, match="user 'zz' is not in the history"):
        R.recommend(items, history=hist, k=1, user_keys=["zz"], strict=True)
    with pytest.raises(InvalidQuery, match="needs the users' histories"):
        R.recommend(items, users=Vectors(["u"], [[1, 0, 0]]), exclude_seen=True)
    with pytest.raises(InvalidQuery, match="user vectors have 2 dimensions, item vectors 3"):
        R.recommend(items, users=Vectors(["u"], [[1, 0]]))


def test_recommend_blocks_equal_one_batch(table):
    rng = np.random.default_rng(3)
    users = Vectors([f"u{j}" for j in range(300)], rng.normal(size=(300, 24)).astype(np.float32))
    who = R.resolve_users(user_table=users)
    whole = list(R.recommend_blocks(table, who, user_table=users, k=7, metric="dot"))
    small = list(R.recommend_blocks(table, who, user_table=users, k=7, metric="dot", block=64))
    assert len(whole) == 1 and len(small) == 5
    assert np.array_equal(whole[0][1], np.concatenate([b[1] for b in small]))
    assert np.array_equal(whole[0][2], np.concatenate([b[2] for b in small]))


def test_recommend_agrees_with_implicit():
    implicit = pytest.importorskip("implicit")
    import scipy.sparse as sp

    rng = np.random.default_rng(11)
    nu, ni, d = 400, 2000, 16
    uf = rng.normal(size=(nu, d)).astype(np.float32)
    itf = (rng.normal(size=(ni, d)) * rng.uniform(0.2, 2, size=(ni, 1))).astype(np.float32)
    seen = sp.random(nu, ni, density=0.01, format="csr", random_state=5, dtype=np.float32)
    seen.data[:] = 1
    model = implicit.cpu.als.AlternatingLeastSquares(factors=d)
    model.user_factors, model.item_factors = uf, itf
    ref_ids, ref_scores = model.recommend(np.arange(nu), seen, N=10, filter_already_liked_items=True)
    items = Vectors([str(i) for i in range(ni)], itf)
    users = Vectors([str(u) for u in range(nu)], uf)
    excl = [seen.indices[seen.indptr[u]:seen.indptr[u + 1]] for u in range(nu)]
    ids, scores = M.top_k_by(items, users.matrix, 10, metric="dot", exclude=excl)
    np.testing.assert_allclose(scores, ref_scores, rtol=1e-5, atol=1e-5)
    # ids equal except where implicit's float32 scores tie (embviz ranks ties by the exact score)
    differ = np.argwhere(ids != ref_ids)
    assert len(differ) <= 4
    exact = uf.astype(np.float64) @ itf.astype(np.float64).T
    for u, r in differ:
        assert ref_scores[u, r] == pytest.approx(scores[u, r], rel=1e-6)
        assert exact[u, ids[u, r]] >= exact[u, ref_ids[u, r]]
    assert np.array_equal(np.sort(ids[np.unique(differ[:, 0])]), np.sort(ref_ids[np.unique(differ[:, 0])])) or \
        all(set(ids[u]) - set(ref_ids[u]) <= {ids[u, -1]} for u in np.unique(differ[:, 0]))


def test_similar_blocks_equal_neighbors(table):
    got = list(R.similar_blocks(table, 5, block=700))
    rows = np.concatenate([b[0] for b in got])
    ids = np.concatenate([b[1] for b in got])
    assert np.array_equal(rows, np.arange(3000))
    for j in (0, 1234, 2999):
        assert ids[j].tolist() == [table.key_to_index[n.key] for n in Q.neighbors(table, table.keys[j], k=5)]
    ids_dot = np.concatenate([b[1] for b in R.similar_blocks(table, 3, metric="dot", restrict=500)])
    ref = reference(table.matrix[:500], table.matrix[:500], "dot")
    np.fill_diagonal(ref, -np.inf)
    assert np.array_equal(ids_dot, ref_top(ref, 3)[0])


def test_norm_popularity_spearman(planted):
    items, hist, _ = planted
    assert R.norm_popularity_spearman(items, hist) is None  # 3 items with events: too few to say
    rare_long = Vectors(["p", "q", "r"], [[1, 0], [2, 0], [3, 0]])
    from embviz.io.interactions import Histories

    h = Histories(("u",), np.array([0, 6]), np.array([0, 0, 0, 1, 1, 2]), None, "log", 6)
    assert R.norm_popularity_spearman(rare_long, h, min_items=3) == pytest.approx(1.0)
    h2 = Histories(("u",), np.array([0, 6]), np.array([2, 2, 2, 1, 1, 0]), None, "log", 6)
    assert R.norm_popularity_spearman(rare_long, h2, min_items=3) == pytest.approx(-1.0)


# -- CLI --------------------------------------------------------------------------------------
@pytest.fixture()
def files(tmp_path):
    """items.parquet (item_id, vector), users.parquet, log.parquet, movies.tsv."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    def table(keys, m):
        m = np.asarray(m, dtype=np.float32)
        return pa.table({"item_id": keys, "vector": pa.FixedSizeListArray.from_arrays(pa.array(m.ravel()), m.shape[1])})

    pq.write_table(table(["a", "b", "m", "far"], [[1, 0, 0], [0, 1, 0], [0.5, 0.5, 0.01], [0, 0, 1]]), tmp_path / "items.parquet")
    users = table(["u", "v"], [[2, 1, 0], [0, 0, 3]]).rename_columns(["user_id", "vector"])
    pq.write_table(users, tmp_path / "users.parquet")
    write_log(tmp_path, [("u", "a", 1), ("u", "b", 2), ("v", "far", 1), ("v", "gone", 2)], columns=("user", "item", "ts"))
    (tmp_path / "movies.tsv").write_text(
        "item\ttitle\tgenres\na\tAlpha (1995)\tComedy\nb\tBeta, \"The\" (1996)\tDrama|Comedy\n"
        "m\tMiddle (1997)\tDrama\nfar\tFar (1998)\tHorror\n")
    return tmp_path


def invoke(files, *args):
    return runner.invoke(app, [*args, "--no-cache"], catch_exceptions=False)


def test_cli_recommend_history_exclude_seen_with_titles(files):
    r = invoke(files, "recommend", "-v", str(files / "items.parquet"), "--history", str(files / "log.parquet"),
               "--exclude-seen", "-k", "2", "--meta", str(files / "movies.tsv"), "--show", "title")
    assert r.exit_code == 0, r.stderr
    assert r.stdout == (
        "user\trank\titem\tscore\ttitle\n"
        "u\t1\tm\t0.999900\tMiddle (1997)\n"
        "u\t2\tfar\t0.000000\tFar (1998)\n"
        "v\t1\tm\t0.014141\tMiddle (1997)\n"
        "v\t2\ta\t0.000000\tAlpha (1995)\n"
    )
    assert r.stderr == (
        "embviz: keys of items.parquet: column item_id\n"
        "embviz: warning: log.parquet: 1 of 4 events dropped: 1 with items not in items.parquet (e.g. 'gone')\n"
        "embviz: recommending 2 of 4 items for 2 users; vectors: mean of each user's history item vectors; "
        "metric cosine (cosine similarity in [-1, 1]); seen items excluded\n"
    )


def test_cli_recommend_users_dot_to_parquet_and_jsonl(files):
    import pyarrow.parquet as pq

    out = files / "recs.parquet"
    r = invoke(files, "recommend", "-v", str(files / "items.parquet"), "--users", str(files / "users.parquet"),
               "--metric", "dot", "-k", "2", "-o", str(out), "-q")
    assert r.exit_code == 0, r.stderr
    assert r.stdout == "" and r.stderr == ""
    t = pq.read_table(out)
    assert t.schema.names == ["user", "rank", "item", "score"]
    assert str(t.schema.field("rank").type) == "int64" and str(t.schema.field("score").type) == "float"
    assert t.to_pydict() == {"user": ["u", "u", "v", "v"], "rank": [1, 2, 1, 2], "item": ["a", "m", "far", "m"],
                             "score": [2.0, pytest.approx(1.5), 3.0, pytest.approx(0.03)]}
    assert not [p for p in files.iterdir() if p.name.startswith(".recs")]  # no temporary file left
    r = invoke(files, "recommend", "v", "-v", str(files / "items.parquet"), "--users", str(files / "users.parquet"),
               "--metric", "dot", "-k", "1", "-f", "jsonl", "-q")
    row = json.loads(r.stdout)
    assert row["user"] == "v" and row["item"] == "far" and row["score"] == 3.0
    assert row["search"].startswith("1 user; vectors: user table users.parquet; metric dot (dot product)")


def test_cli_recommend_include_where_and_exclude_file(files):
    (files / "ban.txt").write_text("m\n")
    r = invoke(files, "recommend", "u", "-v", str(files / "items.parquet"), "--history", str(files / "log.parquet"),
               "--meta", str(files / "movies.tsv"), "--include-where", "genres=Comedy", "-k", "5", "-q")
    assert r.exit_code == 0, r.stderr
    assert [line.split("\t")[2] for line in r.stdout.splitlines()[1:]] == ["a", "b"]
    r = invoke(files, "recommend", "u", "-v", str(files / "items.parquet"), "--history", str(files / "log.parquet"),
               "--exclude", str(files / "ban.txt"), "--exclude-seen", "-k", "5", "-q")
    assert [line.split("\t")[2] for line in r.stdout.splitlines()[1:]] == ["far"]


@pytest.mark.parametrize("args, message", [
    ([], "recommend needs users: --users FILE (user vectors) or --history FILE (interactions)"),
    (["--users", "{d}/users.parquet", "--exclude-seen"], "--exclude-seen needs --history FILE (what each user has seen)"),
    (["--history", "{d}/log.parquet", "--user-column", "who"],
     "{d}/log.parquet: no column 'who' for the users (--user-column) (columns: user, item, ts)"),
    (["--history", "{d}/log.parquet", "--strict"],
     "log.parquet: 1 of 4 events dropped: 1 with items not in items.parquet (e.g. 'gone')"),
    (["--users", "{d}/users.parquet", "zz", "--strict"], "user 'zz' is not in the user table"),
    (["--history", "{d}/log.parquet", "--show", "title"], "items.parquet has no metadata columns: pass --meta FILE "
     "(a TSV, CSV or Parquet table of key, title, ...) for --show or --by"),
    (["--history", "{d}/log.parquet", "-o", "{d}/out.xlsx"],
     "--output {d}/out.xlsx: unknown type '.xlsx'; expected .parquet, .tsv, .csv, .jsonl, .json"),
    (["--history", "{d}/log.parquet", "--meta", "{d}/movies.tsv", "--include-where", "genre=Comedy"],
     "--include-where: no metadata column 'genre' (columns: title, genres)"),
])
def test_cli_recommend_errors(files, args, message):
    args = [a.replace("{d}", str(files)) for a in args]
    r = runner.invoke(app, ["recommend", "-v", str(files / "items.parquet"), "--no-cache", "-q", *args])
    assert r.exit_code in (1, 3), r.stderr
    assert r.stdout == ""
    assert r.stderr == "embviz: error: " + message.replace("{d}", str(files)) + "\n"


def test_cli_neighbors_metric_show_by_and_all(files):
    items = str(files / "items.parquet")
    meta = str(files / "movies.tsv")
    r = invoke(files, "neighbors", "-v", items, "--meta", meta, "--by", "title", "Alpha (1995)", "-k", "2", "-q")
    assert r.exit_code == 0, r.stderr
    assert r.stdout == (
        "query\trank\tkey\tscore\ttitle\tgenres\n"
        "Alpha (1995)\t1\tm\t0.707036\tMiddle (1997)\tDrama\n"
        "Alpha (1995)\t2\tb\t0.000000\tBeta, \"The\" (1996)\tDrama|Comedy\n"
    )
    r = invoke(files, "neighbors", "-v", items, "--meta", meta, "--by", "title", "/^(Alpha|Beta)/", "-q")
    assert r.exit_code == 1
    assert r.stderr == ("embviz: error: title '/^(Alpha|Beta)/' matches 2 rows: a (Alpha (1995)); "
                        "b (Beta, \"The\" (1996)); make it exact or query by key\n")
    r = invoke(files, "neighbors", "-v", items, "--by", "title", "Nope", "--meta", meta, "-q")
    assert r.exit_code == 3 and r.stderr == "embviz: error: no row of movies.tsv has title 'Nope'\n"
    r = invoke(files, "neighbors", "-v", items, "a", "--metric", "dot", "-k", "2", "-q")
    assert r.stdout == "query\trank\tkey\tscore\na\t1\tm\t0.500000\na\t2\tb\t0.000000\n"
    r = invoke(files, "neighbors", "-v", items, "a", "--metric", "euclidean", "-k", "1", "-q")
    assert r.stdout == "query\trank\tkey\tscore\na\t1\tm\t-0.707177\n"
    r = invoke(files, "neighbors", "-v", items, "--all", "-k", "1", "-q", "--meta", meta, "--show", "genres")
    assert r.stdout == ("query\trank\tkey\tscore\tgenres\n"
                        "a\t1\tm\t0.707036\tDrama\nb\t1\tm\t0.707036\tDrama\n"
                        "m\t1\ta\t0.707036\tComedy\nfar\t1\tm\t0.014141\tDrama\n")
    out = files / "sim.tsv"
    r = invoke(files, "neighbors", "-v", items, "--all", "-k", "1", "-o", str(out), "-q")
    assert r.stdout == "" and out.read_text() == "query\trank\tkey\tscore\na\t1\tm\t0.707036\nb\t1\tm\t0.707036\n" \
        "m\t1\ta\t0.707036\nfar\t1\tm\t0.014141\n"
    r = invoke(files, "neighbors", "-v", items, "a", "--all", "-q")
    assert r.exit_code == 1 and r.stderr == "embviz: error: give QUERIES or --all (every key's neighbors), not both\n"


def test_cli_neighbors_own_columns_of_a_parquet_table(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    m = np.array([[1, 0], [1, 0.1], [0, 1]], dtype=np.float32)
    pq.write_table(pa.table({"item_id": [1, 2, 3], "title": ["One", "Two", None],
                             "vector": pa.FixedSizeListArray.from_arrays(pa.array(m.ravel()), 2)}), tmp_path / "t.parquet")
    r = runner.invoke(app, ["neighbors", "-v", str(tmp_path / "t.parquet"), "1", "-k", "2", "--show", "title", "-q", "--no-cache"])
    assert r.exit_code == 0, r.stderr
    assert r.stdout == "query\trank\tkey\tscore\ttitle\n1\t1\t2\t0.995037\tTwo\n1\t2\t3\t0.000000\t\n"


# -- indexes in every metric --------------------------------------------------------------------
@pytest.mark.parametrize("metric", ["cosine", "dot", "euclidean"])
def test_flat_index_in_each_metric_equals_exact_search(table, metric, tmp_path):
    from embviz.search import index as I

    rows = table.unit if metric == "cosine" else table.matrix
    idx = I.Index.build(rows, "flat", metric=metric)
    rng = np.random.default_rng(4)
    q = rng.normal(size=(30, 24)).astype(np.float32)
    if metric == "cosine":
        q /= np.linalg.norm(q, axis=1, keepdims=True)
    excl = [[j] for j in range(30)]
    ids, scores = idx.search(q, 10, exclude=excl)
    ref_ids, ref_scores = M.top_k_by(table, q, 10, metric=metric, exclude=excl)
    assert np.array_equal(ids, ref_ids)
    np.testing.assert_allclose(scores, ref_scores, rtol=1e-4, atol=1e-4)
    one, one_s = idx.search(q[:1], 5)  # the single-query path
    assert np.array_equal(one[0], M.top_k_by(table, q[:1], 5, metric=metric)[0][0])
    assert idx.recall(rows) == 1.0
    path = I.index_file(tmp_path, "flat", metric)
    assert path.name == ("index-flat.faiss" if metric == "cosine" else f"index-flat-{metric}.faiss")
    idx.save(path)
    back = I.Index.load(path, unit=rows)
    assert back.metric == metric
    assert np.array_equal(back.search(q, 10, exclude=excl)[0], ids)


@pytest.mark.parametrize("metric", ["dot", "euclidean"])
def test_hnsw_index_recall_is_measured_in_its_metric(table, metric):
    from embviz.search import index as I

    idx = I.build_for(table, None, "hnsw", metric=metric)
    assert idx.metric == metric and idx.recall_at_build > 0.5  # 3,000 random 24-d rows: a hard set
    assert idx.recall() == idx.recall_at_build
    assert f"metric {metric}" in idx.describe()
    # exact answers (the fallback) are in the index's metric
    q = table.matrix[:3]
    e_ids, _ = idx.exact(q, 4, exclude=[[0], [1], [2]])
    assert np.array_equal(e_ids, M.top_k_by(table, q, 4, metric=metric, exclude=[[0], [1], [2]])[0])


def test_cli_index_per_metric_and_recommend_with_index(files, tmp_path):
    cache = ["--cache-dir", str(tmp_path / "cache")]
    items = str(files / "items.parquet")
    r = runner.invoke(app, ["index", "build", "-v", items, "--method", "flat", "--metric", "dot", "-q", *cache])
    assert r.exit_code == 0, r.stderr
    assert "\tflat\t4\t3\tmetric=dot\t1.000000\t" in r.stdout
    args = ["recommend", "-v", items, "--users", str(files / "users.parquet"), "--metric", "dot", "-k", "2", *cache]
    exact = runner.invoke(app, args)
    approx = runner.invoke(app, [*args, "--index"])
    assert approx.exit_code == 0, approx.stderr
    assert approx.stdout == exact.stdout
    assert "embviz: exact (flat, metric dot, recall@10 1.000 measured at build)\n" in approx.stderr
    r = runner.invoke(app, [*args, "--index", "--include", str(files / "movies.tsv")])
    assert r.exit_code == 1
    assert r.stderr.endswith("embviz: error: --include/--include-where search a subset exactly: drop --index\n")
    nb = ["neighbors", "-v", items, "--all", "-k", "2", "--metric", "dot", "-q", *cache]
    assert runner.invoke(app, [*nb, "--index"]).stdout == runner.invoke(app, nb).stdout


@pytest.mark.parametrize("metric", ["cosine", "dot", "euclidean"])
def test_blocks_on_threads_answer_as_one_thread(monkeypatch, metric):
    from embviz.search import selection

    rng = np.random.default_rng(5)
    m = rng.normal(size=(30000, 16)).astype(np.float32)  # above one block's 20,480 columns at k=10
    m[1000:1050] = m[0]  # tied duplicate rows
    v = Vectors([str(i) for i in range(len(m))], m)
    q = np.concatenate([m[:20], rng.normal(size=(2500, 16)).astype(np.float32)])
    ex = [rng.choice(30000, 12, replace=False) for _ in range(len(q))]
    monkeypatch.setattr(selection, "_FUSED_CELLS", 1 << 62)  # the numpy selection's threads
    monkeypatch.setattr(selection, "_FUSED_LOADED_CELLS", 1 << 62)
    monkeypatch.setattr(selection, "_cores", lambda: 2)  # _select's worker threads
    threads = []
    real = selection._select_threads
    monkeypatch.setattr(selection, "_select_threads", lambda *a, **kw: threads.append(1) or real(*a, **kw))
    two = M.top_k_by(v, q, 10, metric=metric, exclude=ex)
    assert threads  # the two workers ran
    monkeypatch.setattr(selection, "_cores", lambda: 1)
    one = M.top_k_by(v, q, 10, metric=metric, exclude=ex)
    assert np.array_equal(two[0], one[0]) and np.array_equal(two[1], one[1])
    monkeypatch.setattr(selection, "_FUSED_CELLS", 0)  # the compiled selection, two threads and one
    for cores in (2, 1):
        monkeypatch.setattr(selection, "_cores", lambda: cores)
        fused = M.top_k_by(v, q, 10, metric=metric, exclude=ex)
        assert np.array_equal(fused[0], one[0]) and np.array_equal(fused[1], one[1])
    ref = reference(m, q[20:120], metric)  # a numpy check of 100 of the untied queries
    for j, e in enumerate(ex[20:120]):
        ref[j, e] = -np.inf
    assert np.array_equal(one[0][20:120], ref_top(ref, 10)[0])
