"""The explorer in a real headless Chromium (Debian ``chromium``, driven by Playwright).

Pages are written by ``embviz plot`` (CliRunner, the bundled sample, plotly.js inline so they
work offline); a user's actions are real key presses, clicks and drags.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from embviz import viz as P
from embviz.cli import app
from embviz.vectors import Vectors
from embviz.viz import explorer

pytestmark = pytest.mark.browser



@pytest.fixture(scope="module")
def pages(tmp_path_factory):
    """Pages written by the CLI: 2D (2,000 points), 3D, and 2D with neighbor lists off."""
    from typer.testing import CliRunner

    runner = CliRunner()
    d = tmp_path_factory.mktemp("explorer")
    out = {}
    for name, extra in {
        "2d": [],
        "3d": ["--dim", "3"],
        "off": ["--neighbors-k", "0"],
    }.items():
        path = d / f"{name}.html"
        r = runner.invoke(
            app, ["plot", "--method", "pca", "--top", "2000", "-q", "-o", str(path), *extra]
        )
        assert r.exit_code == 0, r.stderr
        out[name] = path
    return out


class Opened:
    def __init__(self, browser, path: Path, fragment: str = "", accept_downloads: bool = False):
        self.context = browser.new_context(
            viewport={"width": 1200, "height": 800}, accept_downloads=accept_downloads
        )
        self.page = self.context.new_page()
        self.errors: list[str] = []
        self.dialogs: list[str] = []
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.on(
            "console", lambda m: self.errors.append(m.text) if m.type == "error" else None
        )

        def on_dialog(d) -> None:
            self.dialogs.append(d.message)
            d.dismiss()

        self.page.on("dialog", on_dialog)
        self.page.goto(path.resolve().as_uri() + fragment)
        self.page.wait_for_function("() => window.embviz && window.embviz.ready", timeout=60_000)
        self.page.wait_for_timeout(300)

    def panel_neighbors(self) -> list[tuple[str, str, str]]:
        return self.page.evaluate(
            """() => [...document.querySelectorAll('#embviz-neighbors tr')].map(tr =>
                [tr.querySelector('.key').textContent, tr.querySelector('.score').textContent,
                 tr.lastChild.textContent])"""
        )

    def focus_key(self) -> str | None:
        return self.page.evaluate(
            "() => { const h = document.getElementById('embviz-focus-key');"
            " return h ? h.textContent : null; }"
        )

    def trace(self, role: str) -> dict:
        return self.page.evaluate(
            f"""() => {{ const g = document.getElementById('embviz-plot');
            const t = g._fullData.find(t => (t.meta || {{}}).role === '{role}');
            return {{x: Array.from(t.x || []), y: Array.from(t.y || []),
                     z: Array.from(t.z || []), text: Array.from(t.text || [])}}; }}"""
        )

    def search(self, text: str) -> list[str]:
        self.page.fill("#embviz-search", text)
        self.page.wait_for_function(
            "() => document.getElementById('embviz-found').textContent !== ''", timeout=5_000
        )
        self.page.wait_for_timeout(150)
        return self.page.evaluate(
            "() => [...document.querySelectorAll('#embviz-matches > div')].map(d => d.textContent)"
        )

    def close(self) -> None:
        self.context.close()


def cli_neighbors(key: str, k: int = 10) -> list[tuple[str, str]]:
    """`embviz neighbors KEY -k K -f tsv` (keys) and its scores to 4 decimals."""
    from typer.testing import CliRunner

    r = CliRunner().invoke(app, ["neighbors", "-k", str(k), "-f", "tsv", "--", key])
    assert r.exit_code == 0, r.stderr
    rows = [line.split("\t") for line in r.stdout.splitlines()[1:]]
    return [(row[2], f"{float(row[3]):.4f}") for row in rows]


def test_search_marks_a_key_zooms_to_it_and_opens_its_panel(browser, pages):
    o = Opened(browser, pages["2d"])
    full = o.page.evaluate("() => document.getElementById('embviz-plot')._fullLayout.xaxis.range")
    matches = o.search("paris")
    assert matches[0] == "paris  rank 1,036"
    assert all("not in this plot" in m for m in matches[1:]) and len(matches) == 6
    o.page.keyboard.press("Enter")
    o.page.wait_for_function("() => document.getElementById('embviz-focus-key')")
    assert o.focus_key() == "paris"
    assert [(k, s) for k, s, _ in o.panel_neighbors()] == cli_neighbors("paris")
    o.page.wait_for_timeout(800)
    mark = o.trace("mark")
    assert mark["text"] == ["paris"] and len(mark["x"]) == 1
    zoomed = o.page.evaluate("() => document.getElementById('embviz-plot')._fullLayout.xaxis.range")
    assert zoomed[1] - zoomed[0] < (full[1] - full[0]) / 4  # zoomed in ...
    assert zoomed[0] < mark["x"][0] < zoomed[1]  # ... and centred on it
    assert o.page.evaluate("() => location.hash") == "#key=paris"
    # a key in the file but not drawn says so
    o.search("parisian")
    o.page.keyboard.press("Enter")
    why = o.page.evaluate("() => document.querySelector('.embviz-why').textContent")
    assert why == "rank 21,683 · in the file, not in this plot: re-plot with --around parisian"
    # a regex, at most 100 matches, ranked
    got = o.search("/^[0-9]+$/")
    from embviz import load, sample_path

    v = load(sample_path())
    numbers = [(k, i + 1) for i, k in enumerate(v.keys) if k.isascii() and k.isdigit()][:100]
    assert got == [f"{k}  rank {r:,}" + ("" if r <= 2000 else "  · not in this plot") for k, r in numbers]
    assert o.errors == [] and o.dialogs == []
    o.close()


def click_somewhere(o: Opened, spots) -> str:
    """Click (a real mouse click) at candidate spots until one opens a point's panel."""
    for x, y in spots:
        o.page.mouse.move(x - 2, y - 2)
        o.page.mouse.move(x, y)
        o.page.wait_for_timeout(600)
        o.page.mouse.click(x, y)
        try:
            o.page.wait_for_function(
                "() => document.getElementById('embviz-focus-key')", timeout=5_000
            )
            return o.focus_key()
        except Exception:  # noqa: BLE001 - nothing under the mouse there; try the next spot
            continue
    raise AssertionError("no click opened a panel")


