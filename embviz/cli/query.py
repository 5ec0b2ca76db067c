"""Terminal queries: ``info``, ``lookup``, ``neighbors``, ``analogy``, ``similarity``, ``convert``."""

from __future__ import annotations

import sys
from dataclasses import replace
from enum import Enum
from pathlib import Path
from typing import Annotated

import numpy as np
import typer

from embviz import output, search
from embviz.cli._common import (
    EfSearchOpt,
    FormatOpt,
    IndexOpt,
    InputFormatOpt,
    KeyColumnOpt,
    KeysOpt,
    KOpt,
    LimitOpt,
    MetaKeyOpt,
    MetaOpt,
    MetricChoice,
    MetricOpt,
    NoHeaderOpt,
    NoIndexOpt,
    NprobeOpt,
    QuietOpt,
    RestrictOpt,
    ShowOpt,
    TensorOpt,
    VectorColumnsOpt,
    VectorSource,
    check_output,
    check_row_file,
    emit,
    load_meta,
    load_vectors,
    message,
    meta_name,
    open_index,
    read_items,
    resolve_by,
    shown_columns,
    split_fields,
    with_provenance,
    with_vectors,
    write_blocks,
)
from embviz.cli.app import app
from embviz.cli.spark import (
    Engine,
    EngineOpt,
    MasterOpt,
    PartitionsOpt,
    RowsOutputOpt,
    SparkConfOpt,
    check_spark_options,
    run_similar,
)
from embviz.errors import InvalidQuery
from embviz.io import formats

SkipMissingOpt = Annotated[
    bool,
    typer.Option("--skip-missing", help="Skip queries with unknown keys (one warning each) instead of failing."),
]


class NeighborScore(str, Enum):
    """How neighbors are ranked."""

    cosine = "cosine"
    csls = "csls"


class AnalogyMethod(str, Enum):
    """Analogy scoring (Levy & Goldberg 2014)."""

    cosadd = "cosadd"
    cosmul = "cosmul"


@app.command()
@with_vectors
def info(
    fmt: FormatOpt = None,
    no_header: NoHeaderOpt = False,
    quiet: QuietOpt = False,
    *,
    source: VectorSource,
) -> None:
    """Describe a vector file: count, dim, format, dtype, memory and norm statistics.

    A fastText .bin also gets the model's training arguments (model, loss, minn, maxn, bucket,
    epoch, ws, neg, min_count, word_ngrams, t, lr_update_rate) and its dictionary's size.
    """
    from embviz import io as embviz_io
    from embviz import stats
    from embviz.io import checks

    if checks.is_stream(source.path):  # a pipe is read once: sniff and load one spooled copy
        from dataclasses import replace

        sniffed, table = checks.read_stream(
            source.path, lambda p: (embviz_io.sniff(p), replace(source, vectors=p, no_cache=True).load())
        )
    else:
        sniffed = embviz_io.sniff(source.path)
        table = source.load(unit=False)  # statistics only: no unit rows (a first load writes none)
    fmt_name = source.input_format.value if source.input_format else sniffed.format.value
    record = stats.describe(table, source.path, fmt_name, sniffed.compression)
    extra = stats.model_args(table)  # a fastText .bin: its training arguments, after the usual fields
    if extra:
        from dataclasses import asdict

        record = {**asdict(record), **extra}
    chosen = output.choose_format(fmt, output.stdout_is_terminal())
    output.write_record(record, chosen, sys.stdout, header=not no_header)


@app.command()
@with_vectors
def lookup(
    items: Annotated[list[str], typer.Argument(help="Keys or integer row ids; '-' reads them from stdin.")],
    ids: Annotated[bool, typer.Option("--ids", help="Read every item as a row id: needed for row 1990 of a table "
                            "that also has the key '1990' (without it, such an item is the key).")] = False,
    fmt: FormatOpt = None,
    no_header: NoHeaderOpt = False,
    quiet: QuietOpt = False,
    *,
    source: VectorSource,
) -> None:
    """Print the vectors of keys or ids: the embedding lookup of the items, in their order.

    An item is a key if it is in the vocabulary, else an integer row id (0-based).
    """
    table = source.load()
    rows = search.lookup(table, read_items(items, "keys or ids"), ids=ids)
    emit(rows, fmt, no_header, columns=["id", "key", "vector"])


