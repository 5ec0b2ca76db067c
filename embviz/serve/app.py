"""The ASGI application of ``embviz serve``: the explorer page and its JSON API over one table.

Routes (all ``GET``; every answer is JSON except the page):

- ``/``: the explorer page (the same HTML and JavaScript as ``embviz plot``), told where the
  API is, so its search covers every key of the table and a key that is not drawn gets its
  neighbors from the server;
- ``/api/info``, ``/api/search``, ``/api/neighbors``, ``/api/analogy``, ``/api/recommend``
  (with users): see :mod:`embviz.serve.api`;
- ``/api/layout``: ``POST`` the keys of a selection to lay them out again (PCA or UMAP on
  those rows alone), then ``GET ?job=ID`` its progress and its answer; ``/api/place``
  (``POST``): keys' nearest keys among the map's, to add them to it: see
  :mod:`embviz.serve.layout`.

Neighbors requests that arrive together are answered by one batched query
(:mod:`embviz.serve.batch`). Errors are ``{"error": "one line"}`` with a 4xx status; a query that takes longer than
``timeout`` seconds answers 503 (its thread finishes in the background). Queries run in
worker threads, so one slow request does not hold the others. With a ``token``, every request
must carry it (``?token=`` or ``Authorization: Bearer``), else 401. The server is read-only:
no route reads or writes a path the client names.
"""

from __future__ import annotations

import hmac
import json
import os
from typing import TYPE_CHECKING, Any, Callable

from embviz.serve import api

if TYPE_CHECKING:
    from embviz.vectors import Vectors

#: Seconds a query may run before the client gets 503.
DEFAULT_TIMEOUT = 60.0
#: Largest request body (a re-layout's keys; the keys of a map of 400,000 points), in bytes.
MAX_BODY = 16 << 20


def api_script(token: str | None) -> str:
    """Return the ``<script>`` the page gets: where the API is (and the token the page itself needed)."""
    conf = {"base": "api", "token": token}
    return "<script>window.EMBVIZ_API = " + json.dumps(conf).replace("</", "<\\/") + ";</script>"


def with_api(page: str, token: str | None) -> str:
    """Return `page` (the plot's HTML) with :func:`api_script` at the start of its ``<head>``."""
    tag = api_script(token)
    at = page.find("<head>")
    if at < 0:
        return tag + page
    at += len("<head>")
    return page[:at] + tag + page[at:]


