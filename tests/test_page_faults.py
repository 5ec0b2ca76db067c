"""The explorer page's own faults (issue 27, part 0), each tried as a new user would.

One tooltip per hover; one label per highlighted key; the neighbor panel keeps scores and
"drawn" whole with long keys and titles; no label runs past the plot area; k-means clusters
named by representative keys, not by stop-words and punctuation. Browser tests open pages
written by ``embviz plot`` in headless Chromium (Playwright), as tests/test_explorer_browser.py.
"""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest
from test_explorer_browser import Opened

from embviz.cli import app
from embviz.viz.coloring import cluster_names, kmeans

HIGHLIGHT = ["king", "queen", "year"]  # "year" is also among the 100 labelled keys


def plot(path, *args: str) -> None:
    from typer.testing import CliRunner

    r = CliRunner().invoke(app, ["plot", "-q", "-o", str(path), *args])
    assert r.exit_code == 0, r.stderr


@pytest.fixture(scope="module")
def hl_page(tmp_path_factory):
    """`plot --top 2000 --highlight king,queen,year --labels 100` (PCA, SVG points)."""
    path = tmp_path_factory.mktemp("faults") / "highlight.html"
    plot(path, "--method", "pca", "--top", "2000", "--highlight", ",".join(HIGHLIGHT),
         "--labels", "100")
    return path


LONG = "https://movies.example.org/title/{i:07d}/Willy_Wonka_and_the_Chocolate_Factory_{y}"


@pytest.fixture(scope="module")
def long_pages(tmp_path_factory):
    """Keys that are long unbreakable strings (URLs), alone and with a titles TSV (--meta)."""
    d = tmp_path_factory.mktemp("longkeys")
    rng = np.random.default_rng(2)
    n = 200
    centres = rng.standard_normal((4, 16)) * 2
    matrix = np.array([centres[i % 4] + rng.standard_normal(16) for i in range(n)])
    keys = [LONG.format(i=i, y=1950 + i % 50) for i in range(n)]
    (d / "urls.txt").write_text(
        f"{n} 16\n" + "".join(k + " " + " ".join(f"{x:.5f}" for x in row) + "\n"
                              for k, row in zip(keys, matrix))
    )
    (d / "titles.tsv").write_text(
        "key\ttitle\tgenres\n" + "".join(
            f"{k}\tWilly Wonka and the Chocolate Factory: The Extended Cut ({1950 + i % 50})"
            "\tAction|Adventure|Romance|Sci-Fi|War\n" for i, k in enumerate(keys))
    )
    plain, meta = d / "plain.html", d / "meta.html"
    plot(plain, "-v", str(d / "urls.txt"), "--method", "pca")
    plot(meta, "-v", str(d / "urls.txt"), "--meta", str(d / "titles.tsv"), "--show",
         "title,genres", "--method", "pca")
    return {"plain": plain, "meta": meta, "key": keys[0]}


def point_spot(o: Opened, role: str, p: int = 0) -> list[float]:
    """The screen position of point `p` of the first trace with meta.role `role`."""
    return o.page.evaluate(
        """([role, p]) => { const g = document.getElementById('embviz-plot');
        const t = g._fullData.find(t => (t.meta || {}).role === role);
        const xa = g._fullLayout.xaxis, ya = g._fullLayout.yaxis, r = g.getBoundingClientRect();
        return [r.left + xa._offset + xa.l2p(t.x[p]), r.top + ya._offset + ya.l2p(t.y[p])]; }""",
        [role, p],
    )


VISIBLE_TOOLTIPS = """() => {
  const shown = e => { const s = getComputedStyle(e), r = e.getBoundingClientRect();
    return s.display !== 'none' && s.visibility !== 'hidden' && parseFloat(s.opacity) > 0
      && r.width > 0 && r.height > 0; };
  const out = [...document.querySelectorAll('.hoverlayer .hovertext')].filter(shown)
    .map(e => e.textContent);
  const tip = document.getElementById('embviz-tip');
  if (shown(tip)) { out.push(tip.textContent); }
  return out; }"""


