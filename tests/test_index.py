"""Approximate search (embviz.search.index, ``embviz index``, ``--index``): answers vs exact search."""

from __future__ import annotations

import json
import os
import re
import sys
from pathlib import Path

import numpy as np
import pytest

from embviz import io as formats
from embviz import sample_path, search
from embviz.cli import app
from embviz.errors import MissingDependency
from embviz.io import cache
from embviz.search import index as search_index
from embviz.search.index import Index

# obvious geometry: cos(king, queen) = 0.8, cos(king, man) = 0.6, cos(queen, man) = 0.96
TOY = "king 1 0\nqueen 0.8 0.6\nman 0.6 0.8\nwoman 0 1\napple -1 0\n"
NEIGHBORS_KING = (
    "query\trank\tkey\tscore\nking\t1\tqueen\t0.800000\nking\t2\tman\t0.600000\n"
    "king\t3\twoman\t0.000000\nking\t4\tapple\t-1.000000\n"
)
# an index built on first use chooses its ef_search by measured recall (target 0.95): the
# ladder's first step, 16, already finds every neighbor of the 5 keys
TOY_LINE = "embviz: approximate (hnsw, ef_search=16, recall@10 1.000 measured at build)\n"
BUILD_LINES = (
    r"embviz: building an hnsw index of 5 x 2 vectors \(stored in the cache\)\n"
    r"embviz: built the index in \d+\.\d s; ef_search=16 chosen: recall@10 1\.000 on 5 sample keys "
    r"\(target 0\.95\); [\d,]+ queries/s against [\d,]+ exact\n"
)


@pytest.fixture()
def toy(tmp_path: Path) -> Path:
    p = tmp_path / "toy.txt"
    p.write_text(TOY)
    return p


def run(runner, args, exit_code=0, input=None):
    result = runner.invoke(app, [str(a) for a in args], input=input)
    assert result.exit_code == exit_code, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    return result


@pytest.fixture(scope="module")
def sample_index(tmp_path_factory):
    """The bundled GloVe sample (40,000 x 50) and its default HNSW index, stored in a cache."""
    cdir = tmp_path_factory.mktemp("index-cache")
    vectors = formats.load(sample_path(), cache_dir=cdir)
    entry = cache.entry_path(sample_path(), cache_dir=cdir)
    index = search_index.build_for(vectors, entry)
    return vectors, index, entry


def _queries(vectors, n: int, seed: int = 1):
    rows = np.sort(np.random.default_rng(seed).choice(vectors.count, n, replace=False))
    return rows, np.asarray(vectors.unit[rows], dtype=np.float32)


# -- the library ---------------------------------------------------------------------------------
def test_default_hnsw_recall_on_the_glove_sample(sample_index) -> None:
    vectors, index, entry = sample_index
    assert index.method == "hnsw" and index.params == {"m": 16, "ef_construction": 200, "ef_search": 128}
    assert index.recall_at_build >= 0.9
    # an independent reference: numpy's full score matrix on other queries, own key excluded
    rows, q = _queries(vectors, 300)
    s = q @ np.asarray(vectors.unit).T
    s[np.arange(len(rows)), rows] = -np.inf
    exact = np.argsort(-s, axis=1, kind="stable")[:, :10]
    ids, scores = index.search(q, 10, exclude=[[r] for r in rows])
    assert ids.shape == (300, 10) and ids.dtype == np.int64 and scores.dtype == np.float32
    recall = np.mean([len(np.intersect1d(a, e)) / 10 for a, e in zip(ids, exact)])
    assert recall >= 0.9
    # scores are the true cosines of the ids returned, best first
    np.testing.assert_allclose(scores, np.take_along_axis(s, ids, axis=1), atol=1e-5)
    assert (np.diff(scores, axis=1) <= 0).all()
    # the stored recall is what recall() measures again on the same 1,000 seeded keys
    assert index.recall() == index.recall_at_build


def test_deeper_search_is_at_least_as_good(sample_index) -> None:
    _, index, _ = sample_index
    shallow = index.recall(ef_search=8)
    deep = index.recall(ef_search=256)
    assert shallow < index.recall_at_build <= deep
    assert "ef_search=256, recall@10 " in index.describe(ef_search=256)
    assert index.describe(ef_search=256).endswith("measured at build at ef_search=128)")


