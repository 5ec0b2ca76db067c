"""Damaged derived caches are never served (issue 25): layouts, neighbor lists, derived arrays and tables.

Each cache entry is built by the real code on the bundled sample (its first 1,000 keys), then
damaged: bytes flipped, inserted, deleted or truncated (tests/test_fuzz.py's mutations), two
byte ranges swapped, or the file replaced by another entry's (a copy or rename over it). The
properties:

1. the next run returns exactly what a run without the cache returns (arrays equal bit for bit);
2. nothing escapes but at most one warning (never a traceback);
3. a damaged entry is never served: when the bytes changed, the result is computed again;
4. the run heals the cache: the run after it is served from the cache, and still equal.

The deterministic tests at the top are the reproducers of the failure classes found (each
failed before the fix); the Hypothesis families below run the profile's ``max_examples``
(tests/conftest.py). ``EMBVIZ_FUZZ_TALLY=FILE`` writes the count by family and outcome
(tried / served-and-equal: bytes unchanged, served / recomputed-and-equal: damage seen,
recomputed / other) to FILE; ``EMBVIZ_FUZZ_KEEP_GOING=DIR`` records failures and goes on.
"""

from __future__ import annotations

import atexit
import json
import os
import shutil
import tempfile
import warnings
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_fuzz import mutate, mutations

from embviz import load, sample_path
from embviz.io import derived
from embviz.viz import explorer, projection

# Each example recomputes (and writes) a cache entry, about 20 ms: the "ci" profile runs 300 per
# family (under a minute in all); "long" runs 20,000 per family.
_LONG = os.environ.get("EMBVIZ_HYPOTHESIS_PROFILE") == "long"
_FUZZ = settings(deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
                 max_examples=20_000 if _LONG else min(300, settings.default.max_examples))
TALLY: Counter = Counter()
_ROOT = Path(tempfile.mkdtemp(prefix="embviz-harden-caches-"))
atexit.register(shutil.rmtree, _ROOT, ignore_errors=True)  # a full run leaves nothing in /tmp
SEL = np.arange(0, 999, 7, dtype=np.int64)  # 143 drawn points
QUERIES = np.arange(0, 1000, 40, dtype=np.int64)  # 25 points with lists


@pytest.fixture(scope="module")
def table():
    return load(sample_path(), limit=1000, cache=False)


# -- the four computations, each with and without the cache ----------------------------------
def _layout(table, cache_dir):
    p = projection.project(table, SEL, method="pca", seed=0, recall_k=5, cache_dir=cache_dir,
                           use_cache=cache_dir is not None)
    return (p.coords, np.float64(p.recall)), p.cached


def _lists(table, cache_dir, queries=QUERIES):
    nl = explorer.neighbor_lists(table, queries, 6, cache_dir=cache_dir)
    return (nl.ids, nl.scores), nl.cached


def _radius(t, k: int = 5):
    CALLS["array"] += 1
    return np.sort(np.asarray(t.unit[:, :k], dtype=np.float32), axis=1)[:, -1].copy()


def _array(table, cache_dir, tag="radius-k5"):
    make = lambda t: _radius(t, int(tag.rsplit("k", 1)[1]))  # noqa: E731
    if cache_dir is None:
        return (make(table),), False
    before = CALLS["array"]
    out = derived.load_array(table, tag, make, cache_dir=cache_dir)
    return (np.asarray(out),), CALLS["array"] == before


def _centre(t):
    from embviz.vectors import Vectors

    CALLS["derived"] += 1
    m = np.asarray(t.matrix, dtype=np.float32)
    return Vectors(t.keys, (m - m.mean(axis=0)).astype(np.float32))


def _derived(table, cache_dir, tag="centre:1"):
    if cache_dir is None:
        out = _centre(table)
    else:
        before = CALLS["derived"]
        out = derived.load_derived(table, tag, _centre, cache_dir=cache_dir)
        served = CALLS["derived"] == before
    return (np.asarray(out.matrix), np.asarray(out.unit)), cache_dir is not None and served


