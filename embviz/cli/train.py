"""``embviz train``: word2vec with gensim (skip-gram or CBOW) or Spark ML, corpus to vector file."""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from enum import Enum
from pathlib import Path
from typing import Annotated, Any

import typer

from embviz.cli._common import QuietOpt, message, stderr_is_terminal
from embviz.cli.app import app
from embviz.errors import InvalidQuery
from embviz.io import VectorFormat


class Engine(str, Enum):
    """Who trains: gensim on this machine, or Spark ML (local mode or a cluster)."""

    gensim = "gensim"
    spark = "spark"


def _spool_stdin() -> Path:
    """Copy stdin to a temporary file (gensim's corpus_file mode needs a seekable file)."""
    fd, name = tempfile.mkstemp(prefix="embviz-stdin-", suffix=".txt")
    try:
        with os.fdopen(fd, "wb") as f:
            shutil.copyfileobj(sys.stdin.buffer, f, 1 << 20)
    except BaseException:
        os.unlink(name)
        raise
    return Path(name)


class _Display:
    """The progress bar (a terminal without --quiet) and the per-epoch lines on stderr."""

    def __init__(self, quiet: bool) -> None:
        self.quiet = quiet
        self.bar = None
        self.task = None
        if not quiet and stderr_is_terminal():
            from rich.console import Console
            from rich.progress import (
                BarColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,
                TimeRemainingColumn,
            )

            self.bar = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                TextColumn("{task.fields[rate]}"),
                TimeElapsedColumn(),
                TextColumn("eta"),
                TimeRemainingColumn(),
                console=Console(stderr=True),
                transient=True,
            )

    def __enter__(self) -> _Display:
        if self.bar is not None:
            self.bar.start()
            self.task = self.bar.add_task("reading corpus", total=None, rate="")
        return self

    def __exit__(self, *exc: Any) -> None:
        if self.bar is not None:
            self.bar.stop()

    def line(self, text: str) -> None:
        if self.quiet:
            return
        if self.bar is not None:
            self.bar.console.print(f"embviz: {text}", markup=False, highlight=False)
        else:
            message(text)

    def __call__(self, event: Any) -> None:
        from embviz.train import EpochStats, TrainStart
        from embviz.train.engine_spark import SparkStarted, SparkTasks

        if isinstance(event, SparkStarted):
            self.line(
                f"spark {event.version} on {event.master} ({event.parallelism} cores): "
                f"session started in {event.seconds:.1f} s"
            )
        elif isinstance(event, SparkTasks):
            if self.bar is not None and event.phase != "epoch":
                self.bar.update(
                    self.task,
                    description=f"spark: {event.phase} (tasks {event.tasks_done}/"
                    f"{event.tasks_total})",
                )
        elif isinstance(event, TrainStart):
            self.line(
                f"vocabulary: {event.vocab_size:,} keys from {event.words_per_epoch:,} words in "
                f"{event.sentences:,} sentences; training {event.epochs} epochs"
            )
            if self.bar is not None:
                self.bar.update(
                    self.task,
                    description=f"epoch 1/{event.epochs}",
                    completed=0,
                    total=event.epochs * event.words_per_epoch,
                )
        elif isinstance(event, EpochStats):
            loss = f"loss {event.loss:,.1f}, " if event.loss is not None else ""
            self.line(f"epoch {event.epoch}/{event.epochs}: {loss}{event.words_per_s:,.0f} words/s")
            if self.bar is not None:
                nxt = min(event.epoch + 1, event.epochs)
                self.bar.update(
                    self.task,
                    advance=event.words,
                    description=f"epoch {nxt}/{event.epochs}",
                    rate=f"{event.words_per_s:,.0f} words/s",
                )


