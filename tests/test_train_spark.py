"""embviz train --engine spark: Spark ML Word2Vec in local mode on the real Lee corpus.

The tests that start Spark are marked slow (a JVM start costs tens of seconds here). They
share this process's JVM (pyspark launches it once per process; each CLI run starts and stops
its own SparkSession on it), and the training run and its model folder are made once per module.
The error tests need no JVM: they stop before one is started.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

import embviz
from embviz.cli import app

LEE = Path(__import__("gensim.test.utils", fromlist=["datapath"]).datapath("lee_background.cor"))
MASTER = "local[2]"
RUN = ["--engine", "spark", "--master", MASTER, "--workers", "1", "--seed", "1"]
SUFFIX = " -- Spark trains skip-gram with hierarchical softmax only; use --engine gensim\n"


def _counts(path: Path, lowercase: bool = False) -> Counter:
    """Token counts as Python's str.split() sees them: the reference the engine must match."""
    text = path.read_text(encoding="utf-8")
    return Counter((text.lower() if lowercase else text).split())


def _invoke(args: list[str]):
    return CliRunner().invoke(app, ["train", *args])


@pytest.fixture(scope="module")
def lee_run(tmp_path_factory):
    """One Spark training run on Lee (one partition, seed 1), with Spark's model folder kept."""
    d = tmp_path_factory.mktemp("spark")
    out, model = d / "lee.bin", d / "lee-model"
    result = _invoke([str(LEE), "-o", str(out), *RUN, "--save-model", str(model)])
    return d, out, model, result


@pytest.mark.slow
def test_run_output_and_progress(lee_run):
    d, out, model, result = lee_run
    assert result.exit_code == 0, result.stderr
    assert result.stdout == ""
    counts = _counts(LEE)
    vocab = sum(c >= 5 for c in counts.values())
    words = sum(counts.values())
    sentences = sum(1 for line in LEE.read_text(encoding="utf-8").splitlines() if line.split())
    lines = result.stderr.splitlines()
    assert re.fullmatch(
        rf"embviz: spark {re.escape(_spark_version())} on local\[2\] \(2 cores\): "
        r"session started in \d+\.\d s",
        lines[0],
    )
    assert lines[1] == (
        f"embviz: vocabulary: {vocab:,} keys from {words:,} words in {sentences:,} sentences; "
        "training 5 epochs"
    )
    for i, line in enumerate(lines[2:7], 1):  # one line per Spark training job (one per epoch)
        assert re.fullmatch(rf"embviz: epoch {i}/5: [\d,]+ words/s", line), line
    assert re.fullmatch(
        rf"embviz: trained {vocab:,} x 100 vectors with Spark in [\d.]+ s \([\d,]+ words/s in "
        rf"training, [\d.]+ s to start Spark\); wrote {re.escape(str(out))}, "
        rf"{re.escape(str(model))}, {re.escape(str(out))}\.json",
        lines[7],
    )
    assert len(lines) == 8  # nothing from Spark's own log without --verbose
    assert sorted(p.name for p in d.iterdir()) == ["lee-model", "lee.bin", "lee.bin.json"]
    side = json.loads((d / "lee.bin.json").read_text())
    assert side["engine"] == "spark" and side["mode"] == "spark"
    assert side["corpus_words"] == words and side["corpus_sentences"] == sentences
    assert side["vocab_size"] == vocab and side["vector_size"] == 100
    assert side["corpus_bytes"] == LEE.stat().st_size
    assert side["spark"]["version"] == _spark_version()
    assert side["spark"]["master"] == MASTER
    assert side["spark"]["word2vec"] == {
        "vectorSize": 100, "windowSize": 5, "minCount": 5, "maxIter": 5, "stepSize": 0.025,
        "seed": 1, "numPartitions": 1, "maxSentenceLength": 1000,
    }
    assert side["parameters"]["sg"] is True and side["parameters"]["hs"] is True
    assert side["parameters"]["negative"] == 0 and side["parameters"]["sample"] == 0
    assert [e["epoch"] for e in side["epochs"]] == [1, 2, 3, 4, 5]
    for key in ("session_seconds", "count_seconds", "fit_seconds", "collect_seconds"):
        assert side["spark"][key] > 0
    assert side["vectors"] == {"path": str(out), "format": "word2vec", "count": vocab, "dim": 100}
    assert side["model"] == str(model)


def _spark_version() -> str:
    import pyspark

    return pyspark.__version__


@pytest.mark.slow
def test_vocabulary_is_every_token_with_min_count(lee_run):
    _, out, _, _ = lee_run
    vectors = embviz.load(out, cache=False)
    counts = _counts(LEE)
    assert set(vectors.keys) == {w for w, c in counts.items() if c >= 5}
    # keys by descending count, ties by key
    assert list(vectors.keys) == sorted(vectors.keys, key=lambda k: (-counts[k], k))
    assert vectors.matrix.shape == (len(vectors.keys), 100)
    assert vectors.matrix.dtype == np.float32
    assert np.isfinite(vectors.matrix).all() and (np.linalg.norm(vectors.matrix, axis=1) > 0).all()


