"""fastText ``.bin`` models (embviz.io.fasttext_bin), checked against fastText itself.

The reference is fastText's own Python binding (PyPI ``fasttext-wheel``, a test dependency):
tiny models are trained here, saved, and every word vector embviz computes must equal
``model.get_word_vector`` (vocabulary words and 1,000 out-of-vocabulary words). The old format
without the magic number is checked against gensim on gensim's ``lee_fasttext.bin``.
"""

from __future__ import annotations

import random
import struct
import warnings
from pathlib import Path

import numpy as np
import pytest

import embviz.io as eio
from embviz.cli.app import app
from embviz.errors import EmbvizWarning, FormatError, KeyNotFound
from embviz.io import fasttext_bin as fb
from embviz.io.sniffing import VectorFormat

fasttext = pytest.importorskip("fasttext")

WORDS = (
    "king queen man woman prince princess royal crown castle throne city town village road "
    "café naïve résumé Москва Санкт-Петербург 東京 日本語 emoji😀 ñandú straße Ελλάδα a bb"
).split()


def _corpus(path: Path, labels: bool = False, vocab: list[str] | None = None) -> Path:
    rng = random.Random(7)
    vocab = vocab or WORDS
    with open(path, "w", encoding="utf-8") as f:
        for i in range(400):
            words = [rng.choice(vocab) for _ in range(rng.randint(3, 12))]
            f.write(("__label__pos " if i % 2 else "__label__neg ") * labels + " ".join(words) + "\n")
    return path


def _ft_vector(model, word: str | bytes) -> np.ndarray:
    """fastText's ``get_word_vector``; bytes go straight to the C++ (std::string)."""
    import fasttext_pybind

    out = fasttext_pybind.Vector(model.get_dimension())
    model.f.getWordVector(out, word)
    return np.array(out, dtype=np.float32)


def _oov_words(n: int = 1000) -> list[str | bytes]:
    rng = random.Random(11)
    alphabet = "abcdefghijklmnopqrstuvwxyzéüßжщ東京😀<>_-' "
    out: list[str | bytes] = []
    for i in range(n):
        kind = i % 5
        if kind == 0:
            out.append("".join(rng.choice(alphabet) for _ in range(rng.randint(1, 12))))
        elif kind == 1:
            out.append("".join(rng.choice(alphabet) for _ in range(rng.randint(60, 300))))  # very long
        elif kind == 2:
            out.append(bytes(rng.randint(0x80, 0xFF) for _ in range(rng.randint(1, 10))))  # not UTF-8
        elif kind == 3:
            out.append(bytes(rng.randint(1, 0xFF) for _ in range(rng.randint(1, 20))))
        else:
            w = rng.choice(WORDS)
            out.append(w + rng.choice(["s", "ing", "ов", "😀", ""]) + str(i))
    return out + ["", "<", ">", "<>", "</s>", "x"]


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> dict[str, tuple[Path, object]]:
    root = tmp_path_factory.mktemp("ft")
    corpus = _corpus(root / "corpus.txt")
    out = {}
    for name, kind, (minn, maxn), dim in [("sg36", "skipgram", (3, 6), 12), ("cbow24", "cbow", (2, 4), 16)]:
        m = fasttext.train_unsupervised(str(corpus), model=kind, dim=dim, minn=minn, maxn=maxn, epoch=2,
                                        minCount=1, bucket=5000, thread=1, verbose=0)
        p = root / f"{name}.bin"
        m.save_model(str(p))
        out[name] = (p, m)
    sup = fasttext.train_supervised(str(_corpus(root / "labelled.txt", labels=True)), dim=10, epoch=2,
                                    minCount=1, thread=1, verbose=0)
    p = root / "sup.bin"
    sup.save_model(str(p))
    out["sup"] = (p, sup)
    return out


@pytest.mark.parametrize("name", ["sg36", "cbow24"])
def test_vocabulary_vectors_equal_fasttext(models, name, tmp_path):
    path, ft = models[name]
    assert eio.sniff(path).format == VectorFormat.fasttext_bin
    v = eio.load(path, cache=False)
    assert list(v.keys) == ft.get_words()  # dictionary order, words only
    ref = np.stack([ft.get_word_vector(w) for w in ft.get_words()])
    np.testing.assert_allclose(v.matrix, ref, atol=1e-6, rtol=0)
    # the same through the cache (written, then mapped), and the model attached both times
    for _ in range(2):
        c = eio.load(path, cache_dir=tmp_path)
        np.testing.assert_array_equal(np.asarray(c.matrix), v.matrix)
        assert isinstance(c.subwords, fb.FastTextModel)
        np.testing.assert_allclose(fb.word_vector(c, "zzqx"), ft.get_word_vector("zzqx"), atol=1e-6)