def test_clicking_a_point_shows_exactly_what_embviz_neighbors_prints(browser, pages):
    o = Opened(browser, pages["2d"])
    spots = o.page.evaluate(
        """() => { const g = document.getElementById('embviz-plot');
        const t = g._fullData.find(t => (t.meta || {}).role === 'points');
        const xa = g._fullLayout.xaxis, ya = g._fullLayout.yaxis, r = g.getBoundingClientRect();
        return [100, 700, 1500, 300, 1900].map(p => [r.left + xa._offset + xa.l2p(t.x[p]),
                                          r.top + ya._offset + ya.l2p(t.y[p])]); }"""
    )
    key = click_somewhere(o, spots)
    shown = o.panel_neighbors()
    assert len(shown) == 10
    assert [(k, s) for k, s, _ in shown] == cli_neighbors(key)
    # "drawn" marks: exactly the neighbors among the 2,000 most frequent keys
    from embviz import load, sample_path

    v = load(sample_path())
    assert [d for _, _, d in shown] == [
        "drawn" if v.key_to_index[k] < 2000 else "not drawn" for k, _, _ in shown
    ]
    o.page.wait_for_timeout(800)
    rings = o.trace("nbrs")
    assert sorted(rings["text"]) == sorted(k for k, _, d in shown if d == "drawn")
    # clicking a drawn neighbor in the panel moves to it
    row = next(i for i, (_, _, d) in enumerate(shown) if d == "drawn")
    o.page.click(f"#embviz-neighbors tr:nth-child({row + 1})")
    assert o.focus_key() == shown[row][0]
    assert o.errors == [] and o.dialogs == []
    o.close()


def test_a_box_selection_downloads_exactly_the_keys_inside(browser, pages, tmp_path):
    o = Opened(browser, pages["2d"], accept_downloads=True)
    o.page.evaluate("() => Plotly.relayout('embviz-plot', {dragmode: 'select'})")
    o.page.wait_for_timeout(300)
    box = o.page.evaluate(
        """() => { const g = document.getElementById('embviz-plot');
        const xa = g._fullLayout.xaxis, ya = g._fullLayout.yaxis, r = g.getBoundingClientRect();
        const x0 = xa._offset + xa._length * 0.45, x1 = xa._offset + xa._length * 0.62;
        const y0 = ya._offset + ya._length * 0.40, y1 = ya._offset + ya._length * 0.58;
        return {px: [r.left + x0, r.top + y0, r.left + x1, r.top + y1],
                data: [xa.p2l(x0 - xa._offset), xa.p2l(x1 - xa._offset),
                       ya.p2l(y1 - ya._offset), ya.p2l(y0 - ya._offset)]}; }"""
    )
    x0, y0, x1, y1 = box["px"]
    o.page.mouse.move(x0, y0)
    o.page.mouse.down()
    o.page.mouse.move((x0 + x1) / 2, (y0 + y1) / 2, steps=5)
    o.page.mouse.move(x1, y1, steps=5)
    o.page.mouse.up()
    o.page.wait_for_function("() => document.getElementById('embviz-sel-size')", timeout=10_000)
    with o.page.expect_download() as dl:
        o.page.click("text=Download TSV")
    path = tmp_path / "sel.tsv"
    dl.value.save_as(path)
    lines = path.read_text(encoding="utf-8").splitlines()
    assert lines[0] == "key\trank\tx\ty"
    got = [line.split("\t") for line in lines[1:]]
    # the keys inside the box, from the page's own coordinates
    pts = o.page.evaluate(
        """() => { const g = document.getElementById('embviz-plot');
        const t = g._fullData.find(t => (t.meta || {}).role === 'points');
        return [Array.from(t.x), Array.from(t.y), Array.from(t.text)]; }"""
    )
    xs, ys, keys = np.array(pts[0]), np.array(pts[1]), pts[2]
    # the box as plotly drew it (the drag's own range, in data coordinates)
    drawn = o.page.evaluate(
        "() => { const s = document.getElementById('embviz-plot')._fullLayout.selections[0];"
        " return [s.x0, s.x1, s.y0, s.y1]; }"
    )
    lo_x, hi_x = sorted(drawn[:2])
    lo_y, hi_y = sorted(drawn[2:])
    assert np.allclose([lo_x, hi_x, lo_y, hi_y], box["data"], atol=(hi_x - lo_x) * 0.05)
    inside = (xs > lo_x) & (xs < hi_x) & (ys > lo_y) & (ys < hi_y)
    import html

    want = {html.unescape(keys[i]) for i in np.flatnonzero(inside)}
    assert len(want) > 5
    assert {row[0] for row in got} == want
    assert [int(row[1]) for row in got] == sorted(int(row[1]) for row in got)  # by rank
    size = o.page.evaluate("() => document.getElementById('embviz-sel-size').textContent")
    assert size == f"Selection: {len(want):,} points"
    # invert, then clear
    o.page.click("text=Invert")
    assert o.page.evaluate("() => window.embviz.state().selected") == 2000 - len(want)
    o.page.click("text=Clear")
    assert o.page.evaluate("() => window.embviz.state().selected") == 0
    assert o.errors == [] and o.dialogs == []
    o.close()