CALLS: Counter = Counter()
CLEAN: dict = {}  # family -> the result without the cache
RUN = {"layout": _layout, "lists": _lists, "array": _array, "derived": _derived}
FOLDER = {"layout": "projections", "lists": "neighbor-lists", "array": "arrays", "derived": "vectors"}


def _same(a, b) -> bool:
    return all(np.array_equal(x, y, equal_nan=True) and x.dtype == y.dtype for x, y in zip(a, b, strict=True))


def _files(cache_dir: Path, family: str) -> list[Path]:
    """The entry's files (for a derived table: the three files of its folder)."""
    root = cache_dir / FOLDER[family]
    return sorted(p for p in root.rglob("*") if p.is_file() and not p.name.startswith("."))


def _run_quietly(fn, *args):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = fn(*args)
    return out, [str(w.message) for w in caught]


def _flip(path: Path, offset: int, bit: int = 0x01) -> None:
    data = bytearray(path.read_bytes())
    data[offset] ^= bit
    path.write_bytes(bytes(data))


def _data_offset(path: Path) -> int:
    """An offset inside the array data of an entry file, whatever its container."""
    return path.stat().st_size // 2


# -- reproducers: each failed before the fix ---------------------------------------------------
@pytest.mark.parametrize("family", ["layout", "array", "derived"])
def test_a_flipped_bit_in_an_entry_is_not_served(table, tmp_path: Path, family: str) -> None:
    clean, _ = RUN[family](table, None)
    RUN[family](table, tmp_path)
    target = [p for p in _files(tmp_path, family) if p.suffix in (".npy", ".npz")][0]
    _flip(target, _data_offset(target))  # the low bit of a value: finite, plausible, wrong
    (got, served), warned = _run_quietly(RUN[family], table, tmp_path)
    assert _same(got, clean) and not served and len(warned) <= 1
    (again, served), _ = _run_quietly(RUN[family], table, tmp_path)
    assert _same(again, clean) and served  # the damaged entry was replaced


def test_a_flipped_digit_of_the_layout_recall_is_not_served(table, tmp_path: Path) -> None:
    clean, _ = _layout(table, None)
    _layout(table, tmp_path)
    [js] = (tmp_path / "projections").glob("*.json")
    data = json.loads(js.read_text())
    data["recall"] = data["recall"] / 2  # as a flipped digit would
    js.write_text(json.dumps(data))
    (got, _), _ = _run_quietly(_layout, table, tmp_path)
    assert _same(got, clean)


@pytest.mark.parametrize("family", ["lists", "array", "layout"])
def test_another_entrys_file_over_an_entry_is_not_served(table, tmp_path: Path, family: str) -> None:
    """A file renamed or copied over another entry (same shapes, other key) is not that entry."""
    if family == "lists":  # the same number of queries, other points: the same shapes
        other = lambda d: _lists(table, d, QUERIES + 1)  # noqa: E731
    elif family == "array":
        other = lambda d: _array(table, d, tag="radius-k6")  # noqa: E731
    else:
        other = lambda d: projection.project(table, SEL + 1, method="pca", seed=0, recall_k=5, cache_dir=d)  # noqa: E731
    clean, _ = RUN[family](table, None)
    RUN[family](table, tmp_path)
    [mine] = _files(tmp_path, family)[:1] if family != "layout" else [p for p in _files(tmp_path, family) if p.suffix != ".json"]
    before = set(_files(tmp_path, family))
    other(tmp_path)
    [theirs] = [p for p in set(_files(tmp_path, family)) - before if p.suffix != ".json"]
    shutil.copyfile(theirs, mine)
    (got, served), _ = _run_quietly(RUN[family], table, tmp_path)
    assert _same(got, clean) and not served


def test_a_killed_writer_s_temporary_is_swept(table, tmp_path: Path) -> None:
    _lists(table, tmp_path)
    folder = tmp_path / "neighbor-lists"
    dead = folder / ".lists-x.npz.abc123.tmp"
    dead.write_bytes(b"half")
    os.utime(dead, (0, 0))  # old: its writer is gone
    young = folder / ".lists-y.npz.def456.tmp"
    young.write_bytes(b"being written")
    _lists(table, tmp_path, QUERIES + 2)  # the next write sweeps
    assert not dead.exists() and young.exists()


