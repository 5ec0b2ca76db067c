"""embviz recommend --engine spark: the same rows as one machine, in Spark's local[2] mode.

Items are real vectors (the bundled sample: 40,000 GloVe 6B 50d keys); the users are a
Parquet user table and an interaction log made from them. Every Spark run is compared row
for row (user, rank, item, score) with ``embviz recommend`` on this machine. The CLI runs share
this process's JVM (pyspark launches it once per process; each run starts and stops its own
session). Error tests that stop before Spark starts need no JVM.
"""

from __future__ import annotations

import numpy as np
import pytest

from embviz.cli import app

MASTER = "local[2]"
SPARK = ["--engine", "spark", "--master", MASTER]
pytestmark = pytest.mark.slow
pa = pytest.importorskip("pyarrow")  # the test extra installs it (CI fails on a skip)
pq = pytest.importorskip("pyarrow.parquet")


@pytest.fixture(scope="module")
def data(tmp_path_factory, sample):
    """Users over the sample's keys: a user table (dot space) and a time-stamped log."""
    d = tmp_path_factory.mktemp("spark-rec")
    rng = np.random.default_rng(7)
    keys = list(sample.keys)
    n_users = 1500
    # the log: 1..40 events per user over the 5,000 most frequent keys (Zipf-like), distinct
    # times in random file order, plus unknown items and empty cells
    users, items, times = [], [], []
    for u in range(n_users):
        m = int(rng.integers(1, 40))
        picks = np.minimum(rng.zipf(1.3, size=m) - 1, 4999)
        users += [f"user{u}"] * m
        items += [keys[p] for p in picks.tolist()]
    users += ["user3", "user4", "ghost"]
    items += ["not-a-word", "", "also-not-a-word"]
    times = rng.permutation(len(users)).astype(np.int64)
    order = rng.permutation(len(users))
    log = pa.table({"user_id": pa.array(users).take(order), "item_id": pa.array(items).take(order),
                    "timestamp": pa.array(times).take(order)})
    pq.write_table(log, d / "log.parquet", row_group_size=5000)
    log_tsv = d / "log.tsv"
    log_tsv.write_text("user\titem\ttime\n" + "".join(
        f"{u}\t{i}\t{t}\n" for u, i, t in zip(users[:3000], items[:3000], times[:3000].tolist())))
    # a user table: 2,000 users (500 more than the log), vectors near a few of the keys
    rows = rng.integers(0, 5000, size=(2000, 3))
    uvec = np.asarray(sample.matrix[rows].sum(axis=1) + rng.normal(0, 0.1, size=(2000, sample.dim)), np.float32)
    uvec[17] = 0  # an all-zero user: no direction for cosine, scores 0 with dot
    pq.write_table(pa.table({"user_id": [f"user{u}" for u in range(2000)], "vector": list(uvec)}),
                   d / "users.parquet")
    return d


def _run(runner, *args):
    return runner.invoke(app, ["recommend", *map(str, args)])


def _rows(path):
    t = pq.read_table(path).to_pandas()
    return sorted(zip(t["user"], t["rank"], t["item"], t["score"].astype(np.float32)))


def _pair(runner, sample_file, tmp_path, *args):
    """Run one machine and Spark with the same arguments; return both outputs' rows and results."""
    local = _run(runner, "-v", sample_file, *args, "-o", tmp_path / "local.parquet", "-q")
    assert local.exit_code == 0, local.output
    spark = _run(runner, "-v", sample_file, *args, *SPARK, "-o", tmp_path / "spark-out")
    assert spark.exit_code == 0, spark.output
    return _rows(tmp_path / "local.parquet"), _rows(tmp_path / "spark-out"), spark


@pytest.fixture(scope="module")
def sample_file():
    from embviz import sample_path

    return sample_path()


