"""``embviz index eval`` and embviz.search.index_eval: an index checked on an ann-benchmarks file.

The file is written here with h5py in ann-benchmarks' layout from the real GloVe sample:
``train`` = its first 20,000 rows, ``test`` = 200 other rows, ``neighbors`` = their exact
cosine top 100 computed with numpy, attribute ``distance`` = "angular".
"""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
from typer.testing import CliRunner

from embviz import io as formats
from embviz import search
from embviz.cli import app
from embviz.errors import InvalidQuery
from embviz.io import cache
from embviz.io.options import SourceOptions
from embviz.search import index as search_index
from embviz.search import index_eval
from embviz.search.index import Index
from embviz.vectors import RowIds, Vectors

h5py = pytest.importorskip("h5py")  # a test dependency (pyproject's test extra): CI never skips
pytest.importorskip("faiss")

N, Q = 20_000, 200
HEADER = "search\trecall_at_10\tqueries\tseconds\tqps"
KEYS_LINE = (
    "embviz: keys of glove-50-angular.hdf5: row ids 0..19,999 (no keys file: pass --vocab FILE or put "
    "glove-50-angular.keys.txt beside it)\n"
)


def run(args, exit_code=0):
    result = CliRunner().invoke(app, [str(a) for a in args])
    assert result.exit_code == exit_code, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    return result


@pytest.fixture(scope="module")
def ann(sample, tmp_path_factory):
    """The ann-benchmarks file, its parts, and a cache holding its IVF index (built by the CLI)."""
    tmp = tmp_path_factory.mktemp("ann")
    m = np.asarray(sample.matrix)
    train, test = m[:N], m[30_000 : 30_000 + Q]
    unit = train.astype(np.float64) / np.linalg.norm(train.astype(np.float64), axis=1, keepdims=True)
    qunit = test.astype(np.float64) / np.linalg.norm(test.astype(np.float64), axis=1, keepdims=True)
    cos = qunit @ unit.T
    top = np.argsort(-cos, axis=1, kind="stable")[:, :100]
    path = tmp / "glove-50-angular.hdf5"
    with h5py.File(path, "w") as f:
        f.attrs["distance"] = "angular"
        f.create_dataset("train", data=train)
        f.create_dataset("test", data=test)
        f.create_dataset("neighbors", data=top.astype(np.int32))
        f.create_dataset("distances", data=(1 - np.take_along_axis(cos, top, axis=1)).astype(np.float32))
    cdir = tmp / "cache"
    run(["index", "build", "-v", path, "--tensor", "train", "--method", "ivf", "--cache-dir", cdir, "-q"])
    return {"path": path, "cache": cdir, "train": train, "test": test, "truth": top, "tmp": tmp}


def src(ann) -> list:
    return ["-v", ann["path"], "--tensor", "train", "--cache-dir", ann["cache"]]


def rows(stdout: str) -> list[list[str]]:
    lines = stdout.splitlines()
    assert lines[0] == HEADER, lines[0]
    return [line.split("\t") for line in lines[1:]]


def stored(ann, method: str, metric: str = "cosine") -> tuple[Vectors, Index]:
    """The table and the stored index, as the command opens them."""
    v = formats.load(ann["path"], tensor="train", cache_dir=ann["cache"])
    entry = cache.entry_path(ann["path"], cache_dir=ann["cache"], options=SourceOptions("train", None, None, None))
    index = search_index.stored(entry, v.unit if metric == "cosine" else v.matrix, method, metric=metric)
    assert index is not None
    return v, index


def recompute(index: Index, queries: np.ndarray, truth: np.ndarray, k: int = 10, **depth) -> float:
    """recall@k recomputed here: the index's own answers against the truth's first k ids."""
    q = queries / np.linalg.norm(queries, axis=1, keepdims=True) if index.metric == "cosine" else queries
    found, _ = index.search(np.ascontiguousarray(q, dtype=np.float32), k, **depth)
    hits = sum(len(set(f) & set(t[:k])) for f, t in zip(found.tolist(), truth.tolist()))
    return hits / (len(truth) * k)  # the mean of hits / k over the queries


