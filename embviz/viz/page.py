"""The HTML page: one self-contained file, plotly.js inline or from a CDN, written atomically.

The page is the plotly.js figure plus the explorer: a search box, a side panel (neighbors,
selection; wider when the page shows metadata columns), a status line, all driven by one
hand-written asset (``explorer.js``, included through plotly's ``post_script``). Its data is
JSON in ``<script type="application/json">`` blocks, read with ``textContent``; keys are
shown with ``textContent``, never as markup.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Mapping

from embviz.errors import InvalidQuery
from embviz.viz import explorer as _explorer
from embviz.viz.figure import PlotlyJS, escape

#: Page furniture (no data in it): styles, the search bar, the side panel, the status line.
_STYLE = """<style>
html, body { height: 100%; margin: 0; font: 13px system-ui, sans-serif; }
#embviz-plot { position: absolute; left: 0; top: 38px; right: 330px; bottom: 22px;
  width: auto !important; height: auto !important; }
#embviz-bar { position: absolute; left: 0; right: 330px; top: 0; height: 38px;
  display: flex; align-items: center; gap: 8px; padding: 0 8px; box-sizing: border-box;
  border-bottom: 1px solid #ddd; }
#embviz-search { width: 260px; padding: 4px 6px; font: inherit; }
#embviz-matches { position: absolute; left: 8px; top: 36px; width: 420px; max-height: 60vh;
  overflow: auto; background: #fff; border: 1px solid #bbb; z-index: 10; display: none;
  box-shadow: 0 2px 6px rgba(0,0,0,.2); }
#embviz-matches div { padding: 2px 6px; cursor: pointer; white-space: pre; }
#embviz-matches div:hover, #embviz-matches div.active { background: #e8f0fe; }
#embviz-panel { position: absolute; right: 0; top: 0; bottom: 0; width: 330px;
  box-sizing: border-box; padding: 8px 10px; border-left: 1px solid #ddd; overflow: auto; }
#embviz-panel h3 { margin: 4px 0; font-size: 15px; overflow-wrap: anywhere; }
#embviz-panel table { border-collapse: collapse; width: 100%; }
#embviz-panel td { padding: 1px 4px; vertical-align: top; word-break: break-all; }
#embviz-panel tr.nbr { cursor: pointer; }
#embviz-panel tr.nbr:hover { background: #e8f0fe; }
#embviz-panel .muted, .embviz-muted { color: #777; }
#embviz-panel button { margin: 2px 2px 2px 0; }
#embviz-status { position: absolute; left: 0; right: 330px; bottom: 0; height: 22px;
  padding: 2px 8px; box-sizing: border-box; color: #444; border-top: 1px solid #ddd;
  white-space: nowrap; overflow: hidden; }
#embviz-tip { position: fixed; display: none; pointer-events: none; background: #fffbe6;
  border: 1px solid #d4b106; padding: 2px 6px; font-size: 12px; z-index: 20; max-width: 360px;
  white-space: pre-wrap; word-break: break-all; }
#embviz-panel td:first-child, #embviz-panel td.score, #embviz-panel td.drawn,
#embviz-panel td.muted { white-space: nowrap; word-break: normal; }
#embviz-panel td.meta, body.embviz-meta #embviz-panel td.key { word-break: normal;
  overflow-wrap: break-word; }
#embviz-matches span.meta { color: #333; }
#embviz-panel table.embviz-nbrs { table-layout: fixed; }
#embviz-panel table.embviz-nbrs td { word-break: normal; overflow-wrap: anywhere; }
#embviz-panel table.embviz-nbrs td:first-child, #embviz-panel table.embviz-nbrs td.score,
#embviz-panel table.embviz-nbrs td.drawn, #embviz-panel table.embviz-nbrs td.status {
  white-space: nowrap; overflow: hidden; }
body.embviz-meta #embviz-panel table.embviz-nbrs td.key { white-space: nowrap;
  overflow: hidden; text-overflow: ellipsis; }
#embviz-plot.embviz-own-tip .hoverlayer { visibility: hidden; }
body.embviz-meta #embviz-plot, body.embviz-meta #embviz-bar, body.embviz-meta #embviz-status {
  right: 460px; }