def test_shift_click_and_deep_links_build_a_selection(browser, pages):
    o = Opened(browser, pages["2d"], fragment="#select=king,france,paris,queen&key=london")
    assert o.focus_key() == "london"
    assert o.page.evaluate("() => window.embviz.state().selected") == 3  # queen is not drawn
    keys = o.page.evaluate("() => document.getElementById('embviz-selkeys').textContent")
    assert keys.splitlines() == ["france", "king", "paris"]  # by rank
    o.page.wait_for_timeout(500)
    assert len(o.trace("selection")["x"]) == 3
    assert o.page.evaluate("() => location.hash") == "#key=london&select=france,king,paris"
    # shift-click adds the point under the mouse, a second shift-click removes it
    o.page.evaluate("() => Plotly.relayout('embviz-plot', {'xaxis.autorange': true, 'yaxis.autorange': true})")
    o.page.wait_for_timeout(500)
    x, y = o.page.evaluate(
        """() => { const g = document.getElementById('embviz-plot');
        const t = g._fullData.find(t => (t.meta || {}).role === 'points');
        const xa = g._fullLayout.xaxis, ya = g._fullLayout.yaxis, r = g.getBoundingClientRect();
        const p = Array.from(t.customdata).indexOf(1);
        return [r.left + xa._offset + xa.l2p(t.x[p]), r.top + ya._offset + ya.l2p(t.y[p])]; }"""
    )
    o.page.mouse.move(x - 2, y - 2)
    o.page.mouse.move(x, y)
    o.page.wait_for_timeout(300)
    o.page.keyboard.down("Shift")
    o.page.mouse.click(x, y)
    o.page.keyboard.up("Shift")
    o.page.wait_for_timeout(300)
    assert o.page.evaluate("() => window.embviz.state().selected") == 4
    keys = o.page.evaluate("() => document.getElementById('embviz-selkeys').textContent")
    assert keys.splitlines()[0] == "the"  # rank 1
    o.page.keyboard.down("Shift")
    o.page.mouse.click(x, y)
    o.page.keyboard.up("Shift")
    o.page.wait_for_timeout(300)
    assert o.page.evaluate("() => window.embviz.state().selected") == 3
    assert o.errors == [] and o.dialogs == []
    o.close()


def test_the_3d_page_click_and_search(browser, pages):
    o = Opened(browser, pages["3d"])
    o.search("king")
    o.page.keyboard.press("Enter")
    assert o.focus_key() == "king"
    assert [(k, s) for k, s, _ in o.panel_neighbors()] == cli_neighbors("king")
    o.page.wait_for_timeout(800)
    mark = o.trace("mark")
    assert mark["text"] == ["king"] and len(mark["z"]) == 1
    # In headless Chromium with software GL, plotly's 3D picking answers no real mouse event
    # (hover does not fire either), so the click is plotly's own click event on a point.
    key = o.page.evaluate(
        """() => { const g = document.getElementById('embviz-plot');
        const c = g._fullData.findIndex(t => (t.meta || {}).role === 'points');
        const t = g._fullData[c];
        g.emit('plotly_click', {points: [{curveNumber: c, pointNumber: 1234,
            customdata: t.customdata[1234]}], event: {shiftKey: false}});
        return t.text[1234]; }"""
    )
    assert o.focus_key() == key
    assert [(k, s) for k, s, _ in o.panel_neighbors()] == cli_neighbors(key)
    assert [e for e in o.errors if "WebGL" not in e] == [] and o.dialogs == []
    o.close()


def test_a_page_without_neighbor_lists_still_works(browser, pages):
    o = Opened(browser, pages["off"])
    assert o.search("paris")[0] == "paris  rank 1,036"
    o.page.keyboard.press("Enter")
    assert o.focus_key() == "paris"
    why = o.page.evaluate("() => document.querySelector('.embviz-why').textContent")
    assert why.startswith("neighbor lists are off in this page (plotted with --neighbors-k 0)")
    status = o.page.evaluate("() => document.getElementById('embviz-status').textContent")
    assert status == "2,000 of 40,000 points shown · neighbor lists off"
    assert o.errors == [] and o.dialogs == []
    o.close()


HOSTILE = [
    "<img src=x onerror=alert(1)>",
    '<img src=x onerror="window.__xss=1">',
    "</script><script>window.__xss=2</script>",
    "%{meta.embviz.selection}",
    "<a href='javascript:alert(3)'>click</a>",
    "line\u2028sep",
    "AT&T",
]


