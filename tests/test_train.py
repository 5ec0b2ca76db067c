"""embviz train: gensim Word2Vec on the real Lee corpus, outputs, reproducibility, errors, Ctrl-C."""

from __future__ import annotations

import bz2
import gzip
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pytest

from embviz import io as formats
from embviz import train as training
from embviz.cli import app

LEE = Path(__import__("gensim.test.utils", fromlist=["datapath"]).datapath("lee_background.cor"))
LEE_VOCAB = 1762  # gensim 4.4, min_count=5 (checked against gensim below)
FAST = ["--epochs", "1", "--vector-size", "20", "--workers", "1", "-q"]


@pytest.fixture()
def private_tmp(tmp_path, monkeypatch):
    """A private system temp dir, to check that no temporary file outlives a command."""
    tmp = tmp_path / "systmp"
    tmp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(tmp))
    return tmp


def _gensim(path: Path, **kw):
    from gensim.models import Word2Vec

    args = dict(workers=1, seed=1, vector_size=20, epochs=1)
    args.update(kw)
    return Word2Vec(corpus_file=str(path), **args)


# -- agreement with gensim -----------------------------------------------------------------------
def test_library_equals_gensim_direct():
    result = training.train(LEE, workers=1, seed=1, vector_size=20, epochs=2)
    model = _gensim(LEE, epochs=2)
    assert len(model.wv) == LEE_VOCAB
    assert result.vectors.count == LEE_VOCAB == result.report.vocab_size
    assert result.vectors.matrix.shape == (LEE_VOCAB, 20)
    assert result.vectors.matrix.dtype == np.float32
    assert list(result.vectors.keys) == list(model.wv.index_to_key)
    np.testing.assert_array_equal(result.vectors.matrix, model.wv.vectors)


def test_report_counts_and_per_epoch_loss():
    seen = []
    result = training.train(LEE, workers=1, vector_size=20, epochs=3, progress=seen.append)
    rep = result.report
    assert (
        rep.corpus_sentences == 300
        and rep.corpus_words == 59890
        and rep.corpus_bytes == LEE.stat().st_size
    )
    assert (
        rep.corpus_fingerprint.startswith("blake2b-256:") and len(rep.corpus_fingerprint) == 12 + 64
    )
    assert [type(e).__name__ for e in seen] == [
        "TrainStart",
        "EpochStats",
        "EpochStats",
        "EpochStats",
    ]
    assert seen[0].vocab_size == LEE_VOCAB and seen[0].words_per_epoch == 59890
    losses = [e["loss"] for e in rep.epochs]
    assert len(losses) == 3 and all(x > 0 for x in losses)
    # per-epoch differences, not gensim's running total: they add up to it
    assert sum(losses) == pytest.approx(result.model.get_latest_training_loss(), rel=1e-6)
    assert losses[2] < losses[0] + losses[1]
    assert rep.words_per_s > 0 and rep.parameters["workers"] == 1


@pytest.mark.parametrize(
    "kw",
    [
        dict(sg=True, hs=True, negative=0),
        dict(max_vocab=100),
        dict(min_count=20, window=2, sample=0.0),
    ],
)
def test_options_reach_gensim(kw):
    result = training.train(LEE, workers=1, vector_size=20, epochs=1, **kw)
    model = _gensim(
        LEE,
        **{
            ("max_final_vocab" if k == "max_vocab" else k): int(v) if isinstance(v, bool) else v
            for k, v in kw.items()
        },
    )
    assert (
        result.model.sg == model.sg
        and result.model.hs == model.hs
        and result.model.negative == model.negative
    )
    assert list(result.vectors.keys) == list(model.wv.index_to_key)
    np.testing.assert_array_equal(result.vectors.matrix, model.wv.vectors)
    if "max_vocab" in kw:
        assert 90 <= result.vectors.count <= 100  # at most N: gensim drops a tie at the cut


