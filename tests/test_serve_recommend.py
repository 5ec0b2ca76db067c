"""``embviz serve`` with users (issue 27): ``/api/recommend`` answers ``embviz recommend``'s rows.

A real server over an item table (a slice of the bundled GloVe sample standing in for item
vectors), with user vectors (``--users``) or an interaction log (``--history``): for each
user the API's rows equal ``embviz recommend -f json``'s, with and without exclude_seen, in
every metric; an unknown user is 404 and a server without users says how to start one.
"""

from __future__ import annotations

import json
import urllib.parse

import numpy as np
import pytest
from test_serve import Server, open_served
from typer.testing import CliRunner

import embviz
from embviz.cli import app


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("recommend")
    v = embviz.load(embviz.sample_path(), cache=False)
    items = v.subset(np.arange(3000))
    embviz.save(items, d / "items.npy")
    rng = np.random.default_rng(0)
    users = embviz.Vectors([f"u{i}" for i in range(20)], rng.standard_normal((20, items.dim)).astype(np.float32))
    embviz.save(users, d / "users.npy")
    lines = ["user\titem\ttimestamp"]
    for u in range(20):
        for t, i in enumerate(rng.choice(3000, 15, replace=False)):
            lines.append(f"u{u}\t{items.keys[i]}\t{t}")
    (d / "history.tsv").write_text("\n".join(lines) + "\n")
    return d


@pytest.fixture(scope="module")
def servers(files):
    with_users = Server("-v", str(files / "items.npy"), "--users", str(files / "users.npy"),
                        "--history", str(files / "history.tsv"))
    history_only = Server("-v", str(files / "items.npy"), "--history", str(files / "history.tsv"))
    yield with_users, history_only
    with_users.stop()
    history_only.stop()


def cli(*args: str) -> list[dict]:
    r = CliRunner().invoke(app, ["recommend", "-f", "json", *args])
    assert r.exit_code == 0, r.output
    return json.loads(r.stdout)


@pytest.mark.parametrize("metric", ["cosine", "dot", "euclidean"])
@pytest.mark.parametrize("exclude_seen", [False, True])
def test_rows_are_embviz_recommend_s(files, servers, metric, exclude_seen) -> None:
    with_users, history_only = servers
    items = ["-v", str(files / "items.npy"), "--metric", metric, "-k", "7"] + (["--exclude-seen"] if exclude_seen else [])
    for user in ("u0", "u7", "u19"):
        q = f"/api/recommend?user={user}&k=7&metric={metric}" + ("&exclude_seen=1" if exclude_seen else "")
        for server, extra in ((with_users, ["--users", str(files / "users.npy")]), (history_only, [])):
            status, body = server.get(q)
            assert status == 200, body
            ref = cli(user, *items, *extra, "--history", str(files / "history.tsv"))
            row_of = {k: i for i, k in enumerate((files / "items.keys.txt").read_text().splitlines())}
            assert [r.pop("id") for r in body["rows"]] == [row_of[r["item"]] for r in ref]  # each item's row
            assert [dict(r, search=body["search"]) for r in body["rows"]] == ref
        assert (body["user"], body["k"], body["metric"], body["exclude_seen"]) == (user, 7, metric, exclude_seen)


def test_unknown_users_and_servers_without_users(servers) -> None:
    with_users, _ = servers
    status, body = with_users.get("/api/recommend?user=" + urllib.parse.quote("nobody"))
    assert (status, body) == (404, {"error": "user 'nobody' is not in the user table"})
    assert with_users.get("/api/recommend") == (400, {"error": "missing parameter 'user'"})
    assert (with_users.get("/api/info")[1]["recommend"], with_users.get("/api/info")[1]["history"]) == (True, True)
    assert any(line.startswith("embviz: recommendations at /api/recommend?user=U for the users of ")
               for line in with_users.lines)


def test_a_server_without_users_says_how_to_start_one() -> None:
    s = Server()
    try:
        assert s.get("/api/info")[1]["recommend"] is False
        assert s.get("/api/recommend?user=u0") == (
            404, {"error": "this server has no users: start it with --users FILE or --history FILE"})
    finally:
        s.stop()


@pytest.mark.browser
def test_a_user_s_recommendations_in_the_page(browser, files, servers) -> None:
    with_users, _ = servers
    ctx, page, errors = open_served(browser, with_users.url)
    page.wait_for_function("() => window.embviz && window.embviz.ready && window.embviz.canRecommend()",
                           timeout=60_000)
    assert page.get_attribute("#embviz-search", "placeholder").endswith(", or user:ID")
    page.fill("#embviz-search", "user:u7")
    page.wait_for_timeout(300)
    page.keyboard.press("Enter")
    page.wait_for_selector("#embviz-neighbors tr", timeout=15_000)
    assert page.text_content("#embviz-focus-key") == "user u7"
    rows = page.evaluate("""() => [...document.querySelectorAll('#embviz-neighbors tr')].map(tr =>
        [tr.querySelector('.key').textContent, tr.querySelector('.score').textContent, tr.lastChild.textContent])""")
    ref = cli("u7", "-v", str(files / "items.npy"), "-k", "10", "--users", str(files / "users.npy"),
              "--history", str(files / "history.tsv"), "--exclude-seen")  # served with a history: seen items left out
    assert [(k, s) for k, s, _ in rows] == [(r["item"], f"{r['score']:.4f}") for r in ref]
    drawn = [k for k, _, d in rows if d == "drawn"]
    assert drawn and set(drawn) <= set(r["item"] for r in ref)
    assert page.text_content("#embviz-recommend-note").startswith("10 items recommended over all 3,000 (1 user; vectors: ")
    # an unknown user: the server's one line
    page.fill("#embviz-search", "user:nobody")
    page.wait_for_timeout(300)
    page.keyboard.press("Enter")
    page.wait_for_selector("#embviz-server-error", timeout=15_000)
    assert page.text_content("#embviz-server-error") == "user 'nobody' is not in the user table"
    assert errors == []
    ctx.close()
