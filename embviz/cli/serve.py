"""``embviz serve``: the explorer page and a JSON API over the whole table, on a local web server."""

from __future__ import annotations

import ipaddress
import socket
import tempfile
import time
from pathlib import Path
from typing import Annotated

import typer

from embviz.cli._common import (
    IndexOpt,
    MetaKeyOpt,
    MetaOpt,
    MetricChoice,
    MetricOpt,
    QuietOpt,
    ShowOpt,
    VectorSource,
    message,
    with_vectors,
)
from embviz.cli.app import app
from embviz.cli.project_options import Method, MethodOpt, TopOpt
from embviz.errors import InvalidQuery

_LOOPBACK = ("localhost",)


def _is_loopback(host: str) -> bool:
    if host in _LOOPBACK:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _bind(host: str, port: int) -> socket.socket:
    """Bind the listening socket here, so a taken port is one line and --port 0 picks a free one."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise InvalidQuery(f"--host {host!r}: {exc.strerror}") from None
    family, _, _, _, address = infos[0]
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(address)
    except OSError as exc:
        sock.close()
        raise InvalidQuery(f"cannot listen on {host}:{port}: {exc.strerror}; pick another --port") from None
    sock.listen(128)
    sock.set_inheritable(True)
    return sock


@app.command()
@with_vectors
def serve(
    host: Annotated[str, typer.Option("--host", help="Address to listen on; any but 127.0.0.1/localhost needs "
                                      "a token (--token, or one is made and printed).")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=0, max=65535, help="Port; 0 picks a free one.")] = 8765,
    token: Annotated[str | None, typer.Option("--token", help="Require this token on every request "
                                              "(?token= or 'Authorization: Bearer').", show_default=False)] = None,
    page: Annotated[Path | None, typer.Option("--page", help="Serve this page made by 'embviz plot' (same table) "
                                              "instead of drawing one.", show_default=False, metavar="FILE")] = None,
    method: MethodOpt = Method.umap,
    top: TopOpt = None,
    metric: MetricOpt = MetricChoice.cosine,
    use_index: IndexOpt = False,
    timeout: Annotated[float, typer.Option("--timeout", min=1.0, help="Seconds a query may run before it "
                                           "answers 503.")] = 60.0,
    meta: MetaOpt = None,
    meta_key: MetaKeyOpt = None,
    show: ShowOpt = None,
    user_table: Annotated[Path | None, typer.Option("--users", metavar="FILE", show_default=False,
                          help="User vectors in the items' space: /api/recommend?user=U (-v is the items).")] = None,
    history: Annotated[Path | None, typer.Option("--history", metavar="FILE", show_default=False,
                       help="Interaction log (user, item[, timestamp]): /api/recommend's user vectors without "
                       "--users (mean of their items), and what exclude_seen=1 leaves out.")] = None,
    user_column: Annotated[str | None, typer.Option("--user-column", help="User column of --history.",
                           show_default=False)] = None,
    item_column: Annotated[str | None, typer.Option("--item-column", help="Item column of --history.",
                           show_default=False)] = None,
    time_column: Annotated[str | None, typer.Option("--time-column", help="Timestamp column of --history.",
                           show_default=False)] = None,
    quiet: QuietOpt = False,
    *,
    source: VectorSource,
) -> None:
    """Serve the explorer page and a JSON API over the whole table (Ctrl-C stops).

    The page is the one 'embviz plot' writes (the same options draw it, or --page gives it);
    served, its search covers every key of the table and any key gets its exact neighbors
    from the server. The API answers /api/search?q=PREFIX, /api/neighbors?q=KEY&k=10 (keys
    or expressions, --metric by default; from the stored index with --index), /api/analogy?a=&b=&c=
    and /api/info with the rows of the command line's JSON output. Read-only; bound to
    127.0.0.1 unless --host says otherwise.
    """
    import secrets

    from embviz.serve import require
    from embviz.serve.app import create_app

    require()
    if not _is_loopback(host) and token is None:
        token = secrets.token_urlsafe(24)
    sock = _bind(host, port)  # before the table and the page: a taken port fails fast
    try:
        table = source.load()
        if page is not None:
            try:
                html = Path(page).expanduser().read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as exc:
                raise InvalidQuery(f"--page {page}: cannot read it ({exc})") from None
        else:
            html = _draw(source, method, top, meta, meta_key, show)
        idx = None
        if use_index:  # the stored index of --metric (built with its search depth chosen if there is none)
            from embviz.cli._common import open_index

            idx = open_index(source, table, metric.value)
            message(f"neighbors from the index: {idx.describe(None, None)} (exact=1 in a request searches exactly)")
        from embviz.io import cache as _cache

        layout_cache = None if source.no_cache else (source.cache_dir or _cache.default_cache_dir())
        utable = hist = None
        if user_table is not None:
            from embviz.cli._common import load_vectors

            utable = load_vectors(Path(user_table).expanduser(), None, None, source.no_cache, source.cache_dir)
        if history is not None:
            from embviz.cli.recommend import read_history

            hist = read_history(history, table, user_column, item_column, time_column)
        if utable is not None or hist is not None:
            message(f"recommendations at /api/recommend?user=U for the users of "
                    f"{', '.join(str(p) for p in (user_table, history) if p is not None)}")
        application = create_app(table, html, source=str(source.path), metric=metric.value, token=token,
                                 timeout=timeout, index=idx, layout_cache=layout_cache, users=utable, history=hist,
                                 fingerprint=_cache.fingerprint(source.path) if source.path.exists() else "")
        shown = sock.getsockname()
        where = f"[{shown[0]}]" if ":" in shown[0] else shown[0]
        url = f"http://{where}:{shown[1]}/" + (f"?token={token}" if token else "")
        message(f"serving {source.path} ({table.count:,} keys) at {url} (Ctrl-C stops)")
        import uvicorn

        config = uvicorn.Config(application, log_level="warning", access_log=False, lifespan="off")
        uvicorn.Server(config).run(sockets=[sock])
    finally:
        sock.close()


def _draw(source: VectorSource, method: Method, top: int | None, meta: Path | None = None,
          meta_key: str | None = None, show: str | None = None) -> str:
    """Return the explorer page of `source` as 'embviz plot' draws it (its layouts cached as plot caches them)."""
    from embviz.cli._stderr import hidden_messages
    from embviz.cli.project import plot

    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="embviz-serve-") as tmp:
        out = Path(tmp) / "page.html"
        with hidden_messages("wrote "):  # the temporary file is gone once read: not worth a line
            plot.__wrapped__(out=out, method=method, top=top, source=source, meta=meta, meta_key=meta_key, show=show)
        html = out.read_text(encoding="utf-8")
    message(f"drew the page ({method.value}, {len(html) / 1e6:.1f} MB) in {time.perf_counter() - start:.1f} s")
    return html