# -- the command ---------------------------------------------------------------------------------
def test_cli_train_then_info_and_load(runner, tmp_path, private_tmp):
    out = tmp_path / "lee.bin"
    result = runner.invoke(
        app, ["train", str(LEE), "-o", str(out), "--workers", "1", "--epochs", "2"]
    )
    assert result.exit_code == 0, result.stderr
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert (
        lines[0]
        == "embviz: vocabulary: 1,762 keys from 59,890 words in 300 sentences; training 2 epochs"
    )
    assert lines[1].startswith("embviz: epoch 1/2: loss ") and lines[1].endswith(" words/s")
    assert lines[3].startswith("embviz: trained 1,762 x 100 vectors in ")
    assert lines[3].endswith(f"; wrote {out}, {out}.json")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["lee.bin", "lee.bin.json", "systmp"]
    assert list(private_tmp.iterdir()) == []

    info = runner.invoke(app, ["info", "-v", str(out), "--no-cache", "-f", "jsonl"])
    assert info.exit_code == 0, info.stderr
    record = json.loads(info.stdout)
    assert (record["format"], record["count"], record["dim"]) == ("word2vec", 1762, 100)

    loaded = formats.load(out, cache=False)
    assert loaded.matrix.shape == (1762, 100) and loaded.keys[:3] == ("the", "to", "of")

    side = json.loads((tmp_path / "lee.bin.json").read_text())
    assert side["vocab_size"] == 1762 and side["corpus_words"] == 59890
    assert side["parameters"]["epochs"] == 2 and side["parameters"]["sg"] is False
    assert side["vectors"] == {"path": str(out), "format": "word2vec", "count": 1762, "dim": 100}
    assert len(side["epochs"]) == 2 and side["epochs"][0]["loss"] > 0
    import gensim

    assert (
        side["gensim_version"] == gensim.__version__
        and side["seconds"] > 0
        and side["words_per_s"] > 0
    )


@pytest.mark.parametrize(
    ("name", "extra", "fmt"),
    [
        ("v.txt", [], "word2vec-text"),
        ("v.vec.gz", [], "fasttext"),
        ("v.glove", [], "glove"),
        ("v.any", ["--format", "word2vec-text"], "word2vec-text"),
    ],
)
def test_cli_output_formats_load_back(runner, tmp_path, name, extra, fmt):
    out = tmp_path / name
    result = runner.invoke(app, ["train", str(LEE), "-o", str(out), *FAST, *extra])
    assert result.exit_code == 0, result.stderr
    assert result.stderr == ""  # -q
    loaded = formats.load(out, format=fmt if fmt == "glove" else None, cache=False)
    assert loaded.matrix.shape == (LEE_VOCAB, 20)
    assert json.loads(Path(f"{out}.json").read_text())["vectors"]["format"] == fmt


def test_cli_projector_output(runner, tmp_path):
    result = runner.invoke(app, ["train", str(LEE), "-o", str(tmp_path / "vectors.tsv"), *FAST])
    assert result.exit_code == 0, result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "metadata.tsv",
        "vectors.tsv",
        "vectors.tsv.json",
    ]
    assert len((tmp_path / "metadata.tsv").read_text().splitlines()) == LEE_VOCAB


def test_sanity_neighbor(runner, tmp_path):
    """Skip-gram on the Lee news corpus: 'bin' sits next to 'Laden' (robust across seeds 1-3)."""
    out = tmp_path / "sg.bin"
    result = runner.invoke(
        app,
        [
            "train",
            str(LEE),
            "-o",
            str(out),
            "--sg",
            "--epochs",
            "10",
            "--vector-size",
            "50",
            "--workers",
            "1",
            "--seed",
            "2",
            "-q",
        ],
    )
    assert result.exit_code == 0, result.stderr
    nb = runner.invoke(
        app, ["neighbors", "bin", "-k", "3", "-v", str(out), "--no-cache", "--no-header"]
    )
    assert nb.exit_code == 0, nb.stderr
    keys = [line.split("\t")[2] for line in nb.stdout.splitlines()]
    assert "Laden" in keys


def test_stdin_corpus(runner, tmp_path, private_tmp):
    out = tmp_path / "stdin.bin"
    result = runner.invoke(app, ["train", "-", "-o", str(out), *FAST], input=LEE.read_bytes())
    assert result.exit_code == 0, result.stderr
    side = json.loads(Path(f"{out}.json").read_text())
    assert side["corpus"] == "-" and side["vocab_size"] == LEE_VOCAB
    assert list(private_tmp.iterdir()) == []  # the spooled copy is gone
    direct = training.train(LEE, workers=1, vector_size=20, epochs=1)
    assert side["corpus_fingerprint"] == direct.report.corpus_fingerprint
    np.testing.assert_array_equal(formats.load(out, cache=False).matrix, direct.vectors.matrix)


def test_pipe_corpus(tmp_path, private_tmp):
    """A named pipe (as bash's <(zcat corpus.gz) gives) is read once, into a temporary file."""
    import threading

    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    data = gzip.compress(LEE.read_bytes())

    def feed():
        with open(fifo, "wb") as f:
            f.write(data)

    writer = threading.Thread(target=feed)
    writer.start()
    result = training.train(fifo, workers=1, vector_size=20, epochs=1)
    writer.join()
    base = training.train(LEE, workers=1, vector_size=20, epochs=1)
    assert result.report.corpus_fingerprint == base.report.corpus_fingerprint
    np.testing.assert_array_equal(result.vectors.matrix, base.vectors.matrix)
    assert list(private_tmp.iterdir()) == []