def _eval_lines(evaluation: dict) -> list[str]:
    def num(x: float | None, spec: str) -> str:
        return "n/a" if x is None else format(x, spec)

    a = evaluation["analogies"]
    lines = [
        f"eval: analogies ({a['dataset']}, {a['method']}): accuracy {num(a['accuracy'], '.4f')} "
        f"({a['correct']:,} of {a['total']:,} answered; coverage {num(a['coverage'], '.1%')})"
    ]
    for p in evaluation["word_pairs"]:
        if "error" in p:
            lines.append(f"eval: word pairs ({p['dataset']}): not scored: {p['error']}")
            continue
        lines.append(
            f"eval: word pairs ({p['dataset']}): spearman {num(p['spearman'], '.4f')}, "
            f"pearson {num(p['pearson'], '.4f')} ({p['used']:,} of {p['pairs']:,} pairs; "
            f"out of vocabulary {num(p['oov_ratio'], '.1%')})"
        )
    return lines


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
        Path | None,
        typer.Option(
            "--interactions",
            help="item2vec: train item vectors on an interaction log (Parquet, Arrow, CSV, TSV with "
            "user and item columns, optional time) instead of a text CORPUS.",
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
    --min-count 1 and a window over the whole sequence (never shrunk); each option given
    still wins. The items' interaction counts go to OUT's stem + .counts.tsv.
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
    if engine is Engine.spark and (interactions is not None or output_vectors is not None):
        raise InvalidQuery(
            "--engine spark trains on a text CORPUS only (no --interactions or --output-vectors yet); "
            "use the gensim engine"
        )
    if output_vectors is not None and negative == 0:
        raise InvalidQuery(
            "--output-vectors needs negative sampling (--negative N): hierarchical softmax's output "
            "weights are one row per inner node of its Huffman tree, not per key"
        )
    if interactions is not None:
        _train_item2vec(
            interactions, output, fmt, given, quiet=quiet, evaluate=evaluate, save_model=save_model,
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
    for name, option in (
        ("master", "--master"),
        ("spark_conf", "--spark-conf"),
        ("max_sentence_length", "--max-sentence-length"),
    ):
        if given(name):
            raise InvalidQuery(f"{option} applies to --engine spark only")

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


def _train_item2vec(
    interactions: Path,
    output: Path,
    fmt: VectorFormat | None,
    given: Any,
    *,
    quiet: bool,
    evaluate: bool,
    save_model: Path | None,
    output_vectors: Path | None,
    user_column: str | None,
    item_column: str | None,
    time_column: str | None,
    session_gap: str | None,
    basket_column: str | None,
    hold_out_last: bool,
    eval_interactions: Path | None,
    params: dict,
) -> None:
    """``--interactions``: sequences from the log, item2vec defaults under the options given, train, write."""
    from embviz import train as training
    from embviz.train import item2vec, sequences

    if evaluate:
        raise InvalidQuery("--eval scores word vectors (analogies, word pairs); for items run "
                           "'embviz evaluate next-item' on the result")
    if params["lowercase"]:
        raise InvalidQuery("--lowercase applies to a text CORPUS, not to --interactions")
    gap = sequences.parse_gap(session_gap) if session_gap is not None else None
    chosen = {k: v for k, v in params.items() if given(k)}
    training.TrainParams(**{**params, "sg": True, "min_count": 1}).validate()  # before reading the log
    out_format = training.check_output(output, fmt.value if fmt else None, save_model)
    with _Display(quiet) as display:
        seqs = sequences.build(interactions, user_column=user_column, item_column=item_column,
                               time_column=time_column, session_gap=gap, basket_column=basket_column,
                               hold_out_last=hold_out_last)
        try:
            display.line(seqs.describe())
            p = item2vec.item2vec_params(
                training.TrainParams(**{**params, "window": 5}), window=chosen.pop("window", None),
                longest=seqs.longest, **chosen,
            ).validate()
            rule = "whole sequence" if p.window >= seqs.longest else f"{p.window:,} items each side"
            display.line(
                f"item2vec: {'skip-gram' if p.sg else 'CBOW'}, window {p.window:,} ({rule}, never shrunk), "
                f"min_count {p.min_count}, negative {p.negative}, ns_exponent {p.ns_exponent:g}, "
                f"sample {p.sample:g}"
            )
            result = item2vec.train_item2vec(seqs, p, progress=display)
        finally:
            seqs.cleanup()
    report = result.report
    evaluation = None
    if eval_interactions is not None:
        evaluation = _eval_next_item(result, interactions, eval_interactions, hold_out_last,
                                     user_column=user_column, item_column=item_column, time_column=time_column,
                                     name=f"{output.name} (cosine)")
    written = training.write(result, output, out_format, model_path=save_model, output_vectors=output_vectors,
                             evaluation=evaluation)
    message(
        f"trained {report.vocab_size:,} x {report.vector_size} item vectors in {report.seconds:.2f} s "
        f"({report.words_per_s:,.0f} events/s); wrote {', '.join(map(str, written))}"
    )


def _eval_next_item(result: Any, trained_on: Path, log: Path, held_out: bool, **columns: Any) -> dict:
    """``--eval-interactions``: next-item evaluation of the new vectors; stderr lines and the sidecar record."""
    from dataclasses import asdict

    from embviz.errors import warn
    from embviz.evaluate import next_item

    same = Path(log).resolve() == Path(trained_on).resolve()
    if same and not held_out:
        warn("--eval-interactions is the training log and --hold-out-last is off: the vectors saw every "
             "target, so the figures are optimistic")
    report = next_item(result.vectors, log, k=(10, 20), **columns)
    message(report.summary())
    for row in report.scores:
        if row.k == 10:
            message(f"eval: next-item {row.model}: HR@10 {row.hr:.4f} [{row.hr_lo:.4f}, {row.hr_hi:.4f}], "
                    f"NDCG@10 {row.ndcg:.4f}, MRR@10 {row.mrr:.4f} ({row.users:,} users)")
    return {"next_item": {"log": str(log), "held_out_last": bool(same and held_out),
                          "scores": [asdict(row) for row in report.scores]}}


def _train_spark(
    corpus: str,
    output: Path,
    fmt: VectorFormat | None,
    given: Any,
    *,
    quiet: bool,
    verbose: bool,
    evaluate: bool,
    save_model: Path | None,
    master: str,
    spark_conf: list[str],
    max_sentence_length: int | None,
    sg: bool,
    negative: int,
    sample: float,
    **spark_params: Any,
) -> None:
    """``--engine spark``: check the options Spark lacks, Java and the outputs; train; write."""
    from embviz import train as training
    from embviz.train import engine_spark

    for name in ("sg", "negative", "ns_exponent", "sample", "max_vocab", "min_alpha"):
        matches_spark = (
            (name == "sg" and sg) or (name == "negative" and negative == 0)
            or (name == "sample" and sample == 0)
        )
        if given(name) and not matches_spark:
            raise engine_spark.unsupported_option(name)
    conf = []
    for item in spark_conf:
        key, eq, value = item.partition("=")
        if not eq or not key.strip():
            raise InvalidQuery(f"--spark-conf {item!r}: expected KEY=VALUE")
        conf.append((key.strip(), value))
    workers = spark_params.pop("workers") or 1
    params = engine_spark.check_params(engine_spark.spark_params(workers=workers, **spark_params))
    out_format = training.check_output(
        output, fmt.value if fmt else None, save_model, model_folder=True
    )
    if save_model is not None:
        engine_spark.check_model_folder(save_model)
    engine_spark.find_java(os.environ)
    spooled = _spool_stdin() if corpus == "-" else None
    try:
        with _Display(quiet) as display:
            result = engine_spark.train(
                str(spooled or corpus),
                params,
                master=master,
                conf=conf,
                max_sentence_length=max_sentence_length or engine_spark.DEFAULT_MAX_SENTENCE_LENGTH,
                save_model=save_model,
                progress=display,
                spark_log=verbose,
                name="-" if spooled else corpus,
            )
    finally:
        if spooled is not None:
            spooled.unlink(missing_ok=True)
    try:
        evaluation = None
        if evaluate:
            evaluation = training.evaluate(result.vectors)
            for line in _eval_lines(evaluation):
                message(line)
        written = training.write(
            result, output, out_format, model_path=save_model, evaluation=evaluation
        )
    finally:
        if result.model is not None:
            result.model.cleanup()
    report = result.report
    message(
        f"trained {report.vocab_size:,} x {report.vector_size} vectors with Spark in "
        f"{report.seconds:.2f} s ({report.words_per_s:,.0f} words/s in training, "
        f"{report.spark['session_seconds']:.1f} s to start Spark); "
        f"wrote {', '.join(map(str, written))}"
    )
