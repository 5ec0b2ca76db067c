"""Tables (embviz.io.tables, embviz.io.projector): Parquet, Arrow IPC/Feather, Spark ML folders,
the Projector pair; and every format against every other one on the same real GloVe rows.

Files are written by pyarrow in the layouts their producers use (Spark's exact schemas for
``Word2VecModel.save`` and ``getVectors().write.parquet``), and every reader must give back
identical ``Vectors``; ``neighbors`` and ``analogy`` answers must be equal across formats.
"""

from __future__ import annotations

import itertools
import json
import re

import numpy as np
import pytest

from embviz import search
from embviz.cli import app
from embviz.errors import FormatError
from embviz.io import VectorFormat, load, save, sniff
from embviz.vectors import Vectors

N = 5_000


@pytest.fixture(scope="module")
def glove(sample) -> Vectors:
    """The first 5,000 rows of the real GloVe 6B 50d sample: the reference table."""
    return Vectors(sample.keys[:N], np.asarray(sample.matrix[:N]))


def ld(path, *args, **kw) -> Vectors:
    return load(path, *args, cache=False, **kw)


def same(v: Vectors, ref: Vectors) -> None:
    assert v.keys == ref.keys
    assert v.matrix.dtype == np.float32
    assert np.array_equal(v.matrix, ref.matrix)


def fails(path, exact: str, **kw) -> None:
    with pytest.raises(FormatError) as exc:
        ld(path, **kw)
    assert str(exc.value) == exact


def fixed(pa, matrix, dtype=None):
    dtype = dtype or pa.float32()
    flat = pa.array(np.ascontiguousarray(matrix).reshape(-1), type=dtype)
    return pa.FixedSizeListArray.from_arrays(flat, matrix.shape[1])


def spark_vectors(pa, matrix, sparse_rows=()):
    """Spark ML's VectorUDT storage: struct<type: int8, size: int32, indices: list<int32>, values: list<double>>."""
    n = len(matrix)
    kinds = np.ones(n, np.int8)
    kinds[list(sparse_rows)] = 0
    values = pa.ListArray.from_arrays(
        pa.array(np.arange(n + 1, dtype=np.int32) * matrix.shape[1]),
        pa.array(np.asarray(matrix, np.float64).reshape(-1)),
    )
    t = pa.struct([("type", pa.int8()), ("size", pa.int32()), ("indices", pa.list_(pa.int32())),
                   ("values", pa.list_(pa.float64()))])
    return pa.StructArray.from_arrays(
        [pa.array(kinds), pa.nulls(n, pa.int32()), pa.nulls(n, pa.list_(pa.int32())), values],
        fields=list(t),
    )


# -- Parquet ---------------------------------------------------------------------------------
@pytest.mark.parametrize("layout", ["fixed_size_list", "list", "large_list", "list<double>"])
def test_parquet_vector_column_layouts(glove, tmp_path, layout):
    import pyarrow as pa
    import pyarrow.parquet as pq

    m = glove.matrix
    if layout == "fixed_size_list":
        vec = fixed(pa, m)
    else:
        values = pa.array(m.reshape(-1).astype(np.float64 if layout == "list<double>" else np.float32))
        offsets = pa.array(np.arange(N + 1, dtype=np.int64 if layout == "large_list" else np.int32) * 50)
        cls = pa.LargeListArray if layout == "large_list" else pa.ListArray
        vec = cls.from_arrays(offsets, values)
    p = tmp_path / "glove.parquet"
    pq.write_table(pa.table({"word": list(glove.keys), "vector": vec}), p, row_group_size=1_000)
    assert pq.ParquetFile(p).num_row_groups == 5
    assert sniff(p).format == VectorFormat.parquet
    v = ld(p)
    same(v, glove)
    assert v.keys_from == "column word"
    lim = ld(p, limit=1_234)
    assert lim.keys == glove.keys[:1_234]
    assert np.array_equal(lim.matrix, glove.matrix[:1_234])