def test_flat_index_equals_the_exact_kernel(sample_index) -> None:
    vectors, _, _ = sample_index
    flat = Index.build(vectors.unit, "flat")
    rows, q = _queries(vectors, 200, seed=2)
    exclude = [[r, r + 1, 7] for r in rows]
    for restrict in (None, 5000, 30):
        ids, scores = flat.search(q, 10, exclude=exclude, restrict=restrict)
        e_ids, e_scores = search.top_k(vectors.unit, q, 10, exclude=exclude, restrict=restrict)
        np.testing.assert_array_equal(ids, e_ids)
        np.testing.assert_allclose(scores, e_scores, atol=1e-5)
    assert flat.describe() == "exact (flat, recall not measured)"


@pytest.mark.parametrize("metric", ["cosine", "dot", "euclidean"])
def test_ivf_lists_equal_faiss_own_add(sample_index, metric) -> None:
    """The IVF build assigns, reserves and adds with add_core: the index FAISS's add() makes, list for list."""
    import faiss

    vectors, _, _ = sample_index
    rows = vectors.unit if metric == "cosine" else vectors.matrix  # memory-mapped from the cache
    ours = Index.build(rows, "ivf", metric=metric)
    nlist = ours.params["nlist"]
    fmetric = faiss.METRIC_L2 if metric == "euclidean" else faiss.METRIC_INNER_PRODUCT
    quantizer = faiss.IndexFlatL2(50) if metric == "euclidean" else faiss.IndexFlatIP(50)
    ref = faiss.IndexIVFFlat(quantizer, 50, nlist, fmetric)
    ref.cp.seed = 0
    take = np.sort(np.random.default_rng(0).choice(len(rows), size=max(nlist * 64, 10_000), replace=False))
    ref.train(np.ascontiguousarray(rows[take], dtype=np.float32))
    ref.add(np.ascontiguousarray(rows, dtype=np.float32))
    mine = faiss.extract_index_ivf(ours.faiss_index).invlists
    for cell in range(nlist):
        size = ref.invlists.list_size(cell)
        assert mine.list_size(cell) == size
        got = faiss.rev_swig_ptr(mine.get_ids(cell), size).copy()
        want = faiss.rev_swig_ptr(ref.invlists.get_ids(cell), size).copy()
        np.testing.assert_array_equal(got, want)
    assert ours.faiss_index.ntotal == ref.ntotal == len(rows)


def test_ivf_query_short_of_k_probes_more_cells_not_every_row(sample_index, monkeypatch) -> None:
    """A query whose probed cells hold fewer than k rows is asked again over 4x the cells, not answered by a full pass."""
    vectors, _, _ = sample_index
    tiny = Index.build(vectors.unit[:2000], "ivf", nlist=500, nprobe=1)  # about 4 rows a cell
    rows, q = _queries(vectors, 50, seed=4)
    rows = [r % 2000 for r in rows]
    q = np.ascontiguousarray(vectors.unit[rows])
    monkeypatch.setattr(Index, "exact", lambda *a, **kw: pytest.fail("answered by exact search"))
    ids, scores = tiny.search(q, 10, exclude=[[r] for r in rows])
    assert ids.shape == (50, 10) and (ids >= 0).all() and (ids < 2000).all()
    assert all(r not in got for r, got in zip(rows, ids.tolist()))
    assert (np.diff(scores, axis=1) <= 1e-6).all()
    # every cell probed: exhaustive, so the answer is exact search's
    monkeypatch.undo()
    all_cells, _ = tiny.search(q, 10, exclude=[[r] for r in rows], nprobe=500)
    exact, _ = search.top_k(vectors.unit[:2000], q, 10, exclude=[[r] for r in rows])
    np.testing.assert_array_equal(all_cells, exact)


