"""Interactive Plotly figures of projections, written as one self-contained HTML file.

The figure is built as a plain plotly.js dict (no per-point validation, so 400,000 points take
seconds): 2D layouts above :data:`WEBGL_MIN` points use WebGL (``scattergl``), 3D layouts use
``scatter3d``. Coordinates and ranks are stored as base64 typed arrays (float32 / int32), the
compact form plotly.js reads natively. Keys are data, never markup: every key or user string
is HTML-escaped, and its ``%`` written as ``&#37;``, before it reaches hover text, labels,
legend names or titles, so plotly.js can neither read it as markup nor expand a ``%{...}``
template in it; the provenance is kept out of ``layout.meta`` (out of template reach) and
travels in a JSON block whose ``<``, ``>`` and ``&`` are escaped, so no key can close the
``<script>`` element.

With a metadata table (``meta=``, ``show=``), each point's hover reads ``key · title ·
genres`` and the labels drawn on the map are the first shown column (a title), escaped the
same way.

The figure also carries the explorer's data (:mod:`embviz.viz.explorer`, under the
``"embviz_data"`` key), its empty overlay traces (mark, neighbor lines and rings, selection,
zoom labels) and, for big N, a density layer under the points.

Formula axes place points by their cosine similarity to expression vectors, as Parallax does
(Molino, Wang and Zhang 2019, "Parallax: Visualizing and understanding the semantics of
embedding spaces via algebraic formulae"), with the safe grammar of :mod:`embviz.search.expr`.

This module builds the figure (:func:`figure`) and its typed arrays; the text it shows
(escaping, hover lines and labels, the provenance with its title and footer) is
:mod:`embviz.viz.figure_text`, whose names are importable from here as before.
"""

from __future__ import annotations

import base64
from typing import TYPE_CHECKING, Any, Literal, Mapping, Sequence

import numpy as np

from embviz.errors import InvalidQuery
from embviz.viz import explorer as _explorer
from embviz.viz.coloring import NO_VALUE, PALETTE, Coloring
from embviz.viz.figure_text import (  # noqa: F401 - the names are re-exported as before
    HOVER_VALUE_MAX,
    _clip,
    _footer,
    _raw_text,
    _title,
    escape,
    gl_text,
    provenance,
    shown_text,
)
from embviz.viz.regions import FINE_ZOOM, Region

if TYPE_CHECKING:
    from numpy.typing import NDArray

    from embviz.io.meta import Meta
    from embviz.vectors import Vectors
    from embviz.viz.explorer import NeighborLists
    from embviz.viz.projection import Projection

#: 2D plots with more points than this use WebGL (``scattergl``) instead of SVG.
WEBGL_MIN = 2_000
#: The regions' names (coarse; the fine ones are FINE_REGION_SIZE px): bold, dark, with a halo
#: in the background colour so they read over the points (plotly.js textfont.shadow "auto").
REGION_FONT = {"size": 15, "color": "#1b1b1b", "weight": "bold", "shadow": "auto"}
FINE_REGION_SIZE = 12
PlotlyJS = Literal["inline", "cdn", "directory"]
#: Highlight groups: strong colours no cluster or category uses.
_MARKS = "#e6007e #00a86b #ff3300 #0033cc #b8860b #6a0dad".split()


def _typed(a: NDArray) -> dict:
    """Return the plotly.js typed-array spec ``{"dtype", "bdata"}`` of `a` (base64)."""
    a = np.ascontiguousarray(a)
    code = {
        np.dtype("float32"): "f4",
        np.dtype("int32"): "i4",
        np.dtype("float64"): "f8",
        np.dtype("int16"): "i2",
        np.dtype("uint8"): "u1",
    }[a.dtype]
    spec = {
        "dtype": code,
        "bdata": base64.b64encode(a.astype(a.dtype.newbyteorder("<")).tobytes()).decode(),
    }
    if a.ndim > 1:
        spec["shape"] = ",".join(map(str, a.shape))
    return spec


def _b64_list(spec: dict) -> list:
    """Return the values of a :func:`_typed` spec as a list (small overlays only)."""
    code = {"f4": "<f4", "i4": "<i4", "f8": "<f8", "i2": "<i2", "u1": "u1"}[spec["dtype"]]
    return np.frombuffer(base64.b64decode(spec["bdata"]), dtype=code).tolist()