@pytest.mark.slow
def test_sanity_neighbor(lee_run):
    _, out, _, _ = lee_run
    vectors = embviz.load(out, cache=False)
    # Ariel Sharon: the first name is among the surname's 5 nearest neighbors
    assert "Ariel" in [n.key for n in embviz.neighbors(vectors, "Sharon", k=5)]
    ariel, cricket = embviz.similarity(vectors, [("Sharon", "Ariel"), ("Sharon", "cricket")])
    assert ariel.score > 0.5 > cricket.score


@pytest.mark.slow
def test_model_folder_reads_back_identical(lee_run):
    _, out, model, _ = lee_run
    assert (model / "metadata").is_dir() and list((model / "data").glob("*.parquet"))
    meta = json.loads(next((model / "metadata").glob("part-*")).read_text())
    assert meta["class"] == "org.apache.spark.ml.feature.Word2VecModel"
    assert meta["paramMap"]["seed"] == 1 and meta["paramMap"]["numPartitions"] == 1
    written = embviz.load(out, cache=False)
    folder = embviz.load(model, cache=False)
    assert sorted(folder.keys) == sorted(written.keys)
    order = [folder.key_to_index[k] for k in written.keys]
    np.testing.assert_array_equal(folder.matrix[order], written.matrix)


@pytest.mark.slow
def test_same_seed_one_partition_is_reproducible(lee_run, tmp_path):
    _, out, _, _ = lee_run
    again = tmp_path / "again.bin"
    result = _invoke([str(LEE), "-o", str(again), *RUN, "-q"])
    assert result.exit_code == 0, result.stderr
    assert result.stderr == ""
    a, b = embviz.load(out, cache=False), embviz.load(again, cache=False)
    assert a.keys == b.keys
    np.testing.assert_array_equal(b.matrix, a.matrix)


@pytest.mark.slow
def test_tokens_split_like_python_and_lowercase(tmp_path):
    corpus = tmp_path / "c.txt"
    corpus.write_text(
        "Alpha\u00a0beta\tGAMMA  delta\n\n   \nalpha\u3000Beta\x1cgamma\u2009delta epsilon\n"
        "ALPHA beta\u2028gamma\r\n",
        encoding="utf-8",
    )
    out = tmp_path / "v.txt"
    result = _invoke(
        [str(corpus), "-o", str(out), *RUN, "--min-count", "1", "--lowercase", "--epochs", "1",
         "--vector-size", "4", "--spark-conf", "spark.sql.shuffle.partitions=3", "-q"]
    )
    assert result.exit_code == 0, result.stderr
    vectors = embviz.load(out, cache=False)
    counts = _counts(corpus, lowercase=True)
    assert counts == {"alpha": 3, "beta": 3, "gamma": 3, "delta": 2, "epsilon": 1}
    assert list(vectors.keys) == ["alpha", "beta", "gamma", "delta", "epsilon"]
    side = json.loads((tmp_path / "v.txt.json").read_text())
    assert side["spark"]["conf"] == {"spark.sql.shuffle.partitions": "3"}
    assert side["corpus_words"] == 12 and side["corpus_sentences"] == 3


@pytest.mark.slow
def test_no_word_reaches_min_count(tmp_path):
    out = tmp_path / "v.bin"
    result = _invoke([str(LEE), "-o", str(out), *RUN, "--min-count", "100000"])
    counts = _counts(LEE)
    assert result.exit_code == 1
    assert result.stderr.splitlines()[-1] == (
        f"embviz: error: {LEE}: no word occurs at least min_count=100000 times (the most "
        f"frequent of {len(counts):,} distinct words occurs {max(counts.values()):,} times); "
        "lower min_count"
    )
    assert list(tmp_path.iterdir()) == []


# -- bad input: one line, non-zero exit, nothing written; no JVM is started ----------------------
@pytest.mark.parametrize(
    "args, option, why",
    [
        (["--negative", "10"], "--negative", "Spark's Word2Vec has no negative sampling"),
        (["--cbow"], "--cbow", "Spark's Word2Vec has no CBOW"),
        (["--sample", "1e-4"], "--sample", "Spark's Word2Vec has no subsampling of frequent words"),
        (["--ns-exponent", "0.5"], "--ns-exponent", "Spark's Word2Vec has no negative sampling"),
        (["--max-vocab", "100"], "--max-vocab",
         "Spark's Word2Vec has no vocabulary cap (raise --min-count)"),
    ],
)
def test_option_spark_does_not_implement(tmp_path, args, option, why):
    result = _invoke([str(LEE), "-o", str(tmp_path / "v.bin"), *RUN, *args])
    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr == (
        f"embviz: error: {option} is not available with --engine spark: {why}{SUFFIX}"
    )
    assert list(tmp_path.iterdir()) == []


