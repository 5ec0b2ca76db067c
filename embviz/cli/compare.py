"""``embviz diff A B``: what changed between two tables, key by key, biggest change first."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Annotated

import typer

from embviz.cli._common import (
    CacheDirOpt,
    Dtype,
    DtypeOpt,
    FormatOpt,
    InputFormatOpt,
    LimitOpt,
    NoCacheOpt,
    NoHeaderOpt,
    PostprocessOpt,
    QuietOpt,
    VectorSource,
    emit,
    message,
)
from embviz.cli.app import app

DIFF_COLUMNS = ["key", "rank_a", "rank_b", "jaccard", "cosine_aligned"]


class AlignMethod(str, Enum):
    """How B is aligned to A before comparing vectors."""

    procrustes = "procrustes"
    none = "none"


@app.command()
def diff(
    a: Annotated[Path, typer.Argument(help="Table A (any readable vector file).", show_default=False)],
    b: Annotated[Path, typer.Argument(help="Table B, compared with A.", show_default=False)],
    k: Annotated[int, typer.Option("-k", "--k", min=1, help="Neighbors per key for Jaccard@k.")] = 10,
    restrict: Annotated[
        int | None,
        typer.Option(
            "--restrict",
            min=1,
            help="Compare the first N shared keys in A's order (the most frequent). [default: 100,000]",
            show_default=False,
        ),
    ] = None,
    all_keys: Annotated[bool, typer.Option("--all", help="Compare every shared key (no --restrict).")] = False,
    align: Annotated[
        AlignMethod,
        typer.Option("--align", help="Rotate B onto A (orthogonal Procrustes) or compare raw vectors."),
    ] = AlignMethod.procrustes,
    top: Annotated[
        int | None, typer.Option("--top", min=1, help="Print only the N biggest changes.")
    ] = None,
    fmt: FormatOpt = None,
    no_header: NoHeaderOpt = False,
    quiet: QuietOpt = False,
    input_format: InputFormatOpt = None,
    limit: LimitOpt = None,
    no_cache: NoCacheOpt = False,
    cache_dir: CacheDirOpt = None,
    dtype: DtypeOpt = Dtype.float32,
    postprocess: PostprocessOpt = None,
) -> None:
    """Compare tables A and B key by key: neighbor overlap, aligned cosine, rank change.

    For each shared key: Jaccard@k of its k nearest neighbors in A and in B (searched among
    the same compared keys; 1 = same set), the cosine of its A vector and its B vector after
    rotating B onto A (orthogonal Procrustes fitted on the compared keys), and its row rank in
    each file. Rows come biggest change first (lowest Jaccard); a summary goes to stderr.
    """
    from embviz import compare

    if all_keys and restrict is not None:
        raise typer.BadParameter("use either --restrict N or --all", param_hint="--all")
    tables = [
        VectorSource(path, input_format, limit, no_cache, cache_dir, dtype, postprocess=postprocess).load()
        for path in (a, b)
    ]
    report = compare.diff(
        tables[0],
        tables[1],
        k=k,
        restrict=None if all_keys else (restrict or compare.DEFAULT_RESTRICT),
        align=align.value,
    )
    message(f"A = {a.name}, B = {b.name}: {report.summary()}")
    rows = report.rows if top is None else report.rows[:top]
    emit(rows, fmt, no_header, columns=DIFF_COLUMNS, title=f"diff {a.name} -> {b.name}")
