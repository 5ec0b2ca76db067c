#!/usr/bin/env bash
# A command sample over every vector format: what `convert` writes, what `info`/`neighbors`
# read back, explicit --input-format, the refusals, the --help texts and the cache entries.
# Run before and after a change to the format code and diff the two outputs:
#   scripts/format_sample.sh OUTDIR > before.txt ... scripts/format_sample.sh OUTDIR2 > after.txt
# Paths are printed relative to OUTDIR, so two runs in different folders compare equal.
set -u
out=${1:?usage: format_sample.sh OUTDIR}
rm -rf "$out"; mkdir -p "$out"; cd "$out" || exit 1
export EMBVIZ_CACHE_DIR="$PWD/cache" COLUMNS=100
run() { echo "\$ $*"; "$@" 2>&1 | sed "s#$PWD/##g"; echo "[exit ${PIPESTATUS[0]}]"; }
src=$(python -c 'from embviz.io.sample import sample_path; print(sample_path())')
embviz convert --limit 300 "$src" src.bin -q
for f in a.bin a.txt a.vec a.glove a.tsv a.npy a.parquet a.safetensors a.txt.gz a.vec.bz2 a.bin.xz; do
  run embviz convert src.bin "$f"
done
run embviz convert src.bin a.out
run embviz convert src.bin b.npz
run embviz convert src.bin proj --to projector
run embviz convert src.bin g.txt --to glove
python - <<'PY'
import numpy as np, torch, h5py, pyarrow as pa, pyarrow.feather as feather, pyarrow.parquet as pq, os
v = np.load("a.npy"); keys = open("a.keys.txt").read().split("\n")[:len(v)]
np.savez("c.npz", emb=v)
torch.save({"weight": torch.from_numpy(v.copy())}, "d.pt")
with h5py.File("e.h5", "w") as f: f["train"] = v
t = pa.table({"key": keys, "vector": pa.FixedSizeListArray.from_arrays(pa.array(v.reshape(-1)), v.shape[1])})
feather.write_feather(t, "f.arrow")
os.makedirs("spark/data", exist_ok=True); os.makedirs("spark/metadata", exist_ok=True)
pq.write_table(pa.table({"word": keys, "vector": [list(map(float, r)) for r in v]}), "spark/data/part-0.parquet")
open("html.vec", "w").write("<!DOCTYPE html><html>")
open("lfs.bin", "w").write("version https://git-lfs.github.com/spec/v1\noid sha256:x\nsize 1\n")
open("fake.h5", "w").write("not hdf5\n")
PY
for f in a.bin a.txt a.vec a.glove a.tsv proj a.npy a.parquet a.safetensors a.txt.gz a.vec.bz2 a.bin.xz g.txt c.npz d.pt e.h5 f.arrow spark html.vec lfs.bin fake.h5 b.npz; do
  run embviz info -v "$f" --no-header -f tsv
  run embviz neighbors -v "$f" the -k 2 -f tsv
done
for fmt in word2vec word2vec-text glove fasttext projector npy npz safetensors parquet arrow spark torch hdf5 fasttext-bin nonsense; do
  run embviz info -v a.txt --input-format "$fmt" --no-header -f tsv --no-cache
done
run embviz convert src.bin x.h5 --to hdf5
run embviz convert src.bin x.arrow --to arrow
md5sum a.* g.txt proj/* metadata.tsv | sort -k2
python - <<'PY'
import json, pathlib
for m in sorted(pathlib.Path("cache").rglob("meta.json")):
    d = json.loads(m.read_text())
    print(m.parent.name, d.get("format"), d.get("count"), d.get("dim"), d.get("keys_from"), sorted(d))
PY
run embviz --help
run embviz info --help
run embviz convert --help
