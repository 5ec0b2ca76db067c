"""The Typer app and its error boundary; command modules register on :data:`app`."""

from __future__ import annotations

import copy
import errno
import importlib
import os
import signal
import sys
from typing import Any

import typer
import typer.core

from embviz._version import __version__
from embviz.errors import EmbvizError, ExitCode

_TRACEBACK = "--traceback" in sys.argv
#: Exit code after SIGTERM (128 + 15, as a shell reports a process killed by it).
_TERMINATED = 143
#: errno values of an output that cannot take more bytes (full disk, quota, file-size limit).
_FULL = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)


class Terminated(KeyboardInterrupt):
    """Raised in the main thread on SIGTERM, so cleanup (temporary files, cache folders) runs."""


def _terminate(signum: int, frame: Any) -> None:
    raise Terminated()


def _install_signals() -> list:
    """SIGTERM unwinds like Ctrl-C; SIGXFSZ is ignored so a file-size limit is an error, not a kill.

    Returns the previous handlers, for :func:`_restore_signals` (an embedding application, or
    a test's ``CliRunner``, gets its own back).
    """
    wanted = [(signal.SIGTERM, _terminate)]
    if hasattr(signal, "SIGXFSZ"):
        wanted.append((signal.SIGXFSZ, signal.SIG_IGN))
    previous = []
    try:
        for sig, handler in wanted:
            previous.append((sig, signal.signal(sig, handler)))
    except (ValueError, OSError):  # not the main thread
        pass
    return previous


def _restore_signals(previous: list) -> None:
    for sig, handler in previous:
        try:
            signal.signal(sig, handler)
        except (ValueError, OSError, TypeError):
            pass


class _EmbvizGroup(typer.core.TyperGroup):
    """Turns every error into one stderr line and an exit code (httpie's ``raw_main``)."""

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        """Return the command with word metavars and its examples (:mod:`embviz.cli.help`)."""
        command = super().get_command(ctx, cmd_name)
        if command is not None:
            from embviz.cli.help import polish

            polish(command, cmd_name)
        return command

    def invoke(self, ctx: Any) -> Any:
        from embviz.cli import _common

        _common.route_warnings()
        previous = _install_signals()
        try:
            return super().invoke(ctx)
        except EmbvizError as exc:
            _common.error(str(exc))
            raise typer.Exit(exc.exit_code) from None
        except Terminated:
            _common.error("terminated")
            raise typer.Exit(_TERMINATED) from None
        except KeyboardInterrupt:
            _common.error("interrupted")
            raise typer.Exit(ExitCode.INTERRUPTED) from None
        except BrokenPipeError:  # `embviz neighbors ... | head`
            _common.quiet_broken_pipe()
            raise typer.Exit(0) from None
        except OSError as exc:
            if exc.errno not in _FULL or _TRACEBACK:
                _internal(exc)
            _common.quiet_broken_pipe()  # nothing more can reach stdout, not even at exit
            _common.error(f"cannot write the output: {exc.strerror}")
            raise typer.Exit(ExitCode.ERROR) from None
        except (typer.Exit, typer.Abort):
            raise
        except Exception as exc:  # noqa: BLE001 - the one place that catches everything
            _internal(exc)
        finally:
            _restore_signals(previous)


def _internal(exc: Exception) -> None:
    """Report a bug as one line and exit 123 (or re-raise it with --traceback)."""
    from embviz.cli import _common

    if _TRACEBACK or getattr(exc, "__module__", "").startswith("typer._click"):
        raise exc
    _common.error(f"internal error: {type(exc).__name__}: {exc} (re-run with --traceback)", plain=True)
    raise typer.Exit(ExitCode.INTERNAL) from None


#: Options of the root command that print something of the whole app: every command is built.
_WHOLE_APP = frozenset({"-h", "--help", "--version", "--install-completion", "--show-completion"})


def invoked_command(argv: list[str]) -> str | None:
    """Return the command `argv` (the arguments after ``embviz``) names, or None if it names none.

    The first word that is not an option; None when a root option that shows the whole app
    (``--help``, ``--version``, completion) comes first, or after ``--``.
    """
    for arg in argv:
        if arg in _WHOLE_APP or arg == "--":
            return None
        if not arg.startswith("-"):
            return arg
    return None


