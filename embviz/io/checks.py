"""Guards every reader shares: corrupt compressed streams, runaway lines, values out of range.

Hostile or damaged files must end in one :class:`~embviz.errors.FormatError` line naming the
file and the place (line, record or byte offset), never in a codec's own exception, a hang,
a memory bomb or silently wrong numbers (see docs/errors.md, "Guarantees").
"""

from __future__ import annotations

import lzma
import os
import zlib
from pathlib import Path
from typing import IO, Callable, TypeVar

import numpy as np

from embviz.errors import FormatError

#: The longest text line accepted before a newline, in bytes, for a known `dim`:
#: a 64 KiB key plus 32 bytes per value (``-1.2345678901234567e-300`` is 24).
LINE_SLACK = 1 << 16
BYTES_PER_VALUE = 32
#: Largest float32 (``np.finfo(np.float32).max``).
_F32_MAX = float(np.finfo(np.float32).max)
#: Largest float16.
F16_MAX = 65504.0

T = TypeVar("T")
_CODEC_ERRORS = (OSError, EOFError, zlib.error, lzma.LZMAError, ValueError)


def max_line_bytes(dim: int) -> int:
    """Return the longest line a text row of `dim` values may plausibly take, in bytes."""
    return LINE_SLACK + BYTES_PER_VALUE * max(int(dim), 1)


class DecodedStream:
    """A decompressing stream whose corruption errors become one :class:`FormatError`.

    gzip, bz2 and lzma raise ``zlib.error``, ``OSError``, ``EOFError`` or ``LZMAError`` on
    a bad block, a bad CRC or a truncated member; this wrapper names the file, the codec
    and the byte offset of the decompressed stream reached.
    """

    def __init__(self, raw: IO[bytes], path: Path, codec: str) -> None:
        self._raw = raw
        self.path = path
        self.codec = codec
        self.offset = 0  # decompressed bytes handed out so far

    def read(self, size: int = -1) -> bytes:
        """Read up to `size` decompressed bytes (all if negative)."""
        return self._guard(self._raw.read, size)

    def read1(self, size: int = -1) -> bytes:
        """Read up to `size` decompressed bytes with at most one call to the codec."""
        return self._guard(self._raw.read1, size)

    def readline(self, size: int = -1) -> bytes:
        """Read one line (at most `size` bytes)."""
        return self._guard(self._raw.readline, size)

    def __iter__(self) -> DecodedStream:
        return self

    def __next__(self) -> bytes:
        line = self.readline()
        if not line:
            raise StopIteration
        return line

    def _guard(self, call, size: int) -> bytes:  # noqa: ANN001
        try:
            data = call(size)
        except FormatError:
            raise
        except _CODEC_ERRORS as exc:
            raise FormatError(
                f"{self.path}: cannot decompress: {exc}: corrupt {self.codec} data at byte "
                f"{self._compressed_offset()} of the file ({self.offset:,} bytes decompressed; "
                "damaged or truncated?)"
            ) from None
        self.offset += len(data)
        return data

    def _compressed_offset(self) -> str:
        """How far the codec read the compressed file (``"?"`` if it cannot tell)."""
        raw = getattr(self._raw, "fileobj", None) or getattr(self._raw, "_fp", None)
        try:
            return f"{raw.tell():,}"
        except (AttributeError, OSError, ValueError):
            return "?"

    def close(self) -> None:
        """Close the underlying stream."""
        try:
            self._raw.close()
        except _CODEC_ERRORS:  # closing a corrupt stream must not raise again
            pass

    def __enter__(self) -> DecodedStream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __getattr__(self, name: str):  # noqa: ANN204 - fileno, seekable, ... of the codec
        return getattr(self._raw, name)