@app.command()
@with_vectors
def neighbors(
    queries: Annotated[
        list[str] | None,
        typer.Argument(help="Keys or expressions such as 'king - man + woman'; '-' reads one per line from stdin.",
                       show_default=False),
    ] = None,
    k: KOpt = 10,
    metric: MetricOpt = MetricChoice.cosine,
    all_keys: Annotated[
        bool, typer.Option("--all", help="Every key's K nearest neighbors (the similar-items table), batched.")
    ] = False,
    by: Annotated[
        str | None,
        typer.Option("--by", help="QUERIES are values of this metadata column (exact, or /regex/ matching one row).",
                     show_default=False),
    ] = None,
    meta: MetaOpt = None,
    meta_key_column: MetaKeyOpt = None,
    show: ShowOpt = None,
    output_file: RowsOutputOpt = None,
    restrict: RestrictOpt = None,
    skip_missing: SkipMissingOpt = False,
    score: Annotated[
        NeighborScore,
        typer.Option(
            "--score",
            help="cosine, or csls: 2 cos - r(query) - r(key), r the mean cosine to the 10 nearest "
            "keys (Conneau et al. 2018; penalises hubs; exact search over all keys or --restrict).",
        ),
    ] = NeighborScore.cosine,
    use_index: IndexOpt = False,
    no_index: NoIndexOpt = False,
    ef_search: EfSearchOpt = None,
    nprobe: NprobeOpt = None,
    context: Annotated[
        Path | None,
        typer.Option("--context", help="Score the query's input vector against these output vectors "
                     "(train --output-vectors; same keys): IN-OUT neighbors are complements (bought "
                     "together), IN-IN ones substitutes.", show_default=False, metavar="FILE"),
    ] = None,
    fmt: FormatOpt = None,
    no_header: NoHeaderOpt = False,
    quiet: QuietOpt = False,
    engine: EngineOpt = Engine.local,
    master: MasterOpt = None,
    spark_conf: SparkConfOpt = None,
    partitions: PartitionsOpt = None,
    *,
    source: VectorSource,
) -> None:
    """Print the K nearest neighbors of each QUERY by cosine similarity (or CSLS).

    Answers equal gensim's most_similar; a query's own keys are excluded. Many queries are
    answered in one batched matrix product. With --index they come from the approximate
    FAISS index instead, and stderr (and JSON's 'search' field) says how approximate.
    """
    if all_keys == bool(queries):
        raise InvalidQuery("give QUERIES or --all (every key's neighbors), not both" if all_keys
                           else "missing QUERIES: keys, expressions, '-' for stdin, or --all")
    metric_name = MetricChoice(metric).value
    if metric_name != "cosine" and score == NeighborScore.csls:
        raise InvalidQuery("--score csls is defined on cosine similarity: drop --metric or --score")
    if context is not None and (all_keys or use_index or score == NeighborScore.csls):
        raise InvalidQuery("--context scores exact IN-OUT neighbors of QUERIES: drop --all, --index and --score")
    if engine is Engine.spark and not all_keys:
        raise InvalidQuery(
            "--engine spark writes every key's neighbors (the similar-items table): use --all, not QUERIES"
        )
    check_spark_options(engine, master, spark_conf, partitions, output_file, [
        ("--index", use_index), ("--show", bool(show)), ("-f/--format", fmt is not None),
        ("--score csls", score == NeighborScore.csls), ("--context", context is not None),
    ])
    if output_file is not None and engine is not Engine.spark:
        output_file = check_row_file(Path(output_file))
    table = source.load()
    if engine is Engine.spark:
        run_similar(table, output_file, master=master or "local[*]", spark_conf=spark_conf or [], k=k,
                    metric=metric_name, restrict=restrict, partitions=partitions)
        return
    context_table = None
    if context is not None:
        from embviz import io as embviz_io

        context_table = embviz_io.load(context)
        message(f"scores: {metric_name} of each query's input vector with the output vectors of {context.name} "
                "(IN-OUT: keys seen around the query, complements)")
    info = load_meta(meta, meta_key_column, source, needed=bool(show or by))
    shown = shown_columns(info, show)
    if all_keys:
        _neighbors_all(table, source, k, metric_name, restrict, use_index and not no_index, ef_search, nprobe,
                       info, shown, fmt, no_header, output_file)
        return
    texts = read_items(queries, "queries")
    if by is not None:
        if info is None:
            raise InvalidQuery("--by needs metadata: pass --meta FILE")
        keys = resolve_by(info, by, texts)
        rows = search.neighbors(table, keys, k=k, restrict=restrict, skip_missing=skip_missing, metric=metric_name,
                                context=context_table)
        label = dict(zip(keys, texts))
        rows = [replace(r, query=label.get(r.query, r.query)) for r in rows]
        _emit_neighbors(rows, info, shown, fmt, no_header, output_file, None)
        return
    provenance = None
    if context_table is not None:
        rows = search.neighbors(table, texts, k=k, restrict=restrict, skip_missing=skip_missing, metric=metric_name,
                                context=context_table)
        _note_subwords(table, texts)
        _emit_neighbors(rows, info, shown, fmt, no_header, output_file, None)
        return
    if metric_name != "cosine" and not (use_index and not no_index):
        rows = search.neighbors(table, texts, k=k, restrict=restrict, skip_missing=skip_missing, metric=metric_name)
        _note_subwords(table, texts)
        _emit_neighbors(rows, info, shown, fmt, no_header, output_file, None)
        return
    if score == NeighborScore.csls:
        from embviz import quality
        from embviz.errors import InvalidQuery as _Invalid

        if use_index and not no_index:
            raise _Invalid("--score csls uses exact search: drop --index")
        radius = None
        if not source.no_cache:  # the radii of every candidate: a kNN graph, computed once
            from embviz.io import cache as _cache
            from embviz.io import derived

            radius = derived.load_array(
                table, f"csls-radius-k10-r{restrict or 0}",
                lambda t: quality.csls_radius(t.unit, 10, restrict),
                cache_dir=source.cache_dir or _cache.default_cache_dir(),
            )
        rows = quality.csls_neighbors(
            table, texts, k=k, restrict=restrict, skip_missing=skip_missing, radius=radius
        )
    elif use_index and not no_index:
        from embviz.search import index as search_index

        idx = open_index(source, table, metric_name)
        provenance = idx.describe(ef_search, nprobe)
        message(provenance)
        rows = search_index.neighbors(
            table, idx, texts, k=k, restrict=restrict, skip_missing=skip_missing, ef_search=ef_search, nprobe=nprobe
        )
    else:
        rows = search.neighbors(table, texts, k=k, restrict=restrict, skip_missing=skip_missing)
    _note_subwords(table, texts)
    _emit_neighbors(rows, info, shown, fmt, no_header, output_file, provenance)


