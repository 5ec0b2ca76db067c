"""embviz train --interactions LOG --engine spark: item2vec on Spark ML's Word2Vec, in local[2].

Synthetic logs with planted structure. The sequences Spark builds are compared with those of
the one-machine path (:func:`embviz.train.sequences.build`) for histories, sessions, baskets and
held-out last events, on Parquet (a file, a folder of parts) and CSV/TSV logs. The CLI runs
are made once per module (each starts and stops its own session on this process's JVM); the
library calls then share one session, started after them (one SparkContext at a time). The
refusals stop before a JVM starts.
"""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
from typer.testing import CliRunner

import embviz
from embviz.cli import app
from embviz.train import item2vec_spark as I2S
from embviz.train import sequences as S

pa = pytest.importorskip("pyarrow")  # the test extra installs it (CI fails on a skip)
pq = pytest.importorskip("pyarrow.parquet")
feather = pytest.importorskip("pyarrow.feather")

MASTER = "local[2]"
SPARK = ["--engine", "spark", "--master", MASTER, "--workers", "1", "--seed", "1"]
SUFFIX = " -- Spark trains skip-gram with hierarchical softmax only; use --engine gensim\n"
GROUPS = {"camp": ["tent", "stove", "lamp", "mat"], "ski": ["skis", "boots", "helmet", "goggles"],
          "dive": ["mask", "fins", "snorkel", "wetsuit"]}


def _invoke(args: list[str]):
    return CliRunner().invoke(app, ["train", *map(str, args)])


def sessions_log(n_users: int = 60, seed: int = 0) -> dict:
    """Each user visits 3 sessions, one per group (shuffled items), 2 to 9 hours apart; events 1 min apart."""
    rng = np.random.default_rng(seed)
    users, items, times = [], [], []
    for u in range(n_users):
        t = 1_700_000_000 + u * 86_400
        for g in rng.permutation(list(GROUPS)):
            for item in rng.permutation(GROUPS[g]):
                users.append(f"u{u}")
                items.append(str(item))
                times.append(t)
                t += 60
            t += int(rng.integers(2, 10)) * 3600
    order = rng.permutation(len(users))  # out of time order in the file
    return {"user_id": [users[j] for j in order], "item_id": [items[j] for j in order],
            "timestamp": [times[j] for j in order]}


def random_log(n: int = 600, seed: int = 1) -> dict:
    """Integer ids, tied times, out of order; some empty users/items; baskets."""
    rng = np.random.default_rng(seed)
    return {"user": rng.integers(0, 40, n).tolist(), "item": (1000 + rng.integers(0, 60, n)).tolist(),
            "ts": (rng.integers(0, 200, n) * 450).tolist(), "basket": rng.integers(0, 90, n).tolist()}


def write_csv(path, cols: dict, sep: str = ",", blanks: tuple[int, ...] = ()) -> None:
    names = list(cols)
    rows = [sep.join(names)]
    for j, values in enumerate(zip(*cols.values())):
        cells = [str(v) for v in values]
        if j in blanks:  # an event without an item: left out by both paths
            cells[names.index("item")] = ""
        rows.append(sep.join(cells))
    path.write_text("\n".join(rows) + "\n", "utf-8")


@pytest.fixture(scope="module")
def logs(tmp_path_factory):
    d = tmp_path_factory.mktemp("i2v-spark")
    sess = sessions_log()
    pq.write_table(pa.table(sess), d / "visits.parquet")
    write_csv(d / "visits.csv", sess)
    rnd = random_log()
    table = pa.table(rnd)
    pq.write_table(table, d / "random.parquet")
    (d / "parts").mkdir()  # parts of different sizes: Spark's split order is not the name order
    for j, (lo, hi) in enumerate(((0, 100), (100, 450), (450, 600))):
        pq.write_table(table.slice(lo, hi - lo), d / "parts" / f"part-{j}.parquet")
    write_csv(d / "random.csv", rnd, blanks=(3, 77))
    write_csv(d / "random.tsv", {k: v for k, v in rnd.items() if k != "ts"}, sep="\t")
    floats = {"user": [1.0, 1.0, 2.0, 1.0, 2.0], "item": [10.0, 11.0, 10.0, 12.0, 13.0], "ts": [3, 3, 1, 2, 0]}
    write_csv(d / "floats.csv", floats)
    pq.write_table(pa.table(floats), d / "floats.parquet")
    return d