def test_release_rows_gives_the_pages_back(tmp_path) -> None:
    """release_rows drops a memory-mapped table's pages from the process; the values read back the same."""
    from embviz.search.index_build import release_rows

    def rss_file_kib() -> int:
        with open("/proc/self/status") as f:
            return next(int(line.split()[1]) for line in f if line.startswith("RssFile:"))

    table = np.random.default_rng(0).standard_normal((100_000, 64)).astype(np.float32)  # 25 MB
    np.save(tmp_path / "t.npy", table)
    mapped = np.load(tmp_path / "t.npy", mmap_mode="r")
    total = float(np.asarray(mapped, dtype=np.float64).sum())
    before = rss_file_kib()
    release_rows(mapped, 0, len(mapped))
    assert before - rss_file_kib() > 20_000  # the 25 MB of pages the sum read
    assert float(np.asarray(mapped, dtype=np.float64).sum()) == total
    np.testing.assert_array_equal(mapped[1234], table[1234])
    copy = np.load(tmp_path / "t.npy", mmap_mode="c")  # copy-on-write: a change would be lost, so left alone
    copy[0, 0] = 7.0
    release_rows(copy, 0, len(copy))
    assert copy[0, 0] == 7.0
    release_rows(table, 0, len(table))  # not a map: nothing to do


@pytest.mark.parametrize("method", ["hnsw", "ivf"])
def test_exclusions_and_restrict_are_honoured(sample_index, method) -> None:
    vectors, hnsw, _ = sample_index
    index = hnsw if method == "hnsw" else Index.build(vectors.unit, "ivf")
    rows, q = _queries(vectors, 100, seed=3)
    top, _ = search.top_k(vectors.unit, q, 6, exclude=[[r] for r in rows])
    exclude = [[r, *t[:5]] for r, t in zip(rows, top.tolist())]  # the query and its 5 best
    ids, _ = index.search(q, 10, exclude=exclude)
    assert ids.shape == (100, 10)
    assert not any(set(i) & set(e) for i, e in zip(ids.tolist(), exclude))
    for restrict in (30_000, 2000, 25):  # FAISS with an id range; below half the rows, exact
        ids, scores = index.search(q, 10, exclude=exclude, restrict=restrict)
        e_ids, _ = search.top_k(vectors.unit, q, 10, exclude=exclude, restrict=restrict)
        assert ids.shape == e_ids.shape == (100, 10) and ids.max() < restrict
        assert not any(set(i) & set(e) for i, e in zip(ids.tolist(), exclude))
        assert np.mean([len(np.intersect1d(a, e)) / 10 for a, e in zip(ids, e_ids)]) >= 0.9
        if restrict < 20_000:
            np.testing.assert_array_equal(ids, e_ids)
    # fewer candidates than k: as many rows as the exact kernel returns
    ids, _ = index.search(q[:2], 10, exclude=exclude[:2], restrict=8)
    e_ids, _ = search.top_k(vectors.unit, q[:2], 10, exclude=exclude[:2], restrict=8)
    assert ids.shape == e_ids.shape
    assert sorted(map(sorted, ids.tolist())) == sorted(map(sorted, e_ids.tolist()))


def test_neighbors_and_analogy_through_the_index(sample_index) -> None:
    vectors, index, _ = sample_index
    keys = list(vectors.keys[:50])
    approx = search_index.neighbors(vectors, index, keys, k=10)
    exact = search.neighbors(vectors, keys, k=10)
    assert [(n.query, n.rank) for n in approx] == [(n.query, n.rank) for n in exact]
    same = sum(a.key in {e.key for e in exact if e.query == a.query} for a in approx)
    assert same / len(exact) >= 0.9
    assert all(n.key != n.query for n in approx)
    [answer] = search_index.analogy(vectors, index, ("man", "king", "woman"), k=1)
    assert answer.key == "queen" == search.analogy(vectors, ("man", "king", "woman"))[0].key


def test_save_and_load_round_trip(sample_index, tmp_path) -> None:
    vectors, index, entry = sample_index
    loaded = search_index.stored(entry, vectors.unit)
    assert loaded is not None and loaded.method == "hnsw" and loaded.params == index.params
    assert loaded.recall_at_build == index.recall_at_build
    rows, q = _queries(vectors, 50, seed=4)
    np.testing.assert_array_equal(loaded.search(q, 10)[0], index.search(q, 10)[0])