def test_compressed_and_directory_corpora_train_identically(tmp_path, private_tmp):
    data = LEE.read_bytes()
    (tmp_path / "lee.gz").write_bytes(gzip.compress(data))
    lines = data.splitlines(keepends=True)
    d = tmp_path / "parts"
    d.mkdir()
    (d / "a.txt").write_bytes(b"".join(lines[:150]).rstrip(b"\n"))  # a newline is put between files
    (d / "b.txt.bz2").write_bytes(bz2.compress(b"".join(lines[150:])))
    (d / ".hidden").write_bytes(b"ignored ignored ignored ignored ignored\n")
    base = training.train(LEE, workers=1, vector_size=20, epochs=1)
    for corpus in (tmp_path / "lee.gz", d):
        other = training.train(corpus, workers=1, vector_size=20, epochs=1)
        assert other.report.corpus_fingerprint == base.report.corpus_fingerprint
        np.testing.assert_array_equal(other.vectors.matrix, base.vectors.matrix)
    assert list(private_tmp.iterdir()) == []


def test_unicode_spaces_are_tokenised_as_gensim_scans_them(tmp_path, private_tmp):
    """corpus_file's C++ reader splits on ASCII spaces only, gensim's vocabulary scan on all:
    embviz copies such a corpus with the other spaces made ASCII, so both agree."""
    nbsp = tmp_path / "nbsp.txt"
    nbsp.write_bytes(
        LEE.read_bytes().replace(b" the ", "\u00a0the\u3000".encode()).replace(b" of ", b" of\x1f")
    )
    result = training.train(nbsp, workers=1, vector_size=20, epochs=1)
    base = training.train(LEE, workers=1, vector_size=20, epochs=1)
    assert result.report.corpus_fingerprint != base.report.corpus_fingerprint
    assert list(result.vectors.keys) == list(base.vectors.keys)
    np.testing.assert_array_equal(result.vectors.matrix, base.vectors.matrix)
    assert list(private_tmp.iterdir()) == []


def test_lowercase(tmp_path):
    lower = tmp_path / "lower.txt"
    lower.write_text(LEE.read_text(encoding="utf-8").lower(), encoding="utf-8")
    result = training.train(LEE, workers=1, vector_size=20, epochs=1, lowercase=True)
    model = _gensim(lower)
    assert list(result.vectors.keys) == list(model.wv.index_to_key)
    np.testing.assert_array_equal(result.vectors.matrix, model.wv.vectors)
    assert all(k == k.lower() for k in result.vectors.keys)


def test_save_model_resumes(runner, tmp_path):
    from gensim.models import Word2Vec

    out, model_path = tmp_path / "v.bin", tmp_path / "lee.model"
    result = runner.invoke(
        app, ["train", str(LEE), "-o", str(out), "--save-model", str(model_path), *FAST]
    )
    assert result.exit_code == 0, result.stderr
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".embviz-model-")]
    model = Word2Vec.load(str(model_path))
    np.testing.assert_array_equal(model.wv.vectors, formats.load(out, cache=False).matrix)
    model.train(corpus_file=str(LEE), total_words=model.corpus_total_words, epochs=1)  # resumes
    assert json.loads(Path(f"{out}.json").read_text())["model"] == str(model_path)


def test_eval(runner, tmp_path):
    from gensim.models import KeyedVectors
    from gensim.test.utils import datapath

    out = tmp_path / "v.txt"
    result = runner.invoke(
        app, ["train", str(LEE), "-o", str(out), "--eval", "--epochs", "1", "--workers", "1"]
    )
    assert result.exit_code == 0, result.stderr
    lines = [x for x in result.stderr.splitlines() if x.startswith("embviz: eval: ")]
    assert len(lines) == 3
    assert lines[0].startswith("embviz: eval: analogies (questions-words.txt, cosadd): accuracy ")
    assert lines[1].startswith("embviz: eval: word pairs (wordsim353): spearman ")
    assert lines[2].startswith("embviz: eval: word pairs (simlex999): ")
    ev = json.loads(Path(f"{out}.json").read_text())["evaluation"]
    # the same numbers as gensim's own evaluation of the written vectors
    kv = KeyedVectors.load_word2vec_format(str(out))
    _, sections = kv.evaluate_word_analogies(datapath("questions-words.txt"))
    assert ev["analogies"]["correct"] == len(sections[-1]["correct"])
    assert ev["analogies"]["total"] == len(sections[-1]["correct"]) + len(sections[-1]["incorrect"])
    assert 0 < ev["analogies"]["coverage"] < 0.05
    _, spearman, _ = kv.evaluate_word_pairs(datapath("wordsim353.tsv"))
    assert ev["word_pairs"][0]["dataset"] == "wordsim353"
    assert ev["word_pairs"][0]["spearman"] == pytest.approx(
        spearman[0], abs=1e-4
    )  # text file: 6 digits


