"""Screenshot and time `embviz serve` over a whole 3,000,000-key table (docs/serve.md).

Run: ``EMBVIZ_CACHE_DIR=DIR python bench/serve_screenshots.py TABLE docs/img`` with a cache
folder that holds TABLE's entry (and its index, for ``--index``). It starts
``embviz serve -v TABLE --top 5000 [--index]`` as a user does, then in headless Chromium
(Debian's, software rendering) types a key that is not drawn (the last key of the table),
presses Enter and waits for its neighbors from the server; it prints the server's start-up
lines, each step's wall time and the panel's rows, and writes ``serve-3m-not-drawn.png`` (and
``serve-3m-expression.png``: an expression of three undrawn keys) into the image folder.
"""

from __future__ import annotations

import re
import subprocess
import sys
import time
from pathlib import Path

EMBVIZ = str(Path(sys.executable).parent / "embviz")
FLAGS = ["--no-sandbox", "--disable-gpu"]


def main(table: str, out: str, *extra: str) -> None:
    from playwright.sync_api import sync_playwright

    import embviz

    v = embviz.load(table)
    last = v.keys[v.count - 1]
    expr = f"{v.keys[v.count - 2]} - {v.keys[v.count - 3]} + {v.keys[v.count - 4]}"
    t0 = time.perf_counter()
    proc = subprocess.Popen([EMBVIZ, "serve", "-v", table, "--top", "5000", "--port", "0", *extra],
                            stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True)
    try:
        url = None
        while url is None:
            line = proc.stderr.readline()
            if not line:
                raise SystemExit(f"embviz serve stopped: {proc.wait()}")
            print(line.rstrip(), flush=True)
            m = re.search(r" at (http://\S+) \(Ctrl-C stops\)$", line)
            url = m.group(1) if m else None
        print(f"server up in {time.perf_counter() - t0:.1f} s", flush=True)
        img = Path(out)
        with sync_playwright() as p:
            b = p.chromium.launch(executable_path="/usr/bin/chromium", headless=True, args=FLAGS)
            page = b.new_page(viewport={"width": 1280, "height": 800})
            t = time.perf_counter()
            page.goto(url)
            page.wait_for_function("() => window.embviz && window.embviz.ready", timeout=300_000)
            print(f"page interactive in {time.perf_counter() - t:.1f} s", flush=True)
            for name, query in (("serve-3m-not-drawn.png", last), ("serve-3m-expression.png", expr)):
                t = time.perf_counter()
                page.fill("#embviz-search", query)
                if query == last:  # the server's search over every key (the page lists only drawn keys)
                    page.wait_for_function(
                        "() => document.getElementById('embviz-found').textContent.includes('over all')",
                        timeout=60_000)
                    print(f"{query!r}: the server's match in the search box after {time.perf_counter() - t:.2f} s")
                else:
                    page.wait_for_timeout(800)
                t = time.perf_counter()
                page.keyboard.press("Enter")
                page.wait_for_function(
                    "q => { const e = document.getElementById('embviz-focus-key'); return e && e.textContent === q"
                    " && document.querySelectorAll('#embviz-neighbors tr').length === 10; }", arg=query,
                    timeout=120_000)
                print(f"{query!r}: Enter to 10 neighbors in the panel in {time.perf_counter() - t:.2f} s", flush=True)
                print("  found:", page.text_content("#embviz-found"), flush=True)
                rows = page.evaluate("() => [...document.querySelectorAll('#embviz-neighbors tr')]"
                                     ".map(r => r.innerText.replace(/\\s+/g, ' ').trim())")
                print("  " + "\n  ".join(rows), flush=True)
                page.wait_for_timeout(500)
                page.screenshot(path=str(img / name))
            b.close()
    finally:
        proc.terminate()
        proc.wait(timeout=60)


if __name__ == "__main__":
    main(*sys.argv[1:])