@pytest.fixture(scope="module")
def cli_runs(logs):
    """The CLI runs, before the shared session exists (one SparkContext at a time)."""
    runs = {}
    out = logs / "gear.txt"
    runs["sessions"] = (out, _invoke(["--interactions", logs / "visits.parquet", "--session-gap", "30m", "-o", out,
                                      *SPARK, "--vector-size", "16", "--epochs", "10",
                                      "--save-model", logs / "gear.model"]))
    out = logs / "random.bin"
    runs["csv"] = (out, _invoke(["--interactions", logs / "random.csv", "--hold-out-last", "-o", out, *SPARK,
                                 "--vector-size", "8", "--epochs", "2", "--eval-interactions", logs / "random.csv",
                                 "--spark-conf", "spark.sql.shuffle.partitions=4", "-q"]))
    return runs


@pytest.fixture(scope="module")
def spark(cli_runs):
    from embviz.spark.session import start_session

    session = start_session(MASTER, [("spark.sql.shuffle.partitions", "4")])
    yield session
    session.stop()


def one_machine(path, **kw) -> list[list[str]]:
    seqs = S.build(path, **kw)
    try:
        text = seqs.path.read_text("utf-8")
        return sorted([seqs.items[int(c)] for c in line.split()] for line in text.splitlines())
    finally:
        seqs.cleanup()


# -- the CLI ----------------------------------------------------------------------------------
@pytest.mark.slow
def test_sessions_run_writes_vectors_counts_model_and_sidecar(cli_runs, logs):
    out, result = cli_runs["sessions"]
    assert result.exit_code == 0, result.stderr
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert re.fullmatch(r"embviz: spark \S+ on local\[2\] \(2 cores\): session started in \d+\.\d s", lines[0])
    assert lines[1:4] == [
        "embviz: 720 events of 60 users and 12 items from visits.parquet: 180 sequences (sessions, a new session "
        "after a gap over 1800; longest 4 items)",
        "embviz: item2vec on Spark: skip-gram with hierarchical softmax, window 4 (whole sequence, shrunk at random "
        "as Spark's Word2Vec does), min_count 1",
        "embviz: vocabulary: 12 keys from 720 words in 180 sentences; training 10 epochs",
    ]
    for i, line in enumerate(lines[4:14], 1):
        assert re.fullmatch(rf"embviz: epoch {i}/10: [\d,]+ words/s", line), line
    assert re.fullmatch(
        rf"embviz: trained 12 x 16 item vectors with Spark in [\d.]+ s \([\d,]+ events/s in training, [\d.]+ s to "
        rf"start Spark\); wrote {re.escape(str(out))}, {re.escape(str(logs / 'gear.counts.tsv'))}, "
        rf"{re.escape(str(logs / 'gear.model'))}, {re.escape(str(out))}\.json", lines[14])
    assert len(lines) == 15
    side = json.loads((logs / "gear.txt.json").read_text("utf-8"))
    assert side["engine"] == "spark" and side["mode"] == "spark"
    assert side["corpus"] == str(logs / "visits.parquet") and side["corpus_fingerprint"] is None
    assert (side["corpus_words"], side["corpus_sentences"], side["vocab_size"]) == (720, 180, 12)
    assert side["interactions"] == {
        "source": str(logs / "visits.parquet"), "fingerprint": None, "rows": 720, "events": 720, "users": 60,
        "items": 12, "sequences": 180, "unit": "session", "session_gap": 1800.0, "longest": 4, "cut": 0,
        "max_length": 10_000, "held_out": 0, "columns": {"user": "user_id", "item": "item_id", "time": "timestamp"},
        "window": 4, "window_rule": "whole sequence",
    }
    p = side["parameters"]
    assert (p["sg"], p["hs"], p["negative"], p["sample"], p["min_count"], p["window"]) == (True, True, 0, 0, 1, 4)
    assert p["shrink_windows"] is True and p["max_sentence_length"] == 10_000
    assert side["spark"]["word2vec"] == {"vectorSize": 16, "windowSize": 4, "minCount": 1, "maxIter": 10,
                                         "stepSize": 0.025, "seed": 1, "numPartitions": 1, "maxSentenceLength": 10_000}
    assert side["counts"] == str(logs / "gear.counts.tsv")
    counts = (logs / "gear.counts.tsv").read_text("utf-8").splitlines()
    assert counts[0] == "key\tcount" and sorted(counts[1:]) == sorted(f"{k}\t60" for g in GROUPS.values() for k in g)
    v = embviz.load(out, cache=False)
    assert list(v.keys) == sorted(v.keys)  # counts all tie: by key
    folder = embviz.load(logs / "gear.model", cache=False)
    np.testing.assert_allclose(folder.matrix[[folder.key_to_index[k] for k in v.keys]], v.matrix, rtol=1e-5,
                               atol=1e-6)  # the text file keeps 6 significant digits


