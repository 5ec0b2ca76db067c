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
        assert isinstance(c.subwords, fb.LazyModel) and c.subwords._model is None  # header only, so far
        assert (c.subwords.nwords, c.subwords.args.dim) == (len(ft.get_words()), ft.get_dimension())
        assert c.subwords._model is None
        np.testing.assert_allclose(fb.word_vector(c, "zzqx"), ft.get_word_vector("zzqx"), atol=1e-6)
        assert isinstance(c.subwords._model, fb.FastTextModel)  # parsed for the unknown word


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


@pytest.mark.parametrize("name", ["sg36", "cbow24"])
def test_compiled_ngram_rows_are_fasttexts_in_its_order(models, name):
    """The kernel's rows of every word are fastText's ``get_subwords`` ids, in the same order."""
    from embviz.io.fasttext_kernel import kernels

    path, ft = models[name]
    m = fb.FastTextModel(path)
    ids = np.arange(m.nwords, dtype=np.int64)
    has = np.array([w != "</s>" for w in m.words])
    counts = np.zeros(m.nwords, dtype=np.int64)
    k = kernels()
    k.count_subwords(m._dict, m._starts, m._ends, ids, has, m.args.minn, m.args.maxn, counts)
    offsets = np.r_[0, np.cumsum(counts)]
    rows = np.empty(offsets[-1], dtype=np.int32)
    k.subword_rows(m._dict, m._starts, m._ends, ids, has, m.nwords, m.args.bucket, m.args.minn, m.args.maxn,
                   offsets, rows)
    for i, w in enumerate(m.words):
        assert rows[offsets[i] : offsets[i + 1]].tolist() == ft.get_subwords(w)[1][1:].tolist(), w


@pytest.mark.parametrize("name", ["sg36", "cbow24"])
def test_vocabulary_vectors_streamed_in_many_chunks_and_groups(models, name, monkeypatch):
    """One chunk gives fastText's float32 sums bit for bit; many chunks and word groups agree to 1e-6."""
    path, ft = models[name]
    ref = np.stack([ft.get_word_vector(w) for w in ft.get_words()])
    one = fb.FastTextModel(path).word_vectors()
    np.testing.assert_array_equal(one, ref)  # fastText's order of additions, and its 1/n
    dim = one.shape[1]
    monkeypatch.setattr(fb, "_CHUNK_BYTES", 4 * dim * 37)  # 136 chunks of 37 n-gram rows
    monkeypatch.setattr(fb, "_ROWS_BYTES", 4 * 500)  # groups of about 500 n-grams, every other backwards
    m = fb.FastTextModel(path)
    many = m.word_vectors()
    np.testing.assert_allclose(many, ref, atol=1e-6, rtol=0)
    np.testing.assert_allclose(m.word_vectors(limit=7), ref[:7], atol=1e-6, rtol=0)


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


@pytest.mark.parametrize("name", ["sg36", "cbow24", "sup"])
@pytest.mark.parametrize("cached", [False, True])
def test_info_shows_the_model_args_fasttext_reports(models, name, cached, tmp_path):
    """info's fields after first_keys are fastText's own getArgs() and dictionary sizes, with or without the cache."""
    import json

    from typer.testing import CliRunner

    path, ft = models[name]
    a = ft.f.getArgs()
    cache = ["--cache-dir", str(tmp_path / "c")] if cached else ["--no-cache"]
    if cached:  # the second run maps the table from the cache entry
        assert CliRunner().invoke(app, ["info", "-v", str(path), *cache]).exit_code == 0
    result = CliRunner().invoke(app, ["info", "-v", str(path), *cache, "--format", "json"])
    assert result.exit_code == 0, result.output
    got = json.loads(result.stdout)
    assert list(got)[list(got).index("first_keys") + 1:] == [
        "model", "loss", "minn", "maxn", "bucket", "epoch", "ws", "neg", "min_count", "word_ngrams", "t",
        "lr_update_rate", "vocabulary", "labels", "tokens"]
    assert got["dim"] == a.dim
    assert (got["model"], got["loss"]) == (a.model.name, a.loss.name)
    assert (got["minn"], got["maxn"], got["bucket"], got["epoch"], got["ws"], got["neg"]) == (
        a.minn, a.maxn, a.bucket, a.epoch, a.ws, a.neg)
    assert (got["min_count"], got["word_ngrams"], got["lr_update_rate"]) == (a.minCount, a.wordNgrams, a.lrUpdateRate)
    assert got["t"] == pytest.approx(a.t, rel=1e-12)
    labels = len(ft.get_labels()) if name == "sup" else 0  # fastText's get_labels() lists the words otherwise
    assert got["vocabulary"] == len(ft.get_words()) and got["labels"] == labels
    assert got["tokens"] > 0


