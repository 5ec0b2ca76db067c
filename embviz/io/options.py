"""What a reader needs to know beyond the path: which tensor, which columns, where the keys are."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class SourceOptions:
    """Options for files that hold more than one table or no keys (``--tensor``, ``--vocab`` ...).

    Parameters
    ----------
    tensor : str, optional
        The array of a ``.npz``, safetensors or PyTorch file, or the dataset of an HDF5 file
        (default: the only 2-D floating array, or a known embedding name such as
        ``embeddings`` or ``embedding.weight``; in HDF5 ``train`` first).
    key_column : str, optional
        The key column of a Parquet/Arrow table, or of a multi-column keys/metadata TSV.
    vector_columns : tuple of str, optional
        A wide table's vector columns, in order; one entry may be a ``prefix*`` pattern.
    keys : Path, optional
        A keys file for a table without keys: one key per line, a TSV with a header, a
        Parquet file or a Hugging Face ``tokenizer.json``.
    """

    tensor: str | None = None
    key_column: str | None = None
    vector_columns: tuple[str, ...] | None = None
    keys: Path | None = None

    def cache_tag(self) -> str:
        """Return a stable text naming these options (part of a cache entry id)."""
        if self == _DEFAULT:
            return ""
        cols = ",".join(self.vector_columns) if self.vector_columns else ""
        return f"|{self.tensor}|{self.key_column}|{cols}|{self.keys and Path(self.keys).resolve()}"


_DEFAULT = SourceOptions()