_NEIGHBOR_COLUMNS = ["query", "rank", "key", "score"]


def _note_subwords(table, queries) -> None:  # noqa: ANN001
    """Say on stderr which answered keys were not in the vocabulary but built from subwords (fastText .bin)."""
    for line in search.queries.subword_notes(table, queries):
        message(line)


def _emit_neighbors(rows, info, shown, fmt, no_header, output_file, provenance) -> None:  # noqa: ANN001
    """Write neighbor rows with their shown metadata columns, to stdout or --output."""
    names = [meta_name(c, _NEIGHBOR_COLUMNS) for c in shown]
    if shown:
        values = info.align([r.key for r in rows], shown)
        rows = [
            {**output.asdicts([r])[0], **{n: values[c][i] for n, c in zip(names, shown)}}
            for i, r in enumerate(rows)
        ]
    if output_file is not None:
        dicts = output.asdicts(rows)
        columns = _NEIGHBOR_COLUMNS + names
        with output.RowFile(output_file, columns, {"rank": "int", "score": "float"}) as out:
            out.write({c: [d[c] for d in dicts] for c in columns})
        message(f"wrote {len(dicts):,} rows to {output_file}")
        return
    emit(with_provenance(rows, fmt, provenance), fmt, no_header, columns=_NEIGHBOR_COLUMNS + names)