def test_corrupt_or_truncated_files_are_refused(sample_index, tmp_path) -> None:
    vectors, index, _ = sample_index
    path = tmp_path / "index-hnsw.faiss"
    index.save(path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(Exception, match=r"truncated\?"):
        Index.load(path)
    path.write_bytes(data[:1000] + bytes(1000) + data[2000:])
    with pytest.raises(Exception, match="CRC-32"):
        Index.load(path)
    path.with_suffix(".json").write_text("{not json")
    with pytest.raises(Exception, match="metadata missing or unreadable"):
        Index.load(path)


def test_missing_faiss_names_the_extra(monkeypatch, sample_index) -> None:
    vectors, _, _ = sample_index
    monkeypatch.setitem(sys.modules, "faiss", None)
    monkeypatch.setattr(search_index, "_FAISS", None)  # as in a process that never imported it
    with pytest.raises(MissingDependency) as err:
        Index.build(vectors.unit[:100])
    assert str(err.value) == "faiss is required for this command; install it with: pip install 'embviz[index]'"


def test_missing_faiss_cli_is_one_line(monkeypatch, runner, toy, tmp_path) -> None:
    monkeypatch.setitem(sys.modules, "faiss", None)
    monkeypatch.setattr(search_index, "_FAISS", None)
    result = run(runner, ["index", "build", "-v", toy, "--cache-dir", tmp_path / "c"], exit_code=1)
    assert result.stdout == ""
    assert result.stderr == (
        "embviz: error: faiss is required for this command; install it with: pip install 'embviz[index]'\n"
    )


# -- the command line ----------------------------------------------------------------------------
def test_neighbors_index_builds_once_then_answers(runner, toy, tmp_path) -> None:
    cdir = tmp_path / "c"
    args = ["neighbors", "king", "-v", toy, "--cache-dir", cdir]
    first = run(runner, [*args, "--index"])
    assert first.stdout == NEIGHBORS_KING
    assert re.fullmatch(BUILD_LINES + re.escape(TOY_LINE), first.stderr)
    second = run(runner, [*args, "--index"])
    assert (second.stdout, second.stderr) == (NEIGHBORS_KING, TOY_LINE)
    exact = run(runner, [*args, "--index", "--no-index"])
    assert (exact.stdout, exact.stderr) == (NEIGHBORS_KING, "")
    js = run(runner, [*args, "--index", "-k", "1", "-f", "json"])
    assert json.loads(js.stdout) == [{
        "query": "king", "rank": 1, "key": "queen", "score": pytest.approx(0.8),
        "search": "approximate (hnsw, ef_search=16, recall@10 1.000 measured at build)",
    }]
    deeper = run(runner, [*args, "--index", "-k", "1", "--ef-search", "64"])
    assert deeper.stderr == (
        "embviz: approximate (hnsw, ef_search=64, recall@10 1.000 measured at build at ef_search=16)\n"
    )
    restricted = run(runner, [*args, "--index", "--restrict", "3", "--no-header"])
    assert restricted.stdout == "king\t1\tqueen\t0.800000\nking\t2\tman\t0.600000\n"


def test_analogy_index(runner, toy, tmp_path) -> None:
    cdir = tmp_path / "c"
    args = ["analogy", "man", "king", "woman", "-v", toy, "--cache-dir", cdir, "-k", "2"]
    exact = run(runner, args).stdout
    approx = run(runner, [*args, "--index"])
    assert approx.stdout == exact
    bad = run(runner, [*args, "--index", "-m", "cosmul"], exit_code=1)
    assert bad.stderr == (
        "embviz: error: --index answers 3CosAdd only (3CosMul is not one inner product); drop --index\n"
    )


def test_index_build_info_list_rm_and_cache_clear(runner, toy, tmp_path) -> None:
    cdir = tmp_path / "c"
    src = ["-v", toy, "--cache-dir", cdir]
    built = run(runner, ["index", "build", *src, "--method", "ivf", "-f", "json"])
    record = json.loads(built.stdout)
    assert {k: record[k] for k in ("source", "method", "count", "dim", "params", "recall_at_10", "status")} == {
        "source": str(toy.resolve()), "method": "ivf", "count": 5, "dim": 2, "params": "nlist=1,nprobe=1",
        "recall_at_10": 1.0, "status": "ok",
    }
    assert re.fullmatch(
        r"embviz: building the ivf index of 5 x 2 vectors \.\.\.\n"
        r"embviz: built in \d+\.\d s, 0\.0 MiB; nprobe=1 chosen: recall@10 1\.000 on 5 sample keys \(target 0\.95\); "
        r"[\d,]+ queries/s against [\d,]+ exact\n",
        built.stderr,
    )
    run(runner, ["index", "build", *src, "-q"])
    listed = json.loads(run(runner, ["index", "list", "--cache-dir", cdir, "-f", "json"]).stdout)
    assert sorted(r["method"] for r in listed) == ["hnsw", "ivf"]
    info = json.loads(run(runner, ["index", "info", *src, "-f", "json"]).stdout)
    assert [r["method"] for r in info] == ["hnsw", "ivf"] and all(r["status"] == "ok" for r in info)
    # the newest index answers --index
    assert run(runner, ["neighbors", "king", *src, "--index", "-k", "1"]).stderr == TOY_LINE
    removed = run(runner, ["index", "rm", *src, "--method", "hnsw"])
    assert re.fullmatch(r"embviz: removed 0\.\d MiB of indexes for toy\.txt\n", removed.stderr)
    info = json.loads(run(runner, ["index", "info", *src, "-f", "json"]).stdout)
    assert [r["method"] for r in info] == ["ivf"]
    run(runner, ["cache", "clear", "--cache-dir", cdir])
    assert run(runner, ["index", "list", "--cache-dir", cdir]).stdout.splitlines() == [
        "source\tmethod\tcount\tdim\tparams\trecall_at_10\tbuild_s\tsize_bytes\tcreated\tstatus\tpath"
    ]
    missing = run(runner, ["index", "info", *src], exit_code=1)
    assert missing.stderr == f"embviz: error: no index for toy.txt; build one with: embviz index build -v {toy}\n"
    nocache = run(runner, ["index", "build", *src, "--no-cache"], exit_code=1)
    assert nocache.stderr == "embviz: error: indexes are stored in the vector cache: drop --no-cache\n"
    derived = run(runner, ["index", "build", *src, "--postprocess", "abtt:1"], exit_code=1)
    assert derived.stderr == "embviz: error: indexes are stored for the vector file itself: drop --postprocess\n"


def test_stale_source_rebuilds_the_index(runner, toy, tmp_path) -> None:
    cdir = tmp_path / "c"
    args = ["neighbors", "king", "-v", toy, "--cache-dir", cdir, "--index", "-k", "1", "--no-header"]
    assert run(runner, args).stdout == "king\t1\tqueen\t0.800000\n"
    toy.write_text(TOY.replace("man 0.6 0.8", "man 0.9 0.1"))  # man is now king's nearest
    again = run(runner, args)
    assert again.stdout == "king\t1\tman\t0.993884\n"
    assert re.fullmatch(BUILD_LINES + re.escape(TOY_LINE), again.stderr)


@pytest.mark.parametrize("damage", ["truncate", "flip", "meta"])
def test_broken_index_file_is_rebuilt_with_a_warning(runner, toy, tmp_path, damage) -> None:
    cdir = tmp_path / "c"
    run(runner, ["index", "build", "-v", toy, "--cache-dir", cdir, "-q"])
    path = search_index.index_file(cache.entry_path(toy, cache_dir=cdir), "hnsw")
    data = path.read_bytes()
    if damage == "truncate":
        path.write_bytes(data[:100])
        reason = rf"{re.escape(str(path))}: index file is 100 bytes, expected {len(data):,} bytes \(truncated\?\)"
    elif damage == "flip":
        path.write_bytes(data[:60] + bytes(b ^ 0xFF for b in data[60:80]) + data[80:])
        reason = rf"{re.escape(str(path))}: index file fails its CRC-32 check \(corrupt\)"
    else:
        path.with_suffix(".json").write_text("[")
        reason = rf"{re.escape(str(path))}: index metadata missing or unreadable \(.*\)"
    result = run(runner, ["neighbors", "king", "-v", toy, "--cache-dir", cdir, "--index"])
    assert result.stdout == NEIGHBORS_KING
    assert re.fullmatch(
        rf"embviz: warning: ignoring a broken hnsw index \({reason}\); rebuilding it\n" + BUILD_LINES
        + re.escape(TOY_LINE),
        result.stderr,
    )
    # rebuilt and stored: the next query uses it without a warning
    assert run(runner, ["neighbors", "king", "-v", toy, "--cache-dir", cdir, "--index"]).stderr == TOY_LINE


# -- a scaled-down version of the 3M x 300 path ----------------------------------------------------
def _clustered(n: int, dim: int, seed: int = 0) -> np.ndarray:
    """Synthetic clustered vectors: 1,000 Gaussian centres, rows scattered around them."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((1000, dim), dtype=np.float32)
    out = np.empty((n, dim), dtype=np.float32)
    for lo in range(0, n, 50_000):
        hi = min(n, lo + 50_000)
        out[lo:hi] = centres[rng.integers(0, 1000, hi - lo)]
        out[lo:hi] += 0.6 * rng.standard_normal((hi - lo, dim), dtype=np.float32)
    return out


@pytest.mark.slow
def test_200k_x_300_binary_cache_float16_and_index(runner, tmp_path) -> None:
    n, dim = 200_000, 300
    matrix = _clustered(n, dim)
    keys = [f"w{i}" for i in range(n)]
    src = tmp_path / "big.bin"
    with open(src, "wb") as f:
        f.write(f"{n} {dim}\n".encode())
        for lo in range(0, n, 20_000):
            for key, row in zip(keys[lo : lo + 20_000], matrix[lo : lo + 20_000]):
                f.write(key.encode() + b" " + row.tobytes() + b"\n")
    cdir = tmp_path / "c"
    v = formats.load(src, cache_dir=cdir)
    assert v.count == n and v.dim == dim
    np.testing.assert_array_equal(v.matrix[123_456], matrix[123_456])
    ref_unit = matrix / np.linalg.norm(matrix, axis=1, keepdims=True)
    np.testing.assert_allclose(v.unit[::997], ref_unit[::997], atol=1e-6)
    warm = formats.load(src, cache_dir=cdir)
    assert isinstance(warm.unit, np.memmap)
    # exact neighbors of 20 keys against numpy
    rows = np.arange(0, n, n // 20)
    s = ref_unit[rows] @ ref_unit.T
    s[np.arange(len(rows)), rows] = -np.inf
    exact = np.argsort(-s, axis=1)[:, :10]
    got = search.neighbors(warm, [keys[r] for r in rows], k=10)
    assert [warm.key_to_index[g.key] for g in got] == exact.reshape(-1).tolist()
    # float16 cache: same top-10 except swaps of keys closer than float16 rounding
    half = formats.load(src, cache_dir=cdir, dtype="float16")
    assert half.matrix.dtype == np.float16
    got16 = np.array([half.key_to_index[g.key] for g in search.neighbors(half, [keys[r] for r in rows], k=10)])
    for r, a, b in zip(range(len(rows)), got16.reshape(-1, 10), exact):
        for x in set(a) ^ set(b):
            assert abs(s[r, x] - s[r, b[-1]]) < 2e-3
    # an IVF index over the 200k rows, stored in the cache, reached from the CLI
    result = run(runner, ["index", "build", "-v", src, "--cache-dir", cdir, "--method", "ivf", "-f", "json"])
    record = json.loads(result.stdout)
    assert record["count"] == n and record["recall_at_10"] >= 0.9
    out = run(runner, ["neighbors", keys[rows[3]], "-v", src, "--cache-dir", cdir, "--index", "--no-header"])
    found = [warm.key_to_index[line.split("\t")[2]] for line in out.stdout.splitlines()]
    assert len(np.intersect1d(found, exact[3])) >= 8


def _write_binary(path: Path, matrix: np.ndarray) -> list[str]:
    keys = [f"w{i}" for i in range(len(matrix))]
    with open(path, "wb") as f:
        f.write(f"{matrix.shape[0]} {matrix.shape[1]}\n".encode())
        f.write(b"".join(k.encode() + b" " + row.tobytes() + b"\n" for k, row in zip(keys, matrix)))
    return keys


@pytest.mark.parametrize("dtype", ["float32", "float16"])
def test_cache_entry_unit_rows_equal_vectors_unit(tmp_path, dtype) -> None:
    """unit.npy is written block by block; it equals Vectors.unit bit for bit (zero rows stay zero)."""
    matrix = _clustered(40_000, 20)
    matrix[[5, 39_999]] = 0
    src = tmp_path / "v.bin"
    keys = _write_binary(src, matrix)
    cdir = tmp_path / "c"
    formats.load(src, cache_dir=cdir, dtype=dtype)
    [entry] = [p for p in (cdir / "vectors").iterdir() if not p.name.startswith(".")]
    unit = np.load(entry / "unit.npy")
    from embviz import Vectors

    expected = Vectors(keys, matrix.astype(dtype)).unit
    assert unit.dtype == np.dtype(dtype)
    np.testing.assert_array_equal(unit, expected)
    assert not unit[[5, 39_999]].any()
    from embviz.io import integrity

    meta = json.loads((entry / "meta.json").read_text())
    assert sorted(meta["blocks"]) == [  # rows stay in the source
        "key_ends.npy", "norms.npy", "norms64.npy", "offsets.npy", "unit.npy",
    ]
    for name, crcs in meta["blocks"].items():
        assert crcs == integrity.block_crcs(entry / name)


@pytest.mark.slow
def test_first_load_with_cache_build_peaks_near_the_matrix_size(tmp_path) -> None:
    """Peak memory of a first load that builds the cache: below the matrix (was 2.2x, then 1.15x).

    A word2vec binary is read in place: the unit rows are streamed to the entry block by
    block and the matrix is never held; what remains is the reader's (keys, one window of
    the file, a few blocks in flight) and the mapped pages of the file.
    """
    import subprocess

    src = tmp_path / "v.bin"
    _write_binary(src, _clustered(150_000, 300))
    matrix_bytes = 150_000 * 300 * 4
    code = (
        "import embviz, re\n"
        "def kb(f): return int(re.search(f + r':\\s+(\\d+)', open('/proc/self/status').read()).group(1))\n"
        "before = kb('VmRSS')\n"
        f"v = embviz.load({str(src)!r}, cache_dir={str(tmp_path / 'c')!r})\n"
        "print(before, kb('VmHWM'), v.count)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    before, peak, count = (int(x) for x in out)
    assert count == 150_000
    # 0.8x here: fixed costs (a 64 MiB window of the file, blocks in flight); 0.17x at 3M x 300
    assert (peak - before) * 1024 <= 1.0 * matrix_bytes, (peak - before) * 1024 / matrix_bytes


def test_cli_umap_above_the_exact_limit_uses_the_stored_index(runner, tmp_path, monkeypatch) -> None:
    """project/plot: UMAP's kNN from the stored index above the limit (stderr says so); --no-index: umap's own."""
    from embviz import viz
    from embviz.viz import projection as P

    seen = []

    def fake_umap(unit, dim, seed, n_neighbors, min_dist, cache_dir, report, knn=None):
        seen.append(knn)
        return np.zeros((len(unit), dim), np.float32)

    monkeypatch.setattr(P, "_umap", fake_umap)
    monkeypatch.setattr(P, "EXACT_KNN_MAX", 100)
    monkeypatch.setattr(viz, "EXACT_KNN_MAX", 100)
    src = tmp_path / "small.txt"
    run(runner, ["convert", sample_path(), src, "--limit", "2000", "-q"])
    common = ["-v", src, "--cache-dir", tmp_path / "c"]
    run(runner, ["index", "build", *common, "--method", "flat", "-q"])
    out = run(runner, ["project", *common, "--top", "300", "--method", "umap", "--n-neighbors", "8"])
    assert "embviz: UMAP's 8 nearest neighbors of each point came from the index, exact (flat, recall@10 " in out.stderr
    assert seen[-1] is not None and seen[-1][0].shape == (300, 8)
    out = run(runner, ["project", *common, "--top", "300", "--method", "umap", "--n-neighbors", "8",
                       "--no-index"])
    assert "came from the index" not in out.stderr and seen[-1] is None


def test_an_all_zero_query_is_answered_exactly(sample_index) -> None:
    """FAISS ranks nothing for a zero vector (every score 0): such a query is answered by top_k."""
    vectors, index, _ = sample_index
    q = np.zeros((3, vectors.dim), np.float32)
    q[1] = vectors.unit[100]
    for rows in ([0], [0, 1, 2], [1, 0]):  # alone, among others, after another
        ids, scores = index.search(q[rows], 5, exclude=[[0]] * len(rows))
        for j, r in enumerate(rows):
            if r != 1:
                assert ids[j].tolist() == [1, 2, 3, 4, 5] and (scores[j] == 0).all()  # ties to the lower id
            else:
                assert ids[j, 0] == 100 or scores[j, 0] >= 0.99


@pytest.mark.parametrize("method", ["flat", "hnsw"])
def test_tied_scores_go_to_the_lower_id_one_query_or_many(method) -> None:
    """Duplicate rows tie exactly; FAISS may list them in any order, Index.search never does."""
    rng = np.random.default_rng(5)
    unit = rng.standard_normal((400, 16)).astype(np.float32)
    unit /= np.linalg.norm(unit, axis=1, keepdims=True)
    for copy in (150, 10, 300, 50):  # four copies of row 3, added in no particular order
        unit[copy] = unit[3]
    index = search_index.Index.build(unit, method, ef_construction=80)
    index.unit = unit
    want = [10, 50, 150, 300]
    one, _ = index.search(unit[[3]], 4, exclude=[[3]])  # the interactive path
    assert one.tolist() == [want]
    many, _ = index.search(unit[[3] * 40], 4, exclude=[[3]] * 40)  # the batched path
    assert many.tolist() == [want] * 40
    none, _ = index.search(unit[[3]], 5)  # no exclusion: row 3 itself ties too
    assert none.tolist() == [[3, *want]]


@pytest.mark.parametrize("method", ["ivf", "flat"])
def test_a_loaded_index_is_memory_mapped_and_answers_the_same(sample, method, tmp_path) -> None:
    """Index.load maps the file read-only (FAISS IO_FLAG_MMAP): same answers, and the file can be
    replaced by a rebuild (renamed over it) while a process still holds the old mapping."""
    unit = np.asarray(sample.unit[:8000])
    built = Index.build(unit, method)
    path = tmp_path / f"index-{method}.faiss"
    built.save(path)
    loaded = Index.load(path, unit=unit)
    q = np.ascontiguousarray(unit[:64], dtype=np.float32)
    ex = [[i] for i in range(64)]
    for a, b in zip(built.search(q, 10, exclude=ex), loaded.search(q, 10, exclude=ex)):
        np.testing.assert_array_equal(a, b)
    other = tmp_path / "other.faiss"
    Index.build(unit[::-1].copy(), method).save(other)
    os.replace(other, path)  # as a rebuild installs its file
    again = loaded.search(q, 10, exclude=ex)  # the old mapping still answers
    np.testing.assert_array_equal(again[0], built.search(q, 10, exclude=ex)[0])


@pytest.mark.parametrize("exclude", [lambda r: [r], lambda r: [], lambda r: [r, r + 1, -5, 10**9]])
def test_one_query_answers_as_the_batched_path(sample_index, exclude) -> None:
    """A single query (FAISS's C++ search called directly, no bookkeeping arrays) answers as a batch does."""
    vectors, index, _ = sample_index
    rows = np.random.default_rng(9).choice(vectors.count, 60, replace=False)
    q = np.ascontiguousarray(vectors.unit[rows], dtype=np.float32)
    ex = [exclude(int(r)) for r in rows]
    many_ids, many_scores = index.search(q, 10, exclude=ex)  # > 8 queries: the numpy path
    for j in range(len(rows)):
        ids, scores = index.search(q[j : j + 1], 10, exclude=[ex[j]])
        assert ids.tolist() == many_ids[j : j + 1].tolist()
        np.testing.assert_array_equal(scores, many_scores[j : j + 1])
        assert not set(ids[0].tolist()) & set(ex[j])


def test_build_reports_train_add_and_recall() -> None:
    # 70,000 rows: two blocks of rows added, so "add" has a bar; the index is the same with or
    # without a progress callback
    rng = np.random.default_rng(3)
    x = rng.standard_normal((70_000, 8)).astype(np.float32)
    from embviz.vectors import Vectors

    v = Vectors([str(i) for i in range(len(x))], x)
    calls = []
    built = search_index.build_for(v, None, "ivf", progress=lambda *call: calls.append(call))
    plain = search_index.build_for(v, None, "ivf")
    stages = list(dict.fromkeys(stage for stage, _, _ in calls))
    assert stages == ["train (k-means: 529 cells from 33,856 rows)", "add", "recall@10 on 1,000 keys"]
    assert [c for c in calls if c[0] == "add"] == [("add", 0, 70_000), ("add", 65_536, 70_000),
                                                   ("add", 70_000, 70_000)]
    q = np.ascontiguousarray(v.unit[:500], dtype=np.float32)
    assert all(np.array_equal(a, b) for a, b in zip(built.search(q, 10), plain.search(q, 10)))
    assert built.recall_at_build == plain.recall_at_build
    calls.clear()
    search_index.build_for(v.subset(np.arange(2000)), None, "hnsw", progress=lambda *call: calls.append(call))
    assert calls[0] == ("add: HNSW graph", 0, None)  # one block of rows: no steps to count
