#!/usr/bin/env bash
# The built wheel, installed in a fresh virtualenv, predicts a recording with no model and no network.
#
#     bash benchmarks/wheel_offline.sh [WORK_DIR]
#
# Builds the wheel (its size printed), installs it with torch==2.13.0 in a new virtualenv under
# WORK_DIR (default: a temporary folder), writes a phone recording with `harcnn data example`, then runs
# `harcnn predict REC` (no model: the built-in one that fits the recording's sensors) inside a network
# namespace without any network (`unshare -rn`), so that a download would fail.
set -euo pipefail
cd "$(dirname "$0")/.."
work="${1:-$(mktemp -d)}"
mkdir -p "$work"

python3 -m pip wheel --quiet --no-deps --wheel-dir "$work/dist" .
wheel="$(ls "$work"/dist/harcnn-*.whl)"
echo "wheel: $(basename "$wheel"), $(du -k "$wheel" | cut -f1) KiB"
python3 - "$wheel" <<'EOF'
import sys, zipfile
files = zipfile.ZipFile(sys.argv[1]).infolist()
built_in = [f for f in files if "/models/builtin/" in f.filename]
print(f"  {len(files)} files; built-in models: {sum(f.compress_size for f in built_in) / 1024:.0f} KiB compressed "
      f"({', '.join(sorted({f.filename.split('/')[3] for f in built_in}))})")
EOF

python3 -m venv "$work/venv"
"$work/venv/bin/python" -m pip install --quiet torch==2.13.0
"$work/venv/bin/python" -m pip install --quiet "$wheel"

cd "$work"
rm -rf recs predictions.csv
"$work/venv/bin/harcnn" data example recs
rec=recs/person2/rec1.csv
echo "predicting $rec offline (unshare -rn: no network in this namespace)"
unshare -rn "$work/venv/bin/harcnn" predict "$rec" --out predictions.csv
head -3 predictions.csv
