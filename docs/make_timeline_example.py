"""Write one real HAPT recording as a phone-style CSV and its labelled segments as a table.

The README's timeline example predicts a real continuous recording of a person the model never saw:
this script writes that recording (``time, acc_x, acc_y, acc_z`` in g, ``gyro_x, gyro_y, gyro_z`` in
rad/s, 50 Hz) and its labels table (``start, end, label``: HAPT's activities and postural transitions,
in seconds), ready for::

    harcnn predict MODEL expNN_userMM.csv --smooth hmm --labels expNN_userMM_labels.csv --out expNN.csv

Usage::

    python docs/make_timeline_example.py --recording exp15_user08 [--data HAPT.zip] [--out .]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DATA = REPO.parent / "shared" / "data" / "hapt" / "HAPT_RawData_train_subjects.zip"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--recording", required=True, help="a HAPT experiment, e.g. exp15_user08")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help=f"HAPT zip or folder (default {DEFAULT_DATA})")
    parser.add_argument("--out", type=Path, default=Path("."), help="folder to write to (default .)")
    args = parser.parse_args(argv)

    from harcnn.core.io import write_csv
    from harcnn.data.hapt import hapt_recordings

    found = {r.name: r for r in hapt_recordings(args.data, progress=False)}
    if args.recording not in found:
        raise SystemExit(f"no recording {args.recording!r} in {args.data}; it has {', '.join(sorted(found))}")
    recording = found[args.recording]
    rec = recording.recording()
    csv_path, table_path = args.out / f"{args.recording}.csv", args.out / f"{args.recording}_labels.csv"
    acc, gyro = rec.sensors["acc"], rec.sensors["gyro"]
    write_csv(csv_path, ["time", "acc_x", "acc_y", "acc_z", "gyro_x", "gyro_y", "gyro_z"],
              ([f"{t:.2f}", *(f"{v:.7g}" for v in a), *(f"{v:.7g}" for v in g)]
               for t, a, g in zip(rec.timestamps, acc, gyro)))
    segments = recording.segments
    write_csv(table_path, ["start", "end", "label"],
              ([f"{a:.2f}", f"{b:.2f}", label] for a, b, label in zip(segments.starts, segments.ends, segments.labels)))
    print(f"Wrote {csv_path} (subject {recording.subject}, {len(acc) / 50 / 60:.1f} min at 50 Hz) and {table_path} "
          f"({len(segments)} labelled segments)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