@pytest.mark.parametrize("name", ["sg36", "cbow24"])
def test_oov_vectors_equal_fasttext(models, name):
    path, ft = models[name]
    model = eio.load(path, cache=False).subwords
    assert model.args.minn, model.args.maxn == {"sg36": (3, 6), "cbow24": (2, 4)}[name]
    for w in _oov_words():
        got = model.word_vector(w)
        assert got.shape == (model.args.dim,) and got.dtype == np.float32
        np.testing.assert_allclose(got, _ft_vector(ft, w), atol=1e-6, rtol=0, err_msg=repr(w))
    for w in ft.get_words():  # a vocabulary word through word_vector: own row + n-grams
        np.testing.assert_allclose(model.word_vector(w), ft.get_word_vector(w), atol=1e-6, rtol=0)


def test_model_args_and_dictionary(models):
    path, ft = models["sg36"]
    m = fb.FastTextModel(path)
    a = ft.f.getArgs()
    assert (m.version, m.args.dim, m.args.minn, m.args.maxn, m.args.bucket) == (12, 12, 3, 6, 5000)
    assert (m.args.model, m.args.loss, m.args.epoch) == ("skipgram", "ns", a.epoch)
    assert m.nwords == len(ft.get_words()) and m.nlabels == 0
    words, freq = ft.get_words(include_freq=True)
    assert m.words == words and m.counts.tolist() == freq.tolist()
    assert isinstance(m.input, np.memmap) and m.input.shape == (m.nwords + 5000, 12)
    np.testing.assert_array_equal(m.input, ft.get_input_matrix())


def test_supervised_model_has_no_subwords(models):
    path, ft = models["sup"]
    v = eio.load(path, cache=False)
    assert list(v.keys) == ft.get_words() and not any(k.startswith("__label__") for k in v.keys)
    np.testing.assert_allclose(v.matrix, np.stack([ft.get_word_vector(w) for w in v.keys]), atol=1e-6)
    assert v.subwords.args.maxn == 0
    assert not v.subwords.word_vector("never-seen").any()  # OOV is the zero vector, as in fastText
    np.testing.assert_array_equal(v.subwords.word_vector("never-seen"), ft.get_word_vector("never-seen"))


def test_limit_and_float16(models):
    path, ft = models["sg36"]
    v = eio.load(path, cache=False, limit=5, dtype="float16")
    assert list(v.keys) == ft.get_words()[:5] and v.matrix.dtype == np.float16


def test_word_vector_of_a_table_without_subwords():
    from embviz.vectors import Vectors

    v = Vectors(["a"], [[1.0, 2.0]])
    assert fb.word_vector(v, "a").tolist() == [1.0, 2.0]
    with pytest.raises(KeyNotFound, match="no subword model"):
        fb.word_vector(v, "b")


def test_old_format_without_magic_agrees_with_gensim():
    from gensim.models.fasttext import load_facebook_vectors
    from gensim.test.utils import datapath

    path = Path(datapath("lee_fasttext.bin"))
    assert eio.sniff(path).format == VectorFormat.fasttext_bin
    v = eio.load(path, cache=False)
    assert v.subwords.version is None and v.subwords.args.dim == 10
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        kv = load_facebook_vectors(str(path))
    assert list(v.keys) == list(kv.index_to_key)
    # gensim also adds n-grams to '</s>', which fastText never does (getSubwords skips EOS)
    rows = [i for i, k in enumerate(v.keys) if k != "</s>"]
    # gensim sums in float32 in another order: agreement to float32 rounding of the sums
    np.testing.assert_allclose(v.matrix[rows], kv.vectors[rows], atol=1e-5, rtol=1e-5)
    for w in ["helloworld", "Москва", "x", "naïveté" * 20]:
        np.testing.assert_allclose(v.subwords.word_vector(w), kv[w], atol=1e-5, rtol=1e-5)


