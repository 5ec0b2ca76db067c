"""Reproducers for the bare-array readers under attack (issue 25): .npy, .npz, safetensors, .pt.

Each test builds its hostile file by hand and asserts one ``FormatError`` line naming the file,
where, and what was expected; the safetensors cases also assert that the reference library
(``safetensors.numpy.load_file``) refuses the same file, so embviz is never more lenient than
the format's own reader. The guarantees are described in docs/_drafts/errors-arrays.md.
"""

from __future__ import annotations

import io
import json
import os
import pickle
import struct
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

from embviz.errors import EmbvizError, FormatError, MissingDependency
from embviz.io import load


def ld(path: Path, **kw):
    return load(path, cache=False, **kw)


def refused(path: Path, *parts: str, **kw) -> str:
    """Load `path`, expect one FormatError line starting with the path and holding `parts`."""
    with pytest.raises(FormatError) as exc:
        ld(path, **kw)
    msg = str(exc.value)
    assert "\n" not in msg and len(msg) < 1_200, msg
    assert msg.startswith(f"{path}: "), msg
    for part in parts:
        assert part in msg, (part, msg)
    return msg


# -- .npy headers ----------------------------------------------------------------------------
def npy_bytes(header: str, data: bytes = b"\0" * 24, version: int = 1) -> bytes:
    """A .npy file whose header dict is `header`, verbatim."""
    text = header.encode("latin1")
    text += b" " * (63 - (12 + len(text)) % 64) + b"\n"
    size = struct.pack("<H", len(text)) if version == 1 else struct.pack("<I", len(text))
    return b"\x93NUMPY" + bytes([version, 0]) + size + text + data


@pytest.mark.parametrize(("shape", "expected"), [
    ("(-1, 3)", "shape (-1, 3), expected non-negative integers"),
    ("(2, -3)", "shape (2, -3), expected non-negative integers"),
    ("(True, 3)", "shape (True, 3), expected non-negative integers"),
    (f"({2**62}, 4)", f"shape ({2**62}, 4) is too big for any array"),
    (f"({2**64}, 0)", f"shape ({2**64}, 0) is too big for any array"),
], ids=["negative", "negative-dim", "bool", "2**62-rows", "2**64-rows"])
def test_npy_header_shapes_that_are_not_sizes(tmp_path, shape, expected):
    """Today: ValueError/TypeError/OverflowError from np.prod and np.memmap (internal errors)."""
    p = tmp_path / "h.npy"
    p.write_bytes(npy_bytes(f"{{'descr': '<f4', 'fortran_order': False, 'shape': {shape}, }}"))
    assert refused(p, expected) == f"{p}: .npy header: {expected}"


def test_npy_header_size_is_checked_against_the_file(tmp_path):
    p = tmp_path / "h.npy"
    p.write_bytes(npy_bytes("{'descr': '<f4', 'fortran_order': False, 'shape': (4, 3), }"))
    refused(p, "truncated .npy: header says [4, 3] float32 (", " bytes) but the file has ")


def test_npy_unknown_version_and_oversized_header_are_refused_unread(tmp_path):
    p = tmp_path / "v.npy"
    blob = bytearray(npy_bytes("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }"))
    blob[6] = 4  # numpy.load refuses version 4.0; embviz read it as 2.0
    p.write_bytes(bytes(blob))
    refused(p, ".npy format version 4.0, expected 1.0, 2.0 or 3.0", format="npy")
    p.write_bytes(b"\x93NUMPY\x02\x00" + struct.pack("<I", 2**31) + b"{" + b" " * 100)
    refused(p, ".npy header of 2,147,483,648 bytes, more than numpy's limit of 10,000")


# -- .npz archives ---------------------------------------------------------------------------
def _npz(path: Path, compressed: bool = True) -> np.ndarray:
    a = np.arange(600, dtype="<f4").reshape(100, 6)
    (np.savez_compressed if compressed else np.savez)(path, emb=a)
    return a


def _member_data_offset(path: Path) -> int:
    info = zipfile.ZipFile(path).infolist()[0]
    with open(path, "rb") as f:
        f.seek(info.header_offset + 26)
        name_len, extra_len = struct.unpack("<HH", f.read(4))
    return info.header_offset + 30 + name_len + extra_len


def test_npz_corrupt_deflate_data_is_one_line(tmp_path):
    """Today: zlib.error 'Error -3 while decompressing data' escaped (internal error)."""
    p = tmp_path / "c.npz"
    _npz(p)
    raw = bytearray(p.read_bytes())
    start = _member_data_offset(p)
    for i in range(60, 80):
        raw[start + i] ^= 0x55
    p.write_bytes(bytes(raw))
    refused(p, "member 'emb.npy' is damaged: error: Error -3 while decompressing data")