# -- the command line ----------------------------------------------------------------------------
def test_ivf_index_against_the_files_own_truth(ann) -> None:
    result = run(["index", "eval", *src(ann), "--queries", "test", "--truth", "neighbors"])
    assert result.stderr == KEYS_LINE + (
        "embviz: recall@10 of 200 queries (dataset test) on 20,000 x 50 vectors, cosine; truth: dataset neighbors\n"
    )
    (i_search, i_recall, i_q, i_s, i_qps), (e_search, e_recall, e_q, e_s, e_qps) = rows(result.stdout)
    _, index = stored(ann, "ivf")
    assert index.params == {"nlist": 283, "nprobe": 16}
    assert i_search == "index (ivf nlist=283 nprobe=16)" and e_search == "exact"
    assert e_recall == "1.000000"  # the numpy truth is exact search's answer, id for id
    expected = recompute(index, ann["test"], ann["truth"])
    assert i_recall == f"{expected:.6f}" and 0 < expected <= 1
    assert i_q == e_q == "200"
    for seconds, qps in ((i_s, i_qps), (e_s, e_qps)):
        # seconds are printed to the microsecond: 200 / seconds agrees with qps to that precision
        assert float(seconds) > 0 and abs(int(qps) - 200 / float(seconds)) <= 1 + 200 / float(seconds) * 1e-6 / float(seconds)
    # JSON: the same rows, full precision
    js = json.loads(run(["index", "eval", *src(ann), "--queries", "test", "--truth", "neighbors", "-f", "json",
                         "-q"]).stdout)
    assert [sorted(r) for r in js] == [sorted(["search", "recall_at_10", "queries", "seconds", "qps"])] * 2
    assert js[0]["search"] == i_search and js[0]["recall_at_10"] == expected and js[1]["recall_at_10"] == 1.0
    # a table on a terminal (or -f table)
    table = run(["index", "eval", *src(ann), "--queries", "test", "--truth", "neighbors", "-f", "table", "-q"])
    assert "recall@10 on 200 queries; truth: dataset neighbors" in table.stdout
    assert "index (ivf nlist=283 nprobe=16)" in table.stdout and f"{expected:.4f}" in table.stdout


def test_k_and_nprobe_change_the_columns_and_the_label(ann) -> None:
    result = run(["index", "eval", *src(ann), "--queries", "test", "--truth", "neighbors", "-k", "20",
                  "--nprobe", "4", "--no-header", "-q"])
    (i_search, i_recall, *_), (_, e_recall, *_) = (line.split("\t") for line in result.stdout.splitlines())
    _, index = stored(ann, "ivf")
    expected = recompute(index, ann["test"], ann["truth"], k=20, nprobe=4)
    assert i_search == "index (ivf nlist=283 nprobe=4)" and i_recall == f"{expected:.6f}" and e_recall == "1.000000"
    assert expected < recompute(index, ann["test"], ann["truth"], k=20)  # 4 cells of 283 miss more than 16 (chosen at build for recall@10 0.95)
    head = run(["index", "eval", *src(ann), "--queries", "test", "-k", "20", "-q"]).stdout.splitlines()[0]
    assert head == "search\trecall_at_20\tqueries\tseconds\tqps"


def test_without_truth_exact_search_is_the_truth(ann) -> None:
    """Any table: held-out vectors in a .npy, the truth computed by exact search (stderr says so)."""
    held = ann["tmp"] / "held.npy"
    np.save(held, ann["test"][:150])
    result = run(["index", "eval", *src(ann), "--queries", held])
    assert result.stderr == KEYS_LINE + (
        f"embviz: recall@10 of 150 queries ({held}) on 20,000 x 50 vectors, cosine; truth: exact search\n"
    )
    (_, i_recall, *_), (_, e_recall, *_) = rows(result.stdout)
    v, index = stored(ann, "ivf")
    exact, _ = search.top_k(v.unit, ann["test"][:150] / np.linalg.norm(ann["test"][:150], axis=1,
                                                                             keepdims=True), 10)
    assert e_recall == "1.000000" and i_recall == f"{recompute(index, ann['test'][:150], exact):.6f}"


