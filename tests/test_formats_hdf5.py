"""HDF5 files as vector tables (embviz.io.hdf5): ann-benchmarks' layout and latentscope's.

Every file is written here by h5py from real GloVe rows of the bundled sample; every read must
give back exactly those rows, and every refusal is one line naming the file.
"""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from embviz import io as embviz_io
from embviz import search
from embviz.cli import app
from embviz.errors import FormatError, MissingDependency
from embviz.io import VectorFormat, load, sniff
from embviz.vectors import Vectors

h5py = pytest.importorskip("h5py")  # a test dependency (pyproject's test extra): CI never skips

N, Q = 3_000, 200  # train rows and test queries, from the GloVe sample's most frequent keys


@pytest.fixture(scope="module")
def glove(sample) -> Vectors:
    """The first N + Q rows of the real GloVe 6B 50d sample."""
    return Vectors(sample.keys[: N + Q], np.asarray(sample.matrix[: N + Q]))


def ld(path, **kw) -> Vectors:
    return load(path, cache=False, **kw)


def fails(path, exact: str, **kw) -> None:
    with pytest.raises(FormatError) as exc:
        ld(path, **kw)
    assert str(exc.value) == exact


def ann_file(path, glove: Vectors, **kw):
    """An ann-benchmarks file: train, test, neighbors (true top 100), distances, attribute distance."""
    train, test = glove.matrix[:N], glove.matrix[N:]
    unit = train / np.linalg.norm(train, axis=1, keepdims=True)
    cos = (test / np.linalg.norm(test, axis=1, keepdims=True)) @ unit.T
    top = np.argsort(-cos, axis=1, kind="stable")[:, :100]
    with h5py.File(path, "w", **kw) as f:
        f.attrs["distance"] = "angular"
        f.attrs["point_type"] = "float"
        f.create_dataset("train", data=train)
        f.create_dataset("test", data=test)
        f.create_dataset("neighbors", data=top.astype(np.int32))
        f.create_dataset("distances", data=(1 - np.take_along_axis(cos, top, axis=1)).astype(np.float32))
    return path


def keys_txt(path, keys) -> None:
    path.write_text("".join(k + "\n" for k in keys), "utf-8")


# -- the ann-benchmarks layout ---------------------------------------------------------------
def test_ann_benchmarks_file_reads_train_exactly_and_in_place(glove, tmp_path):
    p = ann_file(tmp_path / "glove-50-angular.hdf5", glove)
    assert sniff(p).format == VectorFormat.hdf5
    v = ld(p)
    assert v.keys == tuple(str(i) for i in range(N))
    assert v.keys_from == (
        "row ids 0..2,999 (no keys file: pass --vocab FILE or put glove-50-angular.keys.txt beside it)"
    )
    assert v.matrix.dtype == np.float32 and np.array_equal(v.matrix, glove.matrix[:N])
    # a contiguous float32 dataset is the file's own pages, mapped read-only (no copy)
    assert not v.matrix.flags.owndata and not v.matrix.flags.writeable


def test_tensor_test_reads_the_queries(glove, tmp_path):
    p = ann_file(tmp_path / "a.hdf5", glove)
    v = ld(p, tensor="test")
    assert v.count == Q and np.array_equal(v.matrix, glove.matrix[N:])
    assert np.array_equal(ld(p, tensor="/test").matrix, glove.matrix[N:])  # an absolute path too
    assert np.array_equal(ld(p, limit=7).matrix, glove.matrix[:7])


def test_sidecar_and_vocab_give_the_keys(glove, tmp_path):
    p = ann_file(tmp_path / "a.hdf5", glove)
    keys_txt(tmp_path / "a.keys.txt", glove.keys[:N])
    v = ld(p)
    assert v.keys == glove.keys[:N] and v.keys_from == "a.keys.txt (sidecar)"
    other = tmp_path / "other.txt"
    keys_txt(other, [k.upper() + "!" for k in glove.keys[:N]])
    v = ld(p, keys=other)
    assert v.keys[:2] == ("THE!", ",!") and v.keys_from == "other.txt (--vocab)"
    keys_txt(tmp_path / "a.keys.txt", glove.keys[:10])
    fails(p, f"{tmp_path / 'a.keys.txt'}: 10 keys but a.hdf5 has 3,000 rows; expected one key per row")
    # with --limit the keys file still has one key per row of the whole dataset
    keys_txt(tmp_path / "a.keys.txt", glove.keys[:N])
    assert ld(p, limit=3).keys == glove.keys[:3]


