"""A new user's first hour: commands fail before the work, paths with ~ work, the suite is quick."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from embviz.cli import _common, app


@pytest.fixture()
def no_load(monkeypatch):
    """Loading the vectors fails the test: the command must stop before it."""

    def load(self):
        raise AssertionError("the vectors were loaded before the arguments were checked")

    monkeypatch.setattr(_common.VectorSource, "load", load)


@pytest.mark.parametrize(
    "args, what",
    [
        (["plot", "-o", "missing_dir/x.html"], "missing_dir/x.html"),
        (["plot", "--top", "100", "--output", "missing_dir/deeper/x.html"], "missing_dir/deeper/x.html"),
        (["project", "-o", "missing_dir/points.tsv"], "missing_dir/points.tsv"),
    ],
)
def test_output_in_a_missing_directory_fails_before_loading(
    runner, no_load, tmp_path, monkeypatch, args, what
) -> None:
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(app, args)
    parent = str(Path(what).parent)
    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr == f"embviz: error: {what}: directory {parent} does not exist\n"


def test_output_that_is_a_directory_fails_before_loading(runner, no_load, tmp_path) -> None:
    result = runner.invoke(app, ["plot", "-o", str(tmp_path)])
    assert result.exit_code == 1
    assert result.stderr == f"embviz: error: {tmp_path}: is a directory, expected a file name\n"


def test_missing_metadata_fails_before_loading(runner, no_load, tmp_path) -> None:
    result = runner.invoke(
        app, ["plot", "-o", str(tmp_path / "p.html"), "--metadata", "nope.tsv", "--color-by", "x"]
    )
    assert result.exit_code == 1
    assert result.stderr == "embviz: error: --metadata nope.tsv: no such file\n"


def test_convert_checks_the_target_before_reading_and_creates_a_projector_folder(
    runner, tmp_path, monkeypatch
) -> None:
    from embviz.evaluate import gensim_data

    src = str(gensim_data("crime-and-punishment.vec"))
    bad = runner.invoke(app, ["convert", src, str(tmp_path / "no" / "x.bin")])
    assert bad.exit_code == 1
    assert "directory " + str(tmp_path / "no") + " does not exist" in bad.stderr
    monkeypatch.chdir(tmp_path)
    ok = runner.invoke(app, ["convert", "--limit", "10", src, "projector/", "--to", "projector"])
    assert ok.exit_code == 0, ok.stderr
    assert ok.stderr == "embviz: wrote 10 x 5 vectors (projector) to projector/vectors.tsv, projector/metadata.tsv\n"
    assert len((tmp_path / "projector" / "metadata.tsv").read_text().splitlines()) == 10


def test_cache_dir_with_a_tilde_is_the_home_folder(tmp_path, monkeypatch) -> None:
    from embviz import load
    from embviz.evaluate import gensim_data

    home, work = tmp_path / "home", tmp_path / "work"
    home.mkdir()
    work.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.chdir(work)
    v = load(gensim_data("crime-and-punishment.vec"), cache_dir="~/.cache/embviz")
    assert v.count == 291
    assert (home / ".cache" / "embviz" / "vectors").is_dir()
    assert not (work / "~").exists()


@pytest.mark.slow  # 5 pytest processes; CI runs it
def test_default_pytest_leaves_slow_tests_to_ci(tmp_path) -> None:
    """Outside CI `pytest` deselects slow tests (and says so); with CI=true it runs them."""
    test = tmp_path / "test_x.py"
    test.write_text(
        "import pytest\n\n@pytest.mark.slow\ndef test_slow():\n    pass\n\ndef test_quick():\n    pass\n"
    )
    (tmp_path / "conftest.py").write_text((Path(__file__).parent / "conftest.py").read_text())
    (tmp_path / "pytest.ini").write_text("[pytest]\nmarkers =\n    slow: slow\n")
    env = {k: v for k, v in os.environ.items() if k != "CI"}

    def run(*args, **extra):
        return subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *args, str(test)],
            capture_output=True, text=True, cwd=tmp_path, env={**env, **extra}, check=False,
        ).stdout

    assert "1 passed, 1 deselected" in run()
    assert "1 slow tests deselected; `pytest --run-slow` (or CI=true) runs them too" in run()
    assert "2 passed" in run(CI="true")
    assert "2 passed" in run("--run-slow")
    assert "1 passed, 1 deselected" in run("-m", "slow")


def test_a_long_projection_says_its_cost_first(runner, monkeypatch) -> None:
    import embviz.viz

    def stop(*args, **kwargs):
        raise KeyboardInterrupt  # the command stops where the projection would start

    monkeypatch.setattr(embviz.viz, "project", stop)
    result = runner.invoke(app, ["project", "--method", "tsne", "--top", "25000"])
    assert result.stderr == (
        "embviz: tsne of 25,000 points takes about 26 min on a 2-core machine; "
        "--sample 20,000 (or --top 20,000) or --method pca (seconds) cut it\n"
        "embviz: error: interrupted\n"
    )
    result = runner.invoke(app, ["project", "--method", "tsne", "--top", "20000"])
    assert result.stderr == "embviz: error: interrupted\n"  # at the threshold: no warning


@pytest.mark.slow
@pytest.mark.parametrize("method, stage, total", [("tsne", "t-SNE iterations", 1000), ("umap", "UMAP epochs", 500)])
def test_layouts_report_real_iterations(sample, method, stage, total) -> None:
    """t-SNE's iterations and UMAP's epochs reach the bar with their real total, not 0/1."""
    from embviz import viz

    calls = []
    viz.project(sample, list(range(400)), method=method, seed=0, use_cache=False,
                progress=lambda s, d, t: calls.append((s, d, t)))
    steps = [(d, t) for s, d, t in calls if s == stage]
    assert len(steps) >= 5 and {t for _, t in steps} == {total}
    assert [d for d, _ in steps] == sorted(d for d, _ in steps) and steps[-1][0] > steps[0][0]