def test_info_of_other_formats_keeps_its_columns(tmp_path):
    """Only a fastText .bin gets the model columns: a .vec's TSV header is what it was."""
    from typer.testing import CliRunner

    vec = tmp_path / "t.vec"
    vec.write_text("2 3\na 1 2 3\nb 3 2 1\n")
    result = CliRunner().invoke(app, ["info", "-v", str(vec), "--no-cache", "--format", "tsv"])
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[0].split("\t") == [
        "file", "format", "compression", "count", "dim", "dtype", "memory_bytes", "norm_min", "norm_mean",
        "norm_max", "zero_rows", "first_keys"]


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


# -- queries with words that are not in the vocabulary (fastText's get_nearest_neighbors) ------
#: Topics for a corpus whose words share character n-grams within a topic (so a misspelling or a
#: compound has meaningful neighbors) and whose neighbor scores are well apart (no near-ties).
STEMS = ("fire water govern helicopt peace minist australi bomb fight talk police forest city river "
         "москв петербург 東京 日本 café naïv straß ñand ελλαδ emoji😀 garden music").split()
SUFFIXES = ["", "s", "er", "ers", "ing", "ed", "ment", "ly", "ist", "al", "ation", "ic"]
#: Query words outside the vocabulary: a misspelling, compounds, non-ASCII, long words, other case.
OOV_QUERIES = [
    "goverment", "helicoptres", "firefighter", "waterbombing", "peacetalks", "fire-fighting",
    "москва", "санкт-петербург", "東京都", "日本語", "cafés", "naïveté", "straße", "ñandúes", "ελλάδα",
    "emoji😀😀", "FIRE", "Government", "governmentalisationalistically", "policeforestcityriver" * 8,
    "x",
]


def _topic_corpus(path: Path, lines: int = 6000) -> Path:
    rng = random.Random(3)
    fill = [f"w{i}" for i in range(60)]
    with open(path, "w", encoding="utf-8") as f:
        for _ in range(lines):
            stem, other = rng.choice(STEMS), rng.choice(STEMS)
            words = [stem + rng.choice(SUFFIXES) for _ in range(rng.randint(4, 9))]
            words += [other + rng.choice(SUFFIXES), rng.choice(fill), rng.choice(fill)]
            rng.shuffle(words)
            f.write(" ".join(words) + "\n")
    return path


@pytest.fixture(scope="module")
def topic_models(tmp_path_factory) -> dict[str, tuple[Path, object]]:
    """fastText models of the topic corpus: skip-gram n-grams 3..6, CBOW 2..4, skip-gram 1..3."""
    root = tmp_path_factory.mktemp("ft_topics")
    corpus = _topic_corpus(root / "topics.txt")
    out = {}
    for name, kind, (minn, maxn) in [("sg36", "skipgram", (3, 6)), ("cbow24", "cbow", (2, 4)),
                                     ("sg13", "skipgram", (1, 3))]:
        m = fasttext.train_unsupervised(str(corpus), model=kind, dim=16, minn=minn, maxn=maxn, epoch=5,
                                        minCount=1, bucket=20000, thread=1, verbose=0)
        p = root / f"{name}.bin"
        m.save_model(str(p))
        out[name] = (p, m)
    return out


