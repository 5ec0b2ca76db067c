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

The console blocks are marked slow (each example starts a process): CI runs them, and so does
``pytest --run-slow`` or ``pytest tests/test_docs.py -m slow``. The rest of the file is quick: the
rules above, the skip markers, and the claims the pages make about the project itself (which
tests plain ``pytest`` deselects, the commands ``.ci/run`` takes from README, where links point,
on which machine a time was measured), checked against the files that make them true.
"""

from __future__ import annotations

import ast
import os
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

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


@pytest.mark.slow
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


# -- What the pages say about the project itself -------------------------------------------------
# Quick checks: they read README.md, docs/*.md, tests/conftest.py, the test modules and .ci/run
# (and run .ci/run's own sed and awk lines on README.md), and start no test and no embviz.

README = ROOT / "README.md"
CI_RUN = ROOT / ".ci" / "run"
CONFTEST = ROOT / "tests" / "conftest.py"


def fenced(lines: list[str]) -> list[tuple[int, str, list[str]]]:
    """Every fenced block of a page's lines: (index of the opening fence, info string, lines)."""
    blocks, i = [], 0
    while i < len(lines):
        if lines[i].startswith("```"):
            start, info, body = i, lines[i][3:].strip(), []
            i += 1
            while i < len(lines) and lines[i].strip() != "```":
                body.append(lines[i])
                i += 1
            blocks.append((start, info, body))
        i += 1
    return blocks


def section(page: Path, heading: str) -> list[str]:
    """The lines of a page's section, from `heading` to the next heading of its level or above."""
    lines = page.read_text("utf-8").splitlines()
    start = lines.index(heading)
    level = len(heading) - len(heading.lstrip("#"))
    for j in range(start + 1, len(lines)):
        m = re.match(r"(#+) ", lines[j])
        if m and len(m.group(1)) <= level and not any(s < j <= s + len(b) for s, _, b in fenced(lines)):
            return lines[start:j]
    return lines[start:]


def development_commands() -> list[str]:
    """The command lines of README's Development block (its first bash block)."""
    ((_, info, body), *_) = fenced(section(README, "## Development"))
    assert info == "bash"
    return body


def deselection_message() -> str:
    """The line tests/conftest.py prints after deselecting slow tests, the count as ``{n}``."""
    tree = ast.parse(CONFTEST.read_text("utf-8"))
    hook = next(f for f in tree.body if isinstance(f, ast.FunctionDef) and f.name == "pytest_terminal_summary")
    (call,) = [c for c in ast.walk(hook) if isinstance(c, ast.Call) and getattr(c.func, "attr", "") == "write_line"]
    (text,) = call.args
    parts = text.values if isinstance(text, ast.JoinedStr) else [text]
    return "".join(p.value if isinstance(p, ast.Constant) else "{n}" for p in parts)


def test_the_development_block_says_what_plain_pytest_does() -> None:
    """README's `pytest` / `pytest --run-slow` lines against conftest.py's message, option and CI rule."""
    plain, every = [c for c in development_commands() if c.startswith("pytest ")]
    message = deselection_message()
    assert "slow tests deselected" in message, message
    assert "slow ones (" in plain and "are deselected" in plain, plain
    for word in ("--run-slow", "CI=true"):  # README names them; the message a user sees must too
        assert word in every, (word, every)
        assert word in message, (word, message)
    conftest = ast.parse(CONFTEST.read_text("utf-8"))
    options = [c.args[0].value for c in ast.walk(conftest) if isinstance(c, ast.Call)
               and getattr(c.func, "attr", "") == "addoption" and isinstance(c.args[0], ast.Constant)]
    assert "--run-slow" in options, options
    hook = next(f for f in conftest.body
                if isinstance(f, ast.FunctionDef) and f.name == "pytest_collection_modifyitems")
    assert 'os.environ.get("CI")' in ast.unparse(hook).replace("'", '"')  # any CI value runs them
    assert re.search(r'^export CI="\$\{CI:-true\}"$', CI_RUN.read_text("utf-8"), re.M)  # as CI runs them


def is_slow(mark: ast.expr) -> bool:
    """`pytest.mark.slow` (or a call of it), alone or in a list."""
    if isinstance(mark, (ast.List, ast.Tuple)):
        return any(is_slow(m) for m in mark.elts)
    if isinstance(mark, ast.Call):
        mark = mark.func
    return isinstance(mark, ast.Attribute) and mark.attr == "slow"


