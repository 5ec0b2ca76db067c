"""Maps that label themselves (issue 27, part 3): regions of a 2-D layout, named and placed.

Planted clusters get their planted names; a region's name sits at its densest point; the page
shows the coarse names at full view and the fine ones zoomed in, never overlapping, never cut,
hostile names inert. Browser tests open pages written by ``embviz plot`` in headless Chromium.
"""

from __future__ import annotations

import numpy as np
import pytest
from test_explorer_browser import Opened
from test_page_faults import OUTSIDE_LABELS, plot

from embviz.errors import InvalidQuery
from embviz.viz import regions as regions_mod
from embviz.viz.regions import Region, regions

PLANTED = [["apple", "pear", "plum"], ["paris", "rome", "oslo"], ["red", "blue", "teal"], ["cat", "dog", "cow"]]


def planted_map(per: int = 60, seed: int = 0):
    """Four blobs on the map, each a cluster in a 16-d space whose three planted keys sit at
    its centre; the frequent keys (lowest ids) are generic ones near the common mean."""
    rng = np.random.default_rng(seed)
    dim = 16
    common = np.zeros(dim)
    common[0] = 3.0
    spots = np.array([[-10, -10], [10, -10], [-10, 10], [10, 10]], dtype=float)
    keys, rows, xy = [], [], []
    for c in range(4):
        for i in range(6):  # frequent, generic: near the mean of everything
            d = np.zeros(dim)
            d[1 + c] = 0.4
            keys.append(["the", "of", ",", "and", "a", "to"][i] + ("" if c == 0 else str(c)))
            rows.append(common + d + 0.05 * rng.standard_normal(dim))
            xy.append(spots[c] + rng.standard_normal(2))
    for c in range(4):
        for key in PLANTED[c]:
            d = np.zeros(dim)
            d[1 + c] = 3.0
            keys.append(key)
            rows.append(common + d + 0.02 * rng.standard_normal(dim))
            xy.append(spots[c] + rng.standard_normal(2))
        for i in range(per):
            d = np.zeros(dim)
            d[1 + c] = 3.0
            keys.append(f"w{c}_{i}")
            rows.append(common + d + 1.0 * rng.standard_normal(dim))
            xy.append(spots[c] + rng.standard_normal(2))
    unit = np.array(rows, dtype=np.float32)
    unit /= np.linalg.norm(unit, axis=1, keepdims=True)
    return np.array(xy, dtype=np.float32), np.arange(len(keys)), keys, unit


def test_planted_regions_get_their_planted_names():
    coords, ids, keys, unit = planted_map(per=200)  # 836 points: 4 coarse, 16 fine regions
    named = regions(coords, ids, keys, unit=unit, count=4)
    coarse = [r for r in named if r.level == 0]
    assert len(coarse) == 4 and sum(r.size for r in coarse) == len(keys)
    assert {frozenset(r.name.split(", ")) for r in coarse} == {frozenset(p) for p in PLANTED}
    for r in coarse:  # each name sits in its own blob
        c = next(i for i, p in enumerate(PLANTED) if set(r.name.split(", ")) == set(p))
        assert abs(r.x - (-10 if c % 2 == 0 else 10)) < 4 and abs(r.y - (-10 if c < 2 else 10)) < 4
    fine = [r for r in named if r.level == 1]
    assert len(fine) == 16 and sum(r.size for r in fine) == len(keys)
    assert all(len(r.name.split(", ")) == 2 for r in fine)
    # without vectors: the most frequent word-like keys, as cluster_names does
    plain = [r for r in regions(coords, ids, keys, count=4) if r.level == 0]
    # (",1" has a digit: word-like; "," alone never names a region while a word can)
    assert {r.name for r in plain} == {"the, of, and", "the1, of1, ,1", "the2, of2, ,2", "the3, of3, ,3"}


def test_a_name_sits_at_the_densest_point_not_the_centroid():
    rng = np.random.default_rng(1)
    spread = rng.uniform(-10, 10, size=(300, 2))
    tight = np.array([7.0, 7.0]) + 0.2 * rng.standard_normal((200, 2))
    points = np.vstack([spread, tight])
    at = points[regions_mod._densest(points)]
    assert np.hypot(*(at - [7, 7])) < 1.0
    assert np.hypot(*(points.mean(axis=0) - [7, 7])) > 2  # where the centroid would have put it