# -- reproducibility -----------------------------------------------------------------------------
def test_workers_1_seed_is_reproducible_across_processes(tmp_path):
    outs = []
    for i, hashseed in enumerate(("1", "2")):  # gensim 4 does not use the salted str hash
        out = tmp_path / f"run{i}.bin"
        env = {**os.environ, "PYTHONHASHSEED": hashseed}
        subprocess.run(
            [
                sys.executable,
                "-m",
                "embviz",
                "train",
                str(LEE),
                "-o",
                str(out),
                "--workers",
                "1",
                "--seed",
                "7",
                "--epochs",
                "2",
                "--vector-size",
                "30",
                "-q",
            ],
            check=True,
            env=env,
            capture_output=True,
        )
        outs.append(out.read_bytes())
    assert outs[0] == outs[1]
    other = training.train(LEE, workers=1, seed=8, vector_size=30, epochs=2)
    assert not np.array_equal(
        formats.load(tmp_path / "run0.bin", cache=False).matrix, other.vectors.matrix
    )


# -- errors: one line, non-zero exit, nothing written ---------------------------------------------
def _fails(runner, args, line, code=1, input=None):  # noqa: A002
    result = runner.invoke(app, ["train", *args], input=input)
    assert result.exit_code == code, result.stderr
    assert result.stdout == ""
    assert result.stderr == f"embviz: error: {line}\n"


@pytest.mark.parametrize(
    ("content", "line"),
    [
        (
            b"",
            "{c}: corpus is empty; expected text with one whitespace-separated sentence per line",
        ),
        (
            b"\n  \n\t\n",
            "{c}: corpus is empty; expected text with one whitespace-separated sentence per line",
        ),
        (
            b"a b c\nb c d\n",
            "{c}: no word occurs at least min_count=5 times (the most frequent of 4 "
            "distinct words occurs 2 times); lower min_count",
        ),
        (
            b"ok line\nbad \xff byte\n",
            "{c}: line 2: invalid UTF-8 (byte 0xff); expected UTF-8 text",
        ),
    ],
)
def test_bad_corpus(runner, tmp_path, private_tmp, content, line):
    corpus = tmp_path / "corpus.txt"
    corpus.write_bytes(content)
    _fails(runner, [str(corpus), "-o", str(tmp_path / "out.bin")], line.format(c=corpus))
    assert [p.name for p in tmp_path.iterdir() if p.name != "systmp"] == ["corpus.txt"]
    assert list(private_tmp.iterdir()) == []


def test_bad_corpus_from_stdin_is_named_dash(runner, tmp_path, private_tmp):
    _fails(
        runner,
        ["-", "-o", str(tmp_path / "out.bin")],
        "-: corpus is empty; expected text with one whitespace-separated sentence per line",
        input=b"",
    )
    assert list(private_tmp.iterdir()) == [] and not (tmp_path / "out.bin").exists()