def test_hostile_keys_stay_inert_in_every_slot(browser, tmp_path):
    rng = np.random.default_rng(0)
    keys = HOSTILE + [f"w{i}" for i in range(80 - len(HOSTILE))]
    v = Vectors(keys, rng.standard_normal((80, 8)).astype(np.float32))
    ids = np.arange(60)  # the last 20 keys are in the file, not in the plot
    proj = P.project(v, ids, method="pca")
    lists = explorer.neighbor_lists(v, proj.ids, k=5)
    evil_file = "%{meta.embviz.selection}<img src=x onerror=alert(9)>.txt"
    prov = P.provenance(
        proj, source=evil_file, fingerprint="f", selection=f"around {HOSTILE[0]!r}", total=80
    )
    coloring = P.Coloring("%{meta.x}<b>tag</b>", labels=[HOSTILE[i % 4] for i in range(60)])
    fig = P.figure(
        proj,
        prov=prov,
        labels=len(HOSTILE),
        highlight={HOSTILE[3]: np.array([3, 0])},
        coloring=coloring,
        axis_titles=[HOSTILE[3], HOSTILE[0]],
        vectors=v,
        lists=lists,
    )
    path = P.write_html(fig, tmp_path / "hostile.html")
    o = Opened(browser, path, accept_downloads=True)
    page = o.page
    texts = page.evaluate(
        """() => ({
        title: document.querySelector('.gtitle').textContent,
        footer: [...document.querySelectorAll('.annotation-text')].map(e => e.textContent),
        xaxis: document.querySelector('.xtitle').textContent,
        yaxis: document.querySelector('.ytitle').textContent,
        legend: [...document.querySelectorAll('.legendtext')].map(e => e.textContent),
        labels: [...document.querySelectorAll('.textpoint text')].map(e => e.textContent),
        links: document.querySelectorAll('#embviz-plot a').length,
        imgs: document.querySelectorAll('img').length,
        })"""
    )
    assert texts["title"].startswith(evil_file + ": PCA")
    assert f"selection: around {HOSTILE[0]!r}" in texts["footer"][0]
    assert (texts["xaxis"], texts["yaxis"]) == (HOSTILE[3], HOSTILE[0])
    assert {HOSTILE[0], HOSTILE[1], HOSTILE[2], HOSTILE[3]} <= set(texts["legend"])
    assert set(texts["labels"]) - {""} <= set(keys)  # labels: literal keys only
    assert texts["links"] == 0 and texts["imgs"] == 0
    # search lists them as text; choosing one shows it literally in the panel, the mark and
    # the hover
    for key in HOSTILE:
        matches = o.search(key)
        assert matches and matches[0].startswith(key + "  rank ")
        page.keyboard.press("Enter")
        assert o.focus_key() == key
        page.wait_for_timeout(500)
        mark = page.evaluate(
            "() => document.querySelector('.scatterlayer .trace:last-child .textpoint text')"
            ".textContent"
        )
        assert mark == key
    # a key in the file but not drawn
    o.search(keys[70])
    page.keyboard.press("Enter")
    assert page.evaluate("() => document.querySelector('.embviz-why').textContent").endswith(
        "re-plot with --around " + keys[70]
    )
    # hover: key, rank and three neighbors, literally
    page.evaluate("() => Plotly.relayout('embviz-plot', {'xaxis.autorange': true, 'yaxis.autorange': true})")
    page.wait_for_timeout(500)
    x, y = page.evaluate(
        """() => { const g = document.getElementById('embviz-plot');
        const t = g._fullData.find(t => (t.meta || {}).role === 'points' && Array.from(t.customdata).includes(1));
        const p = Array.from(t.customdata).indexOf(1);
        const xa = g._fullLayout.xaxis, ya = g._fullLayout.yaxis, r = g.getBoundingClientRect();
        return [r.left + xa._offset + xa.l2p(t.x[p]), r.top + ya._offset + ya.l2p(t.y[p])]; }"""
    )
    page.mouse.move(x - 3, y - 3)
    page.mouse.move(x, y)
    page.wait_for_timeout(600)
    hover = page.evaluate("() => document.querySelector('.hoverlayer').textContent")
    tip = page.evaluate("() => document.getElementById('embviz-tip').textContent")
    assert HOSTILE[0] in hover and "rank 1" in hover
    first3 = [keys[i] for i in lists.ids[0, :3].tolist()]
    assert tip == f"{HOSTILE[0]} · rank 1\nnearest: " + ", ".join(first3)
    # select them all and download: the TSV holds the keys as written
    page.evaluate("ks => window.embviz.selectKeys(ks)", HOSTILE)
    with page.expect_download() as dl:
        page.click("text=Download TSV")
    out = tmp_path / "sel.tsv"
    dl.value.save_as(out)
    got = [line.split("\t")[0] for line in out.read_text(encoding="utf-8").split("\n")[1:-1]]
    assert got == HOSTILE
    assert page.evaluate("() => window.__xss === undefined")
    assert page.evaluate("() => document.querySelectorAll('img').length") == 0
    assert o.errors == [] and o.dialogs == []
    o.close()