@pytest.mark.slow
def test_items_of_one_session_are_each_others_nearest_neighbors(cli_runs):
    out, result = cli_runs["sessions"]
    assert result.exit_code == 0, result.stderr
    v = embviz.load(out, cache=False)
    group_of = {k: g for g, members in GROUPS.items() for k in members}
    for key in v.keys:
        near = [n.key for n in embviz.neighbors(v, key, k=3)]
        assert {group_of[n] for n in near} == {group_of[key]}, (key, near)


@pytest.mark.slow
def test_csv_log_hold_out_last_and_next_item_evaluation(cli_runs, logs):
    out, result = cli_runs["csv"]
    assert result.exit_code == 0, result.stderr
    assert result.stderr == ""  # -q
    side = json.loads((logs / "random.bin.json").read_text("utf-8"))
    rec = side["interactions"]
    seqs = S.build(logs / "random.csv", hold_out_last=True)
    try:
        want, want_counts = seqs.provenance(), dict(zip(seqs.items, seqs.counts.tolist()))
    finally:
        seqs.cleanup()
    for key in ("rows", "events", "users", "items", "sequences", "unit", "longest", "cut", "held_out", "columns"):
        assert rec[key] == want[key], key
    assert rec["rows"] == 600 and rec["events"] == 600 - 2 - 40 and rec["held_out"] == 40
    # keys are the ids as text, as `evaluate next-item` reads them: every target is known
    v = embviz.load(out, cache=False)
    assert set(v.keys) <= {str(i) for i in range(1000, 1060)}
    got = side["evaluation"]["next_item"]
    assert got["held_out_last"] is True
    cos = next(s for s in got["scores"] if s["model"] == "random.bin (cosine)" and s["k"] == 10)
    assert cos["users"] == 40
    counts = dict(line.split("\t") for line in (logs / "random.counts.tsv").read_text("utf-8").splitlines()[1:])
    assert {k: int(c) for k, c in counts.items()} == {k: c for k, c in want_counts.items() if c}


# -- the sequences: the same as one machine ---------------------------------------------------
@pytest.mark.slow
@pytest.mark.parametrize("log", ["random.parquet", "parts", "random.csv"])
@pytest.mark.parametrize("kw", [{}, {"session_gap": 3000.0}, {"hold_out_last": True},
                                {"hold_out_last": True, "session_gap": 3000.0}, {"basket_column": "basket"}])
def test_sequences_equal_the_one_machine_paths(spark, logs, log, kw):
    want = one_machine(logs / log, **kw)
    assert I2S.spark_sequences(spark, logs / log, **kw) == want
    if "session_gap" in kw:  # the gap rule is "more than": equal to the gap stays in the session
        assert len(want) > len(one_machine(logs / log, **{**kw, "session_gap": 10**9}))
        assert one_machine(logs / log, **{**kw, "session_gap": 450.0}) == I2S.spark_sequences(
            spark, logs / log, **{**kw, "session_gap": 450.0})