def test_npz_bad_crc_is_one_line(tmp_path):
    p = tmp_path / "crc.npz"
    _npz(p, compressed=False)
    raw = bytearray(p.read_bytes())
    raw[_member_data_offset(p) + 200] ^= 1  # inside the stored array: the CRC-32 no longer matches
    p.write_bytes(bytes(raw))
    refused(p, "member 'emb.npy' is damaged: Bad CRC-32 for file 'emb.npy'")


@pytest.mark.parametrize(("field", "value", "expected"), [
    ("method", 99, "member 'emb.npy' uses zip compression method 99, expected stored, deflate, bzip2 or lzma"),
    ("flags", 1, "member 'emb.npy' is encrypted or patched (zip flags 0x1), expected plain data"),
], ids=["method-99", "encrypted"])
def test_npz_unsupported_compression_or_encryption_is_one_line(tmp_path, field, value, expected):
    """Today: NotImplementedError / RuntimeError from zipfile (internal errors)."""
    p = tmp_path / "m.npz"
    _npz(p)
    raw = bytearray(p.read_bytes())
    local, central = 0, raw.find(b"PK\x01\x02")
    if field == "method":
        raw[local + 8 : local + 10] = raw[central + 10 : central + 12] = struct.pack("<H", value)
    else:
        raw[local + 6] |= value
        raw[central + 8] |= value
    p.write_bytes(bytes(raw))
    refused(p, expected)


def test_npz_member_size_must_match_its_header(tmp_path):
    """numpy.load reads a header's count of items and ignores the rest: embviz is exact."""
    p = tmp_path / "s.npz"
    buf = io.BytesIO()
    np.save(buf, np.ones((2, 3), "<f4"))
    with zipfile.ZipFile(p, "w") as z:
        z.writestr("emb.npy", buf.getvalue() + b"\0" * 8)
    refused(p, "member 'emb.npy' holds 160 bytes but its header says [2, 3] float32 (152 bytes)")
    with zipfile.ZipFile(p, "w") as z:
        z.writestr("emb.npy", buf.getvalue()[:-8])
    refused(p, "member 'emb.npy' holds 144 bytes but its header says [2, 3] float32 (152 bytes)")


def test_npz_duplicate_member_names_are_refused(tmp_path):
    p = tmp_path / "d.npz"
    buf = io.BytesIO()
    np.save(buf, np.ones((2, 3), "<f4"))
    with zipfile.ZipFile(p, "w") as z, pytest.warns(UserWarning):
        z.writestr("emb.npy", buf.getvalue())
        z.writestr("emb.npy", buf.getvalue())
    refused(p, "two members are named 'emb.npy', expected one")


def _bomb(path: Path, rows: int, dim: int) -> None:
    """A deflated .npz whose one float32 member is all zeros: ~1,000 times smaller than the array."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z, z.open("emb.npy", "w", force_zip64=True) as f:
        np.lib.format.write_array_header_1_0(f, {"descr": "<f4", "fortran_order": False, "shape": (rows, dim)})
        left, chunk = rows * dim * 4, bytes(1 << 22)
        while left:
            f.write(chunk[: min(left, len(chunk))])
            left -= min(left, len(chunk))


_PEAK = """
import sys
from embviz.io import load
from embviz.errors import EmbvizError
try:
    load(sys.argv[1], cache=False)
    print("loaded")
except EmbvizError as exc:
    print(f"refused: {exc}")
