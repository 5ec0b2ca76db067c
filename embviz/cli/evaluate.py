"""``embviz evaluate analogies|similarity``: intrinsic evaluation with gensim's numbers."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Annotated

import typer

from embviz.cli._common import (
    FormatOpt,
    NoHeaderOpt,
    QuietOpt,
    VectorSource,
    emit,
    message,
    progress,
    with_vectors,
)
from embviz.cli.app import app

evaluate_app = typer.Typer(
    help="Intrinsic evaluation: analogy accuracy and word-pair correlation (gensim's numbers).",
    no_args_is_help=True,
)
app.add_typer(evaluate_app, name="evaluate")

#: Data files shipped inside gensim that the docs' examples use (what each one is).
DATASETS = {
    "questions-words.txt": "Google analogy set (Mikolov et al. 2013): 19,544 questions, 14 sections",
    "wordsim353.tsv": "WordSim-353 word pairs with human similarity scores",
    "simlex999.txt": "SimLex-999 word pairs with human similarity scores",
    "lee_background.cor": "300 news documents, one per line: a small corpus to train on",
    "crime-and-punishment.vec": "a small fastText .vec file (word vectors)",
}


@evaluate_app.callback(invoke_without_command=True)
def _evaluate(
    ctx: typer.Context,
    list_datasets: Annotated[
        bool, typer.Option("--list-datasets", help="List the data sets shipped with gensim, with their paths.")
    ] = False,
    dataset_path: Annotated[
        str | None,
        typer.Option(
            "--dataset-path", metavar="NAME", help="Print the path of one of them (for use in $(...))."
        ),
    ] = None,
) -> None:
    """Intrinsic evaluation: analogy accuracy and word-pair correlation (gensim's numbers)."""
    from embviz.errors import InvalidQuery
    from embviz.evaluate import gensim_data

    if dataset_path is not None:
        if dataset_path not in DATASETS:
            raise InvalidQuery(f"unknown data set {dataset_path!r}: expected one of {', '.join(DATASETS)}")
        typer.echo(str(gensim_data(dataset_path)))
        raise typer.Exit()
    if list_datasets:
        rows = [{"name": k, "path": str(gensim_data(k)), "what": v} for k, v in DATASETS.items()]
        emit(rows, None, columns=["name", "path", "what"])
        raise typer.Exit()
    if ctx.invoked_subcommand is None:
        typer.echo(ctx.get_help())
        raise typer.Exit()


class EvalMethod(str, Enum):
    """Analogy scoring: 3CosAdd (Mikolov et al. 2013) or 3CosMul (Levy & Goldberg 2014)."""

    cosadd = "cosadd"
    cosmul = "cosmul"


class OovPolicy(str, Enum):
    """What a word pair with an unknown word counts as."""

    skip = "skip"
    zero = "zero"


EvalRestrictOpt = Annotated[
    int,
    typer.Option(
        "--restrict",
        min=1,
        help="Only the first N keys are candidates and known words (gensim's restrict_vocab).",
    ),
]
CaseSensitiveOpt = Annotated[
    bool,
    typer.Option(
        "--case-sensitive", help="Match words as written (default: upper-cased, as gensim)."
    ),
]

ANALOGY_COLUMNS = ["section", "correct", "total", "accuracy", "coverage"]
PAIRS_COLUMNS = [
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


@evaluate_app.command()
@with_vectors
def analogies(
    questions: Annotated[
        Path | None,
        typer.Argument(
            help="Question file ('questions-words.txt' format). Default: the Google analogy set shipped with gensim.",
            show_default=False,
        ),
    ] = None,
    method: Annotated[
        EvalMethod,
        typer.Option(
            "--method",
            "-m",
            help="3CosAdd (Mikolov et al. 2013) or 3CosMul (Levy & Goldberg 2014).",
        ),
    ] = EvalMethod.cosadd,
    restrict: EvalRestrictOpt = 300_000,
    case_sensitive: CaseSensitiveOpt = False,
    errors: Annotated[
        Path | None,
        typer.Option(
            "--errors",
            help="Write the wrong answers to this TSV file (section, a, b, c, expected, predicted).",
        ),
    ] = None,
    fmt: FormatOpt = None,
    no_header: NoHeaderOpt = False,
    quiet: QuietOpt = False,
    *,
    source: VectorSource,
) -> None:
    """Analogy accuracy per section and in total, as gensim evaluate_word_analogies.

    Each question 'a b c d' asks a : b :: c : ? and expects d. Questions with a word outside
    the first --restrict keys are skipped: coverage is the share of the file's questions
    answered. a, b and c are never answers.
    """
    from embviz import evaluate

    if questions is not None:
        evaluate.read_questions(questions)  # fail on a bad file before loading vectors
    table = source.load()
    with progress() as bar:
        task = bar.add_task(f"{method.value} analogies", total=None)

        def step(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        report = evaluate.evaluate_analogies(
            table,
            questions,
            method=method.value,
            restrict=restrict,
            case_insensitive=not case_sensitive,
            progress=step,
        )
    t = report.total
    message(
        f"{method.value}: {t.correct:,} of {t.total:,} correct ({t.accuracy:.4f}); "
        f"{t.total:,} of {report.asked:,} questions answered "
        f"(coverage {t.coverage:.4f}, candidates: first {report.restrict:,} keys)"
    )
    if errors is not None:
        evaluate.write_errors(report, errors)
        message(f"wrote {len(report.errors):,} wrong answers to {errors}")
    emit(
        report.rows(), fmt, no_header, columns=ANALOGY_COLUMNS, title=f"analogies ({method.value})"
    )


@evaluate_app.command()
@with_vectors
def similarity(
    pairs: Annotated[
        list[Path] | None,
        typer.Argument(
            help=(
                "Word-pair files (a<TAB>b<TAB>score, '#' comments). "
                "Default: WordSim-353 and SimLex-999 shipped with gensim."
            ),
            show_default=False,
        ),
    ] = None,
    oov: Annotated[
        OovPolicy,
        typer.Option(
            "--oov",
            help="Pairs with an unknown word: skip them (gensim's default) or score them 0 (dummy4unknown).",
        ),
    ] = OovPolicy.skip,
    restrict: EvalRestrictOpt = 300_000,
    case_sensitive: CaseSensitiveOpt = False,
    fmt: FormatOpt = None,
    no_header: NoHeaderOpt = False,
    quiet: QuietOpt = False,
    *,
    source: VectorSource,
) -> None:
    """Pearson and Spearman correlation with human similarity scores, as gensim evaluate_word_pairs.

    oov_ratio is the share of pairs (0 to 1) with a word outside the first --restrict keys;
    the policy column says whether they were skipped or scored 0.
    """
    from embviz import evaluate

    files = list(pairs) if pairs else evaluate.default_pair_files()
    for path in files:
        evaluate.read_pairs(path)  # fail on a bad file before loading vectors
    table = source.load()
    rows = evaluate.evaluate_pair_sets(
        table, files, restrict=restrict, case_insensitive=not case_sensitive, oov=oov.value
    )
    emit(
        rows,
        fmt,
        no_header,
        columns=PAIRS_COLUMNS,
        title=f"word-pair correlation (OOV policy: {oov.value})",
    )
