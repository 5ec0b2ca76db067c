"""Loading the vectors, and the shared helpers of the commands: stdin, metadata, and the rest re-exported.

Here: ``with_vectors`` and ``VectorSource`` (the shared vector-source options and loading, with
a status line on a terminal, and ``--postprocess``), the stored index of a source, reading
stdin, and metadata (``--meta``, ``--show``, ``--by``). Three siblings hold the rest, and every
name is importable from here as before:

- :mod:`embviz.cli._options`: the shared option declarations and their choices;
- :mod:`embviz.cli._stderr`: messages, the error line, warnings, progress bars, --quiet;
- :mod:`embviz.cli._rows`: writing rows (stdout or --output) and checking output paths.
"""

from __future__ import annotations

import functools
import inspect
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Sequence

from embviz.cli._options import (  # noqa: F401 - some only re-exported, importable here as before
    CacheDirOpt,
    Dtype,
    DtypeOpt,
    EfSearchOpt,
    FormatOpt,
    IndexOpt,
    InputFormat,
    InputFormatOpt,
    KeyColumnOpt,
    KeysOpt,
    KOpt,
    LimitOpt,
    MetaKeyOpt,
    MetaOpt,
    MetricChoice,
    MetricOpt,
    NoCacheOpt,
    NoHeaderOpt,
    NoIndexOpt,
    NprobeOpt,
    OutputFileOpt,
    PaddingIdxOpt,
    PostprocessOpt,
    QuietOpt,
    RestrictOpt,
    ShowOpt,
    TensorOpt,
    VectorColumnsOpt,
    VectorsOpt,
)
from embviz.cli._rows import (  # noqa: F401 - re-exported, importable here as before
    check_output,
    check_row_file,
    emit,
    quiet_broken_pipe,
    with_provenance,
    write_blocks,
)
from embviz.cli._stderr import (  # noqa: F401 - some only re-exported, importable here as before
    MAX_LINE,
    _set_quiet,
    _state,
    error,
    message,
    one_line,
    progress,
    route_warnings,
    stages,
    stderr_is_terminal,
)
from embviz.errors import InvalidQuery

if TYPE_CHECKING:
    from embviz.vectors import Vectors


# -- loading --------------------------------------------------------------------------------
def load_vectors(
    path: Path | None,
    input_format: InputFormat | None = None,
    limit: int | None = None,
    no_cache: bool = False,
    cache_dir: Path | None = None,
    dtype: Dtype = Dtype.float32,
    *,
    tensor: str | None = None,
    key_column: str | None = None,
    vector_columns: str | None = None,
    keys: Path | None = None,
    padding_idx: int | None = None,
    unit: bool = True,
) -> Vectors:
    """Load --vectors (or the bundled sample), with a status line on a terminal.

    `unit` False: the command never searches (``embviz info``), see :func:`embviz.io.load`.
    """
    from embviz import io as embviz_io
    from embviz.io import sample

    if path is None:
        path = sample.sample_path()
    kwargs = dict(
        limit=limit, cache=not no_cache, cache_dir=cache_dir, dtype=Dtype(dtype).value,
        tensor=tensor, key_column=key_column, vector_columns=vector_columns, keys=keys,
        padding_idx=padding_idx, unit=unit,
    )
    fmt = input_format.value if input_format else None
    if not (stderr_is_terminal() and not _state["quiet"]):
        vectors = embviz_io.load(path, fmt, **kwargs)
        if vectors.keys_from:
            message(f"keys of {path.name}: {vectors.keys_from}")
        return vectors
    from rich.console import Console
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    what = f"loading {path.name}"
    if not no_cache and not (tensor or key_column or vector_columns or keys or padding_idx is not None):
        from embviz.io import cache as _cache

        entry = _cache.entry_path(path, format=fmt, limit=limit, cache_dir=cache_dir, dtype=kwargs["dtype"])
        if not entry.is_dir():
            what += " and building the cache (once: later loads map it in milliseconds)"
    start = time.perf_counter()
    console = Console(stderr=True)
    spinner = Progress(
        SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(),
        console=console, transient=True, disable=not console.is_terminal,
    )
    with spinner:
        spinner.add_task(what, total=None)
        vectors = embviz_io.load(path, fmt, **kwargs)
    message(
        f"loaded {vectors.count:,} x {vectors.dim} vectors from {path.name} "
        f"in {time.perf_counter() - start:.2f} s"
        + (f"; keys: {vectors.keys_from}" if vectors.keys_from else "")
    )
    return vectors


