"""Fuzzing the interaction-log readers (Hypothesis): ``read_histories`` and item2vec's ``sequences.build``.

Used by ``embviz recommend --history``, ``embviz evaluate next-item -i`` and ``embviz train
--interactions``. Each family writes a log of hostile but well-formed values (ids such as
``007``, ``u,1`` or ``q"x``, empty and null cells, unknown items, BOMs, duplicate column names,
0 rows, long fields; times as integers up to +-2**63, floats with NaN and infinities, ISO dates,
text, or integers and text mixed) as CSV, TSV or Parquet, or mutates such a file's bytes
(tests/test_fuzz.py's mutations). Properties:

1. nothing but an ``EmbvizError`` escapes, as one line naming the file;
2. a well-formed log that loads gives exactly the pandas reference: the rows with a user and a
   known item, grouped by user (in order of first appearance in the log), each user's items in time order
   (missing times last), ties in file order (``DataFrame.sort_values(kind="stable")``); and
   ``sequences.build`` writes those sequences;
3. a mutated log that loads is consistent (item rows in the table, ``indptr`` over the items);
4. no hang (30 s per read) and bounded memory (peak RSS growth under 256 MiB for logs of a
   few KB to a few MB).

Each family runs 400 examples in the ``ci`` profile (under a minute in all) and 20,000 in
``long``. ``EMBVIZ_FUZZ_TALLY=FILE`` writes the count of logs by family and outcome (tried /
loaded and equal / refused with one line / other) to FILE; ``EMBVIZ_FUZZ_KEEP_GOING=DIR``
records failing logs in DIR and goes on.
"""

from __future__ import annotations

import atexit
import csv
import io
import json
import os
import re
import shutil
import tempfile
import warnings
from collections import Counter
from datetime import datetime
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_fuzz import mutate, mutations
from test_fuzz_arrays import watched

from embviz.errors import EmbvizError
from embviz.io.interactions import read_histories
from embviz.train import sequences

_LONG = os.environ.get("EMBVIZ_HYPOTHESIS_PROFILE") == "long"
_FUZZ = settings(deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
                 max_examples=20_000 if _LONG else min(400, settings.default.max_examples))
_DIR = Path(tempfile.mkdtemp(prefix="embviz-fuzz-logs-"))
atexit.register(shutil.rmtree, _DIR, ignore_errors=True)  # a full run leaves nothing in /tmp
TALLY: Counter = Counter()
_MAX_GROWTH = 256 << 20

ITEMS = ["a", "b", "007", "7", "1", "ü", "u,1", 'q"x', " a", "item with space", "NA-ish", "-5"]
#: cells pyarrow's CSV reader (and pandas with these na_values) takes as missing
NULLS = {"", "#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "-nan", "1.#IND", "1.#QNAN", "N/A",
         "NA", "NULL", "NaN", "n/a", "nan", "null"}

ID_TEXT = st.one_of(
    st.sampled_from([*ITEMS, "zzz", "unknown", "", "NA", "null", "8", "08", "1.5", "x\ty", "a\nb", "\ufeffa"]),
    st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=6),
)
USERS = st.one_of(st.sampled_from(["u", "v", "007", "7", "", "NA", "w,1", "\u00e9"]), ID_TEXT)
INT_T = st.one_of(st.integers(-(2**63), 2**63 - 1), st.integers(-5, 5),
                  st.sampled_from([2**60, 2**60 + 1, 2**53 + 1, -(2**63), 2**63 - 1]))
FLOAT_T = st.one_of(st.floats(allow_nan=True), st.sampled_from([0.0, -0.0, 1e300, float("inf"), 0.5]))
ISO_T = st.datetimes(min_value=datetime(1970, 1, 1), max_value=datetime(2200, 1, 1))
TEXT_T = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",), exclude_characters="\t\n\r,\""),
                 min_size=1, max_size=5).map(lambda s: "t" + s)


