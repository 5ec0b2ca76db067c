"""The ``embviz`` command line: a thin Typer layer over the library.

The only package that imports typer. A command is three steps: load, query (a library call),
render (:mod:`embviz.output`). Errors become one ``embviz: error:`` line and an exit code at a
single boundary (:class:`_EmbvizGroup`); heavy libraries are imported inside commands only,
and a run imports only the module of the command it runs.
"""

from __future__ import annotations

from embviz.cli.app import app

# The command modules (embviz.cli.app.COMMAND_MODULES) register their commands on `app` when
# imported: all of them the first time `app`'s commands are read, or, when the program runs,
# only the one that defines the command on the command line.

__all__ = ["app", "main"]


def main() -> None:
    """Console-script entry point."""
    app()