def test_labels_never_overlap_and_more_appear_on_zoom(browser, pages):
    o = Opened(browser, pages["2d"])

    def boxes() -> list[list[float]]:
        return o.page.evaluate(
            """() => [...document.querySelectorAll('.textpoint text')]
            .filter(e => e.textContent).map(e => { const b = e.getBoundingClientRect();
              return [b.left, b.top, b.right, b.bottom]; })"""
        )

    def overlaps(bs) -> int:
        n = 0
        for i, a in enumerate(bs):
            for b in bs[i + 1 :]:
                if a[0] < b[2] - 1 and b[0] < a[2] - 1 and a[1] < b[3] - 1 and b[1] < a[3] - 1:
                    n += 1
        return n

    first = boxes()
    assert 20 <= len(first) < 100 and overlaps(first) == 0
    state = o.page.evaluate("() => window.embviz.labels()")
    named = o.page.evaluate("() => window.embviz.regions().shown")  # the regions' names, drawn too
    assert state["shown"] + len(named) == len(first) and state["extra"] == 0  # the top 100, thinned
    o.page.evaluate(
        """() => { const g = document.getElementById('embviz-plot');
        const xa = g._fullLayout.xaxis.range, ya = g._fullLayout.yaxis.range;
        const cx = (xa[0] + xa[1]) / 2, cy = (ya[0] + ya[1]) / 2, w = (xa[1] - xa[0]) / 8,
              h = (ya[1] - ya[0]) / 8;
        return Plotly.relayout(g, {'xaxis.range': [cx - w, cx + w], 'yaxis.range': [cy - h, cy + h]}); }"""
    )
    o.page.wait_for_timeout(800)
    zoomed = boxes()
    state = o.page.evaluate("() => window.embviz.labels()")
    assert state["extra"] > 0 and overlaps(zoomed) == 0  # less frequent keys got labels
    assert o.errors == []
    o.close()


def test_legend_click_dims_a_cluster_named_by_its_keys(browser, tmp_path):
    from typer.testing import CliRunner

    out = tmp_path / "c.html"
    r = CliRunner().invoke(
        app, ["plot", "--method", "pca", "--top", "500", "--clusters", "3", "-q", "-o", str(out)]
    )
    assert r.exit_code == 0, r.stderr
    o = Opened(browser, out)
    legend = o.page.evaluate(
        "() => [...document.querySelectorAll('.legendtext')].map(e => e.textContent)"
    )
    names = [x for x in legend if x.startswith("cluster ")]
    assert len(names) == 3 and all(x.count(", ") == 2 for x in names)
    assert names[0].startswith("cluster 1: ")

    def opacities() -> list[float]:
        return o.page.evaluate(
            """() => document.getElementById('embviz-plot')._fullData
            .filter(t => (t.meta || {}).role === 'points').map(t => t.marker.opacity)"""
        )

    def click_legend(name: str) -> None:
        x, y = o.page.evaluate(
            """(name) => { const g = [...document.querySelectorAll('.legend .traces')]
            .find(t => t.querySelector('.legendtext').textContent === name);
            const b = g.querySelector('.legendtoggle').getBoundingClientRect();
            return [b.left + b.width / 2, b.top + b.height / 2]; }""",
            name,
        )
        o.page.mouse.click(x, y)

    before = opacities()
    click_legend(names[0])
    o.page.wait_for_timeout(400)
    after = opacities()
    assert after[0] < before[0] and after[1:] == before[1:]
    visible = o.page.evaluate(
        """() => document.getElementById('embviz-plot')._fullData
        .filter(t => (t.meta || {}).role === 'points').map(t => t.visible)"""
    )
    assert visible == [True, True, True]  # dimmed, not hidden
    o.page.wait_for_timeout(400)  # not a double click
    click_legend(names[0])
    o.page.wait_for_timeout(400)
    assert opacities() == before
    assert o.errors == [] and o.dialogs == []
    o.close()


@pytest.fixture(scope="module")
def diff_page(sample, tmp_path_factory):
    """`embviz diff A B --html` of 2,000 sample keys against a rotated copy with two movers."""
    from typer.testing import CliRunner

    d = tmp_path_factory.mktemp("diffpage")
    matrix = np.asarray(sample.matrix[:2000], dtype=np.float64)
    q, _ = np.linalg.qr(np.random.default_rng(0).standard_normal((sample.dim, sample.dim)))
    moved = matrix @ q
    moved[[7, 300]] = np.random.default_rng(1).standard_normal((2, sample.dim))  # 'for', 'down'
    for name, m in (("a.txt", matrix), ("b.txt", moved)):
        (d / name).write_text("".join(k + " " + " ".join(f"{x:.7g}" for x in row) + "\n"
                                      for k, row in zip(sample.keys[:2000], m)))
    out = d / "diff.html"
    r = CliRunner().invoke(app, ["diff", str(d / "a.txt"), str(d / "b.txt"), "--html", str(out),
                                 "--html-method", "pca", "--no-cache", "-f", "tsv"])
    assert r.exit_code == 0, r.stderr
    rows = {line.split("\t")[0]: line.split("\t") for line in r.stdout.splitlines()[1:]}
    return out, rows


