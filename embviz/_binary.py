"""Vectorised scanning of word2vec binary records (the fast path of ``formats._read_binary``).

A record is ``[\\n] key b" " <dim float32 LE>``. Where records begin is inherently sequential
(a key's length is only known by finding its space, and vector bytes may contain spaces and
newlines), so a per-record loop is the obvious reader; gensim uses one. Here the chain is
followed in numpy instead. Every position just after a potential vector (a space + ``4 dim``
bytes) is a node, plus the buffer start; each node points to the node after its own record
(the next space after it, + ``4 dim + 1``). The true records are the path from the buffer
start, found by pointer jumping (doubling) over all nodes at once: ``O(N log N)`` vector
operations for ``N`` spaces, instead of one Python iteration per record.
"""

from __future__ import annotations

import numpy as np


def scan(buf: np.ndarray, rec: int, want: int) -> tuple[np.ndarray, np.ndarray, int]:
    """Find up to `want` complete records at the start of `buf`.

    Parameters
    ----------
    buf : ndarray ``(L,)`` uint8
        Bytes beginning at a record start (optionally preceded by one ``\\n``).
    rec : int
        Bytes of one vector, ``4 * dim``.
    want : int
        Records wanted at most.

    Returns
    -------
    key_start, key_end : ndarray ``(r,)`` int64
        Each record's key is ``buf[key_start:key_end]``; its vector starts at ``key_end + 1``.
        Keys are not validated here (they may be empty or contain ``\\n``).
    used : int
        Bytes consumed by the ``r`` records (where the next, incomplete record starts).
    """
    n = len(buf)
    spaces = np.flatnonzero(buf == 32)
    ends = spaces + (1 + rec)
    ends = ends[ends <= n]
    nodes = np.concatenate(([0], ends))  # node 0 = buffer start; node 1 + j follows space j
    starts = nodes + (buf[np.minimum(nodes, n - 1)] == 10) * (nodes < n)  # skip one "\n"
    j = np.searchsorted(spaces, starts)
    sink = len(nodes)
    nxt = np.full(len(nodes) + 1, sink, dtype=np.int64)
    ok = j < len(ends)  # the key's space exists and the vector after it fits in buf
    nxt[:-1][ok] = j[ok] + 1
    path = np.zeros(1, dtype=np.int64)  # the first 2**i nodes of the path from node 0
    jump = nxt
    while path[-1] != sink and len(path) <= want:
        path = np.concatenate((path, jump[path]))
        jump = jump[jump]
    path = path[path != sink] if path[-1] == sink else path
    records = path[:-1] if nxt[path[-1]] == sink else path
    records = records[:want]
    used = int(nodes[nxt[records[-1]]]) if len(records) else 0
    key_start = starts[records]
    key_end = spaces[j[records]]
    return key_start, key_end, used


def gather_rows(buf: np.ndarray, offsets: np.ndarray, dim: int) -> np.ndarray:
    """Copy the float32 LE vectors at byte `offsets` of `buf`: float32 ``(r, dim)``.

    `buf` is viewed as whole records (dtype ``V{4 dim}``) at each byte alignment that occurs,
    so every row is one index and one ``4 dim``-byte copy.
    """
    rec = 4 * dim
    out = np.empty(len(offsets), dtype=f"V{rec}")
    align = offsets % rec
    # rows grouped by alignment class (a radix sort when the classes fit in 16 bits)
    order = np.argsort(align.astype(np.uint16) if rec < 1 << 16 else align, kind="stable")
    counts = np.bincount(align, minlength=rec)
    bounds = np.concatenate(([0], np.cumsum(counts)))
    for a in np.flatnonzero(counts).tolist():
        rows = order[bounds[a] : bounds[a + 1]]
        view = buf[a : a + (len(buf) - a) // rec * rec].view(f"V{rec}")
        out[rows] = view[(offsets[rows] - a) // rec]
    return out.view("<f4").reshape(len(offsets), dim).astype(np.float32, copy=False)


def gather_keys(buf: np.ndarray, key_start: np.ndarray, key_end: np.ndarray) -> tuple[list[str], int]:
    """Decode the keys ``buf[key_start:key_end]`` at once: ``(keys, count not valid UTF-8)``."""
    lengths = key_end - key_start
    total = int(lengths.sum())
    # each key's bytes plus one separator byte (its space, made a newline)
    pos = np.arange(total + len(lengths), dtype=np.int64)
    shift = np.repeat(key_start - (np.cumsum(lengths + 1) - (lengths + 1)), lengths + 1)
    blob = buf[pos + shift]
    blob[np.cumsum(lengths + 1) - 1] = 10
    raw = blob.tobytes()
    try:
        return raw.decode("utf-8").split("\n")[:-1], 0
    except UnicodeDecodeError:
        parts = raw.split(b"\n")[:-1]
        bad = 0
        keys = []
        for p in parts:
            try:
                keys.append(p.decode("utf-8"))
            except UnicodeDecodeError:
                keys.append(p.decode("utf-8", errors="replace"))
                bad += 1
        return keys, bad
