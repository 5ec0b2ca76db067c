"""Train word2vec with gensim: skip-gram or CBOW, negative sampling or hierarchical softmax.

word2vec (Mikolov et al. 2013a, "Efficient Estimation of Word Representations in Vector Space";
Mikolov et al. 2013b, "Distributed Representations of Words and Phrases and their
Compositionality") learns the rows of an embedding lookup table by predicting context words
from a centre word (skip-gram) or a centre word from the average of its context (CBOW), with
negative sampling or hierarchical softmax as the output layer and subsampling of frequent
words. gensim's :class:`~gensim.models.word2vec.Word2Vec` does the training; this module
prepares the corpus, validates parameters before any work, reports progress through a
callback, and writes the vectors, the model and a JSON sidecar.

Corpus
------
A text file with one sentence per line, tokens separated by whitespace, UTF-8; gzip, bz2 or xz
compression is detected from magic bytes. A directory stands for the concatenation of its
regular files (not starting with ``.``, not recursive) in name order. Training always uses
gensim's ``corpus_file`` mode, which scales with cores: a plain file is passed as is; a
compressed file, a directory, or ``lowercase=True`` (which ``corpus_file`` cannot apply on the
fly) is first written to one plain temporary file, removed afterwards. Every corpus is read
once before training to compute its fingerprint (BLAKE2b-256 of the decompressed bytes, before
lowercasing), check that it is UTF-8 and that it is not empty.

Reproducibility
---------------
With ``workers=1`` and a fixed ``seed``, two runs give identical vectors, in the same or in
separate processes, whatever ``PYTHONHASHSEED`` is: gensim 4 draws the initial vectors from
``numpy.random.default_rng(seed)`` and the vocabulary order from the corpus, not from Python's
salted ``hash`` (its ``hashfxn`` is used only by ``seeded_vector``, never during training).
With several workers the threads race on shared weights (Hogwild), so vectors differ slightly
between runs.

Nothing here prints, exits or reads the environment; errors are :class:`~embviz.errors.EmbvizError`
subclasses with a one-line message.
"""

from __future__ import annotations

import codecs
import hashlib
import json
import math
import os
import re
import shutil
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, ClassVar

from embviz.errors import EmbvizError, ExitCode, FormatError, InvalidQuery

if TYPE_CHECKING:
    from embviz.formats import VectorFormat
    from embviz.vectors import Vectors

#: Bytes read per step when fingerprinting or copying the corpus.
CHUNK_BYTES = 1 << 22
#: Characters Python's ``str.split()`` (gensim's vocabulary scan) treats as whitespace but the
#: C++ reader of ``corpus_file`` mode (``istream >> word``) does not: replaced by spaces.
_OTHER_SPACES = re.compile("[\x1c-\x1f\x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]")


class TrainingInterrupted(EmbvizError, KeyboardInterrupt):
    """Training was interrupted (Ctrl-C); nothing was written. Also a ``KeyboardInterrupt``."""

    exit_code: ClassVar[int] = ExitCode.INTERRUPTED


