"""The explorer's metadata filters and "colour by" in a real headless Chromium (issue 27).

A MovieLens-like synthetic table (120 items in four planted clusters; title, genres, year and
rating columns; item 12 has no row, item 30 no year) is plotted by ``embviz plot --meta --show``
and opened as a user opens it: typed filters (``year>=1990``, ``rating>4.5``, ``genres!=Drama``,
``genres=comedy year<2000``), a clear line for an unknown column or a value that is not a number,
and the "colour by" select, whose colours must be those ``embviz plot --color-by`` draws.
"""

from __future__ import annotations

import numpy as np
import pytest
from test_explorer_browser import Opened

from embviz.cli import app
from embviz.viz.coloring import NO_VALUE, PALETTE, Coloring, page_coloring

pytestmark = pytest.mark.browser

GENRES = ["Animation|Children's|Comedy", "Horror|Sci-Fi", "Drama", "Comedy|Romance"]
HOSTILE = {
    6: "<img src=x onerror=alert(1)>",
    7: "</script><script>window.__xss=1</script>",
}
COLUMNS = ["title", "genres", "year", "rating"]


def movie(key: int) -> dict[str, str] | None:
    """The metadata row of item `key` (None: no row)."""
    if key == 12:
        return None
    i = key - 1
    return {
        "title": HOSTILE.get(key, f"Movie {key}"),
        "genres": GENRES[i % 4],
        "year": "" if key == 30 else str(1950 + (i * 7) % 60),
        "rating": f"{1 + (i * 37 % 41) / 10:.1f}",
    }


@pytest.fixture(scope="module")
def movies(tmp_path_factory):
    """The page (the 100 most frequent of 120 items), the drawn keys, and their rows."""
    from typer.testing import CliRunner

    d = tmp_path_factory.mktemp("filters")
    rng = np.random.default_rng(11)
    centres = rng.standard_normal((4, 16)) * 2
    n = 120
    matrix = np.array([centres[i % 4] + rng.standard_normal(16) for i in range(n)], dtype=np.float32)
    (d / "items.txt").write_text(
        f"{n} 16\n" + "".join(f"{i + 1} " + " ".join(f"{x:.6f}" for x in row) + "\n"
                              for i, row in enumerate(matrix)))
    lines = ["item\t" + "\t".join(COLUMNS)]
    for key in range(1, n + 1):
        row = movie(key)
        if row is not None:
            lines.append(f"{key}\t" + "\t".join(row[c] for c in COLUMNS))
    (d / "movies.tsv").write_text("\n".join(lines) + "\n")
    out = d / "movies.html"
    r = CliRunner().invoke(app, ["plot", "-v", str(d / "items.txt"), "--meta", str(d / "movies.tsv"),
                                 "--show", ",".join(COLUMNS), "--method", "pca", "--top", "100",
                                 "-q", "-o", str(out)])
    assert r.exit_code == 0, r.stderr
    drawn = [str(k) for k in range(1, 101)]  # item ids are in file order: the top 100 are 1..100
    return out, drawn, d


def selected(o: Opened) -> list[str]:
    tsv = o.page.evaluate("() => window.embviz.selectionTSV()").splitlines()[1:]
    return sorted((line.split("\t")[0] for line in tsv), key=int)


def expect(drawn: list[str], test) -> list[str]:  # noqa: ANN001
    """The drawn keys whose row passes `test` (a row of None: no metadata)."""
    return [k for k in drawn if test(movie(int(k)))]


def type_filter(o: Opened, text: str) -> str:
    """Type `text` in the search box; return the note beside it, then press Enter."""
    o.page.fill("#embviz-search", text)
    o.page.wait_for_function("() => document.getElementById('embviz-found').textContent !== ''", timeout=5_000)
    o.page.wait_for_timeout(150)
    note = o.page.text_content("#embviz-found")
    o.page.keyboard.press("Enter")
    o.page.wait_for_timeout(150)
    return note


def year(row) -> float | None:  # noqa: ANN001
    return float(row["year"]) if row and row["year"] else None


