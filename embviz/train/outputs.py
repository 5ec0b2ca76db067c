"""What a training run writes: the vectors, gensim's model and the JSON sidecar; and ``--eval``."""

from __future__ import annotations

import json
import math
import os
import shutil
import tempfile
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

from embviz.errors import EmbvizError, FormatError
from embviz.train.params import TrainResult

if TYPE_CHECKING:
    from embviz.io import VectorFormat
    from embviz.vectors import Vectors

# -- outputs -----------------------------------------------------------------------------------
def sidecar_path(out: str | os.PathLike) -> Path:
    """Return the JSON sidecar of vector file `out`: ``out`` + ``.json`` (``vectors.bin.json``)."""
    out = Path(out)
    return out.with_name(out.name + ".json")


def check_output(
    out: str | os.PathLike,
    format: VectorFormat | str | None = None,
    model_path: str | os.PathLike | None = None,
    *,
    model_folder: bool = False,
) -> VectorFormat:
    """Check before training that the outputs can be written; return the vector format.

    With ``model_folder=True`` (Spark's model folder) `model_path` is checked by
    :func:`embviz.train.engine_spark.check_model_folder` instead.

    Raises
    ------
    FormatError
        If the format cannot be told from `out`'s name, or a directory of `out` or
        `model_path` does not exist.
    """
    from embviz import io as embviz_io

    out = Path(out)
    if format:
        fmt = embviz_io.VectorFormat(format)
        from embviz.io.write import check_writable

        check_writable(out, fmt)
    else:
        try:
            fmt = embviz_io.format_for(out)
        except FormatError:
            raise FormatError(
                f"{out}: cannot tell the vector format from the name; use .bin (word2vec), .txt "
                "(word2vec-text), .vec (fasttext), .tsv (projector) or pass --format"
            ) from None
    for path in (out, None if model_folder else model_path):
        if path is None:
            continue
        path = Path(path)
        if fmt == embviz_io.VectorFormat.projector and path == out and out.is_dir():
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
    if getattr(model, "folder", False):  # Spark's model folder, staged beside `path`
        return [model.move_to(path)]
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
    output_vectors: str | os.PathLike | None = None,
) -> list[Path]:
    """Write the vectors to `out`, the model to `model_path` and the JSON sidecar.

    Each file is written atomically (temporary file, then rename); the sidecar
    (:func:`sidecar_path`) is written last and holds :class:`TrainReport` plus `evaluation`.
    With ``result.counts`` (item2vec) the keys' interaction counts go to :func:`counts_path`
    (``key``, ``count``: metadata for ``--meta FILE --show count``); `output_vectors` gets
    the output weights (:func:`output_table`), in `out`'s format unless its suffix says.

    Returns
    -------
    list of Path
        Every file written: vectors, output vectors, counts, model files, sidecar.

    Raises
    ------
    FormatError
        As :func:`check_output`, or if writing fails.
    """
    from embviz import io as embviz_io

    fmt = check_output(
        out, format, model_path, model_folder=getattr(result.model, "folder", False)
    )
    outputs = output_table(result) if output_vectors is not None else None
    written = embviz_io.save(result.vectors, out, fmt, precision=precision)
    report = result.report.to_dict()
    if outputs is not None:
        try:
            out_fmt = embviz_io.format_for(output_vectors)
        except FormatError:
            out_fmt = fmt
        files = embviz_io.save(outputs, output_vectors, out_fmt, precision=precision)
        written += files
        report["output_vectors"] = {"path": str(files[0]), "format": out_fmt.value,
                                    "matrix": "syn1neg", "count": outputs.count, "dim": outputs.dim}
    if result.counts is not None:
        counts_file = counts_path(written[0])
        from embviz.output import tsv_escape

        rows = "".join(f"{tsv_escape(k)}\t{int(c)}\n" for k, c in zip(result.vectors.keys, result.counts))
        data_counts = ("key\tcount\n" + rows).encode("utf-8")
        written.append(embviz_io.atomic_write(counts_file, lambda f: f.write(data_counts)))
        report["counts"] = str(counts_file)
    if model_path is not None:
        written += save_model(result.model, model_path)
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
    written.append(embviz_io.atomic_write(side, lambda f: f.write(data)))
    return written


def counts_path(out: str | os.PathLike) -> Path:
    """Return the interaction counts file of vector file `out`: ``items.bin`` -> ``items.counts.tsv``."""
    out = Path(out)
    stem = out.name[: -len(out.suffix)] if out.suffix else out.name
    return out.with_name(stem + ".counts.tsv")


def output_table(result: TrainResult) -> Vectors:
    """Return gensim's output weights (``syn1neg``) as a table with the vectors' keys.

    Row ``i`` is the output ("context") vector of key ``i`` (Mikolov et al. 2013b; Press &
    Wolf 2017). Input-output scores find complements, input-input ones substitutes (Mitra et
    al. 2016, arXiv 1602.01137).

    Raises
    ------
    InvalidQuery
        Without negative sampling: hierarchical softmax's ``syn1`` has a row per inner node of
        the Huffman tree, not per key, so there are no per-key output vectors; or for a model
        without output weights (Spark's).
    """
    from embviz.errors import InvalidQuery
    from embviz.vectors import Vectors

    syn1neg = getattr(result.model, "syn1neg", None)
    if syn1neg is None or getattr(syn1neg, "size", 0) == 0:
        if getattr(result.model, "hs", 0):
            raise InvalidQuery(
                "--output-vectors needs negative sampling (--negative N): hierarchical softmax's "
                "output weights are one row per inner node of its Huffman tree, not per key"
            )
        raise InvalidQuery("--output-vectors: this model has no output weights (gensim engine only)")
    return Vectors(list(result.vectors.keys), syn1neg, source=f"{result.vectors.source} (output vectors)")


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

