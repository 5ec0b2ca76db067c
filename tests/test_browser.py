"""Open generated plots in a real headless Chromium (Debian ``chromium``, driven by Playwright).

Checks that the page renders the expected number of points with no JavaScript error, that the
hover shows a key and its rank, and that keys written as markup run nothing and show as text.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from embviz import viz as P
from embviz import viz as PL
from embviz.vectors import Vectors

pytestmark = pytest.mark.browser

EVIL = [
    "<img src=x onerror=alert(1)>",
    '<img src=x onerror="window.__xss=1">',
    "</script><script>window.__xss=2</script>",
    "<script>window.__xss=3</script>",
    "AT&T",
]


def open_plot(browser, path: Path, screenshot: Path | None = None) -> dict:
    """Load `path`; return rendered trace sizes, errors, dialogs and the page object's state."""
    page = browser.new_page(viewport={"width": 1100, "height": 750})
    errors: list[str] = []
    dialogs: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)

    def on_dialog(d) -> None:
        dialogs.append(d.message)
        d.dismiss()

    page.on("dialog", on_dialog)
    page.goto(path.resolve().as_uri())
    page.wait_for_function(
        "() => { const g = document.querySelector('.js-plotly-plot');"
        " return g && g._fullData && g._fullData.length > 0; }",
        timeout=60_000,
    )
    page.wait_for_timeout(500)
    state = page.evaluate(
        """() => {
        const g = document.querySelector('.js-plotly-plot');
        return {
          traces: g._fullData.map(t => ({type: t.type, role: (t.meta || {}).role, n: t.x.length})),
          xss: window.__xss === undefined ? null : String(window.__xss),
          texts: [...document.querySelectorAll('.textpoint text')].map(e => e.textContent),
          imgs: document.querySelectorAll('img').length,
          title: (document.querySelector('.gtitle') || {}).textContent || '',
        };
    }"""
    )
    state["page"] = page
    if screenshot is not None:
        page.screenshot(path=str(screenshot))
    state["errors"], state["dialogs"] = errors, dialogs
    return state


def hover_text(page, curve: int, point: int) -> str:
    """Move the mouse onto a point (as a user would) and return the hover label's text."""
    x, y = page.evaluate(
        f"""() => {{
        const g = document.querySelector('.js-plotly-plot');
        const t = g._fullData[{curve}], xa = g._fullLayout.xaxis, ya = g._fullLayout.yaxis;
        const r = g.getBoundingClientRect();
        return [r.left + xa._offset + xa.l2p(t.x[{point}]), r.top + ya._offset + ya.l2p(t.y[{point}])];
    }}"""
    )
    page.mouse.move(x - 3, y - 3)
    page.mouse.move(x, y)
    page.wait_for_timeout(500)
    return page.evaluate("() => document.querySelector('.hoverlayer').textContent")


def test_malicious_keys_show_as_text_and_run_nothing(browser, tmp_path):
    rng = np.random.default_rng(0)
    keys = EVIL + [f"w{i}" for i in range(60 - len(EVIL))]
    v = Vectors(
        keys,
        rng.standard_normal((60, 8)).astype(np.float32),
        source="<img src=x onerror=alert(9)>.txt",
    )
    proj = P.project(v, np.arange(60), method="pca")
    prov = PL.provenance(proj, source=v.source, fingerprint="f", selection="all", total=60)
    fig = PL.figure(proj, prov=prov, labels=len(EVIL), highlight={EVIL[0]: np.array([0, 1])})
    html = PL.write_html(fig, tmp_path / "evil.html")
    state = open_plot(browser, html)
    assert state["errors"] == [] and state["dialogs"] == [] and state["xss"] is None
    assert state["imgs"] == 0
    assert sum(t["n"] for t in state["traces"] if t["role"] == "points") == 60
    # labels are drawn literally, as text; the page hides the ones that would overlap (it
    # thins labels by rank in screen space), so every shown label is a key and the label
    # trace holds them all
    shown = [t for t in state["texts"] if t]
    assert shown and set(shown) <= set(keys)
    assert EVIL[0] in shown  # rank 1 always wins
    held = state["page"].evaluate(
        "() => document.getElementById('embviz-plot')._fullData"
        ".find(t => (t.meta || {}).role === 'labels').text.length"
    )
    assert held == len(EVIL)
    assert "<img src=x onerror=alert(9)>.txt" in state["title"]
    text = hover_text(state["page"], 0, 0)
    assert EVIL[0] in text and "rank 1" in text
    assert state["dialogs"] == [] and state["page"].evaluate("() => window.__xss === undefined")


def test_a_webgl_plot_of_the_sample_renders_every_point(browser, sample, tmp_path):
    s = P.select(sample, top=20_000, around=["king"])
    proj = P.project(sample, s, method="pca")
    prov = PL.provenance(
        proj, source="sample", fingerprint="f", selection=s.description, total=s.total
    )
    fig = PL.figure(proj, prov=prov, labels=50, highlight={"king": s.groups["around king"]})
    html = PL.write_html(fig, tmp_path / "big.html")
    state = open_plot(browser, html, screenshot=tmp_path / "big.png")
    assert state["errors"] == [] and state["dialogs"] == []
    points = [t for t in state["traces"] if t["role"] == "points"]
    assert [t["type"] for t in points] == ["scattergl"] and points[0]["n"] == 20_000
    assert [t["n"] for t in state["traces"] if t["role"] == "labels"] == [50]
    assert [t["n"] for t in state["traces"] if t["role"] == "highlight"] == [11]
    assert "20,000 of 40,000 points" in state["title"]
    text = hover_text(state["page"], 0, 1)
    assert "," in text and "rank 2" in text
    assert (tmp_path / "big.png").stat().st_size > 10_000


def test_a_3d_plot_renders(browser, sample, tmp_path):
    proj = P.project(sample, P.select(sample, top=2_000), method="pca", dim=3)
    html = PL.write_html(PL.figure(proj, labels=20), tmp_path / "three.html")
    state = open_plot(browser, html)
    assert [e for e in state["errors"] if "WebGL" not in e] == []
    points = [t for t in state["traces"] if t["role"] == "points"]
    assert [t["type"] for t in points] == ["scatter3d"] and points[0]["n"] == 2_000
