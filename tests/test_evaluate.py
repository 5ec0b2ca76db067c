"""Intrinsic evaluation (embviz.evaluate, ``embviz evaluate``): gensim's numbers, errors, output."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from embviz import evaluate
from embviz.cli import app
from embviz.errors import EmbvizError, FormatError, InvalidQuery
from embviz.evaluate import (
    AnalogyMiss,
    SectionScore,
    evaluate_analogies,
    evaluate_pair_sets,
    evaluate_word_pairs,
    gensim_data,
    read_questions,
)
from embviz.vectors import Vectors

QUESTIONS = gensim_data("questions-words.txt")


# -- helpers -------------------------------------------------------------------------------
def put(tmp_path: Path, name: str, text: str) -> Path:
    p = tmp_path / name
    p.write_text(text, encoding="utf-8")
    return p


def gensim_kv(vectors: Vectors):
    from gensim.models import KeyedVectors

    kv = KeyedVectors(vectors.dim)
    kv.add_vectors(list(vectors.keys), np.asarray(vectors.matrix))
    return kv


def gensim_counts(sections: list[dict]) -> list[tuple[str, int, int]]:
    return [
        (s["section"], len(s["correct"]), len(s["correct"]) + len(s["incorrect"])) for s in sections
    ]


def ours_counts(report) -> list[tuple[str, int, int]]:
    rows = [(s.section, s.correct, s.total) for s in report.rows()]
    rows[-1] = ("Total accuracy", *rows[-1][1:])  # gensim's name of the overall row
    return rows


def every_nth_question(tmp_path: Path, n: int) -> Path:
    """Write a real subset of the Google set: every section, every n-th question."""
    out, i = [], 0
    for line in QUESTIONS.read_text().splitlines():
        if line.startswith(":"):
            out.append(line)
        else:
            if i % n == 0:
                out.append(line)
            i += 1
    return put(tmp_path, f"questions-every-{n}.txt", "\n".join(out) + "\n")


@pytest.fixture(scope="module")
def kv(sample):
    return gensim_kv(sample)


# -- analogies: agreement with gensim on real vectors ------------------------------------------
def test_default_data_files_are_gensims() -> None:
    from gensim.test.utils import datapath

    assert QUESTIONS == Path(datapath("questions-words.txt"))
    assert evaluate.default_pair_files() == [
        Path(datapath("wordsim353.tsv")),
        Path(datapath("simlex999.txt")),
    ]


def test_cosadd_equals_gensim_per_section_on_real_vectors(sample, kv, tmp_path) -> None:
    questions = every_nth_question(tmp_path, 8)
    report = evaluate_analogies(sample, questions)
    _, sections = kv.evaluate_word_analogies(str(questions))
    assert ours_counts(report) == gensim_counts(sections)
    assert len(report.sections) == 14
    assert report.total.total > 1900 and 0.4 < report.total.accuracy < 0.55


@pytest.mark.slow
def test_cosadd_equals_gensim_on_the_full_google_set(sample, kv) -> None:
    report = evaluate_analogies(sample)
    score, sections = kv.evaluate_word_analogies(str(QUESTIONS))
    assert ours_counts(report) == gensim_counts(sections)
    assert report.total.accuracy == pytest.approx(score, abs=1e-12)
    # gensim records the upper-cased questions it got wrong; so do we (as written in the file).
    wrong = [tuple(w.upper() for w in (e.a, e.b, e.c, e.expected)) for e in report.errors]
    assert wrong == [q for s in sections[:-1] for q in s["incorrect"]]


def test_restrict_and_case_sensitive_equal_gensim(sample, kv, tmp_path) -> None:
    questions = every_nth_question(tmp_path, 16)
    for restrict, ci in ((5_000, True), (20_000, False)):
        report = evaluate_analogies(sample, questions, restrict=restrict, case_insensitive=ci)
        _, sections = kv.evaluate_word_analogies(
            str(questions), restrict_vocab=restrict, case_insensitive=ci
        )
        assert ours_counts(report) == gensim_counts(sections), (restrict, ci)
        assert report.restrict == restrict


def test_coverage_counts_questions_in_the_file(sample, tmp_path) -> None:
    q = put(
        tmp_path,
        "q.txt",
        ": family\nman king woman queen\nboy girl zzyzxq zzyzxr\n: empty\n: cap\nathens greece paris france\n",
    )
    report = evaluate_analogies(sample, q)
    assert report.sections == [
        SectionScore("family", 1, 1, 1.0, 0.5),
        SectionScore("empty", 0, 0, report.sections[1].accuracy, report.sections[1].coverage),
        SectionScore("cap", 1, 1, 1.0, 1.0),
    ]
    assert math.isnan(report.sections[1].accuracy) and math.isnan(report.sections[1].coverage)
    assert report.total == SectionScore("total", 2, 2, 1.0, 2 / 3)
    assert report.asked == 3 and report.errors == []
    assert report.rows() == [*report.sections, report.total]


@pytest.mark.parametrize("search", ["brute", "bound"])
def test_case_variants_first_key_wins_and_variants_of_question_words_are_skipped(
    tmp_path, search
) -> None:
    # Row order = frequency order. 'King' (row 1) is a case variant of 'king' (row 0): KING
    # stands for row 0, as in gensim. 'King' is the best candidate for man : king :: woman : ?,
    # but it upper-cases to a question word, so the prediction moves on to 'queen'.
    keys = ["king", "King", "man", "woman", "queen", "prince"]
    m = np.array(
        [[1, 0, 1, 0], [0, 1, 1, 0.05], [1, 0, 0, 0], [0, 1, 0, 0], [0.1, 1, 1, 0], [0, 0, 1, 1]],
        dtype=np.float32,
    )
    v = Vectors(keys, m)
    q = put(tmp_path, "q.txt", ": royal\nMan King Woman Queen\nman woman king queen\n")
    report = evaluate_analogies(v, q, search=search)
    assert report.total == SectionScore("total", 2, 2, 1.0, 1.0)
    _, sections = gensim_kv(v).evaluate_word_analogies(str(q))
    assert ours_counts(report) == gensim_counts(sections)
    # Case-sensitive: 'Man King Woman Queen' is out of vocabulary, and 'King' is an answer.
    ours_cs = evaluate_analogies(v, q, case_insensitive=False, search=search)
    assert ours_cs.errors == [AnalogyMiss("royal", "man", "woman", "king", "queen", "King")]
    _, theirs_cs = gensim_kv(v).evaluate_word_analogies(str(q), case_insensitive=False)
    assert ours_counts(ours_cs) == gensim_counts(theirs_cs)


@pytest.mark.parametrize("search", ["brute", "bound"])
@pytest.mark.parametrize("variants", [4, 5])
def test_five_case_variants_above_the_answer_make_gensim_predict_the_fifth(
    tmp_path, search, variants
) -> None:
    # man : king :: woman : ? with q = e2 - e0 + e1. The case variants of 'king' lie closer to
    # q than 'queen' does, in their row order. gensim's top 5 (rows of man, king and woman
    # excluded) then holds 4 variants and queen, or 5 variants and no other key: its
    # prediction is queen, or the 5th variant.
    spellings = ["King", "KING", "kinG", "kIng", "KIng"][:variants]
    d = np.array([-1, 1, 1, 0, 0], dtype=np.float32)
    e = np.eye(5, dtype=np.float32)
    rows = [e[2], e[0], e[1]] + [d + 0.1 * (i + 1) * e[3] for i in range(variants)] + [d + 0.6 * e[4]]
    v = Vectors(["king", "man", "woman", *spellings, "queen"], np.stack(rows))
    q = put(tmp_path, "q.txt", ": royal\nman king woman queen\n")
    report = evaluate_analogies(v, q, search=search)
    _, sections = gensim_kv(v).evaluate_word_analogies(str(q))
    assert ours_counts(report) == gensim_counts(sections)
    if variants == 4:
        assert report.total.correct == 1 and report.errors == []
    else:
        assert report.errors == [AnalogyMiss("royal", "man", "king", "woman", "queen", "KIng")]


@pytest.mark.parametrize("method", ["cosadd", "cosmul"])
def test_bound_and_brute_searches_give_the_same_report(sample, tmp_path, method) -> None:
    questions = every_nth_question(tmp_path, 2)
    bound = evaluate_analogies(sample, questions, method=method, search="bound")
    brute = evaluate_analogies(sample, questions, method=method, search="brute")
    assert bound.total.total > 4000
    assert bound == brute  # every section, and every wrong answer with its prediction
    with pytest.raises(InvalidQuery, match="unknown search 'fast'"):
        evaluate_analogies(sample, questions, search="fast")


def test_cosmul_is_real_3cosmul_as_gensim_most_similar_cosmul(sample, kv, tmp_path) -> None:
    # gensim's evaluate_word_analogies ignores similarity_function; compare each prediction
    # with gensim's most_similar_cosmul instead.
    lines = [line for line in QUESTIONS.read_text().splitlines() if not line.startswith(":")]
    picked = [lines[i].lower().split() for i in range(0, len(lines), 650)]
    picked = [w for w in picked if all(x in sample.key_to_index for x in w)]
    q = put(tmp_path, "q.txt", ": mixed\n" + "\n".join(" ".join(w) for w in picked) + "\n")
    report = evaluate_analogies(sample, q, method="cosmul")
    wrong = {(e.a, e.b, e.c): e.predicted for e in report.errors}
    predicted = [wrong.get((a, b, c), d) for a, b, c, d in picked]
    expected = [
        kv.most_similar_cosmul(positive=[b, c], negative=[a], topn=1, restrict_vocab=300_000)[0][0]
        for a, b, c, _ in picked
    ]
    assert len(picked) >= 20
    assert predicted == expected
    # and it is a different method from 3CosAdd on the same questions
    assert evaluate_analogies(sample, q, method="cosadd").errors != report.errors


def test_progress_reports_done_and_total(sample, tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(evaluate.analogies, "_CHUNK_CELLS", sample.count * 100)  # 100 questions per batch
    calls = []
    evaluate_analogies(
        sample, every_nth_question(tmp_path, 20), progress=lambda d, t: calls.append((d, t))
    )
    total = calls[-1][1]
    assert calls[0] == (0, total) and calls[-1] == (total, total) and total > 500
    assert [d for d, _ in calls] == list(range(0, total, 100)) + [total]


def test_write_errors_is_a_tsv_of_wrong_answers(sample, tmp_path) -> None:
    q = put(tmp_path, "q.txt", ": x\nman king woman queen\nathens greece paris germany\n")
    report = evaluate_analogies(sample, q)
    assert report.errors == [AnalogyMiss("x", "athens", "greece", "paris", "germany", "france")]
    out = evaluate.write_errors(report, tmp_path / "err.tsv")
    assert (
        out.read_text()
        == "section\ta\tb\tc\texpected\tpredicted\nx\tathens\tgreece\tparis\tgermany\tfrance\n"
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "err.tsv",
        "q.txt",
    ]  # no temporary file left


# -- analogies: malformed input -----------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            ": s\nman king woman queen\nman king woman\n",
            "line 3: expected 4 words 'a b c d' or a ': section' line, found 3 words",
        ),
        (
            ": s\na b c d e\n",
            "line 2: expected 4 words 'a b c d' or a ': section' line, found 5 words",
        ),
        ("\nman king woman queen\n", "line 2: question before the first ': section' line"),
        (": s\n\n", "no questions found, expected ': section' lines then 'a b c d' lines"),
    ],
)
def test_malformed_question_files_name_file_and_line(tmp_path, text, message) -> None:
    q = put(tmp_path, "q.txt", text)
    with pytest.raises(FormatError) as exc:
        read_questions(q)
    assert str(exc.value) == f"{q}: {message}"


def test_question_file_problems(sample, tmp_path) -> None:
    with pytest.raises(FormatError, match=r"^.*missing\.txt: no such file$"):
        evaluate_analogies(sample, tmp_path / "missing.txt")
    with pytest.raises(FormatError, match=r": is a directory, expected analogy questions$"):
        evaluate_analogies(sample, tmp_path)
    bad = tmp_path / "latin1.txt"
    bad.write_bytes(b": s\nman king woman queen\ncaf\xe9 a b c\n")
    with pytest.raises(FormatError, match=r"latin1\.txt: line 3: not valid UTF-8"):
        read_questions(bad)
    with pytest.raises(InvalidQuery, match="unknown analogy method 'cos'"):
        evaluate_analogies(sample, bad, method="cos")
    with pytest.raises(InvalidQuery, match="restrict must be at least 1"):
        evaluate_analogies(sample, put(tmp_path, "q.txt", ": s\na b c d\n"), restrict=0)


# -- word pairs -----------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["wordsim353.tsv", "simlex999.txt"])
@pytest.mark.parametrize("policy", ["skip", "zero"])
def test_word_pairs_equal_gensim(sample, kv, name, policy) -> None:
    ours = evaluate_word_pairs(sample, gensim_data(name), oov=policy)
    pearson, spearman, oov_percent = kv.evaluate_word_pairs(
        gensim_data(name), dummy4unknown=policy == "zero"
    )
    assert ours.pearson == pytest.approx(pearson[0], abs=1e-6)
    assert ours.pearson_p == pytest.approx(pearson[1], rel=1e-4)
    assert ours.spearman == pytest.approx(spearman[0], abs=1e-9)
    assert ours.spearman_p == pytest.approx(spearman[1], rel=1e-6)
    assert ours.oov_ratio * 100 == pytest.approx(oov_percent, abs=1e-12)
    assert ours.policy == policy and ours.dataset == name.split(".")[0]
    assert ours.used == (ours.pairs if policy == "zero" else ours.pairs - ours.oov)


def test_word_pair_defaults_are_wordsim_and_simlex(sample) -> None:
    reports = evaluate_pair_sets(sample)
    assert [(r.dataset, r.pairs, r.oov) for r in reports] == [
        ("wordsim353", 353, 5),
        ("simlex999", 999, 8),
    ]
    assert evaluate_word_pairs(sample) == reports[0]
    assert 0.45 < reports[0].spearman < 0.6 and 0.2 < reports[1].spearman < 0.35


def test_word_pairs_restrict_counts_later_keys_as_oov(sample, kv) -> None:
    ours = evaluate_word_pairs(sample, gensim_data("simlex999.txt"), restrict=5_000)
    pearson, spearman, oov_percent = kv.evaluate_word_pairs(
        gensim_data("simlex999.txt"), restrict_vocab=5_000
    )
    assert (ours.spearman, ours.oov_ratio * 100) == (
        pytest.approx(spearman[0], abs=1e-9),
        pytest.approx(oov_percent),
    )
    assert ours.oov > 100


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("# c\na\tb\t1\na\tb\n", "line 3: expected 3 fields 'a<TAB>b<TAB>score', found 2"),
        ("a\tb\tx1\n", "line 1: score 'x1' is not a number"),
        ("a\tb\tnan\n", "line 1: score 'nan' is not finite"),
        ("# only a comment\n\n", "no word pairs found, expected 'a<TAB>b<TAB>score' lines"),
    ],
)
def test_malformed_pair_files(tmp_path, text, message) -> None:
    p = put(tmp_path, "p.tsv", text)
    with pytest.raises(FormatError) as exc:
        evaluate.read_pairs(p)
    assert str(exc.value) == f"{p}: {message}"


def test_word_pairs_need_two_known_pairs(sample, tmp_path) -> None:
    p = put(tmp_path, "p.tsv", "king\tqueen\t8\nzzyzxq\tqueen\t3\n")
    with pytest.raises(
        EmbvizError, match=r"only 1 of 2 pairs have both words in the first 40,000 keys"
    ):
        evaluate_word_pairs(sample, p)
    with pytest.raises(InvalidQuery, match="unknown OOV policy 'drop'"):
        evaluate_word_pairs(sample, p, oov="drop")


# -- CLI ------------------------------------------------------------------------------------------
def test_cli_analogies_tsv(runner, tmp_path) -> None:
    q = put(
        tmp_path,
        "q.txt",
        ": family\nman king woman queen\nboy girl zzyzxq zzyzxr\n: cap\nathens greece paris germany\n",
    )
    result = runner.invoke(app, ["evaluate", "analogies", str(q)])
    assert result.exit_code == 0, result.stderr
    assert result.stdout == (
        "section\tcorrect\ttotal\taccuracy\tcoverage\n"
        "family\t1\t1\t1.000000\t0.500000\n"
        "cap\t0\t1\t0.000000\t1.000000\n"
        "total\t1\t2\t0.500000\t0.666667\n"
    )
    assert result.stderr == (
        "embviz: cosadd: 1 of 2 correct (0.5000); 2 of 3 questions answered "
        "(coverage 0.6667, candidates: first 40,000 keys)\n"
    )


def test_cli_analogies_json_errors_file_and_quiet(runner, tmp_path) -> None:
    q = put(tmp_path, "q.txt", ": cap\nathens greece paris germany\nathens greece paris france\n")
    err = tmp_path / "wrong.tsv"
    result = runner.invoke(
        app,
        ["evaluate", "analogies", str(q), "-m", "cosmul", "--errors", str(err), "-f", "json", "-q"],
    )
    assert result.exit_code == 0, result.stderr
    assert result.stderr == ""
    assert json.loads(result.stdout) == [
        {"section": "cap", "correct": 1, "total": 2, "accuracy": 0.5, "coverage": 1.0},
        {"section": "total", "correct": 1, "total": 2, "accuracy": 0.5, "coverage": 1.0},
    ]
    assert (
        err.read_text()
        == "section\ta\tb\tc\texpected\tpredicted\ncap\tathens\tgreece\tparis\tgermany\tfrance\n"
    )


def test_cli_analogies_default_set_on_the_sample(runner) -> None:
    result = runner.invoke(
        app, ["evaluate", "analogies", "--no-header", "-q", "--restrict", "10000"]
    )
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == 15 and lines[0].startswith("capital-common-countries\t")
    assert lines[-1].split("\t")[0] == "total"


def test_cli_malformed_question_file(runner, tmp_path) -> None:
    q = put(tmp_path, "q.txt", ": s\nman king woman queen\nman king\n")
    result = runner.invoke(app, ["evaluate", "analogies", str(q)])
    assert result.exit_code == 1
    assert result.stdout == ""
    assert (
        result.stderr
        == f"embviz: error: {q}: line 3: expected 4 words 'a b c d' or a ': section' line, found 2 words\n"
    )


def test_cli_missing_files(runner, tmp_path) -> None:
    for cmd in ("analogies", "similarity"):
        result = runner.invoke(app, ["evaluate", cmd, str(tmp_path / "nope.txt")])
        assert result.exit_code == 1
        assert result.stdout == ""
        assert result.stderr == f"embviz: error: {tmp_path / 'nope.txt'}: no such file\n"


def test_cli_errors_file_in_missing_directory(runner, tmp_path) -> None:
    q = put(tmp_path, "q.txt", ": s\nman king woman queen\n")
    result = runner.invoke(
        app, ["evaluate", "analogies", str(q), "-q", "--errors", str(tmp_path / "no" / "e.tsv")]
    )
    assert result.exit_code == 1
    assert (
        result.stderr
        == f"embviz: error: {tmp_path / 'no' / 'e.tsv'}: directory {tmp_path / 'no'} does not exist\n"
    )


def test_cli_usage_errors(runner) -> None:
    assert runner.invoke(app, ["evaluate", "analogies", "--method", "cos"]).exit_code == 2
    assert runner.invoke(app, ["evaluate", "analogies", "--restrict", "0"]).exit_code == 2
    assert runner.invoke(app, ["evaluate", "similarity", "--oov", "drop"]).exit_code == 2


def test_cli_similarity_defaults_and_policy(runner, sample) -> None:
    result = runner.invoke(app, ["evaluate", "similarity", "--oov", "zero"])
    assert result.exit_code == 0, result.stderr
    lines = [line.split("\t") for line in result.stdout.splitlines()]
    assert lines[0] == [
        "dataset",
        "pairs",
        "used",
        "oov",
        "oov_ratio",
        "policy",
        "pearson",
        "pearson_p",
        "spearman",
        "spearman_p",
    ]
    assert [row[:6] for row in lines[1:]] == [
        ["wordsim353", "353", "353", "5", "0.014164", "zero"],
        ["simlex999", "999", "999", "8", "0.008008", "zero"],
    ]
    expected = evaluate_word_pairs(sample, gensim_data("wordsim353.tsv"), oov="zero").spearman
    assert lines[1][8] == f"{expected:.6f}"


def test_cli_similarity_table_states_policy(runner) -> None:
    result = runner.invoke(
        app,
        ["evaluate", "similarity", str(gensim_data("wordsim353.tsv")), "-f", "table"],
        env={"COLUMNS": "200"},
    )
    assert result.exit_code == 0, result.stderr
    assert result.stdout.splitlines()[0].strip() == "word-pair correlation (OOV policy: skip)"
    row = [c.strip() for c in result.stdout.splitlines()[4].split("│")[1:-1]]
    assert row[:6] == ["wordsim353", "353", "348", "5", "0.0142", "skip"]


def test_cli_malformed_pair_file(runner, tmp_path) -> None:
    p = put(tmp_path, "p.tsv", "king\tqueen\t8\nking\tqueen\thigh\n")
    result = runner.invoke(app, ["evaluate", "similarity", str(p)])
    assert result.exit_code == 1
    assert result.stderr == f"embviz: error: {p}: line 2: score 'high' is not a number\n"


def test_importing_the_cli_and_evaluate_pulls_no_heavy_dependency() -> None:
    heavy = ("umap", "sklearn", "gensim", "plotly", "scipy", "rich", "pandas")
    code = (
        "import sys, embviz.cli, embviz.evaluate, embviz.cli.evaluate; "
        "embviz.evaluate.gensim_data('questions-words.txt'); "
        f"print(sorted(m for m in {heavy!r} if m in sys.modules))"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert run.stdout.strip() == "[]"