def test_user_table_dot_exclude_seen_same_rows(runner, data, sample_file, tmp_path):
    local, spark, result = _pair(runner, sample_file, tmp_path, "--users", data / "users.parquet",
                                 "--history", data / "log.parquet", "--exclude-seen", "--metric", "dot", "-k", "10")
    assert len(local) == 2000 * 10
    assert spark == local
    # one Parquet part per partition of users (Spark's default parallelism: 2 cores)
    parts = sorted(p.name for p in (tmp_path / "spark-out").glob("part-*.parquet"))
    assert len(parts) == 2
    assert pq.read_schema(tmp_path / "spark-out" / parts[0]).types == [pa.string(), pa.int64(), pa.string(),
                                                                        pa.float32()]
    assert "embviz: wrote 20,000 rows for 2,000 users to " in result.stderr
    assert "(2 Parquet parts)" in result.stderr
    # the user without history keeps all candidates; seen items are never recommended
    seen = pq.read_table(data / "log.parquet").to_pandas()
    recs = pq.read_table(tmp_path / "spark-out").to_pandas()
    both = recs.merge(seen, left_on=["user", "item"], right_on=["user_id", "item_id"])
    assert both.empty


def test_history_cosine_with_exclude_include_same_rows(runner, data, sample_file, tmp_path, sample):
    keys = list(sample.keys)
    (tmp_path / "exclude.txt").write_text("\n".join(keys[:50:3]) + "\n")
    (tmp_path / "include.txt").write_text("\n".join(keys[:3000:2]) + "\n")
    local, spark, result = _pair(runner, sample_file, tmp_path, "--history", data / "log.parquet", "--exclude-seen",
                                 "--exclude", tmp_path / "exclude.txt", "--include", tmp_path / "include.txt",
                                 "-k", "7")
    assert spark == local
    assert len({u for u, *_ in spark}) == 1500  # user 'ghost' has no known item: no vector
    assert "embviz: warning: skipped 1 users without a vector" in result.stderr
    n_events = pq.read_metadata(data / "log.parquet").num_rows
    assert (f"embviz: warning: log.parquet: 3 of the scored users' {n_events:,} events dropped: 2 with items not "
            "in glove.6B.50d.40k.txt.gz; 1 without a user or item\n") in result.stderr


def test_text_log_euclidean_and_user_subset_same_rows(runner, data, sample_file, tmp_path):
    local, spark, result = _pair(runner, sample_file, tmp_path, "user5", "user9", "user0", "nobody",
                                 "--history", data / "log.tsv", "--metric", "euclidean", "-k", "4")
    assert spark == local
    assert {u for u, *_ in spark} == {"user0", "user5", "user9"}
    assert "embviz: warning: skipped 1 unknown users (not among the users read)" in result.stderr


def test_ties_go_to_the_lower_item_row(runner, tmp_path):
    items = tmp_path / "items.txt"
    items.write_text("a 1 0\nb 0 1\nc 1 0\nd 1 0\ne 0.5 0.5\n")  # a, c and d tie for every user near (1, 0)
    pq.write_table(pa.table({"user": ["u", "w"], "vector": [[2.0, 0.0], [1.0, 0.1]]}), tmp_path / "users.parquet")
    result = _run(runner, "-v", items, "--users", tmp_path / "users.parquet", "--metric", "dot", "-k", "3",
                  *SPARK, "-o", tmp_path / "out")
    assert result.exit_code == 0, result.output
    assert _rows(tmp_path / "out") == [
        ("u", 1, "a", np.float32(2.0)), ("u", 2, "c", np.float32(2.0)), ("u", 3, "d", np.float32(2.0)),
        ("w", 1, "a", np.float32(1.0)), ("w", 2, "c", np.float32(1.0)), ("w", 3, "d", np.float32(1.0)),
    ]