def test_spark_options_need_the_spark_engine(tmp_path):
    result = _invoke([str(LEE), "-o", str(tmp_path / "v.bin"), "--master", MASTER])
    assert (result.exit_code, result.stderr) == (
        1, "embviz: error: --master applies to --engine spark only\n"
    )
    result = _invoke([str(LEE), "-o", str(tmp_path / "v.bin"), *RUN, "--spark-conf", "oops"])
    assert (result.exit_code, result.stderr) == (
        1, "embviz: error: --spark-conf 'oops': expected KEY=VALUE\n"
    )
    assert list(tmp_path.iterdir()) == []


def test_empty_corpus(tmp_path):
    corpus = tmp_path / "empty.txt"
    corpus.write_bytes(b"")
    result = _invoke([str(corpus), "-o", str(tmp_path / "v.bin"), *RUN])
    assert result.exit_code == 1
    assert result.stderr == (
        f"embviz: error: {corpus}: corpus is empty; expected text with one "
        "whitespace-separated sentence per line\n"
    )
    assert [p.name for p in tmp_path.iterdir()] == ["empty.txt"]


def test_unreachable_master(tmp_path):
    result = _invoke([str(LEE), "-o", str(tmp_path / "v.bin"), *RUN[:2], "--master",
                      "spark://127.0.0.1:9", "--save-model", str(tmp_path / "m")])
    assert result.exit_code == 1
    assert result.stderr == (
        "embviz: error: cannot reach the Spark master spark://127.0.0.1:9 (127.0.0.1:9: "
        "Connection refused); check --master and that the master is running\n"
    )
    assert list(tmp_path.iterdir()) == []


def _fresh(args: list[str], env: dict) -> subprocess.CompletedProcess:
    """A fresh process: the JVM of this one (already running) would hide a missing Java."""
    return subprocess.run(
        [sys.executable, "-m", "embviz", "train", *args], capture_output=True, text=True,
        env={**os.environ, **env},
    )


def test_missing_jvm_bad_java_home(tmp_path):
    run = _fresh([str(LEE), "-o", str(tmp_path / "v.bin"), *RUN], {"JAVA_HOME": str(tmp_path / "nojava")})
    assert run.returncode == 1
    assert run.stdout == ""
    assert run.stderr == (
        f"embviz: error: Spark needs Java: JAVA_HOME={tmp_path / 'nojava'} has no bin/java; "
        "install a JVM with: apt-get install openjdk-17-jre-headless (or fix JAVA_HOME)\n"
    )
    assert list(tmp_path.iterdir()) == []


def test_jvm_that_does_not_start(tmp_path):
    home = tmp_path / "jdk"
    (home / "bin").mkdir(parents=True)
    java = home / "bin" / "java"
    java.write_text("#!/bin/sh\necho 'Error: this is not a JVM' >&2\nexit 1\n")
    java.chmod(0o755)
    out = tmp_path / "out"
    out.mkdir()
    run = _fresh([str(LEE), "-o", str(out / "v.bin"), *RUN], {"JAVA_HOME": str(home)})
    assert run.returncode == 1
    assert run.stdout == ""
    assert run.stderr.startswith("embviz: error: cannot start the JVM for Spark (")
    assert run.stderr.endswith("); install Java with: apt-get install openjdk-17-jre-headless\n")
    assert run.stderr.count("\n") == 1
    assert list(out.iterdir()) == []


def test_missing_pyspark(tmp_path):
    code = (
        "import sys; sys.modules['pyspark'] = None; from embviz.cli import main; "
        f"sys.argv = ['embviz', 'train', {str(LEE)!r}, '-o', {str(tmp_path / 'v.bin')!r}, "
        "'--engine', 'spark']; main()"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert run.returncode == 1
    assert run.stderr == (
        "embviz: error: --engine spark needs pyspark; install it with: pip install 'embviz[spark]'\n"
    )
    assert list(tmp_path.iterdir()) == []


@pytest.mark.slow  # a Spark test file: the Development block deselects them together
def test_local_cores_of_each_master_form():
    from embviz.spark.session import local_cores

    cpus = os.cpu_count() or 1
    assert [local_cores(m) for m in ("local", "local[2]", "local[*]", "local[4,3]", "local[*, 2]")] == [
        1, 2, cpus, 4, cpus]
    assert [local_cores(m) for m in ("spark://h:7077", "yarn", "k8s://https://h:443", "local[x]")] == [None] * 4


@pytest.mark.slow
def test_local_masters_get_a_few_shuffle_partitions_unless_given():
    """local[2]: 8 shuffle partitions (4 a core) instead of Spark's 200; --spark-conf's value wins."""
    from embviz.spark.session import start_session

    spark = start_session("local[2]")
    try:
        assert spark.conf.get("spark.sql.shuffle.partitions") == "8"
        df = spark.range(100)
        assert df.groupBy((df.id % 7).alias("g")).count().rdd.getNumPartitions() <= 8
    finally:
        spark.stop()
    spark = start_session("local[2]", {"spark.sql.shuffle.partitions": "3"})
    try:
        assert spark.conf.get("spark.sql.shuffle.partitions") == "3"
    finally:
        spark.stop()
