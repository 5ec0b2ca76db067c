"""The command line (embviz.cli): exact stdout per format, one stderr line per error, exit codes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from embviz import io as formats
from embviz.cli import app

# obvious geometry: cos(king, queen) = 0.8, cos(king, man) = 0.6, cos(queen, man) = 0.96
TOY = "king 1 0\nqueen 0.8 0.6\nman 0.6 0.8\nwoman 0 1\napple -1 0\n"


@pytest.fixture()
def toy(tmp_path) -> Path:
    p = tmp_path / "toy.txt"
    p.write_text(TOY)
    return p


def run(runner, args, toy=None, input=None, exit_code=0):
    args = list(args) + (["-v", str(toy)] if toy is not None else [])
    result = runner.invoke(app, args, input=input)
    assert result.exit_code == exit_code, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    return result


def ok(runner, args, toy=None, input=None):
    result = run(runner, args, toy, input)
    assert result.stderr == ""
    return result.stdout


# -- info --------------------------------------------------------------------------------------
def test_info_tsv(runner, toy):
    assert ok(runner, ["info"], toy) == (
        "file\tformat\tcompression\tcount\tdim\tdtype\tmemory_bytes\tnorm_min\tnorm_mean\t"
        "norm_max\tzero_rows\tfirst_keys\n"
        f"{toy}\tglove\tnone\t5\t2\tfloat32\t40\t1.000000\t1.000000\t1.000000\t0\t"
        "king queen man woman apple\n"
    )


def test_info_json_and_limit(runner, toy):
    data = json.loads(ok(runner, ["info", "-f", "json", "--limit", "2"], toy))
    assert {k: data[k] for k in ("format", "count", "dim", "first_keys", "zero_rows")} == {
        "format": "glove", "count": 2, "dim": 2, "first_keys": "king queen", "zero_rows": 0
    }


def test_info_gzip_word2vec(runner, tmp_path):
    from embviz.vectors import Vectors

    p = tmp_path / "v.bin.gz"
    formats.save(Vectors(["a", "b"], [[3, 4], [0, 0]]), p)
    out = ok(runner, ["info", "--no-header"], p)
    assert out == f"{p}\tword2vec\tgzip\t2\t2\tfloat32\t16\t0.000000\t2.500000\t5.000000\t1\ta b\n"


def test_info_table(runner, toy, monkeypatch):
    monkeypatch.setattr("embviz.output.stdout_is_terminal", lambda: True)
    out = ok(runner, ["info"], toy)
    assert "\t" not in out
    for text in ("property", "value", "count", "glove", "king queen man woman apple"):
        assert text in out


def test_info_sample_default(runner):
    out = ok(runner, ["info", "--no-header", "-f", "tsv"])
    fields = out.rstrip("\n").split("\t")
    assert fields[1:7] == ["glove", "gzip", "40000", "50", "float32", "8000000"]
    assert fields[-1] == "the , . of to"


# -- lookup ------------------------------------------------------------------------------------
def test_lookup_keys_and_ids(runner, toy):
    assert ok(runner, ["lookup", "queen", "3", "king"], toy) == (
        "id\tkey\tvector\n1\tqueen\t0.8 0.6\n3\twoman\t0 1\n0\tking\t1 0\n"
    )
    assert ok(runner, ["lookup", "--ids", "4", "--no-header"], toy) == "4\tapple\t-1 0\n"


def test_lookup_stdin_and_json(runner, toy):
    out = ok(runner, ["lookup", "-", "-f", "jsonl"], toy, input="man\n\n2\n")
    assert out == (
        '{"id": 2, "key": "man", "vector": [0.6, 0.8]}\n'
        '{"id": 2, "key": "man", "vector": [0.6, 0.8]}\n'
    )


def test_lookup_errors(runner, toy):
    r = run(runner, ["lookup", "kingg"], toy, exit_code=3)
    assert (r.stdout, r.stderr) == (
        "", "embviz: error: 'kingg' is not in the vocabulary (5 keys of toy.txt); close matches: king\n"
    )
    r = run(runner, ["lookup", "9"], toy, exit_code=1)
    assert r.stderr == "embviz: error: id 9 is out of range: ids go from 0 to 4\n"
    r = run(runner, ["lookup", "99999999999999999999"], toy, exit_code=1)
    assert r.stderr == "embviz: error: id 99999999999999999999 is out of range: ids go from 0 to 4\n"
    r = run(runner, ["lookup", "--ids", "king"], toy, exit_code=1)
    assert r.stderr == "embviz: error: 'king' is not an integer id\n"


# -- neighbors ---------------------------------------------------------------------------------
NEIGHBORS_KING = (
    "query\trank\tkey\tscore\n"
    "king\t1\tqueen\t0.800000\n"
    "king\t2\tman\t0.600000\n"
    "king\t3\twoman\t0.000000\n"
    "king\t4\tapple\t-1.000000\n"
)


def test_neighbors_tsv(runner, toy):
    assert ok(runner, ["neighbors", "king"], toy) == NEIGHBORS_KING
    assert ok(runner, ["neighbors", "king", "-k", "2", "--no-header"], toy) == (
        "king\t1\tqueen\t0.800000\nking\t2\tman\t0.600000\n"
    )


def test_neighbors_many_queries_and_stdin(runner, toy):
    expected = "query\trank\tkey\tscore\nking\t1\tqueen\t0.800000\nwoman\t1\tman\t0.800000\n"
    assert ok(runner, ["neighbors", "king", "woman", "-k", "1"], toy) == expected
    assert ok(runner, ["neighbors", "-", "-k", "1"], toy, input="king\n\n  \nwoman\r\n") == expected


def test_neighbors_expression(runner, toy):
    out = ok(runner, ["neighbors", "king - man + woman", "-k", "1"], toy)
    assert out == "query\trank\tkey\tscore\nking - man + woman\t1\tqueen\t0.983870\n"


def test_neighbors_restrict_and_limit(runner, toy):
    expected = "query\trank\tkey\tscore\nking\t1\tqueen\t0.800000\nking\t2\tman\t0.600000\n"
    assert ok(runner, ["neighbors", "king", "--restrict", "3"], toy) == expected
    assert ok(runner, ["neighbors", "king", "--limit", "3"], toy) == expected
    r = run(runner, ["neighbors", "woman", "--limit", "3"], toy, exit_code=3)
    assert r.stderr == (
        "embviz: error: 'woman' is not in the vocabulary (3 keys of toy.txt); close matches: man\n"
    )


@pytest.mark.parametrize(
    "fmt, expected",
    [
        ("tsv", "query\trank\tkey\tscore\nking\t1\tqueen\t0.800000\n"),
        ("csv", "query,rank,key,score\nking,1,queen,0.800000\n"),
        ("jsonl", '{"query": "king", "rank": 1, "key": "queen", "score": 0.800000011920929}\n'),
        ("json", '[\n  {\n    "query": "king",\n    "rank": 1,\n    "key": "queen",\n'
                 '    "score": 0.800000011920929\n  }\n]\n'),
    ],
)
def test_neighbors_formats(runner, toy, fmt, expected):
    assert ok(runner, ["neighbors", "king", "-k", "1", "--format", fmt], toy) == expected
    assert ok(runner, ["neighbors", "king", "-k", "1", "-f", fmt], toy) == expected


def test_neighbors_table_on_a_terminal(runner, toy, monkeypatch):
    monkeypatch.setattr("embviz.output.stdout_is_terminal", lambda: True)
    out = ok(runner, ["neighbors", "king", "-k", "2"], toy)
    assert "\t" not in out
    for text in ("query", "rank", "score", "queen", "0.8000", "man", "0.6000"):
        assert text in out
    # an explicit format wins over the terminal
    assert ok(runner, ["neighbors", "king", "-k", "1", "-f", "tsv"], toy) == (
        "query\trank\tkey\tscore\nking\t1\tqueen\t0.800000\n"
    )


def test_explicit_table_format_in_a_pipe(runner, toy):
    out = ok(runner, ["neighbors", "king", "-k", "1", "-f", "table"], toy)
    assert "queen" in out and "\t" not in out


def test_neighbors_unknown_key(runner, toy):
    r = run(runner, ["neighbors", "kinq"], toy, exit_code=3)
    assert r.stdout == ""
    assert r.stderr == "embviz: error: 'kinq' is not in the vocabulary (5 keys of toy.txt); close matches: king\n"


def test_neighbors_skip_missing_and_quiet(runner, toy):
    r = run(runner, ["neighbors", "nope", "king", "-k", "1", "--skip-missing"], toy)
    assert r.stdout == "query\trank\tkey\tscore\nking\t1\tqueen\t0.800000\n"
    assert r.stderr == (
        "embviz: warning: skipped query 'nope': 'nope' is not in the vocabulary "
        "(5 keys of toy.txt); no close matches\n"
    )
    r = run(runner, ["neighbors", "nope", "king", "-k", "1", "--skip-missing", "--quiet"], toy)
    assert (r.stdout, r.stderr) == ("query\trank\tkey\tscore\nking\t1\tqueen\t0.800000\n", "")
    # all skipped: exit 0, header only
    r = run(runner, ["neighbors", "nope", "--skip-missing", "-q"], toy)
    assert (r.stdout, r.stderr) == ("query\trank\tkey\tscore\n", "")


def test_neighbors_bad_expression_and_k(runner, toy):
    r = run(runner, ["neighbors", "king -"], toy, exit_code=1)
    assert r.stderr == "embviz: error: expression 'king -' ends with an operator\n"
    r = run(runner, ["neighbors", "king - king"], toy, exit_code=1)
    assert r.stderr.startswith("embviz: error: the vector of 'king - king' is all zeros")
    r = run(runner, ["neighbors", "king", "-k", "0"], toy, exit_code=2)
    assert r.stdout == ""
    r = run(runner, ["neighbors", "king", "-"], toy, exit_code=1)
    assert r.stderr == "embviz: error: '-' (read queries from stdin) must be the only argument\n"


def test_neighbors_on_the_sample(runner):
    out = ok(runner, ["neighbors", "king"])
    lines = out.splitlines()
    assert lines[0] == "query\trank\tkey\tscore"
    assert len(lines) == 11
    assert lines[1] == "king\t1\tprince\t0.823618"
    assert "queen" in [line.split("\t")[2] for line in lines[1:]]


# -- analogy -----------------------------------------------------------------------------------
def test_analogy(runner, toy):
    assert ok(runner, ["analogy", "man", "king", "woman"], toy) == (
        "a\tb\tc\trank\tkey\tscore\nman\tking\twoman\t1\tqueen\t0.983870\n"
    )
    assert ok(runner, ["analogy", "man", "king", "woman", "-k", "5", "--no-header"], toy) == (
        "man\tking\twoman\t1\tqueen\t0.983870\nman\tking\twoman\t2\tapple\t-0.894427\n"
    )


def test_analogy_cosmul(runner, toy):
    # cos'(x, y) = (1 + cos) / 2; queen: cos'(q,king)=0.9, cos'(q,woman)=0.8, cos'(q,man)=0.98
    out = ok(runner, ["analogy", "man", "king", "woman", "--method", "cosmul", "-f", "jsonl"], toy)
    row = json.loads(out)
    assert (row["key"], row["rank"]) == ("queen", 1)
    assert row["score"] == pytest.approx(0.9 * 0.8 / (0.98 + 1e-6), rel=1e-6)


def test_analogy_stdin(runner, toy):
    out = ok(runner, ["analogy", "-"], toy, input="man king woman\nking\tqueen\tman\n\n")
    assert out == (
        "a\tb\tc\trank\tkey\tscore\n"
        "man\tking\twoman\t1\tqueen\t0.983870\n"
        f"king\tqueen\tman\t1\twoman\t{_cos_toy([0.8 - 1 + 0.6, 0.6 - 0 + 0.8], [0, 1]):.6f}\n"
    )
    r = run(runner, ["analogy", "-"], toy, input="man king\n", exit_code=1)
    assert r.stderr == "embviz: error: stdin line 1: expected 3 keys (a b c), found 2\n"


def _cos_toy(q, x):
    q, x = np.asarray(q, dtype=np.float64), np.asarray(x, dtype=np.float64)
    return float(q @ x / np.linalg.norm(q) / np.linalg.norm(x))


def test_analogy_errors(runner, toy):
    r = run(runner, ["analogy", "man", "king"], toy, exit_code=2)
    assert r.stdout == ""
    assert "expected three keys A B C or '-', got 2" in r.stderr
    r = run(runner, ["analogy", "man", "kingg", "woman"], toy, exit_code=3)
    assert r.stderr == "embviz: error: 'kingg' is not in the vocabulary (5 keys of toy.txt); close matches: king\n"
    r = run(runner, ["analogy", "man", "kingg", "woman", "--skip-missing"], toy)
    assert r.stdout == "a\tb\tc\trank\tkey\tscore\n"
    assert r.stderr.startswith("embviz: warning: skipped man kingg woman: 'kingg' is not in the vocabulary")


def test_analogy_on_the_sample(runner):
    out = ok(runner, ["analogy", "man", "king", "woman", "--no-header"])
    assert out.split("\t")[:5] == ["man", "king", "woman", "1", "queen"]


# -- similarity --------------------------------------------------------------------------------
def test_similarity(runner, toy):
    assert ok(runner, ["similarity", "king", "queen"], toy) == "a\tb\tscore\nking\tqueen\t0.800000\n"
    out = ok(runner, ["similarity", "-", "-f", "csv", "--no-header"], toy, input="king queen\nman\twoman\napple king\n")
    assert out == "king,queen,0.800000\nman,woman,0.800000\napple,king,-1.000000\n"


def test_similarity_errors(runner, toy):
    r = run(runner, ["similarity", "king"], toy, exit_code=2)
    assert "expected two keys A B or '-', got 1" in r.stderr
    r = run(runner, ["similarity", "king", "quen"], toy, exit_code=3)
    assert r.stderr == "embviz: error: 'quen' is not in the vocabulary (5 keys of toy.txt); close matches: queen\n"
    r = run(runner, ["similarity", "-", "--skip-missing", "-q"], toy, input="king x\nking queen\n")
    assert (r.stdout, r.stderr) == ("a\tb\tscore\nking\tqueen\t0.800000\n", "")


# -- convert -----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "name, fmt",
    [("o.bin", "word2vec"), ("o.txt", "word2vec-text"), ("o.vec", "fasttext"), ("o.glove", "glove"),
     ("o.txt.gz", "word2vec-text")],
)
def test_convert_by_suffix(runner, toy, tmp_path, name, fmt):
    out = tmp_path / name
    r = run(runner, ["convert", str(toy), str(out)])
    assert r.stdout == ""
    assert r.stderr == f"embviz: wrote 5 x 2 vectors ({fmt}) to {out}\n"
    v = formats.load(out, cache=False)
    assert v.keys == ("king", "queen", "man", "woman", "apple")
    assert formats.sniff(out).format.value == fmt
    np.testing.assert_allclose(v.matrix, formats.load(toy, cache=False).matrix)


def test_convert_to_and_projector(runner, toy, tmp_path):
    out = tmp_path / "weird.name"
    r = run(runner, ["convert", str(toy), str(out), "--to", "word2vec", "-q"])
    assert (r.stdout, r.stderr) == ("", "")
    assert formats.sniff(out).format.value == "word2vec"
    proj = tmp_path / "vectors.tsv"
    r = run(runner, ["convert", str(toy), str(proj)])
    assert r.stderr == f"embviz: wrote 5 x 2 vectors (projector) to {proj}, {tmp_path / 'metadata.tsv'}\n"
    assert proj.read_text() == "1\t0\n0.8\t0.6\n0.6\t0.8\n0\t1\n-1\t0\n"
    assert (tmp_path / "metadata.tsv").read_text() == "king\nqueen\nman\nwoman\napple\n"


def test_convert_limit_and_precision(runner, toy, tmp_path):
    out = tmp_path / "o.txt"
    run(runner, ["convert", str(toy), str(out), "--limit", "2", "--precision", "3", "-q"])
    assert out.read_text() == "2 2\nking 1 0\nqueen 0.8 0.6\n"


def test_convert_errors(runner, toy, tmp_path):
    out = tmp_path / "missing" / "o.txt"
    r = run(runner, ["convert", str(toy), str(out)], exit_code=1)
    assert (r.stdout, r.stderr) == ("", f"embviz: error: {out}: directory {out.parent} does not exist\n")
    r = run(runner, ["convert", str(toy), str(tmp_path / "o.h5")], exit_code=1)
    assert r.stderr.startswith(f"embviz: error: {tmp_path / 'o.h5'}: cannot tell the format from the name")
    r = run(runner, ["convert", str(tmp_path / "nope.txt"), str(tmp_path / "o.txt")], exit_code=1)
    assert r.stderr == f"embviz: error: {tmp_path / 'nope.txt'}: no such file\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["toy.txt"]


def test_convert_spaces_in_keys_to_binary_fails_cleanly(runner, tmp_path):
    src = tmp_path / "s.txt"
    src.write_text("new york 1 2\nb 3 4\nc 5 6\n")
    r = run(runner, ["convert", str(src), str(tmp_path / "o.bin")], exit_code=1)
    assert r.stderr.startswith("embviz: error: key 'new york' cannot be written in the word2vec format")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.txt"]


# -- the app -----------------------------------------------------------------------------------
def test_help_and_version(runner):
    r = run(runner, ["--help"])
    for cmd in ("info", "lookup", "neighbors", "analogy", "similarity", "convert"):
        assert cmd in r.stdout
    from embviz import __version__

    assert run(runner, ["--version"]).stdout == f"embviz {__version__}\n"


def test_python_dash_m_help():
    run_ = subprocess.run([sys.executable, "-m", "embviz", "--help"], capture_output=True, text=True, timeout=60)
    assert run_.returncode == 0, run_.stderr
    assert "neighbors" in run_.stdout and run_.stderr == ""


def test_internal_error_is_one_line(runner, toy, monkeypatch):
    from embviz import search as query

    def boom(*a, **k):
        raise RuntimeError("kaboom")

    monkeypatch.setattr(query, "neighbors", boom)
    r = run(runner, ["neighbors", "king"], toy, exit_code=123)
    assert r.stderr == "embviz: internal error: RuntimeError: kaboom (re-run with --traceback)\n"


@pytest.mark.parametrize(
    "args, cells",
    [
        (["lookup", "queen"], ["id", "key", "vector", "queen", "0.8 0.6"]),
        (["analogy", "man", "king", "woman"], ["a", "b", "c", "rank", "key", "score", "queen", "0.9839"]),
        (["similarity", "king", "queen"], ["a", "b", "score", "king", "queen", "0.8000"]),
        (["neighbors", "-", "-k", "1"], ["king", "woman", "queen", "man"]),
    ],
)
def test_table_mode_for_every_command(runner, toy, monkeypatch, args, cells):
    monkeypatch.setattr("embviz.output.stdout_is_terminal", lambda: True)
    out = ok(runner, args, toy, input="king\nwoman\n")
    assert "\t" not in out
    for cell in cells:
        assert cell in out
    assert "─" in out or "━" in out  # a rich table, not TSV


def test_lookup_table_shortens_long_vectors(runner, monkeypatch):
    monkeypatch.setattr("embviz.output.stdout_is_terminal", lambda: True)
    out = ok(runner, ["lookup", "the"])
    assert "(50 dims)" in " ".join(out.split())


def test_quiet_never_hides_errors(runner, toy):
    r = run(runner, ["neighbors", "kinq", "-q"], toy, exit_code=3)
    assert r.stderr == "embviz: error: 'kinq' is not in the vocabulary (5 keys of toy.txt); close matches: king\n"


def test_no_cache_gives_the_same_answers(runner, toy):
    assert ok(runner, ["neighbors", "king", "--no-cache"], toy) == NEIGHBORS_KING


@pytest.mark.parametrize("extra", [[], ["--no-cache"]])
def test_float16_gives_the_same_ranking(runner, toy, extra):
    # float16 stores 0.8 as 0.7998: same keys, scores within float16 precision
    out = ok(runner, ["neighbors", "king", "--dtype", "float16", "-f", "jsonl", *extra], toy)
    rows = [json.loads(line) for line in out.splitlines()]
    assert [r["key"] for r in rows] == ["queen", "man", "woman", "apple"]
    assert [r["score"] for r in rows] == pytest.approx([0.8, 0.6, 0.0, -1.0], abs=1e-3)


def test_second_run_uses_the_cache_and_answers_the_same(runner, toy):
    first = ok(runner, ["neighbors", "king"], toy)
    assert ok(runner, ["neighbors", "king"], toy) == first == NEIGHBORS_KING


def test_vectors_from_environment(runner, toy, monkeypatch):
    monkeypatch.setenv("EMBVIZ_VECTORS", str(toy))
    assert ok(runner, ["similarity", "king", "queen", "--no-header"]) == "king\tqueen\t0.800000\n"


def test_convert_to_a_directory_or_unwritable_place(runner, toy, tmp_path):
    d = tmp_path / "outdir"
    d.mkdir()
    r = run(runner, ["convert", str(toy), str(d), "--to", "word2vec"], exit_code=1)
    assert (r.stdout, r.stderr) == ("", f"embviz: error: {d}: is a directory, expected a file name\n")
    r = run(runner, ["convert", str(toy), "/proc/x.txt"], exit_code=1)
    assert r.stderr.startswith("embviz: error: /proc/x.txt: cannot write: ")
    assert r.stderr.count("\n") == 1


def test_load_message_only_when_stderr_is_a_terminal(runner, toy, monkeypatch):
    import re

    monkeypatch.setattr("embviz.cli._common.stderr_is_terminal", lambda: True)
    r = run(runner, ["similarity", "king", "queen"], toy)
    assert r.stdout == "a\tb\tscore\nking\tqueen\t0.800000\n"
    assert re.fullmatch(r"embviz: loaded 5 x 2 vectors from toy\.txt in \d+\.\d\d s\n", r.stderr), r.stderr
    r = run(runner, ["similarity", "king", "queen", "-q"], toy)
    assert (r.stdout, r.stderr) == ("a\tb\tscore\nking\tqueen\t0.800000\n", "")


def test_interrupt_exits_130(runner, toy, monkeypatch):
    from embviz import search as query

    def interrupted(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(query, "neighbors", interrupted)
    r = run(runner, ["neighbors", "king"], toy, exit_code=130)
    assert (r.stdout, r.stderr) == ("", "embviz: error: interrupted\n")


@pytest.mark.parametrize(
    "args, line",
    [
        (["neighbors", "kingg"], "'kingg' is not in the vocabulary (40,000 keys of glove.6B.50d.40k.txt.gz); "
                                 "close matches: king, kings, kin"),
        (["neighbors", "Paris", "-k", "1"], "'Paris' is not in the vocabulary (40,000 keys of "
                                            "glove.6B.50d.40k.txt.gz); close matches: paris, parris, parish"),
        (["similarity", "KING", "queen"], "'KING' is not in the vocabulary (40,000 keys of "
                                         "glove.6B.50d.40k.txt.gz); close matches: king, kings, kin"),
    ],
)
def test_unknown_key_on_the_sample(runner, args, line):
    r = run(runner, args, exit_code=3)
    assert (r.stdout, r.stderr) == ("", f"embviz: error: {line}\n")


def test_progress_bar_on_a_terminal_shows_an_unknown_total(monkeypatch, capsys):
    # A task may be drawn before its first update (evaluate's branch and bound reports its
    # first progress after building its tables): the total is then unknown, drawn as '?'.
    from rich.console import Console

    from embviz.cli import _common

    monkeypatch.setattr(Console, "is_terminal", property(lambda self: True))
    monkeypatch.setitem(_common._state, "quiet", False)
    with _common.progress(transient=False) as bar:
        task = bar.add_task("cosadd analogies", total=None)
        bar.refresh()
        assert "0/?" in capsys.readouterr().err
        bar.update(task, completed=12_345, total=19_486)
        bar.refresh()
    assert "12,345/19,486" in capsys.readouterr().err