def test_item_embeddings_with_integer_ids(glove, tmp_path, runner):
    """A recommender's export: item_id int64 + embedding; `embviz neighbors -v items.parquet 1234`."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    ids = np.arange(1000, 1000 + N, dtype=np.int64)
    p = tmp_path / "item_embeddings.parquet"
    pq.write_table(pa.table({"popularity": np.arange(N, dtype=np.int32), "item_id": ids,
                             "embedding": fixed(pa, glove.matrix)}), p)
    v = ld(p)
    assert v.keys == tuple(map(str, ids))
    assert np.array_equal(v.matrix, glove.matrix)
    r = runner.invoke(app, ["neighbors", "-v", str(p), "1234", "-k", "3", "--no-cache"])
    assert r.exit_code == 0, r.stderr
    ref = search.neighbors(glove, glove.keys[234], k=3)
    assert r.stdout == "query\trank\tkey\tscore\n" + "".join(
        f"1234\t{n.rank}\t{glove.get_index(n.key) + 1000}\t{n.score:.6f}\n" for n in ref)
    assert r.stderr == "embviz: keys of item_embeddings.parquet: column item_id\n"
    titles = tmp_path / "titles.txt"
    titles.write_text("".join(k + "\n" for k in glove.keys))
    with pytest.raises(FormatError) as err:  # a keys file never replaces the table's own keys
        ld(p, keys=titles)
    assert str(err.value) == (
        f"{p}: the table has its own key column 'item_id', so --vocab titles.txt would replace those keys "
        "by row position; for titles or other labels use --meta FILE"
    )
    r = runner.invoke(app, ["neighbors", "-v", str(p), "1234", "--vocab", str(titles), "--no-cache"])
    assert r.exit_code == 1 and r.stdout == ""
    assert r.stderr == f"embviz: error: {err.value}\n"


def test_key_column_option_and_wide_layout(glove, tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    cols = {"title": list(glove.keys), "sku": [f"s{i}" for i in range(N)]}
    cols.update({f"f{j}": glove.matrix[:, j] for j in range(50)})
    p = tmp_path / "wide.parquet"
    pq.write_table(pa.table(cols), p)
    v = ld(p)  # every float column, in order; the first string column as keys
    same(v, glove)
    assert v.keys_from == "column title"
    v = ld(p, key_column="sku", vector_columns="f*")
    assert v.keys == tuple(f"s{i}" for i in range(N))
    assert np.array_equal(v.matrix, glove.matrix)
    v = ld(p, vector_columns="f3,f1")
    assert np.array_equal(v.matrix, glove.matrix[:, [3, 1]])
    fails(p, f"{p}: no column 'nope' for --key-column (columns: " + ", ".join(
        ["title (string)", "sku (string)"] + [f"f{j} (float)" for j in range(50)]) + ")", key_column="nope")


def test_parquet_without_keys_uses_the_sidecar(glove, tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    p = tmp_path / "emb.parquet"
    pq.write_table(pa.table({"vector": fixed(pa, glove.matrix)}), p)
    (tmp_path / "emb.keys.txt").write_text("".join(k + "\n" for k in glove.keys))
    v = ld(p)
    same(v, glove)
    assert v.keys_from == "emb.keys.txt (sidecar)"


# -- Arrow IPC / Feather ---------------------------------------------------------------------
def test_arrow_file_feather_and_stream(glove, tmp_path):
    import pyarrow as pa
    import pyarrow.feather as feather

    t = pa.table({"token": list(glove.keys), "vector": fixed(pa, glove.matrix)})
    f = tmp_path / "v.feather"
    feather.write_feather(t, f, chunksize=700)
    assert sniff(f).format == VectorFormat.arrow
    same(ld(f), glove)
    s = tmp_path / "v.arrows"
    with pa.OSFile(str(s), "wb") as sink, pa.ipc.new_stream(sink, t.schema) as w:
        for b in t.to_batches(max_chunksize=999):
            w.write_batch(b)
    assert sniff(s).format == VectorFormat.arrow
    same(ld(s), glove)


# -- Spark ML folders ------------------------------------------------------------------------
def _spark_parts(pa, pq, folder, table, parts=3):
    folder.mkdir(parents=True)
    (folder / "_SUCCESS").write_bytes(b"")
    for i, lo in enumerate(range(0, table.num_rows, -(-table.num_rows // parts))):
        part = folder / f"part-{i:05d}-0b2f6e9c-c000.snappy.parquet"
        pq.write_table(table.slice(lo, -(-table.num_rows // parts)), part, compression="snappy")
        (folder / f".{part.name}.crc").write_bytes(b"crc")


def test_spark_word2vec_model_save_folder(glove, tmp_path):
    """Word2VecModel.save(path): metadata/ (JSON) + data/*.parquet with word: string, vector: array<float>."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    model = tmp_path / "w2v_model"
    (model / "metadata").mkdir(parents=True)
    (model / "metadata" / "part-00000").write_text(json.dumps(
        {"class": "org.apache.spark.ml.feature.Word2VecModel", "sparkVersion": "4.0.0",
         "paramMap": {"vectorSize": 50}}) + "\n")
    vec = pa.ListArray.from_arrays(pa.array(np.arange(N + 1, dtype=np.int32) * 50), pa.array(glove.matrix.reshape(-1)))
    schema = pa.schema([("word", pa.string()), ("vector", pa.list_(pa.field("element", pa.float32(), False)))])
    table = pa.Table.from_arrays([pa.array(list(glove.keys)), vec.cast(schema.field("vector").type)], schema=schema)
    _spark_parts(pa, pq, model / "data", table)
    assert sniff(model).format == VectorFormat.spark
    same(ld(model), glove)
    same(load(model, cache_dir=tmp_path / "cache"), glove)  # through the cache (a folder entry)
    same(load(model, cache_dir=tmp_path / "cache"), glove)
    from embviz.io import cache

    assert [(e.source, e.count, e.status) for e in cache.entries(tmp_path / "cache")] == [(str(model), N, "ok")]
    same(ld(model, "parquet"), glove)  # an explicit parquet on a folder reads its parts
    part = next((model / "data").glob("*.parquet"))
    fails(part, f"{part}: is a file, expected a Spark or Parquet folder", format="spark")


def test_a_spark_folder_plots_and_its_layout_follows_its_contents(glove, tmp_path, runner):
    """plot on a folder: fingerprinted by its files (it used to be an internal error)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    model = tmp_path / "vectors"
    table = pa.table({"word": list(glove.keys), "vector": spark_vectors(pa, glove.matrix)})
    _spark_parts(pa, pq, model, table, parts=2)
    argv = ["plot", "-v", str(model), "--method", "pca", "--top", "200", "--plotlyjs", "cdn",
            "-o", str(tmp_path / "p.html"), "--cache-dir", str(tmp_path / "c")]
    first = runner.invoke(app, argv)
    assert first.exit_code == 0, first.stderr
    assert "from the projection cache" in runner.invoke(app, argv).stderr
    part = sorted(model.glob("*.parquet"))[0]  # one part rewritten: another table
    pq.write_table(table.slice(0, table.num_rows // 2).set_column(
        1, "vector", spark_vectors(pa, glove.matrix[: table.num_rows // 2] * 2)), part)
    again = runner.invoke(app, argv)
    assert again.exit_code == 0, again.stderr
    assert "from the projection cache" not in again.stderr


def test_spark_get_vectors_write_parquet_folder(glove, tmp_path):
    """model.getVectors().write.parquet(path): vector as Spark's VectorUDT struct, dense rows."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.table({"word": list(glove.keys), "vector": spark_vectors(pa, glove.matrix)})
    _spark_parts(pa, pq, tmp_path / "vectors", table, parts=2)
    same(ld(tmp_path / "vectors"), glove)


def test_spark_sparse_vector_is_refused(glove, tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    p = tmp_path / "v.parquet"
    pq.write_table(pa.table({"word": list(glove.keys[:10]), "vector": spark_vectors(pa, glove.matrix[:10], [7])}), p)
    fails(p, f"{p}: row 7, column 'vector': Spark sparse vector (type 0), expected dense vectors (type 1); "
             "densify with Vectors.dense(v.toArray())")


# -- bad tables ------------------------------------------------------------------------------
def test_bad_tables_name_the_row_and_column(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    def put(name, **cols):
        p = tmp_path / name
        pq.write_table(pa.table(cols), p)
        return p

    p = put("novec.parquet", word=["a", "b"], n=pa.array([1, 2]))
    fails(p, f"{p}: no float vector column (columns: word (string), n (int64)); expected list<float>, "
             "fixed_size_list<float>[dim], a Spark ML vector, or numeric columns named with --vector-columns")
    p = put("ragged.parquet", word=["a", "b", "c"], vector=[[1.0, 2.0], [3.0, 4.0], [5.0]])
    fails(p, f"{p}: row 2, column 'vector': vector has 1 values, expected 2 (ragged vectors)")
    p = put("nullvec.parquet", word=["a", "b"], vector=pa.array([[1.0, 2.0], None], pa.list_(pa.float32())))
    fails(p, f"{p}: row 1, column 'vector': null vector")
    p = put("nullval.parquet", word=["a", "b"], vector=pa.array([[1.0, 2.0], [3.0, None]], pa.list_(pa.float32())))
    fails(p, f"{p}: row 1, column 'vector': null value at position 1, expected a number")
    p = put("nullkey.parquet", word=["a", None, "c"], vector=[[1.0], [2.0], [3.0]])
    fails(p, f"{p}: row 1, column 'word': null key")
    p = put("nan.parquet", word=["a", "b"], vector=[[1.0, 2.0], [float("nan"), 4.0]])
    fails(p, f"{p}: row 1, column 0: value is nan, expected a finite number")
    p = tmp_path / "cut.parquet"
    pq.write_table(pa.table({"word": ["a"], "vector": [[1.0]]}), p)
    p.write_bytes(p.read_bytes()[:-12])
    with pytest.raises(FormatError, match=rf"^{p}: not a readable Parquet file: "):
        ld(p, format="parquet")


def test_bad_table_on_the_cli_is_one_line(tmp_path, runner):
    import pyarrow as pa
    import pyarrow.parquet as pq

    p = tmp_path / "ragged.parquet"
    pq.write_table(pa.table({"word": ["a", "b"], "vector": [[1.0, 2.0], [3.0]]}), p)
    r = runner.invoke(app, ["neighbors", "-v", str(p), "a"])
    assert (r.exit_code, r.stdout) == (1, "")
    assert r.stderr == f"embviz: error: {p}: row 1, column 'vector': vector has 1 values, expected 2 (ragged vectors)\n"


# -- the Projector pair ----------------------------------------------------------------------
def test_projector_pair(glove, tmp_path):
    rows = "".join("\t".join(repr(float(x)) for x in r) + "\n" for r in glove.matrix[:300])
    (tmp_path / "vectors.tsv").write_text(rows)
    (tmp_path / "metadata.tsv").write_text("".join(k + "\n" for k in glove.keys[:300]))
    assert sniff(tmp_path / "vectors.tsv").format == VectorFormat.projector
    ref = Vectors(glove.keys[:300], glove.matrix[:300])
    v = ld(tmp_path / "vectors.tsv")
    same(v, ref)
    assert v.keys_from == "metadata.tsv (sidecar)"
    # several columns: a header, the key column is --key-column or the first
    (tmp_path / "metadata.tsv").write_text("label\tword\n" + "".join(f"x{i}\t{k}\n" for i, k in enumerate(ref.keys)))
    assert ld(tmp_path / "vectors.tsv").keys == tuple(f"x{i}" for i in range(300))
    same(ld(tmp_path / "vectors.tsv", key_column="word"), ref)
    (tmp_path / "metadata.tsv").unlink()
    assert ld(tmp_path / "vectors.tsv").keys == tuple(map(str, range(300)))
    bad = tmp_path / "bad.tsv"
    bad.write_text("1\t2\t3\n4\t5\n")
    fails(bad, f"{bad}: line 2: 2 values, expected 3 (ragged vectors)")


# -- every format, the same table ------------------------------------------------------------
WRITERS = {  # name -> (file name, save kwargs)
    "word2vec": ("v.bin", {}),
    "word2vec-text": ("v.txt", {"precision": 9}),
    "glove": ("v.glove", {"precision": 9}),
    "fasttext": ("v.vec", {"precision": 9}),
    "projector": ("vectors.tsv", {"precision": 9}),
    "npy": ("v.npy", {}),
    "parquet": ("v.parquet", {}),
    "safetensors": ("v.safetensors", {}),
}


def test_round_trip_through_every_format_pair_is_exact(glove, tmp_path):
    ref = Vectors(glove.keys[:300], glove.matrix[:300] * np.float32(1.0000001))  # not 6-digit round
    for a, b in itertools.product(WRITERS, repeat=2):
        d = tmp_path / f"{a}-{b}"
        (d / "a").mkdir(parents=True)
        (d / "b").mkdir()
        name_a, kw_a = WRITERS[a]
        name_b, kw_b = WRITERS[b]
        save(ref, d / "a" / name_a, a, **kw_a)
        mid = ld(d / "a" / name_a)
        save(mid, d / "b" / name_b, b, **kw_b)
        back = ld(d / "b" / name_b)
        assert back.keys == ref.keys, (a, b)
        assert np.array_equal(back.matrix, ref.matrix), (a, b)


def test_answers_are_equal_across_formats(glove, tmp_path, runner):
    expected_n = search.neighbors(glove, ["king", "paris", "computer"], k=5)
    expected_a = search.analogy(glove, [("man", "king", "woman"), ("france", "paris", "germany")], k=3)
    for fmt, (name, kw) in WRITERS.items():
        folder = tmp_path / fmt
        folder.mkdir()
        save(glove, folder / name, fmt, **kw)
        v = ld(folder / name)
        assert search.neighbors(v, ["king", "paris", "computer"], k=5) == expected_n, fmt
        assert search.analogy(v, [("man", "king", "woman"), ("france", "paris", "germany")], k=3) == expected_a, fmt
        r = runner.invoke(app, ["analogy", "-v", str(folder / name), "man", "king", "woman", "--cache-dir",
                                str(tmp_path / "cache")])
        assert r.exit_code == 0, (fmt, r.stderr)
        assert r.stdout == f"a\tb\tc\trank\tkey\tscore\nman\tking\twoman\t1\tqueen\t{expected_a[0].score:.6f}\n", fmt


def test_parquet_writer_schema_and_row_groups(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = np.random.default_rng(0)
    v = Vectors([f"k{i}" for i in range(70_000)], rng.standard_normal((70_000, 3)).astype(np.float32))
    save(v, tmp_path / "o.parquet")
    f = pq.ParquetFile(tmp_path / "o.parquet")
    assert f.schema_arrow == pa.schema([("key", pa.string()), ("vector", pa.list_(pa.float32(), 3))])
    assert [f.metadata.row_group(i).num_rows for i in range(f.num_row_groups)] == [65_536, 4_464]
    same(ld(tmp_path / "o.parquet"), v)


def test_convert_cli_writes_the_new_formats(glove, tmp_path, runner):
    src = tmp_path / "g.txt"
    save(glove, src, "glove", precision=9)
    for name, fmt in (("o.npy", "npy"), ("o.parquet", "parquet"), ("o.safetensors", "safetensors")):
        r = runner.invoke(app, ["convert", str(src), str(tmp_path / name)])
        assert r.exit_code == 0, r.stderr
        written = str(tmp_path / name) + ("" if fmt == "parquet" else f", {tmp_path / 'o.keys.txt'}")
        assert r.stderr == f"embviz: wrote 5,000 x 50 vectors ({fmt}) to {written}\n"
        same(ld(tmp_path / name), glove)


def test_input_format_overrides_the_sniff(glove, tmp_path, runner):
    p = tmp_path / "table.dat"
    np.save(p.with_suffix(".npy"), glove.matrix[:3])
    p.write_bytes(p.with_suffix(".npy").read_bytes())
    r = runner.invoke(app, ["lookup", "-v", str(p), "--input-format", "npy", "--no-cache", "2"])
    assert r.exit_code == 0, r.stderr
    assert r.stdout == "id\tkey\tvector\n2\t2\t" + " ".join(map(str, glove.matrix[2])) + "\n"
    r = runner.invoke(app, ["lookup", "-v", str(p), "--input-format", "parquet", "--no-cache", "2"])
    assert r.exit_code == 1
    assert r.stderr.startswith(f"embviz: error: {p}: not a readable Parquet file: ")


@pytest.mark.slow
def test_folder_written_by_pyspark_itself(glove, tmp_path):
    """A DataFrame of (word, VectorUDT) as getVectors() returns, written by Spark's .write.parquet()."""
    from pyspark.ml.linalg import Vectors as SparkVectors
    from pyspark.sql import SparkSession

    spark = (SparkSession.builder.master("local[1]").appName("embviz-formats-test")
             .config("spark.ui.enabled", "false").config("spark.sql.shuffle.partitions", "1").getOrCreate())
    try:
        rows = [(k, SparkVectors.dense(r.tolist())) for k, r in zip(glove.keys[:300], glove.matrix[:300])]
        spark.createDataFrame(rows, ["word", "vector"]).coalesce(2).write.parquet(str(tmp_path / "vectors"))
        sparse = [("a", SparkVectors.dense([1.0, 2.0])), ("b", SparkVectors.sparse(2, [1], [3.0]))]
        spark.createDataFrame(sparse, ["word", "vector"]).coalesce(1).write.parquet(str(tmp_path / "sparse"))
    finally:
        spark.stop()
    v = ld(tmp_path / "vectors")
    assert sorted(v.keys) == sorted(glove.keys[:300])
    order = [glove.get_index(k) for k in v.keys]
    assert np.array_equal(v.matrix, glove.matrix[order])
    with pytest.raises(FormatError) as exc:  # a folder's rows are counted across its parts
        ld(tmp_path / "sparse")
    assert str(exc.value) == (f"{tmp_path / 'sparse'}: row 1, column 'vector': Spark sparse vector (type 0), expected dense "
                              "vectors (type 1); densify with Vectors.dense(v.toArray())")


# -- damaged Parquet files found by tests/test_fuzz.py's random (long profile) runs -----------
def _fuzz_file(keys, values, mutation):
    """The fuzz harness's file: pyarrow writes key + fixed_size_list<float32>, then one byte mutation."""
    import io

    import pyarrow as pa
    import pyarrow.parquet as pq

    m = np.array(values, dtype=np.float32)
    buf = io.BytesIO()
    pq.write_table(pa.table({"key": keys, "vector": pa.array(m.tolist(), type=pa.list_(pa.float32(), m.shape[1]))}), buf)
    raw = buf.getvalue()
    kind, pos, arg = mutation
    if kind == "flip":
        return raw[:pos] + bytes([raw[pos] ^ arg]) + raw[pos + 1:]
    assert kind == "badutf8"
    return raw[:pos] + b"\xff\xc3" + raw[pos:]


FUZZ_FOUND = [  # (keys, vectors, mutation, what pyarrow.parquet.read_table says, embviz's line after the path)
    (["\x075]\x9e\U00040afa\xeb\U0006857f\U000fa18a\xef\xdd\x19\xac"], [[2.9999998842007716e+18]], ("flip", 5, 2),
     "Column 1 named vector expected length 0 but got length 1",
     "row group 0: 0 rows decoded from columns key, vector, but its footer says 1 rows (damaged file?)"),
    (["\xe3\U000381cc\x83u\x7f\x8c\x81\xfb", "\U0001f35b\xd2\xb0\U000596f1f#\x03"],
     [[3.6379308700561523, -9.519526481628418, -6.103515625e-05, 2.9999998842007716e+18],
      [-1.0, -0.0, -0.7237420678138733, -7.839767932891846]], ("badutf8", 177, None),
     "Column 1 named vector expected length 2 but got length 0",
     "row group 0: 0 rows decoded from columns key, vector, but its footer says 2 rows (damaged file?)"),
    (["\U00013ed3\xb9\xb3\x10\xd4\xe3", "\U00053df2<\xd3\xb4\U00081574\xe9\u949a\xc3.\xa7W&", "\U000b7c89\xe0.!\u4927i\xbc"],
     [[-1.0, 4.706833362579346], [2.9999998842007716e+18, 2.9999998842007716e+18], [65504.0, 1.401298464324817e-45]],
     ("flip", 324, 211), None,
     "not a readable Parquet file: a column name in its schema is not valid UTF-8 (damaged file?)"),
]


@pytest.mark.parametrize("keys, values, mutation, pyarrow_says, line", FUZZ_FOUND,
                         ids=["no-rows-decoded", "no-rows-decoded-2", "column-name-not-utf8"])
def test_damaged_parquet_found_by_fuzzing_is_one_line(tmp_path, keys, values, mutation, pyarrow_says, line):
    """Before: an AssertionError (no rows decoded) or a UnicodeDecodeError escaped the reader."""
    import pyarrow.parquet as pq

    p = tmp_path / "arr.parquet"
    p.write_bytes(_fuzz_file(keys, values, mutation))
    if pyarrow_says is not None:  # the file is damaged in a way pyarrow's full read detects
        with pytest.raises(Exception, match=re.escape(pyarrow_says)):
            pq.read_table(p)
    fails(p, f"{p}: {line}")


def test_a_key_column_stored_as_bytes_loads_its_keys(tmp_path):
    """A string column whose UTF-8 annotation is lost (older Hive/Impala writers, or a flipped
    footer byte, found by the fuzz) is a bytes column: named like a key, it gives the keys.
    Before, such a column was skipped and the keys silently became row ids."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    vec = fixed(pa, np.arange(6, dtype=np.float32).reshape(3, 2))
    p = tmp_path / "bytes.parquet"
    pq.write_table(pa.table({"key": pa.array([b"caf\xc3\xa9", b"b", b"c"], pa.binary()), "vector": vec}), p)
    v = ld(p)
    assert (v.keys, v.keys_from) == (("café", "b", "c"), "column key")
    bad = tmp_path / "badbytes.parquet"
    pq.write_table(pa.table({"key": pa.array([b"a", b"b", b"\xff\xc3x"], pa.binary()), "vector": vec}), bad)
    fails(bad, f"{bad}: row 2, column 'key': key b'\\xff\\xc3x' is not valid UTF-8, expected text keys")
    blob = tmp_path / "blob.parquet"  # bytes not named like a key are data, not keys
    pq.write_table(pa.table({"thumbnail": pa.array([b"\x89PNG%d" % i for i in range(3)], pa.binary()),
                             "vector": vec}), blob)
    assert ld(blob).keys_from.startswith("row ids 0..2 ")
    fails(blob, f"{blob}: row 0, column 'thumbnail': key b'\\x89PNG0' is not valid UTF-8, expected text keys",
          key_column="thumbnail")


def test_a_string_key_column_with_bytes_that_are_not_utf8_names_the_row(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    p = tmp_path / "badutf8.parquet"
    keys = pa.array([b"ok", b"fine", b"bad\xe9", b"x"], pa.binary()).view(pa.string())  # pyarrow writes it as is
    pq.write_table(pa.table({"word": keys, "vector": fixed(pa, np.ones((4, 2), np.float32))}), p)
    fails(p, f"{p}: row 2, column 'word': key b'bad\\xe9' is not valid UTF-8, expected text keys")


def test_key_column_option_must_name_text_or_integers(tmp_path):
    """--key-column on a float column gave float keys (1.5, 2.5) that no query could match."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    p = tmp_path / "f.parquet"
    pq.write_table(pa.table({"score": [1.5, 2.5], "vector": fixed(pa, np.ones((2, 2), np.float32))}), p)
    fails(p, f"{p}: column 'score' is double, expected strings or integers for --key-column", key_column="score")


def test_dictionary_encoded_key_column(tmp_path):
    """pandas writes a categorical column as dictionary<string>: it is a key column too."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    p = tmp_path / "cat.parquet"
    keys = pa.array(["x", "y", "z"]).dictionary_encode()
    pq.write_table(pa.table({"word": keys, "vector": fixed(pa, np.eye(3, dtype=np.float32))}), p)
    assert pq.read_schema(p).field("word").type == pa.dictionary(pa.int32(), pa.string())
    v = ld(p)
    assert (v.keys, v.keys_from) == (("x", "y", "z"), "column word")


def test_a_damaged_column_that_is_not_used_is_refused_as_pyarrow_refuses_it(tmp_path):
    """The footer byte that says the key column holds byte arrays flipped to FLOAT: pyarrow's full
    read refuses the file; embviz used to skip the column (no longer a key) and load row ids."""
    import io

    import pyarrow as pa
    import pyarrow.parquet as pq

    buf = io.BytesIO()
    pq.write_table(pa.table({"key": ["a", "b", "c"], "vector": fixed(pa, np.ones((3, 2), np.float32))}), buf)
    raw = buf.getvalue()
    # the key column's SchemaElement in the Thrift compact footer: type BYTE_ARRAY (zigzag 6 = 0x0c), then its name
    hit = re.search(rb"\x15\x0c.{0,6}\x18\x03key", raw, re.S)
    assert hit is not None
    p = tmp_path / "retyped.parquet"
    p.write_bytes(raw[: hit.start() + 1] + b"\x08" + raw[hit.start() + 2 :])  # zigzag 4: FLOAT
    assert pq.ParquetFile(p).schema_arrow.field("key").type == pa.float32()
    with pytest.raises(OSError, match="Unencoded byte array data bytes does not support FLOAT"):
        pq.read_table(p)
    fails(p, f"{p}: row group 0: cannot read: Unencoded byte array data bytes does not support FLOAT")


def test_a_column_name_that_is_not_utf8_is_one_line(tmp_path):
    import io

    import pyarrow as pa
    import pyarrow.parquet as pq

    buf = io.BytesIO()
    pq.write_table(pa.table({"key": ["a", "b"], "vector": fixed(pa, np.ones((2, 2), np.float32))}), buf)
    p = tmp_path / "name.parquet"
    p.write_bytes(buf.getvalue().replace(b"\x03key", b"\x03k\xffy"))
    fails(p, f"{p}: not a readable Parquet file: a column name in its schema is not valid UTF-8 (damaged file?)")


def test_batches_read_ahead_on_a_thread_keep_order_errors_and_stop_early(glove, tmp_path, monkeypatch):
    """With a core to spare the Parquet reader decodes the next batches on a helper thread."""
    import threading

    import pyarrow as pa
    import pyarrow.parquet as pq

    from embviz.io import tables
    from embviz.io.tables import _prefetched

    started = []
    real = tables._prefetched
    monkeypatch.setattr(tables, "_read_ahead", lambda: True)  # whatever the machine's load
    monkeypatch.setattr(tables, "_prefetched", lambda items: started.append(1) or real(items))

    def items():
        yield from range(5)
        raise FormatError("f.parquet: row group 3: cannot read: broken")

    got = []
    with pytest.raises(FormatError, match="^f.parquet: row group 3: cannot read: broken$"):
        for x in _prefetched(items()):
            got.append(x)
    assert got == [0, 1, 2, 3, 4]
    gen = _prefetched(iter(range(1_000)))
    assert [next(gen) for _ in range(3)] == [0, 1, 2]
    gen.close()
    assert not [t for t in threading.enumerate() if t.name == "embviz-parquet-reader"]
    p = tmp_path / "groups.parquet"
    pq.write_table(pa.table({"word": list(glove.keys), "vector": fixed(pa, glove.matrix)}), p, row_group_size=500)
    v = ld(p, limit=1_234)  # stops after 3 of 10 row groups: the reader thread ends with the load
    assert v.keys == glove.keys[:1_234] and np.array_equal(v.matrix, glove.matrix[:1_234])
    assert not [t for t in threading.enumerate() if t.name == "embviz-parquet-reader"]
    same(ld(p), glove)
    assert started == [1, 1]


def test_read_ahead_only_with_a_core_to_spare(monkeypatch):
    from embviz.io import tables

    monkeypatch.setattr(tables.os, "sched_getaffinity", lambda pid: {0, 1})
    for avg, expected in ((0.2, True), (1.0, True), (1.3, False), (2.8, False)):
        monkeypatch.setattr(tables.os, "getloadavg", lambda avg=avg: (avg, avg, avg))
        assert tables._read_ahead() is expected, avg