def slow_marks(module: Path) -> dict[str, bool]:
    """Whether each test function of a module is marked slow (by ``pytestmark`` or a decorator)."""
    tree = ast.parse(module.read_text("utf-8"))
    whole = any(isinstance(s, ast.Assign) and any(getattr(t, "id", "") == "pytestmark" for t in s.targets)
                and is_slow(s.value) for s in tree.body)
    return {f.name: whole or any(is_slow(d) for d in f.decorator_list) for f in tree.body
            if isinstance(f, ast.FunctionDef) and f.name.startswith("test_")}


#: The kinds of test README's Development block says plain `pytest` deselects, and where they
#: are: per module, its tests of that kind ("*": every test but the ones named after it). Found
#: by running the tests with UMAP's fit, Spark's JVM launch and Chromium's launch instrumented:
#: no test of the quick suite fits UMAP or starts Spark; its browser tests open Chromium.
SLOW_KINDS: dict[str, list[tuple[str, str | tuple[str, ...], tuple[str, ...]]]] = {
    "Spark": [
        ("test_recommend_spark.py", "*", ()),
        ("test_train_spark.py", "*", (  # bad input: refused before a JVM starts
            "test_option_spark_does_not_implement", "test_spark_options_need_the_spark_engine",
            "test_empty_corpus", "test_unreachable_master", "test_missing_jvm_bad_java_home",
            "test_jvm_that_does_not_start", "test_missing_pyspark")),
    ],
    "UMAP": [
        ("test_project.py", (
            "test_umap_keeps_obvious_clusters_and_is_reproducible",
            "test_cli_umap_is_reproducible_with_the_seed",
            "test_umap_is_imported_without_pynndescent_until_an_index_is_needed"), ()),
        ("test_first_hour.py", ("test_layouts_report_real_iterations",), ()),
    ],
    "docs": [("test_docs.py", ("test_console_block_prints_what_the_page_says",), ())],
}


def test_the_tests_the_development_block_calls_slow_are_marked_slow() -> None:
    plain, _ = [c for c in development_commands() if c.startswith("pytest ")]
    kinds = re.search(r"slow ones \(([^)]*)\) are deselected", plain).group(1).split(", ")
    assert sorted(kinds) == sorted(SLOW_KINDS), (kinds, "README names these kinds; SLOW_KINDS says where they are")
    unmarked = []
    for kind, modules in SLOW_KINDS.items():
        for name, tests, but in modules:
            marks = slow_marks(ROOT / "tests" / name)
            assert set(but) <= set(marks) and (tests == "*" or set(tests) <= set(marks)), (name, set(marks))
            picked = [t for t in marks if t not in but] if tests == "*" else list(tests)
            unmarked += [f"{kind}: tests/{name}::{t}" for t in picked if not marks[t]]
    assert not unmarked, unmarked
    # README says plain `pytest` runs the browser tests (those that take the Chromium fixture,
    # `browser`), when Chromium is installed: none of them is marked slow
    runs = plain.split("#", 1)[1].split("slow ones")[0]
    browser = {f"{m.name}::{f.name}": slow_marks(m)[f.name] for m in sorted((ROOT / "tests").glob("test_*.py"))
               for f in ast.parse(m.read_text("utf-8")).body if isinstance(f, ast.FunctionDef)
               and f.name.startswith("test_") and "browser" in [a.arg for a in f.args.args]}
    assert "browser" in runs and len(browser) > 10, (runs, browser)
    assert not [t for t, slow in browser.items() if slow]


def readme_block(after: str) -> list[str]:
    """The lines of the first fenced block after the line `after` in README.md."""
    lines = README.read_text("utf-8").splitlines()
    start = lines.index(after)
    (_, info, body), *_ = [b for b in fenced(lines) if b[0] > start]
    assert info == "bash"
    return body


def ci_extracts(variable: str) -> str:
    """What .ci/run's own ``VARIABLE=$(...)`` line extracts from README.md (run as CI runs it)."""
    m = re.search(rf"^{variable}=\$\((.+)\)$", CI_RUN.read_text("utf-8"), re.M)
    assert m, f".ci/run has no {variable}=$(...) line"
    run = subprocess.run(["bash", "-c", m.group(1)], cwd=ROOT, capture_output=True, text=True, check=True)
    return run.stdout.rstrip("\n")