def test_user_block_before_the_signature(glove, tmp_path):
    p = ann_file(tmp_path / "ub.h5", glove, userblock_size=1024)
    assert p.read_bytes()[:8] != b"\x89HDF\r\n\x1a\n"
    assert p.read_bytes()[1024:1032] == b"\x89HDF\r\n\x1a\n"
    assert sniff(p).format == VectorFormat.hdf5
    v = ld(p)
    assert np.array_equal(v.matrix, glove.matrix[:N]) and not v.matrix.flags.owndata


# -- the latentscope layout, dtypes, storage ------------------------------------------------
def test_latentscope_single_dataset_compressed_and_chunked(glove, tmp_path):
    p = tmp_path / "embeddings-all-MiniLM.h5"
    with h5py.File(p, "w") as f:
        f.create_dataset("embeddings", data=glove.matrix, chunks=(128, 50), compression="gzip", shuffle=True)
    v = ld(p)
    assert v.count == N + Q and np.array_equal(v.matrix, glove.matrix)
    v = ld(p, limit=300, dtype="float16")
    assert v.matrix.dtype == np.float16 and np.array_equal(v.matrix, glove.matrix[:300].astype(np.float16))


@pytest.mark.parametrize("dtype", ["float16", "float64", ">f4", ">f8"])
@pytest.mark.parametrize("chunked", [False, True])
def test_other_float_dtypes_are_converted_once_as_npy_does(glove, tmp_path, dtype, chunked):
    src = glove.matrix[:500].astype(dtype)
    p = tmp_path / "e.h5"
    with h5py.File(p, "w") as f:
        f.create_dataset("emb", data=src, chunks=(64, 50) if chunked else None)
    np.save(tmp_path / "e.npy", src)
    v = ld(p)
    assert v.matrix.dtype == np.float32
    assert np.array_equal(v.matrix, src.astype(np.float32))
    assert np.array_equal(v.matrix, ld(tmp_path / "e.npy").matrix)


def test_only_2d_float_dataset_anywhere_and_known_names(glove, tmp_path):
    p = tmp_path / "nested.h5"
    with h5py.File(p, "w") as f:
        f.create_dataset("model/layers/0/emb", data=glove.matrix[:100])
        f.create_dataset("model/bias", data=np.zeros(100, np.float32))
        f.create_dataset("model/ids", data=np.arange(100, dtype=np.int64).reshape(50, 2))
    assert np.array_equal(ld(p).matrix, glove.matrix[:100])
    assert np.array_equal(ld(p, tensor="model/layers/0/emb").matrix, glove.matrix[:100])
    with h5py.File(p, "a") as f:  # several 2-D floats: the candidates with a known embedding name are listed
        f.create_dataset("projection", data=np.ones((100, 2), np.float32))
        f.create_dataset("model/embeddings", data=glove.matrix[100:200])
    fails(p, f"{p}: several 2-D float datasets fit: model/embeddings [100, 50], model/layers/0/emb [100, 50]; "
             "pick one with --tensor NAME")
    with h5py.File(p, "a") as f:  # one known embedding name among 2-D floats: it wins
        del f["model/layers"]
    assert np.array_equal(ld(p).matrix, glove.matrix[100:200])
    with h5py.File(p, "a") as f:  # no known name among them: all are listed
        f["model/vectors"] = f["model/embeddings"][...]
        del f["model/embeddings"]
    fails(p, f"{p}: several 2-D float datasets fit: model/vectors [100, 50], projection [100, 2]; "
             "pick one with --tensor NAME")