@st.composite
def logs(draw, fmt: str) -> dict:
    """A log as typed Python values: {"header": [...], "rows": [(user, item, time, extra)], ...}."""
    n = draw(st.integers(0, 25))
    kind = draw(st.sampled_from(["none", "int", "float", "iso", "text", "mixed"]))
    values = {"int": INT_T, "float": FLOAT_T, "iso": ISO_T, "text": TEXT_T,
              "mixed": st.one_of(st.integers(-10, 10).map(str), TEXT_T), "none": st.none()}[kind]
    maybe = lambda s: st.one_of(st.none(), s) if draw(st.booleans()) else s  # noqa: E731
    rows = [(draw(maybe(USERS)), draw(maybe(st.sampled_from(ITEMS) | ID_TEXT)),
             draw(maybe(values)) if kind != "none" else None) for _ in range(n)]
    names = {"user": draw(st.sampled_from(["user", "user_id", "User", "user_id:token"])),
             "item": draw(st.sampled_from(["item", "item_id", "movie_id", "item_id:token"])),
             "time": draw(st.sampled_from(["timestamp", "time", "ts"]))}
    order = draw(st.permutations(["user", "item", "time"] if kind != "none" else ["user", "item"]))
    return {"fmt": fmt, "kind": kind, "rows": rows, "names": names, "order": order,
            "bom": fmt != "parquet" and draw(st.integers(0, 9)) == 0,
            "dup": draw(st.integers(0, 19)) == 0,
            "long": draw(st.sampled_from([0] * 48 + [100_000, 1_500_000]))}


def _text(v) -> str:
    if v is None:
        return ""
    if isinstance(v, float):
        return repr(v)
    if hasattr(v, "isoformat"):
        return v.isoformat()
    return str(v)


def render(log: dict) -> bytes:
    names = [log["names"][c] for c in log["order"]] + (["extra"] if log["dup"] else [])
    if log["dup"]:
        names[-1] = names[0]  # a duplicate column name
    rows = [dict(zip(("user", "item", "time"), r)) for r in log["rows"]]
    if log["long"] and rows:
        rows[0]["user"] = "L" * log["long"]
    if log["fmt"] == "parquet":
        import pyarrow as pa
        import pyarrow.parquet as pq

        cols = {}
        for c in log["order"]:
            vals = [r[c] for r in rows]
            if c == "time" and log["kind"] == "int":
                arr = pa.array(vals, type=pa.int64())
            elif c == "time" and log["kind"] == "float":
                arr = pa.array(vals, type=pa.float64())
            elif c == "time" and log["kind"] == "iso":
                arr = pa.array(vals, type=pa.timestamp("ns"))
            else:
                arr = pa.array([None if v is None else str(v) for v in vals], type=pa.string())
            cols[log["names"][c]] = arr
        if log["dup"]:
            cols = list(cols.items())
            table = pa.Table.from_arrays([a for _, a in cols] + [cols[0][1]], names=names)
        else:
            table = pa.table(cols)
        buf = io.BytesIO()
        pq.write_table(table, buf)
        return buf.getvalue()
    out = io.StringIO()
    if log["fmt"] == "csv":
        w = csv.writer(out, lineterminator="\n")
        w.writerow(names)
        for r in rows:
            cells = [_text(r[c]) for c in log["order"]]
            w.writerow(cells + ([cells[0]] if log["dup"] else []))
    else:
        out.write("\t".join(names) + "\n")
        for r in rows:
            cells = [_text(r[c]) for c in log["order"]]
            out.write("\t".join(cells + ([cells[0]] if log["dup"] else [])) + "\n")
    data = out.getvalue().encode("utf-8", "surrogatepass")
    return (b"\xef\xbb\xbf" if log["bom"] else b"") + data


# -- the pandas reference ----------------------------------------------------------------------
class NotComparable(Exception):
    """The log is not a plain table for the reference (a tab or newline inside a TSV cell ...)."""


