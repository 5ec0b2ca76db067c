"""Options, loading, stderr messages and stdin reading shared by every command."""

from __future__ import annotations

import functools
import inspect
import os
import sys
import time
import warnings
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Callable, Iterable, Sequence

import typer

from embviz import output
from embviz.errors import EmbvizWarning, InvalidQuery
from embviz.io.sniffing import VectorFormat
from embviz.output import OutputFormat

if TYPE_CHECKING:
    from embviz.vectors import Vectors

_state = {"quiet": False}


#: Readable vector formats (``--input-format``): the library's own enum, one list of formats.
InputFormat = VectorFormat


class Dtype(str, Enum):
    """Storage dtype of the loaded matrix."""

    float32 = "float32"
    float16 = "float16"


def _set_quiet(value: bool) -> bool:
    _state["quiet"] = bool(value)
    return value


# -- options shared by every command (one definition each) ------------------------------------
VectorsOpt = Annotated[
    Path | None,
    typer.Option(
        "--vectors",
        "-v",
        help="Vector file (word2vec .bin/.txt, GloVe, fastText .vec; gz/bz2/xz ok; .npy, .npz, "
        ".safetensors, .parquet, Arrow/Feather, a Projector vectors.tsv, a Spark folder). "
        "Default: the bundled sample (40,000 GloVe 6B 50d keys).",
        show_default=False,
        envvar="EMBVIZ_VECTORS",
    ),
]
InputFormatOpt = Annotated[
    InputFormat | None,
    typer.Option("--input-format", help="Format of --vectors; default: sniffed from the content."),
]
TensorOpt = Annotated[
    str | None,
    typer.Option("--tensor", help="Array of a .npz/safetensors/PyTorch file (default: the only 2-D float one).",
                 show_default=False),
]
KeyColumnOpt = Annotated[
    str | None,
    typer.Option("--key-column", help="Key column of a Parquet/Arrow table or a keys/metadata TSV.",
                 show_default=False),
]
VectorColumnsOpt = Annotated[
    str | None,
    typer.Option("--vector-columns", help="A wide table's vector columns, in order: 'f0,f1,f2' or 'emb_*'.",
                 show_default=False),
]
KeysOpt = Annotated[
    Path | None,
    typer.Option("--vocab", help="Keys of a table without keys: one per line, TSV, Parquet or tokenizer.json "
                 "(default: NAME.keys.txt, NAME.vocab or tokenizer.json beside it, else row ids).",
                 show_default=False),
]
PaddingIdxOpt = Annotated[
    int | None,
    typer.Option("--padding-idx", help="Row never returned as a neighbor or analogy answer "
                 "(nn.Embedding's padding_idx; negative counts from the end).", show_default=False),
]
LimitOpt = Annotated[
    int | None,
    typer.Option("--limit", min=1, help="Read only the first N vectors (files are in frequency order)."),
]
NoCacheOpt = Annotated[
    bool,
    typer.Option(
        "--no-cache",
        help="Do not read or write the memory-mapped vector cache.",
        envvar="EMBVIZ_NO_CACHE",
    ),
]
CacheDirOpt = Annotated[
    Path | None,
    typer.Option(
        "--cache-dir",
        help="Cache directory; default $XDG_CACHE_HOME/embviz or ~/.cache/embviz.",
        envvar="EMBVIZ_CACHE_DIR",
        show_default=False,
    ),
]
DtypeOpt = Annotated[
    Dtype,
    typer.Option("--dtype", help="Storage dtype of the vectors (float16 halves memory; scores stay float32)."),
]
FormatOpt = Annotated[
    OutputFormat | None,
    typer.Option("--format", "-f", help="Output format; default: table on a terminal, TSV on a pipe."),
]
NoHeaderOpt = Annotated[bool, typer.Option("--no-header", help="Omit the TSV/CSV header row.")]
PostprocessOpt = Annotated[
    str | None,
    typer.Option(
        "--postprocess",
        metavar="abtt[:D]",
        help="Post-process the vectors: abtt = all-but-the-top (subtract the mean, remove the top D "
        "principal directions; D default ceil(dim/100); Mu & Viswanath 2018). Cached.",
        show_default=False,
    ),
]
QuietOpt = Annotated[
    bool,
    typer.Option("--quiet", "-q", callback=_set_quiet, help="Print no messages, warnings or progress on stderr."),
]
KOpt = Annotated[int, typer.Option("-k", "--k", min=1, help="Results per query.")]
RestrictOpt = Annotated[
    int | None,
    typer.Option("--restrict", min=1, help="Search only the first N keys (the most frequent)."),
]
IndexOpt = Annotated[
    bool,
    typer.Option(
        "--index",
        help="Answer from the approximate FAISS index stored in the cache (built first if "
        "missing; see 'embviz index build'). Default: exact search.",
    ),
]
NoIndexOpt = Annotated[bool, typer.Option("--no-index", help="Force exact search (overrides --index).")]
EfSearchOpt = Annotated[
    int | None,
    typer.Option("--ef-search", min=1, help="HNSW search depth for this query (default: the index's)."),
]
NprobeOpt = Annotated[
    int | None,
    typer.Option("--nprobe", min=1, help="IVF cells searched for this query (default: the index's)."),
]


