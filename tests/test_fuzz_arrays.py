"""Fuzzing the bare-array readers (Hypothesis): .npy headers, .npz archives, safetensors headers.

Each family makes a valid file with the format's own writer (numpy, safetensors), then mutates
it: header fields replaced by hostile values (negative, boolean, huge, float or string
dimensions; unknown dtypes; lying sizes and offsets; deep or duplicated JSON), zip structure
fields (compression method, flags, sizes, CRC), or plain bytes (tests/test_fuzz.py's
mutations). Properties, as in tests/test_fuzz.py:

1. nothing but an ``EmbvizError`` escapes :func:`embviz.io.load`, as one line;
2. a file that loads gives exactly the values of the format's reference reader
   (``numpy.load(allow_pickle=False)``, ``safetensors.numpy.load_file``), converted to float32;
3. no hang: each load finishes within 30 s (SIGALRM);
4. bounded memory: a load's peak RSS grows by at most 48 MiB (``/proc/self/clear_refs``;
   the files are a few KB, so any allocation sized from an unchecked header shows).

Each family runs the profile's ``max_examples`` (tests/conftest.py: 2,000 in ``ci``, 25,000 in
``long``). ``EMBVIZ_FUZZ_TALLY=FILE`` writes the count of files by family and outcome (tried /
loaded and equal / refused with one line / other) to FILE; ``EMBVIZ_FUZZ_KEEP_GOING=DIR``
records failing files in DIR and goes on, for the long run.
"""

from __future__ import annotations

import atexit
import io
import json
import os
import re
import shutil
import signal
import struct
import tempfile
import warnings
import zipfile
from collections import Counter
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_fuzz import VALUE, mutate, mutations

from embviz import io as eio
from embviz.errors import EmbvizError
from embviz.io import arrays