def test_diff_page_panel_shows_a_and_b_lists_side_by_side(browser, diff_page, sample):
    from embviz import compare, load

    out, rows = diff_page
    report = compare.diff(load(out.parent / "a.txt"), load(out.parent / "b.txt"), k=10)
    arr = report.keys
    o = Opened(browser, out)
    try:
        for key in (sample.keys[7], sample.keys[300], sample.keys[20]):
            o.search(key)
            o.page.keyboard.press("Enter")
            o.page.wait_for_function(f"() => document.getElementById('embviz-focus-key') && "
                                     f"document.getElementById('embviz-focus-key').textContent === {key!r}")
            got = o.page.evaluate(
                """() => ['#embviz-neighbors', '#embviz-neighbors-b'].map(id =>
                    [...document.querySelectorAll(id + ' tr')].map(tr =>
                      [tr.querySelector('.key').textContent, tr.querySelector('.score').textContent,
                       tr.querySelector('.both').textContent]))"""
            )
            figures = o.page.inner_text("#embviz-compare")
            a_keys, b_keys = [r[0] for r in got[0]], [r[0] for r in got[1]]
            p = list(sample.keys[:2000]).index(key)  # its position among the compared keys
            assert a_keys == [sample.keys[i] for i in arr.ids_a[arr.neighbors_a[p]].tolist()]
            assert b_keys == [sample.keys[i] for i in arr.ids_a[arr.neighbors_b[p]].tolist()]
            assert [r[1] for r in got[1]] == [f"{s:.4f}" for s in arr.scores_b[p].tolist()]
            both = set(a_keys) & set(b_keys)
            assert [r[2] == "*" for r in got[0]] == [k in both for k in a_keys]
            assert [r[2] == "*" for r in got[1]] == [k in both for k in b_keys]
            _, rank_a, rank_b, jaccard, cosine = rows[key]
            assert figures == (f"Jaccard@10 {float(jaccard):.3f} · cosine after alignment "
                               f"{float(cosine):.4f} · rank in B {int(rank_b):,}")
            assert p + 1 == int(rank_a)
        assert not o.errors and not o.dialogs
    finally:
        o.close()


# -- metadata: titles in the hover, the labels, the search, the panel and the export ----------
META_GENRES = ["Animation|Children's|Comedy", "Horror|Sci-Fi", "Drama", "Crime|Thriller"]
META_TITLES = {
    1: "Toy Story (1995)",
    6: "<img src=x onerror=alert(1)>",
    7: "</script><script>window.__xss=1</script>",
    8: "%{meta.embviz.selection} & <b>bold</b>",
}


@pytest.fixture(scope="module")
def meta_page(tmp_path_factory):
    """`embviz plot --meta movies.tsv --show title,genres` of 120 items keyed by integer ids.

    Four clusters of 30; the first 100 items are drawn, so some neighbors are not; item 12 has
    no metadata row.
    """
    from typer.testing import CliRunner

    d = tmp_path_factory.mktemp("metapage")
    rng = np.random.default_rng(5)
    centres = rng.standard_normal((4, 16)) * 2
    n = 120
    matrix = np.array([centres[i % 4] + rng.standard_normal(16) for i in range(n)], dtype=np.float32)
    (d / "items.txt").write_text(
        f"{n} 16\n" + "".join(f"{i + 1} " + " ".join(f"{x:.6f}" for x in row) + "\n"
                              for i, row in enumerate(matrix))
    )
    rows = ["item\ttitle\tgenres"]
    for i in range(n):
        key = i + 1
        if key != 12:
            rows.append(f"{key}\t{META_TITLES.get(key, f'Movie {key} ({1950 + i % 50})')}\t{META_GENRES[i % 4]}")
    (d / "movies.tsv").write_text("\n".join(rows) + "\n")
    out = d / "meta.html"
    r = CliRunner().invoke(app, ["plot", "-v", str(d / "items.txt"), "--meta", str(d / "movies.tsv"),
                                 "--show", "title,genres", "--method", "pca", "--top", "100",
                                 "--labels", "40", "-q", "-o", str(out)])
    assert r.exit_code == 0, r.stderr
    from embviz import load
    from embviz.io.meta import read_meta

    return out, load(d / "items.txt"), read_meta(d / "movies.tsv")


def meta_rows(o: Opened) -> list[list[str]]:
    """The panel's neighbor rows: key, score, drawn, then the shown columns."""
    return o.page.evaluate(
        """() => [...document.querySelectorAll('#embviz-neighbors tr')].map(tr =>
            [tr.querySelector('.key').textContent, tr.querySelector('.score').textContent,
             tr.querySelector('.key').nextSibling.nextSibling.textContent,
             ...[...tr.querySelectorAll('td.meta')].map(td => td.textContent)])"""
    )


def expected_rows(v, meta, key: str) -> list[list[str]]:
    """What the panel must list for `key`: `embviz neighbors` keys and scores, then title, genres."""
    from embviz import search

    found = search.neighbors(v, key, k=10)
    cols = meta.align([n.key for n in found], ["title", "genres"])
    return [[n.key, f"{n.score:.4f}", "drawn" if v.key_to_index[n.key] < 100 else "not drawn",
             cols["title"][i] or "", cols["genres"][i] or ""] for i, n in enumerate(found)]


