"""Make the README's worked example: a real recording CSV and its timeline PNG (docs/timeline_example.png).

The UCI HAR test windows of one subject are stitched back into continuous signals (consecutive
windows share half their samples; :func:`harcnn.data.stitch_windows` checks that they do), and
the stretches are laid end to end as one 50 Hz recording: ``time, acc_x, acc_y, acc_z`` (the
dataset's total_acc, in g), ``gyro_x, gyro_y, gyro_z`` (body_gyro, rad/s) and the true
``activity`` of every sample (an extra column that ``harcnn predict`` ignores). The dataset
dropped the postural transitions between activities, so each junction is an abrupt change.

The recording then goes through exactly what ``harcnn predict MODEL recording.csv`` does
(resampling, the causal UCI preprocessing, windows, the model), and the timeline is drawn with an
extra ribbon of the true activity per window (the majority label of its samples).

Usage::

    python docs/make_timeline_example.py --model models/cnn [--subject 12] [--csv subject12.csv]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DATA = REPO.parent / "shared" / "data" / "uci_har" / "UCI_HAR_Dataset.zip"


def stitch_subject(dataset, subject: int):
    """``(times, acc [n, 3] g, gyro [n, 3] rad/s, labels [n])`` of one test subject as one recording."""
    from harcnn.data import stitch_windows

    test = dataset.test
    index = np.flatnonzero(test.subject == subject)
    if index.size == 0:
        raise SystemExit(f"subject {subject} is not in the test split (test subjects: "
                         f"{', '.join(map(str, np.unique(test.subject)))})")
    X, y = test.X[index], test.y[index]
    same = np.isclose(X[:-1, 64:], X[1:, :64], rtol=1e-6, atol=1e-6).all(axis=(1, 2)) & (y[:-1] == y[1:])
    bounds = [0, *(np.flatnonzero(~same) + 1).tolist(), len(X)]
    pieces, labels = [], []
    for a, b in zip(bounds[:-1], bounds[1:]):
        series = stitch_windows(X[a:b])  # [(b - a + 1) * 64, 9], checked
        pieces.append(series)
        labels.append(np.full(len(series), y[a]))
    series, labels = np.concatenate(pieces), np.concatenate(labels)
    times = np.arange(len(series)) / 50.0
    return times, series[:, 0:3], series[:, 6:9], labels, len(pieces)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", type=Path, required=True, help="a model folder (harcnn train --save)")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help=f"UCI HAR zip (default {DEFAULT_DATA})")
    parser.add_argument("--subject", type=int, default=12,
                        help="a test subject (default 12: the median per-subject accuracy of the README model)")
    parser.add_argument("--csv", type=Path, default=None, help="recording CSV to write (default subject<N>.csv)")
    parser.add_argument("--png", type=Path, default=REPO / "docs" / "timeline_example.png", help="timeline PNG")
    args = parser.parse_args(argv)

    from harcnn.artifact import load_model
    from harcnn.data import load_uci_har
    from harcnn.io import write_csv
    from harcnn.plots import timeline_plot
    from harcnn.predict import predict_path

    dataset = load_uci_har(args.data, progress=False)
    times, acc, gyro, labels, n_pieces = stitch_subject(dataset, args.subject)
    csv_path = args.csv or Path(f"subject{args.subject}.csv")
    names = dataset.class_names
    write_csv(csv_path, ["time", "acc_x", "acc_y", "acc_z", "gyro_x", "gyro_y", "gyro_z", "activity"],
              ([f"{t:.2f}", *(f"{v:.7g}" for v in a), *(f"{v:.7g}" for v in g), names[k]]
               for t, a, g, k in zip(times, acc, gyro, labels)))
    print(f"Wrote {csv_path}: subject {args.subject}, {len(times)} samples at 50 Hz ({len(times) / 50:.0f} s) "
          f"from {n_pieces} stretches of consecutive test windows")

    model = load_model(args.model)
    prediction = predict_path(model, csv_path)  # what `harcnn predict` does
    starts = np.round(prediction.start_times * 50).astype(int)
    prediction.labels = np.array([np.bincount(labels[s:s + 128], minlength=len(names)).argmax() for s in starts])
    print(prediction.summary())
    subject = dataset.test.subject == args.subject
    original = model.score(dataset.test.X[subject], dataset.test.y[subject])
    print(f"(accuracy on the subject's original {int(subject.sum())} test windows: {100 * original:.2f}%)")
    title = (f"UCI HAR test subject {args.subject} as one {len(times) / 50 / 60:.1f}-min recording "
             f"[{prediction.model}]  accuracy {100 * prediction.accuracy:.1f}%")
    print(f"Wrote {timeline_plot(prediction, args.png, title=title)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
