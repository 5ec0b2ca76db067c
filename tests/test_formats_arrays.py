"""Arrays without keys (embviz.io.arrays, embviz.io.keys): .npy, .npz, safetensors, PyTorch.

Every file here is written by its real producer (numpy, the safetensors package) from the same
real GloVe sample rows, and every reader must give back identical ``Vectors``.
"""

from __future__ import annotations

import importlib.util
import json
import struct
import zipfile

import numpy as np
import pytest

from embviz import io as embviz_io
from embviz import search
from embviz.cli import app
from embviz.errors import FormatError, InvalidQuery, MissingDependency
from embviz.io import VectorFormat, load, save, sniff
from embviz.vectors import Vectors

N = 5_000  # rows of the GloVe sample used here (the most frequent keys)


@pytest.fixture(scope="module")
def glove(sample) -> Vectors:
    """The first 5,000 rows of the real GloVe 6B 50d sample: the reference table."""
    return Vectors(sample.keys[:N], np.asarray(sample.matrix[:N]))


def ld(path, *args, **kw) -> Vectors:
    return load(path, *args, cache=False, **kw)


def keys_txt(path, keys) -> None:
    path.write_text("".join(k + "\n" for k in keys), "utf-8")


def same(v: Vectors, ref: Vectors) -> None:
    assert v.keys == ref.keys
    assert v.matrix.dtype == np.float32
    assert np.array_equal(v.matrix, ref.matrix)


def fails(path, exact: str, **kw) -> None:
    with pytest.raises(FormatError) as exc:
        ld(path, **kw)
    assert str(exc.value) == exact


# -- .npy ------------------------------------------------------------------------------------
def test_npy_with_sidecar_is_identical_and_mapped_in_place(glove, tmp_path):
    p = tmp_path / "emb.npy"
    np.save(p, glove.matrix)
    keys_txt(tmp_path / "emb.keys.txt", glove.keys)
    assert sniff(p).format == VectorFormat.npy
    v = ld(p)
    same(v, glove)
    assert v.keys_from == "emb.keys.txt (sidecar)"
    assert not v.matrix.flags.writeable and not v.matrix.flags.owndata
    # the sidecar's keys stay bytes until asked for (no 5,000 strings made to load the table)
    from embviz.vectors import KeyBlob

    fresh = ld(p)
    assert isinstance(fresh.keys, KeyBlob) and fresh.keys._all is None
    assert fresh.get_index(glove.keys[1234]) == 1234 and fresh.keys._all is None
    # zero copy: the table is the file's pages, so a change to the file shows through
    m = np.load(p, mmap_mode="r+")
    m[3, 7] = 123.5
    m.flush()
    assert v.matrix[3, 7] == np.float32(123.5)


@pytest.mark.parametrize("dtype", ["float16", "float64", ">f4", "int32"])
def test_npy_other_dtypes_are_converted_once(glove, tmp_path, dtype):
    p = tmp_path / "emb.npy"
    src = (glove.matrix * 100).astype(dtype) if dtype == "int32" else glove.matrix.astype(dtype)
    np.save(p, src)
    keys_txt(tmp_path / "emb.keys.txt", glove.keys)
    v = ld(p)
    assert np.array_equal(v.matrix, src.astype(np.float32))
    assert v.matrix.flags.owndata or v.matrix.base is not None


def test_npy_fortran_order(glove, tmp_path):
    p = tmp_path / "emb.npy"
    np.save(p, np.asfortranarray(glove.matrix))
    keys_txt(tmp_path / "emb.keys.txt", glove.keys)
    same(ld(p), glove)


def test_npy_without_keys_uses_row_ids(glove, tmp_path):
    p = tmp_path / "table.npy"
    np.save(p, glove.matrix)
    v = ld(p)
    assert v.keys == tuple(str(i) for i in range(N))
    assert v.keys_from == "row ids 0..4,999 (no keys file: pass --vocab FILE or put table.keys.txt beside it)"
    assert np.array_equal(v.matrix, glove.matrix)


def test_npy_limit_and_float16_storage(glove, tmp_path):
    p = tmp_path / "emb.npy"
    np.save(p, glove.matrix)
    keys_txt(tmp_path / "emb.keys.txt", glove.keys)
    v = ld(p, limit=10, dtype="float16")
    assert v.keys == glove.keys[:10]
    assert np.array_equal(v.matrix, glove.matrix[:10].astype(np.float16))