def create_app(
    vectors: Vectors,
    page: str,
    *,
    source: str,
    metric: str = "cosine",
    token: str | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    index: Any = None,
    layout_cache: str | os.PathLike | None = None,
    fingerprint: str = "",
    users: Any = None,
    history: Any = None,
) -> Any:
    """Return the Starlette application serving `vectors` and the explorer `page` (HTML).

    Parameters
    ----------
    vectors : Vectors
        The table, ``(n, dim)``; every query is answered on it, exactly.
    page : str
        The explorer page (``embviz plot``'s HTML); the API's address is added to it.
    source : str
        The file name ``/api/info`` reports.
    metric : {"cosine", "dot", "euclidean"}
        The metric of ``/api/neighbors`` when a request does not name one.
    token : str, optional
        Required on every request when given.
    timeout : float
        Seconds before a query answers 503.
    index : embviz.search.index.Index, optional
        Answer ``/api/neighbors`` in its metric from it (``exact=1`` still searches exactly).
    layout_cache : path-like, optional
        embviz's cache directory, where ``/api/layout`` keeps its layouts; None: none kept.
    fingerprint : str
        The table's content fingerprint, in the layout cache's key.
    users, history : Vectors, Histories, optional
        For ``/api/recommend`` (the table is then the items): user vectors, and users'
        histories (their mean item vectors without `users`, and what ``exclude_seen`` leaves out).

    Raises
    ------
    MissingDependency
        If starlette is not installed (``pip install 'embviz[serve]'``).
    """
    from embviz.serve import require

    require()
    import anyio
    import anyio.to_thread
    from starlette.applications import Starlette
    from starlette.middleware import Middleware
    from starlette.requests import Request
    from starlette.responses import HTMLResponse, JSONResponse, Response
    from starlette.routing import Route

    from embviz.serve.batch import Batcher
    from embviz.serve.layout import Layouts, place

    html = with_api(page, token)
    batcher = Batcher(lambda group, queries: api.neighbor_rows(vectors, index, group, list(queries)))

    def answer(fn: Callable[[dict[str, str]], Any]) -> Callable[[Request], Any]:
        async def endpoint(request: Request) -> Response:
            params = {k: v for k, v in request.query_params.items() if k != "token"}
            try:
                with anyio.fail_after(timeout):  # the thread is abandoned, not stopped: it ends in the background
                    body = await anyio.to_thread.run_sync(fn, params, abandon_on_cancel=True)
            except api.ApiError as exc:
                return JSONResponse({"error": exc.message}, status_code=exc.status)
            except TimeoutError:
                return JSONResponse({"error": f"the query took longer than {timeout:g} s"}, status_code=503)
            except Exception as exc:  # noqa: BLE001 - a bug must not stop the server: one line, 500
                first = str(exc).strip().split("\n")[0][:300]
                return JSONResponse({"error": f"internal error ({type(exc).__name__}: {first}); please report it"},
                                    status_code=500)
            return JSONResponse(body, headers={"Cache-Control": "no-store"})
        return endpoint

    layouts = Layouts(vectors, layout_cache, fingerprint)
    has_users = users is not None or history is not None

    def posted(fn: Callable[[Any], dict], status: int = 200, get: Callable | None = None) -> Callable[[Request], Any]:
        """Return an endpoint answering ``fn(the JSON body)`` to a POST, and ``get(params)`` to a GET."""
        async def endpoint(request: Request) -> Response:
            if request.method == "GET" and get is not None:
                return await answer(get)(request)
            return await json_body(request, fn, status)
        return endpoint

    async def json_body(request: Request, fn: Callable[[Any], dict], status: int) -> Response:
        try:
            size = int(request.headers.get("content-length") or 0)
        except ValueError:
            size = 0
        if size > MAX_BODY:
            return JSONResponse({"error": f"request body of {size:,} bytes; at most {MAX_BODY:,}"}, status_code=413)
        raw = await request.body()
        try:
            if len(raw) > MAX_BODY:
                raise api.ApiError(413, f"request body of {len(raw):,} bytes; at most {MAX_BODY:,}")
            try:
                body = json.loads(raw)
            except (ValueError, UnicodeDecodeError):
                raise api.ApiError(400, "the body is not JSON") from None
            answer_ = await anyio.to_thread.run_sync(fn, body)
            return JSONResponse(answer_, status_code=status, headers={"Cache-Control": "no-store"})
        except api.ApiError as exc:
            return JSONResponse({"error": exc.message}, status_code=exc.status)
        except Exception as exc:  # noqa: BLE001 - a bug must not stop the server: one line, 500
            first = str(exc).strip().split("\n")[0][:300]
            return JSONResponse({"error": f"internal error ({type(exc).__name__}: {first}); please report it"},
                                status_code=500)

    async def the_page(request: Request) -> Response:
        return HTMLResponse(html, headers={"Cache-Control": "no-store"})

    async def no_icon(request: Request) -> Response:  # browsers ask; an empty answer keeps their console clean
        return Response(status_code=204)

    routes = [
        Route("/", the_page),
        Route("/favicon.ico", no_icon),
        Route("/api/info", answer(lambda p: api.info(vectors, source, metric, has_users, history is not None))),
        Route("/api/search", answer(lambda p: api.search(vectors, p))),
        Route("/api/neighbors", answer(lambda p: api.neighbors(vectors, p, metric, index, batcher))),
        Route("/api/analogy", answer(lambda p: api.analogy(vectors, p))),
        Route("/api/recommend", answer(lambda p: api.recommend(vectors, p, metric, users, history))),
        Route("/api/layout", posted(layouts.start, 202, get=layouts.status), methods=["GET", "POST"]),
        Route("/api/place", posted(lambda body: place(vectors, body)), methods=["POST"]),
    ]
    middleware = [Middleware(_TokenCheck, token=token)] if token else []
    return Starlette(routes=routes, middleware=middleware)


class _TokenCheck:
    """ASGI middleware: 401 unless the request carries the token (``?token=`` or a Bearer header)."""

    def __init__(self, app: Any, token: str) -> None:
        self.app, self.token = app, token.encode()

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        from starlette.requests import Request
        from starlette.responses import JSONResponse

        request = Request(scope)
        given = request.query_params.get("token") or ""
        auth = request.headers.get("authorization", "")
        if auth.lower().startswith("bearer "):
            given = auth[7:].strip()
        if not hmac.compare_digest(given.encode(), self.token):
            response = JSONResponse({"error": "this server needs its token: open the address it printed "
                                              "(?token=...) or send 'Authorization: Bearer TOKEN'"},
                                    status_code=401)
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)
