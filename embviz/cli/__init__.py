"""The ``embviz`` command line: a thin Typer layer over the library.

The only package that imports typer. A command is three steps: load, query (a library call),
render (:mod:`embviz.output`). Errors become one ``embviz: error:`` line and an exit code at a
single boundary (:class:`_EmbvizGroup`); heavy libraries are imported inside commands only.
"""

from __future__ import annotations

from embviz.cli.app import app

# Command groups register themselves on `app` when imported, in this order, which is the order
# `embviz --help` lists them in; each imports only light modules at top level.
# isort: off
from embviz.cli import query as _query  # noqa: F401
from embviz.cli import recommend as _recommend  # noqa: F401
from embviz.cli import cache as _cache  # noqa: F401
from embviz.cli import index as _index  # noqa: F401
from embviz.cli import project as _project  # noqa: F401
from embviz.cli import train as _train  # noqa: F401
from embviz.cli import evaluate as _evaluate  # noqa: F401
from embviz.cli import compare as _compare  # noqa: F401
from embviz.cli import quality as _quality  # noqa: F401
# isort: on

__all__ = ["app", "main"]


def main() -> None:
    """Console-script entry point."""
    app()
