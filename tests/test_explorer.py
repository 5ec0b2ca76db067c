"""embviz.viz.explorer: neighbor lists equal `embviz neighbors`, density, names, payload safety, CLI."""

from __future__ import annotations

import base64
import json
import re

import numpy as np
import pytest

from embviz import search
from embviz import viz as P
from embviz.cli import app
from embviz.errors import InvalidQuery
from embviz.vectors import Vectors
from embviz.viz import explorer
from embviz.viz.coloring import cluster_names


def decode(b64: str, dtype: str) -> np.ndarray:
    return np.frombuffer(base64.b64decode(b64), dtype=dtype)


def other_keys(data: dict) -> list[str]:
    """The undrawn keys of a payload, as the page reads them (a joined string or a list)."""
    other = data["other"]
    return other.split("\n") if isinstance(other, str) else other


def test_neighbor_lists_equal_search_neighbors_key_by_key(sample):
    ids = np.array([0, 5, 17, 1035, 2999, 39_999, 123], dtype=np.int64)
    lists = explorer.neighbor_lists(sample, ids, k=10)
    assert lists.rows.tolist() == list(range(7)) and lists.ids.shape == (7, 10)
    for q, i in enumerate(ids.tolist()):
        want = search.neighbors(sample, sample.keys[i], k=10)
        assert [sample.keys[j] for j in lists.ids[q].tolist()] == [n.key for n in want]
        # a batch and a single query may differ in the last float32 bit (BLAS blocking)
        assert np.abs(lists.scores[q] - [n.score for n in want]).max() <= 1e-6
        assert [f"{s:.4f}" for s in lists.scores[q].tolist()] == [f"{n.score:.4f}" for n in want]
    restricted = explorer.neighbor_lists(sample, ids[:2], k=5, restrict=1000)
    want = search.neighbors(sample, sample.keys[5], k=5, restrict=1000)
    assert [sample.keys[j] for j in restricted.ids[1].tolist()] == [n.key for n in want]
    assert restricted.ids.max() < 1000


def test_which_points_get_lists():
    ids = np.array([50, 3, 7, 1, 99], dtype=np.int64)
    assert explorer.rows_with_lists(ids).tolist() == [0, 1, 2, 3, 4]
    assert explorer.rows_with_lists(ids, 2).tolist() == [1, 3]  # ids 3 and 1: most frequent
    assert explorer.rows_with_lists(ids, 0).tolist() == []
    with pytest.raises(InvalidQuery, match="--neighbors-for must be >= 0, got -1"):
        explorer.rows_with_lists(ids, -1)
    with pytest.raises(InvalidQuery, match="--neighbors-k must be >= 1"):
        explorer.neighbor_lists(Vectors(["a", "b"], np.eye(2, dtype=np.float32)), ids[:1], k=0)


def test_density_counts_every_point_once():
    rng = np.random.default_rng(0)
    xy = rng.standard_normal((10_000, 2)).astype(np.float32) * [3, 1]
    grid = explorer.density(xy, bins=50)
    counts = np.expm1(np.nan_to_num(grid["z"].astype(np.float64), nan=0.0))
    assert round(counts.sum()) == 10_000 and grid["max"] == round(counts.max())
    assert grid["z"].shape == (len(grid["y"]), len(grid["x"])) and len(grid["x"]) == 50
    assert len(grid["y"]) < 25 and grid["x"][1] - grid["x"][0] == pytest.approx(grid["y"][1] - grid["y"][0], rel=1e-5)
    assert explorer.use_density("auto", 100_001, 2) and not explorer.use_density("auto", 100_000, 2)
    assert explorer.use_density("on", 10, 2) and not explorer.use_density("on", 10, 3)
    with pytest.raises(InvalidQuery, match="--density must be auto, on or off, got 'x'"):
        explorer.use_density("x", 1, 2)


