"""Output formats (embviz.output): exact TSV/CSV/JSON/JSONL, table only when asked."""

from __future__ import annotations

import io
import json

from embviz import output
from embviz.output import OutputFormat, choose_format, write_record, write_rows
from embviz.search import Lookup, Neighbor

ROWS = [Neighbor("king", 1, "queen", 0.78390437), Neighbor("king", 2, "tab\tkey", -0.5)]


def render(rows, fmt, **kw) -> str:
    out = io.StringIO()
    write_rows(rows, fmt, out, **kw)
    return out.getvalue()


def test_choose_format():
    assert choose_format(None, True) == OutputFormat.table
    assert choose_format(None, False) == OutputFormat.tsv
    for f in OutputFormat:
        assert choose_format(f, True) == f and choose_format(f, False) == f
    assert choose_format("json", True) == OutputFormat.json


def test_tsv():
    assert render(ROWS, OutputFormat.tsv) == (
        "query\trank\tkey\tscore\nking\t1\tqueen\t0.783904\nking\t2\ttab\\tkey\t-0.500000\n"
    )
    assert render(ROWS, OutputFormat.tsv, header=False) == (
        "king\t1\tqueen\t0.783904\nking\t2\ttab\\tkey\t-0.500000\n"
    )


def test_tsv_escapes():
    rows = [{"key": "a\\b\nc\rd"}]
    assert render(rows, OutputFormat.tsv) == "key\na\\\\b\\nc\\rd\n"


def test_csv():
    assert render(ROWS, OutputFormat.csv) == (
        "query,rank,key,score\nking,1,queen,0.783904\nking,2,tab\tkey,-0.500000\n"
    )
    rows = [{"key": 'a,"b"', "score": 1.0}]
    assert render(rows, OutputFormat.csv, header=False) == '"a,""b""",1.000000\n'


def test_json_and_jsonl_keep_full_precision():
    assert json.loads(render(ROWS, OutputFormat.json)) == [
        {"query": "king", "rank": 1, "key": "queen", "score": 0.78390437},
        {"query": "king", "rank": 2, "key": "tab\tkey", "score": -0.5},
    ]
    text = render(ROWS, OutputFormat.jsonl)
    assert text == (
        '{"query": "king", "rank": 1, "key": "queen", "score": 0.78390437}\n'
        '{"query": "king", "rank": 2, "key": "tab\\tkey", "score": -0.5}\n'
    )


def test_json_non_finite_and_unicode():
    rows = [{"key": "東京", "score": float("nan")}, {"key": "x", "score": float("-inf")}]
    assert render(rows, OutputFormat.jsonl) == '{"key": "東京", "score": null}\n{"key": "x", "score": null}\n'


def test_vectors():
    rows = [Lookup(3, "a", (1.0, 0.5, -2.25e-7))]
    assert render(rows, OutputFormat.tsv) == "id\tkey\tvector\n3\ta\t1 0.5 -2.25e-07\n"
    assert json.loads(render(rows, OutputFormat.json)) == [{"id": 3, "key": "a", "vector": [1.0, 0.5, -2.25e-7]}]


def test_empty_rows():
    assert render([], OutputFormat.tsv, columns=["a", "b"]) == "a\tb\n"
    assert render([], OutputFormat.tsv) == ""
    assert render([], OutputFormat.csv, columns=["a", "b"]) == "a,b\n"
    assert render([], OutputFormat.json) == "[]\n"
    assert render([], OutputFormat.jsonl) == ""


def test_digits():
    assert render([{"s": 0.123456789}], OutputFormat.tsv, digits=3) == "s\n0.123\n"


def test_table():
    text = render(ROWS, OutputFormat.table, title="neighbors")
    assert "queen" in text and "0.7839" in text and "neighbors" in text
    assert "\t" not in text
    assert "query" in text.splitlines()[2]


def test_table_long_vectors_are_shortened():
    rows = [Lookup(0, "a", tuple(float(i) for i in range(50)))]
    text = render(rows, OutputFormat.table)
    flat = " ".join(text.replace("│", " ").split())
    assert "[0.000, 1.000, 2.000, 3.000, ..., 48.000, 49.000] (50 dims)" in flat


def test_table_escapes_markup():
    text = render([{"key": "[bold]x[/bold]"}], OutputFormat.table)
    assert "[bold]x[/bold]" in text


def test_write_record():
    rec = {"count": 3, "norm": 1.23456789, "name": "v.txt"}
    out = io.StringIO()
    write_record(rec, OutputFormat.tsv, out)
    assert out.getvalue() == "count\tnorm\tname\n3\t1.234568\tv.txt\n"
    out = io.StringIO()
    write_record(rec, OutputFormat.json, out)
    assert json.loads(out.getvalue()) == rec
    out = io.StringIO()
    write_record(rec, OutputFormat.table, out)
    assert "property" in out.getvalue() and "1.2346" in out.getvalue()


def test_stdout_is_terminal_follows_sys_stdout(monkeypatch):
    class Fake(io.StringIO):
        def isatty(self):
            return True

    monkeypatch.setattr("sys.stdout", Fake())
    assert output.stdout_is_terminal() is True
    monkeypatch.setattr("sys.stdout", io.StringIO())
    assert output.stdout_is_terminal() is False