@dataclass(frozen=True)
class VectorSource:
    """The shared -v/--input-format/--limit/--no-cache/--cache-dir/--dtype options."""

    vectors: Path | None
    input_format: InputFormat | None
    limit: int | None
    no_cache: bool
    cache_dir: Path | None
    dtype: Dtype
    tensor: str | None = None
    key_column: str | None = None
    vector_columns: str | None = None
    keys_file: Path | None = None
    padding_idx: int | None = None
    postprocess: str | None = None

    @property
    def path(self) -> Path:
        """--vectors, or the bundled sample."""
        from embviz.io import sample

        return self.vectors or sample.sample_path()

    def load(self, unit: bool = True) -> Vectors:
        """Load the vectors (cached, with a status line on a terminal), post-processed if asked.

        `unit` False: the command never uses the unit rows (``embviz info``): a first load of a
        word2vec binary then does not write them to the cache (see :func:`embviz.io.load`).
        """
        return postprocess(self, self._load_raw(unit or bool(self.postprocess)))

    def _load_raw(self, unit: bool = True) -> Vectors:
        return load_vectors(
            self.vectors, self.input_format, self.limit, self.no_cache, self.cache_dir, self.dtype,
            tensor=self.tensor, key_column=self.key_column, vector_columns=self.vector_columns,
            keys=self.keys_file, padding_idx=self.padding_idx, unit=unit,
        )


_SOURCE_OPTIONS = [
    inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=default, annotation=annotation)
    for name, annotation, default in (
        ("vectors", VectorsOpt, None),
        ("input_format", InputFormatOpt, None),
        ("limit", LimitOpt, None),
        ("no_cache", NoCacheOpt, False),
        ("cache_dir", CacheDirOpt, None),
        ("dtype", DtypeOpt, Dtype.float32),
        ("tensor", TensorOpt, None),
        ("key_column", KeyColumnOpt, None),
        ("vector_columns", VectorColumnsOpt, None),
        ("keys_file", KeysOpt, None),
        ("padding_idx", PaddingIdxOpt, None),
        ("postprocess", PostprocessOpt, None),
    )
]


def parse_postprocess(spec: str, dim: int) -> tuple[str, int]:
    """``abtt`` or ``abtt:D`` as ``("abtt", D)``; D defaults to ``ceil(dim / 100)``."""
    from embviz import quality

    name, _, arg = spec.strip().partition(":")
    if name != "abtt" or (arg and not arg.strip().isdigit()):
        raise InvalidQuery(f"--postprocess {spec!r}: expected abtt or abtt:D (D an integer >= 0)")
    return name, int(arg) if arg else quality.default_abtt_d(dim)


def postprocess(source: VectorSource, table: Vectors) -> Vectors:
    """Apply ``--postprocess`` to `table`, through the derived-table cache unless --no-cache.

    The result's ``source`` records the step (``glove.txt (abtt:1)``).
    """
    if not source.postprocess:
        return table
    from embviz import quality
    from embviz.io import cache, derived

    name, d = parse_postprocess(source.postprocess, table.dim)
    start = time.perf_counter()
    tag = f"{name}:{d}"
    if source.no_cache:
        out = quality.abtt(table, d)
    else:
        root = source.cache_dir or cache.default_cache_dir()
        out = derived.load_derived(table, tag, lambda t: quality.abtt(t, d), cache_dir=root,
                                   source=source.path)
    if getattr(table, "padding_idx", None) is not None:
        out.padding_idx = table.padding_idx
    if stderr_is_terminal():
        message(f"post-processed with {tag} (all-but-the-top) in {time.perf_counter() - start:.2f} s")
    return out


def with_vectors(command: Callable[..., Any]) -> Callable[..., Any]:
    """Give `command` the shared vector-source options, passed to it as ``source: VectorSource``.

    One definition instead of six parameters on every command: Typer reads the wrapper's
    ``__signature__`` (the command's own parameters, then these options).
    """
    own = [p for p in inspect.signature(command, eval_str=True).parameters.values() if p.name != "source"]
    names = [p.name for p in _SOURCE_OPTIONS]

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        source = VectorSource(**{name: kwargs.pop(name) for name in names})
        return command(*args, source=source, **kwargs)

    params = own + _SOURCE_OPTIONS
    wrapper.__signature__ = inspect.Signature(params, return_annotation=None)  # type: ignore[attr-defined]
    wrapper.__annotations__ = {p.name: p.annotation for p in params}
    return wrapper