@pytest.mark.slow
def test_hnsw_is_the_newest_and_method_picks_another(ann, tmp_path) -> None:
    cdir = tmp_path / "c"
    common = ["-v", ann["path"], "--tensor", "train", "--cache-dir", cdir]
    run(["index", "build", *common, "--method", "ivf", "-q"])
    run(["index", "build", *common, "--method", "hnsw", "-q"])
    args = ["index", "eval", *common, "--queries", "test", "--truth", "neighbors", "-q"]
    (h_search, h_recall, *_), (_, e_recall, *_) = rows(run(args).stdout)
    assert h_search == "index (hnsw m=16 ef_construction=200 ef_search=16)" and e_recall == "1.000000"
    (i_search, *_), _ = rows(run([*args, "--method", "ivf"]).stdout)
    assert i_search == "index (ivf nlist=283 nprobe=16)"
    (s_search, s_recall, *_), _ = rows(run([*args, "--ef-search", "10"]).stdout)
    assert s_search == "index (hnsw m=16 ef_construction=200 ef_search=10)"
    v = formats.load(ann["path"], tensor="train", cache_dir=cdir)
    entry = cache.entry_path(ann["path"], cache_dir=cdir, options=SourceOptions("train", None, None, None))
    hnsw = search_index.stored(entry, v.unit, "hnsw")
    assert h_recall == f"{recompute(hnsw, ann['test'], ann['truth']):.6f}"
    assert s_recall == f"{recompute(hnsw, ann['test'], ann['truth'], ef_search=10):.6f}"
    assert 0 < float(s_recall) <= float(h_recall) <= 1


def test_an_index_in_another_metric_than_the_file_is_one_warning(ann, tmp_path) -> None:
    cdir = tmp_path / "c"
    common = ["-v", ann["path"], "--tensor", "train", "--cache-dir", cdir]
    run(["index", "build", *common, "--method", "flat", "--metric", "euclidean", "-q"])
    result = run(["index", "eval", *common, "--queries", "test", "--truth", "neighbors"])
    assert result.stderr == KEYS_LINE + (
        "embviz: warning: glove-50-angular.hdf5 says distance 'angular' (cosine), the index is euclidean: "
        "recall against its neighbors is meaningless; build a cosine index with index build --metric cosine\n"
        "embviz: recall@10 of 200 queries (dataset test) on 20,000 x 50 vectors, euclidean; truth: dataset neighbors\n"
    )
    (i_search, i_recall, *_), (_, e_recall, *_) = rows(result.stdout)
    assert i_search == "index (flat euclidean)" and i_recall == e_recall  # flat is exact: same answers
    assert float(e_recall) < 0.9  # euclidean neighbors of GloVe rows are not their cosine neighbors
    # without --truth, the truth is exact search in the index's metric: no warning, recall 1
    again = run(["index", "eval", *common, "--queries", "test"])
    assert "warning" not in again.stderr and [r[1] for r in rows(again.stdout)] == ["1.000000", "1.000000"]


