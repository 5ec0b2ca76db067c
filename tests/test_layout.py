"""The package layout: old module paths still import (with a warning) and name the same objects."""

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
def test_old_module_paths_warn_and_reexport_the_same_objects(old, new, names):
    code = (
        "import warnings, sys\n"
        "warnings.simplefilter('always')\n"
        "with warnings.catch_warnings(record=True) as w:\n"
        f"    import {old} as old, {new} as new\n"
        f"print([str(x.message) for x in w if issubclass(x.category, DeprecationWarning)])\n"
        f"print(all(getattr(old, n) is getattr(new, n) for n in {names!r}))\n"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    messages, same = run.stdout.splitlines()
    assert messages == (
        f"['{old} moved to {new} and will be removed in the next minor release; import from {new}']"
    )
    assert same == "True"


def test_public_api_is_unchanged():
    import embviz

    expected = {
        "EmbvizError", "FormatError", "InvalidQuery", "KeyNotFound", "Vectors", "__version__",
        "analogy", "evaluate_analogies", "evaluate_word_pairs", "load", "lookup", "neighbors",
        "project", "sample_path", "save", "similarity", "sniff",
        "read_histories", "recommend",  # added with embviz recommend (CHANGELOG)
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
            if name in ("embviz.formats", "embviz.query", "embviz.__main__"):
                continue
            importlib.import_module(name)
    assert {"embviz.io.cache", "embviz.search.kernel", "embviz.viz.page"} <= set(names)
