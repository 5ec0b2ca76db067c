"""Benchmark: an interactive HTML plot of all 400,000 GloVe 6B 50d keys.

embviz: ``embviz plot -v glove.6B.50d.txt --top 400000 --method pca --labels 100`` in a fresh
process, timed whole (start-up, mapping the cached vectors, PCA, recall@10 estimate, figure,
HTML written atomically), and the library's figure + HTML step alone, in process.

Anchor: plain plotly, ``go.Figure(go.Scattergl(x, y, text=keys, mode="markers"))
.write_html(include_plotlyjs=True)`` of the same 400,000 coordinates, in process.

Targets (issue #4): under 25 MB and under 10 s for 400,000 points.
Run: ``EMBVIZ_BENCH_DATA=/work/data python bench/bench_plot.py``.
"""

from __future__ import annotations

import shutil
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import glove_files, median_time, run_process, write_result  # noqa: E402

EMBVIZ = [sys.executable, "-m", "embviz"]


def main() -> None:
    """Run every measurement and write ``bench/results/plot.json``."""
    from embviz import io as embviz_io
    from embviz import viz as P
    from embviz import viz as PL

    text = glove_files()["text"]
    work = Path(tempfile.mkdtemp(prefix="embviz-bench-plot-"))
    cache = work / "cache"
    out = work / "glove400k.html"
    cmd = [
        *EMBVIZ,
        "plot",
        "-v",
        str(text),
        "--top",
        "400000",
        "--method",
        "pca",
        "--labels",
        "100",
        "-q",
        "-o",
        str(out),
        "--cache-dir",
        str(cache),
    ]
    first = run_process(cmd)[0]  # builds the vector cache (parses the 171 MB text once)
    walls = []
    for _ in range(3):
        (cache / "projections").exists() and shutil.rmtree(cache / "projections")
        w, _, _ = run_process(cmd)
        walls.append(w)
    cli_s = statistics.median(walls)
    size = out.stat().st_size

    v = embviz_io.load(text, cache_dir=cache)
    s = P.select(v, top=400_000)
    proj = P.project(v, s, method="pca")
    prov = PL.provenance(
        proj, source=text.name, fingerprint=None, selection=s.description, total=s.total
    )

    def embviz_html() -> None:
        PL.write_html(PL.figure(proj, prov=prov, labels=100), work / "lib.html")

    def plotly_html() -> None:
        import plotly.graph_objects as go

        fig = go.Figure(
            go.Scattergl(
                x=proj.coords[:, 0], y=proj.coords[:, 1], text=list(proj.keys), mode="markers"
            )
        )
        fig.write_html(work / "anchor.html", include_plotlyjs=True)

    lib_s, lib_runs = median_time(embviz_html, 3)
    anchor_s, anchor_runs = median_time(plotly_html, 3)
    anchor_size = (work / "anchor.html").stat().st_size
    rows = [
        {
            "operation": "embviz plot, 400,000 points, fresh process "
            "(PCA + trust + HTML, plotly.js inlined)",
            "embviz_s": round(cli_s, 2),
            "anchor": "plain plotly Scattergl write_html of the same 400,000 points (in process)",
            "anchor_s": round(anchor_s, 2),
            "speedup": round(anchor_s / cli_s, 2),
            "target": "< 10 s and < 25 MB",
            "met": cli_s < 10 and size < 25e6,
            "detail": f"HTML {size / 1e6:.1f} MB (anchor {anchor_size / 1e6:.1f} MB); runs "
            f"{[round(t, 2) for t in walls]}; first run incl. parsing the text file {first:.1f} s",
        },
        {
            "operation": "figure + HTML only, 400,000 points, in process "
            "(key + rank hover, 100 labels)",
            "embviz_s": round(lib_s, 2),
            "anchor": "plain plotly Scattergl write_html (key hover only)",
            "anchor_s": round(anchor_s, 2),
            "speedup": round(anchor_s / lib_s, 2),
            "target": "< 10 s",
            "met": lib_s < 10,
            "detail": f"runs {[round(t, 2) for t in lib_runs]}; "
            f"anchor runs {[round(t, 2) for t in anchor_runs]}",
        },
    ]
    write_result(
        "plot",
        "Interactive HTML plot of 400,000 GloVe 6B 50d keys",
        rows,
        notes="Coordinates and ranks are embedded as base64 float32/int32 typed arrays; keys "
        "HTML-escaped; plotly.js (about 4.7 MB) inlined so the file works offline.",
    )
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