# -- stderr ---------------------------------------------------------------------------------
def stderr_is_terminal() -> bool:
    """Whether stderr is a terminal (progress displays only then)."""
    return sys.stderr.isatty()


def message(text: str) -> None:
    """Print a message on stderr (``wrote plot.html``), unless --quiet."""
    if not _state["quiet"]:
        sys.stderr.write(f"embviz: {text}\n")
        sys.stderr.flush()


#: Longest error or warning line printed; a longer one (a 10 MB query echoed) is cut in the middle.
MAX_LINE = 2000


def one_line(text: str) -> str:
    """Return `text` as one printable line of at most ``MAX_LINE`` characters.

    Newlines are escaped, and so are lone surrogates (undecodable arguments), so the line
    can be written on any stderr.
    """
    text = str(text).replace("\r", "\\r").replace("\n", "\\n")
    if len(text) > MAX_LINE:
        cut = len(text) - MAX_LINE + 200
        text = f"{text[: MAX_LINE - 600]} ...[{cut:,} characters cut]... {text[-400:]}"
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def error(text: str, *, plain: bool = False) -> None:
    """Print the one error line on stderr (always printed, even with --quiet)."""
    text = one_line(text)
    sys.stderr.write(f"embviz: {text}\n" if plain else f"embviz: error: {text}\n")
    sys.stderr.flush()


def route_warnings() -> None:
    """Print library warnings as one ``embviz: warning:`` line each, unless --quiet."""

    def show(msg, category, filename, lineno, file=None, line=None) -> None:  # noqa: ANN001
        if _state["quiet"]:
            return
        if issubclass(category, EmbvizWarning):
            sys.stderr.write(f"embviz: warning: {one_line(str(msg))}\n")

    warnings.showwarning = show
    warnings.simplefilter("always", EmbvizWarning)