body.embviz-meta #embviz-panel { width: 460px; }
body.embviz-meta #embviz-search { width: 340px; }
#embviz-relayout { position: absolute; left: 0; top: 38px; right: 330px; bottom: 22px; z-index: 5;
  background: #fff; display: none; }
body.embviz-meta #embviz-relayout { right: 460px; }
#embviz-relayout-head { height: 30px; display: flex; align-items: center; gap: 8px; padding: 0 8px;
  border-bottom: 1px solid #ddd; background: #f6f8fa; }
#embviz-relayout-title { flex: 1; white-space: nowrap; overflow: hidden; text-overflow: ellipsis; }
#embviz-relayout-plot { position: absolute; left: 0; right: 0; top: 31px; bottom: 0; }
#embviz-colorby-label { margin-left: auto; white-space: nowrap; }
#embviz-colorby { font: inherit; max-width: 160px; }
#embviz-key { position: absolute; right: 338px; top: 150px; z-index: 4; display: none; max-width: 240px;
  max-height: 45%; overflow: auto; background: rgba(255,255,255,.92); border: 1px solid #ccc;
  padding: 4px 6px; font-size: 12px; }
body.embviz-meta #embviz-key { right: 468px; }
#embviz-key .title { font-weight: 600; margin-bottom: 2px; overflow-wrap: anywhere; }
#embviz-key .row { display: flex; gap: 6px; align-items: center; cursor: pointer; }
#embviz-key .row:hover { background: #e8f0fe; }
#embviz-key .name { flex: 1; white-space: nowrap; overflow: hidden; text-overflow: ellipsis; }
#embviz-key .sw { width: 10px; height: 10px; border-radius: 50%; flex: none; }
#embviz-key .ramp { width: 200px; height: 10px; margin-top: 2px; }
#embviz-key .ends { display: flex; justify-content: space-between; width: 200px; color: #444; }
#embviz-selkeys { max-height: 40vh; overflow: auto; white-space: pre; font-family: monospace;
  font-size: 12px; border: 1px solid #eee; padding: 2px 4px; }
</style>
"""
_FURNITURE = """<div id="embviz-bar">
<input id="embviz-search" type="search" placeholder="search: key, prefix, or /regex/"
 autocomplete="off" spellcheck="false" aria-label="search keys">
<span id="embviz-found" class="embviz-muted"></span>
<div id="embviz-matches" role="listbox"></div>
</div>
<div id="embviz-panel"><p class="muted">Loading the explorer...</p></div>
<div id="embviz-status"></div>
<div id="embviz-tip"></div>
"""


def _json_block(block_id: str, data: Any) -> str:
    """Return an inert ``<script type="application/json">`` block holding `data`."""
    return (
        f'<script type="application/json" id="{block_id}">{_explorer.to_json(data)}</script>\n'
    )

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
        The page. The provenance (``fig["embviz"]``) is in a
        ``<script type="application/json" id="embviz-provenance">`` block and the explorer's
        data (``fig["embviz_data"]``) in ``<script type="application/json" id="embviz-data">``;
        both are kept out of the plotly figure, so no ``%{...}`` template can reach them.

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
    prov = fig.pop("embviz", None)
    data = fig.pop("embviz_data", None)
    layout = dict(fig.get("layout", {}))
    layout.pop("meta", None)  # provenance never goes where plotly.js templates can read it
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
        post_script=[_explorer.script()] if data is not None else None,
    )
    head = f'<title>{escape(title)}</title>\n<meta charset="utf-8">\n'
    if prov is not None:
        blob = json.dumps(prov, ensure_ascii=True, sort_keys=True)
        blob = blob.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
        head += f'<script type="application/json" id="embviz-provenance">{blob}</script>\n'
    if data is not None:
        head += _STYLE + _json_block("embviz-data", data)
        # metadata columns (titles) widen the panel; set before plotly.js sizes the plot
        body = '<body class="embviz-meta">' if data.get("meta") else "<body>"
        page = page.replace("<body>", body + "\n" + _FURNITURE, 1)
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