def _neighbors_all(table, source, k, metric, restrict, use_index, ef_search, nprobe, info, shown, fmt,
                   no_header, output_file) -> None:  # noqa: ANN001
    """``neighbors --all``: every key's top k, streamed block by block (stdout or --output)."""
    from embviz.search import recommender as _rec

    index = None
    if use_index:
        index = open_index(source, table, metric)
        message(index.describe(ef_search, nprobe))
    names = [meta_name(c, _NEIGHBOR_COLUMNS) for c in shown]
    n = table.count if restrict is None else min(restrict, table.count)
    blocks = _rec.similar_blocks(table, k, metric=metric, restrict=restrict, index=index,
                                 ef_search=ef_search, nprobe=nprobe)
    keys = np.array(list(table.keys), dtype=object)  # one gather per block, not a lookup per row

    def columns_of(rows, ids, scores) -> dict:  # noqa: ANN001
        kk = ids.shape[1]
        cols = {  # arrays: Parquet takes them whole, the text formats as Python values (write_blocks)
            "query": keys[np.repeat(rows, kk)],
            "rank": np.tile(np.arange(1, kk + 1, dtype=np.int64), len(rows)),
            "key": keys[ids.ravel()],
            "score": scores.ravel(),
        }
        if shown:
            values = info.align(cols["key"].tolist(), shown)
            cols.update({nm: values[c] for nm, c in zip(names, shown)})
        return cols

    write_blocks(blocks, columns_of, _NEIGHBOR_COLUMNS + names, n, f"neighbors of {n:,} keys",
                 fmt, no_header, output_file)


@app.command()
@with_vectors
def analogy(
    words: Annotated[list[str], typer.Argument(help="A B C for a : b :: c : ?, or '-' to read triples from stdin.")],
    k: KOpt = 1,
    method: Annotated[
        AnalogyMethod, typer.Option("--method", "-m", help="3CosAdd (Mikolov 2013) or 3CosMul (Levy & Goldberg 2014).")
    ] = AnalogyMethod.cosadd,
    restrict: RestrictOpt = None,
    skip_missing: SkipMissingOpt = False,
    use_index: IndexOpt = False,
    no_index: NoIndexOpt = False,
    ef_search: EfSearchOpt = None,
    nprobe: NprobeOpt = None,
    fmt: FormatOpt = None,
    no_header: NoHeaderOpt = False,
    quiet: QuietOpt = False,
    *,
    source: VectorSource,
) -> None:
    """Answer a : b :: c : ? ('man king woman' gives queen); A, B and C are never answers.

    stdin lines hold three keys, separated by tabs or spaces. --index answers 3CosAdd from
    the approximate FAISS index (3CosMul is always exact).
    """
    if words == ["-"]:
        lines = read_items(words, "triples")
        triples = [split_fields(line, 3, "a b c", i + 1) for i, line in enumerate(lines)]
    elif len(words) == 3:
        triples = [tuple(words)]
    else:
        raise typer.BadParameter(f"expected three keys A B C or '-', got {len(words)}", param_hint="WORDS")
    table = source.load()
    provenance = None
    if use_index and not no_index:
        if method != AnalogyMethod.cosadd:
            raise InvalidQuery("--index answers 3CosAdd only (3CosMul is not one inner product); drop --index")
        from embviz.search import index as search_index

        idx = open_index(source, table)
        provenance = idx.describe(ef_search, nprobe)
        message(provenance)
        rows = search_index.analogy(
            table, idx, triples, k=k, restrict=restrict, skip_missing=skip_missing, ef_search=ef_search, nprobe=nprobe
        )
    else:
        rows = search.analogy(
            table, triples, k=k, method=method.value, restrict=restrict, skip_missing=skip_missing
        )
    _note_subwords(table, triples)
    emit(with_provenance(rows, fmt, provenance), fmt, no_header, columns=["a", "b", "c", "rank", "key", "score"])


