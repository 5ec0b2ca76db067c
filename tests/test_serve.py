"""embviz serve: a real uvicorn process, its JSON API over HTTP, and the served page in Chromium.

The server is started as a user starts it (``embviz serve --port 0``, the bundled sample, a
PCA page of the 2,000 most frequent keys) and read over HTTP with urllib. Its rows must be the
command line's JSON rows (``embviz neighbors -f json``), for keys and expressions.
"""

from __future__ import annotations

import json
import re
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from typer.testing import CliRunner

from embviz.cli import app

pytest.importorskip("starlette")
pytest.importorskip("uvicorn")

EMBVIZ = [str(Path(sys.executable).parent / "embviz")]


class Server:
    """``embviz serve ARGS`` in a subprocess; ``url`` is the address it printed."""

    def __init__(self, *args: str) -> None:
        self.proc = subprocess.Popen([*EMBVIZ, "serve", "--port", "0", "--method", "pca", "--top", "2000", *args],
                                     stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True)
        self.lines: list[str] = []
        deadline = time.time() + 120
        while time.time() < deadline:
            line = self.proc.stderr.readline()
            if not line:
                raise AssertionError(f"embviz serve stopped: {self.lines}")
            self.lines.append(line.rstrip("\n"))
            m = re.search(r" at (http://\S+) \(Ctrl-C stops\)$", line)
            if m:
                self.url = m.group(1)
                break
        else:
            raise AssertionError(f"embviz serve did not start: {self.lines}")
        parts = urllib.parse.urlsplit(self.url)
        self.base = f"{parts.scheme}://{parts.netloc}"
        self.token = urllib.parse.parse_qs(parts.query).get("token", [None])[0]

    def get(self, path: str, token: str | None = "default", headers: dict | None = None) -> tuple[int, object]:
        token = self.token if token == "default" else token
        if token:
            path += ("&" if "?" in path else "?") + "token=" + token
        req = urllib.request.Request(self.base + path, headers=headers or {})
        try:
            with urllib.request.urlopen(req, timeout=60) as r:
                body = r.read().decode()
                status = r.status
                kind = r.headers.get("content-type", "")
        except urllib.error.HTTPError as e:
            body, status, kind = e.read().decode(), e.code, e.headers.get("content-type", "")
        return status, (json.loads(body) if "json" in kind else body)

    def stop(self) -> None:
        self.proc.terminate()  # uvicorn stops on SIGTERM: open connections get a moment to finish
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=30)
            raise AssertionError("embviz serve did not stop on SIGTERM within 30 s") from None
        finally:
            self.proc.stderr.close()


@pytest.fixture(scope="module")
def server():
    s = Server()
    yield s
    s.stop()


def cli_json(*args: str) -> list[dict]:
    r = CliRunner().invoke(app, [args[0], "-f", "json", *args[1:]])
    assert r.exit_code == 0, r.stderr
    return json.loads(r.stdout)


def q(text: str) -> str:
    return urllib.parse.quote(text)


# -- the API -----------------------------------------------------------------------------------
def test_info_and_the_page(server) -> None:
    status, info = server.get("/api/info")
    assert status == 200
    assert (info["count"], info["dim"], info["dtype"], info["metric"]) == (40000, 50, "float32", "cosine")
    assert info["file"].endswith("glove.6B.50d.40k.txt.gz")
    status, page = server.get("/")
    assert status == 200 and page.startswith("<!doctype html>")
    assert '<script>window.EMBVIZ_API = {"base": "api", "token": null};</script>' in page
    assert 'id="embviz-data"' in page
    assert server.lines[-1].startswith("embviz: serving ") and "(40,000 keys)" in server.lines[-1]
    # the page is drawn into a temporary file that is gone once read: no 'wrote /tmp/...' line
    assert not [line for line in server.lines if "wrote " in line or "/embviz-serve-" in line], server.lines
    assert [line for line in server.lines if line.startswith("embviz: drew the page (pca, ")], server.lines


@pytest.mark.parametrize("query", ["king", "zucchini", "king - man + woman", "paris - france + italy"])
def test_neighbors_rows_are_the_command_line_s(server, query) -> None:
    status, body = server.get(f"/api/neighbors?q={q(query)}&k=10")
    assert status == 200
    want = cli_json("neighbors", "-k", "10", "--", query)
    got = body["rows"]
    assert [{k: v for k, v in r.items() if k != "id"} for r in got] == want
    from embviz import load, sample_path

    v = load(sample_path())
    assert [r["id"] for r in got] == [v.key_to_index[r["key"]] for r in got]
    assert (body["k"], body["metric"], body["restrict"]) == (10, "cosine", None)