# VmHWM, not ru_maxrss: after fork+exec, ru_maxrss starts from the parent's peak (the test
# process, over 1 GB late in a full run), VmHWM is this program's own
with open("/proc/self/status") as f:
    print(next(int(line.split()[1]) for line in f if line.startswith("VmHWM:")) // 1024)
"""


def test_npz_zip_bomb_is_refused_before_inflating(tmp_path):
    """200 MB of zeros in 200 KB: today it is inflated (peak RSS above 230 MiB), now refused unread.

    The issue's 1.1 MB file inflating to 1.2 GB measured 1,183 MiB peak RSS before, 37 MiB after.
    """
    p = tmp_path / "bomb.npz"
    _bomb(p, 50_000, 1_000)
    assert p.stat().st_size < 250_000
    run = subprocess.run([sys.executable, "-c", _PEAK, str(p)], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    outcome, peak = run.stdout.strip().rsplit("\n", 1)
    assert outcome.startswith(f"refused: {p}: array 'emb' would inflate "), outcome
    assert "to 200,000,128 (" in outcome and "as a zip bomb" in outcome, outcome
    assert int(peak) < 150, f"peak RSS {peak} MiB: the member was inflated"


def test_npz_that_compresses_well_below_64_mib_still_loads(tmp_path):
    p = tmp_path / "zeros.npz"
    np.savez_compressed(p, emb=np.zeros((2_000, 100), np.float32) + np.eye(2_000, 100, dtype=np.float32))
    v = ld(p)
    assert v.matrix.shape == (2_000, 100) and np.array_equal(v.matrix, np.load(p)["emb"])


# -- safetensors -----------------------------------------------------------------------------
F32_2x3 = np.arange(6, dtype="<f4").tobytes()
ENTRY = {"dtype": "F32", "shape": [2, 3], "data_offsets": [0, 24]}


def st_file(path: Path, header: dict | None, data: bytes = F32_2x3, raw: bytes | None = None) -> Path:
    text = raw if raw is not None else json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(text)) + text + data)
    return path


def reference_refuses(path: Path) -> None:
    from safetensors import SafetensorError
    from safetensors.numpy import load_file

    with pytest.raises((SafetensorError, ValueError, TypeError)):
        load_file(str(path))


def _entry(**kw) -> dict:
    return {"e": {**ENTRY, **kw}}


@pytest.mark.parametrize(("header", "data", "expected"), [
    # loaded today, refused by the reference
    (_entry(shape=[True, 3]), F32_2x3[:12], "tensor 'e': shape [True, 3], expected a list of non-negative integers"),
    (_entry(shape=["2", "3"]), F32_2x3, "tensor 'e': shape ['2', '3'], expected a list of non-negative integers"),
    (_entry(shape=[2.0, 3]), F32_2x3, "tensor 'e': shape [2.0, 3], expected a list of non-negative integers"),
    ({"e": ENTRY, "f": ENTRY}, F32_2x3,
     "tensor 'f' starts at byte 0 of the data section, expected 24 (tensors overlap or leave a gap)"),
    (_entry(data_offsets=[4, 28]), b"\0" * 4 + F32_2x3,
     "tensor 'e' starts at byte 4 of the data section, expected 0 (tensors overlap or leave a gap)"),
    ({"e": ENTRY, "b": {"dtype": "F32", "shape": [1], "data_offsets": [28, 32]}}, F32_2x3 + b"\0" * 8,
     "tensor 'b' starts at byte 28 of the data section, expected 24 (tensors overlap or leave a gap)"),
    ({"__metadata__": {"a": 1}, **_entry()}, F32_2x3, "__metadata__ is {'a': 1}, expected an object of strings"),
    ({"__metadata__": ["a"], **_entry()}, F32_2x3, "__metadata__ is ['a'], expected an object of strings"),
    # internal errors today
    (_entry(shape=[-2, -3]), F32_2x3, "tensor 'e': shape [-2, -3], expected a list of non-negative integers"),
    (_entry(shape=[2**32, 2**32], data_offsets=[0, 0]), b"",  # np.prod wraps to 0 bytes
     "tensor 'e': shape [4294967296, 4294967296] is too big for any array"),
    (_entry(data_offsets=["0", "24"]), F32_2x3,
     "tensor 'e': data_offsets ['0', '24'], expected [begin, end] (two non-negative integers)"),
    (_entry(dtype=["F32"]), F32_2x3, "tensor 'e' has dtype ['F32'], expected one of F64, F32, F16, BF16"),
    (_entry(data_offsets=[0.0, 24]), F32_2x3,
     "tensor 'e': data_offsets [0.0, 24], expected [begin, end] (two non-negative integers)"),
], ids=["bool-shape", "string-shape", "float-shape", "overlap", "gap-before", "gap-between", "metadata-int",
        "metadata-list", "negative-shape", "shape-bytes-wrap-to-0", "string-offsets", "list-dtype", "float-offsets"])
def test_safetensors_headers_the_reference_refuses(tmp_path, header, data, expected):
    p = st_file(tmp_path / "m.safetensors", header, data)
    reference_refuses(p)
    refused(p, expected)


@pytest.mark.parametrize(("raw", "expected"), [
    (b'{"__metadata__":' + b"[" * 100_000 + b"]" * 100_000 + b"}", "safetensors header is not valid JSON: nested too deeply"),
    (b'{"e":{"dtype":"F32","shape":[2,3],"data_offsets":[-0,24]}}', "data_offsets [-0.0, 24], expected [begin, end]"),
    (b'{"\\ud800":{"dtype":"F32","shape":[2,3],"data_offsets":[0,24]}}', "not valid JSON: a lone surrogate"),
    (b'{"e":{"dtype":"F32","shape":[2,3],"data_offsets":[0,24],"x":NaN}}', "not valid JSON: NaN is not JSON"),
    (b'{"e":{"dtype":"F32","shape":[18446744073709551616,0],"data_offsets":[0,24]}}',
     "integer 18446744073709551616 is out of the 64-bit range"),
], ids=["deep-metadata", "minus-zero", "lone-surrogate", "nan", "beyond-u64"])
def test_safetensors_json_the_reference_refuses(tmp_path, raw, expected):
    """Python's json takes these (or dies of RecursionError); serde_json, the reference's, does not."""
    p = st_file(tmp_path / "j.safetensors", None, F32_2x3, raw=raw)
    reference_refuses(p)
    refused(p, expected, format="safetensors")


def test_safetensors_duplicate_names_are_refused_deliberately(tmp_path):
    """The reference keeps the last of two entries named alike; embviz refuses the ambiguity."""
    from safetensors.numpy import load_file

    e = json.dumps(ENTRY)
    p = st_file(tmp_path / "d.safetensors", None, raw=f'{{"e":{e},"e":{e}}}'.encode())
    assert list(load_file(str(p))) == ["e"]
    refused(p, "key 'e' appears twice in one object")


def test_safetensors_files_the_reference_loads_give_its_values(tmp_path):
    """Zero-size tensors sharing an offset, null metadata, extra fields: loaded, same values."""
    from safetensors.numpy import load_file

    header = {"__metadata__": None, "z": {"dtype": "F32", "shape": [0, 3], "data_offsets": [0, 0]},
              "y": {"dtype": "F32", "shape": [0, 3], "data_offsets": [0, 0]},
              "emb": {**ENTRY, "x": {"any": [1, "thing"]}}, "s": {"dtype": "U16", "shape": [2], "data_offsets": [24, 28]}}
    p = st_file(tmp_path / "ok.safetensors", header, F32_2x3 + b"\1\0\2\0")
    ref = load_file(str(p))
    assert np.array_equal(ld(p, tensor="emb").matrix, ref["emb"])


def test_error_lines_stay_short_with_huge_names(tmp_path):
    names = {("n" * 5_000) + str(i): {"dtype": "F32", "shape": [1, 1], "data_offsets": [4 * i, 4 * i + 4]} for i in range(50)}
    p = st_file(tmp_path / "many.safetensors", names, b"\0" * 200)
    msg = refused(p, "several 2-D arrays fit: ", "... (40 more); pick one with --tensor NAME")
    assert len(msg) < 1_200


# -- PyTorch ---------------------------------------------------------------------------------
class _RunsCode:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def _evil_pt(tmp_path: Path) -> tuple[Path, Path]:
    """A torch-style zip whose data.pkl runs ``touch MARKER`` when unpickled."""
    marker = tmp_path / "pwned"
    p = tmp_path / "evil.pt"
    with zipfile.ZipFile(p, "w") as z:
        z.writestr("archive/data.pkl", pickle.dumps({"emb": _RunsCode(marker)}, protocol=2))
        z.writestr("archive/version", b"3\n")
    return p, marker


def test_pytorch_pickle_that_runs_code_is_never_run(tmp_path):
    """With or without torch: one line, and the pickle's code never runs."""
    p, marker = _evil_pt(tmp_path)
    with pytest.raises(EmbvizError) as exc:
        ld(p)
    assert "\n" not in str(exc.value) and str(exc.value).startswith(f"{p}: ")
    assert isinstance(exc.value, (MissingDependency, FormatError))
    assert not marker.exists()


# With torch installed (the test extra), this file takes the torch.load(weights_only=True) path;
# tests/test_torch.py writes real checkpoints carrying os.system with torch.save and checks the
# same: one line, the marker never written.


def test_npz_sizes_deflate_cannot_produce_are_refused_before_allocating(tmp_path):
    """A header and zip entry claiming 10 MB from ~100 deflated bytes: refused, nothing allocated."""
    p = tmp_path / "lie.npz"
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, {"descr": "<f4", "fortran_order": False, "shape": (2_500_000, 1)})
    with zipfile.ZipFile(p, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("emb.npy", buf.getvalue() + b"\0" * 64)
    raw = bytearray(p.read_bytes())
    real = len(buf.getvalue()) + 64
    claimed = len(buf.getvalue()) + 10_000_000
    for sig, at in ((b"PK\x03\x04", 22), (b"PK\x01\x02", 24)):  # uncompressed size, local and central
        i = raw.find(sig)
        assert struct.unpack("<I", raw[i + at : i + at + 4])[0] == real
        raw[i + at : i + at + 4] = struct.pack("<I", claimed)
    p.write_bytes(bytes(raw))
    refused(p, f"array 'emb' claims {claimed:,} bytes from ", "deflate bytes, more than that method can produce")


def test_npz_with_bytes_before_the_zip_is_refused_as_numpy_does(tmp_path):
    """Found by the fuzzing: zipfile skips a prefix (self-extracting archives), numpy.load does not."""
    p = tmp_path / "prefix.npz"
    _npz(p)
    p.write_bytes(b"\n" * 8 + p.read_bytes())
    with pytest.raises(ValueError):
        np.load(p, allow_pickle=False)
    refused(p, "starts b'\\n\\n\\n\\n', expected a zip archive (b'PK\\x03\\x04')", format="npz")
