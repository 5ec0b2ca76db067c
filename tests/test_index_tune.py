"""embviz.search.index_tune and ``embviz index build --target-recall``: search depth chosen by measured recall.

On the bundled sample (40,000 x 50 GloVe): the depth chosen is the smallest on the ladder
whose recall@10 on the 1,000 seeded sample keys, measured again here with
``Index.recall(nprobe=...)`` / ``Index.recall(ef_search=...)``, reaches the target, the step
before it does not, and the stored index then searches at that depth.
"""

from __future__ import annotations

import re

import numpy as np
import pytest
from typer.testing import CliRunner

from embviz import io as formats
from embviz import sample_path
from embviz.cli import app
from embviz.errors import InvalidQuery
from embviz.io import cache
from embviz.search import index as search_index
from embviz.search import index_tune
from embviz.search.index import Index

pytest.importorskip("faiss")

#: recall@10 of the sample's IVF index (nlist 400, seed 0) at nprobe 1, 2, 3, 4, 6, 8, 12, 16
IVF_RECALLS = ((1, 0.5017), (2, 0.658), (3, 0.7386), (4, 0.7942), (6, 0.8571), (8, 0.8915), (12, 0.9301),
               (16, 0.9515))
SPEED = r"[\d,]+ queries/s against [\d,]+ exact"


def run(args, exit_code=0):
    result = CliRunner().invoke(app, [str(a) for a in args])
    assert result.exit_code == exit_code, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    return result


def check_choice(index: Index, name: str, target: float) -> int:
    """Assert the stored depth is the first ladder step reaching `target` (recall measured anew); return it."""
    chosen = index.params[name]
    steps = index_tune.ladder(index)
    assert chosen in steps
    at = steps.index(chosen)
    recall = index.recall(**{name: chosen})
    assert recall >= target and recall == index.recall_at_build == index.recall()
    if at:
        assert index.recall(**{name: steps[at - 1]}) < target
    return chosen


# -- the library ---------------------------------------------------------------------------------
def test_ladders() -> None:
    unit = np.eye(4, dtype=np.float32)
    ivf = Index.build(np.tile(unit, (100, 1)), "ivf", nlist=10)
    assert index_tune.ladder(ivf) == (1, 2, 3, 4, 6, 8, 10)
    ivf.params["nlist"] = 400
    assert index_tune.ladder(ivf) == (1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64, 96, 128, 192, 256, 384, 400)
    ivf.params["nlist"] = 256
    assert index_tune.ladder(ivf)[-3:] == (128, 192, 256)
    ivf.params["nlist"] = 1
    assert index_tune.ladder(ivf) == (1,)
    ivf.params["nlist"] = 3
    assert index_tune.ladder(ivf) == (1, 2, 3)
    hnsw = Index.build(unit, "hnsw")
    assert index_tune.ladder(hnsw) == (16, 24, 32, 48, 64, 96, 128, 192, 256, 384, 512, 768, 1024)
    assert index_tune.ladder(hnsw, k=100) == (100, 128, 192, 256, 384, 512, 768, 1024)  # never below k
    flat = Index.build(unit, "flat")
    assert index_tune.ladder(flat) == ()
    with pytest.raises(InvalidQuery, match="a flat index has no search depth to tune"):
        index_tune.tune_depth(flat)
    with pytest.raises(InvalidQuery, match=r"the target recall must be in \(0, 1\], got 1.5"):
        index_tune.tune_depth(hnsw, target=1.5)