def test_clusters_are_named_by_their_three_most_frequent_keys():
    keys = ["he", "the", "his", "of", "him", "and", "she"]
    ids = np.array([10, 0, 12, 1, 13, 2, 11])
    clusters = np.array([0, 1, 0, 1, 0, 1, 0])
    names = cluster_names(clusters, ids, keys)
    assert names == [
        "cluster 1: he, she, his",
        "cluster 2: the, of, and",
        "cluster 1: he, she, his",
        "cluster 2: the, of, and",
        "cluster 1: he, she, his",
        "cluster 2: the, of, and",
        "cluster 1: he, she, his",
    ]


HOSTILE = [
    "</script><script>window.__xss=1</script>",
    "<img src=x onerror=alert(1)>",
    "line\u2028sep\u2029para",
    "%{meta.embviz.selection}",
    "AT&T",
]


def test_the_payload_is_inert_json_and_the_figure_escapes_templates():
    rng = np.random.default_rng(1)
    keys = HOSTILE + [f"w{i}" for i in range(25)]
    v = Vectors(keys, rng.standard_normal((30, 6)).astype(np.float32))
    proj = P.project(v, np.arange(20), method="pca")
    lists = explorer.neighbor_lists(v, proj.ids, k=3)
    prov = P.provenance(proj, source="%{meta.x}<b>.txt", fingerprint="f", selection="all", total=30)
    fig = P.figure(proj, prov=prov, labels=5, vectors=v, lists=lists, axis_titles=["%{x}", "a%b"])
    text = explorer.to_json(fig["embviz_data"])
    for bad in ("<", ">", "&", "\u2028", "\u2029"):
        assert bad not in text
    data = json.loads(text)
    assert data["keys"][:5] == HOSTILE and other_keys(data) == keys[20:] and data["other_all"]
    assert isinstance(data["other"], str)  # no key holds a newline: the joined form
    nl = [*keys[:25], "two\nlines", *keys[26:]]  # a Parquet key may hold a newline:
    nl_data = P.figure(proj, prov=prov, vectors=Vectors(nl, v.matrix))["embviz_data"]
    assert json.loads(explorer.to_json(nl_data))["other"] == nl[20:]  # the list keeps it whole
    assert decode(data["rank"], "<i4").tolist() == list(range(1, 21))
    assert decode(data["nbr"]["ids"], "<i4").reshape(20, 3).tolist() == lists.ids.tolist()
    scores = decode(data["nbr"]["scores"], "<i2").reshape(20, 3) / 10_000
    assert np.allclose(scores, lists.scores, atol=5e-5)
    # no plotly string holds a raw '%{' (templates) or '<' (markup); provenance is not in meta
    strings: list[str] = []

    def walk(o):
        if isinstance(o, dict):
            for x in o.values():
                walk(x)
        elif isinstance(o, list):
            for x in o:
                walk(x)
        elif isinstance(o, str):
            strings.append(o)

    walk({"data": fig["data"], "layout": fig["layout"]})
    templates = [s for s in strings if "%{" in s]
    assert set(templates) == {"%{text}<br>rank %{customdata}<extra></extra>"}
    assert not [s for s in strings if "<" in s and not s.startswith("%{text}")]
    assert "meta" not in fig["layout"]
    assert fig["layout"]["title"]["text"].startswith("&#37;{meta.x}&lt;b&gt;.txt: PCA")
    assert fig["layout"]["xaxis"]["title"]["text"] == "&#37;{x}"
    assert "&#37;{meta.embviz.selection}" in fig["data"][0]["text"]
    page = P.to_html(fig, plotlyjs="cdn")
    assert "</script><script>window" not in page
    plot_call = re.sub(r'<script type="application/json".*?</script>', "", page, flags=re.S)
    assert "%{meta" not in plot_call and "&#37;{meta.embviz.selection}" in plot_call
    assert re.search(r'<script type="application/json" id="embviz-data">', page)


