"""``embviz quality``: is this table healthy? Hubness, isotropy, intrinsic dimension, duplicates."""

from __future__ import annotations

import sys
import time
from typing import Annotated

import typer

from embviz import output
from embviz.cli._common import (
    FormatOpt,
    NoHeaderOpt,
    QuietOpt,
    VectorSource,
    message,
    stages,
    with_vectors,
)
from embviz.cli.app import app


@app.command()
@with_vectors
def quality(
    k: Annotated[int, typer.Option("-k", "--k", min=1, help="Neighbors per point for the k-occurrence N_k.")] = 10,
    sample: Annotated[
        int,
        typer.Option(
            "--sample",
            min=2,
            help="Points drawn (seeded) for hubness and TwoNN; neighbors are searched within the sample.",
        ),
    ] = 50_000,
    all_keys: Annotated[
        bool, typer.Option("--all", help="Use every key for hubness and TwoNN (exact search: n^2 dim).")
    ] = False,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the sample.")] = 0,
    fmt: FormatOpt = None,
    no_header: NoHeaderOpt = False,
    quiet: QuietOpt = False,
    *,
    source: VectorSource,
) -> None:
    """Diagnose a table: hubness, isotropy, TwoNN intrinsic dimension, norms, duplicates.

    Hubness: skewness of the k-occurrence N_k (scikit-hubness's definition), the top hubs and
    the share of anti-hubs (N_k = 0). Isotropy: mean-vector norm over mean norm, variance
    share of the top principal components, Mu and Viswanath's partition-function ratio (1 is
    isotropic). TwoNN intrinsic dimension (Facco et al. 2017). Spearman of norm against row
    rank, zero rows, exact duplicate rows and near-duplicate pairs (cosine > 0.9999).
    """
    from embviz import quality as _quality

    table = source.load()
    start = time.perf_counter()
    with stages() as report:
        record = _quality.quality(table, k=k, sample=None if all_keys else sample, seed=seed, progress=report)
    message(
        f"diagnosed {table.count:,} x {table.dim} vectors (hubness and TwoNN on {record.sample:,} "
        f"points) in {time.perf_counter() - start:.1f} s"
    )
    chosen = output.choose_format(fmt, output.stdout_is_terminal())
    output.write_record(record, chosen, sys.stdout, header=not no_header)