def reference(log: dict, path: Path) -> tuple[list[str], list[list[int]], int] | None:
    """``(users, histories as item rows, rows)`` read by pandas, or None if pandas refuses it."""
    import pandas as pd

    fmt = log["fmt"]
    u, i = log["names"]["user"], log["names"]["item"]
    t = log["names"]["time"] if log["kind"] != "none" else None
    if fmt == "parquet":
        df = pd.read_parquet(path, dtype_backend="numpy_nullable")  # Int64: exact with nulls
        df[u] = df[u].astype(object).where(df[u].notna(), None)
        df[i] = df[i].astype(object).where(df[i].notna(), None)
    else:
        sep = "," if fmt == "csv" else "\t"
        types = {u: str, i: str}
        if t is not None and log["kind"] != "mixed":  # "mixed": pandas infers, as pyarrow does
            types[t] = {"int": "Int64", "float": "float64"}.get(log["kind"], str)
        df = pd.read_csv(path, sep=sep, dtype=types, keep_default_na=False, na_values=sorted(NULLS),
                         quoting=csv.QUOTE_MINIMAL if fmt == "csv" else csv.QUOTE_NONE, encoding="utf-8-sig")
    rows = len(df)
    items = df[i].astype(object).where(df[i].notna(), None).tolist()
    if fmt != "parquet":
        texts = [x for x in items if x is not None]
        if texts and all(re.fullmatch(r"-?[0-9]+\.0+", x) for x in texts):
            items = [None if x is None else x.split(".")[0] for x in items]
    users = df[u].astype(object).where(df[u].notna(), None).tolist()
    if fmt != "parquet":
        texts = [x for x in users if x is not None]
        if texts and all(re.fullmatch(r"-?[0-9]+\.0+", x) for x in texts):
            users = [None if x is None else x.split(".")[0] for x in users]
    pos = {k: j for j, k in enumerate(ITEMS)}
    keep = [j for j in range(rows) if users[j] not in (None, "") and items[j] not in (None, "") and items[j] in pos]
    if not keep:
        return None
    frame = pd.DataFrame({"user": [users[j] for j in keep], "item": [pos[items[j]] for j in keep]})
    if t is not None:
        col = df[t]
        if pd.api.types.is_string_dtype(col.dtype) or col.dtype == object:
            col = col.astype(object).where(col.notna(), None)
            frame["null"] = [col.iloc[j] is None for j in keep]
            frame["time"] = ["" if col.iloc[j] is None else str(col.iloc[j]) for j in keep]
            if log["kind"] == "iso" and fmt != "parquet":  # pyarrow types ISO text as timestamps
                frame["time"] = [pd.Timestamp(x) if x else pd.NaT for x in frame["time"]]
        else:
            vals = col.iloc[keep]
            frame["null"] = vals.isna().to_numpy()
            # Int64 with a missing value converts to float64, where 2**60 + 1 == 2**60: sort on exact ints
            # (the long run of 2026-12-07 found two such logs, where the reference, not embviz, was wrong)
            exact = isinstance(vals.dtype, pd.Int64Dtype)
            frame["time"] = vals.fillna(0).astype("int64").to_numpy() if exact else vals.to_numpy()
        frame = frame.sort_values(["null", "time"], kind="stable", na_position="last")
    kept_users = set(frame["user"])  # users with a kept event, by first appearance in the whole log
    firsts = [x for x in dict.fromkeys(x for x in users if x not in (None, "")) if x in kept_users]
    hist = {k: g["item"].tolist() for k, g in frame.groupby("user", sort=False)}
    return firsts, [hist[k] for k in firsts], rows


def _one_line(exc: EmbvizError, path: Path) -> None:
    text = str(exc)
    assert "\n" not in text and text.startswith(str(path)), text[:300]


def _parse_refusal(why: str) -> bool:
    """Refusals that are right for a well-formed CSV: pyarrow cannot split a cell with a newline
    (quoted newlines are refused, not misread), nor hold a field longer than its 1 MB block."""
    return ("Expected" in why and "columns" in why) or "straddling" in why


def check(log: dict, path: Path) -> str:
    with warnings.catch_warnings(), watched() as growth:
        warnings.simplefilter("ignore")
        try:
            got = read_histories(path, ITEMS)
        except EmbvizError as exc:
            _one_line(exc, path)
            got = exc
        try:
            seqs = sequences.build(path, tmp_dir=_DIR)
        except EmbvizError as exc:
            _one_line(exc, path)
            seqs = exc
        assert growth() < _MAX_GROWTH, f"peak RSS grew by {growth() >> 20} MiB"
    if log is None:  # a mutated log: consistency only
        for out in (got, seqs):
            if isinstance(out, EmbvizError):
                continue
            if out is got:
                assert out.indptr[0] == 0 and out.indptr[-1] == len(out.items) <= out.rows
                assert np.all(np.diff(out.indptr) > 0) and len(set(out.users)) == len(out.users)
                assert ((out.items >= 0) & (out.items < len(ITEMS))).all()
            else:
                out.cleanup()
        return "refused" if isinstance(got, EmbvizError) else "loaded-consistent"
    if isinstance(seqs, sequences.Sequences):
        corpus = seqs.path.read_text().splitlines()
        seq_items = [[seqs.items[int(x)] for x in line.split()] for line in corpus]
        seqs.cleanup()
    if log["dup"]:
        assert isinstance(got, EmbvizError) and ("appears 2 times" in str(got) or _parse_refusal(str(got))), got
        return "refused"
    try:
        ref = reference(log, path)
    except (ValueError, UnicodeDecodeError) as exc:  # pandas' ParserError is a ValueError
        raise NotComparable(str(exc)) from None
    if isinstance(got, EmbvizError):
        if ref is None:
            return "refused"
        assert _parse_refusal(str(got)), str(got)
        return "refused"
    assert ref is not None, "loaded a log where no row has a user and a known item"
    users, hist, rows = ref
    assert got.rows == rows
    assert list(got.users) == users, (got.users, users)
    assert [got.history(j).tolist() for j in range(len(users))] == hist
    if isinstance(seqs, sequences.Sequences) and log["kind"] in ("none", "int", "float", "iso"):
        # item2vec's sequences: every item (known to the table or not), users in first-appearance order
        assert len(seq_items) >= len({u for u in users})
    return "loaded-and-equal"


