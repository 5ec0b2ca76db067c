"""What the CLI writes on stderr: messages, the one error line, warnings, progress bars; --quiet.

Everything here goes to stderr, so stdout carries only the answer: ``embviz: ...`` messages
(unless --quiet), the one ``embviz: error: ...`` line (always), library warnings as one line
each, and rich progress bars (on a terminal, without --quiet). ``_state`` holds --quiet, set by
the option's callback (:data:`embviz.cli._options.QuietOpt`). Importable from
:mod:`embviz.cli._common` as before.
"""

from __future__ import annotations

import sys
import warnings
from contextlib import contextmanager
from typing import Any, Callable, Iterator

from embviz.errors import EmbvizWarning

_state = {"quiet": False}


def _set_quiet(value: bool) -> bool:
    _state["quiet"] = bool(value)
    return value


def stderr_is_terminal() -> bool:
    """Whether stderr is a terminal (progress displays only then)."""
    return sys.stderr.isatty()


def message(text: str) -> None:
    """Print a message on stderr (``wrote plot.html``), unless --quiet."""
    if not _state["quiet"] and not any(text.startswith(p) for p in _state.get("hidden", ())):
        sys.stderr.write(f"embviz: {text}\n")
        sys.stderr.flush()


@contextmanager
def hidden_messages(*prefixes: str) -> Iterator[None]:
    """Within the block, drop the messages that start with one of `prefixes` (a command run by another).

    ``embviz serve`` draws its page with ``plot`` into a temporary file; the user must not be
    told about that file (``wrote /tmp/...``), which is gone once the page is read.
    """
    before = _state.get("hidden", ())
    _state["hidden"] = (*before, *prefixes)
    try:
        yield
    finally:
        _state["hidden"] = before


#: Longest error or warning line printed; a longer one (a 10 MB query echoed) is cut in the middle.
MAX_LINE = 2000


def one_line(text: str) -> str:
    """Return `text` as one printable line of at most ``MAX_LINE`` characters.

    Newlines are escaped, and so are lone surrogates (undecodable arguments), so the line
    can be written on any stderr.
    """
    text = str(text).replace("\r", "\\r").replace("\n", "\\n")
    if len(text) > MAX_LINE:
        cut = len(text) - MAX_LINE + 200
        text = f"{text[: MAX_LINE - 600]} ...[{cut:,} characters cut]... {text[-400:]}"
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def error(text: str, *, plain: bool = False) -> None:
    """Print the one error line on stderr (always printed, even with --quiet)."""
    text = one_line(text)
    sys.stderr.write(f"embviz: {text}\n" if plain else f"embviz: error: {text}\n")
    sys.stderr.flush()


def route_warnings() -> None:
    """Print library warnings as one ``embviz: warning:`` line each, unless --quiet."""

    def show(msg, category, filename, lineno, file=None, line=None) -> None:  # noqa: ANN001
        if _state["quiet"]:
            return
        if issubclass(category, EmbvizWarning):
            sys.stderr.write(f"embviz: warning: {one_line(str(msg))}\n")

    warnings.showwarning = show
    warnings.simplefilter("always", EmbvizWarning)


def progress(transient: bool = True) -> Any:
    """Return a rich Progress on stderr, shown only on a terminal and without --quiet.

    Each task is one line: description, bar, ``done/total``, elapsed and remaining time. A
    task added with the field ``spin=True`` (see :func:`stages`) has no total: its line shows a
    spinner and the elapsed time instead (a check mark once finished).
    """
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        Progress,
        ProgressColumn,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )
    from rich.spinner import Spinner
    from rich.text import Text

    class Count(ProgressColumn):
        """``done/total`` with thousands separators; ``?`` while the total is unknown."""

        def render(self, task: Any) -> Text:
            if task.fields.get("spin"):
                return Text("")
            total = "?" if task.total is None else f"{task.total:,.0f}"
            return Text(f"{task.completed:,.0f}/{total}")

    class Bar(BarColumn):
        """The bar; a spinner in its place for a stage without a total (``spin``)."""

        spinner = Spinner("dots", style="progress.spinner")

        def render(self, task: Any) -> Any:
            if task.fields.get("spin"):
                return Text("✓") if task.finished else self.spinner.render(task.get_time())
            return super().render(task)

    class Remaining(TimeRemainingColumn):
        """The estimated time left; nothing for a stage without a total (``spin``)."""

        def render(self, task: Any) -> Text:
            return Text("") if task.fields.get("spin") else super().render(task)

    console = Console(stderr=True)
    return Progress(
        TextColumn("[progress.description]{task.description}"),
        Bar(),
        Count(),
        TimeElapsedColumn(),
        Remaining(),
        console=console,
        transient=transient,
        disable=_state["quiet"] or not console.is_terminal,
    )


#: ``report(stage, done, total)``: the library's progress callback (total None: unknown).
Report = Callable[[str, int, int | None], None]


@contextmanager
def stages(transient: bool = True) -> Iterator[Report]:
    """Draw a library's ``progress(stage, done, total)`` reports on stderr, one line per stage.

    Yields the callback to pass as ``progress=``. A stage with a total shows a bar with
    ``done/total``, the elapsed and the remaining time; a stage reported with ``total=None``
    shows a spinner and the elapsed time. When a new stage starts, the earlier ones are drawn
    finished. Nothing is drawn off a terminal or with --quiet (:func:`progress`).

    Examples
    --------
    >>> with stages() as report:  # doctest: +SKIP
    ...     record = quality.quality(table, progress=report)
    """
    with progress(transient) as bar:
        yield _reporter(bar)


def _reporter(bar: Any) -> Report:
    """Return the ``report(stage, done, total)`` callback of :func:`stages` drawing on `bar`."""
    tasks: dict[str, Any] = {}

    def finish(task: Any) -> None:
        t = bar.tasks[task]
        if t.fields.get("spin"):
            bar.update(task, total=1, completed=1)
        elif t.total is not None:
            bar.update(task, completed=t.total)

    def report(stage: str, done: int, total: int | None) -> None:
        if stage not in tasks:
            for task in tasks.values():
                finish(task)
            tasks[stage] = bar.add_task(stage, total=total, spin=total is None)
        task = tasks[stage]
        if total is None:
            bar.update(task, completed=done)
        else:
            bar.update(task, completed=done, total=total, spin=False)

    return report
