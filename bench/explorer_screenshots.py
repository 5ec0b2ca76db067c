"""Take the screenshots of docs/plot.md (search, panel, selection, density at 400k) with Playwright.

Run: ``python bench/explorer_screenshots.py SAMPLE.html GLOVE400K.html docs/img``, where the
pages come from ``embviz plot --seed 0 --clusters 12 -o SAMPLE.html`` and
``embviz plot -v glove.6B.50d.txt --top 400000 --method pca -o GLOVE400K.html``; and
``python bench/explorer_screenshots.py --regions DEFAULT.html docs/img`` (the page of a plain
``embviz plot -o DEFAULT.html``) for regions-full.png and regions-zoom.png.
"""

from __future__ import annotations

import sys
from pathlib import Path

FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]


def main(sample: str, big: str, out: str) -> None:
    """Write search.png, panel.png, selection.png and density-400k.png into `out`."""
    from playwright.sync_api import sync_playwright

    img = Path(out)
    img.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path="/usr/bin/chromium", headless=True, args=FLAGS)
        page = b.new_page(viewport={"width": 1280, "height": 800})
        page.goto(Path(sample).resolve().as_uri())
        page.wait_for_function("() => window.embviz && window.embviz.ready", timeout=120_000)
        page.wait_for_timeout(1000)
        page.screenshot(path=str(img / "default.png"))
        page.fill("#embviz-search", "par")
        page.wait_for_timeout(600)
        page.screenshot(path=str(img / "search.png"))
        page.fill("#embviz-search", "paris")
        page.wait_for_timeout(400)
        page.keyboard.press("Enter")
        page.wait_for_timeout(2000)
        page.screenshot(path=str(img / "panel.png"))
        page.keyboard.press("Tab")
        page.evaluate("() => { document.activeElement.blur(); }")
        page.keyboard.press("Escape")
        page.evaluate(
            "() => Plotly.relayout('embviz-plot', "
            "{'xaxis.autorange': true, 'yaxis.autorange': true, dragmode: 'lasso'})"
        )
        page.wait_for_timeout(800)
        box = page.evaluate(
            """() => { const g = document.getElementById('embviz-plot');
            const xa = g._fullLayout.xaxis, ya = g._fullLayout.yaxis, r = g.getBoundingClientRect();
            return [r.left + xa._offset, r.top + ya._offset, xa._length, ya._length]; }"""
        )
        x, y, w, h = box
        pts = [(0.55, 0.15), (0.75, 0.12), (0.85, 0.3), (0.7, 0.42), (0.55, 0.35), (0.55, 0.15)]
        page.mouse.move(x + w * pts[0][0], y + h * pts[0][1])
        page.mouse.down()
        for px, py in pts[1:]:
            page.mouse.move(x + w * px, y + h * py, steps=8)
        page.mouse.up()
        page.wait_for_timeout(1500)
        page.screenshot(path=str(img / "selection.png"))
        page.close()
        page = b.new_page(viewport={"width": 1280, "height": 800})
        page.goto(Path(big).resolve().as_uri())
        page.wait_for_function("() => window.embviz && window.embviz.ready", timeout=120_000)
        page.wait_for_timeout(2000)
        page.screenshot(path=str(img / "density-400k.png"))
        b.close()


def regions(default: str, out: str) -> None:
    """Write regions-full.png (the default map) and regions-zoom.png (zoomed in on its lower left)."""
    from playwright.sync_api import sync_playwright

    img = Path(out)
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path="/usr/bin/chromium", headless=True, args=FLAGS)
        page = b.new_page(viewport={"width": 1280, "height": 800})
        page.goto(Path(default).resolve().as_uri())
        page.wait_for_function("() => window.embviz && window.embviz.ready", timeout=120_000)
        page.wait_for_timeout(1000)
        page.screenshot(path=str(img / "regions-full.png"))
        print("full view:", page.evaluate("() => window.embviz.regions()"))
        (x0, x1), (y0, y1) = page.evaluate(
            "() => { const l = document.getElementById('embviz-plot')._fullLayout;"
            " return [l.xaxis.range, l.yaxis.range]; }")
        w, h = (x1 - x0) / 3, (y1 - y0) / 3  # an area factor of 9
        cx, cy = x0 + (x1 - x0) * 0.4, y0 + (y1 - y0) * 0.55
        page.evaluate("([x, y]) => Plotly.relayout('embviz-plot', {'xaxis.range': x, 'yaxis.range': y})",
                      [[cx - w / 2, cx + w / 2], [cy - h / 2, cy + h / 2]])
        page.wait_for_timeout(1000)
        page.screenshot(path=str(img / "regions-zoom.png"))
        print("zoomed in:", page.evaluate("() => window.embviz.regions()"))
        b.close()


if __name__ == "__main__":
    if sys.argv[1] == "--regions":
        regions(*sys.argv[2:4])
    else:
        main(*sys.argv[1:4])
