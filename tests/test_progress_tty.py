"""The slow commands draw progress on a terminal, and only there (docs/progress.md).

Each command runs three times on the bundled sample: with stderr on a pseudo-terminal
(``script``), where a bar (``━``) or a spinner must appear with the stage's text; with ``-q``
on the same terminal, where nothing of it may appear; and with stderr on a pipe, where nothing
of it may appear either. The answer (stdout or the ``-o`` file) is the same in all three runs.
The display itself (:func:`embviz.cli._stderr.stages`) is checked in process.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytestmark = pytest.mark.skipif(shutil.which("script") is None, reason="needs script(1) (util-linux)")

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b\][^\x07]*\x07")
BAR = "━"
#: rich's "dots" spinner frames, and the check mark of a finished stage without a total
SPINNER = set("⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏✓")
TIMEOUT = 600
EMBVIZ = f"{shlex.quote(sys.executable)} -m embviz"


def _env() -> dict[str, str]:
    env = dict(os.environ, COLUMNS="100", LINES="50", NO_COLOR="1", TERM="xterm")
    env.pop("CI", None)  # the commands behave as for a user
    return env


def on_terminal(command: str, cwd: Path) -> str:
    """Run `command` on a pty (stdin, stderr, and stdout unless redirected); return what it drew."""
    run = subprocess.run(
        ["script", "-qec", command, "/dev/null"], cwd=cwd, env=_env(), capture_output=True,
        text=True, encoding="utf-8", errors="replace", timeout=TIMEOUT,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    return ANSI.sub("", run.stdout).replace("\r", "\n")


def on_pipe(command: str, cwd: Path) -> str:
    """Run `command` with stderr on a pipe; return its stderr."""
    run = subprocess.run(
        ["bash", "-c", command], cwd=cwd, env=_env(), capture_output=True, text=True,
        encoding="utf-8", errors="replace", timeout=TIMEOUT,
    )
    assert run.returncode == 0, run.stderr
    return run.stderr


def _drawn(text: str) -> bool:
    return BAR in text or bool(SPINNER & set(text))


@pytest.fixture(scope="module")
def table_b(tmp_path_factory) -> Path:
    """A perturbed copy of the sample (seeded noise), written with embviz.save."""
    import embviz

    a = embviz.load(embviz.sample_path())
    rng = np.random.default_rng(0)
    b = a.matrix + rng.normal(0.0, 0.2, a.matrix.shape).astype(np.float32)
    path = tmp_path_factory.mktemp("diff") / "b.npy"
    embviz.save(embviz.Vectors(a.keys, b), path)
    return path


# (id, arguments, stages that must be drawn, what each of them shows, the answer's file or None: stdout)
CASES = [
    ("quality", "quality --sample 20000",
     ["hubness: 10 nearest neighbors", "isotropy", "TwoNN intrinsic dimension", "norms vs rank",
      "exact duplicates", "near duplicates"], "bar+spinner", None),
    ("diff", "diff {sample} {b} --restrict 20000",
     ["shared keys", "neighbors in A", "neighbors in B", "Procrustes alignment"], "bar+spinner", None),
    ("index build", "index build --limit 20000",
     ["add: HNSW graph", "recall@10 on 1,000 keys", "choosing ef_search for recall@10 >= 0.95",
      "timing ef_search=", "save"], "spinner", None),
    ("evaluate analogies", "evaluate analogies", ["cosadd analogies"], "bar", None),
    ("neighbors --all", "neighbors --all -k 3 -o {out}", ["neighbors of 40,000 keys"], "bar", "{out}"),
]


def _answer(path: Path, index_record: bool) -> str:
    text = path.read_text(encoding="utf-8")
    if index_record:  # the index record: timing, date and file size differ between builds
        rows = [json.loads(line) for line in text.splitlines()]
        return json.dumps([{k: v for k, v in r.items() if k not in ("build_s", "created", "size_bytes")}
                           for r in rows])
    return text


@pytest.mark.slow
@pytest.mark.parametrize(("args", "stages", "shows", "answer"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_progress_on_a_terminal_only(tmp_path, monkeypatch, table_b, args, stages, shows, answer):
    import embviz

    index_record = args.startswith("index build")
    if index_record:  # a private cache: the index is stored in the sample's cache entry
        monkeypatch.setenv("EMBVIZ_CACHE_DIR", str(tmp_path / "cache"))
        monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    runs = {}
    for mode in ("tty", "quiet", "pipe"):
        fmt = {"sample": shlex.quote(str(embviz.sample_path())), "b": shlex.quote(str(table_b)),
               "out": f"answer-{mode}.tsv"}
        command = f"{EMBVIZ} {args.format(**fmt)}" + (" -q" if mode == "quiet" else "")
        if index_record:
            command += " -f jsonl"
        target = (answer or "stdout-{out}").format(**fmt)
        if answer is None:
            command += f" > {target}"
        drawn = on_pipe(command, tmp_path) if mode == "pipe" else on_terminal(command, tmp_path)
        runs[mode] = (drawn, _answer(tmp_path / target, index_record))
    tty, quiet, pipe = runs["tty"][0], runs["quiet"][0], runs["pipe"][0]
    for stage in stages:
        assert stage in tty, f"{stage!r} not drawn; the terminal showed:\n{tty[-3000:]}"
    lines = [line for line in tty.splitlines() if any(line.startswith(s) for s in stages)]
    if "bar" in shows:
        assert any(BAR in line for line in lines), tty[-3000:]
    if "spinner" in shows:
        assert any(SPINNER & set(line) for line in lines), tty[-3000:]
    for other in (quiet, pipe):
        assert not _drawn(other), other[-3000:]
        assert not any(line.startswith(tuple(stages)) for line in other.splitlines()), other[-3000:]
    assert runs["tty"][1] == runs["quiet"][1] == runs["pipe"][1]
    assert runs["tty"][1]  # not two empty answers


# -- the display, in process -----------------------------------------------------------------------
def test_stages_draw_a_bar_with_a_total_and_a_spinner_without(monkeypatch, capsys):
    from rich.console import Console

    from embviz.cli import _stderr

    monkeypatch.setattr(Console, "is_terminal", property(lambda self: True))
    monkeypatch.setitem(_stderr._state, "quiet", False)
    with _stderr.stages(transient=False) as report:
        report("counting", 0, 10)
        report("counting", 3, 10)
        report("thinking", 0, None)
    err = ANSI.sub("", capsys.readouterr().err)
    last = err.replace("\r", "\n").splitlines()[-3:]
    counting = next(line for line in last if line.startswith("counting"))
    thinking = next(line for line in last if line.startswith("thinking"))
    assert "10/10" in counting and BAR in counting  # finished when the next stage started
    assert SPINNER & set(thinking) and "/" not in thinking and BAR not in thinking


def test_stages_draw_nothing_with_quiet_or_off_a_terminal(monkeypatch, capsys):
    from rich.console import Console

    from embviz.cli import _stderr

    for terminal, quiet in ((True, True), (False, False)):
        monkeypatch.setattr(Console, "is_terminal", property(lambda self, t=terminal: t))
        monkeypatch.setitem(_stderr._state, "quiet", quiet)
        with _stderr.stages(transient=False) as report:
            report("counting", 5, 10)
            report("thinking", 0, None)
        assert capsys.readouterr().err == ""
