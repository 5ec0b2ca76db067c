"""The HTML page: one self-contained file, plotly.js inline or from a CDN, written atomically."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping

from embviz.errors import InvalidQuery
from embviz.viz.figure import PlotlyJS, escape

if TYPE_CHECKING:

    pass

def to_html(
    fig: Mapping[str, Any], *, plotlyjs: PlotlyJS = "inline", title: str = "embviz plot"
) -> str:
    """Render `fig` (from :func:`figure`) as a complete HTML page.

    Parameters
    ----------
    fig : mapping
        ``{"data", "layout"}``.
    plotlyjs : {"inline", "cdn", "directory"}
        ``"inline"`` embeds plotly.js (about 4.7 MB; works offline), ``"cdn"`` links it from
        the plotly CDN, ``"directory"`` loads ``plotly.min.js`` beside the HTML file.
    title : str
        The page title (escaped).

    Returns
    -------
    str
        The page. The provenance (``layout.meta.embviz``) is also in a
        ``<script type="application/json" id="embviz-provenance">`` block.

    Raises
    ------
    InvalidQuery
        If `plotlyjs` is not one of the three.
    """
    from embviz.errors import require

    if plotlyjs not in ("inline", "cdn", "directory"):
        raise InvalidQuery(f"--plotlyjs must be inline, cdn or directory, got {plotlyjs!r}")
    pio = require("plotly.io", package="plotly")
    include = {"inline": True, "cdn": "cdn", "directory": "directory"}[plotlyjs]
    fig = dict(fig)
    layout = dict(fig.get("layout", {}))
    if isinstance(layout.get("template"), str):  # validate=False does not resolve names
        layout["template"] = pio.templates[layout["template"]].to_plotly_json()
    fig["layout"] = layout
    page = pio.to_html(
        fig,
        include_plotlyjs=include,
        full_html=True,
        validate=False,
        div_id="embviz-plot",
        config={"scrollZoom": True, "displaylogo": False, "responsive": True},
    )
    prov = fig.get("layout", {}).get("meta", {}).get("embviz")
    head = f'<title>{escape(title)}</title>\n<meta charset="utf-8">\n'
    if prov is not None:
        blob = json.dumps(prov, ensure_ascii=True, sort_keys=True)
        blob = blob.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
        head += f'<script type="application/json" id="embviz-provenance">{blob}</script>\n'
    return page.replace("<head>", "<head>\n" + head, 1)


def write_html(
    fig: Mapping[str, Any],
    path: str | os.PathLike,
    *,
    plotlyjs: PlotlyJS = "inline",
    title: str = "embviz plot",
) -> Path:
    """Write `fig` as HTML to `path` atomically (a temporary file renamed into place).

    With ``plotlyjs="directory"``, ``plotly.min.js`` is written beside `path` if absent.

    Returns
    -------
    Path
        `path`; never half-written (an interrupted write leaves the old file, or none).

    Raises
    ------
    FormatError
        If the directory does not exist or cannot be written.
    """
    path = Path(path)
    page = to_html(fig, plotlyjs=plotlyjs, title=title)
    _atomic_text(path, page)
    if plotlyjs == "directory" and not (path.parent / "plotly.min.js").exists():
        from plotly.offline import get_plotlyjs

        _atomic_text(path.parent / "plotly.min.js", get_plotlyjs())
    return path


def _atomic_text(path: Path, text: str) -> None:
    """Write `text` (UTF-8) to `path` atomically: see :func:`embviz.io.atomic_write`."""
    from embviz.io import atomic_write

    data = text.encode("utf-8")
    atomic_write(path, lambda f: f.write(data))