# -- errors: one line each, exit code 1 ------------------------------------------------------------
def test_no_index_says_to_build_one(ann, tmp_path) -> None:
    common = ["-v", ann["path"], "--tensor", "train", "--cache-dir", tmp_path / "empty"]
    result = run(["index", "eval", *common, "--queries", "test"], exit_code=1)
    assert (result.stdout, result.stderr) == ("", (
        "embviz: error: no index of glove-50-angular.hdf5 to evaluate; build one first with: "
        f"embviz index build -v {ann['path']} --tensor train\n"
    ))
    result = run(["index", "eval", *src(ann), "--queries", "test", "--method", "hnsw", "--metric", "dot"], exit_code=1)
    assert result.stderr == (
        "embviz: error: no hnsw index of glove-50-angular.hdf5 (dot) to evaluate; build one first with: "
        f"embviz index build -v {ann['path']} --tensor train --method hnsw --metric dot\n"
    )


def test_bad_queries_and_truth_are_one_line(ann) -> None:
    tmp = ann["tmp"]
    np.save(tmp / "dim25.npy", ann["test"][:, :25])
    np.save(tmp / "few.npy", ann["truth"][:, :5])
    np.save(tmp / "out.npy", np.where(np.arange(10) == 3, N, ann["truth"][:, :10]))
    np.save(tmp / "short.npy", ann["truth"][:150])
    (tmp / "ids.txt").write_text("1 2 3\n")
    listing = ("(datasets: distances [200, 100] float32, neighbors [200, 100] int32, test [200, 50] float32, "
               "train [20000, 50] float32)")
    cases = {
        ("--queries", tmp / "dim25.npy"): f"--queries {tmp / 'dim25.npy'}: 200 x 25 vectors, the table's are "
                                          "50-dimensional",
        ("--queries", "tests"): f"--queries tests: no such file, and {ann['path']}: no dataset 'tests' {listing}",
        ("--queries", "neighbors"): "--queries neighbors: the dataset holds int32 values, expected float vectors",
        ("--queries", "test", "--truth", tmp / "few.npy"): f"--truth {tmp / 'few.npy'}: the truth has 5 ids per "
                                                            "query, fewer than k=10",
        ("--queries", "test", "--truth", "neighbors", "-k", "101"): "--truth neighbors: the truth has 100 ids per "
                                                                     "query, fewer than k=101",
        ("--queries", "test", "--truth", tmp / "out.npy"): f"--truth {tmp / 'out.npy'}: the truth's id 20,000 "
                                                            "(query 0, column 3) is not a row of the table (0 to "
                                                            "19,999)",
        ("--queries", "test", "--truth", tmp / "short.npy"): f"--truth {tmp / 'short.npy'}: the truth has 150 rows "
                                                              "for 200 queries",
        ("--queries", "test", "--truth", "distances"): "--truth distances: the truth must be integer row ids of "
                                                       "shape (queries, k), got float32 [200, 10]",
        ("--queries", "test", "--truth", tmp / "ids.txt"): f"--truth {tmp / 'ids.txt'}: expected a .npy file of "
                                                            "row ids (or a dataset of the -v HDF5 file)",
        ("--queries", "test", "--ef-search", "10"): "--ef-search applies to hnsw indexes; this one is ivf",
        ("--queries", "test", "--nprobe", "300"): "--nprobe must be between 1 and nlist=283, got 300",
    }
    for args, line in cases.items():
        result = run(["index", "eval", *src(ann), *args, "-q"], exit_code=1)
        assert (result.stdout, result.stderr) == ("", f"embviz: error: {line}\n"), args


def test_a_table_that_is_not_hdf5_has_no_datasets(tmp_path, sample) -> None:
    npy = tmp_path / "t.npy"
    np.save(npy, np.asarray(sample.matrix[:2000]))
    common = ["-v", npy, "--cache-dir", tmp_path / "c"]
    run(["index", "build", *common, "--method", "flat", "-q"])
    result = run(["index", "eval", *common, "--queries", "test", "-q"], exit_code=1)
    assert result.stderr == "embviz: error: --queries test: no such file, and t.npy is not an HDF5 file with datasets\n"
    np.save(tmp_path / "q.npy", np.asarray(sample.matrix[5000:5100]))
    out = run(["index", "eval", *common, "--queries", tmp_path / "q.npy", "-q"]).stdout
    assert [r[:3] for r in rows(out)] == [["index (flat)", "1.000000", "100"], ["exact", "1.000000", "100"]]


