"""Load time of the UCI HAR dataset: cold from the zip (parse + cache write) and from the cache.

    python benchmarks/data_load.py [--data ZIP] [--runs 3]

Each load runs in a fresh process, so import time is excluded but no in-memory state is reused.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

SHARED_ZIP = Path(__file__).resolve().parents[2] / "shared" / "data" / "uci_har" / "UCI_HAR_Dataset.zip"

ONE_LOAD = """
import json, sys, time
from harcnn.data import load_uci_har
start = time.perf_counter()
data = load_uci_har(sys.argv[1], cache_dir=sys.argv[2], progress=False)
print(json.dumps({"seconds": time.perf_counter() - start, "train": list(data.train.X.shape)}))
"""


def timed_load(data: Path, cache: str) -> float:
    out = subprocess.run([sys.executable, "-c", ONE_LOAD, str(data), cache], capture_output=True, text=True, check=True)
    return json.loads(out.stdout)["seconds"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", type=Path, default=SHARED_ZIP)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    if not args.data.is_file():
        sys.exit(f"no dataset at {args.data}")
    cold, cached = [], []
    for _ in range(args.runs):
        with tempfile.TemporaryDirectory() as cache:
            cold.append(timed_load(args.data, cache))
            cached.append(timed_load(args.data, cache))
    print(f"cold (parse the zip, write the cache): {min(cold):.2f} s best, {sorted(cold)[len(cold) // 2]:.2f} s median")
    print(f"cached:                                {min(cached):.3f} s best, {sorted(cached)[len(cached) // 2]:.3f} s median")


if __name__ == "__main__":
    main()