# -- keys inside the file --------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["vlen", "fixed", "ascii-labelled"])
def test_keys_dataset_in_the_file(glove, tmp_path, kind):
    keys = list(glove.keys[:N])
    if kind == "vlen":
        data = np.array(keys, dtype=h5py.string_dtype())
    else:  # numpy bytes: h5py labels them ASCII, whatever they hold (UTF-8 here)
        data = np.array([k.encode("utf-8") for k in keys])
    p = tmp_path / "k.h5"
    with h5py.File(p, "w") as f:
        f.create_dataset("vectors", data=glove.matrix[:N])
        f.create_dataset("keys" if kind != "ascii-labelled" else "words", data=data)
    v = ld(p)
    assert v.keys == glove.keys[:N] and np.array_equal(v.matrix, glove.matrix[:N])
    assert v.keys_from == ("dataset keys" if kind != "ascii-labelled" else "dataset words")
    assert ld(p, limit=4).keys == glove.keys[:4]


def test_keys_beside_the_table_in_its_group_and_integer_ids(glove, tmp_path):
    p = tmp_path / "g.h5"
    with h5py.File(p, "w") as f:
        f.create_dataset("items/embedding", data=glove.matrix[:50])
        f.create_dataset("items/ids", data=np.arange(1000, 1050, dtype=np.int64))
        f.create_dataset("labels", data=np.array(["x"] * 7, dtype=h5py.string_dtype()))  # not n rows: ignored
    v = ld(p)
    assert v.keys == tuple(str(i) for i in range(1000, 1050)) and v.keys_from == "dataset items/ids"
    assert v.get_index("1007") == 7
    # --vocab replaces the file's own keys
    keys_txt(tmp_path / "v.txt", glove.keys[:50])
    assert ld(p, keys=tmp_path / "v.txt").keys == glove.keys[:50]


def test_keys_dataset_that_is_not_utf8_is_refused(glove, tmp_path):
    p = tmp_path / "bad.h5"
    with h5py.File(p, "w") as f:
        f.create_dataset("emb", data=glove.matrix[:3])
        f.create_dataset("keys", data=np.array([b"a", b"b", b"\xff\xc3x"]))
    fails(p, f"{p}: dataset 'keys', row 2: key b'\\xff\\xc3x' is not valid UTF-8, expected text keys")


