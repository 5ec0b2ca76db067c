"""item2vec from interaction logs: sequences, training, outputs, CLI errors (synthetic logs)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from embviz.cli import app
from embviz.errors import FormatError, InvalidQuery
from embviz.train import item2vec
from embviz.train import sequences as S


def write_parquet(path, **columns) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.table(columns), path)


def lines(seqs: S.Sequences) -> list[list[str]]:
    """The sequences as item ids, as gensim will read them."""
    text = seqs.path.read_text("utf-8")
    assert text.endswith("\n")
    return [[seqs.items[int(c)] for c in line.split()] for line in text.splitlines()]


@pytest.fixture()
def log(tmp_path):
    """Three users; rows out of time order; item ids with a space and a tab-free unicode id."""
    rows = [
        ("u1", "b", 20), ("u2", "x y", 5), ("u1", "a", 10), ("u1", "c", 10_000),
        ("u2", "é", 1), ("u3", "a", 7), ("u1", "d", 10_050), ("u2", "a", 9),
    ]
    path = tmp_path / "log.parquet"
    write_parquet(path, user_id=[r[0] for r in rows], item_id=[r[1] for r in rows],
                  timestamp=[r[2] for r in rows])
    return path


def test_sequences_are_each_users_events_in_time_order(log):
    seqs = S.build(log)
    try:
        assert lines(seqs) == [["a", "b", "c", "d"], ["é", "x y", "a"], ["a"]]
        assert (seqs.events, seqs.users, seqs.sequences, seqs.longest, seqs.cut) == (8, 3, 3, 4, 0)
        assert dict(zip(seqs.items, seqs.counts.tolist())) == {"b": 1, "x y": 1, "a": 3, "c": 1, "é": 1, "d": 1}
        assert seqs.columns == {"user": "user_id", "item": "item_id", "time": "timestamp"}
        assert seqs.unit == "user"
    finally:
        seqs.cleanup()
    assert not seqs.path.exists()


def test_a_session_gap_cuts_a_history(log):
    seqs = S.build(log, session_gap=S.parse_gap("1h"))
    try:
        assert lines(seqs) == [["a", "b"], ["c", "d"], ["é", "x y", "a"], ["a"]]
        assert seqs.unit == "session" and "a new session after a gap over 3600" in seqs.describe()
    finally:
        seqs.cleanup()


def test_baskets_are_sequences(tmp_path):
    path = tmp_path / "orders.csv"
    path.write_text("user,order,item\n1,o1,a\n1,o2,b\n1,o1,c\n2,o3,a\n1,o2,d\n", "utf-8")
    seqs = S.build(path, basket_column="order")
    try:
        assert lines(seqs) == [["a", "c"], ["b", "d"], ["a"]]
        assert seqs.unit == "basket" and seqs.columns["basket"] == "order"
    finally:
        seqs.cleanup()


def test_long_sequences_are_cut_into_chunks_and_counted(tmp_path, monkeypatch):
    monkeypatch.setattr(S, "MAX_LENGTH", 3)
    path = tmp_path / "log.tsv"
    path.write_text("user\titem\n" + "".join(f"u\ti{j}\n" for j in range(7)) + "v\tz\n", "utf-8")
    seqs = S.build(path)
    try:
        assert lines(seqs) == [["i0", "i1", "i2"], ["i3", "i4", "i5"], ["i6"], ["z"]]
        assert seqs.cut == 1 and seqs.longest == 7
        assert "1 longer than 3 items cut into chunks of 3" in seqs.describe()
    finally:
        seqs.cleanup()


def test_already_ordered_logs_skip_the_sort_and_give_the_same_sequences(tmp_path):
    rng = np.random.default_rng(0)
    n = 5000
    users = rng.integers(0, 300, n)
    items = rng.integers(0, 50, n)
    times = rng.integers(0, 10**6, n)
    shuffled = tmp_path / "shuffled.parquet"
    write_parquet(shuffled, user=users, item=items, timestamp=times)
    order = np.lexsort((times, users))
    grouped = tmp_path / "grouped.parquet"
    write_parquet(grouped, user=users[order], item=items[order], timestamp=times[order])
    by_time = np.argsort(times, kind="stable")
    timed = tmp_path / "timed.parquet"
    write_parquet(timed, user=users[by_time], item=items[by_time], timestamp=times[by_time])
    want = None
    for path in (shuffled, grouped, timed):
        seqs = S.build(path)
        try:
            got = sorted(" ".join(x) for x in lines(seqs))
        finally:
            seqs.cleanup()
        # reference: pandas' recipe
        import pandas as pd

        df = pd.read_parquet(path).sort_values(["user", "timestamp"], kind="stable")
        ref = sorted(" ".join(map(str, g)) for g in df.groupby("user", sort=False)["item"].apply(list))
        assert got == ref
        want = want or got
        assert got == want


@pytest.mark.parametrize(("text", "seconds"), [("30m", 1800), ("2h", 7200), ("90s", 90), ("1d", 86400),
                                               ("1.5h", 5400), ("45", 45)])
def test_session_gaps_parse(text, seconds):
    assert S.parse_gap(text) == seconds


@pytest.mark.parametrize("text", ["", "soon", "30 parsecs", "0", "-5m"])
def test_bad_session_gaps_are_refused(text):
    with pytest.raises(InvalidQuery, match="--session-gap"):
        S.parse_gap(text)


def test_bad_logs_give_one_line(tmp_path):
    empty = tmp_path / "empty.csv"
    empty.write_text("user,item\n,\n", "utf-8")
    with pytest.raises(FormatError, match="no event with a user and an item"):
        S.build(empty)
    words = tmp_path / "words.csv"
    words.write_text("user,item,timestamp\n1,a,yesterday\n1,b,today\n", "utf-8")
    with pytest.raises(FormatError, match="column 'timestamp' holds 'yesterday': expected numbers"):
        S.build(words)
    with pytest.raises(FormatError, match="no column 'who' for the users"):
        S.build(words, user_column="who")
    untimed = tmp_path / "untimed.csv"
    untimed.write_text("user,item\n1,a\n", "utf-8")
    with pytest.raises(InvalidQuery, match="--session-gap needs a time column"):
        S.build(untimed, session_gap=60)
    with pytest.raises(FormatError, match="no such file"):
        S.build(tmp_path / "missing.parquet")


def test_iso_times_and_dates_order_events(tmp_path):
    path = tmp_path / "iso.csv"
    path.write_text("user,item,time\n1,b,2024-01-02 10:00:00\n1,a,2024-01-01T09:00:00\n1,c,2024-01-02 10:20:00\n",
                    "utf-8")
    seqs = S.build(path, session_gap=S.parse_gap("30m"))
    try:
        assert lines(seqs) == [["a"], ["b", "c"]]
    finally:
        seqs.cleanup()


def baskets_log(path, groups: int = 12, size: int = 5, baskets: int = 60, seed: int = 0):
    """Baskets that each hold the items of one group (shuffled), groups disjoint."""
    rng = np.random.default_rng(seed)
    users, items = [], []
    for b in range(groups * baskets):
        g = b % groups
        members = rng.permutation(size)
        users += [f"user{b}"] * size
        items += [f"g{g}_{m}" for m in members]
    write_parquet(path, user=users, item=items)


def test_items_bought_together_are_each_others_nearest_neighbors(tmp_path):
    from embviz import search

    path = tmp_path / "baskets.parquet"
    baskets_log(path)
    result = item2vec.train_item2vec(path, item2vec.item2vec_params(longest=5, vector_size=16, epochs=10,
                                                                    workers=1, sample=0))
    v = result.vectors
    assert v.count == 60 and sorted(v.keys)[:2] == ["g0_0", "g0_1"]
    for key in v.keys:
        group = key.split("_")[0]
        near = [n.key for n in search.neighbors(v, key, k=4)]
        assert all(n.split("_")[0] == group for n in near), (key, near)
    assert result.counts.tolist() == [60] * 60
    rec = result.report.interactions
    assert rec["events"] == 3600 and rec["sequences"] == 720 and rec["window"] == 5
    assert result.report.parameters["shrink_windows"] is False and result.report.parameters["sg"] is True


def test_cli_trains_writes_counts_output_vectors_and_sidecar(tmp_path, runner):
    import gensim

    path = tmp_path / "baskets.parquet"
    baskets_log(path, groups=4, baskets=20)
    out, outv, model = tmp_path / "items.txt", tmp_path / "context.txt", tmp_path / "model.gensim"
    r = runner.invoke(app, ["train", "--interactions", str(path), "-o", str(out), "--output-vectors", str(outv),
                            "--save-model", str(model), "--vector-size", "8", "--epochs", "2", "--workers", "1"])
    assert r.exit_code == 0, r.stderr
    assert "400 events of 80 users and 20 items from baskets.parquet: 80 sequences (users' histories; longest 5" \
        in r.stderr
    assert "item2vec: skip-gram, window 5 (whole sequence, never shrunk), min_count 1" in r.stderr
    from embviz import load

    v, o = load(out), load(outv)
    assert list(o.keys) == list(v.keys)
    m = gensim.models.Word2Vec.load(str(model))
    assert list(m.wv.index_to_key) == list(v.keys)  # the saved model speaks item ids
    for key in v.keys:
        np.testing.assert_allclose(o[key], m.syn1neg[m.wv.key_to_index[key]], atol=5e-7)
        np.testing.assert_allclose(v[key], m.wv[key], atol=5e-7)
    counts = (tmp_path / "items.counts.tsv").read_text("utf-8").splitlines()
    assert counts[0] == "key\tcount" and len(counts) == 21 and all(c.endswith("\t20") for c in counts[1:])
    side = json.loads((tmp_path / "items.txt.json").read_text("utf-8"))
    assert side["interactions"]["fingerprint"].startswith("blake2b-256:")
    assert side["counts"] == str(tmp_path / "items.counts.tsv")
    assert side["output_vectors"]["matrix"] == "syn1neg"
    # options given win over item2vec's defaults
    r = runner.invoke(app, ["train", "--interactions", str(path), "-o", str(tmp_path / "cbow.txt"), "--cbow",
                            "--window", "2", "--min-count", "21", "--vector-size", "8", "--epochs", "1"])
    assert r.exit_code != 0 and "no word occurs at least min_count=21 times" in r.stderr
    r = runner.invoke(app, ["train", "--interactions", str(path), "-o", str(tmp_path / "cbow.txt"), "--cbow",
                            "--window", "2", "--vector-size", "8", "--epochs", "1"])
    assert r.exit_code == 0, r.stderr
    assert "item2vec: CBOW, window 2 (2 items each side, never shrunk)" in r.stderr


@pytest.mark.parametrize(("args", "message"), [
    ([], "give a text CORPUS or --interactions LOG"),
    (["corpus.txt", "--interactions", "log.csv"], "give a text CORPUS or --interactions LOG"),
    (["corpus.txt", "--user-column", "u"], "--user-column applies to --interactions only"),
    (["--interactions", "log.csv", "--engine", "spark", "--negative", "5"],
     "--negative is not available with --engine spark"),
    (["--interactions", "log.csv", "--negative", "0", "--hs", "--output-vectors", "o.txt"],
     "--output-vectors needs negative sampling"),
    (["--interactions", "log.csv", "--eval"], "run 'embviz evaluate next-item'"),
    (["--interactions", "log.csv", "--lowercase"], "--lowercase applies to a text CORPUS, not to --interactions"),
    (["--interactions", "log.csv", "--session-gap", "soon"], "--session-gap 'soon': expected a duration"),
    (["--interactions", "missing.csv"], "missing.csv: no such file"),
])
def test_cli_refuses_bad_combinations_in_one_line(tmp_path, runner, monkeypatch, args, message):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "log.csv").write_text("user,item\n1,a\n1,b\n", "utf-8")
    (tmp_path / "corpus.txt").write_text("a b c\n", "utf-8")
    r = runner.invoke(app, ["train", *args, "-o", "out.txt"])
    assert r.exit_code != 0
    assert message in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert "Traceback" not in r.stderr
    assert not (tmp_path / "out.txt").exists()


def test_in_out_neighbors_score_the_input_vector_against_the_output_vectors(tmp_path, runner):
    from embviz import io as eio
    from embviz import search
    from embviz.train import outputs

    path = tmp_path / "baskets.parquet"
    baskets_log(path)
    result = item2vec.train_item2vec(path, item2vec.item2vec_params(longest=5, vector_size=16, epochs=10,
                                                                    workers=1, sample=0))
    v, o = result.vectors, outputs.output_table(result)
    for metric in ("cosine", "dot"):
        got = search.neighbors(v, ["g3_1", "g7_4"], k=4, metric=metric, context=o)
        for n in got:  # the items bought with the query: its group mates
            assert n.key.split("_")[0] == n.query.split("_")[0], (metric, n)
        # a numpy reference: input row against every output row, the query itself excluded
        x, y = np.asarray(v.matrix, dtype=np.float64), np.asarray(o.matrix, dtype=np.float64)
        q = x[v.key_to_index["g3_1"]]
        s = y @ q if metric == "dot" else (y @ q) / np.linalg.norm(y, axis=1) / np.linalg.norm(q)
        s[v.key_to_index["g3_1"]] = -np.inf
        top = np.argsort(-s, kind="stable")[:4]
        assert [n.key for n in got[:4]] == [v.keys[i] for i in top]
        np.testing.assert_allclose([n.score for n in got[:4]], s[top], rtol=1e-5, atol=1e-6)
    # the CLI: same rows, and a table with other keys is refused in one line
    eio.save(v, tmp_path / "in.txt")
    eio.save(o, tmp_path / "out.txt")
    r = runner.invoke(app, ["neighbors", "g3_1", "-v", str(tmp_path / "in.txt"), "--context", str(tmp_path / "out.txt"),
                            "-k", "4"])
    assert r.exit_code == 0, r.stderr
    assert "IN-OUT" in r.stderr
    assert [line.split("\t")[2] for line in r.stdout.splitlines()[1:]] == [
        n.key for n in search.neighbors(v, "g3_1", k=4, context=o)]
    eio.save(type(o)(list(reversed(o.keys)), o.matrix[::-1]), tmp_path / "shuffled.txt")
    r = runner.invoke(app, ["neighbors", "g3_1", "-v", str(tmp_path / "in.txt"), "--context",
                            str(tmp_path / "shuffled.txt")])
    assert r.exit_code != 0 and "do not have the vectors' keys in the same order (row 1 is" in r.stderr
    r = runner.invoke(app, ["neighbors", "--all", "-v", str(tmp_path / "in.txt"), "--context", str(tmp_path / "out.txt")])
    assert r.exit_code != 0 and "drop --all, --index and --score" in r.stderr


def test_hold_out_last_leaves_each_users_last_event_out(log):
    seqs = S.build(log, hold_out_last=True)
    try:  # u1: a b c [d]; u2: é x-y [a]; u3: [a] (nothing left)
        assert lines(seqs) == [["a", "b", "c"], ["é", "x y"]]
        assert seqs.held_out == 3 and seqs.events == 5
        assert dict(zip(seqs.items, seqs.counts.tolist()))["a"] == 1
        assert "each user's last event held out (3 events)" in seqs.describe()
        assert seqs.provenance()["held_out"] == 3
    finally:
        seqs.cleanup()
    seqs = S.build(log, hold_out_last=True, session_gap=S.parse_gap("1h"))
    try:
        assert lines(seqs) == [["a", "b"], ["c"], ["é", "x y"]]
    finally:
        seqs.cleanup()


def test_eval_interactions_runs_next_item_after_training_and_stores_it(tmp_path, runner):
    from embviz import load
    from embviz.evaluate import next_item

    path = tmp_path / "log.csv"
    rng = np.random.default_rng(1)
    rows = ["user,item,timestamp"]
    for u in range(40):  # each user walks a chain of one group: the next item is predictable
        g = u % 4
        for t, j in enumerate(rng.permutation(6)):
            rows.append(f"u{u},g{g}_{j},{t}")
    path.write_text("\n".join(rows) + "\n", "utf-8")
    out = tmp_path / "items.txt"
    r = runner.invoke(app, ["train", "--interactions", str(path), "--hold-out-last", "-o", str(out),
                            "--vector-size", "8", "--epochs", "5", "--workers", "1", "--eval-interactions", str(path)])
    assert r.exit_code == 0, r.stderr
    assert "eval: next-item items.txt (cosine): HR@10" in r.stderr and "eval: next-item popularity: HR@10" in r.stderr
    side = json.loads((tmp_path / "items.txt.json").read_text("utf-8"))
    got = side["evaluation"]["next_item"]
    assert got["held_out_last"] is True and got["log"] == str(path)
    want = next_item(load(out), path, k=(10, 20), name="items.txt (cosine)")
    assert [(s["model"], s["k"], s["hr"], s["ndcg"]) for s in got["scores"]] == [
        (s.model, s.k, s.hr, s.ndcg) for s in want.scores]
    # without --hold-out-last on the same log: a warning that the figures are optimistic
    r = runner.invoke(app, ["train", "--interactions", str(path), "-o", str(tmp_path / "leak.txt"), "--vector-size", "8",
                            "--epochs", "1", "--workers", "1", "--eval-interactions", str(path)])
    assert r.exit_code == 0 and "the vectors saw every target" in r.stderr
