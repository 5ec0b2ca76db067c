"""Render every ``bench/results/*.json`` into ``docs/benchmarks.md``.

Usage: python bench/report.py
"""

from __future__ import annotations

import json
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _fmt(x: object, digits: int = 3) -> str:
    if isinstance(x, float):
        return f"{x:.{digits}f}" if abs(x) < 1000 else f"{x:,.0f}"
    return "" if x is None else str(x)


def main() -> None:
    """Write docs/benchmarks.md from the results files."""
    results = [json.loads(p.read_text()) for p in sorted((ROOT / "bench" / "results").glob("*.json"))]
    lines = ["# Benchmarks", "",
             "Measured by the scripts in `bench/` on this project's CI-class machine. Every row times "
             "embviz and its anchor **in the same run**, repeats each measurement and reports the "
             "**median**; speed-up = anchor time / embviz time. Re-run with `bench/run_all.sh`.", ""]
    for r in results:
        m = r["machine"]
        lines += [f"## {r['title']}", "",
                  f"{r['date']} · {m['cores']} cores, {m['ram_gib']} GiB RAM · {m['cpu']} · Python {m['python']}", "",
                  "| operation | embviz (s) | anchor | anchor (s) | speed-up | peak RSS (MiB) | target | met |",
                  "|---|---:|---|---:|---:|---:|---|:-:|"]
        for row in r["rows"]:
            lines.append("| " + " | ".join([
                row["operation"], _fmt(row.get("embviz_s")), row.get("anchor", ""), _fmt(row.get("anchor_s")),
                (_fmt(row.get("speedup"), 1) + "x") if row.get("speedup") else "",
                _fmt(row.get("peak_rss_mib"), 0), row.get("target", ""),
                {True: "yes", False: "**no**"}.get(row.get("met"), ""),
            ]) + " |")
        if r.get("notes"):
            lines += ["", r["notes"]]
        lines.append("")
    (ROOT / "docs" / "benchmarks.md").write_text("\n".join(lines))
    print((ROOT / "docs" / "benchmarks.md").read_text())


if __name__ == "__main__":
    main()