# -- the Hypothesis family: damage a real entry, run again -------------------------------------
DAMAGE = st.one_of(
    st.tuples(st.just("mutate"), st.integers(0, 1 << 30), mutations(1 << 16)),
    st.tuples(st.just("swap"), st.integers(0, 1 << 30), st.tuples(st.integers(0, 1 << 20), st.integers(1, 64))),
    st.tuples(st.just("other"), st.integers(0, 1 << 30), st.none()),
)


def _template(table, family: str) -> tuple[Path, Path]:
    """Build (once) a cache holding the clean entry, and one holding another entry of the family."""
    mine, theirs = _ROOT / family / "mine", _ROOT / family / "theirs"
    if not mine.exists():
        RUN[family](table, mine)
        if family == "lists":
            _lists(table, theirs, QUERIES + 1)
        elif family == "array":
            _array(table, theirs, tag="radius-k6")
        elif family == "layout":
            projection.project(table, SEL + 1, method="pca", seed=0, recall_k=5, cache_dir=theirs)
        else:
            derived.load_derived(table, "centre:2", _centre, cache_dir=theirs)
    return mine, theirs


def _damage(data: bytes, damage, other: bytes) -> bytes:
    kind, _, arg = damage
    if kind == "mutate":
        kind_m, pos, extra = arg
        return mutate(data, (kind_m, pos % (len(data) + 1), extra))
    if kind == "swap" and data:
        start, width = arg[0] % len(data), arg[1]
        other_start = (start * 7 + 13) % len(data)
        a, b = sorted((start, other_start))
        width = min(width, b - a, len(data) - b)
        if width <= 0:
            return data
        return data[:a] + data[b : b + width] + data[a + width : b] + data[a : a + width] + data[b + width :]
    if kind == "other":
        return other
    return data


def _restore(template: Path, cache: Path, family: str) -> None:
    """Make `cache` hold exactly the template's entry (cheaper than copying the folder each time)."""
    if not cache.exists():
        shutil.copytree(template, cache)
        return
    want = {p.relative_to(template): p.read_bytes() for p in _files(template, family)}
    for p in cache.rglob("*"):
        if p.is_file() and p.relative_to(cache) not in want:
            p.unlink()
    for rel, data in want.items():
        p = cache / rel
        if not p.exists() or p.read_bytes() != data:
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_bytes(data)


def check_damaged(table, family: str, damage, tmp: Path) -> str:
    """Damage one file of a real entry; return "served" (bytes unchanged) or "recomputed"."""
    mine, theirs = _template(table, family)
    if family not in CLEAN:
        CLEAN[family] = RUN[family](table, None)[0]
    clean = CLEAN[family]
    cache = tmp / "cache"
    _restore(mine, cache, family)
    files = _files(cache, family)
    target = files[damage[1] % len(files)]
    rel = target.relative_to(cache)
    others = [p for p in _files(theirs, family) if p.name == target.name or p.suffix == target.suffix]
    other_bytes = others[0].read_bytes() if others else b""
    before = target.read_bytes()
    after = _damage(before, damage, other_bytes)
    target.write_bytes(after)
    (got, served), warned = _run_quietly(RUN[family], table, cache)
    assert _same(got, clean), f"{rel}: a damaged entry gave other numbers"
    assert len(warned) <= 1, warned
    changed = after != before
    if changed and rel.suffix != ".json":
        assert not served, f"{rel}: a damaged entry was served"
    (again, served_again), warned = _run_quietly(RUN[family], table, cache)
    assert _same(again, clean) and served_again and not warned, f"{rel}: the cache was not healed"
    return "recomputed-and-equal" if changed else "served-and-equal"


def _tallied(table, family: str, damage) -> None:
    TALLY[f"{family} tried"] += 1
    tmp = _ROOT / "runs" / family
    tmp.mkdir(parents=True, exist_ok=True)
    try:
        outcome = check_damaged(table, family, damage, tmp)
    except Exception as exc:
        TALLY[f"{family} other"] += 1
        keep = os.environ.get("EMBVIZ_FUZZ_KEEP_GOING")
        if not keep:
            raise
        Path(keep).mkdir(parents=True, exist_ok=True)
        (Path(keep) / f"{TALLY[f'{family} other']:04d}-{family}.why").write_text(
            f"{damage!r}\n{type(exc).__name__}: {exc}"[:4000])
        return
    TALLY[f"{family} {outcome}"] += 1
    if TALLY[f"{family} tried"] % 500 == 0:  # a long run's counts so far
        _write_tally()


