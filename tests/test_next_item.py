"""Next-item evaluation (embviz.evaluate.next_item, ``embviz evaluate next-item``).

A hand-computed log, agreement with a straightforward numpy implementation written here, planted
structure, the bootstrap, bad inputs, and the CLI's output.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from embviz.cli import app
from embviz.errors import EmbvizError, FormatError, InvalidQuery
from embviz.evaluate import NextItemReport, next_item
from embviz.evaluate.next_item import _popular_top, gini
from embviz.io.interactions import read_histories
from embviz.vectors import Vectors


def write_log(path, users, items, times, columns=("user", "item", "timestamp")):
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.table({columns[0]: users, columns[1]: items, columns[2]: times}), path)
    return path


# -- a hand-computed log ---------------------------------------------------------------------
#: Six items on the unit circle at these angles: cosine ranks by angular distance.
ANGLES = {"a": 0, "b": 10, "c": 30, "d": 60, "e": 100, "f": 180}


def circle() -> Vectors:
    rad = np.deg2rad(list(ANGLES.values()))
    return Vectors(list(ANGLES), np.stack([np.cos(rad), np.sin(rad)], axis=1))


#: (user, item, time), shuffled; 'zz' is not in the table.
HAND = [
    ("u1", "a", 1), ("u2", "a", 5), ("u1", "b", 2), ("u2", "d", 4), ("u1", "c", 3),
    ("u3", "e", 1), ("u3", "zz", 2), ("u3", "f", 3),
    ("u4", "a", 7),
    ("u5", "b", 1), ("u5", "zz", 2),
    ("u6", "c", 1), ("u6", "a", 2), ("u6", "c", 3),
]


@pytest.fixture()
def hand_log(tmp_path):
    return write_log(tmp_path / "log.parquet", *map(list, zip(*HAND)))


def test_hand_computed_log(hand_log):
    """Leave-last-out, by hand.

    u1: query b, target c, a and b excluded: c is nearest (rank 1).
    u2: query d (time 4), target a (time 5): c 30, e 40, b 50, a 60 degrees away: rank 4.
    u3: query e (the unknown zz skipped), target f (cold: never a training event): d 40,
        c 70, f 80 degrees: rank 3.
    u4: one event, skipped. u5: the target zz is not in the table, left out and counted.
    u6: target c was seen before and is excluded: a miss (a repeat).
    """
    r = next_item(circle(), hand_log, k=(1, 3, 5), resamples=0)
    assert r.user_keys == ("u1", "u2", "u3", "u6")
    assert r.ranks["vectors (cosine)"].tolist() == [1, 4, 3, 0]
    assert (r.one_event, r.unknown, r.cold, r.repeats, r.no_history, r.users_total) == (1, 1, 1, 1, 0, 6)
    got = {(s.model, s.k): s for s in r.scores}
    s1, s3, s5 = (got["vectors (cosine)", k] for k in (1, 3, 5))
    assert (s1.hr, s3.hr, s5.hr) == (0.25, 0.5, 0.75)
    assert (s1.mrr, s3.mrr) == (0.25, pytest.approx((1 + 1 / 3) / 4, abs=1e-15))
    assert s5.mrr == pytest.approx((1 + 1 / 3 + 1 / 4) / 4, abs=1e-15)
    assert s3.ndcg == pytest.approx((1 + 1 / 2) / 4, abs=1e-15)
    assert s5.ndcg == pytest.approx((1 + 1 / 2 + 1 / math.log2(5)) / 4, abs=1e-15)
    # top 1: u1 c, u2 c, u3 d, u6 b (a and c excluded); head: the ceil(6/5) = 2 most popular, a and b
    assert s1.coverage == 0.5
    assert s1.gini == pytest.approx(14 / 24, abs=1e-15)  # counts sorted 0 0 0 1 1 2
    assert s1.tail == 0.75
    assert (s1.users, s1.cold, s1.unknown) == (4, 1, 1)
    # popularity (training counts a 3, b 2, c d e 1, f 0): u1 c 1, u2 a 1, u3 f 5, u6 c excluded
    assert r.ranks["popularity"].tolist() == [1, 1, 5, 0]
    assert got["popularity", 5].mrr == pytest.approx((1 + 1 + 1 / 5) / 4, abs=1e-15)
    # co-occurrence (a-b, a-c): u6's query a scores b and c; c is excluded, b first
    assert r.ranks["co-occurrence"].tolist() == [1, 1, 5, 0]
    assert math.isnan(s1.hr_lo) and r.train_events == 8


def test_keep_seen_ranks_the_repeat_and_the_seen_items(hand_log):
    r = next_item(circle(), hand_log, k=5, exclude_seen=False, resamples=0, baselines=())
    # u1 from b: a 10, c 20 (b itself is the query: cosine 1, rank 1); u6's repeat c now ranks
    assert r.ranks["vectors (cosine)"].tolist() == [3, 5, 4, 3]
    assert list(r.ranks) == ["vectors (cosine)"]


def test_global_time_split(tmp_path):
    """Targets: each user's first event at or after T; histories and training before T."""
    log = write_log(tmp_path / "t.parquet",
                    ["u", "u", "u", "v", "v", "w", "x"], ["a", "b", "c", "d", "e", "f", "a"], [1, 2, 9, 3, 8, 9, 1])
    r = next_item(circle(), log, k=3, split_time=5, resamples=0, baselines=("popularity",))
    # u: history a b, target c (the event at 9); v: history d, target e; w: nothing before 5; x: nothing after
    assert r.user_keys == ("u", "v") and (r.no_history, r.no_target) == (1, 1)
    assert r.ranks["vectors (cosine)"].tolist() == [1, 2]  # from d: c 30, e 40 degrees
    assert r.train_events == 4 and r.split == "time >= 5"
    with pytest.raises(InvalidQuery, match="the time column holds numbers; give a number"):
        next_item(circle(), log, split_time="tomorrow")