def test_metric_and_restrict(server) -> None:
    status, body = server.get("/api/neighbors?q=king&k=5&metric=dot&restrict=5000")
    assert status == 200
    want = cli_json("neighbors", "-k", "5", "--metric", "dot", "--restrict", "5000", "king")
    assert [{k: v for k, v in r.items() if k != "id"} for r in body["rows"]] == want


def test_analogy_rows_are_the_command_line_s(server) -> None:
    status, body = server.get("/api/analogy?a=man&b=king&c=woman&k=3")
    assert status == 200
    assert body["rows"] == cli_json("analogy", "man", "king", "woman", "-k", "3")
    status, body = server.get("/api/analogy?a=man&b=king&c=woman&method=cosmul")
    assert body["rows"] == cli_json("analogy", "man", "king", "woman", "--method", "cosmul")


def test_search_every_key_by_prefix_and_regex(server) -> None:
    from embviz import load, sample_path

    keys = load(sample_path()).keys
    status, body = server.get("/api/search?q=kin&limit=5")
    assert status == 200
    prefixed = [i for i, k in enumerate(keys) if k.startswith("kin") and k != "kin"]
    want = [keys.index("kin")] + prefixed
    assert body["total"] == len(want) and body["complete"] is True
    assert [(m["key"], m["rank"]) for m in body["matches"]] == [(keys[i], i + 1) for i in want[:5]]
    status, page2 = server.get("/api/search?q=kin&limit=5&offset=5")
    assert [m["rank"] for m in page2["matches"]] == [i + 1 for i in want[5:10]]
    status, body = server.get(f"/api/search?q={q('/^zuc.*i$/')}")
    assert [m["key"] for m in body["matches"]] == [k for k in keys if re.search("^zuc.*i$", k)]
    status, body = server.get(f"/api/search?q={q('/^KING$/i')}")
    assert [m["key"] for m in body["matches"]] == ["king"]


@pytest.mark.parametrize("path, status, message", [
    ("/api/neighbors?q=kingg", 404, "'kingg' is not in the vocabulary (40,000 keys of glove.6B.50d.40k.txt.gz); "
                                    "close matches: king, kings, kin"),
    ("/api/neighbors?q=king&k=100000", 400, "'k' must be between 1 and 1,000, got 100,000"),
    ("/api/neighbors?q=king&k=0", 400, "'k' must be between 1 and 1,000, got 0"),
    ("/api/neighbors?q=king&k=ten", 400, "'k' must be an integer, got 'ten'"),
    ("/api/neighbors?q=king&metric=manhattan", 400, "'metric' must be one of cosine, dot, euclidean, got 'manhattan'"),
    ("/api/neighbors", 400, "missing parameter 'q'"),
    ("/api/neighbors?q=%20", 400, "'q' is empty"),
    ("/api/neighbors?q=" + "a" * 1001, 400, "'q' is 1,001 characters long, at most 1,000"),
    ("/api/search?q=/(a/", 400, "bad regular expression: missing ) at position 2"),
    ("/api/search?q=/" + "a" * 201 + "/", 400, "the regular expression is 201 characters long, at most 200"),
    ("/api/search?q=a&limit=5000", 400, "'limit' must be between 1 and 1,000, got 5,000"),
    ("/api/analogy?a=man&b=king", 400, "missing parameter 'c'"),
    ("/api/analogy?a=man&b=king&c=woman&method=3cosadd", 400, "'method' must be cosadd or cosmul, got '3cosadd'"),
])
def test_bad_requests_get_one_line_and_the_server_keeps_serving(server, path, status, message) -> None:
    got_status, body = server.get(path)
    assert (got_status, body) == (status, {"error": message})
    assert server.get("/api/neighbors?q=king&k=1")[0] == 200


def test_catastrophic_regexes_are_bounded_and_other_requests_go_on(tmp_path) -> None:
    """Keys of 28 a's: ``re`` needs 6 s for ``/(a*)*b/`` on one of them, holding the GIL.

    The server matches with the ``regex`` module and a 5 s budget for the whole scan; meanwhile
    another client's neighbors request is answered.
    """
    import threading

    rows = ["a" * 28 + "c", "a" * 27 + "d", "b", "c", "d", "e"]
    vec = tmp_path / "hostile.vec"
    vec.write_text(f"{len(rows)} 3\n" + "".join(f"{k} {i + 1} {i % 3} 1\n" for i, k in enumerate(rows)))
    s = Server("-v", str(vec), "--no-cache")
    try:
        answers: dict[str, tuple] = {}

        def ask(name: str, path: str) -> None:
            t = time.perf_counter()
            answers[name] = (*s.get(path), time.perf_counter() - t)

        slow = threading.Thread(target=ask, args=("regex", f"/api/search?q={q('/(a*)*b/')}"))
        slow.start()
        time.sleep(0.2)
        ask("neighbors", "/api/neighbors?q=b&k=2")
        slow.join(60)
        status, body, took = answers["regex"]
        assert status in (200, 400) and took < 10, answers["regex"]
        if status == 400:
            assert body["error"].startswith("the regular expression ran over 5 s (at key ")
        else:
            assert body["matches"] == [{"key": "b", "rank": 3}] and body["complete"] is True
        assert answers["neighbors"][0] == 200 and answers["neighbors"][2] < 5
        for pattern in ("/^(a+)+$/", "/(a|aa)+$/", "/(x+x+)+y/"):
            t = time.perf_counter()
            assert s.get(f"/api/search?q={q(pattern)}")[0] in (200, 400)
            assert time.perf_counter() - t < 10
    finally:
        s.stop()