# -- 1. one tooltip ---------------------------------------------------------------------------
def test_hovering_a_point_shows_exactly_one_tooltip(browser, hl_page, tmp_path):
    o = Opened(browser, hl_page)
    try:
        for role in ("points", "highlight", "labels"):
            x, y = point_spot(o, role)
            o.page.mouse.move(x - 3, y - 3)
            o.page.mouse.move(x, y)
            o.page.wait_for_timeout(600)
            o.page.screenshot(path=str(tmp_path / f"hover-{role}.png"))
            tips = o.page.evaluate(VISIBLE_TOOLTIPS)
            assert len(tips) == 1, (role, tips)
            assert " · rank " in tips[0] and "\nnearest: " in tips[0]
            box = o.page.evaluate(
                "() => { const r = document.getElementById('embviz-tip').getBoundingClientRect();"
                " return [r.left, r.top, r.right, r.bottom]; }"
            )
            assert 0 <= box[0] and box[2] <= 1200 and 0 <= box[1] and box[3] <= 800
            o.page.mouse.move(5, 5)
            o.page.wait_for_timeout(300)
        assert o.errors == [] and o.dialogs == []
    finally:
        o.close()


# -- 2. one label per key ---------------------------------------------------------------------
DRAWN_TEXTS = """() => [...document.querySelectorAll('#embviz-plot .scatterlayer .textpoint text')]
  .filter(e => e.textContent && e.getBoundingClientRect().width > 0).map(e => e.textContent)"""


def test_each_highlighted_key_is_labelled_once(browser, hl_page):
    o = Opened(browser, hl_page)
    try:
        texts = Counter(o.page.evaluate(DRAWN_TEXTS))
        assert {k: texts[k] for k in HIGHLIGHT} == {k: 1 for k in HIGHLIGHT}
        assert [t for t, c in texts.items() if c > 1] == []
        # a highlighted key chosen: its mark and its neighbors' rings carry the text, once
        o.page.evaluate("() => window.embviz.focusKey('king')")
        o.page.wait_for_timeout(1200)
        texts = Counter(o.page.evaluate(DRAWN_TEXTS))
        assert texts["king"] == 1  # (queen may be out of view once the map zooms to king)
        assert [t for t, c in texts.items() if c > 1] == []
        o.page.keyboard.press("Escape")
        o.page.evaluate(
            "() => Plotly.relayout('embviz-plot', {'xaxis.autorange': true, 'yaxis.autorange': true})"
        )
        o.page.wait_for_timeout(1000)
        texts = Counter(o.page.evaluate(DRAWN_TEXTS))
        assert {k: texts[k] for k in HIGHLIGHT} == {k: 1 for k in HIGHLIGHT}
        assert [t for t, c in texts.items() if c > 1] == []
        assert o.errors == []
    finally:
        o.close()


# -- 3. the panel with long keys --------------------------------------------------------------
PANEL_CELLS = """() => {
  const panel = document.getElementById('embviz-panel'), pr = panel.getBoundingClientRect();
  const right = pr.left + panel.clientWidth;
  const lines = td => { const r = document.createRange(); r.selectNodeContents(td);
    const tops = new Set([...r.getClientRects()].map(x => Math.round(x.top)));
    return [tops.size, r.getBoundingClientRect().height, r.getBoundingClientRect().right]; };
  const line = parseFloat(getComputedStyle(panel).lineHeight) || 16;
  return {line: line, right: right, scroll: [panel.scrollWidth, panel.clientWidth],
    rows: [...document.querySelectorAll('#embviz-neighbors tr')].map(tr => {
      const score = tr.querySelector('td.score'), status = tr.querySelector('td.score').nextSibling;
      return {score: [score.textContent, ...lines(score)], status: [status.textContent, ...lines(status)],
        key: lines(tr.querySelector('td.key')),
        title: tr.querySelector('td.meta') ? tr.querySelector('td.meta').getBoundingClientRect().width : null};
    })}; }"""


