#!/usr/bin/env bash
# Run every benchmark (about 10 minutes on 2 cores) and render docs/benchmarks.md.
# Needs: pip install '.[bench]'. Real GloVe files are built once under bench/data (or $EMBVIZ_BENCH_DATA).
set -euo pipefail
cd "$(dirname "$0")/.."
for b in load evaluate train umap plot formats; do python "bench/bench_$b.py"; done
python bench/report.py