def test_region_counts_follow_the_map_size():
    coords, ids, keys, unit = planted_map(per=10)  # 4 x 19 = 76 points: one region's worth
    assert regions(coords, ids, keys, unit=unit, count=12) == []
    coords, ids, keys, unit = planted_map(per=60)  # 276 points: at most 276 // 40 = 6
    named = regions(coords, ids, keys, unit=unit, count=12)
    assert [sum(r.level == lv for r in named) for lv in (0, 1)] == [6, 6]
    assert regions(coords, ids, keys, unit=unit, count=0) == []
    with pytest.raises(InvalidQuery, match="--regions must be >= 0, got -1"):
        regions(coords, ids, keys, count=-1)
    with pytest.raises(InvalidQuery, match="2-D layout"):
        regions(np.zeros((300, 3)), ids, keys)


def test_long_names_are_cut():
    assert regions_mod._short("x" * 40) == "x" * 23 + "\u2026"
    assert regions_mod._short("short title") == "short title"
    # a region of long movie titles is named by the titles that fit in 40 characters (seen on
    # the MovieLens map served with --meta: three titles spanning half the map)
    titles = ["Blue Angel, The (Blaue Engel, Der) (1930)", "My Man Godfrey (1936)", "Laura (1944)"]
    assert regions_mod._name(titles) == "Blue Angel, The (Blaue\u2026"
    assert regions_mod._name(["Laura (1944)", "My Man Godfrey (1936)", "Gilda (1946)"]) == (
        "Laura (1944), My Man Godfrey (1936)")
    assert regions_mod._name(["king", "queen", "prince"]) == "king, queen, prince"


def test_names_of_long_titles_fit_in_forty_characters():
    coords, ids, keys, unit = planted_map(per=200)
    long_keys = [k if not k.startswith("w") else f"{k} and a long movie title of a kind (1999)" for k in keys]
    named = regions(coords, ids, long_keys, unit=unit, count=4)
    assert named and max(len(r.name) for r in named) <= regions_mod.NAME_CHARS


def _regions_trace(o: Opened) -> dict:
    return o.page.evaluate(
        """() => { const g = document.getElementById('embviz-plot');
        const t = g._fullData.find(t => (t.meta || {}).role === 'regions');
        return t ? {n: t.x.length, text: Array.from(t.text)} : null; }""")


OVERLAPS = """() => { const boxes = [];
  document.querySelectorAll('#embviz-plot .scatterlayer .textpoint text').forEach(e => {
    const b = e.getBoundingClientRect();
    if (e.textContent && b.width) { boxes.push([e.textContent, b.left, b.top, b.right, b.bottom]); } });
  const out = [];
  for (let i = 0; i < boxes.length; i++) { for (let j = i + 1; j < boxes.length; j++) {
    const a = boxes[i], b = boxes[j];
    const w = Math.min(a[3], b[3]) - Math.max(a[1], b[1]), h = Math.min(a[4], b[4]) - Math.max(a[2], b[2]);
    if (w > 1 && h > 1) { out.push([a[0], b[0]]); } } }
  return out; }"""


@pytest.fixture(scope="module")
def region_page(tmp_path_factory):
    """`plot --method pca --top 5000` on the bundled sample: the default 12 regions."""
    path = tmp_path_factory.mktemp("regions") / "regions.html"
    plot(path, "--method", "pca", "--top", "5000")
    return path