def test_numeric_comparisons_not_equal_and_several_conditions_select_exactly_the_rows_that_pass(browser, movies):
    path, drawn, _ = movies
    o = Opened(browser, path)
    try:
        cases = {
            "year>=1990": lambda r: year(r) is not None and year(r) >= 1990,
            "YEAR < 1960": lambda r: year(r) is not None and year(r) < 1960,  # any case, spaces
            "rating>4.5": lambda r: r is not None and float(r["rating"]) > 4.5,
            "rating<=1.2": lambda r: r is not None and float(r["rating"]) <= 1.2,
            "rating=4.50": lambda r: r is not None and float(r["rating"]) == 4.5,  # as numbers
            "genres!=comedy": lambda r: r is None or "Comedy" not in r["genres"].split("|"),
            "genres=comedy year<2000": lambda r: r is not None and "Comedy" in r["genres"].split("|")
            and year(r) is not None and year(r) < 2000,
            "genres=horror rating>=2 year>1970": lambda r: r is not None and r["genres"] == "Horror|Sci-Fi"
            and float(r["rating"]) >= 2 and year(r) is not None and year(r) > 1970,
        }
        for text, test in cases.items():
            want = expect(drawn, test)
            assert 0 < len(want) < len(drawn), text  # each case selects some, not all
            note = type_filter(o, text)
            assert note == f"filter: {len(want)} of 100 drawn points (Enter selects them)", text
            o.page.wait_for_function(f"() => window.embviz.state().selected === {len(want)}", timeout=5_000)
            assert selected(o) == want, text
            msg = o.page.text_content("#embviz-msg")
            assert msg.endswith(f": {len(want)} of 100 drawn points selected"), msg
        assert o.page.text_content("#embviz-msg") == (
            f"filter genres=horror rating>=2 year>1970: {len(want)} of 100 drawn points selected")
        # a value with spaces runs to the next condition; quotes are optional
        assert o.page.evaluate("() => window.embviz.filterText('title=\"Movie 15\" rating>0')") == 1
        assert o.page.evaluate("() => window.embviz.filterText('title=Movie 15 year>0')") == 1
        assert selected(o) == ["15"]
        assert o.errors == [] and o.dialogs == []
    finally:
        o.close()


def test_an_unknown_column_or_a_value_that_is_not_a_number_is_one_clear_line(browser, movies):
    path, _, _ = movies
    o = Opened(browser, path)
    try:
        o.page.evaluate("() => window.embviz.filterText('genres=drama')")
        before = o.page.evaluate("() => window.embviz.state().selected")
        assert before == 25
        for text, line in {
            "yaer>=1990": "no shown column 'yaer' (columns: title, genres, year, rating)",
            "genres=comedy yaer<2000": "no shown column 'yaer' (columns: title, genres, year, rating)",
            "year>nineteen": "year>nineteen: 'nineteen' is not a number (> compares numbers; = and != compare text)",
            "rating<=": "rating<=: give a value after rating<=",
            "genres>5": "genres>5: genres holds no numbers in this page (> compares numbers)",
        }.items():
            note = type_filter(o, text)
            assert note == line, text  # beside the search box while typing ...
            assert o.page.text_content("#embviz-msg") == line  # ... and in the panel after Enter
            assert o.page.text_content("#embviz-found") == line
            assert o.page.evaluate("() => window.embviz.state().selected") == before  # selection kept
        assert o.errors == [] and o.dialogs == []
    finally:
        o.close()


def point_colors(o: Opened) -> dict[str, str]:
    """Each drawn point's marker colour by rank (here its key), read from the figure's point traces."""
    return o.page.evaluate(
        """() => { const g = document.getElementById('embviz-plot'), out = {};
        g._fullData.filter(t => (t.meta || {}).role === 'points').forEach(t => {
          const cd = Array.from(t.customdata), c = t.marker.color;
          cd.forEach((r, p) => { out[String(r)] = Array.isArray(c) ? c[p] : c; });
        }); return out; }""")


def test_colour_by_a_category_column_is_what_plot_color_by_draws(browser, movies):
    path, drawn, _ = movies
    o = Opened(browser, path)
    try:
        assert o.page.evaluate("() => [...document.querySelectorAll('#embviz-colorby option')].map(x => x.textContent)") == [
            "as plotted", *COLUMNS]
        plain = point_colors(o)
        assert set(plain.values()) == {"#1f77b4"}
        legend = o.page.evaluate("() => document.querySelectorAll('.legend .traces').length")
        o.page.select_option("#embviz-colorby", label="genres")
        o.page.wait_for_timeout(300)
        got = point_colors(o)  # keyed by rank; items are keyed by their rank here
        rows = [movie(int(k)) for k in drawn]
        coloring = Coloring.from_column("genres", [r["genres"] if r else None for r in rows])
        keep, codes, rest = coloring.categories()
        want = {k: PALETTE[c] if c >= 0 else NO_VALUE for k, c in zip(drawn, codes.tolist())}
        assert got == want
        assert keep == ["Animation", "Drama", "Horror", "Comedy"] and rest == "(none)"  # item 12 (Comedy): no row
        key = o.page.evaluate("() => [...document.querySelectorAll('#embviz-key .row')].map(r => r.textContent)")
        counts = np.bincount(np.where(codes < 0, len(keep), codes)).tolist()
        assert key == [f"{name}{count}" for name, count in zip([*keep, rest], counts)]
        assert o.page.text_content("#embviz-key .title") == "genres (first value)"
        # a key entry selects its points; the selection is a ring, so they keep their colour
        o.page.click("#embviz-key .row:nth-child(3)")  # (the title is the first child)
        assert selected(o) == [k for k, c in zip(drawn, codes.tolist()) if c == 1]
        ring = "() => { const t = document.getElementById('embviz-plot')._fullData.find(t => t.meta.role === 'selection');" \
            " return [t.marker.color, t.marker.line.width]; }"
        assert o.page.evaluate(ring) == ["rgba(0,0,0,0)", 2.5]
        # the legend entries of the plot are hidden while another colouring shows; "as plotted" is back
        o.page.select_option("#embviz-colorby", label="as plotted")
        o.page.wait_for_timeout(300)
        assert point_colors(o) == plain
        assert o.page.evaluate(ring) == ["#ff7f0e", 1]  # the plot's own selection look
        assert o.page.evaluate("() => document.querySelectorAll('.legend .traces').length") == legend
        assert o.page.evaluate("() => getComputedStyle(document.getElementById('embviz-key')).display") == "none"
        assert o.errors == [] and o.dialogs == []
    finally:
        o.close()