def test_dates_and_iso_text_split(tmp_path):
    log = write_log(tmp_path / "d.parquet", ["u", "u", "u"], ["a", "b", "c"],
                    ["2020-01-01", "2020-01-02T10:00", "2020-02-01"])
    r = next_item(circle(), log, k=1, split_time="2020-01-15", resamples=0, baselines=())
    assert r.ranks["vectors (cosine)"].tolist() == [1]
    with pytest.raises(InvalidQuery, match="give an ISO 8601 date"):
        next_item(circle(), log, split_time=5)


def test_context_mean(tmp_path):
    # target b; the mean of a (0) and e (100 degrees) points at 50 degrees: d 10, c 20, b 40 away;
    # e alone: d 40, c 70, f 80, b 90 away
    log = write_log(tmp_path / "c.parquet", ["u"] * 3, ["a", "e", "b"], [1, 2, 3])
    assert next_item(circle(), log, k=5, context=2, resamples=0, baselines=()).ranks["vectors (cosine)"][0] == 3
    assert next_item(circle(), log, k=5, context=1, resamples=0, baselines=()).ranks["vectors (cosine)"][0] == 4


# -- planted structure -----------------------------------------------------------------------
def test_planted_next_item_and_a_seen_item_that_must_not_count(tmp_path):
    """The target is the query's nearest unseen item; a seen item is nearer still."""
    rng = np.random.default_rng(3)
    keys = [f"i{j}" for j in range(50)]
    m = rng.normal(size=(50, 16))
    m[1] = m[0] + 0.05 * rng.normal(size=16)  # i1: the next item after i0
    m[2] = m[0] + 0.01 * rng.normal(size=16)  # i2: seen, and even nearer to i0
    items = Vectors(keys, m)
    log = write_log(tmp_path / "p.parquet", ["u", "u", "u"], ["i2", "i0", "i1"], [1, 2, 3])
    r = next_item(items, log, k=(1, 10), resamples=0, baselines=())
    assert r.ranks["vectors (cosine)"].tolist() == [1] and r.scores[0].hr == 1.0
    kept = next_item(items, log, k=(1, 10), exclude_seen=False, resamples=0, baselines=())
    assert kept.ranks["vectors (cosine)"].tolist() == [3]  # i0 itself, then the seen i2, then i1


