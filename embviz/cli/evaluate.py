"""``embviz evaluate analogies|similarity|next-item``: gensim's intrinsic numbers; next-item accuracy."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Annotated

import typer

from embviz.cli._common import (
    FormatOpt,
    MetricChoice,
    MetricOpt,
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
    help="Evaluation: analogy accuracy and word-pair correlation (gensim's numbers); next-item hit rate, MRR, NDCG.",
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
    """Evaluate vectors: analogy accuracy and word-pair correlation (gensim's numbers); next-item HR, MRR, NDCG."""
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


NEXT_ITEM_COLUMNS = [
    "model", "k", "users", "hr", "hr_lo", "hr_hi", "mrr", "mrr_lo", "mrr_hi", "ndcg", "ndcg_lo", "ndcg_hi",
    "coverage", "gini", "tail", "cold", "unknown",
]
DECILE_COLUMNS = ["model", "k", "decile", "items", "users", "hr", "hr_lo", "hr_hi", "ndcg", "ndcg_lo", "ndcg_hi"]


def _cutoffs(values: list[str]) -> list[int]:
    """``-k 10,20`` (or ``-k 10 -k 20``) as sorted distinct integers >= 1; a usage error otherwise."""
    out: list[int] = []
    for value in values:
        for part in value.split(","):
            part = part.strip()
            if not part.isdigit() or int(part) < 1:
                raise typer.BadParameter(f"{value!r}: expected whole numbers of at least 1, e.g. 10,20")
            out.append(int(part))
    return sorted(set(out))


@evaluate_app.command("next-item")
@with_vectors
def next_item(
    interactions: Annotated[
        Path,
        typer.Option(
            "--interactions", "-i",
            help="Interaction log (Parquet, Arrow, CSV, TSV) of user, item[, timestamp].", show_default=False,
        ),
    ],
    user_column: Annotated[str | None, typer.Option("--user-column", help="User column (default: named like "
                           "user/user_id, else the first).", show_default=False)] = None,
    item_column: Annotated[str | None, typer.Option("--item-column", help="Item column (default: named like "
                           "item/item_id, else the second).", show_default=False)] = None,
    time_column: Annotated[str | None, typer.Option("--time-column", help="Time column: numbers, dates or ISO 8601 "
                           "times (default: named like timestamp/time; else file order).", show_default=False)] = None,
    k: Annotated[
        list[str],
        typer.Option("-k", "--k", help="Cut-offs, comma-separated or repeated (default: 10,20).", show_default=False),
    ] = ["10,20"],  # noqa: B006 - typer reads the default
    split_time: Annotated[
        str | None,
        typer.Option("--split-time", metavar="T", help="Global time split: the target is each user's first event at "
                     "or after T, the history (and the baselines' training data) the events before T. Default: "
                     "leave-last-out (each user's last event).", show_default=False),
    ] = None,
    context: Annotated[int, typer.Option("--context", min=1, help="Query: the mean of the last N item vectors "
                       "before the target (1: the last item's vector).")] = 1,
    keep_seen: Annotated[bool, typer.Option("--keep-seen", help="Rank the user's seen items too (default: "
                         "excluded; a target seen before is then a miss).")] = False,
    metric: MetricOpt = MetricChoice.cosine,
    baselines: Annotated[
        str,
        typer.Option("--baselines", help="Baselines on the same split: popularity, co-occurrence (comma-separated), "
                     "or none."),
    ] = "popularity,co-occurrence",
    resamples: Annotated[int, typer.Option("--bootstrap", min=0, help="Bootstrap resamples over users for the 95% "
                         "intervals (0: none).")] = 1000,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the bootstrap.")] = 0,
    by_decile: Annotated[bool, typer.Option("--by-decile", help="Print HR and NDCG by popularity decile of the "
                         "target instead (1: the most popular tenth of the items).")] = False,
    fmt: FormatOpt = None,
    no_header: NoHeaderOpt = False,
    quiet: QuietOpt = False,
    *,
    source: VectorSource,
) -> None:
    """Next-item accuracy: HR@k, MRR@k, NDCG@k with bootstrap intervals, coverage, Gini, tail share.

    -v is the item table. Each user's target (the last event, or the first at/after
    --split-time) is ranked among all items by the vectors of the items before it, and by the
    popularity and co-occurrence baselines. Seen items are excluded unless --keep-seen. Users
    with one event, targets not in the item table and cold targets are counted on stderr and
    in the rows (cold, unknown).
    """
    from embviz import evaluate
    from embviz.io import interactions as _interactions

    ks = _cutoffs(k)
    chosen = evaluate.check_baselines(baselines)  # fail on a bad name before loading anything
    items = source.load()
    hist = _interactions.read_histories(
        Path(interactions).expanduser(), items.keys, user_column=user_column, item_column=item_column,
        time_column=time_column, keep_unknown=True, with_times=True,
    )
    dropped = []
    if hist.missing:
        dropped.append(f"{hist.missing:,} without a user or item")
    if hist.missing_times:
        dropped.append(f"{hist.missing_times:,} without a time")
    if dropped:
        message(f"{hist.source}: {hist.missing + hist.missing_times:,} of {hist.rows:,} events dropped: "
                + "; ".join(dropped))
    if hist.unknown_items:
        eg = ", ".join(repr(x) for x in hist.unknown_examples)
        message(f"{hist.source}: {hist.unknown_items:,} of {hist.rows:,} events have items not in "
                f"{items.source or 'the item table'} (e.g. {eg}): kept in the histories, never ranked")
    with progress() as bar:
        task = bar.add_task("next-item", total=None)

        def step(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        report = evaluate.next_item(
            items, hist, ks, metric=MetricChoice(metric).value, split_time=split_time, context=context,
            exclude_seen=not keep_seen, baselines=chosen, resamples=resamples, seed=seed, progress=step,
        )
    message(report.summary() + f" ({report.seconds['total']:.2f} s)")
    if by_decile:
        emit(report.deciles, fmt, no_header, columns=DECILE_COLUMNS, title="next-item by popularity decile")
    else:
        emit(report.rows(), fmt, no_header, columns=NEXT_ITEM_COLUMNS, title=f"next-item ({report.split})")
