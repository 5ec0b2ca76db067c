"""The explorer in a notebook: ``embviz.plot(vectors)`` and the selection back in Python.

``embviz.plot`` builds the same page as ``embviz plot`` (layout, exact neighbor lists,
named regions, search, selection export) and returns an :class:`Explorer`. In a notebook
(JupyterLab, Notebook 7, VS Code) it displays:

- as a widget when ``anywidget`` is installed (``pip install 'embviz[notebook]'``): the page
  runs in an ``<iframe srcdoc>`` inside an anywidget, and every selection made on the map
  (box, lasso, shift-click, the search's "select all") is posted by the page to the widget,
  which syncs it to the kernel: :attr:`Explorer.selection` is then a pandas DataFrame of the
  selected keys with their rank, coordinates and shown metadata;
- otherwise as that ``<iframe srcdoc>`` alone (``_repr_html_``): every feature of the page
  works, but the selection stays in the page (its "Download TSV" button still works).

The page runs in an iframe rather than in the notebook's own document because Plotly's
``post_script`` (the explorer) is dropped by the notebook renderers, and an iframe keeps the
page's styles and scripts apart from the notebook's. ``Explorer.save(path)`` writes the page
as ``embviz plot -o`` writes it.
"""

from __future__ import annotations

import html as _html
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

from embviz.errors import InvalidQuery, MissingDependency, require

if TYPE_CHECKING:
    from embviz.io.meta import Meta
    from embviz.vectors import Vectors
    from embviz.viz.projection import Projection

#: Height of the page in the notebook, in CSS pixels.
HEIGHT = 720

#: The widget's front end (anywidget ESM): the page in an iframe; its selection, posted by
#: explorer.js (``{embviz: "selection", keys}``), synced to the kernel.
_ESM = """
function render({ model, el }) {
  const frame = document.createElement("iframe");
  frame.srcdoc = model.get("html");
  frame.style.width = "100%";
  frame.style.height = model.get("height") + "px";
  frame.style.border = "0";
  el.appendChild(frame);
  const onMessage = (event) => {
    if (event.source !== frame.contentWindow || !event.data || event.data.embviz !== "selection") { return; }
    model.set("selection", Array.from(event.data.keys || [], String));
    model.save_changes();
  };
  window.addEventListener("message", onMessage);
  return () => window.removeEventListener("message", onMessage);
}
export default { render };
"""


class Explorer:
    """An explorer page for a notebook (see the module docstring).

    Attributes: ``html`` (the page, str), ``projection`` (:class:`~embviz.viz.Projection`:
    the drawn keys' ids and coordinates), ``meta`` and ``show`` (the metadata shown), ``height``
    (CSS pixels in the notebook).
    """

    def __init__(self, html: str, projection: Projection, *, meta: Meta | None = None,
                 show: Sequence[str] = (), height: int = HEIGHT) -> None:
        self.html = html
        self.projection = projection
        self.meta = meta
        self.show = list(show)
        self.height = int(height)
        self._widget: Any = None

    def __repr__(self) -> str:
        return f"Explorer({len(self.projection.ids):,} points, {len(self.html) / 1e6:.1f} MB page)"

    def save(self, path: str | os.PathLike) -> Path:
        """Write the page to `path` atomically (as ``embviz plot -o`` does); return the path."""
        from embviz.io import atomic_write

        data = self.html.encode("utf-8")
        return atomic_write(path, lambda f: f.write(data))

    def _repr_html_(self) -> str:
        """Return the page in an ``<iframe srcdoc>`` (the whole page, escaped into the attribute)."""
        doc = _html.escape(self.html, quote=True)
        return (f'<iframe srcdoc="{doc}" style="width:100%;height:{self.height}px;border:0" '
                'title="embviz explorer"></iframe>')

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        """Return the widget's bundle when anywidget is installed, else the iframe (``text/html``)."""
        try:
            widget = self.widget
        except MissingDependency:  # no anywidget: the page alone
            return {"text/html": self._repr_html_(), "text/plain": repr(self)}
        return widget._repr_mimebundle_(**kwargs)

    @property
    def widget(self) -> Any:
        """The anywidget showing the page, made on first use; its ``selection`` is synced.

        Raises
        ------
        MissingDependency
            If anywidget is not installed (``pip install 'embviz[notebook]'``).
        """
        if self._widget is None:
            self._widget = _widget_class()(html=self.html, height=self.height)
        return self._widget

    @property
    def selection(self) -> Any:
        """The keys selected on the map, in rank order: a pandas DataFrame.

        Columns ``key``, ``rank`` (1 = most frequent), ``x``, ``y`` (``z`` in 3D) and the shown
        metadata columns. Empty until something is selected in the widget (or without one).
        """
        pd = require("pandas", package="pandas")
        proj = self.projection
        chosen = set(self._widget.selection) if self._widget is not None else set()
        names = ("x", "y", "z")[: proj.coords.shape[1]]
        rows = [(key, int(i) + 1, *map(float, xy)) for key, i, xy in zip(proj.keys, proj.ids.tolist(), proj.coords)
                if key in chosen]
        rows.sort(key=lambda r: r[1])
        frame = pd.DataFrame(rows, columns=["key", "rank", *names])
        if self.meta is not None and self.show:
            shown = self.meta.align(list(frame["key"]), self.show)
            for column in self.show:
                frame[column] = shown[column]
        return frame