def _round(a: NDArray, digits: int = 5) -> NDArray[np.float32]:
    """Round to `digits` significant digits (float32): smaller, stable output, same pixels."""
    a = np.asarray(a, dtype=np.float64)
    scale = np.max(np.abs(a)) if a.size else 0.0
    if not np.isfinite(scale) or scale == 0:
        return a.astype(np.float32)
    decimals = max(0, digits - 1 - int(np.floor(np.log10(scale))))
    return np.round(a, decimals).astype(np.float32)


# -- the figure -------------------------------------------------------------------------------
def figure(
    projection: Projection,
    *,
    prov: Mapping[str, Any] | None = None,
    labels: int = 0,
    highlight: Mapping[str, NDArray[np.int64]] | None = None,
    coloring: Coloring | None = None,
    axis_titles: Sequence[str] | None = None,
    webgl_min: int = WEBGL_MIN,
    vectors: Vectors | None = None,
    lists: NeighborLists | None = None,
    density: str = "auto",
    why_no_lists: str | None = None,
    comparison: _explorer.Comparison | None = None,
    meta: Meta | None = None,
    show: Sequence[str] | None = None,
    regions: Sequence[Region] | None = None,
) -> dict[str, Any]:
    """Build the plotly.js figure of a projection, as a dict ``{"data", "layout"}``.

    Parameters
    ----------
    projection : Projection
        ``coords`` ``(m, 2)`` or ``(m, 3)`` float32, ``ids``, ``keys``.
    prov : mapping, optional
        :func:`provenance`; drawn in the title and footer and stored under ``"embviz"``
        (outside the plotly figure, so no template can read it).
    labels : int
        Draw the keys of the `labels` most frequent points (lowest ranks) as text, >= 0; the
        page thins them so that they never overlap at the current zoom, and shows others
        (most frequent first, never more than `labels` in view) as the user zooms in.
    highlight : mapping of str to ndarray of int64, optional
        Named groups of row ids (a key and its neighbors) drawn as larger, outlined markers
        with their keys as text, in colours no category uses. A point in several groups is
        drawn (and labelled) once: in the group named by its own key, else the first.
    coloring : Coloring, optional
        Categorical (one trace per category) or numeric (colour bar) colours.
    axis_titles : sequence of str, optional
        Axis titles (formula axes); escaped.
    webgl_min : int
        2D plots with more points use ``scattergl``.
    vectors : Vectors, optional
        The whole table, so the page's search knows the keys that are not drawn.
    lists : NeighborLists, optional
        Exact neighbor lists (:func:`embviz.viz.explorer.neighbor_lists`) for the panel.
    density : {"auto", "on", "off"}
        Draw a density layer (2-D histogram) under the points; ``"auto"``: 2D above
        :data:`embviz.viz.explorer.DENSITY_MIN` points.
    why_no_lists : str, optional
        What the panel says about a point without a neighbor list.
    comparison : Comparison, optional
        A second table's lists beside `lists` in the panel (``embviz diff --html``).
    meta : Meta, optional
        A metadata table (:func:`embviz.io.meta.read_meta`) whose `show` columns the page
        shows: in the hover (``key · title · genres``, see :func:`shown_text`), as the labels
        drawn on the map (the first column, e.g. the title; the key where it is missing), in
        the search, the panel and the selection export (:func:`embviz.viz.explorer.payload`).
    show : sequence of str, optional
        Columns of `meta` to show, in order; default all of ``meta.columns``; empty: none.
    regions : sequence of Region, optional
        Named regions of a 2-D layout (:func:`embviz.viz.regions.regions`): the coarse names
        are drawn at full view, the fine ones when zoomed in (the page places them; escaped).

    Returns
    -------
    dict
        ``{"data": [trace, ...], "layout": {...}, "embviz": prov, "embviz_data": payload}``;
        hover shows the key (and the shown columns) and its rank. Every point appears in
        exactly one of the base traces (the ones with ``meta.role == "points"``), so their
        lengths sum to ``m``.

    Raises
    ------
    InvalidQuery
        If `labels` < 0, `density` is not auto, on or off, or a `show` column is not in
        `meta`.
    """
    if labels < 0:
        raise InvalidQuery(f"--labels must be >= 0, got {labels}")
    coords = _round(projection.coords)
    m, dim = coords.shape
    three = dim == 3
    dense = _explorer.use_density(density, m, dim)
    kind = "scatter3d" if three else ("scattergl" if m > webgl_min else "scatter")
    overlay = "scatter3d" if three else "scatter"  # small overlays: SVG, drawn above WebGL
    columns = [] if meta is None else list(meta.columns if show is None else show)
    shown = meta.align(list(projection.keys), columns) if meta is not None and columns else None
    hover_raw, label_raw = _raw_text(projection.keys, shown)
    keys = [escape(h) for h in hover_raw]  # the points' hover text
    # the labels drawn on the map (escaped; WebGL's 3D text reads no entities: gl_text)
    names = [gl_text(x) if three else escape(x) for x in label_raw]
    ranks = (np.asarray(projection.ids, dtype=np.int64) + 1).astype(np.int32)
    size = 2 if m > 100_000 else 3 if m > 20_000 else 4 if m > webgl_min else 6
    if three:
        size = max(1.5, size - 1.5)
    # with the density layer, points are faint and small so the layer under them shows where
    # they pile up; outliers stay visible as points
    opacity = 0.04 if dense else 0.6 if m > webgl_min else 0.85
    if dense:
        size = 1.5
    hover = "%{text}<br>rank %{customdata}<extra></extra>"
    # text drawn on the map is the label (a title); its hover is the full line, in hovertext
    use_hovertext = bool(shown) or three
    label_hover = "%{hovertext}<br>rank %{customdata}<extra></extra>" if use_hovertext else hover

    def trace(sel: NDArray[np.int64] | slice, name: str, role: str, **extra: Any) -> dict:
        idx = sel
        t: dict[str, Any] = {
            "type": kind,
            "mode": "markers",
            "name": name,
            "x": _typed(coords[idx, 0]),
            "y": _typed(coords[idx, 1]),
            "text": keys if isinstance(idx, slice) else [keys[i] for i in idx.tolist()],
            "customdata": _typed(ranks[idx]),
            "hovertemplate": hover,
            "meta": {"role": role},
            "marker": {"size": size, "opacity": opacity},
        }
        if three:
            t["z"] = _typed(coords[idx, 2])
        t.update(extra)
        return t

    def empty(role: str, name: str, **extra: Any) -> dict:
        t: dict[str, Any] = {
            "type": overlay,
            "mode": "markers",
            "name": name,
            "x": [],
            "y": [],
            "text": [],
            "customdata": [],
            "hovertemplate": label_hover,
            "meta": {"role": role},
            "showlegend": False,
        }
        if use_hovertext:
            t["hovertext"] = []
        if three:
            t["z"] = []
        t.update(extra)
        return t

    data: list[dict] = []
    layout_extra: dict[str, Any] = {}
    if dense:
        grid = _explorer.density(coords)
        data.append(
            {
                "type": "heatmap",
                "name": "density",
                "x": _typed(grid["x"]),
                "y": _typed(grid["y"]),
                "z": _typed(grid["z"]),
                "colorscale": [
                    [0, "#fff7ec"],
                    [0.35, "#fdbb84"],
                    [0.7, "#e34a33"],
                    [1, "#7f0000"],
                ],
                "showscale": False,
                "hoverinfo": "skip",
                "zsmooth": False,
                "meta": {"role": "density", "max": grid["max"]},
                "showlegend": False,
            }
        )
    if coloring is not None and coloring.values is not None:
        values = np.asarray(coloring.values, dtype=np.float32)
        have = np.isfinite(values)
        colored: NDArray[np.int64] | slice = slice(None)
        if have.any() and not have.all():  # points without a value: grey, not the scale's end
            colored = np.flatnonzero(have)
            t = trace(np.flatnonzero(~have), "(no value)", "points")
            t["marker"]["color"] = NO_VALUE
            data.append(t)
        t = trace(colored, escape(coloring.title), "points")
        t["marker"].update(
            color=_typed(np.nan_to_num(values[colored], nan=0.0, posinf=0.0, neginf=0.0)),
            colorscale="Viridis",
            showscale=True,
            # below the legend (the labels entry sits at the top right)
            colorbar={"title": {"text": escape(coloring.title)}, "len": 0.85, "y": 0,
                      "yanchor": "bottom"},
        )
        t["showlegend"] = False
        data.append(t)
    elif coloring is not None and coloring.labels is not None:
        keep, codes, rest = coloring.categories()
        first = len(data)
        for j, value in enumerate(keep):
            t = trace(np.flatnonzero(codes == j), escape(value), "points", legendgroup=f"c{j}")
            t["marker"]["color"] = PALETTE[j % len(PALETTE)]
            if coloring.tagged:  # metadata values: tagged points larger than untagged ones
                t["marker"]["size"] = size * 1.5
            data.append(t)
        if rest is not None:
            t = trace(np.flatnonzero(codes < 0), rest, "points")
            t["marker"]["color"] = NO_VALUE
            data.insert(first, t)
        layout_extra["legend"] = {
            "title": {"text": escape(coloring.title)},
            "itemsizing": "constant",
        }
    else:
        t = trace(slice(None), "points", "points", showlegend=False)
        t["marker"]["color"] = "#1f77b4"
        data.append(t)

    if highlight:
        pos = {int(i): j for j, i in enumerate(np.asarray(projection.ids).tolist())}
        # each point in one group, so its key is drawn once: the group it names (king in
        # "king", though it is also among queen's neighbors), else the first group it is in
        owner: dict[int, str] = {}
        for name, ids in highlight.items():
            for i in ids:
                j = pos.get(int(i))
                if j is not None and str(projection.keys[j]) == name:
                    owner[j] = name
        for name, ids in highlight.items():
            for i in ids:
                j = pos.get(int(i))
                if j is not None:
                    owner.setdefault(j, name)
        for g, (name, ids) in enumerate(highlight.items()):
            mine = [pos[int(i)] for i in ids if owner.get(pos.get(int(i), -1)) == name]
            sel = np.array(list(dict.fromkeys(mine)), dtype=np.int64)
            if not len(sel):
                continue
            colour = _MARKS[g % len(_MARKS)]
            t = {
                "type": overlay,
                "mode": "markers+text" if three else "markers",  # 2D: labels-marked
                "name": escape(name),
                "x": _typed(coords[sel, 0]),
                "y": _typed(coords[sel, 1]),
                "text": [names[i] for i in sel.tolist()],
                "customdata": _typed(ranks[sel]),
                "hovertemplate": label_hover,
                "textposition": "top center",
                "textfont": {"size": 12, "color": colour},
                "marker": {"size": 10, "color": colour, "line": {"width": 1.5, "color": "#000"}},
                "meta": {"role": "highlight"},
            }
            if three:
                t["z"] = _typed(coords[sel, 2])
            if use_hovertext:
                t["hovertext"] = [keys[i] for i in sel.tolist()]
            data.append(t)

    n_labels = min(labels, m)
    if labels:
        top = np.argsort(ranks, kind="stable")[:n_labels]
        t = {
            "type": overlay,
            "mode": "text",
            "name": f"labels (top {n_labels:,})",
            "x": _typed(coords[top, 0]),
            "y": _typed(coords[top, 1]),
            "text": [names[i] for i in top.tolist()],
            "customdata": _typed(ranks[top]),
            "hovertemplate": label_hover,
            "textfont": {"size": 10, "color": "#333"},
            "meta": {"role": "labels"},
            "showlegend": True,
        }
        if three:
            t["z"] = _typed(coords[top, 2])
        if use_hovertext:
            t["hovertext"] = [keys[i] for i in top.tolist()]
        data.append(t)

    named = [r for r in (regions or ()) if not three]
    if named:
        # the regions' names: the coarse ones until the page runs; it swaps in the fine ones
        # on zoom and drops any that would overlap or be cut (explorer.js)
        first = [r for r in named if r.level == 0]
        data.append({
            "type": "scatter",
            "mode": "text",
            "name": f"regions ({len(first)})",
            "x": [r.x for r in first],
            "y": [r.y for r in first],
            "text": [escape(r.name) for r in first],
            "textfont": dict(REGION_FONT),
            "hoverinfo": "skip",
            "meta": {"role": "regions"},
            "showlegend": True,
        })

    # overlays the page fills in (explorer.js): more labels on zoom, neighbor lines and rings,
    # the selection, the chosen point
    tfont = {"size": 10, "color": "#333"}
    data.append(empty("labels-zoom", "more labels", mode="text", textfont=tfont))
    data.append(
        empty(
            "nbr-lines",
            "neighbor lines",
            mode="lines",
            line={"color": "#e6007e", "width": 1},
            hoverinfo="skip",
            hovertemplate=None,
        )
    )
    marked_mode = "markers+text" if three else "markers"  # 2D: their text is labels-marked
    data.append(
        empty(
            "nbrs",
            "neighbors",
            mode=marked_mode,
            textposition="top center",
            textfont={"size": 11, "color": "#b0005a"},
            marker={"size": 11, "color": "rgba(0,0,0,0)", "line": {"width": 2, "color": "#e6007e"}},
        )
    )
    sel_kind = "scatter3d" if three else ("scattergl" if m > webgl_min else "scatter")
    data.append(
        empty(
            "selection",
            "selection",
            type=sel_kind,
            marker={"size": size + 3, "color": "#ff7f0e", "line": {"width": 1, "color": "#000"}},
            hoverinfo="skip",
            hovertemplate=None,
        )
    )
    data.append(
        empty(
            "mark",
            "chosen",
            mode=marked_mode,
            textposition="top center",
            textfont={"size": 13, "color": "#000"},
            marker={
                "size": 16,
                "color": "rgba(255,215,0,0.6)",
                "line": {"width": 3, "color": "#000"},
            },
        )
    )

    if not three:
        # the text of the marked points (the chosen one, its neighbors, --highlight), placed by
        # the page so that each key is drawn once and inside the plot area (explorer.js)
        data.append(empty("labels-marked", "marked labels", mode="text", textfont=dict(tfont)))
        hl_text = {i: t["text"] for i, t in enumerate(data) if t["meta"]["role"] == "highlight"}
        if hl_text:  # before the page runs (and without it): the highlighted keys, above them
            last = data[-1]
            last["x"] = [x for i in hl_text for x in _b64_list(data[i]["x"])]
            last["y"] = [y for i in hl_text for y in _b64_list(data[i]["y"])]
            last["text"] = [t for i in hl_text for t in hl_text[i]]
            last["textposition"] = "top center"
            last["textfont"] = {
                "size": 12,
                "color": [data[i]["textfont"]["color"] for i in hl_text for _ in hl_text[i]],
            }
            last["customdata"] = [c for i in hl_text for c in _b64_list(data[i]["customdata"])]
            if use_hovertext:
                last["hovertext"] = [h for i in hl_text for h in data[i]["hovertext"]]

    titles = [escape(a) for a in axis_titles] if axis_titles else (["x", "y", "z"][:dim])
    layout: dict[str, Any] = {
        "template": "plotly_white",
        "hovermode": "closest",
        "dragmode": "pan" if not three else "orbit",
        "margin": {"l": 50, "r": 20, "t": 50, "b": 80},
        "legend": {"itemsizing": "constant"},
        "uirevision": "embviz",
        **layout_extra,
    }
    if three:
        layout["scene"] = {
            "xaxis": {"title": {"text": titles[0]}},
            "yaxis": {"title": {"text": titles[1]}},
            "zaxis": {"title": {"text": titles[2]}},
        }
    else:
        layout["xaxis"] = {"title": {"text": titles[0]}, "zeroline": False}
        layout["yaxis"] = {"title": {"text": titles[1]}, "zeroline": False}
        if not axis_titles:
            layout["yaxis"]["scaleanchor"] = "x"
    fig: dict[str, Any] = {"data": data, "layout": layout}
    if prov is not None:
        layout["title"] = {"text": _title(prov), "x": 0.01, "font": {"size": 14}}
        layout["annotations"] = [
            {
                "text": _footer(prov),
                "xref": "paper",
                "yref": "paper",
                "x": 0,
                "y": -0.01,
                "xanchor": "left",
                "yanchor": "top",
                "yshift": -40,
                "showarrow": False,
                "font": {"size": 9, "color": "#777"},
            }
        ]
        fig["embviz"] = dict(prov)
    fig["embviz_data"] = _explorer.payload(
        projection,
        coords,
        vectors=vectors,
        lists=lists,
        labels=n_labels,
        why_no_lists=why_no_lists,
        comparison=comparison,
        meta=meta if shown else None,
        shown=shown,
    )
    fig["embviz_data"]["density"] = bool(dense)
    if named:
        fig["embviz_data"]["regions"] = {
            "x": [r.x for r in named], "y": [r.y for r in named], "text": [r.name for r in named],  # raw: esc()
            "level": [r.level for r in named], "size": [REGION_FONT["size"], FINE_REGION_SIZE],
            "fine_zoom": FINE_ZOOM,
        }
    if vectors is None and prov is not None:
        fig["embviz_data"]["total"] = int(prov["total"])
    return fig