def test_a_title_substring_finds_the_point_and_the_panel_lists_titles(browser, meta_page):
    path, v, meta = meta_page
    o = Opened(browser, path)
    try:
        matches = o.search("toy st")  # any part of the title, any case
        assert matches == ["1  Toy Story (1995) · Animation|Children's|Comedy  rank 1"]
        o.page.keyboard.press("Enter")
        o.page.wait_for_function("() => document.getElementById('embviz-focus-key')")
        assert o.focus_key() == "1"
        focus = o.page.evaluate(
            "() => [...document.querySelectorAll('#embviz-focus-meta tr')].map(tr => tr.textContent)"
        )
        assert focus == ["titleToy Story (1995)", "genresAnimation|Children's|Comedy"]
        assert meta_rows(o) == expected_rows(v, meta, "1")
        o.page.wait_for_timeout(800)
        assert o.trace("mark")["text"] == ["Toy Story (1995)"]  # the label on the map is the title
        # the key still matches (prefix), and so does a genre; an undrawn neighbor is found by
        # its title and says it is not in this plot
        assert o.search("11")[0].startswith("11  Movie 11 (1960) · Drama  rank 11")
        horror = o.search("horror")  # items 2, 6, 10, ...: 25 drawn, and undrawn neighbors
        assert all(" · Horror|Sci-Fi  rank " in m for m in horror)
        assert len([m for m in horror if not m.endswith("not in this plot")]) == 25
        lists = explorer.neighbor_lists(v, np.arange(100), k=10)
        undrawn = sorted({int(i) for i in lists.ids.ravel().tolist() if i >= 100})
        assert undrawn
        title = meta.align([v.keys[undrawn[0]]], ["title"])["title"][0]
        got = o.search(title)
        assert got == [f"{v.keys[undrawn[0]]}  {title} · {META_GENRES[undrawn[0] % 4]}  rank "
                       f"{undrawn[0] + 1}  · not in this plot"]
        assert o.search("no such title") == []
        assert o.page.inner_text("#embviz-found") == "no match (key, title, genres)"
        assert o.errors == [] and o.dialogs == []
    finally:
        o.close()


def test_clicking_a_point_shows_its_titled_neighbors_and_hover_shows_the_title(browser, meta_page):
    path, v, meta = meta_page
    o = Opened(browser, path)
    try:
        spots = o.page.evaluate(
            """() => { const g = document.getElementById('embviz-plot');
            const pts = g._fullData.filter(t => (t.meta || {}).role === 'points');
            const xa = g._fullLayout.xaxis, ya = g._fullLayout.yaxis, r = g.getBoundingClientRect();
            return pts.flatMap(t => [0, 7, 15].filter(p => p < t.x.length).map(p =>
              [r.left + xa._offset + xa.l2p(t.x[p]), r.top + ya._offset + ya.l2p(t.y[p])])); }"""
        )
        o.page.mouse.move(spots[0][0] - 3, spots[0][1] - 3)
        o.page.mouse.move(*spots[0])
        o.page.wait_for_timeout(600)
        hover = o.page.evaluate("() => document.querySelector('.hoverlayer').textContent")
        key = hover.split(" · ")[0]
        title, genres = (meta.align([key], ["title", "genres"])[c][0] for c in ("title", "genres"))
        assert hover == f"{key} · {title} · {genres}rank {v.key_to_index[key] + 1}"
        clicked = click_somewhere(o, spots)
        rows = meta_rows(o)
        assert rows == expected_rows(v, meta, clicked)
        assert all(len(r) == 5 and r[3] for r in rows if r[0] != "12")  # every neighbor has a title
        # the selection export carries the shown columns after the others
        o.page.evaluate("() => window.embviz.selectKeys(['1', '12', '6'])")
        tsv = o.page.evaluate("() => window.embviz.selectionTSV()").splitlines()
        assert tsv[0] == "key\trank\tx\ty\ttitle\tgenres"
        assert [r.split("\t")[:2] + r.split("\t")[4:] for r in tsv[1:]] == [
            ["1", "1", "Toy Story (1995)", "Animation|Children's|Comedy"],
            ["6", "6", META_TITLES[6], "Horror|Sci-Fi"],
            ["12", "12", "", ""],  # no metadata row: empty cells
        ]
        assert o.errors == [] and o.dialogs == []
    finally:
        o.close()


