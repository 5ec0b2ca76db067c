"""Tables (embviz.io.tables, embviz.io.projector): Parquet, Arrow IPC/Feather, Spark ML folders,
the Projector pair; and every format against every other one on the same real GloVe rows.

Files are written by pyarrow in the layouts their producers use (Spark's exact schemas for
``Word2VecModel.save`` and ``getVectors().write.parquet``), and every reader must give back
identical ``Vectors``; ``neighbors`` and ``analogy`` answers must be equal across formats.
"""

from __future__ import annotations

import itertools
import json

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
    v = ld(p, keys=titles)  # --keys FILE replaces the table's own key column
    same(v, glove)
    assert v.keys_from == "titles.txt (--vocab)"


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