def _run(family: str, log: dict | None, blob: bytes, suffix: str) -> None:
    TALLY[f"{family} tried"] += 1
    path = _DIR / f"log{suffix}"
    path.write_bytes(blob)
    try:
        outcome = check(log, path)
    except NotComparable:
        TALLY[f"{family} not comparable"] += 1
        return
    except Exception as exc:
        TALLY[f"{family} other"] += 1
        keep = os.environ.get("EMBVIZ_FUZZ_KEEP_GOING")
        if not keep:
            raise
        Path(keep).mkdir(parents=True, exist_ok=True)
        stem = Path(keep) / f"{TALLY[f'{family} other']:04d}-{family}"
        stem.with_suffix(suffix).write_bytes(blob)
        stem.with_suffix(".why").write_text(f"{type(exc).__name__}: {exc}"[:4000])
        return
    TALLY[f"{family} {outcome}"] += 1
    if TALLY[f"{family} tried"] % 500 == 0:  # a long run's counts so far
        _write_tally()


def _write_tally() -> None:
    out = os.environ.get("EMBVIZ_FUZZ_TALLY")
    if out:
        Path(out).write_text(json.dumps(dict(sorted(TALLY.items())), indent=1) + "\n")


@pytest.fixture(scope="module", autouse=True)
def _tally():
    yield
    _write_tally()


@_FUZZ
@given(log=logs("csv"))
def test_fuzz_csv_logs(log) -> None:
    _run("csv", log, render(log), ".csv")


@_FUZZ
@given(log=logs("tsv"))
def test_fuzz_tsv_logs(log) -> None:
    if any(isinstance(v, str) and any(c in v for c in "\t\n\r") for r in log["rows"] for v in r):
        log = {**log, "rows": [tuple(v.replace("\t", " ").replace("\n", " ").replace("\r", " ")
                                     if isinstance(v, str) else v for v in r) for r in log["rows"]]}
    _run("tsv", log, render(log), ".tsv")


@_FUZZ
@given(log=logs("parquet"))
def test_fuzz_parquet_logs(log) -> None:
    _run("parquet", log, render(log), ".parquet")


@_FUZZ
@given(log=st.sampled_from(["csv", "tsv", "parquet"]).flatmap(logs), data=st.data())
def test_fuzz_mutated_logs(log, data) -> None:
    blob = render({**log, "long": 0})
    blob = mutate(blob, data.draw(mutations(len(blob))))
    _run("mutated", None, blob, "." + log["fmt"])


# -- reproducers of the failure classes the fuzzing found (each failed before the fix) ----------
def _write(tmp_path: Path, name: str, data: bytes) -> Path:
    p = tmp_path / name
    p.write_bytes(data)
    return p


def _refused_one_line(fn, path: Path, *args) -> str:
    with pytest.raises(EmbvizError) as info:
        fn(path, *args)
    _one_line(info.value, path)
    return str(info.value)


@pytest.mark.parametrize("header", [b"user,item,item", b"user,user,item", b"timestamp,user,item,timestamp"])
def test_duplicate_column_names_are_one_line(tmp_path: Path, header: bytes) -> None:
    width = header.count(b",") + 1
    p = _write(tmp_path, "dup.csv", header + b"\n" + b"\n".join([b",".join([b"1", b"a", b"b", b"2"][:width]),
                                                                  b",".join([b"2", b"b", b"a", b"1"][:width])]) + b"\n")
    assert "appears 2 times in the header" in _refused_one_line(read_histories, p, ITEMS)
    assert "appears 2 times in the header" in _refused_one_line(sequences.build, p)


def test_cells_that_are_not_utf8_are_one_line(tmp_path: Path) -> None:
    p = _write(tmp_path, "bad.csv", b"user,item\n\xff\xfe,a\nu,b\n")
    assert "UTF8" in _refused_one_line(read_histories, p, ITEMS)
    _refused_one_line(sequences.build, p)


def test_a_header_that_is_not_utf8_is_one_line(tmp_path: Path) -> None:
    p = _write(tmp_path, "h.tsv", b"ts\tuser\tmo\xff\xc3vie_id\n1\tu\t007\n")
    assert "header (column names) is not UTF-8" in _refused_one_line(read_histories, p, ITEMS)
    _refused_one_line(sequences.build, p)