def index_entry(source: VectorSource) -> Path | None:
    """Return the cache entry directory that holds `source`'s indexes (None with --no-cache)."""
    from embviz.io import cache
    from embviz.io.options import SourceOptions

    if source.no_cache or getattr(source, "postprocess", None):  # a derived table: no stored index
        return None
    cols = getattr(source, "vector_columns", None)
    cols = [c.strip() for c in cols.split(",") if c.strip()] if isinstance(cols, str) else cols
    keys = getattr(source, "keys_file", None)
    options = SourceOptions(
        getattr(source, "tensor", None), getattr(source, "key_column", None),
        tuple(cols) if cols else None, Path(keys) if keys is not None else None,
    )
    return cache.entry_path(
        source.path,
        format=source.input_format.value if source.input_format else None,
        limit=source.limit,
        cache_dir=source.cache_dir,
        dtype=Dtype(source.dtype).value,
        options=options,
    )


def open_index(source: VectorSource, table: Vectors, metric: str = "cosine") -> Any:
    """Return the stored index of `source` in `metric` (newest valid one), built with defaults if there is none."""
    from embviz.search import index as search_index

    search_index.require_faiss()
    entry = index_entry(source)
    rows = table.unit if metric == "cosine" else table.matrix
    found = search_index.stored(entry, rows, metric=metric) if entry is not None else None
    if found is not None:
        return found
    what = "" if metric == "cosine" else f" ({metric})"
    message(f"building an hnsw index{what} of {table.count:,} x {table.dim} vectors (stored in the cache)")
    built = search_index.build_for(table, entry, "hnsw", metric=metric, target_recall=DEFAULT_TARGET_RECALL)
    message(f"built the index in {built.build_s:.1f} s; {chosen_depth(built)}")
    warn_depth(built)
    return built


#: recall@10 asked of the search depth of every index the command line builds (``--target-recall``).
DEFAULT_TARGET_RECALL = 0.95


def chosen_depth(built: Any) -> str:
    """Return what a build chose and why, for its stderr line.

    ``nprobe=16 chosen: recall@10 0.952 on 1,000 sample keys (target 0.95); 22,691 queries/s
    against 3,911 exact`` (``kept`` instead of ``chosen`` when no depth reached the target);
    ``recall@10 0.972 against exact search on 1,000 sample keys`` when nothing was tuned.
    """
    c = built.tuning
    if c is None:
        return f"recall@10 {built.recall_at_build:.3f} against exact search on 1,000 sample keys"
    text = (f"{c.name}={c.depth} {'chosen' if c.reached else 'kept'}: recall@{c.k} {c.recall:.3f} "
            f"on {c.queries:,} sample keys (target {c.target:g})")
    if c.qps is not None:
        text += f"; {c.qps:,.0f} queries/s against {c.exact_qps:,.0f} exact"
    return text


def warn_depth(built: Any) -> None:
    """One warning line each when no depth reached the target, and when the index is no faster than exact search."""
    from embviz.errors import warn

    c = built.tuning
    if c is None:
        return
    ivf = built.method == "ivf"
    if not c.reached:
        advice = "try --method hnsw" if ivf else "rebuild with a larger --ef-construction or --m"
        warn(f"no {c.name} up to {c.depth:,} reaches recall@{c.k} {c.target:g} (best {c.best:.3f}); "
             f"kept {c.name}={c.depth}; {advice}")
    if c.faster is False:
        advice = "use exact search (embviz neighbors without --index)" + (" or --method hnsw" if ivf else "")
        warn(f"at {c.name}={c.depth} the index is no faster than exact search on the same {c.queries:,} "
             f"queries ({c.qps:,.0f} against {c.exact_qps:,.0f} queries/s): {advice}")
    elif ivf and c.reached and c.qps is not None and c.exact_qps and c.qps < IVF_WORTH * c.exact_qps \
            and c.exact_qps < SLOW_EXACT_QPS:
        warn(f"at nprobe={c.depth} the ivf index answers only {c.qps / c.exact_qps:.1f}x as many queries/s as "
             f"exact search: this table's clusters overlap, so recall {c.target:g} needs many cells; "
             "an hnsw index (embviz index build --method hnsw) does not depend on cells")


#: An IVF index answering fewer than this many times exact search's queries/s at the target
#: recall is reported as needing HNSW (the index issue's bar for an index worth its recall loss)...
IVF_WORTH = 10
#: ... when exact search is this slow (queries/s; 3,000,000 x 300: about 85): on small tables
#: exact search is fast enough that no index is needed and nothing is said.
SLOW_EXACT_QPS = 1000


# -- stdin -------------------------------------------------------------------------------------
def read_items(args: Sequence[str], what: str) -> list[str]:
    """Return the arguments, or the non-blank lines of stdin when the only argument is ``-``."""
    if list(args) == ["-"]:
        items = [line.rstrip("\r") for line in stdin_text().split("\n")]
        return [s for s in items if s.strip()]
    if "-" in args:
        raise InvalidQuery(f"'-' (read {what} from stdin) must be the only argument")
    return list(args)