# -- safety ------------------------------------------------------------------------------------
def test_any_other_host_needs_the_token_it_prints() -> None:
    s = Server("--host", "0.0.0.0")
    try:
        assert s.token and len(s.token) >= 24
        assert s.url == f"http://0.0.0.0:{urllib.parse.urlsplit(s.url).port}/?token={s.token}"
        status, body = s.get("/api/info", token=None)
        assert status == 401 and body["error"].startswith("this server needs its token")
        assert s.get("/", token=None)[0] == 401
        assert s.get("/api/info", token="wrong")[0] == 401
        assert s.get("/api/info")[0] == 200
        assert s.get("/api/info", token=None, headers={"Authorization": f"Bearer {s.token}"})[0] == 200
        status, page = s.get("/")
        assert status == 200 and f'"token": "{s.token}"' in page
    finally:
        s.stop()


def test_a_port_in_use_is_one_line() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        r = subprocess.run([*EMBVIZ, "serve", "--port", str(port)], capture_output=True, text=True, timeout=120)
    assert r.returncode == 1 and r.stdout == ""
    assert r.stderr.splitlines() == [
        f"embviz: error: cannot listen on 127.0.0.1:{port}: Address already in use; pick another --port"]


def test_missing_starlette_is_one_line(monkeypatch) -> None:
    from embviz.errors import MissingDependency
    from embviz.serve import require

    monkeypatch.setitem(sys.modules, "starlette", None)
    with pytest.raises(MissingDependency) as exc:
        require()
    assert str(exc.value) == "embviz serve needs starlette: pip install 'embviz[serve]'"


# -- the served page in Chromium ---------------------------------------------------------------
def _panel(page) -> list[tuple[str, str, str]]:
    return page.evaluate(
        """() => [...document.querySelectorAll('#embviz-neighbors tr')].map(tr =>
            [tr.querySelector('.key').textContent, tr.querySelector('.score').textContent,
             tr.lastChild.textContent])""")


def _cli_tsv(query: str) -> list[tuple[str, str]]:
    return [(r["key"], f"{r['score']:.4f}") for r in cli_json("neighbors", "-k", "10", "--", query)]


def open_served(browser, url: str):  # noqa: ANN001, ANN201
    """A 1200 x 800 Chromium page of `url`, ready: ``(context, page, the page's errors)``."""
    ctx = browser.new_context(viewport={"width": 1200, "height": 800})
    page = ctx.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(url)
    page.wait_for_function("() => window.embviz && window.embviz.ready", timeout=60_000)
    return ctx, page, errors


@pytest.mark.browser
def test_served_page_searches_every_key_and_asks_for_any_key_s_neighbors(browser, server) -> None:
    ctx, page, errors = open_served(browser, server.url)
    # zucchini (rank 35,559) is not among the 2,000 drawn keys: its neighbors come from the server
    page.fill("#embviz-search", "zucchin")
    page.wait_for_function("() => document.getElementById('embviz-found').textContent.includes('over all 40,000 keys')",
                           timeout=15_000)
    found = page.evaluate("() => [...document.querySelectorAll('#embviz-matches > div')].map(d => d.textContent)")
    assert found == ["zucchini  rank 35,559  · not in this plot"]
    assert page.text_content("#embviz-found") == "1 of 1 match over all 40,000 keys"
    # (this 40,000-key page carries every key, so its own search finds zucchini too; the note says
    # the server's search covered all keys; a page of a larger table carries only drawn keys and
    # their neighbors, and there the server's matches are the only way to find the others)
    page.keyboard.press("Enter")
    page.wait_for_selector("#embviz-neighbors tr", timeout=15_000)
    assert page.text_content("#embviz-focus-key") == "zucchini"
    rows = _panel(page)
    assert [(k, s) for k, s, _ in rows] == _cli_tsv("zucchini")
    assert {d for _, _, d in rows} <= {"drawn", "not drawn"}
    # a typed expression: its neighbors over the whole table
    page.fill("#embviz-search", "king - man + woman")
    page.wait_for_timeout(300)
    page.keyboard.press("Enter")
    page.wait_for_function("() => document.getElementById('embviz-focus-key').textContent === 'king - man + woman'"
                           " && document.querySelectorAll('#embviz-neighbors tr').length === 10", timeout=15_000)
    assert [(k, s) for k, s, _ in _panel(page)] == _cli_tsv("king - man + woman")
    # an unknown key: the server's one line, in the panel
    page.fill("#embviz-search", "kingg - man")
    page.wait_for_timeout(300)
    page.keyboard.press("Enter")
    page.wait_for_selector("#embviz-server-error", timeout=15_000)
    assert page.text_content("#embviz-server-error").startswith("'kingg' is not in the vocabulary")
    assert errors == []
    ctx.close()