def assert_same_neighbors(ref: list[tuple[float, str]], got: list, atol: float = 1e-5) -> int:
    """Assert embviz's neighbors equal fastText's ``(score, key)`` list; return how many keys differ.

    Keys must be equal rank by rank, except two keys whose fastText scores are within `atol` of
    each other (a near-tie that float32 rounding may order either way); scores agree to `atol`.
    """
    assert len(got) == len(ref)
    assert [r.rank for r in got] == list(range(1, len(ref) + 1))
    np.testing.assert_allclose([r.score for r in got], [s for s, _ in ref], atol=atol, rtol=0)
    differ = 0
    for (s, key), row in zip(ref, got):
        if row.key != key:
            differ += 1
            tied = [k for t, k in ref if abs(t - s) <= atol]
            assert row.key in tied, (row, ref)
    return differ


@pytest.mark.parametrize("name", ["sg36", "cbow24", "sg13"])
def test_neighbors_of_any_word_equal_fasttext(topic_models, name):
    from embviz import neighbors

    path, ft = topic_models[name]
    v = eio.load(path, cache=False)
    rng = random.Random(1)
    in_vocab = rng.sample(ft.get_words(), 25)
    answered = differ = 0
    for w in in_vocab + OOV_QUERIES:
        ref = ft.get_nearest_neighbors(w, k=10)
        if not ft.get_word_vector(w).any():  # fastText's zero vector: every score 0, arbitrary words
            assert w not in v and all(s == 0 for s, _ in ref)
            with pytest.raises(KeyNotFound, match="buckets the model never trained"):
                neighbors(v, w, k=10)
            continue
        differ += assert_same_neighbors(ref, neighbors(v, w, k=10))
        answered += 1
    assert answered >= len(in_vocab) + len(OOV_QUERIES) - 3 and differ == 0
    # one batch answers the same rows as the queries one by one
    ok = [w for w in in_vocab + OOV_QUERIES if ft.get_word_vector(w).any()]
    batch = neighbors(v, ok, k=5)
    assert batch == [r for w in ok for r in neighbors(v, w, k=5)]


def test_neighbors_through_the_cache_and_with_restrict(topic_models, tmp_path):
    from embviz import neighbors

    path, ft = topic_models["sg36"]
    cached = eio.load(path, cache_dir=tmp_path)
    cached = eio.load(path, cache_dir=tmp_path)  # mapped from the cache, the model attached again
    assert_same_neighbors(ft.get_nearest_neighbors("goverment", k=10), neighbors(cached, "goverment", k=10))
    rows = neighbors(cached, "goverment", k=5, restrict=50)
    assert all(cached.key_to_index[r.key] < 50 for r in rows)


def test_a_word_whose_ngram_rows_were_never_trained(topic_models):
    """fastText (< 10 threads) leaves most buckets zero: a word made of them has no vector."""
    from embviz import neighbors, similarity

    path, ft = topic_models["sg36"]
    v = eio.load(path, cache=False)
    word = next(w for w in (c * n for c in "qjzxkv" for n in (3, 4, 5, 8)) if not ft.get_word_vector(w).any())
    with pytest.raises(KeyNotFound) as exc:
        neighbors(v, word, k=3)
    assert str(exc.value) == (
        f"{v._missing_message(word)}; the rows of its character n-grams are all zero (buckets the model "
        "never trained), so it has no vector")
    with pytest.raises(KeyNotFound, match="never trained"):
        similarity(v, (word, "fire"))
    with pytest.raises(KeyNotFound, match="never trained"):
        neighbors(v, f"fire + {word}")
    with pytest.warns(EmbvizWarning, match=f"skipped query {word!r}"):  # --skip-missing skips it
        rows = neighbors(v, [word, "goverment"], k=3, skip_missing=True)
    assert [r.query for r in rows] == ["goverment"] * 3


