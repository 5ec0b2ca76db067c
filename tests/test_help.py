"""Help and completion: word metavars, 2-3 real examples per command, Typer's shell completion."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
import typer

from embviz.cli import app
from embviz.cli.help import EXAMPLES


def commands() -> dict[str, object]:
    """Every leaf command by path ("neighbors", "cache list", ...)."""
    root = typer.main.get_command(app)
    out = {}

    def walk(group, path):
        ctx = typer.Context(group)
        for name in group.list_commands(ctx):
            cmd = group.get_command(ctx, name)
            if hasattr(cmd, "commands"):
                walk(cmd, f"{path} {name}".strip())
            else:
                out[f"{path} {name}".strip()] = cmd

    walk(root, "")
    return out


COMMANDS = commands()


def test_every_command_has_examples_and_no_example_is_orphaned() -> None:
    assert sorted(EXAMPLES) == sorted(COMMANDS)


@pytest.mark.parametrize("path", sorted(COMMANDS))
def test_help_ends_with_examples_and_shows_words_not_types(runner, path) -> None:
    result = runner.invoke(app, [*path.split(), "--help"], env={"COLUMNS": "100"})
    assert result.exit_code == 0, result.output
    text = result.stdout
    # metavars are words: no '<int range>', '<list[str]>', '<path>', '{queries}...'
    assert not re.search(r"<(int|float|str|path|bool|text)( range)?>|<list\[", text), text
    assert not re.search(r"\{[a-z_]+\}", text.splitlines()[0]), text.splitlines()[0]
    head, _, examples = text.rpartition("\n  Examples:\n\n")
    lines = [x.strip() for x in examples.strip().splitlines()]
    assert 2 <= len(lines) <= 3 and lines == EXAMPLES[path]
    assert all("embviz " + path in x for x in lines)


def example_tokens(line: str, path: str) -> list[str]:
    """The arguments of the embviz call in an example line (pipes and $(...) stripped)."""
    line = re.sub(r'"\$\([^)]*\)"', "FILE", line)
    part = next(p for p in line.split("|") if ("embviz " + path) in p)
    words = shlex.split(part)
    start = words.index("embviz")
    return words[start + 1 + len(path.split()) :]


@pytest.mark.parametrize("path", sorted(COMMANDS))
def test_every_option_of_every_example_exists(path) -> None:
    cmd = COMMANDS[path]
    known = {o for p in cmd.params for o in (*p.opts, *getattr(p, "secondary_opts", []))}
    for line in EXAMPLES[path]:
        for tok in example_tokens(line, path):
            if tok.startswith("-") and tok != "-" and not re.fullmatch(r"-?\d+(\.\d+)?", tok):
                assert tok.split("=")[0] in known, f"{line}: {tok} is not an option of {path}"


def test_usage_line_names_arguments_by_word(runner) -> None:
    cases = {
        "neighbors": "Usage: embviz neighbors [OPTIONS] [QUERY...]",  # none with --all
        "lookup": "Usage: embviz lookup [OPTIONS] KEY_OR_ID...",
        "convert": "Usage: embviz convert [OPTIONS] SOURCE TARGET",
        "evaluate similarity": "Usage: embviz evaluate similarity [OPTIONS] [FILE...]",
    }
    for path, usage in cases.items():
        result = runner.invoke(app, [*path.split(), "--help"])
        assert result.stdout.splitlines()[0] == usage
    result = runner.invoke(app, ["neighbors", "--help"], env={"COLUMNS": "100"})
    assert "  -k, --k N " in result.stdout
    assert "  --score cosine|csls " in result.stdout
    assert "  -v, --vectors FILE " in result.stdout
    assert "  --cache-dir DIR " in result.stdout


# -- completion (Typer's own) ------------------------------------------------------------------
def embviz(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    exe = Path(sys.executable).with_name("embviz")
    full = dict(os.environ, **(env or {}))
    return subprocess.run([str(exe), *args], capture_output=True, text=True, env=full, check=False)


NAMED_SHELL = {"_TYPER_COMPLETE_TEST_DISABLE_SHELL_DETECTION": "1"}


@pytest.mark.parametrize(
    "shell, hook",
    [
        ("bash", "complete -o default -F _embviz_completion embviz"),
        ("zsh", "compdef _embviz_completion embviz"),
        ("fish", "complete --command embviz"),
    ],
)
def test_show_completion_prints_the_shell_hook(shell, hook) -> None:
    # Typer detects the user's shell (shellingham); its own test switch lets us name it instead
    run = embviz("--show-completion", shell, env=NAMED_SHELL)
    assert run.returncode == 0, run.stderr
    assert hook in run.stdout


def test_completion_completes_commands_and_options() -> None:
    bash = embviz(env={"_EMBVIZ_COMPLETE": "complete_bash", "COMP_WORDS": "embviz neig", "COMP_CWORD": "1"})
    assert bash.stdout.split() == ["neighbors"]
    zsh = embviz(env={"_EMBVIZ_COMPLETE": "complete_zsh", "_TYPER_COMPLETE_ARGS": "embviz evaluate an"})
    assert '"analogies"' in zsh.stdout
    fish = embviz(
        env={
            "_EMBVIZ_COMPLETE": "complete_fish",
            "_TYPER_COMPLETE_ARGS": "embviz neighbors --sc",
            "_TYPER_COMPLETE_FISH_ACTION": "get-args",
        }
    )
    assert fish.stdout.startswith("--score\t")


def test_install_completion_writes_the_shell_startup_files(tmp_path) -> None:
    env = {"HOME": str(tmp_path), "SHELL": "/bin/bash", **NAMED_SHELL}
    run = embviz("--install-completion", "bash", env=env)
    assert run.returncode == 0, run.stderr
    assert "bash completion installed" in run.stdout
    script = tmp_path / ".bash_completions" / "embviz.sh"
    assert "_embviz_completion" in script.read_text()
    assert str(script) in (tmp_path / ".bashrc").read_text()
    for shell, path in (("zsh", ".zfunc/_embviz"), ("fish", ".config/fish/completions/embviz.fish")):
        run = embviz("--install-completion", shell, env={**env, "SHELL": f"/bin/{shell}"})
        assert run.returncode == 0, run.stderr
        assert (tmp_path / path).is_file()


def test_the_root_help_names_every_command_without_vectors(runner) -> None:
    """``embviz --help`` says which commands do not read -v/--vectors, and it is true."""
    text = " ".join(runner.invoke(app, ["--help"], env={"COLUMNS": "100"}).stdout.split())
    assert (
        "Except: convert and diff take their files as arguments, train writes one, and cache and index "
        "list read none." in text
    )
    without = sorted(p for p, cmd in COMMANDS.items() if "-v" not in {o for q in cmd.params for o in q.opts})
    assert without == ["cache clear", "cache dir", "cache list", "cache verify", "convert", "diff", "index list",
                       "train"]
    for path, cmd in COMMANDS.items():
        if path not in without:
            assert "--vectors" in {o for q in cmd.params for o in q.opts}, path