def quiet_broken_pipe() -> None:
    """After a closed pipe (``| head``), silence the flush at exit."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass


def progress(transient: bool = True) -> Any:
    """Return a rich Progress on stderr, shown only on a terminal and without --quiet."""
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        Progress,
        ProgressColumn,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )
    from rich.text import Text

    class Count(ProgressColumn):
        """``done/total`` with thousands separators; ``?`` while the total is unknown."""

        def render(self, task: Any) -> Text:
            total = "?" if task.total is None else f"{task.total:,.0f}"
            return Text(f"{task.completed:,.0f}/{total}")

    console = Console(stderr=True)
    return Progress(
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        Count(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=transient,
        disable=_state["quiet"] or not console.is_terminal,
    )


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
) -> Vectors:
    """Load --vectors (or the bundled sample), with a status line on a terminal."""
    from embviz import io as embviz_io
    from embviz.io import sample

    if path is None:
        path = sample.sample_path()
    kwargs = dict(
        limit=limit, cache=not no_cache, cache_dir=cache_dir, dtype=Dtype(dtype).value,
        tensor=tensor, key_column=key_column, vector_columns=vector_columns, keys=keys,
        padding_idx=padding_idx,
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

    def load(self) -> Vectors:
        """Load the vectors (cached, with a status line on a terminal), post-processed if asked."""
        return postprocess(self, self._load_raw())

    def _load_raw(self) -> Vectors:
        return load_vectors(
            self.vectors, self.input_format, self.limit, self.no_cache, self.cache_dir, self.dtype,
            tensor=self.tensor, key_column=self.key_column, vector_columns=self.vector_columns,
            keys=self.keys_file, padding_idx=self.padding_idx,
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
    built = search_index.build_for(table, entry, "hnsw", metric=metric)
    message(f"built the index in {built.build_s:.1f} s; recall@10 {built.recall_at_build:.3f}")
    return built


def with_provenance(rows: list[Any], fmt: OutputFormat | None, text: str | None) -> list[Any]:
    """Add a ``search`` field (how the rows were found) to JSON/JSONL rows; others unchanged."""
    chosen = output.choose_format(fmt, output.stdout_is_terminal())
    if text is None or chosen not in (OutputFormat.json, OutputFormat.jsonl):
        return rows
    return [dict(d, search=text) for d in output.asdicts(rows)]


# -- stdin and output -------------------------------------------------------------------------
def check_output(path: Path, *, folder: bool = False) -> Path:
    """Fail before any work when `path` cannot be written: one error naming what to do.

    `folder`: the output is a directory (created later, when the data is ready), so only its
    parent must exist. Returns `path` with ``~`` expanded.
    """
    path = Path(path).expanduser()
    if folder:
        if path.exists() and not path.is_dir():
            raise InvalidQuery(f"{path}: exists and is not a directory")
    elif path.is_dir():
        raise InvalidQuery(f"{path}: is a directory, expected a file name")
    parent = path.parent
    if not parent.is_dir():
        raise InvalidQuery(f"{path}: directory {parent} does not exist")
    if not os.access(parent, os.W_OK):
        raise InvalidQuery(f"{path}: directory {parent} is not writable")
    return path


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


def emit(
    rows: Iterable[Any],
    fmt: OutputFormat | None,
    no_header: bool = False,
    *,
    columns: Sequence[str] | None = None,
    title: str | None = None,
) -> None:
    """Write rows to stdout in the chosen format."""
    chosen = output.choose_format(fmt, output.stdout_is_terminal())
    output.write_rows(list(rows), chosen, sys.stdout, columns=columns, header=not no_header, title=title)
    sys.stdout.flush()


# -- metrics and metadata (items, users) --------------------------------------------------------
class MetricChoice(str, Enum):
    """Scores of neighbors and recommendations (see embviz.search.metric)."""

    cosine = "cosine"
    dot = "dot"
    euclidean = "euclidean"


MetricOpt = Annotated[
    MetricChoice,
    typer.Option(
        "--metric",
        help="cosine (angle only; word2vec, item2vec), dot (the score of ALS and two-tower models; "
        "norms carry popularity) or euclidean (score = negative distance).",
    ),
]
MetaOpt = Annotated[
    Path | None,
    typer.Option(
        "--meta",
        help="Metadata of the keys (titles, categories): TSV, CSV, Parquet or Arrow with a header; "
        "the key column is --meta-key-column or the first.",
        show_default=False,
    ),
]
MetaKeyOpt = Annotated[
    str | None,
    typer.Option("--meta-key-column", help="The key column of --meta (default: its first column).",
                 show_default=False),
]
ShowOpt = Annotated[
    str | None,
    typer.Option(
        "--show",
        help="Metadata columns added to each row, comma-separated (default with --meta: all of them; "
        "a Parquet/Arrow vector table's own columns need --show).",
        show_default=False,
    ),
]
OutputFileOpt = Annotated[
    Path | None,
    typer.Option("--output", "-o", help="Write the rows to a file (.parquet, .tsv, .csv, .jsonl) instead of stdout; "
                 "written to a temporary file and renamed when complete.", show_default=False),
]


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


def check_row_file(path: Path) -> Path:
    """Check an --output file before any work: a known suffix, a writable directory."""
    path = check_output(path)
    if path.suffix.lower() not in output.RowFile.SUFFIXES:
        raise InvalidQuery(
            f"--output {path}: unknown type {path.suffix or '(no suffix)'!r}; expected "
            + ", ".join(output.RowFile.SUFFIXES)
        )
    return path


def write_blocks(
    blocks: Iterable[Any],
    columns_of: Callable[..., dict[str, list[Any]]],
    columns: Sequence[str],
    total: int,
    what: str,
    fmt: OutputFormat | None,
    no_header: bool,
    output_file: Path | None,
    *,
    types: dict[str, str] | None = None,
    provenance: str | None = None,
) -> int:
    """Stream blocks of rows to --output or stdout, with a progress bar on a terminal.

    `columns_of(*block)` turns one block into columns. TSV, CSV and JSONL go out block by block
    (the header once); a table or a JSON array needs all rows, so they are collected first.
    Returns the number of rows written.
    """
    types = types or {"rank": "int", "score": "float"}
    chosen = output.choose_format(fmt, output.stdout_is_terminal())
    streaming = chosen in (OutputFormat.tsv, OutputFormat.csv, OutputFormat.jsonl)
    sink = output.RowFile(output_file, columns, types) if output_file is not None else None
    kept: list[dict[str, Any]] = []
    rows = 0
    first = True
    try:
        with progress() as bar:
            task = bar.add_task(what, total=total)
            for block in blocks:
                cols = columns_of(*block)
                n = len(cols[columns[0]])
                rows += n
                bar.advance(task, len(block[0]))
                if sink is not None:
                    sink.write(cols)
                    continue
                dicts = [dict(zip(columns, values)) for values in zip(*(cols[c] for c in columns))]
                if provenance is not None and chosen in (OutputFormat.json, OutputFormat.jsonl):
                    dicts = [dict(d, search=provenance) for d in dicts]
                if streaming:
                    output.write_rows(dicts, chosen, sys.stdout, columns=columns, header=first and not no_header)
                    first = False
                else:
                    kept.extend(dicts)
    except BaseException:
        if sink is not None:
            sink.discard()
        raise
    if sink is not None:
        sink.close()
        message(f"wrote {rows:,} rows to {output_file}")
    elif not streaming:
        output.write_rows(kept, chosen, sys.stdout, columns=columns, header=not no_header)
    elif first:  # no block at all: the header alone
        output.write_rows([], chosen, sys.stdout, columns=columns, header=not no_header)
    sys.stdout.flush()
    return rows
