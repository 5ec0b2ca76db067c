"""Interactive Plotly figures of projections, written as one self-contained HTML file.

The figure is built as a plain plotly.js dict (no per-point validation, so 400,000 points take
seconds): 2D layouts above :data:`WEBGL_MIN` points use WebGL (``scattergl``), 3D layouts use
``scatter3d``. Coordinates and ranks are stored as base64 typed arrays (float32 / int32), the
compact form plotly.js reads natively. Keys are data, never markup: every key is HTML-escaped
before it reaches hover text, labels or titles, and the JSON embedded in the page has ``<``,
``>`` and ``/`` escaped, so no key can close the ``<script>`` element.

Formula axes place points by their cosine similarity to expression vectors, as Parallax does
(Molino, Wang and Zhang 2019, "Parallax: Visualizing and understanding the semantics of
embedding spaces via algebraic formulae"), with the safe grammar of :mod:`embviz.search.expr`.
"""

from __future__ import annotations

import base64
import html
from typing import TYPE_CHECKING, Any, Literal, Mapping, Sequence

import numpy as np

from embviz._version import __version__
from embviz.errors import InvalidQuery
from embviz.viz.coloring import MAX_CATEGORIES, Coloring

if TYPE_CHECKING:
    from numpy.typing import NDArray

    from embviz.viz.projection import Projection

#: 2D plots with more points than this use WebGL (``scattergl``) instead of SVG.
WEBGL_MIN = 2_000
PlotlyJS = Literal["inline", "cdn", "directory"]
_PALETTE = (
    "#1f77b4 #ff7f0e #2ca02c #d62728 #9467bd #8c564b #e377c2 #7f7f7f #bcbd22 #17becf "
    "#aec7e8 #ffbb78 #98df8a #ff9896 #c5b0d5 #c49c94 #f7b6d2 #c7c7c7 #dbdb8d #9edae5 "
    "#393b79 #637939 #8c6d31 #843c39"
).split()


def escape(text: str) -> str:
    """`text` as HTML text: ``<``, ``>`` and ``&`` become entities, which plotly draws as text."""
    return html.escape(str(text), quote=False)


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


def _round(a: NDArray, digits: int = 5) -> NDArray[np.float32]:
    """Round to `digits` significant digits (float32): smaller, stable output, same pixels."""
    a = np.asarray(a, dtype=np.float64)
    scale = np.max(np.abs(a)) if a.size else 0.0
    if not np.isfinite(scale) or scale == 0:
        return a.astype(np.float32)
    decimals = max(0, digits - 1 - int(np.floor(np.log10(scale))))
    return np.round(a, decimals).astype(np.float32)


# -- the figure -------------------------------------------------------------------------------
def provenance(
    projection: Projection,
    *,
    source: str | None,
    fingerprint: str | None,
    selection: str,
    total: int,
    axes: Sequence[str] | None = None,
) -> dict[str, Any]:
    """Return the provenance record embedded in the HTML (``layout.meta`` and a JSON block)."""
    return {
        "embviz_version": __version__,
        "source": source,
        "fingerprint": fingerprint,
        "selection": selection,
        "points": len(projection.ids),
        "total": total,
        "method": projection.method,
        "params": projection.params,
        "dim": projection.dim,
        "seed": projection.seed,
        "recall_at_10": None if projection.recall is None else round(float(projection.recall), 4),
        "axes": list(axes) if axes else None,
    }


def _title(prov: Mapping[str, Any]) -> str:
    method = prov["method"]
    if method == "formula":
        how = "formula axes " + " | ".join(prov["axes"] or [])
    else:
        params = ", ".join(
            f"{k}={v}" for k, v in prov["params"].items() if k not in ("metric", "input")
        )
        how = {"pca": "PCA", "umap": "UMAP", "tsne": "t-SNE"}.get(method, method) + (
            f" ({params})" if params else ""
        )
        if method in ("umap", "tsne"):
            how += f", seed {prov['seed']}" if prov["seed"] is not None else ", no seed"
    recall = prov["recall_at_10"]
    trust = f" · recall@10 {recall:.3f}" if recall is not None else ""
    return (
        f"{escape(prov['source'] or 'vectors')}: {escape(how)} · "
        f"{prov['points']:,} of {prov['total']:,} points{trust}"
    )


def _footer(prov: Mapping[str, Any]) -> str:
    fp = (prov["fingerprint"] or "?")[:16]
    return escape(
        f"embviz {prov['embviz_version']} · {prov['source'] or 'vectors'} (fingerprint {fp}) · "
        f"selection: {prov['selection']} · {prov['method']} "
        f"{', '.join(f'{k}={v}' for k, v in prov['params'].items())} · seed {prov['seed']}"
    )


