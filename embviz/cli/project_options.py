"""The options of ``embviz project`` and ``embviz plot``: their choices and declarations.

Every ``typer.Option`` the two commands take, declared once as an ``Annotated`` type and
named for what it sets; :mod:`embviz.cli.project` holds the commands and their flow. Options
shared with other commands (``--format``, ``--meta``, ``--restrict``, ...) are in
:mod:`embviz.cli._common`.
"""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Annotated

import typer

from embviz.cli._common import MetricChoice


class Method(str, Enum):
    """Projection methods."""

    umap = "umap"
    pca = "pca"
    tsne = "tsne"


class Density(str, Enum):
    """When the plot draws a density layer under the points."""

    auto = "auto"
    on = "on"
    off = "off"


class PlotlyJS(str, Enum):
    """Where the HTML gets plotly.js from."""

    inline = "inline"
    cdn = "cdn"
    directory = "directory"


# -- shared by project and plot: the selection and the layout --------------------------------------
MethodOpt = Annotated[
    Method,
    typer.Option(
        "--method",
        "-m",
        help="Projection method (UMAP: McInnes et al. 2018; t-SNE: van der Maaten & Hinton 2008).",
    ),
]
DimOpt = Annotated[int, typer.Option("--dim", min=2, max=3, help="Output dimensions: 2 or 3.")]
TopOpt = Annotated[
    int | None,
    typer.Option(
        "--top",
        min=1,
        help="The N most frequent keys (file order); default 5,000 if nothing else is selected.",
        show_default=False,
    ),
]
KeysOpt = Annotated[
    Path | None,
    typer.Option(
        "--keys",
        help="File with one key per line ('-': stdin); unknown keys are skipped with a warning.",
        show_default=False,
    ),
]
SampleOpt = Annotated[
    int | None,
    typer.Option(
        "--sample",
        min=1,
        help="N keys drawn uniformly at random (reproducible with --seed).",
        show_default=False,
    ),
]
AroundOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--around",
        help="A key or expression and its -k cosine neighbors; repeatable.",
        show_default=False,
    ),
]
AroundKOpt = Annotated[
    int, typer.Option("-k", "--k", min=1, help="Neighbors per --around/--highlight key.")
]
SeedOpt = Annotated[
    int | None,
    typer.Option(
        "--seed",
        help="Random seed: the same seed gives the same layout, sample and clusters. Without "
        "it UMAP runs in parallel and layouts differ between runs (the cache keeps the first).",
        show_default=False,
    ),
]
NeighborsOpt = Annotated[
    int,
    typer.Option(
        "--n-neighbors", min=2, max=200, help="UMAP: neighborhood size (local vs global structure)."
    ),
]
MinDistOpt = Annotated[
    float,
    typer.Option(
        "--min-dist", min=0.0, max=1.0, help="UMAP: minimum distance between layout points."
    ),
]
PerplexityOpt = Annotated[
    float,
    typer.Option(
        "--perplexity", min=1.0, help="t-SNE: perplexity (effective number of neighbors)."
    ),
]


# -- shared by project and plot: the neighbor lists ------------------------------------------------
ListsNoIndexOpt = Annotated[
    bool,
    typer.Option(
        "--no-index",
        help="Exact neighbor lists, and umap-learn's own kNN, even for more than 50,000 points: "
        "by default those come from the table's stored FAISS index when it has one "
        "(embviz index build), approximately.",
    ),
]
NeighborsForOpt = Annotated[
    int | None,
    typer.Option(
        "--neighbors-for",
        min=0,
        help="Neighbor lists for the N most frequent drawn points (default: every drawn point "
        "up to 20,000, else the 20,000 most frequent).",
        show_default=False,
    ),
]

ListsMetricOpt = Annotated[
    MetricChoice,
    typer.Option(
        "--metric",
        help="Score of the neighbor lists: cosine (angle only), dot (raw rows; ALS and two-tower "
        "models) or euclidean (score = negative distance). The layout itself is cosine.",
    ),
]


# -- project only ----------------------------------------------------------------------------------
ProjectNeighborsKOpt = Annotated[
    int,
    typer.Option(
        "--neighbors-k",
        min=0,
        help="Add each point's K exact neighbors in the original space (columns "
        "n1, s1, ..., nK, sK: key and score, in --metric), as 'embviz neighbors' prints "
        "them; 0: none.",
    ),
]
ProjectOutputOpt = Annotated[
    Path | None,
    typer.Option(
        "--output",
        "-o",
        help="Write the coordinates to FILE (format: --format, else from the suffix).",
        show_default=False,
    ),
]


# -- plot only: the page, its axes, labels and colours ---------------------------------------------
PlotOutputOpt = Annotated[Path, typer.Option("--output", "-o", help="The HTML file to write.")]
FormulaXOpt = Annotated[
    str | None,
    typer.Option(
        "--x",
        help="Formula axis: place points by cosine to an expression such as 'man - woman'.",
        show_default=False,
    ),
]
FormulaYOpt = Annotated[
    str | None,
    typer.Option("--y", help="Formula for the y axis (with --x).", show_default=False),
]
FormulaZOpt = Annotated[
    str | None, typer.Option("--z", help="Formula for the z axis (3D).", show_default=False)
]
LabelsOpt = Annotated[
    int,
    typer.Option(
        "--labels",
        min=0,
        help="Label the N most frequent points, thinned so that labels never overlap "
        "(more appear as you zoom in); 0: no labels.",
    ),
]
PlotNeighborsKOpt = Annotated[
    int,
    typer.Option(
        "--neighbors-k",
        min=0,
        help="Click a point to see its K exact neighbors in the original space, in "
        "--metric (computed now, embedded in the page); 0 turns the lists off.",
    ),
]
DensityOpt = Annotated[
    Density,
    typer.Option(
        "--density",
        help="A density layer under the points: auto (2D above 100,000 points), on, off.",
    ),
]
HighlightOpt = Annotated[
    str | None,
    typer.Option(
        "--highlight",
        help="Comma-separated keys to mark, with their -k neighbors.",
        show_default=False,
    ),
]
OldMetadataOpt = Annotated[
    Path | None,
    typer.Option(
        "--metadata",
        help="Deprecated alias of --meta (same formats), kept for old scripts: its key column "
        "is 'key', 'word' or 'token' (else the first), and it shows no column unless --show.",
        show_default=False,
    ),
]
ColorByOpt = Annotated[
    str | None,
    typer.Option(
        "--color-by",
        help="A metadata column to colour by (numbers: a colour scale; text: a legend, "
        "multi-valued cells by their first value), or 'group' (the --around/--highlight groups).",
        show_default=False,
    ),
]
ColorSepOpt = Annotated[
    str,
    typer.Option(
        "--color-sep",
        help="Separator of multi-valued --color-by cells ('Animation|Comedy' is coloured "
        "as Animation).",
    ),
]
ClustersOpt = Annotated[
    int | None,
    typer.Option(
        "--clusters",
        min=1,
        help="Colour by K k-means clusters of the vectors.",
        show_default=False,
    ),
]
RegionsOpt = Annotated[
    int,
    typer.Option(
        "--regions",
        min=0,
        help="Name N regions of a 2D map by their most representative keys (k-means on the "
        "layout; 4N finer names appear as you zoom in); 0: none.",
    ),
]
PlotlyJSOpt = Annotated[
    PlotlyJS,
    typer.Option(
        "--plotlyjs",
        help="inline (offline, default), cdn, or directory (plotly.min.js beside the file).",
    ),
]
OpenOpt = Annotated[bool, typer.Option("--open", help="Open the HTML in a web browser.")]
