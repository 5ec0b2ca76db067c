"""Tie-sensitive queries whose output must be the same bytes on every BLAS and thread count.

Run as a script (``python tests/determinism_cases.py``) by ``tests/test_determinism.py``, under
several ``OPENBLAS_NUM_THREADS`` / ``OPENBLAS_CORETYPE`` settings; it prints every answer with
the exact bits of its score. The inputs are adversarial: equal rows at different positions in
the matrix product (either side of a 32-column group, of a 32,768-column chunk, of a query
block of 512), queries answered alone and in blocks of other sizes.
"""

from __future__ import annotations

import sys

import numpy as np


def unit_rows(rng: np.random.Generator, n: int, dim: int) -> np.ndarray:
    x = rng.normal(size=(n, dim)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def tied_table(seed: int = 0) -> np.ndarray:
    """200 distinct random unit rows of 8 dimensions, each at 3 scattered ids."""
    rng = np.random.default_rng(seed)
    rows = np.repeat(unit_rows(rng, 200, 8), 3, axis=0)
    return np.ascontiguousarray(rows[rng.permutation(len(rows))])


def chunked_table(seed: int = 1, n: int = 70_001, dim: int = 50) -> np.ndarray:
    """`n` rows drawn from 3,000 distinct ones, with twins placed on block boundaries.

    Each distinct row appears about 23 times at random ids; in addition the rows at ids
    32,760..32,775 (the boundary of the first 32,768-column chunk) repeat the rows at ids
    0..15, 64,000..64,015 and n-16..n-1 (the 32-column tail), so equal scores sit in different
    chunks, groups and tails of the matrix product.
    """
    rng = np.random.default_rng(seed)
    base = unit_rows(rng, 3000, dim)
    rows = base[rng.integers(0, len(base), size=n)]
    for start in (32_760, 64_000, n - 16):
        rows[start : start + 16] = rows[:16]
    return np.ascontiguousarray(rows)


def fmt(name: str, ids: np.ndarray, scores: np.ndarray) -> str:
    """One line per query: ids and the hex bits of the float32 scores."""
    ids = np.asarray(ids).reshape(len(ids), -1)
    bits = np.asarray(scores, dtype=np.float32).reshape(len(ids), -1).view(np.uint32)
    return "\n".join(
        f"{name} {r}: " + " ".join(f"{i}:{b:08x}" for i, b in zip(row_ids, row_bits))
        for r, (row_ids, row_bits) in enumerate(zip(ids.tolist(), bits.tolist()))
    )


def cases() -> list[str]:
    """Every case's output lines."""
    from embviz.search import analogy_ids, top_k
    from embviz.search import bound as analogy_bound

    out = []
    rng = np.random.default_rng(7)
    # 1. a table where every score is tied three ways (full-row selection, n < 2,048 k)
    unit = tied_table()
    q = unit_rows(rng, 50, 8)
    out.append(fmt("tied-top_k", *top_k(unit, q, 5)))
    qs = rng.integers(0, len(unit), size=(400, 3))
    for method in ("cosadd", "cosmul"):
        out.append(fmt(f"tied-analogy-{method}", *analogy_ids(unit, *qs.T, 3, method=method)))
        analogy_bound._BLOCK_ROWS = {"cosadd": 8, "cosmul": 8}
        ids, scores = analogy_bound.best_answers(unit, *qs.T, method=method)
        out.append(fmt(f"tied-bound-{method}", ids[:, None], scores[:, None]))
    # 2. twins across chunk, group and tail boundaries (grouped selection), queries in a block
    # of 600 (512 + 88), alone, and in a block of 7; queries that are table rows themselves
    unit = chunked_table()
    q = np.concatenate([unit[:16], unit[32_760:32_776], unit_rows(rng, 568, 50)])
    for k in (1, 10):
        out.append(fmt(f"chunks-k{k}-block600", *top_k(unit, q, k)))
        out.append(fmt(f"chunks-k{k}-block7", *top_k(unit, q[:7], k)))
        for i in (0, 20, 599):
            out.append(fmt(f"chunks-k{k}-alone{i}", *top_k(unit, q[i : i + 1], k)))
    excl = [[i] for i in range(32)]
    out.append(fmt("chunks-self-excluded", *top_k(unit, q[:32], 4, exclude=excl)))
    three = rng.integers(0, 64_016, size=(300, 3))
    for method in ("cosadd", "cosmul"):
        out.append(fmt(f"chunks-analogy-{method}", *analogy_ids(unit, *three.T, 2, method=method)))
    return out


def sample_cases() -> list[str]:
    """Neighbors, analogies and similarities on the bundled sample, through the public API."""
    from embviz import analogy, load, neighbors, similarity
    from embviz.io.sample import sample_path

    v = load(sample_path())
    keys = list(v.keys[:300:3])
    out = [f"{r.query}\t{r.rank}\t{r.key}\t{r.score!r}" for r in neighbors(v, keys, k=10)]
    triples = [(keys[i], keys[i + 1], keys[i + 2]) for i in range(0, 90, 3)]
    for method in ("cosadd", "cosmul"):
        out += [f"{r.a} {r.b} {r.c}\t{r.key}\t{r.score!r}" for r in analogy(v, triples, k=3, method=method)]
    out += [f"{r.a} {r.b}\t{r.score!r}" for r in similarity(v, list(zip(keys, keys[1:])))]
    return out


if __name__ == "__main__":
    which = sys.argv[1] if len(sys.argv) > 1 else "all"
    lines = (cases() if which in ("all", "synthetic") else []) + (
        sample_cases() if which in ("all", "sample") else []
    )
    sys.stdout.write("\n".join(lines) + "\n")