@pytest.mark.slow
def test_sessions_split_at_the_gap(spark, tmp_path):
    path = tmp_path / "gap.parquet"  # u: a b | c d (gap 3601 > 3600) ; v: x y (gap exactly 3600: one session)
    pq.write_table(pa.table({"user": ["u", "u", "u", "u", "v", "v"], "item": ["a", "b", "c", "d", "x", "y"],
                             "timestamp": pa.array([0, 10, 3611, 3620, 5, 3605], pa.int64())}), path)
    assert I2S.spark_sequences(spark, path, session_gap=3600.0) == [["a", "b"], ["c", "d"], ["x", "y"]]
    assert one_machine(path, session_gap=3600.0) == [["a", "b"], ["c", "d"], ["x", "y"]]
    iso = tmp_path / "iso.csv"
    iso.write_text("user,item,time\n1,b,2024-01-02 10:00:00\n1,a,2024-01-01T09:00:00\n1,c,2024-01-02 10:20:00\n",
                   "utf-8")
    assert I2S.spark_sequences(spark, iso, session_gap=1800.0) == one_machine(iso, session_gap=1800.0) == [
        ["a"], ["b", "c"]]


@pytest.mark.slow
def test_baskets_and_untimed_logs_keep_file_order(spark, logs):
    tsv = logs / "random.tsv"  # no time column: file order within each basket and history
    assert I2S.spark_sequences(spark, tsv, basket_column="basket") == one_machine(tsv, basket_column="basket")
    assert I2S.spark_sequences(spark, tsv) == one_machine(tsv)


@pytest.mark.slow
@pytest.mark.parametrize("log", ["floats.csv", "floats.parquet"])
def test_ids_become_the_same_keys(spark, logs, log):
    # 10.0 is "10" on both paths; equal times keep file order
    assert I2S.spark_sequences(spark, logs / log) == one_machine(logs / log) == [["12", "10", "11"], ["13", "10"]]


@pytest.mark.slow
def test_long_sequences_are_cut_by_spark_and_counted(spark, tmp_path, monkeypatch):
    monkeypatch.setattr(S, "MAX_LENGTH", 3)
    path = tmp_path / "log.tsv"
    path.write_text("user\titem\n" + "".join(f"u\ti{j}\n" for j in range(7)) + "v\tz\n", "utf-8")
    events = []
    result = I2S.train_item2vec_spark(path, I2S.item2vec_spark_params(vector_size=4, epochs=1), session=spark,
                                      progress=events.append)
    built = next(e for e in events if isinstance(e, I2S.SequencesBuilt))
    assert "1 longer than 3 items cut into chunks of 3" in built.sequences.describe()
    seqs = S.build(path)
    try:
        want = seqs.provenance()
    finally:
        seqs.cleanup()
    rec = result.report.interactions
    assert (rec["sequences"], rec["cut"], rec["longest"], rec["max_length"]) == (want["sequences"], 1, 7, 3) == (
        4, 1, 7, 3)
    assert rec["window"] == 3  # the whole sequence, up to the chunk
    assert result.report.spark["word2vec"]["maxSentenceLength"] == 3
    assert sorted(result.vectors.keys) == sorted([f"i{j}" for j in range(7)] + ["z"])
    assert result.counts.tolist() == [1] * 8


@pytest.mark.slow
def test_bad_logs_give_one_line(spark, tmp_path):
    from embviz.errors import FormatError

    cases = {
        "words.csv": ("user,item,timestamp\n1,a,yesterday\n1,b,today\n",
                      "column 'timestamp' holds 'yesterday': expected numbers (Unix seconds), dates or ISO 8601 "
                      "times for --time-column"),
        "untimed.csv": ("user,item,timestamp\n1,a,5\n1,b,\n", "1 of the 2 events have no time in column 'timestamp'"),
        "empty.csv": ("user,item\n,\n", "no event with a user and an item (1 rows); columns used: user 'user', "
                                       "item 'item'"),
    }
    for file, (text, message) in cases.items():
        (tmp_path / file).write_text(text, "utf-8")
        with pytest.raises(FormatError) as err:
            I2S.spark_sequences(spark, tmp_path / file)
        assert str(err.value) == f"{tmp_path / file}: {message}"
    with pytest.raises(FormatError, match="column 'timestamp' holds 'yesterday'"):  # the same on one machine
        S.build(tmp_path / "words.csv")


