"""The Typer app and its error boundary; command modules register on :data:`app`."""

from __future__ import annotations

import sys
from typing import Any

import typer
import typer.core

from embviz._version import __version__
from embviz.errors import EmbvizError, ExitCode

_TRACEBACK = "--traceback" in sys.argv


class _EmbvizGroup(typer.core.TyperGroup):
    """Turns every error into one stderr line and an exit code (httpie's ``raw_main``)."""

    def invoke(self, ctx: Any) -> Any:
        from embviz.cli import _common

        _common.route_warnings()
        try:
            return super().invoke(ctx)
        except EmbvizError as exc:
            _common.error(str(exc))
            raise typer.Exit(exc.exit_code) from None
        except KeyboardInterrupt:
            _common.error("interrupted")
            raise typer.Exit(ExitCode.INTERRUPTED) from None
        except BrokenPipeError:  # `embviz neighbors ... | head`
            _common.quiet_broken_pipe()
            raise typer.Exit(0) from None
        except (typer.Exit, typer.Abort):
            raise
        except Exception as exc:  # noqa: BLE001 - the one place that catches everything
            if _TRACEBACK or getattr(exc, "__module__", "").startswith("typer._click"):
                raise
            _common.error(
                f"internal error: {type(exc).__name__}: {exc} (re-run with --traceback)",
                plain=True,
            )
            raise typer.Exit(ExitCode.INTERNAL) from None


app = typer.Typer(
    cls=_EmbvizGroup,
    name="embviz",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
    add_completion=False,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"embviz {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
    traceback: bool = typer.Option(
        False, "--traceback", help="Show the Python traceback of internal errors."
    ),
) -> None:
    """Explore and visualize embeddings: neighbors, analogies, plots, evaluation, training.

    Every command reads -v/--vectors FILE (word2vec binary/text, GloVe, fastText .vec,
    optionally gzip/bz2/xz); without it, the bundled sample (40,000 GloVe 6B 50d keys).
    stdout carries only data: a table on a terminal, TSV on a pipe, or --format.
    """
