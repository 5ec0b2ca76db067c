"""Take the screenshots of docs/python.md: ``embviz.plot`` in a real JupyterLab, driven by Playwright.

Run: ``python bench/notebook_screenshots.py docs/img`` (needs ``pip install jupyterlab``, which
embviz does not depend on, anywidget (``embviz[notebook]``) and Debian's ``chromium``).

It starts JupyterLab headless on 127.0.0.1 with a random token, in a temporary folder with its
own settings (no news pop-up) and workspace, writes a notebook whose cells are :data:`CELLS` (the
code docs/python.md shows), opens it in Chromium, runs the first cell (the explorer appears as
the cell's output), clicks ``king`` on the map (its neighbors in the panel), selects the points
around it with the box tool of the plot's toolbar, runs the second cell (``e.selection``), and
saves ``notebook-explorer.png`` (the explorer inside JupyterLab) and ``notebook-selection.png``
(the ``.selection`` DataFrame under it). Not run by CI.
"""

from __future__ import annotations

import json
import os
import secrets
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

#: The notebook's cells, as docs/python.md shows them.
CELLS = [
    "import embviz\n\n"
    "v = embviz.load(embviz.sample_path())\n"
    "e = embviz.plot(v, top=3000, seed=0)\n"
    "e",
    "e.selection",
]
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--no-first-run"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def notebook(cells: list[str]) -> dict:
    return {
        "cells": [{"cell_type": "code", "execution_count": None, "id": f"c{i}", "metadata": {},
                   "outputs": [], "source": src} for i, src in enumerate(cells)],
        "metadata": {"kernelspec": {"display_name": "Python 3 (ipykernel)", "language": "python",
                                    "name": "python3"}},
        "nbformat": 4, "nbformat_minor": 5,
    }


