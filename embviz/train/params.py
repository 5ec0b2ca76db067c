"""Training parameters (validated before any work), progress records and the run's report."""

from __future__ import annotations

import math
import os
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

from embviz.errors import EmbvizError, ExitCode, InvalidQuery

if TYPE_CHECKING:
    from embviz.vectors import Vectors


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
    shrink_windows : bool
        Draw each centre word's effective window uniformly from ``[1, window]`` (word2vec.c
        and gensim's default). False: always the full `window` (gensim >= 4.1,
        ``shrink_windows``), as item2vec wants it: every item of a basket or session is a
        context of every other, whatever their order (Barkan & Koenigstein 2016).
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
    shrink_windows: bool = True

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
        if not isinstance(self.shrink_windows, bool):
            raise bad("shrink_windows", self.shrink_windows, "True or False")
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
    engine : str
        ``"gensim"`` or ``"spark"``. With Spark (:mod:`embviz.train.engine_spark`),
        `corpus_fingerprint`, `gensim_version` and `effective_words_per_s` are None,
        `corpus_bytes` is the size Hadoop reports (compressed; None for a glob), `mode` is
        ``"spark"`` and `epochs` carries no loss.
    interactions : dict or None
        Trained on an interaction log (item2vec, :mod:`embviz.train.sequences`): the log's
        path and fingerprint, the columns used, rows, events, users, items, sequences and
        how they were cut (:meth:`~embviz.train.sequences.Sequences.provenance`). Then
        `corpus` is the log's path and `corpus_fingerprint` the fingerprint of the item
        sequences written for gensim.
    spark : dict or None
        Spark only: ``version``, ``master``, ``app_id``, ``parallelism``, ``conf``, the
        ``word2vec`` parameters as Spark names them, and the timings ``session_seconds``
        (JVM and session start), ``count_seconds`` (the vocabulary pass), ``fit_seconds``
        and ``collect_seconds`` (vectors back to the driver, model folder saved).
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
    engine: str = "gensim"
    spark: dict | None = None
    interactions: dict | None = None

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
    counts : ndarray ``(vocab,)`` int64 or None
        item2vec: each key's interactions in the log (its popularity), in `vectors`' order;
        :func:`~embviz.train.outputs.write` writes them beside the vectors.
    """

    vectors: Vectors
    model: Any
    report: TrainReport
    counts: Any = None