@pytest.mark.slow
def test_a_log_that_is_not_utf8_is_refused_as_on_one_machine(spark, tmp_path):
    """Found by attacking the Spark engine's inputs: Spark's CSV reader made b'a\\xfe' the key 'a\\ufffd' without
    a word, where the one-machine reader refuses the log."""
    from embviz.errors import EmbvizError, FormatError

    log = tmp_path / "latin1.csv"
    log.write_bytes(b"user,item,timestamp\nu1,caf\xe9,1\nu2,b,2\nu2,c,3\n")
    with pytest.raises(FormatError) as err:
        I2S.spark_sequences(spark, log)
    assert str(err.value) == (f"{log}: column 'item' is not valid UTF-8: Spark read 'caf\ufffd' (U+FFFD where the "
                              "bytes were not UTF-8); re-encode the log as UTF-8, as the one-machine reader also "
                              "requires")
    with pytest.raises(EmbvizError, match="invalid UTF8"):  # one machine
        S.build(log)


# -- refusals: one line, exit 1, before Spark starts ------------------------------------------
@pytest.mark.parametrize(("args", "line"), [
    (["--negative", "5"], "--negative is not available with --engine spark: Spark's Word2Vec has no negative "
                          "sampling" + SUFFIX),
    (["--ns-exponent", "0.5"], "--ns-exponent is not available with --engine spark: Spark's Word2Vec has no "
                               "negative sampling" + SUFFIX),
    (["--sample", "1e-4"], "--sample is not available with --engine spark: Spark's Word2Vec has no subsampling of "
                           "frequent words" + SUFFIX),
    (["--cbow"], "--cbow is not available with --engine spark: Spark's Word2Vec has no CBOW" + SUFFIX),
    (["--output-vectors", "ctx.txt"], "--output-vectors is not available with --engine spark: Spark's Word2Vec keeps "
     "no output vector per key (hierarchical softmax has one per inner node of its Huffman tree)" + SUFFIX),
    (["--max-sentence-length", "50"], "--max-sentence-length applies to a text CORPUS; with --interactions sequences "
     "are cut into chunks of 10,000 items, as with the gensim engine\n"),
    (["--eval"], "--eval scores word vectors (analogies, word pairs); for items run 'embviz evaluate next-item' on "
                 "the result\n"),
    (["--lowercase"], "--lowercase applies to a text CORPUS, not to --interactions\n"),
    (["--session-gap", "30m"], "--session-gap needs a time column; log.csv has none by name (columns: user, order, "
                               "item): name it with --time-column\n"),
    (["--hold-out-last", "--basket-column", "order"], "--hold-out-last holds out each user's last event: not with "
                                                      "--basket-column\n"),
    (["--item-column", "sku"], "log.csv: no column 'sku' for the items (--item-column) (columns: user, order, "
                               "item)\n"),
])
def test_what_spark_cannot_do_is_refused_in_one_line(tmp_path, monkeypatch, args, line):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "log.csv").write_text("user,order,item\n1,o1,a\n1,o1,b\n", "utf-8")
    result = _invoke(["--interactions", "log.csv", "-o", "out.txt", *SPARK, *args])
    assert (result.exit_code, result.stdout, result.stderr) == (1, "", "embviz: error: " + line)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["log.csv"]


def test_arrow_and_missing_logs_are_refused_before_spark(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    feather.write_feather(pa.table({"user": [1], "item": [2]}), tmp_path / "log.arrow")
    result = _invoke(["--interactions", "log.arrow", "-o", "out.txt", *SPARK])
    assert (result.exit_code, result.stderr) == (1, "embviz: error: --interactions log.arrow: Spark reads Parquet, "
                                                    "CSV and TSV logs; write it as Parquet "
                                                    "(pyarrow.parquet.write_table)\n")
    result = _invoke(["--interactions", "missing.parquet", "-o", "out.txt", *SPARK])
    assert (result.exit_code, result.stderr) == (1, "embviz: error: missing.parquet: no such file\n")


def test_library_refuses_gensims_full_windows():
    from embviz.errors import InvalidQuery
    from embviz.train import item2vec_params

    with pytest.raises(InvalidQuery) as err:
        I2S.train_item2vec_spark("log.parquet", I2S.item2vec_spark_params(shrink_windows=False))
    assert str(err.value) == ("shrink_windows=False is not available with --engine spark: Spark's Word2Vec shrinks "
                              "every window at random, as word2vec.c does" + SUFFIX.rstrip("\n"))
    with pytest.raises(InvalidQuery, match="--negative is not available with --engine spark"):
        I2S.train_item2vec_spark("log.parquet", item2vec_params())