def start_lab(root: Path) -> tuple[subprocess.Popen, str]:
    """JupyterLab on 127.0.0.1 (a free port, a random token): ``(process, base URL with token)``."""
    port, token = free_port(), secrets.token_hex(16)
    settings = root / ".settings" / "@jupyterlab" / "apputils-extension"
    settings.mkdir(parents=True)
    (settings / "notification.jupyterlab-settings").write_text(json.dumps({"fetchNews": "false"}))
    env = dict(os.environ, JUPYTERLAB_SETTINGS_DIR=str(root / ".settings"),
               JUPYTERLAB_WORKSPACES_DIR=str(root / ".workspaces"),
               PATH=str(Path(sys.executable).parent) + os.pathsep + os.environ.get("PATH", ""))
    log = open(root / "lab.log", "w")  # noqa: SIM115 (closed with the process)
    proc = subprocess.Popen(
        [sys.executable, "-m", "jupyterlab", "--no-browser", "--ip=127.0.0.1", f"--port={port}",
         f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={root}",
         "--ServerApp.open_browser=False", "--allow-root"],
        cwd=root, env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    deadline = time.time() + 120
    while time.time() < deadline:
        try:
            with urllib.request.urlopen(f"{base}/api/status?token={token}", timeout=2):
                return proc, f"{base}/lab/tree/explorer.ipynb?reset&token={token}"
        except OSError:
            time.sleep(0.5)
    proc.terminate()
    raise SystemExit(f"JupyterLab did not start: see {root / 'lab.log'}")


def run_cell(page, index: int) -> None:  # noqa: ANN001
    """Run cell `index` as a user does: click into it, Shift+Enter; wait until the kernel is idle."""
    cell = page.locator(".jp-Notebook .jp-Cell").nth(index)
    cell.locator(".jp-InputArea-editor").click()
    page.keyboard.press("Shift+Enter")
    page.wait_for_function(
        f"""() => {{ const c = document.querySelectorAll('.jp-Notebook .jp-Cell')[{index}];
        const p = c && c.querySelector('.jp-InputPrompt');
        return p && /\\[\\d+\\]/.test(p.textContent); }}""",
        timeout=int(os.environ.get("EMBVIZ_CELL_TIMEOUT", "300")) * 1000)


def drive(page, url: str, out: Path) -> int:  # noqa: ANN001
    """Run the cells, click king, box-select around it, and take the two screenshots; return the selection size."""
    page.goto(url)
    page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=120_000)
    # the kernel is up (the status bar says so) and connected (a moment later)
    page.wait_for_function("() => /\\| Idle/.test(document.querySelector('.jp-StatusBar-Widget').textContent)",
                           timeout=120_000)
    page.wait_for_timeout(3000)
    if page.locator(".jp-SideBar.jp-mod-left .lm-TabBar-tab.lm-mod-current").count():
        page.keyboard.press("Control+b")  # the file browser closed: the notebook gets the width
    run_cell(page, 0)
    page.wait_for_selector(".jp-OutputArea-output iframe", timeout=120_000)
    frame_el = page.locator(".jp-OutputArea-output iframe").first
    frame = frame_el.element_handle().content_frame()
    frame.wait_for_function("() => window.embviz && window.embviz.ready", timeout=120_000)
    page.wait_for_timeout(1500)
    box = frame_el.bounding_box()
    # click king on the map (a real click at its marker)
    kx, ky = frame.evaluate(
        """() => { const g = document.getElementById('embviz-plot');
        const t = g._fullData.find(t => (t.meta || {}).role === 'points');
        const j = Array.from(t.customdata).indexOf(window.embviz.search('king')[0][1]);
        const xa = g._fullLayout.xaxis, ya = g._fullLayout.yaxis, r = g.getBoundingClientRect();
        return [r.left + xa._offset + xa.l2p(t.x[j]), r.top + ya._offset + ya.l2p(t.y[j])]; }""")
    page.mouse.click(box["x"] + kx, box["y"] + ky)
    frame.wait_for_selector("#embviz-neighbors tr", timeout=30_000)
    page.wait_for_timeout(1500)
    # box-select the points around king with the plot's own toolbar
    frame_el.hover()
    frame.locator('.modebar-btn[data-val="select"]').first.click()
    kx, ky = frame.evaluate(
        """() => { const g = document.getElementById('embviz-plot');
        const t = g._fullData.find(t => (t.meta || {}).role === 'points');
        const j = Array.from(t.customdata).indexOf(window.embviz.search('king')[0][1]);
        const xa = g._fullLayout.xaxis, ya = g._fullLayout.yaxis, r = g.getBoundingClientRect();
        return [r.left + xa._offset + xa.l2p(t.x[j]), r.top + ya._offset + ya.l2p(t.y[j])]; }""")
    x0, y0 = box["x"] + kx, box["y"] + ky
    page.mouse.move(x0 - 70, y0 - 45)
    page.mouse.down()
    page.mouse.move(x0, y0, steps=5)
    page.mouse.move(x0 + 70, y0 + 45, steps=5)
    page.mouse.up()
    frame.wait_for_function("() => window.embviz.state().selected > 0", timeout=30_000)
    page.mouse.move(box["x"] + box["width"] - 150, box["y"] + box["height"] - 40)  # off the map: no tooltip
    page.wait_for_timeout(1500)
    cell0 = page.locator(".jp-Notebook .jp-Cell").nth(0)
    cell0.screenshot(path=str(out / "notebook-explorer.png"))
    run_cell(page, 1)
    page.wait_for_selector(".jp-Notebook .jp-Cell >> nth=1 >> .jp-OutputArea-output table",
                           timeout=60_000)
    page.wait_for_timeout(800)
    page.locator(".jp-Notebook .jp-Cell").nth(1).screenshot(path=str(out / "notebook-selection.png"))
    return frame.evaluate("() => window.embviz.state().selected")


def shots(out: Path) -> None:
    from playwright.sync_api import sync_playwright

    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="embviz-lab-") as tmp:
        root = Path(tmp)
        (root / "explorer.ipynb").write_text(json.dumps(notebook(CELLS), indent=1))
        proc, url = start_lab(root)
        try:
            with sync_playwright() as p:
                b = p.chromium.launch(executable_path="/usr/bin/chromium", headless=True, args=FLAGS)
                page = b.new_page(viewport={"width": 1440, "height": 1000})
                page.on("console", lambda m: print("console:", m.text, file=sys.stderr) if m.type == "error" else None)
                try:
                    selected = drive(page, url, out)
                except Exception:
                    page.screenshot(path=str(out / "notebook-failed.png"))
                    raise
                b.close()
        except Exception:
            print((root / "lab.log").read_text()[-3000:], file=sys.stderr)
            raise
        finally:
            proc.terminate()
            proc.wait(timeout=30)
    for name in ("notebook-explorer.png", "notebook-selection.png"):
        print(f"{out / name}: {(out / name).stat().st_size / 1e3:.0f} KB", file=sys.stderr)
    print(f"{selected} points selected in the page", file=sys.stderr)


if __name__ == "__main__":
    shots(Path(sys.argv[1] if len(sys.argv) > 1 else "docs/img"))
