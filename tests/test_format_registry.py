"""The one table of formats (issue 28): everything that lists formats comes from it.

Each family module of ``embviz/io/formats/`` declares its formats; these tests check that
sniffing, reading, writing, ``--input-format``, ``convert --to``, ``-v``'s ``--help`` and
``docs/formats.md``'s table all follow the table, so a new row reaches every one of them,
and that every format still round-trips through detection and reading.
"""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

import embviz.io as eio
from embviz.cli import app
from embviz.io import formats
from embviz.io.formats import FORMATS, VectorFormat
from embviz.vectors import Vectors

ROOT = Path(__file__).resolve().parent.parent
runner = CliRunner()


def test_docs_table_is_the_registry() -> None:
    page = (ROOT / "docs" / "formats.md").read_text()
    expected = formats.markdown_table()
    assert expected in page, "docs/formats.md's table differs from the registry; paste:\n" + expected


def test_every_family_module_is_in_the_table() -> None:
    modules = sorted(p.stem for p in (ROOT / "embviz" / "io" / "formats").glob("*.py") if p.stem not in ("__init__", "spec"))
    assert sorted(m.__name__.rsplit(".", 1)[1] for m in formats.FAMILIES) == modules
    rows = [f for m in formats.FAMILIES for f in m.FORMATS]
    assert rows == list(FORMATS)
    assert len({f.name for f in FORMATS}) == len(FORMATS)


def test_enum_and_choices_follow_the_table() -> None:
    assert [v.value for v in VectorFormat] == [f.name for f in FORMATS]
    assert VectorFormat.word2vec_text.value == "word2vec-text" and VectorFormat("fasttext-bin") is VectorFormat.fasttext_bin
    assert eio.VectorFormat is VectorFormat
    result = runner.invoke(app, ["info", "--input-format", "nonsense"])
    assert result.exit_code == 2
    for f in FORMATS:
        assert f"'{f.name}'" in result.output
    result = runner.invoke(app, ["convert", "a.bin", "b.x", "--to", "hdf5"])
    assert result.exit_code == 2
    listed = re.findall(r"'([a-z0-9-]+)'", result.output.split("is not one of", 1)[1])
    assert listed == [f.name for f in FORMATS if f.write]


def test_help_names_every_format() -> None:
    out = runner.invoke(app, ["info", "--help"], env={"COLUMNS": "400"}).output
    flat = " ".join(out.split())
    assert formats.help_list() in flat
    convert = " ".join(runner.invoke(app, ["convert", "--help"], env={"COLUMNS": "400"}).output.split())
    for f in FORMATS:
        if f.write:
            assert f.suffixes[0] in convert


def test_readers_and_writers_resolve() -> None:
    for f in FORMATS:
        assert callable(f.reader()), f.name
        assert (f.writer() is None) == (f.write is None), f.name
        module = importlib.import_module(f.read.partition(":")[0])
        assert module.__name__.startswith("embviz.io")


def test_suffixes_choose_the_writer_and_read_only_formats_are_refused(tmp_path) -> None:
    for f in FORMATS:
        for s in f.suffixes:
            assert eio.format_for(tmp_path / f"v{s}.gz").value == f.name
    with pytest.raises(eio.FormatError) as exc:
        eio.save(Vectors(["a"], np.ones((1, 2), np.float32)), tmp_path / "v.h5", "hdf5")
    names = [f.suffixes[0] for f in FORMATS if f.write]
    msg = str(exc.value)
    assert msg.startswith(f"{tmp_path / 'v.h5'}: embviz reads hdf5 files but does not write them; write ")
    assert [s for s in names if s in msg] == names
    with pytest.raises(eio.FormatError, match="cannot tell the format from the name; use .bin"):
        eio.format_for(tmp_path / "v.unknown")


def _table() -> Vectors:
    rng = np.random.default_rng(0)
    return Vectors(["king", "queen", "東京", "café"], rng.standard_normal((4, 6)).astype(np.float32))


@pytest.mark.parametrize("fmt", [f.name for f in FORMATS if f.write])
def test_every_writable_format_round_trips_through_its_detection(tmp_path, fmt) -> None:
    """Written by its writer, told by sniff (its detector or the text sniffer), read by its reader."""
    v = _table()
    spec = formats.get(fmt)
    path = tmp_path / f"v{spec.suffixes[0]}"
    written = eio.save(v, path, precision=9)
    assert written[0] == path
    assert eio.sniff(path).format.value == fmt
    back = eio.load(path, cache=False)
    assert back.keys == v.keys
    np.testing.assert_allclose(back.matrix, v.matrix, rtol=1e-6)


@pytest.mark.parametrize("fmt", [f.name for f in FORMATS if f.detect is not None])
def test_detectors_do_not_claim_each_others_files(tmp_path, fmt) -> None:
    """Each detector says yes to its own format's file and no to every other format's."""
    v = _table()
    h5py = pytest.importorskip("h5py") if fmt == "hdf5" else None
    path = tmp_path / "x"
    if fmt in ("npy", "safetensors", "parquet"):
        path = eio.save(v, tmp_path / f"x.{fmt}")[0]
    elif fmt == "npz":
        np.savez(path.with_suffix(".npz"), emb=v.matrix)
        path = path.with_suffix(".npz")
    elif fmt == "torch":
        import torch

        torch.save({"weight": torch.from_numpy(v.matrix.copy())}, path)
    elif fmt == "hdf5":
        with h5py.File(path, "w") as f:
            f["train"] = v.matrix
    elif fmt == "arrow":
        import pyarrow as pa
        import pyarrow.feather as feather

        feather.write_feather(pa.table({"key": v.keys, "x": v.matrix[:, 0]}), path)
    elif fmt == "spark":
        path.mkdir()
        eio.save(v, path / "part-0.parquet")
    elif fmt == "projector":
        path = eio.save(v, tmp_path / "vectors.tsv")[0]
    elif fmt == "fasttext-bin":
        path.write_bytes(formats.fasttext.MAGIC + b"\x0c\x00\x00\x00" + bytes(100))
    probe = formats.spec.Probe(path)
    claims = [f.name for f in formats.DETECTED if f.detect(probe) and (probe.is_dir == (f.name == "spark"))]
    assert claims == [fmt]
    assert formats.detect(path).value == fmt
