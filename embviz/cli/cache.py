"""``embviz cache list|clear|dir``: the memory-mapped vector cache."""

from __future__ import annotations

import typer

from embviz.cli._common import CacheDirOpt, FormatOpt, NoHeaderOpt, QuietOpt, emit, message
from embviz.cli.app import app

cache_app = typer.Typer(help="Inspect or clear the memory-mapped vector cache.", no_args_is_help=True)
app.add_typer(cache_app, name="cache")


@cache_app.command("list")
def list_(
    cache_dir: CacheDirOpt = None,
    fmt: FormatOpt = None,
    no_header: NoHeaderOpt = False,
) -> None:
    """List cache entries: source, shape, dtype, size and status (ok, stale, missing, broken)."""
    from embviz.io import cache

    emit(
        cache.entries(cache_dir),
        fmt,
        no_header,
        columns=["source", "count", "dim", "dtype", "size_bytes", "created", "status", "path"],
    )


@cache_app.command()
def verify(
    cache_dir: CacheDirOpt = None,
    fmt: FormatOpt = None,
    no_header: NoHeaderOpt = False,
) -> None:
    """Check every entry in full: array checksums, keys, and a full checksum of each source.

    Exits 1 if an entry is corrupt or stale (the next load rebuilds it), 0 if all are ok.
    """
    from embviz.errors import FormatError
    from embviz.io import cache

    rows = cache.verify(cache_dir)
    emit(rows, fmt, no_header, columns=["source", "status", "problem", "path"])
    bad = [r for r in rows if r.status in ("corrupt", "stale", "broken")]
    if bad:
        raise FormatError(
            f"{len(bad)} of {len(rows)} cache entries are not ok (first: {bad[0].path}: "
            f"{bad[0].problem}); the next load rebuilds them, or run 'embviz cache clear'"
        )


@cache_app.command()
def clear(cache_dir: CacheDirOpt = None, quiet: QuietOpt = False) -> None:
    """Remove every cache entry (they are rebuilt on the next load)."""
    from embviz.io import cache

    count, size = cache.clear(cache_dir)
    message(f"removed {count} cache entries ({size / 2**20:.1f} MiB) from {cache_dir or cache.default_cache_dir()}")


@cache_app.command("dir")
def dir_(cache_dir: CacheDirOpt = None) -> None:
    """Print the cache directory."""
    from embviz.io import cache

    typer.echo(str(cache_dir or cache.default_cache_dir()))