# -- agreement with a straightforward implementation ------------------------------------------
def reference(matrix, users, items, times, keys, ks, *, metric, context, exclude_seen, split_time=None):
    """One user at a time, in float64: ranks, HR/MRR/NDCG, coverage, Gini, tail, deciles.

    The query (a mean of float32 rows) is rounded to float32, as embviz's queries are: the
    mean of two rows is equally far from both, and only the rounding settles which is nearer.
    """
    n = len(keys)
    row = {k: i for i, k in enumerate(keys)}
    by_user: dict[str, list[tuple]] = {}
    for pos, (u, it, t) in enumerate(zip(users, items, times)):
        by_user.setdefault(u, []).append((t, pos, row.get(it, -1)))
    cases, train = [], []
    for u, evs in by_user.items():
        evs.sort()
        seq = [i for _, _, i in evs]
        if split_time is None:
            if len(seq) < 2:
                train += [(u, i) for i in seq]
                continue
            hist, target = seq[:-1], seq[-1]
            train += [(u, i) for i in hist]
        else:
            hist = [i for t, _, i in evs if t < split_time]
            after = [i for t, _, i in evs if t >= split_time]
            train += [(u, i) for i in hist]
            if not after:
                continue
            target = after[0]
        known = [i for i in hist if i >= 0]
        if target < 0 or not known:
            continue
        cases.append((u, known, target))
    pop = np.zeros(n)
    for _, i in train:
        if i >= 0:
            pop[i] += 1
    sets: dict[str, set] = {}
    for u, i in train:
        if i >= 0:
            sets.setdefault(u, set()).add(i)
    cooc = np.zeros((n, n))
    for s in sets.values():
        for a in s:
            for b in s:
                if a != b:
                    cooc[a, b] += 1
    rows = np.asarray(matrix, dtype=np.float64)
    unit = rows / np.linalg.norm(rows, axis=1, keepdims=True)
    kmax = max(ks)
    out = {"vectors": [], "popularity": [], "co-occurrence": []}
    tops = {name: [] for name in out}
    for _, known, target in cases:
        ctx = known[-context:]
        q = rows[ctx].mean(axis=0).astype(np.float32).astype(np.float64)  # the query is float32
        if metric == "cosine":
            s = unit @ (q / np.linalg.norm(q))
        elif metric == "dot":
            s = rows @ q
        else:
            s = -np.linalg.norm(rows - q, axis=1)
        seen = set(known) if exclude_seen else set()
        co = cooc[ctx].sum(axis=0)
        for name, key in (
            ("vectors", lambda j: (-s[j], j)),
            ("popularity", lambda j: (-pop[j], j)),
            ("co-occurrence", lambda j: (-co[j], -pop[j], j)),
        ):
            ranking = sorted((j for j in range(n) if j not in seen), key=key)
            tops[name].append(ranking[:kmax])
            rank = ranking.index(target) + 1 if target in ranking else 0
            out[name].append(rank)
    order = sorted(range(n), key=lambda j: (-pop[j], j))
    place = {j: p for p, j in enumerate(order)}
    head = {j for j in order[: math.ceil(0.2 * n)]}
    decile = [place[t] * 10 // n for _, _, t in cases]
    result = {}
    for name, ranks in out.items():
        r = np.array(ranks)
        for k in ks:
            hit = (r > 0) & (r <= k)
            counts = np.zeros(n)
            for top in tops[name]:
                for j in top[:k]:
                    counts[j] += 1
            c = np.sort(counts)
            g = sum((2 * (i + 1) - n - 1) * c[i] for i in range(n)) / (n * c.sum())
            result[name, k] = {
                "hr": hit.mean(),
                "mrr": np.mean([1 / x if h else 0 for x, h in zip(r, hit)]),
                "ndcg": np.mean([1 / math.log2(x + 1) if h else 0 for x, h in zip(r, hit)]),
                "coverage": np.count_nonzero(counts) / n,
                "gini": g,
                "tail": sum(counts[j] for j in range(n) if j not in head) / counts.sum(),
                "deciles": [
                    (
                        np.mean([hh for hh, d in zip(hit, decile) if d == dd]) if dd in decile else math.nan,
                        np.mean([1 / math.log2(x + 1) if hh else 0 for x, hh, d in zip(r, hit, decile) if d == dd])
                        if dd in decile else math.nan,
                    )
                    for dd in range(10)
                ],
            }
        result[name, "ranks"] = [x if x <= kmax else 0 for x in ranks]
    return result, [u for u, _, _ in cases]


def synthetic(tmp_path, n_users=200, n_items=300, dim=8, seed=0):
    """Users with a few tastes, Zipf popularity, repeats, unknown items, one-event users, time ties."""
    rng = np.random.default_rng(seed)
    keys = [f"it{j}" for j in range(n_items)]
    matrix = rng.normal(size=(n_items, dim)).astype(np.float32)
    weights = 1.0 / np.arange(1, n_items + 1) ** 0.8
    weights /= weights.sum()
    users, items, times = [], [], []
    for u in range(n_users):
        length = 1 if u % 17 == 0 else int(rng.integers(2, 25))
        for t in range(length):
            if rng.random() < 0.03:
                items.append(f"unknown{int(rng.integers(5))}")
            else:
                items.append(keys[int(rng.choice(n_items, p=weights))])
            users.append(f"user{u}")
            times.append(int(t // 2 * 10 + rng.integers(0, 3)) + 5 * (u % 3))  # some ties
    order = rng.permutation(len(users))  # file order shuffled
    users, items, times = ([x[i] for i in order] for x in (users, items, times))
    log = write_log(tmp_path / "syn.parquet", users, items, times)
    return Vectors(keys, matrix), log, (users, items, times)


@pytest.mark.parametrize(
    "metric,context,exclude_seen,split_time",
    [("cosine", 1, True, None), ("dot", 3, True, None), ("euclidean", 2, False, None), ("cosine", 2, True, 40)],
)
def test_every_metric_agrees_with_a_straightforward_implementation(tmp_path, monkeypatch, metric, context,
                                                                   exclude_seen, split_time):
    import sys

    items, log, (users, its, times) = synthetic(tmp_path)
    if metric == "dot":  # co-occurrence scored 7 users at a time
        monkeypatch.setattr(sys.modules["embviz.evaluate.next_item"], "_COOC_CELLS", 7 * items.count)
    ks = (1, 5, 10, 20)
    ref, ref_users = reference(items.matrix, users, its, times, items.keys, ks, metric=metric, context=context,
                               exclude_seen=exclude_seen, split_time=split_time)
    r = next_item(items, log, k=ks, metric=metric, context=context, exclude_seen=exclude_seen,
                  split_time=split_time, block=37, resamples=50)  # several blocks, one ragged
    assert list(r.user_keys) == ref_users and r.users > 80
    names = {"vectors": f"vectors ({metric})", "popularity": "popularity", "co-occurrence": "co-occurrence"}
    for ref_name, name in names.items():
        assert r.ranks[name].tolist() == ref[ref_name, "ranks"], name
        for s in (s for s in r.scores if s.model == name):
            want = ref[ref_name, s.k]
            for field in ("hr", "mrr", "ndcg", "coverage", "gini", "tail"):
                assert getattr(s, field) == pytest.approx(want[field], abs=1e-9), (name, s.k, field)
            assert s.hr_lo <= s.hr <= s.hr_hi and s.ndcg_lo <= s.ndcg <= s.ndcg_hi
        for d in (d for d in r.deciles if d.model == name):
            hr, ndcg = ref[ref_name, d.k]["deciles"][d.decile - 1]
            assert (d.hr, d.ndcg) == pytest.approx((hr, ndcg), abs=1e-9, nan_ok=True)
    assert sum(d.users for d in r.deciles if d.model == names["vectors"] and d.k == 1) == r.users
    assert sum(d.items for d in r.deciles if d.model == "popularity" and d.k == 1) == items.count


def test_bootstrap_matches_resampling_users(tmp_path):
    """Intervals drawn as counts per rank have the distribution of resampling users."""
    items, log, _ = synthetic(tmp_path, n_users=400)
    r = next_item(items, log, k=10, resamples=4000, seed=1, baselines=())
    ranks = r.ranks["vectors (cosine)"]
    rng = np.random.default_rng(7)
    hit = (ranks > 0) & (ranks <= 10)
    ndcg = np.where(hit, 1 / np.log2(np.maximum(ranks, 1) + 1), 0)
    idx = rng.integers(0, len(ranks), size=(4000, len(ranks)))
    s = r.scores[0]
    assert np.percentile(hit[idx].mean(axis=1), [2.5, 97.5]) == pytest.approx([s.hr_lo, s.hr_hi], abs=0.01)
    assert np.percentile(ndcg[idx].mean(axis=1), [2.5, 97.5]) == pytest.approx([s.ndcg_lo, s.ndcg_hi], abs=0.006)
    again = next_item(items, log, k=10, resamples=4000, seed=1, baselines=())
    assert again.scores == r.scores  # the seed fixes the intervals
    other = next_item(items, log, k=10, resamples=4000, seed=2, baselines=())
    assert other.scores[0].ndcg == s.ndcg and (other.scores[0].ndcg_lo, other.scores[0].ndcg_hi) != (s.ndcg_lo, s.ndcg_hi)


def test_popular_top_skips_each_rows_excluded_items():
    rng = np.random.default_rng(0)
    n, b, k = 40, 30, 12
    order = rng.permutation(n)
    posn = np.empty(n, dtype=np.int64)
    posn[order] = np.arange(n)
    ex_rows = rng.integers(0, b, size=300)
    ex_items = rng.integers(0, n, size=300)
    got = _popular_top(order, posn, ex_rows, ex_items, b, k)
    for r in range(b):
        banned = set(ex_items[ex_rows == r].tolist())
        want = [i for i in order.tolist() if i not in banned][:k]
        assert got[r].tolist() == want + [-1] * (k - len(want))


def test_gini():
    assert gini(np.array([3, 3, 3])) == 0
    assert gini(np.array([0, 0, 0, 8])) == pytest.approx(0.75)
    assert math.isnan(gini(np.zeros(4)))


# -- the histories reader's new keywords ----------------------------------------------------
def test_read_histories_keeps_unknown_items_and_times(hand_log):
    h = read_histories(hand_log, list(ANGLES), keep_unknown=True, with_times=True)
    assert h.kept_unknown and h.unknown_items == 2 and h.time_column == "timestamp"
    u3 = h.users.index("u3")
    assert h.history(u3).tolist() == [4, -1, 5] and h.times[h.indptr[u3]: h.indptr[u3 + 1]].tolist() == [1, 2, 3]
    default = read_histories(hand_log, list(ANGLES))  # unchanged: unknown items dropped, no times
    assert default.history(default.users.index("u3")).tolist() == [4, 5] and default.times is None
    assert "u5" in default.users and default.history(default.users.index("u5")).tolist() == [1]


def test_histories_read_without_unknown_items_warn(hand_log):
    h = read_histories(hand_log, list(ANGLES))
    with pytest.warns(UserWarning, match="2 events with items not in the item table were dropped"):
        next_item(circle(), h, k=1, resamples=0)


# -- bad input -------------------------------------------------------------------------------
def test_library_errors(tmp_path, hand_log):
    with pytest.raises(InvalidQuery, match="k must be a whole number of at least 1, got 0"):
        next_item(circle(), hand_log, k=(10, 0))
    with pytest.raises(InvalidQuery, match="context must be at least 1"):
        next_item(circle(), hand_log, context=0)
    with pytest.raises(InvalidQuery, match="unknown baseline 'random'"):
        next_item(circle(), hand_log, baselines=("random",))
    with pytest.raises(InvalidQuery, match="unknown metric"):
        next_item(circle(), hand_log, metric="jaccard")
    single = write_log(tmp_path / "one.parquet", ["u", "v"], ["a", "b"], [1, 2])
    with pytest.raises(EmbvizError, match=r"no user can be evaluated \(2 users: 2 with one event"):
        next_item(circle(), single)
    with pytest.raises(FormatError, match="no column 'who'"):
        next_item(circle(), hand_log, user_column="who")


def run(runner, *args):
    return runner.invoke(app, ["evaluate", "next-item", "--no-cache", *args])


@pytest.fixture()
def circle_file(tmp_path):
    p = tmp_path / "items.txt"
    p.write_text("".join(f"{k} {np.cos(np.deg2rad(a)):.9f} {np.sin(np.deg2rad(a)):.9f}\n" for k, a in ANGLES.items()))
    return p


@pytest.mark.parametrize(
    "text,args,message,code",
    [
        ("user,item,timestamp\nu,a,1\nu,b,2\n", ["--user-column", "who"],
         "no column 'who' for the users (--user-column) (columns: user, item, timestamp)", 1),
        ("user,item,timestamp\n", [], "the log has no events (0 rows; columns: user, item, timestamp)", 1),
        ("user,item,timestamp\nu,a,1\nv,b,2\n", [], "no user can be evaluated (2 users: 2 with one event", 1),
        ("user,item,timestamp\nu,a,yesterday\nu,b,today\n", [],
         "row 1: time 'yesterday' in column 'timestamp' is not a number, a date or an ISO 8601 time", 1),
        ("user,item,timestamp\nu,a,1\nu,b,2\n", ["--split-time", "soon"],
         "split time 'soon': the time column holds numbers; give a number", 1),
        ("user,item,timestamp\nu,a,1\nu,b,2\n", ["--baselines", "random"],
         "unknown baseline 'random': expected popularity, co-occurrence or none", 1),
    ],
)
def test_cli_bad_input_is_one_line_and_an_exit_code(runner, tmp_path, circle_file, text, args, message, code):
    log = tmp_path / "log.csv"
    log.write_text(text)
    r = run(runner, "-v", str(circle_file), "-i", str(log), *args)
    assert r.exit_code == code
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("embviz: error: ") and message in lines[0], r.stderr
    assert r.stdout == ""


def test_cli_usage_errors(runner, circle_file, hand_log):
    for bad in (["-k", "0"], ["-k", "ten"], ["--context", "0"], ["--metric", "jaccard"]):
        r = run(runner, "-v", str(circle_file), "-i", str(hand_log), *bad)
        assert r.exit_code == 2, bad
    assert run(runner, "-v", str(circle_file)).exit_code == 2  # --interactions is required


# -- CLI output ------------------------------------------------------------------------------
def test_cli_tsv(runner, circle_file, hand_log):
    r = run(runner, "-v", str(circle_file), "-i", str(hand_log), "-k", "1,5", "--bootstrap", "0")
    assert r.exit_code == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0] == (
        "model\tk\tusers\thr\thr_lo\thr_hi\tmrr\tmrr_lo\tmrr_hi\tndcg\tndcg_lo\tndcg_hi\tcoverage\tgini\ttail\tcold\tunknown"
    )
    assert lines[1] == "items.txt (cosine)\t1\t4\t0.250000\tnan\tnan\t0.250000\tnan\tnan\t0.250000\tnan\tnan\t" \
                       "0.500000\t0.583333\t0.750000\t1\t1"
    mrr5 = (1 + 1 / 3 + 1 / 4) / 4
    ndcg5 = (1 + 1 / 2 + 1 / math.log2(5)) / 4
    assert lines[2].startswith(f"items.txt (cosine)\t5\t4\t0.750000\tnan\tnan\t{mrr5:.6f}\tnan\tnan\t{ndcg5:.6f}\t")
    assert [line.split("\t")[:2] for line in lines[3:]] == [
        ["popularity", "1"], ["popularity", "5"], ["co-occurrence", "1"], ["co-occurrence", "5"]
    ]
    assert r.stderr == (
        "embviz: log.parquet: 2 of 14 events have items not in items.txt (e.g. 'zz'): kept in the histories, "
        "never ranked\n"
        + r.stderr.splitlines()[1] + "\n"
    )
    summary = r.stderr.splitlines()[1]
    assert summary.startswith(
        "embviz: next-item (leave-last-out, events ordered by 'timestamp'): 4 of 6 users evaluated (skipped: "
        "1 with one event; 1 whose target is not in the item table); targets: 1 cold (no training event), 1 seen "
        "before (misses: seen items are excluded); ranking all 6 items; query: last item ("
    )


def test_cli_json_deciles_and_quiet(runner, circle_file, hand_log):
    r = run(runner, "-v", str(circle_file), "-i", str(hand_log), "-k", "3", "-f", "json", "--baselines", "none",
            "--seed", "4", "-q")
    assert r.exit_code == 0 and r.stderr == ""
    rows = json.loads(r.stdout)
    assert len(rows) == 1 and rows[0]["model"] == "items.txt (cosine)" and rows[0]["hr"] == 0.5
    assert rows[0]["hr_lo"] <= 0.5 <= rows[0]["hr_hi"] and rows[0]["cold"] == 1
    d = run(runner, "-v", str(circle_file), "-i", str(hand_log), "-k", "3", "--by-decile", "--baselines", "pop", "-q")
    lines = d.stdout.splitlines()
    assert lines[0] == "model\tk\tdecile\titems\tusers\thr\thr_lo\thr_hi\tndcg\tndcg_lo\tndcg_hi"
    assert len(lines) == 1 + 2 * 10  # vectors and popularity, 10 deciles each
    # six items in places 0..5: deciles floor(10 place / 6) + 1 = 1 2 4 6 7 9; u3's cold target f, the
    # least popular, is in decile 9 (hit at rank 3); decile 10 holds no item
    assert lines[9].split("\t")[:6] == ["items.txt (cosine)", "3", "9", "1", "1", "1.000000"]
    assert lines[10].split("\t")[:6] == ["items.txt (cosine)", "3", "10", "0", "0", "nan"]


def test_cli_split_time_and_dot(runner, circle_file, tmp_path):
    log = write_log(tmp_path / "t.parquet", ["u", "u", "u", "v", "v"], ["a", "b", "c", "d", "e"], [1, 2, 9, 3, 8])
    r = run(runner, "-v", str(circle_file), "-i", str(log), "--split-time", "5", "--metric", "dot", "-k", "3",
            "--baselines", "none", "--bootstrap", "0")
    assert r.exit_code == 0, r.stderr
    assert r.stdout.splitlines()[1].startswith("items.txt (dot)\t3\t2\t1.000000")
    assert "next-item (time >= 5, events ordered by 'timestamp'): 2 of 2 users evaluated" in r.stderr


def test_report_is_frozen(hand_log):
    r = next_item(circle(), hand_log, k=1, resamples=0, baselines=())
    assert isinstance(r, NextItemReport)
    with pytest.raises(AttributeError):
        r.scores = []  # type: ignore[misc]
