"""Word-pair similarity: Spearman and Pearson correlation with human judgements.

WordSim-353 (Finkelstein et al., 2002) and SimLex-999 (Hill et al., 2015), scored as gensim
``KeyedVectors.evaluate_word_pairs`` does (the reference implementation), with scipy.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Sequence

import numpy as np

from embviz.errors import EmbvizError, InvalidQuery
from embviz.evaluate.data import (
    DEFAULT_RESTRICT,
    GENSIM_PAIRS,
    OovPolicy,
    _vocab,
    default_pair_files,
    gensim_data,
    read_pairs,
)
from embviz.evaluate.reports import PairsReport

if TYPE_CHECKING:
    from embviz.vectors import Vectors


def evaluate_word_pairs(
    vectors: Vectors,
    pairs: str | os.PathLike | None = None,
    *,
    restrict: int | None = DEFAULT_RESTRICT,
    case_insensitive: bool = True,
    oov: OovPolicy = "skip",
) -> PairsReport:
    """Correlation of cosine similarities with human scores, as gensim ``evaluate_word_pairs``.

    Parameters
    ----------
    vectors : Vectors
    pairs : path, optional
        A word-pair file (``a<TAB>b<TAB>score``, ``#`` comments). Default: WordSim-353
        (Finkelstein et al., 2002) as shipped with gensim; see :func:`evaluate_pair_sets` for
        WordSim-353 and SimLex-999 (Hill et al., 2015) together.
    restrict : int or None
        Only the first `restrict` keys count as known (gensim's ``restrict_vocab``), >= 1.
    case_insensitive : bool
        Compare upper-cased words; a word stands for the first key that upper-cases to it.
    oov : {"skip", "zero"}
        Pairs with an unknown word: left out (gensim's default) or scored 0.0 (gensim's
        ``dummy4unknown=True``).

    Returns
    -------
    PairsReport
        Pearson and Spearman (scipy ``pearsonr``/``spearmanr``) in [-1, 1] with p-values, and
        ``oov_ratio`` in [0, 1] (gensim: the same in percent).

    Raises
    ------
    FormatError
        If the file is missing or malformed.
    EmbvizError
        If fewer than 2 pairs can be scored (every pair has an unknown word).
    InvalidQuery
        If `oov` is not "skip" or "zero", or ``restrict < 1``.
    MissingDependency
        If `pairs` is None and gensim (which ships the default set) is not installed.
    """
    if oov not in ("skip", "zero"):
        raise InvalidQuery(f"unknown OOV policy {oov!r}: expected 'skip' or 'zero'")
    path = Path(pairs) if pairs is not None else gensim_data(GENSIM_PAIRS[0])
    rows = read_pairs(path)
    ok, _ = _vocab(vectors, restrict, case_insensitive)
    norm = str.upper if case_insensitive else (lambda s: s)
    gold: list[float] = []
    a_ids: list[int] = []
    b_ids: list[int] = []
    known: list[bool] = []
    n_oov = 0
    for a, b, score, _line in rows:
        ia, ib = ok.get(norm(a)), ok.get(norm(b))
        if ia is None or ib is None:
            n_oov += 1
            if oov == "skip":
                continue
            a_ids.append(0)
            b_ids.append(0)
            known.append(False)
        else:
            a_ids.append(ia)
            b_ids.append(ib)
            known.append(True)
        gold.append(score)
    if len(gold) < 2:
        raise EmbvizError(
            f"{path}: only {len(gold)} of {len(rows)} pairs have both words in the first "
            f"{min(restrict or vectors.count, vectors.count):,} keys; need at least 2 to correlate"
        )
    unit = vectors.unit
    ua = np.asarray(unit[np.asarray(a_ids, dtype=np.int64)], dtype=np.float32)
    ub = np.asarray(unit[np.asarray(b_ids, dtype=np.int64)], dtype=np.float32)
    model = np.einsum("ij,ij->i", ua, ub).astype(np.float64)
    model[~np.asarray(known)] = 0.0
    pearson, pearson_p, spearman, spearman_p = _correlate(np.asarray(gold), model)
    return PairsReport(
        dataset=_dataset_name(path),
        pairs=len(rows),
        used=len(gold),
        oov=n_oov,
        oov_ratio=n_oov / len(rows),
        policy=oov,
        pearson=pearson,
        pearson_p=pearson_p,
        spearman=spearman,
        spearman_p=spearman_p,
    )


def evaluate_pair_sets(
    vectors: Vectors,
    paths: Sequence[str | os.PathLike] | None = None,
    **kwargs,  # noqa: ANN003 - passed to evaluate_word_pairs
) -> list[PairsReport]:
    """:func:`evaluate_word_pairs` on several files; default WordSim-353 and SimLex-999."""
    files = list(paths) if paths else default_pair_files()
    return [evaluate_word_pairs(vectors, p, **kwargs) for p in files]


def _correlate(gold: np.ndarray, model: np.ndarray) -> tuple[float, float, float, float]:
    import warnings

    from scipy import stats

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # constant input: NaN, reported as such
        sp = stats.spearmanr(gold, model)
        pe = stats.pearsonr(gold, model)
    return float(pe[0]), float(pe[1]), float(sp[0]), float(sp[1])


def _dataset_name(path: Path) -> str:
    name = path.name
    for suffix in (".gz", ".bz2", ".xz"):
        name = name.removesuffix(suffix)
    return Path(name).stem or name