# -- the cache -------------------------------------------------------------------------------
def test_cache_round_trip_maps_the_entry(glove, tmp_path):
    p = tmp_path / "c.h5"
    with h5py.File(p, "w") as f:
        f.create_dataset("embeddings", data=glove.matrix[:N], chunks=(256, 50), compression="gzip")
        f.create_dataset("keys", data=np.array(list(glove.keys[:N]), dtype=h5py.string_dtype()))
    cdir = tmp_path / "cache"
    first = embviz_io.load(p, cache_dir=cdir)
    [entry] = list((cdir / "vectors").iterdir())
    meta = (entry / "meta.json").read_text()
    assert '"format": "hdf5"' in meta and '"keys_from": "dataset keys"' in meta
    second = embviz_io.load(p, cache_dir=cdir)
    assert isinstance(second.matrix, np.memmap) and isinstance(second.unit, np.memmap)
    assert second.keys == first.keys == glove.keys[:N]
    assert np.array_equal(second.matrix, glove.matrix[:N]) and second.keys_from == "dataset keys"
    # a warm load needs neither h5py nor the file's rows
    code = ("import sys; from embviz import io; "
            f"v = io.load({str(p)!r}, cache_dir={str(cdir)!r}); print(type(v.matrix).__name__, 'h5py' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "memmap False"
    # --tensor is part of the entry: another dataset, another entry
    with h5py.File(p, "a") as f:
        f.create_dataset("umap", data=np.ones((N, 2), np.float32))
    assert np.array_equal(embviz_io.load(p, cache_dir=cdir, tensor="umap").matrix, np.ones((N, 2), np.float32))
    assert np.array_equal(embviz_io.load(p, cache_dir=cdir, tensor="embeddings").matrix, glove.matrix[:N])


# -- the command line ------------------------------------------------------------------------
def test_cli_neighbors_match_the_same_rows_as_npy(glove, tmp_path, runner):
    p = ann_file(tmp_path / "glove.hdf5", glove)
    np.save(tmp_path / "glove.npy", glove.matrix[:N])
    r = runner.invoke(app, ["neighbors", "-v", str(p), "--tensor", "train", "0", "-k", "3"])
    assert r.exit_code == 0, r.stderr
    ref = runner.invoke(app, ["neighbors", "-v", str(tmp_path / "glove.npy"), "0", "-k", "3"])
    assert ref.exit_code == 0, ref.stderr
    assert r.stdout == ref.stdout
    expected = search.neighbors(Vectors([str(i) for i in range(N)], glove.matrix[:N]), "0", k=3)
    assert r.stdout == "query\trank\tkey\tscore\n" + "".join(
        f"0\t{i + 1}\t{n.key}\t{n.score:.6f}\n" for i, n in enumerate(expected))
    assert r.stderr == ("embviz: keys of glove.hdf5: row ids 0..2,999 (no keys file: pass --vocab FILE or put "
                        "glove.keys.txt beside it)\n")
    # ann-benchmarks' own ground truth agrees on the test queries
    with h5py.File(p, "r") as f:
        truth = f["neighbors"][:5, :3]
    tv = ld(p)
    unit_q = glove.matrix[N : N + 5] / np.linalg.norm(glove.matrix[N : N + 5], axis=1, keepdims=True)
    assert (np.argsort(-(tv.unit @ unit_q.T), axis=0, kind="stable")[:3].T == truth).all()


def test_cli_info(glove, tmp_path, runner):
    p = tmp_path / "ls.h5"
    with h5py.File(p, "w") as f:
        f.create_dataset("embeddings", data=glove.matrix[:N])
        f.create_dataset("keys", data=np.array(list(glove.keys[:N]), dtype=h5py.string_dtype()))
    np.save(tmp_path / "ls.npy", glove.matrix[:N])
    keys_txt(tmp_path / "ls.keys.txt", glove.keys[:N])
    r = runner.invoke(app, ["info", "-v", str(p)])
    assert r.exit_code == 0, r.stderr
    ref = runner.invoke(app, ["info", "-v", str(tmp_path / "ls.npy")])
    header, row = r.stdout.splitlines()
    assert header == "file\tformat\tcompression\tcount\tdim\tdtype\tmemory_bytes\tnorm_min\tnorm_mean\tnorm_max\tzero_rows\tfirst_keys"
    assert row.startswith(f"{p}\thdf5\tnone\t3000\t50\tfloat32\t600000\t")
    assert row.split("\t")[2:] == ref.stdout.splitlines()[1].split("\t")[2:]  # same rows, same statistics
    assert row.endswith("\tthe , . of to")
    assert r.stderr == "embviz: keys of ls.h5: dataset keys\n"


def test_cli_errors_are_one_line(glove, tmp_path, runner):
    p = ann_file(tmp_path / "a.hdf5", glove)
    r = runner.invoke(app, ["info", "-v", str(p), "--tensor", "neighbors"])
    assert (r.exit_code, r.stdout) == (1, "")
    assert r.stderr == f"embviz: error: {p}: dataset 'neighbors' holds int32, expected float16, float32 or float64 vectors\n"
    r = runner.invoke(app, ["neighbors", "-v", str(p), "--tensor", "queries", "0"])
    assert (r.exit_code, r.stdout) == (1, "")
    assert r.stderr == (f"embviz: error: {p}: no dataset 'queries' (datasets: distances [200, 100] float32, "
                        "neighbors [200, 100] int32, test [200, 50] float32, train [3000, 50] float32)\n")


def test_distance_attribute_and_non_table_datasets(glove, tmp_path):
    """``index eval`` reads ann-benchmarks' distance attribute and its int neighbors dataset."""
    from embviz.io import hdf5

    p = ann_file(tmp_path / "a.hdf5", glove)
    assert hdf5.is_hdf5(p) and not hdf5.is_hdf5(tmp_path)
    assert hdf5.distance_metric(p) == ("angular", "cosine")
    assert hdf5.has_dataset(p, "neighbors") and hdf5.has_dataset(p, "/test") and not hdf5.has_dataset(p, "nope")
    ids = hdf5.read_dataset(p, "neighbors", columns=10)
    with h5py.File(p, "r") as f:
        assert ids.dtype == np.int32 and np.array_equal(ids, f["neighbors"][:, :10])
    assert np.array_equal(hdf5.read_dataset(p, "test"), glove.matrix[N:])
    with h5py.File(p, "a") as f:
        f.attrs["distance"] = np.bytes_(b"euclidean")
        f.create_dataset("words", data=np.array(["a", "b"], dtype=h5py.string_dtype()))
        f.create_dataset("flat", data=np.zeros(4, np.int64))
    assert hdf5.distance_metric(p) == ("euclidean", "euclidean")
    with pytest.raises(FormatError) as exc:
        hdf5.read_dataset(p, "words")
    assert str(exc.value) == f"{p}: dataset 'words' has shape [2], expected 2-D (rows, columns)"
    with pytest.raises(FormatError, match=r"no dataset 'nope' \(datasets: distances \[200, 100\] float32, flat"):
        hdf5.read_dataset(p, "nope")
    with h5py.File(p, "a") as f:
        f.attrs["distance"] = "jaccard"
    assert hdf5.distance_metric(p) == ("jaccard", None)
    q = tmp_path / "plain.h5"
    with h5py.File(q, "w") as f:
        f.create_dataset("embeddings", data=glove.matrix[:10])
    assert hdf5.distance_metric(q) == (None, None)


def test_writing_hdf5_is_refused(glove, tmp_path):
    with pytest.raises(FormatError, match="embviz reads hdf5 files but does not write them"):
        embviz_io.save(glove, tmp_path / "out.h5", "hdf5")


# -- hostile input ---------------------------------------------------------------------------
def test_truncated_file(glove, tmp_path):
    p = ann_file(tmp_path / "t.hdf5", glove)
    size = p.stat().st_size
    p.write_bytes(p.read_bytes()[:5000])
    fails(p, f"{p}: not a readable HDF5 file: Unable to synchronously open file (truncated file: eof = 5000, "
             f"sblock->base_addr = 0, stored_eof = {size})")


def test_dataset_data_cut_off_is_refused_before_mapping(glove, tmp_path):
    """A file cut inside the data whose superblock was made to agree (stored eof patched)."""
    p = tmp_path / "cut.h5"
    with h5py.File(p, "w", libver="earliest") as f:
        f.create_dataset("emb", data=glove.matrix[:100])
        offset = f["emb"].id.get_offset()
    blob = bytearray(p.read_bytes())
    del blob[offset + 4000 :]
    # superblock version 0: the end-of-file address is the third 8-byte address after byte 24
    blob[40:48] = len(blob).to_bytes(8, "little")
    p.write_bytes(bytes(blob))
    with pytest.raises(FormatError) as exc:
        ld(p)
    assert str(exc.value) in (
        # HDF5 2.0 (h5py 3.16's) checks the dataset's size itself as it opens it
        f"{p}: damaged HDF5 file: Unable to synchronously open object (invalid dataset size, likely file "
        "corruption)",
        # older HDF5 does not: embviz checks it before mapping the rows
        f"{p}: truncated HDF5 file: dataset 'emb' ([100, 50] float32) needs bytes {offset:,} to "
        f"{offset + 20_000:,}, the file has {len(blob):,}",
    )


def test_mapping_checks_the_data_are_inside_the_file(glove, tmp_path):
    """The check itself, on a file cut after HDF5 opened it (whatever HDF5 checks at open)."""
    import os

    from embviz.io import hdf5

    p = tmp_path / "m.h5"
    with h5py.File(p, "w") as f:
        f.create_dataset("emb", data=glove.matrix[:100])
    with h5py.File(p, "r") as f:
        d = f["emb"]
        offset = d.id.get_offset()
        assert np.array_equal(hdf5._mapped(p, h5py, d, 100), glove.matrix[:100])
        os.truncate(p, offset + 4_000)
        with pytest.raises(FormatError) as exc:
            hdf5._mapped(p, h5py, d, 100)
    assert str(exc.value) == (f"{p}: truncated HDF5 file: dataset 'emb' ([100, 50] float32) needs bytes "
                              f"{offset:,} to {offset + 20_000:,}, the file has {offset + 4_000:,}")


def test_a_shape_beyond_memory_is_refused_before_allocating(tmp_path):
    """A chunked dataset never written is all fill value: a tiny file may claim any shape."""
    p = tmp_path / "huge.h5"
    with h5py.File(p, "w") as f:
        f.create_dataset("emb", shape=(10**12, 100), dtype=np.float32, chunks=(1024, 100))
    assert p.stat().st_size < 10_000
    with pytest.raises(FormatError, match=rf"^{p}: dataset 'emb' needs 400,000,000,000,000 bytes of memory, "
                                          r"[\d,]+ are available; read fewer rows with --limit$"):
        ld(p)
    v = ld(p, limit=3)  # the fill value: zero rows, which load (a table may have some)
    assert v.count == 3 and not v.matrix.any()


@pytest.mark.parametrize(("data", "kind"), [
    (np.arange(12, dtype=np.int64).reshape(4, 3), "int64"),
    (np.array([["a", "b"], ["c", "d"]], dtype=h5py.string_dtype()), "string"),
    (np.zeros((4, 3), dtype=[("x", "f4"), ("y", "i4")]), "compound"),
], ids=["int", "string", "compound"])
def test_tensor_of_the_wrong_dtype(tmp_path, data, kind):
    p = tmp_path / "d.h5"
    with h5py.File(p, "w") as f:
        f.create_dataset("x", data=data)
    fails(p, f"{p}: dataset 'x' holds {kind}, expected float16, float32 or float64 vectors", tensor="x")
    shown = f"x [{data.shape[0]}, {data.shape[1]}] {kind}" if data.ndim == 2 else f"x [4] {kind}"
    fails(p, f"{p}: no 2-D float dataset (datasets: {shown})")


def test_tensor_of_the_wrong_rank_and_no_datasets(tmp_path):
    p = tmp_path / "r.h5"
    with h5py.File(p, "w") as f:
        f.create_dataset("v", data=np.zeros(5, np.float32))
        f.create_dataset("cube", data=np.zeros((2, 3, 4), np.float32))
    fails(p, f"{p}: dataset 'v' has shape [5], expected 2-D (rows, dim)", tensor="v")
    fails(p, f"{p}: dataset 'cube' has shape [2, 3, 4], expected 2-D (rows, dim)", tensor="cube")
    fails(p, f"{p}: no 2-D float dataset (datasets: cube [2, 3, 4] float32, v [5] float32)")
    e = tmp_path / "empty.h5"
    with h5py.File(e, "w") as f:
        f.create_group("nothing/here")
    fails(e, f"{e}: no 2-D float dataset (datasets: none)")
    z = tmp_path / "zero.h5"
    with h5py.File(z, "w") as f:
        f.create_dataset("emb", shape=(0, 50), dtype=np.float32)
    fails(z, f"{z}: array of shape [0, 50] is empty, expected vectors")


def test_missing_tensor_lists_at_most_ten_datasets(tmp_path):
    p = tmp_path / "many.h5"
    with h5py.File(p, "w") as f:
        for i in range(12):
            f.create_dataset(f"grp/d{i:02d}", data=np.zeros((2, 3), np.float32))
    listed = ", ".join(f"grp/d{i:02d} [2, 3] float32" for i in range(10))
    fails(p, f"{p}: no dataset 'train' (datasets: {listed}, ... (2 more))", tensor="train")


def test_nan_and_inf_name_the_row_and_column(glove, tmp_path):
    m = np.array(glove.matrix[:20])
    m[13, 4] = np.nan
    p = tmp_path / "n.h5"
    with h5py.File(p, "w") as f:
        f.create_dataset("emb", data=m)
    fails(p, f"{p}: row 13, column 4: value is nan, expected a finite number")
    m[13, 4] = 0
    m[17, 49] = -np.inf
    with h5py.File(p, "w") as f:
        f.create_dataset("emb", data=m, chunks=(4, 50), compression="gzip")
    fails(p, f"{p}: row 17, column 49: value is -inf, expected a finite number")
    with h5py.File(p, "w") as f:  # float64 beyond float32's range: inf, as a .npy
        f.create_dataset("emb", data=np.array([[1.0, 1e300]]))
    fails(p, f"{p}: row 0, column 1: value is inf, expected a finite number")


def test_not_hdf5_named_h5(tmp_path):
    p = tmp_path / "text.h5"
    p.write_text("hello world\n")
    fails(p, f"{p}: named like an HDF5 file but is not one: no signature b'\\x89HDF\\r\\n\\x1a\\n' at byte 0, "
             "512, 1024, ... (it starts b'hello wo')")
    b = tmp_path / "binary.hdf5"
    b.write_bytes(bytes(range(256)) * 8)
    fails(b, f"{b}: named like an HDF5 file but is not one: no signature b'\\x89HDF\\r\\n\\x1a\\n' at byte 0, "
             "512, 1024, ... (it starts b'\\x00\\x01\\x02\\x03\\x04\\x05\\x06\\x07')")
    # the content decides: a GloVe text file named .h5 is read as GloVe
    g = tmp_path / "glove.h5"
    g.write_text("king 1 2\nqueen 1 3\n")
    assert ld(g).keys == ("king", "queen")
    # an explicit format on a file that is not HDF5
    fails(g, f"{g}: not an HDF5 file: no signature b'\\x89HDF\\r\\n\\x1a\\n' at byte 0, 512, 1024, 2048, ...",
          format="hdf5")


def test_compressed_hdf5_is_refused_in_one_line(glove, tmp_path):
    import gzip

    raw = ann_file(tmp_path / "a.hdf5", glove)
    p = tmp_path / "a.hdf5.gz"
    p.write_bytes(gzip.compress(raw.read_bytes()))
    fails(p, f"{p}: is a compressed HDF5 file; decompress it first (embviz reads HDF5 files in place)")


def test_damaged_dataset_is_one_line(glove, tmp_path):
    p = tmp_path / "z.h5"
    with h5py.File(p, "w") as f:
        f.create_dataset("emb", data=glove.matrix[:1000], chunks=(1000, 50), compression="gzip")
        addr = f["emb"].id.get_chunk_info(0).byte_offset
    blob = bytearray(p.read_bytes())
    blob[addr + 10 : addr + 200] = bytes(190)  # the deflate stream of the only chunk
    p.write_bytes(bytes(blob))
    with pytest.raises(FormatError) as exc:
        ld(p)
    msg = str(exc.value)
    assert msg.startswith(f"{p}: dataset 'emb' cannot be read: ") and "\n" not in msg, msg


def test_data_outside_the_file_is_refused(glove, tmp_path):
    raw = tmp_path / "outside.bin"
    raw.write_bytes(glove.matrix[:10].tobytes())
    p = tmp_path / "ext.h5"
    with h5py.File(p, "w") as f:
        f.create_dataset("emb", shape=(10, 50), dtype="<f4", external=[(str(raw), 0, h5py.h5f.UNLIMITED)])
    fails(p, f"{p}: dataset 'emb' stores its data in external files, expected data stored in the file")
    src = tmp_path / "src.h5"
    with h5py.File(src, "w") as f:
        f.create_dataset("emb", data=glove.matrix[:10])
    layout = h5py.VirtualLayout(shape=(10, 50), dtype="f4")
    layout[:] = h5py.VirtualSource(str(src), "emb", shape=(10, 50))
    v = tmp_path / "virtual.h5"
    with h5py.File(v, "w") as f:
        f.create_virtual_dataset("emb", layout)
    fails(v, f"{v}: dataset 'emb' is virtual (its data are in other files), expected data stored in the file")
    # an external link is never followed: it is no dataset of the file
    e = tmp_path / "link.h5"
    with h5py.File(e, "w") as f:
        f["emb"] = h5py.ExternalLink(str(src), "emb")
    fails(e, f"{e}: no 2-D float dataset (datasets: none)")
    fails(e, f"{e}: no dataset 'emb' (datasets: none)", tensor="emb")


def test_missing_h5py_names_the_extra(glove, tmp_path, monkeypatch, runner):
    p = ann_file(tmp_path / "a.hdf5", glove)
    monkeypatch.setitem(sys.modules, "h5py", None)  # as in an install without the extra
    assert sniff(p).format == VectorFormat.hdf5  # detection needs no h5py
    with pytest.raises(MissingDependency) as exc:
        ld(p)
    assert str(exc.value) == f"{p}: is an HDF5 file; reading it needs h5py (pip install 'embviz[hdf5]')"
    r = runner.invoke(app, ["info", "-v", str(p), "--no-cache"])
    assert (r.exit_code, r.stdout) == (1, "")
    assert r.stderr == f"embviz: error: {p}: is an HDF5 file; reading it needs h5py (pip install 'embviz[hdf5]')\n"