def test_cli_project_prints_neighbor_lists_as_neighbors_does(runner):
    r = runner.invoke(
        app, ["project", "--method", "pca", "--top", "50", "--neighbors-k", "3", "-f", "jsonl"]
    )
    assert r.exit_code == 0, r.stderr
    rows = [json.loads(line) for line in r.stdout.splitlines()]
    assert len(rows) == 50 and list(rows[0]) == [
        "key", "rank", "x", "y", "n1", "s1", "n2", "s2", "n3", "s3"
    ]
    nb = runner.invoke(app, ["neighbors", "-k", "3", "-f", "jsonl", "the", "of"])
    want = [json.loads(line) for line in nb.stdout.splitlines()]
    for row, qs in ((rows[0], want[:3]), (rows[3], want[3:])):
        assert row["key"] == qs[0]["query"]
        assert [row[f"n{i}"] for i in (1, 2, 3)] == [w["key"] for w in qs]
        assert [row[f"s{i}"] for i in (1, 2, 3)] == pytest.approx([w["score"] for w in qs], abs=1e-6)
    assert re.search(
        r"neighbor lists: 3 exact neighbors \(cosine over all 40,000 keys\) of 50 of 50 points "
        r"in \d+\.\d s",
        r.stderr,
    )
    tsv = runner.invoke(app, ["project", "--method", "pca", "--top", "5", "--neighbors-k", "2"])
    assert tsv.stdout.splitlines()[0] == "key\trank\tx\ty\tn1\ts1\tn2\ts2"
    first = tsv.stdout.splitlines()[1].split("\t")
    assert first[0] == "the" and first[4:6] == [want[0]["key"], f"{want[0]['score']:.6f}"]


def test_cli_plot_records_the_lists_and_their_cost(runner, tmp_path):
    out = tmp_path / "p.html"
    r = runner.invoke(
        app,
        ["plot", "--method", "pca", "--top", "100", "--neighbors-k", "5", "--density", "on",
         "--plotlyjs", "cdn", "-o", str(out)],
    )
    assert r.exit_code == 0, r.stderr
    assert re.search(
        r"^embviz: neighbor lists: 5 exact neighbors \(cosine over all 40,000 keys\) of 100 of "
        r"100 points in \d+\.\d s$",
        r.stderr,
        flags=re.M,
    )
    page = out.read_text(encoding="utf-8")
    prov = json.loads(
        re.search(r'id="embviz-provenance">(.*?)</script>', page).group(1)
    )
    assert prov["neighbor_lists"]["k"] == 5 and prov["neighbor_lists"]["points"] == 100
    assert prov["neighbor_lists"]["restrict"] is None and prov["neighbor_lists"]["seconds"] >= 0
    data = json.loads(re.search(r'id="embviz-data">(.*?)</script>', page).group(1))
    assert (data["k"], data["n"], data["total"], data["density"]) == (5, 100, 40_000, True)
    assert len(other_keys(data)) == 39_900 and data["other_all"]
    assert '"type":"heatmap"' in page.replace(" ", "")
    off = runner.invoke(
        app,
        ["plot", "--method", "pca", "--top", "100", "--neighbors-k", "0", "--plotlyjs", "cdn",
         "-o", str(out)],
    )
    assert off.exit_code == 0 and "neighbor lists" not in off.stderr
    data = json.loads(re.search(r'id="embviz-data">(.*?)</script>', out.read_text()).group(1))
    assert data["k"] == 0 and data["nbr"] is None
    assert data["why"].startswith("neighbor lists are off in this page")
    bad = runner.invoke(app, ["plot", "--density", "maybe", "-o", str(out)])
    assert bad.exit_code == 2


