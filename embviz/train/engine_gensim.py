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

import os
import shutil
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any, Callable

from embviz.errors import FormatError
from embviz.train.corpus import _prepare
from embviz.train.params import (
    EpochStats,
    TrainingInterrupted,
    TrainParams,
    TrainReport,
    TrainResult,
    TrainStart,
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
            shrink_windows=params.shrink_windows,
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
        except (KeyboardInterrupt, RuntimeError) as exc:
            # CPython: a Ctrl-C that lands inside Thread.join's lock handling (gensim's workers)
            # can surface as RuntimeError('release unlocked lock') instead of KeyboardInterrupt.
            if isinstance(exc, RuntimeError) and "release unlocked lock" not in str(exc):
                raise
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

    from embviz._version import __version__
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