def figure(
    projection: Projection,
    *,
    prov: Mapping[str, Any] | None = None,
    labels: int = 0,
    highlight: Mapping[str, NDArray[np.int64]] | None = None,
    coloring: Coloring | None = None,
    axis_titles: Sequence[str] | None = None,
    webgl_min: int = WEBGL_MIN,
) -> dict[str, Any]:
    """Build the plotly.js figure of a projection, as a dict ``{"data", "layout"}``.

    Parameters
    ----------
    projection : Projection
        ``coords`` ``(m, 2)`` or ``(m, 3)`` float32, ``ids``, ``keys``.
    prov : mapping, optional
        :func:`provenance`; drawn in the title and footer and stored in ``layout.meta``.
    labels : int
        Draw the keys of the `labels` most frequent points (lowest ranks) as text, >= 0.
    highlight : mapping of str to ndarray of int64, optional
        Named groups of row ids (a key and its neighbors) drawn as larger, outlined markers
        with their keys as text.
    coloring : Coloring, optional
        Categorical (one trace per category) or numeric (colour bar) colours.
    axis_titles : sequence of str, optional
        Axis titles (formula axes); escaped.
    webgl_min : int
        2D plots with more points use ``scattergl``.

    Returns
    -------
    dict
        ``{"data": [trace, ...], "layout": {...}}``; hover shows the key and its rank. Every
        point appears in exactly one of the base traces (the ones with ``meta.role ==
        "points"``), so their lengths sum to ``m``.

    Raises
    ------
    InvalidQuery
        If `labels` < 0.
    """
    if labels < 0:
        raise InvalidQuery(f"--labels must be >= 0, got {labels}")
    coords = _round(projection.coords)
    m, dim = coords.shape
    three = dim == 3
    kind = "scatter3d" if three else ("scattergl" if m > webgl_min else "scatter")
    overlay = kind  # labels and highlights: same layer as the points, drawn after them (on top)
    keys = [escape(k) for k in projection.keys]
    ranks = (np.asarray(projection.ids, dtype=np.int64) + 1).astype(np.int32)
    size = 2 if m > 100_000 else 3 if m > 20_000 else 4 if m > webgl_min else 6
    if three:
        size = max(1.5, size - 1.5)
    hover = "%{text}<br>rank %{customdata}<extra></extra>"

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
            "marker": {"size": size, "opacity": 0.6 if m > webgl_min else 0.85},
        }
        if three:
            t["z"] = _typed(coords[idx, 2])
        t.update(extra)
        return t

    data: list[dict] = []
    layout_extra: dict[str, Any] = {}
    if coloring is not None and coloring.values is not None:
        t = trace(slice(None), escape(coloring.title), "points")
        t["marker"].update(
            color=_typed(
                np.nan_to_num(
                    coloring.values,
                    nan=np.nanmin(coloring.values) if np.isfinite(coloring.values).any() else 0,
                ).astype(np.float32)
            ),
            colorscale="Viridis",
            showscale=True,
            colorbar={"title": {"text": escape(coloring.title)}},
        )
        t["showlegend"] = False
        data.append(t)
    elif coloring is not None and coloring.labels is not None:
        labels_arr = np.array(["" if v is None else str(v) for v in coloring.labels], dtype=object)
        values, counts = np.unique(labels_arr[labels_arr != ""], return_counts=True)
        order = values[np.argsort(-counts, kind="stable")]
        keep = list(order[:MAX_CATEGORIES])
        rest = np.ones(m, dtype=bool)
        for j, value in enumerate(keep):
            sel = np.flatnonzero(labels_arr == value)
            rest[sel] = False
            t = trace(sel, escape(value), "points", legendgroup=f"c{j}")
            t["marker"]["color"] = _PALETTE[j % len(_PALETTE)]
            data.append(t)
        if rest.any():
            name = "other" if len(order) > MAX_CATEGORIES else "(none)"
            t = trace(np.flatnonzero(rest), name, "points")
            t["marker"]["color"] = "#c8c8c8"
            data.insert(0, t)
        layout_extra["legend"] = {
            "title": {"text": escape(coloring.title)},
            "itemsizing": "constant",
        }
    else:
        t = trace(slice(None), "points", "points", showlegend=False)
        t["marker"]["color"] = "#1f77b4"
        data.append(t)

    if labels:
        n = min(labels, m)
        top = np.argsort(ranks, kind="stable")[:n]
        t = {
            "type": overlay,
            "mode": "text",
            "name": f"labels (top {n:,})",
            "x": _typed(coords[top, 0]),
            "y": _typed(coords[top, 1]),
            "text": [keys[i] for i in top.tolist()],
            "customdata": _typed(ranks[top]),
            "hovertemplate": hover,
            "textfont": {"size": 10, "color": "#333"},
            "meta": {"role": "labels"},
            "showlegend": True,
        }
        if three:
            t["z"] = _typed(coords[top, 2])
        data.append(t)

    if highlight:
        pos = {int(i): j for j, i in enumerate(np.asarray(projection.ids).tolist())}
        for g, (name, ids) in enumerate(highlight.items()):
            sel = np.array([pos[int(i)] for i in ids if int(i) in pos], dtype=np.int64)
            if not len(sel):
                continue
            t = {
                "type": overlay,
                "mode": "markers+text",
                "name": escape(name),
                "x": _typed(coords[sel, 0]),
                "y": _typed(coords[sel, 1]),
                "text": [keys[i] for i in sel.tolist()],
                "customdata": _typed(ranks[sel]),
                "hovertemplate": hover,
                "textposition": "top center",
                "textfont": {"size": 12, "color": _PALETTE[(g + 3) % len(_PALETTE)]},
                "marker": {
                    "size": 10,
                    "color": _PALETTE[(g + 3) % len(_PALETTE)],
                    "line": {"width": 1.5, "color": "#000"},
                },
                "meta": {"role": "highlight"},
            }
            if three:
                t["z"] = _typed(coords[sel, 2])
            data.append(t)

    titles = [escape(a) for a in axis_titles] if axis_titles else (["x", "y", "z"][:dim])
    layout: dict[str, Any] = {
        "template": "plotly_white",
        "hovermode": "closest",
        "dragmode": "pan" if not three else "orbit",
        "margin": {"l": 50, "r": 20, "t": 50, "b": 80},
        "legend": {"itemsizing": "constant"},
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
    if prov is not None:
        layout["title"] = {"text": _title(prov), "x": 0.01, "font": {"size": 14}}
        layout["meta"] = {"embviz": dict(prov)}
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
    return {"data": data, "layout": layout}