_DIR = Path(tempfile.mkdtemp(prefix="embviz-fuzz-arrays-"))
atexit.register(shutil.rmtree, _DIR, ignore_errors=True)  # a full run leaves nothing in /tmp
TALLY: Counter = Counter()
SNIFFER_ERRORS: dict[str, str] = {}
_FUZZ = settings(deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
_MAX_GROWTH = 48 << 20  # bytes of peak RSS a load of a few-KB file may add
_TIMEOUT = 30  # seconds per load


# -- generating valid arrays -------------------------------------------------------------------
DTYPES = st.sampled_from(["<f4", "<f4", "<f8", "<f2", ">f4", "<i4", "|u1", "|b1"])


@st.composite
def matrices(draw) -> np.ndarray:
    n, dim = draw(st.integers(1, 6)), draw(st.integers(1, 5))
    values = np.array(draw(st.lists(VALUE, min_size=n * dim, max_size=n * dim)), dtype=np.float32)
    with np.errstate(all="ignore"):
        m = values.reshape(n, dim).astype(draw(DTYPES))
    return np.asfortranarray(m) if draw(st.booleans()) else m


def npy_bytes(m: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, m)
    return buf.getvalue()


# hostile values for header fields: dimensions, sizes, dtypes, JSON values
INTS = st.one_of(st.integers(-3, 12), st.sampled_from([-1, -(2**63), 2**31, 2**32, 2**62, 2**63 - 1, 2**63, 2**64 - 1,
                                                      2**64, 10**30]))
ODD = st.one_of(st.booleans(), st.floats(allow_nan=True), st.text(max_size=4), st.none())
DIM = st.one_of(INTS, INTS, ODD)


# -- the watchdogs ---------------------------------------------------------------------------
class Hang(Exception):
    """A load took longer than _TIMEOUT seconds."""


@contextmanager
def watched():
    """Fail on a hang (SIGALRM) and yield a function returning the peak RSS growth in bytes."""
    def hwm() -> int:
        with open("/proc/self/status", "rb") as f:
            return int(re.search(rb"VmHWM:\s+(\d+)", f.read()).group(1)) * 1024

    def alarm(signum, frame):  # noqa: ARG001
        raise Hang(f"a load took more than {_TIMEOUT} s")

    try:
        with open("/proc/self/clear_refs", "w") as f:  # reset the peak to the current RSS
            f.write("5")
        base = hwm()
    except OSError:  # not Linux: memory is not measured
        base = None
    old = signal.signal(signal.SIGALRM, alarm)
    signal.alarm(_TIMEOUT)
    try:
        yield lambda: (hwm() - base) if base is not None else 0
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


# -- the properties --------------------------------------------------------------------------
class Refused(Exception):
    """The reference reader refuses the file."""


def check(path: Path, family: str, reference) -> str:
    """Load `path` (sniffed; the family's format if the sniffer places it elsewhere), check 1-4."""
    try:
        fmt = eio.sniff(path).format.value
    except EmbvizError:
        fmt = None
    except Exception as exc:  # noqa: BLE001 - embviz/io/sniffing.py: see test_sniffer_on_hostile_zips
        TALLY[f"{family} sniffer error"] += 1
        SNIFFER_ERRORS.setdefault(type(exc).__name__, str(path))
        fmt = None
    explicit = None if fmt == family else family
    with warnings.catch_warnings(), watched() as growth:
        warnings.simplefilter("ignore")
        try:
            v = eio.load(path, explicit, cache=False)
            outcome = "loaded"
        except EmbvizError as exc:  # property 1
            msg = str(exc)
            assert "\n" not in msg and len(msg) < 2100, msg
            assert msg.startswith(str(path)), msg
            outcome = "refused"
        grew = growth()
    assert grew <= _MAX_GROWTH, f"peak RSS grew by {grew:,} bytes loading a {path.stat().st_size:,}-byte file"
    if outcome == "refused":
        return outcome
    name = {"npy": lambda: None, "npz": lambda: arrays.read_npz(path, None)[1],
            "safetensors": lambda: arrays.read_safetensors(path, None)[1]}[family]()
    try:
        ref = reference(path, name)
    except Refused as why:
        raise AssertionError(f"embviz loaded a {family} file its reference refuses ({why})") from None
    with np.errstate(all="ignore"):
        ref = np.asarray(ref, dtype=np.float32)
    assert ref.ndim == 2 and v.matrix.shape == ref.shape, (v.matrix.shape, ref.shape)
    assert np.array_equal(np.asarray(v.matrix), ref), "values differ from the reference"  # property 2
    assert list(v.keys) == [str(i) for i in range(len(ref))]
    return outcome


def tally(family: str, blob: bytes, suffix: str, reference) -> None:
    path = _DIR / f"f{suffix}"
    path.write_bytes(blob)
    TALLY[f"{family} tried"] += 1
    try:
        outcome = check(path, family, reference)
    except Exception as exc:
        TALLY[f"{family} other"] += 1
        keep = os.environ.get("EMBVIZ_FUZZ_KEEP_GOING")
        if not keep:
            raise
        Path(keep).mkdir(parents=True, exist_ok=True)
        stem = Path(keep) / f"{TALLY[f'{family} other']:04d}-{family}"
        stem.with_suffix(suffix).write_bytes(blob)
        stem.with_suffix(".why").write_text(f"{type(exc).__name__}: {exc}"[:4000])
        return
    TALLY[f"{family} {outcome}"] += 1


@pytest.fixture(scope="module", autouse=True)
def _tally():
    yield
    out = os.environ.get("EMBVIZ_FUZZ_TALLY")
    if out:
        Path(out).write_text(json.dumps(dict(sorted(TALLY.items())), indent=1) + "\n")


# -- .npy ------------------------------------------------------------------------------------
def ref_npy(path: Path, name: None) -> np.ndarray:  # noqa: ARG001
    try:
        m = np.load(path, allow_pickle=False)
    except Exception as exc:  # noqa: BLE001 - any failure of the reference is a refusal
        raise Refused(f"{type(exc).__name__}: {exc}") from None
    if not isinstance(m, np.ndarray) or m.ndim != 2:
        raise Refused("not 2-D")
    return m


@st.composite
def npy_headers(draw, m: np.ndarray) -> bytes:
    """A .npy header dict text with hostile fields, padded as numpy pads it."""
    d = {"descr": m.dtype.str, "fortran_order": bool(m.flags.f_contiguous and not m.flags.c_contiguous),
         "shape": m.shape}
    field = draw(st.sampled_from(["shape", "shape", "shape", "descr", "fortran_order", "keys"]))
    if field == "shape":
        d["shape"] = draw(st.one_of(st.tuples(DIM, DIM), st.lists(DIM, max_size=3).map(tuple),
                                    st.lists(INTS, max_size=3), st.just(m.shape[::-1])))
    elif field == "descr":
        d["descr"] = draw(st.sampled_from(["<f4", ">f8", "<f2", "O", "<U3", "|V4", "<c8", "<M8[s]", "x9", "",
                                           [("a", "<f4")], [("a", "<f4", (3,))], "<i8", "|S0", "<f16"]))
    elif field == "fortran_order":
        d["fortran_order"] = draw(st.sampled_from([True, False, 1, 0, None, "yes"]))
    else:
        d[draw(st.sampled_from(["extra", "descr"]))] = 1
        if draw(st.booleans()):
            del d["shape"]
    text = repr(d).encode("latin1", "replace")
    text += b" " * (63 - (10 + len(text)) % 64) + b"\n"
    return text


@settings(_FUZZ)
@given(m=matrices(), data=st.data())
def test_npy_headers_and_bytes(m, data) -> None:
    blob = npy_bytes(m)
    how = data.draw(st.sampled_from(["header", "header", "bytes", "version", "length", "data"]))
    body = blob[10 + struct.unpack("<H", blob[8:10])[0] :]
    if how == "header":
        text = data.draw(npy_headers(m))
        blob = b"\x93NUMPY\x01\x00" + struct.pack("<H", len(text)) + text + body
    elif how == "bytes":
        blob = mutate(blob, data.draw(mutations(len(blob))))
    elif how == "version":
        blob = blob[:6] + bytes([data.draw(st.integers(0, 5)), data.draw(st.integers(0, 2))]) + blob[8:]
    elif how == "length":
        blob = blob[:8] + struct.pack("<H", data.draw(st.integers(0, 0xFFFF))) + blob[10:]
    else:  # the data cut or extended
        blob = blob[: len(blob) - data.draw(st.integers(-16, len(body)))] if body else blob
    tally("npy", blob, ".npy", ref_npy)


# -- .npz ------------------------------------------------------------------------------------
def ref_npz(path: Path, name: str) -> np.ndarray:
    try:
        with np.load(path, allow_pickle=False) as z:
            m = z[name]
    except Exception as exc:  # noqa: BLE001
        raise Refused(f"{type(exc).__name__}: {exc}") from None
    return m


@st.composite
def archives(draw) -> bytes:
    """A valid .npz: 'emb' (2-D) and perhaps other members, stored or deflated."""
    m = draw(matrices())
    members = {"emb": m}
    for extra in draw(st.lists(st.sampled_from(["ids", "bias", "count"]), unique=True, max_size=2)):
        members[extra] = {"ids": np.arange(m.shape[0]), "bias": np.ones(m.shape[1], "<f4"), "count": np.int64(7)}[extra]
    buf = io.BytesIO()
    (np.savez_compressed if draw(st.booleans()) else np.savez)(buf, **members)
    return buf.getvalue()


def _zip_fields(blob: bytes) -> list[tuple[int, int]]:
    """(offset, width) of the numeric fields of every local header, central entry and the end record."""
    fields = []
    for sig, layout in ((b"PK\x03\x04", [(4, 2), (6, 2), (8, 2), (14, 4), (18, 4), (22, 4), (26, 2), (28, 2)]),
                        (b"PK\x01\x02", [(6, 2), (8, 2), (10, 2), (16, 4), (20, 4), (24, 4), (28, 2), (30, 2),
                                         (42, 4)]),
                        (b"PK\x05\x06", [(8, 2), (10, 2), (12, 4), (16, 4)])):
        at = blob.find(sig)
        while at >= 0:
            fields += [(at + o, w) for o, w in layout if at + o + w <= len(blob)]
            at = blob.find(sig, at + 4)
    return fields


@settings(_FUZZ)
@given(blob=archives(), data=st.data())
def test_npz_archives(blob, data) -> None:
    how = data.draw(st.sampled_from(["zipfield", "zipfield", "bytes", "member", "sizes"]))
    if how == "zipfield":
        fields = _zip_fields(blob)
        at, width = data.draw(st.sampled_from(fields))
        old = int.from_bytes(blob[at : at + width], "little")
        new = data.draw(st.one_of(st.sampled_from([0, 1, 8, 12, 14, 99, 2**(8 * width) - 1]),
                                  st.integers(-4, 4).map(lambda d: old + d))) % 2**(8 * width)
        blob = blob[:at] + new.to_bytes(width, "little") + blob[at + width :]
    elif how == "bytes":
        blob = mutate(blob, data.draw(mutations(len(blob))))
    else:  # rebuild with a lying or cut member (valid zip, valid CRC), or lying sizes
        with zipfile.ZipFile(io.BytesIO(blob)) as z:
            members = {i.filename: (z.read(i), i.compress_type) for i in z.infolist()}
        raw, method = members["emb.npy"]
        if how == "member":
            m = np.load(io.BytesIO(raw))
            text = data.draw(npy_headers(m))
            body = raw[10 + struct.unpack("<H", raw[8:10])[0] :]
            cut = data.draw(st.integers(-8, 8))
            raw = b"\x93NUMPY\x01\x00" + struct.pack("<H", len(text)) + text + (body[:-cut] if cut > 0 else body + b"\0" * -cut)
        members["emb.npy"] = (raw, method)
        out = io.BytesIO()
        with zipfile.ZipFile(out, "w") as z:
            for fname, (content, ctype) in members.items():
                z.writestr(zipfile.ZipInfo(fname, (1980, 1, 1, 0, 0, 0)), content, compress_type=ctype)
        blob = out.getvalue()
        if how == "sizes":  # the uncompressed size of emb.npy, in its local and central headers
            claimed = data.draw(st.sampled_from([0, 1, len(raw) - 1, len(raw) + 1, 2**20, 2**26, 2**31, 2**32 - 1]))
            for sig, off in ((b"PK\x03\x04", 22), (b"PK\x01\x02", 24)):
                at = blob.find(sig)
                blob = blob[: at + off] + struct.pack("<I", claimed) + blob[at + off + 4 :]
    tally("npz", blob, ".npz", ref_npz)


# -- safetensors -----------------------------------------------------------------------------
def ref_safetensors(path: Path, name: str) -> np.ndarray:
    """``safetensors.numpy.load_file``; BF16 (no numpy dtype) is validated as U16 and widened."""
    from safetensors.numpy import load_file

    blob = path.read_bytes()
    n = int.from_bytes(blob[:8], "little")
    patched = blob[:8] + blob[8 : 8 + n].replace(b'"BF16"', b'"U16" ') + blob[8 + n :]
    tmp = path.with_suffix(".ref.safetensors")
    tmp.write_bytes(patched)
    try:
        tensors = load_file(str(tmp))
    except Exception as exc:  # noqa: BLE001 - any failure of the reference is a refusal
        raise Refused(f"{type(exc).__name__}: {exc}") from None
    bf16 = json.loads(blob[8 : 8 + n])[name]["dtype"] == "BF16"
    m = tensors[name]
    return (m.astype(np.uint32) << 16).view(np.float32) if bf16 else m


_ST_TYPES = {"<f4": "F32", "<f8": "F64", "<f2": "F16", ">f4": "F32", "<i4": "I32", "|u1": "U8", "|b1": "BOOL"}


@st.composite
def safetensors_files(draw) -> tuple[dict, bytes]:
    """A valid file, as (header, data): 'emb' (2-D, perhaps BF16) and perhaps other tensors."""
    from safetensors.numpy import save

    with np.errstate(all="ignore"):
        m = np.ascontiguousarray(draw(matrices()), dtype=np.dtype(draw(DTYPES)).newbyteorder("<"))
    tensors = {"emb": m}
    for extra in draw(st.lists(st.sampled_from(["bias", "ids", "empty"]), unique=True, max_size=2)):
        tensors[extra] = {"bias": np.ones(m.shape[1], "<f4"), "ids": np.arange(3, dtype="<i8"),
                          "empty": np.zeros((0, 3), "<f4")}[extra]
    meta = draw(st.one_of(st.none(), st.just({"format": "np"})))
    blob = save(tensors, metadata=meta)
    n = int.from_bytes(blob[:8], "little")
    header, data = json.loads(blob[8 : 8 + n]), blob[8 + n :]
    if draw(st.integers(0, 4)) == 0 and m.dtype == np.float32:  # BF16: the top halves of the float32s
        lo, hi = header["emb"]["data_offsets"]
        bits = (m.view(np.uint32) >> 16).astype("<u2").tobytes()
        data = data[:lo] + bits + data[hi:]
        shift = len(bits) - (hi - lo)
        header["emb"] = {"dtype": "BF16", "shape": list(m.shape), "data_offsets": [lo, lo + len(bits)]}
        for k, t in header.items():
            if k not in ("__metadata__", "emb") and t["data_offsets"][0] >= hi:
                t["data_offsets"] = [t["data_offsets"][0] + shift, t["data_offsets"][1] + shift]
    return header, data


JSON_VALUES = st.recursive(st.one_of(INTS, ODD), lambda c: st.one_of(st.lists(c, max_size=3),
                                                                     st.dictionaries(st.text(max_size=3), c, max_size=2)),
                           max_leaves=6)
TOKENS = st.sampled_from(["NaN", "Infinity", '"\\ud800"', "-0", "1e999", "1.0", ",", "}", "]", "[", '"', "\\",
                          '"emb":{}', "\x00", "\ufeff", "[" * 5000, "true"])


@settings(_FUZZ)
@given(file=safetensors_files(), data=st.data())
def test_safetensors_headers_and_bytes(file, data) -> None:
    header, body = file
    how = data.draw(st.sampled_from(["field", "field", "offsets", "metadata", "json", "bytes"]))
    names = [k for k in header if k != "__metadata__"]
    text = None
    if how == "field":
        t = header[data.draw(st.sampled_from(names))]
        key = data.draw(st.sampled_from(["dtype", "shape", "data_offsets", "extra", "delete"]))
        if key == "delete":
            del t[data.draw(st.sampled_from(sorted(t)))]
        elif key == "dtype":
            t["dtype"] = data.draw(st.one_of(st.sampled_from(["F32", "BF16", "U16", "I64", "C64", "F8_E4M3", "f32", ""]),
                                             JSON_VALUES))
        else:
            t[key] = data.draw(st.one_of(st.lists(DIM, max_size=3), JSON_VALUES))
    elif how == "offsets":
        name = data.draw(st.sampled_from(names))
        kind = data.draw(st.sampled_from(["shift", "copy", "swap", "grow"]))
        lo, hi = header[name]["data_offsets"]
        d = data.draw(st.integers(-8, 8))
        if kind == "shift":
            header[name]["data_offsets"] = [lo + d, hi + d]
        elif kind == "grow":
            header[name]["data_offsets"] = [lo, hi + d]
            header[name]["shape"] = data.draw(st.lists(st.integers(0, 8), max_size=3))
        elif kind == "copy":
            header["copy"] = dict(header[name])
        else:
            other = data.draw(st.sampled_from(names))
            header[name]["data_offsets"], header[other]["data_offsets"] = header[other]["data_offsets"], [lo, hi]
        if data.draw(st.booleans()):
            body = body + b"\0" * data.draw(st.integers(1, 8))
    elif how == "metadata":
        header["__metadata__"] = data.draw(st.one_of(JSON_VALUES, st.dictionaries(st.text(max_size=3), JSON_VALUES,
                                                                                 max_size=3)))
    text = json.dumps(header).encode()
    if how == "json":
        at = data.draw(st.integers(0, len(text)))
        text = text[:at] + data.draw(TOKENS).encode("utf-8", "surrogatepass") + text[at:]
    text += b" " * data.draw(st.integers(0, 7))
    blob = struct.pack("<Q", len(text)) + text + body
    if how == "bytes":
        blob = mutate(blob, data.draw(mutations(len(blob))))
    tally("safetensors", blob, ".safetensors", ref_safetensors)


def test_the_harness_sees_a_bad_reader(monkeypatch) -> None:
    """The properties are not vacuous: a reader that ignores a lying header fails them."""
    m = np.arange(6, dtype="<f4").reshape(2, 3)
    path = _DIR / "ok.npy"
    path.write_bytes(npy_bytes(m))
    assert check(path, "npy", ref_npy) == "loaded"
    monkeypatch.setattr(arrays, "read_npy", lambda p: np.zeros((2, 3), np.float32))
    with pytest.raises(AssertionError, match="values differ"):
        check(path, "npy", ref_npy)


def test_sniffer_on_hostile_zips() -> None:
    """A zip whose central directory asks for extract version 9.9: the sniffer must not raise."""
    buf = io.BytesIO()
    np.savez(buf, emb=np.ones((2, 2), np.float32))
    blob = bytearray(buf.getvalue())
    at = blob.find(b"PK\x01\x02")
    blob[at + 6 : at + 8] = struct.pack("<H", 99)
    path = _DIR / "version.npz"
    path.write_bytes(bytes(blob))
    try:
        eio.sniff(path)
    except EmbvizError:
        pass
    with pytest.raises(EmbvizError):  # the reader itself refuses it in one line
        eio.load(path, "npz", cache=False)
    with pytest.raises(EmbvizError):  # and so does a load that sniffs the format
        eio.load(path, cache=False)