def test_the_page_names_coarse_regions_then_finer_ones_on_zoom(browser, region_page, sample, tmp_path):
    o = Opened(browser, region_page)
    try:
        state = o.page.evaluate("() => window.embviz.regions()")
        assert state["level"] == 0 and 4 <= len(state["shown"]) <= 12, state
        trace = _regions_trace(o)
        assert trace["n"] == len(state["shown"]) and trace["text"] == state["shown"]  # (no entities here)
        frequent = set(sample.keys[:20])  # "the", ",", "of": never a region's name
        for name in state["shown"]:
            words = name.split(", ")
            assert len(words) == 3 and not frequent & set(words), name
        assert o.page.evaluate(OVERLAPS) == []
        assert o.page.evaluate(OUTSIDE_LABELS) == []
        o.page.screenshot(path=str(tmp_path / "regions-full.png"))
        (x0, x1), (y0, y1) = o.page.evaluate(
            "() => { const l = document.getElementById('embviz-plot')._fullLayout;"
            " return [l.xaxis.range, l.yaxis.range]; }")
        w, h = (x1 - x0) / 2.5, (y1 - y0) / 2.5  # an area factor of 6.25 >= FINE_ZOOM
        cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
        o.page.evaluate("([x, y]) => Plotly.relayout('embviz-plot', {'xaxis.range': x, 'yaxis.range': y})",
                        [[cx - w / 2, cx + w / 2], [cy - h / 2, cy + h / 2]])
        o.page.wait_for_timeout(700)
        zoomed = o.page.evaluate("() => window.embviz.regions()")
        assert zoomed["level"] == 1 and zoomed["shown"], zoomed
        assert all(len(n.split(", ")) == 2 for n in zoomed["shown"])
        assert o.page.evaluate(OVERLAPS) == []
        assert o.page.evaluate(OUTSIDE_LABELS) == []
        o.page.screenshot(path=str(tmp_path / "regions-zoomed.png"))
        o.page.evaluate("([x, y]) => Plotly.relayout('embviz-plot', {'xaxis.range': x, 'yaxis.range': y})",
                        [[x0, x1], [y0, y1]])
        o.page.wait_for_timeout(700)
        assert o.page.evaluate("() => window.embviz.regions()") == state
        # hidden from the legend: no names, and the point labels take the room they left
        labels = o.page.evaluate("() => window.embviz.labels().shown")
        o.page.click(".legend .traces:has-text('regions (12)') .legendtoggle")
        o.page.wait_for_timeout(700)
        assert o.page.evaluate("() => window.embviz.regions().shown") == []
        assert o.page.evaluate("() => window.embviz.labels().shown") > labels
        o.page.click(".legend .traces:has-text('regions (12)') .legendtoggle")
        o.page.wait_for_timeout(700)
        assert o.page.evaluate("() => window.embviz.regions()") == state
        assert o.errors == []
    finally:
        o.close()


def test_hostile_keys_name_regions_inertly(browser, tmp_path):
    rng = np.random.default_rng(3)
    hostile = ['<img src=x onerror="alert(1)">', "</script><script>alert(2)</script>", "&amp;%{x}", "<b>bold</b>"]
    rows, keys = [], []
    for c in range(4):
        centre = np.zeros(8)
        centre[c] = 4.0
        keys.append(hostile[c])
        rows.append(centre)
        for i in range(60):
            keys.append(f"k{c}_{i}")
            rows.append(centre + rng.standard_normal(8))
    src = tmp_path / "hostile.txt"
    src.write_text(f"{len(keys)} 8\n" + "".join(
        k.replace(" ", "_") + " " + " ".join(f"{x:.4f}" for x in r) + "\n" for k, r in zip(keys, rows)))
    page = tmp_path / "hostile.html"
    plot(page, "-v", str(src), "--method", "pca", "--regions", "4", "--labels", "0")
    o = Opened(browser, page)
    try:
        shown = o.page.evaluate("() => window.embviz.regions().shown")
        texts = o.page.evaluate(
            """() => [...document.querySelectorAll('#embviz-plot .scatterlayer .textpoint text')]
                 .map(e => e.textContent).filter(t => t)""")
        from embviz.viz.regions import _short

        named = [_short(k.replace(" ", "_")) for k in hostile]  # keys over 24 characters end in an ellipsis
        # each region is named first by its centre key, drawn as literal text (names that
        # would overlap are left out: long keys here)
        assert shown and all(any(name.startswith(n + ", ") for n in named) for name in shown), shown
        assert sorted(t for t in texts if t in shown) == sorted(shown), texts
        assert o.page.evaluate("() => document.querySelectorAll('#embviz-plot img, #embviz-plot b').length") == 0
        assert o.dialogs == [] and o.errors == []
    finally:
        o.close()


def test_3d_maps_and_regions_0_have_no_region_trace(tmp_path, sample):
    from embviz.viz import figure
    from embviz.viz.projection import Projection

    ids = np.arange(400)
    coords3 = np.asarray(sample.unit[:400, :3], dtype=np.float32)
    named = [Region(0, 0.0, 0.0, "a, b, c", 400)]
    fig = figure(Projection(coords3, ids, tuple(sample.keys[:400]), "pca", {}, 0), regions=named)
    assert not any(t["meta"]["role"] == "regions" for t in fig["data"])
    assert "regions" not in fig["embviz_data"]
    fig2 = figure(Projection(coords3[:, :2].copy(), ids, tuple(sample.keys[:400]), "pca", {}, 0), regions=named)
    (trace,) = [t for t in fig2["data"] if t["meta"]["role"] == "regions"]
    assert trace["text"] == ["a, b, c"] and fig2["embviz_data"]["regions"]["level"] == [0]
    page = tmp_path / "none.html"
    plot(page, "--method", "pca", "--top", "2000", "--regions", "0")
    assert '"role":"regions"' not in page.read_text().replace(" ", "")