@pytest.mark.parametrize("which", ["plain", "meta"])
def test_the_neighbor_panel_keeps_scores_and_status_on_one_visible_line(browser, long_pages, which, tmp_path):
    o = Opened(browser, long_pages[which])
    try:
        assert o.page.evaluate("k => window.embviz.focusKey(k)", long_pages["key"])
        o.page.wait_for_timeout(600)
        o.page.screenshot(path=str(tmp_path / f"panel-{which}.png"))
        got = o.page.evaluate(PANEL_CELLS)
        assert len(got["rows"]) == 10
        for row in got["rows"]:
            for text, n_lines, height, right in (row["score"], row["status"]):
                assert n_lines == 1 and height < 1.5 * got["line"], (text, n_lines, height)
                assert right <= got["right"] + 0.5, (text, right, got["right"])  # not scrolled away
            if which == "meta":
                assert row["key"][0] == 1  # a long key: one line, cut with an ellipsis
                assert row["title"] >= 120  # the title gets room to be read
        assert got["scroll"][0] <= got["scroll"][1]  # nothing runs off the panel
        assert o.errors == []
    finally:
        o.close()


# -- 4. labels inside the plot area -----------------------------------------------------------
OUTSIDE_LABELS = """() => { const g = document.getElementById('embviz-plot');
  const xa = g._fullLayout.xaxis, ya = g._fullLayout.yaxis, r = g.getBoundingClientRect();
  const L = r.left + xa._offset, T = r.top + ya._offset, R = L + xa._length, B = T + ya._length;
  const out = [];
  document.querySelectorAll('#embviz-plot .scatterlayer .textpoint text').forEach(e => {
    const b = e.getBoundingClientRect();
    if (!e.textContent || !b.width) { return; }
    if (b.right < L || b.left > R || b.bottom < T || b.top > B) { return; }  // wholly out of view
    if (b.left < L - 0.5 || b.right > R + 0.5 || b.top < T - 0.5 || b.bottom > B + 0.5) {
      out.push([e.textContent, Math.round(b.left - L), Math.round(R - b.right),
                Math.round(b.top - T), Math.round(B - b.bottom)]); }
  });
  return out; }"""


def test_no_label_runs_past_the_plot_area(browser, hl_page, tmp_path):
    o = Opened(browser, hl_page)
    try:
        assert o.page.evaluate(OUTSIDE_LABELS) == []
        full = o.page.evaluate(
            "() => { const l = document.getElementById('embviz-plot')._fullLayout;"
            " return [l.xaxis.range, l.yaxis.range]; }"
        )
        (x0, x1), (y0, y1) = full
        w, h = (x1 - x0) / 4, (y1 - y0) / 4
        # zoomed in on the middle, and with king's group at the left edge and at the top
        king = o.page.evaluate(
            "() => { const g = document.getElementById('embviz-plot');"
            " const t = g._fullData.find(t => (t.meta || {}).role === 'highlight');"
            " return [t.x[0], t.y[0]]; }"
        )
        views = [
            ((x0 + x1) / 2 - w / 2, (y0 + y1) / 2 - h / 2),
            (king[0] - w * 0.02, king[1] - h / 2),
            (king[0] - w / 2, king[1] - h * 0.98),
            (king[0] - w * 0.97, king[1] - h * 0.02),
        ]
        for v, (left, bottom) in enumerate(views):
            o.page.evaluate(
                "([x, y]) => Plotly.relayout('embviz-plot', {'xaxis.range': x, 'yaxis.range': y})",
                [[left, left + w], [bottom, bottom + h]],
            )
            o.page.wait_for_timeout(700)
            o.page.screenshot(path=str(tmp_path / f"labels-{v}.png"))
            assert o.page.evaluate(OUTSIDE_LABELS) == [], v
            if v == 1:  # the chosen point's and its neighbors' labels too
                o.page.evaluate("() => window.embviz.focusKey('king')")
                o.page.wait_for_timeout(1200)
                o.page.evaluate(
                    "([x, y]) => Plotly.relayout('embviz-plot', {'xaxis.range': x, 'yaxis.range': y})",
                    [[left, left + w], [bottom, bottom + h]],
                )
                o.page.wait_for_timeout(700)
                assert o.page.evaluate(OUTSIDE_LABELS) == []
                o.page.keyboard.press("Escape")
        shown = o.page.evaluate("() => window.embviz.labels().shown")
        assert shown > 0  # labels are still drawn, only the ones that fit
        assert o.errors == []
    finally:
        o.close()