@pytest.mark.parametrize("name", ["sg36", "cbow24"])
def test_similarity_and_analogy_with_oov_words_equal_fasttext(topic_models, name):
    from embviz import analogy, similarity

    path, ft = topic_models[name]
    v = eio.load(path, cache=False)

    def cos(a, b):
        x, y = (ft.get_word_vector(w).astype(np.float64) for w in (a, b))
        return float(x @ y / np.linalg.norm(x) / np.linalg.norm(y))

    pairs = [("goverment", "government"), ("firefighter", "fire"), ("москва", "東京都"), ("fire", "water")]
    got = similarity(v, pairs)
    assert [(s.a, s.b) for s in got] == pairs
    np.testing.assert_allclose([s.score for s in got], [cos(a, b) for a, b in pairs], atol=1e-6)
    # a : b :: c : ?  is  b - a + c, fastText's get_analogies(b, a, c) (A - B + C); a, b, c never answers
    for a, b, c in [("goverment", "government", "helicoptres"), ("fire", "firefighter", "water"),
                    ("water", "waters", "москва")]:
        ref = ft.get_analogies(b, a, c, k=8)
        rows = analogy(v, (a, b, c), k=8)
        assert_same_neighbors(ref, rows)
        assert not {a, b, c} & {r.key for r in rows}
    cosmul = analogy(v, ("goverment", "government", "helicoptres"), k=3, method="cosmul")
    assert len(cosmul) == 3 and cosmul[0].key not in ("government",)


def test_expressions_with_oov_keys_are_sums_of_unit_vectors(topic_models):
    """gensim's FastTextKeyedVectors.most_similar: each key's unit vector, OOV keys not excluded."""
    from embviz import neighbors, search

    path, ft = topic_models["sg36"]
    v = eio.load(path, cache=False)
    unit = v.matrix / np.linalg.norm(v.matrix, axis=1, keepdims=True)

    def u(w):
        x = ft.get_word_vector(w).astype(np.float64)
        return x / np.linalg.norm(x)

    q = u("goverment") - u("fire") + 0.5 * u("peacetalks")
    np.testing.assert_allclose(search.expression_vector(v, "goverment - fire + 0.5*peacetalks"), q, atol=1e-6)
    scores = unit @ (q / np.linalg.norm(q))
    scores[v.key_to_index["fire"]] = -np.inf  # the in-vocabulary key is excluded
    best = np.argsort(-scores, kind="stable")[:10]
    rows = neighbors(v, "goverment - fire + 0.5*peacetalks", k=10)
    assert [r.key for r in rows] == [v.keys[i] for i in best]
    np.testing.assert_allclose([r.score for r in rows], scores[best], atol=1e-5)
    # dot and euclidean score the raw vectors; the OOV key adds its raw subword vector
    raw = ft.get_word_vector("goverment") + ft.get_word_vector("water")
    dots = v.matrix.astype(np.float64) @ raw
    dots[v.key_to_index["water"]] = -np.inf
    rows = neighbors(v, "goverment + water", k=5, metric="dot")
    assert [r.key for r in rows] == [v.keys[i] for i in np.argsort(-dots, kind="stable")[:5]]