def test_gensim_files_agree_with_fasttext():
    from gensim.test.utils import datapath

    for name in ("crime-and-punishment.bin", "lee_fasttext_new.bin"):  # versions 12 and 11
        path = datapath(name)
        ft = fasttext.load_model(path)
        v = eio.load(path, cache=False)
        np.testing.assert_allclose(v.matrix, np.stack([ft.get_word_vector(w) for w in v.keys]), atol=1e-6)


@pytest.mark.parametrize("cut, section", [
    (5, "header"), (40, "header"), (70, "dictionary"), (90, "dictionary"), (-1, "matrix"), (-400, "matrix"),
])
def test_truncated_model_is_one_line_naming_the_section(models, tmp_path, cut, section):
    path, _ = models["sg36"]
    data = path.read_bytes()
    m = fb.FastTextModel(path)
    end = m.matrix_offset + 4 * m.input.size
    cut = {-1: m.matrix_offset - 3, -400: end - 400}.get(cut, cut)
    p = tmp_path / "cut.bin"
    p.write_bytes(data[:cut])
    with pytest.raises(FormatError) as exc:
        fb.FastTextModel(p)
    msg = str(exc.value)
    assert "\n" not in msg and msg.startswith(f"{p}: ")
    if cut >= 8:
        assert f"in the {section}" in msg
    with pytest.raises(FormatError) as exc:
        eio.load(p, cache=False)
    assert "\n" not in str(exc.value)


def test_truncated_model_via_cli_is_one_error_line(models, tmp_path):
    from typer.testing import CliRunner

    path, _ = models["sg36"]
    p = tmp_path / "cut.bin"
    p.write_bytes(path.read_bytes()[:-5000])
    result = CliRunner().invoke(app, ["info", "-v", str(p), "--no-cache"])
    assert result.exit_code == 1 and result.stdout == ""
    assert result.stderr.count("\n") == 1
    assert result.stderr.startswith(f"embviz: error: {p}: fastText model truncated or damaged in the matrix")


def test_info_on_a_model(models):
    from typer.testing import CliRunner

    path, ft = models["cbow24"]
    result = CliRunner().invoke(app, ["info", "-v", str(path), "--no-cache", "--format", "json"])
    assert result.exit_code == 0, result.output
    assert '"format": "fasttext-bin"' in result.stdout and f'"count": {len(ft.get_words())}' in result.stdout


def test_quantized_model_is_refused_in_one_line(tmp_path):
    vocab = [f"w{i}" for i in range(400)]
    corpus = _corpus(tmp_path / "q.txt", labels=True, vocab=vocab)
    m = fasttext.train_supervised(str(corpus), dim=8, epoch=1, minCount=1, thread=1, verbose=0)
    m.quantize(input=str(corpus), retrain=False, cutoff=0, qnorm=False, dsub=2)
    p = tmp_path / "model.ftz"
    m.save_model(str(p))
    with pytest.raises(FormatError) as exc:
        eio.load(p, cache=False)
    msg = str(exc.value)
    assert msg == (f"{p}: is a quantized fastText model (.ftz); embviz reads only full-precision "
                   ".bin models")


def test_quant_flag_in_an_unquantized_file_is_refused(models, tmp_path):
    path, _ = models["sg36"]
    m = fb.FastTextModel(path)
    data = bytearray(path.read_bytes())
    data[m.matrix_offset - 17] = 1  # the quant bool before the matrix shape
    p = tmp_path / "q.bin"
    p.write_bytes(bytes(data))
    with pytest.raises(FormatError, match=r"is a quantized fastText model \(\.ftz\)"):
        eio.load(p, cache=False)


def test_newer_version_and_bad_shape(tmp_path, models):
    path, _ = models["sg36"]
    data = path.read_bytes()
    p = tmp_path / "v13.bin"
    p.write_bytes(data[:4] + struct.pack("<i", 13) + data[8:])
    with pytest.raises(FormatError, match="format version 13; embviz reads versions up to 12"):
        eio.load(p, cache=False)
    m = fb.FastTextModel(path)
    bad = bytearray(data)
    bad[m.matrix_offset - 16 : m.matrix_offset - 8] = struct.pack("<q", 7)
    p.write_bytes(bytes(bad))
    with pytest.raises(FormatError, match=r"in the matrix: shape \(7, 12\)"):
        eio.load(p, cache=False)


def test_no_warning_on_load(models):
    path, _ = models["cbow24"]
    with warnings.catch_warnings():
        warnings.simplefilter("error", EmbvizWarning)
        eio.load(path, cache=False)