# -- the library ---------------------------------------------------------------------------------
def test_recall_at_k_is_the_mean_id_overlap() -> None:
    found = np.array([[1, 2, 3], [4, 5, 6]])
    truth = np.array([[3, 2, 9, 8], [7, 8, 9, 4]])
    assert index_eval.recall_at_k(found, truth, 3) == (2 + 0) / 6  # truth[:3]: {3, 2, 9}, {7, 8, 9}
    assert index_eval.recall_at_k(found, truth, 1) == 0.0
    assert index_eval.recall_at_k(found[:, :2], truth, 2) == (1 + 0) / 4


def test_evaluate_index_on_obvious_geometry() -> None:
    # rows on the unit circle at 0, 10, ..., 350 degrees; a query at 3 degrees: nearest 0, then 10, 350
    angles = np.deg2rad(np.arange(0, 360, 10))
    rows_ = np.stack([np.cos(angles), np.sin(angles)], axis=1).astype(np.float32)
    table = Vectors(RowIds(len(rows_)), rows_)
    flat = Index.build(table.unit, "flat")
    flat.unit = table.unit
    q = np.array([[np.cos(np.deg2rad(3)), np.sin(np.deg2rad(3))]], dtype=np.float32) * 5  # any norm
    truth = np.array([[0, 1, 35]])
    got = search_index.evaluate_index(flat, table, q, truth, k=3)
    assert got.truth == "given" and got.metric == "cosine" and got.k == 3
    assert [(r.search, r.recall, r.queries) for r in got.rows] == [("index (flat)", 1.0, 1), ("exact", 1.0, 1)]
    assert all(r.seconds > 0 and r.qps == pytest.approx(1 / r.seconds) for r in got.rows)
    wrong = search_index.evaluate_index(flat, table, q, np.array([[0, 18, 20]]), k=3)
    assert wrong.index.recall == wrong.exact.recall == pytest.approx(1 / 3)
    assert search_index.evaluate_index(flat, table, q, k=2).truth == "exact search"
    for kwargs, message in (
        ({"truth": np.array([[0, 1, 36]])}, "the truth's id 36 (query 0, column 2) is not a row of the table (0 to 35)"),
        ({"queries": np.zeros((1, 2), np.float32)}, "query 0 is all zeros: it has no cosine neighbors"),
        ({"queries": np.full((1, 2), np.nan, np.float32)}, "query 0 holds NaN or infinite values"),
        ({"queries": np.ones((1, 3), np.float32)}, "queries must be float vectors of shape (q, 2), got float32 [1, 3]"),
        ({"k": 37}, "k must be between 1 and the table's 36 rows, got 37"),
        ({"ef_search": 5}, "--ef-search applies to hnsw indexes; this one is flat"),
    ):
        args = {"queries": q, "truth": truth, "k": 3, **kwargs}
        with pytest.raises(InvalidQuery, match=re.escape(message)):
            search_index.evaluate_index(flat, table, args.pop("queries"), **args)


def test_progress_reports_both_searches_by_block(monkeypatch) -> None:
    monkeypatch.setattr(index_eval, "EVAL_BLOCK", 40)
    rng = np.random.default_rng(0)
    table = Vectors(RowIds(500), rng.standard_normal((500, 8)).astype(np.float32))
    flat = Index.build(table.unit, "flat")
    flat.unit = table.unit
    calls = []
    q = rng.standard_normal((100, 8)).astype(np.float32)
    got = search_index.evaluate_index(flat, table, q, k=5, progress=lambda *c: calls.append(c))
    assert calls == [("index search", d, 100) for d in (0, 40, 80, 100)] + [
        ("exact search", d, 100) for d in (0, 40, 80, 100)]
    assert got.index.recall == got.exact.recall == 1.0
