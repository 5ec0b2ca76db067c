"""Startup stays light: the CLI and terminal queries import no heavy dependency (fresh processes)."""

from __future__ import annotations

import os
import subprocess
import sys

HEAVY = ("umap", "sklearn", "gensim", "plotly", "scipy")
ALSO_LAZY = ("rich", "pandas", "pyspark")

_REPORT = """
import atexit, sys
WATCH = {watch!r}
def _report():
    sys.stderr.write("IMPORTED " + ",".join(m for m in WATCH if m in sys.modules) + "\\n")
atexit.register(_report)
"""


def _python(code: str, env: dict | None = None) -> subprocess.CompletedProcess:
    run = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
        env={**os.environ, **(env or {})},
    )
    return run


def _imported(stderr: str) -> list[str]:
    line = [x for x in stderr.splitlines() if x.startswith("IMPORTED ")][-1]
    return [m for m in line[len("IMPORTED "):].split(",") if m]


def test_importing_the_cli_pulls_no_heavy_dependency():
    code = f"import sys, embviz.cli; print(sorted(m for m in {HEAVY + ALSO_LAZY!r} if m in sys.modules))"
    run = _python(code)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "[]"


def test_importing_embviz_pulls_numpy_only():
    code = (
        "import sys, embviz; "
        f"print(sorted(m for m in {HEAVY + ALSO_LAZY + ('typer', 'click')!r} if m in sys.modules))"
    )
    run = _python(code)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "[]"


def test_help_imports_nothing_heavy():
    code = _REPORT.format(watch=HEAVY + ALSO_LAZY) + (
        "sys.argv = ['embviz', '--help']\nfrom embviz.cli import main\nmain()\n"
    )
    run = _python(code)
    assert run.returncode == 0, run.stderr
    assert "neighbors" in run.stdout
    assert _imported(run.stderr) == []


def test_terminal_query_imports_nothing_heavy(tmp_path):
    code = _REPORT.format(watch=HEAVY + ALSO_LAZY) + (
        "sys.argv = ['embviz', 'neighbors', 'king', '-k', '3']\n"
        "from embviz.cli import main\nmain()\n"
    )
    env = {"EMBVIZ_CACHE_DIR": str(tmp_path / "cache"), "XDG_CACHE_HOME": str(tmp_path / "xdg")}
    cold = _python(code, env)
    assert cold.returncode == 0, cold.stderr
    assert cold.stdout == (
        "query\trank\tkey\tscore\nking\t1\tprince\t0.823618\nking\t2\tqueen\t0.783904\n"
        "king\t3\tii\t0.774623\n"
    )
    # the first (cold) run parses the text file: pandas is allowed, the heavy ones are not
    assert [m for m in _imported(cold.stderr) if m in HEAVY] == []
    warm = _python(code, env)
    assert warm.returncode == 0, warm.stderr
    assert warm.stdout == cold.stdout
    assert warm.stderr == "IMPORTED \n"  # nothing heavy, no pandas, no rich, no messages