def default_workers() -> int:
    """Return the number of cores this process may run on (``os.sched_getaffinity``), >= 1."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


@dataclass(frozen=True)
class TrainParams:
    """word2vec hyper-parameters; defaults are gensim 4's except `workers` (all cores).

    Parameters
    ----------
    sg : bool
        Skip-gram (True) or CBOW (False, gensim's default) (Mikolov et al. 2013a).
    negative : int
        Noise words drawn per positive example for negative sampling, >= 0; 0 disables it
        (Mikolov et al. 2013b). Values of 5 to 20 suit small corpora, 2 to 5 large ones.
    hs : bool
        Use hierarchical softmax (a Huffman tree over the vocabulary) as the output layer.
    ns_exponent : float
        Exponent of the unigram distribution negative samples are drawn from: 0.75 as in
        word2vec.c, 1.0 in proportion to frequency, 0.0 uniform, negative favours rare words.
    window : int
        Maximum distance between the centre word and a context word, in tokens, >= 1.
    min_count : int
        Ignore words with fewer occurrences than this, >= 1.
    max_vocab : int or None
        Keep at most this many keys, the most frequent (gensim's ``max_final_vocab``; it
        raises the effective `min_count`). None: no limit.
    sample : float
        Subsampling threshold: words with a frequency above it are randomly dropped
        (Mikolov et al. 2013b), >= 0; 1e-5 to 1e-3 are usual, 0 disables it.
    vector_size : int
        Dimensionality of the vectors, >= 1.
    epochs : int
        Passes over the corpus, >= 1.
    alpha, min_alpha : float
        Learning rate at the start and (decayed linearly) at the end of training,
        ``0 <= min_alpha <= alpha``, ``alpha > 0``.
    workers : int or None
        Training threads, >= 1; None uses every core this process may run on.
    seed : int
        Seed of the random initial vectors and of subsampling and negative sampling,
        in ``[0, 2**32)``.
    lowercase : bool
        Lowercase the corpus (``str.lower``) before training.
    """

    sg: bool = False
    negative: int = 5
    hs: bool = False
    ns_exponent: float = 0.75
    window: int = 5
    min_count: int = 5
    max_vocab: int | None = None
    sample: float = 1e-3
    vector_size: int = 100
    epochs: int = 5
    alpha: float = 0.025
    min_alpha: float = 0.0001
    workers: int | None = None
    seed: int = 1
    lowercase: bool = False

    def validate(self) -> TrainParams:
        """Check every parameter before any work; return the parameters with `workers` resolved.

        Raises
        ------
        InvalidQuery
            Naming the first invalid parameter, its value and the allowed range.
        """

        def bad(name: str, value: Any, expected: str) -> InvalidQuery:
            return InvalidQuery(f"{name} must be {expected}, got {value!r}")

        def integer(name: str, lo: int, hi: int | None = None) -> None:
            value = getattr(self, name)
            if (
                isinstance(value, bool)
                or not isinstance(value, int)
                or value < lo
                or (hi is not None and value > hi)
            ):
                raise bad(
                    name,
                    value,
                    f"an integer >= {lo}" + (f" and < {hi + 1}" if hi is not None else ""),
                )

        def number(name: str, lo: float, *, strict: bool = False) -> None:
            value = getattr(self, name)
            ok = (
                isinstance(value, (int, float))
                and not isinstance(value, bool)
                and math.isfinite(value)
            )
            if not ok or value < lo or (strict and value == lo):
                raise bad(name, value, f"a number {'>' if strict else '>='} {lo:g}")

        for name in ("vector_size", "window", "min_count", "epochs"):
            integer(name, 1)
        integer("negative", 0)
        integer("seed", 0, 2**32 - 1)
        if self.max_vocab is not None:
            integer("max_vocab", 1)
        if self.workers is not None:
            integer("workers", 1)
        number("alpha", 0.0, strict=True)
        number("min_alpha", 0.0)
        number("sample", 0.0)
        if not isinstance(self.ns_exponent, (int, float)) or not math.isfinite(self.ns_exponent):
            raise bad("ns_exponent", self.ns_exponent, "a finite number")
        if self.min_alpha > self.alpha:
            raise InvalidQuery(
                f"min_alpha ({self.min_alpha:g}) must not exceed alpha ({self.alpha:g})"
            )
        if not self.hs and self.negative == 0:
            raise InvalidQuery(
                "no output layer: negative sampling is off (negative=0) and hierarchical "
                "softmax is off; set negative >= 1 or enable hs"
            )
        if self.workers is None:
            return TrainParams(**{**asdict(self), "workers": default_workers()})
        return self


@dataclass(frozen=True)
class EpochStats:
    """One finished epoch.

    Attributes
    ----------
    epoch : int
        1-based epoch number, out of `epochs`.
    epochs : int
    words : int
        Raw corpus words processed in this epoch (before subsampling and vocabulary filtering).
    seconds : float
        Wall time of the epoch, in seconds.
    words_per_s : float
        ``words / seconds``, raw words per second.
    loss : float or None
        gensim's training loss accumulated during this epoch (the difference of its running
        total); None unless computed. With several workers gensim's running total is updated
        without locking, so treat it as a trend, not an exact sum.
    """

    epoch: int
    epochs: int
    words: int
    seconds: float
    words_per_s: float
    loss: float | None


@dataclass(frozen=True)
class TrainStart:
    """Sent to the progress callback once the vocabulary is built, before the first epoch."""

    epochs: int
    words_per_epoch: int  # raw corpus words
    sentences: int
    vocab_size: int


@dataclass(frozen=True)
class TrainReport:
    """Everything the JSON sidecar records about one training run.

    Attributes
    ----------
    corpus : str
        The corpus path as given.
    corpus_fingerprint : str
        ``"blake2b-256:<hex>"`` of the decompressed corpus bytes, before lowercasing; for a
        directory, of its files in name order, with a newline added between two files when
        the first does not end with one (so a file split in parts keeps its fingerprint).
    corpus_bytes, corpus_sentences, corpus_words : int
        Decompressed size, lines (sentences, gensim splits lines above 10,000 words) and
        whitespace-separated tokens.
    vocab_size, vector_size : int
        The trained matrix is ``(vocab_size, vector_size)`` float32.
    parameters : dict
        The :class:`TrainParams` used (workers resolved).
    gensim_version, embviz_version : str
    mode : str
        ``"corpus_file"`` (gensim's file-based training).
    seconds : float
        Wall time of :func:`train`: reading, vocabulary and training.
    train_seconds : float
        Wall time of the epochs only.
    words_per_s : float
        ``corpus_words * epochs / train_seconds``: raw words per second.
    effective_words_per_s : float
        Words actually trained (after subsampling and dropping rare words) per second, as
        gensim logs it.
    epochs : list of dict
        One :class:`EpochStats` per epoch, with the per-epoch loss.
    started : str
        UTC start time, ISO 8601.
    """

    corpus: str
    corpus_fingerprint: str
    corpus_bytes: int
    corpus_sentences: int
    corpus_words: int
    vocab_size: int
    vector_size: int
    parameters: dict
    gensim_version: str
    embviz_version: str
    mode: str
    seconds: float
    train_seconds: float
    words_per_s: float
    effective_words_per_s: float
    epochs: list = field(default_factory=list)
    started: str = ""
    evaluation: dict | None = None

    def to_dict(self) -> dict:
        """Return the report as plain JSON-serialisable data."""
        return asdict(self)


@dataclass(frozen=True)
class TrainResult:
    """What :func:`train` returns.

    Attributes
    ----------
    vectors : Vectors
        The trained lookup table: keys in descending frequency, ``matrix`` ``(vocab, vector_size)``
        float32 (gensim's ``wv.vectors``, the input weights).
    model : gensim.models.Word2Vec
        The full model (output weights included), for further training or :func:`write`.
    report : TrainReport
    """

    vectors: Vectors
    model: Any
    report: TrainReport


# -- corpus preparation ------------------------------------------------------------------------
@dataclass
class _Corpus:
    path: Path  # the plain file gensim reads
    fingerprint: str
    size: int
    tmpdir: Path | None


def _corpus_files(corpus: Path, name: str) -> list[Path]:
    if corpus.is_dir():
        try:
            files = sorted(
                p for p in corpus.iterdir() if not p.name.startswith(".") and p.is_file()
            )
        except PermissionError:
            raise FormatError(f"{corpus}: permission denied") from None
        if not files:
            raise FormatError(
                f"{corpus}: directory has no files; expected text files with one sentence per line"
            )
        return files
    if not corpus.exists():
        raise FormatError(f"{name}: no such file")
    return [corpus]


def _open(path: Path, name: str | None = None):  # noqa: ANN202
    from embviz import formats

    if not os.access(path, os.R_OK):
        raise FormatError(f"{name or path}: permission denied")
    try:
        return formats.open_bytes(path)
    except FormatError as exc:
        raise FormatError(str(exc).replace(str(path), name or str(path), 1)) from None


def _line_of(path: Path, offset: int) -> int:
    """Return the 1-based line holding byte `offset` of the (decompressed) file."""
    line, done = 1, 0
    with _open(path) as f:
        while done < offset:
            chunk = f.read(min(CHUNK_BYTES, offset - done))
            if not chunk:
                break
            line += chunk.count(b"\n")
            done += len(chunk)
    return line


def _prepare(
    corpus: Path, name: str, lowercase: bool, tmp_dir: str | os.PathLike | None, copy: bool = False
) -> _Corpus:
    """Fingerprint and check the corpus; copy it to one plain temporary file if gensim needs it.

    The copy is decompressed, concatenated, lowercased if asked, and has the Unicode spaces
    that only Python splits on (:data:`_OTHER_SPACES`) replaced by ASCII spaces, so that
    gensim's vocabulary scan and its C++ training reader see the same tokens.
    """
    from embviz import formats

    if corpus.exists() and not corpus.is_file() and not corpus.is_dir():
        return _spool(corpus, name, lowercase, tmp_dir)  # a pipe: <(zcat corpus.gz), /dev/stdin
    files = _corpus_files(corpus, name)
    compressed = any(formats.compression(p) for p in files)
    copy = copy or lowercase or corpus.is_dir() or compressed
    spaces = False
    digest = hashlib.blake2b(digest_size=32)
    tmpdir = Path(tempfile.mkdtemp(prefix="embviz-train-", dir=tmp_dir)) if copy else None
    target = tmpdir / "corpus.txt" if tmpdir else files[0]
    size, nonblank, sep, last = 0, False, False, b"\n"
    try:
        out = open(target, "wb") if tmpdir else None
        try:
            for path in files:
                label = name if path == corpus else str(path)
                decoder = codecs.getincrementaldecoder("utf-8")()
                done = 0
                with _open(path, label) as f:
                    while True:
                        try:
                            chunk = f.read(CHUNK_BYTES)
                        except (OSError, EOFError, ValueError) as exc:
                            raise FormatError(f"{label}: cannot decompress: {exc}") from None
                        final = not chunk
                        pending = len(decoder.getstate()[0])
                        try:
                            text = decoder.decode(chunk, final)
                        except UnicodeDecodeError as exc:
                            raise _bad_utf8(path, label, done - pending, exc) from None
                        if final:
                            break
                        if sep:  # keep the previous file's last line apart from this file's first
                            digest.update(b"\n")
                            if out is not None:
                                out.write(b"\n")
                            sep = False
                        digest.update(chunk)
                        if not nonblank and chunk.strip():
                            nonblank = True
                        if out is not None:
                            if lowercase:
                                text = text.lower()
                            out.write(_OTHER_SPACES.sub(" ", text).encode("utf-8"))
                        elif not spaces and _has_other_spaces(text, chunk):
                            spaces = True  # a plain file gensim would tokenise two ways: copy it
                            break
                        done += len(chunk)
                        last = chunk[-1:]
                if spaces:
                    break
                if done:
                    sep = last != b"\n"
                size += done
        finally:
            if out is not None:
                out.close()
        if spaces:
            return _prepare(corpus, name, lowercase, tmp_dir, copy=True)
        if not nonblank:
            where = f"{name}: " + ("every file is empty" if corpus.is_dir() else "corpus is empty")
            raise FormatError(
                f"{where}; expected text with one whitespace-separated sentence per line"
            )
    except BaseException:
        if tmpdir:
            shutil.rmtree(tmpdir, ignore_errors=True)
        raise
    return _Corpus(target, f"blake2b-256:{digest.hexdigest()}", size, tmpdir)


def _spool(corpus: Path, name: str, lowercase: bool, tmp_dir: str | os.PathLike | None) -> _Corpus:
    """Copy a pipe or device (readable once, not seekable) to a temporary file, then prepare it."""
    tmpdir = Path(tempfile.mkdtemp(prefix="embviz-train-", dir=tmp_dir))
    try:
        raw = tmpdir / "spooled"
        try:
            with open(corpus, "rb") as src, open(raw, "wb") as dst:
                shutil.copyfileobj(src, dst, CHUNK_BYTES)
        except OSError as exc:
            raise FormatError(f"{name}: cannot read: {exc.strerror or exc}") from None
        prepared = _prepare(raw, name, lowercase, tmpdir)
        if prepared.tmpdir is not None:  # a further copy (decompressed, lowercased) in tmpdir
            return _Corpus(prepared.path, prepared.fingerprint, prepared.size, tmpdir)
        return _Corpus(raw, prepared.fingerprint, prepared.size, tmpdir)
    except BaseException:
        shutil.rmtree(tmpdir, ignore_errors=True)
        raise


def _has_other_spaces(text: str, chunk: bytes) -> bool:
    if text.isascii():  # O(1) in CPython; then only the 4 control separators can occur
        return b"\x1c" in chunk or b"\x1d" in chunk or b"\x1e" in chunk or b"\x1f" in chunk
    return _OTHER_SPACES.search(text) is not None


def _bad_utf8(path: Path, label: str, start: int, exc: UnicodeDecodeError) -> FormatError:
    """`start`: the file offset of ``exc.object[0]`` (the decoder's held-back bytes included)."""
    offset = max(0, start + exc.start)
    bad = exc.object[exc.start : exc.start + 1]
    what = f"byte 0x{bad.hex()}" if bad else "a truncated sequence"
    return FormatError(
        f"{label}: line {_line_of(path, offset):,}: invalid UTF-8 ({what}); expected UTF-8 text"
    )


# -- training --------------------------------------------------------------------------------
def _callback_class():  # noqa: ANN202
    from gensim.models.callbacks import CallbackAny2Vec

    class _Epochs(CallbackAny2Vec):
        """Times each epoch, takes the loss difference and calls the progress hook."""

        def __init__(
            self, epochs: int, words: int, loss: bool, hook: Callable[[Any], None] | None
        ) -> None:
            self.epochs, self.words, self.loss, self.hook = epochs, words, loss, hook
            self.stats: list[EpochStats] = []
            self.epoch = 0
            self._t = 0.0
            self._prev_loss = 0.0

        def on_epoch_begin(self, model: Any) -> None:
            self.epoch += 1
            self._t = time.perf_counter()

        def on_epoch_end(self, model: Any) -> None:
            seconds = time.perf_counter() - self._t
            loss = None
            if self.loss:
                total = float(model.get_latest_training_loss())  # gensim's running total
                loss, self._prev_loss = total - self._prev_loss, total
            stats = EpochStats(
                self.epoch,
                self.epochs,
                self.words,
                seconds,
                self.words / seconds if seconds > 0 else float("inf"),
                loss,
            )
            self.stats.append(stats)
            if self.hook is not None:
                self.hook(stats)

    return _Epochs


def train(
    corpus: str | os.PathLike,
    params: TrainParams | None = None,
    *,
    compute_loss: bool = True,
    progress: Callable[[TrainStart | EpochStats], None] | None = None,
    tmp_dir: str | os.PathLike | None = None,
    name: str | None = None,
    **kwargs: Any,
) -> TrainResult:
    """Train word2vec embeddings on a text corpus with gensim (Mikolov et al. 2013a/b).

    Parameters
    ----------
    corpus : path-like
        A UTF-8 text file with one sentence per line and whitespace-separated tokens (gzip,
        bz2 or xz detected from magic bytes), or a directory of such files (see the module
        docstring).
    params : TrainParams, optional
        Hyper-parameters; keyword arguments (``sg=True, epochs=10, ...``) override them.
    compute_loss : bool
        Ask gensim for the training loss (reported per epoch).
    progress : callable, optional
        Called with a :class:`TrainStart` once the vocabulary is built, then with an
        :class:`EpochStats` after each epoch, in the calling thread. An exception it raises
        (``KeyboardInterrupt`` included) stops training.
    tmp_dir : path-like, optional
        Directory for the temporary plain copy of the corpus, when one is needed (default:
        the system's temporary directory).
    name : str, optional
        How messages and the report name the corpus (default: its path); the CLI passes
        ``"-"`` for a spooled stdin.
    **kwargs
        :class:`TrainParams` fields (``sg=True, epochs=10, ...``), overriding `params`.

    Returns
    -------
    TrainResult
        ``vectors`` (matrix ``(vocab, vector_size)`` float32, keys in descending frequency),
        the gensim ``model`` and a :class:`TrainReport` (throughput in raw words/s).

    Raises
    ------
    InvalidQuery
        If a parameter is out of range (checked before reading the corpus).
    FormatError
        If the corpus does not exist, cannot be read or decompressed, is not UTF-8, is empty,
        or no word occurs `min_count` times.
    TrainingInterrupted
        On ``KeyboardInterrupt`` (Ctrl-C) during training; temporary files are removed.
    """
    params = (
        (params or TrainParams())
        if not kwargs
        else TrainParams(**{**asdict(params or TrainParams()), **kwargs})
    )
    params = params.validate()
    corpus = Path(corpus)
    name = name or str(corpus)
    started = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    t0 = time.perf_counter()
    try:
        prepared = _prepare(corpus, name, params.lowercase, tmp_dir)
    except KeyboardInterrupt:
        raise TrainingInterrupted("interrupted while reading the corpus; nothing written") from None
    epoch_hook = None
    try:
        import gensim
        from gensim.models import Word2Vec

        model = Word2Vec(
            vector_size=params.vector_size,
            alpha=params.alpha,
            min_alpha=params.min_alpha,
            window=params.window,
            min_count=params.min_count,
            max_final_vocab=params.max_vocab,
            sample=params.sample,
            seed=params.seed,
            workers=params.workers,
            sg=int(params.sg),
            hs=int(params.hs),
            negative=params.negative,
            ns_exponent=params.ns_exponent,
            epochs=params.epochs,
            compute_loss=compute_loss,
        )
        path = str(prepared.path)
        model.build_vocab(corpus_file=path, keep_raw_vocab=True)
        if len(model.wv) == 0:
            raise _no_vocabulary(name, model, params)
        model.raw_vocab = type(model.raw_vocab)(int)  # free the raw counts, as gensim does
        words = int(model.corpus_total_words)
        if progress is not None:
            progress(TrainStart(params.epochs, words, int(model.corpus_count), len(model.wv)))
        epoch_hook = _callback_class()(params.epochs, words, compute_loss, progress)
        t1 = time.perf_counter()
        try:
            trained, _raw = model.train(
                corpus_file=path,
                total_examples=model.corpus_count,
                total_words=words,
                epochs=params.epochs,
                start_alpha=params.alpha,
                end_alpha=params.min_alpha,
                compute_loss=compute_loss,
                callbacks=[epoch_hook],
            )
        except KeyboardInterrupt:
            done = len(epoch_hook.stats)
            raise TrainingInterrupted(
                f"interrupted during epoch {min(done + 1, params.epochs)} of {params.epochs}; "
                "nothing written"
            ) from None
        train_seconds = time.perf_counter() - t1
    except KeyboardInterrupt as exc:
        if isinstance(exc, TrainingInterrupted):
            raise
        raise TrainingInterrupted("interrupted before training started; nothing written") from None
    finally:
        if prepared.tmpdir is not None:
            shutil.rmtree(prepared.tmpdir, ignore_errors=True)

    from embviz import __version__
    from embviz.vectors import Vectors

    vectors = Vectors(list(model.wv.index_to_key), model.wv.vectors, source=Path(name).name)
    report = TrainReport(
        corpus=name,
        corpus_fingerprint=prepared.fingerprint,
        corpus_bytes=prepared.size,
        corpus_sentences=int(model.corpus_count),
        corpus_words=words,
        vocab_size=len(model.wv),
        vector_size=params.vector_size,
        parameters=asdict(params),
        gensim_version=gensim.__version__,
        embviz_version=__version__,
        mode="corpus_file",
        seconds=time.perf_counter() - t0,
        train_seconds=train_seconds,
        words_per_s=words * params.epochs / train_seconds if train_seconds > 0 else float("inf"),
        effective_words_per_s=trained / train_seconds if train_seconds > 0 else float("inf"),
        epochs=[asdict(s) for s in epoch_hook.stats],
        started=started,
    )
    return TrainResult(vectors, model, report)


def _no_vocabulary(corpus: str, model: Any, params: TrainParams) -> FormatError:
    raw = model.raw_vocab
    if not raw:
        return FormatError(f"{corpus}: corpus has no words; expected whitespace-separated tokens")
    top = max(raw.values())
    return FormatError(
        f"{corpus}: no word occurs at least min_count={params.min_count} times "
        f"(the most frequent of {len(raw):,} distinct words occurs {top:,} times); lower min_count"
    )


# -- outputs -----------------------------------------------------------------------------------
def sidecar_path(out: str | os.PathLike) -> Path:
    """Return the JSON sidecar of vector file `out`: ``out`` + ``.json`` (``vectors.bin.json``)."""
    out = Path(out)
    return out.with_name(out.name + ".json")


def check_output(
    out: str | os.PathLike,
    format: VectorFormat | str | None = None,
    model_path: str | os.PathLike | None = None,
) -> VectorFormat:
    """Check before training that the outputs can be written; return the vector format.

    Raises
    ------
    FormatError
        If the format cannot be told from `out`'s name, or a directory of `out` or
        `model_path` does not exist.
    """
    from embviz import formats

    out = Path(out)
    if format:
        fmt = formats.VectorFormat(format)
    else:
        try:
            fmt = formats.format_for(out)
        except FormatError:
            raise FormatError(
                f"{out}: cannot tell the vector format from the name; use .bin (word2vec), .txt "
                "(word2vec-text), .vec (fasttext), .tsv (projector) or pass --format"
            ) from None
    for path in (out, model_path):
        if path is None:
            continue
        path = Path(path)
        if fmt == formats.VectorFormat.projector and path == out and out.is_dir():
            continue
        if not path.parent.is_dir():
            raise FormatError(f"{path}: directory {path.parent} does not exist")
        if path.is_dir():
            raise FormatError(f"{path}: is a directory, expected a file name")
    if model_path is not None and Path(model_path).resolve() in (
        out.resolve(),
        sidecar_path(out).resolve(),
    ):
        raise FormatError(
            f"{model_path}: the model path must differ from the vector file and its sidecar"
        )
    return fmt


def save_model(model: Any, path: str | os.PathLike) -> list[Path]:
    """Save the full gensim model to `path` (``Word2Vec.load(path)`` resumes training).

    gensim may write large arrays beside it (``path.wv.vectors.npy`` ...). Every file is first
    written into a temporary directory beside `path`, then renamed, so none is half-written.

    Returns
    -------
    list of Path
        The files written, `path` first.
    """
    path = Path(path)
    tmp = Path(tempfile.mkdtemp(prefix=".embviz-model-", dir=path.parent))
    try:
        model.save(str(tmp / path.name))
        names = sorted(os.listdir(tmp), key=lambda n: (n != path.name, n))
        written = []
        for name in names:
            os.replace(tmp / name, path.parent / name)
            written.append(path.parent / name)
        return written
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def write(
    result: TrainResult,
    out: str | os.PathLike,
    format: VectorFormat | str | None = None,
    *,
    model_path: str | os.PathLike | None = None,
    precision: int = 6,
    evaluation: dict | None = None,
) -> list[Path]:
    """Write the vectors to `out`, the model to `model_path` and the JSON sidecar.

    Each file is written atomically (temporary file, then rename); the sidecar
    (:func:`sidecar_path`) is written last and holds :class:`TrainReport` plus `evaluation`.

    Returns
    -------
    list of Path
        Every file written: vectors, model files, sidecar.

    Raises
    ------
    FormatError
        As :func:`check_output`, or if writing fails.
    """
    from embviz import formats

    fmt = check_output(out, format, model_path)
    written = formats.save(result.vectors, out, fmt, precision=precision)
    if model_path is not None:
        written += save_model(result.model, model_path)
    report = result.report.to_dict()
    report["vectors"] = {
        "path": str(written[0]),
        "format": fmt.value,
        "count": result.vectors.count,
        "dim": result.vectors.dim,
    }
    report["model"] = str(model_path) if model_path is not None else None
    if evaluation is not None:
        report["evaluation"] = evaluation
    side = sidecar_path(written[0])
    data = (
        json.dumps(_finite(report), indent=2, default=_json_default, allow_nan=False) + "\n"
    ).encode()
    written.append(formats.atomic_write(side, lambda f: f.write(data)))
    return written


def _json_default(value: Any) -> Any:
    if hasattr(value, "item"):
        return value.item()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


# -- evaluation ----------------------------------------------------------------------------------
def evaluate(vectors: Vectors, *, restrict: int | None = 300_000) -> dict:
    """Score vectors on the Google analogy set, WordSim-353 and SimLex-999 (gensim's test data).

    Uses :mod:`embviz.evaluate`, whose numbers equal gensim's ``evaluate_word_analogies`` and
    ``evaluate_word_pairs``: analogies by 3CosAdd (Mikolov et al. 2013a) among the first
    `restrict` keys, case-insensitively, questions with an unknown word skipped (they lower
    ``coverage``, not ``accuracy``); word pairs by Pearson and Spearman correlation of cosine
    similarity with human scores, pairs with an unknown word skipped (``oov_ratio``).

    Returns
    -------
    dict
        ``{"analogies": {"dataset", "method", "section": "total", "correct", "total",
        "accuracy", "coverage", "sections": [...]}, "word_pairs": [{"dataset", "pairs", "used",
        "oov", "oov_ratio", "pearson", "spearman", ...}]}``. Accuracies are in [0, 1] (None
        when no question could be answered); correlations in [-1, 1]. A word-pair set that
        cannot be scored at all (fewer than 2 known pairs, common after a small corpus) is
        reported as ``{"dataset", "error"}`` instead of failing.
    """
    from embviz import evaluate as ev

    report = ev.evaluate_analogies(vectors, restrict=restrict)
    analogies = {
        "dataset": Path(report.questions).name or ev.GENSIM_QUESTIONS,
        "method": report.method,
        **asdict(report.total),
        "sections": [asdict(r) for r in report.sections],
    }
    pairs = []
    for path in ev.default_pair_files():
        try:
            pairs.append(asdict(ev.evaluate_word_pairs(vectors, path, restrict=restrict)))
        except EmbvizError as exc:
            pairs.append({"dataset": path.stem, "error": str(exc)})
    return _finite({"analogies": analogies, "word_pairs": pairs})


def _finite(value: Any) -> Any:
    """NaN and infinities as None, so the sidecar is strict JSON."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    return value
