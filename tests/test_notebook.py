"""The explorer in a notebook (issue 27, part 2): embviz.plot, its widget and the selection back in Python.

The widget's front end runs for real in headless Chromium: a page loads the widget's ESM with
a stand-in for anywidget's model (get / set / save_changes), the explorer page runs in its
iframe, a selection made there reaches the model.
"""

from __future__ import annotations

import html
import json

import numpy as np
import pytest
from test_explorer_browser import Opened

import embviz
from embviz.errors import InvalidQuery, MissingDependency
from embviz.viz import notebook


@pytest.fixture(scope="module")
def explorer(sample):
    return embviz.plot(sample, top=2500, method="pca", neighbors_k=5, regions=4)  # king 692nd, queen 2,061st


def test_plot_returns_the_page_plot_writes(explorer, sample, tmp_path):
    assert isinstance(explorer, notebook.Explorer)
    assert list(explorer.projection.keys) == list(sample.keys[:2500])
    assert 'id="embviz-plot"' in explorer.html and "window.embviz" in explorer.html
    saved = explorer.save(tmp_path / "page.html")
    assert saved.read_text(encoding="utf-8") == explorer.html
    assert repr(explorer).startswith("Explorer(2,500 points, ")


def test_the_iframe_holds_the_whole_page_escaped(explorer):
    frame = explorer._repr_html_()
    assert frame.startswith('<iframe srcdoc="') and frame.endswith("</iframe>")
    doc = frame[len('<iframe srcdoc="'): frame.index('" style=')]
    assert '"' not in doc and "<" not in doc  # nothing of the page escapes the attribute
    assert html.unescape(doc) == explorer.html


def test_the_widget_carries_the_page_and_syncs_the_selection(explorer, sample):
    bundle = explorer._repr_mimebundle_()
    data = bundle[0] if isinstance(bundle, tuple) else bundle  # ipywidgets: (data, metadata)
    assert data["application/vnd.jupyter.widget-view+json"]["model_id"] == explorer.widget.model_id
    w = explorer.widget
    assert w.html == explorer.html and w.height == notebook.HEIGHT and w.selection == []
    assert list(explorer.selection.columns) == ["key", "rank", "x", "y"] and explorer.selection.empty
    w.selection = ["king", "the", "not-drawn-key", sample.keys[5000]]  # what the page posts
    got = explorer.selection
    assert got["key"].tolist() == ["the", "king"]  # drawn keys only, in rank order
    assert got["rank"].tolist() == [sample.keys.index("the") + 1, sample.keys.index("king") + 1]
    j = list(explorer.projection.keys).index("king")
    np.testing.assert_allclose(got.loc[1, ["x", "y"]].to_numpy(dtype=float), explorer.projection.coords[j])


def test_without_anywidget_the_page_shows_alone(sample, monkeypatch):
    def missing(name, package=None):
        raise MissingDependency(f"{name} is not installed: pip install {package}")

    monkeypatch.setattr(notebook, "require", missing)
    monkeypatch.setattr(notebook, "_WIDGET", None)
    e = notebook.Explorer("<p>page</p>", embviz.plot(sample, top=100, method="pca", neighbors_k=0).projection)
    bundle = e._repr_mimebundle_()
    assert set(bundle) == {"text/html", "text/plain"} and bundle["text/html"] == e._repr_html_()
    with pytest.raises(MissingDependency, match="pip install 'embviz\\[notebook\\]'"):
        e.widget  # noqa: B018


def test_meta_columns_come_with_the_selection(sample, tmp_path):
    meta = tmp_path / "meta.tsv"
    meta.write_text("key\ttopic\nking\troyalty\nqueen\troyalty\nthe\tfunction word\n", encoding="utf-8")
    e = embviz.plot(sample, top=2500, method="pca", neighbors_k=0, meta=meta, show=["topic"])
    e.widget.selection = ["queen", "king", "of"]
    got = e.selection
    assert got["key"].tolist() == ["of", "king", "queen"]
    assert got["topic"].isna().tolist() == [True, False, False]  # pandas' missing value: no row in the table
    assert got["topic"].tolist()[1:] == ["royalty", "royalty"]