#: The modules of :mod:`embviz.cli` that register commands on :data:`app`, in the order
#: ``embviz --help`` lists them, with the commands and groups each registers (a test checks).
COMMAND_MODULES = {
    "query": ("info", "lookup", "neighbors", "analogy", "similarity", "convert"),
    "recommend": ("recommend",),
    "cache": ("cache",),
    "index": ("index",),
    "project": ("project", "plot"),
    "train": ("train",),
    "evaluate": ("evaluate",),
    "compare": ("diff",),
    "quality": ("quality",),
    "serve": ("serve",),
}
_MODULE_OF = {command: module for module, commands in COMMAND_MODULES.items() for command in commands}


class _EmbvizTyper(typer.Typer):
    """The app; run as a program (:meth:`__call__`), it imports and builds only the command it is asked for.

    The command modules (:data:`COMMAND_MODULES`) register themselves when imported. Reading
    :attr:`registered_commands` or :attr:`registered_groups` imports them all, in ``--help``
    order (``CliRunner().invoke(app, ...)``, ``typer.main.get_command(app)``). The program
    imports only the module of the command named on its command line: importing all nine
    took about 0.05 s of a warm ``embviz neighbors KEY``. And Typer turns every registered
    command into a click command before parsing (reading each function's signature and its
    options): for 23 commands that took 0.12 s (0.5 s in all); the command named is the only
    one that can run, so only it is built. ``--version`` builds none; ``--help``, shell
    completion, a misspelt command or none build them all.
    """

    _all_loaded = False
    _loading = False

    @property  # type: ignore[override]
    def registered_commands(self) -> list:  # noqa: D102 - Typer's attribute, filled on first read
        self._load()
        return self.__dict__["_commands"]

    @registered_commands.setter
    def registered_commands(self, value: list) -> None:
        self.__dict__["_commands"] = value

    @property  # type: ignore[override]
    def registered_groups(self) -> list:  # noqa: D102 - Typer's attribute, filled on first read
        self._load()
        return self.__dict__["_groups"]

    @registered_groups.setter
    def registered_groups(self, value: list) -> None:
        self.__dict__["_groups"] = value

    def _load(self, command: str | None = None) -> None:
        """Import the module of `command`, or every command module (None), once."""
        if self._all_loaded or self._loading:
            return
        modules = list(COMMAND_MODULES) if command is None else [_MODULE_OF[command]]
        self._loading = True  # a module's @app.command() reads registered_commands
        try:
            for module in modules:
                importlib.import_module(f"embviz.cli.{module}")
        finally:
            self._loading = False
        if command is None:
            self._all_loaded = True

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        """Run the command line (``sys.argv``, or ``args=``), building only the command it names."""
        argv = list(kwargs.get("args", args[0] if args else None) or sys.argv[1:])
        completing = any(k.startswith("_") and k.endswith("_COMPLETE") for k in os.environ)
        name = None if completing else invoked_command(argv)
        if name is None and not completing and _version_first(argv):
            one = copy.copy(self)  # the root callback alone: --version is eager and exits
            one.registered_commands, one.registered_groups, one._all_loaded = [], [], True
            return typer.Typer.__call__(one, *args, **kwargs)
        if name is None or name not in _MODULE_OF:  # click names a mistake, with suggestions
            return super().__call__(*args, **kwargs)
        self._load(name)
        one = copy.copy(self)  # the same root callback and settings, one command
        one._all_loaded = True
        one.registered_commands = [
            c for c in self.__dict__["_commands"]
            if (c.name or typer.main.get_command_name(c.callback.__name__)) == name  # type: ignore[union-attr]
        ]
        one.registered_groups = [g for g in self.__dict__["_groups"] if g.name == name]
        return typer.Typer.__call__(one, *args, **kwargs)


def _version_first(argv: list[str]) -> bool:
    """Whether ``--version`` is the first of the root options that show the whole app."""
    first = next((a for a in argv if a in _WHOLE_APP or a == "--" or not a.startswith("-")), None)
    return first == "--version"


app = _EmbvizTyper(
    cls=_EmbvizGroup,
    name="embviz",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
    add_completion=True,  # --install-completion / --show-completion (bash, zsh, fish, PowerShell)
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

    Commands read their table with -v/--vectors FILE (word2vec binary/text, GloVe, fastText
    .vec/.bin, .npy/.npz, safetensors, Parquet/Arrow, the Projector TSV; optionally
    gzip/bz2/xz); without it, the bundled sample (40,000 GloVe 6B 50d keys). Except: convert
    and diff take their files as arguments, train writes one, and cache and index list read
    none. stdout carries only data: a table on a terminal, TSV on a pipe, or --format.
    """
