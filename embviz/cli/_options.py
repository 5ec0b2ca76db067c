"""The options shared by the commands, declared once each, and their choices (``Dtype``, ``MetricChoice``).

A command takes an option by annotating a parameter with its type (``k: KOpt = 10``); the
vector-source options (``--vectors`` ... ``--postprocess``) come with
:func:`embviz.cli._common.with_vectors`. Importable from :mod:`embviz.cli._common` as before.
"""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Annotated

import typer

from embviz.cli._stderr import _set_quiet
from embviz.io.formats import VectorFormat, help_list
from embviz.output import OutputFormat

#: Readable vector formats (``--input-format``): the library's own enum, from the one table of formats.
InputFormat = VectorFormat


class Dtype(str, Enum):
    """Storage dtype of the loaded matrix."""

    float32 = "float32"
    float16 = "float16"


# -- options shared by every command (one definition each) ------------------------------------
VectorsOpt = Annotated[
    Path | None,
    typer.Option(
        "--vectors",
        "-v",
        help=f"Vector file ({help_list()}; gz/bz2/xz ok). "
        "Default: the bundled sample (40,000 GloVe 6B 50d keys).",
        show_default=False,
        envvar="EMBVIZ_VECTORS",
    ),
]
InputFormatOpt = Annotated[
    InputFormat | None,
    typer.Option("--input-format", help="Format of --vectors; default: sniffed from the content."),
]
TensorOpt = Annotated[
    str | None,
    typer.Option("--tensor", help="Array of a .npz/safetensors/PyTorch file or dataset of an HDF5 file "
                 "(default: the only 2-D float one; HDF5: train first).",
                 show_default=False),
]
KeyColumnOpt = Annotated[
    str | None,
    typer.Option("--key-column", help="Key column of a Parquet/Arrow table or a keys/metadata TSV.",
                 show_default=False),
]
VectorColumnsOpt = Annotated[
    str | None,
    typer.Option("--vector-columns", help="A wide table's vector columns, in order: 'f0,f1,f2' or 'emb_*'.",
                 show_default=False),
]
KeysOpt = Annotated[
    Path | None,
    typer.Option("--vocab", help="Keys of a table without keys: one per line, TSV, Parquet or tokenizer.json "
                 "(default: NAME.keys.txt, NAME.vocab or tokenizer.json beside it, else row ids).",
                 show_default=False),
]
PaddingIdxOpt = Annotated[
    int | None,
    typer.Option("--padding-idx", help="Row never returned as a neighbor or analogy answer "
                 "(nn.Embedding's padding_idx; negative counts from the end).", show_default=False),
]
LimitOpt = Annotated[
    int | None,
    typer.Option("--limit", min=1, help="Read only the first N vectors (files are in frequency order)."),
]
NoCacheOpt = Annotated[
    bool,
    typer.Option(
        "--no-cache",
        help="Do not read or write the memory-mapped vector cache.",
        envvar="EMBVIZ_NO_CACHE",
    ),
]
CacheDirOpt = Annotated[
    Path | None,
    typer.Option(
        "--cache-dir",
        help="Cache directory; default $XDG_CACHE_HOME/embviz or ~/.cache/embviz.",
        envvar="EMBVIZ_CACHE_DIR",
        show_default=False,
    ),
]
DtypeOpt = Annotated[
    Dtype,
    typer.Option("--dtype", help="Storage dtype of the vectors (float16 halves memory; scores stay float32)."),
]
FormatOpt = Annotated[
    OutputFormat | None,
    typer.Option("--format", "-f", help="Output format; default: table on a terminal, TSV on a pipe."),
]
NoHeaderOpt = Annotated[bool, typer.Option("--no-header", help="Omit the TSV/CSV header row.")]
PostprocessOpt = Annotated[
    str | None,
    typer.Option(
        "--postprocess",
        metavar="abtt[:D]",
        help="Post-process the vectors: abtt = all-but-the-top (subtract the mean, remove the top D "
        "principal directions; D default ceil(dim/100); Mu & Viswanath 2018). Cached.",
        show_default=False,
    ),
]
QuietOpt = Annotated[
    bool,
    typer.Option("--quiet", "-q", callback=_set_quiet, help="Print no messages, warnings or progress on stderr."),
]
KOpt = Annotated[int, typer.Option("-k", "--k", min=1, help="Results per query.")]
RestrictOpt = Annotated[
    int | None,
    typer.Option("--restrict", min=1, help="Search only the first N keys (the most frequent)."),
]
IndexOpt = Annotated[
    bool,
    typer.Option(
        "--index",
        help="Answer from the approximate FAISS index stored in the cache (built first if "
        "missing; see 'embviz index build'). Default: exact search.",
    ),
]
NoIndexOpt = Annotated[bool, typer.Option("--no-index", help="Force exact search (overrides --index).")]
EfSearchOpt = Annotated[
    int | None,
    typer.Option("--ef-search", min=1, help="HNSW search depth for this query (default: the index's)."),
]
NprobeOpt = Annotated[
    int | None,
    typer.Option("--nprobe", min=1, help="IVF cells searched for this query (default: the index's)."),
]


# -- metrics and metadata (items, users) --------------------------------------------------------
class MetricChoice(str, Enum):
    """Scores of neighbors and recommendations (see embviz.search.metric)."""

    cosine = "cosine"
    dot = "dot"
    euclidean = "euclidean"


MetricOpt = Annotated[
    MetricChoice,
    typer.Option(
        "--metric",
        help="cosine (angle only; word2vec, item2vec), dot (the score of ALS and two-tower models; "
        "norms carry popularity) or euclidean (score = negative distance).",
    ),
]
MetaOpt = Annotated[
    Path | None,
    typer.Option(
        "--meta",
        help="Metadata of the keys (titles, categories): TSV, CSV, Parquet or Arrow with a header; "
        "the key column is --meta-key-column or the first.",
        show_default=False,
    ),
]
MetaKeyOpt = Annotated[
    str | None,
    typer.Option("--meta-key-column", help="The key column of --meta (default: its first column).",
                 show_default=False),
]
ShowOpt = Annotated[
    str | None,
    typer.Option(
        "--show",
        help="Metadata columns added to each row, comma-separated (default with --meta: all of them; "
        "a Parquet/Arrow vector table's own columns need --show).",
        show_default=False,
    ),
]
OutputFileOpt = Annotated[
    Path | None,
    typer.Option("--output", "-o", help="Write the rows to a file (.parquet, .tsv, .csv, .jsonl) instead of stdout; "
                 "written to a temporary file and renamed when complete.", show_default=False),
]