_WIDGET: Any = None


def _widget_class() -> Any:
    """Return the anywidget class (made once; anywidget imported here, not at module import)."""
    global _WIDGET
    if _WIDGET is None:
        anywidget = require("anywidget", package="'embviz[notebook]'")
        import traitlets

        class ExplorerWidget(anywidget.AnyWidget):
            """The explorer page in an iframe; ``selection``: the keys selected on the map."""

            _esm = _ESM
            html = traitlets.Unicode("").tag(sync=True)
            height = traitlets.Int(HEIGHT).tag(sync=True)
            selection = traitlets.List(traitlets.Unicode()).tag(sync=True)

        _WIDGET = ExplorerWidget
    return _WIDGET


def plot(
    vectors: Vectors,
    *,
    top: int | None = None,
    keys: Sequence[str] | None = None,
    sample: int | None = None,
    around: Sequence[str] | None = None,
    k: int = 10,
    method: str = "umap",
    dim: int = 2,
    seed: int | None = None,
    labels: int = 100,
    regions: int = 12,
    neighbors_k: int = 10,
    meta: Meta | str | os.PathLike | None = None,
    show: Sequence[str] | None = None,
    plotlyjs: str = "inline",
    height: int = HEIGHT,
) -> Explorer:
    """Draw `vectors` as an explorer page for a notebook (``embviz plot`` in Python).

    Parameters
    ----------
    vectors : Vectors
    top, keys, sample, around, k, seed
        Which points (:func:`embviz.viz.select`; default the 5,000 most frequent).
    method : {"umap", "pca", "tsne"}
    dim : {2, 3}
    labels : int
        Point labels in view, most frequent first (``--labels``), >= 0.
    regions : int
        Named regions of a 2-D map (``--regions``; :func:`embviz.viz.regions.regions`), >= 0.
    neighbors_k : int
        Exact neighbors embedded per drawn point for the panel (0: none).
    meta : Meta or path, optional
        Titles and categories (:func:`embviz.io.meta.read_meta`).
    show : sequence of str, optional
        The `meta` columns shown (default all); the first labels the map.
    plotlyjs : {"inline", "cdn"}
        Embed plotly.js (offline; about 4.7 MB) or link its CDN.
    height : int
        CSS pixels of the page in the notebook.

    Returns
    -------
    Explorer

    Raises
    ------
    InvalidQuery
        If a parameter is out of range or names no points.
    MissingDependency
        If umap-learn (``method="umap"``) or scikit-learn is missing.
    """
    from embviz.viz.explorer import neighbor_lists
    from embviz.viz.figure import figure
    from embviz.viz.figure_text import provenance
    from embviz.viz.page import to_html
    from embviz.viz.projection import project
    from embviz.viz.regions import projection_regions
    from embviz.viz.selection import select

    if plotlyjs not in ("inline", "cdn"):
        raise InvalidQuery(f"plotlyjs must be 'inline' or 'cdn' in a notebook, got {plotlyjs!r}")
    if isinstance(meta, (str, os.PathLike)):
        from embviz.io.meta import read_meta

        meta = read_meta(meta)
    shown = [] if meta is None else list(meta.columns if show is None else show)
    selection = select(vectors, top=top, keys=keys, sample=sample, around=around, k=k, seed=seed)
    proj = project(vectors, selection, method=method, dim=dim, seed=seed)
    lists = neighbor_lists(vectors, proj.ids, neighbors_k) if neighbors_k else None
    named = projection_regions(vectors, proj, regions, seed=seed, meta=meta, show=shown)
    prov = provenance(proj, source=vectors.source, fingerprint=None, selection=selection.description,
                      total=selection.total)
    fig = figure(proj, prov=prov, labels=labels, vectors=vectors, lists=lists, meta=meta if shown else None,
                 show=shown, regions=named)
    page = to_html(fig, plotlyjs=plotlyjs, title=f"embviz: {vectors.source or 'vectors'}")  # type: ignore[arg-type]
    return Explorer(page, proj, meta=meta if shown else None, show=shown, height=height)