def test_tagged_points_are_larger_and_highlights_use_colours_no_category_uses(sample):
    from embviz.viz.coloring import PALETTE as _PALETTE

    s = P.select(sample, top=300, around=["king"], k=5)
    proj = P.project(sample, s, method="pca")
    tags = P.Coloring.from_values("pos", ["noun" if i % 3 else None for i in range(len(proj.ids))])
    assert tags.tagged
    fig = P.figure(proj, coloring=tags, highlight={"king": s.groups["around king"]})
    pts = {t["name"]: t for t in fig["data"] if t["meta"]["role"] == "points"}
    assert pts["noun"]["marker"]["size"] > pts["(none)"]["marker"]["size"]
    (mark,) = [t for t in fig["data"] if t["meta"]["role"] == "highlight"]
    assert mark["marker"]["color"] not in _PALETTE
    clusters = P.Coloring("k-means", labels=["a", "b"] * (len(proj.ids) // 2) + ["a"] * (len(proj.ids) % 2))
    fig = P.figure(proj, coloring=clusters)
    sizes = {t["marker"]["size"] for t in fig["data"] if t["meta"]["role"] == "points"}
    assert len(sizes) == 1  # clusters are not tags: one size


def test_neighbor_lists_are_cached_and_never_stale(sample, tmp_path):
    ids = np.arange(0, 3000, 7, dtype=np.int64)
    # the sample is mapped from the vector cache: its rows' identity is the cache's checksums
    assert re.fullmatch(r"[0-9a-f]{32}", sample.unit_digest)
    first = explorer.neighbor_lists(sample, ids, k=10, cache_dir=tmp_path)
    (entry,) = (tmp_path / "neighbor-lists").glob("lists-*.npz")
    again = explorer.neighbor_lists(sample, ids, k=10, cache_dir=tmp_path)
    assert not first.cached and again.cached
    assert np.array_equal(again.ids, first.ids) and np.array_equal(again.scores, first.scores)
    assert np.array_equal(again.rows, first.rows)
    # any change of an input is another entry: one row of the table, k, restrict, the points
    matrix = np.array(sample.matrix, dtype=np.float32)
    far = int(first.ids[0, 0])  # the first query's nearest neighbor moves far away
    matrix[far] = -matrix[int(ids[0])]
    moved = Vectors(list(sample.keys), matrix)
    assert moved.unit_digest is None  # not from the cache: the key hashes every row
    changed = explorer.neighbor_lists(moved, ids, k=10, cache_dir=tmp_path)
    assert not changed.cached and far not in changed.ids[0].tolist()
    for kw in ({"k": 9}, {"k": 10, "restrict": 20_000}):
        assert not explorer.neighbor_lists(sample, ids, cache_dir=tmp_path, **kw).cached
    assert not explorer.neighbor_lists(sample, ids[1:], k=10, cache_dir=tmp_path).cached
    # a damaged entry is computed again (and rewritten), never read
    entry.write_bytes(entry.read_bytes()[:100])
    redone = explorer.neighbor_lists(sample, ids, k=10, cache_dir=tmp_path)
    assert not redone.cached and np.array_equal(redone.ids, first.ids)
    assert explorer.neighbor_lists(sample, ids, k=10, cache_dir=tmp_path).cached


def test_cli_plot_reads_the_lists_from_the_cache_the_second_time(runner, tmp_path):
    out = tmp_path / "p.html"
    argv = ["plot", "--method", "pca", "--top", "200", "--plotlyjs", "cdn", "-o", str(out),
            "--cache-dir", str(tmp_path / "c")]
    pages = []
    for how in (r"in \d+\.\d s", "from the cache"):
        r = runner.invoke(app, argv)
        assert r.exit_code == 0, r.stderr
        assert re.search(
            r"^embviz: neighbor lists: 10 exact neighbors \(cosine over all 40,000 keys\) of 200 "
            rf"of 200 points {how}$", r.stderr, flags=re.M)
        pages.append(json.loads(re.search(r'id="embviz-data">(.*?)</script>', out.read_text()).group(1)))
    assert pages[0]["nbr"] == pages[1]["nbr"] and pages[0]["nbr"] is not None
    r = runner.invoke(app, [*argv, "--no-cache"])
    assert r.exit_code == 0 and re.search(r"of 200 points in \d+\.\d s$", r.stderr, flags=re.M)


def test_the_padding_row_is_never_in_a_list(sample):
    ids = np.array([0, 1, 2, 3], dtype=np.int64)
    plain = explorer.neighbor_lists(sample, ids, k=5)
    pad = int(plain.ids[2, 0])  # the nearest neighbor of the third key becomes the padding row
    padded = Vectors(list(sample.keys), sample.matrix)
    padded.set_padding(pad)
    lists = explorer.neighbor_lists(padded, ids, k=5)
    assert pad not in lists.ids.ravel().tolist()
    for q, i in enumerate(ids.tolist()):
        want = search.neighbors(padded, sample.keys[i], k=5)
        assert [sample.keys[j] for j in lists.ids[q].tolist()] == [n.key for n in want]


def test_cache_clear_removes_layouts_and_neighbor_lists(runner, tmp_path):
    cdir = tmp_path / "c"
    out = tmp_path / "p.html"
    r = runner.invoke(app, ["plot", "--method", "pca", "--top", "50", "--plotlyjs", "cdn",
                            "-o", str(out), "--cache-dir", str(cdir)])
    assert r.exit_code == 0, r.stderr
    assert len(list((cdir / "projections").glob("*.npy"))) == 1
    assert len(list((cdir / "neighbor-lists").glob("*.npz"))) == 1
    r = runner.invoke(app, ["cache", "clear", "--cache-dir", str(cdir)])
    assert r.exit_code == 0 and re.match(r"embviz: removed 3 cache entries \(\d+\.\d MiB\)", r.stderr)
    assert not (cdir / "projections").exists() and not (cdir / "neighbor-lists").exists()
    r = runner.invoke(app, ["plot", "--method", "pca", "--top", "50", "--plotlyjs", "cdn",
                            "-o", str(out), "--cache-dir", str(cdir)])
    assert "from the projection cache" not in r.stderr and "from the cache" not in r.stderr


def test_above_the_threshold_plot_takes_lists_from_the_stored_index(runner, tmp_path, monkeypatch, sample):
    cdir = str(tmp_path / "c")
    built = runner.invoke(app, ["index", "build", "--method", "ivf", "--cache-dir", cdir])
    assert built.exit_code == 0, built.stderr
    monkeypatch.setattr(explorer, "INDEX_ABOVE", 100)  # 50,000 points in real use
    out = tmp_path / "p.html"
    argv = ["plot", "--method", "pca", "--top", "300", "--plotlyjs", "cdn", "-o", str(out), "--cache-dir", cdir]
    r = runner.invoke(app, argv)
    assert r.exit_code == 0, r.stderr
    m = re.search(r"^embviz: neighbor lists: 10 neighbors from the index, (approximate \(ivf, nlist=\d+, "
                  r"nprobe=\d+, recall@10 0\.\d{3} measured at build\)), \(cosine over all 40,000 keys\) "
                  r"of 300 of 300 points in \d+\.\d s$", r.stderr, flags=re.M)
    assert m, r.stderr
    data = json.loads(re.search(r'id="embviz-data">(.*?)</script>', out.read_text()).group(1))
    assert data["search"] == m.group(1)
    approx = decode(data["nbr"]["ids"], "<i4").reshape(300, 10)
    assert not (tmp_path / "c" / "neighbor-lists").exists()  # approximate lists are not cached
    # the same lists as the index answers for these queries, and close to the exact ones
    from embviz.search import index as search_index

    idx = search_index.stored(next((tmp_path / "c" / "vectors").iterdir()), sample.unit)
    q = np.asarray(sample.unit[:300], dtype=np.float32)
    q = (q / np.linalg.norm(q, axis=1)[:, None]).astype(np.float32)
    want, _ = idx.search(q, 10, exclude=[[i] for i in range(300)])
    np.testing.assert_array_equal(approx, want)
    # ... which is what `embviz neighbors KEY --index` prints, key for key
    rows = search_index.neighbors(sample, idx, list(sample.keys[:300]), k=10)
    assert [[r.key for r in rows[i * 10 : i * 10 + 10]] for i in range(300)] == [
        [sample.keys[j] for j in row] for row in approx.tolist()
    ]
    exact = explorer.neighbor_lists(sample, np.arange(300), k=10)
    overlap = np.mean([len(np.intersect1d(a, b)) / 10 for a, b in zip(approx, exact.ids)])
    assert overlap >= 0.9
    # --no-index: the exact lists, as embviz neighbors prints them
    r = runner.invoke(app, [*argv, "--no-index"])
    assert r.exit_code == 0 and "10 exact neighbors" in r.stderr
    data = json.loads(re.search(r'id="embviz-data">(.*?)</script>', out.read_text()).group(1))
    assert data["search"] is None
    np.testing.assert_array_equal(decode(data["nbr"]["ids"], "<i4").reshape(300, 10), exact.ids)


def test_undrawn_keys_of_a_prefix_come_from_the_cache_bytes_in_file_order(tmp_path):
    from embviz import load, sample_path
    from embviz.vectors import KeyBlob

    v = load(sample_path(), cache_dir=tmp_path)
    v = load(sample_path(), cache_dir=tmp_path)  # mapped: its keys are a KeyBlob
    assert isinstance(v.keys, KeyBlob)
    for ids in (np.arange(300), np.array([0, 2, 5, 7_000])):  # a prefix, and not one
        proj = P.project(v, ids, method="pca")
        data = explorer.payload(proj, proj.coords, vectors=v)
        drawn = set(ids.tolist())
        assert other_keys(data) == [k for i, k in enumerate(list(v.keys)) if i not in drawn]
        assert data["other_all"]


def test_the_payload_carries_the_shown_columns_of_drawn_points_and_undrawn_neighbors(tmp_path):
    from embviz.io.meta import read_meta

    rng = np.random.default_rng(2)
    keys = [f"i{i}" for i in range(30)]
    v = Vectors(keys, rng.standard_normal((30, 6)).astype(np.float32))
    rows = ["item\ttitle\trank\t__proto__"]
    for i in range(30):
        if i == 3:
            continue  # no row: every column is null
        title = HOSTILE[i % len(HOSTILE)] if i < 5 else f"Title {i}"
        rows.append(f"i{i}\t{title}\t{100 - i}\t{'' if i % 2 else 'p'}")
    (tmp_path / "m.tsv").write_text("\n".join(rows) + "\n")
    meta = read_meta(tmp_path / "m.tsv")
    proj = P.project(v, np.arange(20), method="pca")  # i20 .. i29 are in the file, not drawn
    lists = explorer.neighbor_lists(v, proj.ids, k=4)
    fig = P.figure(proj, vectors=v, lists=lists, meta=meta, show=["title", "rank", "__proto__"])
    data = json.loads(explorer.to_json(fig["embviz_data"]))
    block = data["meta"]
    assert block["columns"] == ["title", "rank", "__proto__"]
    assert block["names"] == ["title", "meta_rank", "__proto__"]  # export header: no clash with rank
    title, rank, proto = block["values"]
    assert title[:6] == [HOSTILE[0], HOSTILE[1], HOSTILE[2], None, HOSTILE[4], "Title 5"]
    assert rank[:4] == ["100", "99", "98", None] and proto[:3] == ["p", None, "p"]
    assert len(title) == len(rank) == len(proto) == 20
    # the undrawn neighbors, ascending, with their values (for the panel and the search)
    undrawn = sorted({int(i) for i in lists.ids.ravel().tolist() if i >= 20})
    assert undrawn and decode(block["other_ids"], "<i4").tolist() == undrawn
    assert block["other"][0] == [f"Title {i}" for i in undrawn]
    assert block["other"][1] == [str(100 - i) for i in undrawn]
    # one JSON array per column; the page's text is inert JSON whatever a title holds
    text = explorer.to_json(fig["embviz_data"])
    for bad in ("<", ">", "&", "\u2028"):
        assert bad not in text
    # no metadata shown: no block, and the figure is the one plotted before --meta existed
    plain = P.figure(proj, vectors=v, lists=lists)
    assert plain["embviz_data"]["meta"] is None
    empty = P.figure(proj, vectors=v, lists=lists, meta=meta, show=[])
    assert empty["embviz_data"] == plain["embviz_data"] and empty["data"] == plain["data"]
    with pytest.raises(InvalidQuery, match="no column 'year'"):
        P.figure(proj, meta=meta, show=["year"])


@pytest.mark.parametrize("metric", ["dot", "euclidean"])
def test_neighbor_lists_in_another_metric_equal_neighbors_metric_and_a_numpy_reference(sample, metric):
    ids = np.array([0, 5, 691, 2999, 39_999], dtype=np.int64)
    lists = explorer.neighbor_lists(sample, ids, k=10, metric=metric)
    assert lists.metric == metric
    x = np.asarray(sample.matrix, dtype=np.float64)
    for q, i in enumerate(ids.tolist()):
        want = search.neighbors(sample, sample.keys[i], k=10, metric=metric)
        assert [sample.keys[j] for j in lists.ids[q].tolist()] == [n.key for n in want]
        # float64 reference: the key itself excluded, best first
        ref = x @ x[i] if metric == "dot" else -np.linalg.norm(x - x[i], axis=1)
        ref[i] = -np.inf
        top = np.argsort(-ref, kind="stable")[:10]
        assert lists.ids[q].tolist() == top.tolist()
        np.testing.assert_allclose(lists.scores[q], ref[top], rtol=1e-5, atol=1e-5)
    if metric == "dot":
        assert lists.scores.max() > 1  # dot products, not cosines


def test_neighbor_lists_cache_keeps_metrics_apart_and_sees_norm_changes(sample, tmp_path):
    ids = np.arange(0, 300, 3, dtype=np.int64)
    cos = explorer.neighbor_lists(sample, ids, k=5, cache_dir=tmp_path)
    dot = explorer.neighbor_lists(sample, ids, k=5, cache_dir=tmp_path, metric="dot")
    assert not dot.cached and dot.metric == "dot"
    assert not np.array_equal(cos.scores, dot.scores)
    assert explorer.neighbor_lists(sample, ids, k=5, cache_dir=tmp_path, metric="dot").cached
    # same unit rows, other norms: the dot lists change, so they are another entry
    matrix = np.array(sample.matrix, dtype=np.float32)
    matrix[int(dot.ids[0, 0])] *= 0.01  # the first query's best dot product shrinks away
    scaled = Vectors(list(sample.keys), matrix)
    again = explorer.neighbor_lists(scaled, ids, k=5, cache_dir=tmp_path, metric="dot")
    assert not again.cached and int(dot.ids[0, 0]) not in again.ids[0].tolist()


def test_payload_carries_unbounded_scores_as_float32(sample):
    proj = P.Projection(np.zeros((50, 2), dtype=np.float32), np.arange(50, dtype=np.int64),
                        tuple(sample.keys[:50]), "pca", {}, None)
    lists = explorer.neighbor_lists(sample, proj.ids, k=3, metric="dot")
    data = explorer.payload(proj, proj.coords, vectors=sample, lists=lists)
    assert data["metric"] == "dot" and data["nbr"]["f32"] is True
    np.testing.assert_array_equal(decode(data["nbr"]["scores"], "<f4"), lists.scores.reshape(-1))
    cos = explorer.payload(proj, proj.coords, vectors=sample,
                           lists=explorer.neighbor_lists(sample, proj.ids, k=3))
    assert cos["metric"] == "cosine" and "f32" not in cos["nbr"]


def test_neighbor_lists_refuse_an_index_of_another_metric(sample):
    class Cosine:
        metric = "cosine"

    with pytest.raises(InvalidQuery, match="the index was built for cosine, not dot"):
        explorer.neighbor_lists(sample, np.arange(3), k=3, metric="dot", index=Cosine())


def test_project_neighbor_columns_in_another_metric_equal_neighbors(runner):
    r = runner.invoke(app, ["project", "--method", "pca", "--top", "1000", "--neighbors-k", "3",
                            "--metric", "dot"])
    assert r.exit_code == 0, r.stderr
    assert "neighbor lists: 3 exact neighbors (dot over all 40,000 keys)" in r.stderr
    row = next(line.split("\t") for line in r.stdout.splitlines() if line.startswith("king\t"))
    n = runner.invoke(app, ["neighbors", "king", "-k", "3", "--metric", "dot"])
    want = [line.split("\t") for line in n.stdout.splitlines()[1:]]
    assert row[4:] == [v for w in want for v in (w[2], w[3])]
