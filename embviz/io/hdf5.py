r"""HDF5 files as vector tables (h5py, the optional extra ``embviz[hdf5]``, imported here only).

Two layouts are common:

- ann-benchmarks (``glove-100-angular.hdf5``, ``sift-128-euclidean.hdf5``, ...): the datasets
  ``train`` ``(n, dim)`` float32 (the vectors searched), ``test`` ``(q, dim)`` float32 (the
  queries), ``neighbors`` ``(q, 100)`` int and ``distances`` ``(q, 100)`` float32, and the
  file attribute ``distance`` (``"angular"`` or ``"euclidean"``);
- one 2-D float dataset, e.g. ``embeddings`` (latentscope and most exports).

Which dataset is the table: ``--tensor NAME`` (a path inside the file: ``train``,
``group/emb``); else ``train`` when it is a 2-D float dataset; else the only 2-D float dataset
anywhere in the file; else the only one with a known embedding name (``embeddings``, ``emb``,
...: :data:`~embviz.io.array_headers.KNOWN_NAMES`). float16, float32 and float64 are read
(either byte order), like ``.npy``: converted to the storage dtype once, a float64 value beyond
float32's range refused as infinite. Integer, string and compound datasets are refused.

Keys: ``--vocab FILE``; else a 1-D string (or integer) dataset of ``n`` rows named ``keys``,
``ids``, ``words`` or ``labels``, beside the table or at the top of the file; else the rules of
every array without keys (:func:`embviz.io.keys.resolve`: a ``NAME.keys.txt`` sidecar, ...,
row ids).

Rows are read without holding the matrix twice: a contiguous, unfiltered dataset stored in the
file is memory-mapped where it lies (``Dataset.id.get_offset()``, checked against the file's
size), as a ``.npy`` is; any other (chunked, compressed) is read block by block, whole chunks
at a time, into one preallocated matrix. Datasets whose data lie outside the file (external
storage, virtual datasets) are refused, and external links are never followed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import numpy as np

from embviz.errors import FormatError, MissingDependency
from embviz.io.array_headers import KNOWN_NAMES, _cut, _listing, _q
from embviz.io.formats.hdf5 import SIGNATURE as HDF5_SIGNATURE
from embviz.io.formats.hdf5 import signature_offset as hdf5_offset
from embviz.io.npz import _available_memory
from embviz.io.options import SourceOptions

#: Names of a dataset that holds the keys of the table, in order of preference.
KEY_DATASETS = ("keys", "ids", "words", "labels")
#: Bytes read per block from a chunked or compressed dataset (whole chunks at a time).
_BLOCK_BYTES = 16 << 20
#: What h5py raises on a damaged file or object (its own errors derive from these).
_H5_ERRORS = (OSError, KeyError, TypeError, ValueError, RuntimeError, AttributeError, IndexError)


def _h5py() -> Any:
    """Return the h5py module, or None if it is not installed."""
    try:
        import h5py
    except ImportError:
        return None
    return h5py


def _why(exc: BaseException) -> str:
    """Return the first line of an h5py error, cut for a one-line message."""
    text = str(exc.args[0]) if isinstance(exc, KeyError) and exc.args else str(exc)  # not repr()
    text = text.strip().split("\n")[0] or type(exc).__name__
    return _cut(text, 300)


def _is_float(dtype: np.dtype) -> bool:
    return dtype.kind == "f" and dtype.itemsize in (2, 4, 8)


def _describe(h5py: Any, dtype: np.dtype) -> str:
    """Describe a dataset's dtype for a message: ``float32``, ``int64``, ``string``, ``compound``."""
    if h5py.check_string_dtype(dtype) is not None:
        return "string"
    if dtype.names:
        return "compound"
    return str(dtype.newbyteorder("=")) if dtype.byteorder in "<>" else str(dtype)


def _datasets(h5py: Any, f: Any) -> dict[str, Any]:
    """Return every dataset reachable by hard links, ``{path inside the file: Dataset}``, by name."""
    found: dict[str, Any] = {}

    def visit(name: str, obj: Any) -> None:
        if isinstance(obj, h5py.Dataset):
            found[name] = obj

    f.visititems(visit)
    return found