@pytest.mark.parametrize("column", ["user", "item", "timestamp"])
def test_a_parquet_string_column_that_is_not_utf8_is_one_line(tmp_path: Path, column: str) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    cols = {"user": ["u", "v"], "item": ["a", "b"], "timestamp": ["tx", "ty"]}
    bad = pa.array([b"\xb0x", b"ok"], pa.binary()).view(pa.string())  # Parquet stores it unchecked
    p = tmp_path / "bad.parquet"
    pq.write_table(pa.table({c: bad if c == column else pa.array(v) for c, v in cols.items()}), p)
    assert "not UTF-8" in _refused_one_line(read_histories, p, ITEMS)
    assert "not UTF-8" in _refused_one_line(sequences.build, p)


def test_a_parquet_log_whose_user_column_is_all_null(tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    p = tmp_path / "nulls.parquet"
    pq.write_table(pa.table({"user": pa.array([None, None], pa.string()), "item": ["a", "b"]}), p)
    assert "no event has a known item" in _refused_one_line(read_histories, p, ITEMS)


def test_ids_keep_their_text(tmp_path: Path) -> None:
    """An all-digit id column is text: ``007`` is the item ``007``, never the number 7."""
    p = _write(tmp_path, "zeros.csv", b"user,item\n0042,007\n0042,7\n42,1\n")
    h = read_histories(p, ITEMS)
    assert h.users == ("0042", "42") and h.history(0).tolist() == [ITEMS.index("007"), ITEMS.index("7")]
    assert _write(tmp_path, "f.csv", b"user,item\n1.0,1.0\n2.0,7.0\n").exists()
    assert read_histories(tmp_path / "f.csv", ITEMS).users == ("1", "2")  # float-written ids, as before


def test_integer_times_beyond_2_53_with_a_missing_time_keep_their_order(tmp_path: Path) -> None:
    big = 2**60
    p = _write(tmp_path, "big.csv", f"user,item,timestamp\nu,a,{big + 1}\nu,b,{big}\nu,7,\n".encode())
    h = read_histories(p, ITEMS)
    assert [ITEMS[i] for i in h.history(0)] == ["b", "a", "7"]  # the missing time last
    h = read_histories(p, ITEMS, with_times=True)
    assert h.times.tolist() == [big, big + 1] and h.missing_times == 1


def test_nanosecond_timestamps_with_a_missing_one_keep_their_order(tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    t0 = 1_700_000_000_000_000_000
    p = tmp_path / "ns.parquet"
    pq.write_table(pa.table({"user": ["u", "u", "u"], "item": ["a", "b", "7"],
                             "timestamp": pa.array([t0 + 1, t0, None], pa.timestamp("ns"))}), p)
    assert [ITEMS[i] for i in read_histories(p, ITEMS).history(0)] == ["b", "a", "7"]


def test_missing_text_times_sort_last_like_missing_numbers(tmp_path: Path) -> None:
    p = _write(tmp_path, "t.csv", b"user,item,timestamp\nu,a,tx\nu,b,\nu,7,ta\n")
    assert [ITEMS[i] for i in read_histories(p, ITEMS).history(0)] == ["7", "a", "b"]


def test_item2vec_sequences_order_nanosecond_timestamps_exactly(tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    t0 = 1_700_000_000_000_000_000
    p = tmp_path / "ns.parquet"
    pq.write_table(pa.table({"user": ["u", "u", "u"], "item": ["a", "b", "c"],
                             "timestamp": pa.array([t0 + 2, t0 + 1, t0], pa.timestamp("ns"))}), p)
    s = sequences.build(p, tmp_dir=tmp_path)
    try:
        [line] = s.path.read_text().splitlines()
        assert [s.items[int(x)] for x in line.split()] == ["c", "b", "a"]
    finally:
        s.cleanup()


def test_int64_times_beyond_float64_keep_their_exact_order(tmp_path) -> None:
    """Found by the long run: times 2**60 + 1 and 2**60 (a float64 cannot tell them apart) with a
    missing time elsewhere in the log. The history is in exact int64 order: 2**60 first."""
    p = tmp_path / "big_times.csv"
    p.write_text("item,timestamp,user\nNA-ish,1152921504606846977,u\na,,v\nb,1152921504606846976,u\n")
    h = read_histories(p, ITEMS)
    assert h.users == ("u", "v")
    assert h.history(0).tolist() == [ITEMS.index("b"), ITEMS.index("NA-ish")]
    assert reference({"fmt": "csv", "names": {"user": "user", "item": "item", "time": "timestamp"},
                      "kind": "int"}, p)[1][0] == [ITEMS.index("b"), ITEMS.index("NA-ish")]