def test_bad_plotlyjs_is_one_clear_error(sample):
    with pytest.raises(InvalidQuery, match="plotlyjs must be 'inline' or 'cdn'"):
        embviz.plot(sample, top=100, method="pca", plotlyjs="directory")


HARNESS = """<!doctype html><html><body><div id="out"></div>
<script type="module">
const page = %s;
const listeners = {};
window.__sets = []; window.__saves = 0;
const model = {
  get: (name) => ({html: page, height: 500, selection: []})[name],
  set: (name, value) => { window.__sets.push([name, value]); },
  save_changes: () => { window.__saves += 1; },
  on: (e, f) => { listeners[e] = f; }, off: () => {},
};
const url = URL.createObjectURL(new Blob([%s], {type: "text/javascript"}));
const mod = await import(url);
window.__cleanup = mod.default.render({model, el: document.getElementById("out")});
window.__rendered = true;
</script></body></html>"""


def test_a_selection_in_the_page_reaches_the_widget_model(browser, explorer, tmp_path):
    harness = tmp_path / "harness.html"
    harness.write_text(HARNESS % (json.dumps(explorer.html).replace("</", "<\\/"),
                                  json.dumps(notebook._ESM).replace("</", "<\\/")), encoding="utf-8")
    context = browser.new_context(viewport={"width": 1200, "height": 700})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    try:
        page.goto(harness.resolve().as_uri())
        page.wait_for_function("() => window.__rendered === true", timeout=30_000)
        frame = next(f for f in page.frames if f != page.main_frame)
        frame.wait_for_function("() => window.embviz && window.embviz.ready", timeout=60_000)
        assert page.evaluate("() => document.querySelector('#out iframe').style.height") == "500px"
        assert frame.evaluate("() => window.embviz.selectKeys(['queen', 'king', 'the'])") == 3
        page.wait_for_function("() => window.__sets.length > 0", timeout=10_000)
        assert page.evaluate("() => window.__sets") == [["selection", ["the", "king", "queen"]]]
        assert page.evaluate("() => window.__saves") == 1
        frame.evaluate("() => window.embviz.selectKeys([])")
        page.wait_for_function("() => window.__sets.length > 1", timeout=10_000)
        assert page.evaluate("() => window.__sets[1]") == ["selection", []]
        assert errors == []
    finally:
        context.close()


def test_a_page_outside_an_iframe_posts_nothing(browser, explorer, tmp_path):
    path = explorer.save(tmp_path / "alone.html")
    o = Opened(browser, path)
    try:
        o.page.evaluate("() => { window.__posted = 0; window.addEventListener('message', () => { window.__posted++; }); }")
        o.page.evaluate("() => window.embviz.selectKeys(['king'])")
        o.page.wait_for_timeout(300)
        assert o.page.evaluate("() => window.__posted") == 0 and o.errors == []
    finally:
        o.close()


