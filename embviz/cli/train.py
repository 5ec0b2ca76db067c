"""``embviz train``: word2vec with gensim (skip-gram or CBOW) or Spark ML, corpus to vector file.

The command and its gensim run on a text corpus are here. The other runs (item2vec on
--interactions, --engine spark) are :mod:`embviz.cli.train_runs`, and the pieces every run
shares (stdin spooled to a file, the progress display, --eval's lines)
:mod:`embviz.cli.train_steps`; their names are importable from here as before.
"""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Annotated

import typer

from embviz.cli._common import QuietOpt, message
from embviz.cli.app import app
from embviz.cli.train_runs import (  # noqa: F401 - re-exported too
    _eval_next_item,
    _train_item2vec,
    _train_item2vec_spark,
    _train_spark,
)
from embviz.cli.train_steps import _Display, _eval_lines, _spool_stdin
from embviz.errors import InvalidQuery
from embviz.io import VectorFormat


class Engine(str, Enum):
    """Who trains: gensim on this machine, or Spark ML (local mode or a cluster)."""

    gensim = "gensim"
    spark = "spark"


@app.command()
def train(
    ctx: typer.Context,
    output: Annotated[
        Path,
        typer.Option(
            "--output",
            "-o",
            help="Vector file to write (.bin, .txt, .vec, .tsv; + .gz/.bz2/.xz).",
            show_default=False,
            metavar="OUT",
        ),
    ],
    corpus: Annotated[
        str | None,
        typer.Argument(
            help="Text file, one whitespace-tokenised sentence per line (gzip/bz2/xz detected), "
            "a directory of such files, or '-' for stdin. Or --interactions instead.",
            show_default=False,
            metavar="[CORPUS]",
        ),
    ] = None,
    fmt: Annotated[
        VectorFormat | None,
        typer.Option(
            "--format",
            help="Vector format of OUT (train writes no data to stdout); default: "
            "from OUT's suffix.",
        ),
    ] = None,
    sg: Annotated[
        bool, typer.Option("--sg/--cbow", help="Skip-gram or CBOW (Mikolov et al. 2013a).")
    ] = False,
    negative: Annotated[
        int,
        typer.Option(
            "--negative",
            min=0,
            help="Noise words per example for negative sampling; 0 disables it.",
        ),
    ] = 5,
    hs: Annotated[bool, typer.Option("--hs", help="Use hierarchical softmax.")] = False,
    ns_exponent: Annotated[
        float,
        typer.Option(
            "--ns-exponent",
            help="Exponent of the negative-sampling distribution (0.75; 0 uniform).",
        ),
    ] = 0.75,
    window: Annotated[
        int, typer.Option("--window", min=1, help="Maximum context distance, in tokens.")
    ] = 5,
    min_count: Annotated[
        int, typer.Option("--min-count", min=1, help="Ignore words rarer than this.")
    ] = 5,
    max_vocab: Annotated[
        int | None,
        typer.Option(
            "--max-vocab",
            min=1,
            help="Keep at most N keys, the most frequent (gensim max_final_vocab).",
        ),
    ] = None,
    sample: Annotated[
        float,
        typer.Option(
            "--sample", min=0.0, help="Subsampling threshold of frequent words; 0 disables it."
        ),
    ] = 1e-3,
    vector_size: Annotated[
        int, typer.Option("--vector-size", min=1, help="Dimensions of the vectors.")
    ] = 100,
    epochs: Annotated[int, typer.Option("--epochs", min=1, help="Passes over the corpus.")] = 5,
    alpha: Annotated[float, typer.Option("--alpha", help="Initial learning rate (> 0).")] = 0.025,
    min_alpha: Annotated[
        float,
        typer.Option(
            "--min-alpha", min=0.0, help="Final learning rate (decays linearly from --alpha)."
        ),
    ] = 0.0001,
    workers: Annotated[
        int | None,
        typer.Option(
            "--workers", min=1, help="Training threads; default: all cores.", show_default=False
        ),
    ] = None,
    seed: Annotated[
        int,
        typer.Option(
            "--seed", min=0, max=2**32 - 1, help="Random seed; with --workers 1 runs are identical."
        ),
    ] = 1,
    lowercase: Annotated[
        bool, typer.Option("--lowercase", help="Lowercase the corpus before training.")
    ] = False,
    save_model: Annotated[
        Path | None,
        typer.Option(
            "--save-model",
            help="Also save the full model here: gensim's file (Word2Vec.load resumes "
            "training), or Spark's model folder (Word2VecModel.load; embviz reads it with -v).",
            show_default=False,
        ),
    ] = None,
    evaluate: Annotated[
        bool,
        typer.Option(
            "--eval",
            help="Score the vectors on the Google analogies, WordSim-353 and SimLex-999 "
            "(stderr + sidecar).",
        ),
    ] = False,
    engine: Annotated[
        Engine,
        typer.Option(
            "--engine",
            help="gensim (this machine) or spark (Spark ML Word2Vec: skip-gram with "
            "hierarchical softmax only).",
        ),
    ] = Engine.gensim,
    master: Annotated[
        str | None,
        typer.Option(
            "--master",
            help="Spark master: local[*] (default), local[N], spark://HOST:PORT, yarn, k8s://...",
            show_default=False,
        ),
    ] = None,
    spark_conf: Annotated[
        list[str] | None,
        typer.Option(
            "--spark-conf",
            help="Spark configuration KEY=VALUE (repeatable), e.g. spark.executor.memory=4g.",
            show_default=False,
            metavar="KEY=VALUE",
        ),
    ] = None,
    max_sentence_length: Annotated[
        int | None,
        typer.Option(
            "--max-sentence-length",
            min=1,
            help="Spark: cut longer lines into chunks of N tokens (default 1000).",
            show_default=False,
        ),
    ] = None,
    verbose: Annotated[
        bool,
        typer.Option("--verbose", help="Show Spark's own log (level WARN) on stderr."),
    ] = False,
    interactions: Annotated[
        str | None,
        typer.Option(
            "--interactions",
            help="item2vec: train item vectors on an interaction log (Parquet, Arrow, CSV, TSV with "
            "user and item columns, optional time) instead of a text CORPUS. --engine spark: Spark "
            "reads it (Parquet, CSV, TSV; a path or a URI such as hdfs://, s3a://).",
            show_default=False,
            metavar="LOG",
        ),
    ] = None,
    user_column: Annotated[
        str | None,
        typer.Option("--user-column", "--user-col", help="--interactions: the user column (default: "
                     "by name, else the first).", show_default=False),
    ] = None,
    item_column: Annotated[
        str | None,
        typer.Option("--item-column", "--item-col", help="--interactions: the item column (default: "
                     "by name, else the second).", show_default=False),
    ] = None,
    time_column: Annotated[
        str | None,
        typer.Option("--time-column", "--time-col", help="--interactions: orders each user's events "
                     "(default: a column named timestamp/time/ts/date, else file order).", show_default=False),
    ] = None,
    session_gap: Annotated[
        str | None,
        typer.Option("--session-gap", help="--interactions: cut a user's history into sessions at gaps "
                     "longer than this (30m, 2h, 1d; a bare number in the time column's units).",
                     show_default=False),
    ] = None,
    basket_column: Annotated[
        str | None,
        typer.Option("--basket-column", "--basket-col", help="--interactions: one sequence per "
                     "(user, basket): orders, carts, playlists.", show_default=False),
    ] = None,
    hold_out_last: Annotated[
        bool,
        typer.Option("--hold-out-last", help="--interactions: leave out each user's last event (the target "
                     "of 'embviz evaluate next-item'), so the evaluation is fair."),
    ] = False,
    eval_interactions: Annotated[
        Path | None,
        typer.Option("--eval-interactions", help="--interactions: after training, run 'embviz evaluate "
                     "next-item' on this log (leave-last-out, HR/MRR/NDCG@10,20 against popularity and "
                     "co-occurrence) and store it in the sidecar.", show_default=False, metavar="LOG"),
    ] = None,
    output_vectors: Annotated[
        Path | None,
        typer.Option("--output-vectors", help="Also write the output weights (gensim syn1neg) as a "
                     "second table with the same keys: IN-OUT scores find complements.",
                     show_default=False, metavar="FILE"),
    ] = None,
    quiet: QuietOpt = False,
) -> None:
    """Train word2vec embeddings on CORPUS (or item2vec on --interactions) and write them to OUT.

    Writes OUT (the vectors, in its format) and OUT.json (corpus fingerprint, parameters,
    engine version, duration, words/s, vocabulary size, per-epoch loss, --eval scores). Files
    are written only after training, each atomically: Ctrl-C leaves nothing (exit 130).

    With --interactions (item2vec, Barkan & Koenigstein 2016) the defaults become skip-gram,
    --min-count 1 and a window over the whole sequence (never shrunk; shrunk at random with
    --engine spark, as Spark's Word2Vec does); each option given still wins. The items'
    interaction counts go to OUT's stem + .counts.tsv.
    """
    from embviz import train as training

    def given(name: str) -> bool:
        source = ctx.get_parameter_source(name)
        return source is not None and source.name in ("COMMANDLINE", "ENVIRONMENT")

    if (corpus is None) == (interactions is None):
        raise InvalidQuery("give a text CORPUS or --interactions LOG (one of them)")
    if interactions is None:
        for name, option in (("user_column", "--user-column"), ("item_column", "--item-column"),
                             ("time_column", "--time-column"), ("session_gap", "--session-gap"),
                             ("basket_column", "--basket-column"), ("hold_out_last", "--hold-out-last"),
                             ("eval_interactions", "--eval-interactions")):
            if given(name):
                raise InvalidQuery(f"{option} applies to --interactions only")
    if engine is Engine.spark and output_vectors is not None:
        from embviz.train.engine_spark import unsupported_option

        raise unsupported_option("output_vectors")
    if engine is not Engine.spark:
        for name, option in (("master", "--master"), ("spark_conf", "--spark-conf"),
                             ("max_sentence_length", "--max-sentence-length")):
            if given(name):
                raise InvalidQuery(f"{option} applies to --engine spark only")
    if output_vectors is not None and negative == 0:
        raise InvalidQuery(
            "--output-vectors needs negative sampling (--negative N): hierarchical softmax's output "
            "weights are one row per inner node of its Huffman tree, not per key"
        )
    if interactions is not None and engine is Engine.spark:
        _train_item2vec_spark(
            interactions, output, fmt, given, quiet=quiet, verbose=verbose, evaluate=evaluate,
            save_model=save_model, master=master or "local[*]", spark_conf=spark_conf or [],
            columns=dict(user_column=user_column, item_column=item_column, time_column=time_column,
                         basket_column=basket_column),
            session_gap=session_gap, hold_out_last=hold_out_last, eval_interactions=eval_interactions,
            params=dict(sg=sg, negative=negative, sample=sample, window=window, min_count=min_count,
                        vector_size=vector_size, epochs=epochs, alpha=alpha, workers=workers, seed=seed,
                        lowercase=lowercase),
        )
        return
    if interactions is not None:
        _train_item2vec(
            Path(interactions), output, fmt, given, quiet=quiet, evaluate=evaluate, save_model=save_model,
            output_vectors=output_vectors, user_column=user_column, item_column=item_column,
            time_column=time_column, session_gap=session_gap, basket_column=basket_column,
            hold_out_last=hold_out_last, eval_interactions=eval_interactions,
            params=dict(sg=sg, negative=negative, hs=hs, ns_exponent=ns_exponent, window=window,
                        min_count=min_count, max_vocab=max_vocab, sample=sample, vector_size=vector_size,
                        epochs=epochs, alpha=alpha, min_alpha=min_alpha, workers=workers, seed=seed,
                        lowercase=lowercase),
        )
        return
    if engine is Engine.spark:
        _train_spark(
            corpus, output, fmt, given, quiet=quiet, verbose=verbose, evaluate=evaluate,
            save_model=save_model, master=master or "local[*]", spark_conf=spark_conf or [],
            max_sentence_length=max_sentence_length, window=window, min_count=min_count,
            vector_size=vector_size, epochs=epochs, alpha=alpha, workers=workers, seed=seed,
            lowercase=lowercase, sg=sg, negative=negative, sample=sample,
        )
        return
    params = training.TrainParams(
        sg=sg,
        negative=negative,
        hs=hs,
        ns_exponent=ns_exponent,
        window=window,
        min_count=min_count,
        max_vocab=max_vocab,
        sample=sample,
        vector_size=vector_size,
        epochs=epochs,
        alpha=alpha,
        min_alpha=min_alpha,
        workers=workers,
        seed=seed,
        lowercase=lowercase,
    ).validate()
    out_format = training.check_output(output, fmt.value if fmt else None, save_model)
    spooled = _spool_stdin() if corpus == "-" else None
    try:
        with _Display(quiet) as display:
            result = training.train(
                spooled or Path(corpus), params, progress=display, name="-" if spooled else corpus
            )
    finally:
        if spooled is not None:
            spooled.unlink(missing_ok=True)
    report = result.report
    evaluation = None
    if evaluate:
        evaluation = training.evaluate(result.vectors)
        for line in _eval_lines(evaluation):
            message(line)
    written = training.write(
        result, output, out_format, model_path=save_model, evaluation=evaluation,
        output_vectors=output_vectors,
    )
    message(
        f"trained {report.vocab_size:,} x {report.vector_size} vectors in {report.seconds:.2f} s "
        f"({report.words_per_s:,.0f} words/s); wrote {', '.join(map(str, written))}"
    )
