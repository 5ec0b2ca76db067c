"""fastText models (``.bin``): magic number, old header, declaration; read by :mod:`embviz.io.fasttext_bin`."""

from __future__ import annotations

import struct

from embviz.io.formats.spec import Format, Probe

#: The first int32 of a fastText model since version 0.1.0 (``FASTTEXT_FILEFORMAT_MAGIC_INT32``).
MAGIC = (793712314).to_bytes(4, "little")
_MAX_DIM = 100_000


def old_model(head: bytes) -> bool:
    """Whether `head` starts with the arguments of an old fastText ``.bin`` (before 0.1.0).

    Those files begin directly with 12 int32 (dim, ws, epoch, minCount, neg, wordNgrams,
    loss, model, bucket, minn, maxn, lrUpdateRate) and the double ``t``, as gensim's
    ``lee_fasttext.bin``.
    """
    if len(head) < 56:
        return False
    dim, ws, epoch, min_count, neg, ngrams, loss, model, bucket, minn, maxn, lr_update = (
        struct.unpack("<12i", head[:48])
    )
    (t,) = struct.unpack("<d", head[48:56])
    return (
        1 <= dim <= _MAX_DIM and 1 <= ws <= 1000 and 1 <= epoch <= 1_000_000
        and 0 <= min_count <= 10**9 and 0 <= neg <= 10_000 and 1 <= ngrams <= 100
        and 1 <= loss <= 4 and 1 <= model <= 3 and 0 <= bucket <= 10**9
        and 0 <= minn <= maxn <= 1000 and 0 <= lr_update <= 10**9 and 0.0 <= t < 1.0
    )


def detect(probe: Probe) -> bool:
    """Tell a model by the magic number, or an old model's arguments, at byte 0."""
    return probe.head[:4] == MAGIC or old_model(probe.head)


FORMATS = (
    Format(
        name="fasttext-bin",
        layout="a fastText model `.bin` (magic `793712314`, version 12 or 11, or the old format without "
               "the magic): the words' vectors, and any word's from subwords; see "
               "[fastText `.bin` models](#fasttext-bin-models)",
        short="fastText .bin",
        read="embviz.io.sources:read_fasttext_model",
        detect=detect,
        detect_order=20,
        keys="inside",
    ),
)