def stdin_text() -> str:
    """All of stdin, decoded as UTF-8; invalid UTF-8 is one error naming the line and byte.

    (Keys are UTF-8; under strict UTF-8 stdio Python would raise ``UnicodeDecodeError``.)
    """
    buffer = getattr(sys.stdin, "buffer", None)
    if buffer is None:
        return sys.stdin.read()
    data = buffer.read()
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        column = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
        raise InvalidQuery(
            f"stdin line {line:,}, byte {column:,}: not valid UTF-8 (0x{data[exc.start]:02x}); "
            "keys are read as UTF-8"
        ) from None


def split_fields(line: str, n: int, what: str, lineno: int) -> tuple[str, ...]:
    """Split a stdin line into `n` keys: by tabs if it has any, else by whitespace."""
    parts = line.split("\t") if "\t" in line else line.split()
    parts = [p.strip() for p in parts]
    if len(parts) < n:
        raise InvalidQuery(f"stdin line {lineno}: expected {n} keys ({what}), found {len(parts)}")
    return tuple(parts[:n])


# -- metadata (items, users) -------------------------------------------------------------------
def table_own_meta(source: VectorSource) -> Any:
    """Return the non-vector columns of a Parquet/Arrow vector table as metadata (None for other files)."""
    from embviz.io import meta as _meta
    from embviz.io import sniff
    from embviz.io.options import SourceOptions
    from embviz.io.tables import choose_columns

    path = source.path
    try:
        fmt = source.input_format.value if source.input_format else sniff(path).format.value
    except Exception:  # noqa: BLE001 - a stream or an odd file: no own columns
        return None
    if fmt not in ("parquet", "arrow", "spark"):
        return None
    import pyarrow.dataset as ds

    try:
        schema = ds.dataset(path, format="parquet" if fmt != "arrow" else "ipc").schema
    except Exception:  # noqa: BLE001
        return None
    cols = source.vector_columns
    options = SourceOptions(
        None, source.key_column, tuple(c.strip() for c in cols.split(",")) if cols else None, None
    )
    key, vector_cols, _ = choose_columns(path, schema, options)
    others = [n for n in schema.names if n != key and n not in vector_cols]
    if key is None or not others:
        return None
    return _meta.read_meta(path, key_column=key, exclude=vector_cols)


def load_meta(meta: Path | None, meta_key: str | None, source: VectorSource, needed: bool) -> Any:
    """Return the metadata table: --meta FILE, else (when `needed`) the vector table's own columns."""
    if meta is not None:
        from embviz.io import meta as _meta

        return _meta.read_meta(Path(meta).expanduser(), key_column=meta_key)
    if meta_key is not None:
        raise InvalidQuery("--meta-key-column needs --meta FILE")
    if not needed:
        return None
    found = table_own_meta(source)
    if found is None:
        raise InvalidQuery(
            f"{source.path.name} has no metadata columns: pass --meta FILE (a TSV, CSV or Parquet "
            "table of key, title, ...) for --show or --by"
        )
    return found


def shown_columns(meta: Any, show: str | None) -> list[str]:
    """Return the metadata columns to add to each row: --show's, or all of --meta's."""
    if meta is None:
        if show:
            raise InvalidQuery("--show needs metadata: pass --meta FILE")
        return []
    if not show:
        return list(meta.columns)
    names = [c.strip() for c in show.split(",") if c.strip()]
    unknown = [c for c in names if c not in meta.columns]
    if unknown:
        raise InvalidQuery(
            f"--show {unknown[0]!r}: no such metadata column (columns of {Path(meta.path).name}: "
            f"{', '.join(meta.columns) or 'none'})"
        )
    return names


def meta_name(column: str, taken: Sequence[str]) -> str:
    """Return a shown column's name in the output: itself, or ``meta_<column>`` if a row field has it."""
    return f"meta_{column}" if column in taken else column


def resolve_by(meta: Any, column: str, texts: Sequence[str]) -> list[str]:
    """Map each query text (a value of metadata `column`, or ``/regex/``) to its one key."""
    from embviz.errors import KeyNotFound

    out = []
    for text in texts:
        keys = meta.find(column, text)
        if not keys:
            raise KeyNotFound(f"no row of {Path(meta.path).name} has {column} {text!r}")
        if len(keys) > 1:
            vals = meta.align(keys[:5], [column])[column]
            listed = "; ".join(f"{k} ({v})" for k, v in zip(keys[:5], vals))
            more = f" and {len(keys) - 5:,} more" if len(keys) > 5 else ""
            raise InvalidQuery(
                f"{column} {text!r} matches {len(keys):,} rows: {listed}{more}; make it exact or query by key"
            )
        out.append(keys[0])
    return out
