"""The package layout: the 0.1 module paths are gone, and their names live at the new paths."""

from __future__ import annotations

import importlib
import subprocess
import sys
import warnings

import pytest


@pytest.mark.parametrize(
    ("old", "new", "names"),
    [
        ("embviz.formats", "embviz.io", ["load", "save", "sniff", "VectorFormat", "atomic_write"]),
        ("embviz.query", "embviz.search", ["neighbors", "analogy", "similarity", "top_k", "analogy_ids"]),
    ],
)
def test_removed_module_paths_are_gone_and_their_names_live_at_the_new_paths(old, new, names):
    """The deprecated aliases were removed in 0.2.0 (CHANGELOG, "Removed"): importing one fails."""
    code = (
        "import importlib\n"
        f"new = importlib.import_module({new!r})\n"
        f"print(all(getattr(new, n, None) is not None for n in {names!r}))\n"
        "try:\n"
        f"    importlib.import_module({old!r})\n"
        "except ModuleNotFoundError as exc:\n"
        "    print(exc.name)\n"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert run.stdout.splitlines() == ["True", old]


def test_public_api_is_unchanged():
    import embviz

    expected = {
        "EmbvizError", "FormatError", "InvalidQuery", "KeyNotFound", "Vectors", "__version__",
        "analogy", "evaluate_analogies", "evaluate_word_pairs", "load", "lookup", "neighbors",
        "project", "sample_path", "save", "similarity", "sniff",
        "read_histories", "recommend",  # added with embviz recommend (CHANGELOG)
        "plot",  # added with embviz.plot for notebooks (CHANGELOG)
    }
    assert set(embviz.__all__) == expected
    for name in expected:
        assert getattr(embviz, name) is not None


def test_every_module_of_the_package_imports_without_warnings():
    import pkgutil

    import embviz

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        names = [m.name for m in pkgutil.walk_packages(embviz.__path__, "embviz.")]
        for name in names:
            if name == "embviz.__main__":
                continue
            importlib.import_module(name)
    assert {"embviz.io.cache", "embviz.search.kernel", "embviz.viz.page"} <= set(names)
    assert not {"embviz.formats", "embviz.query"} & set(names)


def test_no_module_of_the_package_is_over_600_lines():
    """The guide: no module of ``embviz/`` exceeds 600 lines (split a long one by concern)."""
    from pathlib import Path

    import embviz

    root = Path(embviz.__file__).resolve().parent
    counts = {path.relative_to(root.parent).as_posix(): len(path.read_text(encoding="utf-8").splitlines())
              for path in sorted(root.rglob("*.py"))}
    assert len(counts) > 50 and "embviz/search/kernel.py" in counts  # the walk found the package
    over = {path: n for path, n in counts.items() if n > 600}
    assert not over, "modules over 600 lines: " + ", ".join(f"{p} ({n})" for p, n in over.items())
