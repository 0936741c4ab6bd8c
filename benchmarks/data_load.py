"""Load time of UCI HAR and HAPT: cold from the zip (parse + cache write) and from the parsed-data cache.

    python benchmarks/data_load.py [--runs 3] [--src SRC ...] [--shared DIR]

Each load runs in a fresh process, so import time is excluded but no in-memory state is reused. The
cache is keyed on the zip's content (harcnn.data.cache): "cached" reuses the digest kept with the
file's stat, "cached, hashed" removes the kept digests first, so the zip is hashed again. With several
``--src`` folders (e.g. two checkouts' ``src``) the loads alternate between them, side by side.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
FILES = {"uci_har": Path("uci_har", "UCI_HAR_Dataset.zip"), "hapt": Path("hapt", "HAPT_RawData_train_subjects.zip")}

ONE_LOAD = """
import json, sys, time
from harcnn.data import load_hapt, load_uci_har
load = {"uci_har": load_uci_har, "hapt": load_hapt}[sys.argv[1]]
start = time.perf_counter()
data = load(sys.argv[2], cache_dir=sys.argv[3], progress=False)
print(json.dumps({"seconds": time.perf_counter() - start, "fingerprint": data.fingerprint}))
"""


def timed_load(kind: str, data: Path, cache: str, src: str | None) -> tuple[float, str]:
    env = dict(os.environ, PYTHONPATH=src) if src else None
    out = subprocess.run([sys.executable, "-c", ONE_LOAD, kind, str(data), cache], capture_output=True, text=True,
                         check=True, env=env)
    result = json.loads(out.stdout)
    return result["seconds"], result["fingerprint"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--src", nargs="*", default=[None], help="source folders to compare (default: as installed)")
    parser.add_argument("--kinds", nargs="*", default=list(FILES), choices=list(FILES))
    parser.add_argument("--shared", type=Path, default=SHARED, help=f"the shared data folder (default {SHARED})")
    args = parser.parse_args()
    sources = {kind: args.shared / path for kind, path in FILES.items()}
    times: dict[tuple, list[float]] = {}
    fingerprints: dict[tuple, set[str]] = {}
    for _ in range(args.runs):
        for kind in args.kinds:
            if not sources[kind].is_file():
                sys.exit(f"no dataset at {sources[kind]}")
            for src in args.src:
                with tempfile.TemporaryDirectory() as cache:
                    for case in ("cold", "cached", "cached, hashed"):
                        if case == "cached, hashed":
                            Path(cache, "parsed", "digests.json").unlink(missing_ok=True)
                        seconds, fingerprint = timed_load(kind, sources[kind], cache, src)
                        times.setdefault((kind, src, case), []).append(seconds)
                        fingerprints.setdefault((kind, src), set()).add(fingerprint)
    print(f"| data | source | {' | '.join(('cold', 'cached', 'cached, hashed'))} | fingerprint |")
    print("|---|---|---:|---:|---:|---|")
    for kind in args.kinds:
        for src in args.src:
            cells = []
            for case in ("cold", "cached", "cached, hashed"):
                values = sorted(times[(kind, src, case)])
                cells.append(f"{values[0]:.3f} s ({values[len(values) // 2]:.3f})")
            print(f"| {kind} | {src or 'installed'} | {' | '.join(cells)} | {', '.join(fingerprints[(kind, src)])} |")
    print("\nbest of the runs (median in brackets)")


if __name__ == "__main__":
    main()