@app.command()
@with_vectors
def similarity(
    words: Annotated[list[str], typer.Argument(help="Two keys A B, or '-' to read pairs from stdin.")],
    skip_missing: SkipMissingOpt = False,
    fmt: FormatOpt = None,
    no_header: NoHeaderOpt = False,
    quiet: QuietOpt = False,
    *,
    source: VectorSource,
) -> None:
    """Print the cosine similarity of A and B, in [-1, 1] (stdin: one pair per line)."""
    if words == ["-"]:
        lines = read_items(words, "pairs")
        pairs = [split_fields(line, 2, "a b", i + 1) for i, line in enumerate(lines)]
    elif len(words) == 2:
        pairs = [tuple(words)]
    else:
        raise typer.BadParameter(f"expected two keys A B or '-', got {len(words)}", param_hint="WORDS")
    table = source.load()
    rows = search.similarity(table, pairs, skip_missing=skip_missing)
    _note_subwords(table, pairs)
    emit(rows, fmt, no_header, columns=["a", "b", "score"])


#: Writable vector formats (``convert --to``), from the one table of formats.
OutFormat = Enum("OutFormat", [(f.name.replace("-", "_"), f.value) for f in formats.WRITABLE], type=str)
_OUT_SUFFIXES = ", ".join(s for f in formats.FORMATS if f.write for s in f.suffixes[:1])


@app.command()
def convert(
    source: Annotated[Path, typer.Argument(help="Input vector file.", show_default=False)],
    target: Annotated[
        Path,
        typer.Argument(help=f"Output file ({_OUT_SUFFIXES}; + .gz/.bz2/.xz)."),
    ],
    to: Annotated[OutFormat | None, typer.Option("--to", help="Output format; default: from OUT's suffix.")] = None,
    precision: Annotated[
        int, typer.Option("--precision", min=1, max=17, help="Significant digits in text formats (9 is lossless).")
    ] = 6,
    input_format: InputFormatOpt = None,
    limit: LimitOpt = None,
    tensor: TensorOpt = None,
    key_column: KeyColumnOpt = None,
    vector_columns: VectorColumnsOpt = None,
    keys_file: KeysOpt = None,
    quiet: QuietOpt = False,
) -> None:
    """Convert vectors from any readable format to word2vec, GloVe, .vec, Projector TSV, .npy, Parquet or safetensors.

    .npy and safetensors (tensor 'embeddings') are written with the keys in NAME.keys.txt;
    Parquet as key: string and vector: fixed_size_list<float32>[dim]. The output is written
    to a temporary file and renamed, so it is never half-written.
    """
    from embviz import io as embviz_io

    fmt = to.value if to else embviz_io.format_for(target).value
    folder = fmt == "projector" and target.suffix.lower() != ".tsv"  # the pair goes in a folder
    target = check_output(target, folder=folder)  # before loading, not after
    table = load_vectors(
        source, input_format, limit, no_cache=True,
        tensor=tensor, key_column=key_column, vector_columns=vector_columns, keys=keys_file,
    )
    if folder:
        target.mkdir(exist_ok=True)
    written = embviz_io.save(table, target, fmt, precision=precision)
    message(f"wrote {table.count:,} x {table.dim} vectors ({fmt}) to {', '.join(map(str, written))}")