def test_colour_by_a_numeric_column_is_a_continuous_scale_with_missing_values_grey(browser, movies):
    path, drawn, _ = movies
    o = Opened(browser, path)
    try:
        assert o.page.evaluate("() => window.embviz.colorBy('year')") is True
        got = point_colors(o)
        years = {k: year(movie(int(k))) for k in drawn}
        spec = page_coloring("year", [movie(int(k))["year"] if movie(int(k)) else None for k in drawn])
        assert spec["kind"] == "number" and spec["colors"][0] == "#440154" and spec["colors"][-2] == "#fde725"
        lo, hi = min(y for y in years.values() if y is not None), max(y for y in years.values() if y is not None)
        assert (spec["min"], spec["max"]) == (lo, hi)
        for k, y in years.items():
            if y is None:
                assert got[k] == NO_VALUE, k  # item 12 (no row) and item 30 (no year)
            else:
                assert got[k] == spec["colors"][round((y - lo) / (hi - lo) * 127)], k
        assert got[next(k for k, y in years.items() if y == lo)] == "#440154"
        assert got[next(k for k, y in years.items() if y == hi)] == "#fde725"
        assert o.page.evaluate("() => [...document.querySelectorAll('#embviz-key .ends span')].map(s => s.textContent)") == [
            str(int(lo)), str(int(hi))]
        assert o.page.text_content("#embviz-key .row") == "(no value)2"
        assert o.errors == [] and o.dialogs == []
    finally:
        o.close()


def test_hostile_values_in_the_colour_key_stay_inert_text(browser, movies):
    path, _, _ = movies
    o = Opened(browser, path)
    try:
        o.page.select_option("#embviz-colorby", label="title")
        o.page.wait_for_timeout(300)
        names = o.page.evaluate("() => [...document.querySelectorAll('#embviz-key .name')].map(s => s.textContent)")
        assert set(HOSTILE.values()) <= set(names) and names[-1] == "other"  # 99 titles: 24 and "other"
        assert o.page.evaluate("() => document.querySelectorAll('#embviz-key img, #embviz-key script').length") == 0
        assert o.page.evaluate("() => window.__xss") is None
        assert o.errors == [] and o.dialogs == []
    finally:
        o.close()


def test_the_served_page_filters_and_colours_by_any_shown_column(browser, movies):
    pytest.importorskip("starlette")
    from test_serve import Server, open_served

    _, drawn, d = movies
    s = Server("-v", str(d / "items.txt"), "--meta", str(d / "movies.tsv"), "--show", ",".join(COLUMNS),
               "--top", "100")
    try:
        ctx, page, errors = open_served(browser, s.url)
        assert page.evaluate("() => [...document.querySelectorAll('#embviz-colorby option')].map(x => x.textContent)") == [
            "as plotted", *COLUMNS]
        page.select_option("#embviz-colorby", label="rating")
        page.wait_for_timeout(300)
        assert page.evaluate("() => window.embviz.colorState().kind") == "number"
        assert page.evaluate("() => [...document.querySelectorAll('#embviz-key .ends span')].map(s => s.textContent)") == [
            "1", "5"]
        page.fill("#embviz-search", "genres=comedy rating>=3")
        page.wait_for_timeout(400)
        page.keyboard.press("Enter")
        want = expect(drawn, lambda r: r is not None and "Comedy" in r["genres"].split("|") and float(r["rating"]) >= 3)
        page.wait_for_function(f"() => window.embviz.state().selected === {len(want)}", timeout=5_000)
        tsv = page.evaluate("() => window.embviz.selectionTSV()").splitlines()[1:]
        assert sorted((line.split("\t")[0] for line in tsv), key=int) == want
        assert errors == []
        ctx.close()
    finally:
        s.stop()
