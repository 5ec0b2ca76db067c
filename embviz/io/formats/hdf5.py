"""HDF5 files (ann-benchmarks, latentscope): the signature and the declaration; the reader is :mod:`embviz.io.hdf5`."""

from __future__ import annotations

from typing import IO

from embviz.io.formats.spec import Format, Probe

#: The HDF5 format signature, at byte 0 or, after a user block, at byte 512, 1024, 2048, ...
SIGNATURE = b"\x89HDF\r\n\x1a\n"
#: File names that suggest HDF5 (only a hint for messages: the signature decides).
SUFFIXES = (".h5", ".hdf5", ".he5")


def signature_offset(f: IO[bytes], size: int) -> int | None:
    """Return where the HDF5 signature of the open file `f` (`size` bytes) is, or None.

    As the HDF5 library looks for it: at byte 0, else at 512, 1024, 2048, ... (after a user
    block), up to the end of the file: one 8-byte read per power of two.
    """
    at = 0
    while at + 8 <= size:
        f.seek(at)
        if f.read(8) == SIGNATURE:
            return at
        at = 512 if at == 0 else at * 2
    return None


def detect(probe: Probe) -> bool:
    """Tell HDF5 by the signature at byte 0, or after a user block at 512, 1024, 2048, ..."""
    if probe.head[:8] == SIGNATURE:
        return True
    if probe.size <= 512:
        return False
    try:
        with open(probe.path, "rb") as f:
            return signature_offset(f, probe.size) is not None
    except OSError:
        return False


FORMATS = (
    Format(
        name="hdf5",
        layout="HDF5 (ann-benchmarks `train`/`test`/`neighbors`, latentscope): the dataset `--tensor` "
               "names, or the only 2-D float one; see [HDF5](#hdf5-ann-benchmarks-and-latentscope-files)",
        short="HDF5",
        read="embviz.io.hdf5:read_source",
        detect=detect,
        detect_order=80,
        extra="hdf5",
    ),
)