def _shapes(h5py: Any, datasets: dict[str, Any]) -> dict[str, tuple[tuple[int, ...], str]]:
    return {k: (tuple(d.shape or ()), _describe(h5py, d.dtype)) for k, d in datasets.items()}


def choose(path: Path, h5py: Any, datasets: dict[str, Any], tensor: str | None) -> str:
    """Return the path of the table among `datasets` (see the module's rules).

    Raises
    ------
    FormatError
        If `tensor` is not a dataset of the file, or is not 2-D float; or no or several
        datasets fit (listed with their shapes, at most 10).
    """
    shapes = _shapes(h5py, datasets)
    if tensor is not None:
        name = tensor.strip("/")
        if name not in datasets:
            raise FormatError(f"{path}: no dataset {_q(tensor)} (datasets: {_listing(shapes, shapes)})")
        shape, kind = shapes[name]
        if len(shape) != 2:
            raise FormatError(
                f"{path}: dataset {_q(name)} has shape {_cut(str(list(shape)), 80)}, expected 2-D (rows, dim)"
            )
        if not _is_float(datasets[name].dtype):
            raise FormatError(
                f"{path}: dataset {_q(name)} holds {kind}, expected float16, float32 or float64 vectors"
            )
        return name
    fits = [k for k, d in datasets.items() if len(shapes[k][0]) == 2 and _is_float(d.dtype)]
    if "train" in fits:  # ann-benchmarks: the vectors searched (test holds the queries)
        return "train"
    if len(fits) == 1:
        return fits[0]
    known = [k for k in fits if KNOWN_NAMES.match(k)]
    if len(known) == 1:
        return known[0]
    if not fits:
        raise FormatError(f"{path}: no 2-D float dataset (datasets: {_listing(shapes, shapes)})")
    cands = _listing(known or fits, shapes, dtype=False)
    raise FormatError(f"{path}: several 2-D float datasets fit: {cands}; pick one with --tensor NAME")


def _outside(path: Path, name: str, dset: Any) -> None:
    """Refuse a dataset whose data are not in the file (external storage, a virtual dataset)."""
    if dset.is_virtual:
        raise FormatError(
            f"{path}: dataset {_q(name)} is virtual (its data are in other files), expected data "
            "stored in the file"
        )
    if dset.id.get_create_plist().get_external_count():
        raise FormatError(
            f"{path}: dataset {_q(name)} stores its data in external files, expected data stored in the file"
        )


def _mapped(path: Path, h5py: Any, dset: Any, rows: int) -> np.ndarray | None:
    """Memory-map the first `rows` rows of a contiguous, unfiltered dataset in place, else None.

    Only when its type is an IEEE float as numpy has them, its layout contiguous (not compact
    or chunked), its storage allocated (an unwritten dataset reads as its fill value; HDF5 then
    reports a meaningless offset when the file has a user block) and wholly inside the file.
    The dtype is the dataset's own (a copy converts it later, as for a ``.npy``).
    """
    n, dim = dset.shape
    nbytes = n * dim * dset.dtype.itemsize
    layout = dset.id.get_create_plist().get_layout()
    if layout != h5py.h5d.CONTIGUOUS or dset.chunks is not None or dset.id.get_storage_size() != nbytes:
        return None
    t, h5t = dset.id.get_type(), h5py.h5t
    if not any(t == std for std in (h5t.IEEE_F16LE, h5t.IEEE_F16BE, h5t.IEEE_F32LE, h5t.IEEE_F32BE,
                                    h5t.IEEE_F64LE, h5t.IEEE_F64BE)):
        return None  # a float of another layout: HDF5 converts it as it reads
    offset = dset.id.get_offset()
    if offset is None or nbytes == 0:
        return None
    size = path.stat().st_size
    if offset + nbytes > size:
        raise FormatError(
            f"{path}: truncated HDF5 file: dataset {_q(dset.name.lstrip('/'))} ([{n}, {dim}] "
            f"{_describe(h5py, dset.dtype)}) needs bytes {offset:,} to {offset + nbytes:,}, the file "
            f"has {size:,}"
        )
    m = np.memmap(path, dtype=dset.dtype, mode="r", offset=offset, shape=(rows, dim))
    return np.ndarray.view(m, np.ndarray)


