"""The pieces every ``embviz train`` run shares: stdin spooled to a file, the progress display, --eval's lines.

:class:`_Display` is the progress hook of all three runs (gensim, item2vec, Spark): a progress
bar on a terminal without --quiet, and one stderr line per step (vocabulary, epoch, Spark
session). Importable from :mod:`embviz.cli.train` as before.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

from embviz.cli._common import message, stderr_is_terminal


def _spool_stdin() -> Path:
    """Copy stdin to a temporary file (gensim's corpus_file mode needs a seekable file)."""
    fd, name = tempfile.mkstemp(prefix="embviz-stdin-", suffix=".txt")
    try:
        with os.fdopen(fd, "wb") as f:
            shutil.copyfileobj(sys.stdin.buffer, f, 1 << 20)
    except BaseException:
        os.unlink(name)
        raise
    return Path(name)


class _Display:
    """The progress bar (a terminal without --quiet) and the per-epoch lines on stderr."""

    def __init__(self, quiet: bool) -> None:
        self.quiet = quiet
        self.bar = None
        self.task = None
        if not quiet and stderr_is_terminal():
            from rich.console import Console
            from rich.progress import (
                BarColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,
                TimeRemainingColumn,
            )

            self.bar = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                TextColumn("{task.fields[rate]}"),
                TimeElapsedColumn(),
                TextColumn("eta"),
                TimeRemainingColumn(),
                console=Console(stderr=True),
                transient=True,
            )

    def __enter__(self) -> _Display:
        if self.bar is not None:
            self.bar.start()
            self.task = self.bar.add_task("reading corpus", total=None, rate="")
        return self

    def __exit__(self, *exc: Any) -> None:
        if self.bar is not None:
            self.bar.stop()

    def line(self, text: str) -> None:
        if self.quiet:
            return
        if self.bar is not None:
            self.bar.console.print(f"embviz: {text}", markup=False, highlight=False)
        else:
            message(text)

    def __call__(self, event: Any) -> None:
        from embviz.train import EpochStats, TrainStart
        from embviz.train.engine_spark import SparkStarted, SparkTasks

        if isinstance(event, SparkStarted):
            self.line(
                f"spark {event.version} on {event.master} ({event.parallelism} cores): "
                f"session started in {event.seconds:.1f} s"
            )
        elif isinstance(event, SparkTasks):
            if self.bar is not None and event.phase != "epoch":
                self.bar.update(
                    self.task,
                    description=f"spark: {event.phase} (tasks {event.tasks_done}/"
                    f"{event.tasks_total})",
                )
        elif isinstance(event, TrainStart):
            self.line(
                f"vocabulary: {event.vocab_size:,} keys from {event.words_per_epoch:,} words in "
                f"{event.sentences:,} sentences; training {event.epochs} epochs"
            )
            if self.bar is not None:
                self.bar.update(
                    self.task,
                    description=f"epoch 1/{event.epochs}",
                    completed=0,
                    total=event.epochs * event.words_per_epoch,
                )
        elif isinstance(event, EpochStats):
            loss = f"loss {event.loss:,.1f}, " if event.loss is not None else ""
            self.line(f"epoch {event.epoch}/{event.epochs}: {loss}{event.words_per_s:,.0f} words/s")
            if self.bar is not None:
                nxt = min(event.epoch + 1, event.epochs)
                self.bar.update(
                    self.task,
                    advance=event.words,
                    description=f"epoch {nxt}/{event.epochs}",
                    rate=f"{event.words_per_s:,.0f} words/s",
                )


def _eval_lines(evaluation: dict) -> list[str]:
    def num(x: float | None, spec: str) -> str:
        return "n/a" if x is None else format(x, spec)

    a = evaluation["analogies"]
    lines = [
        f"eval: analogies ({a['dataset']}, {a['method']}): accuracy {num(a['accuracy'], '.4f')} "
        f"({a['correct']:,} of {a['total']:,} answered; coverage {num(a['coverage'], '.1%')})"
    ]
    for p in evaluation["word_pairs"]:
        if "error" in p:
            lines.append(f"eval: word pairs ({p['dataset']}): not scored: {p['error']}")
            continue
        lines.append(
            f"eval: word pairs ({p['dataset']}): spearman {num(p['spearman'], '.4f')}, "
            f"pearson {num(p['pearson'], '.4f')} ({p['used']:,} of {p['pairs']:,} pairs; "
            f"out of vocabulary {num(p['oov_ratio'], '.1%')})"
        )
    return lines