# -- 5. cluster names -------------------------------------------------------------------------
def test_planted_clusters_are_named_by_their_central_keys_not_their_most_frequent():
    """Three planted clusters, each holding frequent generic keys near the common mean
    (punctuation and stop-words, lowest ids) and its three planted central keys."""
    rng = np.random.default_rng(0)
    dim = 24
    common = np.zeros(dim)
    common[0] = 4.0  # the direction every vector shares (GloVe's mean)
    planted = [["cat", "dog", "horse"], ["paris", "rome", "berlin"], ["red", "green", "blue"]]
    generic = [[",", "the", "of"], [".", "and", "to"], ['"', "a", "in"]]
    keys, rows, truth = [], [], []
    for c in range(3):  # the frequent generic keys first (lowest ids)
        for key in generic[c]:
            d = np.zeros(dim)
            d[1 + c] = 0.6
            keys.append(key)
            rows.append(common + d + 0.05 * rng.standard_normal(dim))
            truth.append(c)
    for c in range(3):
        for key in planted[c]:
            d = np.zeros(dim)
            d[1 + c] = 3.0
            keys.append(key)
            rows.append(common + d + 0.05 * rng.standard_normal(dim))
            truth.append(c)
        for i in range(30):
            d = np.zeros(dim)
            d[1 + c] = 3.0
            keys.append(f"w{c}_{i}")
            rows.append(common + d + 1.2 * rng.standard_normal(dim))
            truth.append(c)
    unit = np.array(rows, dtype=np.float32)
    unit /= np.linalg.norm(unit, axis=1, keepdims=True)
    ids = np.arange(len(keys))
    names = cluster_names(np.array(truth), ids, keys, unit=unit)
    want = {c: f"cluster {c + 1}: " for c in range(3)}
    for c in range(3):
        got = {names[i] for i in range(len(keys)) if truth[i] == c}
        assert len(got) == 1
        (name,) = got
        assert name.startswith(want[c]) and set(name[len(want[c]):].split(", ")) == set(planted[c])
    # the labels kmeans returns, named with the same rows
    labels = kmeans(unit, 3, seed=0)
    found = set(cluster_names(labels, ids, keys, unit=unit))
    assert {frozenset(n.split(": ")[1].split(", ")) for n in found} == {frozenset(p) for p in planted}
    # without vectors: the most frequent keys that are not punctuation alone
    assert cluster_names(np.array(truth), ids, keys)[0] == "cluster 1: the, of, cat"


@pytest.mark.parametrize(("top", "k"), [(5000, 8), (5000, 12), (5000, 24), (2000, 8), (20000, 20)])
def test_sample_clusters_are_not_named_by_stop_words_or_punctuation(sample, top, k):
    ids = np.arange(top)
    unit = np.asarray(sample.unit[:top], dtype=np.float32)
    names = set(cluster_names(kmeans(unit, k, seed=0), ids, sample.keys[:top], unit=unit))
    assert len(names) == k
    frequent = set(sample.keys[:20])
    for name in names:
        words = name.split(": ", 1)[1].split(", ")
        assert len(words) == 3
        assert not any(w in frequent for w in words), name
        assert all(any(ch.isalnum() for ch in w) for w in words), name