def _read_blocks(path: Path, name: str, dset: Any, rows: int, dtype: str) -> np.ndarray:
    """Read the first `rows` rows of `dset` into one new ``(rows, dim)`` `dtype` matrix, by blocks."""
    dim = dset.shape[1]
    want = np.dtype(dtype)
    need = rows * dim * want.itemsize
    free = _available_memory()
    if free is not None and need > free:
        raise FormatError(
            f"{path}: dataset {_q(name)} needs {need:,} bytes of memory, {free:,} are available; "
            "read fewer rows with --limit"
        )
    try:
        out = np.empty((rows, dim), dtype=want)
    except (MemoryError, ValueError):
        raise FormatError(
            f"{path}: dataset {_q(name)} needs {need:,} bytes of memory, more than is available"
        ) from None
    per_row = max(1, dim * dset.dtype.itemsize)
    step = max(1, _BLOCK_BYTES // per_row)
    if dset.chunks is not None:  # whole chunks: a compressed chunk is inflated once
        c = dset.chunks[0]
        step = max(c, step // c * c)
    direct = dset.dtype == want and want.isnative
    for lo in range(0, rows, step):
        hi = min(rows, lo + step)
        if direct:
            dset.read_direct(out, np.s_[lo:hi], np.s_[lo:hi])
        else:
            with np.errstate(over="ignore"):  # float64 beyond float32: inf, refused by check_matrix
                out[lo:hi] = dset[lo:hi]
    return out


def _key_dataset(h5py: Any, datasets: dict[str, Any], table: str, n: int) -> str | None:
    """Return the path of the dataset holding the table's keys, or None.

    A 1-D dataset of `n` strings or integers named as :data:`KEY_DATASETS`, in the table's
    group first, then at the top of the file.
    """
    group = table.rpartition("/")[0]
    places = [group, ""] if group else [""]
    for place in places:
        for key in KEY_DATASETS:
            name = f"{place}/{key}" if place else key
            d = datasets.get(name)
            if d is None or d.shape != (n,):
                continue
            if h5py.check_string_dtype(d.dtype) is not None or d.dtype.kind in "iu":
                return name
    return None


def _read_keys(path: Path, h5py: Any, name: str, dset: Any, rows: int) -> list[str]:
    """Return the first `rows` keys of a 1-D string or integer dataset, as Python strings."""
    if dset.dtype.kind in "iu":
        return dset[:rows].astype(str).tolist()
    raw = dset[:rows]  # bytes: vlen strings as an object array, fixed-length as numpy bytes
    out: list[str] = []
    for i, b in enumerate(raw.tolist()):
        try:
            out.append(b.decode("utf-8") if isinstance(b, bytes) else str(b))
        except UnicodeDecodeError:
            raise FormatError(
                f"{path}: dataset {_q(name)}, row {i:,}: key {b[:40]!r} is not valid UTF-8, expected text keys"
            ) from None
    return out


def is_hdf5(path: Path) -> bool:
    """Whether `path` is a readable file with the HDF5 signature (at byte 0, 512, 1024, ...)."""
    try:
        with open(path, "rb") as f:
            return hdf5_offset(f, Path(path).stat().st_size) is not None
    except OSError:
        return False


def _open(path: Path) -> tuple[Any, Any]:
    """Return h5py and the open file `path` (read-only); one-line errors otherwise.

    Raises
    ------
    FormatError
        If the file cannot be read, has no HDF5 signature or h5py cannot open it.
    MissingDependency
        If h5py is not installed (``pip install 'embviz[hdf5]'``).
    """
    size = path.stat().st_size
    try:
        with open(path, "rb") as f:
            found = hdf5_offset(f, size)
    except OSError as exc:
        raise FormatError(f"{path}: cannot read: {exc.strerror or exc}") from None
    if found is None:
        raise FormatError(
            f"{path}: not an HDF5 file: no signature {HDF5_SIGNATURE!r} at byte 0, 512, 1024, 2048, ..."
        )
    h5py = _h5py()
    if h5py is None:
        raise MissingDependency(
            f"{path}: is an HDF5 file; reading it needs h5py (pip install 'embviz[hdf5]')"
        )
    try:
        return h5py, h5py.File(path, "r")
    except _H5_ERRORS as exc:
        raise FormatError(f"{path}: not a readable HDF5 file: {_why(exc)}") from None


#: ann-benchmarks' ``distance`` attribute -> embviz's metric (angular distance ranks as cosine).
DISTANCES = {"angular": "cosine", "euclidean": "euclidean"}


def distance_metric(path: Path) -> tuple[str | None, str | None]:
    """Return an ann-benchmarks file's ``distance`` attribute and the metric it means.

    ``("angular", "cosine")``, ``("euclidean", "euclidean")``; ``(value, None)`` for another
    distance (``"jaccard"``, ``"hamming"``); ``(None, None)`` when the file has no such
    attribute.

    Raises
    ------
    FormatError, MissingDependency
        As :func:`read_hdf5`, if the file is not a readable HDF5 file.
    """
    h5py, f = _open(path)
    try:
        with f:
            value = f.attrs.get("distance")
    except _H5_ERRORS as exc:
        raise FormatError(f"{path}: damaged HDF5 file: {_why(exc)}") from None
    if value is None:
        return None, None
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    value = _cut(str(value), 40)
    return value, DISTANCES.get(value.lower())


def has_dataset(path: Path, name: str) -> bool:
    """Whether the HDF5 file `path` holds a dataset at `name` (a path inside the file; hard links).

    Raises
    ------
    FormatError, MissingDependency
        As :func:`read_hdf5`, if the file is not a readable HDF5 file.
    """
    h5py, f = _open(path)
    try:
        with f:
            return name.strip("/") in _datasets(h5py, f)  # hard links only, as every read here
    except _H5_ERRORS:
        return False


def read_dataset(path: Path, name: str, *, columns: int | None = None) -> np.ndarray:
    """Read a 2-D numeric dataset of an HDF5 file whole: ``(rows, cols)`` in its own dtype.

    For what is not a table: ann-benchmarks' ``neighbors`` (``(q, 100)`` int ids) and
    ``test`` (``(q, dim)`` float queries).

    Parameters
    ----------
    path : Path
    name : str
        The dataset's path inside the file (``neighbors``, ``group/ids``).
    columns : int, optional
        Read only the first `columns` columns (all when the dataset has fewer).

    Returns
    -------
    ndarray ``(rows, min(cols, columns))``
        Integer or float, as stored (native byte order).

    Raises
    ------
    FormatError
        If the file is not a readable HDF5 file, has no dataset `name`, or it is not a 2-D
        array of numbers stored in the file, or does not fit in memory. One line naming the file.
    MissingDependency
        If h5py is not installed (``pip install 'embviz[hdf5]'``).
    """
    h5py, f = _open(path)
    key = name.strip("/")
    try:
        with f:
            try:
                datasets = _datasets(h5py, f)
            except _H5_ERRORS as exc:
                raise FormatError(f"{path}: damaged HDF5 file: {_why(exc)}") from None
            shapes = _shapes(h5py, datasets)
            if key not in datasets:
                raise FormatError(f"{path}: no dataset {_q(name)} (datasets: {_listing(shapes, shapes)})")
            dset = datasets[key]
            shape, kind = shapes[key]
            if len(shape) != 2:
                raise FormatError(
                    f"{path}: dataset {_q(key)} has shape {_cut(str(list(shape)), 80)}, expected 2-D (rows, columns)"
                )
            if dset.dtype.kind not in "fiu" or dset.dtype.names:
                raise FormatError(f"{path}: dataset {_q(key)} holds {kind}, expected numbers")
            _outside(path, key, dset)
            cols = shape[1] if columns is None else min(columns, shape[1])
            need = shape[0] * cols * dset.dtype.itemsize
            free = _available_memory()
            if free is not None and need > free:
                raise FormatError(
                    f"{path}: dataset {_q(key)} needs {need:,} bytes of memory, {free:,} are available"
                )
            data = dset[:, :cols]
            return data.astype(data.dtype.newbyteorder("="), copy=False)
    except FormatError:
        raise
    except _H5_ERRORS as exc:
        raise FormatError(f"{path}: dataset {_q(key)} cannot be read: {_why(exc)}") from None


def read_hdf5(
    path: Path, options: SourceOptions, limit: int | None, dtype: str
) -> tuple[np.ndarray, int, tuple[Sequence[str], str] | None]:
    """Read the table of an HDF5 file: ``(matrix, rows in the file, keys or None)``.

    Parameters
    ----------
    path : Path
        The file (its HDF5 signature is at byte 0, or at 512, 1024, 2048, ... after a user block).
    options : SourceOptions
        ``tensor`` names the dataset (a path inside the file); with ``keys`` (``--vocab``) the
        file's own keys dataset is not looked for.
    limit : int, optional
        Read at most this many rows.
    dtype : {"float32", "float16"}
        The storage dtype of a matrix read block by block (a mapped one keeps the file's dtype,
        converted later as a ``.npy`` is).

    Returns
    -------
    matrix : ndarray ``(min(n, limit), dim)``
        float16/32/64 as stored when memory-mapped (read-only), else `dtype`.
    rows : int
        The dataset's row count ``n``, before `limit` (a keys file must have ``n`` keys).
    keys : (list of str, str) or None
        The keys of the rows read and where they came from (``"dataset keys"``), when the file
        holds them; None otherwise.

    Raises
    ------
    MissingDependency
        If h5py is not installed (``pip install 'embviz[hdf5]'``).
    FormatError
        If the file is not HDF5, is truncated or damaged, the dataset is absent, ambiguous, not
        2-D or not float, or its data are outside the file. One line naming the file.
    """
    h5py, f = _open(path)
    name = None
    try:
        with f:
            try:
                datasets = _datasets(h5py, f)
            except _H5_ERRORS as exc:
                raise FormatError(f"{path}: damaged HDF5 file: {_why(exc)}") from None
            name = choose(path, h5py, datasets, options.tensor)
            dset = datasets[name]
            _outside(path, name, dset)
            n = dset.shape[0]
            rows = n if limit is None else min(limit, n)
            matrix = _mapped(path, h5py, dset, rows)
            if matrix is None:
                matrix = _read_blocks(path, name, dset, rows, dtype)
            keys = None
            if options.keys is None:
                kname = _key_dataset(h5py, datasets, name, n)
                if kname is not None:
                    keys = (_read_keys(path, h5py, kname, datasets[kname], rows), f"dataset {kname}")
            return matrix, n, keys
    except FormatError:
        raise
    except _H5_ERRORS as exc:
        where = f"dataset {_q(name)} cannot be read" if name else "damaged HDF5 file"
        raise FormatError(f"{path}: {where}: {_why(exc)}") from None


def read_source(path: Path, fmt: str, options: SourceOptions, limit: int | None, dtype: str) -> tuple:
    """Read an HDF5 file as a table: ``(keys, matrix (n, dim) of dtype, where the keys came from)``.

    The reader of the ``hdf5`` row of :data:`embviz.io.formats.FORMATS`: the dataset
    `--tensor` names (or the only 2-D float one), at most `limit` rows, and its keys.
    """
    from embviz.io.arrays import from_array, require_file

    require_file(path, fmt)
    arr, total, found = read_hdf5(path, options, limit, dtype)  # reads at most `limit` rows
    return from_array(path, arr, options, limit, dtype, total, found)
