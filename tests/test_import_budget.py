"""A warm terminal query imports only what it needs (issue 26), measured with ``python -X importtime``.

Whole processes, as a user runs them: ``python -X importtime -m embviz neighbors KEY`` on a
warm cache lists every module the process imported, and none of the libraries that only other
commands need may be among them. The list is the assertion, not a timing. And the app builds
only the command it runs (Typer reads the signature of every command it builds).
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from embviz.cli.app import invoked_command

#: Libraries a warm ``neighbors``/``info``/``similarity``/``analogy`` on a vector file never needs.
NEVER = (
    "pandas", "pyarrow", "scipy", "sklearn", "umap", "pynndescent", "plotly", "gensim", "faiss",
    "numba", "llvmlite", "pyspark", "torch", "safetensors", "rich", "starlette", "uvicorn",
    "anywidget", "ipywidgets", "matplotlib", "hnswlib", "fasttext", "implicit", "h5py",
    # typer >= 0.29 imports it (and builds a pydantic adapter per parameter): pinned below 0.29
    "pydantic",
)

#: Parts of embviz a warm ``neighbors KEY`` never needs: the FAISS wrapper (``--index``), CSLS
#: (``--score csls``), metadata tables (``--meta``), training, comparison, Spark, ``info``'s figures.
EMBVIZ_NEVER = ("embviz.search.index", "embviz.search.index_build", "embviz.search.index_files",
                "embviz.search.index_queries", "embviz.quality", "embviz.io.meta", "embviz.train", "embviz.compare",
                "embviz.spark", "embviz.stats", "embviz.io.hdf5",
                # the other commands' modules, evaluation, the plots and gensim's methods (issue 30)
                "embviz.cli.recommend", "embviz.cli.cache", "embviz.cli.index", "embviz.cli.project",
                "embviz.cli.train", "embviz.cli.evaluate", "embviz.cli.compare", "embviz.cli.quality",
                "embviz.evaluate", "embviz.viz", "embviz.search.similar", "embviz.io.interactions")

COMMANDS = {
    "neighbors": (["neighbors", "king", "-k", "3"],
                  "query\trank\tkey\tscore\nking\t1\tprince\t0.823618\nking\t2\tqueen\t0.783904\n"
                  "king\t3\tii\t0.774623\n"),
    "similarity": (["similarity", "coffee", "tea"], None),
    "analogy": (["analogy", "man", "king", "woman"], None),
    "info": (["info", "--no-header"], None),
}


def imported_modules(stderr: str) -> set[str]:
    """The module names of ``-X importtime`` lines (``import time: self | cumulative | name``)."""
    out = set()
    for line in stderr.splitlines():
        if line.startswith("import time:") and "|" in line:
            name = line.rsplit("|", 1)[1].strip()
            if name != "imported package":  # the header line
                out.add(name)
    return out


def _embviz(args: list[str], env: dict) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-X", "importtime", "-m", "embviz", *args], capture_output=True,
                          text=True, timeout=300, env={**os.environ, **env})


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory) -> str:  # noqa: ANN001
    """One cache for this file's processes: the sample's entry is built once."""
    return str(tmp_path_factory.mktemp("cache"))


@pytest.mark.parametrize("command", list(COMMANDS))
def test_a_warm_query_imports_no_library_it_does_not_need(cache_dir: str, command: str) -> None:
    args, expected = COMMANDS[command]
    env = {"EMBVIZ_CACHE_DIR": cache_dir}
    cold = _embviz(args, env)  # the first builds the entry (parsing the text sample may use pandas)
    assert cold.returncode == 0, cold.stderr[-2000:]
    warm = _embviz(args, env)
    assert warm.returncode == 0, warm.stderr[-2000:]
    assert warm.stdout == cold.stdout
    if expected is not None:
        assert warm.stdout == expected
    modules = imported_modules(warm.stderr)
    assert "numpy" in modules and "embviz.cli.app" in modules  # the lines were read
    found = sorted(m for m in modules if m.split(".")[0] in NEVER)
    assert found == [], f"a warm `embviz {command}` imported {found}"
    if command == "neighbors":
        found = sorted(m for m in modules if any(m == e or m.startswith(e + ".") for e in EMBVIZ_NEVER))
        assert found == [], f"a warm `embviz neighbors` imported {found}"
    assert [x for x in warm.stderr.splitlines() if not x.startswith("import time:")] == []  # no message


@pytest.mark.parametrize(
    ("argv", "name"),
    [
        (["neighbors", "king"], "neighbors"),
        (["--traceback", "neighbors", "king"], "neighbors"),
        (["cache", "list"], "cache"),
        (["--help"], None),
        (["-h", "neighbors"], None),
        (["--version"], None),
        ([], None),
        (["--", "neighbors"], None),
    ],
)
def test_the_command_named_on_the_line(argv: list[str], name: str | None) -> None:
    assert invoked_command(argv) == name


@pytest.mark.parametrize(
    "args",
    [
        ["neighbors", "--help"],
        ["cache", "--help"],
        ["neighbours", "king"],  # misspelt: click's error and suggestion, from the whole app
        ["neighbors", "--kk", "3", "king"],
        ["--traceback", "info", "-v", "missing.txt"],
        ["similarity", "king", "queen", "-f", "json"],
        ["--version"],
        ["evaluate", "--help"],
        ["--traceback", "quality", "-k", "0"],
    ],
)
def test_building_one_command_changes_nothing_the_user_sees(tmp_path, args: list[str]) -> None:  # noqa: ANN001
    def run(call: str) -> tuple[int, str, str]:
        code = f"import sys, typer; from embviz.cli import app; sys.argv[0] = 'embviz'; {call}"
        done = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=300,
                              cwd=tmp_path, env={**os.environ, "COLUMNS": "100"})
        return done.returncode, done.stdout, done.stderr

    one = run("app()")  # as the console script runs it: builds the command named, only
    assert one == run("typer.Typer.__call__(app)")  # builds every command, as before
    assert one[1] or one[2]


def test_version_and_import_embviz_load_no_command_and_no_query() -> None:
    """``embviz --version`` imports no command module; ``import embviz`` none of the functions' modules.

    The public functions (``embviz.load``, ``embviz.neighbors``, ...) are imported on first use
    and gensim's methods of ``Vectors`` on first lookup; both still work after a bare import.
    """
    version = _embviz(["--version"], {})
    assert version.returncode == 0 and version.stdout.startswith("embviz ")
    ours = sorted(m for m in imported_modules(version.stderr) if m.split(".")[0] == "embviz")
    assert ours == ["embviz", "embviz._version", "embviz.cli", "embviz.cli.app", "embviz.errors",
                    "embviz.gensim_interop", "embviz.keys", "embviz.vectors"]
    code = ("import sys, embviz; before = sorted(m for m in sys.modules if m.startswith('embviz'));"
            "v = embviz.load(embviz.sample_path()); print(before); print(v.most_similar('king', topn=1))")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, check=True)
    before, answer = run.stdout.splitlines()
    assert before == str(["embviz", "embviz._version", "embviz.errors", "embviz.gensim_interop", "embviz.keys",
                          "embviz.vectors"])
    assert answer.startswith("[('prince', 0.8236")


def test_subpackages_are_reachable_after_a_bare_import() -> None:
    """``import embviz; embviz.io.load(...)`` works as it did before the lazy imports (docs/formats.md uses it).

    Each subpackage is imported on first lookup, only then; a name that is neither a function nor
    a subpackage is an AttributeError.
    """
    code = (
        "import sys, embviz\n"
        "assert 'embviz.io' not in sys.modules\n"
        "v = embviz.io.load(embviz.sample_path())\n"
        "print(embviz.search.neighbors(v, 'king', k=1)[0].key, embviz.io.fasttext_bin.__name__,\n"
        "      callable(embviz.viz.project), callable(embviz.stats.describe))\n"
        "for name in ('nothing_here', '_private', 'np'):\n"
        "    try:\n"
        "        getattr(embviz, name)\n"
        "    except AttributeError as exc:\n"
        "        print(exc)\n"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    assert run.stdout.splitlines() == [
        "prince embviz.io.fasttext_bin True True",
        "module 'embviz' has no attribute 'nothing_here'",
        "module 'embviz' has no attribute '_private'",
        "module 'embviz' has no attribute 'np'",
    ]
