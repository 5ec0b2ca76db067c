"""The docs run: every ``console`` block of README.md and docs/*.md, executed and compared.

In the style of sqlite-utils' documentation tests: each ``$ command`` line of a console block
runs in bash (in a scratch folder per page, so a page's later examples see the files its
earlier ones wrote; the vector cache is the test session's), and what it prints is compared
with the lines that follow it in the block, up to the next ``$`` line.

Comparison rules (what a page may rely on):

- Lines that start with ``embviz:`` are stderr, every other line is stdout; each stream is
  compared in order (a pipe may interleave them differently from a terminal).
- Numbers that vary by machine are marked by their unit and match any number: durations
  (``6.1 s``, ``120 ms``, ``0:00:03``) and sizes (``5.0 MB``, ``300 KiB``).
- ``…`` inside a line matches any text; a line that is only ``…`` matches any number of lines
  (elided output).
- A block whose output holds a box-drawn table (``┏``) runs on a pseudo-terminal, as a user
  at a terminal would see it (stderr is then not compared).
- A block preceded by ``<!-- docs-test: skip (reason) -->`` is not run; the reason is required
  (e.g. ``needs GloVe 6B 50d, 400,000 keys``), and ``test_skip_markers_give_a_reason`` checks.

The whole file is marked slow (each example starts a process): CI runs it, and so does
``pytest --run-slow`` or ``pytest tests/test_docs.py -m slow``.
"""

from __future__ import annotations

import os
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
SKIP = re.compile(r"<!--\s*docs-test:\s*skip\s*(\((?P<reason>[^)]*)\))?\s*-->")
#: Machine-varying numbers, recognised by their unit.
VARYING = re.compile(
    r"\d[\d,]*(\.\d+)?\s?(ms|s|min|seconds|MB|KB|kB|GB|MiB|KiB|GiB|bytes)\b|\b\d+:\d\d:\d\d\b"
)
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b\][^\x07]*\x07|\x1b[=>]")
TIMEOUT = 600


@dataclass
class Example:
    command: str
    expected: list[str]


@dataclass
class Block:
    page: Path
    line: int  # 1-based line of the ```console fence
    examples: list[Example]
    skip: str | None  # the reason, when marked

    @property
    def id(self) -> str:
        return f"{self.page.relative_to(ROOT)}:{self.line}"


def parse(page: Path) -> list[Block]:
    """Every console block of a Markdown page, with its commands and expected outputs."""
    lines = page.read_text("utf-8").splitlines()
    blocks, i = [], 0
    while i < len(lines):
        if lines[i].strip() != "```console":
            i += 1
            continue
        start = i
        prev = next((lines[j] for j in range(i - 1, -1, -1) if lines[j].strip()), "")
        m = SKIP.search(prev)
        skip = None if m is None else (m.group("reason") or "")
        i += 1
        examples: list[Example] = []
        while i < len(lines) and lines[i].strip() != "```":
            text = lines[i]
            if text.startswith("$ "):
                command = text[2:]
                while command.endswith("\\") and i + 1 < len(lines):
                    i += 1
                    command = command[:-1] + "\n" + lines[i]
                examples.append(Example(command, []))
            elif examples:
                examples[-1].expected.append(text)
            i += 1
        for ex in examples:  # a blank line separates examples; it is not output
            while ex.expected and not ex.expected[-1].strip():
                ex.expected.pop()
        blocks.append(Block(page, start + 1, examples, skip))
        i += 1
    return blocks


BLOCKS = [b for page in PAGES for b in parse(page)]


def normalise(line: str) -> str:
    return VARYING.sub("<N>", line.rstrip())


def matches(expected: list[str], actual: list[str]) -> bool:
    """Whether `actual` lines fit `expected` (``…`` wildcards, varying numbers)."""
    pats = []
    for e in expected:
        e = normalise(e)
        if e.strip() == "…":
            pats.append(None)
        else:
            pats.append(re.compile(".*".join(re.escape(p) for p in e.split("…")) + r"\Z"))
    acts = [normalise(a) for a in actual]

    def fit(p: int, a: int) -> bool:
        if p == len(pats):
            return a == len(acts)
        if pats[p] is None:
            return any(fit(p + 1, b) for b in range(a, len(acts) + 1))
        return a < len(acts) and bool(pats[p].match(acts[a])) and fit(p + 1, a + 1)

    return fit(0, 0)


def run(command: str, cwd: Path, tty: bool) -> tuple[list[str], list[str]]:
    env = dict(os.environ, COLUMNS="100", LINES="50", NO_COLOR="1", TERM="xterm")
    env.pop("CI", None)  # the commands behave as for a user
    if tty:
        # stdout on a pseudo-terminal (rich tables); stderr not compared
        cmd = ["script", "-qec", f"{command} 2>/dev/null", "/dev/null"]
        out = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=TIMEOUT)
        text = ANSI.sub("", out.stdout).replace("\r", "")
        return [x for x in text.splitlines() if x.strip()], []
    out = subprocess.run(
        ["bash", "-c", command], cwd=cwd, env=env, capture_output=True, text=True, timeout=TIMEOUT
    )
    return out.stdout.splitlines(), out.stderr.splitlines()


@pytest.fixture(scope="module")
def workdirs(tmp_path_factory):
    """One scratch folder per page, shared by the page's blocks in order."""
    made: dict[Path, Path] = {}

    def get(page: Path) -> Path:
        if page not in made:
            made[page] = tmp_path_factory.mktemp(page.stem)
        return made[page]

    return get


@pytest.mark.parametrize("block", [b for b in BLOCKS if b.skip is None], ids=lambda b: b.id)
def test_console_block_prints_what_the_page_says(block, workdirs) -> None:
    cwd = workdirs(block.page)
    for ex in block.examples:
        tty = any("┏" in x or "┃" in x for x in ex.expected)
        out, err = run(ex.command, cwd, tty)
        want_err = [x for x in ex.expected if x.startswith("embviz:") or x.strip() == "…"]
        want_out = [x for x in ex.expected if not x.startswith("embviz:")]
        if tty:
            want_out = [x for x in want_out if x.strip()]
        ok = matches(want_out, out) and (tty or matches(want_err, err))
        assert ok, (
            f"{block.id}: $ {ex.command}\n--- the page says:\n" + "\n".join(ex.expected)
            + "\n--- stdout:\n" + "\n".join(out) + "\n--- stderr:\n" + "\n".join(err)
        )


def test_skip_markers_give_a_reason() -> None:
    skipped = [b for b in BLOCKS if b.skip is not None]
    assert all(b.skip.strip() for b in skipped), [b.id for b in skipped if not b.skip.strip()]


def test_the_rules_themselves() -> None:
    assert matches(["a 6.1 s", "…", "z"], ["a 0.3 s", "b", "c", "z"])
    assert matches(["x … y"], ["x anything y"])
    assert not matches(["a", "b"], ["a", "c"])
    assert not matches(["a"], ["a", "b"])
    assert matches(["wrote p.html (5.0 MB, 5,007 points) in 6.2 s"], ["wrote p.html (4.9 MB, 5,007 points) in 12 s"])
    assert not matches(["5,007 points"], ["5,008 points"])  # counts are not machine-varying
    blocks = parse(ROOT / "README.md")
    assert blocks and all(b.examples for b in blocks)