def test_user_vector_of_another_dimension_is_one_line(runner, tmp_path):
    items = tmp_path / "items.txt"
    items.write_text("a 1 0\nb 0 1\n")
    pq.write_table(pa.table({"user": ["u"], "vector": [[2.0, 0.0, 1.0]]}), tmp_path / "users.parquet")
    result = _run(runner, "-v", items, "--users", tmp_path / "users.parquet", *SPARK, "-o", tmp_path / "out")
    assert result.exit_code == 1
    assert result.stderr.splitlines()[-1] == (
        "embviz: error: the Spark job failed: user 'u' has a vector of 3 values, the items 2: "
        "they must be in the same space"
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["items.txt", "users.parquet"]  # nothing half-written


@pytest.mark.parametrize(
    ("args", "error"),
    [
        ([], "--engine spark writes Parquet to a folder: give -o FOLDER"),
        (["-o", "out", "--show", "title"], "--show is not supported with --engine spark; drop it or use --engine local"),
        (["-o", "out", "--recent", "3"], "--recent is not supported with --engine spark; drop it or use --engine local"),
        (["-o", "out", "--strict"], "--strict is not supported with --engine spark; drop it or use --engine local"),
    ],
)
def test_options_spark_does_not_take(runner, tmp_path, args, error):
    items = tmp_path / "items.txt"
    items.write_text("a 1 0\nb 0 1\n")
    result = _run(runner, "-v", items, "--history", tmp_path / "log.tsv", *SPARK,
                  *[str(tmp_path / a) if a == "out" else a for a in args])
    assert result.exit_code == 1
    assert result.stderr == f"embviz: error: {error}\n"


def test_spark_options_need_the_spark_engine(runner, tmp_path):
    items = tmp_path / "items.txt"
    items.write_text("a 1 0\nb 0 1\n")
    result = _run(runner, "-v", items, "--users", items, "--master", MASTER)
    assert result.exit_code == 1
    assert result.stderr == "embviz: error: --master, --spark-conf and --partitions apply to --engine spark only\n"


def test_existing_output_folder_is_refused(runner, tmp_path):
    items = tmp_path / "items.txt"
    items.write_text("a 1 0\nb 0 1\n")
    (tmp_path / "out").mkdir()
    result = _run(runner, "-v", items, "--users", items, *SPARK, "-o", tmp_path / "out")
    assert result.exit_code == 1
    assert result.stderr == f"embviz: error: -o {tmp_path / 'out'}: already exists; choose a new folder\n"


def test_arrow_log_is_refused_with_the_conversion(runner, tmp_path):
    items = tmp_path / "items.txt"
    items.write_text("a 1 0\nb 0 1\n")
    import pyarrow.feather as feather

    feather.write_feather(pa.table({"user": ["u"], "item": ["a"]}), tmp_path / "log.arrow")
    result = _run(runner, "-v", items, "--history", tmp_path / "log.arrow", *SPARK, "-o", tmp_path / "out")
    assert result.exit_code == 1
    assert result.stderr.splitlines()[-1] == (
        f"embviz: error: --history {tmp_path / 'log.arrow'}: Spark reads Parquet, CSV and TSV logs; "
        "write it as Parquet (pyarrow.parquet.write_table)"
    )


def test_executors_without_embviz_get_the_recipe(runner, tmp_path, monkeypatch):
    """Executors whose Python cannot import embviz: one line naming the fix, nothing written.

    The worker Python is this venv's, with a sitecustomize that hides embviz (as an executor
    image without it would): PySpark launches the one ``PYSPARK_PYTHON`` names.
    """
    import sys

    block = tmp_path / "block"
    block.mkdir()
    (block / "sitecustomize.py").write_text(
        "import sys\n"
        "class _NoEmbviz:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name == 'embviz' or name.startswith('embviz.'):\n"
        "            raise ModuleNotFoundError(f\"No module named {name!r}\", name=name)\n"
        "sys.meta_path.insert(0, _NoEmbviz())\n"
    )
    worker = tmp_path / "python-without-embviz"
    worker.write_text(f"#!/bin/sh\nPYTHONPATH={block}${{PYTHONPATH:+:$PYTHONPATH}} exec {sys.executable} \"$@\"\n")
    worker.chmod(0o755)
    items = tmp_path / "items.txt"
    items.write_text("a 1 0\nb 0 1\n")
    pq.write_table(pa.table({"user": ["u"], "vector": [[2.0, 0.0]]}), tmp_path / "users.parquet")
    monkeypatch.setenv("PYSPARK_PYTHON", str(worker))
    result = _run(runner, "-v", items, "--users", tmp_path / "users.parquet", *SPARK, "-o", tmp_path / "out")
    assert result.exit_code == 1, result.output
    assert result.stderr.splitlines()[-1] == (
        "embviz: error: the executors' Python cannot import embviz: install embviz on every executor, or ship a "
        "packed environment with spark.archives (docs/recommend.md, \"On Spark\")"
    )
    assert not (tmp_path / "out").exists()
    assert not list(tmp_path.glob(".out.embviz-*"))


def test_neighbors_all_on_spark_same_rows(runner, sample_file, tmp_path):
    """The similar-items table of the GloVe sample's first 12,000 keys, dot product: as one machine."""
    args = ["neighbors", "-v", str(sample_file), "--all", "-k", "5", "--metric", "dot", "--restrict", "12000"]
    local = runner.invoke(app, [*args, "-o", str(tmp_path / "local.parquet"), "-q"])
    assert local.exit_code == 0, local.output
    spark = runner.invoke(app, [*args, *SPARK, "--partitions", "2", "-o", str(tmp_path / "similar")])
    assert spark.exit_code == 0, spark.output

    def rows(path):
        t = pq.read_table(path).to_pandas()
        return sorted(zip(t["query"], t["rank"], t["key"], t["score"].astype(np.float32)))

    theirs = rows(tmp_path / "similar")
    assert theirs == rows(tmp_path / "local.parquet")
    assert len(theirs) == 12_000 * 5
    assert "embviz: wrote 60,000 rows for 12,000 keys to " in spark.stderr
    assert "(2 Parquet parts)" in spark.stderr


@pytest.mark.parametrize(
    ("args", "error"),
    [
        (["king"], "--engine spark writes every key's neighbors (the similar-items table): use --all, not QUERIES"),
        (["--all"], "--engine spark writes Parquet to a folder: give -o FOLDER"),
        (["--all", "-o", "out", "--score", "csls"],
         "--score csls is not supported with --engine spark; drop it or use --engine local"),
    ],
)
def test_neighbors_spark_errors(runner, sample_file, tmp_path, args, error):
    result = runner.invoke(app, ["neighbors", "-v", str(sample_file), *SPARK,
                                 *[str(tmp_path / a) if a == "out" else a for a in args]])
    assert result.exit_code == 1
    assert result.stderr == f"embviz: error: {error}\n"


def test_index_on_spark_same_rows_as_index_on_one_machine(runner, data, sample_file, tmp_path):
    """--index: the cache's FAISS index, shipped to the executors: the rows of recommend --index here.

    A shallow search (--ef-search 10) makes the approximate rows differ from exact ones, so the
    comparison shows the executors searched the index.
    """
    args = ["--users", data / "users.parquet", "-k", "10", "--index", "--ef-search", "10"]
    local, spark, _ = _pair(runner, sample_file, tmp_path, *args)
    assert spark == local
    exact = _run(runner, "-v", sample_file, "--users", data / "users.parquet", "-k", "10", "-o",
                 tmp_path / "exact.parquet", "-q")
    assert exact.exit_code == 0, exact.output
    assert _rows(tmp_path / "exact.parquet") != local


def test_user_vector_with_nan_is_one_line(runner, tmp_path):
    items = tmp_path / "items.txt"
    items.write_text("a 1 0\nb 0 1\n")
    pq.write_table(pa.table({"user": ["u", "w"], "vector": [[2.0, 0.0], [float("nan"), 1.0]]}),
                   tmp_path / "users.parquet")
    result = _run(runner, "-v", items, "--users", tmp_path / "users.parquet", *SPARK, "-o", tmp_path / "out")
    assert result.exit_code == 1
    assert result.stderr.splitlines()[-1] == (
        "embviz: error: the Spark job failed: user 'w' has a NaN or infinite value in its vector "
        "(or one too large for float32)"
    )
    assert not (tmp_path / "out").exists()