def test_ivf_nprobe_chosen_on_the_sample(sample) -> None:
    calls = []
    index = search_index.build_for(sample, None, "ivf", target_recall=0.95, progress=lambda *c: calls.append(c))
    choice = index.tuning
    assert (choice.name, choice.depth, choice.reached, choice.k, choice.queries) == ("nprobe", 16, True, 10, 1000)
    assert choice.tried == IVF_RECALLS and choice.recall == 0.9515 and choice.best == 0.9515
    assert choice.qps > 0 and choice.exact_qps > 0
    assert index.params == {"nlist": 400, "nprobe": 16} and index.faiss_index.nprobe == 16
    assert check_choice(index, "nprobe", 0.95) == 16
    # the recalls of the ladder, measured again one by one
    assert tuple((d, index.recall(nprobe=d)) for d, _ in IVF_RECALLS) == IVF_RECALLS
    assert list(dict.fromkeys(stage for stage, _, _ in calls)) == [
        "recall@10 on 1,000 keys", "train (k-means: 400 cells from 25,600 rows)", "add",
        "choosing nprobe for recall@10 >= 0.95", "timing nprobe=16 against exact search"]
    # a higher target, a deeper depth; without a target, the fixed default nlist / 16
    deeper = search_index.build_for(sample, None, "ivf", target_recall=0.99)
    assert check_choice(deeper, "nprobe", 0.99) > 16
    fixed = search_index.build_for(sample, None, "ivf")
    assert fixed.tuning is None and fixed.params["nprobe"] == search_index.default_nprobe(400) == 25


def test_hnsw_ef_search_chosen_on_the_sample(sample) -> None:
    index = search_index.build_for(sample, None, "hnsw", target_recall=0.99)
    choice = index.tuning
    assert choice.name == "ef_search" and choice.reached and index.params["ef_search"] == choice.depth
    assert index.faiss_index.hnsw.efSearch == choice.depth
    chosen = check_choice(index, "ef_search", 0.99)
    assert chosen > 16  # 16 reaches about 0.98 here
    assert [d for d, _ in choice.tried] == [d for d in index_tune.EF_SEARCH_LADDER if d <= chosen]


def test_an_explicit_depth_is_kept_and_flat_has_none(sample) -> None:
    small = sample.subset(np.arange(5000))
    ivf = search_index.build_for(small, None, "ivf", nprobe=3, target_recall=0.95)
    assert ivf.tuning is None and ivf.params["nprobe"] == 3 and ivf.recall_at_build == ivf.recall(nprobe=3)
    hnsw = search_index.build_for(small, None, "hnsw", ef_search=40, target_recall=0.95)
    assert hnsw.tuning is None and hnsw.params["ef_search"] == 40
    flat = search_index.build_for(small, None, "flat", target_recall=0.95)
    assert flat.tuning is None and flat.recall_at_build == 1.0
    with pytest.raises(InvalidQuery, match=r"the target recall must be in \(0, 1\], got 0"):
        search_index.build_for(small, None, "ivf", target_recall=0)


def test_recall_reuses_one_exact_answer(sample) -> None:
    """Index.recall = sample_truth + recall_on; the truth is the exact kernel's, computed once."""
    from embviz.search import top_k

    index = Index.build(sample.unit, "ivf")
    truth = index_tune.sample_truth(index)
    assert len(truth.rows) == 1000 and truth.exact.shape == (1000, 10)
    ref, _ = top_k(sample.unit, np.asarray(sample.unit[truth.rows]), 10, exclude=[[int(r)] for r in truth.rows])
    np.testing.assert_array_equal(truth.exact, ref)
    for nprobe in (2, 25):
        assert index_tune.recall_on(index, truth, nprobe=nprobe) == index.recall(nprobe=nprobe)


# -- the command line ----------------------------------------------------------------------------
@pytest.fixture(scope="module")
def ivf_cache(tmp_path_factory):
    """The sample's IVF index built by ``embviz index build --method ivf`` (tuned), its stderr and cache."""
    cdir = tmp_path_factory.mktemp("tune-cache")
    result = run(["index", "build", "--method", "ivf", "--cache-dir", cdir, "-f", "json"])
    return cdir, result


def _stored(cdir, method: str):
    v = formats.load(sample_path(), cache_dir=cdir)
    return v, search_index.stored(cache.entry_path(sample_path(), cache_dir=cdir), v.unit, method)