def test_hostile_titles_stay_inert_text(browser, meta_page, tmp_path):
    path, v, meta = meta_page
    o = Opened(browser, path, accept_downloads=True)
    page = o.page
    try:
        placeholder = page.get_attribute("#embviz-search", "placeholder")
        assert placeholder == "search: key, prefix, /regex/, or title, genres"
        # the labels on the map are titles (the key where there is none), literally
        labels = page.evaluate(
            "() => [...document.querySelectorAll('.textpoint text')].map(e => e.textContent)"
        )
        titles = set(meta.align(list(v.keys), ["title"])["title"])
        named = set(page.evaluate("() => window.embviz.regions().shown"))  # regions: named by titles too
        assert named and all(n.split(", ")[0] in titles or n.split(", ")[0].endswith("\u2026") for n in named)
        assert {x for x in labels if x and x not in named} <= titles | set(v.keys)
        assert len([x for x in labels if x in titles]) >= 10
        for key in (6, 7, 8):
            title = META_TITLES[key]
            matches = o.search(title[2:12])
            assert any(m.startswith(f"{key}  {title} · ") for m in matches), matches
            page.evaluate("k => window.embviz.focusKey(k)", str(key))
            page.wait_for_timeout(600)
            shown = page.evaluate(
                "() => document.querySelector('#embviz-focus-meta td.meta').textContent"
            )
            assert shown == title
            mark = page.evaluate(
                "() => document.querySelector('.scatterlayer .trace:last-child .textpoint text')"
                ".textContent"
            )
            assert mark == title  # drawn on the map as written
        # hover over the hostile point: its title as text
        page.keyboard.press("Escape")
        page.evaluate("() => Plotly.relayout('embviz-plot', {'xaxis.autorange': true, 'yaxis.autorange': true})")
        page.wait_for_timeout(500)
        x, y = page.evaluate(
            """() => { const g = document.getElementById('embviz-plot');
            const t = g._fullData.find(t => (t.meta || {}).role === 'points' && Array.from(t.customdata).includes(6));
            const p = Array.from(t.customdata).indexOf(6);
            const xa = g._fullLayout.xaxis, ya = g._fullLayout.yaxis, r = g.getBoundingClientRect();
            const px = q => [xa.l2p(t.x[q]), ya.l2p(t.y[q])], a = px(p);
            // the planted clusters can put another point a few pixels away (item 7): the mouse goes
            // to the side of 6 away from its nearest neighbor on screen, so 6 is the nearest point
            let near = null, best = Infinity;
            for (let q = 0; q < t.x.length; q++) {
              if (q === p) continue;
              const b = px(q), d = Math.hypot(b[0] - a[0], b[1] - a[1]);
              if (d < best) { best = d; near = b; }
            }
            const step = best < 8 ? 3 / Math.max(best, 1e-6) : 0;
            return [r.left + xa._offset + a[0] + (a[0] - near[0]) * step,
                    r.top + ya._offset + a[1] + (a[1] - near[1]) * step]; }"""
        )
        page.mouse.move(x - 3, y - 3)
        page.mouse.move(x, y)
        page.wait_for_timeout(600)
        tip = page.evaluate("() => document.getElementById('embviz-tip').textContent")
        assert tip.startswith(f"6 · {META_TITLES[6]} · Horror|Sci-Fi · rank 6\nnearest: ")
        # the download holds the titles as written
        page.evaluate("() => window.embviz.selectKeys(['6', '7', '8'])")
        with page.expect_download() as dl:
            page.click("text=Download TSV")
        out = tmp_path / "sel.tsv"
        dl.value.save_as(out)
        got = [line.split("\t")[4] for line in out.read_text(encoding="utf-8").splitlines()[1:]]
        assert got == [META_TITLES[6], META_TITLES[7], META_TITLES[8]]
        assert page.evaluate("() => window.__xss === undefined")
        assert page.evaluate("() => document.querySelectorAll('img').length") == 0
        assert page.evaluate("() => document.querySelectorAll('#embviz-plot a, #embviz-panel b').length") == 0
        assert o.errors == [] and o.dialogs == []
    finally:
        o.close()


@pytest.mark.parametrize("metric", ["dot", "euclidean"])
def test_a_page_plotted_with_metric_lists_what_neighbors_metric_prints(browser, tmp_path, metric):
    """`plot --metric dot|euclidean`: the panel's scores are the raw dot products (above 1, which
    the int16 encoding of cosine lists cannot hold) or negative distances, as the CLI prints."""
    from typer.testing import CliRunner

    path = tmp_path / f"{metric}.html"
    r = CliRunner().invoke(
        app, ["plot", "--method", "pca", "--top", "1000", "--metric", metric, "-q", "-o", str(path)]
    )
    assert r.exit_code == 0, r.stderr
    o = Opened(browser, path)
    o.search("king")
    o.page.keyboard.press("Enter")
    o.page.wait_for_function("() => document.getElementById('embviz-focus-key')")
    got = [(k, s) for k, s, _ in o.panel_neighbors()]
    r = CliRunner().invoke(app, ["neighbors", "king", "-k", "10", "--metric", metric, "-f", "tsv"])
    assert r.exit_code == 0, r.stderr
    want = [(row[2], f"{float(row[3]):.4f}") for row in
            (line.split("\t") for line in r.stdout.splitlines()[1:])]
    assert got == want
    if metric == "dot":
        assert float(got[0][1]) > 20  # emperor 27.2043: a dot product, not a cosine
    else:
        assert all(float(s) < 0 for _, s in got)
    intro = o.page.evaluate(
        "() => [...document.querySelectorAll('p.muted')].map(p => p.textContent)"
        ".find(t => t.includes('nearest neighbors in the original space'))"
    )
    what = "dot product" if metric == "dot" else "euclidean distance, scores negated"
    assert f"({what} over all 40,000 keys of the file)" in intro
    assert f"as embviz neighbors --metric {metric} prints them" in intro
    assert o.errors == [] and o.dialogs == []
    o.close()


def test_column_equals_value_selects_the_drawn_points_that_hold_it(browser, meta_page):
    path, v, meta = meta_page
    o = Opened(browser, path)
    try:
        o.page.fill("#embviz-search", "genres=comedy")  # any case; a part of 'Animation|Children's|Comedy'
        o.page.wait_for_timeout(300)
        o.page.keyboard.press("Enter")
        o.page.wait_for_function("() => window.embviz.state().selected > 0")
        drawn = [int(k) for k in v.keys[:100]]  # the page draws the top 100
        want = sorted(str(k) for k in drawn if k != 12 and "Comedy" in META_GENRES[(k - 1) % 4].split("|"))
        tsv = o.page.evaluate("() => window.embviz.selectionTSV()").splitlines()[1:]
        assert sorted(line.split("\t")[0] for line in tsv) == want
        assert o.page.evaluate("() => window.embviz.state().selected") == len(want) == 25
        assert o.page.text_content("#embviz-panel").count(f"filter genres=comedy: {len(want)} of 100 drawn points selected") == 1
        # an exact single-valued cell, and a column that is not shown
        assert o.page.evaluate("() => window.embviz.filter('genres', 'Drama')") == 25
        assert o.page.evaluate("() => window.embviz.filter('year', '1995')") == -1
        assert "no shown column 'year' (columns: title, genres)" in o.page.text_content("#embviz-panel")
    finally:
        o.close()