def test_tables_without_subwords_keep_key_not_found(topic_models, tmp_path):
    from embviz import analogy, neighbors, similarity
    from embviz.vectors import Vectors

    path, ft = topic_models["sg36"]
    vec = tmp_path / "model.vec"  # the same words, as fastText's .vec: no subwords
    eio.save(eio.load(path, cache=False), vec, "fasttext")
    v = eio.load(vec, cache=False)
    assert getattr(v, "subwords", None) is None
    for call in (lambda: neighbors(v, "goverment"), lambda: similarity(v, ("goverment", "fire")),
                 lambda: analogy(v, ("goverment", "government", "fire"))):
        with pytest.raises(KeyNotFound) as exc:
            call()
        assert str(exc.value) == v._missing_message("goverment")  # with close matches, as before
    plain = Vectors(["king", "queen"], [[1.0, 0.0], [0.9, 0.1]])
    with pytest.raises(KeyNotFound, match=r"^'kingg' is not in the vocabulary \(2 keys\); close matches: king$"):
        neighbors(plain, "kingg")
    with pytest.warns(EmbvizWarning, match="skipped query 'kingg'"):
        assert neighbors(plain, ["kingg", "king"], k=1, skip_missing=True)[0].key == "queen"


def test_supervised_model_refuses_oov_words(models):
    from embviz import neighbors

    path, _ = models["sup"]
    v = eio.load(path, cache=False)
    with pytest.raises(KeyNotFound) as exc:
        neighbors(v, "never-seen")
    assert str(exc.value).endswith("; the model has no subword vectors (maxn 0), so only its words have vectors")


def test_subword_notes(topic_models):
    from embviz.search.queries import subword_notes
    from embviz.vectors import Vectors

    path, ft = topic_models["sg36"]
    v = eio.load(path, cache=False)
    note = "{!r} is not in the vocabulary: its vector is the mean of its character n-grams (fastText)"
    assert subword_notes(v, ["fire", "goverment - fire", "goverment", ("москва", "fire")]) == [
        note.format("goverment"), note.format("москва")]
    assert subword_notes(v, [np.zeros(16), "a +", "fire"]) == []
    many = [f"firezz{i}" for i in range(13)]
    notes = subword_notes(v, many)
    assert notes[:10] == [note.format(w) for w in many[:10]]
    assert notes[10:] == ["... and 3 more keys not in the vocabulary, built from their character n-grams"]
    assert subword_notes(Vectors(["a"], [[1.0]]), ["b"]) == []
    # a word of the model beyond --limit: its vector is the model's word vector (own row + n-grams)
    short = eio.load(path, cache=False, limit=10)
    word = ft.get_words()[20]
    np.testing.assert_allclose(
        [r.score for r in __import__("embviz").neighbors(short, word, k=3)],
        sorted((float(short.unit[i] @ (ft.get_word_vector(word) / np.linalg.norm(ft.get_word_vector(word))))
                for i in range(10)), reverse=True)[:3], atol=1e-6)
    assert subword_notes(short, [word]) == [
        f"{word!r} is not among the 10 keys loaded: its vector is the model's (its own row and its "
        "character n-grams, fastText)"]


def test_cli_answers_oov_words_and_says_so_on_stderr(topic_models):
    from typer.testing import CliRunner

    from embviz import analogy, neighbors, similarity

    path, _ = topic_models["sg36"]
    v = eio.load(path, cache=False)
    runner = CliRunner()
    note = "embviz: {!r} is not in the vocabulary: its vector is the mean of its character n-grams (fastText)\n"
    result = runner.invoke(app, ["neighbors", "-v", str(path), "--no-cache", "goverment", "fire", "-k", "3"])
    assert result.exit_code == 0, result.output
    rows = neighbors(v, ["goverment", "fire"], k=3)
    assert result.stdout == "query\trank\tkey\tscore\n" + "".join(
        f"{r.query}\t{r.rank}\t{r.key}\t{r.score:.6f}\n" for r in rows)
    assert result.stderr == note.format("goverment")
    result = runner.invoke(app, ["neighbors", "-v", str(path), "--no-cache", "-q", "goverment", "-k", "3"])
    assert result.exit_code == 0 and result.stderr == ""
    result = runner.invoke(app, ["similarity", "-v", str(path), "--no-cache", "москва", "fire"])
    s = similarity(v, ("москва", "fire"))[0].score
    assert (result.exit_code, result.stdout) == (0, f"a\tb\tscore\nмосква\tfire\t{s:.6f}\n")
    assert result.stderr == note.format("москва")
    result = runner.invoke(app, ["analogy", "-v", str(path), "--no-cache", "goverment", "government", "peacetalks"])
    a = analogy(v, ("goverment", "government", "peacetalks"))[0]
    assert result.exit_code == 0 and result.stdout.endswith(f"\t1\t{a.key}\t{a.score:.6f}\n")
    assert result.stderr == note.format("goverment") + note.format("peacetalks")
    result = runner.invoke(app, ["neighbors", "-v", str(path), "--no-cache", "--metric", "dot", "goverment"])
    assert result.exit_code == 0 and result.stderr == note.format("goverment")


