"""The runs of ``embviz train`` other than gensim on a text corpus: item2vec (--interactions) and --engine spark.

Each checks its options, trains and writes, as the gensim run in :func:`embviz.cli.train.train`
does, with the display and helpers of :mod:`embviz.cli.train_steps`. Importable from
:mod:`embviz.cli.train` as before.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from embviz.cli._common import message
from embviz.cli.train_steps import _Display, _eval_lines, _spool_stdin
from embviz.errors import InvalidQuery
from embviz.io import VectorFormat


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

    _refuse_for_interactions(evaluate, params)
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

    _refuse_for_spark(given, sg=sg, negative=negative, sample=sample)
    conf = _spark_conf(spark_conf)
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


def _refuse_for_spark(given: Any, *, sg: bool, negative: int, sample: float) -> None:
    """Refuse in one line an option Spark's Word2Vec cannot honour (``--sg``, ``--negative 0``, ``--sample 0`` pass)."""
    from embviz.train import engine_spark

    for name in ("sg", "negative", "ns_exponent", "sample", "max_vocab", "min_alpha"):
        matches_spark = (
            (name == "sg" and sg) or (name == "negative" and negative == 0)
            or (name == "sample" and sample == 0)
        )
        if given(name) and not matches_spark:
            raise engine_spark.unsupported_option(name)


def _spark_conf(spark_conf: list[str]) -> list[tuple[str, str]]:
    conf = []
    for item in spark_conf:
        key, eq, value = item.partition("=")
        if not eq or not key.strip():
            raise InvalidQuery(f"--spark-conf {item!r}: expected KEY=VALUE")
        conf.append((key.strip(), value))
    return conf


def _train_item2vec_spark(
    interactions: str,
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
    columns: dict,
    session_gap: str | None,
    hold_out_last: bool,
    eval_interactions: Path | None,
    params: dict,
) -> None:
    """``--interactions --engine spark``: Spark reads the log, builds the sequences, trains; written as item2vec's."""
    from embviz import train as training
    from embviz.train import engine_spark, item2vec_spark, sequences

    _refuse_for_interactions(evaluate, params)
    _refuse_for_spark(given, sg=params["sg"], negative=params["negative"], sample=params["sample"])
    if given("max_sentence_length"):
        raise InvalidQuery(f"--max-sentence-length applies to a text CORPUS; with --interactions sequences are "
                           f"cut into chunks of {sequences.MAX_LENGTH:,} items, as with the gensim engine")
    gap = sequences.parse_gap(session_gap) if session_gap is not None else None
    conf = _spark_conf(spark_conf)
    chosen = {k: params[k] for k in ("min_count", "vector_size", "epochs", "alpha", "seed") if given(k)}
    p = engine_spark.check_params(item2vec_spark.item2vec_spark_params(workers=params["workers"] or 1, **chosen))
    window = params["window"] if given("window") else None
    out_format = training.check_output(output, fmt.value if fmt else None, save_model, model_folder=True)
    if save_model is not None:
        engine_spark.check_model_folder(save_model)
    source = item2vec_spark.check_log(interactions, session_gap=gap, hold_out_last=hold_out_last, **columns)
    engine_spark.find_java(os.environ)
    with _Display(quiet) as display:
        def hook(event: Any) -> None:
            if isinstance(event, item2vec_spark.SequencesBuilt):
                seqs, used = event.sequences, event.params
                display.line(seqs.describe())
                rule = "whole sequence" if used.window >= seqs.longest else f"{used.window:,} items each side"
                display.line(f"item2vec on Spark: skip-gram with hierarchical softmax, window {used.window:,} "
                             f"({rule}, shrunk at random as Spark's Word2Vec does), min_count {used.min_count}")
            else:
                display(event)

        result = item2vec_spark.train_item2vec_spark(
            source, p, window=window, session_gap=gap, hold_out_last=hold_out_last, master=master, conf=conf,
            save_model=save_model, progress=hook, spark_log=verbose, name=interactions, **columns,
        )
    try:
        evaluation = None
        if eval_interactions is not None:
            evaluation = _eval_next_item(result, Path(interactions), eval_interactions, hold_out_last,
                                         name=f"{output.name} (cosine)", **{k: v for k, v in columns.items()
                                                                             if k != "basket_column"})
        written = training.write(result, output, out_format, model_path=save_model, evaluation=evaluation)
    finally:
        if result.model is not None:
            result.model.cleanup()
    report = result.report
    message(
        f"trained {report.vocab_size:,} x {report.vector_size} item vectors with Spark in {report.seconds:.2f} s "
        f"({report.words_per_s:,.0f} events/s in training, {report.spark['session_seconds']:.1f} s to start "
        f"Spark); wrote {', '.join(map(str, written))}"
    )


def _refuse_for_interactions(evaluate: bool, params: dict) -> None:
    """Refuse the options of a text CORPUS that --interactions cannot honour (either engine)."""
    if evaluate:
        raise InvalidQuery("--eval scores word vectors (analogies, word pairs); for items run "
                           "'embviz evaluate next-item' on the result")
    if params["lowercase"]:
        raise InvalidQuery("--lowercase applies to a text CORPUS, not to --interactions")
