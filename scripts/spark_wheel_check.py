"""Run ``recommend --engine spark`` from an installed ``embviz[spark]``, executors on that venv's Python.

.ci/run calls this with the wheel's fresh venv first on PATH, from a scratch folder (the
checkout is not importable there): the driver and the executors (``PYSPARK_PYTHON``, as
docs/recommend.md tells a cluster user) both use that venv, and the rows must equal the
one-machine command's. Exit 0 when they do; one line on stderr otherwise.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def main() -> int:
    Path("items.txt").write_text("a 1 0 0\nb 0 1 0\nc 0 0 1\nd 1 1 0\n")
    Path("log.tsv").write_text("user\titem\tts\nu\ta\t1\nu\tb\t2\nv\tc\t1\n")
    args = ["embviz", "recommend", "-v", "items.txt", "--history", "log.tsv", "--exclude-seen", "-k", "2", "-q"]
    env = {**os.environ, "PYSPARK_PYTHON": sys.executable}
    spark = subprocess.run([*args, "--engine", "spark", "--master", "local[2]", "-o", "spark-recs"], env=env,
                           capture_output=True, text=True)
    if spark.returncode != 0:
        print(f"recommend --engine spark failed ({spark.returncode}): {spark.stderr.strip()}", file=sys.stderr)
        return 1
    local = subprocess.run([*args, "-o", "local-recs.tsv"], capture_output=True, text=True)
    if local.returncode != 0:
        print(f"recommend failed ({local.returncode}): {local.stderr.strip()}", file=sys.stderr)
        return 1
    import pandas as pd

    a = pd.read_parquet("spark-recs").sort_values(["user", "rank"]).reset_index(drop=True)
    b = pd.read_csv("local-recs.tsv", sep="\t", dtype={"user": str, "item": str})
    cols = ["user", "rank", "item"]
    if len(a) != 4 or not a[cols].astype(str).equals(b[cols].astype(str)) or \
            not (abs(a["score"] - b["score"]) < 1e-6).all():
        print(f"spark rows differ from the one-machine rows:\n{a}\n{b}", file=sys.stderr)
        return 1
    print("recommend --engine spark from the installed wheel, executors on its venv: the one-machine rows")
    return 0


if __name__ == "__main__":
    sys.exit(main())