def test_ci_runs_exactly_readmes_test_command_and_first_command() -> None:
    ci = CI_RUN.read_text("utf-8")
    text = README.read_text("utf-8")
    assert text.count("<!-- test-command -->") == 1 and text.count("<!-- /test-command -->") == 1
    test_block = readme_block("<!-- test-command -->")
    between = text.split("<!-- test-command -->")[1].split("<!-- /test-command -->")[0]
    assert between.strip() == "```bash\n" + "\n".join(test_block) + "\n```", "the markers hold one bash block"
    assert [ci_extracts("cmd")] == test_block  # one line, all of it run: .ci/run runs its first line only
    assert 'bash -euo pipefail -c "$cmd"' in ci
    (_, _, first_block), *_ = [b for b in fenced(text.splitlines()) if b[1] == "bash"]
    assert [ci_extracts("first")] == first_block  # one line: the set-up command of README
    assert first_block[0].startswith("pip install . && "), "CI runs the rest from the built wheel"
    assert 'run="${first#pip install . && }"' in ci


def heading_anchors(page: Path) -> set[str]:
    """GitHub's anchors for a page's headings (lowercase, punctuation dropped, spaces to -)."""
    lines, seen, anchors = page.read_text("utf-8").splitlines(), {}, set()
    inside = {j for s, _, body in fenced(lines) for j in range(s, s + len(body) + 2)}
    for j, line in enumerate(lines):
        m = re.match(r"#{1,6} (.+?)\s*$", line)
        if m and j not in inside:
            slug = re.sub(r"[^\w\- ]", "", m.group(1).lower()).replace(" ", "-")
            anchors.add(slug if slug not in seen else f"{slug}-{seen[slug]}")
            seen[slug] = seen.get(slug, 0) + 1
    return anchors


LINK = re.compile(r"\[(?:[^\[\]]|\[[^\]]*\])*\]\(([^()\s]+)\)")


def prose_lines(page: Path) -> list[tuple[int, str]]:
    """A page's lines outside fenced blocks, inline code blanked: (1-based line, text)."""
    lines = page.read_text("utf-8").splitlines()
    inside = {j for s, _, body in fenced(lines) for j in range(s, s + len(body) + 2)}
    return [(j + 1, re.sub(r"`[^`]*`", "``", x)) for j, x in enumerate(lines) if j not in inside]


def test_relative_links_point_to_files_and_headings_that_exist() -> None:
    broken, checked = [], 0
    for page in PAGES:
        for no, line in prose_lines(page):
            for target in LINK.findall(line):
                if re.match(r"[a-z][a-z0-9+.-]*:", target):  # https:, mailto:
                    continue
                checked += 1
                path, _, anchor = target.partition("#")
                dest = (page.parent / path).resolve() if path else page
                if not dest.exists():
                    broken.append(f"{page.relative_to(ROOT)}:{no}: {target}: no such file")
                elif anchor and dest.suffix == ".md" and anchor not in heading_anchors(dest):
                    broken.append(f"{page.relative_to(ROOT)}:{no}: {target}: no such heading")
    assert checked > 50 and not broken, broken


#: Durations outside console blocks (those are compared, the numbers as wildcards).
DURATION = re.compile(r"\b\d[\d,]*(\.\d+)?\s?(ms|s|min|minutes|seconds|hours)\b|\b\d+m\d+(\.\d+)?s\b")
#: The machines this project's times were measured on (docs/benchmarks.md gives each run's).
MACHINES = ("AMD EPYC", "Intel Xeon")
#: Pages left out: generated from bench/results with each run's machine.
NOT_CHECKED = {"benchmarks.md": "generated by bench/report.py; every table names its machine"}


def test_pages_that_give_times_name_the_machine() -> None:
    """A time is true on any machine only with the machine it was measured on (or as a ratio)."""
    unnamed = []
    for page in PAGES:
        if page.name in NOT_CHECKED:
            continue
        lines = page.read_text("utf-8").splitlines()
        console = {j for s, info, body in fenced(lines) if info == "console" for j in range(s, s + len(body) + 2)}
        times = [(j + 1, x) for j, x in enumerate(lines) if j not in console
                 and DURATION.search(re.sub(r"`[^`]*`", "``", x))]
        if times and not any(m in page.read_text("utf-8") for m in MACHINES):
            unnamed.append(f"{page.relative_to(ROOT)}:{times[0][0]}: {times[0][1].strip()}")
    assert not unnamed, unnamed