def check_rows(
    path: Path, matrix: np.ndarray, keys: list[str], where: np.ndarray | None, what: str = "line"
) -> None:
    """Refuse rows whose values are not finite in `matrix`'s dtype or whose norm overflows.

    A value beyond float16's range (65,504) turns into ``inf`` in a float16 table, and a
    float32 row whose squared norm exceeds float32's range (about 3.4e38) makes its norm
    ``inf`` and every score with it NaN: both are refused here, with the row named.

    Parameters
    ----------
    path : Path
        The file, for the message.
    matrix : ndarray ``(n, dim)``, float32 or float16
    keys : list of str, ``(n,)``
    where : ndarray ``(n,)`` int, optional
        Line (text) or record (binary) number of each row.
    what : str
        ``"line"`` or ``"record"``.

    Raises
    ------
    FormatError
        Naming the first offending row, its key and the value.
    """
    if matrix.size == 0:
        return
    n, dim = matrix.shape
    step = max(1, (1 << 22) // max(dim, 1))
    limit = np.sqrt(_F32_MAX / dim)  # every |value| below this: no squared norm can overflow
    for lo in range(0, n, step):
        block = np.asarray(matrix[lo : lo + step])
        if block.dtype == np.float32:  # one pass: a NaN, an inf or an overflowing norm shows in
            with np.errstate(all="ignore"):  # the float32 squared norms; half the range is
                sq32 = np.einsum("ij,ij->i", block, block)  # far beyond rounding error
            if (sq32 < _F32_MAX / 2).all():
                continue
        finite = np.isfinite(block).all(axis=1)
        if not finite.all():
            i = int(np.flatnonzero(~finite)[0])
            _refuse(path, lo + i, keys, where, what,
                    f"a value is beyond the range of {block.dtype} "
                    + (f"(largest {F16_MAX:,.0f}); load it with --dtype float32"
                       if block.dtype == np.float16 else ""))
        big = np.abs(block).max() if block.dtype != np.float16 else 0.0
        if big >= limit:
            sq = np.einsum("ij,ij->i", block.astype(np.float64), block.astype(np.float64))
            bad = np.flatnonzero(sq > _F32_MAX)
            if len(bad):
                i = int(bad[0])
                _refuse(path, lo + i, keys, where, what,
                        f"its squared norm {sq[i]:.3g} overflows float32 (values up to about "
                        f"{limit:.3g} in {dim} dimensions are accepted)")


def _refuse(path: Path, i: int, keys: list[str], where, what: str, why: str) -> None:
    place = f"{what} {int(where[i]):,}" if where is not None and i < len(where) else f"row {i + 1:,}"
    key = keys[i] if i < len(keys) else "?"
    shown = key if len(key) <= 40 else key[:40] + "..."
    raise FormatError(f"{path}: {place} ({shown!r}): {why.rstrip()}")


def is_stream(path: str | os.PathLike) -> bool:
    """Whether `path` is a pipe, a socket or a character device (``/dev/stdin``, ``<(cmd)``)."""
    import stat

    try:
        mode = os.stat(path).st_mode
    except OSError:
        return False
    return stat.S_ISFIFO(mode) or stat.S_ISCHR(mode) or stat.S_ISSOCK(mode)


def read_stream(path: Path, read: Callable[[Path], T]) -> T:
    """Copy the stream `path` to a temporary file once and ``read`` that, without the cache.

    A pipe can be read only once, but sniffing looks at the start of a file and the readers
    then read it from the beginning: so the stream is spooled first (to ``$TMPDIR``), and
    errors name `path`, not the temporary file.
    """
    import shutil
    import tempfile

    fd, name = tempfile.mkstemp(prefix="embviz-stream-")
    tmp = Path(name)
    try:
        with os.fdopen(fd, "wb") as out, open(path, "rb") as src:
            shutil.copyfileobj(src, out, 1 << 20)
        try:
            vectors = read(tmp)
        except FormatError as exc:
            raise FormatError(str(exc).replace(str(tmp), str(path))) from None
        if hasattr(vectors, "source"):
            vectors.source = path.name
        return vectors
    except OSError as exc:
        raise FormatError(f"{path}: cannot read the stream: {exc.strerror or exc}") from None
    finally:
        tmp.unlink(missing_ok=True)