def test_cli_ivf_says_what_it_chose_and_stores_it(ivf_cache) -> None:
    cdir, result = ivf_cache
    assert re.fullmatch(
        r"embviz: building the ivf index of 40,000 x 50 vectors \.\.\.\n"
        r"embviz: built in \d+\.\d s, 8\.0 MiB; nprobe=16 chosen: recall@10 0\.952 on 1,000 sample keys "
        rf"\(target 0\.95\); {SPEED}\n",
        result.stderr,
    ), result.stderr
    assert '"params": "nlist=400,nprobe=16"' in result.stdout and '"recall_at_10": 0.9515' in result.stdout
    v, index = _stored(cdir, "ivf")
    assert index.params == {"nlist": 400, "nprobe": 16} and index.recall_at_build == 0.9515
    assert check_choice(index, "nprobe", 0.95) == 16
    # index info shows the stored depth and recall
    info = run(["index", "info", "--cache-dir", cdir, "--no-header"]).stdout.split("\t")
    assert info[4:6] == ["nlist=400,nprobe=16", "0.951500"]


def test_cli_neighbors_search_at_the_chosen_depth(ivf_cache) -> None:
    cdir, _ = ivf_cache
    v, index = _stored(cdir, "ivf")
    rows = np.random.default_rng(7).choice(v.count, 12, replace=False)
    keys = [v.keys[r] for r in rows]
    out = run(["neighbors", *keys, "--index", "--cache-dir", cdir, "--no-header"])
    assert out.stderr == "embviz: approximate (ivf, nlist=400, nprobe=16, recall@10 0.952 measured at build)\n"
    ids, _ = index.search(np.asarray(v.unit[rows], dtype=np.float32), 10, exclude=[[int(r)] for r in rows],
                          nprobe=16)
    got = [line.split("\t") for line in out.stdout.splitlines()]
    assert [(q, v.key_to_index[k]) for q, _, k, _ in got] == [
        (key, int(i)) for key, row in zip(keys, ids) for i in row]


def test_cli_explicit_nprobe_is_kept(tmp_path) -> None:
    result = run(["index", "build", "--method", "ivf", "--nprobe", "8", "--cache-dir", tmp_path, "-f", "json"])
    assert re.fullmatch(
        r"embviz: building the ivf index of 40,000 x 50 vectors \.\.\.\n"
        r"embviz: built in \d+\.\d s, 8\.0 MiB; recall@10 0\.891 against exact search on 1,000 sample keys\n",
        result.stderr,
    ), result.stderr
    assert '"params": "nlist=400,nprobe=8"' in result.stdout and '"recall_at_10": 0.8915' in result.stdout


def test_cli_explicit_ef_search_is_kept(tmp_path) -> None:
    result = run(["index", "build", "--limit", "3000", "--ef-search", "40", "--cache-dir", tmp_path, "-f", "json"])
    assert "ef_search=40" in result.stdout and " chosen" not in result.stderr
    assert re.search(r"; recall@10 \d\.\d{3} against exact search on 1,000 sample keys\n$", result.stderr)


def test_cli_unreachable_target_is_one_warning_ivf(tmp_path, monkeypatch) -> None:
    """A ladder that stops at nprobe 4 (recall 0.794): the deepest step is kept, with a warning."""
    monkeypatch.setattr(index_tune, "ladder", lambda index, k=10: (1, 2, 4))
    assert run(["index", "build", "--method", "ivf", "--cache-dir", tmp_path, "-q"]).stderr == ""  # as every warning
    result = run(["index", "build", "--method", "ivf", "--cache-dir", tmp_path])
    assert re.fullmatch(
        r"embviz: building the ivf index of 40,000 x 50 vectors \.\.\.\n"
        r"embviz: built in \d+\.\d s, 8\.0 MiB; nprobe=4 kept: recall@10 0\.794 on 1,000 sample keys "
        rf"\(target 0\.95\); {SPEED}\n"
        r"embviz: warning: no nprobe up to 4 reaches recall@10 0\.95 \(best 0\.794\); kept nprobe=4; "
        r"try --method hnsw\n",
        result.stderr,
    ), result.stderr
    _, index = _stored(tmp_path, "ivf")
    assert index.params["nprobe"] == 4 and index.recall_at_build == 0.7942