def _write_tally() -> None:
    out = os.environ.get("EMBVIZ_FUZZ_TALLY")
    if out:
        Path(out).write_text(json.dumps(dict(sorted(TALLY.items())), indent=1) + "\n")


@pytest.fixture(scope="module", autouse=True)
def _tally():
    yield
    _write_tally()


@_FUZZ
@given(damage=DAMAGE)
def test_fuzz_damaged_layout_entry(table, damage) -> None:
    _tallied(table, "layout", damage)


@_FUZZ
@given(damage=DAMAGE)
def test_fuzz_damaged_lists_entry(table, damage) -> None:
    _tallied(table, "lists", damage)


@_FUZZ
@given(damage=DAMAGE)
def test_fuzz_damaged_array_entry(table, damage) -> None:
    _tallied(table, "array", damage)


@_FUZZ
@given(damage=DAMAGE)
def test_fuzz_damaged_derived_entry(table, damage) -> None:
    _tallied(table, "derived", damage)


# -- kill -9 during `embviz plot` --------------------------------------------------------------
def _page_data(html: bytes) -> bytes:
    """The page without what may differ between two equal runs: cache flags and timings."""
    import re

    html = re.sub(rb'"cached": (true|false)', b'"cached": _', html)
    return re.sub(rb'"(seconds|elapsed|took)[a-z_]*": [-0-9.e]+', b'"seconds": _', html)


@pytest.mark.slow
def test_kill_9_during_plot_leaves_no_half_page_and_no_bad_cache_entry(tmp_path: Path) -> None:
    """SIGKILL at points spread over a plot's run (layout, trust, lists, page writing).

    Afterwards the target is the old page or the complete new one (never half-written); every
    cache entry left is whole (its checksum holds); the next run writes the same page data as
    a clean run; leftover temporaries are hidden ``.*.tmp`` files that nothing reads.
    """
    import random
    import subprocess
    import sys
    import time

    from embviz.io.derived import load_checked

    def argv(out: Path, cdir: Path) -> list[str]:
        return [sys.executable, "-m", "embviz", "plot", "--method", "pca", "--top", "3000", "--plotlyjs", "cdn",
                "-o", str(out), "--cache-dir", str(cdir), "--quiet"]

    ref_out = tmp_path / "clean.html"
    started = time.perf_counter()
    subprocess.run(argv(ref_out, tmp_path / "clean-cache"), check=True, capture_output=True)
    took = time.perf_counter() - started  # kill times spread over a run as long as this one
    clean = _page_data(ref_out.read_bytes())
    rng = random.Random(25)
    out = tmp_path / "site" / "page.html"
    out.parent.mkdir()
    killed = 0
    for trial in range(6):
        cdir = tmp_path / f"cache{trial}"
        out.write_bytes(b"<p>the old page</p>")
        proc = subprocess.Popen(argv(out, cdir), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(rng.uniform(0.1, 0.85) * took)  # within the run, whatever this machine's speed
        proc.kill()
        killed += proc.wait() == -9
        page = out.read_bytes()
        assert page == b"<p>the old page</p>" or _page_data(page) == clean  # never half-written
        for p in (cdir / "projections").glob("*.npy"):
            assert load_checked(p, ("coords",)) is not None, p
        for p in (cdir / "neighbor-lists").glob("*.npz"):
            assert load_checked(p, ("ids", "scores")) is not None, p
        left = [p.name for p in out.parent.iterdir() if p.name != "page.html"]
        assert all(n.startswith(".page.html.") and n.endswith(".tmp") for n in left), left
        r = subprocess.run(argv(out, cdir), capture_output=True)
        assert r.returncode == 0, r.stderr
        assert _page_data(out.read_bytes()) == clean
    assert killed >= 3  # most trials really were interrupted
