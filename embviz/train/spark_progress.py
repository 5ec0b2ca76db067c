"""The progress of a Spark training run: the events sent to the progress hook, and the poller.

:class:`SparkStarted` is sent once the session is up; :class:`SparkTasks` whenever the task
counts of a job change, read from Spark's status tracker every 0.1 s by :class:`_Tracker`,
which also runs the jobs (in a thread of their own job group, so Ctrl-C cancels them) and
times each training epoch (:class:`~embviz.train.params.EpochStats`). Used by
:mod:`embviz.train.engine_spark`, which re-exports these names; pyspark is imported lazily.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Callable

from embviz.train.params import EpochStats

_POLL_S = 0.1


@dataclass(frozen=True)
class SparkStarted:
    """Sent to the progress callback once the Spark session is up.

    Attributes
    ----------
    version : str
        Spark's version (``spark.version``).
    master : str
    app_id : str
        Spark's application id.
    parallelism : int
        ``defaultParallelism``: cores (local mode) or executor cores the job may use.
    seconds : float
        Wall time to start the JVM (if not yet running in this process) and the session.
    """

    version: str
    master: str
    app_id: str
    parallelism: int
    seconds: float


@dataclass(frozen=True)
class SparkTasks:
    """Spark's status tracker, polled every 0.1 s while a job runs: sent when a count changes.

    Attributes
    ----------
    phase : str
        ``"counting"`` (the vocabulary pass), ``"vocabulary"`` or ``"epoch"`` (Word2Vec's own
        jobs), ``"collecting"`` (reading the vectors back).
    epoch : int
        1-based epoch of a training job, else 0.
    tasks_done, tasks_total : int
        Completed and total tasks of the job's stages seen so far.
    stages_done, stages_total : int
    """

    phase: str
    epoch: int
    tasks_done: int
    tasks_total: int
    stages_done: int
    stages_total: int


# -- progress --------------------------------------------------------------------------------
class _Tracker:
    """Polls Spark's status tracker for the jobs of one job group; calls the progress hook."""

    def __init__(
        self, sc: Any, group: str, hook: Callable[[Any], None] | None, epochs: int, words: int
    ) -> None:
        self.sc, self.group, self.hook = sc, group, hook
        self.epochs, self.words = epochs, words
        self.status = sc.statusTracker()
        self.last: dict[int, tuple] = {}
        self.finished: set[int] = set()
        self.started: dict[int, float] = {}
        self.epoch_stats: list[EpochStats] = []
        self.phase = "counting"

    def _kind(self, names: list[str]) -> str:
        if any("Word2Vec" in n and "mapPartitions" in n for n in names):
            return "epoch"
        if any("Word2Vec" in n for n in names):
            return "vocabulary"
        return self.phase

    def poll(self) -> None:
        for job in sorted(self.status.getJobIdsForGroup(self.group)):
            if job in self.finished:
                continue
            info = self.status.getJobInfo(job)
            if info is None:
                continue
            self.started.setdefault(job, time.perf_counter())
            stages = [s for s in map(self.status.getStageInfo, info.stageIds) if s is not None]
            names = [s.name for s in stages]
            kind = self._kind(names)
            done = str(info.status) in ("SUCCEEDED", "FAILED")
            tasks_total = sum(s.numTasks for s in stages)
            tasks_done = sum(s.numCompletedTasks for s in stages)
            stages_done = sum(s.numCompletedTasks == s.numTasks for s in stages)
            epoch = len(self.epoch_stats) + 1 if kind == "epoch" else 0
            event = SparkTasks(kind, epoch, tasks_done, tasks_total, stages_done, len(stages))
            if self.last.get(job) != (event, done) and self.hook is not None:
                self.hook(event)
            self.last[job] = (event, done)
            if done:
                self.finished.add(job)
                if kind == "epoch" and str(info.status) == "SUCCEEDED":
                    seconds = time.perf_counter() - self.started[job]
                    stats = EpochStats(
                        epoch,
                        self.epochs,
                        self.words,
                        seconds,
                        self.words / seconds if seconds > 0 else float("inf"),
                        None,
                    )
                    self.epoch_stats.append(stats)
                    if self.hook is not None:
                        self.hook(stats)

    def run(self, fn: Callable[[], Any]) -> Any:
        """Run `fn` (Spark actions) in a thread of this job group; poll until it returns."""
        from pyspark import InheritableThread

        out: dict[str, Any] = {}

        def target() -> None:
            try:
                self.sc.setJobGroup(self.group, "embviz train", interruptOnCancel=True)
                out["value"] = fn()
            except BaseException as exc:  # noqa: BLE001 - re-raised in the caller's thread
                out["error"] = exc

        thread = InheritableThread(target=target, daemon=True)
        thread.start()
        try:
            while thread.is_alive():
                thread.join(_POLL_S)
                self.poll()
        except KeyboardInterrupt:
            self.sc.cancelJobGroup(self.group)
            thread.join(30)
            raise
        if "error" in out:
            raise out["error"]
        return out.get("value")