def test_index_answers_as_neighbors_index_and_exact_on_request(tmp_path) -> None:
    """--index: /api/neighbors gives `embviz neighbors --index -f json`'s rows; exact=1 the exact rows."""
    pytest.importorskip("faiss")
    s = Server("--index")
    try:
        assert any(line.startswith("embviz: neighbors from the index: approximate (hnsw, ef_search=")
                   for line in s.lines)
        for query in ("king", "king - man + woman"):
            status, body = s.get(f"/api/neighbors?q={q(query)}&k=10")
            assert status == 200
            want = cli_json("neighbors", "--index", "-k", "10", "--", query)
            assert body["search"] == want[0]["search"] and body["search"].startswith("approximate (hnsw")
            assert [{k: v for k, v in r.items() if k != "id"} for r in body["rows"]] == [
                {k: v for k, v in r.items() if k != "search"} for r in want]
            status, body = s.get(f"/api/neighbors?q={q(query)}&k=10&exact=1")
            assert body["search"] == "exact"
            assert [{k: v for k, v in r.items() if k != "id"} for r in body["rows"]] == cli_json(
                "neighbors", "-k", "10", "--", query)
        status, body = s.get("/api/neighbors?q=king&k=3&metric=dot")  # no dot index: exact
        assert body["search"] == "exact"
    finally:
        s.stop()


# -- batching ----------------------------------------------------------------------------------
def test_requests_that_arrive_together_share_one_call_and_keep_their_own_errors() -> None:
    import threading

    from embviz.serve.batch import Batcher

    calls: list[tuple] = []
    gate = threading.Event()

    def answer(group, queries):
        calls.append((group, tuple(queries)))
        if queries == ["first"]:
            gate.wait(5)  # the first batch runs while the others queue
        if "bad" in queries:
            raise KeyError("bad")
        return [f"{group}:{q}" for q in queries]

    b = Batcher(answer)
    out: dict[str, object] = {}

    def ask(group, q):
        try:
            out[q] = b.submit(group, q)
        except KeyError as exc:
            out[q] = exc

    first = threading.Thread(target=ask, args=(1, "first"))
    first.start()
    time.sleep(0.2)
    others = [threading.Thread(target=ask, args=(g, q)) for g, q in
              [(1, "a"), (1, "b"), (2, "c"), (1, "bad"), (1, "a2")]]
    for t in others:
        t.start()
    time.sleep(0.3)
    gate.set()
    for t in [first, *others]:
        t.join(10)
    assert out["first"] == "1:first" and out["a"] == "1:a" and out["b"] == "1:b" and out["c"] == "2:c"
    assert out["a2"] == "1:a2" and isinstance(out["bad"], KeyError)
    assert calls[0] == (1, ("first",))
    batched = [c for c in calls[1:] if len(c[1]) > 1]
    assert batched and set(batched[0][1]) == {"a", "b", "bad", "a2"}  # one call for group 1, then one by one
    assert (2, ("c",)) in calls


def test_eight_clients_at_once_each_get_their_own_rows(server) -> None:
    keys = ["king", "paris", "zucchini", "king - man + woman", "kingg", "computer", "guitar", "tokyo"]
    results: dict[str, tuple] = {}

    def ask(key: str) -> None:
        results[key] = server.get(f"/api/neighbors?q={q(key)}&k=5")

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(ask, keys * 3))
    for key in keys:
        status, body = results[key]
        if key == "kingg":
            assert status == 404 and body["error"].startswith("'kingg' is not in the vocabulary")
            continue
        assert status == 200
        assert [{k: v for k, v in r.items() if k != "id"} for r in body["rows"]] == cli_json(
            "neighbors", "-k", "5", "--", key)