def test_missing_and_unreadable_corpus(runner, tmp_path):
    _fails(
        runner,
        [str(tmp_path / "nope.txt"), "-o", str(tmp_path / "o.bin")],
        f"{tmp_path / 'nope.txt'}: no such file",
    )
    empty_dir = tmp_path / "empty"
    empty_dir.mkdir()
    _fails(
        runner,
        [str(empty_dir), "-o", str(tmp_path / "o.bin")],
        f"{empty_dir}: directory has no files; expected text files with one sentence per line",
    )
    broken = tmp_path / "broken.gz"
    broken.write_bytes(gzip.compress(LEE.read_bytes())[:5000])
    result = runner.invoke(app, ["train", str(broken), "-o", str(tmp_path / "o.bin")])
    assert result.exit_code == 1
    assert (
        result.stderr.startswith(f"embviz: error: {broken}: cannot decompress: ")
        and result.stderr.count("\n") == 1
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["broken.gz", "empty"]


def test_output_problems_are_caught_before_training(runner, tmp_path):
    missing = tmp_path / "no" / "such" / "v.bin"
    _fails(
        runner,
        [str(LEE), "-o", str(missing)],
        f"{missing}: directory {missing.parent} does not exist",
    )
    _fails(
        runner,
        [str(LEE), "-o", str(tmp_path / "v.bin"), "--save-model", str(missing)],
        f"{missing}: directory {missing.parent} does not exist",
    )
    _fails(
        runner,
        [str(LEE), "-o", str(tmp_path / "v.bin"), "--save-model", str(tmp_path / "v.bin")],
        f"{tmp_path / 'v.bin'}: the model path must differ from the vector file and its sidecar",
    )
    _fails(
        runner,
        [str(LEE), "-o", str(tmp_path / "v.dat")],
        f"{tmp_path / 'v.dat'}: cannot tell the vector format from the name; use .bin (word2vec), "
        ".txt (word2vec-text), .vec (fasttext), .tsv (projector) or pass --format",
    )
    assert list(tmp_path.iterdir()) == []


def test_parameters_are_validated_before_work(runner, tmp_path):
    out = str(tmp_path / "v.bin")
    _fails(
        runner,
        [str(LEE), "-o", out, "--negative", "0"],
        "no output layer: negative sampling is off (negative=0) and hierarchical softmax is off; "
        "set negative >= 1 or enable hs",
    )
    _fails(
        runner,
        [str(LEE), "-o", out, "--alpha", "0.01", "--min-alpha", "0.02"],
        "min_alpha (0.02) must not exceed alpha (0.01)",
    )
    _fails(runner, [str(LEE), "-o", out, "--alpha", "0"], "alpha must be a number > 0, got 0.0")
    result = runner.invoke(app, ["train", str(LEE), "-o", out, "--window", "0"])
    assert result.exit_code == 2 and "--window" in result.stderr
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(training.InvalidQuery, match=r"^epochs must be an integer >= 1, got 0$"):
        training.train(LEE, epochs=0)


# -- Ctrl-C --------------------------------------------------------------------------------------
def test_interrupt_in_library_raises_keyboard_interrupt(private_tmp):
    def stop(event):
        if isinstance(event, training.EpochStats):
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt) as info:
        training.train(
            LEE.parent / "lee_background.cor",
            workers=1,
            epochs=3,
            vector_size=10,
            lowercase=True,
            progress=stop,
        )
    assert isinstance(info.value, training.TrainingInterrupted)
    assert str(info.value) == "interrupted during epoch 2 of 3; nothing written"
    assert list(private_tmp.iterdir()) == []  # the lowercased copy is removed


def test_ctrl_c_stops_cleanly(tmp_path):
    """A real SIGINT during training: exit 130, one line, no output and no temporary file."""
    big = tmp_path / "big.txt"
    big.write_bytes(LEE.read_bytes() * 20)  # 1.2 M words per epoch
    work = tmp_path / "tmp"
    work.mkdir()
    out = tmp_path / "v.bin"
    env = {**os.environ, "TMPDIR": str(work)}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "embviz",
            "train",
            str(big),
            "-o",
            str(out),
            "--workers",
            "1",
            "--epochs",
            "200",
            "--lowercase",
        ],
        stderr=subprocess.PIPE,
        env=env,
    )
    assert proc.stderr.readline().startswith(b"embviz: vocabulary: ")
    assert proc.stderr.readline().startswith(b"embviz: epoch 1/200: ")
    time.sleep(0.2)
    proc.send_signal(signal.SIGINT)
    try:  # never hang the suite: a run that ignores Ctrl-C fails here instead
        rest = proc.communicate(timeout=180)[1].decode()
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        raise AssertionError("training did not stop within 180 s of SIGINT") from None
    assert proc.returncode == 130
    last = rest.splitlines()[-1]
    assert last.startswith("embviz: error: interrupted during epoch ") and last.endswith(
        " of 200; nothing written"
    )
    assert not [
        line for line in rest.splitlines() if not line.startswith("embviz: ")
    ]  # no traceback
    assert sorted(p.name for p in tmp_path.iterdir()) == ["big.txt", "tmp"]
    assert list(work.iterdir()) == []


# -- startup -------------------------------------------------------------------------------------
def test_train_command_imports_nothing_heavy():
    code = (
        "import sys, embviz.cli, embviz.train; "
        "print(sorted(m for m in ('gensim', 'rich', 'scipy', 'pandas') if m in sys.modules))"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert run.stdout.strip() == "[]"
