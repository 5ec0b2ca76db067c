"""Answers, tie order and score bits do not depend on the BLAS kernel, the CPU or the thread count.

A float32 matrix product may round the same dot product differently depending on where it sits
in the product: OpenBLAS's Haswell and Zen (AMD EPYC) kernels do, for two equal rows in
different columns, and a query scored alone (a matrix-vector product) gets other bits than in
a block. The kernel ranks near-ties by an exact recomputation (``kernel.exact_dots``), so:

* subprocesses under ``OPENBLAS_NUM_THREADS``/``OMP_NUM_THREADS``/``MKL_NUM_THREADS`` = 1 and 2
  and under other OpenBLAS kernels (``OPENBLAS_CORETYPE=Zen``, the one AMD EPYC machines use)
  print the same bytes for adversarial inputs (``tests/determinism_cases.py``);
* in-process, a matrix product that rounds by position (scores nudged by one ulp in a pattern
  of rows and columns) changes nothing;
* a query alone, in a block of 7 or in a block of 600 gets the same answers and bits.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from embviz.search import analogy_ids, kernel, top_k
from embviz.search import bound as analogy_bound

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE))
from determinism_cases import chunked_table, tied_table, unit_rows  # noqa: E402

THREADS = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")


def run_cases(which: str, threads: int, coretype: str | None = None) -> str:
    env = {k: v for k, v in os.environ.items() if k != "OPENBLAS_CORETYPE"}
    env.update({name: str(threads) for name in THREADS})
    if coretype:
        env["OPENBLAS_CORETYPE"] = coretype
    run = subprocess.run(
        [sys.executable, str(HERE / "determinism_cases.py"), which],
        capture_output=True, text=True, env=env, check=False, timeout=600,
    )
    assert run.returncode == 0, run.stderr
    return run.stdout


def first_difference(a: str, b: str) -> str:
    for x, y in zip(a.splitlines(), b.splitlines()):
        if x != y:
            return f"\n  {x}\n  {y}"
    return f"\n  {len(a.splitlines())} lines vs {len(b.splitlines())}"


# -- across processes: thread counts and BLAS kernels ---------------------------------------------
def test_the_zen_kernel_rounds_equal_dot_products_by_position() -> None:
    """The premise of the next test: under OPENBLAS_CORETYPE=Zen equal rows get other bits."""
    code = (
        "import numpy as np, sys; sys.path.insert(0, %r); from determinism_cases import chunked_table;"
        "u = chunked_table(); s = u[:600] @ u.T;"
        "print(int((s[:, :16] != s[:, 32_760:32_776]).sum()))" % str(HERE)
    )
    env = dict(os.environ, OPENBLAS_CORETYPE="Zen", OPENBLAS_NUM_THREADS="2")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    assert int(run.stdout) > 0  # equal rows, equal queries, different float32 scores


@pytest.mark.slow  # 10 processes; CI runs it
@pytest.mark.parametrize("which", ["synthetic", "sample"])
def test_same_bytes_with_1_or_2_threads_and_any_openblas_kernel(which) -> None:
    base = run_cases(which, 1)
    assert len(base.splitlines()) > (2000 if which == "synthetic" else 1000)
    for threads, coretype in ((2, None), (2, "Zen"), (1, "Haswell"), (1, "Sandybridge")):
        other = run_cases(which, threads, coretype)
        assert other == base, f"threads={threads} coretype={coretype}:" + first_difference(other, base)


# -- in process: a matrix product that rounds by position -----------------------------------------
def nudge(x: np.ndarray, rows: np.ndarray, cols: np.ndarray, salt: int) -> None:
    """Move the scores at odd (row * 7 + col + salt) one ulp up, others one ulp down, in place."""
    up = ((rows[:, None] * 7 + cols + salt) % 2).astype(bool)
    x[...] = np.where(up, np.nextafter(x, np.float32(np.inf)), np.nextafter(x, np.float32(-np.inf)))


@pytest.fixture(params=[0, 1])
def rounding_by_position(request, monkeypatch):
    """Make every float32 product of the kernel and the bound round by position (one ulp)."""
    salt = request.param
    chunk, at = kernel._Cosine.chunk, kernel._Cosine.at

    def chunk_nudged(self, lo, hi, c0, c1, out):
        chunk(self, lo, hi, c0, c1, out)
        nudge(out, np.arange(lo, hi), np.arange(c0, c1), salt)

    def at_nudged(self, rows, cols):
        s = at(self, rows, cols)
        up = ((rows[:, None] * 7 + cols + salt + 1) % 2).astype(bool)
        return np.where(up, np.nextafter(s, np.float32(np.inf)), np.nextafter(s, np.float32(-np.inf)))

    monkeypatch.setattr(kernel._Cosine, "chunk", chunk_nudged)
    monkeypatch.setattr(kernel._Cosine, "at", at_nudged)
    for cls in (analogy_bound._AddBound, analogy_bound._MulBound):
        score = cls.score

        def score_nudged(self, qs, cols, score=score):
            s = score(self, qs, cols)
            nudge(s, qs, np.arange(s.shape[1]), salt)
            return s

        monkeypatch.setattr(cls, "score", score_nudged)
    return salt


def reference_top(unit: np.ndarray, q: np.ndarray, k: int) -> np.ndarray:
    """Ids by score (float64, to 1e-9, so equal rows tie), then by the lower id."""
    s = np.round(q.astype(np.float64) @ unit.T.astype(np.float64), 9)
    return np.lexsort((np.broadcast_to(np.arange(unit.shape[0]), s.shape), -s), axis=1)[:, :k]


def answers(unit, q, qs, k):
    out = [top_k(unit, q, k)]
    for method in ("cosadd", "cosmul"):
        out.append(analogy_ids(unit, *qs.T, k, method=method))
    return out


def test_tied_rows_same_answers_however_the_product_rounds(rounding_by_position, monkeypatch) -> None:
    unit = tied_table()
    rng = np.random.default_rng(3)
    q, qs = unit_rows(rng, 60, 8), rng.integers(0, len(unit), size=(400, 3))
    got = answers(unit, q, qs, 4)
    np.testing.assert_array_equal(got[0][0], reference_top(unit, q, 4))  # ties to the lower id
    monkeypatch.setattr(analogy_bound, "_BLOCK_ROWS", {"cosadd": 8, "cosmul": 8})
    for (ids, scores), method in zip(got[1:], ("cosadd", "cosmul")):
        bound_ids, bound_scores = analogy_bound.best_answers(unit, *qs.T, method=method)
        np.testing.assert_array_equal(bound_ids, ids[:, 0])
        np.testing.assert_array_equal(bound_scores.view(np.uint32), scores[:, 0].view(np.uint32))
    with monkeypatch.context() as m:  # and the same bits as with the machine's own rounding
        m.setattr(kernel._Cosine, "chunk", _plain_chunk)
        m.setattr(kernel._Cosine, "at", _plain_at)
        plain = answers(unit, q, qs, 4)
    for (ids, scores), (pids, pscores) in zip(got, plain):
        np.testing.assert_array_equal(ids, pids)
        np.testing.assert_array_equal(scores.view(np.uint32), pscores.view(np.uint32))


_plain_chunk, _plain_at = kernel._Cosine.chunk, kernel._Cosine.at


def test_twins_across_chunks_same_answers_however_the_product_rounds(rounding_by_position) -> None:
    unit = chunked_table()
    q = np.ascontiguousarray(np.concatenate([unit[:16], unit[32_760:32_776]]))
    ids, scores = top_k(unit, q, 8)
    np.testing.assert_array_equal(ids, reference_top(unit, q, 8))
    # the first 16 queries are rows 0..15 themselves: their twins come in id order
    for r in range(16):
        twins = np.flatnonzero((unit == unit[r]).all(axis=1))
        assert ids[r, : min(8, len(twins))].tolist() == twins[:8].tolist()
        assert len(set(scores[r, : min(8, len(twins))].view(np.uint32).tolist())) == 1


# -- in process: a query alone or in a block ------------------------------------------------------
@pytest.mark.parametrize("k", [1, 10])
def test_a_query_gets_the_same_bits_alone_or_in_a_block(k) -> None:
    unit = chunked_table()
    rng = np.random.default_rng(5)
    q = np.concatenate([unit[32_760:32_776], unit_rows(rng, 584, 50)])  # 600: blocks 512 + 88
    ids, scores = top_k(unit, q, k)
    for i in (0, 15, 300, 599):
        one_ids, one_scores = top_k(unit, q[i : i + 1], k)  # a matrix-vector product
        np.testing.assert_array_equal(one_ids[0], ids[i])
        np.testing.assert_array_equal(one_scores[0].view(np.uint32), scores[i].view(np.uint32))
    seven_ids, seven_scores = top_k(unit, q[:7], k)
    np.testing.assert_array_equal(seven_ids, ids[:7])
    np.testing.assert_array_equal(seven_scores.view(np.uint32), scores[:7].view(np.uint32))


def test_scores_are_the_exact_dot_products_rounded_to_float32() -> None:
    unit = chunked_table()
    q = unit_rows(np.random.default_rng(6), 40, 50)
    ids, scores = top_k(unit, q, 5)
    exact = np.einsum("md,mkd->mk", q.astype(np.float64), unit[ids].astype(np.float64))
    np.testing.assert_array_equal(scores, exact.astype(np.float32))  # correctly rounded


def test_similarity_is_the_score_neighbors_reports(sample) -> None:
    from embviz import neighbors, similarity

    top = neighbors(sample, "king", k=5)
    sims = similarity(sample, [("king", r.key) for r in top])
    ids, scores = top_k(sample.unit, sample.unit[sample.indices(["king"])], 6)
    assert [sample.keys[i] for i in ids[0, 1:]] == [r.key for r in top]
    assert [s.score for s in sims] == scores[0, 1:].tolist()  # the same bits as top_k's
    np.testing.assert_allclose([s.score for s in sims], [r.score for r in top], atol=1e-6)
