"""``embviz serve``: lay out a selection again (issue 27), through the API and in the page.

Against a real ``embviz serve`` process (uvicorn) on the bundled sample: ``POST /api/layout``
gives a job, ``GET /api/layout?job=`` its progress and answer, which must equal
:func:`embviz.viz.project` on the same rows; bad requests get one line and a 4xx; in Chromium
the selection panel's "Lay out again" shows progress, then the selection's own map, whose
points are the API's and lead back to the main map.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request

import numpy as np
import pytest
from test_serve import Server, open_served

import embviz
from embviz.viz import project


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    s = Server("--cache-dir", str(tmp_path_factory.mktemp("layout-cache")))
    yield s
    s.stop()


@pytest.fixture(scope="module")
def table():
    return embviz.load(embviz.sample_path(), cache=False)


def post(server: Server, body: object, raw: bytes | None = None, path: str = "/api/layout") -> tuple[int, dict]:
    data = raw if raw is not None else json.dumps(body).encode()
    req = urllib.request.Request(server.base + path, data=data, method="POST",
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def wait(server: Server, job: str, timeout: float = 120) -> tuple[dict, list[dict]]:
    """Poll the job until it is done or failed: ``(last answer, every answer seen)``."""
    seen = []
    deadline = time.time() + timeout
    while time.time() < deadline:
        status, body = server.get(f"/api/layout?job={job}")
        assert status == 200, body
        seen.append(body)
        if body["status"] in ("done", "error"):
            return body, seen
        time.sleep(0.05)
    raise AssertionError(f"layout job {job} not done in {timeout} s: {seen[-1]}")


def test_pca_of_a_selection_is_project_on_those_rows(server, table) -> None:
    keys = ["paris", "london", "berlin", "madrid", "rome", "tokyo", "apple", "banana", "cherry", "grape"]
    status, body = post(server, {"keys": keys, "method": "pca"})
    assert status == 202 and body["status"] in ("queued", "running", "done") and body["count"] == 10
    done, _ = wait(server, body["job"])
    assert done["status"] == "done" and done["method"] == "pca" and done["cached"] is False
    assert [r["key"] for r in done["rows"]] == keys  # in the order sent
    ref = project(table, [table.key_to_index[k] for k in keys], method="pca", use_cache=False)
    got = np.array([[r["x"], r["y"]] for r in done["rows"]])
    np.testing.assert_allclose(got, ref.coords, atol=1e-5)
    assert done["recall"] == pytest.approx(ref.recall)
    # the same selection again: from the layout cache, the same points
    status, again = post(server, {"keys": keys, "method": "pca"})
    second, _ = wait(server, again["job"])
    assert second["cached"] is True and second["rows"] == done["rows"]


def test_umap_reports_its_stages_and_other_requests_are_answered_meanwhile(server, table) -> None:
    keys = list(table.keys[1000:1600])
    status, body = post(server, {"keys": keys, "method": "umap"})
    assert status == 202
    t = time.perf_counter()
    code, nb = server.get("/api/neighbors?q=king&k=3")  # while UMAP runs in its own thread
    assert code == 200 and [r["key"] for r in nb["rows"]] == ["prince", "queen", "ii"]
    assert time.perf_counter() - t < 5
    done, seen = wait(server, body["job"], timeout=300)
    assert done["status"] == "done", done
    assert len(done["rows"]) == 600 and 0 <= done["recall"] <= 1
    stages = {s["stage"] for s in seen}
    assert stages - {"queued", "starting", "done"}, f"no progress stage was reported: {stages}"
    xy = np.array([[r["x"], r["y"]] for r in done["rows"]])
    assert np.isfinite(xy).all() and xy.std(axis=0).min() > 0


@pytest.mark.parametrize("body, status, message", [
    ({"keys": ["king", "queen"], "method": "pca"}, 400, "2 keys: a re-layout takes 3 to 10,000"),
    ({"keys": ["king", "queen", "notakey123"], "method": "pca"}, 404,
     "1 key(s) not in the table, the first 'notakey123'"),
    ({"keys": ["king", "queen", "prince"], "method": "tsne"}, 400, "method 'tsne' is not one of pca, umap"),
    ({"keys": "king queen prince"}, 400, "'keys' must be a list of keys (strings)"),
    ({"keys": ["king", "king", "queen"]}, 400, "'keys' holds a key twice"),
    ([1, 2, 3], 400, 'expected a JSON object {"keys": [...], "method": "pca" or "umap"}'),
    ({"keys": [str(i) for i in range(10_001)]}, 400, "10,001 keys: a re-layout takes 3 to 10,000"),
])
def test_bad_layout_requests_get_one_line(server, body, status, message) -> None:
    code, answer = post(server, body)
    assert (code, answer) == (status, {"error": message})


def test_malformed_bodies_and_jobs(server) -> None:
    assert post(server, None, raw=b"{not json") == (400, {"error": "the body is not JSON"})
    assert server.get("/api/layout") == (400, {"error": "missing parameter 'job'"})
    assert server.get("/api/layout?job=feedbeef") == (404, {"error": "no layout job 'feedbeef' (the server keeps its last 32)"})
    assert server.get("/api/info")[0] == 200  # still serving


@pytest.mark.browser
def test_lay_out_again_in_the_page(browser, server, table) -> None:
    ctx, page, errors = open_served(browser, server.url)
    # every status line the panel shows, as the user sees them
    page.evaluate("""() => { window.seen = []; new MutationObserver(() => {
        const s = document.getElementById('embviz-relayout-status');
        if (s && s.textContent && window.seen[window.seen.length - 1] !== s.textContent) { window.seen.push(s.textContent); }
    }).observe(document.getElementById('embviz-panel'), {subtree: true, childList: true, characterData: true}); }""")
    keys = list(table.keys[500:900])  # drawn: the page shows the top 2,000
    assert page.evaluate("ks => window.embviz.selectKeys(ks)", keys) == 400
    page.select_option("#embviz-relayout-method", "umap")
    page.click("#embviz-relayout-go")
    page.wait_for_function("() => window.embviz.relayoutState().points", timeout=300_000)
    state = page.evaluate("() => window.embviz.relayoutState()")
    assert state["status"] == "done" and state["method"] == "umap" and state["count"] == 400
    assert [p[0] for p in state["points"]] == keys
    seen = page.evaluate("() => window.seen")
    assert seen[0] == "laying out 400 keys with UMAP ..."
    assert any(s.startswith("laying out 400 keys with UMAP: ") for s in seen), seen  # progress
    assert seen[-1].startswith("laid out 400 keys with UMAP in ")
    assert page.is_visible("#embviz-relayout")
    assert page.text_content("#embviz-relayout-title").startswith("The selection laid out again: 400 keys, UMAP, trust recall@10 ")
    # the points drawn are the API's answer for the same keys (from the layout cache now)
    code, body = post(server, {"keys": keys, "method": "umap"})
    api, _ = wait(server, body["job"])
    assert api["cached"] is True
    assert [[r["key"], r["x"], r["y"]] for r in api["rows"]] == state["points"]
    drawn = page.evaluate("() => { const t = document.getElementById('embviz-relayout-plot').data[0];"
                          " return [t.customdata, t.x, t.y]; }")
    assert drawn == [keys, [p[1] for p in state["points"]], [p[2] for p in state["points"]]]
    # labels: the most frequent keys first, none overlapping another or cut at the plot's edge
    def label_boxes():
        return page.evaluate("""() => [...document.querySelectorAll('#embviz-relayout-plot .textpoint text')]
            .filter(t => t.textContent.trim()).map(t => { const b = t.getBoundingClientRect();
              return [t.textContent, b.left, b.top, b.right, b.bottom]; })""")

    def assert_apart(boxes):
        area = page.evaluate("() => { const b = document.querySelector('#embviz-relayout-plot .nsewdrag')"
                             ".getBoundingClientRect(); return [b.left, b.top, b.right, b.bottom]; }")
        for i, a in enumerate(boxes):
            assert area[0] <= a[1] and a[3] <= area[2] + 1 and area[1] <= a[2] and a[4] <= area[3] + 1, (a, area)
            for b in boxes[:i]:
                assert a[3] <= b[1] or b[3] <= a[1] or a[4] <= b[2] or b[4] <= a[2], (a, b)

    boxes = label_boxes()
    assert len(boxes) == state["labels"]
    assert len(boxes) >= 5, boxes
    assert_apart(boxes)
    assert keys[0] in [b[0] for b in boxes]  # the most frequent key is named first, so always
    # zoomed in on the densest quarter, other labels fit: more of them, still apart
    xs = sorted(p[1] for p in state["points"])
    ys = sorted(p[2] for p in state["points"])
    page.evaluate("r => Plotly.relayout(document.getElementById('embviz-relayout-plot'), r)",
                  {"xaxis.range": [xs[100], xs[300]], "yaxis.range": [ys[100], ys[300]]})
    page.wait_for_function(f"() => window.embviz.relayoutState().labels !== {len(boxes)}", timeout=10_000)
    zoomed = label_boxes()
    assert len(zoomed) > 0 and {b[0] for b in zoomed} != {b[0] for b in boxes}
    assert_apart(zoomed)
    # back to the map; fewer than 3 selected points are refused in the panel
    page.click("#embviz-relayout-close")
    assert not page.is_visible("#embviz-relayout")
    page.evaluate("() => window.embviz.selectKeys(['king', 'queen'])")
    page.click("#embviz-relayout-go")
    assert page.text_content("#embviz-relayout-status") == "select at least 3 points to lay them out again"
    assert errors == []
    ctx.close()


def test_at_most_four_layouts_wait_and_a_failure_is_one_line(monkeypatch, table) -> None:
    """In process: a blocked worker lets four jobs wait, refuses the fifth (429); errors are one line."""
    import threading

    from embviz.serve import layout as layout_mod
    from embviz.serve.api import ApiError

    gate = threading.Event()

    def slow(vectors, ids, **kw):
        gate.wait(30)
        raise RuntimeError("boom\n  File x, line 1")

    monkeypatch.setattr("embviz.viz.project", slow)
    jobs = layout_mod.Layouts(table, None, "")
    started = [jobs.start({"keys": ["king", "queen", "prince"], "method": "umap"}) for _ in range(layout_mod.MAX_WAITING)]
    with pytest.raises(ApiError) as exc:
        jobs.start({"keys": ["king", "queen", "prince"]})
    assert (exc.value.status, exc.value.message) == (429, "4 layouts are already queued or running; try again when one is done")
    gate.set()
    deadline = time.time() + 30
    while time.time() < deadline and any(jobs.status({"job": j["job"]})["status"] != "error" for j in started):
        time.sleep(0.01)
    answers = [jobs.status({"job": j["job"]}) for j in started]
    assert [(a["status"], a["error"]) for a in answers] == [
        ("error", "internal error (RuntimeError: boom); please report it")] * 4
    assert jobs.start({"keys": ["king", "queen", "prince"]})["status"] in ("queued", "running")


# -- add keys that are not drawn to the map -----------------------------------------------------
def post_place(server: Server, body: object) -> tuple[int, dict]:
    return post(server, body, path="/api/place")


def test_place_answers_the_nearest_keys_among_the_map_s(server, table) -> None:
    among = list(table.keys[:2000])
    status, body = post_place(server, {"keys": ["zucchini", "king"], "among": among, "k": 10})
    assert status == 200 and body["k"] == 10
    unit = np.asarray(table.unit)
    a = unit[:2000]
    for row, key in zip(body["rows"], ["zucchini", "king"]):
        s = a @ unit[table.key_to_index[key]]
        if key in among:
            s[among.index(key)] = -np.inf  # a drawn key is not its own neighbor
        ref = np.argsort(-s, kind="stable")[:10]
        assert row["key"] == key
        assert [n["key"] for n in row["neighbors"]] == [among[i] for i in ref]
        np.testing.assert_allclose([n["score"] for n in row["neighbors"]], s[ref], atol=1e-5)


@pytest.mark.parametrize("body, status, message", [
    ({"keys": [], "among": ["king"]}, 400, "'keys' holds 0 keys; 1 to 1,000 are allowed"),
    ({"keys": ["king"], "among": "king"}, 400, "'among' must be a list of keys (strings)"),
    ({"keys": ["king"], "among": ["queen"], "k": 0}, 400, "'k' must be an integer from 1 to 100"),
    ({"keys": ["kingg"], "among": ["queen"]}, 404, "1 key(s) of 'keys' not in the table, the first 'kingg'"),
    ("king", 400, 'expected a JSON object {"keys": [...], "among": [...], "k": 10}'),
])
def test_bad_place_requests_get_one_line(server, body, status, message) -> None:
    assert post_place(server, body) == (status, {"error": message})


@pytest.mark.browser
def test_add_a_key_that_is_not_drawn_to_the_map(browser, server, table) -> None:
    ctx, page, errors = open_served(browser, server.url)
    page.fill("#embviz-search", "zucchini")  # rank 35,559: not among the 2,000 drawn keys
    page.wait_for_timeout(300)
    page.keyboard.press("Enter")
    page.wait_for_selector("#embviz-place", timeout=15_000)
    assert page.text_content("#embviz-place") == "Add to the map"
    page.click("#embviz-place")
    page.wait_for_function("() => window.embviz.added().length === 1", timeout=15_000)
    added = page.evaluate("() => window.embviz.added()[0]")
    assert added["key"] == "zucchini" and len(added["neighbors"]) == 10
    # its place: the similarity-weighted mean of its 10 nearest drawn keys' positions on the map
    pos = page.evaluate("""() => { const gd = document.getElementById('embviz-plot'), out = {};
        gd._fullData.filter(t => (t.meta || {}).role === 'points').forEach(t => {
          for (let p = 0; p < t.customdata.length; p++) { out[t.customdata[p]] = [t.x[p], t.y[p]]; } });
        return out; }""")
    _, body = post_place(server, {"keys": ["zucchini"], "among": list(table.keys[:2000]), "k": 10})
    nb = body["rows"][0]["neighbors"]
    assert [[n["key"], n["score"]] for n in nb] == added["neighbors"]
    w = np.array([max(n["score"], 0) for n in nb])
    xy = np.array([pos[str(table.key_to_index[n["key"]] + 1)] for n in nb])
    np.testing.assert_allclose([added["x"], added["y"]], (w[:, None] * xy).sum(0) / w.sum(), rtol=1e-9)
    # drawn as a star with its name, the map centred on it, the button says so
    trace = page.evaluate("""() => { const t = document.getElementById('embviz-plot').data.filter(
        t => (t.meta || {}).role === 'added')[0]; return [t.x, t.y, t.text, t.marker.symbol]; }""")
    assert trace == [[added["x"]], [added["y"]], ["zucchini"], "star"]
    page.wait_for_timeout(500)
    rng = page.evaluate("() => { const l = document.getElementById('embviz-plot')._fullLayout;"
                        " return [l.xaxis.range, l.yaxis.range]; }")
    assert rng[0][0] < added["x"] < rng[0][1] and rng[1][0] < added["y"] < rng[1][1]
    assert abs((rng[0][0] + rng[0][1]) / 2 - added["x"]) < 1e-6 * max(1.0, abs(added["x"])) + 1e-9
    assert page.text_content("#embviz-place") == "On the map (added)"
    assert page.text_content("#embviz-place-note").startswith("added at the similarity-weighted mean of its 10 nearest drawn keys (")
    assert errors == []
    ctx.close()


def test_place_scores_a_big_request_in_blocks(monkeypatch, table) -> None:
    """Blocks of queries give the answer of one matrix product (a block of 7 scores at a time here)."""
    from embviz.serve import layout as layout_mod

    among = list(table.keys[:3000])
    keys = list(table.keys[2990:3010])  # ten of them are drawn: never their own neighbor
    whole = layout_mod.place(table, {"keys": keys, "among": among, "k": 5})
    monkeypatch.setattr(layout_mod, "BLOCK_SCORES", 7 * len(among))
    blocked = layout_mod.place(table, {"keys": keys, "among": among, "k": 5})
    assert blocked == whole and len(whole["rows"]) == 20
    for row in whole["rows"]:
        assert row["key"] not in [n["key"] for n in row["neighbors"]]