# -- faults seen in the JupyterLab screenshots (bench/notebook_screenshots.py) ------------------
def test_in_a_narrow_output_area_the_title_stays_clear_of_the_toolbar_and_the_panel(browser, explorer, tmp_path):
    """A notebook's output area is narrower than a browser tab: the title ran under plotly's toolbar and was cut."""
    path = explorer.save(tmp_path / "narrow.html")
    context = browser.new_context(viewport={"width": 1600, "height": 700})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    try:
        page.goto(path.resolve().as_uri())
        page.wait_for_function("() => window.embviz && window.embviz.ready", timeout=60_000)
        page.wait_for_timeout(500)
        full = page.evaluate("() => document.getElementById('embviz-plot').layout.title.text")

        def title() -> tuple[list[float], list[float], list[float], int, str]:
            return page.evaluate(
                """() => { const g = document.getElementById('embviz-plot');
                const r = e => { const b = e.getBoundingClientRect(); return [b.left, b.right]; };
                return [r(g.querySelector('.gtitle')), r(g.querySelector('.modebar')), r(g),
                        g._fullLayout.title.font.size, g.querySelector('.gtitle').textContent]; }""")

        # the page refits its title after a resize: wait for that (a fixed pause failed on a loaded CI machine)
        fits = """([want, full]) => { const g = document.getElementById('embviz-plot');
            const t = g.querySelector('.gtitle'), m = g.querySelector('.modebar');
            if (!t || !m || !g._fullLayout) return false;
            const size = g._fullLayout.title.font.size, text = t.textContent;
            const clear = t.getBoundingClientRect().right <= m.getBoundingClientRect().left;
            if (want === 'smaller') return clear && size < 14 && text === full;
            if (want === 'cut') return clear && size === 9 && text.endsWith('\u2026');
            return size === 14 && text === full; }"""
        for width in (1000, 760):  # smaller; too narrow even at 9 px: cut with an ellipsis
            page.set_viewport_size({"width": width, "height": 700})
            page.wait_for_function(fits, arg=["smaller" if width == 1000 else "cut", full], timeout=15_000)
            box, bar, plot, size, text = title()
            assert box[1] <= bar[0] and box[1] <= plot[1], (width, box, bar, plot)
            if width == 1000:
                assert 9 <= size < 14 and text == full
            else:
                assert size == 9 and text.endswith("\u2026") and full.startswith(text[:-1])
        # a wide window: the title gets its own size and text back
        page.set_viewport_size({"width": 1600, "height": 700})
        page.wait_for_function(fits, arg=["wide", full], timeout=15_000)
        assert title()[3:] == [14, full]
        assert errors == []
    finally:
        context.close()


def test_a_notebook_page_s_footer_says_no_fingerprint_rather_than_a_question_mark(browser, explorer, tmp_path):
    o = Opened(browser, explorer.save(tmp_path / "footer.html"))
    try:
        footer = o.page.evaluate(
            "() => [...document.querySelectorAll('.annotation-text')].map(e => e.textContent)"
            ".find(t => t.startsWith('embviz '))")
        assert footer.startswith("embviz ") and "glove.6B.50d.40k.txt.gz · selection: top 2,500" in footer
        assert "fingerprint" not in footer
    finally:
        o.close()


def test_after_a_box_selection_the_tooltip_goes_when_the_mouse_leaves_the_map(browser, explorer, tmp_path):
    """Seen in JupyterLab: after a box drag, the tooltip of the last point stayed over the map."""
    o = Opened(browser, explorer.save(tmp_path / "tip.html"))
    page = o.page
    try:
        x, y = page.evaluate(
            """() => { const g = document.getElementById('embviz-plot');
            const t = g._fullData.find(t => (t.meta || {}).role === 'points');
            const j = Array.from(t.customdata).indexOf(window.embviz.search('king')[0][1]);
            const xa = g._fullLayout.xaxis, ya = g._fullLayout.yaxis, r = g.getBoundingClientRect();
            return [r.left + xa._offset + xa.l2p(t.x[j]), r.top + ya._offset + ya.l2p(t.y[j])]; }""")
        page.hover("#embviz-plot")
        page.click('.modebar-btn[data-val="select"]')
        page.mouse.move(x - 60, y - 40)
        page.mouse.down()
        page.mouse.move(x, y, steps=5)
        page.mouse.move(x + 60, y + 40, steps=5)
        page.mouse.up()
        page.wait_for_function("() => window.embviz.state().selected > 0", timeout=10_000)
        page.wait_for_timeout(500)
        page.mouse.move(1100, 700)  # onto the panel
        page.wait_for_timeout(500)
        assert page.evaluate("() => getComputedStyle(document.getElementById('embviz-tip')).display") == "none"
        assert o.errors == []
    finally:
        o.close()
