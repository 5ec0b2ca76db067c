"""Shared test setup: an isolated cache directory, the bundled sample vectors, a CLI runner."""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

# Fuzzing profiles (tests/test_fuzz.py): "ci" is the default (2,000 files, about a minute);
# releases run `pytest tests/test_fuzz.py --hypothesis-profile=long` (25,000 files).
# "ci" is derandomized: the same examples every run, so CI's verdict is reproducible; "long"
# explores new random examples each run (that is where new faults are found, e.g. the mutated
# Parquet cases listed in docs/errors.md).
settings.register_profile("ci", max_examples=2000, deadline=None, print_blob=True, derandomize=True,
                          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
settings.register_profile("long", parent=settings.get_profile("ci"), max_examples=25_000, derandomize=False)
settings.register_profile("quick", parent=settings.get_profile("ci"), max_examples=100)
settings.load_profile(os.environ.get("EMBVIZ_HYPOTHESIS_PROFILE", "ci"))

# Tests never touch the user's cache: every load in this session uses a private directory.
_CACHE = tempfile.mkdtemp(prefix="embviz-test-cache-")
atexit.register(shutil.rmtree, _CACHE, ignore_errors=True)  # about 170 MB per run
os.environ["EMBVIZ_CACHE_DIR"] = _CACHE
os.environ["XDG_CACHE_HOME"] = _CACHE
os.environ.pop("EMBVIZ_VECTORS", None)
os.environ.pop("EMBVIZ_NO_CACHE", None)


@pytest.fixture(scope="session")
def sample():
    """The bundled sample: the 40,000 most frequent GloVe 6B 50d keys (real vectors)."""
    from embviz import load, sample_path

    return load(sample_path())


@pytest.fixture()
def runner():
    """A Typer CliRunner; stdout is not a TTY, so pipe-mode output (TSV) is the default."""
    from typer.testing import CliRunner

    return CliRunner()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """In CI (``CI`` set, as .ci/run's environment has it) a skipped test fails the run.

    Tests skip only when a requirement is missing (Chromium, the kumo GloVe package), and CI
    installs all of them: a skip there means an install step broke, never "nothing to test".
    """
    outcome = yield
    report = outcome.get_result()
    if os.environ.get("CI") and report.skipped and not hasattr(report, "wasxfail"):
        report.outcome = "failed"
        report.longrepr = f"skipped in CI, where every test must run: {report.longrepr}"


def pytest_addoption(parser):
    parser.addoption(
        "--run-slow", action="store_true", help="also run the tests marked slow (CI runs them all)"
    )


def pytest_collection_modifyitems(config, items):
    """Outside CI, tests marked slow are deselected: a contributor's `pytest` takes minutes.

    They run with ``--run-slow``, with any ``-m`` expression (``-m slow`` runs only them), and
    always in CI (``CI`` set: .ci/run sets it), where a deselected test would hide a failure.
    """
    if os.environ.get("CI") or config.getoption("--run-slow") or config.getoption("markexpr"):
        return
    slow = [item for item in items if item.get_closest_marker("slow")]
    if slow:
        config.hook.pytest_deselected(items=slow)
        items[:] = [item for item in items if not item.get_closest_marker("slow")]
        config.stash[_SLOW] = len(slow)


_SLOW = pytest.StashKey[int]()


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    if config.stash.get(_SLOW, 0):
        terminalreporter.write_line(
            f"{config.stash[_SLOW]} slow tests deselected; `pytest --run-slow` (or CI=true) runs them too"
        )


#: Debian's Chromium, driven by Playwright, for every browser test (tests/test_*browser*.py,
#: test_page_faults.py, test_serve.py); software rendering, no network of its own.
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]


@pytest.fixture(scope="module")
def browser():
    """A headless Chromium for the module's tests (skipped, so CI fails, when it is not installed)."""
    sync_api = pytest.importorskip("playwright.sync_api")
    if not Path(CHROMIUM).exists():
        pytest.skip(f"Chromium is not installed at {CHROMIUM} (apt-get install chromium)")
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_FLAGS)
        yield b
        b.close()