def test_cli_unreachable_target_is_one_warning_hnsw(tmp_path) -> None:
    """A poor graph (M 4, ef_construction 8) never finds every neighbor: ef_search 1024 is kept."""
    result = run(["index", "build", "--m", "4", "--ef-construction", "8", "--target-recall", "1",
                  "--cache-dir", tmp_path])
    _, index = _stored(tmp_path, "hnsw")
    assert index.params["ef_search"] == 1024
    best = f"{index.recall():.3f}"
    assert re.fullmatch(
        r"embviz: building the hnsw index of 40,000 x 50 vectors \.\.\.\n"
        rf"embviz: built in \d+\.\d s, [\d.]+ MiB; ef_search=1024 kept: recall@10 {best} on 1,000 sample keys "
        rf"\(target 1\); {SPEED}\n"
        rf"embviz: warning: no ef_search up to 1,024 reaches recall@10 1 \(best {best}\); kept ef_search=1024; "
        r"rebuild with a larger --ef-construction or --m\n"
        # at ef_search 1024 this graph is slower than exact search on 40,000 rows, but timings vary
        r"(embviz: warning: at ef_search=1024 the index is no faster than exact search on the same 1,000 "
        r"queries \([\d,]+ against [\d,]+ queries/s\): use exact search \(embviz neighbors without "
        r"--index\)\n)?",
        result.stderr,
    ), result.stderr


def test_cli_no_faster_than_exact_is_one_line(tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(index_tune, "_median_s", lambda call: 0.5)  # both sides: 2,000 queries/s
    result = run(["index", "build", "--method", "ivf", "--cache-dir", tmp_path])
    assert result.stderr.splitlines()[1:] == [
        "embviz: built in " + result.stderr.split("built in ")[1].split(" s,")[0] + " s, 8.0 MiB; nprobe=16 chosen: "
        "recall@10 0.952 on 1,000 sample keys (target 0.95); 2,000 queries/s against 2,000 exact",
        "embviz: warning: at nprobe=16 the index is no faster than exact search on the same 1,000 queries "
        "(2,000 against 2,000 queries/s): use exact search (embviz neighbors without --index) or --method hnsw",
    ]


def test_cli_ivf_under_10x_exact_on_a_slow_table_says_it_needs_hnsw(tmp_path, monkeypatch) -> None:
    """Exact search timed at 500 queries/s (a large table), the index at 2,500: one warning naming hnsw."""
    spent = iter([2.0])  # exact search is timed first (answer_first), then the index
    monkeypatch.setattr(index_tune, "_median_s", lambda call: next(spent, 0.4))
    result = run(["index", "build", "--method", "ivf", "--cache-dir", tmp_path])
    assert result.stderr.splitlines()[2:] == [
        "embviz: warning: at nprobe=16 the ivf index answers only 5.0x as many queries/s as exact search: "
        "this table's clusters overlap, so recall 0.95 needs many cells; an hnsw index "
        "(embviz index build --method hnsw) does not depend on cells",
    ]
    assert "2,500 queries/s against 500 exact" in result.stderr


def test_cli_ivf_under_10x_exact_on_a_fast_table_says_nothing(tmp_path, monkeypatch) -> None:
    """Exact search at 2,000 queries/s: fast enough that no index is needed, so no advice either."""
    spent = iter([0.5])
    monkeypatch.setattr(index_tune, "_median_s", lambda call: next(spent, 0.25))
    result = run(["index", "build", "--method", "ivf", "--cache-dir", tmp_path])
    assert "4,000 queries/s against 2,000 exact" in result.stderr and "warning" not in result.stderr


def test_cli_target_recall_out_of_range_is_a_usage_error(tmp_path) -> None:
    result = run(["index", "build", "--target-recall", "0", "--cache-dir", tmp_path], exit_code=2)
    assert "Invalid value for --target-recall: must be in (0, 1], got 0" in result.stderr