def test_oov_queries_equal_gensim_fasttext_keyed_vectors(topic_models):
    """gensim's FastTextKeyedVectors: most_similar and similarity of words outside the vocabulary."""
    from gensim.models.fasttext import load_facebook_vectors

    from embviz import analogy, neighbors, similarity

    path, _ = topic_models["cbow24"]
    v = eio.load(path, cache=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        kv = load_facebook_vectors(str(path))
    for pos, neg in [(["goverment"], []), (["peacetalks", "москва"], ["fire"]), (["firefighter", "fire"], [])]:
        ref = kv.most_similar(positive=pos, negative=neg, topn=8)
        text = " + ".join(pos) + "".join(f" - {w}" for w in neg)
        assert_same_neighbors([(s, k) for k, s in ref], neighbors(v, text, k=8))
    ref = kv.most_similar(positive=["government", "helicoptres"], negative=["goverment"], topn=5)
    assert_same_neighbors([(s, k) for k, s in ref], analogy(v, ("goverment", "government", "helicoptres"), k=5))
    assert similarity(v, ("goverment", "東京都"))[0].score == pytest.approx(float(kv.similarity("goverment", "東京都")),
                                                                           abs=1e-6)


def test_csls_answers_oov_words(topic_models):
    """--score csls with a word outside the vocabulary: its subword vector, nothing excluded for it.

    (Before, neighbors built the vector and CSLS then looked the word up as a row: exit 3.)
    """
    from typer.testing import CliRunner

    path, _ = topic_models["sg36"]
    runner = CliRunner()
    both = runner.invoke(app, ["neighbors", "-v", str(path), "--no-cache", "--score", "csls", "goverment", "fire",
                               "-k", "3"])
    assert both.exit_code == 0, both.output
    assert both.stderr == ("embviz: 'goverment' is not in the vocabulary: its vector is the mean of its character "
                           "n-grams (fastText)\n")
    alone = runner.invoke(app, ["neighbors", "-v", str(path), "--no-cache", "--score", "csls", "fire", "-k", "3"])
    lines = both.stdout.splitlines()
    assert [ln for ln in lines if ln.startswith("fire\t")] == alone.stdout.splitlines()[1:]
    oov = [ln.split("\t") for ln in lines if ln.startswith("goverment\t")]
    assert [r[1] for r in oov] == ["1", "2", "3"] and "goverment" not in {r[2] for r in oov}


def test_a_warm_query_of_known_words_never_parses_the_dictionary(models, tmp_path):
    """`neighbors` of words in the vocabulary, from the cache: the model's header only, no numba."""
    import subprocess
    import sys

    path, ft = models["sg36"]
    eio.load(path, cache_dir=tmp_path)  # the cache entry
    word = ft.get_words()[5]
    code = (
        "import sys, embviz, embviz.io as eio; from embviz.io import fasttext_bin as fb\n"
        f"v = eio.load({str(path)!r}, cache_dir={str(tmp_path)!r})\n"
        f"rows = embviz.neighbors(v, {word!r}, k=3)\n"
        "print(len(rows), v.subwords._model is None, 'numba' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["3", "True", "False"]
