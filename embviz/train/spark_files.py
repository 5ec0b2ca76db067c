"""The paths of a Spark training run: the corpus, checked before the JVM starts, and the model folder.

A corpus is a local file, folder or glob, or a URI Spark reads (``hdfs://``, ``s3a://``); a
local one is checked here first (exists, readable, not empty), so a typo costs no JVM start.
``--save-model`` keeps Spark's ``Word2VecModel`` folder: :func:`check_model_folder` checks its
place before training, and :class:`SparkModelFolder` holds it staged beside its destination
until :func:`embviz.train.write` moves it there. Used by :mod:`embviz.train.engine_spark`,
which re-exports these names.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path
from typing import Any

from embviz.errors import FormatError


# -- corpus ----------------------------------------------------------------------------------
def _has_scheme(corpus: str) -> bool:
    return re.match(r"^[A-Za-z][A-Za-z0-9+.-]*://", corpus) is not None


def _local_checks(corpus: str, name: str) -> str:
    """Check a local corpus before starting the JVM; return the path Spark should read."""
    if _has_scheme(corpus) and not corpus.startswith("file://"):
        return corpus
    path = Path(corpus[len("file://"):] if corpus.startswith("file://") else corpus)
    if any(ch in str(path) for ch in "*?[{"):
        return str(path)  # a glob: Spark expands it
    if not path.exists():
        raise FormatError(f"{name}: no such file")
    if path.is_dir():
        files = [p for p in path.iterdir() if p.is_file() and not p.name.startswith((".", "_"))]
        if not files:
            raise FormatError(
                f"{name}: directory has no files; expected text files with one sentence per line"
            )
        if all(p.stat().st_size == 0 for p in files):
            raise FormatError(
                f"{name}: every file is empty; expected text with one whitespace-separated "
                "sentence per line"
            )
    elif path.stat().st_size == 0:
        raise FormatError(
            f"{name}: corpus is empty; expected text with one whitespace-separated sentence per line"
        )
    if not os.access(path, os.R_OK):
        raise FormatError(f"{name}: permission denied")
    return str(path.resolve())


def _corpus_bytes(spark: Any, uri: str) -> int | None:
    """Size of the corpus as Hadoop's file system reports it (compressed size), or None."""
    try:
        jvm = spark.sparkContext._jvm
        hpath = jvm.org.apache.hadoop.fs.Path(uri)
        fs = hpath.getFileSystem(spark.sparkContext._jsc.hadoopConfiguration())
        return int(fs.getContentSummary(hpath).getLength())
    except Exception:  # noqa: BLE001 - a glob, or a file system without content summaries
        return None


# -- staged model folder ---------------------------------------------------------------------
class SparkModelFolder:
    """Spark's saved ``Word2VecModel`` folder, staged beside its destination until written.

    ``path/metadata/`` (JSON, one line) and ``path/data/*.parquet`` (columns ``word``: string,
    ``vector``: array<float>), as ``Word2VecModel.save`` writes it;
    ``Word2VecModel.load(path)`` reads it back, and so does ``embviz.io.load(path)``.
    """

    folder = True  # tells embviz.train.outputs.save_model to move it, not pickle it

    def __init__(self, staged: Path | None, uri: str | None = None) -> None:
        self.staged, self.uri = staged, uri

    def move_to(self, path: str | os.PathLike) -> Path:
        """Move the staged folder to `path` (replacing a Spark model folder there); return it."""
        path = Path(path)
        if self.staged is None:  # written by Spark straight to a URI
            return path
        old = None
        if path.exists():
            old = self.staged.parent / (path.name + ".old")
            os.replace(path, old)
        try:
            os.replace(self.staged, path)
        except BaseException:
            if old is not None:
                os.replace(old, path)
            raise
        self.cleanup()
        return path

    def cleanup(self) -> None:
        """Remove the staging directory (a no-op once moved)."""
        if self.staged is not None:
            shutil.rmtree(self.staged.parent, ignore_errors=True)


def check_model_folder(path: str | os.PathLike) -> None:
    """Check before training that `path` can take Spark's model folder.

    Raises
    ------
    FormatError
        If its parent directory does not exist, or `path` exists and is not a Spark model
        folder (a folder with ``metadata/`` and ``data/``), which is never overwritten.
    """
    if _has_scheme(str(path)):
        return
    path = Path(path)
    if not path.parent.is_dir():
        raise FormatError(f"{path}: directory {path.parent} does not exist")
    if path.exists() and not (
        path.is_dir() and (path / "metadata").is_dir() and (path / "data").is_dir()
    ):
        raise FormatError(
            f"{path}: exists and is not a Spark model folder; choose a new path for --save-model"
        )