# -- keys sources ----------------------------------------------------------------------------
def test_keys_option_lines_tsv_parquet_and_vocab(glove, tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    p = tmp_path / "emb.npy"
    np.save(p, glove.matrix)
    lines = tmp_path / "k.txt"
    keys_txt(lines, glove.keys)
    v = ld(p, keys=lines)
    same(v, glove)
    assert v.keys_from == "k.txt (--vocab)"
    tsv = tmp_path / "k.tsv"
    tsv.write_text("id\tword\tcount\n" + "".join(f"{i}\t{k}\t{N - i}\n" for i, k in enumerate(glove.keys)))
    same(ld(p, keys=tsv, key_column="word"), glove)
    assert ld(p, keys=tsv).keys == tuple(str(i) for i in range(N))  # the first column by default
    kp = tmp_path / "k.parquet"
    pq.write_table(pa.table({"n": list(range(N)), "token": list(glove.keys)}), kp)
    same(ld(p, keys=kp), glove)  # the first string column
    vocab = tmp_path / "emb.vocab"  # word2vec/fastText vocabulary: 'word count'
    vocab.write_text("".join(f"{k} {N - i}\n" for i, k in enumerate(glove.keys)))
    v = ld(p)
    same(v, glove)
    assert v.keys_from == "emb.vocab (sidecar)"


def test_tokenizer_json_beside_a_model2vec_model(glove, tmp_path):
    """model2vec: tensor 'embeddings' in model.safetensors, vocabulary in tokenizer.json."""
    from safetensors.numpy import save_file

    save_file({"embeddings": np.ascontiguousarray(glove.matrix)}, tmp_path / "model.safetensors")
    vocab = {k: i for i, k in enumerate(glove.keys[:-1])}
    doc = {"model": {"type": "WordLevel", "vocab": vocab},
           "added_tokens": [{"id": N - 1, "content": glove.keys[-1], "special": True}]}
    (tmp_path / "tokenizer.json").write_text(json.dumps(doc), "utf-8")
    v = ld(tmp_path / "model.safetensors")
    same(v, glove)
    assert v.keys_from == "tokenizer.json (sidecar)"


def test_sentence_transformers_static_embedding(glove, tmp_path):
    """sentence-transformers StaticEmbedding: 0_StaticEmbedding/model.safetensors 'embedding.weight'."""
    from safetensors.numpy import save_file

    folder = tmp_path / "0_StaticEmbedding"
    folder.mkdir()
    save_file({"embedding.weight": np.ascontiguousarray(glove.matrix)}, folder / "model.safetensors")
    unigram = {"model": {"type": "Unigram", "vocab": [[k, -1.0] for k in glove.keys]}}
    (folder / "tokenizer.json").write_text(json.dumps(unigram), "utf-8")
    same(ld(folder / "model.safetensors"), glove)


def test_keys_file_of_the_wrong_length(glove, tmp_path):
    p = tmp_path / "emb.npy"
    np.save(p, glove.matrix)
    keys_txt(tmp_path / "emb.keys.txt", glove.keys[:-1])
    fails(p, f"{tmp_path / 'emb.keys.txt'}: 4,999 keys but emb.npy has 5,000 rows; expected one key per row")
    keys_txt(tmp_path / "emb.keys.txt", [*glove.keys, "extra"])
    fails(p, f"{tmp_path / 'emb.keys.txt'}: 5,001 keys but emb.npy has 5,000 rows; expected one key per row")
    (tmp_path / "emb.keys.txt").write_text("a\n\nc\n" + "x\n" * (N - 3))
    fails(p, f"{tmp_path / 'emb.keys.txt'}: line 2: empty key")
    fails(p, f"{tmp_path / 'nope.txt'}: no such keys file (--vocab)", keys=tmp_path / "nope.txt")


def test_duplicate_keys_keep_the_first_with_one_warning(glove, tmp_path):
    from embviz.errors import EmbvizWarning

    p = tmp_path / "emb.npy"
    np.save(p, glove.matrix[:4])
    keys_txt(tmp_path / "emb.keys.txt", ["a", "b", "a", "c"])
    with pytest.warns(EmbvizWarning, match=r"1 duplicate keys, kept the first occurrence of each \(first duplicate: 'a'"):
        v = ld(p)
    assert v.keys == ("a", "b", "c")
    assert np.array_equal(v.matrix, glove.matrix[[0, 1, 3]])


def test_an_empty_line_in_a_keys_file_names_its_line(glove, tmp_path):
    p = tmp_path / "emb.npy"
    np.save(p, glove.matrix[:4])
    (tmp_path / "emb.keys.txt").write_text("a\nb\n\nc\n")
    with pytest.raises(FormatError, match=r"emb\.keys\.txt: line 3: empty key$"):
        ld(p)


# -- .npz ------------------------------------------------------------------------------------
def test_known_embedding_names():
    from embviz.io.arrays import KNOWN_NAMES

    known = ["embeddings", "embedding.weight", "model.embed_tokens.weight", "transformer.wte.weight",
             "bert.embeddings.word_embeddings.weight", "0.embedding.weight", "embedding", "emb", "weight"]
    assert [n for n in known if not KNOWN_NAMES.match(n)] == []
    assert [n for n in ["proj", "encoder.layer.0.weight", "lm_head.weight"] if KNOWN_NAMES.match(n)] == []


def test_npz_only_2d_array_and_tensor_option(glove, tmp_path):
    p = tmp_path / "emb.npz"
    np.savez(p, emb=glove.matrix, bias=np.zeros(N, np.float32))
    keys_txt(tmp_path / "emb.keys.txt", glove.keys)
    assert sniff(p).format == VectorFormat.npz
    same(ld(p), glove)
    q = tmp_path / "two.npz"
    np.savez_compressed(q, a=glove.matrix, b=glove.matrix[:, :10])
    keys_txt(tmp_path / "two.keys.txt", glove.keys)
    fails(q, f"{q}: several 2-D arrays fit: a [5000, 50], b [5000, 10]; pick one with --tensor NAME")
    same(ld(q, tensor="a"), glove)
    fails(q, f"{q}: no tensor 'c' (tensors: a [5000, 50] float32, b [5000, 10] float32)", tensor="c")


# -- safetensors -----------------------------------------------------------------------------
def test_safetensors_known_name_wins_among_several(glove, tmp_path):
    from safetensors.numpy import save_file

    p = tmp_path / "model.safetensors"
    tensors = {
        "encoder.layer.0.weight": np.ones((50, 50), np.float32),
        "model.embed_tokens.weight": np.ascontiguousarray(glove.matrix),
    }
    save_file(tensors, p)
    keys_txt(tmp_path / "model.keys.txt", glove.keys)
    assert sniff(p).format == VectorFormat.safetensors
    v = ld(p)
    same(v, glove)
    assert not v.matrix.flags.owndata  # memory-mapped
    save_file({"a": np.ascontiguousarray(glove.matrix), "b": np.ones((N, 3), np.float16)}, p)
    fails(p, f"{p}: several 2-D arrays fit: a [5000, 50], b [5000, 3]; pick one with --tensor NAME")
    assert np.array_equal(ld(p, tensor="b").matrix, np.ones((N, 3), np.float32))


def test_safetensors_bfloat16(glove, tmp_path):
    """bfloat16 (no numpy dtype) is the top half of a float32: written by hand, read exactly."""
    f32 = glove.matrix[:100].copy()
    bits = (f32.view(np.uint32) >> 16).astype("<u2")
    exact = (bits.astype(np.uint32) << 16).view(np.float32)
    header = json.dumps({"w": {"dtype": "BF16", "shape": [100, 50], "data_offsets": [0, bits.nbytes]}}).encode()
    p = tmp_path / "bf.safetensors"
    p.write_bytes(struct.pack("<Q", len(header)) + header + bits.tobytes())
    assert np.array_equal(ld(p).matrix, exact)


def test_safetensors_header_that_lies(glove, tmp_path):
    from safetensors.numpy import save_file

    p = tmp_path / "m.safetensors"
    save_file({"embeddings": np.ascontiguousarray(glove.matrix[:10])}, p)
    blob = p.read_bytes()
    (n,) = struct.unpack("<Q", blob[:8])
    header = json.loads(blob[8 : 8 + n])
    header["embeddings"]["shape"] = [20, 50]  # claims twice the rows it has
    text = json.dumps(header).encode()
    p.write_bytes(struct.pack("<Q", len(text)) + text + blob[8 + n :])
    fails(p, f"{p}: safetensors header lies about tensor 'embeddings': F32 [20, 50] needs 4,000 bytes at "
             "[0, 2,000), the data section has 2,000 bytes")
    p.write_bytes(struct.pack("<Q", 10**6) + b"{" + b" " * 100)
    fails(p, f"{p}: safetensors header length 1,000,000 exceeds the file (109 bytes)", format="safetensors")


def test_safetensors_writer_is_read_by_the_safetensors_package(glove, tmp_path):
    from safetensors.numpy import load_file

    written = save(glove, tmp_path / "out.safetensors")
    assert [p.name for p in written] == ["out.safetensors", "out.keys.txt"]
    tensors = load_file(tmp_path / "out.safetensors")
    assert list(tensors) == ["embeddings"]
    assert np.array_equal(tensors["embeddings"], glove.matrix)
    assert (tmp_path / "out.keys.txt").read_text("utf-8").split("\n")[:-1] == list(glove.keys)
    same(ld(tmp_path / "out.safetensors"), glove)


def test_npy_writer_is_read_by_numpy(glove, tmp_path):
    written = save(glove, tmp_path / "out.npy")
    assert [p.name for p in written] == ["out.npy", "out.keys.txt"]
    m = np.load(tmp_path / "out.npy", allow_pickle=False)
    assert m.dtype == np.dtype("<f4") and m.flags.c_contiguous
    assert np.array_equal(m, glove.matrix)
    same(ld(tmp_path / "out.npy"), glove)


# -- bad arrays ------------------------------------------------------------------------------
def test_truncated_npy(glove, tmp_path):
    p = tmp_path / "t.npy"
    np.save(p, glove.matrix[:10])
    p.write_bytes(p.read_bytes()[:-40])
    fails(p, f"{p}: truncated .npy: header says [10, 50] float32 (2,128 bytes) but the file has 2,088 bytes")


def test_object_npy_is_never_unpickled(tmp_path):
    p = tmp_path / "o.npy"
    np.save(p, np.array([[object(), 1]], dtype=object)[:, 1:], allow_pickle=True)
    fails(p, f"{p}: .npy array of Python objects (dtype object); embviz never unpickles, expected a numeric array")
    z = tmp_path / "o.npz"
    np.savez(z, a=np.array([["x", 1]], dtype=object))
    fails(z, f"{z}: array of Python objects; embviz never unpickles", tensor="a")


def test_nan_and_inf_name_the_row_and_column(glove, tmp_path):
    from safetensors.numpy import save_file

    m = np.array(glove.matrix[:20])
    m[13, 4] = np.nan
    p = tmp_path / "n.npy"
    np.save(p, m)
    fails(p, f"{p}: row 13, column 4: value is nan, expected a finite number")
    m[13, 4] = 0
    m[17, 49] = -np.inf
    s = tmp_path / "n.safetensors"
    save_file({"embeddings": m}, s)
    fails(s, f"{s}: row 17, column 49: value is -inf, expected a finite number")
    big = tmp_path / "big.npy"  # float64 beyond float32's range
    np.save(big, np.array([[1.0, 1e300]]))
    fails(big, f"{big}: row 0, column 1: value is inf, expected a finite number")


def test_compressed_npy_is_refused_in_one_line(glove, tmp_path):
    import gzip

    p = tmp_path / "emb.npy.gz"
    raw = tmp_path / "emb.npy"
    np.save(raw, glove.matrix[:3])
    p.write_bytes(gzip.compress(raw.read_bytes()))
    fails(p, f"{p}: is a compressed .npy array; decompress it first (embviz memory-maps .npy files directly)")


def test_a_row_whose_norm_overflows_is_named_by_row_id(tmp_path):
    p = tmp_path / "big.npy"
    np.save(p, np.array([[1, 2], [3e19, 3e19], [5, 6]], np.float32))
    keys_txt(tmp_path / "big.keys.txt", ["a", "b", "c"])
    with pytest.raises(FormatError, match=rf"^{p}: row 1 \('b'\): its squared norm 1.8e\+39 overflows float32"):
        ld(p)


def test_not_2d(tmp_path):
    p = tmp_path / "v.npy"
    np.save(p, np.zeros(5, np.float32))
    fails(p, f"{p}: .npy array of shape [5], expected 2-D (rows, dim)")


def test_pytorch_file_needs_torch(tmp_path):
    """A .pt is never unpickled by embviz: without torch it says so in one line."""
    p = tmp_path / "model.pt"
    with zipfile.ZipFile(p, "w") as z:
        z.writestr("archive/data.pkl", b"\x80\x02}q\x00.")
        z.writestr("archive/version", b"3\n")
    assert sniff(p).format == VectorFormat.torch
    if importlib.util.find_spec("torch") is None:
        with pytest.raises(MissingDependency) as exc:
            ld(p)
        assert str(exc.value) == (
            f"{p}: is a PyTorch file; reading it needs torch (pip install 'embviz[torch]'), "
            "or save the tensor with safetensors"
        )
    else:  # with torch, weights_only=True loads the (empty) state dict and finds no table
        with pytest.raises(FormatError, match="no 2-D floating array"):
            ld(p)


# -- padding_idx -----------------------------------------------------------------------------
def test_padding_row_is_never_a_neighbor_or_answer(glove, tmp_path):
    queen = glove.get_index("queen")
    plain = search.neighbors(glove, "king", k=5)
    assert "queen" in [n.key for n in plain]
    p = tmp_path / "emb.npy"
    np.save(p, glove.matrix)
    keys_txt(tmp_path / "emb.keys.txt", glove.keys)
    v = ld(p, padding_idx=queen)
    assert v.padding_idx == queen
    got = [n.key for n in search.neighbors(v, "king", k=4)]
    assert got == [n.key for n in plain if n.key != "queen"][:4]
    assert search.analogy(glove, ("man", "king", "woman"))[0].key == "queen"
    answers = search.analogy(v, ("man", "king", "woman"), k=3)
    assert "queen" not in [a.key for a in answers]
    assert [a.key for a in answers] == [a.key for a in search.analogy(glove, ("man", "king", "woman"), k=4)
                                        if a.key != "queen"][:3]
    # lookup still returns it
    assert search.lookup(v, ["queen"])[0].vector == search.lookup(glove, ["queen"])[0].vector
    assert ld(p, padding_idx=-1).padding_idx == N - 1
    with pytest.raises(InvalidQuery, match=r"^padding index 5000 is out of range: the table has 5,000 rows$"):
        ld(p, padding_idx=N)


def test_padding_idx_cli(glove, tmp_path, runner):
    p = tmp_path / "emb.npy"
    np.save(p, glove.matrix)
    keys_txt(tmp_path / "emb.keys.txt", glove.keys)
    queen = glove.get_index("queen")
    r = runner.invoke(app, ["neighbors", "-v", str(p), "king", "-k", "2", "--padding-idx", str(queen), "--no-cache"])
    assert r.exit_code == 0, r.stderr
    expected = [n for n in search.neighbors(glove, "king", k=3) if n.key != "queen"][:2]
    assert r.stdout == "query\trank\tkey\tscore\n" + "".join(
        f"king\t{i + 1}\t{n.key}\t{n.score:.6f}\n" for i, n in enumerate(expected))
    assert r.stderr == "embviz: keys of emb.npy: emb.keys.txt (sidecar)\n"


def test_cli_bad_npy_is_one_line(tmp_path, runner):
    p = tmp_path / "t.npy"
    np.save(p, np.ones((4, 3), np.float32))
    p.write_bytes(p.read_bytes()[:-8])
    r = runner.invoke(app, ["neighbors", "-v", str(p), "0"])
    assert r.exit_code == 1
    assert r.stdout == ""
    assert r.stderr == (f"embviz: error: {p}: truncated .npy: header says [4, 3] float32 (176 bytes) but "
                        "the file has 168 bytes\n")


def test_cached_npy_rebuilds_when_the_sidecar_changes(glove, tmp_path):
    p = tmp_path / "emb.npy"
    np.save(p, glove.matrix[:5])
    side = tmp_path / "emb.keys.txt"
    keys_txt(side, ["a", "b", "c", "d", "e"])
    cache = tmp_path / "cache"
    assert embviz_io.load(p, cache_dir=cache).keys == ("a", "b", "c", "d", "e")
    v = embviz_io.load(p, cache_dir=cache)  # mapped from the entry
    assert v.keys_from == "emb.keys.txt (sidecar)"
    keys_txt(side, ["v", "w", "x", "y", "z"])
    assert embviz_io.load(p, cache_dir=cache).keys == ("v", "w", "x", "y", "z")
