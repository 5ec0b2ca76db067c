"""``embviz serve``: the explorer page and a JSON API over a whole table, on a local web server.

The offline page answers for the points it carries; the server answers for every key of the
table: search over all keys, exact neighbors of any key or expression, analogies.
:mod:`embviz.serve.api` holds the answers (plain functions, the CLI's JSON rows),
:mod:`embviz.serve.app` the ASGI application (Starlette, run by uvicorn). Both come from the
``embviz[serve]`` extra and are imported only by the ``serve`` command.
"""

from __future__ import annotations

from embviz.errors import MissingDependency

SERVE_HINT = "pip install 'embviz[serve]'"


def require() -> None:
    """Raise :class:`~embviz.errors.MissingDependency` (one line) unless starlette, uvicorn and regex import."""
    try:
        import regex  # noqa: F401
        import starlette  # noqa: F401
        import uvicorn  # noqa: F401
    except ImportError as exc:
        raise MissingDependency(f"embviz serve needs {exc.name}: {SERVE_HINT}") from None
