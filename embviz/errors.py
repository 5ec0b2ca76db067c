"""Exceptions and exit codes shared by the library and the CLI.

Every error embviz raises on purpose is an :class:`EmbvizError`; its leaves also subclass
the builtin a Python caller would expect (``KeyNotFound`` is a ``KeyError``, ``FormatError``
a ``ValueError``), and carry the exit code the CLI uses. The CLI prints ``str(exc)`` as one
line on stderr.
"""

from __future__ import annotations

from enum import IntEnum
from typing import ClassVar


class ExitCode(IntEnum):
    """Process exit codes (documented in docs/errors.md)."""

    OK = 0
    ERROR = 1
    USAGE = 2
    NOT_FOUND = 3
    INTERNAL = 123
    INTERRUPTED = 130


class EmbvizError(Exception):
    """Base class of the errors embviz raises on purpose; ``str(exc)`` is one line."""

    exit_code: ClassVar[int] = ExitCode.ERROR

    def __str__(self) -> str:  # a KeyError parent would repr() the message
        # one line, even when it quotes a library's multi-line message (pyarrow's)
        text = str(self.args[0]) if self.args else self.__class__.__name__
        return " ".join(text.split("\n")).strip() if "\n" in text else text


class FormatError(EmbvizError, ValueError):
    """A vector file (or another input file) is malformed; the message names file and line."""


class KeyNotFound(EmbvizError, KeyError):
    """A key is not in the vocabulary; the message lists close matches."""

    exit_code: ClassVar[int] = ExitCode.NOT_FOUND


class InvalidQuery(EmbvizError, ValueError):
    """A query expression, id or parameter is invalid (bad syntax, id out of range, k < 1)."""


class MissingDependency(EmbvizError, ImportError):
    """An optional dependency is not installed; the message gives the pip command."""


class EmbvizWarning(UserWarning):
    """Warnings about tolerated input (duplicate keys, invalid UTF-8, cache fallbacks)."""


def warn(message: str) -> None:
    """Emit an :class:`EmbvizWarning`; the CLI prints it as one ``embviz: warning:`` line."""
    import warnings

    warnings.warn(message, EmbvizWarning, stacklevel=3)


def require(module: str, *, package: str | None = None):  # noqa: ANN201
    """Import `module` lazily, raising :class:`MissingDependency` with the pip hint if absent."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as exc:  # pragma: no cover - every dependency is declared
        raise MissingDependency(
            f"{module} is required for this command; install it with: pip install {package or module}"
        ) from exc
