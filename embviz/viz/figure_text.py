"""The text of a figure: keys and metadata made inert for plotly.js, and the provenance it shows.

Keys are data, never markup: :func:`escape` turns ``<``, ``>``, ``&`` into entities and ``%``
into ``&#37;`` (no ``%{...}`` template expands), :func:`gl_text` keeps 3D (WebGL) text from
reading tags, and :func:`shown_text` gives each point's hover line (``key · title · genres``)
and map label. :func:`provenance` is the record a page embeds (source, fingerprint, selection,
method, seed, recall@10), drawn, escaped, in the figure's title and footer. Importable from
:mod:`embviz.viz.figure` as before.
"""

from __future__ import annotations

import html
from typing import TYPE_CHECKING, Any, Mapping, Sequence

from embviz._version import __version__

if TYPE_CHECKING:
    from embviz.viz.projection import Projection


def escape(text: str) -> str:
    """`text` as inert plotly.js text: ``<``, ``>``, ``&`` become entities and ``%`` ``&#37;``.

    plotly.js draws entities as the characters, and never expands a ``%{...}`` template in
    text whose ``%`` is an entity, so a key such as ``%{meta.x}`` or ``<b>`` shows as written.
    """
    return html.escape(str(text), quote=False).replace("%", "&#37;")


#: Hover text shows at most this many characters of a metadata value (the panel shows all).
HOVER_VALUE_MAX = 80


def _clip(value: str, limit: int = HOVER_VALUE_MAX) -> str:
    """`value` on one line, cut to `limit` characters with an ellipsis."""
    text = " ".join(str(value).split())
    return text if len(text) <= limit else text[: limit - 1] + "\u2026"


def gl_text(text: str) -> str:
    """Return `text` as inert text of a 3D (WebGL) trace, which draws entities as written.

    plotly.js's 3D text shows ``&lt;`` literally but reads ``<b>``, ``<i>``, ``<sub>``,
    ``<sup>`` and ``<br>`` as formatting; a zero-width space after each ``<`` keeps every
    character as written. Its hover (SVG) reads escaped text from ``hovertext``.
    """
    return str(text).replace("<", "<\u200b")


def _raw_text(
    keys: Sequence[str], shown: Mapping[str, Sequence[str | None]] | None
) -> tuple[list[str], list[str]]:
    """Return the hover line and the map label of each point, unescaped (see :func:`shown_text`)."""
    keys = [str(k) for k in keys]
    if not shown:
        return keys, keys
    cols = list(shown.values())
    hover = [
        " \u00b7 ".join([k, *(_clip(c[i]) for c in cols if c[i] is not None)])
        for i, k in enumerate(keys)
    ]
    first = cols[0]
    return hover, [k if first[i] is None else first[i] for i, k in enumerate(keys)]


def shown_text(
    keys: Sequence[str], shown: Mapping[str, Sequence[str | None]] | None
) -> tuple[list[str], list[str]]:
    """Return the hover text and the map label of each point, both escaped (:func:`escape`).

    Parameters
    ----------
    keys : sequence of str
        The points' keys, ``(m,)``.
    shown : mapping of str to sequence of (str or None), optional
        Metadata columns to show, in order, each ``(m,)`` values (None: missing).

    Returns
    -------
    hover : list of str, ``(m,)``
        ``key · value · value`` (missing values left out; each value on one line and cut to
        :data:`HOVER_VALUE_MAX` characters), e.g. ``1 · Toy Story (1995) · Animation|Comedy``;
        the key alone without `shown`.
    labels : list of str, ``(m,)``
        The first shown column's value, or the key where it is missing (or without `shown`).
    """
    hover, labels = _raw_text(keys, shown)
    if not shown:
        plain = [escape(k) for k in hover]
        return plain, plain
    return [escape(h) for h in hover], [escape(x) for x in labels]


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
    # a table made in Python (embviz.plot) has no file to fingerprint: nothing said, not "?"
    fp = f" (fingerprint {prov['fingerprint'][:16]})" if prov["fingerprint"] else ""
    return escape(
        f"embviz {prov['embviz_version']} · {prov['source'] or 'vectors'}{fp} · "
        f"selection: {prov['selection']} · {prov['method']} "
        f"{', '.join(f'{k}={v}' for k, v in prov['params'].items())} · seed {prov['seed']}"
    )
